"""Config flow steps of a charging site: one entry per grid connection.

A site names the grid power sensor (its unique id), optionally the home battery, the PV
production and a PV forecast, how it regulates, and its member stations in priority order.
The station flow (:mod:`.config_flow`) offers it in its user menu and hands its steps here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import probatio as vol
else:
    import voluptuous as vol

from homeassistant.config_entries import ConfigEntry, ConfigFlow, ConfigFlowResult, OptionsFlow
from homeassistant.const import CONF_NAME
from homeassistant.core import HomeAssistant
from homeassistant.data_entry_flow import section
from homeassistant.helpers import device_registry as dr
from homeassistant.helpers.selector import (
    BooleanSelector,
    DeviceSelector,
    DeviceSelectorConfig,
    EntityFilterSelectorConfig,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    TextSelector,
)
from homeassistant.helpers.translation import async_get_translations

from .const import (
    CONF_ALLOWED_IMPORT,
    CONF_BATTERY_BUFFER_SOC,
    CONF_BATTERY_BUFFER_START_SOC,
    CONF_BATTERY_CHARGE_POSITIVE,
    CONF_BATTERY_MAX_DISCHARGE,
    CONF_BATTERY_POWER_SENSOR,
    CONF_BATTERY_PRIORITY_SOC,
    CONF_BATTERY_SOC_SENSOR,
    CONF_CONTROL_INTERVAL,
    CONF_ENTRY_KIND,
    CONF_GRID_IMPORT_POSITIVE,
    CONF_GRID_SENSOR,
    CONF_PV_FORECAST,
    CONF_PV_POWER_SENSOR,
    CONF_SHARE_EQUALLY,
    CONF_SITE_STATIONS,
    CONF_START_DELAY,
    CONF_STOP_DELAY,
    DEFAULT_ALLOWED_IMPORT,
    DEFAULT_CONTROL_INTERVAL,
    DEFAULT_START_DELAY,
    DEFAULT_STOP_DELAY,
    DOMAIN,
    ENTRY_KIND_SITE,
    MAX_CONTROL_INTERVAL,
    MIN_CONTROL_INTERVAL,
    SITE_UNIQUE_ID_PREFIX,
)
from .domain_data import is_site_entry
from .site_control import BatterySettings

#: The battery settings a new site starts with (explained in the form).
DEFAULT_BATTERY_SETTINGS = BatterySettings()

#: Sections of the site form.
SECTION_BATTERY = "battery"
SECTION_PV = "pv"
SECTION_CONTROL = "control"
#: Marks an import of a site made from stations' old solar options (see site_migration).
SITE_MIGRATION = "site_migration"

_SECTION_KEYS: dict[str, tuple[str, ...]] = {
    SECTION_BATTERY: (
        CONF_BATTERY_POWER_SENSOR,
        CONF_BATTERY_CHARGE_POSITIVE,
        CONF_BATTERY_SOC_SENSOR,
        CONF_BATTERY_PRIORITY_SOC,
        CONF_BATTERY_BUFFER_SOC,
        CONF_BATTERY_BUFFER_START_SOC,
        CONF_BATTERY_MAX_DISCHARGE,
    ),
    SECTION_PV: (CONF_PV_POWER_SENSOR, CONF_PV_FORECAST),
    SECTION_CONTROL: (
        CONF_ALLOWED_IMPORT,
        CONF_CONTROL_INTERVAL,
        CONF_START_DELAY,
        CONF_STOP_DELAY,
    ),
}
_TOP_KEYS = (CONF_SITE_STATIONS, CONF_SHARE_EQUALLY)
_INT_KEYS = (CONF_CONTROL_INTERVAL, CONF_START_DELAY, CONF_STOP_DELAY)
_FLOAT_KEYS = (
    CONF_ALLOWED_IMPORT,
    CONF_BATTERY_PRIORITY_SOC,
    CONF_BATTERY_BUFFER_SOC,
    CONF_BATTERY_BUFFER_START_SOC,
    CONF_BATTERY_MAX_DISCHARGE,
)
#: Every option a site stores (besides its member stations).
SITE_OPTION_KEYS = (*_TOP_KEYS, *(key for keys in _SECTION_KEYS.values() for key in keys))


def _power_sensor() -> EntitySelector:
    return EntitySelector(EntitySelectorConfig(domain="sensor", device_class="power"))


def number_selector(minimum: float, maximum: float, step: float, unit: str) -> NumberSelector:
    """A number box with a unit (the options forms of sites and stations)."""
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=step,
            mode=NumberSelectorMode.BOX,
            unit_of_measurement=unit,
        )
    )


def _percent() -> NumberSelector:
    return number_selector(0, 100, 1, "%")


_GRID_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_GRID_SENSOR): _power_sensor(),
        vol.Required(CONF_GRID_IMPORT_POSITIVE, default=True): BooleanSelector(),
    }
)

_SETTINGS_SCHEMA = vol.Schema(
    {
        # Stations with a charging-mode select: KEBA stations that can be regulated (a P20,
        # which has no temporary current, cannot), and no site device.
        vol.Optional(CONF_SITE_STATIONS): DeviceSelector(
            DeviceSelectorConfig(
                multiple=True,
                entity=EntityFilterSelectorConfig(integration=DOMAIN, domain="select"),
            )
        ),
        vol.Required(CONF_SHARE_EQUALLY, default=False): BooleanSelector(),
        vol.Required(SECTION_BATTERY): section(
            vol.Schema(
                {
                    vol.Optional(CONF_BATTERY_POWER_SENSOR): _power_sensor(),
                    vol.Required(CONF_BATTERY_CHARGE_POSITIVE, default=True): BooleanSelector(),
                    vol.Optional(CONF_BATTERY_SOC_SENSOR): EntitySelector(
                        EntitySelectorConfig(domain="sensor", device_class="battery")
                    ),
                    vol.Required(
                        CONF_BATTERY_PRIORITY_SOC, default=DEFAULT_BATTERY_SETTINGS.priority_soc
                    ): _percent(),
                    # Empty: the battery never bridges a dip / never starts a session.
                    vol.Optional(CONF_BATTERY_BUFFER_SOC): _percent(),
                    vol.Optional(CONF_BATTERY_BUFFER_START_SOC): _percent(),
                    vol.Optional(CONF_BATTERY_MAX_DISCHARGE): number_selector(0, 100000, 100, "W"),
                }
            ),
            {"collapsed": True},
        ),
        vol.Required(SECTION_PV): section(
            vol.Schema(
                {
                    vol.Optional(CONF_PV_POWER_SENSOR): _power_sensor(),
                    vol.Optional(CONF_PV_FORECAST): EntitySelector(
                        EntitySelectorConfig(domain="sensor")
                    ),
                }
            ),
            {"collapsed": True},
        ),
        vol.Required(SECTION_CONTROL): section(
            vol.Schema(
                {
                    vol.Required(
                        CONF_ALLOWED_IMPORT, default=DEFAULT_ALLOWED_IMPORT
                    ): number_selector(0, 11000, 10, "W"),
                    vol.Required(
                        CONF_CONTROL_INTERVAL, default=DEFAULT_CONTROL_INTERVAL
                    ): number_selector(MIN_CONTROL_INTERVAL, MAX_CONTROL_INTERVAL, 1, "s"),
                    vol.Required(CONF_START_DELAY, default=DEFAULT_START_DELAY): number_selector(
                        0, 3600, 1, "s"
                    ),
                    vol.Required(CONF_STOP_DELAY, default=DEFAULT_STOP_DELAY): number_selector(
                        0, 3600, 1, "s"
                    ),
                }
            ),
            {"collapsed": True},
        ),
    }
)

SITE_SCHEMA = (
    vol.Schema({vol.Optional(CONF_NAME): TextSelector()})
    .extend(_GRID_SCHEMA.schema)
    .extend(_SETTINGS_SCHEMA.schema)
)


def site_unique_id(grid_sensor: str) -> str:
    """A site's unique id: one site per grid connection, named by its grid power sensor."""
    return f"{SITE_UNIQUE_ID_PREFIX}{grid_sensor}"


