"""One line for why a client connection or its TLS handshake failed (connect, proxy)."""

from __future__ import annotations

import os
from typing import Any

from twisted.internet.error import ConnectionDone, ConnectionLost
from twisted.python.failure import Failure

from wstool.core.uri import WebSocketURI

__all__ = ["NOT_TLS", "describe", "not_tls", "strerror"]

NOT_TLS = "TLS handshake failed: the server does not speak TLS on this port (is it a ws:// server?)"

# What OpenSSL says when the answer to a ClientHello is not a TLS record
# (plain HTTP, such as "HTTP/1.1 400", or text).
_NOT_A_RECORD = ("wrong version number", "packet length too long", "http request", "record layer")


def not_tls(reason: Failure) -> str | None:
    """Why a TLS handshake that never completed failed, if the server does not speak TLS.

    A TLS server that refuses a handshake sends an alert, which OpenSSL
    reports by name ("tlsv1 alert ..."); a server that answers in plain text,
    or closes without a word, is no TLS server.
    """
    value = reason.value
    text = str(value).lower()
    if any(needle in text for needle in _NOT_A_RECORD):
        return NOT_TLS
    if "alert" not in text and (
        isinstance(value, (ConnectionDone, ConnectionLost)) or "unexpected eof" in text
    ):
        return "TLS handshake failed: the server closed the connection without answering TLS" + (
            " (is it a ws:// server?)"
        )
    return None


# OpenSSL's names for the alerts a server sends about the client's certificate.
_TLS_ALERTS = (
    (
        "alert certificate required",
        "the server requires a client certificate (--cert FILE --key FILE)",
    ),
    ("alert unknown ca", "the server does not trust the client certificate's CA"),
    ("alert bad certificate", "the server refused the client certificate"),
    ("alert certificate expired", "the server says the client certificate has expired"),
)


def describe(reason: Failure, uri: WebSocketURI, detail: str | None = None) -> str:
    """One line for why a connection or TLS failed; ``detail`` is OpenSSL's verify error."""
    value = reason.value
    text = str(value)
    if detail:
        text += f" ({detail})"
    name = type(value).__name__
    if "certificate verify failed" in text or "VerificationError" in name:
        for needle, why in (
            ("certificate has expired", "the server's certificate has expired"),
            ("not yet valid", "the server's certificate is not valid yet"),
            (
                "self-signed",
                "the server's certificate is self-signed (use --ca FILE or --insecure)",
            ),
            (
                "self signed",
                "the server's certificate is self-signed (use --ca FILE or --insecure)",
            ),
            (
                "unable to get local issuer",
                "the server's certificate is not from a trusted CA (use --ca FILE or --insecure)",
            ),
        ):
            if needle in text:
                return f"TLS: {why}"
        if "VerificationError" in name or "hostname" in text.lower():
            return f"TLS: the server's certificate is not valid for {uri.host}"
        return f"TLS: the server's certificate could not be verified ({text})"
    if name == "Error" and "SSL" in type(value).__module__.upper():
        for needle, why in _TLS_ALERTS:
            if needle in text:
                return f"TLS handshake failed: {why}"
        return f"TLS handshake failed: {text}"
    if "ConnectionRefused" in name:
        return f"connection refused by {uri.host_header}"
    if "DNSLookup" in name:
        return f"cannot resolve {uri.host}"
    if "Timeout" in name:
        return f"no answer from {uri.host_header} (timed out)"
    if "ConnectionDone" in name or "ConnectionLost" in name:
        return "the server closed the connection during the handshake"
    return f"{name}: {text}"


def strerror(why: Any) -> str:
    """An OSError or errno number (Twisted's ConnectError.osError) as words."""
    if isinstance(why, int):
        return os.strerror(why).lower()
    if isinstance(why, OSError) and why.strerror:
        return why.strerror.lower()
    return str(why)
