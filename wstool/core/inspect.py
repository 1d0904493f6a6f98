"""A captured byte stream -> frames, messages and every rule broken, for inspection.

Where a :class:`~wstool.core.connection.Connection` stops at the first
violation, :func:`inspect_stream` lists them all and goes on, which is what
``wstool decode`` shows. It reuses the same parser, frame rules and
:class:`~wstool.core.assembler.MessageAssembler` as a live connection.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from wstool.core.assembler import MessageAssembler
from wstool.core.deflate import DeflateParams, PerMessageDeflate
from wstool.core.errors import UsageError
from wstool.core.events import MessageReceived
from wstool.core.frames import (
    FrameParser,
    Opcode,
    Role,
    Violation,
    WireFrame,
    violations,
)

__all__ = [
    "FrameReport",
    "HandshakeReport",
    "MessageReport",
    "SequenceViolation",
    "StreamItem",
    "StreamReport",
    "Truncated",
    "inspect_stream",
    "inspect_streams",
    "negotiated_deflate",
]

_MAX_HEAD = 64 * 1024
# Violations about the order of frames: the frame that breaks them starts or
# continues nothing, so the frames after it are checked as usual.
_ORDER_RULES = frozenset({"continuation-unexpected", "fragment-interleaved"})


@dataclass(frozen=True)
class FrameReport:
    """A frame, its unmasked payload and the rules it breaks.

    Attributes:
        frame: the frame as on the wire.
        data: its payload unmasked.
        violations: the rules it breaks on its own.
        message_opcode: for a CONTINUATION frame, the opcode of the message
            it continues (so a text fragment can be shown as text).
        compressed: whether the frame belongs to a compressed message (its
            payload is shown once inflated, with the message).
    """

    frame: WireFrame
    data: bytes
    violations: tuple[Violation, ...]
    message_opcode: int | None = None
    compressed: bool = False


@dataclass(frozen=True)
class MessageReport:
    """A message reassembled from several frames, or inflated.

    Attributes:
        message: the message, as a connection would report it.
        offset: the offset of its first frame.
    """

    message: MessageReceived
    offset: int


@dataclass(frozen=True)
class HandshakeReport:
    """The HTTP head of an opening handshake found at the start of the stream.

    Attributes:
        kind: ``"request"`` or ``"response"``.
        raw: the head exactly as captured, through the blank line.
        offset: where it starts (0).
    """

    kind: str
    raw: bytes
    offset: int = 0

    @property
    def first_line(self) -> str:
        """The request or status line."""
        return self.raw.split(b"\r\n", 1)[0].decode("latin-1")

    @property
    def headers(self) -> list[tuple[str, str]]:
        """The header fields, in order, as text."""
        lines = self.raw.decode("latin-1").split("\r\n")[1:]
        return [
            (name.strip(), value.strip())
            for name, sep, value in (line.partition(":") for line in lines if line)
            if sep
        ]


@dataclass(frozen=True)
class Truncated:
    """The stream ends inside a frame.

    Attributes:
        offset: where the cut frame starts.
        have: bytes present.
        need: the frame's whole size, or ``None`` when its header is cut too.
    """

    offset: int
    have: int
    need: int | None

    @property
    def missing(self) -> int | None:
        """Bytes missing to complete the frame, when its header says."""
        return None if self.need is None else self.need - self.have


@dataclass(frozen=True)
class SequenceViolation:
    """A rule broken by the order of frames rather than by one frame."""

    violation: Violation


StreamItem = HandshakeReport | FrameReport | MessageReport | SequenceViolation | Truncated


@dataclass
class StreamReport:
    """Everything found in one direction of a connection.

    Attributes:
        sender: the end that sent the stream, if known.
        sender_inferred: whether ``sender`` was inferred rather than given.
        inferred_from: how it was inferred, in a few words.
        items: handshake, frames, messages, violations and truncation, in
            stream order.
    """

    sender: Role | None
    sender_inferred: bool = False
    inferred_from: str = ""
    items: list[StreamItem] = field(default_factory=list)

    @property
    def violations(self) -> list[Violation]:
        """Every violation found, in stream order."""
        found: list[Violation] = []
        for item in self.items:
            if isinstance(item, FrameReport):
                found.extend(item.violations)
            elif isinstance(item, SequenceViolation):
                found.append(item.violation)
        return found

    @property
    def truncated(self) -> Truncated | None:
        """The cut frame at the end of the stream, if there is one."""
        last = self.items[-1] if self.items else None
        return last if isinstance(last, Truncated) else None

    @property
    def frames(self) -> list[FrameReport]:
        """The frame reports alone."""
        return [item for item in self.items if isinstance(item, FrameReport)]


def _split_head(data: bytes) -> tuple[HandshakeReport | None, int]:
    """The HTTP head at the start of ``data``, if the stream starts with one."""
    if data.startswith(b"GET "):
        kind = "request"
    elif data.startswith(b"HTTP/"):
        kind = "response"
    else:
        return None, 0
    end = data.find(b"\r\n\r\n", 0, _MAX_HEAD)
    if end < 0:
        return None, 0
    return HandshakeReport(kind, data[: end + 4]), end + 4


def negotiated_deflate(head: HandshakeReport) -> DeflateParams | None:
    """The permessage-deflate parameters a 101 response agreed on, if any."""
    from wstool.core.handshake import parse_extensions

    values = [v for name, v in head.headers if name.lower() == "sec-websocket-extensions"]
    if not values or head.first_line.split(" ")[1:2] != ["101"]:
        return None
    try:
        offers = parse_extensions(values)
    except ValueError:
        return None
    for name, params in offers:
        if name == "permessage-deflate":
            values_by_name = dict(params)
            try:
                return DeflateParams(
                    server_no_context_takeover="server_no_context_takeover" in values_by_name,
                    client_no_context_takeover="client_no_context_takeover" in values_by_name,
                    server_max_window_bits=_bits(values_by_name.get("server_max_window_bits")),
                    client_max_window_bits=_bits(values_by_name.get("client_max_window_bits")),
                )
            except UsageError:  # a window size outside 8..15: no agreement to use
                return None
    return None


def _bits(value: str | None) -> int | None:
    return int(value) if value is not None and value.isdigit() else None


def _infer_sender(frames: list[WireFrame]) -> tuple[Role | None, str]:
    """Guess who sent the frames from their MASK bits (RFC 6455 §5.1)."""
    unmasked = [frame.mask_key for frame in frames].count(None)
    masked = len(frames) - unmasked
    if masked and not unmasked:
        return Role.CLIENT, "every frame is masked"
    if unmasked and not masked:
        return Role.SERVER, "no frame is masked"
    if masked:
        return None, "frames are both masked and unmasked"
    return None, "no complete frame"


def inspect_stream(
    data: bytes,
    *,
    sender: Role | None = None,
    deflate: DeflateParams | None = None,
    max_inflated_size: int | None = 64 * 2**20,
) -> StreamReport:
    """Decode one direction of a connection, listing every rule broken.

    Args:
        data: the bytes one end sent, from the first byte on (an HTTP head
            at the start is recognised and reported).
        sender: the end that sent them; inferred when ``None`` (from the
            HTTP head if there is one, else from the MASK bits).
        deflate: permessage-deflate parameters, to inflate RSV1 messages.
        max_inflated_size: cap on one inflated message.

    Returns:
        The report, in stream order.
    """
    head, start = _split_head(data)
    parser = FrameParser(offset=start)
    frames = list(parser.feed(data[start:]))
    report = StreamReport(sender)
    if head is not None:
        report.items.append(head)
    if sender is None:
        if head is not None:
            report.sender = Role.CLIENT if head.kind == "request" else Role.SERVER
            report.inferred_from = f"the HTTP {head.kind} at the start"
        else:
            report.sender, report.inferred_from = _infer_sender(frames)
        report.sender_inferred = True
    codec = None
    if deflate is not None:
        # We inflate what `sender` compressed, so we stand at the other end.
        codec = PerMessageDeflate(
            deflate,
            is_client=report.sender is Role.SERVER,
            max_inflated_size=max_inflated_size,
        )
    assembler = MessageAssembler(max_message_size=None, codec=codec)
    message_start = 0
    message_opcode: int | None = None
    compressed = False
    unreadable = skipping = False
    closed_at: int | None = None
    for frame in frames:
        data_ = frame.data
        found = violations(frame, report.sender, deflate=codec is not None, check_utf8=False)
        if frame.opcode in (Opcode.TEXT, Opcode.BINARY):
            message_opcode, compressed = frame.opcode, frame.rsv1
        continuation = frame.opcode == Opcode.CONTINUATION
        report.items.append(
            FrameReport(
                frame,
                data_,
                tuple(found),
                message_opcode if continuation else None,
                frame.rsv1 or (continuation and compressed),
            )
        )
        if closed_at is not None:
            report.items.append(SequenceViolation(_after_close(frame, closed_at)))
        if frame.opcode == Opcode.CLOSE:
            closed_at = frame.offset if closed_at is None else closed_at
        if frame.opcode & 0x8 or frame.opcode not in (0, 1, 2):
            continue
        to_assemble = frame
        if frame.opcode != Opcode.CONTINUATION:
            message_start = frame.offset
            skipping = False
            # Without a codec a compressed message cannot be read: its frames
            # are kept in sequence as opaque bytes, and no message is shown.
            unreadable = frame.rsv1 and codec is None
            if unreadable:
                to_assemble = frame._replace(rsv1=False, opcode=Opcode.BINARY)
        elif skipping:
            # The rest of a message the assembler gave up on is not news.
            skipping = not frame.fin
            continue
        result = assembler.add(to_assemble, data_)
        if isinstance(result, Violation):
            report.items.append(SequenceViolation(result))
            skipping = not frame.fin and result.rule not in _ORDER_RULES
        elif result is not None and not unreadable and (result.frames > 1 or result.compressed):
            report.items.append(MessageReport(result, message_start))
    cut = parser.incomplete
    if cut is not None:
        report.items.append(Truncated(cut.offset, cut.have, cut.need))
    return report


def _after_close(frame: WireFrame, closed_at: int) -> Violation:
    # RFC 6455 §5.5.1: "After sending a Close frame, the endpoint MUST NOT
    # send any more data frames."
    return Violation(
        "frame-after-close",
        f"{frame.opcode_name} frame after the Close frame at offset {closed_at}",
        "RFC 6455 §5.5.1",
        1002,
        frame.offset,
    )


def inspect_streams(
    streams: Sequence[tuple[str | None, str | None, bytes]],
    *,
    sender: Role | None = None,
    deflate: DeflateParams | None = None,
) -> list[tuple[str | None, str | None, StreamReport]]:
    """Inspect the directions of a capture, each with what its own connection's handshake says.

    A connection is the pair of endpoints, whichever way the bytes go. When one of its streams
    starts with a 101 response that agreed on permessage-deflate, both of its directions are
    inflated with those parameters; other connections are not, unless ``deflate`` is given,
    which then holds for every stream.
    """
    agreed: dict[frozenset[str | None], DeflateParams | None] = {}
    if deflate is None:
        for source, destination, data in streams:
            head, _ = _split_head(data)
            connection = frozenset((source, destination))
            if head is not None and head.kind == "response" and connection not in agreed:
                agreed[connection] = negotiated_deflate(head)
    return [
        (
            source,
            destination,
            inspect_stream(
                data,
                sender=sender,
                deflate=deflate or agreed.get(frozenset((source, destination))),
            ),
        )
        for source, destination, data in streams
    ]
