"""A core :class:`~wstool.core.connection.Connection` driven by a Twisted transport.

The driver stays small: bytes in, one write out per read, events to an
observer, and the timers the sans-I/O core leaves to it (close handshake,
keepalive pings, idle connections).
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from twisted.internet.address import UNIXAddress
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IReactorTime, ISSLTransport
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.python.failure import Failure

from wstool.core.connection import Connection, State
from wstool.core.errors import UsageError
from wstool.core.events import ConnectionClosed, Event, MessageReceived, PongReceived
from wstool.core.frames import CloseCode, Role
from wstool.net.deadlines import Deadlines
from wstool.net.sockwrite import (
    READ_MIN,
    close_now,
    direct,
    fit_read_size,
    read_directly,
    write_now,
    writes_at_once,
)

__all__ = ["FrameObserver", "PingSchedule", "Timeouts", "WireProtocol", "close_deadlines"]

_ECHO_TABLE_READS = 16384
"""Only a connection whose last read was smaller than this, and whose read size
was not raised for large messages (net.sockwrite.fit_read_size), joins the
reactor's echo table."""

_OPEN = State.OPEN
_JOIN_UP_TO = 65536
"""Output up to this size is joined into one write; beyond, pieces go as they are."""


class FrameObserver(Protocol):
    """What a wire reports to (the terminal log, a test, or nothing)."""

    wants_frames: bool
    """Whether FrameReceived/FrameSent events are wanted at all."""

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        """A connection was upgraded: the request head as received, the 101 as sent."""

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        """What happened on a connection, in order, one batch per read or write."""

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        """The TCP connection is gone; ``cause`` says how it ended, in a few words."""


@dataclass(frozen=True)
class Timeouts:
    """The timers of a live connection, in seconds; ``None`` or 0 turns one off.

    Attributes:
        close: wait this long for the peer's Close after ours (then drop).
        ping_interval: send a Ping after this long without one.
        ping_timeout: fail with 1011 when a Ping's Pong is this late.
        idle: close with 1001 after this long without a frame from the peer.
    """

    close: float | None = 5.0
    ping_interval: float | None = 20.0
    ping_timeout: float | None = 20.0
    idle: float | None = None


MessageHandler = Callable[["WireProtocol", MessageReceived], None]


class PingSchedule(Deadlines["WireProtocol"]):
    """One reactor timer for the keepalive pings of many connections.

    A server holds thousands of mostly idle connections; a timer each would
    be a reactor ``DelayedCall`` each (about half a KiB).

    Args:
        clock: the reactor's clock.
        interval: seconds from (re)scheduling to the ping.
    """

    def __init__(self, clock: IReactorTime, interval: float) -> None:
        super().__init__(clock, interval, _send_ping)


def _send_ping(wire: WireProtocol) -> None:
    wire._send_ping()


def _close_deadline(wire: WireProtocol) -> None:
    wire._close_deadline()


def close_deadlines(clock: IReactorTime, timeouts: Timeouts) -> Deadlines[WireProtocol] | None:
    """One timer for the close timeouts of many connections (None: no close timeout)."""
    return Deadlines(clock, timeouts.close, _close_deadline) if timeouts.close else None


