"""Unit tests of the solar-surplus controller (pure logic, no Home Assistant, no I/O)."""

from __future__ import annotations

from dataclasses import replace

import pytest

from custom_components.keba.surplus import (
    CHANGE_SETTLE_S,
    DIP_BUDGET_SHARE,
    MEASURE_LAG_S,
    MIN_CHARGING_CURRENT,
    NOMINAL_VOLTAGE,
    RESYNC_AFTER_S,
    ChargingMode,
    ControllerState,
    Decision,
    SiteMeasurement,
    StationMeasurement,
    SurplusController,
    SurplusSettings,
)

V = NOMINAL_VOLTAGE
#: Power of one ampere on three phases at the nominal voltage.
W_PER_A_3P = 3 * V
MIN_POWER_3P = MIN_CHARGING_CURRENT * W_PER_A_3P  # 4140 W
SETTINGS = SurplusSettings()
INTERVAL = 10.0


def station(
    key: str = "a",
    *,
    mode: ChargingMode = ChargingMode.SOLAR,
    plugged: bool = True,
    amps: float = 0.0,
    phases: int = 3,
    settings: SurplusSettings = SETTINGS,
    target: float | None = None,
    hardware_limit: float | None = 32.0,
) -> StationMeasurement:
    """A station whose vehicle draws ``amps`` on ``phases`` phases at 230 V."""
    currents = tuple(amps if i < phases else 0.0 for i in range(3))
    voltages = tuple(V if i < phases and amps > 0 else None for i in range(3))
    return StationMeasurement(
        key=key,
        mode=mode,
        settings=settings,
        vehicle_plugged=plugged,
        power_w=amps * V * phases,
        currents=currents,  # type: ignore[arg-type]
        voltages=voltages,  # type: ignore[arg-type]
        hardware_limit=hardware_limit,
        station_target=target,
    )


def knowing_three_phases(*keys: str) -> SurplusController:
    """A controller that has seen the vehicles at ``keys`` charge on three phases."""
    controller = SurplusController()
    for key in keys:
        controller.restore(key, detected_phases=3, commanded=None)
    return controller


def grid_for(surplus_w: float, *stations: StationMeasurement) -> SiteMeasurement:
    """The grid reading that leaves ``surplus_w`` for the given (charging) stations."""
    drawn = sum(s.power_w for s in stations)
    return SiteMeasurement(grid_power_w=drawn - surplus_w)


def one(
    controller: SurplusController, now: float, site: SiteMeasurement, st: StationMeasurement
) -> Decision:
    """Step with a single station and return its decision."""
    (decision,) = controller.step(now, site, [st])
    return decision


class Car:
    """A single station whose vehicle follows the controller's last command at once."""

    def __init__(
        self, controller: SurplusController, *, phases_known: bool = True, **kwargs: object
    ) -> None:
        """Drive ``controller``; ``kwargs`` go to :func:`station` at every step.

        Unless ``phases_known`` is False, the controller has seen the vehicle's phases before
        (the usual case after the first session).
        """
        self.controller = controller
        self.kwargs = kwargs
        if phases_known:
            phases = kwargs.get("phases", 3)
            assert isinstance(phases, int)
            controller.restore(str(kwargs.get("key", "a")), detected_phases=phases, commanded=None)
        self.amps = 0.0
        self.decisions: list[Decision] = []

    def step(self, now: float, surplus_w: float, **overrides: object) -> Decision:
        """One control interval at ``surplus_w``; the vehicle follows the command."""
        st = station(amps=self.amps, **(self.kwargs | overrides))  # type: ignore[arg-type]
        decision = one(self.controller, now, grid_for(surplus_w, st), st)
        if decision.command is not None:
            self.amps = decision.command
        self.decisions.append(decision)
        return decision

    def run(self, start: float, end: float, surplus_w: float) -> list[Decision]:
        """Step every interval from ``start`` to ``end`` (inclusive) at a constant surplus."""
        steps = round((end - start) / INTERVAL) + 1
        return [self.step(start + i * INTERVAL, surplus_w) for i in range(steps)]


def charging_car(surplus_w: float = 5_000.0) -> tuple[Car, float]:
    """A car that has started from surplus (after the start delay); returns it and the time."""
    car = Car(SurplusController())
    car.run(0.0, SETTINGS.start_delay_s, surplus_w)
    assert car.amps >= MIN_CHARGING_CURRENT
    return car, SETTINGS.start_delay_s


