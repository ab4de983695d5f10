"""Benchmark of the protocol engine against simulated stations, on loopback addresses only.

Run it as ``scripts/bench`` (see ``scripts/bench --help``). Parts:

a. Refresh rounds: the simulator runs in a process of its own (``python -m simulator --bind
   NET.2 --count N --scenario charging``, so every station pushes ``E pres`` each second) and
   this process polls report 2 and 3 of every station every 5 s for ``--duration`` seconds, for
   16 and for 100 stations (each poll 5 s after the previous one ended, as a Home Assistant
   coordinator does). Measured: the time of one full round (all stations at once; median,
   95th percentile, maximum), the timing-rule violations the simulator counted (its JSON
   summary at SIGTERM), and this process's CPU time per station-hour.
b. Push latency: simulator and engine in this process and one event loop; the time from the
   simulator API call that changes the state (``set_input``) to the engine's listener.
c. Loss: the simulator with ``--loss 0.2`` (20 % of the datagrams lost each way); every station
   polls on its own every 5 s like an integration's coordinator; the share of poll rounds that
   completed; then commands across the stations, each of which must end confirmed or with an
   error (none may hang); and the violations the simulator counted.

Nothing is sent to any address outside 127.0.0.0/8.
"""

from __future__ import annotations

import argparse
import asyncio
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
import contextlib
from dataclasses import dataclass, field
import ipaddress
import json
from pathlib import Path
import random
import shlex
import signal
import statistics
import sys
import tempfile
import time
from typing import Any

REPOSITORY = Path(__file__).resolve().parents[1]
if str(REPOSITORY) not in sys.path:
    sys.path.insert(0, str(REPOSITORY))

from custom_components.keba.kecontact import (  # noqa: E402
    EndpointPool,
    EventKind,
    KebaError,
    KebaStation,
    StationEvent,
)
from simulator import Simulator  # noqa: E402

POLL_INTERVAL = 5.0
ROUND_TARGET_S = 0.5
PUSH_TARGET_MS = 5.0
LOSS_TARGET = 0.99
RULES = ("udp_pause", "com_pause", "dis_pause")


# ------------------------------------------------------------------------------- simulator
class SimulatorProcess:
    """``python -m simulator`` in a process of its own; its summary is read at SIGTERM."""

    def __init__(self, arguments: list[str]) -> None:
        """Prepare the command line."""
        self.arguments = arguments
        self.command = ["python", "-m", "simulator", *arguments]
        self._process: asyncio.subprocess.Process | None = None
        self._stderr = tempfile.TemporaryFile()  # noqa: SIM115 - closed in stop()

    async def start(self) -> dict[str, Any]:
        """Start it and return its ``ready`` line."""
        self._process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "simulator",
            *self.arguments,
            cwd=REPOSITORY,
            stdout=asyncio.subprocess.PIPE,
            stderr=self._stderr,
        )
        assert self._process.stdout is not None
        line = await asyncio.wait_for(self._process.stdout.readline(), timeout=60)
        if not line:
            raise RuntimeError(f"simulator did not start: {self._errors()}")
        ready: dict[str, Any] = json.loads(line)
        return ready

    def _errors(self) -> str:
        self._stderr.seek(0)
        return self._stderr.read().decode(errors="replace")[-2000:]

    async def stop(self) -> dict[str, Any]:
        """SIGTERM; return the JSON summary it prints."""
        process = self._process
        assert process is not None
        assert process.stdout is not None
        process.send_signal(signal.SIGTERM)
        output = await asyncio.wait_for(process.stdout.read(), timeout=60)
        await process.wait()
        lines = [line for line in output.decode().splitlines() if line.strip()]
        self._stderr.close()
        if not lines:
            raise RuntimeError("simulator printed no summary")
        summary: dict[str, Any] = json.loads(lines[-1])
        return summary


def violations_of(summary: dict[str, Any]) -> dict[str, int]:
    """Violations per rule from the simulator's summary."""
    counts = summary["totals"]["violations"]
    return {rule: int(counts.get(rule, 0)) for rule in RULES}


# ---------------------------------------------------------------------------------- engine
@dataclass
class Engine:
    """An endpoint on ``NET.1`` port 7090 and clients of the simulated stations."""

    pool: EndpointPool
    stations: list[KebaStation]

    @classmethod
    async def connect(cls, client_ip: str, station_ips: Sequence[str]) -> Engine:
        """Bind and read report 1 of every station."""
        pool = EndpointPool()
        endpoint = await pool.acquire(client_ip, 7090)
        stations = [KebaStation(endpoint, ip) for ip in station_ips]
        await asyncio.gather(*(station.connect() for station in stations))
        return cls(pool, stations)

    async def close(self) -> None:
        """Close the clients and free the port."""
        endpoint = self.stations[0].endpoint
        for station in self.stations:
            await station.close()
        await self.pool.release(endpoint)


