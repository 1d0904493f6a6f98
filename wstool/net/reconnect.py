"""``connect --reconnect`` and ``--on-connect``: one session that outlives its connections.

:class:`ReconnectingSession` looks like a :class:`~wstool.net.client.ClientSession`
to the REPL and the pipe. After every connection (the first and each
reconnection) it sends the ``--on-connect`` messages first, then whatever was
typed or piped while it was away. When a connection ends without the user
asking (the server closed, or TCP was cut), it reconnects after an
exponential backoff with jitter (:class:`Backoff`), telling the user each
time, until ``max_attempts`` connection attempts in a row have failed.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall
from twisted.python.failure import Failure

from wstool.core.connection import Connection
from wstool.core.events import ConnectionClosed
from wstool.core.frames import close_code_name
from wstool.net.client import ClientSession
from wstool.net.wire import WireProtocol

__all__ = ["Backoff", "ReconnectingSession"]


@dataclass(frozen=True)
class Backoff:
    """How long to wait before reconnection attempt ``n`` (1, 2, ...).

    ``initial * factor ** (n - 1)``, at most ``cap``, less a random part of up
    to ``jitter`` of it, so that many clients dropped at once do not come
    back at once.
    """

    initial: float = 0.5
    factor: float = 2.0
    cap: float = 30.0
    jitter: float = 0.5
    random: Callable[[], float] = random.random

    def delay(self, attempt: int) -> float:
        """Seconds to wait before attempt ``attempt`` (1 for the first retry)."""
        base = min(self.cap, self.initial * self.factor ** max(attempt - 1, 0))
        return base * (1.0 - self.jitter * self.random())


class ReconnectingSession:
    """A client session that reconnects and resends its preamble.

    Args:
        clock: the reactor (``callLater``).
        open_session: opens one connection (connect, with redirects if asked).
        preamble: text messages sent after every connection (``--on-connect``).
        reconnect: reconnect when a connection ends that the user did not close.
        backoff: the delays between attempts.
        max_attempts: give up after this many failed attempts in a row
            (``None``: never).
        notify: one line for the user (a reconnection, a wait, a failure).
    """

    def __init__(
        self,
        clock: Any,
        open_session: Callable[[], Deferred[ClientSession]],
        *,
        preamble: Sequence[str] = (),
        reconnect: bool = False,
        backoff: Backoff | None = None,
        max_attempts: int | None = None,
        notify: Callable[[str], None] = lambda line: None,
    ) -> None:
        self.clock = clock
        self.open_session = open_session
        self.preamble = tuple(preamble)
        self.reconnect = reconnect
        self.backoff = backoff or Backoff()
        self.max_attempts = max_attempts
        self.notify = notify
        self.current: ClientSession | None = None
        self.closed: Deferred[ConnectionClosed | None] = Deferred()
        """Fires when the last connection is gone and no other will be made."""
        self.close_requested: tuple[int | None] | None = None
        self.connections = 0
        """How many connections have been made."""
        self.failure: Failure | None = None
        """Why the last attempt failed, when it was the last allowed."""
        self._started: Deferred[ReconnectingSession] = Deferred()
        self._failures = 0
        self._pending: list[Callable[[ClientSession], None]] = []
        self._timer: IDelayedCall | None = None
        self._answer_pings: bool | None = None
        """/pong off|on, once used: kept for the next connections (None: as connected)."""

    # -- the connections -------------------------------------------------------

    def start(self) -> Deferred[ReconnectingSession]:
        """Make the first connection; fires with ``self`` once connected."""
        self._attempt()
        return self._started

    def _attempt(self) -> None:
        self._timer = None
        self.open_session().addCallbacks(self._connected, self._attempt_failed)

    def _connected(self, session: ClientSession) -> None:
        if self.close_requested is not None:  # the user left while we connected
            self.current = session
            session.closed.addCallback(self._lost)
            session.close(self.close_requested[0], "")
            return
        self._failures = 0
        self.connections += 1
        self.current = session
        if self._answer_pings is not None:
            session.answer_pings(self._answer_pings)
        if self.connections > 1:
            self.notify(f"reconnected (connection {self.connections})")
        for message in self.preamble:
            session.send_text(message)
        pending, self._pending = self._pending, []
        for send in pending:
            send(session)
        session.closed.addCallback(self._lost)
        if not self._started.called:
            self._started.callback(self)

    def _attempt_failed(self, failure: Failure) -> None:
        self._failures += 1
        if self.close_requested is not None and self._started.called:
            self._finish(None)  # the user left while we were reconnecting
            return
        exhausted = self.max_attempts is not None and self._failures >= self.max_attempts
        if self.reconnect and not exhausted:
            self._retry(f"cannot connect: {failure.getErrorMessage()}")
            return
        self.failure = failure
        if not self._started.called:
            self._started.errback(failure)
            return
        self.notify(
            f"giving up after {self._failures} failed attempts: {failure.getErrorMessage()}"
        )
        self._finish(None)

    def _lost(self, closed: ConnectionClosed | None) -> ConnectionClosed | None:
        if self.close_requested is not None or not self.reconnect:
            self._finish(closed)
            return closed
        if closed is None:
            why = "connection lost"
        else:
            why = f"closed {closed.code} {close_code_name(closed.code)}"
            if not closed.clean:
                why = "connection lost without a closing handshake"
        self._retry(why)
        return closed

    def _retry(self, why: str) -> None:
        delay = self.backoff.delay(self._failures + 1)
        self.notify(f"{why}; reconnecting in {delay:.1f} s (attempt {self._failures + 1})")
        self._timer = self.clock.callLater(delay, self._attempt)

    def _finish(self, closed: ConnectionClosed | None) -> None:
        if not self.closed.called:
            self.closed.callback(closed)

    # -- what the REPL and the pipe drive -------------------------------------

    @property
    def _live(self) -> ClientSession | None:
        current = self.current
        return current if current is not None and current.is_open else None

    def _send(self, action: Callable[[ClientSession], None]) -> None:
        live = self._live
        if live is not None:
            action(live)
        else:
            self._pending.append(action)  # sent after the next connection's preamble

    @property
    def is_open(self) -> bool:
        """Whether messages can be sent (now, or after the reconnection under way)."""
        if self.close_requested is not None or self.closed.called:
            return False
        return self._live is not None or self.reconnect

    @property
    def wire(self) -> WireProtocol:
        """The last connection's wire."""
        assert self.current is not None
        return self.current.wire

    @property
    def conn(self) -> Connection:
        """The last connection's core connection."""
        return self.wire.conn

    def __getattr__(self, name: str) -> Any:
        # request, response, subprotocol, extensions: the last connection's.
        if name in ("request", "response", "subprotocol", "extensions"):
            return getattr(self.current, name)
        raise AttributeError(name)

    def send_text(self, text: str) -> None:
        """Send a text message (after the reconnection, if away)."""
        self._send(lambda s: s.send_text(text))

    def send_binary(self, data: bytes) -> None:
        """Send a binary message (after the reconnection, if away)."""
        self._send(lambda s: s.send_binary(data))

    def send_fragments(self, opcode: int, parts: Sequence[bytes]) -> None:
        """Send one message as several frames."""
        self._send(lambda s: s.send_fragments(opcode, parts))

    def ping(self, data: bytes = b"") -> None:
        """Send a Ping."""
        self._send(lambda s: s.ping(data))

    def pong(self, data: bytes = b"") -> None:
        """Send an unsolicited Pong."""
        self._send(lambda s: s.pong(data))

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are."""
        self._send(lambda s: s.send_raw(data))

    def answer_pings(self, on: bool) -> None:
        """Answer Pings or not, on this connection and the next ones."""
        self._answer_pings = on
        if self.current is not None:
            self.current.answer_pings(on)

    def close(self, code: int | None = 1000, reason: str = "") -> None:
        """Close for good: no reconnection after this."""
        self.close_requested = (code,)
        waiting = self._timer is not None and self._timer.active()
        if self._timer is not None and waiting:
            self._timer.cancel()
            self._timer = None
        live = self._live
        if live is not None:
            live.close(code, reason)
        elif waiting:
            self._finish(self.current.wire.close_event if self.current is not None else None)
        # else connecting: _connected closes the connection when it is made

    def abort(self) -> None:
        """Drop the connection without a closing handshake, and stop reconnecting."""
        self.reconnect = False
        if self.current is not None:
            self.current.abort()
