"""The charging site's pure control logic: readings in, decisions and a site state out."""

from __future__ import annotations

import ast
from dataclasses import replace
import logging
from pathlib import Path
import sys

import pytest

from custom_components.keba.site_control import (
    BatterySettings,
    ChargingMode,
    ControllerState,
    LearnedDips,
    Reading,
    SiteController,
    SiteSettings,
    SiteState,
    SiteStatus,
    StationMeasurement,
    SurplusSettings,
    surplus_share,
)
from custom_components.keba.surplus import DipContext, DipReason

INTERVAL = 10.0
#: 6 A on three phases at 230 V, and what the vehicle draws there (power factor 1 here).
MIN_3P = 6 * 230.0 * 3
SETTINGS = SurplusSettings(phases=3, start_delay_s=60.0, stop_delay_s=300.0)


def station(
    key: str = "a",
    *,
    amps: float = 0.0,
    settings: SurplusSettings = SETTINGS,
    target: float | None = None,
) -> StationMeasurement:
    """A plugged station whose vehicle draws ``amps`` on three phases."""
    return StationMeasurement(
        key=key,
        mode=ChargingMode.SOLAR,
        settings=settings,
        vehicle_plugged=True,
        power_w=amps * 230.0 * 3,
        currents=(amps, amps, amps),
        voltages=(230.0, 230.0, 230.0),
        hardware_limit=32.0,
        station_target=target,
    )


class Site:
    """A site with one or more stations whose vehicles draw what they are told."""

    def __init__(self, settings: SiteSettings | None = None, *keys: str, **per_key: int) -> None:
        """Stations ``keys`` (default one, ``a``); ``per_key`` gives priorities."""
        self.control = SiteController(settings or SiteSettings(control_interval_s=INTERVAL))
        self.now = 0.0
        self.amps = dict.fromkeys(keys or ("a",), 0.0)
        self.priority = per_key

    def measurements(self) -> list[StationMeasurement]:
        """Every station as the controller sees it now."""
        return [
            station(
                key,
                amps=amps,
                settings=replace(SETTINGS, priority=self.priority.get(key, 1)),
                target=amps,
            )
            for key, amps in self.amps.items()
        ]

    def step(
        self,
        surplus_w: float,
        *,
        battery_w: float | None = None,
        soc: float | None = None,
        feed_grid: bool = True,
    ) -> SiteStatus:
        """One interval with ``surplus_w`` from PV beyond the house (battery: + charging)."""
        self.now += INTERVAL
        drawn = sum(m.power_w for m in self.measurements())
        if feed_grid:
            grid = drawn - surplus_w + (battery_w or 0.0)
            self.control.feed(Reading.GRID, grid, self.now - INTERVAL / 2)
        if battery_w is not None:
            self.control.feed(Reading.BATTERY_POWER, battery_w, self.now - INTERVAL / 2)
        if soc is not None:
            self.control.feed(Reading.BATTERY_SOC, soc, self.now - INTERVAL / 2)
        for measurement in self.measurements():
            self.control.feed_station(measurement, self.now - INTERVAL / 2)
        status = self.control.step(self.now)
        for decision in status.decisions:
            if decision.command is not None:
                self.amps[decision.key] = decision.command
        return status

    def charge(self, surplus_w: float = 6_000.0, **kwargs: float) -> SiteStatus:
        """Run until the vehicle charges from surplus."""
        for _ in range(20):
            status = self.step(surplus_w, **kwargs)  # type: ignore[arg-type]
            if status.state == SiteState.CHARGING_FROM_SURPLUS:
                return status
        raise AssertionError("did not start")


# -------------------------------------------------------------------------- averaging
def test_readings_are_averaged_over_the_interval_by_time() -> None:
    """A 2 kW spike for 1 s of a 10 s interval moves the average by 200 W, not 2 kW."""
    control = SiteController(SiteSettings(control_interval_s=INTERVAL))
    control.feed(Reading.GRID, -3_000.0, 0.0)
    control.step(0.0)
    control.feed(Reading.GRID, -1_000.0, 4.0)
    control.feed(Reading.GRID, -3_000.0, 5.0)
    control.feed_station(station(), 0.0)
    status = control.step(10.0)
    assert status.surplus_w == pytest.approx(2_800.0)


