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
from datetime import date, datetime, timedelta
from pathlib import Path
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
from homeassistant.exceptions import HomeAssistantError, ServiceValidationError
from homeassistant.helpers import (
    config_validation as cv,
    device_registry as dr,
    entity_registry as er,
)
from homeassistant.helpers.target import TargetSelection, async_extract_referenced_entity_ids
from homeassistant.util import dt as dt_util, slugify

from .const import (
    CONF_RFID_CLASS,
    CONF_RFID_TAG,
    CURRENT_MAX_A,
    CURRENT_MIN_A,
    DOMAIN,
    EXPORT_FOLDER,
    FAILSAFE_TIMEOUT_MAX,
    FAILSAFE_TIMEOUT_MIN,
    LOGGER,
)
from .coordinator import ENERGY_LIMIT_STEPS_PER_KWH, KebaConfigEntry
from .domain_data import is_site_entry
from .errors import command_errors
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
from .ledger import END_REASONS, CardBook, SessionRecord, export_csv, total_cost, total_energy

SERVICE_DISPLAY: Final = "display"
SERVICE_START: Final = "start"
SERVICE_STOP: Final = "stop"
SERVICE_SET_ENERGY: Final = "set_energy"
SERVICE_SET_CURRENT: Final = "set_current"
SERVICE_SET_FAILSAFE: Final = "set_failsafe"
SERVICE_UNLOCK_SOCKET: Final = "unlock_socket"
SERVICE_SET_OUTPUT: Final = "set_output"
SERVICE_GET_SESSION_HISTORY: Final = "get_session_history"
SERVICE_EXPORT_SESSIONS: Final = "export_sessions"
ATTR_START: Final = "start"
ATTR_END: Final = "end"
ATTR_CARD: Final = "card"

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


def _date_or_datetime(value: Any) -> date | datetime:
    """A day (``2026-05-01``) or a moment (``2026-05-01 06:00``)."""
    if isinstance(value, (date, datetime)):
        return value
    text = str(value).strip()
    if len(text) == 10:
        return cv.date(text)
    return cv.datetime(text)


SCHEMA_LEDGER: Final = _action_schema(
    {
        vol.Optional(ATTR_START): _date_or_datetime,
        vol.Optional(ATTR_END): _date_or_datetime,
        vol.Optional(ATTR_CARD): vol.All(cv.string, vol.Strip, vol.Length(min=1)),
    }
)


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
        if entry is None or entry.domain != DOMAIN or is_site_entry(entry):
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
        # A charging mode other than "off" is in charge of the current.
        coordinator.ensure_user_may_set_current()
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


def session_as_dict(record: SessionRecord, cards: CardBook) -> dict[str, Any]:
    """A stored session as plain data for an action's response."""
    reason = record.end_reason
    return {
        "session_id": record.session_id,
        "started": record.started.isoformat() if record.started else None,
        "ended": record.ended.isoformat() if record.ended else None,
        "time_source": record.time_source,
        "energy_kwh": record.energy_kwh,
        "meter_start_kwh": record.meter_start_kwh,
        "meter_end_kwh": record.meter_end_kwh,
        "duration_s": record.duration_s,
        "end_reason": END_REASONS.get(reason) if reason is not None else None,
        "end_reason_code": reason,
        "rfid_tag": record.rfid_tag,
        "card": record.card_name(cards),
        "cost": record.cost,
        "currency": record.currency,
        "surplus_kwh": record.surplus_kwh,
    }


def _as_local(value: datetime | date, *, end: bool) -> datetime:
    """A date is the whole day (as the end: up to the next midnight); naive times are local."""
    if isinstance(value, datetime):
        return dt_util.as_utc(
            value if value.tzinfo else value.replace(tzinfo=dt_util.get_default_time_zone())
        )
    day = value + timedelta(days=1) if end else value
    return dt_util.as_utc(dt_util.start_of_local_day(day))


@dataclass(frozen=True, slots=True)
class _LedgerQuery:
    """The period and card an action asks for, checked."""

    start: datetime | None
    end: datetime | None
    card: str | None


