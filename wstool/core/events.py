"""What happened on a connection: the events :class:`~wstool.core.connection.Connection` reports."""

from __future__ import annotations

from dataclasses import dataclass

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


@dataclass(frozen=True, slots=True)
class FrameReceived:
    """A frame arrived.

    Attributes:
        frame: the frame as on the wire.
        data: its payload unmasked (still compressed if RSV1 says so).
    """

    frame: WireFrame
    data: bytes


@dataclass(frozen=True, slots=True)
class FrameSent:
    """A frame was queued for sending.

    Attributes:
        frame: the frame as written to the wire (payload masked if keyed).
        data: its payload before masking (compressed if RSV1 is set).
    """

    frame: WireFrame
    data: bytes


@dataclass(frozen=True, slots=True)
class MessageReceived:
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


@dataclass(frozen=True, slots=True)
class MessageSent:
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


@dataclass(frozen=True, slots=True)
class PongReceived:
    """A Pong arrived (reported even when frames are not recorded, for keepalives).

    Attributes:
        data: its application data, which echoes a Ping's.
    """

    data: bytes


@dataclass(frozen=True, slots=True)
class ConnectionFailed:
    """We failed the connection because the peer broke a rule (RFC 6455 §7.1.7).

    Attributes:
        violation: the first rule broken, with the close code we sent.
    """

    violation: Violation


@dataclass(frozen=True, slots=True)
class ConnectionClosed:
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


Event = (
    FrameReceived
    | FrameSent
    | MessageReceived
    | MessageSent
    | PongReceived
    | ConnectionFailed
    | ConnectionClosed
)
