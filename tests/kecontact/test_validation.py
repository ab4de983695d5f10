"""Input validation and capability gating: bad input and unsupported commands send nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest

from custom_components.keba.kecontact import KebaStation, KebaUnsupportedError, KebaValidationError
from custom_components.keba.kecontact.station import display_text
from simulator import Simulator

from .conftest import Engine

type SimulatorFactory = Callable[..., Awaitable[Simulator]]
type Call = Callable[[KebaStation], Awaitable[Any]]

INVALID: dict[str, list[Call]] = {
    "set_current": [
        lambda s: s.set_current(5.9),
        lambda s: s.set_current(63.1),
        lambda s: s.set_current(0),
        lambda s: s.set_current(-10),
        lambda s: s.set_current("10"),  # type: ignore[arg-type]
        lambda s: s.set_current(True),
        lambda s: s.set_current(float("nan")),
        lambda s: s.set_current(10, delay_s=0),
        lambda s: s.set_current(10, delay_s=860401),
        lambda s: s.set_current(10, delay_s=1.5),  # type: ignore[arg-type]
        lambda s: s.set_current(10, delay_s=True),
        lambda s: s.set_current_permanent(5),
        lambda s: s.set_current_permanent(64),
    ],
    "set_energy_limit": [
        lambda s: s.set_energy_limit(-0.1),
        lambda s: s.set_energy_limit(10000),
        lambda s: s.set_energy_limit("5"),  # type: ignore[arg-type]
        lambda s: s.set_energy_limit(True),
        lambda s: s.set_energy_limit(float("inf")),
        # Rounds to "setenergy 0", which would remove the limit (robustness issue, item 5).
        lambda s: s.set_energy_limit(0.00001),
        lambda s: s.set_energy_limit(0.000049),
        lambda s: s.set_energy_limit(-0.00001),
    ],
    "set_output": [
        lambda s: s.set_output(2),
        lambda s: s.set_output(9),
        lambda s: s.set_output(151),
        lambda s: s.set_output(-1),
        lambda s: s.set_output("1"),  # type: ignore[arg-type]
        lambda s: s.set_output(1.0),  # type: ignore[arg-type]
    ],
    "start_stop": [
        lambda s: s.start_session(""),
        lambda s: s.start_session("xyz"),
        lambda s: s.start_session("0" * 17),
        lambda s: s.start_session("12 34"),
        lambda s: s.start_session("f2875063", "0" * 21),
        lambda s: s.start_session("f2875063", "zz"),
        lambda s: s.start_session(1234),  # type: ignore[arg-type]
        lambda s: s.stop_session("g"),
        lambda s: s.stop_session(""),
    ],
    "display": [
        lambda s: s.display(""),
        lambda s: s.display("x" * 24),
        lambda s: s.display("Grüße"),
        lambda s: s.display("tab\there"),
        lambda s: s.display("ok", 5, 2),
        lambda s: s.display("ok", -1),
        lambda s: s.display("ok", None, 65536),
        lambda s: s.display("ok", True),
        lambda s: s.display(None),  # type: ignore[arg-type]
    ],
    "set_datetime": [
        lambda s: s.set_datetime(-1),
        lambda s: s.set_datetime("now"),  # type: ignore[arg-type]
        lambda s: s.set_datetime(True),
        lambda s: s.set_datetime(datetime(1960, 1, 1, tzinfo=UTC)),
    ],
    "set_failsafe": [
        lambda s: s.set_failsafe(5),
        lambda s: s.set_failsafe(9),
        lambda s: s.set_failsafe(601),
        lambda s: s.set_failsafe(10.5),  # type: ignore[arg-type]
        lambda s: s.set_failsafe(True),
        lambda s: s.set_failsafe(10, 5),
        lambda s: s.set_failsafe(10, 64),
        lambda s: s.set_failsafe(10, "6"),  # type: ignore[arg-type]
    ],
    "reports": [
        lambda s: s.get_session(99),
        lambda s: s.get_session(131),
        lambda s: s.get_session(1),
    ],
}


async def test_energy_limit_smallest_step(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """The refusal names the step and how to remove the limit; 0 and 0.0001 kWh are sent."""
    sim = await start_simulator(variant="p30-c", scenario="charging")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    with pytest.raises(KebaValidationError, match=r"0\.0001 kWh.*use 0 to remove it"):
        await station.set_energy_limit(0.00001)
    await station.set_energy_limit(0.0001)
    assert sim.stations[0].report(2)["Setenergy"] == 1
    sent = [text for _, _, text in sim.stations[0].received]
    assert "setenergy 0" not in sent
    assert "setenergy 1" in sent


@pytest.mark.parametrize("group", INVALID)
async def test_invalid_input(engine: Engine, start_simulator: SimulatorFactory, group: str) -> None:
    """Every out-of-range or malformed parameter raises KebaValidationError; nothing is sent."""
    sim = await start_simulator(variant="p30-c", scenario="charging")
    station = await engine.station(sim)
    received = sim.stations[0].stats["received"]
    for index, call in enumerate(INVALID[group]):
        with pytest.raises(KebaValidationError):
            await call(station)
        assert sim.stations[0].stats["received"] == received, f"{group}[{index}] sent something"
    assert engine.endpoint.stats.received == 1  # the answer to report 1


@pytest.mark.parametrize(
    ("text", "encoded"),
    [("a b", "a$b"), ("  ", "$$"), ("~ok~", "~ok~"), ("x" * 23, "x" * 23)],
)
def test_display_text(text: str, encoded: str) -> None:
    """Display text: spaces become ``$``; the guide's 23 printable ASCII characters."""
    assert display_text(text) == encoded


