"""Text dumps of traffic back into bytes: the first step of ``wstool decode``.

Users paste whatever they have at hand: ``xxd``, ``hexdump -C`` or ``od`` output, a Wireshark or
tcpdump hex dump, plain hex, C or Python escapes, a ``0x`` list; base64 and raw binary come in by
flag. :func:`read_dump` tells the format from the first lines and returns a :class:`Dump`. For
packet captures each TCP payload becomes a :class:`Segment` that knows its endpoints.

Offsets and ASCII columns are layout, never data: a line is matched as a whole, its offset must
equal the byte count so far, and ``*`` repeat lines are expanded from the offset that follows.

Standard library only: ``decode`` must start fast.
"""

from __future__ import annotations

import ast
import base64
import binascii
import ipaddress
import operator
import re
import warnings
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate, repeat

__all__ = ["Dump", "DumpError", "Segment", "detect_format", "read_base64", "read_dump", "read_raw"]

_HEAD_LINES = 40  # format detection reads this many non-blank lines...
_HEAD_CHARS = 1 << 16  # ...from at most this much text, so that a 50 MB dump is not scanned twice
_MAX_REPEAT = 1 << 28  # bytes one "*" line may stand for; beyond that the offsets are corrupt

_H = "[0-9A-Fa-f]"


class DumpError(ValueError):
    """The input cannot be read as a dump; ``str(error)`` is one line for the user."""


@dataclass(frozen=True)
class Segment:
    """A run of bytes from a dump: a TCP payload for packet captures, else a block of the dump.

    Attributes:
        data: The bytes.
        source: ``"ip:port"`` of the sender when the dump had IP/TCP headers, else None.
        destination: ``"ip:port"`` of the receiver when the dump had IP/TCP headers, else None.
    """

    data: bytes
    source: str | None = None
    destination: str | None = None


@dataclass(frozen=True)
class Dump:
    """What a dump held.

    Attributes:
        format: Human name of the detected format, such as ``"xxd"`` or ``"tcpdump -X"``.
        segments: The bytes in dump order; one per TCP payload for packet captures.
        notes: What was left out and why (skipped packets, retransmissions, capture gaps).
    """

    format: str
    segments: tuple[Segment, ...]
    notes: tuple[str, ...] = ()

    @property
    def data(self) -> bytes:
        """All segment data, concatenated."""
        return b"".join(segment.data for segment in self.segments)

    def streams(self) -> list[tuple[str | None, str | None, bytes]]:
        """TCP payload per direction, in order of first appearance.

        Returns:
            ``(source, destination, data)`` per direction; a single ``(None, None, data)`` for
            dumps without packet headers.
        """
        joined: dict[tuple[str | None, str | None], list[bytes]] = {}
        for segment in self.segments:
            joined.setdefault((segment.source, segment.destination), []).append(segment.data)
        if not joined:
            return [(None, None, b"")]
        return [(source, dest, b"".join(parts)) for (source, dest), parts in joined.items()]


def read_dump(text: str) -> Dump:
    """Read a text dump in any supported format, detected from its first lines.

    Args:
        text: The dump as the user pasted or saved it.

    Returns:
        The bytes, in segments.

    Raises:
        DumpError: The text is empty, not a dump, or a dump with a bad line.
    """
    text = _prepare(text)
    name, reader = _detect(text)
    return reader(text, name)


def detect_format(text: str) -> str:
    """Name the format :func:`read_dump` would read ``text`` as.

    Raises:
        DumpError: The text is empty, or its first lines are in a format we refuse.
    """
    return _detect(_prepare(text))[0]


def read_base64(text: str) -> Dump:
    """Read base64 (standard or URL-safe alphabet, padding optional, whitespace ignored).

    Lines that are each padded separately (several messages, one per line) become one segment
    per line.

    Raises:
        DumpError: A character is not base64, or the encoding is broken.
    """
    text = _prepare(text)
    bad = re.search(r"[^A-Za-z0-9+/=_\-\s]", text)
    if bad:
        raise DumpError(f"line {_line_of(text, bad.start())}: {bad.group()!r} is not base64")
    lines = [(number, "".join(line.split())) for number, line in enumerate(text.split("\n"), 1)]
    lines = [(number, line) for number, line in lines if line]
    if not lines:
        raise DumpError("no base64 data found")
    try:
        chunks = [_unbase64("".join(line for _, line in lines))]
    except binascii.Error as whole:
        chunks = []
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


def _unbase64(compact: str) -> bytes:
    # Both alphabets are common (JavaScript's btoa versus JWT-style payloads); padding is
    # often dropped when base64 is pasted by hand.
    altchars = b"-_" if "-" in compact or "_" in compact else None
    compact = compact.rstrip("=")
    return base64.b64decode(compact + "=" * (-len(compact) % 4), altchars, validate=True)


