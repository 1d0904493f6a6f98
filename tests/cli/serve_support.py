"""``wstool serve`` as a subprocess for the serve option tests: start, read its log, stop.

The server runs with ``--json`` on port 0; the listening line (on stderr) gives
the URL, and reader threads collect both streams so a full pipe never blocks it.
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
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

__all__ = ["PROJECT_ROOT", "Served", "run_wstool", "served"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
_LISTENING = re.compile(r"listening on (?P<url>\S+) ")
START_TIMEOUT = 15.0


class Served:
    """A running ``wstool serve --json`` and what it printed."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.url = ""
        self._lock = threading.Lock()
        self._banner: queue.Queue[str] = queue.Queue()

    @property
    def port(self) -> int:
        return int(self.url.rsplit(":", 1)[1].split("/")[0])

    def records(self) -> list[dict[str, Any]]:
        """The NDJSON records so far."""
        with self._lock:
            lines = list(self.stdout)
        return [json.loads(line) for line in lines if line.startswith("{")]

    def wait_for(
        self, predicate: Callable[[list[dict[str, Any]]], bool], timeout: float = 10.0
    ) -> list[dict[str, Any]]:
        """Poll the log until ``predicate`` holds, or raise AssertionError with the log."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            if predicate(records):
                return records
            if time.monotonic() > deadline:
                raise AssertionError(f"the log never matched in {timeout}s:\n{self.output()}")
            time.sleep(0.05)

    def output(self) -> str:
        with self._lock:
            return "".join(self.stdout) + "--- stderr ---\n" + "".join(self.stderr)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(10)
        return self.process.returncode


def _pump(served: Served, stream: IO[str], sink: list[str]) -> None:
    for line in stream:
        with served._lock:
            sink.append(line)
        if _LISTENING.search(line):
            served._banner.put(line)
    stream.close()


def _env() -> dict[str, str]:
    return {**os.environ, "PYTHONUNBUFFERED": "1", "NO_COLOR": "1"}


@contextmanager
def served(*args: str, json_log: bool = True) -> Iterator[Served]:
    """``wstool serve --port 0 --ping-interval 0 [--json] ARGS``, stopped on leaving."""
    argv = [sys.executable, "-m", "wstool", "serve", "--ping-interval", "0", *args]
    if "--unix" not in args:
        argv[4:4] = ["--port", "0"]
    if json_log:
        argv.append("--json")
    process = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=PROJECT_ROOT,
        env=_env(),
    )
    server = Served(process)
    for stream, sink in ((process.stdout, server.stdout), (process.stderr, server.stderr)):
        assert stream is not None
        threading.Thread(target=_pump, args=(server, stream, sink), daemon=True).start()
    try:
        try:
            banner = server._banner.get(timeout=START_TIMEOUT)
        except queue.Empty:
            raise AssertionError(f"serve did not listen:\n{server.output()}") from None
        match = _LISTENING.search(banner)
        assert match is not None
        server.url = match["url"]
        yield server
    finally:
        server.stop()


def run_wstool(*args: str, timeout: float = 20.0) -> subprocess.CompletedProcess[str]:
    """``wstool ARGS`` to completion, output captured."""
    return subprocess.run(
        [sys.executable, "-m", "wstool", *args],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=_env(),
        timeout=timeout,
        check=False,
    )
