"""``wstool connect`` against Node's ``ws`` server, over loopback.

``connect_peers/ws_server.js`` runs on Node with permessage-deflate on (every
message compressed: threshold 0) or off. ``npm ci`` installs ``ws`` from the
lock file when ``node_modules`` is missing. Skipped without node and npm
(CI installs them).
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))
from connect_harness import PEERS_DIR, Peer, check_echo, echo_peer, run_connect

NODE = shutil.which("node")
NPM = shutil.which("npm")
pytestmark = pytest.mark.skipif(
    NODE is None or NPM is None, reason="node and npm are needed for Node's ws server"
)


@pytest.fixture(scope="module")
def node_ws() -> str:
    """The node binary, after ``npm ci`` if the ws package is not installed yet."""
    assert NODE is not None and NPM is not None
    if not (PEERS_DIR / "node_modules" / "ws" / "package.json").exists():
        done = subprocess.run(
            [NPM, "ci", "--no-audit", "--no-fund"],
            cwd=PEERS_DIR,
            capture_output=True,
            text=True,
            timeout=180,
        )
        if done.returncode != 0:
            pytest.fail(f"npm ci failed in {PEERS_DIR}:\n{done.stdout}\n{done.stderr}")
    return NODE


@pytest.fixture(scope="module", params=[True, False], ids=["server-deflate", "server-plain"])
def server(request: pytest.FixtureRequest, node_ws: str) -> Iterator[tuple[Peer, bool]]:
    """A ws echo server, with permessage-deflate on or off; killed at teardown."""
    yield from echo_peer([node_ws, str(PEERS_DIR / "ws_server.js")], request.param)


@pytest.mark.parametrize("client_deflate", [True, False], ids=["client-deflate", "client-plain"])
def test_echo(server: tuple[Peer, bool], client_deflate: bool) -> None:
    """Messages come back exactly, exit 0, and the JSON shows what was negotiated."""
    peer, server_deflate = server
    check_echo(peer.url(), server_deflate=server_deflate, client_deflate=client_deflate)


def test_large_message(server: tuple[Peer, bool]) -> None:
    """A 1 MiB line (64-bit length) goes out and comes back whole."""
    peer, _ = server
    line = "0123456789abcdef" * 65536
    result = run_connect(peer.url(), input=line + "\n")
    assert result.status == 0, result.explain()
    assert result.stdout == line + "\n"


def test_record_and_replay_against_node(server: tuple[Peer, bool], tmp_path: Path) -> None:
    """connect --record against ws (deflate on or off), then replay: every answer the same."""
    from wstool.core.frames import Role
    from wstool.session.format import read_session

    peer, server_deflate = server
    session_file = tmp_path / "node.session"
    lines = ["plain text", '{"op": "subscribe", "id": 3}', "é" * 300]
    result = run_connect(peer.url(), "--record", str(session_file), input="\n".join(lines) + "\n")
    assert result.status == 0, result.explain()
    session = read_session(session_file.read_bytes().splitlines(keepends=True))
    conn = session.connections[1]
    assert ("permessage-deflate" in (conn.open["extensions"] or "")) == server_deflate
    assert [m["text"] for m in conn.messages(Role.CLIENT)] == lines
    assert [m["text"] for m in conn.messages(Role.SERVER)] == lines
    assert {m["compressed"] for m in conn.messages(Role.SERVER)} == {server_deflate}
    replayed = subprocess.run(
        [sys.executable, "-m", "wstool", "replay", str(session_file), peer.url()],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout.splitlines()[-1] == "every answer as recorded"
