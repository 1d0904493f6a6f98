"""The rules of RFC 6455 (and RFC 7692) a frame is judged by: one named check per rule.

Each rule is one function here, and both users call the same ones: the
connection's receive paths (:mod:`wstool.core.connection`), which skip the
full report for frames that pass :func:`header_ok`, and :func:`violations`,
which lists every rule a frame breaks as :class:`Violation` records for the
decoder, the inspector and the reports. The UTF-8 of text (RFC 6455 §8.1) is
checked by :class:`Utf8Decoder` as the bytes arrive, also inside one frame
(:class:`PartialText`).

The frame types themselves live in :mod:`wstool.core.frames`, which also
re-exports these names.
"""

from __future__ import annotations

import codecs
from dataclasses import dataclass

from wstool.core.frames import (
    Opcode,
    Role,
    WireFrame,
    close_code_name,
    minimal_length_bits,
    parse_close_payload,
)
from wstool.core.masking import apply_mask

__all__ = [
    "PartialText",
    "Utf8Decoder",
    "Violation",
    "control_ok",
    "header_ok",
    "is_valid_close_code",
    "length_ok",
    "mask_ok",
    "opcode_ok",
    "reserved_bits_ok",
    "text_not_utf8",
    "violations",
]


@dataclass(frozen=True)
class Violation:
    """One RFC rule a frame or a sequence of frames breaks.

    Attributes:
        rule: a short stable identifier, such as ``"mask-required"``.
        message: one line saying what is wrong.
        section: where the rule lives, such as ``"RFC 6455 §5.1"``.
        close_code: the close code a peer sends on seeing this.
        offset: byte offset of the offending frame (or byte) in its stream.
    """

    rule: str
    message: str
    section: str
    close_code: int
    offset: int


# --- one named check per rule of a frame header ----------------------------------
# violations() says which of these a frame breaks; the receive paths of
# wstool.core.connection call the same functions (or header_ok(), all of them)
# to decide whether a frame may skip violations().

_DEFINED_OPCODES = frozenset(int(op) for op in Opcode)


def reserved_bits_ok(rsv1: bool, rsv2: bool, rsv3: bool, opcode: int, deflate: bool) -> bool:
    """Whether the RSV bits are allowed for this opcode.

    Args:
        rsv1: RSV1, permessage-deflate's "Per-Message Compressed" bit.
        rsv2: RSV2.
        rsv3: RSV3.
        opcode: the frame's opcode.
        deflate: whether permessage-deflate was negotiated.

    Returns:
        False if a bit is set that no negotiated extension defines.
    """
    # RFC 6455 §5.2: RSV1-3 "MUST be 0 unless an extension is negotiated that
    # defines meanings for non-zero values." RFC 7692 §6: "An endpoint MUST NOT
    # set the "Per-Message Compressed" bit of control frames and non-first
    # fragments of a data message."
    return not (rsv2 or rsv3) and (not rsv1 or (deflate and (opcode == 1 or opcode == 2)))


def opcode_ok(opcode: int) -> bool:
    """Whether RFC 6455 §5.2 defines ``opcode`` (the others are reserved)."""
    return opcode in _DEFINED_OPCODES


def mask_ok(masked: bool, sender: Role | None) -> bool:
    """Whether a frame from ``sender`` may (or must not) be masked; True if unknown."""
    # RFC 6455 §5.1: "a client MUST mask all frames that it sends to the
    # server" and "A server MUST NOT mask any frames that it sends to the client."
    return sender is None or masked is (sender is Role.CLIENT)


def length_ok(length: int, bits: int) -> bool:
    """Whether the length is encoded in the minimal number of bits, top bit clear."""
    # RFC 6455 §5.2: "the most significant bit MUST be 0" and "the minimal
    # number of bytes MUST be used to encode the length".
    return bits == minimal_length_bits(length) and not length >> 63


