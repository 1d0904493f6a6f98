"""Tests of :mod:`wstool.core.masking`: RFC 6455 §5.3, in pure Python and in C."""

from __future__ import annotations

import array
from collections.abc import Callable

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wstool.core import masking
from wstool.core.masking import (
    ACCELERATED,
    apply_mask,
    apply_mask_python,
    mask_inplace,
    mask_inplace_python,
)

KEY = bytes.fromhex("37fa213d")

# Sizes around the 8-byte word of the C loop and the 1024-byte switch of the Python one.
SIZES = [0, 1, 3, 4, 5, 7, 8, 9, 15, 16, 17, 1023, 1024, 1025, 4099]

needs_c = pytest.mark.skipif(not ACCELERATED, reason="the C accelerator is not built")

if ACCELERATED:
    from wstool.core import _speedups  # type: ignore[attr-defined]

    C_APPLY: Callable[[bytes, bytes], bytes] | None = _speedups.apply_mask
    C_INPLACE: Callable[[bytearray, bytes], None] | None = _speedups.mask_inplace
else:
    C_APPLY = C_INPLACE = None


def reference(data: bytes, key: bytes) -> bytes:
    """RFC 6455 §5.3 read literally: octet i XOR octet (i MOD 4) of the key."""
    return bytes(octet ^ key[i % 4] for i, octet in enumerate(data))


def inplace_result(function: Callable[..., None], data: bytes, key: bytes) -> bytes:
    """The result of masking a bytearray copy of ``data`` in place."""
    buffer = bytearray(data)
    assert function(buffer, key) is None
    return bytes(buffer)


class TestSection5_3Masking:
    """RFC 6455 §5.3: the payload XOR the repeating 4-byte key."""

    @pytest.mark.parametrize("function", [apply_mask, apply_mask_python])
    def test_rfc_example(self, function: Callable[[bytes, bytes], bytes]) -> None:
        """§5.7: "Hello" with key 37 fa 21 3d is 7f 9f 4d 51 58, and back."""
        assert function(b"Hello", KEY) == bytes.fromhex("7f9f4d5158")
        assert function(bytes.fromhex("7f9f4d5158"), KEY) == b"Hello"

    @pytest.mark.parametrize("function", [mask_inplace, mask_inplace_python])
    def test_rfc_example_in_place(self, function: Callable[..., None]) -> None:
        """The in-place versions turn "Hello" into the RFC's masked bytes."""
        assert inplace_result(function, b"Hello", KEY) == bytes.fromhex("7f9f4d5158")

    @pytest.mark.parametrize("size", SIZES)
    def test_python_sizes(self, size: int) -> None:
        """The pure-Python versions follow §5.3 at every size, both sides of their switch."""
        data = bytes(i * 7 % 256 for i in range(size))
        expected = reference(data, KEY)
        assert apply_mask_python(data, KEY) == expected
        assert inplace_result(mask_inplace_python, data, KEY) == expected

    @settings(max_examples=300, deadline=None)
    @given(data=st.binary(max_size=3000), key=st.binary(min_size=4, max_size=4))
    def test_python_versions_agree(self, data: bytes, key: bytes) -> None:
        """apply_mask_python == mask_inplace_python == §5.3, and masking is its own inverse."""
        expected = reference(data, key)
        masked = apply_mask_python(data, key)
        assert type(masked) is bytes
        assert masked == expected
        assert inplace_result(mask_inplace_python, data, key) == expected
        assert apply_mask_python(masked, key) == data

    @needs_c
    @settings(max_examples=300, deadline=None)
    @given(data=st.binary(max_size=3000), key=st.binary(min_size=4, max_size=4))
    def test_c_agrees_with_python(self, data: bytes, key: bytes) -> None:
        """C apply_mask == apply_mask_python == C mask_inplace == mask_inplace_python."""
        assert C_APPLY is not None and C_INPLACE is not None
        expected = apply_mask_python(data, key)
        masked = C_APPLY(data, key)
        assert type(masked) is bytes
        assert masked == expected
        assert inplace_result(C_INPLACE, data, key) == expected
        assert inplace_result(mask_inplace_python, data, key) == expected

    @needs_c
    @pytest.mark.parametrize("size", SIZES)
    def test_c_sizes(self, size: int) -> None:
        """The C word loop and its byte tail agree with §5.3 at every size."""
        assert C_APPLY is not None and C_INPLACE is not None
        data = bytes(i * 13 % 256 for i in range(size))
        assert C_APPLY(data, KEY) == reference(data, KEY)
        assert inplace_result(C_INPLACE, data, KEY) == reference(data, KEY)

    @needs_c
    def test_accelerator_is_used(self) -> None:
        """When built, the public names are the C functions."""
        assert masking.apply_mask is C_APPLY
        assert masking.mask_inplace is C_INPLACE


