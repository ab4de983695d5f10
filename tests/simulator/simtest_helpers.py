"""Helpers for the simulator's tests: a raw UDP client on 127.0.0.1 and small utilities."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import json
from typing import Any

import pytest

PUSH_KEYS = frozenset({"State", "Plug", "Input", "Enable sys", "Max curr", "E pres"})


def is_push(text: str) -> bool:
    """Return True for a status message such as ``{"State": 2}``."""
    try:
        data = json.loads(text)
    except ValueError:
        return False
    return isinstance(data, dict) and len(data) == 1 and next(iter(data)) in PUSH_KEYS


class UdpClient:
    """A raw asyncio UDP socket bound to 127.0.0.1 on an ephemeral port."""

    def __init__(self) -> None:
        """Create the client; :meth:`open` binds it."""
        self.transport: asyncio.DatagramTransport | None = None
        self.inbox: asyncio.Queue[tuple[str, int, str]] = asyncio.Queue()
        self.pushes: list[tuple[str, dict[str, int]]] = []
        self.log: list[tuple[float, str, str]] = []

    async def open(self, port: int = 0) -> UdpClient:
        """Bind to 127.0.0.1:``port`` (0: ephemeral) and return self."""
        loop = asyncio.get_running_loop()
        client = self

        class _Proto(asyncio.DatagramProtocol):
            def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
                text = data.decode()
                client.log.append((loop.time(), str(addr[0]), text))
                client.inbox.put_nowait((str(addr[0]), int(addr[1]), text))

        self.transport, _ = await loop.create_datagram_endpoint(
            _Proto, local_addr=("127.0.0.1", port)
        )
        return self

    @property
    def port(self) -> int:
        """The bound port."""
        assert self.transport is not None
        return int(self.transport.get_extra_info("sockname")[1])

    def close(self) -> None:
        """Close the socket."""
        if self.transport is not None:
            self.transport.close()

    def send(self, station: Any, text: str) -> None:
        """Send ``text`` to a station (a Station object)."""
        assert self.transport is not None
        self.transport.sendto(text.encode(), (station.ip, station.port))

    async def recv(self, within: float = 1.0) -> tuple[str, int, str]:
        """Return the next datagram (source IP, source port, text)."""
        return await asyncio.wait_for(self.inbox.get(), within)

    async def request(self, station: Any, text: str, within: float = 1.0) -> str:
        """Send ``text`` and return the first datagram from the station that is no push."""
        self.send(station, text)
        return await self.reply(station, within)

    async def reply(self, station: Any, within: float = 1.0) -> str:
        """Return the next datagram from ``station`` that is no push (pushes are kept)."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + within
        while True:
            ip, _, data = await asyncio.wait_for(self.inbox.get(), deadline - loop.time())
            if is_push(data):
                self.pushes.append((ip, json.loads(data)))
                continue
            if ip == station.ip:
                return data

    async def report(self, station: Any, number: int) -> dict[str, Any]:
        """Request ``report <number>`` and return it parsed."""
        data = json.loads(await self.request(station, f"report {number}"))
        assert isinstance(data, dict)
        return data

    async def no_reply(self, station: Any, text: str, wait: float = 0.2) -> None:
        """Send ``text`` and assert nothing but pushes comes back within ``wait``."""
        self.send(station, text)
        with pytest.raises(TimeoutError):
            await self.reply(station, wait)

    async def collect_pushes(self, wait: float) -> list[dict[str, int]]:
        """Gather datagrams for ``wait`` seconds and return the pushes among them."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        found: list[dict[str, int]] = []
        while (left := deadline - loop.time()) > 0:
            try:
                ip, _, data = await asyncio.wait_for(self.inbox.get(), left)
            except TimeoutError:
                break
            if is_push(data):
                found.append(json.loads(data))
                self.pushes.append((ip, json.loads(data)))
        return found

    def drain(self) -> None:
        """Forget every datagram received so far."""
        while not self.inbox.empty():
            self.inbox.get_nowait()


async def wait_until(predicate: Callable[[], bool], within: float = 2.0) -> None:
    """Poll ``predicate`` every 10 ms until it is true (fail after ``within`` seconds)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while not predicate():
        if loop.time() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.01)


SimFactory = Callable[..., Any]
"""``await make_sim(**simulator_kwargs)`` returns a started Simulator."""
