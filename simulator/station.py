"""One simulated KEBA charging station: state model, commands, reports, pushes and its socket."""

from __future__ import annotations

import asyncio
from collections import Counter, deque
from collections.abc import Callable
from dataclasses import dataclass
import json
import logging
import math
import random
import socket
import struct
import sys
import time
from typing import Any

from . import protocol as p
from .timing import TimingChecker, command_identity
from .variants import Variant

_LOGGER = logging.getLogger(__name__)

_COMMANDS = frozenset(
    {
        "i",
        "report",
        "currtime",
        "curr",
        "ena",
        "setenergy",
        "output",
        "start",
        "stop",
        "display",
        "unlock",
        "setdatetime",
        "failsafe",
        "x2src",
        "x2",
    }
)
"""Known command names (lower case); ``Station._cmd_<name>`` handles each."""

FAILSAFE_MIN_TIMEOUT_S = 10
"""Smallest non-zero failsafe timeout accepted (guide: 10-600 s).

Read at every ``failsafe`` command, so tests may lower it (``monkeypatch.setattr``) or pass
``failsafe_min_timeout`` to the station options.
"""

#: Forged or garbled datagrams seen against real installations (robustness issue): well-formed
#: JSON with impossible values. ``inject_absurd`` sends them in turn; the fault mode ``absurd``
#: also mixes :func:`absurd_report` answers into polls.
ABSURD_DATAGRAMS: tuple[dict[str, Any], ...] = (
    {"ID": "3", "P": -603749136, "E pres": 1e308, "I1": 9.9e12, "PF": 123456},
    {"E pres": 1e308},
    {"ID": "2", "State": "xxx", "Plug": None},
    {"Max curr": 999000},
    {"ID": "2", "State": 3, "Plug": 7, "Curr HW": -5, "Max curr": 999000},
    {"E pres": -1},
    {"ID": "3", "U1": 23000, "I1": 16000, "P": 3680000, "E total": -5},
    {"State": 42},
    {"Plug": 6},
)

#: Impossible magnitudes per field of report 2 and report 3 (one is picked per absurd answer).
_ABSURD_VALUES: dict[int, tuple[tuple[str, Any], ...]] = {
    2: (
        ("Max curr", 999000),
        ("Curr HW", -5),
        ("State", 17),
        ("Plug", 2),
        ("Max curr %", 5000),
        ("Curr user", 1e12),
        ("Enable sys", 7),
    ),
    3: (
        ("P", -603749136),
        ("E pres", 1e308),
        ("I1", 9.9e12),
        ("PF", 123456),
        ("U2", 4000),
        ("E total", -1),
        ("P", 49_000_000),  # 49 kW while the phases carry nothing like it
    ),
}


def absurd_report(fields: dict[str, Any], rng: random.Random) -> dict[str, Any]:
    """``fields`` of report 2 or 3 with one value replaced by an impossible one."""
    number = int(fields.get("ID", 0))
    name, value = rng.choice(_ABSURD_VALUES[number])
    changed = dict(fields)
    changed[name] = value
    if name == "P" and value > 0:
        changed.update({"U1": 230, "U2": 230, "U3": 230, "I1": 1000, "I2": 0, "I3": 0})
    return changed


DEFAULT_VOLTAGE_V = 230
DEFAULT_CURR_HW_MA = 32000
#: Bit of DIP switch DSW1.3 (UDP control) in report 1's ``DIP-Sw1`` byte.
DIP_DSW1_3 = 0x20


@dataclass(slots=True)
class Vehicle:
    """An electric vehicle plugged into a station."""

    phases: int = 3
    """Number of phases the vehicle charges on (1 or 3)."""
    max_current_ma: int = 16000
    """The most current per phase the vehicle will draw."""
    drawing: bool = True
    """False when the vehicle does not take current (e.g. battery full)."""
    power_factor: int = 990
    """Power factor in 0.1 % (``PF`` of report 3) while the vehicle draws current."""


@dataclass(slots=True)
class Session:
    """A charging session (``report 100`` while it runs, then ``report 101`` ... ``130``)."""

    session_id: int
    curr_hw: int
    e_start: int
    started_s: int
    started: str
    rfid_tag: str = p.ZERO_TAG
    rfid_class: str = p.ZERO_CLASS
    e_pres: int = 0
    ended_s: int = 0
    ended: str = "0"
    reason: int = 0
    time_q: int = 0
    active: bool = True


@dataclass(kw_only=True)
class StationOptions:
    """Settings of one simulated station (network behaviour and firmware quirks)."""

    port: int = p.DEFAULT_PORT
    """UDP port the station binds (7090 like a real station)."""
    reply_to_source_port: bool = False
    """Reply to the sender's source port instead of port 7090 of the sender's IP."""
    client_port: int = p.DEFAULT_PORT
    """Port replies and pushes go to when ``reply_to_source_port`` is False."""
    loss: float = 0.0
    """Probability of dropping a datagram, applied to each direction separately."""
    duplicate: float = 0.0
    """Probability of sending an outgoing datagram twice."""
    delay_ms: float = 0.0
    """Fixed latency added to every outgoing datagram."""
    jitter_ms: float = 0.0
    """Random extra latency (uniform 0..jitter) per outgoing datagram; may reorder them."""
    firmware_style: str = "object"
    """Answer to ``i``: ``object`` (``{"Firmware":...}``) or ``fragment`` (no braces)."""
    extended_report1: bool = False
    """Newer firmware: report 1 also carries ``setBoot``, ``DIP-Sw1`` and ``DIP-Sw2``."""
    udp_disabled: bool = False
    """DIP switch DSW1.3 off: only ``i`` and ``report 1`` are answered."""
    compact: bool = False
    """Single-line JSON reports instead of the pretty-printed form."""
    current_change_delay: float = 6.5
    """Seconds between a change of ``Curr user`` and of ``Max curr`` during a session."""
    clock_synced: bool | None = None
    """Clock synchronised from the start (time quality 3); None: only with extended report 1."""
    curr_hw_ma: int = DEFAULT_CURR_HW_MA
    """``Curr HW``: the hardware limit (DIP switches, cable)."""
    voltage_v: int = DEFAULT_VOLTAGE_V
    """Phase voltage while charging."""
    timer_scale: float = 1.0
    """Real seconds per second of ``currtime``/``failsafe`` timeouts (tests use < 1)."""
    failsafe_min_timeout: int | None = None
    """Smallest non-zero failsafe timeout; None uses ``FAILSAFE_MIN_TIMEOUT_S``."""
    dip_sw1: int = 0x25
    """Value of ``DIP-Sw1`` (DSW1.1 = 0x80 … DSW1.8 = 0x01; DSW1.3 = 0x20 is cleared, with 0x04,
    when UDP control is off)."""
    dip_sw2: int = 0x02
    """Value of ``DIP-Sw2``."""
    absurd: float = 0.0
    """Fault mode "absurd values": the probability that an answer to ``report 2``/``report 3``
    is replaced by one with an impossible value (valid JSON types, impossible magnitudes, as in
    the robustness issue's forged datagrams), and that a push is followed by an absurd one."""
    energy_push_interval: float = 1.0
    """Seconds between ``E pres`` pushes while charging (at most one per interval)."""
    received_limit: int = 10_000
    """How many received datagrams ``Station.received`` keeps."""
    verbose: bool = False
    """Log every datagram (logger ``simulator.station``, level INFO)."""
    x2src: int = 0
    """Stored ``X2 phaseSwitch source`` at start (variants with a phase switch; 4 = UDP)."""
    x2: int = 1
    """``X2 phaseSwitch`` at start: 0 one phase, 1 three phases (an assumption, see README)."""
    phase_switch_delay: float = 1.0
    """Seconds the external phase switch takes to move after ``x2`` changed X2."""
    phase_switch_fault: str = ""
    """``ignore``: X2 changes but the phase switch never moves; ``refuse``: ``x2`` is confirmed
    with ``TCH-OK`` but X2 (and report 2) keeps its state."""


