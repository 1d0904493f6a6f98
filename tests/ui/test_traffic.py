"""Tests of :mod:`wstool.ui.traffic`: the live view of serve and connect.

Events come from real :class:`~wstool.core.connection.Connection` pairs
pumping bytes to each other, with a pinned mask key, so every line below is
what a user sees for that exchange on the wire. Lines are read from a rich
console writing into a string at a fixed width; without colour the log writes
plain text itself, with colour it goes through rich, and both are checked.
"""

from __future__ import annotations

import errno
import io
import json
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from rich.console import Console

from wstool.core.connection import Connection
from wstool.core.events import Event
from wstool.core.frames import Role
from wstool.ui.render import THEME
from wstool.ui.traffic import Detail, TrafficLog, preview_parts

MASK = b"\x37\xfa\x21\x3d"  # RFC 6455 §5.7's example key
REQUEST = b"GET /chat HTTP/1.1\r\nHost: example.org\r\nUpgrade: websocket\r\n\r\n"
RESPONSE = b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\n"


def plain_console(width: int = 100) -> Console:
    """A console without colour writing into a string: the log's plain path."""
    return Console(file=io.StringIO(), width=width, color_system=None)


def shown(log: TrafficLog) -> list[str]:
    """The lines the log wrote to its console."""
    file = log.console.file
    assert isinstance(file, io.StringIO)
    return file.getvalue().splitlines()


class Pair:
    """A client and a server connection that pump bytes to each other."""

    def __init__(self) -> None:
        self.client = Connection(Role.CLIENT, mask_source=lambda size: MASK)
        self.server = Connection(Role.SERVER)

    def to_server(self) -> list[Event]:
        """Deliver what the client queued; the server's events."""
        self.server.receive_data(self.client.data_to_send())
        return self.server.events()

    def to_client(self) -> list[Event]:
        """Deliver what the server queued; the client's events."""
        self.client.receive_data(self.server.data_to_send())
        return self.client.events()


@pytest.fixture
def utc() -> Iterator[None]:
    """Timestamps in UTC, so a fixed clock prints a fixed time of day."""
    mp = pytest.MonkeyPatch()
    mp.setenv("TZ", "UTC")
    time.tzset()
    yield
    mp.undo()
    time.tzset()


def ticking(*readings: float) -> Callable[[], float]:
    """A clock that returns ``readings`` in turn, then fails the test."""
    values = iter(readings)
    return lambda: next(values)


class TestFrames:
    """One line per frame at the default level: direction, opcode, bits, preview."""

    def test_a_masked_text_frame_out(self) -> None:
        """Our frame: '>' , FIN, the mask key, the length and the text."""
        pair = Pair()
        log = TrafficLog(plain_console(), show_ids=False, client=True)
        pair.client.send_text("Hello")
        log.events(1, pair.client.events())
        assert shown(log) == ["> TEXT         FIN mask=37fa213d len=5  Hello"]

    def test_an_unmasked_text_frame_in_with_the_connection_number(self) -> None:
        """A server's log starts each line with the connection number; '<' is the peer's."""
        pair = Pair()
        log = TrafficLog(plain_console())
        pair.server.send_text("Hello")
        log.events(7, pair.to_client())
        assert shown(log) == ["#7 < TEXT         FIN len=5  Hello"]

    def test_binary_previews_the_first_bytes_in_hex(self) -> None:
        """Binary payloads show their first bytes and how many more there are."""
        pair = Pair()
        log = TrafficLog(plain_console(), show_ids=False, preview=30)
        pair.server.send_binary(bytes(range(20)))
        log.events(1, pair.to_client())
        assert shown(log) == [
            "< BINARY       FIN len=20  00 01 02 03 04 05 06 07 08 09 … 10 more bytes"
        ]

    def test_a_fragmented_message_shows_its_frames_and_then_the_message(self) -> None:
        """Each fragment on its line; the message they make follows, whole."""
        pair = Pair()
        log = TrafficLog(plain_console(), show_ids=False)
        pair.client.send_fragments(1, [b"Hel", b"lo"])
        log.events(1, pair.to_server())
        assert shown(log) == [
            "< TEXT         --- mask=37fa213d len=3  Hel",
            "< CONTINUATION FIN mask=37fa213d len=2  6c 6f",
            "< message TEXT 5 bytes in 2 frames  Hello",
        ]

    def test_verbose_shows_every_header_bit_and_the_whole_payload(self) -> None:
        """BITS: RSV bits, the length encoding, then the payload under the header."""
        pair = Pair()
        log = TrafficLog(plain_console(), level=Detail.BITS, show_ids=False)
        pair.server.send_binary(bytes(range(18)))
        log.events(1, pair.to_client())
        assert shown(log) == [
            "< BINARY       FIN rsv=000 unmasked len=18 (7-bit)",
            "  0000  00 01 02 03 04 05 06 07  08 09 0a 0b 0c 0d 0e 0f  |................|",
            "  0010  10 11                                             |..|",
        ]

    def test_the_colour_path_prints_the_same_text(self) -> None:
        """Through rich's renderer (a terminal) the words are those of the plain path."""
        pair = Pair()
        console = Console(file=io.StringIO(), width=100, color_system=None, force_terminal=True)
        log = TrafficLog(console, show_ids=False, client=True)
        pair.client.send_text("Hello")
        log.events(1, pair.client.events())
        assert shown(log) == ["> TEXT         FIN mask=37fa213d len=5  Hello"]


