"""``wstool serve --unix PATH``: a Unix socket instead of TCP, from real clients."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from .serve_support import PROJECT_ROOT, run_wstool, served

websockets_sync = pytest.importorskip("websockets.sync.client")


def _opened(records: list[dict[str, Any]]) -> bool:
    return any(r["event"] == "open" for r in records)


@pytest.fixture
def sock_path() -> Iterator[str]:
    """A socket path short enough for sun_path (108 bytes), whatever pytest's tmp_path is."""
    directory = tempfile.mkdtemp(prefix="wstool-unix-")
    yield os.path.join(directory, "serve.sock")
    shutil.rmtree(directory, ignore_errors=True)


def test_websockets_unix_connect_and_the_file_is_removed_at_exit(sock_path: str) -> None:
    with served("--unix", sock_path) as server:
        assert server.url == f"ws+unix://{sock_path}:/"
        with websockets_sync.unix_connect(sock_path, "ws://localhost/chat") as ws:
            ws.send("over a unix socket")
            assert ws.recv(timeout=10) == "over a unix socket"
        [opened] = [r for r in server.wait_for(_opened) if r["event"] == "open"]
        assert opened["peer"] == "unix" and opened["request"].startswith("GET /chat ")
        assert os.path.exists(sock_path)
        assert server.stop() == 0
    assert not os.path.exists(sock_path)


def test_a_stale_socket_is_replaced_a_live_one_and_a_file_are_not(
    sock_path: str, tmp_path: Path
) -> None:
    stale = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    stale.bind(sock_path)  # bound, never listening, then closed: what a crashed server leaves
    stale.close()
    with served("--unix", sock_path) as server:
        with websockets_sync.unix_connect(sock_path, "ws://localhost/") as ws:
            ws.send("x")
            assert ws.recv(timeout=10) == "x"
        second = run_wstool("serve", "--unix", sock_path)
        assert second.returncode == 1
        assert (
            second.stderr
            == f"wstool serve: --unix: a server is listening on {sock_path!r} already\n"
        )
        assert server.process.poll() is None
    plain = tmp_path / "plain.txt"
    plain.write_text("keep me\n")
    done = run_wstool("serve", "--unix", str(plain))
    assert done.returncode == 2
    assert done.stderr == f"wstool serve: --unix: {str(plain)!r} exists and is not a socket\n"
    assert plain.read_text() == "keep me\n"


def test_wstool_connect_through_the_socket(sock_path: str) -> None:
    """The URL serve prints is the one connect (and wscat) take."""
    with served("--unix", sock_path) as server:
        done = subprocess.run(
            [sys.executable, "-m", "wstool", "connect", server.url + "echo", "--count", "1"],
            input="hello unix\n",
            capture_output=True,
            text=True,
            timeout=20,
            cwd=PROJECT_ROOT,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "hello unix\n"


NODE_DIR = PROJECT_ROOT / "tests" / "interop" / "node"
NODE_CLIENT = """
const WebSocket = require("ws");
const ws = new WebSocket(process.argv[1]);
ws.on("open", () => ws.send("from node"));
ws.on("message", (data) => { console.log(data.toString()); ws.close(1000); });
ws.on("close", (code) => process.exit(code === 1000 ? 0 : 1));
ws.on("error", (err) => { console.error(String(err)); process.exit(1); });
"""


def test_nodes_ws_over_the_socket(sock_path: str) -> None:
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "ws").is_dir():
        if os.environ.get("CI"):
            pytest.fail("node and tests/interop/node/node_modules are needed in CI")
        pytest.skip("node or its ws module is not installed")
    with served("--unix", sock_path) as server:
        done = subprocess.run(
            [node, "-e", NODE_CLIENT, server.url],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    assert (done.returncode, done.stdout) == (0, "from node\n"), done.stderr
