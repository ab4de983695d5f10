"""Constants of the KEBA KeContact integration."""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Final

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
ISSUE_YAML_DEPRECATED: Final = "deprecated_yaml"
