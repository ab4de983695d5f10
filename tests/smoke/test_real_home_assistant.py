"""Smoke test: a real Home Assistant process with this integration and simulated stations.

Everything runs as separate processes, as a user would run it: the simulator
(``python -m simulator``) with a charging and an idle station on the test's loopback net, and
``python -m homeassistant`` with the integration bound to the test's client address and its
HTTP server on 127.0.0.1 (a free port). The test creates the owner account through the
onboarding API, adds both stations through the config flow's REST API, reads their entities,
sets the charging current with an action, and finally checks the simulator's timing findings
and Home Assistant's log.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
import json
import os
from pathlib import Path
import signal
import socket
import subprocess
import sys
import time
from typing import Any

import pytest

from scripts.ha_client import HomeAssistantApiError, HomeAssistantAsyncClient, HomeAssistantClient
from scripts.ha_config import write_empty_frontend, write_http_storage, write_onboarding_storage
from tests.common import LoopbackNet

REPO_ROOT = Path(__file__).resolve().parents[2]
CHARGING, IDLE = 0, 1
START_TIMEOUT = 60.0
STATE_TIMEOUT = 20.0


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _tail(path: Path, lines: int = 60) -> str:
    if not path.exists():
        return f"({path.name} does not exist)"
    return "\n".join(path.read_text(encoding="utf-8", errors="replace").splitlines()[-lines:])


def _stop(process: subprocess.Popen[bytes], timeout: float = 30.0) -> int:
    """SIGTERM, then SIGKILL if it does not end in time; return the exit code."""
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
    return process.returncode


class SimulatorProcess:
    """``python -m simulator`` in a subprocess; its JSON lines go to a file."""

    def __init__(self, tmp_path: Path, ips: list[str]) -> None:
        """Start the stations and wait for the ready line."""
        self.output = tmp_path / "simulator.out"
        self.log = tmp_path / "simulator.log"
        with self.output.open("wb") as out, self.log.open("wb") as err:
            self.process = subprocess.Popen(  # noqa: S603 - fixed arguments
                [
                    sys.executable,
                    "-m",
                    "simulator",
                    "--ips",
                    ",".join(ips),
                    "--scenario",
                    "charging,idle",
                    "--variant",
                    "p30-x,p30-c",
                    "--current-change-delay",
                    "0.5",
                ],
                cwd=REPO_ROOT,
                stdout=out,
                stderr=err,
            )
        self.ready = self._wait_for_line("ready", 15.0)

    def _lines(self) -> list[dict[str, Any]]:
        text = self.output.read_text(encoding="utf-8") if self.output.exists() else ""
        return [json.loads(line) for line in text.splitlines() if line.startswith("{")]

    def _wait_for_line(self, key: str, timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for line in self._lines():
                if key in line:
                    return line
            if self.process.poll() is not None:
                break
            time.sleep(0.05)
        pytest.fail(f"the simulator printed no {key!r} line:\n{_tail(self.log)}")

    def stop(self) -> dict[str, Any]:
        """Stop the stations and return their summary (counters, timing violations)."""
        _stop(self.process)
        return self._wait_for_line("totals", 5.0)


@pytest.fixture
def simulator_process(
    socket_enabled: None, loopback: LoopbackNet, tmp_path: Path
) -> Iterator[SimulatorProcess]:
    """A charging P30 x-series at station_ip(0) and an idle P30 c-series at station_ip(1)."""
    sim = SimulatorProcess(tmp_path, loopback.station_ips(2))
    yield sim
    _stop(sim.process)


@pytest.fixture
def config_dir(tmp_path: Path, loopback: LoopbackNet) -> Path:
    """A lean Home Assistant configuration with the integration on the test's loopback net."""
    config = tmp_path / "config"
    (config / "custom_components").mkdir(parents=True)
    (config / "custom_components" / "keba").symlink_to(REPO_ROOT / "custom_components" / "keba")
    # The test venv has no frontend package; without a frontend Home Assistant would start in
    # recovery mode, without custom integrations.
    frontend = write_empty_frontend(tmp_path / "frontend")
    stations = "".join(f"    - {ip}\n" for ip in loopback.station_ips(2))
    (config / "configuration.yaml").write_text(
        "frontend:\n"
        f"  development_repo: {frontend}\n"
        "api:\n"
        "config:\n"
        "logger:\n"
        "  default: warning\n"
        "  logs:\n"
        "    custom_components.keba: debug\n"
        "keba:\n"
        f"  bind_address: {loopback.client_ip}\n"
        "  discovery_addresses:\n"
        f"{stations}",
        encoding="utf-8",
    )
    write_onboarding_storage(config)
    return config


