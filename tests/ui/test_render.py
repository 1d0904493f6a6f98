"""Tests of :mod:`wstool.ui.render`: exact text of every view at a fixed width."""

from __future__ import annotations

import io

import pytest
from rich.console import Console, RenderableType

from wstool.core.events import MessageReceived
from wstool.core.frames import FrameParser, Opcode, Role, Violation, WireFrame, encode_frame
from wstool.core.inspect import HandshakeReport, Truncated, inspect_stream
from wstool.ui.render import (
    THEME,
    close_summary,
    frame_block,
    frame_header,
    frame_record,
    handshake_block,
    hex_ascii,
    message_block,
    payload_view,
    report_blocks,
    report_records,
    truncated_line,
    violation_line,
    violation_record,
)

# RFC 6455 §5.7: a single-frame masked text message ("Hello").
MASKED_HELLO = bytes.fromhex("818537fa213d7f9f4d5158")
MASK_REQUIRED = Violation(
    "mask-required", "a client frame is not masked", "RFC 6455 §5.1", 1002, 0x1234
)


def render(renderable: RenderableType) -> str:
    """The plain text of ``renderable`` on a 100-column console without colour."""
    console = Console(width=100, color_system=None, theme=THEME, file=io.StringIO(), soft_wrap=True)
    console.print(renderable)
    output = console.file.getvalue()
    assert isinstance(output, str)
    return output


def parse(data: bytes) -> WireFrame:
    """The one frame in ``data``."""
    (frame,) = FrameParser().feed(data)
    return frame


class TestFrameHeader:
    """One line with every header field."""

    def test_rfc_masked_text_frame(self) -> None:
        """RFC 6455 §5.7 masked "Hello": opcode, FIN, RSV bits, key, length and encoding."""
        assert render(frame_header(parse(MASKED_HELLO))) == (
            "TEXT         FIN rsv=000 mask=37fa213d len=5 (7-bit)\n"
        )

    def test_terse(self) -> None:
        """Not verbose: unremarkable RSV bits and length encoding are left out, the key stays."""
        assert render(frame_header(parse(MASKED_HELLO), verbose=False)) == (
            "TEXT         FIN mask=37fa213d len=5\n"
        )

    def test_unmasked_fragment_with_16_bit_length(self) -> None:
        """A non-final unmasked frame with a 16-bit length says so."""
        frame = parse(encode_frame(Opcode.BINARY, bytes(300), fin=False))
        assert render(frame_header(frame)) == (
            "BINARY       --- rsv=000 unmasked len=300 (16-bit)\n"
        )

    def test_reserved_opcode_name_is_separated(self) -> None:
        """A long reserved opcode name keeps a space before FIN."""
        assert render(frame_header(parse(bytes.fromhex("8300")))) == (
            "RESERVED_NON_CONTROL_0x3 FIN rsv=000 unmasked len=0 (7-bit)\n"
        )

    def test_cut_payload(self) -> None:
        """A frame whose payload is short of its length shows how much is present."""
        frame = parse(MASKED_HELLO)._replace(payload=b"\x7f\x9f")
        assert render(frame_header(frame, verbose=False)) == (
            "TEXT         FIN mask=37fa213d len=5 [2 present]\n"
        )


