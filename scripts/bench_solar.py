"""Solar-surplus charging benchmark: the charging-site logic against two baselines, over days.

Run it through ``scripts/bench_solar`` (which finds Python 3.14 and the venv); not part of the
test run. Each (day, strategy) pair is simulated from 00:00 to 24:00 on a virtual clock in a
process of its own, against the station simulator over loopback UDP, every command going
through the integration's protocol engine (see :mod:`scripts.solar_sim.run` for the set-up and
the exact definitions of the figures, :mod:`scripts.solar_sim.plant` for the days and the home
battery, :mod:`scripts.solar_sim.strategies` for the strategies).

Days: the synthetic ``clear`` (3-phase vehicle), ``cloudy`` (fast irradiance changes, 1-phase
vehicle) and ``cloudy3`` (the cloudy day with a 3-phase vehicle); or a measured day replayed
from a CSV (``--pv-csv FILE --phases 1|3``, the house of ``--house``). ``--battery-kwh`` adds a
home battery behind a hybrid inverter. Strategies: the integration in ``solar`` (and
``min_solar``) mode, ``naive`` (current = surplus / voltage every 10 s) and ``evcc`` (evcc's
default PV timers and its battery settings).

Targets, per day, for ``solar`` against ``evcc``: share from surplus ≥ evcc's and start/stops ≤
evcc's, one of them strictly better; energy to the car ≥ 98 % of evcc's; no timing violation
(for every strategy). The perfect-foresight bound and the gap to it are printed beside every
day. ``--json`` writes the figures: one object with a key per strategy (with several days, one
such object per day name). Exit status 1 when a target is missed, 2 on bad arguments or a bad
CSV, 3 when a run failed (a strategy raised: no figures are printed).
"""

from __future__ import annotations

import argparse
from concurrent.futures import ProcessPoolExecutor
import json
import multiprocessing
import os
from pathlib import Path
import random
import shlex
import sys
import time
from typing import Any

from scripts.solar_sim.foresight import ForesightResult, best_with_foresight
from scripts.solar_sim.plant import DAY_NAMES, Day, PvCsvError, read_pv_csv
from scripts.solar_sim.run import (
    POWER_FACTOR,
    RunFailed,
    RunResult,
    RunSpec,
    build_day,
    run_one,
    surplus_share_text,
)
from scripts.solar_sim.strategies import NOMINAL_VOLTAGE, STRATEGY_NAMES