# ------------------------------------------------------------------------------ start
def test_start_waits_for_the_start_delay() -> None:
    """Enough surplus starts the vehicle only after it lasted the whole start delay."""
    car = Car(SurplusController())
    first = car.step(0.0, 5_000.0)
    # The station is paused at once, so that the vehicle does not draw before the start.
    assert first.state == ControllerState.STARTING
    assert first.command == 0
    waiting = car.run(INTERVAL, SETTINGS.start_delay_s - INTERVAL, 5_000.0)
    assert {d.state for d in waiting} == {ControllerState.STARTING}
    assert all(d.command is None for d in waiting)
    started = car.step(SETTINGS.start_delay_s, 5_000.0)
    assert started.state == ControllerState.CHARGING_FROM_SURPLUS
    # 5000 W / (3 × 230 V) = 7.2 A: rounded down, never more than the surplus.
    assert started.command == 7
    assert started.phases == 3


def test_start_needs_the_average_over_the_start_delay() -> None:
    """One short shortfall does not reset the start; a poor average over the delay prevents it."""
    car = Car(SurplusController())
    car.run(0.0, 30.0, 5_000.0)
    short = car.step(40.0, MIN_POWER_3P - 100)
    assert short.state == ControllerState.WAITING_FOR_SURPLUS
    # An appliance switching off again: the average over the delay still has 5 % to spare.
    started = car.run(50.0, SETTINGS.start_delay_s + 30.0, 5_000.0)
    assert started[-1].state == ControllerState.CHARGING_FROM_SURPLUS
    assert car.amps == 7

    # Right at the minimum power (no headroom) the average never allows a start.
    edge = Car(SurplusController())
    decisions = edge.run(0.0, 3 * SETTINGS.start_delay_s, MIN_POWER_3P * 1.01)
    assert {d.state for d in decisions} == {ControllerState.STARTING}
    assert edge.amps == 0


def test_not_enough_surplus_never_starts() -> None:
    """Below the minimum power a vehicle in solar mode waits, however long."""
    car = Car(SurplusController())
    decisions = car.run(0.0, 3_600.0, MIN_POWER_3P - 1)
    assert {d.state for d in decisions} == {ControllerState.WAITING_FOR_SURPLUS}
    assert car.amps == 0


# ----------------------------------------------------------------------- regulation
def test_raises_only_after_the_change_took_effect_and_lowers_at_once() -> None:
    """Raising waits for the previous change (6–7 s at the station); lowering does not."""
    car, t = charging_car()
    assert car.amps == 7
    # 3 s later more surplus: too early to raise again.
    assert car.step(t + 3, 9_000.0).command is None
    raised = car.step(t + 10, 9_000.0)
    assert raised.command == 13  # 9000 / 690 = 13.04
    # Less surplus right after: lowered at once.
    lowered = car.step(t + 13, 6_000.0)
    assert lowered.command == 8
    assert lowered.state == ControllerState.CHARGING_FROM_SURPLUS


def test_current_is_capped_at_the_maximum() -> None:
    """More surplus than the vehicle may take gives the configured maximum."""
    car, t = charging_car()
    assert car.step(t + INTERVAL, 50_000.0).command == SETTINGS.max_current


def test_small_fluctuations_send_nothing() -> None:
    """A surplus that does not change the whole ampere sends no command."""
    car, t = charging_car(5_000.0)
    decisions = [car.step(t + i * INTERVAL, 5_000.0 + (i % 3) * 100) for i in range(1, 20)]
    assert all(d.command is None for d in decisions)


# ------------------------------------------------------------------------------ dips
def test_holds_the_minimum_through_a_short_dip() -> None:
    """A passing cloud: the minimum current is held, no start/stop cycle."""
    car, t = charging_car()
    dip = car.run(t + 10, t + 60, 1_500.0)
    assert {d.state for d in dip} == {ControllerState.HOLDING_THROUGH_DIP}
    assert dip[0].command == MIN_CHARGING_CURRENT
    assert all(d.target_current == MIN_CHARGING_CURRENT for d in dip)
    after = car.step(t + 70, 6_000.0)
    assert after.state == ControllerState.CHARGING_FROM_SURPLUS
    assert after.command == 8
    assert not any(d.command == 0 for d in car.decisions[1:])


