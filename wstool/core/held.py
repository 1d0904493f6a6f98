"""What a proxy holds back in one direction, cut into messages that can be dropped or edited.

While the prompt holds a direction (``/hold``), its bytes go into a
:class:`HeldQueue` instead of to the receiver. The queue parses them into
frames on its own and groups data frames into messages, each complete one
numbered (by a counter the caller shares, so a number names one message
across all connections). On release everything comes out in order, byte
for byte as it came, except:

* a dropped message leaves out its frames (control frames sent between its
  fragments stay, in their places);
* an edited message is one new frame in place of its last one.

A frame cut short when holding began (its start already went on) and the
rest of a message begun before it are passed on but never numbered; bytes
written into the queue by the proxy itself (an injected frame) are kept
in their place and never parsed. A frame over ``max_frame_size`` ends the
parsing: from there on the bytes are only kept.

Whether dropping or editing a message is safe for the receiver (a
compressed message in a context-takeover session is not) is the caller's
to decide: :attr:`HeldMessage.compressed` tells which messages are.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from wstool.core.errors import PayloadTooBig, UsageError
from wstool.core.frames import FrameParser, Role, WireFrame, encode_frame
from wstool.core.masking import apply_mask

__all__ = ["HeldMessage", "HeldQueue", "held_record"]

_DEFAULT_MAX_FRAME = 64 * 2**20


@dataclass
class HeldMessage:
    """One complete held message (or control frame).

    Attributes:
        number: its number, for ``/drop N`` and ``/edit N``.
        opcode: the opcode of its first frame.
        frames: how many frames it came in.
        wire_size: its frames' bytes, headers included.
        compressed: RSV1 on its first frame (permessage-deflate).
        payload: its payload unmasked, as sent (compressed when compressed), or
            as edited.
        dropped: left out on release.
        replacement: the frame sent in its place on release, if edited.
    """

    number: int
    opcode: int
    frames: int = 0
    wire_size: int = 0
    compressed: bool = False
    payload: bytes = b""
    dropped: bool = False
    replacement: bytes | None = None
    _parts: list[bytes] = field(default_factory=list, repr=False)
    _last: _Piece | None = field(default=None, repr=False)


@dataclass
class _Piece:
    """A stretch of the output: a held frame (of a message, or not numbered) or inserted bytes."""

    data: bytes
    message: HeldMessage | None = None
    last: bool = False


class HeldQueue:
    """One held direction.

    Args:
        sender: who sends these bytes (client frames are masked).
        next_number: gives each complete message its number.
        sent_prefix: the bytes of a frame cut short that already went on
            before holding began (its remainder starts the held bytes).
        in_message: a fragmented message was open when holding began (its
            remaining frames are not numbered).
        parse: False when the direction cannot be followed any more (its
            decoding stopped): bytes are only kept.
        max_frame_size: frames larger than this end the parsing.
    """

    def __init__(
        self,
        sender: Role,
        *,
        next_number: Callable[[], int],
        sent_prefix: bytes = b"",
        in_message: bool = False,
        parse: bool = True,
        max_frame_size: int = _DEFAULT_MAX_FRAME,
    ) -> None:
        self.sender = sender
        self._next_number = next_number
        self._parser = FrameParser(max_frame_size=max_frame_size, offset=-len(sent_prefix))
        if sent_prefix:
            for _ in self._parser.feed(sent_prefix):
                raise AssertionError("sent_prefix must not hold a whole frame")
        self._buffer = bytearray()
        self._parsed = 0
        """Where in ``_buffer`` the frames parsed so far end."""
        self._pieces: list[_Piece] = []
        self._open: HeldMessage | None = None
        self._continuing = in_message
        self._parsing = parse
        self._inserted = 0
        self.started_clean = not sent_prefix
        """Holding began between two frames (nothing of a frame had gone on)."""
        self.messages: list[HeldMessage] = []
        """Complete messages, in the order they completed (dropped ones too)."""

    @property
    def size(self) -> int:
        """Bytes held, inserted ones included."""
        return len(self._buffer) + self._inserted

    def feed(self, data: bytes) -> list[HeldMessage]:
        """Hold the sender's next bytes; return the messages they complete."""
        self._buffer += data
        if not self._parsing:
            return []
        done: list[HeldMessage] = []
        try:
            for frame in self._parser.feed(data):
                self._frame(frame, done)
        except PayloadTooBig:
            self._parsing = False
        return done

    def insert(self, data: bytes) -> None:
        """Bytes of the proxy's own (an injected frame), between two held frames."""
        self._flush_unparsed()
        self._pieces.append(_Piece(data))
        self._inserted += len(data)

    def find(self, number: int) -> HeldMessage | None:
        """The held message with this number, unless dropped."""
        for message in self.messages:
            if message.number == number and not message.dropped:
                return message
        return None

    def drop(self, number: int) -> HeldMessage:
        """Leave message ``number`` out on release.

        Raises:
            UsageError: no such message held here.
        """
        message = self._get(number)
        message.dropped = True
        return message

    def edit(self, number: int, payload: bytes, mask_key: bytes | None) -> HeldMessage:
        """Send ``payload`` in place of message ``number``, in one uncompressed frame.

        Raises:
            UsageError: no such message held here, or a control frame over 125 bytes.
        """
        message = self._get(number)
        opcode = message.opcode
        message.replacement = encode_frame(opcode, payload, mask_key=mask_key)
        message.payload, message.compressed = payload, False  # what goes out now
        return message

    def release(self) -> bytes:
        """Everything held, in order, with the drops and edits; the queue is then empty."""
        self._flush_unparsed(everything=True)
        out = []
        for piece in self._pieces:
            message = piece.message
            if message is None or not (message.dropped or message.replacement is not None):
                out.append(piece.data)
            elif message.replacement is not None and piece.last and not message.dropped:
                out.append(message.replacement)
        self._pieces = []
        self._buffer = bytearray()
        self._parsed = 0
        self._inserted = 0
        return b"".join(out)

    # -- helpers ---------------------------------------------------------------------

    def _get(self, number: int) -> HeldMessage:
        message = self.find(number)
        if message is None:
            raise UsageError(f"no held message {number} (see /held)")
        return message

    def _flush_unparsed(self, *, everything: bool = False) -> None:
        """Bytes held but not part of a parsed frame become a piece (before an insert)."""
        end = len(self._buffer) if everything or not self._parsing else self._parsed
        if end > self._parsed:
            self._pieces.append(_Piece(bytes(self._buffer[self._parsed : end])))
            self._parsed = end

    def _frame(self, frame: WireFrame, done: list[HeldMessage]) -> None:
        start = max(frame.offset, 0)
        end = frame.offset + frame.size
        self._parsed = end
        piece = _Piece(bytes(self._buffer[start:end]))
        self._pieces.append(piece)
        whole = frame.offset >= 0
        opcode = frame.opcode
        if opcode & 0x8:
            if whole:
                message = self._start(frame)
                self._add(message, frame, piece, done)
            return
        if opcode != 0:
            if self._open is not None:
                # A new message before the last one ended (a broken stream):
                # the cut one counts as it is.
                self._complete(self._open, done)
            self._continuing = False
            if not whole:
                self._continuing = not frame.fin
                return
            self._open = self._start(frame)
        elif self._open is None:
            if self._continuing or not whole:
                self._continuing = not frame.fin
                return
            self._open = self._start(frame)  # a continuation with nothing to continue
        self._add(self._open, frame, piece, done)

    def _start(self, frame: WireFrame) -> HeldMessage:
        return HeldMessage(number=0, opcode=frame.opcode, compressed=frame.rsv1)

    def _add(
        self, message: HeldMessage, frame: WireFrame, piece: _Piece, done: list[HeldMessage]
    ) -> None:
        piece.message = message
        message._last = piece
        message.frames += 1
        message.wire_size += frame.size
        payload = frame.payload
        if frame.mask_key is not None:
            payload = apply_mask(payload, frame.mask_key)
        message._parts.append(payload)
        if frame.fin or frame.opcode & 0x8:
            self._complete(message, done)

    def _complete(self, message: HeldMessage, done: list[HeldMessage]) -> None:
        if message is self._open:
            self._open = None
        if message._last is not None:
            message._last.last = True
            message._last = None
        message.payload = b"".join(message._parts)
        message._parts = []
        message.number = self._next_number()
        self.messages.append(message)
        done.append(message)


def held_record(conn_id: int, toward: Role, message: HeldMessage) -> dict[str, Any]:
    """One held message as the prompt shows it."""
    return {
        "number": message.number,
        "conn": conn_id,
        "toward": toward,
        "opcode": message.opcode,
        "frames": message.frames,
        "compressed": message.compressed,
        "payload": message.payload,
        "edited": message.replacement is not None,
    }