async def async_default_site_title(hass: HomeAssistant) -> str:
    """The default title of a site: "Charging site" in Home Assistant's language."""
    language = hass.config.language
    strings = await async_get_translations(hass, language, "device", {DOMAIN})
    return strings.get(f"component.{DOMAIN}.device.site.name", "Charging site")


def new_site_values() -> dict[str, Any]:
    """What the site form suggests for a new site: the default battery buffer."""
    return {SECTION_BATTERY: {CONF_BATTERY_BUFFER_SOC: DEFAULT_BATTERY_SETTINGS.buffer_soc}}


def site_sections(options: dict[str, Any], hass: HomeAssistant) -> dict[str, Any]:
    """Stored site options as the form's values (member serials as device ids)."""
    values: dict[str, Any] = {key: options[key] for key in _TOP_KEYS if key in options}
    values[CONF_SITE_STATIONS] = serials_to_devices(hass, options.get(CONF_SITE_STATIONS, []))
    for name, keys in _SECTION_KEYS.items():
        values[name] = {key: options[key] for key in keys if key in options}
    return values


def serials_to_devices(hass: HomeAssistant, serials: list[str]) -> list[str]:
    """The device ids of stations given by serial number (missing devices left out)."""
    registry = dr.async_get(hass)
    device_ids: list[str] = []
    for serial in serials:
        entry = hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, serial)
        if entry is None or is_site_entry(entry):
            continue
        device = registry.async_get_device_by_identifier((DOMAIN, serial), entry.entry_id)
        if device is not None:
            device_ids.append(device.id)
    return device_ids


