"""Tests of :mod:`wstool.net.upgrade`: taking over twisted.web's HTTP channel.

Everything runs in memory: a :class:`WebSocketSite` builds an
:class:`UpgradingChannel`, a :class:`StringTransport` records what it writes
and a :class:`MemoryReactorClock` stands in for time. The first class checks
the Twisted internals the takeover relies on and fails loudly, naming the
Twisted version, if they change.
"""

from __future__ import annotations

import re
import weakref
from collections.abc import Sequence
from typing import Any

import twisted
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.protocols.policies import TimeoutMixin
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase
from twisted.web.http import HTTPChannel
from twisted.web.resource import Resource
from twisted.web.server import Request, Site

from wstool.core.connection import Connection
from wstool.core.events import ConnectionClosed, Event, MessageReceived
from wstool.core.frames import Role
from wstool.net.server import ServerOptions, WebSocketSite
from wstool.net.upgrade import UpgradingChannel, head_has_body
from wstool.net.wire import Timeouts, WireProtocol

# RFC 6455 §1.3: the sample key and the accept value it yields.
SAMPLE_KEY = b"dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
UPGRADE_REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: " + SAMPLE_KEY + b"\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
SWITCHING = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: " + SAMPLE_ACCEPT + b"\r\n"
    b"\r\n"
)
# RFC 6455 §5.7: a single-frame masked text message, "Hello".
MASKED_HELLO = bytes.fromhex("818537fa213d7f9f4d5158")
PEER = IPv4Address("TCP", "127.0.0.1", 50000)
NO_TIMERS = Timeouts(close=5.0, ping_interval=None, ping_timeout=None, idle=None)


class Recorder:
    """A server observer that keeps everything it is told."""

    wants_frames = True

    def __init__(self) -> None:
        self.opened_calls: list[tuple[int, str, bytes, bytes]] = []
        self.events_seen: list[Event] = []
        self.closed_calls: list[tuple[int, str, str]] = []
        self.rejected_calls: list[tuple[str, bytes, int, str]] = []

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        self.opened_calls.append((conn_id, peer, request, response))

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        self.events_seen.extend(events)

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        self.closed_calls.append((conn_id, peer, cause))

    def rejected(self, peer: str, request: bytes, status: int, reason: str) -> None:
        self.rejected_calls.append((peer, request, status, reason))


class ChannelFixture(SynchronousTestCase):
    """Builds channels from a site with in-memory transport and clock."""

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.observer = Recorder()

    def connect(self, **options: Any) -> tuple[UpgradingChannel, StringTransport]:
        options.setdefault("timeouts", NO_TIMERS)
        site = WebSocketSite(ServerOptions(**options), self.observer, self.clock)
        channel = site.buildProtocol(PEER)
        transport = StringTransport(peerAddress=PEER)
        channel.makeConnection(transport)
        self.addCleanup(self._lose, channel, transport)
        return channel, transport

    def _lose(self, channel: UpgradingChannel, transport: StringTransport) -> None:
        if transport.connected:
            transport.connected = False
            channel.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(self.clock.getDelayedCalls(), [], "a timer outlived its connection")


def _status(response: bytes) -> int:
    return int(response.split(b" ", 2)[1])


def _client_events(data: bytes) -> list[Event]:
    """What a client makes of the bytes the server wrote after its 101."""
    client = Connection(Role.CLIENT, mask_source=lambda n: b"\x00" * n)
    client.receive_data(data)
    return client.events()