def test_an_unavailable_part_of_the_interval_does_not_count() -> None:
    """Unknown for half the interval: the average of the known half, not diluted by zeros."""
    control = SiteController(SiteSettings(control_interval_s=INTERVAL))
    control.feed(Reading.GRID, -2_000.0, 0.0)
    control.step(0.0)
    control.feed(Reading.GRID, None, 5.0)
    control.feed(Reading.GRID, -4_000.0, 7.5)
    control.feed_station(station(), 0.0)
    status = control.step(10.0)
    assert status.surplus_w == pytest.approx((2_000 * 5 + 4_000 * 2.5) / 7.5)


# -------------------------------------------------------------------------- staleness
def test_a_silent_grid_sensor_goes_stale() -> None:
    """A grid sensor that stops reporting is unknown after six intervals (at least 60 s)."""
    control = SiteController(SiteSettings(control_interval_s=INTERVAL))
    control.feed(Reading.GRID, -5_000.0, 0.0)
    control.feed_station(station(), 0.0)
    assert control.settings.stale_after_s == 60.0
    assert control.step(60.0).state != SiteState.GRID_SENSOR_UNAVAILABLE
    status = control.step(61.0)
    assert status.state == SiteState.GRID_SENSOR_UNAVAILABLE
    assert status.surplus_w is None


def test_a_grid_sensor_reporting_the_same_value_stays_fresh() -> None:
    """Reported again unchanged (a state report, not a change): still fresh."""
    control = SiteController(SiteSettings(control_interval_s=INTERVAL))
    control.feed(Reading.GRID, -5_000.0, 0.0)
    control.feed_station(station(), 0.0)
    for second in range(30, 200, 30):
        control.keep_alive(Reading.GRID, float(second))
    status = control.step(200.0)
    assert status.state != SiteState.GRID_SENSOR_UNAVAILABLE
    assert status.surplus_w == pytest.approx(5_000.0)


def test_a_stale_sensor_holds_the_minimum_then_pauses() -> None:
    """A charging vehicle keeps its minimum for the stop delay, then pauses."""
    site = Site()
    site.charge()
    states = [site.step(0.0, feed_grid=False).decisions[0] for _ in range(40)]
    unavailable = [d for d in states if d.state == ControllerState.GRID_SENSOR_UNAVAILABLE]
    assert unavailable
    assert unavailable[0].target_current == 6.0
    assert states[-1].target_current == 0.0


# ---------------------------------------------------------------------------- battery
BATTERY = BatterySettings(priority_soc=30.0, buffer_soc=60.0, buffer_start_soc=90.0)
WITH_BATTERY = SiteSettings(control_interval_s=INTERVAL, battery=BATTERY)


def test_below_the_priority_soc_the_battery_charges_first() -> None:
    """The battery's charging power is not surplus below the priority SoC; above it is."""
    low = Site(WITH_BATTERY)
    status = low.step(5_000.0, battery_w=5_000.0, soc=20.0)
    assert status.surplus_w == pytest.approx(0.0)
    assert status.state == SiteState.WAITING_FOR_SURPLUS
    high = Site(WITH_BATTERY)
    status = high.step(5_000.0, battery_w=5_000.0, soc=40.0)
    assert status.surplus_w == pytest.approx(5_000.0)
    assert status.state == SiteState.STARTING


def test_above_the_buffer_soc_the_battery_bridges_a_dip() -> None:
    """A cloud: the battery covers the vehicle's minimum; held past the stop delay, no pause."""
    site = Site(WITH_BATTERY)
    site.charge(battery_w=0.0, soc=70.0)
    for _ in range(60):  # 10 min of cloud; the battery discharges what the vehicle lacks
        status = site.step(1_000.0, battery_w=-(MIN_3P - 1_000.0), soc=70.0)
        assert status.state == SiteState.BATTERY_BRIDGING
        assert status.decisions[0].target_current == 6.0
    assert "battery bridges" in status.reason
    assert status.battery_share == pytest.approx((MIN_3P - 1_000.0) / MIN_3P)


