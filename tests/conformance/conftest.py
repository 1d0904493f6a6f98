"""Fixtures: ``wstool serve`` subprocesses, one per server profile, shared by the session.

Each server listens on 127.0.0.1, port 0; the port is read from the first
line it prints. A reader thread drains each pipe, so a full pipe never blocks
the server. A profile's server starts when a case first needs it and gets
SIGTERM at the end of the session, after which it must have exited 0.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import IO

import pytest

from wstool.check.cases import PROFILES
from wstool.check.model import Case, Expect
from wstool.check.peer import parse_uri
from wstool.check.runner import INFORMATIONAL, OK, Result, run_case

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 15.0
STOP_TIMEOUT = 10.0
BASE_ARGS = ("--port", "0", "-q", "--ping-interval", "0")
_LISTENING = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)/")


class ServeProcess:
    """A running ``wstool serve`` and what it printed."""

    def __init__(self, extra: tuple[str, ...]) -> None:
        self.args = [sys.executable, "-m", "wstool", "serve", *BASE_ARGS, *extra]
        self.lines: list[str] = []
        self.port = 0
        self._lock = threading.Lock()
        self._listening = threading.Event()
        env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1", "COLUMNS": "200"}
        self.process = subprocess.Popen(
            self.args,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
            cwd=PROJECT_ROOT,
        )
        assert self.process.stdout is not None and self.process.stderr is not None
        self._threads = [
            threading.Thread(target=self._drain, args=(stream, first), daemon=True)
            for stream, first in ((self.process.stdout, True), (self.process.stderr, False))
        ]
        for thread in self._threads:
            thread.start()
        if not self._listening.wait(START_TIMEOUT) or not self.port:
            self.stop()
            raise RuntimeError(f"wstool serve did not start: {self.output()}")

    def _drain(self, stream: IO[str], is_stdout: bool) -> None:
        for line in stream:
            with self._lock:
                self.lines.append(line)
            if is_stdout and not self._listening.is_set():
                match = _LISTENING.search(line)
                self.port = int(match.group(1)) if match else 0
                self._listening.set()
        self._listening.set()

    @property
    def url(self) -> str:
        """The server's ``ws://`` URL."""
        return f"ws://127.0.0.1:{self.port}/"

    def output(self) -> str:
        """Everything printed so far (the tail of it)."""
        with self._lock:
            return "".join(self.lines[-40:])

    def stop(self) -> int | None:
        """SIGTERM, then wait; SIGKILL if it hangs. The exit status (None if killed)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(STOP_TIMEOUT)
                return None
        for thread in self._threads:
            thread.join(STOP_TIMEOUT)
        return self.process.returncode


class Servers:
    """One ``wstool serve`` per profile, started on first use."""

    def __init__(self) -> None:
        self.running: dict[str, ServeProcess] = {}

    def get(self, profile: str) -> ServeProcess:
        """The server for ``profile``, started now if need be."""
        if profile not in self.running:
            self.running[profile] = ServeProcess(PROFILES[profile])
        return self.running[profile]


@pytest.fixture(scope="session")
def servers() -> Iterator[Servers]:
    """Every profile's server; each must exit 0 after SIGTERM at the end of the session."""
    pool = Servers()
    yield pool
    problems = []
    for profile, server in pool.running.items():
        status = server.stop()
        if status != 0:
            problems.append(f"{profile}: exit status {status}\n{server.output()}")
    assert not problems, "wstool serve did not exit 0 after SIGTERM:\n" + "\n".join(problems)


@pytest.fixture
def conform(servers: Servers) -> Callable[[Case], Result]:
    """Run a case against its profile's server and assert a strict OK (and an OK close);
    INFORMATIONAL both for a case whose outcome the RFC leaves open (7.1.6, 7.13.x)."""

    def run(case: Case) -> Result:
        server = servers.get(case.profile)
        result = run_case(case, parse_uri(server.url))
        open_ended = isinstance(case.expect, Expect) and case.expect.informational
        wanted = INFORMATIONAL if open_ended else OK
        assert (result.verdict, result.close_verdict) == (wanted, wanted), (
            f"{case.id} {case.description}\n  expected: {case.expected}\n"
            f"  observed: {result.observed}\n  {result.verdict}: {result.detail}\n"
            f"  close: {result.close_verdict} {result.close_detail}\n"
            f"server output:\n{server.output()}"
        )
        return result

    return run
