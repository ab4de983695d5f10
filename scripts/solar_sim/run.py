"""One simulated day with one strategy: the simulator, the engine, the site, the metrics.

A run happens in its own process on a :class:`~.virtual_loop.VirtualTimeLoop` (virtual time
0 = midnight). On a loopback /24 of its own, a simulated P30 x-series station (``simulator``)
listens on ``.2:7090`` and the protocol engine (``custom_components.keba.kecontact``) on
``.1:7090``. The run polls the station like the integration's coordinator (report 2 and 3 every
5 s while a vehicle is plugged, every 30 s otherwise, re-paced when a push shows the vehicle
plugged in or out; pushes merged by ``KebaStation``), reads
the grid meter every 2 s, lets the strategy decide and send through the engine, and measures
every second.

Metrics, integrated each second from the simulator's own power (report 3 ``P``) and the day's
PV and house load (W):

* ``surplus`` = max(0, PV − house): what the car can take without any import.
* energy to the car: ∫ P_car.
* from surplus: ∫ min(P_car, surplus); its share of the car's energy.
* grid import caused by charging: ∫ (P_car − min(P_car, surplus)) — the import the site has
  with the car minus the import it would have without it.
* surplus left unused while the car could take it: while the vehicle is plugged and not full,
  ∫ min(export, P_max − P_car) with export = max(0, PV − house − P_car) and P_max the
  vehicle's power at 16 A on its phases. A paused car counts too, even when the export is less
  than its minimum power (as the benchmark's definition asks); the part during which the
  surplus alone covered the minimum power is also reported (``unused ≥ min``).
* grid import by source (``--by-state``): a lowering still pending at the station, held dips
  that ended in a pause or with the surplus back, the rest (:class:`ImportSources`).
* start/stop cycles: times the car's power fell to 0 while it stayed plugged and not full.
* current changes: ``currtime`` commands the station received with a value (mA; 0 = pause)
  other than the previous one.
* timing violations: what the simulator's checker recorded for the engine's address.

The station's timing checker judges each datagram at the loop time it is processed. The run
turns the simulator's kernel receive timestamps off (:data:`simulator.station._SO_TIMESTAMPNS`):
a kernel stamp is real time, and ``arrival = loop.time() − (time.time() − stamp)`` would mix a
real delay of some microseconds (or milliseconds on a busy machine) into virtual time. Without
it the arrival is the loop time at which the station reads the datagram, which on the virtual
loop is the exact virtual moment the engine sent it (the clock does not move while a datagram
is in flight). A probe from a third address sends two datagrams 50 ms apart at the start of
every run; the checker must flag them (``probe`` in the result), which shows it judges on the
virtual clock; the probe's address is left out of the violation count. ``--kernel-timestamps``
keeps the kernel stamps instead (the figures stay the same on an idle machine).

The station answers after 1 ms plus up to 2 ms of seeded jitter (a LAN), and the simulator,
the weather and the house are seeded: a run's figures are the same every time.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
import logging
import math
from pathlib import Path
import time
import traceback
from typing import Any

from custom_components.keba.kecontact import EndpointPool, KebaError, KebaStation, StationEvent
from custom_components.keba.site_control import ChargingMode, StationMeasurement, SurplusSettings
from simulator import Simulator
import simulator.station as sim_station

from .phasing import make_strategy
from .plant import (
    DAY_S,
    Day,
    HomeBattery,
    day_from_pv,
    hhmm,
    import_without_vehicle,
    make_day,
    read_pv_csv,
)
from .strategies import (
    MAX_CURRENT_A,
    MIN_CURRENT_A,
    NOMINAL_VOLTAGE,
    SITE_BATTERY,
    ControllerStrategy,
    EvccStrategy,
    NaiveStrategy,
    Strategy,
)
from .virtual_loop import VirtualTimeLoop

_LOGGER = logging.getLogger(__name__)

METER_INTERVAL_S = 2.0
POLL_PLUGGED_S = 5.0
POLL_IDLE_S = 30.0
PROBE_GAP_S = 0.05
#: The simulated station's power factor (``PF`` 990 ‰): P = 0.99 × U × I.
POWER_FACTOR = 0.99


@dataclass(frozen=True, slots=True)
class RunSpec:
    """What to simulate."""

    day: str
    strategy: str
    seed: int
    net: str
    kernel_timestamps: bool = False
    #: Record a row every 10 s (time, PV, house, car, grid, offered current, strategy state).
    trace: bool = False
    #: Measured PV (a ``time,pv_w`` CSV file) instead of the synthetic day's; with it, the
    #: vehicle's phases and the synthetic day whose house load is used.
    pv_csv: str | None = None
    phases: int = 3
    house: str = "cloudy"
    #: A home battery behind a hybrid inverter (kWh, state of charge at midnight in %).
    battery_kwh: float | None = None
    battery_soc: float = 50.0
    #: The station has a 1/3-phase switch on X2 that the strategy may use (``phasing.py``).
    phase_switching: bool = False


def build_day(spec: RunSpec) -> Day:
    """The day a run simulates: synthetic, or measured PV with a synthetic house."""
    if spec.pv_csv is None:
        return make_day(spec.day, spec.seed)
    path = Path(spec.pv_csv)
    pv = read_pv_csv(path.read_text(encoding="utf-8", errors="replace"), path.name)
    return day_from_pv(spec.day, pv, phases=spec.phases, house=spec.house, seed=spec.seed)


def build_battery(spec: RunSpec) -> HomeBattery | None:
    """The run's home battery (a fresh one: it keeps its state of charge)."""
    if spec.battery_kwh is None or spec.battery_kwh <= 0:
        return None
    return HomeBattery(capacity_wh=spec.battery_kwh * 1000.0, soc_pct=spec.battery_soc)


