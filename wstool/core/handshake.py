"""The RFC 6455 opening handshake, for both roles (§1.3, §4, §11.3).

Sans-I/O: functions take parsed heads and return bytes or values. The key
source is injected; nothing here reads a clock, a socket or global
randomness. Heads are parsed by :mod:`wstool.core.http` and header values by
:mod:`wstool.core.headers`; the names callers use with the handshake
(``parse_request_head``, ``ResponseHead``, ``parse_extensions``, ...) are
importable from here too.

Every error is a :class:`~wstool.core.errors.HandshakeError` with a one-line
reason naming the header and (truncated, ``repr``-quoted) value. On the
server side its ``status`` is the status to answer with (400, 405, 426, 431,
505). On the client side it is the status the server answered (so the CLI
can say "server answered 200"), or 502 when the response head itself was
not valid HTTP.
"""

from __future__ import annotations

import base64
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus

from wstool.core.errors import HandshakeError, UsageError
from wstool.core.headers import (
    TCHARS,
    TOKEN,
    ExtensionOffer,
    Headers,
    format_extensions,
    parse_extensions,
    parse_list,
    parse_subprotocols,
    parse_token_list,
    show,
)
from wstool.core.http import (
    BAD_RESPONSE_STATUS,
    IndexedHeaders,
    RequestHead,
    ResponseHead,
    encode_head,
    header_values,
    http_1_1_or_later,
    parse_request_head,
    parse_response_head,
)

__all__ = [
    "BAD_RESPONSE_STATUS",
    "GUID",
    "ClientRequest",
    "ExtensionOffer",
    "Headers",
    "RequestHead",
    "ResponseHead",
    "ServerAnswer",
    "accept_key",
    "build_rejection",
    "build_request",
    "build_response",
    "check_request",
    "check_response",
    "format_extensions",
    "generate_key",
    "parse_extensions",
    "parse_request_head",
    "parse_response_head",
    "parse_subprotocols",
    "parse_token_list",
    "select_subprotocol",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

_UPGRADE_PROTOCOL = re.compile(rf"[{TCHARS}]+(?:/[{TCHARS}]+)?")
_KEY = re.compile(r"[A-Za-z0-9+/]{22}==")
_VERSION = re.compile(r"0|[1-9][0-9]{0,2}")
HOST_VALUE = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::[0-9]*)?")
ORIGIN_FORM = re.compile(r"/[\x21-\x7e]*")
_ABSOLUTE_FORM = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[\x21-\x7e]+")


_PLAIN_101 = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: %s\r\n\r\n"
)
"""The 101 without a subprotocol, extensions or extra headers (base64 needs no checks)."""

# --- keys (§1.3, §4.1, §4.2.2) -------------------------------------------------


def generate_key(token_source: Callable[[int], bytes] = os.urandom) -> str:
    """Make a ``Sec-WebSocket-Key`` value.

    Args:
        token_source: returns that many random bytes; injected for tests.

    Returns:
        The base64 encoding of 16 bytes from ``token_source``.

    Raises:
        UsageError: if ``token_source`` did not return 16 bytes.
    """
    nonce = token_source(16)
    # RFC 6455 §4.1: "The value of this header field MUST be a nonce consisting
    # of a randomly selected 16-byte value that has been base64-encoded"
    if len(nonce) != 16:
        raise UsageError(f"key source returned {len(nonce)} bytes, not 16")
    return base64.b64encode(nonce).decode("ascii")


def accept_key(key: str) -> str:
    """Compute ``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 §1.3).

    Args:
        key: the key exactly as sent (not base64-decoded).

    Returns:
        base64 of the SHA-1 of ``key`` followed by :data:`GUID`.

    Raises:
        UsageError: if ``key`` is not ASCII.
    """
    if not key.isascii():
        raise UsageError(f"Sec-WebSocket-Key {show(key)} is not ASCII")
    return _accept_bytes(key).decode("ascii")


def _accept_bytes(key: str) -> bytes:
    """:func:`accept_key` as bytes, for an ASCII key."""
    return base64.b64encode(hashlib.sha1((key + GUID).encode("ascii")).digest())


