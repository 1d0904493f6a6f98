"""Frames as they are on the wire (RFC 6455 §5): parse, encode, forge.

A :class:`WireFrame` keeps every bit a peer sent, valid or not: FIN, the three
RSV bits, the opcode as a plain int, the MASK bit and key, the length encoding
used and the payload as on the wire. Parsing is lenient about values and
strict about structure: a frame comes back whenever its bytes are complete,
and :func:`~wstool.core.rules.violations` lists separately what breaks the RFC
(the rules live in :mod:`wstool.core.rules`; their names are importable from
here too). Encoding writes well-formed frames; :func:`forge_frame` writes any
bits exactly as asked.
"""

from __future__ import annotations

import enum
import itertools
import struct
from collections.abc import Iterator
from typing import NamedTuple, cast

from wstool.core.errors import PayloadTooBig
from wstool.core.masking import apply_mask

__all__ = [
    "CloseCode",
    "FrameParser",
    "Opcode",
    "Role",
    "Violation",
    "WireFrame",
    "close_code_name",
    "control_ok",
    "encode_frame",
    "encode_header",
    "forge_frame",
    "frame_at",
    "header_ok",
    "header_size",
    "is_valid_close_code",
    "length_ok",
    "mask_ok",
    "minimal_length_bits",
    "opcode_name",
    "opcode_ok",
    "parse_close_payload",
    "payload_length",
    "reserved_bits_ok",
    "text_not_utf8",
    "violations",
    "wire_header",
]


class Opcode(enum.IntEnum):
    """The opcodes RFC 6455 §5.2 defines; other values stay plain ints."""

    CONTINUATION = 0x0
    TEXT = 0x1
    BINARY = 0x2
    CLOSE = 0x8
    PING = 0x9
    PONG = 0xA


class CloseCode(enum.IntEnum):
    """Close codes of RFC 6455 §7.4.1 and the IANA registry."""

    NORMAL_CLOSURE = 1000
    GOING_AWAY = 1001
    PROTOCOL_ERROR = 1002
    UNSUPPORTED_DATA = 1003
    NO_STATUS_RCVD = 1005
    ABNORMAL_CLOSURE = 1006
    INVALID_FRAME_PAYLOAD_DATA = 1007
    POLICY_VIOLATION = 1008
    MESSAGE_TOO_BIG = 1009
    MANDATORY_EXTENSION = 1010
    INTERNAL_ERROR = 1011
    SERVICE_RESTART = 1012
    TRY_AGAIN_LATER = 1013
    BAD_GATEWAY = 1014
    TLS_HANDSHAKE = 1015


class Role(enum.Enum):
    """Which end of a connection sent a frame, or which end we are."""

    CLIENT = "client"
    SERVER = "server"

    @property
    def peer(self) -> Role:
        """The other end."""
        return Role.SERVER if self is Role.CLIENT else Role.CLIENT


_OPCODE_NAMES = {op.value: op.name for op in Opcode}
_CLOSE_CODE_NAMES = {code.value: code.name for code in CloseCode}


def opcode_name(opcode: int) -> str:
    """The RFC name of an opcode, or a description of a reserved one."""
    name = _OPCODE_NAMES.get(opcode)
    if name is not None:
        return name
    kind = "control" if opcode & 0x8 else "non-control"
    return f"RESERVED_{kind.upper().replace('-', '_')}_0x{opcode:X}"


def close_code_name(code: int) -> str:
    """The name of a close code, or the range it falls in."""
    name = _CLOSE_CODE_NAMES.get(code)
    if name is not None:
        return name
    if code < 1000:
        return "UNUSED"
    if code < 3000:
        return "RESERVED"
    if code < 4000:
        return "REGISTERED"
    if code < 5000:
        return "PRIVATE"
    return "OUT_OF_RANGE"