#: Where the grid import caused by charging comes from (``--by-state``; the controller's states).
SOURCE_PENDING = "lowering pending (the station's 6-7 s delay)"
SOURCE_HELD_PAUSED = "dip held, then paused"
SOURCE_HELD_RECOVERED = "dip held, surplus came back"
SOURCE_OTHER = "other (a dip's first seconds before the next interval, starts)"
#: Controller states that mean the vehicle charges on (a held dip that ends in one recovered).
_CHARGING_ON = ("charging_from_surplus", "battery_bridging", "charging_at_minimum")


@dataclass(slots=True)
class ImportSources:
    """Grid import caused by charging, by where it comes from, second by second.

    * ``lowering pending``: the station still offers more than it was last told (a lower
      current waits out KEBA's 6–7 s delay after the command);
    * a held dip's import (the controller's state ``holding_through_dip``) is counted when the
      dip ends: ``then paused`` when the vehicle was paused (or unplugged), ``surplus came
      back`` when it charges on;
    * ``other``: the rest — mostly a dip's first seconds before the next control interval
      sees it.
    """

    kwh: dict[str, float] = field(default_factory=dict)
    #: Held dips by how they ended.
    dips: dict[str, int] = field(default_factory=dict)
    _holding: bool = False
    _held_kwh: float = 0.0

    def add(self, state: str, imported_kwh: float, *, lowering_pending: bool) -> None:
        """One second: the controller's state (first word), the import, a lowering pending.

        With phase switching the state carries the phases in use ("holding_through_dip/1p").
        """
        state = state.split("/", 1)[0]
        if self._holding and state != "holding_through_dip":
            outcome = SOURCE_HELD_RECOVERED if state in _CHARGING_ON else SOURCE_HELD_PAUSED
            self.kwh[outcome] = self.kwh.get(outcome, 0.0) + self._held_kwh
            self.dips[outcome] = self.dips.get(outcome, 0) + 1
            self._held_kwh = 0.0
        self._holding = state == "holding_through_dip"
        if imported_kwh <= 0:
            return
        if lowering_pending:
            source = SOURCE_PENDING
        elif self._holding:
            self._held_kwh += imported_kwh
            return
        else:
            source = SOURCE_OTHER
        self.kwh[source] = self.kwh.get(source, 0.0) + imported_kwh


class RunFailed(RuntimeError):
    """A strategy or the run's own machinery raised: the run has no figures."""