@pytest.fixture
def home_assistant(
    socket_enabled: None, config_dir: Path, tmp_path: Path
) -> Iterator[tuple[HomeAssistantClient, subprocess.Popen[bytes]]]:
    """``python -m homeassistant`` on 127.0.0.1 (free port), logged in as its new owner."""
    port = _free_tcp_port()
    write_http_storage(config_dir, "127.0.0.1", port)
    with (tmp_path / "home-assistant.out").open("wb") as out:
        process = subprocess.Popen(  # noqa: S603 - fixed arguments
            # --skip-pip: the test venv has what the configured integrations need; nothing is
            # installed while the test runs (integrations whose packages are missing, e.g. the
            # frontend, fail to set up and are not needed here).
            [sys.executable, "-m", "homeassistant", "-c", str(config_dir), "--skip-pip"],
            cwd=tmp_path,
            stdout=out,
            stderr=subprocess.STDOUT,
            # Without PYTHONPATH, so that the integration is loaded from the configuration
            # directory like any custom integration.
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
            | {"PYTHONDONTWRITEBYTECODE": "1"},
        )
    client = HomeAssistantClient(f"http://127.0.0.1:{port}")
    try:
        client.wait_until_up(START_TIMEOUT, process=process)
        client.onboard("smoke", "smoke-test-password", name="Smoke test")
        client.wait_until_running(START_TIMEOUT)
    except (OSError, RuntimeError, TimeoutError, HomeAssistantApiError) as err:
        _stop(process)
        pytest.fail(
            f"Home Assistant did not start: {err}\n{_tail(config_dir / 'home-assistant.log')}"
        )
    yield client, process
    _stop(process)


def _entity_ids(client: HomeAssistantClient) -> dict[str, str]:
    """Unique id -> entity id of the integration's entities (from the entity registry)."""

    async def read() -> list[dict[str, Any]]:
        assert client.token is not None
        async with (
            asyncio.timeout(20),
            HomeAssistantAsyncClient(client.base_url, client.token) as ws,
        ):
            return await ws.entity_registry()

    return {
        entry["unique_id"]: entry["entity_id"]
        for entry in asyncio.run(read())
        if entry["platform"] == "keba"
    }


def _wait_for_state(
    client: HomeAssistantClient, entity_id: str, check: Callable[[str], bool], what: str
) -> dict[str, Any]:
    deadline = time.monotonic() + STATE_TIMEOUT
    state = None
    while time.monotonic() < deadline:
        state = client.state(entity_id)
        if state is not None and check(state["state"]):
            return state
        time.sleep(0.2)
    pytest.fail(f"{entity_id} should be {what}; it is {state}")


def test_real_home_assistant(
    simulator_process: SimulatorProcess,
    home_assistant: tuple[HomeAssistantClient, subprocess.Popen[bytes]],
    config_dir: Path,
) -> None:
    """Stations added through the UI's API report their live values in a real Home Assistant."""
    client, process = home_assistant
    stations = simulator_process.ready["stations"]
    charging_serial = stations[CHARGING]["serial"]
    idle_serial = stations[IDLE]["serial"]

    # The config flow as the UI runs it: the user step lists what discovery found (once a
    # station is set up, after a menu: another station or a charging site).
    for serial in (charging_serial, idle_serial):
        form = client.start_flow("keba")
        if serial == idle_serial:
            assert form["type"] == "menu", form
            form = client.continue_flow(form["flow_id"], {"next_step_id": "station"})
        assert form["type"] == "form", form
        assert form["step_id"] == "user", form
        options = form["data_schema"][0]["selector"]["select"]["options"]
        assert serial in [option["value"] for option in options], options
        result = client.continue_flow(form["flow_id"], {"station": serial})
        assert result["type"] == "create_entry", result
        assert result["result"]["state"] == "loaded", result
    entries = client.config_entries("keba")
    assert [entry["state"] for entry in entries] == ["loaded", "loaded"], entries

    entity = _entity_ids(client)
    for key in ("power", "charging", "charging_current", "user_current_limit"):
        assert f"{charging_serial}_{key}" in entity, sorted(entity)
    _wait_for_state(client, entity[f"{charging_serial}_power"], lambda s: float(s) > 0, "> 0 W")
    _wait_for_state(client, entity[f"{charging_serial}_charging"], "on".__eq__, "on")
    _wait_for_state(client, entity[f"{idle_serial}_power"], lambda s: float(s) == 0, "0 W")
    _wait_for_state(client, entity[f"{idle_serial}_charging"], "off".__eq__, "off")

    # An action through the real Home Assistant reaches the station and comes back in report 2.
    client.post(
        "/api/services/number/set_value",
        {"entity_id": entity[f"{charging_serial}_charging_current"], "value": 10},
    )
    _wait_for_state(
        client,
        entity[f"{charging_serial}_user_current_limit"],
        lambda s: s not in ("unknown", "unavailable") and float(s) == 10,
        "10 A",
    )

    assert process.poll() is None, "Home Assistant ended during the test"
    assert _stop(process) == 0
    summary = simulator_process.stop()
    assert summary["totals"]["violations"] == {"udp_pause": 0, "com_pause": 0, "dis_pause": 0}
    assert summary["totals"]["eeprom_writes"] == 0
    log = (config_dir / "home-assistant.log").read_text(encoding="utf-8", errors="replace")
    problems = [
        line
        for line in log.splitlines()
        if "custom_components.keba" in line and (" ERROR " in line or " WARNING " in line)
    ]
    assert not problems, "\n".join(problems)
