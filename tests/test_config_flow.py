"""Config flow: search, manual address, discovery, DHCP, reconfigure, import and options."""

from __future__ import annotations

from collections.abc import Iterator
import json
import logging
from pathlib import Path
from typing import Any
from unittest.mock import AsyncMock, MagicMock, patch

import pytest

from homeassistant.config_entries import (
    SOURCE_DHCP,
    SOURCE_IGNORE,
    SOURCE_IMPORT,
    SOURCE_INTEGRATION_DISCOVERY,
    SOURCE_USER,
    ConfigEntryState,
)
from homeassistant.const import CONF_HOST, CONF_MODEL
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType, InvalidData
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.service_info.dhcp import DhcpServiceInfo
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

import custom_components.keba as integration
from custom_components.keba.config_flow import (
    CONF_STATION,
    SOLAR_SCHEMA,
    FoundStation,
    is_valid_host,
)
from custom_components.keba.const import (
    CONF_CHARGING_INTERVAL,
    CONF_FAILSAFE_CURRENT,
    CONF_FAILSAFE_PERSIST,
    CONF_FAILSAFE_TIMEOUT,
    CONF_IDLE_INTERVAL,
    CONF_PRODUCT,
    CONF_RFID_CLASS,
    CONF_RFID_TAG,
    CONF_SERIAL,
    DOMAIN,
    ISSUE_YAML_DEPRECATED,
    ISSUE_YAML_IMPORT_CANNOT_CONNECT,
    MANUAL_ENTRY,
)
from custom_components.keba.kecontact import (
    Capabilities,
    DiscoveredStation,
    EndpointPool,
    KebaConnectionError,
    KebaPortInUseError,
)
from simulator import Simulator

from .common import FakeStation, LoopbackNet
from .conftest import SERIAL, SimulatorFactory

HOST = "192.0.2.10"
PRODUCT = "KC-P30-EC2404B2-M0R"
TITLE = f"KeContact P30 x-series {SERIAL}"
#: The entry's (and device's) title: short, so that entity ids read well.
ENTRY_TITLE = "KEBA P30"


def _found(
    host: str, serial: str | None, product: str = "KC-P30-EC240422-E00"
) -> DiscoveredStation:
    return DiscoveredStation(
        host=host,
        firmware="P30 v 3.10.27 (210105-174852)",
        serial=serial,
        product=product if serial else None,
        capabilities=Capabilities.from_product(product) if serial else None,
    )


@pytest.fixture(autouse=True)
def no_background_discovery() -> Iterator[None]:
    """The periodic search has its own tests (test_discovery.py)."""
    with patch("custom_components.keba.async_setup_discovery"):
        yield


@pytest.fixture
def mock_setup_entry() -> Iterator[AsyncMock]:
    """Entries the flow creates are not set up."""
    with patch("custom_components.keba.async_setup_entry", return_value=True) as setup:
        yield setup


@pytest.fixture
def station(mock_station: FakeStation) -> FakeStation:
    """The flow's station check talks to FakeStations (192.0.2.10 is ``mock_station``)."""
    with patch("custom_components.keba.config_flow.KebaStation", new=integration.KebaStation):
        yield mock_station


@pytest.fixture
def mock_discover() -> Iterator[AsyncMock]:
    """The search of the user step; finds nothing unless a test says otherwise."""
    with patch(
        "custom_components.keba.config_flow.async_discover_stations", return_value=[]
    ) as discover:
        yield discover


@pytest.fixture
def identify_picked(mock_discover: AsyncMock) -> Iterator[AsyncMock]:
    """The check of a station picked from the list answers as the search found it."""

    async def identify(_hass: HomeAssistant, host: str, _info: Any = None) -> FoundStation:
        found = next(s for s in mock_discover.return_value if s.host == host)
        return FoundStation.create(host, found.serial, found.product)

    with patch(
        "custom_components.keba.config_flow.async_identify_station", side_effect=identify
    ) as mock:
        yield mock


def _entry(
    serial: str = SERIAL, host: str = HOST, source: str = SOURCE_USER, **kwargs: Any
) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"KeContact P30 x-series {serial}",
        unique_id=serial,
        data={CONF_HOST: host, CONF_PRODUCT: PRODUCT},
        source=source,
        **kwargs,
    )


