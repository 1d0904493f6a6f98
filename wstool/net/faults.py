"""Fault injection on ``wstool serve``'s connections, as a :class:`~wstool.net.server.Behaviour`.

:func:`with_faults` wraps a behaviour factory (mock rules, a program behind
serve) or, without one, the echo. The counting and timing are decided by
:class:`wstool.mock.faults.FaultPlan`; this module acts on them: the Pong
budget of the core connection, a timer for held replies, frames cut per
reply, a Close or an aborted TCP connection, and the transport's reading
paused and resumed. Each fault says so in the traffic log (through the
observer's ``note``, when it has one) when it first takes effect.
"""

from __future__ import annotations

import contextlib
import functools
import socket
from collections.abc import Callable, Iterable
from typing import Any, cast

from twisted.internet.interfaces import IDelayedCall

from wstool.core.connection import Connection, State
from wstool.core.events import MessageReceived
from wstool.core.frames import CloseCode, Opcode
from wstool.mock.faults import Ending, FaultPlan, Faults
from wstool.net.server import Behaviour, UpgradeRequest
from wstool.net.wire import WireProtocol

__all__ = ["BehaviourFactory", "FaultyBehaviour", "note", "with_faults"]

BehaviourFactory = Callable[[UpgradeRequest], Behaviour]
_RECEIVE_BUFFER_RANGE = (4096, 2**20)


def note(
    wire: WireProtocol, text: str, source: str = "fault", *, per_message: bool = False
) -> None:
    """One line in the traffic log about ``wire`` (if its observer takes notes).

    On a terminal ``fault: TEXT``; in NDJSON ``{"event": "fault", "text": TEXT, "conn": N}``
    (``source`` is the event's name: ``fault``, ``rule``). A ``per_message``
    line is left out under ``-q``.
    """
    take_note = getattr(wire.observer, "note", None)
    if take_note is not None:
        record = {"event": source, "text": text}
        take_note(wire.conn_id, f"{source}: {text}", record, per_message=per_message)


def with_faults(faults: Faults | None, inner: BehaviourFactory | None) -> BehaviourFactory | None:
    """A factory that injects ``faults`` around ``inner``'s behaviour (or around the echo).

    Args:
        faults: what to inject; ``None`` or no fault leaves ``inner`` as it is.
        inner: what answers the client; ``None`` for the echo.

    Returns:
        The factory for :attr:`ServerOptions.behaviour`, or ``inner`` itself
        (``None``: the core's own echo).
    """
    if faults is None or not faults.active:
        return inner

    def make(upgrade: UpgradeRequest) -> Behaviour:
        # The inner factory may refuse (HandshakeError) and must start nothing.
        return FaultyBehaviour(faults, inner(upgrade) if inner is not None else None)

    return make


class _Send:
    __slots__ = ("data", "opcode", "parts")

    def __init__(self, opcode: int, data: bytes, parts: list[bytes] | None = None) -> None:
        self.opcode = opcode
        self.data = data
        self.parts = parts


class _Close:
    __slots__ = ("code", "reason")

    def __init__(self, code: int, reason: str) -> None:
        self.code = code
        self.reason = reason


_Item = _Send | _Close | Ending


