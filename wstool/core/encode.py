"""Frames written out (RFC 6455 §5.2): well-formed ones, and any bits exactly as asked.

:func:`encode_frame` and :func:`encode_header` write what a conforming
endpoint sends; :func:`forge_frame` writes any header a test or a fuzzer
wants, invalid ones included; :func:`wire_header` gives a parsed frame's
header back byte for byte. All are importable from :mod:`wstool.core.frames`.
"""

from __future__ import annotations

import struct
from typing import TYPE_CHECKING

from wstool.core.errors import UsageError
from wstool.core.frames import minimal_length_bits
from wstool.core.masking import apply_mask

if TYPE_CHECKING:
    from wstool.core.frames import WireFrame

__all__ = ["encode_frame", "encode_header", "forge_frame", "wire_header"]


def encode_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask_key: bytes | None = None,
) -> bytes:
    """A well-formed frame: minimal length encoding, payload masked when keyed.

    Args:
        opcode: the opcode, 0 to 15.
        payload: the payload, unmasked.
        fin: the FIN bit.
        rsv1: RSV1 (set for a permessage-deflate compressed message).
        rsv2: RSV2.
        rsv3: RSV3.
        mask_key: the 4-byte key for a client frame; ``None`` for a server frame.

    Returns:
        The frame's bytes.

    Raises:
        UsageError: for an opcode out of range, a key not 4 bytes long, or a
            control frame that is fragmented or over 125 bytes (§5.5).
    """
    if opcode & 0x8 and (len(payload) > 125 or not fin):
        raise UsageError("a control frame must be final and carry at most 125 bytes")
    return forge_frame(
        opcode=opcode,
        payload=payload,
        fin=fin,
        rsv1=rsv1,
        rsv2=rsv2,
        rsv3=rsv3,
        mask_key=mask_key,
    )


def forge_frame(
    *,
    opcode: int,
    payload: bytes = b"",
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    mask_key: bytes | None = None,
    length: int | None = None,
    length_bits: int | None = None,
    mask_payload: bool = True,
) -> bytes:
    """Any frame, with every bit exactly as asked, invalid ones included.

    Args:
        opcode: any value from 0 to 15, reserved ones included.
        payload: the payload bytes to write after the header.
        fin: the FIN bit.
        rsv1: RSV1.
        rsv2: RSV2.
        rsv3: RSV3.
        mask_key: sets the MASK bit and writes this 4-byte key.
        length: the length to declare, which may differ from the payload's
            (default: the payload's length).
        length_bits: force the 7, 16 or 64-bit length encoding; a longer one
            than needed makes a non-minimal encoding (default: minimal).
        mask_payload: mask the payload with ``mask_key`` (default) or write
            it as given, for payloads that are already masked.

    Returns:
        The frame's bytes.

    Raises:
        UsageError: for values that cannot be written at all: an opcode
            outside 0-15, a key not 4 bytes long, a length that does not fit
            the chosen encoding.
    """
    if not 0 <= opcode <= 15:
        raise UsageError(f"opcode {opcode} is not in 0-15")
    if mask_key is not None and len(mask_key) != 4:
        raise UsageError(f"mask key must be 4 bytes, not {len(mask_key)}")
    declared = len(payload) if length is None else length
    bits = minimal_length_bits(declared) if length_bits is None else length_bits
    limits = {7: 125, 16: 0xFFFF, 64: 0xFFFF_FFFF_FFFF_FFFF}
    if bits not in limits:
        raise UsageError(f"length encoding must be 7, 16 or 64 bits, not {bits}")
    if not 0 <= declared <= limits[bits]:
        raise UsageError(f"length {declared} does not fit a {bits}-bit length")
    head = _header(fin, rsv1, rsv2, rsv3, opcode, mask_key, declared, bits)
    if mask_key is None:
        return head + payload
    body = apply_mask(payload, mask_key) if mask_payload else payload
    return head + body


def encode_header(
    opcode: int,
    length: int,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask_key: bytes | None = None,
) -> tuple[bytes, int]:
    """The header of a well-formed frame (mask key included) and its length encoding.

    For senders that write the header and the payload as separate buffers,
    so that a large payload is never copied only to prepend a few bytes.

    Returns:
        The header bytes and the length encoding used (7, 16 or 64 bits).
    """
    bits = minimal_length_bits(length)
    return _header(fin, rsv1, False, False, opcode, mask_key, length, bits), bits


def wire_header(frame: WireFrame) -> bytes:
    """The header bytes of ``frame`` exactly as it came: its bits, length encoding and key."""
    return _header(
        frame.fin,
        frame.rsv1,
        frame.rsv2,
        frame.rsv3,
        frame.opcode,
        frame.mask_key,
        frame.length,
        frame.length_bits,
    )


def _header(
    fin: bool,
    rsv1: bool,
    rsv2: bool,
    rsv3: bool,
    opcode: int,
    mask_key: bytes | None,
    length: int,
    bits: int,
) -> bytes:
    b0 = (fin << 7) | (rsv1 << 6) | (rsv2 << 5) | (rsv3 << 4) | opcode
    if bits == 7:
        head = bytes((b0, ((mask_key is not None) << 7) | length))
    elif bits == 16:
        head = struct.pack("!BBH", b0, ((mask_key is not None) << 7) | 126, length)
    else:
        head = struct.pack("!BBQ", b0, ((mask_key is not None) << 7) | 127, length)
    return head if mask_key is None else head + mask_key
