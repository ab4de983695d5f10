"""Exceptions raised by the KeContact protocol engine."""

from __future__ import annotations


class KebaError(Exception):
    """Base class of every error of this package."""


class KebaPortInUseError(KebaError):
    """The local UDP port (7090 by default) is held by another program."""

    def __init__(self, host: str, port: int) -> None:
        """Remember which address could not be bound."""
        super().__init__(f"UDP port {port} on {host or 'all interfaces'} is already in use")
        self.host = host
        self.port = port


class KebaConnectionError(KebaError):
    """The station did not answer, or could not be reached."""


class KebaTimeoutError(KebaConnectionError):
    """A request got no answer after every allowed attempt."""


class KebaCommandError(KebaError):
    """The station answered a command with ``TCH-ERR``."""


class KebaVerificationError(KebaError):
    """A command was acknowledged but report 2 does not show its effect."""


class KebaValidationError(KebaError, ValueError):
    """A command parameter is out of range or malformed; nothing was sent."""


class KebaUnsupportedError(KebaError):
    """The station does not have the capability a command needs."""


class KebaClosedError(KebaError):
    """The station client or its endpoint has been closed."""


class UdpControlDisabledError(KebaConnectionError):
    """The station identifies itself (``i``, report 1) but ignores every other request.

    This is what a station does with DIP switch DSW1.3 ("Smart Home interface", UDP control)
    off: it answers ``i`` and ``report 1`` only. The owner must set DSW1.3 to ON and restart
    the station (power off and on). ``info`` is the report 1 that did answer;
    ``dip_switch_says_off`` is True when that report's DIP switch byte shows DSW1.3 off, None
    when the firmware does not report the switches.
    """

    def __init__(self, host: str, info: object, *, dip_switch_says_off: bool | None) -> None:
        """Remember the station and what its report 1 said."""
        hint = " (its DIP switch report shows DSW1.3 off)" if dip_switch_says_off else ""
        super().__init__(
            f"{host} answers report 1 but not report 2: UDP control is off{hint}; "
            "set DIP switch DSW1.3 to ON and restart the station"
        )
        self.host = host
        self.info = info
        self.dip_switch_says_off = dip_switch_says_off


class KebaImplausibleError(KebaError):
    """A report a request asked for was refused as implausible; the state was not changed."""
