"""--record with real peers: websockets against serve, connect against serve and websockets."""

from __future__ import annotations

import base64
import json
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import PROJECT_ROOT, WAIT, e2e_env
from jsonschema import Draft202012Validator
from websockets.sync.client import connect as ws_connect
from websockets.sync.server import ServerConnection
from websockets.sync.server import serve as ws_serve

from wstool.core.frames import Role
from wstool.session.format import read_session

Serve = Callable[..., tuple[subprocess.Popen[str], int]]


SCHEMA = json.loads((PROJECT_ROOT / "docs" / "session.schema.json").read_text())


def _read(path: Path) -> object:
    """The session, after every line has been checked against the documented schema."""
    validator = Draft202012Validator(SCHEMA)
    lines = path.read_bytes().splitlines(keepends=True)
    for number, line in enumerate(lines, 1):
        errors = [e.message for e in validator.iter_errors(json.loads(line))]
        assert errors == [], f"line {number}: {errors}"
    return read_session(lines)


@pytest.mark.parametrize("compression", ["deflate", None])
def test_serve_records_what_a_websockets_client_sent_and_got(
    serve: Serve, tmp_path: Path, compression: str | None
) -> None:
    session_file = tmp_path / "serve.session"
    process, port = serve("-q", "--record", str(session_file))
    with ws_connect(f"ws://127.0.0.1:{port}/room?x=1", compression=compression) as ws:
        ws.send("héllo")
        assert ws.recv() == "héllo"
        ws.send(b"\x00\xff" * 1000)
        assert ws.recv() == b"\x00\xff" * 1000
        ws.send(["frag", "ments"])  # one text message in two frames
        assert ws.recv() == "fragments"
        ws.ping(b"p").wait(WAIT)
    process.send_signal(signal.SIGTERM)
    assert process.wait(WAIT) == 0
    session = _read(session_file)
    conn = session.connections[1]  # type: ignore[attr-defined]
    assert conn.open["url"] == f"ws://127.0.0.1:{port}/room?x=1"
    assert ("permessage-deflate" in (conn.open["extensions"] or "")) == (compression is not None)
    text, binary, fragmented = conn.messages(Role.CLIENT)
    assert text["text"] == "héllo"
    assert base64.b64decode(binary["base64"]) == b"\x00\xff" * 1000
    assert fragmented["text"] == "fragments"
    assert fragmented["frames"] >= 2  # websockets ends with an empty continuation frame
    echoed = [m.get("text") for m in conn.messages(Role.SERVER)]
    assert echoed[0] == "héllo" and echoed[2] == "fragments"
    opcodes = [e.frame.opcode for e in conn.frames if e.sender is Role.CLIENT]
    assert 9 in opcodes and opcodes[-1] == 8  # the ping, and the close
    assert conn.close is not None and conn.close["clean"]


def test_connect_records_and_decode_shows_the_session(serve: Serve, tmp_path: Path) -> None:
    session_file = tmp_path / "connect.session"
    _, port = serve("-q")
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wstool",
            "connect",
            f"ws://127.0.0.1:{port}/",
            "-x",
            '{"op": "hi"}',
            "--record",
            str(session_file),
        ],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
    )
    assert done.returncode == 0, done.stderr
    session = _read(session_file)
    conn = session.connections[1]  # type: ignore[attr-defined]
    assert conn.open["role"] == "client"
    assert [m["text"] for m in conn.messages(Role.SERVER)] == ['{"op": "hi"}']
    assert all(e.frame.mask_key is not None for e in conn.frames if e.sender is Role.CLIENT)


@pytest.fixture(params=["deflate", None], ids=["deflate", "no-deflate"])
def websockets_server(request: pytest.FixtureRequest) -> Iterator[tuple[int, bool]]:
    """A websockets server that answers "more" with binary, a fragmented text and a Ping."""

    def handler(ws: ServerConnection) -> None:
        for message in ws:
            if message == "more":
                ws.send(b"\x00\x01\xff")
                ws.send(["frag", "ments"])  # one text message in two frames
                ws.ping(b"srv")
            ws.send(message)

    with ws_serve(handler, "127.0.0.1", 0, compression=request.param) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.socket.getsockname()[1], request.param is not None
        finally:
            server.shutdown()
            thread.join(WAIT)


