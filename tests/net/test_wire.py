"""Tests of :mod:`wstool.net.wire`: a core Connection driven over a Twisted transport.

A :class:`WireProtocol` for the server role runs over a
:class:`StringTransport` with a :class:`MemoryReactorClock`; a client-role
core :class:`Connection` with a pinned mask key plays the peer, making the
bytes fed in and reading the bytes written out. Timers are driven with
``clock.advance``; nothing sleeps.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from wstool.core.connection import Connection, State
from wstool.core.events import (
    ConnectionClosed,
    ConnectionFailed,
    Event,
    FrameReceived,
    MessageReceived,
    MessageSent,
)
from wstool.core.frames import CloseCode, Opcode, Role
from wstool.net.wire import PingSchedule, Timeouts, WireProtocol

MASK = b"\x37\xfa\x21\x3d"
PEER = "127.0.0.1:50000"


class Recorder:
    """A frame observer that keeps everything it is told."""

    wants_frames = True

    def __init__(self) -> None:
        self.events_seen: list[tuple[int, Event]] = []
        self.closed_calls: list[tuple[int, str, str]] = []

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        raise AssertionError("a WireProtocol never reports an opening handshake")

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        self.events_seen.extend((conn_id, e) for e in events)

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        self.closed_calls.append((conn_id, peer, cause))

    def of_type(self, kind: type) -> list[Event]:
        return [e for _, e in self.events_seen if isinstance(e, kind)]


def _echo(wire: WireProtocol, message: MessageReceived) -> None:
    wire.conn.send_message(message.opcode, message.data)


class WireFixture(SynchronousTestCase):
    """One server WireProtocol, its transport and clock, and a client Connection as the peer."""

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.observer = Recorder()
        self.lost: list[WireProtocol] = []

    def start(self, timeouts: Timeouts, **conn_options: object) -> WireProtocol:
        self.wire = WireProtocol(
            Connection(Role.SERVER, **conn_options),  # type: ignore[arg-type]
            conn_id=7,
            peer=PEER,
            observer=self.observer,
            on_message=_echo,
            clock=self.clock,
            timeouts=timeouts,
            on_close=self.lost.append,
        )
        self.transport = StringTransport()
        self.wire.makeConnection(self.transport)
        self.peer = Connection(Role.CLIENT, mask_source=lambda n: MASK)
        self.addCleanup(self.finish)
        return self.wire

    def finish(self) -> None:
        """Deliver connectionLost if the test has not, then check no timer is left behind."""
        if self.transport.connected:
            self.lose()
        self.assertEqual(self.clock.getDelayedCalls(), [], "a timer outlived the connection")
        self.assertEqual(self.lost, [self.wire], "on_close should run exactly once")

    def lose(self) -> None:
        self.transport.connected = False
        self.wire.connectionLost(Failure(ConnectionDone()))

    def send(self, build: str, *args: object) -> None:
        """Have the peer send something (``build`` names a Connection.send_* method)."""
        getattr(self.peer, f"send_{build}")(*args)
        self.wire.dataReceived(self.peer.data_to_send())

    def received(self, *, answer: bool = False) -> list[Event]:
        """What the peer makes of everything the wire wrote since the last call.

        With ``answer``, the peer also collects its output (and drops it), as a
        driver would: a Close it owes is then sent and its close reported.
        """
        data = self.transport.value()
        self.transport.clear()
        self.peer.receive_data(data)
        if answer:
            self.peer.data_to_send()
        return self.peer.events()

    def frames(self) -> list[tuple[int, bytes]]:
        return [(e.frame.opcode, e.data) for e in self.received() if isinstance(e, FrameReceived)]

    def cause(self) -> str:
        self.assertEqual(len(self.observer.closed_calls), 1)
        return self.observer.closed_calls[0][2]


NO_TIMERS = Timeouts(close=None, ping_interval=None, ping_timeout=None, idle=None)


class DataTests(WireFixture):
    """Bytes in, events to the observer, one write out per read."""

    def test_echo_in_one_write(self) -> None:
        """Three messages in one read are echoed in one transport write, in order."""
        self.start(NO_TIMERS)
        writes: list[bytes] = []
        real_write = self.transport.write
        self.transport.write = lambda data: (writes.append(data), real_write(data))  # type: ignore[method-assign]
        self.peer.send_text("one")
        self.peer.send_binary(b"\x00two")
        self.peer.send_fragments(Opcode.TEXT, [b"th", b"ree"])
        self.wire.dataReceived(self.peer.data_to_send())
        self.assertEqual(len(writes), 1)
        messages = [e for e in self.received() if isinstance(e, MessageReceived)]
        self.assertEqual(
            [(m.opcode, m.data) for m in messages],
            [(1, b"one"), (2, b"\x00two"), (1, b"three")],
        )
        self.assertEqual(len(self.observer.of_type(MessageReceived)), 3)
        self.assertTrue(all(conn_id == 7 for conn_id, _ in self.observer.events_seen))

    def test_large_echo_is_not_joined_again(self) -> None:
        """A large frame's header and payload go to the transport as two pieces, once."""
        self.start(NO_TIMERS)
        sequences: list[list[bytes]] = []
        real = self.transport.writeSequence
        self.transport.writeSequence = lambda seq: (sequences.append(list(seq)), real(seq))  # type: ignore[method-assign]
        payload = bytes(range(256)) * 4096
        self.peer.send_binary(payload)
        wire = self.peer.data_to_send()
        for start in range(0, len(wire), 65536):
            self.wire.dataReceived(wire[start : start + 65536])
        self.assertEqual(len(sequences), 1)
        head, body = sequences[0]
        self.assertEqual(body, payload)
        self.assertEqual(self.transport.value(), head + body)

    def test_frame_split_across_reads(self) -> None:
        """A frame that arrives a byte at a time is echoed once it is whole."""
        self.start(NO_TIMERS)
        self.peer.send_text("split")
        data = self.peer.data_to_send()
        for i in range(len(data) - 1):
            self.wire.dataReceived(data[i : i + 1])
            self.assertEqual(self.transport.value(), b"")
        self.wire.dataReceived(data[-1:])
        self.assertEqual(self.frames(), [(Opcode.TEXT, b"split")])

    def test_peer_fault_fails_with_its_close_code(self) -> None:
        """An unmasked client frame: Close 1002, our side closes, the cause names the rule."""
        self.start(Timeouts(close=5.0, ping_interval=None, ping_timeout=None))
        self.wire.dataReceived(b"\x81\x05hello")
        closes = [e for e in self.received(answer=True) if isinstance(e, ConnectionClosed)]
        self.assertEqual([c.code for c in closes], [CloseCode.PROTOCOL_ERROR])
        self.assertTrue(self.transport.disconnecting)
        failed = self.observer.of_type(ConnectionFailed)
        self.assertEqual([f.violation.rule for f in failed], ["mask-required"])  # type: ignore[union-attr]
        self.lose()
        self.assertEqual(self.cause(), "failed: mask-required (1002)")

    def test_message_too_big_fails_with_1009(self) -> None:
        """A frame declaring more than max_message_size fails at once with 1009."""
        self.start(NO_TIMERS, max_message_size=100)
        self.peer.send_binary(b"x" * 101)
        self.wire.dataReceived(self.peer.data_to_send()[:10])  # the header is enough
        closes = [e for e in self.received(answer=True) if isinstance(e, ConnectionClosed)]
        self.assertEqual([c.code for c in closes], [CloseCode.MESSAGE_TOO_BIG])
        self.assertTrue(self.transport.disconnecting)

    def test_lost_without_close(self) -> None:
        """A TCP loss without a Close frame is a 1006 close, reported once with its cause."""
        self.start(NO_TIMERS)
        self.lose()
        closes = self.observer.of_type(ConnectionClosed)
        self.assertEqual([c.code for c in closes], [CloseCode.ABNORMAL_CLOSURE])  # type: ignore[union-attr]
        self.assertEqual(self.cause(), "connection lost without a Close frame")
        self.assertIs(self.wire.close_event, closes[0])


