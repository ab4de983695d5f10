"""1/3-phase switching through X2 in Home Assistant: the user's choice and the running switch.

The engine's :class:`~.kecontact.phases.PhaseSwitcher` runs the safe sequence (pause, no
current, ``x2``, confirm, settle, resume) and keeps the dwell time and the cap per session; this
module connects it to the select "Phases", to the plug (a new session resets the cap) and to a
restart in the middle of a switch (the interrupted resume is finished after the restart).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import contextlib
from typing import TYPE_CHECKING, Any

from homeassistant.core import CALLBACK_TYPE, HomeAssistant, callback

from .const import (
    CONF_PHASE_DWELL,
    CONF_PHASE_MAX_SWITCHES,
    CONF_START_DELAY,
    DEFAULT_PHASE_DWELL,
    DEFAULT_PHASE_MAX_SWITCHES,
    DEFAULT_START_DELAY,
    LOGGER,
)
from .kecontact import KebaError, KebaStation
from .kecontact.phases import (
    PhaseSwitcher,
    PhaseSwitchSettings,
    PhaseSwitchSupport,
    SwitchResult,
    phase_switch_support,
    x2_phases,
)
from .phase_policy import PhasePolicy, PhasePolicySettings
from .surplus import ControllerState, Decision

if TYPE_CHECKING:
    from .coordinator import KebaConfigEntry, KebaCoordinator

PHASES_AUTOMATIC = "automatic"
PHASE_CHOICES = [PHASES_AUTOMATIC, "1", "3"]

#: Seconds between X2 confirmed and the resume (the contactor moves, the vehicle sees it).
SETTLE_S = 10.0
#: Seconds to wait for current on the new phases before judging whether the vehicle follows.
FOLLOW_TIMEOUT_S = 60.0


def phase_switching_supported(station: KebaStation) -> bool:
    """The station's report 2 has the X2 fields and its firmware is new enough."""
    snapshot = station.snapshot
    return phase_switch_support(snapshot.info, snapshot.status) is PhaseSwitchSupport.SUPPORTED


