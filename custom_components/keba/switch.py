"""Switches of a KEBA KeContact station: charging on/off and the relay output X2."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.components.switch import SwitchEntity, SwitchEntityDescription
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import KebaConfigEntry, KebaCoordinator
from .entity import KebaEntity
from .errors import command_errors
from .kecontact import ChargingStatus, KebaStation

# The protocol engine queues, paces and merges commands per station (KEBA's timing rules):
# Home Assistant need not hold one back until the previous one is confirmed.
PARALLEL_UPDATES = 0

#: ``output 0`` and ``output 1`` switch the relay; 10 and more select pulse output (EEPROM).
OUTPUT_RELAY_VALUES = (0, 1)


@dataclass(frozen=True, kw_only=True)
class KebaSwitchEntityDescription(SwitchEntityDescription):
    """A switch of a station: its state in report 2 and the command that sets it."""

    is_on_fn: Callable[[ChargingStatus], bool | None]
    set_fn: Callable[[KebaStation, bool], Awaitable[None]]
    exists_fn: Callable[[KebaCoordinator], bool] = lambda _: True
    #: The switch has no meaning in this state of report 2 (e.g. X2 configured for pulses).
    available_fn: Callable[[ChargingStatus], bool] = lambda _: True
    attributes_fn: Callable[[ChargingStatus], Mapping[str, Any] | None] = lambda _: None


def _output_attributes(status: ChargingStatus) -> Mapping[str, Any]:
    """The contact as KEBA's guide names it: ``output 0`` closes it, ``output 1`` opens it."""
    return {"relay_contact": "open" if status.output == 1 else "closed"}


SWITCHES: tuple[KebaSwitchEntityDescription, ...] = (
    KebaSwitchEntityDescription(
        key="charging_enabled",
        translation_key="charging_enabled",
        is_on_fn=lambda status: status.enable_user,
        set_fn=lambda station, on: station.set_enabled(on),
    ),
    # On sends ``output 1`` and off ``output 0``; KEBA's guide calls 1 "open" and 0 "close",
    # which the ``relay_contact`` attribute shows. A pulse output (``output`` >= 10, set up by an
    # installer and kept in EEPROM) or an unknown value makes the switch unavailable, so that it
    # never overwrites the installer's setting.
    KebaSwitchEntityDescription(
        key="output_x2",
        translation_key="output_x2",
        is_on_fn=lambda status: status.output == 1,
        set_fn=lambda station, on: station.set_output(1 if on else 0),
        exists_fn=lambda coordinator: coordinator.capabilities.output_x2,
        available_fn=lambda status: status.output in OUTPUT_RELAY_VALUES,
        attributes_fn=_output_attributes,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KebaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the switches the station has."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        KebaSwitchEntity(coordinator, description)
        for description in SWITCHES
        if description.exists_fn(coordinator)
    )


class KebaSwitchEntity(KebaEntity, SwitchEntity):
    """A switch of a station."""

    entity_description: KebaSwitchEntityDescription

    @property
    def available(self) -> bool:
        """Unavailable when the station is, or when the switch has no meaning right now."""
        status = self.coordinator.data.snapshot.status
        return super().available and (
            status is None or self.entity_description.available_fn(status)
        )

    @property
    def is_on(self) -> bool | None:
        """The state from report 2."""
        status = self.coordinator.data.snapshot.status
        return None if status is None else self.entity_description.is_on_fn(status)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """What the state means on the station's side, where that needs explaining."""
        status = self.coordinator.data.snapshot.status
        return None if status is None else self.entity_description.attributes_fn(status)

    async def async_turn_on(self, **kwargs: Any) -> None:
        """Switch on; report 2 confirms it, and the station's reply updates the state."""
        await self._async_set(True)

    async def async_turn_off(self, **kwargs: Any) -> None:
        """Switch off; report 2 confirms it, and the station's reply updates the state."""
        await self._async_set(False)

    async def _async_set(self, on: bool) -> None:
        station = self.coordinator.station
        with command_errors(station.host):
            await self.entity_description.set_fn(station, on)
