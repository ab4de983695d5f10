"""Reports and the answer to ``i``: field names, order, value formats, size."""

from __future__ import annotations

import json

import pytest

from .simtest_helpers import SimFactory, UdpClient

REPORT1 = ["ID", "Product", "Serial", "Firmware", "COM-module", "Backend", "timeQ", "Sec"]
REPORT2 = [
    "ID", "State", "Error1", "Error2", "Plug", "AuthON", "Authreq", "Enable sys", "Enable user",
    "Max curr", "Max curr %", "Curr HW", "Curr user", "Curr FS", "Tmo FS", "Curr timer",
    "Tmo CT", "Setenergy", "Output", "Input", "Serial", "Sec",
]  # fmt: skip
REPORT3 = [
    "ID", "U1", "U2", "U3", "I1", "I2", "I3", "P", "PF", "E pres", "E total", "Serial", "Sec",
]  # fmt: skip
REPORT1XX = [
    "ID", "Session ID", "Curr HW", "E start", "E pres", "started[s]", "ended[s]", "started",
    "ended", "reason", "timeQ", "RFID tag", "RFID class", "Serial", "Sec",
]  # fmt: skip


@pytest.mark.asyncio
async def test_i_object_and_fragment(make_sim: SimFactory, client: UdpClient) -> None:
    """The answer to ``i`` is a JSON object or, optionally, a bare fragment."""
    sim = await make_sim(count=2)
    st = sim.stations[0]
    assert await client.request(st, "i") == '{"Firmware":"P30 v 3.10.27 (210105-174852)"}'
    sim2 = await make_sim(bind="127.0.0.4", firmware_style="fragment")
    reply = await client.request(sim2.stations[0], "i")
    assert reply == '"Firmware":"P30 v 3.10.27 (210105-174852)"'


@pytest.mark.asyncio
async def test_report1(make_sim: SimFactory, client: UdpClient) -> None:
    """Report 1 has the guide's fields in order and is pretty-printed."""
    sim = await make_sim(count=2, serial_base=18039974)
    second = sim.stations[1]
    text = await client.request(second, "report 1")
    assert text.startswith("{\n")  # pretty-printed like the guide
    data = json.loads(text)
    assert list(data) == REPORT1
    assert data["ID"] == "1"
    assert data["Serial"] == "18039975"
    assert data["Product"] == "KC-P30-ES240022-E0R"
    assert data["Firmware"] == "P30 v 3.10.27 (210105-174852)"
    assert (data["COM-module"], data["Backend"], data["timeQ"]) == (0, 0, 0)
    assert isinstance(data["Sec"], int)


@pytest.mark.asyncio
async def test_report1_extended_and_variants(make_sim: SimFactory, client: UdpClient) -> None:
    """Newer firmware adds DIP fields; x-series has a COM-module; P20 reports P20."""
    sim = await make_sim(variant="p30-x,p20", count=2, extended_report1=True, compact=True)
    x, p20 = sim.stations
    text = await client.request(x, "report 1")
    assert "\n" not in text
    data = json.loads(text)
    assert data["setBoot"] == 0
    assert data["DIP-Sw1"] == "0x25"
    assert data["DIP-Sw2"] == "0x02"
    assert data["timeQ"] == 3
    assert data["COM-module"] == 1
    assert list(data)[-1] == "Sec"
    data = await client.report(p20, 1)
    assert data["Product"].startswith("KC-P20")
    assert data["Firmware"].startswith("P20")


@pytest.mark.asyncio
async def test_report1_product_override(make_sim: SimFactory, client: UdpClient) -> None:
    """The product code can be overridden."""
    sim = await make_sim(product="KC-P30-EC220112-000-DE")
    assert (await client.report(sim.stations[0], 1))["Product"] == "KC-P30-EC220112-000-DE"


@pytest.mark.asyncio
async def test_report2_idle(make_sim: SimFactory, client: UdpClient) -> None:
    """Report 2 of an idle station: fields, order, integer values."""
    sim = await make_sim()
    st = sim.stations[0]
    data = await client.report(st, 2)
    assert list(data) == REPORT2
    assert data["ID"] == "2"
    assert data["State"] == 1
    assert data["Plug"] == 0  # socket outlet without cable
    assert data["Enable sys"] == 1
    assert data["Enable user"] == 1
    assert data["Max curr"] == 0
    assert data["Max curr %"] == 1000
    assert data["Curr HW"] == 32000
    assert data["Curr user"] == 63000
    assert data["Serial"] == st.serial
    assert all(isinstance(v, int) for k, v in data.items() if k not in ("ID", "Serial"))
    assert st.report(2) == data


@pytest.mark.asyncio
async def test_report2_charging_and_duty_cycle(make_sim: SimFactory, client: UdpClient) -> None:
    """Max curr % is the IEC duty cycle in 0.1 % (10 A -> 166)."""
    sim = await make_sim(scenario="charging", curr_hw_ma=10000)
    data = await client.report(sim.stations[0], 2)
    assert (data["State"], data["Plug"]) == (3, 7)
    assert data["Max curr"] == 10000
    assert data["Max curr %"] == 166  # the guide's example value for 10 A


