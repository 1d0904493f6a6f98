"""Pipe mode of ``wstool connect``: received messages to stdout, one per line.

:class:`MessageSink` is a frame observer: text messages are written as they
are, binary ones as hex (or raw bytes), each followed by a newline. With
``--json`` it hands everything to a :class:`~wstool.ui.traffic.TrafficLog`
writing NDJSON instead. Diagnostics go elsewhere (stderr), never here.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import IO

from wstool.core.events import Event, MessageReceived
from wstool.ui.traffic import TrafficLog

__all__ = ["MessageSink"]


class MessageSink:
    """Writes each received message to ``out``; counts them.

    Args:
        out: a binary stream (stdout's buffer).
        raw_binary: write binary messages as they are instead of as hex.
        json_log: when given, every event goes to it (NDJSON) instead.
        diagnostics: a log for frames and closes on stderr (``-v``), if any.
        on_message: called after each message with the count so far.
    """

    def __init__(
        self,
        out: IO[bytes],
        *,
        raw_binary: bool = False,
        json_log: TrafficLog | None = None,
        diagnostics: TrafficLog | None = None,
        on_message: Callable[[int], None] | None = None,
    ) -> None:
        self.out = out
        self.raw_binary = raw_binary
        self.json_log = json_log
        self.diagnostics = diagnostics
        self.on_message = on_message
        self.received = 0
        self.wants_frames = bool(
            (json_log and json_log.wants_frames) or (diagnostics and diagnostics.wants_frames)
        )

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        """The handshake is done."""
        for log in (self.json_log, self.diagnostics):
            if log is not None:
                log.opened(conn_id, peer, request, response)

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        """Write each message; pass everything on to the logs."""
        for log in (self.json_log, self.diagnostics):
            if log is not None:
                log.events(conn_id, events)
        # One write per batch: an unbuffered stdout makes a system call per write.
        batch: list[bytes] = []
        for event in events:
            if type(event) is not MessageReceived:
                continue
            assert isinstance(event, MessageReceived)
            self.received += 1
            if self.json_log is None:
                if event.text is not None:
                    batch += (event.data, b"\n")
                elif self.raw_binary:
                    batch.append(event.data)
                else:
                    batch += (event.data.hex().encode("ascii"), b"\n")
            if self.on_message is not None:
                self.on_message(self.received)
        if batch:
            self.out.write(b"".join(batch))
            self.out.flush()

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        """The connection is gone."""
        for log in (self.json_log, self.diagnostics):
            if log is not None:
                log.closed(conn_id, peer, cause)