def is_valid_key(key: str) -> bool:
    """Tell whether ``key`` is the canonical base64 encoding of 16 bytes.

    22 base64 digits and ``==`` always decode to 16 bytes: 132 bits, the last
    four of them padding. Canonical base64 has those four at zero, so the 22nd
    digit's value is a multiple of 16: A, Q, g or w.
    """
    return _KEY.fullmatch(key) is not None and key[21] in "AQgw"


# --- server side (§4.2) -----------------------------------------------------------


@dataclass(frozen=True)
class ClientRequest:
    """What a server learned from a valid upgrade request (RFC 6455 §4.2.1).

    Attributes:
        key: ``Sec-WebSocket-Key``, as sent.
        subprotocols: offered subprotocols, in the client's order of preference.
        extensions: offered extensions, in the client's order.
        origin: ``Origin``, if sent.
        host: ``Host``, as sent.
        target: the request-target, as sent.
    """

    key: str
    subprotocols: tuple[str, ...]
    extensions: tuple[ExtensionOffer, ...]
    origin: str | None
    host: str
    target: str


def _once(headers: Sequence[tuple[str, str]], name: str, section: str) -> str | None:
    """Return the single value of ``name``, None if absent; 400 if repeated."""
    values = header_values(headers, name)
    if len(values) > 1:
        raise HandshakeError(
            f"{name} appears {len(values)} times; {section} allows one", 400, header=name
        )
    return values[0] if values else None


def _check_request_line(method: str, target: str, version: str) -> None:
    # RFC 6455 §4.1: "The method of the request MUST be GET, and the HTTP
    # version MUST be at least 1.1."
    if method != "GET":
        # RFC 7231 §6.5.5: "The origin server MUST generate an Allow header
        # field in a 405 response"
        raise HandshakeError(f"method {show(method)} is not GET", 405, headers=(("Allow", "GET"),))
    ok, major = http_1_1_or_later(version)
    if not ok:
        status = 505 if major > 1 else 400
        raise HandshakeError(f"{show(version)}: WebSocket needs HTTP/1.1", status)
    if not (ORIGIN_FORM.fullmatch(target) or _ABSOLUTE_FORM.fullmatch(target)):
        raise HandshakeError(f"request target {show(target)} is not a /path or http(s) URI")
    # RFC 6455 §3: "Fragment identifiers are meaningless in the context of
    # WebSocket URIs and MUST NOT be used on these URIs."
    if "#" in target:
        raise HandshakeError(f"request target {show(target)} has a fragment")


def _check_host(headers: Sequence[tuple[str, str]]) -> str:
    # RFC 7230 §5.4: "A server MUST respond with a 400 (Bad Request) status code
    # to any HTTP/1.1 request message that lacks a Host header field and to any
    # request message that contains more than one Host header field or a Host
    # header field with an invalid field-value."
    host = _once(headers, "Host", "RFC 7230 §5.4")
    if host is None:
        raise HandshakeError("Host header is missing", 400, header="Host")
    if not HOST_VALUE.fullmatch(host):
        raise HandshakeError(f"Host {show(host)} is not host[:port]", 400, header="Host")
    return host


def _check_upgrade_headers(headers: Sequence[tuple[str, str]]) -> None:
    upgrade = header_values(headers, "Upgrade")
    if not upgrade:
        raise HandshakeError(
            "Upgrade header is missing (a plain HTTP request, not a WebSocket upgrade)",
            400,
            header="Upgrade",
        )
    protocols = parse_list(upgrade, "Upgrade", _UPGRADE_PROTOCOL, "protocol")
    # RFC 6455 §4.2.1: "An |Upgrade| header field containing the value
    # "websocket", treated as an ASCII case-insensitive value."
    if "websocket" not in (p.lower() for p in protocols):
        shown = show(", ".join(upgrade))
        raise HandshakeError(f"Upgrade {shown} does not contain 'websocket'", header="Upgrade")
    connection = header_values(headers, "Connection")
    if not connection:
        raise HandshakeError("Connection header is missing", 400, header="Connection")
    options = parse_token_list(connection, "Connection")
    # RFC 6455 §4.2.1: "A |Connection| header field that includes the token
    # "Upgrade", treated as an ASCII case-insensitive value."
    if "upgrade" not in (o.lower() for o in options):
        shown = show(", ".join(connection))
        raise HandshakeError(f"Connection {shown} does not contain 'Upgrade'", header="Connection")