# --- Detection ---------------------------------------------------------------------------------

_Reader = Callable[[str, str], Dump]


def _prepare(text: str) -> str:
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text


def _head(text: str) -> tuple[str, list[str]]:
    """The first lines of ``text``: as text (line numbers kept), and the non-blank ones."""
    content = _NOT_SPACE.search(text)  # blank lines first may be more than _HEAD_CHARS
    start = text.rfind("\n", 0, content.start() if content else 0) + 1
    lines = text[start : start + _HEAD_CHARS].split("\n")
    if start + _HEAD_CHARS < len(text) and len(lines) > 1:
        lines.pop()  # cut short; a single line is kept, as the start of one long line
    numbers = [number for number, line in enumerate(lines) if line.strip()][:_HEAD_LINES]
    lines = lines[: numbers[-1] + 1] if numbers else []
    text = "\n" * text.count("\n", 0, start) + "\n".join(lines)
    return text, [line for line in lines if line.strip()]


_NOT_SPACE = re.compile(r"\S")
_PY_START = re.compile(
    r"(?:\s*[A-Za-z_][\w.]*\s*=)?(?:\s*bytearray|\s*bytes)?[\s(\[]*(?:[bB][rR]?|[rR][bB])['\"]"
)
_TCPDUMP_PREFIX = re.compile(rf"\s*0x{_H}+:")
_SNIFF_XXD = re.compile(rf"\s*{_H}{{4,}}: {_H}{{2}}")
_SNIFF_HEXDUMP = re.compile(rf"\s*{_H}{{4,}}  {_H}{{2}} .*\|")
_SNIFF_WIRESHARK = re.compile(rf"\s*0000  +{_H}{{2}}(?: |$)")
_SNIFF_OD = re.compile(rf"\s*{_H}{{6,}}(?: +{_H}{{2}})+(?:\s+>.*<)?\s*$")
# hexdump without -C and od -x print 16-bit words in host byte order: the dump does not say
# which order that was, so the bytes cannot be recovered with certainty.
_SNIFF_WORDS = re.compile(rf"\s*0{{6,}}(?: +{_H}{{4,}})+\s*")
_HEX_ITEM = re.compile(r"0[xX]([0-9A-Fa-f]+)")


def _detect(text: str) -> tuple[str, _Reader]:
    head, everything = _head(text)
    if not everything:
        raise DumpError("empty input: no dump to read")
    # "#" starts a comment in plain hex; it may also be data in escapes.
    lines = [line for line in everything if not line.lstrip().startswith("#")] or everything
    first = lines[0]
    if any(_TCPDUMP_PREFIX.match(line) for line in lines):
        return _tcpdump_name(head, lines), _read_tcpdump
    if _PY_START.match(text):
        return "Python bytes literal", _read_python
    if _SNIFF_WORDS.fullmatch(first) and _offset_follows(lines):
        raise DumpError(
            f"line {head.split(chr(10)).index(first) + 1}: 16-bit words (hexdump without -C, "
            "od -x) hide the byte order; dump with hexdump -C, xxd or od -A x -t x1z"
        )
    for layout, sniff in (
        (_XXD, _SNIFF_XXD),
        (_HEXDUMP, _SNIFF_HEXDUMP),
        (_WIRESHARK, _SNIFF_WIRESHARK),
        (_OD, _SNIFF_OD),
    ):
        found = _layout_reader(layout, head, lines) if sniff.match(first) else None
        if found is not None:
            return found
    if any("\\" in line for line in everything):
        quoted = everything[0].lstrip().startswith('"')
        return ("C string" if quoted else "\\x escapes"), _read_escapes
    if any(_HEX_ITEM.search(line) for line in lines):
        return "0x list", _read_hex_list
    return "plain hex", _read_plain


# --- Offset dumps: xxd, hexdump -C, od, Wireshark, tcpdump ---------------------------------------


@dataclass(frozen=True)
class _Layout:
    """How one tool lays out an offset dump: which lines carry data, and what else may appear.

    ``line`` matches one data line with groups ``off``, ``hex`` and ``text`` (the ASCII column).
    ``fast``, when set, finds data lines over a whole text (groups: offset, hex) for
    :func:`_read_fast`; it may be laxer than ``line`` because its result is checked as a whole.
    """

    name: str
    line: re.Pattern[str]
    fast: re.Pattern[str] | None
    radices: tuple[int, ...] = (16,)
    stars: bool = False  # "*" stands for repeats of the line above, up to the next offset
    closing: bool = False  # a bare offset line gives the total length
    headers: bool = False  # any other line is a packet header (tcpdump)


