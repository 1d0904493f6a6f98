"""Bytes written out as text: escapes, bytes literals, ``0x`` lists, plain hex, base64.

Standard library only: ``decode`` must start fast.
"""

from __future__ import annotations

import ast
import base64
import binascii
import codecs
import contextlib
import re
import warnings

from wstool.capture.dump import Dump, DumpError, Segment, line_of, prepare, quote

__all__ = [
    "HEX_ITEM",
    "read_base64",
    "read_colon_hex",
    "read_escapes",
    "read_hex_list",
    "read_plain",
    "read_python",
    "read_raw",
]

HEX_ITEM = re.compile(r"0[xX]([0-9A-Fa-f]+)")
_H = "[0-9A-Fa-f]"


def read_base64(text: str) -> Dump:
    """Read base64 (standard or URL-safe alphabet, padding optional, whitespace ignored).

    Lines that are each padded separately (several messages, one per line) become one segment
    per line.

    Raises:
        DumpError: A character is not base64, or the encoding is broken.
    """
    text = prepare(text)
    if text.isascii():  # the whole input at once, in bytes: a quarter of splitting the text
        compact = text.encode("ascii").translate(None, _WHITESPACE)
    else:  # other whitespace too; any other character fails as not base64 below
        compact = "".join(text.split()).encode("ascii", "replace")
    if not compact:
        raise DumpError("no base64 data found")
    try:
        chunks = [_unbase64(compact)]  # validates every character itself
    except ValueError as whole:  # binascii.Error, or a character that is not base64
        bad = re.search(r"[^A-Za-z0-9+/=_\-\s]", text)
        if bad:
            where = line_of(text, bad.start())
            raise DumpError(f"line {where}: {bad.group()!r} is not base64") from None
        chunks = []
        lines = [
            (n, "".join(line.split()).encode("ascii", "replace"))
            for n, line in enumerate(text.split("\n"), 1)
        ]
        lines = [(number, line) for number, line in lines if line]
        for number, line in lines:
            try:
                chunks.append(_unbase64(line))
            except binascii.Error:
                raise DumpError(f"line {number}: invalid base64: {whole}") from None
    segments = tuple(Segment(chunk) for chunk in chunks if chunk)
    if not segments:
        raise DumpError("no data: the base64 decodes to nothing")
    return Dump("base64", segments)


def read_raw(data: bytes) -> Dump:
    """Take binary input as it is.

    Raises:
        DumpError: The input is empty.
    """
    if not data:
        raise DumpError("empty input")
    return Dump("raw", (Segment(bytes(data)),))


_WHITESPACE = b" \t\n\r\x0b\x0c\x1c\x1d\x1e\x1f"  # what str.split() splits at, in ASCII


def _unbase64(compact: bytes) -> bytes:
    # Both alphabets are common (JavaScript's btoa versus JWT-style payloads); padding is
    # often dropped when base64 is pasted by hand.
    altchars = b"-_" if b"-" in compact or b"_" in compact else None
    unpadded = compact.rstrip(b"=")
    padding = -len(unpadded) % 4
    if padding or len(unpadded) != len(compact):
        compact = unpadded + b"=" * padding
    return base64.b64decode(compact, altchars, validate=True)


# --- Text renderings: Python literals, escapes, 0x lists, plain hex -----------------------------

_PY_PREFIX = re.compile(r"\s*(?:[A-Za-z_][\w.]*\s*=\s*)?(?:bytearray|bytes)?")
_PY_TOKEN = re.compile(
    r"(?P<literal>(?:[bB][rR]?|[rR][bB])(?:'''(?:[^\\]|\\.)*?'''|\"\"\"(?:[^\\]|\\.)*?\"\"\""
    r"|'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"))|(?P<gap>[\s()\[\]+,\\]+)|(?P<other>[^\s()+]+)",
    re.S,
)


