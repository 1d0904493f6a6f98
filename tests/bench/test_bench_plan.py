"""wstool.bench.plan: the timestamp header, size mixes, the split over workers, the schedule."""

from __future__ import annotations

import argparse
import itertools
import random
import time

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstool.bench import plan as plan_module
from wstool.bench.plan import (
    BenchPlan,
    OpenLoopSchedule,
    SizeMix,
    decode_header,
    encode_header,
    filler,
    header_size,
    parse_size_mix,
    sequence_number,
    split_plan,
)
from wstool.cli.options import size

NS = st.integers(min_value=0, max_value=(1 << 64) - 1)


def _plan(**overrides: object) -> BenchPlan:
    base = BenchPlan(url="ws://h/", host="h", port=80, resource="/", host_header="h")
    return BenchPlan(**{**base.__dict__, **overrides})  # type: ignore[arg-type]


class TestHeader:
    """The 16-byte header other tools (the fan-out benchmark) rely on, byte for byte."""

    def test_binary_layout(self) -> None:
        """8 bytes big-endian time_ns, then 8 bytes big-endian connection << 32 | number."""
        header = encode_header(0x0102030405060708, sequence_number(3, 9), text=False)
        assert header == bytes.fromhex("01020304050607080000000300000009")

    def test_text_layout(self) -> None:
        """In text messages the same 16 bytes are 32 lowercase hex digits."""
        header = encode_header(0xABCDEF, sequence_number(1, 2), text=True)
        assert header == b"0000000000abcdef0000000100000002"
        assert header_size(True) == 32 and header_size(False) == 16

    @given(NS, st.integers(0, (1 << 32) - 1), st.integers(0, (1 << 32) - 1), st.booleans())
    def test_round_trip(self, ns: int, conn: int, number: int, text: bool) -> None:
        """decode_header reads back what encode_header wrote, behind any filler."""
        seq = sequence_number(conn, number)
        payload = encode_header(ns, seq, text=text) + filler(40, text=text)
        assert decode_header(payload, text=text) == (ns, seq)
        assert seq >> 32 == conn and seq & 0xFFFFFFFF == number

    def test_no_header(self) -> None:
        """Short payloads, and text that is not 32 hex digits, have no header."""
        assert decode_header(b"short", text=False) is None
        assert decode_header(b"hello, this is not a bench message", text=True) is None
        assert decode_header(b"0000000000ABCDEF0000000100000002", text=True) is None

    def test_now(self) -> None:
        """A header stamped now decodes to a time within a second of now."""
        stamp = time.time_ns()
        decoded = decode_header(encode_header(stamp, 0, text=True), text=True)
        assert decoded is not None and abs(decoded[0] - time.time_ns()) < 10**9

    def test_filler_is_stable(self) -> None:
        """The filler is the same every run (runs compare), letters for text."""
        assert filler(100, text=False) == filler(100, text=False)
        assert filler(50, text=True).isalnum()

    @pytest.mark.parametrize("size", [4096, 4097, 10_000, 12_291])
    def test_filler_in_chunks(self, monkeypatch: pytest.MonkeyPatch, size: int) -> None:
        """Filler past one randbytes() call (2**31 bits: 256 MiB and more) is made
        in chunks, and is the same bytes one call makes."""
        whole = random.Random(14).randbytes(size)
        monkeypatch.setattr(plan_module, "_FILLER_CHUNK", 1024)
        assert filler(size, text=False) == whole

    def test_filler_of_256_mib(self) -> None:
        """--size 256MiB + 1 is more bits than randbytes() takes at once."""
        data = filler((1 << 28) + 1, text=False)
        assert len(data) == (1 << 28) + 1 and data[-4096:] != bytes(4096)


