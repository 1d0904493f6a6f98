"""``wstool serve --record`` with Node's ``ws`` client, then the recording replayed and decoded.

The client (``node/ws_client.js``) sends text, binary, empty messages, a text message in
three frames, 1 MiB binary and text, a Ping, then Close 4000 "bye", with
``perMessageDeflate`` on or off, to a server with permessage-deflate on or off. The
session must hold all of it as ws sent it; ``wstool replay`` of it against an echo
server must find every answer as recorded (whole messages, and with ``--frames``), and
``wstool decode`` must show it without a violation. Skipped without node and npm.
"""

from __future__ import annotations

import base64
import hashlib
import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from test_serve_node import CLIENT, NODE_DIR, node  # noqa: F401 (node: a fixture)

from wstool.core.frames import Role
from wstool.session.format import read_session

if TYPE_CHECKING:
    from conftest import WstoolServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]
MIB = 2**20


def _wstool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wstool", *argv],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        cwd=PROJECT_ROOT,
        env={"NO_COLOR": "1", "PATH": "/usr/bin:/bin", "TZ": "UTC"},
    )


def _content(message: dict[str, Any]) -> bytes:
    if "text" in message:
        return str(message["text"]).encode()
    return base64.b64decode(message["base64"])


@pytest.fixture(
    scope="module",
    params=[("--deflate", ()), ("--deflate", ("--no-deflate",)), ("--no-deflate", ())],
    ids=["both-deflate", "server-no-deflate", "client-no-deflate"],
)
def recording(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Path, bool]:
    """A session recorded by serve while the ws client ran; whether deflate was agreed."""
    node_exe = request.getfixturevalue("node")  # skips without node; npm ci once
    start_wstool_serve = request.getfixturevalue("wstool_serve_starter")

    client_flag, server_options = request.param
    path = tmp_path_factory.mktemp("node") / "node.session"
    server = start_wstool_serve("--record", str(path), *server_options)
    try:
        ran = subprocess.run(
            [node_exe, str(CLIENT), server.url, client_flag],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    finally:
        assert server.stop() == 0, server.output()
    assert ran.returncode == 0, f"{ran.stdout[-2000:]}\n{ran.stderr[-2000:]}\n{server.output()}"
    report = json.loads(ran.stdout.strip().splitlines()[-1])
    return path, bool(report["extensions"])


def test_the_session_holds_what_ws_sent_and_got(recording: tuple[Path, bool]) -> None:
    """Every message both ways as sent, the fragments, the Ping and Pong, the close."""
    path, deflate = recording
    session = read_session(path.read_bytes().splitlines(keepends=True))
    (conn,) = session.connections.values()
    assert ("permessage-deflate" in (conn.open["extensions"] or "")) == deflate
    sent = conn.messages(Role.CLIENT)
    assert [m["opcode"] for m in sent] == [1, 2, 1, 2, 1, 2, 1]
    assert _content(sent[0]) == "héllo from node ✓".encode()
    assert _content(sent[1]) == bytes(range(256))
    assert _content(sent[2]) == b"" and _content(sent[3]) == b""
    assert _content(sent[4]) == b"fragment " * 300 and sent[4]["frames"] == 3
    assert len(_content(sent[5])) == MIB and sent[6]["size"] == MIB
    # ws compresses messages of 1 KiB and more (its threshold): the large ones, when agreed.
    assert any(m["compressed"] for m in sent) == deflate
    echoed = conn.messages(Role.SERVER)
    digests = [hashlib.sha256(_content(m)).digest() for m in echoed]
    assert digests == [hashlib.sha256(_content(m)).digest() for m in sent]
    opcodes = [(e.sender, e.frame.opcode) for e in conn.frames]
    assert (Role.CLIENT, 9) in opcodes and (Role.SERVER, 10) in opcodes
    assert conn.close is not None
    assert (conn.close["code"], conn.close["reason"]) == (4000, "bye")
    assert conn.close["initiator"] == "client" and conn.close["clean"]


@pytest.mark.parametrize("frames", [False, True], ids=["messages", "frames"])
def test_the_recording_replays_as_recorded(
    recording: tuple[Path, bool], serve_default: WstoolServer, frames: bool
) -> None:
    """Replayed against an echo server: exit 0, every answer as recorded."""
    path, _ = recording
    done = _wstool("replay", str(path), serve_default.url, *(["--frames"] if frames else []))
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.splitlines() == [
        f"replayed 7 messages to {serve_default.url}: 7 answers, 7 recorded",
        "every answer as recorded",
    ]


def test_decode_shows_the_recording_without_a_violation(recording: tuple[Path, bool]) -> None:
    path, deflate = recording
    done = _wstool("decode", str(path))
    assert done.returncode == 0, done.stdout + done.stderr
    assert "note: as the server saw it: > what it sent, < what it received" in done.stdout
    assert "#1 < CONTINUATION FIN " in done.stdout  # the last of the three fragments
    assert "#1 < PING         FIN mask=" in done.stdout
    assert "close 4000 PRIVATE 'bye' (started by the client, clean)" in done.stdout
    assert ("inflated from" in done.stdout) == deflate
    assert done.stdout.endswith(" frames, no violations\n")
