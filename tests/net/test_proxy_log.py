"""The proxy's log (``ui.proxylog``): lines and NDJSON tagged with connection and direction."""

from __future__ import annotations

import io
import json

from rich.console import Console

from wstool.core.frames import Role, forge_frame
from wstool.core.tap import DirectionStats, RelaySummary, StreamTap
from wstool.ui.proxylog import ProxyLog

REQUEST = b"GET /chat HTTP/1.1\r\nHost: proxy\r\n\r\n"
SENT = b"GET /api/chat HTTP/1.1\r\nHost: upstream:9000\r\n\r\n"


def log(**kwargs: object) -> tuple[ProxyLog, io.StringIO]:
    out = io.StringIO()
    console = Console(file=out, color_system=None, width=200)
    return ProxyLog(console, **kwargs), out  # type: ignore[arg-type]


def summary() -> RelaySummary:
    stats = DirectionStats(frames=1, wire_bytes=7, messages=1, message_bytes=5)
    return RelaySummary(
        "127.0.0.1:5555", "ws://upstream:9000/api/chat", True, 0.5, "done", stats, stats
    )


def test_lines_name_connection_and_direction() -> None:
    """The request, the rewritten lines, each frame with c→s or s→c, violations, the summary."""
    proxy_log, out = log()
    proxy_log.request(1, "127.0.0.1:5555", "ws://upstream:9000/api/chat", REQUEST, SENT)
    tap = StreamTap(Role.CLIENT)
    proxy_log.items(1, Role.CLIENT, tap.feed(forge_frame(opcode=1, payload=b"Hello")))
    proxy_log.closed(1, summary())
    text = out.getvalue()
    assert "#1 127.0.0.1:5555 → ws://upstream:9000/api/chat: GET /chat HTTP/1.1" in text
    assert "  >s GET /api/chat HTTP/1.1  (rewritten)" in text
    assert "#1 c→s TEXT         FIN len=5  Hello" in text
    assert (
        "#1 c→s ✗ mask-required: a client frame is not masked (RFC 6455 §5.1; "
        "the server would close with 1002; relayed as is)" in text
    )
    assert "#1 closed after 0.50 s (done): c→s 1 frame, 7 bytes, 1 message; s→c" in text


def test_json_records_carry_conn_and_direction() -> None:
    """Every NDJSON record has conn and direction."""
    out = io.StringIO()
    proxy_log, _ = log(json_out=out)
    proxy_log.request(3, "c", "ws://u/", REQUEST, SENT)
    tap = StreamTap(Role.SERVER)
    proxy_log.items(3, Role.SERVER, tap.feed(forge_frame(opcode=8, payload=b"\x03\xe8")))
    proxy_log.closed(3, summary())
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["event"] for r in records] == ["request", "frame", "close", "summary"]
    assert all(r["conn"] == 3 and "direction" in r for r in records)
    assert records[1]["direction"] == "server-to-client"
    assert records[2]["code"] == 1000


def test_filter_shows_only_matching_connections() -> None:
    """--filter chat: connection 1 (…/chat) is shown, connection 2 (…/feed) is not."""
    proxy_log, out = log(filters=["chat"])
    proxy_log.request(1, "c", "ws://u/chat", REQUEST, SENT)
    proxy_log.request(2, "c", "ws://u/feed", REQUEST, SENT)
    tap = StreamTap(Role.SERVER)
    proxy_log.items(2, Role.SERVER, tap.feed(forge_frame(opcode=1, payload=b"hidden")))
    proxy_log.closed(2, summary())
    text = out.getvalue()
    assert "#1 c → ws://u/chat" in text
    assert "#2" not in text and "hidden" not in text
    assert proxy_log.hidden == set()
