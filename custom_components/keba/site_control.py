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
    DIP_TOLERANCE,
    MIN_CHARGING_CURRENT,
    NOMINAL_VOLTAGE,
    BatterySettings,
    ChargingMode,
    ControllerState,
    Decision,
    DipContext,
    DipPolicy,
    DipReason,
    DipVerdict,
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
    #: A member station's phase switch or vehicle did not follow a switch: switching stopped
    #: until the vehicle is unplugged (set by the Home Assistant glue, which runs the switch).
    PHASE_SWITCHING_STOPPED = "phase_switching_stopped"


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
#: A dip's import budget, as seconds at the minimum power per second of the stop delay (the
#: user's stop delay says what a start/stop cycle is worth to them).
BUDGET_SHARE = 0.4
#: On three phases a dip's budget time is this share of one phase's: a hold there imports three
#: times as fast, while a start/stop costs the station and the vehicle the same on either
#: (measured on the benchmark's 3-phase days: +1 point from surplus for +0.6 start/stops).
THREE_PHASE_BUDGET = 0.9
#: The day's dips: those that ended longer ago than this are forgotten (the weather changes).
MEMORY_S = 3 * 3600.0
#: At least this many dips of the day before they change the budget.
MIN_DIPS = 3
#: Most of the day's dips outlasted the budget: long dips, the budget shrinks to this; few did
#: (under a fifth): short dips, it grows to this.
LONG_DAY_FACTOR = 0.75
SHORT_DAY_FACTOR = 1.3
LONG_SHARE, SHORT_SHARE = 0.5, 0.2
#: PV production under this share of the forecast over the variability window: overcast.
OVERCAST_SHARE = 0.45
OVERCAST_FACTOR = 0.5
#: Window of the PV variability (s); a coefficient of variation above this: broken clouds
#: (dips are short), below a tenth of it with PV well under its peak of the window: overcast.
VARIABILITY_S = 900.0
BROKEN_CV = 0.25
BROKEN_FACTOR = 1.2
#: Pauses in the last hour from which each further one is dearer: the budget grows by this
#: factor per pause beyond them (start/stops add up on a day of many clouds).
PAUSES_FREE = 2
PAUSE_FACTOR = 1.25
PAUSE_WINDOW_S = 3600.0
#: A session that took plenty from surplus may hold past the stop delay while its import stays
#: under this share of its surplus energy.
SESSION_IMPORT_SHARE = 0.04


@dataclass(slots=True)
class _DipTrack:
    """One station's dips today."""

    in_dip_since: float | None = None
    #: Seen enough surplus at least once (the day's first dip starts only after).
    had_surplus: bool = False
    #: (ended at, lasted s).
    dips: deque[tuple[float, float]] = field(default_factory=deque)
    #: When the vehicle was paused for a dip.
    pauses: deque[float] = field(default_factory=deque)