class TestSizeMix:
    """--size: one size, a list with equal shares, or sizes with weights."""

    def test_one(self) -> None:
        """A single size, with the units --max-message-size knows."""
        assert parse_size_mix("64KiB", size).entries == ((65536, 1),)

    def test_weights(self) -> None:
        """size:weight; the cycle holds each size as often as its weight (reduced)."""
        mix = parse_size_mix("32:8,1KiB:2,64KiB:2", size)
        assert mix.entries == ((32, 8), (1024, 2), (65536, 2))
        cycle = mix.cycle()
        assert sorted(cycle) == [32] * 4 + [1024, 65536]
        assert mix.cycle() == cycle  # the same order every time

    def test_mean(self) -> None:
        """The mean size follows the weights."""
        assert SizeMix(((10, 1), (30, 3))).mean() == 25

    @pytest.mark.parametrize("text", ["", "32,,64", "32:0", "32:x", "12parsecs"])
    def test_bad(self, text: str) -> None:
        """Each mistake is one error naming it."""
        with pytest.raises((ValueError, argparse.ArgumentTypeError)):
            parse_size_mix(text, size)


class TestSplit:
    """--workers: connections, rate and messages shared out, indexes unique."""

    @given(st.integers(1, 5000), st.integers(1, 16), st.integers(1, 10**6))
    def test_shares_add_up(self, connections: int, workers: int, messages: int) -> None:
        """The shares add up to the whole; connection indexes do not overlap."""
        plan = _plan(connections=connections, messages=messages, rate=1000.0)
        shares = split_plan(plan, workers)
        assert len(shares) == min(workers, connections)
        assert sum(s.connections for s in shares) == connections
        assert sum(s.messages or 0 for s in shares) == messages
        assert sum(s.rate or 0 for s in shares) == pytest.approx(1000.0)
        firsts = [s.first_connection for s in shares]
        assert firsts == sorted(firsts) and firsts[0] == 0
        assert [s.worker for s in shares] == list(range(len(shares)))
        for a, b in itertools.pairwise(shares):
            assert a.first_connection + a.connections == b.first_connection


class TestOpenLoopSchedule:
    """Message k is due at start + k / rate; due() counts the messages due by a time."""

    def test_a_thousand_a_second(self) -> None:
        """At 1,000 msg/s: one due at the start, 1,001 one second later."""
        schedule = OpenLoopSchedule(1000.0, start_ns=10**9)
        assert schedule.due(10**9 - 1) == 0
        assert schedule.due(10**9) == 1
        assert schedule.due(2 * 10**9) == 1001
        assert schedule.intended(500) == 10**9 + 500 * 10**6

    @given(st.floats(0.1, 1e7), st.integers(0, 10**12), st.integers(0, 10**11))
    def test_due_is_exact(self, rate: float, start: int, after: int) -> None:
        """Every message counted as due is due; the next one is not yet."""
        schedule = OpenLoopSchedule(rate, start)
        now = start + after
        due = schedule.due(now)
        assert due >= 1
        assert schedule.intended(due - 1) <= now < schedule.intended(due)

    def test_rate_must_be_positive(self) -> None:
        """A rate of 0 is refused."""
        with pytest.raises(ValueError):
            OpenLoopSchedule(0.0, 0)


def test_help_documents_the_header() -> None:
    """wstool bench --help states the header format that publishers and subscribers share."""
    import io

    from wstool.cli import main

    out = io.StringIO()
    assert main(["bench", "--help"], stdout=out, stderr=io.StringIO()) == 0
    text = out.getvalue()
    for words in ("16-byte header", "time.time_ns()", "connection index << 32", "32 lowercase hex"):
        assert words in text


@pytest.mark.parametrize(
    ("largest", "share"), [(32, 4096), (16_384, 16), (65_536, 4), (1 << 20, 1), (1 << 30, 1)]
)
def test_open_loop_share(largest: int, share: int) -> None:
    """The open loop hands a connection up to 256 KiB of messages per turn: one at
    least, 4,096 at most."""
    from wstool.bench.driver import _open_loop_share

    assert _open_loop_share(largest) == share
