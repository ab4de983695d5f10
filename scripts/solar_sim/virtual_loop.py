"""An asyncio event loop on a virtual clock, with real (loopback) sockets.

:class:`VirtualTimeLoop` is a :class:`asyncio.SelectorEventLoop` whose :meth:`~VirtualTimeLoop.time`
returns a virtual clock. Its selector first polls the real sockets without waiting; only when no
socket is ready does it move the virtual clock forward by the timeout the loop asked for (to the
next timer) and report no events. A day of station traffic thus runs in seconds, with every
timer, ``asyncio.sleep`` and ``call_later`` on the virtual clock.

A datagram sent over loopback is normally queued at the receiving socket by the time ``sendto``
returns. To be sure, the loop can be given ``in_flight``: a function returning how many sent
datagrams have not been received yet. While it is positive, the selector waits for them in real
time instead of moving the clock, so the clock never runs ahead of a datagram on its way, and
each datagram is received at the virtual moment it was sent.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
import selectors
from typing import Any

#: How long (real seconds) to wait for a datagram that was sent but is not visible yet.
_IN_FLIGHT_WAIT_S = 0.05
#: Give up waiting for in-flight datagrams after this many real seconds (they were lost).
_IN_FLIGHT_GIVE_UP_S = 2.0


class VirtualClock:
    """Seconds on the virtual clock; only :class:`_VirtualSelector` moves it."""

    def __init__(self, start: float = 0.0) -> None:
        """Start at ``start`` virtual seconds."""
        self.now = start
        self.jumps = 0

    def advance(self, seconds: float) -> None:
        """Move forward by ``seconds``."""
        self.now += seconds
        self.jumps += 1


class _VirtualSelector(selectors.BaseSelector):
    """Polls a real selector without blocking; an idle wait moves the virtual clock instead."""

    def __init__(self, clock: VirtualClock) -> None:
        self._real = selectors.DefaultSelector()
        self._clock = clock
        self.in_flight: Callable[[], int] | None = None
        #: Datagrams given up for lost (subtracted from ``in_flight``).
        self.lost = 0
        #: Real seconds spent waiting for datagrams in flight.
        self.waited_s = 0.0

    def register(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.register(fileobj, events, data)

    def unregister(self, fileobj: Any) -> selectors.SelectorKey:
        return self._real.unregister(fileobj)

    def modify(self, fileobj: Any, events: int, data: Any = None) -> selectors.SelectorKey:
        return self._real.modify(fileobj, events, data)

    def get_map(self) -> Mapping[Any, selectors.SelectorKey]:
        return self._real.get_map()

    def close(self) -> None:
        self._real.close()

    def _pending(self) -> int:
        return 0 if self.in_flight is None else self.in_flight() - self.lost

    def select(self, timeout: float | None = None) -> list[tuple[selectors.SelectorKey, int]]:
        events = self._real.select(0)
        if events:
            return events
        if self._pending() > 0:
            # A datagram is on its way: wait for it in real time, the clock stands still.
            waited = 0.0
            while waited < _IN_FLIGHT_GIVE_UP_S:
                events = self._real.select(_IN_FLIGHT_WAIT_S)
                if events:
                    self.waited_s += waited
                    return events
                waited += _IN_FLIGHT_WAIT_S
            self.waited_s += waited
            self.lost += max(0, self._pending())
        if timeout is None:
            # Nothing scheduled at all: only another thread can wake the loop; wait for real.
            return self._real.select(None)
        if timeout > 0:
            self._clock.advance(timeout)
        return []


class VirtualTimeLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose clock is virtual (see the module docstring)."""

    def __init__(self, start: float = 0.0) -> None:
        """Create the loop with its clock at ``start`` virtual seconds."""
        self.clock = VirtualClock(start)
        self._virtual_selector = _VirtualSelector(self.clock)
        super().__init__(selector=self._virtual_selector)

    def time(self) -> float:
        """Virtual seconds."""
        return self.clock.now

    def set_in_flight(self, counter: Callable[[], int] | None) -> None:
        """Tell the loop how many datagrams are sent but not yet received (see module doc)."""
        self._virtual_selector.in_flight = counter

    @property
    def lost_datagrams(self) -> int:
        """Datagrams that never arrived although the loop waited for them."""
        return self._virtual_selector.lost

    @property
    def real_wait_s(self) -> float:
        """Real seconds spent waiting for datagrams that were in flight."""
        return self._virtual_selector.waited_s