def test_at_the_buffer_soc_the_battery_does_not_bridge_for_long() -> None:
    """At or below the buffer SoC the dip is the dip policy's: held at most the stop delay."""
    site = Site(WITH_BATTERY)
    site.charge(battery_w=0.0, soc=60.0)
    states = [site.step(1_000.0, battery_w=-(MIN_3P - 1_000.0), soc=60.0).state for _ in range(40)]
    assert SiteState.BATTERY_BRIDGING not in states
    assert states[0] == SiteState.HOLDING_THROUGH_DIP
    assert states[-1] in (SiteState.PAUSED, SiteState.WAITING_FOR_SURPLUS)


def test_a_discharge_limit_caps_the_bridge() -> None:
    """The battery can give 1 kW: the rest comes from the grid, so it is a dip, not a bridge."""
    limited = SiteSettings(
        control_interval_s=INTERVAL, battery=replace(BATTERY, max_discharge_w=1_000.0)
    )
    site = Site(limited)
    site.charge(battery_w=0.0, soc=80.0)
    status = site.step(0.0, battery_w=-1_000.0, soc=80.0)
    assert status.state == SiteState.HOLDING_THROUGH_DIP


def test_above_the_buffer_start_soc_a_session_starts_on_the_battery() -> None:
    """No surplus, a full battery: the session starts at the minimum current."""
    site = Site(WITH_BATTERY)
    status = site.step(0.0, battery_w=0.0, soc=95.0)
    assert status.state == SiteState.BATTERY_BRIDGING
    assert status.decisions[0].command == 6.0
    assert "started on the battery" in status.reason
    below = Site(WITH_BATTERY)
    assert below.step(0.0, battery_w=0.0, soc=85.0).state == SiteState.WAITING_FOR_SURPLUS


# ---------------------------------------------------------------------------- dips
def _dip_context(now: float, since: float, shortfall: float, imported: float) -> DipContext:
    return DipContext(
        now=now,
        key="a",
        since=since,
        shortfall_w=shortfall,
        import_ws=imported,
        min_power_w=MIN_3P,
        settings=SETTINGS,
        session_surplus_ws=0.0,
        session_import_ws=0.0,
    )


def _day_of_dips(policy: LearnedDips, lasting_s: float, count: int = 6) -> float:
    """Feed ``count`` dips of ``lasting_s`` between sunny spells; return the time after."""
    now = 0.0
    for _ in range(count):
        for _ in range(30):
            policy.observe(now, "a", 6_000.0, MIN_3P)
            now += INTERVAL
        end = now + lasting_s
        while now < end:
            policy.observe(now, "a", 1_000.0, MIN_3P)
            now += INTERVAL
    policy.observe(now, "a", 6_000.0, MIN_3P)
    return now


def test_the_dip_budget_is_learned_from_the_day() -> None:
    """After long dips the budget shrinks; after short ones it grows; each verdict says why."""
    budget_s = SETTINGS.stop_delay_s * 0.4
    fresh = LearnedDips()
    assert fresh.budget_factor("a", budget_s) == (1.0, "nothing learned yet")
    long_day = LearnedDips()
    now = _day_of_dips(long_day, 600.0)
    assert long_day.dips_today("a") == [600.0] * 6
    factor, why = long_day.budget_factor("a", budget_s)
    assert factor == 0.75
    assert "100% of 6 dips today were long" in why
    short_day = LearnedDips()
    _day_of_dips(short_day, 40.0)
    assert short_day.budget_factor("a", budget_s)[0] == 1.3
    # Half long, half short: the budget stays, and the reason says what was seen.
    mixed_day = LearnedDips()
    _day_of_dips(mixed_day, 600.0, count=3)
    _day_of_dips(mixed_day, 40.0, count=3)
    assert mixed_day.budget_factor("a", budget_s) == (
        1.0,
        "50% of 6 dips today were long: no change",
    )

    # The same dip, 130 s in at 3 kW short: paused on the long day, held on the short one.
    context = _dip_context(now + 130.0, now, 3_000.0, 3_000.0 * 130.0)
    verdict = long_day.decide(context)
    assert not verdict.hold
    assert verdict.reason.startswith("pause: dip imported 108 of 104 Wh budget")
    # The same, as the site state's attributes show it.
    assert verdict.code == DipReason.OVER_BUDGET
    assert verdict.imported_wh == pytest.approx(3_000.0 * 130.0 / 3600.0)
    assert verdict.budget_wh == pytest.approx(MIN_3P * budget_s * 0.75 / 3600.0)
    held = short_day.decide(replace(context))
    assert held.hold
    assert "were short" in held.reason
    assert held.code == DipReason.WITHIN_BUDGET
    assert held.budget_wh == pytest.approx(MIN_3P * budget_s * 1.3 / 3600.0)


