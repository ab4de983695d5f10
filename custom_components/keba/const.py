"""Constants of the KEBA KeContact integration."""

from __future__ import annotations

from datetime import timedelta
import logging
from typing import Final

from .kecontact.const import RFID_CLASS_HEX_CHARS, RFID_TAG_HEX_CHARS

DOMAIN: Final = "keba"
LOGGER = logging.getLogger(__package__)
MANUFACTURER: Final = "KEBA"

# YAML (configuration.yaml, optional): where the shared UDP socket binds and where discovery
# sends ``i``. Defaults: all interfaces, and every IPv4 broadcast address Home Assistant knows.
CONF_BIND_ADDRESS: Final = "bind_address"
CONF_DISCOVERY_ADDRESSES: Final = "discovery_addresses"
CONF_DISCOVERY_INTERVAL: Final = "discovery_interval"
# Legacy YAML of the old core integration (imported once into a config entry).
CONF_RFID: Final = "rfid"
CONF_FAILSAFE: Final = "failsafe"
CONF_FS_TIMEOUT: Final = "fs_timeout"
CONF_FS_FALLBACK: Final = "fs_fallback"
CONF_FS_PERSIST: Final = "fs_persist"
CONF_REFRESH_INTERVAL: Final = "refresh_interval"

# Entry data
CONF_SERIAL: Final = "serial"
CONF_PRODUCT: Final = "product"

# Options
CONF_CHARGING_INTERVAL: Final = "charging_interval"
CONF_IDLE_INTERVAL: Final = "idle_interval"
CONF_RFID_TAG: Final = "rfid_tag"
CONF_RFID_CLASS: Final = "rfid_class"
CONF_FAILSAFE_TIMEOUT: Final = "failsafe_timeout"
CONF_FAILSAFE_CURRENT: Final = "failsafe_current"
CONF_FAILSAFE_PERSIST: Final = "failsafe_persist"

DEFAULT_CHARGING_INTERVAL: Final = 5
DEFAULT_IDLE_INTERVAL: Final = 30
#: KEBA's t_COM_pause: no report may be repeated sooner.
MIN_POLL_INTERVAL: Final = 5
MAX_POLL_INTERVAL: Final = 3600
DEFAULT_DISCOVERY_INTERVAL: Final = timedelta(minutes=10)
#: Report 1 (identity, firmware, clock quality) is re-read this often.
INFO_REFRESH_INTERVAL: Final = timedelta(hours=1)
#: Entities turn unavailable after this many polls in a row have failed.
FAILED_POLLS_BEFORE_UNAVAILABLE: Final = 3

FAILSAFE_TIMEOUT_MIN: Final = 10
FAILSAFE_TIMEOUT_MAX: Final = 600
CURRENT_MIN_A: Final = 6
CURRENT_MAX_A: Final = 63

#: Event types of the charging session event entity.
EVENT_SESSION_STARTED: Final = "started"
EVENT_SESSION_ENDED: Final = "ended"

#: Repair issue ids
ISSUE_PORT_IN_USE: Final = "port_in_use"
#: Repair issue per entry (suffix ``_<entry_id>``): the station answers report 1 only.
ISSUE_UDP_CONTROL_OFF: Final = "udp_control_off"
#: Repair issue per entry: a current or energy limit could not be set again after a restart.
ISSUE_REAPPLY_FAILED: Final = "reapply_failed"
ISSUE_YAML_DEPRECATED: Final = "deprecated_yaml"
ISSUE_YAML_IMPORT_CANNOT_CONNECT: Final = "deprecated_yaml_import_issue_cannot_connect"

# Config flow
#: Value of the station list's "enter an address manually" choice.
MANUAL_ENTRY: Final = "manual"
DEFAULT_FAILSAFE_TIMEOUT: Final = 0
DEFAULT_FAILSAFE_CURRENT: Final = 0
#: RFID tag (8 bytes) and class (10 bytes) as hexadecimal text.
RFID_TAG_MAX_CHARS: Final = RFID_TAG_HEX_CHARS
RFID_CLASS_MAX_CHARS: Final = RFID_CLASS_HEX_CHARS
#: What the old core integration used when its YAML left the failsafe values out.
LEGACY_FS_TIMEOUT: Final = 30
LEGACY_FS_FALLBACK: Final = 6
#: Upper bound of a station check (a silent address is known after about 3 s; a station that
#: answers but lost requests is asked again, t_COM_pause apart).
IDENTIFY_TIMEOUT: Final = 50

