"""Tests of solar-surplus charging inside Home Assistant: modes, sensors, sites, options.

The controller's arithmetic has its own tests; these drive it the way Home Assistant does: a
grid power sensor, the charging mode select, control intervals stepped with ``freezer``, and
the commands that reach the (fake) station. A small model of a home keeps the numbers honest:
the grid meter shows house load plus what the vehicles draw minus the PV yield, and a vehicle
draws what its station offers (up to what it takes itself).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import timedelta
import logging
from typing import Any
from unittest.mock import MagicMock, patch

from freezegun.api import FrozenDateTimeFactory
import pytest

from homeassistant.components.number import ATTR_VALUE, DOMAIN as NUMBER_DOMAIN, SERVICE_SET_VALUE
from homeassistant.components.select import (
    ATTR_OPTION,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN
from homeassistant.config_entries import ConfigEntry, ConfigEntryState
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_HOST,
    EVENT_STATE_CHANGED,
    STATE_UNAVAILABLE,
    STATE_UNKNOWN,
)
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
)

from custom_components.keba.config_flow import validate_solar_options
from custom_components.keba.const import (
    CONF_BATTERY_CHARGE_POSITIVE,
    CONF_BATTERY_MIN_SOC,
    CONF_BATTERY_POWER_SENSOR,
    CONF_BATTERY_SOC_SENSOR,
    CONF_CHARGING_INTERVAL,
    CONF_FAILSAFE_CURRENT,
    CONF_FAILSAFE_PERSIST,
    CONF_FAILSAFE_TIMEOUT,
    CONF_GRID_IMPORT_POSITIVE,
    CONF_GRID_SENSOR,
    CONF_IDLE_INTERVAL,
    CONF_PRIORITY,
    CONF_RFID_TAG,
    CONF_SOLAR_MAX_CURRENT,
    CONF_SOLAR_MIN_CURRENT,
    CONF_SOLAR_PHASES,
    CONF_START_DELAY,
    CONF_STOP_DELAY,
    DOMAIN,
    SITE_UNIQUE_ID_PREFIX,
)
from custom_components.keba.domain_data import DATA_KEBA, is_site_entry
from custom_components.keba.kecontact import KebaTimeoutError
from custom_components.keba.solar import SolarManager, SolarStation
from simulator import Simulator

from .common import FakeStation, LoopbackNet, default_reports
from .conftest import SERIAL, SimulatorFactory
from .entities import P30_DE_PRODUCT, variant_reports

GRID = "sensor.grid_power"
BATTERY = "sensor.home_battery_power"
SOC = "sensor.home_battery_soc"
SECOND_HOST = "192.0.2.11"
SECOND_SERIAL = "18039975"
VOLTS = 230.0
#: Options of a station whose solar charging reacts within a few control intervals.
QUICK = {CONF_START_DELAY: 30, CONF_STOP_DELAY: 60}
#: The same for a vehicle whose three phases are known (no one-phase start at the minimum).
QUICK_3P = {**QUICK, CONF_SOLAR_PHASES: "3"}


# ---------------------------------------------------------------------------------- the home
@dataclass
class Vehicle:
    """A vehicle at a fake station: draws what the station offers, up to its own limit.

    It follows a new current when the station is next polled (a real vehicle takes 6–7 s,
    the station is polled every 5 s while charging), so the station's meter and the grid
    meter see the change at the same moment.
    """

    station: FakeStation
    phases: int = 3
    takes: float = 32.0
    offered: float = 16.0
    plugged: bool = True
    current: float = field(init=False, default=0.0)

    def __post_init__(self) -> None:
        """The vehicle draws what it is offered from the start."""
        self.settle()

    def settle(self) -> None:
        """Follow what the station offers now."""
        offered = self.offered if self.plugged and self.offered >= 6 else 0.0
        self.current = min(offered, self.takes)

    @property
    def power(self) -> float:
        """Power (W) the vehicle draws now."""
        return self.current * VOLTS * self.phases

    def write_reports(self) -> None:
        """What the station's next report 2 and 3 say."""
        milliamps = round(self.current * 1000)
        phases = [milliamps] * self.phases + [0] * (3 - self.phases)
        self.station.set_report(
            3,
            I1=phases[0],
            I2=phases[1],
            I3=phases[2],
            U1=round(VOLTS),
            U2=round(VOLTS),
            U3=round(VOLTS),
            P=round(self.power * 1000),
        )
        offered = round(self.offered * 1000) if self.plugged else 0
        if not self.plugged:
            state = 1
        elif milliamps:
            state = 3
        else:
            state = 2 if offered else 5
        self.station.set_report(
            2,
            **{
                "State": state,
                "Plug": 7 if self.plugged else 1,
                "Curr user": round(self.offered * 1000),
                "Max curr": offered,
                "Curr timer": 0,
                "Tmo CT": 0,
            },
        )


@dataclass
class Home:
    """PV, house load and vehicles behind one grid meter, reported as Home Assistant sensors."""

    hass: HomeAssistant
    vehicles: list[Vehicle]
    pv: float = 0.0
    house: float = 0.0
    unit: str = "W"
    import_positive: bool = True
    #: What the grid meter shows instead of a value (e.g. ``unavailable``); None: the value.
    meter_fault: str | None = None
    #: The grid meter stopped reporting (its state stays as it was).
    meter_silent: bool = False
    #: Extra sensors (battery) and their states, reported with the grid meter.
    extra: dict[str, tuple[str, dict[str, Any]]] = field(default_factory=dict)

    @property
    def grid(self) -> float:
        """Grid power in W, import positive."""
        return self.house + sum(v.power for v in self.vehicles) - self.pv

    def report(self) -> None:
        """The meters report (unchanged values count as a report too)."""
        value = self.grid if self.import_positive else -self.grid
        if self.unit == "kW":
            value /= 1000
        if not self.meter_silent:
            self.hass.states.async_set(
                GRID,
                self.meter_fault or f"{value:g}",
                {"unit_of_measurement": self.unit, "device_class": "power"},
            )
        for entity_id, (state, attributes) in self.extra.items():
            self.hass.states.async_set(entity_id, state, attributes)
        for vehicle in self.vehicles:
            vehicle.write_reports()

    def obey(self) -> None:
        """Stations take their commands (report 2); vehicles follow at the next poll."""
        for vehicle in self.vehicles:
            self._obey(vehicle)

    def _obey(self, vehicle: Vehicle) -> None:
        station = vehicle.station

        async def set_current(current: float, delay: int = 1, **_: Any) -> None:
            vehicle.offered = current
            vehicle.write_reports()

        async def pause_charging(**_: Any) -> None:
            vehicle.offered = 0.0
            vehicle.write_reports()

        poll = FakeStation.refresh.__get__(station)

        async def refresh(*, meter: bool | None = None) -> Any:
            vehicle.settle()
            self.report()
            return await poll(meter=meter)

        station.set_current.side_effect = set_current
        station.pause_charging.side_effect = pause_charging
        station.refresh = refresh  # type: ignore[method-assign]

    async def step(
        self, freezer: FrozenDateTimeFactory, seconds: float = 10, *, report: bool = True
    ) -> None:
        """Let ``seconds`` pass in hops no longer than a poll interval (5 s).

        The meters report at the end of each hop (unless ``report`` is False); polls and
        control decisions run when they are due, as they would in a running Home Assistant.
        """
        remaining = seconds
        while remaining > 0:
            hop = min(remaining, 5)
            remaining -= hop
            freezer.tick(timedelta(seconds=hop))
            if report:
                self.report()
            async_fire_time_changed(self.hass)
            await self.hass.async_block_till_done(wait_background_tasks=True)

    async def change(self, **values: Any) -> None:
        """Change PV, house load or the meter now; the meter reports it at once."""
        for name, value in values.items():
            setattr(self, name, value)
        self.report()
        await self.hass.async_block_till_done()


