"""The plausibility layer: forged and absurd datagrams from a station's own address.

The datagrams are those of the robustness issue (a real Home Assistant against forged input):
``{"ID":"3","P":-603749136,"E pres":1e308,"I1":9.9e12,"PF":123456}``, ``{"E pres":1e308}``,
``{"ID":"2","State":"xxx","Plug":null}``, ``"Max curr":999000``, ``"Curr HW":-5``, a false
"unplugged", uptime going backwards. A scripted station on the loopback answers each request
with the next datagram of its script; the engine runs on a clock 20 times faster than real time
so that KEBA's 5 s between repeats of a report take a quarter second.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass, field
import json
import logging
from typing import Any

import pytest

from custom_components.keba.kecontact import (
    EndpointPool,
    EventKind,
    KebaEndpoint,
    KebaImplausibleError,
    KebaStation,
    RetryPolicy,
    StationEvent,
)
from custom_components.keba.kecontact.plausibility import check_fields
from simulator import Simulator
from simulator.station import ABSURD_DATAGRAMS
from tests.common import LoopbackNet

from . import datagrams as d
from .conftest import Engine, Sent, rule_breaches, wait_until

type SimulatorFactory = Callable[..., Awaitable[Simulator]]

SPEED = 20.0

#: Charging, plug 7 (the guide's example, its uptime aligned with report 3's).
GOOD_2 = {**json.loads(d.REPORT_2_CURRTIME_PENDING), "Sec": 6092}
GOOD_3 = json.loads(d.REPORT_3_STARTED)  # Sec 6092, E pres 0, E total 0


def report_3(**changes: Any) -> dict[str, Any]:
    """A charging report 3 with a meter that has counted something."""
    fields = {**GOOD_3, "E pres": 52_000, "E total": 12_345_678, "P": 353}
    fields.update(changes)
    return fields


class FastClock:
    """The loop's clock, :data:`SPEED` times faster."""

    def time(self) -> float:
        """Scaled loop time."""
        return asyncio.get_running_loop().time() * SPEED

    def sleep(self, seconds: float) -> Awaitable[None]:
        """Sleep a scaled time."""
        return asyncio.sleep(max(0.0, seconds) / SPEED)


@pytest.fixture
def sent_log(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Sent]]:
    """KEBA's timing rules, checked on the engine's (fast) clock.

    This module's station is a script, not a station, so only the engine's schedule matters.
    """
    log: list[Sent] = []
    send = KebaEndpoint._send

    def spy(self: KebaEndpoint, data: bytes, addr: tuple[str, int]) -> None:
        send(self, data, addr)
        log.append(Sent(self.clock.time(), addr[0], data.decode("ascii")))

    monkeypatch.setattr(KebaEndpoint, "_send", spy)
    yield log
    assert rule_breaches(log) == []


@dataclass
class ScriptedStation(asyncio.DatagramProtocol):
    """Answers ``report N`` with the next scripted datagram for N (or the last one again)."""

    client: tuple[str, int]
    scripts: dict[str, list[Any]] = field(default_factory=dict)
    received: list[str] = field(default_factory=list)
    transport: asyncio.DatagramTransport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        """Keep the socket."""
        assert isinstance(transport, asyncio.DatagramTransport)
        self.transport = transport

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        """Answer from the script."""
        text = data.decode()
        self.received.append(text)
        script = self.scripts.get(text)
        if script:
            answer = script.pop(0) if len(script) > 1 else script[0]
            self.send(answer)

    def send(self, answer: Any) -> None:
        """Send a datagram (a dict as JSON, or raw text) to the client."""
        assert self.transport is not None
        payload = answer if isinstance(answer, str) else json.dumps(answer)
        self.transport.sendto(payload.encode(), self.client)

    def script(self, command: str, *answers: Any) -> None:
        """Answer ``command`` with ``answers`` in turn."""
        self.scripts[command] = list(answers)


