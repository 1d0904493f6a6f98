"""Tests of :mod:`wstool.core.frames`: RFC 6455 §5 frames as they are on the wire."""

from __future__ import annotations

import itertools
import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from wstool.core.errors import PayloadTooBig, UsageError
from wstool.core.frames import (
    FrameParser,
    Opcode,
    Role,
    WireFrame,
    close_code_name,
    encode_frame,
    encode_header,
    forge_frame,
    minimal_length_bits,
    opcode_name,
)
from wstool.core.masking import apply_mask_python
from wstool.core.rules import violations

# The masking key of every masked example in RFC 6455 §5.7.
KEY = bytes.fromhex("37fa213d")
HELLO = b"Hello"
DATA_256 = bytes(range(256))
DATA_64K = bytes(range(256)) * 256

# Lengths where the length encoding changes (RFC 6455 §5.2).
BOUNDARY_LENGTHS = [0, 1, 125, 126, 127, 65535, 65536, 2**16 + 1]

FAST = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def parse_all(data: bytes, **kwargs: int | None) -> list[WireFrame]:
    """All frames of ``data`` fed at once, checking nothing is left over."""
    parser = FrameParser(**kwargs)
    frames = list(parser.feed(data))
    assert parser.buffered == 0
    assert parser.incomplete is None
    return frames


# (name, frames as (opcode, payload, fin, mask key), bytes on the wire)
RFC_EXAMPLES = [
    ("single-frame unmasked text", [(0x1, HELLO, True, None)], "810548656c6c6f"),
    ("single-frame masked text", [(0x1, HELLO, True, KEY)], "818537fa213d7f9f4d5158"),
    (
        "fragmented unmasked text",
        [(0x1, b"Hel", False, None), (0x0, b"lo", True, None)],
        "010348656c" + "80026c6f",
    ),
    ("unmasked ping", [(0x9, HELLO, True, None)], "890548656c6c6f"),
    ("masked pong", [(0xA, HELLO, True, KEY)], "8a8537fa213d7f9f4d5158"),
    ("256 bytes binary", [(0x2, DATA_256, True, None)], "827e0100" + DATA_256.hex()),
    (
        "64 KiB binary",
        [(0x2, DATA_64K, True, None)],
        "827f0000000000010000" + DATA_64K.hex(),
    ),
]


