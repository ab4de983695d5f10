"""Plausibility of what a station says: ranges, types, consistency and counters.

Everything that arrives from a station's address is checked here before it may change any
state (the snapshot, events, statistics). The limits are physical and protocol limits with a
wide margin, so that no real station is ever refused while forged or garbled datagrams are:

* currents 0–80 A (mA fields), voltages 0–300 V, power 0–50 kW and not far beyond what the
  phases' U·I allow (checked only where the station reports voltages: some meters and P20
  firmware report zeros or no voltage fields at all);
* power factor 0–100 % and ``Max curr %`` 0–100 % (both in 0.1 %), ``Curr HW`` 0 or 6–63 A;
* energies ≥ 0 and below a ceiling no real meter reaches (``E pres`` 5 000 kWh in one session,
  ``E total`` 1 000 000 kWh, the guide's stated maximum);
* enumerations within the values the guide defines (``State`` 0–5, ``Plug`` 0/1/3/5/7, flags
  0/1, ``reason`` 0/1/10); NaN, infinity, null and values of the wrong type are refused.

A report or push that fails any check is dropped whole. :class:`CounterGuard` keeps counters
(uptime ``Sec``, ``E total``, ``E pres``, ``Session ID``) from going backwards or leaping
forward on the word of one datagram: a discontinuity is believed only when two consecutive
polled reports agree on it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
import math
from typing import Any, Final

#: Upper bounds in the station's raw units.
MAX_CURRENT_MA: Final = 80_000
MAX_VOLTAGE_V: Final = 300
MAX_POWER_MW: Final = 50_000_000
MAX_PERCENT_TENTHS: Final = 1000
HW_CURRENT_MIN_MA: Final = 6000
HW_CURRENT_MAX_MA: Final = 63_000
#: ``E pres`` ceiling: 5 000 kWh in 0.1 Wh (no vehicle takes this in one session).
MAX_SESSION_ENERGY: Final = 50_000_000
#: ``E total`` ceiling: 1 000 000 kWh in 0.1 Wh (above the guide's 999 999.9999 kWh maximum).
MAX_TOTAL_ENERGY: Final = 10_000_000_000
#: Any other unsigned field (seconds, ids, energy limits): uint32.
MAX_UINT32: Final = 0xFFFF_FFFF
#: ``P`` may exceed the phases' ΣU·I by this factor plus :data:`POWER_SLACK_MW` (meters sample
#: power and currents at slightly different moments; a ramp makes them disagree briefly).
POWER_UI_FACTOR: Final = 1.5
POWER_SLACK_MW: Final = 1_000_000

STATES: Final = frozenset(range(6))
PLUG_STATES: Final = frozenset({0, 1, 3, 5, 7})
FLAGS: Final = frozenset({0, 1})
END_REASONS: Final = frozenset({0, 1, 10})


def number(raw: object) -> float | None:
    """A finite number from a JSON number or numeric string; None for anything else."""
    if isinstance(raw, bool) or raw is None:
        return None
    if isinstance(raw, int):
        return float(raw) if abs(raw) < 2**63 else None
    if isinstance(raw, float):
        return raw if math.isfinite(raw) else None
    if isinstance(raw, str):
        text = raw.strip()
        try:
            value = float(int(text, 16)) if text.lower().startswith("0x") else float(text)
        except ValueError:
            return None
        return value if math.isfinite(value) else None
    return None


type Rule = Callable[[float], bool]


def _between(low: float, high: float) -> Rule:
    return lambda value: low <= value <= high


def _one_of(values: frozenset[int]) -> Rule:
    return lambda value: value.is_integer() and int(value) in values


def _hw_current(value: float) -> bool:
    return value == 0 or HW_CURRENT_MIN_MA <= value <= HW_CURRENT_MAX_MA


_CURRENT = _between(0, MAX_CURRENT_MA)
_UINT = _between(0, MAX_UINT32)
_PERCENT = _between(0, MAX_PERCENT_TENTHS)
_SESSION_ENERGY = _between(0, MAX_SESSION_ENERGY)
_TOTAL_ENERGY = _between(0, MAX_TOTAL_ENERGY)

#: Field rules of every report, by report id (100 stands for 100…130) and of pushes.
_RULES: Final[dict[int | str, dict[str, Rule]]] = {
    1: {"COM-module": _one_of(FLAGS), "Backend": _one_of(FLAGS), "timeQ": _UINT, "Sec": _UINT},
    2: {
        "State": _one_of(STATES),
        "Error1": _UINT,
        "Error2": _UINT,
        "Plug": _one_of(PLUG_STATES),
        "AuthON": _one_of(FLAGS),
        "Authreq": _one_of(FLAGS),
        "Enable sys": _one_of(FLAGS),
        "Enable user": _one_of(FLAGS),
        "Max curr": _CURRENT,
        "Max curr %": _PERCENT,
        "Curr HW": _hw_current,
        "Curr user": _CURRENT,
        "Curr FS": _CURRENT,
        "Tmo FS": _UINT,
        "Curr timer": _CURRENT,
        "Tmo CT": _UINT,
        "Setenergy": _UINT,
        "Output": _between(0, 255),
        "Input": _one_of(FLAGS),
        "Sec": _UINT,
    },
    3: {
        "U1": _between(0, MAX_VOLTAGE_V),
        "U2": _between(0, MAX_VOLTAGE_V),
        "U3": _between(0, MAX_VOLTAGE_V),
        "I1": _CURRENT,
        "I2": _CURRENT,
        "I3": _CURRENT,
        "P": _between(0, MAX_POWER_MW),
        "PF": _PERCENT,
        "E pres": _SESSION_ENERGY,
        "E total": _TOTAL_ENERGY,
        "Sec": _UINT,
    },
    100: {
        "Session ID": _UINT,
        "Curr HW": _hw_current,
        "E start": _TOTAL_ENERGY,
        "E pres": _SESSION_ENERGY,
        "started[s]": _UINT,
        "ended[s]": _UINT,
        "reason": _one_of(END_REASONS),
        "timeQ": _UINT,
        "Sec": _UINT,
    },
    "push": {
        "State": _one_of(STATES),
        "Plug": _one_of(PLUG_STATES),
        "Input": _one_of(FLAGS),
        "Enable sys": _one_of(FLAGS),
        "Max curr": _CURRENT,
        "E pres": _SESSION_ENERGY,
    },
}

#: Text fields: a string (or, for serials and products, a number some firmware sends).
_TEXT_FIELDS: Final[dict[int, frozenset[str]]] = {
    1: frozenset({"Product", "Serial", "Firmware"}),
    2: frozenset({"Serial"}),
    3: frozenset({"Serial"}),
    100: frozenset({"Serial", "RFID tag", "RFID class", "started", "ended"}),
}


def _rules_for(source: int | str) -> tuple[dict[str, Rule], frozenset[str]]:
    key: int | str = 100 if isinstance(source, int) and 100 <= source <= 130 else source
    texts = _TEXT_FIELDS.get(key, frozenset()) if isinstance(key, int) else frozenset()
    return _RULES.get(key, {}), texts


def check_fields(source: int | str, fields: Mapping[str, Any]) -> str | None:
    """The first reason ``fields`` of report ``source`` (or ``"push"``) are implausible, or None.

    Fields this module does not know are not judged (they are kept for diagnostics).
    """
    rules, texts = _rules_for(source)
    for name, raw in fields.items():
        if name in texts:
            if not isinstance(raw, str | int) or isinstance(raw, bool):
                return f"{name}: wrong type"
            continue
        rule = rules.get(name)
        if rule is None:
            continue
        value = number(raw)
        if value is None:
            return f"{name}: wrong type"
        if not rule(value):
            return f"{name}: out of range"
    if source == 3:
        return _check_meter(fields)
    return None


def _check_meter(fields: Mapping[str, Any]) -> str | None:
    """Power against the phases' U·I, and session energy against the total."""
    power = number(fields.get("P"))
    volts = [number(fields.get(f"U{n}")) or 0.0 for n in (1, 2, 3)]
    amps = [number(fields.get(f"I{n}")) or 0.0 for n in (1, 2, 3)]
    if power is not None and any(volts):
        apparent_mw = sum(u * i for u, i in zip(volts, amps, strict=True))  # V × mA = mW
        if power > apparent_mw * POWER_UI_FACTOR + POWER_SLACK_MW:
            return "P: inconsistent with U·I"
    session, total = number(fields.get("E pres")), number(fields.get("E total"))
    if session is not None and total and session > total:
        return "E pres: exceeds E total"
    return None