_XXD = _Layout(
    "xxd",
    # Groups are separated by one space and the ASCII column by two; the ASCII column may look
    # like hex ("cafe 1234"), so the hex ends at the first double space.
    re.compile(
        rf"[ \t]*(?P<off>{_H}+): (?P<hex>(?:{_H}{{2}})+(?: (?:{_H}{{2}})+)*)(?:  (?P<text>.*)|\s*)"
    ),
    re.compile(rf"^[ \t]*({_H}+): ((?:{_H}+ )+)(?: [^\n]*)?$", re.M),
    radices=(16, 10),  # xxd -d prints decimal offsets
    stars=True,  # xxd -a
)
_HEXDUMP = _Layout(
    "hexdump -C",
    re.compile(
        rf"[ \t]*(?P<off>{_H}+)  (?P<hex>{_H}{{2}}(?: {{1,2}}{_H}{{2}})*)\s+\|(?P<text>.*)\|\s*"
    ),
    re.compile(rf"^[ \t]*({_H}+)  ((?:{_H}{{2}} {{1,2}})+) *\|[^\n]*\|[ \t]*$", re.M),
    stars=True,
    closing=True,
)
_OD = _Layout(
    "od",
    re.compile(rf"[ \t]*(?P<off>{_H}+)(?P<hex>(?: +{_H}{{2}})+)(?:\s+>(?P<text>.*)<)?\s*"),
    re.compile(rf"^[ \t]*({_H}+)((?: +{_H}{{2}})+)(?:[ \t]+>[^\n]*<)?[ \t]*$", re.M),
    radices=(16, 10, 8),
    stars=True,
    closing=True,
)
_WIRESHARK = _Layout(
    "Wireshark",
    # Bytes are one space apart (two in the middle in older versions); the ASCII column is
    # three spaces or more away.
    re.compile(
        rf"[ \t]*(?P<off>{_H}{{4,}})  +(?P<hex>{_H}{{2}}(?: {{1,2}}{_H}{{2}})*)"
        rf"(?:   +(?P<text>.*)|\s*)"
    ),
    re.compile(
        rf"^[ \t]*({_H}{{4,}})  +((?:{_H}{{2}} {{1,2}})*{_H}{{2}})(?:   [^\n]*)?[ \t]*$", re.M
    ),
)
_TCPDUMP = _Layout(
    "tcpdump",
    re.compile(
        rf"\s*0x(?P<off>{_H}+):\s+(?P<hex>{_H}{{2}}(?:{_H}{{2}})?(?: {_H}{{2}}(?:{_H}{{2}})?)*)"
        rf"(?:\s{{2,}}(?P<text>.*?))?\s*"
    ),
    None,
    headers=True,
)
_BARE_OFFSET = re.compile(rf"{_H}+")


def _offset_follows(head: list[str]) -> bool:
    """Whether line 2 starts with an offset as wide as line 1's and at most 16 from it."""
    if len(head) < 2 or not head[1].split():
        return False
    first, second = head[0].split()[0], head[1].split()[0]
    return len(first) == len(second) and bool(re.fullmatch(r"0*(?:1?[0-9a-fA-F]|20)", second))


def _layout_reader(layout: _Layout, text: str, head: list[str]) -> tuple[str, _Reader] | None:
    """The reader for an offset dump, or None if the first lines are better read as plain hex.

    Args:
        layout: The layout the first line looks like.
        text: The first lines as text.
        head: The first lines, blank lines left out.
    """
    radix = _pick_radix(layout, text, head[0])
    first = layout.line.fullmatch(head[0])
    text_column = first is not None and first["text"] is not None
    # od always ends with a bare offset line, so one line without an ASCII column is more
    # likely plain hex that starts with zeros.
    doubtful = radix is None or (layout is _OD and len(head) == 1 and not text_column)
    plain = all(re.fullmatch(f"{_H}+", token) for line in head for token in line.split())
    if doubtful and plain:
        return None
    radix = radix or layout.radices[0]
    if layout is _XXD:
        _refuse_xxd_variants(text)
        name = "xxd -d" if radix == 10 else "xxd"
    elif layout is _OD:
        flag = {16: " -A x", 10: " -A d", 8: ""}[radix]
        name = f"od{flag} -t x1{'z' if text_column else ''}"
    elif layout is _WIRESHARK:
        name = "Wireshark hex + ASCII dump" if text_column else "Wireshark hex dump"
    else:
        name = layout.name

    def read(text: str, title: str) -> Dump:
        blocks = _read_offsets(text, layout, radix)
        if layout is _WIRESHARK:
            return _wireshark_dump(title, blocks)
        return Dump(title, tuple(Segment(data) for _, data in blocks))

    return name, read


