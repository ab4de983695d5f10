"""Actions of the KEBA KeContact integration.

Every action targets stations: KEBA devices, or entities of KEBA devices (areas and labels work
too; they select the KEBA stations among their devices). Each targeted station is handled with
its own config entry, so defaults such as the RFID tag always come from that station's options.
All input is checked before anything is sent, for every targeted station; then the commands go
out to the stations side by side.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from dataclasses import dataclass
import re
from typing import Any, Final, cast

import voluptuous as vol

from homeassistant.config_entries import ConfigEntryState
from homeassistant.core import (
    HomeAssistant,
    ServiceCall,
    ServiceResponse,
    SupportsResponse,
    callback,
)
from homeassistant.exceptions import ServiceValidationError
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.target import TargetSelection, async_extract_referenced_entity_ids

from .const import (
    CONF_RFID_CLASS,
    CONF_RFID_TAG,
    CURRENT_MAX_A,
    CURRENT_MIN_A,
    DOMAIN,
    FAILSAFE_TIMEOUT_MAX,
    FAILSAFE_TIMEOUT_MIN,
    LOGGER,
)
from .coordinator import ENERGY_LIMIT_STEPS_PER_KWH, KebaConfigEntry
from .errors import command_errors
from .kecontact import ChargingSession
from .kecontact.const import (
    CURRTIME_DELAY_MAX,
    DISPLAY_MAX_CHARS,
    ENERGY_LIMIT_MAX,
    OUTPUT_PULSES_MAX,
    OUTPUT_PULSES_MIN,
    REPORT_SESSION_LAST_HISTORY,
    REPORT_SESSION_LATEST,
    RFID_CLASS_HEX_CHARS,
    RFID_TAG_HEX_CHARS,
)

SERVICE_DISPLAY: Final = "display"
SERVICE_START: Final = "start"
SERVICE_STOP: Final = "stop"
SERVICE_SET_ENERGY: Final = "set_energy"
SERVICE_SET_CURRENT: Final = "set_current"
SERVICE_SET_FAILSAFE: Final = "set_failsafe"
SERVICE_UNLOCK_SOCKET: Final = "unlock_socket"
SERVICE_SET_OUTPUT: Final = "set_output"
SERVICE_GET_SESSION_HISTORY: Final = "get_session_history"

ATTR_TEXT: Final = "text"
ATTR_MIN_TIME: Final = "min_time"
ATTR_MAX_TIME: Final = "max_time"
ATTR_TAG: Final = "tag"
ATTR_CLASS: Final = "class"
ATTR_ENERGY: Final = "energy"
ATTR_CURRENT: Final = "current"
ATTR_DELAY: Final = "delay"
ATTR_TIMEOUT: Final = "timeout"
ATTR_PERSIST: Final = "persist"
ATTR_VALUE: Final = "value"

#: The display times are 16-bit numbers of seconds.
DISPLAY_TIME_MAX: Final = 65535
#: The station's own display times when none are given (guide §3.2.12).
DISPLAY_DEFAULT_MIN_TIME: Final = 2
DISPLAY_DEFAULT_MAX_TIME: Final = 10
#: RFID tag (8 bytes) and class (10 bytes) in hexadecimal digits.
RFID_TAG_MAX_DIGITS: Final = RFID_TAG_HEX_CHARS
RFID_CLASS_MAX_DIGITS: Final = RFID_CLASS_HEX_CHARS
#: ``setenergy`` takes 0.1 Wh up to 99 999 999, that is 9 999.9999 kWh.
ENERGY_MAX_KWH: Final = ENERGY_LIMIT_MAX / 10000
#: ``currtime`` delay in seconds; 0 would only cancel a pending timer.
DELAY_MIN: Final = 1
DELAY_MAX: Final = CURRTIME_DELAY_MAX
#: ``get_session_history`` returns this many ended sessions at most (reports 101…130).
HISTORY_LENGTH: Final = REPORT_SESSION_LAST_HISTORY - REPORT_SESSION_LATEST

_HEX = re.compile(r"[0-9a-fA-F]+")


def _whole_number(value: Any) -> int:
    """Accept 7, 7.0 or "7" but not 7.5: seconds and output values are whole numbers."""
    if isinstance(value, bool):
        raise vol.Invalid("expected a number")
    number = vol.Coerce(float)(value)
    if not float(number).is_integer():
        raise vol.Invalid("expected a whole number")
    return int(number)


_NUMBER = vol.Coerce(float)


def _action_schema(fields: dict[Any, Any] | None = None) -> Any:
    """The schema of an action: the target (devices, entities, areas…) plus ``fields``.

    Typed ``Any``: under Home Assistant 2026.10 ``voluptuous`` is an alias of its validation
    engine, which the type checker cannot know.
    """
    return vol.Schema({**cv.TARGET_SERVICE_FIELDS, **(fields or {})})


SCHEMA_DISPLAY: Final = _action_schema(
    {
        vol.Required(ATTR_TEXT): cv.string,
        vol.Optional(ATTR_MIN_TIME): _whole_number,
        vol.Optional(ATTR_MAX_TIME): _whole_number,
    }
)
SCHEMA_START: Final = _action_schema(
    {vol.Optional(ATTR_TAG): cv.string, vol.Optional(ATTR_CLASS): cv.string}
)
SCHEMA_STOP: Final = _action_schema({vol.Optional(ATTR_TAG): cv.string})
SCHEMA_SET_ENERGY: Final = _action_schema({vol.Required(ATTR_ENERGY): _NUMBER})
SCHEMA_SET_CURRENT: Final = _action_schema(
    {
        vol.Required(ATTR_CURRENT): _NUMBER,
        vol.Optional(ATTR_DELAY, default=DELAY_MIN): _whole_number,
    }
)
SCHEMA_SET_FAILSAFE: Final = _action_schema(
    {
        vol.Required(ATTR_TIMEOUT): _whole_number,
        vol.Optional(ATTR_CURRENT, default=0): _NUMBER,
        vol.Optional(ATTR_PERSIST, default=False): cv.boolean,
    }
)
SCHEMA_TARGET_ONLY: Final = _action_schema()
SCHEMA_SET_OUTPUT: Final = _action_schema({vol.Required(ATTR_VALUE): _whole_number})


# ------------------------------------------------------------------------------ targets
@dataclass(frozen=True, slots=True)
class _Target:
    """One targeted station: its loaded entry, and the device id that names it in responses."""

    entry: KebaConfigEntry
    device_id: str


def _invalid(key: str, **placeholders: object) -> ServiceValidationError:
    """A translated error about the action's input."""
    return ServiceValidationError(
        translation_domain=DOMAIN,
        translation_key=key,
        translation_placeholders={name: str(value) for name, value in placeholders.items()},
    )


