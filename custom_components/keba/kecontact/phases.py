"""Switching between one and three phases through output X2 (KEBA S10 or an equivalent switch).

Facts and their sources are listed in ``simulator/README.md`` ("Phase switching"). In short:

* ``x2src <n>`` selects where the phase-switch command comes from (0 none, 3 Modbus, 4 UDP);
  report 2 shows it as ``X2 phaseSwitch source``. It is a configuration of the station (also set
  in its web interface or app), so it is treated as stored in EEPROM: sent only when report 2
  shows another value, only after the user turned phase switching on, once per request.
* ``x2 <0|1>`` selects one (0) or three (1) phases; report 2 shows ``X2 phaseSwitch``. The
  ``TCH-OK`` reply only confirms receipt; report 2 confirms the state.
* The switch must happen without current: the sequence pauses with ``currtime 0 1``, waits
  until report 3 shows no current, switches, confirms, waits a settle time and resumes.
* ``curr`` is reported to force X2 to 1; this module never sends it (``currtime`` does not).
* Support: the report 2 fields are present; a c-series needs firmware 3.10.42 or newer (the
  x-series needs software 1.17, which report 1 does not show, so there the fields decide).
"""

from __future__ import annotations

from dataclasses import dataclass
import enum
import logging
import re

from .clock import Clock, LoopClock
from .exceptions import (
    KebaCommandError,
    KebaError,
    KebaUnsupportedError,
    KebaValidationError,
    KebaVerificationError,
)
from .models import ChargingStatus, StationInfo
from .parser import CommandReply
from .station import KebaStation

_LOGGER = logging.getLogger(__name__)

X2_SOURCE_FIELD = "X2 phaseSwitch source"
X2_STATE_FIELD = "X2 phaseSwitch"
X2_SOURCE_UDP = 4
X2_SOURCES = {0: "none", 1: "ocpp", 2: "web", 3: "modbus", 4: "udp"}
"""Values of ``X2 phaseSwitch source`` (1 and 2 are named differently by different sources)."""

#: First c-series firmware with the phase switch (P30 c-series release 3.10.42).
MIN_FIRMWARE_C_SERIES = (3, 10, 42)

_FIRMWARE_VERSION = re.compile(r"\bv\s*(\d+)\.(\d+)\.(\d+)")


class PhaseSwitchSupport(enum.StrEnum):
    """Whether a station can switch phases over UDP."""

    SUPPORTED = "supported"
    UNKNOWN = "unknown"  # no report 2 yet
    NO_FIELDS = "no_fields"  # report 2 has no X2 phaseSwitch fields
    FIRMWARE_TOO_OLD = "firmware_too_old"


class PhaseSwitchState(enum.StrEnum):
    """Where the switching sequence is."""

    IDLE = "idle"
    PAUSING = "pausing"
    SWITCHING = "switching"
    SETTLING = "settling"
    RESUMING = "resuming"
    GAVE_UP = "gave_up"  # the station or vehicle did not follow; no more tries this session


class PhaseSwitchOutcome(enum.StrEnum):
    """The result of :meth:`PhaseSwitcher.switch`."""

    SWITCHED = "switched"
    ALREADY = "already"
    UNSUPPORTED = "unsupported"
    SOURCE_NOT_UDP = "source_not_udp"
    AUTHORIZATION = "authorization"
    DWELL = "dwell"
    CAP = "cap"
    BUSY = "busy"
    GAVE_UP = "gave_up"
    FAILED = "failed"


def firmware_version(firmware: str) -> tuple[int, int, int] | None:
    """``(3, 10, 42)`` from ``P30 v 3.10.42 (220906-091518)``; None when there is no version."""
    match = _FIRMWARE_VERSION.search(firmware or "")
    if match is None:
        return None
    major, minor, patch = (int(group) for group in match.groups())
    return major, minor, patch


