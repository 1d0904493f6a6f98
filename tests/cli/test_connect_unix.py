"""``wstool connect`` over a Unix domain socket: ``ws+unix:///SOCKET:/PATH`` and ``--unix``.

The servers are the websockets library's ``unix_serve`` (in a thread) and
Node's ws on an ``http.Server`` listening on a socket path (a subprocess;
skipped without node or its ws module, which CI installs).
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from wstool.cli.connect_options import split_unix_url

from .connect_servers import (
    PROJECT_ROOT,
    EchoServer,
    echo_server,
    require_tool,
    run_connect,
    run_wscat,
)

NODE_MODULES = PROJECT_ROOT / "tests" / "interop" / "node" / "node_modules"
CONNECTION_FAILED = 5


@pytest.fixture
def socket_path(tmp_path: Path) -> Iterator[str]:
    # sun_path is 108 bytes: pytest's tmp_path can be longer than that.
    short = Path("/tmp") / f"wstool-{os.getpid()}-{tmp_path.name[-20:]}.sock"
    yield str(short)
    short.unlink(missing_ok=True)


@pytest.fixture
def unix_echo(socket_path: str) -> Iterator[tuple[EchoServer, str]]:
    with echo_server(unix_path=socket_path) as server:
        yield server, socket_path


def test_ws_unix_url(unix_echo: tuple[EchoServer, str]) -> None:
    """wscat's form: the socket path up to ':', then the request path and query."""
    server, path = unix_echo
    result = run_connect(f"ws+unix://{path}:/chat?room=1", "-x", "hello")
    assert (result.status, result.stdout) == (0, "hello\n"), result.explain()
    visit = server.visits[-1]
    assert (visit.path, visit.headers["host"]) == ("/chat?room=1", "localhost")


def test_unix_option_keeps_the_url(unix_echo: tuple[EchoServer, str]) -> None:
    """--unix PATH: the URL's Host and path are sent, the socket is dialled."""
    server, path = unix_echo
    result = run_connect("ws://api.internal/v1/ws", "--unix", path, "-x", "a", "-x", "b")
    assert (result.status, result.stdout) == (0, "a\nb\n"), result.explain()
    visit = server.visits[-1]
    assert (visit.path, visit.headers["host"]) == ("/v1/ws", "api.internal")


def test_missing_socket(tmp_path: Path) -> None:
    """No socket at the path: one line with the path and why, exit 5."""
    missing = tmp_path / "none.sock"
    result = run_connect(f"ws+unix://{missing}:/", "-x", "a")
    assert result.status == CONNECTION_FAILED
    assert result.stderr == (
        f"wstool connect: cannot connect to the Unix socket {missing}: no such file or directory\n"
    )


def test_no_socket_path_is_usage() -> None:
    result = run_connect("ws+unix://", "-x", "a")
    assert result.status == 2 and result.stderr.count("\n") == 1


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("ws+unix:///run/a.sock:/ws", ("/run/a.sock", "ws://localhost/ws")),
        ("ws+unix:///run/a.sock", ("/run/a.sock", "ws://localhost/")),
        ("wss+unix:///a.sock:/x?y=1", ("/a.sock", "wss://localhost/x?y=1")),
        ("ws://host/", None),
    ],
)
def test_split_unix_url(url: str, expected: tuple[str, str] | None) -> None:
    assert split_unix_url(url) == expected


_NODE_SERVER = """
const http = require('http');
const { WebSocketServer } = require('ws');
const server = http.createServer();
const wss = new WebSocketServer({ server });
wss.on('connection', (ws, req) => {
  ws.on('message', (data) => ws.send(`${req.url} ${data}`));
});
server.listen(process.argv[1], () => console.log('READY'));
"""


def test_node_ws_on_a_unix_socket(socket_path: str) -> None:
    """Node's ws server listening on a socket path answers through ws+unix://."""
    node_binary = require_tool("node", NODE_MODULES / "ws")
    env = dict(os.environ, NODE_PATH=str(NODE_MODULES))
    node = subprocess.Popen(
        [node_binary, "-e", _NODE_SERVER, socket_path],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        assert node.stdout is not None
        deadline = time.monotonic() + 15
        while not os.path.exists(socket_path) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert node.stdout.readline().strip() == "READY"
        result = run_connect(f"ws+unix://{socket_path}:/node", "-x", "hi")
        assert (result.status, result.stdout) == (0, "/node hi\n"), result.explain()
    finally:
        node.kill()
        node.wait(10)


def test_same_request_as_wscat(unix_echo: tuple[EchoServer, str]) -> None:
    """The yardstick: wscat and wstool, given the same ws+unix URL, send the same request."""
    server, path = unix_echo
    url = f"ws+unix://{path}:/room/7?token=abc"
    wscat = run_wscat("-c", url, "-x", "from-wscat", "-w", "0.5")
    assert wscat == 0
    result = run_connect(url, "-x", "from-wstool")
    assert result.status == 0, result.explain()
    theirs, ours = server.visits
    assert (ours.path, ours.headers["host"]) == (theirs.path, theirs.headers["host"])
    assert (theirs.messages, ours.messages) == (["from-wscat"], ["from-wstool"])
