"""Frames -> messages: the rules that span frames (RFC 6455 §5.4, §8.1, §7.4.1).

:class:`MessageAssembler` is shared by the live connection
(:mod:`wstool.core.connection`) and every reader of recorded or relayed
traffic (taps, captures, session files), so a message is judged alike wherever
it is seen.
"""

from __future__ import annotations

from typing import Protocol

from wstool.core.errors import ProtocolError, UsageError
from wstool.core.events import MessageReceived
from wstool.core.frames import Opcode, WireFrame
from wstool.core.rules import Utf8Decoder, Violation, text_not_utf8

__all__ = ["MessageAssembler", "MessageCodec"]


class MessageCodec(Protocol):
    """What the connection needs of a per-message compression extension."""

    def compress(self, data: bytes) -> bytes:
        """One whole message -> the payload of a frame with RSV1 set."""
        ...

    def decompress_fragment(self, payload: bytes, *, final: bool) -> bytes:
        """Inflate the next frame's payload of a compressed message."""
        ...


_NO_PARTS: list[bytes] = []
_NO_TEXT: list[str] = []


class MessageAssembler:
    """Frames -> messages, with the rules that span frames (RFC 6455 §5.4, §8.1).

    Checks the order of fragments, the UTF-8 of text as it arrives (failing at
    the first invalid byte, not at the end of the message), message size, and
    inflates compressed messages.

    Args:
        max_message_size: the largest message, in payload bytes on the wire
            and after inflating; ``None`` for no limit.
        codec: the negotiated compression, if any.
    """

    def __init__(
        self, *, max_message_size: int | None = None, codec: MessageCodec | None = None
    ) -> None:
        self.max_message_size = max_message_size
        self.codec = codec
        self._opcode: int | None = None  # of the message in progress
        # Idle connections share these empty lists: _start() gives a message
        # its own before anything is appended (an open server holds
        # thousands of connections, most of them between messages).
        self._parts: list[bytes] = _NO_PARTS
        self._size = 0
        self._wire_size = 0
        self._frames = 0
        self._compressed = False
        self._text: list[str] = _NO_TEXT
        self._utf8: Utf8Decoder | None = None

    @property
    def in_progress(self) -> bool:
        """Whether a fragmented message has started and not yet finished."""
        return self._opcode is not None

    def add(
        self,
        frame: WireFrame,
        data: bytes,
        text: str | None = None,
        decoder: Utf8Decoder | None = None,
    ) -> MessageReceived | Violation | None:
        """Take a data frame (TEXT, BINARY or CONTINUATION) with its unmasked payload.

        Args:
            frame: the frame.
            data: its payload, unmasked.
            text: the payload's text when the caller decoded it already (a
                frame checked as it arrived, :class:`PartialText`); None to
                decode it here.
            decoder: the decoder that gave ``text``, in its state after the
                frame: a copy of this message's, or a new one for a TEXT frame.

        Returns:
            The message this frame finished, or the first rule it broke (the
            assembler then starts over), or ``None`` while a message goes on.
        """
        opcode = frame.opcode
        if opcode == Opcode.CONTINUATION:
            if self._opcode is None:
                return self._reset(
                    "continuation-unexpected",
                    "continuation frame with no message to continue",
                    "RFC 6455 §5.4",
                    1002,
                    frame.offset,
                )
        elif self._opcode is not None:
            return self._reset(
                "fragment-interleaved",
                f"new {Opcode(opcode).name} message before the fragmented one finished",
                "RFC 6455 §5.4",
                1002,
                frame.offset,
            )
        elif frame.fin and not frame.rsv1:
            return self.single(frame, data, text)
        else:
            self._start(frame)
        return self._more(frame, data, text, decoder)

    def single(
        self, frame: WireFrame, data: bytes, text: str | None = None
    ) -> MessageReceived | Violation:
        """The common case: one final uncompressed frame is the whole message.

        Only valid while no fragmented message is in progress. ``text`` is
        the payload's text if the caller decoded it already.
        """
        limit = self.max_message_size
        if limit is not None and len(data) > limit:
            return _too_big(len(data), limit, frame.offset)
        if frame.opcode != Opcode.TEXT:
            text = None
        elif text is None:
            try:
                text = data.decode("utf-8")
            except UnicodeDecodeError as exc:
                return text_not_utf8(frame, exc.start)
        return MessageReceived(frame.opcode, data, text, 1, len(data), False)

    def _start(self, frame: WireFrame) -> None:
        self._opcode = frame.opcode
        self._compressed = frame.rsv1
        self._parts = []
        self._text = []
        self._size = self._wire_size = self._frames = 0
        if frame.opcode == Opcode.TEXT:
            self._utf8 = Utf8Decoder()
        else:
            self._utf8 = None

    def _more(
        self, frame: WireFrame, data: bytes, text: str | None, decoder: Utf8Decoder | None
    ) -> MessageReceived | Violation | None:
        self._frames += 1
        self._wire_size += len(data)
        limit = self.max_message_size
        if limit is not None and self._wire_size > limit:
            self._opcode = None
            return _too_big(self._wire_size, limit, frame.offset)
        if self._compressed:
            if self.codec is None:  # RSV1 without deflate is caught by violations()
                raise UsageError("compressed frame without a codec")
            try:
                data = self.codec.decompress_fragment(data, final=frame.fin)
            except ProtocolError as exc:
                return self._reset("inflate", exc.reason, exc.section, exc.close_code, frame.offset)
        start = self._size
        self._size += len(data)
        if limit is not None and self._size > limit:
            self._opcode = None
            return _too_big(self._size, limit, frame.offset)
        self._parts.append(data)
        if self._utf8 is not None:
            if text is not None and decoder is not None:  # decoded as it arrived
                self._utf8 = decoder
                self._text.append(text)
            else:
                # A sequence begun in an earlier frame is blamed on this
                # frame's byte that broke it.
                try:
                    self._text.append(self._utf8.decode(data, frame.fin))
                except UnicodeDecodeError as exc:
                    return self._text_fault(frame, start, exc.start)
        if not frame.fin:
            return None
        self._opcode = None
        message = b"".join(self._parts)
        text = "".join(self._text) if self._utf8 is not None else None
        self._parts, self._text = _NO_PARTS, _NO_TEXT
        opcode = 1 if text is not None else 2
        return MessageReceived(
            opcode, message, text, self._frames, self._wire_size, self._compressed
        )

    def _text_fault(self, frame: WireFrame, start: int, index: int) -> Violation:
        where = frame.offset + frame.header_size + index if not self._compressed else frame.offset
        self._opcode = None
        return Violation(
            "text-utf8",
            f"text is not UTF-8 at message byte {start + index}",
            "RFC 6455 §8.1",
            1007,
            where,
        )

    def _reset(self, rule: str, message: str, section: str, code: int, offset: int) -> Violation:
        self._opcode = None
        self._parts, self._text = _NO_PARTS, _NO_TEXT
        return Violation(rule, message, section, code, offset)


def _too_big(size: int, limit: int, offset: int) -> Violation:
    return Violation(
        "message-too-big",
        f"message of {size} bytes or more is over the limit of {limit}",
        "RFC 6455 §7.4.1",
        1009,
        offset,
    )
