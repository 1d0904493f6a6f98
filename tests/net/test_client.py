"""Tests of :mod:`wstool.net.client`: the client side of the opening handshake, in memory.

The handshake protocol runs over a :class:`StringTransport` with a
:class:`MemoryReactorClock`; bytes the server would send are fed in with
``dataReceived``, the bytes the client writes are read back from the
transport. The key and mask source is pinned (``bytes(range(n))``), so the
request is known to the byte. :func:`connect` itself is driven over a
:class:`MemoryReactorClock`'s recorded TCP connection attempts.
"""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.error import ConnectionDone, ConnectionRefusedError, TimeoutError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from wstool.core.errors import UsageError
from wstool.core.events import ConnectionClosed, Event, MessageReceived
from wstool.core.handshake import accept_key
from wstool.core.uri import WebSocketURI, parse_uri
from wstool.net.client import (
    ClientOptions,
    ClientSession,
    ConnectFailed,
    HandshakeRejected,
    _Handshake,
    connect,
    proxy_for,
)


def pinned(n: int) -> bytes:
    """A deterministic 'random' source: 00 01 02 ..."""
    return bytes(range(n))


KEY = base64.b64encode(bytes(range(16))).decode("ascii")  # "AAECAwQFBgcICQoLDA0ODw=="
ACCEPT = accept_key(KEY)
DEFLATE_OFFER = "permessage-deflate; client_max_window_bits"


class Recorder:
    """A frame observer that keeps everything it is told."""

    wants_frames = True

    def __init__(self) -> None:
        self.opened_calls: list[tuple[int, str, bytes, bytes]] = []
        self.seen: list[Event] = []
        self.closed_calls: list[tuple[int, str, str]] = []

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        self.opened_calls.append((conn_id, peer, request, response))

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        self.seen.extend(events)

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        self.closed_calls.append((conn_id, peer, cause))

    def messages(self) -> list[MessageReceived]:
        return [e for e in self.seen if isinstance(e, MessageReceived)]


class TLSStringTransport(StringTransport):
    """A StringTransport that records startTLS calls (for wss:// through a proxy)."""

    def __init__(self) -> None:
        super().__init__()
        self.tls_started: list[tuple[Any, int]] = []

    def startTLS(self, contextFactory: Any) -> None:
        self.tls_started.append((contextFactory, len(self.value())))


def response(*headers: str, status: str = "101 Switching Protocols") -> bytes:
    """A response head with these header lines."""
    return ("\r\n".join([f"HTTP/1.1 {status}", *headers]) + "\r\n\r\n").encode("latin-1")


def switching(*extra: str, accept: str = ACCEPT) -> bytes:
    """A valid 101 for the pinned key, plus ``extra`` header lines."""
    return response(
        "Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Accept: {accept}", *extra
    )


def request(host: str, target: str = "/", *extra: str, deflate: bool = True) -> bytes:
    """The request the client must send for the pinned key."""
    lines = [
        f"GET {target} HTTP/1.1",
        f"Host: {host}",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
    ]
    origin = [line for line in extra if line.startswith("Origin:")]
    protocols = [line for line in extra if line.startswith("Sec-WebSocket-Protocol:")]
    rest = [line for line in extra if line not in origin + protocols]
    lines += origin + protocols
    if deflate:
        lines.append(f"Sec-WebSocket-Extensions: {DEFLATE_OFFER}")
    lines += rest
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")


class HandshakeFixture(SynchronousTestCase):
    """Runs a _Handshake over a StringTransport; collects its result."""

    def start(
        self,
        url: str = "ws://127.0.0.1:8765/",
        *,
        proxy: str | None = None,
        transport: StringTransport | None = None,
        **options: Any,
    ) -> _Handshake:
        self.clock = MemoryReactorClock()
        self.observer = Recorder()
        self.result: Deferred[ClientSession] = Deferred()
        self.outcome: list[Any] = []
        self.result.addBoth(self.outcome.append)
        opts = ClientOptions(uri=parse_uri(url), mask_source=pinned, proxy=proxy, **options)
        proxy_uri = parse_uri(proxy.replace("http://", "ws://", 1)) if proxy else None
        self.proto = _Handshake(opts, self.observer, self.clock, self.result, proxy_uri)
        self.transport = transport if transport is not None else StringTransport()
        self.proto.makeConnection(self.transport)
        return self.proto

    def written(self) -> bytes:
        """What the client wrote since the last call."""
        data = self.transport.value()
        self.transport.clear()
        return data

    def session(self) -> ClientSession:
        """The session the handshake produced (fails the test if it failed)."""
        self.assertEqual(len(self.outcome), 1, self.outcome)
        result = self.outcome[0]
        if isinstance(result, Failure):
            self.fail(f"the handshake failed: {result.value!r}")
        assert isinstance(result, ClientSession)
        return result

    def failure(self, kind: type[Exception]) -> Any:
        """The failure the handshake ended with, which must be ``kind``."""
        self.assertEqual(len(self.outcome), 1, self.outcome)
        result = self.outcome[0]
        self.assertIsInstance(result, Failure)
        self.assertIsInstance(result.value, kind)
        return result.value


