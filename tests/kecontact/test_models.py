"""Typed models of the reports: units, enums, derived facts, timestamps, tolerance."""

from __future__ import annotations

from datetime import UTC, datetime
import json
import math
from typing import Any

import pytest

from custom_components.keba.kecontact import (
    ChargingSession,
    ChargingState,
    ChargingStatus,
    MeterReading,
    PlugState,
    SessionEndReason,
    StationInfo,
    TimeQuality,
)

from . import datagrams as d


def fields(text: str) -> dict[str, Any]:
    """The JSON fields of a datagram text."""
    value = json.loads(text)
    assert isinstance(value, dict)
    return value


# ----------------------------------------------------------------------------------- report 1
def test_report_1_of_the_guide() -> None:
    """The guide's report 1: identity, weak synced clock, no DIP switch fields."""
    info = StationInfo.from_report(fields(d.REPORT_1))
    assert info.product == "KC-P30-ES240022-E0R"
    assert info.serial == "18039974"
    assert info.firmware == "P30 v 3.9.12 (180109-164149)"
    assert info.com_module is False
    assert info.backend is False
    assert info.time_quality is TimeQuality.WEAK
    assert info.uptime_s == 227
    assert info.dip_switch_1 is None
    assert info.udp_control_enabled is None
    assert info.output_x2_enabled is None
    assert info.extra == {}


def test_report_1_with_undocumented_fields() -> None:
    """Newer firmware: setBoot, DIP-Sw1/2 as hex strings and timeQ 3 are read, not rejected."""
    info = StationInfo.from_report(fields(d.REPORT_1_EXTENDED))
    assert info.com_module is True
    assert info.time_quality is TimeQuality.STRONG
    assert info.set_boot == 0
    assert info.dip_switch_1 == 0x25
    assert info.dip_switch_2 == 0x02
    # 0x25: bits 0, 2 and 5, so DSW1.3 (UDP control) is on and DSW1.2 (output X2) is off.
    assert info.udp_control_enabled is True
    assert info.output_x2_enabled is False
    assert info.extra == {}


def test_report_1_keeps_unknown_fields() -> None:
    """Fields the engine does not know stay available for diagnostics."""
    raw = fields(d.REPORT_1) | {"Hostname": "keba-garage", "Lang": 2}
    assert StationInfo.from_report(raw).extra == {"Hostname": "keba-garage", "Lang": 2}


@pytest.mark.parametrize(
    ("raw", "quality"),
    [
        (0, TimeQuality.NOT_SYNCED),
        (2, TimeQuality.WEAK),
        (3, TimeQuality.STRONG),
        (1, TimeQuality.STRONG),
        ("2", TimeQuality.WEAK),
        (None, None),
        ("X", None),
    ],
)
def test_time_quality(raw: object, quality: TimeQuality | None) -> None:
    """timeQ: 0 not synced, 2 weak, any other number strong (the guide's "X")."""
    assert TimeQuality.from_raw(raw) is quality


# ----------------------------------------------------------------------------------- report 2
def test_report_2_charging_with_pending_timer() -> None:
    """§3.2.6: charging at 10 A while ``currtime 7000 20`` counts down; units converted."""
    status = ChargingStatus.from_report(fields(d.REPORT_2_CURRTIME_PENDING))
    assert status.state is ChargingState.CHARGING
    assert status.state_raw == 3
    assert status.plug is PlugState.STATION_LOCKED_VEHICLE
    assert status.error_1 == 0
    assert status.error_2 == 0
    assert status.auth_on is False
    assert status.auth_required is False
    assert status.enable_sys is True
    assert status.enable_user is True
    assert status.max_current == 10.0
    assert status.max_current_percent == pytest.approx(16.6)
    assert status.hardware_current_limit == 10.0
    assert status.user_current_limit == 63.0
    assert status.failsafe_current == 0.0
    assert status.failsafe_timeout_s == 0
    assert status.timer_current == 7.0
    assert status.timer_timeout_s == 17
    assert status.energy_limit_kwh == 0.0
    assert status.output == 0
    assert status.input_x1 is False
    assert status.serial == "18039974"
    assert status.uptime_s == 7510
    assert status.extra == {}
    assert status.vehicle_plugged is True
    assert status.cable_locked is True
    assert status.charging is True
    assert status.failsafe_enabled is False
    assert status.failsafe_triggered is False
    assert status.error is False


