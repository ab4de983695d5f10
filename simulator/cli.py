"""Command line: ``python -m simulator --bind 127.0.0.2 --count N [options]``."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Sequence
import json
import logging
import signal
import sys

from .core import SCENARIOS, Simulator
from .protocol import DEFAULT_PORT
from .station import DEFAULT_CURR_HW_MA
from .variants import VARIANTS


def _probability(text: str) -> float:
    value = float(text)
    if not 0.0 <= value <= 1.0:
        raise argparse.ArgumentTypeError("must be within 0..1")
    return value


def _non_negative(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must not be negative")
    return value


def build_parser() -> argparse.ArgumentParser:
    """Return the argument parser of the command line."""
    parser = argparse.ArgumentParser(
        prog="python -m simulator",
        description=(
            "Simulated KEBA KeContact P30/P20 charging stations on loopback addresses. "
            "Prints a JSON 'ready' line when listening and a JSON summary on SIGINT/SIGTERM."
        ),
    )
    net = parser.add_argument_group("addresses")
    net.add_argument("--bind", default="127.0.0.2", help="first station address (127.x.y.z)")
    net.add_argument("--count", type=int, default=1, help="number of stations (consecutive IPs)")
    net.add_argument("--ips", help="comma-separated station addresses (instead of --bind/--count)")
    net.add_argument("--port", type=int, default=DEFAULT_PORT, help="UDP port of every station")
    net.add_argument(
        "--reply-to-source-port",
        action="store_true",
        help="reply to the sender's source port (default: port 7090 of the sender's IP)",
    )
    net.add_argument(
        "--reply-port",
        type=int,
        default=DEFAULT_PORT,
        help="port of the sender's IP that replies and pushes go to (default 7090)",
    )

    kind = parser.add_argument_group("stations")
    kind.add_argument(
        "--variant",
        default="p30-c",
        help=f"variant, or comma list per station: {', '.join(VARIANTS)}",
    )
    kind.add_argument("--product", help="product code reported instead of the variant's")
    kind.add_argument(
        "--scenario",
        default="idle",
        help=f"{'|'.join(SCENARIOS)}, or a comma list assigning one per station",
    )
    kind.add_argument("--serial-base", type=int, default=18039974, help="serial of the first")
    kind.add_argument(
        "--firmware-style",
        choices=("object", "fragment"),
        default="object",
        help="answer 'i' with a JSON object or a bare '\"Firmware\":...' fragment",
    )
    kind.add_argument(
        "--extended-report1",
        action="store_true",
        help="report 1 of newer firmware: setBoot, DIP-Sw1, DIP-Sw2, timeQ 3",
    )
    kind.add_argument(
        "--udp-disabled", action="store_true", help="DSW1.3 off: answer only i and report 1"
    )
    kind.add_argument("--compact", action="store_true", help="single-line JSON reports")
    kind.add_argument(
        "--absurd",
        type=_probability,
        default=0.0,
        help="fault mode: probability (0-1) of an impossible value in a report 2/3 answer "
        "and of a forged push after a push",
    )
    kind.add_argument(
        "--current-change-delay",
        type=_non_negative,
        default=6.5,
        help="seconds from a Curr user change to the Max curr change (IEC 61851-1)",
    )
    kind.add_argument(
        "--clock-synced",
        action="store_true",
        default=None,
        help="station clock synchronised from the start (dates in report 1xx, timeQ 3)",
    )
    kind.add_argument(
        "--curr-hw", type=int, default=DEFAULT_CURR_HW_MA, help="Curr HW in mA (default 32000)"
    )
    kind.add_argument(
        "--timer-scale",
        type=float,
        default=1.0,
        help="real seconds per second of currtime/failsafe timeouts (default 1)",
    )

    cond = parser.add_argument_group("network conditions")
    cond.add_argument("--loss", type=_probability, default=0.0, help="drop probability each way")
    cond.add_argument(
        "--duplicate", type=_probability, default=0.0, help="probability of a duplicated reply"
    )
    cond.add_argument("--delay-ms", type=_non_negative, default=0.0, help="added reply latency")
    cond.add_argument(
        "--jitter-ms", type=_non_negative, default=0.0, help="random extra latency (may reorder)"
    )
    cond.add_argument("--seed", type=int, help="random seed (loss, jitter, serial data)")
    parser.add_argument("--verbose", action="store_true", help="log every datagram to stderr")
    return parser


def make_simulator(args: argparse.Namespace) -> Simulator:
    """Create a :class:`Simulator` from parsed arguments."""
    ips = [ip.strip() for ip in args.ips.split(",") if ip.strip()] if args.ips else None
    return Simulator(
        args.bind,
        args.count,
        ips=ips,
        port=args.port,
        variant=args.variant,
        product=args.product,
        scenario=args.scenario,
        loss=args.loss,
        duplicate=args.duplicate,
        delay_ms=args.delay_ms,
        jitter_ms=args.jitter_ms,
        reply_to_source_port=args.reply_to_source_port,
        reply_port=args.reply_port,
        seed=args.seed,
        serial_base=args.serial_base,
        firmware_style=args.firmware_style,
        extended_report1=args.extended_report1,
        udp_disabled=args.udp_disabled,
        compact=args.compact,
        absurd=args.absurd,
        current_change_delay=args.current_change_delay,
        clock_synced=args.clock_synced,
        curr_hw_ma=args.curr_hw,
        timer_scale=args.timer_scale,
        verbose=args.verbose,
    )


def _emit(obj: object) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


async def run(sim: Simulator) -> None:
    """Start ``sim``, print the ready line, wait for SIGINT/SIGTERM, stop, print the summary."""
    loop = asyncio.get_running_loop()
    stop = asyncio.Event()
    installed: list[signal.Signals] = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop.set)
            installed.append(sig)
        except RuntimeError:  # NotImplementedError too (a subclass); not on Unix
            signal.signal(sig, lambda *_: loop.call_soon_threadsafe(stop.set))
    try:
        await sim.start()
        _emit(sim.ready_info())
        await stop.wait()
    finally:
        summary = sim.summary()
        await sim.stop()
        for sig in installed:
            loop.remove_signal_handler(sig)
    _emit(summary)


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit status."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        stream=sys.stderr,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    try:
        sim = make_simulator(args)
    except ValueError as err:
        print(f"simulator: {err}", file=sys.stderr)
        return 2
    try:
        asyncio.run(run(sim))
    except OSError as err:
        print(f"simulator: {err}", file=sys.stderr)
        return 1
    return 0
