"""Adding and running stations on a hostile network, with simulated stations over loopback UDP.

A station with UDP control off (DIP switch DSW1.3), a silent address, lost datagrams, entries
deleted and re-added in quick succession: every case is judged by the simulator, which checks
KEBA's timing rules with the kernel's receive timestamps.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from unittest.mock import patch

import pytest

from homeassistant.config_entries import SOURCE_RECONFIGURE, ConfigEntryState
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.keba as integration
from custom_components.keba.config_flow import CONF_STATION
from custom_components.keba.const import (
    CONF_DISCOVERY_ADDRESSES,
    CONF_PRODUCT,
    DOMAIN,
    ISSUE_UDP_CONTROL_OFF,
    MANUAL_ENTRY,
)
from custom_components.keba.domain_data import DATA_KEBA
from simulator import Simulator

from .common import LoopbackNet, start_adding_a_station
from .conftest import SimulatorFactory


@pytest.fixture(autouse=True)
def no_background_discovery() -> Iterator[None]:
    """Searches here are the flows' own."""
    with patch("custom_components.keba.async_setup_discovery"):
        yield


@pytest.fixture(autouse=True)
def no_platforms() -> Iterator[None]:
    """The entries are set up without entities: this is about the station, not the UI."""
    with patch.object(integration, "PLATFORMS", []):
        yield


CYCLES = 20


def _received(sim: Simulator, index: int, text: str) -> int:
    """How often station ``index`` received ``text``."""
    return sum(1 for _, _, got in sim.stations[index].received if got == text)


async def _manual_add(hass: HomeAssistant, host: str) -> dict[str, Any]:
    """The user step, then the manual address form with ``host``."""
    result = await start_adding_a_station(hass)
    if result["step_id"] == "user":
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_STATION: MANUAL_ENTRY}
        )
    return await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_HOST: host})