def test_three_phases_pause_a_dip_the_dwell_time_would_make_costly() -> None:
    """On three phases with a switch to one still forbidden: held only within a 1-phase budget.

    The 1-phase budget is 40 % of the stop delay at 6 A on one phase: 1 380 W × 120 s = 46 Wh.
    """
    dip = replace(
        _dip_context(1_010.0, 1_000.0, 2_000.0, 2_000.0 * 10), one_phase_min_power_w=1_380.0
    )
    # Without a switch to come, three phases hold (their budget is three times as large).
    assert LearnedDips().decide(dip).hold
    # 200 s until the switch is allowed: 20 kWs so far + 2 kW × 200 s = 117 Wh > 46 Wh.
    paused = LearnedDips().decide(replace(dip, fewer_phases_in_s=200.0))
    assert not paused.hold
    assert paused.reason.startswith("pause: holding three phases until a switch to one")
    assert "(in 200 s)" in paused.reason
    assert "one-phase budget of 46 Wh" in paused.reason
    assert paused.code == DipReason.PHASE_SWITCH_WAIT
    assert paused.imported_wh == pytest.approx((2_000.0 * 10 + 2_000.0 * 200) / 3600.0)
    # 30 s until then: 6 Wh + 17 Wh fits; the switch down follows the hold.
    assert LearnedDips().decide(replace(dip, fewer_phases_in_s=30.0)).hold
    # Allowed now (0 s): the phase policy switches at once; the dip decision is the usual one.
    assert LearnedDips().decide(replace(dip, fewer_phases_in_s=0.0)).hold


def test_three_phases_get_nine_tenths_of_the_budget_time() -> None:
    """A three-phase hold imports three times as fast: its budget time is 90 % of one phase's.

    The stop delay of 300 s gives 40 % = 120 s at the minimum power: 1 380 W × 120 s = 46 Wh
    on one phase, 4 140 W × 108 s = 124.2 Wh on three.
    """
    dip = _dip_context(1_010.0, 1_000.0, 2_000.0, 2_000.0 * 10)
    three = LearnedDips().decide(replace(dip, one_phase_min_power_w=MIN_3P / 3))
    assert three.budget_wh == pytest.approx(MIN_3P * 108.0 / 3600.0)
    one = LearnedDips().decide(
        replace(dip, min_power_w=MIN_3P / 3, one_phase_min_power_w=MIN_3P / 3, shortfall_w=500.0)
    )
    assert one.budget_wh == pytest.approx(MIN_3P / 3 * 120.0 / 3600.0)
    # A dip that fits the one-phase-equivalent time but not nine tenths of it pauses on three.
    long_hold = replace(dip, one_phase_min_power_w=MIN_3P / 3, import_ws=MIN_3P * 115.0)
    assert not LearnedDips().decide(long_hold).hold
    assert LearnedDips().decide(replace(long_hold, one_phase_min_power_w=None)).hold


