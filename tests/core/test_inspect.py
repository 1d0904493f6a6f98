"""Tests of :mod:`wstool.core.inspect`: a captured byte stream -> frames, messages, violations."""

from __future__ import annotations

import pytest

from wstool.core.deflate import DeflateParams
from wstool.core.events import MessageReceived
from wstool.core.frames import Opcode, Role, Violation, encode_frame, forge_frame
from wstool.core.inspect import (
    FrameReport,
    HandshakeReport,
    MessageReport,
    SequenceViolation,
    StreamReport,
    Truncated,
    inspect_stream,
    inspect_streams,
    negotiated_deflate,
)

# The masking key of every masked example in RFC 6455 §5.7.
KEY = bytes.fromhex("37fa213d")
# RFC 6455 §5.7: a single-frame unmasked text message, and the masked one.
HELLO_SERVER = bytes.fromhex("810548656c6c6f")
HELLO_CLIENT = bytes.fromhex("818537fa213d7f9f4d5158")
# RFC 7692 §7.2.3.1: "Hello" compressed, one frame; §7.2.3.2: a second "Hello"
# that refers back into the window the first one left.
DEFLATE_HELLO = bytes.fromhex("c107f248cdc9c90700")
DEFLATE_HELLO_AGAIN = bytes.fromhex("c105f200110000")
HELLO_DEFLATED = bytes.fromhex("f248cdc9c90700")

REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: 127.0.0.1:8765\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
    b"\r\n"
)