@dataclass(slots=True)
class RunResult:
    """The figures of one run."""

    day: str
    strategy: str
    energy_kwh: float = 0.0
    from_surplus_kwh: float = 0.0
    #: Of it, through the home battery.
    from_battery_kwh: float = 0.0
    import_kwh: float = 0.0
    #: The site's grid import over the day, with the vehicle and without it.
    site_import_kwh: float = 0.0
    site_import_without_vehicle_kwh: float = 0.0
    battery_soc_end: float | None = None
    unused_kwh: float = 0.0
    unused_startable_kwh: float = 0.0
    cycles: int = 0
    current_changes: int = 0
    currtime_sent: int = 0
    violations: int = 0
    violation_details: list[dict[str, Any]] = field(default_factory=list)
    probe_flagged: bool = False
    full_at: float | None = None
    meter_energy_kwh: float = 0.0
    commands: dict[str, int] = field(default_factory=dict)
    engine_errors: int = 0
    lost_datagrams: int = 0
    states: dict[str, float] = field(default_factory=dict)
    #: Grid import and unused surplus (kWh) by the controller state of the second they fell in.
    import_by_state: dict[str, float] = field(default_factory=dict)
    import_sources: ImportSources = field(default_factory=ImportSources)
    unused_by_state: dict[str, float] = field(default_factory=dict)
    wall_s: float = 0.0
    virtual_s: float = 0.0
    loop_jumps: int = 0
    #: Times the station's phase switch moved (``--phase-switching``).
    phase_switches: int = 0
    trace: list[tuple[float, ...] | tuple[Any, ...]] = field(default_factory=list)
    #: The controller's site state reasons as they changed: (time, state, reason).
    reasons: list[tuple[float, str, str]] = field(default_factory=list)

    @property
    def surplus_share(self) -> float | None:
        """Share of the car's energy that came from surplus."""
        return self.from_surplus_kwh / self.energy_kwh if self.energy_kwh > 0 else None


class _HideProbeWarnings(logging.Filter):
    """The simulator logs every violation; the probe's are deliberate."""

    def __init__(self, probe_ip: str) -> None:
        super().__init__()
        self._marker = f"by {probe_ip}:"

    def filter(self, record: logging.LogRecord) -> bool:
        return self._marker not in record.getMessage()


class _Probe(asyncio.DatagramProtocol):
    def __init__(self) -> None:
        self.received = 0

    def datagram_received(self, data: bytes, addr: tuple[str | Any, int]) -> None:
        self.received += 1


