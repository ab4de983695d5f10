"""Sensors of a KEBA KeContact station: state, meter, limits and sessions."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from homeassistant.components.sensor import (
    SensorDeviceClass,
    SensorEntity,
    SensorEntityDescription,
    SensorStateClass,
)
from homeassistant.const import (
    PERCENTAGE,
    EntityCategory,
    Platform,
    UnitOfElectricCurrent,
    UnitOfElectricPotential,
    UnitOfEnergy,
    UnitOfPower,
    UnitOfTime,
)
from homeassistant.core import HomeAssistant
from homeassistant.helpers import entity_registry as er
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.typing import StateType

from .const import DOMAIN, LOGGER
from .coordinator import KebaConfigEntry, KebaCoordinator, KebaData
from .entity import KebaEntity
from .kecontact import (
    ChargingState,
    ChargingStatus,
    MeterReading,
    PlugState,
    SessionEndReason,
    TimeQuality,
)
from .solar import SolarStation
from .surplus import ControllerState

# Read-only: the coordinator does all the polling.
PARALLEL_UPDATES = 0

type SensorValue = StateType | datetime


@dataclass(frozen=True, kw_only=True)
class KebaSensorEntityDescription(SensorEntityDescription):
    """A sensor of a station: how to read it and whether the station has it."""

    value_fn: Callable[[KebaData], SensorValue]
    exists_fn: Callable[[KebaCoordinator], bool] = lambda _: True
    #: True when the station certainly lacks the value: its entity is removed.
    absent_fn: Callable[[KebaCoordinator], bool] | None = None
    #: The value never goes down while the entity exists (a meter's total).
    never_decreasing: bool = False


def _status[T](read: Callable[[ChargingStatus], T]) -> Callable[[KebaData], T | None]:
    """Read a value of report 2, or None before the first report."""

    def value(data: KebaData) -> T | None:
        status = data.snapshot.status
        return None if status is None else read(status)

    return value


def _meter[T](read: Callable[[MeterReading], T]) -> Callable[[KebaData], T | None]:
    """Read a value of report 3, or None before the first report."""

    def value(data: KebaData) -> T | None:
        meter = data.snapshot.meter
        return None if meter is None else read(meter)

    return value


def _has_meter(coordinator: KebaCoordinator) -> bool:
    return coordinator.capabilities.meter


def _reports[T](read: Callable[[MeterReading], T]) -> Callable[[KebaCoordinator], bool]:
    """A meter entity exists when the product has a meter and report 3 carries its value.

    Some stations (a P20 whose meter is not fitted, for one) answer report 3 without meter
    values: their entities would stay unknown for ever.
    """

    def exists(coordinator: KebaCoordinator) -> bool:
        meter = coordinator.station.snapshot.meter
        return coordinator.capabilities.meter and meter is not None and read(meter) is not None

    return exists


def _reports_no(read: Callable[[MeterReading], object]) -> Callable[[KebaCoordinator], bool]:
    """The station certainly has no such meter value (no meter, or report 3 lacks it)."""

    def absent(coordinator: KebaCoordinator) -> bool:
        if not coordinator.capabilities.meter:
            return True
        meter = coordinator.station.snapshot.meter
        return meter is not None and read(meter) is None

    return absent


def _has_session_history(coordinator: KebaCoordinator) -> bool:
    return coordinator.capabilities.session_history


def _lower_name(value: ChargingState | PlugState | SessionEndReason | None) -> str | None:
    return None if value is None else value.name.lower()


def _power_factor(meter: MeterReading) -> float | None:
    """The model holds a fraction (0…1); Home Assistant's power factor in % is 0…100."""
    return None if meter.power_factor is None else round(meter.power_factor * 100, 1)


def _session_start(data: KebaData) -> datetime | None:
    """Start of the latest session (report 100).

    The station's own timestamp counts only while its clock was synchronised; otherwise the
    session's start in station uptime is added to the time the station booted.
    """
    session = data.snapshot.session
    if session is None or session.is_empty:
        return None
    if session.started is not None and session.time_quality not in (
        None,
        TimeQuality.NOT_SYNCED,
    ):
        return session.started
    if data.boot_time is not None and session.started_uptime_s is not None:
        return data.boot_time + timedelta(seconds=session.started_uptime_s)
    return None