def read_python(text: str, name: str) -> Dump:
    """Read Python ``b'...'`` literals, joined when there are several (as Python joins them)."""
    prefix = _PY_PREFIX.match(text)
    fast = _read_python_fast(text[prefix.end() if prefix else 0 :])
    if fast:
        return Dump(name, (Segment(fast),))
    parts = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown escapes such as \d stay as they are, as in Python
        for match in _PY_TOKEN.finditer(text, prefix.end() if prefix else 0):
            if match.lastgroup == "other":
                what = "an unterminated bytes literal" if match[0][:2] in ("b'", 'b"') else "junk"
                raise DumpError(f"line {line_of(text, match.start())}: {quote(match[0])} is {what}")
            if match.lastgroup == "literal":
                parts.append(_python_literal(match[0], text, match.start()))
    data = b"".join(parts)
    if not data:
        raise DumpError("no data: the bytes literals are empty")
    return Dump(name, (Segment(data),))


# One-line b'' and b"" literals (no prefix but b, so no raw strings), split from what is
# between them.
_PY_SIMPLE = re.compile(
    r"[bB]'([^'\\\n]*+(?:\\.[^'\\\n]*+)*+)'|[bB]\"([^\"\\\n]*+(?:\\.[^\"\\\n]*+)*+)\""
)
# The same for single quotes alone (what repr() writes unless the bytes hold a quote): one
# group, so the bodies are every other part of the split.
_PY_SINGLE = re.compile(r"[bB]'([^'\\\n]*+(?:\\.[^'\\\n]*+)*+)'")
_PY_NOT_GAP = re.compile(r"[^\s()\[\]+,\\]")


def _read_python_fast(text: str) -> bytes | None:
    """Plain b'' literals joined, decoded in one pass; None for anything else or any doubt.

    A literal's body never ends inside an escape, so the bodies joined decode as each would.
    """
    if 'b"' not in text and 'B"' not in text:
        parts = _PY_SINGLE.split(text)
        if len(parts) < 3 or _PY_NOT_GAP.search("".join(parts[0::2])):
            return None
        bodies = "".join(parts[1::2])
    else:
        parts = _PY_SIMPLE.split(text)
        if len(parts) < 4 or _PY_NOT_GAP.search("".join(parts[0::3])):
            return None
        bodies = "".join(
            single if single is not None else double
            for single, double in zip(parts[1::3], parts[2::3], strict=True)
        )
    if not bodies.isascii():
        return None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown escapes such as \d stay, as in Python
        try:
            data: bytes = codecs.escape_decode(bodies.encode("ascii"))[0]
        except ValueError:
            return None
    return data


def _python_literal(source: str, text: str, position: int) -> bytes:
    # A plain one-line b'...' is decoded by the function the compiler decodes bytes literals
    # with (codecs.escape_decode); anything else, and every error, goes through literal_eval,
    # which applies Python's own rules to the one matched literal.
    if source[1] in _QUOTES and source.isascii() and source[1:4] not in _TRIPLE_QUOTES:
        with contextlib.suppress(ValueError):
            decoded: bytes = codecs.escape_decode(source[2:-1].encode("ascii"))[0]
            return decoded

    # The line number is counted only for a message: counting for every literal is quadratic.
    def number() -> int:
        return line_of(text, position)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown escapes such as \d stay as they are, as in Python
        try:
            value = ast.literal_eval(source)
        except SyntaxError as error:
            raise DumpError(f"line {number()}: invalid bytes literal: {error.msg}") from None
        except ValueError as error:
            raise DumpError(f"line {number()}: invalid bytes literal: {error}") from None
    if not isinstance(value, bytes):
        raise DumpError(f"line {number()}: {quote(source)} is not a bytes literal")
    return value


_QUOTES = "'\""
_TRIPLE_QUOTES = ("'''", '"""')
_PYTHON_ONLY_ESCAPE = re.compile(r"\\[NuU]")
_QUOTED = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'((?:[^'\\]|\\.)*)'")
_C_ESCAPE = re.compile(r"\\(?:[xX][0-9A-Fa-f]{2}|[0-7]{1,3}|[abfnrtv\\'\"])")