def test_pauses_when_the_dip_outlasts_the_stop_delay() -> None:
    """A moderate shortfall is held for the stop delay, then the station pauses."""
    car, t = charging_car()
    moderate = MIN_POWER_3P - 600  # within the dip budget: only the duration ends the hold
    dip_start = t + INTERVAL
    held = car.run(dip_start, dip_start + SETTINGS.stop_delay_s - INTERVAL, moderate)
    assert {d.state for d in held} == {ControllerState.HOLDING_THROUGH_DIP}
    paused = car.step(dip_start + SETTINGS.stop_delay_s, moderate)
    assert paused.state == ControllerState.PAUSED
    assert paused.command == 0
    # Afterwards it waits for surplus again (and starts only after a new start delay).
    later = car.step(dip_start + SETTINGS.stop_delay_s + INTERVAL, 5_000.0)
    assert later.state == ControllerState.STARTING
    assert later.command is None


def test_a_slight_shortfall_keeps_charging() -> None:
    """100 W short of the minimum: the session stays far below 4 % grid import, so it goes on."""
    car, t = charging_car()
    slight = car.run(t + INTERVAL, t + 4 * SETTINGS.stop_delay_s, MIN_POWER_3P - 100)
    assert {d.state for d in slight} == {ControllerState.HOLDING_THROUGH_DIP}
    assert car.amps == MIN_CHARGING_CURRENT


def test_a_deep_dip_pauses_before_the_stop_delay() -> None:
    """Without any surplus the grid import budget ends the hold early."""
    car, t = charging_car()
    dip_start = t + INTERVAL
    decisions = car.run(dip_start, dip_start + SETTINGS.stop_delay_s, 0.0)
    paused_at = next(
        dip_start + i * INTERVAL for i, d in enumerate(decisions) if d.state == "paused"
    )
    assert paused_at - dip_start < SETTINGS.stop_delay_s
    # The budget is what a quarter of the stop delay at minimum current would import (the
    # session is too young to have earned more).
    assert paused_at - dip_start == pytest.approx(
        SETTINGS.stop_delay_s * DIP_BUDGET_SHARE, abs=INTERVAL
    )


def test_a_session_rich_in_surplus_holds_a_dip_longer() -> None:
    """Hours of surplus charging earn credit: a deep dip is held past its own budget."""
    car, t = charging_car(10_000.0)
    car.run(t + INTERVAL, t + 3 * 3_600.0, 10_000.0)
    dip_start = t + 3 * 3_600.0 + INTERVAL
    decisions = car.run(dip_start, dip_start + SETTINGS.stop_delay_s * DIP_BUDGET_SHARE, 0.0)
    assert {d.state for d in decisions} == {ControllerState.HOLDING_THROUGH_DIP}


def test_allowed_import_keeps_a_charging_vehicle_going() -> None:
    """With an allowed import, a surplus short of the minimum by less than it is no dip."""
    settings = SurplusSettings(allowed_import_w=500.0)
    car = Car(SurplusController(), settings=settings)
    car.run(0.0, settings.start_delay_s, 5_000.0)
    assert car.amps == 7
    decisions = car.run(settings.start_delay_s + 10, settings.start_delay_s + 600, 3_800.0)
    assert {d.state for d in decisions} == {ControllerState.CHARGING_FROM_SURPLUS}
    assert car.amps == MIN_CHARGING_CURRENT


# ---------------------------------------------------------------------------- modes
def test_min_solar_keeps_the_minimum_without_surplus() -> None:
    """Min + solar charges at the minimum when there is no surplus at all."""
    car = Car(SurplusController(), mode=ChargingMode.MIN_SOLAR)
    first = car.step(0.0, -3_000.0)
    assert first.state == ControllerState.CHARGING_AT_MINIMUM
    assert first.command == MIN_CHARGING_CURRENT
    rest = car.run(INTERVAL, 1_200.0, -3_000.0)
    assert {d.state for d in rest} == {ControllerState.CHARGING_AT_MINIMUM}
    assert car.amps == MIN_CHARGING_CURRENT


