"""Tests of :mod:`wstool.core.connection`: RFC 6455 §5-§7 between a client and a server.

A :class:`ConnectionPair` wires two :class:`Connection` objects back to back and
records every byte each one writes; after each test it checks that those bytes
are whole, well-formed frames, masked by the client with the injected keys in
order, unmasked by the server, and that no Close frame carries 1005 or 1006.
Bytes a misbehaving peer would send are forged and fed to one side directly.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator, Sequence
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wstool.core.connection import DEFAULT_MAX_MESSAGE_SIZE, Connection, State
from wstool.core.errors import UsageError
from wstool.core.events import (
    ConnectionClosed,
    ConnectionFailed,
    Event,
    FrameReceived,
    FrameSent,
    MessageReceived,
    MessageSent,
    PongReceived,
)
from wstool.core.frames import (
    FrameParser,
    Opcode,
    Role,
    WireFrame,
    encode_frame,
    forge_frame,
    parse_close_payload,
)
from wstool.core.masking import apply_mask_python
from wstool.core.rules import Violation, violations

KEY = bytes.fromhex("37fa213d")  # RFC 6455 §5.7
KEYS = [KEY, bytes.fromhex("01020304"), bytes.fromhex("a5a5a5a5")]
HELLO = b"Hello"
CLIENT, SERVER = Role.CLIENT, Role.SERVER


def _no_mask(n: int) -> bytes:
    raise AssertionError("a server masks nothing (RFC 6455 §5.1)")


class ConnectionPair:
    """A client and a server Connection pumping bytes to each other.

    Args:
        keys: the mask keys the client gets, in order, cycling.
        client: more keyword arguments for the client Connection.
        server: more keyword arguments for the server Connection.
    """

    def __init__(
        self,
        *,
        keys: Sequence[bytes] = KEYS,
        client: dict | None = None,
        server: dict | None = None,
    ) -> None:
        self._keys = itertools.cycle(keys)
        self.keys_used: list[bytes] = []
        self.client = Connection(CLIENT, mask_source=self._mask, **(client or {}))
        self.server = Connection(SERVER, mask_source=_no_mask, **(server or {}))
        self.wire = {CLIENT: bytearray(), SERVER: bytearray()}

    def _mask(self, n: int) -> bytes:
        assert n == 4
        key = next(self._keys)
        self.keys_used.append(key)
        return key

    def conn(self, role: Role) -> Connection:
        """The Connection playing ``role``."""
        return self.client if role is CLIENT else self.server

    def send(self, role: Role) -> bytes:
        """Move what ``role`` has queued to its peer; return those bytes."""
        data = self.conn(role).data_to_send()
        self.wire[role] += data
        if data:
            self.conn(role.peer).receive_data(data)
        return data

    def inject(self, role: Role, data: bytes) -> list[Event]:
        """Feed ``role`` bytes forged for its peer; return the events that follow."""
        conn = self.conn(role)
        conn.receive_data(data)
        return conn.events()

    def audit(self) -> None:
        """Check every byte both Connections wrote (see the module docstring)."""
        for role in Role:
            parser = FrameParser()
            frames = list(parser.feed(bytes(self.wire[role])))
            assert parser.buffered == 0, f"{role} wrote a partial frame"
            for frame in frames:
                assert violations(frame, role, check_utf8=False) == []
                if frame.opcode == Opcode.CLOSE:
                    code, _ = parse_close_payload(frame.data)
                    assert code not in (1005, 1006)
            if role is CLIENT:
                keys = [frame.mask_key for frame in frames]
                assert keys == self.keys_used[: len(keys)]


@pytest.fixture
def make_pair() -> Iterator[Callable[..., ConnectionPair]]:
    """A factory of ConnectionPairs, each audited when the test ends."""
    pairs: list[ConnectionPair] = []

    def make(**kwargs: object) -> ConnectionPair:
        pair = ConnectionPair(**kwargs)  # type: ignore[arg-type]
        pairs.append(pair)
        return pair

    yield make
    for pair in pairs:
        pair.audit()


@pytest.fixture
def pair(make_pair: Callable[..., ConnectionPair]) -> ConnectionPair:
    """A client and a server with the default settings."""
    return make_pair()


def wire_frame(
    opcode: int, data: bytes, *, key: bytes | None = None, fin: bool = True, offset: int = 0
) -> WireFrame:
    """The WireFrame of a well-formed frame carrying ``data``."""
    n = len(data)
    bits = 7 if n < 126 else 16 if n < 65536 else 64
    payload = data if key is None else apply_mask_python(data, key)
    return WireFrame(fin, False, False, False, opcode, key, n, bits, payload, offset)


def close_payload(code: int, reason: bytes = b"") -> bytes:
    """The payload of a Close frame."""
    return code.to_bytes(2, "big") + reason


def of(events: list[Event], kind: type) -> list:
    """The events of one kind."""
    return [event for event in events if isinstance(event, kind)]


def sent_close_code(data: bytes) -> int | None:
    """The code of the single Close frame in ``data``."""
    (frame,) = FrameParser().feed(data)
    assert frame.opcode == Opcode.CLOSE
    return parse_close_payload(frame.data)[0]


def assert_failed(
    conn: Connection, events: list[Event], rule: str, section: str, code: int, offset: int
) -> Violation:
    """The connection failed on ``rule``: the events say so and it is closed."""
    violation = conn.failure
    assert violation is not None
    assert (violation.rule, violation.section, violation.close_code, violation.offset) == (
        rule,
        section,
        code,
        offset,
    )
    assert events[-3] == ConnectionFailed(violation)
    assert isinstance(events[-2], FrameSent)
    assert events[-2].frame.opcode == Opcode.CLOSE
    assert events[-1] == ConnectionClosed(code, violation.message, conn.role, False, code)
    assert conn.state is State.CLOSED
    assert conn.transport_should_close
    return violation


# -- RFC 6455 §5.7 -----------------------------------------------------------------


class TestSection5_7ExamplesOnTheWire:
    """RFC 6455 §5.7: Connections write the RFC's example frames byte for byte."""

    @pytest.fixture
    def pair(self, make_pair: Callable[..., ConnectionPair]) -> ConnectionPair:
        """A pair whose client masks with the RFC's key, 37 fa 21 3d."""
        return make_pair(keys=[KEY])

    def test_unmasked_text(self, pair: ConnectionPair) -> None:
        """A server's "Hello" is 81 05 48 65 6c 6c 6f; the client gets the message."""
        pair.server.send_text("Hello")
        assert pair.send(SERVER) == bytes.fromhex("810548656c6c6f")
        assert pair.server.events() == [
            FrameSent(wire_frame(1, HELLO), HELLO),
            MessageSent(1, HELLO, 1, 5, False),
        ]
        assert pair.client.events() == [
            FrameReceived(wire_frame(1, HELLO), HELLO),
            MessageReceived(1, HELLO, "Hello", 1, 5, False),
        ]

    def test_masked_text(self, pair: ConnectionPair) -> None:
        """A client's "Hello" is 81 85 37 fa 21 3d 7f 9f 4d 51 58; the server gets it."""
        pair.client.send_text("Hello")
        assert pair.send(CLIENT) == bytes.fromhex("818537fa213d7f9f4d5158")
        assert pair.client.events() == [
            FrameSent(wire_frame(1, HELLO, key=KEY), HELLO),
            MessageSent(1, HELLO, 1, 5, False),
        ]
        assert pair.server.events() == [
            FrameReceived(wire_frame(1, HELLO, key=KEY), HELLO),
            MessageReceived(1, HELLO, "Hello", 1, 5, False),
        ]

    def test_fragmented_unmasked_text(self, pair: ConnectionPair) -> None:
        """ "Hel" + "lo" is 01 03 48 65 6c, 80 02 6c 6f; the client gets one message."""
        pair.server.send_fragments(Opcode.TEXT, [b"Hel", b"lo"])
        assert pair.send(SERVER) == bytes.fromhex("010348656c80026c6f")
        assert pair.client.events() == [
            FrameReceived(wire_frame(1, b"Hel", fin=False), b"Hel"),
            FrameReceived(wire_frame(0, b"lo", offset=5), b"lo"),
            MessageReceived(1, HELLO, "Hello", 2, 5, False),
        ]

    def test_ping_and_masked_pong(self, pair: ConnectionPair) -> None:
        """Ping 89 05 "Hello" is answered by the masked pong 8a 85 37 fa 21 3d 7f 9f 4d 51 58."""
        pair.server.send_ping(HELLO)
        assert pair.send(SERVER) == bytes.fromhex("890548656c6c6f")
        assert pair.send(CLIENT) == bytes.fromhex("8a8537fa213d7f9f4d5158")
        assert pair.client.events() == [
            FrameReceived(wire_frame(9, HELLO), HELLO),
            FrameSent(wire_frame(10, HELLO, key=KEY), HELLO),
        ]
        assert pair.server.events() == [
            FrameSent(wire_frame(9, HELLO), HELLO),
            FrameReceived(wire_frame(10, HELLO, key=KEY), HELLO),
            PongReceived(HELLO),
        ]
        assert pair.send(SERVER) == b""  # a pong is not answered

    @pytest.mark.parametrize(("budget", "answered"), [(0, 0), (2, 2), (None, 4)])
    def test_pong_budget_stops_answering(
        self, pair: ConnectionPair, budget: int | None, answered: int
    ) -> None:
        """A spent pong budget leaves Pings unanswered (a fault injected on purpose)."""
        pair.client.pong_budget = budget
        for _ in range(4):
            pair.server.send_ping(HELLO)
        pair.send(SERVER)
        pair.send(CLIENT)
        pongs = [e for e in pair.server.events() if isinstance(e, PongReceived)]
        assert len(pongs) == answered
        assert pair.client.pong_budget == (None if budget is None else 0)

    @pytest.mark.parametrize(
        ("size", "header"), [(256, "827e0100"), (65536, "827f0000000000010000")]
    )
    def test_binary_lengths(self, pair: ConnectionPair, size: int, header: str) -> None:
        """256 bytes take a 16-bit length, 64 KiB a 64-bit one, in both directions."""
        data = bytes(range(256)) * (size // 256)
        pair.server.send_binary(data)
        assert pair.send(SERVER) == bytes.fromhex(header) + data
        (message,) = of(pair.client.events(), MessageReceived)
        assert message == MessageReceived(2, data, None, 1, size, False)
        pair.client.send_binary(data)
        masked_header = bytes.fromhex(header[:2] + f"{int(header[2:4], 16) | 0x80:02x}")
        expected = masked_header + bytes.fromhex(header[4:]) + KEY + apply_mask_python(data, KEY)
        assert pair.send(CLIENT) == expected
        (message,) = of(pair.server.events(), MessageReceived)
        assert message.data == data


# -- RFC 6455 §5.1/§5.3 --------------------------------------------------------------


class TestSection5_3ClientMasking:
    """RFC 6455 §5.3: a client masks every frame with a fresh key from its source."""

    def test_keys_come_from_the_source(self, pair: ConnectionPair) -> None:
        """Each client frame carries the next injected key; the server draws none."""
        pair.client.send_text("a")
        pair.client.send_binary(b"b")
        pair.client.send_ping(b"c")
        pair.send(CLIENT)
        frames = [event.frame for event in of(pair.server.events(), FrameReceived)]
        assert [frame.mask_key for frame in frames] == KEYS
        assert [frame.data for frame in frames] == [b"a", b"b", b"c"]
        assert [frame.offset for frame in frames] == [0, 7, 14]
        pair.send(SERVER)
        assert pair.keys_used == KEYS
        assert pair.wire[SERVER] == bytes.fromhex("8a0163")

    def test_counters(self, pair: ConnectionPair) -> None:
        """bytes_sent and bytes_received count the wire bytes on each side."""
        pair.client.send_text("Hello")
        pair.send(CLIENT)
        assert (pair.client.bytes_sent, pair.server.bytes_received) == (11, 11)
        assert (pair.server.bytes_sent, pair.client.bytes_received) == (0, 0)


# -- RFC 6455 §5.4 -----------------------------------------------------------------


class TestSection5_4Fragmentation:
    """RFC 6455 §5.4: messages, fragments, and control frames in between."""

    def test_messages_both_ways(self, pair: ConnectionPair) -> None:
        """Text and binary messages go each way, several per read, in order."""
        pair.client.send_text("héllo")
        pair.client.send_binary(b"\x00\xff")
        pair.send(CLIENT)
        assert of(pair.server.events(), MessageReceived) == [
            MessageReceived(1, "héllo".encode(), "héllo", 1, 6, False),
            MessageReceived(2, b"\x00\xff", None, 1, 2, False),
        ]
        pair.server.send_binary(b"")
        pair.server.send_text("")
        pair.send(SERVER)
        assert of(pair.client.events(), MessageReceived) == [
            MessageReceived(2, b"", None, 1, 0, False),
            MessageReceived(1, b"", "", 1, 0, False),
        ]

    @pytest.mark.parametrize("sender", [CLIENT, SERVER])
    def test_fragmented_message(self, pair: ConnectionPair, sender: Role) -> None:
        """A message in three frames (one empty) arrives as one message of three frames."""
        pair.conn(sender).send_fragments(Opcode.BINARY, [b"ab", b"", b"cd"])
        pair.send(sender)
        events = pair.conn(sender.peer).events()
        assert [e.frame.opcode for e in of(events, FrameReceived)] == [2, 0, 0]
        assert [e.frame.fin for e in of(events, FrameReceived)] == [False, False, True]
        assert of(events, MessageReceived) == [MessageReceived(2, b"abcd", None, 3, 4, False)]

    def test_no_parts_is_one_empty_frame(self, pair: ConnectionPair) -> None:
        """send_fragments with no parts sends one empty final frame."""
        pair.server.send_fragments(Opcode.TEXT, [])
        assert pair.send(SERVER) == bytes.fromhex("8100")

    def test_continuation_without_start(self, pair: ConnectionPair) -> None:
        """A continuation frame with no message to continue fails the connection with 1002."""
        events = pair.inject(SERVER, encode_frame(Opcode.CONTINUATION, b"x", mask_key=KEY))
        assert_failed(pair.server, events, "continuation-unexpected", "RFC 6455 §5.4", 1002, 0)
        assert sent_close_code(pair.send(SERVER)) == 1002
        # The client echoes the code and closes cleanly.
        assert sent_close_code(pair.send(CLIENT)) == 1002
        (closed,) = of(pair.client.events(), ConnectionClosed)
        assert (closed.code, closed.initiator, closed.clean) == (1002, SERVER, True)

    @pytest.mark.parametrize("second", [Opcode.TEXT, Opcode.BINARY])
    def test_new_message_mid_message(self, pair: ConnectionPair, second: int) -> None:
        """A TEXT or BINARY frame before the fragmented message ends fails with 1002."""
        first = encode_frame(Opcode.TEXT, b"a", fin=False, mask_key=KEY)
        events = pair.inject(SERVER, first + encode_frame(second, b"b", mask_key=KEY))
        assert_failed(pair.server, events, "fragment-interleaved", "RFC 6455 §5.4", 1002, 7)
        assert of(events, MessageReceived) == []
        assert sent_close_code(pair.send(SERVER)) == 1002

    def test_control_frames_between_fragments(self, pair: ConnectionPair) -> None:
        """Ping, pong and ping between fragments: pings answered, the message completes."""
        stream = b"".join(
            [
                encode_frame(Opcode.TEXT, b"Hel", fin=False, mask_key=KEY),
                encode_frame(Opcode.PING, b"p1", mask_key=KEY),
                encode_frame(Opcode.CONTINUATION, b"l", fin=False, mask_key=KEY),
                encode_frame(Opcode.PONG, b"q", mask_key=KEY),
                encode_frame(Opcode.PING, b"", mask_key=KEY),
                encode_frame(Opcode.CONTINUATION, b"o", mask_key=KEY),
            ]
        )
        events = pair.inject(SERVER, stream)
        assert of(events, MessageReceived) == [MessageReceived(1, HELLO, "Hello", 3, 5, False)]
        assert pair.server.failure is None
        assert pair.send(SERVER) == bytes.fromhex("8a027031") + bytes.fromhex("8a00")


# -- RFC 6455 §8.1 -----------------------------------------------------------------


FIRST_FRAGMENTS = [
    pytest.param(b"ab\xff", 2, id="invalid-byte"),
    pytest.param(b"\xc0\xaf", 0, id="overlong"),
    pytest.param(b"ok\xe0\x80", 2, id="overlong-prefix"),
    pytest.param(b"ok\xed\xa0", 2, id="surrogate-prefix"),
    pytest.param(b"ok\xf4\x90", 2, id="beyond-10FFFF-prefix"),
    pytest.param(b"ok\xf0\x80", 2, id="overlong-4-prefix"),
]


class TestSection8_1Utf8:
    """RFC 6455 §8.1: text is UTF-8, and a fault fails the connection as soon as it is seen."""

    @pytest.mark.parametrize(("fragment", "index"), FIRST_FRAGMENTS)
    def test_first_fragment_fails_fast(
        self, pair: ConnectionPair, fragment: bytes, index: int
    ) -> None:
        """A bad first fragment fails with 1007 at its bad byte, before the rest arrives."""
        events = pair.inject(SERVER, encode_frame(Opcode.TEXT, fragment, fin=False, mask_key=KEY))
        assert_failed(pair.server, events, "text-utf8", "RFC 6455 §8.1", 1007, 6 + index)
        assert sent_close_code(pair.send(SERVER)) == 1007
        rest = encode_frame(Opcode.CONTINUATION, b"\x80\x80 more", mask_key=KEY)
        assert pair.inject(SERVER, rest) == []
        assert pair.server.data_to_send() == b""

    @pytest.mark.parametrize(("fragment", "index"), FIRST_FRAGMENTS)
    def test_client_fails_fast_too(self, pair: ConnectionPair, fragment: bytes, index: int) -> None:
        """The client applies the same rule to the server's unmasked fragments."""
        events = pair.inject(CLIENT, encode_frame(Opcode.TEXT, fragment, fin=False))
        assert_failed(pair.client, events, "text-utf8", "RFC 6455 §8.1", 1007, 2 + index)
        assert sent_close_code(pair.send(CLIENT)) == 1007

    @pytest.mark.parametrize(
        ("first", "second", "index"),
        [
            pytest.param(b"ok\xed", b"\xa0\x80", 0, id="surrogate-across"),
            pytest.param(b"ok\xf4", b"\x90\x80\x80", 0, id="beyond-10FFFF-across"),
            pytest.param(b"\xe2\x82", b"A", 0, id="cut-sequence"),
            pytest.param(b"\xe2", b"\x82\xacX\xff", 3, id="bad-byte-after-joined"),
        ],
    )
    def test_fault_across_fragments(
        self, pair: ConnectionPair, first: bytes, second: bytes, index: int
    ) -> None:
        """A sequence broken in the next fragment is reported at its byte in that fragment."""
        head = encode_frame(Opcode.TEXT, first, fin=False, mask_key=KEY)
        events = pair.inject(SERVER, head + encode_frame(Opcode.CONTINUATION, second, mask_key=KEY))
        at = len(head) + 6 + index
        assert_failed(pair.server, events, "text-utf8", "RFC 6455 §8.1", 1007, at)

    def test_message_ends_mid_character(self, pair: ConnectionPair) -> None:
        """A message whose last fragment leaves a character unfinished fails with 1007."""
        head = encode_frame(Opcode.TEXT, b"ok\xe2\x82", fin=False, mask_key=KEY)
        events = pair.inject(SERVER, head + encode_frame(Opcode.CONTINUATION, mask_key=KEY))
        assert_failed(pair.server, events, "text-utf8", "RFC 6455 §8.1", 1007, len(head) + 6)

    def test_single_frame(self, pair: ConnectionPair) -> None:
        """A one-frame text message that is not UTF-8 fails with 1007 at its bad byte."""
        pair.client.send_message(Opcode.TEXT, b"Hel\xfflo")
        pair.send(CLIENT)
        events = pair.server.events()
        assert_failed(pair.server, events, "text-utf8", "RFC 6455 §8.1", 1007, 9)
        assert of(events, MessageReceived) == []

    def test_binary_is_not_text(self, pair: ConnectionPair) -> None:
        """Fragments of a binary message may hold any bytes."""
        pair.client.send_fragments(Opcode.BINARY, [b"\xed", b"\xa0\xff"])
        pair.send(CLIENT)
        assert of(pair.server.events(), MessageReceived) == [
            MessageReceived(2, b"\xed\xa0\xff", None, 2, 3, False)
        ]

    @settings(max_examples=500, deadline=None)
    @given(text=st.text(max_size=60), cuts=st.lists(st.integers(0, 300), max_size=8))
    def test_valid_text_split_anywhere(self, text: str, cuts: list[int]) -> None:
        """Valid UTF-8 cut at any byte, mid-character included, is accepted whole."""
        data = text.encode("utf-8")
        bounds = [0, *sorted(c % (len(data) + 1) for c in cuts), len(data)]
        parts = [data[a:b] for a, b in itertools.pairwise(bounds)]
        pair = ConnectionPair()
        pair.client.send_fragments(Opcode.TEXT, parts)
        pair.send(CLIENT)
        messages = of(pair.server.events(), MessageReceived)
        assert messages == [MessageReceived(1, data, text, len(parts), len(data), False)]
        assert pair.server.failure is None
        pair.audit()


# -- RFC 6455 §5.5.2, §5.5.3 -----------------------------------------------------------


class TestSection5_5_2PingPong:
    """RFC 6455 §5.5.2-§5.5.3: a Ping is answered by a Pong with the same data."""

    @pytest.mark.parametrize("data", [b"", HELLO, bytes(range(125))], ids=["0", "5", "125"])
    def test_server_answers_ping(self, pair: ConnectionPair, data: bytes) -> None:
        """The server answers a client's Ping with an unmasked Pong of the same payload."""
        pair.client.send_ping(data)
        pair.send(CLIENT)
        assert pair.send(SERVER) == encode_frame(Opcode.PONG, data)
        assert pair.server.events()[-1] == FrameSent(wire_frame(10, data), data)
        assert pair.client.events()[-2:] == [
            FrameReceived(wire_frame(10, data), data),
            PongReceived(data),
        ]

    @pytest.mark.parametrize("data", [b"", HELLO, bytes(range(125))], ids=["0", "5", "125"])
    def test_client_answers_ping(self, pair: ConnectionPair, data: bytes) -> None:
        """The client answers a server's Ping with a Pong masked with its next key."""
        pair.server.send_ping(data)
        pair.send(SERVER)
        assert pair.send(CLIENT) == encode_frame(Opcode.PONG, data, mask_key=KEYS[0])

    def test_unsolicited_pong_is_ignored(self, pair: ConnectionPair) -> None:
        """An unsolicited Pong is reported as a frame, and nothing else happens."""
        pair.client.send_pong(b"heartbeat")
        pair.send(CLIENT)
        assert pair.server.events() == [
            FrameReceived(wire_frame(10, b"heartbeat", key=KEYS[0]), b"heartbeat"),
            PongReceived(b"heartbeat"),
        ]
        assert pair.send(SERVER) == b""
        assert pair.server.state is State.OPEN

    @pytest.mark.parametrize("method", ["send_ping", "send_pong"])
    def test_at_most_125_bytes(self, pair: ConnectionPair, method: str) -> None:
        """Sending a control frame over 125 bytes is a UsageError; nothing is queued."""
        with pytest.raises(UsageError):
            getattr(pair.client, method)(b"x" * 126)
        assert pair.send(CLIENT) == b""


class TestFrameEvents:
    """FrameSent and FrameReceived are reported only when frames are recorded."""

    def test_without_frame_events(self, make_pair: Callable[..., ConnectionPair]) -> None:
        """With record_frames=False, messages, pongs and the close are still reported."""
        pair = make_pair(client={"record_frames": False}, server={"record_frames": False})
        pair.client.send_text("hi")
        pair.client.send_ping(b"p")
        assert pair.client.events() == []
        pair.send(CLIENT)
        assert pair.server.events() == [MessageReceived(1, b"hi", "hi", 1, 2, False)]
        assert pair.send(SERVER) == bytes.fromhex("8a0170")
        assert pair.client.events() == [PongReceived(b"p")]
        pair.client.send_close(1000)
        pair.send(CLIENT)
        pair.send(SERVER)
        assert pair.client.events() == [ConnectionClosed(1000, "", CLIENT, True, 1000)]
        assert pair.client.closed and pair.server.closed


# -- RFC 6455 §7.1 ------------------------------------------------------------------


class TestSection7_1ClosingHandshake:
    """RFC 6455 §5.5.1 and §7.1: the closing handshake, started by either end."""

    def test_client_initiates(self, pair: ConnectionPair) -> None:
        """The server echoes code and reason and drops TCP; the client waits for EOF."""
        pair.client.send_close(1000, "bye")
        assert pair.client.state is State.CLOSING
        sent = pair.send(CLIENT)
        assert sent == encode_frame(Opcode.CLOSE, close_payload(1000, b"bye"), mask_key=KEYS[0])
        assert pair.send(SERVER) == bytes.fromhex("880503e8627965")
        assert pair.server.events()[-1] == ConnectionClosed(1000, "bye", CLIENT, True, 1000)
        assert pair.server.transport_should_close
        assert pair.client.events()[-1] == ConnectionClosed(1000, "bye", CLIENT, True, 1000)
        assert (pair.client.state, pair.server.state) == (State.CLOSED, State.CLOSED)
        assert pair.client.close_received == (1000, "bye")
        # RFC 6455 §7.1.1: the server closes TCP first; the client waits for it.
        assert not pair.client.transport_should_close
        pair.client.receive_eof()
        assert pair.client.transport_should_close
        assert pair.client.events() == []

    def test_server_initiates(self, pair: ConnectionPair) -> None:
        """The client echoes the server's code and reason, masked; both close cleanly."""
        pair.server.send_close(4000, "maintenance")
        assert pair.send(SERVER) == encode_frame(Opcode.CLOSE, close_payload(4000, b"maintenance"))
        expected = encode_frame(Opcode.CLOSE, close_payload(4000, b"maintenance"), mask_key=KEYS[0])
        assert pair.send(CLIENT) == expected
        assert pair.client.events()[-1] == ConnectionClosed(4000, "maintenance", SERVER, True, 4000)
        assert not pair.client.transport_should_close
        assert pair.server.events()[-1] == ConnectionClosed(4000, "maintenance", SERVER, True, 4000)
        assert pair.server.transport_should_close

    def test_empty_close(self, pair: ConnectionPair) -> None:
        """An empty Close is answered by an empty Close and reported as 1005."""
        pair.client.send_close(None)
        assert pair.send(CLIENT) == bytes.fromhex("8880") + KEYS[0]
        assert pair.send(SERVER) == bytes.fromhex("8800")
        assert pair.server.events()[-1] == ConnectionClosed(1005, "", CLIENT, True, None)
        assert pair.client.events()[-1] == ConnectionClosed(1005, "", CLIENT, True, None)

    def test_reason_not_echoed_on_request(self, make_pair: Callable[..., ConnectionPair]) -> None:
        """With echo_close_reason=False the reply carries the code alone."""
        pair = make_pair(server={"echo_close_reason": False})
        pair.client.send_close(1001, "going")
        pair.send(CLIENT)
        assert pair.send(SERVER) == bytes.fromhex("880203e9")
        assert pair.client.events()[-1] == ConnectionClosed(1001, "", CLIENT, True, 1001)

    def test_simultaneous_close(self, pair: ConnectionPair) -> None:
        """Both ends close at once: no third Close, each sees its own as the first."""
        pair.client.send_close(1000)
        pair.server.send_close(1001)
        pair.send(CLIENT)
        pair.send(SERVER)
        assert pair.send(CLIENT) == b""
        assert pair.send(SERVER) == b""
        assert pair.client.events()[-1] == ConnectionClosed(1001, "", CLIENT, True, 1000)
        assert pair.server.events()[-1] == ConnectionClosed(1000, "", SERVER, True, 1001)

    def test_messages_still_arrive_while_closing(self, pair: ConnectionPair) -> None:
        """A message the server sent before it saw our Close is still delivered."""
        pair.client.send_close()
        pair.server.send_text("late")
        pair.send(SERVER)
        assert of(pair.client.events(), MessageReceived) == [
            MessageReceived(1, b"late", "late", 1, 4, False)
        ]
        pair.send(CLIENT)
        pair.send(SERVER)
        assert pair.client.events()[-1] == ConnectionClosed(1000, "", CLIENT, True, 1000)

    def test_eof_before_close(self, pair: ConnectionPair) -> None:
        """TCP ending with no Close is 1006, not clean (RFC 6455 §7.1.5), and final."""
        pair.client.receive_eof()
        assert pair.client.events() == [ConnectionClosed(1006, "", None, False, None)]
        assert pair.client.state is State.CLOSED
        assert pair.client.transport_should_close
        pair.server.send_text("after")
        pair.send(SERVER)
        assert pair.client.events() == []

    def test_eof_after_our_close(self, pair: ConnectionPair) -> None:
        """TCP ending before the peer's Close is 1006 too, with our code as sent_code."""
        pair.server.send_close(1001, "bye")
        pair.server.receive_eof()
        assert pair.server.events()[-1] == ConnectionClosed(1006, "", SERVER, False, 1001)

    @pytest.mark.parametrize(
        "payload",
        [close_payload(1000, b"ok"), close_payload(4999), b""],
        ids=["1000", "4999", "empty"],
    )
    def test_close_is_not_answered_twice(self, pair: ConnectionPair, payload: bytes) -> None:
        """After the handshake, another Close from the peer is ignored."""
        pair.client.send_close(1000)
        pair.send(CLIENT)
        pair.send(SERVER)
        pair.client.events()
        assert pair.inject(CLIENT, encode_frame(Opcode.CLOSE, payload)) == []
        assert pair.send(CLIENT) == b""


class TestSendClose:
    """RFC 6455 §7.4 and §5.5: what send_close may put on the wire."""

    @pytest.mark.parametrize("code", [1005, 1006, 1015, 1004, 999, 0, 1016, 2999, 5000])
    def test_code_that_may_not_be_sent(self, pair: ConnectionPair, code: int) -> None:
        """A code that may not appear in a Close frame is a UsageError; nothing is sent."""
        with pytest.raises(UsageError):
            pair.client.send_close(code)
        assert pair.client.state is State.OPEN
        assert pair.send(CLIENT) == b""

    def test_longest_reason(self, pair: ConnectionPair) -> None:
        """A 123-byte reason fills the 125-byte control payload exactly."""
        pair.server.send_close(1000, "r" * 123)
        assert pair.send(SERVER) == bytes.fromhex("887d03e8") + b"r" * 123

    @pytest.mark.parametrize("reason", ["r" * 124, "é" * 62], ids=["ascii", "utf-8"])
    def test_reason_too_long(self, pair: ConnectionPair, reason: str) -> None:
        """A reason over 123 bytes of UTF-8 is a UsageError."""
        with pytest.raises(UsageError):
            pair.client.send_close(1000, reason)
        assert pair.send(CLIENT) == b""

    def test_reason_without_code(self, pair: ConnectionPair) -> None:
        """A reason needs a code in front of it."""
        with pytest.raises(UsageError):
            pair.client.send_close(None, "why")

    def test_double_close(self, pair: ConnectionPair) -> None:
        """A second send_close is a UsageError, while closing and once closed."""
        pair.client.send_close(1000)
        with pytest.raises(UsageError):
            pair.client.send_close(1000)
        pair.send(CLIENT)
        pair.send(SERVER)
        with pytest.raises(UsageError):
            pair.client.send_close(1000)
        with pytest.raises(UsageError):
            pair.server.send_close(1000)

    @pytest.mark.parametrize(
        "send",
        [
            lambda c: c.send_text("x"),
            lambda c: c.send_binary(b"x"),
            lambda c: c.send_message(Opcode.TEXT, b"x"),
            lambda c: c.send_fragments(Opcode.BINARY, [b"x", b"y"]),
            lambda c: c.send_ping(b"x"),
            lambda c: c.send_pong(b"x"),
        ],
        ids=["text", "binary", "message", "fragments", "ping", "pong"],
    )
    def test_nothing_after_close(self, pair: ConnectionPair, send: Callable) -> None:
        """After our Close (§5.5.1) and once our reply is out, sending is a UsageError."""
        pair.client.send_close(1000)
        with pytest.raises(UsageError):
            send(pair.client)
        pair.send(CLIENT)
        assert pair.send(SERVER) == bytes.fromhex("880203e8")
        with pytest.raises(UsageError):
            send(pair.server)

    def test_answers_before_the_close_reply(self, pair: ConnectionPair) -> None:
        """A message sent after the peer's Close arrived goes out before our Close reply.

        §5.5.1 lets an endpoint "delay sending a Close frame until its current
        message is sent": an echo server answering messages that came in the same
        read as the Close loses nothing.
        """
        pair.client.send_text("one")
        pair.client.send_close(1000)
        pair.send(CLIENT)
        events = pair.server.events()
        assert [e.text for e in events if isinstance(e, MessageReceived)] == ["one"]
        assert not [e for e in events if isinstance(e, ConnectionClosed)], "not answered yet"
        with pytest.raises(UsageError):
            pair.server.send_ping(b"x")  # control frames: the peer has closed
        pair.server.send_text("one")
        assert pair.send(SERVER) == bytes.fromhex("81036f6e65") + bytes.fromhex("880203e8")
        closed = [e for e in pair.server.events() if isinstance(e, ConnectionClosed)]
        assert closed == [ConnectionClosed(1000, "", Role.CLIENT, True, 1000)]
        assert pair.server.transport_should_close

    def test_compression_not_negotiated(self, pair: ConnectionPair) -> None:
        """Asking to compress without a codec is a UsageError."""
        with pytest.raises(UsageError):
            pair.client.send_message(Opcode.TEXT, b"x", compress=True)


# -- RFC 6455 §7.4.1: 1009 -----------------------------------------------------------


class TestSection7_4_1MessageTooBig:
    """RFC 6455 §7.4.1: 1009 for a message too big, found as early as possible."""

    @pytest.mark.parametrize("header", ["82fe03e9", "82ff00000000000003e9", "80ff00000000ffffffff"])
    def test_single_frame_header_only(
        self, make_pair: Callable[..., ConnectionPair], header: str
    ) -> None:
        """The header alone fails the connection with 1009; the payload is never read."""
        pair = make_pair(server={"max_message_size": 1000})
        events = pair.inject(SERVER, bytes.fromhex(header))
        assert_failed(pair.server, events, "frame-too-big", "RFC 6455 §7.4.1", 1009, 0)
        assert sent_close_code(pair.send(SERVER)) == 1009
        assert pair.inject(SERVER, KEY + b"x" * 1001) == []
        assert pair.server.data_to_send() == b""

    def test_default_limit(self, pair: ConnectionPair) -> None:
        """The default limit is 64 MiB: a header declaring one byte more fails with 1009."""
        assert DEFAULT_MAX_MESSAGE_SIZE == 64 * 2**20
        header = forge_frame(opcode=2, length=DEFAULT_MAX_MESSAGE_SIZE + 1, mask_key=KEY)
        events = pair.inject(SERVER, header)
        assert_failed(pair.server, events, "frame-too-big", "RFC 6455 §7.4.1", 1009, 0)

    def test_client_side(self, make_pair: Callable[..., ConnectionPair]) -> None:
        """A client with a limit fails on the server's oversized frame, at its offset."""
        pair = make_pair(client={"max_message_size": 10})
        pair.server.send_binary(b"x" * 10)
        pair.server.send_binary(b"x" * 11)
        pair.send(SERVER)
        events = pair.client.events()
        assert len(of(events, MessageReceived)) == 1
        assert_failed(pair.client, events, "frame-too-big", "RFC 6455 §7.4.1", 1009, 12)
        assert sent_close_code(pair.send(CLIENT)) == 1009

    def test_sum_of_fragments(self, make_pair: Callable[..., ConnectionPair]) -> None:
        """Fragments under the limit each but over it together fail with 1009."""
        pair = make_pair(server={"max_message_size": 10})
        pair.client.send_fragments(Opcode.BINARY, [b"x" * 5, b"y" * 5])
        pair.client.send_fragments(Opcode.TEXT, [b"x" * 6, b"y" * 5])
        pair.send(CLIENT)
        events = pair.server.events()
        assert of(events, MessageReceived) == [
            MessageReceived(2, b"x" * 5 + b"y" * 5, None, 2, 10, False)
        ]
        assert_failed(pair.server, events, "message-too-big", "RFC 6455 §7.4.1", 1009, 34)
        assert sent_close_code(pair.send(SERVER)) == 1009

    def test_frame_limit_apart_from_message_limit(
        self, make_pair: Callable[..., ConnectionPair]
    ) -> None:
        """max_frame_size limits each frame; fragments within it can exceed it together."""
        pair = make_pair(server={"max_message_size": 100, "max_frame_size": 5})
        pair.client.send_fragments(Opcode.BINARY, [b"x" * 5, b"y" * 5])
        pair.client.send_binary(b"z" * 6)
        pair.send(CLIENT)
        events = pair.server.events()
        assert [m.data for m in of(events, MessageReceived)] == [b"x" * 5 + b"y" * 5]
        assert_failed(pair.server, events, "frame-too-big", "RFC 6455 §7.4.1", 1009, 22)


# -- RFC 6455 §7.1.7 ----------------------------------------------------------------


class TestSection7_1_7FailingTheConnection:
    """RFC 6455 §7.1.7: a broken rule fails the connection with its code, and that is final."""

    @pytest.mark.parametrize(
        ("frame", "rule", "section", "code", "offset"),
        [
            (encode_frame(1, HELLO), "mask-required", "RFC 6455 §5.1", 1002, 1),
            (
                encode_frame(1, HELLO, rsv1=True, mask_key=KEY),
                "reserved-bits",
                "RFC 6455 §5.2",
                1002,
                0,
            ),
            (
                encode_frame(2, HELLO, rsv3=True, mask_key=KEY),
                "reserved-bits",
                "RFC 6455 §5.2",
                1002,
                0,
            ),
            (encode_frame(3, b"", mask_key=KEY), "reserved-opcode", "RFC 6455 §5.2", 1002, 0),
            (encode_frame(0xB, b"", mask_key=KEY), "reserved-opcode", "RFC 6455 §5.2", 1002, 0),
            (
                forge_frame(opcode=9, payload=b"p" * 126, mask_key=KEY),
                "control-too-long",
                "RFC 6455 §5.5",
                1002,
                0,
            ),
            (
                forge_frame(opcode=9, fin=False, mask_key=KEY),
                "control-fragmented",
                "RFC 6455 §5.5",
                1002,
                0,
            ),
            (
                forge_frame(opcode=2, payload=HELLO, length_bits=16, mask_key=KEY),
                "length-not-minimal",
                "RFC 6455 §5.2",
                1002,
                1,
            ),
            (
                encode_frame(8, b"\x03", mask_key=KEY),
                "close-payload-1-byte",
                "RFC 6455 §5.5.1",
                1002,
                6,
            ),
            (
                encode_frame(8, close_payload(1005), mask_key=KEY),
                "close-code-invalid",
                "RFC 6455 §7.4",
                1002,
                6,
            ),
            (
                encode_frame(8, close_payload(1006), mask_key=KEY),
                "close-code-invalid",
                "RFC 6455 §7.4",
                1002,
                6,
            ),
            (
                encode_frame(8, close_payload(1000, b"a\xff"), mask_key=KEY),
                "close-reason-utf8",
                "RFC 6455 §5.5.1",
                1007,
                9,
            ),
        ],
        ids=lambda v: v if isinstance(v, str) and not v.startswith("RFC") else None,
    )
    def test_rule_fails_with_its_code(
        self, pair: ConnectionPair, frame: bytes, rule: str, section: str, code: int, offset: int
    ) -> None:
        """The first broken rule sets the close code sent, once, and ends the connection."""
        preamble = encode_frame(Opcode.PING, b"ok", mask_key=KEY)
        events = pair.inject(SERVER, preamble + frame)
        at = len(preamble) + offset
        assert_failed(pair.server, events, rule, section, code, at)
        sent = pair.send(SERVER)
        assert sent.startswith(encode_frame(Opcode.PONG, b"ok"))
        assert sent_close_code(sent[4:]) == code

    def test_client_refuses_masked_server_frame(self, pair: ConnectionPair) -> None:
        """A masked frame from the server is mask-forbidden, 1002."""
        events = pair.inject(CLIENT, encode_frame(1, HELLO, mask_key=KEY))
        assert_failed(pair.client, events, "mask-forbidden", "RFC 6455 §5.1", 1002, 1)
        assert sent_close_code(pair.send(CLIENT)) == 1002

    def test_everything_after_failure_is_ignored(self, pair: ConnectionPair) -> None:
        """After failing, received frames make no events and nothing more is sent."""
        pair.inject(SERVER, encode_frame(1, HELLO))
        pair.send(SERVER)
        received = pair.server.bytes_received
        later = encode_frame(Opcode.PING, b"?", mask_key=KEY) + encode_frame(
            Opcode.TEXT, HELLO, mask_key=KEY
        )
        assert pair.inject(SERVER, later) == []
        assert pair.server.data_to_send() == b""
        assert pair.server.bytes_received == received
        pair.server.receive_eof()
        assert pair.server.events() == []

    def test_frames_after_the_bad_one_in_the_same_read(self, pair: ConnectionPair) -> None:
        """The bad frame is reported (to be shown); the frames behind it are not processed."""
        stream = encode_frame(1, HELLO) + encode_frame(Opcode.PING, b"?", mask_key=KEY)
        events = pair.inject(SERVER, stream)
        assert [(e.frame.opcode, e.data) for e in of(events, FrameReceived)] == [(1, HELLO)]
        assert sent_close_code(pair.send(SERVER)) == 1002

    def test_failure_while_closing_sends_no_second_close(self, pair: ConnectionPair) -> None:
        """Failing after our own Close sends nothing more; sent_code stays our first code."""
        pair.server.send_close(1001, "bye")
        events = pair.inject(SERVER, encode_frame(1, HELLO))
        violation = pair.server.failure
        assert violation is not None and violation.rule == "mask-required"
        assert events[-2:] == [
            ConnectionFailed(violation),
            ConnectionClosed(1002, violation.message, SERVER, False, 1001),
        ]
        assert pair.send(SERVER) == encode_frame(Opcode.CLOSE, close_payload(1001, b"bye"))

    def test_long_message_is_cut_to_a_close_reason(self, pair: ConnectionPair) -> None:
        """A violation's long message becomes a reason of at most 123 bytes of valid UTF-8."""
        pair.server.fail(Violation("custom", "é" * 100, "RFC 6455 §7.1.7", 1008, 0))
        sent = pair.send(SERVER)
        (frame,) = FrameParser().feed(sent)
        code, reason = parse_close_payload(frame.data)
        assert (code, reason) == (1008, ("é" * 61).encode())
        assert frame.length == 124


def test_idle_assemblers_share_nothing_that_grows() -> None:
    """The empty part lists idle assemblers share stay empty through messages and faults."""
    from wstool.core import assembler as module

    server = Connection(Role.SERVER)
    client = Connection(Role.CLIENT)
    client.send_fragments(Opcode.TEXT, [b"fr", b"ag"])
    client.send_fragments(Opcode.BINARY, [b"\x00", b"\x01"])
    client.send_text("whole")
    server.receive_data(client.data_to_send())
    texts = [e for e in server.events() if isinstance(e, MessageReceived)]
    assert [m.data for m in texts] == [b"frag", b"\x00\x01", b"whole"]
    client.send_raw(b"\x01\x82" + b"\x00" * 4 + b"\xc3\x28"[:1] + b"\x28")  # a fragment...
    client.send_raw(b"\x80\x81" + b"\x00" * 4 + b"\xff")  # ...ending in bad UTF-8
    server.receive_data(client.data_to_send())
    assert server.failure is not None and server.failure.close_code == 1007
    assert module._NO_PARTS == [] and module._NO_TEXT == []


@given(
    opcode=st.sampled_from([Opcode.TEXT, Opcode.BINARY]),
    sizes=st.lists(st.integers(0, 300), min_size=1, max_size=5),
)
def test_unrecorded_server_sends_the_same_bytes(opcode: int, sizes: list[int]) -> None:
    """A server that records no frames writes exactly what one that records them writes."""
    quiet = Connection(Role.SERVER, record_frames=False)
    recording = Connection(Role.SERVER, record_frames=True)
    for n in sizes:
        data = b"a" * n
        quiet.send_message(opcode, data)
        recording.send_message(opcode, data)
    wire = quiet.data_to_send()
    assert wire == recording.data_to_send()
    assert wire == b"".join(encode_frame(opcode, b"a" * n) for n in sizes)
    assert (quiet.bytes_sent, quiet.frames_sent) == (recording.bytes_sent, recording.frames_sent)
    assert quiet.events() == []


class TestEcho:
    """Connection(echo=True): every message answered with itself, in order."""

    def serve(self, record: bool, **options: Any) -> tuple[Connection, Connection]:
        server = Connection(Role.SERVER, record_frames=record, echo=True, **options)
        client = Connection(Role.CLIENT, mask_source=lambda n: KEY)
        return server, client

    def echoed(self, server: Connection, wire: bytes) -> list[tuple[int, bytes]]:
        server.receive_data(wire)
        reader = Connection(Role.CLIENT)
        reader.receive_data(server.data_to_send())
        return [(e.opcode, e.data) for e in reader.events() if isinstance(e, MessageReceived)]

    @pytest.mark.parametrize("record", [False, True])
    def test_order_kept_across_short_long_and_fragmented(self, record: bool) -> None:
        server, client = self.serve(record)
        client.send_text("one")
        client.send_fragments(Opcode.BINARY, [b"tw", b"o"])
        client.send_binary(b"x" * 300)
        client.send_text("four")
        expected = [(1, b"one"), (2, b"two"), (2, b"x" * 300), (1, b"four")]
        assert self.echoed(server, client.data_to_send()) == expected
        received = [e for e in server.events() if isinstance(e, MessageReceived)]
        assert len(received) == (4 if record else 0)

    @pytest.mark.parametrize("record", [False, True])
    def test_messages_before_the_peers_close_are_answered_first(self, record: bool) -> None:
        server, client = self.serve(record)
        client.send_text("last words")
        client.send_close(1000, "bye")
        server.receive_data(client.data_to_send())
        reader = Connection(Role.CLIENT)
        reader.receive_data(server.data_to_send())
        frames = [e.frame.opcode for e in reader.events() if isinstance(e, FrameReceived)]
        assert frames == [Opcode.TEXT, Opcode.CLOSE]
        assert reader.close_received == (1000, "bye")

    @pytest.mark.parametrize("record", [False, True])
    def test_nothing_echoed_after_our_close(self, record: bool) -> None:
        server, client = self.serve(record)
        server.send_close(1001, "going away")
        server.data_to_send()
        client.send_text("too late")
        assert self.echoed(server, client.data_to_send()) == []

    @pytest.mark.parametrize("record", [False, True])
    def test_bad_utf8_still_fails(self, record: bool) -> None:
        server, client = self.serve(record)
        client.send_raw(forge_frame(opcode=Opcode.TEXT, payload=b"\xff", mask_key=KEY))
        server.receive_data(client.data_to_send())
        assert server.failure is not None and server.failure.close_code == 1007
