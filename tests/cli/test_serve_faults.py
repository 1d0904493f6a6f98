"""``wstool serve`` fault injection seen from real clients over loopback.

Each fault is watched from the websockets library (sync client) and from
Node's ``ws`` (tests/interop/node/ws_fault_client.js) against a ``wstool
serve`` subprocess with ``--json``, whose log must say when the fault took
effect. Option errors are checked in-process.
"""

from __future__ import annotations

import io
import json
import logging
import os
import shutil
import subprocess
import time
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.testing import MemoryReactorClock

from wstool.cli import Environment, ExitStatus, main

from .serve_support import Served, served

websockets_sync = pytest.importorskip("websockets.sync.client")
from websockets.exceptions import ConnectionClosed  # noqa: E402

NODE_DIR = Path(__file__).resolve().parents[1] / "interop" / "node"
FAULT_CLIENT = NODE_DIR / "ws_fault_client.js"
IN_CI = os.environ.get("CI") == "true"


@pytest.fixture(scope="module")
def servers() -> Iterator[Any]:
    """Servers by their options, started once for the module and stopped at its end."""
    running: dict[tuple[str, ...], Served] = {}
    with ExitStack() as stack:

        def server(*args: str) -> Served:
            if args not in running:
                running[args] = stack.enter_context(served(*args))
            return running[args]

        yield server


def connect(server: Served, **kwargs: Any) -> Any:
    return websockets_sync.connect(
        server.url, open_timeout=10, compression=None, close_timeout=2, **kwargs
    )


def fault_lines(server: Served, text: str) -> list[dict[str, Any]]:
    found = server.wait_for(
        lambda records: any(
            r.get("event") == "fault" and text in r.get("text", "") for r in records
        )
    )
    return [r for r in found if r.get("event") == "fault"]


class TestWithWebsockets:
    """The websockets library as the client under test."""

    def test_inhibit_pongs(self, servers: Any) -> None:
        """--inhibit-pongs 2: two Pings answered, the third never."""
        server = servers("--inhibit-pongs", "2")
        with connect(server) as ws:
            for payload in (b"one", b"two"):
                assert ws.ping(payload).wait(5)
            assert not ws.ping(b"three").wait(0.5)
            ws.send("still open")
            assert ws.recv(timeout=5) == "still open"
        fault_lines(server, "no more Pongs (--inhibit-pongs)")

    def test_delay_keeps_order(self, servers: Any) -> None:
        """--delay 300: echoes come 0.3 s late, in the order sent."""
        server = servers("--delay", "300")
        with connect(server) as ws:
            started = time.monotonic()
            for text in ("a", "b", "c"):
                ws.send(text)
            echoes = [ws.recv(timeout=5) for _ in range(3)]
            elapsed = time.monotonic() - started
        assert echoes == ["a", "b", "c"]
        assert 0.3 <= elapsed < 3, elapsed
        fault_lines(server, "holding each reply 300 ms (--delay)")

    def test_close_after_with_code(self, servers: Any) -> None:
        """--close-after 2 --close-code 4001: two echoes, then the server's Close 4001."""
        server = servers("--close-after", "2", "--close-code", "4001")
        with connect(server) as ws:
            ws.send("1")
            ws.send("2")
            assert [ws.recv(timeout=5), ws.recv(timeout=5)] == ["1", "2"]
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
        assert closed.value.rcvd is not None
        assert (closed.value.rcvd.code, closed.value.rcvd.reason) == (4001, "--close-after 2")
        fault_lines(server, "closing with 4001 after 2 messages (--close-after)")

    def test_drop_after(self, servers: Any) -> None:
        """--drop-after 2: two echoes, then TCP gone with no Close frame."""
        server = servers("--drop-after", "2")
        with connect(server) as ws:
            ws.send("1")
            ws.send("2")
            assert [ws.recv(timeout=5), ws.recv(timeout=5)] == ["1", "2"]
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=5)
        assert closed.value.rcvd is None  # no Close frame came
        fault_lines(server, "dropping TCP after 2 messages, no Close frame (--drop-after)")
        server.wait_for(
            lambda records: any(
                r.get("event") == "disconnect" and "--drop-after" in r.get("cause", "")
                for r in records
            )
        )

    def test_fragment(self, servers: Any, caplog: pytest.LogCaptureFixture) -> None:
        """--fragment 3: the echo arrives as TEXT + 2 CONT frames, whole and valid UTF-8."""
        server = servers("--fragment", "3")
        logger = logging.getLogger("test_serve_faults.frames")
        with (
            caplog.at_level(logging.DEBUG, logger=logger.name),
            connect(server, logger=logger) as ws,
        ):
            ws.send("héllo ✓")
            assert ws.recv(timeout=5) == "héllo ✓"
        received = [r.getMessage() for r in caplog.records if r.getMessage().startswith("< ")]
        kinds = [line.split()[1] for line in received if line.split()[1] in ("TEXT", "CONT")]
        assert kinds == ["TEXT", "CONT", "CONT"], received
        fault_lines(server, "sending each reply in 3 frames (--fragment)")

    def test_slow_read(self, servers: Any) -> None:
        """--slow-read 256KiB: a 128 KiB message takes about half a second to be read."""
        server = servers("--slow-read", "256KiB", "--max-message-size", "1MiB")
        payload = bytes(128 * 1024)
        with connect(server, max_size=2**20) as ws:
            started = time.monotonic()
            ws.send(payload)
            assert ws.recv(timeout=10) == payload
            elapsed = time.monotonic() - started
        assert 0.35 <= elapsed < 5, elapsed
        fault_lines(server, "reading 262144 bytes/s at most (--slow-read)")

    def test_faults_around_a_program(self, servers: Any, caplog: pytest.LogCaptureFixture) -> None:
        """--exec cat --delay 200 --fragment 2: the program's lines come late and in 2 frames."""
        server = servers("--exec", "cat", "--delay", "200", "--fragment", "2")
        logger = logging.getLogger("test_serve_faults.exec")
        with (
            caplog.at_level(logging.DEBUG, logger=logger.name),
            connect(server, logger=logger) as ws,
        ):
            started = time.monotonic()
            ws.send("line one")
            assert ws.recv(timeout=5) == "line one"
            assert time.monotonic() - started >= 0.2
        received = [r.getMessage() for r in caplog.records if r.getMessage().startswith("< ")]
        kinds = [line.split()[1] for line in received if line.split()[1] in ("TEXT", "CONT")]
        assert kinds == ["TEXT", "CONT"], received