def test_min_solar_adds_the_surplus_at_once() -> None:
    """Min + solar rises above the minimum with the surplus, without a start delay."""
    car = Car(SurplusController(), mode=ChargingMode.MIN_SOLAR)
    decision = car.step(0.0, 10_000.0)
    assert decision.state == ControllerState.CHARGING_FROM_SURPLUS
    assert decision.command == 14  # 10000 / 690 = 14.5


def test_fast_offers_the_maximum() -> None:
    """Fast mode offers the configured maximum, or less when the station is limited."""
    controller = SurplusController()
    site = SiteMeasurement(grid_power_w=2_000.0)
    fast = one(controller, 0.0, site, station(mode=ChargingMode.FAST))
    assert fast.state == ControllerState.FAST
    assert fast.command == SETTINGS.max_current
    limited = one(
        SurplusController(), 0.0, site, station(mode=ChargingMode.FAST, hardware_limit=10.0)
    )
    assert limited.command == 10


def test_off_sends_nothing_and_unplugged_prepares_for_the_next_vehicle() -> None:
    """Off leaves the station alone; unplugged, solar pauses and min + solar sets the minimum."""
    controller = SurplusController()
    site = SiteMeasurement(grid_power_w=-8_000.0)
    off = one(controller, 0.0, site, station(mode=ChargingMode.OFF))
    assert (off.state, off.command, off.target_current) == (ControllerState.OFF, None, None)
    empty = one(controller, 10.0, site, station(plugged=False))
    assert (empty.state, empty.command) == (ControllerState.NO_VEHICLE, 0)
    again = one(controller, 20.0, site, station(plugged=False, target=0.0))
    assert (again.state, again.command) == (ControllerState.NO_VEHICLE, None)
    minimum = one(controller, 30.0, site, station("b", mode=ChargingMode.MIN_SOLAR, plugged=False))
    assert (minimum.state, minimum.command) == (ControllerState.NO_VEHICLE, MIN_CHARGING_CURRENT)
    fast = one(controller, 40.0, site, station("c", mode=ChargingMode.FAST, plugged=False))
    assert (fast.state, fast.command) == (ControllerState.NO_VEHICLE, None)


# ----------------------------------------------------------------- several stations
def test_equal_priority_shares_equally() -> None:
    """Two stations of the same priority get the same share of the surplus."""
    controller = knowing_three_phases("a", "b")
    a, b = station("a"), station("b")
    decisions: list[Decision] = []
    for i in range(round(SETTINGS.start_delay_s / INTERVAL) + 1):
        decisions = controller.step(i * INTERVAL, grid_for(10_000.0), [a, b])
    assert [d.command for d in decisions] == [7, 7]  # 5000 W each
    assert {d.state for d in decisions} == {ControllerState.CHARGING_FROM_SURPLUS}


def test_too_little_for_both_starts_one() -> None:
    """When the surplus covers one minimum but not two, one station starts, not both."""
    controller = knowing_three_phases("a", "b")
    a, b = station("a"), station("b")
    decisions: list[Decision] = []
    for i in range(round(SETTINGS.start_delay_s / INTERVAL) + 1):
        decisions = controller.step(i * INTERVAL, grid_for(6_000.0), [a, b])
    assert [d.state for d in decisions] == [
        ControllerState.CHARGING_FROM_SURPLUS,
        ControllerState.WAITING_FOR_SURPLUS,
    ]
    assert decisions[0].command == 8


def test_priority_serves_the_lower_number_first() -> None:
    """Min + solar: both get their minimum, the rest goes to the higher priority."""
    controller = knowing_three_phases("a", "b")
    low = SurplusSettings(priority=2)
    high = SurplusSettings(priority=1)
    a = station("a", mode=ChargingMode.MIN_SOLAR, settings=low)
    b = station("b", mode=ChargingMode.MIN_SOLAR, settings=high)
    decisions = controller.step(0.0, grid_for(12_000.0), [a, b])
    by_key = {d.key: d for d in decisions}
    assert by_key["b"].command == 11  # 4140 + (12000 − 2 × 4140) = 7860 W
    assert by_key["b"].state == ControllerState.CHARGING_FROM_SURPLUS
    assert by_key["a"].command == MIN_CHARGING_CURRENT
    assert by_key["a"].state == ControllerState.CHARGING_AT_MINIMUM


