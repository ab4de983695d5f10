"""Buttons of a KEBA KeContact station: unlock the socket, start and stop a session."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.button import ButtonEntity, ButtonEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .binary_sensor import has_authorization
from .const import CONF_RFID_CLASS, CONF_RFID_TAG, DOMAIN
from .coordinator import KebaConfigEntry, KebaCoordinator
from .entity import KebaEntity
from .errors import command_errors

# The protocol engine queues, paces and merges commands per station (KEBA's timing rules):
# Home Assistant need not hold one back until the previous one is confirmed.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class KebaButtonEntityDescription(ButtonEntityDescription):
    """A button of a station: the command it sends."""

    press_fn: Callable[[KebaCoordinator], Awaitable[None]]
    exists_fn: Callable[[KebaCoordinator], bool] = lambda _: True


def _rfid_option(coordinator: KebaCoordinator, key: str) -> str | None:
    value = coordinator.config_entry.options.get(key)
    return (str(value).strip() or None) if value else None


def _rfid_tag(coordinator: KebaCoordinator) -> str:
    """The tag set in the entry's options; without one there is nothing to send."""
    tag = _rfid_option(coordinator, CONF_RFID_TAG)
    if tag is None:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="rfid_tag_not_set",
            translation_placeholders={"station": coordinator.config_entry.title},
        )
    return tag


async def _start_session(coordinator: KebaCoordinator) -> None:
    """``start <tag> [<class>]``: authorize a session as the configured card would."""
    tag = _rfid_tag(coordinator)
    await coordinator.station.start_session(tag, _rfid_option(coordinator, CONF_RFID_CLASS))


async def _stop_session(coordinator: KebaCoordinator) -> None:
    """``stop <tag>``: end the session that the configured card (or tag) started."""
    await coordinator.station.stop_session(_rfid_tag(coordinator))


def _has_socket(coordinator: KebaCoordinator) -> bool:
    """``unlock`` releases a socket; a station with a fixed cable has nothing to unlock."""
    return coordinator.capabilities.socket is not False


BUTTONS: tuple[KebaButtonEntityDescription, ...] = (
    KebaButtonEntityDescription(
        key="unlock_socket",
        translation_key="unlock_socket",
        press_fn=lambda coordinator: coordinator.station.unlock_socket(),
        exists_fn=_has_socket,
    ),
    KebaButtonEntityDescription(
        key="start_session",
        translation_key="start_session",
        press_fn=_start_session,
        exists_fn=has_authorization,
    ),
    KebaButtonEntityDescription(
        key="stop_session",
        translation_key="stop_session",
        press_fn=_stop_session,
        exists_fn=has_authorization,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KebaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the buttons the station has."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        KebaButtonEntity(coordinator, description)
        for description in BUTTONS
        if description.exists_fn(coordinator)
    )


class KebaButtonEntity(KebaEntity, ButtonEntity):
    """A button of a station."""

    entity_description: KebaButtonEntityDescription

    async def async_press(self) -> None:
        """Send the button's command."""
        with command_errors(self.coordinator.station.host):
            await self.entity_description.press_fn(self.coordinator)
