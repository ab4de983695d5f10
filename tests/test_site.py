"""Tests of the charging site: its config entry, flows, upgrade from station options, entities.

The site's control logic has its own tests; these check what Home Assistant adds: the site as a
config entry of its own (one per grid sensor) with its member stations in priority order, the
upgrade that turns the stations' old solar options into sites, and the site device's sensors
as a small model of a home (see test_solar) drives them.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path
import time
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest

from homeassistant.components.sensor import DOMAIN as SENSOR_DOMAIN
from homeassistant.config_entries import (
    SOURCE_IMPORT,
    SOURCE_USER,
    ConfigEntryDisabler,
    ConfigEntryState,
)
from homeassistant.const import CONF_HOST, STATE_UNKNOWN
from homeassistant.core import HomeAssistant, State
from homeassistant.data_entry_flow import FlowResultType
from homeassistant.helpers import device_registry as dr, entity_registry as er, issue_registry as ir
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry, mock_restore_cache

import custom_components.keba
from custom_components.keba.const import (
    CONF_ALLOWED_IMPORT,
    CONF_BATTERY_BUFFER_SOC,
    CONF_BATTERY_CHARGE_POSITIVE,
    CONF_BATTERY_MIN_SOC,
    CONF_BATTERY_POWER_SENSOR,
    CONF_BATTERY_PRIORITY_SOC,
    CONF_BATTERY_SOC_SENSOR,
    CONF_CONTROL_INTERVAL,
    CONF_ENTRY_KIND,
    CONF_GRID_IMPORT_POSITIVE,
    CONF_GRID_SENSOR,
    CONF_PRIORITY,
    CONF_PV_POWER_SENSOR,
    CONF_SHARE_EQUALLY,
    CONF_SITE_STATIONS,
    CONF_SOLAR_MAX_CURRENT,
    CONF_SOLAR_PHASES,
    CONF_START_DELAY,
    CONF_STOP_DELAY,
    DOMAIN,
    ENTRY_KIND_SITE,
    ISSUE_SITE_SETTINGS_MERGED,
)
from custom_components.keba.diagnostics import async_get_config_entry_diagnostics
from custom_components.keba.domain_data import is_site_entry

from .common import FakeStation
from .conftest import SERIAL
from .test_solar import (
    BATTERY,
    GRID,
    SECOND_HOST,
    SECOND_SERIAL,
    SOC,
    Home,
    Vehicle,
    _currents,
    _select_mode,
    _solar_state,
    second_station,
)

#: Fixtures of test_solar used here too.
_FIXTURES = (second_station,)
SITE_ID = f"site:{GRID}"
PV = "sensor.pv_power"
#: A site that reacts within a few control intervals.
QUICK_SITE = {CONF_START_DELAY: 30, CONF_STOP_DELAY: 60}
W = {"unit_of_measurement": "W", "device_class": "power"}


# ----------------------------------------------------------------------------------- helpers
def _station(serial: str = SERIAL, host: str = "192.0.2.10", **options: Any) -> MockConfigEntry:
    """A station's entry as this version stores it."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Carport {serial}",
        unique_id=serial,
        data={CONF_HOST: host},
        options=options,
        version=1,
        minor_version=2,
    )


def _site(stations: list[str], grid: str = GRID, **options: Any) -> MockConfigEntry:
    return MockConfigEntry(
        domain=DOMAIN,
        title="Home",
        unique_id=f"site:{grid}",
        data={CONF_ENTRY_KIND: ENTRY_KIND_SITE, CONF_GRID_SENSOR: grid},
        options={CONF_SITE_STATIONS: stations, **options},
        version=1,
        minor_version=2,
    )


async def _setup(hass: HomeAssistant, *entries: MockConfigEntry) -> None:
    for entry in entries:
        entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done(wait_background_tasks=True)
    for entry in entries:
        assert entry.state is ConfigEntryState.LOADED


def _site_value(hass: HomeAssistant, key: str, site_id: str = SITE_ID) -> str:
    entity_id = er.async_get(hass).async_get_entity_id(SENSOR_DOMAIN, DOMAIN, f"{site_id}_{key}")
    assert entity_id is not None, f"no site sensor {key}"
    state = hass.states.get(entity_id)
    assert state is not None
    return state.state


def _sites(hass: HomeAssistant) -> list[Any]:
    return [entry for entry in hass.config_entries.async_entries(DOMAIN) if is_site_entry(entry)]


def _device(hass: HomeAssistant, serial: str) -> str:
    entry = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, serial)
    assert entry is not None
    device = dr.async_get(hass).async_get_device_by_identifier((DOMAIN, serial), entry.entry_id)
    assert device is not None
    return device.id


