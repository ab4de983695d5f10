"""Addresses, ports, simulated network conditions, scale and the command line."""

from __future__ import annotations

import asyncio
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time

import pytest

from simulator import Simulator

from .simtest_helpers import SimFactory, UdpClient

ROOT = Path(__file__).resolve().parents[2]


@pytest.mark.asyncio
async def test_default_replies_go_to_fixed_port(make_sim: SimFactory, client: UdpClient) -> None:
    """Without reply_to_source_port the reply goes to the fixed client port, not the source."""
    sim = await make_sim(reply_to_source_port=False, reply_port=client.port)
    st = sim.stations[0]
    other = await UdpClient().open()
    try:
        other.send(st, "i")
        assert "Firmware" in await client.reply(st)
        assert other.inbox.empty()
    finally:
        other.close()


@pytest.mark.asyncio
async def test_loss_silence_and_runtime_changes(make_sim: SimFactory, client: UdpClient) -> None:
    """Loss 1.0 and a cut network drop everything; both can be changed at run time."""
    sim = await make_sim(loss=1.0)
    st = sim.stations[0]
    await client.no_reply(st, "i", wait=0.1)
    st.set_loss(0.0)
    assert "Firmware" in await client.request(st, "i")
    st.set_silent(True)
    await client.no_reply(st, "report 2", wait=0.1)
    st.set_silent(False)
    assert (await client.report(st, 1))["ID"] == "1"
    summary = st.summary()
    assert (summary["received"], summary["dropped_in"], summary["sent"]) == (4, 2, 2)
    assert [text for _, _, text in st.received] == ["i", "i", "report 2", "report 1"]


@pytest.mark.asyncio
async def test_duplicate_and_delay(make_sim: SimFactory, client: UdpClient) -> None:
    """Duplicates arrive twice; the delay holds replies back."""
    sim = await make_sim(duplicate=1.0, delay_ms=80, jitter_ms=20)
    st = sim.stations[0]
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert "Firmware" in await client.request(st, "i")
    assert loop.time() - start >= 0.075
    assert "Firmware" in await client.reply(st)
    assert st.summary()["sent"] == 2


@pytest.mark.asyncio
async def test_partial_loss_is_seeded(make_sim: SimFactory, client: UdpClient) -> None:
    """With a seed the same datagrams get lost on every run."""
    outcomes = []
    for bind in ("127.0.0.20", "127.0.0.21"):
        sim = await make_sim(bind=bind, loss=0.5, seed=7)
        st = sim.stations[0]
        for _ in range(20):
            client.send(st, "i")
        await asyncio.sleep(0.1)
        outcomes.append(dict(st.stats))
    assert outcomes[0] == outcomes[1]
    assert 0 < outcomes[0]["sent"] < 20
    assert outcomes[0]["dropped_in"] + outcomes[0]["dropped_out"] + outcomes[0]["sent"] == 20


@pytest.mark.asyncio
async def test_address_checks() -> None:
    """Only loopback host addresses are accepted."""
    with pytest.raises(ValueError, match="outside"):
        Simulator(bind="10.0.0.1")
    with pytest.raises(ValueError, match="outside"):
        Simulator(bind="127.255.255.253", count=3)
    with pytest.raises(ValueError, match="loopback"):
        Simulator(ips=["192.168.1.5"])
    with pytest.raises(ValueError, match="scenario"):
        Simulator(scenario="flying")
    with pytest.raises(ValueError, match="variant"):
        Simulator(variant="p40")
    sim = Simulator(count=3, serial_base=18039974, variant="p30-c,p20", scenario="idle,charging")
    assert sim.ips == ["127.0.0.2", "127.0.0.3", "127.0.0.4"]
    assert [st.serial for st in sim.stations] == ["18039974", "18039975", "18039976"]
    assert [st.variant.name for st in sim.stations] == ["p30-c", "p20", "p30-c"]
    assert sim.scenarios == ["idle", "charging", "idle"]


@pytest.mark.asyncio
async def test_sockets_closed_after_stop(client: UdpClient) -> None:
    """stop() releases every socket: the same address and port can be bound again."""
    async with Simulator(bind="127.0.0.30", count=2, port=0, reply_to_source_port=True) as sim:
        ports = [(st.ip, st.port) for st in sim.stations]
        assert "Firmware" in await client.request(sim.stations[1], "i")
    assert not sim.running
    for ip, port in ports:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind((ip, port))


@pytest.mark.asyncio
async def test_hundred_stations_cheap(client: UdpClient) -> None:
    """100 charging stations answer and cost little CPU while idle-polled."""
    async with Simulator(
        bind="127.0.1.2",
        count=100,
        port=0,
        reply_to_source_port=True,
        scenario="charging",
        energy_push_interval=0.25,
    ) as sim:
        for st in sim.stations:
            client.send(st, "i")
        answers = {ip for ip, _, text in [await client.recv() for _ in range(100)]}
        assert answers == set(sim.ips)
        cpu = time.process_time()
        await asyncio.sleep(0.6)  # E pres pushes for 100 charging stations
        used = time.process_time() - cpu
        assert used < 0.3
        pushes = [await client.recv() for _ in range(100)]
        assert all("E pres" in text for _, _, text in pushes)
        assert all(st.report(2)["State"] == 3 for st in sim.stations)
    summary = sim.summary()
    assert summary["totals"]["stations"] == 100
    assert summary["totals"]["received"] == 100


def test_cli_ready_and_summary() -> None:
    """The CLI prints a ready line, serves, and prints a summary on SIGTERM (exit 0)."""
    env = dict(os.environ, PYTHONPATH=str(ROOT))
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "simulator",
            "--bind",
            "127.0.0.40",
            "--count",
            "2",
            "--port",
            "0",
            "--reply-to-source-port",
            "--scenario",
            "idle,charging",
            "--compact",
            "--seed",
            "3",
        ],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        ready = json.loads(proc.stdout.readline())
        assert ready["ready"] is True
        stations = ready["stations"]
        assert [s["ip"] for s in stations] == ["127.0.0.40", "127.0.0.41"]
        assert stations[0]["serial"] == "18039974"
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
            sock.bind(("127.0.0.1", 0))
            sock.settimeout(2)
            sock.sendto(b"report 2", (stations[1]["ip"], stations[1]["port"]))
            data, _ = sock.recvfrom(1024)
            assert json.loads(data)["State"] == 3
            sock.sendto(b"report 2", (stations[1]["ip"], stations[1]["port"]))
            sock.recvfrom(1024)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=5)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    second = summary["stations"][1]
    assert second["ip"] == "127.0.0.41"
    assert second["commands"] == {"report 2": 2}
    assert (second["received"], second["sent"] >= 2) == (2, True)
    assert second["timing"]["127.0.0.1"]["counts"]["com_pause"] == 1
    assert summary["totals"]["violations"]["com_pause"] == 1


def test_cli_rejects_bad_address() -> None:
    """A non-loopback address is refused with exit status 2."""
    result = subprocess.run(
        [sys.executable, "-m", "simulator", "--bind", "192.168.1.10"],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=10,
        check=False,
    )
    assert result.returncode == 2
    assert "127.0.0.0/8" in result.stderr
