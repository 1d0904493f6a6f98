"""The session file: one JSON object a line, every frame of one or more connections.

The format is documented in ``docs/session-format.md`` and its JSON Schema in
``docs/session.schema.json``. Line 1 is the header; then, per connection, an
``open`` record (both handshake heads as on the wire), one ``frame`` record per
frame in the order it was read or written, ``close`` when the closing handshake
ends or fails, and ``disconnect`` when the TCP connection is gone.

A frame record keeps every bit: the header bytes as on the wire (``head``, hex),
the payload as on the wire (``wire``, base64, still masked and compressed), and
the fields read from them for people and ``jq``. The frame that completes a
message carries the message (``message``: its text, or base64 for binary,
inflated where permessage-deflate was on).

Standard library only: ``decode`` reads sessions and must start fast.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from wstool.core.events import MessageReceived, MessageSent
from wstool.core.frames import Role, WireFrame, frame_at, wire_header

__all__ = [
    "FORMAT",
    "VERSION",
    "Connection",
    "FrameEvent",
    "Session",
    "SessionError",
    "add_record",
    "decode_frame",
    "epoch_time",
    "frame_at",
    "frame_connection",
    "frame_record",
    "frame_sender",
    "header_record",
    "looks_like_session",
    "message_record",
    "read_session",
    "session_records",
]

FORMAT = "wstool-session"
VERSION = 1
"""Bumped when a reader of the previous version would misread a file."""

DIRECTIONS = ("client", "server")
"""A frame's ``from``: the end that sent it."""


class SessionError(ValueError):
    """A session file that cannot be read; ``str(error)`` is one line naming the line."""


def header_record(*, tool_version: str, command: str, started: str) -> dict[str, Any]:
    """Line 1 of every session: what wrote it, and when (ISO 8601, UTC)."""
    return {
        "type": "session",
        "format": FORMAT,
        "version": VERSION,
        "wstool": tool_version,
        "command": command,
        "started": started,
    }


def message_record(message: MessageReceived | MessageSent) -> dict[str, Any]:
    """The message a frame completes: text as text, binary as base64."""
    record: dict[str, Any] = {
        "opcode": message.opcode,
        "frames": message.frames,
        "compressed": message.compressed,
        "size": len(message.data),
    }
    text = getattr(message, "text", None)
    if text is None and message.opcode == 1:
        try:
            text = message.data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if text is not None:
        record["text"] = text
    else:
        record["base64"] = base64.b64encode(message.data).decode("ascii")
    return record


def frame_record(frame: WireFrame, sender: Role) -> dict[str, Any]:
    """Every bit of ``frame`` (without its connection, time and message)."""
    return {
        "type": "frame",
        "from": sender.value,
        "fin": frame.fin,
        "rsv": [frame.rsv1, frame.rsv2, frame.rsv3],
        "opcode": frame.opcode,
        "mask": None if frame.mask_key is None else frame.mask_key.hex(),
        "length": frame.length,
        "head": wire_header(frame).hex(),
        "wire": base64.b64encode(frame.payload).decode("ascii"),
    }


class FrameEvent:
    """A frame read back from a session; its bytes are decoded when first asked for.

    Raises (from ``frame``):
        SessionError: the record's head and payload are not one frame.
    """

    __slots__ = ("_frame", "conn", "line", "message", "record", "sender", "time")

    def __init__(
        self,
        conn: int,
        sender: Role,
        record: dict[str, Any],
        time: float | None,
        message: dict[str, Any] | None,
        line: int,
    ) -> None:
        self.conn = conn
        self.sender = sender
        self.record = record
        self.time = time
        self.message = message
        self.line = line
        self._frame: WireFrame | None = None

    @property
    def opcode(self) -> int | None:
        """The opcode the record states, without decoding the frame."""
        opcode = self.record.get("opcode")
        return opcode if isinstance(opcode, int) else None

    @property
    def frame(self) -> WireFrame:
        if self._frame is None:
            self._frame = decode_frame(self.line, self.record)
        return self._frame


def _head_bytes(text: object) -> bytes:
    """A handshake head as recorded (its bytes as Latin-1 text) back to bytes.

    A head edited by hand may hold characters beyond Latin-1: they are taken
    as UTF-8, what a client sending that text would put on the wire.
    """
    try:
        return str(text).encode("latin-1")
    except UnicodeEncodeError:
        return str(text).encode("utf-8", "surrogatepass")


