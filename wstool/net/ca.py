"""The forward proxy's local CA: made on first use, kept, one certificate per host.

To show wss:// traffic the proxy must end the client's TLS itself, with a
certificate for the host the client asked for. :class:`LocalCA` keeps a CA
key and certificate in a directory (``ca.pem`` and ``ca-key.pem``, the key
readable by its owner only), creates them the first time, and signs a
certificate for each host on demand (cached for the run). The user trusts
``ca.pem`` once, in a browser, curl or Python; nothing is installed
anywhere by wstool.

Keys are ECDSA P-256 (fast to make, accepted everywhere TLS 1.2+ is).
"""

from __future__ import annotations

import datetime
import ipaddress
import os
import socket
from pathlib import Path
from typing import Any

from wstool.net.tls import TLSSetupError

__all__ = ["CA_FILE", "KEY_FILE", "LocalCA", "default_ca_dir"]

CA_FILE = "ca.pem"
KEY_FILE = "ca-key.pem"
_DAY = datetime.timedelta(days=1)


def default_ca_dir(environ: dict[str, str] | None = None) -> Path:
    """``$XDG_DATA_HOME/wstool``, else ``~/.local/share/wstool`` (the user's data directory)."""
    env = os.environ if environ is None else environ
    base = env.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "wstool"


class LocalCA:
    """A CA kept in ``directory`` that signs a certificate for each host asked for.

    Args:
        directory: where ``ca.pem`` and ``ca-key.pem`` are, or will be made.

    Raises:
        TLSSetupError: the directory cannot be made or read, or holds files
            that are not a matching CA certificate and key.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.cert_path = directory / CA_FILE
        self.key_path = directory / KEY_FILE
        self.created = False
        self._options: dict[str, Any] = {}
        try:
            if self.cert_path.exists() or self.key_path.exists():
                self._cert, self._key = self._load()
            else:
                self._cert, self._key = self._create()
                self.created = True
        except OSError as exc:
            raise TLSSetupError(
                f"cannot use the CA directory {str(directory)!r}: {exc.strerror or exc}"
            ) from exc

    # -- the CA itself ----------------------------------------------------------------

    def _load(self) -> tuple[Any, Any]:
        from cryptography import x509
        from cryptography.hazmat.primitives import serialization

        try:
            cert = x509.load_pem_x509_certificate(self.cert_path.read_bytes())
            key = serialization.load_pem_private_key(self.key_path.read_bytes(), password=None)
        except ValueError as exc:
            raise TLSSetupError(f"{self.directory}: not a usable CA ({exc})") from exc
        spki = (serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
        if cert.public_key().public_bytes(*spki) != key.public_key().public_bytes(*spki):
            raise TLSSetupError(f"{self.directory}: {CA_FILE} and {KEY_FILE} do not match")
        return cert, key

    def _create(self) -> tuple[Any, Any]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        name = x509.Name(
            [
                x509.NameAttribute(NameOID.ORGANIZATION_NAME, "wstool"),
                x509.NameAttribute(
                    NameOID.COMMON_NAME, f"wstool proxy CA ({socket.gethostname()})"
                ),
            ]
        )
        now = datetime.datetime.now(datetime.timezone.utc)
        cert = (
            x509.CertificateBuilder()
            .subject_name(name)
            .issuer_name(name)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY)
            .not_valid_after(now + 3650 * _DAY)
            .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
            .add_extension(_key_usage(cert_sign=True), critical=True)
            .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
            .sign(key, hashes.SHA256())
        )
        self.directory.mkdir(parents=True, exist_ok=True, mode=0o700)
        key_pem = key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
        descriptor = os.open(self.key_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(descriptor, "wb") as file:
            file.write(key_pem)
        self.cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
        return cert, key

    # -- host certificates --------------------------------------------------------------

    def server_options(self, host: str) -> Any:
        """Twisted TLS options presenting a certificate for ``host``, signed by this CA.

        ALPN offers only ``http/1.1``: a browser then speaks WebSocket over
        HTTP/1.1 (RFC 6455 §4.1), not over HTTP/2.
        """
        options = self._options.get(host)
        if options is None:
            from OpenSSL import crypto
            from twisted.internet import ssl

            cert, key = self._host_certificate(host)
            options = ssl.CertificateOptions(
                privateKey=crypto.PKey.from_cryptography_key(key),
                certificate=crypto.X509.from_cryptography(cert),
                extraCertChain=[crypto.X509.from_cryptography(self._cert)],
                acceptableProtocols=[b"http/1.1"],
            )
            self._options[host] = options
        return options

    def _host_certificate(self, host: str) -> tuple[Any, Any]:
        from cryptography import x509
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.asymmetric import ec
        from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

        key = ec.generate_private_key(ec.SECP256R1())
        try:
            alt: x509.GeneralName = x509.IPAddress(ipaddress.ip_address(host))
        except ValueError:
            alt = x509.DNSName(host)
        now = datetime.datetime.now(datetime.timezone.utc)
        ca_key_id = x509.SubjectKeyIdentifier.from_public_key(self._key.public_key())
        cert = (
            x509.CertificateBuilder()
            .subject_name(x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, host[:64])]))
            .issuer_name(self._cert.subject)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now - _DAY)
            .not_valid_after(now + 397 * _DAY)
            .add_extension(x509.SubjectAlternativeName([alt]), critical=False)
            .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
            .add_extension(_key_usage(cert_sign=False), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), False)
            .add_extension(
                x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ca_key_id), False
            )
            .sign(self._key, hashes.SHA256())
        )
        return cert, key


def _key_usage(*, cert_sign: bool) -> Any:
    from cryptography import x509

    return x509.KeyUsage(
        digital_signature=not cert_sign,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=cert_sign,
        crl_sign=cert_sign,
        encipher_only=False,
        decipher_only=False,
    )
