"""The pure parts of serve --workers and --redis: slots and numbering, whole lines, the
Redis envelope, what a bridge relays, drops and counts; the site's hooks in memory."""

from __future__ import annotations

import os
import resource
import socket
from collections.abc import Sequence
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock, StringTransport

from wstool.cli.serve_scale import raise_fd_limit
from wstool.core.connection import Connection
from wstool.core.deflate import DeflateParams, PerMessageDeflate
from wstool.core.events import Event
from wstool.core.frames import Opcode, Role
from wstool.net import redisbridge
from wstool.net import server as server_module
from wstool.net.redisbridge import (
    Envelope,
    RedisAddress,
    RedisBridge,
    RelayState,
    channel_for,
    decode_envelope,
    encode_envelope,
    parse_redis_url,
)
from wstool.net.server import ServerOptions, WebSocketSite
from wstool.net.wire import Timeouts
from wstool.net.workers import (
    AdoptedEndpoint,
    LineSplitter,
    WorkerSlot,
    describe_exit,
    listening_sockets,
)

ORIGIN = b"\x01" * 8
OTHER = b"\x02" * 8


class TestWorkerSlot:
    def test_parse_and_numbers(self) -> None:
        """Worker k of N numbers its connections k, k+N, k+2N: no two workers share one."""
        slot = WorkerSlot.parse("2/3")
        assert (slot.index, slot.count, str(slot)) == (2, 3, "2/3")
        assert slot.first_connection_ids(4) == [2, 5, 8, 11]
        every = [n for k in (1, 2, 3) for n in WorkerSlot(k, 3).first_connection_ids(100)]
        assert sorted(every) == list(range(1, 301))

    @pytest.mark.parametrize("text", ["0/2", "3/2", "x/2", "1", ""])
    def test_garbage_is_refused(self, text: str) -> None:
        with pytest.raises(ValueError):
            WorkerSlot.parse(text)

    def test_describe_exit(self) -> None:
        assert describe_exit(1, None) == "exited with status 1"
        assert describe_exit(None, 9) == "was killed by SIGKILL"