# ------------------------------------------------------------------------------ the boundary
def test_coordinator_does_not_import_the_site_or_solar_code() -> None:
    """Whatever decides about the current is handed to the coordinator; it imports none of it."""
    path = Path(custom_components.keba.__file__).parent / "coordinator.py"
    tree = ast.parse(path.read_text(encoding="utf-8"))
    imported: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            module = node.module or ""
            imported.add(module)
            imported.update(f"{module}.{alias.name}" for alias in node.names)
        elif isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
    assert imported, "no imports found: is this the coordinator?"
    forbidden = ("solar", "surplus", "site")
    offending = {
        name
        for name in imported
        if any(
            part.startswith(forbidden) for part in name.replace("custom_components.", "").split(".")
        )
    }
    assert offending == set()


# ---------------------------------------------------------------------------------- the flows
@pytest.fixture
def stations_without_setup(hass: HomeAssistant, mock_station: FakeStation) -> list[MockConfigEntry]:
    """Two stations with devices (not set up: flows only look at the registries)."""
    entries = [_station(), _station(SECOND_SERIAL, SECOND_HOST)]
    registry = dr.async_get(hass)
    for entry in entries:
        entry.add_to_hass(hass)
        registry.async_get_or_create(
            config_entry_id=entry.entry_id,
            identifiers={(DOMAIN, entry.unique_id)},
            name=entry.title,
        )
    return entries


@pytest.fixture
def no_setup() -> Any:
    """Entries the flows create or change are not set up."""
    with patch("custom_components.keba.async_setup_entry", return_value=True):
        yield


SITE_FORM = {
    CONF_GRID_SENSOR: GRID,
    CONF_GRID_IMPORT_POSITIVE: False,
    CONF_SHARE_EQUALLY: False,
    "battery": {
        CONF_BATTERY_POWER_SENSOR: BATTERY,
        CONF_BATTERY_CHARGE_POSITIVE: True,
        CONF_BATTERY_SOC_SENSOR: SOC,
        CONF_BATTERY_PRIORITY_SOC: 20,
        CONF_BATTERY_BUFFER_SOC: 60,
    },
    "pv": {CONF_PV_POWER_SENSOR: PV},
    "control": {
        CONF_ALLOWED_IMPORT: 200,
        CONF_CONTROL_INTERVAL: 15,
        CONF_START_DELAY: 30,
        CONF_STOP_DELAY: 120,
    },
}


@pytest.mark.usefixtures("no_setup")
async def test_create_a_site(
    hass: HomeAssistant, stations_without_setup: list[MockConfigEntry]
) -> None:
    """The user menu offers a site next to a station; the site lists its stations in order."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    assert result["type"] is FlowResultType.MENU
    assert result["menu_options"] == ["station", "site"]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "site"}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "site"

    devices = [_device(hass, SECOND_SERIAL), _device(hass, SERIAL)]
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**SITE_FORM, "name": "Home", CONF_SITE_STATIONS: devices}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    (site,) = _sites(hass)
    assert site.title == "Home"
    assert site.unique_id == SITE_ID
    assert site.data == {
        CONF_ENTRY_KIND: ENTRY_KIND_SITE,
        CONF_GRID_SENSOR: GRID,
        CONF_GRID_IMPORT_POSITIVE: False,
    }
    assert site.options == {
        CONF_SITE_STATIONS: [SECOND_SERIAL, SERIAL],  # the order chosen is the priority
        CONF_SHARE_EQUALLY: False,
        CONF_BATTERY_POWER_SENSOR: BATTERY,
        CONF_BATTERY_CHARGE_POSITIVE: True,
        CONF_BATTERY_SOC_SENSOR: SOC,
        CONF_BATTERY_PRIORITY_SOC: 20.0,
        CONF_BATTERY_BUFFER_SOC: 60.0,
        CONF_PV_POWER_SENSOR: PV,
        CONF_ALLOWED_IMPORT: 200.0,
        CONF_CONTROL_INTERVAL: 15,
        CONF_START_DELAY: 30,
        CONF_STOP_DELAY: 120,
    }

    # One site per grid connection.
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "site"}
    )
    result = await hass.config_entries.flow.async_configure(result["flow_id"], SITE_FORM)
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "site_already_configured"


@pytest.mark.usefixtures("no_setup")
async def test_a_new_site_is_named_in_the_user_s_language(
    hass: HomeAssistant, stations_without_setup: list[MockConfigEntry]
) -> None:
    """Without a name the site is called "Charging site"; the form suggests a battery buffer."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "site"}
    )
    battery = result["data_schema"].schema["battery"].schema
    suggested = {
        key.schema: key.description["suggested_value"]
        for key in battery.schema
        if key.description and "suggested_value" in key.description
    }
    assert suggested == {CONF_BATTERY_BUFFER_SOC: 50.0}
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: GRID, "battery": {}, "pv": {}, "control": {}}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["title"] == "Charging site"
    assert _sites(hass)[0].options[CONF_SITE_STATIONS] == []


