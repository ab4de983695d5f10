"""Typed models of KEBA's reports with real units.

Raw report fields use mA, mW, 0.1 Wh and 0.1 %; the models convert them to A, W, kWh and % (the
power factor to a fraction). Every model keeps the fields it does not know in ``extra`` so that
diagnostics can show them; an unknown value never makes parsing fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
import enum
import math
from typing import Any, Self

from .const import REPORT_SESSION_LATEST

#: Phase currents at or above this many amperes count as "in use".
PHASE_IN_USE_MIN_A = 0.5

#: DIP switch bits of the DSW1 byte (DSW1.1 is the most significant bit, see
#: :attr:`StationInfo.udp_control_enabled`).
_DSW1_2 = 0x40
_DSW1_3 = 0x20


class ChargingState(enum.IntEnum):
    """``State`` of report 2 (guide §3.2.3)."""

    STARTING = 0
    NOT_READY = 1
    READY = 2
    CHARGING = 3
    ERROR = 4
    INTERRUPTED = 5


class PlugState(enum.IntEnum):
    """``Plug`` of report 2: a bit set of station side, locked and vehicle side."""

    UNPLUGGED = 0
    STATION = 1
    STATION_LOCKED = 3
    STATION_VEHICLE = 5
    STATION_LOCKED_VEHICLE = 7


class SessionEndReason(enum.IntEnum):
    """``reason`` of report 1xx (guide §3.2.5)."""

    NOT_ENDED = 0
    UNPLUGGED = 1
    DEAUTHORIZED = 10


class TimeQuality(enum.Enum):
    """``timeQ``: how trustworthy the station's clock is (guide §3.2.11)."""

    NOT_SYNCED = "not_synced"
    WEAK = "weak"
    STRONG = "strong"

    @classmethod
    def from_raw(cls, raw: object) -> TimeQuality | None:
        """Map 0 to not synced, 2 to weak and any other number to strong."""
        value = _as_int(raw)
        if value is None:
            return None
        if value == 0:
            return cls.NOT_SYNCED
        if value == 2:
            return cls.WEAK
        return cls.STRONG


def _as_int(raw: object) -> int | None:
    """Read an integer from a number or a numeric string; None when it is none."""
    if isinstance(raw, bool):
        return int(raw)
    if isinstance(raw, int):
        return raw
    if isinstance(raw, float):
        return int(raw) if math.isfinite(raw) else None
    if isinstance(raw, str):
        text = raw.strip()
        try:
            return int(text, 0) if text.lower().startswith("0x") else int(text)
        except ValueError:
            try:
                value = float(text)
            except ValueError:
                return None
            return int(value) if math.isfinite(value) else None
    return None


def _byte(raw: object) -> int | None:
    """A DIP switch byte: a number (or hex string) in 0…255, else None."""
    value = _as_int(raw) if raw is not None else None
    return value if value is not None and 0 <= value <= 0xFF else None


def _as_str(raw: object) -> str | None:
    if raw is None:
        return None
    return raw if isinstance(raw, str) else str(raw)


def _enum_or_none[E: enum.IntEnum](kind: type[E], raw: object) -> E | None:
    value = _as_int(raw)
    if value is None:
        return None
    try:
        return kind(value)
    except ValueError:
        return None


def _scaled(raw: object, divisor: float) -> float | None:
    value = _as_int(raw) if not isinstance(raw, float) else raw
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return None
    try:
        return value / divisor
    except OverflowError:  # an integer beyond any float, e.g. 400 digits in a garbled datagram
        return None


def _flag(raw: object) -> bool | None:
    value = _as_int(raw)
    return None if value is None else value != 0


def _extra(data: Mapping[str, Any], known: frozenset[str]) -> dict[str, Any]:
    return {key: value for key, value in data.items() if key not in known}


@dataclass(frozen=True, slots=True, kw_only=True)
class FirmwareInfo:
    """Answer to ``i``."""

    firmware: str


