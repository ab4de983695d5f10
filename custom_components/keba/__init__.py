"""The KEBA KeContact integration: P30 c-/x-series and P20 charging stations over UDP."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import voluptuous as vol

from homeassistant.config_entries import SOURCE_IMPORT
from homeassistant.const import CONF_HOST, Platform
from homeassistant.core import HomeAssistant, callback
from homeassistant.exceptions import ConfigEntryNotReady
from homeassistant.helpers import config_validation as cv, issue_registry as ir
from homeassistant.helpers.typing import ConfigType

from .const import (
    CONF_BIND_ADDRESS,
    CONF_DISCOVERY_ADDRESSES,
    CONF_DISCOVERY_INTERVAL,
    CONF_FAILSAFE,
    CONF_FS_FALLBACK,
    CONF_FS_PERSIST,
    CONF_FS_TIMEOUT,
    CONF_REFRESH_INTERVAL,
    CONF_RFID,
    CONF_SITE_STATIONS,
    DOMAIN,
    IDENTIFY_TIMEOUT,
    ISSUE_PORT_IN_USE,
    ISSUE_REAPPLY_FAILED,
    ISSUE_UDP_CONTROL_OFF,
    LOGGER,
)
from .coordinator import KebaConfigEntry, KebaCoordinator, KebaRuntimeData
from .discovery import async_get_domain_data, async_setup_discovery
from .domain_data import DATA_KEBA, Handover, is_site_entry
from .kecontact import (
    STATION_PORT,
    KebaError,
    KebaPortInUseError,
    KebaStation,
    KebaTimeoutError,
    UdpControlDisabledError,
)
from .kecontact.probe import adopt_reports, probe_station
from .ledger_store import LedgerManager
from .services import async_setup_services
from .site_migration import async_migrate_station_entry
from .solar import SiteConfigEntry, SiteRuntimeData, SolarManager, async_get_manager

PLATFORMS: list[Platform] = [
    Platform.BINARY_SENSOR,
    Platform.BUTTON,
    Platform.CALENDAR,
    Platform.EVENT,
    Platform.NOTIFY,
    Platform.NUMBER,
    Platform.SELECT,
    Platform.SENSOR,
    Platform.SWITCH,
]

CONFIG_SCHEMA = vol.Schema(
    {
        DOMAIN: vol.Schema(
            {
                # Network settings of the integration (all optional).
                vol.Optional(CONF_BIND_ADDRESS): cv.string,
                vol.Optional(CONF_DISCOVERY_ADDRESSES): vol.All(cv.ensure_list, [cv.string]),
                vol.Optional(CONF_DISCOVERY_INTERVAL): cv.positive_time_period,
                # The old core integration's YAML, imported once into a config entry.
                vol.Optional(CONF_HOST): cv.string,
                vol.Optional(CONF_RFID): cv.string,
                vol.Optional(CONF_FAILSAFE): cv.boolean,
                vol.Optional(CONF_FS_TIMEOUT): cv.positive_int,
                vol.Optional(CONF_FS_FALLBACK): cv.positive_int,
                vol.Optional(CONF_FS_PERSIST): cv.boolean,
                vol.Optional(CONF_REFRESH_INTERVAL): cv.positive_int,
            }
        )
    },
    extra=vol.ALLOW_EXTRA,
)


async def async_setup(hass: HomeAssistant, config: ConfigType) -> bool:
    """Set up what all stations share: the socket pool, discovery and the actions."""
    conf: dict[str, Any] = config.get(DOMAIN, {})
    # A config flow may have run before (the first station being added): keep its socket pool,
    # which remembers what was just sent to the station (KEBA's t_COM_pause).
    domain_data = async_get_domain_data(hass)
    domain_data.bind_address = conf.get(CONF_BIND_ADDRESS, "")
    domain_data.discovery_addresses = list(conf.get(CONF_DISCOVERY_ADDRESSES, []))
    if CONF_DISCOVERY_INTERVAL in conf:
        domain_data.discovery_interval_s = conf[CONF_DISCOVERY_INTERVAL].total_seconds()
    domain_data.solar = SolarManager(hass)
    async_setup_services(hass)
    async_setup_discovery(hass)
    if CONF_HOST in conf:
        hass.async_create_task(
            hass.config_entries.flow.async_init(
                DOMAIN, context={"source": SOURCE_IMPORT}, data=dict(conf)
            )
        )
    return True


#: A charging site has a device with sensors only.
SITE_PLATFORMS: list[Platform] = [Platform.SENSOR]


async def async_migrate_entry(hass: HomeAssistant, entry: KebaConfigEntry) -> bool:
    """Move a station's solar settings (version 1.1) into a charging site entry."""
    return await async_migrate_station_entry(hass, entry)


