"""Rich renderables for frames, payloads, closes and violations, shared by every command.

Peer strings reach these views only through :func:`wstool.ui.sanitize.terminal_safe`
and only as ``Text``, never as markup. Styles have names (``ws.in``,
``ws.opcode`` ...) set once in :data:`THEME`.
"""

from __future__ import annotations

import contextlib
import functools
import json
from collections.abc import Callable, Iterator
from itertools import chain
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.highlighter import JSONHighlighter
from rich.text import Span, Text
from rich.theme import Theme

from wstool.core.events import MessageReceived
from wstool.core.frames import (
    Opcode,
    Violation,
    WireFrame,
    close_code_name,
    parse_close_payload,
)
from wstool.core.inspect import (
    FrameReport,
    HandshakeReport,
    MessageReport,
    SequenceViolation,
    StreamReport,
    Truncated,
)
from wstool.ui.sanitize import terminal_safe

__all__ = [
    "THEME",
    "Parts",
    "close_parts",
    "close_summary",
    "count",
    "frame_block",
    "frame_header",
    "frame_header_parts",
    "frame_record",
    "handshake_block",
    "hex_ascii",
    "message_block",
    "payload_view",
    "print_block",
    "report_blocks",
    "report_records",
    "report_text",
    "truncated_line",
    "violation_line",
    "violation_record",
]

THEME = Theme(
    {
        "ws.in": "bold green",
        "ws.out": "bold blue",
        "ws.offset": "dim cyan",
        "ws.opcode": "bold magenta",
        "ws.opcode.control": "bold yellow",
        "ws.opcode.reserved": "bold red",
        "ws.flag": "cyan",
        "ws.flag.off": "dim",
        "ws.key": "yellow",
        "ws.length": "white",
        "ws.dim": "dim",
        "ws.text": "default",
        "ws.hex": "default",
        "ws.ascii": "dim",
        "ws.close": "bold yellow",
        "ws.violation": "bold red",
        "ws.ok": "green",
        "ws.note": "italic dim",
        "ws.header.name": "cyan",
    }
)

_JSON = JSONHighlighter()
# Bytes -> themselves when printable ASCII, else "." (the ASCII column).
_PRINTABLE = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))


def print_block(console: Console, renderable: RenderableType) -> None:
    """Print a block; without colour and off a terminal, its text is written as is.

    rich renders a Text span by span even when there is no style to show;
    for a file or a pipe the plain text is the same and far cheaper.
    """
    if console.color_system is None and not console.is_terminal:
        if isinstance(renderable, Text):
            console.file.write(renderable.plain + renderable.end)
            return
        if isinstance(renderable, Group):
            for part in renderable.renderables:
                print_block(console, part)
            return
    console.print(renderable)


def count(n: int, noun: str) -> str:
    """``n`` and the noun, plural unless n is 1: "1 byte", "2 bytes"."""
    return f"{n} {noun}" if n == 1 else f"{n} {noun}s"


_DEFAULT_LIMIT = 1024


def _opcode_style(opcode: int) -> str:
    if opcode not in Opcode._value2member_map_:
        return "ws.opcode.reserved"
    return "ws.opcode.control" if opcode & 0x8 else "ws.opcode"


Parts = list[tuple[str, str]]
"""A line as (text, style name) pieces: ``Text.assemble(*parts)`` styles it,
joining the texts gives it plain, with no renderer in between."""


def frame_header_parts(frame: WireFrame, *, verbose: bool = True) -> Parts:
    """The pieces of :func:`frame_header`."""
    parts = [
        (f"{frame.opcode_name:<12} ", _opcode_style(frame.opcode)),
        ("FIN " if frame.fin else "--- ", "ws.flag" if frame.fin else "ws.flag.off"),
    ]
    rsv = f"{frame.rsv1:d}{frame.rsv2:d}{frame.rsv3:d}"
    if verbose or rsv != "000":
        parts.append((f"rsv={rsv} ", "ws.flag" if rsv != "000" else "ws.flag.off"))
    if frame.mask_key is not None:
        parts.append(("mask=", "ws.dim"))
        parts.append((f"{frame.mask_key.hex()} ", "ws.key"))
    elif verbose:
        parts.append(("unmasked ", "ws.flag.off"))
    parts.append((f"len={frame.length}", "ws.length"))
    if verbose or frame.length_bits != 7:
        parts.append((f" ({frame.length_bits}-bit)", "ws.dim"))
    if len(frame.payload) < frame.length:
        parts.append((f" [{len(frame.payload)} present]", "ws.violation"))
    return parts


