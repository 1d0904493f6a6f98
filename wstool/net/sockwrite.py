"""Writing to a plain TCP transport at once, and reading in sizes that fit the traffic.

Twisted's TCP transport queues every ``write`` and sends it on the reactor's
next turn, when epoll reports the socket writable, at most ``SEND_LIMIT``
(128 KiB) per turn, after joining the queued pieces into one ``bytes``. For an
echo server that is two ``epoll_ctl`` calls and a turn per reply, and for a
1 MiB reply a 1 MiB copy and eight turns. asyncio's transports instead try the
socket first and queue only what the kernel did not take; :func:`write_now`
does that for Twisted's plain TCP connections: one ``sendmsg`` (a gathering
write: a frame's header and payload are not joined) when nothing is queued,
the rest handed to the transport as before. TLS connections and anything that
is not a plain TCP connection keep the transport's own path.

Reads are ``recv(bufferSize)``, 64 KiB by default: a 1 MiB message takes 16
reactor turns. :func:`fit_read_size` raises a connection's read size to 4 MiB
as soon as a read fills it and halves it back while reads stay far below it,
so small-message connections keep small reads and large ones take few (at
1 MiB, 4 MiB reads echo about 5% faster than 1 MiB ones).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from errno import EWOULDBLOCK
from typing import Any

from twisted.internet import main, tcp
from twisted.python.failure import Failure

__all__ = [
    "READ_MIN",
    "close_now",
    "fit_read_size",
    "read_directly",
    "write_now",
    "writes_at_once",
]

READ_MIN = 1 << 16
"""The read size a connection starts with (Twisted's), and the least it shrinks to."""
_READ_MAX = 1 << 22
_SEND_LIMIT = 1 << 22
"""Twisted's per-turn send limit for a connection that moves large messages."""


def direct(transport: Any) -> bool:
    """Whether :func:`write_now` may write to ``transport``'s socket itself."""
    return isinstance(transport, tcp.Connection) and not getattr(transport, "TLS", False)


def read_directly(transport: Any, received: Callable[[bytes], None]) -> None:
    """Have the reactor hand each read of a :func:`direct` transport to ``received``.

    Twisted's ``doRead`` reads, then calls ``_dataReceived``, which calls the
    protocol's ``dataReceived``: three Python calls a read, where a small
    echo's whole answer is about as many again. The replacement reads and
    calls ``received`` itself, with Twisted's outcomes: nothing when the read
    would block, the connection lost on an error, done on end of file.
    """
    recv = transport.socket.recv

    def do_read() -> Any:
        try:
            data = recv(transport.bufferSize)
        except OSError as error:
            return None if error.errno == EWOULDBLOCK else main.CONNECTION_LOST
        if not data:
            return main.CONNECTION_DONE
        received(data)
        return None

    transport.doRead = do_read


def writes_at_once(transport: Any) -> bool:
    """Whether a :func:`direct` transport may be written to at once: nothing queued
    in it, connected, and neither closing nor shut for writing."""
    return not (
        transport.dataBuffer
        or transport._tempDataLen
        or not transport.connected
        or transport.disconnecting
        or transport._writeDisconnected
    )


def write_now(transport: Any, chunks: Sequence[bytes]) -> None:
    """Send ``chunks`` now as far as the socket takes them; queue the rest.

    ``transport`` must be one :func:`direct` accepted. When the transport
    still holds queued bytes (or is closing) everything goes through it, so
    that order is kept.
    """
    if not writes_at_once(transport):
        transport.writeSequence(chunks)
        return
    try:
        sent = transport.socket.sendmsg(chunks)
    except BlockingIOError:
        sent = 0
    except OSError:
        # The transport finds the same error on its next write and reports
        # the connection lost in its usual way.
        transport.writeSequence(chunks)
        return
    if len(chunks) == 1 and sent == len(chunks[0]):
        return  # the common case: all of it went
    rest = _after(chunks, sent)
    if rest:
        if len(rest[-1]) > READ_MIN:
            transport.SEND_LIMIT = _SEND_LIMIT
        transport.writeSequence(rest)


_CLOSED = Failure(main.CONNECTION_DONE)
"""One failure for every such close, as the reactor's own (``_disconnectSelectable``):
a new one each time would also work out its class's ancestry each time."""


def close_now(transport: Any) -> bool:
    """Close a :func:`direct` transport at once if nothing is queued; whether it did.

    ``loseConnection`` waits for the socket to turn writable, then writes
    whatever is queued and closes: two ``epoll_ctl`` calls and a reactor turn
    even when :func:`write_now` left nothing queued. With nothing queued (and
    no producer), this closes the way Twisted itself does after a half-close
    (``loseConnection`` with ``_writeDisconnected``): stop watching the socket,
    then ``connectionLost`` with ``ConnectionDone``, before returning.
    """
    if not writes_at_once(transport) or transport.producer is not None:
        return False
    transport.stopReading()
    transport.stopWriting()
    # Twisted's shutdown() before close() stays: when the peer sent more after its
    # Close (a second Close, a Ping), close() alone would answer those unread bytes
    # with RST instead of FIN, and the peer would see a reset, not a clean close.
    transport.connectionLost(_CLOSED)
    return True


def _after(chunks: Sequence[bytes], sent: int) -> list[bytes]:
    """What of ``chunks`` is left once the first ``sent`` bytes went out."""
    for index, chunk in enumerate(chunks):
        if sent < len(chunk):
            first = chunk[sent:] if sent else chunk
            return [first, *chunks[index + 1 :]]
        sent -= len(chunk)
    return []


def fit_read_size(transport: Any, received: int) -> None:
    """Grow or shrink a plain TCP transport's read size after a read of ``received`` bytes."""
    size = transport.bufferSize
    if received >= size:
        if size < _READ_MAX:
            transport.bufferSize = _READ_MAX
    elif size > READ_MIN and received < size // 8:
        transport.bufferSize = size // 2