class BackPressureTests(WireFixture):
    """The wire is the transport's push producer and passes pauses through to reading."""

    def test_registered_as_streaming_producer(self) -> None:
        """connectionMade registers the wire as the transport's streaming producer."""
        self.start(NO_TIMERS)
        self.assertIs(self.transport.producer, self.wire)
        self.assertTrue(self.transport.streaming)

    def test_pause_and_resume_reading(self) -> None:
        """pauseProducing stops the transport reading; resumeProducing starts it again."""
        self.start(NO_TIMERS)
        self.wire.pauseProducing()
        self.assertEqual(self.transport.producerState, "paused")
        self.wire.resumeProducing()
        self.assertEqual(self.transport.producerState, "producing")
        self.wire.stopProducing()  # the transport is going away: nothing to do
        self.assertEqual(self.transport.producerState, "producing")


class CloseHandshakeTests(WireFixture):
    """The closing handshake and its timer."""

    def test_peer_initiated_close_is_answered(self) -> None:
        """A peer's Close is echoed with its code, and our side of TCP is closed."""
        self.start(Timeouts(close=5.0, ping_interval=None, ping_timeout=None))
        self.send("close", 1000, "bye")
        closes = [e for e in self.received() if isinstance(e, ConnectionClosed)]
        self.assertEqual([(c.code, c.clean) for c in closes], [(1000, True)])
        self.assertTrue(self.transport.disconnecting)
        self.lose()
        self.assertEqual(self.cause(), "closed cleanly")

    def test_our_close_then_peer_answer(self) -> None:
        """close() sends a Close; the peer's answer makes us close TCP, cleanly."""
        self.start(Timeouts(close=5.0, ping_interval=None, ping_timeout=None))
        self.wire.close(CloseCode.NORMAL_CLOSURE, "done")
        self.assertEqual(self.wire.conn.state, State.CLOSING)
        self.received()  # the peer answers automatically
        self.wire.dataReceived(self.peer.data_to_send())
        self.assertTrue(self.transport.disconnecting)
        self.assertFalse(self.transport.disconnected)
        self.lose()
        self.assertEqual(self.wire.close_event.code, 1000)  # type: ignore[union-attr]
        self.assertTrue(self.wire.close_event.clean)  # type: ignore[union-attr]

    def test_close_twice_is_ignored(self) -> None:
        """A second close() while closing sends nothing more."""
        self.start(Timeouts(close=5.0, ping_interval=None, ping_timeout=None))
        self.wire.close(CloseCode.GOING_AWAY)
        first = self.transport.value()
        self.wire.close(CloseCode.NORMAL_CLOSURE)
        self.assertEqual(self.transport.value(), first)

    def test_close_timeout_aborts(self) -> None:
        """No Close from the peer within the close timeout: the connection is aborted."""
        self.start(Timeouts(close=3.0, ping_interval=None, ping_timeout=None))
        self.wire.close(CloseCode.NORMAL_CLOSURE)
        self.clock.advance(2.9)
        self.assertFalse(self.transport.disconnected)
        self.clock.advance(0.1)
        self.assertTrue(self.transport.disconnected)
        self.lose()
        self.assertEqual(self.cause(), "no Close frame from the peer in time")

    def test_abort_when_peer_never_reads(self) -> None:
        """After a clean close, a peer that leaves TCP open is aborted after the close timeout."""
        self.start(Timeouts(close=3.0, ping_interval=None, ping_timeout=None))
        self.send("close", 1000, "")
        self.assertTrue(self.transport.disconnecting)
        self.assertFalse(self.transport.disconnected)
        self.clock.advance(3.0)
        self.assertTrue(self.transport.disconnected)


