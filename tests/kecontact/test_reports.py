"""Every report against the simulated station over real loopback UDP, and pushes."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from custom_components.keba.kecontact import (
    ChargingState,
    EventKind,
    KebaValidationError,
    Series,
    StationEvent,
    TimeQuality,
    resolve_host,
)
from simulator import Simulator
from tests.common import LoopbackNet

from .conftest import Engine, wait_until

type SimulatorFactory = Callable[..., Awaitable[Simulator]]


@pytest.mark.parametrize("style", ["object", "fragment"])
async def test_firmware(
    engine: Engine,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    style: str,
) -> None:
    """``i`` answers with the firmware, as an object or as a bare fragment."""
    sim = await start_simulator(firmware_style=style)
    no_timing_violations.append(sim)
    station = await engine.station(sim, read_info=False)
    firmware = await station.get_firmware()
    assert firmware.firmware == sim.stations[0].variant.firmware


@pytest.mark.parametrize(
    ("variant", "extended", "series"),
    [("p30-c", False, Series.C), ("p30-x", True, Series.X), ("p20", False, Series.C)],
)
async def test_info(
    engine: Engine,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    variant: str,
    extended: bool,
    series: Series,
) -> None:
    """Report 1 gives the identity and, from the product code, the capabilities."""
    sim = await start_simulator(variant=variant, extended_report1=extended)
    no_timing_violations.append(sim)
    station = await engine.station(sim, read_info=False)
    info = await station.get_info()
    simulated = sim.stations[0]
    assert info.serial == simulated.serial == station.serial
    assert info.product == simulated.product
    assert info.firmware == simulated.variant.firmware
    assert station.snapshot.info is info
    assert station.capabilities is not None
    assert station.capabilities.series is series
    if extended:
        assert info.dip_switch_1 == 0x25
        assert info.udp_control_enabled is True
        assert info.time_quality is TimeQuality.STRONG
        assert info.extra == {}
    else:
        assert info.dip_switch_1 is None


async def test_status_meter_refresh(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """Report 2 and 3 of a charging station: 3 phases at 16 A, 230 V, PF 0.99."""
    sim = await start_simulator(scenario="charging", variant="p30-x")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    snapshot = await station.refresh()
    assert snapshot is station.snapshot
    status, meter = snapshot.status, snapshot.meter
    assert status is not None
    assert meter is not None
    assert status.state is ChargingState.CHARGING
    assert status.vehicle_plugged is True
    assert status.charging is True
    assert status.hardware_current_limit == 32.0
    assert status.max_current == 32.0
    assert status.serial == sim.stations[0].serial
    assert meter.currents == (16.0, 16.0, 16.0)
    assert meter.phases_in_use == 3
    assert (meter.voltage_1, meter.voltage_2, meter.voltage_3) == (230, 230, 230)
    assert meter.power_factor == pytest.approx(0.99)
    assert meter.power_w == pytest.approx(3 * 230 * 16 * 0.99)
    assert meter.total_energy_kwh is not None
    assert [t for _, _, t in sim.stations[0].received] == ["report 1", "report 2", "report 3"]


async def test_status_and_meter_separately(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """get_status and get_meter read one report each."""
    sim = await start_simulator(scenario="plugged")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    status = await station.get_status()
    assert status.state is ChargingState.READY
    meter = await station.get_meter()
    assert meter.power_w == 0
    assert station.snapshot.status is status
    assert station.snapshot.meter is meter


async def test_sessions_and_history(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """Report 100 is the running session; 101–130 the history, newest first, empty slots out.

    Reading sessions never changes the live values of report 2 and 3 (a plugged vehicle that
    draws nothing: no energy pushes change them meanwhile).
    """
    sim = await start_simulator(scenario="plugged")
    no_timing_violations.append(sim)
    simulated = sim.stations[0]
    for _ in range(2):
        simulated.unplug()
        simulated.plug_in(drawing=False)
    station = await engine.station(sim)
    live = await station.refresh()
    latest = await station.get_session(100)
    assert latest.is_active
    assert station.snapshot.session == latest
    assert station.snapshot.status is live.status
    assert station.snapshot.meter is live.meter
    history = await station.get_history()
    expected = [entry["Session ID"] for entry in simulated.history]
    assert len(expected) == 2
    assert [session.session_id for session in history] == expected
    assert [session.report_id for session in history] == [101, 102]
    assert all(session.end_reason_raw == 1 for session in history)
    assert history[0].session_id == (latest.session_id or 0) - 1
    # History reads leave the latest session and the live values alone.
    assert station.snapshot.session == latest
    assert station.snapshot.meter is live.meter
    asked = [t for _, _, t in simulated.received if t.startswith("report 1")]
    assert asked == ["report 1", "report 100", *(f"report {n}" for n in range(101, 131))]


async def test_history_count(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """get_history(n) reads only the first n slots."""
    sim = await start_simulator()
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    assert await station.get_history(3) == []
    asked = [t for _, _, t in sim.stations[0].received][1:]
    assert asked == ["report 101", "report 102", "report 103"]
    with pytest.raises(KebaValidationError):
        await station.get_session(99)
    with pytest.raises(KebaValidationError):
        await station.get_session(131)


async def test_pushes_reach_listeners(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """A change at the station arrives as a push, updates the snapshot and calls listeners."""
    sim = await start_simulator(scenario="plugged", variant="p30-c")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    await station.refresh()
    events: list[StationEvent] = []
    remove = station.add_listener(events.append)
    simulated = sim.stations[0]

    simulated.set_input(True)
    await wait_until(lambda: any(e.fields == {"Input": 1} for e in events))
    assert station.snapshot.status is not None
    assert station.snapshot.status.input_x1 is True
    assert all(e.kind is EventKind.PUSH for e in events)

    simulated.vehicle_starts_drawing()
    await wait_until(lambda: any(e.fields == {"State": 3} for e in events))
    assert station.snapshot.status.charging is True

    # Unplugging ends the session and slows polling: the push is held until report 2
    # (asked for by the station itself, within the timing rules) confirms it.
    simulated.unplug()
    await wait_until(lambda: any(e.fields == {"Plug": 0} for e in events))
    provisional = next(e for e in events if e.fields == {"Plug": 0})
    assert provisional.kind is EventKind.PROVISIONAL
    assert station.snapshot.status.vehicle_plugged is True
    assert station.provisional == {"Plug": 0}
    await wait_until(lambda: any(e.kind is EventKind.STATUS for e in events), within=7.0)
    assert station.snapshot.status.plug_raw == 0
    assert station.snapshot.status.vehicle_plugged is False
    assert station.provisional == {}

    remove()
    count = len(events)
    simulated.set_input(False)
    await wait_until(
        lambda: station.snapshot.status is not None and station.snapshot.status.input_x1 is False
    )
    assert len(events) == count


async def test_energy_pushes(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """While charging the station pushes E pres; the meter's session energy follows."""
    sim = await start_simulator(scenario="charging")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    meter = await station.get_meter()
    events: list[StationEvent] = []
    station.add_listener(events.append)
    await wait_until(lambda: any("E pres" in e.fields for e in events), within=3)
    pushed = next(e for e in events if "E pres" in e.fields)
    assert pushed.snapshot.meter is not None
    assert pushed.snapshot.meter.session_energy_kwh == pushed.fields["E pres"] / 10000
    assert pushed.snapshot.meter.power_w == meter.power_w


async def test_failing_listener_does_not_stop_others(
    engine: Engine,
    start_simulator: SimulatorFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A listener that raises is logged; the other listeners and the snapshot still update."""
    sim = await start_simulator(scenario="plugged")
    station = await engine.station(sim, read_info=False)

    def broken(_event: StationEvent) -> None:
        raise RuntimeError("listener bug")

    events: list[StationEvent] = []
    station.add_listener(broken)
    station.add_listener(events.append)
    await station.get_info()
    assert [e.kind for e in events] == [EventKind.INFO]
    assert "station listener failed" in caplog.text


async def test_host_names_resolve(loopback: LoopbackNet) -> None:
    """A station may be given by name; ``localhost`` resolves to 127.0.0.1."""
    assert await resolve_host("localhost") == "127.0.0.1"
    assert await resolve_host(loopback.station_ip(3)) == loopback.station_ip(3)
