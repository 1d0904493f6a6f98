"""Fixtures for the interop tests: ``wstool serve`` as a real subprocess on 127.0.0.1.

Each server listens on port 0; the port is read from the line wstool prints
when it listens (stdout, or stderr with ``--json``, whose stdout is NDJSON).
Every line the server prints is collected by reader threads, so a full pipe
never blocks it, and every server is stopped (SIGTERM, then SIGKILL) at
teardown.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

import pytest

__all__ = ["WstoolServer", "start_wstool_serve"]

START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
_LISTENING = re.compile(r"listening on ws://(?P<host>[^/\s]+):(?P<port>\d+)/")
PROJECT_ROOT = Path(__file__).resolve().parents[2]


@dataclass
class WstoolServer:
    """A running ``wstool serve`` subprocess and what it has printed so far."""

    process: subprocess.Popen[str]
    args: tuple[str, ...]
    port: int = 0
    stdout_lines: list[str] = field(default_factory=list)
    stderr_lines: list[str] = field(default_factory=list)
    _banner: queue.Queue[str] = field(default_factory=queue.Queue)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        """The ``ws://`` URL of the server's root."""
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def http_url(self) -> str:
        """The ``http://`` URL of the browser console."""
        return f"http://127.0.0.1:{self.port}/"

    def output(self) -> str:
        """Everything printed so far, for assertion messages."""
        with self._lock:
            return "".join(self.stdout_lines) + "--- stderr ---\n" + "".join(self.stderr_lines)

    def json_records(self) -> list[dict[str, Any]]:
        """The NDJSON records printed on stdout so far (``--json`` servers)."""
        with self._lock:
            lines = list(self.stdout_lines)
        return [json.loads(line) for line in lines if line.startswith("{")]

    def wait_for_records(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Poll the NDJSON log until ``predicate`` holds for it, or fail after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.json_records()
            if predicate(records):
                return records
            if time.monotonic() > deadline:
                pytest.fail(f"server log never matched within {timeout}s:\n{self.output()}")
            time.sleep(0.05)

    def stop(self) -> int:
        """SIGTERM the server, SIGKILL it if it lingers; return its exit status."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        return self.process.returncode


def _pump(server: WstoolServer, stream: IO[str], sink: list[str]) -> None:
    for line in stream:
        with server._lock:
            sink.append(line)
        if _LISTENING.search(line):
            server._banner.put(line)
    stream.close()


def start_wstool_serve(*extra: str) -> WstoolServer:
    """Start ``wstool serve --port 0 --ping-interval 0`` plus ``extra`` and wait until it listens.

    Args:
        extra: further options; ``-q`` is added unless ``--json`` or ``-v`` is given.

    Returns:
        The running server; the caller must ``stop()`` it.
    """
    args = ["--port", "0", "--ping-interval", "0", *extra]
    if not {"--json", "-v", "--verbose", "-q"} & set(extra):
        args.append("-q")
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "wstool", "serve", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=PROJECT_ROOT,
        env=env,
    )
    server = WstoolServer(process=process, args=tuple(args))
    for stream, sink in (
        (process.stdout, server.stdout_lines),
        (process.stderr, server.stderr_lines),
    ):
        assert stream is not None
        threading.Thread(target=_pump, args=(server, stream, sink), daemon=True).start()
    try:
        banner = server._banner.get(timeout=START_TIMEOUT)
    except queue.Empty:
        server.stop()
        pytest.fail(
            f"wstool serve {' '.join(args)} did not listen in {START_TIMEOUT}s:\n{server.output()}"
        )
    match = _LISTENING.search(banner)
    assert match is not None
    server.port = int(match["port"])
    return server


@pytest.fixture
def wstool_serve() -> Iterator[Callable[..., WstoolServer]]:
    """Start servers with given options; all of them are stopped at teardown."""
    started: list[WstoolServer] = []

    def start(*extra: str) -> WstoolServer:
        server = start_wstool_serve(*extra)
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()


@pytest.fixture(scope="session")
def wstool_serve_starter() -> Callable[..., WstoolServer]:
    """start_wstool_serve itself, for fixtures of a wider scope than wstool_serve's
    (a test module cannot import it: tests/ has more than one conftest module)."""
    return start_wstool_serve


@pytest.fixture(scope="session")
def serve_default() -> Iterator[WstoolServer]:
    """One echo server with permessage-deflate on, shared by the session."""
    server = start_wstool_serve()
    yield server
    server.stop()


@pytest.fixture(scope="session")
def serve_no_deflate() -> Iterator[WstoolServer]:
    """One echo server started with ``--no-deflate``, shared by the session."""
    server = start_wstool_serve("--no-deflate")
    yield server
    server.stop()


@pytest.fixture(scope="session", params=["deflate", "no-deflate"])
def serve_each(
    request: pytest.FixtureRequest, serve_default: WstoolServer, serve_no_deflate: WstoolServer
) -> WstoolServer:
    """Each of the two shared servers in turn, with and without permessage-deflate."""
    return serve_default if request.param == "deflate" else serve_no_deflate