def _entry(
    options: dict[str, Any] | None = None,
    *,
    host: str = "192.0.2.10",
    serial: str = SERIAL,
    grid: bool = True,
) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Carport {serial}",
        unique_id=serial,
        data={CONF_HOST: host},
        options={**({CONF_GRID_SENSOR: GRID} if grid else {}), **(options or {})},
    )


async def _setup(hass: HomeAssistant, *entries: MockConfigEntry) -> None:
    for entry in entries:
        entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done(wait_background_tasks=True)
    for entry in entries:
        assert entry.state is ConfigEntryState.LOADED


async def _home(
    hass: HomeAssistant,
    station: FakeStation,
    options: dict[str, Any] | None = None,
    *,
    pv: float = 0.0,
    vehicle: Vehicle | None = None,
    **home: Any,
) -> tuple[Home, MockConfigEntry]:
    """One station with a grid sensor, set up; its vehicle as given (default: 16 A, 3 phases)."""
    vehicle = vehicle or Vehicle(station)
    site = Home(hass, [vehicle], pv=pv, **home)
    site.report()
    site.obey()
    entry = _entry(options)
    await _setup(hass, entry)
    return site, entry


def _entity(hass: HomeAssistant, domain: str, key: str, serial: str = SERIAL) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(domain, DOMAIN, f"{serial}_{key}")
    assert entity_id is not None, f"no {domain} entity {key}"
    return entity_id


def _state(hass: HomeAssistant, domain: str, key: str, serial: str = SERIAL) -> str:
    state = hass.states.get(_entity(hass, domain, key, serial))
    assert state is not None
    return state.state


def _solar_state(hass: HomeAssistant, serial: str = SERIAL) -> str:
    return _state(hass, SENSOR_DOMAIN, "solar_state", serial)


def _surplus(hass: HomeAssistant) -> float | None:
    """The surplus the site's sensor shows (the site of GRID, made by the upgrade)."""
    value = _state(hass, SENSOR_DOMAIN, "surplus_power", f"{SITE_UNIQUE_ID_PREFIX}{GRID}")
    return None if value == STATE_UNKNOWN else float(value)


def _target(hass: HomeAssistant, serial: str = SERIAL) -> float | None:
    value = _state(hass, SENSOR_DOMAIN, "solar_target_current", serial)
    return None if value == STATE_UNKNOWN else float(value)


async def _select_mode(hass: HomeAssistant, mode: str, serial: str = SERIAL) -> None:
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: _entity(hass, SELECT_DOMAIN, "charging_mode", serial), ATTR_OPTION: mode},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)


def _currents(station: FakeStation) -> list[float]:
    """Currents the controller sent (``currtime <mA> 1``), in order."""
    calls = station.set_current.await_args_list
    assert all(call.args[1:] in ((), (1,)) for call in calls), calls
    return [call.args[0] for call in calls]


def _assert_only_currtime(station: FakeStation) -> None:
    """The controller never writes ``curr`` and never touches ``ena`` (or cancels timers)."""
    station.set_current_permanent.assert_not_awaited()
    station.set_enabled.assert_not_awaited()
    station.cancel_current_timer.assert_not_awaited()


def _reset(station: FakeStation) -> None:
    station.set_current.reset_mock()
    station.pause_charging.reset_mock()


def _manager(hass: HomeAssistant) -> SolarManager:
    manager = hass.data[DATA_KEBA].solar
    assert manager is not None
    return manager


def _site_entry(hass: HomeAssistant) -> ConfigEntry:
    """The one charging site (made from the stations' options by the upgrade)."""
    (site,) = [e for e in hass.config_entries.async_entries(DOMAIN) if is_site_entry(e)]
    return site


def _solar(entry: MockConfigEntry) -> SolarStation:
    solar = _manager(entry.runtime_data.coordinator.hass).station(entry)
    assert solar is not None
    return solar


@pytest.fixture
def second_station(mock_station: FakeStation) -> Iterator[FakeStation]:
    """A second fake station (own serial) at SECOND_HOST; ``mock_station`` stays the first."""
    reports = default_reports()
    for report in reports.values():
        if "Serial" in report:
            report["Serial"] = SECOND_SERIAL
    other = FakeStation(MagicMock(), SECOND_HOST, reports)

    def make(endpoint: Any, host: str) -> FakeStation:
        station = other if host == SECOND_HOST else mock_station
        station.endpoint = endpoint
        return station

    with patch("custom_components.keba.KebaStation", side_effect=make):
        yield other