def control_ok(opcode: int, fin: bool, length: int) -> bool:
    """Whether a control frame is final and short enough (True for data frames)."""
    # RFC 6455 §5.5: "All control frames MUST have a payload length of 125
    # bytes or less and MUST NOT be fragmented."
    return not opcode & 0x8 or (fin and length <= 125)


def header_ok(frame: WireFrame, sender: Role | None, deflate: bool) -> bool:
    """Whether the frame's header breaks none of the rules above.

    A frame for which this is True can break only the rules on its payload
    (a Close frame's code and reason, the UTF-8 of text).

    Args:
        frame: the frame as parsed.
        sender: which end sent it, or None when unknown.
        deflate: whether permessage-deflate was negotiated.

    Returns:
        True when :func:`violations` finds nothing in the header.
    """
    opcode = frame.opcode
    return (
        reserved_bits_ok(frame.rsv1, frame.rsv2, frame.rsv3, opcode, deflate)
        and opcode in _DEFINED_OPCODES
        and mask_ok(frame.mask_key is not None, sender)
        and length_ok(frame.length, frame.length_bits)
        and control_ok(opcode, frame.fin, frame.length)
    )


# --- the Close payload (RFC 6455 §5.5.1, §7.4) -----------------------------------

# RFC 6455 §7.4.1 defines 1000-1003 and 1007-1011; IANA registered 1012-1014.
# 1004 is reserved; 1005, 1006 and 1015 MUST NOT be set in a Close frame.
_VALID_PROTOCOL_CLOSE_CODES = frozenset({1000, 1001, 1002, 1003, *range(1007, 1015)})


def is_valid_close_code(code: int) -> bool:
    """Whether ``code`` may appear in a Close frame (RFC 6455 §7.4)."""
    return code in _VALID_PROTOCOL_CLOSE_CODES or 3000 <= code <= 4999


def close_payload_ok(data: bytes) -> bool:
    """Whether an (unmasked) Close payload breaks none of the rules below: empty, or a
    code that may be sent and a UTF-8 reason (what a receiver screens a Close with
    before asking :func:`violations` for the whole report)."""
    return not _close_violations(data, 0)


def _close_violations(data: bytes, at: int) -> list[Violation]:
    """The rules of RFC 6455 §5.5.1 and §7.4 on a Close payload starting at ``at``."""
    if len(data) == 1:
        return [
            Violation(
                "close-payload-1-byte",
                "close payload of 1 byte (a code needs 2)",
                "RFC 6455 §5.5.1",
                1002,
                at,
            )
        ]
    code, reason = parse_close_payload(data)
    found = []
    if code is not None and not is_valid_close_code(code):
        found.append(
            Violation(
                "close-code-invalid",
                f"close code {code} ({close_code_name(code)}) may not be sent",
                "RFC 6455 §7.4",
                1002,
                at,
            )
        )
    try:
        reason.decode("utf-8")
    except UnicodeDecodeError as exc:
        found.append(
            Violation(
                "close-reason-utf8",
                f"close reason is not UTF-8 at byte {exc.start}",
                "RFC 6455 §5.5.1",
                1007,
                at + 2 + exc.start,
            )
        )
    return found


# --- the UTF-8 of text (RFC 6455 §8.1) -------------------------------------------


def text_not_utf8(frame: WireFrame, index: int) -> Violation:
    """The violation for text whose payload byte ``index`` is not UTF-8 (RFC 6455 §8.1).

    Args:
        frame: the text (or continuation) frame, possibly still incomplete.
        index: the offending byte's position in the frame's payload.

    Returns:
        A ``text-utf8`` violation with close code 1007 at that byte.
    """
    return Violation(
        "text-utf8",
        f"text is not UTF-8 at payload byte {index}",
        "RFC 6455 §8.1",
        1007,
        frame.offset + frame.header_size + index,
    )


# Second-byte ranges of multi-byte UTF-8 sequences (RFC 3629 §4): the bytes a
# CPython incremental decoder holds back at the end of a chunk are a prefix it
# has not checked, so an impossible prefix such as ED A0 (a surrogate) would
# only fail once its third byte came. We check it now: fail fast.
_SECOND_BYTE = {0xE0: (0xA0, 0xBF), 0xED: (0x80, 0x9F), 0xF0: (0x90, 0xBF), 0xF4: (0x80, 0x8F)}


