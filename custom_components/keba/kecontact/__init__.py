"""KeContact: an asyncio client of KEBA's UDP interface (P30 c-/x-series, P20).

Typical use::

    pool = EndpointPool()
    endpoint = await pool.acquire()  # UDP port 7090 on all interfaces
    station = KebaStation(endpoint, "192.0.2.10")
    info = (await probe_station(station)).info  # report 1, and proof of UDP control
    snapshot = await station.refresh()  # report 2 and report 3
    await station.set_current(10)  # currtime 10000 1, verified with report 2
    await station.close()
    await pool.release(endpoint)
"""

from .clock import Clock, LoopClock
from .const import KEBA_MAC_PREFIX, STATION_PORT
from .discovery import DiscoveredStation, discover
from .exceptions import (
    KebaClosedError,
    KebaCommandError,
    KebaConnectionError,
    KebaError,
    KebaImplausibleError,
    KebaPortInUseError,
    KebaTimeoutError,
    KebaUnsupportedError,
    KebaValidationError,
    KebaVerificationError,
    UdpControlDisabledError,
)
from .link import RetryPolicy, StationLink
from .models import (
    ChargingSession,
    ChargingState,
    ChargingStatus,
    FirmwareInfo,
    MeterReading,
    PlugState,
    SessionEndReason,
    StationInfo,
    StationSnapshot,
    TimeQuality,
)
from .probe import ProbeResult, probe_station
from .product import Capabilities, Model, Series
from .station import EventKind, KebaStation, StationEvent, display_text, resolve_host
from .transport import EndpointPool, KebaEndpoint

__all__ = [
    "KEBA_MAC_PREFIX",
    "STATION_PORT",
    "Capabilities",
    "ChargingSession",
    "ChargingState",
    "ChargingStatus",
    "Clock",
    "DiscoveredStation",
    "EndpointPool",
    "EventKind",
    "FirmwareInfo",
    "KebaClosedError",
    "KebaCommandError",
    "KebaConnectionError",
    "KebaEndpoint",
    "KebaError",
    "KebaImplausibleError",
    "KebaPortInUseError",
    "KebaStation",
    "KebaTimeoutError",
    "KebaUnsupportedError",
    "KebaValidationError",
    "KebaVerificationError",
    "LoopClock",
    "MeterReading",
    "Model",
    "PlugState",
    "ProbeResult",
    "RetryPolicy",
    "Series",
    "SessionEndReason",
    "StationEvent",
    "StationInfo",
    "StationLink",
    "StationSnapshot",
    "TimeQuality",
    "UdpControlDisabledError",
    "discover",
    "display_text",
    "probe_station",
    "resolve_host",
]
