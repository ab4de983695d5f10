"""Command-line troubleshooting tool.

``discover`` lists the stations that answer, ``status HOST`` prints every report parsed as one
JSON document, ``watch HOST`` prints live updates (pushes and polls) as JSON lines.

``status`` says ``"udp_control": false`` with a message naming DIP switch DSW1.3 (exit code 1)
when the station answers report 1 but not report 2, and lists what it dropped as implausible
under ``"rejected"``; ``watch`` prints every dropped datagram as a ``"rejected"`` line.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
from datetime import datetime
import enum
import json
import signal
import sys
from typing import Any

from .const import COM_PAUSE, REPORT_SESSION_LATEST, STATION_PORT
from .discovery import discover
from .exceptions import KebaError, KebaUnsupportedError, UdpControlDisabledError
from .plausibility import RejectedSample
from .probe import EVIDENCE_WITHIN, probe_station
from .station import KebaStation, StationEvent
from .transport import EndpointPool


def to_jsonable(value: Any) -> Any:
    """Turn models into plain JSON values (enums by name, times in ISO 8601)."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        result = {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
        for name in dir(type(value)):
            if isinstance(getattr(type(value), name, None), property):
                result[name] = to_jsonable(getattr(value, name))
        return result
    if isinstance(value, enum.Enum):
        return value.name.lower()
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(key): to_jsonable(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_jsonable(item) for item in value]
    return value


def _print(document: Any, *, indent: int | None = 2) -> None:
    print(json.dumps(to_jsonable(document), indent=indent, ensure_ascii=False), flush=True)


def build_parser() -> argparse.ArgumentParser:
    """Arguments of the tool."""
    parser = argparse.ArgumentParser(
        prog="python -m custom_components.keba.kecontact",
        description="Talk to KEBA KeContact charging stations over UDP.",
    )
    parser.add_argument("--bind", default="", help="local address to bind (default: all)")
    parser.add_argument(
        "--port", type=int, default=STATION_PORT, help="local UDP port (default 7090)"
    )
    parser.add_argument(
        "--station-port", type=int, default=STATION_PORT, help="stations' UDP port (default 7090)"
    )
    commands = parser.add_subparsers(dest="command", required=True)
    find = commands.add_parser("discover", help="find stations")
    find.add_argument(
        "--target",
        action="append",
        default=[],
        help="address to send 'i' to; repeat for several (default 255.255.255.255)",
    )
    find.add_argument("--listen", type=float, default=1.0, help="seconds to wait for answers")
    status = commands.add_parser("status", help="print every report of one station")
    status.add_argument("host")
    status.add_argument("--no-history", action="store_true", help="skip reports 101–130")
    status.add_argument(
        "--control-timeout",
        type=float,
        default=EVIDENCE_WITHIN,
        help="seconds to wait for report 2 after report 1 before blaming DIP switch DSW1.3",
    )
    watch = commands.add_parser("watch", help="print live updates of one station")
    watch.add_argument("host")
    watch.add_argument(
        "--interval", type=float, default=COM_PAUSE, help="poll interval in s (at least 5)"
    )
    watch.add_argument("--duration", type=float, default=0, help="stop after N s (0: never)")
    return parser


async def _status(
    station: KebaStation, *, history: bool, control_timeout: float = EVIDENCE_WITHIN
) -> dict[str, Any]:
    document: dict[str, Any] = {"host": station.host}
    await station.connect(read_info=False)
    document["firmware"] = await station.get_firmware()
    try:
        document["info"] = (await probe_station(station, evidence_within=control_timeout)).info
    except UdpControlDisabledError as err:
        document["info"] = err.info
        document["capabilities"] = station.capabilities
        document["udp_control"] = False
        document["message"] = str(err)
        return document
    document["udp_control"] = True
    document["capabilities"] = station.capabilities
    # The probe has just read report 2 (or 3); asking again would wait for KEBA's 5 s pause.
    status = station.snapshot.status
    document["status"] = status if status is not None else await station.get_status()
    with contextlib.suppress(KebaUnsupportedError):
        meter = station.snapshot.meter
        document["meter"] = meter if meter is not None else await station.get_meter()
    with contextlib.suppress(KebaUnsupportedError):
        document["session"] = await station.get_session(REPORT_SESSION_LATEST)
        if history:
            document["history"] = await station.get_history()
    document["rejected"] = station.rejected.as_dict()
    return document


async def _watch(station: KebaStation, interval: float, duration: float) -> None:
    def on_event(event: StationEvent) -> None:
        _print(
            {"event": event.kind.value, "fields": event.fields, "snapshot": event.snapshot},
            indent=None,
        )

    def on_rejected(sample: RejectedSample) -> None:
        _print(
            {
                "event": "rejected",
                "reason": sample.reason,
                "source": sample.source,
                "fields": {key: repr(value)[:40] for key, value in sample.fields.items()},
            },
            indent=None,
        )

    await station.connect()
    station.add_listener(on_event)
    station.add_rejection_listener(on_rejected)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    if duration > 0:
        loop.call_later(duration, stop.set)
    while not stop.is_set():
        try:
            await station.refresh()
        except KebaError as err:
            _print({"error": str(err)}, indent=None)
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), max(interval, COM_PAUSE))


async def run(args: argparse.Namespace) -> int:
    """Run one command; return the exit code."""
    pool = EndpointPool(station_port=args.station_port)
    try:
        endpoint = await pool.acquire(args.bind, args.port)
    except KebaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    try:
        if args.command == "discover":
            found = await discover(
                endpoint, args.target or ["255.255.255.255"], listen_time=args.listen
            )
            _print(found)
            return 0
        station = KebaStation(endpoint, args.host)
        try:
            if args.command == "status":
                document = await _status(
                    station, history=not args.no_history, control_timeout=args.control_timeout
                )
                _print(document)
                if document.get("udp_control") is False:
                    return 1
            else:
                await _watch(station, args.interval, args.duration)
        finally:
            await station.close()
    except KebaError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    finally:
        await pool.release(endpoint)
    return 0


def main(argv: list[str] | None = None) -> int:
    """Entry point."""
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except KeyboardInterrupt:
        return 130
