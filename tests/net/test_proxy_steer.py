"""Steering relays in memory: injection at frame boundaries, holding, the prompt's grammar."""

from __future__ import annotations

import io
import json
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console
from test_proxy import MASK, REQUEST, RESPONSE, Pair, Recorder
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from wstool.core.connection import State
from wstool.core.errors import UsageError
from wstool.core.events import ConnectionClosed, MessageReceived
from wstool.core.frames import FrameParser, Opcode, Role, encode_frame, forge_frame
from wstool.core.uri import parse_uri
from wstool.net.proxy import ProxyOptions
from wstool.net.steer import RelaySteering, TerminateSteering
from wstool.net.terminate import TerminatingProxy
from wstool.ui.proxylog import ProxyLog
from wstool.ui.proxyprompt import ProxyCommand, execute, parse
from wstool.ui.render import frame_record

KEY = b"\x01\x02\x03\x04"


def steering(pair: Pair) -> RelaySteering:
    return RelaySteering(lambda: pair.proxy.relays, mask_source=lambda n: KEY[:n])


class TestInjection:
    def test_to_the_server_masked_to_the_client_not(self) -> None:
        """A text frame toward each side, masked only toward the server (RFC 6455 §5.1)."""
        pair = Pair()
        pair.upgrade()
        steer = steering(pair)
        assert steer.inject(None, Role.SERVER, Opcode.TEXT, b"hi").endswith(", sent")
        assert pair.upstream_transport.value() == encode_frame(1, b"hi", mask_key=KEY)
        steer.inject(1, Role.CLIENT, Opcode.TEXT, b"yo")
        assert pair.client_transport.value() == encode_frame(1, b"yo")
        assert [t for t, _ in pair.recorder.injections] == [Role.SERVER, Role.CLIENT]

    def test_waits_for_the_frame_in_progress(self) -> None:
        """Mid-frame, the injected frame goes after the frame's last byte, not inside it."""
        pair = Pair()
        pair.upgrade()
        frame = forge_frame(opcode=2, payload=b"abcdef", mask_key=MASK)
        pair.client.dataReceived(frame[:5])
        said = steering(pair).inject(None, Role.SERVER, Opcode.PING, b"p")
        assert said.endswith("waiting for the end of the frame in progress")
        pair.client.dataReceived(frame[5:])
        assert pair.upstream_transport.value() == frame + encode_frame(9, b"p", mask_key=KEY)

    def test_data_frames_wait_for_a_fragmented_message_to_end(self) -> None:
        """Between fragments a Ping may go in (§5.4), a text message may not."""
        pair = Pair()
        pair.upgrade()
        first = forge_frame(opcode=1, payload=b"par", fin=False, mask_key=MASK)
        last = forge_frame(opcode=0, payload=b"t", mask_key=MASK)
        pair.client.dataReceived(first)
        steer = steering(pair)
        assert steer.inject(None, Role.SERVER, Opcode.TEXT, b"x").endswith("message in progress")
        assert steer.inject(None, Role.SERVER, Opcode.PING, b"").endswith("sent")
        pair.client.dataReceived(last)
        ping, text = encode_frame(9, b"", mask_key=KEY), encode_frame(1, b"x", mask_key=KEY)
        assert pair.upstream_transport.value() == first + ping + last + text

    def test_hold_and_release_keep_the_order(self) -> None:
        """Held frames and an injected one go out in order on release."""
        pair = Pair()
        pair.upgrade()
        steer = steering(pair)
        steer.hold(None, Role.CLIENT)
        assert pair.upstream is not None
        one, two = forge_frame(opcode=1, payload=b"1"), forge_frame(opcode=1, payload=b"2")
        pair.upstream.dataReceived(one)
        steer.inject(None, Role.CLIENT, Opcode.TEXT, b"mine")
        pair.upstream.dataReceived(two)
        assert pair.client_transport.value() == b""
        assert steer.connections()[0]["to_client_held"] == 12
        assert steer.release(None, None) == "#1: released 12 bytes to the client"
        assert pair.client_transport.value() == one + encode_frame(1, b"mine") + two

    def test_refusals_are_one_line(self) -> None:
        """No connection, not upgraded yet, nothing held, drop and edit: each says why."""
        pair = Pair()
        steer = steering(pair)
        with pytest.raises(UsageError, match="not an upgraded WebSocket"):
            steer.inject(None, Role.SERVER, Opcode.TEXT, b"x")
        pair.upgrade()
        with pytest.raises(UsageError, match="no open connection #7"):
            steer.hold(7, Role.SERVER)
        with pytest.raises(UsageError, match="nothing is held"):
            steer.release(None, None)
        with pytest.raises(UsageError, match="no held message 1"):
            steer.edit(1, b"x")


