"""Helpers shared by the tests: report fixtures, a scriptable station, loopback networks."""

from __future__ import annotations

from collections.abc import Iterable
from contextlib import AbstractContextManager
from dataclasses import dataclass, replace
import json
from pathlib import Path
import random
from typing import Any
from unittest.mock import AsyncMock

from homeassistant.config_entries import SOURCE_USER
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import FlowResultType

from custom_components.keba.const import DOMAIN
from custom_components.keba.kecontact import (
    Capabilities,
    ChargingSession,
    ChargingStatus,
    EventKind,
    KebaStation,
    MeterReading,
    StationEvent,
    StationInfo,
    StationSnapshot,
)
from custom_components.keba.kecontact.station import StationListener

FIXTURES = Path(__file__).parent / "fixtures"


def load_report(name: str) -> dict[str, Any]:
    """A report as the station sends it, from tests/fixtures/<name>.json."""
    return json.loads((FIXTURES / f"{name}.json").read_text(encoding="utf-8"))


@dataclass(frozen=True)
class LoopbackNet:
    """A /24 of loopback addresses for one test: the client at .1, stations from .2."""

    prefix: str

    @property
    def client_ip(self) -> str:
        """Where the integration's socket binds."""
        return f"{self.prefix}.1"

    def station_ip(self, index: int) -> str:
        """Address of station ``index`` (0-based)."""
        return f"{self.prefix}.{index + 2}"

    def station_ips(self, count: int) -> list[str]:
        """Addresses of ``count`` stations."""
        return [self.station_ip(i) for i in range(count)]


def random_loopback_net(fixed: str | None = None) -> LoopbackNet:
    """A random 127.x.y.0/24, so that test runs side by side do not share port 7090."""
    if fixed:
        return LoopbackNet(fixed)
    return LoopbackNet(f"127.{random.randint(1, 254)}.{random.randint(0, 255)}")


