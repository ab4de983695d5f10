"""Solar-surplus charging benchmark: the controller against two baselines, over simulated days.

Run it through ``scripts/bench_solar`` (which finds Python 3.14 and the venv); not part of the
test run. Each (day, strategy) pair is simulated from 00:00 to 24:00 on a virtual clock in a
process of its own, against the station simulator over loopback UDP, every command going
through the integration's protocol engine (see :mod:`scripts.solar_sim.run` for the set-up and
the exact definitions of the figures, :mod:`scripts.solar_sim.plant` for the days,
:mod:`scripts.solar_sim.strategies` for the strategies).

Days: ``clear`` (3-phase vehicle), ``cloudy`` (fast irradiance changes, 1-phase vehicle) and,
on request, ``cloudy3`` (the cloudy day with a 3-phase vehicle). Strategies: the controller in
``solar`` and ``min_solar`` mode, ``naive`` (current = surplus / voltage every 10 s) and
``evcc`` (evcc's default PV timers).

Targets, per day: in solar mode ≥ 95 % of the car's energy from surplus; fewer start/stop
cycles than both baselines; surplus left unused while the car could take it ≤ the better
baseline; no timing violation (for every strategy: the engine keeps the rules for all). The
exit status is 1 when a target is missed, 2 on bad arguments.
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict
import json
import multiprocessing
from pathlib import Path
import random
import shlex
import sys
import time

from scripts.solar_sim.foresight import best_with_foresight
from scripts.solar_sim.plant import DAY_NAMES, Day, make_day
from scripts.solar_sim.run import POWER_FACTOR, RunResult, RunSpec, run_one, surplus_share_text
from scripts.solar_sim.strategies import NOMINAL_VOLTAGE, STRATEGY_NAMES

SHARE_TARGET = 0.95
#: With ``--phase-switching``: ≥ 93 % from surplus and no more start/stops than evcc (switching).
PHASE_SHARE_TARGET = 0.93
DEFAULT_DAYS = ("clear", "cloudy")
BASELINES = ("naive", "evcc")


def _names(text: str, known: tuple[str, ...], what: str) -> list[str]:
    names = [name.strip() for name in text.split(",") if name.strip()]
    unknown = [name for name in names if name not in known]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what}: {', '.join(unknown) or '(none)'}; choose from {', '.join(known)}"
        )
    return list(dict.fromkeys(names))


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="scripts/bench_solar",
        description="Simulate solar-surplus charging over whole days and compare strategies.",
    )
    parser.add_argument(
        "--days",
        type=lambda t: _names(t, DAY_NAMES, "day"),
        default=list(DEFAULT_DAYS),
        help=f"comma list of {', '.join(DAY_NAMES)} (default: {','.join(DEFAULT_DAYS)})",
    )
    parser.add_argument(
        "--strategies",
        type=lambda t: _names(t, STRATEGY_NAMES, "strategy"),
        default=list(STRATEGY_NAMES),
        help=f"comma list of {', '.join(STRATEGY_NAMES)} (default: all)",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of weather, house and network")
    parser.add_argument(
        "--jobs", type=int, default=2, help="runs simulated at once, one process each (default 2)"
    )
    parser.add_argument(
        "--net",
        help="first loopback /24 as 127.X.Y (run i uses 127.X.Y+i); default: random",
    )
    parser.add_argument(
        "--kernel-timestamps",
        action="store_true",
        help="keep the simulator's kernel receive timestamps (real time mixed into virtual time)",
    )
    parser.add_argument(
        "--by-state",
        action="store_true",
        help="also print the solar controller's grid import and unused surplus by its state",
    )
    parser.add_argument(
        "--phase-switching",
        action="store_true",
        help="the station has a 1/3-phase switch on X2 (S10); solar and evcc switch phases "
        "(targets then: ≥ 93 %% from surplus, start/stops ≤ evcc's)",
    )
    parser.add_argument("--json", type=Path, help="also write every figure to this file")
    parser.add_argument(
        "--trace",
        type=Path,
        help="write a CSV per run into this directory: every 10 s the time, PV, house load, "
        "car power, grid meter (W), the current offered (A) and the strategy's state",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.net is not None:
        parts = args.net.split(".")
        if (
            len(parts) != 3
            or parts[0] != "127"
            or not all(p.isdigit() and 0 <= int(p) <= 255 for p in parts[1:])
        ):
            parser.error("--net must look like 127.X.Y")
    return args


def _nets(first: str | None, count: int) -> list[str]:
    if first is None:
        rng = random.SystemRandom()
        first = f"127.{rng.randint(1, 254)}.{rng.randint(0, 255 - count)}"
    _, x, y = first.split(".")
    base = int(x) * 256 + int(y)
    return [f"127.{(base + i) // 256 % 256}.{(base + i) % 256}" for i in range(count)]


# ------------------------------------------------------------------------------- output
def _table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: list[str]) -> str:
        return "  ".join(
            c.ljust(w) if i == 0 else c.rjust(w)
            for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        )

    return "\n".join([line(header), "  ".join("-" * w for w in widths), *(line(r) for r in rows)])


def _hhmm(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


HEADER = [
    "strategy",
    "to car",
    "from surplus",
    "grid import",
    "unused surplus",
    "(≥ min power)",
    "start/stop",
    "current changes",
    "violations",
    "full at",
    "phase switches",
]


def _row(r: RunResult) -> list[str]:
    return [
        r.strategy,
        f"{r.energy_kwh:.2f} kWh",
        surplus_share_text(r),
        f"{r.import_kwh:.2f} kWh",
        f"{r.unused_kwh:.2f} kWh",
        f"{r.unused_startable_kwh:.2f} kWh",
        str(r.cycles),
        str(r.current_changes),
        str(r.violations),
        _hhmm(r.full_at),
        str(r.phase_switches),
    ]


def _phase_targets(results: dict[str, RunResult]) -> list[tuple[str, bool, str]]:
    """``--phase-switching``: the share, and start/stops ≤ evcc's (evcc switching too)."""
    checks: list[tuple[str, bool, str]] = []
    solar, evcc = results.get("solar"), results.get("evcc")
    if solar is not None:
        share = solar.surplus_share or 0.0
        checks.append(
            (
                f"solar: ≥ {PHASE_SHARE_TARGET * 100:.0f} % of the car's energy from surplus",
                share >= PHASE_SHARE_TARGET,
                surplus_share_text(solar),
            )
        )
        if evcc is not None:
            checks.append(
                (
                    "solar: start/stop cycles ≤ evcc's (both switching phases)",
                    solar.cycles <= evcc.cycles,
                    f"{solar.cycles} vs evcc {evcc.cycles}",
                )
            )
    return checks