def percentile(values: Sequence[float], share: float) -> float:
    """The value below which ``share`` of the values lie (nearest rank)."""
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(share * len(ordered)) - 1))
    return ordered[index]


# ------------------------------------------------------------------------- a: round times
@dataclass
class RoundResult:
    """Part a for one number of stations."""

    stations: int
    duration_s: float
    round_times: list[float]
    failed_refreshes: int
    retries: int
    cpu_s: float
    violations: dict[str, int]
    simulator_command: str

    @property
    def cpu_per_station_hour(self) -> float:
        """Engine CPU seconds per station and hour of polling."""
        return self.cpu_s / (self.stations * self.duration_s / 3600)


async def refresh_rounds(net: str, count: int, duration: float) -> RoundResult:
    """Poll every station every 5 s for ``duration`` seconds; time each full round."""
    simulator = SimulatorProcess(
        ["--bind", f"{net}.2", "--count", str(count), "--scenario", "charging"]
    )
    ready = await simulator.start()
    try:
        engine = await Engine.connect(f"{net}.1", [s["ip"] for s in ready["stations"]])
        loop = asyncio.get_running_loop()
        times: list[float] = []
        failed = 0
        await asyncio.sleep(0.2)  # t_UDP_pause after report 1 of the connection
        cpu_start, started = time.process_time(), loop.time()
        while loop.time() - started < duration:
            begin = loop.time()
            results = await asyncio.gather(
                *(station.refresh() for station in engine.stations), return_exceptions=True
            )
            times.append(loop.time() - begin)
            failed += sum(isinstance(result, BaseException) for result in results)
            # Like a coordinator: the next poll 5 s after this one ended.
            await asyncio.sleep(POLL_INTERVAL)
        elapsed = loop.time() - started
        cpu = time.process_time() - cpu_start
        retries = sum(station.link.retries for station in engine.stations)
        await engine.close()
    finally:
        summary = await simulator.stop()
    return RoundResult(
        stations=count,
        duration_s=elapsed,
        round_times=times,
        failed_refreshes=failed,
        retries=retries,
        cpu_s=cpu,
        violations=violations_of(summary),
        simulator_command=shlex.join(simulator.command),
    )


# ------------------------------------------------------------------------- b: push latency
async def push_latency(net: str, samples: int) -> list[float]:
    """Milliseconds from ``set_input`` at the simulator to the engine's push listener."""
    async with Simulator(ips=[f"{net}.250"], scenario="plugged") as simulator:
        engine = await Engine.connect(f"{net}.1", simulator.ips)
        try:
            simulated, station = simulator.stations[0], engine.stations[0]
            arrived: asyncio.Future[float] | None = None

            def on_event(event: StationEvent) -> None:
                if (
                    event.kind is EventKind.PUSH
                    and "Input" in event.fields
                    and arrived is not None
                    and not arrived.done()
                ):
                    arrived.set_result(time.perf_counter())

            station.add_listener(on_event)
            loop = asyncio.get_running_loop()
            latencies: list[float] = []
            for sample in range(samples):
                arrived = loop.create_future()
                changed = time.perf_counter()
                simulated.set_input(sample % 2 == 0)
                latencies.append((await asyncio.wait_for(arrived, 2) - changed) * 1000)
                await asyncio.sleep(0.01)
        finally:
            await engine.close()
    return latencies


# ------------------------------------------------------------------------------- c: loss
@dataclass
class LossResult:
    """Part c."""

    stations: int
    duration_s: float
    rounds: int = 0
    completed: int = 0
    failures: Counter[str] = field(default_factory=Counter)
    commands: Counter[str] = field(default_factory=Counter)
    command_errors: Counter[str] = field(default_factory=Counter)
    violations: dict[str, int] = field(default_factory=dict)
    simulator_command: str = ""


def bench_commands(count: int) -> list[tuple[str, Callable[[KebaStation], Awaitable[None]]]]:
    """``count`` verified commands of several kinds."""
    kinds: list[tuple[str, Callable[[int], Callable[[KebaStation], Awaitable[None]]]]] = [
        ("set_current", lambda i: lambda s: s.set_current(6 + i % 10)),
        ("set_energy_limit", lambda i: lambda s: s.set_energy_limit(1 + i % 7)),
        ("set_output", lambda i: lambda s: s.set_output(i % 2)),
        ("display", lambda i: lambda s: s.display(f"bench {i}")),
        ("set_enabled", lambda _i: lambda s: s.set_enabled(True)),
    ]
    return [(kinds[i % len(kinds)][0], kinds[i % len(kinds)][1](i)) for i in range(count)]