@dataclass
class Rig:
    """The engine's station client and its scripted station."""

    station: KebaStation
    fake: ScriptedStation
    events: list[StationEvent]

    async def push(self, fields: dict[str, Any] | str) -> None:
        """A push from the station's address; returns once it has arrived."""
        count = self.station.link.received
        self.fake.send(fields)
        for _ in range(300):
            if self.station.link.received > count:
                return
            await asyncio.sleep(0.01)
        raise AssertionError("push did not arrive")


type RigFactory = Callable[[], Awaitable[Rig]]


@pytest.fixture
async def rig(socket_enabled: None, loopback: LoopbackNet) -> AsyncIterator[Rig]:
    """A station client at a scripted station that has reported charging once."""
    loop = asyncio.get_running_loop()
    fake = ScriptedStation(client=(loopback.client_ip, 7090))
    transport, _ = await loop.create_datagram_endpoint(
        lambda: fake, local_addr=(loopback.station_ip(0), 7090)
    )
    pool = EndpointPool(clock=FastClock(), policy=RetryPolicy(attempt_timeout=2.0, max_attempts=3))
    endpoint = await pool.acquire(loopback.client_ip, 7090)
    station = KebaStation(endpoint, loopback.station_ip(0))
    await station.connect(read_info=False)
    fake.script("report 2", GOOD_2)
    fake.script("report 3", report_3())
    await station.refresh()
    events: list[StationEvent] = []
    station.add_listener(events.append)
    try:
        yield Rig(station, fake, events)
    finally:
        await station.close()
        await pool.release(endpoint)
        transport.close()


# ----------------------------------------------------------------------- single fields
@pytest.mark.parametrize(
    ("source", "fields", "reason"),
    [
        # The issue's report 3 flood datagram: P is the first field judged.
        (3, {"ID": "3", "P": -603749136, "E pres": 1e308, "I1": 9.9e12, "PF": 123456}, "P"),
        (3, {"ID": "3", "E pres": 1e308}, "E pres"),
        (3, {"ID": "3", "I1": 9.9e12}, "I1"),
        (3, {"ID": "3", "PF": 123456}, "PF"),
        (3, {"ID": "3", "U1": 400}, "U1"),
        (3, {"ID": "3", "E total": -1}, "E total"),
        (2, {"ID": "2", "State": "xxx", "Plug": None}, "State"),
        (2, {"ID": "2", "Plug": None}, "Plug"),
        (2, {"ID": "2", "Plug": 4}, "Plug"),
        (2, {"ID": "2", "Max curr": 999000}, "Max curr"),
        (2, {"ID": "2", "Curr HW": -5}, "Curr HW"),
        (2, {"ID": "2", "Curr HW": 3000}, "Curr HW"),
        (2, {"ID": "2", "Max curr %": 1001}, "Max curr %"),
        (2, {"ID": "2", "Enable sys": True}, "Enable sys"),
        (2, {"ID": "2", "Curr user": float("nan")}, "Curr user"),
        (2, {"ID": "2", "Sec": float("inf")}, "Sec"),
        (100, {"ID": "100", "reason": 7}, "reason"),
        (1, {"ID": "1", "Serial": None}, "Serial"),
        ("push", {"Max curr": 999000}, "Max curr"),
        ("push", {"E pres": 1e308}, "E pres"),
        ("push", {"State": 9}, "State"),
    ],
)
def test_field_checks(source: int | str, fields: dict[str, Any], reason: str) -> None:
    """Each absurd value is named with its field."""
    found = check_fields(source, fields)
    assert found is not None
    assert found.startswith(f"{reason}:")