# ------------------------------------------------------------------------------ user: search
async def _async_start_adding_a_station(hass: HomeAssistant) -> Any:
    """Start the user flow; with a station set up already, choose "station" in its menu."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["station", "site"]
    return await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "station"}
    )


@pytest.mark.usefixtures("mock_setup_entry", "identify_picked")
async def test_user_lists_new_stations_and_adds_the_chosen_one(
    hass: HomeAssistant, mock_discover: AsyncMock
) -> None:
    """Configured stations and stations without serial are not offered; the pick is added."""
    _entry(serial="11111111", host="192.0.2.30").add_to_hass(hass)
    mock_discover.return_value = [
        _found("192.0.2.21", "22222222", "KC-P20-ES240030-000"),
        _found("192.0.2.30", "11111111"),
        _found("192.0.2.4", "33333333"),
        _found("192.0.2.5", None),
        _found("keba.example", "44444444"),
    ]

    result = await _async_start_adding_a_station(hass)

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    selector = result["data_schema"].schema[CONF_STATION]
    assert selector.config["translation_key"] == CONF_STATION
    assert selector.config["options"] == [
        {"value": "33333333", "label": "KeContact P30 c-series · 33333333 · 192.0.2.4"},
        {"value": "22222222", "label": "KeContact P20 c-series · 22222222 · 192.0.2.21"},
        {"value": "44444444", "label": "KeContact P30 c-series · 44444444 · keba.example"},
        {"value": MANUAL_ENTRY, "label": MANUAL_ENTRY},
    ]

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STATION: "22222222"}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "KEBA P20"
    assert result["data"] == {CONF_HOST: "192.0.2.21", CONF_PRODUCT: "KC-P20-ES240030-000"}
    assert result["result"].unique_id == "22222222"
    assert result["options"] == {}


@pytest.mark.usefixtures("mock_setup_entry", "identify_picked")
@pytest.mark.parametrize(
    ("existing", "title"),
    [
        (None, "KEBA P30"),
        ("KEBA P30", f"KEBA P30 {SERIAL}"),
        ("Keba p30", f"KEBA P30 {SERIAL}"),
        ("Garage", "KEBA P30"),
    ],
    ids=["first", "second", "same-slug", "first-renamed"],
)
async def test_title_names_the_device_short(
    hass: HomeAssistant, mock_discover: AsyncMock, existing: str | None, title: str
) -> None:
    """``KEBA P30`` (entity ids ``sensor.keba_p30_…``); the serial only where ids would clash."""
    if existing is not None:
        MockConfigEntry(
            domain=DOMAIN, title=existing, unique_id="11111111", data={CONF_HOST: "192.0.2.2"}
        ).add_to_hass(hass)
    mock_discover.return_value = [_found(HOST, SERIAL, PRODUCT)]
    if existing is None:
        result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    else:
        result = await _async_start_adding_a_station(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STATION: SERIAL}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == title


@pytest.mark.usefixtures("mock_setup_entry", "identify_picked")
async def test_user_offers_a_station_the_user_ignored(
    hass: HomeAssistant, mock_discover: AsyncMock
) -> None:
    """An ignored station is listed, and adding it replaces the ignore entry."""
    ignored = MockConfigEntry(domain=DOMAIN, unique_id=SERIAL, source=SOURCE_IGNORE, data={})
    ignored.add_to_hass(hass)
    mock_discover.return_value = [_found(HOST, SERIAL, PRODUCT)]

    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["step_id"] == "user"
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STATION: SERIAL}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == ENTRY_TITLE
    entries = hass.config_entries.async_entries(DOMAIN, include_ignore=True)
    assert [entry.source for entry in entries] == [SOURCE_USER]


@pytest.mark.usefixtures("identify_picked")
async def test_user_pick_of_a_station_configured_meanwhile_aborts(
    hass: HomeAssistant, mock_discover: AsyncMock
) -> None:
    """A station set up while the list was shown aborts, and its entry learns the address."""
    mock_discover.return_value = [_found("192.0.2.77", SERIAL, PRODUCT)]
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    entry = _entry()
    entry.add_to_hass(hass)

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STATION: SERIAL}
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == "192.0.2.77"


@pytest.mark.usefixtures("mock_setup_entry")
async def test_user_manual_choice(
    hass: HomeAssistant, mock_discover: AsyncMock, station: FakeStation
) -> None:
    """The manual choice asks for a host, checks it with report 1 and adds it."""
    mock_discover.return_value = [_found("192.0.2.21", "22222222")]
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_STATION: MANUAL_ENTRY}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "manual"
    assert result["errors"] is None

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_HOST: f"  {HOST} "}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == ENTRY_TITLE
    assert result["data"] == {CONF_HOST: HOST, CONF_PRODUCT: PRODUCT}
    assert result["result"].unique_id == SERIAL
    station.connect.assert_awaited_once_with(read_info=False)
    station.close.assert_awaited_once()
    assert EndpointPool.acquire.await_count == EndpointPool.release.await_count == 1  # type: ignore[attr-defined]


@pytest.mark.usefixtures("mock_setup_entry", "station")
async def test_user_nothing_found_asks_for_the_address(
    hass: HomeAssistant, mock_discover: AsyncMock
) -> None:
    """With no new station found, the address form comes at once (with its own note)."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "nothing_found"
    assert result["description_placeholders"] == {"port": "7090"}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_HOST: HOST})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == SERIAL


@pytest.mark.usefixtures("mock_setup_entry", "station")
@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (KebaPortInUseError("", 7090), "port_in_use"),
        (KebaConnectionError("cannot bind"), "cannot_connect"),
        (RuntimeError("boom"), "unknown"),
    ],
)
async def test_user_search_errors_recover_with_the_address(
    hass: HomeAssistant, mock_discover: AsyncMock, error: Exception, reason: str
) -> None:
    """A failed search shows the error on the address form, which still adds the station."""
    mock_discover.side_effect = error
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "manual"
    assert result["errors"] == {"base": reason}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_HOST: HOST})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == ENTRY_TITLE


