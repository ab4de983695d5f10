"""1/3-phase switching through X2 against the simulated S10-equipped station."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from custom_components.keba.kecontact import KebaCommandError, KebaValidationError
from custom_components.keba.kecontact.models import ChargingStatus, StationInfo
from custom_components.keba.kecontact.phases import (
    PhaseSwitcher,
    PhaseSwitchOutcome,
    PhaseSwitchSettings,
    PhaseSwitchState,
    PhaseSwitchSupport,
    firmware_version,
    phase_switch_support,
    send_phase_source_udp,
    send_x2,
)
from simulator import Simulator

from .conftest import Engine

type SimulatorFactory = Callable[..., Awaitable[Simulator]]

FAST = PhaseSwitchSettings(dwell_s=0, settle_s=0.2, current_gone_timeout_s=10, follow_timeout_s=15)


def sent(sim: Simulator) -> list[str]:
    """The datagrams the simulated station received, in order."""
    return [text for _, _, text in sim.stations[0].received]


async def s10(start: SimulatorFactory, **options: Any) -> Simulator:
    """A charging c-series station with a phase switch on X2, UDP the source."""
    options.setdefault("variant", "p30-c-s10")
    options.setdefault("scenario", "charging")
    options.setdefault("x2src", 4)
    options.setdefault("phase_switch_delay", 0.2)
    options.setdefault("current_change_delay", 0.2)
    return await start(**options)


def test_firmware_version_and_support() -> None:
    """Report 2 fields decide; a c-series firmware before 3.10.42 does not switch."""
    assert firmware_version("P30 v 3.10.42 (220906-091518)") == (3, 10, 42)
    assert firmware_version("P20 v 2.5a3 (160613-073000)") is None
    with_fields = ChargingStatus.from_report(
        {"ID": "2", "X2 phaseSwitch source": 4, "X2 phaseSwitch": 1}
    )
    without = ChargingStatus.from_report({"ID": "2", "State": 3})

    def info(firmware: str, com: int = 0) -> StationInfo:
        return StationInfo.from_report(
            {"Product": "KC-P30-ES240022-E0R", "Firmware": firmware, "COM-module": com}
        )

    new, old = info("P30 v 3.10.42 (1)"), info("P30 v 3.10.27 (1)")
    assert phase_switch_support(new, with_fields) is PhaseSwitchSupport.SUPPORTED
    assert phase_switch_support(new, without) is PhaseSwitchSupport.NO_FIELDS
    assert phase_switch_support(old, with_fields) is PhaseSwitchSupport.FIRMWARE_TOO_OLD
    # x-series: report 1 shows the controller firmware, not software 1.17; the fields decide.
    assert phase_switch_support(info("P30 v 3.10.27 (1)", 1), with_fields) is (
        PhaseSwitchSupport.SUPPORTED
    )
    assert phase_switch_support(new, None) is PhaseSwitchSupport.UNKNOWN


async def test_x2src_sent_once_and_never_when_already_udp(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """``x2src 4`` only when report 2 shows another source; a second call sends nothing."""
    sim = await s10(start_simulator, x2src=0, scenario="idle")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    assert await send_phase_source_udp(station) is True
    assert await send_phase_source_udp(station) is False
    assert [t for t in sent(sim) if t.startswith("x2src")] == ["x2src 4"]
    assert sim.stations[0].eeprom["x2src"] == 1
    assert sim.stations[0].report(2)["X2 phaseSwitch source"] == 4

    already = await s10(start_simulator, x2src=4, scenario="idle")
    no_timing_violations.append(already)
    other = await engine.station(already)
    assert await send_phase_source_udp(other) is False
    assert not [t for t in sent(already) if t.startswith("x2src")]
    assert already.stations[0].eeprom_writes == 0


async def test_x2_command_verified(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """``x2 0``/``x2 1`` are verified with report 2; bad values are refused locally."""
    sim = await s10(start_simulator, scenario="idle", x2=1)
    # A vehicle-less station switches at once; one phase (x2 0) is verified with report 2.
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await send_x2(station, 1)
    assert sim.stations[0].report(2)["X2 phaseSwitch"] == 0
    with pytest.raises(KebaValidationError):
        await send_x2(station, 2)
    with pytest.raises(KebaValidationError):
        await send_x2(station, True)  # type: ignore[arg-type]
    assert [t for t in sent(sim) if t.startswith("x2")] == ["x2 0"]


async def test_switch_sequence_never_under_load(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """Pause, no current, x2, confirm, settle, resume: the vehicle draws on one phase after."""
    sim = await s10(start_simulator)
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    assert (await station.get_meter()).phases_in_use == 3
    switcher = PhaseSwitcher(station, FAST)
    result = await switcher.switch(1, 10)
    assert result.outcome is PhaseSwitchOutcome.SWITCHED
    texts = sent(sim)
    assert texts.index("currtime 0 1") < texts.index("x2 0") < texts.index("currtime 10000 1")
    st = sim.stations[0]
    assert st.phase_switches_under_load == []
    assert (st.switch_phases, st.phase_switches) == (1, 1)
    assert (await station.get_meter()).phases_in_use == 1
    assert switcher.state is PhaseSwitchState.IDLE
    assert switcher.switches_this_session == 1
    # Back to three phases: again without load.
    assert (await switcher.switch(3, 8)).outcome is PhaseSwitchOutcome.SWITCHED
    assert st.phase_switches_under_load == []
    assert st.switch_phases == 3
    assert "curr" not in {t.split()[0] for t in sent(sim)}


async def test_dwell_and_cap(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """Within the dwell time and beyond the cap nothing but report 2 is sent."""
    sim = await s10(start_simulator)
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    dwell = PhaseSwitcher(
        station, PhaseSwitchSettings(dwell_s=3600, settle_s=0.2, follow_timeout_s=15)
    )
    assert dwell.next_switch_in() == 0.0
    assert (await dwell.switch(1, 10)).outcome is PhaseSwitchOutcome.SWITCHED
    before = len(sent(sim))
    assert (await dwell.switch(3, 10)).outcome is PhaseSwitchOutcome.DWELL
    assert sent(sim)[before:] == ["report 2"]
    assert dwell.dwell_remaining() > 3000
    # The solar controller learns how long until the next switch is allowed.
    assert dwell.next_switch_in() == pytest.approx(dwell.dwell_remaining(), abs=1.0)

    capped = PhaseSwitcher(
        station,
        PhaseSwitchSettings(
            dwell_s=0, max_switches_per_session=1, settle_s=0.2, follow_timeout_s=15
        ),
    )
    assert (await capped.switch(3, 10)).outcome is PhaseSwitchOutcome.SWITCHED
    assert (await capped.switch(1, 10)).outcome is PhaseSwitchOutcome.CAP
    assert capped.next_switch_in() is None  # none left this session
    capped.new_session()
    assert capped.next_switch_in() == 0.0
    assert (await capped.switch(3, 10)).outcome is PhaseSwitchOutcome.ALREADY
    assert sim.stations[0].phase_switches == 2


async def test_ignored_switch_gives_up_for_the_session(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """The phase switch does not move: the switcher stops trying and says why."""
    sim = await s10(start_simulator, phase_switch_fault="ignore")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    switcher = PhaseSwitcher(station, FAST)
    result = await switcher.switch(1, 10)
    assert result.outcome is PhaseSwitchOutcome.GAVE_UP
    assert switcher.state is PhaseSwitchState.GAVE_UP
    assert "3 phase(s), 1 selected" in (switcher.gave_up_reason or "")
    assert switcher.next_switch_in() is None
    before = len(sent(sim))
    again = await switcher.switch(3, 10)
    assert again.outcome is PhaseSwitchOutcome.GAVE_UP
    assert sent(sim)[before:] == ["report 2"]
    assert sim.stations[0].report(3)["I1"] > 0  # charging resumed all the same
    switcher.new_session()
    assert switcher.state is PhaseSwitchState.IDLE


async def test_refused_switch_resumes_and_gives_up(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """Report 2 keeps the old X2 state: charging resumes at the old phases, no more tries."""
    sim = await s10(start_simulator, phase_switch_fault="refuse")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    switcher = PhaseSwitcher(station, FAST)
    result = await switcher.switch(1, 10)
    assert result.outcome is PhaseSwitchOutcome.GAVE_UP
    assert "did not take" in (switcher.gave_up_reason or "")
    assert sent(sim)[-2:] == ["currtime 10000 1", "report 2"]
    assert switcher.switches_this_session == 0


async def test_refusals_without_switching(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """Old firmware (TCH-ERR), another source, pending authorization: nothing is switched."""
    old = await start_simulator(variant="p30-c", scenario="charging")
    no_timing_violations.append(old)
    station = await engine.station(old)
    switcher = PhaseSwitcher(station, FAST)
    assert (await switcher.switch(1, 10)).outcome is PhaseSwitchOutcome.UNSUPPORTED
    assert switcher.support is PhaseSwitchSupport.NO_FIELDS
    with pytest.raises(KebaCommandError):
        await send_x2(station, 1, verify=False)

    modbus = await s10(start_simulator, x2src=3)
    no_timing_violations.append(modbus)
    other = PhaseSwitcher(await engine.station(modbus, 0), FAST)
    assert (await other.switch(1, 10)).outcome is PhaseSwitchOutcome.SOURCE_NOT_UDP

    auth = await s10(start_simulator, scenario="plugged")
    no_timing_violations.append(auth)
    auth.stations[0].set_auth(True)
    pending = PhaseSwitcher(await engine.station(auth, 0), FAST)
    assert (await pending.switch(1, 10)).outcome is PhaseSwitchOutcome.AUTHORIZATION
    assert not [t for t in sent(old) if t.startswith("currtime")]
    for sim in (modbus, auth):
        assert not [t for t in sent(sim) if t.startswith(("x2", "currtime"))]
