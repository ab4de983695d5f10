"""The session ledger in Home Assistant: backfill, gaps, restarts, cost, cards, calendar, export."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
import csv
from datetime import UTC, datetime, timedelta
import io
import json
from pathlib import Path
import time
from typing import Any

from freezegun.api import FrozenDateTimeFactory
import pytest

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
from homeassistant.util import dt as dt_util
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.keba.const import (
    CONF_CARDS,
    CONF_DEFAULT_CARD_NAME,
    CONF_PRICE_ENTITY,
    DOMAIN,
    EXPORT_FOLDER,
    ISSUE_LEDGER_GAP,
)
from custom_components.keba.ledger import TIME_RECONSTRUCTED, TIME_STATION
from custom_components.keba.ledger_store import LedgerManager
from simulator import Simulator

from .common import FIXTURES, FakeStation, default_reports
from .conftest import SERIAL, SimulatorFactory

STORE_KEY = f"keba.ledger.{SERIAL}"


# ---------------------------------------------------------------------------------- helpers
def ledger_of(entry: MockConfigEntry) -> LedgerManager:
    """The loaded entry's ledger."""
    manager = entry.runtime_data.ledger
    assert manager is not None
    return manager


async def wait_for(hass: HomeAssistant, condition: Callable[[], bool], limit_s: float = 20) -> None:
    """Wait for UDP traffic with a simulated station (real time: the station is real I/O)."""
    deadline = time.monotonic() + limit_s
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await hass.async_block_till_done()
        await asyncio.sleep(0.1)


def gap_issues(issue_registry: ir.IssueRegistry) -> list[ir.IssueEntry]:
    """The repair issues about lost sessions."""
    return [
        issue
        for (domain, issue_id), issue in issue_registry.issues.items()
        if domain == DOMAIN and issue_id.startswith(ISSUE_LEDGER_GAP)
    ]


def reads_of(station: Any, command: str) -> int:
    """How often the simulated station received ``command``."""
    return sum(1 for _, _, text in station.received if text == command)


# ------------------------------------------------------------------------ real UDP stations
async def test_backfill_after_an_outage_of_35_sessions(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    issue_registry: ir.IssueRegistry,
    hass_storage: dict[str, Any],
) -> None:
    """Home Assistant is off while the station charges 35 times: 30 recovered, 5 lost, told once.

    Restarting and reloading afterwards read the station's memory again without duplicates
    and without a second notice.
    """
    sim = await start_simulator(count=1, variant="p30-c", clock_synced=True)
    no_timing_violations.append(sim)
    station = sim.stations[0]
    before = station.record_past_sessions(
        3, energy_wh=6000, every_s=86400, duration_s=7200, ago_s=40 * 3600
    )
    entry = MockConfigEntry(
        domain=DOMAIN, title="Garage", unique_id=station.serial, data={CONF_HOST: station.ip}
    )
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, keba_yaml)
    await wait_for(hass, lambda: len(ledger_of(entry).ledger) == 3)
    assert not gap_issues(issue_registry)

    # Home Assistant stops; the station goes on charging.
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()
    stored = hass_storage[f"keba.ledger.{station.serial}"]
    assert [row[0] for row in stored["data"]["sessions"]] == before
    during = station.record_past_sessions(35, energy_wh=5000, every_s=3600, duration_s=1800)
    assert during[0] == before[-1] + 1

    # Home Assistant starts again.
    assert await hass.config_entries.async_setup(entry.entry_id)
    manager = ledger_of(entry)
    await wait_for(hass, lambda: len(manager.ledger) == 33)
    ids = [record.session_id for record in manager.ledger.records]
    assert ids == before + during[5:]
    assert all(record.time_source == TIME_STATION for record in manager.ledger.records)
    (gap,) = manager.ledger.gaps
    assert (gap.first_missing, gap.last_missing, gap.count) == (during[0], during[4], 5)
    assert gap.after == manager.ledger.records[2].ended
    assert gap.before == manager.ledger.records[3].started
    (issue,) = gap_issues(issue_registry)
    assert issue.translation_key == ISSUE_LEDGER_GAP
    assert issue.translation_placeholders is not None
    assert issue.translation_placeholders["count"] == "5"
    assert issue.translation_placeholders["station"] == "Garage"
    assert gap.notified

    # A reload reads the memory again: nothing new, nothing twice, no second notice.
    reads = reads_of(station, "report 130")
    assert await hass.config_entries.async_reload(entry.entry_id)
    manager = ledger_of(entry)
    await wait_for(hass, lambda: reads_of(station, "report 130") > reads)
    await hass.async_block_till_done()
    assert [r.session_id for r in manager.ledger.records] == ids
    assert len(manager.ledger.gaps) == 1
    assert len(gap_issues(issue_registry)) == 1
    assert entry.state is ConfigEntryState.LOADED


