"""Helpers of the entity platform tests: station variants, entity lookup, time steps."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from freezegun.api import FrozenDateTimeFactory

from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import async_fire_time_changed

from custom_components.keba.const import DEFAULT_CHARGING_INTERVAL, DOMAIN

from .common import default_reports

SERIAL = "18039974"
#: A moment shortly after the fixture session started (07:10:12 UTC, station uptime 5900 s).
NOW = "2026-11-21T08:00:00+00:00"

#: P20 c-series with a socket: meter, no currtime, no session reports, no display, no RFID.
P20_PRODUCT = "KC-P20-ES240030-000"
#: P30 Deutschland edition: no meter, no display, no RFID, but session reports.
P30_DE_PRODUCT = "KC-P30-EC220112-000-DE"


def variant_reports(product: str, **report1: Any) -> dict[int, dict[str, Any]]:
    """The fixture reports, answered by a station with another product code."""
    reports = default_reports()
    reports[1] = {**reports[1], "Product": product, "COM-module": 0, **report1}
    return reports


def entity_id_of(entity_registry: er.EntityRegistry, domain: str, key: str) -> str:
    """The entity id of the fixture station's entity ``key`` on platform ``domain``."""
    entity_id = entity_registry.async_get_entity_id(domain, DOMAIN, f"{SERIAL}_{key}")
    assert entity_id is not None, f"no {domain} entity {key}"
    return entity_id


def entity_keys(entity_registry: er.EntityRegistry, entry_id: str) -> set[str]:
    """The keys (unique id without the serial) of an entry's entities."""
    return {
        entry.unique_id.removeprefix(f"{SERIAL}_")
        for entry in er.async_entries_for_config_entry(entity_registry, entry_id)
    }


async def async_next_poll(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    seconds: float = DEFAULT_CHARGING_INTERVAL,
) -> None:
    """Let the coordinator's next poll run (the fixture station charges: 5 s apart)."""
    freezer.tick(timedelta(seconds=seconds))
    async_fire_time_changed(hass)
    await hass.async_block_till_done(wait_background_tasks=True)
