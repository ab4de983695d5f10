"""Classify and parse datagrams from a station.

Stations answer in several shapes: JSON reports with ``"ID"``, ``TCH-OK :done`` / ``TCH-ERR``
for commands, ``"Firmware"`` for ``i`` (sometimes as a bare ``"Firmware":"…"`` fragment rather
than a JSON object), and pushed status changes without an ID. Replies are often pretty-printed
and may carry stray NUL bytes or line ends. The parser never raises: what it cannot read comes
back as :class:`Malformed`.
"""

from __future__ import annotations

from dataclasses import dataclass
import json
from typing import Any

from .const import MAX_DATAGRAM, PUSH_FIELDS


@dataclass(frozen=True, slots=True)
class ReportReply:
    """A report: ``report 1``, ``2``, ``3`` or ``1xx``."""

    report_id: int
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class CommandReply:
    """``TCH-OK :done`` (``ok``) or ``TCH-ERR…`` for a command."""

    ok: bool
    text: str


@dataclass(frozen=True, slots=True)
class FirmwareReply:
    """The answer to ``i``."""

    firmware: str
    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class PushMessage:
    """A status change the station sent on its own, e.g. ``{"State": 3}``."""

    fields: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Malformed:
    """Anything else; kept for logging and counting."""

    reason: str
    text: str


type Datagram = ReportReply | CommandReply | FirmwareReply | PushMessage | Malformed


def _load_object(text: str) -> dict[str, Any] | None:
    """Read a JSON object, or a bare ``"key": value`` fragment, or give None."""
    for candidate in (text, "{" + text + "}"):
        try:
            value = json.loads(candidate)
        except ValueError, RecursionError:
            continue
        if isinstance(value, dict):
            return value
    return None


def parse_datagram(payload: bytes) -> Datagram:
    """Classify one datagram from a station. Never raises."""
    if len(payload) > MAX_DATAGRAM * 4:
        return Malformed("oversized", payload[:64].decode("latin-1"))
    text = payload.decode("utf-8", errors="replace").replace("\x00", "").strip()
    if not text:
        return Malformed("empty", text)
    if text.startswith("TCH-OK"):
        return CommandReply(ok=True, text=text)
    if text.startswith("TCH-ERR"):
        return CommandReply(ok=False, text=text)
    data = _load_object(text)
    if data is None:
        return Malformed("not json", text[:200])
    if "ID" in data:
        raw_id = data["ID"]
        try:
            report_id = int(str(raw_id).strip())
        except ValueError:
            return Malformed("bad report id", text[:200])
        return ReportReply(report_id=report_id, fields=data)
    if "Firmware" in data:
        firmware = data["Firmware"]
        if isinstance(firmware, str):
            return FirmwareReply(firmware=firmware.strip(), fields=data)
        return Malformed("bad firmware", text[:200])
    if data and all(key in PUSH_FIELDS for key in data):
        return PushMessage(fields=data)
    return Malformed("unknown object", text[:200])