def deflate_pair(extension: str) -> Pair:
    """A relay whose 101 agreed on permessage-deflate with ``extension``'s parameters."""
    pair = Pair()
    pair.client.dataReceived(REQUEST)
    assert pair.upstream is not None
    answer = RESPONSE[:-2] + f"Sec-WebSocket-Extensions: {extension}\r\n\r\n".encode()
    pair.upstream.dataReceived(answer)
    pair.client_transport.clear()
    pair.upstream_transport.clear()
    return pair


class TestHeldMessages:
    def test_drop_and_edit_then_release(self) -> None:
        """No deflate: held messages are numbered; one dropped, one edited, the rest as sent."""
        pair = Pair()
        pair.upgrade()
        notices: list[dict[str, object]] = []
        steer = RelaySteering(
            lambda: pair.proxy.relays, mask_source=lambda n: KEY[:n], on_held=notices.append
        )
        steer.hold(None, Role.SERVER)
        one, two, three = (
            forge_frame(opcode=1, payload=p, mask_key=MASK) for p in (b"1", b"2", b"3")
        )
        pair.client.dataReceived(one + two + three)
        assert [(n["number"], n["payload"]) for n in notices] == [(1, b"1"), (2, b"2"), (3, b"3")]
        assert steer.drop(2) == "#1 c→s held message 2 dropped (/release sends the rest)"
        assert steer.edit(3, b"three").startswith("#1 c→s held message 3 edited (5 bytes")
        assert [(r["number"], r["edited"]) for r in steer.held()] == [(1, False), (3, True)]
        assert steer.release(None, Role.SERVER).endswith("(1 dropped, 1 edited)")
        assert pair.upstream_transport.value() == one + encode_frame(1, b"three", mask_key=KEY)

    def test_numbers_are_shared_by_the_connections_of_a_proxy(self) -> None:
        """A second connection's held messages continue the count: a number names one message."""
        pair = Pair()
        pair.upgrade()
        first_upstream = pair.upstream
        second = pair.proxy.buildProtocol(IPv4Address("TCP", "127.0.0.1", 6666))
        second.makeConnection(StringTransport())
        pair.upstream_transport = StringTransport()
        second.dataReceived(REQUEST)
        assert pair.upstream is not None and first_upstream is not None
        pair.upstream.dataReceived(RESPONSE)
        steer = steering(pair)
        steer.hold(1, Role.CLIENT)
        steer.hold(2, Role.CLIENT)
        first_upstream.dataReceived(forge_frame(opcode=1, payload=b"a"))
        pair.upstream.dataReceived(forge_frame(opcode=1, payload=b"b"))
        first_upstream.dataReceived(forge_frame(opcode=1, payload=b"c"))
        assert [(r["conn"], r["number"]) for r in steer.held()] == [(1, 1), (1, 3), (2, 2)]

    def test_holding_starts_at_the_next_frame(self) -> None:
        """The rest of a frame in progress goes out with the held bytes, but is not numbered."""
        pair = Pair()
        pair.upgrade()
        steer = steering(pair)
        frame = forge_frame(opcode=2, payload=b"abcdef", mask_key=MASK)
        pair.client.dataReceived(frame[:5])
        steer.hold(None, Role.SERVER)
        pair.client.dataReceived(frame[5:] + forge_frame(opcode=1, payload=b"n", mask_key=MASK))
        assert [r["payload"] for r in steer.held()] == [b"n"]
        steer.drop(1)
        steer.release(None, None)
        assert pair.upstream_transport.value() == frame

    def test_compressed_with_context_takeover_is_refused(self) -> None:
        """The server keeps its context: dropping its compressed message would break the client."""
        pair = deflate_pair("permessage-deflate")
        steer = steering(pair)
        steer.hold(None, Role.CLIENT)
        assert pair.upstream is not None
        compressed = forge_frame(opcode=1, payload=b"\xca\x48\x04\x00", rsv1=True)
        plain = forge_frame(opcode=1, payload=b"plain")
        pair.upstream.dataReceived(compressed + plain)
        with pytest.raises(UsageError, match="the server keeps its compression context"):
            steer.drop(1)
        with pytest.raises(UsageError, match="--terminate"):
            steer.edit(1, b"x")
        assert "dropped" in steer.drop(2)  # an uncompressed message has no context to break

    def test_no_context_takeover_allows_it(self) -> None:
        """server_no_context_takeover: each server message stands alone, so it may go."""
        pair = deflate_pair("permessage-deflate; server_no_context_takeover")
        steer = steering(pair)
        steer.hold(None, Role.CLIENT)
        assert pair.upstream is not None
        pair.upstream.dataReceived(forge_frame(opcode=1, payload=b"\xca\x48\x04\x00", rsv1=True))
        steer.edit(1, b"new")
        steer.release(None, None)
        assert pair.client_transport.value() == encode_frame(1, b"new")


