"""Tests of the solar-surplus charging blueprint with the integration's number and switch."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from datetime import timedelta
import logging
from pathlib import Path
import shutil
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest

from homeassistant.components.automation import DOMAIN as AUTOMATION_DOMAIN
from homeassistant.components.automation.helpers import async_get_blueprints
from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN
from homeassistant.const import (
    ATTR_DEVICE_CLASS,
    ATTR_ENTITY_ID,
    ATTR_UNIT_OF_MEASUREMENT,
    ENTITY_MATCH_ALL,
    SERVICE_RELOAD,
    SERVICE_TURN_OFF,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.setup import async_setup_component
from homeassistant.util.yaml import dump
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from .common import FakeStation, default_reports
from .entities import entity_id_of

BLUEPRINT_SOURCE = (
    Path(__file__).parents[1] / "blueprints" / "automation" / "keba" / "solar_surplus_charging.yaml"
)
BLUEPRINT_PATH = "keba/solar_surplus_charging.yaml"
GRID = "sensor.grid_power"
AUTOMATION = "automation.solar_surplus_charging"
PAUSED = "paused"


@pytest.fixture(autouse=True)
def platforms() -> Iterator[None]:
    """Set up only what the blueprint uses: the power sensor, the number and the switch."""
    with patch(
        "custom_components.keba.PLATFORMS", [Platform.NUMBER, Platform.SENSOR, Platform.SWITCH]
    ):
        yield


@pytest.fixture
async def config_dir(hass: HomeAssistant, tmp_path: Path) -> AsyncIterator[Path]:
    """A configuration directory of this test's own, with the blueprint where users import it.

    Afterwards the automations are turned off, which detaches their triggers (timers).
    """
    hass.config.config_dir = str(tmp_path)
    target = tmp_path / "blueprints" / "automation" / BLUEPRINT_PATH
    target.parent.mkdir(parents=True)
    shutil.copyfile(BLUEPRINT_SOURCE, target)
    yield tmp_path
    if hass.services.has_service(AUTOMATION_DOMAIN, SERVICE_TURN_OFF):
        await hass.services.async_call(
            AUTOMATION_DOMAIN, SERVICE_TURN_OFF, {ATTR_ENTITY_ID: ENTITY_MATCH_ALL}, blocking=True
        )


@pytest.fixture
def station_reports(request: pytest.FixtureRequest) -> dict[int, dict[str, Any]]:
    """The fixture station charging; with the parameter ``paused``, switched off (``ena 0``).

    Paused: a vehicle plugged in that draws nothing.
    """
    reports = default_reports()
    if getattr(request, "param", None) == PAUSED:
        reports[2] = {**reports[2], "State": 5, "Enable user": 0, "Curr user": 0, "Max curr": 0}
        reports[3] = {**reports[3], "P": 0, "I1": 0, "I2": 0, "I3": 0}
    return reports


@pytest.fixture
def commands(mock_station: FakeStation) -> list[tuple[str, Any]]:
    """Commands in the order the station received them; report 2 follows them like a station."""
    log: list[tuple[str, Any]] = []

    async def set_current(current: float, delay: int = 1) -> None:
        log.append(("current", current))
        mock_station.set_report(2, **{"Curr timer": round(current * 1000), "Tmo CT": delay})
        await mock_station.get_status()

    async def set_enabled(enabled: bool) -> None:
        log.append(("enabled", enabled))
        mock_station.set_report(2, **{"Enable user": int(enabled), "State": 3 if enabled else 5})
        await mock_station.get_status()

    mock_station.set_current.side_effect = set_current
    mock_station.set_enabled.side_effect = set_enabled
    return log


def _set_grid(hass: HomeAssistant, value: float | str, unit: str = "W") -> None:
    """The site's grid power sensor."""
    hass.states.async_set(
        GRID, str(value), {ATTR_DEVICE_CLASS: "power", ATTR_UNIT_OF_MEASUREMENT: unit}
    )


async def _set_car_power(entry: MockConfigEntry, mock_station: FakeStation, watts: float) -> None:
    """What the vehicle draws now (report 3), read at once."""
    mock_station.set_report(3, P=round(watts * 1000))
    await entry.runtime_data.coordinator.async_refresh()


def _automation_config(
    entity_registry: er.EntityRegistry, **inputs: Any
) -> dict[str, list[dict[str, Any]]]:
    return {
        AUTOMATION_DOMAIN: [
            {
                "id": "solar_surplus_charging",
                "alias": "Solar surplus charging",
                "use_blueprint": {
                    "path": BLUEPRINT_PATH,
                    "input": {
                        "grid_power": GRID,
                        "charging_power": entity_id_of(entity_registry, SENSOR_DOMAIN, "power"),
                        "charging_current": entity_id_of(
                            entity_registry, Platform.NUMBER, "charging_current"
                        ),
                        "charging_switch": entity_id_of(
                            entity_registry, Platform.SWITCH, "charging_enabled"
                        ),
                        **inputs,
                    },
                },
            }
        ]
    }


