"""``wstool proxy`` as a user runs it: before ``wstool serve``, ``wstool connect`` through it."""

from __future__ import annotations

import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from e2e_support import PROJECT_ROOT, WAIT, e2e_env

LISTENING = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)/")


def wstool(*argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wstool", *argv],
        input=stdin,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
        timeout=WAIT,
    )


@pytest.fixture
def proxy() -> Iterator[Callable[..., tuple[subprocess.Popen[str], int]]]:
    """Starts ``wstool proxy --listen 127.0.0.1:0 ARGS``; kills leftovers at teardown."""
    started: list[subprocess.Popen[str]] = []

    def start(*argv: str) -> tuple[subprocess.Popen[str], int]:
        process = subprocess.Popen(
            [sys.executable, "-m", "wstool", "proxy", "--listen", "127.0.0.1:0", *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=PROJECT_ROOT,
            env=e2e_env(),
        )
        started.append(process)
        assert process.stdout is not None
        first = process.stdout.readline()
        match = LISTENING.search(first)
        assert match, first
        return process, int(match[1])

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.wait(WAIT)


def interrupt(process: subprocess.Popen[str]) -> tuple[int, str]:
    """Ctrl-C: SIGINT, then what it printed and its exit status."""
    time.sleep(0.3)  # let the last reports reach the log
    process.send_signal(signal.SIGINT)
    out, _ = process.communicate(timeout=WAIT)
    return process.returncode, out


def test_connect_through_the_proxy_and_ctrl_c(
    server_port: int, proxy: Callable[..., tuple[subprocess.Popen[str], int]]
) -> None:
    """Both hops' heads, each frame with its direction, the summary; Ctrl-C exits 0."""
    process, port = proxy("--to", f"ws://127.0.0.1:{server_port}/echo")
    result = wstool("connect", f"ws://127.0.0.1:{port}/room", stdin="hello\n")
    assert result.returncode == 0 and result.stdout == "hello\n", result.stderr
    status, out = interrupt(process)
    assert status == 0
    assert "#1 127.0.0.1:" in out and f"→ ws://127.0.0.1:{server_port}/echo/room" in out
    assert "  >s GET /echo/room HTTP/1.1  (rewritten)" in out
    assert f"  >s Host: 127.0.0.1:{server_port}  (rewritten)" in out
    assert "#1 upgraded: HTTP/1.1 101 Switching Protocols" in out
    assert re.search(r"#1 c→s TEXT +FIN rsv=100 mask=[0-9a-f]{8} len=\d+", out)
    assert "#1 s→c message TEXT 5 bytes, inflated from" in out
    assert "#1 c→s CLOSE        FIN" in out
    assert re.search(
        r"#1 closed after [\d.]+ s \(the server closed the connection\): c→s 2 frames", out
    )


def test_ctrl_c_closes_what_is_open(
    server_port: int, proxy: Callable[..., tuple[subprocess.Popen[str], int]]
) -> None:
    """A connection still open at Ctrl-C is closed and summarised; exit 0."""
    process, port = proxy("-q", "--to", f"ws://127.0.0.1:{server_port}/")
    client = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
    client.sendall(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    assert client.recv(4096).startswith(b"HTTP/1.1 101 ")
    status, out = interrupt(process)
    client.close()
    assert status == 0
    assert re.search(r"#1 closed after [\d.]+ s \(the proxy stopped\)", out), out


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (("--ca-dir", "/dev/null/ca"), "cannot use the CA directory '/dev/null/ca'"),
        (("--to", "http://127.0.0.1/"), "is an http:// URL; give ws:// or wss://"),
        (("--to", "ws://x/", "--listen", "nowhere"), "is not HOST:PORT"),
        (("--to", "wss://x/", "--upstream-ca", "/nonexistent.pem"), "/nonexistent.pem"),
    ],
)
def test_bad_usage_is_one_line_and_status_2(argv: tuple[str, ...], needle: str) -> None:
    """Bad options: one line on stderr naming the problem, exit 2."""
    result = wstool("proxy", *argv)
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and needle in result.stderr, result.stderr