class WireFrame(NamedTuple):
    """One frame exactly as it was on the wire, valid or not.

    A NamedTuple rather than a dataclass: it is immutable, and building one
    is the innermost step of parsing, where it is several times cheaper.
    """

    fin: bool
    rsv1: bool
    rsv2: bool
    rsv3: bool
    opcode: int
    mask_key: bytes | None
    length: int
    """The payload length the header declares."""
    length_bits: int
    """The length encoding used: 7, 16 or 64 bits."""
    payload: bytes
    """The payload as on the wire: masked if ``mask_key`` is set."""
    offset: int = 0
    """Byte offset of the frame's first byte in its stream."""

    @property
    def masked(self) -> bool:
        """Whether the MASK bit is set."""
        return self.mask_key is not None

    @property
    def data(self) -> bytes:
        """The payload unmasked."""
        key = self.mask_key
        return self.payload if key is None else apply_mask(self.payload, key)

    @property
    def is_control(self) -> bool:
        """Whether the opcode is a control opcode (its high bit set, §5.5)."""
        return bool(self.opcode & 0x8)

    @property
    def header_size(self) -> int:
        """Bytes before the payload: 2, plus 2 or 8 for the length, plus 4 for a key."""
        extra = {7: 0, 16: 2, 64: 8}[self.length_bits]
        return 2 + extra + (4 if self.mask_key is not None else 0)

    @property
    def size(self) -> int:
        """Bytes the whole frame takes on the wire."""
        return self.header_size + self.length

    @property
    def rsv(self) -> tuple[bool, bool, bool]:
        """The three reserved bits."""
        return (self.rsv1, self.rsv2, self.rsv3)

    @property
    def opcode_name(self) -> str:
        """The opcode's RFC name."""
        return opcode_name(self.opcode)

    def to_bytes(self) -> bytes:
        """The frame's bytes, exactly as parsed."""
        return forge_frame(
            opcode=self.opcode,
            payload=self.payload,
            fin=self.fin,
            rsv1=self.rsv1,
            rsv2=self.rsv2,
            rsv3=self.rsv3,
            mask_key=self.mask_key,
            length=self.length,
            length_bits=self.length_bits,
            mask_payload=False,
        )


_MAX_HEADER = 14  # 2 + 8 bytes of length + 4 of mask key


class _Incomplete(NamedTuple):
    offset: int
    have: int
    need: int | None


