"""``wstool serve -H`` on the 101 and ``--tls-client-ca`` (mutual TLS), seen by real clients."""

from __future__ import annotations

import datetime
import ipaddress
import ssl
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from .serve_support import run_wstool, served

websockets_sync = pytest.importorskip("websockets.sync.client")


def _opened(records: list[dict[str, Any]]) -> bool:
    return any(r["event"] == "open" for r in records)


from websockets.exceptions import ConnectionClosed, InvalidMessage  # noqa: E402

NOW = datetime.datetime.now(datetime.timezone.utc)
DAY = datetime.timedelta(days=1)


# -- -H --------------------------------------------------------------------------


def test_response_headers_reach_a_real_client() -> None:
    """Each -H is on the 101, after the handshake's own headers, as given."""
    with served("-H", "X-Served-By: wstool", "-H", "Set-Cookie: a=b; Path=/") as server:
        with websockets_sync.connect(server.url, open_timeout=10) as ws:
            headers = ws.response.headers
            assert headers["X-Served-By"] == "wstool"
            assert headers["Set-Cookie"] == "a=b; Path=/"
            ws.send("x")
            assert ws.recv(timeout=10) == "x"
        [opened] = [r for r in server.wait_for(_opened) if r["event"] == "open"]
        assert opened["response"].endswith("X-Served-By: wstool\r\nSet-Cookie: a=b; Path=/\r\n\r\n")


@pytest.mark.parametrize(
    ("header", "words"),
    [
        ("Upgrade: h2c", "the 101 sets this header itself"),
        ("sec-websocket-accept: x", "the 101 sets this header itself"),
        ("Sec-WebSocket-Protocol: chat", "the 101 sets this header itself"),
        ("Sec-WebSocket-Extensions: x", "the 101 sets this header itself"),
        ("Connection: close", "the 101 sets this header itself"),
        ("Content-Length: 5", "the 101 sets this header itself"),
        ("NoColon", "is not 'Name: value'"),
        ("Bad Name: x", "not a token"),
    ],
)
def test_headers_that_would_break_the_handshake_are_refused(header: str, words: str) -> None:
    done = run_wstool("serve", "--port", "0", "-H", header)
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and words in done.stderr, done.stderr


# -- mutual TLS ----------------------------------------------------------------------


@dataclass
class Pair:
    cert: x509.Certificate
    key: ec.EllipticCurvePrivateKey


def _issue(
    common_name: str, issuer: Pair | None, *, ca: bool = False, usage: x509.ObjectIdentifier
) -> Pair:
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wstool tests"),
        ]
    )
    builder = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(issuer.cert.subject if issuer else subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(NOW - DAY)
        .not_valid_after(NOW + 30 * DAY)
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        builder = builder.add_extension(
            x509.KeyUsage(True, False, False, False, False, True, True, False, False),
            critical=True,
        )
    else:
        builder = builder.add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        ).add_extension(x509.ExtendedKeyUsage([usage]), critical=False)
    return Pair(builder.sign(issuer.key if issuer else key, hashes.SHA256()), key)