# ------------------------------------------------------------------------------ user: manual
@pytest.mark.usefixtures("mock_setup_entry", "mock_discover")
@pytest.mark.parametrize(
    ("break_it", "error"),
    [
        ("port", "port_in_use"),
        ("silent", "cannot_connect"),
        ("no_serial", "cannot_connect"),
        ("crash", "unknown"),
    ],
)
async def test_manual_errors_recover(
    hass: HomeAssistant, station: FakeStation, break_it: str, error: str
) -> None:
    """Every station check error is shown, and the next attempt adds the station."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    acquire: AsyncMock = EndpointPool.acquire  # type: ignore[assignment]
    reports = station.reports
    if break_it == "port":
        acquire.side_effect = KebaPortInUseError("", 7090)
    station.fail_polls = break_it == "silent"
    if break_it == "no_serial":
        station.reports = {**reports, 1: {**reports[1], "Serial": ""}}
    with patch.object(
        station,
        "get_info",
        side_effect=RuntimeError("boom") if break_it == "crash" else station.get_info,
    ):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: HOST}
        )

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "nothing_found"
    assert result["errors"] == {"base": error}
    # Whatever went wrong, the shared socket was given back.
    assert EndpointPool.release.await_count == (0 if break_it == "port" else 1)  # type: ignore[attr-defined]

    acquire.side_effect = None
    station.fail_polls = False
    station.reports = reports
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_HOST: HOST})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["result"].unique_id == SERIAL


@pytest.mark.usefixtures("mock_setup_entry", "mock_discover", "station")
@pytest.mark.parametrize(
    "host", ["", "   ", "224.0.0.1", "255.255.255.255", "0.0.0.0", "fe80::1", "a b", "h:7090"]
)
async def test_manual_rejects_addresses_that_cannot_be_a_station(
    hass: HomeAssistant, host: str
) -> None:
    """Broadcast, multicast, IPv6 and malformed hosts are refused before anything is sent."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_HOST: host})

    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_HOST: "invalid_host"}
    assert integration.KebaStation.call_count == 0  # type: ignore[attr-defined]

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_HOST: HOST})
    assert result["type"] is FlowResultType.CREATE_ENTRY


def test_host_names_are_accepted() -> None:
    """Host names and unicast IPv4 addresses pass; resolving them is the station check's job."""
    assert is_valid_host("keba.local")
    assert is_valid_host("wallbox")
    assert is_valid_host("192.168.1.50")


@pytest.mark.usefixtures("mock_discover", "station")
async def test_manual_known_station_updates_its_address(hass: HomeAssistant) -> None:
    """Entering the new address of a configured station moves its entry there."""
    entry = _entry(host="192.0.2.99")
    entry.add_to_hass(hass)

    result = await _async_start_adding_a_station(hass)
    result = await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_HOST: HOST})

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data == {CONF_HOST: HOST, CONF_PRODUCT: PRODUCT}


@pytest.mark.usefixtures("mock_discover", "station")
async def test_manual_known_station_at_the_same_address(hass: HomeAssistant) -> None:
    """Entering a configured station's address aborts and leaves its entry alone."""
    entry = _entry()
    entry.add_to_hass(hass)
    entry.mock_state(hass, ConfigEntryState.SETUP_RETRY)

    result = await _async_start_adding_a_station(hass)
    with patch.object(hass.config_entries, "async_schedule_reload") as schedule_reload:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: HOST}
        )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    schedule_reload.assert_not_called()


# ------------------------------------------------------------------- integration discovery
def _discovery_data(host: str = HOST, serial: str = SERIAL) -> dict[str, Any]:
    return {
        CONF_HOST: host,
        CONF_SERIAL: serial,
        CONF_PRODUCT: PRODUCT,
        CONF_MODEL: "KeContact P30 x-series",
    }


