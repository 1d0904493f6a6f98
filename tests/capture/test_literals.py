"""Tests of :mod:`wstool.capture.literals`: escapes, literals, 0x lists, base64 and raw bytes."""

from __future__ import annotations

import base64
import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capture.dumps import (
    render_xxd,
)
from wstool.capture import (
    Dump,
    DumpError,
    Segment,
    detect_format,
    read_base64,
    read_dump,
    read_raw,
)


class TestTextRenderings:
    """Plain hex, escapes, Python literals and 0x lists."""

    @pytest.mark.parametrize(
        ("text", "name", "data"),
        [
            ("81 05 48 65", "plain hex", b"\x81\x05He"),
            ("8105486565", "plain hex", b"\x81\x05Hee"),
            ("8105 4865\n6C6C 6F\n", "plain hex", b"\x81\x05Hello"),
            ("# a comment\n81 05\n  # another\n48 65\n", "plain hex", b"\x81\x05He"),
            ("810548656c6c6\nf", "plain hex", b"\x81\x05Hello"),
            (" 81 05 48\n 65 6c\n", "plain hex", b"\x81\x05Hel"),
            ("\\x81\\x05Hello", "\\x escapes", b"\x81\x05Hello"),
            (
                "\\x81\\x05Hello \\\\ \\n\\r\\t\\'\n\\x00",
                "\\x escapes",
                b"\x81\x05Hello \\ \n\r\t'\x00",
            ),
            ('"\\x81\\x05" "Hel"\n"lo "', "C string", b"\x81\x05Hello "),
            ('"\\201\\005\\"Hi\\"\\a\\v"', "C string", b'\x81\x05"Hi"\a\v'),
            ("'\\x81\\x05Hello'", "\\x escapes", b"\x81\x05Hello"),
            ("b'\\x81\\x05Hello'", "Python bytes literal", b"\x81\x05Hello"),
            ('b"it\'s \\\\ \\t"', "Python bytes literal", b"it's \\ \t"),
            (
                "(b'GET / HTTP/1.1\\r\\n'\n b'Host: x\\r\\n')",
                "Python bytes literal",
                b"GET / HTTP/1.1\r\nHost: x\r\n",
            ),
            ("data = b'\\x81' + b'\\x00'", "Python bytes literal", b"\x81\x00"),
            ("b'\\d\\u00e9'", "Python bytes literal", b"\\d\\u00e9"),
            ("[b'ab', b'cd']", "Python bytes literal", b"abcd"),
            ("0x81, 0x05, 0x48", "0x list", b"\x81\x05H"),
            ("{0x81,0x05}", "0x list", b"\x81\x05"),
            ("0x81 0x05\n0x48", "0x list", b"\x81\x05H"),
            ("[]byte{0x81, 0x5, 0x0}", "0x list", b"\x81\x05\x00"),
            ("unsigned char bytes[] = {0x81, 0x05};", "0x list", b"\x81\x05"),
            ("bytes([0x81, 0x05])", "0x list", b"\x81\x05"),
        ],
    )
    def test_read(self, text: str, name: str, data: bytes) -> None:
        """Each rendering is detected and read back."""
        dump = read_dump(text)
        assert (dump.format, dump.data) == (name, data)
        assert detect_format(text) == name

    def test_crlf(self) -> None:
        """Windows line endings are line endings."""
        assert (
            read_dump(render_xxd(b"cafe 1234" * 5).replace("\n", "\r\n")).data == b"cafe 1234" * 5
        )


