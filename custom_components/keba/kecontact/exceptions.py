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
