"""Timing-rule checks (guide §2.1): unit tests and each rule provoked over the network."""

from __future__ import annotations

import asyncio

import pytest

from simulator import TimingChecker, command_identity
from simulator.station import _ClockOffset
from simulator.timing import is_disable_command

from .simtest_helpers import SimFactory, UdpClient


def test_command_identity() -> None:
    """A ``report N`` keeps its number; other commands are their first word, lower case."""
    assert command_identity("report 2") == "report 2"
    assert command_identity("REPORT  101") == "report 101"
    assert command_identity("currtime 6000 1") == command_identity("CurrTime 8000 1")
    assert command_identity("ena 0") == command_identity("ena 1") == "ena"
    assert command_identity("  ") == ""


def test_disable_commands() -> None:
    """Only ``ena 0`` and ``currtime 0 1`` start t_DIS_pause."""
    assert is_disable_command("ena 0")
    assert is_disable_command("CURRTIME 0 1")
    assert not is_disable_command("ena 1")
    assert not is_disable_command("currtime 0 0")
    assert not is_disable_command("currtime 6000 1")
    assert not is_disable_command("ena x")


def test_checker_rules_and_tolerance() -> None:
    """Each rule fires below its limit; 1 ms below the limit still passes."""
    checker = TimingChecker(origin=0.0, wall_origin=0.0)
    ip = "127.0.0.1"
    assert checker.observe(ip, "report 2", 0.0) == []
    assert checker.observe(ip, "report 3", 0.0995) == []  # 99.5 ms: within tolerance
    found = checker.observe(ip, "report 1", 0.15)
    assert [v.rule for v in found] == ["udp_pause"]
    assert found[0].previous == "report 3"
    found = checker.observe(ip, "report 2", 4.0)
    assert [v.rule for v in found] == ["com_pause"]
    assert found[0].gap == pytest.approx(4.0)
    assert checker.observe(ip, "currtime 6000 1", 9.0) == []
    found = checker.observe(ip, "currtime 8000 1", 10.0)
    assert [v.rule for v in found] == ["com_pause"]
    assert checker.observe(ip, "ena 0", 20.0) == []
    found = checker.observe(ip, "report 2", 21.0)
    assert [v.rule for v in found] == ["dis_pause"]
    assert found[0].previous == "ena 0"
    assert checker.observe(ip, "report 3", 22.5) == []  # 2.5 s after ena 0
    assert checker.observe(ip, "currtime 0 1", 30.0) == []
    assert [v.rule for v in checker.observe(ip, "i", 31.999)] == []  # 1.999 s: tolerated
    assert checker.observe("127.0.0.9", "i", 31.999) == []  # other client, own bookkeeping
    summary = checker.summary()[ip]
    assert summary["counts"] == {"udp_pause": 1, "com_pause": 2, "dis_pause": 1}
    assert summary["min_gaps"]["udp_pause"] == pytest.approx(0.0505)
    assert len(summary["violations"]) == 4
    first = summary["violations"][0]
    assert set(first) == {"rule", "time", "wall", "gap", "limit", "command", "previous"}


def test_several_rules_at_once() -> None:
    """One datagram can break several rules."""
    checker = TimingChecker(origin=0.0)
    checker.observe("127.0.0.1", "ena 0", 0.0)
    rules = {v.rule for v in checker.observe("127.0.0.1", "ena 1", 0.05)}
    assert rules == {"udp_pause", "com_pause", "dis_pause"}


@pytest.mark.asyncio
async def test_each_rule_over_the_network(make_sim: SimFactory, client: UdpClient) -> None:
    """A client that breaks each rule once shows up once per rule in the summary."""
    sim = await make_sim()
    st = sim.stations[0]
    await client.request(st, "report 2")
    await asyncio.sleep(0.15)
    await client.request(st, "report 2")  # com_pause (150 ms after the same report)
    await asyncio.sleep(0.15)
    client.send(st, "i")
    client.send(st, "report 1")  # udp_pause (back to back)
    await client.reply(st)
    await client.reply(st)
    await asyncio.sleep(0.15)
    await client.request(st, "ena 0")
    await asyncio.sleep(0.15)
    await client.request(st, "report 3")  # dis_pause (150 ms after ena 0)
    violations = sim.violations()
    assert [v["rule"] for v in violations] == ["com_pause", "udp_pause", "dis_pause"]
    assert all(v["client"] == "127.0.0.1" and v["station"] == st.ip for v in violations)
    assert violations[0]["command"] == "report 2"
    assert violations[0]["previous"] == "report 2"
    assert violations[2]["previous"] == "ena 0"
    assert 0.1 < violations[2]["gap"] < 0.5
    summary = sim.summary()
    timing = summary["stations"][0]["timing"]["127.0.0.1"]
    assert timing["counts"] == {"udp_pause": 1, "com_pause": 1, "dis_pause": 1}
    assert summary["totals"]["violations"] == {"udp_pause": 1, "com_pause": 1, "dis_pause": 1}


@pytest.mark.asyncio
async def test_timing_measured_before_loss(make_sim: SimFactory, client: UdpClient) -> None:
    """Datagrams lost by the simulated network still count for the client's timing."""
    sim = await make_sim(loss=1.0)
    st = sim.stations[0]
    client.send(st, "report 2")
    client.send(st, "report 2")
    await asyncio.sleep(0.05)
    rules = sorted(v["rule"] for v in sim.violations())
    assert rules == ["com_pause", "udp_pause"]
    assert st.summary()["dropped_in"] == 2


def test_arrival_clock_offset_ignores_a_pause_between_the_readings() -> None:
    """The offset from wall clock to loop clock is measured once and held.

    The loop's clock runs 1000 s ahead of the wall clock here. A pair of readings with a 7 ms
    pause between them (a garbage collection) must not move the offset: an arrival moved late
    would make the gap before the next datagram look short, a timing violation the client
    never committed. Held constant, it keeps every gap between two kernel stamps exact.
    """
    readings: list[tuple[float, float]] = []

    def read() -> tuple[float, float]:
        return readings.pop(0)

    # The measurement: a burst of pairs, one of them paused; the smallest offset counts.
    readings += [(50.0 + i / 1000, 1050.0 + i / 1000) for i in range(_ClockOffset.READINGS)]
    readings[3] = (50.003, 1050.010)
    offset = _ClockOffset(read)
    assert not readings
    # Later pairs, paused or not, leave it as it is.
    readings += [(60.000, 1060.007), (60.100, 1060.0999)]
    assert offset.offset() == pytest.approx(1000.0)
    assert offset.offset() == pytest.approx(1000.0)
    # The wall clock set back by 5 s: measured again.
    readings += [(55.2, 1060.2)] + [
        (55.3 + i / 1000, 1060.3 + i / 1000) for i in range(_ClockOffset.READINGS)
    ]
    assert offset.offset() == pytest.approx(1005.0)
    assert not readings
