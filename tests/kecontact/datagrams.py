"""Datagrams as stations send them: the examples of KEBA's UDP Programmers Guide V2.01.

The texts are copied from the guide's examples (its margin notes, which are not part of the
datagrams, left out) plus the shapes real firmware is known to send beyond the guide: a bare
``"Firmware"`` fragment for ``i`` and report 1 with undocumented fields.
"""

from __future__ import annotations

#: §3.2.11 ``report 1`` after ``setdatetime`` (pretty-printed, weak synced time).
REPORT_1 = """{
  "ID": "1",
  "Product": "KC-P30-ES240022-E0R",
  "Serial": "18039974",
  "Firmware": "P30 v 3.9.12 (180109-164149)",
  "COM-module": 0,
  "Backend": 0,
  "timeQ": 2,
  "Sec": 227
}"""

#: Report 1 of newer x-series firmware: undocumented ``setBoot``, ``DIP-Sw1``/``DIP-Sw2`` as hex
#: strings, ``timeQ`` 3 (strong synced).
REPORT_1_EXTENDED = """{
"ID": "1",
"Product": "KC-P30-EC2404B2-M0R",
"Serial": "18039974",
"Firmware": "P30 v 3.10.27 (210105-174852)",
"COM-module": 1,
"Backend": 0,
"timeQ": 3,
"setBoot": 0,
"DIP-Sw1": "0x25",
"DIP-Sw2": "0x02",
"Sec": 6092
}
"""

#: §3.2.6 example 1: charging at 10 A, ``currtime 7000 20`` pending (17 s left).
REPORT_2_CURRTIME_PENDING = """{
  "ID": "2",
  "State": 3,
  "Error1": 0,
  "Error2": 0,
  "Plug": 7,
  "AuthON": 0,
  "Authreq": 0,
  "Enable sys": 1,
  "Enable user": 1,
  "Max curr": 10000,
  "Max curr %": 166,
  "Curr HW": 10000,
  "Curr user": 63000,
  "Curr FS": 0,
  "Tmo FS": 0,
  "Curr timer": 7000,
  "Tmo CT": 17,
  "Setenergy": 0,
  "Output": 0,
  "Input": 0,
  "Serial": "18039974",
  "Sec": 7510
}"""

#: §3.2.6 example 1 after the timer: charging at 7 A.
REPORT_2_CURRTIME_APPLIED = """{
  "ID": "2",
  "State": 3,
  "Error1": 0,
  "Error2": 0,
  "Plug": 7,
  "AuthON": 0,
  "Authreq": 0,
  "Enable sys": 1,
  "Enable user": 1,
  "Max curr": 7000,
  "Max curr %": 116,
  "Curr HW": 10000,
  "Curr user": 7000,
  "Curr FS": 0,
  "Tmo FS": 0,
  "Curr timer": 7000,
  "Tmo CT": 0,
  "Setenergy": 0,
  "Output": 0,
  "Input": 0,
  "Serial": "18039974",
  "Sec": 7543
}"""

#: §3.3.1 ``ena 0``: vehicle plugged and locked, charging disabled, pulse output 150.
REPORT_2_DISABLED = """{
  "ID": "2",
  "State": 1,
  "Error1": 0,
  "Error2": 0,
  "Plug": 7,
  "AuthON": 0,
  "Authreq": 0,
  "Enable sys": 0,
  "Enable user": 0,
  "Max curr": 0,
  "Max curr %": 1000,
  "Curr HW": 10000,
  "Curr user": 63000,
  "Curr FS": 0,
  "Tmo FS": 0,
  "Curr timer": 0,
  "Tmo CT": 0,
  "Setenergy": 0,
  "Output": 150,
  "Input": 0,
  "Serial": "18039974",
  "Sec": 446
}"""

#: §3.2.4: not connected to a vehicle (one line, spaces inside the braces).
REPORT_3_IDLE = (
    '{ "ID": "3", "U1": 0, "U2": 0, "U3": 0, "I1": 0, "I2": 0, "I3": 0, "P": 0, "PF": 0, '
    '"E pres": 0, "E total": 0, "Serial": "18039974", "Sec": 1255 }'
)

#: §3.2.4: vehicle charging (the guide's example values, one line).
REPORT_3_CHARGING = (
    '{ "ID": "3", "U1": 228, "U2": 2, "U3": 2, "I1": 10, "I2": 0, "I3": 0, "P": 526, '
    '"PF": 218, "E pres": 0, "E total": 0, "Serial": "18039974", "Sec": 1541 }'
)

