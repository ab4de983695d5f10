"""The coordinator: polling pace, pushes, failures, sessions, reboots, clock and failsafe."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest

from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.keba.const import (
    CONF_CHARGING_INTERVAL,
    CONF_FAILSAFE_CURRENT,
    CONF_FAILSAFE_PERSIST,
    CONF_FAILSAFE_TIMEOUT,
    CONF_IDLE_INTERVAL,
    DOMAIN,
    EVENT_SESSION_ENDED,
    EVENT_SESSION_STARTED,
)
from custom_components.keba.coordinator import KebaCoordinator
from custom_components.keba.kecontact import ChargingSession, EventKind, KebaCommandError

from .common import FakeStation


async def _setup(hass: HomeAssistant, entry: MockConfigEntry, **options: Any) -> KebaCoordinator:
    entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(entry, options=options)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    coordinator = entry.runtime_data.coordinator
    # The coordinator polls while someone listens (the entities, in real life).
    entry.async_on_unload(coordinator.async_add_listener(lambda: None))
    return coordinator


async def _advance(hass: HomeAssistant, freezer: FrozenDateTimeFactory, seconds: float) -> None:
    """Let time pass; polls fire up to a second after their interval (coordinator jitter)."""
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()


@pytest.fixture(autouse=True)
def _only_the_coordinator():
    from unittest.mock import patch

    with patch("custom_components.keba.PLATFORMS", []):
        yield


async def test_polls_fast_while_plugged_and_slowly_when_idle(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Charging interval while a vehicle is plugged, idle interval otherwise."""
    coordinator = await _setup(
        hass, mock_config_entry, **{CONF_CHARGING_INTERVAL: 7, CONF_IDLE_INTERVAL: 40}
    )
    assert coordinator.update_interval == timedelta(seconds=7)
    mock_station.set_report(2, Plug=1, State=1)
    await _advance(hass, freezer, 8)
    assert coordinator.data.snapshot.status.vehicle_plugged is False
    assert coordinator.update_interval == timedelta(seconds=40)


async def test_intervals_never_go_below_five_seconds(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_station: FakeStation
) -> None:
    """KEBA's t_COM_pause: report 2 is never repeated sooner than every 5 s."""
    coordinator = await _setup(
        hass, mock_config_entry, **{CONF_CHARGING_INTERVAL: 1, CONF_IDLE_INTERVAL: 2}
    )
    assert coordinator.update_interval == timedelta(seconds=5)


async def test_push_updates_at_once_without_postponing_the_poll(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
    freezer: FrozenDateTimeFactory,
) -> None:
    """E pres pushes every second must not starve the poll of power and currents."""
    coordinator = await _setup(hass, mock_config_entry)
    updates: list[float | None] = []
    coordinator.async_add_listener(
        lambda: updates.append(coordinator.data.snapshot.meter.session_energy_kwh)
    )
    mock_station.set_report(3, P=7000000)
    for second in range(1, 4):
        await _advance(hass, freezer, 1)
        mock_station.push({"E pres": 52345 + second * 30})
    assert updates[-1] == pytest.approx((52345 + 3 * 30) / 10000)
    assert coordinator.data.snapshot.meter.power_w == pytest.approx(10980)
    # Polls are due 5 s (give or take a second of jitter) after setup, not after the last push.
    await _advance(hass, freezer, 3.05)
    assert coordinator.data.snapshot.meter.power_w == pytest.approx(7000)


async def test_entities_stay_available_until_three_polls_fail(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
    freezer: FrozenDateTimeFactory,
) -> None:
    """Two lost polls keep the last data; the third marks the station unavailable."""
    coordinator = await _setup(hass, mock_config_entry)
    mock_station.fail_polls = True
    for expected_failures in (1, 2):
        await _advance(hass, freezer, 6)
        assert coordinator.failed_polls == expected_failures
        assert coordinator.last_update_success
    await _advance(hass, freezer, 6)
    assert not coordinator.last_update_success
    mock_station.fail_polls = False
    await _advance(hass, freezer, 6)
    assert coordinator.last_update_success
    assert coordinator.failed_polls == 0


