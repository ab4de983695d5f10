"""High-level client of one KEBA station: typed reports, validated commands, live state."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Iterator
import contextlib
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
import enum
import ipaddress
import logging
import socket
from typing import Any

from .const import (
    CURRENT_MAX_MA,
    CURRENT_MIN_MA,
    CURRTIME_DELAY_MAX,
    DISPLAY_MAX_CHARS,
    ENERGY_LIMIT_MAX,
    FAILSAFE_TIMEOUT_MAX,
    FAILSAFE_TIMEOUT_MIN,
    OUTPUT_PULSES_MAX,
    OUTPUT_PULSES_MIN,
    REPORT_SESSION_FIRST_HISTORY,
    REPORT_SESSION_LAST_HISTORY,
    REPORT_SESSION_LATEST,
    RFID_CLASS_HEX_CHARS,
    RFID_TAG_HEX_CHARS,
)
from .exceptions import (
    KebaCommandError,
    KebaConnectionError,
    KebaError,
    KebaImplausibleError,
    KebaUnsupportedError,
    KebaValidationError,
    KebaVerificationError,
)
from .link import RetryPolicy, StationLink
from .models import (
    ChargingSession,
    ChargingStatus,
    FirmwareInfo,
    MeterReading,
    StationInfo,
    StationSnapshot,
)
from .parser import CommandReply, Datagram, FirmwareReply, PushMessage, ReportReply
from .plausibility import (
    CounterGuard,
    Judgement,
    RejectedSample,
    RejectionStats,
    check_fields,
    energy_guard,
    number,
    session_id_guard,
    uptime_guard,
)
from .product import Capabilities
from .transport import KebaEndpoint

_LOGGER = logging.getLogger(__name__)

#: Reports the plausibility layer judges (and applies); others are ignored.
_JUDGED_REPORTS = frozenset({1, 2, 3, *range(100, 131)})
#: Verdicts on solicited reports kept until their requester reads them.
_VERDICTS_KEPT = 256
#: At most this many fields of a rejected datagram are kept as its sample.
_SAMPLE_FIELDS = 24


class EventKind(enum.StrEnum):
    """What a :class:`StationEvent` tells."""

    PUSH = "push"
    INFO = "info"
    STATUS = "status"
    METER = "meter"
    SESSION = "session"
    REBOOT = "reboot"
    #: A push that would change whether a vehicle is plugged in or charging (and so the
    #: polling pace, or start or end a session) arrived. It is NOT in the snapshot: the station
    #: reads report 2 to confirm it (within the timing rules), and that report's ``STATUS``
    #: event carries the confirmed state. ``fields`` holds the pushed values;
    #: :attr:`KebaStation.provisional` holds them until report 2 has answered or failed.
    PROVISIONAL = "provisional"


@dataclass(frozen=True, slots=True)
class StationEvent:
    """Something new about a station; ``snapshot`` is the state after it."""

    kind: EventKind
    snapshot: StationSnapshot
    fields: dict[str, Any] = field(default_factory=dict)


type StationListener = Callable[[StationEvent], None]
type RejectionListener = Callable[[RejectedSample], None]


async def resolve_host(host: str) -> str:
    """Return the IPv4 address of ``host`` (an address or a DNS name)."""
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        pass
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, None, family=socket.AF_INET, type=socket.SOCK_DGRAM)
    except OSError as err:
        raise KebaConnectionError(f"cannot resolve {host}: {err}") from err
    if not infos:
        raise KebaConnectionError(f"cannot resolve {host}")
    return str(infos[0][4][0])


def _whole(value: float, factor: int, what: str) -> int:
    """``value × factor`` rounded; anything but a finite real number is a validation error."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise KebaValidationError(f"{what} must be a number, not {value!r}")
    try:
        return round(value * factor)
    except OverflowError, ValueError:  # infinity, NaN, or beyond any float
        raise KebaValidationError(f"{what} must be a finite number, not {value!r}") from None


