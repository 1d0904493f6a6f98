"""``wstool connect`` over wss:// against ``wstool serve --tls-cert --tls-key``.

The certificates are made here with ``cryptography``: a private CA, a server
certificate it signs for ``localhost`` and ``127.0.0.1``, an expired one, one
for another host name, and a self-signed one. What is checked is what a user
sees: exit status 0 when the certificate is trusted (``--ca``) or not checked
(``--insecure``), and otherwise exit 5 with one stderr line naming the reason.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

pytest.importorskip("cryptography", reason="cryptography makes the test certificates")
pytest.importorskip("OpenSSL", reason="wss:// needs pyOpenSSL (twisted[tls])")
sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))
from certs import DAY, NOW, make_ca, make_server_cert, write_pair
from connect_harness import Peer, Result, run_connect, serve_argv, start_peer

CONNECTION_FAILED = 5


@dataclass
class Pki:
    """The files the tests use."""

    ca: Path
    good: tuple[Path, Path]
    expired: tuple[Path, Path]
    wrong_host: tuple[Path, Path]
    self_signed: tuple[Path, Path]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> Pki:
    """A CA and four server certificates, written to a temporary directory."""
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    ca_pem, _ = write_pair(directory, "ca", ca)
    hosts = ["localhost", "127.0.0.1"]
    return Pki(
        ca=ca_pem,
        good=write_pair(directory, "good", make_server_cert(ca, hosts)),
        expired=write_pair(
            directory,
            "expired",
            make_server_cert(ca, hosts, not_before=NOW - 30 * DAY, not_after=NOW - DAY),
        ),
        wrong_host=write_pair(directory, "wrong", make_server_cert(ca, ["other.example"])),
        self_signed=write_pair(directory, "self", make_server_cert(None, hosts)),
    )


@pytest.fixture(scope="module")
def tls_serve(pki: Pki) -> Iterator[Callable[[str], Peer]]:
    """Start ``wstool serve`` over TLS with one of the certificates; one server per kind."""
    started: dict[str, Peer] = {}

    def start(kind: str) -> Peer:
        if kind not in started:
            cert, key = getattr(pki, kind)
            started[kind] = start_peer(serve_argv("--tls-cert", str(cert), "--tls-key", str(key)))
        return started[kind]

    yield start
    for peer in started.values():
        peer.stop()


def one_line_failure(result: Result) -> str:
    """Exit 5 and exactly one line on stderr; returns that line."""
    assert result.status == CONNECTION_FAILED, result.explain()
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.explain()
    assert result.stdout == "", result.explain()
    return lines[0]


def test_trusted_with_ca(tls_serve: Callable[[str], Peer], pki: Pki) -> None:
    """wss://localhost with --ca: the certificate verifies, the echo works, exit 0."""
    peer = tls_serve("good")
    result = run_connect(peer.url("wss", "localhost"), "--ca", str(pki.ca), "-x", "secure ✓")
    assert result.status == 0, result.explain()
    assert result.stdout == "secure ✓\n"


def test_trusted_ip_address(tls_serve: Callable[[str], Peer], pki: Pki) -> None:
    """wss://127.0.0.1 with --ca verifies against the certificate's IP address entry."""
    peer = tls_serve("good")
    result = run_connect(peer.url("wss", "127.0.0.1"), "--ca", str(pki.ca), "-x", "ip")
    assert result.status == 0, result.explain()
    assert result.stdout == "ip\n"


def test_deflate_over_tls(tls_serve: Callable[[str], Peer], pki: Pki) -> None:
    """permessage-deflate is negotiated and used inside TLS as well."""
    peer = tls_serve("good")
    result = run_connect(
        peer.url("wss", "localhost"), "--ca", str(pki.ca), "-x", "zip " * 100, "--json"
    )
    assert result.status == 0, result.explain()
    opened = next(r for r in result.records if r["event"] == "open")
    assert "Sec-WebSocket-Extensions: permessage-deflate" in opened["response"]
    assert any(r["event"] == "message" and r["compressed"] for r in result.records)