def _session_rfid_tag(data: KebaData) -> str | None:
    session = data.snapshot.session
    return None if session is None else session.rfid_tag_used


def _last_session_energy(data: KebaData) -> float | None:
    return None if data.last_session is None else data.last_session.energy_kwh


def _last_session_duration(data: KebaData) -> int | None:
    return None if data.last_session is None else data.last_session.duration_s


def _last_session_end_reason(data: KebaData) -> str | None:
    if data.last_session is None or data.last_session.end_reason == SessionEndReason.NOT_ENDED:
        return None
    return _lower_name(data.last_session.end_reason)


def _phase_value(
    read: Callable[[MeterReading], tuple[float | None, float | None, float | None]], index: int
) -> Callable[[KebaData], float | None]:
    return _meter(lambda meter: read(meter)[index])


def _phase_reader(
    read: Callable[[MeterReading], tuple[float | None, float | None, float | None]], index: int
) -> Callable[[MeterReading], float | None]:
    return lambda meter: read(meter)[index]


def _phase_sensors(
    key: str,
    read: Callable[[MeterReading], tuple[float | None, float | None, float | None]],
    *,
    device_class: SensorDeviceClass,
    unit: str,
    precision: int,
    enabled_default: bool = True,
) -> tuple[KebaSensorEntityDescription, ...]:
    """One sensor per phase L1…L3 of a meter value."""
    return tuple(
        KebaSensorEntityDescription(
            key=f"{key}_l{index + 1}",
            translation_key=f"{key}_phase",
            translation_placeholders={"phase": f"L{index + 1}"},
            device_class=device_class,
            state_class=SensorStateClass.MEASUREMENT,
            native_unit_of_measurement=unit,
            suggested_display_precision=precision,
            entity_registry_enabled_default=enabled_default,
            value_fn=_phase_value(read, index),
            exists_fn=_reports(_phase_reader(read, index)),
            absent_fn=_reports_no(_phase_reader(read, index)),
        )
        for index in range(3)
    )


