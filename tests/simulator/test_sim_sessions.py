"""Sessions, history, reboot and the vehicle model."""

from __future__ import annotations

import asyncio

import pytest

from .simtest_helpers import SimFactory, UdpClient, wait_until

OK = "TCH-OK :done"


@pytest.mark.asyncio
async def test_sessions_move_to_history(make_sim: SimFactory, client: UdpClient) -> None:
    """Each unplug ends the session (reason 1); 101 is the newest, 100 repeats it."""
    sim = await make_sim()
    st = sim.stations[0]
    ids = []
    for _ in range(3):
        st.plug_in()
        await asyncio.sleep(0.05)
        current = st.report(100)
        assert (current["reason"], current["ended[s]"]) == (0, 0)
        ids.append(current["Session ID"])
        st.unplug()
    assert ids == [ids[0], ids[0] + 1, ids[0] + 2]
    newest = await client.report(st, 101)
    assert newest["Session ID"] == ids[2]
    assert newest["reason"] == 1
    assert newest["ended"] == str(newest["ended[s]"] * 1000)
    assert newest["E pres"] > 0
    oldest = await client.report(st, 103)
    assert oldest["Session ID"] == ids[0]
    summed = oldest["E start"] + oldest["E pres"] + st.report(102)["E pres"]
    assert 0 <= newest["E start"] - summed <= 2  # each value is cut to whole 0.1 Wh
    latest = await client.report(st, 100)
    assert latest | {"ID": "101", "Sec": 0} == newest | {"Sec": 0}
    assert (await client.report(st, 104))["Session ID"] == 0
    assert [h["Session ID"] for h in st.history] == ids[::-1]


@pytest.mark.asyncio
async def test_history_keeps_30(make_sim: SimFactory) -> None:
    """Only the last 30 sessions are kept."""
    sim = await make_sim()
    st = sim.stations[0]
    for _ in range(32):
        st.plug_in()
        st.unplug()
    assert len(st.history) == 30
    assert st.report(130)["Session ID"] == st.report(101)["Session ID"] - 29


@pytest.mark.asyncio
async def test_energy_integration(make_sim: SimFactory) -> None:
    """E pres and E total grow with P over time (0.1 Wh units)."""
    sim = await make_sim()
    st = sim.stations[0]
    total = st.report(3)["E total"]
    st.plug_in(phases=3, max_current_a=16)
    await asyncio.sleep(0.5)
    data = st.report(3)
    expected = data["P"] * 0.5 / 360_000  # ~15
    assert expected * 0.8 <= data["E pres"] <= expected * 1.5
    assert data["E total"] - total in (data["E pres"], data["E pres"] + 1)
    st.unplug()
    frozen = st.report(3)
    assert (frozen["P"], frozen["I1"], frozen["U1"]) == (0, 0, 0)
    assert frozen["E pres"] >= data["E pres"]  # kept until the next session starts
    st.plug_in()
    assert st.report(3)["E pres"] == 0


@pytest.mark.asyncio
async def test_vehicle_model(make_sim: SimFactory) -> None:
    """The vehicle draws min(Max curr, its maximum), or nothing when full."""
    sim = await make_sim(curr_hw_ma=16000)
    st = sim.stations[0]
    st.plug_in(phases=1, max_current_a=32)
    assert st.report(3)["I1"] == 16000
    st.set_vehicle_max_current(10)
    assert st.report(3)["I1"] == 10000
    st.vehicle_stops_drawing()
    assert (st.report(2)["State"], st.report(2)["Max curr"], st.report(3)["P"]) == (2, 16000, 0)
    st.vehicle_starts_drawing()
    assert st.report(2)["State"] == 3
    st.set_error(4711)
    assert (st.report(2)["State"], st.report(2)["Error1"], st.report(2)["Max curr"]) == (
        4,
        4711,
        0,
    )
    st.set_error(0)
    assert st.report(2)["State"] == 3


