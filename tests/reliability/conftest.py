"""Fixtures for the reliability tests: a ``wstool serve`` subprocess and raw WebSocket clients.

The server listens on 127.0.0.1, port 0; the port is read from the first line
it prints. Reader threads collect everything it prints, so a full pipe never
blocks it. Each server gets its open-file limit raised (``preexec_fn``) so
that thousands of connections fit, and every server is stopped at teardown
(SIGTERM, then SIGKILL), after which its output is checked for tracebacks.

"""

from __future__ import annotations

import os
import re
import resource
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

__all__ = ["ServeProcess", "raise_nofile"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
WANTED_NOFILE = 16384
_LISTENING = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)/")
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def raise_nofile(wanted: int = WANTED_NOFILE) -> tuple[int, int]:
    """Raise this process's soft RLIMIT_NOFILE towards ``wanted``; return the old limits."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if target > soft:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
    return soft, hard


class ServeProcess:
    """A running ``wstool serve`` and everything it has printed."""

    def __init__(self, args: list[str]) -> None:
        self.args = args
        self.port = 0
        self.stdout_lines: list[str] = []
        self.stderr_lines: list[str] = []
        self._lock = threading.Lock()
        self._listening = threading.Event()
        env = {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1", "COLUMNS": "200"}
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wstool", "serve", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            cwd=PROJECT_ROOT,
            env=env,
            preexec_fn=raise_nofile,  # the child needs a descriptor per connection too
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._readers = [
            threading.Thread(target=self._pump, args=(self.process.stdout, self.stdout_lines)),
            threading.Thread(target=self._pump, args=(self.process.stderr, self.stderr_lines)),
        ]
        for reader in self._readers:
            reader.daemon = True
            reader.start()
        if not self._listening.wait(START_TIMEOUT):
            self.stop()
            pytest.fail(f"wstool serve {' '.join(args)} did not listen:\n{self.output()}")

    def _pump(self, stream: IO[str], sink: list[str]) -> None:
        for line in stream:
            with self._lock:
                sink.append(line)
            match = _LISTENING.search(line)
            if match and not self.port:
                self.port = int(match[1])
                self._listening.set()
        stream.close()

    @property
    def pid(self) -> int:
        return self.process.pid

    def lines(self) -> list[str]:
        """The stdout lines so far."""
        with self._lock:
            return list(self.stdout_lines)

    def output(self) -> str:
        """Everything printed so far, for assertion messages (the tail if long)."""
        with self._lock:
            out, err = "".join(self.stdout_lines), "".join(self.stderr_lines)
        return f"{out[-6000:]}\n--- stderr ---\n{err[-6000:]}"

    def wait_for_lines(
        self, predicate: Callable[[list[str]], bool], timeout: float, what: str
    ) -> list[str]:
        """Poll stdout until ``predicate`` holds, or fail after ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        while True:
            lines = self.lines()
            if predicate(lines):
                return lines
            if time.monotonic() > deadline:
                pytest.fail(f"server output never showed {what} in {timeout}s:\n{self.output()}")
            time.sleep(0.05)

    def status_kib(self, field: str) -> int:
        """A ``/proc/PID/status`` field in KiB, such as ``VmRSS`` or ``VmHWM``."""
        text = Path(f"/proc/{self.pid}/status").read_text()
        match = re.search(rf"^{field}:\s+(\d+) kB$", text, re.MULTILINE)
        assert match is not None, text
        return int(match[1])

    def stop(self) -> int:
        """SIGTERM the server, SIGKILL it if it lingers; return its exit status."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
        for reader in self._readers:
            reader.join(STOP_TIMEOUT)
        return self.process.returncode

    def assert_no_traceback(self) -> None:
        text = self.output()
        with self._lock:
            everything = "".join(self.stdout_lines) + "".join(self.stderr_lines)
        assert "Traceback" not in everything, text
        assert "Unhandled" not in everything, text


@pytest.fixture
def serve() -> Iterator[Callable[..., ServeProcess]]:
    """Start ``wstool serve --port 0 --ping-interval 0 --color never`` plus options.

    Every server started is stopped at teardown, and none may have printed a
    traceback.
    """
    started: list[ServeProcess] = []

    def start(*extra: str) -> ServeProcess:
        args = ["--host", "127.0.0.1", "--port", "0", "--ping-interval", "0"]
        server = ServeProcess([*args, "--color", "never", *extra])
        started.append(server)
        return server

    yield start
    for server in started:
        server.stop()
    for server in started:
        server.assert_no_traceback()


@pytest.fixture
def many_files() -> Iterator[None]:
    """Raise this process's open-file limit for the test, and restore it after."""
    old = raise_nofile()
    yield
    resource.setrlimit(resource.RLIMIT_NOFILE, old)
