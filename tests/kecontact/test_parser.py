"""Classification of datagrams: reports, command answers, firmware, pushes and garbage."""

from __future__ import annotations

import pytest

from custom_components.keba.kecontact.parser import (
    CommandReply,
    FirmwareReply,
    Malformed,
    PushMessage,
    ReportReply,
    parse_datagram,
)

from . import datagrams as d


@pytest.mark.parametrize(
    ("text", "report_id"),
    [
        (d.REPORT_1, 1),
        (d.REPORT_1_EXTENDED, 1),
        (d.REPORT_2_CURRTIME_PENDING, 2),
        (d.REPORT_2_DISABLED, 2),
        (d.REPORT_3_IDLE, 3),
        (d.REPORT_3_STARTED, 3),
        (d.REPORT_100, 100),
        (d.REPORT_100_RFID, 100),
        (d.REPORT_101, 101),
        (d.REPORT_101_DATED, 101),
    ],
)
def test_reports(text: str, report_id: int) -> None:
    """Every report example of the guide is a report with its numeric ID and all its fields."""
    result = parse_datagram(text.encode())
    assert isinstance(result, ReportReply)
    assert result.report_id == report_id
    assert result.fields["ID"] == str(report_id)
    assert result.fields["Serial"] == "18039974"


def test_report_id_as_number_and_padding() -> None:
    """An ID sent as a number, CR/LF line ends and NUL padding are all tolerated."""
    text = d.REPORT_3_IDLE.replace('"ID": "3"', '"ID": 3').replace("\n", "\r\n")
    result = parse_datagram(text.encode() + b"\x00\x00\r\n")
    assert isinstance(result, ReportReply)
    assert result.report_id == 3


@pytest.mark.parametrize(("text", "ok"), [(d.TCH_OK, True), (d.TCH_ERR, False)])
def test_command_replies(text: str, ok: bool) -> None:
    """``TCH-OK :done`` confirms, ``TCH-ERR…`` refuses; the text is kept."""
    result = parse_datagram(text.encode() + b"\n")
    assert result == CommandReply(ok=ok, text=text)


@pytest.mark.parametrize("text", [d.FIRMWARE_OBJECT, d.FIRMWARE_FRAGMENT])
def test_firmware(text: str) -> None:
    """``i`` answers as an object or as a bare fragment without braces."""
    result = parse_datagram(text.encode())
    assert isinstance(result, FirmwareReply)
    assert result.firmware == "P30 v 3.10.27 (210105-174852)"


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        (d.PUSH_MAX_CURR, {"Max curr": 16000}),
        (d.PUSH_MAX_CURR_SPACED, {"Max curr": 100000}),
        (d.PUSH_STATE, {"State": 5}),
        (d.PUSH_ENABLE_SYS, {"Enable sys": 0}),
        (d.PUSH_PLUG, {"Plug": 7}),
        (d.PUSH_INPUT, {"Input": 1}),
        (d.PUSH_E_PRES, {"E pres": 54321}),
        ('{"State": 3, "Max curr": 6000}', {"State": 3, "Max curr": 6000}),
    ],
)
def test_pushes(text: str, fields: dict[str, int]) -> None:
    """Status messages have no ID and only the guide's push fields."""
    assert parse_datagram(text.encode()) == PushMessage(fields=fields)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty"),
        (b"\x00\x00 \r\n", "empty"),
        (b"hello", "not json"),
        (b'{"State": 2', "not json"),
        (b"[1, 2, 3]", "not json"),
        (b'{"ID": "two"}', "bad report id"),
        (b'{"ID": null}', "bad report id"),
        (b'{"ID": [2]}', "bad report id"),
        (b'{"Firmware": 3}', "bad firmware"),
        (b'{"Voltage": 230}', "unknown object"),
        (b'{"State": 2, "Colour": "blue"}', "unknown object"),
        (b"{}", "unknown object"),
        (b"x" * 4096, "oversized"),
        (b"\xff\xfe\xfd", "not json"),
        (b"[" * 1500, "not json"),
    ],
)
def test_garbage(payload: bytes, reason: str) -> None:
    """Whatever cannot be read comes back as Malformed with a reason; nothing raises."""
    result = parse_datagram(payload)
    assert isinstance(result, Malformed)
    assert result.reason == reason
    assert len(result.text) <= 200


def test_non_utf8_inside_a_report() -> None:
    """A stray invalid byte inside a string value does not lose the report."""
    payload = d.REPORT_1.encode().replace(b"KC-P30", b"KC-P\xff0")
    result = parse_datagram(payload)
    assert isinstance(result, ReportReply)
    assert result.fields["Product"] == "KC-P\ufffd0-ES240022-E0R"
