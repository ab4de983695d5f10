"""The shared endpoint, its pool and each station's scheduler, over real loopback UDP."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
import socket

import pytest

from custom_components.keba.kecontact import (
    EndpointPool,
    KebaClosedError,
    KebaError,
    KebaPortInUseError,
    KebaTimeoutError,
    RetryPolicy,
)
from simulator import Simulator
from tests.common import LoopbackNet

from . import datagrams as d
from .conftest import Engine, EngineFactory, wait_until

type SimulatorFactory = Callable[..., Awaitable[Simulator]]

#: The lossy network: several stations in parallel, a seed that loses some datagrams.
LOSSY_STATIONS = 3
LOSS_SEED = 6


def udp_socket(ip: str, port: int = 7090) -> socket.socket:
    """A plain UDP socket bound to ``ip``:``port``."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind((ip, port))
    return sock


# ------------------------------------------------------------------------------------- pool
async def test_port_in_use(socket_enabled: None, loopback: LoopbackNet) -> None:
    """Another program on the port: KebaPortInUseError naming the address, nothing kept."""
    with udp_socket(loopback.client_ip):
        pool = EndpointPool()
        with pytest.raises(KebaPortInUseError) as caught:
            await pool.acquire(loopback.client_ip, 7090)
        assert (caught.value.host, caught.value.port) == (loopback.client_ip, 7090)
        assert "already in use" in str(caught.value)
        assert pool.endpoints == []


async def test_pool_shares_and_frees_the_socket(
    socket_enabled: None, loopback: LoopbackNet
) -> None:
    """Two acquires share one socket; the last release frees the port for anyone."""
    pool = EndpointPool()
    first = await pool.acquire(loopback.client_ip, 7090)
    second = await pool.acquire(loopback.client_ip, 7090)
    assert first is second
    assert first.local_port == 7090
    assert pool.endpoints == [first]
    await pool.release(second)
    assert first.is_open
    with pytest.raises(OSError, match="in use"):  # still bound
        udp_socket(loopback.client_ip).close()
    await pool.release(first)
    assert not first.is_open
    assert pool.endpoints == []
    udp_socket(loopback.client_ip).close()  # free again
    await pool.release(first)  # releasing twice is harmless
    with pytest.raises(KebaClosedError):
        first.link(loopback.station_ip(0))
    third = await pool.acquire(loopback.client_ip, 7090)
    assert third.is_open
    assert third.local_port == 7090
    await pool.release(third)


async def test_separate_addresses_get_separate_endpoints(
    socket_enabled: None, loopback: LoopbackNet
) -> None:
    """One endpoint per (address, port); port 0 binds an ephemeral port."""
    pool = EndpointPool()
    fixed = await pool.acquire(loopback.client_ip, 7090)
    ephemeral = await pool.acquire(loopback.client_ip, 0)
    assert ephemeral is not fixed
    assert ephemeral.local_port not in (0, 7090)
    await pool.release(ephemeral)
    await pool.release(fixed)


# ---------------------------------------------------------------------------- unknown senders
async def test_unknown_sources_are_dropped(
    engine: Engine, start_simulator: SimulatorFactory, loopback: LoopbackNet
) -> None:
    """Datagrams from addresses nobody asked are counted and dropped; no state changes."""
    sim = await start_simulator(scenario="charging")
    station = await engine.station(sim)
    await station.refresh()
    snapshot, link = station.snapshot, station.link
    received_before = link.received
    stranger_ip = loopback.station_ip(40)
    forged = [d.PUSH_STATE, d.REPORT_2_DISABLED, d.TCH_OK, d.REPORT_1_EXTENDED, "garbage"]
    with udp_socket(stranger_ip) as stranger:
        for text in forged:
            stranger.sendto(text.encode(), (loopback.client_ip, 7090))
        await wait_until(lambda: engine.endpoint.stats.unknown_source == len(forged))
    assert engine.endpoint.stats.unknown_senders == {stranger_ip}
    assert station.snapshot is snapshot
    assert link.received == received_before


# ----------------------------------------------------------------------------- timing, retries
async def test_silent_station_times_out(
    make_engine: EngineFactory, start_simulator: SimulatorFactory
) -> None:
    """A silent station: every request fails with KebaTimeoutError after max_attempts.

    The retry of each request waits for t_COM_pause; another station is not held up meanwhile.
    """
    engine = await make_engine(policy=RetryPolicy(attempt_timeout=0.2, max_attempts=2))
    sim = await start_simulator(count=2, scenario="charging")
    silent = await engine.station(sim, 0)
    other = await engine.station(sim, 1)
    sim.stations[0].set_silent(True)
    loop = asyncio.get_running_loop()
    started = loop.time()
    failing = asyncio.gather(
        silent.get_status(), silent.set_current(10), silent.get_firmware(), return_exceptions=True
    )
    await other.refresh()
    assert loop.time() - started < 1.0
    results = await asyncio.wait_for(failing, timeout=10)
    elapsed = loop.time() - started
    assert all(isinstance(result, KebaTimeoutError) for result in results), results
    assert "after 2 attempts" in str(results[0])
    assert 5.0 <= elapsed < 7.0
    commands = sim.stations[0].commands
    assert (commands["report 2"], commands["currtime"], commands["i"]) == (2, 2, 2)
    assert silent.link.retries == 3
    assert sim.violations() == []


