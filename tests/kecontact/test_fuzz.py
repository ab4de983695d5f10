"""Fuzzing the receive path with 100 000 random and mutated datagrams.

Real datagrams (the guide's reports, pushes, answers; the simulator's pretty-printed reports)
are mutated with bit flips, truncation, duplication, huge numbers, values of the wrong type,
NaN and Infinity, deep nesting and invalid UTF-8, or replaced by random bytes and random JSON.
They go through ``KebaEndpoint.datagram_received`` from the linked station's address and from
unknown addresses, and through ``parse_datagram`` and every model constructor directly.

Checked: nothing raises or is logged as an error, unknown senders never change a station's
state, the set of remembered unknown senders stays capped, and memory does not grow with the
number of datagrams.

A second run sends well-formed JSON with impossible magnitudes (valid types) as answers and
pushes: no state changes and no statistic-bearing value goes backwards.
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable, Iterator
import json
import logging
import random
import re
import tracemalloc

import pytest

from custom_components.keba.kecontact import (
    Capabilities,
    ChargingSession,
    ChargingStatus,
    EndpointPool,
    KebaError,
    KebaStation,
    MeterReading,
    StationInfo,
)
from custom_components.keba.kecontact.const import PUSH_FIELDS
from custom_components.keba.kecontact.parser import (
    FirmwareReply,
    PushMessage,
    ReportReply,
    parse_datagram,
)
from tests.common import LoopbackNet

from . import datagrams as d

DATAGRAMS = 100_000
#: Datagrams before memory is measured (caches, interned strings, counters settle).
WARM_UP = 20_000
#: Live memory the measured 80 000 datagrams may leave behind.
MEMORY_BOUND = 256 * 1024
#: Distinct unknown senders used (more than the endpoint remembers).
STRANGERS = 1_000
SEED = 20240521

HUGE = [
    "9" * 400,
    "-" + "9" * 400,
    "1e400",
    "-1e400",
    "1e308",
    "18446744073709551617",
    "-9223372036854775809",
    "4294967296",
    "0.000000000000000000000000001",
]
WRONG = [
    '"x"',
    '""',
    '"16000"',
    '" 7 "',
    '"0x25"',
    "null",
    "true",
    "false",
    "[]",
    "[1, 2]",
    "{}",
    '{"a": 1}',
    "-0",
    "0.5",
    '"\\u0000"',
    '"\\ud800"',
    "NaN",
    "Infinity",
    "-Infinity",
]
FIELD_NAMES = sorted(
    PUSH_FIELDS
    | {
        "ID",
        "Product",
        "Serial",
        "Firmware",
        "COM-module",
        "timeQ",
        "DIP-Sw1",
        "setBoot",
        "Sec",
        "Curr FS",
        "Tmo FS",
        "Setenergy",
        "Output",
        "I1",
        "P",
        "PF",
        "E total",
        "Session ID",
        "started",
        "ended",
        "reason",
        "RFID tag",
        "RFID class",
    }
)
NUMBER = re.compile(rb"-?\d+(\.\d+)?")
VALUE = re.compile(rb':\s*("[^"]*"|-?[\d.]+)')


def seeds() -> list[bytes]:
    """Real datagrams: the guide's, and reports as the simulator pretty-prints them."""
    simulator_report = json.dumps(
        json.loads(d.REPORT_2_CURRTIME_PENDING) | {"Curr user": 16000}, indent=2
    )
    return [text.encode() for text in (*d.ALL.values(), simulator_report)]


