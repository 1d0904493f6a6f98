"""One direction of a captured WebSocket connection, decoded as its bytes arrive.

The same checks as :func:`wstool.core.inspect.inspect_stream` (the core parser, frame rules,
message assembler and permessage-deflate codec), frame by frame instead of on a whole stream, so
a capture is decoded with memory bounded by the frame in flight and a live capture shows each
frame when its last byte is read. After a gap in the capture (or a connection seen mid-stream)
decoding starts again only where frames plausibly start: see :func:`find_frame_start`.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from wstool.core.assembler import MessageAssembler
from wstool.core.deflate import DeflateParams, PerMessageDeflate
from wstool.core.frames import FrameParser, Opcode, Role, Violation, WireFrame, violations
from wstool.core.inspect import FrameReport, MessageReport, SequenceViolation, StreamItem, Truncated

__all__ = ["FrameStream", "Resync", "find_frame_start"]

_DATA = (Opcode.CONTINUATION, Opcode.TEXT, Opcode.BINARY)
_CONTROL = (Opcode.CLOSE, Opcode.PING, Opcode.PONG)
_ORDER_RULES = frozenset({"continuation-unexpected", "fragment-interleaved"})
# Bytes after a gap searched for a frame start before they are given up as unreadable.
RESYNC_LIMIT = 1 << 20


def _plausible_header(buf: bytes, pos: int, masked: bool | None, deflate: bool) -> int | None:
    """The size of a frame that could start at ``pos``, or None (or -1 when the header is cut).

    Plausible: a defined opcode, RSV2/RSV3 clear (RSV1 only with deflate, on a data frame),
    control frames unfragmented and at most 125 bytes, the length in its shortest form, and the
    MASK bit as the sender's role requires.
    """
    if len(buf) - pos < 2:
        return -1
    b0, b1 = buf[pos], buf[pos + 1]
    opcode = b0 & 0x0F
    if b0 & 0x30 or (b0 & 0x40 and not (deflate and opcode in (1, 2))):
        return None
    if opcode not in _DATA and opcode not in _CONTROL:
        return None
    if masked is not None and bool(b1 & 0x80) != masked:
        return None
    length, head = b1 & 0x7F, 2
    if opcode >= 8 and (not b0 & 0x80 or length > 125):
        return None
    if length == 126:
        if len(buf) - pos < 4:
            return -1
        (length,) = struct.unpack_from("!H", buf, pos + 2)
        head = 4
        if length < 126:
            return None
    elif length == 127:
        if len(buf) - pos < 10:
            return -1
        (length,) = struct.unpack_from("!Q", buf, pos + 2)
        head = 10
        if length < 0x10000 or length >> 63:
            return None
    return head + (4 if b1 & 0x80 else 0) + length


def find_frame_start(
    buf: bytes,
    starts: list[int],
    masked: bool | None,
    deflate: bool,
    final: bool,
) -> tuple[int, bool | None] | None:
    """Where frames plausibly start again in ``buf``, bytes that follow a gap.

    Only the positions in ``starts`` (where a TCP segment began: senders write frames whole,
    so segments tend to begin at a frame) are tried, and one is taken only when plausible frame
    headers follow each other from it to the end of ``buf`` exactly: a frame boundary found by
    chance inside a payload would have to chain through several lengths to the byte.

    Args:
        buf: The bytes after the gap.
        starts: Offsets in ``buf`` where segments began, ascending.
        masked: Whether the sender masks (a client), or None when unknown.
        deflate: Whether permessage-deflate was agreed (RSV1 allowed).
        final: No more bytes will come: a frame still cut at the end rules a start out.

    Returns:
        ``(offset, masked)`` of the first start that chains to the end; None while undecided
        or when none does (the caller skips the bytes once ``final`` or past RESYNC_LIMIT).
    """
    for start in starts:
        for mask in (masked,) if masked is not None else (False, True):
            verdict = _chain(buf, start, mask, deflate)
            if verdict is True:
                return start, mask
            if verdict is None and not final:
                return None  # undecided: wait for more bytes before trying later starts
    return None


def _chain(buf: bytes, pos: int, masked: bool, deflate: bool) -> bool | None:
    frames = 0
    while pos < len(buf):
        size = _plausible_header(buf, pos, masked, deflate)
        if size is None:
            return False
        if size < 0 or pos + size > len(buf):
            return None
        pos += size
        frames += 1
    return frames > 0


@dataclass
class Resync:
    """Bytes held after a gap until frames plausibly start again."""

    offset: int  # stream offset of buffer[0]
    buffer: bytes = b""
    starts: list[int] | None = None


class FrameStream:
    """Frames, messages and violations of one direction, fed in stream order.

    Args:
        sender: Who sends these bytes (known from the handshake, or inferred).
        deflate: The permessage-deflate parameters the connection's handshake agreed, if any.
        offset: The stream offset of the first byte fed.
        deflate_unknown: Whether deflate may have been agreed out of sight (mid-stream).
        max_inflated_size: Cap on one inflated message.
    """

    def __init__(
        self,
        sender: Role | None,
        deflate: DeflateParams | None,
        offset: int,
        *,
        deflate_unknown: bool = False,
        max_inflated_size: int | None = 64 * 2**20,
    ) -> None:
        self.sender = sender
        self.deflate = deflate
        # Seen mid-stream, the handshake that agreed on deflate or not is not in the capture:
        # RSV1 is allowed, and compressed messages are shown as such.
        self._rsv1_allowed = deflate is not None or deflate_unknown
        self._parser = FrameParser(offset=offset)
        codec = None
        if deflate is not None:
            codec = PerMessageDeflate(
                deflate, is_client=sender is Role.SERVER, max_inflated_size=max_inflated_size
            )
        self._assembler = MessageAssembler(max_message_size=None, codec=codec)
        self._message_start = 0
        self._message_opcode: int | None = None
        self._compressed = False
        self._unreadable = False
        self._skipping = False
        self._after_gap = False
        self._closed_at: int | None = None
        self.frames = 0
        self.wire_bytes = 0
        self.close_code: int | None = None
        self.violations = 0

    def feed(self, data: bytes) -> list[StreamItem]:
        """The items completed by ``data``."""
        items: list[StreamItem] = []
        for frame in self._parser.feed(data):
            self._frame(frame, items)
        return items

    def cut(self) -> Truncated | None:
        """The frame cut short at the end of what was fed (at a gap or the end of capture)."""
        cut = self._parser.incomplete
        return None if cut is None else Truncated(cut.offset, cut.have, cut.need)

    def restart(self, offset: int) -> None:
        """Go on at ``offset`` after a gap: the partial frame is dropped, as is a message in
        progress and, without no_context_takeover, the compression context it needed."""
        self._parser = FrameParser(offset=offset)
        self._after_gap = True
        self._skipping = True
        codec = self._assembler.codec
        if codec is not None and self.deflate is not None:
            own = (
                self.deflate.client_no_context_takeover
                if self.sender is Role.CLIENT
                else self.deflate.server_no_context_takeover
            )
            if not own:
                codec = None  # the window the next messages refer to was lost
        self._assembler = MessageAssembler(max_message_size=None, codec=codec)

    def release(self) -> None:
        """The direction ended: drop the parser's buffer and the compression context."""
        self._parser = FrameParser(offset=0)
        self._assembler = MessageAssembler(max_message_size=None)

    def _frame(self, frame: WireFrame, items: list[StreamItem]) -> None:
        data = frame.data
        codec = self._assembler.codec
        found = violations(frame, self.sender, deflate=self._rsv1_allowed, check_utf8=False)
        opcode = frame.opcode
        if opcode == Opcode.TEXT or opcode == Opcode.BINARY:
            self._message_opcode, self._compressed = opcode, frame.rsv1
        continuation = opcode == Opcode.CONTINUATION
        items.append(
            FrameReport(
                frame,
                data,
                tuple(found),
                self._message_opcode if continuation else None,
                frame.rsv1 or (continuation and self._compressed),
            )
        )
        self.frames += 1
        self.wire_bytes += frame.header_size + frame.length
        self.violations += len(found)
        if self._closed_at is not None:
            self._violation(items, _after_close(frame, self._closed_at))
        if opcode == Opcode.CLOSE:
            if self._closed_at is None:
                self._closed_at = frame.offset
            if len(data) >= 2 and self.close_code is None:
                self.close_code = int.from_bytes(data[:2], "big")
        if opcode & 0x8 or opcode not in (0, 1, 2):
            return
        to_assemble = frame
        if not continuation:
            self._message_start = frame.offset
            self._skipping = False
            self._unreadable = frame.rsv1 and codec is None
            if self._unreadable:
                to_assemble = frame._replace(rsv1=False, opcode=Opcode.BINARY)
        elif self._skipping:
            # The rest of a message given up on, or begun before a gap, is not news.
            self._skipping = not frame.fin
            return
        result = self._assembler.add(to_assemble, data)
        if isinstance(result, Violation):
            self._violation(items, result)
            self._skipping = not frame.fin and result.rule not in _ORDER_RULES
        elif (
            result is not None and not self._unreadable and (result.frames > 1 or result.compressed)
        ):
            items.append(MessageReport(result, self._message_start))

    def _violation(self, items: list[StreamItem], violation: Violation) -> None:
        items.append(SequenceViolation(violation))
        self.violations += 1


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
