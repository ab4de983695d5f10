"""An independent KEBA KeContact P30/P20 charging-station simulator (UDP, port 7090).

Written from KEBA's UDP programmers guide; stations live on loopback addresses only. Run it as
``python -m simulator`` or use :class:`Simulator` from asyncio code.
"""

from .core import SCENARIOS, Simulator, station_addresses
from .station import FAILSAFE_MIN_TIMEOUT_S, Session, Station, StationOptions, Vehicle
from .timing import RULE_LIMITS, TimingChecker, Violation, command_identity
from .variants import VARIANTS, Variant, get_variant

__all__ = [
    "FAILSAFE_MIN_TIMEOUT_S",
    "RULE_LIMITS",
    "SCENARIOS",
    "VARIANTS",
    "Session",
    "Simulator",
    "Station",
    "StationOptions",
    "TimingChecker",
    "Variant",
    "Vehicle",
    "Violation",
    "command_identity",
    "get_variant",
    "station_addresses",
]