def _ledger_query(call: ServiceCall, targets: list[_Target]) -> _LedgerQuery:
    """Check period and card for every targeted station before anything is done."""
    raw_start, raw_end = call.data.get(ATTR_START), call.data.get(ATTR_END)
    start = _as_local(raw_start, end=False) if raw_start is not None else None
    end = _as_local(raw_end, end=True) if raw_end is not None else None
    if start is not None and end is not None and end <= start:
        raise _invalid("period_reversed", start=raw_start, end=raw_end)
    card: str | None = call.data.get(ATTR_CARD)
    for target in targets:
        entry = target.entry
        _require(
            entry,
            entry.runtime_data.coordinator.capabilities.session_history,
            "no_session_history",
        )
        ledger = entry.runtime_data.ledger
        if ledger is None:
            raise _invalid("station_not_loaded", station=entry.title)
        if card is not None and card not in ledger.card_names:
            raise _invalid(
                "unknown_card",
                card=card,
                station=entry.title,
                cards=", ".join(ledger.card_names),
            )
    return _LedgerQuery(start, end, card)


def _select(entry: KebaConfigEntry, query: _LedgerQuery) -> list[SessionRecord]:
    ledger = entry.runtime_data.ledger
    assert ledger is not None  # checked by _ledger_query
    where = ledger.cards.matcher(query.card) if query.card is not None else None
    return ledger.ledger.query(query.start, query.end, serial=ledger.serial, where=where)


def _per_station(targets: list[_Target], results: list[dict[str, Any]]) -> ServiceResponse:
    if len(targets) == 1:
        return results[0]
    return {
        "stations": {
            target.device_id: result for target, result in zip(targets, results, strict=True)
        }
    }


async def _async_get_session_history(call: ServiceCall) -> ServiceResponse:
    """Return the stored sessions of the targeted stations, newest first.

    The whole ledger, or a period and one card. One station: ``{"sessions": [...]}``; several
    stations: ``{"stations": {<device id>: {"sessions": [...]}}}``.
    """
    targets = async_resolve_targets(call)
    query = _ledger_query(call, targets)
    results: list[dict[str, Any]] = []
    for target in targets:
        ledger = target.entry.runtime_data.ledger
        assert ledger is not None
        cards = ledger.cards
        records = _select(target.entry, query)
        results.append(
            {
                "sessions": [session_as_dict(record, cards) for record in reversed(records)],
                "energy_kwh": total_energy(records),
                "cost": total_cost(records),
            }
        )
    return _per_station(targets, results)


def _export_name(entry: KebaConfigEntry, query: _LedgerQuery) -> str:
    def day(moment: datetime | None, fallback: str, *, end: bool = False) -> str:
        if moment is None:
            return fallback
        local = dt_util.as_local(moment - timedelta(microseconds=1) if end else moment)
        return local.strftime("%Y%m%d")

    parts = [
        "sessions",
        slugify(entry.title) or "station",
        f"{day(query.start, 'first')}-{day(query.end, 'last', end=True)}",
    ]
    if query.card is not None:
        parts.append(slugify(query.card) or "card")
    return "_".join(parts) + ".csv"


def _write_file(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")


async def _async_export_sessions(call: ServiceCall) -> ServiceResponse:
    """Write the sessions of a period (and card) as CSV into ``<config>/keba_sessions/``.

    One station: ``{"path": ..., "sessions": n}``; several: one file each, under ``stations``.
    """
    hass = call.hass
    targets = async_resolve_targets(call)
    query = _ledger_query(call, targets)
    zone = dt_util.get_default_time_zone()
    results: list[dict[str, Any]] = []
    for target in targets:
        ledger = target.entry.runtime_data.ledger
        assert ledger is not None
        records = _select(target.entry, query)
        text = export_csv(records, ledger.cards, zone)
        path = Path(hass.config.path(EXPORT_FOLDER, _export_name(target.entry, query)))
        try:
            await hass.async_add_executor_job(_write_file, path, text)
        except OSError as err:
            raise HomeAssistantError(
                translation_domain=DOMAIN,
                translation_key="export_failed",
                translation_placeholders={"path": str(path), "error": str(err)},
            ) from err
        results.append(
            {
                "path": str(path),
                "sessions": len(records),
                "energy_kwh": total_energy(records),
                "cost": total_cost(records),
            }
        )
    return _per_station(targets, results)


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
        schema=SCHEMA_LEDGER,
        supports_response=SupportsResponse.ONLY,
    )
    hass.services.async_register(
        DOMAIN,
        SERVICE_EXPORT_SESSIONS,
        _async_export_sessions,
        schema=SCHEMA_LEDGER,
        supports_response=SupportsResponse.OPTIONAL,
    )