def _pick_radix(layout: _Layout, text: str, first: str) -> int | None:
    """The offset radix under which the first lines are consistent, if any."""
    good = []
    for radix in layout.radices:
        try:
            _read_lines(text, layout, radix, head=True)
        except DumpError:
            continue
        good.append(radix)
    if not good:
        return None
    offset = layout.line.fullmatch(first)
    if 8 in good and offset is not None and len(offset["off"]) == 7:
        return 8  # od's default seven octal digits
    return good[0]


def _refuse_xxd_variants(text: str) -> None:
    """Refuse ``xxd -e`` and ``xxd -b``, which the xxd line pattern would misread.

    The ASCII column tells: with -e each group's bytes are reversed, with -b each 8-digit group
    is one byte in binary.
    """
    for number, line in enumerate(text.split("\n"), 1):
        match = _XXD.line.fullmatch(line)
        if match is None or not match["text"]:
            continue
        groups = match["hex"].split()
        text = match["text"].rstrip()
        if _printable(bytes.fromhex("".join(groups))).rstrip() == text:
            return
        if all(re.fullmatch("[01]{8}", group) for group in groups) and len(text) <= len(groups):
            raise DumpError(f"line {number}: xxd -b (binary digits) is not supported; use xxd")
        swapped = b"".join(bytes.fromhex(group)[::-1] for group in groups)
        if _printable(swapped).rstrip() == text:
            raise DumpError(f"line {number}: xxd -e (little-endian) is not supported; use xxd")


def _printable(data: bytes) -> str:
    return "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in data)


def _read_offsets(text: str, layout: _Layout, radix: int) -> list[tuple[int, bytes]]:
    data = _read_fast(text, layout, radix)
    blocks = [(1, data)] if data is not None else _read_lines(text, layout, radix)
    if not blocks:
        raise DumpError(f"no hex data found in the {layout.name} dump")
    return blocks


def _read_fast(text: str, layout: _Layout, radix: int) -> bytes | None:
    """Read a well-formed dump with whole-text regexes: no per-line Python on the hot path.

    Returns:
        The bytes, or None for anything unusual (a bad or blank line, ``*``, several blocks),
        which :func:`_read_lines` then reads line by line and reports precisely.
    """
    if layout.fast is None:
        return None
    body, total = text.strip(), None
    if layout.closing:
        rest, _, last = body.rpartition("\n")
        if _BARE_OFFSET.fullmatch(last.strip()):
            body, total = rest.rstrip(), last.strip()
    rows = layout.fast.findall(body)
    if not rows or len(rows) != body.count("\n") + 1:
        return None
    hexes, offset_texts = [row[1] for row in rows], [row[0] for row in rows]
    if min(map(len, offset_texts)) < len(offset_texts[0]):
        return None
    try:
        offsets = list(map(int, offset_texts, repeat(radix)))
        ends = None if total is None else int(total, radix)
        data = bytes.fromhex(" ".join(hexes))  # the space keeps an odd group from pairing up
    except ValueError:
        return None
    digits = map(operator.sub, map(len, hexes), map(str.count, hexes, repeat(" ")))
    starts = list(accumulate(map(operator.rshift, digits, repeat(1)), initial=offsets[0]))
    if starts[:-1] != offsets or (ends is not None and ends != starts[-1]):
        return None
    return data