def _check_version(headers: Sequence[tuple[str, str]]) -> None:
    name = "Sec-WebSocket-Version"
    ours = ((name, "13"),)
    values = header_values(headers, name)
    # RFC 6455 §4.2.2: "the server MUST abort the WebSocket handshake ... and
    # instead send an appropriate HTTP error code (such as 426 Upgrade Required)
    # and a |Sec-WebSocket-Version| header field indicating the version(s) the
    # server is capable of understanding."  RFC 7231 §6.5.15: "The server MUST
    # send an Upgrade header field in a 426 response"
    upgrade_required = (("Upgrade", "websocket"), *ours)
    if not values:
        raise HandshakeError(
            f"{name} header is missing; this server speaks 13",
            426,
            header=name,
            headers=upgrade_required,
        )
    # RFC 6455 §11.3.5: "the |Sec-WebSocket-Version| header field MUST NOT
    # appear more than once in an HTTP request."
    if len(values) > 1:
        raise HandshakeError(
            f"{name} appears {len(values)} times; RFC 6455 §11.3.5 allows one",
            400,
            header=name,
            headers=ours,
        )
    version = values[0]
    if not _VERSION.fullmatch(version) or int(version) > 255:
        raise HandshakeError(
            f"{name} {show(version)} is not a version number (0-255, no leading zeros)",
            400,
            header=name,
            headers=ours,
        )
    if version != "13":
        raise HandshakeError(
            f"{name} {show(version)} is not supported; this server speaks 13",
            426,
            header=name,
            headers=upgrade_required,
        )


def _check_key(headers: Sequence[tuple[str, str]]) -> str:
    name = "Sec-WebSocket-Key"
    # RFC 6455 §11.3.1: "The |Sec-WebSocket-Key| header field MUST NOT appear
    # more than once in an HTTP request."
    key = _once(headers, name, "RFC 6455 §11.3.1")
    if key is None:
        raise HandshakeError(f"{name} header is missing", 400, header=name)
    # RFC 6455 §4.2.1: "A |Sec-WebSocket-Key| header field with a
    # base64-encoded ... value that, when decoded, is 16 bytes in length."
    if not is_valid_key(key):
        raise HandshakeError(f"{name} {show(key)} is not base64 of 16 bytes", 400, header=name)
    return key


def _check_no_body(headers: Sequence[tuple[str, str]]) -> None:
    # Bytes after the head are WebSocket frames; a request body would be
    # mistaken for them, so an upgrade request must not announce one.
    if header_values(headers, "Transfer-Encoding"):
        raise HandshakeError(
            "Transfer-Encoding on an upgrade request (a body would be read as frames)",
            header="Transfer-Encoding",
        )
    for length in header_values(headers, "Content-Length"):
        if length != "0":
            raise HandshakeError(
                f"Content-Length {show(length)} on an upgrade request (must be 0 or absent)",
                header="Content-Length",
            )


def check_request(
    method: str, target: str, headers: Sequence[tuple[str, str]], *, version: str = "HTTP/1.1"
) -> ClientRequest:
    """Check an upgrade request against every rule of RFC 6455 §4.2.1.

    Args:
        method: the request method.
        target: the request-target, as sent.
        headers: ``(name, value)`` pairs in order, repeats kept.
        version: the request's HTTP version, such as ``"HTTP/1.1"``.

    Returns:
        What the client asked for.

    Raises:
        HandshakeError: the first problem found, with the status to answer:
            405 (with ``Allow: GET``) for a method other than GET; 505 for
            HTTP/2 or later, 400 for HTTP/1.0; 400 for the
            target, ``Host``, ``Upgrade``, ``Connection``, a request body,
            ``Sec-WebSocket-Key``, a repeated ``Origin``, and the grammar of
            ``Sec-WebSocket-Protocol`` or ``-Extensions``; 426 (with
            ``Upgrade: websocket`` and ``Sec-WebSocket-Version: 13``) when
            ``Sec-WebSocket-Version`` is missing or not 13, but 400 (with
            ``Sec-WebSocket-Version: 13``) when it is repeated or not a number.
    """
    # RFC 6455 §4.2.1: "the server MUST stop processing the client's handshake
    # and return an HTTP response with an appropriate error code (such as 400
    # Bad Request)." Each check below raises at the first violation.
    _check_request_line(method, target, version)
    headers = IndexedHeaders(headers)
    host = _check_host(headers)
    _check_upgrade_headers(headers)
    _check_no_body(headers)
    _check_version(headers)
    key = _check_key(headers)
    origin = _once(headers, "Origin", "RFC 6454 §7")
    subprotocols = parse_subprotocols(header_values(headers, "Sec-WebSocket-Protocol"))
    extensions = parse_extensions(header_values(headers, "Sec-WebSocket-Extensions"))
    return ClientRequest(key, tuple(subprotocols), tuple(extensions), origin, host, target)