class RequestBytesTests(HandshakeFixture):
    """RFC 6455 §4.1: the opening handshake request, byte for byte."""

    def test_default_request(self) -> None:
        """Host with its port, the pinned key, version 13, and the permessage-deflate offer."""
        self.start("ws://127.0.0.1:8765/chat?room=1")
        self.assertEqual(self.written(), request("127.0.0.1:8765", "/chat?room=1"))

    def test_default_port_is_left_out_of_host(self) -> None:
        """Port 80 for ws:// and 443 for wss:// are not written into Host."""
        self.start("ws://example.com/")
        self.assertEqual(self.written(), request("example.com"))

    def test_other_scheme_default_port_is_written(self) -> None:
        """Port 443 is not ws://'s default, so it is written into Host."""
        self.start("ws://example.com:443/")
        self.assertEqual(self.written(), request("example.com:443"))

    def test_ipv6_host_is_bracketed(self) -> None:
        """An IPv6 literal goes into Host in brackets, with the port after them."""
        self.start("ws://[::1]:9000/")
        self.assertEqual(self.written(), request("[::1]:9000"))

    def test_ipv6_host_default_port(self) -> None:
        """An IPv6 literal on the default port is bracketed, with no port."""
        self.start("ws://[2001:db8::1]/x")
        self.assertEqual(self.written(), request("[2001:db8::1]", "/x"))

    def test_no_deflate(self) -> None:
        """With deflate off there is no Sec-WebSocket-Extensions header."""
        self.start("ws://127.0.0.1:8765/", deflate=False)
        self.assertEqual(self.written(), request("127.0.0.1:8765", deflate=False))

    def test_authorization_from_userinfo(self) -> None:
        """user:pass@ in the URL becomes Basic auth (percent-decoded) and leaves the Host."""
        self.start("ws://alice:p%40ss@127.0.0.1:8765/")
        token = base64.b64encode(b"alice:p@ss").decode()
        self.assertEqual(
            self.written(), request("127.0.0.1:8765", "/", f"Authorization: Basic {token}")
        )

    def test_auth_option_beats_userinfo(self) -> None:
        """--auth wins over the URL's userinfo."""
        self.start("ws://alice:x@127.0.0.1:8765/", auth=("bob", "secret"))
        token = base64.b64encode(b"bob:secret").decode()
        self.assertEqual(
            self.written(), request("127.0.0.1:8765", "/", f"Authorization: Basic {token}")
        )

    def test_explicit_authorization_header_is_kept_alone(self) -> None:
        """An Authorization given with -H is sent as given; Basic auth is not added beside it."""
        self.start(
            "ws://alice:x@127.0.0.1:8765/",
            auth=("bob", "secret"),
            headers=(("authorization", "Bearer T"),),
        )
        self.assertEqual(self.written(), request("127.0.0.1:8765", "/", "authorization: Bearer T"))

    def test_origin_subprotocols_and_extra_headers(self) -> None:
        """Origin, the subprotocols in order, then extra headers in order, repeats kept."""
        self.start(
            "ws://127.0.0.1:8765/",
            origin="https://app.example",
            subprotocols=("chat", "superchat"),
            headers=(("X-Trace", "1"), ("X-Trace", "2")),
        )
        self.assertEqual(
            self.written(),
            request(
                "127.0.0.1:8765",
                "/",
                "Origin: https://app.example",
                "Sec-WebSocket-Protocol: chat, superchat",
                "X-Trace: 1",
                "X-Trace: 2",
            ),
        )