def _write(directory: Path, stem: str, pair: Pair) -> tuple[str, str]:
    cert, key = directory / f"{stem}.pem", directory / f"{stem}.key"
    cert.write_bytes(pair.cert.public_bytes(serialization.Encoding.PEM))
    key.write_bytes(
        pair.key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return str(cert), str(key)


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[str, str]]:
    """A CA with a server and a client certificate, and a client certificate from another CA."""
    directory = tmp_path_factory.mktemp("pki")
    ca = _issue("wstool test CA", None, ca=True, usage=ExtendedKeyUsageOID.SERVER_AUTH)
    other_ca = _issue("another CA", None, ca=True, usage=ExtendedKeyUsageOID.SERVER_AUTH)
    return {
        "ca": _write(directory, "ca", ca),
        "server": _write(
            directory, "server", _issue("127.0.0.1", ca, usage=ExtendedKeyUsageOID.SERVER_AUTH)
        ),
        "alice": _write(
            directory, "alice", _issue("alice", ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        ),
        "mallory": _write(
            directory, "mallory", _issue("mallory", other_ca, usage=ExtendedKeyUsageOID.CLIENT_AUTH)
        ),
    }


def _client_context(pki: dict[str, tuple[str, str]], who: str | None) -> ssl.SSLContext:
    context = ssl.create_default_context(cafile=pki["ca"][0])
    if who is not None:
        context.load_cert_chain(*pki[who])
    return context


def _serve_mtls(pki: dict[str, tuple[str, str]]):  # type: ignore[no-untyped-def]
    cert, key = pki["server"]
    return served("--tls-cert", cert, "--tls-key", key, "--tls-client-ca", pki["ca"][0])


def test_a_client_with_a_certificate_from_the_ca_is_accepted_and_named(
    pki: dict[str, tuple[str, str]],
) -> None:
    with _serve_mtls(pki) as server:
        url = server.url  # wss://127.0.0.1:PORT/
        assert url.startswith("wss://")
        with websockets_sync.connect(url, ssl=_client_context(pki, "alice"), open_timeout=10) as ws:
            ws.send("hello")
            assert ws.recv(timeout=10) == "hello"
        [opened] = [r for r in server.wait_for(_opened) if r["event"] == "open"]
        assert opened["peer"].endswith("(client certificate O=wstool tests,CN=alice)"), opened


@pytest.mark.parametrize("who", [None, "mallory"])
def test_a_client_without_a_valid_certificate_is_refused_in_the_tls_handshake(
    pki: dict[str, tuple[str, str]], who: str | None
) -> None:
    """No certificate, or one from another CA: the TLS handshake fails, and the log says why."""
    with _serve_mtls(pki) as server:
        # TLS 1.3: the client may finish its side of the handshake and send its
        # request before the server's alert arrives; it never sees a 101.
        with (
            pytest.raises((OSError, InvalidMessage, ConnectionClosed)),
            websockets_sync.connect(
                server.url, ssl=_client_context(pki, who), open_timeout=10
            ) as ws,
        ):
            ws.recv(timeout=10)
        records = server.wait_for(lambda r: any(x["event"] == "rejected" for x in r))
        [rejected] = [r for r in records if r["event"] == "rejected"]
        assert rejected["status"] == 495
        assert rejected["reason"].startswith("TLS handshake failed: ")
        assert not any(r["event"] == "open" for r in records)


def test_client_ca_needs_a_server_certificate(pki: dict[str, tuple[str, str]]) -> None:
    done = run_wstool("serve", "--port", "0", "--tls-client-ca", pki["ca"][0])
    assert done.returncode == 2
    assert done.stderr == "wstool serve: --tls-client-ca goes with --tls-cert and --tls-key\n"


def test_a_client_ca_file_without_certificates(
    pki: dict[str, tuple[str, str]], tmp_path: Path
) -> None:
    empty = tmp_path / "empty.pem"
    empty.write_text("nothing here\n")
    cert, key = pki["server"]
    done = run_wstool(
        "serve", "--port", "0", "--tls-cert", cert, "--tls-key", key, "--tls-client-ca", str(empty)
    )
    assert done.returncode == 2
    assert done.stderr == f"wstool serve: no PEM certificate in '{empty}'\n"


def test_a_program_behind_mtls_sees_the_subject(pki: dict[str, tuple[str, str]]) -> None:
    """--exec with --tls-client-ca: SSL_CLIENT_S_DN and HTTPS=on in the program's environment."""
    cert, key = pki["server"]
    program = "sh -c 'echo \"$HTTPS $SSL_CLIENT_S_DN\"'"
    with (
        served(
            "--tls-cert", cert, "--tls-key", key, "--tls-client-ca", pki["ca"][0], "--exec", program
        ) as server,
        websockets_sync.connect(
            server.url, ssl=_client_context(pki, "alice"), open_timeout=10
        ) as ws,
    ):
        assert ws.recv(timeout=10) == "on O=wstool tests,CN=alice"


def test_wstool_connect_without_a_certificate_is_told_to_give_one(
    pki: dict[str, tuple[str, str]],
) -> None:
    """wstool connect to an mTLS server without --cert: one line saying what is missing."""
    with _serve_mtls(pki) as server:
        done = run_wstool("connect", server.url, "--ca", pki["ca"][0], "-x", "hi")
    assert done.returncode == 5, done.stderr
    assert "requires a client certificate (--cert FILE --key FILE)" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
