"""Replay, without I/O: what to send when, and how the answers compare with the recording.

A plan is the client side of one recorded connection: each message the client
sent (or, with ``frames``, each of its frames as it was fragmented), when it was
sent, and how many server messages had arrived before it. At ``--speed max`` a
step goes out as soon as that many answers are in; otherwise at its recorded
time, scaled. The server's recorded messages are what the answers are compared
with: text as text, JSON as data (object keys in any order, ``ignore``\\d keys
left out at any depth), binary as bytes.
"""

from __future__ import annotations

import base64
import difflib
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, NamedTuple

from wstool.core.errors import HandshakeError
from wstool.core.frames import Role, is_valid_close_code, parse_close_payload
from wstool.core.http import header_values, parse_request_head
from wstool.session.format import (
    Connection,
    Session,
    SessionError,
    add_record,
    decode_frame,
    epoch_time,
    frame_connection,
    frame_sender,
    session_records,
)

__all__ = [
    "Message",
    "Plan",
    "ServerScript",
    "Step",
    "differences",
    "load_plan",
    "plan_replay",
]


class Message(NamedTuple):
    """A message's opcode (1 text, 2 binary) and payload."""

    opcode: int
    data: bytes

    @classmethod
    def from_record(cls, record: dict[str, Any]) -> Message:
        """The message a frame record completes.

        Raises:
            SessionError: the record's message is not text or base64 with an opcode.
        """
        text = record.get("text")
        opcode = record.get("opcode", 1 if text is not None else 2)
        try:
            if text is not None:
                return cls(int(opcode), text.encode("utf-8"))
            return cls(int(opcode), base64.b64decode(record.get("base64", ""), validate=True))
        except (TypeError, ValueError, AttributeError):
            raise SessionError("a message that is neither text nor base64") from None


class Step(NamedTuple):
    """One message to send, whole or in its recorded fragments.

    Attributes:
        at: seconds after the first client frame of the recording.
        answers_before: server messages recorded before it was sent.
        message: the message.
        fragments: the payloads of its frames, when replaying frames and it had several.
    """

    at: float
    answers_before: int
    message: Message
    fragments: tuple[bytes, ...] | None = None


@dataclass
class Plan:
    """What replaying one connection sends, what it expects, and how it connects."""

    steps: list[Step] = field(default_factory=list)
    expected: list[Message] = field(default_factory=list)
    subprotocols: tuple[str, ...] = ()
    deflate: bool = False
    close_code: int | None = 1000
    close_reason: str = ""


def plan_replay(conn: Connection, *, frames: bool = False, side: Role = Role.CLIENT) -> Plan:
    """The plan for one side of ``conn`` (the client's, unless ``side`` says otherwise).

    Args:
        conn: a recorded connection.
        frames: keep each message's fragmentation (its frames' payloads as recorded; when
            the recording was compressed, the fragments are of the compressed message and
            the whole message is sent instead).
        side: the end to play; the other end's messages are what is expected.

    Raises:
        SessionError: a message record is neither text nor base64.
    """
    planner = _Planner(conn, frames=frames, side=side)
    for event in conn.frames:
        planner.frame(event.line, event.sender, event.record)
    return planner.done()


def load_plan(
    lines: Iterable[bytes], *, conn_id: int | None = None, frames: bool = False
) -> tuple[Plan, Session]:
    """The client's plan for one connection, read from a session file's lines in one pass.

    Every line is parsed and checked as :func:`~wstool.session.format.read_session` checks
    it, but only the chosen connection's frames (the first connection's, unless ``conn_id``
    says otherwise) are kept, and those as the plan, without a frame object each: a long
    session is ready to replay in about the time it takes to parse it.

    Returns:
        the plan, and the session (its header, notes, and every connection's open and close
        records; no frames).

    Raises:
        SessionError: the file is malformed (the line says where), or the connection is not
        in it (``str`` names the ones it has).
    """
    notes: list[str] = []
    session: Session | None = None
    planner: _Planner | None = None
    chosen = -1  # the connection planned, once its open record is read
    for number, record in session_records(lines, notes):
        if session is None:
            session = Session(record, {}, notes)
            continue
        kind = record["type"]
        if kind == "frame":
            conn = record.get("conn")
            if conn == chosen and type(conn) is int:
                assert planner is not None
                planner.frame(number, frame_sender(number, record), record)
            else:  # another connection's: checked, not kept
                frame_connection(session, number, record)
                frame_sender(number, record)
            continue
        add_record(session, number, record)
        if planner is None and kind == "open" and conn_id in (None, record["conn"]):
            chosen = record["conn"]
            planner = _Planner(session.connections[chosen], frames=frames)
    assert session is not None  # session_records yields the header first, or raises
    if planner is None:
        known = ", ".join(str(n) for n in session.connections)
        raise SessionError(
            f"no connection {conn_id} (it has {known})"
            if known
            else "the session holds no connection"
        )
    return planner.done(), session