@callback
def async_resolve_targets(call: ServiceCall) -> list[_Target]:
    """Find the loaded KEBA stations an action targets, each once.

    Devices and entities named explicitly must belong to this integration; areas, floors and
    labels contribute the KEBA stations among their devices and entities.
    """
    hass = call.hass
    selection = TargetSelection(call.data)
    if not selection.has_any_target:
        raise _invalid("no_target")
    selected = async_extract_referenced_entity_ids(hass, selection)
    dev_reg = dr.async_get(hass)
    ent_reg = er.async_get(hass)
    found: dict[str, _Target] = {}

    def add(config_entry_id: str | None, device_id: str | None, reference: str | None) -> None:
        entry = hass.config_entries.async_get_entry(config_entry_id) if config_entry_id else None
        if entry is None or entry.domain != DOMAIN:
            if reference is not None:
                raise _invalid("target_not_keba", target=reference)
            return
        if entry.entry_id not in found:
            found[entry.entry_id] = _Target(
                cast(KebaConfigEntry, entry), device_id or entry.entry_id
            )

    for device_id in sorted(selected.referenced_devices):
        device = dev_reg.async_get(device_id, include_composite_devices=False)
        reference = device_id if device_id in selection.device_ids else None
        add(device.config_entry_id if device else None, device_id, reference)
    for entity_id in sorted(selected.referenced | selected.indirectly_referenced):
        entity = ent_reg.async_get(entity_id)
        reference = entity_id if entity_id in selected.referenced else None
        if entity is None or entity.platform != DOMAIN:
            add(None, None, reference)
            continue
        add(entity.config_entry_id, entity.device_id, reference)

    if not found:
        raise _invalid("no_station_targeted")
    targets = list(found.values())
    for target in targets:
        if target.entry.state is not ConfigEntryState.LOADED:
            raise _invalid("station_not_loaded", station=target.entry.title)
    return targets