class WireProtocol(TwistedProtocol):
    """Drives one WebSocket connection over a Twisted transport.

    Args:
        conn: the core connection, after the opening handshake.
        conn_id: a number that names the connection in reports.
        peer: the peer's address, for reports.
        observer: where events go.
        on_message: what to do with each whole message (echo, broadcast).
        clock: the reactor's clock, for the timers.
        timeouts: the timers.
        on_close: called once when the TCP connection is gone.
        pings: a keepalive schedule shared with other connections (with the
            interval of ``timeouts``); without one the connection has its own
            timer.
        close_deadlines: the same for the close timer (``timeouts.close``), from
            :func:`close_deadlines`.
    """

    after_read: Callable[[int], None] | None = None
    """Called with each read's size once the read was handled, however it came in
    (serve's faults watch the reading pace and the Pong budget with it)."""
    _echo_entry: tuple[Callable[[bytes | None, bytes | None], None], array[int], int] | None = None
    """This connection's entry in the reactor's echo table (net/_echoloop.c), made
    the first time it is put there; class-level None keeps idle connections small."""
    _echo_fd = -1
    # Class-level defaults, set on a connection only when they change (as above).
    write_paused = False
    """Whether the transport's send buffer is full (it paused us as its producer)."""
    paused_bytes = 0
    """Bytes of messages handed to this connection since its transport paused."""
    dropped = False
    """Whether :meth:`drop` aborted the connection."""
    held = False
    """Whether reading is held until something else catches up (:meth:`hold_reading`)."""

    def __init__(
        self,
        conn: Connection,
        *,
        conn_id: int,
        peer: str,
        observer: FrameObserver,
        on_message: MessageHandler | None,
        clock: IReactorTime,
        timeouts: Timeouts = Timeouts(),
        on_close: Callable[[WireProtocol], None] | None = None,
        pings: PingSchedule | None = None,
        close_deadlines: Deadlines[WireProtocol] | None = None,
    ) -> None:
        self.conn = conn
        self.pings = pings
        self.close_deadlines = close_deadlines
        self.conn_id = conn_id
        self.peer = peer
        self.observer = observer
        self.on_message = on_message
        self.clock = clock
        self.timeouts = timeouts
        self.on_close = on_close
        self.cause = ""
        self.close_event: ConnectionClosed | None = None
        """The connection's ConnectionClosed event, once there is one."""
        self._close_timer: IDelayedCall | None = None
        self._close_action: Callable[[], None] | None = None
        self._ping_timer: IDelayedCall | None = None
        self._pong_timer: IDelayedCall | None = None
        self._idle_timer: IDelayedCall | None = None
        self._ping_payload: bytes | None = None
        self._pings_sent = 0
        self._closing_tcp = False
        self._lost = False
        self._producing = False
        self._direct = False
        """Whether writes go to the socket at once (a plain TCP transport: net.sockwrite)."""
        self._flushing = False
        self._flush_again = False
        self.fed_by: Any = None
        """What feeds this connection (an IPushProducer, such as serve --exec's program):
        paused and resumed with the connection's reading, so a slow peer slows it too."""
        # An observer that records sessions takes every read and write as bytes (its
        # frames are then built from them, and the connection stays on its fast path).
        self._tap: Callable[[int, bool, bytes], None] | None = getattr(observer, "wire_data", None)

    # -- Twisted's side ------------------------------------------------------

    def connectionMade(self) -> None:
        transport: Any = self.transport
        transport.registerProducer(self, True)
        # A recording wire keeps Twisted's queue: its writes leave on the next
        # turn, after the recorder flushed this turn's lines (session.recorder),
        # so whatever a peer was sent is on file first.
        self._direct = direct(transport) and self._tap is None
        if self._direct:
            read_directly(transport, self._received_directly)
        self._producing = True
        self._schedule_ping()
        self._touch()

    def dataReceived(self, data: bytes) -> None:
        if self._tap is not None:
            self._tap(self.conn_id, True, data)
        self.conn.receive_data(data)
        self._touch()
        if self._direct:
            fit_read_size(self.transport, len(data))
        self.flush()
        if self.after_read is not None:
            self.after_read(len(data))

    def _received_directly(self, data: bytes) -> None:
        """:meth:`dataReceived` of a plain TCP connection (net.sockwrite.read_directly):
        a quiet echo's common read is answered without collecting events."""
        if self._echo_entry is not None:
            self._leave_echo_table()
        echo = self.conn.receive_echoed(data)
        transport: Any = self.transport
        if self.timeouts.idle:
            self._touch()
        if len(data) >= transport.bufferSize or transport.bufferSize > READ_MIN:
            fit_read_size(transport, len(data))
        if echo is None:
            self.flush()
        else:
            write_now(transport, (echo,))
        if self.after_read is not None:
            self.after_read(len(data))
        elif len(data) < _ECHO_TABLE_READS and transport.bufferSize <= READ_MIN:
            # Small messages only: the table reads 64 KiB at most and hands a
            # frame larger than its read back to Python, with a copy of it.
            self._join_echo_table()

    # -- the reactor's echo table (net/_echoloop.c) ----------------------------

    def _join_echo_table(self) -> None:
        """Let the reactor answer this connection's next reads itself, when it is a
        quiet echo with nothing pending and nothing queued (see net/_echoloop.c)."""
        table = getattr(self.clock, "echo_table", None)
        transport: Any = self.transport
        if (
            table is None
            or self.timeouts.idle
            or not self.conn.quiet_echo_ready()
            or transport is None
            or not writes_at_once(transport)
        ):
            return
        entry = self._echo_entry
        if entry is None:
            entry = (self._echo_fallback, array("q", bytes(24)), self.conn.echo_limit)
            self._echo_entry = entry
            self._echo_fd = transport.fileno()
        table[self._echo_fd] = entry

    def _leave_echo_table(self) -> None:
        """Take the connection out of the echo table, and count what was answered there."""
        entry = self._echo_entry
        assert entry is not None
        table = getattr(self.clock, "echo_table", None)
        if table is not None and table.get(self._echo_fd) is entry:
            del table[self._echo_fd]
        counts = entry[1]
        if counts[1]:
            self.conn.count_echoed(counts[0], counts[1], counts[2])
            counts[0] = counts[1] = counts[2] = 0

    def _echo_fallback(self, data: bytes | None, unsent: bytes | None) -> None:
        """What the echo table hands back: a read for the general path, or the part
        of an answer the socket did not take."""
        self._leave_echo_table()
        if data is not None:
            self._received_directly(data)
        elif unsent is not None:
            write_now(self.transport, (unsent,))

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        self._lost = True
        if self._echo_entry is not None:
            self._leave_echo_table()
        for timer in (self._close_timer, self._ping_timer, self._pong_timer, self._idle_timer):
            if timer is not None and timer.active():
                timer.cancel()
        if self.pings is not None:
            self.pings.discard(self)
        if self.close_deadlines is not None:
            self.close_deadlines.discard(self)
        self.conn.receive_eof()
        events = self.conn.events()
        closed = next((e for e in events if isinstance(e, ConnectionClosed)), None)
        if closed is not None:
            self.close_event = closed
        if not self.cause:
            self.cause = "connection lost without a Close frame" if closed else "closed"
        if events:
            self.observer.events(self.conn_id, events)
        self.observer.closed(self.conn_id, self.peer, self.cause or "closed")
        if self.on_close is not None:
            self.on_close(self)

    # IPushProducer: the transport asks us to stop while its buffer is full;
    # we stop reading, so a peer that sends without reading is slowed down.
    def pauseProducing(self) -> None:
        transport: Any = self.transport
        if not self.write_paused:  # (Twisted asks again at each write while full)
            self.write_paused, self.paused_bytes = True, 0
        transport.pauseProducing()
        if self.fed_by is not None:
            self.fed_by.pauseProducing()

    def resumeProducing(self) -> None:
        transport: Any = self.transport
        self.write_paused = False
        if not self.held:
            transport.resumeProducing()
        if self.fed_by is not None:
            self.fed_by.resumeProducing()

    def stopProducing(self) -> None:
        pass

    # -- our side ------------------------------------------------------------

    def hold_reading(self, until: Deferred[None]) -> None:
        """Read nothing more from the peer until ``until`` fires (serve --redis: the
        relay of what it sent is behind); its transport's own pause still counts."""
        if self.held:
            return
        self.held = True
        if self._echo_entry is not None:  # the reactor's C reads do not stop otherwise
            self._leave_echo_table()
        transport: Any = self.transport
        transport.pauseProducing()
        until.addCallback(self._release)

    def _release(self, _: object) -> None:
        self.held = False
        transport: Any = self.transport
        if not self.write_paused and not self._lost:
            transport.resumeProducing()
        if self.conn.parsing_held and not self._lost:
            # The rest of the read that was being handled (flush() alone could take
            # the quiet path, which has nothing to write and stops there).
            self.conn.resume_parsing()
            self.flush()

    def drop(self, cause: str) -> None:
        """Abort the TCP connection now (no Close frame: it would wait behind all
        that is queued), with ``cause`` as the reason logged."""
        if self.dropped:
            return
        self.dropped = True
        self.cause = cause
        transport: Any = self.transport
        transport.abortConnection()

    def flush(self) -> None:
        """Act on new events, write what the connection has to send, report.

        A call made while it runs (a message handler answering, an observer
        sending on) is served once this one is done: the answer is written
        and reported after the message it answers, so the log keeps their
        order, and nothing queued meanwhile waits for the next read.
        """
        if self._echo_entry is not None:  # Python writes: the table must not meanwhile
            self._leave_echo_table()
        if self._flushing:
            self._flush_again = True
            return
        if self._direct:  # the common read of a quiet echo: only output, sent at once
            out = self.conn.quiet_output()
            if out is not None:
                if out:
                    write_now(self.transport, out)
                return
        self._flushing = True
        try:
            self._flush()
            while self._flush_again:
                self._flush_again = False
                self._flush()
        finally:
            self._flushing = False

    def _flush(self) -> None:
        conn = self.conn
        incoming = conn.events()
        on_message = self.on_message
        events = incoming  # reported below, with what was sent
        if on_message is not None and incoming:
            # What came in is reported before a handler answers it, so that
            # the handler's own lines (a mock rule, a fault) and its answer
            # follow the message in the log.
            self._remember_close(incoming)
            self.observer.events(self.conn_id, incoming)
            events = []
        for event in incoming:
            kind = type(event)
            if kind is MessageReceived:
                # Messages that came before a Close in the same read are still
                # answered: the core holds its Close reply until the output is
                # collected below.
                if on_message is not None and (conn.state is _OPEN or conn.can_send_data):
                    on_message(self, event)  # type: ignore[arg-type]
            elif kind is PongReceived:
                self._pong(event.data)  # type: ignore[union-attr]
        out = conn.chunks_to_send()
        events += conn.events()  # what was sent, and a close now complete
        self._remember_close(events)
        transport: Any = self.transport
        if out and transport is not None:
            if self._tap is not None:
                self._tap(self.conn_id, False, out[0] if len(out) == 1 else b"".join(out))
            if self._direct:
                write_now(transport, out)
            elif len(out) == 2 and len(out[1]) > _JOIN_UP_TO:
                # One large frame, header and payload: the transport joins
                # them when it writes; joining here as well would copy twice.
                transport.writeSequence(out)
            else:
                transport.write(out[0] if len(out) == 1 else b"".join(out))
        if events:
            self.observer.events(self.conn_id, events)
        self._after_state_change()
        if conn.parsing_held and not self.held and not self._lost:
            conn.resume_parsing()  # the next batch of a read that inflated to a lot
            self._flush_again = True

    def _remember_close(self, events: list[Any]) -> None:
        for event in events:
            if type(event) is ConnectionClosed:
                self.close_event = event

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake (ignored if it has started already)."""
        try:
            self.conn.send_close(code, reason)
        except UsageError:
            return
        self.flush()

    def _after_state_change(self) -> None:
        transport: Any = self.transport
        if transport is None:
            return
        if self.conn.transport_should_close:
            if not self.cause:
                failure = self.conn.failure
                if failure is not None:
                    self.cause = f"failed: {failure.rule} ({failure.close_code})"
                else:
                    self.cause = "closed cleanly"
            # TLS (twisted.protocols.tls) holds its close_notify, and so the
            # close, until the producer is unregistered: without this, every
            # wss:// connection would end by the close timer below.
            if self._producing:
                self._producing = False
                transport.unregisterProducer()
            if not self._closing_tcp:
                self._closing_tcp = True
                failed = self.conn.failure is not None
                server = self.conn.role is Role.SERVER
                _close_first(transport, half=failed and server, at_once=self._direct and server)
            if self._lost:
                return  # closed at once: connectionLost has run
            # A peer that stops reading could hold loseConnection() forever.
            self._start_close_timer(transport.abortConnection)
        elif self.conn.state is State.CLOSING:
            self._start_close_timer(self._close_timed_out)

    def _start_close_timer(self, action: Callable[[], None]) -> None:
        """Run ``action`` when the close timeout passes (the first action set stays)."""
        limit = self.timeouts.close
        if self._close_action is not None or not limit:
            return
        self._close_action = action
        self._close_timer = self._later(self.close_deadlines, limit, self._close_deadline)

    def _later(
        self, shared: Deadlines[WireProtocol] | None, delay: float, action: Callable[[], None]
    ) -> IDelayedCall | None:
        """``action`` in ``delay`` seconds: by the timer ``shared`` with other connections
        (which calls it), else by a reactor timer of this connection's, returned."""
        if shared is not None:
            shared.add(self)
            return None
        return self.clock.callLater(delay, action)

    def _close_deadline(self) -> None:
        self._close_timer = None
        if self._close_action is not None:
            self._close_action()

    def _close_timed_out(self) -> None:
        self.cause = "no Close frame from the peer in time"
        transport: Any = self.transport
        transport.abortConnection()

    # -- keepalive -----------------------------------------------------------

    def _schedule_ping(self) -> None:
        interval = self.timeouts.ping_interval
        if not interval:
            return
        self._ping_timer = self._later(self.pings, interval, self._send_ping)

    def _send_ping(self) -> None:
        self._ping_timer = None
        if self.conn.state is not State.OPEN:
            return
        self._pings_sent += 1
        self._ping_payload = f"wstool keepalive {self._pings_sent}".encode()
        self.conn.send_ping(self._ping_payload)
        self.flush()
        limit = self.timeouts.ping_timeout
        if limit:
            self._pong_timer = self.clock.callLater(limit, self._pong_timed_out)

    def _pong(self, data: bytes) -> None:
        if data != self._ping_payload:
            return  # an unsolicited Pong, or one for an older ping
        self._ping_payload = None
        if self._pong_timer is not None and self._pong_timer.active():
            self._pong_timer.cancel()
        self._pong_timer = None
        self._schedule_ping()

    def _pong_timed_out(self) -> None:
        self._pong_timer = None
        self.cause = "no Pong in time"
        self.close(CloseCode.INTERNAL_ERROR, "keepalive ping timeout")

    def _touch(self) -> None:
        limit = self.timeouts.idle
        if not limit:
            return
        if self._idle_timer is not None and self._idle_timer.active():
            self._idle_timer.reset(limit)
        else:
            self._idle_timer = self.clock.callLater(limit, self._idle_timed_out)

    def _idle_timed_out(self) -> None:
        self._idle_timer = None
        self.cause = "idle timeout"
        self.close(CloseCode.GOING_AWAY, "idle timeout")


