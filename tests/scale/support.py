"""Real processes for the scale tests: ``wstool serve`` (with workers) and ``redis-server``.

Every process is started on 127.0.0.1 with a free port and stopped by the
context manager that started it; reader threads collect what ``serve``
prints so that a full pipe never blocks it.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from pathlib import Path
from typing import IO, Any

import pytest

__all__ = ["PROJECT_ROOT", "Redis", "Serve", "children_of", "redis_server", "serve"]

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 20.0
_LISTENING = re.compile(r"listening on wss?://127\.0\.0\.1:(?P<port>\d+)/")


class Serve:
    """A running ``wstool serve`` and what it printed."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.process = process
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self.port = 0
        self._lock = threading.Lock()
        self._banner: queue.Queue[str] = queue.Queue()

    def url(self, path: str = "/") -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def output(self) -> str:
        with self._lock:
            return "".join(self.stdout) + "--- stderr ---\n" + "".join(self.stderr)

    def lines(self) -> list[str]:
        with self._lock:
            return list(self.stdout)

    def err_lines(self) -> list[str]:
        with self._lock:
            return list(self.stderr)

    def records(self) -> list[dict[str, Any]]:
        """The NDJSON records printed so far (``--json``)."""
        return [json.loads(line) for line in self.lines()]

    def wait_for(self, predicate: Callable[[], bool], timeout: float = 10.0) -> None:
        deadline = time.monotonic() + timeout
        while not predicate():
            if time.monotonic() > deadline:
                raise AssertionError(f"not seen within {timeout}s:\n{self.output()}")
            time.sleep(0.05)

    def stop(self, sig: int = signal.SIGTERM, timeout: float = 15.0) -> int:
        """Send ``sig`` and wait for the exit status (SIGKILL after ``timeout``)."""
        if self.process.poll() is None:
            self.process.send_signal(sig)
            try:
                self.process.wait(timeout)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout)
                raise AssertionError(
                    f"serve did not stop in {timeout}s:\n{self.output()}"
                ) from None
        return self.process.returncode

    def finished(self, timeout: float = 15.0) -> int:
        """Wait for serve to end by itself; its exit status."""
        try:
            return self.process.wait(timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"serve did not end in {timeout}s:\n{self.output()}") from None


def _pump(serve: Serve, stream: IO[str], sink: list[str]) -> None:
    for line in stream:
        with serve._lock:
            sink.append(line)
        if _LISTENING.search(line):
            serve._banner.put(line)
    stream.close()


def start_serve(*args: str, wait: bool = True) -> Serve:
    """``wstool serve --port 0 --ping-interval 0 ARGS`` as a subprocess."""
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    process = subprocess.Popen(
        [sys.executable, "-m", "wstool", "serve", "--port", "0", "--ping-interval", "0", *args],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        encoding="utf-8",
        cwd=PROJECT_ROOT,
        env=env,
    )
    served = Serve(process)
    for stream, sink in ((process.stdout, served.stdout), (process.stderr, served.stderr)):
        assert stream is not None
        threading.Thread(target=_pump, args=(served, stream, sink), daemon=True).start()
    if wait:
        try:
            banner = served._banner.get(timeout=START_TIMEOUT)
        except queue.Empty:
            served.stop(signal.SIGKILL)
            raise AssertionError(f"serve did not listen:\n{served.output()}") from None
        match = _LISTENING.search(banner)
        assert match is not None
        served.port = int(match["port"])
    return served


@contextmanager
def serve(*args: str, wait: bool = True) -> Iterator[Serve]:
    """A ``wstool serve`` for the length of the block; SIGKILLed if still running after it."""
    served = start_serve(*args, wait=wait)
    try:
        yield served
    finally:
        if served.process.poll() is None:
            for pid in children_of(served.process.pid):
                _kill(pid)
            served.process.kill()
            served.process.wait(10)


def children_of(pid: int) -> list[int]:
    """The processes whose parent is ``pid`` (Linux /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if int(fields[1]) == pid:
            found.append(int(entry.name))
    return found


def _kill(pid: int) -> None:
    with suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Redis:
    """A ``redis-server`` of our own on a free port, without persistence."""

    def __init__(self, binary: str) -> None:
        self.binary = binary
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + 10
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.port), 1) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(16).startswith(b"+PONG"):
                        return
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("redis-server did not start")
            time.sleep(0.05)

    def kill(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


@contextmanager
def redis_server() -> Iterator[Redis]:
    """A running ``redis-server``: skipped where it is not installed, a failure in CI."""
    binary = shutil.which("redis-server")
    if binary is None:
        if os.environ.get("CI") == "true":
            pytest.fail("redis-server is not installed (.ci/run installs it)")
        pytest.skip("redis-server is not installed")
    redis = Redis(binary)
    redis.start()
    try:
        yield redis
    finally:
        redis.kill()


def self_signed(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and its key (the interop tests' certs helper)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "interop" / "connect_peers"))
    from certs import make_server_cert, write_pair

    return write_pair(directory, "server", make_server_cert(None, ["127.0.0.1"]))


def rss_kib(pid: int) -> int:
    """A process's resident memory now, in KiB."""
    with open(f"/proc/{pid}/status") as status:
        line = next(line for line in status if line.startswith("VmRSS:"))
    return int(line.split()[1])


class PeakRss:
    """The highest resident memory of a process while ``async with`` runs, sampled
    every 20 ms (``kib``)."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.kib = 0
        self._watcher: asyncio.Future[None] | None = None

    async def __aenter__(self) -> PeakRss:
        self._watcher = asyncio.ensure_future(self._watch())
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._watcher is not None
        self._watcher.cancel()

    async def _watch(self) -> None:
        while True:
            self.kib = max(self.kib, rss_kib(self.pid))
            await asyncio.sleep(0.02)