async def test_late_reply_is_taken(
    make_engine: EngineFactory, start_simulator: SimulatorFactory
) -> None:
    """An answer arriving after the attempt's timeout still completes the request, no resend."""
    engine = await make_engine(policy=RetryPolicy(attempt_timeout=0.2, max_attempts=3))
    sim = await start_simulator(delay_ms=400)
    station = await engine.station(sim, read_info=False)
    loop = asyncio.get_running_loop()
    started = loop.time()
    info = await station.get_info()
    assert info.serial == sim.stations[0].serial
    assert loop.time() - started < 1.0
    assert sim.stations[0].commands["report 1"] == 1
    await station.set_current(8, verify=False)
    assert sim.stations[0].commands["currtime"] == 1


async def test_duplicated_replies(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """Every answer twice: the copies change nothing and cause no extra datagram."""
    sim = await start_simulator(scenario="charging", duplicate=1.0)
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await station.set_current(12)
    await station.get_meter()
    await station.get_firmware()
    assert station.snapshot.status is not None
    assert station.snapshot.status.timer_current == 12.0
    assert station.snapshot.meter is not None
    assert station.link.sent == 5
    assert sim.stations[0].stats["received"] == 5


async def test_loss(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """20 % loss each way: reads complete, every command ends confirmed or raises.

    A lost answer costs a retry 5 s later (t_COM_pause holds for retries too).
    """
    sim = await start_simulator(count=LOSSY_STATIONS, loss=0.2, seed=LOSS_SEED)
    no_timing_violations.append(sim)
    stations = [await engine.station(sim, i, read_info=False) for i in range(LOSSY_STATIONS)]
    operations = [
        op
        for station in stations
        for op in (
            station.get_info(),
            station.get_firmware(),
            station.refresh(),
            station.set_current(9, verify=False),
            station.set_output(1),
        )
    ]
    results = await asyncio.wait_for(asyncio.gather(*operations, return_exceptions=True), 45)
    failures = [r for r in results if isinstance(r, BaseException)]
    assert all(isinstance(r, KebaError) for r in failures), failures
    assert failures == []
    assert sum(station.link.retries for station in stations) > 0
    assert sum(s.stats["dropped_in"] + s.stats["dropped_out"] for s in sim.stations) > 0
    for simulated in sim.stations:
        report = simulated.report(2)
        assert (report["Curr timer"], report["Output"]) == (9000, 1)


# --------------------------------------------------------------------------------- coalescing
async def test_setpoint_burst_coalesces(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """20 currents within 1 s (plus energy limits and texts): the latest of each is applied.

    The first of each kind goes out at once, all later ones become one datagram 5 s later;
    every caller learns the outcome and report 2 is read only as often as needed.
    """
    sim = await start_simulator(scenario="charging", current_change_delay=0.2)
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    tasks: list[asyncio.Task[None]] = []
    for i in range(20):
        tasks.append(asyncio.create_task(station.set_current(6 + i * 0.5)))
        if i % 2:
            tasks.append(asyncio.create_task(station.set_energy_limit(i)))
            tasks.append(asyncio.create_task(station.display(f"step {i}")))
        await asyncio.sleep(0.05)
    await asyncio.wait_for(asyncio.gather(*tasks), timeout=15)
    simulated = sim.stations[0]
    assert simulated.commands["currtime"] <= 2
    assert simulated.commands["setenergy"] <= 2
    assert simulated.commands["display"] <= 2
    assert simulated.commands["report 2"] <= 2
    currtimes = [t for _, _, t in simulated.received if t.startswith("currtime")]
    assert currtimes[-1] == "currtime 15500 1"
    report = simulated.report(2)
    assert report["Curr timer"] == 15500
    assert report["Setenergy"] == 190000
    assert simulated.last_display_text == "step 19"
    await wait_until(lambda: simulated.report(2)["Curr user"] == 15500, within=3)
    assert sim.violations() == []


async def test_identical_reads_share_one_request(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """Three callers asking for report 2 while one waits to be sent share one datagram."""
    sim = await start_simulator()
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    statuses = await asyncio.gather(*(station.get_status() for _ in range(3)))
    assert statuses[0] is statuses[1] is statuses[2]
    assert sim.stations[0].commands["report 2"] == 1


async def test_stations_are_independent(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """Sixteen stations refresh at once: the round takes about as long as one station's."""
    sim = await start_simulator(count=16, scenario="charging")
    no_timing_violations.append(sim)
    stations = await asyncio.gather(*(engine.station(sim, i) for i in range(16)))
    loop = asyncio.get_running_loop()
    started = loop.time()
    await asyncio.gather(*(station.refresh() for station in stations))
    assert loop.time() - started < 0.5
    assert all(station.snapshot.meter is not None for station in stations)
    assert len(engine.endpoint.links()) == 16


async def test_lost_setpoint_hands_over_to_the_newer_one(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """A current whose datagram was lost, replaced meanwhile: both callers get the newer result.

    The lost ``currtime`` is not sent again; the newer value goes out once t_COM_pause allows.
    """
    sim = await start_simulator(scenario="charging")
    no_timing_violations.append(sim)
    simulated = sim.stations[0]
    station = await engine.station(sim)
    simulated.set_silent(True)
    first = asyncio.create_task(station.set_current(8, verify=False))
    await wait_until(lambda: simulated.commands["currtime"] == 1)
    second = asyncio.create_task(station.set_current(9, verify=False))
    await asyncio.sleep(0.6)  # the first attempt's timeout passes
    simulated.set_silent(False)
    await asyncio.wait_for(asyncio.gather(first, second), timeout=10)
    currtimes = [t for _, _, t in simulated.received if t.startswith("currtime")]
    assert currtimes == ["currtime 8000 1", "currtime 9000 1"]
    assert simulated.report(2)["Curr timer"] == 9000