class TestSection5_7Examples:
    """RFC 6455 §5.7: the example frames, byte for byte, in both directions."""

    @pytest.mark.parametrize(("name", "frames", "wire"), RFC_EXAMPLES, ids=lambda v: v)
    def test_encode(self, name: str, frames: list[tuple], wire: str) -> None:
        """encode_frame with the RFC's mask key writes exactly the RFC's bytes."""
        encoded = b"".join(
            encode_frame(opcode, payload, fin=fin, mask_key=key)
            for opcode, payload, fin, key in frames
        )
        assert encoded == bytes.fromhex(wire)

    @pytest.mark.parametrize(("name", "frames", "wire"), RFC_EXAMPLES, ids=lambda v: v)
    def test_parse(self, name: str, frames: list[tuple], wire: str) -> None:
        """Parsing the RFC's bytes gives back every header field, the offsets and the data."""
        parsed = parse_all(bytes.fromhex(wire))
        expected = []
        offset = 0
        for opcode, payload, fin, key in frames:
            bits = 7 if len(payload) < 126 else 16 if len(payload) < 65536 else 64
            on_wire = payload if key is None else apply_mask_python(payload, key)
            frame = WireFrame(
                fin, False, False, False, opcode, key, len(payload), bits, on_wire, offset
            )
            expected.append(frame)
            offset += frame.size
        assert parsed == expected
        assert [frame.data for frame in parsed] == [payload for _, payload, _, _ in frames]
        assert b"".join(frame.to_bytes() for frame in parsed) == bytes.fromhex(wire)

    @pytest.mark.parametrize(("name", "frames", "wire"), RFC_EXAMPLES, ids=lambda v: v)
    def test_no_violations(self, name: str, frames: list[tuple], wire: str) -> None:
        """The RFC's examples break no rule when checked against the role that sent them."""
        for frame in parse_all(bytes.fromhex(wire)):
            sender = Role.CLIENT if frame.masked else Role.SERVER
            assert violations(frame, sender) == []

    def test_masked_payload_is_the_rfcs(self) -> None:
        """§5.7: "Hello" masked with 37 fa 21 3d is 7f 9f 4d 51 58 on the wire."""
        (frame,) = parse_all(bytes.fromhex("818537fa213d7f9f4d5158"))
        assert frame.payload == bytes.fromhex("7f9f4d5158")
        assert frame.data == HELLO
        assert frame.header_size == 6
        assert frame.size == 11

    @pytest.mark.parametrize(
        ("length", "header"),
        [
            (0, "8200"),
            (1, "8201"),
            (125, "827d"),
            (126, "827e007e"),
            (127, "827e007f"),
            (65535, "827effff"),
            (65536, "827f0000000000010000"),
            (2**16 + 1, "827f0000000000010001"),
        ],
    )
    def test_minimal_length_encoding(self, length: int, header: str) -> None:
        """§5.2: the length takes 7, 16 or 64 bits, the fewest that hold it."""
        payload = b"\xaa" * length
        assert encode_frame(Opcode.BINARY, payload) == bytes.fromhex(header) + payload
        head, bits = encode_header(Opcode.BINARY, length)
        assert head == bytes.fromhex(header)
        assert bits == {4: 7, 8: 16, 20: 64}[len(header)]
        assert minimal_length_bits(length) == bits

    def test_encode_header_with_key(self) -> None:
        """encode_header includes the mask key, so header + masked payload is the frame."""
        head, bits = encode_header(Opcode.TEXT, 5, mask_key=KEY)
        assert (head, bits) == (bytes.fromhex("818537fa213d"), 7)
        assert head + apply_mask_python(HELLO, KEY) == bytes.fromhex("818537fa213d7f9f4d5158")


# -- strategies ----------------------------------------------------------------


