"""The run's read pump: closed-loop connections read and answered in C, off the transports.

A connection on the C stream (see ``_batch.c``) is given to the pump
(``_batch.Pump``, ``_pump.c``) once open, when it runs over plain TCP: its
transport stops reading, the pump's epoll set takes its socket, and the event
loop watches the pump's one descriptor. Each time it is ready, the pump reads
every socket that is, checks the echoes, and sends the next messages on the
socket itself. A run at 32 bytes spends about a tenth less CPU per message
this way: the event loop's callbacks and transport writes were most of what
bench did outside the kernel. Large messages go out as before, each its own
head and the one shared filler, in one sendmsg for a batch.

A connection goes back to its transport, for good, on anything but echoes
(the run's end, a wrong echo, a frame from the server), when its socket will
not take a batch at once, at its end and on an error: see ``_left``.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from wstool.bench.batch import _batch

if TYPE_CHECKING:
    from wstool.bench.connection import BenchConnection

__all__ = ["ReadPump"]


class ReadPump:
    """The connections a run's pump reads (none until the first is taken)."""

    def __init__(self) -> None:
        self._pump: Any = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.taken: dict[BenchConnection, int] = {}  # connection -> its socket

    @staticmethod
    def can_take(conn: BenchConnection) -> bool:
        """Whether ``conn`` can be pumped: on a C stream, over plain TCP (TLS records
        are the transport's to make), a socket, nothing waiting to be sent."""
        if _batch is None or not hasattr(_batch, "Pump") or conn.stream is None:
            return False
        if conn.run.plan.secure:
            return False
        transport = conn.transport
        get_extra_info = getattr(transport, "get_extra_info", None)
        if get_extra_info is None or get_extra_info("socket") is None:
            return False
        return bool(transport.get_write_buffer_size() == 0)

    def take(self, conn: BenchConnection) -> bool:
        """Read and answer ``conn`` in the pump from now on, if it can be (see ``can_take``)."""
        if not self.can_take(conn):
            return False
        transport = conn.transport
        if self._pump is None:
            self._pump = _batch.Pump()
            self._loop = asyncio.get_running_loop()
            self._loop.add_reader(self._pump.fileno(), self._pump.poll)
        fd = transport.get_extra_info("socket").fileno()
        transport.pause_reading()
        self._pump.add(fd, conn.stream, lambda code: self._left(conn, code))
        self.taken[conn] = fd
        return True

    def release(self, conn: BenchConnection) -> None:
        """Give ``conn`` back to its transport (nothing if the pump does not have it)."""
        fd = self.taken.pop(conn, None)
        if fd is None:
            return
        self._pump.remove(fd)
        if not conn.transport.is_closing():
            conn.transport.resume_reading()

    def close(self) -> None:
        """Every connection back to its transport, and the pump's descriptor closed."""
        for conn in list(self.taken):
            self.release(conn)
        if self._pump is not None and self._loop is not None and not self._loop.is_closed():
            self._loop.remove_reader(self._pump.fileno())
        self._pump = None

    def _left(self, conn: BenchConnection, code: int) -> None:
        """The pump let go of ``conn``: ``code`` bytes it read and did not take (> 0),
        the socket's end or a batch it could not send whole (0), or an error (-errno)."""
        self.taken.pop(conn, None)
        transport = conn.transport
        if code < 0:
            # The read took the error from the socket: the transport will not see it.
            conn.dropped(OSError(-code, os.strerror(-code)))
            conn.abort()
            return
        if not transport.is_closing():
            transport.resume_reading()
        if code > 0:
            conn.buffer_updated(code)  # in the read buffer, for the transport's path
