"""Benchmark of the integration inside a real Home Assistant, on loopback addresses only.

Run it through ``scripts/bench_ha`` (which finds Python 3.14 and the venv). It starts simulated
stations in this process (``simulator.Simulator``, all charging P30 x-series on a random
127.x.y.0/24), a real Home Assistant process (``python -m homeassistant``, HTTP on 127.0.0.1, the
integration bound to 127.x.y.1), creates the owner account, adds the stations through the config
flow's REST API (confirming the flows of the background search, or picking the station in the
user flow) and measures over the websocket API, stamping every ``state_changed`` event with
``time.perf_counter()`` on arrival; the simulator runs in the same event loop and clock:

(a) push latency: a simulated vehicle is plugged in or out (the station pushes ``Plug`` and
    ``State``); time until the ``vehicle plugged in`` binary sensor's ``state_changed`` event
    arrives. Target: median < 20 ms.
(b) setup time: config entries are disabled, left alone for ``--quiet`` seconds (longer than
    t_COM_pause, as after a Home Assistant start) and enabled again, which sets them up; time
    from enabling until every enabled entity of the entries has been written with a state other
    than ``unavailable``, for 1 station and for all stations at once. Target: < 1 s per station.
(c) control loop: a Home Assistant automation (``time_pattern`` every second, ``number.set_value``
    on every station's charging current, a different value per station and second) runs for
    ``--duration`` seconds. Then it stops triggering (runs under way finish) and the stations
    settle.
    Target: no timing-rule violation recorded by the simulator, the runs under way ending, and
    the last requested current applied on every station (report 2: ``Curr user`` and, after the
    IEC 61851-1 delay, ``Max curr``) within 5 s (t_COM_pause) + that delay + 5 s of the last
    trigger.
(d) recorder load: every station charges and nothing else happens for ``--load-duration``
    seconds; every ``state_changed`` event of the integration's entities is counted (each is a
    row in the recorder's database), per charging station-hour and per entity. ``--integration``
    loads another copy of the integration (e.g. an export of an older version) to compare.
"""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field
import json
import os
from pathlib import Path
import random
import shutil
import signal
import socket
import statistics
import sys
import tempfile
import time
from typing import Any

from scripts.ha_client import HomeAssistantAsyncClient, HomeAssistantClient
from scripts.ha_config import write_empty_frontend, write_http_storage, write_onboarding_storage
from simulator import Simulator

REPO_ROOT = Path(__file__).resolve().parent.parent
LATENCY_TARGET_S = 0.020
SETUP_TARGET_S = 1.0
UNAVAILABLE = "unavailable"
NO_VIOLATIONS = {"udp_pause": 0, "com_pause": 0, "dis_pause": 0}

type StatePredicate = Callable[[str, dict[str, Any] | None], bool]


def _new_state_of(entity_id: str, accept: Callable[[str], bool]) -> StatePredicate:
    """Matches a state change of ``entity_id`` to a state that ``accept`` takes."""

    def predicate(changed: str, new_state: dict[str, Any] | None) -> bool:
        return changed == entity_id and new_state is not None and accept(new_state["state"])

    return predicate


def _free_tcp_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _ms(seconds: float) -> str:
    return f"{seconds * 1000:.1f} ms"


