"""Faults connect injects, and its keepalive: ``--no-pong``, ``/pong off|on``, ``--ping-timeout``.

- ``--no-pong`` against a websockets server with a short keepalive: the
  server gives up with 1011, as it should (observed from its side); without
  the option the same server keeps the connection.
- ``--ping-timeout`` against a raw server that never answers Pings: connect
  fails the connection with 1011 itself.
- ``/pong off`` and ``/pong on`` in the REPL: parsed, carried out on the
  session, and in a real terminal (tmux) against the same kind of server.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import shlex
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.console import Console

from wstool.ui import commands as cmd
from wstool.ui.repl import execute
from wstool.ui.traffic import TrafficLog

from .connect_servers import PROJECT_ROOT, EchoServer, echo_server, require_tool, run_connect

ABNORMAL = 6
KEEPALIVE = {"ping_interval": 0.3, "ping_timeout": 0.6}


@pytest.fixture
def strict_server() -> Iterator[EchoServer]:
    """A websockets echo server that pings every 0.3 s and gives up 0.6 s without a Pong."""
    with echo_server(**KEEPALIVE) as server:
        yield server


@pytest.mark.parametrize("extra", [(), ("--on-connect", "hi", "--reconnect-max", "1")])
def test_no_pong_trips_the_server_timeout(
    strict_server: EchoServer, extra: tuple[str, ...]
) -> None:
    """--no-pong: the server closes with 1011 (its keepalive timeout); connect exits 6.

    Also with --on-connect, whose session outlives connections.
    """
    url = f"ws://127.0.0.1:{strict_server.port}/"
    result = run_connect(url, "--no-pong", "--wait", "5", *extra)
    assert result.status == ABNORMAL, result.explain()
    visit = strict_server.visits[0]
    assert visit.done.wait(5) and visit.close_sent == 1011
    assert "closed 1011 INTERNAL_ERROR" in result.stderr


def test_pongs_keep_the_connection(strict_server: EchoServer) -> None:
    """Without --no-pong the same server keeps the connection until connect closes (1000)."""
    result = run_connect(f"ws://127.0.0.1:{strict_server.port}/", "--wait", "1.5")
    assert (result.status, result.stderr) == (0, ""), result.explain()
    visit = strict_server.visits[0]
    assert visit.done.wait(5) and visit.close_code == 1000


class SilentServer:
    """A raw server: completes the handshake, never answers a Ping, answers a Close."""

    def __init__(self) -> None:
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.received = b""
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        self.listener.settimeout(20)
        conn, _ = self.listener.accept()
        with conn:
            conn.settimeout(20)
            head = b""
            while b"\r\n\r\n" not in head:
                head += conn.recv(4096)
            key = next(
                line.split(b":", 1)[1].strip()
                for line in head.split(b"\r\n")
                if line.lower().startswith(b"sec-websocket-key:")
            )
            accept = base64.b64encode(
                hashlib.sha1(key + b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11").digest()
            )
            conn.sendall(
                b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
                b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
            )
            while chunk := conn.recv(4096):
                self.received += chunk
                if b"\x88" in self.received:  # a Close frame's first byte: answer it
                    conn.sendall(b"\x88\x02\x03\xf3")
                    break

    def close(self) -> None:
        self.listener.close()
        self.thread.join(10)


def test_ping_timeout() -> None:
    """--ping-interval 0.2 --ping-timeout 0.3 against a server that never pongs: 1011."""
    server = SilentServer()
    try:
        started = time.monotonic()
        result = run_connect(
            f"ws://127.0.0.1:{server.port}/",
            "--ping-interval",
            "0.2",
            "--ping-timeout",
            "0.3",
            "--wait",
            "10",
        )
        elapsed = time.monotonic() - started
    finally:
        server.close()
    assert result.status == ABNORMAL, result.explain()
    assert "closed 1011 INTERNAL_ERROR" in result.stderr
    assert b"\x89" in server.received  # the Ping went out
    assert elapsed < 8


class PongSession:
    """The REPL's session, recording whether Pings are answered."""

    def __init__(self) -> None:
        self.answering: list[bool] = []
        self.pongs: list[bytes] = []

    def answer_pings(self, on: bool) -> None:
        self.answering.append(on)

    def pong(self, data: bytes = b"") -> None:
        self.pongs.append(data)


