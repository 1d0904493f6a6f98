"""The hex+ASCII rows: the C version (``wstool.ui._hexview``) against the Python one."""

from __future__ import annotations

import io

import pytest
from hypothesis import given
from hypothesis import strategies as st
from rich.console import Console

from wstool.ui import render
from wstool.ui.render import THEME, hex_ascii, hex_rows_python

try:
    from wstool.ui._hexview import hex_rows as c_hex_rows  # type: ignore[import-not-found]
except ImportError:  # built without a compiler: the Python rows are all there is
    c_hex_rows = None

needs_c = pytest.mark.skipif(c_hex_rows is None, reason="the C hex view is not built")


def _digits(size: int) -> int:
    return max(4, len(f"{size - 1:x}"))


@needs_c
@given(data=st.binary(max_size=1200), indent=st.integers(0, 8))
def test_c_rows_equal_python_rows(data: bytes, indent: int) -> None:
    """Any payload and indent: the same text, byte for byte."""
    assert c_hex_rows(data, indent, _digits(len(data))) == hex_rows_python(
        data, indent, _digits(len(data))
    )


@needs_c
def test_c_rows_of_a_large_payload_with_wide_offsets() -> None:
    """Past 64 KiB the offsets get a fifth digit in both versions."""
    data = bytes(range(256)) * 300
    assert c_hex_rows(data, 2, 5) == hex_rows_python(data, 2, 5)
    assert c_hex_rows(data, 2, 5).split("\n")[-1].startswith("  12bf0  ")


@needs_c
@pytest.mark.parametrize(("indent", "digits"), [(-1, 4), (65, 4), (0, 0), (0, 17)])
def test_c_rows_refuse_bad_layouts(indent: int, digits: int) -> None:
    with pytest.raises(ValueError):
        c_hex_rows(b"abc", indent, digits)


@needs_c
def test_c_rows_refuse_offsets_wider_than_digits() -> None:
    with pytest.raises(ValueError, match="digits"):
        c_hex_rows(bytes(0x10001), 0, 4)


def test_rendered_view_is_the_same_either_way(monkeypatch: pytest.MonkeyPatch) -> None:
    """The coloured view puts offsets, hex and ASCII in their styles with either version."""
    data = bytes(range(0x30, 0x58))
    seen = []
    for rows in (hex_rows_python, c_hex_rows or hex_rows_python):
        monkeypatch.setattr(render, "hex_rows", rows)
        text = hex_ascii(data, indent=2)
        styled = [(text.plain[span.start : span.end], span.style) for span in text.spans]
        seen.append((text.plain, styled))
    assert seen[0] == seen[1]
    _, styled = seen[0]
    assert styled[:3] == [
        ("0000  ", "ws.offset"),
        ("30 31 32 33 34 35 36 37  38 39 3a 3b 3c 3d 3e 3f ", "ws.hex"),
        (" |0123456789:;<=>?|", "ws.ascii"),
    ]
    assert styled[-1] == (" |PQRSTUVW|", "ws.ascii")
    console = Console(width=100, color_system="truecolor", theme=THEME, file=io.StringIO())
    console.print(text)
    assert "\x1b[" in console.file.getvalue()  # type: ignore[attr-defined]
