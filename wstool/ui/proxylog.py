"""What ``wstool proxy`` prints: both hops of each handshake, every frame each way, the summary.

:class:`ProxyLog` is the relay's observer. It writes through
:class:`~wstool.ui.traffic.TrafficLog`'s output machinery (plain text without
rich's renderer for files and pipes, NDJSON, flushing once per reactor turn,
a quiet end when the reader goes away) and the shared renderables of
:mod:`wstool.ui.render`. Every line starts with the connection's number and,
for traffic, its direction: ``c→s`` (client to server) or ``s→c``; every
NDJSON record has ``conn`` and ``direction``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from wstool.core.events import (
    ConnectionClosed,
    ConnectionFailed,
    Event,
    FrameReceived,
    FrameSent,
    MessageReceived,
    MessageSent,
)
from wstool.core.frames import FrameParser, Opcode, Role, close_code_name
from wstool.core.inspect import FrameReport, MessageReport, SequenceViolation, Truncated
from wstool.core.rules import Violation
from wstool.core.tap import CloseSeen, DirectionStats, InspectionStopped, RelaySummary, TapItem
from wstool.ui.render import Parts, frame_header_parts, frame_record, payload_view, violation_record
from wstool.ui.render import count as count_of
from wstool.ui.sanitize import terminal_safe
from wstool.ui.traffic import TrafficLog, preview_parts

__all__ = ["ProxyLog"]

_ARROW = {Role.CLIENT: ("c→s ", "ws.out"), Role.SERVER: ("s→c ", "ws.in")}
_DIRECTION = {Role.CLIENT: "client-to-server", Role.SERVER: "server-to-client"}
_RECEIVER = {Role.CLIENT: "server", Role.SERVER: "client"}
# --terminate: each hop's frames, as (received, sent) arrows and JSON directions.
_HOP_ARROWS = {
    Role.CLIENT: (("c→p ", "ws.out"), ("p→c ", "ws.in")),
    Role.SERVER: (("s→p ", "ws.in"), ("p→s ", "ws.out")),
}
_HOP_DIRECTIONS = {
    Role.CLIENT: ("client-to-proxy", "proxy-to-client"),
    Role.SERVER: ("server-to-proxy", "proxy-to-server"),
}


def _head_lines(raw: bytes) -> list[str]:
    return [terminal_safe(line) for line in raw.decode("latin-1").split("\r\n") if line]


class ProxyLog(TrafficLog):
    """Prints what passes through the proxy.

    Args:
        args: as for :class:`TrafficLog`.
        filters: when not empty, only connections whose upstream URL or client
            address contains one of these strings are shown (``--filter``).
        kwargs: as for :class:`TrafficLog`.
    """

    def __init__(self, *args: Any, filters: Sequence[str] = (), **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.filters = tuple(filters)
        self.hidden: set[int] = set()
        """The connections the filters leave out."""

    # -- the handshake ------------------------------------------------------------

    def request(
        self, conn_id: int, client: str, upstream: str, received: bytes, sent: bytes
    ) -> None:
        """The client's request, as received and as sent upstream."""
        if self.filters and not any(f in upstream or f in client for f in self.filters):
            self.hidden.add(conn_id)
            return
        if self.json_out is not None:
            self._emit(
                {
                    "event": "request",
                    "conn": conn_id,
                    "direction": "client-to-server",
                    "client": client,
                    "upstream": upstream,
                    "request": received.decode("latin-1"),
                    "upstream_request": sent.decode("latin-1"),
                }
            )
            self._flush()
            return
        first = received.split(b"\r\n", 1)[0].decode("latin-1")
        self._line(
            [
                *self._prefix(conn_id),
                (f"{client} → {terminal_safe(upstream)}: ", "ws.ok"),
                (terminal_safe(first), ""),
            ]
        )
        if self._frames:
            for line in _head_lines(received):
                self._line([("  c> ", "ws.out"), (line, "")])
            ours = set(_head_lines(received))
            for line in _head_lines(sent):
                if line not in ours:
                    self._line([("  >s ", "ws.out"), (line, ""), ("  (rewritten)", "ws.dim")])
        self._flush()

    def answered(self, conn_id: int, response: bytes, body: bytes) -> None:
        """The upstream's answer: a 101, or a refusal with its body."""
        if conn_id in self.hidden:
            return
        status_line = response.split(b"\r\n", 1)[0].decode("latin-1")
        upgraded = status_line.split(" ")[1:2] == ["101"]
        if self.json_out is not None:
            record: dict[str, Any] = {
                "event": "response",
                "conn": conn_id,
                "direction": "server-to-client",
                "status": int(status_line.split(" ")[1]) if upgraded or " " in status_line else 0,
                "response": response.decode("latin-1"),
            }
            if not upgraded:
                record["body"] = body.decode("utf-8", "replace")
            self._emit(record)
            self._flush()
            return
        if upgraded and not self._frames:
            return
        style = "ws.ok" if upgraded else "ws.violation"
        what = "upgraded: " if upgraded else "refused by the upstream: "
        parts = [*self._prefix(conn_id), (what, style), (terminal_safe(status_line), "")]
        self._line(parts)
        if self._frames:
            for line in _head_lines(response)[1:]:
                self._line([("  s> ", "ws.in"), (line, "")])
        if body and not upgraded:
            text = body.decode("utf-8", "replace").strip()
            for line in text.splitlines()[:8]:
                self._line([("  body ", "ws.dim"), (terminal_safe(line[: self.preview]), "")])
        self._flush()

    def failed(self, conn_id: int, client: str, status: int, reason: str) -> None:
        """The proxy answered the client itself."""
        if conn_id in self.hidden:
            return
        if self.json_out is not None:
            self._emit(
                {
                    "event": "failed",
                    "conn": conn_id,
                    "direction": "proxy-to-client",
                    "client": client,
                    "status": status,
                    "reason": reason,
                }
            )
        else:
            self._line(
                [
                    *self._prefix(conn_id),
                    (f"{client} answered by the proxy: ", "ws.violation"),
                    (f"{status} {terminal_safe(reason)}", ""),
                ]
            )
        self._flush()

    def terminated(self, conn_id: int, response: bytes) -> None:
        """--terminate: the client was answered with the proxy's own 101."""
        if conn_id in self.hidden:
            return
        if self.json_out is not None:
            self._emit(
                {
                    "event": "response",
                    "conn": conn_id,
                    "direction": "proxy-to-client",
                    "status": 101,
                    "response": response.decode("latin-1"),
                }
            )
        elif self._frames:
            self._line([*self._prefix(conn_id), ("terminated: the proxy's own 101", "ws.ok")])
            for line in _head_lines(response)[1:]:
                self._line([("  >c ", "ws.in"), (line, "")])
        self._flush()

    def hop_events(self, conn_id: int, hop: Role, events: Sequence[Event]) -> None:
        """--terminate: what happened on one side's own connection."""
        if conn_id in self.hidden:
            return
        arrows, directions = _HOP_ARROWS[hop], _HOP_DIRECTIONS[hop]
        for event in events:
            kind = type(event)
            if kind is FrameReceived or kind is FrameSent:
                if self._frames:
                    index = 0 if kind is FrameReceived else 1
                    self._hop_frame(conn_id, event, arrows[index], directions[index])  # type: ignore[arg-type]
            elif kind is MessageReceived or kind is MessageSent:
                self._hop_message(conn_id, hop, event)  # type: ignore[arg-type]
            elif kind is ConnectionFailed:
                sender = hop  # the peer on this hop broke the rule
                self._violation(conn_id, sender, event.violation)  # type: ignore[union-attr]
            elif kind is ConnectionClosed:
                self._hop_closed(conn_id, hop, event)  # type: ignore[arg-type]
        self._flush()

    def _hop_frame(
        self,
        conn_id: int,
        event: FrameReceived | FrameSent,
        arrow: tuple[str, str],
        direction: str,
    ) -> None:
        frame, data = event.frame, event.data
        if self.json_out is not None:
            record = frame_record(frame, data)
            self._emit({"event": "frame", "conn": conn_id, "direction": direction, **record})
            return
        parts = [*self._prefix(conn_id), arrow, *frame_header_parts(frame, verbose=self._bits)]
        if frame.rsv1:
            parts.append((f"  ({count_of(len(data), 'compressed byte')})", "ws.note"))
        else:
            parts.append(("  ", ""))
            parts += preview_parts(data, frame.opcode, self.preview)
        self._line(parts)

    def _hop_message(self, conn_id: int, hop: Role, event: MessageReceived | MessageSent) -> None:
        if not self._frames or (event.frames == 1 and not event.compressed):
            return
        received = isinstance(event, MessageReceived)
        if self.json_out is not None:
            self._emit(
                {
                    "event": "message",
                    "conn": conn_id,
                    "direction": _HOP_DIRECTIONS[hop][0 if received else 1],
                    "opcode": event.opcode,
                    "frames": event.frames,
                    "compressed": event.compressed,
                    "size": len(event.data),
                    "wire_size": event.wire_size,
                    **_payload_fields(event.opcode, event.data),
                }
            )
            return
        how = "inflated from" if received else "deflated to"
        parts: Parts = [
            *self._prefix(conn_id),
            _HOP_ARROWS[hop][0 if received else 1],
            ("message ", "ws.note"),
            ("TEXT" if event.opcode == Opcode.TEXT else "BINARY", "ws.opcode"),
            (f" {len(event.data)} bytes", "ws.length"),
        ]
        if event.compressed:
            parts.append((f", {how} {event.wire_size}", "ws.dim"))
        parts.append(("  ", ""))
        parts += preview_parts(event.data, event.opcode, self.preview)
        self._line(parts)

    def _hop_closed(self, conn_id: int, hop: Role, event: ConnectionClosed) -> None:
        if self.json_out is not None:
            self._emit(
                {
                    "event": "close",
                    "conn": conn_id,
                    "direction": f"{hop.value}-hop",
                    "code": event.code,
                    "code_name": close_code_name(event.code),
                    "reason": event.reason,
                    "clean": event.clean,
                }
            )
            return
        parts = [
            *self._prefix(conn_id),
            (f"{hop.value} hop closed: {event.code} {close_code_name(event.code)}", "ws.close"),
        ]
        if event.reason:
            parts.append((f" '{terminal_safe(event.reason)}'", "ws.text"))
        self._line(parts)

    def injected(self, conn_id: int, toward: Role, data: bytes) -> None:
        """The prompt put a frame (or forged bytes) into one direction."""
        if conn_id in self.hidden:
            return
        sender = Role.CLIENT if toward is Role.SERVER else Role.SERVER
        frames = list(FrameParser().feed(data))
        if self.json_out is not None:
            self._emit(
                {
                    "event": "injected",
                    "conn": conn_id,
                    "direction": _DIRECTION[sender],
                    "bytes_hex": data.hex(),
                }
            )
            self._flush()
            return
        for frame in frames:
            parts = [*self._prefix(conn_id), _ARROW[sender], ("injected ", "ws.violation")]
            parts += frame_header_parts(frame, verbose=self._bits)
            parts.append(("  ", ""))
            parts += preview_parts(frame.data, frame.opcode, self.preview)
            self._line(parts)
        if sum(frame.size for frame in frames) < len(data):
            self._line(
                [
                    *self._prefix(conn_id),
                    _ARROW[sender],
                    ("injected bytes that are not a whole frame", "ws.note"),
                ]
            )
        self._flush()

    # -- traffic ----------------------------------------------------------------------

    def items(self, conn_id: int, sender: Role, items: Sequence[TapItem]) -> None:
        """Frames, messages, violations and closes one way."""
        if conn_id in self.hidden:
            return
        json_out = self.json_out is not None
        for item in items:
            kind = type(item)
            if kind is FrameReport:
                if self._frames:
                    self._frame_item(conn_id, sender, item)  # type: ignore[arg-type]
            elif kind is MessageReport:
                if self._frames:
                    self._message_item(conn_id, sender, item)  # type: ignore[arg-type]
            elif kind is SequenceViolation:
                self._violation(conn_id, sender, item.violation)  # type: ignore[union-attr]
            elif kind is CloseSeen:
                self._close(conn_id, sender, item)  # type: ignore[arg-type]
            elif json_out:
                self._other_record(conn_id, sender, item)
            else:
                self._other_line(conn_id, sender, item)
        self._flush()

    def _frame_item(self, conn_id: int, sender: Role, item: FrameReport) -> None:
        frame, data = item.frame, item.data
        if self.json_out is not None:
            record = frame_record(frame, data, item.violations)
            self._emit(
                {"event": "frame", "conn": conn_id, "direction": _DIRECTION[sender], **record}
            )
            return
        parts = [*self._prefix(conn_id), _ARROW[sender]]
        parts += frame_header_parts(frame, verbose=self._bits)
        shown_as = item.message_opcode if frame.opcode == Opcode.CONTINUATION else frame.opcode
        if item.compressed:
            parts.append((f"  ({count_of(len(data), 'compressed byte')})", "ws.note"))
            self._line(parts)
        elif self._bits:
            self._line(parts)
            view = payload_view(data, shown_as or frame.opcode, limit=None)
            if view is not None:
                self._print(view)
        else:
            parts.append(("  ", ""))
            parts += preview_parts(data, shown_as or frame.opcode, self.preview)
            self._line(parts)
        for violation in item.violations:
            self._violation(conn_id, sender, violation, in_frame=True)

    def _message_item(self, conn_id: int, sender: Role, item: MessageReport) -> None:
        message = item.message
        if self.json_out is not None:
            record: dict[str, Any] = {
                "event": "message",
                "conn": conn_id,
                "direction": _DIRECTION[sender],
                "opcode": message.opcode,
                "frames": message.frames,
                "compressed": message.compressed,
                "size": len(message.data),
                "wire_size": message.wire_size,
            }
            if message.text is not None:
                record["text"] = message.text
            else:  # so that the line pasted at the prompt can send it again
                record["payload_hex"] = message.data.hex()
            self._emit(record)
            return
        parts: Parts = [
            *self._prefix(conn_id),
            _ARROW[sender],
            ("message ", "ws.note"),
            ("TEXT" if message.opcode == Opcode.TEXT else "BINARY", "ws.opcode"),
            (f" {len(message.data)} bytes", "ws.length"),
        ]
        if message.frames > 1:
            parts.append((f" in {message.frames} frames", "ws.dim"))
        if message.compressed:
            parts.append((f", inflated from {message.wire_size}", "ws.dim"))
        parts.append(("  ", ""))
        parts += preview_parts(message.data, message.opcode, self.preview)
        self._line(parts)

    def _violation(
        self, conn_id: int, sender: Role, violation: Violation, *, in_frame: bool = False
    ) -> None:
        if self.json_out is not None:
            if not in_frame:  # a frame's own violations are in its record
                self._emit(
                    {
                        "event": "violation",
                        "conn": conn_id,
                        "direction": _DIRECTION[sender],
                        **violation_record(violation),
                    }
                )
            return
        receiver = _RECEIVER[sender]
        self._line(
            [
                *self._prefix(conn_id),
                _ARROW[sender],
                ("✗ ", "ws.violation"),
                (violation.rule, "ws.violation"),
                (f": {violation.message} ", ""),
                (
                    f"({violation.section}; the {receiver} would close with "
                    f"{violation.close_code}; relayed as is)",
                    "ws.dim",
                ),
            ]
        )

    def _close(self, conn_id: int, sender: Role, close: CloseSeen) -> None:
        if self.json_out is not None:
            self._emit(
                {
                    "event": "close",
                    "conn": conn_id,
                    "direction": _DIRECTION[sender],
                    "code": close.code,
                    "code_name": close_code_name(close.code) if close.code is not None else None,
                    "reason": close.reason,
                }
            )
            return
        if self._frames:
            return  # the Close frame's own line says it
        code = (
            "no status code"
            if close.code is None
            else f"{close.code} {close_code_name(close.code)}"
        )
        parts = [*self._prefix(conn_id), _ARROW[sender], (f"close {code}", "ws.close")]
        if close.reason:
            parts.append((f" '{terminal_safe(close.reason)}'", "ws.text"))
        self._line(parts)

    def _other_record(self, conn_id: int, sender: Role, item: TapItem) -> None:
        record: dict[str, Any] = {"conn": conn_id, "direction": _DIRECTION[sender]}
        if isinstance(item, InspectionStopped):
            record.update(event="not-decoded", reason=item.reason, offset=item.offset)
        elif isinstance(item, Truncated):
            record.update(event="truncated", offset=item.offset, have=item.have, need=item.need)
        self._emit(record)

    def _other_line(self, conn_id: int, sender: Role, item: TapItem) -> None:
        if isinstance(item, InspectionStopped):
            text = item.reason
        elif isinstance(item, Truncated):
            missing = "" if item.missing is None else f", {item.missing} missing"
            text = f"the stream ended inside a frame at offset {item.offset}{missing}"
        else:
            return
        self._line([*self._prefix(conn_id), _ARROW[sender], (text, "ws.note")])

    # -- the end --------------------------------------------------------------------------

    def closed(self, conn_id: int, summary: RelaySummary) -> None:  # type: ignore[override]
        """Both connections are gone: one summary line (or record)."""
        if conn_id in self.hidden:
            self.hidden.discard(conn_id)
            return
        if self.json_out is not None:
            self._emit(
                {
                    "event": "summary",
                    "conn": conn_id,
                    "direction": "both",
                    "client": summary.client,
                    "upstream": summary.upstream,
                    "upgraded": summary.upgraded,
                    "seconds": round(summary.seconds, 6),
                    "cause": summary.cause,
                    "client_to_server": _stats_record(summary.to_server),
                    "server_to_client": _stats_record(summary.to_client),
                }
            )
            self._flush()
            return
        parts: Parts = [
            *self._prefix(conn_id),
            (f"closed after {summary.seconds:.2f} s", "ws.close"),
            (f" ({terminal_safe(summary.cause)})", "ws.dim"),
        ]
        if summary.to_server is not None and summary.to_client is not None:
            parts.append((": ", ""))
            parts.append(("c→s ", "ws.out"))
            parts.append((_stats_text(summary.to_server), ""))
            parts.append(("; s→c ", "ws.in"))
            parts.append((_stats_text(summary.to_client), ""))
        self._line(parts)
        self._flush()


