"""A connection's bytes both ways as one time-ordered log, frames shown as ``wstool decode`` does.

Takes plain data (when each chunk was written or read, which way, the bytes),
decodes each direction with :func:`wstool.core.inspect.inspect_stream` (the
client's stream as a client's, the server's as a server's, deflate as the
server's 101 agreed it) and interleaves the blocks of
:func:`wstool.ui.render.report_text` by the time each frame's first byte
crossed the wire.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from wstool.core.frames import Role
from wstool.core.inspect import (
    FrameReport,
    HandshakeReport,
    MessageReport,
    StreamReport,
    inspect_stream,
    negotiated_deflate,
)
from wstool.ui.render import report_text

__all__ = ["Chunk", "wire_log_text"]

Chunk = tuple[float, bool, bytes]
"""(seconds since the connection opened, written by the client, bytes)."""


def _timeline(chunks: Sequence[Chunk], outgoing: bool) -> tuple[bytes, list[int], list[float]]:
    """One direction's bytes, the offset where each chunk starts, and when it crossed."""
    starts, times, parts, offset = [], [], [], 0
    for at, out, data in chunks:
        if out == outgoing and data:
            starts.append(offset)
            times.append(at)
            parts.append(data)
            offset += len(data)
    return b"".join(parts), starts, times


def _offset_of(item: object) -> int | None:
    if isinstance(item, FrameReport):
        return item.frame.offset
    if isinstance(item, MessageReport | HandshakeReport):
        return item.offset
    return getattr(item, "offset", None)


def _blocks(
    report: StreamReport, starts: list[int], times: list[float], arrow: str, limit: int | None
) -> list[tuple[float, str]]:
    texts = list(report_text(report, limit=limit))[1:]  # the title is said once, above
    blocks, last = [], 0.0
    for item, text in zip(report.items, texts, strict=False):
        offset = _offset_of(item)
        if offset is not None and starts:
            last = times[max(0, bisect.bisect_right(starts, offset) - 1)]
        lines = text.rstrip("\n").split("\n")
        head = f"{last:8.3f}s {arrow} {lines[0]}"
        blocks.append((last, "\n".join([head, *(f"{'':12}{line}" for line in lines[1:])])))
    return blocks


def wire_log_text(chunks: Sequence[Chunk], *, limit: int | None = 256) -> str:
    """Every frame both ways, in time order: ``>`` the client's, ``<`` the server's.

    Args:
        chunks: the connection's reads and writes.
        limit: payload bytes or characters shown per frame (``None``: all).
    """
    client, client_starts, client_times = _timeline(chunks, True)
    server, server_starts, server_times = _timeline(chunks, False)
    server_report = inspect_stream(server, sender=Role.SERVER)
    heads = [item for item in server_report.items if isinstance(item, HandshakeReport)]
    deflate = negotiated_deflate(heads[0]) if heads else None
    if deflate is not None:
        server_report = inspect_stream(server, sender=Role.SERVER, deflate=deflate)
    client_report = inspect_stream(client, sender=Role.CLIENT, deflate=deflate)
    blocks = _blocks(client_report, client_starts, client_times, ">", limit)
    blocks += _blocks(server_report, server_starts, server_times, "<", limit)
    blocks.sort(key=lambda block: block[0])  # stable: each direction keeps its order
    return "\n".join(text for _, text in blocks) + ("\n" if blocks else "")
