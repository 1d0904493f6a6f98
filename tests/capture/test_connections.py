"""Tests of :mod:`wstool.capture.connections`: what each TCP connection of a capture carries
(WebSocket by its upgrade on any port, TLS, HTTP/2, refused upgrades, plain HTTP), several
connections at once, deflate per connection from its own handshake."""

from __future__ import annotations

from capture.captures import (
    Segment,
    acked_in_order,
    decode,
    frame,
    framed_conversation,
    frames_by_direction,
    ip_packets,
    messages,
    notes,
    pcap_file,
)
from capture.dumps import REQUEST, RESPONSE, ws_frame
from wstool.capture.connections import TLS_HINT

DEFLATE_RESPONSE = RESPONSE.replace(
    b"\r\n\r\n", b"\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
)
HELLO_COMPRESSED = bytes.fromhex("c107f248cdc9c90700")  # RFC 7692 §7.2.3.1


def exchange(client: list[bytes], server: list[bytes], syn: bool = True) -> list[Segment]:
    """Segments of one connection: each piece in its own segment, the two sides in turn."""
    segments = [Segment(True, "S", -1), Segment(False, "S.", -1)] if syn else []
    sent = {True: 0, False: 0}
    pieces = {True: list(client), False: list(server)}
    while pieces[True] or pieces[False]:
        for side in (True, False):
            if pieces[side]:
                data = pieces[side].pop(0)
                segments.append(Segment(side, "P.", sent[side], data))
                sent[side] += len(data)
    return acked_in_order(segments)


def capture_of(*connections: tuple[list[Segment], int]) -> bytes:
    """Several connections (segments, client port), their packets interleaved."""
    queues = [
        ip_packets(segments, ("127.0.0.1", port), ("127.0.0.1", 9000 + n))
        for n, (segments, port) in enumerate(connections)
    ]
    packets = []
    while any(queues):
        for queue in queues:
            if queue:
                packets.append(queue.pop(0))
    return pcap_file([frame("ethernet", p) for p in packets], 1)


class TestKinds:
    def test_websocket_on_any_port_with_deflate_per_connection(self) -> None:
        """Two WebSocket connections at once; only the one whose 101 agreed inflates."""
        plain = exchange([REQUEST], [RESPONSE, ws_frame(1, b"plain")])
        deflated = exchange([REQUEST], [DEFLATE_RESPONSE, HELLO_COMPRESSED])
        events, decoder, _ = decode(capture_of((plain, 40001), (deflated, 40002)))
        first, second = decoder.connections
        assert (first.kind, second.kind) == ("websocket", "websocket")
        assert (first.deflate, second.deflate is not None) == (None, True)
        assert second.extensions == "permessage-deflate"
        assert messages(events) == [b"Hello"]
        assert first.server.frames == second.server.frames == 1
        assert first.server_address == "127.0.0.1:9000"
        ids = {e.connection.id for e in events if e.connection is not None}
        assert ids == {1, 2}

    def test_tls(self) -> None:
        """A ClientHello: listed as encrypted, with the hint, nothing decoded."""
        hello = bytes.fromhex("160301002a010000260303") + bytes(32) + b"\0\0\0"
        events, decoder, _ = decode(
            capture_of((exchange([hello], [b"\x16\x03\x03\0\x10" + bytes(16)]), 40001))
        )
        assert decoder.connections[0].kind == "tls"
        assert notes(events) == [TLS_HINT]
        assert frames_by_direction(events) == {}

    def test_http2(self) -> None:
        """The HTTP/2 preface: listed, not decoded."""
        preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
        events, decoder, _ = decode(
            capture_of((exchange([preface], [b"\0\0\0\x04\0\0\0\0\0"]), 40001))
        )
        assert decoder.connections[0].kind == "http2"
        assert decoder.connections[0].listed
        assert "not decoded" in notes(events)[0]

    def test_refused_upgrade(self) -> None:
        """An upgrade answered 403: listed as refused with its status, nothing after decoded."""
        refused = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"
        _, decoder, _ = decode(capture_of((exchange([REQUEST], [refused]), 40001)))
        connection = decoder.connections[0]
        assert (connection.kind, connection.status, connection.listed) == (
            "refused",
            "403 Forbidden",
            True,
        )

    def test_plain_http_and_other_tcp(self) -> None:
        """HTTP without an upgrade and other TCP are counted, not listed, not decoded."""
        http = exchange(
            [b"GET / HTTP/1.1\r\nHost: x\r\n\r\n"], [b"HTTP/1.1 200 OK\r\n\r\n\x81\x01x"]
        )
        other = exchange([b"SSH-2.0-OpenSSH_9.2\r\n"], [b"SSH-2.0-OpenSSH_9.2\r\n"])
        events, decoder, _ = decode(capture_of((http, 40001), (other, 40002)))
        assert [c.kind for c in decoder.connections] == ["http", "other"]
        assert not any(c.listed for c in decoder.connections)
        assert frames_by_direction(events) == {}

    def test_port_reused(self) -> None:
        """A new SYN on the same addresses after the first connection closed is a new one."""
        segments = framed_conversation()
        sent = {
            side: sum(len(s.payload) for s in segments if s.from_client is side)
            for side in (True, False)
        }
        closing = [Segment(True, "F.", sent[True]), Segment(False, "F.", sent[False])]
        packets = ip_packets(acked_in_order([*segments, *closing])) * 2
        _, decoder, _ = decode(pcap_file([frame("raw", p) for p in packets], 101))
        assert [c.id for c in decoder.connections] == [1, 2]

    def test_upgrade_without_response(self) -> None:
        """A request whose response the capture lacks: listed; the client's frames decoded
        at the end of the capture (deflate unknown: RSV1 allowed, not inflated)."""
        segments = exchange([REQUEST, ws_frame(1, b"hi", b"\x01\x02\x03\x04")], [])
        events, decoder, _ = decode(capture_of((segments, 40001)))
        connection = decoder.connections[0]
        assert (connection.kind, connection.listed, connection.path) == ("upgrading", True, "/chat")
        assert [f[3] for f in frames_by_direction(events)["127.0.0.1:40001"]] == [b"hi"]

    def test_closed_connection_freed(self) -> None:
        """Once both ends closed and nothing waits, the connection is decoded to its end at
        once (not at the end of the capture) and its counts stay for the summary."""
        segments = framed_conversation()
        sent = {
            side: sum(len(s.payload) for s in segments if s.from_client is side)
            for side in (True, False)
        }
        closing = [Segment(True, "F.", sent[True]), Segment(False, "F.", sent[False])]
        _, decoder, _ = decode(capture_of((acked_in_order([*segments, *closing]), 40001)))
        connection = decoder.connections[0]
        assert connection.finished
        assert decoder.finish() == []
        assert (connection.client.frames, connection.server.frames) == (6, 4)
        assert (connection.client.close_code, connection.server.close_code) == (1000, 1000)