# ------------------------------------------------------------------------------- counters
class Judgement:
    """Outcomes of :meth:`CounterGuard.judge`."""

    CONTINUOUS = "continuous"
    CONFIRMED = "confirmed"
    HELD = "held"
    REFUSED = "refused"


@dataclass(slots=True)
class CounterGuard:
    """A counter that may only move as fast as physics lets it, unless two polls agree.

    ``rate`` is the largest plausible increase per second (raw units), ``slack`` an increase
    always allowed, ``backslack`` a decrease tolerated as jitter. A value outside that band
    is a discontinuity: from a push or an unsolicited datagram it is refused; from a polled
    report it is held as a candidate, and a later polled report that continues from the
    candidate confirms it (a reboot, a meter reset, a new session).
    """

    name: str
    rate: float
    slack: float
    backslack: float = 0.0
    value: float | None = None
    at: float = 0.0
    candidate: tuple[float, float] | None = None

    def _fits(self, base: float, base_at: float, value: float, now: float) -> bool:
        elapsed = max(0.0, now - base_at)
        return base - self.backslack <= value <= base + self.rate * elapsed + self.slack

    def judge(self, value: float, now: float, *, polled: bool) -> str:
        """Classify ``value`` without changing the guard (see :meth:`commit`)."""
        if self.value is None or self._fits(self.value, self.at, value, now):
            return Judgement.CONTINUOUS
        if not polled:
            return Judgement.REFUSED
        if self.candidate is not None and self._fits(*self.candidate, value, now):
            return Judgement.CONFIRMED
        return Judgement.HELD

    def commit(self, value: float, now: float, judgement: str, *, accepted: bool) -> None:
        """Apply a judgement once the whole datagram's verdict is known."""
        if accepted:
            if self.value is None or judgement == Judgement.CONFIRMED or value >= self.value:
                self.value, self.at = value, now
            elif judgement == Judgement.CONTINUOUS:
                self.at = now
            self.candidate = None
        elif judgement in (Judgement.HELD, Judgement.CONFIRMED):
            self.candidate = (value, now)

    def reset(self) -> None:
        """Forget everything (the station was replaced or restarted on purpose)."""
        self.value, self.candidate = None, None


