"""Every TLS context of wstool: serve's certificate, connect's verification and client certificate.

The server side reads a PEM certificate and key into Twisted's
``CertificateOptions``; the client side builds the ``IOpenSSLClientConnectionCreator``
that verifies the server (host name included, via service-identity) or, with
``insecure``, does not. When verification fails, pyOpenSSL says only
"certificate verify failed": :func:`certificate_problem` checks the chain the
server sent again and returns OpenSSL's reason, for the error message.

Also here: :func:`looks_like_tls`, which tells a TLS record from the start of
an HTTP request, so that a wss:// client on a ws:// port (and the reverse) is
named at once instead of waiting for a timeout.

Bad files raise :class:`TLSSetupError` with one line naming the file and the
problem; the CLI turns it into an exit status.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from wstool.core.errors import WstoolError

__all__ = [
    "TLSSetupError",
    "certificate_detail",
    "certificate_problem",
    "client_subject",
    "client_tls_creator",
    "looks_like_tls",
    "pem_blocks",
    "server_tls_options",
]

_END_CERTIFICATE = b"-----END CERTIFICATE-----"

# RFC 8446 §5.1 (and RFC 5246 §6.2.1): a TLS record starts with its content
# type (20-23), then the legacy record version 0x03 0x0X. A ClientHello is a
# handshake record (22 = 0x16); an alert (21 = 0x15) is what a TLS server
# answers to bytes it cannot read as a record.
_TLS_CONTENT_TYPES = frozenset((0x14, 0x15, 0x16, 0x17))


class TLSSetupError(WstoolError):
    """A certificate, key or CA file cannot be read or used; the message says which and why."""


def looks_like_tls(data: bytes) -> bool | None:
    """Whether ``data``, the first bytes from a peer, start a TLS record.

    Returns:
        ``True`` for a TLS record header (content type 20-23, then 0x03 and a
        minor version up to 4), ``False`` for anything else, ``None`` when
        too few bytes have come to tell.
    """
    if not data:
        return None
    if data[0] not in _TLS_CONTENT_TYPES:
        return False
    if len(data) < 2:
        return None
    if data[1] != 0x03:
        return False
    if len(data) < 3:
        return None
    return data[2] <= 0x04


def _read(path: str) -> bytes:
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise TLSSetupError(f"cannot read {path!r}: {exc.strerror or exc}") from exc


def server_tls_options(cert_file: str, key_file: str, client_ca: str | None = None) -> Any:
    """The TLS options of ``wstool serve --tls-cert --tls-key [--tls-client-ca]``.

    Args:
        cert_file: a PEM certificate (with its chain, if any).
        key_file: its PEM private key (may be the same file).
        client_ca: PEM certificates that client certificates must chain to;
            with it, a client without such a certificate fails the TLS
            handshake (mutual TLS).

    Returns:
        A Twisted ``CertificateOptions`` for ``SSL4ServerEndpoint``.

    Raises:
        TLSSetupError: a file cannot be read, or its contents are not a
            matching certificate and key.
    """
    from twisted.internet import ssl

    pem = _read(cert_file) + b"\n" + _read(key_file)
    verify: dict[str, Any] = {}
    if client_ca:
        blocks = pem_blocks(_read(client_ca))
        if not blocks:
            raise TLSSetupError(f"no PEM certificate in {client_ca!r}")
        try:
            authorities = [ssl.Certificate.loadPEM(block).original for block in blocks]
        except Exception as exc:  # pyOpenSSL's errors carry no useful type
            raise TLSSetupError(f"cannot use {client_ca!r}: {_openssl_text(exc)}") from exc
        verify = {"verify": True, "caCerts": authorities, "requireCertificate": True}
    try:
        certificate = ssl.PrivateCertificate.loadPEM(pem)
        return ssl.CertificateOptions(
            **verify,
            privateKey=certificate.privateKey.original,
            certificate=certificate.original,
            # The upgrade is an HTTP/1.1 request (RFC 6455 §4.1). Named here so
            # ALPN has an answer also when a connection starts TLS itself
            # (its TLS layer then knows no factory to ask).
            acceptableProtocols=[b"http/1.1"],
        )
    except Exception as exc:  # pyOpenSSL's errors carry no useful type
        raise TLSSetupError(f"cannot use the TLS certificate or key: {_openssl_text(exc)}") from exc


def _openssl_text(exc: Exception) -> str:
    """One line for a pyOpenSSL error (its str() is a list of tuples)."""
    args = exc.args[0] if exc.args else None
    if isinstance(args, list) and args and isinstance(args[0], tuple):
        return "; ".join(str(entry[-1]) for entry in args)
    return str(exc) or type(exc).__name__


def client_subject(transport: Any) -> str | None:
    """The subject of the certificate a TLS client presented (``CN=alice,O=Example``), or None."""
    get_certificate = getattr(transport, "getPeerCertificate", None)  # TLS transports only
    if get_certificate is None:
        return None
    try:
        certificate = get_certificate()
        if certificate is None:
            return None
        subject: str = certificate.to_cryptography().subject.rfc4514_string()
    except Exception:  # pyOpenSSL's errors carry no useful type; a name cryptography refuses
        return None
    return subject


def tls_failure(reason: Any) -> str | None:
    """OpenSSL's words when ``reason`` (a connection's Failure) is a failed TLS handshake."""
    from OpenSSL import SSL

    value = getattr(reason, "value", None)
    if isinstance(value, SSL.Error):
        return _openssl_text(value)
    return None


def pem_blocks(data: bytes) -> list[bytes]:
    """The PEM certificates in ``data``, each from its BEGIN line through its END line."""
    begin = b"-----BEGIN"
    return [
        block[block.index(begin) :] + _END_CERTIFICATE
        for block in data.split(_END_CERTIFICATE)
        if begin in block
    ]


def client_tls_creator(
    host: str,
    *,
    ca_file: str | None = None,
    insecure: bool = False,
    cert_file: str | None = None,
    key_file: str | None = None,
) -> Any:
    """The client's TLS connection creator for ``wss://host``.

    Args:
        host: the server's name or address, checked against its certificate.
        ca_file: PEM certificates to trust instead of the system's.
        insecure: do not verify the server's certificate at all.
        cert_file: a PEM client certificate (and its key, unless ``key_file``).
        key_file: the client certificate's private key.

    Returns:
        An ``IOpenSSLClientConnectionCreator`` for ``wrapClientTLS`` or ``startTLS``.

    Raises:
        TLSSetupError: a file cannot be read or holds no usable certificate.
    """
    from twisted.internet import ssl

    client_cert = None
    if cert_file:
        pem = _read(cert_file)
        if key_file:
            pem += b"\n" + _read(key_file)
        try:
            client_cert = ssl.PrivateCertificate.loadPEM(pem)
        except Exception as exc:  # pyOpenSSL's errors carry no useful type
            raise TLSSetupError(
                f"cannot use the client certificate or key: {_openssl_text(exc)}"
            ) from exc
    if insecure:
        extra: dict[str, Any] = {}
        if client_cert is not None:
            extra = {"privateKey": client_cert.privateKey.original}
            extra["certificate"] = client_cert.original
        return ssl.CertificateOptions(verify=False, **extra)
    trust: Any = None
    if ca_file:
        blocks = pem_blocks(_read(ca_file))
        if not blocks:
            raise TLSSetupError(f"no PEM certificate in {ca_file!r}")
        try:
            trust = ssl.trustRootFromCertificates([ssl.Certificate.loadPEM(b) for b in blocks])
        except Exception as exc:  # pyOpenSSL's errors carry no useful type
            raise TLSSetupError(f"cannot use {ca_file!r}: {_openssl_text(exc)}") from exc
    return ssl.optionsForClientTLS(host, trustRoot=trust, clientCertificate=client_cert)


def certificate_problem(chain: Sequence[bytes], ca_file: str | None) -> str | None:
    """OpenSSL's reason why ``chain`` (PEM, leaf first) does not verify, or None.

    Checked against ``ca_file``, or the system's certificates as the ``ssl``
    module finds them (``SSL_CERT_FILE`` honoured); used only to word the
    error of a connection that has already failed verification.
    """
    import ssl

    from OpenSSL import crypto

    if not chain:
        return None
    try:
        certs = [crypto.load_certificate(crypto.FILETYPE_PEM, pem) for pem in chain]
        store = crypto.X509Store()
        if ca_file:
            store.load_locations(ca_file)
        else:
            paths = ssl.get_default_verify_paths()
            store.load_locations(paths.cafile, paths.capath)
        crypto.X509StoreContext(store, certs[0], certs[1:]).verify_certificate()
    except crypto.X509StoreContextError as exc:
        return str(exc)
    except (crypto.Error, OSError):
        return None
    return None


def certificate_detail(
    transport: Any, explain: Callable[[Sequence[bytes]], str | None] | None
) -> str | None:
    """Why the server's certificate was refused, from ``explain`` and the chain it sent.

    The error from pyOpenSSL says only "certificate verify failed"; the chain
    the server sent, checked again by ``explain`` (such as
    :func:`certificate_problem`), says why. Only the wording of the error
    depends on it: the connection has failed already.
    """
    get_handle = getattr(transport, "getHandle", None)
    if explain is None or get_handle is None:
        return None
    from twisted.internet import ssl

    try:
        chain = get_handle().get_peer_cert_chain() or []
        return explain([ssl.Certificate(cert).dumpPEM() for cert in chain])
    except (AttributeError, TypeError, ValueError):  # not a TLS connection after all
        return None
