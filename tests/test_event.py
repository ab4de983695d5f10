"""Tests of the charging session event."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from syrupy.assertion import SnapshotAssertion

from homeassistant.components.event import ATTR_EVENT_TYPE, DOMAIN as EVENT_DOMAIN
from homeassistant.const import STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform

from .common import FakeStation, default_reports
from .entities import (
    NOW,
    P20_PRODUCT,
    P30_DE_PRODUCT,
    async_next_poll,
    entity_id_of,
    entity_keys,
    variant_reports,
)

pytestmark = pytest.mark.freeze_time(NOW)


@pytest.fixture(autouse=True)
def only_events() -> Iterator[None]:
    """Set up the event platform only."""
    with patch("custom_components.keba.PLATFORMS", [Platform.EVENT]):
        yield


def _get(hass: HomeAssistant, entity_registry: er.EntityRegistry) -> State:
    state = hass.states.get(entity_id_of(entity_registry, EVENT_DOMAIN, "charging_session"))
    assert state is not None
    return state


def _idle_station() -> dict[int, dict[str, Any]]:
    """No vehicle: cable locked in the station, report 100 holds the ended session 48."""
    reports = default_reports()
    reports[2] = {**reports[2], "State": 1, "Plug": 3}
    reports[3] = {**reports[3], "P": 0, "I1": 0, "I2": 0, "I3": 0}
    reports[100] = {**reports[101], "ID": "100"}
    return reports


async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """The session event of a P30 x-series: registry entry and (no event yet) state."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_session_ended(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """Unplugging fires ``ended`` with report 100 of the finished session."""
    assert _get(hass, entity_registry).state == STATE_UNKNOWN
    mock_station.set_report(100, reason=1, **{"ended[s]": 6000})
    mock_station.push({"Plug": 3})
    await hass.async_block_till_done(wait_background_tasks=True)

    state = _get(hass, entity_registry)
    assert state.state == "2026-11-21T08:00:00.000+00:00"
    assert state.attributes[ATTR_EVENT_TYPE] == "ended"
    assert {
        key: state.attributes[key]
        for key in ("session_id", "energy_kwh", "duration_s", "rfid_tag", "end_reason")
    } == {
        "session_id": 49,
        "energy_kwh": 5.2345,
        "duration_s": 100,
        "rfid_tag": None,
        "end_reason": "unplugged",
    }


async def test_no_event_without_plug_change(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """State pushes with the vehicle still plugged in fire nothing."""
    mock_station.push({"State": 2})
    mock_station.push({"Plug": 7})
    await hass.async_block_till_done()
    assert _get(hass, entity_registry).state == STATE_UNKNOWN


@pytest.mark.parametrize("station_reports", [_idle_station()])
async def test_session_started(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """Plugging in fires ``started`` with the new session, authorized by a card."""
    mock_station.set_report(
        100,
        **{
            "Session ID": 50,
            "E pres": 0,
            "started[s]": 6090,
            "ended[s]": 0,
            "reason": 0,
            "RFID tag": "04a1b2c3d4e5f600",
        },
    )
    mock_station.set_report(2, State=2, Plug=7)
    # Seen by a poll this time (the push may have been lost): idle stations poll every 30 s.
    await async_next_poll(hass, freezer, 30)

    state = _get(hass, entity_registry)
    assert state.attributes[ATTR_EVENT_TYPE] == "started"
    assert state.attributes["session_id"] == 50
    assert state.attributes["energy_kwh"] == 0.0
    assert state.attributes["duration_s"] is None
    assert state.attributes["end_reason"] is None
    assert state.attributes["rfid_tag"] == "04a1b2c3d4e5f600"


async def test_unavailable_after_three_failed_polls(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """The event entity follows the station's availability."""
    mock_station.fail_polls = True
    await async_next_poll(hass, freezer)
    await async_next_poll(hass, freezer)
    assert _get(hass, entity_registry).state == STATE_UNKNOWN
    await async_next_poll(hass, freezer)
    assert _get(hass, entity_registry).state == STATE_UNAVAILABLE
    mock_station.fail_polls = False
    await async_next_poll(hass, freezer)
    assert _get(hass, entity_registry).state == STATE_UNKNOWN


@pytest.mark.parametrize(
    ("station_reports", "expected"),
    [
        (variant_reports(P20_PRODUCT), set()),
        (variant_reports(P30_DE_PRODUCT), {"charging_session"}),
    ],
    ids=["p20", "p30-de"],
)
async def test_variants(
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    expected: set[str],
) -> None:
    """Sessions need report 100, which a P20 lacks."""
    assert entity_keys(entity_registry, init_integration.entry_id) == expected