class TwistedInternalsTests(SynchronousTestCase):
    """The twisted.web behaviour upgrade.py relies on; a failure here names the version."""

    def require(self, holds: bool, behaviour: str) -> None:
        if not holds:
            self.fail(
                f"Twisted {twisted.__version__} changed: {behaviour} no longer holds. "
                "wstool/net/upgrade.py (UpgradingChannel) relies on it to take over "
                "the HTTP channel; adapt it to this Twisted before shipping."
            )

    def plain_channel(self, clock: MemoryReactorClock) -> tuple[HTTPChannel, StringTransport]:
        channel = HTTPChannel()
        channel.callLater = clock.callLater  # type: ignore[method-assign]
        channel.timeOut = 60  # what HTTPFactory.buildProtocol sets
        transport = StringTransport()
        channel.makeConnection(transport)
        return channel, transport

    def test_channel_registers_itself_as_streaming_producer(self) -> None:
        """HTTPChannel.connectionMade registers the channel as the transport's push producer."""
        channel, transport = self.plain_channel(MemoryReactorClock())
        self.require(
            transport.producer is channel and bool(transport.streaming),
            "HTTPChannel.connectionMade registers the channel as the transport's "
            "streaming producer (UpgradingChannel.upgrade unregisters it)",
        )
        channel.connectionLost(Failure(ConnectionDone()))

    def test_tcp_connection_made_is_what_the_channel_does_itself(self) -> None:
        """On a TCP transport, UpgradingChannel.connectionMade does HTTPChannel's work itself:
        the same attributes set, the same producer registered, TCP_NODELAY on."""
        import socket

        from twisted.internet import tcp

        def made(channel: HTTPChannel) -> tuple[set[str], Any, bool, bool, int]:
            listener = socket.create_server(("127.0.0.1", 0))
            peer = socket.create_connection(listener.getsockname())
            ours, address = listener.accept()
            listener.close()
            clock = MemoryReactorClock()
            channel.callLater = clock.callLater  # type: ignore[method-assign]
            channel.timeOut = None  # no idle timer in either
            transport = tcp.Server(ours, channel, address, None, 1, clock)  # type: ignore[arg-type]
            before = set(vars(channel)) | {"transport", "connected"}
            channel.makeConnection(transport)
            nodelay = ours.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
            result = (
                set(vars(channel)) - before,
                getattr(channel, "_networkProducer", None) is transport,
                transport.producer is channel,
                bool(transport.streamingProducer),
                nodelay,
            )
            peer.close()
            ours.close()
            return result

        theirs = made(HTTPChannel())
        channel = UpgradingChannel()
        channel.handshake_timeout = None
        ours = made(channel)
        self.require(
            theirs[1:] == ours[1:] == (True, True, True, 1) and theirs[0] <= ours[0],
            "HTTPChannel.connectionMade on a TCP transport sets TCP_NODELAY, "
            "_networkProducer (the transport) and registers the channel as its streaming "
            f"producer, and nothing else (it set {sorted(theirs[0])})",
        )

    def test_channel_is_a_timeout_mixin(self) -> None:
        """HTTPChannel is a TimeoutMixin whose setTimeout(None) cancels its keep-alive timer."""
        self.require(
            issubclass(HTTPChannel, TimeoutMixin) and callable(HTTPChannel.setTimeout),
            "HTTPChannel is a policies.TimeoutMixin with setTimeout()",
        )
        clock = MemoryReactorClock()
        channel, _ = self.plain_channel(clock)
        self.require(
            len(clock.getDelayedCalls()) == 1,
            "HTTPChannel.connectionMade starts one keep-alive timer on channel.callLater",
        )
        channel.setTimeout(None)
        self.require(
            clock.getDelayedCalls() == [],
            "HTTPChannel.setTimeout(None) cancels the keep-alive timer",
        )
        channel.connectionLost(Failure(ConnectionDone()))

    def test_transports_deliver_through_their_protocol_attribute(self) -> None:
        """TCP reads go to ``transport.protocol``; TLS to its ``wrappedProtocol``."""
        import inspect

        from twisted.internet import tcp
        from twisted.protocols.tls import TLSMemoryBIOProtocol

        self.require(
            "self.protocol.dataReceived" in inspect.getsource(tcp.Connection._dataReceived),
            "tcp.Connection delivers reads to self.protocol",
        )
        from twisted.protocols.policies import ProtocolWrapper

        self.require(
            issubclass(TLSMemoryBIOProtocol, ProtocolWrapper)
            and "self.wrappedProtocol.dataReceived"
            in inspect.getsource(ProtocolWrapper.dataReceived),
            "TLSMemoryBIOProtocol delivers to self.wrappedProtocol",
        )

    def test_write_buffer_starts_as_class_attributes(self) -> None:
        """FileDescriptor's dataBuffer/offset default to b"" and 0 (set early, unchanged)."""
        from twisted.internet.abstract import FileDescriptor

        self.require(
            FileDescriptor.dataBuffer == b"" and FileDescriptor.offset == 0,
            "FileDescriptor.dataBuffer and .offset are class attributes b'' and 0",
        )

    def test_site_protocol_attribute_builds_the_channel(self) -> None:
        """Site.buildProtocol makes an instance of Site.protocol, unwrapped."""
        site = WebSocketSite(ServerOptions(), Recorder(), MemoryReactorClock())
        self.require(
            isinstance(site.buildProtocol(PEER), UpgradingChannel),
            "Site.buildProtocol returns an instance of the Site.protocol class",
        )

    def test_bodyless_get_is_rendered_inside_data_received(self) -> None:
        """A body-less GET head is rendered and answered before dataReceived returns."""
        clock = MemoryReactorClock()
        rendered: list[tuple[bytes, Any]] = []

        class Probe(Resource):
            isLeaf = True

            def render_GET(self, request: Request) -> bytes:
                rendered.append((request.path, request.channel))
                return b"probe\n"

        class ProbeSite(Site):
            protocol = HTTPChannel  # type: ignore[assignment]

        site = ProbeSite(Probe(), reactor=clock)
        channel = site.buildProtocol(PEER)
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(b"GET /probe HTTP/1.1\r\nHost: x\r\n\r\n")
        self.require(
            rendered
            == [
                (b"/probe", channel),
            ]
            and transport.value().endswith(b"\r\n\r\nprobe\n"),
            "HTTPChannel.dataReceived(head of a body-less GET) calls render_GET and "
            "writes the response synchronously, with request.channel the channel",
        )
        channel.connectionLost(Failure(ConnectionDone()))

    def test_request_done_honours_persistent(self) -> None:
        """A channel whose ``persistent`` is cleared during render closes after the response."""
        clock = MemoryReactorClock()

        class Refuse(Resource):
            isLeaf = True

            def render_GET(self, request: Request) -> bytes:
                request.channel.persistent = False
                return b"no\n"

        class ProbeSite(Site):
            protocol = HTTPChannel  # type: ignore[assignment]

        channel = ProbeSite(Refuse(), reactor=clock).buildProtocol(PEER)
        transport = StringTransport()
        channel.makeConnection(transport)
        channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.require(
            transport.disconnecting,
            "HTTPChannel.requestDone closes a channel whose `persistent` is false "
            "(UpgradingChannel.close_after_response)",
        )
        channel.connectionLost(Failure(ConnectionDone()))


