"""Sensors per RFID card from the session ledger: energy charged and cost this month."""

from __future__ import annotations

from datetime import datetime, timedelta

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import UnitOfEnergy
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.event import async_track_point_in_time
from homeassistant.util import dt as dt_util, slugify

from .coordinator import KebaConfigEntry, KebaCoordinator
from .entity import KebaLedgerEntity
from .ledger import SessionRecord, month_start, total_cost
from .ledger_store import LedgerManager

CARD_KEY_PREFIX = "card_"


def card_key(name: str) -> str:
    """What identifies a card's sensors: the slug of its name.

    A name only spelled differently ("anna" for "Anna") keeps the sensors, and their totals
    count the sessions recorded under either spelling.
    """
    return slugify(name) or "card"


def card_sensors(hass: HomeAssistant, entry: KebaConfigEntry) -> list[SensorEntity]:
    """Two sensors per card name of the options (and the default name).

    Sensors of card names the options no longer have are removed from the entity registry.
    """
    ledger = entry.runtime_data.ledger
    coordinator = entry.runtime_data.coordinator
    if ledger is None or not coordinator.capabilities.session_history:
        return []
    entities: list[SensorEntity] = []
    for name in ledger.cards.card_names:
        entities.append(KebaCardEnergySensor(coordinator, ledger, name))
        entities.append(KebaCardCostSensor(coordinator, ledger, name))
    wanted = {entity.unique_id for entity in entities}
    registry = er.async_get(hass)
    prefix = f"{ledger.serial}_{CARD_KEY_PREFIX}"
    for stale in er.async_entries_for_config_entry(registry, entry.entry_id):
        if (
            stale.domain == "sensor"
            and stale.unique_id.startswith(prefix)
            and stale.unique_id not in wanted
        ):
            registry.async_remove(stale.entity_id)
    return entities


class _KebaCardSensor(KebaLedgerEntity, SensorEntity):
    """A sensor of one card, updated when the ledger gains sessions."""

    def __init__(
        self, coordinator: KebaCoordinator, ledger: LedgerManager, card: str, what: str
    ) -> None:
        key = f"{CARD_KEY_PREFIX}{card_key(card)}_{what}"
        super().__init__(
            coordinator, SensorEntityDescription(key=key, translation_key=f"card_{what}"), ledger
        )
        self._card = card
        self._attr_translation_placeholders = {"card": card}

    @callback
    def _handle_coordinator_update(self) -> None:
        """Polls do not change the ledger: nothing to write."""


class KebaCardEnergySensor(_KebaCardSensor):
    """Energy charged with a card, all time: for the energy dashboard's individual devices."""

    _attr_device_class = SensorDeviceClass.ENERGY
    _attr_state_class = SensorStateClass.TOTAL_INCREASING
    _attr_native_unit_of_measurement = UnitOfEnergy.KILO_WATT_HOUR
    _attr_suggested_display_precision = 2

    def __init__(self, coordinator: KebaCoordinator, ledger: LedgerManager, card: str) -> None:
        """Energy of ``card``."""
        super().__init__(coordinator, ledger, card, "energy")

    @property
    def native_value(self) -> float:
        """Sum over the ended sessions recorded under the card's name.

        Each session keeps the card name of when it was recorded: naming, renaming or removing
        a card in the options never lowers a total (which the recorder would take as a meter
        reset and count again).
        """
        totals = self._ledger.ledger.energy_by_card(self._ledger.cards, key=card_key)
        return totals.get(self._card, 0.0)


class KebaCardCostSensor(_KebaCardSensor):
    """Cost of a card's sessions this month (sessions with a known cost)."""

    _attr_device_class = SensorDeviceClass.MONETARY
    _attr_suggested_display_precision = 2

    def __init__(self, coordinator: KebaCoordinator, ledger: LedgerManager, card: str) -> None:
        """Cost of ``card``."""
        super().__init__(coordinator, ledger, card, "cost_month")

    async def async_added_to_hass(self) -> None:
        """Also start afresh when a month begins."""
        await super().async_added_to_hass()
        self._schedule_month()

    def _schedule_month(self) -> None:
        now = dt_util.now()
        start = month_start(now)
        following = month_start(start + timedelta(days=32))

        @callback
        def new_month(_now: datetime) -> None:
            self.async_write_ha_state()
            self._schedule_month()

        self.async_on_remove(async_track_point_in_time(self.hass, new_month, following))

    def _records(self) -> list[SessionRecord]:
        start = month_start(dt_util.now())
        cards = self._ledger.cards
        return self._ledger.ledger.query(
            dt_util.as_utc(start),
            serial=self._ledger.serial,
            where=cards.matcher(self._card, key=card_key),
        )

    @property
    def native_value(self) -> float | None:
        """Sum of this month's session costs (0 when none cost anything yet)."""
        records = self._records()
        cost = total_cost(records)
        if cost is None:
            return 0.0 if self.native_unit_of_measurement else None
        return cost

    @property
    def native_unit_of_measurement(self) -> str | None:
        """The currency of the price entity (or of the sessions)."""
        _price, currency = self._ledger.price()
        if currency:
            return currency
        for record in reversed(self._records()):
            if record.currency:
                return record.currency
        return None