class Mutator:
    """Makes fuzz datagrams from real ones."""

    def __init__(self, rng: random.Random) -> None:
        """Use ``rng`` for every choice."""
        self.rng = rng
        self.seeds = seeds()
        self.operations: list[Callable[[bytes], bytes]] = [
            self.flip_bits,
            self.truncate,
            self.duplicate,
            self.huge_number,
            self.wrong_type,
            self.wrong_type,
            self.nest,
            self.invalid_utf8,
            self.splice,
            self.pad,
        ]

    def __iter__(self) -> Iterator[bytes]:
        """Endless fuzz datagrams."""
        rng = self.rng
        while True:
            roll = rng.random()
            if roll < 0.06:
                yield rng.randbytes(rng.randint(0, 600))
            elif roll < 0.18:
                yield self.random_json()
            else:
                data = rng.choice(self.seeds)
                for _ in range(rng.randint(1, 3)):
                    data = rng.choice(self.operations)(data)
                yield data

    def flip_bits(self, data: bytes) -> bytes:
        """Flip one to eight bits."""
        if not data:
            return data
        buffer = bytearray(data)
        for _ in range(self.rng.randint(1, 8)):
            index = self.rng.randrange(len(buffer))
            buffer[index] ^= 1 << self.rng.randrange(8)
        return bytes(buffer)

    def truncate(self, data: bytes) -> bytes:
        """Cut the datagram short."""
        return data[: self.rng.randint(0, len(data))]

    def duplicate(self, data: bytes) -> bytes:
        """Send it twice in one datagram, or repeat a slice of it."""
        if self.rng.random() < 0.5 or len(data) < 2:
            return data + self.rng.choice([b"", b"\n", b" "]) + data
        start = self.rng.randrange(len(data) - 1)
        end = self.rng.randint(start + 1, len(data))
        return data[:end] + data[start:end] + data[end:]

    def _replace_one(self, data: bytes, pattern: re.Pattern[bytes], new: bytes) -> bytes:
        matches = list(pattern.finditer(data))
        if not matches:
            return data
        match = self.rng.choice(matches)
        if pattern is VALUE:
            return data[: match.start(1)] + new + data[match.end(1) :]
        return data[: match.start()] + new + data[match.end() :]

    def huge_number(self, data: bytes) -> bytes:
        """Replace a number by one far beyond its range."""
        return self._replace_one(data, NUMBER, self.rng.choice(HUGE).encode())

    def wrong_type(self, data: bytes) -> bytes:
        """Replace a value by one of another type, NaN or Infinity."""
        return self._replace_one(data, VALUE, self.rng.choice(WRONG).encode())

    def nest(self, data: bytes) -> bytes:
        """Put a deeply nested array or object where a value was."""
        depth = self.rng.choice([2, 10, 100, 400, 1000])
        if self.rng.random() < 0.5:
            nested = b"[" * depth + b"1" + b"]" * depth
        else:
            nested = b'{"a":' * depth + b"1" + b"}" * depth
        return self._replace_one(data, VALUE, nested)

    def invalid_utf8(self, data: bytes) -> bytes:
        """Insert bytes that are not UTF-8."""
        index = self.rng.randint(0, len(data))
        junk = bytes(self.rng.randint(0x80, 0xFF) for _ in range(self.rng.randint(1, 4)))
        return data[:index] + junk + data[index:]

    def splice(self, data: bytes) -> bytes:
        """The head of one datagram and the tail of another."""
        other = self.rng.choice(self.seeds)
        return data[: self.rng.randint(0, len(data))] + other[self.rng.randint(0, len(other)) :]

    def pad(self, data: bytes) -> bytes:
        """NUL bytes, line ends, or an oversized tail."""
        choice = self.rng.random()
        if choice < 0.1:
            return data + b" " * 3000
        return data + self.rng.choice([b"\x00", b"\r\n", b"\x00" * 40, b"\n\n", b"\t"])

    def random_json(self) -> bytes:
        """A JSON object of real field names with random values: reports and pushes."""
        rng = self.rng
        fields: dict[str, object] = {}
        if rng.random() < 0.6:
            fields["ID"] = rng.choice(["1", "2", "3", "100", "101", "130", 2, "x", None, "2 "])
        names = sorted(PUSH_FIELDS) if rng.random() < 0.4 else FIELD_NAMES
        for name in rng.sample(names, rng.randint(1, min(8, len(names)))):
            fields[name] = rng.choice(
                [
                    rng.randint(-(2**40), 2**40),
                    rng.random() * 10.0 ** rng.randint(0, 300),
                    float("nan"),
                    float("inf"),
                    rng.choice(WRONG),
                    "2018-03-30 10:19:56.000",
                    [rng.randint(0, 9)],
                    {"nested": {"deeper": 1}},
                    None,
                    True,
                ]
            )
        return json.dumps(fields).encode()


def exercise_models(data: bytes) -> None:
    """``parse_datagram`` and every model constructor, directly."""
    datagram = parse_datagram(data)
    match datagram:
        case ReportReply(fields=fields) | FirmwareReply(fields=fields) | PushMessage(fields=fields):
            info = StationInfo.from_report(fields)
            Capabilities.from_product(info.product, com_module=info.com_module)
            _ = (info.udp_control_enabled, info.output_x2_enabled)
            status = ChargingStatus.from_report(fields)
            _ = (
                status.vehicle_plugged,
                status.cable_locked,
                status.charging,
                status.failsafe_triggered,
                status.error,
            )
            meter = MeterReading.from_report(fields)
            _ = meter.phases_in_use
            session = ChargingSession.from_report(fields)
            _ = (session.is_empty, session.is_active, session.duration_s, session.rfid_tag_used)
            for name, value in fields.items():
                status.with_push(name, value)
                meter.with_push(name, value)
        case _:
            pass