def _log(text: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {text}", flush=True)


@dataclass
class Row:
    """One line of the result table."""

    part: str
    measurement: str
    result: str
    target: str = ""
    ok: bool | None = None


class StateWatcher:
    """Resolves futures on matching ``state_changed`` events (with their arrival time)."""

    def __init__(self) -> None:
        """No waiters yet."""
        self._waiters: list[tuple[StatePredicate, asyncio.Future[float]]] = []

    def on_event(self, received: float, event: dict[str, Any]) -> None:
        """Feed one ``state_changed`` event."""
        data = event["data"]
        entity_id, new_state = data["entity_id"], data.get("new_state")
        for predicate, future in list(self._waiters):
            if not future.done() and predicate(entity_id, new_state):
                future.set_result(received)
        self._waiters = [(p, f) for p, f in self._waiters if not f.done()]

    def expect(self, predicate: StatePredicate) -> asyncio.Future[float]:
        """A future that resolves with the arrival time of the first matching event."""
        future: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._waiters.append((predicate, future))
        return future


@dataclass
class Bench:
    """Everything the parts share: simulator, Home Assistant, clients, entities."""

    args: argparse.Namespace
    sim: Simulator
    client: HomeAssistantClient
    ha: HomeAssistantAsyncClient
    config_dir: Path
    watcher: StateWatcher = field(default_factory=StateWatcher)
    entries: dict[str, str] = field(default_factory=dict)  # serial -> entry id
    rows: list[Row] = field(default_factory=list)

    # ------------------------------------------------------------------------ helpers
    async def add_station(self, serial: str) -> str:
        """Add one station as the UI does; return the entry id.

        Confirms the station's discovery flow if the background search found it (one click in
        the UI), otherwise picks it in the user flow (which searches the network first).
        """
        if serial in self.entries:
            return self.entries[serial]
        flows = await self.ha.command("config_entries/flow/progress")
        discovered = [
            flow
            for flow in flows
            if flow["handler"] == "keba" and flow["context"].get("unique_id") == serial
        ]
        if discovered:
            flow_id, user_input = discovered[0]["flow_id"], {}
        else:
            form = await self.ha.rest(
                "POST", "/api/config/config_entries/flow", {"handler": "keba"}
            )
            if form.get("step_id") != "user":
                raise RuntimeError(f"unexpected first step: {form}")
            flow_id, user_input = form["flow_id"], {"station": serial}
        result = await self.ha.rest(
            "POST", f"/api/config/config_entries/flow/{flow_id}", user_input
        )
        if result.get("type") != "create_entry":
            raise RuntimeError(f"adding {serial} failed: {result}")
        self.entries[serial] = result["result"]["entry_id"]
        return self.entries[serial]

    async def add_stations(self, count: int) -> None:
        """Make sure the first ``count`` stations have entries."""
        for station in self.sim.stations[:count]:
            await self.add_station(station.serial)

    async def registry(self) -> list[dict[str, Any]]:
        """Enabled entities of the integration."""
        return [
            entry
            for entry in await self.ha.entity_registry()
            if entry["platform"] == "keba" and entry.get("disabled_by") is None
        ]

    async def entity_id(self, serial: str, key: str) -> str:
        """Entity id of ``<serial>_<key>``."""
        for entry in await self.registry():
            if entry["unique_id"] == f"{serial}_{key}":
                return str(entry["entity_id"])
        raise RuntimeError(f"no entity with unique id {serial}_{key}")

    def violations(self) -> dict[str, int]:
        """Timing-rule violations counted by the simulator so far, per rule."""
        return dict(self.sim.summary()["totals"]["violations"])

    # ------------------------------------------------------------------------ (a)
    async def push_latency(self) -> None:
        """(a) From a plug event at the station to the binary sensor's state_changed event."""
        await self.add_stations(1)
        station = self.sim.stations[0]
        entity = await self.entity_id(station.serial, "vehicle_plugged")
        state_entity = await self.entity_id(station.serial, "charging_state")
        before = self.violations()
        latencies: list[float] = []
        state_latencies: list[float] = []
        missed = 0
        plugged = (await self.ha.rest("GET", f"/api/states/{entity}"))["state"] == "on"
        _log(f"(a) {self.args.samples} plug/unplug pushes at {station.ip} -> {entity}")
        for _ in range(self.args.samples):
            target = "off" if plugged else "on"
            arrived = self.watcher.expect(_new_state_of(entity, target.__eq__))
            old_state = (await self.ha.rest("GET", f"/api/states/{state_entity}"))["state"]
            state_arrived = self.watcher.expect(_new_state_of(state_entity, old_state.__ne__))
            start = time.perf_counter()
            if plugged:
                station.unplug()
            else:
                station.plug_in()
            plugged = not plugged
            try:
                async with asyncio.timeout(5):
                    latencies.append(await arrived - start)
                    state_latencies.append(await state_arrived - start)
            except TimeoutError:
                missed += 1
            await asyncio.sleep(self.args.interval)
        if not plugged:
            station.plug_in()  # leave it charging, like the other stations
        if not latencies:
            self.rows.append(Row("(a)", "push -> state_changed", "no event arrived", "", False))
            return
        median = statistics.median(latencies)
        quantiles = (
            statistics.quantiles(latencies, n=10, method="inclusive")
            if len(latencies) > 1
            else latencies
        )
        self.rows.append(
            Row(
                "(a)",
                f"push -> state_changed, median of {len(latencies)}",
                _ms(median),
                "< 20 ms",
                median < LATENCY_TARGET_S and missed == 0,
            )
        )
        self.rows.append(
            Row(
                "",
                "  min / p90 / max, missed",
                f"{_ms(min(latencies))} / {_ms(quantiles[-1])} / {_ms(max(latencies))}, {missed}",
            )
        )
        if state_latencies:
            self.rows.append(
                Row(
                    "",
                    f"  same push -> charging state sensor, median of {len(state_latencies)}",
                    _ms(statistics.median(state_latencies)),
                    "< 20 ms",
                    statistics.median(state_latencies) < LATENCY_TARGET_S,
                )
            )
        self._violation_row("(a)", before)

    # ------------------------------------------------------------------------ (b)
    async def _set_disabled(self, entry_ids: list[str], disabled: bool) -> None:
        await asyncio.gather(
            *(
                self.ha.command(
                    "config_entries/disable",
                    entry_id=entry_id,
                    disabled_by="user" if disabled else None,
                )
                for entry_id in entry_ids
            )
        )

    async def _time_setup(self, entry_ids: list[str]) -> tuple[float, int]:
        """Set up entries at once; return the time until all their entities have values.

        The entries are disabled first and stay so for --quiet seconds (longer than
        t_COM_pause), so that each setup starts like after a Home Assistant start: with a
        station that has not been asked anything for a while. Enabling them sets them up.
        Also returns the number of entities.
        """
        entities = {
            entry["entity_id"]
            for entry in await self.registry()
            if entry["config_entry_id"] in entry_ids
        }
        await self._set_disabled(entry_ids, True)
        await asyncio.sleep(self.args.quiet)
        written = [
            self.watcher.expect(_new_state_of(entity, UNAVAILABLE.__ne__)) for entity in entities
        ]
        start = time.perf_counter()
        await self._set_disabled(entry_ids, False)
        async with asyncio.timeout(60):
            times = await asyncio.gather(*written)
        return max(times) - start, len(entities)

    async def setup_time(self) -> None:
        """(b) Set up 1 entry, then all entries at once; time until every entity has a value."""
        before = self.violations()
        await self.add_stations(1)
        _log(f"(b) setting up 1 entry {self.args.repeat} times")
        single: list[float] = []
        count = 0
        for _ in range(self.args.repeat):
            elapsed, count = await self._time_setup([self.entries[self.sim.stations[0].serial]])
            single.append(elapsed)
        median = statistics.median(single)
        self.rows.append(
            Row(
                "(b)",
                f"setup -> all {count} entities have values, 1 station (median of {len(single)})",
                _ms(median),
                "< 1 s",
                median < SETUP_TARGET_S,
            )
        )
        stations = len(self.sim.stations)
        _log(f"(b) adding {stations} stations")
        started = time.perf_counter()
        await self.add_stations(stations)
        _log(f"    added in {time.perf_counter() - started:.1f} s")
        _log(f"(b) setting up {stations} entries at once, {self.args.repeat} times")
        many: list[float] = []
        for _ in range(self.args.repeat):
            elapsed, count = await self._time_setup(list(self.entries.values()))
            many.append(elapsed)
        median = statistics.median(many)
        self.rows.append(
            Row(
                "",
                f"{stations} stations set up at once, all {count} entities (median of {len(many)})",
                f"{_ms(median)} ({_ms(median / stations)} per station)",
                "< 1 s per station",
                median / stations < SETUP_TARGET_S,
            )
        )
        self._violation_row("(b)", before)

    # ------------------------------------------------------------------------ (c)
    async def control_loop(self) -> None:
        """(c) An automation sets every station's current every second for --duration s."""
        stations = self.sim.stations
        await self.add_stations(len(stations))
        numbers = [await self.entity_id(st.serial, "charging_current") for st in stations]
        by_entity = dict(zip(numbers, stations, strict=True))
        # A different value per station and second: 6 ... 16 A.
        actions = [
            {
                "action": "number.set_value",
                "target": {"entity_id": entity},
                "data": {"value": f"{{{{ 6 + ((now().second + {i}) % 11) }}}}"},
            }
            for i, entity in enumerate(numbers)
        ]
        automation_id = "keba_bench_setpoints"
        await self.ha.rest(
            "POST",
            f"/api/config/automation/config/{automation_id}",
            {
                "id": automation_id,
                "alias": "KEBA benchmark setpoints",
                "description": "Sets the charging current of every station every second.",
                "mode": "parallel",
                "max": 100,
                "triggers": [{"trigger": "time_pattern", "seconds": "/1"}],
                "conditions": [],
                "actions": [{"parallel": actions}],
            },
        )
        automation = ""
        async with asyncio.timeout(30):
            while not automation:
                for state in await self.ha.rest("GET", "/api/states"):
                    if state["attributes"].get("id") == automation_id:
                        automation = state["entity_id"]
                await asyncio.sleep(0.2)

        requested: dict[str, float] = {}
        calls = 0
        last_call = time.perf_counter()

        def on_call(_received: float, event: dict[str, Any]) -> None:
            nonlocal calls, last_call
            data = event["data"]
            if data.get("domain") != "number" or data.get("service") != "set_value":
                return
            service_data = data.get("service_data") or {}
            targets = service_data.get("entity_id")
            for entity in [targets] if isinstance(targets, str) else targets or []:
                if entity in by_entity:
                    requested[entity] = float(service_data["value"])
                    calls += 1
            last_call = time.perf_counter()

        await self.ha.subscribe_events(on_call, "call_service")
        before = self.violations()
        currtime_before = sum(st.summary()["commands"].get("currtime", 0) for st in stations)
        await self.ha.rest("POST", "/api/services/automation/turn_on", {"entity_id": automation})
        _log(f"(c) {automation} runs for {self.args.duration} s on {len(stations)} stations")
        started = time.monotonic()
        next_report = started + 60
        while (left := self.args.duration - (time.monotonic() - started)) > 0:
            await asyncio.sleep(min(left, 1.0))
            if time.monotonic() >= next_report:
                next_report += 60
                _log(
                    f"    {time.monotonic() - started:.0f} s: {calls} setpoints, "
                    f"violations {self.violations()}"
                )
        # Stop triggering but let the runs under way finish: their setpoints count.
        await self.ha.rest(
            "POST",
            "/api/services/automation/turn_off",
            {"entity_id": automation, "stop_actions": False},
        )
        stopped = time.perf_counter()
        _log(f"(c) automation stopped triggering after {calls} setpoints; waiting for its runs")

        def applied(station: Any, amps: float) -> bool:
            report = station.report(2)
            milliamps = round(amps * 1000)
            return report["Curr user"] == milliamps and report["Max curr"] == milliamps

        # The runs under way end (their set_value calls return), then every station must show
        # the last setpoint asked of it; both within --settle-timeout.
        deadline = stopped + self.args.settle_timeout
        runs_left = 1
        runs_done: float | None = None
        settled_after: float | None = None
        while time.perf_counter() < deadline:
            if runs_done is None:
                state = await self.ha.rest("GET", f"/api/states/{automation}")
                runs_left = int(state["attributes"].get("current", 0))
                if not runs_left:
                    runs_done = time.perf_counter() - stopped
            if runs_done is not None and all(
                applied(by_entity[e], amps) for e, amps in requested.items()
            ):
                settled_after = time.perf_counter() - stopped
                break
            await asyncio.sleep(0.25)
        after = self.violations()
        new_violations = {rule: after[rule] - before.get(rule, 0) for rule in after}
        currtime = (
            sum(st.summary()["commands"].get("currtime", 0) for st in stations) - currtime_before
        )
        mismatched = [
            f"{by_entity[e].serial}: asked {amps:g} A, report 2 Curr user "
            f"{by_entity[e].report(2)['Curr user']} Max curr {by_entity[e].report(2)['Max curr']}"
            for e, amps in requested.items()
            if not applied(by_entity[e], amps)
        ]
        self.rows.append(
            Row(
                "(c)",
                f"{len(stations)} stations, 1 setpoint/s each for {self.args.duration:g} s: "
                "timing-rule violations",
                json.dumps(new_violations),
                "none",
                new_violations == NO_VIOLATIONS,
            )
        )
        self.rows.append(
            Row("", "  setpoints requested / currtime commands sent", f"{calls} / {currtime}")
        )
        self.rows.append(
            Row(
                "",
                "  automation runs under way when it stopped triggering: ended after",
                f"{runs_done:.1f} s"
                if runs_done is not None
                else f"{runs_left} still running after {self.args.settle_timeout:g} s",
                f"< {self.args.settle_timeout:g} s",
                runs_done is not None,
            )
        )
        # The last currtime may wait for t_COM_pause (5 s), then the station takes the IEC 61851-1
        # delay to offer it (Max curr); a little more for the last runs to start.
        bound = 5.0 + self.args.current_change_delay + 5.0
        ok = (
            not mismatched
            and len(requested) == len(stations)
            and settled_after is not None
            and settled_after <= bound
        )
        self.rows.append(
            Row(
                "",
                "  last setpoint applied on every station (Curr user, Max curr)",
                f"{len(stations) - len(mismatched)}/{len(stations)}"
                + (f", {settled_after:.1f} s after the last trigger" if settled_after else ""),
                f"all, < {bound:g} s",
                ok,
            )
        )
        for line in mismatched:
            self.rows.append(Row("", f"    {line}", ""))

    # ------------------------------------------------------------------------ (d)
    async def recorder_load(self) -> None:
        """(d) State changes written while every station charges and nothing else happens."""
        stations = self.sim.stations
        await self.add_stations(len(stations))
        keys = {
            entry["entity_id"]: str(entry["unique_id"]).split("_", 1)[1]
            for entry in await self.registry()
        }
        for station in stations:
            if station.report(2)["State"] != 3:
                station.plug_in()
        # Let the entries settle (first polls, session reads) before counting.
        await asyncio.sleep(self.args.load_warmup)
        charging_at_start = sum(1 for st in stations if st.report(2)["State"] == 3)
        counts: dict[str, int] = {}
        counting = True

        def on_change(_received: float, event: dict[str, Any]) -> None:
            entity_id = event["data"]["entity_id"]
            if counting and entity_id in keys:
                counts[entity_id] = counts.get(entity_id, 0) + 1

        await self.ha.subscribe_events(on_change, "state_changed")
        duration = self.args.load_duration
        _log(f"(d) counting state changes of {len(stations)} charging stations for {duration} s")
        started = time.perf_counter()
        await asyncio.sleep(duration)
        counting = False
        elapsed = time.perf_counter() - started
        charging_at_end = sum(1 for st in stations if st.report(2)["State"] == 3)
        station_hours = min(charging_at_start, charging_at_end) * elapsed / 3600
        total = sum(counts.values())
        per_hour = total / station_hours if station_hours else float("nan")
        self.rows.append(
            Row(
                "(d)",
                f"state changes, {charging_at_end} charging stations for {elapsed:.0f} s",
                f"{total}",
            )
        )
        self.rows.append(
            Row(
                "",
                "  state changes per charging station-hour",
                f"{per_hour:.0f}",
                f"<= {self.args.load_target:g}" if self.args.load_target else "",
                per_hour <= self.args.load_target if self.args.load_target else None,
            )
        )
        by_key: dict[str, int] = {}
        for entity_id, count in counts.items():
            by_key[keys[entity_id]] = by_key.get(keys[entity_id], 0) + count
        for key, count in sorted(by_key.items(), key=lambda item: -item[1]):
            self.rows.append(Row("", f"    {key}", f"{count / station_hours:.0f} per station-hour"))

    def _violation_row(self, part: str, before: dict[str, int]) -> None:
        after = self.violations()
        new = {rule: after[rule] - before.get(rule, 0) for rule in after}
        self.rows.append(
            Row(
                "",
                f"  timing-rule violations during {part}",
                json.dumps(new),
                "none",
                new == NO_VIOLATIONS,
            )
        )


def _write_config(
    config_dir: Path, client_ip: str, station_ips: list[str], integration: Path
) -> None:
    frontend = write_empty_frontend(config_dir.parent / "frontend")
    (config_dir / "custom_components").mkdir(parents=True)
    (config_dir / "custom_components" / "keba").symlink_to(integration.resolve())
    (config_dir / "automations.yaml").write_text("[]\n", encoding="utf-8")
    stations = "".join(f"    - {ip}\n" for ip in station_ips)
    (config_dir / "configuration.yaml").write_text(
        "frontend:\n"
        f"  development_repo: {frontend}\n"
        "api:\n"
        "config:\n"
        "automation: !include automations.yaml\n"
        "logger:\n"
        "  default: warning\n"
        "keba:\n"
        f"  bind_address: {client_ip}\n"
        "  discovery_addresses:\n"
        f"{stations}",
        encoding="utf-8",
    )
    write_onboarding_storage(config_dir)


def _print_table(bench: Bench | None, rows: list[Row], args: argparse.Namespace) -> bool:
    import homeassistant.const

    width = max([len(r.measurement) for r in rows] + [20])
    rwidth = max([len(r.result) for r in rows] + [10])
    print()
    print(
        f"KEBA KeContact in Home Assistant {homeassistant.const.__version__} "
        f"(Python {sys.version.split()[0]}), {args.stations} simulated stations on "
        f"{args.net}.0/24"
    )
    print("command: " + " ".join(["scripts/bench_ha", *sys.argv[1:]]))
    print()
    print(f"{'part':<5} {'measurement':<{width}}  {'result':<{rwidth}}  {'target':<18} ok")
    print("-" * (5 + width + rwidth + 30))
    all_ok = True
    for row in rows:
        mark = "" if row.ok is None else ("yes" if row.ok else "NO")
        if row.ok is False:
            all_ok = False
        measurement, result = f"{row.measurement:<{width}}", f"{row.result:<{rwidth}}"
        print(f"{row.part:<5} {measurement}  {result}  {row.target:<18} {mark}")
    if bench is not None:
        print(f"\nHome Assistant's configuration and log: {bench.config_dir}")
    return all_ok


async def run(args: argparse.Namespace) -> bool:
    """Start everything, run the parts, print the table; True if every target was met."""
    client_ip = f"{args.net}.1"
    station_ips = [f"{args.net}.{i + 2}" for i in range(args.stations)]
    sim = Simulator(
        ips=station_ips,
        scenario="charging",
        variant="p30-x",
        current_change_delay=args.current_change_delay,
    )
    work = Path(tempfile.mkdtemp(prefix="keba-bench-ha-"))
    config_dir = work / "config"
    _write_config(config_dir, client_ip, station_ips, Path(args.integration))
    port = _free_tcp_port()
    write_http_storage(config_dir, "127.0.0.1", port)

    await sim.start()
    _log(f"{len(sim.stations)} simulated stations on {station_ips[0]}..{station_ips[-1]}")
    with (work / "home-assistant.out").open("wb") as out:
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "homeassistant",
            "-c",
            str(config_dir),
            "--skip-pip",
            cwd=work,
            stdout=out,
            stderr=asyncio.subprocess.STDOUT,
            # Without PYTHONPATH (set for this process), so that Home Assistant loads the
            # integration from its configuration directory like any custom integration.
            env={k: v for k, v in os.environ.items() if k != "PYTHONPATH"},
        )
    bench: Bench | None = None
    rows: list[Row] = []
    try:
        client = HomeAssistantClient(f"http://127.0.0.1:{port}")
        started = time.perf_counter()
        await asyncio.to_thread(client.wait_until_up, 120.0, None, process.pid)
        await asyncio.to_thread(client.onboard, "bench", "bench-password", "Benchmark")
        await asyncio.to_thread(client.wait_until_running, 120.0)
        elapsed = time.perf_counter() - started
        _log(f"Home Assistant running on {client.base_url} after {elapsed:.1f} s")
        assert client.token is not None
        async with HomeAssistantAsyncClient(client.base_url, client.token) as ha:
            bench = Bench(args, sim, client, ha, config_dir)
            rows = bench.rows
            await ha.subscribe_events(bench.watcher.on_event, "state_changed")
            parts = {
                "a": bench.push_latency,
                "b": bench.setup_time,
                "c": bench.control_loop,
                "d": bench.recorder_load,
            }
            for part in args.parts:
                try:
                    await parts[part]()
                except (TimeoutError, RuntimeError, OSError) as err:
                    rows.append(Row(f"({part})", f"failed: {err!r}", "", "", False))
    finally:
        if process.returncode is None:
            process.send_signal(signal.SIGTERM)
            try:
                async with asyncio.timeout(60):
                    await process.wait()
            except TimeoutError:
                process.kill()
                await process.wait()
        await sim.stop()
    ok = _print_table(bench, rows, args)
    log = (config_dir / "home-assistant.log").read_text(encoding="utf-8", errors="replace")
    problems = [
        line
        for line in log.splitlines()
        if (" ERROR " in line or " WARNING " in line)
        and ("keba" in line or "automation" in line)
        and "custom integration keba" not in line
    ]
    print(f"Warnings and errors of the integration and the automation in the log: {len(problems)}")
    for line in problems[:20]:
        print("  " + line[:240])
    if not args.keep and ok and not problems:
        shutil.rmtree(work, ignore_errors=True)
    return ok and not problems