class ResponseTests(HandshakeFixture):
    """RFC 6455 §4.1: what the client does with the server's answer."""

    def test_good_101_gives_a_session(self) -> None:
        """A valid 101 fires the Deferred with a session holding the request and the response."""
        self.start()
        sent = self.written()
        answer = switching()
        self.proto.dataReceived(answer)
        session = self.session()
        self.assertEqual(session.request, sent)
        self.assertEqual(session.response, answer)
        self.assertIsNone(session.subprotocol)
        self.assertEqual(session.extensions, ())
        self.assertTrue(session.is_open)
        self.assertEqual(self.observer.opened_calls, [(1, "ws://127.0.0.1:8765/", sent, answer)])
        self.assertEqual(self.clock.getDelayedCalls(), [], "the connect timer is cancelled")

    def test_session_sends_masked_frames(self) -> None:
        """After the 101, send_text writes a masked frame with the next key from mask_source."""
        self.start(deflate=False)
        self.written()
        self.proto.dataReceived(switching())
        session = self.session()
        session.send_text("Hi")
        # FIN + TEXT, MASK + 2, key 00 01 02 03, "Hi" xor key.
        self.assertEqual(self.written(), bytes([0x81, 0x82, 0, 1, 2, 3, ord("H"), ord("i") ^ 1]))

    def test_subprotocol_and_deflate_agreed(self) -> None:
        """The chosen subprotocol and the permessage-deflate answer are on the session."""
        self.start(subprotocols=("chat", "superchat"))
        self.proto.dataReceived(
            switching(
                "Sec-WebSocket-Protocol: superchat", "Sec-WebSocket-Extensions: permessage-deflate"
            )
        )
        session = self.session()
        self.assertEqual(session.subprotocol, "superchat")
        self.assertEqual([name for name, _ in session.extensions], ["permessage-deflate"])

    def test_compressed_message_after_deflate(self) -> None:
        """With permessage-deflate agreed, an RSV1 frame is inflated into its message."""
        self.start()
        self.proto.dataReceived(switching("Sec-WebSocket-Extensions: permessage-deflate"))
        self.session()
        # "hello" deflated (RFC 7692 §7.2.3.1), unmasked from the server.
        self.proto.dataReceived(bytes.fromhex("c1 07 f2 48 cd c9 c9 07 00"))
        self.assertEqual([m.data for m in self.observer.messages()], [b"Hello"])

    def test_bytes_right_behind_the_101_are_frames(self) -> None:
        """Frames that arrive in the same read as the 101 are not lost."""
        self.start(deflate=False)
        self.proto.dataReceived(switching() + b"\x81\x05Hello" + b"\x82\x02\x00\xff")
        self.session()
        messages = self.observer.messages()
        self.assertEqual([(m.opcode, m.data) for m in messages], [(1, b"Hello"), (2, b"\x00\xff")])

    def test_101_in_pieces_then_frames(self) -> None:
        """A 101 split across reads (even mid-line), with a frame cut in two behind it."""
        self.start(deflate=False)
        data = switching() + b"\x81\x05Hello"
        for i in range(0, len(data), 7):
            self.proto.dataReceived(data[i : i + 7])
        self.session()
        self.assertEqual([m.data for m in self.observer.messages()], [b"Hello"])

    def test_closed_fires_when_tcp_is_gone(self) -> None:
        """session.closed fires with the ConnectionClosed event when the connection ends."""
        self.start(deflate=False)
        self.proto.dataReceived(switching())
        session = self.session()
        got: list[Any] = []
        session.closed.addCallback(got.append)
        session.close(1000, "bye")
        self.proto.dataReceived(b"\x88\x02\x03\xe8")
        self.proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(len(got), 1)
        closed = got[0]
        self.assertIsInstance(closed, ConnectionClosed)
        self.assertEqual((closed.code, closed.clean), (1000, True))
        self.assertEqual(len(self.observer.closed_calls), 1)

    def test_wrong_accept_is_rejected(self) -> None:
        """A Sec-WebSocket-Accept that does not match the key fails the handshake."""
        self.start()
        self.proto.dataReceived(switching(accept="s3pPLMBiTxaQ9kYGzzhZRbK+xOo="))
        error = self.failure(HandshakeRejected)
        self.assertEqual(error.status, 101)
        self.assertIn("Sec-WebSocket-Accept", error.reason)
        self.assertIn(b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo=", error.head)
        self.assertTrue(self.transport.disconnecting)

    def test_missing_upgrade_is_rejected(self) -> None:
        """A 101 without Upgrade: websocket fails the handshake."""
        self.start()
        self.proto.dataReceived(response("Connection: Upgrade", f"Sec-WebSocket-Accept: {ACCEPT}"))
        error = self.failure(HandshakeRejected)
        self.assertIn("Upgrade header is missing", error.reason)

    def test_unoffered_subprotocol_is_rejected(self) -> None:
        """A subprotocol the client did not offer fails the handshake."""
        self.start(subprotocols=("chat",))
        self.proto.dataReceived(switching("Sec-WebSocket-Protocol: mqtt"))
        error = self.failure(HandshakeRejected)
        self.assertIn("'mqtt' was not offered (offered: chat)", error.reason)
        self.assertTrue(self.transport.disconnecting)

    def test_subprotocol_when_none_offered_is_rejected(self) -> None:
        """Any subprotocol, when none was offered, fails the handshake."""
        self.start()
        self.proto.dataReceived(switching("Sec-WebSocket-Protocol: chat"))
        self.assertIn("offered: none", self.failure(HandshakeRejected).reason)

    def test_unoffered_extension_is_rejected(self) -> None:
        """An extension the client did not offer fails the handshake."""
        self.start()
        self.proto.dataReceived(switching("Sec-WebSocket-Extensions: x-webkit-deflate-frame"))
        error = self.failure(HandshakeRejected)
        self.assertIn("'x-webkit-deflate-frame', which the client did not offer", error.reason)

    def test_deflate_answered_when_not_offered_is_rejected(self) -> None:
        """permessage-deflate in the answer fails the handshake when --no-deflate left it out."""
        self.start(deflate=False)
        self.proto.dataReceived(switching("Sec-WebSocket-Extensions: permessage-deflate"))
        self.assertIn("permessage-deflate", self.failure(HandshakeRejected).reason)

    def test_bad_deflate_parameters_are_rejected(self) -> None:
        """A permessage-deflate answer with an out-of-range window fails the handshake."""
        self.start()
        self.proto.dataReceived(
            switching("Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=7")
        )
        self.failure(HandshakeRejected)

    def test_error_statuses_are_rejected_with_head_and_body(self) -> None:
        """200, 403 and 404 are refusals carrying the status, the head and the body's start."""
        for status in ("200 OK", "403 Forbidden", "404 Not Found"):
            with self.subTest(status=status):
                self.start()
                head = response("Content-Type: text/plain", "Content-Length: 11", status=status)
                self.proto.dataReceived(head + b"go away now")
                self.assertEqual(self.outcome, [], "waits a moment for the body")
                self.clock.advance(0.2)
                error = self.failure(HandshakeRejected)
                self.assertEqual(error.status, int(status.split()[0]))
                self.assertEqual(
                    error.reason, f"the server answered {status} instead of 101 Switching Protocols"
                )
                self.assertEqual(error.head, head)
                self.assertEqual(error.body, b"go away now")
                self.assertTrue(self.transport.disconnecting)

    def test_error_status_body_arriving_later(self) -> None:
        """A body that follows the head in a later read is still captured."""
        self.start()
        self.proto.dataReceived(response("Content-Length: 9", status="403 Forbidden"))
        self.clock.advance(0.1)
        self.proto.dataReceived(b"forbidden")
        self.clock.advance(0.5)
        error = self.failure(HandshakeRejected)
        self.assertEqual((error.status, error.body), (403, b"forbidden"))

    def test_error_status_then_close(self) -> None:
        """A server that answers 404 and hangs up is a refusal, not a connection failure."""
        self.start()
        self.proto.dataReceived(response(status="404 Not Found") + b"no such path")
        self.proto.connectionLost(Failure(ConnectionDone()))
        self.clock.advance(1.0)  # the body timer fires too, harmlessly
        error = self.failure(HandshakeRejected)
        self.assertEqual((error.status, error.body), (404, b"no such path"))

    def test_long_body_is_cut(self) -> None:
        """Only the start of a long error body is kept (1024 bytes)."""
        self.start()
        self.proto.dataReceived(response(status="500 Internal Server Error") + b"x" * 5000)
        self.clock.advance(0.2)
        error = self.failure(HandshakeRejected)
        self.assertEqual(error.body, b"x" * 1024)

    def test_garbage_answer_is_rejected(self) -> None:
        """An answer that is not HTTP is a refusal with status 0 and what was received."""
        self.start()
        self.proto.dataReceived(b"SSH-2.0-OpenSSH_9.6\r\n\r\n")
        error = self.failure(HandshakeRejected)
        self.assertEqual(error.status, 0)
        self.assertTrue(error.head.startswith(b"SSH-2.0"))

    def test_server_hangs_up_before_answering(self) -> None:
        """A connection closed before any answer is a ConnectFailed saying so."""
        self.start()
        self.proto.connectionLost(Failure(ConnectionDone()))
        error = self.failure(ConnectFailed)
        self.assertEqual(str(error), "the server closed the connection during the handshake")

    def test_timeout_waiting_for_101(self) -> None:
        """No answer within connect_timeout fails with ConnectFailed and drops the connection."""
        self.start(connect_timeout=3.0)
        self.proto.dataReceived(b"HTTP/1.1 101 Switching")  # a head that never ends
        self.clock.advance(2.9)
        self.assertEqual(self.outcome, [])
        self.clock.advance(0.2)
        error = self.failure(ConnectFailed)
        self.assertIn("within 3 s", str(error))
        self.assertIn("101", str(error))
        self.assertTrue(self.transport.disconnecting)


class ProxyTests(HandshakeFixture):
    """HTTP CONNECT tunnels (RFC 9110 §9.3.6) in front of the WebSocket handshake."""

    def test_connect_request_bytes(self) -> None:
        """CONNECT names host:port (default port added) in the request line and Host."""
        self.start("ws://example.com/", proxy="http://proxy.local:3128")
        self.assertEqual(
            self.written(), b"CONNECT example.com:80 HTTP/1.1\r\nHost: example.com:80\r\n\r\n"
        )

    def test_connect_with_credentials(self) -> None:
        """The proxy URL's userinfo becomes Proxy-Authorization: Basic."""
        self.start("wss://example.com:8443/x", proxy="http://user:pa%3Ass@proxy.local:3128")
        token = base64.b64encode(b"user:pa:ss").decode()
        self.assertEqual(
            self.written(),
            b"CONNECT example.com:8443 HTTP/1.1\r\nHost: example.com:8443\r\n"
            + f"Proxy-Authorization: Basic {token}\r\n\r\n".encode(),
        )

    def test_connect_ipv6_target(self) -> None:
        """An IPv6 target is bracketed in the authority, with its port."""
        self.start("ws://[2001:db8::1]/", proxy="http://proxy.local:3128")
        self.assertEqual(
            self.written(), b"CONNECT [2001:db8::1]:80 HTTP/1.1\r\nHost: [2001:db8::1]:80\r\n\r\n"
        )

    def test_tunnel_then_upgrade(self) -> None:
        """After the proxy's 200 the upgrade request goes through the tunnel; then a 101."""
        self.start("ws://example.com:8080/chat", proxy="http://proxy.local:3128", deflate=False)
        self.written()
        self.proto.dataReceived(b"HTTP/1.1 200 Connection established\r\n\r\n")
        self.assertEqual(self.written(), request("example.com:8080", "/chat", deflate=False))
        self.proto.dataReceived(switching() + b"\x81\x02ok")
        self.session()
        self.assertEqual([m.data for m in self.observer.messages()], [b"ok"])

    def test_wss_through_proxy_starts_tls_after_the_tunnel(self) -> None:
        """For wss:// TLS starts inside the tunnel, before the upgrade request is written."""
        transport = TLSStringTransport()
        self.start("wss://example.com/", proxy="http://proxy.local:3128", transport=transport)
        connect_request = self.written()
        self.assertTrue(connect_request.startswith(b"CONNECT example.com:443 HTTP/1.1\r\n"))
        self.assertEqual(transport.tls_started, [])
        self.proto.dataReceived(b"HTTP/1.1 200 OK\r\n\r\n")
        self.assertEqual(len(transport.tls_started), 1)
        self.assertEqual(transport.tls_started[0][1], 0, "TLS starts before the request")
        self.assertEqual(self.written(), request("example.com"))

    def test_proxy_407_is_a_connect_failure(self) -> None:
        """407 from the proxy is ConnectFailed naming the status; no upgrade request is sent."""
        self.start("ws://example.com/", proxy="http://proxy.local:3128")
        self.written()
        self.proto.dataReceived(
            b"HTTP/1.1 407 Proxy Authentication Required\r\n"
            b'Proxy-Authenticate: Basic realm="p"\r\n\r\n'
        )
        error = self.failure(ConnectFailed)
        self.assertEqual(
            str(error), "the proxy refused the tunnel: 407 Proxy Authentication Required"
        )
        self.assertEqual(self.written(), b"")
        self.assertTrue(self.transport.disconnecting)

    def test_proxy_timeout(self) -> None:
        """A proxy that never answers CONNECT fails the attempt after connect_timeout."""
        self.start("ws://example.com/", proxy="http://proxy.local:3128", connect_timeout=5.0)
        self.clock.advance(5.0)
        error = self.failure(ConnectFailed)
        self.assertIn("proxy", str(error))
        self.assertIn("within 5 s", str(error))


class ConnectTests(SynchronousTestCase):
    """connect(): the TCP attempt on the reactor, and its failures as ConnectFailed."""

    def setUp(self) -> None:
        self.reactor = MemoryReactorClock()
        self.observer = Recorder()
        self.outcome: list[Any] = []

    def connect(self, url: str, **options: Any) -> Any:
        opts = ClientOptions(uri=parse_uri(url), mask_source=pinned, **options)
        d = connect(self.reactor, opts, self.observer)
        d.addBoth(self.outcome.append)
        self.assertEqual(len(self.reactor.tcpClients), 1)
        return self.reactor.tcpClients[0]

    def test_connects_to_the_server(self) -> None:
        """Without a proxy the TCP connection goes to the URL's host and port."""
        host, port, _factory, timeout, _bind = self.connect(
            "ws://127.0.0.1:8765/", connect_timeout=4.0
        )
        self.assertEqual((host, port, timeout), ("127.0.0.1", 8765, 4.0))

    def test_connects_to_the_proxy(self) -> None:
        """With a proxy the TCP connection goes to the proxy."""
        _host, port, *_ = self.connect("ws://10.1.2.3:8765/", proxy="http://127.0.0.1:3128")
        self.assertEqual(port, 3128)

    def test_whole_handshake_through_connect(self) -> None:
        """connect()'s protocol writes the request on connection and fires with a session."""
        _host, _port, factory, *_ = self.connect("ws://127.0.0.1:8765/", deflate=False)
        protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 8765))
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.assertEqual(transport.value(), request("127.0.0.1:8765", deflate=False))
        protocol.dataReceived(switching())
        self.assertEqual(len(self.outcome), 1)
        self.assertIsInstance(self.outcome[0], ClientSession)

    def test_refused(self) -> None:
        """A refused TCP connection is ConnectFailed: 'connection refused by HOST:PORT'."""
        _host, _port, factory, *_ = self.connect("ws://127.0.0.1:9/")
        factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        self.reactor.advance(1.0)
        self.assertEqual(len(self.outcome), 1)
        self.assertIsInstance(self.outcome[0].value, ConnectFailed)
        self.assertEqual(str(self.outcome[0].value), "connection refused by 127.0.0.1:9")

    def test_refused_proxy_is_named(self) -> None:
        """A refused connection to the proxy names the proxy, not the WebSocket server."""
        _host, _port, factory, *_ = self.connect(
            "ws://10.1.2.3:8765/", proxy="http://127.0.0.1:3128"
        )
        factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
        self.reactor.advance(1.0)
        self.assertEqual(
            str(self.outcome[0].value), "connection refused by 127.0.0.1:3128 (the proxy)"
        )

    def test_tcp_timeout(self) -> None:
        """A TCP connect that times out is ConnectFailed saying there was no answer."""
        _host, _port, factory, *_ = self.connect("ws://127.0.0.1:9/", connect_timeout=2.0)
        factory.clientConnectionFailed(None, Failure(TimeoutError()))
        self.reactor.advance(1.0)
        self.assertIsInstance(self.outcome[0].value, ConnectFailed)
        self.assertEqual(str(self.outcome[0].value), "no answer from 127.0.0.1:9 (timed out)")


