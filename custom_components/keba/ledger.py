"""The session ledger: every ended charging session a station reported, kept for good.

A KEBA station remembers its last 30 sessions (reports 101…130, guide §3.2.10). The ledger keeps
each one beyond that, deduplicated by the station's serial and the session ID (which the station
counts up session by session and never resets), notes a gap when the station's ring buffer has
rolled over past what was stored, and answers the questions owners ask of it: which sessions in
a period, per card, what they cost, as CSV.

Pure Python (no Home Assistant): the integration stores and feeds it, the benchmark drives it.
"""

from __future__ import annotations

import bisect
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
import csv
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta, tzinfo
import io
import math
from typing import Any, Final, cast

from .kecontact import ChargingSession, TimeQuality

#: How the start and end of a session were found.
TIME_STATION: Final = "station_clock"
TIME_RECONSTRUCTED: Final = "reconstructed"
TIME_UNKNOWN: Final = "unknown"

#: ``started[s]``/``ended[s]`` above this are epoch seconds, not uptime: stations whose clock
#: was set (guide §3.2.11, the ``setdatetime`` example) and BMW wallboxes report them so.
#: 10⁹ s of uptime would be 31 years.
EPOCH_THRESHOLD: Final = 1_000_000_000

#: End reasons of report 1xx (guide §3.2.10) as words for the export.
END_REASONS: Final[Mapping[int, str]] = {
    0: "not_ended",
    1: "unplugged",
    10: "deauthorized",
}

CSV_COLUMNS: Final = (
    "date",
    "start",
    "end",
    "duration",
    "kwh",
    "meter_start_kwh",
    "meter_end_kwh",
    "card",
    "tag",
    "end_reason",
    "cost",
    "currency",
    "time_source",
)


def normalize_tag(tag: str | None) -> str | None:
    """A card's tag as the ledger compares it: lower case, without the zero padding.

    Reports pad the tag with zeros to 16 or 20 digits; an owner types it with or without them.
    An all-zero tag means no card was used.
    """
    if tag is None:
        return None
    text = tag.strip().lower().rstrip("0")
    return text or None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _from_iso(value: object) -> datetime | None:
    if type(value) is not str or not value:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=UTC)


def _opt_float(value: object) -> float | None:
    # Exact type checks: fast for thousands of stored records, and bool is not a number here.
    kind = type(value)
    if kind is float:
        number = cast(float, value)
        return number if math.isfinite(number) else None
    if kind is int:
        return float(cast(int, value))
    return None


def _opt_int(value: object) -> int | None:
    return value if type(value) is int else None


def _opt_str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