# Solar-surplus charging (options)
CONF_GRID_SENSOR: Final = "grid_power_sensor"
CONF_GRID_IMPORT_POSITIVE: Final = "grid_import_positive"
CONF_BATTERY_POWER_SENSOR: Final = "battery_power_sensor"
CONF_BATTERY_CHARGE_POSITIVE: Final = "battery_charge_positive"
CONF_BATTERY_SOC_SENSOR: Final = "battery_soc_sensor"
CONF_BATTERY_MIN_SOC: Final = "battery_min_soc"
CONF_SOLAR_MIN_CURRENT: Final = "solar_min_current"
CONF_SOLAR_MAX_CURRENT: Final = "solar_max_current"
CONF_SOLAR_PHASES: Final = "solar_phases"
CONF_START_DELAY: Final = "start_delay"
CONF_STOP_DELAY: Final = "stop_delay"
CONF_ALLOWED_IMPORT: Final = "allowed_grid_import"
CONF_CONTROL_INTERVAL: Final = "control_interval"
CONF_PRIORITY: Final = "priority"
PHASES_AUTO: Final = "auto"
DEFAULT_START_DELAY: Final = 60
DEFAULT_STOP_DELAY: Final = 300
DEFAULT_ALLOWED_IMPORT: Final = 0
DEFAULT_BATTERY_MIN_SOC: Final = 80
#: A current change takes effect 6–7 s after the command (IEC 61851-1): deciding more often
#: than this would judge a change before it happened.
MIN_CONTROL_INTERVAL: Final = 10
DEFAULT_CONTROL_INTERVAL: Final = 10
MAX_CONTROL_INTERVAL: Final = 300

# Session ledger (options step "sessions"): price, own solar energy, card names.
CONF_PRICE_ENTITY: Final = "price_entity"
CONF_SOLAR_ENERGY_PRICE: Final = "solar_energy_price"
CONF_CARDS: Final = "cards"
CONF_DEFAULT_CARD_NAME: Final = "default_card_name"
DEFAULT_CARD_NAME: Final = "Other"
ISSUE_LEDGER_GAP: Final = "ledger_gap"
#: Sub-folder of Home Assistant's configuration folder that ``export_sessions`` writes into.
EXPORT_FOLDER: Final = "keba_sessions"
# Charging site (a config entry of its own: one per grid connection)
#: Entry data: which kind of entry this is; absent on a station's entry.
CONF_ENTRY_KIND: Final = "kind"
ENTRY_KIND_SITE: Final = "site"
#: Site options: the member stations (their serial numbers), in priority order.
CONF_SITE_STATIONS: Final = "stations"
#: Site option: stations share the surplus equally instead of by their order.
CONF_SHARE_EQUALLY: Final = "share_equally"
CONF_PV_POWER_SENSOR: Final = "pv_power_sensor"
CONF_PV_FORECAST: Final = "pv_forecast"
CONF_BATTERY_PRIORITY_SOC: Final = "battery_priority_soc"
CONF_BATTERY_BUFFER_SOC: Final = "battery_buffer_soc"
CONF_BATTERY_BUFFER_START_SOC: Final = "battery_buffer_start_soc"
CONF_BATTERY_MAX_DISCHARGE: Final = "battery_max_discharge"
#: Prefix of a site entry's unique id (followed by the grid sensor's entity id).
SITE_UNIQUE_ID_PREFIX: Final = "site:"
#: Repair issue: stations of one grid sensor had different site settings before the upgrade.
ISSUE_SITE_SETTINGS_MERGED: Final = "site_settings_merged"
# 1/3-phase switching through X2 (options step "phases")
CONF_PHASE_SWITCHING: Final = "phase_switching"
CONF_PHASE_DWELL: Final = "phase_switch_dwell"
CONF_PHASE_MAX_SWITCHES: Final = "phase_switch_max"
DEFAULT_PHASE_DWELL: Final = 300
DEFAULT_PHASE_MAX_SWITCHES: Final = 20
