"""The session ledger's pure logic: records, deduplication, gaps, cost, cards, queries, CSV."""

from __future__ import annotations

import csv
from datetime import UTC, datetime, timedelta
import io
import random
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from custom_components.keba.kecontact import ChargingSession
from custom_components.keba.ledger import (
    CSV_COLUMNS,
    TIME_RECONSTRUCTED,
    TIME_STATION,
    TIME_UNKNOWN,
    CardBook,
    CostMeter,
    SessionLedger,
    SessionRecord,
    export_csv,
    normalize_tag,
    parse_card_lines,
    record_from_session,
    records_from_history,
    total_cost,
    total_energy,
)

SERIAL = "18039974"
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def report(session_id: int, **fields: Any) -> ChargingSession:
    """A report 1xx of an ended session (clock synced unless fields say otherwise)."""
    data: dict[str, Any] = {
        "ID": "101",
        "Session ID": session_id,
        "Curr HW": 16000,
        "E start": 1_000_000,
        "E pres": 70000,
        "started[s]": 1000,
        "ended[s]": 4600,
        "started": "2026-11-01 08:00:00.000",
        "ended": "2026-11-01 09:00:00.000",
        "reason": 1,
        "timeQ": 3,
        "RFID tag": "0000000000000000",
        "RFID class": "00000000000000000000",
        "Serial": SERIAL,
        "Sec": 10000,
    }
    data.update(fields)
    return ChargingSession.from_report(data)


def record(session_id: int, start: datetime | None, **changes: Any) -> SessionRecord:
    """A stored session of one hour and 7 kWh."""
    values: dict[str, Any] = {
        "serial": SERIAL,
        "session_id": session_id,
        "started": start,
        "ended": start + timedelta(hours=1) if start else None,
        "time_source": TIME_STATION,
        "energy_kwh": 7.0,
        "meter_start_kwh": 100.0 + 7 * session_id,
        "rfid_tag": None,
        "rfid_class": None,
        "end_reason": 1,
    }
    values.update(changes)
    return SessionRecord(**values)


# ---------------------------------------------------------------------------------- records
def test_record_with_a_synced_clock_uses_the_station_times() -> None:
    """TimeQ 3: start and end as the station wrote them; meter end = E start + energy."""
    rec = record_from_session(report(7, **{"RFID tag": "04a1b2c3d4e5f600"}), observed_at=T0)
    assert rec is not None
    assert rec.time_source == TIME_STATION
    assert (rec.started, rec.ended) == (T0, T0 + timedelta(hours=1))
    assert (rec.energy_kwh, rec.meter_start_kwh, rec.meter_end_kwh) == (7.0, 100.0, 107.0)
    assert rec.duration_s == 3600
    assert rec.rfid_tag == "04a1b2c3d4e5f600"
    assert rec.tag == "04a1b2c3d4e5f6"


def test_unsynced_clock_is_reconstructed_from_uptime() -> None:
    """TimeQ 0: the dates are the station's build time; uptime places the session instead."""
    observed = datetime(2026, 11, 5, 12, 0, tzinfo=UTC)
    session = report(
        8,
        timeQ=0,
        started="2019-01-01 00:00:00.000",
        ended="2019-01-01 01:00:00.000",
        **{"started[s]": 1000, "ended[s]": 4600, "Sec": 10000},
    )
    rec = record_from_session(session, observed_at=observed)
    assert rec is not None
    assert rec.time_source == TIME_RECONSTRUCTED
    boot = observed - timedelta(seconds=10000)
    assert rec.started == boot + timedelta(seconds=1000)
    assert rec.ended == boot + timedelta(seconds=4600)


def test_epoch_seconds_in_uptime_fields_are_dates() -> None:
    """A BMW wallbox (and a clock set by setdatetime) reports epoch seconds in started[s]."""
    session = report(
        9,
        started="0",
        ended="0",
        timeQ=2,
        **{"started[s]": 1_790_000_000, "ended[s]": 1_790_003_600},
    )
    rec = record_from_session(session, observed_at=T0)
    assert rec is not None
    assert rec.time_source == TIME_STATION
    assert rec.started == datetime.fromtimestamp(1_790_000_000, UTC)
    assert rec.duration_s == 3600