def _targets(
    results: dict[str, RunResult], *, phase_switching: bool = False
) -> list[tuple[str, bool, str]]:
    """(target, met, evidence) for one day."""
    checks: list[tuple[str, bool, str]] = []
    solar = results.get("solar")
    baselines = [results[b] for b in BASELINES if b in results]
    if phase_switching:
        checks = _phase_targets(results)
    elif solar is not None:
        share = solar.surplus_share or 0.0
        checks.append(
            (
                "solar: ≥ 95 % of the car's energy from surplus",
                share >= SHARE_TARGET,
                surplus_share_text(solar),
            )
        )
        if baselines:
            fewest = min(b.cycles for b in baselines)
            checks.append(
                (
                    "solar: fewer start/stop cycles than "
                    + " and ".join(b.strategy for b in baselines),
                    solar.cycles < fewest,
                    f"{solar.cycles} vs "
                    + ", ".join(f"{b.strategy} {b.cycles}" for b in baselines),
                )
            )
            best = min(b.unused_kwh for b in baselines)
            checks.append(
                (
                    "solar: unused surplus ≤ the better baseline",
                    solar.unused_kwh <= best + 1e-9,
                    f"{solar.unused_kwh:.2f} kWh vs "
                    + ", ".join(f"{b.strategy} {b.unused_kwh:.2f} kWh" for b in baselines),
                )
            )
    total = sum(r.violations for r in results.values())
    checks.append(
        (
            "no timing violation (every strategy)",
            total == 0,
            ", ".join(f"{r.strategy} {r.violations}" for r in results.values()),
        )
    )
    probe = all(r.probe_flagged for r in results.values())
    checks.append(
        (
            "timing checker flags a deliberate 50 ms gap (probe)",
            probe,
            "flagged in every run" if probe else "NOT flagged in some run",
        )
    )
    return checks


