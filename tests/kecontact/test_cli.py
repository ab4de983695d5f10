"""The troubleshooting command line against simulated stations."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from functools import partial
import json
from pathlib import Path
import socket
import sys

import pytest

from custom_components.keba.kecontact import EndpointPool, RetryPolicy, cli as cli_module
from custom_components.keba.kecontact.cli import build_parser, run
from simulator import Simulator
from tests.common import LoopbackNet

type SimulatorFactory = Callable[..., Awaitable[Simulator]]

REPOSITORY = Path(__file__).resolve().parents[2]


async def cli(loopback: LoopbackNet, *args: str) -> int:
    """Run the command line in this process, bound to the test's client address."""
    return await run(build_parser().parse_args(["--bind", loopback.client_ip, *args]))


async def test_discover(
    start_simulator: SimulatorFactory,
    loopback: LoopbackNet,
    capsys: pytest.CaptureFixture[str],
    no_timing_violations: list[Simulator],
) -> None:
    """``discover --target …`` prints the stations found as a JSON list."""
    sim = await start_simulator(count=2, variant="p30-c,p30-x")
    no_timing_violations.append(sim)
    targets = [arg for ip in loopback.station_ips(3) for arg in ("--target", ip)]
    assert await cli(loopback, "discover", *targets, "--listen", "0.3") == 0
    found = json.loads(capsys.readouterr().out)
    assert [(s["host"], s["serial"], s["product"]) for s in found] == [
        (st.ip, st.serial, st.product) for st in sim.stations
    ]
    assert found[1]["capabilities"]["series"] == "x"


async def test_status(
    start_simulator: SimulatorFactory,
    loopback: LoopbackNet,
    capsys: pytest.CaptureFixture[str],
    no_timing_violations: list[Simulator],
) -> None:
    """``status HOST`` prints every report, parsed, as one JSON document."""
    sim = await start_simulator(scenario="charging")
    no_timing_violations.append(sim)
    simulated = sim.stations[0]
    simulated.unplug()
    simulated.plug_in()
    assert await cli(loopback, "status", simulated.ip) == 0
    document = json.loads(capsys.readouterr().out)
    assert document["host"] == simulated.ip
    assert document["firmware"]["firmware"] == simulated.variant.firmware
    assert document["udp_control"] is True
    assert document["info"]["serial"] == simulated.serial
    assert document["capabilities"]["meter"] is True
    assert document["status"]["state"] == "charging"
    assert document["status"]["vehicle_plugged"] is True
    assert document["meter"]["phases_in_use"] == 3
    assert document["session"]["is_active"] is True
    assert [s["session_id"] for s in document["history"]] == [
        entry["Session ID"] for entry in simulated.history
    ]


async def test_status_udp_control_off(
    start_simulator: SimulatorFactory,
    loopback: LoopbackNet,
    capsys: pytest.CaptureFixture[str],
    no_timing_violations: list[Simulator],
) -> None:
    """DSW1.3 off: report 1 is printed with ``"udp_control": false`` and a DSW1.3 message."""
    sim = await start_simulator(variant="p30-c-udp-off")
    no_timing_violations.append(sim)
    simulated = sim.stations[0]
    assert await cli(loopback, "status", simulated.ip, "--control-timeout", "1") == 1
    document = json.loads(capsys.readouterr().out)
    assert document["udp_control"] is False
    assert "DSW1.3" in document["message"]
    assert document["info"]["serial"] == simulated.serial
    assert document["info"]["udp_control_enabled"] is False
    assert "status" not in document


async def test_status_of_a_silent_host(
    socket_enabled: None,
    loopback: LoopbackNet,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """No station: exit code 1 and the error on stderr, after the bounded retries."""
    quick = RetryPolicy(attempt_timeout=0.1, max_attempts=1)
    monkeypatch.setattr(cli_module, "EndpointPool", partial(EndpointPool, policy=quick))
    assert await cli(loopback, "status", loopback.station_ip(0)) == 1
    assert "did not answer" in capsys.readouterr().err


async def test_port_in_use(
    socket_enabled: None, loopback: LoopbackNet, capsys: pytest.CaptureFixture[str]
) -> None:
    """A taken port: exit code 2 and a clear message."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other:
        other.bind((loopback.client_ip, 7090))
        assert await cli(loopback, "status", loopback.station_ip(0)) == 2
    assert "already in use" in capsys.readouterr().err


async def test_watch_as_a_program(
    start_simulator: SimulatorFactory,
    loopback: LoopbackNet,
    no_timing_violations: list[Simulator],
) -> None:
    """``python -m … watch HOST --duration S`` prints JSON lines and stops by itself."""
    sim = await start_simulator(scenario="charging")
    no_timing_violations.append(sim)
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "custom_components.keba.kecontact",
        "--bind",
        loopback.client_ip,
        "watch",
        sim.stations[0].ip,
        "--duration",
        "2.5",
        cwd=REPOSITORY,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    stdout, stderr = await asyncio.wait_for(process.communicate(), timeout=30)
    assert process.returncode == 0, stderr.decode()
    lines = [json.loads(line) for line in stdout.decode().splitlines()]
    kinds = {line["event"] for line in lines}
    assert {"status", "meter", "push"} <= kinds
    status = next(line for line in lines if line["event"] == "status")
    assert status["snapshot"]["status"]["serial"] == sim.stations[0].serial
    assert any("E pres" in line["fields"] for line in lines if line["event"] == "push")
