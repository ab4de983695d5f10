"""The integration's actions: engine calls, validation, targets and per-station defaults."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
import dataclasses
import json
from pathlib import Path
from typing import Any
from unittest.mock import patch

import pytest
import voluptuous as vol
import yaml

from homeassistant.config_entries import ConfigEntryState
from homeassistant.const import CONF_HOST
from homeassistant.core import HomeAssistant
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import area_registry as ar, device_registry as dr, entity_registry as er
from homeassistant.helpers.service import async_get_all_descriptions
from homeassistant.setup import async_setup_component
from pytest_homeassistant_custom_component.common import MockConfigEntry

from custom_components.keba.const import CONF_RFID_CLASS, CONF_RFID_TAG, DOMAIN
from custom_components.keba.kecontact import KebaCommandError, KebaTimeoutError, KebaValidationError
from simulator import Simulator

from .common import FakeStation, LoopbackNet, default_reports
from .conftest import SERIAL, SimulatorFactory

COMPONENT = Path(__file__).parent.parent / "custom_components" / DOMAIN
TRANSLATIONS = {
    lang: json.loads((COMPONENT / "translations" / f"{lang}.json").read_text(encoding="utf-8"))
    for lang in ("en", "de")
}
SERVICES = (
    "display",
    "start",
    "stop",
    "set_energy",
    "set_current",
    "set_failsafe",
    "unlock_socket",
    "set_output",
    "get_session_history",
    "export_sessions",
)

SECOND_HOST = "192.0.2.11"
SECOND_SERIAL = "18039975"


@pytest.fixture(autouse=True)
def no_platforms() -> Iterator[None]:
    """The actions work on entries and devices: leave the entity platforms out."""
    with patch("custom_components.keba.PLATFORMS", []):
        yield


def station_device(hass: HomeAssistant, entry: MockConfigEntry) -> dr.DeviceEntry:
    """The station's device, as the entity platforms register it."""
    return dr.async_get(hass).async_get_or_create(
        config_entry_id=entry.entry_id,
        identifiers={(DOMAIN, entry.unique_id or entry.entry_id)},
        name=entry.title,
    )


@pytest.fixture
def device(hass: HomeAssistant, init_integration: MockConfigEntry) -> dr.DeviceEntry:
    """The device of the set-up fake station."""
    return station_device(hass, init_integration)


async def call(
    hass: HomeAssistant,
    service: str,
    data: dict[str, Any] | None = None,
    *,
    target: dict[str, Any],
    response: bool = False,
) -> Any:
    """Call a keba action and wait for it."""
    return await hass.services.async_call(
        DOMAIN,
        service,
        data or {},
        target=target,
        blocking=True,
        return_response=response,
    )


def assert_translated(err: HomeAssistantError, key: str, **placeholders: str) -> None:
    """The error carries ``key`` and renders the English text with every placeholder filled."""
    assert err.translation_domain == DOMAIN
    assert err.translation_key == key
    if placeholders:
        assert err.translation_placeholders == placeholders
    template = TRANSLATIONS["en"]["exceptions"][key]["message"]
    # Home Assistant drops the final full stop of exception messages.
    assert str(err) == template.format(**(err.translation_placeholders or {})).rstrip(".")


async def expect_invalid(
    hass: HomeAssistant,
    service: str,
    data: dict[str, Any] | None,
    service_target: dict[str, Any],
    key: str,
    /,
    **placeholders: str,
) -> None:
    """The action is refused with the translated validation error ``key``."""
    with pytest.raises(ServiceValidationError) as caught:
        await call(hass, service, data, target=service_target)
    assert_translated(caught.value, key, **placeholders)


def set_capabilities(station: FakeStation, **changes: Any) -> None:
    """Pretend the station is another model."""
    assert station.capabilities is not None
    station.capabilities = dataclasses.replace(station.capabilities, **changes)


def no_commands_sent(station: FakeStation) -> None:
    """Nothing reached the station."""
    for command in (
        station.display,
        station.start_session,
        station.stop_session,
        station.set_energy_limit,
        station.set_current,
        station.set_failsafe,
        station.unlock_socket,
        station.set_output,
    ):
        command.assert_not_awaited()


# ------------------------------------------------------------------------ two stations
@pytest.fixture
def second_entry() -> MockConfigEntry:
    """Another station with its own RFID card in its options."""
    return MockConfigEntry(
        domain=DOMAIN,
        title="Garage",
        unique_id=SECOND_SERIAL,
        data={CONF_HOST: SECOND_HOST},
        options={CONF_RFID_TAG: "bbbb0000bbbb0000", CONF_RFID_CLASS: "02"},
    )