@pytest.mark.usefixtures("mock_setup_entry", "station")
async def test_integration_discovery_of_a_new_station(hass: HomeAssistant) -> None:
    """A new station is confirmed by the user, checked again and added."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_INTEGRATION_DISCOVERY}, data=_discovery_data()
    )

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    assert result["description_placeholders"] == {
        "model": "KeContact P30 x-series",
        "serial": SERIAL,
        "host": HOST,
    }
    flows = hass.config_entries.flow.async_progress()
    assert flows[0]["context"]["title_placeholders"] == {"name": TITLE}

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == ENTRY_TITLE
    assert result["data"] == {CONF_HOST: HOST, CONF_PRODUCT: PRODUCT}
    assert result["result"].unique_id == SERIAL


async def test_integration_discovery_twice_is_one_flow(hass: HomeAssistant) -> None:
    """While a station waits for confirmation, finding it again starts no second flow."""
    await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_INTEGRATION_DISCOVERY}, data=_discovery_data()
    )
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_INTEGRATION_DISCOVERY},
        data=_discovery_data(host="192.0.2.11"),
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_in_progress"


@pytest.mark.parametrize(
    ("stored", "found", "expected"),
    [
        ("192.0.2.99", HOST, HOST),  # the station moved: follow it
        ("wallbox.example", HOST, "wallbox.example"),  # the user's host name still leads there
        (HOST, HOST, HOST),
    ],
)
async def test_integration_discovery_of_a_known_station(
    hass: HomeAssistant, stored: str, found: str, expected: str
) -> None:
    """A known station aborts; an entry that used an IP address follows the station."""
    entry = _entry(host=stored)
    entry.add_to_hass(hass)

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_INTEGRATION_DISCOVERY}, data=_discovery_data(found)
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == expected


async def test_integration_discovery_of_an_ignored_station(hass: HomeAssistant) -> None:
    """An ignored station stays ignored."""
    ignored = MockConfigEntry(domain=DOMAIN, unique_id=SERIAL, source=SOURCE_IGNORE, data={})
    ignored.add_to_hass(hass)

    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_INTEGRATION_DISCOVERY}, data=_discovery_data()
    )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert ignored.data == {}


@pytest.mark.parametrize(
    ("state", "listener", "stored", "reloads"),
    [
        # The entry's update listener reloads it when its data changes: no second reload.
        (ConfigEntryState.LOADED, True, "192.0.2.99", 0),
        (ConfigEntryState.LOADED, False, "192.0.2.99", 1),
        (ConfigEntryState.LOADED, True, HOST, 0),
        # An entry that waits for its station is retried now that the station answered.
        (ConfigEntryState.SETUP_RETRY, False, "192.0.2.99", 1),
        (ConfigEntryState.SETUP_RETRY, False, HOST, 1),
        (ConfigEntryState.NOT_LOADED, False, "192.0.2.99", 0),
    ],
)
async def test_discovery_reloads_the_entry_only_when_needed(
    hass: HomeAssistant,
    state: ConfigEntryState,
    listener: bool,
    stored: str,
    reloads: int,
) -> None:
    """A moved or waiting station's entry is reloaded exactly once."""
    entry = _entry(host=stored)
    entry.add_to_hass(hass)
    entry.mock_state(hass, state)
    if listener:
        entry.add_update_listener(AsyncMock())

    with patch.object(hass.config_entries, "async_schedule_reload") as schedule_reload:
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_INTEGRATION_DISCOVERY}, data=_discovery_data()
        )

    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == HOST
    assert schedule_reload.call_count == reloads


# --------------------------------------------------------------------------------------- DHCP
def _dhcp(ip: str = HOST) -> DhcpServiceInfo:
    return DhcpServiceInfo(ip=ip, hostname="keba", macaddress="0060b5123456")


@pytest.mark.usefixtures("mock_setup_entry", "station")
async def test_dhcp_new_station(hass: HomeAssistant) -> None:
    """A device with KEBA's MAC prefix is identified with report 1 and confirmed."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_DHCP}, data=_dhcp()
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "discovery_confirm"
    assert result["description_placeholders"]["serial"] == SERIAL

    result = await hass.config_entries.flow.async_configure(result["flow_id"], {})
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == ENTRY_TITLE
    assert result["data"] == {CONF_HOST: HOST, CONF_PRODUCT: PRODUCT}


async def test_dhcp_known_address_does_not_bother_the_station(
    hass: HomeAssistant, station: FakeStation
) -> None:
    """An address an entry already uses aborts before anything is sent."""
    _entry().add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_DHCP}, data=_dhcp()
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    station.connect.assert_not_awaited()


@pytest.mark.usefixtures("station")
async def test_dhcp_known_station_at_a_new_address(hass: HomeAssistant) -> None:
    """The station got a new address from DHCP: its entry follows."""
    entry = _entry(host="192.0.2.99")
    entry.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_DHCP}, data=_dhcp()
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert entry.data[CONF_HOST] == HOST


@pytest.mark.parametrize(
    ("break_it", "reason"), [("silent", "cannot_connect"), ("port", "port_in_use")]
)
async def test_dhcp_unreachable(
    hass: HomeAssistant, station: FakeStation, break_it: str, reason: str
) -> None:
    """A device that does not answer report 1 (or a busy port) aborts the flow."""
    station.fail_polls = break_it == "silent"
    pool_acquire = "custom_components.keba.kecontact.transport.EndpointPool.acquire"
    with patch(
        pool_acquire,
        side_effect=KebaPortInUseError("", 7090) if break_it == "port" else None,
        return_value=MagicMock(),
    ):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_DHCP}, data=_dhcp()
        )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == reason


# -------------------------------------------------------------------------------- reconfigure
async def _start_reconfigure(hass: HomeAssistant, entry: MockConfigEntry) -> dict[str, Any]:
    result = await entry.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "reconfigure"
    return dict(result)


@pytest.mark.usefixtures("station")
async def test_reconfigure_moves_the_entry(hass: HomeAssistant) -> None:
    """The station at the new address has the entry's serial: the entry moves."""
    entry = _entry(host="192.0.2.99")
    entry.add_to_hass(hass)
    entry.mock_state(hass, ConfigEntryState.SETUP_RETRY)
    result = await _start_reconfigure(hass, entry)
    assert result["description_placeholders"] == {
        "expected": SERIAL,
        "serial": "",
        "host": "192.0.2.99",
    }

    with patch.object(hass.config_entries, "async_schedule_reload") as schedule_reload:
        result = dict(
            await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_HOST: HOST})
        )

    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data == {CONF_HOST: HOST, CONF_PRODUCT: PRODUCT}
    schedule_reload.assert_called_once_with(entry.entry_id)


