"""Tests of :mod:`wstool.net.server`: the upgrading resource, echo, broadcast, shutdown.

Each connection is ``site.buildProtocol(addr)`` on a :class:`StringTransport`
whose ``abortConnection``/``loseConnection`` only record the wish; a test
delivers ``connectionLost`` itself when the TCP connection would be gone.
Time is a :class:`MemoryReactorClock`; peers are client-role core
:class:`Connection` objects with a pinned mask key.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Factory, Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from wstool.core.connection import Connection
from wstool.core.errors import HandshakeError
from wstool.core.events import (
    ConnectionClosed,
    Event,
    FrameReceived,
    FrameSent,
    MessageReceived,
)
from wstool.core.frames import CloseCode, Opcode, Role, encode_frame
from wstool.net.server import (
    IDLE_AFTER,
    ServerOptions,
    UpgradeRequest,
    WebSocketResource,
    WebSocketSite,
    console_page,
    is_wildcard,
    listen_endpoint,
)
from wstool.net.wire import Timeouts

SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
MASK = b"\x37\xfa\x21\x3d"
NO_TIMERS = Timeouts(close=5.0, ping_interval=None, ping_timeout=None, idle=None)


def upgrade_request(path: str = "/", *extra: str, method: str = "GET") -> bytes:
    lines = [
        f"{method} {path} HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {SAMPLE_KEY}",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


class Response:
    """An HTTP response as written: status, headers (names lowercased) and body."""

    def __init__(self, data: bytes) -> None:
        head, _, self.body = data.partition(b"\r\n\r\n")
        lines = head.decode("latin-1").split("\r\n")
        self.status = int(lines[0].split(" ")[1])
        self.headers: dict[str, list[str]] = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            self.headers.setdefault(name.lower(), []).append(value.strip())

    def header(self, name: str) -> str | None:
        values = self.headers.get(name)
        return values[0] if values else None


class Recorder:
    """A server observer that keeps everything it is told."""

    wants_frames = True

    def __init__(self) -> None:
        self.opened_ids: list[int] = []
        self.events_seen: list[tuple[int, Event]] = []
        self.closed_calls: list[tuple[int, str, str]] = []
        self.rejected_calls: list[tuple[str, bytes, int, str]] = []
        self.timeline: list[str] = []

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        self.opened_ids.append(conn_id)

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        self.events_seen.extend((conn_id, e) for e in events)
        self.timeline += [type(e).__name__ for e in events]

    def note(self, conn_id: int, text: str, record: dict, *, per_message: bool = False) -> None:
        self.timeline.append(f"note: {text}")

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        self.closed_calls.append((conn_id, peer, cause))

    def rejected(self, peer: str, request: bytes, status: int, reason: str) -> None:
        self.rejected_calls.append((peer, request, status, reason))


class Client:
    """One in-memory TCP connection to the site, with a core client as its WebSocket end."""

    def __init__(self, site: WebSocketSite, port: int) -> None:
        addr = IPv4Address("TCP", "127.0.0.1", port)
        self.channel: Any = site.buildProtocol(addr)
        self.transport = StringTransport(peerAddress=addr)
        self.channel.makeConnection(self.transport)
        self.ws = Connection(Role.CLIENT, mask_source=lambda n: MASK)
        self.response: Response | None = None

    def request(self, data: bytes) -> Response:
        self.channel.dataReceived(data)
        raw = self.transport.value()
        self.transport.clear()
        head, sep, rest = raw.partition(b"\r\n\r\n")
        self.response = Response(head + sep + rest)
        if self.response.status == 101:
            self.ws.receive_data(rest)
        return self.response

    def send(self, method: str, *args: Any) -> None:
        getattr(self.ws, f"send_{method}")(*args)
        self.channel.dataReceived(self.ws.data_to_send())

    def events(self, *, answer: bool = False) -> list[Event]:
        self.ws.receive_data(self.transport.value())
        self.transport.clear()
        if answer:
            # Collect the client's output as a driver would (a Close it owes
            # the server is sent then, which completes the close) and drop it.
            self.ws.data_to_send()
        return self.ws.events()

    def messages(self) -> list[bytes]:
        return [e.data for e in self.events() if isinstance(e, MessageReceived)]

    def lose(self) -> None:
        if self.transport.connected:
            self.transport.connected = False
            self.channel.connectionLost(Failure(ConnectionDone()))


class SiteFixture(SynchronousTestCase):
    """A site on a memory clock and the clients connected to it."""

    def setUp(self) -> None:
        self.clock = MemoryReactorClock()
        self.observer = Recorder()
        self.clients: list[Client] = []
        self.addCleanup(self._teardown)

    def serve(self, **options: Any) -> WebSocketSite:
        options.setdefault("timeouts", NO_TIMERS)
        self.site = WebSocketSite(ServerOptions(**options), self.observer, self.clock)
        return self.site

    def connect(self, upgrade: bool = True) -> Client:
        client = Client(self.site, 40000 + len(self.clients))
        self.clients.append(client)
        if upgrade:
            self.assertEqual(client.request(upgrade_request()).status, 101)
        return client

    def _teardown(self) -> None:
        for client in self.clients:
            client.lose()
        self.assertEqual(self.clock.getDelayedCalls(), [], "a timer outlived its connection")
        self.assertEqual(self.site.wires, set())


class RefusalTests(SiteFixture):
    """Requests that are not valid upgrades: an HTTP error with a one-line reason, then close."""

    def refuse(self, data: bytes, status: int, **options: Any) -> Response:
        self.serve(**options)
        client = self.connect(upgrade=False)
        response = client.request(data)
        self.assertEqual(response.status, status, response.body)
        self.assertEqual(response.header("content-type"), "text/plain; charset=utf-8")
        self.assertEqual(response.body.count(b"\n"), 1, "the reason is one line")
        self.assertTrue(response.body.endswith(b"\n"))
        self.assertEqual(response.header("connection"), "close")
        self.assertTrue(client.transport.disconnecting, "a refusal closes the connection")
        self.assertEqual(self.site.wires, set())
        return response

    def test_missing_key_is_400(self) -> None:
        """No Sec-WebSocket-Key: 400 naming the header; the observer hears the refusal."""
        data = upgrade_request().replace(f"Sec-WebSocket-Key: {SAMPLE_KEY}\r\n".encode(), b"")
        response = self.refuse(data, 400)
        self.assertIn(b"Sec-WebSocket-Key", response.body)
        [(peer, request, status, reason)] = self.observer.rejected_calls
        self.assertEqual((peer, request, status), ("127.0.0.1:40000", data, 400))
        self.assertEqual(response.body, reason.encode() + b"\n")

    def test_bad_key_is_400(self) -> None:
        """A key that is not 16 bytes in base64 gets 400."""
        data = upgrade_request().replace(SAMPLE_KEY.encode(), b"c2hvcnQ=")
        self.refuse(data, 400)

    def test_unsupported_version_is_426(self) -> None:
        """Sec-WebSocket-Version 8: 426 Upgrade Required with Sec-WebSocket-Version: 13."""
        data = upgrade_request().replace(b"Version: 13", b"Version: 8")
        response = self.refuse(data, 426)
        self.assertEqual(response.headers.get("sec-websocket-version"), ["13"])
        self.assertIn(b"13", response.body)

    def test_foreign_origin_is_403(self) -> None:
        """An Origin not in the allowed list gets 403."""
        data = upgrade_request("/", "Origin: http://evil.example")
        response = self.refuse(data, 403, origins=("http://good.example",))
        self.assertIn(b"http://evil.example", response.body)

    def test_missing_origin_is_403_saying_so(self) -> None:
        """No Origin header when origins are restricted: 403 saying "no Origin header"."""
        response = self.refuse(upgrade_request("/"), 403, origins=("http://good.example",))
        self.assertEqual(
            response.body, b"no Origin header (this server allows only: http://good.example)\n"
        )
        self.assertNotIn(b"None", response.body)

    def test_allowed_origin_upgrades(self) -> None:
        """An Origin in the allowed list upgrades."""
        self.serve(origins=("http://good.example",))
        client = self.connect(upgrade=False)
        response = client.request(upgrade_request("/", "Origin: http://good.example"))
        self.assertEqual(response.status, 101)

    def test_post_is_405(self) -> None:
        """An upgrade request with POST gets 405 with Allow: GET, in the handshake's words."""
        response = self.refuse(upgrade_request(method="POST"), 405)
        self.assertEqual(response.header("allow"), "GET")
        self.assertEqual(response.body, b"method 'POST' is not GET\n")

    def test_big_head_is_431(self) -> None:
        """A head over max_request_size gets 431."""
        data = upgrade_request("/", "X-Pad: " + "p" * 600)
        self.refuse(data, 431, max_request_size=512)
        self.assertEqual(self.observer.opened_ids, [])