def uri(text: str) -> WebSocketURI:
    return parse_uri(text)


class ProxyForTests(SynchronousTestCase):
    """proxy_for(): which proxy the environment names for a URI."""

    def test_http_proxy_for_ws(self) -> None:
        """ws:// uses http_proxy; https_proxy is not for it."""
        env = {"http_proxy": "http://p:1", "https_proxy": "http://s:2"}
        self.assertEqual(proxy_for(uri("ws://example.com/"), env), "http://p:1")

    def test_https_proxy_for_wss(self) -> None:
        """wss:// uses https_proxy, and not http_proxy."""
        env = {"http_proxy": "http://p:1", "https_proxy": "http://s:2"}
        self.assertEqual(proxy_for(uri("wss://example.com/"), env), "http://s:2")
        self.assertIsNone(proxy_for(uri("wss://example.com/"), {"http_proxy": "http://p:1"}))
        self.assertIsNone(proxy_for(uri("ws://example.com/"), {"https_proxy": "http://s:2"}))

    def test_upper_case_names(self) -> None:
        """HTTP_PROXY / HTTPS_PROXY / NO_PROXY work like the lower-case names."""
        env = {"HTTPS_PROXY": "http://s:2", "NO_PROXY": "internal"}
        self.assertEqual(proxy_for(uri("wss://example.com/"), env), "http://s:2")
        self.assertIsNone(proxy_for(uri("wss://internal/"), env))

    def test_all_proxy_is_the_fallback(self) -> None:
        """all_proxy applies to both schemes when the specific one is unset."""
        env = {"all_proxy": "http://a:3"}
        self.assertEqual(proxy_for(uri("ws://example.com/"), env), "http://a:3")
        self.assertEqual(proxy_for(uri("wss://example.com/"), env), "http://a:3")
        env["http_proxy"] = "http://p:1"
        self.assertEqual(proxy_for(uri("ws://example.com/"), env), "http://p:1")

    def test_empty_values_are_unset(self) -> None:
        """An empty http_proxy is no proxy (and does not hide all_proxy)."""
        self.assertIsNone(proxy_for(uri("ws://example.com/"), {"http_proxy": ""}))
        env = {"http_proxy": "", "all_proxy": "http://a:3"}
        self.assertEqual(proxy_for(uri("ws://example.com/"), env), "http://a:3")

    def test_no_environment(self) -> None:
        """Nothing set, no proxy."""
        self.assertIsNone(proxy_for(uri("ws://example.com/"), {}))

    def test_loopback_is_never_proxied(self) -> None:
        """localhost, 127.0.0.1 and ::1 go direct whatever the environment says."""
        env = {"http_proxy": "http://p:1", "https_proxy": "http://p:1"}
        for url in ("ws://localhost:8/", "ws://127.0.0.1:8/", "ws://[::1]:8/", "wss://localhost/"):
            with self.subTest(url=url):
                self.assertIsNone(proxy_for(uri(url), env))

    def test_no_proxy_exact_and_suffix(self) -> None:
        """no_proxy entries match the name itself and its subdomains, not look-alikes."""
        env = {"http_proxy": "http://p:1", "no_proxy": "example.com"}
        self.assertIsNone(proxy_for(uri("ws://example.com/"), env))
        self.assertIsNone(proxy_for(uri("ws://api.example.com/"), env))
        self.assertEqual(proxy_for(uri("ws://notexample.com/"), env), "http://p:1")
        self.assertEqual(proxy_for(uri("ws://example.com.evil/"), env), "http://p:1")

    def test_no_proxy_leading_dot_and_star(self) -> None:
        """'.example.com' and '*.example.com' cover the domain and its subdomains."""
        for entry in (".example.com", "*.example.com"):
            with self.subTest(entry=entry):
                env = {"http_proxy": "http://p:1", "no_proxy": entry}
                self.assertIsNone(proxy_for(uri("ws://a.b.example.com/"), env))
                self.assertIsNone(proxy_for(uri("ws://example.com/"), env))
                self.assertEqual(proxy_for(uri("ws://other.com/"), env), "http://p:1")

    def test_no_proxy_star_list_ports_and_case(self) -> None:
        """'*' bypasses everything; lists have spaces; a :port is ignored; case does not matter."""
        self.assertIsNone(
            proxy_for(uri("ws://anything.test/"), {"http_proxy": "http://p:1", "no_proxy": "*"})
        )
        env = {"http_proxy": "http://p:1", "no_proxy": "foo.test, Bar.Test:8080 ,baz.test"}
        self.assertIsNone(proxy_for(uri("ws://BAR.test:9/"), env))
        self.assertIsNone(proxy_for(uri("ws://baz.test/"), env))
        self.assertEqual(proxy_for(uri("ws://qux.test/"), env), "http://p:1")

    def test_no_proxy_ip_address(self) -> None:
        """An IP address listed in no_proxy goes direct; other addresses use the proxy."""
        env = {"http_proxy": "http://p:1", "no_proxy": "10.0.0.5"}
        self.assertIsNone(proxy_for(uri("ws://10.0.0.5:80/"), env))
        self.assertEqual(proxy_for(uri("ws://10.0.0.6/"), env), "http://p:1")