def response(extensions: str | None = "permessage-deflate", status: str = "101") -> bytes:
    """A server's opening handshake response, with an extensions header if given."""
    lines = [
        f"HTTP/1.1 {status} Switching Protocols",
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=",
    ]
    if extensions is not None:
        lines.append(f"Sec-WebSocket-Extensions: {extensions}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def kinds(report: StreamReport) -> list[str]:
    """The item types of a report, in order, for a compact comparison."""
    return [type(item).__name__ for item in report.items]


def sequence_violations(report: StreamReport) -> list[Violation]:
    """The violations about the order of frames."""
    return [item.violation for item in report.items if isinstance(item, SequenceViolation)]


def messages(report: StreamReport) -> list[MessageReport]:
    """The reassembled or inflated messages."""
    return [item for item in report.items if isinstance(item, MessageReport)]


class TestSenderInference:
    """Who sent a stream decides the masking rules (RFC 6455 §5.1)."""

    def test_http_request_means_client(self) -> None:
        """A stream that starts with a GET request was sent by the client."""
        report = inspect_stream(REQUEST + HELLO_CLIENT)
        assert report.sender is Role.CLIENT
        assert report.sender_inferred
        assert report.inferred_from == "the HTTP request at the start"
        assert report.violations == []

    def test_http_response_means_server(self) -> None:
        """A stream that starts with an HTTP response was sent by the server."""
        report = inspect_stream(response(None) + HELLO_SERVER)
        assert report.sender is Role.SERVER
        assert report.inferred_from == "the HTTP response at the start"

    def test_http_request_wins_over_mask_bits(self) -> None:
        """After a request, unmasked frames are a client's mistake, not a server's frames."""
        report = inspect_stream(REQUEST + HELLO_SERVER)
        assert report.sender is Role.CLIENT
        assert [v.rule for v in report.violations] == ["mask-required"]
        assert report.violations[0].offset == len(REQUEST) + 1

    def test_all_masked_means_client(self) -> None:
        """Every frame masked: a client sent them."""
        report = inspect_stream(HELLO_CLIENT * 2)
        assert (report.sender, report.inferred_from) == (Role.CLIENT, "every frame is masked")
        assert report.sender_inferred

    def test_none_masked_means_server(self) -> None:
        """No frame masked: a server sent them."""
        report = inspect_stream(HELLO_SERVER * 2)
        assert (report.sender, report.inferred_from) == (Role.SERVER, "no frame is masked")

    def test_mixed_means_unknown_and_masking_unchecked(self) -> None:
        """Masked and unmasked frames mixed: sender unknown, and no masking rule is applied."""
        report = inspect_stream(HELLO_SERVER + HELLO_CLIENT)
        assert report.sender is None
        assert report.sender_inferred
        assert report.inferred_from == "frames are both masked and unmasked"
        assert report.violations == []
        assert [f.data for f in report.frames] == [b"Hello", b"Hello"]

    def test_no_complete_frame(self) -> None:
        """A stream with no complete frame gives no sender."""
        report = inspect_stream(HELLO_SERVER[:3])
        assert (report.sender, report.inferred_from) == (None, "no complete frame")

    def test_given_sender_is_not_inferred(self) -> None:
        """A sender passed in is used as is, and its masking rule applies."""
        report = inspect_stream(HELLO_SERVER, sender=Role.CLIENT)
        assert report.sender is Role.CLIENT
        assert not report.sender_inferred
        assert report.inferred_from == ""
        assert report.violations == [
            Violation("mask-required", "a client frame is not masked", "RFC 6455 §5.1", 1002, 1)
        ]

    def test_given_server_sender_flags_masked_frames(self) -> None:
        """A masked frame from a server breaks §5.1."""
        report = inspect_stream(HELLO_CLIENT, sender=Role.SERVER)
        assert [(v.rule, v.offset) for v in report.violations] == [("mask-forbidden", 1)]


class TestFrames:
    """Each frame is reported with its payload unmasked and its own violations."""

    def test_masked_frame_unmasked(self) -> None:
        """RFC 6455 §5.7: the masked "Hello" is reported with its key and plain payload."""
        (frame,) = inspect_stream(HELLO_CLIENT).frames
        assert frame.frame.mask_key == KEY
        assert frame.frame.payload == bytes.fromhex("7f9f4d5158")
        assert frame.data == b"Hello"
        assert frame.violations == ()
        assert frame.message_opcode is None
        assert not frame.compressed

    def test_offsets_count_from_the_start_of_the_stream(self) -> None:
        """Frame offsets include the HTTP head before them."""
        report = inspect_stream(REQUEST + HELLO_CLIENT + HELLO_CLIENT)
        assert [f.frame.offset for f in report.frames] == [len(REQUEST), len(REQUEST) + 11]

    def test_single_frame_message_is_not_repeated(self) -> None:
        """A whole message in one uncompressed frame gives no separate message item."""
        report = inspect_stream(HELLO_SERVER)
        assert kinds(report) == ["FrameReport"]

    def test_reserved_opcode(self) -> None:
        """A reserved opcode is a frame violation, and decoding goes on."""
        report = inspect_stream(bytes.fromhex("8300") + HELLO_SERVER)
        assert [(v.rule, v.offset) for v in report.violations] == [("reserved-opcode", 0)]
        assert [f.data for f in report.frames] == [b"", b"Hello"]

    def test_rsv1_without_deflate(self) -> None:
        """RSV1 with no deflate agreed is one reserved-bits violation, and nothing crashes."""
        report = inspect_stream(DEFLATE_HELLO)
        assert report.violations == [
            Violation(
                "reserved-bits",
                "RSV1 is set but no extension was negotiated",
                "RFC 6455 §5.2",
                1002,
                0,
            )
        ]
        assert kinds(report) == ["FrameReport"]
        assert report.frames[0].compressed

    def test_fragmented_rsv1_without_deflate(self) -> None:
        """A compressed fragmented message without deflate: its continuations are in order."""
        data = forge_frame(opcode=Opcode.TEXT, payload=HELLO_DEFLATED[:3], fin=False, rsv1=True)
        data += encode_frame(Opcode.CONTINUATION, HELLO_DEFLATED[3:])
        report = inspect_stream(data)
        assert [v.rule for v in report.violations] == ["reserved-bits"]
        assert kinds(report) == ["FrameReport", "FrameReport"]
        assert [f.compressed for f in report.frames] == [True, True]


class TestFragmentation:
    """RFC 6455 §5.4: fragments in order, reassembled into messages."""

    def test_rfc_fragmented_text(self) -> None:
        """RFC 6455 §5.7: "Hel" + "lo" is one text message starting at the first fragment."""
        report = inspect_stream(HELLO_SERVER + bytes.fromhex("010348656c80026c6f"))
        assert kinds(report) == ["FrameReport", "FrameReport", "FrameReport", "MessageReport"]
        (message,) = messages(report)
        assert message.offset == 7
        assert message.message.text == "Hello"
        assert message.message.frames == 2
        assert message.message.wire_size == 5
        assert not message.message.compressed
        assert report.frames[2].message_opcode == Opcode.TEXT

    def test_control_frame_between_fragments(self) -> None:
        """A Ping between two fragments is allowed (§5.4) and the message still completes."""
        data = encode_frame(Opcode.BINARY, b"\x00\x01", fin=False)
        data += encode_frame(Opcode.PING, b"hi")
        data += encode_frame(Opcode.CONTINUATION, b"\x02")
        report = inspect_stream(data)
        assert report.violations == []
        (message,) = messages(report)
        assert (message.message.opcode, message.message.data) == (Opcode.BINARY, b"\x00\x01\x02")
        assert message.message.text is None
        assert report.frames[2].message_opcode == Opcode.BINARY

    def test_continuation_unexpected(self) -> None:
        """A CONTINUATION with no message in progress breaks §5.4; the next message is fine."""
        data = encode_frame(Opcode.CONTINUATION, b"lo") + HELLO_SERVER
        report = inspect_stream(data)
        assert sequence_violations(report) == [
            Violation(
                "continuation-unexpected",
                "continuation frame with no message to continue",
                "RFC 6455 §5.4",
                1002,
                0,
            )
        ]
        assert kinds(report) == ["FrameReport", "SequenceViolation", "FrameReport"]

    def test_fragment_interleaved(self) -> None:
        """A new data message before the fragmented one ends breaks §5.4."""
        data = encode_frame(Opcode.TEXT, b"Hel", fin=False) + HELLO_SERVER
        report = inspect_stream(data)
        assert sequence_violations(report) == [
            Violation(
                "fragment-interleaved",
                "new TEXT message before the fragmented one finished",
                "RFC 6455 §5.4",
                1002,
                5,
            )
        ]

    def test_text_utf8_valid_across_fragments(self) -> None:
        """A UTF-8 sequence split between fragments is fine (§8.1 is about the whole message)."""
        data = encode_frame(Opcode.TEXT, b"\xe2\x82", fin=False)
        data += encode_frame(Opcode.CONTINUATION, b"\xac")
        report = inspect_stream(data)
        assert report.violations == []
        assert messages(report)[0].message.text == "€"

    def test_text_utf8_invalid_across_fragments(self) -> None:
        """Invalid UTF-8 in a later fragment is reported at its byte, and decoding goes on."""
        data = encode_frame(Opcode.TEXT, b"\xe2\x82", fin=False)
        data += encode_frame(Opcode.CONTINUATION, b"\xff")
        data += HELLO_SERVER
        report = inspect_stream(data)
        assert sequence_violations(report) == [
            Violation("text-utf8", "text is not UTF-8 at message byte 2", "RFC 6455 §8.1", 1007, 6)
        ]
        assert kinds(report) == ["FrameReport", "FrameReport", "SequenceViolation", "FrameReport"]
        assert report.frames[-1].data == b"Hello"

    def test_text_utf8_invalid_in_first_fragment(self) -> None:
        """Once a message is broken, its remaining fragments raise no further violations."""
        data = encode_frame(Opcode.TEXT, b"\xff\xff", fin=False)
        data += encode_frame(Opcode.CONTINUATION, b"A", fin=False)
        data += encode_frame(Opcode.CONTINUATION, b"B")
        data += HELLO_SERVER
        report = inspect_stream(data)
        assert [(v.rule, v.offset) for v in report.violations] == [("text-utf8", 2)]
        assert [f.data for f in report.frames] == [b"\xff\xff", b"A", b"B", b"Hello"]
        assert messages(report) == []

    def test_frame_after_close(self) -> None:
        """Every frame after a Close breaks §5.5.1, each naming the first Close's offset."""
        close = encode_frame(Opcode.CLOSE, b"\x03\xe8")
        report = inspect_stream(close + HELLO_SERVER + close)
        assert sequence_violations(report) == [
            Violation(
                "frame-after-close",
                "TEXT frame after the Close frame at offset 0",
                "RFC 6455 §5.5.1",
                1002,
                4,
            ),
            Violation(
                "frame-after-close",
                "CLOSE frame after the Close frame at offset 0",
                "RFC 6455 §5.5.1",
                1002,
                11,
            ),
        ]


class TestTruncation:
    """A stream that ends inside a frame says where, and what is missing."""

    def test_header_cut(self) -> None:
        """Cut inside the extended length: the frame's size is unknown."""
        report = inspect_stream(bytes.fromhex("817e00"))
        assert report.truncated == Truncated(0, 3, None)
        assert report.truncated.missing is None
        assert report.frames == []

    def test_one_byte(self) -> None:
        """A lone first byte is a cut header."""
        assert inspect_stream(b"\x81").truncated == Truncated(0, 1, None)

    def test_payload_cut(self) -> None:
        """Cut inside the payload: the missing byte count is known."""
        report = inspect_stream(HELLO_SERVER[:4])
        assert report.truncated == Truncated(0, 4, 7)
        assert report.truncated.missing == 3

    def test_cut_after_complete_frames(self) -> None:
        """The cut frame's offset follows the complete frames, and it is the last item."""
        report = inspect_stream(HELLO_SERVER + bytes.fromhex("817e0100aa"))
        assert kinds(report) == ["FrameReport", "Truncated"]
        assert report.truncated == Truncated(7, 5, 260)
        assert report.truncated.missing == 255

    def test_cut_after_handshake(self) -> None:
        """After an HTTP head, the cut offset counts the head too."""
        report = inspect_stream(REQUEST + HELLO_CLIENT[:-1])
        assert report.truncated == Truncated(len(REQUEST), 10, 11)

    def test_complete_stream_is_not_truncated(self) -> None:
        """A stream of whole frames has no truncation."""
        assert inspect_stream(HELLO_SERVER).truncated is None

    def test_empty_stream(self) -> None:
        """No bytes: no items, nothing cut."""
        report = inspect_stream(b"")
        assert report.items == []
        assert report.truncated is None


class TestHandshake:
    """An HTTP head at the start is reported and sets the frames' offsets."""

    def test_request_head(self) -> None:
        """The request head is kept exactly, with its request line and headers."""
        report = inspect_stream(REQUEST + HELLO_CLIENT)
        head = report.items[0]
        assert isinstance(head, HandshakeReport)
        assert (head.kind, head.raw, head.offset) == ("request", REQUEST, 0)
        assert head.first_line == "GET /chat HTTP/1.1"
        assert head.headers[0] == ("Host", "127.0.0.1:8765")
        assert head.headers[-1] == (
            "Sec-WebSocket-Extensions",
            "permessage-deflate; client_max_window_bits",
        )

    def test_head_without_end_is_not_a_handshake(self) -> None:
        """A head with no blank line is not taken for a handshake."""
        report = inspect_stream(b"HTTP/1.1 101 Switching\r\n")
        assert not any(isinstance(item, HandshakeReport) for item in report.items)


class TestNegotiatedDeflate:
    """permessage-deflate agreed in a captured 101 response (RFC 7692 §5)."""

    def head(self, raw: bytes) -> HandshakeReport:
        return HandshakeReport("response", raw)

    def test_plain_agreement(self) -> None:
        """A bare permessage-deflate gives the default parameters."""
        assert negotiated_deflate(self.head(response())) == DeflateParams()

    def test_parameters(self) -> None:
        """No-context-takeover flags and window sizes are read."""
        ext = (
            "permessage-deflate; server_no_context_takeover; client_no_context_takeover; "
            "server_max_window_bits=10; client_max_window_bits=12"
        )
        assert negotiated_deflate(self.head(response(ext))) == DeflateParams(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=10,
            client_max_window_bits=12,
        )

    @pytest.mark.parametrize(
        ("raw", "why"),
        [
            (response(None), "no extension header"),
            (response("x-webkit-deflate-frame"), "another extension"),
            (response("permessage-deflate", status="400"), "not a 101"),
            (response("permessage-deflate; server_max_window_bits=20"), "window out of range"),
            (response("permessage-deflate; server_max_window_bits=7"), "window too small"),
        ],
    )
    def test_no_agreement(self, raw: bytes, why: str) -> None:
        """No agreement (and no exception) when the response does not agree on deflate."""
        assert negotiated_deflate(self.head(raw)) is None, why


class TestDeflate:
    """Compressed messages are inflated, with the LZ77 window kept as negotiated."""

    def test_rfc7692_hello(self) -> None:
        """RFC 7692 §7.2.3.1: one compressed frame inflates to "Hello"."""
        report = inspect_stream(DEFLATE_HELLO, deflate=DeflateParams())
        assert report.violations == []
        assert kinds(report) == ["FrameReport", "MessageReport"]
        (message,) = messages(report)
        assert message.message == MessageReceived(Opcode.TEXT, b"Hello", "Hello", 1, 7, True)
        assert report.frames[0].compressed

    def test_context_kept_across_messages(self) -> None:
        """RFC 7692 §7.2.3.2: the second message refers back to the first one's window."""
        report = inspect_stream(DEFLATE_HELLO + DEFLATE_HELLO_AGAIN, deflate=DeflateParams())
        assert report.violations == []
        assert [m.message.text for m in messages(report)] == ["Hello", "Hello"]
        assert [m.offset for m in messages(report)] == [0, 9]

    def test_no_context_takeover(self) -> None:
        """With no context takeover the back-reference is out of the window: 1007."""
        params = DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True)
        report = inspect_stream(DEFLATE_HELLO + DEFLATE_HELLO_AGAIN, deflate=params)
        assert [m.message.text for m in messages(report)] == ["Hello"]
        (violation,) = report.violations
        assert (violation.rule, violation.close_code, violation.offset) == ("inflate", 1007, 9)
        assert violation.section == "RFC 7692 §7.2.2"

    def test_fragmented_compressed_message(self) -> None:
        """A compressed message split in two: RSV1 on the first frame only, inflated once."""
        data = forge_frame(opcode=Opcode.TEXT, payload=HELLO_DEFLATED[:3], fin=False, rsv1=True)
        data += encode_frame(Opcode.CONTINUATION, HELLO_DEFLATED[3:])
        report = inspect_stream(data, deflate=DeflateParams())
        assert report.violations == []
        assert [f.compressed for f in report.frames] == [True, True]
        (message,) = messages(report)
        assert message.message == MessageReceived(Opcode.TEXT, b"Hello", "Hello", 2, 7, True)

    def test_rsv1_on_control_frame(self) -> None:
        """RSV1 on a control frame breaks RFC 7692 §6 even with deflate."""
        data = forge_frame(opcode=Opcode.PING, payload=b"", rsv1=True)
        (violation,) = inspect_stream(data, deflate=DeflateParams()).violations
        assert (violation.rule, violation.section) == ("reserved-bits", "RFC 7692 §6")

    def test_inflated_size_cap(self) -> None:
        """A message that inflates past the cap is a 1009 violation."""
        report = inspect_stream(DEFLATE_HELLO, deflate=DeflateParams(), max_inflated_size=3)
        (violation,) = report.violations
        assert (violation.rule, violation.close_code) == ("inflate", 1009)


