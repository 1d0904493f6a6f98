"""The C echo of a read's data frames (``_speedups.echo_frames``) against the Python path.

A quiet echo server answers runs of masked, whole data frames in one C call
and hands the rest of the read to the frame-by-frame path. Whatever the
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

pytestmark = pytest.mark.skipif(
    masking.echo_frames is None, reason="the C accelerator is not built"
)

KEY = bytes.fromhex("37fa213d")  # RFC 6455 §5.7


def masked(opcode: int, payload: bytes, **fields: Any) -> bytes:
    return forge_frame(opcode=opcode, payload=payload, mask_key=KEY, **fields)


def echo_frames(data: bytes, start: int = 0, limit: int = -1) -> tuple[bytes, int, int]:
    assert masking.echo_frames is not None
    return masking.echo_frames(data, start, limit)


class TestEchoFrames:
    def test_a_run_of_short_frames_is_answered_unmasked(self) -> None:
        wire = masked(1, b"Hello") + masked(2, b"\x00\xff" * 10) + masked(1, b"")
        assert echo_frames(wire) == (
            b"\x81\x05Hello" + b"\x82\x14" + b"\x00\xff" * 10 + b"\x81\x00",
            len(wire),
            3,
        )

    @pytest.mark.parametrize("size", [125, 126, 65535, 65536, 300_000])
    def test_every_length_encoding_keeps_its_header(self, size: int) -> None:
        payload = bytes(range(256)) * (size // 256) + b"z" * (size % 256)
        wire = masked(2, payload)
        head = len(wire) - 4 - size
        expected = bytes([0x82, wire[1] & 0x7F]) + wire[2:head] + payload
        assert echo_frames(wire) == (expected, len(wire), 1)

    def test_a_frame_over_the_limit_is_left_for_1009(self) -> None:
        small, big = masked(2, b"a" * 100), masked(2, b"b" * 1000)
        assert echo_frames(small + big, 0, 999)[1:] == (len(small), 1)
        assert echo_frames(small + big, 0, 1000)[1:] == (len(small + big), 2)
        assert echo_frames(small, 0, 99)[1:] == (0, 0)

    def test_the_scan_starts_where_asked(self) -> None:
        first, second = masked(1, b"one"), masked(1, b"two")
        assert echo_frames(first + second, len(first)) == (b"\x81\x03two", len(first + second), 1)
        assert echo_frames(first, len(first)) == (b"", len(first), 0)

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
            masked(2, b"y" * 5, length_bits=16),  # §5.2: the minimal number of bytes
            masked(2, b"y" * 200, length_bits=64),
            masked(2, b"y" * 2, length=2**63 + 2, length_bits=64),  # §5.2: top bit 0
            masked(1, b"\xff"),
            masked(1, b"\xed\xa0\x80"),  # a UTF-16 surrogate, not UTF-8 (RFC 3629)
            masked(1, b"\xc0\xaf"),  # an overlong '/'
            masked(1, b"caf\xc3"),  # cut inside a character
        ],
    )
    def test_stops_at_a_frame_for_the_general_path(self, frame: bytes) -> None:
        before = masked(1, b"ok")
        assert echo_frames(before + frame + masked(1, b"after")) == (
            b"\x81\x02ok",
            len(before),
            1,
        )

    def test_stops_at_a_frame_not_wholly_read(self) -> None:
        whole, cut = masked(1, b"ok"), masked(2, b"cut short")
        for size in range(len(cut)):
            assert echo_frames(whole + cut[:size]) == (b"\x81\x02ok", len(whole), 1)

    def test_valid_utf8_beyond_ascii_is_answered(self) -> None:
        text = "καλημέρα κόσμε 🌍".encode()
        assert echo_frames(masked(1, text))[0] == b"\x81" + bytes([len(text)]) + text

    def test_bad_arguments(self) -> None:
        with pytest.raises(ValueError):
            echo_frames(b"abc", 4)
        with pytest.raises(ValueError):
            echo_frames(b"abc", -1)
        with pytest.raises(TypeError):
            masking.echo_frames(b"abc", 0)  # type: ignore[call-arg,misc]


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
        lambda opcode, size, byte: masked(opcode, bytes([byte]) * size),
        st.sampled_from([1, 2]),
        st.sampled_from([126, 1000, 65535, 65536, 70000]),
        st.sampled_from([0x41, 0xFF]),  # text of 0xFF is not UTF-8
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


def run(
    stream: bytes, cuts: list[int], *, with_c: bool, echoed: bool = False, **options: Any
) -> tuple[object, ...]:
    """The connection's output and state after ``stream`` came in cut at ``cuts``;
    ``echoed`` reads through ``receive_echoed`` (what serve's direct reads use)."""
    saved = masking.echo_frames
    if not with_c:
        masking.echo_frames = None
    try:
        server = Connection(Role.SERVER, record_frames=False, echo=True, **options)
        out = []
        start = 0
        for cut in [*sorted(cuts), len(stream)]:
            data = stream[start:cut]
            if echoed and data:
                out.append(server.receive_echoed(data) or b"")
            else:
                server.receive_data(data)
            out.append(server.data_to_send())
            start = max(start, cut)
    finally:
        masking.echo_frames = saved
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
    st.lists(st.integers(min_value=0, max_value=300_000), max_size=8),
)
def test_any_stream_in_any_reads_is_answered_as_the_python_path_does(
    parts: list[bytes], cuts: list[int]
) -> None:
    stream = b"".join(parts)
    cuts = [cut for cut in cuts if cut <= len(stream)]
    python = run(stream, cuts, with_c=False)
    assert run(stream, cuts, with_c=True) == python
    assert run(stream, cuts, with_c=True, echoed=True) == python
    assert run(stream, cuts, with_c=False, echoed=True) == python


