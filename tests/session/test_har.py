"""HAR export and import: a session through HAR and back, Chrome's shape, bad files."""

from __future__ import annotations

import base64
import io
import json
from pathlib import Path

import pytest
from haralyzer import HarParser

from wstool.cli import main
from wstool.core.frames import Role
from wstool.session.format import SessionError, read_session
from wstool.session.har import dumps_lines, har_from_session, session_lines_from_har

from .test_format import record_conversation

# What Chrome DevTools saves for a page's WebSocket ("Save all as HAR with content"), cut down
# to the fields wstool reads, values as Chrome writes them.
CHROME_HAR = {
    "log": {
        "version": "1.2",
        "creator": {"name": "WebInspector", "version": "537.36"},
        "pages": [],
        "entries": [
            {
                "_resourceType": "document",
                "request": {"method": "GET", "url": "https://example.test/", "headers": []},
                "response": {"status": 200, "headers": []},
                "startedDateTime": "2026-12-06T10:00:00.000Z",
            },
            {
                "_resourceType": "websocket",
                "_webSocketMessages": [
                    {"type": "send", "time": 1796551200.5, "opcode": 1, "data": '{"op":"sub"}'},
                    {"type": "receive", "time": 1796551200.6, "opcode": 1, "data": "ok"},
                    {"type": "receive", "time": 1796551200.7, "opcode": 2, "data": "AAH/"},
                ],
                "request": {
                    "method": "GET",
                    "url": "wss://example.test/feed?token=1",
                    "httpVersion": "HTTP/1.1",
                    "headers": [
                        {"name": "Host", "value": "example.test"},
                        {"name": "Sec-WebSocket-Protocol", "value": "v1.feed"},
                    ],
                },
                "response": {
                    "status": 101,
                    "statusText": "Switching Protocols",
                    "headers": [{"name": "Sec-WebSocket-Protocol", "value": "v1.feed"}],
                },
                "startedDateTime": "2026-12-06T10:00:00.400Z",
            },
        ],
    }
}


def _session_bytes() -> bytes:
    file = io.BytesIO()
    record_conversation(file)
    return file.getvalue()


def test_export_is_a_har_that_a_har_library_reads() -> None:
    session = read_session(_session_bytes().splitlines(keepends=True))
    har = har_from_session(session, tool_version="9.9")
    parsed = HarParser(json.loads(json.dumps(har)))
    entries = [entry for page in parsed.pages for entry in page.entries]
    assert [e.request.url for e in entries] == ["ws://example.test/chat"]
    assert entries[0].response.status == 101
    raw = har["log"]["entries"][0]
    assert raw["_resourceType"] == "websocket"
    assert [(m["type"], m["opcode"], m["data"]) for m in raw["_webSocketMessages"]] == [
        ("send", 1, "héllo"),
        ("send", 2, "AAEC"),
        ("receive", 1, "héllo"),
        ("receive", 2, "AAEC"),
    ]


def _content(message: dict[str, object]) -> tuple[object, ...]:
    return message["opcode"], message.get("text"), message.get("base64")


def test_session_to_har_to_session_keeps_every_message() -> None:
    session = read_session(_session_bytes().splitlines(keepends=True))
    har = har_from_session(session, tool_version="9.9")
    lines = dumps_lines(session_lines_from_har(har, tool_version="9.9", source="x.har"))
    again = read_session(lines.encode().splitlines(keepends=True))
    for role in Role:
        before = [_content(m) for m in session.connections[1].messages(role)]
        after = [_content(m) for m in again.connections[1].messages(role)]
        assert after == before
    assert again.connections[1].open["imported"] == "har"