def test_report_2_after_timer() -> None:
    """§3.2.6: after the timer Curr user took the timer's 7 A; 116 ‰ duty cycle."""
    status = ChargingStatus.from_report(fields(d.REPORT_2_CURRTIME_APPLIED))
    assert status.max_current == 7.0
    assert status.max_current_percent == pytest.approx(11.6)
    assert status.user_current_limit == 7.0
    assert status.timer_timeout_s == 0


def test_report_2_disabled() -> None:
    """§3.3.1 ``ena 0``: not charging, 100 % duty cycle, pulse output 150.

    Enable sys 0 with Max curr equal to Curr FS (both 0) is not a triggered failsafe while no
    failsafe timeout is set.
    """
    status = ChargingStatus.from_report(fields(d.REPORT_2_DISABLED))
    assert status.state is ChargingState.NOT_READY
    assert status.enable_sys is False
    assert status.enable_user is False
    assert status.max_current == 0.0
    assert status.max_current_percent == 100.0
    assert status.output == 150
    assert status.charging is False
    assert status.failsafe_triggered is False


def test_failsafe_triggered() -> None:
    """§3.3.3: Enable sys 0 and Max curr equal to Curr FS, with a failsafe timeout set."""
    raw = fields(d.REPORT_2_CURRTIME_APPLIED) | {
        "Enable sys": 0,
        "Max curr": 6000,
        "Curr FS": 6000,
        "Tmo FS": 60,
    }
    status = ChargingStatus.from_report(raw)
    assert status.failsafe_enabled is True
    assert status.failsafe_current == 6.0
    assert status.failsafe_triggered is True
    assert ChargingStatus.from_report(raw | {"Enable sys": 1}).failsafe_triggered is False
    assert ChargingStatus.from_report(raw | {"Max curr": 7000}).failsafe_triggered is False
    assert ChargingStatus.from_report(raw | {"Tmo FS": 0}).failsafe_triggered is False
    unknown = {k: v for k, v in raw.items() if k != "Curr FS"}
    assert ChargingStatus.from_report(unknown).failsafe_triggered is None


@pytest.mark.parametrize(
    ("plug", "station", "locked", "vehicle", "enum"),
    [
        (0, False, False, False, PlugState.UNPLUGGED),
        (1, True, False, False, PlugState.STATION),
        (3, True, True, False, PlugState.STATION_LOCKED),
        (5, True, False, True, PlugState.STATION_VEHICLE),
        (7, True, True, True, PlugState.STATION_LOCKED_VEHICLE),
        (2, False, True, False, None),
    ],
)
def test_plug_states(
    plug: int, station: bool, locked: bool, vehicle: bool, enum: PlugState | None
) -> None:
    """Plug is a bit set: station side, locked, vehicle side."""
    status = ChargingStatus.from_report({"ID": "2", "Plug": plug})
    assert status.plug is enum
    assert status.plug_raw == plug
    assert status.cable_plugged_station is station
    assert status.cable_locked is locked
    assert status.vehicle_plugged is vehicle


@pytest.mark.parametrize(
    ("state", "enum", "charging", "error"),
    [
        (0, ChargingState.STARTING, False, False),
        (1, ChargingState.NOT_READY, False, False),
        (2, ChargingState.READY, False, False),
        (3, ChargingState.CHARGING, True, False),
        (4, ChargingState.ERROR, False, True),
        (5, ChargingState.INTERRUPTED, False, False),
        (9, None, False, False),
    ],
)
def test_charging_states(
    state: int, enum: ChargingState | None, charging: bool, error: bool
) -> None:
    """The six states of the guide; an unknown number keeps its raw value."""
    status = ChargingStatus.from_report({"ID": "2", "State": state, "Error1": 0, "Error2": 0})
    assert status.state is enum
    assert status.state_raw == state
    assert status.charging is charging
    assert status.error is error