async def lossy_network(
    net: str, count: int, duration: float, loss: float, commands: int
) -> LossResult:
    """Poll through a lossy network, then send commands; count the outcomes."""
    simulator = SimulatorProcess(
        [
            "--bind",
            f"{net}.2",
            "--count",
            str(count),
            "--scenario",
            "charging",
            "--loss",
            str(loss),
            "--seed",
            "1",
        ]
    )
    result = LossResult(count, duration, simulator_command=shlex.join(simulator.command))
    ready = await simulator.start()
    try:
        engine = await Engine.connect(f"{net}.1", [s["ip"] for s in ready["stations"]])
        loop = asyncio.get_running_loop()
        stop_at = loop.time() + duration

        async def poll(station: KebaStation) -> None:
            await asyncio.sleep(0.2)
            while loop.time() < stop_at:
                result.rounds += 1
                try:
                    await station.refresh()
                except KebaError as err:
                    result.failures[type(err).__name__] += 1
                else:
                    result.completed += 1
                await asyncio.sleep(POLL_INTERVAL)

        await asyncio.gather(*(poll(station) for station in engine.stations))

        # Commands: round-robin over at most a quarter of the stations, so that some stations
        # get several in a row; each must end confirmed or with an error within its retries.
        targets = engine.stations[: max(1, min(len(engine.stations), commands // 2))]
        queues: dict[int, list[tuple[str, Callable[[KebaStation], Awaitable[None]]]]] = {}
        for index, command in enumerate(bench_commands(commands)):
            queues.setdefault(index % len(targets), []).append(command)

        async def run_queue(
            station: KebaStation, queue: list[tuple[str, Callable[[KebaStation], Awaitable[None]]]]
        ) -> None:
            for _name, command in queue:
                try:
                    await asyncio.wait_for(command(station), timeout=180)
                except TimeoutError:
                    result.commands["no outcome"] += 1
                except KebaError as err:
                    result.commands["failed"] += 1
                    result.command_errors[type(err).__name__] += 1
                else:
                    result.commands["confirmed"] += 1

        await asyncio.gather(*(run_queue(targets[i], q) for i, q in queues.items()))
        await engine.close()
    finally:
        summary = await simulator.stop()
    result.violations = violations_of(summary)
    return result


# -------------------------------------------------------------------------------- report
def fmt_s(value: float) -> str:
    """Seconds with three decimals."""
    return f"{value:.3f} s"


def verdict(ok: bool | None) -> str:
    """Table cell of a target check."""
    return "-" if ok is None else ("met" if ok else "MISSED")


def print_table(rows: list[tuple[str, str, str, bool | None]]) -> None:
    """A plain-text table: measurement, result, target, verdict."""
    headers = ("measurement", "result", "target", "verdict")
    cells = [headers] + [(m, r, t, verdict(ok)) for m, r, t, ok in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(4)]
    for index, row in enumerate(cells):
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)))
        if index == 0:
            print("  ".join("-" * width for width in widths))


def build_parser() -> argparse.ArgumentParser:
    """Command-line options."""
    parser = argparse.ArgumentParser(prog="scripts/bench", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--net",
        help="loopback /24 to use as 127.x.y (default: a random one); engine at .1, stations .2…",
    )
    parser.add_argument(
        "--duration", type=float, default=60.0, help="seconds of polling per run (default 60)"
    )
    parser.add_argument(
        "--counts", default="16,100", help="station counts of part a (default 16,100)"
    )
    parser.add_argument("--samples", type=int, default=200, help="push samples (default 200)")
    parser.add_argument("--loss", type=float, default=0.2, help="loss each way (default 0.2)")
    parser.add_argument(
        "--loss-stations", type=int, default=100, help="stations of part c (default 100)"
    )
    parser.add_argument("--commands", type=int, default=50, help="commands in part c (default 50)")
    parser.add_argument("--parts", default="abc", help="parts to run (default abc)")
    return parser


def loopback_net(text: str | None) -> str:
    """A 127.x.y prefix; refuses anything outside 127.0.0.0/8."""
    if text is None:
        return f"127.{random.randint(100, 199)}.{random.randint(0, 255)}"
    prefix = text.removesuffix(".0").removesuffix(".")
    try:
        network = ipaddress.IPv4Network(f"{prefix}.0/24")
    except ValueError as err:
        raise SystemExit(f"--net {text}: {err}") from None
    if not network.subnet_of(ipaddress.IPv4Network("127.0.0.0/8")):
        raise SystemExit(f"--net {text}: only loopback addresses (127.x.y) are allowed")
    return prefix


