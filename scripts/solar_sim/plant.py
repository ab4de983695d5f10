"""The site: photovoltaic production, the house's load and the vehicle's plan, per day.

Everything is a deterministic function of the day's name and a seed: one value per second of
the day (W), so every strategy sees exactly the same sun and the same appliances.

* PV: a clear-sky bell (sunrise 06:30, sunset 19:30, peak about 6.9 kW AC from a 7.5 kWp
  array) with a little ripple. The cloudy day multiplies it with a cloud factor: passages of
  20 s to 10 min that drop production to 15–40 % within seconds, brief cloud-edge enhancement
  above the clear-sky value, and longer overcast periods with flicker.
* House: a base load of 250–400 W wandering slowly, a fridge, a heat pump cycling at 1–2 kW, a
  kettle (2 kW, 3 min), an oven (2.5 kW, 45 min, thermostat cycling after heating up), a
  washing machine (heating, washing, spinning), a dishwasher on the cloudy day, cooking and
  evening lights.
"""

from __future__ import annotations

from dataclasses import dataclass
import itertools
import math
import random

DAY_S = 86_400
SUNRISE_S = 6.5 * 3600
SUNSET_S = 19.5 * 3600
#: AC peak of a 7.5 kWp array on a clear day.
PV_PEAK_W = 6_900.0


@dataclass(frozen=True, slots=True)
class VehiclePlan:
    """When the vehicle is plugged in and what it takes."""

    plug_in_s: int
    unplug_s: int
    phases: int
    max_current_a: float
    wanted_kwh: float


@dataclass(frozen=True, slots=True)
class Day:
    """One simulated day: per-second PV production and house load (W), and the vehicle."""

    name: str
    title: str
    pv_w: list[float]
    house_w: list[float]
    vehicle: VehiclePlan


def hhmm(seconds: float) -> str:
    """``seconds`` after midnight as ``HH:MM:SS``."""
    seconds = int(seconds)
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def _at(hours: float) -> int:
    return round(hours * 3600)


# ----------------------------------------------------------------------------------- PV
def _clear_sky(rng: random.Random, peak_w: float) -> list[float]:
    pv = [0.0] * DAY_S
    span = SUNSET_S - SUNRISE_S
    ripple = 0.0
    for t in range(DAY_S):
        x = (t - SUNRISE_S) / span
        if not 0.0 < x < 1.0:
            continue
        # A slow, small ripple (haze, temperature): ±1 %.
        ripple = 0.995 * ripple + 0.005 * rng.uniform(-1.0, 1.0)
        pv[t] = peak_w * math.sin(math.pi * x) ** 1.5 * (1.0 + 0.1 * ripple)
    return pv


def _ramp(factor: list[float], start: int, end: int, level: float, edge: int) -> None:
    """Multiply ``factor`` over [start, end) by ``level``, reached and left within ``edge`` s."""
    for t in range(max(0, start), min(DAY_S, end)):
        into = min(t - start, end - 1 - t)
        weight = 1.0 if edge <= 0 or into >= edge else (into + 1) / (edge + 1)
        factor[t] *= 1.0 - (1.0 - level) * weight


def _cloud_factor(rng: random.Random) -> list[float]:
    factor = [1.0] * DAY_S
    overcast = [(_at(9.6), _at(10.35)), (_at(12.9), _at(13.55)), (_at(16.2), _at(17.4))]
    for start, end in overcast:
        start += rng.randint(-600, 600)
        end += rng.randint(-600, 600)
        edge = rng.randint(60, 240)
        _ramp(factor, start, end, rng.uniform(0.22, 0.32), edge)
        # Flicker under the overcast: thinner and thicker patches every 10–60 s.
        t = start + edge
        while t < end - edge:
            length = rng.randint(10, 60)
            wobble = rng.uniform(0.85, 1.35)
            for u in range(t, min(end - edge, t + length)):
                factor[u] *= wobble
            t += length
    # Cloud passages, arriving every 2–9 min during daylight.
    t = int(SUNRISE_S) + rng.randint(300, 1200)
    while t < SUNSET_S:
        duration = round(math.exp(rng.uniform(math.log(20), math.log(600))))
        depth = rng.uniform(0.15, 0.40)
        edge = rng.randint(2, 15)
        _ramp(factor, t, t + duration, depth, edge)
        if rng.random() < 0.35:
            # Sunlight reflected off the cloud's edge: a short boost before or after it.
            boost_at = t - rng.randint(20, 60) if rng.random() < 0.5 else t + duration
            _ramp(factor, boost_at, boost_at + rng.randint(15, 50), rng.uniform(1.05, 1.2), 3)
        t += duration + rng.randint(120, 540)
    return [min(1.2, f) for f in factor]


