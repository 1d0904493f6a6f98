"""Fault injection for testing clients: the counting and timing decisions, without I/O.

``wstool serve --inhibit-pongs N --delay MS --close-after N --drop-after N
--slow-read BYTES/S --fragment N``: :class:`Faults` holds the options and
:class:`FaultPlan` decides, for one connection, when a reply leaves (order
kept), when the connection ends and how, how long reading pauses, and how a
reply is cut into frames. The clock is a parameter (``now``); the Twisted
side that acts on the decisions is :mod:`wstool.net.faults`.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from enum import Enum
from typing import Generic, TypeVar

from wstool.core.frames import CloseCode
from wstool.core.rules import is_valid_close_code

__all__ = ["Ending", "FaultPlan", "Faults"]

T = TypeVar("T")
_READ_CHUNK_MAX = 65536
_READS_PER_SECOND = 8
"""Reads are cut so that the pauses between them are about 1/8 s long."""


class Ending(Enum):
    """How a connection is ended on purpose."""

    CLOSE = "close"
    """A Close frame with the chosen code (--close-after)."""
    DROP = "drop"
    """TCP cut without a Close frame (--drop-after)."""


@dataclass(frozen=True)
class Faults:
    """The faults to inject on every connection; the defaults inject none.

    Attributes:
        inhibit_pongs: answer this many Pings, then none (``None``: all).
        delay: seconds to hold each reply (the order is kept).
        close_after: after this many messages from the client (and their
            answers), Close with ``close_code``.
        close_code: the code for ``close_after``.
        drop_after: after this many messages (and their answers), cut TCP
            without a Close.
        slow_read: read at most this many bytes a second from the client.
        fragment: send each reply in this many frames.
    """

    inhibit_pongs: int | None = None
    delay: float = 0.0
    close_after: int | None = None
    close_code: int = CloseCode.NORMAL_CLOSURE
    drop_after: int | None = None
    slow_read: int | None = None
    fragment: int = 1

    def __post_init__(self) -> None:
        for name in ("inhibit_pongs", "close_after", "drop_after"):
            value = getattr(self, name)
            if value is not None and value < 0:
                raise ValueError(f"{name} must be 0 or more, not {value}")
        if self.delay < 0:
            raise ValueError(f"delay must be 0 or more, not {self.delay}")
        if self.slow_read is not None and self.slow_read < 1:
            raise ValueError(f"slow_read must be 1 byte/s or more, not {self.slow_read}")
        if self.fragment < 1:
            raise ValueError(f"fragment must be 1 or more, not {self.fragment}")
        # RFC 6455 §7.4.1/§7.4.2: 1005, 1006 and 1015 "MUST NOT be set as a status code in a
        # Close control frame by an endpoint"; the reserved ranges are not ours to send.
        if not is_valid_close_code(self.close_code):
            raise ValueError(f"close code {self.close_code} may not be sent in a Close frame")

    @property
    def active(self) -> bool:
        """Whether any fault is switched on."""
        return self != Faults()

    @property
    def shapes_replies(self) -> bool:
        """Whether replies are held or cut (--delay, --fragment)."""
        return self.delay > 0 or self.fragment > 1


class FaultPlan(Generic[T]):
    """One connection's fault decisions; ``T`` is whatever the caller queues (a reply, a close).

    Args:
        faults: what to inject.
    """

    def __init__(self, faults: Faults) -> None:
        self.faults = faults
        self.messages = 0
        """Messages counted from the client so far."""
        self.ending: Ending | None = None
        """The ending decided on, once one is."""
        self._queue: deque[tuple[float, T]] = deque()
        self._last_due = float("-inf")
        self._read_until = float("-inf")

    # -- counting ----------------------------------------------------------------

    def at_start(self) -> Ending | None:
        """An ending due before any message (``--close-after 0``, ``--drop-after 0``)."""
        return self._ending_at(0)

    def count_message(self) -> Ending | None:
        """Count a message from the client; the ending it triggers, once."""
        if self.ending is not None:
            return None
        self.messages += 1
        return self._ending_at(self.messages)

    def _ending_at(self, count: int) -> Ending | None:
        faults = self.faults
        if faults.drop_after is not None and count >= faults.drop_after:
            self.ending = Ending.DROP
        elif faults.close_after is not None and count >= faults.close_after:
            self.ending = Ending.CLOSE
        return self.ending

    # -- holding replies, in order --------------------------------------------------

    def must_queue(self) -> bool:
        """Whether something sent now has to wait (a delay, or earlier replies still held)."""
        return self.faults.delay > 0 or bool(self._queue)

    def push(self, now: float, item: T) -> float:
        """Hold ``item`` until ``now`` + the delay, and after everything held before it.

        Returns:
            When it is due.
        """
        due = max(now + self.faults.delay, self._last_due)
        self._last_due = due
        self._queue.append((due, item))
        return due

    def take_due(self, now: float) -> list[T]:
        """The held items due by ``now``, oldest first (removed from the queue)."""
        ready = []
        queue = self._queue
        while queue and queue[0][0] <= now:
            ready.append(queue.popleft()[1])
        return ready

    def next_due(self) -> float | None:
        """When the oldest held item is due, or ``None`` when nothing is held."""
        return self._queue[0][0] if self._queue else None

    def clear(self) -> None:
        """Forget everything held (the connection is gone)."""
        self._queue.clear()

    # -- cutting replies -------------------------------------------------------------

    def fragments(self, data: bytes) -> list[bytes]:
        """``data`` cut into ``fragment`` pieces as even as can be (some empty if it is short).

        A cut may fall inside a UTF-8 character: RFC 6455 §5.6 checks the
        text of the whole message, so a fragment boundary is allowed there.
        """
        count = self.faults.fragment
        size, extra = divmod(len(data), count)
        pieces = []
        start = 0
        for index in range(count):
            end = start + size + (1 if index < extra else 0)
            pieces.append(data[start:end])
            start = end
        return pieces

    # -- reading slowly ----------------------------------------------------------------

    def read_size(self) -> int:
        """How many bytes one read may take, so that pauses stay short."""
        rate = self.faults.slow_read or _READ_CHUNK_MAX * _READS_PER_SECOND
        return max(1, min(_READ_CHUNK_MAX, rate // _READS_PER_SECOND))

    def after_read(self, now: float, size: int) -> float:
        """Seconds to stop reading after ``size`` bytes were read at ``now`` (0: read on).

        A token bucket without burst: each byte takes 1/rate seconds, counted
        from the later of now and the end of the previous byte's time.
        """
        rate = self.faults.slow_read
        if rate is None:
            return 0.0
        self._read_until = max(self._read_until, now) + size / rate
        return max(0.0, self._read_until - now)