def _station_serial(hass: HomeAssistant, device_id: str) -> tuple[str | None, str]:
    """The serial of the KEBA station ``device_id`` and its name (None: not a station)."""
    device = dr.async_get(hass).async_get(device_id)
    if device is None:
        return None, device_id
    name = device.name_by_user or device.name or device_id
    for entry_id in device.config_entries:
        entry = hass.config_entries.async_get_entry(entry_id)
        if entry is not None and entry.domain == DOMAIN and not is_site_entry(entry):
            return entry.unique_id, name
    return None, name


def site_of_station(
    hass: HomeAssistant, serial: str, *, other_than: str | None = None
) -> ConfigEntry[Any] | None:
    """The site entry that lists station ``serial`` (other than entry ``other_than``)."""
    for entry in hass.config_entries.async_entries(DOMAIN, include_ignore=False):
        if (
            is_site_entry(entry)
            and entry.entry_id != other_than
            and serial in entry.options.get(CONF_SITE_STATIONS, ())
        ):
            return entry
    return None


def validate_site(
    hass: HomeAssistant, user_input: dict[str, Any], entry_id: str | None
) -> tuple[dict[str, Any], dict[str, str], dict[str, str]]:
    """Check the site form; returns the options, the errors and the errors' placeholders."""
    errors: dict[str, str] = {}
    placeholders: dict[str, str] = {"station": "", "site": ""}
    options: dict[str, Any] = {CONF_SHARE_EQUALLY: bool(user_input.get(CONF_SHARE_EQUALLY))}
    for name, keys in _SECTION_KEYS.items():
        values = user_input.get(name, {})
        options.update({key: values[key] for key in keys if values.get(key) not in (None, "")})
    for key in _INT_KEYS:
        if key in options:
            options[key] = int(options[key])
    for key in _FLOAT_KEYS:
        if key in options:
            options[key] = float(options[key])

    serials: list[str] = []
    for device_id in user_input.get(CONF_SITE_STATIONS) or []:
        serial, name = _station_serial(hass, device_id)
        if serial is None:
            errors[CONF_SITE_STATIONS] = "not_a_station"
            placeholders["station"] = name
            break
        if (other := site_of_station(hass, serial, other_than=entry_id)) is not None:
            errors[CONF_SITE_STATIONS] = "station_in_other_site"
            placeholders.update(station=name, site=other.title)
            break
        if serial not in serials:
            serials.append(serial)
    options[CONF_SITE_STATIONS] = serials

    if options.get(CONF_CONTROL_INTERVAL, DEFAULT_CONTROL_INTERVAL) < MIN_CONTROL_INTERVAL:
        errors[SECTION_CONTROL] = "control_interval_too_short"
    if options.get(CONF_BATTERY_SOC_SENSOR) and not options.get(CONF_BATTERY_POWER_SENSOR):
        errors[SECTION_BATTERY] = "soc_without_battery_power"
    # Priority ≤ buffer ≤ buffer start, where set.
    socs = [
        options[key]
        for key in (
            CONF_BATTERY_PRIORITY_SOC,
            CONF_BATTERY_BUFFER_SOC,
            CONF_BATTERY_BUFFER_START_SOC,
        )
        if key in options
    ]
    if socs != sorted(socs):
        errors[SECTION_BATTERY] = "battery_soc_order"
    grid = user_input.get(CONF_GRID_SENSOR)
    sensors = [
        sensor
        for sensor in (
            grid,
            options.get(CONF_BATTERY_POWER_SENSOR),
            options.get(CONF_BATTERY_SOC_SENSOR),
            options.get(CONF_PV_POWER_SENSOR),
        )
        if sensor
    ]
    if len(sensors) != len(set(sensors)):
        errors["base"] = "same_sensor_twice"
    return options, errors, placeholders


