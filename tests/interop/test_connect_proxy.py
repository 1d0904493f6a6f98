"""``wstool connect`` through an HTTP CONNECT proxy written here, to ``wstool serve``.

The proxy is a small asyncio server in a thread of the test process. It
records each CONNECT request (the request line and its headers), checks Basic
credentials when told to (407 otherwise), and then connects to 127.0.0.1 at
the requested port, whatever host name was asked for, and relays bytes both
ways. So ``ws://wstool-test.localhost:PORT/`` reaches the local server only
through the proxy, which is how proxies from the environment are exercised
(``proxy_for`` never proxies localhost, 127.0.0.1 or ::1).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))
from connect_harness import Peer, base_env, run_connect, serve_argv, start_peer

TEST_HOST = "wstool-test.localhost"
CONNECTION_FAILED = 5


@dataclass
class Tunnel:
    """One CONNECT request as the proxy received it."""

    request_line: str
    headers: dict[str, str]


@dataclass
class ConnectProxy:
    """An HTTP CONNECT proxy on 127.0.0.1; ``credentials`` ("user:pass") makes it demand Basic."""

    credentials: str | None = None
    tunnels: list[Tunnel] = field(default_factory=list)
    port: int = 0

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(self._relay(reader, writer), 30)
        except (OSError, asyncio.TimeoutError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1")
        request_line, *lines = head.split("\r\n")
        headers = {}
        for line in lines:
            name, sep, value = line.partition(":")
            if sep:
                headers[name.strip().lower()] = value.strip()
        self.tunnels.append(Tunnel(request_line, headers))
        method, authority, _ = request_line.split(" ", 2)
        if method != "CONNECT":
            writer.write(b"HTTP/1.1 405 Method Not Allowed\r\nContent-Length: 0\r\n\r\n")
            return
        if self.credentials is not None:
            expected = "Basic " + base64.b64encode(self.credentials.encode()).decode()
            if headers.get("proxy-authorization") != expected:
                writer.write(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\n"
                    b'Proxy-Authenticate: Basic realm="test"\r\nContent-Length: 0\r\n\r\n'
                )
                await writer.drain()
                return
        port = int(authority.rsplit(":", 1)[1])
        up_reader, up_writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            with contextlib.suppress(OSError):
                while data := await source.read(65536):
                    sink.write(data)
                    await sink.drain()
            with contextlib.suppress(OSError):
                sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer))


@pytest.fixture(scope="module")
def loop() -> Iterator[asyncio.AbstractEventLoop]:
    """An event loop running in a thread, for the proxies; stopped at teardown."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="connect-proxy", daemon=True)
    thread.start()
    yield loop
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


def start_proxy(
    loop: asyncio.AbstractEventLoop, credentials: str | None
) -> tuple[ConnectProxy, asyncio.AbstractServer]:
    proxy = ConnectProxy(credentials)

    async def listen() -> asyncio.AbstractServer:
        return await asyncio.start_server(proxy.handle, "127.0.0.1", 0)

    server = asyncio.run_coroutine_threadsafe(listen(), loop).result(10)
    proxy.port = server.sockets[0].getsockname()[1]
    return proxy, server


@pytest.fixture
def proxy(loop: asyncio.AbstractEventLoop) -> Iterator[ConnectProxy]:
    """An open proxy (no credentials); closed at teardown."""
    found, server = start_proxy(loop, None)
    yield found
    server.close()


@pytest.fixture
def auth_proxy(loop: asyncio.AbstractEventLoop) -> Iterator[ConnectProxy]:
    """A proxy that wants Basic user:s3cret; closed at teardown."""
    found, server = start_proxy(loop, "user:s3cret")
    yield found
    server.close()


@pytest.fixture(scope="module")
def server() -> Iterator[Peer]:
    """``wstool serve`` (plain ws://) on 127.0.0.1; killed at teardown."""
    peer = start_peer(serve_argv())
    yield peer
    peer.stop()


def test_explicit_proxy_with_credentials(auth_proxy: ConnectProxy, server: Peer) -> None:
    """--proxy http://user:pass@...: one CONNECT naming the server, with the credentials."""
    result = run_connect(
        server.url(), "--proxy", f"http://user:s3cret@127.0.0.1:{auth_proxy.port}", "-x", "via"
    )
    assert result.status == 0, result.explain()
    assert result.stdout == "via\n"
    assert len(auth_proxy.tunnels) == 1
    tunnel = auth_proxy.tunnels[0]
    assert tunnel.request_line == f"CONNECT 127.0.0.1:{server.port} HTTP/1.1"
    assert tunnel.headers["host"] == f"127.0.0.1:{server.port}"
    expected = "Basic " + base64.b64encode(b"user:s3cret").decode()
    assert tunnel.headers["proxy-authorization"] == expected


def test_explicit_proxy_without_credentials(proxy: ConnectProxy, server: Peer) -> None:
    """--proxy without userinfo: CONNECT carries no Proxy-Authorization."""
    result = run_connect(server.url(), "--proxy", f"http://127.0.0.1:{proxy.port}", "-x", "open")
    assert result.status == 0, result.explain()
    assert result.stdout == "open\n"
    assert [t.request_line for t in proxy.tunnels] == [f"CONNECT 127.0.0.1:{server.port} HTTP/1.1"]
    assert "proxy-authorization" not in proxy.tunnels[0].headers


