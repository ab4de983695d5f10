"""The charging site's control logic: sensor readings in, decisions per station out.

Pure logic without Home Assistant and without I/O, so that Home Assistant and the solar
benchmark run the very same code. One :class:`SiteController` per grid connection:

* the glue feeds it sensor readings with their time (:meth:`SiteController.feed`: grid power,
  home-battery power and state of charge, PV power, PV forecast; all in W or %, signs already
  normalised: grid import positive, battery charging positive) and each station's measurement
  (:meth:`SiteController.feed_station`);
* every control interval it calls :meth:`SiteController.step`, which averages the readings over
  the interval (time-weighted: a spike does not make a decision; a sensor unavailable for part
  of it is averaged over the rest), treats a sensor that stopped reporting as unknown (stale),
  lets the controller (:mod:`.surplus`) share the surplus between the stations by priority and
  returns a :class:`SiteStatus`: a decision per station, the site's state with a reason,
  the surplus and the battery's share of the current charge;
* between intervals :meth:`SiteController.react` lowers currents at once on a grid reading
  that shows import.

Dips (the surplus falling below a charging vehicle's minimum power) are decided by
:class:`LearnedDips` from what the day has shown: see its docstring.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from dataclasses import dataclass, field, replace
import enum
import logging
import math

from .surplus import (
    MIN_CHARGING_CURRENT,
    NOMINAL_VOLTAGE,
    BatterySettings,
    ChargingMode,
    ControllerState,
    Decision,
    DipContext,
    DipPolicy,
    DipVerdict,
    FixedDipBudget,
    SiteMeasurement,
    StationMeasurement,
    SurplusController,
    SurplusSettings,
)

_LOGGER = logging.getLogger(__name__)

#: A sensor that has not reported for this many control intervals (at least a minute) is stale.
STALE_INTERVALS = 6
STALE_MIN_S = 60.0

__all__ = [
    "MIN_CHARGING_CURRENT",
    "NOMINAL_VOLTAGE",
    "STALE_INTERVALS",
    "STALE_MIN_S",
    "Average",
    "BatterySettings",
    "ChargingMode",
    "ControllerState",
    "Decision",
    "LearnedDips",
    "Reading",
    "SiteController",
    "SiteSettings",
    "SiteState",
    "SiteStatus",
    "StationMeasurement",
    "SurplusSettings",
]


class Average:
    """Time-weighted average of a value over the current control interval.

    Only the time the value was known counts: a sensor that was unavailable for part of the
    interval is averaged over the rest, not diluted by zeros. Its last value holds until the
    next one (Home Assistant reports a sensor only when it updates).
    """

    def __init__(self) -> None:
        """Start unknown."""
        self.value: float | None = None
        #: When the value was last reported (changed or not).
        self.reported_at = -math.inf
        self._since = -math.inf
        self._integral = 0.0
        self._covered = 0.0

    def update(self, value: float | None, now: float) -> None:
        """A new value (None: unknown from now on)."""
        self._accumulate(now)
        if value is not None and not math.isfinite(value):
            value = None
        self.value = value
        if value is not None:
            self.reported_at = now

    def keep_alive(self, now: float) -> None:
        """The value was reported again unchanged: it is still fresh."""
        if self.value is not None:
            self.reported_at = now

    def _accumulate(self, now: float) -> None:
        if self.value is not None and now > self._since:
            self._integral += self.value * (now - self._since)
            self._covered += now - self._since
        self._since = max(self._since, now)

    def take(self, now: float, stale_after: float = math.inf) -> float | None:
        """The average since the last call; None when unknown now or stale."""
        self._accumulate(now)
        integral, covered = self._integral, self._covered
        self._integral = self._covered = 0.0
        if self.value is None or now - self.reported_at > stale_after:
            return None
        return integral / covered if covered > 0 else self.value

    def latest(self, now: float, stale_after: float = math.inf) -> float | None:
        """The latest value; None when unknown or stale."""
        if self.value is None or now - self.reported_at > stale_after:
            return None
        return self.value


class Reading(enum.StrEnum):
    """A site sensor the glue feeds."""

    #: W, import positive.
    GRID = "grid"
    #: W, charging positive.
    BATTERY_POWER = "battery_power"
    #: %.
    BATTERY_SOC = "battery_soc"
    #: W, PV production (AC).
    PV_POWER = "pv_power"
    #: W, the PV production the forecast expects now.
    PV_FORECAST = "pv_forecast"


class SiteState(enum.StrEnum):
    """What the site is doing, for its state entity."""

    IDLE = "idle"
    WAITING_FOR_SURPLUS = "waiting_for_surplus"
    STARTING = "starting"
    CHARGING_FROM_SURPLUS = "charging_from_surplus"
    BATTERY_BRIDGING = "battery_bridging"
    HOLDING_THROUGH_DIP = "holding_through_dip"
    PAUSED = "paused"
    CHARGING_AT_MINIMUM = "charging_at_minimum"
    FAST = "fast"
    GRID_SENSOR_UNAVAILABLE = "grid_sensor_unavailable"


#: Which station state speaks for the site, most telling first.
_SITE_ORDER: tuple[tuple[ControllerState, SiteState], ...] = (
    (ControllerState.GRID_SENSOR_UNAVAILABLE, SiteState.GRID_SENSOR_UNAVAILABLE),
    (ControllerState.BATTERY_BRIDGING, SiteState.BATTERY_BRIDGING),
    (ControllerState.HOLDING_THROUGH_DIP, SiteState.HOLDING_THROUGH_DIP),
    (ControllerState.PAUSED, SiteState.PAUSED),
    (ControllerState.CHARGING_FROM_SURPLUS, SiteState.CHARGING_FROM_SURPLUS),
    (ControllerState.CHARGING_AT_MINIMUM, SiteState.CHARGING_AT_MINIMUM),
    (ControllerState.STARTING, SiteState.STARTING),
    (ControllerState.WAITING_FOR_SURPLUS, SiteState.WAITING_FOR_SURPLUS),
    (ControllerState.FAST, SiteState.FAST),
)


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteSettings:
    """Settings of one charging site (one grid connection)."""

    #: Seconds between control steps (the glue's timer; staleness is judged against it).
    control_interval_s: float = 10.0
    #: The home battery's settings; None: no battery, or it never counts beyond its power.
    battery: BatterySettings | None = None

    @property
    def stale_after_s(self) -> float:
        """A sensor silent for longer than this is unknown."""
        return max(STALE_MIN_S, STALE_INTERVALS * self.control_interval_s)


@dataclass(frozen=True, slots=True)
class SiteStatus:
    """The outcome of one control step."""

    state: SiteState
    #: Why, in a few words (also logged at debug level when it changes).
    reason: str
    #: Surplus available to the regulated stations (W); None: grid unknown.
    surplus_w: float | None
    #: Share (0–1) of the vehicles' power the home battery supplies now; None: no battery.
    battery_share: float | None
    decisions: tuple[Decision, ...]


# ----------------------------------------------------------------------- dip decisions
#: Dips assumed before the day has shown any (s): a spread from a passing cloud to a front.
PRIOR_DIPS_S = (30.0, 90.0, 240.0, 600.0)
#: Weight of the whole prior, against one dip seen today (a recent one counts twice).
PRIOR_WEIGHT = 2.0
RECENT_S = 3600.0
RECENT_WEIGHT = 2.0
#: Dips that ended longer ago than this are forgotten (the weather changes).
MEMORY_S = 6 * 3600.0
#: A dip counts up to this long (a whole overcast afternoon would swamp the statistics).
DIP_CAP_S = 1800.0
#: What a pause costs besides its restart: a start/stop cycle, as this many seconds at the
#: minimum power.
STOP_PENALTY_S = 60.0
#: After a dip, a paused vehicle waits the start delay plus this (command, ramp) before it
#: charges again: the surplus of that time is lost.
RESTART_LAG_S = 20.0
#: The PV forecast: production under this share of it for the variability window means
#: overcast (long dips); the expected rest of a dip is then taken this much longer.
OVERCAST_SHARE = 0.45
OVERCAST_FACTOR = 2.0
#: Window of the PV variability (s).
VARIABILITY_S = 900.0


@dataclass(slots=True)
class _DipTrack:
    """One station's dips today."""

    in_dip_since: float | None = None
    #: Seen enough surplus at least once (the day's first dip starts only after).
    had_surplus: bool = False
    #: (ended at, lasted s).
    dips: deque[tuple[float, float]] = field(default_factory=deque)