async def test_failsafe_is_sent_once_and_kept_alive(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The failsafe goes out once (not persisted) and ena keeps it from firing."""
    await _setup(
        hass,
        mock_config_entry,
        **{CONF_FAILSAFE_TIMEOUT: 60, CONF_FAILSAFE_CURRENT: 6, CONF_FAILSAFE_PERSIST: False},
    )
    mock_station.set_failsafe.assert_awaited_once_with(60, 6.0, persist=False)
    mock_station.set_report(2, **{"Tmo FS": 60, "Curr FS": 6000})
    await _advance(hass, freezer, 20)
    mock_station.set_enabled.assert_awaited_with(True, verify=False)
    calls = mock_station.set_enabled.await_count
    await _advance(hass, freezer, 20)
    assert mock_station.set_enabled.await_count > calls
    mock_station.set_failsafe.assert_awaited_once()


async def test_persisted_failsafe_is_not_written_again(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_station: FakeStation
) -> None:
    """A station that already shows the failsafe gets no EEPROM write."""
    mock_station.set_report(2, **{"Tmo FS": 30, "Curr FS": 0})
    await _setup(
        hass,
        mock_config_entry,
        **{CONF_FAILSAFE_TIMEOUT: 30, CONF_FAILSAFE_CURRENT: 0, CONF_FAILSAFE_PERSIST: True},
    )
    mock_station.set_failsafe.assert_not_awaited()


async def test_failsafe_turned_off_in_the_options_is_sent_once(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_station: FakeStation
) -> None:
    """A station still showing a failsafe the options no longer want gets ``failsafe 0``."""
    mock_station.set_report(2, **{"Tmo FS": 30, "Curr FS": 6000})
    await _setup(hass, mock_config_entry)
    mock_station.set_failsafe.assert_awaited_once_with(0, 0.0, persist=False)


async def test_unsynced_clock_is_set_once_per_boot(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
    freezer: FrozenDateTimeFactory,
) -> None:
    """TimeQ 0: the integration sets the station's clock so that sessions get real times."""
    mock_station.set_report(1, timeQ=0)
    await _setup(hass, mock_config_entry)
    mock_station.set_datetime.assert_awaited_once()
    await _advance(hass, freezer, 5)
    mock_station.set_datetime.assert_awaited_once()

    mock_station.set_report(2, **{"Tmo FS": 0})
    mock_station.emit(EventKind.REBOOT, {"uptime_s": 3})
    await hass.async_block_till_done()
    assert mock_station.set_datetime.await_count == 2


async def test_synced_clock_is_left_alone(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_station: FakeStation
) -> None:
    """A station with NTP (timeQ 3 in the fixture) keeps its own clock."""
    await _setup(hass, mock_config_entry)
    mock_station.set_datetime.assert_not_awaited()


async def test_reboot_applies_the_failsafe_again(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_station: FakeStation
) -> None:
    """A restarted station forgets a non-persisted failsafe: it is sent again."""
    await _setup(hass, mock_config_entry, **{CONF_FAILSAFE_TIMEOUT: 60, CONF_FAILSAFE_CURRENT: 0})
    assert mock_station.set_failsafe.await_count == 1
    mock_station.emit(EventKind.REBOOT, {"uptime_s": 2})
    await hass.async_block_till_done()
    assert mock_station.set_failsafe.await_count == 2


async def test_sessions_are_followed_from_plug_pushes(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_station: FakeStation
) -> None:
    """Unplugging ends the session (report 100 read once), plugging in starts one."""
    coordinator = await _setup(hass, mock_config_entry)
    assert coordinator.data.last_session is not None
    assert coordinator.data.last_session.session_id == 48
    seen: list[tuple[str, ChargingSession]] = []
    coordinator.async_add_session_listener(lambda kind, session: seen.append((kind, session)))

    mock_station.set_report(100, reason=1, **{"ended[s]": 6400, "E pres": 60000})
    mock_station.push({"Plug": 3})
    await hass.async_block_till_done()
    assert [kind for kind, _ in seen] == [EVENT_SESSION_ENDED]
    assert seen[0][1].energy_kwh == pytest.approx(6.0)
    assert coordinator.data.last_session.session_id == 49

    mock_station.set_report(100, reason=0, **{"Session ID": 50, "ended[s]": 0, "E pres": 0})
    mock_station.push({"Plug": 7})
    await hass.async_block_till_done()
    assert [kind for kind, _ in seen] == [EVENT_SESSION_ENDED, EVENT_SESSION_STARTED]
    assert seen[1][1].session_id == 50
    assert coordinator.data.last_session.session_id == 49


async def test_requested_current_shows_as_pending_until_confirmed(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_station: FakeStation
) -> None:
    """The requested current is data at once; the engine call carries it."""
    coordinator = await _setup(hass, mock_config_entry)
    seen: list[float | None] = []
    coordinator.async_add_listener(lambda: seen.append(coordinator.data.pending_current))
    await coordinator.async_set_current(10)
    mock_station.set_current.assert_awaited_once_with(10, 1)
    assert seen[0] == 10
    assert coordinator.data.pending_current is None


async def test_boot_time_stays_put_between_reports(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A push seconds after a report must not move the boot time (uptime is not pushed)."""
    coordinator = await _setup(hass, mock_config_entry)
    boot = coordinator.data.boot_time
    assert boot is not None
    freezer.tick(timedelta(seconds=4))
    mock_station.push({"E pres": 52400})
    assert coordinator.data.boot_time == boot
    # The next poll's uptime has moved on with the clock: still the same boot.
    mock_station.set_report(2, Sec=6095 + 10)
    await _advance(hass, freezer, 6)
    assert coordinator.data.boot_time == boot
    # A restart of the station: a new boot time.
    mock_station.set_report(2, Sec=20)
    await _advance(hass, freezer, 6)
    assert coordinator.data.boot_time is not None
    assert coordinator.data.boot_time > boot


async def test_reboot_in_a_session_sets_current_and_limit_again(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_station: FakeStation
) -> None:
    """What was set for the plugged-in vehicle is set again; what fails is a repair issue."""
    coordinator = await _setup(hass, mock_config_entry)
    await coordinator.async_set_current(10)
    await coordinator.async_set_energy_limit(5)
    mock_station.set_current.reset_mock()
    mock_station.set_energy_limit.reset_mock()
    mock_station.set_current.side_effect = KebaCommandError("refused")

    mock_station.emit(EventKind.REBOOT, {"uptime_s": 2})
    await hass.async_block_till_done()

    mock_station.set_current.assert_awaited_once_with(10)
    mock_station.set_energy_limit.assert_awaited_once_with(5)
    issue_id = f"reapply_failed_{mock_config_entry.entry_id}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == "reapply_failed"
    assert issue.translation_placeholders["what"] == "10 A"

    # Setting the current again clears it; unplugging forgets the session's settings.
    mock_station.set_current.side_effect = None
    await coordinator.async_set_current(12)
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    mock_station.push({"Plug": 3})
    await hass.async_block_till_done()
    mock_station.push({"Plug": 1})
    await hass.async_block_till_done()
    assert coordinator.session_current is None
    assert coordinator.session_energy_limit is None
