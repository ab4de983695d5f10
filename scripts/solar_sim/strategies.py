"""Who decides the charging current: the integration's controller and two baselines.

Every strategy sees the same things Home Assistant would (the grid meter, the station's
reports through the protocol engine) and acts only through the engine's commands
(``KebaStation.set_current(A, 1)`` → ``currtime <mA> 1``, ``pause_charging()`` →
``currtime 0 1``), so KEBA's timing rules are kept by the same scheduler for all of them.

* ``solar`` / ``min_solar``: the integration's charging-site logic
  (:class:`~custom_components.keba.site_control.SiteController`, the same code Home Assistant
  runs) with default station settings: every grid (and battery) reading is fed to it with its
  time, the station as ``solar.py`` measures it; stepped every 10 s (the integration's default
  control interval; it averages the readings over the interval itself); ``react`` on every
  grid reading (lowering at once on import), as ``solar.py`` does.
* ``naive``: the usual automation. Every 10 s: surplus = −grid + the car's power (+ what a
  home battery charges), current =
  ⌊surplus / (230 V × phases)⌋ up to 16 A; below 6 A it pauses (``currtime 0 1``). It sends its
  value every time, changed or not. It is told the vehicle's phases.
* ``evcc``: evcc's published defaults for PV mode: a 30 s control interval, charging enabled
  after the surplus has covered the minimum power for 1 min, disabled after it has been short of
  it for 3 min, holding the minimum current in between; otherwise the current follows the
  surplus. As evcc does, the timers are elapsed when a vehicle connects (it may start or stop at
  once), and a current is sent only when it changes. It is told the vehicle's phases.
"""

from __future__ import annotations

from collections.abc import Callable
import math
from typing import Any, Protocol

from custom_components.keba.site_control import (
    BatterySettings,
    ChargingMode,
    Reading,
    SiteController,
    SiteSettings,
    StationMeasurement,
    SurplusSettings,
)

#: Control interval of the integration (``DEFAULT_CONTROL_INTERVAL``) and of the automation.
CONTROLLER_INTERVAL_S = 10.0
NAIVE_INTERVAL_S = 10.0
#: evcc's defaults: ``interval: 30s``, ``enable.delay: 1m``, ``disable.delay: 3m``.
EVCC_INTERVAL_S = 30.0
EVCC_ENABLE_DELAY_S = 60.0
EVCC_DISABLE_DELAY_S = 180.0

NOMINAL_VOLTAGE = 230.0
MIN_CURRENT_A = 6
MAX_CURRENT_A = 16

STRATEGY_NAMES = ("solar", "min_solar", "naive", "evcc")

#: The home battery's settings, for the controller and (with evcc's meaning, which they share)
#: for the evcc baseline: the battery charges first up to 10 %, above 50 % it bridges dips of a
#: running session, no session starts on the battery alone.
SITE_BATTERY = BatterySettings(priority_soc=10.0, buffer_soc=50.0, buffer_start_soc=None)


class SiteView(Protocol):
    """What a strategy can read and do (implemented by the simulation run)."""

    def grid_latest_w(self) -> float | None:
        """The grid meter's latest reading (W, + import)."""

    def battery_latest(self) -> tuple[float, float] | None:
        """The home battery's latest power (W, + charging) and state of charge (%); None: none."""

    def pv_latest_w(self) -> float:
        """The PV production at the meter's last reading (W): a PV power sensor."""

    def station_measurement(self, mode: ChargingMode, settings: SurplusSettings) -> Any:
        """The station as ``solar.py`` measures it; None before the first poll."""

    def car_power_w(self) -> float:
        """The vehicle's power as the station's last report 3 shows it (W)."""

    def vehicle_plugged(self) -> bool:
        """Report 2 (or a push) shows a vehicle plugged in."""

    def charging(self) -> bool:
        """Report 2 (or a push) shows the vehicle charging."""

    def send(self, current: float) -> None:
        """Offer ``current`` A (0: pause) through the engine, in the background."""