class HeadHasBodyTests(SynchronousTestCase):
    """head_has_body decides which heads twisted.web may read a body for."""

    def test_no_framing_headers(self) -> None:
        """A head without Content-Length or Transfer-Encoding has no body."""
        self.assertFalse(head_has_body(UPGRADE_REQUEST))

    def test_zero_content_length(self) -> None:
        """Content-Length: 0 (any spacing and casing) announces no body."""
        self.assertFalse(head_has_body(b"GET / HTTP/1.1\r\ncontent-LENGTH:   0 \r\n\r\n"))

    def test_positive_content_length(self) -> None:
        """A positive Content-Length announces a body."""
        self.assertTrue(head_has_body(b"POST / HTTP/1.1\r\nContent-Length: 3\r\n\r\n"))

    def test_transfer_encoding(self) -> None:
        """Any Transfer-Encoding announces a body."""
        self.assertTrue(head_has_body(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n"))


class TakeoverTests(ChannelFixture):
    """The 101, and the connection handed to a WireProtocol with nothing lost."""

    def test_exact_switching_protocols_response(self) -> None:
        """The RFC 6455 §1.3 sample request gets exactly the 101 with its sample accept key."""
        channel, transport = self.connect(deflate=False)
        channel.dataReceived(UPGRADE_REQUEST)
        self.assertEqual(transport.value(), SWITCHING)
        self.assertTrue(channel.upgraded)
        self.assertFalse(transport.disconnecting)
        self.assertEqual(
            self.observer.opened_calls, [(1, "127.0.0.1:50000", UPGRADE_REQUEST, SWITCHING)]
        )

    def test_frames_behind_the_request_are_not_lost(self) -> None:
        """Frames in the same read as the request head are echoed after the 101."""
        channel, transport = self.connect()
        channel.dataReceived(UPGRADE_REQUEST + MASKED_HELLO + MASKED_HELLO)
        response = transport.value()
        self.assertTrue(response.startswith(SWITCHING))
        events = _client_events(response[len(SWITCHING) :])
        texts = [e.text for e in events if isinstance(e, MessageReceived)]
        self.assertEqual(texts, ["Hello", "Hello"])

    def _rerouted(self, tls: bool) -> None:
        site = WebSocketSite(ServerOptions(timeouts=NO_TIMERS), self.observer, self.clock)
        channel = site.buildProtocol(PEER)
        transport = StringTransport(peerAddress=PEER)
        holder: Any = transport
        if tls:  # Twisted's TLS: the TCP transport -> TLS protocol -> channel
            holder = type("TLSProtocol", (), {})()
            transport.protocol = holder  # type: ignore[attr-defined]
        holder.wrappedProtocol = channel if tls else None
        if not tls:
            transport.protocol = channel  # type: ignore[attr-defined]
        channel.makeConnection(transport)
        gone = weakref.ref(channel)
        channel.dataReceived(UPGRADE_REQUEST + MASKED_HELLO)
        wire = transport.protocol.wrappedProtocol if tls else transport.protocol  # type: ignore[attr-defined]
        self.assertIsInstance(wire, WireProtocol)
        del channel
        self.assertIsNone(gone(), "the HTTP channel outlived the upgrade")
        wire.dataReceived(MASKED_HELLO)
        response = transport.value()
        events = _client_events(response[len(SWITCHING) :])
        texts = [e.text for e in events if isinstance(e, MessageReceived)]
        self.assertEqual(texts, ["Hello", "Hello"])
        transport.connected = False
        wire.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(site.wires, set())

    def test_tcp_transport_delivers_to_the_wire(self) -> None:
        """Over TCP the transport is handed to the wire; the HTTP channel is freed at once."""
        self._rerouted(tls=False)

    def test_tls_transport_delivers_to_the_wire(self) -> None:
        """Over TLS the TLS layer is pointed at the wire; the HTTP channel is freed at once."""
        self._rerouted(tls=True)

    def test_request_split_across_reads(self) -> None:
        """A head trickling in one byte per read still upgrades, and a frame after it echoes."""
        channel, transport = self.connect(deflate=False)
        for i in range(len(UPGRADE_REQUEST)):
            self.assertFalse(channel.upgraded)
            channel.dataReceived(UPGRADE_REQUEST[i : i + 1])
        self.assertEqual(transport.value(), SWITCHING)
        channel.dataReceived(MASKED_HELLO[:3])
        channel.dataReceived(MASKED_HELLO[3:])
        self.assertEqual(transport.value(), SWITCHING + b"\x81\x05Hello")

    def test_request_head_kept_byte_exact(self) -> None:
        """Header casing, order and repeated headers reach the observer exactly as sent."""
        head = (
            b"GET /x?y=1 HTTP/1.1\r\n"
            b"host: Example.COM\r\n"
            b"UPGRADE: WebSocket\r\n"
            b"connection: keep-alive, Upgrade\r\n"
            b"X-Twice: one\r\n"
            b"sec-websocket-key: " + SAMPLE_KEY + b"\r\n"
            b"x-twice: two\r\n"
            b"Sec-WebSocket-Version:13\r\n"
            b"\r\n"
        )
        channel, _ = self.connect()
        channel.dataReceived(head)
        self.assertTrue(channel.upgraded)
        self.assertEqual(channel.request_head, head)
        self.assertEqual(self.observer.opened_calls[0][2], head)

    def test_wire_becomes_the_transport_producer(self) -> None:
        """After the 101 the WireProtocol, not the HTTP channel, is the transport's producer."""
        channel, transport = self.connect()
        self.assertIs(transport.producer, channel)
        channel.dataReceived(UPGRADE_REQUEST)
        self.assertIsInstance(transport.producer, WireProtocol)
        self.assertTrue(transport.streaming)

    def test_keepalive_timer_of_http_stops_at_upgrade(self) -> None:
        """twisted.web's keep-alive timeout does not fire on an upgraded connection."""
        channel, transport = self.connect()
        channel.dataReceived(UPGRADE_REQUEST)
        self.clock.advance(3600)
        self.assertFalse(transport.disconnecting)

    def test_connection_lost_reaches_the_wire(self) -> None:
        """Once upgraded, losing the TCP connection is reported as a 1006 close."""
        channel, transport = self.connect()
        channel.dataReceived(UPGRADE_REQUEST)
        transport.connected = False
        channel.connectionLost(Failure(ConnectionDone()))
        closes = [e for e in self.observer.events_seen if isinstance(e, ConnectionClosed)]
        self.assertEqual([c.code for c in closes], [1006])
        self.assertEqual(
            self.observer.closed_calls,
            [(1, "127.0.0.1:50000", "connection lost without a Close frame")],
        )


class PlainRequestTests(ChannelFixture):
    """Requests that are not upgrades stay plain HTTP."""

    def test_pipelined_plain_requests_are_each_answered(self) -> None:
        """Two GETs in one read get the console page and then a 400 (no upgrade), in order."""
        channel, transport = self.connect()
        channel.dataReceived(
            b"GET / HTTP/1.1\r\nHost: x\r\n\r\nGET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
        )
        statuses = [int(m) for m in re.findall(rb"HTTP/1\.1 (\d{3}) ", transport.value())]
        self.assertEqual(statuses, [200, 400])
        self.assertFalse(channel.upgraded)

    def test_upgrade_after_a_plain_request(self) -> None:
        """A keep-alive connection can fetch the console, then upgrade."""
        channel, transport = self.connect(deflate=False)
        channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        transport.clear()
        channel.dataReceived(UPGRADE_REQUEST + MASKED_HELLO)
        self.assertEqual(transport.value(), SWITCHING + b"\x81\x05Hello")

    def test_head_with_a_body_goes_to_twisted(self) -> None:
        """A POST with a body is read by twisted.web and refused with a one-line 405."""
        channel, transport = self.connect()
        head = UPGRADE_REQUEST.replace(b"GET", b"POST").replace(
            b"\r\n\r\n", b"\r\nContent-Length: 5\r\n\r\n"
        )
        channel.dataReceived(head + b"hello")
        response = transport.value()
        self.assertEqual(_status(response), 405)
        self.assertTrue(response.endswith(b"\r\n\r\nmethod 'POST' is not GET\n"), response)
        self.assertFalse(channel.upgraded)
        self.assertTrue(transport.disconnecting)


class LimitTests(ChannelFixture):
    """The head size and handshake time limits."""

    def test_oversized_head_without_end_gets_431(self) -> None:
        """More than max_request_size bytes without a blank line: 431 and close."""
        channel, transport = self.connect(max_request_size=1024)
        channel.dataReceived(b"GET / HTTP/1.1\r\nX-Big: " + b"a" * 1100)
        response = transport.value()
        self.assertEqual(_status(response), 431)
        self.assertTrue(response.endswith(b"\r\n\r\nrequest head too large\n"))
        self.assertTrue(transport.disconnecting)
        channel.dataReceived(b"\r\n\r\n" + MASKED_HELLO)  # ignored: no second answer
        self.assertEqual(transport.value(), response)

    def test_oversized_complete_head_gets_431(self) -> None:
        """A complete head over the limit is refused even though it ends in the same read."""
        channel, transport = self.connect(max_request_size=200)
        head = UPGRADE_REQUEST.replace(b"\r\n\r\n", b"\r\nX-Pad: " + b"p" * 200 + b"\r\n\r\n")
        channel.dataReceived(head)
        self.assertEqual(_status(transport.value()), 431)
        self.assertFalse(channel.upgraded)
        self.assertEqual(self.observer.opened_calls, [])

    def test_head_at_the_limit_is_accepted(self) -> None:
        """A head of exactly max_request_size bytes upgrades."""
        channel, transport = self.connect(max_request_size=len(UPGRADE_REQUEST), deflate=False)
        channel.dataReceived(UPGRADE_REQUEST)
        self.assertEqual(transport.value(), SWITCHING)

    def test_handshake_timeout_drops_a_slow_client(self) -> None:
        """A client that has not finished its head in handshake_timeout seconds is aborted."""
        channel, transport = self.connect(handshake_timeout=2.0)
        channel.dataReceived(UPGRADE_REQUEST[:20])
        self.clock.advance(1.9)
        channel.dataReceived(UPGRADE_REQUEST[20:40])  # trickling does not extend it
        self.assertFalse(transport.disconnected)
        self.clock.advance(0.1)
        self.assertTrue(transport.disconnected, "the connection should be aborted")
        self.assertEqual(transport.value(), b"")

    def test_handshake_timer_stops_at_upgrade(self) -> None:
        """An upgraded connection outlives the handshake timeout."""
        channel, transport = self.connect(handshake_timeout=2.0)
        channel.dataReceived(UPGRADE_REQUEST)
        self.clock.advance(10)
        self.assertFalse(transport.disconnecting)

    def test_handshake_timer_stops_after_a_plain_request(self) -> None:
        """A finished plain request cancels the handshake timer."""
        channel, transport = self.connect(handshake_timeout=2.0)
        channel.dataReceived(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")
        self.clock.advance(5)
        self.assertFalse(transport.disconnected)


class LocalAddressTests(ChannelFixture):
    """A site that knows its one listening address answers getHost() without asking the socket."""

    def test_known_address(self) -> None:
        site = WebSocketSite(ServerOptions(timeouts=NO_TIMERS), self.observer, self.clock)
        site.local_address = IPv4Address("TCP", "127.0.0.2", 9999)
        channel = site.buildProtocol(PEER)
        channel.makeConnection(StringTransport(peerAddress=PEER))
        self.assertEqual(channel.getHost(), IPv4Address("TCP", "127.0.0.2", 9999))
        channel.connectionLost(Failure(ConnectionDone()))

    def test_unknown_address_asks_the_transport(self) -> None:
        channel, transport = self.connect()
        self.assertEqual(channel.getHost(), transport.getHost())


CLIENT_HELLO_START = bytes.fromhex("160301020001") + b"\x00" * 20


class StartTLSTransport(StringTransport):
    """A StringTransport whose startTLS puts a recording TLS layer in front, as TCP does."""

    def __init__(self) -> None:
        super().__init__(peerAddress=PEER)
        self.tls_options: Any = None
        self.protocol: Any = None
        self.tls_received: list[bytes] = []

    def startTLS(self, contextFactory: Any) -> None:
        self.tls_options = contextFactory
        received = self.tls_received

        class Layer:
            def dataReceived(self, data: bytes) -> None:
                received.append(data)

        self.protocol = Layer()


class WrongPortTests(ChannelFixture):
    """First bytes decide: TLS on a plain port, plain HTTP on a TLS port, refused at once."""

    def test_client_hello_on_a_plain_port(self) -> None:
        """A ClientHello: 400 in plain text, reported as wss:// on a ws:// port, closed."""
        channel, transport = self.connect()
        channel.dataReceived(CLIENT_HELLO_START)
        self.assertEqual(_status(transport.value()), 400)
        self.assertIn(b"this port speaks ws:// (plain HTTP), not TLS", transport.value())
        self.assertTrue(transport.disconnecting)
        [(peer, seen, status, reason)] = self.observer.rejected_calls
        self.assertEqual((peer, seen, status), ("127.0.0.1:50000", b"", 400))
        self.assertEqual(
            reason,
            "a TLS ClientHello where HTTP was expected: the client used wss:// on a ws:// port",
        )
        self.assertEqual(self.clock.getDelayedCalls(), [], "the handshake timer is stopped")
        written = transport.value()
        channel.dataReceived(b"\x00" * 200)  # the rest of the hello is ignored
        self.assertEqual(transport.value(), written)

    def test_first_byte_alone_waits(self) -> None:
        """One byte of a possible TLS record is not enough to decide; the next ones are."""
        channel, transport = self.connect()
        channel.dataReceived(b"\x16")
        self.assertEqual(transport.value(), b"")
        channel.dataReceived(b"\x03\x01")
        self.assertEqual(_status(transport.value()), 400)

    def tls_channel(self) -> tuple[UpgradingChannel, StartTLSTransport]:
        site = WebSocketSite(ServerOptions(timeouts=NO_TIMERS), self.observer, self.clock)
        site.tls = tls = object()
        channel = site.buildProtocol(PEER)
        self.assertIs(channel.tls, tls)
        transport = StartTLSTransport()
        channel.makeConnection(transport)
        self.addCleanup(self._lose, channel, transport)
        return channel, transport

    def test_client_hello_on_a_tls_port_starts_tls(self) -> None:
        """On a TLS port a ClientHello starts TLS, and the TLS layer gets the hello's bytes."""
        channel, transport = self.tls_channel()
        channel.dataReceived(CLIENT_HELLO_START[:2])
        channel.dataReceived(CLIENT_HELLO_START[2:])
        self.assertIs(transport.tls_options, channel.tls)
        self.assertEqual(transport.tls_received, [CLIENT_HELLO_START])
        self.assertEqual(transport.value(), b"")
        self.assertEqual(self.observer.rejected_calls, [])
        # What TLS decrypts comes back to the channel as HTTP.
        channel.dataReceived(UPGRADE_REQUEST)
        self.assertTrue(transport.value().startswith(b"HTTP/1.1 101 "))

    def test_plain_http_on_a_tls_port(self) -> None:
        """Plain HTTP on a TLS port: 400 "use wss://" in plain text, reported, closed."""
        channel, transport = self.tls_channel()
        channel.dataReceived(UPGRADE_REQUEST)
        self.assertIsNone(transport.tls_options)
        self.assertEqual(_status(transport.value()), 400)
        self.assertIn(b"this port speaks TLS: use wss://", transport.value())
        self.assertTrue(transport.disconnecting)
        [(_peer, seen, status, reason)] = self.observer.rejected_calls
        self.assertEqual((seen, status), (UPGRADE_REQUEST, 400))
        self.assertEqual(
            reason, "plain HTTP where TLS was expected: the client used ws:// on a wss:// port"
        )