@pytest.fixture
def stations(mock_station: FakeStation) -> Iterator[dict[str, FakeStation]]:
    """Fake stations by host; the one at SECOND_HOST has its own serial number."""
    created = {mock_station.host: mock_station}

    def make(endpoint: Any, host: str) -> FakeStation:
        if host not in created:
            reports = default_reports()
            for report in reports.values():
                if "Serial" in report:
                    report["Serial"] = SECOND_SERIAL
            created[host] = FakeStation(endpoint, host, reports)
        created[host].endpoint = endpoint
        return created[host]

    with patch("custom_components.keba.KebaStation", side_effect=make):
        yield created


@pytest.fixture
async def two_devices(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    second_entry: MockConfigEntry,
    stations: dict[str, FakeStation],
) -> tuple[dr.DeviceEntry, dr.DeviceEntry]:
    """Two loaded stations with different options, and their devices."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry,
        options={CONF_RFID_TAG: "AAAA1111AAAA1111", CONF_RFID_CLASS: "01"},
    )
    second_entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    assert mock_config_entry.state is ConfigEntryState.LOADED
    assert second_entry.state is ConfigEntryState.LOADED
    return station_device(hass, mock_config_entry), station_device(hass, second_entry)


# -------------------------------------------------------------------------- descriptions
async def test_actions_are_registered_and_described(
    hass: HomeAssistant, init_integration: MockConfigEntry
) -> None:
    """Every action exists, services.yaml loads, and every field is translated in en and de."""
    assert set(hass.services.async_services_for_domain(DOMAIN)) == set(SERVICES)
    descriptions = (await async_get_all_descriptions(hass))[DOMAIN]
    assert set(descriptions) == set(SERVICES)
    spec = yaml.safe_load((COMPONENT / "services.yaml").read_text(encoding="utf-8"))
    icons = json.loads((COMPONENT / "icons.json").read_text(encoding="utf-8"))
    for service in SERVICES:
        assert spec[service]["target"] == {
            "device": {"integration": DOMAIN},
            "entity": {"integration": DOMAIN},
        }
        assert icons["services"][service]["service"].startswith("mdi:")
        for lang, strings in TRANSLATIONS.items():
            text = strings["services"][service]
            assert text["name"], (lang, service)
            assert text["description"], (lang, service)
            assert set(text.get("fields", {})) == set(spec[service].get("fields") or {}), (
                lang,
                service,
            )
            assert all(
                field["name"] and field["description"] for field in text.get("fields", {}).values()
            )
    assert descriptions["display"]["fields"]["text"]["required"] is True
    assert descriptions["set_current"]["fields"]["current"]["selector"]["number"]["step"] == 0.1


# ------------------------------------------------------------------------------- display
async def test_display_sends_the_text(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """Without times the station's defaults apply; the engine encodes the spaces."""
    await call(hass, "display", {"text": "Solar surplus 7.5 A"}, target={"device_id": device.id})
    mock_station.display.assert_awaited_once_with("Solar surplus 7.5 A", None, None)


@pytest.mark.parametrize(
    ("times", "expected"),
    [
        ({"min_time": 3, "max_time": 20}, (3, 20)),
        ({"min_time": 5, "max_time": 5}, (5, 5)),
        ({"min_time": 30}, (30, 30)),
        ({"min_time": 4}, (4, 10)),
        ({"max_time": 60}, (2, 60)),
        ({"max_time": 1}, (1, 1)),
        ({"min_time": 0, "max_time": 65535}, (0, 65535)),
    ],
)
async def test_display_times(
    hass: HomeAssistant,
    device: dr.DeviceEntry,
    mock_station: FakeStation,
    times: dict[str, int],
    expected: tuple[int, int],
) -> None:
    """A missing min or max time is completed so that min ≤ max."""
    await call(hass, "display", {"text": "Hi", **times}, target={"device_id": device.id})
    mock_station.display.assert_awaited_once_with("Hi", *expected)


@pytest.mark.parametrize(
    ("data", "key", "placeholders"),
    [
        ({"text": "x" * 24}, "display_text_too_long", {"length": "24", "max": "23"}),
        ({"text": "Grüße"}, "display_text_not_ascii", {}),
        ({"text": "line\nbreak"}, "display_text_not_ascii", {}),
        ({"text": ""}, "display_text_empty", {}),
        (
            {"text": "Hi", "min_time": 20, "max_time": 10},
            "display_min_above_max",
            {"min_time": "20", "max_time": "10"},
        ),
        (
            {"text": "Hi", "min_time": 65536},
            "display_time_out_of_range",
            {"value": "65536", "min": "0", "max": "65535"},
        ),
        (
            {"text": "Hi", "max_time": -1},
            "display_time_out_of_range",
            {"value": "-1", "min": "0", "max": "65535"},
        ),
    ],
)
async def test_display_rejects_bad_input(
    hass: HomeAssistant,
    device: dr.DeviceEntry,
    mock_station: FakeStation,
    data: dict[str, Any],
    key: str,
    placeholders: dict[str, str],
) -> None:
    """Text and times are checked before anything is sent."""
    await expect_invalid(hass, "display", data, {"device_id": device.id}, key, **placeholders)
    no_commands_sent(mock_station)