def _node() -> str:
    node_exe = shutil.which("node")
    if node_exe is None or not (NODE_DIR / "node_modules" / "ws" / "package.json").is_file():
        message = "node and tests/interop/node/node_modules (npm ci) are needed"
        if IN_CI:
            pytest.fail(message)
        pytest.skip(message)
    return node_exe


def node_client(server: Served, scenario: str) -> dict[str, Any]:
    completed = subprocess.run(
        [_node(), str(FAULT_CLIENT), server.url, scenario],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert completed.returncode == 0, (completed.stdout, completed.stderr, server.output())
    return json.loads(completed.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


class TestWithNodeWs:
    """Node's ws as the client under test."""

    def test_inhibit_pongs(self, servers: Any) -> None:
        report = node_client(servers("--inhibit-pongs", "2"), "pings")
        assert (report["pings"], report["pongs"]) == (5, 2)

    def test_close_after(self, servers: Any) -> None:
        report = node_client(servers("--close-after", "3", "--close-code", "4002"), "messages")
        assert report["echoes"] == ["m1", "m2", "m3"]
        assert report["close"] == {"code": 4002, "reason": "--close-after 3"}

    def test_drop_after(self, servers: Any) -> None:
        """ws reports 1006: the connection ended without a Close frame."""
        report = node_client(servers("--drop-after", "2"), "messages")
        assert report["echoes"] == ["m1", "m2"]
        assert report["close"]["code"] == 1006

    def test_delay(self, servers: Any) -> None:
        report = node_client(servers("--delay", "300"), "delay")
        assert report["echoes"] == ["a", "b", "c"]
        assert report["elapsed_ms"] >= 300

    def test_fragment(self, servers: Any) -> None:
        """Frames cut inside multi-byte characters: ws reassembles valid text."""
        report = node_client(servers("--fragment", "4"), "fragment")
        assert report["echoes"] == ["héllo wörld ✓"]

    def test_slow_read(self, servers: Any) -> None:
        """--slow-read 64KiB: after 1 s most of 32 MiB still waits in ws.bufferedAmount."""
        report = node_client(servers("--slow-read", "64KiB"), "slow")
        assert report["buffered_after_1s"] > 16 * 2**20, report
        assert report["echoed_bytes"] <= 3 * 65536, report


def run_serve(*argv: str) -> tuple[int, str, MemoryReactorClock]:
    reactor = MemoryReactorClock()
    env = Environment(
        stdin=io.StringIO(),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        no_color=True,
        reactor=reactor,
    )
    status = main(["serve", "--port", "0", *argv], env=env)
    assert isinstance(env.stderr, io.StringIO)
    return status, env.stderr.getvalue(), reactor


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (("--close-after", "1", "--close-code", "1006"), "not a close code a server may send"),
        (("--close-after", "1", "--close-code", "2999"), "not a close code a server may send"),
        (("--close-code", "4000"), "--close-code goes with --close-after N"),
        (("--fragment", "0"), "not a number of frames"),
        (("--delay", "-5"), "not a delay in milliseconds"),
        (("--slow-read", "0"), "not a rate"),
        (("--drop-after", "x"), "not a count"),
        (("--mode", "broadcast", "--drop-after", "1"), "not with --mode broadcast"),
    ],
)
def test_bad_fault_options_are_one_line(argv: tuple[str, ...], message: str) -> None:
    """A bad fault option: exit 2, one line naming it, nothing listens."""
    status, stderr, reactor = run_serve(*argv)
    assert status == ExitStatus.USAGE
    assert message in stderr and stderr.count("\n") == 1, stderr
    assert reactor.tcpServers == []
