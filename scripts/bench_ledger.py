"""Session ledger benchmark: a ledger of 5 000 sessions (daily charging for over ten years).

Run it as ``scripts/bench_ledger`` (``--help`` for the options). Not part of the test run.
It drives the integration's own pure ledger (``custom_components/keba/ledger.py``) with the
data Home Assistant would hold, and measures (median over ``--runs`` runs):

* start-up: what the ledger adds to an entry's set-up — parse the stored JSON, build the
  ledger (and the cost meter), the per-card totals the card sensors show, the calendar's
  latest session, and merging the station's 30 remembered sessions (all known already);
* a month's calendar query (sessions overlapping the month, the calendar panel's request) and
  the cost sensor's query (one card, this month);
* a year's CSV export (select the year, write the CSV text).

Queries and export are timed on a freshly loaded ledger each run, so they include building
the records they return from the stored rows. The stored file is parsed with the standard
library's ``json`` (Home Assistant uses the faster ``orjson``).

Targets: start-up < 100 ms, month query < 50 ms, year export < 1 s; exits 1 if one is missed.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
import json
import random
import statistics
import sys
import time
from zoneinfo import ZoneInfo

from scripts.bare_integration import register_bare_integration_package

register_bare_integration_package()

from custom_components.keba.ledger import (  # noqa: E402
    TIME_STATION,
    CardBook,
    CostMeter,
    SessionLedger,
    SessionRecord,
    export_csv,
    month_start,
)

SERIAL = "18039974"
TARGET_STARTUP_S = 0.100
TARGET_MONTH_S = 0.050
TARGET_YEAR_EXPORT_S = 1.0
ZONE = ZoneInfo("Europe/Berlin")
TAGS = ["04a1b2c3d4e5f600", "0badcafe00000000", "1234567800000000", None, None]


def make_records(count: int, seed: int) -> list[SessionRecord]:
    """One session a day, ending today: 2 to 60 kWh, four tags and untagged, priced."""
    rng = random.Random(seed)
    first = datetime.now(UTC).replace(hour=0, minute=0, second=0, microsecond=0)
    first -= timedelta(days=count)
    meter = 1000.0
    records = []
    for index in range(count):
        start = first + timedelta(days=index, hours=rng.uniform(6, 20))
        energy = round(rng.uniform(2, 60), 4)
        duration = timedelta(hours=energy / 11 + rng.uniform(0, 1))
        records.append(
            SessionRecord(
                serial=SERIAL,
                session_id=100 + index,
                started=start,
                ended=start + duration,
                time_source=TIME_STATION,
                energy_kwh=energy,
                meter_start_kwh=round(meter, 4),
                rfid_tag=rng.choice(TAGS),
                rfid_class="01010400000000000000",
                end_reason=1,
                cost=round(energy * rng.uniform(0.2, 0.45), 4),
                currency="EUR",
            )
        )
        meter += energy
    return records


def median_s(function: Callable[[], object], runs: int) -> tuple[float, object]:
    """Median wall time of ``runs`` calls (after one warm-up call) and the last result."""
    result = function()
    times = []
    for _ in range(runs):
        begin = time.perf_counter()
        result = function()
        times.append(time.perf_counter() - begin)
    return statistics.median(times), result


def cold_median_s(
    load: Callable[[], SessionLedger], query: Callable[[SessionLedger], object], runs: int
) -> tuple[float, object]:
    """Median time of ``query`` on a freshly loaded ledger (its records not built yet)."""
    times = []
    result: object = None
    for _ in range(runs):
        ledger = load()
        begin = time.perf_counter()
        result = query(ledger)
        times.append(time.perf_counter() - begin)
    return statistics.median(times), result


def main(argv: list[str] | None = None) -> int:
    """Build the ledger, measure, print, compare with the targets."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sessions", type=int, default=5000, help="ledger size (5000)")
    parser.add_argument("--runs", type=int, default=15, help="runs per figure (15)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)

    cards = CardBook.from_pairs([("04a1b2c3d4e5f6", "Company car"), ("0badcafe", "Anna")], "Other")
    records = make_records(args.sessions, args.seed)
    full = SessionLedger(records)
    full.attribute(cards)  # each session with the card name it was recorded under
    stored = json.dumps(
        {
            "version": 2,
            "minor_version": 2,
            "key": f"keba.ledger.{SERIAL}",
            "data": {**full.as_dict(SERIAL), "meter": CostMeter().as_dict()},
        }
    )
    remembered = records[-30:]  # the station's memory: all stored already

    def start_up() -> SessionLedger:
        data = json.loads(stored)["data"]
        ledger = SessionLedger.from_dict(SERIAL, data)
        CostMeter.from_dict(data["meter"])
        ledger.attribute(cards)  # none without a card name: a check only
        for _ in cards.card_names:  # each card's energy sensor
            ledger.energy_by_card(cards)
        ledger.latest(SERIAL)
        ledger.merge_history(SERIAL, remembered, now=datetime.now(UTC), cards=cards)
        return ledger

    startup_s, ledger = median_s(start_up, args.runs)
    assert isinstance(ledger, SessionLedger)
    assert len(ledger) == args.sessions

    now = datetime.now(ZONE)
    month = month_start(now - timedelta(days=40))
    month_end = month_start(month + timedelta(days=32))
    month_s, month_records = cold_median_s(
        start_up,
        lambda ledger: ledger.query(month, month_end, serial=SERIAL, overlapping=True),
        args.runs,
    )
    card_month_s, _ = cold_median_s(
        start_up,
        lambda ledger: ledger.query(
            month_start(now), serial=SERIAL, where=cards.matcher("Company car")
        ),
        args.runs,
    )
    year = now.replace(month=1, day=1, hour=0, minute=0, second=0, microsecond=0)
    year = year.replace(year=year.year - 1)
    year_end = year.replace(year=year.year + 1)

    def export_year(ledger: SessionLedger) -> str:
        return export_csv(ledger.query(year, year_end, serial=SERIAL), cards, ZONE)

    export_s, text = cold_median_s(start_up, export_year, args.runs)
    assert isinstance(text, str)
    rows = text.count("\n") - 1
    assert isinstance(month_records, list)

    print(f"ledger: {args.sessions} sessions, stored JSON {len(stored) / 1e6:.2f} MB")
    print(f"medians over {args.runs} runs:")
    figures = [
        ("start-up (load, cards, merge 30)", startup_s, TARGET_STARTUP_S, ""),
        ("month calendar query", month_s, TARGET_MONTH_S, f"{len(month_records)} sessions"),
        ("card cost query (this month)", card_month_s, TARGET_MONTH_S, ""),
        ("year CSV export", export_s, TARGET_YEAR_EXPORT_S, f"{rows} rows, {len(text)} bytes"),
    ]
    missed = []
    for name, seconds, target, note in figures:
        ok = seconds < target
        print(
            f"  {name:34} {seconds * 1000:9.2f} ms  (target < {target * 1000:.0f} ms)"
            f"  {'ok' if ok else 'MISSED'}  {note}"
        )
        if not ok:
            missed.append(name)
    if missed:
        print("targets missed: " + ", ".join(missed))
        return 1
    print("all targets met")
    return 0


if __name__ == "__main__":
    sys.exit(main())
