"""HAR: sessions to and from the HTTP Archive that browsers' developer tools save.

Chrome DevTools writes a WebSocket as an entry with ``_resourceType:
"websocket"`` and its messages in ``_webSocketMessages``: ``type`` (``send``
from the page, ``receive`` from the server), ``time`` (seconds since the
epoch), ``opcode`` (1 text, 2 binary) and ``data`` (the text, or base64 for
binary). Firefox saves the same fields. A HAR holds messages, not frames:
an imported session has one frame per message, marked ``"imported": "har"``
on its connection, client frames masked with a zero key, so that decode and
replay read it like any other.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from datetime import datetime, timezone
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from wstool.core.errors import HandshakeError
from wstool.core.frames import Role, encode_frame
from wstool.core.http import parse_request_head, parse_response_head
from wstool.session.format import (
    Session,
    SessionError,
    epoch_time,
    frame_record,
    header_record,
)

__all__ = ["har_from_session", "session_lines_from_har"]

_ZERO_KEY = b"\x00\x00\x00\x00"


def _iso(seconds: float | None) -> str:
    moment = datetime.fromtimestamp(seconds or 0.0, tz=timezone.utc)  # a checked epoch_time
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _headers(pairs: Any) -> list[dict[str, str]]:
    return [{"name": name, "value": value} for name, value in pairs]


def _parsed_head(parse: Callable[[bytes], Any], data: bytes) -> Any:
    """A recorded head parsed, or None when it is cut short or not valid HTTP (a session
    keeps heads as they were on the wire, which a rule-breaking peer may have sent)."""
    try:
        parsed = parse(data)
    except HandshakeError:
        return None
    return parsed[0] if parsed is not None else None


def _request(conn: Any) -> dict[str, Any]:
    head = _parsed_head(parse_request_head, conn.request)
    url = conn.open.get("url")
    url = url if isinstance(url, str) else ""
    query = urlsplit(url).query
    return {
        "method": head.method if head else "GET",
        "url": url,
        "httpVersion": head.version if head else "HTTP/1.1",
        "headers": _headers(head.headers if head else ()),
        "queryString": [{"name": k, "value": v} for k, v in parse_qsl(query)],
        "cookies": [],
        "headersSize": len(conn.request),
        "bodySize": 0,
    }


def _response(conn: Any) -> dict[str, Any]:
    head = _parsed_head(parse_response_head, conn.response)
    return {
        "status": head.status if head else 0,
        "statusText": head.reason if head else "",
        "httpVersion": head.version if head else "HTTP/1.1",
        "headers": _headers(head.headers if head else ()),
        "cookies": [],
        "content": {"size": 0, "mimeType": "x-unknown"},
        "redirectURL": "",
        "headersSize": len(conn.response),
        "bodySize": 0,
    }


def _messages(conn: Any) -> list[dict[str, Any]]:
    out = []
    for event in conn.frames:
        message = event.message
        if message is None:
            continue
        data = message.get("text")
        if data is None:
            data = message.get("base64", "")
        out.append(
            {
                "type": "send" if event.sender is Role.CLIENT else "receive",
                "time": event.time or 0.0,
                "opcode": message.get("opcode", 1),
                "data": data,
            }
        )
    return out


def har_from_session(session: Session, *, tool_version: str) -> dict[str, Any]:
    """The HAR of a session: one websocket entry per connection."""
    entries = []
    for conn in session.connections.values():
        started = epoch_time(conn.open.get("time"))
        last = max((e.time or 0.0 for e in conn.frames), default=started or 0.0)
        entries.append(
            {
                "startedDateTime": _iso(started),
                "time": round(max(0.0, (last or 0.0) - (started or 0.0)) * 1000, 3),
                "request": _request(conn),
                "response": _response(conn),
                "cache": {},
                "timings": {
                    "blocked": -1,
                    "dns": -1,
                    "connect": -1,
                    "ssl": -1,
                    "send": 0,
                    "wait": 0,
                    "receive": 0,
                },
                "_resourceType": "websocket",
                "_webSocketMessages": _messages(conn),
            }
        )
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "wstool", "version": tool_version},
            "pages": [],
            "entries": entries,
        }
    }


# --- Import -------------------------------------------------------------------------------------


def session_lines_from_har(har: Any, *, tool_version: str, source: str) -> list[dict[str, Any]]:
    """The records of a session file made from a HAR's WebSocket entries.

    Raises:
        SessionError: the HAR is not one, or holds no WebSocket entry.
    """
    entries = har.get("log", {}).get("entries") if isinstance(har, dict) else None
    if not isinstance(entries, list):
        raise SessionError(f"{source}: not a HAR file (no log.entries)")
    sockets = [e for e in entries if isinstance(e, dict) and _is_websocket(e)]
    if not sockets:
        raise SessionError(f"{source}: the HAR holds no WebSocket connection")
    first = _entry_time(sockets[0])
    records = [header_record(tool_version=tool_version, command="import", started=_iso(first))]
    for conn_id, entry in enumerate(sockets, 1):
        records.extend(_entry_records(conn_id, entry, source))
    return records


def _is_websocket(entry: dict[str, Any]) -> bool:
    url = str(entry.get("request", {}).get("url", ""))
    return entry.get("_resourceType") == "websocket" or (
        "_webSocketMessages" in entry and url.startswith(("ws:", "wss:"))
    )


def _entry_time(entry: dict[str, Any]) -> float:
    text = str(entry.get("startedDateTime", ""))
    try:
        return datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()
    except ValueError:
        return 0.0


def _head(start_line: str, headers: Any) -> str:
    lines = [start_line]
    for header in headers if isinstance(headers, list) else []:
        if isinstance(header, dict) and not str(header.get("name", "")).startswith(":"):
            lines.append(f"{header.get('name')}: {header.get('value', '')}")
    return "\r\n".join(lines) + "\r\n\r\n"


def _entry_records(conn_id: int, entry: dict[str, Any], source: str) -> list[dict[str, Any]]:
    request = entry.get("request", {})
    response = entry.get("response", {})
    url = str(request.get("url", ""))
    parts = urlsplit(url)
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    status = response.get("status", 101)
    started = _entry_time(entry)
    records: list[dict[str, Any]] = [
        {
            "type": "open",
            "conn": conn_id,
            "time": started,
            "role": "client",
            "peer": url,
            "url": url,
            "imported": "har",
            "request": _head(f"GET {target} HTTP/1.1", request.get("headers")),
            "response": _head(
                f"HTTP/1.1 {status} {response.get('statusText', '')}".rstrip(),
                response.get("headers"),
            ),
            "subprotocol": _header(response, "sec-websocket-protocol"),
            "extensions": None,  # a HAR keeps messages inflated: its frames are not compressed
        }
    ]
    messages = entry.get("_webSocketMessages") or []
    if not isinstance(messages, list):
        raise SessionError(f"{source}: entry {conn_id}: _webSocketMessages is not a list")
    for index, message in enumerate(messages, 1):
        records.append(_message_record(conn_id, index, message, source))
    return records


def _header(part: dict[str, Any], name: str) -> str | None:
    for header in part.get("headers") or []:
        if isinstance(header, dict) and str(header.get("name", "")).lower() == name:
            return str(header.get("value", ""))
    return None


def _message_record(conn: int, index: int, message: Any, source: str) -> dict[str, Any]:
    if not isinstance(message, dict) or message.get("type") not in ("send", "receive"):
        raise SessionError(f"{source}: connection {conn}, message {index}: no send/receive type")
    opcode = message.get("opcode", 1)
    data = message.get("data", "")
    if opcode not in (1, 2, 8, 9, 10) or not isinstance(data, str):
        raise SessionError(f"{source}: connection {conn}, message {index}: bad opcode or data")
    try:
        payload = data.encode("utf-8") if opcode == 1 else base64.b64decode(data, validate=True)
    except ValueError:
        raise SessionError(
            f"{source}: connection {conn}, message {index}: binary data is not base64"
        ) from None
    sender = Role.CLIENT if message["type"] == "send" else Role.SERVER
    key = _ZERO_KEY if sender is Role.CLIENT else None
    from wstool.core.frames import FrameParser

    frame = next(iter(FrameParser().feed(encode_frame(opcode, payload, mask_key=key))))
    record = frame_record(frame, sender)
    record["conn"] = conn
    time = message.get("time")
    record["time"] = float(time) if isinstance(time, (int, float)) else None
    if opcode in (1, 2):
        record["message"] = {
            "opcode": opcode,
            "frames": 1,
            "compressed": False,
            "size": len(payload),
            ("text" if opcode == 1 else "base64"): data,
        }
    return record


def dumps_lines(records: list[dict[str, Any]]) -> str:
    """Records as the lines of a session file."""
    return "".join(json.dumps(record, ensure_ascii=False) + "\n" for record in records)
