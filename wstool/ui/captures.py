"""Packet captures on the terminal: events with capture timestamps, and the connections table.

``wstool decode`` of a pcap/pcapng file prints every WebSocket connection's frames in capture
order, both directions interleaved, each block led by its time, connection and direction; then a
summary of the connections. The capture's types are read through the protocols below (ui does
not import capture): whatever has these attributes can be shown.
"""

from __future__ import annotations

import time as _time
from collections.abc import Iterator, Sequence
from typing import Any, Protocol

from rich.console import Group, RenderableType
from rich.text import Text

from wstool.core.frames import Role
from wstool.core.inspect import StreamItem, StreamReport
from wstool.ui.render import report_blocks, report_records, report_text
from wstool.ui.sanitize import terminal_safe

__all__ = [
    "Clock",
    "ConnectionView",
    "EventView",
    "connection_records",
    "event_blocks",
    "event_records",
    "event_text",
    "summary_text",
]


class SideView(Protocol):
    """What one end sent (capture.connections.Side)."""

    address: str
    frames: int
    wire_bytes: int
    close_code: int | None
    violations: int
    retransmitted: int
    gaps: int


class ConnectionView(Protocol):
    """A connection of the capture (capture.connections.Connection)."""

    id: int
    kind: str
    mid_stream: bool
    path: str
    status: str
    subprotocol: str
    extensions: str
    first_time: int
    last_time: int
    client_address: str
    server_address: str

    @property
    def client(self) -> SideView: ...

    @property
    def server(self) -> SideView: ...

    def role(self, address: str) -> Role | None: ...


class EventView(Protocol):
    """An event of the capture (capture.connections.CaptureEvent)."""

    time: int
    source: str | None
    items: list[StreamItem]
    note: str | None

    @property
    def connection(self) -> ConnectionView | None: ...


class Clock:
    """Capture timestamps as text: ``absolute`` (UTC time of day), ``relative`` (seconds since
    the first packet) or ``delta`` (seconds since the connection's previous event)."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.start: int | None = None
        self._previous: dict[int, int] = {}

    def __call__(self, ns: int, key: int = 0) -> str:
        """``ns`` as text; ``key`` keeps a delta per connection (its previous event)."""
        if self.start is None:
            self.start = ns
        if self.mode == "absolute":
            seconds, fraction = divmod(ns, 1_000_000_000)
            return _time.strftime("%H:%M:%S", _time.gmtime(seconds)) + f".{fraction // 1000:06d}"
        base = self.start
        if self.mode == "delta":
            base = self._previous.get(key, base)
            self._previous[key] = ns
        return f"{(ns - base) / 1e9:.6f}"

    def span(self, ns: int) -> str:
        """A time in the summary: absolute, or relative to the first packet."""
        if self.mode == "absolute":
            seconds, fraction = divmod(ns, 1_000_000_000)
            return _time.strftime("%H:%M:%S", _time.gmtime(seconds)) + f".{fraction // 1000:06d}"
        return f"{(ns - (self.start if self.start is not None else ns)) / 1e9:.6f}"


def _direction(event: EventView) -> tuple[str, Role | None, str | None]:
    connection = event.connection
    if connection is None:
        return "", None, None
    if event.source is None:
        return f"#{connection.id}", None, None
    role = connection.role(event.source)
    if role is Role.CLIENT:
        arrow = "c→s"
    elif role is Role.SERVER:
        arrow = "s→c"
    else:
        arrow = "→"
    other = (
        connection.server_address
        if event.source == connection.client_address
        else (connection.client_address)
    )
    return f"#{connection.id} {arrow}", role, other


def _key(event: EventView) -> int:
    connection = event.connection
    return 0 if connection is None else connection.id


def event_text(event: EventView, clock: Clock, limit: int | None) -> str:
    """One event as plain text: each block's first line led by the time, connection, direction."""
    label, role, destination = _direction(event)
    stamp = clock(event.time, _key(event))
    lead = f"{stamp} {label} " if label else f"{stamp} "
    if event.note is not None:
        text = lead + "note: " + terminal_safe(event.note) + "\n"
        if not event.items:
            return text
    else:
        text = ""
    report = StreamReport(role, items=event.items)
    blocks = report_text(report, source=event.source, destination=destination, limit=limit)
    next(blocks)  # the title: the lead says who sent it
    return text + "".join(lead + block for block in blocks)


