"""Upgrade of station entries from 1.1: their solar settings become charging site entries.

Before charging sites existed, each station's options named the grid power sensor and the
other site settings; stations naming the same sensor formed a site, and the first one's
settings silently won. On upgrade, the stations of each grid sensor become one site entry
(created through the config flow's import step, like any other entry) listing them in priority
order, with the settings of the first; a station whose own settings differed gets a repair issue
naming the settings the site kept. The station keeps its vehicle's settings (minimum and
maximum current, phases).
"""

from __future__ import annotations

import asyncio
from typing import Any

from homeassistant.config_entries import SOURCE_IMPORT, ConfigEntry
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import issue_registry as ir
from homeassistant.util.hass_dict import HassKey

from .const import (
    CONF_ALLOWED_IMPORT,
    CONF_BATTERY_CHARGE_POSITIVE,
    CONF_BATTERY_MIN_SOC,
    CONF_BATTERY_POWER_SENSOR,
    CONF_BATTERY_PRIORITY_SOC,
    CONF_BATTERY_SOC_SENSOR,
    CONF_CONTROL_INTERVAL,
    CONF_GRID_IMPORT_POSITIVE,
    CONF_GRID_SENSOR,
    CONF_PRIORITY,
    CONF_SHARE_EQUALLY,
    CONF_SITE_STATIONS,
    CONF_START_DELAY,
    CONF_STOP_DELAY,
    DEFAULT_ALLOWED_IMPORT,
    DEFAULT_BATTERY_MIN_SOC,
    DEFAULT_CONTROL_INTERVAL,
    DEFAULT_START_DELAY,
    DEFAULT_STOP_DELAY,
    DOMAIN,
    ISSUE_SITE_SETTINGS_MERGED,
    LOGGER,
)
from .domain_data import is_site_entry
from .site_flow import SITE_MIGRATION, site_of_station, site_unique_id

_MIGRATION_LOCK: HassKey[asyncio.Lock] = HassKey(f"{DOMAIN}_site_migration")

#: The version that keeps site settings in site entries.
SITE_VERSION = (1, 2)

#: Options of a 1.1 station entry that belonged to its site, with their defaults then.
OLD_SITE_OPTIONS: dict[str, Any] = {
    CONF_GRID_SENSOR: None,
    CONF_GRID_IMPORT_POSITIVE: True,
    CONF_BATTERY_POWER_SENSOR: None,
    CONF_BATTERY_CHARGE_POSITIVE: True,
    CONF_BATTERY_SOC_SENSOR: None,
    CONF_BATTERY_MIN_SOC: DEFAULT_BATTERY_MIN_SOC,
    CONF_START_DELAY: DEFAULT_START_DELAY,
    CONF_STOP_DELAY: DEFAULT_STOP_DELAY,
    CONF_ALLOWED_IMPORT: DEFAULT_ALLOWED_IMPORT,
    CONF_CONTROL_INTERVAL: DEFAULT_CONTROL_INTERVAL,
}


def _old(entry: ConfigEntry[Any]) -> bool:
    return (entry.version, entry.minor_version) < SITE_VERSION


def _site_settings(entry: ConfigEntry[Any]) -> dict[str, Any]:
    """A 1.1 station's site settings, defaults filled in (so that equal means equal)."""
    return {key: entry.options.get(key, default) for key, default in OLD_SITE_OPTIONS.items()}


def _site_options(settings: dict[str, Any], members: list[str], share: bool) -> dict[str, Any]:
    """A site entry's options from a 1.1 station's site settings.

    "Battery first up to" becomes the priority SoC; the old controller never let a discharging
    battery feed the vehicle, so the migrated site has no buffer (its owner can set one).
    """
    options: dict[str, Any] = {
        CONF_SITE_STATIONS: members,
        CONF_SHARE_EQUALLY: share,
        CONF_BATTERY_CHARGE_POSITIVE: bool(settings[CONF_BATTERY_CHARGE_POSITIVE]),
        CONF_BATTERY_PRIORITY_SOC: float(settings[CONF_BATTERY_MIN_SOC]),
        CONF_START_DELAY: int(settings[CONF_START_DELAY]),
        CONF_STOP_DELAY: int(settings[CONF_STOP_DELAY]),
        CONF_ALLOWED_IMPORT: float(settings[CONF_ALLOWED_IMPORT]),
        CONF_CONTROL_INTERVAL: int(settings[CONF_CONTROL_INTERVAL]),
    }
    for key in (CONF_BATTERY_POWER_SENSOR, CONF_BATTERY_SOC_SENSOR):
        if settings[key]:
            options[key] = settings[key]
    return options