@pytest.mark.usefixtures("no_setup")
async def test_a_station_already_in_another_site_is_refused(
    hass: HomeAssistant, stations_without_setup: list[MockConfigEntry]
) -> None:
    """A station belongs to one site: the form names it and the site that has it."""
    _site([SERIAL], grid="sensor.other_meter").add_to_hass(hass)
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "site"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"],
        {**SITE_FORM, CONF_SITE_STATIONS: [_device(hass, SECOND_SERIAL), _device(hass, SERIAL)]},
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SITE_STATIONS: "station_in_other_site"}
    assert result["description_placeholders"] == {"station": f"Carport {SERIAL}", "site": "Home"}

    # Without it, the site is created.
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**SITE_FORM, CONF_SITE_STATIONS: [_device(hass, SECOND_SERIAL)]}
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert result["options"][CONF_SITE_STATIONS] == [SECOND_SERIAL]


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"battery": {CONF_BATTERY_SOC_SENSOR: SOC}}, {"battery": "soc_without_battery_power"}),
        (
            {"battery": {CONF_BATTERY_PRIORITY_SOC: 70, CONF_BATTERY_BUFFER_SOC: 50}},
            {"battery": "battery_soc_order"},
        ),
        ({"pv": {CONF_PV_POWER_SENSOR: GRID}}, {"base": "same_sensor_twice"}),
    ],
)
@pytest.mark.usefixtures("no_setup")
async def test_site_form_errors(
    hass: HomeAssistant,
    stations_without_setup: list[MockConfigEntry],
    changes: dict[str, Any],
    errors: dict[str, str],
) -> None:
    """Each mistake is shown where it is; corrected, the site is created."""
    result = await hass.config_entries.flow.async_init(DOMAIN, context={"source": SOURCE_USER})
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {"next_step_id": "site"}
    )
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {**SITE_FORM, **changes}
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == errors
    result = await hass.config_entries.flow.async_configure(result["flow_id"], SITE_FORM)
    assert result["type"] is FlowResultType.CREATE_ENTRY


@pytest.mark.usefixtures("no_setup")
async def test_site_options(
    hass: HomeAssistant, stations_without_setup: list[MockConfigEntry]
) -> None:
    """The options show the stored settings and members; saving replaces them."""
    site = _site([SERIAL], **{CONF_ALLOWED_IMPORT: 100.0, CONF_STOP_DELAY: 90})
    site.add_to_hass(hass)
    result = await hass.config_entries.options.async_init(site.entry_id)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "site"
    keys = {key.schema: key for key in result["data_schema"].schema}
    assert keys[CONF_SITE_STATIONS].description["suggested_value"] == [_device(hass, SERIAL)]
    control = result["data_schema"].schema["control"].schema
    suggested = {
        key.schema: key.description["suggested_value"]
        for key in control.schema
        if key.description and "suggested_value" in key.description
    }
    assert suggested == {CONF_ALLOWED_IMPORT: 100.0, CONF_STOP_DELAY: 90}

    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            **{
                k: v
                for k, v in SITE_FORM.items()
                if k not in (CONF_GRID_SENSOR, CONF_GRID_IMPORT_POSITIVE)
            },
            CONF_SITE_STATIONS: [_device(hass, SERIAL), _device(hass, SECOND_SERIAL)],
            CONF_SHARE_EQUALLY: True,
        },
    )
    assert result["type"] is FlowResultType.CREATE_ENTRY
    assert site.options[CONF_SITE_STATIONS] == [SERIAL, SECOND_SERIAL]
    assert site.options[CONF_SHARE_EQUALLY] is True
    assert site.options[CONF_STOP_DELAY] == 120
    assert site.data[CONF_GRID_SENSOR] == GRID

    # A station of another site is refused here too (the site's own stations are fine).
    _site([SECOND_SERIAL], grid="sensor.other_meter").add_to_hass(hass)
    result = await hass.config_entries.options.async_init(site.entry_id)
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_SITE_STATIONS: [_device(hass, SERIAL), _device(hass, SECOND_SERIAL)],
            "battery": {},
            "pv": {},
            "control": {},
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {CONF_SITE_STATIONS: "station_in_other_site"}

    # The site's grid sensor cannot be its battery's too.
    result = await hass.config_entries.options.async_configure(
        result["flow_id"],
        {
            CONF_SITE_STATIONS: [_device(hass, SERIAL)],
            "battery": {CONF_BATTERY_POWER_SENSOR: GRID},
            "pv": {},
            "control": {},
        },
    )
    assert result["type"] is FlowResultType.FORM
    assert result["errors"] == {"base": "same_sensor_twice"}
    assert site.options[CONF_BATTERY_POWER_SENSOR] == BATTERY


