"""The C echo of a read's short frames (``_speedups.echo_short``) against the Python reflex.

A quiet echo server answers runs of short, masked, whole data frames in one C
call and hands the rest of the read to the frame-by-frame path. Whatever the
frames and however the stream is cut into reads, the answers, counters,
verdicts and close codes must be those of the Python path alone.
"""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wstool.core import masking
from wstool.core.connection import Connection
from wstool.core.frames import Role, forge_frame

pytestmark = pytest.mark.skipif(masking.echo_short is None, reason="the C accelerator is not built")

KEY = bytes.fromhex("37fa213d")  # RFC 6455 §5.7


def masked(opcode: int, payload: bytes, **fields: Any) -> bytes:
    return forge_frame(opcode=opcode, payload=payload, mask_key=KEY, **fields)


def echo_short(data: bytes, start: int = 0) -> tuple[bytes, int, int]:
    assert masking.echo_short is not None
    return masking.echo_short(data, start)


class TestEchoShort:
    def test_a_run_of_short_frames_is_answered_unmasked(self) -> None:
        wire = masked(1, b"Hello") + masked(2, b"\x00\xff" * 10) + masked(1, b"")
        assert echo_short(wire) == (
            b"\x81\x05Hello" + b"\x82\x14" + b"\x00\xff" * 10 + b"\x81\x00",
            len(wire),
            3,
        )

    def test_the_largest_7_bit_frame_is_short(self) -> None:
        wire = masked(2, b"z" * 125)
        assert echo_short(wire) == (b"\x82\x7d" + b"z" * 125, len(wire), 1)

    def test_the_scan_starts_where_asked(self) -> None:
        first, second = masked(1, b"one"), masked(1, b"two")
        assert echo_short(first + second, len(first)) == (b"\x81\x03two", len(first + second), 1)
        assert echo_short(first, len(first)) == (b"", len(first), 0)

    @pytest.mark.parametrize(
        "frame",
        [
            forge_frame(opcode=1, payload=b"unmasked"),  # §5.1: a client masks
            masked(1, b"part", fin=False),
            masked(0, b"more"),
            masked(1, b"deflated?", rsv1=True),
            masked(2, b"x", rsv2=True),
            masked(2, b"x", rsv3=True),
            masked(3, b"reserved"),
            masked(9, b"ping"),
            masked(10, b"pong"),
            masked(8, b"\x03\xe8"),
            masked(2, b"y" * 126),  # a 16-bit length
            masked(2, b"y" * 5, length_bits=16),
            masked(1, b"\xff"),
            masked(1, b"\xed\xa0\x80"),  # a UTF-16 surrogate, not UTF-8 (RFC 3629)
            masked(1, b"\xc0\xaf"),  # an overlong '/'
            masked(1, b"caf\xc3"),  # cut inside a character
        ],
    )
    def test_stops_at_a_frame_for_the_general_path(self, frame: bytes) -> None:
        before = masked(1, b"ok")
        assert echo_short(before + frame + masked(1, b"after")) == (
            b"\x81\x02ok",
            len(before),
            1,
        )

    def test_stops_at_a_frame_not_wholly_read(self) -> None:
        whole, cut = masked(1, b"ok"), masked(2, b"cut short")
        for size in range(len(cut)):
            assert echo_short(whole + cut[:size]) == (b"\x81\x02ok", len(whole), 1)

    def test_valid_utf8_beyond_ascii_is_answered(self) -> None:
        text = "καλημέρα κόσμε 🌍".encode()
        assert echo_short(masked(1, text))[0] == b"\x81" + bytes([len(text)]) + text

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError):
            echo_short(b"abc", 4)
        with pytest.raises(ValueError):
            echo_short(b"abc", -1)
        with pytest.raises(TypeError):
            masking.echo_short(b"abc")  # type: ignore[call-arg,misc]


# -- the Connection with and without the C call -------------------------------------

frames = st.one_of(
    st.builds(
        lambda opcode, payload: masked(opcode, payload),
        st.sampled_from([1, 2]),
        st.binary(max_size=130),
    ),
    st.builds(
        lambda text: masked(1, text.encode()),
        st.text(max_size=40),
    ),
    st.builds(
        lambda opcode, payload, fin, rsv1, mask: forge_frame(
            opcode=opcode, payload=payload, fin=fin, rsv1=rsv1, mask_key=KEY if mask else None
        ),
        st.sampled_from([0, 1, 2, 3, 8, 9, 10]),
        st.binary(max_size=20),
        st.booleans(),
        st.booleans(),
        st.booleans(),
    ),
)


def run(stream: bytes, cuts: list[int], *, with_c: bool, **options: Any) -> tuple[object, ...]:
    saved = masking.echo_short
    if not with_c:
        masking.echo_short = None
    try:
        server = Connection(Role.SERVER, record_frames=False, echo=True, **options)
        out = []
        start = 0
        for cut in [*sorted(cuts), len(stream)]:
            server.receive_data(stream[start:cut])
            out.append(server.data_to_send())
            start = max(start, cut)
    finally:
        masking.echo_short = saved
    failure = server.failure
    return (
        b"".join(out),
        server.state,
        server.close_sent,
        None if failure is None else (failure.rule, failure.close_code, failure.offset),
        server.frames_received,
        server.frames_sent,
        server.bytes_received,
        server.bytes_sent,
        server.events(),
    )


@settings(max_examples=400, deadline=None)
@given(
    st.lists(frames, max_size=12),
    st.lists(st.integers(min_value=0, max_value=2000), max_size=6),
)
def test_any_stream_in_any_reads_is_answered_as_the_python_path_does(
    parts: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(parts)
    cuts = [cut for cut in cuts if cut <= len(stream)]
    assert run(stream, cuts, with_c=True) == run(stream, cuts, with_c=False)


@pytest.mark.parametrize("limit", [0, 10, 124, 125])
def test_small_message_limits_still_close_with_1009(limit: int) -> None:
    stream = masked(1, b"a" * 20) + masked(2, b"b" * 125)
    for with_c in (True, False):
        result = run(stream, [], with_c=with_c, max_message_size=limit)
        assert result == run(stream, [], with_c=False, max_message_size=limit)
    if limit < 125:
        failure = result[3]
        assert failure is not None and failure[1] == 1009


def test_a_fragmented_message_in_progress_keeps_the_general_path() -> None:
    # RFC 6455 §5.4: a new data frame inside a fragmented message is a fault (1002).
    stream = masked(1, b"start", fin=False) + masked(2, b"interloper")
    with_c = run(stream, [len(masked(1, b"start", fin=False))], with_c=True)
    assert with_c == run(stream, [len(masked(1, b"start", fin=False))], with_c=False)
    failure = with_c[3]
    assert failure is not None and failure[1] == 1002
