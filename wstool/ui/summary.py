"""What ``connect`` says at the end: the closing summary and a refused handshake.

Peer text (close reasons, response heads and bodies) passes through
:func:`~wstool.ui.sanitize.terminal_safe` into ``Text``, never into markup.
"""

from __future__ import annotations

from typing import Protocol

from rich.text import Text

from wstool.core.events import ConnectionClosed
from wstool.core.frames import close_code_name
from wstool.ui.render import count
from wstool.ui.sanitize import terminal_safe

__all__ = ["Counters", "close_line", "connection_summary", "rejection_lines"]


class Counters(Protocol):
    """What a connection counts (the core connection has these)."""

    frames_sent: int
    bytes_sent: int
    frames_received: int
    bytes_received: int


def connection_summary(closed: ConnectionClosed | None, seconds: float, counts: Counters) -> Text:
    """One line: how the connection ended, how long it lasted, what went each way."""
    text = Text()
    if closed is None:
        text.append("connection lost without a closing handshake", "ws.violation")
    else:
        who = f"by the {closed.initiator.value}" if closed.initiator else "without a Close frame"
        text.append(f"closed {closed.code} {close_code_name(closed.code)} {who}", "ws.close")
        text.append(", clean" if closed.clean else ", not clean", "ws.dim")
    text.append(
        f"; {seconds:.1f} s; sent {count(counts.frames_sent, 'frame')} / "
        f"{count(counts.bytes_sent, 'byte')}, received {count(counts.frames_received, 'frame')} / "
        f"{count(counts.bytes_received, 'byte')}",
        "ws.dim",
    )
    return text


def close_line(closed: ConnectionClosed, why: str | None) -> str:
    """``closed 1002 PROTOCOL_ERROR: reason`` for a close that was not a success."""
    line = f"closed {closed.code} {close_code_name(closed.code)}"
    return line + (f": {terminal_safe(why)}" if why else "")


def rejection_lines(reason: str, head: bytes, body: bytes) -> list[Text]:
    """A refused opening handshake: why, the response head, the start of its body."""
    lines = [Text(f"wstool connect: handshake refused: {terminal_safe(reason)}", "ws.violation")]
    for line in head.decode("latin-1").split("\r\n"):
        if line:
            lines.append(Text("  < " + terminal_safe(line)))
    if body:
        lines.append(Text("  " + terminal_safe(body.decode("utf-8", "replace")[:500]), "ws.dim"))
    return lines
