"""Setup, unload and reload of entries against simulated stations over real loopback UDP."""

from __future__ import annotations

import socket
from typing import Any

import pytest

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.helpers import issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.keba.const import DOMAIN, ISSUE_PORT_IN_USE
from custom_components.keba.domain_data import DATA_KEBA
from simulator import Simulator

from .common import FakeStation, LoopbackNet
from .conftest import SimulatorFactory


def _entry_for(sim: Simulator, index: int = 0, **options: Any) -> MockConfigEntry:
    station = sim.stations[index]
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"KeContact {station.serial}",
        unique_id=station.serial,
        data={CONF_HOST: station.ip},
        options=options,
    )


def _port_is_free(host: str, port: int = 7090) -> bool:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind((host, port))
    except OSError:
        return False
    finally:
        probe.close()
    return True


async def _setup_entries(
    hass: HomeAssistant, keba_yaml: dict[str, Any], entries: list[MockConfigEntry]
) -> None:
    for entry in entries:
        entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, keba_yaml)
    await hass.async_block_till_done()


async def test_setup_reads_the_station_and_unload_frees_the_port(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """One station: identified from report 1, polled; unloading releases port 7090."""
    sim = await start_simulator(count=1, variant="p30-x", scenario="charging")
    no_timing_violations.append(sim)
    entry = _entry_for(sim)
    await _setup_entries(hass, keba_yaml, [entry])

    assert entry.state is ConfigEntryState.LOADED
    data = entry.runtime_data.coordinator.data
    assert data.snapshot.info is not None
    assert data.snapshot.info.serial == sim.stations[0].serial
    assert data.snapshot.status is not None
    assert data.snapshot.status.charging is True
    assert data.snapshot.meter is not None
    assert data.snapshot.meter.power_w is not None
    assert data.snapshot.meter.power_w > 0
    assert not _port_is_free(loopback.client_ip)

    assert await hass.config_entries.async_unload(entry.entry_id)
    # The search for stations at start-up also uses the port for a moment.
    await hass.async_block_till_done(wait_background_tasks=True)
    assert entry.state is ConfigEntryState.NOT_LOADED
    assert _port_is_free(loopback.client_ip)
    assert hass.data[DATA_KEBA].pool.endpoints == []


async def test_reload_twice_never_reports_address_in_use(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    start_simulator: SimulatorFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Reloading rebinds port 7090 cleanly, again and again."""
    sim = await start_simulator(count=1)
    entry = _entry_for(sim)
    await _setup_entries(hass, keba_yaml, [entry])
    for _ in range(2):
        assert await hass.config_entries.async_reload(entry.entry_id)
        await hass.async_block_till_done()
        assert entry.state is ConfigEntryState.LOADED
    assert "already in use" not in caplog.text
    assert entry.runtime_data.coordinator.last_update_success


async def test_stations_share_one_socket_and_release_it_with_the_last(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
) -> None:
    """Two entries use one endpoint; it closes only when both are unloaded."""
    sim = await start_simulator(count=2, scenario="charging,idle")
    entries = [_entry_for(sim, 0), _entry_for(sim, 1)]
    await _setup_entries(hass, keba_yaml, entries)
    assert all(entry.state is ConfigEntryState.LOADED for entry in entries)
    endpoints = {id(entry.runtime_data.endpoint) for entry in entries}
    assert len(endpoints) == 1

    assert await hass.config_entries.async_unload(entries[0].entry_id)
    await hass.async_block_till_done()
    assert not _port_is_free(loopback.client_ip)
    assert entries[1].runtime_data.coordinator.last_update_success

    assert await hass.config_entries.async_unload(entries[1].entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert _port_is_free(loopback.client_ip)


async def test_sixteen_stations_at_once(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """Sixteen stations set up side by side, each with its own serial and data."""
    sim = await start_simulator(count=16, scenario="charging,idle")
    no_timing_violations.append(sim)
    entries = [_entry_for(sim, i) for i in range(16)]
    await _setup_entries(hass, keba_yaml, entries)
    assert all(entry.state is ConfigEntryState.LOADED for entry in entries)
    serials = {entry.runtime_data.station.serial for entry in entries}
    assert serials == {station.serial for station in sim.stations}
    charging = [entry.runtime_data.coordinator.data.snapshot.status.charging for entry in entries]
    assert charging == [True, False] * 8


async def test_port_in_use_raises_a_repair_issue_and_recovers(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    issue_registry: ir.IssueRegistry,
) -> None:
    """Another program on port 7090: the entry retries and a repair issue explains why."""
    sim = await start_simulator(count=1)
    blocker = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    blocker.bind((loopback.client_ip, 7090))
    try:
        entry = _entry_for(sim)
        await _setup_entries(hass, keba_yaml, [entry])
        assert entry.state is ConfigEntryState.SETUP_RETRY
        issue = issue_registry.async_get_issue(DOMAIN, ISSUE_PORT_IN_USE)
        assert issue is not None
        assert issue.translation_placeholders == {"port": "7090"}
    finally:
        blocker.close()
    assert await hass.config_entries.async_reload(entry.entry_id)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    assert issue_registry.async_get_issue(DOMAIN, ISSUE_PORT_IN_USE) is None


async def test_unreachable_station_retries_setup(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    mock_station: FakeStation,
    mock_config_entry: MockConfigEntry,
) -> None:
    """A station that does not answer report 1 puts the entry into setup retry."""
    mock_station.fail_polls = True
    await _setup_entries(hass, keba_yaml, [mock_config_entry])
    assert mock_config_entry.state is ConfigEntryState.SETUP_RETRY
    mock_station.close.assert_awaited()


async def test_other_station_at_the_address_is_not_adopted(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    mock_station: FakeStation,
) -> None:
    """After a DHCP change another station may answer at the stored address: wait, don't mix."""
    entry = MockConfigEntry(
        domain=DOMAIN, unique_id="99999999", data={CONF_HOST: "192.0.2.10"}, title="Other"
    )
    await _setup_entries(hass, keba_yaml, [entry])
    assert entry.state is ConfigEntryState.SETUP_RETRY
    mock_station.close.assert_awaited()