def _prefix_ok(tail: bytes) -> bool:
    """Whether ``tail`` (an incomplete sequence) can still become valid UTF-8."""
    if not tail:
        return True
    lo, hi = _SECOND_BYTE.get(tail[0], (0x80, 0xBF))
    return len(tail) < 2 or lo <= tail[1] <= hi


class Utf8Decoder:
    """Text decoded piece by piece, failing at the first byte no valid text can follow.

    The bytes of a character cut at the end of a piece wait for the next one,
    but only while they can still become a character: an impossible start
    fails at once, not when the character would have ended.
    """

    __slots__ = ("_decoder",)

    def __init__(self) -> None:
        self._decoder = codecs.getincrementaldecoder("utf-8")()

    def copy(self) -> Utf8Decoder:
        """A decoder in the same state, a character begun included."""
        twin = Utf8Decoder()
        twin._decoder.setstate(self._decoder.getstate())
        return twin

    def decode(self, data: bytes, final: bool) -> str:
        """The text of ``data``, after what earlier pieces left unfinished.

        Args:
            data: the next bytes of the text.
            final: whether they end it (a character still cut is then a fault).

        Returns:
            The characters completed by ``data``.

        Raises:
            UnicodeDecodeError: ``start`` is the first byte of ``data`` that
                breaks UTF-8; a character begun in an earlier piece is blamed
                on the byte of ``data`` that broke it.
        """
        decoder = self._decoder
        # The decoder counts the bytes it held back from earlier pieces as
        # part of this input: its positions are shifted by them.
        held = len(decoder.getstate()[0])
        try:
            text = decoder.decode(data, final)
        except UnicodeDecodeError as exc:
            at = max(exc.start - held, 0)
            raise UnicodeDecodeError("utf-8", data, at, at + 1, exc.reason) from None
        rest = decoder.getstate()[0]
        if not _prefix_ok(rest):
            at = max(len(data) - len(rest), 0)
            raise UnicodeDecodeError("utf-8", data, at, at + 1, "invalid continuation byte")
        return text


class PartialText:
    """The text of one text frame as its bytes arrive, each byte decoded once.

    A large text frame that arrives in several reads is checked as it comes,
    so invalid UTF-8 fails at once; when the frame is complete, only the bytes
    not seen yet are decoded (:meth:`finish`).

    Args:
        frame: the frame's header (its payload not yet there), as
            :meth:`wstool.core.frames.FrameParser.partial` gives it.
        decoder: the text's decoder: a new one for a TEXT frame, a copy of the
            message's for a continuation frame.
    """

    __slots__ = ("_text", "decoder", "frame", "received")

    def __init__(self, frame: WireFrame, decoder: Utf8Decoder) -> None:
        self.frame = frame
        self.decoder = decoder
        self.received = 0
        """Payload bytes unmasked and checked so far."""
        self._text: list[str] = []

    def add(self, payload: bytes) -> None:
        """Take the next bytes of the payload, as they are on the wire.

        Raises:
            UnicodeDecodeError: ``start`` is the offending byte's position in
                the frame's payload.
        """
        done = self.received
        key = self.frame.mask_key
        if key is not None:
            turn = done % 4  # the key byte the first of them is masked with
            payload = apply_mask(payload, key[turn:] + key[:turn])
        self.received = done + len(payload)
        try:
            self._text.append(self.decoder.decode(payload, False))
        except UnicodeDecodeError as exc:
            at = done + exc.start
            raise UnicodeDecodeError("utf-8", payload, at, at + 1, exc.reason) from None

    def finish(self, frame: WireFrame, data: bytes) -> str | None:
        """The complete frame's text, decoding only the bytes not seen before.

        Args:
            frame: the same frame, now complete.
            data: its whole payload, unmasked.

        Returns:
            The text, or None when the bytes not seen before break UTF-8: the
            caller then decodes the whole payload again, and reports the fault
            where a decoder of the whole frame does (the start of the broken
            character, maybe in an earlier read). After a text,
            :attr:`decoder` holds what a non-final frame left of a character.
        """
        try:
            self._text.append(self.decoder.decode(data[self.received :], frame.fin))
        except UnicodeDecodeError:
            return None
        text, self._text = "".join(self._text), []
        return text


