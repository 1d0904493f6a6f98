"""Tests of :mod:`wstool.net.tls`: serve's and connect's TLS contexts, their errors, TLS sniffing.

Certificates are made with ``cryptography`` (the helpers of the interop tests):
a private CA, a server certificate it signs, an expired one and a self-signed one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("cryptography", reason="cryptography makes the test certificates")
pytest.importorskip("OpenSSL", reason="TLS needs pyOpenSSL (twisted[tls])")
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "interop" / "connect_peers"))
from certs import DAY, NOW, make_ca, make_server_cert, write_pair
from OpenSSL import SSL

from wstool.core.errors import WstoolError
from wstool.net.tls import (
    TLSSetupError,
    certificate_problem,
    client_tls_creator,
    looks_like_tls,
    pem_blocks,
    server_tls_options,
)

HOSTS = ["localhost", "127.0.0.1"]


@pytest.fixture(scope="module")
def pki(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A CA, a certificate it signs, an expired one and a self-signed one, as files."""
    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    ca_pem, _ = write_pair(directory, "ca", ca)
    good, good_key = write_pair(directory, "good", make_server_cert(ca, HOSTS))
    expired, _ = write_pair(
        directory,
        "expired",
        make_server_cert(ca, HOSTS, not_before=NOW - 30 * DAY, not_after=NOW - DAY),
    )
    self_signed, _ = write_pair(directory, "self", make_server_cert(None, HOSTS))
    return {
        "ca": ca_pem,
        "good": good,
        "good_key": good_key,
        "expired": expired,
        "self": self_signed,
        "dir": directory,
    }


class TestServerOptions:
    """server_tls_options: the certificate and key of ``serve --tls-cert --tls-key``."""

    def test_good_pair_gives_a_server_context(self, pki: dict[str, Path]) -> None:
        """A matching PEM certificate and key give options whose context is a server's."""
        options = server_tls_options(str(pki["good"]), str(pki["good_key"]))
        context = options.getContext()
        assert isinstance(context, SSL.Context)

    def test_missing_file_names_it(self, pki: dict[str, Path]) -> None:
        """An unreadable file: one line naming the file and the OS's reason."""
        missing = pki["dir"] / "missing.pem"
        with pytest.raises(TLSSetupError) as caught:
            server_tls_options(str(missing), str(pki["good_key"]))
        assert str(caught.value) == f"cannot read {str(missing)!r}: No such file or directory"
        assert isinstance(caught.value, WstoolError)

    def test_missing_key_file_names_it(self, pki: dict[str, Path]) -> None:
        """The key file is named when it is the one missing."""
        missing = pki["dir"] / "missing.key"
        with pytest.raises(TLSSetupError, match=r"missing\.key"):
            server_tls_options(str(pki["good"]), str(missing))

    def test_key_of_another_certificate(self, pki: dict[str, Path]) -> None:
        """A key that does not match the certificate: one line, no Python reprs of tuples."""
        other_key = pki["dir"] / "ca.key"
        with pytest.raises(TLSSetupError) as caught:
            server_tls_options(str(pki["good"]), str(other_key))
        message = str(caught.value)
        assert message.startswith("cannot use the TLS certificate or key: ")
        assert "\n" not in message and "[(" not in message

    def test_not_pem(self, pki: dict[str, Path]) -> None:
        """A file that is not PEM at all is refused with the same one-line message."""
        junk = pki["dir"] / "junk.pem"
        junk.write_bytes(b"not a certificate\n")
        with pytest.raises(TLSSetupError, match=r"^cannot use the TLS certificate or key: "):
            server_tls_options(str(junk), str(junk))