class CertificateHandshake(StringTransport):
    """A StringTransport whose getHandle() is a TLS connection with a peer chain."""

    def __init__(self, chain: list[Any]) -> None:
        super().__init__()
        self.chain = chain

    def getHandle(self) -> Any:
        transport = self

        class Handle:
            def get_peer_cert_chain(self) -> list[Any]:
                return transport.chain

        return Handle()


class CertificateFailureTests(HandshakeFixture):
    """A refused certificate is worded with the reason explain_certificate gives."""

    def chain(self) -> list[Any]:
        crypto = pytest.importorskip("OpenSSL.crypto")
        import datetime

        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "expired.example")])
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(1)
            .not_valid_before(now - datetime.timedelta(days=30))
            .not_valid_after(now - datetime.timedelta(days=1))
            .sign(key, hashes.SHA256())
        )
        return [crypto.X509.from_cryptography(cert)]

    def lose_with_verify_failure(self) -> None:
        from OpenSSL import SSL

        error = SSL.Error([("SSL routines", "", "certificate verify failed")])
        self.proto.connectionLost(Failure(error))

    def test_reason_from_explain_certificate(self) -> None:
        """The PEM chain goes to explain_certificate; its reason picks the one-line message."""
        seen: list[list[bytes]] = []

        def explain(chain: Sequence[bytes]) -> str:
            seen.append(list(chain))
            return "certificate has expired"

        chain = self.chain()
        self.start(
            "wss://expired.example/",
            transport=CertificateHandshake(chain),
            explain_certificate=explain,
        )
        self.lose_with_verify_failure()
        error = self.failure(ConnectFailed)
        self.assertEqual(str(error), "TLS: the server's certificate has expired")
        self.assertEqual(len(seen), 1)
        self.assertTrue(seen[0][0].startswith(b"-----BEGIN CERTIFICATE-----"))

    def test_without_explanation(self) -> None:
        """Without a reason the message still says the certificate could not be verified."""
        self.start("wss://expired.example/", transport=CertificateHandshake(self.chain()))
        self.lose_with_verify_failure()
        error = self.failure(ConnectFailed)
        self.assertTrue(
            str(error).startswith("TLS: the server's certificate could not be verified"),
            str(error),
        )


