"""Tests of the charging mode select: choosing, refusing, restoring after a restart."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from syrupy.assertion import SnapshotAssertion

from homeassistant.components.select import (
    ATTR_OPTION,
    ATTR_OPTIONS,
    DOMAIN as SELECT_DOMAIN,
    SERVICE_SELECT_OPTION,
)
from homeassistant.const import (
    ATTR_ENTITY_ID,
    CONF_HOST,
    EVENT_STATE_CHANGED,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.restore_state import async_get as async_get_restore_state
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_capture_events,
    async_fire_time_changed,
    mock_restore_cache,
    mock_restore_cache_with_extra_data,
    snapshot_platform,
)

from custom_components.keba.const import (
    CONF_GRID_SENSOR,
    CONF_SOLAR_MAX_CURRENT,
    CONF_START_DELAY,
    CONF_STOP_DELAY,
    DOMAIN,
)
from custom_components.keba.domain_data import DATA_KEBA
from custom_components.keba.solar import SolarStation
from custom_components.keba.surplus import ChargingMode

from .common import FakeStation
from .conftest import SERIAL
from .entities import P20_PRODUCT, entity_id_of, variant_reports

GRID = "sensor.grid_power"
#: The select's entity id: the entry's title, then the translated name.
ENTITY_ID = "select.carport_charging_mode"
OPTIONS = {CONF_GRID_SENSOR: GRID, CONF_START_DELAY: 0, CONF_STOP_DELAY: 60}


@pytest.fixture(autouse=True)
def only_selects() -> Iterator[None]:
    """Set up the select platform only (the controller runs without the sensors)."""
    with patch("custom_components.keba.PLATFORMS", [Platform.SELECT]):
        yield


def _grid(hass: HomeAssistant, watts: float) -> None:
    hass.states.async_set(GRID, str(watts), {"unit_of_measurement": "W", "device_class": "power"})


def _not_drawing(station: FakeStation) -> None:
    """A vehicle that is plugged in and waits: no current on any phase."""
    station.set_report(2, State=5)
    station.set_report(3, I1=0, I2=0, I3=0, P=0)


async def _setup(hass: HomeAssistant, options: dict[str, Any] | None = None) -> MockConfigEntry:
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Carport",
        unique_id=SERIAL,
        data={CONF_HOST: "192.0.2.10"},
        options=OPTIONS if options is None else options,
    )
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done(wait_background_tasks=True)
    return entry


def _solar(entry: MockConfigEntry) -> SolarStation:
    manager = entry.runtime_data.coordinator.hass.data[DATA_KEBA].solar
    assert manager is not None
    solar = manager.station(entry)
    assert solar is not None
    return solar


def _mode(hass: HomeAssistant) -> str:
    state = hass.states.get(ENTITY_ID)
    assert state is not None
    return state.state


async def _select(hass: HomeAssistant, option: str) -> None:
    await hass.services.async_call(
        SELECT_DOMAIN,
        SERVICE_SELECT_OPTION,
        {ATTR_ENTITY_ID: ENTITY_ID, ATTR_OPTION: option},
        blocking=True,
    )
    await hass.async_block_till_done(wait_background_tasks=True)


async def _next_interval(hass: HomeAssistant, freezer: FrozenDateTimeFactory) -> None:
    for _ in range(2):
        freezer.tick(5)
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)


async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """One select per station: off, fast, solar, min + solar; off after the first start."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)
    entity_id = entity_id_of(entity_registry, SELECT_DOMAIN, "charging_mode")
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == "off"
    assert state.attributes[ATTR_OPTIONS] == ["off", "fast", "solar", "min_solar"]