def x2_source(status: ChargingStatus | None) -> int | None:
    """``X2 phaseSwitch source`` of report 2 (None when absent or not a number)."""
    return _int_field(status, X2_SOURCE_FIELD)


def x2_state(status: ChargingStatus | None) -> int | None:
    """``X2 phaseSwitch`` of report 2: 0 one phase, 1 three phases (None when absent)."""
    return _int_field(status, X2_STATE_FIELD)


def x2_phases(status: ChargingStatus | None) -> int | None:
    """The phases X2 selects now (1 or 3), or None."""
    state = x2_state(status)
    return None if state not in (0, 1) else (3 if state else 1)


def _int_field(status: ChargingStatus | None, name: str) -> int | None:
    if status is None:
        return None
    value = status.extra.get(name)
    if isinstance(value, bool) or not isinstance(value, int):
        return None
    return value


def phase_switch_support(
    info: StationInfo | None, status: ChargingStatus | None, *, com_module: bool | None = None
) -> PhaseSwitchSupport:
    """Whether the station has the phase switch commands (report 2 fields and firmware)."""
    if status is None:
        return PhaseSwitchSupport.UNKNOWN
    if x2_source(status) is None or x2_state(status) is None:
        return PhaseSwitchSupport.NO_FIELDS
    is_x_series = com_module if com_module is not None else bool(info and info.com_module)
    version = firmware_version(info.firmware) if info is not None else None
    if (
        not is_x_series
        and version is not None
        and version[0] == MIN_FIRMWARE_C_SERIES[0]
        and version < MIN_FIRMWARE_C_SERIES
    ):
        return PhaseSwitchSupport.FIRMWARE_TOO_OLD
    return PhaseSwitchSupport.SUPPORTED


async def _command(station: KebaStation, text: str) -> None:
    reply, sent = await station.link.request(text)
    if isinstance(reply, CommandReply) and reply.ok:
        return
    detail = reply.text if isinstance(reply, CommandReply) else type(reply).__name__
    raise KebaCommandError(f"{station.host} refused {sent!r}: {detail}")


async def send_phase_source_udp(station: KebaStation) -> bool:
    """Make UDP the phase-switch source (``x2src 4``) unless report 2 already shows it.

    Reads report 2 first and sends nothing when the source is 4 or the fields are missing; returns
    whether ``x2src 4`` was sent. Call it once after the user turned phase switching on, never at
    start-up and never in a loop: the setting is treated as stored in EEPROM.
    """
    status = await station.get_status()
    source = x2_source(status)
    if source is None:
        raise KebaUnsupportedError(f"{station.host}: report 2 shows no {X2_SOURCE_FIELD}")
    if source == X2_SOURCE_UDP:
        return False
    _LOGGER.info("%s: phase-switch source %s -> udp (x2src 4)", station.host, source)
    await _command(station, f"x2src {X2_SOURCE_UDP}")
    status = await station.get_status()
    if x2_source(status) != X2_SOURCE_UDP:
        raise KebaVerificationError(f"{station.host}: report 2 does not show x2src 4")
    return True


async def send_x2(station: KebaStation, phases: int, *, verify: bool = True) -> None:
    """``x2 0`` (one phase) or ``x2 1`` (three phases), verified with report 2.

    Only for a station without current flowing: :class:`PhaseSwitcher` runs the safe sequence.
    """
    if isinstance(phases, bool) or phases not in (1, 3):
        raise KebaValidationError(f"phases must be 1 or 3, not {phases!r}")
    value = 1 if phases == 3 else 0
    await _command(station, f"x2 {value}")
    if verify:
        status = await station.get_status()
        if x2_state(status) != value:
            raise KebaVerificationError(f"{station.host}: report 2 does not show x2 {value}")


