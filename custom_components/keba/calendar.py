"""A calendar of charging sessions per station, browsed in Home Assistant's calendar panel."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from homeassistant.components.calendar import (
    CalendarEntity,
    CalendarEntityDescription,
    CalendarEvent,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import KebaConfigEntry, KebaCoordinator
from .entity import KebaLedgerEntity
from .ledger import END_REASONS, CardBook, SessionRecord
from .ledger_store import LedgerManager

PARALLEL_UPDATES = 0

#: The event text, in the languages the integration speaks (an event's text is data, not a
#: translatable entity string, so it is kept here).
_TEXT: Final = {
    "en": {
        "meter": "Meter: {start} → {end} kWh",
        "duration": "Duration: {value}",
        "reason": "Ended: {value}",
        "cost": "Cost: {value}",
        "time": "Times reconstructed from the station's uptime (its clock was not set)",
        "unplugged": "vehicle unplugged",
        "deauthorized": "RFID card",
        "not_ended": "station restarted",
    },
    "de": {
        "meter": "Zähler: {start} → {end} kWh",
        "duration": "Dauer: {value}",
        "reason": "Beendet: {value}",
        "cost": "Kosten: {value}",
        "time": "Zeiten aus der Betriebszeit der Station errechnet (ihre Uhr war nicht gestellt)",
        "unplugged": "Fahrzeug abgesteckt",
        "deauthorized": "RFID-Karte",
        "not_ended": "Station neu gestartet",
    },
}


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KebaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sessions calendar of a station with session reports."""
    ledger = entry.runtime_data.ledger
    coordinator = entry.runtime_data.coordinator
    if ledger is None or not coordinator.capabilities.session_history:
        return
    async_add_entities([KebaSessionCalendar(coordinator, ledger)])


def _kwh(value: float) -> str:
    return f"{value:.2f}"


def session_event(record: SessionRecord, cards: CardBook, language: str) -> CalendarEvent | None:
    """The calendar event of a session (None when its time is unknown)."""
    if record.started is None or record.ended is None:
        return None
    text = _TEXT["de" if language.split("-", maxsplit=1)[0] == "de" else "en"]
    lines: list[str] = []
    if record.meter_start_kwh is not None and record.meter_end_kwh is not None:
        lines.append(
            text["meter"].format(start=_kwh(record.meter_start_kwh), end=_kwh(record.meter_end_kwh))
        )
    duration = record.duration_s or 0
    lines.append(text["duration"].format(value=f"{duration // 3600}:{duration // 60 % 60:02d} h"))
    if record.end_reason is not None:
        reason = END_REASONS.get(record.end_reason)
        lines.append(text["reason"].format(value=text.get(reason or "", str(record.end_reason))))
    if record.cost is not None:
        lines.append(
            text["cost"].format(value=f"{record.cost:.2f} {record.currency or ''}".strip())
        )
    if record.time_source != "station_clock":
        lines.append(text["time"])
    end = record.ended if record.ended > record.started else record.started
    return CalendarEvent(
        start=record.started,
        end=end,
        summary=f"{record.card_name(cards)} · {_kwh(record.energy_kwh)} kWh",
        description="\n".join(lines),
        uid=f"{record.serial}-{record.session_id}",
    )


class KebaSessionCalendar(KebaLedgerEntity, CalendarEntity):
    """Every stored session of the station as an event."""

    def __init__(self, coordinator: KebaCoordinator, ledger: LedgerManager) -> None:
        """Attach to the station's ledger."""
        super().__init__(
            coordinator,
            CalendarEntityDescription(key="sessions", translation_key="sessions"),
            ledger,
        )

    @property
    def event(self) -> CalendarEvent | None:
        """The latest stored session (so the calendar's state is off: sessions are in the past)."""
        record = self._ledger.ledger.latest(self._ledger.serial)
        if record is None:
            return None
        return session_event(record, self._ledger.cards, self.hass.config.language)

    async def async_get_events(
        self, hass: HomeAssistant, start_date: datetime, end_date: datetime
    ) -> list[CalendarEvent]:
        """The sessions that ran between ``start_date`` and ``end_date``."""
        cards = self._ledger.cards
        language = hass.config.language
        records = self._ledger.ledger.query(
            start_date, end_date, serial=self._ledger.serial, overlapping=True
        )
        return [
            event
            for record in records
            if (event := session_event(record, cards, language)) is not None
        ]