class FastUpgradeTests(SiteFixture):
    """A valid upgrade is answered from its head alone; the rest still goes to twisted.web."""

    def setUp(self) -> None:
        super().setUp()
        self.rendered: list[bytes] = []
        original = WebSocketResource.render

        def counting(resource: WebSocketResource, request: Any) -> Any:
            self.rendered.append(request.method)
            return original(resource, request)

        self.patch(WebSocketResource, "render", counting)

    def test_an_upgrade_builds_no_twisted_web_request(self) -> None:
        self.serve()
        client = self.connect()
        client.send("text", "hi")
        self.assertEqual(client.messages(), [b"hi"])
        self.assertEqual(self.rendered, [], "twisted.web rendered an upgrade")
        self.assertEqual(client.channel.requests, [])
        self.assertEqual(self.observer.opened_ids, [1])

    def test_frames_in_the_same_write_as_the_head_are_echoed(self) -> None:
        self.serve()
        client = self.connect(upgrade=False)
        client.ws.send_text("early")
        early = client.ws.data_to_send()
        self.assertEqual(client.request(upgrade_request() + early).status, 101)
        self.assertEqual(client.messages(), [b"early"])

    def test_a_refusal_and_the_page_still_go_through_twisted_web(self) -> None:
        self.serve()
        refused = self.connect(upgrade=False)
        bad = upgrade_request().replace(b"Version: 13", b"Version: 8")
        self.assertEqual(refused.request(bad).status, 426)
        page = self.connect(upgrade=False)
        plain = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        self.assertEqual(page.request(plain).status, 200)
        self.assertEqual(self.rendered, [b"GET", b"GET"])
        self.assertEqual(self.observer.opened_ids, [])


