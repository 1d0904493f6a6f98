"""One reactor timer for many deadlines of the same length.

A server sets the same timers on every connection: the handshake must end
within so long, a Close must be answered within so long, a Ping goes out
after so long. A reactor ``DelayedCall`` each costs a Python object, a heap
insertion and a cancellation per connection, which a short-lived
connection pays in full, and about half a KiB while it waits. All deadlines
of one length come due in the order they were set, so an insertion-ordered
dict is the whole queue, and one timer, set for the earliest, serves them
all.
"""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from twisted.internet.interfaces import IDelayedCall, IReactorTime

__all__ = ["Deadlines"]

K = TypeVar("K", bound=Hashable)


class Deadlines(Generic[K]):
    """Deadlines of one length; ``expire(key)`` runs for each one that passes.

    Args:
        clock: the reactor's clock.
        delay: seconds from :meth:`add` to the deadline.
        expire: called with the key of each deadline that passed (it is
            forgotten first, so ``expire`` may :meth:`add` it again).
    """

    def __init__(self, clock: IReactorTime, delay: float, expire: Callable[[K], object]) -> None:
        self.clock = clock
        self.delay = delay
        self.expire = expire
        self._due: dict[K, float] = {}
        self._timer: IDelayedCall | None = None
        self._firing = False

    def __len__(self) -> int:
        return len(self._due)

    def __contains__(self, key: object) -> bool:
        return key in self._due

    def add(self, key: K) -> None:
        """Set ``key``'s deadline one delay from now (instead of any set before)."""
        due = self._due
        due.pop(key, None)
        due[key] = self.clock.seconds() + self.delay
        if self._timer is None and not self._firing:
            self._timer = self.clock.callLater(self.delay, self._fire)

    def discard(self, key: K) -> None:
        """Forget ``key``'s deadline, if it has one (the timer goes with the last)."""
        due = self._due
        if due.pop(key, None) is not None and not due and self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _fire(self) -> None:
        self._timer = None
        now = self.clock.seconds()
        due = self._due
        self._firing = True  # deadlines set meanwhile wait for the timer set below
        try:
            while due:
                key = next(iter(due))
                if due[key] > now:
                    break
                del due[key]
                self.expire(key)
        finally:  # even when an expire() raised, the rest keep their timer
            self._firing = False
            if due:
                first = due[next(iter(due))]
                self._timer = self.clock.callLater(max(first - now, 0.0), self._fire)