class PhaseControl:
    """The station's phase switching while the option "Home Assistant switches" is on."""

    def __init__(
        self, hass: HomeAssistant, entry: KebaConfigEntry, coordinator: KebaCoordinator
    ) -> None:
        """Build the switcher with the entry's dwell time and cap."""
        self.hass = hass
        self.entry = entry
        self.station = coordinator.station
        options = entry.options
        self.switcher = PhaseSwitcher(
            coordinator.station,
            PhaseSwitchSettings(
                dwell_s=float(options.get(CONF_PHASE_DWELL, DEFAULT_PHASE_DWELL)),
                max_switches_per_session=int(
                    options.get(CONF_PHASE_MAX_SWITCHES, DEFAULT_PHASE_MAX_SWITCHES)
                ),
                settle_s=SETTLE_S,
                follow_timeout_s=FOLLOW_TIMEOUT_S,
            ),
        )
        self.choice = PHASES_AUTOMATIC
        #: The current to resume at while a switch has paused charging (kept over a restart).
        self.pending_resume: float | None = None
        self.last_result: SwitchResult | None = None
        self._task: asyncio.Task[None] | None = None
        self._listeners: list[Callable[[], None]] = []
        self._was_plugged: bool | None = None
        start_delay = float(options.get(CONF_START_DELAY, DEFAULT_START_DELAY))
        self.policy = PhasePolicy(
            PhasePolicySettings(up_delay_s=max(start_delay, PhasePolicySettings().up_delay_s))
        )

    # ------------------------------------------------------------------ state
    @property
    def selected_phases(self) -> int | None:
        """The phases X2 selects now, from report 2."""
        return x2_phases(self.station.snapshot.status)

    @property
    def switching(self) -> bool:
        """A switch is running."""
        return self._task is not None and not self._task.done()

    def fewer_phases_in(self) -> float | None:
        """Seconds until the policy may switch three phases down to one (0: now).

        None while X2 does not select three phases, the user chose the phases, the station
        asks for authorization, or no switch is left this session: then no switch to fewer
        phases can come and a dip is held or paused on the phases there are.
        """
        status = self.station.snapshot.status
        if (
            self.choice != PHASES_AUTOMATIC
            or self.selected_phases != 3
            or status is None
            or status.auth_required
        ):
            return None
        return self.switcher.next_switch_in()

    @property
    def stopped_reason(self) -> str | None:
        """Why switching stopped for this session (the switch or vehicle did not follow)."""
        return self.switcher.gave_up_reason

    def attributes(self) -> dict[str, Any]:
        """What the select shows besides the choice."""
        switcher = self.switcher
        return {
            "selected_phases": self.selected_phases,
            "switch_state": switcher.state.value,
            "switches_this_session": switcher.switches_this_session,
            "stopped_reason": switcher.gave_up_reason,
            "last_result": self.last_result.outcome.value if self.last_result else None,
        }

    @callback
    def async_add_listener(self, listener: Callable[[], None]) -> CALLBACK_TYPE:
        """Call ``listener`` when the state changes."""
        self._listeners.append(listener)

        @callback
        def remove() -> None:
            with contextlib.suppress(ValueError):
                self._listeners.remove(listener)

        return remove

    def _notify(self) -> None:
        for listener in list(self._listeners):
            listener()

    # ---------------------------------------------------------------- control
    @callback
    def async_follow_plug(self) -> None:
        """A vehicle unplugged ends the session: the cap and a stop are reset."""
        status = self.station.snapshot.status
        plugged = status.vehicle_plugged if status else None
        if plugged is None or plugged == self._was_plugged:
            return
        was, self._was_plugged = self._was_plugged, plugged
        if was and not plugged:
            self.switcher.new_session()
            self.policy.reset()
            self._notify()

    @callback
    def async_consider(self, decision: Decision, now: float) -> bool:
        """The solar controller decided for this station: switch phases instead?

        True while a switch runs (the controller's command is dropped) or when the policy
        starts one now (only with the choice *automatic*); False: send the command as usual.
        """
        if self.switching:
            return True
        if self.choice != PHASES_AUTOMATIC:
            return False
        status = self.station.snapshot.status
        phases = self.selected_phases
        if status is None or phases is None or not status.vehicle_plugged:
            return False
        switcher = self.switcher
        may_switch = switcher.next_switch_in() == 0 and not status.auth_required
        choice = self.policy.decide(
            now,
            phases=phases,
            surplus_w=decision.surplus_w,
            charging=bool(status.charging),
            holding_dip=decision.state is ControllerState.HOLDING_THROUGH_DIP,
            wants_pause=decision.command == 0,
            may_switch=may_switch,
            switches_left=switcher.settings.max_switches_per_session
            - switcher.switches_this_session,
        )
        if choice is None:
            return False
        LOGGER.debug("%s: %s phase(s): %s", self.station.host, choice.phases, choice.reason)
        return self.async_request(choice.phases, resume_current=choice.resume_current)

    @callback
    def async_choose(self, choice: str) -> None:
        """The user's choice: ``automatic`` (the solar controller decides), ``1`` or ``3``."""
        self.choice = choice
        self._notify()
        if choice in ("1", "3"):
            self.async_request(int(choice))

    @callback
    def async_request(self, phases: int, *, resume_current: float | None = -1.0) -> bool:
        """Start switching to ``phases`` in the background unless a switch is running.

        ``resume_current``: the current to resume at (None: stay paused); by default the
        current the station had.
        """
        if self.switching or self.selected_phases == phases:
            return False
        self._task = self.entry.async_create_background_task(
            self.hass,
            self._async_switch(phases, resume_current),
            f"KEBA {self.station.host} phases",
        )
        return True

    async def _async_switch(self, phases: int, resume_current: float | None) -> None:
        if resume_current is not None and resume_current < 0:
            status = self.station.snapshot.status
            target = status.current_target if status is not None else None
            resume_current = target if target else None
        self.pending_resume = resume_current
        self._notify()
        try:
            self.last_result = await self.switcher.switch(phases, self.pending_resume)
        except asyncio.CancelledError:
            # Home Assistant stops in the middle: the select keeps the current to resume at.
            raise
        except KebaError as err:  # pragma: no cover - the switcher turns these into results
            LOGGER.warning("Switching %s to %s phases failed: %s", self.station.host, phases, err)
        self.pending_resume = None
        self._notify()

    async def async_recover(self, pending_resume: float | None) -> None:
        """After a restart in the middle of a switch: resume charging if it is still paused."""
        status = self.station.snapshot.status
        if not pending_resume or status is None or not status.vehicle_plugged:
            return
        if status.current_target:
            return  # someone set a current meanwhile
        LOGGER.info(
            "%s: resuming at %s A after a restart in the middle of a phase switch",
            self.station.host,
            pending_resume,
        )
        try:
            await self.station.set_current(pending_resume)
        except KebaError as err:
            LOGGER.warning("Resuming %s failed: %s", self.station.host, err)

    def async_shutdown(self) -> None:
        """Forget the listeners (the entry cancels the running switch)."""
        self._listeners.clear()
