"""Numbers of a KEBA KeContact station: the charging current and the session's energy limit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from homeassistant.components.number import (
    NumberDeviceClass,
    NumberEntity,
    NumberEntityDescription,
    NumberMode,
)
from homeassistant.const import UnitOfElectricCurrent, UnitOfEnergy
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .const import CURRENT_MIN_A
from .coordinator import KebaConfigEntry, KebaCoordinator, KebaData, hardware_limit
from .entity import KebaEntity
from .errors import command_errors

# The protocol engine queues, paces and merges commands per station (KEBA's timing rules):
# Home Assistant need not hold one back until the previous one is confirmed.
PARALLEL_UPDATES = 0

#: Upper end of the energy limit: more than the largest vehicle battery takes in one session
#: (about 200 kWh), far below what ``setenergy`` accepts (almost 10 000 kWh).
ENERGY_LIMIT_MAX_KWH = 250.0


@dataclass(frozen=True, kw_only=True)
class KebaNumberEntityDescription(NumberEntityDescription):
    """A number of a station: how to read, limit and set it."""

    value_fn: Callable[[KebaData], float | None]
    set_fn: Callable[[KebaCoordinator, float], Awaitable[None]]
    max_fn: Callable[[KebaData], float] | None = None
    exists_fn: Callable[[KebaCoordinator], bool] = lambda _: True


def charging_current(data: KebaData) -> float | None:
    """The current the integration asked for, or the one the station will offer.

    A target still being sent wins; then a ``currtime`` whose delay runs (``Curr timer``
    while ``Tmo CT`` > 0); then ``Curr user``, which may be far above what the hardware allows
    (63 A by default), capped at the hardware limit.
    """
    if data.pending_current is not None:
        return _amperes(data.pending_current)
    status = data.snapshot.status
    if status is None:
        return None
    target = status.current_target
    if target is None:
        return None
    if status.timer_timeout_s:
        return _amperes(target)
    return _amperes(min(target, hardware_limit(data)))


def _amperes(value: float) -> float:
    """Whole amperes as an integer, so that the state reads ``16``, not ``16.0``.

    The slider moves in whole amperes; a current set in milliamperes by another program keeps
    its fraction.
    """
    return int(value) if value == int(value) else value


NUMBERS: tuple[KebaNumberEntityDescription, ...] = (
    # ``currtime <mA> 1`` through the coordinator: lasts until the vehicle is unplugged and
    # never writes the permanent ``curr`` (a P20, which has no ``currtime``, gets ``curr``).
    KebaNumberEntityDescription(
        key="charging_current",
        translation_key="charging_current",
        device_class=NumberDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        native_min_value=CURRENT_MIN_A,
        native_step=1,
        mode=NumberMode.SLIDER,
        value_fn=charging_current,
        max_fn=hardware_limit,
        set_fn=lambda coordinator, value: coordinator.async_set_current_by_user(value),
    ),
    KebaNumberEntityDescription(
        key="energy_limit",
        translation_key="energy_limit",
        device_class=NumberDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        native_min_value=0,
        native_max_value=ENERGY_LIMIT_MAX_KWH,
        native_step=0.1,
        mode=NumberMode.BOX,
        value_fn=lambda data: (
            None if data.snapshot.status is None else data.snapshot.status.energy_limit_kwh
        ),
        set_fn=lambda coordinator, value: coordinator.async_set_energy_limit(value),
        exists_fn=lambda coordinator: coordinator.capabilities.meter,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KebaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the numbers the station has."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        KebaNumberEntity(coordinator, description)
        for description in NUMBERS
        if description.exists_fn(coordinator)
    )


class KebaNumberEntity(KebaEntity, NumberEntity):
    """A number of a station."""

    entity_description: KebaNumberEntityDescription

    @property
    def native_max_value(self) -> float:
        """The upper limit, from report 2 where the station tells it."""
        if self.entity_description.max_fn is not None:
            return self.entity_description.max_fn(self.coordinator.data)
        return super().native_max_value

    @property
    def native_value(self) -> float | None:
        """The value from the coordinator's data."""
        return self.entity_description.value_fn(self.coordinator.data)

    async def async_set_native_value(self, value: float) -> None:
        """Send the value; the station's reports confirm it.

        When the change is refused (a charging mode is in charge, bad input, no answer), the
        real value is written back at once, so that a slider does not stay where it was dragged.
        """
        try:
            with command_errors(self.coordinator.station.host):
                await self.entity_description.set_fn(self.coordinator, value)
        except Exception:
            self.async_write_real_state()
            raise
