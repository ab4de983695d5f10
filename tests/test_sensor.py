"""Tests of the sensors."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from syrupy.assertion import SnapshotAssertion

from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN
from homeassistant.const import EVENT_STATE_CHANGED, STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import Event, EventStateChangedData, HomeAssistant, callback
from homeassistant.helpers import entity_registry as er
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import (
    MockConfigEntry,
    async_fire_time_changed,
    snapshot_platform,
)

from .common import FakeStation, default_reports
from .entities import (
    NOW,
    P20_PRODUCT,
    P30_DE_PRODUCT,
    async_next_poll,
    entity_id_of,
    entity_keys,
    variant_reports,
)

pytestmark = pytest.mark.freeze_time(NOW)

METER_KEYS = {
    "power",
    "current_l1",
    "current_l2",
    "current_l3",
    "voltage_l1",
    "voltage_l2",
    "voltage_l3",
    "power_factor",
    "session_energy",
    "total_energy",
    "energy_limit",
    "phases_in_use",
}
SESSION_KEYS = {
    "session_start",
    "last_session_energy",
    "last_session_duration",
    "last_session_end_reason",
}
STATUS_KEYS = {
    "charging_state",
    "plug_state",
    "offered_current",
    "hardware_current_limit",
    "user_current_limit",
    "failsafe_current",
    "failsafe_timeout",
    "error_1",
    "error_2",
    "boot_time",
    "duty_cycle",
}


@pytest.fixture(autouse=True)
def only_sensors() -> Iterator[None]:
    """Set up the sensor platform only."""
    with patch("custom_components.keba.PLATFORMS", [Platform.SENSOR]):
        yield


def _with_report2(**fields: Any) -> dict[int, dict[str, Any]]:
    reports = default_reports()
    reports[2] = {**reports[2], **fields}
    return reports


def _state(hass: HomeAssistant, entity_registry: er.EntityRegistry, key: str) -> str:
    state = hass.states.get(entity_id_of(entity_registry, SENSOR_DOMAIN, key))
    assert state is not None
    return state.state


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """Every sensor of a charging P30 x-series: registry entry and state."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_values(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """Units are converted from the raw reports (mA, mW, 0.1 Wh, fractions)."""
    assert _state(hass, entity_registry, "charging_state") == "charging"
    assert _state(hass, entity_registry, "plug_state") == "station_locked_vehicle"
    assert float(_state(hass, entity_registry, "power")) == pytest.approx(10980.0)
    assert float(_state(hass, entity_registry, "current_l1")) == pytest.approx(15.98)
    assert float(_state(hass, entity_registry, "session_energy")) == pytest.approx(5.2345)
    assert float(_state(hass, entity_registry, "total_energy")) == pytest.approx(12345.6789)
    assert float(_state(hass, entity_registry, "offered_current")) == 16.0
    assert _state(hass, entity_registry, "phases_in_use") == "3"
    # The newest ended session is report 101 while report 100 is still running.
    assert float(_state(hass, entity_registry, "last_session_energy")) == 20.0
    assert float(_state(hass, entity_registry, "last_session_duration")) == 1.0  # hours
    assert _state(hass, entity_registry, "last_session_end_reason") == "unplugged"
    assert _state(hass, entity_registry, "session_start") == "2026-11-21T07:10:12+00:00"
    # Boot time: now minus the uptime ("Sec") of report 2.
    assert _state(hass, entity_registry, "boot_time") == "2026-11-21T06:18:25+00:00"


@pytest.mark.parametrize(
    ("station_reports", "shown"),
    [
        # The station's default 63 A is no limit of its own: the hardware limit is.
        (_with_report2(**{"Curr user": 63000, "Curr HW": 32000}), 32.0),
        (_with_report2(**{"Curr user": 10000, "Curr HW": 32000}), 10.0),
        # Curr HW unknown (0): Curr user as it is.
        (_with_report2(**{"Curr user": 63000, "Curr HW": 0}), 63.0),
    ],
    ids=["default", "set", "hardware-unknown"],
)
async def test_user_current_limit_shows_what_limits(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    shown: float,
) -> None:
    """``Curr user`` above the hardware limit is shown as the hardware limit."""
    assert float(_state(hass, entity_registry, "user_current_limit")) == shown


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
async def test_disabled_values(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """Power factor in % (the model holds a fraction), duty cycle in % (raw 0.1 %)."""
    assert float(_state(hass, entity_registry, "power_factor")) == pytest.approx(99.8)
    assert float(_state(hass, entity_registry, "duty_cycle")) == pytest.approx(26.6)
    assert float(_state(hass, entity_registry, "voltage_l2")) == 229.0
    assert float(_state(hass, entity_registry, "energy_limit")) == 0.0
    # No card authorized the running session.
    assert _state(hass, entity_registry, "session_rfid_tag") == STATE_UNKNOWN


async def test_disabled_by_default(
    entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """Noisy and redundant sensors start disabled."""
    disabled = {
        entry.unique_id.removeprefix("18039974_")
        for entry in er.async_entries_for_config_entry(entity_registry, init_integration.entry_id)
        if entry.disabled_by is er.RegistryEntryDisabler.INTEGRATION
    }
    assert disabled == {
        "voltage_l1",
        "voltage_l2",
        "voltage_l3",
        "power_factor",
        "energy_limit",
        "session_rfid_tag",
        "duty_cycle",
    }
    total = entity_registry.async_get(entity_id_of(entity_registry, SENSOR_DOMAIN, "total_energy"))
    assert total is not None
    assert total.entity_category is None


async def test_push_updates_without_poll(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    freezer: FrozenDateTimeFactory,
) -> None:
    """A push changes the state at once; no report is read for it."""
    # Were report 2 read, the state would turn "interrupted".
    mock_station.set_report(2, State=5)
    mock_station.push({"State": 2})
    await hass.async_block_till_done()
    assert _state(hass, entity_registry, "charging_state") == "ready"

    # The session energy is paced (test_session_energy_is_paced): 10 s later it is written.
    freezer.tick(timedelta(seconds=10))
    mock_station.push({"E pres": 60000, "Max curr": 10000})
    await hass.async_block_till_done()
    assert float(_state(hass, entity_registry, "session_energy")) == 6.0
    assert float(_state(hass, entity_registry, "offered_current")) == 10.0
    assert float(_state(hass, entity_registry, "power")) == pytest.approx(10980.0)


async def test_session_energy_is_paced(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    freezer: FrozenDateTimeFactory,
) -> None:
    """``E pres`` pushed every second makes a state change every 10 s or 10 Wh, not every push.

    Whichever comes later: at 11 kW (about 3 Wh a second) every 10 s, at 1.8 kW (0.5 Wh a
    second) every 20 s. The exact value is written at once when the charging state, the plug or
    the session changes, and a smaller rise that was held back within 60 s.
    """
    entity = entity_id_of(entity_registry, SENSOR_DOMAIN, "session_energy")
    writes: list[float] = []

    @callback
    def record(event: Event[EventStateChangedData]) -> None:
        new_state = event.data["new_state"]
        # (unloading at the end of the test writes "unavailable")
        if (
            event.data["entity_id"] == entity
            and new_state is not None
            and new_state.state != STATE_UNAVAILABLE
        ):
            writes.append(float(new_state.state))

    hass.bus.async_listen(EVENT_STATE_CHANGED, record)
    raw = 52345  # report 3 of the fixture, 0.1 Wh
    # A change of state writes the exact value (unchanged here: no new row); the pace counts
    # from this write.
    mock_station.push({"State": 5})
    mock_station.push({"State": 3})
    await hass.async_block_till_done()
    assert writes == []

    def push(step: int, seconds: int) -> None:
        """Pushes a second apart; polls in between (every 5 s) read the same value."""
        nonlocal raw
        for _ in range(seconds):
            freezer.tick(timedelta(seconds=1))
            raw += step
            mock_station.set_report(3, **{"E pres": raw})
            mock_station.push({"E pres": raw})

    # 60 s at 3 Wh a second: 60 pushes, 6 writes of the value then.
    push(30, 60)
    await hass.async_block_till_done()
    assert writes == pytest.approx([(52345 + 300 * k) / 10000 for k in range(1, 7)])

    # 60 s at 0.5 Wh a second: 10 Wh take 20 s.
    writes.clear()
    start = raw
    push(5, 60)
    await hass.async_block_till_done()
    assert writes == pytest.approx([(start + 100 * k) / 10000 for k in range(1, 4)])

    # The vehicle stops: the exact value at once, with the state, though only 0.5 Wh more.
    writes.clear()
    push(5, 1)
    mock_station.set_report(2, State=5)
    mock_station.push({"State": 5})
    await hass.async_block_till_done()
    assert writes == [raw / 10000]
    assert _state(hass, entity_registry, "charging_state") == "interrupted"

    # A small rise alone is held back, and written after 60 s at the latest.
    writes.clear()
    push(2, 3)
    await hass.async_block_till_done()
    assert writes == []
    freezer.tick(timedelta(seconds=60))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert writes == [raw / 10000]

    # Unplugged: the exact value at once again.
    writes.clear()
    push(1, 1)
    mock_station.set_report(2, Plug=3)
    mock_station.push({"Plug": 3})
    await hass.async_block_till_done()
    assert writes == [raw / 10000]


async def test_unavailable_after_three_failed_polls(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """Two lost polls keep the last values; the third makes the sensors unavailable."""
    mock_station.fail_polls = True
    for _ in range(2):
        await async_next_poll(hass, freezer)
        assert _state(hass, entity_registry, "charging_state") == "charging"
        assert float(_state(hass, entity_registry, "power")) == pytest.approx(10980.0)

    await async_next_poll(hass, freezer)
    assert _state(hass, entity_registry, "charging_state") == STATE_UNAVAILABLE
    assert _state(hass, entity_registry, "power") == STATE_UNAVAILABLE

    mock_station.fail_polls = False
    mock_station.set_report(3, P=7000000)
    await async_next_poll(hass, freezer)
    assert _state(hass, entity_registry, "charging_state") == "charging"
    assert float(_state(hass, entity_registry, "power")) == pytest.approx(7000.0)


async def test_session_end_updates_last_session(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """Unplugging reads report 100 and makes it the last session."""
    mock_station.set_report(100, reason=1, **{"ended[s]": 6000, "RFID tag": "04a1b2c3d4e5f600"})
    mock_station.push({"Plug": 3})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert float(_state(hass, entity_registry, "last_session_energy")) == pytest.approx(5.2345)
    # 100 s by the station's uptime: the report has no end timestamp.
    assert float(_state(hass, entity_registry, "last_session_duration")) == pytest.approx(
        100 / 3600, abs=0.001
    )
    assert _state(hass, entity_registry, "last_session_end_reason") == "unplugged"
    assert _state(hass, entity_registry, "plug_state") == "station_locked"


def _unsynced_session() -> dict[int, dict[str, Any]]:
    reports = default_reports()
    reports[100] = {**reports[100], "timeQ": 0, "started": "2000-01-01 00:01:40.000"}
    return reports


def _tagged_session() -> dict[int, dict[str, Any]]:
    reports = default_reports()
    reports[100] = {**reports[100], "RFID tag": "04a1b2c3d4e5f600"}
    return reports


@pytest.mark.parametrize("station_reports", [_unsynced_session()])
async def test_session_start_without_clock(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """An unsynchronised clock's timestamp is ignored: boot time plus ``started[s]``."""
    now = dt_util.parse_datetime(NOW)
    assert isinstance(now, datetime)
    expected = now - timedelta(seconds=6095) + timedelta(seconds=5900)
    assert _state(hass, entity_registry, "session_start") == expected.isoformat()


