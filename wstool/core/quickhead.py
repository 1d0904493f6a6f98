"""The common upgrade request, checked in one pass.

Nearly every opening handshake a server sees has the same shape: ``GET
/path HTTP/1.1``, each header once, ``Upgrade: websocket``, ``Connection:
Upgrade`` (or a short token list holding it), version 13, a key. For such a
head, :func:`quick_request` applies every rule that
:func:`~wstool.core.http.parse_request_head` and
:func:`~wstool.core.handshake.check_request` apply, with a few dictionary
lookups instead of a list of headers looked up one rule at a time.

It never refuses anything: whatever is not of that shape (a repeated
header, an absolute-form target, HTTP/1.2, an ``Upgrade`` list, any error)
returns None, and the caller runs the full checks, which accept it or say
exactly what is wrong. So it can only be right or silent;
``tests/core/test_quickhead.py`` holds it to the full checks on generated
heads, good and bad.

Where the optional C accelerator ``_quickhead.c`` was built, it applies the
same rules in one pass over the bytes (a server's handshake spent more time
in this module's regular expressions than in anything else of its own); the
pure-Python path below stays, and the tests hold the two to each other.
"""

from __future__ import annotations

import re
from collections.abc import Callable

from wstool.core.errors import HandshakeError
from wstool.core.handshake import (
    HOST_VALUE,
    ORIGIN_FORM,
    ClientRequest,
    is_valid_key,
    parse_extensions,
    parse_subprotocols,
)
from wstool.core.headers import OWS, TCHARS
from wstool.core.http import CONTROL_BYTES, HEADER_BLOCK

__all__ = ["quick_request", "quick_request_python"]

_Found = tuple[str, str, str, "str | None", "str | None", "str | None"]
"""What the one-pass check finds: target, host, key, origin, protocols, extensions."""

_scan: Callable[[bytes, int], _Found | None] | None
try:
    from wstool.core import _quickhead  # type: ignore[attr-defined]
except ImportError:  # built without a compiler
    _scan = None
else:
    _scan = _quickhead.scan
ACCELERATED = _scan is not None
"""Whether :func:`quick_request` runs the C accelerator."""


_START = re.compile(rb"GET (/[\x21-\x7e]*) HTTP/1\.1\r\n")
"""RFC 6455 §4.1: "The method of the request MUST be GET, and the HTTP version
MUST be at least 1.1"; an origin-form target (any other goes the long way)."""

_FIELD = re.compile(rf"([{TCHARS}]+):[{OWS}]*([^\r\n]*)\r\n")
"""A header line of a block HEADER_BLOCK matched: its name, its value without leading OWS."""

_CONNECTION_UPGRADE = frozenset({"upgrade", "keep-alive, upgrade", "upgrade, keep-alive"})


def quick_request(raw: bytes, max_size: int = 16384) -> ClientRequest | None:
    """Check a complete request head of the common shape; None if it is not one.

    Args:
        raw: the head through its blank line, exactly as received.
        max_size: the largest head accepted (a longer one goes the long way, to its 431).

    Returns:
        What :func:`~wstool.core.handshake.check_request` would return for the head,
        or None where the full checks must decide.
    """
    if _scan is None:
        return quick_request_python(raw, max_size)
    found = _scan(raw, max_size)
    return None if found is None else _request(*found)


def quick_request_python(raw: bytes, max_size: int = 16384) -> ClientRequest | None:
    """:func:`quick_request` without the C accelerator."""
    if len(raw) > max_size or not raw.endswith(b"\r\n\r\n"):
        return None
    # The checks of wstool.core.http._check_bytes' common case: no control
    # bytes, and every CR and LF part of a CRLF.
    if len(raw.translate(None, CONTROL_BYTES)) != len(raw):
        return None
    crlf = raw.count(b"\r\n")
    if raw.count(b"\r") != crlf or raw.count(b"\n") != crlf:
        return None
    start = _START.match(raw)
    if start is None:
        return None
    block = raw[start.end() : -2].decode("latin-1")
    if not HEADER_BLOCK.fullmatch(block):
        return None  # obs-fold, a line without a colon, a name that is not a token
    lines = _FIELD.findall(block)  # (name, value), every line
    fields = {name.lower(): value.rstrip(OWS) for name, value in lines}
    if len(fields) != len(lines):
        return None  # repeats: which may and which may not is the full checks' job
    return _checked(start.group(1).decode("ascii"), fields)


def _checked(target: str, fields: dict[str, str]) -> ClientRequest | None:
    """The RFC 6455 §4.2.1 rules, each header present at most once."""
    # RFC 6455 §3: "Fragment identifiers ... MUST NOT be used on these URIs."
    if "#" in target or not ORIGIN_FORM.fullmatch(target):
        return None
    # RFC 7230 §5.4: a Host header, with a valid value.
    host = fields.get("host")
    if host is None or not HOST_VALUE.fullmatch(host):
        return None
    # RFC 6455 §4.2.1: "An |Upgrade| header field containing the value "websocket"" and
    # "A |Connection| header field that includes the token "Upgrade"" (both case-insensitive).
    if fields.get("upgrade", "").lower() != "websocket":
        return None
    if fields.get("connection", "").lower() not in _CONNECTION_UPGRADE:
        return None
    # No body: bytes after the head are frames.
    if "transfer-encoding" in fields or fields.get("content-length", "0") != "0":
        return None
    if fields.get("sec-websocket-version") != "13":
        return None
    # RFC 6455 §4.2.1: the key, base64 of 16 bytes.
    key = fields.get("sec-websocket-key")
    if key is None or not is_valid_key(key):
        return None
    return _request(
        target,
        host,
        key,
        fields.get("origin"),
        fields.get("sec-websocket-protocol"),
        fields.get("sec-websocket-extensions"),
    )


def _request(
    target: str,
    host: str,
    key: str,
    origin: str | None,
    protocols: str | None,
    extensions: str | None,
) -> ClientRequest | None:
    """The request, once its subprotocol and extension lists parse."""
    try:  # their grammar's errors (an empty list, say) are worded by the full checks
        offered = parse_subprotocols([protocols]) if protocols is not None else []
        offers = parse_extensions([extensions]) if extensions is not None else []
    except HandshakeError:
        return None
    return ClientRequest(key, tuple(offered), tuple(offers), origin, host, target)
