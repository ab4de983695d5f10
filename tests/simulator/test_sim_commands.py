"""Commands: replies, errors and their effects on the station."""

from __future__ import annotations

import asyncio
import json

import pytest

from simulator import station as station_module
from simulator.station import ABSURD_DATAGRAMS

from .simtest_helpers import SimFactory, UdpClient, wait_until

OK = "TCH-OK :done"
UNKNOWN = "TCH-ERR :unknown command"
INVALID = "TCH-ERR :invalid parameter"


@pytest.mark.asyncio
async def test_error_replies(make_sim: SimFactory, client: UdpClient) -> None:
    """Unknown commands and invalid parameters answer TCH-ERR and change nothing."""
    sim = await make_sim()
    st = sim.stations[0]
    before = st.report(2)
    assert await client.request(st, "foo") == UNKNOWN
    assert await client.request(st, "currtimer 6000 1") == UNKNOWN
    for text in (
        "i x",
        "curr",
        "curr 5999",
        "curr 63001",
        "curr abc",
        "curr -6000",
        "currtime 6000",
        "currtime 5000 1",
        "currtime 6000 860401",
        "currtime 6000 x",
        "ena 2",
        "ena",
        "setenergy 100000000",
        "setenergy -1",
        "failsafe 5 6000 0",
        "failsafe 601 6000 0",
        "failsafe 10 5000 0",
        "failsafe 10 6000 2",
        "failsafe 10 6000",
        "start",
        "start xyz",
        "start 12345678901234567",
        "start 1234 123456789012345678901",
        "stop",
        "stop zz",
        "display 2 0 0 0 hi",
        "display 0 0 0 0 " + "x" * 24,
        "display 0 0 0 0 two words",
        "display 0 x 0 0 hi",
        "setdatetime abc",
        "unlock now",
    ):
        assert await client.request(st, text) == INVALID, text
    assert st.report(2) | {"Sec": 0} == before | {"Sec": 0}


@pytest.mark.asyncio
async def test_case_insensitive_command(make_sim: SimFactory, client: UdpClient) -> None:
    """Command names are case-insensitive (the guide writes ``currtIME``)."""
    sim = await make_sim()
    st = sim.stations[0]
    assert await client.request(st, "currtIME 18000 1") == OK
    await wait_until(lambda: st.report(2)["Curr user"] == 18000)
    assert (await client.report(st, 2))["Curr timer"] == 18000


@pytest.mark.asyncio
async def test_ena_reply_then_push(make_sim: SimFactory, client: UdpClient) -> None:
    """``ena 0`` answers first, then pushes ``Enable sys`` 0; ``ena 1`` re-enables."""
    sim = await make_sim()
    st = sim.stations[0]
    assert await client.request(st, "ena 0") == OK
    assert await client.collect_pushes(0.1) == [{"Enable sys": 0}]
    texts = [text for _, _, text in client.log]
    assert texts == [OK, '{"Enable sys": 0}']
    data = await client.report(st, 2)
    assert (data["Enable sys"], data["Enable user"]) == (0, 0)
    assert await client.request(st, "ena 1") == OK
    assert await client.collect_pushes(0.1) == [{"Enable sys": 1}]


@pytest.mark.asyncio
async def test_curr_iec_delay(make_sim: SimFactory, client: UdpClient) -> None:
    """``curr`` changes Curr user at once and Max curr after the IEC delay."""
    sim = await make_sim(scenario="charging", current_change_delay=0.3)
    st = sim.stations[0]
    assert await client.request(st, "curr 10000") == OK
    data = await client.report(st, 2)
    assert (data["Curr user"], data["Max curr"]) == (10000, 32000)
    pushes = await client.collect_pushes(0.45)
    assert {"Max curr": 10000} in pushes
    data = await client.report(st, 3)
    assert data["I1"] == 10000
    assert (await client.report(st, 2))["Max curr %"] == 166


