"""The forward proxy in memory: the local CA, CONNECT, absolute-form requests, routes."""

from __future__ import annotations

import stat
from pathlib import Path
from typing import Any

import pytest
from twisted.internet.address import IPv4Address
from twisted.internet.defer import Deferred, succeed
from twisted.internet.testing import MemoryReactorClock, StringTransport

from wstool.core.errors import HandshakeError, UsageError
from wstool.core.http import parse_request_head
from wstool.net.ca import LocalCA, default_ca_dir
from wstool.net.forward import ForwardOptions, ForwardProxy, origin_form, terminated_upstream
from wstool.net.relay import Side
from wstool.net.tls import TLSSetupError

pytest.importorskip("cryptography")

UPGRADE = (
    b"GET ws://upstream.test:9000/chat HTTP/1.1\r\nHost: upstream.test:9000\r\n"
    b"Proxy-Connection: keep-alive\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def head_of(raw: bytes) -> Any:
    parsed = parse_request_head(raw)
    assert parsed is not None
    return parsed[0]


class TestLocalCA:
    def test_made_once_and_kept(self, tmp_path: Path) -> None:
        """The first run makes ca.pem and an owner-only key; the next run reuses them."""
        first = LocalCA(tmp_path / "ca")
        assert first.created
        assert stat.S_IMODE(first.key_path.stat().st_mode) == 0o600
        pem = first.cert_path.read_bytes()
        second = LocalCA(tmp_path / "ca")
        assert not second.created and second.cert_path.read_bytes() == pem

    def test_host_certificates_verify_against_the_ca(self, tmp_path: Path) -> None:
        """A certificate per host (a name or an address), signed by the CA, for serverAuth."""
        from OpenSSL import crypto

        ca = LocalCA(tmp_path)
        store = crypto.X509Store()
        store.add_cert(crypto.load_certificate(crypto.FILETYPE_PEM, ca.cert_path.read_bytes()))
        for host in ("example.test", "127.0.0.1"):
            cert, _ = ca._host_certificate(host)
            leaf = crypto.X509.from_cryptography(cert)
            crypto.X509StoreContext(store, leaf).verify_certificate()  # raises if not
        assert ca.server_options("example.test") is ca.server_options("example.test")

    def test_mismatched_files_are_one_error(self, tmp_path: Path) -> None:
        """A key that is not the certificate's: TLSSetupError naming the files."""
        LocalCA(tmp_path / "a")
        LocalCA(tmp_path / "b")
        (tmp_path / "a" / "ca-key.pem").write_bytes((tmp_path / "b" / "ca-key.pem").read_bytes())
        with pytest.raises(TLSSetupError, match="do not match"):
            LocalCA(tmp_path / "a")

    def test_default_directory(self) -> None:
        """$XDG_DATA_HOME/wstool, else ~/.local/share/wstool."""
        assert default_ca_dir({"XDG_DATA_HOME": "/data"}) == Path("/data/wstool")
        assert default_ca_dir({}) == Path.home() / ".local" / "share" / "wstool"


class TestRequests:
    def test_absolute_form_goes_upstream_in_origin_form(self) -> None:
        """GET ws://host:port/path -> GET /path to host:port, Proxy-* headers dropped."""
        host, port, secure, sent = origin_form(head_of(UPGRADE))
        assert (host, port, secure) == ("upstream.test", 9000, False)
        assert sent.startswith(b"GET /chat HTTP/1.1\r\nHost: upstream.test:9000\r\nUpgrade:")
        assert b"Proxy-Connection" not in sent

    def test_origin_form_to_a_forward_proxy_is_400(self) -> None:
        """A request for /path has nowhere to go: 400 that says so."""
        with pytest.raises(HandshakeError, match="forward proxy"):
            origin_form(head_of(UPGRADE.replace(b"ws://upstream.test:9000/chat", b"/chat")))

    def test_terminated_upstream(self) -> None:
        """--terminate: the URL a tunnel's request or an absolute-form one asks for."""
        in_tunnel = head_of(UPGRADE.replace(b"ws://upstream.test:9000/chat", b"/in?x=1"))
        assert str(terminated_upstream(in_tunnel, ("h.test", 443), True)) == "wss://h.test/in?x=1"
        absolute = terminated_upstream(head_of(UPGRADE), None, False)
        assert str(absolute) == "ws://upstream.test:9000/chat"
        with pytest.raises(UsageError, match="forward proxy"):
            terminated_upstream(in_tunnel, None, False)


class Forward:
    """A forward proxy with one client connected; upstream connections are StringTransports."""

    def __init__(self, tmp_path: Path) -> None:
        from test_proxy import Recorder

        self.recorder = Recorder()
        self.proxy = ForwardProxy(
            ForwardOptions(ca=LocalCA(tmp_path)), self.recorder, MemoryReactorClock()
        )
        self.targets: list[tuple[str, int, bool]] = []
        self.upstream_transport = StringTransport()
        self.upstream: Side | None = None
        self.proxy._connect = self._connect  # type: ignore[method-assign]
        address = IPv4Address("TCP", "127.0.0.1", 5555)
        self.front: Any = self.proxy.buildProtocol(address)
        self.transport = StringTransport(peerAddress=address)
        self.front.makeConnection(self.transport)

    def _connect(self, side: Side, host: str, port: int, secure: bool) -> Deferred[Any]:
        self.targets.append((host, port, secure))
        self.upstream = side
        side.makeConnection(self.upstream_transport)
        return succeed(None)


def test_connect_tunnel_in_the_clear(tmp_path: Path) -> None:
    """CONNECT, 200, then a plain upgrade in the tunnel goes to the CONNECT target as is."""
    forward = Forward(tmp_path)
    forward.front.dataReceived(b"CONNECT 127.0.0.1:9001 HTTP/1.1\r\nHost: 127.0.0.1:9001\r\n\r\n")
    assert forward.transport.value() == b"HTTP/1.1 200 Connection established\r\n\r\n"
    request = UPGRADE.replace(b"ws://upstream.test:9000/chat", b"/chat")
    forward.front.dataReceived(request)
    assert forward.targets == [("127.0.0.1", 9001, False)]
    assert forward.upstream_transport.value() == request
    assert forward.recorder.requests[0][0] == request


def test_absolute_form_upgrade(tmp_path: Path) -> None:
    """GET ws://... goes to that host in origin form."""
    forward = Forward(tmp_path)
    forward.front.dataReceived(UPGRADE)
    assert forward.targets == [("upstream.test", 9000, False)]
    assert forward.upstream_transport.value().startswith(b"GET /chat HTTP/1.1\r\n")


def test_plain_http_is_relayed_untouched(tmp_path: Path) -> None:
    """A request that is no upgrade: relayed both ways as is, nothing decoded."""
    forward = Forward(tmp_path)
    forward.front.dataReceived(b"CONNECT example.test:80 HTTP/1.1\r\n\r\n")
    forward.transport.clear()
    forward.front.dataReceived(b"GET / HTTP/1.1\r\nHost: example.test\r\n\r\n")
    assert forward.upstream is not None
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"
    forward.upstream.dataReceived(answer)
    forward.upstream.dataReceived(b"\x81\x05later")  # not parsed: not a WebSocket
    assert forward.transport.value() == answer + b"\x81\x05later"
    assert forward.recorder.found == [] and not forward.transport.disconnecting


def test_bad_connect_target_is_400(tmp_path: Path) -> None:
    """CONNECT without a port: 400 and one line."""
    forward = Forward(tmp_path)
    forward.front.dataReceived(b"CONNECT example.test HTTP/1.1\r\n\r\n")
    assert forward.transport.value().startswith(b"HTTP/1.1 400 ")
    assert forward.recorder.failures[0][0] == 400