class Strategy(Protocol):
    """One way of deciding the current; :meth:`tick` runs every :attr:`interval` seconds."""

    name: str
    interval: float
    #: What it is doing, for traces.
    state: str

    def tick(self, now: float) -> None:
        """Decide and (maybe) send."""


class ControllerStrategy:
    """The integration's charging-site control logic in ``solar`` or ``min_solar`` mode.

    Fed like ``solar.py`` feeds it: every grid (and battery) reading with its time, the station
    as its reports show it; stepped every control interval; ``react`` on every grid reading.
    """

    interval = CONTROLLER_INTERVAL_S

    def __init__(
        self,
        site: SiteView,
        mode: str,
        *,
        battery: BatterySettings | None = None,
        settings: SurplusSettings | None = None,
    ) -> None:
        """Regulate the station of ``site`` in ``mode``."""
        self.name = mode
        self._site = site
        self._mode = ChargingMode(mode)
        self._settings = settings or SurplusSettings()
        self.control = SiteController(
            SiteSettings(control_interval_s=CONTROLLER_INTERVAL_S, battery=battery)
        )
        self.states: dict[str, float] = {}
        self.reasons: list[tuple[float, str, str]] = []
        self._last_state: str | None = None
        self._last_at: float | None = None
        self.state = ""

    def _measurement(self) -> StationMeasurement | None:
        """The station as its reports show it, as ``solar.py`` builds it."""
        return self._site.station_measurement(self._mode, self._settings)

    def _feed_station(self, now: float) -> bool:
        measurement = self._measurement()
        if measurement is None:
            return False
        self.control.feed_station(measurement, now)
        return True

    def tick(self, now: float) -> None:
        """One control interval, as ``solar.py``'s ``_Site._async_tick``."""
        if not self._feed_station(now):
            return
        status = self.control.step(now)
        (decision,) = status.decisions
        # Time spent in each controller state (for the report).
        if self._last_state is not None and self._last_at is not None:
            self.states[self._last_state] = self.states.get(self._last_state, 0.0) + (
                now - self._last_at
            )
        if not self.reasons or self.reasons[-1][2] != status.reason:
            self.reasons.append((now, status.state.value, status.reason))
        self._last_state, self._last_at = decision.state.value, now
        self.state = (
            f"{decision.state.value} {decision.target_current} {decision.surplus_w:.0f}"
            if decision.surplus_w is not None
            else decision.state.value
        )
        if decision.command is not None:
            self._site.send(decision.command)

    def on_grid_reading(self, now: float) -> None:
        """A new meter reading: fed to the site, which lowers at once on import."""
        self.control.feed(Reading.GRID, self._site.grid_latest_w(), now)
        self.control.feed(Reading.PV_POWER, self._site.pv_latest_w(), now)
        battery = self._site.battery_latest()
        if battery is not None:
            self.control.feed(Reading.BATTERY_POWER, battery[0], now)
            self.control.feed(Reading.BATTERY_SOC, battery[1], now)
        if not self._feed_station(now):
            return
        for decision in self.control.react(now):
            if decision.command is not None:
                self._site.send(decision.command)


def _amps(surplus_w: float, phases: int) -> int:
    return math.floor(surplus_w / (NOMINAL_VOLTAGE * phases))


class NaiveStrategy:
    """current = surplus / voltage, applied every 10 s."""

    name = "naive"
    interval = NAIVE_INTERVAL_S

    def __init__(self, site: SiteView, phases: Callable[[], int]) -> None:
        """Regulate the station of ``site``; ``phases`` is what the user configured."""
        self._site = site
        self._phases = phases
        self.state = ""

    def tick(self, now: float) -> None:
        """Compute and send."""
        grid = self._site.grid_latest_w()
        if grid is None or not self._site.vehicle_plugged():
            return
        surplus = -grid + self._site.car_power_w()
        battery = self._site.battery_latest()
        if battery is not None:
            # What the home battery charges is surplus too (it would have been exported).
            surplus += battery[0]
        amps = _amps(surplus, self._phases())
        current = 0 if amps < MIN_CURRENT_A else min(amps, MAX_CURRENT_A)
        self.state = f"{current} {surplus:.0f}"
        self._site.send(current)