async def _setup_automation(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, **inputs: Any
) -> None:
    """Create the automation from the blueprint; it must validate and be on."""
    assert await async_setup_component(
        hass, AUTOMATION_DOMAIN, _automation_config(entity_registry, **inputs)
    )
    await hass.async_block_till_done()
    state = hass.states.get(AUTOMATION)
    assert state is not None
    assert state.state == STATE_ON


async def _settle() -> None:
    """Let what is due run to its end.

    Not ``hass.async_block_till_done()``: it would also wait for automation runs that wait
    for a delay of their own (the start-up check), and time does not pass while it waits.
    """
    for _ in range(50):
        await asyncio.sleep(0)


async def _advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: int) -> None:
    """Let ``seconds`` pass in steps of 5 s (polls, the 15 s pattern and delays all run)."""
    for _ in range(seconds // 5):
        freezer.tick(timedelta(seconds=5))
        async_fire_time_changed(hass)
        await _settle()


def _switch_state(hass: HomeAssistant, entity_registry: er.EntityRegistry) -> str:
    state = hass.states.get(entity_id_of(entity_registry, Platform.SWITCH, "charging_enabled"))
    assert state is not None
    return state.state


# ----------------------------------------------------------------------------- the blueprint
async def test_blueprint_is_a_valid_automation_blueprint(
    hass: HomeAssistant, config_dir: Path
) -> None:
    """Home Assistant loads the blueprint as an automation blueprint with the documented inputs."""
    assert await async_setup_component(hass, AUTOMATION_DOMAIN, {})
    blueprints = async_get_blueprints(hass)

    loaded = await blueprints.async_get_blueprints()
    assert list(loaded) == [BLUEPRINT_PATH]
    blueprint = await blueprints.async_get_blueprint(BLUEPRINT_PATH)
    assert blueprint.domain == AUTOMATION_DOMAIN
    assert blueprint.name == "KEBA solar-surplus charging"
    assert blueprint.validate() is None
    assert set(blueprint.inputs) == {
        "grid_power",
        "grid_import_positive",
        "charging_power",
        "charging_current",
        "charging_switch",
        "phases",
        "min_current",
        "max_current",
        "start_delay",
        "stop_delay",
    }
    # The four entities are required; everything else has a default.
    required = {name for name, spec in blueprint.inputs.items() if "default" not in (spec or {})}
    assert required == {"grid_power", "charging_power", "charging_current", "charging_switch"}


async def test_missing_input_is_refused(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    config_dir: Path,
    init_integration: MockConfigEntry,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Without the grid sensor the automation cannot be generated: it stays unavailable."""
    config = _automation_config(entity_registry)
    del config[AUTOMATION_DOMAIN][0]["use_blueprint"]["input"]["grid_power"]
    assert await async_setup_component(hass, AUTOMATION_DOMAIN, config)
    await hass.async_block_till_done()
    state = hass.states.get(AUTOMATION)
    assert state is not None
    assert state.state == STATE_UNAVAILABLE
    assert "Missing input grid_power" in caplog.text


# ------------------------------------------------------------------------------- starting
@pytest.mark.parametrize("station_reports", [PAUSED], indirect=True)
@pytest.mark.parametrize(
    ("import_value", "export_value", "unit", "import_positive"),
    [
        (300, -7200, "W", True),
        (0.3, -7.2, "kW", True),
        (-300, 7200, "W", False),
        (-0.3, 7.2, "kW", False),
    ],
    ids=["W", "kW", "W-inverted", "kW-inverted"],
)
async def test_starts_after_start_delay(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    config_dir: Path,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[tuple[str, Any]],
    import_value: float,
    export_value: float,
    unit: str,
    import_positive: bool,
) -> None:
    """7.2 kW of export for the start delay: 10 A (7200 / 690 W per ampere), then switched on."""
    _set_grid(hass, import_value, unit)
    await _setup_automation(hass, entity_registry, grid_import_positive=import_positive)
    assert _switch_state(hass, entity_registry) == STATE_OFF

    _set_grid(hass, export_value, unit)
    await _advance(hass, freezer, 115)
    assert commands == []  # the default start delay is 2 minutes

    await _advance(hass, freezer, 10)
    assert commands == [("current", 10.0), ("enabled", True)]
    mock_station.set_current.assert_awaited_once_with(10.0, 1)
    mock_station.set_enabled.assert_awaited_once_with(True)
    assert _switch_state(hass, entity_registry) == STATE_ON


@pytest.mark.parametrize("station_reports", [PAUSED], indirect=True)
async def test_passing_sunshine_does_not_start(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    config_dir: Path,
    init_integration: MockConfigEntry,
    commands: list[tuple[str, Any]],
) -> None:
    """Surplus shorter than the start delay, or too small for the minimum current: nothing."""
    _set_grid(hass, 200)
    await _setup_automation(
        hass, entity_registry, start_delay={"seconds": 60}, phases="1", min_current=8
    )

    _set_grid(hass, -3000)
    await _advance(hass, freezer, 45)
    _set_grid(hass, 100)
    await _advance(hass, freezer, 60)
    # 1 phase, 8 A minimum: 1840 W are needed; 1800 W for minutes is not enough.
    _set_grid(hass, -1800)
    await _advance(hass, freezer, 300)
    assert commands == []

    _set_grid(hass, -1850)
    await _advance(hass, freezer, 65)
    assert commands == [("current", 8.0), ("enabled", True)]


@pytest.mark.parametrize("station_reports", [PAUSED], indirect=True)
async def test_surplus_present_when_reloaded_starts_after_delay(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    config_dir: Path,
    init_integration: MockConfigEntry,
    commands: list[tuple[str, Any]],
) -> None:
    """Created or reloaded in the sun: charging starts once the surplus held for the delay.

    (The start trigger fires only on a change from no surplus to surplus.)
    """
    _set_grid(hass, -7200)
    config = _automation_config(entity_registry)
    (config_dir / "configuration.yaml").write_text(dump(config), encoding="utf-8")
    await _setup_automation(hass, entity_registry)
    # What the automation editor does when it saves an automation.
    await hass.services.async_call(AUTOMATION_DOMAIN, SERVICE_RELOAD, blocking=True)
    await _settle()

    await _advance(hass, freezer, 60)
    _set_grid(hass, -8000)  # more sun meanwhile: 11 A when the delay is over
    await _advance(hass, freezer, 55)
    assert commands == []
    await _advance(hass, freezer, 10)
    assert commands == [("current", 11.0), ("enabled", True)]


# ------------------------------------------------------------------------------ regulating
@pytest.mark.parametrize(
    ("unit", "scale", "import_positive"),
    [("W", 1, True), ("kW", 1000, True), ("W", 1, False), ("kW", 1000, False)],
    ids=["W", "kW", "W-inverted", "kW-inverted"],
)
async def test_current_follows_surplus(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    config_dir: Path,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[tuple[str, Any]],
    unit: str,
    scale: int,
    import_positive: bool,
) -> None:
    """While charging, every 15 s the current follows grid export plus what the vehicle draws."""
    sign = 1 if import_positive else -1

    def grid(watts: float) -> None:
        _set_grid(hass, sign * watts / scale, unit)

    # Importing 2480 W while the vehicle draws 10 980 W: 8500 W of surplus → 12 A.
    grid(2480)
    await _setup_automation(hass, entity_registry, grid_import_positive=import_positive)
    await _advance(hass, freezer, 15)
    assert commands == [("current", 12.0)]
    mock_station.set_current.assert_awaited_once_with(12.0, 1)

    # The vehicle follows (12 A on three phases), 200 W are left over: nothing new to send.
    await _set_car_power(init_integration, mock_station, 8280)
    grid(-200)
    await _advance(hass, freezer, 30)
    assert commands == [("current", 12.0)]

    # A cloud: 1000 W import → 7280 W → 10 A.
    grid(1000)
    await _advance(hass, freezer, 15)
    assert commands == [("current", 12.0), ("current", 10.0)]

    # Full sun: far more than 16 A → the maximum current (the default 16 A).
    grid(-9000)
    await _advance(hass, freezer, 15)
    assert commands[-1] == ("current", 16.0)
    assert _switch_state(hass, entity_registry) == STATE_ON
    mock_station.set_enabled.assert_not_awaited()


async def test_current_capped_at_station_limit(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    config_dir: Path,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[tuple[str, Any]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A maximum above the station's hardware limit (16 A) sends the limit, not an error."""
    _set_grid(hass, 3000)  # 7980 W of surplus → 11 A
    await _setup_automation(hass, entity_registry, max_current=32)
    await _advance(hass, freezer, 15)
    assert commands == [("current", 11.0)]

    _set_grid(hass, -8000)  # 18 980 W → 27 A wanted, 16 A possible
    await _advance(hass, freezer, 15)
    assert commands == [("current", 11.0), ("current", 16.0)]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []


async def test_vehicle_power_in_kilowatts(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    config_dir: Path,
    init_integration: MockConfigEntry,
    commands: list[tuple[str, Any]],
) -> None:
    """The power sensor shown in kW (an entity setting) still counts as watts."""
    power = entity_id_of(entity_registry, SENSOR_DOMAIN, "power")
    entity_registry.async_update_entity_options(power, SENSOR_DOMAIN, {"unit_of_measurement": "kW"})
    await hass.async_block_till_done()
    state = hass.states.get(power)
    assert state is not None
    assert state.attributes[ATTR_UNIT_OF_MEASUREMENT] == "kW"

    _set_grid(hass, 2480)  # 8500 W of surplus → 12 A
    await _setup_automation(hass, entity_registry)
    await _advance(hass, freezer, 15)
    assert commands == [("current", 12.0)]


# -------------------------------------------------------------------------------- stopping
async def test_stops_after_stop_delay(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    config_dir: Path,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[tuple[str, Any]],
) -> None:
    """A dip holds the minimum current; a shortage longer than the stop delay switches off."""
    _set_grid(hass, -1000)  # 11 980 W: more than 16 A
    await _setup_automation(hass, entity_registry)
    await _advance(hass, freezer, 30)
    assert commands == []  # already at 16 A

    # A short dip: 9000 W of import leaves 1980 W, less than 6 A on three phases (4140 W).
    _set_grid(hass, 9000)
    await _advance(hass, freezer, 120)
    assert commands == [("current", 6.0)]
    _set_grid(hass, -1000)
    await _advance(hass, freezer, 15)
    assert commands == [("current", 6.0), ("current", 16.0)]

    # A long shortage: the minimum current, then off after the stop delay (5 minutes).
    _set_grid(hass, 9000)
    await _advance(hass, freezer, 295)
    assert commands == [("current", 6.0), ("current", 16.0), ("current", 6.0)]
    mock_station.set_enabled.assert_not_awaited()
    await _advance(hass, freezer, 10)
    assert commands[-1] == ("enabled", False)
    mock_station.set_enabled.assert_awaited_once_with(False)
    assert _switch_state(hass, entity_registry) == STATE_OFF

    # Switched off, the current is left alone, and off is not sent again.
    await _advance(hass, freezer, 600)
    assert commands[-1] == ("enabled", False)
    assert len(commands) == 4


@pytest.mark.parametrize(
    ("unit", "value", "import_positive"),
    [("kW", 9.0, True), ("W", -9000, False)],
    ids=["kW", "W-inverted"],
)
async def test_stop_delay_with_units_and_sign(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    config_dir: Path,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[tuple[str, Any]],
    unit: str,
    value: float,
    import_positive: bool,
) -> None:
    """9 kW of import, however the sensor shows it, stops charging after a 1-minute delay."""
    _set_grid(hass, -value, unit)
    await _setup_automation(
        hass, entity_registry, grid_import_positive=import_positive, stop_delay={"minutes": 1}
    )
    _set_grid(hass, value, unit)
    await _advance(hass, freezer, 55)
    mock_station.set_enabled.assert_not_awaited()
    await _advance(hass, freezer, 10)
    mock_station.set_enabled.assert_awaited_once_with(False)
    assert commands == [("current", 6.0), ("enabled", False)]


async def test_shortage_when_reloaded_stops_after_delay(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    config_dir: Path,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[tuple[str, Any]],
) -> None:
    """Created or reloaded at night with charging on: off after the stop delay, not never."""
    _set_grid(hass, 10980)  # no production at all: the vehicle draws from the grid
    config = _automation_config(entity_registry)
    (config_dir / "configuration.yaml").write_text(dump(config), encoding="utf-8")
    await _setup_automation(hass, entity_registry)
    await hass.services.async_call(AUTOMATION_DOMAIN, SERVICE_RELOAD, blocking=True)
    await _settle()

    await _advance(hass, freezer, 295)
    mock_station.set_enabled.assert_not_awaited()
    await _advance(hass, freezer, 10)
    mock_station.set_enabled.assert_awaited_once_with(False)


async def test_unavailable_grid_sensor_stops(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    config_dir: Path,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[tuple[str, Any]],
) -> None:
    """Without a grid reading there is no known surplus: minimum current, then off.

    Counting the vehicle's own power as surplus would keep it charging from the grid.
    """
    _set_grid(hass, -1000)
    await _setup_automation(hass, entity_registry)
    _set_grid(hass, STATE_UNAVAILABLE)
    await _advance(hass, freezer, 295)
    assert commands == [("current", 6.0)]
    await _advance(hass, freezer, 10)
    mock_station.set_enabled.assert_awaited_once_with(False)
