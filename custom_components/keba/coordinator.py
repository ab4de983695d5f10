"""One coordinator per station: polls within KEBA's limits and merges push messages."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
import time
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.update_coordinator import DataUpdateCoordinator, UpdateFailed
from homeassistant.util import dt as dt_util

from .const import (
    CONF_CHARGING_INTERVAL,
    CONF_FAILSAFE_CURRENT,
    CONF_FAILSAFE_PERSIST,
    CONF_FAILSAFE_TIMEOUT,
    CONF_IDLE_INTERVAL,
    DEFAULT_CHARGING_INTERVAL,
    DEFAULT_IDLE_INTERVAL,
    DOMAIN,
    EVENT_SESSION_ENDED,
    EVENT_SESSION_STARTED,
    FAILED_POLLS_BEFORE_UNAVAILABLE,
    INFO_REFRESH_INTERVAL,
    ISSUE_REAPPLY_FAILED,
    LOGGER,
    MIN_POLL_INTERVAL,
)
from .kecontact import (
    Capabilities,
    ChargingSession,
    EventKind,
    KebaEndpoint,
    KebaError,
    KebaStation,
    StationEvent,
    StationSnapshot,
    TimeQuality,
)

if TYPE_CHECKING:
    from .ledger_store import LedgerManager
    from .phase_switch import PhaseControl

#: Reports 101…130: the sessions a station remembers.
HISTORY_REPORTS = 30

#: ``setenergy`` counts in 0.1 Wh.
ENERGY_LIMIT_STEPS_PER_KWH = 10000

#: Boot time moves by a second or two between reports; keep it steady within this.
_BOOT_TIME_JITTER = timedelta(seconds=3)


@dataclass(kw_only=True)
class KebaRuntimeData:
    """What an entry holds while it is loaded."""

    coordinator: KebaCoordinator
    station: KebaStation
    endpoint: KebaEndpoint
    #: The station's session ledger (None while it loads, or without session reports).
    ledger: LedgerManager | None = None


type KebaConfigEntry = ConfigEntry[KebaRuntimeData]

type SessionListener = Callable[[str, ChargingSession], None]
#: Raises a translated error while something else (a charging mode) sets the current.
type CurrentGuard = Callable[[], None]

#: Told ``(latest, history)`` after reports 100 and 101…130 were read.
type HistoryListener = Callable[[ChargingSession, list[ChargingSession]], None]


@dataclass(frozen=True, kw_only=True)
class KebaData:
    """The coordinator's data: the station's latest reports plus what the integration knows."""

    snapshot: StationSnapshot
    #: The most recent ended session (report 101, or report 100 once it has ended).
    last_session: ChargingSession | None = None
    #: A current (A) the user asked for that report 2 does not show yet.
    pending_current: float | None = None
    #: When the station last started, from its uptime.
    boot_time: datetime | None = None


#: Highest current offered when report 2 does not tell the hardware limit (``Curr HW`` 0).
FALLBACK_HARDWARE_LIMIT_A = 32.0


def hardware_limit(data: KebaData | None) -> float:
    """``Curr HW`` of report 2: DIP switches, cable coding and temperature, all in one."""
    status = data.snapshot.status if data is not None else None
    if status is None or not status.hardware_current_limit:
        return FALLBACK_HARDWARE_LIMIT_A
    return status.hardware_current_limit


class KebaCoordinator(DataUpdateCoordinator[KebaData]):
    """Polls report 2 (and 3), merges pushes at once, follows sessions and reboots."""

    config_entry: KebaConfigEntry

    def __init__(self, hass: HomeAssistant, entry: KebaConfigEntry, station: KebaStation) -> None:
        """Create the coordinator of ``station``."""
        super().__init__(
            hass,
            LOGGER,
            config_entry=entry,
            name=entry.title,
            update_interval=timedelta(seconds=self._idle_interval(entry)),
        )
        self.station = station
        self.failed_polls = 0
        self._refreshing = False
        self._first_poll_done = False
        self._info_read_at = float("-inf")
        self._clock_set_this_boot = False
        self._was_plugged: bool | None = None
        self._session_listeners: list[SessionListener] = []
        self._history_listeners: list[HistoryListener] = []
        self._history_lock = asyncio.Lock()
        self._last_session: ChargingSession | None = None
        self._boot_time: datetime | None = None
        self._keepalive_unsub: CALLBACK_TYPE | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._remove_station_listener = station.add_listener(self._on_station_event)
        #: Decides whether a person or an automation may set the current now; handed in by
        #: whoever else may set it (the charging site), so this module needs not know it.
        self.current_guard: CurrentGuard | None = None
        #: 1/3-phase switching through X2 (set by the select platform when the option is on).
        self.phase_control: PhaseControl | None = None
        #: Current (A) and energy limit (kWh) set for the vehicle plugged in now, by a person,
        #: an automation or solar charging: set again if the station restarts meanwhile.
        self.session_current: float | None = None
        self.session_energy_limit: float | None = None

    # ------------------------------------------------------------------ options
    @staticmethod
    def _idle_interval(entry: ConfigEntry) -> int:
        return max(
            MIN_POLL_INTERVAL, int(entry.options.get(CONF_IDLE_INTERVAL, DEFAULT_IDLE_INTERVAL))
        )

    def _charging_interval(self) -> int:
        return max(
            MIN_POLL_INTERVAL,
            int(self.config_entry.options.get(CONF_CHARGING_INTERVAL, DEFAULT_CHARGING_INTERVAL)),
        )

    @property
    def capabilities(self) -> Capabilities:
        """The station's capabilities (known after setup)."""
        caps = self.station.capabilities
        if caps is None:  # pragma: no cover - set by report 1 before any entity exists
            raise HomeAssistantError("station not identified yet")
        return caps

    # -------------------------------------------------------------------- setup
    async def _async_setup(self) -> None:
        """Identify the station (report 1) unless setup just did; the first poll follows."""
        if self.station.snapshot.info is not None and self.station.capabilities is not None:
            self._info_read_at = time.monotonic()
            return
        try:
            await self.station.get_info()
        except KebaError as err:
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="cannot_connect",
                translation_placeholders={"host": self.station.host, "error": str(err)},
            ) from err
        self._info_read_at = time.monotonic()

    async def _async_after_first_poll(self) -> None:
        """Read the last sessions and apply clock and failsafe, without delaying setup.

        Report 2 was just polled; asking for it again now would have to wait for KEBA's
        t_COM_pause, so this runs in the background once the entities have their values.
        """
        if self.capabilities.session_history:
            await self.async_read_history()
        await self._apply_station_settings()

    async def _apply_station_settings(self) -> None:
        """Set the clock if it never synced, and the failsafe the options ask for."""
        info = self.station.snapshot.info
        if (
            info is not None
            and info.time_quality == TimeQuality.NOT_SYNCED
            and not self._clock_set_this_boot
        ):
            try:
                await self.station.set_datetime(dt_util.utcnow())
                self._clock_set_this_boot = True
            except KebaError as err:
                LOGGER.warning("Could not set the clock of %s: %s", self.station.host, err)
        await self._apply_failsafe()

    async def _apply_failsafe(self) -> None:
        """Send the failsafe setting once, when the station does not show it already.

        With ``persist`` the station writes it to its EEPROM, so it is only sent when the
        station's report 2 differs, never again after a reboot that kept it.
        """
        options = self.config_entry.options
        timeout = int(options.get(CONF_FAILSAFE_TIMEOUT, 0))
        current = float(options.get(CONF_FAILSAFE_CURRENT, 0)) if timeout else 0.0
        persist = bool(options.get(CONF_FAILSAFE_PERSIST, False))
        status = self.station.snapshot.status
        shown = (
            status is not None
            and status.failsafe_timeout_s == timeout
            and (timeout == 0 or status.failsafe_current == current)
        )
        if not shown:
            try:
                await self.station.set_failsafe(timeout, current, persist=persist)
            except KebaError as err:
                LOGGER.warning("Could not set the failsafe of %s: %s", self.station.host, err)
        self._schedule_keepalive(timeout)

    def _schedule_keepalive(self, timeout: int) -> None:
        if self._keepalive_unsub is not None:
            self._keepalive_unsub()
            self._keepalive_unsub = None
        if timeout <= 0:
            return
        interval = timedelta(seconds=max(MIN_POLL_INTERVAL, timeout // 3))
        self._keepalive_unsub = async_track_time_interval(
            self.hass, self._async_keepalive, interval, name=f"KEBA {self.station.host} failsafe"
        )

    async def _async_keepalive(self, _now: datetime) -> None:
        """Repeat the station's own ``ena`` value so that the failsafe does not fire."""
        status = self.station.snapshot.status
        if status is None or status.enable_user is None:
            return
        try:
            await self.station.set_enabled(status.enable_user, verify=False)
        except KebaError as err:
            LOGGER.debug("Failsafe keep-alive to %s failed: %s", self.station.host, err)

    def _spawn(self, coro: Coroutine[Any, Any, None], what: str) -> None:
        """Run station work in the background; shutdown cancels what is left."""
        task = self.config_entry.async_create_background_task(
            self.hass, coro, f"KEBA {self.station.host} {what}"
        )
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def async_shutdown(self) -> None:
        """Stop timers, background work and listeners."""
        await super().async_shutdown()
        for task in list(self._tasks):
            task.cancel()
        self._tasks.clear()
        if self._keepalive_unsub is not None:
            self._keepalive_unsub()
            self._keepalive_unsub = None
        # Home Assistant calls this on unload too: the second call finds nothing to remove.
        remove, self._remove_station_listener = self._remove_station_listener, lambda: None
        remove()

    # ------------------------------------------------------------------ polling
    async def _async_update_data(self) -> KebaData:
        """Poll report 2 and, with a meter, report 3; report 1 hourly."""
        self._refreshing = True
        try:
            if self._first_poll_done or self.station.snapshot.status is None:
                await self.station.refresh(meter=self.capabilities.meter)
            elif self.capabilities.meter and self.station.snapshot.meter is None:
                # Setup has just read report 2 (the station check): only report 3 is missing.
                await self.station.get_meter()
        except KebaError as err:
            self.failed_polls += 1
            if self.data is not None and self.failed_polls < FAILED_POLLS_BEFORE_UNAVAILABLE:
                LOGGER.debug("Poll %s of %s failed: %s", self.failed_polls, self.station.host, err)
                return self.data
            raise UpdateFailed(
                translation_domain=DOMAIN,
                translation_key="station_unreachable",
                translation_placeholders={"host": self.station.host, "error": str(err)},
            ) from err
        finally:
            self._refreshing = False
        self.failed_polls = 0
        if not self._first_poll_done:
            self._first_poll_done = True
            status = self.station.snapshot.status
            if self._boot_time is None and status is not None:
                self._note_uptime(status.uptime_s)
            self._was_plugged = status.vehicle_plugged if status else None
            self._spawn(self._async_after_first_poll(), "setup")
        if time.monotonic() - self._info_read_at >= INFO_REFRESH_INTERVAL.total_seconds():
            try:
                await self.station.get_info()
                self._info_read_at = time.monotonic()
            except KebaError as err:
                LOGGER.debug("Report 1 of %s failed: %s", self.station.host, err)
        self._follow_plug()
        self._adapt_interval()
        return self._build_data()

    def _build_data(self, **changes: Any) -> KebaData:
        snapshot = self.station.snapshot
        previous = self.data
        base = previous or KebaData(snapshot=snapshot, last_session=self._last_session)
        return replace(base, snapshot=snapshot, boot_time=self._boot_time, **changes)

    def _note_uptime(self, uptime: int | None) -> None:
        """Work out when the station started, the moment a report with its uptime arrives.

        Only then is "now minus uptime" right: a push later carries no uptime, and the
        report's would be stale by then.
        """
        if uptime is None:
            return
        boot = (dt_util.utcnow() - timedelta(seconds=uptime)).replace(microsecond=0)
        previous = self._boot_time
        if previous is None or abs(boot - previous) > _BOOT_TIME_JITTER:
            self._boot_time = boot

    def _adapt_interval(self) -> None:
        status = self.station.snapshot.status
        busy = status is not None and bool(status.vehicle_plugged or status.charging)
        seconds = self._charging_interval() if busy else self._idle_interval(self.config_entry)
        interval = timedelta(seconds=seconds)
        if self.update_interval != interval:
            LOGGER.debug("Polling %s every %s s", self.station.host, seconds)
            self.update_interval = interval

    # ------------------------------------------------------------------- pushes
    @callback
    def _on_station_event(self, event: StationEvent) -> None:
        """Merge pushes (and reports asked for outside polls) into the data at once.

        Listeners update without rescheduling the poll: frequent ``E pres`` pushes must not
        starve the poll of power and currents.
        """
        if event.kind == EventKind.STATUS and event.snapshot.status is not None:
            self._note_uptime(event.snapshot.status.uptime_s)
        if event.kind == EventKind.REBOOT:
            self._clock_set_this_boot = False
            self._spawn(self._async_after_reboot(), "reboot")
            return
        if self.data is None or (self._refreshing and event.kind != EventKind.PUSH):
            return
        previous_interval = self.update_interval
        self._follow_plug()
        self._adapt_interval()
        pending = self.data.pending_current
        if pending is not None and self._shows_current(pending):
            pending = None
        self.data = self._build_data(pending_current=pending)
        self.async_update_listeners()
        if self.update_interval != previous_interval and self.update_interval is not None:
            # A vehicle was plugged in or out: poll at the new pace from now on.
            self._schedule_refresh()

    async def _async_after_reboot(self) -> None:
        LOGGER.info("%s restarted; applying its settings again", self.station.host)
        try:
            await self.station.get_info()
            self._info_read_at = time.monotonic()
            await self.station.get_status()
        except KebaError as err:
            LOGGER.debug("Reading %s after its restart failed: %s", self.station.host, err)
            return
        await self._apply_station_settings()
        await self._async_reapply_session_settings()

    # ----------------------------------------------------------------- sessions
    @callback
    def async_add_history_listener(self, listener: HistoryListener) -> CALLBACK_TYPE:
        """Call ``listener(latest, history)`` whenever the session reports were read."""
        self._history_listeners.append(listener)

        @callback
        def remove() -> None:
            self._history_listeners.remove(listener)

        return remove

    async def async_read_history(self) -> bool:
        """Read report 100 and the station's memory of ended sessions (reports 101…130).

        At start-up and after an outage, for the session ledger. The 30 reports are distinct
        commands: the station link spaces them by KEBA's t_UDP_pause (≥100 ms each), so a
        read takes about 3 s. One read at a time; returns False when it failed.
        """
        async with self._history_lock:
            try:
                latest = await self.station.get_session()
                history = await self.station.get_history(HISTORY_REPORTS)
            except KebaError as err:
                LOGGER.debug("Reading the sessions of %s failed: %s", self.station.host, err)
                return False
        if latest.is_active or latest.is_empty:
            last = history[0] if history else None
        else:
            last = latest
        self._last_session = last
        if self.data is not None:
            self.data = self._build_data(last_session=last)
            self.async_update_listeners()
        for listener in list(self._history_listeners):
            listener(latest, history)
        return True

    @callback
    def async_add_session_listener(self, listener: SessionListener) -> CALLBACK_TYPE:
        """Call ``listener(event_type, session)`` when a session starts or ends."""
        self._session_listeners.append(listener)

        @callback
        def remove() -> None:
            self._session_listeners.remove(listener)

        return remove

    def _follow_plug(self) -> None:
        status = self.station.snapshot.status
        plugged = status.vehicle_plugged if status else None
        if plugged is None or plugged == self._was_plugged:
            return
        was, self._was_plugged = self._was_plugged, plugged
        if not plugged:
            self._forget_session_settings()
        if was is None or not self.capabilities.session_history:
            return
        kind = EVENT_SESSION_STARTED if plugged else EVENT_SESSION_ENDED
        self._spawn(self._async_read_session(kind), "session")

    async def _async_read_session(self, kind: str) -> None:
        try:
            session = await self.station.get_session()
        except KebaError as err:
            LOGGER.debug("Reading the session of %s failed: %s", self.station.host, err)
            return
        if kind == EVENT_SESSION_ENDED and not session.is_active and not session.is_empty:
            self._last_session = session
            if self.data is not None:
                self.data = self._build_data(last_session=session)
                self.async_update_listeners()
        for listener in list(self._session_listeners):
            listener(kind, session)

    # ------------------------------------------------------------------ control
    def _shows_current(self, current: float) -> bool:
        status = self.station.snapshot.status
        if status is None:
            return False
        return current in (status.timer_current, status.user_current_limit)

    def ensure_user_may_set_current(self) -> None:
        """Raise a translated error while a charging mode sets the current."""
        if self.current_guard is not None:
            self.current_guard()

    async def async_set_current_by_user(self, current: float, delay: int = 1) -> None:
        """Set the current for a person or an automation; refused while a mode regulates it."""
        self.ensure_user_may_set_current()
        await self.async_set_current(current, delay)

    async def async_set_current(self, current: float, delay: int = 1) -> None:
        """Ask for ``current`` A; show it as pending until report 2 confirms it.

        The current is remembered for the session: a station that restarts while the vehicle
        stays plugged in gets it again.
        """
        if self.data is not None:
            self.data = replace(self.data, pending_current=current)
            self.async_update_listeners()
        try:
            await self.station.set_current(current, delay)
        finally:
            if self.data is not None and self.data.pending_current == current:
                self.data = self._build_data(pending_current=None)
                self.async_update_listeners()
        self.session_current = current
        self._async_clear_reapply_issue()

    async def async_set_energy_limit(self, energy: float) -> None:
        """``setenergy``: end the session after ``energy`` kWh (0 removes the limit).

        A value above 0 that rounds to 0 (the station counts in 0.1 Wh) would remove the limit
        instead: it is refused. The limit is remembered for the session, like the current.
        """
        if energy > 0 and round(energy * ENERGY_LIMIT_STEPS_PER_KWH) == 0:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="energy_rounds_to_zero",
                translation_placeholders={"value": format(energy, ".10g")},
            )
        await self.station.set_energy_limit(energy)
        self.session_energy_limit = energy or None
        self._async_clear_reapply_issue()

    # ------------------------------------------------------------ restarts
    @property
    def _reapply_issue_id(self) -> str:
        return f"{ISSUE_REAPPLY_FAILED}_{self.config_entry.entry_id}"

    @callback
    def _async_clear_reapply_issue(self) -> None:
        ir.async_delete_issue(self.hass, DOMAIN, self._reapply_issue_id)

    def _forget_session_settings(self) -> None:
        """The vehicle left: what was set for its session no longer applies."""
        self.session_current = None
        self.session_energy_limit = None

    async def _async_reapply_session_settings(self) -> None:
        """After a restart, set again the current and energy limit set for the session."""
        status = self.station.snapshot.status
        if status is None or not status.vehicle_plugged:
            self._forget_session_settings()
            return
        failed: list[str] = []
        applied: list[str] = []
        if (current := self.session_current) is not None:
            try:
                await self.station.set_current(current)
                applied.append(f"{current:g} A")
            except KebaError as err:
                LOGGER.warning(
                    "Could not set %s A again on %s after its restart: %s",
                    current,
                    self.station.host,
                    err,
                )
                failed.append(f"{current:g} A")
        if (energy := self.session_energy_limit) is not None and self.capabilities.meter:
            try:
                await self.station.set_energy_limit(energy)
                applied.append(f"{energy:g} kWh")
            except KebaError as err:
                LOGGER.warning(
                    "Could not set the energy limit %s kWh again on %s after its restart: %s",
                    energy,
                    self.station.host,
                    err,
                )
                failed.append(f"{energy:g} kWh")
        if applied:
            LOGGER.info(
                "%s restarted during the session; set again: %s",
                self.station.host,
                ", ".join(applied),
            )
        if failed:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                self._reapply_issue_id,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                translation_key=ISSUE_REAPPLY_FAILED,
                translation_placeholders={
                    "host": self.station.host,
                    "title": self.config_entry.title,
                    "what": ", ".join(failed),
                },
            )
        else:
            self._async_clear_reapply_issue()
