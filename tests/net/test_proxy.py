"""The reverse proxy in memory: request rewriting, byte-exact relay, refusals, 502, the taps."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, fail, succeed
from twisted.internet.error import ConnectionDone, ConnectionRefusedError
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from wstool.core.frames import FrameParser, Role, forge_frame
from wstool.core.http import parse_request_head
from wstool.core.inspect import FrameReport, SequenceViolation
from wstool.core.tap import CloseSeen, RelaySummary, TapItem
from wstool.core.uri import parse_uri
from wstool.net.proxy import ProxyOptions, ReverseProxy, join_target, rewrite_request
from wstool.net.relay import Side

REQUEST = (
    b"GET /chat?room=1 HTTP/1.1\r\nHost: 127.0.0.1:8780\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\nSec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
)
MASK = b"\x37\xfa\x21\x3d"


class Recorder:
    """A relay observer that keeps everything."""

    def __init__(self, wants_frames: bool = True) -> None:
        self.wants_frames = wants_frames
        self.requests: list[tuple[bytes, bytes]] = []
        self.answers: list[tuple[bytes, bytes]] = []
        self.failures: list[tuple[int, str]] = []
        self.found: list[tuple[Role, TapItem]] = []
        self.summaries: list[RelaySummary] = []
        self.injections: list[tuple[Role, bytes]] = []

    def request(
        self, conn_id: int, client: str, upstream: str, received: bytes, sent: bytes
    ) -> None:
        self.requests.append((received, sent))

    def answered(self, conn_id: int, response: bytes, body: bytes) -> None:
        self.answers.append((response, body))

    def failed(self, conn_id: int, client: str, status: int, reason: str) -> None:
        self.failures.append((status, reason))

    def items(self, conn_id: int, sender: Role, items: Sequence[TapItem]) -> None:
        self.found.extend((sender, item) for item in items)

    def closed(self, conn_id: int, summary: RelaySummary) -> None:
        self.summaries.append(summary)

    def injected(self, conn_id: int, toward: Role, data: bytes) -> None:
        self.injections.append((toward, data))


class Pair:
    """A proxy with one client connected, its upstream a StringTransport."""

    def __init__(self, to: str = "ws://upstream.test:9000/api", *, reachable: bool = True) -> None:
        self.reactor = MemoryReactorClock()
        self.recorder = Recorder()
        self.upstream_transport = StringTransport()
        self.upstream: Side | None = None
        self.reachable = reachable
        options = ProxyOptions(upstream=parse_uri(to))
        self.proxy = ReverseProxy(options, self.recorder, self.reactor, connect=self._connect)
        address = IPv4Address("TCP", "127.0.0.1", 5555)
        self.client: Any = self.proxy.buildProtocol(address)
        self.client_transport = StringTransport(peerAddress=address)
        self.client.makeConnection(self.client_transport)

    def _connect(self, side: Side) -> Deferred[Any]:
        if not self.reachable:
            return fail(ConnectionRefusedError())
        self.upstream = side
        side.makeConnection(self.upstream_transport)
        return succeed(None)

    def upgrade(self) -> None:
        self.client.dataReceived(REQUEST)
        assert self.upstream is not None
        self.upstream.dataReceived(RESPONSE)
        self.client_transport.clear()
        self.upstream_transport.clear()


class TestTargets:
    @pytest.mark.parametrize(
        ("base", "target", "joined"),
        [
            ("/", "/chat", "/chat"),
            ("/", "/", "/"),
            ("/api", "/", "/api"),
            ("/api/", "/chat", "/api/chat"),
            ("/api?k=1", "/chat?x=2", "/api/chat?k=1&x=2"),
            ("/", "ws://elsewhere/x?y=1", "/x?y=1"),
        ],
    )
    def test_join(self, base: str, target: str, joined: str) -> None:
        """The client's path goes under --to's, queries joined."""
        assert join_target(base, target) == joined

    def test_only_target_and_host_are_rewritten(self) -> None:
        """Key, subprotocols and extensions stay the client's, byte for byte."""
        head, _ = parse_request_head(REQUEST)  # type: ignore[misc]
        sent = rewrite_request(head, parse_uri("ws://upstream.test:9000/api"))
        lines = sent.split(b"\r\n")
        assert lines[0] == b"GET /api/chat?room=1 HTTP/1.1"
        assert lines[1] == b"Host: upstream.test:9000"
        assert lines[2:] == REQUEST.split(b"\r\n")[2:]