def test_port_in_use_is_one_line(server_port: int) -> None:
    """Listening where something listens already: one line, exit 1."""
    result = wstool("proxy", "--to", "ws://127.0.0.1:9/", "--listen", f"127.0.0.1:{server_port}")
    assert result.returncode == 1
    assert result.stderr.startswith(f"wstool proxy: cannot listen on 127.0.0.1:{server_port}: ")
    assert result.stderr.count("\n") == 1


TMUX = shutil.which("tmux")


class Pane:
    """``wstool proxy`` in a detached tmux session on a private socket (its prompt needs a tty)."""

    def __init__(self, name: str, status: Path, argv: list[str]) -> None:
        self.name = name
        self.status = status
        command = " ".join(
            [
                "cd",
                shlex.quote(str(PROJECT_ROOT)),
                "&& env NO_COLOR=1 TERM=xterm",
                shlex.quote(sys.executable),
                "-m wstool proxy",
                *(shlex.quote(a) for a in argv),
                f"; echo $? > {shlex.quote(str(status))}",
            ]
        )
        # One invocation: a server started on its own exits at once (no session),
        # and a new-session racing that exit can be lost.
        self.tmux(
            "new-session", "-d", "-s", "main", "-x", "140", "-y", "50", "sh", "-c", command,
            ";", "set-option", "-g", "remain-on-exit", "on",
        )  # fmt: skip

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        done = subprocess.run(
            [TMUX, "-L", self.name, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        return done.stdout

    def type(self, text: str) -> None:
        self.tmux("send-keys", "-t", "main", "-l", text)
        self.tmux("send-keys", "-t", "main", "Enter")

    def wait_for(self, pattern: str) -> str:
        deadline = time.monotonic() + WAIT
        while True:
            screen = self.tmux("capture-pane", "-p", "-t", "main", "-S", "-200")
            if re.search(pattern, screen, re.MULTILINE):
                return screen
            if time.monotonic() > deadline:
                pytest.fail(f"screen never matched {pattern!r}:\n{screen}")
            time.sleep(0.05)


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def read_frame(sock: socket.socket) -> bytes:
    """One short unmasked frame's payload."""
    head = sock.recv(2)
    return sock.recv(head[1] & 0x7F) if head[1] & 0x7F else b""


@pytest.mark.skipif(TMUX is None, reason="tmux is needed for the proxy's prompt")
def test_prompt_injects_both_ways_and_holds(server_port: int, tmp_path: Path) -> None:
    """In a terminal: /inject to each side (the server echoes), /hold, /release, Ctrl-D."""
    port = free_port()
    argv = ["-q", "--to", f"ws://127.0.0.1:{server_port}/", "--listen", f"127.0.0.1:{port}"]
    pane = Pane(f"wstool-proxy-{os.getpid()}", tmp_path / "status", argv)
    try:
        pane.wait_for(r"^steer with /conns")
        client = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        client.sendall(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        assert client.recv(4096).startswith(b"HTTP/1.1 101 ")
        pane.wait_for(r"#1 127\.0\.0\.1:\d+ → ")
        pane.type("/inject client hello client")
        assert read_frame(client) == b"hello client"
        pane.type("/hold client")
        pane.wait_for(r"#1: holding what goes to the client")
        pane.type("/inject server echo me")
        pane.wait_for(r"#1: 13 bytes to the server, sent")
        pane.type("/conns")
        pane.wait_for(r"\[holding 9 bytes\]")
        pane.type("/release")
        pane.wait_for(r"#1: released 9 bytes to the client")
        assert read_frame(client) == b"echo me"
        client.close()
        pane.tmux("send-keys", "-t", "main", "C-d")
        deadline = time.monotonic() + WAIT
        while not (tmp_path / "status").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (tmp_path / "status").read_text().strip() == "0"
    finally:
        pane.tmux("kill-server")


UPGRADE = (
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def masked(text: str) -> bytes:
    from wstool.core.frames import encode_frame

    return encode_frame(1, text.encode(), mask_key=b"\x37\xfa\x21\x3d")


def wait_for_status(status: Path) -> str:
    deadline = time.monotonic() + WAIT
    while not status.exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    return status.read_text().strip()


@pytest.mark.skipif(TMUX is None, reason="tmux is needed for the proxy's prompt")
def test_prompt_drops_edits_and_resends_a_pasted_line(server_port: int, tmp_path: Path) -> None:
    """Held messages get numbers; /drop and /edit change what /release sends; a --json line
    pasted at the prompt goes out again; Ctrl-C ends with Close 1001 to the client, exit 0."""
    port = free_port()
    argv = ["-q", "--to", f"ws://127.0.0.1:{server_port}/", "--listen", f"127.0.0.1:{port}"]
    pane = Pane(f"wstool-proxy-edit-{os.getpid()}", tmp_path / "status", argv)
    try:
        pane.wait_for(r"^steer with /conns")
        client = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        client.sendall(UPGRADE)
        assert client.recv(4096).startswith(b"HTTP/1.1 101 ")
        pane.wait_for(r"#1 127\.0\.0\.1:\d+ → ")
        pane.type("/hold server")
        pane.wait_for(r"#1: holding what goes to the server")
        client.sendall(masked("one") + masked("two") + masked("three"))
        pane.wait_for(r"held 3: #1 c→s TEXT 5 bytes  three")
        pane.type("/drop 2")
        pane.wait_for(r"#1 c→s held message 2 dropped")
        pane.type("/edit 3 THREE, edited")
        pane.wait_for(r"#1 c→s held message 3 edited \(13 bytes")
        pane.type("/held")
        pane.wait_for(r"^\s+3 #1 c→s TEXT 13 bytes \(edited\)")
        pane.type("/release")
        pane.wait_for(r"#1: released \d+ bytes to the server \(1 dropped, 1 edited\)")
        assert read_frame(client) == b"one"  # the server's echoes
        assert read_frame(client) == b"THREE, edited"
        pane.type(
            '{"event": "message", "conn": 1, "direction": "client-to-server", "text": "again"}'
        )
        pane.wait_for(r"#1: \d+ bytes to the server, sent")
        assert read_frame(client) == b"again"
        pane.tmux("send-keys", "-t", "main", "C-c")
        head = client.recv(2)
        assert head[0] == 0x88 and client.recv(head[1])[:2] == (1001).to_bytes(2, "big")
        client.close()
        assert wait_for_status(tmp_path / "status") == "0"
    finally:
        pane.tmux("kill-server")


@pytest.mark.skipif(TMUX is None, reason="tmux is needed for the proxy's prompt")
def test_terminate_mode_has_the_prompt(server_port: int, tmp_path: Path) -> None:
    """--terminate: /inject both ways, a held echo edited before it reaches the client."""
    port = free_port()
    argv = ["-q", "--terminate", "--to", f"ws://127.0.0.1:{server_port}/"]
    pane = Pane(
        f"wstool-proxy-term-{os.getpid()}",
        tmp_path / "status",
        [*argv, "--listen", f"127.0.0.1:{port}"],
    )
    try:
        pane.wait_for(r"^steer with /conns")
        client = socket.create_connection(("127.0.0.1", port), timeout=WAIT)
        client.sendall(UPGRADE)
        assert client.recv(4096).startswith(b"HTTP/1.1 101 ")
        pane.type("/inject client from the proxy")
        assert read_frame(client) == b"from the proxy"
        pane.type("/inject server echo this")  # the server's echo comes back to the client
        assert read_frame(client) == b"echo this"
        pane.type("/hold client")
        pane.wait_for(r"#1: holding what goes to the client")
        client.sendall(masked("original"))
        pane.wait_for(r"held 1: #1 s→c TEXT 8 bytes  original")
        pane.type("/edit 1 rewritten")
        pane.wait_for(r"held message 1 edited")
        pane.type("/release")
        pane.wait_for(r"#1: released 1 messages to the client \(1 edited\)")
        assert read_frame(client) == b"rewritten"
        pane.type("/conns")
        pane.wait_for(r"#1 127\.0\.0\.1:\d+ → ws://127\.0\.0\.1:\d+/ \(terminated\)")
        client.close()
        pane.tmux("send-keys", "-t", "main", "C-d")
        assert wait_for_status(tmp_path / "status") == "0"
    finally:
        pane.tmux("kill-server")