SENSORS: tuple[KebaSensorEntityDescription, ...] = (
    KebaSensorEntityDescription(
        key="charging_state",
        translation_key="charging_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.name.lower() for state in ChargingState],
        value_fn=_status(lambda status: _lower_name(status.state)),
    ),
    KebaSensorEntityDescription(
        key="plug_state",
        translation_key="plug_state",
        device_class=SensorDeviceClass.ENUM,
        options=[plug.name.lower() for plug in PlugState],
        value_fn=_status(lambda status: _lower_name(status.plug)),
    ),
    KebaSensorEntityDescription(
        key="power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=_meter(lambda meter: meter.power_w),
        exists_fn=_reports(lambda meter: meter.power_w),
        absent_fn=_reports_no(lambda meter: meter.power_w),
    ),
    *_phase_sensors(
        "current",
        lambda meter: meter.currents,
        device_class=SensorDeviceClass.CURRENT,
        unit=UnitOfElectricCurrent.AMPERE,
        precision=2,
    ),
    *_phase_sensors(
        "voltage",
        lambda meter: (meter.voltage_1, meter.voltage_2, meter.voltage_3),
        device_class=SensorDeviceClass.VOLTAGE,
        unit=UnitOfElectricPotential.VOLT,
        precision=0,
        enabled_default=False,
    ),
    KebaSensorEntityDescription(
        key="power_factor",
        device_class=SensorDeviceClass.POWER_FACTOR,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=PERCENTAGE,
        suggested_display_precision=1,
        entity_registry_enabled_default=False,
        value_fn=_meter(_power_factor),
        exists_fn=_reports(_power_factor),
        absent_fn=_reports_no(_power_factor),
    ),
    KebaSensorEntityDescription(
        key="session_energy",
        translation_key="session_energy",
        device_class=SensorDeviceClass.ENERGY,
        # "E pres" starts again from zero with every session; statistics treat that as a reset.
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=_meter(lambda meter: meter.session_energy_kwh),
        exists_fn=_reports(lambda meter: meter.session_energy_kwh),
        absent_fn=_reports_no(lambda meter: meter.session_energy_kwh),
    ),
    KebaSensorEntityDescription(
        key="total_energy",
        translation_key="total_energy",
        device_class=SensorDeviceClass.ENERGY,
        state_class=SensorStateClass.TOTAL_INCREASING,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=_meter(lambda meter: meter.total_energy_kwh),
        never_decreasing=True,
        exists_fn=_reports(lambda meter: meter.total_energy_kwh),
        absent_fn=_reports_no(lambda meter: meter.total_energy_kwh),
    ),
    KebaSensorEntityDescription(
        key="offered_current",
        translation_key="offered_current",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        value_fn=_status(lambda status: status.max_current),
    ),
    KebaSensorEntityDescription(
        key="hardware_current_limit",
        translation_key="hardware_current_limit",
        device_class=SensorDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_status(lambda status: status.hardware_current_limit),
    ),
    KebaSensorEntityDescription(
        key="user_current_limit",
        translation_key="user_current_limit",
        device_class=SensorDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=1,
        value_fn=_status(lambda status: status.user_current_limit),
    ),
    KebaSensorEntityDescription(
        key="failsafe_current",
        translation_key="failsafe_current",
        device_class=SensorDeviceClass.CURRENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=0,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_status(lambda status: status.failsafe_current),
    ),
    KebaSensorEntityDescription(
        key="failsafe_timeout",
        translation_key="failsafe_timeout",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_status(lambda status: status.failsafe_timeout_s),
    ),
    KebaSensorEntityDescription(
        key="energy_limit",
        translation_key="energy_limit",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=1,
        # The energy limit number shows (and sets) the same value.
        entity_registry_enabled_default=False,
        value_fn=_status(lambda status: status.energy_limit_kwh),
        exists_fn=_has_meter,
    ),
    KebaSensorEntityDescription(
        key="phases_in_use",
        translation_key="phases_in_use",
        state_class=SensorStateClass.MEASUREMENT,
        value_fn=_meter(lambda meter: meter.phases_in_use),
        exists_fn=_reports(lambda meter: meter.phases_in_use),
        absent_fn=_reports_no(lambda meter: meter.phases_in_use),
    ),
    KebaSensorEntityDescription(
        key="error_1",
        translation_key="error_code",
        translation_placeholders={"number": "1"},
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_status(lambda status: status.error_1),
    ),
    KebaSensorEntityDescription(
        key="error_2",
        translation_key="error_code",
        translation_placeholders={"number": "2"},
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=_status(lambda status: status.error_2),
    ),
    KebaSensorEntityDescription(
        key="boot_time",
        translation_key="boot_time",
        device_class=SensorDeviceClass.TIMESTAMP,
        entity_category=EntityCategory.DIAGNOSTIC,
        value_fn=lambda data: data.boot_time,
    ),
    KebaSensorEntityDescription(
        key="session_start",
        translation_key="session_start",
        device_class=SensorDeviceClass.TIMESTAMP,
        value_fn=_session_start,
        exists_fn=_has_session_history,
    ),
    KebaSensorEntityDescription(
        key="session_rfid_tag",
        translation_key="session_rfid_tag",
        entity_registry_enabled_default=False,
        value_fn=_session_rfid_tag,
        exists_fn=lambda coordinator: (
            coordinator.capabilities.rfid and coordinator.capabilities.session_history
        ),
    ),
    KebaSensorEntityDescription(
        key="last_session_energy",
        translation_key="last_session_energy",
        device_class=SensorDeviceClass.ENERGY,
        native_unit_of_measurement=UnitOfEnergy.KILO_WATT_HOUR,
        suggested_display_precision=2,
        value_fn=_last_session_energy,
        exists_fn=_has_session_history,
    ),
    KebaSensorEntityDescription(
        key="last_session_duration",
        translation_key="last_session_duration",
        device_class=SensorDeviceClass.DURATION,
        native_unit_of_measurement=UnitOfTime.SECONDS,
        suggested_unit_of_measurement=UnitOfTime.HOURS,
        suggested_display_precision=2,
        value_fn=_last_session_duration,
        exists_fn=_has_session_history,
    ),
    KebaSensorEntityDescription(
        key="last_session_end_reason",
        translation_key="last_session_end_reason",
        device_class=SensorDeviceClass.ENUM,
        options=[
            reason.name.lower()
            for reason in SessionEndReason
            if reason != SessionEndReason.NOT_ENDED
        ],
        value_fn=_last_session_end_reason,
        exists_fn=_has_session_history,
    ),
    KebaSensorEntityDescription(
        key="duty_cycle",
        translation_key="duty_cycle",
        native_unit_of_measurement=PERCENTAGE,
        state_class=SensorStateClass.MEASUREMENT,
        suggested_display_precision=1,
        entity_category=EntityCategory.DIAGNOSTIC,
        entity_registry_enabled_default=False,
        value_fn=_status(lambda status: status.max_current_percent),
    ),
)


