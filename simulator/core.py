"""The simulator: a group of stations on consecutive loopback addresses in one event loop."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Sequence
from dataclasses import replace
import ipaddress
import time
from types import TracebackType
from typing import Any

from . import protocol as p
from .station import DEFAULT_CURR_HW_MA, Station, StationOptions
from .timing import RULE_LIMITS
from .variants import Variant, get_variant

SCENARIOS = ("idle", "plugged", "charging")
"""Initial situations: no vehicle; vehicle plugged but not drawing (State 2); charging."""


def _split(value: str | Sequence[str]) -> list[str]:
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",")]
    else:
        items = [str(item).strip() for item in value]
    items = [item for item in items if item]
    if not items:
        raise ValueError("empty list")
    return items


def _per_station(values: list[str], count: int) -> list[str]:
    """Spread a list over ``count`` stations, repeating it cyclically."""
    return [values[i % len(values)] for i in range(count)]


def station_addresses(bind: str, count: int) -> list[str]:
    """Return ``count`` consecutive addresses from ``bind``; all must be loopback hosts."""
    if count < 1:
        raise ValueError("count must be at least 1")
    first = ipaddress.ip_address(bind)
    ips = [str(first + i) for i in range(count)]
    for ip in ips:
        if not p.is_allowed_address(ip):
            raise ValueError(f"{ip} is outside 127.0.0.0/8 (or its network/broadcast address)")
    return ips


class Simulator:
    """Runs simulated KEBA stations, each on its own UDP socket.

    Use as ``async with Simulator(...) as sim:`` or call :meth:`start` and :meth:`stop`.
    List-valued settings (``variant``, ``scenario``) take one entry per station (a
    comma-separated string or a sequence), repeated cyclically when shorter.
    """

    def __init__(
        self,
        bind: str = "127.0.0.2",
        count: int = 1,
        *,
        ips: Sequence[str] | None = None,
        port: int = p.DEFAULT_PORT,
        variant: str | Sequence[str] = "p30-c",
        product: str | None = None,
        scenario: str | Sequence[str] = "idle",
        loss: float = 0.0,
        duplicate: float = 0.0,
        delay_ms: float = 0.0,
        jitter_ms: float = 0.0,
        reply_to_source_port: bool = False,
        reply_port: int = p.DEFAULT_PORT,
        seed: int | None = None,
        serial_base: int = 18039974,
        firmware_style: str = "object",
        extended_report1: bool = False,
        udp_disabled: bool = False,
        compact: bool = False,
        current_change_delay: float = 6.5,
        clock_synced: bool | None = None,
        curr_hw_ma: int = DEFAULT_CURR_HW_MA,
        timer_scale: float = 1.0,
        failsafe_min_timeout: int | None = None,
        energy_push_interval: float = 1.0,
        absurd: float = 0.0,
        verbose: bool = False,
    ) -> None:
        """Configure the stations; nothing is bound before :meth:`start`."""
        if ips is not None:
            self.ips = [str(ip) for ip in ips]
            for ip in self.ips:
                if not p.is_allowed_address(ip):
                    raise ValueError(f"{ip} is not a loopback host address")
        else:
            self.ips = station_addresses(bind, count)
        if len(set(self.ips)) != len(self.ips):
            raise ValueError("station addresses must be distinct")
        n = len(self.ips)
        for name, value in (("loss", loss), ("duplicate", duplicate), ("absurd", absurd)):
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be within 0..1")
        if min(delay_ms, jitter_ms, current_change_delay) < 0:
            raise ValueError("delays must not be negative")
        if timer_scale <= 0 or energy_push_interval <= 0:
            raise ValueError("timer_scale and energy_push_interval must be positive")
        if firmware_style not in ("object", "fragment"):
            raise ValueError("firmware_style must be 'object' or 'fragment'")
        if not 0 < serial_base <= 99_999_999 - n + 1:
            raise ValueError("serial numbers must have at most 8 digits")
        variants: list[Variant] = [get_variant(v) for v in _per_station(_split(variant), n)]
        if product is not None and not 0 < len(product) <= 32:
            raise ValueError("product must have 1-32 characters (guide: String (32 chars))")
        if product:
            variants = [v.with_product(product) for v in variants]
        scenarios = _per_station([s.lower() for s in _split(scenario)], n)
        for s in scenarios:
            if s not in SCENARIOS:
                raise ValueError(f"unknown scenario {s!r} (known: {', '.join(SCENARIOS)})")
        self.scenarios = scenarios
        self.seed = seed
        self.port = port
        base = StationOptions(
            port=port,
            reply_to_source_port=reply_to_source_port,
            client_port=reply_port,
            loss=loss,
            duplicate=duplicate,
            delay_ms=delay_ms,
            jitter_ms=jitter_ms,
            firmware_style=firmware_style,
            extended_report1=extended_report1,
            udp_disabled=udp_disabled,
            compact=compact,
            current_change_delay=current_change_delay,
            clock_synced=clock_synced,
            curr_hw_ma=curr_hw_ma,
            timer_scale=timer_scale,
            failsafe_min_timeout=failsafe_min_timeout,
            energy_push_interval=energy_push_interval,
            absurd=absurd,
            verbose=verbose,
        )
        self.stations: list[Station] = [
            Station(
                ip,
                f"{serial_base + i:08d}",
                variants[i],
                replace(base),
                seed=None if seed is None else f"{seed}:{i}",
            )
            for i, ip in enumerate(self.ips)
        ]
        self._started_at: float | None = None
        self._wall_started = 0.0
        self._running = False

    async def __aenter__(self) -> Simulator:
        """Start the stations."""
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        """Stop the stations and close their sockets."""
        await self.stop()

    @property
    def running(self) -> bool:
        """True between :meth:`start` and :meth:`stop`."""
        return self._running

    async def start(self) -> None:
        """Bind every station's socket and set up the chosen scenarios.

        If one address cannot be bound the stations already started are closed again and the
        ``OSError`` is raised.
        """
        if self._running:
            return
        loop = asyncio.get_running_loop()
        self._started_at = loop.time()
        self._wall_started = time.time()
        started: list[Station] = []
        try:
            for station in self.stations:
                await station.start(origin=self._started_at)
                started.append(station)
        except OSError as err:
            for station in started:
                station.close()
            raise OSError(
                err.errno, f"cannot bind {station.ip}:{self.port}: {err.strerror or err}"
            ) from err
        for station, scenario in zip(self.stations, self.scenarios, strict=True):
            if scenario == "plugged":
                station.plug_in(drawing=False)
            elif scenario == "charging":
                station.plug_in()
        self._running = True

    async def stop(self) -> None:
        """Close every socket and cancel all timers."""
        for station in self.stations:
            station.close()
        self._running = False
        await asyncio.sleep(0)

    def station(self, ip: str) -> Station:
        """Return the station bound to ``ip``."""
        for station in self.stations:
            if station.ip == ip:
                return station
        raise KeyError(ip)

    def violations(self) -> list[dict[str, Any]]:
        """All timing violations of all stations, oldest first."""
        found = [v for station in self.stations for v in station.violations()]
        found.sort(key=lambda v: v["time"])
        return found

    def summary(self) -> dict[str, Any]:
        """Counters and timing findings of every station plus totals (printed by the CLI)."""
        stations = [station.summary() for station in self.stations]
        rules: Counter[str] = Counter(dict.fromkeys(RULE_LIMITS, 0))
        for st in stations:
            for client in st["timing"].values():
                rules.update(client["counts"])
        uptime = 0.0
        if self._started_at is not None:
            try:
                uptime = asyncio.get_running_loop().time() - self._started_at
            except RuntimeError:
                uptime = time.time() - self._wall_started
        return {
            "uptime_s": round(uptime, 3),
            "stations": stations,
            "totals": {
                "stations": len(stations),
                "received": sum(st["received"] for st in stations),
                "sent": sum(st["sent"] for st in stations),
                "dropped": sum(st["dropped"] for st in stations),
                "eeprom_writes": sum(st["eeprom_writes"]["total"] for st in stations),
                "violations": dict(rules),
            },
        }

    def ready_info(self) -> dict[str, Any]:
        """The line the CLI prints when all stations listen."""
        return {
            "ready": True,
            "port": self.port,
            "stations": [
                {
                    "ip": st.ip,
                    "port": st.port,
                    "serial": st.serial,
                    "product": st.product,
                    "variant": st.variant.name,
                }
                for st in self.stations
            ],
        }