def test_untrusted_ca_without_ca_option(tls_serve: Callable[[str], Peer]) -> None:
    """Without --ca the private CA is unknown: exit 5, one line saying it is not trusted."""
    peer = tls_serve("good")
    line = one_line_failure(run_connect(peer.url("wss", "localhost"), "-x", "hi"))
    assert line.startswith("wstool connect: TLS: "), line
    assert "not from a trusted CA" in line, line
    assert "--ca" in line and "--insecure" in line, line


def test_self_signed(tls_serve: Callable[[str], Peer]) -> None:
    """A self-signed server certificate: exit 5, one line saying self-signed."""
    peer = tls_serve("self_signed")
    line = one_line_failure(run_connect(peer.url("wss", "localhost"), "-x", "hi"))
    assert "self-signed" in line, line


def test_insecure_skips_verification(tls_serve: Callable[[str], Peer]) -> None:
    """--insecure connects to an untrusted (self-signed) server: exit 0."""
    peer = tls_serve("self_signed")
    result = run_connect(peer.url("wss", "localhost"), "--insecure", "-x", "anyway")
    assert result.status == 0, result.explain()
    assert result.stdout == "anyway\n"


def test_wrong_host_name(tls_serve: Callable[[str], Peer], pki: Pki) -> None:
    """A trusted certificate for another name: exit 5, 'not valid for localhost'."""
    peer = tls_serve("wrong_host")
    line = one_line_failure(
        run_connect(peer.url("wss", "localhost"), "--ca", str(pki.ca), "-x", "hi")
    )
    assert "not valid for localhost" in line, line


def test_expired(tls_serve: Callable[[str], Peer], pki: Pki) -> None:
    """A trusted but expired certificate: exit 5, one line naming the expiry."""
    peer = tls_serve("expired")
    line = one_line_failure(
        run_connect(peer.url("wss", "localhost"), "--ca", str(pki.ca), "-x", "hi")
    )
    assert "expired" in line, line


def test_insecure_accepts_expired_and_wrong_host(tls_serve: Callable[[str], Peer]) -> None:
    """--insecure also accepts an expired certificate and one for another host."""
    for kind in ("expired", "wrong_host"):
        result = run_connect(tls_serve(kind).url("wss", "localhost"), "--insecure", "-x", kind)
        assert result.status == 0, result.explain()
        assert result.stdout == f"{kind}\n"


def test_plain_ws_to_a_tls_server(tls_serve: Callable[[str], Peer]) -> None:
    """ws:// to a TLS port fails to connect or is refused; it never hangs or exits 0."""
    peer = tls_serve("good")
    result = run_connect(peer.url("ws", "127.0.0.1"), "-x", "hi", "--connect-timeout", "5")
    assert result.status in (3, CONNECTION_FAILED), result.explain()
    assert result.stderr.startswith("wstool connect: "), result.explain()


def test_missing_ca_file_is_usage_error(tmp_path: Path) -> None:
    """--ca naming a file that does not exist is a usage error (exit 2), before connecting."""
    missing = tmp_path / "nope.pem"
    result = run_connect("wss://localhost:1/", "--ca", str(missing), "-x", "hi")
    assert result.status == 2, result.explain()
    assert f"cannot read --ca '{missing}'" in result.stderr


def test_bad_client_certificate_fails_at_once(tmp_path: Path) -> None:
    """A --cert that is not a certificate and key: one line and exit 2 (bad usage), no hang."""
    bad = tmp_path / "bad.pem"
    bad.write_text("not a certificate\n")
    result = run_connect("wss://localhost:1/", "--cert", str(bad), "-x", "hi", timeout=15)
    assert result.status == 2, result.explain()
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.explain()
    assert lines[0].startswith("wstool connect: "), result.explain()
