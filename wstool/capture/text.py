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

import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from itertools import accumulate, repeat

from wstool.capture.dump import Dump, DumpError, Segment, prepare, quote
from wstool.capture.literals import (
    HEX_ITEM,
    read_colon_hex,
    read_escapes,
    read_hex_list,
    read_plain,
    read_python,
)
from wstool.capture.packets import network_start
from wstool.capture.tcp import read_packets

__all__ = ["detect_format", "read_dump"]

_HEAD_LINES = 40  # format detection reads this many non-blank lines...
_HEAD_CHARS = 1 << 16  # ...from at most this much text, so that a 50 MB dump is not scanned twice
_MAX_REPEAT = 1 << 28  # bytes one "*" line may stand for; beyond that the offsets are corrupt

_H = "[0-9A-Fa-f]"


def read_dump(text: str) -> Dump:
    """Read a text dump in any supported format, detected from its first lines.

    Args:
        text: The dump as the user pasted or saved it.

    Returns:
        The bytes, in segments.

    Raises:
        DumpError: The text is empty, not a dump, or a dump with a bad line.
    """
    text = prepare(text)
    name, reader = _detect(text)
    return reader(text, name)


def detect_format(text: str) -> str:
    """Name the format :func:`read_dump` would read ``text`` as.

    Raises:
        DumpError: The text is empty, or its first lines are in a format we refuse.
    """
    return _detect(prepare(text))[0]


# --- Detection ---------------------------------------------------------------------------------

_Reader = Callable[[str, str], Dump]


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
# tshark -x names each data source when a packet has several: "Frame (84 bytes):", then the
# ones its dissectors derived ("Reassembled TCP (241 bytes):", "Unmasked data (12 bytes):").
_TSHARK_LABEL = re.compile(r"[ \t]*([^\s():][^\n():]*?) \((\d+) bytes?\):[ \t]*")
_SNIFF_COLONS = re.compile(
    rf"[ \t]*{_H}{{2}}(?::{_H}{{2}})+:?(?:[ \t]+{_H}{{2}}(?::{_H}{{2}})*:?)*\s*"
)
_SNIFF_OD = re.compile(rf"\s*{_H}{{6,}}(?: +{_H}{{2}})+(?:\s+>.*<)?\s*$")
# hexdump without -C and od -x print 16-bit words in host byte order: the dump does not say
# which order that was, so the bytes cannot be recovered with certainty.
_SNIFF_WORDS = re.compile(rf"\s*0{{6,}}(?: +{_H}{{4,}})+\s*")


def _detect(text: str) -> tuple[str, _Reader]:
    head, everything = _head(text)
    if not everything:
        raise DumpError("empty input: no dump to read")
    # "#" starts a comment in plain hex; it may also be data in escapes.
    lines = [line for line in everything if not line.lstrip().startswith("#")] or everything
    labelled = [line for line in lines if not _TSHARK_LABEL.fullmatch(line)]
    if labelled and labelled != lines and _SNIFF_WIRESHARK.match(labelled[0]):
        tshark = _layout_reader(_WIRESHARK, head, labelled)
        if tshark is not None:
            return tshark
    first = lines[0]
    if any(_TCPDUMP_PREFIX.match(line) for line in lines):
        return _tcpdump_name(head, lines), _read_tcpdump
    if _PY_START.match(text):
        return "Python bytes literal", read_python
    if _SNIFF_COLONS.fullmatch(first):
        return "colon-separated hex", read_colon_hex
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
        return ("C string" if quoted else "\\x escapes"), read_escapes
    if any(HEX_ITEM.search(line) for line in lines):
        return "0x list", read_hex_list
    return "plain hex", read_plain


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
    labels: bool = False  # "Frame (84 bytes):" names the data source that follows (tshark -x)


