"""Discovery: the shared search helper and the periodic search in the background."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import timedelta
from ipaddress import IPv4Address
import logging
from typing import Any
from unittest.mock import AsyncMock, MagicMock, patch

from freezegun.api import FrozenDateTimeFactory
import pytest

from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_INTEGRATION_DISCOVERY,
    ConfigEntryDisabler,
    ConfigEntryState,
)
from homeassistant.const import CONF_HOST, EVENT_HOMEASSISTANT_STARTED, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CoreState, HomeAssistant
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, async_fire_time_changed

from custom_components.keba.const import (
    CONF_BIND_ADDRESS,
    CONF_DISCOVERY_ADDRESSES,
    CONF_DISCOVERY_INTERVAL,
    CONF_PRODUCT,
    DOMAIN,
)
from custom_components.keba.discovery import async_discover_stations, async_get_domain_data
from custom_components.keba.domain_data import DATA_KEBA, KebaDomainData
from custom_components.keba.kecontact import (
    Capabilities,
    DiscoveredStation,
    KebaConnectionError,
    KebaPortInUseError,
)
from simulator import Simulator

from .common import LoopbackNet
from .conftest import SERIAL, SimulatorFactory

PRODUCT = "KC-P30-EC2404B2-M0R"


def _found(host: str, serial: str | None = SERIAL) -> DiscoveredStation:
    return DiscoveredStation(
        host=host,
        firmware="P30 v 3.10.27 (210105-174852)",
        serial=serial,
        product=PRODUCT if serial else None,
        capabilities=Capabilities.from_product(PRODUCT) if serial else None,
    )


# ------------------------------------------------------------------------ the search helper
@pytest.fixture
def mock_pool(hass: HomeAssistant) -> MagicMock:
    """The shared socket pool, without a socket."""
    pool = MagicMock()
    pool.acquire = AsyncMock(return_value=MagicMock(name="endpoint"))
    pool.release = AsyncMock()
    hass.data[DATA_KEBA] = KebaDomainData(pool=pool, bind_address="192.0.2.1")
    return pool


async def test_search_uses_the_configured_addresses(
    hass: HomeAssistant, mock_pool: MagicMock
) -> None:
    """Addresses from YAML are the targets (once each); the socket is given back."""
    hass.data[DATA_KEBA].discovery_addresses = ["192.0.2.20", "192.0.2.21", "192.0.2.20"]
    with patch(
        "custom_components.keba.discovery.discover", return_value=[_found("192.0.2.20")]
    ) as discover:
        found = await async_discover_stations(hass)

    assert found == [_found("192.0.2.20")]
    mock_pool.acquire.assert_awaited_once_with("192.0.2.1", 7090)
    endpoint = mock_pool.acquire.return_value
    discover.assert_awaited_once()
    assert discover.await_args.args == (endpoint, ["192.0.2.20", "192.0.2.21"])
    # Up to three rounds, stopped early once what was found suffices; nothing loaded is known.
    assert discover.await_args.kwargs["rounds"] == 3
    assert discover.await_args.kwargs["known"] == {}
    mock_pool.release.assert_awaited_once_with(endpoint)


@pytest.mark.parametrize(
    ("known", "targets"),
    [
        # One broadcast per network Home Assistant uses; 255.255.255.255 would repeat one.
        (
            {"255.255.255.255", "192.168.178.255", "10.0.0.255"},
            ["10.0.0.255", "192.168.178.255"],
        ),
        ({"255.255.255.255"}, ["255.255.255.255"]),
    ],
)
async def test_search_targets_the_networks_broadcast_addresses(
    hass: HomeAssistant, mock_pool: MagicMock, known: set[str], targets: list[str]
) -> None:
    """Without addresses in YAML, the broadcast addresses of Home Assistant's networks."""
    with (
        patch(
            "custom_components.keba.discovery.network.async_get_ipv4_broadcast_addresses",
            return_value={IPv4Address(address) for address in known},
        ),
        patch("custom_components.keba.discovery.discover", return_value=[]) as discover,
    ):
        assert await async_discover_stations(hass) == []

    assert discover.await_args is not None
    assert discover.await_args.args[1] == targets