@pytest.mark.usefixtures("station")
async def test_reconfigure_same_address_says_so(hass: HomeAssistant) -> None:
    """Confirming the address the entry has already does not claim it was changed."""
    entry = _entry(host=HOST)
    entry.add_to_hass(hass)
    result = await _start_reconfigure(hass, entry)
    result = dict(
        await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_HOST: HOST})
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_unchanged"
    assert entry.data[CONF_HOST] == HOST


async def test_reconfigure_errors_recover(hass: HomeAssistant, station: FakeStation) -> None:
    """Bad address, silent station and another station are refused; then it works."""
    entry = _entry(serial="11111111", host="192.0.2.99")
    entry.add_to_hass(hass)
    result = await _start_reconfigure(hass, entry)

    result = dict(
        await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: "255.255.255.255"}
        )
    )
    assert result["errors"] == {CONF_HOST: "invalid_host"}

    station.fail_polls = True
    result = dict(
        await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_HOST: HOST})
    )
    assert result["errors"] == {"base": "cannot_connect"}

    station.fail_polls = False
    result = dict(
        await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_HOST: HOST})
    )
    assert result["errors"] == {"base": "wrong_station"}
    assert result["description_placeholders"] == {
        "expected": "11111111",
        "serial": SERIAL,
        "host": "192.0.2.99",
    }
    assert entry.data[CONF_HOST] == "192.0.2.99"

    station.set_report(1, Serial="11111111")
    result = dict(
        await hass.config_entries.flow.async_configure(result["flow_id"], {CONF_HOST: HOST})
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "reconfigure_successful"
    assert entry.data[CONF_HOST] == HOST


# ------------------------------------------------------------------------------------- import
@pytest.mark.usefixtures("mock_setup_entry", "station")
@pytest.mark.parametrize(
    ("yaml", "options"),
    [
        ({}, {}),
        (
            {
                "rfid": "00845500",
                "failsafe": True,
                "fs_timeout": 30,
                "fs_fallback": 6,
                "fs_persist": True,
                "refresh_interval": 10,
            },
            {
                CONF_RFID_TAG: "00845500",
                CONF_FAILSAFE_TIMEOUT: 30,
                CONF_FAILSAFE_CURRENT: 6,
                CONF_FAILSAFE_PERSIST: True,
                CONF_CHARGING_INTERVAL: 10,
            },
        ),
        # The old defaults, values clamped into what the station accepts.
        (
            {"failsafe": True, "refresh_interval": 2},
            {
                CONF_FAILSAFE_TIMEOUT: 30,
                CONF_FAILSAFE_CURRENT: 6,
                CONF_FAILSAFE_PERSIST: False,
                CONF_CHARGING_INTERVAL: 5,
            },
        ),
        (
            {"failsafe": True, "fs_timeout": 5, "fs_fallback": 0, "refresh_interval": 9999},
            {
                CONF_FAILSAFE_TIMEOUT: 10,
                CONF_FAILSAFE_CURRENT: 0,
                CONF_FAILSAFE_PERSIST: False,
                CONF_CHARGING_INTERVAL: 3600,
            },
        ),
        (
            {"failsafe": True, "fs_timeout": 900, "fs_fallback": 80},
            {CONF_FAILSAFE_TIMEOUT: 600, CONF_FAILSAFE_CURRENT: 63, CONF_FAILSAFE_PERSIST: False},
        ),
        # failsafe off (or a timeout of 0): nothing of it is imported.
        ({"failsafe": False, "fs_timeout": 30, "fs_fallback": 6}, {}),
        ({"failsafe": True, "fs_timeout": 0}, {}),
        ({"rfid": "  ABCDEF01 "}, {CONF_RFID_TAG: "abcdef01"}),
    ],
)
async def test_import(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    yaml: dict[str, Any],
    options: dict[str, Any],
) -> None:
    """The old YAML becomes an entry with options, and the user is told to remove it."""
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_IMPORT}, data={CONF_HOST: HOST, **yaml}
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == ENTRY_TITLE
    assert result["data"] == {CONF_HOST: HOST, CONF_PRODUCT: PRODUCT}
    assert result["options"] == options
    assert result["result"].unique_id == SERIAL
    issue = issue_registry.async_get_issue(DOMAIN, ISSUE_YAML_DEPRECATED)
    assert issue is not None
    assert issue.severity is ir.IssueSeverity.WARNING
    assert issue.translation_key == ISSUE_YAML_DEPRECATED
    assert issue.breaks_in_ha_version is None
    assert not issue.is_fixable


