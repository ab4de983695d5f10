"""State shared by every entry of the integration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from homeassistant.config_entries import ConfigEntry
from homeassistant.util.hass_dict import HassKey

from .const import CONF_ENTRY_KIND, DEFAULT_DISCOVERY_INTERVAL, DOMAIN, ENTRY_KIND_SITE
from .kecontact import EndpointPool

if TYPE_CHECKING:
    from .solar import SolarManager


@dataclass(kw_only=True)
class KebaDomainData:
    """The shared UDP endpoint pool and the YAML-level network settings."""

    pool: EndpointPool = field(default_factory=EndpointPool)
    #: Local address of the shared socket on port 7090; "" binds all interfaces.
    bind_address: str = ""
    #: Where discovery sends ``i``; empty: every IPv4 broadcast address Home Assistant knows.
    discovery_addresses: list[str] = field(default_factory=list)
    discovery_interval_s: float = DEFAULT_DISCOVERY_INTERVAL.total_seconds()
    #: Solar-surplus charging of every station, by site (set up with the integration).
    solar: SolarManager | None = None


DATA_KEBA: HassKey[KebaDomainData] = HassKey(DOMAIN)


def is_site_entry(entry: ConfigEntry[Any]) -> bool:
    """Whether ``entry`` is a charging site (not a station)."""
    return entry.data.get(CONF_ENTRY_KIND) == ENTRY_KIND_SITE