@pytest.mark.asyncio
async def test_report3_idle_and_charging(make_sim: SimFactory, client: UdpClient) -> None:
    """Report 3: zeros when idle, 230 V and the vehicle's current when charging."""
    sim = await make_sim(scenario="idle,charging", count=2)
    idle, charging = sim.stations
    data = await client.report(idle, 3)
    assert list(data) == REPORT3
    assert data["ID"] == "3"
    assert [data[k] for k in ("U1", "U2", "U3", "I1", "I2", "I3", "P", "PF")] == [0] * 8
    data = await client.report(charging, 3)
    assert (data["U1"], data["U2"], data["U3"]) == (230, 230, 230)
    assert (data["I1"], data["I2"], data["I3"]) == (16000, 16000, 16000)
    assert data["PF"] == 990
    assert data["P"] == 230 * 16000 * 3 * 990 // 1000
    assert data["E total"] >= data["E pres"] >= 0


@pytest.mark.asyncio
async def test_report3_single_phase(make_sim: SimFactory, client: UdpClient) -> None:
    """A single-phase vehicle uses phase 1 only."""
    sim = await make_sim()
    st = sim.stations[0]
    st.plug_in(phases=1, max_current_a=10)
    data = await client.report(st, 3)
    assert (data["U1"], data["U2"], data["U3"]) == (230, 0, 0)
    assert (data["I1"], data["I2"], data["I3"]) == (10000, 0, 0)
    assert data["P"] == 230 * 10000 * 990 // 1000


@pytest.mark.asyncio
async def test_report3_without_meter(make_sim: SimFactory, client: UdpClient) -> None:
    """A station without meter reports zeros but still charges."""
    sim = await make_sim(variant="p30-de", scenario="charging")
    data = await client.report(sim.stations[0], 3)
    assert all(data[k] == 0 for k in REPORT3[1:-2])
    assert (await client.report(sim.stations[0], 2))["State"] == 3


@pytest.mark.asyncio
async def test_report_1xx_fields_and_empty_slots(make_sim: SimFactory, client: UdpClient) -> None:
    """Report 100 shows the running session; unused slots are all zero."""
    sim = await make_sim(scenario="charging")
    st = sim.stations[0]
    data = await client.report(st, 100)
    assert list(data) == REPORT1XX
    assert data["ID"] == "100"
    assert data["Session ID"] > 0
    assert data["reason"] == 0
    assert data["ended"] == "0"
    assert data["started"] == str(data["started[s]"] * 1000)
    assert data["RFID tag"] == "0" * 16
    assert data["RFID class"] == "0" * 20
    empty = await client.report(st, 130)
    assert empty["ID"] == "130"
    assert empty["Session ID"] == 0
    assert empty["started"] == "0"
    assert empty["Serial"] == st.serial


@pytest.mark.asyncio
async def test_unknown_reports(make_sim: SimFactory, client: UdpClient) -> None:
    """Unknown reports and report 1xx on a P20 answer TCH-ERR."""
    sim = await make_sim(variant="p30-c,p20", count=2)
    p30, p20 = sim.stations
    for text in ("report 4", "report 131", "report", "report x", "report 2 3"):
        assert (await client.request(p30, text)).startswith("TCH-ERR")
    assert (await client.request(p20, "report 100")).startswith("TCH-ERR")
    assert (await client.report(p20, 3))["ID"] == "3"


@pytest.mark.asyncio
async def test_all_replies_fit_512_bytes(make_sim: SimFactory, client: UdpClient) -> None:
    """Every report fits into 512 bytes even with all optional fields."""
    sim = await make_sim(scenario="charging", extended_report1=True, clock_synced=True)
    st = sim.stations[0]
    st.unplug()
    st.plug_in()
    for number in (1, 2, 3, 100, 101, 102):
        text = await client.request(st, f"report {number}")
        assert len(text.encode()) <= 512
        assert json.loads(text)["ID"] == str(number)


@pytest.mark.asyncio
async def test_bmw_connect_formats(make_sim: SimFactory, client: UdpClient) -> None:
    """The BMW Wallbox Connect variant answers in its firmware's published forms."""
    sim = await make_sim(variant="bmw-connect")
    st = sim.stations[0]
    report = await client.report(st, 1)
    assert report["ID"] == 1
    assert report["Product"] == "BMW-10-EC2405B2-E1R"
    assert report["COM-module"] == 1
    assert report["DIP-Sw"] == "0x2502"
    assert "DIP-Sw1" not in report
    assert report["timeQ"] == 3
    st.plug_in()
    st.unplug()
    history = await client.report(st, 101)
    assert history["started[s]"] > 1_600_000_000  # Unix seconds, not uptime
    assert await client.request(st, "display 0 0 0 0 hi") == "TCH-ERR :unknown command"
