"""Exit statuses and the user-facing error of wstool's command line."""

from __future__ import annotations

import enum

__all__ = ["CommandError", "ExitStatus"]


class ExitStatus(enum.IntEnum):
    """What wstool's exit status means (also in ``wstool --help``)."""

    OK = 0
    ERROR = 1
    """A failure, or for ``decode``: violations found or a frame cut short."""
    USAGE = 2
    """Bad command line or unreadable input."""
    HANDSHAKE_REJECTED = 3
    """connect: the server refused the opening handshake."""
    PEER_VIOLATION = 4
    """connect: the server broke the protocol; we failed the connection."""
    CONNECTION_FAILED = 5
    """connect: refused, DNS, TLS, proxy or timeout before the handshake."""
    ABNORMAL_CLOSURE = 6
    """connect: no closing handshake, or a close code other than 1000/1001."""
    INTERRUPTED = 130


class CommandError(Exception):
    """A user-facing failure: one line on stderr and an exit status."""

    def __init__(self, message: str, status: ExitStatus = ExitStatus.ERROR) -> None:
        super().__init__(message)
        self.status = status