def _ma(current_a: float, *, allow_zero: bool = False) -> int:
    milliamps = _whole(current_a, 1000, "current")
    if allow_zero and milliamps == 0:
        return 0
    if not CURRENT_MIN_MA <= milliamps <= CURRENT_MAX_MA:
        lowest = "0 or " if allow_zero else ""
        raise KebaValidationError(
            f"current {current_a} A is out of range ({lowest}"
            f"{CURRENT_MIN_MA / 1000:g}–{CURRENT_MAX_MA / 1000:g} A)"
        )
    return milliamps


def _hex(value: str, name: str, max_chars: int) -> str:
    text = value.strip().lower() if isinstance(value, str) else ""
    if not text or len(text) > max_chars or any(c not in "0123456789abcdef" for c in text):
        raise KebaValidationError(f"{name} must be 1–{max_chars} hexadecimal digits")
    return text


def display_text(text: str) -> str:
    """Encode display text: printable ASCII, at most 23 characters, ``$`` for a space."""
    if not isinstance(text, str) or not text:
        raise KebaValidationError("display text must not be empty")
    if len(text) > DISPLAY_MAX_CHARS:
        raise KebaValidationError(f"display text is longer than {DISPLAY_MAX_CHARS} characters")
    if any(not (" " <= char <= "~") for char in text):
        raise KebaValidationError("display text must be printable ASCII")
    return text.replace(" ", "$")


