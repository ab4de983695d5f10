"""Check an address quickly: is a station there, which one, and does it take UDP commands?

Used when a station is added by address, when a configured station is set up, and by the
command line's ``status``; tuned for a person waiting in front of a form, and for lossy
networks. A station
answers in milliseconds, so the first answer is waited for only briefly — but a lost datagram
must not make a station look absent, so *different* read requests follow each other 200 ms
apart without waiting for the previous answer (t_COM_pause applies per command, t_UDP_pause
is 100 ms): ``report 1``, ``report 2``, ``report 3``, then the session reports 100 to 109,
until the first answer. Once anything has answered, the missing reports are asked again with
retries, different reports side by side.

A station whose DIP switch DSW1.3 is off answers ``i`` and ``report 1`` and ignores everything
else (KEBA UDP guide §1.1, x-series configuration manual, DIP switch table). The probe tells
this apart: ``report 1`` answers, ``report 2`` does not (after retries), or report 1's
``DIP-Sw1`` shows the bit of DSW1.3 clear and report 2 stays silent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
import contextlib
from dataclasses import dataclass, replace
import logging

from .clock import Clock, LoopClock
from .const import COM_PAUSE
from .exceptions import (
    KebaConnectionError,
    KebaImplausibleError,
    KebaTimeoutError,
    UdpControlDisabledError,
)
from .link import RetryPolicy, StationLink, repeat_key
from .models import ChargingStatus, MeterReading, StationInfo
from .parser import ReportReply
from .plausibility import check_fields
from .product import Capabilities
from .station import EventKind, KebaStation, StationEvent

_LOGGER = logging.getLogger(__name__)

#: One quick attempt per probing request: a station answers within milliseconds.
QUICK_POLICY = RetryPolicy(attempt_timeout=0.4, max_attempts=1)
#: Reports asked again once the station has shown it is there (each retry after 5 s).
PATIENT_POLICY = RetryPolicy(attempt_timeout=1.0, max_attempts=10)
#: Read requests sent while nothing has answered yet, in this order. Not ``i``: that is what a
#: search sends to every address, and it would have to wait 5 s after a probe.
#: Report 100 and up (the session history) are distinct commands, so they need not wait for
#: t_COM_pause: each is one more chance on a lossy network.
PROBE_REQUESTS = ("report 1", "report 2", "report 3", *(f"report {n}" for n in range(100, 110)))
#: Reports whose answers the station believes during a probe (also late ones).
_PROBED_REPORTS = tuple(int(text.split()[1]) for text in PROBE_REQUESTS)
#: Reports the patient stage waits for until ``identify_within`` once UDP control is proven.
_PATIENT_WANTED = ("report 1", "report 2", "report 3")
#: Further proof of UDP control asked in the patient stage, besides report 2 and 3.
_EXTRA_EVIDENCE = ("report 100", "report 101", "report 102")
#: One quick request every this many seconds until the station answers (well above the 100 ms
#: of t_UDP_pause).
_QUICK_STAGGER = 0.2
#: How long the patient stage waits for proof of UDP control by default (three attempts of
#: each report).
EVIDENCE_WITHIN = 12.0
_UDP_EVIDENCE = frozenset({"report 2", "report 3", "report 100", "report 101", "report 102"})


#: A quick request that would first wait longer than this (for KEBA's rules) is left to the
#: patient stage.
_MAX_QUICK_WAIT = 0.3
#: Events of the station that show which report answered.
_EVENT_REPORTS = {
    EventKind.INFO: "report 1",
    EventKind.STATUS: "report 2",
    EventKind.METER: "report 3",
    EventKind.SESSION: "report 100",
}
#: How long to wait for the answer to someone else's report 1 before asking again.
_OTHERS_ANSWER_S = 1.0
#: A report 1 this young, read by someone else, identifies the station.
_RECENT_REPORT1_S = 10.0


async def _wait_event(event: asyncio.Event, seconds: float) -> None:
    """Wait until ``event`` is set, at most ``seconds``."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(max(seconds, 0.0)):
            await event.wait()


async def _wait_tasks(tasks: Iterable[asyncio.Task[bool]], seconds: float) -> None:
    """Wait until every one of ``tasks`` is done, at most ``seconds``."""
    pending = [task for task in tasks if not task.done()]
    if pending and seconds > 0:
        await asyncio.wait(pending, timeout=seconds)


async def _cancel(tasks: Iterable[asyncio.Task[bool]]) -> None:
    """Cancel what is still under way and let it finish (a late answer still counts)."""
    tasks = list(tasks)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)


