"""What perfect foresight of the surplus would allow on a day: an offline bound for a controller.

A controller decides from what it has measured; it cannot know whether a cloud lasts 20 s or
10 min. This module knows the whole day in advance and finds, for a given number of
start/stop cycles, when a vehicle should charge: while charging it takes the surplus, at least
its minimum power and at most its maximum (the shortfall below the minimum comes from the
grid); while paused the surplus is exported. It maximises the energy from surplus minus
``weight`` × the grid import by dynamic programming over the seconds of the plug-in window,
for several weights, and reports the best share of surplus whose unused surplus stays within a
limit.

It ignores what a real controller has to live with (the 6–7 s current-change delay, whole
amperes, the control interval, the vehicle's capacity), so it is a bound, not a strategy: if
it meets a target that the controller misses, the gap is what knowing the future is worth.
"""

from __future__ import annotations

from dataclasses import dataclass
import math

from .plant import Day

#: Weights of grid import against energy from surplus, swept to trace the trade-off.
WEIGHTS = (1.0, 1.5, 2.0, 3.0, 5.0, 8.0, 12.0, 20.0)


@dataclass(frozen=True, slots=True)
class ForesightResult:
    """The best schedule found for a number of stops."""

    stops: int
    energy_kwh: float
    from_surplus_kwh: float
    import_kwh: float
    unused_kwh: float

    @property
    def surplus_share(self) -> float:
        """Share of the car's energy that came from surplus."""
        return self.from_surplus_kwh / self.energy_kwh if self.energy_kwh > 0 else math.nan


def _schedule(
    gain_on: list[float],
    from_surplus: list[float],
    imported: list[float],
    max_stops: int,
) -> tuple[float, float, int]:
    """Best (from surplus, import, stops) for at most ``max_stops`` on → off changes."""
    neg = -math.inf
    # value[k][state], state 0 paused, 1 charging; k = stops so far.
    value = [[neg, neg] for _ in range(max_stops + 1)]
    totals: list[list[tuple[float, float]]] = [
        [(0.0, 0.0), (0.0, 0.0)] for _ in range(max_stops + 1)
    ]
    value[0][0] = value[0][1] = 0.0  # the vehicle may charge from the moment it is plugged
    for i, gain in enumerate(gain_on):
        new_value = [[neg, neg] for _ in range(max_stops + 1)]
        new_totals = [[(0.0, 0.0), (0.0, 0.0)] for _ in range(max_stops + 1)]
        for k in range(max_stops + 1):
            # Paused now: it was paused, or it was charging and stopped (one more stop).
            stay, stop = value[k][0], value[k - 1][1] if k > 0 else neg
            if stay >= stop and stay > neg:
                new_value[k][0], new_totals[k][0] = stay, totals[k][0]
            elif stop > neg:
                new_value[k][0], new_totals[k][0] = stop, totals[k - 1][1]
            # Charging now: it was charging, or it was paused and starts.
            go, start = value[k][1], value[k][0]
            if go >= start and go > neg:
                best, (fs, imp) = go, totals[k][1]
            elif start > neg:
                best, (fs, imp) = start, totals[k][0]
            else:
                continue
            new_value[k][1] = best + gain
            new_totals[k][1] = (fs + from_surplus[i], imp + imported[i])
        value, totals = new_value, new_totals
    best_k, best_state = max(
        ((k, s) for k in range(max_stops + 1) for s in (0, 1)), key=lambda ks: value[ks[0]][ks[1]]
    )
    fs, imp = totals[best_k][best_state]
    return fs, imp, best_k


def best_with_foresight(
    day: Day, *, max_stops: int, max_unused_kwh: float, power_factor: float, voltage: float
) -> ForesightResult | None:
    """The highest share of surplus with at most ``max_stops`` stops and unused ≤ the limit.

    None when no weight gives a schedule within the unused limit.
    """
    plan = day.vehicle
    p_min = plan.phases * voltage * 6 * power_factor
    p_max = plan.phases * voltage * plan.max_current_a * power_factor
    window = range(plan.plug_in_s, plan.unplug_s)
    surplus = [max(0.0, day.pv_w[t] - day.house_w[t]) for t in window]
    power = [min(max(s, p_min), p_max) for s in surplus]
    from_surplus = [min(p, s) for p, s in zip(power, surplus, strict=True)]
    imported = [p - f for p, f in zip(power, from_surplus, strict=True)]
    takeable = sum(min(s, p_max) for s in surplus)
    best: ForesightResult | None = None
    for weight in WEIGHTS:
        gain = [f - weight * m for f, m in zip(from_surplus, imported, strict=True)]
        fs, imp, stops = _schedule(gain, from_surplus, imported, max_stops)
        # Unused while paused: what the vehicle could have taken (while charging it takes
        # everything up to its maximum, as the benchmark counts it).
        result = ForesightResult(
            stops=stops,
            energy_kwh=(fs + imp) / 3.6e6,
            from_surplus_kwh=fs / 3.6e6,
            import_kwh=imp / 3.6e6,
            unused_kwh=(takeable - fs) / 3.6e6,
        )
        if result.unused_kwh > max_unused_kwh + 1e-9:
            continue
        if best is None or result.surplus_share > best.surplus_share:
            best = result
    return best


__all__ = ["ForesightResult", "best_with_foresight"]
