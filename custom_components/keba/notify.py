"""The display of a KEBA KeContact P30 as a notify entity."""

from __future__ import annotations

from homeassistant.components.notify import NotifyEntity, NotifyEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import DOMAIN
from .coordinator import KebaConfigEntry
from .entity import KebaEntity
from .errors import command_errors
from .kecontact import KebaValidationError, display_text
from .kecontact.const import DISPLAY_MAX_CHARS

# The protocol engine queues, paces and merges commands per station (KEBA's timing rules):
# Home Assistant need not hold one back until the previous one is confirmed.
PARALLEL_UPDATES = 0

DISPLAY = NotifyEntityDescription(key="display", translation_key="display")


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KebaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the display, on stations that have one (or may have: x-series, learned on use)."""
    coordinator = entry.runtime_data.coordinator
    if coordinator.capabilities.display is not False:
        async_add_entities([KebaDisplayEntity(coordinator, DISPLAY)])


class KebaDisplayEntity(KebaEntity, NotifyEntity):
    """Shows a message on the station's display (no title: the display has one short line)."""

    async def async_send_message(self, message: str, title: str | None = None) -> None:
        """Show ``message``: at most 23 printable ASCII characters."""
        try:
            display_text(message)
        except KebaValidationError as err:
            raise ServiceValidationError(
                translation_domain=DOMAIN,
                translation_key="invalid_display_text",
                translation_placeholders={
                    "text": message,
                    "max_chars": str(DISPLAY_MAX_CHARS),
                },
            ) from err
        with command_errors(self.coordinator.station.host):
            await self.coordinator.station.display(message)