@dataclass(frozen=True, slots=True, kw_only=True)
class SessionRecord:
    """One ended session as the ledger keeps it."""

    serial: str
    session_id: int
    started: datetime | None
    ended: datetime | None
    time_source: str
    energy_kwh: float
    meter_start_kwh: float | None
    rfid_tag: str | None
    rfid_class: str | None
    end_reason: int | None
    cost: float | None = None
    currency: str | None = None
    #: Energy of the session that came from the site's surplus, when a site measured it.
    surplus_kwh: float | None = None
    #: The card name the session's tag had when the ledger recorded it (None: not yet given
    #: one). It stays with the session when the card names change later, so that a card's
    #: all-time energy never drops and a session shows the same card everywhere.
    card: str | None = None

    @property
    def key(self) -> tuple[str, int]:
        """What identifies the session: the station's serial and the session ID."""
        return (self.serial, self.session_id)

    @property
    def meter_end_kwh(self) -> float | None:
        """The station's meter at the end: ``E start`` plus the session's energy."""
        if self.meter_start_kwh is None:
            return None
        return round(self.meter_start_kwh + self.energy_kwh, 4)

    @property
    def duration_s(self) -> int | None:
        """Length in seconds, when start and end are known."""
        if self.started is None or self.ended is None:
            return None
        return max(0, int((self.ended - self.started).total_seconds()))

    @property
    def tag(self) -> str | None:
        """The normalized tag (None without a card)."""
        return normalize_tag(self.rfid_tag)

    def card_name(self, cards: CardBook) -> str:
        """The session's card: the name recorded with it, else its tag's name in ``cards``."""
        return self.card if self.card is not None else cards.name_for(self.rfid_tag)

    def as_row(self) -> list[Any]:
        """Plain data for storage: one list per session (a ledger holds thousands).

        ``[id, start, end, time source, kWh, meter start, tag, class, end reason, cost,
        currency, surplus kWh]``, times as epoch seconds. The card name is stored apart (see
        :meth:`SessionLedger.as_dict`), so that the rows stay readable by older versions.
        """
        return [
            self.session_id,
            _epoch(self.started),
            _epoch(self.ended),
            self.time_source,
            self.energy_kwh,
            self.meter_start_kwh,
            self.rfid_tag,
            self.rfid_class,
            self.end_reason,
            self.cost,
            self.currency,
            self.surplus_kwh,
        ]

    @classmethod
    def from_row(
        cls, serial: str, row: Sequence[Any], card: str | None = None
    ) -> SessionRecord | None:
        """Read back :meth:`as_row` (with the card name stored apart); None if not usable."""
        if len(row) != ROW_LENGTH or type(row[0]) is not int:
            return None
        _id, start, end, source, kwh, meter, tag, rfid_class, reason, cost, unit, pv = row
        return cls(
            serial=serial,
            session_id=row[0],
            started=_from_epoch(start),
            ended=_from_epoch(end),
            time_source=source if type(source) is str and source else TIME_UNKNOWN,
            energy_kwh=_opt_float(kwh) or 0.0,
            meter_start_kwh=_opt_float(meter),
            rfid_tag=tag if type(tag) is str and tag else None,
            rfid_class=rfid_class if type(rfid_class) is str and rfid_class else None,
            end_reason=_opt_int(reason),
            cost=_opt_float(cost),
            currency=unit if type(unit) is str and unit else None,
            surplus_kwh=_opt_float(pv),
            card=card,
        )


ROW_LENGTH: Final = 12


def _epoch(value: datetime | None) -> float | int | None:
    if value is None:
        return None
    seconds = value.timestamp()
    return int(seconds) if seconds.is_integer() else seconds


def _from_epoch(value: object) -> datetime | None:
    seconds = _opt_float(value)
    if seconds is None:
        return None
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except OverflowError, OSError, ValueError:
        return None


@dataclass(frozen=True, slots=True, kw_only=True)
class LedgerGap:
    """Sessions the station had forgotten before they could be stored."""

    serial: str
    first_missing: int
    last_missing: int
    #: End of the last stored session before the gap (None if unknown).
    after: datetime | None
    #: Start of the first recovered session after the gap (None if unknown).
    before: datetime | None
    recorded_at: datetime
    #: The owner has been told (the gap is surfaced once).
    notified: bool = False

    @property
    def count(self) -> int:
        """How many sessions were lost."""
        return self.last_missing - self.first_missing + 1

    def as_dict(self) -> dict[str, Any]:
        """Plain data for storage."""
        return {
            "first": self.first_missing,
            "last": self.last_missing,
            "after": _iso(self.after),
            "before": _iso(self.before),
            "at": _iso(self.recorded_at),
            "notified": self.notified,
        }

    @classmethod
    def from_dict(cls, serial: str, data: Mapping[str, Any]) -> LedgerGap | None:
        """Read back :meth:`as_dict`."""
        first, last = _opt_int(data.get("first")), _opt_int(data.get("last"))
        recorded = _from_iso(data.get("at"))
        if first is None or last is None or last < first or recorded is None:
            return None
        return cls(
            serial=serial,
            first_missing=first,
            last_missing=last,
            after=_from_iso(data.get("after")),
            before=_from_iso(data.get("before")),
            recorded_at=recorded,
            notified=bool(data.get("notified")),
        )


# ------------------------------------------------------------------ from the station's reports
def _synced(quality: TimeQuality | None) -> bool:
    """``timeQ`` 2 (weak) or strong; a report without ``timeQ`` (old firmware) is believed."""
    return quality is not TimeQuality.NOT_SYNCED