class FrameParser:
    """Incremental frame parser: bytes in any chunking -> the same frames.

    Args:
        max_frame_size: the largest payload length accepted; a header that
            declares more raises :class:`PayloadTooBig` before any of the
            payload is buffered. ``None`` accepts any length (for dumps).
        offset: the stream offset of the first byte fed, for reports.
    """

    __slots__ = (
        "_chunks",
        "_have",
        "_need",
        "_offset",
        "_skip_frame",
        "_skip_have",
        "_skip_head",
        "_skip_left",
        "max_frame_size",
    )

    def __init__(self, *, max_frame_size: int | None = None, offset: int = 0) -> None:
        self.max_frame_size = max_frame_size
        self._chunks: list[bytes] = []  # memoryviews too, between hold() and feed()
        self._have = 0
        # Bytes needed before parsing can make progress: a frame header is at
        # least 2 bytes. Until then, chunks are only collected, so a 16 MiB
        # frame dribbled in small reads costs one join, not a quadratic copy.
        self._need = 2
        self._offset = offset
        # A frame whose payload is counted, not kept (skip_payload): the
        # frame, its header's bytes, the bytes of it seen and still to come.
        self._skip_frame: WireFrame | None = None
        self._skip_head = b""
        self._skip_have = 0
        self._skip_left = 0

    @property
    def buffered(self) -> int:
        """Bytes received but not yet part of a complete frame."""
        return self._have + self._skip_have

    @property
    def skipped_head(self) -> bytes | None:
        """The header of the frame whose payload is being skipped, if one is."""
        return self._skip_head if self._skip_frame is not None else None

    @property
    def incomplete(self) -> _Incomplete | None:
        """The partial frame at the end of the input, if any.

        ``need`` is the frame's total size when its header is complete, else
        ``None`` (the header itself is cut short).
        """
        if self._skip_frame is not None:
            have = self._skip_have
            return _Incomplete(self._offset, have, have + self._skip_left)
        if not self._have:
            return None
        buf = b"".join(self._chunks)
        total = _frame_size(buf, 0)
        return _Incomplete(self._offset, self._have, total)

    def partial(self) -> tuple[WireFrame, int] | None:
        """The frame being received, once its header is complete and before its end.

        For checks that need not wait for the whole payload (the UTF-8 of
        text, RFC 6455 §8.1). Costs the header's bytes, not the payload's.

        Returns:
            The frame with an empty ``payload`` (every header field set, the
            declared ``length`` too) and how many payload bytes are buffered;
            None when no frame is cut short or its header is.
        """
        if self._skip_frame is not None:
            return self._skip_frame, self._skip_have - len(self._skip_head)
        self._own()
        have = self._have
        if have < 2:
            return None
        chunks = self._chunks
        head = chunks[0]
        if len(head) < _MAX_HEADER and len(chunks) > 1:
            parts: list[bytes] = []
            size = 0
            for chunk in chunks:
                parts.append(chunk)
                size += len(chunk)
                if size >= _MAX_HEADER:
                    break
            head = b"".join(parts)
        found = _header_at(head, 0)
        if found is None:
            return None
        length, start, bits = found
        key = head[start - 4 : start] if head[1] & 0x80 else None
        if len(head) < start or have - start >= length:
            return None
        b0 = head[0]
        fin, rsv1, rsv2, rsv3 = (bool(b0 & bit) for bit in (0x80, 0x40, 0x20, 0x10))
        frame = WireFrame(fin, rsv1, rsv2, rsv3, b0 & 0x0F, key, length, bits, b"", self._offset)
        return frame, have - start

    def completes(self, size: int) -> bool:
        """Whether ``size`` more bytes complete the frame (or header) buffered.

        Until then a caller that parses reads itself leaves them to the parser,
        which only collects them: a large frame dribbled in is joined once.
        """
        return self._skip_frame is None and self._have + size >= self._need

    def take_chunks(self) -> list[bytes | memoryview]:
        """The bytes buffered, in the pieces they came in, for a caller that parses
        them itself (with the read that :meth:`completes` them); none stay buffered."""
        assert self._skip_frame is None, "not while a payload is skipped"
        chunks, self._chunks = self._chunks, []
        self._have, self._need = 0, 2
        return cast("list[bytes | memoryview]", chunks)

    def hold(self, parts: list[bytes | memoryview]) -> bool:
        """Keep ``parts`` (nothing buffered) if they start a frame not all there.

        The pieces may be views into a larger read: they are kept as they are,
        not copied, and joined once when the frame is complete.

        Returns:
            False, keeping nothing, when a whole frame is there to parse, its
            header is cut short or it declares more than ``max_frame_size``.
        """
        head = b"".join(parts)[:_MAX_HEADER] if len(parts[0]) < _MAX_HEADER else parts[0]
        have = sum(len(part) for part in parts)
        found = _header_at(head, 0)
        limit = self.max_frame_size
        if found is None or (limit is not None and found[0] > limit):
            return False  # for feed(), which waits for the header or raises at once
        need = found[1] + found[0]
        if have >= need:
            return False
        self._chunks = parts  # type: ignore[assignment]  # views until _own()
        self._have, self._need = have, need
        return True

    def _own(self) -> None:
        """Views kept by :meth:`hold` become bytes before the general path reads them."""
        chunks = self._chunks
        if chunks and not isinstance(chunks[0], bytes):
            self._chunks = [bytes(chunk) for chunk in chunks]

    def advance(self, size: int) -> None:
        """Count ``size`` bytes of whole frames read without the parser (nothing
        buffered), so the offsets of the frames after them stay right."""
        assert not self._have and not self._skip_have, "advance() between frames only"
        self._offset += size

    def skip_payload(self) -> bool:
        """Count the payload of the frame being received instead of keeping it.

        For a reader that needs a large frame's header but not its bytes (a
        quiet relay's tap): the payload bytes buffered so far and those still
        to come are dropped as they arrive, and the frame is yielded with an
        empty ``payload`` (``length`` as declared) once its last byte is in.
        Meanwhile :attr:`buffered`, :attr:`incomplete` and :meth:`partial`
        count the dropped bytes; :attr:`skipped_head` has the header's bytes.

        Returns:
            Whether it applies: only while a frame's header is complete and
            its end has not arrived (as for :meth:`partial`).
        """
        found = self.partial() if self._skip_frame is None else None
        if found is None:
            return False
        frame, payload_have = found
        head_size = self._have - payload_have
        self._skip_head = self._head_bytes(head_size)
        self._skip_frame = frame
        self._skip_have = self._have
        self._skip_left = frame.length - payload_have
        self._chunks.clear()
        self._have = 0
        return True

    def _head_bytes(self, size: int) -> bytes:
        parts: list[bytes] = []
        for chunk in self._chunks:
            parts.append(chunk[:size])
            size -= len(parts[-1])
            if not size:
                break
        return b"".join(parts)

    def _skip(self, data: bytes) -> Iterator[WireFrame]:
        left = self._skip_left
        if len(data) < left:
            self._skip_left = left - len(data)
            self._skip_have += len(data)
            return iter(())
        frame = self._skip_frame
        assert frame is not None
        self._offset += self._skip_have + left
        self._skip_frame, self._skip_head, self._skip_have, self._skip_left = None, b"", 0, 0
        self._need = 2
        return itertools.chain((frame,), self.feed(data[left:]))

    def tail(self, size: int) -> bytes:
        """The last ``size`` bytes buffered (at most :attr:`buffered`), joined.

        While a payload is skipped (:meth:`skip_payload`) its bytes are not
        here: see :attr:`skipped_head`.
        """
        chunks = self._chunks
        parts: list[bytes] = []
        index = len(chunks)
        while size > 0 and index:
            index -= 1
            chunk = chunks[index]
            if len(chunk) >= size:
                parts.append(chunk[len(chunk) - size :])
                break
            parts.append(chunk)
            size -= len(chunk)
        return parts[0] if len(parts) == 1 else b"".join(reversed(parts))

    def feed(self, data: bytes) -> Iterator[WireFrame]:
        """Add ``data`` and iterate over the frames it completes, in order.

        Raises:
            PayloadTooBig: when a header declares more than ``max_frame_size``;
                the frames before it have been yielded already.
        """
        if self._skip_left:
            return self._skip(data)
        self.keep(data)
        if self._have < self._need:
            return iter(())
        return self._parse()

    def keep(self, data: bytes) -> None:
        """Add ``data`` without parsing it: the next :meth:`feed` (``b""`` will do)
        parses it with the rest."""
        if self._skip_left:
            raise ValueError("keep() while a payload is being skipped")
        chunks = self._chunks
        if chunks and type(chunks[0]) is not bytes:  # views held by hold()
            self._own()
        if data:
            self._chunks.append(bytes(data))
            self._have += len(data)

    def _parse(self) -> Iterator[WireFrame]:
        chunks = self._chunks
        if len(chunks) > 1 and len(chunks[0]) >= _MAX_HEADER:
            # A large frame that arrived in many reads: join only its payload,
            # not the whole buffer (and then slice it out again).
            frame = self._spanning()
            if frame is not None:
                yield frame
                if self._have < self._need:
                    return
        buf = chunks[0] if len(chunks) == 1 else b"".join(chunks)
        chunks.clear()
        self._have = 0
        end = len(buf)
        limit = self.max_frame_size
        pos = 0
        base = self._offset
        unpack_from = struct.unpack_from
        new_tuple = tuple.__new__
        need = 2
        try:
            while end - pos >= 2:
                b0 = buf[pos]
                b1 = buf[pos + 1]
                length = b1 & 0x7F
                start = pos + 2
                if length == 126:
                    start += 2
                    if start > end:
                        need = start - pos
                        break
                    (length,) = unpack_from("!H", buf, pos + 2)
                    bits = 16
                elif length == 127:
                    start += 8
                    if start > end:
                        need = start - pos
                        break
                    (length,) = unpack_from("!Q", buf, pos + 2)
                    bits = 64
                else:
                    bits = 7
                # Check the limit as soon as the length is known, before
                # buffering any of the payload.
                if limit is not None and length > limit:
                    raise PayloadTooBig(
                        f"frame payload of {length} bytes is over the limit of {limit}",
                        offset=base + pos,
                    )
                if b1 & 0x80:
                    key = buf[start : start + 4]
                    start += 4
                else:
                    key = None
                stop = start + length
                if stop > end:
                    need = stop - pos
                    break
                # tuple.__new__ with the fields in order is what
                # WireFrame(...) does, without its Python-level __new__:
                # half the cost of the innermost step.
                frame = new_tuple(
                    WireFrame,
                    (
                        bool(b0 & 0x80),
                        bool(b0 & 0x40),
                        bool(b0 & 0x20),
                        bool(b0 & 0x10),
                        b0 & 0x0F,
                        key,
                        length,
                        bits,
                        buf[start:stop],
                        base + pos,
                    ),
                )
                # Advance before yielding, so a consumer that stops early
                # (a failed connection) leaves the parser consistent.
                pos = stop
                yield frame
        finally:
            if pos < end:
                rest = buf[pos:]
                self._chunks.append(rest)
                self._have = len(rest)
            self._offset = base + pos
            self._need = need if pos < end else 2

    def _spanning(self) -> WireFrame | None:
        """The first frame, if it starts in the first chunk and ends in a later one."""
        chunks = self._chunks
        first = chunks[0]
        b0 = first[0]
        length, start, bits = _header_at(first, 0) or (0, 0, 0)  # whole: _MAX_HEADER bytes
        limit = self.max_frame_size
        if limit is not None and length > limit:
            return None  # the general path raises, at the right offset
        key = first[start - 4 : start] if first[1] & 0x80 else None
        stop = start + length
        if stop <= len(first) or stop > self._have:
            return None
        parts = [first[start:]]
        used = 1
        remaining = stop - len(first)
        while remaining > len(chunks[used]):
            parts.append(chunks[used])
            remaining -= len(chunks[used])
            used += 1
        last = chunks[used]
        parts.append(last[:remaining])
        rest = last[remaining:]
        del chunks[: used + 1]
        if rest:
            chunks.insert(0, rest)
        pos = self._offset
        self._offset = pos + stop
        self._have -= stop
        self._need = 2
        return tuple.__new__(
            WireFrame,
            (
                bool(b0 & 0x80),
                bool(b0 & 0x40),
                bool(b0 & 0x20),
                bool(b0 & 0x10),
                b0 & 0x0F,
                key,
                length,
                bits,
                b"".join(parts),
                pos,
            ),
        )