async def test_fuzz_receive_path(
    socket_enabled: None, loopback: LoopbackNet, caplog: pytest.LogCaptureFixture
) -> None:
    """100 000 fuzz datagrams: nothing escapes, strangers change nothing, memory stays flat."""
    caplog.set_level(logging.WARNING)
    rng = random.Random(SEED)
    pool = EndpointPool()
    endpoint = await pool.acquire(loopback.client_ip, 0)
    known = loopback.station_ip(0)
    strangers = [loopback.station_ip(1 + i % 250) for i in range(250)] + [
        f"127.{i // 250}.{i % 250}.9" for i in range(STRANGERS - 250)
    ]
    station = KebaStation(endpoint, known)
    await station.connect(read_info=False)
    link = station.link
    # Requests in flight while the fuzz arrives (fuzzed answers may complete them).
    requests = [
        asyncio.ensure_future(call)
        for call in (
            station.get_status(),
            station.get_meter(),
            station.get_session(100),
            station.get_firmware(),
            station.set_current(10),
        )
    ]
    tapped: Counter[str] = Counter()
    remove_tap: Callable[[], None] | None = None
    unknown_counted = 0
    baseline = 0
    fuzz = iter(Mutator(rng))
    try:
        for count in range(DATAGRAMS):
            if count == WARM_UP:
                tracemalloc.start()
                baseline = tracemalloc.get_traced_memory()[0]
            if count == DATAGRAMS // 2:
                remove_tap = endpoint.add_tap(lambda host, _datagram: tapped.update((host,)))
            if count == DATAGRAMS // 2 + 5_000 and remove_tap is not None:
                remove_tap()
                remove_tap = None
            data = next(fuzz)
            exercise_models(data)
            if count % 2:
                endpoint.datagram_received(data, known)
            else:
                before, received = station.snapshot, link.received
                endpoint.datagram_received(data, strangers[count % len(strangers)])
                assert station.snapshot is before
                assert link.received == received
                unknown_counted += remove_tap is None
            if count % 100 == 0:
                await asyncio.sleep(0)  # let the requests' tasks see their answers
        growth = tracemalloc.get_traced_memory()[0] - baseline
        # The station still understands a good answer to its request afterwards (with an
        # uptime that continues from the one it believes).
        sent_before = link.last_send_of("report 2")
        status_request = asyncio.ensure_future(station.get_status())
        for _ in range(800):
            if link.last_send_of("report 2") > sent_before:
                break
            await asyncio.sleep(0.01)
        fields = json.loads(d.REPORT_2_DISABLED)
        fields["Sec"] = int(station.counters["Sec"] or fields["Sec"]) + 1
        endpoint.datagram_received(json.dumps(fields).encode(), known)
        assert await status_request == ChargingStatus.from_report(fields)
        assert station.snapshot.status == ChargingStatus.from_report(fields)
    finally:
        tracemalloc.stop()
        await station.close()
        await pool.release(endpoint)
        results = await asyncio.gather(*requests, return_exceptions=True)
    for result in results:
        # Completed, or failed the engine's way (a fuzzed TCH-ERR, the link closing).
        assert not isinstance(result, BaseException) or isinstance(result, KebaError), result
    stats = endpoint.stats
    assert stats.received == DATAGRAMS + 1
    assert stats.unknown_source == unknown_counted
    assert len(stats.unknown_senders) <= 256
    assert tapped.total() == 5_000
    assert growth < MEMORY_BOUND, f"{growth} bytes left behind"
    assert link.received == DATAGRAMS // 2 + 1
    assert [r for r in caplog.records if r.levelno >= logging.ERROR] == []


# ------------------------------------------------------------------- absurd magnitudes
ABSURD_DATAGRAMS = 20_000

#: Impossible values of the right JSON type, per field (the robustness issue's limits: currents
#: 0–80 A, voltages 0–300 V, power 0–50 kW, factors 0–100 %, Curr HW 0 or 6–63 A, energies
#: ≥ 0 and bounded, enums within their values).
ABSURD: dict[str, list[object]] = {
    "State": [6, 42, -1, 2.5, 1e9],
    "Plug": [2, 4, 6, 8, -7, 1e12],
    "Enable sys": [2, -1, 1e3],
    "Enable user": [3, -1],
    "AuthON": [2],
    "Authreq": [5],
    "Input": [9, -1],
    "Max curr": [999000, 80001, -1, 9.9e12],
    "Max curr %": [1001, 5000, -3],
    "Curr HW": [-5, 1, 5999, 63001, 1e9],
    "Curr user": [1e12, -6000, 100000],
    "Curr FS": [80001, -1],
    "Curr timer": [1e15, -10],
    "U1": [301, 23000, -230],
    "U2": [4000, -1],
    "U3": [1e308],
    "I1": [9.9e12, 80001, -10],
    "I2": [-1, 1e20],
    "I3": [123456789],
    "P": [-603749136, 50_000_001, 1e308],
    "PF": [123456, 1001, -1],
    "E pres": [1e308, -1, 4e18, 99999999999],
    "E total": [-5, 1e300, 1e13],
    "Sec": [-1, -86400, 1e30],
    "reason": [2, 9, 11, -1],
}
_REPORT_FIELDS = {
    "2": ["State", "Plug", "Enable sys", "Enable user", "AuthON", "Authreq", "Input",
          "Max curr", "Max curr %", "Curr HW", "Curr user", "Curr FS", "Curr timer", "Sec"],
    "3": ["U1", "U2", "U3", "I1", "I2", "I3", "P", "PF", "E pres", "E total", "Sec"],
    "100": ["Curr HW", "E pres", "reason", "Sec"],
}  # fmt: skip