@pytest.mark.parametrize(
    ("source", "text"),
    [
        (1, d.REPORT_1),
        (1, d.REPORT_1_EXTENDED),
        (2, d.REPORT_2_CURRTIME_PENDING),
        (2, d.REPORT_2_DISABLED),
        (3, d.REPORT_3_IDLE),
        (3, d.REPORT_3_CHARGING),
        (3, d.REPORT_3_STARTED),
        (100, d.REPORT_100),
        (101, d.REPORT_101),
        (100, d.REPORT_100_DATED),
        ("push", d.PUSH_MAX_CURR),
        ("push", d.PUSH_E_PRES),
        # P20 report 3 (one line, spaces inside braces): voltages 0 while current flows.
        (
            3,
            (
                '{ "ID": "3", "U1": 0, "U2": 0, "U3": 0, "I1": 15980, "I2": 0, "I3": 0, '
                '"P": 3680000, "PF": 0, "E pres": 41230, "E total": 8765432 }'
            ),
        ),
        # A 22 kW charge.
        (
            3,
            {
                "ID": "3",
                "U1": 231,
                "U2": 229,
                "U3": 230,
                "I1": 31900,
                "I2": 31800,
                "I3": 31950,
                "P": 21950000,
                "PF": 998,
                "E pres": 120000,
                "E total": 999999999,
            },
        ),
    ],
)
def test_real_datagrams_pass(source: int | str, text: str | dict[str, Any]) -> None:
    """The guide's examples and real stations' formats are all plausible."""
    fields = json.loads(text) if isinstance(text, str) else text
    assert check_fields(source, fields) is None


def test_power_against_voltage_and_current() -> None:
    """P far beyond ΣU·I is refused; stations without voltages are not judged on it."""
    base = {"ID": "3", "U1": 230, "U2": 230, "U3": 230, "I1": 10000, "I2": 0, "I3": 0}
    assert check_fields(3, {**base, "P": 2_300_000}) is None
    assert check_fields(3, {**base, "P": 30_000_000}) == "P: inconsistent with U·I"
    no_voltage = {**base, "U1": 0, "U2": 0, "U3": 0, "P": 30_000_000}
    assert check_fields(3, no_voltage) is None
    assert check_fields(3, {"ID": "3", "P": 30_000_000}) is None
    assert check_fields(3, {"ID": "3", "E pres": 10, "E total": 5}) == "E pres: exceeds E total"


# ------------------------------------------------------------------- through the engine
async def test_forged_reports_and_pushes_change_nothing(
    rig: Rig, caplog: pytest.LogCaptureFixture
) -> None:
    """The issue's forged datagrams are dropped whole, counted per reason, logged once."""
    station, fake = rig.station, rig.fake
    before = station.snapshot
    assert before.status is not None
    assert before.meter is not None
    caplog.set_level(logging.WARNING)

    fake.script("report 3", {"ID": "3", "P": -603749136, "E pres": 1e308, "I1": 9.9e12})
    with pytest.raises(KebaImplausibleError):
        await station.get_meter()
    fake.script("report 2", {"ID": "2", "State": "xxx", "Plug": None})
    with pytest.raises(KebaImplausibleError):
        await station.get_status()
    for push in ({"E pres": 1e308}, {"Max curr": 999000}, {"E pres": 1e308}, '{"Plug": null}'):
        await rig.push(push)

    assert station.snapshot == before
    assert rig.events == []
    stats = station.rejected
    assert stats.total == 6
    assert stats.by_reason == {
        "P: out of range": 1,
        "State: wrong type": 1,
        "E pres: out of range": 2,
        "Max curr: out of range": 1,
        "Plug: wrong type": 1,
    }
    assert stats.last is not None
    assert stats.last.source == "push"
    assert stats.last.fields == {"Plug": None}
    assert stats.as_dict()["last"]["reason"] == "Plug: wrong type"
    logged = [r for r in caplog.records if "dropped an implausible" in r.getMessage()]
    assert len(logged) == 5  # once per reason, not per datagram