@pytest.mark.parametrize("limit", [0, 10, 124, 125, 999, 1000])
@pytest.mark.parametrize("option", ["max_message_size", "max_frame_size"])
def test_message_and_frame_limits_still_close_with_1009(limit: int, option: str) -> None:
    stream = masked(1, b"a" * 20) + masked(2, b"b" * 125) + masked(2, b"c" * 1000)
    result = run(stream, [30], with_c=True, **{option: limit})
    assert result == run(stream, [30], with_c=False, **{option: limit})
    failure = result[3]
    if limit < 1000:
        assert failure is not None and failure[1] == 1009
    else:
        assert failure is None and result[5] == 3


def test_a_large_frame_dribbled_in_small_reads_is_answered_once() -> None:
    stream = masked(2, bytes(range(256)) * 1024) + masked(1, b"next")
    cuts = list(range(1000, len(stream), 1000))
    result = run(stream, cuts, with_c=True)
    assert result == run(stream, cuts, with_c=False)
    assert result == run(stream, cuts, with_c=True, echoed=True)
    assert result[0] == echo_frames(stream)[0] and result[5] == 2


def test_a_fragmented_message_in_progress_keeps_the_general_path() -> None:
    # RFC 6455 §5.4: a new data frame inside a fragmented message is a fault (1002).
    stream = masked(1, b"start", fin=False) + masked(2, b"interloper")
    with_c = run(stream, [len(masked(1, b"start", fin=False))], with_c=True)
    assert with_c == run(stream, [len(masked(1, b"start", fin=False))], with_c=False)
    failure = with_c[3]
    assert failure is not None and failure[1] == 1002


@pytest.mark.parametrize("read_size", [1000, 65536, 100_014])
def test_frames_larger_than_a_read_each_ending_in_the_next_read(read_size: int) -> None:
    """The 1 MiB echo case: every read ends one frame and starts the next, which waits
    as a view of the read; text among them is still checked as it comes."""
    stream = b"".join(masked(2 if n % 3 else 1, (b"%05d" % n) * 20_000) for n in range(6)) + masked(
        1, b"\xff" * 300
    )  # bad UTF-8 last: 1007 at its first byte
    cuts = list(range(read_size, len(stream), read_size))
    with_c = run(stream, cuts, with_c=True)
    assert with_c == run(stream, cuts, with_c=False)
    assert with_c == run(stream, cuts, with_c=True, echoed=True)
    assert with_c[5] == 7  # six echoes and the Close
    assert with_c[3] is not None and with_c[3][1] == 1007


def test_quiet_output_is_the_output_only_when_nothing_else_happened() -> None:
    server = Connection(Role.SERVER, record_frames=False, echo=True)
    assert server.quiet_output() == []
    server.receive_data(masked(2, b"one") + masked(2, b"two"))
    assert b"".join(server.quiet_output() or [b"?"]) == b"\x82\x03one\x82\x03two"
    server.receive_data(masked(9, b"ping"))  # a Ping: its Pong is output too
    assert server.quiet_output() == [b"\x8a\x04", b"ping"]
    server.receive_data(masked(8, b"\x03\xe8"))  # the peer's Close: ours is owed
    assert server.quiet_output() is None
    assert server.data_to_send() == b"\x88\x02\x03\xe8"


def test_receive_echoed_returns_a_whole_reads_answer_and_queues_nothing() -> None:
    server = Connection(Role.SERVER, record_frames=False, echo=True)
    assert server.receive_echoed(masked(2, b"one") + masked(1, b"two")) == (
        b"\x82\x03one\x81\x03two"
    )
    assert server.data_to_send() == b"" and server.events() == []
    assert (server.frames_received, server.frames_sent, server.bytes_sent) == (2, 2, 10)
    # A read that ends inside a frame: the whole frames are queued, the rest waits.
    stream = masked(2, b"three") + masked(2, b"four")
    assert server.receive_echoed(stream[:-2]) is None
    assert server.data_to_send() == b"\x82\x05three"
    # Its end completes the frame: the general path answers it (a part was buffered).
    assert server.receive_echoed(stream[-2:]) is None
    assert server.data_to_send() == b"\x82\x04four"
    assert server.bytes_received == len(masked(2, b"one") + masked(1, b"two")) + len(stream)


@pytest.mark.parametrize(
    "options",
    [{"record_frames": True, "echo": True}, {"record_frames": False, "echo": False}],
    ids=["frames-recorded", "no-echo"],
)
def test_receive_echoed_leaves_other_connections_to_receive_data(options: dict[str, bool]) -> None:
    server = Connection(Role.SERVER, **options)
    assert server.receive_echoed(masked(2, b"one")) is None
    events = server.events()
    assert events, "the message is reported as receive_data reports it"
    assert (server.data_to_send() == b"\x82\x03one") is options["echo"]


def test_receive_echoed_after_a_ping_leaves_its_pong_first() -> None:
    server = Connection(Role.SERVER, record_frames=False, echo=True)
    server.receive_data(masked(9, b"ping"))  # the Pong is queued, not yet collected
    assert server.receive_echoed(masked(2, b"one")) is None
    assert server.data_to_send() == b"\x8a\x04ping\x82\x03one"
