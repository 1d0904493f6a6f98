"""The live traffic view: what ``serve`` and ``connect`` print as frames go by.

:class:`TrafficLog` is the frame observer both commands report to. Lines are
built as :data:`~wstool.ui.render.Parts`; on a console without colour (a
file, a pipe) they are written as plain text without going through rich's
renderer, so that logging every frame does not limit throughput.

How much it shows is a :class:`Detail`. A reader that goes away (``| head``)
ends the output quietly: the log stops writing and calls its
``on_broken_pipe`` hook, which decides what happens to the program.
"""

from __future__ import annotations

import errno
import time
from collections.abc import Callable, Sequence
from enum import Enum
from typing import IO, Any

from rich.console import Console
from rich.text import Text

from wstool.core.events import (
    ConnectionClosed,
    ConnectionFailed,
    Event,
    FrameReceived,
    FrameSent,
    MessageReceived,
    MessageSent,
)
from wstool.core.frames import Opcode, close_code_name
from wstool.ui.render import (
    Parts,
    close_parts,
    frame_header_parts,
    frame_record,
    payload_view,
    violation_record,
)
from wstool.ui.render import count as count_of
from wstool.ui.sanitize import json_line, terminal_safe

__all__ = ["Detail", "TrafficLog", "preview_parts"]


class Detail(Enum):
    """How much a :class:`TrafficLog` shows.

    Connects, failures, rejections and closes are shown at every level. The
    values are the numbers ``serve`` has always passed (0, 1, 2) plus
    :attr:`MESSAGES`; they are names, not an order: compare with ``is``.
    """

    CLOSES = 0
    """Connects, failures and closes only (``serve -q``)."""
    FRAMES = 1
    """Also every frame on one line, handshake heads and messages of several
    frames or compressed (the default)."""
    BITS = 2
    """Also every header bit, the mask key and whole payloads (``-v``)."""
    MESSAGES = 3
    """Connects, closes and every message both ways on one line; no frames
    and no handshake heads (``connect -q``, the REPL's ``/quiet``)."""


def _is_broken_pipe(exc: OSError) -> bool:
    """Whether ``exc`` says the reader of our output went away."""
    return isinstance(exc, BrokenPipeError) or exc.errno == errno.EPIPE


def _text_head(data: bytes, size: int) -> str | None:
    """The first ``size`` bytes of ``data`` as UTF-8, or None if they are not text.

    A character cut by the ``size`` boundary is dropped, not held against the text.
    """
    head = data[:size]
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if len(head) < len(data) and exc.reason == "unexpected end of data":
            return head[: exc.start].decode("utf-8")
        return None


