"""Time source of the engine, injectable for tests."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable
from typing import Protocol


class Clock(Protocol):
    """Monotonic time in seconds and a way to wait."""

    def time(self) -> float:
        """Return monotonic seconds."""

    def sleep(self, seconds: float) -> Awaitable[None]:
        """Wait for ``seconds``."""


class LoopClock:
    """The running event loop's clock."""

    def time(self) -> float:
        """Return the loop's monotonic time."""
        return asyncio.get_running_loop().time()

    def sleep(self, seconds: float) -> Awaitable[None]:
        """Sleep on the loop."""
        return asyncio.sleep(max(0.0, seconds))
