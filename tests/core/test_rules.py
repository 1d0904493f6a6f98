"""Tests of :mod:`wstool.core.rules`: the RFC 6455 rules a frame is judged by.

Each rule has one named check; :func:`violations` reports the ones a frame
breaks, at the byte they concern. :class:`Utf8Decoder` and :class:`PartialText`
check the UTF-8 of text (RFC 6455 §8.1) as it arrives.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import example, given, settings
from hypothesis import strategies as st

import wstool.core.frames
from wstool.core import rules
from wstool.core.frames import (
    FrameParser,
    Opcode,
    Role,
    WireFrame,
    forge_frame,
    parse_close_payload,
)
from wstool.core.rules import (
    PartialText,
    Utf8Decoder,
    control_ok,
    header_ok,
    is_valid_close_code,
    length_ok,
    mask_ok,
    opcode_ok,
    reserved_bits_ok,
    violations,
)

# The masking key of every masked example in RFC 6455 §5.7.
KEY = bytes.fromhex("37fa213d")
HELLO = b"Hello"
DATA_256 = bytes(range(256))


def parse_all(data: bytes) -> list[WireFrame]:
    """All frames of ``data`` fed at once, checking nothing is left over."""
    parser = FrameParser()
    frames = list(parser.feed(data))
    assert parser.buffered == 0
    return frames


# -- violations() ---------------------------------------------------------------

# Every frame under test follows this one, so offsets are stream offsets, not 0.
PREAMBLE = bytes.fromhex("810548656c6c6f")
AT = len(PREAMBLE)


def frame_after_preamble(**shape: object) -> WireFrame:
    """The frame forge_frame(**shape) makes, parsed at stream offset AT."""
    frames = parse_all(PREAMBLE + forge_frame(**shape))  # type: ignore[arg-type]
    assert len(frames) == 2
    assert frames[1].offset == AT
    return frames[1]


def found(frame: WireFrame, sender: Role | None, **kwargs: bool) -> list[tuple]:
    """The violations of ``frame`` as (rule, section, close code, offset)."""
    result = violations(frame, sender, **kwargs)
    assert all(v.message for v in result)
    return [(v.rule, v.section, v.close_code, v.offset) for v in result]


class TestSection5_1Masking:
    """RFC 6455 §5.1: clients mask every frame, servers mask none."""

    def test_mask_required(self) -> None:
        """An unmasked client frame breaks mask-required, reported at the MASK bit's byte."""
        frame = frame_after_preamble(opcode=1, payload=HELLO)
        assert found(frame, Role.CLIENT) == [("mask-required", "RFC 6455 §5.1", 1002, AT + 1)]

    def test_mask_forbidden(self) -> None:
        """A masked server frame breaks mask-forbidden, reported at the MASK bit's byte."""
        frame = frame_after_preamble(opcode=1, payload=HELLO, mask_key=KEY)
        assert found(frame, Role.SERVER) == [("mask-forbidden", "RFC 6455 §5.1", 1002, AT + 1)]

    @pytest.mark.parametrize("key", [None, KEY])
    def test_unknown_sender(self, key: bytes | None) -> None:
        """With the sender unknown (a dump), masking is not judged."""
        frame = frame_after_preamble(opcode=1, payload=HELLO, mask_key=key)
        assert found(frame, None) == []

    @pytest.mark.parametrize(("sender", "key"), [(Role.CLIENT, KEY), (Role.SERVER, None)])
    def test_clean_frame(self, sender: Role, key: bytes | None) -> None:
        """A well-formed frame from either end has no violation."""
        for opcode, payload in [(1, HELLO), (2, DATA_256), (9, b""), (10, HELLO), (8, b"")]:
            frame = frame_after_preamble(opcode=opcode, payload=payload, mask_key=key)
            assert found(frame, sender) == []