class EvccStrategy:
    """evcc's PV mode with its published default timers and its home-battery settings.

    With a battery (evcc's ``site.go``, facts only): below the priority SoC a charging battery's
    power is not surplus; otherwise the battery's power counts (charging adds to the surplus,
    discharging takes from it). Above the buffer SoC a running session is not disabled for
    lack of surplus (it keeps the minimum current); above the buffer start SoC a session starts
    without surplus.
    """

    name = "evcc"
    interval = EVCC_INTERVAL_S

    def __init__(
        self,
        site: SiteView,
        phases: Callable[[], int],
        *,
        battery: BatterySettings | None = None,
    ) -> None:
        """Regulate the station of ``site``; ``phases`` is what the user configured."""
        self._site = site
        self._phases = phases
        self._battery = battery
        self._plugged = False
        self._enabled = False
        self._current: int | None = None
        self._timer_since: float | None = None
        self.state = ""

    def _set(self, amps: int) -> None:
        if amps != self._current:
            self._current = amps
            self._site.send(amps)

    def _site_power(self, grid: float) -> tuple[float, bool, bool]:
        """Evcc's site power (W, + import), whether the battery buffers, whether it starts."""
        latest = self._site.battery_latest()
        settings = self._battery
        if latest is None or settings is None:
            return grid, False, False
        power, soc = latest  # + charging
        if soc < settings.priority_soc and power > 0:
            return grid, False, False
        buffered = settings.buffer_soc is not None and soc > settings.buffer_soc
        start = settings.buffer_start_soc is not None and soc > settings.buffer_start_soc
        return grid - power, buffered, start

    def tick(self, now: float) -> None:
        """One evcc cycle."""
        plugged = self._site.vehicle_plugged()
        if plugged and not self._plugged:
            # evcc elapses its PV timer when a vehicle connects: it may act at once. The
            # charger's enabled state is read from the station.
            self._enabled = self._site.charging()
            self._current = None
            self._timer_since = -math.inf
        self._plugged = plugged
        grid = self._site.grid_latest_w()
        if not plugged or grid is None:
            return
        phases = self._phases()
        site_power, buffered, start = self._site_power(grid)
        surplus = -site_power + self._site.car_power_w()
        amps = _amps(surplus, phases)
        self.state = f"{'on' if self._enabled else 'off'} {self._current} {surplus:.0f}"
        if not self._enabled:
            if start:
                self._enabled, self._timer_since = True, None
                self._set(max(MIN_CURRENT_A, min(amps, MAX_CURRENT_A)))
                return
            if amps >= MIN_CURRENT_A:
                if self._timer_since is None:
                    self._timer_since = now
                if now - self._timer_since >= EVCC_ENABLE_DELAY_S:
                    self._enabled, self._timer_since = True, None
                    self._set(min(amps, MAX_CURRENT_A))
            else:
                self._timer_since = None
                if self._current != 0:
                    self._set(0)
            return
        if amps >= MIN_CURRENT_A:
            self._timer_since = None
            self._set(min(amps, MAX_CURRENT_A))
            return
        if buffered:
            # The battery buffers: keep charging at the minimum.
            self._timer_since = None
            self._set(MIN_CURRENT_A)
            return
        if self._timer_since is None:
            self._timer_since = now
        if now - self._timer_since >= EVCC_DISABLE_DELAY_S:
            self._enabled, self._timer_since = False, None
            self._set(0)
        else:
            self._set(MIN_CURRENT_A)
