"""One station's send scheduler and request/reply matching.

Every datagram to a station goes through its :class:`StationLink`, which keeps KEBA's timing
rules (guide §2.1) for that station alone, so stations never wait for each other:

* t_UDP_pause: at least 100 ms between any two datagrams;
* t_COM_pause: at least 5 s between two sends of the same command, retries included. A report
  is identified by its whole text (``report 2`` and ``report 3`` differ); any other command by
  its first word (``currtime 6000 1`` and ``currtime 8000 1`` are the same command);
* t_DIS_pause: 2 s of silence after ``ena 0`` or ``currtime 0 1``.

Only one request is in flight at a time (``TCH-OK`` does not say which command it confirms).
While a request waits for its 5 s, others go ahead. Setpoints coalesce: a new ``currtime``,
``setenergy`` or ``display`` replaces a pending one of its kind, so a burst of changes sends the
latest value as soon as the rules allow and every caller of the burst learns that outcome. Reads
coalesce too: asking for a report that is already waiting to be sent shares that request.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import itertools
import logging

from .clock import Clock
from .const import COM_PAUSE, DIS_PAUSE, PAUSE_MARGIN, UDP_PAUSE
from .exceptions import KebaClosedError, KebaTimeoutError
from .parser import CommandReply, Datagram, FirmwareReply, Malformed, PushMessage, ReportReply

_LOGGER = logging.getLogger(__name__)

#: Commands whose newest value replaces an older pending one.
COALESCING_COMMANDS = frozenset({"currtime", "curr", "setenergy", "display"})


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How long to wait for an answer and how often to try.

    A retry of the same command waits for t_COM_pause (5 s) like any repetition, so
    ``max_attempts`` bounds how long a request can take: about ``5 s × (max_attempts - 1)``.
    """

    attempt_timeout: float = 1.5
    max_attempts: int = 6


def repeat_key(text: str) -> str:
    """The identity under which t_COM_pause applies to a command text."""
    words = text.split()
    if not words:
        return ""
    head = words[0].lower()
    if head == "report" and len(words) > 1:
        return f"report {words[1]}"
    return head


def is_disable_command(text: str) -> bool:
    """``ena 0`` and ``currtime 0 1`` need t_DIS_pause of silence afterwards."""
    words = text.lower().split()
    if words[:2] == ["ena", "0"]:
        return True
    return len(words) == 3 and words[0] == "currtime" and words[1] == "0" and words[2] != "0"


@dataclass(slots=True, eq=False)
class _Request:
    text: str
    key: str
    report_id: int | None
    seq: int
    futures: list[asyncio.Future[tuple[Datagram, str]]] = field(default_factory=list)
    attempts: int = 0
    #: This request's own limits (a quick probe), else the link's policy.
    policy: RetryPolicy | None = None

    @property
    def is_info(self) -> bool:
        return self.key == "i"

    @property
    def is_command(self) -> bool:
        return self.report_id is None and not self.is_info

    def resolve(self, reply: Datagram) -> None:
        for future in self.futures:
            if not future.done():
                future.set_result((reply, self.text))

    def fail(self, error: BaseException) -> None:
        for future in self.futures:
            if not future.done():
                future.set_exception(error)

    @property
    def done(self) -> bool:
        return all(future.done() for future in self.futures)


type DatagramListener = Callable[[Datagram], None]


@dataclass(slots=True)
class SendHistory:
    """When what was last sent to one address; outlives the links that use it."""

    last_send: float = float("-inf")
    last_by_key: dict[str, float] = field(default_factory=dict)
    silent_until: float = float("-inf")

    def latest(self) -> float:
        """The last moment any rule still refers to."""
        return max(self.last_send, self.silent_until, *self.last_by_key.values())


class LinkTimingSource:
    """What a link needs to know about sends that bypass it (broadcast discovery)."""

    def broadcast_barrier(self, key: str) -> float:
        """Earliest time a datagram of ``key`` may follow the endpoint's last broadcast."""
        return 0.0