class LearnedDips:
    """Hold or pause in a dip, with a budget learned from the day so far.

    A vehicle charging from surplus holds its minimum current through a dip (the surplus below
    its minimum power) while the dip's import stays within a budget, and at most for the stop
    delay (longer only while the session's import stays under 4 % of its surplus energy).
    The budget starts as what 40 % of the stop delay at the minimum power imports (on three
    phases 90 % of that time: a hold imports three times as fast, a start/stop costs the same),
    and is scaled by what the day has shown:

    * the day's dips (each station's surplus below its minimum, recorded at every step,
      charging or not, for the last 3 h): when most outlasted the budget's time, the budget
      shrinks by a quarter (long dips: pause earlier); when under a fifth did, it grows by
      30 % (short dips: hold, spare a start/stop);
    * the day's pauses: from the third within an hour, each makes the budget 25 % larger;
    * the PV production (with a PV sensor): a coefficient of variation over 15 min above 0.25
      means broken clouds (short dips, +20 %); with a forecast, production under 45 % of it
      for the whole 15 min means overcast (long dips, half the budget);
    * the home battery: above its buffer SoC it bridges the dip (no budget used); below, while
      it covers the shortfall, the dip is held up to the stop delay;
    * a phase switch (three phases, with a switch to one to come once the minimum time between
      switches allows it): the dip is held only if holding three phases until then fits the
      budget of a dip held on one phase, else it pauses at once.

    The verdict's reason says which of these applied.
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
        if available_w < min_power_w * (1 - DIP_TOLERANCE):
            if track.in_dip_since is None and track.had_surplus:
                track.in_dip_since = now
            return
        track.had_surplus = True
        if track.in_dip_since is not None:
            track.dips.append((now, now - track.in_dip_since))
            track.in_dip_since = None

    def dips_today(self, key: str) -> list[float]:
        """The durations (s) of the station's dips remembered."""
        track = self._tracks.get(key)
        return [lasted for _, lasted in track.dips] if track else []

    def variability(self) -> float | None:
        """Coefficient of variation of the PV production over the last 15 min."""
        values = [pv for _, pv in self._pv]
        if len(values) < 3 or self._pv[-1][0] - self._pv[0][0] < VARIABILITY_S * 0.8:
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

    def budget_factor(
        self, key: str, budget_s: float, now: float | None = None
    ) -> tuple[float, str]:
        """How the day scales the budget, and why."""
        factor, why = 1.0, []
        track = self._tracks.get(key)
        if track is not None and now is not None:
            while track.pauses and track.pauses[0] < now - PAUSE_WINDOW_S:
                track.pauses.popleft()
            extra = len(track.pauses) - PAUSES_FREE
            if extra > 0:
                factor *= PAUSE_FACTOR**extra
                why.append(f"{len(track.pauses)} pauses in the last hour")
        dips = self.dips_today(key)
        if len(dips) >= MIN_DIPS:
            long_share = sum(1 for d in dips if d > budget_s) / len(dips)
            if long_share > LONG_SHARE:
                factor *= LONG_DAY_FACTOR
                why.append(f"{long_share:.0%} of {len(dips)} dips today were long")
            elif long_share < SHORT_SHARE:
                factor *= SHORT_DAY_FACTOR
                why.append(f"{1 - long_share:.0%} of {len(dips)} dips today were short")
            else:
                why.append(f"{long_share:.0%} of {len(dips)} dips today were long: no change")
        if self._overcast():
            factor *= OVERCAST_FACTOR
            why.append("overcast: PV under 45 % of the forecast")
        else:
            cv = self.variability()
            if cv is not None and cv > BROKEN_CV:
                factor *= BROKEN_FACTOR
                why.append(f"broken clouds: PV varies by {cv:.0%}")
        return factor, ", ".join(why) or "nothing learned yet"

    def decide(self, context: DipContext) -> DipVerdict:
        """Hold while the dip's import is within the day's budget and the stop delay."""
        settings = context.settings
        elapsed = context.now - context.since
        if context.shortfall_w <= 0:
            return DipVerdict(True, "hold: the dip costs no import", DipReason.NO_IMPORT)
        if (
            context.battery_w > 0
            and context.shortfall_w - context.battery_w <= context.min_power_w * DIP_TOLERANCE
        ):
            # Below its buffer SoC the battery is the house's, but it covers the dip for now:
            # held up to the stop delay, as a dip without a battery is.
            if elapsed < settings.stop_delay_s:
                return DipVerdict(
                    True,
                    "hold: the battery covers the dip, up to the stop delay",
                    DipReason.BATTERY_COVERS,
                )
            return DipVerdict(
                False,
                "pause: the battery covered the dip for the stop delay",
                DipReason.BATTERY_STOP_DELAY,
            )
        credit = SESSION_IMPORT_SHARE * context.session_surplus_ws - context.session_import_ws
        if elapsed >= settings.stop_delay_s and credit <= 0:
            self._tracks.setdefault(context.key, _DipTrack()).pauses.append(context.now)
            return DipVerdict(
                False,
                f"pause: the dip lasted the stop delay ({elapsed:.0f} s)",
                DipReason.STOP_DELAY,
                imported_wh=context.import_ws / 3600.0,
            )
        one_phase_s = budget_s = settings.stop_delay_s * BUDGET_SHARE
        one_phase_w = context.one_phase_min_power_w
        if one_phase_w and context.min_power_w > 1.5 * one_phase_w:
            budget_s *= THREE_PHASE_BUDGET
        factor, why = self.budget_factor(context.key, budget_s, context.now)
        wait = context.fewer_phases_in_s
        if wait is not None and wait > 0 and one_phase_w:
            # On three phases until the phase switch may go to one: holding until then must
            # fit the budget of a dip held on one phase, else the dip pauses now (and the
            # switch to one phase happens paused, where it costs no start/stop).
            one_phase_budget = one_phase_w * one_phase_s * factor
            projected = context.import_ws + context.shortfall_w * wait
            if projected > one_phase_budget + max(0.0, credit):
                self._tracks.setdefault(context.key, _DipTrack()).pauses.append(context.now)
                return DipVerdict(
                    False,
                    f"pause: holding three phases until a switch to one is allowed "
                    f"(in {wait:.0f} s) would import {projected / 3600:.0f} Wh, over the "
                    f"one-phase budget of {one_phase_budget / 3600:.0f} Wh ({why})",
                    DipReason.PHASE_SWITCH_WAIT,
                    imported_wh=projected / 3600.0,
                    budget_wh=one_phase_budget / 3600.0,
                )
        budget = context.min_power_w * budget_s * factor
        used = context.import_ws / 3600.0
        numbers = f"dip imported {used:.0f} of {budget / 3600:.0f} Wh budget ({why})"
        amounts = {"imported_wh": used, "budget_wh": budget / 3600.0}
        if context.import_ws > budget + max(0.0, credit):
            self._tracks.setdefault(context.key, _DipTrack()).pauses.append(context.now)
            return DipVerdict(False, "pause: " + numbers, DipReason.OVER_BUDGET, **amounts)
        return DipVerdict(True, "hold: " + numbers, DipReason.WITHIN_BUDGET, **amounts)


def surplus_share(grid_import_w: float | None, vehicles_w: float) -> float | None:
    """Share (0–1) of the vehicles' power that the site produces itself (PV or home battery).

    What the grid connection imports is counted against the vehicles first: the house would
    draw it without them too. With import positive, ``grid = house + vehicles - PV - battery
    discharge``, so ``1 - grid / vehicles`` is ``(PV + discharge - house) / vehicles`` — the
    attribution evcc reports as a session's solar share. None when the grid is unknown or no
    vehicle draws power.
    """
    if grid_import_w is None or not math.isfinite(grid_import_w) or vehicles_w <= 0:
        return None
    return min(1.0, max(0.0, 1.0 - max(grid_import_w, 0.0) / vehicles_w))


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
        self.dips: DipPolicy = dip_policy if dip_policy is not None else LearnedDips()
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

    def surplus_share(self, now: float) -> float | None:
        """Share (0–1) of what the member vehicles draw now that the site produces itself."""
        vehicles = sum(max(0.0, entry.measurement.power_w) for entry in self._stations.values())
        return surplus_share(self.latest(Reading.GRID, now), vehicles)

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