async def test_unsolicited_report_is_ignored(rig: Rig) -> None:
    """A plausible report 2 nobody asked for (a forged "unplugged") changes nothing."""
    before = rig.station.snapshot
    await rig.push({**GOOD_2, "State": 1, "Plug": 0, "Sec": 6093})
    assert rig.station.snapshot == before
    assert rig.station.unsolicited == 1


async def test_counters_need_two_polls(rig: Rig) -> None:
    """E total and uptime going backwards are believed only when the next poll agrees."""
    station, fake = rig.station, rig.fake
    meter = station.snapshot.meter
    assert meter is not None
    assert meter.total_energy_kwh == pytest.approx(1234.5678)

    # One report with a lower total (a meter reset?) is held back...
    fake.script(
        "report 3",
        report_3(**{"E total": 100, "E pres": 50, "Sec": 6100}),
        report_3(**{"E total": 12_345_900, "Sec": 6105}),
    )
    with pytest.raises(KebaImplausibleError, match="E total: discontinuity"):
        await station.get_meter()
    assert station.snapshot.meter == meter
    # ...and the next one does not continue from it: the old count was right.
    assert (await station.get_meter()).total_energy_kwh == pytest.approx(1234.59)

    # A real reset: two polls in a row agree.
    fake.script(
        "report 3",
        report_3(**{"E total": 100, "E pres": 50, "Sec": 6110}),
        report_3(**{"E total": 120, "E pres": 70, "Sec": 6115}),
    )
    with pytest.raises(KebaImplausibleError):
        await station.get_meter()
    confirmed = await station.get_meter()
    assert confirmed.total_energy_kwh == pytest.approx(0.012)
    assert station.counters["E total"] == 120


async def test_false_restart_is_not_believed(rig: Rig) -> None:
    """Uptime backwards in one report: no REBOOT; in two consecutive polls: one REBOOT."""
    station, fake = rig.station, rig.fake
    fake.script("report 2", {**GOOD_2, "Sec": 12}, {**GOOD_2, "Sec": 6110})
    with pytest.raises(KebaImplausibleError, match="Sec: discontinuity"):
        await station.get_status()
    await station.get_status()
    assert station.reboots == 0
    assert not [e for e in rig.events if e.kind is EventKind.REBOOT]

    fake.script("report 2", {**GOOD_2, "Sec": 20})
    fake.script("report 3", report_3(**{"Sec": 21, "E pres": 0}))
    with pytest.raises(KebaImplausibleError):
        await station.get_status()  # held
    with pytest.raises(KebaImplausibleError):
        await station.get_meter()  # Sec confirmed, but E pres 0 is held as well
    fake.script("report 2", {**GOOD_2, "Sec": 30})
    status = await station.get_status()  # continues from 21: the restart is believed
    assert status.uptime_s == 30
    assert station.reboots == 1
    assert [e.kind for e in rig.events].count(EventKind.REBOOT) == 1


async def test_session_energy_push_never_goes_backwards(rig: Rig) -> None:
    """``E pres`` pushes move forward only as fast as 50 kW allow; a drop waits for polls."""
    station = rig.station
    await rig.push({"E pres": 52_100})
    assert station.snapshot.meter is not None
    assert station.snapshot.meter.session_energy_kwh == pytest.approx(5.21)
    for forged in (0, 10, 999_999_999, 52_099):
        await rig.push({"E pres": forged})
    assert station.snapshot.meter.session_energy_kwh == pytest.approx(5.21)
    assert station.rejected.by_reason == {
        "E pres: went backwards or jumped (push)": 3,
        "E pres: out of range": 1,
    }


