"""State shared by every entry of the integration."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from homeassistant.util.hass_dict import HassKey

from .const import DEFAULT_DISCOVERY_INTERVAL, DOMAIN
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