class TestSection5_2ReservedBitsAndOpcodes:
    """RFC 6455 §5.2 (and RFC 7692 §6): RSV bits and reserved opcodes."""

    def test_rsv1_without_deflate(self) -> None:
        """RSV1 with no extension negotiated is reserved-bits under RFC 6455 §5.2."""
        frame = frame_after_preamble(opcode=1, payload=HELLO, rsv1=True)
        assert found(frame, Role.SERVER) == [("reserved-bits", "RFC 6455 §5.2", 1002, AT)]

    @pytest.mark.parametrize(
        ("rsv2", "rsv3"), [(True, False), (False, True), (True, True)], ids=["2", "3", "2+3"]
    )
    @pytest.mark.parametrize("deflate", [False, True])
    def test_rsv2_rsv3(self, rsv2: bool, rsv3: bool, deflate: bool) -> None:
        """RSV2 and RSV3 are never allowed: one reserved-bits violation for both."""
        frame = frame_after_preamble(opcode=2, payload=HELLO, rsv2=rsv2, rsv3=rsv3)
        assert found(frame, Role.SERVER, deflate=deflate) == [
            ("reserved-bits", "RFC 6455 §5.2", 1002, AT)
        ]

    def test_rsv1_and_rsv2(self) -> None:
        """RSV1 and RSV2 both set without an extension are two violations."""
        frame = frame_after_preamble(opcode=2, payload=HELLO, rsv1=True, rsv2=True)
        assert found(frame, Role.SERVER) == [
            ("reserved-bits", "RFC 6455 §5.2", 1002, AT),
            ("reserved-bits", "RFC 6455 §5.2", 1002, AT),
        ]

    @pytest.mark.parametrize("opcode", [Opcode.TEXT, Opcode.BINARY])
    def test_rsv1_with_deflate_on_data(self, opcode: int) -> None:
        """RFC 7692 §6: RSV1 marks a compressed message on its first (TEXT/BINARY) frame."""
        for fin in (True, False):
            frame = frame_after_preamble(opcode=opcode, payload=b"\xf2\x00", rsv1=True, fin=fin)
            assert found(frame, Role.SERVER, deflate=True) == []

    @pytest.mark.parametrize(
        "opcode", [Opcode.CONTINUATION, Opcode.CLOSE, Opcode.PING, Opcode.PONG]
    )
    def test_rsv1_with_deflate_on_control_or_continuation(self, opcode: int) -> None:
        """RFC 7692 §6: RSV1 on a control frame or a continuation frame is reserved-bits."""
        frame = frame_after_preamble(opcode=opcode, payload=b"", rsv1=True)
        assert found(frame, Role.SERVER, deflate=True) == [
            ("reserved-bits", "RFC 7692 §6", 1002, AT)
        ]

    @pytest.mark.parametrize("opcode", [3, 4, 5, 6, 7, 0xB, 0xC, 0xD, 0xE, 0xF])
    def test_reserved_opcode(self, opcode: int) -> None:
        """Opcodes 3-7 and 0xB-0xF are reserved; the frame still parses with its opcode."""
        frame = frame_after_preamble(opcode=opcode, payload=b"")
        assert frame.opcode == opcode
        assert found(frame, Role.SERVER) == [("reserved-opcode", "RFC 6455 §5.2", 1002, AT)]

    def test_order_follows_the_bytes(self) -> None:
        """Several faults are listed in the order of the bytes they concern."""
        frame = frame_after_preamble(opcode=0x3, payload=b"", rsv3=True, mask_key=KEY)
        assert found(frame, Role.SERVER) == [
            ("reserved-bits", "RFC 6455 §5.2", 1002, AT),
            ("reserved-opcode", "RFC 6455 §5.2", 1002, AT),
            ("mask-forbidden", "RFC 6455 §5.1", 1002, AT + 1),
        ]


