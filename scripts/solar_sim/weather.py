"""Realistic PV days as ``time,pv_w`` CSV files, to check the controller beyond the fixed days.

A clear-sky curve for a June day in central Europe (sunrise about 05:10, sunset about 21:30
local time, a 7.5 kWp array peaking near 6.9 kW AC) times a cloud process of alternating sunny
and shaded spells, each spell's length drawn from a log-normal distribution (minute-scale dips
of varied length, a few long ones), the shade's depth from a range, with edge enhancement after
some clouds. Averaged to one row per minute, as measured irradiance usually comes::

    python -m scripts.solar_sim.weather KIND OUT.csv [--seed N]

KIND: ``clear``; ``broken`` (fair-weather cumulus: sunny spells of a few minutes, short
shade); ``broken-heavy`` (more cloud than sun, shade of 1–10 min); ``overcast-gaps`` (overcast
with sunny gaps of 2–20 min). Not one of the benchmark's days: their parameters are chosen
apart from them.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
import math
from pathlib import Path
import random
import sys

DAY_S = 86_400
SUNRISE_S = 5 * 3600 + 10 * 60
SUNSET_S = 21 * 3600 + 30 * 60
PEAK_W = 6_900.0


@dataclass(frozen=True, slots=True)
class Clouds:
    """Spell lengths (median s, log-normal sigma) and the shade's depth range."""

    sun_median_s: float
    sun_sigma: float
    shade_median_s: float
    shade_sigma: float
    depth: tuple[float, float]
    #: Chance of a brief enhancement above clear sky at a cloud's edge.
    edge_chance: float = 0.3


KINDS: dict[str, Clouds | None] = {
    "clear": None,
    "broken": Clouds(240.0, 0.9, 75.0, 0.9, (0.25, 0.5)),
    "broken-heavy": Clouds(120.0, 0.8, 200.0, 1.0, (0.15, 0.4)),
    "overcast-gaps": Clouds(420.0, 0.6, 1_500.0, 0.7, (0.18, 0.3), edge_chance=0.1),
}


def clear_sky(second: int) -> float:
    """AC power (W) under a clear sky."""
    x = (second - SUNRISE_S) / (SUNSET_S - SUNRISE_S)
    if not 0.0 < x < 1.0:
        return 0.0
    return PEAK_W * math.sin(math.pi * x) ** 1.6


def pv_day(kind: str, seed: int) -> list[float]:
    """PV power (W) per second."""
    clouds = KINDS[kind]
    rng = random.Random(f"weather/{kind}/{seed}")
    factor = [1.0] * DAY_S
    haze = 0.0
    for t in range(DAY_S):
        haze = 0.998 * haze + 0.002 * rng.uniform(-1.0, 1.0)
        factor[t] = 0.97 + 0.1 * haze
    if clouds is not None:
        t = SUNRISE_S + rng.randint(0, 1800)
        shaded = rng.random() < 0.5
        while t < SUNSET_S:
            if shaded:
                length = round(
                    rng.lognormvariate(math.log(clouds.shade_median_s), clouds.shade_sigma)
                )
                length = max(10, min(length, 3 * 3600))
                depth = rng.uniform(*clouds.depth)
                edge = rng.randint(3, 20)
                for u in range(t, min(DAY_S, t + length)):
                    into = min(u - t, t + length - 1 - u)
                    weight = 1.0 if into >= edge else (into + 1) / (edge + 1)
                    # Thicker and thinner patches within the shade.
                    factor[u] *= 1.0 - (1.0 - depth * rng.uniform(0.85, 1.15)) * weight
                if rng.random() < clouds.edge_chance:
                    for u in range(t + length, min(DAY_S, t + length + rng.randint(10, 40))):
                        factor[u] *= rng.uniform(1.05, 1.15)
            else:
                length = round(rng.lognormvariate(math.log(clouds.sun_median_s), clouds.sun_sigma))
                length = max(10, min(length, 2 * 3600))
            t += length
            shaded = not shaded
    return [clear_sky(t) * f for t, f in enumerate(factor)]


def to_csv(pv: list[float]) -> str:
    """One row per minute: the minute's mean."""
    lines = ["time,pv_w"]
    for minute in range(24 * 60):
        chunk = pv[minute * 60 : minute * 60 + 60]
        lines.append(f"{minute // 60:02d}:{minute % 60:02d},{sum(chunk) / len(chunk):.0f}")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    """Write one day."""
    parser = argparse.ArgumentParser(
        prog="python -m scripts.solar_sim.weather", description=__doc__.split("\n")[0]
    )
    parser.add_argument("kind", choices=sorted(KINDS))
    parser.add_argument("out", type=Path)
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args(argv)
    args.out.write_text(to_csv(pv_day(args.kind, args.seed)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