class _Run:
    """Everything of one run; the strategy reads and acts through it (``SiteView``)."""

    def __init__(self, spec: RunSpec, day: Day, loop: VirtualTimeLoop) -> None:
        self.spec = spec
        self.day = day
        self.loop = loop
        self.client_ip = f"{spec.net}.1"
        self.station_ip = f"{spec.net}.2"
        self.probe_ip = f"{spec.net}.3"
        self.sim = Simulator(
            ips=[self.station_ip],
            variant="p30-x-s10" if spec.phase_switching else "p30-x",
            scenario="idle",
            seed=spec.seed,
            # A little network latency, as on a LAN (seeded: the same every run).
            delay_ms=1.0,
            jitter_ms=2.0,
            x2src=4 if spec.phase_switching else 0,
        )
        self.pool = EndpointPool()
        self.station: KebaStation | None = None
        self.result = RunResult(day=spec.day, strategy=spec.strategy)
        self._tasks: set[asyncio.Task[None]] = set()
        self._probe: _Probe | None = None
        self._probe_sent = 0
        # Grid meter: the latest sample (and the PV production at that moment).
        self._grid_latest: float | None = None
        self._pv_latest = 0.0
        # Vehicle bookkeeping.
        self.plugged = False
        self.full = False
        self._was_charging = False
        self._received_seen = 0
        self._last_currtime: int | None = None
        self._was_busy = False
        self._repace = asyncio.Event()
        self._strategy_obj: Strategy | None = None
        self.battery = build_battery(spec)

    # ---------------------------------------------------------------- SiteView
    def grid_latest_w(self) -> float | None:
        return self._grid_latest

    def pv_latest_w(self) -> float:
        return self._pv_latest

    def battery_latest(self) -> tuple[float, float] | None:
        if self.battery is None:
            return None
        return self.battery.power_w, self.battery.soc_pct

    def station_measurement(self, mode: ChargingMode, settings: SurplusSettings) -> Any:
        # The same reading as the integration's solar._Site._measure.
        assert self.station is not None
        status, meter = self.station.snapshot.status, self.station.snapshot.meter
        if status is None:
            return None
        currents = meter.currents if meter is not None else (None, None, None)
        voltages = (
            (meter.voltage_1, meter.voltage_2, meter.voltage_3)
            if meter is not None
            else (None, None, None)
        )
        return StationMeasurement(
            key="station",
            mode=mode,
            settings=settings,
            vehicle_plugged=bool(status.vehicle_plugged),
            power_w=(meter.power_w or 0.0) if meter is not None else 0.0,
            currents=(currents[0] or 0.0, currents[1] or 0.0, currents[2] or 0.0),
            voltages=voltages,
            hardware_limit=status.hardware_current_limit,
            station_target=status.current_target,
            measures_currents=meter is not None,
        )

    def car_power_w(self) -> float:
        assert self.station is not None
        meter = self.station.snapshot.meter
        return (meter.power_w or 0.0) if meter is not None else 0.0

    def vehicle_plugged(self) -> bool:
        assert self.station is not None
        status = self.station.snapshot.status
        return bool(status is not None and status.vehicle_plugged)

    def charging(self) -> bool:
        assert self.station is not None
        status = self.station.snapshot.status
        return bool(status is not None and status.charging)

    def send(self, current: float) -> None:
        self.spawn(self._send(current))

    def spawn(self, coro: Any) -> None:
        """Run ``coro`` in the background; the run gathers it at the end."""
        task = self.loop.create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _send(self, current: float) -> None:
        assert self.station is not None
        try:
            if current > 0:
                await self.station.set_current(current, 1)
            else:
                await self.station.pause_charging()
        except KebaError as err:
            self.result.engine_errors += 1
            _LOGGER.warning("%s/%s: command failed: %s", self.spec.day, self.spec.strategy, err)

    # -------------------------------------------------------------- datagrams
    def in_flight(self) -> int:
        """Datagrams sent (by the engine, the station or the probe) and not yet received."""
        st = self.sim.stations[0]
        endpoint = self.station.endpoint if self.station is not None else None
        engine_sent = sum(link.sent for link in endpoint.links().values()) if endpoint else 0
        engine_received = endpoint.stats.received if endpoint else 0
        probe_received = self._probe.received if self._probe else 0
        to_station = engine_sent + self._probe_sent - st.stats["received"]
        from_station = st.stats["sent"] - engine_received - probe_received
        return to_station + from_station

    # ------------------------------------------------------------------ tasks
    async def _every(self, period: float, action: Any, *, first: float = 0.0) -> None:
        """Call ``action(now)`` at ``first``, ``first + period``, … (no drift)."""
        at = first
        while True:
            delay = at - self.loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            action(self.loop.time())
            at += period

    def _busy(self) -> bool:
        assert self.station is not None
        status = self.station.snapshot.status
        return status is not None and bool(status.vehicle_plugged or status.charging)

    def _on_station_event(self, _event: StationEvent) -> None:
        busy = self._busy()
        if busy != self._was_busy:
            self._was_busy = busy
            self._repace.set()

    async def _poller(self) -> None:
        """Poll like the coordinator: 5 s while plugged, 30 s otherwise, re-paced on plug."""
        assert self.station is not None
        while True:
            try:
                await self.station.refresh()
            except KebaError as err:
                self.result.engine_errors += 1
                _LOGGER.warning("poll failed: %s", err)
            self._was_busy = self._busy()
            self._repace.clear()
            try:
                await asyncio.wait_for(
                    self._repace.wait(), POLL_PLUGGED_S if self._was_busy else POLL_IDLE_S
                )
            except TimeoutError:
                continue
            # A vehicle was plugged in or out: the next poll follows at the new pace.
            await asyncio.sleep(POLL_PLUGGED_S if self._busy() else POLL_IDLE_S)

    def _car_power_true_w(self) -> float:
        return float(self.sim.stations[0].report(3)["P"]) / 1000.0

    def _meter_sample(self, now: float) -> None:
        second = min(DAY_S - 1, int(now))
        grid = self.day.house_w[second] + self._car_power_true_w() - self.day.pv_w[second]
        if self.battery is not None:
            # The inverter has balanced the site by the time the meter reads it.
            self.battery.power_w = self.battery.power_for(-grid)
            grid += self.battery.power_w
        self._grid_latest = grid
        self._pv_latest = self.day.pv_w[second]
        hook = getattr(self._strategy_obj, "on_grid_reading", None)
        if hook is not None:
            hook(now)

    def _controller_state(self) -> str:
        """The state the strategy reported at its last step (first word), or ``-``."""
        state = self._strategy_obj.state if self._strategy_obj is not None else ""
        return state.split(maxsplit=1)[0] if state else "-"

    def _measure_second(self, now: float) -> None:
        second = round(now)
        if second >= DAY_S:
            return
        st = self.sim.stations[0]
        car = self._car_power_true_w()
        pv, house = self.day.pv_w[second], self.day.house_w[second]
        surplus = max(0.0, pv - house)
        r = self.result
        kwh = 1.0 / 3_600_000.0
        direct = min(car, surplus)
        from_battery = 0.0
        balance = pv - house - car
        grid = -balance
        if self.battery is not None:
            flow = self.battery.step(balance)
            grid = -(balance - flow)
            # The battery covers the house first (the PV does too), then the vehicle.
            from_battery = min(car - direct, max(0.0, -flow - max(0.0, house - pv)))
        r.site_import_kwh += max(0.0, grid) * kwh
        covered = direct + from_battery
        r.energy_kwh += car * kwh
        r.from_surplus_kwh += covered * kwh
        r.from_battery_kwh += from_battery * kwh
        r.import_kwh += (car - covered) * kwh
        state = self._controller_state()
        pending = False
        if car > covered:
            r.import_by_state[state] = r.import_by_state.get(state, 0.0) + (car - covered) * kwh
            report = st.report(2)
            pending = report["Max curr"] > report["Curr user"]
        if self.plugged:
            r.import_sources.add(state, (car - covered) * kwh, lowering_pending=pending)
        plan = self.day.vehicle
        if self.plugged and not self.full:
            p_max = plan.phases * NOMINAL_VOLTAGE * min(plan.max_current_a, MAX_CURRENT_A)
            p_max *= POWER_FACTOR
            p_min = plan.phases * NOMINAL_VOLTAGE * MIN_CURRENT_A * POWER_FACTOR
            export = max(0.0, -grid)
            unused = min(export, max(0.0, p_max - car))
            r.unused_kwh += unused * kwh
            if unused > 0:
                r.unused_by_state[state] = r.unused_by_state.get(state, 0.0) + unused * kwh
            if surplus >= p_min:
                r.unused_startable_kwh += unused * kwh
        charging = car > 0
        if self._was_charging and not charging and self.plugged and not self.full:
            r.cycles += 1
        self._was_charging = charging
        # The vehicle is full: it stops drawing.
        if self.plugged and not self.full:
            e_pres_kwh = st.report(3)["E pres"] / 10_000.0
            if e_pres_kwh >= plan.wanted_kwh:
                self.full = True
                r.full_at = now
                st.vehicle_stops_drawing()
        self._drain_received()
        if self.spec.trace and second % 10 == 0:
            offered = st.report(2)["Max curr"] / 1000.0
            state = self._strategy_obj.state if self._strategy_obj is not None else ""
            grid = self._grid_latest if self._grid_latest is not None else math.nan
            r.trace.append(
                (second, round(pv), round(house), round(car), round(grid), offered, state)
            )

    def _drain_received(self) -> None:
        st = self.sim.stations[0]
        total = st.stats["received"]
        new = total - self._received_seen
        self._received_seen = total
        if new <= 0:
            return
        for _at, client, text in list(st.received)[-new:]:
            words = text.split()
            if client != self.client_ip or not words or words[0].lower() != "currtime":
                continue
            self.result.currtime_sent += 1
            value = int(words[1])
            if value != self._last_currtime:
                self.result.current_changes += 1
                self._last_currtime = value

    def _plug_in(self) -> None:
        plan = self.day.vehicle
        self.plugged = True
        self.sim.stations[0].plug_in(phases=plan.phases, max_current_a=plan.max_current_a)

    def _unplug(self) -> None:
        self.plugged = False
        self.sim.stations[0].unplug()

    # -------------------------------------------------------------------- run
    async def _run_probe(self) -> None:
        """Two datagrams 50 ms apart from a third address: the checker must flag them."""
        transport, probe = await self.loop.create_datagram_endpoint(
            _Probe, local_addr=(self.probe_ip, 7090)
        )
        self._probe = probe
        try:
            for _ in range(2):
                self._probe_sent += 1
                transport.sendto(b"report 1", (self.station_ip, 7090))
                await asyncio.sleep(PROBE_GAP_S)
            await asyncio.sleep(0.5)
        finally:
            transport.close()
        rules = {v["rule"] for v in self.sim.violations() if v["client"] == self.probe_ip}
        self.result.probe_flagged = {"udp_pause", "com_pause"} <= rules

    def _strategy(self) -> Strategy:
        phases = self.day.vehicle.phases
        if self.spec.phase_switching:
            switching_strategy, _ = make_strategy(
                self,
                self.spec.strategy,
                phases,
                battery=SITE_BATTERY if self.battery else None,
            )
            if switching_strategy is not None:
                return switching_strategy
        match self.spec.strategy:
            case "solar" | "min_solar":
                return ControllerStrategy(
                    self, self.spec.strategy, battery=SITE_BATTERY if self.battery else None
                )
            case "naive":
                return NaiveStrategy(self, lambda: phases)
            case "evcc":
                return EvccStrategy(self, lambda: phases, battery=SITE_BATTERY)
        raise ValueError(f"unknown strategy {self.spec.strategy!r}")

    async def run(self) -> RunResult:
        wall = time.perf_counter()
        if not self.spec.kernel_timestamps:
            sim_station._SO_TIMESTAMPNS = None  # noqa: SLF001 - see the module docstring
        self.loop.set_in_flight(self.in_flight)
        logging.getLogger(sim_station.__name__).addFilter(_HideProbeWarnings(self.probe_ip))
        await self.sim.start()
        try:
            await self._run_probe()
            endpoint = await self.pool.acquire(self.client_ip)
            self.station = KebaStation(endpoint, self.station_ip)
            await self.station.connect()
            self.station.add_listener(self._on_station_event)
            strategy = self._strategy_obj = self._strategy()
            plan = self.day.vehicle
            self.loop.call_at(plan.plug_in_s, self._plug_in)
            self.loop.call_at(plan.unplug_s, self._unplug)
            background = [
                self.loop.create_task(self._poller()),
                self.loop.create_task(self._every(METER_INTERVAL_S, self._meter_sample)),
                self.loop.create_task(self._every(1.0, self._measure_second, first=1.0)),
                self.loop.create_task(
                    self._every(strategy.interval, strategy.tick, first=strategy.interval)
                ),
            ]
            # The day, or until a background task fails (a strategy that raised would leave
            # the station at its last current: the day's figures would be wrong, not bad).
            await asyncio.wait(
                background,
                timeout=DAY_S + 1.0 - self.loop.time(),
                return_when=asyncio.FIRST_EXCEPTION,
            )
            for task in background:
                task.cancel()
            outcomes = await asyncio.gather(*background, *self._tasks, return_exceptions=True)
            for outcome in outcomes:
                if isinstance(outcome, Exception):
                    raise RunFailed(
                        f"{self.spec.strategy} on {self.day.name} failed at "
                        f"{hhmm(self.loop.time())}:\n"
                        + "".join(traceback.format_exception(outcome)).rstrip()
                    )
            if isinstance(strategy, ControllerStrategy):
                self.result.states = dict(strategy.states)
                self.result.reasons = list(strategy.reasons)
            st = self.sim.stations[0]
            if self.battery is not None:
                self.result.battery_soc_end = self.battery.soc_pct
            self.result.meter_energy_kwh = sum(s["E pres"] for s in st.history) / 10_000.0
            self.result.commands = dict(sorted(st.commands.items()))
            self.result.phase_switches = st.phase_switches
            self.result.violation_details = [
                v for v in self.sim.violations() if v["client"] == self.client_ip
            ]
            self.result.violations = len(self.result.violation_details)
            await self.station.close()
            await self.pool.release(endpoint)
        finally:
            await self.sim.stop()
        self.result.lost_datagrams = self.loop.lost_datagrams
        self.result.loop_jumps = self.loop.clock.jumps
        self.result.virtual_s = self.loop.time()
        self.result.wall_s = time.perf_counter() - wall
        return self.result


def run_one(spec: RunSpec) -> RunResult:
    """Simulate one day with one strategy on a fresh virtual-time loop (call in a process)."""
    logging.basicConfig(level=logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    day = build_day(spec)
    with asyncio.Runner(loop_factory=VirtualTimeLoop) as runner:
        loop = runner.get_loop()
        assert isinstance(loop, VirtualTimeLoop)
        result = runner.run(_Run(spec, day, loop).run())
    result.site_import_without_vehicle_kwh = import_without_vehicle(day, build_battery(spec))
    return result


def surplus_share_text(result: RunResult) -> str:
    """The share as a percentage, or a dash."""
    share = result.surplus_share
    return "–" if share is None or math.isnan(share) else f"{share * 100:.1f} %"


__all__ = [
    "ImportSources",
    "RunFailed",
    "RunResult",
    "RunSpec",
    "build_day",
    "run_one",
    "surplus_share_text",
]
