"""Tests of :mod:`wstool.ui.pipe`: what the pipe writes, and when it closes."""

from __future__ import annotations

import io
from collections.abc import Callable

from wstool.core.events import MessageReceived, PongReceived
from wstool.ui.pipe import ClosePolicy, MessageSink


def text(data: str) -> MessageReceived:
    raw = data.encode()
    return MessageReceived(1, raw, data, 1, len(raw), False)


def binary(data: bytes) -> MessageReceived:
    return MessageReceived(2, data, None, 1, len(data), False)


class FakeSession:
    """Records what the pipe sends; open until closed."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, object]] = []
        self.closes: list[tuple[int | None, str]] = []

    @property
    def is_open(self) -> bool:
        return not self.closes

    def send_text(self, data: str) -> None:
        self.sent.append(("text", data))

    def send_binary(self, data: bytes) -> None:
        self.sent.append(("binary", data))

    def close(self, code: int | None = 1000, reason: str = "") -> None:
        self.closes.append((code, reason))


class Later:
    """A call_later that keeps the calls, run by hand: no clock, no sleeping."""

    def __init__(self) -> None:
        self.calls: list[tuple[float, Callable[[], None]]] = []

    def __call__(self, delay: float, f: Callable[[], None]) -> None:
        self.calls.append((delay, f))

    def run(self) -> list[float]:
        calls, self.calls = self.calls, []
        for _, f in calls:
            f()
        return [delay for delay, _ in calls]


def policy(
    count: int | None = None, wait: float | None = None
) -> tuple[ClosePolicy, FakeSession, Later, list[str]]:
    session, later, warnings = FakeSession(), Later(), []
    return (
        ClosePolicy(session, count=count, wait=wait, call_later=later, warn=warnings.append),
        session,
        later,
        warnings,
    )


class TestMessageSink:
    """Received messages, one per line, on a binary stream."""

    def test_text_and_binary_lines(self) -> None:
        """Text as it is, binary as hex; frames and pongs are not messages."""
        out = io.BytesIO()
        sink = MessageSink(out)
        sink.events(1, [text("héllo"), PongReceived(b"x"), binary(b"\x00\xff")])
        assert out.getvalue() == "héllo\n00ff\n".encode()
        assert sink.received == 2

    def test_raw_binary(self) -> None:
        """--raw: binary messages as their bytes, with no newline added."""
        out = io.BytesIO()
        MessageSink(out, raw_binary=True).events(1, [binary(b"\x00\n\xff")])
        assert out.getvalue() == b"\x00\n\xff"

    def test_limit_cuts_inside_one_batch(self) -> None:
        """--count 1: three replies arriving in one read print one line."""
        out = io.BytesIO()
        counts: list[int] = []
        sink = MessageSink(out, limit=1, on_message=counts.append)
        sink.events(1, [text("a"), text("b"), text("c")])
        sink.events(1, [text("d")])
        assert out.getvalue() == b"a\n"
        assert counts == [1]

    def test_broken_pipe_is_reported_once(self) -> None:
        """A reader that went away: the hook runs once, nothing is raised."""

        class Gone(io.BytesIO):
            def write(self, data: bytes) -> int:  # type: ignore[override]
                raise BrokenPipeError(32, "Broken pipe")

        gone: list[bool] = []
        sink = MessageSink(Gone(), on_broken_pipe=lambda: gone.append(True))
        sink.events(1, [text("a")])
        sink.events(1, [text("b")])
        assert gone == [True]
        assert sink.broken


class TestClosePolicy:
    """When the pipe closes: answered, counted, or waited."""

    def test_lines_are_text_and_non_utf8_binary(self) -> None:
        """A line that is not UTF-8 goes as binary, with one warning."""
        pipe, session, _, warnings = policy()
        pipe.send_line(b"hi")
        pipe.send_line(b"\xff")
        assert session.sent == [("text", "hi"), ("binary", b"\xff")]
        assert warnings == ["a line that is not UTF-8 was sent as a binary message"]

    def test_closes_once_every_line_is_answered(self) -> None:
        """After end of input, the close waits for one answer per line sent."""
        pipe, session, later, _ = policy()
        pipe.send_line(b"a")
        pipe.send_line(b"b")
        pipe.end_of_input()
        pipe.message_received(1)
        later.run()
        assert session.closes == []
        pipe.message_received(2)
        assert later.run() == [0]
        assert session.closes == [(1000, "")]

    def test_no_close_before_end_of_input(self) -> None:
        """Answers to every line so far do not close while input may still come."""
        pipe, session, later, _ = policy()
        pipe.send_line(b"a")
        pipe.message_received(1)
        later.run()
        assert session.closes == []

    def test_count_closes_even_with_input_open(self) -> None:
        """--count N closes at the Nth message, input ended or not."""
        pipe, session, later, _ = policy(count=2)
        pipe.send_line(b"a")
        pipe.message_received(1)
        later.run()
        pipe.message_received(2)
        later.run()
        assert session.closes == [(1000, "")]

    def test_wait_after_end_of_input(self) -> None:
        """--wait S: the close comes S seconds after end of input, not at the answer."""
        pipe, session, later, _ = policy(wait=2.5)
        pipe.send_line(b"a")
        pipe.end_of_input()
        pipe.message_received(1)
        assert [delay for delay, _ in later.calls] == [2.5]
        later.run()
        assert session.closes == [(1000, "")]

    def test_close_once_and_nothing_sent_after(self) -> None:
        """Two reasons to close make one Close; lines after it are dropped."""
        pipe, session, later, _ = policy(count=1)
        pipe.end_of_input()
        pipe.message_received(1)
        pipe.message_received(1)
        later.run()
        pipe.send_line(b"late")
        assert session.closes == [(1000, "")]
        assert session.sent == []
