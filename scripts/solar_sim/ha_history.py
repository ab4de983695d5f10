"""Turn a Home Assistant history download into the ``time,pv_w`` CSV the solar benchmark replays.

Home Assistant's *History* panel (pick the PV power sensor and a day, then the download button)
writes a CSV with the columns ``entity_id``, ``state`` and ``last_changed`` (UTC, ISO 8601); a
state holds until the next one. This keeps one entity and one local day, takes each minute's
time-weighted mean (unavailable or non-numeric states count as 0 W) and writes one row per
minute::

    python -m scripts.solar_sim.ha_history history.csv pv.csv [--entity sensor.pv_power]
        [--date 2026-06-12] [--tz Europe/Berlin] [--kw]

``--kw`` for a sensor in kW. Without ``--date``, the local day of the first state; without
``--tz``, the machine's time zone. Then: ``scripts/bench_solar --pv-csv pv.csv --phases 3 ...``.
"""

from __future__ import annotations

import argparse
import csv
from datetime import UTC, date, datetime, timedelta, tzinfo
import math
from pathlib import Path
import sys
from zoneinfo import ZoneInfo


def _parse_time(text: str) -> datetime:
    moment = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _value(text: str, scale: float) -> float:
    try:
        value = float(text)
    except ValueError:
        return 0.0
    return value * scale if math.isfinite(value) else 0.0


def convert(
    text: str,
    *,
    entity: str | None = None,
    day: date | None = None,
    zone: tzinfo | None = None,
    scale: float = 1.0,
) -> str:
    """The ``time,pv_w`` CSV (one row per minute) of one entity's history on one local day."""
    rows = list(csv.DictReader(text.splitlines()))
    if not rows or not {"entity_id", "state", "last_changed"} <= set(rows[0]):
        raise ValueError("expected Home Assistant's history CSV: entity_id,state,last_changed")
    entities = sorted({row["entity_id"] for row in rows})
    if entity is None:
        if len(entities) != 1:
            raise ValueError(f"several entities ({', '.join(entities)}): choose one with --entity")
        entity = entities[0]
    changes = sorted(
        (_parse_time(row["last_changed"]).astimezone(zone), _value(row["state"], scale))
        for row in rows
        if row["entity_id"] == entity
    )
    if not changes:
        raise ValueError(f"no states of {entity}; entities: {', '.join(entities)}")
    day = day or changes[0][0].date()
    start = datetime(day.year, day.month, day.day, tzinfo=changes[0][0].tzinfo)
    lines = ["time,pv_w"]
    index, current = 0, 0.0
    for minute in range(24 * 60):
        begin, end = start + timedelta(minutes=minute), start + timedelta(minutes=minute + 1)
        energy, at = 0.0, begin
        while index < len(changes) and changes[index][0] <= begin:
            current = changes[index][1]
            index += 1
        probe = index
        value = current
        while probe < len(changes) and changes[probe][0] < end:
            energy += value * (changes[probe][0] - at).total_seconds()
            at, value = changes[probe][0], changes[probe][1]
            probe += 1
        energy += value * (end - at).total_seconds()
        lines.append(f"{minute // 60:02d}:{minute % 60:02d},{energy / 60.0:.1f}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Convert; 2 on bad input."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.solar_sim.ha_history", description=__doc__.split("\n")[0]
    )
    parser.add_argument("history", type=Path, help="CSV downloaded from the History panel")
    parser.add_argument("out", type=Path, help="time,pv_w CSV to write")
    parser.add_argument("--entity", help="the PV power sensor (if the file has several)")
    parser.add_argument("--date", type=date.fromisoformat, help="local day (YYYY-MM-DD)")
    parser.add_argument("--tz", help="time zone of the day (default: this machine's)")
    parser.add_argument("--kw", action="store_true", help="the sensor is in kW")
    args = parser.parse_args(argv)
    zone: tzinfo | None = ZoneInfo(args.tz) if args.tz else None
    try:
        out = convert(
            args.history.read_text(),
            entity=args.entity,
            day=args.date,
            zone=zone,
            scale=1000.0 if args.kw else 1.0,
        )
    except (OSError, ValueError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    args.out.write_text(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