async def test_unsynced_clock_is_reconstructed_then_set(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """A station whose clock never synced: times from its uptime, marked as reconstructed.

    The integration sets the clock; the next session carries the station's own times.
    """
    sim = await start_simulator(count=1, variant="p30-c")
    no_timing_violations.append(sim)
    station = sim.stations[0]
    station.record_past_sessions(2, every_s=3600, duration_s=1800)
    recorded_at = dt_util.utcnow()
    entry = MockConfigEntry(
        domain=DOMAIN, title="Garage", unique_id=station.serial, data={CONF_HOST: station.ip}
    )
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, keba_yaml)
    manager = ledger_of(entry)
    await wait_for(hass, lambda: len(manager.ledger) == 2)
    older, newer = manager.ledger.records
    assert older.time_source == newer.time_source == TIME_RECONSTRUCTED
    assert older.started is not None
    assert newer.started is not None
    assert newer.ended is not None
    expected = recorded_at - timedelta(seconds=2 * 3600)
    assert abs((older.started - expected).total_seconds()) < 5
    assert newer.started - older.started == timedelta(hours=1)
    assert newer.ended - newer.started == timedelta(minutes=30)

    # The integration set the clock (setdatetime): a new session has station times.
    await wait_for(hass, lambda: any(t.startswith("setdatetime") for _, _, t in station.received))
    station.plug_in()
    # A plug push is believed once report 2 confirms it: unplug only after that.
    await wait_for(
        hass, lambda: hass.states.get("sensor.garage_plug_state").state == "station_locked_vehicle"
    )
    station.unplug()
    await wait_for(hass, lambda: len(manager.ledger) == 3)
    latest = manager.ledger.records[-1]
    assert latest.time_source == TIME_STATION
    assert latest.started is not None
    assert abs((latest.started - dt_util.utcnow()).total_seconds()) < 10


# ----------------------------------------------------------------------- mocked station
def month_of_sessions() -> dict[int, dict[str, Any]]:
    """The fixture station with 6 sessions in November 2026 and one in October.

    101 (session 48, the company car's tag) is the fixture's; 102…107 are older.
    """
    reports = default_reports()
    base = reports[101]
    starts = [
        ("2026-11-20 17:00:00", 47, "0000000000000000", 85000),
        ("2026-11-15 09:00:00", 46, "0badcafe00000000", 120000),
        ("2026-11-10 18:00:00", 45, "0000000000000000", 60000),
        ("2026-11-05 07:30:00", 44, "04a1b2c3d4e5f600", 150000),
        ("2026-11-01 00:30:00", 43, "1111111111111111", 30000),
        ("2026-10-31 23:00:00", 42, "0000000000000000", 40000),
    ]
    for index, (start, session_id, tag, energy) in enumerate(starts):
        begin = datetime.fromisoformat(start).replace(tzinfo=UTC)
        end = begin + timedelta(hours=2)
        reports[102 + index] = {
            **base,
            "ID": str(102 + index),
            "Session ID": session_id,
            "E pres": energy,
            "E start": base["E start"] - 10_000_000 * (index + 1),
            "started": f"{start}.000",
            "ended": end.strftime("%Y-%m-%d %H:%M:%S.000"),
            "RFID tag": tag,
            "RFID class": "00000000000000000000" if set(tag) == {"0"} else base["RFID class"],
        }
    return reports


CARD_OPTIONS = {
    CONF_CARDS: {"04a1b2c3d4e5f6": "Company car", "0badcafe": "Anna"},
    CONF_DEFAULT_CARD_NAME: "Guests",
}


