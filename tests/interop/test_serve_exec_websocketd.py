"""``wstool serve --exec`` beside websocketd: the same program, the same request, the same answers.

websocketd is the yardstick for a program behind a WebSocket server. Both
run one program that prints its environment, then echoes lines reversed;
the same client request goes to each. Every CGI variable websocketd sets
is set by wstool with the same value (those naming the connection aside:
ports, keys, ids, the server's name), the parent environment is passed on
as sparingly, and the lines come back alike. Skipped without websocketd,
except in CI (apt-get install websocketd).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("websockets")
from websockets.sync.client import connect

PROJECT_ROOT = Path(__file__).resolve().parents[2]
PROGRAM = """\
    import os, sys
    for name in sorted(os.environ):
        print(f"{name}={os.environ[name]}", flush=True)
    print("--", flush=True)
    for line in sys.stdin:
        print(line.rstrip("\\n")[::-1], flush=True)
"""
CONNECTION_NAMES = {
    "REMOTE_PORT",
    "SERVER_PORT",
    "HTTP_SEC_WEBSOCKET_KEY",
    "UNIQUE_ID",
    "SERVER_SOFTWARE",
    "GATEWAY_INTERFACE",
    "REMOTE_HOST",  # websocketd looks the name up; wstool gives the address
}
LOCALE_SET_BY_PYTHON = "LC_CTYPE"
"""Python sets it itself when started without a locale (PEP 538): under websocketd."""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        if process.poll() is not None:
            pytest.fail(f"the server exited with {process.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    pytest.fail(f"nothing listened on {port}")


@pytest.fixture
def program(tmp_path: Path) -> str:
    path = tmp_path / "envecho.py"
    path.write_text(textwrap.dedent(PROGRAM))
    return str(path)


def _start(argv: list[str], port: int) -> Iterator[subprocess.Popen[bytes]]:
    env = {**os.environ, "WSTOOL_TEST_SECRET": "not for the program"}
    process = subprocess.Popen(
        argv,
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_for_port(port, process)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


@pytest.fixture
def websocketd(program: str) -> Iterator[int]:
    executable = shutil.which("websocketd")
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("websocketd is needed in CI (apt-get install websocketd)")
        pytest.skip("websocketd is not installed")
    port = _free_port()
    argv = [executable, f"--port={port}", "--address=127.0.0.1", sys.executable, program]
    yield from (port for _ in _start(argv, port))


@pytest.fixture
def wstool(program: str) -> Iterator[int]:
    port = _free_port()
    argv = [sys.executable, "-m", "wstool", "serve", "--port", str(port), "-q"]
    argv += ["--ping-interval", "0", "--exec", f"{sys.executable} {program}"]
    yield from (port for _ in _start(argv, port))


def _session(port: int) -> tuple[dict[str, str], list[str]]:
    """The program's environment as it printed it, and its answers to two lines."""
    url = f"ws://127.0.0.1:{port}/room/a%20b?x=1&y=%20z"
    headers = {"X-Trace": "t-1", "Cookie": "a=b"}
    with connect(url, additional_headers=headers, open_timeout=10, compression=None) as ws:
        env: dict[str, str] = {}
        while (line := ws.recv(timeout=10)) != "--":
            name, _, value = str(line).partition("=")
            env[name] = value
        ws.send("hello")
        ws.send("wörld ✓")
        answers = [str(ws.recv(timeout=10)) for _ in range(2)]
    return env, answers


def test_the_program_sees_what_websocketd_would_give_it(websocketd: int, wstool: int) -> None:
    theirs, their_answers = _session(websocketd)
    ours, our_answers = _session(wstool)
    assert our_answers == their_answers == ["olleh", "✓ dlröw"]
    for name, value in theirs.items():
        if name == LOCALE_SET_BY_PYTHON:
            continue
        if name in CONNECTION_NAMES:
            assert name in ours, name
        else:
            assert ours.get(name) == value, (name, value, ours.get(name))
    assert "WSTOOL_TEST_SECRET" not in theirs and "WSTOOL_TEST_SECRET" not in ours
    assert ours["PATH_INFO"] == theirs["PATH_INFO"] == "/room/a b"
    assert ours["QUERY_STRING"] == "x=1&y=%20z"