class _Planner:
    """A plan built frame record by frame record, in the order they were recorded."""

    def __init__(self, conn: Connection, *, frames: bool = False, side: Role = Role.CLIENT) -> None:
        self.conn = conn
        self.side = side
        self.keep_frames = frames
        self.plan = Plan()
        self.plan.subprotocols, self.plan.deflate = _offers(conn.request)
        self.steps = self.plan.steps
        self.expected = self.plan.expected
        self.start: float | None = None
        self.parts: list[bytes] = []  # frames of a message of ours still arriving
        self.first_at = 0.0
        self.our_close: tuple[int | None, str] | None = None  # our first Close frame's

    def frame(self, number: int, sender: Role, record: dict[str, Any]) -> None:
        """One frame record of the connection (its ``from`` already checked)."""
        if self.start is None:
            self.start = _time_of(record)
        message = record.get("message")
        if sender is not self.side:  # an answer: half the records, so kept short
            if message is not None:
                self.expected.append(_message(number, message))
            return
        if record.get("opcode") == 8 and self.our_close is None:
            self.our_close = _close_of(decode_frame(number, record).data)
        if record.get("opcode") in (0, 1, 2):
            if not self.parts:
                time = _time_of(record)
                timed = time is not None and self.start is not None
                self.first_at = max(0.0, time - self.start) if timed else 0.0  # type: ignore[operator]
            # The bytes only when kept.
            self.parts.append(decode_frame(number, record).data if self.keep_frames else b"")
        if message is None:
            return
        whole = not self.keep_frames or len(self.parts) < 2 or message.get("compressed")
        fragments = None if whole else tuple(self.parts)
        answers = len(self.expected)
        self.steps.append(Step(self.first_at, answers, _message(number, message), fragments))
        self.parts = []

    def done(self) -> Plan:
        plan, close, side = self.plan, self.conn.close, self.side
        if close is not None and close.get("initiator") == side.value:
            if self.our_close is not None:  # as its Close frame said (None: no code)
                plan.close_code, plan.close_reason = self.our_close
            else:
                code = close.get("sent_code") or close.get("code")
                plan.close_code = code if type(code) is int and is_valid_close_code(code) else 1000
        elif side is Role.SERVER:
            plan.close_code = None  # the client closed (or nobody did): the server does not
        return plan


def _close_of(payload: bytes) -> tuple[int | None, str]:
    """The code and reason of a Close frame, as they may be sent again.

    A code that may not be sent (1005, 1006, a reserved one: a forged Close) becomes 1000,
    and a reason that is not UTF-8 or too long is left out.
    """
    code, raw = parse_close_payload(payload)
    if code is None:
        return None, ""
    if not is_valid_close_code(code):
        return 1000, ""
    try:
        reason = raw.decode("utf-8")
    except UnicodeDecodeError:
        return code, ""
    # RFC 6455 §5.5: a control frame's payload is at most 125 bytes (2 of them the code).
    return code, reason if len(payload) <= 125 else ""


def _time_of(record: dict[str, Any]) -> float | None:
    return epoch_time(record.get("time"))


_new_message = tuple.__new__


def _message(number: int, record: dict[str, Any]) -> Message:
    """The message a frame record completes (its line number in the error, if any)."""
    text = record.get("text")
    if type(text) is str and record.get("opcode") == 1:  # most messages: no checks to add
        return _new_message(Message, (1, text.encode("utf-8")))
    try:
        return Message.from_record(record)
    except SessionError as exc:
        raise SessionError(f"line {number}: {exc}") from None


Reply = tuple[int, bytes, "tuple[bytes, ...] | None"]
"""A message to send: opcode, payload, and its fragments when it goes in several frames."""


class ServerScript:
    """The server side of a recorded connection, played to one live client.

    Each recorded server message goes out once the client has sent as many messages as it
    had in the recording before it. It has the shape of ``net.server.Responder``.
    """

    def __init__(self, plan: Plan) -> None:
        self._steps = list(plan.steps)
        self._close_code = plan.close_code
        self.received = 0

    def start(self) -> list[Reply]:
        """What the server said before the client's first message (a greeting)."""
        return self._due()

    def received_message(self, opcode: int, data: bytes) -> list[Reply]:
        """One more client message: what is due now."""
        self.received += 1
        return self._due()

    def close_code(self) -> int | None:
        """Once every recorded message is out: the code the recorded server closed with."""
        return self._close_code if not self._steps else None

    def _due(self) -> list[Reply]:
        ready = []
        while self._steps and self._steps[0].answers_before <= self.received:
            step = self._steps.pop(0)
            ready.append((step.message.opcode, step.message.data, step.fragments))
        return ready