@st.composite
def payloads(draw: st.DrawFn) -> bytes:
    """A payload at a length-encoding boundary (patterned) or of a random small size."""
    if draw(st.booleans()):
        n = draw(st.sampled_from(BOUNDARY_LENGTHS))
        seed = draw(st.binary(min_size=1, max_size=8))
        return (seed * (n // len(seed) + 1))[:n]
    return draw(st.binary(max_size=300))


keys = st.none() | st.binary(min_size=4, max_size=4)
PAYLOADS = payloads()


@st.composite
def frame_shapes(draw: st.DrawFn, payload: st.SearchStrategy[bytes] = PAYLOADS) -> dict:
    """Keyword arguments of forge_frame for any shape of frame, valid or not."""
    return {
        "opcode": draw(st.integers(0, 15)),
        "payload": draw(payload),
        "fin": draw(st.booleans()),
        "rsv1": draw(st.booleans()),
        "rsv2": draw(st.booleans()),
        "rsv3": draw(st.booleans()),
        "mask_key": draw(keys),
    }


def expected_frame(shape: dict, offset: int = 0) -> WireFrame:
    """The WireFrame that parsing forge_frame(**shape) must give."""
    payload, key = shape["payload"], shape["mask_key"]
    n = len(payload)
    return WireFrame(
        shape["fin"],
        shape["rsv1"],
        shape["rsv2"],
        shape["rsv3"],
        shape["opcode"],
        key,
        n,
        7 if n < 126 else 16 if n < 65536 else 64,
        payload if key is None else apply_mask_python(payload, key),
        offset,
    )


class TestSection5_2RoundTrip:
    """RFC 6455 §5.2: what is written parses back to every bit, in any chunking."""

    @FAST
    @given(shape=frame_shapes())
    def test_forge_then_parse(self, shape: dict) -> None:
        """Any frame shape (any opcode, RSV bits, FIN, mask) parses back to exactly its bits."""
        wire = forge_frame(**shape)
        (frame,) = parse_all(wire)
        assert frame == expected_frame(shape)
        assert frame.data == shape["payload"]
        assert frame.size == len(wire)
        assert frame.to_bytes() == wire

    @FAST
    @given(shape=frame_shapes())
    def test_encode_is_forge_for_well_formed_frames(self, shape: dict) -> None:
        """encode_frame writes the same bytes as forge_frame for every frame it accepts."""
        is_control = shape["opcode"] & 0x8
        if is_control and (len(shape["payload"]) > 125 or not shape["fin"]):
            with pytest.raises(UsageError):
                encode_frame(**shape)
            return
        assert encode_frame(**shape) == forge_frame(**shape)

    @FAST
    @given(
        shapes=st.lists(frame_shapes(st.binary(max_size=200)), min_size=1, max_size=6),
        cuts=st.lists(st.integers(0, 2000), max_size=12),
        base=st.integers(0, 2**40),
    )
    def test_any_chunking_gives_the_same_frames(
        self, shapes: list[dict], cuts: list[int], base: int
    ) -> None:
        """A stream cut anywhere yields the same frames, at the same stream offsets."""
        stream = b"".join(forge_frame(**shape) for shape in shapes)
        bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
        parser = FrameParser(offset=base)
        frames = []
        for start, stop in itertools.pairwise(bounds):
            frames.extend(parser.feed(stream[start:stop]))
        expected = []
        offset = base
        for shape in shapes:
            expected.append(expected_frame(shape, offset))
            offset += expected[-1].size
        assert frames == expected
        assert parser.buffered == 0
        assert parser.incomplete is None

    @FAST
    @given(
        sizes=st.lists(st.sampled_from([0, 5, 125, 126, 300, 65535, 65536, 70000]), max_size=5),
        reads=st.lists(st.integers(1, 40000), min_size=1, max_size=8),
        masked=st.booleans(),
    )
    def test_large_frames_in_many_reads(
        self, sizes: list[int], reads: list[int], masked: bool
    ) -> None:
        """Frames spread over many reads, large ones included, parse as the whole stream does."""
        key = b"\x01\x02\x03\x04" if masked else None
        stream = b"".join(
            forge_frame(opcode=2, payload=bytes([n % 251]) * n, mask_key=key) for n in sizes
        )
        parser = FrameParser(max_frame_size=70000)
        frames: list[WireFrame] = []
        pos = 0
        for i in itertools.count():
            if pos >= len(stream):
                break
            step = reads[i % len(reads)]
            frames.extend(parser.feed(stream[pos : pos + step]))
            pos += step
        assert frames == parse_all(stream)
        assert parser.buffered == 0

    def test_one_byte_at_a_time(self) -> None:
        """Every §5.7 example, concatenated and fed one byte at a time, parses as a whole."""
        stream = b"".join(bytes.fromhex(wire) for _, _, wire in RFC_EXAMPLES)
        whole = parse_all(stream)
        parser = FrameParser()
        frames = []
        for i in range(len(stream)):
            frames.extend(parser.feed(stream[i : i + 1]))
        assert frames == whole
        assert [f.offset for f in frames] == [0, 7, 18, 23, 27, 34, 45, 305]
        assert parser.buffered == 0

    def test_empty_feed(self) -> None:
        """Feeding nothing yields nothing and changes nothing."""
        parser = FrameParser()
        assert list(parser.feed(b"")) == []
        assert parser.incomplete is None

    def test_bytearray_and_memoryview_input(self) -> None:
        """Buffers other than bytes are copied in, so reusing them later changes nothing."""
        buf = bytearray.fromhex("810548656c6c6f")
        parser = FrameParser()
        assert list(parser.feed(memoryview(buf)[:4])) == []
        buf[2:4] = b"XX"  # the driver reuses its read buffer
        (frame,) = parser.feed(bytes(buf[4:]))
        assert frame.payload == HELLO


class TestSection5_2Incomplete:
    """A frame cut short at the end of the input: how much is there, how much is needed."""

    @FAST
    @given(shape=frame_shapes(), cut=st.integers(1, 2**17), base=st.integers(0, 1000))
    def test_truncated_last_frame(self, shape: dict, cut: int, base: int) -> None:
        """``incomplete`` gives the frame's offset, the bytes held and its total size."""
        first = encode_frame(Opcode.TEXT, HELLO)
        wire = forge_frame(**shape)
        cut = cut % len(wire)
        if cut == 0:
            cut = 1
        parser = FrameParser(offset=base)
        (frame,) = parser.feed(first + wire[:cut])
        assert frame.offset == base
        length_bytes = {7: 0, 16: 2, 64: 8}[expected_frame(shape).length_bits]
        need = len(wire) if cut >= 2 + length_bytes else None
        assert parser.incomplete == (base + len(first), cut, need)
        assert parser.buffered == cut
        (last,) = parser.feed(wire[cut:])
        assert last == expected_frame(shape, base + len(first))
        assert parser.incomplete is None

    def test_missing_count(self) -> None:
        """A 256-byte frame cut after 100 payload bytes misses exactly 156."""
        wire = encode_frame(Opcode.BINARY, DATA_256)
        parser = FrameParser()
        assert list(parser.feed(wire[:104])) == []
        incomplete = parser.incomplete
        assert incomplete is not None
        assert (incomplete.offset, incomplete.have, incomplete.need) == (0, 104, 260)
        assert incomplete.need - incomplete.have == 156

    def test_header_cut_short(self) -> None:
        """With the extended length not all there, the total size is unknown."""
        parser = FrameParser()
        assert list(parser.feed(bytes.fromhex("827f0000"))) == []
        assert parser.incomplete == (0, 4, None)


class TestSection7_4_1FrameSizeLimit:
    """A declared length over the limit is refused before the payload is buffered (1009)."""

    @pytest.mark.parametrize(
        "header",
        ["82fe03e9", "82ff00000000000003e9", "827e03e9", "82ff8000000000000000"],
    )
    def test_refused_on_the_header(self, header: str) -> None:
        """The header alone raises PayloadTooBig, with code 1009 and the frame's offset."""
        parser = FrameParser(max_frame_size=1000, offset=50)
        (first,) = parser.feed(encode_frame(Opcode.PING))
        with pytest.raises(PayloadTooBig) as info:
            list(parser.feed(bytes.fromhex(header)))
        assert info.value.close_code == 1009
        assert info.value.offset == 52
        assert first.offset == 50

    def test_at_the_limit_is_fine(self) -> None:
        """A payload of exactly max_frame_size bytes is accepted."""
        (frame,) = parse_all(encode_frame(Opcode.BINARY, b"x" * 1000), max_frame_size=1000)
        assert frame.length == 1000

    def test_frames_before_the_big_one_are_yielded(self) -> None:
        """The frames ahead of the oversized one come out before the error."""
        parser = FrameParser(max_frame_size=10)
        stream = encode_frame(Opcode.TEXT, HELLO) + encode_frame(Opcode.BINARY, b"x" * 11)
        frames = []
        with pytest.raises(PayloadTooBig) as info:
            for frame in parser.feed(stream):
                frames.append(frame)
        assert [f.data for f in frames] == [HELLO]
        assert info.value.offset == 7

    @settings(max_examples=1500, deadline=None)
    @given(
        data=st.binary(max_size=400)
        | st.tuples(
            st.lists(frame_shapes(st.binary(max_size=120)), max_size=4), st.binary(max_size=20)
        ).map(lambda t: b"".join(forge_frame(**shape) for shape in t[0]) + t[1]),
        limit=st.integers(0, 300),
        cuts=st.lists(st.integers(0, 400), max_size=6),
    )
    def test_any_bytes_parse_or_are_too_big(self, data: bytes, limit: int, cuts: list[int]) -> None:
        """Arbitrary bytes, in any chunking, give frames that re-encode to the input, or 1009."""
        parser = FrameParser(max_frame_size=limit)
        bounds = sorted({0, len(data), *(c % (len(data) + 1) for c in cuts)})
        frames: list[WireFrame] = []
        try:
            for start, stop in itertools.pairwise(bounds):
                frames.extend(parser.feed(data[start:stop]))
        except PayloadTooBig as exc:
            assert exc.close_code == 1009
            consumed = b"".join(f.to_bytes() for f in frames)
            assert exc.offset == len(consumed)
            assert data.startswith(consumed)
            return
        consumed = b"".join(frame.to_bytes() for frame in frames)
        assert consumed + data[len(consumed) :] == data
        assert parser.buffered == len(data) - len(consumed)
        assert all(frame.length <= limit for frame in frames)


class TestForgeFrame:
    """forge_frame writes every bit as asked, including what the RFC forbids."""

    @FAST
    @given(
        shape=frame_shapes(st.binary(max_size=40)),
        declared=st.integers(0, 2**64 - 1),
        bits=st.sampled_from([7, 16, 64]),
        mask_payload=st.booleans(),
    )
    def test_exact_bits(self, shape: dict, declared: int, bits: int, mask_payload: bool) -> None:
        """Header fields, declared length, length encoding and key are written exactly."""
        declared %= {7: 126, 16: 65536, 64: 2**64}[bits]
        wire = forge_frame(**shape, length=declared, length_bits=bits, mask_payload=mask_payload)
        key = shape["mask_key"]
        b0 = (
            shape["fin"] << 7
            | shape["rsv1"] << 6
            | shape["rsv2"] << 5
            | shape["rsv3"] << 4
            | shape["opcode"]
        )
        mask_bit = 0x80 if key is not None else 0
        if bits == 7:
            head = bytes([b0, mask_bit | declared])
        elif bits == 16:
            head = bytes([b0, mask_bit | 126]) + struct.pack("!H", declared)
        else:
            head = bytes([b0, mask_bit | 127]) + struct.pack("!Q", declared)
        body = shape["payload"]
        if key is not None:
            head += key
            if mask_payload:
                body = apply_mask_python(body, key)
        assert wire == head + body

    def test_declared_length_differs_from_payload(self) -> None:
        """A declared length longer than the payload is written as declared."""
        assert forge_frame(opcode=1, payload=b"hi", length=5) == bytes.fromhex("81056869")

    def test_non_minimal_length(self) -> None:
        """A 5-byte payload forced into 64 bits keeps that encoding when parsed."""
        wire = forge_frame(opcode=2, payload=HELLO, length_bits=64)
        assert wire == bytes.fromhex("827f0000000000000005") + HELLO
        (frame,) = parse_all(wire)
        assert (frame.length, frame.length_bits, frame.header_size) == (5, 64, 10)
        assert frame.to_bytes() == wire

    def test_already_masked_payload(self) -> None:
        """mask_payload=False writes the payload as given after the key."""
        wire = forge_frame(opcode=1, payload=b"\x7f\x9fM", mask_key=KEY, mask_payload=False)
        assert wire == bytes.fromhex("818337fa213d7f9f4d")

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"opcode": 16},
            {"opcode": -1},
            {"opcode": 1, "mask_key": b"abc"},
            {"opcode": 1, "mask_key": b"abcde"},
            {"opcode": 1, "length": 126, "length_bits": 7},
            {"opcode": 1, "length": 65536, "length_bits": 16},
            {"opcode": 1, "length": 2**64, "length_bits": 64},
            {"opcode": 1, "length": -1},
            {"opcode": 1, "length_bits": 32},
        ],
    )
    def test_unwritable_values(self, kwargs: dict) -> None:
        """Values that have no bits to be written in raise UsageError."""
        with pytest.raises(UsageError):
            forge_frame(**kwargs)

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"opcode": Opcode.PING, "payload": b"x" * 126},
            {"opcode": Opcode.CLOSE, "payload": b"\x03\xe8", "fin": False},
        ],
    )
    def test_encode_refuses_bad_control_frames(self, kwargs: dict) -> None:
        """§5.5: encode_frame refuses a control frame over 125 bytes or without FIN."""
        with pytest.raises(UsageError):
            encode_frame(**kwargs)


