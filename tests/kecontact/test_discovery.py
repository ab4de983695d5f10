"""Discovery: ``i`` to the given addresses, ``report 1`` to each station that answers."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from custom_components.keba.kecontact import Model, RetryPolicy, Series, discover
from simulator import Simulator
from tests.common import LoopbackNet

from .conftest import Engine, EngineFactory

type SimulatorFactory = Callable[..., Awaitable[Simulator]]


async def test_discover_two_stations(
    engine: Engine,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    loopback: LoopbackNet,
) -> None:
    """Two stations found with serial, product and capabilities, in bounded time.

    One answers ``i`` with a bare fragment; a target without a station is simply silent.
    """
    p30 = await start_simulator(variant="p30-x")
    p20 = await start_simulator(variant="p20", firmware_style="fragment", serial_base=16314582)
    no_timing_violations.extend([p30, p20])
    loop = asyncio.get_running_loop()
    started = loop.time()
    found = await discover(engine.endpoint, loopback.station_ips(3), listen_time=0.3)
    assert loop.time() - started < 1.5
    assert [(s.host, s.serial, s.product) for s in found] == [
        (p30.stations[0].ip, p30.stations[0].serial, p30.stations[0].product),
        (p20.stations[0].ip, "16314582", p20.stations[0].product),
    ]
    assert found[0].firmware == p30.stations[0].variant.firmware
    assert found[1].firmware == p20.stations[0].variant.firmware
    assert found[0].capabilities is not None
    assert found[0].capabilities.series is Series.X
    assert found[1].capabilities is not None
    assert found[1].capabilities.model is Model.P20
    # Discovery leaves no link behind.
    assert engine.endpoint.links() == {}


async def test_discover_without_identify(
    engine: Engine, start_simulator: SimulatorFactory, loopback: LoopbackNet
) -> None:
    """``identify=False`` only listens for answers to ``i``."""
    sim = await start_simulator(count=2)
    found = await discover(
        engine.endpoint, loopback.station_ips(2) * 2, listen_time=0.2, identify=False
    )
    assert [(s.host, s.serial) for s in found] == [(ip, None) for ip in sim.ips]
    assert all(s.firmware for s in found)
    assert [t for _, _, t in sim.stations[0].received] == ["i"]


async def test_discover_next_to_a_connected_station(
    engine: Engine,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    loopback: LoopbackNet,
) -> None:
    """Discovery shares the socket with running stations and keeps their timing rules."""
    sim = await start_simulator(count=2)
    no_timing_violations.append(sim)
    station = await engine.station(sim, 0, read_info=False)
    polling = asyncio.create_task(station.refresh())
    found = await discover(engine.endpoint, loopback.station_ips(2), listen_time=0.3)
    await polling
    assert [s.serial for s in found] == [st.serial for st in sim.stations]
    assert list(engine.endpoint.links()) == [sim.stations[0].ip]
    assert station.snapshot.status is not None


async def test_station_that_only_answers_i(
    make_engine: EngineFactory, start_simulator: SimulatorFactory
) -> None:
    """A station that stops answering after ``i`` is listed without serial."""
    engine = await make_engine(policy=RetryPolicy(attempt_timeout=0.2, max_attempts=1))
    sim = await start_simulator()

    def go_silent(host: str, _datagram: object) -> None:
        if host == sim.stations[0].ip:
            sim.stations[0].set_silent(True)

    remove = engine.endpoint.add_tap(go_silent)
    try:
        found = await asyncio.wait_for(
            discover(engine.endpoint, [sim.stations[0].ip], listen_time=0.2), timeout=15
        )
    finally:
        remove()
    assert [(s.host, s.serial, s.product) for s in found] == [(sim.stations[0].ip, None, None)]