def main() -> int:
    """Parse the options, run the benchmark, return 0 if every target was met."""
    parser = argparse.ArgumentParser(prog="scripts/bench_ha", description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--parts", default="abc", help="which parts to run, from abcd (default: abc)"
    )
    parser.add_argument(
        "--duration", type=float, default=600.0, help="(c) seconds of setpoints (default 600)"
    )
    parser.add_argument("--stations", type=int, default=16, help="stations (default 16)")
    parser.add_argument("--samples", type=int, default=40, help="(a) pushes (default 40)")
    parser.add_argument(
        "--interval", type=float, default=1.0, help="(a) seconds between pushes (default 1)"
    )
    parser.add_argument("--repeat", type=int, default=5, help="(b) setups each (default 5)")
    parser.add_argument(
        "--quiet",
        type=float,
        default=6.0,
        help="(b) seconds an entry stays disabled before its setup (default 6)",
    )
    parser.add_argument(
        "--current-change-delay",
        type=float,
        default=6.5,
        help="simulated IEC 61851-1 delay before Max curr follows a new current (default 6.5 s)",
    )
    parser.add_argument(
        "--settle-timeout",
        type=float,
        default=60.0,
        help="(c) seconds to wait for the last setpoints to apply (default 60)",
    )
    parser.add_argument(
        "--load-duration",
        type=float,
        default=600.0,
        help="(d) seconds of counting state changes (default 600)",
    )
    parser.add_argument(
        "--load-warmup",
        type=float,
        default=30.0,
        help="(d) seconds the stations charge before counting starts (default 30)",
    )
    parser.add_argument(
        "--load-target",
        type=float,
        default=0.0,
        help="(d) most state changes per charging station-hour (default: no target)",
    )
    parser.add_argument(
        "--integration",
        default=str(REPO_ROOT / "custom_components" / "keba"),
        help="directory of the integration Home Assistant loads (default: this checkout's)",
    )
    parser.add_argument("--net", help="loopback /24 as 127.x.y (default: random)")
    parser.add_argument(
        "--keep", action="store_true", help="keep the temporary configuration and logs"
    )
    args = parser.parse_args()
    if not set(args.parts) <= set("abcd") or not args.parts:
        parser.error("--parts takes letters from abcd")
    if not 1 <= args.stations <= 200:
        parser.error("--stations must be 1..200")
    if args.net is None:
        args.net = f"127.{random.randint(1, 254)}.{random.randint(0, 255)}"
    return 0 if asyncio.run(run(args)) else 1


if __name__ == "__main__":
    sys.exit(main())