@given(
    st.lists(st.binary(max_size=50).map(lambda b: b.replace(b"\n", b"") + b"\n"), max_size=20),
    st.lists(st.integers(min_value=1, max_value=40), min_size=1, max_size=30),
)
def test_line_splitter_gives_whole_lines_only(lines: list[bytes], cuts: list[int]) -> None:
    """However a worker's output is cut into reads, only whole lines come out, all of them."""
    stream = b"".join(lines)
    splitter = LineSplitter()
    out = []
    position = 0
    for size in cuts * (len(stream) // max(sum(cuts), 1) + 1):
        chunk = stream[position : position + size]
        position += size
        written = splitter.feed(chunk)
        assert written == b"" or written.endswith(b"\n")
        out.append(written)
    out.append(splitter.feed(stream[position:]))
    assert b"".join(out) == stream
    assert splitter.finish() == b""


def test_line_splitter_finish_ends_a_cut_line() -> None:
    splitter = LineSplitter()
    assert splitter.feed(b'{"a": 1}\n{"b"') == b'{"a": 1}\n'
    assert splitter.finish() == b'{"b"\n'


class TestEnvelope:
    @given(
        st.binary(min_size=8, max_size=8),
        st.integers(min_value=0, max_value=2**64 - 1),
        st.sampled_from([Opcode.TEXT, Opcode.BINARY]),
        st.binary(max_size=300),
    )
    def test_round_trip(self, origin: bytes, seq: int, opcode: int, data: bytes) -> None:
        """Opcode, origin, sequence and payload survive, binary payloads included."""
        assert decode_envelope(encode_envelope(origin, seq, opcode, data)) == Envelope(
            opcode, data, origin, seq
        )

    @given(st.binary(max_size=100))
    def test_anything_decodes(self, raw: bytes) -> None:
        """Whatever is on the channel, decoding gives a text or binary message."""
        envelope = decode_envelope(raw)
        assert envelope.opcode in (Opcode.TEXT, Opcode.BINARY)

    def test_foreign_messages(self) -> None:
        """``redis-cli publish wstool:/chat hello`` reaches clients as text; non-UTF-8 as binary."""
        assert decode_envelope(b"hello") == Envelope(Opcode.TEXT, b"hello")
        assert decode_envelope(b"\xff\x00") == Envelope(Opcode.BINARY, b"\xff\x00")
        assert decode_envelope(b"\x00ws1short") == Envelope(Opcode.TEXT, b"\x00ws1short")

    def test_channel_named_after_the_path(self) -> None:
        assert channel_for(b"/chat/room1") == b"wstool:/chat/room1"


class TestRelayState:
    def test_own_messages_and_duplicates_are_dropped_gaps_counted(self) -> None:
        state = RelayState(ORIGIN)
        state.up = True
        channel, raw = state.outbound(b"/c", Opcode.TEXT, b"mine") or (b"", b"")
        assert channel == b"wstool:/c"
        assert state.inbound(raw) is None  # our own: the local clients have it
        first = encode_envelope(OTHER, 1, Opcode.BINARY, b"\x00")
        assert state.inbound(first) == Envelope(Opcode.BINARY, b"\x00", OTHER, 1)
        assert state.inbound(first) is None  # never twice
        assert state.inbound(encode_envelope(OTHER, 4, Opcode.TEXT, b"4")) is not None
        assert state.missed == 2  # 2 and 3 never came
        assert state.inbound(encode_envelope(OTHER, 3, Opcode.TEXT, b"3")) is None  # late

    def test_sequence_goes_up_per_message_published(self) -> None:
        state = RelayState(ORIGIN)
        state.up = True
        seqs = [decode_envelope(state.outbound(b"/", 1, b"x")[1]).seq for _ in range(3)]  # type: ignore[index]
        assert seqs == [1, 2, 3]

    def test_away_messages_are_counted_not_queued(self) -> None:
        state = RelayState(ORIGIN)
        assert state.outbound(b"/", Opcode.TEXT, b"x") is None
        assert state.outbound(b"/", Opcode.TEXT, b"y") is None
        assert (state.take_lost(), state.take_lost()) == (2, 0)


class TestRedisUrl:
    @pytest.mark.parametrize(
        ("url", "address"),
        [
            ("redis://localhost", RedisAddress("localhost", 6379, 0)),
            ("redis://10.0.0.5:6380/3", RedisAddress("10.0.0.5", 6380, 3)),
            ("redis://:s%40cret@h/1", RedisAddress("h", 6379, 1, None, "s@cret")),
            ("redis://me:pw@[::1]:7000/", RedisAddress("::1", 7000, 0, "me", "pw")),
        ],
    )
    def test_parsed(self, url: str, address: RedisAddress) -> None:
        assert parse_redis_url(url) == address

    def test_shown_without_the_password(self) -> None:
        assert str(parse_redis_url("redis://:pw@[::1]:7000/2")) == "redis://[::1]:7000/2"

    @pytest.mark.parametrize(
        "url", ["http://h/", "redis://", "redis://h:0x/0", "redis://h:70000/", "redis://h/x"]
    )
    def test_refused(self, url: str) -> None:
        with pytest.raises(ValueError, match=r"redis://|port|host|database"):
            parse_redis_url(url)


class _FakePublisher:
    def __init__(self) -> None:
        self.sent: list[tuple[bytes, bytes]] = []
        self.pending: list[Deferred[int]] = []

    def publish(self, channel: bytes, message: bytes) -> Deferred[int]:
        self.sent.append((channel, message))
        d: Deferred[int] = Deferred()
        self.pending.append(d)
        return d


class TestRedisBridge:
    def bridge(self) -> tuple[RedisBridge, list[tuple[int, bytes]], list[str]]:
        delivered: list[tuple[int, bytes]] = []
        said: list[str] = []
        bridge = RedisBridge(
            RedisAddress("127.0.0.1", 6390),
            lambda opcode, data: delivered.append((opcode, data)),
            said.append,
            origin=ORIGIN,
        )
        return bridge, delivered, said

    def test_lost_and_back_lines_count_what_was_not_relayed(self) -> None:
        """Messages while Redis is away and PUBLISHes never answered are counted, never resent."""
        bridge, _, said = self.bridge()
        publisher = _FakePublisher()
        bridge.publisher_up(publisher)
        bridge.subscribed()
        bridge.publish(b"/chat", Opcode.TEXT, b"one")
        assert publisher.sent[0][0] == b"wstool:/chat"
        bridge.publisher_down("Connection lost")
        publisher.pending[0].errback(ConnectionError("lost"))  # written, never answered
        bridge.subscriber_down("Connection lost")  # one line for both connections
        bridge.publish(b"/chat", Opcode.TEXT, b"two")
        bridge.publisher_up(publisher)
        assert len(said) == 1  # not back until both are
        bridge.subscribed()
        assert said == [
            "lost Redis at redis://127.0.0.1:6390/0 (Connection lost); local broadcast goes on, "
            "reconnecting",
            "Redis at redis://127.0.0.1:6390/0 is back; 2 messages could not be relayed",
        ]
        assert len(publisher.sent) == 1

    def test_received_messages_go_to_local_clients_once(self) -> None:
        bridge, delivered, said = self.bridge()
        bridge.received(encode_envelope(ORIGIN, 1, Opcode.TEXT, b"ours"))
        bridge.received(encode_envelope(OTHER, 1, Opcode.TEXT, b"a"))
        bridge.received(encode_envelope(OTHER, 1, Opcode.TEXT, b"a"))
        bridge.received(encode_envelope(OTHER, 3, Opcode.BINARY, b"c"))
        assert delivered == [(Opcode.TEXT, b"a"), (Opcode.BINARY, b"c")]
        assert said == ["1 message from other serve processes never came through Redis"]

    def test_publishers_are_held_while_redis_is_behind(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """Past BACKLOG_HIGH bytes unanswered, publish() returns one Deferred (for every
        publisher meanwhile), fired once answers (or failures) bring it to BACKLOG_LOW."""
        monkeypatch.setattr(redisbridge, "BACKLOG_HIGH", 10)
        monkeypatch.setattr(redisbridge, "BACKLOG_LOW", 4)
        bridge, _, _ = self.bridge()
        publisher = _FakePublisher()
        bridge.publisher_up(publisher)
        bridge.subscribed()
        held = [bridge.publish(b"/", Opcode.TEXT, b"abc") for _ in range(5)]
        assert held[:3] == [None, None, None] and bridge.backlog == 15
        assert held[3] is not None and held[4] is held[3]
        fired: list[object] = []
        held[3].addCallback(fired.append)
        publisher.pending[0].callback(1)
        publisher.pending[1].callback(1)
        assert fired == [] and bridge.backlog == 9
        publisher.pending[2].errback(ConnectionError("lost"))  # a failure answers too
        publisher.pending[3].callback(1)
        assert fired == [None] and bridge.backlog == 3
        assert bridge.publish(b"/", Opcode.TEXT, b"abc") is None

    def test_no_lines_while_stopping(self) -> None:
        bridge, _, said = self.bridge()
        bridge.publisher_up(_FakePublisher())
        bridge.subscribed()
        bridge.stop()
        bridge.publisher_down("Connection was closed cleanly")
        assert said == []


class _Observer:
    wants_frames = False

    def __init__(self) -> None:
        self.opened_ids: list[int] = []

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        self.opened_ids.append(conn_id)

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        pass

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        pass

    def rejected(self, peer: str, request: bytes, status: int, reason: str) -> None:
        pass


def _upgrade(path: bytes, extra: bytes = b"") -> bytes:
    return (
        b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n"
        + extra
        + b"\r\n"
    )


def _connect(site: WebSocketSite, path: bytes, extra: bytes = b"") -> tuple[Any, StringTransport]:
    peer = IPv4Address("TCP", "127.0.0.1", 5555)
    protocol = site.buildProtocol(peer)
    transport = StringTransport(peerAddress=peer, hostAddress=IPv4Address("TCP", "127.0.0.1", 1))
    protocol.makeConnection(transport)
    protocol.dataReceived(_upgrade(path, extra))
    assert transport.value().startswith(b"HTTP/1.1 101 ")
    transport.clear()
    return protocol, transport


def test_site_numbers_connections_as_its_worker_slot() -> None:
    """Worker 2 of 3 numbers its connections 2, 5, 8."""
    observer = _Observer()
    site = WebSocketSite(ServerOptions(timeouts=Timeouts()), observer, MemoryReactorClock())
    site.number_connections(2, 3)
    for _ in range(3):
        _connect(site, b"/")
    assert observer.opened_ids == [2, 5, 8]


def test_site_relays_broadcasts_with_their_path_and_delivers_relayed_ones() -> None:
    """A broadcast goes to the other local clients and to the relay with the sender's path
    (query left out); deliver() sends a relayed message to every local client."""
    site = WebSocketSite(
        ServerOptions(mode="broadcast", deflate=False, timeouts=Timeouts()),
        _Observer(),
        MemoryReactorClock(),
    )
    relayed: list[tuple[bytes, int, bytes]] = []
    site.relay = lambda path, opcode, data: relayed.append((path, opcode, data))
    sender, _ = _connect(site, b"/chat?room=1")
    _, other = _connect(site, b"/other")
    sender.dataReceived(bytes.fromhex("818537fa213d7f9f4d5158"))  # RFC 6455 §5.7 "Hello"
    assert relayed == [(b"/chat", Opcode.TEXT, b"Hello")]
    assert other.value() == b"\x81\x05Hello"
    other.clear()
    site.deliver(Opcode.BINARY, b"\x00\x01")
    assert other.value() == b"\x82\x02\x00\x01"


def test_a_sender_is_not_read_while_the_relay_is_behind() -> None:
    """A relay that returns a Deferred holds the sender's reading until it fires; the
    transport's own resume (its send buffer drained) does not end the hold early."""
    site = WebSocketSite(
        ServerOptions(mode="broadcast", deflate=False, timeouts=Timeouts()),
        _Observer(),
        MemoryReactorClock(),
    )
    behind: Deferred[None] = Deferred()
    site.relay = lambda path, opcode, data: behind
    sender, transport = _connect(site, b"/chat")
    sender.dataReceived(bytes.fromhex("818537fa213d7f9f4d5158"))
    assert transport.producerState == "paused"
    transport.producer.pauseProducing()  # its send buffer filled, then drained
    transport.producer.resumeProducing()
    assert transport.producerState == "paused"
    behind.callback(None)
    assert transport.producerState == "producing"


def test_a_held_sender_of_a_deflate_bomb_goes_on_where_it_stopped(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """One read of 100 deflated 64 KiB messages, parsed in batches of 1 MiB: the relay
    holds the sender at the first, so its batch is relayed and the rest waits; once
    the relay catches up, the rest of the read is relayed, in order."""
    monkeypatch.setattr(server_module, "MAX_PENDING_INFLATED", 1 << 20)
    site = WebSocketSite(
        ServerOptions(mode="broadcast", timeouts=Timeouts()), _Observer(), MemoryReactorClock()
    )
    behind: Deferred[None] = Deferred()
    relayed: list[bytes] = []

    def relay(path: bytes, opcode: int, data: bytes) -> Deferred[None] | None:
        relayed.append(data)
        return behind if len(relayed) == 1 else None

    site.relay = relay
    sender, transport = _connect(site, b"/", b"Sec-WebSocket-Extensions: permessage-deflate\r\n")
    client = Connection(Role.CLIENT, codec=PerMessageDeflate(DeflateParams(), is_client=True))
    messages = [bytes([n % 5]) * 65536 for n in range(100)]
    for data in messages:
        client.send_binary(data)
    sender.dataReceived(client.data_to_send())
    assert transport.producerState == "paused"
    assert 1 < len(relayed) <= 17, len(relayed)  # the first batch, then held
    behind.callback(None)
    assert relayed == messages
    assert transport.producerState == "producing"


def test_fd_limit_raised_to_the_hard_one() -> None:
    soft, hard = raise_fd_limit()
    assert resource.getrlimit(resource.RLIMIT_NOFILE) == (soft, hard)
    assert soft == hard or hard == resource.RLIM_INFINITY


def test_sockets_share_one_port_and_a_worker_adopts_its_own() -> None:
    """--port 0: the first socket picks the port, the others join it; a worker's endpoint
    hands its inherited descriptor to the reactor (with the site's TLS options set)."""
    sockets = listening_sockets("127.0.0.1", 0, 3)
    try:
        ports = {sock.getsockname()[1] for sock in sockets}
        assert len(ports) == 1 and ports != {0}
        reactor = MemoryReactorClock()
        site = WebSocketSite(ServerOptions(), _Observer(), reactor)
        fd = os.dup(sockets[0].fileno())
        tls = object()
        d = AdoptedEndpoint(reactor, fd, tls=tls).listen(site)
        assert d.called and site.tls is tls
        assert reactor.adoptedPorts == [(fd, socket.AF_INET, site)]
        with pytest.raises(OSError):
            os.fstat(fd)  # closed once adopted
    finally:
        for sock in sockets:
            sock.close()
