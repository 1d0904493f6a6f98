"""Masking and unmasking of payloads (RFC 6455 §5.3).

``apply_mask`` is the hot path of every client frame. It uses the C
accelerator ``wstool.core._speedups`` when it was built at install and falls
back to :func:`apply_mask_python`, which is always available and is tested
against the accelerator.
"""

from __future__ import annotations

from collections.abc import Callable

__all__ = ["ACCELERATED", "apply_mask", "apply_mask_python"]

BytesLike = bytes | bytearray | memoryview


def apply_mask_python(data: BytesLike, key: BytesLike) -> bytes:
    """XOR ``data`` with the repeating 4-byte ``key``, in pure Python.

    Large payloads go through one big-integer XOR (linear time in C inside
    CPython); this reaches several hundred MB/s with no compiler at all.

    Args:
        data: the payload, masked or not (masking is its own inverse).
        key: the 4-byte masking key.

    Returns:
        The payload XORed with the key.

    Raises:
        ValueError: if ``key`` is not 4 bytes long.
    """
    if len(key) != 4:
        raise ValueError("mask key must be 4 bytes")
    n = len(data)
    if n == 0:
        return b""
    # RFC 6455 §5.3: octet i of the result is octet i of the data XOR octet
    # (i MOD 4) of the masking key.
    repeated = (bytes(key) * (n // 4 + 1))[:n]
    value = int.from_bytes(data, "little") ^ int.from_bytes(repeated, "little")
    return value.to_bytes(n, "little")


apply_mask: Callable[[BytesLike, BytesLike], bytes]
try:
    from wstool.core._speedups import apply_mask as _c_apply_mask
except ImportError:  # built without a compiler: the pure-Python path
    apply_mask = apply_mask_python
    ACCELERATED = False
else:
    apply_mask = _c_apply_mask
    ACCELERATED = True