# ----------------------------------------------------------------------------- checks
def _station(entry: KebaConfigEntry) -> str:
    return entry.title


def _check_range(key: str, value: float, low: float, high: float, *, zero: bool = False) -> None:
    """Raise ``key`` unless ``low`` ≤ ``value`` ≤ ``high`` (or 0 where ``zero`` allows it)."""
    if zero and value == 0:
        return
    if not low <= value <= high:
        raise _invalid(
            key, value=_number_text(value), min=_number_text(low), max=_number_text(high)
        )


def _number_text(value: float) -> str:
    """7.5 as "7.5", 6.0 as "6", 9999.9999 as itself."""
    return format(value, ".10g")


def _check_hex(key: str, value: str, max_digits: int) -> str:
    text = value.strip()
    if not text or len(text) > max_digits or not _HEX.fullmatch(text):
        raise _invalid(key, value=value, max=max_digits)
    return text.lower()


def _require(entry: KebaConfigEntry, supported: bool, key: str) -> None:
    if not supported:
        caps = entry.runtime_data.coordinator.capabilities
        raise _invalid(key, station=_station(entry), model=caps.model_name)


def _has_rfid(entry: KebaConfigEntry) -> bool:
    """The station authorizes sessions: an RFID reader, or authorization switched on."""
    coordinator = entry.runtime_data.coordinator
    status = coordinator.station.snapshot.status
    return coordinator.capabilities.rfid or bool(status and status.auth_on)


# ---------------------------------------------------------------------------- running
type _Command = Callable[[], Awaitable[None]]
type _Prepare = Callable[[KebaConfigEntry], _Command]


async def _async_run(call: ServiceCall, prepare: _Prepare) -> None:
    """Check every target with ``prepare``, then send the commands to all of them at once.

    A station that fails does not stop the others; the first failure is raised afterwards (the
    others are logged).
    """
    targets = async_resolve_targets(call)
    commands = [(target.entry, prepare(target.entry)) for target in targets]

    async def run(entry: KebaConfigEntry, command: _Command) -> None:
        with command_errors(entry.runtime_data.station.host):
            await command()

    results = await asyncio.gather(
        *(run(entry, command) for entry, command in commands), return_exceptions=True
    )
    errors = [result for result in results if isinstance(result, BaseException)]
    for error in errors[1:]:
        LOGGER.error("%s.%s failed as well: %s", DOMAIN, call.service, error)
    if errors:
        raise errors[0]


# ----------------------------------------------------------------------------- actions
async def _async_display(call: ServiceCall) -> None:
    """Show a text on the display of each targeted station."""
    text: str = call.data[ATTR_TEXT]
    if not text:
        raise _invalid("display_text_empty")
    if len(text) > DISPLAY_MAX_CHARS:
        raise _invalid("display_text_too_long", length=len(text), max=DISPLAY_MAX_CHARS)
    if any(not " " <= char <= "~" for char in text):
        raise _invalid("display_text_not_ascii")
    min_time: int | None = call.data.get(ATTR_MIN_TIME)
    max_time: int | None = call.data.get(ATTR_MAX_TIME)
    for value in (min_time, max_time):
        if value is not None:
            _check_range("display_time_out_of_range", value, 0, DISPLAY_TIME_MAX)
    if min_time is not None and max_time is None:
        max_time = max(min_time, DISPLAY_DEFAULT_MAX_TIME)
    elif max_time is not None and min_time is None:
        min_time = min(max_time, DISPLAY_DEFAULT_MIN_TIME)
    elif min_time is not None and max_time is not None and min_time > max_time:
        raise _invalid("display_min_above_max", min_time=min_time, max_time=max_time)

    def prepare(entry: KebaConfigEntry) -> _Command:
        # None: an x-series whose display is learned from its first answer.
        display = entry.runtime_data.coordinator.capabilities.display is not False
        _require(entry, display, "no_display")
        return lambda: entry.runtime_data.station.display(text, min_time, max_time)

    await _async_run(call, prepare)