def read_escapes(text: str, name: str) -> Dump:
    """Read ``\\x81\\x05Hello``: C escapes (hex and octal) in printable text, quoted or not.

    Line breaks are layout, as are spaces at either end of an unquoted line; inside quotes every
    character counts. Adjacent quoted strings are joined, as C and Python do.
    """
    data = _unescape_fast(text)
    if data is None:
        chunks = []
        for number, line in enumerate(text.split("\n"), 1):
            line = line.strip()
            if line:
                chunks += [_unescape(piece, number) for piece in _quoted_pieces(line)]
        data = b"".join(chunks)
    if not data:
        raise DumpError("no data: the strings are empty")
    return Dump(name, (Segment(data),))


def _unescape_fast(text: str) -> bytes | None:
    r"""Unquoted escapes, decoded in one pass; None for anything the careful path must judge.

    Python's escape decoder knows every C escape. What it knows beyond them (``\N{}``, ``\u``,
    ``\U``, a line continuation) and what it only warns about (unknown escapes, octal above
    ``\377``) are left to the careful path, which says where they are.
    """
    if "'" in text or '"' in text:
        return None
    body = "\n".join(line.strip() for line in text.split("\n"))
    if "\\\n" in body or body.endswith("\\") or _PYTHON_ONLY_ESCAPE.search(body):
        return None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            decoded = body.replace("\n", "").encode("utf-8").decode("unicode_escape")
    except (UnicodeError, DeprecationWarning):
        return None
    return decoded.encode("latin-1")


def _quoted_pieces(line: str) -> list[str]:
    """The insides of a line of quoted strings; the line itself if it is not only that."""
    pieces, end = [], 0
    for match in _QUOTED.finditer(line):
        if line[end : match.start()].strip(" \t+"):
            return [line]
        pieces.append(match.group(1) if match.group(1) is not None else match.group(2))
        end = match.end()
    return pieces if pieces and not line[end:].strip(" \t+;,") else [line]


def _unescape(piece: str, number: int) -> bytes:
    # Removing the known escapes, left to right as a reader would, leaves a backslash only
    # where an unknown escape starts.
    if "\\" in _C_ESCAPE.sub("", piece):
        for match in re.finditer(r"\\.?", piece, re.S):
            if not _C_ESCAPE.match(piece, match.start()):
                raise DumpError(f"line {number}: unknown escape {match.group()!r}")
    # Escapes are ASCII and reach the codec intact; any other character stands for its UTF-8
    # bytes, which unicode_escape passes through one by one as Latin-1.
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # octal above \377 warns, then fails below
            return piece.encode("utf-8").decode("unicode_escape").encode("latin-1")
    except UnicodeError:
        raise DumpError(f"line {number}: an octal escape is above \\377") from None


# Declarations may come before and after the values (C, Go, Python, xxd -i); numbers may not.
_HEX_LIST_PREFIX = re.compile(r"(?:[A-Za-z_]\w*|\[\d*\]|[\s*=({\[])*")
_HEX_LIST_SUFFIX = re.compile(r"[\s\])};,]*(?:(?:unsigned\s+)?int\s+\w+\s*=\s*\d+\s*;\s*)?")


def read_hex_list(text: str, name: str) -> Dump:
    """Read ``0x81, 0x05`` lists: C and Go arrays, Python lists, ``xxd -i`` output."""
    data = _hex_list_fast(text)
    if data is not None:
        return Dump(name, (Segment(data),))
    items = list(HEX_ITEM.finditer(text))
    if not items:
        raise DumpError("no hex data found")
    prefix_end = _HEX_LIST_PREFIX.match(text)
    suffix_end = _HEX_LIST_SUFFIX.match(text, items[-1].end())
    for end, limit in ((prefix_end, items[0].start()), (suffix_end, len(text))):
        position = end.end() if end else limit
        if position < limit:
            raise DumpError(
                f"line {line_of(text, position)}: {quote(text[position:][:20])} is not 0x hex"
            )
    previous = items[0].start()
    for item in items:
        gap = text[previous : item.start()]
        if gap.strip(" \t\n,"):
            position = previous + len(gap) - len(gap.lstrip(" \t\n,"))
            junk = gap.strip(" \t\n,")
            raise DumpError(f"line {line_of(text, position)}: {quote(junk)} is not 0x hex")
        if len(item[1]) > 2 and int(item[1], 16) > 0xFF:
            raise DumpError(f"line {line_of(text, item.start())}: {item[0]} is not a byte")
        previous = item.end()
    return Dump(name, (Segment(bytes.fromhex("".join(m[1][-2:].zfill(2) for m in items))),))