def frame_header(frame: WireFrame, *, verbose: bool = True) -> Text:
    """One line with every header field of ``frame``.

    Args:
        frame: the frame.
        verbose: include the RSV bits, the mask key and the length encoding
            even when they are unremarkable.
    """
    return Text.assemble(*frame_header_parts(frame, verbose=verbose))


def hex_ascii(data: bytes, *, limit: int | None = _DEFAULT_LIMIT, indent: int = 0) -> Text:
    """A hex+ASCII dump, 16 bytes a line, like ``hexdump -C``.

    Args:
        data: the bytes.
        limit: show at most this many bytes (``None``: all), then say how
            many more there are.
        indent: spaces before each line.
    """
    shown = data if limit is None else data[:limit]
    digits = _offset_digits(len(shown))
    # One string from hex_rows and its spans, computed: a Text built by thousands of
    # appends costs more than printing it.
    plain = hex_rows(shown, indent, digits)
    spans = []
    at = 0
    row_fixed = indent + digits + 54  # every character of a row but its ASCII
    for start in range(0, len(shown), 16):
        end = at + row_fixed + min(16, len(shown) - start)
        spans.append(Span(at + indent, at + indent + digits + 2, "ws.offset"))
        spans.append(Span(at + indent + digits + 2, at + indent + digits + 51, "ws.hex"))
        spans.append(Span(at + indent + digits + 51, end, "ws.ascii"))
        at = end + 1
    text = Text(plain + ("\n" if plain else ""), spans=spans)
    if len(shown) < len(data):
        pad = " " * indent
        text.append(f"{pad}… {count(len(data) - len(shown), 'more byte')}\n", "ws.note")
    text.rstrip()
    return text


def _indented_json(text: str, limit: int | None) -> str | None:
    """``text`` parsed as JSON and indented by two, or None if it is not JSON or too long.

    Strict JSON (RFC 8259) goes through orjson, which indents in C; what only
    Python's json accepts (NaN, integers beyond 64 bits) through the standard
    library, whose indenting runs in Python.
    """
    import orjson  # here: only decode's JSON views need it

    try:
        return orjson.dumps(orjson.loads(text), option=orjson.OPT_INDENT_2).decode("utf-8")
    except (orjson.JSONDecodeError, orjson.JSONEncodeError):
        pass
    try:
        value = json.loads(text)
    except ValueError:
        return None
    if limit is not None:
        # json indents in Python but writes one line in C. With ",\n" between elements (a
        # string holds no raw line break), every element costs at least its line break and
        # an indent of two: a view that cannot fit is known before paying for the indented form.
        flat = json.dumps(value, ensure_ascii=False, separators=(",\n", ": "))
        if len(flat) + 2 * flat.count("\n") > limit * 4:
            return None
    return json.dumps(value, indent=2, ensure_ascii=False)


def _json_pretty(text: str, limit: int | None) -> str | None:
    """``text`` as indented JSON, terminal-safe, if it is JSON and not too long to show."""
    stripped = text.lstrip()
    if stripped[:1] not in ("{", "[") or (limit is not None and len(text) > 16 * limit):
        return None
    pretty = _indented_json(text, limit)
    if pretty is None:
        return None
    # Both encoders escape C0 controls themselves; terminal_safe catches the rest
    # (C1 controls, bidi overrides) without doubling their backslashes. ASCII JSON without
    # DEL or a \u escape cannot hold any of those: its view needs no check.
    plain_ascii = text.isascii() and "\x7f" not in text and "\\u" not in text
    if not plain_ascii and not pretty.replace("\n", "").isprintable():
        pretty = "\n".join(
            terminal_safe(line, escape_backslash=False) for line in pretty.split("\n")
        )
    if limit is not None and len(pretty) > limit * 4:
        return None
    return pretty