def test_error_codes() -> None:
    """A non-zero Error1 or Error2 is an error even outside state 4."""
    assert ChargingStatus.from_report({"State": 1, "Error1": 0, "Error2": 17}).error is True
    assert ChargingStatus.from_report({"State": 1, "Error1": 8, "Error2": 0}).error is True
    empty = ChargingStatus.from_report({})
    assert empty.error is None
    assert empty.charging is None
    assert empty.vehicle_plugged is None
    assert empty.failsafe_enabled is None


def test_pushes_update_status() -> None:
    """Pushed fields replace their values, in the same units as report 2."""
    status = ChargingStatus.from_report(fields(d.REPORT_2_DISABLED))
    pushed = (
        status.with_push("Max curr", 100000)
        .with_push("State", 5)
        .with_push("Plug", 5)
        .with_push("Input", 1)
        .with_push("Enable sys", 1)
    )
    assert pushed.max_current == 100.0
    assert pushed.state is ChargingState.INTERRUPTED
    assert pushed.plug is PlugState.STATION_VEHICLE
    assert pushed.cable_locked is False
    assert pushed.input_x1 is True
    assert pushed.enable_sys is True
    assert pushed.user_current_limit == status.user_current_limit
    assert status.with_push("E pres", 5) is status
    assert status.with_push("Colour", 5) is status


def test_report_2_keeps_unknown_fields() -> None:
    """Unknown fields of report 2 land in ``extra``."""
    raw = fields(d.REPORT_2_DISABLED) | {"Curr HW2": 16000, "X2 phaseSwitch": 0}
    assert ChargingStatus.from_report(raw).extra == {"Curr HW2": 16000, "X2 phaseSwitch": 0}


# ----------------------------------------------------------------------------------- report 3
def test_report_3_idle() -> None:
    """Not connected: everything zero, no phase in use."""
    meter = MeterReading.from_report(fields(d.REPORT_3_IDLE))
    assert meter.voltage_1 == 0
    assert meter.power_w == 0
    assert meter.power_factor == 0
    assert meter.total_energy_kwh == 0
    assert meter.uptime_s == 1255
    assert meter.phases_in_use == 0


def test_report_3_charging() -> None:
    """The guide's charging example: V, mA→A, mW→W, PF 0.1 %→fraction, 0.1 Wh→kWh."""
    meter = MeterReading.from_report(fields(d.REPORT_3_CHARGING))
    assert (meter.voltage_1, meter.voltage_2, meter.voltage_3) == (228, 2, 2)
    assert meter.currents == (0.01, 0.0, 0.0)
    assert meter.power_w == pytest.approx(0.526)
    assert meter.power_factor == pytest.approx(0.218)
    assert meter.session_energy_kwh == 0
    assert meter.serial == "18039974"
    # 10 mA is measurement noise, not a phase in use.
    assert meter.phases_in_use == 0


def test_report_3_real_charge() -> None:
    """Two phases at 16 A, 7.3 kW, 12.3456 kWh in the session, 99 999.9999 kWh in total."""
    raw = fields(d.REPORT_3_STARTED) | {
        "U1": 230,
        "U2": 231,
        "U3": 229,
        "I1": 16000,
        "I2": 15990,
        "I3": 0,
        "P": 7330000,
        "PF": 995,
        "E pres": 123456,
        "E total": 999999999,
    }
    meter = MeterReading.from_report(raw)
    assert meter.currents == (16.0, 15.99, 0.0)
    assert meter.phases_in_use == 2
    assert meter.power_w == 7330.0
    assert meter.power_factor == pytest.approx(0.995)
    assert meter.session_energy_kwh == pytest.approx(12.3456)
    assert meter.total_energy_kwh == pytest.approx(99999.9999)
    assert meter.extra == {}