# Linux's SO_TIMESTAMPNS: the kernel stamps each datagram when it arrives on the socket.
_SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35 if sys.platform == "linux" else None)
_TIMESPEC = struct.Struct("@qq")


class _ClockOffset:
    """The loop's clock minus the wall clock, measured once and then held.

    The kernel stamps arrivals in wall-clock time; held constant, the offset turns them into
    loop time without touching their differences, so a gap between two datagrams is exactly
    the gap between their stamps. It is the smallest of a burst of paired readings (wall
    first): a pause between the two readings of a pair (a garbage collection, the process
    descheduled) only ever makes that pair's offset larger. A reading more than a second off
    means the wall clock was set: it is measured again.
    """

    #: Paired readings per measurement.
    READINGS = 20

    def __init__(self, read: Callable[[], tuple[float, float]]) -> None:
        """``read`` returns (wall clock, loop clock), read in that order."""
        self._read = read
        self._offset = self._measure()

    def _measure(self) -> float:
        return min(loop - wall for wall, loop in (self._read() for _ in range(self.READINGS)))

    def offset(self) -> float:
        """The offset, measured again if the wall clock was set since."""
        wall, loop = self._read()
        if abs(loop - wall - self._offset) > 1.0:
            self._offset = self._measure()
        return self._offset


class _StationSocket:
    """The station's UDP socket.

    It asks the kernel for the arrival time of every datagram, so that the timing rules are
    judged by when a datagram reached the station, not by when a busy event loop got to it (a
    stalled loop would otherwise squeeze two datagrams sent 105 ms apart into 90 ms).
    """

    def __init__(self, station: Station, loop: asyncio.AbstractEventLoop, ip: str, port: int):
        self._station = station
        self._loop = loop
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self._sock.setblocking(False)
            self._sock.bind((ip, port))
        except OSError:
            self._sock.close()
            raise
        self._stamped = False
        self._offset = _ClockOffset(lambda: (time.time(), loop.time()))
        if _SO_TIMESTAMPNS is not None:
            try:
                self._sock.setsockopt(socket.SOL_SOCKET, _SO_TIMESTAMPNS, 1)
                self._stamped = True
            except OSError:
                self._stamped = False
        loop.add_reader(self._sock.fileno(), self._on_readable)

    def _on_readable(self) -> None:
        for _ in range(64):
            try:
                data, ancillary, _flags, addr = self._sock.recvmsg(
                    4096, socket.CMSG_SPACE(_TIMESPEC.size) if self._stamped else 0
                )
            except BlockingIOError, InterruptedError:
                return
            except OSError as exc:
                _LOGGER.debug("%s: socket error %s", self._station.ip, exc)
                return
            arrival: float | None = None
            for level, kind, payload in ancillary:
                if level == socket.SOL_SOCKET and kind == _SO_TIMESTAMPNS:
                    seconds, nanoseconds = _TIMESPEC.unpack(payload[: _TIMESPEC.size])
                    stamp = seconds + nanoseconds / 1e9
                    arrival = stamp + self._offset.offset()  # capped at now on receipt
            self._station.receive_datagram(data, (str(addr[0]), int(addr[1])), arrival=arrival)

    def sendto(self, data: bytes, addr: tuple[str, int]) -> None:
        try:
            self._sock.sendto(data, addr)
        except BlockingIOError, InterruptedError:
            _LOGGER.debug("%s: send buffer full, datagram to %s lost", self._station.ip, addr)
        except OSError as exc:
            _LOGGER.debug("%s: cannot send to %s: %s", self._station.ip, addr, exc)

    def get_extra_info(self, name: str) -> Any:
        return self._sock.getsockname() if name == "sockname" else None

    def close(self) -> None:
        if self._sock.fileno() >= 0:
            self._loop.remove_reader(self._sock.fileno())
            self._sock.close()