def _ssl_error(reason: str) -> Exception:
    """pyOpenSSL's error as its TLS layer raises it."""
    error: type[Exception] = pytest.importorskip("OpenSSL.SSL").Error
    return error([("SSL routines", "", reason)])


class WrongPortTests(HandshakeFixture):
    """wss:// to a plain port and ws:// to a TLS port fail at once, naming the mix-up."""

    def test_tls_record_where_the_101_was_due(self) -> None:
        """ws://: a TLS alert (0x15 0x03 ...) in reply is "the server answered with TLS"."""
        self.start("ws://127.0.0.1:8765/")
        self.proto.dataReceived(b"\x15\x03\x03\x00\x02\x02\x46")
        error = self.failure(ConnectFailed)
        self.assertEqual(str(error), "the server answered with TLS: use wss://")
        self.assertTrue(self.transport.disconnecting)
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_tls_record_split_after_its_first_byte(self) -> None:
        """One byte is not enough to tell; the decision comes with the next ones."""
        self.start("ws://127.0.0.1:8765/")
        self.proto.dataReceived(b"\x16")
        self.assertEqual(self.outcome, [])
        self.proto.dataReceived(b"\x03\x01\x00\x10")
        self.assertEqual(
            str(self.failure(ConnectFailed)), "the server answered with TLS: use wss://"
        )

    def test_http_answer_is_not_mistaken_for_tls(self) -> None:
        """An ordinary HTTP answer still goes through the handshake as before."""
        self.start("ws://127.0.0.1:8765/", deflate=False)
        self.proto.dataReceived(switching())
        self.session()

    def test_plain_text_answer_to_a_client_hello(self) -> None:
        """wss://: OpenSSL's "wrong version number" before the TLS handshake: not a TLS server."""
        self.start("wss://127.0.0.1:8765/")
        error = _ssl_error("wrong version number")
        self.proto.connectionLost(Failure(error))
        self.assertEqual(
            str(self.failure(ConnectFailed)),
            "TLS handshake failed: the server does not speak TLS on this port "
            "(is it a ws:// server?)",
        )

    def test_close_before_the_tls_handshake(self) -> None:
        """wss://: the server hangs up before TLS has answered: said as such."""
        self.start("wss://127.0.0.1:8765/")
        self.proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(
            str(self.failure(ConnectFailed)),
            "TLS handshake failed: the server closed the connection without answering TLS "
            "(is it a ws:// server?)",
        )

    def test_close_after_the_tls_handshake(self) -> None:
        """wss://: once TLS is up, a close is the handshake's, as for ws://."""
        self.start("wss://127.0.0.1:8765/")
        self.proto.handshakeCompleted()
        self.proto.connectionLost(Failure(ConnectionDone()))
        self.assertEqual(
            str(self.failure(ConnectFailed)),
            "the server closed the connection during the handshake",
        )

    def test_tls_alert_is_not_called_plain_text(self) -> None:
        """wss://: a TLS server's alert is a TLS failure of its own, reported as OpenSSL says."""
        self.start("wss://127.0.0.1:8765/")
        error = _ssl_error("tlsv1 alert protocol version")
        self.proto.connectionLost(Failure(error))
        message = str(self.failure(ConnectFailed))
        self.assertTrue(message.startswith("TLS handshake failed: "), message)
        self.assertIn("alert protocol version", message)
        self.assertNotIn("does not speak TLS", message)