# -------------------------------------------------------------------------------- house
def _add(load: list[float], start: int, duration: int, watts: float) -> None:
    for t in range(max(0, start), min(DAY_S, start + duration)):
        load[t] += watts


def _house(rng: random.Random, *, cloudy: bool) -> list[float]:
    load = [0.0] * DAY_S
    # Base load wandering between 250 and 400 W, a new level every 5 min, glided to.
    level = rng.uniform(250, 400)
    for start in range(0, DAY_S, 300):
        target = min(400.0, max(250.0, level + rng.uniform(-60, 60)))
        for t in range(start, start + 300):
            load[t] = level + (target - level) * (t - start) / 300
        level = target
    # Fridge: 90 W for 12 min every 40–50 min.
    t = rng.randint(0, 1800)
    while t < DAY_S:
        _add(load, t, 720, 90.0)
        t += rng.randint(2400, 3000)
    # Heat pump: 1–2 kW, on 15–30 min, off 25–70 min (more often on the cool, cloudy day).
    t = _at(5.0) + rng.randint(0, 1800)
    while t < _at(22.5):
        on = rng.randint(900, 1800)
        power = rng.uniform(1000, 2000)
        for u in range(t, min(DAY_S, t + on)):
            # Compressor start-up ramp over the first minute.
            load[u] += power * min(1.0, (u - t + 1) / 60)
        t += on + rng.randint(1500 if cloudy else 2700, 3000 if cloudy else 4200)
    # Kettle: 2 kW for 3 min.
    for hours in (6.9, 10.25, 15.6) if not cloudy else (7.1, 11.0, 16.1):
        _add(load, _at(hours) + rng.randint(-300, 300), 180, 2000.0)
    # Oven: 2.5 kW heating for 12 min, then the thermostat cycles it (45 min in all).
    oven = _at(11.75 if not cloudy else 17.2) + rng.randint(-300, 300)
    _add(load, oven, 720, 2500.0)
    t = oven + 720
    while t < oven + 2700:
        on = rng.randint(30, 90)
        _add(load, t, on, 2500.0)
        t += on + rng.randint(45, 120)
    # Washing machine: heating 2 kW for 15 min, washing 150–400 W for 50 min, spinning 500 W.
    wash = _at(10.0 if not cloudy else 13.0) + rng.randint(-600, 600)
    _add(load, wash, 900, 2000.0)
    for u in range(wash + 900, wash + 3900, 20):
        _add(load, u, 20, rng.uniform(150, 400))
    _add(load, wash + 3900, 600, 500.0)
    if cloudy:
        # Dishwasher: heating, washing, heating again for drying.
        dish = _at(8.8) + rng.randint(-300, 300)
        _add(load, dish, 1200, 2000.0)
        _add(load, dish + 1200, 1800, 150.0)
        _add(load, dish + 3000, 900, 2000.0)
    # Cooking in the evening, lights and TV.
    _add(load, _at(18.5) + rng.randint(-300, 300), 1800, rng.uniform(1500, 3000))
    _add(load, _at(19.0), _at(4.0), 200.0)
    return load


# --------------------------------------------------------------------------------- days
def make_day(name: str, seed: int) -> Day:
    """Build the day called ``name`` (``clear``, ``cloudy`` or ``cloudy3``)."""
    rng = random.Random(f"{name}/{seed}")
    if name == "clear":
        return Day(
            name=name,
            title="clear day, vehicle on 3 phases (16 A), wants 25 kWh",
            pv_w=_clear_sky(rng, PV_PEAK_W),
            house_w=_house(rng, cloudy=False),
            vehicle=VehiclePlan(
                plug_in_s=_at(7.5),
                unplug_s=_at(18.0),
                phases=3,
                max_current_a=16.0,
                wanted_kwh=25.0,
            ),
        )
    if name in ("cloudy", "cloudy3"):
        # Both cloudy days share their weather and house; only the vehicle differs.
        rng = random.Random(f"cloudy/{seed}")
        sky = _clear_sky(rng, PV_PEAK_W)
        factor = _cloud_factor(rng)
        three = name == "cloudy3"
        return Day(
            name=name,
            title=(
                "cloudy day with fast irradiance changes, vehicle on "
                + ("3 phases (16 A)" if three else "1 phase (16 A)")
                + ", wants 25 kWh"
            ),
            pv_w=[p * f for p, f in zip(sky, factor, strict=True)],
            house_w=_house(rng, cloudy=True),
            vehicle=VehiclePlan(
                plug_in_s=_at(7.5),
                unplug_s=_at(18.0),
                phases=3 if three else 1,
                max_current_a=16.0,
                wanted_kwh=25.0,
            ),
        )
    raise ValueError(f"unknown day {name!r}")


