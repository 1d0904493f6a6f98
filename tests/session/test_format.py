"""Session files: what the recorder writes, the strict reader reads back, bit for bit."""

from __future__ import annotations

import io
import itertools
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstool.core.connection import Connection
from wstool.core.frames import Role
from wstool.session.format import SessionError, looks_like_session, read_session
from wstool.session.recorder import SessionRecorder

REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: example.test\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\nSec-WebSocket-Protocol: chat\r\n\r\n"
)


def _clock(start: float) -> object:
    ticks = itertools.count()
    return lambda: start + next(ticks) / 1000


def record_conversation(file: io.BytesIO) -> tuple[Connection, Connection]:
    """A client and a server in memory, every event of the server recorded."""
    keys = itertools.cycle([b"\x01\x02\x03\x04", b"\xaa\xbb\xcc\xdd"])
    client = Connection(Role.CLIENT, mask_source=lambda n: next(keys))
    server = Connection(Role.SERVER)
    recorder = SessionRecorder(
        file,
        role=Role.SERVER,
        command="serve",
        tool_version="9.9",
        wall=_clock(1.7e9),  # type: ignore[arg-type]
        mono=_clock(100.0),  # type: ignore[arg-type]
    )
    recorder.opened(1, "127.0.0.1:5000", REQUEST, RESPONSE)

    def client_to_server() -> None:
        """As the server's wire does: the read tapped, then what the server wrote back."""
        data = client.data_to_send()
        client.events()
        recorder.wire_data(1, True, data)
        server.receive_data(data)
        server_sends()

    def server_sends() -> None:
        out = server.data_to_send()
        if out:
            recorder.wire_data(1, False, out)
            client.receive_data(out)
            client.events()
        recorder.events(1, server.events())

    client.send_text("héllo")
    client.send_fragments(2, [b"\x00\x01", b"\x02"])
    client.send_ping(b"p")
    client_to_server()
    server.send_text("héllo")
    server.send_binary(b"\x00\x01\x02")
    server_sends()
    client.send_close(4000, "bye")
    client_to_server()
    recorder.closed(1, "127.0.0.1:5000", "closed cleanly")
    recorder.flush()
    return client, server


def test_a_recorded_conversation_reads_back() -> None:
    """Heads, every frame each way with its bits, the messages, the close."""
    file = io.BytesIO()
    record_conversation(file)
    raw = file.getvalue()
    assert looks_like_session(raw[:256])
    session = read_session(raw.splitlines(keepends=True))
    assert session.header["command"] == "serve" and session.header["version"] == 1
    conn = session.connections[1]
    assert conn.open["subprotocol"] == "chat" and conn.open["url"] == "ws://example.test/chat"
    assert conn.request == REQUEST and conn.response == RESPONSE
    client_frames = [e.frame for e in conn.frames if e.sender is Role.CLIENT]
    assert [(f.opcode, f.fin) for f in client_frames] == [
        (1, True),
        (2, False),
        (0, True),
        (9, True),
        (8, True),
    ]
    assert client_frames[0].mask_key == b"\x01\x02\x03\x04"
    assert client_frames[0].data == "héllo".encode()
    assert [m.get("text", m.get("base64")) for m in conn.messages(Role.CLIENT)] == [
        "héllo",
        "AAEC",
    ]
    assert [m.get("text", m.get("base64")) for m in conn.messages(Role.SERVER)] == [
        "héllo",
        "AAEC",
    ]
    assert conn.close is not None and conn.close["code"] == 4000 and conn.close["clean"]
    assert conn.disconnect is not None and conn.disconnect["cause"] == "closed cleanly"
    # The frames again, as one stream per sender: heads, then the frames exactly as sent.
    wire = conn.wire(Role.CLIENT)
    assert wire.startswith(REQUEST) and wire.endswith(client_frames[-1].payload)


def test_a_cut_last_line_is_left_out_with_a_note() -> None:
    """A killed recorder leaves half a line: everything before it reads."""
    file = io.BytesIO()
    record_conversation(file)
    raw = file.getvalue()
    cut = raw[: raw.rindex(b"\n", 0, len(raw) - 1) + 20]
    session = read_session(cut.splitlines(keepends=True))
    assert session.notes == ["the last line was cut short"]
    assert session.connections[1].disconnect is None


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "line 1: empty"),
        ('{"type": "frame"}\n', "line 1: not a wstool session header"),
        (
            '{"type": "session", "format": "wstool-session", "version": 99}\n',
            "line 1: session format version 99; this wstool reads up to 1",
        ),
        ("HEADER\nnot json\n", "line 2: not JSON"),
        ("HEADER\n[1]\n", "line 2: a record must be an object with a 'type'"),
        ('HEADER\n{"type": "frame", "conn": 3}\n', "line 2: frame record for connection 3"),
        ('HEADER\n{"type": "open", "conn": 1}\n', "line 2: open record without its request"),
        (
            'HEADER\nOPEN\n{"type": "frame", "conn": 1, "from": "client", "head": "zz",'
            ' "wire": ""}\n',
            "line 3: frame record with 'a bad value' missing or wrong",
        ),
        (
            'HEADER\nOPEN\n{"type": "frame", "conn": 1, "from": "client", "head": "8105",'
            ' "wire": "aGk="}\n',
            "line 3: the frame's head and payload do not make one frame",
        ),
        ('HEADER\nOPEN\n{"type": "what", "conn": 1}\n', "line 3: unknown record type 'what'"),
        ("HEADER\nOPEN\nOPEN\n", "line 3: connection 1 is opened twice"),
    ],
)
def test_bad_files_are_one_line_naming_the_line(text: str, message: str) -> None:
    header = json.dumps({"type": "session", "format": "wstool-session", "version": 1})
    opened = json.dumps({"type": "open", "conn": 1, "request": "", "response": ""})
    text = text.replace("HEADER", header).replace("OPEN", opened)
    with pytest.raises(SessionError, match="^" + message.replace("(", r"\(")):
        read_session(text.encode().splitlines(keepends=True))


@given(st.binary(max_size=300), st.booleans())
def test_garbage_is_a_session_error_or_a_session(data: bytes, after_header: bool) -> None:
    """Random lines, alone or after a valid header and open: never another exception."""
    header = b'{"type": "session", "format": "wstool-session", "version": 1}\n'
    opened = b'{"type": "open", "conn": 1, "request": "", "response": ""}\n'
    raw = header + opened + data if after_header else data
    try:
        session = read_session(raw.splitlines(keepends=True))
    except SessionError as exc:
        assert str(exc).startswith("line ")
    else:
        assert session.header["format"] == "wstool-session"


def test_a_write_error_is_reported_once_and_recording_stops() -> None:
    class Full(io.BytesIO):
        def write(self, data: bytes) -> int:  # type: ignore[override]
            raise OSError(28, "No space left on device")

    errors: list[OSError] = []
    recorder = SessionRecorder(
        Full(), role=Role.CLIENT, command="connect", tool_version="1", on_error=errors.append
    )
    recorder.closed(1, "x", "gone")
    assert len(errors) == 1 and errors[0].errno == 28
    assert recorder.write_error is errors[0]


def test_two_records_on_one_line_are_refused() -> None:
    header = b'{"type": "session", "format": "wstool-session", "version": 1}\n'
    opened = b'{"type": "open", "conn": 1, "request": "", "response": ""}'
    with pytest.raises(SessionError, match=r"^line 2: not JSON"):
        read_session([header, opened + b", " + opened + b"\n"])