class TestSection5_2PayloadLength:
    """RFC 6455 §5.2: minimal length encoding, and the 64-bit length's top bit is 0."""

    @pytest.mark.parametrize(("length", "bits"), [(5, 16), (0, 64), (125, 16), (200, 64)])
    def test_length_not_minimal(self, length: int, bits: int) -> None:
        """A length sent in more bits than needed is reported at the length byte."""
        frame = frame_after_preamble(opcode=2, payload=b"z" * length, length_bits=bits)
        assert frame.length_bits == bits
        assert found(frame, Role.SERVER) == [("length-not-minimal", "RFC 6455 §5.2", 1002, AT + 1)]

    @pytest.mark.parametrize(("length", "bits"), [(125, 7), (126, 16), (65535, 16), (65536, 64)])
    def test_minimal(self, length: int, bits: int) -> None:
        """The minimal encoding at each boundary is clean."""
        frame = frame_after_preamble(opcode=2, payload=b"z" * length)
        assert frame.length_bits == bits
        assert found(frame, Role.SERVER) == []

    def test_length_top_bit(self) -> None:
        """A 64-bit length with its top bit set is reported at the first length byte."""
        header = forge_frame(opcode=2, length=2**63 + 5, length_bits=64)
        assert header == bytes.fromhex("827f8000000000000005")
        parser = FrameParser(offset=AT)
        assert list(parser.feed(header)) == []
        assert parser.incomplete == (AT, 10, 10 + 2**63 + 5)
        # The payload never comes; the header alone is enough to judge.
        frame = WireFrame(True, False, False, False, 2, None, 2**63 + 5, 64, b"", AT)
        assert found(frame, Role.SERVER) == [("length-top-bit", "RFC 6455 §5.2", 1002, AT + 2)]


class TestSection5_5ControlFrames:
    """RFC 6455 §5.5: control frames carry at most 125 bytes and are not fragmented."""

    @pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG])
    def test_control_too_long(self, opcode: int) -> None:
        """126 bytes in a control frame is control-too-long; 125 is fine."""
        frame = frame_after_preamble(opcode=opcode, payload=b"p" * 126)
        assert found(frame, Role.SERVER) == [("control-too-long", "RFC 6455 §5.5", 1002, AT)]
        frame = frame_after_preamble(opcode=opcode, payload=b"p" * 125)
        assert found(frame, Role.SERVER) == []

    @pytest.mark.parametrize("opcode", [Opcode.PING, Opcode.PONG, Opcode.CLOSE])
    def test_control_fragmented(self, opcode: int) -> None:
        """A control frame without FIN is control-fragmented."""
        frame = frame_after_preamble(opcode=opcode, payload=b"", fin=False)
        assert found(frame, Role.SERVER) == [("control-fragmented", "RFC 6455 §5.5", 1002, AT)]


class TestSection5_5_1ClosePayload:
    """RFC 6455 §5.5.1 and §7.4: the code and reason of a Close frame."""

    def test_one_byte(self) -> None:
        """A 1-byte Close payload is reported at the payload's first byte."""
        frame = frame_after_preamble(opcode=8, payload=b"\x03")
        assert found(frame, Role.SERVER) == [
            ("close-payload-1-byte", "RFC 6455 §5.5.1", 1002, AT + 2)
        ]
        frame = frame_after_preamble(opcode=8, payload=b"\x03", mask_key=KEY)
        assert found(frame, Role.CLIENT) == [
            ("close-payload-1-byte", "RFC 6455 §5.5.1", 1002, AT + 6)
        ]

    @pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
    def test_invalid_code(self, code: int) -> None:
        """Codes that may not be sent are close-code-invalid, at the code's first byte."""
        assert not is_valid_close_code(code)
        payload = code.to_bytes(2, "big") + b"bye"
        frame = frame_after_preamble(opcode=8, payload=payload)
        assert found(frame, Role.SERVER) == [("close-code-invalid", "RFC 6455 §7.4", 1002, AT + 2)]

    @pytest.mark.parametrize(
        "code",
        [*range(1000, 1004), *range(1007, 1015), 3000, 3999, 4000, 4999],
    )
    def test_valid_code(self, code: int) -> None:
        """Codes of §7.4.1, the IANA registry, and 3000-4999 may be sent."""
        assert is_valid_close_code(code)
        frame = frame_after_preamble(opcode=8, payload=code.to_bytes(2, "big"), mask_key=KEY)
        assert found(frame, Role.CLIENT) == []

    def test_empty_close(self) -> None:
        """A Close without a payload is fine: no code, no reason."""
        frame = frame_after_preamble(opcode=8, payload=b"")
        assert found(frame, Role.SERVER) == []
        assert parse_close_payload(frame.data) == (None, b"")

    @pytest.mark.parametrize(("key", "header"), [(None, 2), (KEY, 6)])
    def test_reason_not_utf8(self, key: bytes | None, header: int) -> None:
        """A reason that is not UTF-8 is close-reason-utf8 (1007), at its bad byte."""
        frame = frame_after_preamble(opcode=8, payload=b"\x03\xe8ok\xffok", mask_key=key)
        sender = Role.CLIENT if key else Role.SERVER
        assert parse_close_payload(frame.data) == (1000, b"ok\xffok")
        assert found(frame, sender) == [
            ("close-reason-utf8", "RFC 6455 §5.5.1", 1007, AT + header + 2 + 2)
        ]

    def test_bad_code_and_reason(self) -> None:
        """A bad code and a bad reason are both reported, in byte order."""
        frame = frame_after_preamble(opcode=8, payload=b"\x03\xed\xed\xa0\x80")
        assert found(frame, Role.SERVER) == [
            ("close-code-invalid", "RFC 6455 §7.4", 1002, AT + 2),
            ("close-reason-utf8", "RFC 6455 §5.5.1", 1007, AT + 4),
        ]

    def test_reason_utf8_checked_even_without_text_check(self) -> None:
        """check_utf8=False turns off the text check, not the close reason check."""
        frame = frame_after_preamble(opcode=8, payload=b"\x03\xe8\xc0")
        assert found(frame, Role.SERVER, check_utf8=False) == [
            ("close-reason-utf8", "RFC 6455 §5.5.1", 1007, AT + 4)
        ]


