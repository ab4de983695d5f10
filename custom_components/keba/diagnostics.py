"""Diagnostics of the KEBA KeContact integration.

Besides the entry, they show everything the station reported as plain data — including the
fields the parser does not know (``extra``), which tell firmware versions apart — and the
counters of the UDP link. Serial numbers and RFID cards are redacted; the station's address is
kept, as it is a local address and the first thing to check when a station does not answer.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
import dataclasses
from datetime import date, datetime, timedelta
import enum
from typing import Any

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_RFID_CLASS, CONF_RFID_TAG, CONF_SERIAL
from .coordinator import KebaConfigEntry
from .kecontact import KebaError

#: Keys redacted wherever they appear (entry data and options, reports, raw extra fields).
TO_REDACT = {
    CONF_SERIAL,
    CONF_RFID_TAG,
    CONF_RFID_CLASS,
    "unique_id",
    "Serial",
    "RFID tag",
    "RFID class",
}

_LINK_COUNTERS = ("sent", "received", "retries", "stale_replies", "malformed", "queue_length")
_ENDPOINT_COUNTERS = ("received", "unknown_source", "sent_broadcasts")


def as_plain(value: Any) -> Any:
    """Turn models (dataclasses, enums, datetimes, sets) into JSON-friendly data."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {
            field.name: as_plain(getattr(value, field.name)) for field in dataclasses.fields(value)
        }
    if isinstance(value, enum.Enum):
        return value.name.lower() if isinstance(value, int) else value.value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, timedelta):
        return value.total_seconds()
    if isinstance(value, Mapping):
        return {str(key): as_plain(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted(as_plain(item) for item in value)
    if isinstance(value, list | tuple):
        return [as_plain(item) for item in value]
    return value


def _numbers(source: object, names: Iterable[str]) -> dict[str, int] | None:
    """The integer attributes ``names`` of ``source``; None when it has none of them."""
    counters: dict[str, int] = {}
    for name in names:
        value = getattr(source, name, None)
        if isinstance(value, int) and not isinstance(value, bool):
            counters[name] = value
    return counters or None


def _scrub(value: Any, secrets: set[str]) -> Any:
    """Replace secrets (the serial number) inside strings too, e.g. in titles and URLs."""
    if isinstance(value, str):
        for secret in secrets:
            value = value.replace(secret, REDACTED)
        return value
    if isinstance(value, dict):
        return {key: _scrub(item, secrets) for key, item in value.items()}
    if isinstance(value, list):
        return [_scrub(item, secrets) for item in value]
    return value


def _link_diagnostics(entry: KebaConfigEntry) -> dict[str, Any] | None:
    station = entry.runtime_data.station
    try:
        link = station.link
    except KebaError, AttributeError:
        return None
    return _numbers(link, _LINK_COUNTERS)


def _endpoint_diagnostics(entry: KebaConfigEntry) -> dict[str, Any] | None:
    endpoint = entry.runtime_data.endpoint
    counters = _numbers(getattr(endpoint, "stats", None), _ENDPOINT_COUNTERS)
    if counters is None:
        return None
    diagnostics: dict[str, Any] = dict(counters)
    senders = getattr(endpoint.stats, "unknown_senders", None)
    if isinstance(senders, set | frozenset):
        diagnostics["unknown_senders"] = sorted(str(sender) for sender in senders)
    bind_port = getattr(endpoint, "bind_port", None)
    if isinstance(bind_port, int):
        diagnostics["bind_port"] = bind_port
    return diagnostics


def _rejected(station: Any) -> dict[str, Any] | None:
    rejected = getattr(station, "rejected", None)
    as_dict = getattr(rejected, "as_dict", None)
    return as_dict() if callable(as_dict) else None


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: KebaConfigEntry
) -> dict[str, Any]:
    """Return the diagnostics of a station's entry."""
    runtime = entry.runtime_data
    coordinator = runtime.coordinator
    station = runtime.station
    data = coordinator.data
    secrets = {
        serial
        for serial in (entry.unique_id, station.serial)
        if isinstance(serial, str) and len(serial) >= 4
    }
    diagnostics = {
        "entry": {
            "title": entry.title,
            "unique_id": entry.unique_id,
            "data": dict(entry.data),
            "options": dict(entry.options),
        },
        "station": {
            "host": station.host,
            "ip": station.ip,
            "reboots_seen": station.reboots,
            # Datagrams the engine dropped as implausible (forged, garbled, absurd values).
            "rejected_datagrams": _rejected(station),
            "unsolicited_reports": getattr(station, "unsolicited", None),
            "capabilities": as_plain(station.capabilities),
            "snapshot": as_plain(station.snapshot),
        },
        "coordinator": {
            "last_update_success": coordinator.last_update_success,
            "update_interval_s": as_plain(coordinator.update_interval),
            "failed_polls": coordinator.failed_polls,
            "pending_current": data.pending_current if data else None,
            "session_current": coordinator.session_current,
            "session_energy_limit": coordinator.session_energy_limit,
            "boot_time": as_plain(data.boot_time) if data else None,
            "last_session": as_plain(data.last_session) if data else None,
        },
        "link": _link_diagnostics(entry),
        "endpoint": _endpoint_diagnostics(entry),
    }
    return _scrub(async_redact_data(diagnostics, TO_REDACT), secrets)
