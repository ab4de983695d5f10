"""Diagnostics of a station's entry."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from unittest.mock import patch

import pytest
from syrupy.assertion import SnapshotAssertion

from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.components.diagnostics import (
    get_diagnostics_for_config_entry,
)
from pytest_homeassistant_custom_component.typing import ClientSessionGenerator

from custom_components.keba.const import (
    CONF_CHARGING_INTERVAL,
    CONF_RFID_CLASS,
    CONF_RFID_TAG,
    DOMAIN,
)
from custom_components.keba.diagnostics import as_plain
from custom_components.keba.kecontact import ChargingState, Model, TimeQuality
from simulator import Simulator

from .common import FakeStation
from .conftest import SERIAL, SimulatorFactory


@pytest.fixture(autouse=True)
def no_platforms() -> Iterator[None]:
    """Diagnostics need the entry, not the entities."""
    with patch("custom_components.keba.PLATFORMS", []):
        yield


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """A station with an RFID card and a serial in its title, as users name them."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Wallbox {SERIAL}",
        unique_id=SERIAL,
        data={CONF_HOST: "192.0.2.10", "serial": SERIAL},
        options={
            CONF_RFID_TAG: "04a1b2c3d4e5f600",
            CONF_RFID_CLASS: "01010400000000000000",
            CONF_CHARGING_INTERVAL: 10,
        },
        entry_id="01KEBAENTRY0000000000000001",
    )


@pytest.fixture
def station_reports(station_reports: dict[int, dict[str, Any]]) -> dict[int, dict[str, Any]]:
    """Firmware with a field the parser does not know."""
    station_reports[1]["Bootloader"] = "1.2.0"
    return station_reports


@pytest.mark.freeze_time("2026-11-21 08:00:00+00:00")
async def test_diagnostics(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
    snapshot: SnapshotAssertion,
) -> None:
    """Entry, reports (unknown fields included) and counters; serials and RFID redacted."""
    mock_config_entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, mock_config_entry)

    assert diagnostics == snapshot
    text = str(diagnostics)
    assert SERIAL not in text
    assert "04a1b2c3d4e5f600" not in text
    assert "01010400000000000000" not in text
    assert diagnostics["station"]["snapshot"]["info"]["extra"] == {"Bootloader": "1.2.0"}
    # The fake station has no UDP link and a dummy endpoint: no made-up counters.
    assert diagnostics["link"] is None
    assert diagnostics["endpoint"] is None


async def test_diagnostics_count_failed_polls(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """A poll that failed shows up, while the entities stay available."""
    coordinator = init_integration.runtime_data.coordinator
    mock_station.fail_polls = True
    await coordinator.async_refresh()
    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, init_integration)
    assert diagnostics["coordinator"]["failed_polls"] == 1
    assert diagnostics["coordinator"]["last_update_success"] is True


def test_plain_data() -> None:
    """Enums by name or value, sets sorted, tuples as lists: the output is JSON."""
    assert as_plain(
        {
            "state": ChargingState.CHARGING,
            "model": Model.P20,
            "q": TimeQuality.WEAK,
            "s": {3, 1},
            "t": (2, None),
        }
    ) == {"state": "charging", "model": "P20", "q": "weak", "s": [1, 3], "t": [2, None]}


async def test_diagnostics_with_a_real_link(
    hass: HomeAssistant,
    hass_client: ClientSessionGenerator,
    keba_yaml: dict[str, Any],
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """Against a simulated station the link and endpoint counters are real numbers."""
    sim = await start_simulator(count=1, variant="p30-x", scenario="charging")
    no_timing_violations.append(sim)
    station = sim.stations[0]
    entry = MockConfigEntry(
        domain=DOMAIN, title="Carport", unique_id=station.serial, data={CONF_HOST: station.ip}
    )
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, keba_yaml)
    await hass.async_block_till_done()

    diagnostics = await get_diagnostics_for_config_entry(hass, hass_client, entry)

    link = diagnostics["link"]
    assert set(link) == {
        "sent",
        "received",
        "retries",
        "stale_replies",
        "malformed",
        "queue_length",
    }
    # Report 1, 2 and 3 at least; the station answers each and pushes on top.
    assert link["sent"] >= 3
    assert link["received"] >= link["sent"] - link["retries"]
    assert link["malformed"] == 0
    endpoint = diagnostics["endpoint"]
    assert endpoint["received"] >= link["received"]
    assert endpoint["unknown_source"] == 0
    assert endpoint["bind_port"] == 7090
    assert diagnostics["station"]["capabilities"]["model_name"] == "KeContact P30 x-series"
    assert station.serial not in str(diagnostics)