class TestRelay:
    def test_request_goes_upstream_and_the_101_comes_back_as_it_was(self) -> None:
        """The upstream gets the rewritten head; the client the 101 byte for byte."""
        pair = Pair()
        pair.client.dataReceived(REQUEST)
        sent = pair.upstream_transport.value()
        assert sent.startswith(b"GET /api/chat?room=1 HTTP/1.1\r\nHost: upstream.test:9000\r\n")
        assert pair.recorder.requests == [(REQUEST, sent)]
        assert pair.upstream is not None
        frame = forge_frame(opcode=1, payload=b"hi")
        pair.upstream.dataReceived(RESPONSE + frame)
        assert pair.client_transport.value() == RESPONSE + frame
        assert pair.recorder.answers == [(RESPONSE, b"")]

    def test_forged_frames_reach_upstream_byte_for_byte(self) -> None:
        """Reserved opcode, RSV2, an unmasked client frame: relayed as is, each named."""
        pair = Pair()
        pair.upgrade()
        forged = (
            forge_frame(opcode=0x3, payload=b"x", mask_key=MASK)
            + forge_frame(opcode=1, payload=b"rsv2", rsv2=True, mask_key=MASK)
            + forge_frame(opcode=1, payload=b"plain")
        )
        for i in range(0, len(forged), 3):  # in pieces: boundaries need not match frames
            pair.client.dataReceived(forged[i : i + 3])
        assert pair.upstream_transport.value() == forged
        rules = [
            v.rule
            for sender, item in pair.recorder.found
            if sender is Role.CLIENT and isinstance(item, FrameReport)
            for v in item.violations
        ]
        assert rules == ["reserved-opcode", "reserved-bits", "mask-required"]
        assert pair.client_transport.value() == b""  # the proxy answers nothing

    def test_quiet_taps_still_name_violations_and_closes(self) -> None:
        """Without frames recorded, violations and the Close still reach the observer."""
        pair = Pair()
        pair.recorder.wants_frames = False
        pair.upgrade()
        assert pair.upstream is not None
        pair.upstream.dataReceived(forge_frame(opcode=1, payload=b"\xff"))
        pair.upstream.dataReceived(forge_frame(opcode=8, payload=b"\x03\xe8bye"))
        found = [item for _, item in pair.recorder.found]
        assert isinstance(found[0], SequenceViolation)
        assert found[0].violation.rule == "text-utf8"
        assert found[0].violation.close_code == 1007
        assert found[1] == CloseSeen(1000, "bye", 3)

    def test_closes_pass_on_and_the_summary_counts(self) -> None:
        """The server's FIN is passed on; once both are gone, one summary."""
        pair = Pair()
        pair.upgrade()
        pair.client.dataReceived(forge_frame(opcode=2, payload=b"abc", mask_key=MASK))
        assert pair.upstream is not None
        pair.upstream.readConnectionLost()
        assert pair.client_transport.disconnecting or pair.client_transport.producerState
        pair.upstream.connectionLost(Failure(ConnectionDone()))
        pair.client.connectionLost(Failure(ConnectionDone()))
        [summary] = pair.recorder.summaries
        assert summary.upgraded and summary.cause == "the server closed the connection"
        assert summary.to_server is not None and summary.to_server.messages == 1
        assert summary.to_server.wire_bytes == 9


