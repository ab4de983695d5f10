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
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
import math
import time
from typing import Any

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
from .coordinator import KebaConfigEntry, KebaCoordinator, hardware_limit
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
    StationMeasurement,
    SurplusSettings,
)

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
    site: _Site | None = None

    @property
    def key(self) -> str:
        """The controller's key of this station."""
        return self.entry.entry_id

    @property
    def can_regulate(self) -> bool:
        """A grid power sensor is configured, so the solar modes can work."""
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
        if mode in (ChargingMode.SOLAR, ChargingMode.MIN_SOLAR) and self.site is None:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="solar_needs_grid_sensor",
                translation_placeholders={"station": self.entry.title},
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
        settings = settings_from_options(dict(self.entry.options))
        limit = min(settings.max_current, _most_of(self.coordinator))
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
        if self.site is None:
            return
        status = self.coordinator.data.snapshot.status if self.coordinator.data else None
        commanded: float | None = None
        if mode != ChargingMode.OFF and status is not None and status.vehicle_plugged:
            shown = status.current_target
            if (_measured_power(self) or 0.0) > 0 or shown == 0:
                commanded = shown
        self.site.controller.restore(self.key, detected_phases=detected_phases, commanded=commanded)

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


class _Site:
    """Stations sharing one grid meter, and the controller that shares its surplus."""

    def __init__(self, hass: HomeAssistant, grid_sensor: str) -> None:
        self.hass = hass
        self.grid_sensor = grid_sensor
        self.control = SiteController()
        self.controller = self.control.controller
        self.stations: dict[str, SolarStation] = {}
        self._grid: _Sensor | None = None
        self._station_unsubscribe: dict[str, CALLBACK_TYPE] = {}
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

        @callback
        def on_update() -> None:
            # The vehicle's power is averaged over the same interval as the grid meter's.
            self._feed_station(station, _measured_power(station), time.monotonic())

        on_update()
        self._station_unsubscribe[station.key] = station.coordinator.async_add_listener(on_update)
        self._async_restart()

    @callback
    def async_remove(self, station: SolarStation) -> None:
        self.stations.pop(station.key, None)
        self._station_unsubscribe.pop(station.key)()
        self.control.forget(station.key)
        station.site = None
        self._async_restart()

    @callback
    def async_mode_changed(self, station: SolarStation) -> None:
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
        if not self.stations:
            return
        options = self._options()
        grid_sign = 1.0 if options.get(CONF_GRID_IMPORT_POSITIVE, True) else -1.0
        battery_sign = 1.0 if options.get(CONF_BATTERY_CHARGE_POSITIVE, True) else -1.0
        battery_sensor = options.get(CONF_BATTERY_POWER_SENSOR)
        soc_sensor = options.get(CONF_BATTERY_SOC_SENSOR)
        self._grid = _Sensor(self.grid_sensor, Reading.GRID, _power(grid_sign))
        sensors = [self._grid]
        if battery_sensor:
            sensors.append(_Sensor(battery_sensor, Reading.BATTERY_POWER, _power(battery_sign)))
        if soc_sensor:
            sensors.append(_Sensor(soc_sensor, Reading.BATTERY_SOC, _number))
        self.interval = max(
            float(MIN_CONTROL_INTERVAL),
            min(
                float(s.entry.options.get(CONF_CONTROL_INTERVAL, DEFAULT_CONTROL_INTERVAL))
                for s in self.stations.values()
            ),
        )
        battery = (
            BatterySettings(
                priority_soc=min(
                    float(s.entry.options.get(CONF_BATTERY_MIN_SOC, DEFAULT_BATTERY_MIN_SOC))
                    for s in self.stations.values()
                ),
                # Until the charging site's options offer them: no buffer, no start on battery.
                buffer_soc=None,
                buffer_start_soc=None,
            )
            if battery_sensor
            else None
        )
        self.control.update_settings(
            SiteSettings(control_interval_s=self.interval, battery=battery)
        )
        now = time.monotonic()
        tracked = {sensor.entity_id: sensor for sensor in sensors}
        for reading in Reading:
            if reading not in {sensor.reading for sensor in sensors}:
                self.control.feed(reading, None, now)
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
        settings = settings_from_options(dict(station.entry.options))
        phases = station.coordinator.phase_control
        if phases is not None and phases.selected_phases is not None:
            # X2 selects the phases: the controller counts with them.
            settings = replace(settings, phases=phases.selected_phases)
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
            self._async_apply(self.stations[decision.key], decision)

    async def _async_tick(self, _now: datetime | None) -> None:
        if self._grid is None:  # pragma: no cover - set as soon as a station joins
            return
        now = time.monotonic()
        for station in self.stations.values():
            self._feed_station(station, _measured_power(station), now)
        status = self.control.step(now)
        for decision in status.decisions:
            member = self.stations.get(decision.key)
            if member is not None:
                self._async_apply(member, decision)

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
