"""The charging site's device and sensors: surplus power, state with its reason, battery share."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import PERCENTAGE, UnitOfPower
from homeassistant.core import callback
from homeassistant.helpers.device_registry import DeviceEntryType, DeviceInfo
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .const import CONF_BATTERY_POWER_SENSOR, DOMAIN
from .site_control import SiteState
from .solar import ChargingSite, SiteConfigEntry


@dataclass(frozen=True, kw_only=True)
class SiteSensorEntityDescription(SensorEntityDescription):
    """A sensor of a charging site: how to read it from the site."""

    value_fn: Callable[[ChargingSite], StateType]
    attributes_fn: Callable[[ChargingSite], Mapping[str, Any]] | None = None


def dip_attributes(site: ChargingSite) -> dict[str, Any]:
    """The latest decision to hold a vehicle through a dip or pause it, and its figures."""
    dip = site.dip_decision
    if dip is None:
        return dict.fromkeys(
            ("dip_decision", "dip_reason", "dip_station", "dip_imported", "dip_budget", "dip_at")
        )
    verdict = dip.verdict
    return {
        "dip_decision": "hold" if verdict.hold else "pause",
        "dip_reason": verdict.code.value,
        "dip_station": dip.station,
        "dip_imported": None if verdict.imported_wh is None else round(verdict.imported_wh),
        "dip_budget": None if verdict.budget_wh is None else round(verdict.budget_wh),
        "dip_at": dip.at.isoformat(),
    }


SITE_SENSORS: tuple[SiteSensorEntityDescription, ...] = (
    SiteSensorEntityDescription(
        key="surplus_power",
        translation_key="surplus_power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        # Whole watts: the meters' own resolution; more digits would only fill the recorder.
        value_fn=lambda site: None if site.surplus_w is None else round(site.surplus_w),
    ),
    SiteSensorEntityDescription(
        key="site_state",
        translation_key="site_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in SiteState],
        value_fn=lambda site: site.state.value,
        attributes_fn=dip_attributes,
    ),
    SiteSensorEntityDescription(
        key="battery_share",
        translation_key="battery_share",
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=0,
        value_fn=lambda site: (
            None if site.battery_share is None else round(100 * site.battery_share, 1)
        ),
    ),
)


def site_device_info(entry: SiteConfigEntry) -> DeviceInfo:
    """The device of a charging site (one per grid connection)."""
    return DeviceInfo(
        identifiers={(DOMAIN, entry.unique_id or entry.entry_id)},
        # The entry's title: the name given, or "Charging site" in the user's language.
        name=entry.title,
        entry_type=DeviceEntryType.SERVICE,
    )


@callback
def async_setup_site_sensors(
    entry: SiteConfigEntry, async_add_entities: AddConfigEntryEntitiesCallback
) -> None:
    """Add the sensors of a charging site."""
    site = entry.runtime_data.site
    has_battery = bool(site.options.get(CONF_BATTERY_POWER_SENSOR))
    async_add_entities(
        SiteSensorEntity(entry, description)
        for description in SITE_SENSORS
        if has_battery or description.key != "battery_share"
    )


class SiteSensorEntity(SensorEntity):
    """What a charging site sees and does."""

    _attr_has_entity_name = True
    _attr_should_poll = False
    # A held dip's figures change at every control interval: not worth a recorder row each.
    _unrecorded_attributes = frozenset({"dip_imported", "dip_budget", "dip_at"})
    entity_description: SiteSensorEntityDescription

    def __init__(self, entry: SiteConfigEntry, description: SiteSensorEntityDescription) -> None:
        """Attach the sensor to the site's device."""
        self.entity_description = description
        self._site = entry.runtime_data.site
        self._attr_unique_id = f"{entry.unique_id or entry.entry_id}_{description.key}"
        self._attr_device_info = site_device_info(entry)

    async def async_added_to_hass(self) -> None:
        """Update whenever the site decides."""
        await super().async_added_to_hass()
        self.async_on_remove(self._site.async_add_listener(self.async_write_ha_state))

    @property
    def native_value(self) -> StateType:
        """The site's latest value."""
        return self.entity_description.value_fn(self._site)

    @property
    def extra_state_attributes(self) -> Mapping[str, Any] | None:
        """What explains the value (the site state: its latest dip decision)."""
        attributes = self.entity_description.attributes_fn
        return None if attributes is None else attributes(self._site)