def test_a_shallow_dip_without_a_battery_is_not_said_to_be_covered_by_one() -> None:
    """A shortfall within the power-factor tolerance and no battery: the usual budget decides."""
    verdict = LearnedDips().decide(_dip_context(1_030.0, 1_000.0, 50.0, 50.0 * 30))
    assert verdict.hold
    assert "battery" not in verdict.reason
    assert verdict.reason.startswith("hold: dip imported 0 of 138 Wh budget")
    covered = LearnedDips().decide(
        replace(_dip_context(1_030.0, 1_000.0, 500.0, 500.0 * 30), battery_w=480.0)
    )
    assert covered.reason == "hold: the battery covers the dip, up to the stop delay"
    assert covered.code == DipReason.BATTERY_COVERS


def test_pauses_add_up_to_a_larger_budget() -> None:
    """From the third pause within an hour, each one makes the next dip's budget 25 % larger."""
    policy = LearnedDips()
    budget_s = SETTINGS.stop_delay_s * 0.4
    for minute in range(4):
        context = _dip_context(minute * 600.0 + 200.0, minute * 600.0, 4_000.0, 4_000.0 * 200)
        assert not policy.decide(context).hold
    factor, why = policy.budget_factor("a", budget_s, 1_900.0)
    assert factor == pytest.approx(1.25**2)
    assert why == "4 pauses in the last hour"
    # An hour after the first two, only the last two count: no longer dearer.
    assert policy.budget_factor("a", budget_s, 800.0 + 3_600.0 + 1.0)[0] == 1.0


def test_variability_and_forecast_scale_the_budget() -> None:
    """Broken clouds (PV varies) grow the budget; PV far under the forecast halves it."""
    broken = LearnedDips()
    for i in range(91):
        broken.observe_pv(i * INTERVAL, 6_000.0 if i % 6 < 3 else 1_500.0, None)
    factor, why = broken.budget_factor("a", 120.0)
    assert factor == 1.2
    assert why.startswith("broken clouds")
    overcast = LearnedDips()
    for i in range(91):
        overcast.observe_pv(i * INTERVAL, 1_500.0, 6_000.0)
    assert overcast.budget_factor("a", 120.0) == (0.5, "overcast: PV under 45 % of the forecast")


