"""The C batch builder of ``wstool bench`` (``_batch.numbered``) against its Python twin.

Both build a closed-loop batch of numbered client frames and add the echoes
expected back to a bytearray; for any pieces, times, connection indexes,
numbers (wrapping at 2**32) and counts they must give the same bytes, and the
frames must parse as masked messages that start with plan.py's timestamp
header and whose echoes are the ones expected.
"""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstool.bench.batch import numbered_python
from wstool.bench.plan import decode_header, sequence_number
from wstool.core.frames import FrameParser, encode_header
from wstool.core.masking import apply_mask

try:
    from wstool.bench import _batch  # type: ignore[attr-defined]
except ImportError:  # built without a compiler
    _batch = None

needs_c = pytest.mark.skipif(_batch is None, reason="the C batch builder is not built")
KEY = bytes.fromhex("37fa213d")


@needs_c
@given(
    prefix=st.binary(max_size=20),
    masked_rest=st.binary(max_size=40),
    echo_prefix=st.binary(max_size=20),
    rest=st.binary(max_size=40),
    key=st.binary(min_size=4, max_size=4),
    stamp=st.integers(min_value=0, max_value=2**64 - 1),
    index=st.integers(min_value=0, max_value=2**32 - 1),
    first=st.integers(min_value=0, max_value=2**40),
    count=st.integers(min_value=0, max_value=40),
    text=st.booleans(),
    before=st.binary(max_size=10),
)
def test_the_c_batch_is_the_python_batch(
    prefix: bytes,
    masked_rest: bytes,
    echo_prefix: bytes,
    rest: bytes,
    key: bytes,
    stamp: int,
    index: int,
    first: int,
    count: int,
    text: bool,
    before: bytes,
) -> None:
    pieces = (prefix, masked_rest, echo_prefix, rest, key, stamp, index, first, count, text)
    c_expected, py_expected = bytearray(before), bytearray(before)
    assert _batch is not None
    c_wire = _batch.numbered(*pieces, c_expected)
    assert c_wire == numbered_python(*pieces, py_expected)
    assert c_expected == py_expected


@pytest.mark.parametrize("build", ["python", pytest.param("c", marks=needs_c)])
@pytest.mark.parametrize("text", [True, False])
def test_a_batch_is_frames_of_stamped_numbered_messages(build: str, text: bool) -> None:
    """Unmasked, each frame's payload is its echo's: the send time, the connection's
    index and the message's number (wrapping round), then the filler."""
    filler = b"filler"
    size = (32 if text else 16) + len(filler)
    opcode = 1 if text else 2
    prefix, _ = encode_header(opcode, size, mask_key=KEY)
    echo_prefix, _ = encode_header(opcode, size)
    expected = bytearray()
    numbered = numbered_python if build == "python" else _batch.numbered  # type: ignore[union-attr]
    stamp, index = 1_765_000_000_123_456_789, 7
    wire = numbered(
        prefix, apply_mask(filler, KEY), echo_prefix, filler, KEY, stamp, index,
        0xFFFFFFFE, 3, text, expected,
    )  # fmt: skip
    frames = list(FrameParser().feed(wire))
    assert [decode_header(frame.data, text=text) for frame in frames] == [
        (stamp, sequence_number(index, n)) for n in (0xFFFFFFFE, 0xFFFFFFFF, 0)
    ]
    assert all(frame.data.endswith(filler) and frame.opcode == opcode for frame in frames)
    assert bytes(expected) == b"".join(echo_prefix + frame.data for frame in frames)
