"""wstool.net.faults and wstool.net.mockserve in memory: faults and mock rules on a site.

Each connection is the site's protocol on a :class:`StringTransport`; the
client end is a core client :class:`Connection` with a pinned mask; time is
a :class:`MemoryReactorClock`. The same faults are watched from real clients
over loopback in tests/cli/test_serve_faults.py.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from wstool.core.connection import Connection
from wstool.core.events import Event, FrameReceived, MessageReceived, PongReceived
from wstool.core.frames import Opcode, Role
from wstool.mock.faults import Faults
from wstool.mock.rules import load_rules
from wstool.net.faults import BehaviourFactory, with_faults
from wstool.net.mockserve import rules_factory
from wstool.net.server import ServerOptions, WebSocketSite
from wstool.net.wire import Timeouts

KEY = "dGhlIHNhbXBsZSBub25jZQ=="
UPGRADE = (
    "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    f"Sec-WebSocket-Key: {KEY}\r\nSec-WebSocket-Version: 13\r\n\r\n"
).encode()
NO_TIMERS = Timeouts(close=5.0, ping_interval=None, ping_timeout=None, idle=None)


class Observer:
    """Keeps the notes and the close causes."""

    wants_frames = True

    def __init__(self) -> None:
        self.notes: list[tuple[int, str, dict[str, Any]]] = []
        self.causes: list[str] = []

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        pass

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        pass

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        self.causes.append(cause)

    def rejected(self, peer: str, request: bytes, status: int, reason: str) -> None:
        pass

    def note(
        self, conn_id: int, text: str, record: dict[str, Any], *, per_message: bool = False
    ) -> None:
        self.notes.append((conn_id, text, record))


class Fixture(SynchronousTestCase):
    """A site with a behaviour factory, one in-memory client."""

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.observer = Observer()

    def connect(self, factory: BehaviourFactory | None) -> None:
        options = ServerOptions(timeouts=NO_TIMERS, deflate=False, behaviour=factory)
        self.site = WebSocketSite(options, self.observer, self.clock)
        addr = IPv4Address("TCP", "127.0.0.1", 40000)
        self.channel: Any = self.site.buildProtocol(addr)
        self.transport = StringTransport(peerAddress=addr)
        self.channel.makeConnection(self.transport)
        self.ws = Connection(Role.CLIENT, mask_source=lambda n: b"\x01\x02\x03\x04")
        self.ws.record_frames = True
        self.channel.dataReceived(UPGRADE)
        head, _, rest = self.transport.value().partition(b"\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 101"), head
        self.transport.clear()
        self.ws.receive_data(rest)
        self.addCleanup(self.lose)

    def send_text(self, text: str) -> None:
        self.ws.send_text(text)
        self.channel.dataReceived(self.ws.data_to_send())

    def events(self) -> list[Event]:
        self.ws.receive_data(self.transport.value())
        self.transport.clear()
        return self.ws.events()

    def messages(self) -> list[bytes]:
        return [e.data for e in self.events() if isinstance(e, MessageReceived)]

    def lose(self) -> None:
        if self.transport.connected:
            self.transport.connected = False
            self.channel.connectionLost(Failure(ConnectionDone()))

    def notes(self) -> list[str]:
        return [text for _, text, _ in self.observer.notes]


class EchoFaultTests(Fixture):
    """Faults around the echo."""

    def test_delay_keeps_order(self) -> None:
        """--delay 500: nothing before 0.5 s, then every echo in the order sent."""
        self.connect(with_faults(Faults(delay=0.5), None))
        self.send_text("a")
        self.clock.advance(0.2)
        self.send_text("b")
        self.assertEqual(self.messages(), [])
        self.clock.advance(0.3)
        self.assertEqual(self.messages(), [b"a"])
        self.clock.advance(0.2)
        self.assertEqual(self.messages(), [b"b"])
        self.assertEqual(self.notes(), ["fault: holding each reply 500 ms (--delay)"])

    def test_fragment(self) -> None:
        """--fragment 3: one echo, three frames (TEXT, CONTINUATION, CONTINUATION)."""
        self.connect(with_faults(Faults(fragment=3), None))
        self.send_text("hello")
        events = self.events()
        frames = [e.frame.opcode for e in events if isinstance(e, FrameReceived)]
        self.assertEqual(frames, [Opcode.TEXT, Opcode.CONTINUATION, Opcode.CONTINUATION])
        self.assertEqual([e.data for e in events if isinstance(e, MessageReceived)], [b"hello"])

    def test_close_after(self) -> None:
        """--close-after 2 --close-code 4001: two echoes, then Close 4001."""
        self.connect(with_faults(Faults(close_after=2, close_code=4001), None))
        self.send_text("1")
        self.send_text("2")
        self.assertEqual(self.messages(), [b"1", b"2"])
        self.assertEqual(self.ws.close_received, (4001, "--close-after 2"))
        self.assertIn("fault: closing with 4001 after 2 messages (--close-after)", self.notes())

    def test_drop_after(self) -> None:
        """--drop-after 1: the echo, then TCP aborted with no Close frame."""
        self.connect(with_faults(Faults(drop_after=1), None))
        self.send_text("only")
        self.assertEqual(self.messages(), [b"only"])
        self.assertTrue(self.transport.disconnected)
        self.assertIsNone(self.ws.close_received)
        self.lose()
        self.assertEqual(
            self.observer.causes, ["dropped by the server after 1 message (--drop-after)"]
        )

    def test_delayed_drop_comes_after_the_echo(self) -> None:
        """With --delay the ending waits behind the held echo."""
        self.connect(with_faults(Faults(delay=1.0, drop_after=1), None))
        self.send_text("x")
        self.assertFalse(self.transport.disconnected)
        self.clock.advance(1.0)
        self.assertEqual(self.messages(), [b"x"])
        self.assertTrue(self.transport.disconnected)

    def test_inhibit_pongs(self) -> None:
        """--inhibit-pongs 1: the first Ping answered, the second not, and the log says so."""
        self.connect(with_faults(Faults(inhibit_pongs=1), None))
        for payload in (b"p1", b"p2"):
            self.ws.send_ping(payload)
            self.channel.dataReceived(self.ws.data_to_send())
        pongs = [e.data for e in self.events() if isinstance(e, PongReceived)]
        self.assertEqual(pongs, [b"p1"])
        self.assertEqual(
            self.notes(), ["fault: answered 1 Ping(s); no more Pongs (--inhibit-pongs)"]
        )

    def test_slow_read_pauses_the_transport(self) -> None:
        """--slow-read 100: 50 bytes read -> reading paused 0.5 s, then resumed."""
        self.connect(with_faults(Faults(slow_read=100), None))
        self.send_text("x" * 44)  # 50 bytes on the wire with header and mask
        self.assertEqual(self.transport.producerState, "paused")
        self.clock.advance(0.49)
        self.assertEqual(self.transport.producerState, "paused")
        self.clock.advance(0.02)
        self.assertEqual(self.transport.producerState, "producing")
        self.assertEqual(self.messages(), [b"x" * 44])
        self.assertEqual(
            self.notes(), ["fault: reading 100 bytes/s at most (--slow-read): pausing"]
        )

    def test_no_faults_is_the_plain_echo(self) -> None:
        """Faults() changes nothing: the factory stays None (the core's own echo)."""
        self.assertIsNone(with_faults(Faults(), None))
        self.assertIsNone(with_faults(None, None))


RULES = r"""
on_connect: [welcome]
rules:
  - match: {json: {op: sub}}
    reply: ['{"op":"subscribed","id":{json.id}}']
  - match: {text: '^ping-(\d+)$'}
    reply: ['pong-{1}']
    delay: 0.2
  - match: {text: '^bye$'}
    reply: [ciao]
    close: {code: 4000, reason: bye}
  - match: {text: '^quiet$'}
echo_unmatched: true
"""


class RulesTests(Fixture):
    """Mock rules on a connection, alone and with faults around them."""

    def test_rules(self) -> None:
        """Greeting, JSON rule, delayed regex rule, echo, silence, close."""
        self.connect(rules_factory(load_rules(RULES, "r.yaml")))
        self.assertEqual(self.messages(), [b"welcome"])
        self.send_text('{"op":"sub","id":3}')
        self.assertEqual(self.messages(), [b'{"op":"subscribed","id":3}'])
        self.send_text("ping-7")
        self.assertEqual(self.messages(), [])
        self.clock.advance(0.2)
        self.assertEqual(self.messages(), [b"pong-7"])
        self.send_text("other")
        self.send_text("quiet")
        self.assertEqual(self.messages(), [b"other"])
        self.send_text("bye")
        self.assertEqual(self.messages(), [b"ciao"])
        self.assertEqual(self.ws.close_received, (4000, "bye"))
        self.assertIn("rule: rules[1] matched, 1 reply, after 0.2 s", self.notes())

    def test_faults_apply_to_replies(self) -> None:
        """--fragment 2 --delay 100 around rules: the greeting and replies held and cut."""
        factory = with_faults(Faults(delay=0.1, fragment=2), rules_factory(load_rules(RULES)))
        self.connect(factory)
        self.assertEqual(self.events(), [])
        self.clock.advance(0.1)
        events = self.events()
        frames = [e.frame.opcode for e in events if isinstance(e, FrameReceived)]
        self.assertEqual(frames, [Opcode.TEXT, Opcode.CONTINUATION])
        self.assertEqual([e.data for e in events if isinstance(e, MessageReceived)], [b"welcome"])
        self.send_text("bye")
        self.clock.advance(0.1)
        self.assertEqual(self.messages(), [b"ciao"])
        self.assertEqual(self.ws.close_received, (4000, "bye"))

    def test_timers_stop_with_the_connection(self) -> None:
        """A reply still waiting when the client goes leaves no timer behind."""
        self.connect(with_faults(Faults(delay=5.0), rules_factory(load_rules(RULES))))
        self.send_text("ping-1")
        self.lose()
        self.assertEqual(self.clock.getDelayedCalls(), [])
