"""Switching between 1 and 3 phases in the solar benchmark (``--phase-switching``).

The station is the simulator's S10-equipped x-series (``p30-x-s10``, phase-switch source UDP,
three phases at the start, the switch moving 1 s after X2). Every switch runs the engine's
:class:`~custom_components.keba.kecontact.phases.PhaseSwitcher` sequence (``currtime 0 1``, no
current in report 3, ``x2``, report 2, settle 10 s, resume), so both strategies pay the same
pause for it and KEBA's timing rules are kept by the same scheduler.

* ``solar``: the site controller plus :class:`~custom_components.keba.phase_policy.PhasePolicy`
  with its defaults (three phases when the surplus carries them with 35 % headroom over
  5 minutes — at least the start delay —, one phase when it does not: at once while paused,
  instead of a pause, and at once when a dip starts on three phases), with the switcher's safe
  defaults (5 minutes between switches, at most 20 per session). While those 5 minutes forbid
  the switch down, the site controller learns how long until it is allowed (as ``solar.py``
  feeds it) and pauses a dip that three phases cannot hold until then within a one-phase budget.
* ``evcc``: evcc's documented automatic phase switching with its default timers: scale to one
  phase when the available power is below the three-phase minimum for the disable delay
  (3 min; at once while the charger is disabled), to three phases when it covers the
  three-phase minimum for the enable delay (1 min). evcc keeps no dwell time and no cap.
"""

from __future__ import annotations

from collections.abc import Coroutine
from dataclasses import replace
import math
from typing import Any, Protocol

from custom_components.keba.kecontact import KebaError, KebaStation
from custom_components.keba.kecontact.phases import PhaseSwitcher, PhaseSwitchSettings, x2_phases
from custom_components.keba.phase_policy import PhasePolicy, PhasePolicySettings
from custom_components.keba.site_control import BatterySettings, ControllerState, StationMeasurement

from .strategies import (
    EVCC_DISABLE_DELAY_S,
    EVCC_ENABLE_DELAY_S,
    MAX_CURRENT_A,
    MIN_CURRENT_A,
    NOMINAL_VOLTAGE,
    ControllerStrategy,
    EvccStrategy,
    SiteView,
)

#: The integration's defaults (options "phases").
SOLAR_SWITCH = PhaseSwitchSettings(settle_s=10.0, follow_timeout_s=30.0)
#: evcc: no dwell time, no cap; the same pause and settle as the integration.
EVCC_SWITCH = PhaseSwitchSettings(
    dwell_s=0.0, max_switches_per_session=10_000, settle_s=10.0, follow_timeout_s=30.0
)


class PhaseSite(Protocol):
    """What the run offers for switching."""

    station: KebaStation | None

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background (gathered at the end of the run)."""


class Switching:
    """The station's switcher and the switch running now, if any."""

    def __init__(self, site: PhaseSite, settings: PhaseSwitchSettings) -> None:
        """Bind to the run's station (created once it is connected)."""
        self._site = site
        self._settings = settings
        self._switcher: PhaseSwitcher | None = None
        self.running = False
        self.requested = 0
        self.errors = 0

    @property
    def switcher(self) -> PhaseSwitcher:
        """The engine's switcher of the station."""
        if self._switcher is None:
            assert self._site.station is not None
            self._switcher = PhaseSwitcher(self._site.station, self._settings)
        return self._switcher

    def phases(self) -> int:
        """What X2 selects now (report 2); 3 before the first report."""
        station = self._site.station
        return (x2_phases(station.snapshot.status) if station else None) or 3

    def request(self, phases: int, resume: float | None) -> None:
        """Start a switch in the background."""
        self.running = True
        self.requested += 1
        self._site.spawn(self._switch(phases, resume))

    async def _switch(self, phases: int, resume: float | None) -> None:
        try:
            await self.switcher.switch(phases, resume)
        except KebaError:
            self.errors += 1
        finally:
            self.running = False


class _Capture:
    """A ``SiteView`` that keeps the controller's commands for the phase decision."""

    def __init__(self, site: SiteView) -> None:
        self._site = site
        self.commands: list[float] = []
        self.passthrough = True

    def send(self, current: float) -> None:
        if self.passthrough:
            self._site.send(current)
        else:
            self.commands.append(current)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._site, name)


