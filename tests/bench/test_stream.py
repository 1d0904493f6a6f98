"""The C echo streams of ``wstool bench`` against the Python fast path.

A closed-loop connection with one size checks and answers its echoes in C once
open: ``_batch.stream`` for small messages, ``_batch.large_stream`` for large
ones (from 4 KiB, sent as pieces). Fed the same echoes in the same reads, it must count what the
Python path counts, fail the same corrupted echo with "verification", send the
same numbered messages, and hand its state to the Python path (at a mismatch
or the close) so that nothing is lost or counted twice.
"""

from __future__ import annotations

import array
import asyncio
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.bench.test_bench_stats import PLAN, FakeTransport
from wstool.bench.batch import _batch
from wstool.bench.connection import OPEN, BenchConnection
from wstool.bench.driver import BenchRun
from wstool.bench.plan import BenchPlan, SizeMix, decode_header, sequence_number
from wstool.core.frames import FrameParser, encode_frame

pytestmark = pytest.mark.skipif(_batch is None, reason="the C batch builder is not built")


def echoes_of(wire: bytes, text: bool, stamps: bool = True) -> tuple[bytes, list[int]]:
    """What a server echoes for ``wire``, and the message numbers in it (-1 each
    without stamps)."""
    echo = b""
    numbers = []
    for frame in FrameParser().feed(wire):
        header = decode_header(frame.data, text=text) if stamps else (0, -1)
        assert header is not None
        numbers.append(header[1] & 0xFFFFFFFF if stamps else -1)
        echo += encode_frame(frame.opcode, frame.data)
    return echo, numbers


def loop_back(
    *,
    stream: bool,
    text: bool,
    size: int,
    number: int,
    cuts: list[int],
    rounds: int,
    corrupt_at: int | None = None,
    hand_back: bool = False,
    stamps: bool = True,
) -> dict[str, Any]:
    """Send 16 messages, echo each batch back in reads cut at ``cuts`` for ``rounds``
    rounds (the connection answering as it goes), then a last round with nothing
    more sent; what the connection counted. ``hand_back``: the stream hands its
    state to the Python path after the last round's first read (as at the end of
    a run), which reads the rest. ``stamps``: False for ``--no-stamps``."""
    result: dict[str, Any] = {}

    async def scenario() -> None:
        sizes = SizeMix(((size, 1),))
        plan = BenchPlan(**{**PLAN.__dict__, "text": text, "sizes": sizes, "stamps": stamps})
        run = BenchRun(plan)
        conn = BenchConnection(run, 7)
        transport = FakeTransport()
        conn.transport, conn.state, conn.number = transport, OPEN, number
        if stream:
            assert conn.streams
            conn._start_stream()
        conn.send(16, 10**18)
        run.recording = run.counting = True
        numbers: list[int] = []
        echoed = 0
        streamed = False
        for round_number in range(rounds + 1):
            run.sending = round_number < rounds
            streamed = conn.stream is not None  # no read so far fell back to Python
            wire = bytes(transport.data)
            transport.data.clear()
            echo, sent = echoes_of(wire, text, stamps or size >= 4096)  # large: always
            numbers += sent
            if corrupt_at is not None and round_number == rounds:
                at = corrupt_at % len(echo)
                echo = echo[:at] + bytes([echo[at] ^ 1]) + echo[at + 1 :]
            start = 0
            for cut in [*sorted(c % (len(echo) + 1) for c in cuts), len(echo)]:
                chunk = echo[start:cut]
                if chunk:
                    run.read_view[: len(chunk)] = chunk
                    conn.buffer_updated(len(chunk))
                    if hand_back and round_number == rounds:
                        conn._stop_stream()
                start = max(start, cut)
            echoed += len(echo)
        streamed = streamed and (hand_back or conn.stream is not None)
        conn.begin_close()
        result.update(
            received=run.stats.received,
            sent=run.stats.sent,
            bytes=(run.stats.bytes_received, run.stats.bytes_sent),
            measured=run.stats.measured,
            latencies=sum(run.stats.latency.counts.values()) + len(run.stats.latency.pending),
            outstanding=conn.outstanding,
            number=conn.number,
            numbers=numbers,
            failed=conn.failed,
            errors=dict(run.stats.errors),
            streaming=conn.stream is not None,
            streamed=streamed and stream,
        )

    asyncio.run(scenario())
    return result