class TestFrameBlock:
    """Header, payload and violations of one frame."""

    def test_masked_text_frame(self) -> None:
        """The payload is shown unmasked, as text, under the header."""
        frame = parse(MASKED_HELLO)
        assert render(frame_block(frame, frame.data)) == (
            "@0x0000 TEXT         FIN rsv=000 mask=37fa213d len=5 (7-bit)\n  Hello\n"
        )

    def test_close_frame_with_code_and_reason(self) -> None:
        """A Close shows its code, the code's name and the reason."""
        frame = parse(encode_frame(Opcode.CLOSE, b"\x03\xe9server shutdown"))
        assert render(frame_block(frame, frame.data)) == (
            "@0x0000 CLOSE        FIN rsv=000 unmasked len=17 (7-bit)\n"
            "  1001 GOING_AWAY reason 'server shutdown'\n"
        )

    def test_violations_follow_the_payload(self) -> None:
        """Each violation is a line under the frame."""
        frame = parse(bytes.fromhex("810548656c6c6f"))
        assert render(frame_block(frame, frame.data, [MASK_REQUIRED])) == (
            "@0x0000 TEXT         FIN rsv=000 unmasked len=5 (7-bit)\n"
            "  Hello\n"
            "  ✗ @0x1234 mask-required: a client frame is not masked (RFC 6455 §5.1; close 1002)\n"
        )

    def test_compressed_payload_not_shown(self) -> None:
        """RFC 7692 §7.2.3.1: a compressed payload is counted, not shown as garbage."""
        frame = parse(bytes.fromhex("c107f248cdc9c90700"))
        assert render(frame_block(frame, frame.data)) == (
            "@0x0000 TEXT         FIN rsv=100 unmasked len=7 (7-bit)\n  7 compressed bytes\n"
        )

    def test_continuation_of_text_shown_as_text(self) -> None:
        """A CONTINUATION of a text message shows its payload as text."""
        frame = parse(bytes.fromhex("80026c6f"))
        assert render(frame_block(frame, frame.data, message_opcode=Opcode.TEXT)) == (
            "@0x0000 CONTINUATION FIN rsv=000 unmasked len=2 (7-bit)\n  lo\n"
        )

    def test_continuation_of_unknown_message_shown_as_hex(self) -> None:
        """A CONTINUATION whose message is unknown shows hex."""
        frame = parse(bytes.fromhex("80026c6f"))
        assert render(frame_block(frame, frame.data)) == (
            "@0x0000 CONTINUATION FIN rsv=000 unmasked len=2 (7-bit)\n"
            "  0000  6c 6f" + " " * 44 + " |lo|\n"
        )

    def test_empty_payload(self) -> None:
        """No payload line for an empty payload."""
        frame = parse(encode_frame(Opcode.PING))
        assert render(frame_block(frame, frame.data)) == (
            "@0x0000 PING         FIN rsv=000 unmasked len=0 (7-bit)\n"
        )