async def async_setup_entry(hass: HomeAssistant, entry: KebaConfigEntry) -> bool:
    """Set up a station or a charging site."""
    if is_site_entry(entry):
        return await _async_setup_site(hass, cast(SiteConfigEntry, entry))
    return await _async_setup_station(hass, entry)


async def _async_setup_site(hass: HomeAssistant, entry: SiteConfigEntry) -> bool:
    """Start a charging site: follow its sensors, regulate its member stations."""
    site = async_get_manager(hass).async_add_site(entry)
    entry.runtime_data = SiteRuntimeData(site=site)
    entry.async_on_unload(lambda: async_get_manager(hass).async_remove_site(site))
    entry.async_on_unload(entry.add_update_listener(_async_reload_site))
    await hass.config_entries.async_forward_entry_setups(entry, SITE_PLATFORMS)
    return True


async def _async_reload_site(hass: HomeAssistant, entry: SiteConfigEntry) -> None:
    """New site settings or members: start the site again with them."""
    hass.config_entries.async_schedule_reload(entry.entry_id)


async def _async_setup_station(hass: HomeAssistant, entry: KebaConfigEntry) -> bool:
    """Connect to one station through the shared endpoint."""
    domain_data = hass.data[DATA_KEBA]
    try:
        endpoint = await domain_data.pool.acquire(domain_data.bind_address, STATION_PORT)
    except KebaPortInUseError as err:
        ir.async_create_issue(
            hass,
            DOMAIN,
            ISSUE_PORT_IN_USE,
            is_fixable=False,
            severity=ir.IssueSeverity.ERROR,
            translation_key=ISSUE_PORT_IN_USE,
            translation_placeholders={"port": str(err.port)},
        )
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="port_in_use",
            translation_placeholders={"port": str(err.port)},
        ) from err
    except KebaError as err:
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_bind",
            translation_placeholders={"error": str(err)},
        ) from err
    ir.async_delete_issue(hass, DOMAIN, ISSUE_PORT_IN_USE)

    host = entry.data[CONF_HOST]
    station = KebaStation(endpoint, host)
    try:
        await _async_reach_station(hass, entry, station)
        coordinator = KebaCoordinator(hass, entry, station)
        ledger = LedgerManager(hass, entry, coordinator)
        # Before the first poll: its session reads at start-up feed the ledger.
        ledger.async_attach()
        try:
            await coordinator.async_config_entry_first_refresh()
        except BaseException:
            await coordinator.async_shutdown()
            raise
    except UdpControlDisabledError as err:
        await station.close()
        await domain_data.pool.release(endpoint)
        _async_create_udp_control_issue(hass, entry)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="udp_control_disabled",
            translation_placeholders={"host": host},
        ) from err
    except KebaError as err:
        await station.close()
        await domain_data.pool.release(endpoint)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"host": host, "error": str(err)},
        ) from err
    except BaseException:
        await station.close()
        await domain_data.pool.release(endpoint)
        raise
    _async_delete_udp_control_issue(hass, entry)

    serial = station.serial
    if entry.unique_id and serial and serial != entry.unique_id:
        LOGGER.warning(
            "%s answers with serial %s, not %s; waiting for discovery to find the station",
            entry.data[CONF_HOST],
            serial,
            entry.unique_id,
        )
        await coordinator.async_shutdown()
        await station.close()
        await domain_data.pool.release(endpoint)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="wrong_station",
            translation_placeholders={
                "host": entry.data[CONF_HOST],
                "serial": serial,
                "expected": entry.unique_id,
            },
        )

    await ledger.async_load()
    entry.runtime_data = KebaRuntimeData(
        coordinator=coordinator, station=station, endpoint=endpoint, ledger=ledger
    )
    solar = async_get_manager(hass)
    solar_station = solar.async_register(entry, coordinator)
    entry.async_on_unload(lambda: solar.async_unregister(solar_station))
    await hass.config_entries.async_forward_entry_setups(entry, PLATFORMS)
    return True