@settings(max_examples=60, deadline=None)
@given(
    text=st.booleans(),
    size=st.sampled_from([32, 40, 100, 1000, 4096, 4101, 9000]),
    number=st.sampled_from([0, 5, (1 << 32) - 20]),
    cuts=st.lists(st.integers(min_value=0, max_value=150_000), max_size=6),
    rounds=st.integers(min_value=0, max_value=3),
    hand_back=st.booleans(),
    stamps=st.booleans(),
)
def test_the_stream_counts_what_the_python_path_counts(
    text: bool, size: int, number: int, cuts: list[int], rounds: int, hand_back: bool, stamps: bool
) -> None:
    options = {
        "text": text, "size": size, "number": number, "cuts": cuts, "rounds": rounds,
        "stamps": stamps,
    }  # fmt: skip
    in_c = loop_back(stream=True, hand_back=hand_back, **options)
    in_python = loop_back(stream=False, **options)
    assert in_c.pop("streamed") and not in_python.pop("streamed")
    assert in_c == in_python
    assert not in_c["failed"] and not in_c["streaming"]  # the close hands it back
    assert in_c["received"] == in_c["sent"] == 16 * (rounds + 1)
    assert in_c["outstanding"] == 0
    if stamps or size >= 4096:  # large frames are stamped even under --no-stamps
        assert in_c["numbers"] == [(number + i) & 0xFFFFFFFF for i in range(in_c["sent"])]


@pytest.mark.parametrize("cut", [1, 10, 30, 4000, 4104 * 3 + 17])
@pytest.mark.parametrize(("text", "size"), [(True, 32), (False, 100), (True, 4096), (False, 9000)])
def test_the_python_path_takes_over_mid_echo(text: bool, size: int, cut: int) -> None:
    """Handed back in the middle of a frame (as when a run ends), nothing is lost."""
    options = {"text": text, "size": size, "number": 9, "cuts": [cut], "rounds": 2}
    in_c = loop_back(stream=True, hand_back=True, **options)
    in_python = loop_back(stream=False, **options)
    assert in_c.pop("streamed") and not in_python.pop("streamed")
    assert in_c == in_python
    assert not in_c["failed"] and in_c["received"] == 48


@pytest.mark.parametrize(
    ("corrupt_at", "kind"),
    [(0, "protocol"), (7, "verification"), (40, "verification"), (16 * 34 - 1, "verification")],
)
@pytest.mark.parametrize("rounds", [0, 2])
def test_a_wrong_echo_fails_as_on_the_python_path(corrupt_at: int, kind: str, rounds: int) -> None:
    """A flipped bit in a payload fails verification; in the first header, the framing."""
    options = {"text": True, "size": 32, "number": 0, "cuts": [50, 300], "rounds": rounds}
    in_c = loop_back(stream=True, corrupt_at=corrupt_at, **options)
    assert in_c == loop_back(stream=False, corrupt_at=corrupt_at, **options)
    assert in_c["failed"] and in_c["errors"] == {kind: 1}