@pytest.mark.asyncio
async def test_iec_delay_overwrites_without_restart(
    make_sim: SimFactory, client: UdpClient
) -> None:
    """A second change inside the window replaces the target; the timer keeps running."""
    sim = await make_sim(scenario="charging", current_change_delay=0.4)
    st = sim.stations[0]
    loop = asyncio.get_running_loop()
    start = loop.time()
    assert await client.request(st, "curr 8000") == OK
    await asyncio.sleep(0.2)
    assert await client.request(st, "curr 12000") == OK
    assert st.report(2)["Max curr"] == 32000
    await wait_until(lambda: st.report(2)["Max curr"] != 32000, within=1.0)
    elapsed = loop.time() - start
    assert 0.35 <= elapsed < 0.55
    assert st.report(2)["Max curr"] == 12000


@pytest.mark.asyncio
async def test_no_iec_delay_without_session(make_sim: SimFactory, client: UdpClient) -> None:
    """Without a vehicle the new current is used at once when one plugs in."""
    sim = await make_sim(current_change_delay=5)
    st = sim.stations[0]
    assert await client.request(st, "curr 7500") == OK
    st.plug_in()
    assert st.report(2)["Max curr"] == 7500


@pytest.mark.asyncio
async def test_currtime_timer(make_sim: SimFactory, client: UdpClient) -> None:
    """Command ``currtime`` sets Curr timer and Tmo CT counts down; then Curr user follows."""
    sim = await make_sim(scenario="charging", timer_scale=0.1, current_change_delay=0.2)
    st = sim.stations[0]
    assert await client.request(st, "currtime 7000 3") == OK
    data = await client.report(st, 2)
    assert (data["Curr timer"], data["Tmo CT"], data["Curr user"]) == (7000, 3, 63000)
    await wait_until(lambda: st.report(2)["Curr user"] == 7000, within=1.0)
    data = st.report(2)
    assert (data["Curr timer"], data["Tmo CT"], data["Max curr"]) == (7000, 0, 32000)
    await wait_until(lambda: st.report(2)["Max curr"] == 7000, within=1.0)
    assert st.report(2)["Max curr %"] == 116


@pytest.mark.asyncio
async def test_currtime_cancel(make_sim: SimFactory, client: UdpClient) -> None:
    """``currtime 0 0`` cancels a running timer; ``currtime <mA> 0`` does too."""
    sim = await make_sim(timer_scale=0.1)
    st = sim.stations[0]
    assert await client.request(st, "currtime 10000 50") == OK
    assert st.report(2)["Tmo CT"] == 50
    assert await client.request(st, "currtime 0 0") == OK
    data = st.report(2)
    assert (data["Curr timer"], data["Tmo CT"], data["Curr user"]) == (0, 0, 63000)
    assert await client.request(st, "currtime 10000 50") == OK
    assert await client.request(st, "currtime 12000 0") == OK
    assert st.report(2)["Tmo CT"] == 0
    await asyncio.sleep(0.1)
    assert st.report(2)["Curr user"] == 63000


@pytest.mark.asyncio
async def test_currtime_pause_resets_at_unplug(make_sim: SimFactory, client: UdpClient) -> None:
    """``currtime 0 1`` stops charging at once until unplug; then everything is reset."""
    sim = await make_sim(scenario="charging", timer_scale=0.1, current_change_delay=5)
    st = sim.stations[0]
    assert await client.request(st, "currtime 0 1") == OK
    pushes = await client.collect_pushes(0.25)
    assert {"Enable sys": 0} in pushes
    assert {"Max curr": 0} in pushes
    assert {"State": 5} in pushes
    data = st.report(2)
    assert (data["Enable sys"], data["Enable user"], data["Curr user"]) == (0, 1, 0)
    assert await client.request(st, "ena 1") == OK  # does not lift the pause
    assert st.report(2)["Max curr"] == 0
    st.unplug()
    data = st.report(2)
    assert (data["Enable sys"], data["Curr user"], data["Curr timer"]) == (1, 63000, 0)
    st.plug_in()
    data = st.report(2)
    assert (data["State"], data["Max curr"]) == (3, 32000)


