"""Solar-surplus charging inside Home Assistant: sensors in, station commands out.

Stations whose options name the same grid power sensor form a site and share its surplus
(:mod:`.surplus` decides). Every control interval the site averages its sensors over the
interval (time-weighted, so a spike does not make a decision), asks the controller, and sends
what it decided through the protocol engine's scheduler: ``currtime <mA> 1`` to regulate,
``currtime 0 1`` to pause — never ``curr`` (EEPROM-free, reset at unplug) and never ``ena``,
which stays the user's switch.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
import math
import time
from typing import Any

from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, UnitOfPower
from homeassistant.core import (
    CALLBACK_TYPE,
    Event,
    EventStateChangedData,
    HomeAssistant,
    State,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.event import async_track_state_change_event, async_track_time_interval

from .const import (
    CONF_ALLOWED_IMPORT,
    CONF_BATTERY_CHARGE_POSITIVE,
    CONF_BATTERY_MIN_SOC,
    CONF_BATTERY_POWER_SENSOR,
    CONF_BATTERY_SOC_SENSOR,
    CONF_CONTROL_INTERVAL,
    CONF_GRID_IMPORT_POSITIVE,
    CONF_GRID_SENSOR,
    CONF_PRIORITY,
    CONF_SOLAR_MAX_CURRENT,
    CONF_SOLAR_MIN_CURRENT,
    CONF_SOLAR_PHASES,
    CONF_START_DELAY,
    CONF_STOP_DELAY,
    DEFAULT_ALLOWED_IMPORT,
    DEFAULT_BATTERY_MIN_SOC,
    DEFAULT_CONTROL_INTERVAL,
    DEFAULT_SOLAR_MAX_CURRENT,
    DEFAULT_START_DELAY,
    DEFAULT_STOP_DELAY,
    DOMAIN,
    LOGGER,
    MIN_CONTROL_INTERVAL,
    PHASES_AUTO,
)
from .coordinator import KebaConfigEntry, KebaCoordinator
from .kecontact import KebaError
from .surplus import (
    MIN_CHARGING_CURRENT,
    ChargingMode,
    Decision,
    SiteMeasurement,
    StationMeasurement,
    SurplusController,
    SurplusSettings,
)

#: A sensor that has not reported for this many control intervals (at least a minute) is stale.
STALE_INTERVALS = 6
STALE_MIN_S = 60.0

_POWER_SCALE = {UnitOfPower.WATT: 1.0, UnitOfPower.KILO_WATT: 1000.0, UnitOfPower.MEGA_WATT: 1e6}


def settings_from_options(options: dict[str, Any]) -> SurplusSettings:
    """The controller's settings of one station, from its entry's options."""
    phases = options.get(CONF_SOLAR_PHASES, PHASES_AUTO)
    return SurplusSettings(
        min_current=float(options.get(CONF_SOLAR_MIN_CURRENT, MIN_CHARGING_CURRENT)),
        max_current=float(options.get(CONF_SOLAR_MAX_CURRENT, DEFAULT_SOLAR_MAX_CURRENT)),
        phases=None if phases == PHASES_AUTO else int(phases),
        start_delay_s=float(options.get(CONF_START_DELAY, DEFAULT_START_DELAY)),
        stop_delay_s=float(options.get(CONF_STOP_DELAY, DEFAULT_STOP_DELAY)),
        allowed_import_w=float(options.get(CONF_ALLOWED_IMPORT, DEFAULT_ALLOWED_IMPORT)),
        priority=int(options.get(CONF_PRIORITY, 1)),
        battery_min_soc=float(options.get(CONF_BATTERY_MIN_SOC, DEFAULT_BATTERY_MIN_SOC)),
    )


class _Average:
    """Time-weighted average of a sensor over the current control interval."""

    def __init__(self, scale: Callable[[State], float | None]) -> None:
        self._scale = scale
        self.value: float | None = None
        self.reported_at = -math.inf
        self._since = 0.0
        self._window_start: float | None = None
        self._integral = 0.0

    def update(self, state: State | None, now: float) -> None:
        self._accumulate(now)
        self.value = self._scale(state) if state is not None else None
        if state is not None and self.value is not None:
            self.reported_at = now
        self._since = now

    def _accumulate(self, now: float) -> None:
        if self._window_start is None:
            self._window_start = now
        if self.value is not None:
            self._integral += self.value * (now - self._since)
        self._since = max(self._since, now)

    def take(self, now: float, stale_after: float) -> float | None:
        """The average since the last call; None when unknown or stale."""
        if self.value is None or now - self.reported_at > stale_after:
            self._window_start, self._integral = now, 0.0
            return None
        self._accumulate(now)
        start = self._window_start if self._window_start is not None else now
        span = now - start
        average = self._integral / span if span > 0 else self.value
        self._window_start, self._integral, self._since = now, 0.0, now
        return average

    def keep_alive(self, state: State | None, now: float) -> None:
        """A state that was reported again unchanged still counts as fresh."""
        if state is not None and self._scale(state) is not None:
            self.reported_at = now


def _power(sign: float) -> Callable[[State], float | None]:
    def read(state: State) -> float | None:
        if state.state in (STATE_UNAVAILABLE, STATE_UNKNOWN):
            return None
        try:
            value = float(state.state)
        except ValueError:
            return None
        if not math.isfinite(value):
            return None
        unit = state.attributes.get("unit_of_measurement", UnitOfPower.WATT)
        return sign * value * _POWER_SCALE.get(unit, 1.0)

    return read


def _percent(state: State) -> float | None:
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
    site: _Site | None = None
    listeners: list[CALLBACK_TYPE] = field(default_factory=list)

    @property
    def key(self) -> str:
        """The controller's key of this station."""
        return self.entry.entry_id

    @property
    def can_regulate(self) -> bool:
        """A grid power sensor is configured, so the solar modes can work."""
        return self.site is not None

    def async_set_mode(self, mode: ChargingMode) -> None:
        """Hand the current to the controller (or back to the user with ``off``)."""
        if mode in (ChargingMode.SOLAR, ChargingMode.MIN_SOLAR) and self.site is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="solar_needs_grid_sensor",
                translation_placeholders={"station": self.entry.title},
            )
        if (
            mode in (ChargingMode.SOLAR, ChargingMode.MIN_SOLAR)
            and not self.coordinator.capabilities.currtime
        ):
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="solar_needs_currtime",
                translation_placeholders={"station": self.entry.title},
            )
        self.mode = mode
        if self.site is not None:
            self.site.async_mode_changed(self)
        elif mode == ChargingMode.FAST:
            self._async_apply_fast()
        self.coordinator.async_update_listeners()

    @callback
    def _async_apply_fast(self) -> None:
        """Without a site, fast mode just offers the maximum once."""
        settings = settings_from_options(dict(self.entry.options))
        status = self.coordinator.data.snapshot.status if self.coordinator.data else None
        limit = settings.max_current
        if status is not None and status.hardware_current_limit:
            limit = min(limit, status.hardware_current_limit)
        self.entry.async_create_background_task(
            self.coordinator.hass,
            _send(self.coordinator, float(math.floor(limit))),
            f"KEBA {self.entry.title} fast charging",
        )

    def restore(self, mode: ChargingMode, detected_phases: int | None) -> None:
        """Take back the mode and learned phases after a restart."""
        self.mode = mode
        if self.site is not None:
            self.site.controller.restore(self.key, detected_phases=detected_phases, commanded=None)

    @property
    def detected_phases(self) -> int | None:
        """Phases the vehicle was last seen charging on."""
        if self.site is None:
            return None
        return self.site.controller.detected_phases(self.key)

    def ensure_user_may_set_current(self) -> None:
        """Refuse a manual current while the controller is in charge."""
        if self.mode != ChargingMode.OFF:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="current_set_by_mode",
                translation_placeholders={"station": self.entry.title, "mode": self.mode.value},
            )