def select_subprotocol(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """Pick the first subprotocol the client offers that we support.

    The client lists subprotocols "ordered by preference" (RFC 6455 §4.2.1),
    so its order wins over ours. Comparison is exact (case-sensitive).

    Args:
        offered: the client's subprotocols, in its order.
        supported: the subprotocols this server speaks.

    Returns:
        The chosen subprotocol, or None if there is none in common.
    """
    if not offered or not supported:
        return None
    return next((name for name in offered if name in supported), None)


def build_response(
    request: ClientRequest,
    *,
    subprotocol: str | None = None,
    extensions: Sequence[ExtensionOffer] = (),
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """Build the ``101 Switching Protocols`` response (RFC 6455 §4.2.2).

    Args:
        request: the checked request.
        subprotocol: the subprotocol chosen, which the client must have offered.
        extensions: the extensions accepted, with the parameters answered.
        extra_headers: appended as given, after ours (duplicates allowed, so a
            debugger can send odd responses on purpose).

    Returns:
        The response head, through the blank line.

    Raises:
        UsageError: for a subprotocol or extension the client did not offer, or
            a header that cannot be written.
    """
    plain = subprotocol is None and not extensions and not extra_headers
    if plain and request.key.isascii():  # accept_key below raises on a key that is not
        return _PLAIN_101 % _accept_bytes(request.key)  # what encode_head writes for these
    # RFC 6455 §4.2.2: the server's subprotocol "MUST be derived from the values
    # in the client's handshake, specifically by selecting one of the values
    # from the |Sec-WebSocket-Protocol| field".
    if subprotocol is not None and subprotocol not in request.subprotocols:
        offered = ", ".join(request.subprotocols) or "none"
        raise UsageError(f"subprotocol {show(subprotocol)} was not offered (offered: {offered})")
    offered_names = {name for name, _ in request.extensions}
    for name, _ in extensions:
        if name not in offered_names:
            raise UsageError(f"extension {show(name)} was not offered by the client")
    accept = accept_key(request.key)
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept),
    ]
    if subprotocol is not None:
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    if extensions:
        headers.append(("Sec-WebSocket-Extensions", format_extensions(extensions)))
    headers.extend(extra_headers)
    return encode_head("HTTP/1.1 101 Switching Protocols", headers)


def build_rejection(error: HandshakeError) -> bytes:
    """Build the full HTTP error response for a refused handshake.

    Args:
        error: the refusal; its ``status``, ``headers`` and ``reason`` are used.

    Returns:
        Status line, ``Content-Type: text/plain; charset=utf-8``,
        ``Content-Length``, ``Connection: close``, the error's headers, and a
        one-line body: the reason and a newline.

    Raises:
        UsageError: if the status is not 4xx or 5xx.
    """
    if not 400 <= error.status <= 599:
        raise UsageError(f"status {error.status} is not an error status")
    try:
        phrase = HTTPStatus(error.status).phrase
    except ValueError:
        phrase = "Error"
    body = (" ".join(error.reason.splitlines()) + "\n").encode("utf-8")
    connection = "close"
    if any(name.lower() == "upgrade" for name, _ in error.headers):
        # RFC 7230 §6.7: "When Upgrade is sent, the sender MUST also send a
        # Connection header field ... that contains an "upgrade" connection option"
        connection = "Upgrade, close"
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", connection),
        *error.headers,
    ]
    return encode_head(f"HTTP/1.1 {error.status} {phrase}", headers) + body


