"""``wstool serve`` in-process: its Environment carries a MemoryReactorClock and streams."""

from __future__ import annotations

import io

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.testing import MemoryReactorClock, StringTransport

from wstool.cli import Environment, ExitStatus, main
from wstool.cli.serve import FILE_FLUSH_DELAY

UPGRADE = (
    b"GET /chat HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
# RFC 6455 §5.7: a masked "Hello" from the client.
MASKED_HELLO = bytes.fromhex("818537fa213d7f9f4d5158")


def serve(*argv: str) -> tuple[int, Environment, MemoryReactorClock]:
    reactor = MemoryReactorClock()
    env = Environment(
        stdin=io.StringIO(),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        no_color=True,
        reactor=reactor,
    )
    return main(["serve", "--ping-interval", "0", *argv], env=env), env, reactor


def output(env: Environment) -> str:
    stream = env.stdout
    assert isinstance(stream, io.StringIO)
    return stream.getvalue()


def test_listens_where_asked_and_says_so() -> None:
    """The endpoint is the one asked for, with a large backlog; the first line says where."""
    status, env, reactor = serve("--port", "0", "--host", "127.0.0.1")
    assert status == ExitStatus.OK
    [(port, _factory, backlog, interface)] = reactor.tcpServers
    assert (port, backlog, interface) == (0, 1024, "127.0.0.1")
    assert output(env).startswith("wstool serve: listening on ws://127.0.0.1:0/ (echo;")


def test_an_upgrade_and_an_echo_in_memory() -> None:
    """The site the command built upgrades a request and echoes a frame, logging both."""
    _, env, reactor = serve("--port", "0", "--no-deflate")
    factory = reactor.tcpServers[0][1]
    peer = IPv4Address("TCP", "127.0.0.1", 5555)
    protocol = factory.buildProtocol(peer)
    transport = StringTransport(peerAddress=peer, hostAddress=IPv4Address("TCP", "127.0.0.1", 1))
    protocol.makeConnection(transport)
    protocol.dataReceived(UPGRADE)
    assert transport.value().startswith(b"HTTP/1.1 101 Switching Protocols\r\n")
    transport.clear()
    protocol.dataReceived(MASKED_HELLO)
    assert transport.value() == b"\x81\x05Hello"
    reactor.advance(0)  # the log flushes once per turn of the reactor
    log = output(env)
    assert "#1 127.0.0.1:5555 connected: GET /chat HTTP/1.1" in log
    assert "#1 < TEXT" in log and "#1 > TEXT" in log


class Watched(io.StringIO):
    """An output stream that is (or is not) a terminal and counts its flushes."""

    def __init__(self, terminal: bool) -> None:
        super().__init__()
        self.terminal = terminal
        self.flushes = 0

    def isatty(self) -> bool:
        return self.terminal

    def flush(self) -> None:
        self.flushes += 1


@pytest.mark.parametrize(("terminal", "wait"), [(True, 0.0), (False, FILE_FLUSH_DELAY)])
def test_lines_are_flushed_each_turn_on_a_terminal_and_soon_into_a_file(
    terminal: bool, wait: float
) -> None:
    """A terminal sees each line at the end of the reactor's turn; a file or pipe
    within FILE_FLUSH_DELAY, one flush for all the lines of that time."""
    reactor = MemoryReactorClock()
    stdout = Watched(terminal)
    env = Environment(stdin=io.StringIO(), stdout=stdout, stderr=io.StringIO(), reactor=reactor)
    main(["serve", "-q", "--ping-interval", "0", "--port", "0", "--color", "never"], env=env)
    factory = reactor.tcpServers[0][1]
    for number in range(3):
        peer = IPv4Address("TCP", "127.0.0.1", 5555 + number)
        protocol = factory.buildProtocol(peer)
        protocol.makeConnection(StringTransport(peerAddress=peer))
        protocol.dataReceived(UPGRADE)
    before = stdout.flushes
    reactor.advance(0)
    if wait:
        reactor.advance(wait / 2)
        assert stdout.flushes == before  # not yet
        reactor.advance(wait / 2)
    assert stdout.flushes == before + 1
    assert stdout.getvalue().count("connected: GET /chat") == 3


def test_json_puts_the_listening_line_on_stderr() -> None:
    """With --json, stdout holds NDJSON only."""
    _, env, _ = serve("--port", "0", "--json")
    assert output(env) == ""
    assert isinstance(env.stderr, io.StringIO)
    assert "listening on ws://127.0.0.1:0/" in env.stderr.getvalue()


def test_tls_cert_without_key_is_usage() -> None:
    """--tls-cert alone: one line, exit 2, nothing listens."""
    status, env, reactor = serve("--tls-cert", "cert.pem")
    assert status == ExitStatus.USAGE
    assert isinstance(env.stderr, io.StringIO)
    assert env.stderr.getvalue() == "wstool serve: --tls-cert and --tls-key go together\n"
    assert reactor.tcpServers == [] and not reactor.hasRun


def test_unreadable_certificate_is_usage() -> None:
    """A missing certificate file: one line naming it, exit 2."""
    status, env, _ = serve("--tls-cert", "/nonexistent/cert.pem", "--tls-key", "/nonexistent/k")
    assert status == ExitStatus.USAGE
    assert isinstance(env.stderr, io.StringIO)
    err = env.stderr.getvalue()
    assert err.count("\n") == 1 and "/nonexistent/" in err and "Traceback" not in err