def _session_times(
    session: ChargingSession, observed_at: datetime
) -> tuple[datetime | None, datetime | None, str]:
    """Start, end and how they were found, for one report 1xx read at ``observed_at``."""
    if session.started is not None and session.ended is not None and _synced(session.time_quality):
        return session.started, session.ended, TIME_STATION
    start_s, end_s = session.started_uptime_s, session.ended_uptime_s
    if start_s is None or end_s is None or end_s < start_s:
        return None, None, TIME_UNKNOWN
    if start_s >= EPOCH_THRESHOLD:
        if not _synced(session.time_quality):
            return None, None, TIME_UNKNOWN
        return (
            datetime.fromtimestamp(start_s, UTC),
            datetime.fromtimestamp(end_s, UTC),
            TIME_STATION,
        )
    uptime = session.uptime_s
    if uptime is None or end_s > uptime:
        # Ended before the station's last restart: its uptime then cannot be placed.
        return None, None, TIME_UNKNOWN
    boot = observed_at - timedelta(seconds=uptime)
    return (
        boot + timedelta(seconds=start_s),
        boot + timedelta(seconds=end_s),
        TIME_RECONSTRUCTED,
    )


def record_from_session(
    session: ChargingSession, *, observed_at: datetime, serial: str | None = None
) -> SessionRecord | None:
    """The ledger's record of an ended session (report 100 after its end, or 101…130).

    ``serial`` is the station as the caller knows it (it wins over the report's ``Serial``).
    None for an empty slot, a session still running, or one without a session ID.
    """
    station_serial = serial or session.serial
    if session.is_empty or session.session_id is None or not station_serial:
        return None
    ended = (session.end_reason_raw or 0) != 0 or bool(session.ended_uptime_s)
    if not ended:
        return None
    started, ended_at, source = _session_times(session, observed_at)
    return SessionRecord(
        serial=station_serial,
        session_id=session.session_id,
        started=started,
        ended=ended_at,
        time_source=source,
        energy_kwh=round(session.energy_kwh or 0.0, 4),
        meter_start_kwh=session.energy_start_kwh,
        rfid_tag=session.rfid_tag_used,
        rfid_class=session.rfid_class if session.rfid_used else None,
        end_reason=session.end_reason_raw,
    )


def records_from_history(
    sessions: Sequence[ChargingSession], *, observed_at: datetime, serial: str | None = None
) -> list[SessionRecord]:
    """Records of reports 101…130 (newest first), with uptime times checked against each other.

    A station that restarted since counts uptime anew: a session reconstructed to end after the
    next newer one started happened before that restart, and so did every older one — their
    times are unknown rather than wrong.
    """
    records: list[SessionRecord] = []
    newer_start: datetime | None = None
    previous_boot = False
    for session in sessions:
        record = record_from_session(session, observed_at=observed_at, serial=serial)
        if record is None:
            continue
        if record.time_source == TIME_RECONSTRUCTED:
            late = (
                newer_start is not None and record.ended is not None and record.ended > newer_start
            )
            if previous_boot or late:
                previous_boot = True
                record = replace(record, started=None, ended=None, time_source=TIME_UNKNOWN)
        if record.started is not None:
            newer_start = record.started
        records.append(record)
    return records