class TestPings:
    """A Pong that answers our Ping shows the round trip."""

    def test_the_pong_to_our_ping_shows_the_round_trip(self, utc: None) -> None:
        """rtt is the clock's time from our Ping to its Pong, in milliseconds."""
        pair = Pair()
        # One reading per timestamp, one at the Ping and one at the Pong.
        clock = ticking(3600.0, 3600.0, 3600.25, 3600.25)
        log = TrafficLog(plain_console(), show_ids=False, client=True, clock=clock)
        pair.client.send_ping(b"t1")
        log.events(1, pair.client.events())
        pair.to_server()  # the server answers the Ping with a Pong
        log.events(1, pair.to_client())
        assert shown(log) == [
            "01:00:00.000 > PING         FIN mask=37fa213d len=2  t1",
            "01:00:00.250 < PONG         FIN len=2 rtt 250.00 ms  t1",
        ]

    def test_an_unsolicited_pong_has_no_round_trip(self) -> None:
        """A Pong whose payload matches no Ping of ours is just a frame."""
        pair = Pair()
        log = TrafficLog(plain_console(), show_ids=False, client=True)
        pair.server.send_pong(b"t1")
        log.events(1, pair.to_client())
        assert shown(log) == ["< PONG         FIN len=2  t1"]


class TestCloses:
    """The closing handshake: who started it, whether it was clean."""

    def test_a_clean_close_we_started(self) -> None:
        """RFC 6455 §7.1.2: our Close, the peer's echo, then the connection's end."""
        pair = Pair()
        log = TrafficLog(plain_console(), level=Detail.CLOSES, show_ids=False, client=True)
        pair.client.send_close(4000, "see you")
        pair.to_server()
        log.events(1, pair.to_client())
        assert shown(log) == ["close 4000 PRIVATE 'see you' (started by the client, clean)"]

    def test_no_close_frame(self) -> None:
        """The TCP connection ending without a Close is 1006, not clean (§7.1.5)."""
        pair = Pair()
        log = TrafficLog(plain_console(), show_ids=False, client=True)
        pair.client.receive_eof()
        log.events(1, pair.client.events())
        log.closed(1, "127.0.0.1:9", "connection lost")
        assert shown(log) == [
            "close 1006 ABNORMAL_CLOSURE (no Close frame, not clean)",
            "127.0.0.1:9 disconnected: connection lost",
        ]


class TestViolations:
    """A peer that breaks a rule: the rule, the section and the close code we sent."""

    def test_an_unmasked_client_frame(self) -> None:
        """RFC 6455 §5.1: a server MUST close on an unmasked client frame (1002)."""
        server = Connection(Role.SERVER)
        log = TrafficLog(plain_console())
        server.receive_data(b"\x81\x02hi")
        log.events(2, server.events())
        assert shown(log) == [
            "#2 < TEXT         FIN len=2  hi",
            "#2 ✗ mask-required: a client frame is not masked (RFC 6455 §5.1; close 1002)",
            "#2 > CLOSE        FIN len=30  1002 PROTOCOL_ERROR reason 'a client frame is not "
            "masked'",
            "#2 close 1002 PROTOCOL_ERROR 'a client frame is not masked' "
            "(started by the server, not clean)",
        ]


