"""Checks of the command delays a client must keep (KEBA UDP guide §2.1).

Every datagram a station receives is checked, per client source IP, at the moment it reaches the
station's socket, before any simulated loss or delay, so the result describes the client's
behaviour and not the simulated network's.

Rules:

``udp_pause``
    Two datagrams less than 100 ms apart (t_UDP_pause).
``com_pause``
    The same command again less than 5 s after its previous occurrence (t_COM_pause). For
    ``report N`` the whole text identifies the command (``report 2`` and ``report 3`` differ);
    for every other command the first word does, case-insensitively (``currtime 6000 1`` and
    ``currtime 8000 1`` are both ``currtime``).
``dis_pause``
    Any datagram less than 2 s after ``ena 0`` or ``currtime 0 1`` (t_DIS_pause).

A gap passes when it is at least the limit minus 1 ms (timer granularity).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
import time as _time
from typing import Any

UDP_PAUSE = "udp_pause"
COM_PAUSE = "com_pause"
DIS_PAUSE = "dis_pause"

RULE_LIMITS: dict[str, float] = {UDP_PAUSE: 0.1, COM_PAUSE: 5.0, DIS_PAUSE: 2.0}
"""Minimum gap in seconds for each rule."""

TOLERANCE_S = 0.001
"""A gap of at least ``limit - TOLERANCE_S`` passes."""

MAX_RECORDED_VIOLATIONS = 10_000
"""Violations listed per client; the counts stay exact beyond it."""


def _passes(rule: str, gap: float) -> bool:
    # The extra nanosecond absorbs float rounding of the subtraction that made ``gap``.
    return gap >= RULE_LIMITS[rule] - TOLERANCE_S - 1e-9


def command_identity(text: str) -> str:
    """Return the name under which ``text`` counts as "the same command".

    ``report N`` keeps its argument; any other command is its first word in lower case.
    An empty datagram is ``""``.
    """
    words = text.split()
    if not words:
        return ""
    first = words[0].lower()
    if first == "report":
        return " ".join(w.lower() for w in words)
    return first


def is_disable_command(text: str) -> bool:
    """Return True for ``ena 0`` and ``currtime 0 1`` (the commands followed by t_DIS_pause)."""
    words = text.lower().split()
    if not words:
        return False
    try:
        args = [int(w) for w in words[1:]]
    except ValueError:
        return False
    if words[0] == "ena":
        return args == [0]
    if words[0] == "currtime":
        return args == [0, 1]
    return False


@dataclass(slots=True)
class Violation:
    """One breach of a timing rule."""

    rule: str
    """``udp_pause``, ``com_pause`` or ``dis_pause``."""
    time: float
    """Seconds since the checker started (the simulator's start)."""
    wall: float
    """Unix time at which the offending datagram arrived."""
    gap: float
    """Seconds between the offending datagram and the earlier one it is measured against."""
    command: str
    """Text of the offending datagram."""
    previous: str
    """Text of the earlier datagram the gap is measured from."""

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly dict (times rounded to the millisecond)."""
        return {
            "rule": self.rule,
            "time": round(self.time, 3),
            "wall": _time.strftime("%Y-%m-%dT%H:%M:%S", _time.gmtime(self.wall))
            + f".{int(self.wall * 1000) % 1000:03d}Z",
            "gap": round(self.gap, 4),
            "limit": RULE_LIMITS[self.rule],
            "command": self.command,
            "previous": self.previous,
        }


@dataclass(slots=True)
class ClientTiming:
    """Timing state and findings for one client IP at one station."""

    last_time: float | None = None
    last_text: str = ""
    last_by_command: dict[str, tuple[float, str]] = field(default_factory=dict)
    last_disable: tuple[float, str] | None = None
    datagrams: int = 0
    violations: list[Violation] = field(default_factory=list)
    counts: Counter[str] = field(default_factory=Counter)
    min_gaps: dict[str, float] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """Return a JSON-friendly summary."""
        return {
            "datagrams": self.datagrams,
            "counts": {rule: self.counts.get(rule, 0) for rule in RULE_LIMITS},
            "min_gaps": {rule: round(gap, 4) for rule, gap in sorted(self.min_gaps.items())},
            "violations": [v.as_dict() for v in self.violations],
        }


class TimingChecker:
    """Applies the three timing rules to the datagrams of every client of one station."""

    def __init__(self, origin: float, wall_origin: float | None = None) -> None:
        """Create a checker; ``origin`` is the monotonic time that counts as time 0."""
        self._origin = origin
        self._wall_origin = _time.time() if wall_origin is None else wall_origin
        self.clients: dict[str, ClientTiming] = {}

    def observe(self, client_ip: str, text: str, now: float) -> list[Violation]:
        """Check one datagram from ``client_ip`` arriving at monotonic time ``now``.

        Returns the violations it caused (possibly several rules at once).
        """
        client = self.clients.get(client_ip)
        if client is None:
            client = self.clients[client_ip] = ClientTiming()
        client.datagrams += 1
        found: list[Violation] = []
        ident = command_identity(text)

        if client.last_time is not None:
            self._check(
                client, UDP_PAUSE, now - client.last_time, text, client.last_text, now, found
            )
        previous_same = client.last_by_command.get(ident)
        if previous_same is not None:
            self._check(
                client, COM_PAUSE, now - previous_same[0], text, previous_same[1], now, found
            )
        if client.last_disable is not None:
            gap = now - client.last_disable[0]
            self._check(client, DIS_PAUSE, gap, text, client.last_disable[1], now, found)
            if _passes(DIS_PAUSE, gap):
                client.last_disable = None

        client.last_time = now
        client.last_text = text
        client.last_by_command[ident] = (now, text)
        if is_disable_command(text):
            client.last_disable = (now, text)
        return found

    def _check(
        self,
        client: ClientTiming,
        rule: str,
        gap: float,
        text: str,
        previous: str,
        now: float,
        found: list[Violation],
    ) -> None:
        old = client.min_gaps.get(rule)
        if old is None or gap < old:
            client.min_gaps[rule] = gap
        if _passes(rule, gap):
            return
        since = now - self._origin
        violation = Violation(
            rule=rule,
            time=since,
            wall=self._wall_origin + since,
            gap=gap,
            command=text,
            previous=previous,
        )
        client.counts[rule] += 1
        if len(client.violations) < MAX_RECORDED_VIOLATIONS:
            client.violations.append(violation)
        found.append(violation)

    def all_violations(self) -> list[tuple[str, Violation]]:
        """Return every recorded violation with its client IP, in arrival order."""
        out = [(ip, v) for ip, c in self.clients.items() for v in c.violations]
        out.sort(key=lambda item: item[1].time)
        return out

    def summary(self) -> dict[str, Any]:
        """Return per client IP: datagram count, counts per rule, minimum gaps, violations."""
        return {ip: client.as_dict() for ip, client in self.clients.items()}
