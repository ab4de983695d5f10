"""Tests of the display (notify entity)."""

from __future__ import annotations

from collections.abc import Iterator
from unittest.mock import patch

import pytest
from syrupy.assertion import SnapshotAssertion

from homeassistant.components.notify import (
    ATTR_MESSAGE,
    ATTR_TITLE,
    DOMAIN as NOTIFY_DOMAIN,
    SERVICE_SEND_MESSAGE,
)
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform

from custom_components.keba.kecontact import KebaTimeoutError, KebaUnsupportedError

from .common import FakeStation
from .entities import NOW, P20_PRODUCT, P30_DE_PRODUCT, entity_id_of, entity_keys, variant_reports


@pytest.fixture(autouse=True)
def only_notify() -> Iterator[None]:
    """Set up the notify platform only."""
    with patch("custom_components.keba.PLATFORMS", [Platform.NOTIFY]):
        yield


def _state(hass: HomeAssistant, entity_id: str) -> str:
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


async def _send(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, message: str, **extra: str
) -> None:
    await hass.services.async_call(
        NOTIFY_DOMAIN,
        SERVICE_SEND_MESSAGE,
        {
            ATTR_ENTITY_ID: entity_id_of(entity_registry, NOTIFY_DOMAIN, "display"),
            ATTR_MESSAGE: message,
            **extra,
        },
        blocking=True,
    )


async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """The display of a P30 x-series: registry entry and state."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


@pytest.mark.freeze_time(NOW)
async def test_send_message(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """The text goes to ``display`` as it is (the engine encodes spaces); no title."""
    entity_id = entity_id_of(entity_registry, NOTIFY_DOMAIN, "display")
    assert _state(hass, entity_id) == STATE_UNKNOWN
    await _send(hass, entity_registry, "Solar surplus: 11 kW", **{ATTR_TITLE: "ignored"})
    mock_station.display.assert_awaited_once_with("Solar surplus: 11 kW")
    assert _state(hass, entity_id) == "2026-11-21T08:00:00+00:00"


@pytest.mark.parametrize(
    "message",
    ["Laden läuft", "x" * 24, "line\nbreak", "Charging \N{ELECTRIC PLUG}"],
    ids=["umlaut", "too-long", "control-character", "emoji"],
)
async def test_invalid_text(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    message: str,
) -> None:
    """Text the display cannot show is refused before anything is sent."""
    with pytest.raises(ServiceValidationError) as exc_info:
        await _send(hass, entity_registry, message)
    assert exc_info.value.translation_key == "invalid_display_text"
    assert exc_info.value.translation_placeholders == {"text": message, "max_chars": "23"}
    mock_station.display.assert_not_awaited()


async def test_longest_text(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """23 printable ASCII characters fit."""
    await _send(hass, entity_registry, "~" * 23)
    mock_station.display.assert_awaited_once_with("~" * 23)


@pytest.mark.parametrize(
    ("error", "raised", "key"),
    [
        (KebaTimeoutError("no answer"), HomeAssistantError, "command_no_answer"),
        (KebaUnsupportedError("no display"), ServiceValidationError, "unsupported_command"),
    ],
)
async def test_display_errors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    error: Exception,
    raised: type[HomeAssistantError],
    key: str,
) -> None:
    """Engine errors while sending map to Home Assistant's errors."""
    mock_station.display.side_effect = error
    with pytest.raises(raised) as exc_info:
        await _send(hass, entity_registry, "Hello")
    assert type(exc_info.value) is raised
    assert exc_info.value.translation_key == key


@pytest.mark.parametrize(
    "station_reports",
    [variant_reports(P20_PRODUCT), variant_reports(P30_DE_PRODUCT)],
    ids=["p20", "p30-de"],
)
async def test_no_display(
    entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """Stations without a display get no notify entity."""
    assert entity_keys(entity_registry, init_integration.entry_id) == set()