def test_opcode_and_close_code_names() -> None:
    """Opcodes and close codes have their RFC names, reserved values a description."""
    assert [opcode_name(op) for op in (0, 1, 2, 8, 9, 10)] == [
        "CONTINUATION",
        "TEXT",
        "BINARY",
        "CLOSE",
        "PING",
        "PONG",
    ]
    assert opcode_name(3) == "RESERVED_NON_CONTROL_0x3"
    assert opcode_name(0xB) == "RESERVED_CONTROL_0xB"
    assert [close_code_name(c) for c in (1000, 1005, 999, 2999, 3000, 4999, 5000)] == [
        "NORMAL_CLOSURE",
        "NO_STATUS_RCVD",
        "UNUSED",
        "RESERVED",
        "REGISTERED",
        "PRIVATE",
        "OUT_OF_RANGE",
    ]


def test_frame_at_takes_one_whole_frame_out_of_a_buffer() -> None:
    from wstool.core.frames import frame_at

    first = encode_frame(1, b"hi", mask_key=b"abcd")
    second = encode_frame(2, b"\x00" * 300)
    buf = first + second
    frame, size = frame_at(buf) or (None, 0)
    assert frame is not None and (frame.opcode, frame.data, size) == (1, b"hi", len(first))
    frame, size = frame_at(buf, len(first)) or (None, 0)
    assert frame is not None and (frame.length_bits, size) == (16, len(second))
    assert frame_at(buf[:-1], len(first)) is None  # a frame still arriving
    assert frame_at(buf, len(buf) - 1) is None  # half a header


