"""Every command against the simulated station over real loopback UDP, effects included."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
import socket
from typing import Any

import pytest

from custom_components.keba.kecontact import (
    EventKind,
    KebaCommandError,
    KebaConnectionError,
    KebaStation,
    KebaVerificationError,
    StationEvent,
    TimeQuality,
)
from simulator import Simulator
from tests.common import LoopbackNet

from .conftest import Engine, wait_until

type SimulatorFactory = Callable[..., Awaitable[Simulator]]

TAG = "f2875063"
TAG_PADDED = "f287506300000000"


def sent(sim: Simulator, index: int = 0) -> list[str]:
    """The datagrams the simulated station received, in order."""
    return [text for _, _, text in sim.stations[index].received]


async def test_set_current(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """``currtime <mA> 1``, verified with report 2, and the station applies it."""
    sim = await start_simulator(scenario="charging", variant="p30-x", current_change_delay=0.2)
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await station.set_current(10.5)
    assert sent(sim) == ["report 1", "currtime 10500 1", "report 2"]
    assert station.snapshot.status is not None
    assert station.snapshot.status.timer_current == 10.5
    await wait_until(lambda: sim.stations[0].report(2)["Max curr"] == 10500)


async def test_set_current_with_delay(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """A delay is passed through; the timer counts down on the station."""
    sim = await start_simulator(scenario="charging")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await station.set_current(7, delay_s=20)
    assert "currtime 7000 20" in sent(sim)
    status = station.snapshot.status
    assert status is not None
    assert status.timer_current == 7.0
    assert status.timer_timeout_s is not None
    assert 18 <= status.timer_timeout_s <= 20


async def test_pause_charging_keeps_silence(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """``currtime 0 1`` is followed by 2 s of silence (t_DIS_pause) before its verification."""
    sim = await start_simulator(scenario="charging")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await station.pause_charging()
    received = list(sim.stations[0].received)
    texts = [text for _, _, text in received]
    assert texts == ["report 1", "currtime 0 1", "report 2"]
    assert received[2][0] - received[1][0] >= 2.0
    await wait_until(lambda: sim.stations[0].report(2)["Max curr"] == 0, within=3)


async def test_set_current_permanent(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """``curr <mA>`` sets Curr user at once."""
    sim = await start_simulator(scenario="charging")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await station.set_current_permanent(8)
    assert sent(sim)[1] == "curr 8000"
    assert sim.stations[0].report(2)["Curr user"] == 8000
    assert station.snapshot.status is not None
    assert station.snapshot.status.user_current_limit == 8.0


async def test_cancel_current_timer(
    engine: Engine,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    loopback: LoopbackNet,
) -> None:
    """``currtime 0 0`` only cancels a running timer (here one that another client set)."""
    sim = await start_simulator(scenario="charging")
    no_timing_violations.append(sim)
    simulated = sim.stations[0]
    station = await engine.station(sim)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as other_client:
        other_client.bind((loopback.station_ip(30), 7090))
        other_client.sendto(b"currtime 7000 60", (simulated.ip, 7090))
        await wait_until(lambda: simulated.report(2)["Tmo CT"] > 0)
    await station.cancel_current_timer()
    assert sent(sim) == ["report 1", "currtime 7000 60", "currtime 0 0"]
    report = simulated.report(2)
    assert (report["Curr timer"], report["Tmo CT"]) == (0, 0)


@pytest.mark.parametrize("enabled", [False, True])
async def test_set_enabled(
    engine: Engine,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    enabled: bool,
) -> None:
    """``ena 0`` / ``ena 1``, verified with Enable user of report 2."""
    sim = await start_simulator(scenario="charging")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await station.set_enabled(enabled)
    assert sent(sim) == ["report 1", f"ena {int(enabled)}", "report 2"]
    assert station.snapshot.status is not None
    assert station.snapshot.status.enable_user is enabled
    assert station.snapshot.status.enable_sys is enabled


async def test_set_energy_limit(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """``setenergy`` in 0.1 Wh: 10 kWh is 100000."""
    sim = await start_simulator(scenario="charging")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await station.set_energy_limit(10)
    assert sent(sim)[1] == "setenergy 100000"
    assert station.snapshot.status is not None
    assert station.snapshot.status.energy_limit_kwh == 10.0


@pytest.mark.parametrize("value", [1, 0, 150])
async def test_set_output(
    engine: Engine,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    value: int,
) -> None:
    """``output``: relay open/closed, or pulses per kWh (an EEPROM write, so sent once)."""
    sim = await start_simulator()
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await station.set_output(value)
    assert sent(sim)[1:] == [f"output {value}", "report 2"]
    assert station.snapshot.status is not None
    assert station.snapshot.status.output == value
    assert sim.stations[0].eeprom["output"] == (1 if value >= 10 else 0)


async def test_start_and_stop_session(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """``start`` authorizes like a card (report 100 names the tag), ``stop`` ends it (reason 10)."""
    sim = await start_simulator(scenario="plugged", variant="p30-c")
    no_timing_violations.append(sim)
    sim.stations[0].add_rfid_whitelist(TAG, "01020304050607080910")
    station = await engine.station(sim)
    await station.start_session(TAG.upper(), "01020304050607080910")
    session = await station.get_session(100)
    assert session.is_active
    assert session.rfid_tag_used == TAG_PADDED
    assert session.rfid_class == "01020304050607080910"
    await station.stop_session(TAG)
    ended = await station.get_session(101)
    assert ended.session_id == session.session_id
    assert ended.end_reason_raw == 10
    assert sent(sim)[1:] == [
        "start f2875063 01020304050607080910",
        "report 100",
        "stop f2875063",
        "report 101",
    ]


@pytest.mark.parametrize(
    ("args", "datagram", "shown"),
    [
        (("Hello World",), "display 0 0 0 0 Hello$World", "Hello World"),
        (("Solar 7.4 kW", 3, 12), "display 1 3 12 0 Solar$7.4$kW", "Solar 7.4 kW"),
        (("x", None, 30), "display 1 2 30 0 x", "x"),
    ],
)
async def test_display(
    engine: Engine,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    args: tuple[Any, ...],
    datagram: str,
    shown: str,
) -> None:
    """``display``: spaces sent as ``$``, min/max times only when given."""
    sim = await start_simulator(variant="p30-c")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await station.display(*args)
    assert sent(sim)[1:] == [datagram]
    assert sim.stations[0].last_display_text == shown


async def test_unlock_socket(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """``unlock`` after charging stopped: the cable is no longer locked (plug 7 → 5)."""
    sim = await start_simulator(scenario="charging", variant="p30-c")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await station.set_enabled(False, verify=False)
    await station.unlock_socket()
    status = await station.get_status()
    assert status.plug_raw == 5
    assert status.cable_locked is False
    assert status.vehicle_plugged is True


async def test_set_datetime(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """``setdatetime <epoch>``: the station's clock becomes weakly synced (timeQ 2)."""
    sim = await start_simulator(scenario="charging")
    no_timing_violations.append(sim)
    station = await engine.station(sim, read_info=False)
    when = datetime(2018, 3, 30, 10, 19, 36, tzinfo=UTC)
    await station.set_datetime(when)
    info = await station.get_info()
    assert info.time_quality is TimeQuality.WEAK
    assert sent(sim) == ["setdatetime 1522405176", "report 1"]