def _offers(request: bytes) -> tuple[tuple[str, ...], bool]:
    """The subprotocols the recorded client offered, and whether it offered deflate.

    A recorded head that is cut short or not valid HTTP (a rule-breaking client's,
    kept as it was on the wire) offered nothing this can read.
    """
    try:
        parsed = parse_request_head(request)
    except HandshakeError:
        return (), False
    if parsed is None:
        return (), False
    headers = parsed[0].headers
    protocols = tuple(
        token.strip()
        for value in header_values(headers, "Sec-WebSocket-Protocol")
        for token in value.split(",")
        if token.strip()
    )
    extensions = ",".join(header_values(headers, "Sec-WebSocket-Extensions"))
    return protocols, "permessage-deflate" in extensions


def differences(
    expected: Sequence[Message], received: Sequence[Message], *, ignore: Sequence[str] = ()
) -> list[str]:
    """Lines that say how ``received`` differs from ``expected``; empty when they match."""
    lines: list[str] = []
    for index in range(max(len(expected), len(received))):
        want = expected[index] if index < len(expected) else None
        got = received[index] if index < len(received) else None
        if want is not None and got is not None and _same(want, got, ignore):
            continue
        number = index + 1
        if got is None:
            lines.append(f"answer {number}: missing; recorded {_show(want)}")
        elif want is None:
            lines.append(f"answer {number}: not in the recording: {_show(got)}")
        else:
            lines.append(f"answer {number} differs:")
            lines.extend("  " + line for line in _diff(want, got, ignore))
    return lines


def _json(message: Message, ignore: Sequence[str]) -> Any:
    """The message as JSON with ignored keys removed, or a marker that it is not JSON."""
    if message.opcode != 1:
        return _NOT_JSON
    import orjson  # thousands of answers are compared

    if message.data[:1] not in _JSON_STARTS:
        return _NOT_JSON
    try:
        value = orjson.loads(message.data)
    except orjson.JSONDecodeError:
        try:
            value = json.loads(message.data)  # what only Python's json takes (NaN, big integers)
        except ValueError:
            return _NOT_JSON
    return _without(value, frozenset(ignore))


_NOT_JSON = object()
_JSON_STARTS = frozenset(bytes([c]) for c in b'{["-0123456789tfnN \t\r\n')


def _without(value: Any, ignore: frozenset[str]) -> Any:
    if isinstance(value, dict):
        return {k: _without(v, ignore) for k, v in value.items() if k not in ignore}
    if isinstance(value, list):
        return [_without(v, ignore) for v in value]
    return value


def _same(want: Message, got: Message, ignore: Sequence[str]) -> bool:
    if want.opcode != got.opcode:
        return False
    a, b = _json(want, ignore), _json(got, ignore)
    if a is not _NOT_JSON and b is not _NOT_JSON:
        return bool(a == b)
    return want.data == got.data


def _show(message: Message | None) -> str:
    if message is None:
        return "nothing"
    if message.opcode == 1:
        text = message.data.decode("utf-8", "replace")
        return repr(text if len(text) <= 80 else text[:77] + "...")
    return f"binary, {len(message.data)} bytes: {message.data[:24].hex(' ')}"


def _lines(message: Message, ignore: Sequence[str]) -> list[str]:
    value = _json(message, ignore)
    if value is not _NOT_JSON:
        return json.dumps(value, indent=2, sort_keys=True, ensure_ascii=False).splitlines()
    if message.opcode == 1:
        return message.data.decode("utf-8", "replace").splitlines() or [""]
    hexes = message.data.hex()
    return [hexes[i : i + 64] for i in range(0, len(hexes), 64)] or [""]


def _diff(want: Message, got: Message, ignore: Sequence[str]) -> list[str]:
    if want.opcode != got.opcode:
        kinds = {1: "text", 2: "binary"}
        return [f"recorded {kinds.get(want.opcode)}, got {kinds.get(got.opcode)}: {_show(got)}"]
    diff = difflib.unified_diff(
        _lines(want, ignore), _lines(got, ignore), "recorded", "received", lineterm="", n=2
    )
    return list(diff)[:40]