class TestPrompt:
    @pytest.mark.parametrize(
        ("line", "command"),
        [
            (
                "/inject server hello there",
                ProxyCommand("inject", None, Role.SERVER, b"hello there"),
            ),
            ("/binary 3 client 00ff", ProxyCommand("binary", 3, Role.CLIENT, b"\x00\xff")),
            ("/close server 4000 bye", ProxyCommand("close", None, Role.SERVER, b"\x0f\xa0bye")),
            ("/hold 2 client", ProxyCommand("hold", 2, Role.CLIENT)),
            ("/release", ProxyCommand("release")),
            ("/conns", ProxyCommand("conns")),
            ("/held", ProxyCommand("held")),
            ("/queue", ProxyCommand("held")),
            ("/drop 3", ProxyCommand("drop", number=3)),
            ("/edit 4 new text", ProxyCommand("edit", payload=b"new text", number=4)),
        ],
    )
    def test_grammar(self, line: str, command: ProxyCommand) -> None:
        """Connection numbers are optional; the side is the destination."""
        assert parse(line) == command

    @pytest.mark.parametrize(
        ("line", "needle"),
        [
            ("hello", "start with /"),
            ("/inject hello", "client or server"),
            ("/binary server zz", "not hex"),
            ("/frobnicate", "unknown command"),
            ("/drop", "which held message"),
            ("/drop 1 2", "one number"),
            ("{not json", "not a JSON line"),
            ('{"event": "summary", "conn": 1, "direction": "both"}', "no conn and direction"),
            ('{"event": "request", "conn": 1, "direction": "client-to-server"}', "not traffic"),
        ],
    )
    def test_mistakes_are_one_line(self, line: str, needle: str) -> None:
        """A mistyped line says what is wrong."""
        with pytest.raises(UsageError, match=needle):
            parse(line)

    def test_execute_against_a_relay(self) -> None:
        """/inject through the prompt reaches the server; /conns lists the connection."""
        pair = Pair()
        pair.upgrade()
        out = io.StringIO()
        console = Console(file=out, color_system=None, width=120)
        log = ProxyLog(console)
        steer = steering(pair)
        command = parse("/inject server via the prompt")
        assert command is not None and execute(command, steer, log, console)
        assert pair.upstream_transport.value() == encode_frame(1, b"via the prompt", mask_key=KEY)
        execute(ProxyCommand("conns"), steer, log, console)
        assert (
            "#1 127.0.0.1:5555 → ws://upstream.test:9000/api/chat?room=1 (relay)" in out.getvalue()
        )
        assert not execute(ProxyCommand("quit"), steer, log, console)