def violations(
    frame: WireFrame,
    sender: Role | None,
    *,
    deflate: bool = False,
    check_utf8: bool = True,
) -> list[Violation]:
    """Every RFC 6455 (and RFC 7692) rule this frame breaks on its own.

    Rules that need the frames around it (fragmentation, UTF-8 across
    fragments, sizes of messages) are checked by
    :class:`wstool.core.assembler.MessageAssembler`.

    Args:
        frame: the frame as parsed.
        sender: which end sent it (masking depends on it), or ``None`` when
            unknown, which skips the masking rules.
        deflate: whether permessage-deflate was negotiated, which allows RSV1
            on the first frame of a data message (RFC 7692 §6).
        check_utf8: whether to check the text of a single-frame text message
            (a caller that decodes text itself turns this off).

    Returns:
        The violations, in the order of the bytes they concern; empty when
        the frame is fine.
    """
    found: list[Violation] = []
    at = frame.offset

    def add(rule: str, message: str, section: str, code: int = 1002, where: int = at) -> None:
        found.append(Violation(rule, message, section, code, where))

    opcode = frame.opcode
    if not reserved_bits_ok(frame.rsv1, False, False, opcode, deflate):
        why = (
            "RSV1 is set on a control or continuation frame"
            if deflate
            else "RSV1 is set but no extension was negotiated"
        )
        add("reserved-bits", why, "RFC 7692 §6" if deflate else "RFC 6455 §5.2")
    if not reserved_bits_ok(False, frame.rsv2, frame.rsv3, opcode, deflate):
        bits = "+".join(name for name, on in (("RSV2", frame.rsv2), ("RSV3", frame.rsv3)) if on)
        add("reserved-bits", f"{bits} set but no extension defines it", "RFC 6455 §5.2")
    if not opcode_ok(opcode):
        add("reserved-opcode", f"opcode 0x{opcode:X} is reserved", "RFC 6455 §5.2")
    if not mask_ok(frame.mask_key is not None, sender):
        if sender is Role.CLIENT:
            add("mask-required", "a client frame is not masked", "RFC 6455 §5.1", where=at + 1)
        else:
            add("mask-forbidden", "a server frame is masked", "RFC 6455 §5.1", where=at + 1)
    if not length_ok(frame.length, frame.length_bits):
        if frame.length >> 63:
            add(
                "length-top-bit",
                "the 64-bit length has its top bit set",
                "RFC 6455 §5.2",
                1002,
                at + 2,
            )
        else:
            add(
                "length-not-minimal",
                f"length {frame.length} is sent in {frame.length_bits} bits, not the minimal "
                f"{minimal_length_bits(frame.length)}",
                "RFC 6455 §5.2",
                where=at + 1,
            )
    if not control_ok(opcode, frame.fin, frame.length):
        if frame.length > 125:
            add(
                "control-too-long",
                f"control frame payload of {frame.length} bytes (at most 125)",
                "RFC 6455 §5.5",
            )
        if not frame.fin:
            add("control-fragmented", "control frame without FIN", "RFC 6455 §5.5")
    if opcode == Opcode.CLOSE and len(frame.payload) == frame.length:
        found.extend(_close_violations(frame.data, at + frame.header_size))
    elif (
        check_utf8
        and opcode == Opcode.TEXT
        and frame.fin
        and not frame.rsv1
        and len(frame.payload) == frame.length
    ):
        try:
            frame.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            # RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as
            # UTF-8 but finds that the byte stream is not, in fact, a valid
            # UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_."
            found.append(text_not_utf8(frame, exc.start))
    return found
