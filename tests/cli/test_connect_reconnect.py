"""``wstool connect --reconnect`` and ``--on-connect``, seen from the server's side.

The server (websockets, in a thread) records each connection's messages; it
ends the first connection (a Close, or TCP cut without one) after the first
message, so the client must reconnect and send its preamble again.
"""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock
from twisted.python.failure import Failure
from websockets.sync.server import ServerConnection

from wstool.net.reconnect import Backoff, ReconnectingSession

from .connect_servers import PROJECT_ROOT, Visit, clean_env, echo_server, run_connect

CONNECTION_FAILED = 5


@pytest.mark.parametrize("how", ["close", "drop"])
def test_preamble_sent_again(how: str, tmp_path: Path) -> None:
    """After a 1001 Close, or TCP cut, the client reconnects and resends --on-connect."""
    record = tmp_path / "talk.session"
    with echo_server() as server:

        def end_the_first(connection: ServerConnection, text: str, visit: Visit) -> bool:
            connection.send(text)
            if visit is server.visits[0] and len(visit.messages) == 2:
                if how == "close":
                    connection.close(1001, "restarting")
                else:
                    connection.socket.shutdown(socket.SHUT_RDWR)
            return True

        server.react = end_the_first
        result = run_connect(
            f"ws://127.0.0.1:{server.port}/feed",
            "--reconnect",
            "--on-connect",
            '{"op": "sub"}',
            "--on-connect",
            "second",
            "--count",
            "4",
            "--record",
            str(record),
        )
    assert result.status == 0, result.explain()
    assert [v.messages for v in server.visits] == [['{"op": "sub"}', "second"]] * 2
    opens = [r for r in map(json.loads, record.read_text().splitlines()) if r["type"] == "open"]
    assert [r["conn"] for r in opens] == [1, 2]  # the --record file tells them apart
    assert result.stdout == '{"op": "sub"}\nsecond\n' * 2
    assert "reconnecting in" in result.stderr
    assert "wstool connect: reconnected (connection 2)" in result.stderr
    if how == "close":
        assert "closed 1001 GOING_AWAY; reconnecting in" in result.stderr
    else:
        assert "without a closing handshake; reconnecting in" in result.stderr


def test_on_connect_without_reconnect() -> None:
    """--on-connect alone: sent once, before stdin's lines."""
    with echo_server() as server:
        result = run_connect(
            f"ws://127.0.0.1:{server.port}/", "--on-connect", "hello", input="from stdin\n"
        )
    assert (result.status, result.stdout) == (0, "hello\nfrom stdin\n"), result.explain()
    assert server.visits[0].messages == ["hello", "from stdin"]


def test_gives_up_after_max_attempts() -> None:
    """Nothing listening: --reconnect-max 2 tries twice with a wait between, then exit 5."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_connect(f"ws://127.0.0.1:{port}/", "--reconnect", "--reconnect-max", "2")
    assert result.status == CONNECTION_FAILED, result.explain()
    lines = result.stderr.splitlines()
    assert lines[0].startswith(
        f"wstool connect: cannot connect: connection refused by 127.0.0.1:{port}; reconnecting in "
    )
    assert lines[-1] == f"wstool connect: connection refused by 127.0.0.1:{port}"


def test_user_close_does_not_reconnect() -> None:
    """End of input closes with 1000: no reconnection."""
    with echo_server() as server:
        result = run_connect(f"ws://127.0.0.1:{server.port}/", "--reconnect", "-x", "once")
    assert (result.status, result.stdout) == (0, "once\n"), result.explain()
    assert len(server.visits) == 1 and "reconnect" not in result.stderr


class TestBackoff:
    """The delays: doubling from 0.5 s to the cap, less up to half at random."""

    def test_without_jitter(self) -> None:
        backoff = Backoff(random=lambda: 0.0)
        assert [backoff.delay(n) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]

    def test_jitter_bounds(self) -> None:
        most = Backoff(random=lambda: 0.999999)
        assert 0.25 <= most.delay(1) < 0.2501
        assert 15.0 <= most.delay(20) < 15.01


class FakeSession:
    """A ClientSession that records what is sent; ``drop()`` ends it."""

    def __init__(self) -> None:
        self.sent: list[str] = []
        self.closed: Deferred[None] = Deferred()
        self.is_open = True
        self.answering: list[bool] = []

    def send_text(self, text: str) -> None:
        assert self.is_open
        self.sent.append(text)

    def answer_pings(self, on: bool) -> None:
        self.answering.append(on)

    def close(self, code: int | None = 1000, reason: str = "") -> None:
        self.drop()

    def drop(self) -> None:
        self.is_open = False
        self.closed.callback(None)


class TestInMemory:
    """ReconnectingSession on a MemoryReactorClock: timing, preamble, queued messages."""

    def test_timing_preamble_and_queue(self) -> None:
        clock = MemoryReactorClock()
        made: list[FakeSession] = []
        attempts: list[Deferred[Any]] = []

        def open_session() -> Deferred[Any]:
            attempts.append(Deferred())
            return attempts[-1]

        notes: list[str] = []
        session = ReconnectingSession(
            clock,
            open_session,
            preamble=["hello"],
            reconnect=True,
            backoff=Backoff(random=lambda: 0.0),
            notify=notes.append,
        )
        started = session.start()
        made.append(FakeSession())
        attempts[0].callback(made[0])
        assert started.called and made[0].sent == ["hello"]
        session.answer_pings(False)
        made[0].drop()
        session.send_text("typed while away")  # queued, not lost
        assert session.is_open and len(attempts) == 1
        clock.advance(0.49)
        assert len(attempts) == 1
        clock.advance(0.01)
        attempts[1].errback(Failure(ConnectionRefusedError("refused")))
        clock.advance(0.99)
        assert len(attempts) == 2  # the second wait is 1 s
        clock.advance(0.01)
        made.append(FakeSession())
        attempts[2].callback(made[1])
        assert made[1].sent == ["hello", "typed while away"]
        assert made[1].answering == [False]  # /pong off outlives the connection
        assert notes[-1] == "reconnected (connection 2)"
        session.close()
        assert session.closed.called and not session.is_open
        clock.advance(60)
        assert len(attempts) == 3


def test_gives_up_after_the_server_is_gone() -> None:
    """Connected once, then the server shuts down: 2 failed attempts, exit 5, said why."""
    with echo_server() as server:
        process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wstool",
                "connect",
                f"ws://127.0.0.1:{server.port}/",
                "--reconnect",
                "--reconnect-max",
                "2",
                "--on-connect",
                "hi",
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=PROJECT_ROOT,
            env=clean_env(),
        )
        deadline = time.monotonic() + 15
        while not (server.visits and server.visits[0].messages) and time.monotonic() < deadline:
            time.sleep(0.05)
    try:  # the server is gone (its connections closed with 1001); stdin stays open
        process.wait(20)
    finally:
        process.kill()
        stdout, stderr = process.communicate()
    assert (process.returncode, stdout) == (CONNECTION_FAILED, "hi\n"), stderr
    lines = stderr.splitlines()
    assert lines[0].startswith("wstool connect: closed 1001 GOING_AWAY; reconnecting in ")
    assert lines[-1].startswith("wstool connect: giving up after 2 failed attempts: connection ")