@pytest.mark.parametrize(
    ("corrupt_at", "kind"),
    [(0, "protocol"), (5, "verification"), (30, "verification"), (9000, "verification"),
     (16 * 4104 - 1, "verification")],
)  # fmt: skip
@pytest.mark.parametrize("text", [True, False])
def test_a_wrong_large_echo_fails_as_on_the_python_path(
    corrupt_at: int, kind: str, text: bool
) -> None:
    """In the frame header, the timestamp header or the filler of a large echo."""
    options = {"text": text, "size": 4096, "number": 0, "cuts": [3, 6000, 20_000], "rounds": 2}
    in_c = loop_back(stream=True, corrupt_at=corrupt_at, **options)
    assert in_c == loop_back(stream=False, corrupt_at=corrupt_at, **options)
    assert in_c["failed"] and in_c["errors"] == {kind: 1}


def test_a_stream_that_never_sent_exports_nothing_expected() -> None:
    """A connection that opened as the run was interrupted sent nothing: its
    stream hands the Python path empty bytes, not None."""
    run = BenchRun(PLAN)
    piece = run.cycle[0]
    stream = _batch.stream(
        bytearray(1 << 16), [].append, piece.prefix, piece.masked_rest, piece.echo_head,
        piece.rest, run.mask_key, 0, PLAN.text, 0, 0,
    )  # fmt: skip
    assert stream.export() == (b"", [], 0, 0, 0)


def test_sequence_numbers_carry_the_connection_index() -> None:
    sent: list[bytes] = []
    buffer = bytearray(1 << 16)
    plan = BenchPlan(**{**PLAN.__dict__, "text": False, "sizes": SizeMix(((32, 1),))})
    run = BenchRun(plan)
    piece = run.cycle[0]
    stream = _batch.stream(
        buffer, sent.append, piece.prefix, piece.masked_rest, piece.echo_head, piece.rest,
        run.mask_key, 7, False, 3, 0,
    )  # fmt: skip
    stream.send(2, 123_000)
    frames = list(FrameParser().feed(b"".join(sent)))
    assert [decode_header(f.data, text=False) for f in frames] == [
        (123_000, sequence_number(7, 3)),
        (123_000, sequence_number(7, 4)),
    ]
    echo = b"".join(encode_frame(2, f.data) for f in frames)
    counts: dict[int, int] = {}
    buffer[: len(echo)] = echo
    assert stream.step(len(echo), 125_999, False, counts) == 2
    assert counts == {2: 2}  # (125,999 - 123,000) // 1000 µs, twice
    buffer[:4] = b"nope"
    assert stream.step(4, None, False, counts) == -1
    expected, batches, pos, done_pos, number = stream.export()
    assert (expected, batches, pos, done_pos, number) == (b"", [], len(echo), len(echo), 5)
    # The counters: received, bytes_received, measured, measured_bytes, sent, bytes_sent.
    sent.clear()
    stream.send(1, 0)
    echo = b"".join(encode_frame(2, f.data) for f in FrameParser().feed(sent.pop()))
    buffer[: len(echo)] = echo
    for wrong in (array.array("i", bytes(24)), bytes(48), array.array("q", bytes(40))):
        with pytest.raises((TypeError, BufferError)):
            stream.step(len(echo), None, True, None, wrong, True)
    assert stream.export()[2:] == (pos, pos, 6)  # the refused reads changed nothing
    tally = array.array("q", bytes(48))
    assert stream.step(len(echo), None, True, None, tally, False) == 1
    assert list(tally) == [1, 32, 0, 0, 1, 32]  # not counting: outside the window
    assert len(sent) == 1  # the answer


@pytest.mark.parametrize("b0", [0x83, 0x87, 0x8B, 0x8F])
def test_a_reserved_opcode_fails_the_connection(b0: int) -> None:
    """RFC 6455 §5.2: an unknown opcode, data (3-7) or control (0xB-0xF), is a protocol error."""

    async def scenario() -> dict[str, int]:
        run = BenchRun(PLAN)
        conn = BenchConnection(run, 0)
        conn.transport, conn.state = FakeTransport(), OPEN
        conn._frame_in(b0, b"")
        return dict(run.stats.errors)

    assert asyncio.run(scenario()) == {"protocol": 1}


# -- the hook: reads handed to the stream by the transport ---------------------------------