async def _async_reach_station(
    hass: HomeAssistant, entry: KebaConfigEntry, station: KebaStation
) -> None:
    """Connect to the station, reusing what a config flow read moments ago, else probing it.

    A probe answers within about 3 s when nothing is there, so a retry of a silent station is
    short and Home Assistant's growing retry interval (5 s doubling up to 10 min) applies.
    """
    handover = hass.data[DATA_KEBA].take_handover(entry.data[CONF_HOST])
    if handover is not None:
        adopt_reports(station, handover.info, handover.status, handover.meter)
        await station.connect(read_info=False)
        return
    try:
        async with asyncio.timeout(IDENTIFY_TIMEOUT):
            await probe_station(station)
    except TimeoutError as err:
        raise KebaTimeoutError(f"{station.host} did not answer in {IDENTIFY_TIMEOUT} s") from err


def _udp_control_issue_id(entry: KebaConfigEntry) -> str:
    return f"{ISSUE_UDP_CONTROL_OFF}_{entry.entry_id}"


@callback
def _async_create_udp_control_issue(hass: HomeAssistant, entry: KebaConfigEntry) -> None:
    """Tell the owner that the station takes no UDP commands and what to do."""
    hass.data[DATA_KEBA].udp_control_off.add(entry.entry_id)
    LOGGER.warning(
        "%s answers report 1 but not report 2: UDP control is off. Set DIP switch DSW1.3 to ON "
        "and restart the station",
        entry.data[CONF_HOST],
    )
    ir.async_create_issue(
        hass,
        DOMAIN,
        _udp_control_issue_id(entry),
        is_fixable=False,
        severity=ir.IssueSeverity.ERROR,
        translation_key=ISSUE_UDP_CONTROL_OFF,
        translation_placeholders={"host": entry.data[CONF_HOST], "title": entry.title},
    )


@callback
def _async_delete_udp_control_issue(hass: HomeAssistant, entry: KebaConfigEntry) -> None:
    hass.data[DATA_KEBA].udp_control_off.discard(entry.entry_id)
    ir.async_delete_issue(hass, DOMAIN, _udp_control_issue_id(entry))


async def async_remove_entry(hass: HomeAssistant, entry: KebaConfigEntry) -> None:
    """Clean up after a deleted entry.

    A deleted site hands its stations back; a deleted station's repair issues go, and it
    leaves its site's list.
    """
    if is_site_entry(entry):
        if DATA_KEBA in hass.data and hass.data[DATA_KEBA].solar is not None:
            manager = async_get_manager(hass)
            manager.async_forget_site(entry.entry_id)
            manager.async_release(list(entry.options.get(CONF_SITE_STATIONS, [])))
        return
    _async_delete_udp_control_issue(hass, entry)
    ir.async_delete_issue(hass, DOMAIN, f"{ISSUE_REAPPLY_FAILED}_{entry.entry_id}")
    for site in hass.config_entries.async_entries(DOMAIN):
        members = list(site.options.get(CONF_SITE_STATIONS, []))
        if is_site_entry(site) and entry.unique_id in members:
            members.remove(entry.unique_id)
            hass.config_entries.async_update_entry(
                site, options={**site.options, CONF_SITE_STATIONS: members}
            )


async def async_unload_entry(hass: HomeAssistant, entry: KebaConfigEntry) -> bool:
    """Unload platforms, then free the station's link and, with the last entry, port 7090."""
    if is_site_entry(entry):
        return await hass.config_entries.async_unload_platforms(entry, SITE_PLATFORMS)
    unloaded = await hass.config_entries.async_unload_platforms(entry, PLATFORMS)
    if unloaded:
        runtime = entry.runtime_data
        await runtime.coordinator.async_shutdown()
        snapshot = runtime.station.snapshot
        if snapshot.info is not None and runtime.coordinator.last_update_success:
            # A reload, or the station added again right away, starts from these instead of
            # asking the station again within KEBA's 5 s.
            hass.data[DATA_KEBA].handovers[entry.data[CONF_HOST]] = Handover(
                info=snapshot.info, status=snapshot.status, meter=snapshot.meter, unloaded=True
            )
        await runtime.station.close()
        await hass.data[DATA_KEBA].pool.release(runtime.endpoint)
    return unloaded
