"""wstool.bench.stats and report: HDR histograms, merging across processes, the verdict."""

from __future__ import annotations

import asyncio
import io

from rich.console import Console

from wstool.bench.connection import OPEN, BenchConnection
from wstool.bench.driver import BenchRun, build_cycle
from wstool.bench.plan import (
    BenchPlan,
    SizeMix,
    decode_header,
    filler,
    header_size,
    sequence_number,
)
from wstool.bench.report import summarize
from wstool.bench.stats import Latencies, Stats
from wstool.core.frames import FrameParser, encode_frame
from wstool.core.masking import apply_mask
from wstool.ui.benchview import format_latency, render_report

PLAN = BenchPlan(url="ws://h:1/", host="h", port=1, resource="/", host_header="h:1")


class TestLatencies:
    """Nanoseconds in, microsecond percentiles out, through a buffer."""

    def test_percentiles(self) -> None:
        """1..1000 µs: p50 about 500, p99.9 about 999, max 1000 (3 significant digits)."""
        latencies = Latencies()
        latencies.pending.extend(range(1, 1001))
        summary = latencies.summary()
        assert summary is not None
        assert summary["count"] == 1000
        assert summary["p50"] == 500 and summary["p99.9"] == 999 and summary["max"] == 1000

    def test_empty(self) -> None:
        """No samples: no summary and no encoding."""
        assert Latencies().summary() is None and Latencies().encode() is None

    def test_clamped(self) -> None:
        """A negative (clock step) or absurd sample is clamped, never an error."""
        latencies = Latencies()
        latencies.pending.extend([-5, 10**20])
        summary = latencies.summary()
        assert summary is not None and summary["count"] == 2


class TestMerge:
    """Workers send counters and encoded histograms; the parent adds them up."""

    def test_two_workers(self) -> None:
        """Counters add, errors add by kind, histograms merge, the window is the longest."""
        parts = []
        for worker in range(2):
            stats = Stats()
            stats.sent = stats.received = 100
            stats.window = 1.0 + worker
            stats.error("refused")
            stats.latency.pending.extend([(worker + 1) * 1000] * 100)
            parts.append(stats.to_wire())
        merged = Stats()
        for part in parts:
            merged.merge_wire(part)
        assert merged.sent == 200 and merged.errors == {"refused": 2}
        assert merged.window == 2.0
        summary = merged.latency.summary()
        assert summary is not None
        assert summary["count"] == 200 and summary["p50"] == 1000 and summary["max"] == 2000


class TestReport:
    """The result's figures and verdict."""

    def test_rates_and_ok(self) -> None:
        """msgs/s and MB/s come from the measured window; no failure means ok."""
        stats = Stats()
        stats.opened = 2
        stats.measured, stats.measured_bytes, stats.window = 1000, 32000, 2.0
        report = summarize(PLAN, stats)
        assert report["msgs_per_s"] == 500.0 and report["mb_per_s"] == 0.016
        assert report["ok"] is True

    def test_failures(self) -> None:
        """A wrong echo or a failed connection is not ok; nothing opened is not ok either."""
        stats = Stats()
        stats.opened = 1
        stats.error("verification")
        assert summarize(PLAN, stats)["ok"] is False
        assert summarize(PLAN, Stats())["ok"] is False

    def test_table(self) -> None:
        """The table names the run, the rate and the error kinds, with peer text made safe."""
        stats = Stats()
        stats.opened, stats.failed = 3, 1
        stats.measured, stats.window = 300, 1.0
        stats.latency.pending.extend([250] * 10)
        stats.error("close 1011")
        report = summarize(PLAN, stats)
        out = io.StringIO()
        Console(file=out, width=120, color_system=None).print(
            render_report(report, {"close 1011": "bad\x1b[2Jthing"})
        )
        text = out.getvalue()
        assert "300" in text and "250 µs" in text and "close 1011" in text
        assert "\x1b" not in text and "FAILED" in text

    def test_unsent_is_shown_and_merged(self) -> None:
        """Open-loop messages that fell due but were never sent: one line under the
        table, in --json, and added up across workers."""
        shares = [Stats(), Stats()]
        shares[0].unsent, shares[1].unsent = 1200, 34
        total = Stats()
        for share in shares:
            total.merge_wire(share.to_wire())
        total.opened = 1
        report = summarize(PLAN, total)
        assert report["unsent"] == 1234 and report["ok"] is True
        out = io.StringIO()
        Console(file=out, width=200, color_system=None).print(render_report(report))
        assert "behind --rate: 1,234 messages fell due but were never sent" in out.getvalue()

    def test_latency_units(self) -> None:
        """µs, ms and s as the value grows."""
        assert [format_latency(v) for v in (83, 1250, 2_100_000, None)] == [
            "83 µs",
            "1.25 ms",
            "2.10 s",
            "-",
        ]


