"""Phase switching in Home Assistant: the option, the select "Phases", a restart mid-switch."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest

from homeassistant.components.select import (
    ATTR_OPTION,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import ATTR_ENTITY_ID, Platform
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.keba.const import (
    CONF_GRID_SENSOR,
    CONF_PHASE_DWELL,
    CONF_PHASE_MAX_SWITCHES,
    CONF_PHASE_SWITCHING,
    CONF_START_DELAY,
    CONF_STOP_DELAY,
)
from custom_components.keba.kecontact.phases import PhaseSwitchState
from custom_components.keba.phase_switch import PHASES_AUTOMATIC

from .common import FakeStation, default_reports

ENTITY_ID = "select.kecontact_p30_x_series_phases"
GRID = "sensor.grid_power"


@pytest.fixture(autouse=True)
def only_selects() -> Iterator[None]:
    """Set up the select platform only."""
    with patch("custom_components.keba.PLATFORMS", [Platform.SELECT]):
        yield


@pytest.fixture
def station_reports() -> dict[int, dict[str, Any]]:
    """A charging station with the X2 phase switch, UDP not yet its source."""
    reports = default_reports()
    report2 = dict(reports[2])
    serial, sec = report2.pop("Serial"), report2.pop("Sec")
    reports[2] = {
        **report2,
        "X2 phaseSwitch source": 0,
        "X2 phaseSwitch": 1,
        "Serial": serial,
        "Sec": sec,
    }
    return reports


@pytest.fixture
def commands(mock_station: FakeStation) -> Iterator[list[str]]:
    """``x2src``/``x2`` as the station takes them; ``currtime 0 1`` stops the current."""
    sent: list[str] = []

    async def command(station: FakeStation, text: str) -> None:
        sent.append(text)
        name, value = text.split()
        field = "X2 phaseSwitch source" if name == "x2src" else "X2 phaseSwitch"
        station.set_report(2, **{field: int(value)})

    async def pause(*_args: Any, **_kwargs: Any) -> None:
        mock_station.set_report(2, **{"Curr user": 0, "Max curr": 0, "State": 5})
        mock_station.set_report(3, I1=0, I2=0, I3=0, P=0)

    mock_station.pause_charging.side_effect = pause
    with (
        patch("custom_components.keba.kecontact.phases._command", side_effect=command),
        patch("custom_components.keba.phase_switch.SETTLE_S", 0.0),
        patch("custom_components.keba.phase_switch.FOLLOW_TIMEOUT_S", 0.0),
    ):
        yield sent


async def _options(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    return result


async def test_option_offered_only_where_supported(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[str],
) -> None:
    """With the X2 fields the menu has "phases"; without them it has not."""
    result = await _options(hass, init_integration)
    assert result["menu_options"] == ["station", "solar", "sessions", "phases"]
    hass.config_entries.options.async_abort(result["flow_id"])

    mock_station.reports[2] = {
        k: v for k, v in mock_station.reports[2].items() if not k.startswith("X2")
    }
    await mock_station.get_status()
    result = await _options(hass, init_integration)
    assert result["menu_options"] == ["station", "solar", "sessions"]
    assert not commands


async def test_turning_on_sets_source_once_and_adds_select(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[str],
) -> None:
    """Turning the option on sends ``x2src 4`` once; the select "Phases" appears."""
    assert hass.states.get(ENTITY_ID) is None
    result = await _options(hass, init_integration)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "phases"}
    )
    assert result["step_id"] == "phases"
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_PHASE_SWITCHING: True, CONF_PHASE_DWELL: 300, CONF_PHASE_MAX_SWITCHES: 4},
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert commands == ["x2src 4"]
    assert init_integration.options[CONF_PHASE_MAX_SWITCHES] == 4
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    assert state.state == "automatic"
    assert state.attributes["selected_phases"] == 3

    # Saving again (already on) and reloading send nothing more.
    result = await _options(hass, init_integration)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "phases"}
    )
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {CONF_PHASE_SWITCHING: True, CONF_PHASE_DWELL: 600, CONF_PHASE_MAX_SWITCHES: 4},
    )
    await hass.async_block_till_done()
    assert commands == ["x2src 4"]


async def _setup_on(hass: HomeAssistant, entry: MockConfigEntry) -> None:
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry, options={CONF_PHASE_SWITCHING: True, CONF_PHASE_DWELL: 300}
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def test_select_switches_without_load(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[str],
) -> None:
    """Choosing 1 phase: pause, ``x2 0``, resume at the former current; dwell refuses 3."""
    mock_station.set_report(2, **{"X2 phaseSwitch source": 4})
    await _setup_on(hass, mock_config_entry)
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: ENTITY_ID, ATTR_OPTION: "1"},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert commands == ["x2 0"]  # no x2src at start-up or now: it is already 4
    mock_station.pause_charging.assert_awaited_once()
    mock_station.set_current.assert_awaited_once_with(16.0)
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    assert (state.state, state.attributes["selected_phases"]) == ("1", 1)
    assert state.attributes["switches_this_session"] == 1
    assert state.attributes["last_result"] == "switched"

    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: ENTITY_ID, ATTR_OPTION: "3"},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)
    assert commands == ["x2 0"]
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    assert state.attributes["last_result"] == "dwell"


async def test_restart_in_the_middle_of_a_switch(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[str],
) -> None:
    """Stopped while settling: after the restart charging resumes, nothing else is sent."""
    mock_station.set_report(2, **{"X2 phaseSwitch source": 4})
    await _setup_on(hass, mock_config_entry)
    settling = asyncio.Event()
    control = mock_config_entry.runtime_data.coordinator.phase_control
    assert control is not None
    control.async_add_listener(
        lambda: settling.set() if control.switcher.state is PhaseSwitchState.SETTLING else None
    )
    with patch("custom_components.keba.phase_switch.SETTLE_S", 3600.0):
        control.switcher.settings = type(control.switcher.settings)(settle_s=3600.0)
        await hass.services.async_call(
            SELECT_DOMAIN,
            SERVICE_SELECT_OPTION,
            {ATTR_ENTITY_ID: ENTITY_ID, ATTR_OPTION: "1"},
            blocking=True,
        )
        for _ in range(100):
            await asyncio.sleep(0)
            if control.switcher.state is PhaseSwitchState.SETTLING:
                break
        assert control.switcher.state is PhaseSwitchState.SETTLING
        assert control.pending_resume == 16.0
        assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
        await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.NOT_LOADED
    mock_station.set_current.assert_not_awaited()

    assert await hass.config_entries.async_setup(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    mock_station.set_current.assert_awaited_once_with(16.0)
    assert commands == ["x2 0"]  # no x2src, no second switch
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    assert (state.state, state.attributes["selected_phases"]) == ("1", 1)


MODE_ENTITY_ID = "select.kecontact_p30_x_series_charging_mode"


def _grid(hass: HomeAssistant, watts: int) -> None:
    hass.states.async_set(GRID, str(watts), {"unit_of_measurement": "W", "device_class": "power"})


async def _setup_solar(hass: HomeAssistant, entry: MockConfigEntry, **options: Any) -> None:
    """Set up with phase switching and a grid sensor (start delay 30 s unless given)."""
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        entry,
        options={
            CONF_PHASE_SWITCHING: True,
            CONF_GRID_SENSOR: GRID,
            CONF_START_DELAY: 30,
            **options,
        },
    )
    assert await hass.config_entries.async_setup(entry.entry_id)
    await hass.async_block_till_done()


async def _select(hass: HomeAssistant, entity_id: str, option: str) -> None:
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: entity_id, ATTR_OPTION: option},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)


async def _elapse(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float, times: int = 1
) -> None:
    """Let ``seconds`` pass ``times`` times (timers fired, background tasks done each time)."""
    for _ in range(times):
        freezer.tick(timedelta(seconds=seconds))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)


async def test_solar_mode_chooses_one_phase(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[str],
    freezer: FrozenDateTimeFactory,
) -> None:
    """Solar, phases automatic: a surplus for one phase only moves the car to one phase."""
    mock_station.set_report(2, **{"X2 phaseSwitch source": 4, "Curr user": 6000})
    mock_station.set_report(3, I1=6000, I2=6000, I3=6000, P=4_100_000)
    _grid(hass, 2100)
    await _setup_solar(hass, mock_config_entry, **{CONF_STOP_DELAY: 60})
    await _select(hass, MODE_ENTITY_ID, "solar")
    for _ in range(12):  # two minutes of control intervals at about 2 kW of surplus
        await _elapse(hass, freezer, 10)
        if commands:
            break
    assert commands == ["x2 0"]
    mock_station.pause_charging.assert_awaited()
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    assert (state.state, state.attributes["selected_phases"]) == ("automatic", 1)
    # On one phase about 2 kW carry 8 A: the switch resumed there (or the controller does).
    assert mock_station.set_current.await_args_list[-1].args[0] >= 6


async def test_solar_mode_pauses_a_three_phase_dip_while_the_dwell_time_runs(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[str],
    freezer: FrozenDateTimeFactory,
) -> None:
    """Just switched to three phases: a dip they cannot hold until a switch is allowed pauses.

    Holding 6 A on three phases about 2 kW short until the phase switch may go to one (5
    minutes after the last switch) would import far more than the 46 Wh a dip held on one phase
    may import. So the car pauses at the dip's first interval, and no switch is tried within the
    minimum time.
    """
    mock_station.set_report(2, **{"X2 phaseSwitch source": 4, "X2 phaseSwitch": 0})
    _grid(hass, -1000)
    await _setup_solar(hass, mock_config_entry, **{CONF_PHASE_DWELL: 300, CONF_STOP_DELAY: 300})
    await _select(hass, ENTITY_ID, "3")
    assert commands == ["x2 1"]
    await _select(hass, ENTITY_ID, PHASES_AUTOMATIC)
    await _select(hass, MODE_ENTITY_ID, "solar")
    # 6 kW exported: the controller starts the car once the start delay has passed.
    _grid(hass, -6000)
    await _elapse(hass, freezer, 10, times=6)
    mock_station.set_current.assert_awaited()
    # It charges on three phases at 6 A (polled before the meter shows the car's draw), 1 kW
    # exported besides.
    mock_station.set_report(2, **{"State": 3, "Curr user": 6000, "Max curr": 6000})
    mock_station.set_report(3, I1=6000, I2=6000, I3=6000, P=4_140_000)
    await _elapse(hass, freezer, 5)
    _grid(hass, -1000)
    await _elapse(hass, freezer, 10, times=2)
    mock_station.pause_charging.reset_mock()
    mock_station.set_current.reset_mock()

    _grid(hass, 2000)
    await _elapse(hass, freezer, 10, times=2)
    mock_station.pause_charging.assert_awaited()
    assert commands == ["x2 1"]  # the minimum time between switches is kept
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    assert state.attributes["selected_phases"] == 3


async def test_a_switch_that_does_not_follow_is_shown_in_the_site_state(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
    commands: list[str],
    freezer: FrozenDateTimeFactory,
) -> None:
    """Report 2 keeps X2 on three phases: switching stops and the charging site says so."""
    mock_station.set_report(2, **{"X2 phaseSwitch source": 4})
    _grid(hass, -1000)
    await _setup_solar(hass, mock_config_entry)
    site_state = next(
        entry.entity_id
        for entry in er.async_get(hass).entities.values()
        if entry.unique_id.endswith("_site_state")
    )
    await _elapse(hass, freezer, 10)
    assert hass.states.get(site_state).state != "phase_switching_stopped"  # type: ignore[union-attr]

    async def ignored(_station: FakeStation, text: str) -> None:
        commands.append(text)  # the phase switch does not take it

    with patch("custom_components.keba.kecontact.phases._command", side_effect=ignored):
        await _select(hass, ENTITY_ID, "1")
    assert commands == ["x2 0"]
    select = hass.states.get(ENTITY_ID)
    assert select is not None
    assert select.attributes["switch_state"] == "gave_up"
    await _elapse(hass, freezer, 10)
    assert hass.states.get(site_state).state == "phase_switching_stopped"  # type: ignore[union-attr]

    # Unplugged: a new session may switch again, and the site state no longer says so.
    mock_station.set_report(2, Plug=1, State=1)
    await _elapse(hass, freezer, 10)
    assert hass.states.get(site_state).state != "phase_switching_stopped"  # type: ignore[union-attr]