def test_a_charging_station_keeps_its_place() -> None:
    """Of two equal stations, the one already charging keeps going when only one fits."""
    controller = knowing_three_phases("a", "b")
    b = station("b")
    for i in range(round(SETTINGS.start_delay_s / INTERVAL) + 1):
        controller.step(i * INTERVAL, grid_for(5_000.0), [b])
    a = station("a")
    b = station("b", amps=7)
    decisions = controller.step(130.0, grid_for(5_000.0, b), [a, b])
    by_key = {d.key: d for d in decisions}
    assert by_key["b"].state == ControllerState.CHARGING_FROM_SURPLUS
    assert by_key["a"].state == ControllerState.WAITING_FOR_SURPLUS


# ------------------------------------------------------------------- home battery
def test_a_charging_battery_counts_only_from_its_minimum_soc() -> None:
    """A home battery's charging power is surplus once it reached the minimum charge."""
    settings = SurplusSettings(battery_min_soc=80.0)
    st = station(settings=settings)
    below = SiteMeasurement(grid_power_w=-1_000.0, battery_power_w=4_000.0, battery_soc=60.0)
    assert one(SurplusController(), 0.0, below, st).surplus_w == pytest.approx(1_000.0)
    above = replace(below, battery_soc=85.0)
    decision = one(SurplusController(), 0.0, above, st)
    assert decision.surplus_w == pytest.approx(5_000.0)
    assert decision.state == ControllerState.STARTING


def test_a_discharging_battery_never_feeds_the_vehicle() -> None:
    """Power taken from the home battery is subtracted from the surplus."""
    st = station()
    site = SiteMeasurement(grid_power_w=-5_000.0, battery_power_w=-2_000.0, battery_soc=90.0)
    decision = one(knowing_three_phases("a"), 0.0, site, st)
    assert decision.surplus_w == pytest.approx(3_000.0)
    assert decision.state == ControllerState.WAITING_FOR_SURPLUS


# --------------------------------------------------------------- grid unavailable
def test_solar_without_grid_holds_the_minimum_then_pauses() -> None:
    """No grid reading: the minimum for the stop delay, then a pause."""
    car, t = charging_car()
    unknown = SiteMeasurement(grid_power_w=None)
    held: list[Decision] = []
    # The sensor is lost at t + 10 s; the pause follows a stop delay later.
    for i in range(1, round(SETTINGS.stop_delay_s / INTERVAL) + 2):
        st = station(amps=car.amps)
        held.append(one(car.controller, t + i * INTERVAL, unknown, st))
    assert held[0].state == ControllerState.GRID_SENSOR_UNAVAILABLE
    assert held[0].command == MIN_CHARGING_CURRENT
    assert held[0].surplus_w is None
    assert all(d.command is None for d in held[1:-1])
    assert held[-1].command == 0


def test_solar_without_grid_does_not_start() -> None:
    """A vehicle that is not charging is not started without a grid reading."""
    decision = one(SurplusController(), 0.0, SiteMeasurement(grid_power_w=None), station())
    assert decision.state == ControllerState.GRID_SENSOR_UNAVAILABLE
    assert decision.command == 0


def test_min_solar_without_grid_keeps_the_minimum() -> None:
    """Min + solar keeps charging at the minimum without a grid reading."""
    controller = SurplusController()
    st = station(mode=ChargingMode.MIN_SOLAR, amps=10)
    for i in range(60):
        decision = one(controller, i * INTERVAL, SiteMeasurement(grid_power_w=None), st)
        assert decision.state == ControllerState.GRID_SENSOR_UNAVAILABLE
        assert decision.target_current == MIN_CHARGING_CURRENT


@pytest.mark.parametrize("reading", [float("nan"), float("inf")])
def test_a_non_finite_grid_reading_counts_as_unavailable(reading: float) -> None:
    """NaN or infinity from a broken sensor is no measurement."""
    decision = one(SurplusController(), 0.0, SiteMeasurement(grid_power_w=reading), station())
    assert decision.state == ControllerState.GRID_SENSOR_UNAVAILABLE


# ------------------------------------------------------------------------- phases
def test_phases_are_detected_from_the_currents() -> None:
    """A vehicle drawing on one phase is regulated with 230 W per ampere."""
    controller = SurplusController()
    st = station(amps=10, phases=1)  # adopted: already charging
    decision = one(controller, 0.0, grid_for(3_300.0, st), st)
    assert decision.phases == 1
    assert controller.detected_phases("a") == 1
    assert decision.command == 14  # 3300 W / 230 V
    # Remembered while the vehicle pauses (no current flows).
    paused = one(controller, 10.0, grid_for(3_300.0), station())
    assert paused.phases == 1