def test_session_before_the_last_restart_has_unknown_times() -> None:
    """Ended at uptime 50 000 while the station is up for 10 000 s: not placeable."""
    session = report(
        10, timeQ=0, started="1000", ended="50000", **{"started[s]": 1000, "ended[s]": 50000}
    )
    rec = record_from_session(session, observed_at=T0)
    assert rec is not None
    assert (rec.started, rec.ended, rec.time_source) == (None, None, TIME_UNKNOWN)


def test_history_finds_the_restart_by_order() -> None:
    """Newest first: an older session reconstructed to end after a newer one began is stale."""
    unsynced = {"timeQ": 0, "started": "x", "ended": "y", "Sec": 20000}
    history = [
        report(12, **unsynced, **{"started[s]": 5000, "ended[s]": 6000}),
        # Before a restart: its uptime happens to fit, but it would end after #12 started.
        report(11, **unsynced, **{"started[s]": 7000, "ended[s]": 8000}),
        report(10, **unsynced, **{"started[s]": 100, "ended[s]": 200}),
    ]
    records = records_from_history(history, observed_at=T0)
    assert [r.time_source for r in records] == [TIME_RECONSTRUCTED, TIME_UNKNOWN, TIME_UNKNOWN]


def test_running_and_empty_sessions_are_not_records() -> None:
    """Reason 0 without an end, and an all-zero slot, are not ended sessions."""
    assert record_from_session(report(5, reason=0, **{"ended[s]": 0}), observed_at=T0) is None
    empty = report(0, **{"Session ID": 0, "started[s]": 0, "E pres": 0, "ended[s]": 0})
    assert record_from_session(empty, observed_at=T0) is None


# ---------------------------------------------------------------------- dedup and gaps
def test_merge_deduplicates_and_records_a_gap_once() -> None:
    """Stored 1…10; the station now holds 16…45: 30 added, 11…15 lost, noted once."""
    ledger = SessionLedger([record(n, T0 + timedelta(days=n)) for n in range(1, 11)])
    station = [record(n, T0 + timedelta(days=n)) for n in range(45, 15, -1)]
    result = ledger.merge_history(SERIAL, station, now=T0)
    assert len(result.added) == 30
    assert len(ledger) == 40
    gap = result.gap
    assert gap is not None
    assert (gap.first_missing, gap.last_missing, gap.count) == (11, 15, 5)
    assert gap.after == T0 + timedelta(days=10, hours=1)
    assert gap.before == T0 + timedelta(days=16)
    # The same memory read again (a restart, a reload): nothing new, no second gap.
    again = ledger.merge_history(SERIAL, station, now=T0)
    assert (again.added, again.gap) == ([], None)
    assert len(ledger.gaps) == 1


def test_no_gap_when_sessions_follow_on() -> None:
    """Stored 1…10; the station holds 5…12: 11 and 12 added, nothing lost."""
    ledger = SessionLedger([record(n, T0 + timedelta(days=n)) for n in range(1, 11)])
    result = ledger.merge_history(
        SERIAL, [record(n, T0 + timedelta(days=n)) for n in range(12, 4, -1)], now=T0
    )
    assert [r.session_id for r in result.added] == [12, 11]
    assert result.gap is None


def test_first_read_of_a_station_is_no_gap() -> None:
    """A ledger that never saw the station cannot have lost anything."""
    ledger = SessionLedger()
    result = ledger.merge_history(SERIAL, [record(100, T0)], now=T0)
    assert result.gap is None
    assert len(ledger) == 1


def test_storage_round_trip() -> None:
    """Records and gaps survive as_dict/from_dict unchanged."""
    ledger = SessionLedger([record(1, T0, rfid_tag="04aa", cost=2.1, currency="EUR")])
    ledger.merge_history(SERIAL, [record(5, T0 + timedelta(days=2))], now=T0)
    back = SessionLedger.from_dict(SERIAL, ledger.as_dict(SERIAL))
    assert back.records == ledger.records
    assert back.gaps == ledger.gaps
    # Junk in storage is skipped, not fatal.
    junk = SessionLedger.from_dict(
        SERIAL, {"sessions": [{"id": 1}, 3, ["x", *range(11)], [1, 2]], "gaps": [{}]}
    )
    assert len(junk) == 0
    # Odd values inside a row give unknown fields, not errors; a session stored twice, one.
    row = [9, "soon", float("nan"), 5, "7", None, 1, None, "1", None, None, None]
    odd = SessionLedger.from_dict(SERIAL, {"sessions": [row, row]})
    (only,) = odd.records
    assert (only.started, only.ended, only.energy_kwh, only.rfid_tag) == (None, None, 0.0, None)
    assert only.time_source == TIME_UNKNOWN