class TestPayloadViews:
    """Text, JSON, close details or hex, as a person reads them."""

    def test_hex_ascii_of_40_bytes(self) -> None:
        """40 bytes: two full rows and a short one, like hexdump -C."""
        assert render(hex_ascii(bytes(range(0x40, 0x68)))) == (
            "0000  40 41 42 43 44 45 46 47  48 49 4a 4b 4c 4d 4e 4f  |@ABCDEFGHIJKLMNO|\n"
            "0010  50 51 52 53 54 55 56 57  58 59 5a 5b 5c 5d 5e 5f  |PQRSTUVWXYZ[\\]^_|\n"
            "0020  60 61 62 63 64 65 66 67                           |`abcdefg|\n"
        )

    def test_hex_ascii_unprintable_as_dots(self) -> None:
        """Bytes outside printable ASCII show as dots in the ASCII column."""
        assert render(hex_ascii(b"\x00\x1b[2J\x7f\xff", indent=2)) == (
            "  0000  00 1b 5b 32 4a 7f ff" + " " * 29 + " |..[2J..|\n"
        )

    @pytest.mark.parametrize(
        ("payload", "shown"),
        [
            (b'{"a": "\\u202e x"}', '"a": "\\u202e x"'),  # a bidi override written as \u
            (b'{"a": "\\u007f x"}', '"a": "\\x7f x"'),  # DEL written as \u
            (b'{"a": "\x7f x"}', '"a": "\\x7f x"'),  # DEL itself, which JSON leaves as it is
        ],
    )
    def test_json_view_escapes_what_the_terminal_would_obey(
        self, payload: bytes, shown: str
    ) -> None:
        """ASCII JSON can still carry a control or a bidi override: the view escapes it."""
        assert render(payload_view(payload, Opcode.TEXT)).split("\n")[1].strip() == shown

    def test_hex_ascii_limit(self) -> None:
        """Beyond the limit the dump says how many bytes are left out."""
        assert render(hex_ascii(bytes(40), limit=16)) == (
            "0000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n"
            "… 24 more bytes\n"
        )

    def test_json_pretty_printed(self) -> None:
        """A JSON text payload is pretty-printed, two spaces a level, under a 2-space indent."""
        data = b'{"op": "subscribe", "channels": ["ticker"], "id": 7}'
        assert render(payload_view(data, Opcode.TEXT)) == (
            "  {\n"
            '    "op": "subscribe",\n'
            '    "channels": [\n'
            '      "ticker"\n'
            "    ],\n"
            '    "id": 7\n'
            "  }\n"
        )

    def test_json_with_control_characters(self) -> None:
        """JSON strings with an ESC show the JSON escape once, not doubled."""
        assert render(payload_view(b'["\\u001b[2J"]', Opcode.TEXT)) == (
            '  [\n    "\\u001b[2J"\n  ]\n'
        )

    def test_json_beyond_strict_json(self) -> None:
        """NaN and integers past 64 bits (Python's json only) are still pretty-printed."""
        data = b'{"x": NaN, "big": 123456789012345678901234567890}'
        assert render(payload_view(data, Opcode.TEXT)) == (
            '  {\n    "x": NaN,\n    "big": 123456789012345678901234567890\n  }\n'
        )

    def test_json_non_ascii_and_c1_controls(self) -> None:
        """Non-ASCII text stays as it is; a C1 control in a string is made visible."""
        data = '{"name": "zoë\u009b2J"}'.encode()
        assert render(payload_view(data, Opcode.TEXT)) == '  {\n    "name": "zoë\\x9b2J"\n  }\n'

    def test_not_json(self) -> None:
        """Text that merely starts with a brace is shown as text."""
        assert render(payload_view(b"{not json", Opcode.TEXT)) == "  {not json\n"

    def test_peer_escape_sequence_is_visible(self) -> None:
        """An ESC sequence in a text payload is shown as an escape, never sent raw."""
        output = render(payload_view(b"\x1b[2Jhi", Opcode.TEXT))
        assert output == "  \\x1b[2Jhi\n"
        assert "\x1b" not in output

    def test_markup_is_not_interpreted(self) -> None:
        """rich markup in peer text is shown literally."""
        assert render(payload_view(b"[bold]hi[/bold]", Opcode.TEXT)) == "  [bold]hi[/bold]\n"

    def test_text_limit(self) -> None:
        """Long text is cut at the limit and says how much is left."""
        assert render(payload_view(b"abcdefgh", Opcode.TEXT, limit=3)) == (
            "  abc … 5 more characters\n"
        )

    def test_binary_as_hex(self) -> None:
        """A binary payload is a hex+ASCII dump."""
        assert render(payload_view(b"AB", Opcode.BINARY)) == (
            "  0000  41 42" + " " * 44 + " |AB|\n"
        )

    def test_invalid_utf8_text_as_hex(self) -> None:
        """A text payload that is not UTF-8 is shown as hex."""
        assert render(payload_view(b"\xff", Opcode.TEXT)) == "  0000  ff" + " " * 47 + " |.|\n"

    def test_empty(self) -> None:
        """An empty payload has no view."""
        assert payload_view(b"", Opcode.TEXT) is None


class TestClose:
    """Close payloads: code, name, reason."""

    @pytest.mark.parametrize(
        ("payload", "text"),
        [
            (b"\x03\xe8", "1000 NORMAL_CLOSURE"),
            (b"\x03\xe8bye", "1000 NORMAL_CLOSURE reason 'bye'"),
            (b"\x03\xf0", "1008 POLICY_VIOLATION"),
            (b"", "no status code"),
            (b"\x03", "no status code (1 stray byte 03)"),
            (b"\x03\xe8\x1b[2J", "1000 NORMAL_CLOSURE reason '\\x1b[2J'"),
        ],
    )
    def test_close_summary(self, payload: bytes, text: str) -> None:
        """The summary line of a Close payload, with a hostile reason made visible."""
        assert render(close_summary(payload)) == text + "\n"