def test_e_pres_push() -> None:
    """A pushed E pres updates the session energy only."""
    meter = MeterReading.from_report(fields(d.REPORT_3_STARTED))
    pushed = meter.with_push("E pres", 54321)
    assert pushed.session_energy_kwh == pytest.approx(5.4321)
    assert pushed.power_w == meter.power_w
    assert meter.with_push("State", 3) is meter


def test_phases_unknown_without_currents() -> None:
    """No current fields, no phase count."""
    assert MeterReading.from_report({"ID": "3"}).phases_in_use is None


# -------------------------------------------------------------------------------- report 1xx
def test_report_100_ended_by_unplugging() -> None:
    """§3.2.5: uptime stamps only (no clock), ended by unplugging, no RFID."""
    session = ChargingSession.from_report(fields(d.REPORT_100))
    assert session.report_id == 100
    assert session.session_id == 13
    assert session.hardware_current_limit == 10.0
    assert session.energy_start_kwh == 0
    assert session.energy_kwh == 0
    assert session.started_uptime_s == 2107
    assert session.ended_uptime_s == 2334
    assert session.started is None
    assert session.ended is None
    assert session.end_reason is SessionEndReason.UNPLUGGED
    assert session.time_quality is TimeQuality.NOT_SYNCED
    assert session.is_empty is False
    assert session.is_active is False
    assert session.duration_s == 227
    assert session.rfid_used is False
    assert session.rfid_tag_used is None


def test_report_101_is_the_same_session() -> None:
    """The history entry of the same session differs only in its ID and Sec."""
    latest = ChargingSession.from_report(fields(d.REPORT_100))
    history = ChargingSession.from_report(fields(d.REPORT_101))
    assert history.report_id == 101
    assert history.uptime_s == 3003
    assert {**vars_of(history), "report_id": 0, "uptime_s": 0} == {
        **vars_of(latest),
        "report_id": 0,
        "uptime_s": 0,
    }


def vars_of(session: ChargingSession) -> dict[str, Any]:
    """A session's fields as a dict."""
    return {name: getattr(session, name) for name in session.__dataclass_fields__}


def test_report_100_running_rfid_session() -> None:
    """§3.2.10: a session authorized with a card is active and names its tag."""
    session = ChargingSession.from_report(fields(d.REPORT_100_RFID))
    assert session.end_reason is SessionEndReason.NOT_ENDED
    assert session.is_active is True
    assert session.duration_s is None
    assert session.rfid_used is True
    assert session.rfid_tag_used == "f2875063000000000"


def test_report_1xx_with_dates() -> None:
    """§3.2.11: after setdatetime the stamps are UTC dates; the duration follows from them."""
    running = ChargingSession.from_report(fields(d.REPORT_100_DATED))
    assert running.started == datetime(2018, 3, 30, 10, 19, 56, tzinfo=UTC)
    assert running.ended is None
    assert running.energy_start_kwh == pytest.approx(0.0059)
    assert running.is_active is True
    ended = ChargingSession.from_report(fields(d.REPORT_101_DATED))
    assert ended.ended == datetime(2018, 3, 30, 10, 22, 35, tzinfo=UTC)
    assert ended.time_quality is TimeQuality.WEAK
    assert ended.end_reason is SessionEndReason.UNPLUGGED
    assert ended.duration_s == 159