class TestHandshakes:
    """Connects and refusals, with the heads at the frame level."""

    def test_a_server_sees_the_request_as_the_peers(self) -> None:
        """'<' for the request a server received, '>' for its 101."""
        log = TrafficLog(plain_console())
        log.opened(1, "127.0.0.1:5000", REQUEST, RESPONSE)
        assert shown(log) == [
            "#1 127.0.0.1:5000 connected: GET /chat HTTP/1.1",
            "  < GET /chat HTTP/1.1",
            "  < Host: example.org",
            "  < Upgrade: websocket",
            "  > HTTP/1.1 101 Switching Protocols",
            "  > Upgrade: websocket",
        ]

    def test_a_client_sees_the_request_as_its_own(self) -> None:
        """connect wrote the request ('>') and reads the 101 ('<')."""
        log = TrafficLog(plain_console(), show_ids=False, client=True)
        log.opened(1, "ws://example.org/chat", REQUEST, RESPONSE)
        assert shown(log)[1:] == [
            "  > GET /chat HTTP/1.1",
            "  > Host: example.org",
            "  > Upgrade: websocket",
            "  < HTTP/1.1 101 Switching Protocols",
            "  < Upgrade: websocket",
        ]

    def test_a_refused_request(self) -> None:
        """A refusal names the status and the reason, then the request it refused."""
        log = TrafficLog(plain_console())
        log.rejected("127.0.0.1:5001", b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n", 426, "no Upgrade")
        assert shown(log) == [
            "127.0.0.1:5001 refused: 426 no Upgrade",
            "  < GET /x HTTP/1.1",
            "  < Host: a",
        ]


class TestHostilePeerText:
    """Every string from the wire reaches the terminal with its controls escaped."""

    CLEAR = "\x1b[2J"
    TITLE = "\x1b]0;owned\x07"

    def events(self) -> list[Event]:
        pair = Pair()
        pair.server.send_text(f"hi {self.CLEAR}")
        events = pair.to_client()
        pair.server.send_close(4000, f"bye {self.TITLE}")
        events += pair.to_client()
        pair.to_server()  # the client's reply completes the closing handshake
        return events + pair.client.events()

    def test_plain(self) -> None:
        """Text frames, close reasons, request lines and refusal reasons, all escaped."""
        log = TrafficLog(plain_console(200), show_ids=False, client=True)
        log.opened(1, "ws://x/", b"GET /\x1b[2J HTTP/1.1\r\n\r\n", RESPONSE)
        log.events(1, self.events())
        log.rejected("peer", b"GET / HTTP/1.1\r\nX: \x1b[31m\r\n\r\n", 400, f"bad {self.CLEAR}")
        text = "\n".join(shown(log))
        assert "\x1b" not in text and "\x07" not in text
        assert "connected: GET /\\x1b[2J HTTP/1.1" in text
        assert "< TEXT         FIN len=7  hi \\x1b[2J" in text
        assert "close 4000 PRIVATE 'bye \\x1b]0;owned\\x07' (started by the server" in text
        assert "  < X: \\x1b[31m" in text
        assert "peer refused: 400 bad \\x1b[2J" in text

    def test_through_rich_with_colour(self) -> None:
        """With colour, rich's own escapes appear, the peer's never do."""
        console = Console(
            file=io.StringIO(),
            width=200,
            color_system="truecolor",
            force_terminal=True,
            theme=THEME,
        )
        log = TrafficLog(console, show_ids=False, client=True)
        log.events(1, self.events())
        text = "\n".join(shown(log))
        assert "\x1b[" in text  # our styles
        assert self.CLEAR not in text and "\x1b]" not in text and "\x07" not in text
        assert "hi \\x1b[2J" in text

    def test_json(self) -> None:
        """NDJSON keeps the text but writes its controls as JSON escapes."""
        out = io.StringIO()
        log = TrafficLog(plain_console(), json_out=out, client=True)
        log.events(1, self.events())
        assert "\x1b" not in out.getvalue()
        close = [json.loads(line) for line in out.getvalue().splitlines()][-1]
        assert close["reason"] == f"bye {self.TITLE}"

    def test_preview_of_text_with_controls(self) -> None:
        """The preview itself escapes: ESC, DEL and C1 controls become \\x.. ."""
        parts = preview_parts("a\x1b\x7f\x9bb".encode(), 1, 40)
        assert "".join(text for text, _ in parts) == "a\\x1b\\x7f\\x9bb"


class TestJson:
    """--json: one NDJSON record per event, nothing on the console."""

    def records(self, out: io.StringIO) -> list[dict[str, Any]]:
        lines = out.getvalue().splitlines()
        assert out.getvalue().endswith("\n")
        return [json.loads(line) for line in lines]

    def test_a_session(self) -> None:
        """open, frames both ways with their bits, a failure, the close, the disconnect."""
        out = io.StringIO()
        log = TrafficLog(plain_console(), json_out=out)
        server = Connection(Role.SERVER)
        log.opened(3, "127.0.0.1:5000", REQUEST, RESPONSE)
        server.receive_data(
            b"\x81\x85" + MASK + bytes(b ^ MASK[i % 4] for i, b in enumerate(b"Hello"))
        )
        server.receive_data(b"\x81\x02hi")  # unmasked: the server fails the connection
        log.events(3, server.events())
        log.closed(3, "127.0.0.1:5000", "closed")
        records = self.records(out)
        assert [r["event"] for r in records] == [
            "open",
            "frame",
            "frame",
            "failed",
            "frame",
            "close",
            "disconnect",
        ]
        opened, hello = records[0], records[1]
        assert opened["request"] == REQUEST.decode() and opened["conn"] == 3
        assert hello["direction"] == "in" and hello["text"] == "Hello"
        assert hello["mask_key"] == MASK.hex() and hello["fin"] is True
        assert records[3]["rule"] == "mask-required" and records[3]["close_code"] == 1002
        assert records[4]["direction"] == "out" and records[4]["close_code"] == 1002
        assert records[5] == {
            "event": "close",
            "conn": 3,
            "code": 1002,
            "code_name": "PROTOCOL_ERROR",
            "reason": "a client frame is not masked",
            "initiator": "server",
            "clean": False,
        }
        assert shown(log) == []

    def test_a_rejection(self) -> None:
        """A refusal is one record with the status, the reason and the request."""
        out = io.StringIO()
        log = TrafficLog(plain_console(), json_out=out)
        log.rejected("127.0.0.1:5001", b"GET /x HTTP/1.1\r\n\r\n", 400, "not a WebSocket request")
        assert self.records(out) == [
            {
                "event": "rejected",
                "peer": "127.0.0.1:5001",
                "status": 400,
                "reason": "not a WebSocket request",
                "request": "GET /x HTTP/1.1\r\n\r\n",
            }
        ]

    def test_messages_level_writes_messages_not_frames(self) -> None:
        """At MESSAGES, every message is a record and no frame is."""
        out = io.StringIO()
        pair = Pair()
        log = TrafficLog(plain_console(), level=Detail.MESSAGES, json_out=out, client=True)
        pair.client.send_text("Hello")
        log.events(1, pair.client.events())
        assert self.records(out) == [
            {
                "event": "message",
                "conn": 1,
                "direction": "out",
                "opcode": 1,
                "frames": 1,
                "compressed": False,
                "size": 5,
                "wire_size": 5,
                "text": "Hello",
            }
        ]


def exchange(log: TrafficLog) -> list[str]:
    """A connect session: open, a message each way, a Ping, a close; what the log showed."""
    pair = Pair()
    log.opened(1, "ws://example.org/chat", REQUEST, RESPONSE)
    pair.client.send_text("Hello")
    pair.client.send_ping(b"p")
    log.events(1, pair.client.events())
    pair.to_server()
    pair.server.send_text("Hi")
    log.events(1, pair.to_client())
    pair.client.send_close(1000, "")
    log.events(1, pair.client.events())
    pair.to_server()
    log.events(1, pair.to_client())
    return shown(log)


class TestLevels:
    """What each Detail shows of the same session."""

    def log(self, level: Detail | int) -> TrafficLog:
        return TrafficLog(plain_console(), level=level, show_ids=False, client=True)

    def test_closes(self) -> None:
        """serve -q: connects and closes only."""
        assert exchange(self.log(Detail.CLOSES)) == [
            "ws://example.org/chat connected: GET /chat HTTP/1.1",
            "close 1000 NORMAL_CLOSURE (started by the client, clean)",
        ]

    def test_messages(self) -> None:
        """connect -q: messages both ways and the close; no frames, no heads, no Pings."""
        assert exchange(self.log(Detail.MESSAGES)) == [
            "ws://example.org/chat connected: GET /chat HTTP/1.1",
            "> message TEXT 5 bytes  Hello",
            "< message TEXT 2 bytes  Hi",
            "close 1000 NORMAL_CLOSURE (started by the client, clean)",
        ]

    def test_frames(self) -> None:
        """The default: heads and one line per frame; single-frame messages are their frame."""
        lines = exchange(self.log(Detail.FRAMES))
        assert lines[5:] == [
            "  < Upgrade: websocket",
            "> TEXT         FIN mask=37fa213d len=5  Hello",
            "> PING         FIN mask=37fa213d len=1  p",
            lines[8],  # the Pong, with its measured round trip
            "< TEXT         FIN len=2  Hi",
            "> CLOSE        FIN mask=37fa213d len=2  1000 NORMAL_CLOSURE",
            "< CLOSE        FIN len=2  1000 NORMAL_CLOSURE",
            "close 1000 NORMAL_CLOSURE (started by the client, clean)",
        ]
        assert lines[8].startswith("< PONG         FIN len=1 rtt ")
        assert "message" not in "\n".join(lines)

    def test_bits_is_frames_with_more(self) -> None:
        """-v: the same frames, every header bit spelled out."""
        lines = exchange(self.log(Detail.BITS))
        assert "> TEXT         FIN rsv=000 mask=37fa213d len=5 (7-bit)" in lines
        assert "  Hello" in lines

    @pytest.mark.parametrize(
        ("value", "level"), [(0, Detail.CLOSES), (1, Detail.FRAMES), (2, Detail.BITS)]
    )
    def test_serves_numbers_still_mean_what_they_did(self, value: int, level: Detail) -> None:
        """serve passes 0, 1 or 2; they name the levels they always named."""
        assert self.log(value).level is level

    @pytest.mark.parametrize("level", list(Detail))
    def test_frames_are_wanted_unless_only_closes_are_shown(self, level: Detail) -> None:
        """The connection must record frames for messages too, and for a later /normal."""
        assert self.log(level).wants_frames is (level is not Detail.CLOSES)

    def test_the_level_can_change_mid_session(self) -> None:
        """connect -q, then /normal: frames come back on the same log."""
        pair = Pair()
        log = self.log(Detail.MESSAGES)
        pair.client.send_text("one")
        log.events(1, pair.client.events())
        log.level = Detail.FRAMES
        pair.client.send_text("two")
        log.events(1, pair.client.events())
        log.level = Detail.MESSAGES
        pair.client.send_text("three")
        log.events(1, pair.client.events())
        assert shown(log) == [
            "> message TEXT 3 bytes  one",
            "> TEXT         FIN mask=37fa213d len=3  two",
            "> message TEXT 5 bytes  three",
        ]

    def test_an_unknown_level_is_refused(self) -> None:
        """A level that names nothing is a programming error, caught at once."""
        with pytest.raises(ValueError):
            self.log(7)


class BrokenStream(io.StringIO):
    """A stream whose reader has gone: every write (or flush) raises EPIPE."""

    def __init__(self, *, on: str = "write", error: OSError | None = None) -> None:
        super().__init__()
        self.on = on
        self.error = error or BrokenPipeError(errno.EPIPE, "Broken pipe")
        self.attempts = 0

    def write(self, text: str) -> int:
        if self.on == "write":
            self.attempts += 1
            raise self.error
        return super().write(text)

    def flush(self) -> None:
        if self.on == "flush":
            self.attempts += 1
            raise self.error


class TestBrokenPipe:
    """A reader that goes away (``| head -1``) ends the output quietly, once."""

    def hooked(self, **kwargs: Any) -> tuple[TrafficLog, list[str]]:
        calls: list[str] = []
        kwargs.setdefault("console", plain_console())
        log = TrafficLog(show_ids=False, on_broken_pipe=lambda: calls.append("gone"), **kwargs)
        return log, calls

    def session(self, log: TrafficLog) -> None:
        pair = Pair()
        log.opened(1, "peer", REQUEST, RESPONSE)
        for _ in range(3):
            pair.server.send_text("Hello")
            log.events(1, pair.to_client())
        log.closed(1, "peer", "closed")
        log.flush()

    def test_json_output(self) -> None:
        """The first failed write calls the hook; nothing is tried after it."""
        out = BrokenStream()
        log, calls = self.hooked(json_out=out)
        self.session(log)
        assert calls == ["gone"] and log.gone
        assert out.attempts == 1

    def test_plain_lines(self) -> None:
        """The plain path (a pipe without colour) stops the same way."""
        out = BrokenStream()
        log, calls = self.hooked(console=Console(file=out, color_system=None))
        self.session(log)
        assert calls == ["gone"] and out.attempts == 1

    def test_the_flush(self) -> None:
        """Buffered writes succeed and the flush finds the pipe closed."""
        out = BrokenStream(on="flush")
        log, calls = self.hooked(json_out=out)
        self.session(log)
        assert calls == ["gone"] and out.attempts == 1
        assert out.getvalue().count("\n") == 1  # written before the flush failed

    def test_an_oserror_with_epipe(self) -> None:
        """An OSError carrying EPIPE is a closed pipe too."""
        out = BrokenStream(error=OSError(errno.EPIPE, "Broken pipe"))
        log, calls = self.hooked(json_out=out)
        self.session(log)
        assert calls == ["gone"]

    def test_a_rich_console_that_reports_it(self) -> None:
        """Through rich: a console whose on_broken_pipe raises BrokenPipeError."""

        class Reporting(Console):
            def on_broken_pipe(self) -> None:
                self.quiet = True
                raise BrokenPipeError

        out = BrokenStream()
        console = Reporting(file=out, color_system="standard", force_terminal=True)
        log, calls = self.hooked(console=console, level=Detail.BITS)
        self.session(log)
        assert calls == ["gone"] and out.attempts == 1

    def test_without_a_hook_it_just_stops(self) -> None:
        """No hook: the log goes quiet and raises nothing."""
        out = BrokenStream()
        log = TrafficLog(plain_console(), json_out=out)
        self.session(log)
        assert log.gone and out.attempts == 1

    def test_other_errors_are_not_swallowed(self) -> None:
        """A full disk is not a reader going away: it is raised."""
        out = BrokenStream(error=OSError(errno.ENOSPC, "No space left on device"))
        log, calls = self.hooked(json_out=out)
        with pytest.raises(OSError, match="No space"):
            self.session(log)
        assert calls == [] and not log.gone


class TestFlushing:
    """flush_soon batches: one flush per batch of reports, not one per line."""

    def test_one_flush_per_batch(self) -> None:
        """Reports schedule a single flush until it has run."""
        flushes: list[int] = []

        class Counting(io.StringIO):
            def flush(self) -> None:
                flushes.append(1)

        scheduled: list[Callable[[], None]] = []
        log = TrafficLog(Console(file=Counting(), color_system=None), flush_soon=scheduled.append)
        pair = Pair()
        for _ in range(5):
            pair.server.send_text("Hello")
            log.events(1, pair.to_client())
        assert len(scheduled) == 1 and flushes == []
        scheduled.pop()()
        assert flushes == [1]
        log.closed(1, "peer", "closed")
        assert len(scheduled) == 1


class TestNotes:
    """Lines from outside the protocol: a program's stderr, a fault, a mock rule."""

    @pytest.mark.parametrize(
        ("level", "expected"),
        [
            (Detail.CLOSES, ["#3 fault: dropping TCP"]),
            (Detail.FRAMES, ["#3 fault: dropping TCP", "#3 rule: rules[0] matched"]),
        ],
    )
    def test_a_per_message_note_goes_with_the_messages_under_quiet(
        self, level: Detail, expected: list[str]
    ) -> None:
        log = TrafficLog(plain_console(), level=level)
        log.note(3, "fault: dropping TCP", {"event": "fault"})
        log.note(3, "rule: rules[0] matched", {"event": "rule"}, per_message=True)
        assert shown(log) == expected
