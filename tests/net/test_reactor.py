"""Tests of :mod:`wstool.net.reactor` and of TCP_NODELAY on served connections.

The reactor tests run in a subprocess each: a reactor is installed once per
process, and the test process has its own. There, a real TCP server on
127.0.0.1 echoes and a protocol that raises is dropped and logged, as on
Twisted's own epoll reactor.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from types import SimpleNamespace

import pytest
from twisted.internet import tcp
from twisted.internet.testing import MemoryReactorClock

from wstool.net.server import ServerOptions, WebSocketSite, nodelay_listener

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="the lean reactor is epoll's"
)

SERVER = textwrap.dedent(
    """
    import socket, threading
    from twisted.python import log
    from twisted.internet.protocol import Factory, Protocol
    from wstool.net import reactor as lean

    assert lean.install()
    assert not lean.install(), "a second install must leave the first"
    from twisted.internet import reactor
    print(type(reactor).__name__)

    errors = []
    log.addObserver(
        lambda event: errors.append(event["failure"].value) if event.get("isError") else None
    )

    class Echo(Protocol):
        def dataReceived(self, data):
            if data == b"boom":
                raise RuntimeError("a handler that raises")
            self.transport.write(data)

    port = reactor.listenTCP(0, Factory.forProtocol(Echo), interface="127.0.0.1")
    address = ("127.0.0.1", port.getHost().port)

    def talk():
        with socket.create_connection(address, timeout=10) as bad:
            bad.sendall(b"boom")
            print("dropped:", bad.recv(10) == b"")
        with socket.create_connection(address, timeout=10) as good:
            good.sendall(b"hello")
            print("echo:", good.recv(10).decode())
        reactor.callFromThread(reactor.stop)

    reactor.callWhenRunning(lambda: threading.Thread(target=talk).start())
    reactor.callLater(20, reactor.stop)
    reactor.run()
    print("logged:", [str(error) for error in errors] == ["a handler that raises"])
    """
)


WITHOUT_C_WAIT = "import sys; sys.modules['wstool.net._echoloop'] = None\n"
"""Run as if net/_echoloop.c were not built: the reactor waits with select.epoll."""


@pytest.mark.parametrize("prelude", ["", WITHOUT_C_WAIT], ids=["c-wait", "python-wait"])
def test_the_lean_reactor_serves_and_drops_a_raising_protocol_as_twisted_does(
    prelude: str,
) -> None:
    check = "\nprint('echo table:', reactor.echo_table is not None)\n"
    done = subprocess.run(
        [sys.executable, "-c", prelude + SERVER + check],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split("\n")[:5] == [
        "LeanEPollReactor",
        "dropped: True",
        "echo: hello",
        "logged: True",
        f"echo table: {not prelude}",
    ], done.stdout + done.stderr


def test_install_leaves_an_installed_reactor_alone() -> None:
    code = (
        "from twisted.internet import selectreactor; selectreactor.install()\n"
        "from wstool.net import reactor as lean\n"
        "from twisted.internet import reactor\n"
        "print(lean.install(), type(reactor).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "False SelectReactor"


def test_serve_and_proxy_get_the_lean_reactor() -> None:
    code = (
        "from wstool.cli.env import Environment\n"
        "print(type(Environment().get_reactor()).__name__)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert done.stdout.strip() == "LeanEPollReactor"


# -- TCP_NODELAY ------------------------------------------------------------------


@pytest.fixture
def accepted() -> Iterator[tuple[socket.socket, socket.socket]]:
    """Both ends of a loopback TCP connection: the accepted one first."""
    listener = socket.create_server(("127.0.0.1", 0))
    peer = socket.create_connection(listener.getsockname())
    ours, _ = listener.accept()
    listener.close()
    ours.setblocking(False)
    yield ours, peer
    peer.close()
    ours.close()


def no_delay(sock: socket.socket) -> int:
    return sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)


def test_a_served_connection_sends_without_nagle(accepted) -> None:  # type: ignore[no-untyped-def]
    ours, _ = accepted
    assert no_delay(ours) == 0
    clock = MemoryReactorClock()
    site = WebSocketSite(ServerOptions(), observer=None, clock=clock)
    channel = site.buildProtocol(ours.getpeername())
    transport = tcp.Server(ours, channel, ours.getpeername(), None, 1, clock)  # type: ignore[arg-type]
    channel.makeConnection(transport)
    assert no_delay(ours) != 0
    channel.connectionLost(None)


def test_linux_accepted_sockets_inherit_the_listeners_nodelay() -> None:
    """What nodelay_listener relies on, checked on this kernel."""
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        with socket.create_connection(listener.getsockname()) as peer:
            ours, _ = listener.accept()
            with ours:
                assert no_delay(ours) != 0
                assert no_delay(peer) == 0


def test_a_listener_with_nodelay_spares_each_connection_its_setsockopt() -> None:
    clock = MemoryReactorClock()
    site = WebSocketSite(ServerOptions(), observer=None, clock=clock)
    with socket.create_server(("127.0.0.1", 0)) as listener:
        nodelay_listener(SimpleNamespace(socket=listener), site)
        assert no_delay(listener) != 0
        assert site.protocol.nodelay_inherited is True
        with socket.create_connection(listener.getsockname()):
            ours, _ = listener.accept()
            ours.setblocking(False)
            channel = site.buildProtocol(ours.getpeername())
            transport = tcp.Server(ours, channel, ours.getpeername(), None, 1, clock)  # type: ignore[arg-type]
            calls: list[bool] = []
            transport.setTcpNoDelay = calls.append  # type: ignore[method-assign]
            channel.makeConnection(transport)
            assert no_delay(ours) != 0, "a served connection must send without Nagle"
            assert calls == []
            channel.connectionLost(None)
            ours.close()


def test_nodelay_listener_leaves_other_sites_and_ports_alone() -> None:
    clock = MemoryReactorClock()
    site = WebSocketSite(ServerOptions(), observer=None, clock=clock)
    other = WebSocketSite(ServerOptions(), observer=None, clock=clock)
    nodelay_listener(SimpleNamespace(), site)  # a port without a socket (a Unix one, say)
    assert site.protocol.nodelay_inherited is False
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as unix:
        nodelay_listener(SimpleNamespace(socket=unix), site)
    assert site.protocol.nodelay_inherited is False
    with socket.create_server(("127.0.0.1", 0)) as listener:
        nodelay_listener(SimpleNamespace(socket=listener), site)
    assert other.protocol.nodelay_inherited is False
