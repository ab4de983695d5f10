"""Identification with proof of UDP control: a station with DIP switch DSW1.3 off.

A station with DSW1.3 off answers ``i`` and ``report 1`` and ignores everything else (reported
by openHAB users: openhab/openhab-addons#2038, a KC-P30-EC2201C2-E00-CW on firmware 3.08.7).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
import time

import pytest

from custom_components.keba.kecontact import (
    KebaConnectionError,
    KebaError,
    KebaTimeoutError,
    RetryPolicy,
    UdpControlDisabledError,
    probe_station,
)
from simulator import Simulator

from .conftest import Engine, EngineFactory

type SimulatorFactory = Callable[..., Awaitable[Simulator]]


async def test_probe_healthy_station(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """A healthy station answers at once: report 1 and the proof of control in well under 1 s."""
    sim = await start_simulator(extended_report1=True)
    no_timing_violations.append(sim)
    station = await engine.station(sim, read_info=False)
    started = time.monotonic()
    info = (await probe_station(station)).info
    assert time.monotonic() - started < 1.0
    assert info.serial == sim.stations[0].serial
    assert info.udp_control_enabled is True
    assert station.snapshot.status is not None


@pytest.mark.parametrize(("variant", "extended"), [("p30-c-udp-off", False), ("p30-x", True)])
async def test_probe_udp_control_off(
    engine: Engine,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    variant: str,
    extended: bool,
) -> None:
    """Report 1 answers, report 2 and 3 do not: UdpControlDisabledError, quickly."""
    sim = await start_simulator(variant=variant, extended_report1=extended, udp_disabled=True)
    no_timing_violations.append(sim)
    station = await engine.station(sim, read_info=False)
    started = time.monotonic()
    with pytest.raises(UdpControlDisabledError) as caught:
        await probe_station(station, evidence_within=2.0)
    elapsed = time.monotonic() - started
    assert elapsed < 3.0  # not the 25 s of a full retry policy
    error = caught.value
    assert isinstance(error, KebaConnectionError)
    assert isinstance(error, KebaError)
    assert "DSW1.3" in str(error)
    assert error.dip_switch_says_off is True  # DIP-Sw1 with the DSW1.3 bit clear
    assert error.info.serial == sim.stations[0].serial
    sent = [text for _, _, text in sim.stations[0].received]
    assert sent[0] == "report 1"
    assert set(sent[1:]) == {"report 2", "report 3"}  # one attempt each within 2 s


async def test_probe_udp_off_without_dip_fields(
    engine: Engine, start_simulator: SimulatorFactory
) -> None:
    """Firmware without DIP fields (3.08.7): the error says nothing about the switch byte."""
    sim = await start_simulator(variant="p30-c", udp_disabled=True)
    station = await engine.station(sim, read_info=False)
    with pytest.raises(UdpControlDisabledError) as caught:
        await probe_station(station, evidence_within=0.8)
    assert caught.value.dip_switch_says_off is None


async def test_probe_no_station(
    make_engine: EngineFactory, start_simulator: SimulatorFactory
) -> None:
    """Nothing answers report 1: a timeout within ``info_timeout``, not the DSW1.3 error."""
    engine = await make_engine(RetryPolicy(attempt_timeout=0.3, max_attempts=6))
    sim = await start_simulator()
    sim.stations[0].set_silent(True)
    station = await engine.station(sim, read_info=False)
    started = time.monotonic()
    with pytest.raises(KebaTimeoutError) as caught:
        await probe_station(station, answer_within=1.0)
    assert not isinstance(caught.value, UdpControlDisabledError)
    assert time.monotonic() - started < 1.5
