"""Tests of the numbers: charging current and energy limit."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any
from unittest.mock import patch

from freezegun.api import FrozenDateTimeFactory
import pytest
from syrupy.assertion import SnapshotAssertion

from homeassistant.components.number import (
    ATTR_MAX,
    ATTR_MIN,
    ATTR_VALUE,
    DOMAIN as NUMBER_DOMAIN,
    SERVICE_SET_VALUE,
)
from homeassistant.const import ATTR_ENTITY_ID, STATE_UNAVAILABLE, STATE_UNKNOWN, Platform
from homeassistant.core import HomeAssistant, State
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import entity_registry as er
from pytest_homeassistant_custom_component.common import MockConfigEntry, snapshot_platform

from custom_components.keba.kecontact import (
    EventKind,
    KebaTimeoutError,
    KebaValidationError,
    KebaVerificationError,
)

from .common import FakeStation, default_reports
from .entities import (
    P20_PRODUCT,
    P30_DE_PRODUCT,
    async_next_poll,
    entity_id_of,
    entity_keys,
    variant_reports,
)


@pytest.fixture(autouse=True)
def only_numbers() -> Iterator[None]:
    """Set up the number platform only."""
    with patch("custom_components.keba.PLATFORMS", [Platform.NUMBER]):
        yield


def _get(hass: HomeAssistant, entity_registry: er.EntityRegistry, key: str) -> State:
    state = hass.states.get(entity_id_of(entity_registry, NUMBER_DOMAIN, key))
    assert state is not None
    return state


async def _set(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, key: str, value: float
) -> None:
    await hass.services.async_call(
        NUMBER_DOMAIN,
        SERVICE_SET_VALUE,
        {ATTR_ENTITY_ID: entity_id_of(entity_registry, NUMBER_DOMAIN, key), ATTR_VALUE: value},
        blocking=True,
    )


def _with_report2(**fields: Any) -> dict[int, dict[str, Any]]:
    reports = default_reports()
    reports[2] = {**reports[2], **fields}
    return reports


async def test_entities(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    snapshot: SnapshotAssertion,
    init_integration: MockConfigEntry,
) -> None:
    """Both numbers of a charging P30 x-series: registry entry and state."""
    await snapshot_platform(hass, entity_registry, snapshot, init_integration.entry_id)


async def test_set_current_uses_coordinator(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """The slider sends ``currtime`` through the station's ``set_current`` (delay 1 s).

    The permanent ``curr`` is never written.
    """
    await _set(hass, entity_registry, "charging_current", 10)
    mock_station.set_current.assert_awaited_once_with(10.0, 1)
    mock_station.set_current_permanent.assert_not_awaited()


async def test_pending_current_shown_at_once(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """While the command is on its way the slider shows the new target, then report 2's."""
    sent = asyncio.Event()
    release = asyncio.Event()

    async def slow_set_current(current: float, delay: int = 1, **_: Any) -> None:
        sent.set()
        await release.wait()
        mock_station.set_report(2, **{"Curr timer": round(current * 1000), "Tmo CT": 1})
        await mock_station.get_status()
        mock_station.emit(EventKind.STATUS)

    mock_station.set_current.side_effect = slow_set_current
    assert float(_get(hass, entity_registry, "charging_current").state) == 16.0

    task = hass.async_create_task(_set(hass, entity_registry, "charging_current", 8))
    await sent.wait()
    assert float(_get(hass, entity_registry, "charging_current").state) == 8.0
    # Report 2 still shows the old current: the slider must not jump back.
    assert mock_station.snapshot.status is not None
    assert mock_station.snapshot.status.timer_current == 0

    release.set()
    await task
    await hass.async_block_till_done()
    # Confirmed by report 2: the running currtime's target.
    assert float(_get(hass, entity_registry, "charging_current").state) == 8.0
    assert init_integration.runtime_data.coordinator.data.pending_current is None