async def main(argv: Sequence[str] | None = None) -> int:
    """Run the chosen parts and print the table; exit code 1 if a target was missed."""
    args = build_parser().parse_args(argv)
    net = loopback_net(args.net)
    counts = [int(c) for c in args.counts.split(",") if c.strip()]
    rows: list[tuple[str, str, str, bool | None]] = []
    notes: list[str] = []
    print(f"KEBA engine benchmark on loopback {net}.0/24 (engine at {net}.1:7090)", flush=True)

    if "a" in args.parts:
        for count in counts:
            print(f"a: {count} stations, {args.duration:g} s at a 5 s poll …", flush=True)
            run = await refresh_rounds(net, count, args.duration)
            median = statistics.median(run.round_times)
            rounds, p95 = len(run.round_times), percentile(run.round_times, 0.95)
            elapsed = run.duration_s
            target = ROUND_TARGET_S if count <= 16 else None
            rows.append(
                (
                    f"refresh round, report 2+3 of {count} stations (median of {rounds})",
                    f"{fmt_s(median)} (p95 {fmt_s(p95)}, max {fmt_s(max(run.round_times))})",
                    f"< {ROUND_TARGET_S} s" if target else "",
                    median < target if target else None,
                )
            )
            total = sum(run.violations.values())
            rows.append(
                (
                    f"timing-rule violations, {count} stations, {run.duration_s:.0f} s",
                    f"{total} ({', '.join(f'{k} {v}' for k, v in run.violations.items())})",
                    "0",
                    total == 0,
                )
            )
            rows.append(
                (
                    f"engine CPU per station-hour, {count} stations, 5 s poll",
                    f"{run.cpu_per_station_hour:.2f} s ({run.cpu_s:.2f} s in {elapsed:.0f} s)",
                    "",
                    None,
                )
            )
            rows.append(
                (
                    f"failed refreshes / retries, {count} stations (no loss simulated)",
                    f"{run.failed_refreshes} / {run.retries}",
                    "0 / 0",
                    run.failed_refreshes == 0 and run.retries == 0,
                )
            )
            notes.append(run.simulator_command)

    if "b" in args.parts:
        print(f"b: push latency, {args.samples} samples …", flush=True)
        latencies = await push_latency(net, args.samples)
        median = statistics.median(latencies)
        p95 = percentile(latencies, 0.95)
        rows.append(
            (
                f"push latency, set_input to engine listener (median of {len(latencies)})",
                f"{median:.3f} ms (p95 {p95:.3f} ms, max {max(latencies):.3f} ms)",
                f"< {PUSH_TARGET_MS:g} ms",
                median < PUSH_TARGET_MS,
            )
        )

    if "c" in args.parts:
        print(
            f"c: {args.loss:.0%} loss each way, {args.loss_stations} stations, "
            f"{args.duration:g} s, then {args.commands} commands …",
            flush=True,
        )
        lossy = await lossy_network(
            net, args.loss_stations, args.duration, args.loss, args.commands
        )
        share = lossy.completed / lossy.rounds if lossy.rounds else 0.0
        failures = ", ".join(f"{k} {v}" for k, v in lossy.failures.items()) or "none"
        rows.append(
            (
                f"poll rounds completed, {args.loss:.0%} loss, {lossy.stations} stations",
                f"{share:.2%} ({lossy.completed}/{lossy.rounds}; failed: {failures})",
                f">= {LOSS_TARGET:.0%}",
                share >= LOSS_TARGET,
            )
        )
        ended = lossy.commands["confirmed"] + lossy.commands["failed"]
        errors = ", ".join(f"{k} {v}" for k, v in lossy.command_errors.items())
        outcome = " / ".join(str(lossy.commands[k]) for k in ("confirmed", "failed", "no outcome"))
        rows.append(
            (
                f"commands with {args.loss:.0%} loss: confirmed / failed / no outcome",
                outcome + (f" ({errors})" if errors else ""),
                "every command ends",
                ended == args.commands,
            )
        )
        total = sum(lossy.violations.values())
        rows.append(
            (
                f"timing-rule violations with {args.loss:.0%} loss",
                f"{total} ({', '.join(f'{k} {v}' for k, v in lossy.violations.items())})",
                "0",
                total == 0,
            )
        )
        notes.append(lossy.simulator_command)

    print()
    print_table(rows)
    print()
    print("command:   scripts/bench " + shlex.join(sys.argv[1:] if argv is None else argv))
    for note in dict.fromkeys(notes):
        print(f"simulator: {note}")
    missed = [row[0] for row in rows if row[3] is False]
    if missed:
        print("targets missed: " + "; ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        sys.exit(asyncio.run(main()))
