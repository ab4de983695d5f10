"""The KEBA KeContact integration: P30 c-/x-series and P20 charging stations over UDP."""

from __future__ import annotations

from typing import Any, cast

import voluptuous as vol

from homeassistant.config_entries import SOURCE_IMPORT
from homeassistant.const import CONF_HOST, Platform
from homeassistant.core import HomeAssistant
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
    ISSUE_PORT_IN_USE,
    LOGGER,
)
from .coordinator import KebaConfigEntry, KebaCoordinator, KebaRuntimeData
from .discovery import async_get_domain_data, async_setup_discovery
from .domain_data import DATA_KEBA, is_site_entry
from .kecontact import STATION_PORT, KebaError, KebaPortInUseError, KebaStation
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

    station = KebaStation(endpoint, entry.data[CONF_HOST])
    try:
        await station.connect(read_info=False)
        coordinator = KebaCoordinator(hass, entry, station)
        ledger = LedgerManager(hass, entry, coordinator)
        # Before the first poll: its session reads at start-up feed the ledger.
        ledger.async_attach()
        try:
            await coordinator.async_config_entry_first_refresh()
        except BaseException:
            await coordinator.async_shutdown()
            raise
    except KebaError as err:
        await station.close()
        await domain_data.pool.release(endpoint)
        raise ConfigEntryNotReady(
            translation_domain=DOMAIN,
            translation_key="cannot_connect",
            translation_placeholders={"host": entry.data[CONF_HOST], "error": str(err)},
        ) from err
    except BaseException:
        await station.close()
        await domain_data.pool.release(endpoint)
        raise

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


async def async_remove_entry(hass: HomeAssistant, entry: KebaConfigEntry) -> None:
    """A deleted site hands its stations back; a deleted station leaves its site's list."""
    if is_site_entry(entry):
        if DATA_KEBA in hass.data and hass.data[DATA_KEBA].solar is not None:
            async_get_manager(hass).async_release(list(entry.options.get(CONF_SITE_STATIONS, [])))
        return
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
        await runtime.station.close()
        await hass.data[DATA_KEBA].pool.release(runtime.endpoint)
    return unloaded