@pytest.mark.usefixtures("mock_setup_entry", "station")
async def test_import_skips_an_rfid_tag_the_station_would_refuse(
    hass: HomeAssistant, caplog: pytest.LogCaptureFixture
) -> None:
    """An RFID tag that is not hexadecimal is not imported, with a warning."""
    with caplog.at_level(logging.WARNING):
        result = await hass.config_entries.flow.async_init(
            DOMAIN, context={"source": SOURCE_IMPORT}, data={CONF_HOST: HOST, "rfid": "card-7"}
        )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"] == {}
    assert "Not importing the RFID tag 'card-7'" in caplog.text


@pytest.mark.parametrize(
    "existing",
    [
        _entry(source=SOURCE_IMPORT, host="192.0.2.50"),  # imported before
        _entry(serial="11111111"),  # an entry at the YAML's address
        _entry(host="192.0.2.99"),  # the YAML's station, set up at another address
    ],
)
async def test_import_again_aborts_but_asks_to_remove_the_yaml(
    hass: HomeAssistant,
    issue_registry: ir.IssueRegistry,
    station: FakeStation,
    existing: MockConfigEntry,
) -> None:
    """Every start with the YAML still there aborts the import and keeps the repair issue."""
    existing.add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_IMPORT}, data={CONF_HOST: HOST}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "already_configured"
    assert issue_registry.async_get_issue(DOMAIN, ISSUE_YAML_DEPRECATED) is not None
    assert existing.data[CONF_HOST] != HOST or existing.unique_id == "11111111"
    assert len(hass.config_entries.async_entries(DOMAIN)) == 1


@pytest.mark.usefixtures("mock_setup_entry")
async def test_import_of_an_unreachable_station(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry, station: FakeStation
) -> None:
    """A station that does not answer aborts with an issue; a later start imports it."""
    station.fail_polls = True
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_IMPORT}, data={CONF_HOST: HOST}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "cannot_connect"
    issue = issue_registry.async_get_issue(DOMAIN, ISSUE_YAML_IMPORT_CANNOT_CONNECT)
    assert issue is not None
    assert issue.translation_placeholders == {"host": HOST, "port": "7090"}
    assert issue_registry.async_get_issue(DOMAIN, ISSUE_YAML_DEPRECATED) is None

    station.fail_polls = False
    result = await hass.config_entries.flow.async_init(
        DOMAIN, context={"source": SOURCE_IMPORT}, data={CONF_HOST: HOST}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert issue_registry.async_get_issue(DOMAIN, ISSUE_YAML_IMPORT_CANNOT_CONNECT) is None
    assert issue_registry.async_get_issue(DOMAIN, ISSUE_YAML_DEPRECATED) is not None


@pytest.mark.usefixtures("mock_setup_entry", "station")
async def test_import_from_configuration_yaml(
    hass: HomeAssistant, issue_registry: ir.IssueRegistry
) -> None:
    """``keba: host: …`` in configuration.yaml starts the import at setup."""
    assert await async_setup_component(
        hass, DOMAIN, {DOMAIN: {CONF_HOST: HOST, "rfid": "00845500", "refresh_interval": 15}}
    )
    await hass.async_block_till_done()

    entries = hass.config_entries.async_entries(DOMAIN)
    assert len(entries) == 1
    assert entries[0].source == SOURCE_IMPORT
    assert entries[0].options == {CONF_RFID_TAG: "00845500", CONF_CHARGING_INTERVAL: 15}
    assert issue_registry.async_get_issue(DOMAIN, ISSUE_YAML_DEPRECATED) is not None


# ------------------------------------------------------------------------------------ options
@pytest.mark.usefixtures("mock_setup_entry")
async def test_options_defaults_and_save(hass: HomeAssistant) -> None:
    """The form shows the defaults; saving stores flat options."""
    entry = _entry()
    entry.add_to_hass(hass)

    result = await _open_station_options(hass, entry)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "station"
    schema = result["data_schema"]({"polling": {}, "rfid": {}, "failsafe": {}})
    assert schema == {
        "polling": {CONF_CHARGING_INTERVAL: 5, CONF_IDLE_INTERVAL: 30},
        "rfid": {},
        "failsafe": {
            CONF_FAILSAFE_TIMEOUT: 0,
            CONF_FAILSAFE_CURRENT: 0,
            CONF_FAILSAFE_PERSIST: False,
        },
    }

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            "polling": {CONF_CHARGING_INTERVAL: 10, CONF_IDLE_INTERVAL: 60},
            "rfid": {CONF_RFID_TAG: " 04A2B3C4D5E6F7A8 ", CONF_RFID_CLASS: "01010400000000000000"},
            "failsafe": {
                CONF_FAILSAFE_TIMEOUT: 60,
                CONF_FAILSAFE_CURRENT: 8,
                CONF_FAILSAFE_PERSIST: True,
            },
        },
    )

    assert result["type"] is FlowResultType.CREATE_ENTRY
    expected = {
        CONF_CHARGING_INTERVAL: 10,
        CONF_IDLE_INTERVAL: 60,
        CONF_RFID_TAG: "04a2b3c4d5e6f7a8",
        CONF_RFID_CLASS: "01010400000000000000",
        CONF_FAILSAFE_TIMEOUT: 60,
        CONF_FAILSAFE_CURRENT: 8,
        CONF_FAILSAFE_PERSIST: True,
    }
    assert entry.options == expected

    # Opened again, the form suggests what is stored.
    result = await _open_station_options(hass, entry)
    suggested = {
        key.schema: key.description["suggested_value"]
        for section_schema in result["data_schema"].schema.values()
        for key in section_schema.schema.schema
        if key.description
    }
    assert suggested == expected


