"""Find stations: ``i`` and ``report 1`` to the given (broadcast) addresses, in rounds.

This follows the buildup KEBA recommends (guide §2.3: ``i``, then ``report 1``). The target
addresses are a parameter: in a normal network the subnet broadcast address; in Docker, VLANs
or tests, explicit addresses.

A lost datagram must not hide a station, so each round asks twice, with two different commands
(``i`` and ``report 1``: t_COM_pause applies per command), and a search may repeat the round
after t_COM_pause. A station that answers ``report 1`` is identified at once; one that only
answered ``i`` gets ``report 1`` again, with retries. Stations the caller knows already (a loaded
entry) are not asked again.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, replace
import logging

from .exceptions import KebaError
from .link import RetryPolicy
from .models import StationInfo
from .parser import Datagram, FirmwareReply, ReportReply
from .plausibility import check_fields
from .product import Capabilities
from .station import KebaStation
from .transport import KebaEndpoint

_LOGGER = logging.getLogger(__name__)

#: How long to listen for answers after each round.
DEFAULT_LISTEN_TIME = 1.0
#: How long a station that answered ``i`` may take to answer ``report 1`` (retries included).
DEFAULT_IDENTIFY_TIMEOUT = 12.0
#: ``report 1`` to a station that answered ``i`` only: patient, it has answered once.
_IDENTIFY_POLICY = RetryPolicy(attempt_timeout=1.0, max_attempts=3)


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveredStation:
    """A station that answered discovery."""

    host: str
    firmware: str
    serial: str | None
    product: str | None
    capabilities: Capabilities | None
    #: Report 1 as read during the search (None when not answered).
    info: StationInfo | None = None
    #: The station answered both ``i`` and ``report 1`` of the search's first round: no sign
    #: of lost datagrams.
    answered_all: bool = False


def _from_info(host: str, info: StationInfo, firmware: str | None = None) -> DiscoveredStation:
    return DiscoveredStation(
        host=host,
        firmware=info.firmware or firmware or "",
        serial=info.serial or None,
        product=info.product or None,
        capabilities=Capabilities.from_product(info.product, com_module=info.com_module),
        info=info,
    )


async def discover(
    endpoint: KebaEndpoint,
    targets: Iterable[str],
    *,
    listen_time: float = DEFAULT_LISTEN_TIME,
    identify: bool = True,
    rounds: int = 1,
    enough: Callable[[list[DiscoveredStation]], bool] | None = None,
    known: Mapping[str, DiscoveredStation] | None = None,
    identify_timeout: float = DEFAULT_IDENTIFY_TIMEOUT,
) -> list[DiscoveredStation]:
    """Ask every target and identify every station that answers.

    Each round sends ``i`` (and with ``identify`` also ``report 1``) to every target and listens
    ``listen_time``; a further round follows (after KEBA's t_COM_pause) until ``rounds`` are done
    or ``enough`` says the stations found so far suffice. Stations that answered ``i`` only are
    then asked ``report 1`` with retries, for at most ``identify_timeout``; those that never
    answer it are listed without serial. Hosts in ``known`` are listed as given there.
    """
    targets = list(dict.fromkeys(targets))
    known = known or {}
    answers: dict[str, str] = {}
    infos: dict[str, StationInfo] = {}

    def on_datagram(host: str, datagram: Datagram) -> None:
        if isinstance(datagram, FirmwareReply):
            answers.setdefault(host, datagram.firmware)
        elif identify and isinstance(datagram, ReportReply) and datagram.report_id == 1:
            if check_fields(1, datagram.fields) is not None:
                return  # implausible: identifies nothing
            try:
                info = StationInfo.from_report(datagram.fields)
            except Exception:  # noqa: BLE001 - a garbled report identifies nothing
                return
            if info.serial:
                infos.setdefault(host, info)

    def found_so_far() -> list[DiscoveredStation]:
        return _collect(answers, infos, known, identified={}, complete=complete, skip=skipped())

    def skipped() -> set[str]:
        return {host for host in known if host in targets and host not in asked}

    complete: set[str] = set()
    # Targets that got at least one request: a known station that was not asked (its rules
    # did not allow it yet) is listed as known, not missed.
    asked: set[str] = set()

    remove_tap = endpoint.add_tap(on_datagram)
    try:
        requests = ["i", "report 1"] if identify else ["i"]
        for number in range(max(1, rounds)):
            # Every target on its own: one that must wait (a station just asked by someone
            # else) is skipped this round instead of holding up the others.
            sent = await asyncio.gather(
                *(_ask(endpoint, target, requests, repeat=number > 0) for target in targets)
            )
            asked.update(target for target, texts in zip(targets, sent, strict=True) if texts)
            await asyncio.sleep(listen_time)
            if number == 0:
                complete.update(host for host in answers if host in infos or host in known)
            if number + 1 < rounds and enough is not None and enough(found_so_far()):
                break
    finally:
        remove_tap()

    if not identify:
        return [
            DiscoveredStation(
                host=host, firmware=firmware, serial=None, product=None, capabilities=None
            )
            for host, firmware in sorted(answers.items())
        ]
    unidentified = [host for host in answers if host not in infos and host not in known]
    identified: dict[str, StationInfo | None] = {}
    if unidentified:
        results = await asyncio.gather(
            *(_identify(endpoint, host, identify_timeout) for host in unidentified)
        )
        identified = dict(zip(unidentified, results, strict=True))
    return _collect(answers, infos, known, identified=identified, complete=complete, skip=skipped())


#: A target whose request would have to wait longer than this is skipped for the round.
_MAX_SEND_WAIT = 0.5


async def _ask(
    endpoint: KebaEndpoint, target: str, requests: list[str], *, repeat: bool
) -> list[str]:
    """Send ``requests`` to ``target``; a ``repeat`` round first waits for their t_COM_pause.

    A request that would (still) have to wait for other traffic is left out of this round.
    """
    sent: list[str] = []
    for text in requests:
        if text == "report 1" and target in endpoint.links():
            continue  # a client of the station is talking to it and will know who it is
        if repeat and (own := endpoint.repeat_wait(text, target)) > 0:
            await endpoint.clock.sleep(own)
        if endpoint.broadcast_wait(text, target) <= _MAX_SEND_WAIT:
            await endpoint.broadcast(text, target)
            sent.append(text)
    return sent


def _collect(
    answers: Mapping[str, str],
    infos: Mapping[str, StationInfo],
    known: Mapping[str, DiscoveredStation],
    *,
    identified: Mapping[str, StationInfo | None],
    complete: set[str],
    skip: set[str],
) -> list[DiscoveredStation]:
    stations: list[DiscoveredStation] = []
    for host in sorted({*answers, *infos, *skip}):
        firmware = answers.get(host)
        info = infos.get(host) or identified.get(host)
        if host in known:
            stations.append(replace(known[host], answered_all=host in complete or host in skip))
        elif info is not None:
            stations.append(
                replace(_from_info(host, info, firmware), answered_all=host in complete)
            )
        else:
            stations.append(
                DiscoveredStation(
                    host=host,
                    firmware=firmware or "",
                    serial=None,
                    product=None,
                    capabilities=None,
                )
            )
    return stations


async def _identify(endpoint: KebaEndpoint, host: str, within: float) -> StationInfo | None:
    """``report 1`` with retries to a station that answered ``i``; None if it never answers."""
    station = KebaStation(endpoint, host)
    try:
        async with asyncio.timeout(within):
            await station.connect(read_info=False)
            await station._report(1, policy=_IDENTIFY_POLICY)  # noqa: SLF001 - same package
    except (KebaError, TimeoutError) as err:
        _LOGGER.debug("%s answered i but not report 1: %s", host, err)
        return None
    finally:
        await station.close()
    info = station.snapshot.info
    return info if info is not None and info.serial else None
