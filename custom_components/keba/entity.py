"""Base entity of the KEBA KeContact integration."""

from __future__ import annotations

from typing import TYPE_CHECKING

from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceInfo
from homeassistant.helpers.entity import EntityDescription
from homeassistant.helpers.update_coordinator import CoordinatorEntity

from .const import DOMAIN
from .coordinator import KebaCoordinator

if TYPE_CHECKING:
    from .ledger_store import LedgerManager


class KebaEntity(CoordinatorEntity[KebaCoordinator]):
    """An entity of one station; unique ids derive from the station's serial number."""

    _attr_has_entity_name = True

    def __init__(self, coordinator: KebaCoordinator, description: EntityDescription) -> None:
        """Attach the entity to the station's device."""
        super().__init__(coordinator)
        self.entity_description = description
        entry = coordinator.config_entry
        serial = entry.unique_id or coordinator.station.serial or entry.entry_id
        self._attr_unique_id = f"{serial}_{description.key}"
        self._attr_device_info = device_info(coordinator)

    @callback
    def async_write_real_state(self) -> None:
        """Write the entity's state again, even when it did not change.

        After a refused change the frontend still shows what was dragged or picked; only a
        ``state_changed`` event makes it show the real value, and Home Assistant fires none for
        an unchanged state unless the write is forced.
        """
        self._attr_force_update = True
        try:
            self.async_write_ha_state()
        finally:
            del self._attr_force_update


class KebaLedgerEntity(KebaEntity):
    """An entity showing the station's session ledger (stored here, not read from the station).

    Available while the station does not answer; written again when the ledger gains sessions.
    """

    def __init__(
        self, coordinator: KebaCoordinator, description: EntityDescription, ledger: LedgerManager
    ) -> None:
        """Attach to the station's device and its ledger."""
        super().__init__(coordinator, description)
        self._ledger = ledger

    @property
    def available(self) -> bool:
        """The ledger is there even while the station does not answer."""
        return True

    async def async_added_to_hass(self) -> None:
        """Follow the ledger."""
        await super().async_added_to_hass()
        self.async_on_remove(self._ledger.async_add_listener(self._on_ledger))

    @callback
    def _on_ledger(self) -> None:
        self.async_write_ha_state()


def device_info(coordinator: KebaCoordinator) -> DeviceInfo:
    """The device of a station: serial, product code, firmware, web interface."""
    entry = coordinator.config_entry
    caps = coordinator.capabilities
    info = coordinator.station.snapshot.info
    serial = entry.unique_id or (info.serial if info else None) or entry.entry_id
    return DeviceInfo(
        identifiers={(DOMAIN, serial)},
        manufacturer=caps.manufacturer,
        model=caps.model_name,
        model_id=caps.product,
        serial_number=serial,
        sw_version=info.firmware if info else None,
        name=entry.title,
        configuration_url=f"http://{coordinator.station.host}" if caps.web_interface else None,
    )