DAY_NAMES = ("clear", "cloudy", "cloudy3")


# ------------------------------------------------------------------------------ battery
@dataclass(slots=True)
class HomeBattery:
    """A hybrid inverter's battery: it absorbs export and covers import before the grid meter.

    Every second the inverter balances the site: what PV leaves over after the house and the
    vehicle charges the battery (up to its charge power and capacity), what they lack is
    discharged (up to its discharge power, down to its reserve); the grid meter sees only the
    rest. The round-trip efficiency is split evenly between charging and discharging.
    """

    capacity_wh: float
    soc_pct: float
    charge_limit_w: float = 5_000.0
    discharge_limit_w: float = 5_000.0
    round_trip_efficiency: float = 0.90
    reserve_pct: float = 5.0
    #: The last second's power (W, + charging).
    power_w: float = 0.0

    @property
    def energy_wh(self) -> float:
        """Energy stored (Wh)."""
        return self.capacity_wh * self.soc_pct / 100.0

    def power_for(self, balance_w: float, seconds: float = 1.0) -> float:
        """The power (W, + charging) the inverter gives the battery for ``balance_w``."""
        one_way = math.sqrt(self.round_trip_efficiency)
        stored = self.energy_wh
        if balance_w > 0:
            room_wh = self.capacity_wh - stored
            return min(balance_w, self.charge_limit_w, room_wh / one_way * 3600.0 / seconds)
        if balance_w < 0:
            usable_wh = max(0.0, stored - self.capacity_wh * self.reserve_pct / 100.0)
            return -min(-balance_w, self.discharge_limit_w, usable_wh * one_way * 3600.0 / seconds)
        return 0.0

    def step(self, balance_w: float, seconds: float = 1.0) -> float:
        """Balance ``balance_w`` (PV − loads, W) for ``seconds``; return the battery's power."""
        one_way = math.sqrt(self.round_trip_efficiency)
        power = self.power_for(balance_w, seconds)
        stored = self.energy_wh
        if power > 0:
            stored += power * one_way * seconds / 3600.0
        else:
            stored += power / one_way * seconds / 3600.0
        self.soc_pct = min(100.0, max(0.0, stored / self.capacity_wh * 100.0))
        self.power_w = power
        return power


def import_without_vehicle(day: Day, battery: HomeBattery | None) -> float:
    """The site's grid import over the day (kWh) had no vehicle charged (the counterfactual)."""
    total = 0.0
    for pv, house in zip(day.pv_w, day.house_w, strict=True):
        balance = pv - house
        flow = battery.step(balance) if battery is not None else 0.0
        total += max(0.0, -(balance - flow))
    return total / 3.6e6


# ---------------------------------------------------------------------- measured PV day
class PvCsvError(ValueError):
    """A PV CSV file that cannot be replayed; the message says where and why."""


#: The most a row may follow the previous one by, and the least.
CSV_MAX_STEP_S = 15 * 60
CSV_MIN_STEP_S = 1
#: Small negative readings (an inverter's standby at night) are taken as 0 W; below: an error.
CSV_NEGATIVE_TOLERANCE_W = -100.0
#: More than any home PV system produces (W): a unit mix-up (kW, Wh) rather than a reading.
CSV_MAX_W = 1_000_000.0


def _time_of_day(text: str) -> int:
    text = text.strip()
    # A local date and time (``2026-06-12 07:05:00``, ``2026-06-12T07:05``): its time of day.
    # One with a UTC offset or ``Z`` is refused: its time of day is not the local one.
    date, sep, clock = text.replace("T", " ", 1).partition(" ")
    if sep and date.count("-") == 2 and date.replace("-", "").isdigit():
        if "+" in clock or clock.endswith("Z") or clock.count("-"):
            raise ValueError
        text = clock.strip()
    parts = text.split(":")
    if len(parts) not in (2, 3) or not all(p.strip().isdigit() for p in parts):
        raise ValueError
    hours, minutes = int(parts[0]), int(parts[1])
    seconds = int(parts[2]) if len(parts) == 3 else 0
    if minutes > 59 or seconds > 59 or hours > 24 or (hours == 24 and (minutes or seconds)):
        raise ValueError
    return hours * 3600 + minutes * 60 + seconds