#: §3.2.9 after ``start``: charging is in progress (pretty-printed).
REPORT_3_STARTED = """{
  "ID": "3",
  "U1": 227,
  "U2": 2,
  "U3": 2,
  "I1": 10,
  "I2": 0,
  "I3": 1,
  "P": 353,
  "PF": 153,
  "E pres": 0,
  "E total": 0,
  "Serial": "18039974",
  "Sec": 6092
}"""

#: §3.2.5: the latest session, ended by unplugging (one line).
REPORT_100 = (
    '{ "ID": "100", "Session ID": 13, "Curr HW": 10000, "E start": 0, "E pres": 0, '
    '"started[s]": 2107, "ended[s]": 2334, "started": "2107000", "ended": "2334000", '
    '"reason": 1, "timeQ": 0, "RFID tag": "0000000000000000", '
    '"RFID class": "00000000000000000000", "Serial": "18039974", "Sec": 2915 }'
)

#: §3.2.5: the same session in the history.
REPORT_101 = (
    '{ "ID": "101", "Session ID": 13, "Curr HW": 10000, "E start": 0, "E pres": 0, '
    '"started[s]": 2107, "ended[s]": 2334, "started": "2107000", "ended": "2334000", '
    '"reason": 1, "timeQ": 0, "RFID tag": "0000000000000000", '
    '"RFID class": "00000000000000000000", "Serial": "18039974", "Sec": 3003 }'
)

#: §3.2.10: a running session started with an RFID card.
REPORT_100_RFID = """{
  "ID": "100",
  "Session ID": 27,
  "Curr HW": 10000,
  "E start": 0,
  "E pres": 0,
  "started[s]": 3134,
  "ended[s]": 0,
  "started": "3134000",
  "ended": "0",
  "reason": 0,
  "timeQ": 0,
  "RFID tag": "f2875063000000000",
  "RFID class": "00000000000000000000000000000000",
  "Serial": "18039974",
  "Sec": 3227
}"""

#: §3.2.11: a running session after ``setdatetime`` (dates instead of uptime).
REPORT_100_DATED = """{
  "ID": "100",
  "Session ID": 49,
  "Curr HW": 10000,
  "E start": 59,
  "E pres": 0,
  "started[s]": 1522405196,
  "ended[s]": 0,
  "started": "2018-03-30 10:19:56.000",
  "ended": "0",
  "reason": 0,
  "timeQ": 0,
  "RFID tag": "00000000000000000000",
  "RFID class": "00000000000000000000000000000000",
  "Serial": "18039974",
  "Sec": 356
}"""

#: §3.2.11: that session ended by unplugging.
REPORT_101_DATED = """{
  "ID": "101",
  "Session ID": 49,
  "Curr HW": 10000,
  "E start": 59,
  "E pres": 0,
  "started[s]": 1522405196,
  "ended[s]": 1522405355,
  "started": "2018-03-30 10:19:56.000",
  "ended": "2018-03-30 10:22:35.000",
  "reason": 1,
  "timeQ": 2,
  "RFID tag": "00000000000000000000",
  "RFID class": "00000000000000000000000000000000",
  "Serial": "18039974",
  "Sec": 406
}"""

#: The answer to every accepted command.
TCH_OK = "TCH-OK :done"
#: The answer to a refused command.
TCH_ERR = "TCH-ERR :unknown command"

#: ``i`` as a JSON object and as the bare fragment some firmware sends.
FIRMWARE_OBJECT = '{"Firmware":"P30 v 3.10.27 (210105-174852)"}'
FIRMWARE_FRAGMENT = '"Firmware":"P30 v 3.10.27 (210105-174852)"'

#: Status messages (§3.3.2, §3.2.9, §3.2.10, §3.3.1).
PUSH_MAX_CURR = '{"Max curr": 16000}'
PUSH_MAX_CURR_SPACED = '{ "Max curr" : 100000 }'
PUSH_STATE = '{"State": 5}'
PUSH_ENABLE_SYS = '{"Enable sys": 0}'
PUSH_PLUG = '{"Plug": 7}'
PUSH_INPUT = '{"Input": 1}'
PUSH_E_PRES = '{"E pres": 54321}'

#: Every datagram above by name (the fuzz test mutates these).
ALL: dict[str, str] = {
    name: value for name, value in globals().items() if name.isupper() and isinstance(value, str)
}
