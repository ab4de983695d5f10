"""The session ledger inside Home Assistant: storage, backfill, cost, the gap repair issue.

One :class:`LedgerManager` per station entry. It keeps the station's ledger (:mod:`.ledger`) in
a versioned ``Store`` (``.storage/keba.ledger.<serial>``), so that sessions survive restarts,
reloads and the station's ring buffer of 30. Sessions come in two ways:

* at their end (report 100 read when the vehicle is unplugged), priced by the cost meter that
  followed their energy as it flowed;
* from the station's memory (reports 101…130), read at start-up, when the station answers
  again after an outage, and whenever a session ID shows that sessions were missed.
"""

from __future__ import annotations

from collections.abc import Callable
import math
import time
from typing import Any, Final

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.event import async_call_later
from homeassistant.helpers.storage import Store
from homeassistant.util import dt as dt_util

from .const import (
    CONF_CARDS,
    CONF_DEFAULT_CARD_NAME,
    CONF_PRICE_ENTITY,
    CONF_SOLAR_ENERGY_PRICE,
    DEFAULT_CARD_NAME,
    DOMAIN,
    EVENT_SESSION_ENDED,
    ISSUE_LEDGER_GAP,
    LOGGER,
)
from .coordinator import KebaConfigEntry, KebaCoordinator
from .kecontact import ChargingSession
from .ledger import (
    CardBook,
    CostMeter,
    LedgerGap,
    SessionLedger,
    SessionRecord,
    record_from_session,
    records_from_history,
)

STORAGE_VERSION: Final = 2
#: 2.2: the card name each session was recorded under (``cards``), beside the rows of 2.1.
STORAGE_MINOR_VERSION: Final = 2
STORAGE_KEY: Final = "keba.ledger"
#: Writes are bundled: at most one every few seconds.
SAVE_DELAY_S: Final = 5

#: A running session's cost meter is written at most this often (the ledger at every session).
METER_SAVE_INTERVAL_S: Final = 60

#: When the station's memory could not be read (at start-up or later), try again after this.
BACKFILL_RETRY_S: Final = 120
BACKFILL_RETRIES: Final = 5

#: Price units the cost meter understands: "<currency>/kWh", "/MWh", "/Wh".
_PER_UNIT: Final = {"kwh": 1.0, "mwh": 0.001, "wh": 1000.0}


def storage_key(serial: str) -> str:
    """The ledger's file in ``.storage``."""
    return f"{STORAGE_KEY}.{serial}"


def migrate_v1(serial: str, data: dict[str, Any]) -> dict[str, Any]:
    """Version 1 kept the session reports as read (``{"reports": [report 1xx + read_at]}``).

    Version 2 keeps the ledger's records: times worked out once, the tag and costs per session,
    and the gaps. Reports that cannot be read are dropped (logged), never fatal.
    """
    reports = data.get("reports")
    ledger = SessionLedger()
    dropped = 0
    for raw in reports if isinstance(reports, list) else []:
        if not isinstance(raw, dict):
            dropped += 1
            continue
        observed = dt_util.parse_datetime(str(raw.get("read_at") or "")) or dt_util.utcnow()
        record = record_from_session(
            ChargingSession.from_report(raw), observed_at=observed, serial=serial
        )
        if record is None:
            dropped += 1
            continue
        ledger.add(record)
    if dropped:
        LOGGER.warning("Ledger of %s: %s unreadable entries dropped on migration", serial, dropped)
    return {**ledger.as_dict(serial), "meter": {}}


def attribute_cards(serial: str, data: dict[str, Any], cards: CardBook) -> dict[str, Any]:
    """Version 2.1 did not record card names: its sessions get the names in force now.

    From then on each keeps that name, whatever the options name its tag later.
    """
    ledger = SessionLedger.from_dict(serial, data)
    named = ledger.attribute(cards)
    if named:
        LOGGER.debug("Ledger of %s: %s sessions given the card names of now", serial, named)
    return {**data, **ledger.as_dict(serial)}


