"""What happened on a connection: the events :class:`~wstool.core.connection.Connection` reports.

Events are immutable NamedTuples rather than frozen dataclasses: a busy
connection makes one or two per frame, and building a NamedTuple costs a
third of a frozen dataclass. Equality also compares the type, so a
FrameSent never equals a FrameReceived that happens to hold the same values.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from wstool.core.frames import Role, Violation, WireFrame

__all__ = [
    "ConnectionClosed",
    "ConnectionFailed",
    "Event",
    "FrameReceived",
    "FrameSent",
    "MessageReceived",
    "MessageSent",
    "PongReceived",
]


class FrameReceived(NamedTuple):
    """A frame arrived.

    Attributes:
        frame: the frame as on the wire.
        data: its payload unmasked (still compressed if RSV1 says so).
    """

    frame: WireFrame
    data: bytes


class FrameSent(NamedTuple):
    """A frame was queued for sending.

    Attributes:
        frame: the frame as written to the wire (payload masked if keyed).
        data: its payload before masking (compressed if RSV1 is set).
    """

    frame: WireFrame
    data: bytes


class MessageReceived(NamedTuple):
    """A whole data message arrived: one frame, or its fragments reassembled.

    Attributes:
        opcode: 1 (text) or 2 (binary).
        data: the payload of all its frames, inflated when compressed.
        text: the decoded text of a text message, else ``None``.
        frames: how many frames carried it.
        wire_size: the payload bytes on the wire (before inflating).
        compressed: whether permessage-deflate was used.
    """

    opcode: int
    data: bytes
    text: str | None
    frames: int
    wire_size: int
    compressed: bool


class MessageSent(NamedTuple):
    """We sent a whole data message (reported when frames are recorded).

    Attributes:
        opcode: 1 (text) or 2 (binary).
        data: the message before compression.
        frames: how many frames carry it.
        wire_size: the payload bytes on the wire (after compression).
        compressed: whether permessage-deflate was used.
    """

    opcode: int
    data: bytes
    frames: int
    wire_size: int
    compressed: bool


class PongReceived(NamedTuple):
    """A Pong arrived (reported even when frames are not recorded, for keepalives).

    Attributes:
        data: its application data, which echoes a Ping's.
    """

    data: bytes


class ConnectionFailed(NamedTuple):
    """We failed the connection because the peer broke a rule (RFC 6455 §7.1.7).

    Attributes:
        violation: the first rule broken, with the close code we sent.
    """

    violation: Violation


class ConnectionClosed(NamedTuple):
    """The WebSocket connection is closed; nothing more will be sent or received.

    Attributes:
        code: the close code received (1005 if the Close frame had none,
            1006 when the connection ended without a Close frame), or the
            code we sent when we failed the connection.
        reason: the close reason received (or our reason on failure).
        initiator: which end sent the first Close frame; ``None`` when none did.
        clean: whether Close frames were exchanged both ways (§7.1.4).
        sent_code: the code we put in our Close frame, if we sent one.
    """

    code: int
    reason: str
    initiator: Role | None
    clean: bool
    sent_code: int | None = None


def _eq(self: tuple[Any, ...], other: object) -> bool:
    return type(self) is type(other) and tuple.__eq__(self, other)


def _ne(self: tuple[Any, ...], other: object) -> bool:
    return not _eq(self, other)


def _hash(self: tuple[Any, ...]) -> int:
    return hash((type(self).__name__, tuple(self)))


for _event in (
    FrameReceived,
    FrameSent,
    MessageReceived,
    MessageSent,
    PongReceived,
    ConnectionFailed,
    ConnectionClosed,
):
    setattr(_event, "__eq__", _eq)  # noqa: B010 (mypy rejects assigning methods)
    setattr(_event, "__ne__", _ne)  # noqa: B010
    setattr(_event, "__hash__", _hash)  # noqa: B010


Event = (
    FrameReceived
    | FrameSent
    | MessageReceived
    | MessageSent
    | PongReceived
    | ConnectionFailed
    | ConnectionClosed
)