def test_session_deauthorized_and_empty() -> None:
    """Reason 10 is a deauthorization; an all-zero slot is empty."""
    raw = fields(d.REPORT_101) | {"reason": 10}
    assert ChargingSession.from_report(raw).end_reason is SessionEndReason.DEAUTHORIZED
    empty = ChargingSession.from_report(
        fields(d.REPORT_101)
        | {"Session ID": 0, "started[s]": 0, "ended[s]": 0, "reason": 0, "E pres": 0}
    )
    assert empty.is_empty is True
    assert empty.is_active is False
    assert empty.duration_s is None
    unknown_reason = ChargingSession.from_report(raw | {"reason": 4})
    assert unknown_reason.end_reason is None
    assert unknown_reason.end_reason_raw == 4


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2018-03-30 10:19:56.000", datetime(2018, 3, 30, 10, 19, 56, tzinfo=UTC)),
        ("2018-03-30 10:19:56", datetime(2018, 3, 30, 10, 19, 56, tzinfo=UTC)),
        ("2018-03-30 10:19:56.250", datetime(2018, 3, 30, 10, 19, 56, 250000, tzinfo=UTC)),
        ("2107000", None),
        ("0", None),
        ("2018-13-45 99:99:99.000", None),
        ("2018-03-30T10:19:56Z", None),
        (12345, None),
    ],
)
def test_session_timestamps(text: object, expected: datetime | None) -> None:
    """Only the guide's date format is a date; uptime strings and nonsense give None."""
    session = ChargingSession.from_report({"ID": "101", "started": text})
    assert session.started == expected


def test_session_keeps_unknown_fields() -> None:
    """Unknown fields of report 1xx land in ``extra``."""
    raw = fields(d.REPORT_100) | {"Card name": "garage"}
    assert ChargingSession.from_report(raw).extra == {"Card name": "garage"}


# --------------------------------------------------------------------------------- tolerance
@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("16000", 16.0),
        (" 16000 ", 16.0),
        (16000.0, 16.0),
        ("16000.0", 16.0),
        ("0x3E80", 16.0),
        (math.nan, None),
        (math.inf, None),
        (-math.inf, None),
        ("NaN", None),
        ("Infinity", None),
        ("sixteen", None),
        (None, None),
        ([16000], None),
        ({"mA": 16000}, None),
        (10**400, None),
        (-(10**400), None),
    ],
    ids=lambda value: repr(value)[:24],
)
def test_values_of_the_wrong_type(value: object, expected: float | None) -> None:
    """Numeric strings are read; anything else gives None and never raises."""
    status = ChargingStatus.from_report({"ID": "2", "Max curr": value, "State": value})
    assert status.max_current == expected
    meter = MeterReading.from_report({"ID": "3", "P": value, "E pres": value})
    assert meter.power_w == expected
    assert status.with_push("Max curr", value).max_current == expected


@pytest.mark.parametrize(
    "raw",
    [
        {},
        {"ID": "2"},
        {"ID": None, "Serial": 18039974, "Sec": "soon"},
        {"ID": "100", "Session ID": "x", "started": None, "ended": [], "RFID tag": 5},
        {"Product": None, "Serial": ["1"], "Firmware": {"v": 3}, "DIP-Sw1": "0xZZ"},
    ],
)
def test_no_model_raises(raw: dict[str, Any]) -> None:
    """Every model accepts any dict of fields and gives None where it cannot read a value."""
    StationInfo.from_report(raw)
    ChargingStatus.from_report(raw)
    MeterReading.from_report(raw)
    session = ChargingSession.from_report(raw)
    _ = (session.is_empty, session.is_active, session.duration_s, session.rfid_tag_used)


def test_current_target_prefers_a_running_timer() -> None:
    """What the station was told: ``Curr timer`` while ``Tmo CT`` runs, else ``Curr user``."""
    told = {"Curr user": 16000, "Curr timer": 8000, "Tmo CT": 0}
    assert ChargingStatus.from_report(told).current_target == 16.0
    assert ChargingStatus.from_report({**told, "Tmo CT": 12}).current_target == 8.0
    assert ChargingStatus.from_report({"Curr user": 0}).current_target == 0.0
    assert ChargingStatus.from_report({}).current_target is None