def _header_at(buf: bytes | memoryview, pos: int) -> tuple[int, int, int] | None:
    """The frame header at ``pos``: its payload's length and start, and the length's
    bits (7, 16 or 64); None while the length is cut short. The start counts the
    mask key, which may not all be there yet."""
    if len(buf) - pos < 2:
        return None
    b1 = buf[pos + 1]
    length = b1 & 0x7F
    start, bits = pos + 2, 7
    if length == 126:
        if len(buf) - pos < 4:
            return None
        (length,) = struct.unpack_from("!H", buf, pos + 2)
        start, bits = pos + 4, 16
    elif length == 127:
        if len(buf) - pos < 10:
            return None
        (length,) = struct.unpack_from("!Q", buf, pos + 2)
        start, bits = pos + 10, 64
    return length, start + (4 if b1 & 0x80 else 0), bits


def _frame_size(buf: bytes, pos: int) -> int | None:
    """Total size of the frame starting at ``pos``, or None if its header is cut."""
    found = _header_at(buf, pos)
    return None if found is None else found[1] - pos + found[0]


def frame_at(buf: bytes, pos: int = 0) -> tuple[WireFrame, int] | None:
    """The whole frame that starts at ``pos`` and its size, or None if it is not all there.

    For readers that take one frame at a time out of a buffer they keep (a session's
    bytes, a recorder's stream); :class:`FrameParser` is the incremental reader.
    """
    size = _frame_size(buf, pos)
    if size is None or len(buf) - pos < size:
        return None
    frame = next(iter(FrameParser().feed(buf[pos : pos + size])))
    return frame, size


