"""The charging mode of a station: who sets its charging current."""

from __future__ import annotations

from typing import Any

from homeassistant.components.select import SelectEntity, SelectEntityDescription
from homeassistant.core import HomeAssistant, callback
from homeassistant.helpers.entity_platform import AddConfigEntryEntitiesCallback
from homeassistant.helpers.restore_state import ExtraStoredData, RestoredExtraData, RestoreEntity

from .const import CONF_PHASE_SWITCHING
from .coordinator import KebaConfigEntry, KebaCoordinator
from .entity import KebaEntity
from .phase_switch import PHASE_CHOICES, PhaseControl, phase_switching_supported
from .solar import SolarStation, async_get_manager
from .surplus import ChargingMode

# Choosing a mode sends no command itself; the controller does, through the station's queue.
PARALLEL_UPDATES = 0

CHARGING_MODE = SelectEntityDescription(
    key="charging_mode",
    translation_key="charging_mode",
    options=[mode.value for mode in ChargingMode],
    # An everyday control (dashboards, automations), not a setting of the device.
)


async def async_setup_entry(
    hass: HomeAssistant,
    entry: KebaConfigEntry,
    async_add_entities: AddConfigEntryEntitiesCallback,
) -> None:
    """Add the charging mode select (and the phases select when Home Assistant switches)."""
    coordinator = entry.runtime_data.coordinator
    if entry.options.get(CONF_PHASE_SWITCHING) and phase_switching_supported(coordinator.station):
        control = PhaseControl(hass, entry, coordinator)
        coordinator.phase_control = control
        entry.async_on_unload(control.async_shutdown)
        async_add_entities([KebaPhasesSelect(coordinator, control)])
    solar = async_get_manager(hass).station(entry)
    if solar is None:  # pragma: no cover - registered before the platforms are set up
        return
    if not coordinator.capabilities.currtime:
        # A P20 has no ``currtime``: every mode would need the permanent ``curr``.
        return
    async_add_entities([KebaChargingModeSelect(coordinator, solar)])


class KebaChargingModeSelect(KebaEntity, SelectEntity, RestoreEntity):
    """Off (the user's number and automations rule), fast, solar, or minimum + solar."""

    def __init__(self, coordinator: KebaCoordinator, solar: SolarStation) -> None:
        """Bind the select to the station's solar-charging state."""
        super().__init__(coordinator, CHARGING_MODE)
        self._solar = solar

    async def async_added_to_hass(self) -> None:
        """Restore the mode (and the vehicle's phases) the station had before a restart."""
        await super().async_added_to_hass()
        last = await self.async_get_last_state()
        if last is None or last.state not in self.options:
            return
        mode = ChargingMode(last.state)
        if not self._solar.may_use(mode):
            # The grid sensor was removed from the options (or the station cannot pause).
            mode = ChargingMode.OFF
        extra = await self.async_get_last_extra_data()
        phases = extra.as_dict().get("detected_phases") if extra is not None else None
        self._solar.restore(mode, phases if phases in (1, 3) else None)
        if mode != ChargingMode.OFF:
            self._solar.async_set_mode(mode)

    @property
    def current_option(self) -> str:
        """The active mode."""
        return self._solar.mode.value

    async def async_select_option(self, option: str) -> None:
        """Hand the charging current to the chosen mode.

        A refused mode (solar without a grid sensor) writes the active mode back at once, so
        that the frontend does not keep showing the refused one.
        """
        try:
            self._solar.async_set_mode(ChargingMode(option))
        except Exception:
            self.async_write_real_state()
            raise

    @property
    def extra_restore_state_data(self) -> ExtraStoredData:
        """Remember the phases the vehicle charged on, for the next start."""
        data: dict[str, Any] = {"detected_phases": self._solar.detected_phases}
        return RestoredExtraData(data)


PHASES = SelectEntityDescription(
    key="phases",
    translation_key="phases",
    options=PHASE_CHOICES,
)


class KebaPhasesSelect(KebaEntity, SelectEntity, RestoreEntity):
    """Automatic (the solar controller decides), one phase or three phases through X2."""

    def __init__(self, coordinator: KebaCoordinator, control: PhaseControl) -> None:
        """Bind the select to the station's phase switching."""
        super().__init__(coordinator, PHASES)
        self._control = control

    async def async_added_to_hass(self) -> None:
        """Restore the choice; finish a resume a restart interrupted."""
        await super().async_added_to_hass()
        self.async_on_remove(self._control.async_add_listener(self.async_write_ha_state))
        last = await self.async_get_last_state()
        if last is not None and last.state in self.options:
            self._control.choice = last.state
        extra = await self.async_get_last_extra_data()
        pending = extra.as_dict().get("pending_resume") if extra is not None else None
        if isinstance(pending, int | float) and not isinstance(pending, bool) and pending > 0:
            await self._control.async_recover(float(pending))
        self._control.async_follow_plug()

    @callback
    def _handle_coordinator_update(self) -> None:
        self._control.async_follow_plug()
        super()._handle_coordinator_update()

    @property
    def current_option(self) -> str:
        """The user's choice."""
        return self._control.choice

    @property
    def extra_state_attributes(self) -> dict[str, Any]:
        """The phases X2 selects, the switch's state and why it stopped, if it did."""
        return self._control.attributes()

    async def async_select_option(self, option: str) -> None:
        """Switch to the chosen phases (1 or 3) or leave it to the solar controller."""
        self._control.async_choose(option)

    @property
    def extra_restore_state_data(self) -> ExtraStoredData:
        """The current to resume at if Home Assistant stops in the middle of a switch."""
        return RestoredExtraData({"pending_resume": self._control.pending_resume})