@pytest.mark.asyncio
async def test_currtime_lifts_pause_and_ena0(make_sim: SimFactory, client: UdpClient) -> None:
    """A new currtime ends a pause and an ``ena 0`` when its timer expires (guide example 2)."""
    sim = await make_sim(scenario="plugged,plugged", count=2, timer_scale=0.1)
    paused, disabled = sim.stations
    assert await client.request(paused, "currtime 0 1") == OK
    await wait_until(lambda: paused.report(2)["Enable sys"] == 0, within=1.0)
    assert await client.request(paused, "currtime 7500 1") == OK
    await wait_until(lambda: paused.report(2)["Max curr"] == 7500, within=1.0)
    assert await client.request(disabled, "ena 0") == OK
    assert await client.request(disabled, "currtime 7500 2") == OK
    data = disabled.report(2)
    assert (data["Enable user"], data["Curr timer"], data["Tmo CT"]) == (0, 7500, 2)
    await wait_until(lambda: disabled.report(2)["Enable user"] == 1, within=1.0)
    data = disabled.report(2)
    assert (data["Enable sys"], data["Max curr"], data["State"]) == (1, 7500, 2)


@pytest.mark.asyncio
async def test_ena0_survives_unplug(make_sim: SimFactory, client: UdpClient) -> None:
    """``ena 0`` stays in force after unplugging (unlike ``currtime 0 1``)."""
    sim = await make_sim(scenario="charging")
    st = sim.stations[0]
    assert await client.request(st, "ena 0") == OK
    assert (st.report(2)["State"], st.report(2)["Max curr"]) == (5, 0)
    st.unplug()
    st.plug_in()
    data = st.report(2)
    assert (data["State"], data["Enable sys"], data["Enable user"], data["Max curr"]) == (
        1,
        0,
        0,
        0,
    )


@pytest.mark.asyncio
async def test_curr_survives_unplug_currtime_does_not(
    make_sim: SimFactory, client: UdpClient
) -> None:
    """``curr`` is permanent until reboot; a current set by currtime resets at unplug."""
    sim = await make_sim(count=2, scenario="charging", timer_scale=0.1)
    by_curr, by_currtime = sim.stations
    assert await client.request(by_curr, "curr 7500") == OK
    assert await client.request(by_currtime, "curr 7500") == OK
    assert await client.request(by_currtime, "currtime 9000 1") == OK
    await wait_until(lambda: by_currtime.report(2)["Curr user"] == 9000, within=1.0)
    for st in sim.stations:
        st.unplug()
    assert by_curr.report(2)["Curr user"] == 7500
    assert by_currtime.report(2)["Curr user"] == 63000
    by_curr.plug_in()
    assert by_curr.report(2)["Max curr"] == 7500


@pytest.mark.asyncio
async def test_setenergy_limit(make_sim: SimFactory, client: UdpClient) -> None:
    """Reaching the setenergy limit disables charging; unplugging resets the limit."""
    sim = await make_sim(scenario="charging")
    st = sim.stations[0]
    target = st.report(3)["E pres"] + 3  # 0.3 Wh: about 0.1 s at 10.9 kW
    assert await client.request(st, f"setenergy {target}") == OK
    assert st.report(2)["Setenergy"] == target
    await wait_until(lambda: st.report(2)["Enable sys"] == 0, within=1.0)
    data = st.report(2)
    assert (data["State"], data["Max curr"], data["Enable user"]) == (5, 0, 1)
    assert st.report(3)["E pres"] >= target
    assert await client.request(st, "setenergy 0") == OK
    assert st.report(2)["State"] == 3
    assert await client.request(st, "setenergy 1") == OK  # below E pres: reached at once
    assert st.report(2)["State"] == 5
    st.unplug()
    assert (st.report(2)["Setenergy"], st.report(2)["Enable sys"]) == (0, 1)


@pytest.mark.asyncio
async def test_output(make_sim: SimFactory, client: UdpClient) -> None:
    """Command ``output``: 0/1 set the relay, 2-9 get no reply, >= 10 is stored (EEPROM write)."""
    sim = await make_sim()
    st = sim.stations[0]
    assert await client.request(st, "output 1") == OK
    assert st.report(2)["Output"] == 1
    await client.no_reply(st, "output 5")
    assert st.report(2)["Output"] == 1
    assert await client.request(st, "output 150") == OK
    assert (st.report(2)["Output"], st.eeprom_writes) == (150, 1)
    assert await client.request(st, "output x") == OK  # invalid value: relay off
    assert st.report(2)["Output"] == 0
    assert st.summary()["eeprom_writes"] == {"failsafe": 0, "output": 1, "total": 1}