class Station:
    """A simulated KEBA KeContact P30/P20 station bound to one loopback address.

    Call :meth:`start` inside a running event loop, :meth:`close` when done (the
    :class:`~simulator.Simulator` does both). The methods that change the physical world
    (:meth:`plug_in`, :meth:`unplug`, :meth:`swipe_rfid` ...) must be called from that loop.
    """

    def __init__(
        self,
        ip: str,
        serial: str,
        variant: Variant,
        options: StationOptions | None = None,
        *,
        seed: int | str | None = None,
        origin: float | None = None,
    ) -> None:
        """Create a station; ``origin`` is the loop time that violation times count from."""
        if not p.is_allowed_address(ip):
            raise ValueError(f"{ip!r} is not a loopback host address (127.0.0.0/8)")
        self.ip = ip
        self.serial = serial
        self.variant = variant
        self.options = options or StationOptions()
        self._rng = random.Random(seed) if seed is not None else random.Random()
        self._origin = origin
        self._loop: asyncio.AbstractEventLoop | None = None
        self._transport: _StationSocket | None = None
        self._closed = False
        self._pending_sends: set[asyncio.TimerHandle] = set()
        self._deferred: list[str] | None = None

        self.loss = self.options.loss
        self.silent = False
        self.received: deque[tuple[float, str, str]] = deque(maxlen=self.options.received_limit)
        self.stats: Counter[str] = Counter(received=0, sent=0, dropped_in=0, dropped_out=0)
        self.commands: Counter[str] = Counter()
        self.eeprom: Counter[str] = Counter(failsafe=0, output=0, x2src=0)
        self.phase_switches = 0
        """Times the external phase switch moved."""
        self.phase_switches_under_load: list[dict[str, Any]] = []
        """Each ``x2`` that changed X2 while current flowed (the switch must be dead)."""
        self.timing: TimingChecker | None = None
        self.display: dict[str, Any] | None = None
        self.last_display_text: str | None = None

        # Persistent (survive a reboot).
        self._e_total = float(self._rng.randint(0, 20_000_000))
        self._next_session_id = self._rng.randint(1, 400)
        self._history: deque[Session] = deque(maxlen=p.HISTORY_SIZE)
        self._whitelist: dict[str, str] = {}
        self._auth_setting: bool | None = None
        self._output_saved = 0
        self._failsafe_saved = (0, 0)
        self._x2src = self.options.x2src
        self._x2 = self.options.x2
        self._switch_phases = 3 if self._x2 else 1
        self._plug = 0 if variant.socket_outlet else 3
        self._vehicle: Vehicle | None = None
        self._input = 0
        self._error = (0, 0)
        self._clock_synced = (
            self.options.extended_report1 or self.variant.bmw_format
            if self.options.clock_synced is None
            else self.options.clock_synced
        )

        # Volatile (reset by a reboot); set by _reset_volatile.
        self._boot_time = 0.0
        self._booting_until: float | None = None
        self._enable_user = True
        self._paused = False
        self._curr_user = p.CURR_USER_DEFAULT
        self._curr_user_from_currtime = False
        self._applied_user = p.CURR_USER_DEFAULT
        self._curr_timer = 0
        self._ct_deadline: float | None = None
        self._setenergy = 0
        self._energy_reached = False
        self._output = 0
        self._fs_timeout = 0
        self._fs_current = 0
        self._fs_triggered = False
        self._authorized: tuple[str, str] | None = None
        self._interrupted = False
        self._epoch_offset: float | None = None
        self._time_q = 0
        self._session: Session | None = None
        self._e_pres = 0.0
        self._last_client: tuple[str, int] | None = None

        self._energy_time = 0.0
        self._power_mw = 0
        self._currents = (0, 0, 0)
        self._voltages = (0, 0, 0)
        self._pf = 0
        self._offered = 0
        self._published: dict[str, int] = {}
        self._last_epres_pushed: int | None = None

        self._iec_handle: asyncio.TimerHandle | None = None
        self._ct_handle: asyncio.TimerHandle | None = None
        self._fs_handle: asyncio.TimerHandle | None = None
        self._boot_handle: asyncio.TimerHandle | None = None
        self._tick_handle: asyncio.TimerHandle | None = None
        self._limit_handle: asyncio.TimerHandle | None = None
        self._x2_handle: asyncio.TimerHandle | None = None

    # ------------------------------------------------------------------ lifecycle

    @property
    def product(self) -> str:
        """Product code reported in ``report 1``."""
        return self.variant.product

    @property
    def port(self) -> int:
        """UDP port the station listens on (the bound one when ``options.port`` is 0)."""
        if self._transport is not None:
            sockname = self._transport.get_extra_info("sockname")
            if sockname:
                return int(sockname[1])
        return self.options.port

    async def start(self, origin: float | None = None) -> None:
        """Bind the station's UDP socket (``ip``:``port``) and start its clock.

        ``origin`` (loop time) is when the run started; violation times count from it.
        """
        self._loop = asyncio.get_running_loop()
        self._closed = False
        now = self._loop.time()
        if origin is not None:
            self._origin = origin
        if self._origin is None:
            self._origin = now
        self.timing = TimingChecker(self._origin)
        self._energy_time = now
        self._reset_volatile(now)
        self._transport = _StationSocket(self, self._loop, self.ip, self.options.port)
        self._refresh()

    def close(self) -> None:
        """Close the socket and cancel every timer; the station is dead afterwards."""
        self._closed = True
        self._cancel_timers()
        for handle in self._pending_sends:
            handle.cancel()
        self._pending_sends.clear()
        if self._transport is not None:
            self._transport.close()
            self._transport = None

    # ------------------------------------------------------------------ time helpers

    def _now(self) -> float:
        if self._loop is None:
            raise RuntimeError("station not started")
        return self._loop.time()

    def _sec(self, now: float) -> int:
        return max(0, int(now - self._boot_time))

    def _booting(self) -> bool:
        return self._booting_until is not None

    def _stamp(self, now: float) -> tuple[int, str]:
        """Return (seconds, text) for ``started``/``ended`` fields."""
        if self._epoch_offset is not None:
            epoch = now + self._epoch_offset
            return int(epoch), p.format_timestamp(epoch)
        sec = self._sec(now)
        return sec, str(sec * 1000)

    def _call_later(self, delay: float, callback: Any) -> asyncio.TimerHandle:
        assert self._loop is not None
        return self._loop.call_later(max(0.0, delay), callback)

    @staticmethod
    def _cancel(handle: asyncio.TimerHandle | None) -> None:
        if handle is not None:
            handle.cancel()

    # ------------------------------------------------------------------ derived values

    def _auth_on(self) -> bool:
        if self._auth_setting is not None:
            return self._auth_setting
        if self.variant.explicit_auth_setting:
            return False
        return bool(self._whitelist)

    def _auth_ok(self) -> bool:
        return not self._auth_on() or self._authorized is not None

    def _user_allows(self) -> bool:
        return (
            self._enable_user and not self._paused and not self._energy_reached and self._auth_ok()
        )

    def _enable_sys(self) -> int:
        if self._booting() or self._error[0]:
            return 0
        return int(self._user_allows() and not self._fs_triggered)

    def _max_curr(self) -> int:
        if (
            self._booting()
            or self._error[0]
            or self._plug != 7
            or self._vehicle is None
            or not self._user_allows()
        ):
            return 0
        limit = min(self.options.curr_hw_ma, self._applied_user)
        if self._fs_triggered:
            limit = min(limit, self._fs_current)
        return limit if limit >= p.CURRENT_MIN else 0

    def _state(self, max_curr: int) -> int:
        if self._booting():
            return 0
        if self._error[0]:
            return 4
        if self._plug != 7 or self._vehicle is None:
            return 1
        if max_curr > 0:
            return 3 if self._vehicle.drawing else 2
        return 5 if self._interrupted else 1

    def _tmo_ct(self, now: float) -> int:
        if self._ct_deadline is None:
            return 0
        remaining = (self._ct_deadline - now) / self.options.timer_scale
        return max(1, math.ceil(remaining - 1e-9))

    # ------------------------------------------------------------------ energy

    def _advance(self, now: float) -> None:
        """Integrate energy at the power in effect since the last update."""
        dt = now - self._energy_time
        self._energy_time = now
        if dt <= 0 or self._power_mw <= 0:
            return
        delta = self._power_mw * dt / 360_000.0  # mW * s -> 0.1 Wh
        self._e_pres = min(self._e_pres + delta, float(p.E_PRES_MAX))
        self._e_total += delta

    def _limit_reached(self) -> bool:
        return self._setenergy > 0 and self._e_pres >= self._setenergy - 1e-6

    # ------------------------------------------------------------------ central update

    def _refresh(self) -> None:
        """Recompute derived state, physics and timers; push every changed status field."""
        if self._closed or self._loop is None:
            return
        now = self._now()
        self._advance(now)
        if not self._energy_reached and self._limit_reached():
            self._energy_reached = True
        max_curr = self._max_curr()
        if max_curr == 0 and (self._applied_user != self._curr_user or self._iec_handle):
            # No PWM is offered: a new current needs no IEC delay.
            self._cancel(self._iec_handle)
            self._iec_handle = None
            self._applied_user = self._curr_user
            max_curr = self._max_curr()
        if max_curr > 0:
            self._interrupted = True
        state = self._state(max_curr)
        previous_offer = self._offered
        self._offered = max_curr

        vehicle = self._vehicle
        if state == 3 and vehicle is not None:
            amps = min(max_curr, vehicle.max_current_ma)
            volts = self.options.voltage_v
            phases = vehicle.phases
            if self.variant.has_phase_switch:
                phases = min(phases, self._switch_phases)
            self._currents = (amps, amps if phases >= 2 else 0, amps if phases >= 3 else 0)
            self._voltages = (volts, volts if phases >= 2 else 0, volts if phases >= 3 else 0)
            self._pf = vehicle.power_factor
            power = sum(u * i for u, i in zip(self._voltages, self._currents, strict=True))
            self._power_mw = power * self._pf // 1000 if self.variant.has_meter else 0
        else:
            self._currents = (0, 0, 0)
            self._voltages = (0, 0, 0)
            self._pf = 0
            self._power_mw = 0
        self._schedule_energy_timers(now)

        values = {
            "Plug": self._plug,
            "Input": self._input,
            "Enable sys": self._enable_sys(),
        }
        if max_curr < previous_offer:
            values["State"] = state
            values["Max curr"] = max_curr
        else:
            values["Max curr"] = max_curr
            values["State"] = state
        for key, value in values.items():
            if self._published.get(key) != value:
                self._published[key] = value
                self._push(key, value)
        if self._power_mw == 0:
            self._push_energy_if_changed()

    def _schedule_energy_timers(self, now: float) -> None:
        charging = self._power_mw > 0
        if charging and self._last_client is not None and not self.options.udp_disabled:
            if self._tick_handle is None:
                self._tick_handle = self._call_later(
                    self.options.energy_push_interval, self._on_tick
                )
        else:
            self._cancel(self._tick_handle)
            self._tick_handle = None
        self._cancel(self._limit_handle)
        self._limit_handle = None
        if charging and self._setenergy > 0 and not self._energy_reached:
            remaining = max(0.0, self._setenergy - self._e_pres)
            delay = remaining * 360_000.0 / self._power_mw
            self._limit_handle = self._call_later(delay + 0.001, self._on_limit)

    def _on_tick(self) -> None:
        self._tick_handle = None
        if self._closed:
            return
        self._advance(self._now())
        self._push_energy_if_changed()
        self._refresh()

    def _on_limit(self) -> None:
        self._limit_handle = None
        self._refresh()

    def _push_energy_if_changed(self) -> None:
        if not self.variant.has_meter:
            return
        value = int(self._e_pres)
        if value != self._last_epres_pushed:
            self._last_epres_pushed = value
            self._push("E pres", value)

    # ------------------------------------------------------------------ sessions

    def _start_session(self, now: float) -> None:
        self._advance(now)
        self._e_pres = 0.0
        started_s, started = self._stamp(now)
        tag, cls = self._authorized or (p.ZERO_TAG, p.ZERO_CLASS)
        self._session = Session(
            session_id=self._next_session_id,
            curr_hw=self.options.curr_hw_ma,
            e_start=int(self._e_total),
            started_s=started_s,
            started=started,
            rfid_tag=tag,
            rfid_class=cls,
        )
        self._next_session_id += 1

    def _end_session(self, now: float, reason: int) -> None:
        session = self._session
        if session is None or not session.active:
            return
        self._advance(now)
        session.e_pres = int(self._e_pres)
        session.ended_s, session.ended = self._stamp(now)
        session.reason = reason
        session.time_q = self._time_q
        session.active = False
        self._history.appendleft(session)

    def _vehicle_connected(self) -> bool:
        return self._vehicle is not None and self._plug >= 5

    # ------------------------------------------------------------------ volatile reset

    def _cancel_timers(self) -> None:
        """Cancel every timer of the station's own behaviour (not datagrams in flight)."""
        for handle in (
            self._iec_handle,
            self._ct_handle,
            self._fs_handle,
            self._boot_handle,
            self._tick_handle,
            self._limit_handle,
            self._x2_handle,
        ):
            self._cancel(handle)
        self._iec_handle = self._ct_handle = self._fs_handle = None
        self._boot_handle = self._tick_handle = self._limit_handle = None
        self._x2_handle = None

    def _reset_volatile(self, now: float) -> None:
        self._cancel_timers()
        self._boot_time = now
        self._enable_user = True
        self._paused = False
        self._curr_user = p.CURR_USER_DEFAULT
        self._curr_user_from_currtime = False
        self._applied_user = p.CURR_USER_DEFAULT
        self._curr_timer = 0
        self._ct_deadline = None
        self._setenergy = 0
        self._energy_reached = False
        self._output = self._output_saved
        self._fs_timeout, self._fs_current = self._failsafe_saved
        self._fs_triggered = False
        self._authorized = None
        self._interrupted = False
        self._e_pres = 0.0
        self._last_epres_pushed = None
        self._session = None
        self._last_client = None
        self.display = None
        if self._clock_synced:
            self._epoch_offset = time.time() - now
            self._time_q = 3
        else:
            self._epoch_offset = None
            self._time_q = 0
        if self._fs_timeout > 0:
            self._arm_failsafe()

    # ------------------------------------------------------------------ test controls

    def plug_in(
        self,
        phases: int = 3,
        max_current_a: float = 16.0,
        *,
        drawing: bool = True,
        power_factor: int = 990,
    ) -> None:
        """Connect a vehicle (plug state 7); it charges if the station offers current.

        Intermediate plug states are pushed as a real socket outlet does (1, 3, 7).
        """
        if phases not in (1, 2, 3):
            raise ValueError("phases must be 1, 2 or 3")
        now = self._now()
        self._advance(now)
        self._vehicle = Vehicle(
            phases=phases,
            max_current_ma=round(max_current_a * 1000),
            drawing=drawing,
            power_factor=power_factor,
        )
        steps = [1, 3] if self.variant.socket_outlet else []
        for step in steps:
            if step <= self._plug:
                continue
            self._plug = step
            self._refresh()
        self._plug = 7
        if not self._booting() and (self._session is None or not self._session.active):
            self._start_session(now)
        self._refresh()

    def unplug(self) -> None:
        """Disconnect the vehicle: the session ends (reason 1) and per-session settings reset.

        Resets ``currtime`` effects (timer, pause, a current it set), ``setenergy`` and the
        RFID authorization. ``ena 0`` and ``curr`` survive (guide §3.3).
        """
        now = self._now()
        self._advance(now)
        self._vehicle = None
        idle = 0 if self.variant.socket_outlet else 3
        steps = [3, 1, 0] if self.variant.socket_outlet else [3]
        self._end_session(now, 1)
        self._reset_session_settings()
        for step in steps:
            if step >= self._plug or step < idle:
                continue
            self._plug = step
            self._refresh()
        self._plug = idle
        self._refresh()

    def _reset_session_settings(self) -> None:
        self._cancel(self._ct_handle)
        self._ct_handle = None
        self._ct_deadline = None
        self._curr_timer = 0
        self._paused = False
        if self._curr_user_from_currtime:
            self._curr_user = p.CURR_USER_DEFAULT
            self._curr_user_from_currtime = False
        self._setenergy = 0
        self._energy_reached = False
        self._authorized = None
        self._interrupted = False

    def vehicle_stops_drawing(self) -> None:
        """The vehicle stops taking current (battery full): State 2, currents 0."""
        if self._vehicle is not None:
            self._vehicle.drawing = False
            self._refresh()

    def vehicle_starts_drawing(self) -> None:
        """The vehicle takes current again."""
        if self._vehicle is not None:
            self._vehicle.drawing = True
            self._refresh()

    def set_vehicle_max_current(self, max_current_a: float) -> None:
        """Change the most current the plugged vehicle draws per phase."""
        if self._vehicle is not None:
            self._vehicle.max_current_ma = round(max_current_a * 1000)
            self._refresh()

    def reboot(self, boot_duration: float = 1.0) -> None:
        """Restart the station: Sec from 0, State 0 for ``boot_duration`` seconds.

        ``curr``, ``ena``, ``currtime``, ``setenergy`` and a failsafe not saved with ``s=1``
        are reset; the session history, E total and the whitelist are kept; report 100 is all
        zero until a new session starts.
        """
        now = self._now()
        self._advance(now)
        self._end_session(now, 0)
        self._reset_volatile(now)
        self._booting_until = now + boot_duration
        self._boot_handle = self._call_later(boot_duration, self._on_boot_done)
        self._refresh()

    def _on_boot_done(self) -> None:
        self._boot_handle = None
        self._booting_until = None
        if self._closed:
            return
        if self._vehicle_connected():
            self._start_session(self._now())
        self._refresh()

    def record_past_sessions(
        self,
        count: int,
        *,
        energy_wh: float = 7000.0,
        duration_s: float = 3600.0,
        every_s: float = 86400.0,
        ago_s: float = 0.0,
        rfid_tag: str | None = None,
        rfid_class: str | None = None,
    ) -> list[int]:
        """Put ``count`` ended sessions into the history as if they had happened before now.

        The newest ends ``ago_s + every_s - duration_s`` seconds ago, each one ``every_s``
        before the next; ``E total`` grows by their energy. Without a set clock, times are
        uptime: the station is taken to have been running since before the first of them. Only
        the last 30 stay in the history (the ring buffer of reports 101…130). Returns the
        session IDs.
        """
        if count < 0 or duration_s < 0 or every_s < duration_s or ago_s < 0:
            raise ValueError("count >= 0, ago_s >= 0 and every_s >= duration_s >= 0 required")
        if self._session is not None and self._session.active:
            raise RuntimeError("a session is running")
        now = self._now()
        self._advance(now)
        first_start = now - ago_s - count * every_s
        if self._epoch_offset is None and first_start < self._boot_time + 1:
            self._boot_time = first_start - 1
        tag = (rfid_tag or p.ZERO_TAG).lower().ljust(p.TAG_HEX_LEN, "0")
        cls = (rfid_class or (p.ZERO_CLASS if rfid_tag is None else "01")).lower()
        cls = cls.ljust(p.CLASS_HEX_LEN, "0")
        ids: list[int] = []
        for index in range(count):
            start = first_start + index * every_s
            started_s, started = self._stamp(start)
            ended_s, ended = self._stamp(start + duration_s)
            session = Session(
                session_id=self._next_session_id,
                curr_hw=self.options.curr_hw_ma,
                e_start=int(self._e_total),
                started_s=started_s,
                started=started,
                rfid_tag=tag,
                rfid_class=cls,
                e_pres=int(energy_wh * 10),
                ended_s=ended_s,
                ended=ended,
                reason=1,
                time_q=self._time_q,
                active=False,
            )
            self._e_total += energy_wh * 10
            self._history.appendleft(session)
            ids.append(self._next_session_id)
            self._next_session_id += 1
        return ids

    def set_input(self, on: bool) -> None:
        """Set the state of input X1 (``Input`` of report 2, pushed)."""
        self._input = int(bool(on))
        self._refresh()

    def set_error(self, error1: int = 0, error2: int = 0) -> None:
        """Raise (non-zero ``error1``) or clear an error: State 4 and no current."""
        self._error = (int(error1), int(error2))
        self._refresh()

    def add_rfid_whitelist(self, tag: str, rfid_class: str = "") -> None:
        """Teach the station an RFID card (a c-series station then requires authorization)."""
        norm_tag = p.normalize_hex(tag, p.TAG_HEX_LEN)
        norm_cls = p.normalize_hex(rfid_class, p.CLASS_HEX_LEN) if rfid_class else p.ZERO_CLASS
        if norm_tag is None or norm_cls is None:
            raise ValueError("tag: 1-16 hex digits, class: up to 20 hex digits")
        self._whitelist[norm_tag] = norm_cls
        self._refresh()

    def clear_rfid_whitelist(self) -> None:
        """Forget all RFID cards."""
        self._whitelist.clear()
        self._refresh()

    def set_auth(self, on: bool | None) -> None:
        """Switch the RFID authorization function on or off.

        ``None`` restores the default: on the c-series it follows the whitelist (on when not
        empty), on the x-series it is off.
        """
        self._auth_setting = on
        self._refresh()

    def swipe_rfid(self, tag: str, rfid_class: str | None = None) -> bool:
        """Hold an RFID card to the reader; return True if it (de)authorized a session."""
        norm_tag = p.normalize_hex(tag, p.TAG_HEX_LEN)
        if norm_tag is None:
            return False
        return self._rfid(norm_tag, rfid_class)

    def _rfid(self, tag: str, rfid_class: str | None) -> bool:
        if not self._auth_on():
            return False
        if self._authorized is not None:
            if self._authorized[0] != tag:
                return False
            self._deauthorize()
            return True
        if tag not in self._whitelist:
            return False
        cls = self._whitelist[tag]
        if rfid_class:
            cls = p.normalize_hex(rfid_class, p.CLASS_HEX_LEN) or cls
        self._authorize(tag, cls)
        return True

    def _authorize(self, tag: str, cls: str) -> None:
        now = self._now()
        self._authorized = (tag, cls)
        session = self._session
        if session is not None and session.active:
            if session.rfid_tag == p.ZERO_TAG:
                session.rfid_tag, session.rfid_class = tag, cls
        elif self._vehicle_connected() and not self._booting():
            self._start_session(now)
        self._refresh()

    def _deauthorize(self) -> None:
        now = self._now()
        self._advance(now)
        self._authorized = None
        self._end_session(now, 10)
        self._refresh()

    def set_silent(self, silent: bool) -> None:
        """Cut (True) or restore (False) the network: nothing arrives, nothing leaves.

        Datagrams still reach the timing check (it judges the client), but are not processed.
        """
        self.silent = bool(silent)

    def set_loss(self, loss: float) -> None:
        """Set the probability of losing a datagram, each way."""
        if not 0.0 <= loss <= 1.0:
            raise ValueError("loss must be within 0..1")
        self.loss = loss

    def set_datetime(self, epoch: float, time_q: int = 2) -> None:
        """Set the station clock as ``setdatetime`` does (``time_q`` 2 = weak, 3 = strong)."""
        self._epoch_offset = epoch - self._now()
        self._time_q = time_q

    # ------------------------------------------------------------------ observations

    @property
    def eeprom_writes(self) -> int:
        """EEPROM writes caused by commands (``failsafe ... 1`` and ``output >= 10``)."""
        return self.eeprom["failsafe"] + self.eeprom["output"] + self.eeprom["x2src"]

    @property
    def history(self) -> list[dict[str, Any]]:
        """Reports 101 ... 130 of the sessions recorded so far (newest first)."""
        now = self._now()
        return [self._report1xx(101 + i, now) for i in range(len(self._history))]

    def violations(self) -> list[dict[str, Any]]:
        """Every timing violation seen at this station, each with ``client`` added."""
        if self.timing is None:
            return []
        return [
            {"station": self.ip, "serial": self.serial, "client": ip, **v.as_dict()}
            for ip, v in self.timing.all_violations()
        ]

    def summary(self) -> dict[str, Any]:
        """Counters, commands, EEPROM writes and timing findings of this station."""
        return {
            "ip": self.ip,
            "port": self.port,
            "serial": self.serial,
            "product": self.product,
            "variant": self.variant.name,
            "received": self.stats["received"],
            "sent": self.stats["sent"],
            "dropped": self.stats["dropped_in"] + self.stats["dropped_out"],
            "dropped_in": self.stats["dropped_in"],
            "dropped_out": self.stats["dropped_out"],
            "commands": dict(sorted(self.commands.items())),
            "eeprom_writes": {
                "failsafe": self.eeprom["failsafe"],
                "output": self.eeprom["output"],
                "x2src": self.eeprom["x2src"],
                "total": self.eeprom_writes,
            },
            "phase_switches": self.phase_switches,
            "phase_switches_under_load": len(self.phase_switches_under_load),
            "timing": self.timing.summary() if self.timing else {},
        }

    # ------------------------------------------------------------------ reports

    def report(self, number: int) -> dict[str, Any]:
        """Return the fields of ``report <number>`` as the station would answer now.

        Raises ``ValueError`` for a report this variant does not know.
        """
        now = self._now()
        self._advance(now)
        if number == 1:
            return self._report1(now)
        if number == 2:
            return self._report2(now)
        if number == 3:
            return self._report3(now)
        if 100 <= number <= 100 + p.HISTORY_SIZE and self.variant.has_history:
            return self._report1xx(number, now)
        raise ValueError(f"no report {number} on {self.variant.name}")

    @property
    def _udp_off(self) -> bool:
        """DIP switch DSW1.3 off (the option or the variant): only ``i`` and report 1 answer."""
        return self.options.udp_disabled or not self.variant.udp_control

    def _report1(self, now: float) -> dict[str, Any]:
        fields: dict[str, Any] = {
            "ID": "1",
            "Product": self.product,
            "Serial": self.serial,
            "Firmware": self.variant.firmware,
            "COM-module": self.variant.com_module,
            "Backend": 0,
            "timeQ": self._time_q,
        }
        if self.options.extended_report1 or not self.variant.udp_control:
            dip1 = self.options.dip_sw1
            if self._udp_off:
                # DSW1.3 off. Its bit is 0x20 (DSW1.1 is the most significant bit, as openHAB's
                # KEBA binding documents); 0x04, the bit an LSB-first reading would take, is
                # cleared too so that no reading of the byte shows DSW1.3 on.
                dip1 &= ~(DIP_DSW1_3 | 0x04)
            fields["setBoot"] = 0
            fields["DIP-Sw1"] = f"0x{dip1:02x}"
            fields["DIP-Sw2"] = f"0x{self.options.dip_sw2:02x}"
        if self.variant.bmw_format:
            dip1 = self.options.dip_sw1 & ~((DIP_DSW1_3 | 0x04) if self._udp_off else 0)
            fields["ID"] = 1
            fields["Backend"] = 1
            fields.pop("setBoot", None)
            fields.pop("DIP-Sw1", None)
            fields.pop("DIP-Sw2", None)
            fields["DIP-Sw"] = f"0x{dip1:02x}{self.options.dip_sw2:02x}"
        fields["Sec"] = self._sec(now)
        return fields

    def _report2(self, now: float) -> dict[str, Any]:
        max_curr = self._offered
        fields = {
            "ID": "2",
            "State": self._state(max_curr),
            "Error1": self._error[0],
            "Error2": self._error[1],
            "Plug": self._plug,
            "AuthON": int(self._auth_on()),
            "Authreq": int(self._auth_on() and self._authorized is None),
            "Enable sys": self._enable_sys(),
            "Enable user": int(self._enable_user),
            "Max curr": max_curr,
            "Max curr %": p.duty_cycle(max_curr),
            "Curr HW": self.options.curr_hw_ma,
            "Curr user": self._curr_user,
            "Curr FS": self._fs_current,
            "Tmo FS": self._fs_timeout,
            "Curr timer": self._curr_timer,
            "Tmo CT": self._tmo_ct(now),
            "Setenergy": self._setenergy,
            "Output": self._output,
            "Input": self._input,
        }
        if self.variant.has_phase_switch:
            fields["X2 phaseSwitch source"] = self._x2src
            fields["X2 phaseSwitch"] = self._x2
        fields["Serial"] = self.serial
        fields["Sec"] = self._sec(now)
        return fields

    def _report3(self, now: float) -> dict[str, Any]:
        meter = self.variant.has_meter
        u1, u2, u3 = self._voltages if meter else (0, 0, 0)
        i1, i2, i3 = self._currents if meter else (0, 0, 0)
        return {
            "ID": "3",
            "U1": u1,
            "U2": u2,
            "U3": u3,
            "I1": i1,
            "I2": i2,
            "I3": i3,
            "P": self._power_mw,
            "PF": self._pf if meter else 0,
            "E pres": int(self._e_pres) if meter else 0,
            "E total": int(self._e_total) if meter else 0,
            "Serial": self.serial,
            "Sec": self._sec(now),
        }

    def _report1xx(self, number: int, now: float) -> dict[str, Any]:
        session: Session | None
        if number == 100:
            session = self._session
        else:
            index = number - 101
            session = self._history[index] if index < len(self._history) else None
        if session is None:
            return {
                "ID": str(number),
                "Session ID": 0,
                "Curr HW": 0,
                "E start": 0,
                "E pres": 0,
                "started[s]": 0,
                "ended[s]": 0,
                "started": "0",
                "ended": "0",
                "reason": 0,
                "timeQ": 0,
                "RFID tag": p.ZERO_TAG,
                "RFID class": p.ZERO_CLASS,
                "Serial": self.serial,
                "Sec": self._sec(now),
            }
        meter = self.variant.has_meter
        e_pres = int(self._e_pres) if session.active else session.e_pres
        return {
            "ID": str(number),
            "Session ID": session.session_id,
            "Curr HW": session.curr_hw,
            "E start": session.e_start if meter else 0,
            "E pres": e_pres if meter else 0,
            "started[s]": session.started_s,
            "ended[s]": session.ended_s,
            "started": session.started,
            "ended": session.ended,
            "reason": session.reason,
            "timeQ": session.time_q,
            "RFID tag": session.rfid_tag,
            "RFID class": session.rfid_class,
            "Serial": self.serial,
            "Sec": self._sec(now),
        }

    # ------------------------------------------------------------------ network

    def receive_datagram(
        self, data: bytes, addr: tuple[str, int], *, arrival: float | None = None
    ) -> None:
        """Process a datagram from ``addr`` as if it had arrived on the station's socket.

        Records it (timing check, counters), applies the simulated loss, executes the command
        and sends the reply and any resulting status messages. ``arrival`` is the loop time the
        datagram reached the socket (from the kernel); the timing check uses it when known.
        """
        if self._closed or self._loop is None:
            return
        now = self._loop.time() if arrival is None else min(arrival, self._loop.time())
        text = data.decode("utf-8", "replace").strip()
        client_ip = addr[0]
        self.stats["received"] += 1
        self.received.append((now, client_ip, text))
        self.commands[command_identity(text) or "(empty)"] += 1
        if self.timing is not None:
            for violation in self.timing.observe(client_ip, text, now):
                _LOGGER.warning(
                    "%s: %s violated by %s: %r %.4f s after %r",
                    self.ip,
                    violation.rule,
                    client_ip,
                    violation.command,
                    violation.gap,
                    violation.previous,
                )
        if self.options.verbose:
            _LOGGER.info("%s <- %s:%d %r", self.ip, client_ip, addr[1], text)
        if self.silent or (self.loss > 0 and self._rng.random() < self.loss):
            self.stats["dropped_in"] += 1
            return
        if not p.is_allowed_address(client_ip):
            self.stats["dropped_in"] += 1
            return
        if self._udp_off and command_identity(text) not in ("i", "report 1"):
            return
        self._last_client = addr
        self._deferred = []
        try:
            reply = self.handle_command(text)
            if reply is not None:
                self._send(reply, self._reply_addr(addr))
            self._refresh()
        finally:
            pushes, self._deferred = self._deferred, None
        for push in pushes:
            self._send(push, self._reply_addr(addr))

    def _reply_addr(self, addr: tuple[str, int]) -> tuple[str, int]:
        if self.options.reply_to_source_port:
            return addr
        return (addr[0], self.options.client_port)

    def _push(self, key: str, value: int) -> None:
        if self._last_client is None or self._udp_off:
            return
        texts = [p.format_push(key, value)]
        if self.options.absurd > 0 and self._rng.random() < self.options.absurd:
            forged = self._rng.choice([d for d in ABSURD_DATAGRAMS if "ID" not in d])
            texts.append(json.dumps(forged))
            self.stats["absurd_sent"] += 1
        for text in texts:
            if self._deferred is not None:
                self._deferred.append(text)
            else:
                self._send(text, self._reply_addr(self._last_client))

    def inject_absurd(self, count: int = len(ABSURD_DATAGRAMS)) -> int:
        """Send ``count`` of :data:`ABSURD_DATAGRAMS` in turn, unasked, to the last client.

        Returns how many were sent (none before any client has spoken to the station).
        """
        if self._last_client is None:
            return 0
        for index in range(count):
            forged = ABSURD_DATAGRAMS[index % len(ABSURD_DATAGRAMS)]
            self._send(json.dumps(forged), self._reply_addr(self._last_client))
            self.stats["absurd_sent"] += 1
        return count

    def _send(self, text: str, addr: tuple[str, int]) -> None:
        if self._transport is None or self._closed:
            return
        if not p.is_allowed_address(addr[0]):
            _LOGGER.error("%s: refusing to send to non-loopback %s", self.ip, addr[0])
            return
        if self.silent or (self.loss > 0 and self._rng.random() < self.loss):
            self.stats["dropped_out"] += 1
            return
        data = text.encode("utf-8")
        duplicate = self.options.duplicate
        copies = 2 if duplicate > 0 and self._rng.random() < duplicate else 1
        for _ in range(copies):
            delay = self.options.delay_ms
            if self.options.jitter_ms > 0:
                delay += self._rng.uniform(0.0, self.options.jitter_ms)
            if delay <= 0:
                self._deliver(data, addr, None)
            else:
                assert self._loop is not None
                holder: list[asyncio.TimerHandle] = []
                handle = self._loop.call_later(delay / 1000.0, self._deliver, data, addr, holder)
                holder.append(handle)
                self._pending_sends.add(handle)

    def _deliver(
        self, data: bytes, addr: tuple[str, int], holder: list[asyncio.TimerHandle] | None
    ) -> None:
        if holder:
            self._pending_sends.discard(holder[0])
        if self._transport is None or self._closed:
            return
        self._transport.sendto(data, addr)
        self.stats["sent"] += 1
        if self.options.verbose:
            _LOGGER.info("%s -> %s:%d %r", self.ip, addr[0], addr[1], data.decode())

    # ------------------------------------------------------------------ commands

    def handle_command(self, text: str) -> str | None:
        """Execute one command text and return the reply text (None: no reply).

        This is what a datagram triggers, without the network around it; the effects (pushes
        included) are the same.
        """
        words = text.split()
        if not words:
            return None
        name = words[0].lower()
        args = words[1:]
        if name not in _COMMANDS:
            return p.ERR_UNKNOWN
        handler: Callable[[list[str]], str | None] = getattr(self, f"_cmd_{name}")
        return handler(args)

    def _keepalive(self) -> None:
        """A ``curr``/``currtime``/``ena`` arrived: restart the failsafe timeout."""
        if self._fs_triggered:
            self._fs_triggered = False
        if self._fs_timeout > 0:
            self._arm_failsafe()

    def _arm_failsafe(self) -> None:
        self._cancel(self._fs_handle)
        self._fs_handle = self._call_later(
            self._fs_timeout * self.options.timer_scale, self._on_failsafe
        )

    def _on_failsafe(self) -> None:
        self._fs_handle = None
        if self._closed:
            return
        self._fs_triggered = True
        _LOGGER.info("%s: failsafe triggered (Curr FS %d)", self.ip, self._fs_current)
        self._refresh()

    def _set_curr_user(self, value: int, *, from_currtime: bool) -> None:
        self._curr_user = value
        self._curr_user_from_currtime = from_currtime
        if value == 0 or self._offered == 0:
            self._cancel(self._iec_handle)
            self._iec_handle = None
            self._applied_user = value
        elif self._iec_handle is None:
            self._iec_handle = self._call_later(
                self.options.current_change_delay, self._on_iec_delay
            )
        self._refresh()

    def _on_iec_delay(self) -> None:
        self._iec_handle = None
        if self._closed:
            return
        self._applied_user = self._curr_user
        self._refresh()

    def _on_currtime_expired(self) -> None:
        self._ct_handle = None
        self._ct_deadline = None
        if self._closed:
            return
        target = self._curr_timer
        if target == 0:
            self._paused = True
        else:
            self._paused = False
            self._enable_user = True
        self._set_curr_user(target, from_currtime=True)

    def _cmd_i(self, args: list[str]) -> str | None:
        if args:
            return p.ERR_INVALID
        return p.format_firmware(self.variant.firmware, self.options.firmware_style)

    def _cmd_report(self, args: list[str]) -> str | None:
        if len(args) != 1:
            return p.ERR_INVALID
        number = p.parse_uint(args[0])
        if number is None:
            return p.ERR_INVALID
        try:
            fields = self.report(number)
        except ValueError:
            return p.ERR_INVALID
        if (
            number in (2, 3)
            and self.options.absurd > 0
            and self._rng.random() < self.options.absurd
        ):
            fields = absurd_report(fields, self._rng)
            self.stats["absurd_sent"] += 1
        return p.format_report(fields, compact=self.options.compact)

    def _cmd_currtime(self, args: list[str]) -> str | None:
        if not self.variant.has_currtime:
            return p.ERR_UNKNOWN
        if len(args) != 2:
            return p.ERR_INVALID
        current, delay = p.parse_uint(args[0]), p.parse_uint(args[1])
        if current is None or delay is None:
            return p.ERR_INVALID
        if current != 0 and not p.CURRENT_MIN <= current <= p.CURRENT_MAX:
            return p.ERR_INVALID
        if delay > p.CURRTIME_MAX_S:
            return p.ERR_INVALID
        self._keepalive()
        self._cancel(self._ct_handle)
        self._ct_handle = None
        if delay == 0:
            self._ct_deadline = None
            self._curr_timer = 0
        else:
            self._curr_timer = current
            self._ct_deadline = self._now() + delay * self.options.timer_scale
            self._ct_handle = self._call_later(
                delay * self.options.timer_scale, self._on_currtime_expired
            )
        self._refresh()
        return p.REPLY_OK

    def _cmd_curr(self, args: list[str]) -> str | None:
        if len(args) != 1:
            return p.ERR_INVALID
        current = p.parse_uint(args[0])
        if current is None or not p.CURRENT_MIN <= current <= p.CURRENT_MAX:
            return p.ERR_INVALID
        self._keepalive()
        if self.variant.has_phase_switch and self._x2src == 4:
            # Reported from the field (ioBroker.kecontact #380): ``curr`` forces X2 to 1.
            self._set_x2(1)
        self._set_curr_user(current, from_currtime=False)
        return p.REPLY_OK

    def _cmd_ena(self, args: list[str]) -> str | None:
        if len(args) != 1 or args[0] not in ("0", "1"):
            return p.ERR_INVALID
        self._keepalive()
        self._enable_user = args[0] == "1"
        self._refresh()
        return p.REPLY_OK

    def _cmd_setenergy(self, args: list[str]) -> str | None:
        if len(args) != 1:
            return p.ERR_INVALID
        energy = p.parse_uint(args[0])
        if energy is None or energy > p.SETENERGY_MAX:
            return p.ERR_INVALID
        self._advance(self._now())
        self._setenergy = energy
        self._energy_reached = self._limit_reached()
        self._refresh()
        return p.REPLY_OK

    def _cmd_output(self, args: list[str]) -> str | None:
        value = p.parse_uint(args[0]) if len(args) == 1 else None
        if value is None:
            # Invalid values switch the relay off; the reply only confirms the receipt.
            self._output = 0
            return p.REPLY_OK
        if 2 <= value <= 9:
            return None
        self._output = value
        if value >= 10:
            self.eeprom["output"] += 1
            self._output_saved = value
        return p.REPLY_OK

    def _cmd_start(self, args: list[str]) -> str | None:
        if len(args) not in (1, 2):
            return p.ERR_INVALID
        tag = p.normalize_hex(args[0], p.TAG_HEX_LEN)
        cls = p.normalize_hex(args[1], p.CLASS_HEX_LEN) if len(args) == 2 else None
        if tag is None or (len(args) == 2 and cls is None):
            return p.ERR_INVALID
        if self._authorized is None:
            self._rfid(tag, cls)
        return p.REPLY_OK

    def _cmd_stop(self, args: list[str]) -> str | None:
        if len(args) != 1:
            return p.ERR_INVALID
        tag = p.normalize_hex(args[0], p.TAG_HEX_LEN)
        if tag is None:
            return p.ERR_INVALID
        if self._authorized is not None and self._authorized[0] == tag:
            self._deauthorize()
        return p.REPLY_OK

    def _cmd_display(self, args: list[str]) -> str | None:
        if not self.variant.has_display:
            return p.ERR_UNKNOWN
        if len(args) not in (4, 5):
            return p.ERR_INVALID
        numbers = [p.parse_uint(a) for a in args[:4]]
        if any(n is None for n in numbers) or numbers[0] not in (0, 1):
            return p.ERR_INVALID
        raw = args[4] if len(args) == 5 else ""
        if len(raw) > p.DISPLAY_MAX_CHARS or not raw.isascii() or not raw.isprintable():
            return p.ERR_INVALID
        shown = raw.replace("$", " ").replace("~", "\u03a3")
        self.display = {
            "mode": numbers[0],
            "min": numbers[1],
            "max": numbers[2],
            "token": numbers[3],
            "raw": raw,
            "text": shown,
        }
        self.last_display_text = shown
        return p.REPLY_OK

    def _cmd_unlock(self, args: list[str]) -> str | None:
        if args:
            return p.ERR_INVALID
        if self.variant.socket_outlet and self._plug == 7 and self._offered == 0:
            self._plug = 5
            self._refresh()
        return p.REPLY_OK

    def _cmd_setdatetime(self, args: list[str]) -> str | None:
        if len(args) != 1:
            return p.ERR_INVALID
        epoch = p.parse_uint(args[0])
        if epoch is None or epoch >= 2**32:
            return p.ERR_INVALID
        self.set_datetime(epoch, 2)
        return p.REPLY_OK

    def _cmd_failsafe(self, args: list[str]) -> str | None:
        if len(args) != 3:
            return p.ERR_INVALID
        timeout, current, save = (p.parse_uint(a) for a in args)
        minimum = (
            FAILSAFE_MIN_TIMEOUT_S
            if self.options.failsafe_min_timeout is None
            else self.options.failsafe_min_timeout
        )
        if (
            timeout is None
            or current is None
            or save not in (0, 1)
            or (timeout != 0 and not minimum <= timeout <= p.FAILSAFE_MAX_TIMEOUT_S)
            or (current != 0 and not p.CURRENT_MIN <= current <= p.CURRENT_MAX)
        ):
            return p.ERR_INVALID
        self._fs_timeout, self._fs_current = timeout, current
        self._fs_triggered = False
        if save == 1:
            self.eeprom["failsafe"] += 1
            self._failsafe_saved = (timeout, current)
        self._cancel(self._fs_handle)
        self._fs_handle = None
        if timeout > 0:
            self._arm_failsafe()
        self._refresh()
        return p.REPLY_OK

    # ------------------------------------------------------------------ phase switch (X2)

    def _cmd_x2src(self, args: list[str]) -> str | None:
        if not self.variant.has_phase_switch:
            return p.ERR_UNKNOWN
        value = p.parse_uint(args[0]) if len(args) == 1 else None
        if value is None or value > 4:
            return p.ERR_INVALID
        # Treated as a stored setting: every accepted x2src counts as an EEPROM write.
        self.eeprom["x2src"] += 1
        self._x2src = value
        return p.REPLY_OK

    def _cmd_x2(self, args: list[str]) -> str | None:
        if not self.variant.has_phase_switch:
            return p.ERR_UNKNOWN
        if len(args) != 1 or args[0] not in ("0", "1"):
            return p.ERR_INVALID
        if self._x2src != 4 or self.options.phase_switch_fault == "refuse":
            return p.REPLY_OK  # confirmed, but UDP is not the source: X2 keeps its state
        self._set_x2(int(args[0]))
        return p.REPLY_OK

    def _set_x2(self, value: int) -> None:
        if value == self._x2:
            return
        if any(self._currents):
            self.phase_switches_under_load.append(
                {"time": self._now() - (self._origin or 0.0), "x2": value, "mA": self._currents}
            )
            _LOGGER.warning("%s: X2 changed to %d under load %s", self.ip, value, self._currents)
        self._x2 = value
        self._cancel(self._x2_handle)
        self._x2_handle = self._call_later(self.options.phase_switch_delay, self._on_x2_moved)

    def _on_x2_moved(self) -> None:
        self._x2_handle = None
        if self._closed or self.options.phase_switch_fault == "ignore":
            return
        phases = 3 if self._x2 else 1
        if phases != self._switch_phases:
            self._switch_phases = phases
            self.phase_switches += 1
            self._refresh()

    @property
    def switch_phases(self) -> int:
        """Phases the external phase switch connects now (1 or 3)."""
        return self._switch_phases
