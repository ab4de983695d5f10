"""Formats real stations send beyond the guide's examples, each test naming its source."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
import json

import pytest

from custom_components.keba.kecontact import (
    Capabilities,
    ChargingSession,
    Series,
    StationInfo,
    probe_station,
)
from custom_components.keba.kecontact.parser import ReportReply, parse_datagram
from custom_components.keba.kecontact.plausibility import check_fields
from simulator import Simulator

from . import datagrams as d
from .conftest import Engine

type SimulatorFactory = Callable[..., Awaitable[Simulator]]

#: Report 1 of a BMW Wallbox Connect on firmware 3.9.17, as published by its owner in
#: HomeControlLib (P. Trimmel, 2019, Wallbox/Models/Report1Udp.cs): numeric "ID", one combined
#: "DIP-Sw" field, "COM-module": 1.
BMW_REPORT_1 = """{
  "ID": 1,
  "Product": "BMW-10-EC2405B2-E1R",
  "Serial": "18711747",
  "Firmware": "P30 v 3.9.17 (180601-115841)",
  "COM-module": 1,
  "Backend": 1,
  "timeQ": 3,
  "DIP-Sw": "0x2600",
  "Sec": 934129
}"""

#: Report 1 of an x-series on firmware 3.08.7 without DIP fields, from openhab-addons#2038
#: (its owner's station answered report 1 only: DSW1.3 was off).
X_SERIES_3_08_REPORT_1 = """{
"ID": "1",
"Product": "KC-P30-EC2201C2-E00-CW",
"Serial": "17759635",
"Firmware":"P30 v 3.08.7 (170404-153240)",
"COM-module": 1,
"Sec": 258938
}"""


def _report(text: str) -> ReportReply:
    datagram = parse_datagram(text.encode())
    assert isinstance(datagram, ReportReply)
    return datagram


def test_bmw_report_1() -> None:
    """Numeric ID, combined DIP switches (DSW1 high byte, DSW2 low byte), a COM module."""
    reply = _report(BMW_REPORT_1)
    assert reply.report_id == 1
    assert check_fields(1, reply.fields) is None
    info = StationInfo.from_report(reply.fields)
    assert info.dip_switch_1 == 0x26
    assert info.dip_switch_2 == 0x00
    assert info.udp_control_enabled is True
    assert "DIP-Sw" not in info.extra
    caps = Capabilities.from_product(info.product, com_module=info.com_module)
    assert caps.manufacturer == "BMW"
    assert caps.model_name == "Wallbox Connect (KeContact P30 x-series)"
    assert caps.series is Series.X
    assert caps.display is False
    assert caps.rfid is True


def test_report_1_without_dip_switches() -> None:
    """Firmware 3.08.7 reports no DIP switches: the DSW1.3 reading is unknown, not False."""
    info = StationInfo.from_report(_report(X_SERIES_3_08_REPORT_1).fields)
    assert info.dip_switch_1 is None
    assert info.udp_control_enabled is None
    caps = Capabilities.from_product(info.product, com_module=info.com_module)
    assert caps.series is Series.X
    assert caps.rfid is False
    assert caps.display is None  # learned from the station's answer to "display"


@pytest.mark.parametrize(
    ("fields", "udp", "x2"),
    [
        # The newer firmware's value (design notes; OpenEMS's KEBA test data): DSW1.3 on.
        ({"DIP-Sw1": "0x25", "DIP-Sw2": "0x02"}, True, False),
        # DSW1.3 (0x20) off, as the simulator's DSW1.3-off variant reports it.
        ({"DIP-Sw1": "0x01"}, False, False),
        ({"DIP-Sw1": "0x05"}, False, False),
        # DSW1.2 (0x40) on as well.
        ({"DIP-Sw1": "0x65"}, True, True),
        # Separate fields win over a combined one; nonsense is "unknown".
        ({"DIP-Sw1": "0x05", "DIP-Sw": "0x2600"}, False, False),
        ({"DIP-Sw": "0x0500"}, False, False),
        ({"DIP-Sw": "0x1FFFF"}, None, None),
        ({"DIP-Sw1": "0x100"}, None, None),
        ({"DIP-Sw1": "zz"}, None, None),
        ({}, None, None),
    ],
)
def test_dip_switch_forms(fields: dict[str, str], udp: bool | None, x2: bool | None) -> None:
    """DSW1.3 is the 0x20 bit of the DSW1 byte in every form the firmware sends."""
    info = StationInfo.from_report({"ID": "1", "Product": "KC-P30-ES240022-E0R", **fields})
    assert info.udp_control_enabled is udp
    assert info.output_x2_enabled is x2


def test_bmw_report_100_epoch_seconds() -> None:
    """BMW firmware 3.9.17 sends Unix epoch seconds in started[s]/ended[s], not uptime."""
    fields = json.loads(d.REPORT_101) | {
        "ID": 100,
        "started[s]": 1_600_000_000,
        "ended[s]": 1_600_003_600,
        "started": "0",
        "ended": "0",
    }
    assert check_fields(100, fields) is None
    session = ChargingSession.from_report(fields)
    assert session.started_uptime_s is None
    assert session.ended_uptime_s is None
    assert session.started == datetime(2020, 9, 13, 12, 26, 40, tzinfo=UTC)
    assert session.duration_s == 3600


def test_uptime_seconds_stay_uptime() -> None:
    """The guide's uptime values (a few thousand seconds) are still read as uptime."""
    session = ChargingSession.from_report(json.loads(d.REPORT_101))
    assert session.started_uptime_s == 2107
    assert session.started is None
    assert session.duration_s == 227


def test_guide_dated_report_keeps_its_stamp() -> None:
    """§3.2.11: after setdatetime the guide's own example has epoch seconds too."""
    session = ChargingSession.from_report(json.loads(d.REPORT_101_DATED))
    assert session.started_uptime_s is None
    assert session.started == datetime(2018, 3, 30, 10, 19, 56, tzinfo=UTC)
    assert session.duration_s == 159


async def test_bmw_connect_through_the_engine(
    engine: Engine, start_simulator: SimulatorFactory, no_timing_violations: list[Simulator]
) -> None:
    """The simulator's BMW variant: identified, combined DIP switches read, epoch sessions."""
    sim = await start_simulator(variant="bmw-connect")
    no_timing_violations.append(sim)
    station = await engine.station(sim, read_info=False)
    info = (await probe_station(station)).info
    assert info.dip_switch_1 == 0x25
    assert info.udp_control_enabled is True
    assert station.capabilities is not None
    assert station.capabilities.model_name == "Wallbox Connect (KeContact P30 x-series)"
    assert station.capabilities.display is False
    simulated = sim.stations[0]
    simulated.plug_in()
    simulated.unplug()
    session = await station.get_session(101)
    assert session.started_uptime_s is None
    assert session.started is not None
    assert abs(session.started.timestamp() - datetime.now(UTC).timestamp()) < 60
