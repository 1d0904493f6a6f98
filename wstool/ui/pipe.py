"""Pipe mode of ``wstool connect``: lines in, messages out, and when to close.

:class:`MessageSink` is a frame observer: text messages are written as they
are, binary ones as hex (or raw bytes), each followed by a newline. With
``--json`` it hands everything to a :class:`~wstool.ui.traffic.TrafficLog`
writing NDJSON instead. Diagnostics go elsewhere (stderr), never here.

:class:`ClosePolicy` sends stdin's lines and decides when the pipe closes
the connection: after ``--count`` messages, once every line sent has had its
answer after end of input, or ``--wait`` seconds after end of input.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Sequence
from typing import IO, Protocol

from wstool.core.errors import UsageError
from wstool.core.events import Event, MessageReceived
from wstool.ui.traffic import TrafficLog

__all__ = ["ClosePolicy", "MessageSink", "PipeSession"]


class MessageSink:
    """Writes each received message to ``out``; counts them.

    Args:
        out: a binary stream (stdout's buffer).
        raw_binary: write binary messages as they are instead of as hex.
        json_log: when given, every event goes to it (NDJSON) instead.
        diagnostics: a log for frames and closes on stderr (``-v``), if any.
        on_message: called after each message with the count so far.
        limit: write no more than this many messages (``--count``).
        on_broken_pipe: called once when ``out``'s reader has gone away.
    """

    def __init__(
        self,
        out: IO[bytes],
        *,
        raw_binary: bool = False,
        json_log: TrafficLog | None = None,
        diagnostics: TrafficLog | None = None,
        on_message: Callable[[int], None] | None = None,
        limit: int | None = None,
        on_broken_pipe: Callable[[], None] | None = None,
    ) -> None:
        self.out = out
        self.raw_binary = raw_binary
        self.json_log = json_log
        self.diagnostics = diagnostics
        self.on_message = on_message
        self.limit = limit
        self.on_broken_pipe = on_broken_pipe
        self.received = 0
        self.broken = False
        self.wants_frames = bool(
            (json_log and json_log.wants_frames) or (diagnostics and diagnostics.wants_frames)
        )

    def _logs(self) -> list[TrafficLog]:
        return [log for log in (self.json_log, self.diagnostics) if log is not None]

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        """The handshake is done."""
        for log in self._logs():
            log.opened(conn_id, peer, request, response)

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        """Write each message (up to the limit); pass everything on to the logs."""
        if self.limit is not None and self.received >= self.limit:
            return  # --count reached: what follows is not ours to show
        for log in self._logs():
            log.events(conn_id, events)
        # One write per batch: an unbuffered stdout makes a system call per write.
        batch: list[bytes] = []
        for event in events:
            if type(event) is not MessageReceived:
                continue
            assert isinstance(event, MessageReceived)
            if self.limit is not None and self.received >= self.limit:
                break
            self.received += 1
            if self.json_log is None:
                batch += self._lines(event)
            if self.on_message is not None:
                self.on_message(self.received)
        if batch:
            self._write(b"".join(batch))

    def _lines(self, event: MessageReceived) -> list[bytes]:
        if event.text is not None:
            return [event.data, b"\n"]
        if self.raw_binary:
            return [event.data]
        return [event.data.hex().encode("ascii"), b"\n"]

    def _write(self, data: bytes) -> None:
        if self.broken:
            return
        try:
            self.out.write(data)
            self.out.flush()
        except BrokenPipeError:
            self.broken = True
            if self.on_broken_pipe is not None:
                self.on_broken_pipe()

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        """The connection is gone."""
        for log in self._logs():
            log.closed(conn_id, peer, cause)


class PipeSession(Protocol):
    """What the pipe needs of a live connection."""

    @property
    def is_open(self) -> bool:
        """Whether messages can still be sent."""

    def send_text(self, text: str) -> None: ...
    def send_binary(self, data: bytes) -> None: ...
    def close(self, code: int | None = 1000, reason: str = "") -> None: ...


class ClosePolicy:
    """Sends the pipe's lines and closes with 1000 when the pipe is done.

    The pipe is done after ``count`` received messages, or ``wait`` seconds
    after input has ended; with neither, as soon as input has ended and the
    server has answered every line sent (one message per line).

    Args:
        session: the connection.
        count: close after this many received messages (``--count``).
        wait: seconds to wait after end of input (``--wait``).
        call_later: ``call_later(seconds, f)`` runs ``f`` later (the reactor's).
        warn: writes one diagnostic line (to stderr).
    """

    def __init__(
        self,
        session: PipeSession,
        *,
        count: int | None,
        wait: float | None,
        call_later: Callable[[float, Callable[[], None]], object],
        warn: Callable[[str], None],
    ) -> None:
        self.session = session
        self.count = count
        self.wait = wait
        self.call_later = call_later
        self.warn = warn
        self.sent = 0
        self.received = 0
        self.input_ended = False
        self.closing = False

    def send_line(self, line: bytes) -> None:
        """Send one line of input as a text message (binary if it is not UTF-8)."""
        if self.closing or not self.session.is_open:
            return
        try:
            self.session.send_text(line.decode("utf-8"))
        except UnicodeDecodeError:
            self.session.send_binary(line)
            self.warn("a line that is not UTF-8 was sent as a binary message")
        self.sent += 1

    def end_of_input(self) -> None:
        """stdin (or the -x list) has ended."""
        self.input_ended = True
        if self.wait is not None:
            self.call_later(self.wait, self.close_now)
        else:
            self.message_received(self.received)

    def message_received(self, received: int) -> None:
        """``received`` messages so far: close if the pipe is done."""
        self.received = received
        if self.count is not None:
            done = received >= self.count
        else:
            done = self.input_ended and self.wait is None and received >= self.sent
        if done:
            self.call_later(0, self.close_now)

    def close_now(self) -> None:
        """Start the closing handshake (once)."""
        if self.closing:
            return
        self.closing = True
        if self.session.is_open:
            with contextlib.suppress(UsageError):  # closing already
                self.session.close(1000, "")