class TestLines:
    """Violation, truncation and message lines."""

    def test_violation_line(self) -> None:
        """Where, which rule, what, the section and the close code, on one line."""
        assert render(violation_line(MASK_REQUIRED)) == (
            "  ✗ @0x1234 mask-required: a client frame is not masked (RFC 6455 §5.1; close 1002)\n"
        )

    def test_truncated_payload(self) -> None:
        """A cut payload: needed, present and missing bytes."""
        assert render(truncated_line(Truncated(7, 4, 9))) == (
            "@0x0007 truncated: the last frame needs 9 bytes, 4 present, 5 missing\n"
        )

    def test_truncated_header(self) -> None:
        """A cut header: how much of it there is."""
        assert render(truncated_line(Truncated(0x10, 3, None))) == (
            "@0x0010 truncated: the stream ends inside a frame header (3 bytes of it)\n"
        )

    def test_reassembled_message(self) -> None:
        """A message from fragments: kind, start, size, frame count and text."""
        message = MessageReceived(Opcode.TEXT, b"Hello", "Hello", 2, 5, False)
        assert render(message_block(message, 7)) == (
            "  ⤷ message TEXT from @0x0007: 5 bytes in 2 frames\n    Hello\n"
        )

    def test_inflated_message(self) -> None:
        """A compressed message says how many bytes it was on the wire."""
        message = MessageReceived(Opcode.BINARY, b"\x00\x01", None, 1, 7, True)
        assert render(message_block(message, 0)) == (
            "  ⤷ message BINARY from @0x0000: 2 bytes, inflated from 7\n"
            "    0000  00 01" + " " * 44 + " |..|\n"
        )

    def test_handshake_block(self) -> None:
        """The HTTP head: its first line, then a header a line, hostile bytes made visible."""
        report = inspect_stream(b"GET /chat HTTP/1.1\r\nHost: x\r\nX-Evil: a\x1bb\r\n\r\n")
        head = report.items[0]
        assert isinstance(head, HandshakeReport)
        assert render(handshake_block(head)) == (
            "@0x0000 HTTP request: GET /chat HTTP/1.1\n  Host: x\n  X-Evil: a\\x1bb\n"
        )


class TestReportBlocks:
    """A whole stream, block by block."""

    def test_rfc_fragmented_message(self) -> None:
        """RFC 6455 §5.7 "Hel" + "lo": title, two frames, then the reassembled message."""
        report = inspect_stream(bytes.fromhex("010348656c80026c6f"))
        blocks = report_blocks(report, source="10.0.0.1:80", destination="10.0.0.2:5000")
        assert "".join(render(block) for block in blocks) == (
            "10.0.0.1:80 → 10.0.0.2:5000  sent by the server (inferred: no frame is masked)\n"
            "@0x0000 TEXT         --- rsv=000 unmasked len=3 (7-bit)\n"
            "  Hel\n"
            "@0x0005 CONTINUATION FIN rsv=000 unmasked len=2 (7-bit)\n"
            "  lo\n"
            "  ⤷ message TEXT from @0x0000: 5 bytes in 2 frames\n"
            "    Hello\n"
        )

    def test_unknown_sender_and_truncation(self) -> None:
        """A stream with no complete frame: masking is not checked, and the cut is shown."""
        report = inspect_stream(bytes.fromhex("8105486c"))
        assert "".join(render(block) for block in report_blocks(report)) == (
            "sender unknown (no complete frame): masking not checked\n"
            "@0x0000 truncated: the last frame needs 7 bytes, 4 present, 3 missing\n"
        )

    def test_given_sender_and_sequence_violation(self) -> None:
        """A given sender is said so; a sequence violation is its own line."""
        report = inspect_stream(bytes.fromhex("80026c6f"), sender=Role.SERVER)
        assert "".join(render(block) for block in report_blocks(report)) == (
            "sent by the server (as given)\n"
            "@0x0000 CONTINUATION FIN rsv=000 unmasked len=2 (7-bit)\n"
            "  0000  6c 6f" + " " * 44 + " |lo|\n"
            "  ✗ @0x0000 continuation-unexpected: continuation frame with no message to continue"
            " (RFC 6455 §5.4; close 1002)\n"
        )