def uptime_guard() -> CounterGuard:
    """``Sec``: one second per second (2 % clock drift), 10 s slack, 5 s jitter back."""
    return CounterGuard("Sec", rate=1.02, slack=10.0, backslack=5.0)


def energy_guard(name: str) -> CounterGuard:
    """``E total``/``E pres`` in 0.1 Wh: at most 50 kW (139 per second) plus 1 kWh."""
    return CounterGuard(name, rate=MAX_POWER_MW / 1000 / 3600 * 10, slack=10_000.0)


def session_id_guard() -> CounterGuard:
    """``Session ID``: sessions take minutes; allow one per 10 s plus 5."""
    return CounterGuard("Session ID", rate=0.1, slack=5.0)


# ----------------------------------------------------------------------------- statistics
@dataclass(frozen=True, slots=True)
class RejectedSample:
    """One dropped datagram: why, what it was, its fields and when it came."""

    reason: str
    source: str
    fields: dict[str, Any]
    received: datetime


@dataclass(slots=True)
class RejectionStats:
    """How many datagrams were dropped as implausible, per reason, and the last one."""

    total: int = 0
    by_reason: dict[str, int] = field(default_factory=dict)
    last: RejectedSample | None = None

    def as_dict(self) -> dict[str, Any]:
        """Plain values for diagnostics and the command line."""
        last = self.last
        return {
            "total": self.total,
            "by_reason": dict(self.by_reason),
            "last": None
            if last is None
            else {
                "reason": last.reason,
                "source": last.source,
                "fields": {key: _plain(value) for key, value in last.fields.items()},
                "received": last.received.isoformat(),
            },
        }


def _plain(value: object) -> object:
    """JSON-safe and short: NaN/inf become strings, long values are cut."""
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    if isinstance(value, str | int | float | bool) or value is None:
        text = repr(value) if isinstance(value, int) and abs(value) >= 10**18 else None
        return text[:40] if text else (value[:64] if isinstance(value, str) else value)
    return repr(value)[:64]