async def test_search_gives_the_socket_back_on_errors(
    hass: HomeAssistant, mock_pool: MagicMock
) -> None:
    """Even a failing search releases the shared socket."""
    hass.data[DATA_KEBA].discovery_addresses = ["192.0.2.20"]
    with (
        patch("custom_components.keba.discovery.discover", side_effect=RuntimeError("boom")),
        pytest.raises(RuntimeError),
    ):
        await async_discover_stations(hass)
    mock_pool.release.assert_awaited_once()


async def test_search_reports_a_port_in_use(hass: HomeAssistant, mock_pool: MagicMock) -> None:
    """A port held by another program is a clear error, and nothing is sent."""
    hass.data[DATA_KEBA].discovery_addresses = ["192.0.2.20"]
    mock_pool.acquire.side_effect = KebaPortInUseError("", 7090)
    with (
        patch("custom_components.keba.discovery.discover") as discover,
        pytest.raises(KebaPortInUseError, match="UDP port 7090"),
    ):
        await async_discover_stations(hass)
    discover.assert_not_called()
    mock_pool.release.assert_not_awaited()


# ------------------------------------------------------------------- the background search
@pytest.fixture
def mock_search() -> Iterator[AsyncMock]:
    """The search of the background discovery; finds the fixtures' station."""
    with patch(
        "custom_components.keba.discovery.async_discover_stations",
        return_value=[_found("192.0.2.10")],
    ) as search:
        yield search


async def _setup(hass: HomeAssistant, **conf: Any) -> None:
    assert await async_setup_component(hass, DOMAIN, {DOMAIN: conf})
    await hass.async_block_till_done(wait_background_tasks=True)


def _discovery_flows(hass: HomeAssistant) -> list[dict[str, Any]]:
    return [
        dict(flow)
        for flow in hass.config_entries.flow.async_progress_by_handler(DOMAIN)
        if flow["context"]["source"] == SOURCE_INTEGRATION_DISCOVERY
    ]


async def test_searches_at_start_and_then_periodically(
    hass: HomeAssistant, mock_search: AsyncMock, freezer: FrozenDateTimeFactory
) -> None:
    """Found at start: offered to the user; searched again every 10 minutes by default."""
    await _setup(hass)

    assert mock_search.await_count == 1
    flows = _discovery_flows(hass)
    assert len(flows) == 1
    assert flows[0]["step_id"] == "discovery_confirm"
    assert flows[0]["context"]["unique_id"] == SERIAL

    freezer.tick(timedelta(minutes=9))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert mock_search.await_count == 1

    freezer.tick(timedelta(minutes=1))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert mock_search.await_count == 2
    # The station still waits for the user: no second flow.
    assert len(_discovery_flows(hass)) == 1


async def test_interval_from_yaml(
    hass: HomeAssistant, mock_search: AsyncMock, freezer: FrozenDateTimeFactory
) -> None:
    """``discovery_interval`` in YAML sets how often the network is searched."""
    await _setup(hass, **{CONF_DISCOVERY_INTERVAL: {"minutes": 2}})
    for searches in (2, 3):
        freezer.tick(timedelta(minutes=2))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)
        assert mock_search.await_count == searches


async def test_waits_until_home_assistant_has_started(
    hass: HomeAssistant, mock_search: AsyncMock
) -> None:
    """No search while Home Assistant starts up; the first one once it has started."""
    hass.set_state(CoreState.not_running)
    await _setup(hass)
    assert mock_search.await_count == 0

    hass.set_state(CoreState.running)
    hass.bus.async_fire(EVENT_HOMEASSISTANT_STARTED)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert mock_search.await_count == 1


