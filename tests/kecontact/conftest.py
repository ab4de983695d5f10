"""Fixtures of the protocol engine's tests: an engine on the test's loopback net.

The engine needs no Home Assistant, so these tests skip the ``hass`` fixture that the package's
conftest pulls in for every other test.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field

import pytest

from custom_components.keba.kecontact import EndpointPool, KebaEndpoint, KebaStation, RetryPolicy
from custom_components.keba.kecontact.const import COM_PAUSE, DIS_PAUSE, UDP_PAUSE
from simulator import Simulator
from tests.common import LoopbackNet

#: Replies on loopback take well under a millisecond; half a second is a generous attempt.
FAST_POLICY = RetryPolicy(attempt_timeout=0.5, max_attempts=6)


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Engine tests run without Home Assistant (overrides the package-wide fixture)."""


@dataclass
class Engine:
    """The engine's shared endpoint on ``loopback.client_ip`` port 7090 and its stations."""

    pool: EndpointPool
    endpoint: KebaEndpoint
    stations: list[KebaStation] = field(default_factory=list)

    async def station(
        self, sim: Simulator, index: int = 0, *, read_info: bool = True
    ) -> KebaStation:
        """Connect a client to simulated station ``index`` (report 1 unless told otherwise)."""
        station = KebaStation(self.endpoint, sim.stations[index].ip)
        self.stations.append(station)
        await station.connect(read_info=read_info)
        return station


type EngineFactory = Callable[..., Awaitable[Engine]]


@pytest.fixture
async def make_engine(socket_enabled: None, loopback: LoopbackNet) -> AsyncIterator[EngineFactory]:
    """Factory of engines, each with its own retry policy (the default is :data:`FAST_POLICY`)."""
    engines: list[Engine] = []

    async def make(policy: RetryPolicy = FAST_POLICY) -> Engine:
        pool = EndpointPool(policy=policy)
        endpoint = await pool.acquire(loopback.client_ip, 7090)
        engine = Engine(pool, endpoint)
        engines.append(engine)
        return engine

    yield make
    for engine in engines:
        for station in engine.stations:
            await station.close()
        await engine.pool.release(engine.endpoint)


@pytest.fixture
async def engine(make_engine: EngineFactory) -> Engine:
    """The engine with :data:`FAST_POLICY`."""
    return await make_engine()


async def wait_until(predicate: Callable[[], bool], within: float = 3.0) -> None:
    """Wait for a real event on the loopback network (checks every 10 ms)."""
    for _ in range(max(1, round(within / 0.01))):
        if predicate():
            return
        await asyncio.sleep(0.01)
    assert predicate(), f"not true within {within} s"


@dataclass(frozen=True, slots=True)
class Sent:
    """One datagram the engine sent."""

    time: float
    ip: str
    text: str


def rule_breaches(log: list[Sent]) -> list[str]:
    """KEBA's timing rules (guide §2.1) checked at the engine's own send times.

    Independent of the simulator's check, which sees arrival times and so also the jitter of a
    busy test machine, this reads when the engine handed each datagram to the socket.
    """
    breaches: list[str] = []
    last: dict[str, Sent] = {}
    last_by_command: dict[tuple[str, str], Sent] = {}
    silent_until: dict[str, tuple[float, str]] = {}
    for item in log:
        words = item.text.split()
        head = words[0].lower() if words else ""
        command = f"report {words[1]}" if head == "report" and len(words) > 1 else head
        previous = last.get(item.ip)
        if previous is not None and item.time - previous.time < UDP_PAUSE:
            breaches.append(f"t_UDP_pause: {item.text!r} after {previous.text!r} to {item.ip}")
        same = last_by_command.get((item.ip, command))
        if same is not None and item.time - same.time < COM_PAUSE:
            breaches.append(f"t_COM_pause: {item.text!r} after {same.text!r} to {item.ip}")
        quiet = silent_until.get(item.ip)
        if quiet is not None and item.time < quiet[0]:
            breaches.append(f"t_DIS_pause: {item.text!r} after {quiet[1]!r} to {item.ip}")
        last[item.ip] = item
        last_by_command[item.ip, command] = item
        if words[:2] == ["ena", "0"] or (head == "currtime" and words[1:] == ["0", "1"]):
            silent_until[item.ip] = (item.time + DIS_PAUSE, item.text)
    return breaches


@pytest.fixture(autouse=True)
def sent_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Sent]]:
    """Every datagram any endpoint sends in the test; the rules are checked at the end."""
    log: list[Sent] = []
    send = KebaEndpoint._send

    def spy(self: KebaEndpoint, data: bytes, addr: tuple[str, int]) -> None:
        send(self, data, addr)
        log.append(Sent(asyncio.get_running_loop().time(), addr[0], data.decode("ascii")))

    monkeypatch.setattr(KebaEndpoint, "_send", spy)
    yield log
    assert rule_breaches(log) == []