def test_configured_phases_win_over_detection() -> None:
    """A fixed phase setting is used even when the currents suggest otherwise."""
    controller = SurplusController()
    st = station(amps=10, phases=1, settings=SurplusSettings(phases=3))
    decision = one(controller, 0.0, grid_for(7_000.0, st), st)
    assert decision.phases == 3
    assert decision.command == 10  # 7000 W / 690 W per ampere


def test_unknown_phases_start_on_the_one_phase_minimum_at_the_minimum_current() -> None:
    """Never measured: the one-phase minimum starts the vehicle, at the minimum current only."""
    car = Car(SurplusController(), phases_known=False, phases=1)
    decisions = car.run(0.0, SETTINGS.start_delay_s, 2_000.0)
    assert decisions[-1].state == ControllerState.CHARGING_FROM_SURPLUS
    # 2000 W would be 8 A on one phase, but three phases at 8 A would take 5.5 kW.
    assert car.amps == MIN_CHARGING_CURRENT
    # Measured on one phase: regulated with 230 W per ampere from now on.
    after = car.step(SETTINGS.start_delay_s + INTERVAL, 3_300.0)
    assert car.controller.detected_phases("a") == 1
    assert after.phases == 1
    assert after.command == 14  # 3300 W / 230 V


def test_unknown_phases_start_with_headroom_over_the_one_phase_minimum() -> None:
    """The start headroom applies to the one-phase minimum too (a start at the edge dips)."""
    one_phase_min = MIN_CHARGING_CURRENT * V
    edge = Car(SurplusController(), phases_known=False, phases=1)
    decisions = edge.run(0.0, 3 * SETTINGS.start_delay_s, one_phase_min * 1.01)
    assert {d.state for d in decisions} == {ControllerState.STARTING}
    assert edge.amps == 0
    enough = Car(SurplusController(), phases_known=False, phases=1)
    enough.run(0.0, SETTINGS.start_delay_s, one_phase_min * 1.1)
    assert enough.amps == MIN_CHARGING_CURRENT


def test_a_probe_that_finds_three_phases_without_surplus_pauses_at_once() -> None:
    """Started on the one-phase minimum, the vehicle takes three phases: pause, no dip hold."""
    car = Car(SurplusController(), phases_known=False, phases=3)
    car.run(0.0, SETTINGS.start_delay_s, 2_000.0)
    assert car.amps == MIN_CHARGING_CURRENT
    paused = car.step(SETTINGS.start_delay_s + INTERVAL, 2_000.0)
    assert paused.state == ControllerState.PAUSED
    assert paused.command == 0
    assert car.controller.detected_phases("a") == 3
    # From now on it waits for the three-phase minimum.
    waiting = car.run(SETTINGS.start_delay_s + 2 * INTERVAL, 1_000.0, 2_000.0)
    assert {d.state for d in waiting} == {ControllerState.WAITING_FOR_SURPLUS}
    assert car.amps == 0


def test_a_probe_that_finds_three_phases_with_surplus_goes_on() -> None:
    """Three phases and enough surplus for them: regulated on three phases, no pause."""
    car = Car(SurplusController(), phases_known=False, phases=3)
    car.run(0.0, SETTINGS.start_delay_s, 6_000.0)
    assert car.amps == MIN_CHARGING_CURRENT
    decisions = car.run(SETTINGS.start_delay_s + INTERVAL, 300.0, 6_000.0)
    assert ControllerState.PAUSED not in {d.state for d in decisions}
    assert car.amps == 8  # 6000 W / 690 W per ampere
    # A later dip is held like any other (the probe is over).
    dip = car.step(310.0, 3_000.0)
    assert dip.state == ControllerState.HOLDING_THROUGH_DIP


def test_a_station_without_meter_assumes_three_phases() -> None:
    """Without phase currents (P30 German edition) nothing can be learned: three phases."""
    st = replace(station(), measures_currents=False)
    decision = one(SurplusController(), 0.0, grid_for(3_000.0), st)
    assert decision.phases == 3
    assert decision.state == ControllerState.WAITING_FOR_SURPLUS


