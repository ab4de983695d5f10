"""Solar-surplus charging: how much current each station gets from a site's power flows.

Pure decision logic, no Home Assistant and no I/O: :class:`SurplusController` takes the site's
measurements (grid power, optionally a home battery) and each station's measurements, and
returns a :class:`Decision` per station. Time is passed in, so simulations can run it fast.

How it decides, every control interval:

* Surplus is what the site exports plus what the controlled vehicles draw right now (measured,
  not offered: a vehicle that draws less than it is offered frees nothing). A home battery that
  is charging counts as surplus once its state of charge reached the minimum; a discharging
  battery never feeds the vehicle.
* Stations in "min + solar" get their minimum first; the rest of the surplus is shared by
  priority (lower number first), equally among stations of the same priority.
* A station in "solar" starts once the surplus has covered its minimum power, with 5 % to
  spare, on average over the whole start delay (start/stop hysteresis; an appliance switching
  on and off does not reset it). When the surplus drops below the minimum, it holds the
  minimum current through the dip (a passing cloud) and pauses when the dip outlasts the stop
  delay, or earlier when its grid import exceeds half of what the stop delay at minimum
  current would cost — so short dips cost no start/stop cycle, long ones little grid energy.
  A session that has taken plenty from surplus may hold a dip longer, as long as its grid
  import stays under 4 %.
* Phases are configured, or learned from the measured phase currents and remembered. Before
  they were ever measured, a vehicle may start as soon as the surplus covers the one-phase
  minimum, at the minimum current; if it then takes three phases that the surplus does not
  cover, it pauses at once instead of holding a dip.
* While no vehicle is plugged, "solar" keeps the station paused and "min + solar" at the
  minimum current, so an arriving vehicle never charges at full current from the grid.
* Currents are whole amperes, rounded down (never more than the surplus), raised only by at
  least one ampere and only after the previous change had time to take effect (KEBA applies a
  change 6–7 s late), lowered at once. Between intervals, :meth:`SurplusController.react`
  lowers at once on a grid reading that shows import (never below the minimum), again at the
  next reading if the dip deepens while the lowering is still pending.
* Without a grid measurement (sensor unavailable or stale) nothing is known about the surplus:
  "solar" holds the minimum for the stop delay, then pauses; "min + solar" keeps its minimum.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
import enum
import math
from typing import Protocol

#: Nominal phase voltage when the meter does not say.
NOMINAL_VOLTAGE = 230.0
#: A phase carrying at least this current counts as used by the vehicle.
PHASE_DETECT_MIN_A = 1.0
#: The smallest current KEBA stations (and IEC 61851-1) offer.
MIN_CHARGING_CURRENT = 6.0
#: A current change takes effect 6–7 s after the command; don't judge it before.
CHANGE_SETTLE_S = 8.0
#: Starting needs this much more than the minimum power on average over the start delay: a
#: start right at the edge turns into a dip with the next appliance (start/stop hysteresis;
#: 3 % measured as the best trade between start/stops and energy on the benchmark's days).
START_HEADROOM = 1.03
#: A vehicle at its minimum current draws a little less than the nominal minimum power (power
#: factor, voltage): a surplus short of it by less than this share is no dip.
DIP_TOLERANCE = 0.02
#: A dip is held while its grid import stays below this share of the stop delay at minimum power.
DIP_BUDGET_SHARE = 0.5
#: A dip may be held beyond its own budget (and beyond the stop delay) while the session's grid
#: import stays below this share of what the session took from surplus.
SESSION_IMPORT_SHARE = 0.04
#: How old the vehicle's measured power may be when a change has just taken effect (the
#: coordinator polls report 3 every 5 s while a vehicle is plugged).
MEASURE_LAG_S = 6.0
#: A station that shows another current than commanded this long (reboot, unplug, someone
#: else's command) is told again.
RESYNC_AFTER_S = 30.0


class ChargingMode(enum.StrEnum):
    """Who sets the charging current."""

    OFF = "off"
    FAST = "fast"
    SOLAR = "solar"
    MIN_SOLAR = "min_solar"


class ControllerState(enum.StrEnum):
    """What the controller is doing for a station, and why."""

    OFF = "off"
    NO_VEHICLE = "no_vehicle"
    FAST = "fast"
    WAITING_FOR_SURPLUS = "waiting_for_surplus"
    STARTING = "starting"
    CHARGING_FROM_SURPLUS = "charging_from_surplus"
    BATTERY_BRIDGING = "battery_bridging"
    HOLDING_THROUGH_DIP = "holding_through_dip"
    PAUSED = "paused"
    CHARGING_AT_MINIMUM = "charging_at_minimum"
    GRID_SENSOR_UNAVAILABLE = "grid_sensor_unavailable"


@dataclass(frozen=True, slots=True, kw_only=True)
class SurplusSettings:
    """How a station is regulated (from the entry's options)."""

    min_current: float = MIN_CHARGING_CURRENT
    max_current: float = 16.0
    #: 1 or 3; None: detect from the measured phase currents.
    phases: int | None = None
    start_delay_s: float = 60.0
    stop_delay_s: float = 300.0
    #: Grid import (W) accepted while a vehicle already charges from surplus.
    allowed_import_w: float = 0.0
    #: Lower numbers are served first; equal numbers share equally.
    priority: int = 1
    #: A charging home battery's power counts as surplus only from this state of charge (%).
    battery_min_soc: float = 100.0


@dataclass(frozen=True, slots=True, kw_only=True)
class BatterySettings:
    """How the home battery works with the vehicles (the semantics evcc's owners know).

    * Below ``priority_soc`` the battery charges first: its charging power is not surplus.
      From it on, the vehicles come first and what the battery would charge is theirs.
    * Above ``buffer_soc`` (None: never) the battery may bridge a dip while a vehicle charges
      from surplus: its discharge counts as solar energy (it stored surplus), within
      ``max_discharge_w``. At or below it, a discharging battery counts as import.
    * Above ``buffer_start_soc`` (None: never) a session may start on battery power alone; it
      then runs at the minimum current until the battery is down to ``buffer_soc``.
    """

    priority_soc: float = 10.0
    buffer_soc: float | None = 50.0
    buffer_start_soc: float | None = None
    #: The battery's discharge power limit (W); None: unknown (the grid meter shows the rest).
    max_discharge_w: float | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class SiteMeasurement:
    """The site's power flows, averaged over the control interval."""

    #: Positive: import from the grid; negative: export. None: unknown (sensor unavailable).
    grid_power_w: float | None
    #: Positive: the home battery charges; negative: it discharges. None: no battery.
    battery_power_w: float | None = None
    battery_soc: float | None = None
    #: The site's battery settings; None: the stations' ``battery_min_soc`` as the priority
    #: SoC and no buffer (a discharging battery never feeds the vehicle).
    battery: BatterySettings | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class StationMeasurement:
    """One station as its latest reports show it."""

    key: str
    mode: ChargingMode
    settings: SurplusSettings
    vehicle_plugged: bool
    #: Power the vehicle draws now (W), measured by the station's meter.
    power_w: float
    #: Measured phase currents (A).
    currents: tuple[float, float, float] = (0.0, 0.0, 0.0)
    #: Measured phase voltages (V); zeros or None are replaced by the nominal voltage.
    voltages: tuple[float | None, float | None, float | None] = (None, None, None)
    #: The station's hardware limit (Curr HW, A); 0 or None: unknown.
    hardware_limit: float | None = None
    #: The current the station was last told (report 2: the pending timer current, else
    #: ``Curr user``; 0 while paused). None: unknown.
    station_target: float | None = None
    #: Whether the station measures its phase currents (False: P30 German edition, no meter;
    #: its phases can never be detected).
    measures_currents: bool = True
    #: With the phase switch's X2 on three phases and the phases chosen automatically: seconds
    #: until a switch to one phase is allowed (its minimum time between switches; 0: now).
    #: None: no switch to fewer phases can come (no switching, or none left this session).
    fewer_phases_in_s: float | None = None


@dataclass(frozen=True, slots=True)
class Decision:
    """What to do for a station now."""

    key: str
    state: ControllerState
    #: Current the controller wants offered (A); 0 means paused; None: not regulating.
    target_current: float | None
    #: Send this current (A) now; 0 means pause (``currtime 0 1``); None: send nothing.
    command: float | None
    #: Surplus available to the controlled stations of the site (W).
    surplus_w: float | None
    #: Phases the controller counts with for this station.
    phases: int
    #: Why, in a few words (for the site state and the debug log).
    reason: str = ""
    #: In a dip: the decision to hold or pause, with its reason and figures.
    dip: DipVerdict | None = None


@dataclass(frozen=True, slots=True, kw_only=True)
class DipContext:
    """A vehicle charging from surplus is in a dip: what the decision to hold or pause sees."""

    now: float
    key: str
    #: When the dip began.
    since: float
    #: Import (W, grid or a battery below its buffer) that holding the minimum costs now.
    shortfall_w: float
    #: What holding cost so far in this dip (W·s).
    import_ws: float
    min_power_w: float
    settings: SurplusSettings
    #: This session's energy from surplus and from the grid so far (W·s).
    session_surplus_ws: float
    session_import_ws: float
    #: Of the shortfall, what the home battery covers at or below its buffer SoC (W).
    battery_w: float = 0.0
    #: A switch to one phase can come in this many seconds (the phase switch's minimum time
    #: between switches); None: none can. ``one_phase_min_power_w`` is the minimum after it.
    fewer_phases_in_s: float | None = None
    one_phase_min_power_w: float | None = None


class DipReason(enum.StrEnum):
    """Why a vehicle holds its minimum through a dip or pauses (shown with the site state)."""

    #: Holding costs no import (the shortfall is within the tolerance).
    NO_IMPORT = "no_import"
    #: Held: the dip's import is within its budget.
    WITHIN_BUDGET = "within_budget"
    #: Paused: the dip's import went over its budget.
    OVER_BUDGET = "over_budget"
    #: Paused: the dip lasted the stop delay.
    STOP_DELAY = "stop_delay"
    #: Held: the home battery covers the shortfall (up to the stop delay).
    BATTERY_COVERS = "battery_covers"
    #: Paused: the home battery covered the dip for the whole stop delay.
    BATTERY_STOP_DELAY = "battery_stop_delay"
    #: Paused: three phases until a switch to one is allowed would cost too much.
    PHASE_SWITCH_WAIT = "phase_switch_wait"


@dataclass(frozen=True, slots=True)
class DipVerdict:
    """Hold the minimum through a dip, or pause; and why (in words and as a code)."""

    hold: bool
    reason: str
    code: DipReason
    #: What the dip has imported so far and the budget it is held within (Wh), where known.
    imported_wh: float | None = None
    budget_wh: float | None = None


class DipPolicy(Protocol):
    """Decides whether a vehicle holds its minimum through a dip or pauses."""

    def observe(self, now: float, key: str, available_w: float, min_power_w: float) -> None:
        """The surplus available to a plugged station at a control step (W)."""

    def decide(self, context: DipContext) -> DipVerdict:
        """Hold or pause, at one control step of a dip."""


class FixedDipBudget:
    """Hold a dip up to the stop delay, or until its import exceeds a fixed budget.

    The budget is half of what the stop delay at the minimum current would import; a session
    that took plenty from surplus may hold longer while its import stays under 4 %.
    """

    def observe(self, now: float, key: str, available_w: float, min_power_w: float) -> None:
        """Nothing to learn."""

    def decide(self, context: DipContext) -> DipVerdict:
        """Hold while within the duration and the import budget."""
        settings = context.settings
        budget = context.min_power_w * settings.stop_delay_s * DIP_BUDGET_SHARE
        credit = SESSION_IMPORT_SHARE * context.session_surplus_ws - context.session_import_ws
        if context.now - context.since >= settings.stop_delay_s and credit <= 0:
            return DipVerdict(False, "dip outlasted the stop delay", DipReason.STOP_DELAY)
        numbers = {"imported_wh": context.import_ws / 3600.0, "budget_wh": budget / 3600.0}
        if context.import_ws > budget + max(0.0, credit):
            return DipVerdict(False, "dip import over its budget", DipReason.OVER_BUDGET, **numbers)
        return DipVerdict(
            True, "dip within the stop delay and its budget", DipReason.WITHIN_BUDGET, **numbers
        )


@dataclass(slots=True)
class _Memory:
    """What the controller remembers of a station between steps."""

    commanded: float | None = None
    commanded_at: float = -math.inf
    #: When a command last raised the current (or started, or told the station again): until
    #: it has taken effect and been measured, the vehicle's measured power may be lower than
    #: what it draws, and a grid reading would seem to show import that lowering cannot cure.
    raised_at: float = -math.inf
    detected_phases: int | None = None
    dip_since: float | None = None
    dip_import_ws: float = 0.0
    last_step: float | None = None
    #: Whether a vehicle was plugged at the last step (None: not seen yet).
    plugged: bool | None = None
    #: Surplus for this station over the start delay: (time, W) per step.
    start_window: deque[tuple[float, float]] = field(default_factory=deque)
    #: This session's energy (W·s) from surplus and from the grid, as the controller saw it.
    session_surplus_ws: float = 0.0
    session_import_ws: float = 0.0
    #: Charging started before the vehicle's phases were known, counted as one phase.
    probing: bool = False

    def end_dip(self) -> None:
        """No dip (any more): the next one counts its import from zero."""
        self.dip_since = None
        self.dip_import_ws = 0.0


@dataclass(slots=True)
class _Candidate:
    station: StationMeasurement
    memory: _Memory
    phases: int
    volts_per_amp: float
    min_power: float
    #: The most it is offered (W): its maximum current, or its minimum while the phases are
    #: unknown.
    max_power: float
    #: The most surplus it can take (W): its maximum current on the phases counted with.
    takes_up_to: float
    #: The phases are configured or were measured (not assumed).
    phases_known: bool = True
    allocation: float = 0.0


def _regulated(stations: Iterable[StationMeasurement]) -> list[StationMeasurement]:
    """The stations whose current the controller sets from the surplus."""
    return [s for s in stations if s.mode in (ChargingMode.SOLAR, ChargingMode.MIN_SOLAR)]


class SurplusController:
    """Decides the currents of every station of one site (one grid meter)."""

    def __init__(self, dip_policy: DipPolicy | None = None) -> None:
        """Start with no memory of any station; ``dip_policy`` decides dips (default fixed)."""
        self._memory: dict[str, _Memory] = {}
        self.dip_policy: DipPolicy = dip_policy or FixedDipBudget()
        #: Battery power (W) left this step to bridge dips, and whether a session may start on
        #: the battery alone.
        self._bridge_left = 0.0
        #: Battery discharge (W) at or below the buffer SoC: it covers a dip, at the house's cost.
        self._cover_left = 0.0
        self._battery_start = False
        self._battery_soc: float | None = None

    # ------------------------------------------------------------------ memory
    def detected_phases(self, key: str) -> int | None:
        """Phases the vehicle at ``key`` was last seen charging on."""
        memory = self._memory.get(key)
        return memory.detected_phases if memory else None

    def restore(self, key: str, *, detected_phases: int | None, commanded: float | None) -> None:
        """Take back what was known before a restart (phases, last commanded current)."""
        memory = self._memory.setdefault(key, _Memory())
        memory.detected_phases = detected_phases
        memory.commanded = commanded

    def forget(self, key: str) -> None:
        """Drop a station (unloaded, or its mode went to off)."""
        self._memory.pop(key, None)

    # ------------------------------------------------------------------- step
    def step(
        self, now: float, site: SiteMeasurement, stations: Sequence[StationMeasurement]
    ) -> list[Decision]:
        """Decide for every station; call once per control interval."""
        controlled = _regulated(stations)
        surplus = self._surplus(site, controlled)
        candidates = [self._candidate(s) for s in controlled if s.vehicle_plugged]
        if surplus is not None:
            self._allocate(surplus, candidates)
            for c in candidates:
                self.dip_policy.observe(now, c.station.key, c.allocation, c.min_power)
        # Served in priority order: the battery bridges the first stations' dips first.
        candidates.sort(key=lambda c: c.station.settings.priority)
        decisions: list[Decision] = []
        by_key = {c.station.key: c for c in candidates}
        for station in stations:
            memory = self._memory.setdefault(station.key, _Memory())
            self._learn_phases(station, memory)
            if station.mode == ChargingMode.OFF:
                self._memory[station.key] = _Memory(detected_phases=memory.detected_phases)
                decisions.append(
                    Decision(
                        station.key,
                        ControllerState.OFF,
                        None,
                        None,
                        surplus,
                        self._phases(station, memory),
                    )
                )
                continue
            if not station.vehicle_plugged:
                if memory.plugged is not False:
                    # The station forgets currtime settings at unplug: start afresh.
                    memory.commanded = None
                    memory.end_dip()
                    memory.start_window.clear()
                    memory.session_surplus_ws = memory.session_import_ws = 0.0
                    memory.probing = False
                memory.plugged = False
                decisions.append(self._prepare_for_plug_in(now, station, memory, surplus))
                continue
            memory.plugged = True
            if station.mode == ChargingMode.FAST:
                target = self._max_current(station)
                decisions.append(
                    self._emit(now, station, memory, ControllerState.FAST, target, surplus)
                )
                continue
            candidate = by_key[station.key]
            decisions.append(self._decide(now, site, surplus, candidate))
            memory.last_step = now
        return decisions

    def react(
        self, now: float, site: SiteMeasurement, stations: Sequence[StationMeasurement]
    ) -> list[Decision]:
        """Lower currents at once when a grid reading shows import between control intervals.

        Call with the latest grid reading (not an average) whenever it changes. Only lowers,
        never below a station's minimum, and only stations whose last change has taken effect
        and been measured (otherwise the reading and the vehicle's power are from different
        moments); starting, raising, holding and pausing stay with :meth:`step`. Returns the
        decisions that send something.
        """
        controlled = _regulated(stations)
        surplus = self._surplus(site, controlled)
        allowed = min((s.settings.allowed_import_w for s in controlled), default=0.0)
        if surplus is None or site.grid_power_w is None or site.grid_power_w <= allowed:
            return []
        candidates = [self._candidate(s) for s in controlled if s.vehicle_plugged]
        self._allocate(surplus, candidates)
        decisions: list[Decision] = []
        for c in candidates:
            memory, settings = c.memory, c.station.settings
            commanded = memory.commanded
            # A lowering still pending does not hold the next one back: KEBA overwrites the
            # pending target without restarting its 6–7 s delay, so a cloud that keeps darkening
            # is followed at once; and until the vehicle's power is measured anew it shows the
            # higher current, which can only make the target too high, never too low. A raise
            # does hold it back (its measured power would make the target too low).
            if (
                commanded is None
                or commanded <= settings.min_current
                or now - memory.raised_at < CHANGE_SETTLE_S + MEASURE_LAG_S
            ):
                continue
            target = self._charging_current(c)
            if target > commanded - 1:
                continue
            state = (
                ControllerState.CHARGING_AT_MINIMUM
                if c.station.mode == ChargingMode.MIN_SOLAR and target <= settings.min_current
                else ControllerState.CHARGING_FROM_SURPLUS
            )
            decisions.append(self._emit(now, c.station, memory, state, target, surplus))
        return decisions

    # --------------------------------------------------------------- helpers
    def _surplus(
        self, site: SiteMeasurement, controlled: Iterable[StationMeasurement]
    ) -> float | None:
        self._bridge_left, self._cover_left, self._battery_start = 0.0, 0.0, False
        self._battery_soc = site.battery_soc
        if site.grid_power_w is None or not math.isfinite(site.grid_power_w):
            return None
        surplus = -site.grid_power_w + sum(max(0.0, s.power_w) for s in controlled)
        battery = site.battery_power_w
        if battery is None or not math.isfinite(battery):
            return surplus
        soc = site.battery_soc
        settings = site.battery
        if settings is None:
            min_soc = min((s.settings.battery_min_soc for s in controlled), default=100.0)
            if battery < 0 or (soc is not None and soc >= min_soc):
                # Discharging never feeds the vehicle; charging yields to it above the min SoC.
                surplus += battery
            return surplus
        if battery >= 0:
            # Charging: below the priority SoC the battery comes first.
            if soc is not None and soc >= settings.priority_soc:
                surplus += battery
        else:
            # Discharging counts as import; above the buffer SoC it may bridge a dip.
            surplus += battery
            bridge = -battery
            if settings.max_discharge_w is not None:
                bridge = min(bridge, settings.max_discharge_w)
            if soc is not None and settings.buffer_soc is not None and soc > settings.buffer_soc:
                self._bridge_left = bridge
            else:
                self._cover_left = bridge
        if (
            soc is not None
            and settings.buffer_start_soc is not None
            and soc > settings.buffer_start_soc
            and (settings.buffer_soc is None or soc > settings.buffer_soc)
        ):
            self._battery_start = True
        return surplus

    def _phases(self, station: StationMeasurement, memory: _Memory) -> int:
        if station.settings.phases in (1, 3):
            return station.settings.phases
        return memory.detected_phases or 3

    @staticmethod
    def _learn_phases(station: StationMeasurement, memory: _Memory) -> None:
        used = sum(1 for current in station.currents if current >= PHASE_DETECT_MIN_A)
        if used in (1, 2, 3):
            memory.detected_phases = 3 if used >= 2 else 1

    @staticmethod
    def _max_current(station: StationMeasurement) -> float:
        limit = station.settings.max_current
        if station.hardware_limit:
            limit = min(limit, station.hardware_limit)
        return float(math.floor(max(station.settings.min_current, limit)))

    def _candidate(self, station: StationMeasurement) -> _Candidate:
        memory = self._memory.setdefault(station.key, _Memory())
        self._learn_phases(station, memory)
        phases = self._phases(station, memory)
        used = [v for v, i in zip(station.voltages, station.currents, strict=True) if v and i > 0]
        voltage = sum(used) / len(used) if used else NOMINAL_VOLTAGE
        known = (
            station.settings.phases in (1, 3)
            or memory.detected_phases is not None
            or not station.measures_currents
        )
        if not known:
            # Phases never measured: a vehicle may charge on one phase, so the one-phase minimum
            # is enough to start, and at the minimum current only (on three phases a current
            # computed for one would draw three times the surplus) — the first measurement
            # tells the phases (see _decide for a vehicle that turns out to take three).
            volts_per_amp = voltage
            return _Candidate(
                station=station,
                memory=memory,
                phases=1,
                volts_per_amp=volts_per_amp,
                min_power=station.settings.min_current * volts_per_amp,
                max_power=station.settings.min_current * volts_per_amp,
                takes_up_to=self._max_current(station) * volts_per_amp,
                phases_known=False,
            )
        volts_per_amp = voltage * phases
        return _Candidate(
            station=station,
            memory=memory,
            phases=phases,
            volts_per_amp=volts_per_amp,
            min_power=station.settings.min_current * volts_per_amp,
            max_power=self._max_current(station) * volts_per_amp,
            takes_up_to=self._max_current(station) * volts_per_amp,
        )

    @staticmethod
    def _allocate(surplus: float, candidates: list[_Candidate]) -> None:
        """Share ``surplus``: minimums of min+solar first, then by priority, equal within."""
        remaining = surplus
        for candidate in candidates:
            if candidate.station.mode == ChargingMode.MIN_SOLAR:
                candidate.allocation = candidate.min_power
                remaining -= candidate.min_power
        for priority in sorted({c.station.settings.priority for c in candidates}):
            group = [c for c in candidates if c.station.settings.priority == priority]
            # Stations that cannot get their minimum drop out, the lowest-priority-within first:
            # those charging already keep their place (fewer start/stop cycles).
            group.sort(key=lambda c: (c.memory.commanded or 0) <= 0)
            while group:
                share = (remaining + sum(c.allocation for c in group)) / len(group)
                if share >= min(c.min_power for c in group) or len(group) == 1:
                    break
                group.pop()
            if not group:
                continue
            pool = remaining + sum(c.allocation for c in group)
            # Equal shares, each capped at its maximum; what a capped station leaves goes on.
            open_group = list(group)
            while open_group:
                share = pool / len(open_group)
                capped = [c for c in open_group if c.takes_up_to <= share]
                if not capped:
                    for c in open_group:
                        c.allocation = max(c.allocation, share)
                    pool = 0.0
                    break
                for c in capped:
                    c.allocation = c.takes_up_to
                    pool -= c.takes_up_to
                    open_group.remove(c)
            remaining = pool

    def _decide(
        self, now: float, site: SiteMeasurement, surplus: float | None, c: _Candidate
    ) -> Decision:
        station, memory = c.station, c.memory
        settings = station.settings
        # A vehicle already charging when the controller takes over is adopted, not restarted.
        adopted = memory.commanded is None and station.power_w > 0
        charging = (memory.commanded or 0) > 0 or adopted
        interval = now - memory.last_step if memory.last_step is not None else 0.0
        if surplus is None:
            return self._without_grid(now, c)

        if station.mode == ChargingMode.MIN_SOLAR:
            current = self._current_for(c.allocation, c)
            if current > settings.min_current:
                return self._emit(
                    now, station, memory, ControllerState.CHARGING_FROM_SURPLUS, current, surplus
                )
            return self._emit(
                now,
                station,
                memory,
                ControllerState.CHARGING_AT_MINIMUM,
                settings.min_current,
                surplus,
            )

        if memory.probing and c.phases_known and c.phases == 1:
            # Started on the one-phase minimum and measured on one phase: the start was right,
            # a dip from now on is a dip (not a start that should not have been).
            memory.probing = False
        margin = settings.allowed_import_w if charging else 0.0
        tolerance = c.min_power * DIP_TOLERANCE if charging else 0.0
        enough = c.allocation + margin + tolerance >= c.min_power
        # Above its buffer SoC the battery bridges a dip (its discharge is stored surplus).
        bridged = 0.0
        battery_cover = 0.0
        if charging and not adopted and not enough and not memory.probing:
            need = c.min_power - c.allocation - margin
            if self._bridge_left + tolerance >= need:
                bridged = min(need, self._bridge_left)
                self._bridge_left -= bridged
            else:
                battery_cover = min(need, self._cover_left)
                self._cover_left -= battery_cover
        if charging and not adopted:
            drawn, available = max(0.0, station.power_w), max(0.0, c.allocation) + bridged
            memory.session_surplus_ws += min(drawn, available) * interval
            memory.session_import_ws += max(0.0, drawn - available) * interval
        if not charging or adopted:
            window = memory.start_window
            window.append((now, c.allocation))
            # Keep one sample at or before the start of the delay, so that the window covers
            # it whole even when the steps do not divide it evenly.
            while len(window) > 1 and window[1][0] <= now - settings.start_delay_s:
                window.popleft()
        if enough:
            memory.end_dip()
            if charging:
                memory.probing = memory.probing and not c.phases_known
                memory.start_window.clear()
                current = self._charging_current(c)
                return self._emit(
                    now, station, memory, ControllerState.CHARGING_FROM_SURPLUS, current, surplus
                )
            # Start once the surplus covered the minimum on average over the whole start delay
            # (an oven's thermostat switching on and off must not keep resetting a timer).
            window = memory.start_window
            covered = now - window[0][0] if window else 0.0
            average = sum(power for _, power in window) / len(window) if window else 0.0
            # (The allocation never exceeds what the vehicle can take: with a maximum at the
            # minimum, that is all the headroom there can be.)
            needed = min(c.min_power * START_HEADROOM, c.takes_up_to)
            if covered >= settings.start_delay_s and average >= needed:
                window.clear()
                memory.probing = not c.phases_known
                current = self._current_for(c.allocation, c)
                return self._emit(
                    now, station, memory, ControllerState.CHARGING_FROM_SURPLUS, current, surplus
                )
            return self._emit(now, station, memory, ControllerState.STARTING, 0.0, surplus)

        if not charging or adopted:
            if self._battery_start and not adopted and c.phases_known:
                # Above the buffer start SoC a session may start on the battery alone.
                memory.start_window.clear()
                return self._emit(
                    now,
                    station,
                    memory,
                    ControllerState.BATTERY_BRIDGING,
                    settings.min_current,
                    surplus,
                    f"started on the battery (state of charge {self._battery_soc:.0f} %)",
                )
            return self._emit(
                now, station, memory, ControllerState.WAITING_FOR_SURPLUS, 0.0, surplus
            )
        if memory.probing:
            # Started on the one-phase minimum, and the vehicle takes more phases than the
            # surplus covers: not a dip, a start that should not have been.
            memory.probing = False
            memory.end_dip()
            return self._emit(
                now,
                station,
                memory,
                ControllerState.PAUSED,
                0.0,
                surplus,
                "the vehicle takes more phases than the surplus covers",
            )
        if bridged > 0:
            memory.end_dip()
            return self._emit(
                now,
                station,
                memory,
                ControllerState.BATTERY_BRIDGING,
                settings.min_current,
                surplus,
                f"battery bridges {bridged:.0f} W (state of charge {self._battery_soc:.0f} %)",
            )
        # A dip: hold the minimum current, or pause, as the dip policy decides.
        if memory.dip_since is None:
            memory.dip_since = now
            memory.dip_import_ws = 0.0
        shortfall = max(0.0, c.min_power - tolerance - c.allocation - margin)
        memory.dip_import_ws += shortfall * interval
        verdict = self.dip_policy.decide(
            DipContext(
                now=now,
                key=station.key,
                since=memory.dip_since,
                shortfall_w=shortfall,
                import_ws=memory.dip_import_ws,
                min_power_w=c.min_power,
                settings=settings,
                session_surplus_ws=memory.session_surplus_ws,
                session_import_ws=memory.session_import_ws,
                battery_w=min(battery_cover, shortfall),
                fewer_phases_in_s=station.fewer_phases_in_s if c.phases > 1 else None,
                one_phase_min_power_w=c.min_power / c.phases,
            )
        )
        if not verdict.hold:
            memory.end_dip()
            return self._emit(
                now, station, memory, ControllerState.PAUSED, 0.0, surplus, verdict.reason, verdict
            )
        return self._emit(
            now,
            station,
            memory,
            ControllerState.HOLDING_THROUGH_DIP,
            settings.min_current,
            surplus,
            verdict.reason,
            verdict,
        )

    def _prepare_for_plug_in(
        self, now: float, station: StationMeasurement, memory: _Memory, surplus: float | None
    ) -> Decision:
        """Set the station up for the next vehicle while none is plugged.

        A ``currtime`` sent while no vehicle is plugged lasts until the next unplug, so the
        station is paused (solar) or set to the minimum (min + solar) before the vehicle
        arrives: it never charges at full current from the grid for the first seconds.
        """
        if station.mode == ChargingMode.SOLAR:
            return self._emit(now, station, memory, ControllerState.NO_VEHICLE, 0.0, surplus)
        if station.mode == ChargingMode.MIN_SOLAR:
            target = station.settings.min_current
            return self._emit(now, station, memory, ControllerState.NO_VEHICLE, target, surplus)
        return Decision(
            station.key,
            ControllerState.NO_VEHICLE,
            None,
            None,
            surplus,
            self._phases(station, memory),
        )

    def _without_grid(self, now: float, c: _Candidate) -> Decision:
        station, memory = c.station, c.memory
        settings = station.settings
        state = ControllerState.GRID_SENSOR_UNAVAILABLE
        if station.mode == ChargingMode.MIN_SOLAR:
            return self._emit(now, station, memory, state, settings.min_current, None)
        if (memory.commanded or 0) <= 0:
            return self._emit(now, station, memory, state, 0.0, None)
        if memory.dip_since is None:
            memory.dip_since = now
        if now - memory.dip_since >= settings.stop_delay_s:
            memory.dip_since = None
            return self._emit(now, station, memory, state, 0.0, None)
        return self._emit(now, station, memory, state, settings.min_current, None)

    def _charging_current(self, c: _Candidate) -> float:
        """Current for a vehicle already charging: its share plus the allowed import."""
        share = c.allocation + c.station.settings.allowed_import_w
        return max(c.station.settings.min_current, self._current_for(share, c))

    @staticmethod
    def _current_for(power: float, c: _Candidate) -> float:
        amps = math.floor(power / c.volts_per_amp) if c.volts_per_amp > 0 else 0
        return float(min(max(amps, 0), c.max_power / c.volts_per_amp))

    def _emit(
        self,
        now: float,
        station: StationMeasurement,
        memory: _Memory,
        state: ControllerState,
        target: float,
        surplus: float | None,
        reason: str = "",
        dip: DipVerdict | None = None,
    ) -> Decision:
        """Turn a target into a command, sparing the station needless or early changes."""
        previous = memory.commanded
        settled = now - memory.commanded_at
        target_seen = station.station_target
        if target <= 0:
            send = (
                previous is None
                or previous > 0
                or (target_seen is not None and target_seen > 0 and settled >= RESYNC_AFTER_S)
            )
        elif previous is None or previous <= 0 or target < previous:
            send = True  # starting, or lowering: at once
        else:
            # Raising by a whole ampere, once the previous change has taken effect; or telling
            # a station again that shows something else (rebooted, unplugged, overruled).
            send = (target >= previous + 1 and settled >= CHANGE_SETTLE_S) or (
                target_seen is not None
                and abs(target_seen - previous) >= 0.5
                and settled >= RESYNC_AFTER_S
            )
            if send and target < previous + 1:
                target = previous
        command = target if send else None
        if command is not None:
            if previous is None or command >= previous:
                memory.raised_at = now
            memory.commanded = command
            memory.commanded_at = now
        return Decision(
            station.key,
            state,
            memory.commanded if memory.commanded is not None else target,
            command,
            surplus,
            self._phases(station, memory),
            reason,
            dip,
        )