def test_a_dip_decision_is_explained_in_the_site_state_and_the_log(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Holding and pausing: the site state and a debug line give the reason with its numbers."""
    caplog.set_level(logging.DEBUG, logger="custom_components.keba.site_control")
    site = Site()
    site.charge()
    held = site.step(1_000.0)
    held = site.step(1_000.0)
    assert held.state == SiteState.HOLDING_THROUGH_DIP
    assert held.reason.startswith("hold: dip imported")
    assert "budget (nothing learned yet)" in held.reason
    statuses = [site.step(1_000.0) for _ in range(30)]
    paused = next(s for s in statuses if s.state == SiteState.PAUSED)
    assert paused.reason.startswith("pause: dip imported")
    logged = [r.getMessage() for r in caplog.records]
    assert any(
        m.startswith("Charging site: holding_through_dip (hold: dip imported") for m in logged
    )
    assert any(m.startswith("Charging site: paused (pause: dip imported") for m in logged)


# ---------------------------------------------------------------------- allocation
def test_stations_share_the_surplus_by_priority() -> None:
    """The first priority is served up to its maximum first; what is left goes to the second."""
    site = Site(None, "a", "b", b=2)
    for _ in range(8):
        status = site.step(MIN_3P * 1.5)
    by_key = {d.key: d for d in status.decisions}
    assert by_key["a"].state == ControllerState.CHARGING_FROM_SURPLUS
    assert by_key["b"].state == ControllerState.WAITING_FOR_SURPLUS
    assert status.state == SiteState.CHARGING_FROM_SURPLUS
    # Enough for the first at 16 A and the second at its minimum: both charge.
    plenty = 16 * 690.0 + MIN_3P * 1.2
    for _ in range(12):
        status = site.step(plenty)
    by_key = {d.key: d for d in status.decisions}
    assert by_key["b"].state == ControllerState.CHARGING_FROM_SURPLUS
    assert site.amps == {"a": 16.0, "b": 7.0}
    assert (site.amps["a"] + site.amps["b"]) * 690.0 <= plenty


def test_without_a_station_the_site_is_idle() -> None:
    """No station fed: idle, with the surplus still reported."""
    control = SiteController()
    control.feed(Reading.GRID, -1_500.0, 0.0)
    status = control.step(10.0)
    assert status.state == SiteState.IDLE
    assert status.surplus_w == pytest.approx(1_500.0)
    assert status.decisions == ()


def test_a_probe_measured_on_one_phase_holds_a_dip() -> None:
    """Phases unknown: started on the one-phase minimum; measured on one phase, a dip is held.

    (Before, any dip right after such a start paused it as if the vehicle took three phases.)
    """
    auto = replace(SETTINGS, phases=None)
    control = SiteController(SiteSettings(control_interval_s=INTERVAL))
    now, amps = 0.0, 0.0
    decision = None
    for _ in range(10):
        now += INTERVAL
        control.feed(Reading.GRID, amps * 230.0 - 2_000.0, now - INTERVAL + 0.5)
        control.feed_station(
            replace(station(amps=0.0, settings=auto), power_w=amps * 230.0, currents=(amps, 0, 0)),
            now - INTERVAL + 0.5,
        )
        (decision,) = control.step(now).decisions
        if decision.command:
            amps = decision.command
            break
    assert amps == 6.0
    # Right after the start, measured on one phase, a cloud: 800 W of surplus, less than the
    # one-phase minimum (1380 W).
    now += INTERVAL
    control.feed(Reading.GRID, amps * 230.0 - 800.0, now - INTERVAL + 0.5)
    control.feed_station(
        replace(station(amps=0.0, settings=auto), power_w=amps * 230.0, currents=(amps, 0, 0)),
        now - INTERVAL + 0.5,
    )
    status = control.step(now)
    assert status.state == SiteState.HOLDING_THROUGH_DIP
    assert status.decisions[0].phases == 1


@pytest.mark.parametrize(
    ("grid_w", "vehicles_w", "share"),
    [
        (-500.0, 4000.0, 1.0),  # export while charging: all of it from the site
        (0.0, 4000.0, 1.0),
        (1000.0, 4000.0, 0.75),  # import counted against the vehicle first
        (5000.0, 4000.0, 0.0),  # the house imports more than the vehicle draws
        (None, 4000.0, None),  # grid unknown
        (1000.0, 0.0, None),  # no vehicle draws power
        (float("nan"), 4000.0, None),
    ],
)
def test_surplus_share_counts_import_against_the_vehicles(
    grid_w: float | None, vehicles_w: float, share: float | None
) -> None:
    """The share of a vehicle's power the site makes itself, as evcc attributes it."""
    assert surplus_share(grid_w, vehicles_w) == share


def test_the_site_tells_the_surplus_share_of_its_vehicles() -> None:
    """Two vehicles drawing 8.28 kW together while the grid imports 2.07 kW: 75 % surplus."""
    control = SiteController(SiteSettings(control_interval_s=INTERVAL))
    control.feed_station(station("a", amps=6.0), 0.0)
    control.feed_station(station("b", amps=6.0), 0.0)
    assert control.surplus_share(1.0) is None  # no grid reading yet
    control.feed(Reading.GRID, 2 * MIN_3P / 4, 1.0)
    assert control.surplus_share(2.0) == pytest.approx(0.75)
    control.remove_station("b")
    assert control.surplus_share(2.0) == pytest.approx(0.5)


def test_the_site_logic_imports_no_home_assistant() -> None:
    """site_control.py and surplus.py import only the standard library and each other."""
    package = Path(__file__).parents[1] / "custom_components" / "keba"
    for name in ("site_control.py", "surplus.py"):
        tree = ast.parse((package / name).read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.level:
                assert node.module in ("surplus", "site_control"), (name, node.module)
            elif isinstance(node, ast.ImportFrom):
                assert node.module is not None
                assert node.module.split(".")[0] in sys.stdlib_module_names, (name, node.module)
            elif isinstance(node, ast.Import):
                for alias in node.names:
                    assert alias.name.split(".")[0] in sys.stdlib_module_names, (name, alias.name)