class ExtraHeaderTests(HandshakeFixture):
    """-H headers: one named like ours replaces ours in place; others are added after ours."""

    def test_host_replaced_in_place(self) -> None:
        """Host: example.org replaces our Host line; a header of another name is appended."""
        self.start(headers=(("host", "example.org"), ("X-Trace", "1")), deflate=False)
        expected = request("127.0.0.1:8765", deflate=False).replace(
            b"Host: 127.0.0.1:8765\r\n", b"host: example.org\r\n"
        )
        self.assertEqual(self.written(), expected[:-2] + b"X-Trace: 1\r\n\r\n")

    def test_second_header_of_a_name_is_added(self) -> None:
        """Two -H Host headers: the first replaces ours, the second is added (forging twice)."""
        self.start(headers=(("Host", "a.example"), ("Host", "b.example")), deflate=False)
        sent = self.written()
        self.assertEqual(sent.count(b"Host: "), 2)
        self.assertIn(b"\r\nHost: a.example\r\nUpgrade:", sent)
        self.assertTrue(sent.endswith(b"\r\nHost: b.example\r\n\r\n"))

    def test_forged_key_is_the_one_checked(self) -> None:
        """A -H Sec-WebSocket-Key is sent instead of ours, and the 101 must answer it."""
        forged = "dGhlIHNhbXBsZSBub25jZQ=="
        self.start(headers=(("Sec-WebSocket-Key", forged),), deflate=False)
        sent = self.written()
        self.assertIn(f"Sec-WebSocket-Key: {forged}\r\n".encode(), sent)
        self.assertEqual(sent.count(b"Sec-WebSocket-Key"), 1)
        self.proto.dataReceived(switching(accept=accept_key(forged)))
        self.session()

    def test_subprotocol_offer_replaced(self) -> None:
        """A -H Sec-WebSocket-Protocol is the offer the server's choice is checked against."""
        self.start(
            subprotocols=("chat",),
            headers=(("Sec-WebSocket-Protocol", "v2.json, v1.json"),),
            deflate=False,
        )
        sent = self.written()
        self.assertEqual(sent.count(b"Sec-WebSocket-Protocol"), 1)
        self.proto.dataReceived(switching("Sec-WebSocket-Protocol: v1.json"))
        self.assertEqual(self.session().subprotocol, "v1.json")

    def test_header_injection_refused(self) -> None:
        """A value with CR LF in it is refused before anything is written."""
        with self.assertRaises(UsageError):
            self.start(headers=(("X-Evil", "a\r\nHost: b"),))
