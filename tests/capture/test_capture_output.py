"""Tests of :mod:`wstool.ui.captures` on decoded captures: timestamps, event lines, the table."""

from __future__ import annotations

from capture.captures import capture, decode, framed_conversation
from wstool.ui.captures import Clock, event_records, event_text, summary_text

SECOND = 1_000_000_000
START = 1_700_000_000 * SECOND


class TestClock:
    def test_relative(self) -> None:
        clock = Clock("relative")
        assert [clock(START), clock(START + SECOND // 4), clock(START + SECOND)] == [
            "0.000000",
            "0.250000",
            "1.000000",
        ]

    def test_delta(self) -> None:
        clock = Clock("delta")
        assert [clock(START), clock(START + 5_000), clock(START + 2 * SECOND)] == [
            "0.000000",
            "0.000005",
            "1.999995",
        ]

    def test_absolute_is_utc(self) -> None:
        assert Clock("absolute")(START + 123_456_789) == "22:13:20.123456"


class TestOutput:
    def test_events_and_table(self) -> None:
        """Each block led by time, connection and direction; one row per connection."""
        events, decoder, _ = decode(capture(framed_conversation()))
        clock = Clock("relative")
        clock.start = START
        text = "".join(event_text(event, clock, 1024) for event in events)
        lines = text.splitlines()
        assert lines[0] == "0.003000 #1 c→s @0x0000 HTTP request: GET /chat HTTP/1.1"
        assert (
            "0.005000 #1 c→s @0x009d TEXT         FIN rsv=000 mask=37fa213d len=5 (7-bit)" in lines
        )
        assert "  Hello" in lines
        table = summary_text(decoder.connections, clock).splitlines()
        assert table[0].split()[:4] == ["id", "client", "server", "path"]
        assert table[1].split()[:4] == ["#1", "127.0.0.1:50000", "127.0.0.1:8765", "/chat"]

    def test_records(self) -> None:
        """NDJSON keeps decode's fields and adds connection, direction and time."""
        events, _, _ = decode(capture(framed_conversation()))
        records = [r for e in events for r in event_records(e)]
        frame = next(r for r in records if r["type"] == "frame")
        assert (frame["connection"], frame["direction"], frame["sender"]) == (
            1,
            "client_to_server",
            "client",
        )
        assert frame["time"] == 1_700_000_000.005
        assert frame["source"] == "127.0.0.1:50000"