def read_pv_csv(text: str, name: str = "CSV") -> list[float]:
    """PV power (W) per second of the day from a ``time,pv_w`` CSV, linearly interpolated.

    The header names the columns ``time`` (local time of day, ``HH:MM`` or ``HH:MM:SS``) and
    ``pv_w`` (AC power, W), in any order, among others; rows follow each other by 1 s to
    15 min. Before the first row and after the last, the PV produces nothing.

    Also taken as a spreadsheet saves it: a byte order mark, columns separated by ``;`` (then
    a decimal comma, ``1234,5``) or by tabs, and local date-times (``2026-06-12 07:05:00``).
    """
    import csv
    import io

    text = text.removeprefix("\ufeff")
    first = next((line for line in text.splitlines() if line.strip()), "")
    delimiter = max((",", ";", "\t"), key=first.count)
    rows = list(csv.reader(io.StringIO(text), delimiter=delimiter))
    decimal_comma = delimiter != ","
    while rows and not any(cell.strip() for cell in rows[0]):
        rows.pop(0)
    if not rows:
        raise PvCsvError(f"{name}: empty; expected a header row with the columns time,pv_w")
    header = [cell.strip().lower() for cell in rows[0]]
    missing = [column for column in ("time", "pv_w") if column not in header]
    if missing:
        raise PvCsvError(
            f"{name}: line 1: no column {' and '.join(missing)} in the header "
            f"({delimiter.join(rows[0])}); expected the columns time,pv_w"
        )
    at_time, at_pv = header.index("time"), header.index("pv_w")
    points: list[tuple[int, float]] = []
    for number, row in enumerate(rows[1:], start=2):
        if not any(cell.strip() for cell in row):
            continue
        if len(row) <= max(at_time, at_pv):
            raise PvCsvError(f"{name}: line {number}: too few columns ({','.join(row)})")
        try:
            second = _time_of_day(row[at_time])
        except ValueError:
            raise PvCsvError(
                f"{name}: line {number}: time {row[at_time]!r} is not HH:MM or HH:MM:SS "
                "(local time of day, 00:00 to 24:00)"
            ) from None
        try:
            value = row[at_pv].strip()
            power = float(value.replace(",", ".") if decimal_comma else value)
        except ValueError:
            raise PvCsvError(
                f"{name}: line {number}: pv_w {row[at_pv]!r} is not a number (W)"
            ) from None
        if not math.isfinite(power) or power < CSV_NEGATIVE_TOLERANCE_W or power > CSV_MAX_W:
            raise PvCsvError(
                f"{name}: line {number}: pv_w {row[at_pv]} W is out of range "
                f"({CSV_NEGATIVE_TOLERANCE_W:.0f} to {CSV_MAX_W:.0f} W; is it in W?)"
            )
        if points:
            step = second - points[-1][0]
            if step < CSV_MIN_STEP_S:
                raise PvCsvError(
                    f"{name}: line {number}: time {row[at_time].strip()} does not follow the "
                    f"previous row's {_clock(points[-1][0])} (times must increase, one day only)"
                )
            if step > CSV_MAX_STEP_S:
                raise PvCsvError(
                    f"{name}: line {number}: {step // 60} min after the previous row "
                    f"({_clock(points[-1][0])} to {row[at_time].strip()}); at most 15 min between "
                    "rows (resample, e.g. with python -m scripts.solar_sim.ha_history)"
                )
        points.append((second, max(0.0, power)))
    if len(points) < 2:
        raise PvCsvError(f"{name}: needs at least two data rows, found {len(points)}")
    pv = [0.0] * DAY_S
    for (t0, p0), (t1, p1) in itertools.pairwise(points):
        for t in range(t0, min(t1, DAY_S)):
            pv[t] = p0 + (p1 - p0) * (t - t0) / (t1 - t0)
    last_t, last_p = points[-1]
    if last_t < DAY_S:
        pv[last_t] = last_p
    return pv


def _clock(second: int) -> str:
    return f"{second // 3600:02d}:{second % 3600 // 60:02d}:{second % 60:02d}"


def day_from_pv(name: str, pv_w: list[float], *, phases: int, house: str, seed: int) -> Day:
    """A day of measured PV with the synthetic day ``house``'s house load and vehicle plan."""
    if house not in ("clear", "cloudy"):
        raise ValueError(f"unknown house {house!r}")
    synthetic = make_day(house, seed)
    return Day(
        name=name,
        title=(
            f"PV from {name}, {house} day's house, vehicle on {phases} phase"
            f"{'s' if phases != 1 else ''} (16 A), wants 25 kWh"
        ),
        pv_w=pv_w,
        house_w=synthetic.house_w,
        vehicle=VehiclePlan(
            plug_in_s=_at(7.5),
            unplug_s=_at(18.0),
            phases=phases,
            max_current_a=16.0,
            wanted_kwh=25.0,
        ),
    )