class TestPrebuiltFrames:
    """The frame pieces the driver sends: masked right, and the echo known in advance."""

    def test_pieces_make_frames(self) -> None:
        """prefix + masked header + masked rest is a valid masked frame of the filler."""
        key = b"\x01\x02\x03\x04"
        plan = BenchPlan(**{**PLAN.__dict__, "sizes": SizeMix(((32, 1), (70000, 1)))})
        cycle = build_cycle(plan, key)
        assert sorted(p.size for p in cycle) == [32, 70000]
        for piece in cycle:
            header = bytes(range(16))
            frame = piece.prefix + apply_mask(header, key) + piece.masked_rest
            (parsed,) = list(FrameParser().feed(frame))
            assert parsed.opcode == 2 and parsed.mask_key == key
            assert parsed.data == header + filler(piece.size, text=False)[16:]
            (echo,) = list(FrameParser().feed(piece.echo_head + header + piece.rest))
            assert echo.mask_key is None and echo.data == parsed.data


class FakeTransport:
    """Collects what a connection writes."""

    def __init__(self) -> None:
        self.data = bytearray()
        self.aborted = False

    def write(self, data: bytes) -> None:
        self.data += data

    def writelines(self, pieces: list[bytes]) -> None:
        for piece in pieces:
            self.data += piece

    def abort(self) -> None:
        self.aborted = True

    def set_protocol(self, protocol: object) -> None:
        """As asyncio's transports: reads go to ``protocol`` (taking its read methods anew)."""
        self.protocol = protocol

    def is_closing(self) -> bool:
        return self.aborted


def _loop_back(
    text: bool,
    sizes: SizeMix,
    *,
    number: int = 0,
    rate: float | None = None,
    cut: int = 37,
    corrupt_at: int | None = None,
) -> BenchRun:
    """Send 16 messages on a connection, echo them back as a server would, check both ends.

    The echo arrives in reads of ``cut`` bytes; ``corrupt_at`` flips one byte of it.
    """
    result: list[BenchRun] = []

    async def scenario() -> None:
        plan = BenchPlan(**{**PLAN.__dict__, "text": text, "sizes": sizes, "rate": rate})
        run = BenchRun(plan)
        conn = BenchConnection(run, 7)
        transport = FakeTransport()
        conn.transport, conn.state, conn.number = transport, OPEN, number
        stamps = None if rate is None else [10**18 + i for i in range(16)]
        conn.send(16, stamps)
        result.append(run)
        frames = list(FrameParser().feed(bytes(transport.data)))
        assert len(frames) == 16
        echo = b""
        for i, frame in enumerate(frames):
            assert frame.opcode == (1 if text else 2) and frame.mask_key == run.mask_key
            header = decode_header(frame.data, text=text)
            assert header is not None
            assert header[1] == sequence_number(7, (number + i) & 0xFFFFFFFF)
            assert (
                frame.data[header_size(text) :]
                == filler(len(frame.data), text=text)[header_size(text) :]
            )
            echo += encode_frame(frame.opcode, frame.data)
        if corrupt_at is not None:
            echo = echo[:corrupt_at] + bytes([echo[corrupt_at] ^ 1]) + echo[corrupt_at + 1 :]
        # The echo arrives in uneven reads, as TCP may cut it.
        run.recording, run.sending = True, False  # the last batch: nothing more goes out
        for start in range(0, len(echo), cut):
            chunk = echo[start : start + cut]
            run.read_view[: len(chunk)] = chunk
            conn.buffer_updated(len(chunk))
        if corrupt_at is not None:
            assert conn.failed and run.stats.errors == {"verification": 1}
            return
        assert not conn.failed and conn.fast
        assert run.stats.received == 16 and conn.outstanding == 0
        assert run.stats.latency.count() == 16

    asyncio.run(scenario())
    return result[0]


