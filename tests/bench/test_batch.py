"""The C batch builder of ``wstool bench`` (``_batch.numbered``) against its Python twin.

Both build a closed-loop batch of numbered client frames and add the echoes
expected back to a bytearray; for any pieces, numbers (wrapping at 2**32)
and counts they must give the same bytes, and the frames must parse as the
masked messages whose echoes are expected.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstool.bench.connection import numbered_python
from wstool.core.frames import FrameParser, encode_header

try:
    from wstool.bench import _batch  # type: ignore[attr-defined]
except ImportError:  # built without a compiler
    _batch = None

needs_c = pytest.mark.skipif(_batch is None, reason="the C batch builder is not built")
KEY = bytes.fromhex("37fa213d")


@needs_c
@given(
    head=st.binary(max_size=40),
    masked_rest=st.binary(max_size=40),
    echo_head=st.binary(max_size=40),
    rest=st.binary(max_size=40),
    key=st.binary(min_size=4, max_size=4),
    first=st.integers(min_value=0, max_value=2**40),
    count=st.integers(min_value=0, max_value=40),
    text=st.booleans(),
    before=st.binary(max_size=10),
)
def test_the_c_batch_is_the_python_batch(
    head: bytes,
    masked_rest: bytes,
    echo_head: bytes,
    rest: bytes,
    key: bytes,
    first: int,
    count: int,
    text: bool,
    before: bytes,
) -> None:
    pieces = (head, masked_rest, echo_head, rest, key, first, count, text)
    c_expected, py_expected = bytearray(before), bytearray(before)
    assert _batch is not None
    c_wire = _batch.numbered(*pieces, c_expected)
    assert c_wire == numbered_python(*pieces, py_expected)
    assert c_expected == py_expected


@pytest.mark.parametrize("build", ["python", pytest.param("c", marks=needs_c)])
@pytest.mark.parametrize("text", [True, False])
def test_a_batch_is_frames_of_numbered_messages(build: str, text: bool) -> None:
    """Frames whose payloads, unmasked, are the echoes expected, numbers wrapping round."""
    width = 8 if text else 4
    stamp = b"T" * 12  # the header before the number: whole mask periods
    filler = b"filler"
    size = len(stamp) + width + len(filler)
    prefix, _ = encode_header(1 if text else 2, size, mask_key=KEY)
    echo_prefix, _ = encode_header(1 if text else 2, size)
    masked_stamp = bytes(b ^ KEY[i % 4] for i, b in enumerate(stamp))
    masked_filler = bytes(b ^ KEY[(len(stamp) + width + i) % 4] for i, b in enumerate(filler))
    expected = bytearray()
    numbered = numbered_python if build == "python" else _batch.numbered  # type: ignore[union-attr]
    wire = numbered(
        prefix + masked_stamp, masked_filler, echo_prefix + stamp, filler, KEY,
        0xFFFFFFFE, 3, text, expected,
    )  # fmt: skip
    frames = list(FrameParser().feed(wire))
    numbers = [b"fffffffe", b"ffffffff", b"00000000"] if text else [
        b"\xff\xff\xff\xfe", b"\xff\xff\xff\xff", b"\x00\x00\x00\x00"
    ]  # fmt: skip
    assert [frame.data for frame in frames] == [stamp + n + filler for n in numbers]
    assert bytes(expected) == b"".join(echo_prefix + stamp + n + filler for n in numbers)