# ---------------------------------------------------------------------------------- cost
def test_cost_follows_a_changing_price() -> None:
    """2 kWh at 0.30, 3 kWh at 0.50, the last 1 kWh (after the last poll) at the end price."""
    meter = CostMeter()
    meter.observe(0.0, price=0.30, currency="EUR", session_id=7)
    meter.observe(2.0, price=0.30, currency="EUR", session_id=7)
    meter.observe(5.0, price=0.50, currency="EUR", session_id=7)
    ended = meter.finish(record(7, T0, energy_kwh=6.0), price=0.40, currency="EUR")
    assert ended.cost == pytest.approx(2 * 0.30 + 3 * 0.50 + 1 * 0.40)
    assert ended.currency == "EUR"
    assert ended.surplus_kwh is None
    assert meter.energy_kwh == 0.0


def test_surplus_share_and_own_solar_price() -> None:
    """Half of 4 kWh from surplus at 0.08, the rest at 0.30; the surplus energy is kept."""
    meter = CostMeter()
    meter.observe(4.0, price=0.30, currency="EUR", surplus_share=0.5, solar_price=0.08)
    ended = meter.finish(record(1, T0, energy_kwh=4.0), price=0.30, currency="EUR")
    assert ended.cost == pytest.approx(2 * 0.30 + 2 * 0.08)
    assert ended.surplus_kwh == pytest.approx(2.0)


def test_energy_without_a_price_gives_no_cost() -> None:
    """Energy that cannot be priced makes the cost unknown, never a wrong number."""
    meter = CostMeter()
    meter.observe(3.0, price=None)
    assert meter.finish(record(1, T0, energy_kwh=3.0), price=None).cost is None
    # A price known by the end prices what flowed meanwhile.
    meter.observe(3.0, price=None)
    assert meter.finish(record(2, T0, energy_kwh=3.0), price=0.25, currency="EUR").cost == (
        pytest.approx(0.75)
    )


def test_a_new_session_resets_the_meter_and_it_survives_storage() -> None:
    """E pres drops with a new session; the meter's state round-trips (restart mid-session)."""
    meter = CostMeter()
    meter.observe(9.0, price=0.3, session_id=3)
    meter.observe(1.0, price=0.3)
    assert meter.cost == pytest.approx(0.3)
    back = CostMeter.from_dict(meter.as_dict())
    back.observe(2.0, price=0.5)
    assert back.cost == pytest.approx(0.8)
    assert CostMeter.from_dict({"kwh": "junk"}).energy_kwh == 0.0


# --------------------------------------------------------------------------------- cards
def test_card_names_and_the_default() -> None:
    """Tags match with or without padding and case; others and no tag get the default."""
    cards = CardBook.from_pairs(
        [("04A1B2C3D4E5F600", "Company car"), ("0badcafe", "Anna"), ("", "x")], "Guests"
    )
    assert cards.name_for("04a1b2c3d4e5f60000000") == "Company car"
    assert cards.name_for("0BADCAFE00000000") == "Anna"
    assert cards.name_for("1234") == "Guests"
    assert cards.name_for(None) == "Guests"
    assert cards.card_names == ["Company car", "Anna", "Guests"]
    assert normalize_tag("0000000000000000") is None


def test_card_lines_of_the_options() -> None:
    """``tag = name`` per line; bad lines are reported."""
    pairs, bad = parse_card_lines("04a1b2c3 = Company car\n\n  0bad = Anna  \nnot hex = X\nabc")
    assert pairs == [("04a1b2c3", "Company car"), ("0bad", "Anna")]
    assert bad == ["not hex = X", "abc"]


def test_energy_by_card() -> None:
    """All-time energy per card; unused cards show 0."""
    cards = CardBook.from_pairs([("aa", "Company car"), ("bb", "Anna")], "Other")
    ledger = SessionLedger(
        [
            record(1, T0, rfid_tag="aa00", energy_kwh=10.0),
            record(2, T0 + timedelta(days=1), rfid_tag="cc", energy_kwh=3.0),
            record(3, T0 + timedelta(days=2), energy_kwh=2.5),
        ]
    )
    assert ledger.energy_by_card(cards) == {"Company car": 10.0, "Anna": 0.0, "Other": 5.5}