def _sections() -> dict[str, dict[str, Any]]:
    """The options form as the frontend sends it, with the defaults."""
    return {
        "polling": {CONF_CHARGING_INTERVAL: 5, CONF_IDLE_INTERVAL: 30},
        "rfid": {},
        "failsafe": {
            CONF_FAILSAFE_TIMEOUT: 0,
            CONF_FAILSAFE_CURRENT: 0,
            CONF_FAILSAFE_PERSIST: False,
        },
    }


def _collapsed(result: Any) -> dict[str, bool]:
    """Which sections of the station options form are shown collapsed."""
    return {
        str(key.schema): bool(value.options["collapsed"])
        for key, value in result["data_schema"].schema.items()
    }


@pytest.mark.parametrize(
    ("section", "values", "error"),
    [
        ("rfid", {CONF_RFID_TAG: "xyz"}, "invalid_rfid_tag"),
        ("rfid", {CONF_RFID_TAG: "0" * 17}, "invalid_rfid_tag"),
        ("rfid", {CONF_RFID_TAG: "ab", CONF_RFID_CLASS: "0" * 21}, "invalid_rfid_class"),
        ("rfid", {CONF_RFID_CLASS: "01"}, "rfid_class_without_tag"),
        ("failsafe", {CONF_FAILSAFE_TIMEOUT: 5}, "invalid_failsafe_timeout"),
        ("failsafe", {CONF_FAILSAFE_TIMEOUT: 30.5}, "invalid_failsafe_timeout"),
        (
            "failsafe",
            {CONF_FAILSAFE_TIMEOUT: 30, CONF_FAILSAFE_CURRENT: 3},
            "invalid_failsafe_current",
        ),
        (
            "failsafe",
            {CONF_FAILSAFE_TIMEOUT: 30, CONF_FAILSAFE_CURRENT: 6.5},
            "invalid_failsafe_current",
        ),
    ],
)
@pytest.mark.usefixtures("mock_setup_entry")
async def test_options_errors_recover(
    hass: HomeAssistant, section: str, values: dict[str, Any], error: str
) -> None:
    """Invalid values get a translated error on their section; fixed, the options save."""
    entry = _entry()
    entry.add_to_hass(hass)
    result = await _open_station_options(hass, entry)

    assert _collapsed(result) == {"polling": False, "rfid": True, "failsafe": True}

    result = await hass.config_entries.options.async_configure(
        result["flow_id"], {**_sections(), section: values}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {section: error}
    # The section with the error is open when the form comes back; the others as before.
    collapsed = {"polling": False, "rfid": True, "failsafe": True, section: False}
    assert _collapsed(result) == collapsed

    result = await hass.config_entries.options.async_configure(result["flow_id"], _sections())
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert entry.options == {
        CONF_CHARGING_INTERVAL: 5,
        CONF_IDLE_INTERVAL: 30,
        CONF_FAILSAFE_TIMEOUT: 0,
        CONF_FAILSAFE_CURRENT: 0,
        CONF_FAILSAFE_PERSIST: False,
    }


@pytest.mark.usefixtures("mock_setup_entry")
async def test_options_polling_never_below_five_seconds(hass: HomeAssistant) -> None:
    """KEBA's t_COM_pause: an interval under 5 s is refused by the form itself."""
    entry = _entry()
    entry.add_to_hass(hass)
    result = await _open_station_options(hass, entry)
    with pytest.raises(InvalidData) as err:
        await hass.config_entries.options.async_configure(
            result["flow_id"],
            {**_sections(), "polling": {CONF_CHARGING_INTERVAL: 2, CONF_IDLE_INTERVAL: 30}},
        )
    assert "polling.charging_interval" in str(err.value)


# ------------------------------------------------------------------- real stations, real UDP
async def test_user_flow_end_to_end(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """The search finds the simulated stations over loopback; the pick becomes a loaded entry.

    The entry's setup reads report 1 again right after the search did: the shared socket
    remembers that, so the station is not asked twice within KEBA's 5 s (t_COM_pause).
    """
    sim = await start_simulator(count=2, variant="p30-x", scenario="charging")
    no_timing_violations.append(sim)
    assert await async_setup_component(hass, DOMAIN, keba_yaml)

    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})

    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "user"
    options = result["data_schema"].schema[CONF_STATION].config["options"]
    assert [option["value"] for option in options] == [
        sim.stations[0].serial,
        sim.stations[1].serial,
        MANUAL_ENTRY,
    ]
    assert options[1]["label"] == (
        f"KeContact P30 x-series · {sim.stations[1].serial} · {loopback.station_ip(1)}"
    )

    with patch.object(integration, "PLATFORMS", []):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_STATION: sim.stations[1].serial}
        )
        await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == ENTRY_TITLE
    entry = result["result"]
    assert entry.unique_id == sim.stations[1].serial
    assert entry.data[CONF_HOST] == loopback.station_ip(1)
    assert entry.state is ConfigEntryState.LOADED
    assert entry.runtime_data.station.serial == sim.stations[1].serial

    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


