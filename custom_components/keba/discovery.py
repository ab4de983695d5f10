"""Finding KEBA stations: the search of the config flow and the periodic one in the background.

A search follows KEBA's recommended buildup (UDP guide §2.3): ``i`` to the network's broadcast
addresses (or to the addresses configured in YAML), then ``report 1`` to each station that
answered. It runs on the shared socket on UDP port 7090, which the stations answer to.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import datetime, timedelta
from ipaddress import IPv4Address
from typing import Any

from homeassistant.components import network
from homeassistant.config_entries import (
    SOURCE_IGNORE,
    SOURCE_INTEGRATION_DISCOVERY,
    ConfigEntryState,
)
from homeassistant.const import CONF_HOST, CONF_MODEL, EVENT_HOMEASSISTANT_STOP
from homeassistant.core import CALLBACK_TYPE, Event, HomeAssistant, callback
from homeassistant.helpers import discovery_flow
from homeassistant.helpers.event import async_track_time_interval
from homeassistant.helpers.start import async_at_started

from .const import CONF_PRODUCT, CONF_SERIAL, DOMAIN, LOGGER
from .domain_data import DATA_KEBA, KebaDomainData
from .kecontact import (
    STATION_PORT,
    Capabilities,
    DiscoveredStation,
    KebaError,
    KebaPortInUseError,
    discover,
)

#: Search rounds at most (about 1 s, 6 s, 11 s): with 30 % of datagrams lost each way, three
#: rounds of two requests miss a station about once in 50 searches.
SEARCH_ROUNDS = 3

#: The limited broadcast address: sent only through the interface of the default route.
_LIMITED_BROADCAST = IPv4Address("255.255.255.255")


@callback
def async_get_domain_data(hass: HomeAssistant) -> KebaDomainData:
    """Return the state the integration shares between its entries and flows.

    A config flow (a DHCP discovery, or the first station being added) can run before the
    integration is set up; it then works with the defaults, which are right, because the
    integration would have been set up already if configuration.yaml had a ``keba:`` section.
    """
    if (domain_data := hass.data.get(DATA_KEBA)) is None:
        domain_data = hass.data[DATA_KEBA] = KebaDomainData()
    return domain_data


async def async_discovery_targets(hass: HomeAssistant) -> list[str]:
    """Where to send ``i``: the addresses from YAML, else the broadcast address of each network.

    The broadcast address of every network adapter Home Assistant uses (Settings → Network)
    reaches the stations on that network; 255.255.255.255 would only repeat one of them, so it is
    used only when Home Assistant knows no other.
    """
    domain_data = async_get_domain_data(hass)
    if domain_data.discovery_addresses:
        return list(dict.fromkeys(domain_data.discovery_addresses))
    addresses = await network.async_get_ipv4_broadcast_addresses(hass)
    subnets = sorted(address for address in addresses if address != _LIMITED_BROADCAST)
    return [str(address) for address in subnets or [_LIMITED_BROADCAST]]


async def async_discover_stations(
    hass: HomeAssistant,
    *,
    enough: Callable[[list[DiscoveredStation]], bool] | None = None,
) -> list[DiscoveredStation]:
    """Search the network for stations: ``i`` and ``report 1`` to every target, in rounds.

    The first round takes about a second. Further rounds (5 s apart, KEBA's t_COM_pause) follow
    unless ``enough`` is satisfied or every station answered both requests, and always when a
    loaded station went unheard (signs of lost datagrams); a search that hears nothing at all
    takes about 11 s. Stations of loaded entries are not asked for their report 1 again. Raises
    :class:`KebaPortInUseError` when another program holds UDP port 7090, and
    :class:`KebaError` when the socket cannot be opened.
    """
    domain_data = async_get_domain_data(hass)
    targets = await async_discovery_targets(hass)
    loaded = _loaded_stations(hass)
    known = {
        ip: DiscoveredStation(
            host=ip,
            firmware=info.firmware,
            serial=info.serial,
            product=info.product,
            capabilities=Capabilities.from_product(info.product, com_module=info.com_module),
            info=info,
        )
        for ip, info in domain_data.recent_identities().items()
    } | loaded

    def satisfied(found: list[DiscoveredStation]) -> bool:
        hosts = {station.host for station in found}
        if any(host not in hosts for host in expected):
            return False  # a loaded station went unheard: datagrams get lost, ask again
        if enough is not None and enough(found):
            return True
        # Nothing new: stop when every station answered both requests (no sign of loss).
        return bool(found) and all(station.answered_all for station in found)

    endpoint = await domain_data.pool.acquire(domain_data.bind_address, STATION_PORT)
    for address in await _broadcast_addresses(hass):
        endpoint.declare_broadcast(address)
    # Loaded stations the search reaches: their silence is a sign of lost datagrams.
    if all(endpoint.is_station_address(target) for target in targets):
        expected = [host for host in loaded if host in targets]
    else:
        expected = list(loaded)
    try:
        found = await discover(
            endpoint, targets, rounds=SEARCH_ROUNDS, enough=satisfied, known=known
        )
    finally:
        await domain_data.pool.release(endpoint)
    for station in found:
        if station.info is not None and station.serial and station.host not in known:
            domain_data.remember_identity(station.host, station.info)
    return found


async def _broadcast_addresses(hass: HomeAssistant) -> list[str]:
    """The broadcast addresses of Home Assistant's networks (a search to them reaches all)."""
    addresses = await network.async_get_ipv4_broadcast_addresses(hass)
    return [str(address) for address in addresses]


@callback
def _loaded_stations(hass: HomeAssistant) -> dict[str, DiscoveredStation]:
    """Loaded entries' stations by IP address, as a search would find them."""
    known: dict[str, DiscoveredStation] = {}
    for entry in hass.config_entries.async_loaded_entries(DOMAIN):
        runtime = getattr(entry, "runtime_data", None)
        station = getattr(runtime, "station", None)
        info = getattr(getattr(station, "snapshot", None), "info", None)
        if station is None or station.ip is None or info is None or not info.serial:
            continue
        known[station.ip] = DiscoveredStation(
            host=station.ip,
            firmware=info.firmware,
            serial=info.serial,
            product=info.product,
            capabilities=station.capabilities,
            info=info,
        )
    return known


def discovery_info(station: DiscoveredStation) -> dict[str, Any]:
    """What an integration discovery flow receives about a station."""
    return {
        CONF_HOST: station.host,
        CONF_SERIAL: station.serial,
        CONF_PRODUCT: station.product,
        CONF_MODEL: station.capabilities.model_name if station.capabilities else None,
    }


@callback
def async_setup_discovery(hass: HomeAssistant) -> None:
    """Search for stations once Home Assistant has started, then periodically.

    Each station found starts an integration discovery flow: a new station is offered to the
    user, a known one that moved to a new IP address gets its entry updated.
    """
    BackgroundDiscovery(hass).async_start()


class BackgroundDiscovery:
    """The periodic search; it stops with Home Assistant and never raises."""

    def __init__(self, hass: HomeAssistant) -> None:
        """Prepare the search; :meth:`async_start` schedules it."""
        self.hass = hass
        self._unsubscribers: list[CALLBACK_TYPE] = []
        self._task: asyncio.Task[None] | None = None
        self._port_in_use_logged = False

    @callback
    def async_start(self) -> None:
        """Run the first search after Home Assistant has started; stop when it stops."""
        self._unsubscribers.append(async_at_started(self.hass, self._async_started))
        self.hass.bus.async_listen_once(EVENT_HOMEASSISTANT_STOP, self._async_stop)

    async def _async_started(self, _hass: HomeAssistant) -> None:
        interval = timedelta(seconds=async_get_domain_data(self.hass).discovery_interval_s)
        self._unsubscribers.append(
            async_track_time_interval(
                self.hass,
                self._async_interval_elapsed,
                interval,
                name="KEBA station discovery",
                cancel_on_shutdown=True,
            )
        )
        self._async_start_search()

    async def _async_interval_elapsed(self, _now: datetime) -> None:
        self._async_start_search()

    @callback
    def _async_start_search(self) -> None:
        if self._task is not None and not self._task.done():
            return  # the previous search is still waiting for answers
        self._task = self.hass.async_create_background_task(
            self.async_search(), "KEBA station discovery"
        )

    @callback
    def _async_stop(self, _event: Event) -> None:
        while self._unsubscribers:
            self._unsubscribers.pop()()
        if self._task is not None:
            self._task.cancel()
            self._task = None

    async def async_search(self) -> None:
        """Search once and start a discovery flow for each station that told its serial."""
        try:
            stations = await async_discover_stations(self.hass)
        except KebaPortInUseError as err:
            if not self._port_in_use_logged:
                self._port_in_use_logged = True
                LOGGER.warning(
                    "Cannot search for KEBA stations: %s. The stations answer only to this "
                    "port; stop the program that holds it",
                    err,
                )
            return
        except KebaError as err:
            LOGGER.debug("Searching for KEBA stations failed: %s", err)
            return
        except Exception:  # noqa: BLE001 - logged with its traceback
            LOGGER.exception("Unexpected error while searching for KEBA stations")
            return
        if self._port_in_use_logged:
            self._port_in_use_logged = False
            LOGGER.info("UDP port %s is free again; searching for KEBA stations", STATION_PORT)
        for station in stations:
            if station.serial and self._worth_a_flow(station.serial, station.host):
                discovery_flow.async_create_flow(
                    self.hass,
                    DOMAIN,
                    context={"source": SOURCE_INTEGRATION_DISCOVERY},
                    data=discovery_info(station),
                )

    def _worth_a_flow(self, serial: str, host: str) -> bool:
        """Skip stations whose entry knows this address already (or that the user ignores)."""
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, serial)
        if entry is None:
            return True
        if entry.source == SOURCE_IGNORE:
            return False
        # A flow updates the address, and retries the setup of an entry that waits for its
        # station, now that the station has answered.
        if entry.data.get(CONF_HOST) != host:
            return True
        # An entry whose station takes no UDP commands (DSW1.3 off) answers a search all the
        # same: retrying it at every search would reset Home Assistant's growing retry interval.
        return (
            entry.state is ConfigEntryState.SETUP_RETRY
            and entry.entry_id not in async_get_domain_data(self.hass).udp_control_off
        )