class SiteFlowMixin(ConfigFlow):
    """The steps of the config flow that add, reconfigure and import a charging site.

    The integration's flow (:class:`.config_flow.KebaConfigFlow`) derives from it; it registers
    no domain of its own.
    """

    async def async_step_site(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Add a charging site: its grid sensor, settings and stations."""
        errors: dict[str, str] = {}
        placeholders = {"station": "", "site": ""}
        if user_input is not None:
            grid = user_input[CONF_GRID_SENSOR]
            await self.async_set_unique_id(site_unique_id(grid), raise_on_progress=False)
            self._abort_if_unique_id_configured(error="site_already_configured")
            options, errors, placeholders = validate_site(self.hass, user_input, None)
            if not errors:
                title = str(user_input.get(CONF_NAME) or "").strip()
                return self.async_create_entry(
                    title=title or await async_default_site_title(self.hass),
                    data={
                        CONF_ENTRY_KIND: ENTRY_KIND_SITE,
                        CONF_GRID_SENSOR: grid,
                        CONF_GRID_IMPORT_POSITIVE: bool(user_input[CONF_GRID_IMPORT_POSITIVE]),
                    },
                    options=options,
                )
        return self.async_show_form(
            step_id="site",
            data_schema=self.add_suggested_values_to_schema(
                SITE_SCHEMA, user_input or new_site_values()
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    async def async_step_site_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Change the site's grid power sensor or its sign."""
        entry = self._get_reconfigure_entry()
        errors: dict[str, str] = {}
        if user_input is not None:
            grid = user_input[CONF_GRID_SENSOR]
            unique_id = site_unique_id(grid)
            if unique_id != entry.unique_id:
                await self.async_set_unique_id(unique_id, raise_on_progress=False)
                self._abort_if_unique_id_configured(error="site_already_configured")
            others = [
                entry.options.get(key)
                for key in (
                    CONF_BATTERY_POWER_SENSOR,
                    CONF_BATTERY_SOC_SENSOR,
                    CONF_PV_POWER_SENSOR,
                )
            ]
            if grid in others:
                errors["base"] = "same_sensor_twice"
            else:
                return self.async_update_reload_and_abort(
                    entry,
                    unique_id=unique_id,
                    data_updates={
                        CONF_GRID_SENSOR: grid,
                        CONF_GRID_IMPORT_POSITIVE: bool(user_input[CONF_GRID_IMPORT_POSITIVE]),
                    },
                    reason="site_reconfigured",
                )
        return self.async_show_form(
            step_id="site_reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                _GRID_SCHEMA, user_input or dict(entry.data)
            ),
            errors=errors,
        )

    async def async_step_site_import(self, import_data: dict[str, Any]) -> ConfigFlowResult:
        """Create a site from the solar options stations had before sites existed."""
        grid = import_data[CONF_GRID_SENSOR]
        await self.async_set_unique_id(site_unique_id(grid), raise_on_progress=False)
        self._abort_if_unique_id_configured()
        return self.async_create_entry(
            title=import_data.get(CONF_NAME) or await async_default_site_title(self.hass),
            data={
                CONF_ENTRY_KIND: ENTRY_KIND_SITE,
                CONF_GRID_SENSOR: grid,
                CONF_GRID_IMPORT_POSITIVE: bool(import_data.get(CONF_GRID_IMPORT_POSITIVE, True)),
            },
            options=dict(import_data.get("options", {})),
        )


class SiteOptionsFlow(OptionsFlow):
    """A site's settings and member stations; saving restarts the site."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """The site's one options form (its own step id: stations have a menu at "init")."""
        return await self.async_step_site(user_input)

    async def async_step_site(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Battery, PV, control and the member stations in priority order."""
        errors: dict[str, str] = {}
        placeholders = {"station": "", "site": ""}
        if user_input is not None:
            # The grid sensor (not on this form) must not be named again for another purpose.
            grid = {CONF_GRID_SENSOR: self.config_entry.data.get(CONF_GRID_SENSOR)}
            options, errors, placeholders = validate_site(
                self.hass, {**user_input, **grid}, self.config_entry.entry_id
            )
            if not errors:
                return self.async_create_entry(data=options)
        return self.async_show_form(
            step_id="site",
            data_schema=self.add_suggested_values_to_schema(
                _SETTINGS_SCHEMA,
                user_input or site_sections(dict(self.config_entry.options), self.hass),
            ),
            errors=errors,
            description_placeholders=placeholders,
        )