DEFAULT_DAYS = ("clear", "cloudy", "cloudy3")
DEFAULT_STRATEGIES = ("solar", "naive", "evcc")
BASELINES = ("naive", "evcc")
#: Energy to the car the controller must reach, against evcc's.
ENERGY_TARGET = 0.98
#: With ``--phase-switching``: ≥ 93 % from surplus, no more start/stops than evcc (switching) and
#: the energy target against evcc switching too.
PHASE_SHARE_TARGET = 0.93
#: The synthetic cloudy day (one phase, no battery): ≥ 93 % from surplus with fewer start/stops
#: than evcc; every synthetic day with the home battery: ≥ 97 % from surplus.
CLOUDY_SHARE_TARGET = 0.93
BATTERY_SHARE_TARGET = 0.97


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
        "--pv-csv",
        type=Path,
        help="replay a measured day: CSV with a header and the columns time (HH:MM or "
        "HH:MM:SS, local) and pv_w (W), 1 s to 15 min apart",
    )
    parser.add_argument(
        "--phases", type=int, choices=(1, 3), help="the vehicle's phases (with --pv-csv)"
    )
    parser.add_argument(
        "--house",
        choices=("clear", "cloudy"),
        default="cloudy",
        help="whose synthetic house load to use with --pv-csv (default: cloudy)",
    )
    parser.add_argument(
        "--days",
        type=lambda t: _names(t, DAY_NAMES, "day"),
        help=f"synthetic days, comma list of {', '.join(DAY_NAMES)} "
        f"(default without --pv-csv: {','.join(DEFAULT_DAYS)})",
    )
    parser.add_argument(
        "--battery-kwh", type=float, help="a home battery of this capacity (hybrid inverter)"
    )
    parser.add_argument(
        "--battery-soc",
        type=float,
        default=50.0,
        help="the battery's state of charge at midnight, %% (default 50)",
    )
    parser.add_argument(
        "--strategies",
        type=lambda t: _names(t, STRATEGY_NAMES, "strategy"),
        default=list(DEFAULT_STRATEGIES),
        help=f"comma list of {', '.join(STRATEGY_NAMES)} (default: {','.join(DEFAULT_STRATEGIES)})",
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
        help="also print the solar controller's grid import and unused surplus by its state, "
        "and its grid import by source (a lowering pending, held dips by outcome)",
    )
    parser.add_argument(
        "--phase-switching",
        action="store_true",
        help="the station has a 1/3-phase switch on X2 (S10); solar and evcc switch phases "
        "(targets then: ≥ 93 %% from surplus, start/stops ≤ evcc's)",
    )
    parser.add_argument(
        "--reasons", action="store_true", help="also print the solar site state's reasons"
    )
    parser.add_argument("--no-foresight", action="store_true", help="skip the foresight bound")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    parser.add_argument(
        "--trace",
        type=Path,
        help="write a CSV per run into this directory: every 10 s the time, PV, house load, "
        "car power, grid meter (W), the current offered (A) and the strategy's state",
    )
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    if args.pv_csv is not None:
        if args.days:
            parser.error("--pv-csv and --days exclude each other")
        if args.phases is None:
            parser.error("--pv-csv needs --phases 1 or --phases 3")
        # Inside the Python 3.14 root the file is a copy: messages name the caller's file.
        try:
            read_pv_csv(
                args.pv_csv.read_text(encoding="utf-8", errors="replace"),
                _shown("PV_CSV", args.pv_csv),
            )
        except OSError as err:
            parser.error(f"--pv-csv: cannot read {args.pv_csv}: {err.strerror or err}")
        except PvCsvError as err:
            parser.error(str(err))
    elif args.phases is not None:
        parser.error("--phases goes with --pv-csv (the synthetic days have their own vehicle)")
    if args.battery_kwh is not None and not 0 < args.battery_kwh <= 1000:
        parser.error("--battery-kwh must be above 0 (kWh)")
    if not 0 <= args.battery_soc <= 100:
        parser.error("--battery-soc must be 0 to 100 (%)")
    if args.net is not None:
        parts = args.net.split(".")
        if (
            len(parts) != 3
            or parts[0] != "127"
            or not all(p.isdigit() and 0 <= int(p) <= 255 for p in parts[1:])
        ):
            parser.error("--net must look like 127.X.Y")
    if args.json is not None and not args.json.parent.is_dir():
        parser.error(f"--json: no directory {args.json.parent}")
    return args


def _shown(option: str, path: Path) -> str:
    """A file argument as the caller named it.

    Inside the Python 3.14 root (``scripts/bench_solar`` without a Python 3.14 on the machine)
    the files are copies in a staging directory; the wrapper names the caller's file in
    ``KEBA_BENCH_SHOWN_<OPTION>``.
    """
    return os.environ.get(f"KEBA_BENCH_SHOWN_{option}") or str(path)


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
    "(battery)",
    "grid import",
    "unused surplus",
    "start/stop",
    "current changes",
    "violations",
    "full at",
    "phase switches",
]


def grid_import_kwh(r: RunResult) -> float:
    """Grid import caused by charging: the site's import with the vehicle minus without it.

    Without a battery this is the car's energy not covered by surplus at that second; with
    one it also counts the evening import of a battery that the car emptied.
    """
    return max(0.0, r.site_import_kwh - r.site_import_without_vehicle_kwh)