def absurd_datagrams(rng: random.Random) -> Iterator[bytes]:
    """Well-formed JSON from the station's address with at least one impossible value."""
    good = {
        "2": json.loads(d.REPORT_2_DISABLED),
        "3": json.loads(d.REPORT_3_CHARGING),
        "100": json.loads(d.REPORT_100_RFID),
    }
    while True:
        if rng.random() < 0.4:
            names = sorted(PUSH_FIELDS)
            fields: dict[str, object] = {}
            for name in rng.sample(names, rng.randint(1, 2)):
                fields[name] = rng.choice(ABSURD[name])
        else:
            report = rng.choice(list(_REPORT_FIELDS))
            fields = dict(good[report])
            fields["ID"] = int(report) if rng.random() < 0.3 else report
            for name in rng.sample(_REPORT_FIELDS[report], rng.randint(1, 3)):
                fields[name] = rng.choice(ABSURD[name])
        yield json.dumps(fields).encode()


async def test_fuzz_absurd_values(
    socket_enabled: None, loopback: LoopbackNet, caplog: pytest.LogCaptureFixture
) -> None:
    """20 000 datagrams of absurd magnitudes, as answers and pushes: nothing changes.

    The station has believed state (reports 2, 3 and 100 answered); its requests stay pending
    so that the absurd reports count as answers. No datagram may change the snapshot, and no
    statistic-bearing value (total and session energy, uptime, session id) may go backwards.
    """
    caplog.set_level(logging.WARNING)
    rng = random.Random(SEED)
    pool = EndpointPool()
    endpoint = await pool.acquire(loopback.client_ip, 0)
    known = loopback.station_ip(0)
    station = KebaStation(endpoint, known)
    await station.connect(read_info=False)
    link = station.link
    try:
        good = {
            2: dict(json.loads(d.REPORT_2_DISABLED), Sec=1541),
            3: dict(json.loads(d.REPORT_3_CHARGING), **{"E pres": 52000, "E total": 9_000_000}),
            100: dict(json.loads(d.REPORT_100_RFID), Sec=1541),
        }
        readers = {2: station.get_status, 3: station.get_meter, 100: station.get_session}
        for report_id, fields in good.items():
            task = asyncio.ensure_future(readers[report_id]())
            for _ in range(300):
                if link.last_send_of(f"report {report_id}") > float("-inf"):
                    break
                await asyncio.sleep(0.01)
            endpoint.datagram_received(json.dumps(fields).encode(), known)
            await task
        before = station.snapshot
        assert before.meter is not None
        assert before.meter.total_energy_kwh == pytest.approx(900.0)
        counters = dict(station.counters)
        # Requests that stay unanswered by anything plausible for the whole run.
        pending = [
            asyncio.ensure_future(call)
            for call in (station.get_status(), station.get_meter(), station.get_session(100))
        ]
        await asyncio.sleep(0)
        fuzz = absurd_datagrams(rng)
        for count in range(ABSURD_DATAGRAMS):
            endpoint.datagram_received(next(fuzz), known)
            assert station.snapshot is before
            now = station.counters
            for name, value in counters.items():
                assert value is None or (now[name] is not None and now[name] >= value), name
            if count % 500 == 0:
                await asyncio.sleep(0)
        assert station.rejected.total + station.unsolicited == ABSURD_DATAGRAMS
        assert station.rejected.total > ABSURD_DATAGRAMS // 2
        logged = [r for r in caplog.records if "dropped an implausible" in r.getMessage()]
        assert len(logged) == len(station.rejected.by_reason)  # once per reason
    finally:
        await station.close()
        await pool.release(endpoint)
    results = await asyncio.gather(*pending, return_exceptions=True)
    for result in results:
        assert isinstance(result, KebaError), result