class _Assembler:
    """Collects data lines into blocks, checking every offset; used off the fast path.

    A block ends where the offsets restart at 0 (several dumps or packets pasted together) or,
    in tcpdump output, at a packet header line.
    """

    def __init__(self, radix: int) -> None:
        self.radix = radix
        self.blocks: list[tuple[int, bytes]] = []
        self._parts: list[str] = []
        self._start = 0  # line number of the block's first data line
        self._expected: int | None = None  # the offset the next data line must have
        self._previous = ""  # hex of the last data line, which "*" repeats
        self._star = 0  # line number of a pending "*"
        self._width = 0  # digits in the first offset: offsets only grow wider

    def data(self, number: int, offset_text: str, hex_text: str) -> None:
        offset = self._offset(number, offset_text)
        if self._star:
            self._repeat(number, offset)
        elif self._expected is not None and offset != self._expected:
            if offset != 0:
                raise DumpError(
                    f"line {number}: offset {offset_text} breaks the sequence "
                    f"(expected {self._show(self._expected)}: a line is missing or garbled)"
                )
            self.flush()
        if not self._parts:
            self._start = number
        self._parts.append(hex_text)
        self._previous = hex_text
        self._expected = offset + _count_bytes(hex_text)

    def star(self, number: int) -> None:
        if not self._previous or self._star:
            raise DumpError(f"line {number}: '*' has no data line above it to repeat")
        self._star = number

    def total(self, number: int, offset_text: str) -> None:
        offset = self._offset(number, offset_text)
        if self._star:
            self._repeat(number, offset)
        elif self._expected is not None and offset != self._expected:
            raise DumpError(
                f"line {number}: final offset {offset_text} does not match the data above "
                f"(expected {self._show(self._expected)})"
            )
        self._expected = offset

    def flush(self) -> None:
        if self._parts:
            self.blocks.append((self._start, bytes.fromhex(" ".join(self._parts))))
        self._parts, self._expected, self._previous = [], None, ""

    def finish(self, head: bool) -> list[tuple[int, bytes]]:
        if self._star and not head:
            raise DumpError(f"line {self._star}: '*' at the end, with no offset to repeat up to")
        self.flush()
        return self.blocks

    def _repeat(self, number: int, offset: int) -> None:
        # hexdump, od and xxd -a print "*" for lines equal to the one above; only the next
        # offset says how many there were.
        assert self._expected is not None
        size, gap = _count_bytes(self._previous), offset - self._expected
        if gap < 0 or gap % size or gap > _MAX_REPEAT:
            raise DumpError(
                f"line {self._star}: '*' cannot be expanded: line {number} is at offset "
                f"{self._show(offset)}, not a whole number of {size}-byte lines further"
            )
        self._parts.append((" " + self._previous) * (gap // size))
        self._star = 0

    def _offset(self, number: int, text: str) -> int:
        self._width = self._width or len(text)
        if len(text) < self._width:
            raise DumpError(f"line {number}: {text!r} is not an offset like those above")
        try:
            return int(text, self.radix)
        except ValueError:
            raise DumpError(f"line {number}: {text!r} is not a base-{self.radix} offset") from None

    def _show(self, offset: int) -> str:
        return {16: f"{offset:x}", 10: f"{offset}", 8: f"{offset:o}"}[self.radix]


def _count_bytes(hex_text: str) -> int:
    return (len(hex_text) - hex_text.count(" ")) // 2


def _read_lines(
    text: str, layout: _Layout, radix: int, head: bool = False
) -> list[tuple[int, bytes]]:
    """Read an offset dump line by line, reporting the first bad line.

    Args:
        text: The dump.
        layout: The tool's layout.
        radix: Base of the offsets.
        head: ``text`` is the start of a longer dump: a trailing ``*`` is not an error.
    """
    assembler = _Assembler(radix)
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            continue
        match = layout.line.fullmatch(line)
        if match is not None:
            assembler.data(number, match["off"], match["hex"])
            continue
        bare = line.strip()
        if layout.stars and bare == "*":
            assembler.star(number)
        elif layout.closing and _BARE_OFFSET.fullmatch(bare):
            assembler.total(number, bare)
        elif layout.headers and not _TCPDUMP_PREFIX.match(line):
            assembler.flush()
        else:
            raise _bad_line(number, line, layout.name)
    return assembler.finish(head)


def _bad_line(number: int, line: str, name: str) -> DumpError:
    # Name the first token of the hex area that is not hex, if the line gets that far.
    area = re.sub(rf"^\s*(?:0x)?{_H}+:?\s+", "", line, count=1)
    for token in re.split(r"\s+", re.split(r"\s{3,}|[|>]", area, maxsplit=1)[0].strip()):
        if token and not re.fullmatch(f"{_H}+", token):
            return DumpError(f"line {number}: {_quote(token)} is not hex")
    return DumpError(f"line {number}: not {name} output: {_quote(line)}")


def _quote(text: str) -> str:
    text = text.strip()
    return repr(text if len(text) <= 40 else text[:37] + "...")


def _line_of(text: str, position: int) -> int:
    return text.count("\n", 0, position) + 1


# --- Packets: tcpdump and Wireshark frames -------------------------------------------------------


@dataclass(frozen=True)
class _Tcp:
    """A TCP segment as captured."""

    source: str
    destination: str
    seq: int
    syn: bool
    payload: bytes


@dataclass(frozen=True)
class _Unusable:
    """Why a captured frame yields no TCP segment."""

    reason: str
    truncated: bool = False


_IPV4, _IPV6 = b"\x08\x00", b"\x86\xdd"
# DLT_NULL/DLT_LOOP: a 4-byte address family in either byte order (AF_INET6 differs by OS).
_FAMILIES = {
    key: ethertype
    for family, ethertype in ((2, _IPV4), (10, _IPV6), (24, _IPV6), (28, _IPV6), (30, _IPV6))
    for key in (family.to_bytes(4, "big"), family.to_bytes(4, "little"))
}
_IPV6_EXTENSIONS = {0, 43, 44, 50, 51, 60, 135, 139, 140}


def _network_start(frame: bytes, complete: bool = True) -> int | None:
    """Where the IP header starts, judged from the bytes rather than from tcpdump's flags.

    Args:
        frame: A captured frame.
        complete: ``frame`` is whole; when False only the headers are checked.

    Returns:
        0 for raw IP (tcpdump -x), else the length of the link-layer header; None if no
        IPv4 or IPv6 header is found.
    """
    candidates: list[tuple[int, bytes | None]] = [(0, None)]
    if frame[12:14] == b"\x81\x00":
        candidates.append((18, frame[16:18]))  # Ethernet with an 802.1Q VLAN tag
    candidates += [
        (14, frame[12:14]),  # Ethernet: ethertype at 12
        (16, frame[14:16]),  # Linux cooked capture (SLL): protocol at 14
        (20, frame[0:2] if frame[2:4] == b"\0\0" else b""),  # SLL2: protocol, 2 reserved bytes
        (4, _FAMILIES.get(frame[:4], b"")),  # BSD loopback
    ]
    for start, ethertype in candidates:
        if _is_ip(frame[start:], ethertype, complete):
            return start
    return None


def _is_ip(ip: bytes, ethertype: bytes | None, complete: bool) -> bool:
    if len(ip) < 20:
        return False
    version = ip[0] >> 4
    if ethertype is not None and ethertype != {4: _IPV4, 6: _IPV6}.get(version):
        return False
    if version == 4:
        # The header checksum makes a chance match negligible; the kernel always fills it in,
        # unlike the TCP checksum, which offloading leaves wrong in captures.
        size = (ip[0] & 0x0F) * 4
        total = int.from_bytes(ip[2:4], "big")
        return size >= 20 and len(ip) >= size and total >= size and _checksum(ip[:size]) == 0
    if version == 6 and len(ip) >= 40:
        if ethertype is not None:
            return True
        # No link layer to vouch for it and no header checksum: the length must fit exactly.
        fits = 40 + int.from_bytes(ip[4:6], "big") - len(ip)
        return fits == 0 or (fits > 0 and not complete)
    return False


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``; 0 when a header with its checksum is valid."""
    data += b"\0" * (len(data) % 2)
    total = sum(int.from_bytes(data[i : i + 2], "big") for i in range(0, len(data), 2))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _parse_frame(frame: bytes) -> _Tcp | _Unusable:
    """Strip the link, IP and TCP headers of one captured frame."""
    start = _network_start(frame)
    if start is None:
        return _Unusable("no IPv4 or IPv6 header found")
    ip = frame[start:]
    if ip[0] >> 4 == 4:
        header, total, protocol = (ip[0] & 0x0F) * 4, int.from_bytes(ip[2:4], "big"), ip[9]
        if int.from_bytes(ip[6:8], "big") & 0x3FFF:  # more-fragments flag or a fragment offset
            return _Unusable("IPv4 fragment")
        hosts = (str(ipaddress.IPv4Address(ip[12:16])), str(ipaddress.IPv4Address(ip[16:20])))
    else:
        header, total, protocol = 40, 40 + int.from_bytes(ip[4:6], "big"), ip[6]
        if protocol in _IPV6_EXTENSIONS:
            return _Unusable(f"IPv6 extension header {protocol} is not supported")
        hosts = (f"[{ipaddress.IPv6Address(ip[8:24])}]", f"[{ipaddress.IPv6Address(ip[24:40])}]")
    if total > len(ip):
        return _Unusable(f"packet cut short: IP length {total}, {len(ip)} bytes captured", True)
    # Ethernet pads frames to 60 bytes and may keep its 4-byte checksum, and tcpdump -x shows
    # both (without the 14-byte header); nothing else may follow the IP packet.
    trailer, link = len(ip) - total, max(start, 14)
    padding = link + total < 60 and link + len(ip) <= 64
    if trailer and not (padding or (start and trailer == 4)):
        return _Unusable(f"{trailer} bytes follow the IP packet")
    if protocol != 6:
        return _Unusable(f"not TCP (IP protocol {protocol})")
    tcp = ip[header:total]
    size = (tcp[12] >> 4) * 4 if len(tcp) >= 20 else 0
    if size < 20 or size > len(tcp):
        return _Unusable("TCP header cut short")
    ports = int.from_bytes(tcp[0:2], "big"), int.from_bytes(tcp[2:4], "big")
    return _Tcp(
        f"{hosts[0]}:{ports[0]}",
        f"{hosts[1]}:{ports[1]}",
        int.from_bytes(tcp[4:8], "big"),
        bool(tcp[13] & 0x02),
        tcp[size:],
    )


class _Reassembly:
    """Keeps each direction's TCP payload once: retransmitted bytes are dropped."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.notes: list[tuple[int, str]] = []  # (line number, what happened there)
        self._next: dict[tuple[str, str], int] = {}  # next sequence number per direction

    def add(self, number: int, tcp: _Tcp) -> None:
        direction, data = (tcp.source, tcp.destination), tcp.payload
        # RFC 9293 §3.4: "the SYN is considered to occur before the first actual data octet".
        seq = (tcp.seq + 1) & 0xFFFFFFFF if tcp.syn else tcp.seq
        expected = self._next.get(direction)
        if expected is not None and data:
            ahead = (seq - expected + (1 << 31)) % (1 << 32) - (1 << 31)  # sequence space wraps
            if -ahead >= len(data):
                self.notes.append((number, f"retransmission of {len(data)} bytes dropped"))
                return
            if ahead < 0:
                self.notes.append((number, f"{-ahead} retransmitted bytes dropped"))
                seq, data = expected, data[-ahead:]
            elif ahead > 0:
                self.notes.append((number, f"{ahead} bytes before this segment not captured"))
        if expected is None or tcp.syn or data:
            self._next[direction] = (seq + len(data)) & 0xFFFFFFFF
        if data:
            self.segments.append(Segment(data, tcp.source, tcp.destination))

    def dump(self, name: str, skipped: list[tuple[int, str]], packets: int) -> Dump:
        if not self.segments:
            raise DumpError(f"no TCP payload: the {packets} TCP packets carry headers only")
        notes = sorted(skipped + self.notes)
        return Dump(name, tuple(self.segments), tuple(f"line {n}: {note}" for n, note in notes))


def _tcpdump_name(text: str, head: list[str]) -> str:
    """``tcpdump -x``, ``-xx``, ``-X`` or ``-XX``: ASCII column, and link-layer header or not."""
    matches = (_TCPDUMP.line.fullmatch(line) for line in head)
    letter = "X" if any(match is not None and match["text"] for match in matches) else "x"
    try:
        frames = _read_lines(text, _TCPDUMP, 16, head=True)
    except DumpError:
        frames = []  # reading the whole dump will say what is wrong
    for _, frame in frames:
        start = _network_start(frame, complete=False)
        if start is not None:
            return f"tcpdump -{letter * (2 if start else 1)}"
    return f"tcpdump -{letter}"


def _read_tcpdump(text: str, name: str) -> Dump:
    frames = _read_lines(text, _TCPDUMP, 16)
    if not frames:
        raise DumpError("no packet data found in the tcpdump output")
    streams, skipped, packets = _Reassembly(), [], 0
    for number, frame in frames:
        parsed = _parse_frame(frame)
        if isinstance(parsed, _Tcp):
            packets += 1
            streams.add(number, parsed)
        elif parsed.truncated:
            raise DumpError(f"line {number}: {parsed.reason}; capture with -s 0")
        else:
            skipped.append((number, f"packet skipped: {parsed.reason}"))
    if not packets:
        raise DumpError(f"no TCP packets found (line {skipped[0][0]}: {skipped[0][1]})")
    return streams.dump(name, skipped, packets)


def _wireshark_dump(name: str, blocks: list[tuple[int, bytes]]) -> Dump:
    """Strip headers when every block is a whole TCP/IP frame; else keep the bytes as they are."""
    packets = [(number, _parse_frame(frame)) for number, frame in blocks]
    streams = _Reassembly()
    for number, tcp in packets:
        if not isinstance(tcp, _Tcp):
            return Dump(name, tuple(Segment(frame) for _, frame in blocks))
        streams.add(number, tcp)
    return streams.dump(name, [], len(packets))


# --- Text renderings: Python literals, escapes, 0x lists, plain hex -----------------------------

_PY_PREFIX = re.compile(r"\s*(?:[A-Za-z_][\w.]*\s*=\s*)?(?:bytearray|bytes)?")
_PY_TOKEN = re.compile(
    r"(?P<literal>(?:[bB][rR]?|[rR][bB])(?:'''(?:[^\\]|\\.)*?'''|\"\"\"(?:[^\\]|\\.)*?\"\"\""
    r"|'(?:[^'\\\n]|\\.)*'|\"(?:[^\"\\\n]|\\.)*\"))|(?P<gap>[\s()\[\]+,\\]+)|(?P<other>[^\s()+]+)",
    re.S,
)


def _read_python(text: str, name: str) -> Dump:
    """Read Python ``b'...'`` literals, joined when there are several (as Python joins them)."""
    parts = []
    prefix = _PY_PREFIX.match(text)
    for match in _PY_TOKEN.finditer(text, prefix.end() if prefix else 0):
        if match.lastgroup == "other":
            what = "an unterminated bytes literal" if match.group()[:2] in ("b'", 'b"') else "junk"
            raise DumpError(f"line {_line_of(text, match.start())}: {_quote(match[0])} is {what}")
        if match.lastgroup == "literal":
            parts.append(_python_literal(match.group(), text, match.start()))
    data = b"".join(parts)
    if not data:
        raise DumpError("no data: the bytes literals are empty")
    return Dump(name, (Segment(data),))


def _python_literal(source: str, text: str, position: int) -> bytes:
    # literal_eval applies Python's own escape rules; it only ever sees one matched literal.
    # The line number is counted only for a message: counting for every literal is quadratic.
    def number() -> int:
        return _line_of(text, position)

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # unknown escapes such as \d stay as they are, as in Python
        try:
            value = ast.literal_eval(source)
        except SyntaxError as error:
            raise DumpError(f"line {number()}: invalid bytes literal: {error.msg}") from None
        except ValueError as error:
            raise DumpError(f"line {number()}: invalid bytes literal: {error}") from None
    if not isinstance(value, bytes):
        raise DumpError(f"line {number()}: {_quote(source)} is not a bytes literal")
    return value


_QUOTED = re.compile(r"\"((?:[^\"\\]|\\.)*)\"|'((?:[^'\\]|\\.)*)'")
_C_ESCAPE = re.compile(r"\\(?:[xX][0-9A-Fa-f]{2}|[0-7]{1,3}|[abfnrtv\\'\"])")


def _read_escapes(text: str, name: str) -> Dump:
    """Read ``\\x81\\x05Hello``: C escapes (hex and octal) in printable text, quoted or not.

    Line breaks are layout, as are spaces at either end of an unquoted line; inside quotes every
    character counts. Adjacent quoted strings are joined, as C and Python do.
    """
    chunks = []
    for number, line in enumerate(text.split("\n"), 1):
        line = line.strip()
        if line:
            chunks += [_unescape(piece, number) for piece in _quoted_pieces(line)]
    data = b"".join(chunks)
    if not data:
        raise DumpError("no data: the strings are empty")
    return Dump(name, (Segment(data),))


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


def _read_hex_list(text: str, name: str) -> Dump:
    """Read ``0x81, 0x05`` lists: C and Go arrays, Python lists, ``xxd -i`` output."""
    items = list(_HEX_ITEM.finditer(text))
    if not items:
        raise DumpError("no hex data found")
    prefix_end = _HEX_LIST_PREFIX.match(text)
    suffix_end = _HEX_LIST_SUFFIX.match(text, items[-1].end())
    for end, limit in ((prefix_end, items[0].start()), (suffix_end, len(text))):
        position = end.end() if end else limit
        if position < limit:
            raise DumpError(
                f"line {_line_of(text, position)}: {_quote(text[position:][:20])} is not 0x hex"
            )
    previous = items[0].start()
    for item in items:
        gap = text[previous : item.start()]
        if gap.strip(" \t\n,"):
            position = previous + len(gap) - len(gap.lstrip(" \t\n,"))
            junk = gap.strip(" \t\n,")
            raise DumpError(f"line {_line_of(text, position)}: {_quote(junk)} is not 0x hex")
        if len(item[1]) > 2 and int(item[1], 16) > 0xFF:
            raise DumpError(f"line {_line_of(text, item.start())}: {item[0]} is not a byte")
        previous = item.end()
    return Dump(name, (Segment(bytes.fromhex("".join(m[1][-2:].zfill(2) for m in items))),))


_COMMENT_LINE = re.compile(r"^[ \t]*#[^\n]*$", re.M)


def _read_plain(text: str, name: str) -> Dump:
    """Read plain hex in any spacing and case; lines starting with ``#`` are comments."""
    body = _COMMENT_LINE.sub("", text) if "#" in text else text
    try:
        data = bytes.fromhex(body)
    except ValueError:
        data = _read_plain_slowly(body)
    if not data:
        raise DumpError("no hex data found")
    return Dump(name, (Segment(data),))


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
                raise DumpError(f"line {number}: {_quote(token)} is not hex{hint}")
    odd = [(n, token) for n, tokens in enumerate(lines, 1) for token in tokens if len(token) % 2]
    digits = "".join(token for tokens in lines for token in tokens)
    # One run of hex wrapped at an odd width splits bytes across lines; spaced tokens may not.
    if not odd or (len(digits) % 2 == 0 and all(len(tokens) <= 1 for tokens in lines)):
        return bytes.fromhex(digits)
    number, token = odd[0]
    raise DumpError(f"line {number}: {_quote(token)} has an odd number of hex digits")


def _looks_base64(text: str) -> bool:
    compact = "".join(text.split())
    if len(compact) < 8:
        return False  # short junk such as "zz" decodes too, by accident
    try:
        _unbase64(compact)
    except (binascii.Error, ValueError):
        return False
    return True
