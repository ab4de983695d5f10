"""Tests of the binary sensors."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from syrupy.assertion import SnapshotAssertion

from homeassistant.components.binary_sensor import DOMAIN as BINARY_SENSOR_DOMAIN
from homeassistant.const import STATE_OFF, STATE_ON, STATE_UNAVAILABLE, Platform
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform

from .common import FakeStation, default_reports
from .entities import (
    P20_PRODUCT,
    P30_DE_PRODUCT,
    async_next_poll,
    entity_id_of,
    entity_keys,
    variant_reports,
)

ALL_STATIONS = {
    "vehicle_plugged",
    "charging",
    "cable_lock",
    "system_enabled",
    "failsafe_triggered",
    "input_x1",
}


@pytest.fixture(autouse=True)
def only_binary_sensors() -> Iterator[None]:
    """Set up the binary sensor platform only."""
    with patch("custom_components.keba.PLATFORMS", [Platform.BINARY_SENSOR]):
        yield


def _state(hass: HomeAssistant, entity_registry: er.EntityRegistry, key: str) -> str:
    state = hass.states.get(entity_id_of(entity_registry, BINARY_SENSOR_DOMAIN, key))
    assert state is not None
    return state.state


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """Every binary sensor of a charging P30 x-series: registry entry and state."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_input_disabled_by_default(
    entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """Input X1 is wired only on some installations: it starts disabled."""
    entry = entity_registry.async_get(
        entity_id_of(entity_registry, BINARY_SENSOR_DOMAIN, "input_x1")
    )
    assert entry is not None
    assert entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION


async def test_plug_pushes(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """Plug pushes: vehicle side (bit 2) and lock (bit 1); ``lock`` is on when unlocked."""
    assert _state(hass, entity_registry, "vehicle_plugged") == STATE_ON
    assert _state(hass, entity_registry, "cable_lock") == STATE_OFF  # locked

    mock_station.push({"Plug": 5})
    await hass.async_block_till_done()
    assert _state(hass, entity_registry, "vehicle_plugged") == STATE_ON
    assert _state(hass, entity_registry, "cable_lock") == STATE_ON  # unlocked

    mock_station.push({"Plug": 1, "State": 1})
    await hass.async_block_till_done()
    assert _state(hass, entity_registry, "vehicle_plugged") == STATE_OFF
    assert _state(hass, entity_registry, "charging") == STATE_OFF


async def test_state_and_enable_pushes(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """``State`` and ``Enable sys`` pushes change the sensors without a poll."""
    assert _state(hass, entity_registry, "charging") == STATE_ON
    assert _state(hass, entity_registry, "system_enabled") == STATE_ON
    # A poll would read these instead of the pushed values.
    mock_station.set_report(2, State=3, **{"Enable sys": 1})
    mock_station.push({"State": 5, "Enable sys": 0})
    await hass.async_block_till_done()
    assert _state(hass, entity_registry, "charging") == STATE_OFF
    assert _state(hass, entity_registry, "system_enabled") == STATE_OFF


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_input_push(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """Input X1 follows its push."""
    assert _state(hass, entity_registry, "input_x1") == STATE_OFF
    mock_station.push({"Input": 1})
    await hass.async_block_till_done()
    assert _state(hass, entity_registry, "input_x1") == STATE_ON


async def test_failsafe_triggered(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """The failsafe fired: timeout set, ``Enable sys`` 0 and the failsafe current offered."""
    assert _state(hass, entity_registry, "failsafe_triggered") == STATE_OFF
    mock_station.set_report(
        2,
        State=5,
        **{"Tmo FS": 60, "Curr FS": 6000, "Enable sys": 0, "Max curr": 6000},
    )
    await async_next_poll(hass, freezer)
    assert _state(hass, entity_registry, "failsafe_triggered") == STATE_ON


async def test_unavailable_after_three_failed_polls(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """The sensors keep their state through two lost polls, not through three."""
    mock_station.fail_polls = True
    await async_next_poll(hass, freezer)
    await async_next_poll(hass, freezer)
    assert _state(hass, entity_registry, "vehicle_plugged") == STATE_ON
    await async_next_poll(hass, freezer)
    assert _state(hass, entity_registry, "vehicle_plugged") == STATE_UNAVAILABLE
    mock_station.fail_polls = False
    mock_station.set_report(2, Plug=3, State=1)
    await async_next_poll(hass, freezer)
    assert _state(hass, entity_registry, "vehicle_plugged") == STATE_OFF


def _authorization_on() -> dict[int, dict[str, Any]]:
    """A P20 without RFID in its product code whose authorization function is on."""
    reports = variant_reports(P20_PRODUCT)
    reports[2] = {**reports[2], "AuthON": 1, "Authreq": 1}
    return reports


@pytest.mark.parametrize(
    ("station_reports", "expected"),
    [
        (default_reports(), ALL_STATIONS | {"authorization_required"}),
        (variant_reports(P20_PRODUCT), ALL_STATIONS),
        (variant_reports(P30_DE_PRODUCT), ALL_STATIONS),
        (_authorization_on(), ALL_STATIONS | {"authorization_required"}),
    ],
    ids=["p30-x", "p20", "p30-de", "auth-on"],
)
async def test_variants(
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    expected: set[str],
) -> None:
    """Authorization is shown only where the station authorizes (RFID reader or AuthON)."""
    assert entity_keys(entity_registry, init_integration.entry_id) == expected


@pytest.mark.parametrize("station_reports", [_authorization_on()])
async def test_authorization_required(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """``Authreq`` 1: the station waits for a card."""
    assert _state(hass, entity_registry, "authorization_required") == STATE_ON
