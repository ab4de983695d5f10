"""The shared UDP endpoint on port 7090 and the pool that hands it out.

Some station firmware ignores requests that do not come from port 7090 and always answers to
port 7090 of the sender, so one socket per bind address does all the talking: it is shared by
every station, datagrams are routed to each station's :class:`~.link.StationLink` by source IP,
and datagrams from addresses nobody asked are dropped (counted, logged once).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from dataclasses import dataclass, field
import errno
import ipaddress
import logging
import socket

from .clock import Clock, LoopClock
from .const import COM_PAUSE, DIS_PAUSE, PAUSE_MARGIN, STATION_PORT, UDP_PAUSE
from .exceptions import KebaClosedError, KebaConnectionError, KebaPortInUseError
from .link import LinkTimingSource, RetryPolicy, SendHistory, StationLink, repeat_key
from .parser import Datagram, ReportReply, parse_datagram

_LOGGER = logging.getLogger(__name__)

#: How many distinct unknown senders are remembered for "log once" (beyond that: only counted).
_UNKNOWN_SENDERS_REMEMBERED = 256

#: How many addresses that stations answered from are remembered.
_STATION_ADDRESSES_REMEMBERED = 4096

type DatagramTap = Callable[[str, Datagram], None]


@dataclass(slots=True)
class EndpointStats:
    """Counters of an endpoint, for diagnostics and tests."""

    received: int = 0
    sent_broadcasts: int = 0
    unknown_source: int = 0
    unknown_senders: set[str] = field(default_factory=set)


class _Protocol(asyncio.DatagramProtocol):
    def __init__(self, endpoint: KebaEndpoint) -> None:
        self._endpoint = endpoint
        self.closed: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)

    def datagram_received(self, data: bytes, addr: tuple[str | bytes, int]) -> None:
        host = addr[0]
        self._endpoint.datagram_received(data, host if isinstance(host, str) else host.decode())

    def error_received(self, exc: Exception) -> None:
        _LOGGER.debug("UDP error on %s: %s", self._endpoint.bind_host or "*", exc)


class KebaEndpoint(LinkTimingSource):
    """A bound UDP socket talking to many stations. Get one from :class:`EndpointPool`."""

    def __init__(
        self,
        bind_host: str,
        bind_port: int,
        *,
        station_port: int = STATION_PORT,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        """Prepare an endpoint; :meth:`open` binds it."""
        self.bind_host = bind_host
        self.bind_port = bind_port
        self.station_port = station_port
        self.clock: Clock = clock or LoopClock()
        self.policy = policy or RetryPolicy()
        self.stats = EndpointStats()
        self._transport: asyncio.DatagramTransport | None = None
        self._protocol: _Protocol | None = None
        self._links: dict[str, StationLink] = {}
        # Kept after a link closes, so that a new link to the same station keeps the rules.
        self._histories: dict[str, SendHistory] = {}
        self._taps: list[DatagramTap] = []
        self._broadcast_at: dict[str, float] = {}
        # When each command was last broadcast to each address (t_COM_pause per address).
        self._broadcast_to: dict[tuple[str, str], float] = {}
        self._last_broadcast = float("-inf")
        # Addresses stations answered from: unicast, so a search to them reaches one station.
        self._station_addresses: set[str] = set()
        self._broadcast_addresses: set[str] = set()
        # The last report 1 of each station (whoever asked), for a client that would have to
        # wait 5 s to ask again.
        self._report1: dict[str, tuple[float, ReportReply]] = {}

    # ------------------------------------------------------------------ socket
    async def open(self) -> None:
        """Bind the socket. Raises :class:`KebaPortInUseError` if the port is taken."""
        loop = asyncio.get_running_loop()
        try:
            transport, protocol = await loop.create_datagram_endpoint(
                lambda: _Protocol(self),
                local_addr=(self.bind_host or "0.0.0.0", self.bind_port),  # noqa: S104
                family=socket.AF_INET,
                allow_broadcast=True,
            )
        except OSError as err:
            if err.errno == errno.EADDRINUSE:
                raise KebaPortInUseError(self.bind_host, self.bind_port) from err
            raise KebaConnectionError(
                f"cannot bind UDP {self.bind_host or '0.0.0.0'}:{self.bind_port}: {err}"  # noqa: S104
            ) from err
        self._transport = transport
        self._protocol = protocol

    @property
    def is_open(self) -> bool:
        """The socket is bound."""
        return self._transport is not None

    @property
    def local_port(self) -> int:
        """The port actually bound (useful when ``bind_port`` is 0)."""
        if self._transport is None:
            return self.bind_port
        return int(self._transport.get_extra_info("sockname")[1])

    async def close(self) -> None:
        """Close every link and the socket."""
        links = list(self._links.values())
        self._links.clear()
        for link in links:
            await link.close()
        if self._transport is not None:
            self._transport.close()
            self._transport = None
        if self._protocol is not None:
            # asyncio closes the socket on the next loop pass: wait for it, so that whoever
            # binds the port next (a reload) does not find it still in use.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(asyncio.shield(self._protocol.closed), 1.0)
            self._protocol = None

    def _send(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._transport is None:
            raise KebaClosedError("endpoint closed")
        self._transport.sendto(data, addr)

    # ------------------------------------------------------------------- links
    def link(self, ip: str) -> StationLink:
        """The link of station ``ip`` (an IPv4 address), created on first use.

        Every call must be matched by :meth:`unlink`.
        """
        if self._transport is None:
            raise KebaClosedError("endpoint closed")
        link = self._links.get(ip)
        if link is None:
            self._forget_old_histories()
            history = self._histories.setdefault(ip, SendHistory())
            link = StationLink(
                ip,
                self.station_port,
                self._send,
                clock=self.clock,
                policy=self.policy,
                timing=self,
                history=history,
            )
            link.start()
            self._links[ip] = link
        link.users += 1
        return link

    def _forget_old_histories(self) -> None:
        """Drop the histories of unlinked addresses that no rule refers to any more."""
        horizon = self.clock.time() - max(COM_PAUSE, DIS_PAUSE) - 1.0
        for ip in [ip for ip, h in self._histories.items() if h.latest() < horizon]:
            if ip not in self._links:
                del self._histories[ip]

    async def unlink(self, link: StationLink) -> None:
        """Give a link back; the last user closes it."""
        link.users -= 1
        if link.users <= 0 and self._links.get(link.ip) is link:
            del self._links[link.ip]
            await link.close()

    def links(self) -> dict[str, StationLink]:
        """The active links by IP."""
        return dict(self._links)

    # --------------------------------------------------------------- receiving
    def add_tap(self, tap: DatagramTap) -> Callable[[], None]:
        """See every datagram from any address (discovery uses this)."""
        self._taps.append(tap)

        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._taps.remove(tap)

        return remove

    def datagram_received(self, data: bytes, host: str) -> None:
        """Route one datagram by its source address."""
        self.stats.received += 1
        link = self._links.get(host)
        if link is None and not self._taps:
            self.stats.unknown_source += 1
            senders = self.stats.unknown_senders
            if host not in senders and len(senders) < _UNKNOWN_SENDERS_REMEMBERED:
                senders.add(host)
                _LOGGER.debug("Ignoring datagram from unknown address %s", host)
            return
        datagram = parse_datagram(data)
        if len(self._station_addresses) < _STATION_ADDRESSES_REMEMBERED:
            self._station_addresses.add(host)
            if isinstance(datagram, ReportReply) and datagram.report_id == 1:
                self._report1[host] = (self.clock.time(), datagram)
        if link is not None:
            link.handle(datagram)
        for tap in list(self._taps):
            try:
                tap(host, datagram)
            except Exception:
                _LOGGER.exception("Datagram tap failed")

    # --------------------------------------------------------------- broadcast
    def broadcast_barrier(self, key: str) -> float:
        """Links wait this long after a broadcast (100 ms, or 5 s for the same command)."""
        return max(
            self._last_broadcast + UDP_PAUSE + PAUSE_MARGIN,
            self._broadcast_at.get(key, float("-inf")) + COM_PAUSE + PAUSE_MARGIN,
        )

    def recent_report1(self, host: str, max_age: float) -> ReportReply | None:
        """The last report 1 from ``host`` if it arrived within ``max_age`` seconds."""
        at, reply = self._report1.get(host, (float("-inf"), None))
        return reply if self.clock.time() - at <= max_age else None

    def declare_broadcast(self, address: str) -> None:
        """Tell the endpoint that ``address`` is a broadcast address (of a local network)."""
        self._broadcast_addresses.add(address)

    def is_station_address(self, address: str) -> bool:
        """Whether ``address`` reaches one station only (not a broadcast address).

        True when a station has answered from it; False when it was declared a broadcast
        address, or when it might be one: 255.255.255.255, anything but an IPv4 address, and
        addresses whose last four bits are all ones (the broadcast address of every network
        from /16 to /28 has them).
        """
        if address in self._station_addresses:
            return True
        if address in self._broadcast_addresses:
            return False
        try:
            ip = ipaddress.IPv4Address(address)
        except ValueError:
            return False
        return not (ip == ipaddress.IPv4Address("255.255.255.255") or int(ip) & 0x0F == 0x0F)

    def _ready_at(self, key: str, address: str) -> float:
        """Earliest time ``key`` may be sent to ``address`` by :meth:`broadcast`."""
        if self.is_station_address(address):
            # One station's own address: only its own rules apply.
            history = self._histories.get(address) or SendHistory()
            return max(
                history.last_send + UDP_PAUSE + PAUSE_MARGIN,
                history.silent_until + PAUSE_MARGIN,
                history.last_by_key.get(key, float("-inf")) + COM_PAUSE + PAUSE_MARGIN,
                self._broadcast_to.get((key, address), float("-inf")) + COM_PAUSE + PAUSE_MARGIN,
            )
        # Perhaps a broadcast address: it reaches every station talked to lately, linked or
        # not (an entry just unloaded). Other broadcast targets are no stations.
        histories = [
            history
            for ip, history in self._histories.items()
            if ip in self._links or self.is_station_address(ip)
        ]
        return max(
            [
                self._last_broadcast + UDP_PAUSE + PAUSE_MARGIN,
                self._broadcast_to.get((key, address), float("-inf")) + COM_PAUSE + PAUSE_MARGIN,
            ]
            + [h.last_send + UDP_PAUSE + PAUSE_MARGIN for h in histories]
            + [h.silent_until + PAUSE_MARGIN for h in histories]
            + [h.last_by_key.get(key, float("-inf")) + COM_PAUSE + PAUSE_MARGIN for h in histories]
        )

    def broadcast_wait(self, text: str, address: str) -> float:
        """How long :meth:`broadcast` of ``text`` to ``address`` would wait now."""
        return max(0.0, self._ready_at(repeat_key(text), address) - self.clock.time())

    def repeat_wait(self, text: str, address: str) -> float:
        """How long until ``text`` may be broadcast to ``address`` again (t_COM_pause)."""
        last = self._broadcast_to.get((repeat_key(text), address), float("-inf"))
        return max(0.0, last + COM_PAUSE + PAUSE_MARGIN - self.clock.time())

    async def broadcast(self, text: str, address: str) -> None:
        """Send ``text`` to a broadcast (or any unlinked) address, keeping the timing rules.

        A broadcast address reaches every station behind it, so it waits until every station
        talked to lately may receive a datagram, and marks the time so that they wait after it
        too. An address a station has answered from is that one station: only its own rules
        apply, and only it waits afterwards, so a search to station addresses never delays
        requests to other stations. The same command goes to the same address again only after
        t_COM_pause; different addresses (one per subnet, or a list of station addresses) are
        only kept t_UDP_pause apart, so that a discovery over many addresses does not take 5 s
        per address.
        """
        key = repeat_key(text)
        while True:
            now = self.clock.time()
            ready = self._ready_at(key, address)
            if ready <= now:
                break
            await self.clock.sleep(ready - now)
        self.stats.sent_broadcasts += 1
        try:
            self._send(text.encode("ascii"), (address, self.station_port))
        except OSError as err:
            _LOGGER.debug("Broadcast of %r to %s failed: %s", text, address, err)
        # Marked after sending, like a link does: a pause before the send cannot shorten a gap.
        now = self.clock.time()
        self._broadcast_to[key, address] = now
        # The address's own history, whatever it turns out to be: if a station answers from it
        # later, its link (or the next search) keeps the rules after this datagram.
        history = self._histories.setdefault(address, SendHistory())
        history.last_send = now
        history.last_by_key[key] = now
        if not self.is_station_address(address):
            self._last_broadcast = now
            self._broadcast_at[key] = now


class EndpointPool:
    """Hands out one shared endpoint per (bind address, port), counting its users."""

    def __init__(
        self,
        *,
        station_port: int = STATION_PORT,
        clock: Clock | None = None,
        policy: RetryPolicy | None = None,
    ) -> None:
        """Create an empty pool."""
        self.station_port = station_port
        self._clock = clock
        self._policy = policy
        self._endpoints: dict[tuple[str, int], tuple[KebaEndpoint, int]] = {}
        # Closed endpoints, reopened by the next acquire: they remember what was sent to each
        # station, so that a station probed just before (a config flow's report 1) is not asked
        # the same again within t_COM_pause by the entry that is set up right after.
        self._closed: dict[tuple[str, int], KebaEndpoint] = {}
        self._lock = asyncio.Lock()

    async def acquire(self, bind_host: str = "", bind_port: int = STATION_PORT) -> KebaEndpoint:
        """Return the endpoint for this address, binding it on first use.

        Raises :class:`KebaPortInUseError` when another program holds the port.
        """
        key = (bind_host, bind_port)
        async with self._lock:
            entry = self._endpoints.get(key)
            if entry is None:
                endpoint = self._closed.pop(key, None) or KebaEndpoint(
                    bind_host,
                    bind_port,
                    station_port=self.station_port,
                    clock=self._clock,
                    policy=self._policy,
                )
                try:
                    await endpoint.open()
                except BaseException:
                    self._closed[key] = endpoint
                    raise
                self._endpoints[key] = (endpoint, 1)
                return endpoint
            endpoint, users = entry
            self._endpoints[key] = (endpoint, users + 1)
            return endpoint

    async def release(self, endpoint: KebaEndpoint) -> None:
        """Give an endpoint back; the last user closes it and frees the port."""
        async with self._lock:
            key = (endpoint.bind_host, endpoint.bind_port)
            entry = self._endpoints.get(key)
            if entry is None or entry[0] is not endpoint:
                return
            _, users = entry
            if users > 1:
                self._endpoints[key] = (endpoint, users - 1)
                return
            del self._endpoints[key]
            await endpoint.close()
            self._closed[key] = endpoint

    @property
    def endpoints(self) -> list[KebaEndpoint]:
        """Endpoints currently open."""
        return [endpoint for endpoint, _ in self._endpoints.values()]