class TestClientCreator:
    """client_tls_creator: verification on by default, ``--ca``, ``--insecure``, ``--cert``."""

    def test_verifying_creator_for_a_host(self) -> None:
        """Without a CA file the system's trust roots and the host name are used."""
        creator = client_tls_creator("example.org")
        assert creator._hostnameASCII == "example.org"

    def test_ca_file(self, pki: dict[str, Path]) -> None:
        """A CA file is read and trusted."""
        creator = client_tls_creator("localhost", ca_file=str(pki["ca"]))
        assert creator._hostnameASCII == "localhost"

    def test_ca_file_without_certificates(self, pki: dict[str, Path]) -> None:
        """A CA file with no PEM certificate in it names the file."""
        empty = pki["dir"] / "empty.pem"
        empty.write_bytes(b"")
        with pytest.raises(TLSSetupError, match=r"no PEM certificate in .*empty\.pem"):
            client_tls_creator("localhost", ca_file=str(empty))

    def test_missing_ca_file(self, pki: dict[str, Path]) -> None:
        """A missing CA file: one line naming it."""
        with pytest.raises(TLSSetupError, match=r"cannot read .*nope\.pem.: No such file"):
            client_tls_creator("localhost", ca_file=str(pki["dir"] / "nope.pem"))

    def test_insecure_with_client_certificate(self, pki: dict[str, Path]) -> None:
        """--insecure still presents a client certificate when one is given."""
        options = client_tls_creator(
            "localhost",
            insecure=True,
            cert_file=str(pki["good"]),
            key_file=str(pki["good_key"]),
        )
        assert options.verify is False
        assert options.certificate is not None

    def test_client_certificate_without_key(self, pki: dict[str, Path]) -> None:
        """A client certificate file with no key in it is refused in one line."""
        with pytest.raises(TLSSetupError, match=r"^cannot use the client certificate or key: "):
            client_tls_creator("localhost", cert_file=str(pki["good"]))


class TestPemBlocks:
    """pem_blocks splits a bundle into its certificates."""

    def test_two_certificates(self, pki: dict[str, Path]) -> None:
        """A bundle of two certificates (with text around them) gives both, whole."""
        one, two = pki["ca"].read_bytes(), pki["good"].read_bytes()
        blocks = pem_blocks(b"# bundle\n" + one + b"comment\n" + two)
        assert [b.strip() for b in blocks] == [one.strip(), two.strip()]


class TestCertificateProblem:
    """certificate_problem: OpenSSL's reason for a chain that fails verification."""

    def test_trusted_chain_has_no_problem(self, pki: dict[str, Path]) -> None:
        """A certificate signed by the CA given verifies: no problem."""
        assert certificate_problem([pki["good"].read_bytes()], str(pki["ca"])) is None

    def test_expired(self, pki: dict[str, Path]) -> None:
        """An expired certificate: OpenSSL says so."""
        problem = certificate_problem([pki["expired"].read_bytes()], str(pki["ca"]))
        assert problem is not None and "expired" in problem

    def test_self_signed(self, pki: dict[str, Path]) -> None:
        """A self-signed certificate against the CA: OpenSSL says self-signed."""
        problem = certificate_problem([pki["self"].read_bytes()], str(pki["ca"]))
        assert problem is not None and "self" in problem.lower()

    def test_empty_chain(self) -> None:
        """No chain, no reason."""
        assert certificate_problem([], None) is None


class TestLooksLikeTLS:
    """looks_like_tls tells a TLS record from the first bytes of HTTP."""

    @pytest.mark.parametrize(
        ("data", "expected"),
        [
            (b"\x16\x03\x01\x02\x00\x01", True),  # a ClientHello record
            (b"\x15\x03\x03\x00\x02\x02\x46", True),  # an alert
            (b"GET / HTTP/1.1\r\n", False),
            (b"HTTP/1.1 400 Bad Request\r\n", False),
            (b"\x16", None),
            (b"\x16\x03", None),
            (b"", None),
            (b"\x16\x02\x00", False),
            (b"\x16\x03\x09", False),
        ],
    )
    def test_first_bytes(self, data: bytes, expected: bool | None) -> None:
        """Record type and version decide; too few bytes leave it open."""
        assert looks_like_tls(data) is expected