class TestSection8_1Utf8:
    """RFC 6455 §8.1: the payload of a text message is UTF-8."""

    @pytest.mark.parametrize(
        ("text", "index"),
        [(b"ab\xffcd", 2), (b"\xc0\xaf", 0), (b"ok\xed\xa0\x80", 2), (b"ok\xe2\x82", 2)],
    )
    @pytest.mark.parametrize(("key", "header"), [(None, 2), (KEY, 6)])
    def test_single_text_frame(
        self, text: bytes, index: int, key: bytes | None, header: int
    ) -> None:
        """A single-frame text message that is not UTF-8 is text-utf8 (1007) at its bad byte."""
        frame = frame_after_preamble(opcode=1, payload=text, mask_key=key)
        sender = Role.CLIENT if key else Role.SERVER
        assert found(frame, sender) == [("text-utf8", "RFC 6455 §8.1", 1007, AT + header + index)]

    def test_not_checked_on_request(self) -> None:
        """check_utf8=False leaves text to a caller that decodes it itself."""
        frame = frame_after_preamble(opcode=1, payload=b"\xff")
        assert found(frame, Role.SERVER, check_utf8=False) == []

    def test_fragment_not_checked(self) -> None:
        """A first fragment may end mid-character: that is the assembler's to judge."""
        frame = frame_after_preamble(opcode=1, payload=b"\xe2\x82", fin=False)
        assert found(frame, Role.SERVER) == []

    def test_compressed_not_checked(self) -> None:
        """A compressed (RSV1) text frame is judged after inflating, not here."""
        frame = frame_after_preamble(opcode=1, payload=b"\xff", rsv1=True)
        assert found(frame, Role.SERVER, deflate=True) == []

    def test_binary_not_checked(self) -> None:
        """Binary payloads are any bytes."""
        frame = frame_after_preamble(opcode=2, payload=b"\xff\xfe")
        assert found(frame, Role.SERVER) == []


