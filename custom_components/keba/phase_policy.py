"""Which phases solar charging should use: one when the surplus cannot carry three, else three.

Pure decision logic without Home Assistant and without I/O (time is passed in), used by the
solar benchmark and meant for the solar controller: :class:`PhasePolicy` watches the surplus
the site controller computes each control interval (export plus what the vehicle draws) and
says when a switch of the X2 phase switch pays off:

* **Three phases** when the surplus carries the three-phase minimum (6 A × 3 × 230 V ≈ 4.1 kW)
  with headroom on average over ``up_delay_s`` (at least the start delay).
* **One phase** when it does not: at once while nothing is charging (a switch without load
  costs no start/stop cycle), and while charging on three phases when the site controller's
  dip decision would otherwise pause (one phase, charging on where the surplus carries it,
  else paused there), or as soon as it holds a dip on three phases (``down_hold_s``, 0 by
  default): held on one phase a dip imports a third, and the switch's pause imports nothing.
  On one phase the dip decision holds or pauses as before.

Going up is the hesitant direction on purpose: the minimum time between switches commits a
switch up for minutes, and every cloud in them is held on three phases (three times the
import) or paused. In the solar benchmark (cloudy days, generated broken-cloud and overcast
days) going up earlier (less headroom, a dip-tolerant window, a gain-against-import test over
the window) took up to 0.8 kWh a day more to the car for up to 5 points less from surplus and
more start/stops; switching down at once in a dip took up to 0.3 points more from surplus at
about the same energy and start/stops.

The switch itself (pause, no current, ``x2``, confirm, settle, resume) and its limits (minimum
time between switches, cap per session) belong to :class:`~.kecontact.phases.PhaseSwitcher`;
the policy only asks when :meth:`PhasePolicy.decide` is called with ``may_switch``.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
import math

NOMINAL_VOLTAGE = 230.0


@dataclass(frozen=True, slots=True, kw_only=True)
class PhasePolicySettings:
    """When to switch."""

    min_current: float = 6.0
    max_current: float = 16.0
    voltage: float = NOMINAL_VOLTAGE
    #: Three phases need this much more than their minimum power: a switch up costs a pause,
    #: so it has to last (on the benchmark's cloudy days 1.05 switched up into the next cloud;
    #: 1.35 switched least and took the most from surplus).
    headroom: float = 1.35
    #: Three phases only when the surplus carried them on average over this long (at least the
    #: start delay; 5 minutes, the minimum time between two switches).
    up_delay_s: float = 300.0
    #: A dip held on three phases for this long moves to one phase (a third of the import);
    #: 0: at once (the switch's pause imports nothing, holding on three phases imports most).
    down_hold_s: float = 0.0

    def min_power(self, phases: int) -> float:
        """The power (W) of the minimum current on ``phases``."""
        return phases * self.voltage * self.min_current


@dataclass(frozen=True, slots=True)
class PhaseDecision:
    """A switch the policy asks for."""

    phases: int
    #: The current (A) to resume at on the new phases; None: stay paused.
    resume_current: float | None
    reason: str


class PhasePolicy:
    """Chooses 1 or 3 phases from the surplus, one station."""

    def __init__(self, settings: PhasePolicySettings | None = None) -> None:
        """Start with no history."""
        self.settings = settings or PhasePolicySettings()
        self._samples: deque[tuple[float, float]] = deque()
        self._holding_since: float | None = None

    def reset(self) -> None:
        """Forget the history (a new session)."""
        self._samples.clear()
        self._holding_since = None

    def _average(self, now: float, window: float) -> float | None:
        """Time-weighted average over the last ``window`` s; None until the window is covered."""
        samples = self._samples
        if window <= 0:
            return samples[-1][1] if samples else None
        if not samples or now - samples[0][0] < window:
            return None
        start = now - window
        total = 0.0
        for index, (at, value) in enumerate(samples):
            until = samples[index + 1][0] if index + 1 < len(samples) else now
            begin = max(at, start)
            if until > begin:
                total += value * (until - begin)
        return total / window

    def _resume(self, surplus_w: float, phases: int) -> float | None:
        amps = math.floor(surplus_w / (self.settings.voltage * phases))
        if amps < self.settings.min_current:
            return None
        return float(min(amps, self.settings.max_current))

    def decide(
        self,
        now: float,
        *,
        phases: int,
        surplus_w: float | None,
        charging: bool,
        holding_dip: bool,
        wants_pause: bool,
        may_switch: bool = True,
        switches_left: int | None = None,
    ) -> PhaseDecision | None:
        """Feed one control interval; return a switch to make now, or None.

        ``phases`` is what X2 selects now, ``surplus_w`` the site controller's surplus for the
        station, ``charging`` whether current flows, ``holding_dip`` whether the controller
        holds the minimum through a dip, ``wants_pause`` whether it decided to pause now.
        ``may_switch`` is False while the switcher's dwell time or cap forbids a switch;
        ``switches_left`` (None: no cap) keeps the last switch of a session for one phase, so
        that a session never ends stuck on three phases it cannot carry.
        """
        if surplus_w is None or not math.isfinite(surplus_w):
            return None
        settings = self.settings
        self._samples.append((now, surplus_w))
        keep = max(settings.up_delay_s, settings.down_hold_s) + 1.0
        while len(self._samples) > 1 and self._samples[1][0] <= now - keep:
            self._samples.popleft()
        if holding_dip and phases == 3:
            if self._holding_since is None:
                self._holding_since = now
        else:
            self._holding_since = None
        if not may_switch:
            return None
        min1, min3 = settings.min_power(1), settings.min_power(3)
        carried_three = self._average(now, settings.up_delay_s)
        if phases == 1:
            if switches_left is not None and switches_left < 2:
                return None
            if carried_three is not None and carried_three >= min3 * settings.headroom:
                return PhaseDecision(
                    3,
                    self._resume(carried_three, 3) if charging else None,
                    "the surplus carries three phases",
                )
            return None
        # On three phases.
        if not charging:
            if surplus_w >= min3 * settings.headroom:
                return None
            recent = self._average(now, min(settings.up_delay_s, settings.down_hold_s))
            if recent is not None and min1 <= recent < min3:
                return PhaseDecision(1, None, "the surplus carries one phase, not three")
            return None
        if wants_pause:
            # The dip decision pauses on three phases: one phase instead (charging on if the
            # surplus carries it, else paused there, where the next start needs a third).
            return PhaseDecision(
                1, self._resume(surplus_w, 1), "one phase instead of a pause on three"
            )
        held = self._holding_since
        if held is not None and now - held >= settings.down_hold_s:
            # A dip held on three phases: hold it on one (a third of the import).
            recent = self._average(now, settings.down_hold_s) or surplus_w
            return PhaseDecision(
                1,
                self._resume(recent, 1) or settings.min_current,
                "a dip held on three phases: one phase imports a third",
            )
        return None