class FaultyBehaviour:
    """One connection's faults, around an inner behaviour or the echo.

    The inner behaviour gets a stand-in for the wire whose sends and closes
    go through the faults (held by --delay, cut by --fragment, in order), so
    a behaviour written for the plain wire needs nothing to be wrapped.
    """

    def __init__(self, faults: Faults, inner: Behaviour | None) -> None:
        self.faults = faults
        self.inner = inner
        self.plan: FaultPlan[_Item] = FaultPlan(faults)
        self.wire: WireProtocol | None = None
        self._stand_in: _FaultyWire | None = None
        self._timer: IDelayedCall | None = None
        self._resume_timer: IDelayedCall | None = None
        self._said: set[str] = set()

    # -- the Behaviour protocol ----------------------------------------------------

    def start(self, wire: WireProtocol) -> None:
        self.wire = wire
        faults = self.faults
        if faults.inhibit_pongs is not None:
            wire.conn.pong_budget = faults.inhibit_pongs
            if faults.inhibit_pongs == 0:
                self._say_once("pongs", "answering no Pings (--inhibit-pongs 0)")
        if faults.inhibit_pongs or faults.slow_read:
            self._watch_reads(wire)
        if self.inner is not None:
            self._stand_in = _FaultyWire(wire, self)
            self.inner.start(cast(WireProtocol, self._stand_in))
        ending = self.plan.at_start()
        if ending is not None:
            self._queue(ending)

    def message(self, wire: WireProtocol, message: MessageReceived) -> None:
        if self.plan.ending is not None:
            return  # ending already: later messages get nothing
        ending = self.plan.count_message()
        if self.inner is not None:
            self.inner.message(cast(WireProtocol, self._stand_in), message)
        else:
            self.send(message.opcode, message.data)
        if ending is not None:
            self._queue(ending)

    def closed(self, wire: WireProtocol) -> None:
        for timer in (self._timer, self._resume_timer):
            if timer is not None and timer.active():
                timer.cancel()
        self._timer = self._resume_timer = None
        self.plan.clear()
        if self.inner is not None:
            self.inner.closed(cast(WireProtocol, self._stand_in))

    # -- sending through the faults ----------------------------------------------------

    def send(self, opcode: int, data: bytes, parts: list[bytes] | None = None) -> None:
        """Send a message (a reply or an echo): held, cut, in order."""
        self._queue(_Send(opcode, data, parts))

    def close(self, code: int, reason: str) -> None:
        """Close once everything held before has been sent."""
        self._queue(_Close(code, reason))

    def _queue(self, item: _Item) -> None:
        wire = self.wire
        assert wire is not None
        if not self.plan.must_queue():
            self._act(wire, item)
            return
        if self.faults.delay:
            self._say_once("delay", f"holding each reply {self.faults.delay * 1000:g} ms (--delay)")
        due = self.plan.push(wire.clock.seconds(), item)
        if self._timer is None:
            self._timer = wire.clock.callLater(max(0.0, due - wire.clock.seconds()), self._due)

    def _due(self) -> None:
        self._timer = None
        wire = self.wire
        assert wire is not None
        now = wire.clock.seconds()
        for item in self.plan.take_due(now):
            self._act(wire, item)
        following = self.plan.next_due()
        if following is not None and wire.transport is not None:
            self._timer = wire.clock.callLater(max(0.0, following - now), self._due)

    def _act(self, wire: WireProtocol, item: _Item) -> None:
        if isinstance(item, Ending):
            self._end(wire, item)
        elif isinstance(item, _Close):
            wire.close(item.code, item.reason)
        else:
            self._send_now(wire, item)

    def _send_now(self, wire: WireProtocol, item: _Send) -> None:
        conn = wire.conn
        if not conn.can_send_data:
            return
        if self.faults.fragment > 1:
            count = self.faults.fragment
            self._say_once("fragment", f"sending each reply in {count} frames (--fragment)")
            conn.send_fragments(item.opcode, self.plan.fragments(item.data))
        elif item.parts is not None:
            conn.send_fragments(item.opcode, item.parts)
        else:
            conn.send_message(item.opcode, item.data)
        wire.flush()

    def _end(self, wire: WireProtocol, ending: Ending) -> None:
        count = self.plan.messages
        messages = f"{count} message{'' if count == 1 else 's'}"
        if ending is Ending.DROP:
            note(wire, f"dropping TCP after {messages}, no Close frame (--drop-after)")
            wire.cause = f"dropped by the server after {messages} (--drop-after)"
            transport: Any = wire.transport
            if transport is not None:
                transport.abortConnection()
            return
        code = self.faults.close_code
        note(wire, f"closing with {code} after {messages} (--close-after)")
        wire.close(code, f"--close-after {count}")

    # -- reads: pongs spent, reading slowly --------------------------------------------

    def _watch_reads(self, wire: WireProtocol) -> None:
        """Look at every read: the Pong budget running out, and the reading pace.

        Only this wire gets the hook, so connections without these faults
        keep the plain read path.
        """
        if self.faults.slow_read:
            self._shrink_reads(wire)
        wire.after_read = functools.partial(self._after_read, wire)

    def _after_read(self, wire: WireProtocol, size: int) -> None:
        budget = wire.conn.pong_budget
        if budget == 0 and self.faults.inhibit_pongs:
            count = self.faults.inhibit_pongs
            self._say_once("pongs", f"answered {count} Ping(s); no more Pongs (--inhibit-pongs)")
        pause = self.plan.after_read(wire.clock.seconds(), size)
        transport: Any = wire.transport
        if pause <= 0 or transport is None or wire.conn.state is State.CLOSED:
            return
        self._say_once(
            "slow", f"reading {self.faults.slow_read} bytes/s at most (--slow-read): pausing"
        )
        _set_read_size(transport, self.plan.read_size())
        if self._resume_timer is None or not self._resume_timer.active():
            transport.pauseProducing()
            self._resume_timer = wire.clock.callLater(pause, self._resume)
        else:
            self._resume_timer.reset(pause)

    def _resume(self) -> None:
        self._resume_timer = None
        wire = self.wire
        transport: Any = wire.transport if wire is not None else None
        if transport is not None:
            transport.resumeProducing()

    def _shrink_reads(self, wire: WireProtocol) -> None:
        """Small reads and a small receive buffer, so the client's sends back up soon."""
        transport: Any = wire.transport
        _set_read_size(transport, self.plan.read_size())
        handle = _socket_of(transport)
        if handle is not None:
            with contextlib.suppress(OSError):
                handle.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, self._receive_buffer())

    def _receive_buffer(self) -> int:
        """A quarter second of the rate: small enough to push back soon, large enough
        that the TCP window never waits on delayed ACKs."""
        low, high = _RECEIVE_BUFFER_RANGE
        return max(low, min(high, (self.faults.slow_read or high) // 4))

    def _say_once(self, key: str, text: str) -> None:
        if key not in self._said and self.wire is not None:
            self._said.add(key)
            note(self.wire, text)


def _set_read_size(transport: Any, size: int) -> None:
    inner = getattr(transport, "transport", None)  # TLS: the TCP transport underneath
    for candidate in (transport, inner):
        if candidate is not None and hasattr(candidate, "bufferSize"):
            candidate.bufferSize = size


def _socket_of(transport: Any) -> socket.socket | None:
    for candidate in (transport, getattr(transport, "transport", None)):
        get_handle = getattr(candidate, "getHandle", None)
        if get_handle is not None:
            handle = get_handle()
            if isinstance(handle, socket.socket):
                return handle
    return None


class _FaultyConnection:
    """The core connection as an inner behaviour sees it: sends and closes go through faults."""

    def __init__(self, conn: Connection, faults: FaultyBehaviour) -> None:
        self._conn = conn
        self._faults = faults

    def send_message(self, opcode: int, data: bytes, *, compress: bool | None = None) -> None:
        self._faults.send(opcode, data)

    def send_text(self, text: str) -> None:
        self._faults.send(Opcode.TEXT, text.encode("utf-8"))

    def send_binary(self, data: bytes) -> None:
        self._faults.send(Opcode.BINARY, data)

    def send_fragments(self, opcode: int, parts: Iterable[bytes]) -> None:
        chunks = list(parts)
        self._faults.send(opcode, b"".join(chunks), chunks)

    def send_close(self, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        self._faults.close(CloseCode.NORMAL_CLOSURE if code is None else code, reason)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._conn, name)


class _FaultyWire:
    """The wire as an inner behaviour sees it (see :class:`FaultyBehaviour`)."""

    def __init__(self, wire: WireProtocol, faults: FaultyBehaviour) -> None:
        object.__setattr__(self, "_wire", wire)
        object.__setattr__(self, "_faults", faults)
        object.__setattr__(self, "conn", _FaultyConnection(wire.conn, faults))

    def flush(self) -> None:
        self._wire.flush()

    def close(self, code: int = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        self._faults.close(code, reason)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._wire, name)

    def __setattr__(self, name: str, value: Any) -> None:
        setattr(self._wire, name, value)