class TestNamedChecks:
    """Each rule's check alone, at the edges of what it allows."""

    def test_reserved_bits(self) -> None:
        """RSV2/RSV3 never; RSV1 only on TEXT or BINARY with deflate (RFC 7692 §6)."""
        assert reserved_bits_ok(False, False, False, 0, deflate=False)
        assert not reserved_bits_ok(False, True, False, 1, deflate=True)
        assert not reserved_bits_ok(False, False, True, 1, deflate=True)
        assert not reserved_bits_ok(True, False, False, 1, deflate=False)
        assert reserved_bits_ok(True, False, False, 2, deflate=True)
        assert not reserved_bits_ok(True, False, False, 0, deflate=True)
        assert not reserved_bits_ok(True, False, False, 9, deflate=True)

    def test_opcodes(self) -> None:
        """The six opcodes of §5.2 are defined, the ten others reserved."""
        assert [op for op in range(16) if opcode_ok(op)] == [0, 1, 2, 8, 9, 10]

    def test_mask(self) -> None:
        """Clients mask, servers do not; an unknown sender may do either."""
        assert mask_ok(True, Role.CLIENT) and not mask_ok(False, Role.CLIENT)
        assert mask_ok(False, Role.SERVER) and not mask_ok(True, Role.SERVER)
        assert mask_ok(True, None) and mask_ok(False, None)

    @pytest.mark.parametrize(
        ("length", "bits", "ok"),
        [
            (125, 7, True),
            (125, 16, False),
            (126, 16, True),
            (0xFFFF, 16, True),
            (0x10000, 64, True),
            (0x10000, 16, False),
            (2**63, 64, False),
        ],
    )
    def test_length(self, length: int, bits: int, ok: bool) -> None:
        """Minimal encoding, and the 64-bit length's top bit clear."""
        assert length_ok(length, bits) is ok

    def test_control(self) -> None:
        """Control frames: FIN and at most 125 bytes; data frames are not judged here."""
        assert control_ok(9, True, 125) and not control_ok(9, True, 126)
        assert not control_ok(8, False, 0)
        assert control_ok(1, False, 10_000)

    def test_close_codes(self) -> None:
        """§7.4: 1004-1006 and 1015 may not be sent; 3000-4999 may."""
        assert [c for c in range(999, 1017) if is_valid_close_code(c)] == [
            1000,
            1001,
            1002,
            1003,
            *range(1007, 1015),
        ]
        assert is_valid_close_code(3000) and is_valid_close_code(4999)
        assert not is_valid_close_code(2999) and not is_valid_close_code(5000)

    def test_names_stay_importable_from_frames(self) -> None:
        """wstool.core.frames re-exports every rule, the same objects."""
        for name in rules.__all__:
            if name not in ("PartialText", "Utf8Decoder"):
                assert getattr(wstool.core.frames, name) is getattr(rules, name)


@settings(max_examples=400, deadline=None)
@given(
    b0=st.integers(0, 255),
    length=st.sampled_from([0, 5, 125, 126, 300, 0xFFFF, 0x10000]),
    bits=st.sampled_from([7, 16, 64]),
    key=st.sampled_from([None, KEY]),
    sender=st.sampled_from([Role.CLIENT, Role.SERVER, None]),
    deflate=st.booleans(),
)
def test_header_ok_is_no_header_violation(
    b0: int, length: int, bits: int, key: bytes | None, sender: Role | None, deflate: bool
) -> None:
    """header_ok() is True exactly when violations() finds nothing in the header."""
    if length > {7: 125, 16: 0xFFFF, 64: 2**64 - 1}[bits]:
        bits = 64  # a length the chosen encoding cannot hold
    frame = WireFrame(
        bool(b0 & 0x80),
        bool(b0 & 0x40),
        bool(b0 & 0x20),
        bool(b0 & 0x10),
        b0 & 0x0F,
        key,
        length,
        bits,
        b"",
    )
    # An empty payload (shorter than declared) keeps the payload rules out.
    assert header_ok(frame, sender, deflate) is (violations(frame, sender, deflate=deflate) == [])


class TestUtf8Decoder:
    """RFC 6455 §8.1 on text in pieces: fail at the first byte that breaks UTF-8."""

    def test_character_across_pieces(self) -> None:
        """A character cut between pieces waits, then comes whole."""
        decoder = Utf8Decoder()
        assert decoder.decode(b"ok\xe2\x82", False) == "ok"
        assert decoder.decode(b"\xac!", True) == "\u20ac!"

    @pytest.mark.parametrize(
        ("pieces", "index"),
        [
            pytest.param([b"ab\xffcd"], 2, id="bad-byte"),
            pytest.param([b"ok\xed\xa0"], 2, id="surrogate-prefix-fails-early"),
            pytest.param([b"ok\xf4\x90"], 2, id="beyond-10FFFF-prefix"),
            pytest.param([b"\xe2\x82", b"A"], 0, id="broken-in-next-piece"),
            pytest.param([b"\xe2", b"\x82\xacX\xff"], 3, id="after-a-joined-character"),
        ],
    )
    def test_fault_position(self, pieces: list[bytes], index: int) -> None:
        """The fault is the offending byte of the piece that shows it."""
        decoder = Utf8Decoder()
        *before, last = pieces
        for piece in before:
            decoder.decode(piece, False)
        with pytest.raises(UnicodeDecodeError) as caught:
            decoder.decode(last, False)
        assert caught.value.start == index

    def test_unfinished_at_the_end(self) -> None:
        """A character still cut when the text ends is a fault."""
        decoder = Utf8Decoder()
        decoder.decode(b"ok\xe2\x82", False)
        with pytest.raises(UnicodeDecodeError):
            decoder.decode(b"", True)

    def test_copy_carries_the_character_over(self) -> None:
        """A copy continues a character begun before it, independently of the original."""
        decoder = Utf8Decoder()
        decoder.decode(b"\xf0\x9f", False)
        twin = decoder.copy()
        assert twin.decode(b"\x98\x80", True) == "\U0001f600"
        with pytest.raises(UnicodeDecodeError):
            decoder.decode(b"A", True)


