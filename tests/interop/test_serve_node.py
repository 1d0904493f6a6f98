"""``wstool serve`` against Node's ``ws`` client (``tests/interop/node/ws_client.js``).

The ``ws`` package is pinned in ``node/package-lock.json``; ``npm ci`` runs
once per session when ``node_modules`` is missing. Without node or npm the
tests are skipped. The client runs with ``perMessageDeflate`` on and off,
against a server with permessage-deflate and one with ``--no-deflate``.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import WstoolServer

NODE_DIR = Path(__file__).with_name("node")
CLIENT = NODE_DIR / "ws_client.js"
EXPECTED_ECHOES = {
    "text",
    "binary",
    "empty-text",
    "empty-binary",
    "fragmented-text",
    "large-binary",
    "large-text",
}
MIB = 2**20


@pytest.fixture(scope="session")
def node() -> str:
    """The node executable, with the pinned ``ws`` installed beside the client script."""
    node_exe = shutil.which("node")
    npm_exe = shutil.which("npm")
    if node_exe is None or npm_exe is None:
        pytest.skip("node and npm are needed for the ws interop tests (apt-get install nodejs npm)")
    if not (NODE_DIR / "node_modules" / "ws" / "package.json").is_file():
        completed = subprocess.run(
            [npm_exe, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=300,
            stdin=subprocess.DEVNULL,
        )
        assert completed.returncode == 0, f"npm ci failed:\n{completed.stdout}\n{completed.stderr}"
    return node_exe


@pytest.fixture(scope="module", params=["--deflate", "--no-deflate"])
def client_flag(request: pytest.FixtureRequest) -> str:
    """Whether the ws client offers permessage-deflate."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def report(node: str, serve_each: WstoolServer, client_flag: str) -> dict[str, Any]:
    """One run of the node client per (server, client option) pair."""
    completed = subprocess.run(
        [node, str(CLIENT), serve_each.url, client_flag],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, (
        f"node client exited {completed.returncode}\nstdout: {completed.stdout[-2000:]}\n"
        f"stderr: {completed.stderr[-4000:]}\nserver:\n{serve_each.output()}"
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def test_every_message_echoed(report: dict[str, Any]) -> None:
    """Text, binary, empty, fragmented and 1 MiB messages all come back byte for byte."""
    echoes = report["echoes"]
    assert set(echoes) == EXPECTED_ECHOES
    for name, echo in echoes.items():
        assert echo["sha256"] == echo["sent_sha256"], name
        assert echo["ok"], name
    assert echoes["text"]["binary"] is False
    assert echoes["fragmented-text"]["binary"] is False
    assert echoes["binary"]["binary"] is True
    assert echoes["empty-text"]["size"] == 0
    assert echoes["empty-binary"]["size"] == 0
    assert echoes["large-binary"]["size"] == MIB
    assert echoes["large-text"]["size"] == MIB


def test_ping_and_close(report: dict[str, Any]) -> None:
    """The Ping is answered with its payload; Close 4000 "bye" comes back with code and reason."""
    assert report["pong"] == "node-ping"
    assert report["close"] == {"code": 4000, "reason": "bye"}


def test_extension_negotiation(
    report: dict[str, Any], serve_each: WstoolServer, client_flag: str
) -> None:
    """permessage-deflate is in use exactly when ws offers it and the server allows it."""
    if client_flag == "--deflate" and "--no-deflate" not in serve_each.args:
        assert report["extensions_header"] is not None
        assert report["extensions_header"].split(";")[0].strip() == "permessage-deflate"
        assert report["extensions"].startswith("permessage-deflate")
    else:
        assert report["extensions_header"] is None
        assert report["extensions"] == ""
