"""Binary sensors of a KEBA KeContact station, all read from report 2."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from homeassistant.components.binary_sensor import BinarySensorEntity, BinarySensorEntityDescription
from homeassistant.components.binary_sensor.const import BinarySensorDeviceClass
from homeassistant.const import EntityCategory
from homeassistant.core import HomeAssistant
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback

from .coordinator import KebaConfigEntry, KebaCoordinator
from .entity import KebaEntity
from .kecontact import ChargingStatus

# Read-only: the coordinator does all the polling.
PARALLEL_UPDATES = 0


@dataclass(frozen=True, kw_only=True)
class KebaBinarySensorEntityDescription(BinarySensorEntityDescription):
    """A binary sensor of a station: how to read it and whether the station has it."""

    value_fn: Callable[[ChargingStatus], bool | None]
    exists_fn: Callable[[KebaCoordinator], bool] = lambda _: True


def has_authorization(coordinator: KebaCoordinator) -> bool:
    """The station authorizes sessions: it has an RFID reader or reports ``AuthON``."""
    status = coordinator.station.snapshot.status
    return coordinator.capabilities.rfid or bool(status and status.auth_on)


def _cable_unlocked(status: ChargingStatus) -> bool | None:
    """Device class ``lock`` means on = unlocked."""
    locked = status.cable_locked
    return None if locked is None else not locked


BINARY_SENSORS: tuple[KebaBinarySensorEntityDescription, ...] = (
    KebaBinarySensorEntityDescription(
        key="vehicle_plugged",
        translation_key="vehicle_plugged",
        device_class=BinarySensorDeviceClass.PLUG,
        value_fn=lambda status: status.vehicle_plugged,
    ),
    KebaBinarySensorEntityDescription(
        key="charging",
        device_class=BinarySensorDeviceClass.BATTERY_CHARGING,
        value_fn=lambda status: status.charging,
    ),
    KebaBinarySensorEntityDescription(
        key="cable_lock",
        translation_key="cable_lock",
        device_class=BinarySensorDeviceClass.LOCK,
        value_fn=_cable_unlocked,
    ),
    KebaBinarySensorEntityDescription(
        key="authorization_required",
        translation_key="authorization_required",
        value_fn=lambda status: status.auth_required,
        exists_fn=has_authorization,
    ),
    KebaBinarySensorEntityDescription(
        key="system_enabled",
        translation_key="system_enabled",
        value_fn=lambda status: status.enable_sys,
    ),
    KebaBinarySensorEntityDescription(
        key="failsafe_triggered",
        translation_key="failsafe_triggered",
        device_class=BinarySensorDeviceClass.PROBLEM,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda status: status.failsafe_triggered,
    ),
    KebaBinarySensorEntityDescription(
        key="input_x1",
        translation_key="input_x1",
        entity_registry_enabled_default=False,
        value_fn=lambda status: status.input_x1,
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KebaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the binary sensors the station has."""
    coordinator = entry.runtime_data.coordinator
    async_add_entities(
        KebaBinarySensorEntity(coordinator, description)
        for description in BINARY_SENSORS
        if description.exists_fn(coordinator)
    )


class KebaBinarySensorEntity(KebaEntity, BinarySensorEntity):
    """A binary sensor of a station."""

    entity_description: KebaBinarySensorEntityDescription

    @property
    def is_on(self) -> bool | None:
        """The value from report 2 (with pushes merged)."""
        status = self.coordinator.data.snapshot.status
        return None if status is None else self.entity_description.value_fn(status)