def _issue_placeholders(settings: dict[str, Any]) -> dict[str, str]:
    """The kept settings, as the repair issue names them."""

    def number(value: Any) -> str:
        return format(float(value), "g")

    return {
        "grid_sensor": str(settings[CONF_GRID_SENSOR]),
        "grid_sign": "+" if settings[CONF_GRID_IMPORT_POSITIVE] else "−",
        "battery": str(settings[CONF_BATTERY_POWER_SENSOR] or "–"),
        "battery_soc": str(settings[CONF_BATTERY_SOC_SENSOR] or "–"),
        "priority_soc": number(settings[CONF_BATTERY_MIN_SOC]),
        "allowed_import": number(settings[CONF_ALLOWED_IMPORT]),
        "control_interval": number(settings[CONF_CONTROL_INTERVAL]),
        "start_delay": number(settings[CONF_START_DELAY]),
        "stop_delay": number(settings[CONF_STOP_DELAY]),
    }


async def async_migrate_station_entry(hass: HomeAssistant, entry: ConfigEntry[Any]) -> bool:
    """Bring an entry to version 1.2; False for an entry from a newer version."""
    if entry.version > SITE_VERSION[0]:
        return False
    if not _old(entry) or is_site_entry(entry):
        return True
    grid = entry.options.get(CONF_GRID_SENSOR)
    if grid:
        # Entries migrate side by side: one at a time makes one site of a grid sensor.
        async with hass.data.setdefault(_MIGRATION_LOCK, asyncio.Lock()):
            if not await _async_ensure_site(hass, entry, grid):
                return False  # the entry keeps its options; the next start tries again
    options = {
        key: value
        for key, value in entry.options.items()
        if key not in OLD_SITE_OPTIONS and key != CONF_PRIORITY
    }
    hass.config_entries.async_update_entry(
        entry, options=options, version=SITE_VERSION[0], minor_version=SITE_VERSION[1]
    )
    LOGGER.debug("Migrated %s to version %s.%s", entry.title, *SITE_VERSION)
    return True


async def _async_ensure_site(hass: HomeAssistant, entry: ConfigEntry[Any], grid: str) -> bool:
    """Make sure the site of ``grid`` exists; create it with all its 1.1 stations."""
    if entry.unique_id and site_of_station(hass, entry.unique_id) is not None:
        return True  # created when another station of the site was migrated
    existing = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, site_unique_id(grid))
    entries = hass.config_entries.async_entries(DOMAIN, include_ignore=False)
    if existing is not None:
        # The site exists (made by hand, or the station was not known when it was made).
        if entry.unique_id:
            members = [*existing.options.get(CONF_SITE_STATIONS, []), entry.unique_id]
            hass.config_entries.async_update_entry(
                existing, options={**existing.options, CONF_SITE_STATIONS: members}
            )
        return True

    group = [
        other
        for other in entries
        if not is_site_entry(other) and _old(other) and other.options.get(CONF_GRID_SENSOR) == grid
    ]
    order = {other.entry_id: index for index, other in enumerate(entries)}
    group.sort(key=lambda other: (int(other.options.get(CONF_PRIORITY, 1)), order[other.entry_id]))
    first = group[0]
    kept = _site_settings(first)
    # What each station had, before the flow (and the site's setup) lets other code run.
    disagreeing = [other for other in group[1:] if _site_settings(other) != kept]
    priorities = {int(other.options.get(CONF_PRIORITY, 1)) for other in group}
    members = [other.unique_id for other in group if other.unique_id]
    result = await hass.config_entries.flow.async_init(
        DOMAIN,
        context={"source": SOURCE_IMPORT},
        data={
            SITE_MIGRATION: True,
            CONF_GRID_SENSOR: grid,
            CONF_GRID_IMPORT_POSITIVE: bool(kept[CONF_GRID_IMPORT_POSITIVE]),
            # Stations of equal priority shared equally before; different ones go in order.
            "options": _site_options(kept, members, len(group) > 1 and len(priorities) == 1),
        },
    )
    if result["type"] is not FlowResultType.CREATE_ENTRY and result.get("reason") != (
        "already_configured"
    ):
        LOGGER.warning("Could not create the charging site of %s: %s", grid, result)
        return False
    site_title = result.get("title") or ""
    _async_report_disagreements(hass, site_title, first.title, kept, disagreeing)
    return True


def _async_report_disagreements(
    hass: HomeAssistant,
    site_title: str,
    kept_from: str,
    kept: dict[str, Any],
    stations: list[ConfigEntry[Any]],
) -> None:
    """A repair issue for each station whose site settings the site did not keep."""
    for station in stations:
        ir.async_create_issue(
            hass,
            DOMAIN,
            f"{ISSUE_SITE_SETTINGS_MERGED}_{station.entry_id}",
            is_fixable=False,
            is_persistent=True,
            severity=ir.IssueSeverity.WARNING,
            translation_key=ISSUE_SITE_SETTINGS_MERGED,
            translation_placeholders={
                "station": station.title,
                "kept_from": kept_from,
                "site": site_title,
                **_issue_placeholders(kept),
            },
        )