class TestAnswers:
    def test_refusal_passes_through_with_its_body(self) -> None:
        """A 403 with headers and body reaches the client as it was, and is reported."""
        pair = Pair()
        pair.client.dataReceived(REQUEST)
        refusal = (
            b"HTTP/1.1 403 Forbidden\r\nContent-Length: 12\r\nX-Why: origin\r\n\r\nnot allowed\n"
        )
        assert pair.upstream is not None
        pair.upstream.dataReceived(refusal[:30])
        pair.upstream.dataReceived(refusal[30:])
        assert pair.client_transport.value() == refusal
        assert pair.recorder.answers == [(refusal[: refusal.index(b"not")], b"not allowed\n")]
        assert pair.client_transport.disconnecting

    def test_unreachable_upstream_gets_a_502_with_one_line(self) -> None:
        """Connection refused upstream: 502 and the reason as the body."""
        pair = Pair(reachable=False)
        pair.client.dataReceived(REQUEST)
        answer = pair.client_transport.value()
        assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
        assert answer.endswith(
            b"cannot reach ws://upstream.test:9000/api/chat?room=1: connection refused\n"
        )
        assert pair.recorder.failures[0][0] == 502
        pair.client.connectionLost(Failure(ConnectionDone()))
        assert len(pair.recorder.summaries) == 1

    def test_bad_request_head_is_400(self) -> None:
        """Not HTTP at all: 400 from the proxy itself, nothing upstream."""
        pair = Pair()
        pair.client.dataReceived(b"\x16\x03\x01 hello\r\n\r\n")
        assert pair.client_transport.value().startswith(b"HTTP/1.1 400 ")
        assert pair.upstream is None

    def test_slow_request_gets_408(self) -> None:
        """No complete head within the handshake timeout."""
        pair = Pair()
        pair.client.dataReceived(b"GET / HTTP/1.1\r\n")
        pair.reactor.advance(11)
        assert pair.client_transport.value().startswith(b"HTTP/1.1 408 ")


class TestStopping:
    def test_a_websocket_gets_a_close_1001_both_ways(self) -> None:
        """The proxy stops: each side gets Close 1001 (RFC 6455 §7.4.1 "going away"), then FIN."""
        pair = Pair()
        pair.upgrade()
        pair.proxy.shutdown()
        frames = {}
        for role, transport in (
            (Role.CLIENT, pair.client_transport),
            (Role.SERVER, pair.upstream_transport),
        ):
            (frame,) = FrameParser().feed(transport.value())
            assert frame.opcode == 8 and frame.data[:2] == (1001).to_bytes(2, "big")
            assert transport.disconnecting
            frames[role] = frame
        assert frames[Role.SERVER].masked and not frames[Role.CLIENT].masked
        assert [toward for toward, _ in pair.recorder.injections] == [Role.SERVER, Role.CLIENT]

    def test_mid_frame_the_side_is_only_closed(self) -> None:
        """Half a frame has gone to the server: no Close can follow it there, only the FIN."""
        pair = Pair()
        pair.upgrade()
        pair.client.dataReceived(forge_frame(opcode=2, payload=b"abcdef", mask_key=MASK)[:4])
        pair.upstream_transport.clear()
        pair.proxy.shutdown()
        assert pair.upstream_transport.value() == b"" and pair.upstream_transport.disconnecting
        assert pair.client_transport.value().startswith(b"\x88")

    def test_before_the_upgrade_the_connection_is_dropped(self) -> None:
        """No WebSocket yet: nothing to send a Close in; the connection is aborted."""
        pair = Pair()
        pair.client.dataReceived(REQUEST[:20])
        pair.proxy.shutdown()
        assert pair.client_transport.value() == b""

    def test_no_second_close_after_one_went_by(self) -> None:
        """The client has sent its Close already: the server gets no second one, only the FIN."""
        pair = Pair()
        pair.upgrade()
        pair.client.dataReceived(forge_frame(opcode=8, payload=b"\x03\xe8", mask_key=MASK))
        pair.upstream_transport.clear()
        pair.proxy.shutdown()
        assert pair.upstream_transport.value() == b"" and pair.upstream_transport.disconnecting
        assert pair.client_transport.value().startswith(b"\x88")