_XXD = _Layout(
    "xxd",
    # Groups are separated by one space and the ASCII column by two; the ASCII column may look
    # like hex ("cafe 1234"), so the hex ends at the first double space.
    re.compile(
        rf"[ \t]*(?P<off>{_H}+): (?P<hex>(?:{_H}{{2}})+(?: (?:{_H}{{2}})+)*)(?:  (?P<text>.*)|\s*)"
    ),
    re.compile(rf"^[ \t]*({_H}+): ([0-9a-f ]{{40}}|(?:{_H}+ )+)(?: [^\n]*)?$", re.M),
    radices=(16, 10),  # xxd -d prints decimal offsets
    stars=True,  # xxd -a
)
_HEXDUMP = _Layout(
    "hexdump -C",
    re.compile(
        rf"[ \t]*(?P<off>{_H}+)  (?P<hex>{_H}{{2}}(?: {{1,2}}{_H}{{2}})*)\s+\|(?P<text>.*)\|\s*"
    ),
    re.compile(
        rf"^[ \t]*({_H}+)  ([0-9a-f ]{{50}}|(?:{_H}{{2}} {{1,2}})+) *\|[^\n]*\|[ \t]*$", re.M
    ),
    stars=True,
    closing=True,
)
_OD = _Layout(
    "od",
    re.compile(rf"[ \t]*(?P<off>{_H}+)(?P<hex>(?: +{_H}{{2}})+)(?:\s+>(?P<text>.*)<)?\s*"),
    re.compile(
        rf"^[ \t]*({_H}+)([0-9a-f ]{{48}}|(?: +{_H}{{2}})+)(?:[ \t]+>[^\n]*<)?[ \t]*$", re.M
    ),
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
        rf"^[ \t]*({_H}{{4,}})  +([0-9a-f ]{{47}}|(?:{_H}{{2}} {{1,2}})*{_H}{{2}})"
        rf"(?:   [^\n]*)?[ \t]*$",
        re.M,
    ),
    labels=True,
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
    elif layout is _WIRESHARK and _is_tshark(text):
        name = "tshark -x"
    elif layout is _WIRESHARK:
        name = "Wireshark hex + ASCII dump" if text_column else "Wireshark hex dump"
    else:
        name = layout.name

    def read(text: str, title: str) -> Dump:
        blocks = _read_offsets(text, layout, radix)
        if layout is _WIRESHARK:
            stream_name = f"{title} without packet headers (the bytes as one stream)"
            return read_packets(blocks, title, stream_name, "copy the whole packet")
        return Dump(title, tuple(Segment(data) for _, data in blocks))

    return name, read


def _is_tshark(text: str) -> bool:
    """Whether a Wireshark-style dump holds several packets or data sources, as tshark prints."""
    lines = text.split("\n")
    starts = sum(1 for line in lines if _SNIFF_WIRESHARK.match(line))
    return starts > 1 or any(_TSHARK_LABEL.fullmatch(line) for line in lines)


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
    if data is not None:
        return [(1, data)]
    blocks = _read_blocks(text, _WIRESHARK_ROWS, 47) if layout is _WIRESHARK else None
    if blocks is None:
        blocks = _read_lines(text, layout, radix)
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
    if "\n\n" in body:
        return None  # blank lines: several blocks, or an unusual layout
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


# Every line of a dump of packets: a data line (offset, hex) or anything else (other). The
# hex ends at the first double space, where the ASCII column starts.
# A whole line's hex (16 bytes, or fewer padded to the ASCII column) is matched as one run of
# hex and spaces, which is twice as fast; flush() checks it as a whole.
_TCPDUMP_ROWS = re.compile(
    rf"^(?:[ \t]*0x({_H}{{4}}):  ([0-9a-f ]{{39}}|(?:{_H}{{2,4}} )*{_H}{{2,4}})(?:  [^\n]*)?"
    r"|([^\n]*))$",
    re.M,
)
_WIRESHARK_ROWS = re.compile(
    rf"^(?:({_H}{{4}})  +([0-9a-f ]{{47}}|(?:{_H}{{2}} )*{_H}{{2}})(?:   [^\n]*)?[ \t]*"
    r"|([^\n]*))$",
    re.M,
)
_OFFSETS = [f"{offset:04x}" for offset in range(0, 1 << 16, 16)]
_DATA_LIKE = re.compile(rf"[ \t]*(?:0x)?{_H}{{4,}}:?(?:\s|$)")