def test_connect_records_a_websockets_server_and_replays_against_it(
    websockets_server: tuple[int, bool], tmp_path: Path
) -> None:
    """Binary, fragments and a Ping from the server, with deflate and without, then replay."""
    port, deflate = websockets_server
    url = f"ws://127.0.0.1:{port}/"
    session_file = tmp_path / "websockets.session"
    argv = [sys.executable, "-m", "wstool"]
    record = ["--record", str(session_file)]
    done = subprocess.run(
        [*argv, "connect", url, "-x", "hello", "-x", "more", "--count", "4", *record],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
    )
    assert done.returncode == 0, done.stderr
    conn = _read(session_file).connections[1]  # type: ignore[attr-defined]
    assert ("permessage-deflate" in (conn.open["extensions"] or "")) == deflate
    assert [m["text"] for m in conn.messages(Role.CLIENT)] == ["hello", "more"]
    got = conn.messages(Role.SERVER)
    assert [m.get("text", m.get("base64")) for m in got] == ["hello", "AAH/", "fragments", "more"]
    assert got[2]["frames"] >= 2  # websockets ends with an empty continuation frame
    assert {m["compressed"] for m in got} == {deflate}
    frames = [(e.sender, e.frame.opcode, e.frame.data) for e in conn.frames]
    assert (Role.SERVER, 9, b"srv") in frames and (Role.CLIENT, 10, b"srv") in frames
    assert conn.close is not None and conn.close["initiator"] == "client"
    replayed = subprocess.run(
        [*argv, "replay", str(session_file), url],
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout.splitlines()[-1] == "every answer as recorded"


def test_serve_killed_outright_keeps_what_it_saw(serve: Serve, tmp_path: Path) -> None:
    """Flushed before every write: SIGKILL loses nothing already answered."""
    session_file = tmp_path / "killed.session"
    process, port = serve("-q", "--record", str(session_file))
    with ws_connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
        for n in range(50):
            ws.send(f"message {n}")
            assert ws.recv() == f"message {n}"
        process.kill()
        process.wait(WAIT)
    conn = _read(session_file).connections[1]  # type: ignore[attr-defined]
    assert [m["text"] for m in conn.messages(Role.CLIENT)] == [f"message {n}" for n in range(50)]


def test_an_unwritable_record_file_is_one_line_and_status_2(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wstool",
            "serve",
            "--port",
            "0",
            "--record",
            str(tmp_path / "missing" / "x.session"),
        ],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"wstool serve: cannot write the session to '{tmp_path}/missing/x.session': "
        "No such file or directory"
    ]


def test_proxy_records_both_sides_as_relayed(serve: Serve, tmp_path: Path) -> None:
    """A websockets client through wstool proxy to wstool serve: the session holds both."""
    _, upstream = serve("-q")
    session_file = tmp_path / "proxy.session"
    proxy = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wstool",
            "proxy",
            "--listen",
            "127.0.0.1:0",
            "-q",
            "--no-prompt",
            "--to",
            f"ws://127.0.0.1:{upstream}/api",
            "--record",
            str(session_file),
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
    )
    try:
        assert proxy.stdout is not None
        port = re.search(r"listening on ws://127\.0\.0\.1:(\d+)/", proxy.stdout.readline())
        assert port, "the proxy did not say where it listens"
        with ws_connect(f"ws://127.0.0.1:{port[1]}/chat", compression="deflate") as ws:
            ws.send("through")
            assert ws.recv() == "through"
            ws.send(b"\x01\x02")
            assert ws.recv() == b"\x01\x02"
        time.sleep(0.3)  # the relay reports the close, then SIGINT
        proxy.send_signal(signal.SIGINT)
        assert proxy.wait(WAIT) == 0
    finally:
        if proxy.poll() is None:
            proxy.kill()
    session = _read(session_file)
    assert session.header["command"] == "proxy"  # type: ignore[attr-defined]
    conn = session.connections[1]  # type: ignore[attr-defined]
    assert conn.open["role"] == "proxy"
    assert conn.open["url"] == f"ws://127.0.0.1:{upstream}/api/chat"
    assert conn.request.startswith(b"GET /api/chat HTTP/1.1\r\n")  # as it reached the server
    assert [m.get("text", m.get("base64")) for m in conn.messages(Role.CLIENT)] == [
        "through",
        "AQI=",
    ]
    assert [m["compressed"] for m in conn.messages(Role.SERVER)] == [True, True]
    assert conn.close is not None and conn.close["code"] == 1000
    assert conn.disconnect is not None


def test_proxy_record_and_terminate_do_not_mix() -> None:
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wstool",
            "proxy",
            "--to",
            "ws://127.0.0.1:9/",
            "--terminate",
            "--record",
            "x.session",
        ],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
    )
    assert done.returncode == 2
    assert "--record keeps relayed frames as they went" in done.stderr