def _json_view(text: str, limit: int | None) -> Text | None:
    pretty = _json_pretty(text, limit)
    if pretty is None:
        return None
    view = Text(pretty)
    _JSON.highlight(view)
    return view


def payload_view(
    data: bytes,
    opcode: int,
    *,
    text: str | None = None,
    limit: int | None = _DEFAULT_LIMIT,
    indent: int = 2,
) -> RenderableType | None:
    """The payload as a person wants to read it: text, JSON, close details or hex.

    Args:
        data: the unmasked (and inflated) payload.
        opcode: the opcode of the frame or message it belongs to.
        text: the decoded text when the caller has it already.
        limit: show at most this many bytes or characters (``None``: all).
        indent: spaces before each line.

    Returns:
        A renderable, or ``None`` for an empty payload.
    """
    if not data:
        return None
    pad = " " * indent
    if opcode == Opcode.CLOSE:
        return Text(pad) + close_summary(data)
    if text is None and opcode in (Opcode.TEXT, Opcode.PING, Opcode.PONG):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    if text is not None:
        view = _json_view(text, limit)
        if view is not None:
            if indent:
                view = Text("\n").join(Text(pad) + line for line in view.split("\n"))
            return view
        shown = text if limit is None else text[:limit]
        line = Text(pad)
        line.append(terminal_safe(shown), "ws.text")
        if len(shown) < len(text):
            line.append(f" … {count(len(text) - len(shown), 'more character')}", "ws.note")
        return line
    return hex_ascii(data, limit=limit, indent=indent)


def close_parts(data: bytes) -> Parts:
    """The pieces of :func:`close_summary`."""
    code, raw_reason = parse_close_payload(data)
    if code is None:
        parts = [("no status code", "ws.close")]
        if data:
            parts.append((f" (1 stray byte {data.hex()})", "ws.violation"))
        return parts
    parts = [(f"{code} {close_code_name(code)}", "ws.close")]
    if raw_reason:
        reason = raw_reason.decode("utf-8", "backslashreplace")
        parts.append((" reason ", ""))
        parts.append((f"'{terminal_safe(reason)}'", "ws.text"))
    return parts


def close_summary(data: bytes) -> Text:
    """Code, code name and reason of a Close payload."""
    return Text.assemble(*close_parts(data))


def violation_line(violation: Violation, *, indent: int = 2) -> Text:
    """One line: where, which rule, what, the RFC section and the close code."""
    text = Text(" " * indent)
    text.append("✗ ", "ws.violation")
    text.append(f"@{violation.offset:#06x} ", "ws.offset")
    text.append(violation.rule, "ws.violation")
    text.append(f": {violation.message} ")
    text.append(f"({violation.section}; close {violation.close_code})", "ws.dim")
    return text


def frame_block(
    frame: WireFrame,
    data: bytes,
    found: tuple[Violation, ...] | list[Violation] = (),
    *,
    prefix: Text | None = None,
    limit: int | None = _DEFAULT_LIMIT,
    verbose: bool = True,
    message_opcode: int | None = None,
    compressed: bool | None = None,
) -> RenderableType:
    """A frame's header line, its payload and its violations, as one block.

    Args:
        frame: the frame.
        data: its payload unmasked.
        found: the rules it breaks.
        prefix: text before the header, such as a direction arrow.
        limit: payload bytes or characters shown (``None``: all).
        verbose: show every header field, even unremarkable ones.
        message_opcode: for a CONTINUATION frame, the opcode of its message,
            so that a text fragment is shown as text.
        compressed: whether the payload is compressed (default: RSV1);
            compressed payloads are shown once inflated, as a message.
    """
    head = Text()
    if prefix is not None:
        head.append_text(prefix)
    head.append(f"@{frame.offset:#06x} ", "ws.offset")
    head.append_text(frame_header(frame, verbose=verbose))
    parts: list[RenderableType] = [head]
    if not (frame.rsv1 if compressed is None else compressed):
        shown_as = frame.opcode
        if frame.opcode == Opcode.CONTINUATION and message_opcode is not None:
            shown_as = message_opcode
        view = payload_view(data, shown_as, limit=limit)
        if view is not None:
            parts.append(view)
    else:
        parts.append(Text(f"  {count(len(data), 'compressed byte')}", "ws.note"))
    parts.extend(violation_line(v) for v in found)
    return Group(*parts)


