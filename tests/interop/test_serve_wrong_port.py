"""Clients on the wrong kind of port, over real loopback sockets: both sides say so at once.

``wss://`` to a plain ``wstool serve`` and ``ws://`` to one with TLS used to wait
for the 10 s connect timeout (or the handshake timeout) with nothing logged.
Here ``wstool connect`` and raw sockets meet ``wstool serve`` (subprocesses on
127.0.0.1, port 0); every check is bounded well under those timeouts.
"""

from __future__ import annotations

import socket
import ssl
import sys
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))
from connect_harness import Peer, run_connect, start_peer

CONNECTION_FAILED = 5
HANDSHAKE_REJECTED = 3
FAST = 3.0
"""Seconds: far below the 10 s connect and handshake timeouts these cases used to wait for."""


def serve(*extra: str) -> Peer:
    """``wstool serve`` on 127.0.0.1, port 0, logging refusals (not -q)."""
    argv = [sys.executable, "-m", "wstool", "serve", "--host", "127.0.0.1", "--port", "0"]
    return start_peer([*argv, "--ping-interval", "0", "--color", "never", *extra])


def wait_for_line(peer: Peer, needle: str, timeout: float = FAST) -> str:
    """The first line of the server's output containing ``needle``, within ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for line in list(peer.lines):
            if needle in line:
                return line
        time.sleep(0.02)
    pytest.fail(f"serve did not log {needle!r} within {timeout} s:\n{peer.output()}")


def exchange(port: int, data: bytes, timeout: float = FAST) -> bytes:
    """Send ``data`` on a fresh connection and read until the server closes."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(data)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(scope="module")
def plain() -> Iterator[Peer]:
    """A plain ws:// server."""
    peer = serve()
    yield peer
    peer.stop()


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA and a server certificate for 127.0.0.1 it signs."""
    pytest.importorskip("cryptography", reason="cryptography makes the test certificates")
    from certs import make_ca, make_server_cert, write_pair

    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    ca_pem, _ = write_pair(directory, "ca", ca)
    cert, key = write_pair(directory, "good", make_server_cert(ca, ["localhost", "127.0.0.1"]))
    return {"ca": ca_pem, "cert": cert, "key": key}


@pytest.fixture(scope="module")
def secure(pki: dict[str, Path]) -> Iterator[Peer]:
    """A wss:// server."""
    pytest.importorskip("OpenSSL", reason="wss:// needs pyOpenSSL (twisted[tls])")
    peer = serve("--tls-cert", str(pki["cert"]), "--tls-key", str(pki["key"]))
    yield peer
    peer.stop()


def test_wss_to_a_ws_port_fails_at_once_on_both_sides(plain: Peer) -> None:
    """wss:// to a plain port: exit 5 naming the cause in < 3 s; serve logs a ClientHello."""
    started = time.monotonic()
    result = run_connect(plain.url("wss"), "-x", "hi", timeout=10)
    elapsed = time.monotonic() - started
    assert result.status == CONNECTION_FAILED, result.explain()
    assert elapsed < FAST, f"took {elapsed:.2f} s\n{result.explain()}"
    assert result.stderr.strip() == (
        "wstool connect: TLS handshake failed: the server does not speak TLS on this port "
        "(is it a ws:// server?)"
    ), result.explain()
    line = wait_for_line(plain, "TLS ClientHello")
    assert "refused: 400 a TLS ClientHello where HTTP was expected: the client used wss://" in line


def test_raw_client_hello_gets_a_plain_400_at_once(plain: Peer) -> None:
    """A ClientHello's first bytes on a plain port: a plain-text 400 and a close, not a wait."""
    hello = bytes.fromhex("16030100c8010000c40303") + b"\x00" * 60
    started = time.monotonic()
    answer = exchange(plain.port, hello)
    assert time.monotonic() - started < FAST
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert answer.endswith(b"\r\n\r\nthis port speaks ws:// (plain HTTP), not TLS\n"), answer


