"""State shared by every entry of the integration."""

from __future__ import annotations

from dataclasses import dataclass, field
import time
from typing import TYPE_CHECKING

from homeassistant.util.hass_dict import HassKey

from .const import DEFAULT_DISCOVERY_INTERVAL, DOMAIN
from .kecontact import ChargingStatus, EndpointPool, MeterReading, StationInfo

if TYPE_CHECKING:
    from .solar import SolarManager


#: How long reports read by a config flow are reused by the entry it creates.
HANDOVER_MAX_AGE_S = 30.0


@dataclass(frozen=True, kw_only=True)
class Handover:
    """Reports a config flow read moments ago, for the setup of the entry it creates."""

    info: StationInfo
    status: ChargingStatus | None = None
    meter: MeterReading | None = None
    at: float = field(default_factory=time.monotonic)


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
    #: Reports read by config flows, by host, taken by the setup of the entry they create.
    handovers: dict[str, Handover] = field(default_factory=dict)
    #: Entries whose station answers report 1 but not report 2 (DIP switch DSW1.3 off).
    udp_control_off: set[str] = field(default_factory=set)

    def take_handover(self, host: str) -> Handover | None:
        """The flow's reports of ``host`` if they are recent; each is used once."""
        handover = self.handovers.pop(host, None)
        now = time.monotonic()
        for stale in [h for h, item in self.handovers.items() if now - item.at > HANDOVER_MAX_AGE_S]:
            del self.handovers[stale]
        if handover is None or now - handover.at > HANDOVER_MAX_AGE_S:
            return None
        return handover


DATA_KEBA: HassKey[KebaDomainData] = HassKey(DOMAIN)