# --- client side (§4.1) -----------------------------------------------------------


def build_request(
    host: str,
    target: str,
    *,
    key: str,
    subprotocols: Sequence[str] = (),
    extensions: Sequence[ExtensionOffer] = (),
    origin: str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """Build the client's upgrade request (RFC 6455 §4.1).

    Args:
        host: the ``Host`` value; the caller adds ``:port`` when it is not the
            default and brackets an IPv6 address.
        target: the resource name, such as ``"/chat?room=1"``.
        key: from :func:`generate_key`.
        subprotocols: offered, in order of preference.
        extensions: offered, in order of preference.
        origin: the ``Origin`` value, if any.
        extra_headers: appended as given, after ours.

    Returns:
        The request head, through the blank line.

    Raises:
        UsageError: if an argument would make an invalid request.
    """
    if not HOST_VALUE.fullmatch(host):
        raise UsageError(f"host {show(host)} is not host[:port]")
    if not ORIGIN_FORM.fullmatch(target) or "#" in target:
        raise UsageError(f"target {show(target)} is not a /path without a fragment")
    if not is_valid_key(key):
        raise UsageError(f"key {show(key)} is not base64 of 16 bytes")
    for name in subprotocols:
        if not TOKEN.fullmatch(name):
            raise UsageError(f"subprotocol {show(name)} is not a token")
    if len(set(subprotocols)) != len(subprotocols):
        raise UsageError(f"subprotocols {list(subprotocols)} repeat")
    headers = [
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if origin is not None:
        headers.append(("Origin", origin))
    if subprotocols:
        headers.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    if extensions:
        headers.append(("Sec-WebSocket-Extensions", format_extensions(extensions)))
    headers.extend(extra_headers)
    return encode_head(f"GET {target} HTTP/1.1", headers)


@dataclass(frozen=True)
class ServerAnswer:
    """What the server agreed to in a valid 101 response.

    Attributes:
        subprotocol: the subprotocol chosen, or None.
        extensions: the extensions accepted, with the server's parameters.
    """

    subprotocol: str | None
    extensions: tuple[ExtensionOffer, ...]


def _restatus(status: int, parse: Callable[[], list[str]]) -> list[str]:
    """Run a header parser, giving its errors the status the server answered."""
    try:
        return parse()
    except HandshakeError as exc:
        raise HandshakeError(exc.reason, status, header=exc.header) from None


def _check_response_upgrade(head: ResponseHead) -> None:
    status = head.status
    upgrade = head.get_all("Upgrade")
    # RFC 6455 §4.1: "If the response lacks an |Upgrade| header field or the
    # |Upgrade| header field contains a value that is not an ASCII
    # case-insensitive match for the value "websocket", the client MUST _Fail
    # the WebSocket Connection_."
    if not upgrade:
        raise HandshakeError("Upgrade header is missing", status, header="Upgrade")
    items = _restatus(status, lambda: parse_list(upgrade, "Upgrade", _UPGRADE_PROTOCOL, "protocol"))
    if [item.lower() for item in items] != ["websocket"]:
        shown = show(", ".join(upgrade))
        raise HandshakeError(f"Upgrade {shown} is not 'websocket'", status, header="Upgrade")
    connection = head.get_all("Connection")
    # RFC 6455 §4.1: "If the response lacks a |Connection| header field or the
    # |Connection| header field doesn't contain a token that is an ASCII
    # case-insensitive match for the value "Upgrade", the client MUST _Fail the
    # WebSocket Connection_."
    if not connection:
        raise HandshakeError("Connection header is missing", status, header="Connection")
    options = _restatus(status, lambda: parse_token_list(connection, "Connection"))
    if "upgrade" not in (o.lower() for o in options):
        shown = show(", ".join(connection))
        raise HandshakeError(
            f"Connection {shown} does not contain 'Upgrade'", status, header="Connection"
        )


def _check_accept(head: ResponseHead, key: str) -> None:
    name = "Sec-WebSocket-Accept"
    values = head.get_all(name)
    if not values:
        raise HandshakeError(f"{name} header is missing", head.status, header=name)
    # RFC 6455 §11.3.3: "The |Sec-WebSocket-Accept| header field MUST NOT appear
    # more than once in an HTTP response."
    if len(values) > 1:
        raise HandshakeError(
            f"{name} appears {len(values)} times; RFC 6455 §11.3.3 allows one",
            head.status,
            header=name,
        )
    expected = accept_key(key)
    # RFC 6455 §4.1: if it "contains a value other than the base64-encoded SHA-1
    # of the concatenation of the |Sec-WebSocket-Key| ... with the string
    # "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" but ignoring any leading and
    # trailing whitespace, the client MUST _Fail the WebSocket Connection_."
    # (Header parsing already stripped the whitespace.)
    if values[0] != expected:
        raise HandshakeError(
            f"{name} {show(values[0])} does not match key {key!r} (expected {expected!r})",
            head.status,
            header=name,
        )


def _check_answered_subprotocol(head: ResponseHead, offered: Sequence[str]) -> str | None:
    name = "Sec-WebSocket-Protocol"
    values = head.get_all(name)
    if not values:
        return None
    # RFC 6455 §11.3.4: "the |Sec-WebSocket-Protocol| header field MUST NOT
    # appear more than once in an HTTP response."
    items = _restatus(head.status, lambda: parse_token_list(values, name))
    if len(values) > 1 or len(items) != 1:
        shown = show(", ".join(values))
        raise HandshakeError(
            f"{name} {shown} must name exactly one subprotocol", head.status, header=name
        )
    # RFC 6455 §4.1: if it "indicates the use of a subprotocol that was not
    # present in the client's handshake ..., the client MUST _Fail the WebSocket
    # Connection_."
    if items[0] not in offered:
        shown_offer = ", ".join(offered) or "none"
        raise HandshakeError(
            f"{name} {show(items[0])} was not offered (offered: {shown_offer})",
            head.status,
            header=name,
        )
    return items[0]


def _check_answered_extensions(
    head: ResponseHead, offered: Sequence[ExtensionOffer]
) -> tuple[ExtensionOffer, ...]:
    name = "Sec-WebSocket-Extensions"
    try:
        answered = parse_extensions(head.get_all(name))
    except HandshakeError as exc:
        raise HandshakeError(exc.reason, head.status, header=name) from None
    offered_names = {ext_name for ext_name, _ in offered}
    for ext_name, _ in answered:
        # RFC 6455 §4.1: if it "indicates the use of an extension that was not
        # present in the client's handshake ..., the client MUST _Fail the
        # WebSocket Connection_."
        if ext_name not in offered_names:
            raise HandshakeError(
                f"{name} accepts {show(ext_name)}, which the client did not offer",
                head.status,
                header=name,
            )
    return tuple(answered)


def check_response(
    head: ResponseHead,
    *,
    key: str,
    subprotocols: Sequence[str] = (),
    extensions: Sequence[ExtensionOffer] = (),
) -> ServerAnswer:
    """Check the server's response against RFC 6455 §4.1.

    Extensions are matched by name only: the server may answer different
    parameters, which the extension itself (such as permessage-deflate) checks.

    Args:
        head: the parsed response head.
        key: the ``Sec-WebSocket-Key`` we sent.
        subprotocols: the subprotocols we offered.
        extensions: the extensions we offered.

    Returns:
        The subprotocol and extensions the server chose.

    Raises:
        HandshakeError: with ``status`` = the status the server answered and a
            reason naming what is wrong: not 101, not HTTP/1.1, ``Upgrade``,
            ``Connection``, ``Sec-WebSocket-Accept``, or a subprotocol or
            extension we did not offer.
    """
    # RFC 6455 §4.1: "If the status code received from the server is not 101,
    # the client handles the response per HTTP [RFC2616] procedures."
    if head.status != 101:
        raise HandshakeError(
            f"server answered {head.status} {show(head.reason)}, not 101 Switching Protocols",
            head.status,
        )
    if not http_1_1_or_later(head.version)[0]:
        raise HandshakeError(f"server answered in {head.version}, not HTTP/1.1", head.status)
    _check_response_upgrade(head)
    _check_accept(head, key)
    subprotocol = _check_answered_subprotocol(head, subprotocols)
    answered = _check_answered_extensions(head, extensions)
    return ServerAnswer(subprotocol, answered)