class TestRecords:
    """JSON-ready dicts, one per line of NDJSON."""

    def test_frame_record_masked_text(self) -> None:
        """Every header field, the unmasked payload in hex and the text."""
        frame = parse(MASKED_HELLO)
        assert frame_record(frame, frame.data) == {
            "type": "frame",
            "offset": 0,
            "fin": True,
            "rsv1": False,
            "rsv2": False,
            "rsv3": False,
            "opcode": 1,
            "opcode_name": "TEXT",
            "masked": True,
            "mask_key": "37fa213d",
            "length": 5,
            "length_bits": 7,
            "payload_hex": "48656c6c6f",
            "text": "Hello",
            "violations": [],
        }

    def test_frame_record_close(self) -> None:
        """A Close record has its code, the code's name and the reason, and no text."""
        frame = parse(encode_frame(Opcode.CLOSE, b"\x03\xe8bye"))
        record = frame_record(frame, frame.data)
        assert {k: record[k] for k in ("close_code", "close_code_name", "close_reason")} == {
            "close_code": 1000,
            "close_code_name": "NORMAL_CLOSURE",
            "close_reason": "bye",
        }
        assert "text" not in record
        assert (record["masked"], record["mask_key"]) == (False, None)

    def test_frame_record_violations(self) -> None:
        """Violations are listed with rule, message, section, close code and offset."""
        frame = parse(bytes.fromhex("810548656c6c6f"))
        record = frame_record(frame, frame.data, [MASK_REQUIRED])
        assert record["violations"] == [
            {
                "rule": "mask-required",
                "message": "a client frame is not masked",
                "section": "RFC 6455 §5.1",
                "close_code": 1002,
                "offset": 0x1234,
            }
        ]
        assert violation_record(MASK_REQUIRED) == record["violations"][0]

    @pytest.mark.parametrize(
        "data",
        [
            bytes.fromhex("8101ff"),  # text that is not UTF-8
            bytes.fromhex("c107f248cdc9c90700"),  # compressed text
            bytes.fromhex("80026c6f"),  # a continuation
            bytes.fromhex("82026c6f"),  # binary
        ],
    )
    def test_frame_record_without_text(self, data: bytes) -> None:
        """Only a payload that is readable text on its own gets a ``text`` field."""
        frame = parse(data)
        record = frame_record(frame, frame.data)
        assert "text" not in record
        assert record["payload_hex"] == frame.data.hex()

    def test_report_records(self) -> None:
        """A stream's records: frames, the message, endpoints and sender on each."""
        report = inspect_stream(bytes.fromhex("010348656c80026c6f8805"))
        records = list(report_records(report, source="a", destination="b"))
        assert [r["type"] for r in records] == ["frame", "frame", "message", "truncated"]
        assert records[2] == {
            "type": "message",
            "offset": 0,
            "opcode": 1,
            "frames": 2,
            "compressed": False,
            "wire_size": 5,
            "size": 5,
            "payload_hex": "48656c6c6f",
            "text": "Hello",
            "sender": "server",
            "source": "a",
            "destination": "b",
        }
        assert records[3] == {
            "type": "truncated",
            "offset": 9,
            "have": 2,
            "need": 7,
            "missing": 5,
            "sender": "server",
            "source": "a",
            "destination": "b",
        }