def event_blocks(event: EventView, clock: Clock, limit: int | None) -> Iterator[RenderableType]:
    """One event as rich renderables, for a terminal."""
    label, role, destination = _direction(event)
    stamp = clock(event.time, _key(event))

    def lead() -> Text:
        text = Text(stamp + " ", "ws.dim")
        if label:
            text.append(label + " ", "ws.in" if role is Role.SERVER else "ws.out")
        return text

    if event.note is not None:
        yield lead().append("note: " + terminal_safe(event.note), "ws.note")
    if not event.items:
        return
    report = StreamReport(role, items=event.items)
    blocks = report_blocks(report, source=event.source, destination=destination, limit=limit)
    next(blocks)
    for block in blocks:
        if isinstance(block, Group) and block.renderables:
            first, *rest = block.renderables
            yield Group(_led(lead(), first), *rest)
        else:
            yield _led(lead(), block)


def _led(lead: Text, block: RenderableType) -> RenderableType:
    if isinstance(block, Text):
        return lead.append_text(block)
    return Group(lead, block)


_DIRECTIONS = {Role.CLIENT: "client_to_server", Role.SERVER: "server_to_client"}


def event_records(event: EventView) -> Iterator[dict[str, Any]]:
    """One event as JSON-ready dicts: decode's usual fields, plus connection, direction, time."""
    _, role, destination = _direction(event)
    connection = event.connection
    extra: dict[str, Any] = {
        "connection": connection.id if connection is not None else None,
        "direction": None if role is None else _DIRECTIONS[role],
        "time": round(event.time / 1e9, 6),
    }
    if event.note is not None:
        yield {"type": "note", "message": event.note, **extra, "source": event.source}
    if event.items:
        report = StreamReport(role, items=event.items)
        for record in report_records(report, source=event.source, destination=destination):
            yield {**record, **extra}


def _kind(connection: ConnectionView) -> str:
    if connection.kind == "tls":
        return "encrypted (TLS)"
    if connection.kind == "http2":
        return "HTTP/2: not decoded"
    if connection.kind == "refused":
        return f"refused: {connection.status}"
    if connection.kind == "upgrading":
        return f"{connection.path} (no response captured)"
    if connection.mid_stream and not connection.status:
        return "(mid-stream)"
    return connection.path


def _extension_names(header: str) -> str:
    """The agreed extensions by name (their parameters are in the handshake shown above)."""
    names = (part.split(";", 1)[0].strip() for part in header.split(","))
    return terminal_safe(",".join(name for name in names if name))


def _close(side: SideView) -> str:
    return "-" if side.close_code is None else str(side.close_code)


def _rows(connections: Sequence[ConnectionView], clock: Clock) -> list[list[str]]:
    rows = []
    for connection in connections:
        client, server = connection.client, connection.server
        rows.append(
            [
                f"#{connection.id}",
                connection.client_address,
                connection.server_address,
                terminal_safe(_kind(connection)),
                terminal_safe(connection.subprotocol) or "-",
                _extension_names(connection.extensions) or "-",
                f"{client.frames}/{server.frames}",
                f"{client.wire_bytes}/{server.wire_bytes}",
                f"{_close(client)}/{_close(server)}",
                str(client.violations + server.violations),
                clock.span(connection.first_time),
                clock.span(connection.last_time),
            ]
        )
    return rows