class LedgerStore(Store[dict[str, Any]]):
    """The ledger's storage, with its migrations."""

    def __init__(self, hass: HomeAssistant, serial: str, cards: Callable[[], CardBook]) -> None:
        """The store of station ``serial``; ``cards`` gives the card names in force."""
        super().__init__(
            hass,
            STORAGE_VERSION,
            storage_key(serial),
            minor_version=STORAGE_MINOR_VERSION,
            atomic_writes=True,
        )
        self.serial = serial
        self.cards = cards

    async def _async_migrate_func(
        self, old_major_version: int, old_minor_version: int, old_data: dict[str, Any]
    ) -> dict[str, Any]:
        # Home Assistant writes the migrated data at once.
        data = old_data
        if old_major_version == 1:
            data = migrate_v1(self.serial, data)
        if old_major_version == 1 or (old_major_version == 2 and old_minor_version < 2):
            data = attribute_cards(self.serial, data, self.cards())
        return data


def parse_price(value: str, unit: str | None) -> tuple[float, str | None] | None:
    """A price entity's state as (price per kWh, currency); None when it is not a price."""
    try:
        price = float(value)
    except TypeError, ValueError:
        return None
    if not math.isfinite(price):
        return None
    if not unit:
        return price, None
    currency, sep, per = unit.partition("/")
    factor = _PER_UNIT.get(per.strip().lower()) if sep else None
    if factor is None:
        return None
    return price * factor, currency.strip() or None


