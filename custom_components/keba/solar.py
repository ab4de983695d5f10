"""Solar-surplus charging inside Home Assistant: sensors in, station commands out.

A charging site is a config entry of its own (one per grid connection): it names the grid power
sensor, the home battery and the member stations in priority order; its stations share the
surplus (:mod:`.surplus` decides). Every control interval the site averages its sensors over the
interval (time-weighted, so a spike does not make a decision), asks the controller, and sends
what it decided through the protocol engine's scheduler: ``currtime <mA> 1`` to regulate,
``currtime 0 1`` to pause — never ``curr`` (EEPROM-free, reset at unplug) and never ``ena``,
which stays the user's switch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
import math
import time
from typing import Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, UnitOfPower
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    EventStateReportedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.event import (
    async_track_state_change_event,
    async_track_state_report_event,
    async_track_time_interval,
)
from homeassistant.util import dt as dt_util

from .const import (
    CONF_ALLOWED_IMPORT,
    CONF_BATTERY_BUFFER_SOC,
    CONF_BATTERY_BUFFER_START_SOC,
    CONF_BATTERY_CHARGE_POSITIVE,
    CONF_BATTERY_MAX_DISCHARGE,
    CONF_BATTERY_POWER_SENSOR,
    CONF_BATTERY_PRIORITY_SOC,
    CONF_BATTERY_SOC_SENSOR,
    CONF_CONTROL_INTERVAL,
    CONF_GRID_IMPORT_POSITIVE,
    CONF_GRID_SENSOR,
    CONF_PV_FORECAST,
    CONF_PV_POWER_SENSOR,
    CONF_SHARE_EQUALLY,
    CONF_SITE_STATIONS,
    CONF_SOLAR_MAX_CURRENT,
    CONF_SOLAR_MIN_CURRENT,
    CONF_SOLAR_PHASES,
    CONF_START_DELAY,
    CONF_STOP_DELAY,
    DEFAULT_ALLOWED_IMPORT,
    DEFAULT_BATTERY_MIN_SOC,
    DEFAULT_CONTROL_INTERVAL,
    DEFAULT_START_DELAY,
    DEFAULT_STOP_DELAY,
    DOMAIN,
    LOGGER,
    MIN_CONTROL_INTERVAL,
    PHASES_AUTO,
)
from .coordinator import FALLBACK_HARDWARE_LIMIT_A, KebaConfigEntry, KebaCoordinator, hardware_limit
from .domain_data import DATA_KEBA, is_site_entry
from .kecontact import KebaError
from .site_control import (
    MIN_CHARGING_CURRENT,
    NOMINAL_VOLTAGE,
    BatterySettings,
    ChargingMode,
    Decision,
    Reading,
    SiteController,
    SiteSettings,
    SiteState,
    StationMeasurement,
    SurplusSettings,
)
from .surplus import DipPolicy, DipVerdict

_POWER_SCALE = {UnitOfPower.WATT: 1.0, UnitOfPower.KILO_WATT: 1000.0, UnitOfPower.MEGA_WATT: 1e6}


type SiteConfigEntry = ConfigEntry[SiteRuntimeData]


def settings_from_options(
    options: dict[str, Any],
    site_options: dict[str, Any] | None = None,
    priority: int = 1,
    hardware_limit_a: float = FALLBACK_HARDWARE_LIMIT_A,
) -> SurplusSettings:
    """The controller's settings of one station: its own options and its site's.

    Without a maximum current in the options the station's hardware limit (``Curr HW``,
    ``hardware_limit_a``) is the maximum: Fast then charges as fast as the station allows.
    """
    site = site_options or {}
    phases = options.get(CONF_SOLAR_PHASES, PHASES_AUTO)
    maximum = options.get(CONF_SOLAR_MAX_CURRENT)
    return SurplusSettings(
        min_current=float(options.get(CONF_SOLAR_MIN_CURRENT, MIN_CHARGING_CURRENT)),
        max_current=float(hardware_limit_a if maximum is None else maximum),
        phases=None if phases == PHASES_AUTO else int(phases),
        start_delay_s=float(site.get(CONF_START_DELAY, DEFAULT_START_DELAY)),
        stop_delay_s=float(site.get(CONF_STOP_DELAY, DEFAULT_STOP_DELAY)),
        allowed_import_w=float(site.get(CONF_ALLOWED_IMPORT, DEFAULT_ALLOWED_IMPORT)),
        priority=priority,
        battery_min_soc=float(site.get(CONF_BATTERY_PRIORITY_SOC, DEFAULT_BATTERY_MIN_SOC)),
    )


def _power(sign: float) -> Callable[[State], float | None]:
    def read(state: State) -> float | None:
        value = _number(state)
        if value is None:
            return None
        unit = state.attributes.get("unit_of_measurement", UnitOfPower.WATT)
        return sign * value * _POWER_SCALE.get(unit, 1.0)

    return read


def _number(state: State) -> float | None:
    if state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
        return None
    try:
        value = float(state.state)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


@dataclass(kw_only=True)
class SolarStation:
    """One station's part in solar charging; entities read and set it."""

    entry: KebaConfigEntry
    coordinator: KebaCoordinator
    mode: ChargingMode = ChargingMode.OFF
    decision: Decision | None = None
    site: ChargingSite | None = None
    #: Phases remembered from before a restart, until a site's controller takes them.
    restored_phases: int | None = None
    #: The site it left had paused it (``currtime 0 1``).
    paused_by_site: bool = False
    _join_listeners: list[CALLBACK_TYPE] = field(default_factory=list)

    @callback
    def async_on_join(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` when the station joins a charging site; returns the remover."""
        self._join_listeners.append(listener)

        @callback
        def remove() -> None:
            if listener in self._join_listeners:
                self._join_listeners.remove(listener)

        return remove

    @callback
    def async_joined(self) -> None:
        """The station joined a site."""
        for listener in list(self._join_listeners):
            listener()

    @property
    def key(self) -> str:
        """The controller's key of this station."""
        return self.entry.entry_id

    @property
    def serial(self) -> str:
        """The station's serial number (its entry's unique id), as sites list their members."""
        return self.entry.unique_id or self.entry.entry_id

    @property
    def can_regulate(self) -> bool:
        """The station is in a charging site, so the solar modes can work."""
        return self.site is not None

    def _check_mode(self, mode: ChargingMode) -> None:
        """Raise if the station cannot be run in ``mode``."""
        if mode == ChargingMode.OFF:
            return
        if not self.coordinator.capabilities.currtime:
            # Without ``currtime`` (a P20) regulating would take the permanent ``curr``.
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="solar_needs_currtime",
                translation_placeholders={"station": self.entry.title},
            )
        if (
            mode in (ChargingMode.SOLAR, ChargingMode.MIN_SOLAR)
            and self.site is None
            and not self.listed_in_a_site()
        ):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="solar_needs_site",
                translation_placeholders={"station": self.entry.title},
            )

    def listed_in_a_site(self) -> bool:
        """A charging site lists the station, loaded or not (yet)."""
        return any(
            self.serial in entry.options.get(CONF_SITE_STATIONS, ())
            for entry in self.coordinator.hass.config_entries.async_entries(DOMAIN)
            if is_site_entry(entry)
        )

    def may_use(self, mode: ChargingMode) -> bool:
        """Whether the station can be run in ``mode`` (a grid sensor, ``currtime``)."""
        try:
            self._check_mode(mode)
        except ServiceValidationError:
            return False
        return True

    def async_set_mode(self, mode: ChargingMode) -> None:
        """Hand the current to the controller (or back to the user with ``off``)."""
        self._check_mode(mode)
        self.mode = mode
        if self.site is not None:
            self.site.async_mode_changed(self)
        elif mode == ChargingMode.FAST:
            self._async_apply_fast()
        self.coordinator.async_update_listeners()

    @callback
    def _async_apply_fast(self) -> None:
        """Without a site, fast mode just offers the maximum once."""
        most = _most_of(self.coordinator)
        settings = settings_from_options(dict(self.entry.options), hardware_limit_a=most)
        limit = min(settings.max_current, most)
        self.entry.async_create_background_task(
            self.coordinator.hass,
            _send(self.coordinator, float(math.floor(limit))),
            f"KEBA {self.entry.title} fast charging",
        )

    def restore(self, mode: ChargingMode, detected_phases: int | None) -> None:
        """Take back the mode and learned phases after a restart.

        The station kept what it was last told while Home Assistant was away, and the
        controller starts from there: a vehicle that charges is not paused just because the
        grid sensor has not reported yet, and one the controller had paused is not sent
        ``currtime 0 1`` again.
        """
        self.mode = mode
        self.restored_phases = detected_phases
        if self.site is not None:
            self.restore_into(self.site)

    def restore_into(self, site: ChargingSite) -> None:
        """Hand what the station kept (its current, the vehicle's phases) to a controller."""
        status = self.coordinator.data.snapshot.status if self.coordinator.data else None
        commanded: float | None = None
        if self.mode != ChargingMode.OFF and status is not None and status.vehicle_plugged:
            shown = status.current_target
            if (_measured_power(self) or 0.0) > 0 or shown == 0:
                commanded = shown
        site.controller.restore(self.key, detected_phases=self.restored_phases, commanded=commanded)

    @property
    def detected_phases(self) -> int | None:
        """Phases the vehicle was last seen charging on."""
        if self.site is None:
            return self.restored_phases
        return self.site.controller.detected_phases(self.key) or self.restored_phases

    def ensure_user_may_set_current(self) -> None:
        """Refuse a manual current while the controller is in charge."""
        if self.mode != ChargingMode.OFF:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="current_set_by_mode",
                translation_placeholders={"station": self.entry.title},
            )


def _most_of(coordinator: KebaCoordinator) -> float:
    """The highest whole current the station can offer."""
    return float(math.floor(hardware_limit(coordinator.data)))


async def _send(coordinator: KebaCoordinator, current: float) -> None:
    """Send a controller decision; failures are logged, the next interval tries again."""
    try:
        if current > 0:
            await coordinator.async_set_current(current)
        else:
            await coordinator.station.pause_charging()
    except KebaError as err:
        LOGGER.warning("Solar charging could not reach %s: %s", coordinator.station.host, err)


def site_settings(options: dict[str, Any]) -> SiteSettings:
    """The control module's settings of a site, from its entry's options."""
    battery: BatterySettings | None = None
    if options.get(CONF_BATTERY_POWER_SENSOR):
        defaults = BatterySettings()

        def level(key: str) -> float | None:
            value = options.get(key)
            return None if value is None else float(value)

        battery = BatterySettings(
            priority_soc=float(options.get(CONF_BATTERY_PRIORITY_SOC, defaults.priority_soc)),
            buffer_soc=level(CONF_BATTERY_BUFFER_SOC),
            buffer_start_soc=level(CONF_BATTERY_BUFFER_START_SOC),
            max_discharge_w=level(CONF_BATTERY_MAX_DISCHARGE),
        )
    interval = float(options.get(CONF_CONTROL_INTERVAL, DEFAULT_CONTROL_INTERVAL))
    return SiteSettings(
        control_interval_s=max(float(MIN_CONTROL_INTERVAL), interval), battery=battery
    )


class _Sensor:
    """A Home Assistant sensor the site reads, fed to the site's control logic."""

    def __init__(
        self, entity_id: str, reading: Reading, read: Callable[[State], float | None]
    ) -> None:
        self.entity_id = entity_id
        self.reading = reading
        self._read = read

    def value(self, state: State | None) -> float | None:
        return self._read(state) if state is not None else None


@dataclass(frozen=True, slots=True)
class DipDecision:
    """A member station's vehicle held through a dip or paused: where, why and when."""

    station: str
    verdict: DipVerdict
    at: datetime


class ChargingSite:
    """Stations sharing one grid meter, and the controller that shares its surplus."""

    def __init__(
        self, hass: HomeAssistant, entry: SiteConfigEntry, *, dips: DipPolicy | None = None
    ) -> None:
        """A site from its entry (started with :meth:`async_start`).

        ``dips``: what the site learned of today's dips before its entry was reloaded.
        """
        self.hass = hass
        self.entry = entry
        self.grid_sensor: str = entry.data[CONF_GRID_SENSOR]
        self.options: dict[str, Any] = dict(entry.options)
        #: Serial numbers of the member stations, in priority order.
        self.members: list[str] = list(self.options.get(CONF_SITE_STATIONS, []))
        self.control = SiteController(site_settings(self.options), dip_policy=dips)
        self.controller = self.control.controller
        self.stations: dict[str, SolarStation] = {}
        self._grid: _Sensor | None = None
        self._station_unsubscribe: dict[str, CALLBACK_TYPE] = {}
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self._listeners: list[CALLBACK_TYPE] = []
        self.interval = float(DEFAULT_CONTROL_INTERVAL)
        #: What the site entities show: the latest surplus and the state with its reason.
        self.surplus_w: float | None = None
        self.state: SiteState = SiteState.IDLE
        self.reason = ""
        self.battery_share: float | None = None
        #: The latest decision to hold a vehicle through a dip or to pause it (shown with the
        #: site state until the next one).
        self.dip_decision: DipDecision | None = None

    # -------------------------------------------------------------- membership
    def priority(self, station: SolarStation) -> int:
        """The station's place in the site's order (1 first); all 1 when sharing equally."""
        if self.options.get(CONF_SHARE_EQUALLY, False):
            return 1
        serial = station.serial
        return self.members.index(serial) + 1 if serial in self.members else len(self.members) + 1

    def settings(self, station: SolarStation) -> SurplusSettings:
        """The controller's settings of a member station."""
        return settings_from_options(
            dict(station.entry.options),
            self.options,
            self.priority(station),
            _most_of(station.coordinator),
        )

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener`` whenever the site decided (its entities update)."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    @callback
    def _async_notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    @callback
    def async_start(self) -> None:
        """Follow the site's sensors and decide every control interval."""
        self._async_restart()

    @callback
    def async_stop(self) -> None:
        """Stop following the sensors; the member stations leave the site."""
        for station in list(self.stations.values()):
            self.async_remove(station)
        while self._unsubscribe:
            self._unsubscribe.pop()()

    @callback
    def async_add(self, station: SolarStation) -> None:
        """A member station joins (loaded after the site, or the site was (re)loaded)."""
        self.stations[station.key] = station
        station.site = self
        station.async_joined()

        @callback
        def on_update() -> None:
            # The vehicle's power is averaged over the same interval as the grid meter's.
            self._feed_station(station, _measured_power(station), time.monotonic())

        on_update()
        self._station_unsubscribe[station.key] = station.coordinator.async_add_listener(on_update)
        ledger = station.entry.runtime_data.ledger
        if ledger is not None:
            # The session ledger records how much of each energy increment was surplus.
            ledger.surplus_share = lambda: self.control.surplus_share(time.monotonic())
        if station.mode != ChargingMode.OFF or station.restored_phases is not None:
            # Joined after its mode was restored (the site loaded later, or was reloaded).
            station.restore_into(self)
        if station.mode != ChargingMode.OFF:
            self.async_mode_changed(station)

    @callback
    def async_remove(self, station: SolarStation) -> None:
        """A station leaves (its entry unloads, or the site stops); it keeps its mode."""
        if station.site is self:
            station.restored_phases = station.detected_phases
            station.paused_by_site = (
                station.decision is not None and station.decision.target_current == 0
            )
        self.stations.pop(station.key, None)
        self._station_unsubscribe.pop(station.key)()
        ledger = station.entry.runtime_data.ledger
        if ledger is not None:
            ledger.surplus_share = None
        self.control.forget(station.key)
        station.site = None
        station.decision = None
        station.coordinator.async_update_listeners()

    @callback
    def async_mode_changed(self, station: SolarStation) -> None:
        """The station's charging mode changed: decide now."""
        if station.mode == ChargingMode.OFF:
            paused = station.decision is not None and station.decision.target_current == 0
            self.controller.forget(station.key)
            station.decision = None
            if paused:
                # The controller paused the station (or prepared it for the next vehicle):
                # hand it back able to charge, at the most the hardware allows.
                station.entry.async_create_background_task(
                    self.hass,
                    _send(station.coordinator, _most_of(station.coordinator)),
                    f"KEBA {station.entry.title} charging mode off",
                )
                return
        # Decide now rather than up to an interval later.
        station.entry.async_create_background_task(
            self.hass, self._async_tick(None), f"KEBA {station.entry.title} charging mode"
        )

    @callback
    def _async_restart(self) -> None:
        while self._unsubscribe:
            self._unsubscribe.pop()()
        options = self.options
        grid_sign = 1.0 if self.entry.data.get(CONF_GRID_IMPORT_POSITIVE, True) else -1.0
        battery_sign = 1.0 if options.get(CONF_BATTERY_CHARGE_POSITIVE, True) else -1.0
        self._grid = _Sensor(self.grid_sensor, Reading.GRID, _power(grid_sign))
        sensors = [self._grid]
        optional = (
            (CONF_BATTERY_POWER_SENSOR, Reading.BATTERY_POWER, _power(battery_sign)),
            (CONF_BATTERY_SOC_SENSOR, Reading.BATTERY_SOC, _number),
            (CONF_PV_POWER_SENSOR, Reading.PV_POWER, _power(1.0)),
            (CONF_PV_FORECAST, Reading.PV_FORECAST, _power(1.0)),
        )
        for key, reading, read in optional:
            if entity_id := options.get(key):
                sensors.append(_Sensor(entity_id, reading, read))
        self.interval = self.control.settings.control_interval_s
        now = time.monotonic()
        tracked = {sensor.entity_id: sensor for sensor in sensors}
        for entity_id, sensor in tracked.items():
            self.control.feed(sensor.reading, sensor.value(self.hass.states.get(entity_id)), now)

        @callback
        def on_change(event: Event[EventStateChangedData]) -> None:
            sensor = tracked[event.data["entity_id"]]
            self.control.feed(
                sensor.reading, sensor.value(event.data["new_state"]), time.monotonic()
            )
            if event.data["entity_id"] == self.grid_sensor:
                self._async_react()

        @callback
        def on_report(event: Event[EventStateReportedData]) -> None:
            # Reported again with the same state: not a change, but proof it is alive.
            self.control.keep_alive(tracked[event.data["entity_id"]].reading, time.monotonic())

        self._unsubscribe.append(
            async_track_state_change_event(self.hass, list(tracked), on_change)
        )
        self._unsubscribe.append(
            async_track_state_report_event(self.hass, list(tracked), on_report)
        )
        self._unsubscribe.append(
            async_track_time_interval(
                self.hass,
                self._async_tick,
                timedelta(seconds=self.interval),
                name=f"KEBA solar charging ({self.grid_sensor})",
                cancel_on_shutdown=True,
            )
        )

    # ------------------------------------------------------------------- ticks
    def _measure(self, station: SolarStation, power_w: float | None) -> StationMeasurement | None:
        data = station.coordinator.data
        if data is None or data.snapshot.status is None:  # pragma: no cover - after report 2
            return None
        status, meter = data.snapshot.status, data.snapshot.meter
        currents = meter.currents if meter is not None else (None, None, None)
        voltages = (
            (meter.voltage_1, meter.voltage_2, meter.voltage_3)
            if meter is not None
            else (None, None, None)
        )
        settings = self.settings(station)
        phases = station.coordinator.phase_control
        fewer_phases_in: float | None = None
        if phases is not None and phases.selected_phases is not None:
            # X2 selects the phases: the controller counts with them.
            settings = replace(settings, phases=phases.selected_phases)
            fewer_phases_in = phases.fewer_phases_in()
        return StationMeasurement(
            key=station.key,
            mode=station.mode,
            settings=settings,
            vehicle_plugged=bool(status.vehicle_plugged),
            power_w=power_w or 0.0,
            currents=(currents[0] or 0.0, currents[1] or 0.0, currents[2] or 0.0),
            voltages=voltages,
            hardware_limit=status.hardware_current_limit,
            station_target=status.current_target,
            measures_currents=meter is not None,
            fewer_phases_in_s=fewer_phases_in,
        )

    def _feed_station(self, station: SolarStation, power_w: float | None, now: float) -> None:
        """Hand the station's measurement to the site (or leave it out while unreachable)."""
        measurement = self._measure(station, power_w)
        if measurement is not None and station.coordinator.last_update_success:
            self.control.feed_station(measurement, now)
        else:
            self.control.remove_station(station.key)

    @callback
    def _async_react(self) -> None:
        """A new grid reading: lower the currents at once if it shows import.

        The control interval averages, so a cloud would otherwise draw from the grid for up to
        an interval before the vehicles give way; raising and pausing wait for the interval.
        """
        now = time.monotonic()
        for station in self.stations.values():
            self._feed_station(station, _measured_power(station), now)
        for decision in self.control.react(now):
            if (member := self.stations.get(decision.key)) is not None:
                self._async_apply(member, decision)

    async def _async_tick(self, _now: datetime | None) -> None:
        if self._grid is None:  # pragma: no cover - set when the site starts
            return
        now = time.monotonic()
        for station in self.stations.values():
            self._feed_station(station, _measured_power(station), now)
        status = self.control.step(now)
        for decision in status.decisions:
            if (member := self.stations.get(decision.key)) is not None:
                self._async_apply(member, decision)
        # What the site's entities show; a phase switch that did not follow speaks first
        # (switching stays stopped until the vehicle is unplugged, the owner should know).
        self.surplus_w = status.surplus_w
        self.state, self.reason = status.state, status.reason
        for decision in status.decisions:
            if decision.dip is not None and (member := self.stations.get(decision.key)):
                self.dip_decision = DipDecision(member.entry.title, decision.dip, dt_util.utcnow())
                break
        for station in self.stations.values():
            phases = station.coordinator.phase_control
            if phases is not None and (stopped := phases.stopped_reason) is not None:
                self.state = SiteState.PHASE_SWITCHING_STOPPED
                self.reason = f"phase switching stopped at {station.entry.title}: {stopped}"
                break
        self.battery_share = status.battery_share
        self._async_notify()

    @callback
    def _async_apply(self, station: SolarStation, decision: Decision) -> None:
        """Show a decision on the station's entities and send its command, if any."""
        station.decision = decision if station.mode != ChargingMode.OFF else None
        phases = station.coordinator.phase_control
        if (
            phases is not None
            and station.mode != ChargingMode.OFF
            and phases.async_consider(decision, time.monotonic())
        ):
            # A phase switch runs (or starts now, replacing this command).
            station.coordinator.async_update_listeners()
            return
        if decision.command is not None and station.mode != ChargingMode.OFF:
            station.entry.async_create_background_task(
                self.hass,
                _send(station.coordinator, decision.command),
                f"KEBA {station.entry.title} solar charging",
            )
        station.coordinator.async_update_listeners()


def _measured_power(station: SolarStation) -> float | None:
    """Power (W) the vehicle draws: the station's meter, or an estimate without one.

    A station without a meter (P30 German edition) is counted with the current it offers
    while it charges: taking its vehicle as drawing nothing would make the surplus vanish as
    soon as it starts, and stop it again.
    """
    data = station.coordinator.data
    if data is None:  # pragma: no cover - the first poll ran before any station joins a site
        return None
    meter, status = data.snapshot.meter, data.snapshot.status
    if meter is not None:
        return meter.power_w
    if status is None or not status.charging or not status.max_current:
        return 0.0
    phases = settings_from_options(dict(station.entry.options)).phases
    return status.max_current * NOMINAL_VOLTAGE * (phases or station.detected_phases or 3)


@dataclass(kw_only=True)
class SiteRuntimeData:
    """What a charging site's entry holds while it is loaded."""

    site: ChargingSite


class SolarManager:
    """All charging sites of the integration and the stations that may join them."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Start with no site and no station."""
        self.hass = hass
        #: Loaded sites by their entry id.
        self._sites: dict[str, ChargingSite] = {}
        #: Loaded stations by their serial number.
        self._stations: dict[str, SolarStation] = {}
        #: What unloaded sites learned of the day's dips (by entry id), for their reload: saving
        #: a site's options reloads it, and must not forget the day.
        self._learned: dict[str, DipPolicy] = {}

    def station(self, entry: KebaConfigEntry) -> SolarStation | None:
        """The solar-charging part of a loaded station's entry."""
        station = self._stations.get(entry.unique_id or entry.entry_id)
        return station if station is not None and station.entry is entry else None

    def _site_of(self, serial: str) -> ChargingSite | None:
        return next((site for site in self._sites.values() if serial in site.members), None)

    @callback
    def async_register(self, entry: KebaConfigEntry, coordinator: KebaCoordinator) -> SolarStation:
        """Take a station in; it joins the site that lists it (now or once that is loaded)."""
        station = SolarStation(entry=entry, coordinator=coordinator)
        self._stations[station.serial] = station
        coordinator.current_guard = station.ensure_user_may_set_current
        if (site := self._site_of(station.serial)) is not None:
            site.async_add(station)
        return station

    @callback
    def async_unregister(self, station: SolarStation) -> None:
        """The station's entry unloads: it leaves its site."""
        if self._stations.get(station.serial) is station:
            del self._stations[station.serial]
        station.coordinator.current_guard = None
        if station.site is not None:
            station.site.async_remove(station)

    @callback
    def async_add_site(self, entry: SiteConfigEntry) -> ChargingSite:
        """Start a charging site; its loaded member stations join it."""
        site = ChargingSite(self.hass, entry, dips=self._learned.pop(entry.entry_id, None))
        self._sites[entry.entry_id] = site
        # Following the sensors first: a station joining in a mode decides at once.
        site.async_start()
        for serial in site.members:
            station = self._stations.get(serial)
            if station is not None and station.site is None:
                site.async_add(station)
        return site

    @callback
    def async_release(self, serials: list[str]) -> None:
        """A site was deleted: its stations go back to "off", able to charge again."""
        for serial in serials:
            station = self._stations.get(serial)
            if station is None or station.site is not None or station.mode == ChargingMode.OFF:
                continue
            station.mode = ChargingMode.OFF
            if station.paused_by_site:
                station.paused_by_site = False
                station.entry.async_create_background_task(
                    self.hass,
                    _send(station.coordinator, _most_of(station.coordinator)),
                    f"KEBA {station.entry.title} left its charging site",
                )
            station.coordinator.async_update_listeners()

    @callback
    def async_forget_site(self, entry_id: str) -> None:
        """A site's entry was deleted: what it learned goes with it."""
        self._learned.pop(entry_id, None)

    @callback
    def async_remove_site(self, site: ChargingSite) -> None:
        """Stop a charging site; its stations keep their mode and wait for a site."""
        site.async_stop()
        self._sites.pop(site.entry.entry_id, None)
        # The learned dips cover the last hours only (they age out by themselves).
        self._learned[site.entry.entry_id] = site.control.dips


@callback
def async_get_manager(hass: HomeAssistant) -> SolarManager:
    """The integration's solar manager (created with the integration)."""
    manager = hass.data[DATA_KEBA].solar
    assert manager is not None
    return manager