@dataclass
class Connection:
    """One connection of a session: its heads and what went each way."""

    conn: int
    open: dict[str, Any]
    frames: list[FrameEvent] = field(default_factory=list)
    close: dict[str, Any] | None = None
    disconnect: dict[str, Any] | None = None

    @property
    def request(self) -> bytes:
        return _head_bytes(self.open.get("request", ""))

    @property
    def response(self) -> bytes:
        return _head_bytes(self.open.get("response", ""))

    def wire(self, sender: Role) -> bytes:
        """The bytes ``sender`` put on the wire: its handshake head, then its frames."""
        head = self.request if sender is Role.CLIENT else self.response
        parts = [head]
        for event in self.frames:
            if event.sender is sender:
                parts.append(wire_header(event.frame))
                parts.append(event.frame.payload)
        return b"".join(parts)

    def messages(self, sender: Role) -> list[dict[str, Any]]:
        """The messages ``sender`` sent, in order."""
        return [e.message for e in self.frames if e.sender is sender and e.message is not None]


@dataclass
class Session:
    """A whole session file, read."""

    header: dict[str, Any]
    connections: dict[int, Connection]
    notes: list[str] = field(default_factory=list)


def looks_like_session(head: bytes) -> bool:
    """Whether the first bytes of a file are a session's header line."""
    first = head.lstrip()[:200]
    return first.startswith(b"{") and f'"format": "{FORMAT}"'.encode() in first.replace(
        b'":"', b'": "'
    )


def read_session(
    lines: Iterable[bytes],
    *,
    check_frames: bool = True,
    order: list[tuple[int, dict[str, Any]]] | None = None,
) -> Session:
    """Read a session file, strictly: a clear error with its line number for anything wrong.

    A last line cut short (the process was killed while writing it) is left out with a note.
    ``check_frames=False`` leaves each frame's bytes to be decoded (and checked) when first
    used: a replay that sends whole messages never needs them. ``order``, if given, gets
    every record after the header with its line number, in the order of the file (the
    connections interleaved as they were recorded).

    Raises:
        SessionError: the file is not a session, or a line is malformed.
    """
    session: Session | None = None
    notes: list[str] = []
    for number, record in session_records(lines, notes):
        if order is not None and session is not None:
            order.append((number, record))
        if session is None:
            session = Session(record, {}, notes)
        elif record["type"] == "frame":  # most lines: inline
            _add_frame(session, number, record)
        else:
            add_record(session, number, record)
    assert session is not None  # session_records yields the header first, or raises
    if check_frames:
        for conn in session.connections.values():
            for event in conn.frames:
                event.frame  # noqa: B018 (decoding is the check)
    return session


