"""Protocol constants, limits and text formatting shared by the simulated stations."""

from __future__ import annotations

import ipaddress
import json
import time
from typing import Any

DEFAULT_PORT = 7090
"""UDP port of the KEBA interface, used by stations and clients alike."""

REPLY_OK = "TCH-OK :done"
ERR_UNKNOWN = "TCH-ERR :unknown command"
ERR_INVALID = "TCH-ERR :invalid parameter"

MAX_DATAGRAM = 512
"""Replies are at most this many bytes (guide §3.1)."""

CURR_USER_DEFAULT = 63000
CURRENT_MIN = 6000
CURRENT_MAX = 63000
CURRTIME_MAX_S = 860400
SETENERGY_MAX = 99_999_999
FAILSAFE_MAX_TIMEOUT_S = 600
HISTORY_SIZE = 30
TAG_HEX_LEN = 16
CLASS_HEX_LEN = 20
DISPLAY_MAX_CHARS = 23
E_PRES_MAX = 999_999_999

ZERO_TAG = "0" * TAG_HEX_LEN
ZERO_CLASS = "0" * CLASS_HEX_LEN

_HEX_DIGITS = frozenset("0123456789abcdefABCDEF")
_LOOPBACK = ipaddress.ip_network("127.0.0.0/8")


def is_allowed_address(ip: str) -> bool:
    """Return True for a loopback host address (127.0.0.0/8 minus its network and broadcast).

    The simulator never sends to, or binds, any other address.
    """
    try:
        addr = ipaddress.ip_address(ip)
    except ValueError:
        return False
    return (
        addr.version == 4
        and addr in _LOOPBACK
        and addr not in (_LOOPBACK.network_address, _LOOPBACK.broadcast_address)
    )


def duty_cycle(max_curr_ma: int) -> int:
    """Return the control-pilot duty cycle in 0.1 % for an offered current (IEC 61851-1).

    6-51 A: duty = A / 0.6 %; above 51 A: duty = A / 2.5 + 64 %. 0 mA (no PWM) gives 1000.
    Fractions are cut off, as in the guide's examples (10 A -> 166, 7 A -> 116).
    """
    if max_curr_ma <= 0:
        return 1000
    if max_curr_ma <= 51000:
        return max_curr_ma // 60
    return min(1000, max_curr_ma // 250 + 640)


def format_report(fields: dict[str, Any], *, compact: bool) -> str:
    """Return a report as JSON text: pretty-printed like the guide's examples, or one line."""
    if compact:
        return json.dumps(fields, ensure_ascii=True)
    return json.dumps(fields, indent=2, ensure_ascii=True)


def format_push(field: str, value: int) -> str:
    """Return a status message such as ``{"State": 2}`` (guide §3.4)."""
    return json.dumps({field: value})


def format_firmware(firmware: str, style: str) -> str:
    """Return the answer to ``i``: a JSON object or, with style ``fragment``, a bare fragment."""
    fragment = f'"Firmware":{json.dumps(firmware)}'
    if style == "fragment":
        return fragment
    return "{" + fragment + "}"


def format_timestamp(epoch: float) -> str:
    """Return ``YYYY-MM-DD hh:mm:ss.000`` in UTC, the format of ``started``/``ended``."""
    return time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime(int(epoch))) + ".000"


def parse_uint(text: str) -> int | None:
    """Return a plain decimal unsigned integer, or None when ``text`` is not one."""
    if not text.isascii() or not text.isdigit():
        return None
    return int(text)


def normalize_hex(text: str, length: int) -> str | None:
    """Return a hex string of at most ``length`` digits, lower case and padded with ``0``.

    RFID tags are written lowest nibble first, so padding goes to the right. Returns None for a
    string that is empty, too long or not hexadecimal.
    """
    if not text or len(text) > length or not set(text) <= _HEX_DIGITS:
        return None
    return text.lower().ljust(length, "0")