async def _reconfigure(hass: HomeAssistant, entry: Any, host: str) -> dict[str, Any]:
    """The reconfigure flow of ``entry``, checking the station at ``host``."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_RECONFIGURE, "entry_id": entry.entry_id}
    )
    return await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_HOST: host})


# ------------------------------------------------------------------------- DSW1.3 off (item 2)
async def test_flow_refuses_a_station_with_udp_control_off(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """The station answers i and report 1 only: the flow says DSW1.3, creates no entry."""
    sim = await start_simulator(variant="p30-c-udp-off")
    no_timing_violations.append(sim)
    keba_yaml[DOMAIN][CONF_DISCOVERY_ADDRESSES] = [loopback.station_ip(0)]
    assert await async_setup_component(hass, DOMAIN, keba_yaml)

    # From the list: the search identifies the station (report 1 answers) ...
    result = await start_adding_a_station(hass)
    assert result["step_id"] == "user"
    # ... and picking it checks report 2, which never answers.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STATION: sim.stations[0].serial}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "udp_control_disabled"}

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STATION: MANUAL_ENTRY}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: loopback.station_ip(0)}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "udp_control_disabled"}
    assert hass.config_entries.async_entries(DOMAIN) == []
    # Report 2 was asked (the station ignored it); nothing else was sent to it.
    assert _received(sim, 0, "report 2") >= 1
    commands = {text.split()[0] for _, _, text in sim.stations[0].received}
    assert commands <= {"i", "report"}


async def test_entry_with_udp_control_off_raises_a_repair_issue(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """An entry whose station answers report 1 only says why in a repair issue.

    Once the owner has set DSW1.3 and restarted the station, the next retry loads the entry
    and the issue is gone.
    """
    sim = await start_simulator(variant="p30-c", udp_disabled=True, extended_report1=True)
    no_timing_violations.append(sim)
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=sim.stations[0].serial,
        data={CONF_HOST: loopback.station_ip(0), CONF_PRODUCT: sim.stations[0].product},
    )
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, keba_yaml)
    await hass.async_block_till_done()

    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.error_reason_translation_key == "udp_control_disabled"
    issue_id = f"{ISSUE_UDP_CONTROL_OFF}_{entry.entry_id}"
    issue = ir.async_get(hass).async_get_issue(DOMAIN, issue_id)
    assert issue is not None
    assert issue.translation_key == ISSUE_UDP_CONTROL_OFF
    assert issue.severity is ir.IssueSeverity.ERROR
    assert issue.translation_placeholders == {
        "host": loopback.station_ip(0),
        "title": entry.title,
    }
    assert entry.entry_id in hass.data[DATA_KEBA].udp_control_off

    sim.stations[0].options.udp_disabled = False  # DSW1.3 on, station restarted
    await asyncio.sleep(5.2)  # t_COM_pause since the last report 2
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert ir.async_get(hass).async_get_issue(DOMAIN, issue_id) is None
    assert await hass.config_entries.async_unload(entry.entry_id)


# ------------------------------------------------------------- silent station (item 2, 12.4)
async def test_silent_station_is_quick_and_delays_no_other_flow(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """A configured station that does not answer fails each setup attempt within about 3 s.

    While it retries, another flow searches and adds a station as fast as without it; a wrong
    manual address is answered within 3 s.
    """
    sim = await start_simulator(variant="p30-x")
    no_timing_violations.append(sim)
    silent = loopback.station_ip(5)
    keba_yaml[DOMAIN][CONF_DISCOVERY_ADDRESSES] = [loopback.station_ip(0), silent]
    entry = MockConfigEntry(domain=DOMAIN, unique_id="11111111", data={CONF_HOST: silent})
    entry.add_to_hass(hass)
    loop = asyncio.get_running_loop()

    started = loop.time()
    assert await async_setup_component(hass, DOMAIN, keba_yaml)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.SETUP_RETRY
    assert entry.error_reason_translation_key == "cannot_connect"
    assert loop.time() - started < 3.5

    async def add_other() -> float:
        began = loop.time()
        result = await start_adding_a_station(hass)
        assert result["step_id"] == "user"
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_STATION: sim.stations[0].serial}
        )
        assert result["type"] is FlowResultType.CREATE_ENTRY
        return loop.time() - began

    # The silent station's retry and the other flow at the same time.
    reload = asyncio.ensure_future(hass.config_entries.async_reload(entry.entry_id))
    took = await add_other()
    await reload
    # One search round (i and report 1 to two addresses, 1 s of listening), then report 2
    # and 3 of the pick and the setup: nothing waits for the silent station.
    assert took < 3.0
    assert entry.state is ConfigEntryState.SETUP_RETRY

    began = loop.time()
    result = await _manual_add(hass, loopback.station_ip(7))
    assert result["errors"] == {"base": "cannot_connect"}
    assert loop.time() - began < 3.0 + 1.5  # the search's round, then the check
    for added in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(added.entry_id)


# ------------------------------------------------------------------------ speed (item 7)
async def test_adding_reads_report_1_once(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """By hand and from the list, the station is asked for report 1 once; setup reuses it."""
    sim = await start_simulator(count=2, variant="p30-x", scenario="charging")
    no_timing_violations.append(sim)
    keba_yaml[DOMAIN][CONF_DISCOVERY_ADDRESSES] = [loopback.station_ip(0)]
    assert await async_setup_component(hass, DOMAIN, keba_yaml)

    # By hand (station 1 is not in the search's list).
    result = await _manual_add(hass, loopback.station_ip(1))
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED
    assert _received(sim, 1, "report 1") == 1
    assert _received(sim, 1, "report 2") == 1

    # From the list.
    result = await start_adding_a_station(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STATION: sim.stations[0].serial}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    assert result["result"].state is ConfigEntryState.LOADED
    # The first search (of the manual add) asked report 1; this one reused its identity.
    assert _received(sim, 0, "report 1") == 1
    assert _received(sim, 0, "report 2") == 1

    # A loaded station is not identified again by a search.
    before = _received(sim, 0, "report 1") + _received(sim, 1, "report 1")
    hass.data[DATA_KEBA].discovery_addresses = loopback.station_ips(2)
    await asyncio.sleep(5.2)
    result = await start_adding_a_station(hass)
    assert result["step_id"] == "nothing_found"
    broadcasts = _received(sim, 0, "report 1") + _received(sim, 1, "report 1")
    # One round, and no report 1: both stations are known.
    assert broadcasts - before == 0
    for added in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(added.entry_id)


# ------------------------------------------------------------- entries come and go (item 3)
@pytest.mark.timeout(300)
async def test_delete_readd_reload_keeps_the_timing_rules(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """20 cycles of deleting, adding again and reloading an entry while another is checked.

    A reconfigure flow probes a station whose entry is loaded meanwhile. The stations see no
    timing violation: a station's send history outlives every entry, flow and socket.
    """
    sim = await start_simulator(count=2, variant="p30-x", scenario="charging")
    no_timing_violations.append(sim)
    keba_yaml[DOMAIN][CONF_DISCOVERY_ADDRESSES] = loopback.station_ips(2)
    assert await async_setup_component(hass, DOMAIN, keba_yaml)
    steady = await _manual_add(hass, loopback.station_ip(1))
    assert steady["type"] is FlowResultType.CREATE_ENTRY
    steady_entry = steady["result"]
    moving = await _manual_add(hass, loopback.station_ip(0))
    assert moving["type"] is FlowResultType.CREATE_ENTRY
    entry_id = moving["result"].entry_id

    for _ in range(CYCLES):
        # A flow checks the loaded station 1 (reconfigure: report 1 to 3, quick attempts)
        # while station 0's entry is deleted.
        probing = asyncio.ensure_future(_reconfigure(hass, steady_entry, loopback.station_ip(1)))
        assert (await hass.config_entries.async_remove(entry_id))["require_restart"] is False
        result = await probing
        assert result["type"] is FlowResultType.ABORT
        assert result["reason"] == "reconfigure_unchanged"  # the same address, checked
        # Added again at once, then reloaded twice (by hand and as after enabling entities).
        result = await _manual_add(hass, loopback.station_ip(0))
        assert result["type"] is FlowResultType.CREATE_ENTRY
        entry_id = result["result"].entry_id
        assert await hass.config_entries.async_reload(entry_id)
        hass.config_entries.async_schedule_reload(entry_id)
        await hass.async_block_till_done()
        assert hass.config_entries.async_get_entry(entry_id).state is ConfigEntryState.LOADED

    # Every cycle's check asked the loaded station (report 2 at least).
    assert _received(sim, 1, "report 2") > CYCLES
    for entry in hass.config_entries.async_entries(DOMAIN):
        await hass.config_entries.async_unload(entry.entry_id)


# ---------------------------------------------------------------- 30 % loss (item 6)
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_search_and_add_at_30_percent_loss(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    seed: int,
) -> None:
    """With 30 % of the datagrams lost each way, the station is listed and adding it works."""
    sim = await start_simulator(variant="p30-c", loss=0.3, seed=seed)
    no_timing_violations.append(sim)
    keba_yaml[DOMAIN][CONF_DISCOVERY_ADDRESSES] = [loopback.station_ip(0)]
    assert await async_setup_component(hass, DOMAIN, keba_yaml)

    result = await start_adding_a_station(hass)
    assert result["step_id"] == "user"
    options = result["data_schema"].schema[CONF_STATION].config["options"]
    assert [option["value"] for option in options] == [sim.stations[0].serial, MANUAL_ENTRY]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STATION: sim.stations[0].serial}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    await hass.async_block_till_done()
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    assert sim.stations[0].stats["dropped_in"] + sim.stations[0].stats["dropped_out"] > 0
    await hass.config_entries.async_unload(entry.entry_id)


# ------------------------------------------------------------ restart mid-session (item 4)
async def test_restart_during_a_session_sets_current_and_limit_again(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The station restarts while the vehicle stays plugged in: 10 A and 5 kWh come back."""
    sim = await start_simulator(variant="p30-c", scenario="charging")
    no_timing_violations.append(sim)
    station = sim.stations[0]
    station._boot_time -= 3600
    keba_yaml[DOMAIN][CONF_DISCOVERY_ADDRESSES] = [loopback.station_ip(0)]
    assert await async_setup_component(hass, DOMAIN, keba_yaml)
    result = await _manual_add(hass, loopback.station_ip(0))
    entry = result["result"]
    coordinator = entry.runtime_data.coordinator
    remove_listener = coordinator.async_add_listener(lambda: None)  # polls need a listener
    await asyncio.sleep(5.2)
    await coordinator.async_set_current(10)
    await coordinator.async_set_energy_limit(5)
    assert station._curr_user == 10000
    assert _received(sim, 0, "currtime 10000 1") == 1

    station.reboot()
    assert station._curr_user != 10000
    # The next poll (every 5 s while charging) shows the uptime going back; the settings
    # follow within KEBA's timing rules.
    async with asyncio.timeout(40):
        while "set again" not in caplog.text:  # noqa: ASYNC110 - a log line, no event to wait on
            await asyncio.sleep(0.5)
    assert station._curr_user == 10000
    assert _received(sim, 0, "setenergy 50000") == 2
    assert _received(sim, 0, "currtime 10000 1") == 2
    assert "set again: 10 A, 5 kWh" in caplog.text
    assert ir.async_get(hass).async_get_issue(DOMAIN, f"reapply_failed_{entry.entry_id}") is None
    remove_listener()
    await hass.config_entries.async_unload(entry.entry_id)


