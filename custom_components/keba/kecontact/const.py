"""Constants of KEBA's UDP protocol (UDP Programmers Guide V2.01)."""

from __future__ import annotations

from typing import Final

#: UDP port the stations listen on and answer to (guide §2.2, §3.1).
STATION_PORT: Final = 7090

#: Minimum time between any two datagrams to one station (t_UDP_pause, guide §2.1).
UDP_PAUSE: Final = 0.100
#: Minimum time between scheduled repetitions of the same command (t_COM_pause).
COM_PAUSE: Final = 5.0
#: Silence after a disable command such as ``ena 0`` or ``currtime 0 1`` (t_DIS_pause).
DIS_PAUSE: Final = 2.0

#: A little on top of every pause so that timer jitter never breaks a rule.
PAUSE_MARGIN: Final = 0.005

#: Datagrams are at most this long (guide §3.1).
MAX_DATAGRAM: Final = 512

#: Fields a station pushes on its own (guide §3.4).
PUSH_FIELDS: Final = frozenset({"State", "Plug", "Input", "Enable sys", "Max curr", "E pres"})

#: Report 100 is the latest session, 101 to 130 are the history (guide §3.2.5).
REPORT_SESSION_LATEST: Final = 100
REPORT_SESSION_FIRST_HISTORY: Final = 101
REPORT_SESSION_LAST_HISTORY: Final = 130

#: Current limits in mA (guide §3.2.6, §3.3.2).
CURRENT_MIN_MA: Final = 6000
CURRENT_MAX_MA: Final = 63000
#: Delay limits of ``currtime`` in seconds.
CURRTIME_DELAY_MAX: Final = 860400
#: ``setenergy`` limit in 0.1 Wh.
ENERGY_LIMIT_MAX: Final = 99999999
#: ``failsafe`` timeout limits in seconds.
FAILSAFE_TIMEOUT_MIN: Final = 10
FAILSAFE_TIMEOUT_MAX: Final = 600
#: ``display`` text limit.
DISPLAY_MAX_CHARS: Final = 23
#: RFID tag (8 bytes) and class (10 bytes) as hex strings.
RFID_TAG_HEX_CHARS: Final = 16
RFID_CLASS_HEX_CHARS: Final = 20
#: ``output`` values: 0 closed, 1 open, 10 and more pulses per kWh (EEPROM).
OUTPUT_PULSES_MIN: Final = 10
OUTPUT_PULSES_MAX: Final = 150

#: KEBA's IEEE OUI, the first three bytes of every station's MAC address.
KEBA_MAC_PREFIX: Final = "00:60:B5"