class FakeStation:
    """Stands in for ``KebaStation`` without a network: reports come from fixtures.

    Commands are ``AsyncMock``s (assert on them); :meth:`push` delivers a push message like the
    real station would, :meth:`set_report` changes what the next poll returns. Like the real
    station, every report read is also announced to the listeners.
    """

    def __init__(self, endpoint: Any, host: str, reports: dict[int, dict[str, Any]]) -> None:
        """Build from raw reports keyed by report number (1, 2, 3, 100, 101…)."""
        self.endpoint = endpoint
        self.host = host
        self.ip = host
        self.reports = reports
        info = StationInfo.from_report(reports[1])
        self.capabilities: Capabilities | None = Capabilities.from_product(
            info.product, com_module=info.com_module
        )
        self.snapshot = StationSnapshot(info=info)
        self._listeners: list[StationListener] = []
        self.fail_polls = False
        #: Reports this station ignores (e.g. {2, 3, 100, 101}: DIP switch DSW1.3 off).
        self.ignored_reports: set[int] = set()
        self.requests: list[str] = []
        self.link = _FakeLink(self)
        self._awaiting: dict[int, int] = {}
        self.reboots = 0
        self.connect = AsyncMock(side_effect=self._connect)
        self.close = AsyncMock()
        self.set_current = AsyncMock()
        self.pause_charging = AsyncMock()
        self.set_current_permanent = AsyncMock()
        self.cancel_current_timer = AsyncMock()
        self.set_enabled = AsyncMock()
        self.set_energy_limit = AsyncMock()
        self.set_output = AsyncMock()
        self.start_session = AsyncMock()
        self.stop_session = AsyncMock()
        self.display = AsyncMock()
        self.unlock_socket = AsyncMock()
        self.set_datetime = AsyncMock()
        self.set_failsafe = AsyncMock()

    async def read_report(self, report_id: int, *, policy: Any = None) -> dict[str, Any]:
        """A report read like the real station's does."""
        await self.link.request(f"report {report_id}", policy=policy)
        return self.reports[report_id]

    def expecting(self, report_ids: Iterable[int]) -> AbstractContextManager[None]:
        """The real station's, run on this one (it only counts in ``_awaiting``)."""
        return KebaStation.expecting(self, report_ids)  # type: ignore[arg-type]

    @property
    def serial(self) -> str | None:
        """Serial from report 1."""
        return self.snapshot.info.serial if self.snapshot.info else None

    def add_listener(self, listener: StationListener) -> Any:
        """Register a listener like the real station."""
        self._listeners.append(listener)
        return lambda: self._listeners.remove(listener)

    def emit(self, kind: EventKind, fields: dict[str, Any] | None = None) -> None:
        """Tell the listeners."""
        for listener in list(self._listeners):
            listener(StationEvent(kind, self.snapshot, fields or {}))

    def push(self, fields: dict[str, Any]) -> None:
        """Deliver a push message, e.g. ``{"State": 2}``."""
        status, meter = self.snapshot.status, self.snapshot.meter
        for name, value in fields.items():
            if status is not None:
                status = status.with_push(name, value)
            if meter is not None:
                meter = meter.with_push(name, value)
        self.snapshot = replace(self.snapshot, status=status, meter=meter)
        self.emit(EventKind.PUSH, fields)

    def set_report(self, report_id: int, **changes: Any) -> None:
        """Change fields of what report ``report_id`` answers next."""
        self.reports[report_id] = {**self.reports[report_id], **changes}

    async def _connect(self, *, read_info: bool = True) -> StationInfo | None:
        return await self.get_info() if read_info else None

    def _check(self) -> None:
        if self.fail_polls:
            from custom_components.keba.kecontact import KebaTimeoutError

            raise KebaTimeoutError(f"{self.host} did not answer")

    async def get_info(self) -> StationInfo:
        """Report 1."""
        self._check()
        info = StationInfo.from_report(self.reports[1])
        self.snapshot = replace(self.snapshot, info=info)
        self.emit(EventKind.INFO)
        return info

    async def get_status(self) -> ChargingStatus:
        """Report 2."""
        self._check()
        status = ChargingStatus.from_report(self.reports[2])
        self.snapshot = replace(self.snapshot, status=status)
        self.emit(EventKind.STATUS)
        return status

    async def get_meter(self) -> MeterReading:
        """Report 3."""
        self._check()
        meter = MeterReading.from_report(self.reports[3])
        self.snapshot = replace(self.snapshot, meter=meter)
        self.emit(EventKind.METER)
        return meter

    async def get_session(self, report_id: int = 100) -> ChargingSession:
        """Report 1xx."""
        self._check()
        session = ChargingSession.from_report(self.reports[report_id])
        if report_id == 100:
            self.snapshot = replace(self.snapshot, session=session)
            self.emit(EventKind.SESSION)
        return session

    async def get_history(self, count: int = 30) -> list[ChargingSession]:
        """Reports 101… that exist in the fixtures; empty slots skipped like the real station."""
        self._check()
        sessions = [
            ChargingSession.from_report(self.reports[n])
            for n in range(101, 101 + count)
            if n in self.reports
        ]
        return [session for session in sessions if not session.is_empty]

    async def refresh(self, *, meter: bool | None = None) -> StationSnapshot:
        """Report 2 and 3."""
        await self.get_status()
        if meter is None or meter:
            await self.get_meter()
        return self.snapshot


class _FakeLink:
    """The part of ``StationLink`` the station check uses: reads by request text."""

    def __init__(self, station: FakeStation) -> None:
        self._station = station

    def last_send_of(self, _key: str) -> float:
        """Nothing was sent: no timing rule to wait for."""
        return float("-inf")

    async def request(self, text: str, *, policy: Any = None) -> tuple[Any, str]:
        from custom_components.keba.kecontact import KebaTimeoutError

        station = self._station
        station.requests.append(text)
        words = text.split()
        number = int(words[1]) if words[0] == "report" else 0
        if (
            station.fail_polls
            or number in station.ignored_reports
            or (number and number not in station.reports)
        ):
            raise KebaTimeoutError(f"{station.host} did not answer {text!r}")
        if number == 1:
            await station.get_info()
        elif number == 2:
            await station.get_status()
        elif number == 3:
            await station.get_meter()
        elif number >= 100:
            await station.get_session(number)
        return None, text


def default_reports() -> dict[int, dict[str, Any]]:
    """The fixture reports of a charging P30 x-series."""
    return {n: load_report(f"report{n}") for n in (1, 2, 3, 100, 101)}


async def start_adding_a_station(hass: HomeAssistant) -> dict[str, Any]:
    """The user step; with a station set up already, "Charging station" in its menu."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    if result["type"] is FlowResultType.MENU:
        result = await hass.config_entries.flow.async_configure(
            result["flow_id"], {"next_step_id": "station"}
        )
    return dict(result)