_HEADERS = [
    "id",
    "client",
    "server",
    "path",
    "subprotocol",
    "extensions",
    "frames C→S/S→C",
    "bytes C→S/S→C",
    "close C/S",
    "violations",
    "first",
    "last",
]


def summary_text(connections: Sequence[ConnectionView], clock: Clock) -> str:
    """The connections table as plain text, columns padded with spaces."""
    rows = [_HEADERS, *_rows(connections, clock)]
    widths = [max(len(row[i]) for row in rows) for i in range(len(_HEADERS))]
    return "".join(
        "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        + "\n"
        for row in rows
    )


def connection_records(connections: Sequence[ConnectionView]) -> Iterator[dict[str, Any]]:
    """The summary as JSON-ready dicts, one per connection."""
    for connection in connections:
        client, server = connection.client, connection.server
        yield {
            "type": "connection",
            "connection": connection.id,
            "kind": connection.kind,
            "client": connection.client_address,
            "server": connection.server_address,
            "path": connection.path,
            "status": connection.status,
            "mid_stream": connection.mid_stream,
            "subprotocol": connection.subprotocol,
            "extensions": connection.extensions,
            "frames": {"client": client.frames, "server": server.frames},
            "bytes": {"client": client.wire_bytes, "server": server.wire_bytes},
            "close_codes": {"client": client.close_code, "server": server.close_code},
            "violations": client.violations + server.violations,
            "retransmitted_bytes": client.retransmitted + server.retransmitted,
            "gaps": client.gaps + server.gaps,
            "first_time": round(connection.first_time / 1e9, 6),
            "last_time": round(connection.last_time / 1e9, 6),
        }


class CapturePrinter:
    """Writes a capture's events, then the summary: rich, plain text or NDJSON.

    Streamed (a live capture, NDJSON), events are written as they come, in capture order, and
    the table ends the output. Grouped (text from a file), each connection's events are kept
    aside (in memory, then in a temporary file past 256 KiB) and written after the table, one
    connection after the other.

    Args:
        console: The rich console (text output), or None with ``stdout`` for NDJSON.
        stdout: Where NDJSON lines go.
        clock: How timestamps are shown.
        limit: Payload bytes shown per frame (None: all).
        connection: Show only this connection's events (and the capture's own notes).
        grouped: Table first, then each connection's events.
    """

    def __init__(
        self,
        console: Any,
        stdout: Any,
        clock: Clock,
        limit: int | None,
        connection: int | None = None,
        grouped: bool = False,
    ) -> None:
        self.console = console
        self.stdout = stdout
        self.clock = clock
        self.limit = limit
        self.only = connection
        self.grouped = grouped and console is not None
        self.plain = (
            console is not None and console.color_system is None and not console.is_terminal
        )
        self._sections = _Sections()

    def line(self, text: str, style: str = "ws.note") -> None:
        """A line about the capture itself (format, interfaces, comments)."""
        if self.console is None:
            from wstool.ui.sanitize import json_line

            self.stdout.write(json_line({"type": "note", "message": text}))
        elif self.plain:
            self.console.file.write(terminal_safe(text) + "\n")
        else:
            self.console.print(Text(terminal_safe(text), style))

    def event(self, event: EventView) -> None:
        """One event, unless --conn leaves its connection out."""
        connection = event.connection
        if self.only is not None and connection is not None and connection.id != self.only:
            return
        if self.console is None:
            from wstool.ui.sanitize import json_line

            write = self.stdout.write
            for record in event_records(event):
                write(json_line(record))
            return
        if self.plain:
            text = event_text(event, self.clock, self.limit)
        else:
            from wstool.ui.render import print_block

            with self.console.capture() as captured:
                for block in event_blocks(event, self.clock, self.limit):
                    print_block(self.console, block)
            text = captured.get()
        if self.grouped and connection is not None:
            self._sections.write(connection.id, text)
        else:
            self.console.file.write(text)

    def flush(self) -> None:
        """Push what was written to the terminal or pipe (live captures)."""
        stream = self.stdout if self.console is None else self.console.file
        stream.flush()

    def summary(self, connections: Sequence[ConnectionView], others: str) -> None:
        """The connections table (or its records), what else the capture held, and (grouped)
        each connection's events."""
        if self.only is not None:
            connections = [c for c in connections if c.id == self.only]
        if self.console is None:
            from wstool.ui.sanitize import json_line

            for record in connection_records(connections):
                self.stdout.write(json_line(record))
            if others:
                self.stdout.write(json_line({"type": "note", "message": others}))
            return
        if not connections:
            self.line("no WebSocket connection found" + (f" ({others})" if others else ""))
        else:
            self._table(connections)
            if others:
                self.line(others)
        for connection in connections:
            if connection.id in self._sections:
                self._heading(connection)
                self._sections.copy_to(connection.id, self.console.file)
        self._sections.close()

    def _table(self, connections: Sequence[ConnectionView]) -> None:
        title = f"{len(connections)} connection{'s' * (len(connections) != 1)}"
        if self.plain:
            self.console.file.write(f"{title}:\n" + summary_text(connections, self.clock))
            return
        # Columns of plain text, long lines left to the terminal: a table squeezed into the
        # terminal's width would cut the addresses.
        self.console.print(Text(f"{title}:", "ws.note"))
        header, *rows = summary_text(connections, self.clock).splitlines()
        self.console.print(Text(header, "ws.header.name"))
        for row in rows:
            self.console.print(Text(row))

    def _heading(self, connection: ConnectionView) -> None:
        kind = _kind(connection)
        text = f"#{connection.id} {connection.client_address} → {connection.server_address}"
        text = terminal_safe(text + (f" {kind}" if kind else ""))
        if self.plain:
            self.console.file.write(f"\n{text}\n")
        else:
            self.console.print()
            self.console.print(Text(text, "ws.header.name"))