async def test_p20_gating(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """A P20 has no currtime: set_current sends ``curr``; pause and the rest are refused."""
    sim = await start_simulator(variant="p20", scenario="charging")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    assert station.capabilities is not None
    assert station.capabilities.currtime is False
    await station.set_current(10)
    simulated = sim.stations[0]
    assert simulated.report(2)["Curr user"] == 10000
    for call in (
        station.pause_charging(),
        station.cancel_current_timer(),
        station.display("hi"),
        station.get_session(100),
        station.get_history(),
    ):
        with pytest.raises(KebaUnsupportedError, match="P20"):
            await call
    assert [t for _, _, t in simulated.received] == ["report 1", "curr 10000", "report 2"]
    assert simulated.commands["currtime"] == 0


async def test_p30_de_gating(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """A P30 Deutschland edition has no meter and no display: no report 3, setenergy, display."""
    sim = await start_simulator(variant="p30-de", scenario="charging")
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    for call in (
        station.display("hi"),
        station.set_energy_limit(5),
        station.get_meter(),
    ):
        with pytest.raises(KebaUnsupportedError, match="Deutschland"):
            await call
    await station.refresh()
    await station.set_current(8, verify=False)
    assert [t for _, _, t in sim.stations[0].received] == [
        "report 1",
        "report 2",
        "currtime 8000 1",
    ]


async def test_rfid_gating(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """start/stop need an RFID reader, or authorization switched on at the station.

    An x-series without RFID in its code (openhab-addons#2038's KC-P30-EC2201C2-E00-CW).
    """
    sim = await start_simulator(
        variant="p30-x", product="KC-P30-EC2201C2-E00-CW", scenario="plugged"
    )
    no_timing_violations.append(sim)
    station = await engine.station(sim)
    with pytest.raises(KebaUnsupportedError, match="RFID"):
        await station.start_session("f2875063")
    sim.stations[0].set_auth(True)
    await station.get_status()
    assert station.capabilities is not None
    assert station.capabilities.rfid is True  # learned from AuthON in report 2
    await station.start_session("f2875063")
    assert sim.stations[0].commands["start"] == 1


async def test_display_learned_from_the_station(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """An x-series whose code cannot tell: the first ``display`` answer settles it."""
    sim = await start_simulator(count=2, variant="p30-x", product="KC-P30-EC2201C2-E00-CW")
    no_timing_violations.append(sim)
    with_display = await engine.station(sim, 0)
    without = await engine.station(sim, 1)
    sim.stations[1].variant = replace(sim.stations[1].variant, has_display=False)
    for station in (with_display, without):
        assert station.capabilities is not None
        assert station.capabilities.display is None
    await with_display.display("Hello")
    assert with_display.capabilities is not None
    assert with_display.capabilities.display is True
    with pytest.raises(KebaUnsupportedError, match="no display"):
        await without.display("Hello")
    assert without.capabilities is not None
    assert without.capabilities.display is False
    await without.get_info()  # re-reading report 1 keeps what was learned
    assert without.capabilities.display is False
    with pytest.raises(KebaUnsupportedError):
        await without.display("Again")
    assert sim.stations[1].commands["display"] == 1