async def test_display_text_of_exactly_23_characters(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """23 printable characters, including ~ and $, are fine."""
    text = "~$ abcdefghijklmnopqrst"
    assert len(text) == 23
    await call(hass, "display", {"text": text}, target={"device_id": device.id})
    mock_station.display.assert_awaited_once_with(text, None, None)


async def test_display_needs_a_display(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """A station without display is refused by name."""
    set_capabilities(mock_station, display=False, model_name="KeContact P30 e-series")
    await expect_invalid(
        hass,
        "display",
        {"text": "Hi"},
        {"device_id": device.id},
        "no_display",
        station="KeContact P30 x-series",
        model="KeContact P30 e-series",
    )
    no_commands_sent(mock_station)


async def test_display_time_must_be_whole_seconds(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """The schema refuses fractions of seconds."""
    with pytest.raises(vol.Invalid):
        await call(
            hass, "display", {"text": "Hi", "min_time": 2.5}, target={"device_id": device.id}
        )
    await call(hass, "display", {"text": "Hi", "min_time": "3"}, target={"device_id": device.id})
    mock_station.display.assert_awaited_once_with("Hi", 3, 10)


# ---------------------------------------------------------------------------- start/stop
async def test_start_with_tag_and_class(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """The tag and class are sent in lower case."""
    await call(
        hass,
        "start",
        {"tag": "04A1B2C3D4E5F600", "class": "01010400000000000000"},
        target={"device_id": device.id},
    )
    mock_station.start_session.assert_awaited_once_with("04a1b2c3d4e5f600", "01010400000000000000")


async def test_start_and_stop_need_a_tag(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """Without a tag in the action or the options there is nothing to send."""
    for service in ("start", "stop"):
        await expect_invalid(
            hass,
            service,
            {},
            {"device_id": device.id},
            "rfid_tag_missing",
            station="KeContact P30 x-series",
        )
    await expect_invalid(
        hass, "start", {"class": "01"}, {"device_id": device.id}, "rfid_tag_missing"
    )
    no_commands_sent(mock_station)


@pytest.mark.parametrize(
    ("service", "data", "key", "value", "max_digits"),
    [
        ("start", {"tag": "xyz"}, "invalid_rfid_tag", "xyz", "16"),
        ("start", {"tag": "0" * 17}, "invalid_rfid_tag", "0" * 17, "16"),
        ("start", {"tag": ""}, "invalid_rfid_tag", "", "16"),
        ("start", {"tag": "04a1", "class": "0g"}, "invalid_rfid_class", "0g", "20"),
        ("start", {"tag": "04a1", "class": "1" * 21}, "invalid_rfid_class", "1" * 21, "20"),
        ("stop", {"tag": "04 a1"}, "invalid_rfid_tag", "04 a1", "16"),
    ],
)
async def test_rfid_must_be_hexadecimal(
    hass: HomeAssistant,
    device: dr.DeviceEntry,
    mock_station: FakeStation,
    service: str,
    data: dict[str, str],
    key: str,
    value: str,
    max_digits: str,
) -> None:
    """Tags and classes are hexadecimal digits of bounded length."""
    await expect_invalid(
        hass, service, data, {"device_id": device.id}, key, value=value, max=max_digits
    )
    no_commands_sent(mock_station)


async def test_start_and_stop_use_the_options(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """The tag and class from the station's options are the defaults."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={CONF_RFID_TAG: "C0FFEE00", CONF_RFID_CLASS: "0A0B"}
    )
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    target = {"device_id": station_device(hass, mock_config_entry).id}

    await call(hass, "start", target=target)
    mock_station.start_session.assert_awaited_once_with("c0ffee00", "0a0b")
    mock_station.start_session.reset_mock()

    # A class alone goes with the options' tag; a tag alone never borrows the options' class.
    await call(hass, "start", {"class": "ff"}, target=target)
    mock_station.start_session.assert_awaited_once_with("c0ffee00", "ff")
    mock_station.start_session.reset_mock()
    await call(hass, "start", {"tag": "1234"}, target=target)
    mock_station.start_session.assert_awaited_once_with("1234", None)

    await call(hass, "stop", target=target)
    mock_station.stop_session.assert_awaited_once_with("c0ffee00")
    mock_station.stop_session.reset_mock()
    await call(hass, "stop", {"tag": "ABCD"}, target=target)
    mock_station.stop_session.assert_awaited_once_with("abcd")


async def test_invalid_tag_in_the_options_is_reported(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """A broken tag or class in the options is refused, not sent."""
    mock_config_entry.add_to_hass(hass)
    hass.config_entries.async_update_entry(
        mock_config_entry, options={CONF_RFID_TAG: "not hex", CONF_RFID_CLASS: "zz"}
    )
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    target = {"device_id": station_device(hass, mock_config_entry).id}
    await expect_invalid(hass, "stop", {}, target, "invalid_rfid_tag", value="not hex", max="16")
    await expect_invalid(hass, "start", {}, target, "invalid_rfid_tag", value="not hex", max="16")
    hass.config_entries.async_update_entry(
        mock_config_entry, options={CONF_RFID_TAG: "abcd", CONF_RFID_CLASS: "zz"}
    )
    await hass.async_block_till_done()
    await expect_invalid(hass, "start", {}, target, "invalid_rfid_class", value="zz", max="20")
    no_commands_sent(mock_station)


async def test_start_and_stop_need_rfid_authorization(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """Without an RFID reader and with authorization off, start and stop are refused."""
    set_capabilities(mock_station, rfid=False)
    for service in ("start", "stop"):
        await expect_invalid(
            hass,
            service,
            {"tag": "04a1"},
            {"device_id": device.id},
            "no_rfid",
            station="KeContact P30 x-series",
            model="KeContact P30 x-series",
        )
    no_commands_sent(mock_station)


async def test_start_with_authorization_switched_on(
    hass: HomeAssistant,
    mock_config_entry: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """A station whose authorization is on (AuthON 1) takes start without an RFID reader."""
    mock_station.set_report(2, AuthON=1)
    set_capabilities(mock_station, rfid=False)
    mock_config_entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, {})
    await hass.async_block_till_done()
    await call(
        hass,
        "start",
        {"tag": "04a1"},
        target={"device_id": station_device(hass, mock_config_entry).id},
    )
    mock_station.start_session.assert_awaited_once_with("04a1", None)


# ---------------------------------------------------------------------------- set_energy
@pytest.mark.parametrize("energy", [0, 10.5, 9999.9999])
async def test_set_energy(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation, energy: float
) -> None:
    """The limit in kWh goes to the engine, 0 included (no limit)."""
    await call(hass, "set_energy", {"energy": energy}, target={"device_id": device.id})
    mock_station.set_energy_limit.assert_awaited_once_with(energy)


@pytest.mark.parametrize("energy", [-0.1, 10000])
async def test_set_energy_out_of_range(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation, energy: float
) -> None:
    """Beyond 0…9999.9999 kWh the action is refused."""
    await expect_invalid(
        hass,
        "set_energy",
        {"energy": energy},
        {"device_id": device.id},
        "energy_out_of_range",
        value=str(energy),
        min="0",
        max="9999.9999",
    )
    no_commands_sent(mock_station)


@pytest.mark.parametrize("energy", [0.00001, 0.00004999])
async def test_set_energy_that_rounds_to_zero(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation, energy: float
) -> None:
    """A limit below the station's 0.1 Wh step would become ``setenergy 0`` (no limit)."""
    await expect_invalid(
        hass,
        "set_energy",
        {"energy": energy},
        {"device_id": device.id},
        "energy_rounds_to_zero",
        value=str(energy),
    )
    no_commands_sent(mock_station)


async def test_set_energy_needs_a_meter(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """A station without meter cannot count the energy."""
    set_capabilities(mock_station, meter=False)
    await expect_invalid(hass, "set_energy", {"energy": 5}, {"device_id": device.id}, "no_meter")
    no_commands_sent(mock_station)


# --------------------------------------------------------------------------- set_current
async def test_set_current_goes_through_the_coordinator(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device: dr.DeviceEntry,
    mock_station: FakeStation,
) -> None:
    """The coordinator shows the pending target while the engine sends currtime."""
    coordinator = init_integration.runtime_data.coordinator
    seen: list[float | None] = []

    async def set_current(current: float, delay: int) -> None:
        seen.append(coordinator.data.pending_current)

    mock_station.set_current.side_effect = set_current
    await call(hass, "set_current", {"current": 7.5}, target={"device_id": device.id})
    mock_station.set_current.assert_awaited_once_with(7.5, 1)
    assert seen == [7.5]

    mock_station.set_current.reset_mock()
    await call(hass, "set_current", {"current": "16", "delay": 30}, target={"device_id": device.id})
    mock_station.set_current.assert_awaited_once_with(16.0, 30)


@pytest.mark.parametrize(
    ("data", "key", "placeholders"),
    [
        ({"current": 5.9}, "current_out_of_range", {"value": "5.9", "min": "6", "max": "63"}),
        ({"current": 63.1}, "current_out_of_range", {"value": "63.1", "min": "6", "max": "63"}),
        ({"current": 0}, "current_out_of_range", {"value": "0", "min": "6", "max": "63"}),
        (
            {"current": 10, "delay": 0},
            "delay_out_of_range",
            {"value": "0", "min": "1", "max": "860400"},
        ),
        (
            {"current": 10, "delay": 860401},
            "delay_out_of_range",
            {"value": "860401", "min": "1", "max": "860400"},
        ),
    ],
)
async def test_set_current_out_of_range(
    hass: HomeAssistant,
    device: dr.DeviceEntry,
    mock_station: FakeStation,
    data: dict[str, float],
    key: str,
    placeholders: dict[str, str],
) -> None:
    """6–63 A and a delay of at least 1 s: never the cancel form ``currtime x 0``."""
    await expect_invalid(hass, "set_current", data, {"device_id": device.id}, key, **placeholders)
    no_commands_sent(mock_station)


async def test_set_current_at_the_bounds(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """6 A and 63 A and the longest delay are allowed."""
    await call(hass, "set_current", {"current": 6}, target={"device_id": device.id})
    await call(
        hass, "set_current", {"current": 63, "delay": 860400}, target={"device_id": device.id}
    )
    assert [c.args for c in mock_station.set_current.await_args_list] == [(6.0, 1), (63.0, 860400)]


# -------------------------------------------------------------------------- set_failsafe
@pytest.mark.parametrize(
    ("data", "expected"),
    [
        ({"timeout": 60, "current": 6}, ((60, 6.0), {"persist": False})),
        ({"timeout": 600, "current": 63, "persist": True}, ((600, 63.0), {"persist": True})),
        ({"timeout": 10, "current": 0}, ((10, 0.0), {"persist": False})),
        ({"timeout": 0}, ((0, 0.0), {"persist": False})),
    ],
)
async def test_set_failsafe(
    hass: HomeAssistant,
    device: dr.DeviceEntry,
    mock_station: FakeStation,
    data: dict[str, Any],
    expected: tuple[tuple[int, float], dict[str, bool]],
) -> None:
    """Timeout, current and the EEPROM flag reach the engine; persist is off by default."""
    mock_station.set_failsafe.reset_mock()
    await call(hass, "set_failsafe", data, target={"device_id": device.id})
    args, kwargs = expected
    mock_station.set_failsafe.assert_awaited_once_with(*args, **kwargs)


@pytest.mark.parametrize(
    ("data", "key", "placeholders"),
    [
        (
            {"timeout": 9},
            "failsafe_timeout_out_of_range",
            {"value": "9", "min": "10", "max": "600"},
        ),
        (
            {"timeout": 601},
            "failsafe_timeout_out_of_range",
            {"value": "601", "min": "10", "max": "600"},
        ),
        (
            {"timeout": 60, "current": 5},
            "failsafe_current_out_of_range",
            {"value": "5", "min": "6", "max": "63"},
        ),
        (
            {"timeout": 60, "current": 64},
            "failsafe_current_out_of_range",
            {"value": "64", "min": "6", "max": "63"},
        ),
    ],
)
async def test_set_failsafe_out_of_range(
    hass: HomeAssistant,
    device: dr.DeviceEntry,
    mock_station: FakeStation,
    data: dict[str, Any],
    key: str,
    placeholders: dict[str, str],
) -> None:
    """0 or 10–600 s, 0 or 6–63 A."""
    mock_station.set_failsafe.reset_mock()
    await expect_invalid(hass, "set_failsafe", data, {"device_id": device.id}, key, **placeholders)
    no_commands_sent(mock_station)


# ------------------------------------------------------------------------- unlock_socket
async def test_unlock_socket(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """A station with a socket gets ``unlock``."""
    set_capabilities(mock_station, socket=True)
    await call(hass, "unlock_socket", target={"device_id": device.id})
    mock_station.unlock_socket.assert_awaited_once_with()


async def test_unlock_socket_needs_a_socket(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """The fixtures' station has a fixed cable (KC-P30-EC…): nothing to unlock."""
    await expect_invalid(
        hass,
        "unlock_socket",
        {},
        {"device_id": device.id},
        "no_socket",
        station="KeContact P30 x-series",
        model="KeContact P30 x-series",
    )
    no_commands_sent(mock_station)


# ---------------------------------------------------------------------------- set_output
@pytest.mark.parametrize("value", [0, 1, 10, 150, 42.0])
async def test_set_output(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation, value: float
) -> None:
    """Relay states and pulse rates go to the engine as integers."""
    await call(hass, "set_output", {"value": value}, target={"device_id": device.id})
    mock_station.set_output.assert_awaited_once_with(int(value))
    assert [type(arg) for arg in mock_station.set_output.await_args_list[0].args] == [int]


@pytest.mark.parametrize("value", [2, 9, 151, -1])
async def test_set_output_out_of_range(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation, value: int
) -> None:
    """2–9 are reserved by KEBA, more than 150 pulses are not usable."""
    await expect_invalid(
        hass,
        "set_output",
        {"value": value},
        {"device_id": device.id},
        "output_out_of_range",
        value=str(value),
        min="10",
        max="150",
    )
    no_commands_sent(mock_station)


async def test_set_output_needs_whole_numbers_and_x2(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """10.5 pulses are refused by the schema; a station without X2 by name."""
    with pytest.raises(vol.Invalid):
        await call(hass, "set_output", {"value": 10.5}, target={"device_id": device.id})
    with pytest.raises(vol.Invalid):
        await call(hass, "set_output", {"value": True}, target={"device_id": device.id})
    set_capabilities(mock_station, output_x2=False)
    await expect_invalid(hass, "set_output", {"value": 1}, {"device_id": device.id}, "no_output")
    no_commands_sent(mock_station)


# ------------------------------------------------------------------- get_session_history
EXPECTED_SESSION = {
    "session_id": 48,
    "started": "2026-11-21T05:38:32+00:00",
    "ended": "2026-11-21T06:38:32+00:00",
    "time_source": "station_clock",
    "energy_kwh": 20.0,
    "meter_start_kwh": 12320.4444,
    "meter_end_kwh": 12340.4444,
    "duration_s": 3600,
    "end_reason": "unplugged",
    "end_reason_code": 1,
    "rfid_tag": "04a1b2c3d4e5f600",
    "card": "Other",
    "cost": None,
    "currency": None,
    "surplus_kwh": None,
}


async def test_session_history_of_one_station(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """The stored sessions as plain data, newest first; a session without card has no tag."""
    mock_station.reports[102] = {
        **mock_station.reports[101],
        "ID": "102",
        "Session ID": 47,
        "E pres": 12345,
        "started": "2026-11-20 18:00:00.000",
        "ended": "2026-11-20 18:30:00.000",
        "reason": 10,
        "RFID tag": "0000000000000000",
        "RFID class": "00000000000000000000",
    }
    entry = hass.config_entries.async_entries(DOMAIN)[0]
    assert await entry.runtime_data.coordinator.async_read_history()
    response = await call(
        hass, "get_session_history", target={"device_id": device.id}, response=True
    )
    assert response == {
        "sessions": [
            EXPECTED_SESSION,
            {
                **EXPECTED_SESSION,
                "session_id": 47,
                "started": "2026-11-20T18:00:00+00:00",
                "ended": "2026-11-20T18:30:00+00:00",
                "energy_kwh": 1.2345,
                "meter_end_kwh": 12321.6789,
                "duration_s": 1800,
                "end_reason": "deauthorized",
                "end_reason_code": 10,
                "rfid_tag": None,
            },
        ],
        "energy_kwh": 21.2345,
        "cost": None,
    }


async def test_session_history_needs_a_response_and_history(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """The action only returns data; a P20 keeps no history."""
    with pytest.raises(ServiceValidationError):
        await call(hass, "get_session_history", target={"device_id": device.id})
    set_capabilities(mock_station, session_history=False)
    with pytest.raises(ServiceValidationError) as caught:
        await call(hass, "get_session_history", target={"device_id": device.id}, response=True)
    assert_translated(caught.value, "no_session_history")


async def test_session_history_while_the_station_is_silent(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """The ledger answers from storage: a station that does not answer changes nothing."""
    mock_station.fail_polls = True
    response = await call(
        hass, "get_session_history", target={"device_id": device.id}, response=True
    )
    assert response["sessions"] == [EXPECTED_SESSION]


async def test_session_history_of_two_stations(
    hass: HomeAssistant, two_devices: tuple[dr.DeviceEntry, dr.DeviceEntry]
) -> None:
    """Several stations: the sessions keyed by device id."""
    first, second = two_devices
    response = await call(
        hass,
        "get_session_history",
        target={"device_id": [first.id, second.id]},
        response=True,
    )
    expected = {"sessions": [EXPECTED_SESSION], "energy_kwh": 20.0, "cost": None}
    assert response == {"stations": {first.id: expected, second.id: expected}}


# ------------------------------------------------------------------- several stations
async def test_each_station_uses_its_own_options(
    hass: HomeAssistant,
    two_devices: tuple[dr.DeviceEntry, dr.DeviceEntry],
    stations: dict[str, FakeStation],
) -> None:
    """One action, two stations: each gets the RFID card of its own entry."""
    first, second = two_devices
    await call(hass, "start", target={"device_id": [first.id, second.id]})
    stations["192.0.2.10"].start_session.assert_awaited_once_with("aaaa1111aaaa1111", "01")
    stations[SECOND_HOST].start_session.assert_awaited_once_with("bbbb0000bbbb0000", "02")

    await call(hass, "stop", target={"device_id": second.id})
    stations[SECOND_HOST].stop_session.assert_awaited_once_with("bbbb0000bbbb0000")
    stations["192.0.2.10"].stop_session.assert_not_awaited()

    await call(hass, "stop", target={"device_id": first.id})
    stations["192.0.2.10"].stop_session.assert_awaited_once_with("aaaa1111aaaa1111")


async def test_a_refusal_at_one_station_sends_nothing(
    hass: HomeAssistant,
    two_devices: tuple[dr.DeviceEntry, dr.DeviceEntry],
    stations: dict[str, FakeStation],
) -> None:
    """Every target is checked before the first command goes out."""
    first, second = two_devices
    set_capabilities(stations[SECOND_HOST], display=False)
    await expect_invalid(
        hass,
        "display",
        {"text": "Hi"},
        {"device_id": [first.id, second.id]},
        "no_display",
        station="Garage",
        model="KeContact P30 x-series",
    )
    for station in stations.values():
        no_commands_sent(station)


async def test_a_failing_station_does_not_stop_the_others(
    hass: HomeAssistant,
    two_devices: tuple[dr.DeviceEntry, dr.DeviceEntry],
    stations: dict[str, FakeStation],
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The other station still gets its command; the failure names the failing station."""
    first, second = two_devices
    stations["192.0.2.10"].set_energy_limit.side_effect = KebaCommandError(
        "192.0.2.10 refused 'setenergy 100000': TCH-ERR"
    )
    with pytest.raises(HomeAssistantError) as caught:
        await call(hass, "set_energy", {"energy": 10}, target={"device_id": [first.id, second.id]})
    assert_translated(
        caught.value,
        "command_refused",
        host="192.0.2.10",
        error="192.0.2.10 refused 'setenergy 100000': TCH-ERR",
    )
    stations[SECOND_HOST].set_energy_limit.assert_awaited_once_with(10.0)

    stations[SECOND_HOST].set_energy_limit.side_effect = KebaTimeoutError("no answer")
    with pytest.raises(HomeAssistantError):
        await call(hass, "set_energy", {"energy": 10}, target={"device_id": [first.id, second.id]})
    assert "set_energy failed as well" in caplog.text


# ------------------------------------------------------------------------ engine errors
@pytest.mark.parametrize(
    ("error", "key"),
    [
        (KebaTimeoutError("192.0.2.10 did not answer 'currtime 7500 1'"), "command_no_answer"),
        (KebaCommandError("192.0.2.10 refused 'currtime 7500 1': TCH-ERR"), "command_refused"),
    ],
)
async def test_station_failure_is_a_home_assistant_error(
    hass: HomeAssistant,
    device: dr.DeviceEntry,
    mock_station: FakeStation,
    error: Exception,
    key: str,
) -> None:
    """Station failures are not the user's fault: HomeAssistantError, naming the station."""
    mock_station.set_current.side_effect = error
    with pytest.raises(HomeAssistantError) as caught:
        await call(hass, "set_current", {"current": 7.5}, target={"device_id": device.id})
    assert not isinstance(caught.value, ServiceValidationError)
    assert_translated(caught.value, key, host="192.0.2.10", error=str(error))


async def test_engine_validation_is_a_validation_error(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """Should the engine refuse a value, the user still gets a validation error."""
    mock_station.display.side_effect = KebaValidationError("display text must be printable ASCII")
    with pytest.raises(ServiceValidationError) as caught:
        await call(hass, "display", {"text": "Hi"}, target={"device_id": device.id})
    assert_translated(caught.value, "invalid_value", error="display text must be printable ASCII")


# ------------------------------------------------------------------------------ targets
async def test_target_is_required(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """An action without target does not guess a station."""
    await expect_invalid(hass, "unlock_socket", {}, {}, "no_target")
    await expect_invalid(hass, "display", {"text": "Hi"}, {"device_id": "none"}, "no_target")
    no_commands_sent(mock_station)


async def test_targets_that_are_not_keba_stations(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """Unknown devices, other integrations' devices and entities are refused by id."""
    other_entry = MockConfigEntry(domain="demo")
    other_entry.add_to_hass(hass)
    other_device = dr.async_get(hass).async_get_or_create(
        config_entry_id=other_entry.entry_id, identifiers={("demo", "lamp")}
    )
    other_entity = er.async_get(hass).async_get_or_create(
        "light", "demo", "lamp", config_entry=other_entry, device_id=other_device.id
    )
    hass.states.async_set("sensor.outside", "12")
    for target, name in (
        ({"device_id": "0123456789abcdef"}, "0123456789abcdef"),
        ({"device_id": [device.id, other_device.id]}, other_device.id),
        ({"entity_id": other_entity.entity_id}, other_entity.entity_id),
        ({"entity_id": "sensor.outside"}, "sensor.outside"),
    ):
        await expect_invalid(
            hass, "display", {"text": "Hi"}, target, "target_not_keba", target=name
        )
    no_commands_sent(mock_station)


async def test_target_by_entity_and_area(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device: dr.DeviceEntry,
    mock_station: FakeStation,
) -> None:
    """An entity of the station, or an area holding it, targets the station once."""
    entity = er.async_get(hass).async_get_or_create(
        "sensor",
        DOMAIN,
        f"{SERIAL}_power",
        config_entry=init_integration,
        device_id=device.id,
    )
    await call(hass, "display", {"text": "entity"}, target={"entity_id": entity.entity_id})
    mock_station.display.assert_awaited_once_with("entity", None, None)

    garage = ar.async_get(hass).async_create("Garage")
    dr.async_get(hass).async_update_device(device.id, area_id=garage.id)
    mock_station.display.reset_mock()
    await call(
        hass,
        "display",
        {"text": "area"},
        target={"area_id": garage.id, "device_id": device.id, "entity_id": entity.entity_id},
    )
    mock_station.display.assert_awaited_once_with("area", None, None)


async def test_area_without_station(
    hass: HomeAssistant, device: dr.DeviceEntry, mock_station: FakeStation
) -> None:
    """An area with other devices only, and an entity-less target, select no station."""
    kitchen = ar.async_get(hass).async_create("Kitchen")
    other_entry = MockConfigEntry(domain="demo")
    other_entry.add_to_hass(hass)
    lamp = dr.async_get(hass).async_get_or_create(
        config_entry_id=other_entry.entry_id,
        identifiers={("demo", "lamp")},
        suggested_area="Kitchen",
    )
    er.async_get(hass).async_get_or_create(
        "light", "demo", "lamp", config_entry=other_entry, device_id=lamp.id
    )
    await expect_invalid(
        hass, "display", {"text": "Hi"}, {"area_id": kitchen.id}, "no_station_targeted"
    )
    no_commands_sent(mock_station)


async def test_station_not_loaded(
    hass: HomeAssistant,
    init_integration: MockConfigEntry,
    device: dr.DeviceEntry,
    mock_station: FakeStation,
) -> None:
    """A station whose entry is unloaded cannot be reached."""
    assert await hass.config_entries.async_unload(init_integration.entry_id)
    await hass.async_block_till_done()
    await expect_invalid(
        hass,
        "display",
        {"text": "Hi"},
        {"device_id": device.id},
        "station_not_loaded",
        station="KeContact P30 x-series",
    )
    no_commands_sent(mock_station)


async def test_translations_are_complete_in_german() -> None:
    """Every English text of the actions has a German counterpart with the same placeholders."""
    english, german = TRANSLATIONS["en"], TRANSLATIONS["de"]
    for key, message in english["exceptions"].items():
        placeholders = sorted(part.split("}")[0] for part in message["message"].split("{")[1:])
        german_message = german["exceptions"][key]["message"]
        assert sorted(part.split("}")[0] for part in german_message.split("{")[1:]) == placeholders
    assert set(english["services"]) == set(german["services"]) == set(SERVICES)


# ------------------------------------------------------------------- real UDP, simulator
async def test_actions_over_udp(
    hass: HomeAssistant,
    keba_yaml: dict[str, Any],
    loopback: LoopbackNet,
    start_simulator: SimulatorFactory,
    no_timing_violations: list[Simulator],
) -> None:
    """Against a simulated P30 x-series: display, current and history on the wire."""
    sim = await start_simulator(
        count=1, variant="p30-x", scenario="charging", current_change_delay=0.5
    )
    no_timing_violations.append(sim)
    station = sim.stations[0]
    entry = MockConfigEntry(
        domain=DOMAIN,
        title="Carport",
        unique_id=station.serial,
        data={CONF_HOST: station.ip},
    )
    entry.add_to_hass(hass)
    assert await async_setup_component(hass, DOMAIN, keba_yaml)
    await hass.async_block_till_done()
    assert entry.state is ConfigEntryState.LOADED
    target = {"device_id": station_device(hass, entry).id}

    await call(hass, "display", {"text": "Sun is up"}, target=target)
    await call(hass, "set_current", {"current": 7.5, "delay": 2}, target=target)
    texts = [text for _, _, text in station.received]
    assert "display 0 0 0 0 Sun$is$up" in texts
    assert "currtime 7500 2" in texts
    assert not any(text.startswith("currtime") and text.endswith(" 0") for text in texts)

    station.unplug()
    # The unplug push, once report 2 confirms it (up to 5 s: t_COM_pause), makes the
    # integration read report 100 and store the ended session.
    sessions: list[dict[str, Any]] = []
    for _ in range(150):
        await hass.async_block_till_done()
        response = await call(hass, "get_session_history", target=target, response=True)
        sessions = response["sessions"]
        if sessions:
            break
        await asyncio.sleep(0.1)
    assert sessions
    assert sessions[0]["end_reason"] == "unplugged"
    assert sessions[0]["energy_kwh"] is not None
    assert "report 101" in [text for _, _, text in station.received]