class StationLink:
    """The send queue and reply matching of one station address."""

    def __init__(
        self,
        ip: str,
        port: int,
        send: Callable[[bytes, tuple[str, int]], None],
        *,
        clock: Clock,
        policy: RetryPolicy,
        timing: LinkTimingSource,
        history: SendHistory | None = None,
    ) -> None:
        """Create a link; :meth:`start` launches its scheduler."""
        self.ip = ip
        self.port = port
        self.policy = policy
        self._send = send
        self._clock = clock
        self._timing = timing
        self._pending: list[_Request] = []
        self._inflight: _Request | None = None
        self._reply_event = asyncio.Event()
        self._wake = asyncio.Event()
        self._seq = itertools.count()
        self._history = history if history is not None else SendHistory()
        self._listeners: list[DatagramListener] = []
        self._task: asyncio.Task[None] | None = None
        self._closed = False
        self.users = 0
        self.sent = 0
        self.received = 0
        self.retries = 0
        self.stale_replies = 0
        self.malformed = 0
        self._malformed_logged = False

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> None:
        """Start the scheduler task."""
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(
                self._run(), name=f"keba-link-{self.ip}"
            )

    async def close(self) -> None:
        """Stop the scheduler and fail whatever is still waiting."""
        self._closed = True
        error = KebaClosedError(f"link to {self.ip} closed")
        for request in [*self._pending, *([self._inflight] if self._inflight else [])]:
            request.fail(error)
        self._pending.clear()
        self._inflight = None
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    @property
    def last_send(self) -> float:
        """When the last datagram went to this station."""
        return self._history.last_send

    def last_send_of(self, key: str) -> float:
        """When the command ``key`` was last sent to this station."""
        return self._history.last_by_key.get(key, float("-inf"))

    @property
    def queue_length(self) -> int:
        """Requests waiting to be sent (not counting the one in flight)."""
        return len(self._pending)

    # --------------------------------------------------------------- listeners
    def add_listener(self, listener: DatagramListener) -> Callable[[], None]:
        """Receive every parsed datagram from the station (reports, pushes…)."""
        self._listeners.append(listener)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    # ---------------------------------------------------------------- requests
    async def request(
        self, text: str, *, policy: RetryPolicy | None = None
    ) -> tuple[Datagram, str]:
        """Send ``text`` when the timing rules allow and return (reply, text actually sent).

        The text sent differs from ``text`` when a newer setpoint of the same kind replaced it.
        ``policy`` replaces the link's retry policy for this request (a quick probe sends one
        attempt with a short timeout). Raises :class:`KebaTimeoutError` when every attempt went
        unanswered.
        """
        if self._closed:
            raise KebaClosedError(f"link to {self.ip} closed")
        loop = asyncio.get_running_loop()
        future: asyncio.Future[tuple[Datagram, str]] = loop.create_future()
        key = repeat_key(text)
        if key in COALESCING_COMMANDS:
            for pending in self._pending:
                if pending.key == key:
                    _LOGGER.debug("%s: %r replaces pending %r", self.ip, text, pending.text)
                    pending.text = text
                    pending.attempts = 0
                    pending.futures.append(future)
                    return await future
        words = text.split()
        report_id = int(words[1]) if key.startswith("report ") and words[1].isdigit() else None
        if report_id is not None or key == "i":
            # Reading the same report twice gains nothing: a caller asking while an identical
            # request waits, unsent, gets its answer (which is sent after this call).
            for pending in self._pending:
                if pending.text == text and pending.attempts == 0:
                    pending.futures.append(future)
                    if pending.policy is not None and (
                        policy is None or policy.max_attempts > pending.policy.max_attempts
                    ):
                        pending.policy = policy  # the more patient caller decides
                    return await future
        request = _Request(
            text=text, key=key, report_id=report_id, seq=next(self._seq), policy=policy
        )
        request.futures.append(future)
        self._pending.append(request)
        self._wake.set()
        return await future

    def _eligible_at(self, request: _Request) -> float:
        history = self._history
        earliest = max(
            history.last_send + UDP_PAUSE + PAUSE_MARGIN,
            history.silent_until + PAUSE_MARGIN,
            history.last_by_key.get(request.key, float("-inf")) + COM_PAUSE + PAUSE_MARGIN,
        )
        return max(earliest, self._timing.broadcast_barrier(request.key))

    def _pick(self) -> tuple[_Request, float] | None:
        best: tuple[_Request, float] | None = None
        for request in self._pending:
            at = self._eligible_at(request)
            if best is None or at < best[1] or (at == best[1] and request.seq < best[0].seq):
                best = (request, at)
        return best

    async def _wait(self, event: asyncio.Event, seconds: float) -> None:
        """Wait until ``event`` is set or ``seconds`` pass (on the injected clock)."""
        if event.is_set():
            return
        waiter = asyncio.ensure_future(event.wait())
        sleeper = asyncio.ensure_future(self._clock.sleep(seconds))
        try:
            await asyncio.wait({waiter, sleeper}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            waiter.cancel()
            sleeper.cancel()

    async def _run(self) -> None:
        while not self._closed:
            self._pending = [request for request in self._pending if not request.done]
            choice = self._pick()
            if choice is None:
                self._wake.clear()
                await self._wake.wait()
                continue
            request, at = choice
            delay = at - self._clock.time()
            if delay > 0:
                self._wake.clear()
                await self._wait(self._wake, delay)
                continue
            await self._transmit(request)

    async def _transmit(self, request: _Request) -> None:
        self._pending.remove(request)
        self._inflight = request
        self._reply_event.clear()
        request.attempts += 1
        if request.attempts > 1:
            self.retries += 1
        self.sent += 1
        try:
            self._send(request.text.encode("ascii"), (self.ip, self.port))
        except OSError as err:
            _LOGGER.debug("%s: sending %r failed: %s", self.ip, request.text, err)
        # The time is taken after the datagram has left: a pause of the process (garbage
        # collection, a busy loop) between taking it and sending must not shorten the next gap.
        now = self._clock.time()
        history = self._history
        history.last_send = now
        history.last_by_key[request.key] = now
        if is_disable_command(request.text):
            history.silent_until = now + DIS_PAUSE
        policy = request.policy or self.policy
        await self._wait(self._reply_event, policy.attempt_timeout)
        self._inflight = None
        if request.done:
            return
        if request.attempts >= policy.max_attempts:
            request.fail(
                KebaTimeoutError(
                    f"{self.ip} did not answer {request.text!r} after {request.attempts} attempts"
                )
            )
            return
        # Try again later; a newer setpoint of the same kind takes over the older one's waiters.
        for pending in self._pending:
            if pending.key == request.key and request.key in COALESCING_COMMANDS:
                pending.futures.extend(request.futures)
                return
        self._pending.append(request)

    # ------------------------------------------------------------------ replies
    def handle(self, datagram: Datagram) -> None:
        """Match a datagram from the station to a request and tell the listeners."""
        self.received += 1
        match datagram:
            case ReportReply(report_id=report_id):
                self._match(lambda r: r.report_id == report_id, datagram)
            case FirmwareReply():
                self._match(lambda r: r.is_info, datagram)
            case CommandReply():
                inflight = self._inflight
                if inflight is not None and inflight.is_command:
                    inflight.resolve(datagram)
                    self._reply_event.set()
                else:
                    # A late confirmation of a command whose first attempt timed out.
                    late = next((r for r in self._pending if r.is_command and r.attempts > 0), None)
                    if late is not None:
                        late.resolve(datagram)
                        self._pending.remove(late)
                    else:
                        self.stale_replies += 1
            case Malformed(reason=reason, text=text):
                self.malformed += 1
                if not self._malformed_logged:
                    self._malformed_logged = True
                    _LOGGER.debug("%s: ignoring malformed datagram (%s): %r", self.ip, reason, text)
            case PushMessage():
                pass
        for listener in list(self._listeners):
            try:
                listener(datagram)
            except Exception:
                _LOGGER.exception("%s: listener failed", self.ip)

    def _match(self, predicate: Callable[[_Request], bool], datagram: Datagram) -> None:
        inflight = self._inflight
        if inflight is not None and predicate(inflight):
            inflight.resolve(datagram)
            self._reply_event.set()
            return
        for request in self._pending:
            if request.attempts > 0 and predicate(request):
                # A late answer to an earlier attempt: no need to ask again.
                request.resolve(datagram)
                self._pending.remove(request)
                return
        self.stale_replies += 1
