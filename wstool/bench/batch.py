"""Batches of numbered, stamped bench messages: in C where it was built, else in Python.

``_batch`` is the C module (``_batch.c``) or None; :func:`numbered_python` is
what its ``numbered`` does, and the tests hold the two to the same bytes.
The C module's ``stream`` also checks and answers a closed-loop connection's
echoes (see :class:`wstool.bench.connection.BenchConnection`).
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Callable
from typing import Any

from wstool.bench.plan import encode_header as timestamp_header

__all__ = ["_batch", "numbered_python"]

_batch: Any
try:
    from wstool.bench import _batch  # type: ignore[attr-defined,no-redef]
except ImportError:  # built without a compiler
    _batch = None


@functools.lru_cache(maxsize=256)
def _batch_codec(
    count: int, text: bool
) -> tuple[Callable[[tuple[int, ...]], bytes], Callable[[bytes], tuple[bytes, ...]]]:
    """For a batch of ``count``: the message numbers as bytes in one call (8 hex digits
    or 4 bytes each), and the cut of such bytes back into one piece per number."""
    if text:
        template = b"%08x" * count
        return template.__mod__, struct.Struct("8s" * count).unpack
    packer = struct.Struct(f">{count}I")
    return (lambda numbers: packer.pack(*numbers)), struct.Struct("4s" * count).unpack


def numbered_python(
    prefix: bytes,
    masked_rest: bytes,
    echo_prefix: bytes,
    rest: bytes,
    key: bytes,
    stamp: int,
    index: int,
    first: int,
    count: int,
    text: bool,
    expected: bytearray,
) -> bytes:
    """``count`` client frames ``prefix + masked(timestamp header) + masked_rest``, the
    header's number running from ``first`` (mod 2**32); their echoes ``echo_prefix +
    header + rest`` are added to ``expected``. The C batch builder (``_batch.c``) does
    the same.

    The number is the header's last 4 bytes (8 hex digits in text): whole mask
    periods from a period's start, so one keystream masks them all.
    """
    if count <= 0:
        return b""
    width = 8 if text else 4
    plain = timestamp_header(stamp, (index & 0xFFFFFFFF) << 32, text=text)[:-width]
    keystream = int.from_bytes(key * (len(plain) // 4), "big")
    masked = (int.from_bytes(plain, "big") ^ keystream).to_bytes(len(plain), "big")
    if first + count <= 0x100000000:
        numbers = tuple(range(first, first + count))
    else:  # the message number wraps round
        numbers = tuple(n & 0xFFFFFFFF for n in range(first, first + count))
    pack, split = _batch_codec(count, text)
    digits = pack(numbers)
    size = len(digits)
    keystream = int.from_bytes(key * (size // 4), "big")
    masked_digits = (int.from_bytes(digits, "big") ^ keystream).to_bytes(size, "big")
    # Each frame is head + number + rest, so the batch is head, then the numbers
    # joined by rest + head, then rest.
    head = prefix + masked
    wire = head + (masked_rest + head).join(split(masked_digits)) + masked_rest
    echo_head = echo_prefix + plain
    expected += echo_head
    expected += (rest + echo_head).join(split(digits))
    expected += rest
    return wire