async def test_choosing_a_mode(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """The chosen mode is shown and handed to the controller; off takes it back."""
    _grid(hass, -3000)
    _not_drawing(mock_station)
    entry = await _setup(hass)
    assert _mode(hass) == "off"

    await _select(hass, "min_solar")
    assert _mode(hass) == "min_solar"
    assert _solar(entry).mode is ChargingMode.MIN_SOLAR
    mock_station.set_current.assert_awaited_once_with(6.0, 1)

    # Raised once the previous change has taken effect (at the next decision).
    await _select(hass, "fast")
    assert _mode(hass) == "fast"
    await _next_interval(hass, freezer)
    assert mock_station.set_current.await_args_list[-1].args == (16.0, 1)

    await _select(hass, "off")
    assert _mode(hass) == "off"
    assert _solar(entry).decision is None
    calls = mock_station.set_current.await_count
    await _next_interval(hass, freezer)
    assert mock_station.set_current.await_count == calls
    mock_station.set_enabled.assert_not_awaited()
    mock_station.set_current_permanent.assert_not_awaited()


async def test_solar_modes_need_a_grid_sensor(
    hass: HomeAssistant, mock_station: FakeStation
) -> None:
    """Without a charging site the solar modes are refused with a translated error."""
    entry = await _setup(hass, {})
    for option in ("solar", "min_solar"):
        with pytest.raises(ServiceValidationError) as caught:
            await _select(hass, option)
        assert caught.value.translation_domain == DOMAIN
        assert caught.value.translation_key == "solar_needs_site"
        assert caught.value.translation_placeholders == {"station": entry.title}
        assert "charging site" in str(caught.value)
    assert _mode(hass) == "off"
    mock_station.set_current.assert_not_awaited()
    mock_station.pause_charging.assert_not_awaited()


async def test_refused_mode_writes_the_active_one_back(
    hass: HomeAssistant, mock_station: FakeStation
) -> None:
    """A refused mode is replaced in the frontend at once by the active one.

    The frontend shows the picked option until a ``state_changed`` event arrives; the
    refusal writes one with the mode that stays active.
    """
    entry = await _setup(hass, {})
    await _select(hass, "fast")
    events = async_capture_events(hass, EVENT_STATE_CHANGED)
    with pytest.raises(ServiceValidationError):
        await _select(hass, "solar")
    written = [e.data["new_state"].state for e in events if e.data["entity_id"] == ENTITY_ID]
    assert written == ["fast"]
    assert _solar(entry).mode is ChargingMode.FAST
    assert _mode(hass) == "fast"


@pytest.mark.parametrize("station_reports", [variant_reports(P20_PRODUCT)])
async def test_p20_has_no_charging_mode(hass: HomeAssistant, mock_station: FakeStation) -> None:
    """A P20 has no `currtime`: every mode would need the permanent `curr`, so there is none.

    Even a mode restored from before is ignored, and nothing is sent.
    """
    _grid(hass, -9000)
    mock_restore_cache(hass, [State(ENTITY_ID, "min_solar")])
    entry = await _setup(hass)
    assert hass.states.get(ENTITY_ID) is None
    solar = _solar(entry)
    assert solar.mode == ChargingMode.OFF
    for mode in (ChargingMode.FAST, ChargingMode.SOLAR, ChargingMode.MIN_SOLAR):
        with pytest.raises(ServiceValidationError) as caught:
            solar.async_set_mode(mode)
        assert caught.value.translation_key == "solar_needs_currtime"
        assert caught.value.translation_placeholders == {"station": entry.title}
    mock_station.set_current.assert_not_awaited()
    mock_station.pause_charging.assert_not_awaited()


# ------------------------------------------------------------------------------- restarts
async def test_restart_restores_mode_and_phases(
    hass: HomeAssistant, mock_station: FakeStation
) -> None:
    """The mode and the phases learned before are back: a one-phase vehicle gets 13 A."""
    _grid(hass, -3000)
    _not_drawing(mock_station)
    mock_restore_cache_with_extra_data(hass, [(State(ENTITY_ID, "solar"), {"detected_phases": 1})])
    entry = await _setup(hass)
    assert _mode(hass) == "solar"
    assert _solar(entry).mode is ChargingMode.SOLAR
    assert _solar(entry).detected_phases == 1
    # 3000 W on one phase: 13 A (on three phases it would not reach the 6 A minimum).
    mock_station.set_current.assert_awaited_once_with(13.0, 1)


@pytest.mark.parametrize("extra", [{"detected_phases": 2}, {"detected_phases": "3"}, {}])
async def test_restart_ignores_odd_phases(
    hass: HomeAssistant, mock_station: FakeStation, extra: dict[str, Any]
) -> None:
    """Stored data that is not 1 or 3 phases is not taken: the phases stay unknown.

    With one phase restored the vehicle would get 13 A at once (see above); unknown phases
    allow the minimum current only, until the phase currents are measured.
    """
    _grid(hass, -3000)
    _not_drawing(mock_station)
    mock_restore_cache_with_extra_data(hass, [(State(ENTITY_ID, "solar"), extra)])
    entry = await _setup(hass)
    assert _mode(hass) == "solar"
    assert _solar(entry).detected_phases is None
    mock_station.set_current.assert_awaited_once_with(6.0, 1)


async def test_restart_keeps_charging_until_the_grid_sensor_reports(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """After a restart the grid sensor may come later: hold the minimum, do not pause."""
    mock_restore_cache(hass, [State(ENTITY_ID, "solar")])
    entry = await _setup(hass)  # the vehicle charges at 16 A; the grid sensor has no state
    assert _mode(hass) == "solar"
    decision = _solar(entry).decision
    assert decision is not None
    assert decision.state == "grid_sensor_unavailable"
    mock_station.pause_charging.assert_not_awaited()
    mock_station.set_current.assert_awaited_once_with(6.0, 1)

    # The meter's integration is up: 11 kW drawn, 2 kW exported; 13 kW → 16 A (its maximum).
    _grid(hass, -2000)
    await _next_interval(hass, freezer)
    assert mock_station.set_current.await_args_list[-1].args == (16.0, 1)
    mock_station.pause_charging.assert_not_awaited()


async def test_restart_does_not_pause_a_paused_station_again(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """The controller had paused the vehicle (``Curr user`` 0): no second `currtime 0 1`."""
    _grid(hass, 500)
    _not_drawing(mock_station)
    mock_station.set_report(2, **{"Curr user": 0, "Max curr": 0})
    mock_restore_cache(hass, [State(ENTITY_ID, "solar")])
    entry = await _setup(hass)
    decision = _solar(entry).decision
    assert decision is not None
    assert decision.state == "waiting_for_surplus"
    await _next_interval(hass, freezer)
    mock_station.pause_charging.assert_not_awaited()
    mock_station.set_current.assert_not_awaited()


@pytest.mark.parametrize("stored", ["solar", "min_solar"])
async def test_restart_without_grid_sensor_falls_back_to_off(
    hass: HomeAssistant, mock_station: FakeStation, stored: str
) -> None:
    """The grid sensor was removed from the options: a solar mode comes back as off."""
    mock_restore_cache(hass, [State(ENTITY_ID, stored)])
    entry = await _setup(hass, {})
    assert _mode(hass) == "off"
    assert _solar(entry).mode is ChargingMode.OFF
    mock_station.set_current.assert_not_awaited()
    mock_station.pause_charging.assert_not_awaited()


async def test_restart_in_fast_mode_without_grid_sensor(
    hass: HomeAssistant, mock_station: FakeStation
) -> None:
    """Fast without a grid sensor: the maximum is offered again after the restart."""
    mock_station.set_report(2, **{"Curr HW": 20000})
    mock_restore_cache(hass, [State(ENTITY_ID, "fast")])
    await _setup(hass, {CONF_SOLAR_MAX_CURRENT: 32})
    assert _mode(hass) == "fast"
    mock_station.set_current.assert_awaited_once_with(20.0, 1)


@pytest.mark.parametrize("stored", ["bogus", STATE_UNAVAILABLE, "off"])
async def test_restart_with_nothing_useful_stored(
    hass: HomeAssistant, mock_station: FakeStation, stored: str
) -> None:
    """Anything but a mode leaves the station in off."""
    _grid(hass, -9000)
    mock_restore_cache(hass, [State(ENTITY_ID, stored)])
    entry = await _setup(hass)
    assert _mode(hass) == "off"
    assert _solar(entry).mode is ChargingMode.OFF
    mock_station.set_current.assert_not_awaited()
    mock_station.pause_charging.assert_not_awaited()


async def test_learned_phases_are_stored_for_the_next_start(
    hass: HomeAssistant, hass_storage: dict[str, Any], mock_station: FakeStation
) -> None:
    """The select keeps the phases the vehicle charged on with its restore data."""
    mock_station.set_report(3, I1=16000, I2=0, I3=0, P=3680000)
    _grid(hass, -2000)
    await _setup(hass)
    await _select(hass, "solar")

    await async_get_restore_state(hass).async_dump_states()
    stored = {
        item["state"]["entity_id"]: item for item in hass_storage["core.restore_state"]["data"]
    }
    assert stored[ENTITY_ID]["state"]["state"] == "solar"
    assert stored[ENTITY_ID]["extra_data"] == {"detected_phases": 1}