class LearnedDips:
    """Hold or pause in a dip, from what the day has shown so far.

    Every control step it records, per station, when the surplus available to the station is
    below its minimum power (a dip) and how long each dip of the day lasted (after the first
    surplus of the day, capped at 30 min, forgotten after 6 h; a dip of the last hour counts
    twice). In a dip, with the vehicle charging at its minimum, it estimates how much longer
    the dip lasts from the dips of the day that lasted at least as long as this one has (plus
    a small prior: 30 s, 1.5, 4 and 10 min): the mean of what remained of them. When none of
    them lasted so long, the dip is assumed to last as long again as it has. Where the PV
    production has stayed under 45 % of the forecast for 15 min (overcast), the estimate is
    doubled.

    Holding costs the shortfall (the import) times that estimate. Pausing costs a start/stop
    cycle (counted as a minute at the minimum power) and the surplus lost while the vehicle
    waits the start delay after the dip. It holds while holding is cheaper, and never beyond
    the stop delay unless the session's import stays under 4 % of its surplus energy.
    """

    def __init__(self) -> None:
        """Start with no dip seen."""
        self._tracks: dict[str, _DipTrack] = {}
        self._pv: deque[tuple[float, float]] = deque()
        self._forecast: float | None = None

    def observe_pv(self, now: float, pv_w: float | None, forecast_w: float | None) -> None:
        """The PV production and the forecast's value at a control step (None: unknown)."""
        self._forecast = forecast_w
        if pv_w is None:
            return
        self._pv.append((now, pv_w))
        while self._pv and self._pv[0][0] < now - VARIABILITY_S:
            self._pv.popleft()

    def observe(self, now: float, key: str, available_w: float, min_power_w: float) -> None:
        """Record whether the station's surplus is in a dip."""
        track = self._tracks.setdefault(key, _DipTrack())
        while track.dips and track.dips[0][0] < now - MEMORY_S:
            track.dips.popleft()
        if available_w < min_power_w:
            if track.in_dip_since is None and track.had_surplus:
                track.in_dip_since = now
            return
        track.had_surplus = True
        if track.in_dip_since is not None:
            track.dips.append((now, min(DIP_CAP_S, now - track.in_dip_since)))
            track.in_dip_since = None

    def dips_today(self, key: str) -> list[float]:
        """The durations (s) of the station's dips remembered."""
        track = self._tracks.get(key)
        return [lasted for _, lasted in track.dips] if track else []

    def variability(self) -> float | None:
        """Coefficient of variation of the PV production over the last 15 min."""
        values = [pv for _, pv in self._pv]
        if len(values) < 3:
            return None
        mean = sum(values) / len(values)
        if mean <= 0:
            return None
        spread = math.sqrt(sum((v - mean) ** 2 for v in values) / len(values))
        return spread / mean

    def _overcast(self) -> bool:
        if self._forecast is None or self._forecast <= 0 or len(self._pv) < 3:
            return False
        covered = self._pv[-1][0] - self._pv[0][0]
        return covered >= VARIABILITY_S * 0.8 and all(
            pv < OVERCAST_SHARE * self._forecast for _, pv in self._pv
        )

    def expected_rest(self, now: float, key: str, elapsed: float) -> tuple[float, str]:
        """Seconds the dip is expected to last still, and what the estimate rests on."""
        weights: list[tuple[float, float]] = [
            (d, PRIOR_WEIGHT / len(PRIOR_DIPS_S)) for d in PRIOR_DIPS_S
        ]
        track = self._tracks.get(key)
        seen = list(track.dips) if track else []
        weights += [
            (lasted, RECENT_WEIGHT if now - ended <= RECENT_S else 1.0) for ended, lasted in seen
        ]
        longer = [(d, w) for d, w in weights if d > elapsed]
        total = sum(w for _, w in longer)
        if total > 0:
            rest = sum((d - elapsed) * w for d, w in longer) / total
            longer_today = sum(1 for _, d in seen if d > elapsed)
            basis = f"{len(seen)} dips today, {longer_today} lasted longer"
        else:
            rest = max(elapsed, 60.0)
            basis = f"longer than all {len(seen)} dips today"
        if self._overcast():
            rest *= OVERCAST_FACTOR
            basis += ", overcast (PV far under the forecast)"
        return rest, basis

    def decide(self, context: DipContext) -> DipVerdict:
        """Hold while the expected import of holding costs less than a pause."""
        settings = context.settings
        elapsed = context.now - context.since
        credit = 0.04 * context.session_surplus_ws - context.session_import_ws
        if elapsed >= settings.stop_delay_s and credit <= 0 and context.shortfall_w > 0:
            return DipVerdict(False, f"dip lasted {elapsed:.0f} s, the stop delay")
        if context.shortfall_w <= 0:
            return DipVerdict(True, "dip costs no import")
        if elapsed <= 0:
            # One averaged interval may have caught only the edge of a change: look again.
            return DipVerdict(True, "hold: dip just began")
        rest, basis = self.expected_rest(context.now, context.key, elapsed)
        hold_cost = context.shortfall_w * rest
        pause_cost = context.min_power_w * (STOP_PENALTY_S + settings.start_delay_s + RESTART_LAG_S)
        numbers = (
            f"expected {rest:.0f} s more ({basis}): holding imports ~{hold_cost / 3600:.0f} Wh, "
            f"a pause costs ~{pause_cost / 3600:.0f} Wh"
        )
        if hold_cost > pause_cost + max(0.0, credit):
            return DipVerdict(False, "pause: " + numbers)
        return DipVerdict(True, "hold: " + numbers)