@pytest.mark.asyncio
async def test_display(make_sim: SimFactory, client: UdpClient) -> None:
    """Command ``display`` keeps the last text ($ as space); no display: rejected."""
    sim = await make_sim(variant="p30-c,p30-de", count=2)
    st, without = sim.stations
    assert await client.request(st, "display 1 2 10 0 Charging$16$A") == OK
    assert st.last_display_text == "Charging 16 A"
    assert st.display is not None
    assert (st.display["min"], st.display["max"]) == (2, 10)
    assert await client.request(st, "display 0 0 0 0 " + "y" * 23) == OK
    assert st.last_display_text == "y" * 23
    assert await client.request(without, "display 0 0 0 0 hello") == UNKNOWN
    assert without.last_display_text is None


@pytest.mark.asyncio
async def test_unlock(make_sim: SimFactory, client: UdpClient) -> None:
    """The ``unlock`` command releases the cable (Plug 5) only when charging is stopped."""
    sim = await make_sim(scenario="charging")
    st = sim.stations[0]
    assert await client.request(st, "unlock") == OK
    assert st.report(2)["Plug"] == 7
    assert await client.request(st, "ena 0") == OK
    assert await client.request(st, "unlock") == OK
    assert {"Plug": 5} in await client.collect_pushes(0.1)
    assert st.report(2)["Plug"] == 5


@pytest.mark.asyncio
async def test_setdatetime(make_sim: SimFactory, client: UdpClient) -> None:
    """The ``setdatetime`` command gives timeQ 2 and UTC date strings in the session reports."""
    sim = await make_sim()
    st = sim.stations[0]
    assert await client.request(st, "setdatetime 1522405176") == OK
    assert (await client.report(st, 1))["timeQ"] == 2
    st.plug_in()
    data = await client.report(st, 100)
    assert data["started"].startswith("2018-03-30 10:19:3")
    assert data["started"].endswith(".000")
    assert 1522405176 <= data["started[s]"] <= 1522405178
    assert (data["ended"], data["timeQ"]) == ("0", 0)
    st.unplug()
    data = await client.report(st, 101)
    assert data["ended"].startswith("2018-03-30 10:19:3")
    assert (data["reason"], data["timeQ"]) == (1, 2)
    assert await client.report(st, 100) | {"ID": "101"} == data | {"Sec": data["Sec"]}


@pytest.mark.asyncio
async def test_rfid_start_stop_c_series(make_sim: SimFactory, client: UdpClient) -> None:
    """A whitelist locks a c-series station; start/stop (de)authorize, stop ends with reason 10."""
    sim = await make_sim()
    st = sim.stations[0]
    st.add_rfid_whitelist("f2875063", "01")
    data = await client.report(st, 2)
    assert (data["AuthON"], data["Authreq"], data["State"], data["Enable sys"]) == (1, 1, 1, 0)
    st.plug_in()
    data = st.report(2)
    assert (data["State"], data["Plug"], data["Max curr"]) == (1, 7, 0)
    assert await client.request(st, "start 12345678") == OK  # not whitelisted: no effect
    assert st.report(2)["Authreq"] == 1
    assert await client.request(st, "start f2875063") == OK
    data = st.report(2)
    assert (data["Authreq"], data["State"], data["Max curr"]) == (0, 3, 32000)
    session = st.report(100)
    assert session["RFID tag"] == "f287506300000000"
    assert session["RFID class"] == "01" + "0" * 18
    assert await client.request(st, "stop 12345678") == OK  # not the starting tag
    assert st.report(2)["State"] == 3
    client.drain()
    assert await client.request(st, "stop f2875063") == OK
    pushes = await client.collect_pushes(0.1)
    assert pushes == [{"Enable sys": 0}, {"State": 5}, {"Max curr": 0}]  # guide's order
    history = st.report(101)
    assert (history["reason"], history["RFID tag"]) == (10, "f287506300000000")
    assert history["Session ID"] == session["Session ID"]