# ---------------------------------------------------------------- forged datagrams (item 1)
async def test_forged_datagrams_change_nothing(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """Absurd reports and pushes from the station's own address: no state, no statistic moves.

    The datagrams are the robustness issue's; the engine drops them, diagnostics count them,
    and total energy never decreases in Home Assistant.
    """
    import socket

    from homeassistant.const import Platform

    from custom_components.keba.diagnostics import async_get_config_entry_diagnostics

    sim = await start_simulator(variant="p30-c", scenario="charging")
    no_timing_violations.append(sim)
    keba_yaml[DOMAIN][CONF_DISCOVERY_ADDRESSES] = [loopback.station_ip(0)]
    assert await async_setup_component(hass, DOMAIN, keba_yaml)
    with patch.object(integration, "PLATFORMS", [Platform.SENSOR]):
        result = await _manual_add(hass, loopback.station_ip(0))
        await hass.async_block_till_done()
    entry = result["result"]
    serial = sim.stations[0].serial

    def state(key: str) -> str:
        entity_id = er.async_get(hass).async_get_entity_id("sensor", DOMAIN, f"{serial}_{key}")
        assert entity_id is not None
        return hass.states.get(entity_id).state

    keys = ("total_energy", "power", "charging_state", "plug_state")
    before = {key: state(key) for key in keys}
    session_before = float(state("session_energy"))
    forged = [
        '{"ID":"3","P":-603749136,"E pres":1e308,"I1":9.9e12,"PF":123456}',
        '{"E pres":1e308}',
        '{"ID":"2","State":"xxx","Plug":null}',
        '{"ID":"2","State":3,"Plug":7,"Max curr":999000,"Curr HW":-5}',
        '{"ID":"3","E total":1,"E pres":0,"P":0}',
        '{"Plug":1}',
    ]
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sender.bind((loopback.station_ip(0), 0))  # the station's own address
        for _ in range(20):
            for text in forged:
                sender.sendto(text.encode(), (loopback.client_ip, 7090))
            await asyncio.sleep(0.05)
    finally:
        sender.close()
    await hass.async_block_till_done()

    after = {key: state(key) for key in keys}
    assert after == before
    # The session goes on (about 11 kW): its energy grows a little, never by 1e308.
    assert 0 <= float(state("session_energy")) - session_before < 0.1
    diagnostics = await async_get_config_entry_diagnostics(hass, entry)
    assert diagnostics["station"]["rejected_datagrams"]["total"] > 0
    with patch.object(integration, "PLATFORMS", [Platform.SENSOR]):
        assert await hass.config_entries.async_unload(entry.entry_id)