# --------------------------------------------------------------------------------- the modes
async def test_off_mode_leaves_the_station_alone(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """Off: the controller decides nothing and sends nothing, whatever the sun does."""
    site, entry = await _home(hass, mock_station, pv=9000)
    assert _state(hass, SELECT_DOMAIN, "charging_mode") == "off"
    for pv in (9000, 0, 12000):
        await site.change(pv=pv)
        await site.step(freezer)
    assert _solar_state(hass) == "off"
    # The site shows its surplus (the export: a vehicle not regulated is not counted).
    assert _surplus(hass) == pytest.approx(12000 - 11040)
    assert _target(hass) is None
    assert _solar(entry).decision is None
    mock_station.set_current.assert_not_awaited()
    mock_station.pause_charging.assert_not_awaited()
    _assert_only_currtime(mock_station)


async def test_solar_mode_waits_for_the_start_delay_then_follows_the_surplus(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """Solar: pause at once, start after the start delay, follow the surplus in whole amperes."""
    vehicle = Vehicle(mock_station, offered=0)  # plugged, nothing offered
    site, _ = await _home(hass, mock_station, QUICK_3P, pv=6000, vehicle=vehicle)

    await _select_mode(hass, "solar")
    # Nothing may flow until the surplus has lasted the start delay: `currtime 0 1` first.
    mock_station.pause_charging.assert_awaited_once()
    assert _solar_state(hass) == "starting"
    assert _surplus(hass) == 6000

    await site.step(freezer)
    await site.step(freezer)
    assert _solar_state(hass) == "starting"
    mock_station.set_current.assert_not_awaited()
    await site.step(freezer)
    # 30 s of 6000 W: 6000 W / (3 × 230 V) = 8.7 A, rounded down.
    assert _currents(mock_station) == [8.0]
    assert _solar_state(hass) == "charging_from_surplus"
    assert _target(hass) == 8.0

    # The vehicle's own draw counts as surplus: nothing changes while the sun does not.
    await site.step(freezer)
    assert vehicle.current == 8.0
    await site.step(freezer)
    assert _currents(mock_station) == [8.0]
    assert _surplus(hass) == pytest.approx(6000)

    # More sun: raised by whole amperes.
    await site.change(pv=7600)
    await site.step(freezer)
    assert _currents(mock_station) == [8.0, 11.0]
    # Less sun: lowered at once.
    await site.change(pv=5000)
    await site.step(freezer)
    assert _currents(mock_station) == [8.0, 11.0, 7.0]
    mock_station.pause_charging.assert_awaited_once()
    _assert_only_currtime(mock_station)


async def test_a_passing_cloud_is_held_a_long_dip_pauses(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """A short dip holds the minimum current; a long one pauses, by the stop delay at the latest."""
    site, _ = await _home(hass, mock_station, QUICK, pv=6000)
    await _select_mode(hass, "solar")
    # A vehicle that charges already is taken over, not restarted.
    assert _currents(mock_station) == [8.0]
    mock_station.pause_charging.assert_not_awaited()

    await site.change(pv=3500)  # below 6 A on three phases (4140 W)
    await site.step(freezer)
    assert _solar_state(hass) == "holding_through_dip"
    assert _currents(mock_station) == [8.0, 6.0]
    await site.step(freezer)
    await site.change(pv=6000)  # the cloud has passed
    await site.step(freezer)
    assert _solar_state(hass) == "charging_from_surplus"
    assert _currents(mock_station) == [8.0, 6.0, 8.0]
    mock_station.pause_charging.assert_not_awaited()

    # Night falls: held at first, paused within the stop delay (sooner, as it costs).
    await site.change(pv=0)
    await site.step(freezer)
    assert _solar_state(hass) == "holding_through_dip"
    mock_station.pause_charging.assert_not_awaited()
    for _ in range(6):
        await site.step(freezer)
        if mock_station.pause_charging.await_count:
            break
    mock_station.pause_charging.assert_awaited_once()
    assert _solar_state(hass) == "paused"
    assert _target(hass) == 0
    # Paused, the station is left alone until the surplus returns for the start delay.
    await site.step(freezer)
    assert site.vehicles[0].current == 0
    assert _solar_state(hass) == "waiting_for_surplus"
    await site.step(freezer)
    mock_station.pause_charging.assert_awaited_once()
    assert _currents(mock_station) == [8.0, 6.0, 8.0, 6.0]
    _assert_only_currtime(mock_station)


async def test_min_solar_keeps_the_minimum_and_adds_the_surplus(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """Min + solar: the minimum at once and without sun; the surplus on top."""
    vehicle = Vehicle(mock_station, offered=0)
    site, _ = await _home(hass, mock_station, QUICK, pv=1000, vehicle=vehicle)

    await _select_mode(hass, "min_solar")
    assert _currents(mock_station) == [6.0]
    assert _solar_state(hass) == "charging_at_minimum"

    await site.change(pv=9000)
    await site.step(freezer)
    # 9000 W / 690 W per ampere = 13 A (the minimum is part of it, not on top).
    assert _currents(mock_station) == [6.0, 13.0]
    assert _solar_state(hass) == "charging_from_surplus"

    await site.change(pv=0)
    for _ in range(10):
        await site.step(freezer)
    assert _currents(mock_station) == [6.0, 13.0, 6.0]
    assert _solar_state(hass) == "charging_at_minimum"
    mock_station.pause_charging.assert_not_awaited()
    _assert_only_currtime(mock_station)


async def test_fast_mode_offers_the_maximum(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """Fast: the configured maximum capped by the station's hardware limit, once per plug-in."""
    mock_station.set_report(2, **{"Curr HW": 20000})
    site, _ = await _home(hass, mock_station, {CONF_SOLAR_MAX_CURRENT: 32})

    await _select_mode(hass, "fast")
    assert _currents(mock_station) == [20.0]
    assert _solar_state(hass) == "fast"
    for _ in range(6):
        await site.step(freezer)
    assert _currents(mock_station) == [20.0]

    site.vehicles[0].plugged = False
    await site.step(freezer)
    await site.step(freezer)
    assert _solar_state(hass) == "no_vehicle"
    # Unplugging resets `currtime` in the station: the next vehicle is offered the maximum again.
    site.vehicles[0].plugged = True
    site.vehicles[0].offered = 16
    await site.step(freezer)
    await site.step(freezer)
    assert _currents(mock_station) == [20.0, 20.0]
    assert _solar_state(hass) == "fast"
    mock_station.pause_charging.assert_not_awaited()
    _assert_only_currtime(mock_station)


@pytest.mark.parametrize("grid", [True, False], ids=["site", "no-grid-sensor"])
@pytest.mark.parametrize(
    ("options", "expected"),
    [({}, 32.0), ({CONF_SOLAR_MAX_CURRENT: 25}, 25.0)],
    ids=["no-maximum", "lower-maximum"],
)
async def test_fast_charges_at_the_hardware_limit(
    hass: HomeAssistant,
    mock_station: FakeStation,
    grid: bool,
    options: dict[str, Any],
    expected: float,
) -> None:
    """Fast offers what the station allows (Curr HW 32 A), unless the owner set less."""
    mock_station.set_report(2, **{"Curr HW": 32000})
    if grid:
        await _home(hass, mock_station, {**QUICK, **options})
    else:
        await _setup(hass, _entry({**QUICK, **options}, grid=False))
    await _select_mode(hass, "fast")
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _currents(mock_station) == [expected]


async def test_fast_mode_without_grid_sensor_offers_the_maximum_once(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """Without a charging site there is no controller: fast sends the maximum once."""
    mock_station.set_report(2, **{"Curr HW": 20000})
    entry = _entry({CONF_SOLAR_MAX_CURRENT: 25}, grid=False)
    await _setup(hass, entry)
    registry = er.async_get(hass)
    # No solar sensors until a charging site takes the station in.
    for key in ("surplus_power", "solar_target_current", "solar_state"):
        assert registry.async_get_entity_id(SENSOR_DOMAIN, DOMAIN, f"{SERIAL}_{key}") is None
    assert not [e for e in hass.config_entries.async_entries(DOMAIN) if e is not entry]
    assert not _solar(entry).can_regulate

    await _select_mode(hass, "fast")
    assert _currents(mock_station) == [20.0]
    for _ in range(3):
        freezer.tick(timedelta(seconds=10))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert _currents(mock_station) == [20.0]

    # The solar modes need a charging site.
    with pytest.raises(ServiceValidationError) as caught:
        await _select_mode(hass, "solar")
    assert caught.value.translation_key == "solar_needs_site"
    assert _state(hass, SELECT_DOMAIN, "charging_mode") == "fast"

    # Off sends nothing; fast again offers the maximum again.
    await _select_mode(hass, "off")
    assert _currents(mock_station) == [20.0]
    mock_station.set_report(2, **{"Curr HW": 0})  # the station does not tell its limit
    await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await _select_mode(hass, "fast")
    assert _currents(mock_station) == [20.0, 25.0]
    _assert_only_currtime(mock_station)


# ---------------------------------------------------------------------------- the grid meter
async def test_a_short_spike_does_not_decide(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """The control interval's time-weighted average decides, not the value at its end."""
    site, _ = await _home(hass, mock_station, QUICK_3P, pv=6000)
    await _select_mode(hass, "solar")
    assert _currents(mock_station) == [8.0]
    await site.step(freezer)

    # Sunlight off a cloud's edge (+1 kW) for the last second of the interval.
    freezer.tick(timedelta(seconds=9))
    await site.change(pv=7000)
    await site.step(freezer, 1)
    # (-480 W × 9 s − 1480 W × 1 s) / 10 s = −580 W: 6100 W of surplus, still 8 A (8.8);
    # the last reading alone (7000 W) would have raised to 10 A.
    assert _surplus(hass) == pytest.approx(6100)
    assert _solar_state(hass) == "charging_from_surplus"
    assert _currents(mock_station) == [8.0]
    mock_station.pause_charging.assert_not_awaited()


async def test_import_lowers_the_current_at_once(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """A grid reading with import lowers the current before the interval ends; only lowers."""
    site, _ = await _home(hass, mock_station, QUICK_3P, pv=9000)
    await _select_mode(hass, "solar")
    assert _currents(mock_station) == [13.0]  # 9000 W / 690 W per ampere
    for _ in range(3):  # the change took effect and was measured
        await site.step(freezer)

    # A kettle (2 kW) switches on: the next reading shows import, the current drops at once.
    freezer.tick(timedelta(seconds=1))
    await site.change(house=2000)
    assert site.grid > 0
    # 9000 − 2000 = 7000 W: 10 A.
    assert _currents(mock_station) == [13.0, 10.0]
    assert _target(hass) == 10.0

    # It switches off again: a reading with export raises nothing before the interval.
    await site.change(house=0)
    assert _currents(mock_station) == [13.0, 10.0]
    # The interval decides the raise, once the lowered current took effect.
    for _ in range(3):
        await site.step(freezer)
    assert _currents(mock_station)[-1] == 13.0
    mock_station.pause_charging.assert_not_awaited()


async def test_import_right_after_a_change_waits_for_the_interval(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """Just after a change the vehicle's measured power may be older than the grid reading."""
    site, _ = await _home(hass, mock_station, QUICK_3P, pv=9000)
    await _select_mode(hass, "solar")
    assert _currents(mock_station) == [13.0]
    await site.change(house=2000)
    assert _currents(mock_station) == [13.0]
    await site.step(freezer)
    assert _currents(mock_station) == [13.0, 10.0]


async def test_steady_sun_gives_a_steady_current(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """The vehicle's power is averaged like the grid meter's: no swinging after a change.

    After a start the meter shows the vehicle for only part of the interval; a point sample
    of the station's meter against the grid's average would see surplus that is not there.
    """
    vehicle = Vehicle(mock_station, offered=0)
    site, _ = await _home(
        hass, mock_station, {**QUICK_3P, CONF_START_DELAY: 0}, pv=6000, vehicle=vehicle
    )
    await _select_mode(hass, "solar")
    assert _currents(mock_station) == [8.0]
    for _ in range(18):  # three minutes
        await site.step(freezer)
        assert _surplus(hass) == pytest.approx(6000)
    assert _currents(mock_station) == [8.0]
    assert vehicle.current == 8.0


async def test_a_gap_in_the_grid_sensor_does_not_dilute_the_average(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """Seconds without a value are left out of the average, not counted as zero."""
    site, _ = await _home(
        hass, mock_station, QUICK, pv=6000, vehicle=Vehicle(mock_station, offered=0)
    )
    await _select_mode(hass, "solar")
    assert _surplus(hass) == 6000

    freezer.tick(timedelta(seconds=1))
    hass.states.async_set(GRID, STATE_UNAVAILABLE)
    freezer.tick(timedelta(seconds=8))
    site.report()
    await site.step(freezer, 1)
    assert _surplus(hass) == pytest.approx(6000)
    assert _solar_state(hass) == "starting"


async def test_grid_sensor_unavailable_falls_back_safely(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """Without a grid value: the state says so, solar holds the minimum, then pauses."""
    site, _ = await _home(hass, mock_station, QUICK, pv=6000)
    await _select_mode(hass, "solar")
    assert _currents(mock_station) == [8.0]

    await site.change(meter_fault=STATE_UNAVAILABLE)
    await site.step(freezer)
    assert _solar_state(hass) == "grid_sensor_unavailable"
    assert _surplus(hass) is None
    assert _currents(mock_station) == [8.0, 6.0]
    for _ in range(5):
        await site.step(freezer)
    mock_station.pause_charging.assert_not_awaited()
    await site.step(freezer)  # the stop delay after the first decision without a value
    mock_station.pause_charging.assert_awaited_once()
    assert _solar_state(hass) == "grid_sensor_unavailable"

    # Back: the surplus has to last the start delay again.
    await site.change(meter_fault=STATE_UNKNOWN)
    await site.step(freezer)
    assert _solar_state(hass) == "grid_sensor_unavailable"
    await site.change(meter_fault=None)
    await site.step(freezer)
    assert _solar_state(hass) == "starting"
    for _ in range(3):
        await site.step(freezer)
    assert _currents(mock_station) == [8.0, 6.0, 8.0]
    _assert_only_currtime(mock_station)


async def test_min_solar_keeps_the_minimum_without_grid_sensor(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """Min + solar without a grid value: the minimum, never a pause."""
    site, _ = await _home(hass, mock_station, QUICK, pv=9000)
    await _select_mode(hass, "min_solar")
    assert _currents(mock_station) == [13.0]

    await site.change(meter_fault="not a number")
    for _ in range(10):
        await site.step(freezer)
    assert _solar_state(hass) == "grid_sensor_unavailable"
    assert _currents(mock_station) == [13.0, 6.0]
    mock_station.pause_charging.assert_not_awaited()


async def test_a_silent_grid_sensor_goes_stale(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """A meter that stops reporting counts as unavailable after a minute."""
    site, _ = await _home(hass, mock_station, QUICK, pv=6000)
    await _select_mode(hass, "solar")
    await site.step(freezer)
    site.meter_silent = True
    for _ in range(6):  # 60 s
        await site.step(freezer)
        assert _solar_state(hass) == "charging_from_surplus"
    await site.step(freezer)
    assert _solar_state(hass) == "grid_sensor_unavailable"
    assert _currents(mock_station) == [8.0, 6.0]

    # Reporting again (even the same value) makes it fresh.
    site.meter_silent = False
    await site.step(freezer)
    assert _solar_state(hass) == "charging_from_surplus"


async def test_a_steady_grid_sensor_stays_fresh(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """A meter that keeps reporting the same value is not stale (Home Assistant's reports)."""
    site, _ = await _home(hass, mock_station, QUICK, pv=6000)
    await _select_mode(hass, "solar")
    for _ in range(30):  # five minutes of the same value
        await site.step(freezer)
        assert _solar_state(hass) == "charging_from_surplus"
    assert _currents(mock_station) == [8.0]


@pytest.mark.parametrize(
    ("unit", "import_positive"),
    [("W", True), ("kW", True), ("W", False), ("kW", False)],
)
async def test_grid_sensor_units_and_sign(
    hass: HomeAssistant, mock_station: FakeStation, unit: str, import_positive: bool
) -> None:
    """W or kW, import positive or export positive: the same surplus."""
    vehicle = Vehicle(mock_station, offered=0)
    await _home(
        hass,
        mock_station,
        {**QUICK, CONF_GRID_IMPORT_POSITIVE: import_positive},
        pv=6500,
        vehicle=vehicle,
        unit=unit,
        import_positive=import_positive,
    )
    await _select_mode(hass, "solar")
    assert _surplus(hass) == pytest.approx(6500)
    assert _solar_state(hass) == "starting"


@pytest.mark.parametrize(
    ("battery", "soc", "options", "surplus"),
    [
        # Charging battery above its minimum: its charging power goes to the vehicle.
        (("3000", "W"), "90", {}, 4000),
        (("3", "kW"), "80", {}, 4000),
        (("-3000", "W"), "90", {CONF_BATTERY_CHARGE_POSITIVE: False}, 4000),
        # Below the minimum the battery comes first.
        (("3000", "W"), "50", {}, 1000),
        (("3000", "W"), "50", {CONF_BATTERY_MIN_SOC: 40}, 4000),
        # Unknown state of charge: the battery keeps its power.
        (("3000", "W"), "unavailable", {}, 1000),
        # A discharging battery never feeds the vehicle.
        (("-2000", "W"), "90", {}, -1000),
        (("2000", "W"), "90", {CONF_BATTERY_CHARGE_POSITIVE: False}, -1000),
        # No battery value: only the grid counts.
        (("unavailable", "W"), "90", {}, 1000),
    ],
)
async def test_home_battery(
    hass: HomeAssistant,
    mock_station: FakeStation,
    battery: tuple[str, str],
    soc: str,
    options: dict[str, Any],
    surplus: float,
) -> None:
    """The battery's power and state of charge decide whether it yields to the vehicle."""
    vehicle = Vehicle(mock_station, offered=0)
    extra = {
        BATTERY: (battery[0], {"unit_of_measurement": battery[1], "device_class": "power"}),
        SOC: (soc, {"unit_of_measurement": "%", "device_class": "battery"}),
    }
    await _home(
        hass,
        mock_station,
        {
            **QUICK,
            CONF_BATTERY_POWER_SENSOR: BATTERY,
            CONF_BATTERY_SOC_SENSOR: SOC,
            CONF_BATTERY_MIN_SOC: 80,
            **options,
        },
        pv=1000,
        vehicle=vehicle,
        extra=extra,
    )
    await _select_mode(hass, "solar")
    assert _surplus(hass) == pytest.approx(surplus)


async def test_battery_without_state_of_charge_keeps_its_power(
    hass: HomeAssistant, mock_station: FakeStation
) -> None:
    """Without a state of charge sensor a charging battery is not taken from."""
    extra = {BATTERY: ("3000", {"unit_of_measurement": "W", "device_class": "power"})}
    await _home(
        hass,
        mock_station,
        {**QUICK, CONF_BATTERY_POWER_SENSOR: BATTERY},
        pv=1000,
        vehicle=Vehicle(mock_station, offered=0),
        extra=extra,
    )
    await _select_mode(hass, "solar")
    assert _surplus(hass) == pytest.approx(1000)


# ------------------------------------------------------------------------------- the vehicle
async def test_the_measured_current_counts_not_the_offered_one(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """A vehicle that draws less than offered frees only what it really draws."""
    vehicle = Vehicle(mock_station, takes=10)  # offered 16 A, draws 10 A
    site, _ = await _home(hass, mock_station, QUICK, pv=9000, vehicle=vehicle)
    await _select_mode(hass, "solar")
    # 9000 W of PV: 10 A × 690 W drawn plus 2100 W exported. Offered 16 A would mean 13140 W.
    assert _surplus(hass) == pytest.approx(9000)
    assert _currents(mock_station) == [13.0]
    await site.step(freezer)
    assert _surplus(hass) == pytest.approx(9000)
    assert _currents(mock_station) == [13.0]


async def test_a_one_phase_vehicle_gets_three_times_the_current(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """Phases are learned from the measured currents: 230 W per ampere on one phase."""
    vehicle = Vehicle(mock_station, phases=1, offered=16)
    site, entry = await _home(hass, mock_station, QUICK, pv=5000, vehicle=vehicle)
    await _select_mode(hass, "solar")
    assert _currents(mock_station) == [16.0]
    await site.change(pv=3000)
    await site.step(freezer)
    # 3000 W / 230 V = 13 A; on three phases 3000 W would be below the minimum.
    assert _currents(mock_station) == [16.0, 13.0]
    assert _solar_state(hass) == "charging_from_surplus"
    assert _solar(entry).detected_phases == 1


@pytest.mark.parametrize(("phases", "expected"), [("1", [13.0]), ("3", []), ("auto", [6.0, 13.0])])
async def test_configured_phases(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_station: FakeStation,
    phases: str,
    expected: list[float],
) -> None:
    """Before the vehicle drew anything, the configured phases decide.

    Auto: the one-phase minimum starts the vehicle at the minimum current, then the measured
    phase currents decide.
    """
    vehicle = Vehicle(mock_station, phases=1, offered=0)
    site, _ = await _home(
        hass, mock_station, {**QUICK, CONF_SOLAR_PHASES: phases}, pv=3000, vehicle=vehicle
    )
    await _select_mode(hass, "solar")
    for _ in range(5):
        await site.step(freezer)
    assert _currents(mock_station) == expected


@pytest.mark.parametrize("station_reports", [variant_reports(P30_DE_PRODUCT)])
@pytest.mark.parametrize(
    ("phases", "vehicle_phases", "pv", "current"), [("auto", 3, 6000, 8.0), ("1", 1, 3000, 13.0)]
)
async def test_a_station_without_meter_counts_what_it_offers(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_station: FakeStation,
    phases: str,
    vehicle_phases: int,
    pv: float,
    current: float,
) -> None:
    """Without a meter the vehicle's power is taken as the offered current while it charges.

    Counting it as zero would see the surplus vanish as soon as the vehicle starts, and
    start and stop it over and over. The phases are the configured ones (auto: three).
    """
    vehicle = Vehicle(mock_station, phases=vehicle_phases, offered=0)
    options = {**QUICK, CONF_START_DELAY: 0, CONF_SOLAR_PHASES: phases}
    site, _ = await _home(hass, mock_station, options, pv=pv, vehicle=vehicle)
    await _select_mode(hass, "solar")
    for _ in range(30):  # five minutes
        await site.step(freezer)
    assert _currents(mock_station) == [current]
    mock_station.pause_charging.assert_not_awaited()
    assert _solar_state(hass) == "charging_from_surplus"
    assert vehicle.current == current


async def test_failed_command_is_logged_and_sent_again(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_station: FakeStation,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A command the station does not answer is logged; the controller tells it again later."""
    site, _ = await _home(hass, mock_station, QUICK, pv=6000)
    mock_station.set_current.side_effect = KebaTimeoutError("no answer")
    with caplog.at_level(logging.WARNING):
        await _select_mode(hass, "solar")
    assert "Solar charging could not reach 192.0.2.10: no answer" in caplog.text
    assert _currents(mock_station) == [8.0]

    site.obey()
    for _ in range(4):
        await site.step(freezer)
    # Report 2 still shows 16 A: after 30 s the station is told again.
    assert _currents(mock_station) == [8.0, 8.0]


async def test_an_unreachable_station_is_not_regulated(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """Once the station counts as unreachable the controller decides nothing for it."""
    site, _ = await _home(hass, mock_station, QUICK, pv=6000)
    await _select_mode(hass, "solar")
    assert _currents(mock_station) == [8.0]
    mock_station.fail_polls = True
    await site.step(freezer, 15)  # three failed polls
    assert _solar_state(hass) == STATE_UNAVAILABLE
    _reset(mock_station)
    await site.change(pv=0)
    for _ in range(12):
        await site.step(freezer)
    mock_station.set_current.assert_not_awaited()
    mock_station.pause_charging.assert_not_awaited()


async def test_a_running_currtime_timer_is_what_the_station_was_told(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """Report 2 shows a command still in its delay (``Curr timer``): it is not sent again."""
    site, _ = await _home(hass, mock_station, QUICK, pv=6000)
    vehicle = site.vehicles[0]
    write_reports = vehicle.write_reports

    def with_running_timer() -> None:
        # `currtime` with a long delay: ``Curr user`` still shows the old current.
        write_reports()
        mock_station.set_report(
            2, **{"Curr user": 16000, "Curr timer": round(vehicle.offered * 1000), "Tmo CT": 100}
        )

    vehicle.write_reports = with_running_timer  # type: ignore[method-assign]
    await _select_mode(hass, "solar")
    for _ in range(6):
        await site.step(freezer)
    assert _currents(mock_station) == [8.0]


# ----------------------------------------------------------------------------- several sites
async def test_two_stations_share_the_surplus_equally(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_station: FakeStation,
    second_station: FakeStation,
) -> None:
    """Stations naming the same grid sensor form one site; equal priority, equal shares."""
    first, second = Vehicle(mock_station, offered=0), Vehicle(second_station, offered=0)
    site = Home(hass, [first, second], pv=12000)
    site.report()
    site.obey()
    options = {**QUICK_3P, CONF_START_DELAY: 0}
    await _setup(hass, _entry(options), _entry(options, host=SECOND_HOST, serial=SECOND_SERIAL))
    assert len(_manager(hass)._sites) == 1

    await _select_mode(hass, "solar")
    await _select_mode(hass, "solar", SECOND_SERIAL)
    # 12000 W for two: 6000 W each, 8 A.
    assert _currents(mock_station)[-1] == 8.0
    assert _currents(second_station) == [8.0]
    await site.step(freezer)
    assert _surplus(hass) == pytest.approx(12000)
    assert (first.current, second.current) == (8.0, 8.0)


async def test_priority_serves_the_first_station_first(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_station: FakeStation,
    second_station: FakeStation,
) -> None:
    """Enough for one: the lower priority number charges, the other waits."""
    first, second = Vehicle(mock_station, offered=0), Vehicle(second_station, offered=0)
    site = Home(hass, [first, second], pv=6000)
    site.report()
    site.obey()
    options = {**QUICK, CONF_START_DELAY: 0}
    await _setup(
        hass,
        _entry({**options, CONF_PRIORITY: 2}),
        _entry({**options, CONF_PRIORITY: 1}, host=SECOND_HOST, serial=SECOND_SERIAL),
    )
    await _select_mode(hass, "solar", SECOND_SERIAL)
    await _select_mode(hass, "solar")
    await site.step(freezer)
    await site.step(freezer)
    assert (first.current, second.current) == (0.0, 8.0)
    assert _solar_state(hass) == "waiting_for_surplus"
    assert _solar_state(hass, SECOND_SERIAL) == "charging_from_surplus"

    # Sun for the first one's maximum and the second's minimum: both charge.
    await site.change(pv=16000)
    for _ in range(3):
        await site.step(freezer)
    assert (first.current, second.current) == (7.0, 16.0)


async def test_unloading_one_station_keeps_the_site(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_station: FakeStation,
    second_station: FakeStation,
) -> None:
    """A station unloading leaves the site running; a site unloading stops regulating.

    Its stations rejoin it in their modes when it is back.
    """
    first, second = Vehicle(mock_station, offered=0), Vehicle(second_station, offered=0)
    site = Home(hass, [first, second], pv=6000)
    site.report()
    site.obey()
    options = {**QUICK_3P, CONF_START_DELAY: 0}
    entry = _entry(options)
    other = _entry(options, host=SECOND_HOST, serial=SECOND_SERIAL)
    await _setup(hass, entry, other)
    manager = _manager(hass)
    site_entry = _site_entry(hass)

    await _select_mode(hass, "solar", SECOND_SERIAL)
    assert await hass.config_entries.async_unload(entry.entry_id)
    await site.step(freezer)
    assert _currents(second_station) == [8.0]
    assert list(manager._sites) == [site_entry.entry_id]

    assert await hass.config_entries.async_unload(site_entry.entry_id)
    assert manager._sites == {}
    await site.change(pv=12000)
    await site.step(freezer)
    assert _currents(second_station) == [8.0]
    assert _solar_state(hass, SECOND_SERIAL) == "off"

    assert await hass.config_entries.async_setup(site_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    # Adopted at the 8 A it was told, raised to its maximum at once (12 kW of surplus).
    assert _currents(second_station) == [8.0, 16.0]
    assert _solar_state(hass, SECOND_SERIAL) == "charging_from_surplus"
    assert _state(hass, SELECT_DOMAIN, "charging_mode", SECOND_SERIAL) == "solar"


# ---------------------------------------------------------------- the user and the controller
async def _set_number(hass: HomeAssistant, value: float) -> None:
    await hass.services.async_call(
        NUMBER_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: _entity(hass, NUMBER_DOMAIN, "charging_current"), ATTR_VALUE: value},
        blocking=True,
    )


async def _set_current_action(hass: HomeAssistant, entry: MockConfigEntry, value: float) -> None:
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, SERIAL), entry.entry_id)
    assert device is not None
    await hass.services.async_call(
        DOMAIN,
        "set_current",
        {"current": value},
        target={"device_id": device.id},
        blocking=True,
    )


@pytest.mark.parametrize("mode", ["solar", "min_solar", "fast"])
async def test_manual_current_is_refused_while_a_mode_rules(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation, mode: str
) -> None:
    """Off: the number and the action set the current. Any other mode: both are refused."""
    site, entry = await _home(hass, mock_station, QUICK, pv=6000)
    await _set_number(hass, 10)
    await _set_current_action(hass, entry, 11)
    assert _currents(mock_station) == [10.0, 11.0]

    await _select_mode(hass, mode)
    sent = _currents(mock_station)
    for attempt in (_set_number(hass, 12), _set_current_action(hass, entry, 12)):
        with pytest.raises(ServiceValidationError) as caught:
            await attempt
        assert caught.value.translation_domain == DOMAIN
        assert caught.value.translation_key == "current_set_by_mode"
        assert caught.value.translation_placeholders == {"station": entry.title}
        assert entry.title in str(caught.value)
    assert _currents(mock_station) == sent

    # Off hands the current back: the controller stops, the user's value is sent.
    await _select_mode(hass, "off")
    assert _solar_state(hass) == "off"
    await _set_number(hass, 12)
    assert _currents(mock_station) == [*sent, 12.0]
    await site.change(pv=0)
    for _ in range(6):
        await site.step(freezer)
    assert _currents(mock_station) == [*sent, 12.0]
    mock_station.pause_charging.assert_not_awaited()


async def test_refused_current_writes_the_real_value_back(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """A slider dragged while a mode rules gets the real value at once, not after a poll.

    The frontend keeps the dragged value until a ``state_changed`` event arrives, so the
    refusal must write one, with the value report 2 shows.
    """
    await _home(hass, mock_station, QUICK, pv=6000)
    await _select_mode(hass, "fast")
    entity = _entity(hass, NUMBER_DOMAIN, "charging_current")
    await hass.async_block_till_done(wait_background_tasks=True)
    events = async_capture_events(hass, EVENT_STATE_CHANGED)
    with pytest.raises(ServiceValidationError):
        await _set_number(hass, 7)
    written = [e.data["new_state"] for e in events if e.data["entity_id"] == entity]
    assert len(written) == 1
    status = mock_station.snapshot.status
    assert status is not None
    # Fast mode's currtime is running: its target is what the station will offer.
    real = status.timer_current if status.timer_timeout_s else status.user_current_limit
    assert real not in (None, 7)
    assert float(written[0].state) == real
    state = hass.states.get(entity)
    assert state is not None
    assert float(state.state) == real


@pytest.mark.parametrize("plugged", [True, False])
async def test_off_after_a_pause_lets_the_station_charge_again(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation, plugged: bool
) -> None:
    """Off after the controller paused the station: it may charge again, at its maximum."""
    mock_station.set_report(2, **{"Curr HW": 20000})
    vehicle = Vehicle(mock_station, offered=0, plugged=plugged)
    site, _ = await _home(hass, mock_station, QUICK, pv=0, vehicle=vehicle)
    await _select_mode(hass, "solar")
    await site.step(freezer)
    assert _target(hass) == 0
    mock_station.set_current.assert_not_awaited()

    await _select_mode(hass, "off")
    assert _currents(mock_station) == [20.0]
    assert _solar_state(hass) == "off"
    await site.step(freezer)
    await site.step(freezer)
    assert _currents(mock_station) == [20.0]
    _assert_only_currtime(mock_station)


# ----------------------------------------------------------------------------- options flow
@pytest.fixture
def no_setup(mock_station: FakeStation) -> Iterator[None]:
    """Entries are not set up by the options flow's reload (and nothing reaches the network)."""
    with patch("custom_components.keba.async_setup_entry", return_value=True):
        yield


async def _open_solar_options(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["station", "solar", "sessions"]
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "solar"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "solar"
    return result


STATION_OPTIONS = {
    CONF_CHARGING_INTERVAL: 10,
    CONF_IDLE_INTERVAL: 60,
    CONF_RFID_TAG: "04a2b3c4",
    CONF_FAILSAFE_TIMEOUT: 0,
    CONF_FAILSAFE_CURRENT: 0,
    CONF_FAILSAFE_PERSIST: False,
}

SOLAR_FORM = {CONF_SOLAR_MIN_CURRENT: 7, CONF_SOLAR_MAX_CURRENT: 20, CONF_SOLAR_PHASES: "1"}
SOLAR_OPTIONS = {CONF_SOLAR_MIN_CURRENT: 7.0, CONF_SOLAR_MAX_CURRENT: 20.0, CONF_SOLAR_PHASES: "1"}


def _station_entry(options: dict[str, Any]) -> MockConfigEntry:
    """A station's entry as this version stores it (no site settings of its own)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Carport {SERIAL}",
        unique_id=SERIAL,
        data={CONF_HOST: "192.0.2.10"},
        options=options,
        version=1,
        minor_version=2,
    )


@pytest.mark.usefixtures("no_setup")
async def test_solar_maximum_current_can_be_cleared(hass: HomeAssistant) -> None:
    """An emptied maximum current is removed: Fast then uses the hardware limit again."""
    entry = _station_entry({**STATION_OPTIONS, CONF_SOLAR_MAX_CURRENT: 20.0})
    entry.add_to_hass(hass)
    result = await _open_solar_options(hass, entry)
    form = {k: v for k, v in SOLAR_FORM.items() if k != CONF_SOLAR_MAX_CURRENT}
    result = await hass.config_entries.options.async_configure(result["flow_id"], form)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert CONF_SOLAR_MAX_CURRENT not in entry.options
    assert entry.options[CONF_SOLAR_MIN_CURRENT] == 7.0


@pytest.mark.usefixtures("no_setup")
async def test_solar_options_are_the_vehicle_s_only(hass: HomeAssistant) -> None:
    """The station's solar step has its vehicle's currents and phases; nothing of the site."""
    entry = _station_entry(STATION_OPTIONS)
    entry.add_to_hass(hass)
    result = await _open_solar_options(hass, entry)
    assert result["data_schema"]({}) == {
        CONF_SOLAR_MIN_CURRENT: 6,
        CONF_SOLAR_PHASES: "auto",
    }
    with pytest.raises(InvalidData):
        await hass.config_entries.options.async_configure(
            result["flow_id"], {**SOLAR_FORM, CONF_GRID_SENSOR: GRID}
        )

    result = await hass.config_entries.options.async_configure(result["flow_id"], SOLAR_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {**STATION_OPTIONS, **SOLAR_OPTIONS}

    result = await _open_solar_options(hass, entry)
    suggested = {
        key.schema: key.description["suggested_value"]
        for key in result["data_schema"].schema
        if key.description and "suggested_value" in key.description
    }
    assert suggested == SOLAR_OPTIONS


@pytest.mark.usefixtures("no_setup")
async def test_station_options_keep_the_solar_options(hass: HomeAssistant) -> None:
    """Saving the station step leaves the vehicle's solar options as they are."""
    entry = _station_entry({**STATION_OPTIONS, **SOLAR_OPTIONS})
    entry.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "station"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "polling": {CONF_CHARGING_INTERVAL: 20, CONF_IDLE_INTERVAL: 120},
            "rfid": {},
            "failsafe": {
                CONF_FAILSAFE_TIMEOUT: 0,
                CONF_FAILSAFE_CURRENT: 0,
                CONF_FAILSAFE_PERSIST: False,
            },
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        **SOLAR_OPTIONS,
        CONF_CHARGING_INTERVAL: 20,
        CONF_IDLE_INTERVAL: 120,
        CONF_FAILSAFE_TIMEOUT: 0,
        CONF_FAILSAFE_CURRENT: 0,
        CONF_FAILSAFE_PERSIST: False,
    }


@pytest.mark.usefixtures("no_setup")
async def test_solar_options_error_recovers(hass: HomeAssistant) -> None:
    """A maximum below the minimum is shown on its field; corrected, the options save."""
    entry = _station_entry(STATION_OPTIONS)
    entry.add_to_hass(hass)
    result = await _open_solar_options(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**SOLAR_FORM, CONF_SOLAR_MIN_CURRENT: 10, CONF_SOLAR_MAX_CURRENT: 8}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SOLAR_MAX_CURRENT: "max_below_min_current"}
    assert entry.options == STATION_OPTIONS
    _, errors = validate_solar_options({CONF_SOLAR_MIN_CURRENT: 10, CONF_SOLAR_MAX_CURRENT: 8})
    assert errors == {CONF_SOLAR_MAX_CURRENT: "max_below_min_current"}

    result = await hass.config_entries.options.async_configure(result["flow_id"], SOLAR_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {**STATION_OPTIONS, **SOLAR_OPTIONS}


async def test_saving_solar_options_keeps_the_site_and_the_mode(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """The station reloads with its new maximum, back in its site and its mode."""
    mock_station.set_report(2, **{"Curr HW": 32000})
    site, entry = await _home(hass, mock_station, QUICK, pv=9000)
    await _select_mode(hass, "solar")
    assert _currents(mock_station) == [13.0]

    result = await _open_solar_options(hass, entry)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**SOLAR_FORM, CONF_SOLAR_MIN_CURRENT: 6, CONF_SOLAR_PHASES: "3"}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.LOADED
    assert _solar(entry).site is not None
    assert _state(hass, SELECT_DOMAIN, "charging_mode") == "solar"
    await site.step(freezer)
    await site.step(freezer)
    assert _currents(mock_station)[-1] == 13.0
    await site.change(pv=30000)
    await site.step(freezer)
    await site.step(freezer)
    assert _currents(mock_station)[-1] == 20.0  # the new maximum (the station allows 32 A)
    assert site.vehicles[0].current == 20.0


# ------------------------------------------------------------------------ real UDP, simulator
async def test_solar_charging_over_udp(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """A simulated P30 x-series is regulated with `currtime`, within KEBA's timing rules."""
    sim = await start_simulator(
        count=1, variant="p30-x", scenario="charging", current_change_delay=0.5
    )
    no_timing_violations.append(sim)
    station = sim.stations[0]
    hass.states.async_set(GRID, "-5000", {"unit_of_measurement": "W", "device_class": "power"})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Carport",
        unique_id=station.serial,
        data={CONF_HOST: station.ip},
        options={
            CONF_GRID_SENSOR: GRID,
            CONF_SOLAR_MAX_CURRENT: 10,
            CONF_START_DELAY: 0,
            CONF_STOP_DELAY: 0,
        },
    )
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, keba_yaml)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED

    def texts() -> list[str]:
        return [text for _, _, text in station.received]

    # Choosing the mode decides at once; the command has been sent when the task is done.
    await _select_mode(hass, "solar", station.serial)
    assert "currtime 10000 1" in texts()
    assert _solar_state(hass, station.serial) == "charging_from_surplus"

    # The meter fails: with no stop delay the controller pauses at its next decision.
    hass.states.async_set(GRID, STATE_UNAVAILABLE)
    await _select_mode(hass, "solar", station.serial)
    assert "currtime 0 1" in texts()
    sent = texts()
    assert not any(text.startswith(("curr ", "ena ")) for text in sent), sent
    assert not any(text.startswith("currtime") and text.endswith(" 0") for text in sent), sent
    assert station.report(2)["Max curr"] == 0
    assert await hass.config_entries.async_unload(entry.entry_id)