def preview_parts(data: bytes, opcode: int, limit: int) -> Parts:
    """A one-line payload preview: text, close details or the first bytes in hex."""
    if not data:
        return []
    if opcode == Opcode.CLOSE:
        return close_parts(data)
    if opcode in (Opcode.TEXT, Opcode.PING, Opcode.PONG):
        text = _text_head(data, limit * 4)
        if text is not None:
            more = " …" if len(text) > limit or len(data) > limit * 4 else ""
            return [(terminal_safe(text[:limit]), "ws.text"), (more, "ws.note")]
    count = min(len(data), max(limit // 3, 8))
    more = f" … {count_of(len(data) - count, 'more byte')}" if len(data) > count else ""
    return [(data[:count].hex(" "), "ws.hex"), (more, "ws.note")]


def _head_lines(raw: bytes, marker: str, style: str) -> list[Parts]:
    return [
        [(marker, style), (terminal_safe(line), "")]
        for line in raw.decode("latin-1").split("\r\n")
        if line
    ]


class TrafficLog:
    """Prints what a live server or client sees: handshakes, frames, closes.

    It is the frame observer that ``serve`` and ``connect`` report to. Lines
    are built as :data:`Parts`; on a console without colour (a file, a pipe)
    they are written as plain text without going through rich's renderer,
    so that logging every frame does not limit throughput.

    Args:
        console: where lines go. A rich console's ``on_broken_pipe`` should
            raise :class:`BrokenPipeError` (rich's own exits the process).
        level: how much to show, a :class:`Detail` or its value; it can be
            changed later (the REPL's ``/quiet``, ``/normal``, ``/verbose``).
        json_out: print NDJSON records here instead of lines.
        preview: characters of payload on a one-line frame view.
        show_ids: start lines with the connection number (a server has many).
        client: we are the client: the request head is ours (``>``) and the
            response the peer's (``<``); a server sees them the other way.
        clock: seconds, for Ping round trips and timestamps; ``None`` for
            no timestamps (Ping round trips then use ``time.monotonic``).
        flush_soon: if given, output is flushed through it (it calls its
            argument soon, once the current batch of work is done) instead of
            after every report: a server logging thousands of connects a
            second then makes one write per batch, not one per line.
        on_broken_pipe: called once when the output's reader has gone
            (EPIPE); the log writes nothing more after it.
    """

    def __init__(
        self,
        console: Console,
        *,
        level: Detail | int = Detail.FRAMES,
        json_out: IO[str] | None = None,
        preview: int = 120,
        show_ids: bool = True,
        clock: Callable[[], float] | None = None,
        client: bool = False,
        flush_soon: Callable[[Callable[[], None]], object] | None = None,
        on_broken_pipe: Callable[[], None] | None = None,
    ) -> None:
        self.client = client
        self._flush_soon = flush_soon
        self._flush_pending = False
        self.console = console
        self.show_ids = show_ids
        self.clock = clock
        self._pings: dict[tuple[int, bytes], float] = {}
        self.json_out = json_out
        self.preview = preview
        self.on_broken_pipe = on_broken_pipe
        self.gone = False
        """The output's reader went away: nothing more is written."""
        self.level = level
        self._plain = console.color_system is None and not console.is_terminal
        # Connections whose incoming message in progress is compressed: its
        # continuation frames carry deflate data, not text.
        self._compressed: set[int] = set()

    @property
    def level(self) -> Detail:
        """How much is shown; setting it takes a :class:`Detail` or its value."""
        return self._level

    @level.setter
    def level(self, level: Detail | int) -> None:
        level = Detail(level)
        self._level = level
        self._frames = level is Detail.FRAMES or level is Detail.BITS
        self._bits = level is Detail.BITS
        self._every_message = level is Detail.MESSAGES
        # A connection reports messages only while it records frames, and
        # decides that once, when it opens: every level but CLOSES wants
        # them, so that the REPL can move between levels afterwards.
        self.wants_frames = level is not Detail.CLOSES

    # -- output ---------------------------------------------------------------

    def _line(self, parts: Parts) -> None:
        if self.gone:
            return
        try:
            if self._plain:
                self.console.file.write("".join([text for text, _ in parts]) + "\n")
            else:
                self.console.print(Text.assemble(*parts))
        except OSError as exc:
            self._write_failed(exc)

    def _print(self, renderable: Any) -> None:
        if self.gone:
            return
        try:
            self.console.print(renderable)
        except OSError as exc:
            self._write_failed(exc)

    def _emit(self, record: dict[str, Any]) -> None:
        assert self.json_out is not None
        if self.gone:
            return
        try:
            self.json_out.write(json_line(record))
        except OSError as exc:
            self._write_failed(exc)

    def _write_failed(self, exc: OSError) -> None:
        """Stop for good when the reader went away; other errors are real."""
        if not _is_broken_pipe(exc):
            raise exc
        self.gone = True
        if self.on_broken_pipe is not None:
            self.on_broken_pipe()

    def _flush(self) -> None:
        if self._flush_soon is None:
            self.flush()
        elif not self._flush_pending:
            self._flush_pending = True
            self._flush_soon(self.flush)

    def flush(self) -> None:
        """Write out what is buffered."""
        self._flush_pending = False
        if self.gone:
            return
        try:
            (self.json_out or self.console.file).flush()
        except OSError as exc:
            self._write_failed(exc)

    # -- the observer -----------------------------------------------------------

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        """A connection was upgraded."""
        if self.json_out is not None:
            self._emit(
                {
                    "event": "open",
                    "conn": conn_id,
                    "peer": peer,
                    "request": request.decode("latin-1"),
                    "response": response.decode("latin-1"),
                }
            )
        else:
            first = request.split(b"\r\n", 1)[0].decode("latin-1")
            self._line(
                [
                    *self._prefix(conn_id),
                    (f"{peer} connected: ", "ws.ok"),
                    (terminal_safe(first), ""),
                ]
            )
            if self._frames:
                sent, got = (("  > ", "ws.out"), ("  < ", "ws.in"))
                ours, theirs = (sent, got) if self.client else (got, sent)
                for parts in _head_lines(request, *ours):
                    self._line(parts)
                for parts in _head_lines(response, *theirs):
                    self._line(parts)
        self._flush()

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        """Frames, messages and closes on a connection."""
        for event in events:
            kind = type(event)
            if kind is FrameReceived or kind is FrameSent:
                if self._frames:
                    self._frame(conn_id, event, kind is FrameReceived)  # type: ignore[arg-type]
            elif kind is MessageReceived or kind is MessageSent:
                self._message(conn_id, event)  # type: ignore[arg-type]
            elif kind is ConnectionFailed:
                self._failed(conn_id, event)  # type: ignore[arg-type]
            elif kind is ConnectionClosed:
                self._closed(conn_id, event)  # type: ignore[arg-type]
        self._flush()

    def _frame(self, conn_id: int, event: FrameReceived | FrameSent, incoming: bool) -> None:
        frame, data = event.frame, event.data
        if self.json_out is not None:
            direction = "in" if incoming else "out"
            record = frame_record(frame, data)
            self._emit({"event": "frame", "conn": conn_id, "direction": direction, **record})
            return
        arrow = ("< ", "ws.in") if incoming else ("> ", "ws.out")
        parts = [*self._prefix(conn_id), arrow]
        parts += frame_header_parts(frame, verbose=self._bits)
        rtt = self._round_trip(conn_id, frame.opcode, data, incoming)
        if rtt is not None:
            parts.append((f" rtt {rtt * 1000:.2f} ms", "ws.ok"))
        opcode = frame.opcode
        if incoming and (opcode == Opcode.TEXT or opcode == Opcode.BINARY):
            if frame.rsv1:
                self._compressed.add(conn_id)
            else:
                self._compressed.discard(conn_id)
        compressed = frame.rsv1 or (
            incoming and opcode == Opcode.CONTINUATION and conn_id in self._compressed
        )
        if self._bits:
            if compressed:
                parts.append((f"  ({count_of(len(data), 'compressed byte')})", "ws.note"))
            self._line(parts)
            view = None if compressed else payload_view(data, frame.opcode, limit=None)
            if view is not None:
                self._print(view)
            return
        if compressed:
            parts.append((f"  ({count_of(len(data), 'compressed byte')})", "ws.note"))
        else:
            parts.append(("  ", ""))
            parts += preview_parts(data, opcode, self.preview)
        self._line(parts)

    def _prefix(self, conn_id: int) -> Parts:
        parts: Parts = []
        if self.clock is not None:
            now = self.clock()  # once: two readings could straddle a second
            stamp = time.strftime("%H:%M:%S", time.localtime(now))
            parts.append((f"{stamp}.{int(now * 1000) % 1000:03d} ", "ws.dim"))
        if self.show_ids:
            parts.append((f"#{conn_id} ", "ws.offset"))
        return parts

    def _round_trip(self, conn_id: int, opcode: int, data: bytes, incoming: bool) -> float | None:
        """Time since our Ping with this payload, for its Pong."""
        # Only Pings and Pongs read the clock: this runs for every frame logged.
        if opcode == Opcode.PING and not incoming:
            if len(self._pings) < 1024:
                self._pings[(conn_id, data)] = (self.clock or time.monotonic)()
        elif opcode == Opcode.PONG and incoming:
            sent = self._pings.pop((conn_id, data), None)
            if sent is not None:
                return (self.clock or time.monotonic)() - sent
        return None

    def _message(self, conn_id: int, event: MessageReceived | MessageSent) -> None:
        # One frame uncompressed: its frame line already said it all.
        if not self._every_message and (
            not self._frames or (event.frames == 1 and not event.compressed)
        ):
            return
        incoming = isinstance(event, MessageReceived)
        text = event.text if isinstance(event, MessageReceived) else None
        if text is None and event.opcode == Opcode.TEXT:
            text = event.data.decode("utf-8", "replace")
        if self.json_out is not None:
            self._emit(
                {
                    "event": "message",
                    "conn": conn_id,
                    "direction": "in" if incoming else "out",
                    "opcode": event.opcode,
                    "frames": event.frames,
                    "compressed": event.compressed,
                    "size": len(event.data),
                    "wire_size": event.wire_size,
                    **({"text": text} if text is not None else {}),
                }
            )
            return
        parts = [
            *self._prefix(conn_id),
            ("< ", "ws.in") if incoming else ("> ", "ws.out"),
            ("message ", "ws.note"),
            ("TEXT" if event.opcode == Opcode.TEXT else "BINARY", "ws.opcode"),
            (f" {len(event.data)} bytes", "ws.length"),
        ]
        if event.frames > 1:
            parts.append((f" in {event.frames} frames", "ws.dim"))
        if event.compressed:
            how = "inflated from" if incoming else "deflated to"
            parts.append((f", {how} {event.wire_size}", "ws.dim"))
        parts.append(("  ", ""))
        parts += preview_parts(event.data, event.opcode, self.preview)
        self._line(parts)

    def _failed(self, conn_id: int, event: ConnectionFailed) -> None:
        violation = event.violation
        if self.json_out is not None:
            self._emit({"event": "failed", "conn": conn_id, **violation_record(violation)})
            return
        self._line(
            [
                *self._prefix(conn_id),
                ("✗ ", "ws.violation"),
                (violation.rule, "ws.violation"),
                (f": {violation.message} ", ""),
                (f"({violation.section}; close {violation.close_code})", "ws.dim"),
            ]
        )

    def _closed(self, conn_id: int, event: ConnectionClosed) -> None:
        initiator = event.initiator.value if event.initiator is not None else None
        if self.json_out is not None:
            self._emit(
                {
                    "event": "close",
                    "conn": conn_id,
                    "code": event.code,
                    "code_name": close_code_name(event.code),
                    "reason": event.reason,
                    "initiator": initiator,
                    "clean": event.clean,
                }
            )
            return
        parts = [
            *self._prefix(conn_id),
            (f"close {event.code} {close_code_name(event.code)}", "ws.close"),
        ]
        if event.reason:
            parts.append((f" '{terminal_safe(event.reason)}'", "ws.text"))
        who = f"started by the {initiator}" if initiator else "no Close frame"
        parts.append((f" ({who}, {'clean' if event.clean else 'not clean'})", "ws.dim"))
        self._line(parts)

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        """The TCP connection is gone."""
        if self.json_out is not None:
            self._emit({"event": "disconnect", "conn": conn_id, "peer": peer, "cause": cause})
        else:
            self._line([*self._prefix(conn_id), (f"{peer} disconnected: {cause}", "ws.dim")])
        self._flush()

    def note(
        self, conn_id: int, text: str, record: dict[str, Any], *, per_message: bool = False
    ) -> None:
        """A line about a connection from outside the protocol (serve --exec's program).

        Args:
            conn_id: the connection.
            text: the line on a terminal (made terminal-safe here).
            record: the NDJSON record (its ``conn`` is added).
            per_message: a line about one message (a mock rule that matched):
                left out under ``-q``, like the messages themselves.
        """
        if self.json_out is not None:
            self._emit({**record, "conn": conn_id})
        elif per_message and not self._frames:
            return
        else:
            self._line([*self._prefix(conn_id), (terminal_safe(text), "ws.dim")])
        self._flush()

    def rejected(self, peer: str, request: bytes, status: int, reason: str) -> None:
        """A request was refused with an HTTP error."""
        if self.json_out is not None:
            self._emit(
                {
                    "event": "rejected",
                    "peer": peer,
                    "status": status,
                    "reason": reason,
                    "request": request.decode("latin-1"),
                }
            )
        else:
            self._line(
                [(f"{peer} refused: ", "ws.violation"), (f"{status} {terminal_safe(reason)}", "")]
            )
            if self._frames:
                for parts in _head_lines(request, "  < ", "ws.in"):
                    self._line(parts)
        self._flush()