class KeepaliveTests(WireFixture):
    """Pings after ping_interval; 1011 when the Pong is late."""

    TIMEOUTS = Timeouts(close=5.0, ping_interval=20.0, ping_timeout=10.0)

    def test_ping_after_interval(self) -> None:
        """Nothing is sent before the interval; then one Ping with a numbered payload."""
        self.start(self.TIMEOUTS)
        self.clock.advance(19.9)
        self.assertEqual(self.transport.value(), b"")
        self.clock.advance(0.1)
        self.assertEqual(self.frames(), [(Opcode.PING, b"wstool keepalive 1")])

    def test_pong_schedules_the_next_ping(self) -> None:
        """The Pong (sent by the peer's Connection) cancels the timeout; the next Ping follows."""
        self.start(self.TIMEOUTS)
        self.clock.advance(20)
        self.received()
        self.wire.dataReceived(self.peer.data_to_send())  # the automatic Pong
        self.clock.advance(15)  # past the ping timeout: no 1011
        self.assertEqual(self.transport.value(), b"")
        self.clock.advance(5)
        self.assertEqual(self.frames(), [(Opcode.PING, b"wstool keepalive 2")])

    def test_no_pong_closes_with_1011(self) -> None:
        """Without a Pong within ping_timeout the wire closes with 1011."""
        self.start(self.TIMEOUTS)
        self.clock.advance(20)
        self.frames()
        self.clock.advance(9.9)
        self.assertEqual(self.transport.value(), b"")
        self.clock.advance(0.1)
        self.received()
        self.assertEqual(
            self.peer.close_received, (CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        )
        self.lose()
        self.assertEqual(self.cause(), "no Pong in time")

    def test_unsolicited_pong_does_not_count(self) -> None:
        """A Pong with another payload does not stop the 1011."""
        self.start(self.TIMEOUTS)
        self.clock.advance(20)
        self.frames()
        self.peer.data_to_send()  # the peer's automatic Pong is never delivered
        self.send("pong", b"something else")
        self.clock.advance(10)
        self.received()
        self.assertEqual(
            self.peer.close_received, (CloseCode.INTERNAL_ERROR, "keepalive ping timeout")
        )

    def test_keepalive_off(self) -> None:
        """ping_interval None schedules no timer at all."""
        self.start(NO_TIMERS)
        self.assertEqual(self.clock.getDelayedCalls(), [])


class IdleTests(WireFixture):
    """Close 1001 after idle seconds without a frame from the peer."""

    TIMEOUTS = Timeouts(close=5.0, ping_interval=None, ping_timeout=None, idle=30.0)

    def test_idle_closes_with_1001(self) -> None:
        """A silent peer gets Close 1001 "idle timeout" after the idle limit."""
        self.start(self.TIMEOUTS)
        self.clock.advance(29.9)
        self.assertEqual(self.transport.value(), b"")
        self.clock.advance(0.1)
        self.received()
        self.assertEqual(self.peer.close_received, (CloseCode.GOING_AWAY, "idle timeout"))
        self.lose()
        self.assertEqual(self.cause(), "idle timeout")

    def test_data_resets_the_idle_timer(self) -> None:
        """Each frame from the peer starts the idle period again."""
        self.start(self.TIMEOUTS)
        for _ in range(3):
            self.clock.advance(20)
            self.send("text", "still here")
        self.assertEqual(self.frames(), [(Opcode.TEXT, b"still here")] * 3)
        self.clock.advance(29)
        self.assertEqual(self.transport.value(), b"")
        self.clock.advance(1)
        self.received()
        self.assertEqual(self.peer.close_received, (CloseCode.GOING_AWAY, "idle timeout"))


class PingScheduleTests(SynchronousTestCase):
    """One shared timer pings many connections, each one interval after it was scheduled."""

    class Stub:
        def __init__(self, name: str, log: list[tuple[str, float]], clock: Any) -> None:
            self.name, self.log, self.clock = name, log, clock

        def _send_ping(self) -> None:
            self.log.append((self.name, self.clock.seconds()))

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.log: list[tuple[str, float]] = []
        self.schedule = PingSchedule(self.clock, 10.0)

    def stub(self, name: str) -> Any:
        return self.Stub(name, self.log, self.clock)

    def test_each_pinged_one_interval_after_it_was_added(self) -> None:
        a, b, c = self.stub("a"), self.stub("b"), self.stub("c")
        self.schedule.add(a)
        self.clock.advance(3)
        self.schedule.add(b)
        self.clock.advance(4)
        self.schedule.add(c)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1, "one reactor timer for all")
        for _ in range(30):
            self.clock.advance(1)
        self.assertEqual(self.log, [("a", 10.0), ("b", 13.0), ("c", 17.0)])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_adding_again_postpones(self) -> None:
        a, b = self.stub("a"), self.stub("b")
        self.schedule.add(a)
        self.schedule.add(b)
        self.clock.advance(5)
        self.schedule.add(a)  # a was active: its ping moves to 15
        self.clock.advance(5)
        self.assertEqual(self.log, [("b", 10.0)])
        self.clock.advance(5)
        self.assertEqual(self.log, [("b", 10.0), ("a", 15.0)])

    def test_timer_stops_when_the_last_is_discarded(self) -> None:
        a, b = self.stub("a"), self.stub("b")
        self.schedule.add(a)
        self.schedule.add(b)
        self.schedule.discard(a)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.schedule.discard(b)
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(20)
        self.assertEqual(self.log, [])


class _SendsOnWhenTold(Recorder):
    """An observer that sends one more message while it is told of a frame sent
    (as replay's driver sends its next message once an answer is reported)."""

    def __init__(self) -> None:
        super().__init__()
        self.wire: WireProtocol | None = None
        self.sent_on = False

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        super().events(conn_id, events)
        answered = any(isinstance(e, MessageSent) for e in events)
        if self.wire is not None and answered and not self.sent_on:
            self.sent_on = True
            self.wire.conn.send_message(Opcode.TEXT, b"sent on")
            self.wire.flush()


class NestedFlushTests(WireFixture):
    """flush() called while a flush runs: served after it, never left for the next read."""

    def test_a_message_queued_while_reporting_is_written_at_once(self) -> None:
        self.observer = _SendsOnWhenTold()
        wire = self.start(Timeouts())
        self.observer.wire = wire
        self.send("text", "hello")
        messages = [e.data for e in self.received() if isinstance(e, MessageReceived)]
        self.assertEqual(messages, [b"hello", b"sent on"])