def violation_record(violation: Violation) -> dict[str, Any]:
    """A violation as a JSON-ready dict."""
    return {
        "rule": violation.rule,
        "message": violation.message,
        "section": violation.section,
        "close_code": violation.close_code,
        "offset": violation.offset,
    }


def frame_record(
    frame: WireFrame, data: bytes, found: tuple[Violation, ...] | list[Violation] = ()
) -> dict[str, Any]:
    """A frame as a JSON-ready dict: every header field, the payload, the violations."""
    record: dict[str, Any] = {
        "type": "frame",
        "offset": frame.offset,
        "fin": frame.fin,
        "rsv1": frame.rsv1,
        "rsv2": frame.rsv2,
        "rsv3": frame.rsv3,
        "opcode": frame.opcode,
        "opcode_name": frame.opcode_name,
        "masked": frame.mask_key is not None,
        "mask_key": frame.mask_key.hex() if frame.mask_key is not None else None,
        "length": frame.length,
        "length_bits": frame.length_bits,
        "payload_hex": data.hex(),
    }
    if frame.opcode == Opcode.CLOSE and len(data) >= 2:
        code, reason = parse_close_payload(data)
        record["close_code"] = code
        record["close_code_name"] = close_code_name(code) if code is not None else None
        record["close_reason"] = reason.decode("utf-8", "replace")
    elif frame.opcode in (Opcode.TEXT, Opcode.PING, Opcode.PONG) and not frame.rsv1:
        with contextlib.suppress(UnicodeDecodeError):
            record["text"] = data.decode("utf-8")
    record["violations"] = [violation_record(v) for v in found]
    return record


def _label(source: str | None, destination: str | None) -> str:
    if source is None and destination is None:
        return ""
    return f"{source or '?'} → {destination or '?'}"


def report_blocks(
    report: StreamReport,
    *,
    source: str | None = None,
    destination: str | None = None,
    limit: int | None = _DEFAULT_LIMIT,
) -> Iterator[RenderableType]:
    """Everything :func:`wstool.core.inspect.inspect_stream` found, block by block.

    Args:
        report: one direction of a capture.
        source: where the stream came from, for the title line.
        destination: where it went.
        limit: payload bytes or characters shown per frame (``None``: all).
    """
    title = Text()
    label = _label(source, destination)
    if label:
        title.append(label + "  ", "ws.in")
    if report.sender is None:
        title.append(f"sender unknown ({report.inferred_from}): masking not checked", "ws.note")
    else:
        how = f"inferred: {report.inferred_from}" if report.sender_inferred else "as given"
        title.append(f"sent by the {report.sender.value} ({how})", "ws.note")
    yield title
    for item in report.items:
        if isinstance(item, FrameReport):
            yield frame_block(
                item.frame,
                item.data,
                item.violations,
                limit=limit,
                message_opcode=item.message_opcode,
                compressed=item.compressed,
            )
        elif isinstance(item, MessageReport):
            yield message_block(item.message, item.offset, limit=limit)
        elif isinstance(item, SequenceViolation):
            yield violation_line(item.violation)
        elif isinstance(item, HandshakeReport):
            yield handshake_block(item)
        else:
            yield truncated_line(item)


def report_text(
    report: StreamReport,
    *,
    source: str | None = None,
    destination: str | None = None,
    limit: int | None = _DEFAULT_LIMIT,
) -> Iterator[str]:
    """What :func:`report_blocks` shows, as plain text: for a file or a pipe, without colour.

    Each string is one block with its line ends, the same text as the block printed without
    styles. Frames, which are most of a capture, are written straight to text from the same
    parts as their renderables; the rarer blocks are rendered and read back as text.

    Args:
        report: one direction of a capture.
        source: where the stream came from, for the title line.
        destination: where it went.
        limit: payload bytes or characters shown per frame (``None``: all).
    """
    # The title alone: report_blocks builds each block only when it is asked for the next.
    yield _plain(next(report_blocks(report, source=source, destination=destination)))
    for item in report.items:
        if isinstance(item, FrameReport):
            yield _frame_text(item, limit)
        elif isinstance(item, MessageReport):
            yield message_text(item.message, item.offset, limit)
        elif isinstance(item, SequenceViolation):
            yield _plain(violation_line(item.violation))
        elif isinstance(item, HandshakeReport):
            yield _plain(handshake_block(item))
        else:
            yield _plain(truncated_line(item))