@pytest.mark.usefixtures("no_setup")
async def test_site_reconfigure_moves_to_another_grid_sensor(
    hass: HomeAssistant, stations_without_setup: list[MockConfigEntry]
) -> None:
    """Reconfigure changes the grid sensor (and so the unique id); another site's is refused."""
    site = _site([SERIAL])
    site.add_to_hass(hass)
    _site([], grid="sensor.taken").add_to_hass(hass)
    result = await site.start_reconfigure_flow(hass)
    assert result["type"] is FlowResultType.FORM
    assert result["step_id"] == "site_reconfigure"

    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: "sensor.taken", CONF_GRID_IMPORT_POSITIVE: True}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "site_already_configured"

    result = await site.start_reconfigure_flow(hass)
    result = await hass.config_entries.flow.async_configure(
        result["flow_id"], {CONF_GRID_SENSOR: "sensor.new_meter", CONF_GRID_IMPORT_POSITIVE: False}
    )
    assert result["type"] is FlowResultType.ABORT
    assert result["reason"] == "site_reconfigured"
    assert site.unique_id == "site:sensor.new_meter"
    assert site.data[CONF_GRID_SENSOR] == "sensor.new_meter"
    assert site.data[CONF_GRID_IMPORT_POSITIVE] is False
    assert site.options[CONF_SITE_STATIONS] == [SERIAL]


# --------------------------------------------------------------------------------- the upgrade
def _old_station(serial: str, host: str, **options: Any) -> MockConfigEntry:
    """A station's entry from before sites (version 1.1, site settings in its options)."""
    return MockConfigEntry(
        domain=DOMAIN,
        title=f"Carport {serial}",
        unique_id=serial,
        data={CONF_HOST: host},
        options=options,
        version=1,
        minor_version=1,
    )


async def test_upgrade_makes_one_site_per_grid_sensor(
    hass: HomeAssistant, mock_station: FakeStation, second_station: FakeStation
) -> None:
    """Two stations naming the same grid sensor with different settings become one site.

    The station served first (priority 1) keeps its settings; the other gets a repair issue
    naming them. Each keeps its vehicle's settings; nothing is asked of the user.
    """
    hass.states.async_set(GRID, "-3000", W)
    first = _old_station(
        SECOND_SERIAL,
        SECOND_HOST,
        **{
            CONF_GRID_SENSOR: GRID,
            CONF_GRID_IMPORT_POSITIVE: False,
            CONF_BATTERY_POWER_SENSOR: BATTERY,
            CONF_BATTERY_MIN_SOC: 70,
            CONF_ALLOWED_IMPORT: 300,
            CONF_PRIORITY: 1,
            CONF_SOLAR_MAX_CURRENT: 20,
        },
    )
    second = _old_station(
        SERIAL,
        "192.0.2.10",
        **{
            CONF_GRID_SENSOR: GRID,
            CONF_ALLOWED_IMPORT: 0,
            CONF_CONTROL_INTERVAL: 30,
            CONF_PRIORITY: 2,
            CONF_SOLAR_PHASES: "1",
            "charging_interval": 10,
        },
    )
    # A station without solar settings (it cannot be reached here: only migrated).
    plain = _old_station("18039976", "192.0.2.12", charging_interval=20)
    plain.add_to_hass(hass)
    # The entry of the station served second comes first: the order is by priority.
    await _setup(hass, second, first)

    (site,) = _sites(hass)
    assert site.state is ConfigEntryState.LOADED
    assert site.source == SOURCE_IMPORT
    assert site.title == "Charging site"
    assert site.unique_id == SITE_ID
    assert site.data == {
        CONF_ENTRY_KIND: ENTRY_KIND_SITE,
        CONF_GRID_SENSOR: GRID,
        CONF_GRID_IMPORT_POSITIVE: False,
    }
    assert site.options == {
        CONF_SITE_STATIONS: [SECOND_SERIAL, SERIAL],
        CONF_SHARE_EQUALLY: False,
        CONF_BATTERY_CHARGE_POSITIVE: True,
        CONF_BATTERY_POWER_SENSOR: BATTERY,
        CONF_BATTERY_PRIORITY_SOC: 70.0,
        CONF_START_DELAY: 60,
        CONF_STOP_DELAY: 300,
        CONF_ALLOWED_IMPORT: 300.0,
        CONF_CONTROL_INTERVAL: 10,
    }
    assert (first.version, first.minor_version) == (1, 2)
    assert first.options == {CONF_SOLAR_MAX_CURRENT: 20}
    assert second.options == {CONF_SOLAR_PHASES: "1", "charging_interval": 10}
    assert plain.options == {"charging_interval": 20}
    assert (plain.version, plain.minor_version) == (1, 2)

    issues = ir.async_get(hass)
    issue = issues.async_get_issue(DOMAIN, f"{ISSUE_SITE_SETTINGS_MERGED}_{second.entry_id}")
    assert issue is not None
    assert issue.translation_key == ISSUE_SITE_SETTINGS_MERGED
    assert issue.translation_placeholders == {
        "station": f"Carport {SERIAL}",
        "kept_from": f"Carport {SECOND_SERIAL}",
        "site": "Charging site",
        "grid_sensor": GRID,
        "grid_sign": "−",
        "battery": BATTERY,
        "battery_soc": "–",
        "priority_soc": "70",
        "allowed_import": "300",
        "control_interval": "10",
        "start_delay": "60",
        "stop_delay": "300",
    }
    assert issues.async_get_issue(DOMAIN, f"{ISSUE_SITE_SETTINGS_MERGED}_{first.entry_id}") is None
    assert len([i for i in issues.issues.values() if i.domain == DOMAIN]) == 1

    # The site runs with both stations; the surplus is the export (sign: export positive).
    assert _site_value(hass, "surplus_power") in (STATE_UNKNOWN, "-3000", "-3000.0")
    await _select_mode(hass, "solar", SECOND_SERIAL)
    # 3000 W of import while the vehicle draws 10 980 W (the fixture's report 3).
    assert float(_site_value(hass, "surplus_power")) == pytest.approx(10980 - 3000)
    assert _solar_state(hass, SECOND_SERIAL) == "charging_from_surplus"