class TestInspectStreams:
    """The directions of a capture, each sharing its own connection's deflate agreement."""

    def test_deflate_from_101_applies_both_ways(self) -> None:
        """A 101 that agrees on deflate makes both directions' RSV1 messages inflate."""
        client = REQUEST + forge_frame(
            opcode=Opcode.TEXT, payload=HELLO_DEFLATED, rsv1=True, mask_key=KEY
        )
        server = response() + DEFLATE_HELLO
        reports = inspect_streams([("c", "s", client), ("s", "c", server)])
        assert [(src, dst) for src, dst, _ in reports] == [("c", "s"), ("s", "c")]
        for _, _, report in reports:
            assert report.violations == []
            assert [m.message.text for m in messages(report)] == ["Hello"]
        assert [r.sender for _, _, r in reports] == [Role.CLIENT, Role.SERVER]

    def test_given_deflate_wins(self) -> None:
        """Parameters passed in are used rather than the 101's."""
        server = response() + DEFLATE_HELLO + DEFLATE_HELLO_AGAIN
        params = DeflateParams(server_no_context_takeover=True, client_no_context_takeover=True)
        ((_, _, report),) = inspect_streams([(None, None, server)], deflate=params)
        assert [v.rule for v in report.violations] == ["inflate"]

    def test_no_101_no_deflate(self) -> None:
        """Without a handshake, RSV1 frames are reserved-bits violations."""
        ((_, _, report),) = inspect_streams([(None, None, DEFLATE_HELLO)])
        assert [v.rule for v in report.violations] == ["reserved-bits"]

    def test_deflate_decided_per_connection(self) -> None:
        """A plain connection, then one that agreed on deflate: each is read by its own 101.

        The plain connection's RSV1 frame is a violation; the deflate connection's are not.
        """
        plain_client = (
            REQUEST
            + HELLO_CLIENT
            + forge_frame(opcode=Opcode.TEXT, payload=b"x", rsv1=True, mask_key=KEY)
        )
        plain_server = response(extensions=None) + HELLO_SERVER
        deflate_client = REQUEST + forge_frame(
            opcode=Opcode.TEXT, payload=HELLO_DEFLATED, rsv1=True, mask_key=KEY
        )
        deflate_server = response() + DEFLATE_HELLO + DEFLATE_HELLO_AGAIN
        streams = [
            ("c:1", "s:80", plain_client),
            ("s:80", "c:1", plain_server),
            ("c:2", "s:80", deflate_client),
            ("s:80", "c:2", deflate_server),
        ]
        reports = [report for _, _, report in inspect_streams(streams)]
        assert [[v.rule for v in report.violations] for report in reports] == [
            ["reserved-bits"],
            [],
            [],
            [],
        ]
        assert [m.message.text for m in messages(reports[3])] == ["Hello", "Hello"]

    def test_deflate_connection_first(self) -> None:
        """The first connection's agreement does not carry over to a later plain one."""
        streams = [
            ("s:80", "c:2", response() + DEFLATE_HELLO),
            ("s:80", "c:1", response(extensions=None) + DEFLATE_HELLO),
        ]
        reports = [report for _, _, report in inspect_streams(streams)]
        assert [[v.rule for v in report.violations] for report in reports] == [
            [],
            ["reserved-bits"],
        ]

    def test_sender_passed_to_every_stream(self) -> None:
        """A given sender applies to each stream."""
        reports = inspect_streams([(None, None, HELLO_SERVER)], sender=Role.CLIENT)
        assert [v.rule for v in reports[0][2].violations] == ["mask-required"]


def test_report_items_are_frames_then_what_they_complete() -> None:
    """A message item follows the frame that completed it, in stream order."""
    data = bytes.fromhex("010348656c") + bytes.fromhex("80026c6f") + HELLO_SERVER
    items = inspect_stream(data).items
    assert [type(i) for i in items] == [FrameReport, FrameReport, MessageReport, FrameReport]