class TestBase64AndRaw:
    """--base64 and --raw inputs."""

    def test_base64(self) -> None:
        """Standard base64, wrapped, reads back."""
        data = bytes(range(256))
        text = base64.encodebytes(data).decode()
        assert read_base64(text) == Dump("base64", (Segment(data),))

    def test_base64_variants(self) -> None:
        """URL-safe alphabet and dropped padding are accepted."""
        assert read_base64("-_8").data == b"\xfb\xff"
        assert read_base64("gQVIZWxsbw").data == b"\x81\x05Hello"

    def test_base64_per_line(self) -> None:
        """Lines padded separately are separate messages."""
        dump = read_base64("gQVIZWxsbw==\ngQJIaQ==\n")
        assert [s.data for s in dump.segments] == [b"\x81\x05Hello", b"\x81\x02Hi"]

    def test_base64_any_whitespace(self) -> None:
        """Whitespace outside ASCII (a no-break space from a web page) is skipped too."""
        assert read_base64("gQVI\u00a0ZWxs\x1cbw==\n").data == b"\x81\x05Hello"

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("gQVI\nZW!s", "line 2: '!' is not base64"),
            ("gQVI\nZW\u00e9s", "line 2: 'é' is not base64"),
            ("", "no base64 data found"),
            ("gQVIZ", "line 1: invalid base64"),
        ],
    )
    def test_base64_errors(self, text: str, message: str) -> None:
        """Bad base64 is a DumpError naming the line."""
        with pytest.raises(DumpError, match=f"^{re.escape(message)}"):
            read_base64(text)

    def test_raw(self) -> None:
        """Raw bytes are taken as they are; nothing is an error."""
        assert read_raw(b"\x81\x05Hello") == Dump("raw", (Segment(b"\x81\x05Hello"),))
        with pytest.raises(DumpError):
            read_raw(b"")


class TestOnePassAndCareful:
    """Escapes, literals and 0x lists read in one pass agree with the careful readers."""

    @given(data=st.binary(min_size=1, max_size=300), width=st.integers(1, 40))
    def test_escapes_any_line_width(self, data: bytes, width: int) -> None:
        """``\\xNN`` escapes wrapped at any width read back, with spaces at line ends ignored."""
        lines = [
            "".join(f"\\x{b:02x}" for b in data[i : i + width]) for i in range(0, len(data), width)
        ]
        assert read_dump("  \n".join(lines)).data == data

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("\\x81\\N{BULLET}", "line 1: unknown escape '\\\\N'"),
            ("\\x81\\u00e9", "line 1: unknown escape '\\\\u'"),
            ("\\x81\\\n\\x05", "line 1: unknown escape '\\\\'"),
            ("\\x81\\777", "line 1: an octal escape is above \\377"),
        ],
    )
    def test_python_only_escapes_refused(self, text: str, message: str) -> None:
        """Escapes C does not have are refused, with their line, as before the one-pass read."""
        with pytest.raises(DumpError, match=f"^{re.escape(message)}$"):
            read_dump(text)

    @given(data=st.binary(min_size=1, max_size=300), width=st.integers(1, 40))
    def test_literals_any_width(self, data: bytes, width: int) -> None:
        """A parenthesised run of b'' literals, any width, reads back as Python joins them."""
        body = "".join(f"    {data[i : i + width]!r}\n" for i in range(0, len(data), width))
        assert read_dump(f"payload = (\n{body})\n").data == data

    @given(data=st.binary(min_size=1, max_size=300), width=st.integers(1, 40))
    def test_hex_lists_any_width(self, data: bytes, width: int) -> None:
        """0x lists in braces, any width, one-digit items too, read back."""
        rows = [
            ", ".join(f"0x{b:x}" if b % 7 == 0 else f"0x{b:02x}" for b in data[i : i + width])
            for i in range(0, len(data), width)
        ]
        assert read_dump("unsigned char x[] = {\n  " + ",\n  ".join(rows) + "\n};\n").data == data

    @pytest.mark.parametrize("text", ["0x0102, 0x", "0x810x23", "0x81, 85", "0x81; 0x85"])
    def test_hex_list_doubts_left_to_the_careful_read(self, text: str) -> None:
        """Lists that only look well formed are refused with a line, as the careful read does."""
        with pytest.raises(DumpError, match=r"^line 1: "):
            read_dump(text)

    def test_hex_list_short_items(self) -> None:
        """One-digit items are bytes too: the careful read takes them."""
        assert read_dump("0x81, 0x8, 0x0048").data == b"\x81\x08\x48"
