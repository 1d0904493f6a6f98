"""wstool replay against real servers: the same server matches, a changed one differs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import PROJECT_ROOT, WAIT, e2e_env
from websockets.sync.server import ServerConnection
from websockets.sync.server import serve as ws_serve

Serve = Callable[..., tuple[subprocess.Popen[str], int]]


def wstool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wstool", *argv],
        capture_output=True,
        text=True,
        timeout=WAIT * 2,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
    )


@pytest.fixture
def recorded(serve: Serve, tmp_path: Path) -> Path:
    """A session of connect against wstool serve: two JSON messages and their echoes."""
    _, port = serve("-q")
    session = tmp_path / "api.session"
    done = wstool(
        "connect",
        f"ws://127.0.0.1:{port}/",
        "-x",
        '{"op": "get", "id": 1, "ts": 100}',
        "-x",
        '{"op": "put", "id": 2, "ts": 101}',
        "--record",
        str(session),
    )
    assert done.returncode == 0, done.stderr
    return session


@pytest.fixture
def changed_server() -> Iterator[int]:
    """A websockets server that echoes JSON with its "ts" changed, as a newer server might."""

    def handler(ws: ServerConnection) -> None:
        for message in ws:
            value = json.loads(message)
            value["ts"] = value["ts"] + 1000
            ws.send(json.dumps(value))

    with ws_serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.socket.getsockname()[1]
        finally:
            server.shutdown()
            thread.join(WAIT)


def test_replay_against_the_same_server_matches(serve: Serve, recorded: Path) -> None:
    _, port = serve("-q")
    done = wstool("replay", str(recorded), f"ws://127.0.0.1:{port}/")
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"replayed 2 messages to ws://127.0.0.1:{port}/: 2 answers, 2 recorded",
        "every answer as recorded",
    ]


def test_replay_against_a_changed_server_shows_the_difference(
    recorded: Path, changed_server: int
) -> None:
    url = f"ws://127.0.0.1:{changed_server}/"
    done = wstool("replay", str(recorded), url, "--speed", "max")
    assert done.returncode == 1, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[1] == "answer 1 differs:"
    assert '  -  "ts": 100' in lines and '  +  "ts": 1100' in lines
    assert lines[-1] == "the answers differ from the recording"
    ignoring = wstool("replay", str(recorded), url, "--ignore", "ts", "--speed", "4")
    assert ignoring.returncode == 0, ignoring.stdout + ignoring.stderr


def test_replay_of_a_bad_session_or_an_unreachable_server(recorded: Path, tmp_path: Path) -> None:
    broken = tmp_path / "broken.session"
    broken.write_bytes(recorded.read_bytes().replace(b'"type":"frame"', b'"type":"frme"', 1))
    done = wstool("replay", str(broken), "ws://127.0.0.1:9/")
    assert done.returncode == 2
    assert done.stderr.startswith(f"wstool replay: {broken}: line ")
    assert "unknown record type 'frme'" in done.stderr
    done = wstool("replay", str(recorded), "ws://127.0.0.1:9/")
    assert done.returncode == 5
    assert done.stderr.strip().count("\n") == 0


def test_replay_of_a_connection_the_session_does_not_have(recorded: Path) -> None:
    done = wstool("replay", str(recorded), "ws://127.0.0.1:9/", "--conn", "5")
    assert done.returncode == 2
    assert done.stderr == f"wstool replay: {recorded}: no connection 5 (it has 1)\n"


@pytest.fixture
def vanishing_server() -> Iterator[int]:
    """A websockets server that answers nothing and drops the connection after one message."""

    def handler(ws: ServerConnection) -> None:
        ws.recv()
        ws.socket.close()  # gone, without a closing handshake

    with ws_serve(handler, "127.0.0.1", 0) as server:
        thread = threading.Thread(target=server.serve_forever, daemon=True)
        thread.start()
        try:
            yield server.socket.getsockname()[1]
        finally:
            server.shutdown()
            thread.join(WAIT)


def test_a_server_that_vanishes_mid_replay(tmp_path: Path, vanishing_server: int) -> None:
    """The second message waits for an answer that never comes: the replay ends, it says so."""
    har = {
        "log": {
            "entries": [
                {
                    "_resourceType": "websocket",
                    "request": {"url": "ws://example.test/", "headers": []},
                    "response": {"status": 101, "headers": []},
                    "_webSocketMessages": [
                        {"type": "send", "time": 1.0, "opcode": 1, "data": "first"},
                        {"type": "receive", "time": 1.1, "opcode": 1, "data": "answer"},
                        {"type": "send", "time": 1.2, "opcode": 1, "data": "second"},
                    ],
                }
            ]
        }
    }
    (tmp_path / "talk.har").write_text(json.dumps(har))
    session = tmp_path / "talk.session"
    assert wstool("import", str(tmp_path / "talk.har"), "-o", str(session)).returncode == 0
    done = wstool("replay", str(session), f"ws://127.0.0.1:{vanishing_server}/", "--wait", "5")
    assert done.returncode == 1, done.stdout + done.stderr
    assert "answer 1: missing" in done.stdout
    assert done.stderr == ""  # no traceback


def test_ctrl_c_stops_a_replay_with_status_130(recorded: Path, serve: Serve) -> None:
    _, port = serve("-q", "--mode", "broadcast")  # answers nothing: the replay waits
    replay = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wstool",
            "replay",
            str(recorded),
            f"ws://127.0.0.1:{port}/",
            "--wait",
            "20",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    time.sleep(1.5)
    replay.send_signal(signal.SIGINT)
    out, err = replay.communicate(timeout=WAIT)
    assert (replay.returncode, out, err) == (130, "", "wstool replay: interrupted\n")