async def test_unplug_push_waits_for_report_2(rig: Rig) -> None:
    """A false "unplugged" push: PROVISIONAL, report 2 asked, the report decides (stays 7)."""
    station, fake = rig.station, rig.fake
    fake.script("report 2", {**GOOD_2, "Sec": 6100})
    asked = fake.received.count("report 2")
    await rig.push({"Plug": 0})
    assert rig.events[0].kind is EventKind.PROVISIONAL
    assert rig.events[0].fields == {"Plug": 0}
    assert station.provisional == {"Plug": 0}
    assert station.snapshot.status is not None
    assert station.snapshot.status.plug_raw == 7
    for _ in range(300):
        if any(e.kind is EventKind.STATUS for e in rig.events):
            break
        await asyncio.sleep(0.01)
    assert fake.received.count("report 2") == asked + 1
    assert station.snapshot.status.plug_raw == 7
    assert station.snapshot.status.vehicle_plugged is True
    assert station.provisional == {}
    assert not [e for e in rig.events if e.kind is EventKind.PUSH]


async def test_pushes_that_keep_the_pace_apply_at_once(rig: Rig) -> None:
    """State 2 while plugged, Max curr, Enable sys: applied at once, no report asked."""
    station, fake = rig.station, rig.fake
    asked = fake.received.count("report 2")
    for push in ({"State": 2}, {"Max curr": 16000}, {"Enable sys": 0}, {"Plug": 5}):
        await rig.push(push)
    assert [e.kind for e in rig.events] == [EventKind.PUSH] * 4
    status = station.snapshot.status
    assert status is not None
    assert (status.state_raw, status.max_current, status.enable_sys, status.plug_raw) == (
        2,
        16.0,
        False,
        5,
    )
    assert fake.received.count("report 2") == asked


async def test_simulator_absurd_values(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """Against the simulator's fault mode: every absurd answer and push is dropped."""
    sim = await start_simulator(scenario="charging", absurd=1.0)
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    with pytest.raises(KebaImplausibleError):
        await station.refresh()
    assert station.snapshot.status is None
    assert station.snapshot.meter is None
    simulated = sim.stations[0]
    simulated.options.absurd = 0.0
    await asyncio.sleep(5.2)  # KEBA's pause before report 2 and 3 may be asked again
    snapshot = await station.refresh()
    assert snapshot.status is not None
    assert snapshot.meter is not None
    before = station.snapshot
    rejected = station.rejected.total
    assert simulated.inject_absurd() == len(ABSURD_DATAGRAMS)
    await wait_until(lambda: station.link.received >= 2 + len(ABSURD_DATAGRAMS) + 2)
    await asyncio.sleep(0.2)
    after = station.snapshot
    assert after.status == before.status
    assert after.meter is not None
    assert before.meter is not None
    assert after.meter.total_energy_kwh == before.meter.total_energy_kwh
    assert after.meter.power_w == before.meter.power_w
    # Real E pres pushes keep coming while charging; the forged ones never land.
    assert after.meter.session_energy_kwh is not None
    assert before.meter.session_energy_kwh is not None
    assert 0 <= after.meter.session_energy_kwh - before.meter.session_energy_kwh < 1
    pushes = [f for f in ABSURD_DATAGRAMS if "ID" not in f]
    assert station.rejected.total - rejected >= len(pushes)
    assert station.unsolicited >= len(ABSURD_DATAGRAMS) - len(pushes)


async def test_refresh_keeps_believed_values(rig: Rig) -> None:
    """A poll whose report 3 is held (a new session's E pres 0) succeeds with what is believed."""
    station, fake = rig.station, rig.fake
    meter = station.snapshot.meter
    fake.script("report 2", {**GOOD_2, "Sec": 6100, "State": 2})
    fake.script("report 3", report_3(**{"E pres": 0, "Sec": 6100}))
    snapshot = await station.refresh()
    assert snapshot.status is not None
    assert snapshot.status.state_raw == 2  # report 2 was fine and is applied
    assert snapshot.meter == meter  # report 3 is held until the next poll agrees
    fake.script("report 3", report_3(**{"E pres": 10, "Sec": 6105}))
    snapshot = await station.refresh()
    assert snapshot.meter is not None
    assert snapshot.meter.session_energy_kwh == pytest.approx(0.001)