# A "0x" without digits, or one glued to the digits before it (after "0X" became "0x"; the
# pattern starts with the literal, which keeps the search fast).
_HEX_LIST_ODD_ITEM = re.compile(r"0x(?:(?![0-9A-Fa-f])|(?<=[0-9A-Fa-f]0x))")
_COMMAS = str.maketrans(",", " ")


def _hex_list_fast(text: str) -> bytes | None:
    """A list of two-digit items, read in one pass; None for anything else or anything wrong."""
    first = HEX_ITEM.search(text)
    last = HEX_ITEM.match(text, max(text.rfind("0x"), text.rfind("0X"), 0))
    if first is None or last is None:
        return None
    prefix = _HEX_LIST_PREFIX.match(text)
    suffix = _HEX_LIST_SUFFIX.match(text, last.end())
    if prefix is None or prefix.end() != first.start() or suffix is None:
        return None
    body = text[first.start() : last.end()]
    if "0X" in body:
        body = body.replace("0X", "0x")
    if suffix.end() != len(text) or _HEX_LIST_ODD_ITEM.search(body):
        return None
    # Every "0x" now starts a run of digits of its own; if the runs, without their prefixes,
    # read as exactly one byte each, every item was two digits and nothing else was there.
    try:
        data = bytes.fromhex(body.replace("0x", "").translate(_COMMAS))
    except ValueError:
        return None
    return data if len(data) == body.count("0x") else None


_COMMENT_LINE = re.compile(r"^[ \t]*#[^\n]*$", re.M)


def read_plain(text: str, name: str) -> Dump:
    """Read plain hex in any spacing and case; lines starting with ``#`` are comments."""
    body = _COMMENT_LINE.sub("", text) if "#" in text else text
    try:
        data = bytes.fromhex(body)
    except ValueError:
        data = _read_plain_slowly(body)
    if not data:
        raise DumpError("no hex data found")
    return Dump(name, (Segment(data),))


def read_colon_hex(text: str, name: str) -> Dump:
    """Read colon-separated hex (``81:85:37:fa``), as packet analyzers print byte fields.

    Colons and spaces both separate bytes; line breaks are layout.
    """
    return read_plain(text.replace(":", " "), name)


def _read_plain_slowly(body: str) -> bytes:
    """Read hex that :meth:`bytes.fromhex` refused, or say which line is wrong."""
    lines = [line.split() for line in body.split("\n")]
    for number, tokens in enumerate(lines, 1):
        for token in tokens:
            if token == "*":
                raise DumpError(
                    f"line {number}: '*' repeats lines, but without offsets it cannot be "
                    "expanded; dump with od -v or hexdump -v"
                )
            if not re.fullmatch(f"{_H}+", token):
                hint = " (for base64 use --base64)" if _looks_base64(body) else ""
                raise DumpError(f"line {number}: {quote(token)} is not hex{hint}")
    odd = [(n, token) for n, tokens in enumerate(lines, 1) for token in tokens if len(token) % 2]
    digits = "".join(token for tokens in lines for token in tokens)
    # One run of hex wrapped at an odd width splits bytes across lines; spaced tokens may not.
    if not odd or (len(digits) % 2 == 0 and all(len(tokens) <= 1 for tokens in lines)):
        return bytes.fromhex(digits)
    number, token = odd[0]
    raise DumpError(f"line {number}: {quote(token)} has an odd number of hex digits")


def _looks_base64(text: str) -> bool:
    compact = "".join(text.split()).encode("ascii", "replace")
    if len(compact) < 8:
        return False  # short junk such as "zz" decodes too, by accident
    try:
        _unbase64(compact)
    except (binascii.Error, ValueError):
        return False
    return True