def _no_sessions() -> dict[int, dict[str, Any]]:
    """After a reboot: report 100 and 101 are empty slots."""
    reports = default_reports()
    empty = {"Session ID": 0, "E pres": 0, "started[s]": 0, "ended[s]": 0, "reason": 0}
    reports[100] = {**reports[100], **empty, "started": "0", "ended": "0"}
    reports[101] = {**reports[101], **empty, "ID": "101", "started": "0", "ended": "0"}
    return reports


def _session_without_start() -> dict[int, dict[str, Any]]:
    """A session whose start the station tells neither by clock nor by uptime."""
    reports = default_reports()
    reports[100] = {**reports[100], "timeQ": 0}
    del reports[100]["started[s]"]
    return reports


@pytest.mark.parametrize("station_reports", [_no_sessions()])
async def test_no_sessions(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """Without sessions (fresh after a reboot) the session sensors are unknown, not zero."""
    for key in (
        "session_start",
        "last_session_energy",
        "last_session_duration",
        "last_session_end_reason",
    ):
        assert _state(hass, entity_registry, key) == STATE_UNKNOWN


@pytest.mark.parametrize("station_reports", [_session_without_start()])
async def test_session_start_unknown(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """Neither a trusted timestamp nor ``started[s]``: the start is unknown."""
    assert _state(hass, entity_registry, "session_start") == STATE_UNKNOWN
    assert float(_state(hass, entity_registry, "last_session_energy")) == 20.0


@pytest.mark.usefixtures("entity_registry_enabled_by_default")
@pytest.mark.parametrize("station_reports", [_tagged_session()])
async def test_session_rfid_tag(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """The tag that authorized the running session."""
    assert _state(hass, entity_registry, "session_rfid_tag") == "04a1b2c3d4e5f600"


#: The session ledger's sensors of the default card (no card named in the options).
CARD_KEYS = {"card_other_energy", "card_other_cost_month"}


@pytest.mark.parametrize(
    ("station_reports", "expected"),
    [
        (variant_reports(P20_PRODUCT), STATUS_KEYS | METER_KEYS),
        (variant_reports(P30_DE_PRODUCT), STATUS_KEYS | SESSION_KEYS | CARD_KEYS),
        (
            default_reports(),
            STATUS_KEYS | METER_KEYS | SESSION_KEYS | CARD_KEYS | {"session_rfid_tag"},
        ),
    ],
    ids=["p20", "p30-de", "p30-x"],
)
async def test_variants(
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    expected: set[str],
) -> None:
    """A station gets sensors only for what it has (meter, session reports, RFID)."""
    assert entity_keys(entity_registry, init_integration.entry_id) == expected


async def test_no_meter_entities_without_meter_values(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """No meter values in report 3 (a P20 without meter): no meter entities.

    Those left from an earlier setup are removed from the entity registry.
    """
    from homeassistant.setup import async_setup_component

    from custom_components.keba.const import DOMAIN

    mock_station.reports[3] = {"ID": "3", "Serial": "18039974", "Sec": 6096}
    mock_config_entry.add_to_hass(hass)
    old = entity_registry.async_get_or_create(
        SENSOR_DOMAIN, DOMAIN, "18039974_power", config_entry=mock_config_entry
    )
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()

    unique_ids = {
        entry.unique_id
        for entry in er.async_entries_for_config_entry(entity_registry, mock_config_entry.entry_id)
    }
    for key in ("power", "current_l1", "voltage_l1", "power_factor", "total_energy"):
        assert f"18039974_{key}" not in unique_ids, key
    assert entity_registry.async_get(old.entity_id) is None
    # What report 2 tells stays.
    assert "18039974_charging_state" in unique_ids