async def test_upgrade_of_agreeing_stations_shares_equally_without_issue(
    hass: HomeAssistant, mock_station: FakeStation, second_station: FakeStation
) -> None:
    """Same settings and the same priority: one site, shared equally, no repair issue."""
    options = {CONF_GRID_SENSOR: GRID, CONF_STOP_DELAY: 120}
    first = _old_station(SERIAL, "192.0.2.10", **options)
    second = _old_station(SECOND_SERIAL, SECOND_HOST, **options)
    await _setup(hass, first, second)
    (site,) = _sites(hass)
    assert site.options[CONF_SITE_STATIONS] == [SERIAL, SECOND_SERIAL]
    assert site.options[CONF_SHARE_EQUALLY] is True
    assert site.options[CONF_STOP_DELAY] == 120
    assert [i for i in ir.async_get(hass).issues.values() if i.domain == DOMAIN] == []


# ---------------------------------------------------------------------- the site and its home
async def _home(
    hass: HomeAssistant,
    vehicles: list[Vehicle],
    site_options: dict[str, Any],
    stations: list[MockConfigEntry],
    **home: Any,
) -> Home:
    world = Home(hass, vehicles, **home)
    world.report()
    world.obey()
    await _setup(hass, *stations, _site([s.unique_id for s in stations], **site_options))
    return world


BATTERY_SITE = {
    **QUICK_SITE,
    CONF_BATTERY_POWER_SENSOR: BATTERY,
    CONF_BATTERY_SOC_SENSOR: SOC,
    CONF_BATTERY_PRIORITY_SOC: 20.0,
    CONF_BATTERY_BUFFER_SOC: 50.0,
}


@dataclass
class HybridHome(Home):
    """A home whose hybrid inverter's battery takes all export and covers all import.

    The grid meter shows nothing while the battery can; the battery sensor shows its power
    (charging positive) and its state of charge (held fixed: a test is short).
    """

    soc: float = 50.0

    @property
    def battery(self) -> float:
        """Battery power (W): what PV leaves after the house and the vehicles."""
        return self.pv - self.house - sum(v.power for v in self.vehicles)

    @property
    def grid(self) -> float:
        """Nothing: the battery balances the site."""
        return 0.0

    def report(self) -> None:
        """The battery's sensors report with the meters."""
        self.extra = {
            BATTERY: (f"{self.battery:g}", W),
            SOC: (f"{self.soc:g}", {"unit_of_measurement": "%", "device_class": "battery"}),
        }
        super().report()


