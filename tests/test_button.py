"""Tests of the buttons: unlock, start and stop a session."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest.mock import patch

import pytest
from syrupy.assertion import SnapshotAssertion

from homeassistant.components.button import DOMAIN as BUTTON_DOMAIN, SERVICE_PRESS
from homeassistant.const import ATTR_ENTITY_ID, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform

from custom_components.keba.const import CONF_RFID_CLASS, CONF_RFID_TAG
from custom_components.keba.kecontact import KebaCommandError, KebaValidationError

from .common import FakeStation, default_reports
from .entities import P20_PRODUCT, P30_DE_PRODUCT, entity_id_of, entity_keys, variant_reports

TAG = "04a1b2c3d4e5f600"
CLASS = "01010400000000000000"


@pytest.fixture(autouse=True)
def only_buttons() -> Iterator[None]:
    """Set up the button platform only."""
    with patch("custom_components.keba.PLATFORMS", [Platform.BUTTON]):
        yield


@pytest.fixture
def rfid_options() -> dict[str, Any]:
    """The entry's RFID options (override per test)."""
    return {CONF_RFID_TAG: TAG, CONF_RFID_CLASS: CLASS}


@pytest.fixture
def mock_config_entry(
    mock_config_entry: MockConfigEntry, rfid_options: dict[str, Any]
) -> MockConfigEntry:
    """The configured station, with the RFID options of the test."""
    return MockConfigEntry(
        domain=mock_config_entry.domain,
        title=mock_config_entry.title,
        unique_id=mock_config_entry.unique_id,
        data=dict(mock_config_entry.data),
        options=rfid_options,
    )


def _socket_station() -> dict[int, dict[str, Any]]:
    """A P30 x-series with a socket (``S``) instead of a fixed cable."""
    return variant_reports("KC-P30-ES2404B2-M0R", **{"COM-module": 1})


async def _press(hass: HomeAssistant, entity_registry: er.EntityRegistry, key: str) -> None:
    await hass.services.async_call(
        BUTTON_DOMAIN,
        SERVICE_PRESS,
        {ATTR_ENTITY_ID: entity_id_of(entity_registry, BUTTON_DOMAIN, key)},
        blocking=True,
    )


@pytest.mark.parametrize("station_reports", [_socket_station()])
async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """The buttons of a P30 x-series with socket and RFID: registry entry and state."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_start_session(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """Start sends the configured tag and class."""
    await _press(hass, entity_registry, "start_session")
    mock_station.start_session.assert_awaited_once_with(TAG, CLASS)
    mock_station.stop_session.assert_not_awaited()


async def test_stop_session(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """Stop sends the tag that started the session."""
    await _press(hass, entity_registry, "stop_session")
    mock_station.stop_session.assert_awaited_once_with(TAG)
    mock_station.start_session.assert_not_awaited()


@pytest.mark.parametrize("rfid_options", [{CONF_RFID_TAG: TAG}])
async def test_start_without_class(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """The class is optional."""
    await _press(hass, entity_registry, "start_session")
    mock_station.start_session.assert_awaited_once_with(TAG, None)


@pytest.mark.parametrize("rfid_options", [{}, {CONF_RFID_TAG: "  "}])
@pytest.mark.parametrize("key", ["start_session", "stop_session"])
async def test_no_tag_configured(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    key: str,
) -> None:
    """Without a tag in the options nothing is sent, and the user learns where to set it."""
    with pytest.raises(ServiceValidationError) as exc_info:
        await _press(hass, entity_registry, key)
    assert exc_info.value.translation_key == "rfid_tag_not_set"
    assert "options" in str(exc_info.value)
    mock_station.start_session.assert_not_awaited()
    mock_station.stop_session.assert_not_awaited()


async def test_invalid_tag(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """The engine's validation error is a validation error for the user."""
    mock_station.start_session.side_effect = KebaValidationError("RFID tag must be hex")
    with pytest.raises(ServiceValidationError) as exc_info:
        await _press(hass, entity_registry, "start_session")
    assert exc_info.value.translation_key == "invalid_value"
    assert "RFID tag must be hex" in str(exc_info.value)


@pytest.mark.parametrize("station_reports", [_socket_station()])
async def test_unlock_socket(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """Unlock sends ``unlock``; a refusal (still charging) is a failure."""
    await _press(hass, entity_registry, "unlock_socket")
    mock_station.unlock_socket.assert_awaited_once_with()

    mock_station.unlock_socket.side_effect = KebaCommandError("TCH-ERR")
    with pytest.raises(HomeAssistantError) as exc_info:
        await _press(hass, entity_registry, "unlock_socket")
    assert not isinstance(exc_info.value, ServiceValidationError)
    assert exc_info.value.translation_key == "command_refused"


@pytest.mark.parametrize(
    ("station_reports", "expected"),
    [
        # Fixed cable: nothing to unlock.
        (default_reports(), {"start_session", "stop_session"}),
        (_socket_station(), {"unlock_socket", "start_session", "stop_session"}),
        # Socket, no RFID reader.
        (variant_reports(P20_PRODUCT), {"unlock_socket"}),
        # Fixed cable, no RFID reader.
        (variant_reports(P30_DE_PRODUCT), set()),
    ],
    ids=["p30-x-cable", "p30-x-socket", "p20-socket", "p30-de"],
)
async def test_variants(
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    expected: set[str],
) -> None:
    """Unlock only for sockets, start/stop only where the station authorizes."""
    assert entity_keys(entity_registry, init_integration.entry_id) == expected
