"""Config flow of the KEBA KeContact integration.

Stations are added from a search of the network (``i``, then ``report 1``), by address, from
Home Assistant's DHCP watcher (KEBA's MAC prefix 00:60:B5), from the periodic background search,
or from the old core integration's YAML. The serial number is the unique id: a station that
reappears at another address has its entry moved there.
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from dataclasses import dataclass
import ipaddress
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    # Home Assistant 2026.10 declares its schema types with probatio, which it installs in
    # place of voluptuous at run time; older versions use voluptuous itself.
    import probatio as vol
else:
    import voluptuous as vol

from homeassistant.config_entries import (
    DISCOVERY_SOURCES,
    SOURCE_IGNORE,
    SOURCE_IMPORT,
    SOURCE_USER,
    ConfigEntry,
    ConfigEntryState,
    ConfigFlowResult,
    OptionsFlowWithReload,
)
from homeassistant.const import CONF_HOST, CONF_MODEL
from homeassistant.core import HomeAssistant, callback
from homeassistant.data_entry_flow import AbortFlow, section
from homeassistant.helpers import issue_registry as ir
from homeassistant.helpers.selector import (
    BooleanSelector,
    EntitySelector,
    EntitySelectorConfig,
    NumberSelector,
    NumberSelectorConfig,
    NumberSelectorMode,
    SelectOptionDict,
    SelectSelector,
    SelectSelectorConfig,
    SelectSelectorMode,
    TextSelector,
    TextSelectorConfig,
)
from homeassistant.helpers.service_info.dhcp import DhcpServiceInfo
from homeassistant.helpers.typing import DiscoveryInfoType
from homeassistant.util import slugify

from .const import (
    CONF_CARDS,
    CONF_CHARGING_INTERVAL,
    CONF_DEFAULT_CARD_NAME,
    CONF_FAILSAFE,
    CONF_FAILSAFE_CURRENT,
    CONF_FAILSAFE_PERSIST,
    CONF_FAILSAFE_TIMEOUT,
    CONF_FS_FALLBACK,
    CONF_FS_PERSIST,
    CONF_FS_TIMEOUT,
    CONF_IDLE_INTERVAL,
    CONF_PHASE_DWELL,
    CONF_PHASE_MAX_SWITCHES,
    CONF_PHASE_SWITCHING,
    CONF_PRICE_ENTITY,
    CONF_PRODUCT,
    CONF_REFRESH_INTERVAL,
    CONF_RFID,
    CONF_RFID_CLASS,
    CONF_RFID_TAG,
    CONF_SERIAL,
    CONF_SOLAR_ENERGY_PRICE,
    CONF_SOLAR_MAX_CURRENT,
    CONF_SOLAR_MIN_CURRENT,
    CONF_SOLAR_PHASES,
    CURRENT_MAX_A,
    CURRENT_MIN_A,
    DEFAULT_CARD_NAME,
    DEFAULT_CHARGING_INTERVAL,
    DEFAULT_FAILSAFE_CURRENT,
    DEFAULT_FAILSAFE_TIMEOUT,
    DEFAULT_IDLE_INTERVAL,
    DEFAULT_PHASE_DWELL,
    DEFAULT_PHASE_MAX_SWITCHES,
    DOMAIN,
    FAILSAFE_TIMEOUT_MAX,
    FAILSAFE_TIMEOUT_MIN,
    IDENTIFY_TIMEOUT,
    ISSUE_YAML_DEPRECATED,
    ISSUE_YAML_IMPORT_CANNOT_CONNECT,
    LEGACY_FS_FALLBACK,
    LEGACY_FS_TIMEOUT,
    LOGGER,
    MANUAL_ENTRY,
    MAX_POLL_INTERVAL,
    MIN_POLL_INTERVAL,
    PHASES_AUTO,
    RFID_CLASS_MAX_CHARS,
    RFID_TAG_MAX_CHARS,
)
from .discovery import async_discover_stations, async_get_domain_data
from .domain_data import Handover, is_site_entry
from .kecontact import (
    STATION_PORT,
    Capabilities,
    DiscoveredStation,
    KebaConnectionError,
    KebaError,
    KebaPortInUseError,
    KebaStation,
    KebaTimeoutError,
    Model,
    StationInfo,
    UdpControlDisabledError,
)
from .kecontact.phases import send_phase_source_udp
from .kecontact.probe import probe_station
from .ledger import parse_card_lines, seen_tags
from .phase_switch import phase_switching_supported
from .site_flow import SITE_MIGRATION, SiteFlowMixin, SiteOptionsFlow, number_selector

#: Field of the user step: a discovered station's serial, or MANUAL_ENTRY.
CONF_STATION = "station"
#: Sections of the options form.
SECTION_POLLING = "polling"
SECTION_RFID = "rfid"
SECTION_FAILSAFE = "failsafe"

_HEX_DIGITS = frozenset("0123456789abcdef")

#: Reports of a station younger than this stand for a check of it.
RECENT_ENOUGH_S = 10.0

_HOST_SCHEMA = vol.Schema({vol.Required(CONF_HOST): TextSelector()})


@dataclass(frozen=True, slots=True, kw_only=True)
class FoundStation:
    """A station the flow has identified by its report 1."""

    host: str
    serial: str
    product: str
    model_name: str

    @classmethod
    def create(
        cls, host: str, serial: str, product: str, model_name: str | None = None
    ) -> FoundStation:
        """Name the station after its model (from the product code unless known)."""
        return cls(
            host=host,
            serial=serial,
            product=product,
            model_name=model_name or Capabilities.from_product(product).model_name,
        )

    @property
    def title(self) -> str:
        """Model and serial, e.g. ``KeContact P30 x-series 18039974`` (discovery card)."""
        return f"{self.model_name} {self.serial}"

    @property
    def device_name(self) -> str:
        """Short name of the device, e.g. ``KEBA P30``; entity ids start with it."""
        capabilities = Capabilities.from_product(self.product)
        if capabilities.model == Model.OEM:
            return f"{capabilities.manufacturer} Wallbox"
        return f"{capabilities.manufacturer} {capabilities.model.value}"

    @property
    def label(self) -> str:
        """How the station is listed in the user step."""
        return f"{self.model_name} · {self.serial} · {self.host}"

    @property
    def placeholders(self) -> dict[str, str]:
        """Description placeholders naming the station."""
        return {"model": self.model_name, "serial": self.serial, "host": self.host}


async def async_identify_station(
    hass: HomeAssistant, host: str, known_info: StationInfo | None = None
) -> FoundStation:
    """Probe the station at ``host`` through the shared socket and identify it.

    A wrong address is known within about 3 s; a station that answers is asked again for what
    it missed. The reports read are handed to the setup of the entry the flow creates, so that
    it does not ask the station the same again (KEBA's 5 s rule would delay it). ``known_info``
    is report 1 as a search read it moments ago.

    Raises :class:`KebaPortInUseError` when UDP port 7090 is taken, :class:`UdpControlDisabledError`
    when the station answers report 1 but not report 2 (DIP switch DSW1.3 off),
    :class:`KebaError` when the station does not answer.
    """
    domain_data = async_get_domain_data(hass)
    recent = domain_data.handovers.get(host)
    if (
        recent is not None
        and recent.unloaded
        and recent.age <= RECENT_ENOUGH_S
        and recent.info.serial
    ):
        # An entry of this station was unloaded moments ago (removed, to be added again).
        info = recent.info
        caps = Capabilities.from_product(info.product, com_module=info.com_module)
        return FoundStation.create(host, info.serial, info.product, caps.model_name)
    endpoint = await domain_data.pool.acquire(domain_data.bind_address, STATION_PORT)
    try:
        station = KebaStation(endpoint, host)
        try:
            async with asyncio.timeout(IDENTIFY_TIMEOUT):
                result = await probe_station(station, known_info=known_info)
        except TimeoutError as err:
            raise KebaTimeoutError(
                f"{host} did not answer report 1 within {IDENTIFY_TIMEOUT} s"
            ) from err
        finally:
            await station.close()
    finally:
        await domain_data.pool.release(endpoint)
    info = result.info
    if not info.serial:
        raise KebaConnectionError(f"{host} answered report 1 without a serial number")
    domain_data.handovers[host] = Handover(info=info, status=result.status, meter=result.meter)
    if station.ip is not None:
        domain_data.remember_identity(station.ip, info)
    capabilities = station.capabilities
    return FoundStation.create(
        host, info.serial, info.product, capabilities.model_name if capabilities else None
    )


def is_valid_host(host: str) -> bool:
    """Whether ``host`` can be a station: a host name or a unicast IPv4 address."""
    if not host or any(char.isspace() or char in "/:@" for char in host):
        return False
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return True  # a host name; resolving it is the station check's job
    return (
        address.version == 4
        and not address.is_multicast
        and not address.is_unspecified
        and address != ipaddress.IPv4Address("255.255.255.255")
    )


def _is_ip_address(host: str | None) -> bool:
    try:
        ipaddress.ip_address(host or "")
    except ValueError:
        return False
    return True


def _is_hex(value: str, max_chars: int) -> bool:
    return 0 < len(value) <= max_chars and set(value) <= _HEX_DIGITS


def _clamp(value: float, lowest: int, highest: int) -> int:
    return int(min(max(value, lowest), highest))


def options_from_legacy_yaml(conf: dict[str, Any]) -> dict[str, Any]:
    """Translate the old core integration's YAML into this integration's options."""
    options: dict[str, Any] = {}
    if (interval := conf.get(CONF_REFRESH_INTERVAL)) is not None:
        options[CONF_CHARGING_INTERVAL] = _clamp(interval, MIN_POLL_INTERVAL, MAX_POLL_INTERVAL)
    if tag := str(conf.get(CONF_RFID) or "").strip().lower():
        if _is_hex(tag, RFID_TAG_MAX_CHARS):
            options[CONF_RFID_TAG] = tag
        else:
            LOGGER.warning(
                "Not importing the RFID tag %r from YAML: it must be 1 to %s hexadecimal digits",
                tag,
                RFID_TAG_MAX_CHARS,
            )
    if conf.get(CONF_FAILSAFE) and (timeout := conf.get(CONF_FS_TIMEOUT, LEGACY_FS_TIMEOUT)):
        fallback = conf.get(CONF_FS_FALLBACK, LEGACY_FS_FALLBACK)
        options[CONF_FAILSAFE_TIMEOUT] = _clamp(timeout, FAILSAFE_TIMEOUT_MIN, FAILSAFE_TIMEOUT_MAX)
        options[CONF_FAILSAFE_CURRENT] = (
            _clamp(fallback, CURRENT_MIN_A, CURRENT_MAX_A) if fallback else 0
        )
        options[CONF_FAILSAFE_PERSIST] = bool(conf.get(CONF_FS_PERSIST, False))
    return options


@callback
def _async_create_yaml_issue(hass: HomeAssistant) -> None:
    """Tell the user that the YAML has been imported and should be removed."""
    ir.async_delete_issue(hass, DOMAIN, ISSUE_YAML_IMPORT_CANNOT_CONNECT)
    ir.async_create_issue(
        hass,
        DOMAIN,
        ISSUE_YAML_DEPRECATED,
        is_fixable=False,
        severity=ir.IssueSeverity.WARNING,
        breaks_in_ha_version=None,
        translation_key=ISSUE_YAML_DEPRECATED,
    )


class KebaConfigFlow(SiteFlowMixin, domain=DOMAIN):
    """Add a KEBA KeContact station, or a charging site (see :mod:`.site_flow`)."""

    VERSION = 1
    #: 1.2: solar settings moved from the stations' options into charging site entries.
    MINOR_VERSION = 2

    def __init__(self) -> None:
        """Start with nothing found."""
        self._discovered: dict[str, FoundStation] = {}
        self._infos: dict[str, StationInfo] = {}
        self._station: FoundStation | None = None

    @staticmethod
    @callback
    def async_get_options_flow(config_entry: ConfigEntry) -> KebaOptionsFlow | SiteOptionsFlow:
        """Options of a station (polling, RFID defaults, failsafe, its vehicle) or a site."""
        if is_site_entry(config_entry):
            return SiteOptionsFlow()
        return KebaOptionsFlow()

    # ---------------------------------------------------------------- helpers
    async def _async_identify(
        self, host: str, known_info: StationInfo | None = None
    ) -> tuple[FoundStation | None, str | None]:
        """Identify the station at ``host``; returns it, or the key of the error to show."""
        try:
            return await async_identify_station(self.hass, host, known_info), None
        except KebaPortInUseError as err:
            LOGGER.debug("Cannot reach %s: %s", host, err)
            return None, "port_in_use"
        except UdpControlDisabledError as err:
            LOGGER.warning(
                "%s answers, but takes no UDP commands: set DIP switch DSW1.3 to ON and restart "
                "the station (%s)",
                host,
                err,
            )
            return None, "udp_control_disabled"
        except KebaError as err:
            LOGGER.debug("Cannot reach %s: %s", host, err)
            return None, "cannot_connect"
        except Exception:  # noqa: BLE001 - logged with its traceback
            LOGGER.exception("Unexpected error while identifying the station at %s", host)
            return None, "unknown"

    @callback
    def _async_reload_for_update(self, entry: ConfigEntry, changed: bool) -> None:
        """Reload ``entry`` after its data changed, unless its update listener does that.

        An entry that waits for its station is retried at once: the station just answered.
        """
        if entry.state not in (ConfigEntryState.LOADED, ConfigEntryState.SETUP_RETRY):
            return
        if changed and entry.update_listeners:
            return
        if changed or entry.state is ConfigEntryState.SETUP_RETRY:
            self.hass.config_entries.async_schedule_reload(entry.entry_id)

    @callback
    def _async_abort_if_station_configured(self, host: str, *, keep_host_name: bool) -> None:
        """Abort if the station (the flow's unique id) has an entry; move the entry to ``host``.

        With ``keep_host_name`` (automatic discovery), an entry that the user set up with a host
        name keeps it: the name still leads to the station.
        """
        assert self.unique_id is not None
        entry = self.hass.config_entries.async_entry_for_domain_unique_id(DOMAIN, self.unique_id)
        if entry is None:
            return
        if entry.source == SOURCE_IGNORE:
            if self.source == SOURCE_USER:
                return  # the user adds a station they ignored before
            raise AbortFlow("already_configured")
        stored = entry.data.get(CONF_HOST)
        changed = False
        if stored != host and not (keep_host_name and not _is_ip_address(stored)):
            changed = self.hass.config_entries.async_update_entry(
                entry, data={**entry.data, CONF_HOST: host}
            )
            LOGGER.info("KEBA station %s moved from %s to %s", self.unique_id, stored, host)
        if changed or self.source in DISCOVERY_SOURCES:
            self._async_reload_for_update(entry, changed)
        raise AbortFlow("already_configured")

    @callback
    def _async_create_station_entry(
        self, station: FoundStation, options: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        # The title names the device, and the device names the entity ids:
        # ``sensor.keba_p30_total_energy``. The serial is added only where another entry
        # already has the short name, so that two stations' ids do not clash.
        title = station.device_name
        taken = {slugify(entry.title) for entry in self._async_current_entries()}
        if slugify(title) in taken:
            title = f"{title} {station.serial}"
        return self.async_create_entry(
            title=title,
            data={CONF_HOST: station.host, CONF_PRODUCT: station.product},
            options=options or {},
        )

    async def _async_add_station(self, station: FoundStation) -> ConfigFlowResult:
        """Create the entry of a station the user picked or entered."""
        await self.async_set_unique_id(station.serial, raise_on_progress=False)
        self._async_abort_if_station_configured(station.host, keep_host_name=False)
        return self._async_create_station_entry(station)

    # ------------------------------------------------------------------- user
    async def async_step_user(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Add a station or, once there is one, choose between a station and a charging site."""
        if user_input is None and any(
            not is_site_entry(entry) for entry in self._async_current_entries(include_ignore=False)
        ):
            return await self.async_step_kind()
        return await self.async_step_station(user_input)

    async def async_step_kind(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """A station or a charging site (the station list keeps the step id "user")."""
        return self.async_show_menu(step_id="kind", menu_options=["station", "site"])

    async def async_step_station(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Search the network and list the stations that are not set up yet."""
        if user_input is not None:
            choice = user_input[CONF_STATION]
            if choice == MANUAL_ENTRY:
                return await self.async_step_manual()
            picked = self._discovered[choice]
            # The search read report 1 moments ago: only report 2 and 3 are asked (to tell a
            # station with UDP control off apart, and for the entry's first values).
            station, error = await self._async_identify(picked.host, self._infos.get(choice))
            if station is None:
                return self._async_show_station_list(errors={"base": error or "unknown"})
            return await self._async_add_station(station)

        configured = self._async_current_ids(include_ignore=False)
        try:
            found = await async_discover_stations(
                self.hass, enough=lambda found: any(_is_new(s, configured) for s in found)
            )
        except KebaPortInUseError as err:
            LOGGER.debug("Cannot search for stations: %s", err)
            return self._async_show_host_form("manual", errors={"base": "port_in_use"})
        except KebaError as err:
            LOGGER.debug("Cannot search for stations: %s", err)
            return self._async_show_host_form("manual", errors={"base": "cannot_connect"})
        except Exception:  # noqa: BLE001 - logged with its traceback
            LOGGER.exception("Unexpected error while searching for stations")
            return self._async_show_host_form("manual", errors={"base": "unknown"})

        new = [station for station in sorted(found, key=_sort_key) if _is_new(station, configured)]
        self._discovered = {
            station.serial: FoundStation.create(
                station.host,
                station.serial,
                station.product or "",
                station.capabilities.model_name if station.capabilities else None,
            )
            for station in new
            if station.serial
        }
        self._infos = {
            station.serial: station.info for station in new if station.serial and station.info
        }
        if not self._discovered:
            return self._async_show_host_form("nothing_found")
        return self._async_show_station_list()

    @callback
    def _async_show_station_list(self, errors: dict[str, str] | None = None) -> ConfigFlowResult:
        options = [
            SelectOptionDict(value=serial, label=station.label)
            for serial, station in self._discovered.items()
        ]
        options.append(SelectOptionDict(value=MANUAL_ENTRY, label=MANUAL_ENTRY))
        return self.async_show_form(
            step_id="user",
            data_schema=vol.Schema(
                {
                    vol.Required(CONF_STATION): SelectSelector(
                        SelectSelectorConfig(
                            options=options,
                            mode=SelectSelectorMode.LIST,
                            translation_key=CONF_STATION,
                        )
                    )
                }
            ),
            errors=errors,
        )

    @callback
    def _async_show_host_form(
        self,
        step_id: str,
        user_input: dict[str, Any] | None = None,
        errors: dict[str, str] | None = None,
    ) -> ConfigFlowResult:
        return self.async_show_form(
            step_id=step_id,
            data_schema=self.add_suggested_values_to_schema(_HOST_SCHEMA, user_input),
            errors=errors,
            description_placeholders={"port": str(STATION_PORT)},
        )

    async def async_step_manual(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Add a station by its IP address or host name."""
        return await self._async_step_host("manual", user_input)

    async def async_step_nothing_found(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """The search found nothing new: ask for the address."""
        return await self._async_step_host("nothing_found", user_input)

    async def _async_step_host(
        self, step_id: str, user_input: dict[str, Any] | None
    ) -> ConfigFlowResult:
        if user_input is None:
            return self._async_show_host_form(step_id)
        host = user_input[CONF_HOST].strip()
        if not is_valid_host(host):
            return self._async_show_host_form(
                step_id, user_input, errors={CONF_HOST: "invalid_host"}
            )
        if (loaded := self._async_loaded_station(host)) is not None:
            # The station has a loaded entry: what it reported is known, asking it again
            # would only wait for KEBA's 5 s rule.
            return await self._async_add_station(loaded)
        station, error = await self._async_identify(host)
        if station is None:
            return self._async_show_host_form(
                step_id, user_input, errors={"base": error or "unknown"}
            )
        return await self._async_add_station(station)

    @callback
    def _async_loaded_station(self, host: str) -> FoundStation | None:
        """The station of a loaded entry at ``host``, as the flow would identify it."""
        for entry in self.hass.config_entries.async_loaded_entries(DOMAIN):
            station = entry.runtime_data.station
            info = station.snapshot.info
            if host in (entry.data.get(CONF_HOST), station.ip) and info and info.serial:
                caps = station.capabilities
                return FoundStation.create(
                    host, info.serial, info.product, caps.model_name if caps else None
                )
        return None

    # -------------------------------------------------------------- discovery
    async def async_step_integration_discovery(
        self, discovery_info: DiscoveryInfoType
    ) -> ConfigFlowResult:
        """A station answered the background search."""
        station = FoundStation.create(
            discovery_info[CONF_HOST],
            discovery_info[CONF_SERIAL],
            discovery_info.get(CONF_PRODUCT) or "",
            discovery_info.get(CONF_MODEL),
        )
        return await self._async_discovered(station)

    async def async_step_dhcp(self, discovery_info: DhcpServiceInfo) -> ConfigFlowResult:
        """A device with KEBA's MAC prefix got an address from DHCP."""
        host = discovery_info.ip
        self._async_abort_entries_match({CONF_HOST: host})
        station, error = await self._async_identify(host)
        if station is None:
            return self.async_abort(reason=error or "unknown")
        return await self._async_discovered(station)

    async def _async_discovered(self, station: FoundStation) -> ConfigFlowResult:
        await self.async_set_unique_id(station.serial)
        self._async_abort_if_station_configured(station.host, keep_host_name=True)
        self._station = station
        self.context["title_placeholders"] = {"name": station.title}
        return await self.async_step_discovery_confirm()

    async def async_step_discovery_confirm(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Ask before adding a discovered station."""
        assert self._station is not None
        errors: dict[str, str] = {}
        if user_input is not None:
            # Check the station now (report 1 to 3): the search may be minutes old, and a
            # station with UDP control off must be told apart before an entry exists.
            station, error = await self._async_identify(self._station.host)
            if station is not None and station.serial == self._station.serial:
                return self._async_create_station_entry(station)
            errors["base"] = error or "cannot_connect"
        self._set_confirm_only()
        return self.async_show_form(
            step_id="discovery_confirm",
            description_placeholders=self._station.placeholders,
            errors=errors,
        )

    # ------------------------------------------------------------ reconfigure
    async def async_step_reconfigure(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Move the entry to a new address of the same station (or change a site's grid sensor)."""
        entry = self._get_reconfigure_entry()
        if is_site_entry(entry):
            return await self.async_step_site_reconfigure(user_input)
        expected = entry.unique_id or ""
        errors: dict[str, str] = {}
        placeholders = {"expected": expected, "serial": "", "host": entry.data.get(CONF_HOST, "")}
        if user_input is not None:
            host = user_input[CONF_HOST].strip()
            if not is_valid_host(host):
                errors[CONF_HOST] = "invalid_host"
            else:
                station, error = await self._async_identify(host)
                if station is None:
                    errors["base"] = error or "unknown"
                elif station.serial != expected:
                    errors["base"] = "wrong_station"
                    placeholders["serial"] = station.serial
                else:
                    moved = host != entry.data.get(CONF_HOST)
                    changed = self.hass.config_entries.async_update_entry(
                        entry, data={**entry.data, CONF_HOST: host, CONF_PRODUCT: station.product}
                    )
                    self._async_reload_for_update(entry, changed)
                    # Only say the address changed when it did.
                    reason = "reconfigure_successful" if moved else "reconfigure_unchanged"
                    return self.async_abort(reason=reason)
        return self.async_show_form(
            step_id="reconfigure",
            data_schema=self.add_suggested_values_to_schema(
                _HOST_SCHEMA, user_input or {CONF_HOST: entry.data.get(CONF_HOST)}
            ),
            errors=errors,
            description_placeholders=placeholders,
        )

    # ----------------------------------------------------------------- import
    async def async_step_import(self, import_data: dict[str, Any]) -> ConfigFlowResult:
        """Import the ``keba:`` YAML of the old core integration (once), or a migrated site."""
        if import_data.get(SITE_MIGRATION):
            return await self.async_step_site_import(import_data)
        host = str(import_data[CONF_HOST]).strip()
        for entry in self._async_current_entries(include_ignore=False):
            if is_site_entry(entry):
                continue
            if entry.source == SOURCE_IMPORT or entry.data.get(CONF_HOST) == host:
                _async_create_yaml_issue(self.hass)
                return self.async_abort(reason="already_configured")

        station, error = await self._async_identify(host)
        if station is None:
            ir.async_create_issue(
                self.hass,
                DOMAIN,
                ISSUE_YAML_IMPORT_CANNOT_CONNECT,
                is_fixable=False,
                severity=ir.IssueSeverity.WARNING,
                breaks_in_ha_version=None,
                translation_key=ISSUE_YAML_IMPORT_CANNOT_CONNECT,
                translation_placeholders={"host": host, "port": str(STATION_PORT)},
            )
            return self.async_abort(reason=error or "unknown")

        await self.async_set_unique_id(station.serial, raise_on_progress=False)
        _async_create_yaml_issue(self.hass)
        self._abort_if_unique_id_configured()
        return self._async_create_station_entry(station, options_from_legacy_yaml(import_data))


def _is_new(station: DiscoveredStation, configured: set[str | None]) -> bool:
    """A station the search found that has no entry (an ignored one counts as new)."""
    return bool(station.serial) and station.serial not in configured


def _sort_key(station: DiscoveredStation) -> tuple[int, int | str]:
    """Order stations by IP address."""
    try:
        return (0, int(ipaddress.IPv4Address(station.host)))
    except ValueError:
        return (1, station.host)


# ------------------------------------------------------------------------------- options
def _seconds(minimum: int, maximum: int) -> NumberSelector:
    return NumberSelector(
        NumberSelectorConfig(
            min=minimum,
            max=maximum,
            step=1,
            mode=NumberSelectorMode.BOX,
            unit_of_measurement="s",
        )
    )


def options_schema(expanded: Collection[str] = ()) -> vol.Schema:
    """The station options form; the sections in ``expanded`` are open.

    Polling is always open. A section that holds an error is opened when the form is shown
    again, so that the message is not hidden behind a collapsed section.
    """
    return vol.Schema(
        {
            vol.Required(SECTION_POLLING): section(
                vol.Schema(
                    {
                        vol.Required(
                            CONF_CHARGING_INTERVAL, default=DEFAULT_CHARGING_INTERVAL
                        ): _seconds(MIN_POLL_INTERVAL, MAX_POLL_INTERVAL),
                        vol.Required(CONF_IDLE_INTERVAL, default=DEFAULT_IDLE_INTERVAL): _seconds(
                            MIN_POLL_INTERVAL, MAX_POLL_INTERVAL
                        ),
                    }
                ),
                {"collapsed": False},
            ),
            vol.Required(SECTION_RFID): section(
                vol.Schema(
                    {
                        vol.Optional(CONF_RFID_TAG): TextSelector(),
                        vol.Optional(CONF_RFID_CLASS): TextSelector(),
                    }
                ),
                {"collapsed": SECTION_RFID not in expanded},
            ),
            vol.Required(SECTION_FAILSAFE): section(
                vol.Schema(
                    {
                        vol.Required(
                            CONF_FAILSAFE_TIMEOUT, default=DEFAULT_FAILSAFE_TIMEOUT
                        ): _seconds(0, FAILSAFE_TIMEOUT_MAX),
                        vol.Required(
                            CONF_FAILSAFE_CURRENT, default=DEFAULT_FAILSAFE_CURRENT
                        ): NumberSelector(
                            NumberSelectorConfig(
                                min=0,
                                max=CURRENT_MAX_A,
                                step=1,
                                mode=NumberSelectorMode.BOX,
                                unit_of_measurement="A",
                            )
                        ),
                        vol.Required(CONF_FAILSAFE_PERSIST, default=False): BooleanSelector(),
                    }
                ),
                {"collapsed": SECTION_FAILSAFE not in expanded},
            ),
        }
    )


_SECTION_KEYS = {
    SECTION_POLLING: (CONF_CHARGING_INTERVAL, CONF_IDLE_INTERVAL),
    SECTION_RFID: (CONF_RFID_TAG, CONF_RFID_CLASS),
    SECTION_FAILSAFE: (CONF_FAILSAFE_TIMEOUT, CONF_FAILSAFE_CURRENT, CONF_FAILSAFE_PERSIST),
}


def validate_options(user_input: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Flatten the options form into entry options; returns them and the errors per section."""
    polling = user_input.get(SECTION_POLLING, {})
    rfid = user_input.get(SECTION_RFID, {})
    failsafe = user_input.get(SECTION_FAILSAFE, {})
    errors: dict[str, str] = {}
    options: dict[str, Any] = {
        CONF_CHARGING_INTERVAL: int(polling.get(CONF_CHARGING_INTERVAL, DEFAULT_CHARGING_INTERVAL)),
        CONF_IDLE_INTERVAL: int(polling.get(CONF_IDLE_INTERVAL, DEFAULT_IDLE_INTERVAL)),
    }

    tag = str(rfid.get(CONF_RFID_TAG) or "").strip().lower()
    rfid_class = str(rfid.get(CONF_RFID_CLASS) or "").strip().lower()
    if tag and not _is_hex(tag, RFID_TAG_MAX_CHARS):
        errors[SECTION_RFID] = "invalid_rfid_tag"
    elif rfid_class and not _is_hex(rfid_class, RFID_CLASS_MAX_CHARS):
        errors[SECTION_RFID] = "invalid_rfid_class"
    elif rfid_class and not tag:
        errors[SECTION_RFID] = "rfid_class_without_tag"
    if tag:
        options[CONF_RFID_TAG] = tag
    if rfid_class:
        options[CONF_RFID_CLASS] = rfid_class

    timeout = failsafe.get(CONF_FAILSAFE_TIMEOUT, DEFAULT_FAILSAFE_TIMEOUT)
    current = failsafe.get(CONF_FAILSAFE_CURRENT, DEFAULT_FAILSAFE_CURRENT)
    if timeout != int(timeout) or (timeout and timeout < FAILSAFE_TIMEOUT_MIN):
        errors[SECTION_FAILSAFE] = "invalid_failsafe_timeout"
    elif current != int(current) or (current and not CURRENT_MIN_A <= current <= CURRENT_MAX_A):
        errors[SECTION_FAILSAFE] = "invalid_failsafe_current"
    options[CONF_FAILSAFE_TIMEOUT] = int(timeout)
    options[CONF_FAILSAFE_CURRENT] = int(current)
    options[CONF_FAILSAFE_PERSIST] = bool(failsafe.get(CONF_FAILSAFE_PERSIST, False))
    return options, errors


def _sections(options: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The entry options as the sections of the form."""
    return {
        name: {key: options[key] for key in keys if key in options}
        for name, keys in _SECTION_KEYS.items()
    }


#: The station's own solar-charging options: its vehicle's currents and phases. Everything
#: about the grid connection belongs to the charging site (:mod:`.site_flow`).
_SOLAR_KEYS = (CONF_SOLAR_MIN_CURRENT, CONF_SOLAR_MAX_CURRENT, CONF_SOLAR_PHASES)


SOLAR_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_SOLAR_MIN_CURRENT, default=CURRENT_MIN_A): number_selector(
            CURRENT_MIN_A, CURRENT_MAX_A, 1, "A"
        ),
        # Empty: the station's hardware limit (Curr HW), for Fast and for surplus alike.
        vol.Optional(CONF_SOLAR_MAX_CURRENT): number_selector(CURRENT_MIN_A, CURRENT_MAX_A, 1, "A"),
        vol.Required(CONF_SOLAR_PHASES, default=PHASES_AUTO): SelectSelector(
            SelectSelectorConfig(
                options=[PHASES_AUTO, "1", "3"],
                translation_key=CONF_SOLAR_PHASES,
                mode=SelectSelectorMode.LIST,
            )
        ),
    }
)


def validate_solar_options(user_input: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Check the station's solar-charging form; returns the options and the errors per field."""
    errors: dict[str, str] = {}
    options: dict[str, Any] = {key: user_input[key] for key in _SOLAR_KEYS if key in user_input}
    for key in (CONF_SOLAR_MIN_CURRENT, CONF_SOLAR_MAX_CURRENT):
        if key in options:
            options[key] = float(options[key])
    low = options.get(CONF_SOLAR_MIN_CURRENT, CURRENT_MIN_A)
    high = options.get(CONF_SOLAR_MAX_CURRENT)
    if high is not None and high < low:
        errors[CONF_SOLAR_MAX_CURRENT] = "max_below_min_current"
    return options, errors


PHASES_SCHEMA = vol.Schema(
    {
        vol.Required(CONF_PHASE_SWITCHING, default=False): BooleanSelector(),
        vol.Required(CONF_PHASE_DWELL, default=DEFAULT_PHASE_DWELL): _seconds(60, 3600),
        vol.Required(CONF_PHASE_MAX_SWITCHES, default=DEFAULT_PHASE_MAX_SWITCHES): number_selector(
            1, 20, 1, ""
        ),
    }
)


def _phase_switching_offered(entry: ConfigEntry) -> bool:
    """The entry is loaded and its station reports the X2 phase switch (firmware, fields)."""
    runtime = getattr(entry, "runtime_data", None)
    if entry.state is not ConfigEntryState.LOADED or runtime is None:
        return False
    return phase_switching_supported(runtime.coordinator.station)


class KebaOptionsFlow(OptionsFlowWithReload):
    """Station settings (polling, RFID, failsafe) and solar charging; saving reloads the entry."""

    async def async_step_init(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Choose what to change (phase switching only where the station supports it)."""
        menu = ["station", "solar", "sessions"]
        if _phase_switching_offered(self.config_entry):
            menu.append("phases")
        return self.async_show_menu(step_id="init", menu_options=menu)

    async def async_step_phases(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Home Assistant switches between one and three phases through X2."""
        errors: dict[str, str] = {}
        if not _phase_switching_offered(self.config_entry):
            return self.async_abort(reason="phase_switching_unsupported")
        if user_input is not None:
            options = {
                CONF_PHASE_SWITCHING: bool(user_input.get(CONF_PHASE_SWITCHING, False)),
                CONF_PHASE_DWELL: int(user_input.get(CONF_PHASE_DWELL, DEFAULT_PHASE_DWELL)),
                CONF_PHASE_MAX_SWITCHES: int(
                    user_input.get(CONF_PHASE_MAX_SWITCHES, DEFAULT_PHASE_MAX_SWITCHES)
                ),
            }
            turned_on = options[CONF_PHASE_SWITCHING] and not self.config_entry.options.get(
                CONF_PHASE_SWITCHING
            )
            if turned_on:
                # The user's explicit step: make UDP the phase-switch source if report 2 shows
                # another one (a stored setting, so only here and only once).
                station = self.config_entry.runtime_data.coordinator.station
                try:
                    await send_phase_source_udp(station)
                except KebaError as err:
                    LOGGER.warning("Setting the phase-switch source failed: %s", err)
                    errors["base"] = "phase_source_failed"
            if not errors:
                return self.async_create_entry(data={**self.config_entry.options, **options})
        current = {
            key: self.config_entry.options[key]
            for key in (CONF_PHASE_SWITCHING, CONF_PHASE_DWELL, CONF_PHASE_MAX_SWITCHES)
            if key in self.config_entry.options
        }
        return self.async_show_form(
            step_id="phases",
            data_schema=self.add_suggested_values_to_schema(PHASES_SCHEMA, user_input or current),
            errors=errors,
        )

    async def async_step_station(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Polling intervals, default RFID tag and class, failsafe."""
        errors: dict[str, str] = {}
        if user_input is not None:
            options, errors = validate_options(user_input)
            if not errors:
                # This step's keys are replaced as a whole (an emptied RFID tag is removed);
                # the solar-charging options stay as they are.
                station_keys = {key for keys in _SECTION_KEYS.values() for key in keys}
                kept = {k: v for k, v in self.config_entry.options.items() if k not in station_keys}
                return self.async_create_entry(data={**kept, **options})
        return self.async_show_form(
            step_id="station",
            data_schema=self.add_suggested_values_to_schema(
                options_schema(errors),
                user_input or _sections(dict(self.config_entry.options)),
            ),
            errors=errors,
        )

    async def async_step_solar(self, user_input: dict[str, Any] | None = None) -> ConfigFlowResult:
        """Solar-surplus charging: the site's sensors and how this station is regulated."""
        errors: dict[str, str] = {}
        if user_input is not None:
            options, errors = validate_solar_options(user_input)
            if not errors:
                kept = {k: v for k, v in self.config_entry.options.items() if k not in _SOLAR_KEYS}
                return self.async_create_entry(data={**kept, **options})
        current = {k: v for k, v in self.config_entry.options.items() if k in _SOLAR_KEYS}
        if CONF_SOLAR_PHASES in current:
            current[CONF_SOLAR_PHASES] = str(current[CONF_SOLAR_PHASES])
        return self.async_show_form(
            step_id="solar",
            data_schema=self.add_suggested_values_to_schema(SOLAR_SCHEMA, user_input or current),
            errors=errors,
        )

    async def async_step_sessions(
        self, user_input: dict[str, Any] | None = None
    ) -> ConfigFlowResult:
        """Session ledger: the price, the price of own solar energy, card names."""
        errors: dict[str, str] = {}
        if user_input is not None:
            options, errors = validate_session_options(user_input)
            if not errors:
                kept = {
                    k: v for k, v in self.config_entry.options.items() if k not in _SESSION_KEYS
                }
                return self.async_create_entry(data={**kept, **options})
        current = {k: v for k, v in self.config_entry.options.items() if k in _SESSION_KEYS}
        cards = current.get(CONF_CARDS)
        if isinstance(cards, dict):
            current[CONF_CARDS] = "\n".join(f"{tag} = {name}" for tag, name in cards.items())
        current.setdefault(CONF_DEFAULT_CARD_NAME, DEFAULT_CARD_NAME)
        return self.async_show_form(
            step_id="sessions",
            data_schema=self.add_suggested_values_to_schema(SESSIONS_SCHEMA, user_input or current),
            errors=errors,
            description_placeholders={"tags": self._unnamed_tags()},
        )

    def _unnamed_tags(self) -> str:
        """Tags in the ledger without a name yet, to copy into the card list."""
        runtime = getattr(self.config_entry, "runtime_data", None)
        ledger = getattr(runtime, "ledger", None)
        if ledger is None:
            return "–"
        named = ledger.cards.names
        tags = [tag for tag in seen_tags(ledger.ledger.records) if tag not in named]
        return ", ".join(tags[:10]) or "–"


_SESSION_KEYS = (CONF_PRICE_ENTITY, CONF_SOLAR_ENERGY_PRICE, CONF_CARDS, CONF_DEFAULT_CARD_NAME)

SESSIONS_SCHEMA = vol.Schema(
    {
        vol.Optional(CONF_PRICE_ENTITY): EntitySelector(
            EntitySelectorConfig(domain=["sensor", "input_number", "number"])
        ),
        vol.Optional(CONF_SOLAR_ENERGY_PRICE): NumberSelector(
            NumberSelectorConfig(min=0, max=100, step="any", mode=NumberSelectorMode.BOX)
        ),
        vol.Optional(CONF_CARDS): TextSelector(TextSelectorConfig(multiline=True)),
        vol.Optional(CONF_DEFAULT_CARD_NAME): TextSelector(),
    }
)


def validate_session_options(user_input: dict[str, Any]) -> tuple[dict[str, Any], dict[str, str]]:
    """Check the session-ledger form; card lines become a tag → name mapping."""
    errors: dict[str, str] = {}
    options: dict[str, Any] = {}
    if user_input.get(CONF_PRICE_ENTITY):
        options[CONF_PRICE_ENTITY] = user_input[CONF_PRICE_ENTITY]
    solar = user_input.get(CONF_SOLAR_ENERGY_PRICE)
    if solar is not None and solar != "":
        options[CONF_SOLAR_ENERGY_PRICE] = float(solar)
    pairs, bad = parse_card_lines(str(user_input.get(CONF_CARDS) or ""))
    if bad:
        errors[CONF_CARDS] = "invalid_cards"
    if pairs:
        options[CONF_CARDS] = dict(pairs)
    default = str(user_input.get(CONF_DEFAULT_CARD_NAME) or "").strip()
    options[CONF_DEFAULT_CARD_NAME] = default or DEFAULT_CARD_NAME
    return options, errors