class PlainPageTests(SiteFixture):
    """GETs without an upgrade: the console at /, 400 elsewhere."""

    def test_console_page(self) -> None:
        """GET / serves the built-in console as uncached HTML, and the connection stays open."""
        self.serve()
        client = self.connect(upgrade=False)
        response = client.request(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertEqual(response.status, 200)
        self.assertEqual(response.header("content-type"), "text/html; charset=utf-8")
        self.assertEqual(response.header("cache-control"), "no-store")
        self.assertEqual(response.body, console_page())
        self.assertIn(b"<html", response.body)
        self.assertFalse(client.transport.disconnecting)

    def test_http_keepalive_timeout_runs_on_the_site_clock(self) -> None:
        """twisted.web's keep-alive timeout uses the injected clock, not the global reactor."""
        self.serve()
        client = self.connect(upgrade=False)
        client.request(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertTrue(self.clock.getDelayedCalls(), "the keep-alive timer is on our clock")
        self.clock.advance(self.site.timeOut)
        self.assertTrue(client.transport.disconnecting)

    def test_other_path_is_400_and_reported(self) -> None:
        """A plain GET of another path: 400 with a one-line reason, reported, then close."""
        self.serve()
        client = self.connect(upgrade=False)
        data = b"GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        response = client.request(data)
        self.assertEqual(response.status, 400)
        self.assertEqual(response.header("content-type"), "text/plain; charset=utf-8")
        self.assertEqual(response.header("connection"), "close")
        self.assertEqual(response.body.count(b"\n"), 1)
        self.assertTrue(response.body.startswith(b"not a WebSocket upgrade: missing Upgrade"))
        self.assertTrue(client.transport.disconnecting)
        [(peer, request, status, reason)] = self.observer.rejected_calls
        self.assertEqual((peer, request, status), ("127.0.0.1:40000", data, 400))
        self.assertEqual(response.body, reason.encode() + b"\n")

    def test_console_page_is_not_reported(self) -> None:
        """GET / is the console, not a refusal: the observer hears nothing."""
        self.serve()
        client = self.connect(upgrade=False)
        client.request(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
        self.assertEqual(self.observer.rejected_calls, [])


class NegotiationTests(SiteFixture):
    """Subprotocols and permessage-deflate in the 101."""

    def test_subprotocol_selected(self) -> None:
        """The first offered subprotocol the server speaks is selected."""
        self.serve(subprotocols=("chat", "superchat"))
        client = self.connect(upgrade=False)
        response = client.request(upgrade_request("/", "Sec-WebSocket-Protocol: mqtt, superchat"))
        self.assertEqual(response.header("sec-websocket-protocol"), "superchat")

    def test_deflate_accepted(self) -> None:
        """An offer of permessage-deflate is answered in the 101."""
        self.serve()
        client = self.connect(upgrade=False)
        response = client.request(
            upgrade_request("/", "Sec-WebSocket-Extensions: permessage-deflate")
        )
        self.assertIn("permessage-deflate", response.header("sec-websocket-extensions") or "")

    def test_deflate_off(self) -> None:
        """With deflate off the 101 carries no extension."""
        self.serve(deflate=False)
        client = self.connect(upgrade=False)
        response = client.request(
            upgrade_request("/", "Sec-WebSocket-Extensions: permessage-deflate")
        )
        self.assertIsNone(response.header("sec-websocket-extensions"))


class BehaviourTests(SiteFixture):
    """Echo and broadcast between two connections; limits."""

    def test_echo_goes_to_the_sender_only(self) -> None:
        """In echo mode each client gets back its own messages and nothing else."""
        self.serve(mode="echo")
        alice, bob = self.connect(), self.connect()
        alice.send("text", "from alice")
        bob.send("binary", b"from bob")
        self.assertEqual(alice.messages(), [b"from alice"])
        self.assertEqual(bob.messages(), [b"from bob"])
        self.assertEqual(self.observer.opened_ids, [1, 2])

    def test_broadcast_goes_to_the_others(self) -> None:
        """In broadcast mode a message reaches every other open client, not its sender."""
        self.serve(mode="broadcast")
        alice, bob, carol = self.connect(), self.connect(), self.connect()
        alice.send("text", "hi all")
        self.assertEqual(alice.messages(), [])
        self.assertEqual(bob.messages(), [b"hi all"])
        self.assertEqual(carol.messages(), [b"hi all"])

    def test_broadcast_skips_closed_clients(self) -> None:
        """A client that has gone is forgotten and gets nothing."""
        self.serve(mode="broadcast")
        alice, bob, carol = self.connect(), self.connect(), self.connect()
        bob.lose()
        self.assertEqual(len(self.site.wires), 2)
        alice.send("text", "still here?")
        self.assertEqual(bob.transport.value(), b"")
        self.assertEqual(carol.messages(), [b"still here?"])

    def test_broadcast_drops_a_slow_consumer(self) -> None:
        """A broadcast does not wait: a client whose send buffer stays full is still
        given messages, until more than max_send_queue bytes went its way; then it
        is dropped (logged as such) and the others go on getting every message. The
        bytes counted are those sent on the wire (frame headers, and compressed)."""
        self.serve(mode="broadcast", max_send_queue=3100)
        alice, bob, carol = self.connect(), self.connect(), self.connect()
        bob.transport.producer.pauseProducing()  # as its transport does when full
        for i in range(3):
            alice.send("binary", bytes([i]) * 1000)
            self.assertFalse(bob.transport.disconnecting)
        alice.send("binary", b"x" * 1000)  # 4 frames of 1,004 bytes: over the limit
        self.assertTrue(bob.transport.disconnecting)
        bob.transport.clear()
        alice.send("binary", b"after")
        self.assertEqual(bob.transport.value(), b"", "nothing more for a dropped client")
        self.assertEqual(len(carol.messages()), 5)
        bob.lose()
        [cause] = [cause for conn_id, _, cause in self.observer.closed_calls if conn_id == 2]
        self.assertEqual(
            cause,
            "dropped as a slow consumer: 4,016 bytes queued for it while its send buffer "
            "stayed full (--max-send-queue)",
        )

    def test_a_consumer_that_catches_up_starts_afresh(self) -> None:
        """What counts is what was queued while the buffer stayed full: a client whose
        buffer drained in between (resumeProducing) is not dropped."""
        self.serve(mode="broadcast", max_send_queue=3000)
        alice, bob = self.connect(), self.connect()
        for _ in range(3):
            bob.transport.producer.pauseProducing()
            bob.transport.producer.pauseProducing()  # Twisted asks at every write
            alice.send("binary", b"x" * 1000)
            alice.send("binary", b"y" * 1000)
            bob.transport.producer.resumeProducing()
        self.assertFalse(bob.transport.disconnecting)
        self.assertEqual(len(bob.messages()), 6)

    def test_idle_callback_when_the_last_client_goes(self) -> None:
        """on_idle runs once the last open connection is gone, not before."""
        self.serve()
        idle: list[int] = []
        self.site._on_idle = lambda: idle.append(len(self.site.wires))
        alice, bob = self.connect(), self.connect()
        alice.lose()
        self.clock.advance(IDLE_AFTER)
        self.assertEqual(idle, [])
        bob.lose()
        self.assertEqual(idle, [])
        self.clock.advance(IDLE_AFTER)
        self.assertEqual(idle, [0])

    def test_idle_callback_skipped_when_a_client_came_meanwhile(self) -> None:
        """Clients one after another leave the server idle between them: no on_idle then."""
        self.serve()
        idle: list[int] = []
        self.site._on_idle = lambda: idle.append(len(self.site.wires))
        for _ in range(3):
            self.connect().lose()
        carol = self.connect()
        self.clock.advance(IDLE_AFTER)
        self.assertEqual(idle, [])
        carol.lose()
        self.clock.advance(IDLE_AFTER)
        self.assertEqual(idle, [0])

    def test_message_too_big_is_1009(self) -> None:
        """A message over max_message_size fails the connection with 1009."""
        self.serve(max_message_size=1000)
        client = self.connect()
        client.send("binary", b"x" * 1001)
        closes = [e for e in client.events(answer=True) if isinstance(e, ConnectionClosed)]
        self.assertEqual([c.code for c in closes], [CloseCode.MESSAGE_TOO_BIG])

    def test_deflate_bomb_is_1009(self) -> None:
        """A small compressed message that inflates past max_inflated_size fails with 1009."""
        self.serve(max_inflated_size=2**20)
        client = self.connect(upgrade=False)
        response = client.request(
            upgrade_request("/", "Sec-WebSocket-Extensions: permessage-deflate")
        )
        self.assertEqual(response.status, 101)
        deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
        bomb = deflater.compress(b"\x00" * 64 * 2**20) + deflater.flush(zlib.Z_SYNC_FLUSH)
        self.assertLess(len(bomb), 2**17)
        frame = encode_frame(Opcode.BINARY, bomb[:-4], rsv1=True, mask_key=MASK)
        client.channel.dataReceived(frame)
        closes = [e for e in client.events(answer=True) if isinstance(e, ConnectionClosed)]
        self.assertEqual([c.code for c in closes], [CloseCode.MESSAGE_TOO_BIG])
        self.assertTrue(client.transport.disconnecting)


class _Upper:
    """A behaviour that answers each message in upper case and logs what it saw."""

    def __init__(self, seen: list[str], upgrade: UpgradeRequest) -> None:
        self.seen = seen
        seen.append(f"made {upgrade.head.target} {upgrade.peer}")

    def start(self, wire: Any) -> None:
        self.seen.append(f"start {wire.conn_id}")
        wire.conn.send_message(Opcode.TEXT, b"welcome")
        wire.flush()

    def message(self, wire: Any, message: MessageReceived) -> None:
        wire.observer.note(wire.conn_id, "shouting back", {})
        wire.conn.send_message(message.opcode, message.data.upper())
        wire.flush()

    def closed(self, wire: Any) -> None:
        self.seen.append(f"closed {wire.conn_id}")


class BehaviourHookTests(SiteFixture):
    """ServerOptions.behaviour: each connection answered by its own object, not the echo."""

    def test_the_behaviour_answers_instead_of_the_echo(self) -> None:
        seen: list[str] = []
        self.serve(behaviour=lambda upgrade: _Upper(seen, upgrade))
        client = self.connect()
        self.assertEqual(client.messages(), [b"welcome"])
        client.send("text", "shout")
        self.assertEqual(client.messages(), [b"SHOUT"])
        client.lose()
        self.assertEqual(seen[1:], ["start 1", "closed 1"])
        self.assertTrue(seen[0].startswith("made / 127.0.0.1:"), seen)

    def test_the_answer_is_reported_after_the_message_it_answers(self) -> None:
        """A behaviour that flushes from its handler still logs message in, then answer out."""
        self.serve(behaviour=lambda upgrade: _Upper([], upgrade))
        client = self.connect()
        client.messages()
        self.observer.events_seen.clear()
        client.send("text", "shout")
        self.assertEqual(client.messages(), [b"SHOUT"])
        kinds = [
            (type(event).__name__, event.data)
            for _, event in self.observer.events_seen
            if isinstance(event, (FrameReceived, FrameSent))
        ]
        self.assertEqual(kinds, [("FrameReceived", b"shout"), ("FrameSent", b"SHOUT")])
        self.assertEqual(
            self.observer.timeline[-5:],
            ["FrameReceived", "MessageReceived", "note: shouting back", "FrameSent", "MessageSent"],
        )

    def test_a_factory_may_refuse_before_the_101(self) -> None:
        def full(upgrade: UpgradeRequest) -> Any:
            raise HandshakeError("too many programs running (--max-procs 0)", 503)

        self.serve(behaviour=full)
        client = self.connect(upgrade=False)
        response = client.request(upgrade_request())
        self.assertEqual(response.status, 503)
        self.assertIn(b"--max-procs", response.body)
        self.assertEqual(self.site.wires, set())


class TimerTests(SiteFixture):
    """The site's timeouts reach each connection."""

    def test_keepalive_ping_then_1011(self) -> None:
        """A Ping after ping_interval; no Pong within ping_timeout closes with 1011."""
        self.serve(timeouts=Timeouts(close=5.0, ping_interval=10.0, ping_timeout=5.0))
        client = self.connect()
        self.clock.advance(10)
        self.assertEqual(client.transport.value()[:2], b"\x89\x12")  # Ping, 18 bytes
        self.clock.advance(5)
        client.events()
        self.assertEqual(client.ws.close_received, (1011, "keepalive ping timeout"))

    def test_idle_timeout_1001(self) -> None:
        """A connection silent for the idle limit gets Close 1001."""
        self.serve(timeouts=Timeouts(close=5.0, ping_interval=None, idle=60.0))
        client = self.connect()
        self.clock.advance(60)
        client.events()
        self.assertEqual(client.ws.close_received, (1001, "idle timeout"))

    def test_handshake_timeout(self) -> None:
        """A client that never finishes its request is aborted after handshake_timeout."""
        self.serve(handshake_timeout=3.0)
        client = self.connect(upgrade=False)
        client.channel.dataReceived(b"GET / HTTP/1.1\r\n")
        self.clock.advance(3)
        self.assertTrue(client.transport.disconnected)
        self.assertEqual(client.transport.value(), b"")

    def test_close_timeout(self) -> None:
        """A peer that never answers our Close is aborted after the close timeout."""
        self.serve(timeouts=Timeouts(close=4.0, ping_interval=None))
        client = self.connect()
        self.site.shutdown()
        self.clock.advance(3.9)
        self.assertFalse(client.transport.disconnected)
        self.clock.advance(0.1)
        self.assertTrue(client.transport.disconnected)


class ShutdownTests(SiteFixture):
    """shutdown(): Close 1001 everywhere; the Deferred fires when all are gone."""

    def test_nothing_open(self) -> None:
        """With no connections the Deferred has already fired."""
        self.serve()
        self.assertIsNone(self.successResultOf(self.site.shutdown()))

    def test_fires_when_all_have_closed(self) -> None:
        """Every client gets Close 1001; the Deferred fires once the last one is gone."""
        self.serve()
        alice, bob = self.connect(), self.connect()
        done = self.site.shutdown()
        for client in (alice, bob):
            client.events()
            self.assertEqual(client.ws.close_received, (1001, "server shutting down"))
        alice.channel.dataReceived(alice.ws.data_to_send())  # alice answers
        self.assertTrue(alice.transport.disconnecting)
        alice.lose()
        self.assertNoResult(done)
        bob.channel.dataReceived(bob.ws.data_to_send())
        bob.lose()
        self.assertIsNone(self.successResultOf(done))
        causes = sorted(cause for _, _, cause in self.observer.closed_calls)
        self.assertEqual(causes, ["closed cleanly", "closed cleanly"])

    def test_drops_the_silent_after_timeout(self) -> None:
        """Clients that never answer are aborted after the close timeout; then it fires."""
        self.serve(timeouts=Timeouts(close=2.0, ping_interval=None))
        alice, bob = self.connect(), self.connect()
        done = self.site.shutdown()
        self.clock.advance(1.9)
        self.assertNoResult(done)
        self.assertFalse(alice.transport.disconnected or bob.transport.disconnected)
        self.clock.advance(0.1)
        self.assertTrue(alice.transport.disconnected and bob.transport.disconnected)
        alice.lose()
        bob.lose()
        self.assertIsNone(self.successResultOf(done))


class ListenEndpointTests(SynchronousTestCase):
    """listen_endpoint picks TCP4, TCP6 or SSL4 for serve's --host and TLS options."""

    def listen(self, host: str, tls: Any = None) -> MemoryReactorClock:
        reactor = MemoryReactorClock()
        site = WebSocketSite(ServerOptions(timeouts=NO_TIMERS), Recorder(), reactor)
        endpoint = listen_endpoint(reactor, host, 8765, tls, backlog=77)
        self.successResultOf(endpoint.listen(site))
        return reactor

    def test_ipv4(self) -> None:
        """An IPv4 address listens with TCP on it, with the backlog given."""
        [(port, _factory, backlog, interface)] = self.listen("127.0.0.1").tcpServers
        self.assertEqual((port, backlog, interface), (8765, 77, "127.0.0.1"))

    def test_ipv6_in_brackets(self) -> None:
        """An IPv6 literal in brackets listens on the bare address."""
        [(_port, _factory, _backlog, interface)] = self.listen("[::1]").tcpServers
        self.assertEqual(interface, "::1")

    def test_tls_for_the_site_is_started_by_its_channels(self) -> None:
        """With TLS the site listens on TCP and its channels get the TLS options to start."""
        tls = object()
        reactor = MemoryReactorClock()
        site = WebSocketSite(ServerOptions(timeouts=NO_TIMERS), Recorder(), reactor)
        self.successResultOf(listen_endpoint(reactor, "127.0.0.1", 8765, tls).listen(site))
        self.assertEqual(reactor.sslServers, [])
        [(port, factory, _backlog, interface)] = reactor.tcpServers
        self.assertEqual((port, factory, interface), (8765, site, "127.0.0.1"))
        self.assertIs(site.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1)).tls, tls)

    def test_tls_for_another_factory_is_ssl4(self) -> None:
        """A factory that is not a WebSocketSite gets an ordinary SSL endpoint."""
        tls = object()
        reactor = MemoryReactorClock()
        factory = Factory.forProtocol(Protocol)
        self.successResultOf(listen_endpoint(reactor, "127.0.0.1", 8765, tls, 77).listen(factory))
        self.assertEqual(reactor.tcpServers, [])
        [(port, _factory, context, backlog, interface)] = reactor.sslServers
        self.assertEqual((port, context, backlog, interface), (8765, tls, 77, "127.0.0.1"))

    def test_default_backlog_is_large(self) -> None:
        """The default backlog is 1024, not Twisted's 50 (bursts of clients)."""
        reactor = MemoryReactorClock()
        site = WebSocketSite(ServerOptions(timeouts=NO_TIMERS), Recorder(), reactor)
        self.successResultOf(listen_endpoint(reactor, "", 0, None).listen(site))
        self.assertEqual(reactor.tcpServers[0][2], 1024)


@pytest.mark.parametrize(
    ("interface", "wildcard"),
    [
        ("", True),
        ("0.0.0.0", True),
        ("::", True),
        ("[::]", True),
        ("0:0::0", True),
        ("127.0.0.1", False),
        ("::1", False),
        ("[::1]", False),
        ("localhost", False),
    ],
)
def test_is_wildcard(interface: str, wildcard: bool) -> None:
    """Unspecified addresses (and no address) are wildcards; host names are not."""
    assert is_wildcard(interface) is wildcard