_REPORT1_FIELDS = frozenset(
    {
        "ID",
        "Product",
        "Serial",
        "Firmware",
        "COM-module",
        "Backend",
        "timeQ",
        "Sec",
        "DIP-Sw",
        "DIP-Sw1",
        "DIP-Sw2",
        "setBoot",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class StationInfo:
    """Report 1: identity of the station."""

    product: str
    serial: str
    firmware: str
    com_module: bool | None
    backend: bool | None
    time_quality: TimeQuality | None
    uptime_s: int | None
    dip_switch_1: int | None = None
    dip_switch_2: int | None = None
    set_boot: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_report(cls, data: Mapping[str, Any]) -> Self:
        """Build from the fields of report 1.

        The DIP switches come in three forms: ``DIP-Sw1``/``DIP-Sw2`` as hex strings (P30
        firmware 3.10 and newer), one combined 16-bit ``DIP-Sw`` (``"0x2600"`` from a BMW
        Wallbox on firmware 3.9.17: DSW1 in the high byte, DSW2 in the low byte), or not at all
        (firmware 3.08.7, P20). A value that is no number in 0…255 is read as absent.
        """
        dip_1 = _byte(data.get("DIP-Sw1"))
        dip_2 = _byte(data.get("DIP-Sw2"))
        combined = _as_int(data.get("DIP-Sw")) if "DIP-Sw" in data else None
        if combined is not None and 0 <= combined <= 0xFFFF and dip_1 is None and dip_2 is None:
            dip_1, dip_2 = combined >> 8, combined & 0xFF
        return cls(
            product=_as_str(data.get("Product")) or "",
            serial=_as_str(data.get("Serial")) or "",
            firmware=_as_str(data.get("Firmware")) or "",
            com_module=_flag(data.get("COM-module")),
            backend=_flag(data.get("Backend")),
            time_quality=TimeQuality.from_raw(data.get("timeQ")),
            uptime_s=_as_int(data.get("Sec")),
            dip_switch_1=dip_1,
            dip_switch_2=dip_2,
            set_boot=_as_int(data.get("setBoot")),
            extra=_extra(data, _REPORT1_FIELDS),
        )

    @property
    def udp_control_enabled(self) -> bool | None:
        """DIP switch DSW1.3 (UDP control, "Smart Home interface"); None when not reported.

        The DSW1 byte carries DSW1.1 in its most significant bit down to DSW1.8 in bit 0, so
        DSW1.3 is ``0x20``: openHAB's KEBA binding documents "DIP 1.3 ON" as the ``0x20`` bit of
        ``DIP-Sw1`` (openhab-addons, bundles/org.openhab.binding.keba/README.md). The samples
        seen (``0x25``, BMW ``0x26``) have both ``0x20`` and ``0x04`` set and so cannot tell the
        two readings apart; ``0x25`` read this way also gives DSW1.6 and DSW1.8 on, KEBA's
        setting for 32 A, matching the ``Curr HW`` of 32000 reported next to it. Treat the
        value as a hint: whether report 2 answers is the proof.
        """
        return None if self.dip_switch_1 is None else bool(self.dip_switch_1 & _DSW1_3)

    @property
    def output_x2_enabled(self) -> bool | None:
        """DIP switch DSW1.2 (relay output X2), read like :attr:`udp_control_enabled`."""
        return None if self.dip_switch_1 is None else bool(self.dip_switch_1 & _DSW1_2)


_REPORT2_FIELDS = frozenset(
    {
        "ID",
        "State",
        "Error1",
        "Error2",
        "Plug",
        "AuthON",
        "Authreq",
        "Enable sys",
        "Enable user",
        "Max curr",
        "Max curr %",
        "Curr HW",
        "Curr user",
        "Curr FS",
        "Tmo FS",
        "Curr timer",
        "Tmo CT",
        "Setenergy",
        "Output",
        "Input",
        "Serial",
        "Sec",
    }
)


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargingStatus:
    """Report 2: state, limits and settings of the station.

    Currents are in A, the duty cycle in %, the energy limit in kWh.
    """

    state: ChargingState | None
    state_raw: int | None
    error_1: int | None
    error_2: int | None
    plug: PlugState | None
    plug_raw: int | None
    auth_on: bool | None
    auth_required: bool | None
    enable_sys: bool | None
    enable_user: bool | None
    max_current: float | None
    max_current_percent: float | None
    hardware_current_limit: float | None
    user_current_limit: float | None
    failsafe_current: float | None
    failsafe_timeout_s: int | None
    timer_current: float | None
    timer_timeout_s: int | None
    energy_limit_kwh: float | None
    output: int | None
    input_x1: bool | None
    serial: str | None
    uptime_s: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_report(cls, data: Mapping[str, Any]) -> Self:
        """Build from the fields of report 2."""
        return cls(
            state=_enum_or_none(ChargingState, data.get("State")),
            state_raw=_as_int(data.get("State")),
            error_1=_as_int(data.get("Error1")),
            error_2=_as_int(data.get("Error2")),
            plug=_enum_or_none(PlugState, data.get("Plug")),
            plug_raw=_as_int(data.get("Plug")),
            auth_on=_flag(data.get("AuthON")),
            auth_required=_flag(data.get("Authreq")),
            enable_sys=_flag(data.get("Enable sys")),
            enable_user=_flag(data.get("Enable user")),
            max_current=_scaled(data.get("Max curr"), 1000),
            max_current_percent=_scaled(data.get("Max curr %"), 10),
            hardware_current_limit=_scaled(data.get("Curr HW"), 1000),
            user_current_limit=_scaled(data.get("Curr user"), 1000),
            failsafe_current=_scaled(data.get("Curr FS"), 1000),
            failsafe_timeout_s=_as_int(data.get("Tmo FS")),
            timer_current=_scaled(data.get("Curr timer"), 1000),
            timer_timeout_s=_as_int(data.get("Tmo CT")),
            energy_limit_kwh=_scaled(data.get("Setenergy"), 10000),
            output=_as_int(data.get("Output")),
            input_x1=_flag(data.get("Input")),
            serial=_as_str(data.get("Serial")),
            uptime_s=_as_int(data.get("Sec")),
            extra=_extra(data, _REPORT2_FIELDS),
        )

    def with_push(self, name: str, raw: object) -> Self:
        """Return a copy with one pushed field (State, Plug, Input, Enable sys, Max curr)."""
        if name == "State":
            return replace(self, state=_enum_or_none(ChargingState, raw), state_raw=_as_int(raw))
        if name == "Plug":
            return replace(self, plug=_enum_or_none(PlugState, raw), plug_raw=_as_int(raw))
        if name == "Input":
            return replace(self, input_x1=_flag(raw))
        if name == "Enable sys":
            return replace(self, enable_sys=_flag(raw))
        if name == "Max curr":
            return replace(self, max_current=_scaled(raw, 1000))
        return self

    @property
    def current_target(self) -> float | None:
        """The current the station was last told (A).

        A running ``currtime`` timer's value (``Curr timer`` while ``Tmo CT`` > 0), else
        ``Curr user`` (0 while paused).
        """
        if self.timer_timeout_s and self.timer_current is not None:
            return self.timer_current
        return self.user_current_limit

    @property
    def vehicle_plugged(self) -> bool | None:
        """The cable is plugged into the vehicle (plug states 5 and 7)."""
        return None if self.plug_raw is None else bool(self.plug_raw & 0x04)

    @property
    def cable_plugged_station(self) -> bool | None:
        """The cable is plugged into the station (or attached to it)."""
        return None if self.plug_raw is None else bool(self.plug_raw & 0x01)

    @property
    def cable_locked(self) -> bool | None:
        """The cable is locked in the station's socket (plug states 3 and 7)."""
        return None if self.plug_raw is None else bool(self.plug_raw & 0x02)

    @property
    def charging(self) -> bool | None:
        """Energy flows to the vehicle."""
        return None if self.state_raw is None else self.state == ChargingState.CHARGING

    @property
    def failsafe_enabled(self) -> bool | None:
        """A failsafe timeout is set."""
        return None if self.failsafe_timeout_s is None else self.failsafe_timeout_s > 0

    @property
    def failsafe_triggered(self) -> bool | None:
        """The failsafe fired: ``Enable sys`` is 0 and ``Max curr`` equals ``Curr FS``."""
        if (
            self.failsafe_timeout_s is None
            or self.enable_sys is None
            or self.max_current is None
            or self.failsafe_current is None
        ):
            return None
        return (
            self.failsafe_timeout_s > 0
            and not self.enable_sys
            and math.isclose(self.max_current, self.failsafe_current)
        )

    @property
    def error(self) -> bool | None:
        """The station is in its error state or reports an error code."""
        if self.state_raw is None and self.error_1 is None and self.error_2 is None:
            return None
        return self.state == ChargingState.ERROR or bool(self.error_1) or bool(self.error_2)


_REPORT3_FIELDS = frozenset(
    {"ID", "U1", "U2", "U3", "I1", "I2", "I3", "P", "PF", "E pres", "E total", "Serial", "Sec"}
)


@dataclass(frozen=True, slots=True, kw_only=True)
class MeterReading:
    """Report 3: the meter, in V, A, W, kWh; the power factor as a fraction (0…1)."""

    voltage_1: float | None
    voltage_2: float | None
    voltage_3: float | None
    current_1: float | None
    current_2: float | None
    current_3: float | None
    power_w: float | None
    power_factor: float | None
    session_energy_kwh: float | None
    total_energy_kwh: float | None
    serial: str | None
    uptime_s: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_report(cls, data: Mapping[str, Any]) -> Self:
        """Build from the fields of report 3."""
        return cls(
            voltage_1=_scaled(data.get("U1"), 1),
            voltage_2=_scaled(data.get("U2"), 1),
            voltage_3=_scaled(data.get("U3"), 1),
            current_1=_scaled(data.get("I1"), 1000),
            current_2=_scaled(data.get("I2"), 1000),
            current_3=_scaled(data.get("I3"), 1000),
            power_w=_scaled(data.get("P"), 1000),
            power_factor=_scaled(data.get("PF"), 1000),
            session_energy_kwh=_scaled(data.get("E pres"), 10000),
            total_energy_kwh=_scaled(data.get("E total"), 10000),
            serial=_as_str(data.get("Serial")),
            uptime_s=_as_int(data.get("Sec")),
            extra=_extra(data, _REPORT3_FIELDS),
        )

    def with_push(self, name: str, raw: object) -> Self:
        """Return a copy with a pushed ``E pres``."""
        if name == "E pres":
            return replace(self, session_energy_kwh=_scaled(raw, 10000))
        return self

    @property
    def currents(self) -> tuple[float | None, float | None, float | None]:
        """The three phase currents in A."""
        return (self.current_1, self.current_2, self.current_3)

    @property
    def phases_in_use(self) -> int | None:
        """How many phases carry at least :data:`PHASE_IN_USE_MIN_A`."""
        if all(current is None for current in self.currents):
            return None
        return sum(1 for current in self.currents if current and current >= PHASE_IN_USE_MIN_A)


_SESSION_FIELDS = frozenset(
    {
        "ID",
        "Session ID",
        "Curr HW",
        "E start",
        "E pres",
        "started[s]",
        "ended[s]",
        "started",
        "ended",
        "reason",
        "timeQ",
        "RFID tag",
        "RFID class",
        "Serial",
        "Sec",
    }
)

_TIMESTAMP_FORMATS = ("%Y-%m-%d %H:%M:%S.%f", "%Y-%m-%d %H:%M:%S")


def _parse_timestamp(raw: object) -> datetime | None:
    """Parse ``YYYY-MM-DD hh:mm:ss.000`` (UTC); plain uptime strings give None."""
    text = _as_str(raw)
    if not text or "-" not in text:
        return None
    for fmt in _TIMESTAMP_FORMATS:
        try:
            return datetime.strptime(text.strip(), fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    return None


#: Seconds of 2000-01-01 UTC: a ``started[s]`` this large is a time, not an uptime.
_EPOCH_SECONDS_MIN = 946_684_800
_EPOCH_SECONDS_MAX = 4_102_444_800  # 2100-01-01


def _uptime_or_time(raw_seconds: object, raw_text: object) -> tuple[int | None, datetime | None]:
    """``started[s]`` and ``started`` (or the ``ended`` pair): uptime and time of day."""
    seconds = _as_int(raw_seconds)
    when = _parse_timestamp(raw_text)
    if seconds is not None and _EPOCH_SECONDS_MIN <= seconds < _EPOCH_SECONDS_MAX:
        return None, when or datetime.fromtimestamp(seconds, UTC)
    return seconds, when


def _all_zero(text: str | None) -> bool:
    return not text or set(text) <= {"0"}


@dataclass(frozen=True, slots=True, kw_only=True)
class ChargingSession:
    """Report 100 (the latest session) or 101…130 (history, 101 newest)."""

    report_id: int
    session_id: int | None
    hardware_current_limit: float | None
    energy_start_kwh: float | None
    energy_kwh: float | None
    started_uptime_s: int | None
    ended_uptime_s: int | None
    started: datetime | None
    ended: datetime | None
    end_reason: SessionEndReason | None
    end_reason_raw: int | None
    time_quality: TimeQuality | None
    rfid_tag: str | None
    rfid_class: str | None
    serial: str | None
    uptime_s: int | None
    extra: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_report(cls, data: Mapping[str, Any]) -> Self:
        """Build from the fields of report 1xx.

        ``started[s]``/``ended[s]`` are the uptime at the session's start and end (guide
        §3.2.5), but a BMW Wallbox on firmware 3.9.17 sends Unix epoch seconds there (datagrams
        published by its owners). No station runs 30 years without a restart, so a value from
        2000-01-01 (946 684 800) on is read as a time: it fills ``started``/``ended`` when those
        are missing and leaves the uptime fields None.
        """
        started_s, started = _uptime_or_time(data.get("started[s]"), data.get("started"))
        ended_s, ended = _uptime_or_time(data.get("ended[s]"), data.get("ended"))
        return cls(
            report_id=_as_int(data.get("ID")) or REPORT_SESSION_LATEST,
            session_id=_as_int(data.get("Session ID")),
            hardware_current_limit=_scaled(data.get("Curr HW"), 1000),
            energy_start_kwh=_scaled(data.get("E start"), 10000),
            energy_kwh=_scaled(data.get("E pres"), 10000),
            started_uptime_s=started_s,
            ended_uptime_s=ended_s,
            started=started,
            ended=ended,
            end_reason=_enum_or_none(SessionEndReason, data.get("reason")),
            end_reason_raw=_as_int(data.get("reason")),
            time_quality=TimeQuality.from_raw(data.get("timeQ")),
            rfid_tag=_as_str(data.get("RFID tag")),
            rfid_class=_as_str(data.get("RFID class")),
            serial=_as_str(data.get("Serial")),
            uptime_s=_as_int(data.get("Sec")),
            extra=_extra(data, _SESSION_FIELDS),
        )

    @property
    def is_empty(self) -> bool:
        """An unused slot: after a reboot or before the station's first sessions."""
        return not self.session_id and not self.started_uptime_s and not self.energy_kwh

    @property
    def is_active(self) -> bool:
        """The session has started and not ended."""
        return not self.is_empty and self.end_reason_raw == 0

    @property
    def duration_s(self) -> int | None:
        """Length of an ended session in seconds."""
        if self.is_active or self.is_empty:
            return None
        if self.started is not None and self.ended is not None:
            return max(0, int((self.ended - self.started).total_seconds()))
        if (
            self.started_uptime_s is not None
            and self.ended_uptime_s is not None
            and self.ended_uptime_s >= self.started_uptime_s
        ):
            return self.ended_uptime_s - self.started_uptime_s
        return None

    @property
    def rfid_used(self) -> bool:
        """A card (or the ``start`` command) authorized the session."""
        return not (_all_zero(self.rfid_class) and _all_zero(self.rfid_tag))

    @property
    def rfid_tag_used(self) -> str | None:
        """The RFID tag that authorized the session, or None."""
        return self.rfid_tag if self.rfid_used else None


@dataclass(frozen=True, slots=True, kw_only=True)
class StationSnapshot:
    """What is known of a station right now: the latest report of each kind, pushes merged."""

    info: StationInfo | None = None
    status: ChargingStatus | None = None
    meter: MeterReading | None = None
    session: ChargingSession | None = None