def _plain(renderable: RenderableType) -> str:
    """A block of :func:`report_blocks` as plain text, as :func:`print_block` writes it."""
    if isinstance(renderable, Text):
        return renderable.plain + renderable.end
    assert isinstance(renderable, Group)
    return "".join(_plain(part) for part in renderable.renderables)


def _frame_text(item: FrameReport, limit: int | None) -> str:
    """:func:`frame_block` of a frame report, as plain text."""
    frame = item.frame
    lines = [f"@{frame.offset:#06x} " + "".join(text for text, _ in frame_header_parts(frame))]
    if not item.compressed:
        shown_as = frame.opcode
        if frame.opcode == Opcode.CONTINUATION and item.message_opcode is not None:
            shown_as = item.message_opcode
        view = _payload_text(item.data, shown_as, limit)
        if view is not None:
            lines.append(view)
    else:
        lines.append(f"  {count(len(item.data), 'compressed byte')}")
    lines.extend(violation_line(v).plain for v in item.violations)
    return "\n".join(lines) + "\n"


def _payload_text(data: bytes, opcode: int, limit: int | None, indent: int = 2) -> str | None:
    """:func:`payload_view` as plain text."""
    if not data:
        return None
    pad = " " * indent
    if opcode == Opcode.CLOSE:
        return pad + "".join(text for text, _ in close_parts(data))
    text = None
    if opcode in (Opcode.TEXT, Opcode.PING, Opcode.PONG):
        with contextlib.suppress(UnicodeDecodeError):
            text = data.decode("utf-8")
    if text is not None:
        pretty = _json_pretty(text, limit)
        if pretty is not None:
            return pad + pretty.replace("\n", "\n" + pad)
        shown = text if limit is None else text[:limit]
        line = pad + terminal_safe(shown)
        if len(shown) < len(text):
            line += f" … {count(len(text) - len(shown), 'more character')}"
        return line
    return _hex_ascii_text(data, limit, indent)


_CACHED_ROWS = 64  # the default view: 1024 bytes


@functools.lru_cache(maxsize=32)
def _rows_format(rows: int, pad: str, digits: int) -> str:
    """A %-format for ``rows`` rows of a hex+ASCII view, the offsets already written in."""
    return "\n".join(
        f"{pad}{start:0{digits}x}  %-23s  %-23s  |%s|" for start in range(0, rows * 16, 16)
    )


def _hex_ascii_text(data: bytes, limit: int | None, indent: int) -> str:
    """:func:`hex_ascii` as plain text."""
    shown = data if limit is None else data[:limit]
    text = hex_rows(shown, indent, _offset_digits(len(shown)))
    if len(shown) < len(data):
        text += f"\n{' ' * indent}… {count(len(data) - len(shown), 'more byte')}"
    return text


def _offset_digits(size: int) -> int:
    return max(4, len(f"{size - 1:x}"))


def hex_rows_python(shown: bytes, indent: int, digits: int) -> str:
    """The rows of a hex+ASCII view joined by line ends, from whole-payload conversions.

    Each row: the offset in ``digits`` hex digits, 8 bytes, a gap, 8 bytes, the ASCII.
    ``wstool.ui._hexview.hex_rows`` writes the same in C; this is used where it was not built.
    """
    pad = " " * indent
    size = len(shown)
    hexes = shown.hex(" ")
    printable = shown.translate(_PRINTABLE).decode("ascii")
    # The fields are cut in comprehensions and filled into one format for the whole view
    # (the common views have at most 64 rows).
    fields = zip(
        [hexes[i : i + 23] for i in range(0, len(hexes), 48)],
        [hexes[i + 24 : i + 47] for i in range(0, len(hexes), 48)],
        [printable[i : i + 16] for i in range(0, size, 16)],
        strict=True,
    )
    rows = (size + 15) // 16
    if rows <= _CACHED_ROWS:
        return _rows_format(rows, pad, digits) % tuple(chain.from_iterable(fields))
    row = f"{pad}%0{digits}x  %-23s  %-23s  |%s|"  # --full on a large payload: one format a row
    return "\n".join(
        row % (start, *field) for start, field in zip(range(0, size, 16), fields, strict=True)
    )


