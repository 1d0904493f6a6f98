"""Recording: what serve and connect see, written to a session file as it happens.

:class:`SessionRecorder` has the shape of ``net.wire.FrameObserver`` (opened,
events, closed), so a command hands it to the wire beside its terminal log.
Lines are collected per batch and written, and the file flushed, once per turn
of the reactor (``flush_soon``). A recording wire leaves its writes to the
transport's queue, which sends them on the next turn, after that flush
(``net.wire``): what a peer was sent is on file before it leaves, so a killed
process loses at most what it read in its last turn, and at worst leaves its
last line cut short, which the reader skips.
"""

from __future__ import annotations

import time as _time
from collections.abc import Callable, Sequence
from datetime import datetime, timezone
from typing import IO, Any

import orjson  # C speed: a busy server records every frame (loaded only with --record)

from wstool.core.events import (
    ConnectionClosed,
    ConnectionFailed,
    Event,
    MessageReceived,
)
from wstool.core.frames import Role
from wstool.core.http import header_value, parse_request_head, parse_response_head
from wstool.core.inspect import FrameReport, MessageReport
from wstool.core.tap import CloseSeen, RelaySummary, TapItem
from wstool.session.bytes_recorder import ByteStream
from wstool.session.format import frame_record, header_record, message_record

__all__ = ["RelayRecorder", "SessionRecorder", "SessionWriter"]


def _json_line(record: dict[str, Any]) -> bytes:
    return orjson.dumps(record) + b"\n"


class SessionWriter:
    """The session file being written: its header, its lines, flushed once per reactor turn.

    Args:
        file: where the session goes (opened for binary writing).
        command: the command recording, for the header.
        tool_version: wstool's version, for the header.
        flush_soon: schedules a call once the current batch of work is done
            (``reactor.callLater(0, ...)``); None writes through at once.
        wall: the wall clock (seconds since the epoch); mono: a monotonic one.
        on_error: called once with the OSError if the file cannot be written.
    """

    def __init__(
        self,
        file: IO[bytes],
        *,
        command: str,
        tool_version: str,
        flush_soon: Callable[[Callable[[], None]], object] | None = None,
        wall: Callable[[], float] = _time.time,
        mono: Callable[[], float] = _time.monotonic,
        on_error: Callable[[OSError], None] | None = None,
    ) -> None:
        self.file = file
        self._flush_soon = flush_soon
        self._wall = wall
        self._mono = mono
        self._on_error = on_error
        self._pending: list[bytes] = []
        self._scheduled = False
        self.write_error: OSError | None = None
        started = datetime.fromtimestamp(wall(), tz=timezone.utc).isoformat()
        self._write(
            _json_line(header_record(tool_version=tool_version, command=command, started=started))
        )
        self.flush()

    def _open(
        self, conn_id: int, role: str, peer: str, url: str | None, request: bytes, response: bytes
    ) -> None:
        """The open record: both heads as on the wire, and what the 101 agreed."""
        record: dict[str, Any] = {"type": "open", "conn": conn_id, **self._now()}
        record.update(role=role, peer=peer, url=url)
        record["request"] = request.decode("latin-1")
        record["response"] = response.decode("latin-1")
        parsed = parse_response_head(response)
        headers = parsed[0].headers if parsed is not None else ()
        record["subprotocol"] = header_value(headers, "Sec-WebSocket-Protocol")
        record["extensions"] = header_value(headers, "Sec-WebSocket-Extensions")
        self._write(_json_line(record))

    def _now(self) -> dict[str, float]:
        return {"time": round(self._wall(), 6), "mono": round(self._mono(), 6)}

    def _write(self, line: bytes) -> None:
        if self.write_error is not None:
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
        if not self._pending or self.write_error is not None:
            return
        lines, self._pending = self._pending, []
        try:
            self.file.write(b"".join(lines))
            self.file.flush()
        except OSError as exc:
            self.write_error = exc
            if self._on_error is not None:
                self._on_error(exc)

    def close(self) -> None:
        """Flush, then close the file."""
        self.flush()
        try:
            self.file.close()
        except OSError as exc:
            if self.write_error is None and self._on_error is not None:
                self._on_error(exc)


