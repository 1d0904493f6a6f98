"""--record with real peers: the websockets library against serve, connect against serve."""

from __future__ import annotations

import base64
import json
import signal
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_support import PROJECT_ROOT, WAIT, e2e_env
from jsonschema import Draft202012Validator
from websockets.sync.client import connect as ws_connect

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


def test_serve_killed_outright_keeps_what_it_saw(serve: Serve, tmp_path: Path) -> None:
    """Flushed every turn of the reactor: SIGKILL loses nothing already answered."""
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