# ------------------------------------------------------------------------------------ cards
@dataclass(frozen=True, slots=True)
class CardBook:
    """Names of RFID cards; one default name for unknown tags and sessions without a tag."""

    names: Mapping[str, str] = field(default_factory=dict)
    default_name: str = "Other"

    @classmethod
    def from_pairs(cls, pairs: Iterable[tuple[str, str]], default_name: str) -> CardBook:
        """Build from (tag, name) pairs; tags are normalized, empty ones dropped."""
        names: dict[str, str] = {}
        for tag, name in pairs:
            key = normalize_tag(tag)
            if key and name.strip():
                names[key] = name.strip()
        return cls(names, default_name.strip() or "Other")

    def name_for(self, tag: str | None) -> str:
        """The card name of a session's tag."""
        key = normalize_tag(tag)
        if key is None:
            return self.default_name
        return self.names.get(key, self.default_name)

    @property
    def card_names(self) -> list[str]:
        """Every card name, the default one last, each once."""
        seen: dict[str, None] = {}
        for name in self.names.values():
            seen.setdefault(name, None)
        seen.setdefault(self.default_name, None)
        return list(seen)

    def matcher(
        self, name: str, key: Callable[[str], str] | None = None
    ) -> Callable[[SessionRecord], bool]:
        """A filter for the sessions of card ``name`` (by :meth:`SessionRecord.card_name`).

        With ``key``, sessions of every name with the same key as ``name`` match.
        """
        if key is None:
            return lambda record: record.card_name(self) == name
        wanted = key(name)
        return lambda record: key(record.card_name(self)) == wanted