def test_a_maximum_at_the_minimum_still_starts() -> None:
    """With the maximum set to the minimum the start headroom cannot be had: start anyway."""
    settings = SurplusSettings(min_current=6.0, max_current=6.0)
    car = Car(SurplusController(), settings=settings)
    decisions = car.run(0.0, SETTINGS.start_delay_s, 10_000.0)
    assert decisions[-1].state == ControllerState.CHARGING_FROM_SURPLUS
    assert car.amps == 6.0


def test_restore_brings_back_detected_phases() -> None:
    """Phases learned before a restart are used again."""
    controller = SurplusController()
    controller.restore("a", detected_phases=1, commanded=None)
    decision = one(controller, 0.0, grid_for(2_000.0), station())
    assert decision.phases == 1
    assert decision.state == ControllerState.STARTING  # 2000 W covers 6 A on one phase


# -------------------------------------------------------------------------- resync
def test_resends_when_the_station_shows_another_current() -> None:
    """A station that shows another current than commanded is told again after a while."""
    car, t = charging_car()
    assert car.amps == 7
    early = car.step(t + INTERVAL, 5_000.0, target=10.0)
    assert early.command is None
    late = car.step(t + RESYNC_AFTER_S, 5_000.0, target=10.0)
    assert late.command == 7
    # Once it shows the right value, nothing more is sent.
    assert car.step(t + RESYNC_AFTER_S + 60, 5_000.0, target=7.0).command is None


def test_resends_a_pause_the_station_forgot() -> None:
    """A paused station that offers current again (rebooted) is paused again."""
    car = Car(SurplusController())
    assert car.step(0.0, 1_000.0).command == 0
    assert car.step(10.0, 1_000.0, target=16.0).command is None
    assert car.step(RESYNC_AFTER_S, 1_000.0, target=16.0).command == 0


def test_unplugging_forgets_the_commanded_current() -> None:
    """The station forgets currtime at unplug: the controller pauses it again for the next one."""
    car, t = charging_car()
    gone = car.step(t + INTERVAL, 5_000.0, plugged=False)
    assert gone.state == ControllerState.NO_VEHICLE
    assert gone.command == 0
    car.amps = 0
    back = car.step(t + 2 * INTERVAL, 5_000.0)
    assert back.state == ControllerState.STARTING
    assert back.command is None


# ------------------------------------------------------------------------ adoption
def test_adopts_a_vehicle_already_charging() -> None:
    """A vehicle charging when the controller takes over is regulated without a restart."""
    controller = SurplusController()
    st = station(amps=16)
    decision = one(controller, 0.0, grid_for(12_000.0, st), st)
    assert decision.state == ControllerState.CHARGING_FROM_SURPLUS
    assert decision.command == 16
    lower = one(controller, 10.0, grid_for(6_000.0, st), st)
    assert lower.command == 8


def test_adopted_vehicle_without_surplus_is_paused_at_once() -> None:
    """A vehicle that starts drawing on plug-in without surplus is paused, not held."""
    st = station(amps=16)
    decision = one(SurplusController(), 0.0, grid_for(2_000.0, st), st)
    assert decision.state == ControllerState.WAITING_FOR_SURPLUS
    assert decision.command == 0


# ------------------------------------------------------------------ between intervals
def test_react_lowers_on_import_but_not_below_the_minimum() -> None:
    """A reading with import lowers at once; a deep one lowers to the minimum, never pauses."""
    car, t = charging_car(9_000.0)
    assert car.amps == 13
    settled = t + CHANGE_SETTLE_S + MEASURE_LAG_S
    st = station(amps=car.amps)
    # 2 kW more load: 7000 W of surplus, 10 A.
    (lowered,) = car.controller.react(settled, grid_for(7_000.0, st), [st])
    assert (lowered.command, lowered.state) == (10, ControllerState.CHARGING_FROM_SURPLUS)
    st = station(amps=10)
    # No second command for the same import.
    assert car.controller.react(settled + 2, grid_for(7_000.0, st), [st]) == []
    later = settled + CHANGE_SETTLE_S + MEASURE_LAG_S
    (floor,) = car.controller.react(later, grid_for(1_000.0, st), [st])
    assert floor.command == MIN_CHARGING_CURRENT
    st = station(amps=MIN_CHARGING_CURRENT)
    assert car.controller.react(later + 20, grid_for(0.0, st), [st]) == []
    # The interval decides whether the dip is held or paused.
    car.amps = MIN_CHARGING_CURRENT
    assert car.step(later + 30, 1_000.0).state == ControllerState.HOLDING_THROUGH_DIP