def test_a_session_keeps_the_card_name_it_was_recorded_under() -> None:
    """Naming, renaming and removing a card never lowers a total; a new name starts at 0.

    Totals that dropped would read as meter resets to Home Assistant's statistics (and the
    whole value would be counted again).
    """
    unnamed = CardBook.from_pairs([], "Other")
    ledger = SessionLedger()
    ledger.add(record(1, T0, rfid_tag="aa00", energy_kwh=10.0), unnamed)
    ledger.merge_history(
        SERIAL,
        [record(2, T0 + timedelta(days=1), rfid_tag="bb", energy_kwh=3.0)],
        now=T0,
        cards=unnamed,
    )
    assert ledger.energy_by_card(unnamed) == {"Other": 13.0}

    # The owner names tag aa: its earlier session stays with "Other".
    named = CardBook.from_pairs([("aa", "Anna")], "Other")
    assert ledger.energy_by_card(named) == {"Anna": 0.0, "Other": 13.0}
    ledger.add(record(3, T0 + timedelta(days=2), rfid_tag="aa", energy_kwh=4.0), named)
    ledger.add(record(4, T0 + timedelta(days=3), rfid_tag="cc", energy_kwh=1.0), named)
    assert ledger.energy_by_card(named) == {"Anna": 4.0, "Other": 14.0}
    assert [r.card for r in ledger.records] == ["Other", "Other", "Anna", "Other"]
    assert [r.session_id for r in ledger.query(where=named.matcher("Anna"))] == [3]

    # Renamed: the new name counts from now on; the old one is still what the sessions say.
    renamed = CardBook.from_pairs([("aa", "Anne")], "Other")
    assert ledger.energy_by_card(renamed) == {"Anne": 0.0, "Other": 14.0}
    assert [r.session_id for r in ledger.query(where=renamed.matcher("Anna"))] == [3]
    # Only spelled differently: with a key that identifies both, the total carries on.
    respelled = CardBook.from_pairs([("aa", "ANNA")], "Other")
    assert ledger.energy_by_card(respelled, key=str.lower) == {"ANNA": 4.0, "Other": 14.0}
    assert ledger.query(where=respelled.matcher("ANNA", key=str.lower))[0].session_id == 3

    # Removed: the default card does not take over Anna's history.
    assert ledger.energy_by_card(unnamed) == {"Other": 14.0}
    assert ledger.recorded_cards == ["Anna", "Other"]
    # Every view of a session shows the card it was recorded under.
    (anna,) = ledger.query(where=unnamed.matcher("Anna"))
    assert anna.card_name(unnamed) == "Anna"
    table = list(csv.reader(io.StringIO(export_csv(ledger.records, renamed, UTC))))
    assert [row[7] for row in table[1:]] == ["Other", "Other", "Anna", "Other"]


def test_card_totals_never_drop_whatever_the_options_do() -> None:
    """Random sessions between random card books: no name's total ever goes down."""
    rng = random.Random(4)
    tags = ["aa", "bb", "cc", None]
    books = [
        CardBook.from_pairs([], "Other"),
        CardBook.from_pairs([("aa", "Anna")], "Other"),
        CardBook.from_pairs([("aa", "Anna"), ("bb", "Ben")], "Other"),
        CardBook.from_pairs([("aa", "Ben"), ("bb", "Anna")], "Guests"),
        CardBook.from_pairs([("cc", "Other")], "Guests"),
    ]
    ledger = SessionLedger()
    highest: dict[str, float] = {}
    for session_id in range(1, 200):
        cards = rng.choice(books)
        energy = round(rng.uniform(0.5, 30), 4)
        ledger.add(
            record(
                session_id,
                T0 + timedelta(hours=session_id),
                rfid_tag=rng.choice(tags),
                energy_kwh=energy,
            ),
            cards,
        )
        for book in books:
            for name, total in ledger.energy_by_card(book).items():
                assert total >= highest.get(name, 0.0) - 1e-9, (session_id, name)
                highest[name] = max(highest.get(name, 0.0), total)
    # Nothing is lost: the totals of every name ever recorded add up to all energy.
    everyone = CardBook.from_pairs([], "Other")
    per_name = [
        sum(r.energy_kwh for r in ledger.query(where=everyone.matcher(name)))
        for name in ledger.recorded_cards
    ]
    assert sum(per_name) == pytest.approx(total_energy(ledger.records))
    assert sorted(ledger.recorded_cards) == ["Anna", "Ben", "Guests", "Other"]