async def _async_start(call: ServiceCall) -> None:
    """Authorize a session as if the RFID card were held to the reader."""
    given_tag: str | None = call.data.get(ATTR_TAG)
    given_class: str | None = call.data.get(ATTR_CLASS)
    if given_tag is not None:
        _check_hex("invalid_rfid_tag", given_tag, RFID_TAG_MAX_DIGITS)
    if given_class:
        _check_hex("invalid_rfid_class", given_class, RFID_CLASS_MAX_DIGITS)

    def prepare(entry: KebaConfigEntry) -> _Command:
        options = entry.options
        raw_tag: str | None
        raw_class: str | None
        if given_tag is not None:
            raw_tag, raw_class = given_tag, given_class
        else:
            # The class from the options belongs to the tag from the options.
            raw_tag = options.get(CONF_RFID_TAG) or None
            raw_class = given_class or options.get(CONF_RFID_CLASS) or None
        if not raw_tag:
            raise _invalid("rfid_tag_missing", station=_station(entry))
        tag = _check_hex("invalid_rfid_tag", raw_tag, RFID_TAG_MAX_DIGITS)
        rfid_class = (
            _check_hex("invalid_rfid_class", raw_class, RFID_CLASS_MAX_DIGITS)
            if raw_class
            else None
        )
        _require(entry, _has_rfid(entry), "no_rfid")
        runtime = entry.runtime_data

        async def command() -> None:
            await runtime.station.start_session(tag, rfid_class)
            await runtime.coordinator.async_request_refresh()

        return command

    await _async_run(call, prepare)


async def _async_stop(call: ServiceCall) -> None:
    """End the session that was started with an RFID tag."""
    given_tag: str | None = call.data.get(ATTR_TAG)
    if given_tag is not None:
        _check_hex("invalid_rfid_tag", given_tag, RFID_TAG_MAX_DIGITS)

    def prepare(entry: KebaConfigEntry) -> _Command:
        option_tag: str | None = entry.options.get(CONF_RFID_TAG) or None
        given = given_tag if given_tag is not None else option_tag
        if not given:
            raise _invalid("rfid_tag_missing", station=_station(entry))
        tag = _check_hex("invalid_rfid_tag", given, RFID_TAG_MAX_DIGITS)
        _require(entry, _has_rfid(entry), "no_rfid")
        runtime = entry.runtime_data

        async def command() -> None:
            await runtime.station.stop_session(tag)
            await runtime.coordinator.async_request_refresh()

        return command

    await _async_run(call, prepare)


async def _async_set_energy(call: ServiceCall) -> None:
    """Stop the session once it has delivered the given energy."""
    energy: float = call.data[ATTR_ENERGY]
    _check_range("energy_out_of_range", energy, 0, ENERGY_MAX_KWH)
    if energy > 0 and round(energy * ENERGY_LIMIT_STEPS_PER_KWH) == 0:
        # ``setenergy 0`` would remove the limit instead.
        raise _invalid("energy_rounds_to_zero", value=_number_text(energy))

    def prepare(entry: KebaConfigEntry) -> _Command:
        _require(entry, entry.runtime_data.coordinator.capabilities.meter, "no_meter")
        return lambda: entry.runtime_data.coordinator.async_set_energy_limit(energy)

    await _async_run(call, prepare)


async def _async_set_current(call: ServiceCall) -> None:
    """Offer a charging current until the vehicle is unplugged (``currtime``)."""
    current: float = call.data[ATTR_CURRENT]
    delay: int = call.data[ATTR_DELAY]
    _check_range("current_out_of_range", current, CURRENT_MIN_A, CURRENT_MAX_A)
    _check_range("delay_out_of_range", delay, DELAY_MIN, DELAY_MAX)

    def prepare(entry: KebaConfigEntry) -> _Command:
        coordinator = entry.runtime_data.coordinator
        if coordinator.solar is not None:
            # A charging mode other than "off" is in charge of the current.
            coordinator.solar.ensure_user_may_set_current()
        return lambda: coordinator.async_set_current(current, delay)

    await _async_run(call, prepare)


async def _async_set_failsafe(call: ServiceCall) -> None:
    """Set the fallback current the station applies when it hears nothing for a while."""
    timeout: int = call.data[ATTR_TIMEOUT]
    current: float = call.data[ATTR_CURRENT]
    persist: bool = call.data[ATTR_PERSIST]
    _check_range(
        "failsafe_timeout_out_of_range",
        timeout,
        FAILSAFE_TIMEOUT_MIN,
        FAILSAFE_TIMEOUT_MAX,
        zero=True,
    )
    _check_range("failsafe_current_out_of_range", current, CURRENT_MIN_A, CURRENT_MAX_A, zero=True)

    def prepare(entry: KebaConfigEntry) -> _Command:
        return lambda: entry.runtime_data.station.set_failsafe(timeout, current, persist=persist)

    await _async_run(call, prepare)