class TestPastedRecords:
    def test_a_logged_message_is_sent_again(self) -> None:
        """A --json line of the log pasted at the prompt goes out again, same conn and way."""
        pair = Pair()
        pair.upgrade()
        out = io.StringIO()
        log = ProxyLog(Console(file=out), json_out=out)
        frame = forge_frame(opcode=2, payload=b"\x00\x01", mask_key=MASK)
        relay = next(iter(pair.proxy.relays))
        assert relay.client.tap is not None
        log.items(1, Role.CLIENT, relay.client.tap.feed(frame))
        line = next(x for x in out.getvalue().splitlines() if '"frame"' in x)
        command = parse(line)
        assert command == ProxyCommand("binary", 1, Role.SERVER, b"\x00\x01")
        console = Console(file=io.StringIO())
        execute(command, steering(pair), log, console)
        assert pair.upstream_transport.value() == encode_frame(2, b"\x00\x01", mask_key=KEY)

    def test_an_odd_frame_is_forged_as_it_was(self) -> None:
        """RSV2, a reserved opcode or no mask: the frame is rebuilt bit for bit, its key kept."""
        record = (
            '{"event": "frame", "conn": 2, "direction": "client-to-server", "fin": true, '
            '"rsv1": false, "rsv2": true, "rsv3": false, "opcode": 3, "masked": true, '
            '"mask_key": "37fa213d", "payload_hex": "6869"}'
        )
        expected = forge_frame(opcode=3, payload=b"hi", rsv2=True, mask_key=MASK)
        assert parse(record) == ProxyCommand("forge", 2, Role.SERVER, expected)

    def test_messages_closes_and_injections(self) -> None:
        """Text and binary messages, a close and an injected record each map to their command."""
        text = '{"event": "message", "conn": 1, "direction": "server-to-client", "text": "hé"}'
        assert parse(text) == ProxyCommand("inject", 1, Role.CLIENT, "hé".encode())
        binary = (
            '{"event": "message", "conn": 1, "direction": "proxy-to-server", "opcode": 2, '
            '"payload_hex": "ff00"}'
        )
        assert parse(binary) == ProxyCommand("binary", 1, Role.SERVER, b"\xff\x00")
        close = (
            '{"event": "close", "conn": 3, "direction": "client-to-server", "code": 4000, '
            '"reason": "bye"}'
        )
        assert parse(close) == ProxyCommand("close", 3, Role.SERVER, b"\x0f\xa0bye")
        injected = (
            '{"event": "injected", "conn": 1, "direction": "server-to-client", "bytes_hex": "8100"}'
        )
        assert parse(injected) == ProxyCommand("forge", 1, Role.CLIENT, b"\x81\x00")

    def test_a_compressed_frame_is_refused(self) -> None:
        """Its bytes depend on a deflate context: the message record is the one to paste."""
        record = (
            '{"event": "frame", "conn": 1, "direction": "client-to-server", "fin": true, '
            '"rsv1": true, "rsv2": false, "rsv3": false, "opcode": 1, "masked": true, '
            '"mask_key": "37fa213d", "payload_hex": "00"}'
        )
        with pytest.raises(UsageError, match="paste the message record"):
            parse(record)


@given(
    opcode=st.sampled_from([0, 1, 2, 3, 8, 9, 10, 11]),
    payload=st.binary(max_size=60),
    fin=st.booleans(),
    rsv2=st.booleans(),
    masked=st.booleans(),
    toward=st.sampled_from([Role.SERVER, Role.CLIENT]),
)
def test_a_pasted_frame_record_gives_back_that_frame(
    opcode: int, payload: bytes, fin: bool, rsv2: bool, masked: bool, toward: Role
) -> None:
    """Any uncompressed frame's --json record, pasted, is the same frame: forged bit for bit,
    or (well-formed, masked as its direction requires) the same opcode and payload."""
    key = MASK if masked else None
    wire = forge_frame(opcode=opcode, payload=payload, fin=fin, rsv2=rsv2, mask_key=key)
    (frame,) = FrameParser().feed(wire)
    direction = "client-to-server" if toward is Role.SERVER else "server-to-client"
    record = {"event": "frame", "conn": 4, "direction": direction}
    record.update(frame_record(frame, frame.data))
    command = parse(json.dumps(record))
    assert command.conn == 4 and command.side is toward
    if command.name == "forge":
        assert command.payload == wire
    else:
        assert (fin, rsv2, masked) == (True, False, toward is Role.SERVER)
        assert opcode in (1, 2, 8, 9, 10) and command.payload == payload