class KebaStation:
    """One charging station reached through a shared :class:`KebaEndpoint`.

    Trust contract (what listeners and the snapshot can rely on):

    * Only reports this client asked for change state; a report nobody here asked for is
      ignored and counted in :attr:`unsolicited`.
    * Every report and push is checked by :mod:`.plausibility` first. One implausible field
      (out of range, wrong type, NaN, an undefined enum value, power beyond U·I) drops the
      whole datagram: it is counted per reason in :attr:`rejected` (with the last sample),
      logged once per reason, passed to rejection listeners, and changes nothing. A request
      whose answer was dropped raises :class:`KebaImplausibleError`.
    * ``Sec``, ``E total``, ``E pres`` and report 100's ``Session ID`` never go backwards (or
      leap forward) on one datagram: pushes that would are dropped; a polled report that
      would is held, and believed when the next polled report continues from it (a restart
      is then announced with a ``REBOOT`` event). Statistics built from the snapshot's
      energies therefore never see a forged decrease.
    * A push that would change whether a vehicle is plugged in, or whether the station is
      busy (plugged or charging), is not applied: a ``PROVISIONAL`` event announces it and
      report 2 is requested to confirm it (see :class:`EventKind`).
    """

    def __init__(self, endpoint: KebaEndpoint, host: str) -> None:
        """Prepare a client for ``host``; :meth:`connect` opens it."""
        self.endpoint = endpoint
        self.host = host
        self.ip: str | None = None
        self.capabilities: Capabilities | None = None
        self.snapshot = StationSnapshot()
        self._link: StationLink | None = None
        self._remove_link_listener: Callable[[], None] | None = None
        self._listeners: list[StationListener] = []
        self._current_target_ma: int | None = None
        self.reboots = 0
        #: Datagrams dropped as implausible: total, per reason and the last one.
        self.rejected = RejectionStats()
        #: Reports that arrived while this client had not asked for them (ignored).
        self.unsolicited = 0
        #: Pushed fields waiting for report 2 to confirm them (see ``EventKind.PROVISIONAL``).
        self.provisional: dict[str, Any] = {}
        self._rejection_listeners: list[RejectionListener] = []
        self._logged_reasons: set[str] = set()
        self._awaiting: dict[int, int] = {}
        # Verdicts on recent solicited reports by object identity (the reply object is kept,
        # so its id is not reused while it is in here).
        self._verdicts: dict[int, tuple[ReportReply, str | None]] = {}
        self._uptime = uptime_guard()
        self._guards: dict[str, CounterGuard] = {
            "E total": energy_guard("E total"),
            "E pres": energy_guard("E pres"),
        }
        self._session_id = session_id_guard()
        self._confirm_task: asyncio.Task[None] | None = None
        #: Capabilities learned from the station's answers; they outlive report 1 re-reads.
        self._learned: dict[str, bool] = {}

    # ---------------------------------------------------------------- lifecycle
    async def connect(self, *, read_info: bool = True) -> StationInfo | None:
        """Resolve the host, attach to the endpoint and (by default) read report 1."""
        if self._link is None:
            self.ip = await resolve_host(self.host)
            self._link = self.endpoint.link(self.ip)
            self._remove_link_listener = self._link.add_listener(self._on_datagram)
        if read_info:
            return await self.get_info()
        return None

    async def close(self) -> None:
        """Detach from the endpoint."""
        if self._confirm_task is not None:
            self._confirm_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._confirm_task
            self._confirm_task = None
        if self._remove_link_listener is not None:
            self._remove_link_listener()
            self._remove_link_listener = None
        if self._link is not None:
            link, self._link = self._link, None
            await self.endpoint.unlink(link)

    @property
    def link(self) -> StationLink:
        """The station's link; :meth:`connect` first."""
        if self._link is None:
            raise KebaConnectionError(f"{self.host} is not connected")
        return self._link

    @property
    def serial(self) -> str | None:
        """Serial number from report 1."""
        return self.snapshot.info.serial if self.snapshot.info else None

    def add_listener(self, listener: StationListener) -> Callable[[], None]:
        """Call ``listener`` on every push, report and reboot; returns the remover."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    @property
    def counters(self) -> dict[str, float | None]:
        """The counters as believed (raw units): ``Sec``, ``E total``, ``E pres``, ``Session ID``.

        These only move on datagrams that passed the checks; diagnostics can show them next to
        :attr:`rejected`.
        """
        guards = [self._uptime, *self._guards.values(), self._session_id]
        return {guard.name: guard.value for guard in guards}

    def add_rejection_listener(self, listener: RejectionListener) -> Callable[[], None]:
        """Call ``listener`` with every datagram dropped as implausible; returns the remover."""
        self._rejection_listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._rejection_listeners.remove(listener)

        return remove

    # ------------------------------------------------------------- live state
    def _emit(self, kind: EventKind, fields: dict[str, Any] | None = None) -> None:
        event = StationEvent(kind, self.snapshot, fields or {})
        for listener in list(self._listeners):
            try:
                listener(event)
            except Exception:
                _LOGGER.exception("%s: station listener failed", self.host)

    def _reject(self, reason: str, source: str, fields: dict[str, Any]) -> None:
        stats = self.rejected
        stats.total += 1
        stats.by_reason[reason] = stats.by_reason.get(reason, 0) + 1
        sample = RejectedSample(
            reason=reason,
            source=source,
            fields=dict(list(fields.items())[:_SAMPLE_FIELDS]),
            received=datetime.now(UTC),
        )
        stats.last = sample
        if reason not in self._logged_reasons:
            self._logged_reasons.add(reason)
            _LOGGER.warning(
                "%s: dropped an implausible %s (%s): %.200r; further ones with this reason "
                "are only counted",
                self.host,
                source,
                reason,
                fields,
            )
        for listener in list(self._rejection_listeners):
            try:
                listener(sample)
            except Exception:
                _LOGGER.exception("%s: rejection listener failed", self.host)

    def _on_datagram(self, datagram: Datagram) -> None:
        match datagram:
            case PushMessage(fields=fields):
                self._on_push(fields)
            case ReportReply(report_id=report_id, fields=fields) if report_id in _JUDGED_REPORTS:
                if self._awaiting.get(report_id, 0) <= 0:
                    self.unsolicited += 1
                    return
                reason = self._judge_report(report_id, fields)
                self._verdicts[id(datagram)] = (datagram, reason)
                while len(self._verdicts) > _VERDICTS_KEPT:
                    del self._verdicts[next(iter(self._verdicts))]
                if reason is None:
                    self._apply_report(report_id, fields)
            case _:
                pass

    def _judge_report(self, report_id: int, fields: dict[str, Any]) -> str | None:
        """Why a polled report must be dropped, or None; updates the counter guards."""
        reason = check_fields(report_id, fields)
        if reason is not None:
            self._reject(reason, f"report {report_id}", fields)
            return reason
        now = self.endpoint.clock.time()
        checks: list[tuple[CounterGuard, float]] = []
        uptime = number(fields.get("Sec"))
        if uptime is not None:
            checks.append((self._uptime, uptime))
        if report_id == 3:
            for name, guard in self._guards.items():
                value = number(fields.get(name))
                if value is not None:
                    checks.append((guard, value))
        if report_id == 100:
            session_id = number(fields.get("Session ID"))
            if session_id:  # 0: no session since the restart
                checks.append((self._session_id, session_id))
        judged = [(guard, value, guard.judge(value, now, polled=True)) for guard, value in checks]
        held = next((g for g, _, j in judged if j == Judgement.HELD), None)
        accepted = held is None
        previous_uptime = self._uptime.value
        for guard, value, judgement in judged:
            guard.commit(value, now, judgement, accepted=accepted)
        if not accepted:
            assert held is not None
            reason = f"{held.name}: discontinuity awaiting confirmation"
            self._reject(reason, f"report {report_id}", fields)
            return reason
        if (
            uptime is not None
            and previous_uptime is not None
            and uptime + self._uptime.backslack < previous_uptime
        ):
            self._on_reboot(int(uptime), int(previous_uptime))
        return None

    def _on_reboot(self, uptime: int, previous: int) -> None:
        self.reboots += 1
        _LOGGER.info("%s restarted (uptime %s s, was %s s)", self.host, uptime, previous)
        self._current_target_ma = None
        # A restart may reset the session energy; the next report 3 starts the guard anew.
        self._guards["E pres"].reset()
        self._emit(EventKind.REBOOT, {"uptime_s": uptime, "previous_uptime_s": previous})

    def _apply_report(self, report_id: int, fields: dict[str, Any]) -> None:
        match report_id:
            case 1:
                info = StationInfo.from_report(fields)
                self.capabilities = Capabilities.from_product(
                    info.product, com_module=info.com_module
                ).learn(**self._learned)
                self.snapshot = replace(self.snapshot, info=info)
                self._emit(EventKind.INFO)
            case 2:
                self.provisional = {}
                status = ChargingStatus.from_report(fields)
                if status.auth_on:
                    # An authorization function is on: the station has RFID (or its x-series
                    # equivalent) whatever its product code says.
                    self._learn(rfid=True)
                self.snapshot = replace(self.snapshot, status=status)
                self._emit(EventKind.STATUS)
            case 3:
                self.snapshot = replace(self.snapshot, meter=MeterReading.from_report(fields))
                self._emit(EventKind.METER)
            case 100:
                # The latest session never overwrites live values (its E pres lags behind).
                self.snapshot = replace(self.snapshot, session=ChargingSession.from_report(fields))
                self._emit(EventKind.SESSION)
            case _:
                pass  # history reports are returned to their caller only

    def _on_push(self, fields: dict[str, Any]) -> None:
        reason = check_fields("push", fields)
        session_energy = number(fields.get("E pres"))
        guard = self._guards["E pres"]
        now = self.endpoint.clock.time()
        judgement = Judgement.CONTINUOUS
        if reason is None and session_energy is not None:
            judgement = guard.judge(session_energy, now, polled=False)
            if judgement == Judgement.REFUSED:
                reason = "E pres: went backwards or jumped (push)"
        if reason is not None:
            self._reject(reason, "push", fields)
            return
        status, meter = self.snapshot.status, self.snapshot.meter
        if status is not None:
            for name, value in fields.items():
                status = status.with_push(name, value)
            if _needs_confirmation(self.snapshot.status, status):
                self.provisional = {**self.provisional, **fields}
                self._emit(EventKind.PROVISIONAL, dict(fields))
                self._request_confirmation()
                return
        if session_energy is not None and meter is not None:
            guard.commit(session_energy, now, judgement, accepted=True)
        if meter is not None:
            for name, value in fields.items():
                meter = meter.with_push(name, value)
        self.snapshot = replace(self.snapshot, status=status, meter=meter)
        self._emit(EventKind.PUSH, dict(fields))

    def _request_confirmation(self) -> None:
        """Ask for report 2 once (the link keeps the timing rules); it settles the push."""
        if self._confirm_task is not None and not self._confirm_task.done():
            return
        self._confirm_task = asyncio.get_running_loop().create_task(
            self._confirm(), name=f"keba-confirm-{self.host}"
        )

    async def _confirm(self) -> None:
        try:
            await self._report(2)
        except KebaError as err:
            _LOGGER.debug("%s: report 2 to confirm a push failed: %s", self.host, err)
        finally:
            self.provisional = {}

    # ------------------------------------------------------------------ reports
    async def read_report(
        self, report_id: int, *, policy: RetryPolicy | None = None
    ) -> dict[str, Any]:
        """Ask for report ``report_id`` and return its fields once they passed the checks.

        ``policy`` replaces the link's retry policy for this request (a quick single attempt,
        or a patient one). The answer updates the snapshot like any poll. Raises
        :class:`KebaTimeoutError` when it stays unanswered, :class:`KebaImplausibleError`
        when the answer was dropped as implausible.
        """
        return await self._report(report_id, policy=policy)

    @contextlib.contextmanager
    def expecting(self, report_ids: Iterable[int]) -> Iterator[None]:
        """Believe answers to ``report_ids`` while the block runs.

        The station takes in only reports somebody asked for; inside the block a late answer
        to a request that has given up (a quick attempt of a probe) counts as asked for too.
        """
        expected = list(report_ids)
        for report_id in expected:
            self._awaiting[report_id] = self._awaiting.get(report_id, 0) + 1
        try:
            yield
        finally:
            for report_id in expected:
                self._awaiting[report_id] -= 1

    async def _report(self, report_id: int, *, policy: RetryPolicy | None = None) -> dict[str, Any]:
        link = self.link
        self._awaiting[report_id] = self._awaiting.get(report_id, 0) + 1
        try:
            reply, _ = await link.request(f"report {report_id}", policy=policy)
        finally:
            self._awaiting[report_id] -= 1
        if not isinstance(reply, ReportReply):  # pragma: no cover - matching guarantees it
            raise KebaConnectionError(f"unexpected answer to report {report_id}")
        verdict = self._verdicts.pop(id(reply), None)
        reason = (
            verdict[1]
            if verdict is not None and verdict[0] is reply
            else check_fields(report_id, reply.fields)
        )
        if reason is not None:
            raise KebaImplausibleError(f"{self.host}: report {report_id} dropped: {reason}")
        return reply.fields

    def _have[T](self, value: T | None, report_id: int) -> T:
        """The snapshot's part for a report just read; absent when the report was held back."""
        if value is None:
            raise KebaImplausibleError(f"{self.host}: report {report_id} was not believed yet")
        return value

    async def get_firmware(self) -> FirmwareInfo:
        """``i``: the firmware version."""
        reply, _ = await self.link.request("i")
        if not isinstance(reply, FirmwareReply):  # pragma: no cover - matching guarantees it
            raise KebaConnectionError("unexpected answer to i")
        return FirmwareInfo(firmware=reply.firmware)

    # The datagram listener has parsed each report into the snapshot by the time the request
    # returns, so the getters read it from there.
    async def get_info(self) -> StationInfo:
        """Report 1: product, serial, firmware; also sets :attr:`capabilities`."""
        await self._report(1)
        return self._have(self.snapshot.info, 1)

    async def get_status(self) -> ChargingStatus:
        """Report 2."""
        await self._report(2)
        return self._have(self.snapshot.status, 2)

    async def get_meter(self) -> MeterReading:
        """Report 3 (stations with a meter)."""
        self._require("meter", "report 3")
        await self._report(3)
        return self._have(self.snapshot.meter, 3)

    async def get_session(self, report_id: int = REPORT_SESSION_LATEST) -> ChargingSession:
        """Report 100 (latest session) or 101…130 (history, 101 newest)."""
        if not REPORT_SESSION_LATEST <= report_id <= REPORT_SESSION_LAST_HISTORY:
            raise KebaValidationError(f"session report {report_id} does not exist (100–130)")
        self._require("session_history", "report 1xx")
        return ChargingSession.from_report(await self._report(report_id))

    async def get_history(self, count: int = 30) -> list[ChargingSession]:
        """The last ``count`` ended sessions (reports 101…), newest first, empty slots skipped."""
        last = REPORT_SESSION_FIRST_HISTORY + max(0, min(count, 30)) - 1
        self._require("session_history", "report 1xx")
        reports = await asyncio.gather(
            *(self._report(n) for n in range(REPORT_SESSION_FIRST_HISTORY, last + 1))
        )
        sessions = [ChargingSession.from_report(fields) for fields in reports]
        return [session for session in sessions if not session.is_empty]

    async def refresh(self, *, meter: bool | None = None) -> StationSnapshot:
        """Read report 2 and, where there is a meter, report 3; return the snapshot.

        A report dropped as implausible (or held until the next poll confirms a counter jump)
        leaves the believed values of the snapshot in place: the poll still succeeds, unless
        nothing of that report has ever been believed (then :class:`KebaImplausibleError`).
        Any other failure (no answer, link closed) is raised as before.
        """
        with_meter = (
            meter
            if meter is not None
            else bool(self.capabilities is None or self.capabilities.meter)
        )
        requests = [self._report(2)]
        if with_meter:
            requests.append(self._report(3))
        results = await asyncio.gather(*requests, return_exceptions=True)
        for report_id, result in zip((2, 3), results, strict=False):
            if isinstance(result, KebaImplausibleError):
                believed = self.snapshot.status if report_id == 2 else self.snapshot.meter
                if believed is None:
                    raise result
                _LOGGER.debug("%s: %s; keeping the values believed so far", self.host, result)
            elif isinstance(result, BaseException):
                raise result
        return self.snapshot

    # ---------------------------------------------------------------- commands
    def _require(self, capability: str, what: str) -> None:
        caps = self.capabilities
        if caps is not None and getattr(caps, capability) is False:
            raise KebaUnsupportedError(f"{caps.model_name} ({caps.product}) has no {what}")

    async def _command(self, text: str) -> str:
        reply, sent = await self.link.request(text)
        if isinstance(reply, CommandReply) and reply.ok:
            return sent
        detail = reply.text if isinstance(reply, CommandReply) else type(reply).__name__
        raise KebaCommandError(f"{self.host} refused {sent!r}: {detail}")

    async def _verify(self, what: str, check: Callable[[ChargingStatus], bool]) -> None:
        status = await self.get_status()
        if not check(status):
            raise KebaVerificationError(f"{self.host}: report 2 does not show {what}")

    async def set_current(self, current_a: float, delay_s: int = 1, *, verify: bool = True) -> None:
        """Offer ``current_a`` to the vehicle until it is unplugged.

        Sends ``currtime <mA> <delay_s>`` (the change takes effect 6–7 s after ``delay_s``
        while charging). A P20, which has no ``currtime``, gets ``curr <mA>``. A newer call made
        before this one was sent replaces it. ``delay_s`` must be at least 1: ``currtime <mA> 0``
        would only cancel a pending timer.
        """
        milliamps = _ma(current_a)
        if self.capabilities is not None and not self.capabilities.currtime:
            await self.set_current_permanent(current_a, verify=verify)
            return
        if isinstance(delay_s, bool) or not isinstance(delay_s, int):
            raise KebaValidationError("delay must be a whole number of seconds")
        if not 1 <= delay_s <= CURRTIME_DELAY_MAX:
            raise KebaValidationError(f"delay must be 1–{CURRTIME_DELAY_MAX} s")
        await self._currtime(milliamps, delay_s, verify=verify)

    async def pause_charging(self, *, verify: bool = True) -> None:
        """Stop charging until a new current is set or the vehicle is unplugged.

        Sends ``currtime 0 1``, after which KEBA wants 2 s of silence (t_DIS_pause).
        """
        self._require("currtime", "currtime (pause)")
        await self._currtime(0, 1, verify=verify)

    async def _currtime(self, milliamps: int, delay_s: int, *, verify: bool) -> None:
        self._current_target_ma = milliamps
        sent = await self._command(f"currtime {milliamps} {delay_s}")
        if not verify:
            return
        target = self._current_target_ma
        if target is None or target != int(sent.split()[1]):
            return  # a newer target superseded this one; its caller verifies it
        await self._verify(
            f"current {target} mA",
            lambda s: _same_ma(s.timer_current, target) or _same_ma(s.user_current_limit, target),
        )

    async def cancel_current_timer(self) -> None:
        """Cancel a ``currtime`` whose delay is still running (``currtime 0 0``)."""
        self._require("currtime", "currtime")
        self._current_target_ma = None
        await self._command("currtime 0 0")

    async def set_current_permanent(self, current_a: float, *, verify: bool = True) -> None:
        """``curr <mA>``: lasts until reboot, survives unplugging. Prefer :meth:`set_current`."""
        milliamps = _ma(current_a)
        self._current_target_ma = milliamps
        sent = await self._command(f"curr {milliamps}")
        if verify:
            value = int(sent.split()[1])
            await self._verify(
                f"user current {value} mA", lambda s: _same_ma(s.user_current_limit, value)
            )

    async def set_enabled(self, enabled: bool, *, verify: bool = True) -> None:
        """``ena 1`` / ``ena 0``: allow or forbid charging (``ena 0`` lasts until reboot)."""
        await self._command(f"ena {1 if enabled else 0}")
        if verify:
            await self._verify(
                f"charging {'enabled' if enabled else 'disabled'}",
                lambda s: s.enable_user is enabled,
            )

    async def set_energy_limit(self, energy_kwh: float, *, verify: bool = True) -> None:
        """``setenergy``: stop the session after ``energy_kwh``; 0 removes the limit.

        The station counts in 0.1 Wh. A value that is not zero but rounds to ``setenergy 0``
        (below 0.00005 kWh) would remove the limit instead of setting one, so it is refused
        with :class:`KebaValidationError` and nothing is sent.
        """
        tenth_wh = _whole(energy_kwh, 10000, "energy limit")
        if tenth_wh == 0 and energy_kwh != 0:
            raise KebaValidationError(
                f"energy limit {energy_kwh} kWh is below the station's step of 0.0001 kWh "
                "and would remove the limit; use 0 to remove it"
            )
        if not 0 <= tenth_wh <= ENERGY_LIMIT_MAX:
            raise KebaValidationError(
                f"energy limit must be 0–{ENERGY_LIMIT_MAX / 10000:g} kWh, not {energy_kwh}"
            )
        self._require("meter", "setenergy")
        sent = await self._command(f"setenergy {tenth_wh}")
        if verify:
            value = int(sent.split()[1])
            await self._verify(
                f"energy limit {value}",
                lambda s: (
                    s.energy_limit_kwh is not None and round(s.energy_limit_kwh * 10000) == value
                ),
            )

    async def set_output(self, value: int, *, verify: bool = True) -> None:
        """``output``: 0 closes and 1 opens relay X2; 10–150 pulses/kWh (written to EEPROM)."""
        if isinstance(value, bool):
            value = int(value)
        if not isinstance(value, int) or not (
            value in (0, 1) or OUTPUT_PULSES_MIN <= value <= OUTPUT_PULSES_MAX
        ):
            raise KebaValidationError(
                f"output must be 0, 1 or {OUTPUT_PULSES_MIN}–{OUTPUT_PULSES_MAX}, not {value!r}"
            )
        self._require("output_x2", "output X2")
        await self._command(f"output {value}")
        if verify:
            await self._verify(f"output {value}", lambda s: s.output == value)

    async def start_session(self, rfid_tag: str, rfid_class: str | None = None) -> None:
        """``start``: authorize a session as if the RFID card were presented."""
        tag = _hex(rfid_tag, "RFID tag", RFID_TAG_HEX_CHARS)
        text = f"start {tag}"
        if rfid_class:
            text += f" {_hex(rfid_class, 'RFID class', RFID_CLASS_HEX_CHARS)}"
        self._require_authorization()
        await self._command(text)

    async def stop_session(self, rfid_tag: str) -> None:
        """``stop``: end the session started with ``rfid_tag``."""
        tag = _hex(rfid_tag, "RFID tag", RFID_TAG_HEX_CHARS)
        self._require_authorization()
        await self._command(f"stop {tag}")

    def _learn(self, *, display: bool | None = None, rfid: bool | None = None) -> bool:
        """Remember capabilities the station's answers showed; True if one was unknown."""
        caps = self.capabilities
        facts = {"display": display, "rfid": rfid}
        unknown = caps is not None and any(
            getattr(caps, key) is None for key, value in facts.items() if value is not None
        )
        self._learned.update({key: value for key, value in facts.items() if value is not None})
        if caps is not None:
            self.capabilities = caps.learn(display=display, rfid=rfid)
        return unknown

    def _require_authorization(self) -> None:
        caps, status = self.capabilities, self.snapshot.status
        if caps is not None and not caps.rfid and not (status and status.auth_on):
            raise KebaUnsupportedError(f"{caps.model_name} ({caps.product}) has no RFID reader")

    async def display(
        self, text: str, min_time_s: int | None = None, max_time_s: int | None = None
    ) -> None:
        """Show ``text`` (≤23 ASCII characters) on the display, optionally for min/max seconds."""
        encoded = display_text(text)
        for value in (min_time_s, max_time_s):
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 65535
            ):
                raise KebaValidationError("display times must be 0–65535 s")
        self._require("display", "display")
        if min_time_s is None and max_time_s is None:
            text = f"display 0 0 0 0 {encoded}"
        else:
            low = min_time_s if min_time_s is not None else 2
            high = max_time_s if max_time_s is not None else 10
            if high < low:
                raise KebaValidationError("display max time is shorter than its min time")
            text = f"display 1 {low} {high} 0 {encoded}"
        try:
            await self._command(text)
        except KebaCommandError as err:
            # A station without a display does not know the command: remember that.
            if "unknown" in str(err).lower() and self._learn(display=False):
                raise KebaUnsupportedError(f"{self.host} has no display") from err
            raise
        self._learn(display=True)

    async def unlock_socket(self) -> None:
        """``unlock``: release the cable (charging must be stopped first)."""
        await self._command("unlock")

    async def set_datetime(self, when: datetime | int) -> None:
        """``setdatetime``: set the station's clock (Unix time)."""
        epoch = int(when.timestamp()) if isinstance(when, datetime) else when
        if isinstance(epoch, bool) or not isinstance(epoch, int) or epoch < 0:
            raise KebaValidationError("time must be a Unix time ≥ 0")
        await self._command(f"setdatetime {epoch}")

    async def set_failsafe(
        self,
        timeout_s: int,
        current_a: float = 0,
        *,
        persist: bool = False,
        verify: bool = True,
    ) -> None:
        """``failsafe``: fall back to ``current_a`` without a command for ``timeout_s``.

        ``timeout_s`` 0 turns the failsafe off. ``persist`` writes the setting to the station's
        EEPROM: call it with ``persist=True`` only on a user's explicit request, never in a loop.
        """
        if (
            isinstance(timeout_s, bool)
            or not isinstance(timeout_s, int)
            or not (timeout_s == 0 or FAILSAFE_TIMEOUT_MIN <= timeout_s <= FAILSAFE_TIMEOUT_MAX)
        ):
            raise KebaValidationError(
                f"failsafe timeout must be 0 or {FAILSAFE_TIMEOUT_MIN}–{FAILSAFE_TIMEOUT_MAX} s"
            )
        milliamps = _ma(current_a, allow_zero=True)
        await self._command(f"failsafe {timeout_s} {milliamps} {1 if persist else 0}")
        if verify:
            await self._verify(
                "the failsafe setting",
                lambda s: (
                    s.failsafe_timeout_s == timeout_s
                    and (timeout_s == 0 or _same_ma(s.failsafe_current, milliamps))
                ),
            )


def _busy(status: ChargingStatus) -> bool:
    return bool(status.vehicle_plugged or status.charging)


def _needs_confirmation(before: ChargingStatus | None, after: ChargingStatus) -> bool:
    """A push that plugs or unplugs a vehicle, or makes the station busy or idle."""
    if before is None:
        return False
    return before.vehicle_plugged != after.vehicle_plugged or _busy(before) != _busy(after)


def _same_ma(value_a: float | None, milliamps: int) -> bool:
    return value_a is not None and round(value_a * 1000) == milliamps