class LedgerManager:
    """Feeds one station's ledger and keeps it stored."""

    def __init__(self, hass: HomeAssistant, entry: KebaConfigEntry, coordinator: KebaCoordinator):
        """Prepare; :meth:`async_load` reads the store."""
        self.hass = hass
        self.entry = entry
        self.coordinator = coordinator
        self.serial = entry.unique_id or coordinator.station.serial or entry.entry_id
        self.store = LedgerStore(hass, self.serial, lambda: self.cards)
        self.ledger = SessionLedger()
        self.meter = CostMeter()
        #: Hook for a charging site: the share (0…1) of the energy flowing now that comes from
        #: surplus. None: no site, nothing recorded.
        self.surplus_share: Callable[[], float | None] | None = None
        self._listeners: list[CALLBACK_TYPE] = []
        self._loaded = False
        self._backlog: list[tuple[ChargingSession, list[ChargingSession]]] = []
        self._was_available = True
        self._price_warned = False
        self._meter_saved_at = -math.inf
        self._history_seen = False
        self._retries_left = BACKFILL_RETRIES
        self._retry_unsub: CALLBACK_TYPE | None = None

    # ------------------------------------------------------------------------- set-up
    @property
    def cards(self) -> CardBook:
        """The card names of the options."""
        options = self.entry.options
        names = options.get(CONF_CARDS) or {}
        pairs = list(names.items()) if isinstance(names, dict) else []
        return CardBook.from_pairs(
            pairs, str(options.get(CONF_DEFAULT_CARD_NAME) or DEFAULT_CARD_NAME)
        )

    @property
    def card_names(self) -> list[str]:
        """The card names of the options, then names that sessions were recorded under."""
        names = self.cards.card_names
        return names + [name for name in self.ledger.recorded_cards if name not in names]

    @callback
    def async_attach(self) -> None:
        """Listen to the coordinator (before its first refresh, so no read is missed)."""
        coordinator = self.coordinator
        self.entry.async_on_unload(coordinator.async_add_history_listener(self._on_history))
        self.entry.async_on_unload(coordinator.async_add_session_listener(self._on_session))

    async def async_load(self) -> None:
        """Read the stored ledger, then handle reads that arrived meanwhile."""
        data = await self.store.async_load()
        if data:
            self.ledger = SessionLedger.from_dict(self.serial, data)
            meter = data.get("meter")
            self.meter = CostMeter.from_dict(meter if isinstance(meter, dict) else {})
            if self.ledger.attribute(self.cards):
                # Sessions the store had no card name for (the migration gives them one).
                self._save()
        self._loaded = True
        self.entry.async_on_unload(self.coordinator.async_add_listener(self._on_update))
        self.entry.async_on_unload(self._async_flush)
        self.entry.async_on_unload(self._cancel_retry)
        backlog, self._backlog = self._backlog, []
        for latest, history in backlog:
            self._on_history(latest, history)
        self._surface_gaps()
        if not self._history_seen:
            # The start-up read runs in the background; if it fails, read again later.
            self._schedule_retry()

    @callback
    def _cancel_retry(self) -> None:
        if self._retry_unsub is not None:
            self._retry_unsub()
            self._retry_unsub = None

    @callback
    def _schedule_retry(self) -> None:
        if self._retry_unsub is not None or self._retries_left <= 0:
            return
        self._retries_left -= 1

        @callback
        def retry(_now: Any) -> None:
            self._retry_unsub = None
            if not self._history_seen:
                self._backfill("the station's memory was not read yet")

        self._retry_unsub = async_call_later(self.hass, BACKFILL_RETRY_S, retry)

    async def _async_flush(self) -> None:
        """On unload, write at once (a reload must find every session)."""
        await self.store.async_save(self._data())

    def _data(self) -> dict[str, Any]:
        return {**self.ledger.as_dict(self.serial), "meter": self.meter.as_dict()}

    @callback
    def _save(self) -> None:
        self.store.async_delay_save(self._data, SAVE_DELAY_S)

    @callback
    def async_add_listener(self, listener: CALLBACK_TYPE) -> CALLBACK_TYPE:
        """Call ``listener()`` when sessions were added."""
        self._listeners.append(listener)

        @callback
        def remove() -> None:
            self._listeners.remove(listener)

        return remove

    def _changed(self) -> None:
        self._save()
        for listener in list(self._listeners):
            listener()

    # ------------------------------------------------------------------------- prices
    def price(self) -> tuple[float | None, str | None]:
        """The price per kWh now and its currency, from the price entity of the options."""
        entity_id = self.entry.options.get(CONF_PRICE_ENTITY)
        if not entity_id:
            return None, None
        state = self.hass.states.get(entity_id)
        if state is None:
            return None, None
        parsed = parse_price(state.state, state.attributes.get("unit_of_measurement"))
        if parsed is None:
            if state.state not in ("unknown", "unavailable") and not self._price_warned:
                self._price_warned = True
                LOGGER.warning(
                    "%s is not a price per kWh (%s %s); sessions are not priced meanwhile",
                    entity_id,
                    state.state,
                    state.attributes.get("unit_of_measurement"),
                )
            return None, None
        return parsed

    def _solar_price(self) -> float | None:
        value = self.entry.options.get(CONF_SOLAR_ENERGY_PRICE)
        return float(value) if isinstance(value, (int, float)) else None

    # ------------------------------------------------------------------- energy flow
    @callback
    def _on_update(self) -> None:
        """Follow the session's energy (report 3 or ``E pres`` pushes) and outages."""
        coordinator = self.coordinator
        available = coordinator.last_update_success
        if available and not self._was_available:
            # The station answers again: read what it remembers of the outage.
            self._backfill("after an outage")
        self._was_available = available
        snapshot = coordinator.station.snapshot
        meter, status = snapshot.meter, snapshot.status
        if meter is None or meter.session_energy_kwh is None:
            return
        if status is not None and not status.vehicle_plugged:
            return
        session = snapshot.session
        session_id = session.session_id if session is not None and session.is_active else None
        price, currency = self.price()
        share = self.surplus_share() if self.surplus_share is not None else None
        before = self.meter.energy_kwh, self.meter.session_id
        self.meter.observe(
            meter.session_energy_kwh,
            price=price,
            currency=currency,
            session_id=session_id,
            surplus_share=share,
            solar_price=self._solar_price(),
        )
        now = time.monotonic()
        changed = (self.meter.energy_kwh, self.meter.session_id) != before
        if changed and now - self._meter_saved_at >= METER_SAVE_INTERVAL_S:
            self._meter_saved_at = now
            self._save()

    # ----------------------------------------------------------------------- sessions
    @callback
    def _on_session(self, kind: str, session: ChargingSession) -> None:
        """A session ended (report 100 read at unplug): price it and store it."""
        if kind != EVENT_SESSION_ENDED or not self._loaded:
            return
        record = record_from_session(session, observed_at=dt_util.utcnow(), serial=self.serial)
        if record is None:
            # Report 100 did not show the end yet: the station's memory (101) will.
            if not session.is_empty:
                self._backfill("session end not in report 100 yet")
            return
        if record.key in self.ledger:
            return
        known = self.ledger.last_session_id(record.serial)
        price, currency = self.price()
        record = self.meter.finish(record, price=price, currency=currency)
        self.ledger.add(record, self.cards)
        self._changed()
        if known is not None and record.session_id > known + 1:
            # Sessions ended while the integration did not hear of them.
            self._backfill("missed sessions")

    def _backfill(self, why: str) -> None:
        if not self.coordinator.capabilities.session_history:
            return
        LOGGER.debug("Reading the session memory of %s (%s)", self.coordinator.station.host, why)
        self._history_seen = False
        self.entry.async_create_background_task(
            self.hass, self._async_backfill(), f"KEBA {self.serial} backfill"
        )

    async def _async_backfill(self) -> None:
        if not await self.coordinator.async_read_history():
            self._schedule_retry()

    @callback
    def _on_history(self, latest: ChargingSession, history: list[ChargingSession]) -> None:
        """Reports 100 and 101…130 were read: add what the ledger lacks, note a gap."""
        if not self._loaded:
            self._backlog.append((latest, history))
            return
        self._history_seen = True
        self._retries_left = BACKFILL_RETRIES
        self._cancel_retry()
        now = dt_util.utcnow()
        records = records_from_history(history, observed_at=now, serial=self.serial)
        if not records:
            return
        followed = self.meter.session_id
        priced: list[SessionRecord] = []
        for record in records:
            if followed is not None and record.session_id == followed:
                # The session the meter followed, whose end was missed: finish its cost.
                price, currency = self.price()
                record = self.meter.finish(record, price=price, currency=currency)
            priced.append(record)
        result = self.ledger.merge_history(self.serial, priced, now=now, cards=self.cards)
        if result.gap is not None:
            LOGGER.warning(
                "%s forgot %s sessions (IDs %s to %s) before they could be stored",
                self.entry.title,
                result.gap.count,
                result.gap.first_missing,
                result.gap.last_missing,
            )
        if result.added or result.gap is not None:
            self._changed()
        self._surface_gaps()

    def _surface_gaps(self) -> None:
        """Tell the owner of each gap once: a repair issue that stays until dismissed."""
        for gap in list(self.ledger.gaps):
            if gap.notified:
                continue
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                f"{ISSUE_LEDGER_GAP}_{gap.serial}_{gap.first_missing}",
                is_fixable=False,
                is_persistent=True,
                severity=ir.IssueSeverity.WARNING,
                translation_key=ISSUE_LEDGER_GAP,
                translation_placeholders=gap_placeholders(self.entry.title, gap),
            )
            self.ledger.mark_notified(gap)
            self._save()


def gap_placeholders(station: str, gap: LedgerGap) -> dict[str, str]:
    """What the repair issue says about a gap."""

    def when(moment: Any) -> str:
        if moment is None:
            return "?"
        return str(dt_util.as_local(moment).strftime("%Y-%m-%d %H:%M"))

    return {
        "station": station,
        "count": str(gap.count),
        "first": str(gap.first_missing),
        "last": str(gap.last_missing),
        "after": when(gap.after),
        "before": when(gap.before),
    }