@pytest.mark.parametrize("persist", [False, True])
async def test_set_failsafe(
    engine: Engine,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    persist: bool,
) -> None:
    """``failsafe <s> <mA> <save>``, verified with Tmo FS and Curr FS; saving writes EEPROM."""
    sim = await start_simulator(scenario="charging")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await station.set_failsafe(60, 6, persist=persist)
    assert sent(sim)[1:] == [f"failsafe 60 6000 {int(persist)}", "report 2"]
    status = station.snapshot.status
    assert status is not None
    assert (status.failsafe_timeout_s, status.failsafe_current) == (60, 6.0)
    assert status.failsafe_enabled is True
    assert status.failsafe_triggered is False
    assert sim.stations[0].eeprom["failsafe"] == int(persist)


async def test_failsafe_off(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """A timeout of 0 turns the failsafe off."""
    sim = await start_simulator()
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await station.set_failsafe(0)
    assert sent(sim)[1] == "failsafe 0 0 0"
    assert station.snapshot.status is not None
    assert station.snapshot.status.failsafe_enabled is False


async def test_failsafe_triggers(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """Without keep-alive the failsafe fires: a push tells, report 2 shows it (guide §3.3.3)."""
    sim = await start_simulator(scenario="charging", timer_scale=0.05)
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    events: list[StationEvent] = []
    station.add_listener(events.append)
    await station.set_failsafe(10, 8, verify=False)
    await wait_until(
        lambda: any(e.kind is EventKind.PUSH and e.fields.get("Enable sys") == 0 for e in events)
    )
    status = await station.get_status()
    assert status.max_current == status.failsafe_current == 8.0
    assert status.failsafe_triggered is True


async def test_refused_command(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """``TCH-ERR`` raises KebaCommandError (a P20 does not know currtime)."""
    sim = await start_simulator(variant="p20")
    no_timing_violations.append(sim)
    station = await engine.station(sim, read_info=False)  # capabilities unknown
    with pytest.raises(KebaCommandError, match="currtime 10000 1"):
        await station.set_current(10)


async def test_unverified_effect(
    engine: Engine,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A command the station confirms but report 2 does not show raises KebaVerificationError."""
    sim = await start_simulator()
    monkeypatch.setattr(sim.stations[0], "_cmd_output", lambda _args: "TCH-OK :done")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    with pytest.raises(KebaVerificationError, match="output 1"):
        await station.set_output(1)
    assert sent(sim) == ["report 1", "output 1", "report 2"]


async def test_command_on_closed_station(engine: Engine, start_simulator: SimulatorFactory) -> None:
    """A closed client refuses to send (KebaConnectionError), a new one works."""
    sim = await start_simulator()
    station = await engine.station(sim)
    await station.close()
    with pytest.raises(KebaConnectionError):
        await station.set_current(10)
    again = KebaStation(engine.endpoint, sim.stations[0].ip)
    engine.stations.append(again)
    assert (await again.connect(read_info=False)) is None
    await again.set_current(10, verify=False)
