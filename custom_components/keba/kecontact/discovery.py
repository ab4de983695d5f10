"""Find stations: ``i`` to the given (broadcast) addresses, then ``report 1`` to each answer.

This is the buildup KEBA recommends (guide §2.3). The target addresses are a parameter: in a
normal network the subnet broadcast address; in Docker, VLANs or tests, explicit addresses.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass
import logging

from .exceptions import KebaError
from .parser import Datagram, FirmwareReply
from .product import Capabilities
from .station import KebaStation
from .transport import KebaEndpoint

_LOGGER = logging.getLogger(__name__)

#: How long to listen for answers to ``i``.
DEFAULT_LISTEN_TIME = 1.0


@dataclass(frozen=True, slots=True, kw_only=True)
class DiscoveredStation:
    """A station that answered discovery."""

    host: str
    firmware: str
    serial: str | None
    product: str | None
    capabilities: Capabilities | None


async def discover(
    endpoint: KebaEndpoint,
    targets: Iterable[str],
    *,
    listen_time: float = DEFAULT_LISTEN_TIME,
    identify: bool = True,
) -> list[DiscoveredStation]:
    """Send ``i`` to every target and identify every station that answers.

    Returns within about ``listen_time`` plus the time ``report 1`` needs per station (the
    stations are asked concurrently, each within its own timing rules). Stations that answer
    ``i`` but not ``report 1`` are listed without serial.
    """
    answers: dict[str, str] = {}

    def on_datagram(host: str, datagram: Datagram) -> None:
        if isinstance(datagram, FirmwareReply) and host not in answers:
            answers[host] = datagram.firmware

    remove_tap = endpoint.add_tap(on_datagram)
    try:
        for target in dict.fromkeys(targets):
            await endpoint.broadcast("i", target)
        await asyncio.sleep(listen_time)
    finally:
        remove_tap()

    if not identify:
        return [
            DiscoveredStation(
                host=host, firmware=firmware, serial=None, product=None, capabilities=None
            )
            for host, firmware in sorted(answers.items())
        ]
    return list(
        await asyncio.gather(
            *(_identify(endpoint, host, fw) for host, fw in sorted(answers.items()))
        )
    )


async def _identify(endpoint: KebaEndpoint, host: str, firmware: str) -> DiscoveredStation:
    station = KebaStation(endpoint, host)
    try:
        info = await station.connect()
    except KebaError as err:
        _LOGGER.debug("%s answered i but not report 1: %s", host, err)
        return DiscoveredStation(
            host=host, firmware=firmware, serial=None, product=None, capabilities=None
        )
    finally:
        await station.close()
    assert info is not None
    return DiscoveredStation(
        host=host,
        firmware=info.firmware or firmware,
        serial=info.serial,
        product=info.product,
        capabilities=station.capabilities,
    )