def _payload_fields(opcode: int, data: bytes) -> dict[str, str]:
    """A message's payload in a record: its text, or its bytes in hex."""
    if opcode == Opcode.TEXT:
        try:
            return {"text": data.decode("utf-8")}
        except UnicodeDecodeError:
            pass
    return {"payload_hex": data.hex()}


def _stats_text(stats: DirectionStats) -> str:
    text = (
        f"{count_of(stats.frames, 'frame')}, {count_of(stats.wire_bytes, 'byte')}, "
        f"{count_of(stats.messages, 'message')}"
    )
    if stats.compressed_messages:
        text += (
            f" ({stats.compressed_messages} compressed: "
            f"{stats.compressed_bytes} bytes inflated to {stats.inflated_bytes})"
        )
    if stats.violations:
        rules = ", ".join(stats.rules)
        text += f", {count_of(stats.violations, 'violation')} ({rules})"
    return text


def _stats_record(stats: DirectionStats | None) -> dict[str, Any] | None:
    if stats is None:
        return None
    return {
        "frames": stats.frames,
        "wire_bytes": stats.wire_bytes,
        "messages": stats.messages,
        "message_bytes": stats.message_bytes,
        "compressed_messages": stats.compressed_messages,
        "compressed_bytes": stats.compressed_bytes,
        "inflated_bytes": stats.inflated_bytes,
        "violations": stats.violations,
        "rules": list(stats.rules),
        "close_code": stats.close.code if stats.close is not None else None,
    }