def session_records(
    lines: Iterable[bytes], notes: list[str]
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of each line that is not blank, the header checked and first.

    Lines are parsed one at a time as they are read (orjson; Python's json for what only
    it takes, and to explain an error), so a file need not be held whole. A last line cut
    short (one without its newline that does not parse) is left out and noted in ``notes``.

    Raises:
        SessionError: the file is not a session, or a line is not a JSON object with a type.
    """
    import orjson  # a session of many frames reads several times faster than with json

    loads, refused = orjson.loads, orjson.JSONDecodeError
    header = False
    for number, line in enumerate(lines, 1):
        try:
            record = loads(line)
        except refused:  # a blank, cut or unusual line
            if not line.strip():
                continue
            if header and not line.endswith(b"\n"):  # only the last line lacks one
                notes.append("the last line was cut short")
                break
            record = _loads_or_explain(number, line)
        if type(record) is not dict or type(record.get("type")) is not str:
            raise SessionError(f"line {number}: a record must be an object with a 'type'")
        if not header:
            _header(number, record)
            header = True
        yield number, record
    if not header:
        raise SessionError("line 1: empty: not a wstool session")


def _header(number: int, header: dict[str, Any]) -> dict[str, Any]:
    if header.get("type") != "session" or header.get("format") != FORMAT:
        raise SessionError(f"line {number}: not a wstool session header")
    if not isinstance(header.get("version"), int) or header["version"] > VERSION:
        raise SessionError(
            f"line {number}: session format version {header.get('version')!r}; "
            f"this wstool reads up to {VERSION}"
        )
    return header


def _add_frame(session: Session, number: int, record: dict[str, Any]) -> None:
    connection = frame_connection(session, number, record)
    connection.frames.append(_frame_event(number, connection.conn, record))


def frame_connection(session: Session, number: int, record: dict[str, Any]) -> Connection:
    """The opened connection a frame record names.

    Raises:
        SessionError: its ``conn`` is not an integer, or names a connection never opened.
    """
    conn = record.get("conn")
    connection = session.connections.get(conn) if type(conn) is int else None
    if connection is None:
        if not isinstance(conn, int):
            raise SessionError(f"line {number}: frame record without an integer 'conn'")
        raise SessionError(f"line {number}: frame record for connection {conn}, never opened")
    return connection


def _loads_or_explain(number: int, line: bytes) -> Any:
    """What orjson refused: JSON it does not take (NaN, huge integers), or the error, explained."""
    try:
        return json.loads(line)
    except json.JSONDecodeError as exc:
        raise SessionError(f"line {number}: not JSON ({exc.msg})") from None
    except ValueError:  # bytes that are not UTF-8
        raise SessionError(f"line {number}: not JSON (not UTF-8 text)") from None


def add_record(session: Session, number: int, record: dict[str, Any]) -> None:
    """Add an open, close or disconnect record (or a frame) to ``session``, checked.

    Raises:
        SessionError: the record is malformed or names a connection never opened.
    """
    kind = record["type"]
    conn = record.get("conn")
    if not isinstance(conn, int):
        raise SessionError(f"line {number}: {kind} record without an integer 'conn'")
    if kind == "open":
        if conn in session.connections:
            raise SessionError(f"line {number}: connection {conn} is opened twice")
        for name in ("request", "response"):
            if not isinstance(record.get(name), str):
                raise SessionError(f"line {number}: open record without its {name} head")
        session.connections[conn] = Connection(conn, record)
        return
    connection = session.connections.get(conn)
    if connection is None:
        raise SessionError(f"line {number}: {kind} record for connection {conn}, never opened")
    if kind == "frame":
        connection.frames.append(_frame_event(number, connection.conn, record))
    elif kind == "close":
        connection.close = record
    elif kind == "disconnect":
        connection.disconnect = record
    else:
        raise SessionError(f"line {number}: unknown record type {kind!r}")


_SENDERS = {role.value: role for role in Role}


def frame_sender(number: int, record: dict[str, Any]) -> Role:
    """The end that sent a frame record, after checking its ``from`` and ``message``.

    Raises:
        SessionError: either is missing or of the wrong kind.
    """
    sent_by = record.get("from")
    sender = _SENDERS.get(sent_by) if type(sent_by) is str else None
    if sender is None:
        raise SessionError(f"line {number}: frame record with 'from' missing or wrong")
    message = record.get("message")
    if message is not None and type(message) is not dict:
        raise SessionError(f"line {number}: 'message' must be an object")
    return sender


def _frame_event(number: int, conn: int, record: dict[str, Any]) -> FrameEvent:
    sender = frame_sender(number, record)
    return FrameEvent(
        conn, sender, record, epoch_time(record.get("time")), record.get("message"), number
    )


_LAST_SECOND = 253402300799
"""9999-12-31T23:59:59Z: the last second Python's datetime and time.localtime take."""


def epoch_time(value: Any) -> float | None:
    """A record's ``time`` as seconds since the epoch; None for anything else.

    Not a reason to refuse the file (``time`` is there for people and timing), but a
    value that is not a number, or one no clock can show (negative, past the year
    9999), is left out rather than passed on.
    """
    if (type(value) is float or type(value) is int) and 0 <= value <= _LAST_SECOND:
        return float(value)
    return None


def decode_frame(number: int, record: dict[str, Any]) -> WireFrame:
    """The frame a record's ``head`` and ``wire`` make.

    Raises:
        SessionError: they are missing, malformed, or not exactly one frame.
    """
    try:
        head = bytes.fromhex(record["head"])
        payload = base64.b64decode(record["wire"], validate=True)
    except (KeyError, TypeError, ValueError) as exc:
        what = exc.args[0] if isinstance(exc, KeyError) else "a bad value"
        raise SessionError(f"line {number}: frame record with {what!r} missing or wrong") from None
    found = frame_at(head + payload)
    if found is None or found[1] != len(head) + len(payload) or found[0].header_size != len(head):
        raise SessionError(f"line {number}: the frame's head and payload do not make one frame")
    return found[0]