def test_card_names_survive_storage_and_older_stores_get_them_once() -> None:
    """The recorded card names round-trip; a store from before them is named once, for good."""
    anna = CardBook.from_pairs([("aa", "Anna")], "Other")
    ledger = SessionLedger()
    ledger.add(record(1, T0, rfid_tag="aa", energy_kwh=5.0), anna)
    ledger.add(record(2, T0 + timedelta(days=1), energy_kwh=2.0), anna)
    data = ledger.as_dict(SERIAL)
    assert data["cards"] == {"Anna": [1], "Other": [2]}
    # The rows are as before (older versions read them).
    assert all(len(row) == len(data["sessions"][0]) == 12 for row in data["sessions"])
    back = SessionLedger.from_dict(SERIAL, data)
    assert back.records == ledger.records
    unnamed = CardBook.from_pairs([], "Other")
    assert back.energy_by_card(unnamed) == {"Other": 2.0}
    assert back.attribute(unnamed) == 0

    # A store without card names: the sessions get the names in force when it is loaded.
    old = SessionLedger.from_dict(SERIAL, {"sessions": data["sessions"], "gaps": []})
    assert [r.card for r in old.records] == [None, None]
    assert old.attribute(unnamed) == 2
    assert [r.card for r in old.records] == ["Other", "Other"]
    assert old.attribute(anna) == 0
    assert old.energy_by_card(anna) == {"Anna": 0.0, "Other": 7.0}
    assert SessionLedger.from_dict(SERIAL, old.as_dict(SERIAL)).energy_by_card(anna) == {
        "Anna": 0.0,
        "Other": 7.0,
    }
    # Junk among the card names is skipped.
    junk = SessionLedger.from_dict(
        SERIAL, {**data, "cards": {"Anna": [1, "2"], "": [2], "Ben": "x"}}
    )
    assert [r.card for r in junk.records] == ["Anna", None]


# ------------------------------------------------------------------------------- queries
def test_period_and_card_queries() -> None:
    """Sessions that started in [start, end); overlapping ones for a calendar; by card."""
    cards = CardBook.from_pairs([("aa", "Company car")], "Other")
    late = record(2, datetime(2026, 11, 30, 23, 30, tzinfo=UTC), rfid_tag="aa")
    ledger = SessionLedger(
        [
            record(1, datetime(2026, 10, 31, 23, 30, tzinfo=UTC)),
            late,
            record(3, datetime(2026, 12, 1, 8, 0, tzinfo=UTC), rfid_tag="aa"),
            record(4, None, time_source=TIME_UNKNOWN),
        ]
    )
    nov, dec = datetime(2026, 11, 1, tzinfo=UTC), datetime(2026, 12, 1, tzinfo=UTC)
    assert [r.session_id for r in ledger.query(nov, dec)] == [2]
    assert [r.session_id for r in ledger.query(nov, dec, overlapping=True)] == [1, 2]
    assert [r.session_id for r in ledger.query(where=cards.matcher("Company car"))] == [2, 3]
    assert [r.session_id for r in ledger.query()] == [4, 1, 2, 3]
    assert [r.session_id for r in ledger.query(None, dec)] == [1, 2]
    assert ledger.latest() == ledger.query()[-1]
    assert total_cost(ledger.query()) is None


# -------------------------------------------------------------------------------- export
def test_csv_export() -> None:
    """One row per session, local times, card names, the time source."""
    cards = CardBook.from_pairs([("04a1", "Company car")], "Other")
    rows = [
        record(
            1,
            datetime(2026, 11, 3, 17, 5, tzinfo=UTC),
            rfid_tag="04a1000000000000",
            cost=2.1,
            currency="EUR",
        ),
        record(2, datetime(2026, 11, 4, 23, 30, tzinfo=UTC), time_source=TIME_RECONSTRUCTED),
    ]
    text = export_csv(rows, cards, ZoneInfo("Europe/Berlin"))
    table = list(csv.reader(io.StringIO(text)))
    assert tuple(table[0]) == CSV_COLUMNS
    assert table[1] == [
        "2026-11-03",
        "18:05:00",
        "2026-11-03 19:05:00",
        "1:00:00",
        "7.000",
        "107.000",
        "114.000",
        "Company car",
        "04a1000000000000",
        "unplugged",
        "2.10",
        "EUR",
        "station_clock",
    ]
    # 23:30 UTC is the next day in Berlin.
    assert table[2][:2] == ["2026-11-05", "00:30:00"]
    assert table[2][7:] == ["Other", "", "unplugged", "", "", "reconstructed"]
    assert len(table) == 3
