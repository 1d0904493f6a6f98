"""Masking and unmasking of payloads (RFC 6455 §5.3).

``apply_mask`` is the hot path of every client frame. It uses the C
accelerator ``wstool.core._speedups`` when it was built at install and falls
back to the pure-Python functions here, which are always available and are
tested against the accelerator. ``mask_inplace`` works in a writable buffer,
for receivers that reuse one and so never allocate per message.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = [
    "ACCELERATED",
    "apply_mask",
    "apply_mask_python",
    "mask_inplace",
    "mask_inplace_python",
]

BytesLike = bytes | bytearray | memoryview

# Below this size one big-integer XOR is cheapest; above it, four strided
# bytes.translate() calls (one per key byte) run at about 1 GB/s.
_TRANSLATE_FROM = 1024
_tables: list[bytes] = []


def _xor_tables() -> list[bytes]:
    """256 translation tables: table k maps byte b to b ^ k (built on first use)."""
    if not _tables:
        identity = bytes(range(256))
        _tables.extend(bytes(b ^ k for b in identity) for k in range(256))
    return _tables


def _check_key(key: BytesLike) -> None:
    if len(key) != 4:
        raise ValueError("mask key must be 4 bytes")


def mask_inplace_python(buffer: bytearray | memoryview, key: BytesLike) -> None:
    """XOR a writable buffer with the repeating 4-byte ``key``, in place.

    Raises:
        ValueError: if ``key`` is not 4 bytes long.
    """
    _check_key(key)
    # Extended-slice assignment is a C loop on a bytearray, but an element
    # by element one on a memoryview: work on a bytearray and copy back.
    work = buffer if isinstance(buffer, bytearray) else bytearray(buffer)
    tables = _xor_tables()
    for j in range(4):
        # RFC 6455 §5.3: octet i is XORed with octet (i MOD 4) of the key.
        work[j::4] = work[j::4].translate(tables[key[j]])
    if work is not buffer:
        memoryview(buffer).cast("B")[:] = work


def apply_mask_python(data: BytesLike, key: BytesLike) -> bytes:
    """XOR ``data`` with the repeating 4-byte ``key``, in pure Python.

    Args:
        data: the payload, masked or not (masking is its own inverse).
        key: the 4-byte masking key.

    Returns:
        The payload XORed with the key.

    Raises:
        ValueError: if ``key`` is not 4 bytes long.
    """
    _check_key(key)
    # The C version counts bytes; len() of a memoryview counts its items.
    n = memoryview(data).nbytes
    if n == 0:
        return b""
    if n < _TRANSLATE_FROM:
        repeated = (bytes(key) * (n // 4 + 1))[:n]
        value = int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")
        return value.to_bytes(n, "little")
    out = bytearray(data)
    tables = _xor_tables()
    for j in range(4):
        out[j::4] = out[j::4].translate(tables[key[j]])
    return bytes(out)


apply_mask: Callable[[BytesLike, BytesLike], bytes]
mask_inplace: Callable[[bytearray | memoryview, BytesLike], None]
echo_frames: Callable[[bytes, int, int], tuple[bytes, int, int]] | None
"""A quiet echo server's answer to a read's whole data frames, in one C call
(see ``_speedups.c``); None without the accelerator, where
:meth:`~wstool.core.connection.Connection.receive_data` does the same frame by frame."""
echo_frames_parts: Callable[[list[bytes | memoryview], int], tuple[bytes, int, int]] | None
"""The same for a read taken in parts (a frame cut short, then the read that ends it)."""
try:
    from wstool.core import _speedups  # type: ignore[attr-defined]
except ImportError:  # built without a compiler: the pure-Python path
    apply_mask = apply_mask_python
    mask_inplace = mask_inplace_python
    echo_frames = echo_frames_parts = None
    ACCELERATED = False
else:
    apply_mask = _speedups.apply_mask
    mask_inplace = _speedups.mask_inplace
    echo_frames = _speedups.echo_frames
    echo_frames_parts = _speedups.echo_frames_parts
    ACCELERATED = True