async def test_manual_flow_end_to_end(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """An address outside the search's list is checked with report 1 over real UDP."""
    sim = await start_simulator(count=1, variant="p30-c")
    no_timing_violations.append(sim)
    keba_yaml[DOMAIN]["discovery_addresses"] = [loopback.station_ip(5)]
    assert await async_setup_component(hass, DOMAIN, keba_yaml)

    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["step_id"] == "nothing_found"

    # Nothing answers at .5: after its timeout, the check says so.
    with patch("custom_components.keba.config_flow.IDENTIFY_TIMEOUT", 0.5):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: loopback.station_ip(3)}
        )
    assert result["errors"] == {"base": "cannot_connect"}

    with patch.object(integration, "PLATFORMS", []):
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {CONF_HOST: loopback.station_ip(0)}
        )
        await hass.async_block_till_done()

    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == ENTRY_TITLE
    entry = result["result"]
    assert entry.state is ConfigEntryState.LOADED
    assert await hass.config_entries.async_unload(entry.entry_id)
    await hass.async_block_till_done()


def test_translations_cover_the_flows() -> None:
    """Every step, error and abort reason the flows use has English and German text."""
    folder = Path(integration.__file__).parent / "translations"
    for language in ("en", "de"):
        strings = json.loads((folder / f"{language}.json").read_text(encoding="utf-8"))
        config = strings["config"]
        for step in ("user", "manual", "nothing_found", "discovery_confirm", "reconfigure"):
            assert config["step"][step]["title"], (language, step)
        for step in ("manual", "nothing_found", "reconfigure"):
            assert config["step"][step]["data"]["host"], (language, step)
            assert config["step"][step]["data_description"]["host"], (language, step)
        for error in (
            "cannot_connect",
            "port_in_use",
            "invalid_host",
            "wrong_station",
            "unknown",
            "udp_control_disabled",
        ):
            assert config["error"][error], (language, error)
        assert "DSW1.3" in config["error"]["udp_control_disabled"], language
        assert "DSW1.3" in config["abort"]["udp_control_disabled"], language
        assert "DSW1.3" in strings["exceptions"]["udp_control_disabled"]["message"], language
        assert "{host}" in strings["exceptions"]["udp_control_disabled"]["message"], language
        assert strings["exceptions"]["energy_rounds_to_zero"]["message"], language
        for reason in (
            "already_configured",
            "already_in_progress",
            "cannot_connect",
            "port_in_use",
            "unknown",
            "reconfigure_successful",
        ):
            assert config["abort"][reason], (language, reason)
        assert "{serial}" in config["error"]["wrong_station"]
        assert "{expected}" in config["error"]["wrong_station"]
        for cause in ("DSW1.3", "7090"):
            assert cause in config["error"]["cannot_connect"], (language, cause)
        assert strings["selector"]["station"]["options"][MANUAL_ENTRY]
        menu = set(strings["options"]["step"]["init"]["menu_options"])
        assert menu == {"station", "solar", "sessions", "phases"}
        for key in ("phase_switching", "phase_switch_dwell", "phase_switch_max"):
            assert strings["options"]["step"]["phases"]["data"][key], (language, key)
        solar = strings["options"]["step"]["solar"]
        for key in SOLAR_SCHEMA.schema:
            assert solar["data"][str(key)], (language, key)
            assert solar["data_description"][str(key)], (language, key)
        sections = strings["options"]["step"]["station"]["sections"]
        for name, keys in (
            ("polling", (CONF_CHARGING_INTERVAL, CONF_IDLE_INTERVAL)),
            ("rfid", (CONF_RFID_TAG, CONF_RFID_CLASS)),
            ("failsafe", (CONF_FAILSAFE_TIMEOUT, CONF_FAILSAFE_CURRENT, CONF_FAILSAFE_PERSIST)),
        ):
            assert sections[name]["name"], (language, name)
            for key in keys:
                assert sections[name]["data"][key], (language, key)
                assert sections[name]["data_description"][key], (language, key)
        for error in (
            "invalid_rfid_tag",
            "invalid_rfid_class",
            "rfid_class_without_tag",
            "invalid_failsafe_timeout",
            "invalid_failsafe_current",
        ):
            assert strings["options"]["error"][error], (language, error)
        for issue in (
            ISSUE_YAML_DEPRECATED,
            ISSUE_YAML_IMPORT_CANNOT_CONNECT,
            "udp_control_off",
            "reapply_failed",
        ):
            assert strings["issues"][issue]["title"], (language, issue)
            assert strings["issues"][issue]["description"], (language, issue)


async def _open_station_options(hass: HomeAssistant, entry: MockConfigEntry) -> Any:
    """Open the options and pick the station settings from the menu."""
    result = await hass.config_entries.options.async_init(entry.entry_id)
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["station", "solar", "sessions"]
    return await hass.config_entries.options.async_configure(
        result["flow_id"], {"next_step_id": "station"}
    )