def _wait_for(link: StationLink, text: str, clock: Clock) -> float:
    """How long ``text`` would wait for its t_COM_pause on ``link``."""
    return link.last_send_of(repeat_key(text)) + COM_PAUSE - clock.time()


@dataclass(frozen=True, slots=True, kw_only=True)
class ProbeResult:
    """What a probe learned; the station's snapshot holds the reports themselves."""

    info: StationInfo
    status: ChargingStatus | None
    meter: MeterReading | None
    #: When (the station's clock) report 2 and report 3 were read, for reuse by a first poll.
    read_at: float


def adopt_reports(
    station: KebaStation,
    info: StationInfo,
    status: ChargingStatus | None = None,
    meter: MeterReading | None = None,
) -> None:
    """Give ``station`` reports read moments ago through another client of the same station.

    Adding a station reads report 1 (and 2, 3) to check it; the entry set up right after uses
    those instead of asking again, which KEBA's t_COM_pause would delay by 5 s.
    """
    station.snapshot = replace(
        station.snapshot,
        info=info,
        status=status or station.snapshot.status,
        meter=meter or station.snapshot.meter,
    )
    station.capabilities = Capabilities.from_product(info.product, com_module=info.com_module)


async def probe_station(
    station: KebaStation,
    *,
    known_info: StationInfo | None = None,
    answer_within: float = 2.6,
    evidence_within: float = EVIDENCE_WITHIN,
    identify_within: float = 45.0,
    clock: Clock | None = None,
) -> ProbeResult:
    """Probe ``station`` (connected or not) and return what it answered.

    Raises :class:`KebaTimeoutError` when nothing answers within ``answer_within`` seconds, or
    when the station answered something but not ``report 1`` within ``identify_within``.
    Raises :class:`UdpControlDisabledError` when report 1 answers and no other report does
    within ``evidence_within`` seconds (not waited for when report 1's DIP switches say
    DSW1.3 is off). The error carries report 1 and whether its DIP switch byte says so.
    ``known_info``: report 1 as read moments ago (by a search); it is not asked again.
    """
    clock = clock or LoopClock()
    started = clock.time()
    await station.connect(read_info=False)
    link = station.link
    answered: set[str] = set()
    heard = asyncio.Event()

    def on_event(event: StationEvent) -> None:
        # Also a late answer (after its quick attempt gave up) shows that the station is there.
        if (text := _EVENT_REPORTS.get(event.kind)) is not None:
            answered.add(text)
            heard.set()

    remove_listener = station.add_listener(on_event)
    # The station believes only reports it asked for: during the probe, a late answer to a
    # quick attempt that gave up counts as asked for too.
    try:
        with station.expecting(_PROBED_REPORTS):
            return await _probe(
                station,
                link,
                answered,
                heard,
                known_info,
                answer_within,
                evidence_within,
                identify_within,
                clock,
                started,
            )
    finally:
        remove_listener()


