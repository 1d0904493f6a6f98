"""Recording: what serve and connect see, written to a session file as it happens.

:class:`SessionRecorder` has the shape of ``net.wire.FrameObserver`` (opened,
events, closed), so a command hands it to the wire beside its terminal log.
Lines are collected per batch and written, and the file flushed, once per turn
of the reactor (``flush_soon``), so a killed process loses at most the turn it
was in, and at worst leaves its last line cut short, which the reader skips.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import IO, Any

from wstool.core.events import (
    ConnectionClosed,
    ConnectionFailed,
    Event,
    FrameReceived,
    FrameSent,
    MessageReceived,
    MessageSent,
)
from wstool.core.frames import Role
from wstool.core.http import header_value, parse_request_head, parse_response_head
from wstool.session.format import frame_record, header_record, message_record

__all__ = ["SessionRecorder"]


def _json_line(record: dict[str, Any]) -> bytes:
    import orjson  # C speed: a busy server records every frame

    return orjson.dumps(record) + b"\n"


class SessionRecorder:
    """Writes every connection's handshake, frames and closes to ``file`` (binary).

    Args:
        file: where the session goes (opened for binary writing).
        role: the end wstool is on every connection: client (connect) or server (serve).
        command: the command recording, for the header.
        tool_version: wstool's version, for the header.
        flush_soon: schedules a call once the current batch of work is done
            (``reactor.callLater(0, ...)``); None writes through at once.
        wall: the wall clock (seconds since the epoch); mono: a monotonic one.
        on_error: called once with the OSError if the file cannot be written.
    """

    wants_frames = True

    def __init__(
        self,
        file: IO[bytes],
        *,
        role: Role,
        command: str,
        tool_version: str,
        flush_soon: Callable[[Callable[[], None]], object] | None = None,
        wall: Callable[[], float] = _time.time,
        mono: Callable[[], float] = _time.monotonic,
        on_error: Callable[[OSError], None] | None = None,
    ) -> None:
        self.file = file
        self.role = role
        self._flush_soon = flush_soon
        self._wall = wall
        self._mono = mono
        self._on_error = on_error
        self._pending: list[bytes] = []
        self._scheduled = False
        self.failed: OSError | None = None
        started = datetime.fromtimestamp(wall(), tz=timezone.utc).isoformat()
        self._write(
            _json_line(header_record(tool_version=tool_version, command=command, started=started))
        )
        self.flush()

    # -- the observer ---------------------------------------------------------

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        """A connection was upgraded: both heads as on the wire, and what they agreed."""
        record: dict[str, Any] = {"type": "open", "conn": conn_id, **self._now()}
        record["role"] = self.role.value
        record["peer"] = peer
        record["url"] = peer if self.role is Role.CLIENT else _url_of(request)
        record["request"] = request.decode("latin-1")
        record["response"] = response.decode("latin-1")
        parsed = parse_response_head(response)
        headers = parsed[0].headers if parsed is not None else ()
        record["subprotocol"] = header_value(headers, "Sec-WebSocket-Protocol")
        record["extensions"] = header_value(headers, "Sec-WebSocket-Extensions")
        self._write(_json_line(record))

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        """Frames (with the message each completes) and closes."""
        now = self._now()
        last: dict[bool, dict[str, Any]] = {}  # the latest frame record each way, unwritten
        out: list[dict[str, Any]] = []
        ours, theirs = self.role, self.role.peer
        for event in events:
            kind = type(event)
            if kind is FrameReceived or kind is FrameSent:
                received = kind is FrameReceived
                record = frame_record(event.frame, theirs if received else ours)  # type: ignore[union-attr]
                record["conn"] = conn_id
                record.update(now)
                out.append(record)
                last[received] = record
            elif kind is MessageReceived or kind is MessageSent:
                target = last.get(kind is MessageReceived)
                if target is not None and "message" not in target:
                    target["message"] = message_record(event)  # type: ignore[arg-type]
            elif kind is ConnectionClosed:
                out.append(_close_record(conn_id, now, event))  # type: ignore[arg-type]
            elif kind is ConnectionFailed:
                violation = event.violation  # type: ignore[union-attr]
                out.append(
                    {
                        "type": "close",
                        "conn": conn_id,
                        **now,
                        "failed": violation.rule,
                        "reason": violation.message,
                        "code": violation.close_code,
                    }
                )
        for record in out:
            self._write(_json_line(record))

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        """The TCP connection is gone."""
        record = {"type": "disconnect", "conn": conn_id, **self._now(), "cause": cause}
        self._write(_json_line(record))

    # -- writing --------------------------------------------------------------

    def _now(self) -> dict[str, float]:
        return {"time": round(self._wall(), 6), "mono": round(self._mono(), 6)}

    def _write(self, line: bytes) -> None:
        if self.failed is not None:
            return
        self._pending.append(line)
        if self._flush_soon is None:
            self.flush()
        elif not self._scheduled:
            self._scheduled = True
            self._flush_soon(self.flush)

    def flush(self) -> None:
        """Write what is pending and flush the file."""
        self._scheduled = False
        if not self._pending or self.failed is not None:
            return
        lines, self._pending = self._pending, []
        try:
            self.file.write(b"".join(lines))
            self.file.flush()
        except OSError as exc:
            self.failed = exc
            if self._on_error is not None:
                self._on_error(exc)

    def close(self) -> None:
        """Flush, then close the file."""
        self.flush()
        try:
            self.file.close()
        except OSError as exc:
            if self.failed is None and self._on_error is not None:
                self._on_error(exc)


def _close_record(conn_id: int, now: dict[str, float], event: ConnectionClosed) -> dict[str, Any]:
    return {
        "type": "close",
        "conn": conn_id,
        **now,
        "code": event.code,
        "reason": event.reason,
        "initiator": None if event.initiator is None else event.initiator.value,
        "clean": event.clean,
        "sent_code": event.sent_code,
    }


def _url_of(request: bytes) -> str | None:
    """``ws://host/path`` from a request head, for a session recorded by serve."""
    parsed = parse_request_head(request)
    if parsed is None:
        return None
    head = parsed[0]
    host = header_value(head.headers, "Host")
    return f"ws://{host}{head.target}" if host else None