@pytest.mark.asyncio
async def test_rfid_x_series_setting_and_swipe(make_sim: SimFactory, client: UdpClient) -> None:
    """On the x-series authorization is a setting; a swiped card authorizes and deauthorizes."""
    sim = await make_sim(variant="p30-x")
    st = sim.stations[0]
    st.add_rfid_whitelist("abcd")
    assert (st.report(2)["AuthON"], st.report(2)["Plug"]) == (0, 3)  # fixed cable
    st.set_auth(True)
    assert (st.report(2)["AuthON"], st.report(2)["Authreq"]) == (1, 1)
    assert st.swipe_rfid("abcd")  # authorized before plugging in
    data = st.report(2)
    assert (data["Authreq"], data["State"], data["Plug"]) == (0, 1, 3)
    st.plug_in()
    assert st.report(2)["State"] == 3
    assert st.report(100)["RFID tag"] == "abcd" + "0" * 12
    assert st.swipe_rfid("abcd")
    assert (st.report(2)["State"], st.report(101)["reason"]) == (5, 10)
    st.unplug()
    assert st.report(2)["Authreq"] == 1


@pytest.mark.asyncio
async def test_failsafe_trigger_and_keepalive(
    make_sim: SimFactory, client: UdpClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without curr/currtime/ena within the timeout: Enable sys 0 and Max curr = Curr FS."""
    monkeypatch.setattr(station_module, "FAILSAFE_MIN_TIMEOUT_S", 1)
    sim = await make_sim(scenario="charging", timer_scale=0.1)
    st = sim.stations[0]
    assert await client.request(st, "failsafe 2 8000 0") == OK  # 0.2 s here
    data = st.report(2)
    assert (data["Tmo FS"], data["Curr FS"], data["Enable sys"]) == (2, 8000, 1)
    for _ in range(3):  # keep it alive
        await asyncio.sleep(0.1)
        assert await client.request(st, "currtime 20000 1") == OK
    assert st.report(2)["Enable sys"] == 1
    pushes = await client.collect_pushes(0.35)
    assert {"Enable sys": 0} in pushes
    assert {"Max curr": 8000} in pushes
    data = st.report(2)
    assert (data["Enable sys"], data["Max curr"], data["State"]) == (0, 8000, 3)
    assert st.report(3)["I1"] == 8000
    assert await client.request(st, "ena 1") == OK
    data = st.report(2)
    assert data["Enable sys"] == 1
    assert data["Max curr"] > 8000
    assert st.eeprom_writes == 0


@pytest.mark.asyncio
async def test_failsafe_saved_survives_reboot(make_sim: SimFactory, client: UdpClient) -> None:
    """``failsafe ... 1`` is stored (EEPROM write) and active after a reboot; ``0`` is not."""
    sim = await make_sim(count=2, failsafe_min_timeout=10)
    saved, volatile = sim.stations
    assert await client.request(saved, "failsafe 60 6000 1") == OK
    assert await client.request(volatile, "failsafe 60 6000 0") == OK
    assert (saved.eeprom_writes, volatile.eeprom_writes) == (1, 0)
    for st in sim.stations:
        st.reboot(boot_duration=0.05)
    assert (saved.report(2)["Tmo FS"], saved.report(2)["Curr FS"]) == (60, 6000)
    assert (volatile.report(2)["Tmo FS"], volatile.report(2)["Curr FS"]) == (0, 0)
    assert await client.request(saved, "failsafe 0 0 0") == OK
    assert saved.report(2)["Tmo FS"] == 0


@pytest.mark.asyncio
async def test_p20_has_no_currtime(make_sim: SimFactory, client: UdpClient) -> None:
    """P20 rejects currtime (and report 1xx, display) but takes curr."""
    sim = await make_sim(variant="p20,p20-e", count=2, scenario="charging")
    p20, p20e = sim.stations
    assert await client.request(p20, "currtime 10000 1") == UNKNOWN
    assert await client.request(p20, "display 0 0 0 0 hi") == UNKNOWN
    assert await client.request(p20, "curr 10000") == OK
    assert p20.report(2)["Curr user"] == 10000
    assert (await client.report(p20, 3))["P"] > 0
    assert (await client.report(p20e, 3))["P"] == 0
    p20.unplug()
    assert p20.history[0]["reason"] == 1  # kept internally, though not readable over UDP


@pytest.mark.asyncio
async def test_udp_disabled(make_sim: SimFactory, client: UdpClient) -> None:
    """With DSW1.3 off only ``i`` and ``report 1`` are answered."""
    sim = await make_sim(udp_disabled=True, extended_report1=True, scenario="charging")
    st = sim.stations[0]
    assert "Firmware" in await client.request(st, "i")
    # 0x25 with DSW1.3 cleared: 0x20 (DSW1.1 = MSB reading) and 0x04 (LSB reading) both off.
    assert (await client.report(st, 1))["DIP-Sw1"] == "0x01"
    await client.no_reply(st, "report 2")
    await client.no_reply(st, "ena 0")
    assert st.report(2)["Enable user"] == 1


@pytest.mark.asyncio
async def test_pushes(make_sim: SimFactory, client: UdpClient) -> None:
    """Plug, State, Max curr, Input and E pres are pushed to the last client."""
    sim = await make_sim(energy_push_interval=0.2)
    st = sim.stations[0]
    st.set_input(True)  # nobody has talked to the station yet: no push
    assert await client.request(st, "i")
    st.plug_in()
    pushes = await client.collect_pushes(0.05)
    assert pushes == [{"Plug": 1}, {"Plug": 3}, {"Plug": 7}, {"Max curr": 32000}, {"State": 3}]
    st.set_input(False)
    assert await client.collect_pushes(0.05) == [{"Input": 0}]
    energy = [push["E pres"] for push in await client.collect_pushes(0.5) if "E pres" in push]
    assert len(energy) >= 2  # one every 0.2 s
    assert 0 < energy[0] < energy[1]
    st.vehicle_stops_drawing()
    pushes = await client.collect_pushes(0.05)
    assert {"State": 2} in pushes


@pytest.mark.asyncio
async def test_handle_command_without_network(make_sim: SimFactory) -> None:
    """``Station.handle_command`` executes a command text directly."""
    sim = await make_sim()
    st = sim.stations[0]
    assert st.handle_command("curr 16000") == OK
    assert json.loads(st.handle_command("report 2") or "")["Curr user"] == 16000
    assert st.handle_command("") is None


@pytest.mark.asyncio
async def test_udp_off_variant(make_sim: SimFactory, client: UdpClient) -> None:
    """The ``p30-c-udp-off`` variant: DSW1.3 off without any option, its DIP bit clear."""
    sim = await make_sim(variant="p30-c-udp-off")
    st = sim.stations[0]
    report = await client.report(st, 1)
    assert int(report["DIP-Sw1"], 16) & 0x20 == 0
    assert int(report["DIP-Sw1"], 16) & 0x04 == 0
    await client.no_reply(st, "report 2")
    await client.no_reply(st, "report 3")
    assert "Firmware" in await client.request(st, "i")


@pytest.mark.asyncio
async def test_absurd_values_mode(make_sim: SimFactory, client: UdpClient) -> None:
    """Fault mode ``absurd``: answers carry one impossible value, pushes get a forged twin."""
    sim = await make_sim(absurd=1.0, scenario="charging")
    st = sim.stations[0]
    report_2 = await client.report(st, 2)
    report_3 = await client.report(st, 3)
    assert any(report_2.get(k) == v for k, v in station_module._ABSURD_VALUES[2]), report_2
    assert any(report_3.get(k) == v for k, v in station_module._ABSURD_VALUES[3]), report_3
    assert st.stats["absurd_sent"] >= 2


@pytest.mark.asyncio
async def test_inject_absurd(make_sim: SimFactory, client: UdpClient) -> None:
    """``inject_absurd`` sends the robustness issue's forged datagrams to the last client."""
    sim = await make_sim()
    st = sim.stations[0]
    await client.report(st, 1)
    assert st.inject_absurd() == len(ABSURD_DATAGRAMS)
    received = [(await client.recv())[2] for _ in ABSURD_DATAGRAMS]
    assert [json.loads(text) for text in received] == list(ABSURD_DATAGRAMS)