async def _probe(
    station: KebaStation,
    link: StationLink,
    answered: set[str],
    heard: asyncio.Event,
    known_info: StationInfo | None,
    answer_within: float,
    evidence_within: float,
    identify_within: float,
    clock: Clock,
    started: float,
) -> ProbeResult:
    if known_info is not None:
        adopt_reports(station, known_info)
        answered.add("report 1")

    async def ask(text: str, policy: RetryPolicy) -> bool:
        # A quick request that cannot go out at once (someone else sent the same just now)
        # gives up instead of holding up the next one.
        limit = policy.attempt_timeout + _MAX_QUICK_WAIT if policy is QUICK_POLICY else None
        try:
            async with asyncio.timeout(limit):
                await station.read_report(int(text.split()[1]), policy=policy)
        except KebaTimeoutError, KebaImplausibleError, TimeoutError:
            return text in answered
        answered.add(text)
        heard.set()
        return True

    def wanted() -> list[str]:
        caps = station.capabilities
        needs = ["report 1", "report 2"]
        if caps is None or caps.meter:
            needs.append("report 3")
        return [text for text in needs if text not in answered]

    def adopt_recent_report1() -> bool:
        # Report 1 that someone else (a search) read moments ago will do.
        if station.ip is None:
            return False
        recent = station.endpoint.recent_report1(station.ip, _RECENT_REPORT1_S)
        if not isinstance(recent, ReportReply) or check_fields(1, recent.fields) is not None:
            return False
        adopt_reports(station, StationInfo.from_report(recent.fields))
        answered.add("report 1")
        return True

    # Report 1 that someone else (a search) read moments ago is not asked again.
    if known_info is None:
        adopt_recent_report1()

    # Stage 1: quick single attempts of different reports, one every _QUICK_STAGGER seconds
    # without waiting for the previous answer, until the station shows itself. On a healthy
    # network the first answer arrives within milliseconds and nothing else is sent; with
    # datagrams lost, each further request is another chance. A request asked lately by
    # someone else waits for its t_COM_pause first; the answer window starts when the first
    # request can go.
    tried: set[str] = set()
    quick: list[asyncio.Task[bool]] = []
    deadline = started + answer_within
    try:
        while not answered and clock.time() < deadline + COM_PAUSE:
            untried = [text for text in PROBE_REQUESTS if text not in tried]
            if not untried:
                break
            ready = [text for text in untried if _wait_for(link, text, clock) <= _MAX_QUICK_WAIT]
            if not ready:
                pause = min(_wait_for(link, text, clock) for text in untried)
                deadline += pause
                await clock.sleep(pause)
                continue
            for text in ready:
                if answered or clock.time() > deadline:
                    break
                tried.add(text)
                quick.append(asyncio.create_task(ask(text, QUICK_POLICY)))
                await _wait_event(heard, _QUICK_STAGGER)
            if clock.time() > deadline:
                break
        if quick and not answered:
            # The last requests' answers may still be on their way.
            await _wait_event(heard, QUICK_POLICY.attempt_timeout)
    finally:
        await _cancel(quick)
    for text in PROBE_REQUESTS[:3]:
        if answered and text in wanted() and _wait_for(link, text, clock) <= _MAX_QUICK_WAIT:
            await ask(text, QUICK_POLICY)
    if not answered:
        raise KebaTimeoutError(f"{station.host} did not answer within {answer_within:g} s")

    # Stage 2: the station is there; ask what is missing, with retries (each after KEBA's
    # 5 s), different reports side by side. Proof of UDP control (any report but 1) is waited
    # for up to ``evidence_within`` seconds; then report 1, 2 and 3 until ``identify_within``.
    if "report 1" not in answered and station.ip is not None:
        # Someone else (a search) asked for report 1 lately: its answer will do.
        waited = 0.0
        while _wait_for(link, "report 1", clock) > 0 and waited < _OTHERS_ANSWER_S:
            if adopt_recent_report1():
                break
            await clock.sleep(0.05)
            waited += 0.05
    info = station.snapshot.info
    dip_off = info is not None and info.udp_control_enabled is False
    texts = wanted()
    if not answered & _UDP_EVIDENCE:
        if dip_off:
            # Report 1 says DSW1.3 is off: asking report 2 again would only delay the answer.
            texts = [text for text in texts if text == "report 1"]
        else:
            texts += [text for text in _EXTRA_EVIDENCE if text not in texts]
    patient = {text: asyncio.create_task(ask(text, PATIENT_POLICY)) for text in texts}
    identify_by = started + identify_within
    try:
        evidence_by = min(clock.time() + evidence_within, identify_by)
        await _wait_tasks(patient.values(), evidence_by - clock.time())
        if answered & _UDP_EVIDENCE:
            # Report 1 identifies the station; report 2 and 3 are the new entry's first values
            # (without them its setup would ask again, and at this loss could fail).
            wanted_tasks = [patient[text] for text in _PATIENT_WANTED if text in patient]
            await _wait_tasks(wanted_tasks, identify_by - clock.time())
    finally:
        await _cancel(patient.values())

    info = station.snapshot.info
    if info is None or "report 1" not in answered:
        raise KebaTimeoutError(f"{station.host} did not answer report 1")
    status = station.snapshot.status
    if (
        known_info is not None
        and status is not None
        and status.serial
        and known_info.serial
        and status.serial != known_info.serial
    ):
        raise KebaConnectionError(
            f"{station.host} is now station {status.serial}, not {known_info.serial}"
        )
    if not answered & _UDP_EVIDENCE:
        enabled = info.udp_control_enabled
        raise UdpControlDisabledError(
            station.host, info, dip_switch_says_off=None if enabled is None else not enabled
        )
    _LOGGER.debug("%s probed in %.2f s: %s", station.host, clock.time() - started, sorted(answered))
    return ProbeResult(
        info=info,
        status=station.snapshot.status,
        meter=station.snapshot.meter if "report 3" in answered else None,
        read_at=clock.time(),
    )