def test_a_chrome_har_imports_as_a_session() -> None:
    lines = dumps_lines(session_lines_from_har(CHROME_HAR, tool_version="9.9", source="c.har"))
    session = read_session(lines.encode().splitlines(keepends=True))
    assert list(session.connections) == [1]  # the page itself is not a WebSocket
    conn = session.connections[1]
    assert conn.open["url"] == "wss://example.test/feed?token=1"
    assert conn.open["subprotocol"] == "v1.feed"
    assert conn.request.startswith(b"GET /feed?token=1 HTTP/1.1\r\nHost: example.test\r\n")
    assert [m.get("text") for m in conn.messages(Role.CLIENT)] == ['{"op":"sub"}']
    assert base64.b64decode(conn.messages(Role.SERVER)[1]["base64"]) == b"\x00\x01\xff"
    client_frame = next(e.frame for e in conn.frames if e.sender is Role.CLIENT)
    assert client_frame.mask_key == b"\x00\x00\x00\x00"  # masked, as a client must
    assert [e.time for e in conn.frames] == [1796551200.5, 1796551200.6, 1796551200.7]


@pytest.mark.parametrize(
    ("har", "message"),
    [
        ([], "x.har: not a HAR file"),
        ({"log": {"entries": []}}, "x.har: the HAR holds no WebSocket connection"),
        (
            {"log": {"entries": [{"_resourceType": "websocket", "_webSocketMessages": [{}]}]}},
            "x.har: connection 1, message 1: no send/receive type",
        ),
        (
            {
                "log": {
                    "entries": [
                        {
                            "_resourceType": "websocket",
                            "_webSocketMessages": [{"type": "send", "opcode": 2, "data": "!!"}],
                        }
                    ]
                }
            },
            "x.har: connection 1, message 1: binary data is not base64",
        ),
    ],
)
def test_bad_hars_are_one_clear_error(har: object, message: str) -> None:
    with pytest.raises(SessionError, match="^" + message):
        session_lines_from_har(har, tool_version="1", source="x.har")


def test_export_and_import_commands(tmp_path: Path) -> None:
    session_file = tmp_path / "a.session"
    session_file.write_bytes(_session_bytes())
    out, err = io.StringIO(), io.StringIO()
    har_file = tmp_path / "a.har"
    assert main(["export", str(session_file), "--har", str(har_file)], stdout=out, stderr=err) == 0
    assert json.loads(har_file.read_text())["log"]["entries"][0]["_resourceType"] == "websocket"
    out = io.StringIO()
    assert main(["import", str(har_file)], stdout=out, stderr=err) == 0
    assert read_session(out.getvalue().encode().splitlines(keepends=True)).connections[1]
    out = io.StringIO()
    assert main(["export", str(session_file), "--text", "-"], stdout=out, stderr=err) == 0
    assert "TEXT" in out.getvalue() and "héllo" in out.getvalue()
    assert err.getvalue() == ""


def test_commands_refuse_bad_files_in_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.session"
    bad.write_text('{"type": "session", "format": "wstool-session", "version": 1}\nnope\n')
    err = io.StringIO()
    status = main(["export", str(bad), "--har", "-"], stdout=io.StringIO(), stderr=err)
    assert status == 2
    assert err.getvalue() == f"wstool export: {bad}: line 2: not JSON (Expecting value)\n"
    err = io.StringIO()
    status = main(["import", str(bad)], stdout=io.StringIO(), stderr=err)
    assert status == 2 and err.getvalue().startswith(f"wstool import: {bad}: not JSON")


def test_import_of_a_binary_file_is_one_line(tmp_path: Path) -> None:
    capture = tmp_path / "capture.pcap"
    capture.write_bytes(bytes.fromhex("d4c3b2a1020004000000000000000000ffff000001000000"))
    err = io.StringIO()
    assert main(["import", str(capture)], stdout=io.StringIO(), stderr=err) == 2
    assert err.getvalue() == f"wstool import: {capture}: not a HAR file (binary, not JSON text)\n"


def test_heads_that_are_not_http_export_as_unparsed() -> None:
    """Recorded heads that are not valid HTTP: no headers, their sizes, every message kept."""
    session = read_session(_session_bytes().splitlines(keepends=True))
    conn = session.connections[1]
    conn.open.update(request="\x1f", response="HTTP/1.1 1O1 no\r\n\r\n")
    (entry,) = har_from_session(session, tool_version="9.9")["log"]["entries"]
    assert entry["request"]["headers"] == [] and entry["request"]["headersSize"] == 1
    assert entry["response"]["status"] == 0
    assert len(entry["_webSocketMessages"]) == 4
