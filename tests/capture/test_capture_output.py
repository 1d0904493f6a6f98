"""Tests of :mod:`wstool.ui.captures` on decoded captures: timestamps, event lines, the table."""

from __future__ import annotations

import pytest

from capture.captures import capture, decode, frame, framed_conversation
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


def test_grouped_output_spills_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    """Two connections' events, kept aside in a temporary file in small pieces, come out after
    the table, each connection's in capture order, the same text as streamed."""
    import io

    from rich.console import Console

    from capture.captures import ip_packets, pcap_file
    from wstool.ui import captures

    monkeypatch.setattr(captures._Sections, "HELD", 100)
    monkeypatch.setattr(captures._Sections, "BUDGET", 300)
    first = ip_packets(framed_conversation(), ("127.0.0.1", 50001))
    second = ip_packets(framed_conversation(), ("127.0.0.1", 50002))
    mixed = [p for pair in zip(first, second, strict=True) for p in pair]
    events, decoder, _ = decode(pcap_file([frame("raw", p) for p in mixed], 101))

    def output(grouped: bool) -> str:
        out = io.StringIO()
        console = Console(file=out, color_system=None, force_terminal=False)
        clock = Clock("relative")
        clock.start = START
        printer = captures.CapturePrinter(console, out, clock, 1024, grouped=grouped)
        for event in events:
            printer.event(event)
        printer.summary(decoder.connections, "")
        return out.getvalue()

    def section(number: int) -> str:
        clock = Clock("relative")
        clock.start = START
        own = [e for e in events if e.connection is not None and e.connection.id == number]
        return "".join(event_text(event, clock, 1024) for event in own)

    grouped = output(True)
    assert grouped.startswith("2 connections:\n")
    one = grouped.index("\n#1 127.0.0.1:50001 → 127.0.0.1:8765 /chat\n")
    two = grouped.index("\n#2 127.0.0.1:50002 → 127.0.0.1:8765 /chat\n")
    assert grouped[one:two].split("\n", 2)[2] == section(1)
    assert grouped[two:].split("\n", 2)[2] == section(2)
    assert section(1).count("\n") > 20  # spilled in many small pieces
    streamed = output(False)
    assert streamed.index(" #2 ") < streamed.index("2 connections:")  # the table last