@given(
    st.sampled_from([0, 1, 125, 126, 65535, 65536, 70000]),
    st.booleans(),
)
def test_header_size_and_payload_length_describe_an_encoded_frame(size: int, masked: bool) -> None:
    from wstool.core.frames import header_size, payload_length

    frame = forge_frame(
        opcode=Opcode.BINARY, payload=b"\x00" * size, mask_key=KEY if masked else None
    )
    head = header_size(frame)
    assert head is not None and header_size(frame[:1]) is None
    assert payload_length(frame[:head]) == size and head + size == len(frame)


class TestSkipPayload:
    """skip_payload: a frame's header kept, its payload counted, not buffered."""

    @FAST
    @given(
        shapes=st.lists(frame_shapes(), min_size=1, max_size=5),
        data=st.data(),
    )
    def test_the_same_frames_without_the_skipped_payloads(
        self, shapes: list[dict], data: st.DataObject
    ) -> None:
        """In any chunking, skipping wherever it applies changes nothing but those payloads."""
        stream = b"".join(forge_frame(**shape) for shape in shapes)
        expected = parse_all(stream)
        cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=8)))
        parser = FrameParser()
        got: list[WireFrame] = []
        skipped: set[int] = set()
        for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
            got += parser.feed(stream[a:b])
            cut = parser.incomplete
            if data.draw(st.booleans()) and parser.skip_payload():
                assert cut is not None and parser.incomplete == cut  # the same bytes counted
                assert parser.buffered == cut.have
                skipped.add(cut.offset)
        assert parser.buffered == 0 and parser.incomplete is None
        assert [f.offset for f in got] == [f.offset for f in expected]
        for frame, want in zip(got, expected, strict=True):
            if frame.offset in skipped:
                assert frame == want._replace(payload=b"")
            else:
                assert frame == want

    def test_the_header_is_kept_and_the_end_found(self) -> None:
        wire = forge_frame(opcode=2, payload=bytes(70_000), mask_key=KEY)
        parser = FrameParser(offset=100)
        assert list(parser.feed(wire[:5000])) == []
        assert parser.skip_payload()
        assert parser.skipped_head == wire[:14]
        assert parser.partial() is not None and parser.partial()[1] == 5000 - 14
        assert not parser.skip_payload()  # once is enough
        assert list(parser.feed(wire[5000:-1])) == []
        (frame,) = parser.feed(wire[-1:] + HEADER_ONLY)
        assert (frame.length, frame.payload, frame.offset) == (70_000, b"", 100)
        assert parser.skipped_head is None
        assert parser.buffered == len(HEADER_ONLY)

    def test_nothing_to_skip_without_a_whole_header(self) -> None:
        parser = FrameParser()
        assert list(parser.feed(b"\x82\x7f\x00")) == []
        assert not parser.skip_payload()
        assert parser.buffered == 3


HEADER_ONLY = b"\x82\x7e\x01"
