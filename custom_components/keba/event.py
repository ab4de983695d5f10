"""Charging sessions of a KEBA KeContact station as an event entity."""

from __future__ import annotations

from typing import Any

from homeassistant.components.event import EventEntity, EventEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import EVENT_SESSION_ENDED, EVENT_SESSION_STARTED
from .coordinator import KebaConfigEntry
from .entity import KebaEntity
from .kecontact import ChargingSession, SessionEndReason

# Sessions arrive from the coordinator; nothing to poll.
PARALLEL_UPDATES = 0

SESSION = EventEntityDescription(
    key="charging_session",
    translation_key="charging_session",
    event_types=[EVENT_SESSION_STARTED, EVENT_SESSION_ENDED],
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KebaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the session event on stations that report sessions (report 100)."""
    coordinator = entry.runtime_data.coordinator
    if coordinator.capabilities.session_history:
        async_add_entities([KebaSessionEventEntity(coordinator, SESSION)])


def session_event_data(session: ChargingSession) -> dict[str, Any]:
    """What an automation gets with the event: report 100 at the time of the plug change."""
    reason = session.end_reason
    return {
        "session_id": session.session_id,
        "energy_kwh": session.energy_kwh,
        "duration_s": session.duration_s,
        "rfid_tag": session.rfid_tag_used,
        "end_reason": (
            None if reason is None or reason == SessionEndReason.NOT_ENDED else reason.name.lower()
        ),
    }


class KebaSessionEventEntity(KebaEntity, EventEntity):
    """Fires ``started`` when a vehicle is plugged in and ``ended`` when it is unplugged."""

    async def async_added_to_hass(self) -> None:
        """Follow the coordinator's sessions."""
        await super().async_added_to_hass()
        self.async_on_remove(self.coordinator.async_add_session_listener(self._on_session))

    @callback
    def _on_session(self, event_type: str, session: ChargingSession) -> None:
        self._trigger_event(event_type, session_event_data(session))
        self.async_write_ha_state()