hex_rows: Callable[[bytes, int, int], str]
try:
    from wstool.ui._hexview import hex_rows  # type: ignore[import-not-found,no-redef]
except ImportError:  # built without a compiler
    hex_rows = hex_rows_python


def message_block(
    message: MessageReceived, offset: int, *, limit: int | None = _DEFAULT_LIMIT
) -> RenderableType:
    """A reassembled or inflated message: its kind, sizes and payload."""
    head = Text("  ⤷ message ", "ws.note")
    head.append("TEXT" if message.opcode == Opcode.TEXT else "BINARY", "ws.opcode")
    head.append(f" from @{offset:#06x}: {len(message.data)} bytes", "ws.length")
    if message.frames > 1:
        head.append(f" in {message.frames} frames", "ws.dim")
    if message.compressed:
        head.append(f", inflated from {message.wire_size}", "ws.dim")
    view = payload_view(message.data, message.opcode, text=message.text, limit=limit, indent=4)
    return head if view is None else Group(head, view)


def message_text(message: MessageReceived, offset: int, limit: int | None) -> str:
    """:func:`message_block` as plain text, without building its renderables."""
    kind = "TEXT" if message.opcode == Opcode.TEXT else "BINARY"
    head = f"  ⤷ message {kind} from @{offset:#06x}: {len(message.data)} bytes"
    if message.frames > 1:
        head += f" in {message.frames} frames"
    if message.compressed:
        head += f", inflated from {message.wire_size}"
    view = _payload_text(message.data, message.opcode, limit, indent=4)
    return head + "\n" if view is None else f"{head}\n{view}\n"


def handshake_block(head: HandshakeReport) -> RenderableType:
    """The HTTP head of the opening handshake, one header a line."""
    lines = [Text(f"@{head.offset:#06x} HTTP {head.kind}: ", "ws.offset")]
    lines[0].append(terminal_safe(head.first_line), "ws.opcode")
    for name, value in head.headers:
        line = Text("  ")
        line.append(terminal_safe(name), "ws.header.name")
        line.append(": " + terminal_safe(value))
        lines.append(line)
    return Group(*lines)


def truncated_line(cut: Truncated) -> Text:
    """Where the stream ends inside a frame, and how much is missing."""
    text = Text(f"@{cut.offset:#06x} ", "ws.offset")
    text.append("truncated: ", "ws.violation")
    if cut.missing is None:
        text.append(f"the stream ends inside a frame header ({count(cut.have, 'byte')} of it)")
    else:
        text.append(
            f"the last frame needs {cut.need} bytes, {cut.have} present, {cut.missing} missing"
        )
    return text


def report_records(
    report: StreamReport, *, source: str | None = None, destination: str | None = None
) -> Iterator[dict[str, Any]]:
    """The same as :func:`report_blocks`, as JSON-ready dicts (one per line of NDJSON)."""
    where = {"source": source, "destination": destination}
    sender = report.sender.value if report.sender is not None else None
    for item in report.items:
        record: dict[str, Any]
        if isinstance(item, FrameReport):
            record = frame_record(item.frame, item.data, item.violations)
        elif isinstance(item, MessageReport):
            msg = item.message
            record = {
                "type": "message",
                "offset": item.offset,
                "opcode": msg.opcode,
                "frames": msg.frames,
                "compressed": msg.compressed,
                "wire_size": msg.wire_size,
                "size": len(msg.data),
                "payload_hex": msg.data.hex(),
            }
            if msg.text is not None:
                record["text"] = msg.text
        elif isinstance(item, SequenceViolation):
            record = {"type": "violation", **violation_record(item.violation)}
        elif isinstance(item, HandshakeReport):
            record = {
                "type": "handshake",
                "kind": item.kind,
                "first_line": item.first_line,
                "headers": item.headers,
            }
        else:
            record = {
                "type": "truncated",
                "offset": item.offset,
                "have": item.have,
                "need": item.need,
                "missing": item.missing,
            }
        yield {**record, "sender": sender, **where}
