"""Fixtures for the simulator's own tests (plain pytest + asyncio, no Home Assistant)."""

from __future__ import annotations

from collections.abc import AsyncIterator
import contextlib
from typing import Any

import pytest
import pytest_asyncio

from simulator import Simulator

from .simtest_helpers import SimFactory, UdpClient


@pytest.fixture(autouse=True)
def _real_sockets(request: pytest.FixtureRequest) -> None:
    """Allow real sockets when a socket-blocking plugin is active."""
    with contextlib.suppress(pytest.FixtureLookupError):
        request.getfixturevalue("socket_enabled")


@pytest_asyncio.fixture
async def client() -> AsyncIterator[UdpClient]:
    """A UDP client bound to 127.0.0.1 on an ephemeral port."""
    udp = await UdpClient().open()
    try:
        yield udp
    finally:
        udp.close()


@pytest_asyncio.fixture
async def make_sim() -> AsyncIterator[SimFactory]:
    """Start simulators for a test (ephemeral ports, replies to the source port)."""
    started: list[Simulator] = []

    async def _make(**kwargs: Any) -> Simulator:
        kwargs.setdefault("bind", "127.0.0.2")
        kwargs.setdefault("port", 0)
        kwargs.setdefault("reply_to_source_port", True)
        kwargs.setdefault("current_change_delay", 0.3)
        kwargs.setdefault("timer_scale", 0.1)
        kwargs.setdefault("seed", 1)
        sim = Simulator(**kwargs)
        await sim.start()
        started.append(sim)
        return sim

    try:
        yield _make
    finally:
        for sim in started:
            await sim.stop()