def minimal_length_bits(length: int) -> int:
    """The fewest bits that encode a payload length: 7, 16 or 64 (RFC 6455 §5.2)."""
    if length < 126:
        return 7
    if length < 0x10000:
        return 16
    return 64


def parse_close_payload(data: bytes) -> tuple[int | None, bytes]:
    """Split a Close payload into its code (None when absent) and raw reason bytes."""
    if len(data) < 2:
        return None, b""
    return int.from_bytes(data[:2], "big"), data[2:]


# The encoders and the rules a frame is judged by build on the types above, so
# they are imported last; callers of this module find them here as well as in
# wstool.core.encode and wstool.core.rules.
from wstool.core.encode import encode_frame, encode_header, forge_frame, wire_header  # noqa: E402
from wstool.core.rules import (  # noqa: E402
    Violation,
    control_ok,
    header_ok,
    is_valid_close_code,
    length_ok,
    mask_ok,
    opcode_ok,
    reserved_bits_ok,
    text_not_utf8,
    violations,
)


def header_size(data: bytes) -> int | None:
    """The size of the frame header at the start of ``data`` (length field and mask
    key included), or None while its first two bytes are not all there."""
    if len(data) < 2:
        return None
    code = data[1] & 0x7F
    extra = 2 if code == 126 else 8 if code == 127 else 0
    return 2 + extra + (4 if data[1] & 0x80 else 0)


def payload_length(header: bytes) -> int:
    """The payload length a whole frame header announces (RFC 6455 §5.2)."""
    code = header[1] & 0x7F
    if code == 126:
        return int.from_bytes(header[2:4], "big")
    if code == 127:
        return int.from_bytes(header[2:10], "big")
    return code