class _FakeConn:
    def __init__(self) -> None:
        self.state = State.OPEN
        self.sent: list[tuple[int, bytes]] = []

    def send_message(self, opcode: int, data: bytes) -> None:
        self.sent.append((opcode, data))

    def send_close(self, code: int | None, reason: str) -> None:
        self.sent.append((8, (code or 0).to_bytes(2, "big") + reason.encode()))
        self.state = State.CLOSING


class TestTerminateSteering:
    def link(self) -> tuple[TerminateSteering, Any, _FakeConn, _FakeConn]:
        """A terminated connection whose two sides are fakes that keep what is sent."""
        proxy = TerminatingProxy(
            ProxyOptions(upstream=parse_uri("ws://upstream.test/")),
            Recorder(),
            MemoryReactorClock(),
        )
        link = proxy.new_link(1, "127.0.0.1:5555", lambda head: parse_uri("ws://upstream.test/"))
        to_server, to_client = _FakeConn(), _FakeConn()
        link.stage = "open"
        link.session = SimpleNamespace(
            is_open=True, conn=to_server, wire=SimpleNamespace(flush=lambda: None)
        )
        link.client_wire = SimpleNamespace(conn=to_client, flush=lambda: None)
        return TerminateSteering(proxy), link, to_server, to_client

    def test_hold_drop_edit_release(self) -> None:
        """Held whole messages: one dropped, one edited (even a compressed one), the rest sent."""
        steer, link, to_server, _ = self.link()
        steer.hold(None, Role.SERVER)
        for text in (b"one", b"two", b"three"):
            link.to_server(MessageReceived(1, text, text.decode(), 1, len(text), True))
        assert [r["number"] for r in steer.held()] == [1, 2, 3]
        steer.drop(2)
        steer.edit(3, b"THREE")
        assert to_server.sent == []
        assert (
            steer.release(None, None)
            == "#1: released 2 messages to the server (1 dropped, 1 edited)"
        )
        assert to_server.sent == [(1, b"one"), (1, b"THREE")]
        link.to_server(MessageReceived(1, b"after", "after", 1, 5, False))
        assert to_server.sent[-1] == (1, b"after")

    def test_text_stays_utf8_and_refusals_are_one_line(self) -> None:
        """An edited text message must be UTF-8; unknown numbers and nothing held say so."""
        steer, link, _, _ = self.link()
        steer.hold(1, Role.CLIENT)
        link.to_client(MessageReceived(1, b"hi", "hi", 1, 2, False))
        with pytest.raises(UsageError, match="UTF-8"):
            steer.edit(1, b"\xff")
        with pytest.raises(UsageError, match="no held message 7"):
            steer.drop(7)
        with pytest.raises(UsageError, match="nothing is held"):
            steer.release(1, Role.SERVER)

    def test_a_close_waits_behind_the_held_messages(self) -> None:
        """The server closes while what goes to the client is held: its Close is held last."""
        steer, link, _, to_client = self.link()
        steer.hold(None, Role.CLIENT)
        link.to_client(MessageReceived(1, b"last words", "last words", 1, 10, False))
        link.hop_closed(Role.SERVER, ConnectionClosed(4000, "bye", Role.SERVER, True), failed=False)
        link.hop_gone(Role.SERVER, "closed cleanly")
        assert [(r["number"], r["opcode"]) for r in steer.held()] == [(1, 1), (2, 8)]
        assert to_client.sent == []
        with pytest.raises(UsageError, match="is a Close to the client: it goes last"):
            steer.drop(2)
        steer.release(None, None)
        assert to_client.sent == [(1, b"last words"), (8, b"\x0f\xa0bye")]