# ------------------------------------------------------------------------- the site
@dataclass(slots=True)
class _Station:
    measurement: StationMeasurement
    power: Average = field(default_factory=Average)


class SiteController:
    """One grid connection: its sensors, its stations and the controller sharing its surplus."""

    def __init__(
        self, settings: SiteSettings | None = None, *, dip_policy: DipPolicy | None = None
    ) -> None:
        """Start with no reading and no station."""
        self.settings = settings or SiteSettings()
        self.dips: DipPolicy = dip_policy if dip_policy is not None else FixedDipBudget()
        self.controller = SurplusController(self.dips)
        self._readings = {reading: Average() for reading in Reading}
        self._stations: dict[str, _Station] = {}
        self._last_reason: str | None = None
        self.status: SiteStatus | None = None

    # ------------------------------------------------------------------ inputs
    def update_settings(self, settings: SiteSettings) -> None:
        """New site settings (the learned dips and the stations' memory stay)."""
        self.settings = settings

    def feed(self, reading: Reading, value: float | None, now: float) -> None:
        """A sensor's new value (None: unavailable) at ``now`` (monotonic seconds)."""
        self._readings[reading].update(value, now)

    def keep_alive(self, reading: Reading, now: float) -> None:
        """A sensor reported its value again, unchanged: it is not stale."""
        self._readings[reading].keep_alive(now)

    def latest(self, reading: Reading, now: float) -> float | None:
        """A sensor's latest value, None when unknown or stale."""
        return self._readings[reading].latest(now, self.settings.stale_after_s)

    def feed_station(self, measurement: StationMeasurement, now: float) -> None:
        """A station's latest measurement; its power is averaged over the interval."""
        entry = self._stations.get(measurement.key)
        if entry is None:
            entry = self._stations[measurement.key] = _Station(measurement)
        entry.measurement = measurement
        entry.power.update(measurement.power_w, now)

    def remove_station(self, key: str) -> None:
        """A station left the site (or cannot be reached): not part of the next steps."""
        self._stations.pop(key, None)

    def forget(self, key: str) -> None:
        """Drop a station and the controller's memory of it."""
        self.remove_station(key)
        self.controller.forget(key)

    # ------------------------------------------------------------------- steps
    def _site(self, grid: float | None, now: float, *, averaged: bool) -> SiteMeasurement:
        stale = self.settings.stale_after_s
        if averaged:
            battery = self._readings[Reading.BATTERY_POWER].take(now, stale)
            soc = self._readings[Reading.BATTERY_SOC].take(now, stale)
        else:
            battery = self.latest(Reading.BATTERY_POWER, now)
            soc = self.latest(Reading.BATTERY_SOC, now)
        return SiteMeasurement(
            grid_power_w=grid,
            battery_power_w=battery,
            battery_soc=soc,
            battery=self.settings.battery,
        )

    def step(self, now: float) -> SiteStatus:
        """One control interval: average, decide, and say why."""
        stale = self.settings.stale_after_s
        grid = self._readings[Reading.GRID].take(now, stale)
        site = self._site(grid, now, averaged=True)
        pv = self._readings[Reading.PV_POWER].take(now, stale)
        forecast = self._readings[Reading.PV_FORECAST].take(now, stale)
        if isinstance(self.dips, LearnedDips):
            self.dips.observe_pv(now, pv, forecast)
        measurements = [
            replace(entry.measurement, power_w=entry.power.take(now) or 0.0)
            for entry in self._stations.values()
        ]
        decisions = tuple(self.controller.step(now, site, measurements))
        status = self._status(site, measurements, decisions)
        if status.reason != self._last_reason:
            _LOGGER.debug("Charging site: %s (%s)", status.state.value, status.reason)
            self._last_reason = status.reason
        self.status = status
        return status

    def react(self, now: float) -> list[Decision]:
        """Lower at once on the latest grid reading if it shows import (see ``react``)."""
        grid = self.latest(Reading.GRID, now)
        if grid is None:
            return []
        site = self._site(grid, now, averaged=False)
        measurements = [entry.measurement for entry in self._stations.values()]
        return self.controller.react(now, site, measurements)

    def _status(
        self,
        site: SiteMeasurement,
        measurements: Iterable[StationMeasurement],
        decisions: tuple[Decision, ...],
    ) -> SiteStatus:
        surplus = next((d.surplus_w for d in decisions), None)
        if site.grid_power_w is None:
            surplus = None
        elif surplus is None:
            surplus = -site.grid_power_w
        drawn = sum(
            max(0.0, m.power_w)
            for m in measurements
            if m.mode in (ChargingMode.SOLAR, ChargingMode.MIN_SOLAR)
        )
        share: float | None = None
        if site.battery_power_w is not None:
            discharge = max(0.0, -site.battery_power_w)
            share = min(1.0, discharge / drawn) if drawn > 0 else 0.0
        for controller_state, site_state in _SITE_ORDER:
            deciding = [d for d in decisions if d.state == controller_state]
            if deciding:
                reason = deciding[0].reason or controller_state.value.replace("_", " ")
                if len(decisions) > 1:
                    reason = f"{deciding[0].key}: {reason}"
                return SiteStatus(site_state, reason, surplus, share, decisions)
        reason = "no station regulated" if not decisions else "no vehicle"
        return SiteStatus(SiteState.IDLE, reason, surplus, share, decisions)