def test_plain_get_of_another_path_is_400_and_logged(plain: Peer) -> None:
    """GET /favicon.ico without an upgrade: 400 with a one-line reason, and a log line."""
    answer = exchange(plain.port, b"GET /favicon.ico HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 400 Bad Request\r\n"), answer
    assert body == (
        b"not a WebSocket upgrade: missing Upgrade: websocket "
        b"(any path upgrades; / is the browser console)\n"
    )
    line = wait_for_line(plain, "not a WebSocket upgrade")
    assert "refused: 400 not a WebSocket upgrade" in line
    assert wait_for_line(plain, "< GET /favicon.ico HTTP/1.1")


def test_console_page_is_still_served(plain: Peer) -> None:
    """GET / without an upgrade still gets the browser console."""
    answer = exchange(plain.port, b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 200 OK\r\n"), answer[:200]
    assert b"<html" in answer


def test_ws_to_a_wss_port_fails_at_once_on_both_sides(secure: Peer) -> None:
    """connect ws:// to a TLS port: refused with "use wss://" in < 3 s; serve logs plain HTTP."""
    started = time.monotonic()
    result = run_connect(secure.url("ws"), "-x", "hi", timeout=10)
    elapsed = time.monotonic() - started
    assert result.status == HANDSHAKE_REJECTED, result.explain()
    assert elapsed < FAST, f"took {elapsed:.2f} s\n{result.explain()}"
    assert "this port speaks TLS: use wss://" in result.stderr, result.explain()
    line = wait_for_line(secure, "plain HTTP where TLS was expected")
    assert "the client used ws:// on a wss:// port" in line


def test_tls_port_still_speaks_tls_with_alpn(secure: Peer, pki: dict[str, Path]) -> None:
    """A client offering h2 and http/1.1 (as browsers and curl do) gets http/1.1 and the page."""
    context = ssl.create_default_context(cafile=str(pki["ca"]))
    context.set_alpn_protocols(["h2", "http/1.1"])
    with (
        socket.create_connection(("127.0.0.1", secure.port), timeout=FAST) as raw,
        context.wrap_socket(raw, server_hostname="127.0.0.1") as sock,
    ):
        assert sock.selected_alpn_protocol() == "http/1.1"
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    assert data.startswith(b"HTTP/1.1 200 OK\r\n"), data[:200]


def test_wss_to_a_wss_port_works(secure: Peer, pki: dict[str, Path]) -> None:
    """The ordinary case is untouched: wss:// with the CA echoes and exits 0."""
    result = run_connect(secure.url("wss"), "--ca", str(pki["ca"]), "-x", "secure", timeout=15)
    assert result.status == 0, result.explain()
    assert result.stdout == "secure\n"


@pytest.fixture
def tls_answering_server() -> Iterator[Callable[[], int]]:
    """A raw server that answers whatever comes with a TLS alert record, as TLS servers do."""
    listener = socket.create_server(("127.0.0.1", 0))
    listener.settimeout(FAST)
    stop = threading.Event()

    def run() -> None:
        try:
            conn, _ = listener.accept()
        except OSError:
            return
        with conn:
            conn.settimeout(FAST)
            try:
                conn.recv(65536)
                # RFC 8446 §6: a fatal (2) protocol_version (70) alert, TLS 1.2 record.
                conn.sendall(b"\x15\x03\x03\x00\x02\x02\x46")
                stop.wait(FAST)
            except OSError:
                pass

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    yield lambda: int(listener.getsockname()[1])
    stop.set()
    listener.close()
    thread.join(FAST)


def test_ws_client_reading_tls_says_use_wss(tls_answering_server: Callable[[], int]) -> None:
    """A TLS record where the 101 was due: exit 5, "the server answered with TLS: use wss://"."""
    started = time.monotonic()
    result = run_connect(f"ws://127.0.0.1:{tls_answering_server()}/", "-x", "hi", timeout=10)
    elapsed = time.monotonic() - started
    assert result.status == CONNECTION_FAILED, result.explain()
    assert elapsed < FAST, f"took {elapsed:.2f} s"
    assert result.stderr.strip() == ("wstool connect: the server answered with TLS: use wss://"), (
        result.explain()
    )