async def _hybrid(
    hass: HomeAssistant, station: FakeStation, soc: float, pv: float
) -> tuple[HybridHome, Vehicle]:
    vehicle = Vehicle(station, offered=0)
    world = HybridHome(hass, [vehicle], pv=pv, soc=soc)
    world.report()
    world.obey()
    await _setup(hass, _station(**{CONF_SOLAR_PHASES: "3"}), _site([SERIAL], **BATTERY_SITE))
    return world, vehicle


@pytest.mark.parametrize(("soc", "bridging"), [(80, True), (40, False)])
async def test_the_battery_bridges_a_dip_above_its_buffer(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_station: FakeStation,
    soc: float,
    bridging: bool,
) -> None:
    """Above the buffer level the battery's discharge carries the vehicle through a cloud.

    Below it, the discharge counts as import: the dip is held or paused by the site's rules.
    """
    world, vehicle = await _hybrid(hass, mock_station, soc, pv=6000)
    await _select_mode(hass, "solar")
    for _ in range(4):
        await world.step(freezer)
    # The battery's charging power (6000 W) is the vehicle's above the priority level.
    assert _site_value(hass, "site_state") == "charging_from_surplus"
    assert vehicle.offered == 8.0
    assert float(_site_value(hass, "battery_share")) == 0
    pauses = mock_station.pause_charging.await_count  # the one before the start

    await world.change(pv=2000)  # a cloud: the battery covers 3520 W, then 2140 W at 6 A
    for _ in range(3):
        await world.step(freezer)
    if bridging:
        assert _site_value(hass, "site_state") == "battery_bridging"
        assert _solar_state(hass) == "battery_bridging"
        assert vehicle.offered == 6.0
        assert float(_site_value(hass, "battery_share")) == pytest.approx(
            100 * 2140 / 4140, abs=0.5
        )
        for _ in range(12):  # two minutes, twice the stop delay: still bridged
            await world.step(freezer)
        assert _site_value(hass, "site_state") == "battery_bridging"
        assert mock_station.pause_charging.await_count == pauses
    else:
        assert _site_value(hass, "site_state") in ("holding_through_dip", "paused")
        for _ in range(12):
            await world.step(freezer)
        assert mock_station.pause_charging.await_count == pauses + 1
        assert vehicle.offered == 0

    await world.change(pv=6000)  # the cloud has passed
    for _ in range(6):
        await world.step(freezer)
    assert vehicle.offered == 8.0
    assert _site_value(hass, "site_state") == "charging_from_surplus"