@pytest.fixture
def card_entry(mock_config_entry: MockConfigEntry) -> MockConfigEntry:
    """The fixture station with named cards."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        unique_id=SERIAL,
        data=dict(mock_config_entry.data),
        options=CARD_OPTIONS,
    )


async def setup_entry(hass: HomeAssistant, entry: MockConfigEntry) -> LedgerManager:
    """Set the entry up against the fake station and wait for its start-up reads."""
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done(wait_background_tasks=True)
    return ledger_of(entry)


@pytest.mark.parametrize("station_reports", [month_of_sessions()])
async def test_cards_name_the_sessions_and_count_their_energy(
    hass: HomeAssistant, mock_station: FakeStation, card_entry: MockConfigEntry
) -> None:
    """Named tags get their name; unknown tags and no tag count under the default name."""
    manager = await setup_entry(hass, card_entry)
    assert len(manager.ledger) == 7
    prefix = "sensor.kecontact_p30_x_series_energy_charged"
    # 48: 20 kWh and 44: 15 kWh with the company car's tag (padded differently).
    assert float(hass.states.get(f"{prefix}_company_car").state) == pytest.approx(35.0)
    assert float(hass.states.get(f"{prefix}_anna").state) == pytest.approx(12.0)
    # No tag (47, 45, 42) and an unnamed tag (43).
    assert float(hass.states.get(f"{prefix}_guests").state) == pytest.approx(21.5)
    state = hass.states.get(f"{prefix}_company_car")
    assert state.attributes["state_class"] == "total_increasing"
    assert state.attributes["unit_of_measurement"] == "kWh"
    assert state.attributes["device_class"] == "energy"


ENERGY = "sensor.kecontact_p30_x_series_energy_charged"


async def set_options(hass: HomeAssistant, entry: MockConfigEntry, options: dict[str, Any]) -> None:
    """New options and the reload that saving them in the options flow brings."""
    hass.config_entries.async_update_entry(entry, options=options)
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)


def energy(hass: HomeAssistant, card: str) -> float:
    """The state of a card's energy sensor."""
    state = hass.states.get(f"{ENERGY}_{card}")
    assert state is not None, card
    return float(state.state)


async def history_cards(hass: HomeAssistant, entry: MockConfigEntry) -> dict[int, str]:
    """The card of every stored session, as ``keba.get_session_history`` answers."""
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), entry.entry_id)
    response = await hass.services.async_call(
        DOMAIN,
        "get_session_history",
        {},
        target={"device_id": device.id},
        blocking=True,
        return_response=True,
    )
    assert response is not None
    return {session["session_id"]: session["card"] for session in response["sessions"]}


