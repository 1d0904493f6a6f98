"""What a dump or capture holds once read: segments of bytes, and where they went.

Standard library only: ``decode`` must start fast.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Dump", "DumpError", "Segment", "line_of", "prepare", "quote"]


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


def quote(text: str) -> str:
    """``text`` stripped and shortened to 40 characters, in quotes, for an error message."""
    text = text.strip()
    return repr(text if len(text) <= 40 else text[:37] + "...")


def line_of(text: str, position: int) -> int:
    """The 1-based line number of ``position`` in ``text``."""
    return text.count("\n", 0, position) + 1


def prepare(text: str) -> str:
    """``text`` without a byte order mark, with ``\\n`` line ends."""
    if text.startswith("\ufeff"):
        text = text[1:]
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    return text
