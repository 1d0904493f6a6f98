"""A tap on one direction of a relayed connection: bytes as they pass -> what they mean.

A proxy in relay mode forwards every byte untouched and decodes a copy. A
:class:`StreamTap` is that copy's decoder for one direction: fed the bytes
in whatever pieces they arrive, it returns the frames, the messages (inflated
with the permessage-deflate parameters the 101 agreed on, with the context
each side keeps), every rule broken and the Close frame, incrementally. Unlike
a :class:`~wstool.core.connection.Connection` it never fails: it names each
violation (rule, RFC section, the close code the receiving end would send)
and reads on, as :func:`~wstool.core.inspect.inspect_stream` does for a dump.

The common frame (a valid header, data or a short control frame) costs one
header check and, for a message of one frame, no copy beyond the parser's;
the full :func:`~wstool.core.rules.violations` report runs only for frames
that fail the check, or that are Close frames.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

from wstool.core.assembler import MessageAssembler
from wstool.core.deflate import DeflateParams, PerMessageDeflate
from wstool.core.errors import PayloadTooBig
from wstool.core.events import MessageReceived
from wstool.core.frames import (
    FrameParser,
    Opcode,
    Role,
    WireFrame,
    minimal_length_bits,
    parse_close_payload,
)
from wstool.core.inspect import FrameReport, MessageReport, SequenceViolation, Truncated
from wstool.core.masking import apply_mask
from wstool.core.rules import Violation, header_ok, violations

__all__ = [
    "CloseSeen",
    "DirectionStats",
    "InspectionStopped",
    "RelaySummary",
    "StreamTap",
    "TapItem",
]

DEFAULT_INSPECT_LIMIT = 64 * 2**20
"""Frames and inflated messages larger than this are relayed but not decoded."""

SKIP_PAYLOADS_FROM = 64 * 2**10
"""Without frame records, a binary frame still arriving once this much of it is
buffered is counted as it passes, not kept (nothing in it would be read)."""

_ORDER_RULES = frozenset({"continuation-unexpected", "fragment-interleaved"})
_CLOSE = Opcode.CLOSE
_CONTINUATION = Opcode.CONTINUATION
_HEADER_SIZE = {7: 2, 16: 4, 64: 10}
_minimal_bits = minimal_length_bits


class CloseSeen(NamedTuple):
    """A Close frame went by.

    Attributes:
        code: its status code, or None when it has none.
        reason: its reason, decoded leniently.
        offset: the frame's offset in its direction's stream.
    """

    code: int | None
    reason: str
    offset: int


class InspectionStopped(NamedTuple):
    """The tap gave up decoding this direction (the bytes are still relayed).

    Attributes:
        reason: one line saying why.
        offset: where in the stream.
    """

    reason: str
    offset: int


TapItem = (
    FrameReport | MessageReport | SequenceViolation | CloseSeen | InspectionStopped | Truncated
)


@dataclass
class DirectionStats:
    """What went one way over a connection.

    Attributes:
        frames: frames seen.
        wire_bytes: bytes of frames (headers included).
        messages: whole data messages.
        message_bytes: their payload bytes, inflated.
        compressed_messages: how many of them were compressed.
        compressed_bytes: the compressed messages' payload bytes on the wire.
        inflated_bytes: the same messages' bytes once inflated.
        violations: rules broken.
        close: the first Close frame, if one went by.
    """

    frames: int = 0
    wire_bytes: int = 0
    messages: int = 0
    message_bytes: int = 0
    compressed_messages: int = 0
    compressed_bytes: int = 0
    inflated_bytes: int = 0
    violations: int = 0
    close: CloseSeen | None = None
    rules: list[str] = field(default_factory=list)
    """The distinct rules broken, in the order first seen."""


class StreamTap:
    """Decodes one direction of a relayed WebSocket connection, incrementally.

    Args:
        sender: the end that sends these bytes (masking rules depend on it).
        deflate: the permessage-deflate parameters the 101 agreed on, if any.
        record_frames: return a :class:`FrameReport` per frame and a
            :class:`MessageReport` per fragmented or compressed message;
            without it only violations, closes and the counts are kept.
        limit: frames and inflated messages larger than this stop the
            decoding of this direction (memory stays bounded).
        offset: the stream offset of the first byte fed (after the HTTP head).
    """

    def __init__(
        self,
        sender: Role,
        *,
        deflate: DeflateParams | None = None,
        record_frames: bool = True,
        limit: int = DEFAULT_INSPECT_LIMIT,
        offset: int = 0,
    ) -> None:
        self.sender = sender
        self.record_frames = record_frames
        self.stats = DirectionStats()
        self.stopped = False
        self._deflate = deflate is not None
        codec = None
        if deflate is not None:
            # We inflate what `sender` compressed, so we stand at the other end.
            codec = PerMessageDeflate(
                deflate, is_client=sender is Role.SERVER, max_inflated_size=limit
            )
        self._parser = FrameParser(max_frame_size=limit, offset=offset)
        self._assembler = MessageAssembler(max_message_size=None, codec=codec)
        self._codec = codec
        self._message_start = 0
        self._message_opcode = 0
        self._compressed = False
        self._unreadable = False
        self._skipping = False
        self._closed_at: int | None = None

    def feed(self, data: bytes) -> list[TapItem]:
        """Take the next bytes of this direction; return what they complete, in order."""
        items: list[TapItem] = []
        if self.stopped:
            return items
        stats = self.stats
        # The common frame, inlined: a whole uncompressed TEXT or BINARY message
        # in one frame with a valid header and no fragmented message around it.
        # Any other frame takes the general path, _frame().
        quick = self._closed_at is None and not self._skipping
        record = self.record_frames
        masked = self.sender is Role.CLIENT
        assembler = self._assembler
        frames = wire = messages = message_bytes = 0
        try:
            for frame in self._parser.feed(data):
                fin, rsv1, rsv2, rsv3, opcode, key, length, bits, payload, _ = frame
                frames += 1
                wire += length + _HEADER_SIZE[bits] + (4 if key is not None else 0)
                if (
                    quick
                    and fin
                    and (opcode == 2 or opcode == 1)
                    and not (rsv1 or rsv2 or rsv3)
                    and (key is not None) is masked
                    and (bits == 7 or bits == _minimal_bits(length))
                    and not assembler.in_progress
                ):
                    unmasked = payload
                    if key is not None and (record or opcode == 1):
                        unmasked = apply_mask(payload, key)
                    if opcode == 1:
                        try:
                            unmasked.decode()
                        except UnicodeDecodeError:
                            self._frame(frame, items)
                            continue
                    if record:
                        items.append(FrameReport(frame, unmasked, (), None, False))
                        self._message_opcode, self._compressed = opcode, False
                    messages += 1
                    message_bytes += length
                    continue
                self._frame(frame, items)
                quick = self._closed_at is None and not self._skipping
            parser = self._parser
            if (
                not record
                and quick
                and parser.buffered >= SKIP_PAYLOADS_FROM
                and parser.skipped_head is None
            ):
                self._skip_binary_payload()
        except PayloadTooBig as exc:
            self._stop(items, f"{exc.reason}: not decoded any further", exc.offset or 0)
        finally:
            stats.frames += frames
            stats.wire_bytes += wire
            stats.messages += messages
            stats.message_bytes += message_bytes
        return items

    def _skip_binary_payload(self) -> None:
        """Drop the payload of the large frame arriving if nothing would read it.

        That is a frame that will take the common path of :meth:`feed`: a
        whole BINARY message with a valid header (its checks need only the
        header), no fragmented message around it; not text (its UTF-8 is
        checked) nor a compressed or control frame.
        """
        parser = self._parser
        found = parser.partial()
        if found is None:
            return
        frame = found[0]
        if (
            frame.opcode == 2
            and frame.fin
            and not (frame.rsv1 or frame.rsv2 or frame.rsv3)
            and (frame.mask_key is not None) is (self.sender is Role.CLIENT)
            and frame.length_bits == _minimal_bits(frame.length)
            and not self._assembler.in_progress
        ):
            parser.skip_payload()

    def at_boundary(self, *, data_frame: bool) -> bool:
        """Whether a frame may be inserted into the stream here.

        Only between frames; a data frame also not inside a fragmented
        message (RFC 6455 §5.4: "control frames MAY be injected in the middle
        of a fragmented message", data frames may not).
        """
        if self.stopped or self._parser.buffered:
            return False
        return not (data_frame and self._assembler.in_progress)

    def in_progress(self) -> tuple[bytes, bool]:
        """The bytes of a frame cut short so far, and whether a fragmented message is open.

        What a proxy that starts holding this direction needs: where the next
        frame starts, and whether the next data frames continue a message.
        """
        parser = self._parser
        head = parser.skipped_head
        if head is not None:
            # A binary frame whose payload was counted, not kept: what is
            # needed of it is where it ends; the bytes that went read as zeros.
            return head + bytes(parser.buffered - len(head)), self._assembler.in_progress
        return parser.tail(parser.buffered), self._assembler.in_progress

    def finish(self) -> list[TapItem]:
        """The stream ended: a frame cut short, if any."""
        if self.stopped:
            return []
        cut = self._parser.incomplete
        return [] if cut is None else [Truncated(cut.offset, cut.have, cut.need)]

    # -- one frame --------------------------------------------------------------

    def _frame(self, frame: WireFrame, items: list[TapItem]) -> None:
        opcode = frame.opcode
        if opcode == _CLOSE or not header_ok(frame, self.sender, self._deflate):
            found = violations(frame, self.sender, deflate=self._deflate, check_utf8=False)
        else:
            found = []
        data = frame.data
        record = self.record_frames
        if opcode == 1 or opcode == 2:
            self._message_opcode, self._compressed = opcode, frame.rsv1
        if record:
            continuation = opcode == _CONTINUATION
            items.append(
                FrameReport(
                    frame,
                    data,
                    tuple(found),
                    self._message_opcode if continuation else None,
                    frame.rsv1 or (continuation and self._compressed),
                )
            )
        if found:
            self._count(found)
            if not record:
                items.extend(SequenceViolation(v) for v in found)
        if self._closed_at is not None:
            self._violation(items, _after_close(frame, self._closed_at))
        if opcode & 0x8:
            if opcode == _CLOSE:
                self._close(frame, data, items)
            return
        if opcode > 2:
            return
        self._data(frame, data, items)

    def _data(self, frame: WireFrame, data: bytes, items: list[TapItem]) -> None:
        to_assemble = frame
        if frame.opcode != _CONTINUATION:
            self._message_start = frame.offset
            self._skipping = False
            # Without a codec a compressed message cannot be read: its frames
            # are kept in sequence as opaque bytes.
            self._unreadable = frame.rsv1 and self._codec is None
            if self._unreadable:
                to_assemble = frame._replace(rsv1=False, opcode=Opcode.BINARY)
        elif self._skipping:
            self._skipping = not frame.fin  # the rest of a message given up on
            return
        result = self._assembler.add(to_assemble, data)
        if result is None:
            return
        if type(result) is MessageReceived:
            self._message(result, items)
        else:
            assert isinstance(result, Violation)
            self._violation(items, result)
            self._skipping = not frame.fin and result.rule not in _ORDER_RULES
            if result.rule == "inflate" and "limit" in result.message:
                self._stop(items, f"{result.message}: not decoded any further", result.offset)

    def _message(self, message: MessageReceived, items: list[TapItem]) -> None:
        stats = self.stats
        stats.messages += 1
        stats.message_bytes += len(message.data)
        if message.compressed:
            stats.compressed_messages += 1
            stats.compressed_bytes += message.wire_size
            stats.inflated_bytes += len(message.data)
        if (
            self.record_frames
            and not self._unreadable
            and (message.frames > 1 or message.compressed)
        ):
            items.append(MessageReport(message, self._message_start))

    def _close(self, frame: WireFrame, data: bytes, items: list[TapItem]) -> None:
        if self._closed_at is None:
            self._closed_at = frame.offset
        code, reason = parse_close_payload(data)
        seen = CloseSeen(code, reason.decode("utf-8", "replace"), frame.offset)
        if self.stats.close is None:
            self.stats.close = seen
        items.append(seen)

    def _violation(self, items: list[TapItem], violation: Violation) -> None:
        self._count((violation,))
        items.append(SequenceViolation(violation))

    def _count(self, found: tuple[Violation, ...] | list[Violation]) -> None:
        stats = self.stats
        stats.violations += len(found)
        for violation in found:
            if violation.rule not in stats.rules:
                stats.rules.append(violation.rule)

    def _stop(self, items: list[TapItem], reason: str, offset: int) -> None:
        self.stopped = True
        items.append(InspectionStopped(reason, offset))


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


@dataclass(frozen=True)
class RelaySummary:
    """A proxied connection, once both of its TCP connections are gone.

    Attributes:
        client: the client's address.
        upstream: the upstream it was relayed to.
        upgraded: whether the upstream answered 101.
        seconds: from the client's connect to the last close.
        cause: how it ended, in a few words.
        to_server: what the client sent after the 101 (None without one).
        to_client: what the server sent after the 101 (None without one).
    """

    client: str
    upstream: str
    upgraded: bool
    seconds: float
    cause: str
    to_server: DirectionStats | None
    to_client: DirectionStats | None
