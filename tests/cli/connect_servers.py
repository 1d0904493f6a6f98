"""Peers for the ``wstool connect`` tests: servers in threads, connect as a subprocess.

:class:`EchoServer` is the websockets library's threaded server (on TCP or a
Unix socket) that echoes text and records, per connection, the request
headers and every message received, so a test can check what connect sent
from the server's side. :func:`run_connect` runs ``python -m wstool connect``
to completion, bounded in time.
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import Server, ServerConnection, serve, unix_serve

PROJECT_ROOT = Path(__file__).resolve().parents[2]
RUN_TIMEOUT = 30.0


@dataclass
class Visit:
    """One connection as the server saw it."""

    path: str
    headers: dict[str, str]
    messages: list[str] = field(default_factory=list)
    close_code: int | None = None
    """The close code received (1006 for none), once the connection is over."""
    close_sent: int | None = None
    """The code of the Close the server sent, if it sent one."""
    done: threading.Event = field(default_factory=threading.Event)


@dataclass
class EchoServer:
    """What the server has seen; ``react(connection, message)`` may replace the echo.

    ``react`` returns False to stop serving that connection (the handler
    returns; websockets then closes with 1000), True when it answered itself.
    """

    react: Callable[[ServerConnection, str, Visit], bool | None] | None = None
    visits: list[Visit] = field(default_factory=list)
    port: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self, connection: ServerConnection) -> None:
        request = connection.request
        assert request is not None
        visit = Visit(request.path, {k.lower(): v for k, v in request.headers.raw_items()})
        with self.lock:
            self.visits.append(visit)
        try:
            for message in connection:
                text = message if isinstance(message, str) else message.hex()
                visit.messages.append(text)
                if self.react is not None:
                    answer = self.react(connection, text, visit)
                    if answer is False:
                        return
                    if answer:
                        continue
                connection.send(message)
        except ConnectionClosed:
            pass
        finally:
            visit.close_code = connection.close_code
            sent = connection.protocol.close_sent
            visit.close_sent = sent.code if sent is not None else None
            visit.done.set()


@contextmanager
def echo_server(
    react: Callable[[ServerConnection, str, Visit], bool | None] | None = None,
    *,
    unix_path: str | None = None,
    **options: Any,
) -> Iterator[EchoServer]:
    """An :class:`EchoServer` on 127.0.0.1 port 0 (or ``unix_path``), shut down at the end."""
    state = EchoServer(react)
    options.setdefault("ping_interval", None)
    server: Server
    if unix_path is not None:
        server = unix_serve(state.handler, unix_path, **options)
    else:
        server = serve(state.handler, "127.0.0.1", 0, **options)
        state.port = server.socket.getsockname()[1]
    thread = threading.Thread(target=server.serve_forever, name="echo-server", daemon=True)
    thread.start()
    try:
        yield state
    finally:
        server.shutdown()
        thread.join(10)


@dataclass
class Result:
    """How a ``wstool connect`` run ended."""

    status: int
    stdout: str
    stderr: str

    def explain(self) -> str:
        return f"exit {self.status}\n--- stdout ---\n{self.stdout}\n--- stderr ---\n{self.stderr}"


def clean_env(**extra: str) -> dict[str, str]:
    """The environment without proxies or colour, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env.update({"NO_COLOR": "1", "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"})
    env.update(extra)
    return env


def run_connect(
    *args: str,
    input: str = "",
    env: dict[str, str] | None = None,
    timeout: float = RUN_TIMEOUT,
) -> Result:
    """``python -m wstool connect ARGS`` in pipe mode, to completion."""
    done = subprocess.run(
        [sys.executable, "-m", "wstool", "connect", *args],
        input=input.encode("utf-8"),
        capture_output=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
        env=env or clean_env(),
    )
    return Result(
        done.returncode,
        done.stdout.decode("utf-8", "replace"),
        done.stderr.decode("utf-8", "replace"),
    )


def lines(text: str) -> Sequence[str]:
    return text.splitlines()


WSCAT = PROJECT_ROOT / "tests" / "interop" / "node" / "node_modules" / ".bin" / "wscat"


def wscat_or_skip() -> str:
    """wscat from tests/interop/node (``npm ci`` installs it); a failure in CI, a skip elsewhere."""
    if WSCAT.exists():
        return str(WSCAT)
    if os.environ.get("CI") == "true":
        raise AssertionError(f"{WSCAT} is missing: npm ci in tests/interop/node")
    import pytest

    pytest.skip("wscat is not installed (npm ci in tests/interop/node)")


def run_wscat(*args: str, timeout: float = RUN_TIMEOUT) -> int:
    """``wscat ARGS`` to completion; its exit status.

    wscat prints messages only to a terminal (check the server's side), and
    quits when stdin ends: stdin stays open until it has exited.
    """
    process = subprocess.Popen(
        [wscat_or_skip(), *args],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=clean_env(),
    )
    try:
        return process.wait(timeout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        assert process.stdin is not None
        process.stdin.close()


def require_tool(name: str, also: Path | None = None) -> str:
    """The tool's path (and ``also`` must exist); a skip without it, but a failure in CI.

    .ci/run installs tmux and Node (npm ci installs ws and wscat), so in CI
    (CI=true) a missing one is an error, not a reason to skip.
    """
    import shutil

    import pytest

    found = shutil.which(name)
    if found is not None and (also is None or also.exists()):
        return found
    missing = name if found is None else str(also)
    if os.environ.get("CI") == "true":
        pytest.fail(f"{missing} is missing (CI installs it)")
    pytest.skip(f"{missing} is needed")
