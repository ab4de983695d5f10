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
from typing import Any, cast

from homeassistant.components.diagnostics import REDACTED, async_redact_data
from homeassistant.core import HomeAssistant

from .const import CONF_CARDS, CONF_RFID_CLASS, CONF_RFID_TAG, CONF_SERIAL
from .coordinator import KebaConfigEntry
from .domain_data import is_site_entry
from .kecontact import KebaError

#: Keys redacted wherever they appear (entry data and options, reports, raw extra fields).
TO_REDACT = {
    CONF_SERIAL,
    CONF_CARDS,
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


def _scrub[T](value: T, secrets: set[str]) -> T:
    """Replace secrets (the serial number) inside strings too, e.g. in titles and URLs."""
    result: Any = value
    if isinstance(value, str):
        for secret in secrets:
            result = result.replace(secret, REDACTED)
    elif isinstance(value, dict):
        result = {key: _scrub(item, secrets) for key, item in value.items()}
    elif isinstance(value, list):
        result = [_scrub(item, secrets) for item in value]
    return cast(T, result)


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


def _ledger_diagnostics(entry: KebaConfigEntry) -> dict[str, Any] | None:
    """Size, first and last session, gaps of the session ledger; no tags, no card names."""
    manager = entry.runtime_data.ledger
    if manager is None:
        return None
    ledger = manager.ledger
    records = ledger.records
    timed = [record for record in records if record.started is not None]

    def brief(record: Any) -> dict[str, Any] | None:
        if record is None:
            return None
        return {
            "session_id": record.session_id,
            "started": as_plain(record.started),
            "ended": as_plain(record.ended),
            "energy_kwh": record.energy_kwh,
            "time_source": record.time_source,
            "has_tag": record.rfid_tag is not None,
        }

    return {
        "sessions": len(ledger),
        "untimed_sessions": len(records) - len(timed),
        "first_session": brief(timed[0] if timed else None),
        "last_session": brief(timed[-1] if timed else None),
        "last_session_id": ledger.last_session_id(manager.serial),
        "gaps": [
            {
                "first_missing": gap.first_missing,
                "last_missing": gap.last_missing,
                "count": gap.count,
                "after": as_plain(gap.after),
                "before": as_plain(gap.before),
                "notified": gap.notified,
            }
            for gap in ledger.gaps
        ],
        "named_cards": len(manager.cards.names),
        "cost_meter": {
            "session_id": manager.meter.session_id,
            "energy_kwh": manager.meter.energy_kwh,
            "priced": manager.meter.priced,
        },
    }


def _rejected(station: Any) -> dict[str, Any] | None:
    rejected = getattr(station, "rejected", None)
    as_dict = getattr(rejected, "as_dict", None)
    return as_dict() if callable(as_dict) else None


async def async_get_config_entry_diagnostics(
    hass: HomeAssistant, entry: KebaConfigEntry
) -> dict[str, Any]:
    """Return the diagnostics of a station's entry (or of a charging site's)."""
    if is_site_entry(entry):
        return _site_diagnostics(entry)
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
        "ledger": _ledger_diagnostics(entry),
        "link": _link_diagnostics(entry),
        "endpoint": _endpoint_diagnostics(entry),
    }
    return _scrub(async_redact_data(diagnostics, TO_REDACT), secrets)


def _site_diagnostics(entry: Any) -> dict[str, Any]:
    """A charging site: its settings, members and latest state."""
    site = entry.runtime_data.site
    options = dict(entry.options)
    # Member stations are listed by serial number, which station diagnostics redact too.
    options["stations"] = [REDACTED for _ in options.get("stations", [])]
    return {
        "entry": {
            "title": entry.title,
            "unique_id": entry.unique_id,
            "data": dict(entry.data),
            "options": options,
        },
        "site": {
            "state": as_plain(site.state),
            "surplus_w": site.surplus_w,
            "battery_share": site.battery_share,
            "interval_s": site.interval,
            "stations_loaded": len(site.stations),
        },
    }
