"""Fixtures for wstool bench's end-to-end tests: real servers on 127.0.0.1, port 0.

``wstool serve`` and Node's ``ws`` echo server run as subprocesses; websockets
servers (an echo, one that stalls, one that corrupts echoes) run on an
asyncio loop in a thread. Every server is stopped at teardown. ``wstool
bench`` itself always runs as a subprocess, as a user runs it.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import shutil
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = PROJECT_ROOT / "tests" / "interop" / "node"
_LISTENING = re.compile(r"listening on wss?://[^/\s]+:(\d+)/")
START_TIMEOUT = 15.0


@dataclass
class BenchResult:
    """One finished ``wstool bench`` run."""

    status: int
    stdout: str
    stderr: str

    @property
    def report(self) -> dict[str, Any]:
        """The --json object."""
        return json.loads(self.stdout)  # type: ignore[no-any-return]


def bench_argv(*args: str) -> list[str]:
    """The command line of ``wstool bench`` with ``args``."""
    return [sys.executable, "-m", "wstool", "bench", *args]


def bench_env() -> dict[str, str]:
    """The environment bench runs in (no colours)."""
    return {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}


@pytest.fixture
def run_bench() -> Callable[..., BenchResult]:
    """Run ``wstool bench ARGS`` to the end (bounded in time) and return what it printed."""

    def run(*args: str, timeout: float = 60.0) -> BenchResult:
        done = subprocess.run(
            bench_argv(*args),
            capture_output=True,
            text=True,
            timeout=timeout,
            cwd=PROJECT_ROOT,
            env=bench_env(),
            stdin=subprocess.DEVNULL,
        )
        return BenchResult(done.returncode, done.stdout, done.stderr)

    return run


class Subprocess:
    """A server subprocess whose port is read from its first lines."""

    def __init__(self, argv: list[str], pattern: re.Pattern[str], cwd: Path) -> None:
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            cwd=cwd,
            env=bench_env(),
        )
        lines: queue.Queue[str] = queue.Queue()
        # Read every line, so that a full pipe never blocks the server.
        threading.Thread(target=self._pump, args=(lines,), daemon=True).start()
        seen = []
        deadline = time.monotonic() + START_TIMEOUT
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = lines.get(timeout=left)
            except queue.Empty:
                break
            seen.append(line)
            match = pattern.search(line)
            if match:
                self.port = int(match.group(1))
                return
        self.stop()
        pytest.fail(f"{argv} did not start in {START_TIMEOUT}s:\n{''.join(seen)}")

    def _pump(self, lines: queue.Queue[str]) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            lines.put(line)

    @property
    def url(self) -> str:
        """The server's ws:// URL."""
        return f"ws://127.0.0.1:{self.port}/"

    def stop(self) -> None:
        """SIGTERM, then SIGKILL if it lingers."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)


@pytest.fixture
def wstool_server() -> Iterator[Callable[..., Subprocess]]:
    """Start ``wstool serve --port 0 -q --ping-interval 0 [extra]``; stopped at teardown."""
    started: list[Subprocess] = []

    def start(*extra: str) -> Subprocess:
        argv = [sys.executable, "-m", "wstool", "serve", "--port", "0", "-q"]
        server = Subprocess([*argv, "--ping-interval", "0", *extra], _LISTENING, PROJECT_ROOT)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def node() -> str:
    """node with the pinned ``ws`` of tests/interop/node (npm ci once if missing)."""
    node_exe, npm_exe = shutil.which("node"), shutil.which("npm")
    if node_exe is None or npm_exe is None:
        if os.environ.get("CI"):
            pytest.fail("node and npm are needed in CI (apt-get install nodejs npm)")
        pytest.skip("node and npm are needed for the Node ws tests")
    if not (NODE_DIR / "node_modules" / "ws" / "package.json").is_file():
        subprocess.run(
            [npm_exe, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
            cwd=NODE_DIR,
            check=True,
            capture_output=True,
            timeout=300,
        )
    return node_exe


@pytest.fixture
def node_server(node: str) -> Iterator[Callable[..., Subprocess]]:
    """Start Node's ws echo server (tests/interop/node/ws_echo_server.js)."""
    started: list[Subprocess] = []

    def start(*extra: str) -> Subprocess:
        argv = [node, str(NODE_DIR / "ws_echo_server.js"), *extra]
        server = Subprocess(argv, re.compile(r"PORT (\d+)"), NODE_DIR)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


Handler = Callable[[Any], Any]


@pytest.fixture
def websockets_server() -> Iterator[Callable[[Handler], str]]:
    """Serve a websockets handler on an asyncio loop in a thread; returns the URL."""
    websockets_server_module = pytest.importorskip("websockets.asyncio.server")
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    servers: list[Any] = []

    def start(handler: Handler) -> str:
        async def serve() -> Any:
            return await websockets_server_module.serve(
                handler, "127.0.0.1", 0, compression=None, ping_interval=None, max_size=None
            )

        server = asyncio.run_coroutine_threadsafe(serve(), loop).result(10)
        servers.append(server)
        port = server.sockets[0].getsockname()[1]
        return f"ws://127.0.0.1:{port}/"

    yield start

    async def close_all() -> None:
        for server in servers:
            server.close()
            await server.wait_closed()

    asyncio.run_coroutine_threadsafe(close_all(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()
