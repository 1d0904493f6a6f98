"""``wstool connect`` in-process, and its exit status: what counts as success.

The in-process runs put connect and an in-memory ``WebSocketSite`` on one
``MemoryReactorClock`` whose ``run()`` completes connections and pumps bytes
between them (Twisted's ``ConnectionCompleter``), so no socket is opened.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import pytest
from twisted.internet.testing import MemoryReactorClock
from twisted.test.iosim import ConnectionCompleter, IOPump

from wstool.cli import Environment, ExitStatus, main
from wstool.cli.connect import exit_status
from wstool.core.events import ConnectionClosed
from wstool.core.frames import Role
from wstool.net.server import ServerOptions, WebSocketSite
from wstool.net.wire import Timeouts


class PumpingReactor(MemoryReactorClock):
    """A memory reactor whose run() connects clients to servers and pumps until stopped."""

    def run(self, installSignalHandlers: bool = True) -> None:
        self.running = True
        self.hasRun = True
        for f, args, kwargs in self.whenRunningHooks:
            f(*args, **kwargs)
        completer = ConnectionCompleter(self)
        pumps: list[IOPump] = []
        for _ in range(5000):  # bounded: 5 simulated seconds
            if self.hasStopped:
                break
            pump = completer.succeedOnce()
            if pump is not None:
                pumps.append(pump)
            for each in pumps:
                each.pump()
            self.advance(0.001)
        self.running = False


class Silent:
    """A server observer that keeps the rejections it hears of."""

    wants_frames = False

    def __init__(self) -> None:
        self.rejections: list[tuple[int, str]] = []

    def opened(self, *args: Any) -> None:
        pass

    def events(self, *args: Any) -> None:
        pass

    def closed(self, *args: Any) -> None:
        pass

    def rejected(self, peer: str, request: bytes, status: int, reason: str) -> None:
        self.rejections.append((status, reason))


def connect(*argv: str, url: str = "ws://127.0.0.1:8765/", **server: Any) -> tuple[int, str, str]:
    """Run ``wstool connect ARGV`` against an in-memory serve site; status, stdout, stderr."""
    reactor = PumpingReactor()
    options = ServerOptions(timeouts=Timeouts(ping_interval=None), **server)
    reactor.listenTCP(8765, WebSocketSite(options, Silent(), reactor), interface="127.0.0.1")
    out, err = io.StringIO(), io.StringIO()
    env = Environment(stdin=io.StringIO(), stdout=out, stderr=err, no_color=True, reactor=reactor)
    status = main(["connect", url, *argv], env=env)
    return status, out.getvalue(), err.getvalue()


class TestInProcess:
    """connect's whole path, from options to exit status, with no network."""

    def test_echo(self) -> None:
        """Two -x messages come back, one per line; the close is clean: exit 0."""
        assert connect("-x", "hello", "-x", "world") == (0, "hello\nworld\n", "")

    def test_count(self) -> None:
        """--count 1 prints one of three replies."""
        assert connect("-x", "a", "-x", "b", "-x", "c", "--count", "1") == (0, "a\n", "")

    def test_json(self) -> None:
        """--json: NDJSON only on stdout, from the open to the close."""
        status, out, err = connect("-x", "hi", "--json")
        events = [json.loads(line)["event"] for line in out.splitlines()]
        assert (status, err) == (0, "")
        assert events[0] == "open" and events[-1] == "disconnect"

    def test_unusable_certificate_is_usage(self, tmp_path: Any) -> None:
        """--ca naming a file that is not PEM: one line, exit 2, before connecting."""
        bad = tmp_path / "ca.pem"
        bad.write_text("not a certificate\n")
        status, out, err = connect("-x", "hi", "--ca", str(bad), url="wss://127.0.0.1:8765/")
        assert (status, out) == (ExitStatus.USAGE, "")
        assert err.count("\n") == 1 and str(bad) in err and "Traceback" not in err

    def test_refused_handshake(self) -> None:
        """A 403 from the server: exit 3, the reason and the response head on stderr."""
        status, out, err = connect("-x", "hi", "--origin", "http://evil", origins=("http://ok",))
        assert (status, out) == (ExitStatus.HANDSHAKE_REJECTED, "")
        assert err.startswith("wstool connect: handshake refused: ")
        assert "  < HTTP/1.1 403 " in err


@dataclass
class Conn:
    failure: object = None


@dataclass
class Wire:
    close_event: ConnectionClosed | None


@dataclass
class Session:
    wire: Wire
    conn: Conn
    close_requested: tuple[int | None] | None = None


def session(
    closed: ConnectionClosed | None, *, asked: int | str | None = "no", failure: object = None
) -> Session:
    requested = None if asked == "no" else (asked,)
    return Session(Wire(closed), Conn(failure), requested)  # type: ignore[arg-type]


def closed(code: int, initiator: Role | None, clean: bool = True) -> ConnectionClosed:
    return ConnectionClosed(code, "", initiator, clean)


@pytest.mark.parametrize("code", [1000, 1001])
@pytest.mark.parametrize("initiator", [Role.CLIENT, Role.SERVER])
def test_normal_codes_either_way_are_success(code: int, initiator: Role) -> None:
    """1000 and 1001, closed cleanly by either side: exit 0."""
    assert exit_status(session(closed(code, initiator))) == ExitStatus.OK


@pytest.mark.parametrize("code", [4000, 3000, 1003, 1011, None])
def test_a_close_the_user_asked_for_is_success(code: int | None) -> None:
    """/close CODE with any valid code (or none), completed cleanly: exit 0."""
    received = 1005 if code is None else code
    assert exit_status(session(closed(received, Role.CLIENT), asked=code)) == ExitStatus.OK


def test_an_invalid_code_asked_for_is_not_success() -> None:
    """/close 1005 (a code no one may send): exit 6 even if the server answered."""
    assert exit_status(session(closed(1005, Role.CLIENT), asked=1005)) == 6


def test_server_started_close_with_another_code_is_6() -> None:
    """The server closes with 4000 on its own: exit 6."""
    assert exit_status(session(closed(4000, Role.SERVER))) == ExitStatus.ABNORMAL_CLOSURE


def test_server_started_close_while_we_asked_is_still_6() -> None:
    """Closes crossed: the server's Close came first with 4001; ours does not make it a success."""
    status = exit_status(session(closed(4001, Role.SERVER), asked=4000))
    assert status == ExitStatus.ABNORMAL_CLOSURE


def test_unclean_close_is_6() -> None:
    """The close we asked for but no Close came back: exit 6."""
    status = exit_status(session(closed(1006, Role.CLIENT, clean=False), asked=4000))
    assert status == ExitStatus.ABNORMAL_CLOSURE


def test_no_close_at_all_is_6() -> None:
    """The TCP connection just went: exit 6."""
    assert exit_status(session(None)) == ExitStatus.ABNORMAL_CLOSURE


def test_a_server_violation_is_4() -> None:
    """We failed the connection because the server broke a rule: exit 4."""
    assert exit_status(session(closed(1002, Role.CLIENT), failure=object())) == 4
