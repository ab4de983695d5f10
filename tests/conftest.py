"""Shared test fixtures."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Iterator
import os
from typing import Any
from unittest.mock import AsyncMock, MagicMock, PropertyMock, patch

import pytest
from syrupy.assertion import SnapshotAssertion

from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry
from pytest_homeassistant_custom_component.syrupy import HomeAssistantSnapshotExtension

# Import our package first so that ``custom_components`` resolves to this repository's.
import custom_components.keba  # noqa: F401
from custom_components.keba.const import CONF_BIND_ADDRESS, CONF_DISCOVERY_ADDRESSES, DOMAIN
from simulator import Simulator

from .common import FakeStation, LoopbackNet, default_reports, random_loopback_net

SERIAL = "18039974"


@pytest.fixture(autouse=True)
def auto_enable_custom_integrations(enable_custom_integrations: None) -> None:
    """Load integrations from custom_components."""


@pytest.fixture
def loopback() -> LoopbackNet:
    """A loopback /24 of this test's own (set KEBA_TEST_NET=127.x.y to fix it)."""
    return random_loopback_net(os.environ.get("KEBA_TEST_NET") or None)


@pytest.fixture
def keba_yaml(loopback: LoopbackNet) -> dict[str, Any]:
    """configuration.yaml of the integration: socket and discovery on the test's loopback net."""
    return {
        DOMAIN: {
            CONF_BIND_ADDRESS: loopback.client_ip,
            CONF_DISCOVERY_ADDRESSES: loopback.station_ips(16),
        }
    }


# --------------------------------------------------------------------------- mocked station
@pytest.fixture
def station_reports() -> dict[int, dict[str, Any]]:
    """Raw reports the fake station answers (override in a test module to vary them)."""
    return default_reports()


@pytest.fixture
def mock_station(station_reports: dict[int, dict[str, Any]]) -> Iterator[FakeStation]:
    """Replace the network: the pool hands out a dummy endpoint, stations are FakeStations.

    The returned station answers for the host of ``mock_config_entry``; other hosts get fresh
    fake stations with the same reports.
    """
    station = FakeStation(MagicMock(), "192.0.2.10", station_reports)

    def make(endpoint: Any, host: str) -> FakeStation:
        if host == station.host:
            station.endpoint = endpoint
            return station
        return FakeStation(endpoint, host, station_reports)

    with (
        patch("custom_components.keba.KebaStation", side_effect=make),
        patch(
            "custom_components.keba.kecontact.transport.EndpointPool.acquire",
            new=AsyncMock(return_value=MagicMock()),
        ),
        patch("custom_components.keba.kecontact.transport.EndpointPool.release", new=AsyncMock()),
        patch("custom_components.keba.discovery.discover", new=AsyncMock(return_value=[])),
    ):
        yield station


@pytest.fixture
def mock_config_entry() -> MockConfigEntry:
    """A configured station (the fixtures' P30 x-series)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="KeContact P30 x-series",
        unique_id=SERIAL,
        data={CONF_HOST: "192.0.2.10"},
        options={},
    )


@pytest.fixture
async def init_integration(
    hass: HomeAssistant, mock_config_entry: MockConfigEntry, mock_station: FakeStation
) -> MockConfigEntry:
    """The integration set up against the fake station."""
    mock_config_entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    return mock_config_entry


# ------------------------------------------------------------------------ simulated stations
type SimulatorFactory = Callable[..., Awaitable[Simulator]]


@pytest.fixture
async def start_simulator(
    socket_enabled: None, loopback: LoopbackNet
) -> AsyncIterator[SimulatorFactory]:
    """Start simulated stations on the test's loopback net, e.g. ``await start(count=2)``."""
    started: list[Simulator] = []

    async def start(count: int = 1, **options: Any) -> Simulator:
        first = len([ip for sim in started for ip in sim.ips])
        sim = Simulator(ips=[loopback.station_ip(first + i) for i in range(count)], **options)
        await sim.start()
        started.append(sim)
        return sim

    yield start
    for sim in started:
        await sim.stop()


@pytest.fixture
def no_timing_violations() -> Generator[list[Simulator]]:
    """Register simulators here; the test fails if any saw a timing-rule violation."""
    simulators: list[Simulator] = []
    yield simulators
    for sim in simulators:
        assert sim.violations() == []


# ------------------------------------------------------------------------------ entity tests
@pytest.fixture
def entity_registry_enabled_by_default() -> Iterator[None]:
    """Create every entity enabled, also those that are disabled by default."""
    with patch(
        "homeassistant.helpers.entity.Entity.entity_registry_enabled_default",
        new_callable=PropertyMock,
        return_value=True,
    ):
        yield


@pytest.fixture
def snapshot(snapshot: SnapshotAssertion) -> SnapshotAssertion:
    """Syrupy with Home Assistant's serializer (no random ids), files in tests/snapshots/."""
    return snapshot.use_extension(HomeAssistantSnapshotExtension)