async def test_below_the_priority_level_the_battery_charges_first(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """A charging battery's power is surplus only from the priority level on."""
    world, vehicle = await _hybrid(hass, mock_station, soc=10, pv=6000)
    await _select_mode(hass, "solar")
    for _ in range(5):
        await world.step(freezer)
    # Below 20 %: the battery takes the 6000 W, the vehicle waits.
    assert float(_site_value(hass, "surplus_power")) == pytest.approx(0)
    assert _site_value(hass, "site_state") == "waiting_for_surplus"
    assert vehicle.offered == 0

    world.soc = 25  # above the priority level: the vehicle comes first
    for _ in range(5):
        await world.step(freezer)
    assert float(_site_value(hass, "surplus_power")) == pytest.approx(6000)
    assert vehicle.offered == 8.0  # 6000 W / 690 W per ampere
    assert _site_value(hass, "site_state") == "charging_from_surplus"


def _site_attributes(hass: HomeAssistant, key: str = "site_state") -> dict[str, Any]:
    entity_id = er.async_get(hass).async_get_entity_id(SENSOR_DOMAIN, DOMAIN, f"{SITE_ID}_{key}")
    assert entity_id is not None
    state = hass.states.get(entity_id)
    assert state is not None
    return dict(state.attributes)


async def test_the_site_state_says_why_a_dip_was_held_or_paused(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """The site state's attributes show the latest dip decision, its reason and figures."""
    vehicle = Vehicle(mock_station)
    world = await _home(hass, [vehicle], QUICK_SITE, [_station()], pv=6000, house=300)
    await _select_mode(hass, "solar")
    await world.step(freezer)
    assert _site_value(hass, "site_state") == "charging_from_surplus"
    assert _site_attributes(hass)["dip_decision"] is None  # no dip yet

    await world.change(pv=1400)  # 1100 W left for a vehicle whose minimum is 1380 W
    await world.step(freezer)
    assert _site_value(hass, "site_state") == "holding_through_dip"
    # The surplus is an average over the interval, shown in whole watts.
    assert _site_value(hass, "surplus_power").lstrip("-").isdigit()
    held = _site_attributes(hass)
    assert held["dip_decision"] == "hold"
    assert held["dip_reason"] == "within_budget"
    assert held["dip_station"] == f"Carport {SERIAL}"
    assert 0 < held["dip_imported"] <= held["dip_budget"]

    for _ in range(12):  # two minutes: longer than the budget and the stop delay allow
        await world.step(freezer)
    assert vehicle.offered == 0
    paused = _site_attributes(hass)
    assert paused["dip_decision"] == "pause"
    assert paused["dip_reason"] in ("over_budget", "stop_delay")
    assert paused["dip_imported"] > held["dip_imported"]
    # The decision stays shown while the vehicle waits for the surplus to come back.
    assert _site_value(hass, "site_state") in ("paused", "waiting_for_surplus")
    assert paused["dip_at"] > held["dip_at"]


async def test_a_stale_grid_sensor_shows_on_the_site(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """A grid sensor that stops reporting is unknown after a minute: the site says so."""
    vehicle = Vehicle(mock_station)
    world = await _home(hass, [vehicle], QUICK_SITE, [_station()], pv=6000)
    await _select_mode(hass, "solar")
    await world.step(freezer)
    assert _site_value(hass, "site_state") == "charging_from_surplus"
    world.meter_silent = True
    for _ in range(7):
        await world.step(freezer)
    assert _site_value(hass, "site_state") == "grid_sensor_unavailable"
    assert _site_value(hass, "surplus_power") == STATE_UNKNOWN
    assert vehicle.offered == 6.0  # the minimum, until the stop delay runs out
    world.meter_silent = False
    await world.step(freezer)
    assert _site_value(hass, "site_state") == "charging_from_surplus"


async def test_two_stations_share_by_the_site_s_order(
    hass: HomeAssistant,
    freezer: FrozenDateTimeFactory,
    mock_station: FakeStation,
    second_station: FakeStation,
) -> None:
    """The site's first station gets the surplus first, the next what is left."""
    first, second = Vehicle(mock_station, offered=0), Vehicle(second_station, offered=0)
    options = {CONF_SOLAR_PHASES: "3"}
    stations = [_station(SECOND_SERIAL, SECOND_HOST, **options), _station(**options)]
    world = await _home(
        hass, [first, second], {**QUICK_SITE, CONF_START_DELAY: 0}, stations, pv=6000
    )
    await _select_mode(hass, "solar", SECOND_SERIAL)
    await _select_mode(hass, "solar")
    for _ in range(3):
        await world.step(freezer)
    # 6000 W: enough for one; the second station in the list waits.
    assert (second.offered, first.offered) == (8.0, 0.0)
    assert _solar_state(hass) == "waiting_for_surplus"

    await world.change(pv=16000)
    for _ in range(3):
        await world.step(freezer)
    assert second.offered == 16.0
    assert first.offered >= 6.0
    assert _site_value(hass, "site_state") == "charging_from_surplus"


async def test_restart_keeps_the_mode_whichever_entry_loads_first(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """The station's mode and its vehicle's phases come back although its site loads later."""
    mock_restore_cache(hass, [State("select.carport_18039974_charging_mode", "solar")])
    vehicle = Vehicle(mock_station, offered=8)
    world = Home(hass, [vehicle], pv=6000)
    world.report()
    world.obey()
    station = _station(**{CONF_SOLAR_PHASES: "3"})
    # The station loads first, its site later (here: the site is enabled afterwards).
    site = _site([SERIAL], **QUICK_SITE)
    site.disabled_by = ConfigEntryDisabler.USER
    station.add_to_hass(hass)
    site.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done(wait_background_tasks=True)
    assert site.state is ConfigEntryState.NOT_LOADED
    assert hass.states.get("select.carport_18039974_charging_mode").state == "solar"
    mock_station.pause_charging.assert_not_awaited()
    mock_station.set_current.assert_not_awaited()
    assert await hass.config_entries.async_set_disabled_by(site.entry_id, None)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert site.state is ConfigEntryState.LOADED
    # The vehicle that charged at 8 A is adopted, not paused.
    await world.step(freezer)
    mock_station.pause_charging.assert_not_awaited()
    assert vehicle.offered == 8.0
    assert _solar_state(hass) == "charging_from_surplus"

    # The site reloaded (its options saved): the station stays in its mode.
    assert await hass.config_entries.async_reload(site.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    await world.step(freezer)
    assert _solar_state(hass) == "charging_from_surplus"
    mock_station.pause_charging.assert_not_awaited()
    assert _currents(mock_station) in ([], [8.0])


async def test_the_session_ledger_learns_the_surplus_share_from_the_site(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """A member station's ledger is told how much of the energy flowing now is surplus."""
    vehicle = Vehicle(mock_station)
    station = _station()
    world = await _home(hass, [vehicle], QUICK_SITE, [station], pv=6000, house=500)
    await _select_mode(hass, "solar")
    await world.step(freezer)
    ledger = station.runtime_data.ledger
    assert ledger is not None
    assert ledger.surplus_share is not None
    assert vehicle.power > 0
    assert ledger.surplus_share() == 1.0  # exporting while the vehicle charges
    await world.change(pv=vehicle.power / 2)  # a cloud: half of it, and the house, imported
    assert ledger.surplus_share() == pytest.approx(0.5 - 500 / vehicle.power)

    (site,) = _sites(hass)
    await hass.config_entries.async_remove(site.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert ledger.surplus_share is None


async def test_deleting_a_site_hands_its_stations_back(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """A deleted site leaves no station paused: the mode goes to off, the maximum is offered."""
    mock_station.set_report(2, **{"Curr HW": 20000})
    vehicle = Vehicle(mock_station, offered=0)
    world = await _home(hass, [vehicle], QUICK_SITE, [_station()], pv=0)
    await _select_mode(hass, "solar")
    await world.step(freezer)
    mock_station.pause_charging.assert_awaited()
    assert vehicle.offered == 0

    (site,) = _sites(hass)
    await hass.config_entries.async_remove(site.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert hass.states.get("select.carport_18039974_charging_mode").state == "off"
    assert _currents(mock_station) == [20.0]
    assert vehicle.offered == 20.0


async def test_saving_the_site_s_options_keeps_the_day_s_dips(
    hass: HomeAssistant, freezer: FrozenDateTimeFactory, mock_station: FakeStation
) -> None:
    """Saving the options reloads the site; what it learned of today's dips stays."""
    vehicle = Vehicle(mock_station, offered=0)
    world = await _home(hass, [vehicle], QUICK_SITE, [_station()], pv=0)
    (entry,) = _sites(hass)
    before = entry.runtime_data.site
    dips = before.control.dips
    # Three dips of 10 min seen today (monotonic seconds, as the site records them).
    now = time.monotonic()
    for start in (now - 3000, now - 2000, now - 1000):
        dips.observe(start - 1, SERIAL, 5000.0, 1380.0)
        dips.observe(start, SERIAL, 0.0, 1380.0)
        dips.observe(start + 600, SERIAL, 5000.0, 1380.0)
    learned = dips.dips_today(SERIAL)
    assert learned == [600.0, 600.0, 600.0]

    hass.config_entries.async_update_entry(entry, options={**entry.options, CONF_STOP_DELAY: 240})
    await hass.async_block_till_done()
    await world.step(freezer)
    assert entry.state is ConfigEntryState.LOADED
    site = entry.runtime_data.site
    assert site is not before  # reloaded with the new settings
    assert site.options[CONF_STOP_DELAY] == 240
    assert site.control.dips.dips_today(SERIAL) == learned

    # A deleted site's learning goes with it: a new site starts from nothing.
    await hass.config_entries.async_remove(entry.entry_id)
    again = _site([SERIAL], **QUICK_SITE)
    again.add_to_hass(hass)
    assert await hass.config_entries.async_setup(again.entry_id)
    assert again.runtime_data.site.control.dips.dips_today(SERIAL) == []


async def test_deleting_a_station_takes_it_off_its_site(
    hass: HomeAssistant, mock_station: FakeStation
) -> None:
    """The site's list forgets a deleted station (adding it again means choosing it again)."""
    station = _station()
    site = _site([SERIAL, SECOND_SERIAL])
    await _setup(hass, station, site)
    await hass.config_entries.async_remove(station.entry_id)
    await hass.async_block_till_done(wait_background_tasks=True)
    assert site.options[CONF_SITE_STATIONS] == [SECOND_SERIAL]
    assert site.state is ConfigEntryState.LOADED


async def test_site_diagnostics(hass: HomeAssistant, mock_station: FakeStation) -> None:
    """A site's diagnostics: its settings (member serials redacted) and its latest state."""
    site = _site([SERIAL], **QUICK_SITE)
    await _setup(hass, _station(), site)
    diagnostics = await async_get_config_entry_diagnostics(hass, site)
    assert diagnostics["entry"]["options"][CONF_SITE_STATIONS] == ["**REDACTED**"]
    assert diagnostics["entry"]["data"][CONF_GRID_SENSOR] == GRID
    assert diagnostics["site"]["stations_loaded"] == 1
    assert diagnostics["site"]["state"] == "idle"
    assert SERIAL not in str(diagnostics)