async def _send(coordinator: KebaCoordinator, current: float) -> None:
    """Send a controller decision; failures are logged, the next interval tries again."""
    try:
        if current > 0:
            await coordinator.async_set_current(current)
        else:
            await coordinator.station.pause_charging()
    except KebaError as err:
        LOGGER.warning("Solar charging could not reach %s: %s", coordinator.station.host, err)


class _Site:
    """Stations sharing one grid meter, and the controller that shares its surplus."""

    def __init__(self, hass: HomeAssistant, grid_sensor: str) -> None:
        self.hass = hass
        self.grid_sensor = grid_sensor
        self.controller = SurplusController()
        self.stations: dict[str, SolarStation] = {}
        self._grid: _Average | None = None
        self._battery: _Average | None = None
        self._soc: _Average | None = None
        self._unsubscribe: list[CALLBACK_TYPE] = []
        self.interval = float(DEFAULT_CONTROL_INTERVAL)

    # -------------------------------------------------------------- membership
    def _options(self) -> dict[str, Any]:
        """Site-wide options come from the first station (they name the same sensors)."""
        first = next(iter(self.stations.values()))
        return dict(first.entry.options)

    @callback
    def async_add(self, station: SolarStation) -> None:
        self.stations[station.key] = station
        station.site = self
        self._async_restart()

    @callback
    def async_remove(self, station: SolarStation) -> None:
        self.stations.pop(station.key, None)
        self.controller.forget(station.key)
        station.site = None
        self._async_restart()

    @callback
    def async_mode_changed(self, station: SolarStation) -> None:
        if station.mode == ChargingMode.OFF:
            self.controller.forget(station.key)
            station.decision = None
        # Decide now rather than up to an interval later.
        self.hass.async_create_task(self._async_tick(None), eager_start=False)

    @callback
    def _async_restart(self) -> None:
        while self._unsubscribe:
            self._unsubscribe.pop()()
        if not self.stations:
            return
        options = self._options()
        grid_sign = 1.0 if options.get(CONF_GRID_IMPORT_POSITIVE, True) else -1.0
        battery_sign = 1.0 if options.get(CONF_BATTERY_CHARGE_POSITIVE, True) else -1.0
        self._grid = _Average(_power(grid_sign))
        battery_sensor = options.get(CONF_BATTERY_POWER_SENSOR)
        soc_sensor = options.get(CONF_BATTERY_SOC_SENSOR)
        self._battery = _Average(_power(battery_sign)) if battery_sensor else None
        self._soc = _Average(_percent) if soc_sensor else None
        self.interval = max(
            float(MIN_CONTROL_INTERVAL),
            min(
                float(s.entry.options.get(CONF_CONTROL_INTERVAL, DEFAULT_CONTROL_INTERVAL))
                for s in self.stations.values()
            ),
        )
        now = time.monotonic()
        tracked = {self.grid_sensor: self._grid}
        if battery_sensor and self._battery is not None:
            tracked[battery_sensor] = self._battery
        if soc_sensor and self._soc is not None:
            tracked[soc_sensor] = self._soc
        for entity_id, average in tracked.items():
            average.update(self.hass.states.get(entity_id), now)

        @callback
        def on_change(event: Event[EventStateChangedData]) -> None:
            average = tracked.get(event.data["entity_id"])
            if average is None:
                return
            new = event.data["new_state"]
            old = event.data["old_state"]
            if new is not None and old is not None and new.state == old.state:
                average.keep_alive(new, time.monotonic())
            else:
                average.update(new, time.monotonic())

        self._unsubscribe.append(
            async_track_state_change_event(self.hass, list(tracked), on_change)
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
    def _measure(self, station: SolarStation) -> StationMeasurement | None:
        data = station.coordinator.data
        if data is None or data.snapshot.status is None:
            return None
        status, meter = data.snapshot.status, data.snapshot.meter
        currents = meter.currents if meter is not None else (None, None, None)
        voltages = (
            (meter.voltage_1, meter.voltage_2, meter.voltage_3)
            if meter is not None
            else (None, None, None)
        )
        station_target: float | None
        if status.timer_timeout_s and status.timer_current is not None:
            station_target = status.timer_current
        else:
            station_target = status.user_current_limit
        return StationMeasurement(
            key=station.key,
            mode=station.mode,
            settings=settings_from_options(dict(station.entry.options)),
            vehicle_plugged=bool(status.vehicle_plugged),
            power_w=(meter.power_w or 0.0) if meter is not None else 0.0,
            currents=(currents[0] or 0.0, currents[1] or 0.0, currents[2] or 0.0),
            voltages=voltages,
            hardware_limit=status.hardware_current_limit,
            station_target=station_target,
        )

    async def _async_tick(self, _now: datetime | None) -> None:
        if self._grid is None:
            return
        now = time.monotonic()
        stale_after = max(STALE_MIN_S, STALE_INTERVALS * self.interval)
        site = SiteMeasurement(
            grid_power_w=self._grid.take(now, stale_after),
            battery_power_w=self._battery.take(now, stale_after) if self._battery else None,
            battery_soc=self._soc.take(now, stale_after) if self._soc else None,
        )
        measured: list[tuple[SolarStation, StationMeasurement]] = []
        for station in self.stations.values():
            measurement = self._measure(station)
            if measurement is not None and station.coordinator.last_update_success:
                measured.append((station, measurement))
        decisions = self.controller.step(now, site, [m for _, m in measured])
        for (station, _), decision in zip(measured, decisions, strict=True):
            station.decision = decision if station.mode != ChargingMode.OFF else None
            if decision.command is not None and station.mode != ChargingMode.OFF:
                station.entry.async_create_background_task(
                    self.hass,
                    _send(station.coordinator, decision.command),
                    f"KEBA {station.entry.title} solar charging",
                )
            station.coordinator.async_update_listeners()


class SolarManager:
    """All sites of the integration, by grid power sensor."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Start with no site."""
        self.hass = hass
        self._sites: dict[str, _Site] = {}

    @callback
    def async_register(self, entry: KebaConfigEntry, coordinator: KebaCoordinator) -> SolarStation:
        """Join the entry's station to the site of its grid sensor (if one is configured)."""
        station = SolarStation(entry=entry, coordinator=coordinator)
        grid_sensor = entry.options.get(CONF_GRID_SENSOR)
        if grid_sensor:
            site = self._sites.get(grid_sensor)
            if site is None:
                site = self._sites[grid_sensor] = _Site(self.hass, grid_sensor)
            site.async_add(station)
        return station

    @callback
    def async_unregister(self, station: SolarStation) -> None:
        """Leave the site; the last station stops it."""
        site = station.site
        if site is None:
            return
        site.async_remove(station)
        if not site.stations:
            self._sites.pop(site.grid_sensor, None)