@dataclass(frozen=True, kw_only=True)
class KebaSolarSensorEntityDescription(SensorEntityDescription):
    """A sensor of the station's solar-surplus charging."""

    value_fn: Callable[[SolarStation], SensorValue]


SOLAR_SENSORS: tuple[KebaSolarSensorEntityDescription, ...] = (
    KebaSolarSensorEntityDescription(
        key="surplus_power",
        translation_key="surplus_power",
        device_class=SensorDeviceClass.POWER,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfPower.WATT,
        suggested_display_precision=0,
        value_fn=lambda solar: solar.decision.surplus_w if solar.decision else None,
    ),
    KebaSolarSensorEntityDescription(
        key="solar_target_current",
        translation_key="solar_target_current",
        device_class=SensorDeviceClass.CURRENT,
        state_class=SensorStateClass.MEASUREMENT,
        native_unit_of_measurement=UnitOfElectricCurrent.AMPERE,
        suggested_display_precision=0,
        value_fn=lambda solar: solar.decision.target_current if solar.decision else None,
    ),
    KebaSolarSensorEntityDescription(
        key="solar_state",
        translation_key="solar_state",
        device_class=SensorDeviceClass.ENUM,
        options=[state.value for state in ControllerState],
        value_fn=lambda solar: (
            solar.decision.state.value if solar.decision else ControllerState.OFF.value
        ),
    ),
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KebaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the sensors the station has."""
    coordinator = entry.runtime_data.coordinator
    entities: list[SensorEntity] = [
        KebaSensorEntity(coordinator, description)
        for description in SENSORS
        if description.exists_fn(coordinator)
    ]
    # Meter entities of a station that turned out to have no meter (values) go away.
    registry = er.async_get(hass)
    for description in SENSORS:
        if description.absent_fn is None or not description.absent_fn(coordinator):
            continue
        serial = entry.unique_id or coordinator.station.serial or entry.entry_id
        unique_id = f"{serial}_{description.key}"  # as KebaEntity names it
        if entity_id := registry.async_get_entity_id(Platform.SENSOR, DOMAIN, unique_id):
            LOGGER.info("%s reports no %s: removing %s", entry.title, description.key, entity_id)
            registry.async_remove(entity_id)
    solar = coordinator.solar
    if solar is not None and solar.can_regulate:
        entities.extend(
            KebaSolarSensorEntity(coordinator, solar, description) for description in SOLAR_SENSORS
        )
    async_add_entities(entities)


class KebaSensorEntity(KebaEntity, SensorEntity):
    """A sensor of a station."""

    entity_description: KebaSensorEntityDescription
    _highest: float | None = None

    @property
    def native_value(self) -> SensorValue:
        """The value from the coordinator's data; a meter's total never goes down."""
        value = self.entity_description.value_fn(self.coordinator.data)
        if self.entity_description.never_decreasing and isinstance(value, int | float):
            if self._highest is not None and value < self._highest:
                return self._highest
            self._highest = float(value)
        return value


class KebaSolarSensorEntity(KebaEntity, SensorEntity):
    """What the solar-surplus controller sees and does for a station."""

    entity_description: KebaSolarSensorEntityDescription

    def __init__(
        self,
        coordinator: KebaCoordinator,
        solar: SolarStation,
        description: KebaSolarSensorEntityDescription,
    ) -> None:
        """Bind the sensor to the station's solar-charging state."""
        super().__init__(coordinator, description)
        self._solar = solar

    @property
    def native_value(self) -> SensorValue:
        """The controller's latest decision."""
        return self.entity_description.value_fn(self._solar)