async def test_stops_with_home_assistant(
    hass: HomeAssistant, mock_search: AsyncMock, freezer: FrozenDateTimeFactory
) -> None:
    """Stopping Home Assistant cancels a running search and ends the schedule."""
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def slow_search(_hass: HomeAssistant) -> list[DiscoveredStation]:
        started.set()
        try:
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            cancelled.set()
            raise
        return []  # pragma: no cover - never gets here

    mock_search.side_effect = slow_search
    assert await async_setup_component(hass, DOMAIN, {DOMAIN: {}})
    await started.wait()

    # A tick while the search still runs does not start a second one.
    freezer.tick(timedelta(minutes=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done()
    assert mock_search.await_count == 1

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    assert cancelled.is_set()

    freezer.tick(timedelta(minutes=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert mock_search.await_count == 1


async def test_stopped_before_start_never_searches(
    hass: HomeAssistant, mock_search: AsyncMock
) -> None:
    """Home Assistant stopping during its start-up drops the pending first search."""
    unsubscribe = MagicMock()
    with patch(
        "custom_components.keba.discovery.async_at_started", return_value=unsubscribe
    ) as at_started:
        await _setup(hass)
    at_started.assert_called_once()

    hass.bus.async_fire(EVENT_HOMEASSISTANT_STOP)
    await hass.async_block_till_done()
    unsubscribe.assert_called_once_with()
    assert mock_search.await_count == 0


async def test_port_in_use_is_logged_once_and_never_raised(
    hass: HomeAssistant,
    mock_search: AsyncMock,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A busy port is a single warning, a later success says so; nothing raises."""
    mock_search.side_effect = KebaPortInUseError("", 7090)
    with caplog.at_level(logging.INFO, logger="custom_components.keba"):
        await _setup(hass)
        for _ in range(2):
            freezer.tick(timedelta(minutes=10))
            async_fire_time_changed(hass)
            await hass.async_block_till_done(wait_background_tasks=True)
        assert mock_search.await_count == 3
        warnings = [
            r
            for r in caplog.records
            if r.levelno == logging.WARNING and r.name.startswith("custom_components.keba")
        ]
        assert len(warnings) == 1
        assert "UDP port 7090 on all interfaces is already in use" in warnings[0].getMessage()

        mock_search.side_effect = None
        freezer.tick(timedelta(minutes=10))
        async_fire_time_changed(hass)
        await hass.async_block_till_done(wait_background_tasks=True)

    assert "UDP port 7090 is free again" in caplog.text
    assert len(_discovery_flows(hass)) == 1


@pytest.mark.parametrize(
    ("error", "level", "message"),
    [
        (KebaConnectionError("cannot bind"), logging.DEBUG, "Searching for KEBA stations failed"),
        (RuntimeError("boom"), logging.ERROR, "Unexpected error while searching"),
    ],
)
async def test_other_errors_are_logged_and_the_schedule_goes_on(
    hass: HomeAssistant,
    mock_search: AsyncMock,
    freezer: FrozenDateTimeFactory,
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    level: int,
    message: str,
) -> None:
    """A failed search never raises and the next one still runs."""
    mock_search.side_effect = error
    with caplog.at_level(logging.DEBUG, logger="custom_components.keba"):
        await _setup(hass)
    assert any(r.levelno == level and message in r.getMessage() for r in caplog.records)

    mock_search.side_effect = None
    freezer.tick(timedelta(minutes=10))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert len(_discovery_flows(hass)) == 1


async def test_stations_without_serial_or_unchanged_start_no_flow(
    hass: HomeAssistant, mock_search: AsyncMock
) -> None:
    """No flow for a station without serial, a known one at its address, or an ignored one."""
    known = MockConfigEntry(domain=DOMAIN, unique_id="11111111", data={CONF_HOST: "192.0.2.11"})
    known.add_to_hass(hass)
    known.mock_state(hass, ConfigEntryState.LOADED)
    MockConfigEntry(domain=DOMAIN, unique_id="22222222", source=SOURCE_IGNORE, data={}).add_to_hass(
        hass
    )
    mock_search.return_value = [
        _found("192.0.2.9", None),
        _found("192.0.2.11", "11111111"),
        _found("192.0.2.12", "22222222"),
    ]
    with patch("custom_components.keba.discovery.discovery_flow.async_create_flow") as create:
        await _setup(hass)
    assert mock_search.await_count == 1
    create.assert_not_called()


@pytest.mark.parametrize(
    ("stored", "state", "flows"),
    [
        ("192.0.2.99", ConfigEntryState.LOADED, 1),  # the station moved
        ("192.0.2.10", ConfigEntryState.SETUP_RETRY, 1),  # the entry waits for the station
        ("192.0.2.10", ConfigEntryState.LOADED, 0),
    ],
)
async def test_known_station_starts_a_flow_when_something_changed(
    hass: HomeAssistant,
    mock_search: AsyncMock,
    stored: str,
    state: ConfigEntryState,
    flows: int,
) -> None:
    """A moved station, or one whose entry waits for it, gets a flow (which updates it)."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=SERIAL,
        data={CONF_HOST: stored},
        disabled_by=ConfigEntryDisabler.USER,
    )
    entry.add_to_hass(hass)
    entry.mock_state(hass, state)
    with patch("custom_components.keba.discovery.discovery_flow.async_create_flow") as create:
        await _setup(hass)
    assert create.call_count == flows
    if flows:
        assert create.call_args.kwargs["data"][CONF_HOST] == "192.0.2.10"
        assert create.call_args.kwargs["context"] == {"source": SOURCE_INTEGRATION_DISCOVERY}


async def test_ip_change_updates_the_entry(hass: HomeAssistant, mock_search: AsyncMock) -> None:
    """A configured station found at a new IP address: the entry follows it."""
    entry = MockConfigEntry(
        domain=DOMAIN,
        unique_id=SERIAL,
        data={CONF_HOST: "192.0.2.99", CONF_PRODUCT: PRODUCT},
        disabled_by=ConfigEntryDisabler.USER,
    )
    entry.add_to_hass(hass)
    await _setup(hass)
    await hass.async_block_till_done(wait_background_tasks=True)

    assert entry.data == {CONF_HOST: "192.0.2.10", CONF_PRODUCT: PRODUCT}
    assert _discovery_flows(hass) == []


# ------------------------------------------------------------------- real stations, real UDP
async def test_background_search_end_to_end(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """Over loopback UDP: new stations are offered, a moved one's entry gets its new IP."""
    sim = await start_simulator(count=3, variant=["p30-x", "p30-c", "p20"])
    no_timing_violations.append(sim)
    moved = MockConfigEntry(
        domain=DOMAIN,
        unique_id=sim.stations[2].serial,
        data={CONF_HOST: loopback.station_ip(12)},
        disabled_by=ConfigEntryDisabler.USER,
    )
    moved.add_to_hass(hass)

    loop = asyncio.get_running_loop()
    started = loop.time()
    assert await async_setup_component(hass, DOMAIN, keba_yaml)
    await hass.async_block_till_done(wait_background_tasks=True)
    # ``i`` goes to 16 addresses t_UDP_pause (100 ms) apart, not t_COM_pause (5 s) apart.
    assert len(keba_yaml[DOMAIN][CONF_DISCOVERY_ADDRESSES]) == 16
    assert loop.time() - started < 10
    await hass.async_block_till_done(wait_background_tasks=True)

    flows = sorted(_discovery_flows(hass), key=lambda flow: flow["context"]["unique_id"])
    assert [flow["context"]["unique_id"] for flow in flows] == [
        sim.stations[0].serial,
        sim.stations[1].serial,
    ]
    assert [flow["context"]["title_placeholders"]["name"] for flow in flows] == [
        f"KeContact P30 x-series {sim.stations[0].serial}",
        f"KeContact P30 c-series {sim.stations[1].serial}",
    ]
    assert moved.data[CONF_HOST] == loopback.station_ip(2)
    # The search ran on the socket bound to the configured address, and gave it back.
    assert hass.data[DATA_KEBA].pool.endpoints == []
    assert hass.data[DATA_KEBA].bind_address == keba_yaml[DOMAIN][CONF_BIND_ADDRESS]


async def test_setup_keeps_the_pool_of_an_earlier_flow(hass: HomeAssistant) -> None:
    """A flow that ran before the integration was set up shares its socket pool with it.

    The pool remembers what was sent to each station, so the first entry's setup does not ask
    the station for report 1 again within KEBA's 5 s.
    """
    flow_data = async_get_domain_data(hass)
    assert flow_data.bind_address == ""
    assert flow_data.discovery_addresses == []

    await _setup_without_search(
        hass,
        **{
            CONF_BIND_ADDRESS: "127.0.0.1",
            CONF_DISCOVERY_ADDRESSES: ["127.0.0.2"],
            CONF_DISCOVERY_INTERVAL: {"minutes": 1},
        },
    )

    assert hass.data[DATA_KEBA] is flow_data
    assert flow_data.bind_address == "127.0.0.1"
    assert flow_data.discovery_addresses == ["127.0.0.2"]
    assert flow_data.discovery_interval_s == 60


async def _setup_without_search(hass: HomeAssistant, **conf: Any) -> None:
    with patch("custom_components.keba.async_setup_discovery"):
        assert await async_setup_component(hass, DOMAIN, {DOMAIN: conf})