class PhaseSwitchingController(ControllerStrategy):
    """The site controller in ``solar`` mode with the phase policy choosing 1 or 3 phases."""

    def __init__(
        self,
        site: SiteView,
        mode: str,
        switching: Switching,
        *,
        battery: BatterySettings | None = None,
    ) -> None:
        """Regulate ``site`` in ``mode``; ``switching`` makes the switches."""
        self._capture = _Capture(site)
        super().__init__(self._capture, mode, battery=battery)  # type: ignore[arg-type]
        self._switching = switching
        start = self._settings.start_delay_s
        self.policy = PhasePolicy(
            PhasePolicySettings(up_delay_s=max(start, PhasePolicySettings().up_delay_s))
        )

    def _measurement(self) -> StationMeasurement | None:
        """As ``solar.py``: on three phases, when a switch to one may come."""
        measurement = super()._measurement()
        if measurement is None or self._switching.phases() != 3:
            return measurement
        return replace(measurement, fewer_phases_in_s=self._switching.switcher.next_switch_in())

    def _use_phases(self) -> None:
        self._settings = replace(self._settings, phases=self._switching.phases())

    def tick(self, now: float) -> None:
        """One control interval; a switch replaces the controller's command."""
        if self._switching.running:
            return
        self._use_phases()
        capture = self._capture
        capture.commands.clear()
        capture.passthrough = False
        try:
            super().tick(now)
        finally:
            capture.passthrough = True
        # The phases X2 selects go with the state: ``--by-state`` attributes import and unused
        # surplus to e.g. ``holding_through_dip/3p`` and ``charging_from_surplus/1p``.
        word, _, rest = self.state.partition(" ")
        if word:
            self.state = f"{word}/{self._settings.phases}p {rest}".rstrip()
        status = self.control.status
        decision = status.decisions[0] if status is not None and status.decisions else None
        switcher = self._switching.switcher
        may_switch = switcher.next_switch_in() == 0
        choice = None
        if decision is not None and capture.vehicle_plugged():
            choice = self.policy.decide(
                now,
                phases=self._switching.phases(),
                surplus_w=decision.surplus_w,
                charging=capture.charging(),
                holding_dip=decision.state is ControllerState.HOLDING_THROUGH_DIP,
                wants_pause=decision.command == 0,
                may_switch=may_switch,
                switches_left=switcher.settings.max_switches_per_session
                - switcher.switches_this_session,
            )
        if choice is not None:
            self.state = f"switching_{choice.phases}p {choice.reason}"
            self._switching.request(choice.phases, choice.resume_current)
            return
        for command in capture.commands:
            capture.send(command)

    def on_grid_reading(self, now: float) -> None:
        """Between intervals: nothing while a switch runs."""
        if self._switching.running:
            return
        self._use_phases()
        super().on_grid_reading(now)


class EvccPhaseStrategy(EvccStrategy):
    """evcc's PV mode with its automatic 1p/3p switching and default timers."""

    def __init__(self, site: SiteView, switching: Switching, vehicle_phases: int) -> None:
        """Regulate ``site``; the vehicle charges on up to ``vehicle_phases``."""
        super().__init__(site, lambda: min(vehicle_phases, switching.phases()))
        self._evcc_site = site
        self._switching = switching
        self._scale_since: float | None = None
        self._scale_to: int | None = None

    def _scale(self, now: float, target: int, delay: float) -> bool:
        if self._scale_to != target:
            self._scale_to, self._scale_since = target, now
        assert self._scale_since is not None
        return now - self._scale_since >= delay

    def tick(self, now: float) -> None:
        """One evcc cycle: its phase scaling, then its current control on the active phases."""
        if self._switching.running:
            return
        site = self._evcc_site
        grid = site.grid_latest_w()
        if site.vehicle_plugged() and grid is not None:
            surplus = -grid + site.car_power_w()
            three = math.floor(surplus / (NOMINAL_VOLTAGE * 3)) >= MIN_CURRENT_A
            phases = self._switching.phases()
            charging = site.charging()
            target: int | None = None
            if phases == 3 and not three:
                # Disabled charger: the timer is elapsed (evcc scales at once).
                if not charging or self._scale(now, 1, EVCC_DISABLE_DELAY_S):
                    target = 1
            elif phases == 1 and three:
                if self._scale(now, 3, EVCC_ENABLE_DELAY_S):
                    target = 3
            else:
                self._scale_to = self._scale_since = None
            if target is not None:
                self._scale_to = self._scale_since = None
                amps = math.floor(surplus / (NOMINAL_VOLTAGE * target))
                resume = float(min(max(amps, MIN_CURRENT_A), MAX_CURRENT_A)) if charging else None
                self.reset_after_switch(resume)
                self._switching.request(target, resume)
                self.state = f"switching_{target}p"
                return
        super().tick(now)

    def reset_after_switch(self, resume: float | None) -> None:
        """After a switch evcc re-enables at the resumed current, or stays disabled."""
        self._current = int(resume) if resume else 0
        self._enabled = resume is not None


def make_strategy(
    site: Any, name: str, vehicle_phases: int, *, battery: BatterySettings | None = None
) -> tuple[ControllerStrategy | EvccStrategy | None, Switching | None]:
    """The phase-switching variant of strategy ``name`` (None: it has none)."""
    match name:
        case "solar" | "min_solar":
            switching = Switching(site, SOLAR_SWITCH)
            controller = PhaseSwitchingController(site, name, switching, battery=battery)
            return controller, switching
        case "evcc":
            switching = Switching(site, EVCC_SWITCH)
            return EvccPhaseStrategy(site, switching, vehicle_phases), switching
    return None, None


__all__ = ["EvccPhaseStrategy", "PhaseSwitchingController", "Switching", "make_strategy"]