def _read_blocks(text: str, rows: re.Pattern[str], full: int) -> list[tuple[int, bytes]] | None:
    """Read a dump of packets (tcpdump, tshark) with one regex pass: the fast path.

    Each packet's lines must be 16 bytes long (``full`` characters of hex) but the last, with
    offsets 0000, 0010 ... as the tools print them; anything else between packets is a header,
    a blank line or a tshark data-source label.

    Returns:
        ``(line number, bytes)`` per packet, or None for anything unusual, which
        :func:`_read_lines` then reads line by line and reports precisely.
    """
    blocks: list[tuple[int, bytes]] = []
    offsets: list[str] = []
    hexes: list[str] = []
    start = 0
    derived = False  # in a data source that tshark derived from the frame above

    def flush() -> bool:
        if not hexes:
            return True
        last = hexes[-1] = hexes[-1].rstrip()
        if offsets != _OFFSETS[: len(offsets)] or len(last) > full:
            return False
        if len(hexes) > 1 and not (min(map(len, hexes[:-1])) == max(map(len, hexes)) == full):
            return False
        try:
            data = bytes.fromhex(" ".join(hexes))
        except ValueError:
            return False
        if len(data) != 16 * (len(hexes) - 1) + (len(last) - last.count(" ")) // 2:
            return False
        blocks.append((start, data))
        offsets.clear()
        hexes.clear()
        return True

    for number, (offset, hex_text, other) in enumerate(rows.findall(text), 1):
        if hex_text:
            if derived:
                continue
            if offset == "0000" and not flush():
                return None
            if not hexes:
                start = number
            offsets.append(offset)
            hexes.append(hex_text)
            continue
        if _DATA_LIKE.match(other):
            return None  # a data line that the fast pattern does not take: let the careful read say
        label = _TSHARK_LABEL.fullmatch(other) if rows is _WIRESHARK_ROWS else None
        if not other.strip() or label is not None:
            derived = label is not None and label[1] != "Frame"
        if not flush():
            return None
    return blocks if flush() and blocks else None


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
    derived = False  # in a data source that tshark derived from the frame above
    for number, line in enumerate(text.split("\n"), 1):
        if not line.strip():
            derived = False
            continue
        match = layout.line.fullmatch(line)
        if match is not None:
            if not derived:
                assembler.data(number, match["off"], match["hex"])
            continue
        bare = line.strip()
        label = _TSHARK_LABEL.fullmatch(line) if layout.labels else None
        if label is not None:
            # The frame holds every byte; the derived sources repeat them, reassembled,
            # unmasked or inflated, which the decoder does itself.
            assembler.flush()
            derived = label[1] != "Frame"
        elif layout.stars and bare == "*":
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
            return DumpError(f"line {number}: {quote(token)} is not hex")
    return DumpError(f"line {number}: not {name} output: {quote(line)}")


# --- Packets: tcpdump -------------------------------------------------------------------------


def _tcpdump_name(text: str, head: list[str]) -> str:
    """``tcpdump -x``, ``-xx``, ``-X`` or ``-XX``: ASCII column, and link-layer header or not."""
    matches = (_TCPDUMP.line.fullmatch(line) for line in head)
    letter = "X" if any(match is not None and match["text"] for match in matches) else "x"
    try:
        frames = _read_lines(text, _TCPDUMP, 16, head=True)
    except DumpError:
        frames = []  # reading the whole dump will say what is wrong
    for _, frame in frames:
        start = network_start(frame, complete=False)
        if start is not None:
            return f"tcpdump -{letter * (2 if start else 1)}"
    return f"tcpdump -{letter}"


def _read_tcpdump(text: str, name: str) -> Dump:
    frames = _read_blocks(text, _TCPDUMP_ROWS, 39)
    if frames is None:
        frames = _read_lines(text, _TCPDUMP, 16)
    if not frames:
        raise DumpError("no packet data found in the tcpdump output")
    stream_name = f"{name} lines without packet headers (the bytes as one stream)"
    return read_packets(frames, name, stream_name, "capture with -s 0")