def _close_first(transport: Any, *, half: bool, at_once: bool = False) -> None:
    """Close our side of TCP, with a half-close when ``half`` so the Close frame survives.

    RFC 6455 §7.1.1: the server closes first; "one would call shutdown() with SHUT_WR on
    the socket, call recv() until obtaining a return value of 0 indicating that the peer
    has also performed an orderly shutdown, and finally call close() on the socket."
    A server that fails a connection usually has the peer's frames still unread (it may
    be mid-way through a message just failed with 1009); closing outright then makes the
    kernel send RST, which can destroy our Close frame, and its code, before the peer
    reads it. So a failing server half-closes plain TCP and keeps reading (the
    connection ignores what comes) until the peer closes or the close timer aborts.
    Over TLS (which must send close_notify), after a clean closing handshake and on the
    client side, the transport is closed as soon as what it has queued is written:
    with ``at_once`` (a :func:`~wstool.net.sockwrite.direct` transport) and nothing
    queued, before this returns.
    """
    tls = ISSLTransport.providedBy(transport)
    if half and not tls and hasattr(transport, "loseWriteConnection"):
        transport.loseWriteConnection()  # once: twisted fails a second one with EPIPE
        transport.resumeProducing()
        return
    if at_once and close_now(transport):
        return
    transport.loseConnection()


def address_text(address: Any) -> str:
    """``host:port``, with IPv6 hosts in brackets; ``unix`` for a Unix socket's peer."""
    if isinstance(address, UNIXAddress):
        return "unix"
    host = getattr(address, "host", "?")
    port = getattr(address, "port", "?")
    return f"[{host}]:{port}" if ":" in str(host) else f"{host}:{port}"