ALL_APPLY = [
    pytest.param(apply_mask_python, id="python"),
    pytest.param(C_APPLY, id="c", marks=needs_c),
]
ALL_INPLACE = [
    pytest.param(mask_inplace_python, id="python"),
    pytest.param(C_INPLACE, id="c", marks=needs_c),
]


class TestBufferTypes:
    """Every bytes-like data and key gives the same bytes in both implementations."""

    @pytest.mark.parametrize("function", ALL_APPLY)
    @pytest.mark.parametrize("size", [6, 1030])
    @pytest.mark.parametrize(
        "wrap",
        [bytes, bytearray, memoryview, lambda b: memoryview(b"..." + b)[3:]],
        ids=["bytes", "bytearray", "memoryview", "memoryview-slice"],
    )
    def test_data_types(self, function: Callable, size: int, wrap: Callable) -> None:
        """bytes, bytearray and memoryviews (sliced too) are masked alike."""
        data = bytes(range(256)) * 5
        data = data[:size]
        assert function(wrap(data), KEY) == reference(data, KEY)

    @pytest.mark.parametrize("function", ALL_APPLY)
    @pytest.mark.parametrize("count", [3, 700])
    @pytest.mark.parametrize("typecode", ["H", "I", "d"])
    def test_wide_items(self, function: Callable, count: int, typecode: str) -> None:
        """A memoryview of wider items is masked byte by byte, all its bytes."""
        items = array.array(typecode, [i % 200 for i in range(count)])
        data = items.tobytes()
        assert function(memoryview(items), KEY) == reference(data, KEY)

    @pytest.mark.parametrize("function", ALL_APPLY)
    @pytest.mark.parametrize("wrap", [bytes, bytearray, memoryview])
    def test_key_types(self, function: Callable, wrap: Callable) -> None:
        """The key may be any 4-byte bytes-like object."""
        assert function(b"Hello", wrap(KEY)) == bytes.fromhex("7f9f4d5158")

    @pytest.mark.parametrize("function", ALL_INPLACE)
    def test_inplace_in_a_window(self, function: Callable) -> None:
        """Masking a window of a larger buffer changes that window only."""
        buffer = bytearray(b"<<" + b"Hello" * 300 + b">>")
        function(memoryview(buffer)[2:-2], KEY)
        assert buffer[:2] == b"<<"
        assert buffer[-2:] == b">>"
        assert bytes(buffer[2:-2]) == reference(b"Hello" * 300, KEY)

    @pytest.mark.parametrize("function", ALL_INPLACE)
    @pytest.mark.parametrize("size", [5, 2000])
    def test_inplace_refuses_read_only(self, function: Callable, size: int) -> None:
        """A read-only buffer cannot be masked in place, and is left as it was."""
        data = b"x" * size
        with pytest.raises((TypeError, BufferError)):
            function(data, KEY)
        with pytest.raises((TypeError, BufferError)):
            function(memoryview(data), KEY)
        assert data == b"x" * size


class TestKeyLength:
    """A masking key is exactly 4 bytes (RFC 6455 §5.2, Masking-key)."""

    @pytest.mark.parametrize("function", ALL_APPLY)
    @pytest.mark.parametrize("key", [b"", b"abc", b"abcde"])
    @pytest.mark.parametrize("data", [b"", b"Hello", b"x" * 2000])
    def test_apply(self, function: Callable, key: bytes, data: bytes) -> None:
        """apply_mask raises ValueError for a key of another length, even with no data."""
        with pytest.raises(ValueError, match="4 bytes"):
            function(data, key)

    @pytest.mark.parametrize("function", ALL_INPLACE)
    @pytest.mark.parametrize("key", [b"", b"abc", b"abcde"])
    def test_inplace(self, function: Callable, key: bytes) -> None:
        """mask_inplace raises ValueError for a bad key and leaves the buffer untouched."""
        buffer = bytearray(b"Hello")
        with pytest.raises(ValueError, match="4 bytes"):
            function(buffer, key)
        assert buffer == b"Hello"
