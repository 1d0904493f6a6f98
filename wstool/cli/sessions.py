"""Session files in decode and export: a recording shown as the live view showed it.

``wstool decode SESSION`` and ``wstool export SESSION --text`` replay a session's
records, in the order they were recorded, into the traffic log that ``serve``
and ``connect`` print while they run (:class:`wstool.ui.traffic.TrafficLog`):
the connection number, the time each record was made, ``<`` for what came in and
``>`` for what went out (as the recording end saw it), handshake heads,
frames, messages of several frames or compressed, closes and disconnects. Each
direction is also judged as decode judges a dump (:mod:`wstool.core.inspect`):
a rule a frame breaks is shown under it, and makes the exit status 1.
"""

from __future__ import annotations

import argparse
import base64
from collections.abc import Iterator
from typing import IO, Any

from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus

__all__ = ["decode_session", "read_session_file", "transcript"]


def read_session_file(
    raw: bytes,
    name: str,
    *,
    check_frames: bool = True,
    order: list[tuple[int, dict[str, Any]]] | None = None,
) -> Any:
    """The session in ``raw``, or one clear line (exit status 2) if it is malformed."""
    from wstool.session.format import SessionError, read_session

    try:
        return read_session(raw.splitlines(keepends=True), check_frames=check_frames, order=order)
    except SessionError as exc:
        raise CommandError(f"{name}: {exc}", ExitStatus.USAGE) from None


def decode_session(raw: bytes, args: argparse.Namespace, env: Environment) -> int:
    """Show a session as the live view did; with --json, its records as they are in the file.

    Returns 0 when clean, 1 when a frame breaks a rule.
    """
    from wstool.ui.console import make_console

    name = "the input" if args.file == "-" else args.file
    order: list[tuple[int, dict[str, Any]]] = []
    session = read_session_file(raw, name, order=order)
    if args.json:
        env.stdout.write(raw.decode("utf-8", "replace"))  # checked above, passed on as is
        return ExitStatus.OK
    console = make_console(args.color, env.stdout, no_color_env=env.no_color)
    found = _show(session, order, console, everything=args.full)
    return ExitStatus.ERROR if found else ExitStatus.OK


def transcript(session: Any, out: IO[str], order: list[tuple[int, dict[str, Any]]]) -> None:
    """The view ``decode`` shows, without colour: ``export --text``."""
    from wstool.ui.console import make_console

    _show(session, order, make_console("never", out, no_color_env=True), everything=False)


def _show(
    session: Any, order: list[tuple[int, dict[str, Any]]], console: Any, *, everything: bool
) -> int:
    """Every record through the live view; returns how many rules the frames break."""
    from rich.text import Text

    from wstool.ui.traffic import Detail

    view = _SessionView(session, console, Detail.BITS if everything else Detail.FRAMES)
    for note in view.notes():
        console.print(Text(f"note: {note}", "ws.note"))
    for number, record in order:
        view.record(number, record)
    view.log.flush()
    frames = sum(len(conn.frames) for conn in session.connections.values())
    summary = Text(f"{frames} frame{'s' * (frames != 1)}, ")
    if view.found:
        summary.append(f"{view.found} violation{'s' * (view.found != 1)}", "ws.violation")
    else:
        summary.append("no violations", "ws.ok")
    console.print(summary)
    return view.found


