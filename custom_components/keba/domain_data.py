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
#: How long a search trusts the identity (report 1) of a station it or a flow read.
IDENTITY_MAX_AGE_S = 120.0


@dataclass(frozen=True, kw_only=True)
class Handover:
    """Reports a config flow read moments ago, for the setup of the entry it creates."""

    info: StationInfo
    status: ChargingStatus | None = None
    meter: MeterReading | None = None
    at: float = field(default_factory=time.monotonic)
    #: From an entry that was unloaded (not from a flow's check).
    unloaded: bool = False

    @property
    def age(self) -> float:
        """Seconds since the reports were read."""
        return time.monotonic() - self.at


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
    #: Report 1 of stations identified lately, by IP address (a search need not ask again).
    identities: dict[str, Handover] = field(default_factory=dict)

    def remember_identity(self, ip: str, info: StationInfo) -> None:
        """Note report 1 of the station at ``ip``."""
        self.identities[ip] = Handover(info=info)

    def recent_identities(self) -> dict[str, StationInfo]:
        """Report 1 of stations identified within the last two minutes, by IP address."""
        now = time.monotonic()
        for ip in [
            ip for ip, item in self.identities.items() if now - item.at > IDENTITY_MAX_AGE_S
        ]:
            del self.identities[ip]
        return {ip: item.info for ip, item in self.identities.items()}

    def take_handover(self, host: str) -> Handover | None:
        """The flow's reports of ``host`` if they are recent; each is used once."""
        handover = self.handovers.pop(host, None)
        now = time.monotonic()
        for stale in [
            h for h, item in self.handovers.items() if now - item.at > HANDOVER_MAX_AGE_S
        ]:
            del self.handovers[stale]
        if handover is None or now - handover.at > HANDOVER_MAX_AGE_S:
            return None
        return handover


DATA_KEBA: HassKey[KebaDomainData] = HassKey(DOMAIN)
