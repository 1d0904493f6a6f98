"""Frame records from bytes: the C writer and the Python path give the same records."""

from __future__ import annotations

import json

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstool.core.frames import Role, encode_frame, forge_frame
from wstool.session import bytes_recorder
from wstool.session.bytes_recorder import ByteStream

try:
    from wstool.session._records import frame_lines as c_frame_lines  # type: ignore[import-not-found]
except ImportError:
    c_frame_lines = None

needs_c = pytest.mark.skipif(c_frame_lines is None, reason="the C record writer is not built")

PLAIN_101 = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"
DEFLATE_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\nSec-WebSocket-Extensions: permessage-deflate\r\n\r\n"
)


def _records(
    data: bytes, chunks: list[int], response: bytes = PLAIN_101
) -> list[dict[str, object]]:
    stream = ByteStream(3, Role.CLIENT, response, orjson.dumps)
    lines: list[bytes] = []
    at = 0
    for size in [*chunks, len(data)]:
        stream.feed(data[at : at + size], 12.5, 3.25, lines)
        at += size
        if at >= len(data):
            break
    return [json.loads(line) for line in b"".join(lines).splitlines()]


_frames = st.lists(
    st.one_of(
        st.builds(
            lambda op, data, key: encode_frame(op, data, mask_key=key),
            st.sampled_from([1, 2, 9, 10]),
            st.binary(max_size=300),
            st.one_of(st.none(), st.binary(min_size=4, max_size=4)),
        ),
        st.builds(  # text, including quotes, backslashes, controls and any character
            lambda text, key: encode_frame(1, text.encode(), mask_key=key),
            st.text(max_size=80),
            st.one_of(st.none(), st.binary(min_size=4, max_size=4)),
        ),
        st.builds(  # what C leaves to Python: fragments, RSV bits, reserved opcodes
            lambda fin, rsv2, op, data: forge_frame(opcode=op, payload=data, fin=fin, rsv2=rsv2),
            st.booleans(),
            st.booleans(),
            st.sampled_from([0, 1, 2, 3, 11]),
            st.binary(max_size=40),
        ),
    ),
    max_size=12,
)


@needs_c
@given(_frames, st.lists(st.integers(1, 200), max_size=6))
def test_c_and_python_write_the_same_records(frames: list[bytes], chunks: list[int]) -> None:
    data = b"".join(frames)
    with_c = _records(data, chunks)
    original = bytes_recorder.frame_lines
    bytes_recorder.frame_lines = bytes_recorder._frame_lines_python
    try:
        in_python = _records(data, chunks)
    finally:
        bytes_recorder.frame_lines = original
    assert with_c == in_python
    assert len(with_c) == len(frames)


def test_a_text_frame_record_and_its_message() -> None:
    data = encode_frame(1, 'say "hi"\\\n\x01é'.encode(), mask_key=b"\x01\x02\x03\x04")
    (record,) = _records(data, [3])
    assert record == {
        "type": "frame",
        "conn": 3,
        "from": "client",
        "time": 12.5,
        "mono": 3.25,
        "fin": True,
        "rsv": [False, False, False],
        "opcode": 1,
        "mask": "01020304",
        "length": 13,
        "head": data[:6].hex(),
        "wire": __import__("base64").b64encode(data[6:]).decode(),
        "message": {
            "opcode": 1,
            "frames": 1,
            "compressed": False,
            "size": 13,
            "text": 'say "hi"\\\n\x01é',
        },
    }


def test_invalid_utf8_text_has_no_message() -> None:
    (record,) = _records(encode_frame(1, b"\xff\xfe"), [])
    assert "message" not in record and record["opcode"] == 1


def test_compressed_messages_are_inflated_with_the_agreed_parameters() -> None:
    from wstool.core.deflate import DeflateParams, PerMessageDeflate

    sender = PerMessageDeflate(DeflateParams(), is_client=True)
    frames = b""
    for text in ("hello hello hello", "hello again"):
        frames += encode_frame(1, sender.compress(text.encode()), rsv1=True, mask_key=b"abcd")
    records = _records(frames, [5], DEFLATE_101)
    assert [r["message"]["text"] for r in records] == [  # type: ignore[index]
        "hello hello hello",
        "hello again",
    ]
    assert all(r["rsv"] == [True, False, False] for r in records)


def _deflated_frames(messages: list[tuple[int, bytes, int]]) -> bytes:
    """Client frames of a deflate connection: whole compressed messages, fragmented ones,
    uncompressed ones, and compressed bytes that do not inflate, in the order given."""
    from wstool.core.deflate import DeflateParams, PerMessageDeflate

    sender = PerMessageDeflate(DeflateParams(), is_client=True)
    out = b""
    for opcode, data, how in messages:
        if how == 0:  # whole, compressed
            out += encode_frame(opcode, sender.compress(data), rsv1=True, mask_key=b"abcd")
        elif how == 1:  # compressed, in two frames
            payload = sender.compress(data)
            out += forge_frame(opcode=opcode, payload=payload[:1], fin=False, rsv1=True)
            out += forge_frame(opcode=0, payload=payload[1:], fin=True)
        elif how == 2:  # not compressed
            out += encode_frame(opcode, data, mask_key=b"wxyz")
        else:  # RSV1 on bytes that are not DEFLATE: the context is lost from here on
            out += encode_frame(opcode, b"\xff" + data, rsv1=True)
    return out


_messages = st.lists(
    st.tuples(
        st.sampled_from([1, 2]),
        st.one_of(st.text(max_size=60).map(str.encode), st.binary(max_size=60)),
        st.sampled_from([0, 0, 0, 1, 2, 3]),
    ),
    max_size=10,
)


@needs_c
@given(_messages, st.lists(st.integers(1, 200), max_size=6))
def test_c_and_python_inflate_to_the_same_records(
    messages: list[tuple[int, bytes, int]], chunks: list[int]
) -> None:
    """Compressed messages written in C (inflated by the callback) equal the Python path's."""
    data = _deflated_frames(messages)
    with_c = _records(data, chunks, DEFLATE_101)
    original = bytes_recorder.frame_lines
    bytes_recorder.frame_lines = bytes_recorder._frame_lines_python
    try:
        in_python = _records(data, chunks, DEFLATE_101)
    finally:
        bytes_recorder.frame_lines = original
    assert with_c == in_python


def test_compressed_text_that_is_not_utf8_has_no_message() -> None:
    from wstool.core.deflate import DeflateParams, PerMessageDeflate

    sender = PerMessageDeflate(DeflateParams(), is_client=True)
    frames = encode_frame(1, sender.compress(b"\xff\xfe"), rsv1=True, mask_key=b"abcd")
    frames += encode_frame(2, sender.compress(b"\xff\xfe"), rsv1=True, mask_key=b"abcd")
    text, binary = _records(frames, [], DEFLATE_101)
    assert "message" not in text
    assert binary["message"] == {
        "opcode": 2,
        "frames": 1,
        "compressed": True,
        "size": 2,
        "base64": "//4=",
    }