class SessionRecorder(SessionWriter):
    """What serve and connect see, as a ``net.wire.FrameObserver`` with the ``wire_data`` tap.

    Frames are recorded from the bytes each end wrote (:mod:`wstool.session.bytes_recorder`),
    so the connection builds no frame events for the recorder; closes come from its events.

    Args:
        role: the end wstool is on every connection: client (connect) or server (serve).
        The rest: as :class:`SessionWriter`.
    """

    wants_frames = False

    def __init__(self, file: IO[bytes], *, role: Role, **kwargs: Any) -> None:
        self.role = role
        self._streams: dict[int, dict[bool, ByteStream]] = {}
        super().__init__(file, **kwargs)

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        """A connection was upgraded."""
        url = peer if self.role is Role.CLIENT else _url_of(request)
        self._open(conn_id, self.role.value, peer, url, request, response)
        self._streams[conn_id] = {
            True: ByteStream(conn_id, self.role.peer, response, orjson.dumps),
            False: ByteStream(conn_id, self.role, response, orjson.dumps),
        }

    def wire_data(self, conn_id: int, received: bool, data: bytes) -> None:
        """Bytes read from the peer (``received``) or written to it, as they went."""
        streams = self._streams.get(conn_id)
        if streams is None:
            return
        lines: list[bytes] = []
        streams[received].feed(data, self._wall(), self._mono(), lines)
        if lines:
            self._write(b"".join(lines))

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        """Closes: how the closing handshake ended, or the rule the peer broke."""
        for event in events:
            kind = type(event)
            if kind is ConnectionClosed:
                self._write(_json_line(_close_record(conn_id, self._now(), event)))  # type: ignore[arg-type]
            elif kind is ConnectionFailed:
                violation = event.violation  # type: ignore[union-attr]
                record = {"type": "close", "conn": conn_id, **self._now()}
                record.update(failed=violation.rule, reason=violation.message)
                record["code"] = violation.close_code
                self._write(_json_line(record))

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        """The TCP connection is gone."""
        self._streams.pop(conn_id, None)
        record = {"type": "disconnect", "conn": conn_id, **self._now(), "cause": cause}
        self._write(_json_line(record))


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


class RelayRecorder(SessionWriter):
    """What ``wstool proxy`` relays, as a ``net.relay.RelayObserver``: both sides' frames.

    The open record holds the client's request as it reached the upstream (Host and path
    rewritten) and the upstream's 101; frames are recorded as relayed, unchanged.
    """

    wants_frames = True

    def __init__(self, file: IO[bytes], **kwargs: Any) -> None:
        super().__init__(file, **kwargs)
        self._requests: dict[int, tuple[str, str, bytes]] = {}
        self._closes: dict[int, dict[Role, CloseSeen]] = {}

    def request(
        self, conn_id: int, client: str, upstream: str, received: bytes, sent: bytes
    ) -> None:
        self._requests[conn_id] = (client, upstream, sent)

    def answered(self, conn_id: int, response: bytes, body: bytes) -> None:
        client, upstream, sent = self._requests.pop(conn_id, ("?", "", b""))
        if response.startswith((b"HTTP/1.1 101", b"HTTP/1.0 101")):
            self._open(conn_id, "proxy", client, upstream or None, sent, response)

    def failed(self, conn_id: int, client: str, status: int, reason: str) -> None:
        self._requests.pop(conn_id, None)

    def injected(self, conn_id: int, toward: Role, data: bytes) -> None:
        """Injected frames reach the tap of their direction and are recorded from there."""

    def items(self, conn_id: int, sender: Role, items: Sequence[TapItem]) -> None:
        """Frames (with the message each completes), in the order they went by."""
        now = self._now()
        out: list[dict[str, Any]] = []
        last: dict[str, Any] | None = None
        for item in items:
            if isinstance(item, FrameReport):
                frame = item.frame
                last = frame_record(frame, sender)
                last["conn"] = conn_id
                last.update(now)
                if frame.fin and frame.opcode in (1, 2) and not frame.rsv1:
                    last["message"] = _single_frame_message(frame.opcode, item.data)
                out.append(last)
            elif isinstance(item, MessageReport) and last is not None:
                last["message"] = message_record(item.message)
            elif isinstance(item, CloseSeen):
                self._closes.setdefault(conn_id, {}).setdefault(sender, item)
        for record in out:
            self._write(_json_line(record))

    def closed(self, conn_id: int, summary: RelaySummary) -> None:
        """Both TCP connections are gone: the close each side sent, and the cause."""
        if not summary.upgraded:
            return
        now = self._now()
        closes = self._closes.pop(conn_id, {})
        first = next(iter(closes), None)  # the side whose Close went by first
        if first is not None:
            seen = closes[first]
            record = {"type": "close", "conn": conn_id, **now, "code": seen.code}
            record.update(reason=seen.reason, initiator=first.value, clean=len(closes) == 2)
            self._write(_json_line(record))
        self._write(
            _json_line({"type": "disconnect", "conn": conn_id, **now, "cause": summary.cause})
        )


def _single_frame_message(opcode: int, data: bytes) -> dict[str, Any]:
    return message_record(MessageReceived(opcode, data, None, 1, len(data), False))