class TestFastPath:
    """The batches a connection writes are real frames; their echoes verify byte for byte."""

    def test_binary(self) -> None:
        """Closed loop, binary, one size."""
        _loop_back(False, SizeMix(((32, 1),)))

    def test_text_number_wraps(self) -> None:
        """Text, across the 2**32 wrap of the message number."""
        _loop_back(True, SizeMix(((100, 1),)), number=(1 << 32) - 5)

    def test_open_loop_stamps(self) -> None:
        """Open loop: each message carries its own intended time."""
        _loop_back(True, SizeMix(((40, 1),)), rate=100.0)
        _loop_back(False, SizeMix(((40, 1),)), rate=100.0)

    def test_mix(self) -> None:
        """A size mix, one entry per message."""
        _loop_back(False, SizeMix(((16, 1), (300, 1), (70000, 1))))

    def test_large_frames(self) -> None:
        """64 KiB frames are checked piece by piece against the one filler, in any cut."""
        for cut in (1000, 65536, 300_000):
            _loop_back(False, SizeMix(((65536, 1),)), cut=cut)
        _loop_back(True, SizeMix(((5000, 1),)), rate=50.0, cut=4099)

    def test_large_frames_corrupted(self) -> None:
        """One flipped byte in a large echo (head, header or filler) fails the connection."""
        frame = 65536 + 4
        for where in (1, 4 + 3, frame * 3 + 4 + 16 + 999, frame * 15 + 100):
            _loop_back(False, SizeMix(((65536, 1),)), cut=30_000, corrupt_at=where)

    def test_small_frame_corrupted(self) -> None:
        """The same for the stream compare of small frames."""
        _loop_back(True, SizeMix(((64, 1),)), corrupt_at=5 * 66 + 40)


def test_progress_line() -> None:
    """The live line: elapsed, rate, open connections, counts, errors."""
    from wstool.ui.benchview import BenchProgress

    console = Console(file=io.StringIO(), width=120, color_system=None)
    snapshot = {"elapsed": 3.25, "sent": 1000, "received": 990, "open": 5, "errors": 2}
    text = BenchProgress(console).line(snapshot, 1234.4).plain
    for words in ("3.2 s", "1,234 msg/s", "5 open", "sent 1,000", "received 990", "2 errors"):
        assert words in text


def test_subscribe_counts_exactly_the_messages_asked_for() -> None:
    """--messages N in subscribe mode: the Nth message stops the run, and copies of a
    broadcast that other listeners read in the same turn are not counted past N."""

    async def scenario() -> tuple[int, bool]:
        plan = BenchPlan(**{**PLAN.__dict__, "mode": "subscribe", "messages": 2})
        run = BenchRun(plan)
        stopped = []
        run.stop = lambda: stopped.append(True)  # type: ignore[method-assign]
        listeners = [BenchConnection(run, index) for index in range(3)]
        for conn in listeners:
            conn.transport, conn.state = FakeTransport(), OPEN
        message = encode_frame(0x1, b"x" * 40)
        for conn in listeners:  # one broadcast read by each, then another
            run.read_view[: len(message) * 2] = message * 2
            conn.buffer_updated(len(message) * 2)
        return run.stats.received, bool(stopped)

    received, stopped = asyncio.run(scenario())
    assert received == 2 and stopped