@dataclass(frozen=True, slots=True, kw_only=True)
class PhaseSwitchSettings:
    """Timing and limits of the switching sequence (defaults are the safe ones).

    ``dwell_s`` follows the 5 minutes other energy managers keep between two switches of a
    KEBA phase switch (ioBroker.kecontact: 305 s).
    """

    dwell_s: float = 300.0
    max_switches_per_session: int = 20
    current_gone_a: float = 0.5
    current_gone_timeout_s: float = 30.0
    settle_s: float = 10.0
    follow_timeout_s: float = 60.0


@dataclass(frozen=True, slots=True)
class SwitchResult:
    """What :meth:`PhaseSwitcher.switch` did."""

    outcome: PhaseSwitchOutcome
    phases: int | None
    reason: str = ""


class PhaseSwitcher:
    """Runs the 1/3-phase switching sequence of one station and keeps its per-session limits."""

    def __init__(
        self,
        station: KebaStation,
        settings: PhaseSwitchSettings | None = None,
        clock: Clock | None = None,
    ) -> None:
        """Prepare the switcher; nothing is sent until :meth:`switch`."""
        self.station = station
        self.settings = settings or PhaseSwitchSettings()
        self.clock: Clock = clock or LoopClock()
        self.state = PhaseSwitchState.IDLE
        self.switches_this_session = 0
        self.last_switch_at: float | None = None
        self.gave_up_reason: str | None = None
        self.target_phases: int | None = None

    @property
    def support(self) -> PhaseSwitchSupport:
        """Support as the latest report 1 and report 2 show it."""
        snapshot = self.station.snapshot
        return phase_switch_support(snapshot.info, snapshot.status)

    @property
    def busy(self) -> bool:
        """A sequence is running."""
        return self.state not in (PhaseSwitchState.IDLE, PhaseSwitchState.GAVE_UP)

    def new_session(self) -> None:
        """A new charging session (vehicle unplugged): the cap and a give-up are reset."""
        self.switches_this_session = 0
        self.gave_up_reason = None
        if self.state is PhaseSwitchState.GAVE_UP:
            self.state = PhaseSwitchState.IDLE

    def dwell_remaining(self) -> float:
        """Seconds until a switch is allowed by the dwell time (0 when allowed)."""
        if self.last_switch_at is None:
            return 0.0
        return max(0.0, self.last_switch_at + self.settings.dwell_s - self.clock.time())

    def next_switch_in(self) -> float | None:
        """Seconds until a switch is allowed (0: now); None: none is left this session.

        None once the switcher gave up or the session used its cap of switches; otherwise
        what the dwell time still forbids.
        """
        if self.state is PhaseSwitchState.GAVE_UP:
            return None
        if self.switches_this_session >= self.settings.max_switches_per_session:
            return None
        return self.dwell_remaining()

    def _refusal(self, phases: int, status: ChargingStatus) -> SwitchResult | None:
        current = x2_phases(status)
        if self.busy:
            return SwitchResult(PhaseSwitchOutcome.BUSY, current)
        if self.state is PhaseSwitchState.GAVE_UP:
            return SwitchResult(PhaseSwitchOutcome.GAVE_UP, current, self.gave_up_reason or "")
        support = phase_switch_support(self.station.snapshot.info, status)
        if support is not PhaseSwitchSupport.SUPPORTED:
            return SwitchResult(PhaseSwitchOutcome.UNSUPPORTED, current, support.value)
        if x2_source(status) != X2_SOURCE_UDP:
            return SwitchResult(PhaseSwitchOutcome.SOURCE_NOT_UDP, current)
        if current == phases:
            return SwitchResult(PhaseSwitchOutcome.ALREADY, current)
        if status.auth_required:
            return SwitchResult(PhaseSwitchOutcome.AUTHORIZATION, current)
        if self.dwell_remaining() > 0:
            return SwitchResult(PhaseSwitchOutcome.DWELL, current)
        if self.switches_this_session >= self.settings.max_switches_per_session:
            return SwitchResult(PhaseSwitchOutcome.CAP, current)
        return None

    def _give_up(self, reason: str) -> None:
        _LOGGER.warning(
            "%s: phase switching stopped for this session: %s", self.station.host, reason
        )
        self.gave_up_reason = reason
        self.state = PhaseSwitchState.GAVE_UP

    async def switch(self, phases: int, resume_current_a: float | None) -> SwitchResult:
        """Switch to ``phases`` (1 or 3) and resume at ``resume_current_a`` (None: stay paused).

        Refuses (without sending anything but report 2) while authorization is pending, within
        the dwell time, beyond the cap per session, when the source is not UDP, or after the
        station or vehicle did not follow once in this session.
        """
        if isinstance(phases, bool) or phases not in (1, 3):
            raise KebaValidationError(f"phases must be 1 or 3, not {phases!r}")
        if self.busy:
            return SwitchResult(PhaseSwitchOutcome.BUSY, None)
        status = await self.station.get_status()
        refusal = self._refusal(phases, status)
        if refusal is not None:
            return refusal
        self.target_phases = phases
        try:
            return await self._run(phases, resume_current_a)
        except KebaError as err:
            self._give_up(f"error: {err}")
            return SwitchResult(PhaseSwitchOutcome.GAVE_UP, None, str(err))
        finally:
            if self.state is not PhaseSwitchState.GAVE_UP:
                self.state = PhaseSwitchState.IDLE

    async def _run(self, phases: int, resume_current_a: float | None) -> SwitchResult:
        settings, station, clock = self.settings, self.station, self.clock
        self.state = PhaseSwitchState.PAUSING
        await station.pause_charging()
        deadline = clock.time() + settings.current_gone_timeout_s
        while True:
            meter = await station.get_meter()
            flowing = [c for c in meter.currents if c is not None and c >= settings.current_gone_a]
            if not flowing:
                break
            if clock.time() >= deadline:
                self._give_up("the current did not stop after the pause")
                return SwitchResult(PhaseSwitchOutcome.GAVE_UP, None, self.gave_up_reason or "")
            await clock.sleep(1.0)
        self.state = PhaseSwitchState.SWITCHING
        try:
            await send_x2(station, phases)
        except KebaVerificationError:
            self._give_up("the station did not take the phase switch (report 2)")
            await self._resume(resume_current_a)
            return SwitchResult(PhaseSwitchOutcome.GAVE_UP, None, self.gave_up_reason or "")
        self.switches_this_session += 1
        self.last_switch_at = clock.time()
        self.state = PhaseSwitchState.SETTLING
        await clock.sleep(settings.settle_s)
        self.state = PhaseSwitchState.RESUMING
        await self._resume(resume_current_a)
        if resume_current_a is not None and not await self._vehicle_follows(phases):
            return SwitchResult(PhaseSwitchOutcome.GAVE_UP, phases, self.gave_up_reason or "")
        return SwitchResult(PhaseSwitchOutcome.SWITCHED, phases)

    async def _resume(self, resume_current_a: float | None) -> None:
        if resume_current_a is not None:
            await self.station.set_current(resume_current_a)

    async def _vehicle_follows(self, phases: int) -> bool:
        """Wait for current; give up when it flows on other phases than selected."""
        deadline = self.clock.time() + self.settings.follow_timeout_s
        while self.clock.time() < deadline:
            meter = await self.station.get_meter()
            in_use = meter.phases_in_use
            if in_use:
                if in_use == phases:
                    return True
                self._give_up(f"current flows on {in_use} phase(s), {phases} selected")
                return False
            await self.clock.sleep(1.0)
        return True  # the vehicle draws nothing (yet): nothing to judge


async def enable_phase_switching(station: KebaStation) -> bool:
    """The user turned phase switching on: make UDP the source when it is not (see above)."""
    try:
        return await send_phase_source_udp(station)
    except KebaUnsupportedError:
        raise
    except KebaCommandError as err:
        raise KebaUnsupportedError(f"{station.host}: x2src refused ({err})") from err