class TestPartialText:
    """One text frame checked as its bytes arrive, each byte decoded once."""

    @settings(max_examples=300, deadline=None)
    @given(
        text=st.text(max_size=80),
        cuts=st.lists(st.integers(0, 400), max_size=6),
        key=st.sampled_from([None, KEY]),
    )
    def test_any_cut_gives_the_whole_text(
        self, text: str, cuts: list[int], key: bytes | None
    ) -> None:
        """Valid text, masked or not, cut anywhere: the pieces and the rest make the text."""
        payload = text.encode("utf-8")
        [frame] = parse_all(forge_frame(opcode=1, payload=payload, mask_key=key))
        partial = PartialText(frame._replace(payload=b""), Utf8Decoder())
        bounds = sorted({0, *(c % (len(payload) + 1) for c in cuts)})
        for start, stop in itertools.pairwise(bounds):
            partial.add(frame.payload[start:stop])
        assert partial.received == bounds[-1]
        assert partial.finish(frame, frame.data) == text

    def test_fault_while_arriving(self) -> None:
        """The fault is placed in the frame's payload, across reads and key offsets."""
        payload = b"abcde\xffgh"
        [frame] = parse_all(forge_frame(opcode=1, payload=payload, mask_key=KEY))
        partial = PartialText(frame._replace(payload=b""), Utf8Decoder())
        partial.add(frame.payload[:3])
        with pytest.raises(UnicodeDecodeError) as caught:
            partial.add(frame.payload[3:7])
        assert caught.value.start == 5

    def test_fault_in_the_rest_is_left_to_the_caller(self) -> None:
        """A fault in the bytes not seen before gives no text: the caller decodes it all."""
        payload = b"ab\xe2\x82Acd"
        [frame] = parse_all(forge_frame(opcode=1, payload=payload, mask_key=KEY))
        partial = PartialText(frame._replace(payload=b""), Utf8Decoder())
        partial.add(frame.payload[:4])
        assert partial.finish(frame, frame.data) is None

    def test_unfinished_character_continues_in_the_decoder(self) -> None:
        """A non-final frame may end mid-character; its decoder keeps the start."""
        [frame] = parse_all(forge_frame(opcode=1, payload=b"ok\xf0\x9f", fin=False))
        partial = PartialText(frame._replace(payload=b""), Utf8Decoder())
        partial.add(frame.payload[:3])
        assert partial.finish(frame, frame.data) == "ok"
        assert partial.decoder.decode(b"\x98\x80", True) == "\U0001f600"


@given(st.binary(max_size=125))
@example(b"")
@example(b"\x03")
@example(b"\x03\xe8")
@example(b"\x03\xed")  # 1005 may not be sent
@example(b"\x03\xe8\xff")
@example(b"\x0f\xa0caf\xc3\xa9")  # 4000 with UTF-8
def test_close_payload_ok_is_the_verdict_of_violations_on_a_close_frame(data: bytes) -> None:
    """The connection screens a Close's payload with close_payload_ok and asks violations()
    only when the screen fails: a well-formed masked Close gets the same verdict from both."""
    frame = next(
        iter(FrameParser().feed(forge_frame(opcode=Opcode.CLOSE, payload=data, mask_key=KEY)))
    )
    assert rules.close_payload_ok(data) == (not violations(frame, Role.CLIENT))
