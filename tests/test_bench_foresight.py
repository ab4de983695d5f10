"""The solar benchmark's perfect-foresight bound, on days small enough to check by hand."""

from __future__ import annotations

import pytest

from scripts.solar_sim.foresight import ForesightResult, best_with_foresight
from scripts.solar_sim.plant import Day, VehiclePlan

#: One phase at 230 V, power factor 1: 6 A = 1380 W, 16 A = 3680 W.
P_MIN, P_MAX = 1380.0, 3680.0


def _day(surplus: list[float]) -> Day:
    """A day of ``len(surplus)`` seconds with no house load and the vehicle plugged throughout."""
    return Day(
        name="test",
        title="test",
        pv_w=surplus,
        house_w=[0.0] * len(surplus),
        vehicle=VehiclePlan(
            plug_in_s=0, unplug_s=len(surplus), phases=1, max_current_a=16.0, wanted_kwh=100.0
        ),
    )


def _bound(surplus: list[float], stops: int, unused_kwh: float = 100.0) -> ForesightResult | None:
    return best_with_foresight(
        _day(surplus), max_stops=stops, max_unused_kwh=unused_kwh, power_factor=1.0, voltage=230.0
    )


def test_a_long_dark_spell_is_paused_when_a_stop_is_allowed() -> None:
    """Sun, one hour without surplus, sun: with one stop the dark hour imports nothing."""
    surplus = [3000.0] * 3600 + [0.0] * 3600 + [3000.0] * 3600
    bound = _bound(surplus, stops=1)
    assert bound is not None
    assert bound.stops == 1
    assert bound.import_kwh == pytest.approx(0.0)
    assert bound.from_surplus_kwh == pytest.approx(6.0)
    assert bound.surplus_share == pytest.approx(1.0)


def test_without_stops_the_dark_spell_is_charged_through_or_never_started() -> None:
    """No stop allowed: either the minimum from the grid for an hour, or charging ends early.

    Charging only after the dark hour (no stop needed) gives 3 kWh at 100 %; that beats
    6 kWh with 1.38 kWh of import once import weighs more than about 2.2 × surplus, and
    loses for lighter weights — the best share is the pure one.
    """
    surplus = [3000.0] * 3600 + [0.0] * 3600 + [3000.0] * 3600
    bound = _bound(surplus, stops=0)
    assert bound is not None
    assert bound.stops == 0
    assert bound.surplus_share == pytest.approx(1.0)
    assert bound.unused_kwh == pytest.approx(3.0)  # the first sunny hour, paused


def test_the_unused_limit_picks_the_schedule_that_uses_more() -> None:
    """Asking for little unused surplus forces charging through the dark hour (import)."""
    surplus = [3000.0] * 3600 + [0.0] * 3600 + [3000.0] * 3600
    bound = _bound(surplus, stops=0, unused_kwh=0.5)
    assert bound is not None
    assert bound.unused_kwh == pytest.approx(0.0)
    assert bound.import_kwh == pytest.approx(P_MIN / 1000.0)
    assert bound.surplus_share == pytest.approx(6.0 / (6.0 + P_MIN / 1000.0))


def test_surplus_above_the_maximum_is_not_counted_as_taken() -> None:
    """Above 16 A the vehicle takes its maximum; the rest is not the controller's to use."""
    bound = _bound([5000.0] * 3600, stops=0)
    assert bound is not None
    assert bound.from_surplus_kwh == pytest.approx(P_MAX / 1000.0)
    assert bound.unused_kwh == pytest.approx(0.0)