async def test_failed_current_drops_pending(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """A current the station did not take is not shown; the error names the station."""
    mock_station.set_current.side_effect = KebaVerificationError("report 2 shows 16000 mA")
    with pytest.raises(HomeAssistantError) as exc_info:
        await _set(hass, entity_registry, "charging_current", 12)
    assert exc_info.value.translation_key == "command_not_confirmed"
    assert float(_get(hass, entity_registry, "charging_current").state) == 16.0


@pytest.mark.parametrize(
    ("station_reports", "value", "maximum"),
    [
        # Curr user 63 A (the station's default) is capped at the hardware limit.
        (_with_report2(**{"Curr user": 63000, "Curr HW": 20000}), 20.0, 20.0),
        # A currtime whose delay runs: its target.
        (_with_report2(**{"Curr timer": 7000, "Tmo CT": 17}), 7.0, 16.0),
        # An expired currtime: Curr user took its value.
        (_with_report2(**{"Curr timer": 7000, "Tmo CT": 0, "Curr user": 9000}), 9.0, 16.0),
        # Curr HW unknown (0): 32 A, the most any station offers.
        (_with_report2(**{"Curr HW": 0, "Curr user": 63000}), 32.0, 32.0),
    ],
    ids=["capped", "timer-running", "timer-done", "no-hardware-limit"],
)
async def test_current_value_and_max(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    value: float,
    maximum: float,
) -> None:
    """The slider's value and maximum follow report 2."""
    state = _get(hass, entity_registry, "charging_current")
    assert float(state.state) == value
    assert state.attributes[ATTR_MIN] == 6
    assert state.attributes[ATTR_MAX] == maximum


async def test_current_above_hardware_limit(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """More than ``Curr HW`` is refused before anything is sent."""
    with pytest.raises(ServiceValidationError):
        await _set(hass, entity_registry, "charging_current", 20)
    mock_station.set_current.assert_not_awaited()


async def test_energy_limit(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """``setenergy`` in kWh; the number follows report 2's ``Setenergy``."""
    assert float(_get(hass, entity_registry, "energy_limit").state) == 0.0

    async def setenergy(energy_kwh: float, **_: Any) -> None:
        mock_station.set_report(2, Setenergy=round(energy_kwh * 10000))
        await mock_station.get_status()
        mock_station.emit(EventKind.STATUS)

    mock_station.set_energy_limit.side_effect = setenergy
    await _set(hass, entity_registry, "energy_limit", 12.5)
    mock_station.set_energy_limit.assert_awaited_once_with(12.5)
    assert float(_get(hass, entity_registry, "energy_limit").state) == 12.5


@pytest.mark.parametrize(
    ("error", "raised", "key"),
    [
        (KebaValidationError("energy limit out of range"), ServiceValidationError, "invalid_value"),
        (KebaTimeoutError("no answer"), HomeAssistantError, "command_no_answer"),
    ],
)
async def test_energy_limit_errors(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
    error: Exception,
    raised: type[HomeAssistantError],
    key: str,
) -> None:
    """Engine errors map to validation errors or failures."""
    mock_station.set_energy_limit.side_effect = error
    with pytest.raises(raised) as exc_info:
        await _set(hass, entity_registry, "energy_limit", 10)
    assert type(exc_info.value) is raised
    assert exc_info.value.translation_key == key


async def test_energy_limit_that_rounds_to_zero_is_refused(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """0.00001 kWh would be ``setenergy 0``, which removes the limit: refused, nothing sent."""
    with pytest.raises(ServiceValidationError) as exc_info:
        await _set(hass, entity_registry, "energy_limit", 0.00001)
    assert exc_info.value.translation_key == "energy_rounds_to_zero"
    assert exc_info.value.translation_placeholders == {"value": "1e-05"}
    mock_station.set_energy_limit.assert_not_awaited()


async def test_unavailable_after_three_failed_polls(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    freezer: FrozenDateTimeFactory,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """The slider stays usable through two lost polls."""
    mock_station.fail_polls = True
    await async_next_poll(hass, freezer)
    await async_next_poll(hass, freezer)
    assert float(_get(hass, entity_registry, "charging_current").state) == 16.0
    await async_next_poll(hass, freezer)
    assert _get(hass, entity_registry, "charging_current").state == STATE_UNAVAILABLE
    mock_station.fail_polls = False
    await async_next_poll(hass, freezer)
    assert float(_get(hass, entity_registry, "charging_current").state) == 16.0


@pytest.mark.parametrize("station_reports", [variant_reports(P20_PRODUCT)])
async def test_p20_current(
    hass: HomeAssistant,
    entity_registry: er.EntityRegistry,
    init_integration: MockConfigEntry,
    mock_station: FakeStation,
) -> None:
    """A P20 has no ``currtime``: the slider still goes through ``set_current`` (engine: curr)."""
    assert entity_keys(entity_registry, init_integration.entry_id) == {
        "charging_current",
        "energy_limit",
    }
    await _set(hass, entity_registry, "charging_current", 6)
    mock_station.set_current.assert_awaited_once_with(6.0, 1)


@pytest.mark.parametrize("station_reports", [variant_reports(P30_DE_PRODUCT)])
async def test_no_meter_no_energy_limit(
    entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """``setenergy`` needs a meter: the Deutschland edition gets the current only."""
    assert entity_keys(entity_registry, init_integration.entry_id) == {"charging_current"}


@pytest.mark.parametrize("station_reports", [_with_report2(**{"Curr user": None})])
async def test_current_unknown(
    hass: HomeAssistant, entity_registry: er.EntityRegistry, init_integration: MockConfigEntry
) -> None:
    """Without ``Curr user`` there is no value to show."""
    assert _get(hass, entity_registry, "charging_current").state == STATE_UNKNOWN
