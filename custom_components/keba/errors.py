"""Translate the protocol engine's errors into Home Assistant's exceptions."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from homeassistant.exceptions import HomeAssistantError, ServiceValidationError

from .const import DOMAIN
from .kecontact import (
    KebaCommandError,
    KebaConnectionError,
    KebaError,
    KebaUnsupportedError,
    KebaValidationError,
    KebaVerificationError,
)


@contextmanager
def command_errors(host: str) -> Iterator[None]:
    """Raise what Home Assistant expects when a command to the station at ``host`` fails.

    Bad input (:class:`KebaValidationError`) and commands the station does not have
    (:class:`KebaUnsupportedError`) become :class:`ServiceValidationError`; every other engine
    error — no answer, ``TCH-ERR``, an effect that report 2 does not show — becomes a translated
    :class:`HomeAssistantError`.
    """
    try:
        yield
    except KebaValidationError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="invalid_value",
            translation_placeholders={"error": str(err)},
        ) from err
    except KebaUnsupportedError as err:
        raise ServiceValidationError(
            translation_domain=DOMAIN,
            translation_key="unsupported_command",
            translation_placeholders={"host": host, "error": str(err)},
        ) from err
    except KebaError as err:
        if isinstance(err, KebaConnectionError):
            key = "command_no_answer"
        elif isinstance(err, KebaCommandError):
            key = "command_refused"
        elif isinstance(err, KebaVerificationError):
            key = "command_not_confirmed"
        else:
            key = "command_failed"
        raise HomeAssistantError(
            translation_domain=DOMAIN,
            translation_key=key,
            translation_placeholders={"host": host, "error": str(err)},
        ) from err