class _SessionView:
    """Turns a session's records back into the events the live view was given."""

    def __init__(self, session: Any, console: Any, level: Any) -> None:
        from wstool.core.frames import Role
        from wstool.ui.traffic import TrafficLog

        self.session = session
        self.now = 0.0
        # The end wstool was while recording; a proxy's and an import's, as their client.
        roles = {str(c.open.get("role")) for c in session.connections.values()}
        self.us = Role.SERVER if roles == {"server"} else Role.CLIENT
        self.seen_by = "server" if roles == {"server"} else "client" if roles == {"client"} else ""
        self.log = TrafficLog(
            console, level=level, clock=lambda: self.now, client=self.us is Role.CLIENT
        )
        self.events = {e.line: e for c in session.connections.values() for e in c.frames}
        self.violations = dict(_judged(session))
        self.found = sum(len(v) for v in self.violations.values())
        self._wire_size: dict[tuple[int, Role], int] = {}
        self._shown: set[tuple[int, str]] = set()  # rules shown, per connection

    def notes(self) -> Iterator[str]:
        header = self.session.header
        count = len(self.session.connections)
        yield (
            f"a session recorded by wstool {header.get('wstool')} {header.get('command')}"
            f" at {header.get('started')}: {count} connection{'s' * (count != 1)}"
        )
        if self.seen_by:
            yield f"as the {self.seen_by} saw it: > what it sent, < what it received"
        else:  # a proxy's: wstool was neither end
            yield "> what the client sent, < what the server sent"
        yield from self.session.notes

    def record(self, number: int, record: dict[str, Any]) -> None:
        """Show one record (after the header) as the live view showed it."""
        from wstool.session.format import epoch_time

        time = epoch_time(record.get("time"))
        if time is not None:
            self.now = time
        conn, kind = record["conn"], record["type"]
        if kind == "frame":
            self._frame(conn, self.events[number])
        elif kind == "open":
            head = self.session.connections[conn]
            self.log.opened(conn, str(record.get("peer")), head.request, head.response)
        elif kind == "close":
            self._close(conn, record)
        elif kind == "disconnect":
            peer = str(self.session.connections[conn].open.get("peer"))
            self.log.closed(conn, peer, str(record.get("cause", "")))

    def _frame(self, conn: int, event: Any) -> None:
        from wstool.core.events import ConnectionFailed, FrameReceived, FrameSent

        frame = event.frame
        incoming = event.sender is not self.us
        events: list[Any] = [(FrameReceived if incoming else FrameSent)(frame, frame.data)]
        key = (conn, event.sender)
        if frame.opcode in (0, 1, 2):
            self._wire_size[key] = self._wire_size.get(key, 0) + len(frame.payload)
        if event.message is not None:
            events.append(_message(event.message, self._wire_size.pop(key, 0), incoming))
        for violation in self.violations.get(event.line, ()):
            self._shown.add((conn, violation.rule))
            events.append(ConnectionFailed(violation))
        self.log.events(conn, events)

    def _close(self, conn: int, record: dict[str, Any]) -> None:
        from wstool.core.events import ConnectionClosed
        from wstool.core.frames import Role

        if record.get("failed") is not None:
            # wstool failed the connection: shown above if the frame is in the recording.
            rule = str(record["failed"])
            if (conn, rule) not in self._shown:
                self._shown.add((conn, rule))
                self.log.events(conn, [_failed(record)])
            return
        initiator = record.get("initiator")
        code = record.get("code")
        self.log.events(
            conn,
            [
                ConnectionClosed(
                    code if isinstance(code, int) else 1005,
                    str(record.get("reason") or ""),
                    Role(initiator) if initiator in ("client", "server") else None,
                    bool(record.get("clean")),
                    record.get("sent_code"),
                )
            ],
        )


def _message(record: dict[str, Any], wire_size: int, incoming: bool) -> Any:
    """The MessageReceived or MessageSent a frame's message record stands for."""
    from wstool.core.events import MessageReceived, MessageSent

    text = record.get("text")
    opcode = record.get("opcode", 2)
    opcode = opcode if opcode in (1, 2) else 2
    data = text.encode("utf-8") if isinstance(text, str) else _base64(record.get("base64"))
    counted = record.get("frames")
    frames = counted if isinstance(counted, int) else 1
    compressed = bool(record.get("compressed"))
    if incoming:
        shown = text if isinstance(text, str) and opcode == 1 else None
        return MessageReceived(opcode, data, shown, frames, wire_size, compressed)
    return MessageSent(opcode, data, frames, wire_size, compressed)


def _base64(value: Any) -> bytes:
    try:
        return base64.b64decode(value or "", validate=True)
    except (TypeError, ValueError):
        return b""  # the frames themselves are shown; the message is only a summary


def _failed(record: dict[str, Any]) -> Any:
    """The ConnectionFailed that a close record with ``failed`` stands for."""
    from wstool.core.events import ConnectionFailed
    from wstool.core.frames import Violation

    code = record.get("code")
    return ConnectionFailed(
        Violation(
            str(record["failed"]),
            str(record.get("reason") or ""),
            "as recorded",
            code if isinstance(code, int) else 1002,
            0,
        )
    )


def _judged(session: Any) -> Iterator[tuple[int, list[Any]]]:
    """(line, rules broken) for each frame that breaks one, each direction judged whole."""
    from wstool.core.frames import Role
    from wstool.core.inspect import (
        FrameReport,
        HandshakeReport,
        SequenceViolation,
        inspect_stream,
        negotiated_deflate,
    )

    for conn in session.connections.values():
        deflate = negotiated_deflate(HandshakeReport("response", conn.response))
        for sender in (Role.CLIENT, Role.SERVER):
            events = [e for e in conn.frames if e.sender is sender]
            report = inspect_stream(conn.wire(sender), sender=sender, deflate=deflate)
            index = -1
            found: dict[int, list[Any]] = {}
            for item in report.items:
                if isinstance(item, FrameReport):
                    index += 1
                    if item.violations:
                        found.setdefault(index, []).extend(item.violations)
                elif isinstance(item, SequenceViolation) and 0 <= index < len(events):
                    found.setdefault(index, []).append(item.violation)
            for at, rules in found.items():
                if at < len(events):
                    yield events[at].line, rules
