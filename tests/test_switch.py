"""Tests of the switches."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest.mock import patch

import pytest
from syrupy.assertion import SnapshotAssertion

from homeassistant.components.switch import DOMAIN as SWITCH_DOMAIN
from homeassistant.const import (
    ATTR_ENTITY_ID,
    SERVICE_TURN_OFF,
    SERVICE_TURN_ON,
    STATE_OFF,
    STATE_ON,
    STATE_UNAVAILABLE,
    Platform,
)
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform

from custom_components.keba.kecontact import (
    EventKind,
    KebaClosedError,
    KebaCommandError,
    KebaTimeoutError,
    KebaUnsupportedError,
    KebaVerificationError,
)

from .common import FakeStation, default_reports
from .entities import P30_DE_PRODUCT, entity_id_of, entity_keys, variant_reports


@pytest.fixture(autouse=True)
def only_switches() -> Iterator[None]:
    """Set up the switch platform only."""
    with patch("custom_components.keba.PLATFORMS", [Platform.SWITCH]):
        yield


def _answer_with_report2(station: FakeStation, **fields: Any) -> Any:
    """A command side effect: the station's status changes, and the verification reads it."""

    async def command(*_args: Any, **_kwargs: Any) -> None:
        station.set_report(2, **fields)
        await station.get_status()
        station.emit(EventKind.STATUS)

    return command


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def _call(hass: HomeAssistant, service: str, entity_id: str) -> None:
    await hass.services.async_call(
        SWITCH_DOMAIN, service, {ATTR_ENTITY_ID: entity_id}, blocking=True
    )


async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """Both switches of a charging P30 x-series: registry entry and state."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_charging_enabled(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """Off sends ``ena 0``, on ``ena 1``; the state follows report 2's ``Enable user``."""
    entity_id = entity_id_of(entity_registry, SWITCH_DOMAIN, "charging_enabled")
    assert _state(hass, entity_id) == STATE_ON

    mock_station.set_enabled.side_effect = _answer_with_report2(mock_station, **{"Enable user": 0})
    await _call(hass, SERVICE_TURN_OFF, entity_id)
    mock_station.set_enabled.assert_awaited_once_with(False)
    assert _state(hass, entity_id) == STATE_OFF

    mock_station.set_enabled.reset_mock()
    mock_station.set_enabled.side_effect = _answer_with_report2(mock_station, **{"Enable user": 1})
    await _call(hass, SERVICE_TURN_ON, entity_id)
    mock_station.set_enabled.assert_awaited_once_with(True)
    assert _state(hass, entity_id) == STATE_ON


async def test_output_x2(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """On sends ``output 1`` (the guide's "open"), off ``output 0`` (its "close")."""
    entity_id = entity_id_of(entity_registry, SWITCH_DOMAIN, "output_x2")
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_OFF
    assert state.attributes["relay_contact"] == "closed"

    mock_station.set_output.side_effect = _answer_with_report2(mock_station, Output=1)
    await _call(hass, SERVICE_TURN_ON, entity_id)
    mock_station.set_output.assert_awaited_once_with(1)
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_ON
    assert state.attributes["relay_contact"] == "open"

    mock_station.set_output.reset_mock()
    mock_station.set_output.side_effect = _answer_with_report2(mock_station, Output=0)
    await _call(hass, SERVICE_TURN_OFF, entity_id)
    mock_station.set_output.assert_awaited_once_with(0)
    assert _state(hass, entity_id) == STATE_OFF


def _pulse_output() -> dict[int, dict[str, Any]]:
    reports = default_reports()
    reports[2] = {**reports[2], "Output": 150}
    return reports


@pytest.mark.parametrize("station_reports", [_pulse_output()])
async def test_output_x2_pulse_mode(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """X2 set up as a pulse output (kept in EEPROM) is left alone: the switch is unavailable."""
    entity_id = entity_id_of(entity_registry, SWITCH_DOMAIN, "output_x2")
    state = hass.states.get(entity_id)
    assert state is not None
    assert state.state == STATE_UNAVAILABLE
    await _call(hass, SERVICE_TURN_OFF, entity_id)
    mock_station.set_output.assert_not_awaited()


@pytest.mark.parametrize(
    ("error", "raised", "key"),
    [
        (KebaTimeoutError("no answer"), HomeAssistantError, "command_no_answer"),
        (KebaCommandError("TCH-ERR"), HomeAssistantError, "command_refused"),
        (KebaVerificationError("not shown"), HomeAssistantError, "command_not_confirmed"),
        (KebaUnsupportedError("no X2"), ServiceValidationError, "unsupported_command"),
        (KebaClosedError("the link is closed"), HomeAssistantError, "command_failed"),
    ],
)
async def test_command_errors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    error: Exception,
    raised: type[HomeAssistantError],
    key: str,
) -> None:
    """Engine errors become translated Home Assistant errors naming the station."""
    mock_station.set_enabled.side_effect = error
    entity_id = entity_id_of(entity_registry, SWITCH_DOMAIN, "charging_enabled")
    with pytest.raises(raised) as exc_info:
        await _call(hass, SERVICE_TURN_OFF, entity_id)
    assert type(exc_info.value) is raised
    assert exc_info.value.translation_key == key
    assert exc_info.value.translation_placeholders == {
        "host": "192.0.2.10",
        "error": str(error),
    }
    assert "192.0.2.10" in str(exc_info.value)
    assert _state(hass, entity_id) == STATE_ON


@pytest.mark.parametrize(
    ("station_reports", "expected"),
    [
        (default_reports(), {"charging_enabled", "output_x2"}),
        (variant_reports(P30_DE_PRODUCT), {"charging_enabled", "output_x2"}),
        (
            variant_reports("BMW-10-EC240522-E1R"),
            {"charging_enabled", "output_x2"},
        ),
    ],
    ids=["p30-x", "p30-de", "oem"],
)
async def test_variants(
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    expected: set[str],
) -> None:
    """Every known station has ``ena`` and relay X2."""
    assert entity_keys(entity_registry, init_integration.entry_id) == expected