# ------------------------------------------------------------------------------------- cost
@dataclass(slots=True)
class CostMeter:
    """Prices a running session over its energy as it flows (``E pres`` between polls).

    Each increment is priced at the price of the moment, so a dynamic tariff comes out right.
    A share of an increment that came from the site's surplus is priced at the price of own
    solar energy when one is set (otherwise at the same price as the rest). Energy seen while no
    price was known is priced when the session ends, at the price then.
    """

    session_id: int | None = None
    energy_kwh: float = 0.0
    cost: float = 0.0
    priced: bool = False
    unpriced_kwh: float = 0.0
    surplus_kwh: float = 0.0
    surplus_known: bool = False
    currency: str | None = None

    def reset(self, session_id: int | None = None) -> None:
        """Start a new session."""
        self.session_id = session_id
        self.energy_kwh = 0.0
        self.cost = 0.0
        self.priced = False
        self.unpriced_kwh = 0.0
        self.surplus_kwh = 0.0
        self.surplus_known = False
        self.currency = None

    def observe(
        self,
        energy_kwh: float,
        *,
        price: float | None,
        currency: str | None = None,
        session_id: int | None = None,
        surplus_share: float | None = None,
        solar_price: float | None = None,
    ) -> None:
        """The session's energy is now ``energy_kwh``; price what flowed since last time."""
        if not math.isfinite(energy_kwh) or energy_kwh < 0:
            return
        if session_id is not None and self.session_id not in (None, session_id):
            self.reset(session_id)
        elif energy_kwh + 1e-9 < self.energy_kwh:
            # E pres starts at 0 with every session: a drop is a new session.
            self.reset(session_id)
        if session_id is not None:
            self.session_id = session_id
        delta = energy_kwh - self.energy_kwh
        self.energy_kwh = energy_kwh
        if delta <= 0:
            return
        self._add(delta, price, currency, surplus_share, solar_price)

    def _add(
        self,
        delta: float,
        price: float | None,
        currency: str | None,
        surplus_share: float | None,
        solar_price: float | None,
    ) -> None:
        share = 0.0
        if surplus_share is not None and math.isfinite(surplus_share):
            share = min(1.0, max(0.0, surplus_share))
            self.surplus_kwh += delta * share
            self.surplus_known = True
        if price is None or not math.isfinite(price):
            self.unpriced_kwh += delta
            return
        own = solar_price if solar_price is not None and math.isfinite(solar_price) else price
        self.cost += delta * (1.0 - share) * price + delta * share * own
        self.priced = True
        if currency:
            self.currency = currency

    def finish(
        self,
        record: SessionRecord,
        *,
        price: float | None,
        currency: str | None = None,
    ) -> SessionRecord:
        """The ended session with its cost (and surplus); the meter starts afresh."""
        if self.session_id not in (None, record.session_id):
            self.reset(record.session_id)
        unpriced = self.unpriced_kwh + max(0.0, record.energy_kwh - self.energy_kwh)
        price_ok = price is not None and math.isfinite(price)
        if unpriced > 1e-9:
            if price_ok and price is not None:
                self.cost += unpriced * price
                self.priced = True
                self.currency = self.currency or currency
            else:
                # Part of the energy has no price: an incomplete cost would mislead.
                self.priced = False
        elif price_ok and not self.priced:
            self.priced = True
            self.currency = self.currency or currency
        cost = round(self.cost, 4) if self.priced else None
        unit = self.currency if cost is not None else None
        surplus = round(self.surplus_kwh, 4) if self.surplus_known else None
        self.reset()
        return replace(record, cost=cost, currency=unit, surplus_kwh=surplus)

    def as_dict(self) -> dict[str, Any]:
        """Plain data for storage (a session may run across a restart)."""
        return {
            "id": self.session_id,
            "kwh": self.energy_kwh,
            "cost": self.cost,
            "priced": self.priced,
            "unpriced": self.unpriced_kwh,
            "pv": self.surplus_kwh,
            "pv_known": self.surplus_known,
            "cur": self.currency,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> CostMeter:
        """Read back :meth:`as_dict`; anything unusable gives a fresh meter."""
        return cls(
            session_id=_opt_int(data.get("id")),
            energy_kwh=_opt_float(data.get("kwh")) or 0.0,
            cost=_opt_float(data.get("cost")) or 0.0,
            priced=bool(data.get("priced")),
            unpriced_kwh=_opt_float(data.get("unpriced")) or 0.0,
            surplus_kwh=_opt_float(data.get("pv")) or 0.0,
            surplus_known=bool(data.get("pv_known")),
            currency=_opt_str(data.get("cur")),
        )


# ----------------------------------------------------------------------------------- ledger
@dataclass(frozen=True, slots=True)
class MergeResult:
    """What adding a station's history changed."""

    added: list[SessionRecord]
    gap: LedgerGap | None


def _reaches(record: SessionRecord, start: datetime) -> bool:
    """The session ran at or after ``start``."""
    if record.started is not None and record.started >= start:
        return True
    end = record.ended or record.started
    return end is not None and end > start


def _sort_time(record: SessionRecord) -> float:
    when = record.started or record.ended
    return when.timestamp() if when is not None else -math.inf


class _Entry:
    """A stored session: its sort time, its row, its card name, and its record once asked for.

    Records are built from the rows on demand, so that loading thousands of sessions at
    start-up costs little more than reading the file.
    """

    __slots__ = ("card", "record", "row", "serial", "time")

    def __init__(
        self,
        time: float,
        serial: str,
        row: list[Any],
        record: SessionRecord | None,
        card: str | None,
    ) -> None:
        self.time = time
        self.serial = serial
        self.row = row
        self.record = record
        self.card = card

    @classmethod
    def of(cls, record: SessionRecord) -> _Entry:
        return cls(_sort_time(record), record.serial, record.as_row(), record, record.card)

    @property
    def tag(self) -> str | None:
        tag = self.row[6]
        return normalize_tag(tag) if type(tag) is str else None

    def get(self) -> SessionRecord:
        record = self.record
        if record is None:
            record = SessionRecord.from_row(self.serial, self.row, self.card)
            assert record is not None  # rows are checked when loaded
            self.record = record
        return record


def _with_card(record: SessionRecord, cards: CardBook | None) -> SessionRecord:
    """``record`` with its tag's card name in ``cards``, unless it has one (or no ``cards``)."""
    if record.card is not None or cards is None:
        return record
    return replace(record, card=cards.name_for(record.rfid_tag))


def _row_ok(row: object) -> bool:
    return type(row) is list and len(row) == ROW_LENGTH and type(row[0]) is int


def _row_time(row: list[Any]) -> float:
    start, end = row[1], row[2]
    when = start if start is not None else end
    if type(when) not in (int, float) or not math.isfinite(when):
        return -math.inf
    return float(when)


class SessionLedger:
    """The sessions of one or more stations, by serial and session ID, in time order."""

    def __init__(
        self, records: Iterable[SessionRecord] = (), gaps: Iterable[LedgerGap] = ()
    ) -> None:
        """Start with ``records`` and ``gaps``."""
        self._entries: dict[tuple[str, int], _Entry] = {}
        self._max_id: dict[str, int] = {}
        #: All-time energy by (card name recorded, normalized tag).
        self._energy: dict[tuple[str | None, str | None], float] = {}
        self._max_duration_s = 0.0
        self._ordered: list[_Entry] = []
        self._times: list[float] = []
        self.gaps: list[LedgerGap] = list(gaps)
        for record in records:
            key = record.key
            if key not in self._entries:
                self._put(_Entry.of(record))
        self._sort()

    def _sort(self) -> None:
        self._ordered = sorted(self._entries.values(), key=lambda entry: entry.time)
        self._times = [entry.time for entry in self._ordered]

    def __len__(self) -> int:
        """Number of sessions."""
        return len(self._entries)

    def __contains__(self, key: object) -> bool:
        """A (serial, session ID) pair is stored."""
        return key in self._entries

    def _put(self, entry: _Entry) -> None:
        row = entry.row
        session_id: int = row[0]
        self._entries[(entry.serial, session_id)] = entry
        if session_id > self._max_id.get(entry.serial, -1):
            self._max_id[entry.serial] = session_id
        self._count_energy(entry)
        start, end = row[1], row[2]
        if type(start) in (int, float) and type(end) in (int, float):
            duration = float(end) - float(start)
            if math.isfinite(duration) and duration > self._max_duration_s:
                self._max_duration_s = duration

    def _count_energy(self, entry: _Entry) -> None:
        bucket = (entry.card, entry.tag)
        self._energy[bucket] = self._energy.get(bucket, 0.0) + (_opt_float(entry.row[4]) or 0.0)

    @property
    def records(self) -> list[SessionRecord]:
        """Every session, oldest first (those of unknown time first of all)."""
        return [entry.get() for entry in self._ordered]

    def get(self, serial: str, session_id: int) -> SessionRecord | None:
        """One stored session."""
        entry = self._entries.get((serial, session_id))
        return entry.get() if entry is not None else None

    def latest(self, serial: str | None = None) -> SessionRecord | None:
        """The newest session of known time."""
        for entry in reversed(self._ordered):
            if entry.time == -math.inf:
                return None
            if serial is None or entry.serial == serial:
                return entry.get()
        return None

    def last_session_id(self, serial: str) -> int | None:
        """The newest stored session ID of a station."""
        return self._max_id.get(serial)

    def add(self, record: SessionRecord, cards: CardBook | None = None) -> bool:
        """Store an ended session; False if it is stored already (the first record stays).

        With ``cards``, a record without a card name gets its tag's name in ``cards`` (the
        names in force now), which then stays with it.
        """
        if record.key in self._entries:
            return False
        entry = _Entry.of(_with_card(record, cards))
        self._put(entry)
        index = bisect.bisect_right(self._times, entry.time)
        self._times.insert(index, entry.time)
        self._ordered.insert(index, entry)
        return True

    def merge_history(
        self,
        serial: str,
        records: Sequence[SessionRecord],
        *,
        now: datetime,
        cards: CardBook | None = None,
    ) -> MergeResult:
        """Add what the station remembers (reports 101…130) and find what it forgot.

        ``cards`` names the added sessions' cards as in :meth:`add`.

        Session IDs count up by one per session (guide §3.2.10): when the oldest session the
        station still holds is more than one past the newest stored one, those in between are
        lost. A station never seen before has no gap.
        """
        known = self.last_session_id(serial)
        ours = [record for record in records if record.serial == serial]
        newer = sorted(
            (record for record in ours if known is None or record.session_id > known),
            key=lambda record: record.session_id,
        )
        gap: LedgerGap | None = None
        if known is not None and newer and newer[0].session_id > known + 1:
            first, last = known + 1, newer[0].session_id - 1
            if not any(g.serial == serial and g.first_missing == first for g in self.gaps):
                previous = self.get(serial, known)
                gap = LedgerGap(
                    serial=serial,
                    first_missing=first,
                    last_missing=last,
                    after=previous.ended if previous is not None else None,
                    before=newer[0].started,
                    recorded_at=now,
                )
                self.gaps.append(gap)
        named = [_with_card(record, cards) for record in ours]
        added = [record for record in named if self.add(record)]
        return MergeResult(added=added, gap=gap)

    def mark_notified(self, gap: LedgerGap) -> LedgerGap:
        """Note that the owner was told about ``gap``."""
        done = replace(gap, notified=True)
        self.gaps = [done if g == gap else g for g in self.gaps]
        return done

    def attribute(self, cards: CardBook) -> int:
        """Give every session without a card name its tag's name in ``cards``, for good.

        For sessions stored before card names were recorded with them. Returns how many.
        """
        named = 0
        for entry in self._entries.values():
            if entry.card is not None:
                continue
            entry.card = cards.name_for(entry.tag)
            if entry.record is not None:
                entry.record = replace(entry.record, card=entry.card)
            named += 1
        if named:
            self._energy = {}
            for entry in self._entries.values():
                self._count_energy(entry)
        return named

    @property
    def recorded_cards(self) -> list[str]:
        """The card names sessions were recorded under, sorted."""
        return sorted({card for card, _tag in self._energy if card is not None})

    def energy_by_card(
        self, cards: CardBook, *, key: Callable[[str], str] | None = None
    ) -> dict[str, float]:
        """All-time energy per card name of ``cards`` (every one present, 0 if unused).

        A session counts for the card name recorded with it (a session without one: its tag's
        name in ``cards``), so naming, renaming or removing a card never lowers a total; a new
        name starts from the sessions recorded under it. With ``key``, a name also counts the
        sessions recorded under every name of the same key (a sensor identified by the name's
        slug keeps its total when the name is only spelled differently).
        """
        totals: dict[str, float] = {}
        for (card, tag), energy in self._energy.items():
            name = card if card is not None else cards.name_for(tag)
            group = key(name) if key is not None else name
            totals[group] = totals.get(group, 0.0) + energy
        return {
            name: round(totals.get(key(name) if key is not None else name, 0.0), 4)
            for name in cards.card_names
        }

    def query(
        self,
        start: datetime | None = None,
        end: datetime | None = None,
        *,
        serial: str | None = None,
        where: Callable[[SessionRecord], bool] | None = None,
        overlapping: bool = False,
    ) -> list[SessionRecord]:
        """Sessions that started in [start, end), oldest first.

        With ``overlapping`` also those that started earlier and ran into the period (a
        calendar's view). Without a period, sessions of unknown time are included.
        """
        if start is None and end is None:
            entries = self._ordered
        else:
            low_time = start.timestamp() if start is not None else -math.inf
            if overlapping and start is not None:
                low_time -= self._max_duration_s
            low = bisect.bisect_left(self._times, low_time)
            if start is None:
                # Unknown times sort first, as -inf: a period never includes them.
                low = bisect.bisect_right(self._times, -math.inf)
            high = (
                bisect.bisect_left(self._times, end.timestamp())
                if end is not None
                else len(self._times)
            )
            entries = self._ordered[low:high]
        selected = [entry.get() for entry in entries if serial is None or entry.serial == serial]
        if overlapping and start is not None:
            selected = [record for record in selected if _reaches(record, start)]
        if where is not None:
            selected = [record for record in selected if where(record)]
        return selected

    def as_dict(self, serial: str) -> dict[str, Any]:
        """One station's part of the ledger as plain data for storage.

        ``sessions``: the rows by session ID; ``cards``: the session IDs per card name recorded
        (kept apart from the rows, which older versions read); ``gaps``.
        """
        entries = sorted(
            (entry for entry in self._entries.values() if entry.serial == serial),
            key=lambda entry: entry.row[0],
        )
        cards: dict[str, list[int]] = {}
        for entry in entries:
            if entry.card is not None:
                cards.setdefault(entry.card, []).append(entry.row[0])
        return {
            "sessions": [entry.row for entry in entries],
            "cards": cards,
            "gaps": [gap.as_dict() for gap in self.gaps if gap.serial == serial],
        }

    @classmethod
    def from_dict(cls, serial: str, data: Mapping[str, Any]) -> SessionLedger:
        """Read back :meth:`as_dict`, skipping unusable entries (and a session stored twice).

        Sessions of a store without ``cards`` (older versions) have no card name yet.
        """
        sessions = data.get("sessions")
        gaps = data.get("gaps")
        cards = data.get("cards")
        card_of: dict[int, str] = {}
        for name, ids in cards.items() if isinstance(cards, dict) else ():
            if isinstance(name, str) and name and isinstance(ids, list):
                for session_id in ids:
                    if type(session_id) is int:
                        card_of[session_id] = name
        ledger = cls(
            (),
            [
                gap
                for item in (gaps if isinstance(gaps, list) else [])
                if isinstance(item, Mapping) and (gap := LedgerGap.from_dict(serial, item))
            ],
        )
        entries = ledger._entries
        for row in sessions if isinstance(sessions, list) else []:
            if not _row_ok(row) or (serial, row[0]) in entries:
                continue
            ledger._put(_Entry(_row_time(row), serial, row, None, card_of.get(row[0])))
        ledger._sort()
        return ledger


# ------------------------------------------------------------------------------ aggregation
def total_energy(records: Iterable[SessionRecord]) -> float:
    """Sum of the sessions' energy in kWh."""
    return round(sum(record.energy_kwh for record in records), 4)


def total_cost(records: Iterable[SessionRecord]) -> float | None:
    """Sum of the sessions' known costs; None when none has a cost."""
    costs = [record.cost for record in records if record.cost is not None]
    return round(sum(costs), 4) if costs else None


def month_start(moment: datetime) -> datetime:
    """Midnight of the first day of ``moment``'s month, in its time zone."""
    return moment.replace(day=1, hour=0, minute=0, second=0, microsecond=0)


# ----------------------------------------------------------------------------------- export
def _duration_text(seconds: int | None) -> str:
    if seconds is None:
        return ""
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


def _number(value: float | None, digits: int) -> str:
    return "" if value is None else f"{value:.{digits}f}"


def export_csv(records: Iterable[SessionRecord], cards: CardBook, zone: tzinfo) -> str:
    """The sessions as CSV (header + one row each), times in ``zone``."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_COLUMNS)
    for record in records:
        start = record.started.astimezone(zone) if record.started else None
        end = record.ended.astimezone(zone) if record.ended else None
        writer.writerow(
            (
                start.date().isoformat() if start else "",
                start.strftime("%H:%M:%S") if start else "",
                end.strftime("%Y-%m-%d %H:%M:%S") if end else "",
                _duration_text(record.duration_s),
                _number(record.energy_kwh, 3),
                _number(record.meter_start_kwh, 3),
                _number(record.meter_end_kwh, 3),
                record.card_name(cards),
                record.rfid_tag or "",
                END_REASONS.get(record.end_reason, str(record.end_reason))
                if record.end_reason is not None
                else "",
                _number(record.cost, 2),
                record.currency or "",
                record.time_source,
            )
        )
    return out.getvalue()


def parse_card_lines(text: str) -> tuple[list[tuple[str, str]], list[str]]:
    """``tag = name`` lines of the options into pairs; returns them and the bad lines."""
    pairs: list[tuple[str, str]] = []
    bad: list[str] = []
    for raw in text.splitlines():
        line = raw.strip()
        if not line:
            continue
        tag, sep, name = line.partition("=")
        tag, name = tag.strip(), name.strip()
        if not sep or not tag or not name or not _is_hex(tag):
            bad.append(line)
            continue
        pairs.append((tag.lower(), name))
    return pairs, bad


def _is_hex(text: str) -> bool:
    return len(text) <= 20 and all(char in "0123456789abcdefABCDEF" for char in text)


def seen_tags(records: Collection[SessionRecord]) -> list[str]:
    """Tags that charged, newest first, each once (to help naming cards)."""
    seen: dict[str, None] = {}
    for record in reversed(list(records)):
        if record.tag:
            seen.setdefault(record.tag, None)
    return list(seen)