def _row(r: RunResult) -> list[str]:
    return [
        r.strategy,
        f"{r.energy_kwh:.2f} kWh",
        surplus_share_text(r),
        f"{r.from_battery_kwh:.2f} kWh",
        f"{grid_import_kwh(r):.2f} kWh",
        f"{r.unused_kwh:.2f} kWh",
        str(r.cycles),
        str(r.current_changes),
        str(r.violations),
        _hhmm(r.full_at),
        str(r.phase_switches),
    ]


def _phase_targets(results: dict[str, RunResult]) -> list[tuple[str, bool, str]]:
    """``--phase-switching``: the share, start/stops ≤ evcc's and energy (evcc switching too)."""
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
            ratio = solar.energy_kwh / evcc.energy_kwh if evcc.energy_kwh > 0 else 1.0
            checks.append(
                (
                    "solar: energy to the car ≥ 98 % of evcc's (both switching phases)",
                    ratio >= ENERGY_TARGET,
                    f"{solar.energy_kwh:.2f} vs {evcc.energy_kwh:.2f} kWh ({ratio * 100:.1f} %)",
                )
            )
    return checks


def _targets(
    results: dict[str, RunResult],
    *,
    phase_switching: bool = False,
    synthetic: bool = False,
    battery: bool = False,
) -> list[tuple[str, bool, str]]:
    """(target, met, evidence) for one day (``synthetic``: a named day, not ``--pv-csv``)."""
    checks: list[tuple[str, bool, str]] = []
    solar, evcc = results.get("solar"), results.get("evcc")
    if phase_switching:
        checks = _phase_targets(results)
    elif solar is not None and evcc is not None:
        s_share, e_share = solar.surplus_share or 0.0, evcc.surplus_share or 0.0
        checks.append(
            (
                "solar: share from surplus ≥ evcc's",
                s_share >= e_share - 1e-9,
                f"{s_share * 100:.1f} % vs {e_share * 100:.1f} %",
            )
        )
        checks.append(
            (
                "solar: start/stops ≤ evcc's",
                solar.cycles <= evcc.cycles,
                f"{solar.cycles} vs {evcc.cycles}",
            )
        )
        checks.append(
            (
                "solar: strictly better in share or start/stops",
                s_share > e_share + 1e-9 or solar.cycles < evcc.cycles,
                (
                    f"share {(s_share - e_share) * 100:+.1f} points, "
                    f"start/stops {solar.cycles - evcc.cycles:+d}"
                ),
            )
        )
        ratio = solar.energy_kwh / evcc.energy_kwh if evcc.energy_kwh > 0 else 1.0
        checks.append(
            (
                "solar: energy to the car ≥ 98 % of evcc's",
                ratio >= ENERGY_TARGET,
                f"{solar.energy_kwh:.2f} vs {evcc.energy_kwh:.2f} kWh ({ratio * 100:.1f} %)",
            )
        )
        if synthetic and battery:
            checks.append(
                (
                    f"solar: ≥ {BATTERY_SHARE_TARGET * 100:.0f} % from surplus with the battery",
                    s_share >= BATTERY_SHARE_TARGET,
                    f"{s_share * 100:.1f} %",
                )
            )
        elif synthetic and solar.day == "cloudy":
            checks.append(
                (
                    f"solar: ≥ {CLOUDY_SHARE_TARGET * 100:.0f} % from surplus on the cloudy day",
                    s_share >= CLOUDY_SHARE_TARGET,
                    f"{s_share * 100:.1f} %",
                )
            )
            checks.append(
                (
                    "solar: fewer start/stops than evcc on the cloudy day",
                    solar.cycles < evcc.cycles,
                    f"{solar.cycles} vs {evcc.cycles}",
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


def _foresight(day: Day, results: dict[str, RunResult], *, battery: bool) -> ForesightResult | None:
    """What perfect foresight of the surplus reaches with as few stops as the fewest run.

    Without a battery, its unused surplus stays within the better baseline's. With one, the
    bound is the one without it (the battery is not modelled) that takes at least as much
    directly from PV as the controller did.
    """
    stops = min(r.cycles for r in results.values())
    baselines = [results[b] for b in BASELINES if b in results]
    unused = min((b.unused_kwh for b in baselines), default=1e9)
    solar = results.get("solar")
    if battery and solar is not None:
        plan = day.vehicle
        p_max = plan.phases * NOMINAL_VOLTAGE * plan.max_current_a * POWER_FACTOR
        window = range(plan.plug_in_s, plan.unplug_s)
        takeable = sum(min(max(0.0, day.pv_w[t] - day.house_w[t]), p_max) for t in window)
        unused = takeable / 3.6e6 - (solar.from_surplus_kwh - solar.from_battery_kwh)
    return best_with_foresight(
        day,
        max_stops=max(stops, 0),
        max_unused_kwh=unused,
        power_factor=POWER_FACTOR,
        voltage=NOMINAL_VOLTAGE,
    )


def _figures(r: RunResult, bound: ForesightResult | None) -> dict[str, Any]:
    figures: dict[str, Any] = {
        "energy_to_car_kwh": round(r.energy_kwh, 4),
        "surplus_share": round(r.surplus_share or 0.0, 5),
        "grid_import_kwh": round(grid_import_kwh(r), 4),
        "unused_surplus_kwh": round(r.unused_kwh, 4),
        "start_stops": r.cycles,
        "current_changes": r.current_changes,
        "violations": r.violations,
        "phase_switches": r.phase_switches,
        "from_battery_kwh": round(r.from_battery_kwh, 4),
    }
    if r.battery_soc_end is not None:
        figures["battery_soc_end"] = round(r.battery_soc_end, 1)
    if bound is not None and r.strategy == "solar":
        figures["foresight_share"] = round(bound.surplus_share, 5)
    return figures


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark; return the exit status."""
    args = _parse(sys.argv[1:] if argv is None else argv)
    given = list(sys.argv[1:] if argv is None else argv)
    # The files as the caller named them (inside the Python 3.14 root they are staged copies).
    for path, option in ((args.pv_csv, "PV_CSV"), (args.json, "JSON"), (args.trace, "TRACE")):
        if path is not None:
            given = [_shown(option, path) if a == str(path) else a for a in given]
    command = "scripts/bench_solar" + "".join(f" {shlex.quote(a)}" for a in given)
    if args.pv_csv is not None:
        days = [args.pv_csv.stem]
    else:
        days = list(args.days or DEFAULT_DAYS)
    pairs = [(day, strategy) for day in days for strategy in args.strategies]
    nets = _nets(args.net, len(pairs))
    specs = [
        RunSpec(
            day=day,
            strategy=strategy,
            seed=args.seed,
            net=net,
            kernel_timestamps=args.kernel_timestamps,
            trace=args.trace is not None,
            pv_csv=str(args.pv_csv.resolve()) if args.pv_csv is not None else None,
            phases=args.phases or 3,
            house=args.house,
            battery_kwh=args.battery_kwh,
            battery_soc=args.battery_soc,
            phase_switching=args.phase_switching,
        )
        for (day, strategy), net in zip(pairs, nets, strict=True)
    ]
    battery = (
        f"; home battery {args.battery_kwh:g} kWh at {args.battery_soc:g} % at midnight"
        if args.battery_kwh
        else ""
    )
    print(f"command: {command}")
    print(
        f"{len(specs)} runs (days: {', '.join(days)}; strategies: "
        f"{', '.join(args.strategies)}), seed {args.seed}{battery}, {args.jobs} at once, "
        f"loopback {nets[0]}.0/24 …"
    )
    started = time.perf_counter()
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=args.jobs, mp_context=context) as pool:
        try:
            results = list(pool.map(run_one, specs))
        except RunFailed as err:
            print(f"\nA run failed, no figures: {err}", file=sys.stderr)
            return 3
    elapsed = time.perf_counter() - started

    by_day: dict[str, dict[str, RunResult]] = {}
    for result in results:
        by_day.setdefault(result.day, {})[result.strategy] = result
    all_met = True
    payload: dict[str, dict[str, Any]] = {}
    for spec in specs:
        if spec.day in payload:
            continue
        day_results = by_day[spec.day]
        day = build_day(spec)
        plan = day.vehicle
        a, b = plan.plug_in_s, plan.unplug_s
        surplus = sum(max(0.0, p - h) for p, h in zip(day.pv_w[a:b], day.house_w[a:b], strict=True))
        print()
        print(f"== {spec.day}: {day.title}{battery}")
        print(
            f"   PV {sum(day.pv_w) / 3.6e6:.1f} kWh, house {sum(day.house_w) / 3.6e6:.1f} kWh; "
            f"vehicle plugged {_hhmm(a)}–{_hhmm(b)}, surplus meanwhile {surplus / 3.6e6:.1f} kWh"
        )
        print()
        rows = [_row(day_results[s]) for s in args.strategies if s in day_results]
        print(_table(rows, HEADER))
        print()
        day_targets = _targets(
            day_results,
            phase_switching=args.phase_switching,
            synthetic=args.pv_csv is None,
            battery=bool(args.battery_kwh),
        )
        for target, met, evidence in day_targets:
            all_met &= met
            print(f"   [{'met' if met else 'MISSED'}] {target}: {evidence}")
        if args.phase_switching:
            print(
                "   phase switches per day: "
                + ", ".join(f"{r.strategy} {r.phase_switches}" for r in day_results.values())
            )
        solar = day_results.get("solar")
        # The bound ignores the vehicle's capacity: once it was full, it says nothing.
        full = solar is not None and solar.full_at is not None
        bound = (
            None
            if args.no_foresight or full or args.phase_switching
            else _foresight(day, day_results, battery=bool(args.battery_kwh))
        )
        if bound is not None:
            gap = (
                f"; gap to solar {(bound.surplus_share - (solar.surplus_share or 0.0)) * 100:+.1f}"
                " points"
                if solar is not None
                else ""
            )
            note = ", battery not modelled" if battery else ""
            share = bound.surplus_share * 100
            print(
                f"   foresight bound (offline, no delays{note}), ≤ {bound.stops} stops: "
                f"{share:.1f} % from surplus, {bound.energy_kwh:.2f} kWh to the car{gap}"
            )
        elif full:
            print("   foresight bound: not computed, the vehicle was full (it ignores capacity)")
        elif not args.no_foresight:
            print("   foresight bound: no schedule within the unused-surplus limit")
        payload[spec.day] = {
            name: _figures(r, bound)
            for name, r in sorted(day_results.items(), key=lambda kv: args.strategies.index(kv[0]))
        }
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
        if args.by_state and solar is not None:
            sources = solar.import_sources
            print("   solar, grid import by source (kWh):")
            for source, value in sorted(sources.kwh.items(), key=lambda kv: -kv[1]):
                dips = sources.dips.get(source)
                count = f" ({dips} dips)" if dips is not None else ""
                print(f"      {value:5.2f}  {source}{count}")
        if args.reasons and solar is not None:
            print("   solar, site state reasons:")
            for at, state, reason in solar.reasons:
                print(f"      {_hhmm(at)} {state:22} {reason}")

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
        print(f"traces written to {_shown('TRACE', args.trace)}/")
    if args.json is not None:
        out: dict[str, Any] = next(iter(payload.values())) if len(payload) == 1 else payload
        args.json.write_text(json.dumps(out, indent=2) + "\n")
        print(f"figures written to {_shown('JSON', args.json)}")
    print()
    print(f"run time: {elapsed:.1f} s wall; {'all targets met' if all_met else 'TARGET MISSED'}")
    return 0 if all_met else 1


if __name__ == "__main__":
    sys.exit(main())