@pytest.fixture
def fallbacks(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """The reads that reach the connection's own buffer_updated (a hooked stream's fallback)."""
    reads: list[int] = []
    python_path = BenchConnection.buffer_updated

    def counted(self: BenchConnection, nbytes: int) -> None:
        reads.append(nbytes)
        python_path(self, nbytes)

    monkeypatch.setattr(BenchConnection, "buffer_updated", counted)
    return reads


@pytest.mark.parametrize(("text", "size"), [(True, 32), (False, 9000)])  # stream, large_stream
def test_the_hook_takes_the_echoes_and_hands_back_the_rest(
    fallbacks: list[int], text: bool, size: int
) -> None:
    """Once hooked, a read of the echoes expected is answered without the connection's
    own buffer_updated; the run's end and a wrong echo go to it, and the stream is let go."""

    async def scenario() -> None:
        plan = BenchPlan(**{**PLAN.__dict__, "text": text, "sizes": SizeMix(((size, 1),))})
        run = BenchRun(plan)
        conn = BenchConnection(run, 3)
        transport = FakeTransport()
        conn.transport, conn.state = transport, OPEN
        conn._start_stream()
        assert transport.protocol is conn  # told again, so that it takes the stream's methods
        stream = conn.stream
        assert conn.buffer_updated == stream.buffer_updated
        assert conn.get_buffer(-1) is run.read_view.obj
        conn.send(16, 10**18)

        def echo_back(corrupt: bool = False) -> None:
            echo, _ = echoes_of(bytes(transport.data), text=text)
            transport.data.clear()
            if corrupt:
                echo = echo[:-1] + bytes([echo[-1] ^ 1])
            run.read_view[: len(echo)] = echo
            conn.buffer_updated(len(echo))

        echo_back()  # the ramp-up: neither recorded nor counted
        assert run.stats.received == 16 and run.stats.measured == 0
        assert run.stats.latency.counts == {}
        run.recording = run.counting = True
        for _ in range(3):
            echo_back()
        assert fallbacks == [] and run.stats.received == 64 and run.stats.sent == 80
        assert run.stats.measured == 48
        assert sum(run.stats.latency.counts.values()) == 48
        echo_back(corrupt=True)
        assert len(fallbacks) == 1 and conn.failed
        assert conn.stream is None and "buffer_updated" not in vars(conn)
        assert run.stats.errors == {"verification": 1}

    asyncio.run(scenario())


def test_the_hook_leaves_the_end_of_a_run_to_the_connection(fallbacks: list[int]) -> None:
    async def scenario() -> None:
        run = BenchRun(BenchPlan(**{**PLAN.__dict__, "sizes": SizeMix(((32, 1),))}))
        conn = BenchConnection(run, 0)
        transport = FakeTransport()
        conn.transport, conn.state = transport, OPEN
        conn._start_stream()
        conn.send(8, 10**18)
        run.sending = False  # the run's time is up: echoes still come, nothing more is sent
        echo, _ = echoes_of(bytes(transport.data), text=PLAN.text)
        transport.data.clear()
        run.read_view[: len(echo)] = echo
        conn.buffer_updated(len(echo))
        assert fallbacks == [len(echo)]
        assert conn.outstanding == 0 and run.stats.received == 8 and transport.data == b""

    asyncio.run(scenario())


def test_a_lost_connection_lets_go_of_its_stream() -> None:
    async def scenario() -> None:
        run = BenchRun(BenchPlan(**{**PLAN.__dict__, "sizes": SizeMix(((32, 1),))}))
        conn = BenchConnection(run, 0)
        conn.transport, conn.state = FakeTransport(), OPEN
        conn._start_stream()
        assert "buffer_updated" in vars(conn)
        conn.connection_lost(None)
        assert "buffer_updated" not in vars(conn) and "get_buffer" not in vars(conn)

    asyncio.run(scenario())