class _Sections:
    """Each connection's output kept aside until the table is out, memory bounded: a
    connection's text is held up to 64 KiB, all of it up to 16 MiB; past either, it goes to
    one temporary file shared by all, remembered as extents (offset, size) per connection."""

    HELD, BUDGET = 64 * 1024, 16 << 20

    def __init__(self) -> None:
        self._held: dict[int, list[str]] = {}
        self._sizes: dict[int, int] = {}
        self._extents: dict[int, list[tuple[int, int]]] = {}
        self._total = 0
        self._file: Any = None

    def __contains__(self, key: int) -> bool:
        return key in self._held

    def write(self, key: int, text: str) -> None:
        held = self._held.get(key)
        if held is None:
            held = self._held[key] = []
            self._sizes[key] = 0
            self._extents[key] = []
        held.append(text)
        self._sizes[key] += len(text)
        self._total += len(text)
        if self._sizes[key] > self.HELD:
            self._spill(key)
        elif self._total > self.BUDGET:
            for each in self._held:
                self._spill(each)

    def _spill(self, key: int) -> None:
        held = self._held[key]
        if not held:
            return
        if self._file is None:
            import tempfile

            self._file = tempfile.TemporaryFile()  # noqa: SIM115 (closed by close())
        data = "".join(held).encode("utf-8", "surrogateescape")
        offset = self._file.seek(0, 2)
        self._file.write(data)
        self._extents[key].append((offset, len(data)))
        self._total -= self._sizes[key]
        self._held[key], self._sizes[key] = [], 0

    def copy_to(self, key: int, stream: Any) -> None:
        """Write connection ``key``'s text to ``stream``, in the order it came."""
        for offset, size in self._extents.pop(key, ()):
            self._file.seek(offset)
            stream.write(self._file.read(size).decode("utf-8", "surrogateescape"))
        stream.write("".join(self._held.pop(key, ())))

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
        self._held.clear()