@pytest.mark.asyncio
async def test_plugged_scenario_and_cable_variant(make_sim: SimFactory) -> None:
    """``plugged``: vehicle connected, not drawing (State 2); fixed cable idles at Plug 3."""
    sim = await make_sim(scenario="plugged,idle", variant="p30-c,p30-x", count=2)
    plugged, cable = sim.stations
    assert (plugged.report(2)["State"], plugged.report(2)["Plug"]) == (2, 7)
    assert (cable.report(2)["State"], cable.report(2)["Plug"]) == (1, 3)
    cable.plug_in()
    cable.unplug()
    assert cable.report(2)["Plug"] == 3


@pytest.mark.asyncio
async def test_reboot(make_sim: SimFactory, client: UdpClient) -> None:
    """Reboot: Sec from 0, State 0 briefly, volatile settings reset, history kept."""
    sim = await make_sim(scenario="charging")
    st = sim.stations[0]
    st._boot_time -= 100  # pretend the station has been up for a while
    assert st.report(2)["Sec"] >= 100
    assert await client.request(st, "curr 10000") == OK
    assert await client.request(st, "ena 0") == OK
    assert await client.request(st, "output 1") == OK
    old_session = st.report(100)["Session ID"]
    st.reboot(boot_duration=0.2)
    data = await client.report(st, 2)
    assert (data["State"], data["Sec"], data["Enable sys"]) == (0, 0, 0)
    assert (await client.report(st, 100))["Session ID"] == 0
    assert st.report(101)["Session ID"] == old_session  # closed by the reboot
    await wait_until(lambda: st.report(2)["State"] != 0, within=1.0)
    data = st.report(2)
    assert (data["State"], data["Curr user"], data["Enable user"], data["Output"]) == (
        3,
        63000,
        1,
        0,
    )
    assert st.report(100)["Session ID"] == old_session + 1  # vehicle still plugged


@pytest.mark.asyncio
async def test_reboot_without_vehicle_zero_report100(make_sim: SimFactory) -> None:
    """After a reboot report 100 is all zero until a vehicle plugs in."""
    sim = await make_sim()
    st = sim.stations[0]
    st.plug_in()
    st.unplug()
    st.reboot(boot_duration=0.01)
    await asyncio.sleep(0.05)
    assert st.report(100)["Session ID"] == 0
    assert st.report(101)["reason"] == 1
    st.plug_in()
    assert st.report(100)["Session ID"] == st.report(101)["Session ID"] + 1


@pytest.mark.asyncio
async def test_past_sessions_fill_the_history_at_once(make_sim: SimFactory) -> None:
    """35 past sessions: consecutive IDs, the last 30 kept, meter and uptime consistent."""
    sim = await make_sim()
    st = sim.stations[0]
    total_before = st.report(3)["E total"]
    ids = st.record_past_sessions(35, energy_wh=5000, duration_s=1800, every_s=7200)
    assert ids == list(range(ids[0], ids[0] + 35))
    history = st.history
    assert len(history) == 30
    assert [h["Session ID"] for h in history] == ids[:4:-1]
    newest, oldest = history[0], history[-1]
    assert newest["E pres"] == 50000
    assert newest["reason"] == 1
    assert newest["ended[s]"] - newest["started[s]"] == 1800
    assert newest["started[s]"] - history[1]["started[s]"] == 7200
    # Uptime: the station has been running since before the first session.
    assert 0 < oldest["started[s]"] < newest["ended[s]"] <= newest["Sec"]
    assert newest["E start"] == oldest["E start"] + 29 * 50000
    assert st.report(3)["E total"] - total_before == 35 * 50000
    # A plugged vehicle now starts the next session ID.
    st.plug_in()
    assert st.report(100)["Session ID"] == ids[-1] + 1


@pytest.mark.asyncio
async def test_past_sessions_with_a_set_clock_carry_dates(make_sim: SimFactory) -> None:
    """With the clock set, past sessions have dates and the clock's quality."""
    sim = await make_sim()
    st = sim.stations[0]
    st.set_datetime(1_750_000_000, time_q=3)
    st.record_past_sessions(2, every_s=3600, duration_s=600, ago_s=86400, rfid_tag="04a1b2c3")
    newest = st.history[0]
    assert newest["timeQ"] == 3
    assert newest["RFID tag"] == "04a1b2c3" + "0" * 8
    assert newest["ended"].startswith("2025-06-14")
    assert newest["ended[s]"] - newest["started[s]"] == 600