@pytest.mark.parametrize("userinfo", ["", "user:wrong@"], ids=["none", "wrong"])
def test_proxy_407(auth_proxy: ConnectProxy, server: Peer, userinfo: str) -> None:
    """Missing or wrong proxy credentials: 407 -> exit 5 with one line naming the status."""
    result = run_connect(
        server.url(), "--proxy", f"http://{userinfo}127.0.0.1:{auth_proxy.port}", "-x", "hi"
    )
    assert result.status == CONNECTION_FAILED, result.explain()
    assert result.stderr == (
        "wstool connect: the proxy refused the tunnel: 407 Proxy Authentication Required\n"
    )
    assert len(auth_proxy.tunnels) == 1


def test_http_proxy_from_environment(auth_proxy: ConnectProxy, server: Peer) -> None:
    """http_proxy is used for ws:// to a non-loopback name; CONNECT names that host and port."""
    env = base_env(http_proxy=f"http://user:s3cret@127.0.0.1:{auth_proxy.port}")
    url = server.url(host=TEST_HOST)
    result = run_connect(url, "-x", "from env", "--json", env=env)
    assert result.status == 0, result.explain()
    assert [t.request_line for t in auth_proxy.tunnels] == [
        f"CONNECT {TEST_HOST}:{server.port} HTTP/1.1"
    ]
    opened = next(r for r in result.records if r["event"] == "open")
    assert f"Host: {TEST_HOST}:{server.port}\r\n" in opened["request"]


def test_https_proxy_is_not_for_ws(proxy: ConnectProxy, server: Peer) -> None:
    """https_proxy alone is not used for ws://: no CONNECT reaches the proxy."""
    env = base_env(https_proxy=f"http://127.0.0.1:{proxy.port}")
    result = run_connect(server.url(), "-x", "direct", env=env)
    assert result.status == 0, result.explain()
    assert proxy.tunnels == []


def test_loopback_is_never_proxied(proxy: ConnectProxy, server: Peer) -> None:
    """ws://127.0.0.1 goes direct even with http_proxy set."""
    env = base_env(http_proxy=f"http://127.0.0.1:{proxy.port}")
    result = run_connect(server.url(), "-x", "direct", env=env)
    assert result.status == 0, result.explain()
    assert proxy.tunnels == []


def test_no_proxy_is_respected(proxy: ConnectProxy, server: Peer) -> None:
    """A host listed in no_proxy goes direct: the proxy sees nothing.

    The name only resolves where *.localhost does (nss-myhostname); elsewhere
    the direct attempt fails to resolve, which is exit 5 with one line.
    """
    env = base_env(
        http_proxy=f"http://127.0.0.1:{proxy.port}", no_proxy=f"example.org, .{TEST_HOST}"
    )
    result = run_connect(
        server.url(host=TEST_HOST), "-x", "direct", "--connect-timeout", "5", env=env
    )
    assert proxy.tunnels == []
    if result.status != 0:
        assert result.status == CONNECTION_FAILED, result.explain()
        assert result.stderr == f"wstool connect: cannot resolve {TEST_HOST}\n", result.explain()


def test_no_proxy_option_ignores_environment(proxy: ConnectProxy, server: Peer) -> None:
    """--no-proxy ignores http_proxy: the proxy sees nothing."""
    env = base_env(http_proxy=f"http://127.0.0.1:{proxy.port}")
    result = run_connect(
        server.url(host=TEST_HOST), "--no-proxy", "-x", "x", "--connect-timeout", "5", env=env
    )
    assert proxy.tunnels == []
    assert result.status in (0, CONNECTION_FAILED), result.explain()


def test_https_proxy_for_wss(proxy: ConnectProxy, tmp_path: Path) -> None:
    """https_proxy carries wss://: CONNECT first, then TLS inside the tunnel, verified with --ca."""
    pytest.importorskip("cryptography", reason="cryptography makes the test certificate")
    from certs import make_ca, make_server_cert, write_pair

    ca = make_ca()
    ca_pem, _ = write_pair(tmp_path, "ca", ca)
    cert, key = write_pair(tmp_path, "server", make_server_cert(ca, [TEST_HOST]))
    tls_server = start_peer(serve_argv("--tls-cert", str(cert), "--tls-key", str(key)))
    try:
        env = base_env(https_proxy=f"http://127.0.0.1:{proxy.port}")
        url = tls_server.url("wss", TEST_HOST)
        result = run_connect(url, "--ca", str(ca_pem), "-x", "tls in a tunnel", env=env)
    finally:
        tls_server.stop()
    assert result.status == 0, result.explain()
    assert result.stdout == "tls in a tunnel\n"
    assert [t.request_line for t in proxy.tunnels] == [
        f"CONNECT {TEST_HOST}:{tls_server.port} HTTP/1.1"
    ]


def test_proxy_refused_connection(server: Peer) -> None:
    """A proxy address where nothing listens: exit 5, one line naming the proxy, not the server."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        dead_port = probe.getsockname()[1]
    result = run_connect(server.url(), "--proxy", f"http://127.0.0.1:{dead_port}", "-x", "hi")
    assert result.status == CONNECTION_FAILED, result.explain()
    assert result.stderr == (
        f"wstool connect: connection refused by 127.0.0.1:{dead_port} (the proxy)\n"
    )