async def _async_unlock_socket(call: ServiceCall) -> None:
    """Release the charging cable from the station's socket."""

    def prepare(entry: KebaConfigEntry) -> _Command:
        socket = entry.runtime_data.coordinator.capabilities.socket
        _require(entry, socket is not False, "no_socket")
        runtime = entry.runtime_data

        async def command() -> None:
            await runtime.station.unlock_socket()
            await runtime.coordinator.async_request_refresh()

        return command

    await _async_run(call, prepare)


async def _async_set_output(call: ServiceCall) -> None:
    """Switch relay output X2, or make it a pulse output of the meter."""
    value: int = call.data[ATTR_VALUE]
    if value not in (0, 1) and not OUTPUT_PULSES_MIN <= value <= OUTPUT_PULSES_MAX:
        raise _invalid(
            "output_out_of_range", value=value, min=OUTPUT_PULSES_MIN, max=OUTPUT_PULSES_MAX
        )

    def prepare(entry: KebaConfigEntry) -> _Command:
        _require(entry, entry.runtime_data.coordinator.capabilities.output_x2, "no_output")
        return lambda: entry.runtime_data.station.set_output(value)

    await _async_run(call, prepare)


def session_as_dict(session: ChargingSession) -> dict[str, Any]:
    """An ended session as plain data for an action's response."""
    return {
        "session_id": session.session_id,
        "started": session.started.isoformat() if session.started else None,
        "ended": session.ended.isoformat() if session.ended else None,
        "energy_kwh": session.energy_kwh,
        "duration_s": session.duration_s,
        "end_reason": session.end_reason.name.lower() if session.end_reason is not None else None,
        "end_reason_code": session.end_reason_raw,
        "rfid_tag": session.rfid_tag_used,
    }


async def _async_get_session_history(call: ServiceCall) -> ServiceResponse:
    """Return the last 30 ended sessions of the targeted stations.

    One station: ``{"sessions": [...]}``, newest first. Several stations: ``{"stations":
    {<device id>: {"sessions": [...]}}}``.
    """
    targets = async_resolve_targets(call)
    for target in targets:
        entry = target.entry
        _require(
            entry,
            entry.runtime_data.coordinator.capabilities.session_history,
            "no_session_history",
        )

    async def history(entry: KebaConfigEntry) -> dict[str, Any]:
        with command_errors(entry.runtime_data.station.host):
            sessions = await entry.runtime_data.station.get_history(HISTORY_LENGTH)
        return {"sessions": [session_as_dict(session) for session in sessions]}

    results = await asyncio.gather(*(history(target.entry) for target in targets))
    if len(targets) == 1:
        return results[0]
    return {
        "stations": {
            target.device_id: result for target, result in zip(targets, results, strict=True)
        }
    }


@callback
def async_setup_services(hass: HomeAssistant) -> None:
    """Register the integration's actions (once, for every station)."""
    actions: list[tuple[str, Callable[[ServiceCall], Coroutine[Any, Any, None]], Any]] = [
        (SERVICE_DISPLAY, _async_display, SCHEMA_DISPLAY),
        (SERVICE_START, _async_start, SCHEMA_START),
        (SERVICE_STOP, _async_stop, SCHEMA_STOP),
        (SERVICE_SET_ENERGY, _async_set_energy, SCHEMA_SET_ENERGY),
        (SERVICE_SET_CURRENT, _async_set_current, SCHEMA_SET_CURRENT),
        (SERVICE_SET_FAILSAFE, _async_set_failsafe, SCHEMA_SET_FAILSAFE),
        (SERVICE_UNLOCK_SOCKET, _async_unlock_socket, SCHEMA_TARGET_ONLY),
        (SERVICE_SET_OUTPUT, _async_set_output, SCHEMA_SET_OUTPUT),
    ]
    for name, handler, schema in actions:
        hass.services.async_register(DOMAIN, name, handler, schema=schema)
    hass.services.async_register(
        DOMAIN,
        SERVICE_GET_SESSION_HISTORY,
        _async_get_session_history,
        schema=SCHEMA_TARGET_ONLY,
        supports_response=SupportsResponse.ONLY,
    )