def test_react_follows_a_deepening_dip_while_its_lowering_is_pending() -> None:
    """A cloud that keeps darkening is followed at every reading, not 14 s later.

    KEBA overwrites a pending current without restarting its 6–7 s delay, so the second,
    lower value takes effect as early as the first would have.
    """
    car, t = charging_car(12_000.0)
    assert car.amps == 16
    settled = t + CHANGE_SETTLE_S + MEASURE_LAG_S
    still_16 = station(amps=16)  # the lowering has not taken effect: it draws 16 A
    (first,) = car.controller.react(settled, grid_for(9_000.0, still_16), [still_16])
    assert first.command == 13  # 9000 W / 690 W per A
    # Two seconds later the cloud is darker; the vehicle still draws 16 A.
    (second,) = car.controller.react(settled + 2, grid_for(6_000.0, still_16), [still_16])
    assert second.command == 8
    # The first lowering took effect (13 A drawn, the grid shows it) but the meter still says
    # 16 A: the target comes out too high, which neither lowers nor raises anything.
    drawing_13 = station(amps=13)
    assert car.controller.react(settled + 8, grid_for(6_000.0, drawing_13), [still_16]) == []
    # Down to the minimum, never below it: whether to hold or pause is the interval's.
    (floor,) = car.controller.react(settled + 10, grid_for(2_000.0, still_16), [still_16])
    assert floor.command == MIN_CHARGING_CURRENT


def test_react_waits_after_a_raise_until_it_was_measured() -> None:
    """After a raise the measured power is too low for a while: react waits for it."""
    car, t = charging_car(5_000.0)
    assert car.amps == 7
    raised_at = t + INTERVAL
    assert car.step(raised_at, 9_000.0).command == 13
    # The station applied the raise, the meter still shows 7 A; the grid sees 13 A drawn and
    # a little import: the power that lowering would count on is not the vehicle's.
    old = station(amps=7)
    site = grid_for(13 * W_PER_A_3P - 300.0, station(amps=13))
    assert car.controller.react(raised_at + CHANGE_SETTLE_S, site, [old]) == []
    measured = station(amps=13)
    settled = raised_at + CHANGE_SETTLE_S + MEASURE_LAG_S
    (lowered,) = car.controller.react(settled, site, [measured])
    assert lowered.command == 12


def test_react_leaves_export_unsettled_changes_and_unknown_readings_alone() -> None:
    """Only import after a settled change makes react send anything."""
    car, t = charging_car(9_000.0)
    st = station(amps=car.amps)
    early = t + CHANGE_SETTLE_S  # changed, but the vehicle's power may not be measured yet
    assert car.controller.react(early, grid_for(7_000.0, st), [st]) == []
    settled = t + CHANGE_SETTLE_S + MEASURE_LAG_S
    assert car.controller.react(settled, grid_for(12_000.0, st), [st]) == []  # export: no raise
    unknown = SiteMeasurement(grid_power_w=None)
    assert car.controller.react(settled, unknown, [st]) == []
    off = replace(st, mode=ChargingMode.OFF)
    assert car.controller.react(settled, grid_for(1_000.0, st), [off]) == []


def test_react_allows_the_configured_import() -> None:
    """Import up to the allowed amount is not a reason to lower."""
    settings = SurplusSettings(allowed_import_w=500.0)
    car = Car(SurplusController(), settings=settings)
    car.run(0.0, SETTINGS.start_delay_s, 9_000.0)
    assert car.amps == 13
    settled = SETTINGS.start_delay_s + CHANGE_SETTLE_S + MEASURE_LAG_S
    st = station(amps=car.amps, settings=settings)
    assert car.controller.react(settled, grid_for(st.power_w - 400.0, st), [st]) == []
    (lowered,) = car.controller.react(settled, grid_for(7_000.0, st), [st])
    assert lowered.command == 10  # 7000 W + 500 W allowed: 10.9 A