def _foresight(day: Day, results: dict[str, RunResult]) -> str | None:
    """When the controller misses the share: what perfect foresight would have reached."""
    solar = results.get("solar")
    baselines = [results[b] for b in BASELINES if b in results]
    if solar is None or not baselines or solar.full_at is not None:
        return None
    if (solar.surplus_share or 0.0) >= SHARE_TARGET:
        return None
    stops = min(b.cycles for b in baselines) - 1
    unused = min(b.unused_kwh for b in baselines)
    bound = best_with_foresight(
        day,
        max_stops=stops,
        max_unused_kwh=unused,
        power_factor=POWER_FACTOR,
        voltage=NOMINAL_VOLTAGE,
    )
    head = (
        f"perfect foresight of the surplus (offline bound, no delays), ≤ {stops} stops and "
        f"unused ≤ {unused:.2f} kWh: "
    )
    if bound is None:
        return head + "no schedule"
    return (
        head + f"{bound.surplus_share * 100:.1f} % from surplus, {bound.energy_kwh:.2f} kWh to "
        f"the car, import {bound.import_kwh:.2f} kWh, unused {bound.unused_kwh:.2f} kWh, "
        f"{bound.stops} stops"
    )


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    command = "scripts/bench_solar" + "".join(
        f" {shlex.quote(a)}" for a in (sys.argv[1:] if argv is None else argv)
    )
    pairs = [(day, strategy) for day in args.days for strategy in args.strategies]
    nets = _nets(args.net, len(pairs))
    specs = [
        RunSpec(
            day=day,
            strategy=strategy,
            seed=args.seed,
            net=net,
            kernel_timestamps=args.kernel_timestamps,
            trace=args.trace is not None,
            phase_switching=args.phase_switching,
        )
        for (day, strategy), net in zip(pairs, nets, strict=True)
    ]
    print(f"command: {command}")
    print(
        f"{len(specs)} runs (days: {', '.join(args.days)}; strategies: "
        f"{', '.join(args.strategies)}), seed {args.seed}, {args.jobs} at once, "
        f"loopback {nets[0]}.0/24 …"
    )
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        results = list(pool.map(run_one, specs))
    elapsed = time.perf_counter() - started

    by_day: dict[str, dict[str, RunResult]] = {}
    for result in results:
        by_day.setdefault(result.day, {})[result.strategy] = result
    all_met = True
    for day_name, day_results in by_day.items():
        day = make_day(day_name, args.seed)
        plan = day.vehicle
        a, b = plan.plug_in_s, plan.unplug_s
        surplus = sum(max(0.0, p - h) for p, h in zip(day.pv_w[a:b], day.house_w[a:b], strict=True))
        print()
        print(f"== {day_name}: {day.title}")
        print(
            f"   PV {sum(day.pv_w) / 3.6e6:.1f} kWh, house {sum(day.house_w) / 3.6e6:.1f} kWh; "
            f"vehicle plugged {_hhmm(a)}–{_hhmm(b)}, surplus meanwhile {surplus / 3.6e6:.1f} kWh"
        )
        print()
        rows = [_row(day_results[s]) for s in args.strategies if s in day_results]
        print(_table(rows, HEADER))
        print()
        for target, met, evidence in _targets(day_results, phase_switching=args.phase_switching):
            all_met &= met
            print(f"   [{'met' if met else 'MISSED'}] {target}: {evidence}")
        if args.phase_switching:
            print(
                "   phase switches per day: "
                + ", ".join(f"{r.strategy} {r.phase_switches}" for r in day_results.values())
            )
        foresight = None if args.phase_switching else _foresight(day, day_results)
        if foresight is not None:
            print(f"   {foresight}")
        solar = day_results.get("solar")
        if args.by_state and solar is not None:
            print("   solar, by controller state (kWh): grid import / unused surplus")
            for state in sorted(
                solar.import_by_state.keys() | solar.unused_by_state.keys(),
                key=lambda k: -(solar.import_by_state.get(k, 0) + solar.unused_by_state.get(k, 0)),
            ):
                print(
                    f"      {state:24} {solar.import_by_state.get(state, 0.0):5.2f} / "
                    f"{solar.unused_by_state.get(state, 0.0):5.2f}"
                )

    print()
    print("Per run: wall time, virtual clock jumps, engine errors, datagrams lost in flight,")
    print("car energy by the station's session meter vs. integrated above:")
    for r in results:
        print(
            f"   {r.day:8} {r.strategy:10} {r.wall_s:5.1f} s  {r.loop_jumps:7d} jumps  "
            f"errors {r.engine_errors}  lost {r.lost_datagrams}  "
            f"meter {r.meter_energy_kwh:.3f} vs {r.energy_kwh:.3f} kWh  "
            f"currtime sent {r.currtime_sent}"
        )
    if args.trace is not None:
        args.trace.mkdir(parents=True, exist_ok=True)
        for r in results:
            path = args.trace / f"{r.day}-{r.strategy}.csv"
            lines = ["second,time,pv_w,house_w,car_w,grid_w,offered_a,state"]
            lines += [
                f"{row[0]},{_hhmm(row[0])},{','.join(str(v) for v in row[1:])}" for row in r.trace
            ]
            path.write_text("\n".join(lines) + "\n")
        print(f"traces written to {args.trace}/")
    if args.json is not None:
        payload = [asdict(r) | {"surplus_share": r.surplus_share, "trace": None} for r in results]
        args.json.write_text(json.dumps(payload, indent=2) + "\n")
        print(f"figures written to {args.json}")
    print()
    print(f"run time: {elapsed:.1f} s wall; {'all targets met' if all_met else 'TARGET MISSED'}")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