@pytest.mark.parametrize("station_reports", [month_of_sessions()])
async def test_naming_a_card_does_not_move_the_energy_already_counted(
    hass: HomeAssistant,
    mock_station: FakeStation,
    mock_config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Sessions keep the card name of when they were stored, across option changes and restarts.

    The default card's total (total increasing) must never drop: the recorder would take it
    as a meter reset and count the whole total again in the energy dashboard.
    """
    await setup_entry(hass, mock_config_entry)
    # 7 sessions: 20 + 15 (company car's tag), 12 (Anna's), 21.5 without a name.
    assert energy(hass, "other") == pytest.approx(68.5)

    await set_options(hass, mock_config_entry, {**CARD_OPTIONS, CONF_DEFAULT_CARD_NAME: "Other"})
    assert energy(hass, "other") == pytest.approx(68.5)
    assert energy(hass, "company_car") == 0.0
    assert energy(hass, "anna") == 0.0

    # Session 49 ends with the company car's card: it counts there, and only there.
    mock_station.set_report(
        100,
        **{
            "E pres": 110000,
            "reason": 1,
            "ended[s]": 9000,
            "ended": "2026-11-21 08:00:00.000",
            "RFID tag": "04a1b2c3d4e5f60000000",
        },
    )
    mock_station.push({"Plug": 1})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert energy(hass, "company_car") == pytest.approx(11.0)
    assert energy(hass, "other") == pytest.approx(68.5)
    cards = await history_cards(hass, mock_config_entry)
    assert cards == {49: "Company car"} | dict.fromkeys((42, 43, 44, 45, 46, 47, 48), "Other")

    # A restart keeps every session's card.
    assert await hass.config_entries.async_reload(mock_config_entry.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    stored = hass_storage[STORE_KEY]["data"]["cards"]
    assert stored == {"Other": [42, 43, 44, 45, 46, 47, 48], "Company car": [49]}
    assert energy(hass, "company_car") == pytest.approx(11.0)
    assert energy(hass, "other") == pytest.approx(68.5)

    # Names removed: the company car's history stays its own, the default does not take it.
    await set_options(hass, mock_config_entry, {})
    assert energy(hass, "other") == pytest.approx(68.5)
    assert hass.states.get(f"{ENERGY}_company_car") is None
    assert (await history_cards(hass, mock_config_entry))[49] == "Company car"

    # Spelled differently, a name keeps its sensor (the slug is the same): its total goes on.
    await set_options(hass, mock_config_entry, {CONF_DEFAULT_CARD_NAME: "OTHER"})
    assert energy(hass, "other") == pytest.approx(68.5)


@pytest.mark.parametrize("minor_version", [1, 2])
async def test_an_older_store_gets_the_card_names_in_force_once(
    hass: HomeAssistant,
    mock_station: FakeStation,
    card_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
    minor_version: int,
) -> None:
    """Version 2.1 stored no card names: its sessions get those of the options, for good.

    (A 2.2 store without them, edited by hand, is treated alike.)
    """
    # [id, start, end, time source, kWh, meter start, tag, class, end reason, cost, currency,
    # surplus kWh]: 13 and 14 November 2026, 08:00 to 10:00 UTC.
    start, day, tail = 1794556800, 86400, [1, None, None, None]
    rows = [
        [40, start, start + 7200, "station_clock", 9.0, 12000.0, "04a1b2c3d4e5f600", None, *tail],
        [41, start + day, start + day + 7200, "station_clock", 4.0, 12009.0, None, None, *tail],
    ]
    hass_storage[STORE_KEY] = {
        "version": 2,
        "minor_version": minor_version,
        "key": STORE_KEY,
        "data": {"sessions": rows, "gaps": [], "meter": {}},
    }
    await setup_entry(hass, card_entry)
    # 48 (20 kWh, the company car's tag) comes from the station's memory.
    assert energy(hass, "company_car") == pytest.approx(29.0)
    assert energy(hass, "guests") == pytest.approx(4.0)
    if minor_version == 1:
        # The migration is written at once.
        stored = hass_storage[STORE_KEY]
        assert stored["minor_version"] == 2
        assert stored["data"]["cards"] == {"Company car": [40], "Guests": [41]}

    await set_options(hass, card_entry, {CONF_DEFAULT_CARD_NAME: "Guests"})
    assert energy(hass, "guests") == pytest.approx(4.0)
    stored = hass_storage[STORE_KEY]
    assert stored["minor_version"] == 2
    assert stored["data"]["cards"] == {"Company car": [40, 48], "Guests": [41]}
    # The rows themselves stay as they were (older versions read them).
    assert stored["data"]["sessions"][:2] == rows


@pytest.mark.parametrize("station_reports", [month_of_sessions()])
async def test_calendar_shows_a_month_of_sessions(
    hass: HomeAssistant, mock_station: FakeStation, card_entry: MockConfigEntry
) -> None:
    """November: six sessions (one began in October and ran into it), with card and kWh."""
    await hass.config.async_set_time_zone("UTC")
    await setup_entry(hass, card_entry)
    entity_id = "calendar.kecontact_p30_x_series_charging_sessions"
    response = await hass.services.async_call(
        "calendar",
        "get_events",
        {"start_date_time": "2026-11-01 00:00:00", "end_date_time": "2026-12-01 00:00:00"},
        target={"entity_id": entity_id},
        blocking=True,
        return_response=True,
    )
    events = response[entity_id]["events"]
    assert [event["summary"] for event in events] == [
        "Guests · 4.00 kWh",
        "Guests · 3.00 kWh",
        "Company car · 15.00 kWh",
        "Guests · 6.00 kWh",
        "Anna · 12.00 kWh",
        "Guests · 8.50 kWh",
        "Company car · 20.00 kWh",
    ]
    first = events[0]
    assert first["start"] == "2026-10-31T23:00:00+00:00"
    assert first["end"] == "2026-11-01T01:00:00+00:00"
    assert "Duration: 2:00 h" in first["description"]
    assert "Ended: vehicle unplugged" in first["description"]
    latest = events[-1]["description"]
    assert "Meter: 12320.44 → 12340.44 kWh" in latest
    # A window of one day in the middle of the month holds one session.
    response = await hass.services.async_call(
        "calendar",
        "get_events",
        {"start_date_time": "2026-11-15 00:00:00", "end_date_time": "2026-11-16 00:00:00"},
        target={"entity_id": entity_id},
        blocking=True,
        return_response=True,
    )
    assert [event["summary"] for event in response[entity_id]["events"]] == ["Anna · 12.00 kWh"]


async def test_cost_follows_a_price_that_changes_during_the_session(
    hass: HomeAssistant,
    mock_station: FakeStation,
    mock_config_entry: MockConfigEntry,
) -> None:
    """6 kWh at 0.30, 4 kWh at 0.50 and the last 1 kWh at 0.40 EUR/kWh: 4.20 EUR."""
    hass.states.async_set("sensor.tariff", "0.30", {"unit_of_measurement": "EUR/kWh"})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        unique_id=SERIAL,
        data=dict(mock_config_entry.data),
        options={CONF_PRICE_ENTITY: "sensor.tariff"},
    )
    manager = await setup_entry(hass, entry)
    # The running session (49) is at 5.2345 kWh.
    mock_station.push({"E pres": 60000})
    hass.states.async_set("sensor.tariff", "0.50", {"unit_of_measurement": "EUR/kWh"})
    mock_station.push({"E pres": 100000})
    hass.states.async_set("sensor.tariff", "400", {"unit_of_measurement": "EUR/MWh"})
    mock_station.set_report(
        100,
        **{"E pres": 110000, "reason": 1, "ended[s]": 9000, "ended": "2026-11-21 08:00:00.000"},
    )
    mock_station.push({"Plug": 1})
    await hass.async_block_till_done(wait_background_tasks=True)
    record = manager.ledger.records[-1]
    assert record.session_id == 49
    assert record.energy_kwh == pytest.approx(11.0)
    assert record.cost == pytest.approx(6.0 * 0.30 + 4.0 * 0.50 + 1.0 * 0.40)
    assert record.currency == "EUR"
    # The cost sensor of the default card counts it in its month.
    cost = hass.states.get("sensor.kecontact_p30_x_series_cost_this_month_other")
    assert cost.attributes["unit_of_measurement"] == "EUR"


async def test_sessions_missed_while_the_station_was_unreachable(
    hass: HomeAssistant,
    mock_station: FakeStation,
    mock_config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """The station answers again after an outage: its memory is read, a gap surfaced once."""
    manager = await setup_entry(hass, mock_config_entry)
    assert [r.session_id for r in manager.ledger.records] == [48]
    mock_station.fail_polls = True
    for _ in range(4):
        freezer.tick(timedelta(seconds=6))
        async_fire_time_changed(hass)
        await hass.async_block_till_done()
    assert not mock_config_entry.runtime_data.coordinator.last_update_success
    # Meanwhile sessions 49…53 ended; the station's memory (in this test) holds 52 and 53.
    base = mock_station.reports[101]
    mock_station.reports[101] = {
        **base,
        "Session ID": 53,
        "started": "2026-11-23 10:00:00.000",
        "ended": "2026-11-23 11:00:00.000",
    }
    mock_station.reports[102] = {**base, "ID": "102", "Session ID": 52}
    mock_station.fail_polls = False
    for _ in range(2):
        freezer.tick(timedelta(seconds=31))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
    assert [r.session_id for r in manager.ledger.records] == [48, 52, 53]
    (gap,) = manager.ledger.gaps
    assert (gap.first_missing, gap.last_missing) == (49, 51)
    assert len(gap_issues(issue_registry)) == 1


async def test_export_writes_csv_and_refuses_bad_input(
    hass: HomeAssistant,
    mock_station: FakeStation,
    card_entry: MockConfigEntry,
    tmp_path: Path,
) -> None:
    """A month and one card as CSV in the documented folder.

    Reversed periods and unknown cards are refused with translated errors, before anything is
    written.
    """
    mock_station.reports.update(month_of_sessions())
    hass.config.config_dir = str(tmp_path)
    await hass.config.async_set_time_zone("Europe/Berlin")
    await setup_entry(hass, card_entry)
    (device,) = dr.async_entries_for_config_entry(dr.async_get(hass), card_entry.entry_id)
    target = {"device_id": device.id}

    response = await hass.services.async_call(
        DOMAIN,
        "export_sessions",
        {"start": "2026-11-01", "end": "2026-11-30", "card": "Guests"},
        target=target,
        blocking=True,
        return_response=True,
    )
    path = Path(response["path"])
    assert path.parent == tmp_path / EXPORT_FOLDER
    assert response["sessions"] == 4
    text = await hass.async_add_executor_job(path.read_text, "utf-8")
    rows = list(csv.reader(io.StringIO(text)))
    assert rows[0][:5] == ["date", "start", "end", "duration", "kwh"]
    # Berlin time: the session of 31 Oct 23:00 UTC began on 1 November at 00:00.
    assert [row[:2] for row in rows[1:]] == [
        ["2026-11-01", "00:00:00"],
        ["2026-11-01", "01:30:00"],
        ["2026-11-10", "19:00:00"],
        ["2026-11-20", "18:00:00"],
    ]
    assert [row[7] for row in rows[1:]] == ["Guests"] * 4
    assert [row[4] for row in rows[1:]] == ["4.000", "3.000", "6.000", "8.500"]
    assert rows[2][8] == "1111111111111111"
    assert rows[1][12] == "station_clock"

    for data, key in (
        ({"start": "2026-11-30", "end": "2026-11-01"}, "period_reversed"),
        ({"card": "Bob"}, "unknown_card"),
    ):
        with pytest.raises(ServiceValidationError) as caught:
            await hass.services.async_call(
                DOMAIN, "export_sessions", data, target=target, blocking=True
            )
        assert caught.value.translation_key == key
        assert caught.value.translation_domain == DOMAIN
    files = await hass.async_add_executor_job(lambda: list((tmp_path / EXPORT_FOLDER).iterdir()))
    assert files == [path]


async def test_storage_migrates_from_the_first_version(
    hass: HomeAssistant,
    mock_station: FakeStation,
    mock_config_entry: MockConfigEntry,
    hass_storage: dict[str, Any],
) -> None:
    """Version 1 kept the reports as read: they become records; junk is dropped."""
    hass_storage[STORE_KEY] = json.loads((FIXTURES / "ledger_v1.json").read_text())
    manager = await setup_entry(hass, mock_config_entry)
    records = {r.session_id: r for r in manager.ledger.records}
    assert sorted(records) == [45, 46, 47, 48]
    assert records[45].started == datetime(2026, 11, 18, 16, 0, tzinfo=UTC)
    assert records[45].rfid_tag == "04a1b2c3d4e5f600"
    assert records[46].time_source == TIME_RECONSTRUCTED
    # Read at 20:00 with 5 600 s of uptime: started at uptime 1 000.
    assert records[46].started == datetime(2026, 11, 19, 18, 43, 20, tzinfo=UTC)
    assert records[47].end_reason == 10
    assert manager.ledger.gaps == []
    assert await hass.config_entries.async_unload(mock_config_entry.entry_id)
    await hass.async_block_till_done()
    stored = hass_storage[STORE_KEY]
    assert (stored["version"], stored["minor_version"]) == (2, 2)
    assert [row[0] for row in stored["data"]["sessions"]] == [45, 46, 47, 48]
    # No card was named: every session keeps the name for other sessions.
    assert stored["data"]["cards"] == {"Other": [45, 46, 47, 48]}


async def test_card_options_step_names_cards_and_recovers_from_bad_lines(
    hass: HomeAssistant, mock_station: FakeStation, mock_config_entry: MockConfigEntry
) -> None:
    """The session options: a bad line is refused, fixed, saved as a mapping.

    Other options stay; the entry reloads with a sensor per named card.
    """
    hass.states.async_set("sensor.tariff", "0.3", {"unit_of_measurement": "EUR/kWh"})
    await setup_entry(hass, mock_config_entry)
    assert er.async_get(hass).async_get("sensor.kecontact_p30_x_series_energy_charged_other")
    hass.config_entries.async_update_entry(mock_config_entry, options={"idle_interval": 60})
    await hass.async_block_till_done()
    result = await hass.config_entries.options.async_init(mock_config_entry.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "sessions"}
    )
    assert result["step_id"] == "sessions"
    # The ledger's tag without a name is offered.
    assert result["description_placeholders"] == {"tags": "04a1b2c3d4e5f6"}
    bad = {
        CONF_PRICE_ENTITY: "sensor.tariff",
        CONF_CARDS: "04a1b2c3d4e5f6 = Company car\nno tag here",
        CONF_DEFAULT_CARD_NAME: "Guests",
    }
    result = await hass.config_entries.options.async_configure(result["flow_id"], bad)
    assert result["type"] == "form"
    assert result["errors"] == {CONF_CARDS: "invalid_cards"}
    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**bad, CONF_CARDS: "04A1B2C3D4E5F6 = Company car"}
    )
    assert result["type"] == "create_entry"
    await hass.async_block_till_done()
    assert dict(mock_config_entry.options) == {
        "idle_interval": 60,
        CONF_PRICE_ENTITY: "sensor.tariff",
        CONF_CARDS: {"04a1b2c3d4e5f6": "Company car"},
        CONF_DEFAULT_CARD_NAME: "Guests",
    }
    prefix = "sensor.kecontact_p30_x_series_energy_charged"
    # Session 48 was stored under "Other" and stays there; the new names count from now on.
    assert float(hass.states.get(f"{prefix}_company_car").state) == 0.0
    assert float(hass.states.get(f"{prefix}_guests").state) == 0.0
    # The sensors of the former default name ("Other") are gone, not left unavailable.
    registry = er.async_get(hass)
    assert registry.async_get(f"{prefix}_other") is None
    assert registry.async_get("sensor.kecontact_p30_x_series_cost_this_month_other") is None
    cost = hass.states.get("sensor.kecontact_p30_x_series_cost_this_month_guests")
    assert cost.attributes["unit_of_measurement"] == "EUR"


async def test_session_end_missing_from_report_100_comes_from_the_memory(
    hass: HomeAssistant, mock_station: FakeStation, mock_config_entry: MockConfigEntry
) -> None:
    """Report 100 still shows the session running at unplug: report 101 has it, with cost."""
    hass.states.async_set("sensor.tariff", "0.30", {"unit_of_measurement": "EUR/kWh"})
    entry = MockConfigEntry(
        domain=DOMAIN,
        title=mock_config_entry.title,
        unique_id=SERIAL,
        data=dict(mock_config_entry.data),
        options={CONF_PRICE_ENTITY: "sensor.tariff"},
    )
    manager = await setup_entry(hass, entry)
    mock_station.push({"E pres": 60000})
    mock_station.reports[102] = {**mock_station.reports[101], "ID": "102"}
    mock_station.reports[101] = {
        **mock_station.reports[100],
        "ID": "101",
        "E pres": 70000,
        "reason": 1,
        "ended[s]": 9000,
        "ended": "2026-11-21 08:00:00.000",
    }
    mock_station.push({"Plug": 1})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert [r.session_id for r in manager.ledger.records] == [48, 49]
    latest = manager.ledger.records[-1]
    assert latest.cost == pytest.approx(7.0 * 0.30)
    assert latest.currency == "EUR"
    assert manager.ledger.gaps == []


async def test_a_failed_start_up_read_is_tried_again(
    hass: HomeAssistant,
    mock_station: FakeStation,
    mock_config_entry: MockConfigEntry,
    freezer: FrozenDateTimeFactory,
) -> None:
    """The station's memory did not answer at start-up: read again two minutes later."""
    from custom_components.keba.kecontact import KebaTimeoutError

    real = mock_station.get_history
    calls = 0

    async def flaky(count: int = 30) -> Any:
        nonlocal calls
        calls += 1
        if calls == 1:
            raise KebaTimeoutError("lost")
        return await real(count)

    mock_station.get_history = flaky  # type: ignore[method-assign]
    manager = await setup_entry(hass, mock_config_entry)
    assert calls == 1
    assert len(manager.ledger) == 0
    freezer.tick(timedelta(seconds=121))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert calls == 2
    assert [r.session_id for r in manager.ledger.records] == [48]
    # Read once: no further reads are scheduled.
    freezer.tick(timedelta(seconds=600))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert calls == 2
