"""The phase policy of solar charging: when one phase, when three (pure logic, no I/O)."""

from __future__ import annotations

import pytest

from custom_components.keba.phase_policy import PhasePolicy, PhasePolicySettings

SETTINGS = PhasePolicySettings(up_delay_s=300, down_hold_s=20, headroom=1.2)
MIN1, MIN3 = 230 * 6, 3 * 230 * 6  # 1380 W, 4140 W


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations() -> None:
    """Pure logic: no Home Assistant."""


def _feed(
    policy: PhasePolicy,
    start: float,
    end: float,
    surplus: float,
    *,
    phases: int,
    charging: bool = True,
    holding: bool = False,
    pause: bool = False,
) -> list[tuple[float, int, float | None]]:
    """Step every 10 s; return the switches asked for (time, phases, resume current)."""
    asked = []
    now = start
    while now <= end:
        choice = policy.decide(
            now,
            phases=phases,
            surplus_w=surplus,
            charging=charging,
            holding_dip=holding,
            wants_pause=pause,
        )
        if choice is not None:
            asked.append((now, choice.phases, choice.resume_current))
        now += 10
    return asked


def test_three_phases_only_after_the_up_delay_with_headroom() -> None:
    """On one phase: 3 × 6 A × 1.2 sustained for 300 s, not a moment earlier, not less."""
    policy = PhasePolicy(SETTINGS)
    assert _feed(policy, 0, 290, MIN3 * 1.25, phases=1) == []
    assert _feed(policy, 300, 300, MIN3 * 1.25, phases=1) == [(300, 3, 7.0)]
    below = PhasePolicy(SETTINGS)
    assert _feed(below, 0, 900, MIN3 * 1.15, phases=1) == []  # no headroom: stays on one


def test_one_phase_at_once_while_paused() -> None:
    """Paused on three phases with a surplus for one phase only: switch, stay paused."""
    policy = PhasePolicy(SETTINGS)
    asked = _feed(policy, 0, 30, 2000, phases=3, charging=False)
    assert asked[0][1:] == (1, None)
    nothing = PhasePolicy(SETTINGS)
    assert _feed(nothing, 0, 60, 500, phases=3, charging=False) == []  # not even one phase


def test_one_phase_instead_of_a_pause_and_after_a_long_held_dip() -> None:
    """Charging on three: a pause becomes one phase; a held dip moves after 20 s."""
    policy = PhasePolicy(SETTINGS)
    assert _feed(policy, 0, 0, 2500, phases=3, pause=True) == [(0, 1, 10.0)]
    held = PhasePolicy(SETTINGS)
    asked = _feed(held, 0, 30, 3000, phases=3, holding=True)
    assert asked[0] == (20, 1, 13.0)  # asked again each step until X2 shows one phase
    short = PhasePolicy(SETTINGS)
    assert _feed(short, 0, 10, 3000, phases=3, holding=True) == []
    # A held dip below one phase's minimum still moves: holding 6 A on one phase.
    deep = PhasePolicy(SETTINGS)
    assert _feed(deep, 0, 20, 400, phases=3, holding=True) == [(20, 1, 6.0)]


def test_no_switch_when_not_allowed_or_unknown() -> None:
    """``may_switch`` False (dwell, cap) and an unknown surplus ask for nothing."""
    policy = PhasePolicy(SETTINGS)
    for now in range(0, 400, 10):
        assert (
            policy.decide(
                now,
                phases=1,
                surplus_w=MIN3 * 2,
                charging=True,
                holding_dip=False,
                wants_pause=False,
                may_switch=False,
            )
            is None
        )
    assert (
        policy.decide(
            400,
            phases=1,
            surplus_w=None,
            charging=True,
            holding_dip=False,
            wants_pause=False,
        )
        is None
    )
    # The history kept while switching was forbidden counts once it is allowed again.
    assert _feed(policy, 410, 410, MIN3 * 2, phases=1) == [(410, 3, 12.0)]


def test_last_switch_of_a_session_is_kept_for_one_phase() -> None:
    """With one switch left, the policy does not go up (it could not come back down)."""
    policy = PhasePolicy(SETTINGS)
    asked = []
    for now in range(0, 400, 10):
        choice = policy.decide(
            now,
            phases=1,
            surplus_w=MIN3 * 2,
            charging=True,
            holding_dip=False,
            wants_pause=False,
            switches_left=1,
        )
        asked.append(choice)
    assert asked == [None] * 40
    down = policy.decide(
        400,
        phases=3,
        surplus_w=2000,
        charging=True,
        holding_dip=False,
        wants_pause=True,
        switches_left=1,
    )
    assert down is not None
    assert down.phases == 1


def test_by_default_a_dip_held_on_three_phases_moves_to_one_at_once() -> None:
    """Defaults: the first step holding a dip on three phases asks for one phase.

    Held on three phases a dip imports 4.1 kW minus the surplus, on one phase a third of that;
    the switch's pause imports nothing. While the minimum time between switches forbids it,
    the dip is held, and the switch comes at the first step it is allowed again.
    """
    policy = PhasePolicy()
    asked = _feed(policy, 0, 0, 3000, phases=3, holding=True)
    assert asked == [(0, 1, 13.0)]  # 3000 W / 230 V → 13 A on one phase
    held = PhasePolicy()
    for now in range(0, 60, 10):
        assert (
            held.decide(
                now,
                phases=3,
                surplus_w=2000,
                charging=True,
                holding_dip=True,
                wants_pause=False,
                may_switch=False,
            )
            is None
        )
    choice = held.decide(
        60, phases=3, surplus_w=2000, charging=True, holding_dip=True, wants_pause=False
    )
    assert choice is not None
    assert (choice.phases, choice.resume_current) == (1, 8.0)
    assert "one phase imports a third" in choice.reason
    # Charging on three phases above their minimum: nothing to do.
    calm = PhasePolicy()
    assert _feed(calm, 0, 600, MIN3 * 1.1, phases=3) == []