class TestReplCommand:
    """/pong off and /pong on, beside /pong TEXT (an unsolicited Pong)."""

    @pytest.mark.parametrize(
        ("line", "command"),
        [
            ("/pong off", cmd.PongMode(False)),
            ("/pong ON", cmd.PongMode(True)),
            ("/pong", cmd.Pong(b"")),
            ("/pong offline", cmd.Pong(b"offline")),
        ],
    )
    def test_parse(self, line: str, command: cmd.Command) -> None:
        assert cmd.parse_line(line) == command

    def test_execute(self) -> None:
        """Off, then on: the session is told, and the console says what it means."""
        session: Any = PongSession()
        out = io.StringIO()
        console = Console(file=out, width=100, color_system=None)
        log = TrafficLog(console)
        assert execute(cmd.PongMode(False), session, log, console)
        assert execute(cmd.PongMode(True), session, log, console)
        assert session.answering == [False, True]
        assert out.getvalue().splitlines() == [
            "the server's Pings are left unanswered (a fault, on purpose)",
            "the server's Pings are answered",
        ]


def test_pong_off_in_a_terminal(tmp_path: Path) -> None:
    """In the REPL, /pong off makes a strict server time out (1011); /pong on before keeps it."""
    binary = require_tool("tmux")
    with echo_server(ping_interval=0.5, ping_timeout=1.0) as server:
        tmux = _Tmux(binary, f"wstool-faults-{os.getpid()}", tmp_path)
        try:
            tmux.start(f"ws://127.0.0.1:{server.port}/")
            tmux.wait_for("connected;")
            tmux.type("/pong off")
            tmux.wait_for("left unanswered")
            tmux.type("/pong on")
            tmux.wait_for("are answered")
            time.sleep(2.0)  # four server pings, all answered: still open
            assert not server.visits[0].done.is_set()
            tmux.type("/pong off")
            assert server.visits[0].done.wait(10)
            assert server.visits[0].close_sent == 1011
            tmux.wait_for("1011")
        finally:
            tmux.kill()


class _Tmux:
    """``wstool connect`` in a detached tmux session on a private socket."""

    def __init__(self, binary: str, name: str, directory: Path) -> None:
        self.binary = binary
        self.name = name
        self.directory = directory

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [self.binary, "-L", self.name, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=15,
            check=False,
        )
        return done.stdout

    def start(self, url: str) -> None:
        env = {"XDG_STATE_HOME": str(self.directory / "state"), "NO_COLOR": "1", "TERM": "xterm"}
        exports = " ".join(f"{k}={shlex.quote(v)}" for k, v in env.items())
        command = (
            f"cd {shlex.quote(str(PROJECT_ROOT))} && env {exports} "
            f"{shlex.quote(sys.executable)} -m wstool connect {shlex.quote(url)}"
        )
        self.run(
            "start-server",
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            "120",
            "-y",
            "40",
            "sh",
            "-c",
            command,
        )

    def screen(self) -> str:
        return self.run("capture-pane", "-p", "-t", "main", "-S", "-200")

    def type(self, text: str) -> None:
        self.run("send-keys", "-t", "main", "-l", text)
        self.run("send-keys", "-t", "main", "Enter")

    def wait_for(self, text: str, timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while text not in self.screen():
            if time.monotonic() > deadline:
                pytest.fail(f"the screen never showed {text!r}:\n{self.screen()}")
            time.sleep(0.05)

    def kill(self) -> None:
        self.run("kill-server")
