"""wstool serve --replay: a recorded server answers a live websockets client."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from e2e_support import PROJECT_ROOT, WAIT, e2e_env
from websockets.sync.client import connect as ws_connect

Serve = Callable[..., tuple[subprocess.Popen[str], int]]


def _import_har(tmp_path: Path, messages: list[dict[str, object]], subprotocol: str) -> Path:
    har = {
        "log": {
            "entries": [
                {
                    "_resourceType": "websocket",
                    "request": {"url": "ws://example.test/feed", "headers": []},
                    "response": {
                        "status": 101,
                        "headers": [{"name": "Sec-WebSocket-Protocol", "value": subprotocol}],
                    },
                    "_webSocketMessages": messages,
                }
            ]
        }
    }
    (tmp_path / "feed.har").write_text(json.dumps(har))
    session = tmp_path / "feed.session"
    done = subprocess.run(
        [sys.executable, "-m", "wstool", "import", str(tmp_path / "feed.har"), "-o", str(session)],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
    )
    assert done.returncode == 0, done.stderr
    return session


def test_a_greeting_then_the_answers_each_request_had(serve: Serve, tmp_path: Path) -> None:
    session = _import_har(
        tmp_path,
        [
            {"type": "receive", "time": 1.0, "opcode": 1, "data": "welcome"},
            {"type": "send", "time": 2.0, "opcode": 1, "data": "sub"},
            {"type": "receive", "time": 3.0, "opcode": 1, "data": '{"ok": true}'},
            {"type": "receive", "time": 3.1, "opcode": 2, "data": "AAE="},
            {"type": "send", "time": 4.0, "opcode": 1, "data": "bye"},
            {"type": "receive", "time": 5.0, "opcode": 1, "data": "ciao"},
        ],
        "v1.feed",
    )
    _, port = serve("-q", "--replay", str(session))
    url = f"ws://127.0.0.1:{port}/anything"
    with ws_connect(url, subprotocols=["v1.feed"], open_timeout=WAIT) as ws:  # type: ignore[list-item]
        assert ws.subprotocol == "v1.feed"  # the recorded server's choice
        assert ws.recv(WAIT) == "welcome"
        ws.send("whatever the client says")
        assert ws.recv(WAIT) == '{"ok": true}'
        assert ws.recv(WAIT) == b"\x00\x01"
        ws.send("second")
        assert ws.recv(WAIT) == "ciao"
    # Each new client gets the whole script again.
    with ws_connect(url, subprotocols=["v1.feed"], open_timeout=WAIT) as ws:  # type: ignore[list-item]
        assert ws.recv(WAIT) == "welcome"


def test_replay_and_mode_do_not_mix(tmp_path: Path) -> None:
    session = _import_har(
        tmp_path, [{"type": "receive", "time": 1.0, "opcode": 1, "data": "x"}], "p"
    )
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "wstool",
            "serve",
            "--port",
            "0",
            "--replay",
            str(session),
            "--mode",
            "broadcast",
        ],
        capture_output=True,
        text=True,
        timeout=WAIT,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
    )
    assert done.returncode == 2
    assert done.stderr == "wstool serve: --replay answers each client itself: leave out --mode\n"
