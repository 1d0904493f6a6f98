"""Tests of :mod:`wstool.core.uri`: ws://, wss:// and the http(s):// URIs taken as them."""

from __future__ import annotations

import pytest

from wstool.core.errors import UsageError
from wstool.core.uri import parse_uri


@pytest.mark.parametrize(
    ("text", "secure", "port", "converted_from", "shown"),
    [
        ("ws://example.org/chat", False, 80, None, "ws://example.org/chat"),
        ("wss://example.org/", True, 443, None, "wss://example.org/"),
        ("http://example.org:8080/x?y=1", False, 8080, "http", "ws://example.org:8080/x?y=1"),
        ("HTTPS://example.org", True, 443, "https", "wss://example.org/"),
    ],
)
def test_scheme(text: str, secure: bool, port: int, converted_from: str | None, shown: str) -> None:
    """http(s):// is taken as ws(s):// and says so in converted_from; ws(s):// leaves it None."""
    uri = parse_uri(text)
    assert (uri.secure, uri.port, uri.converted_from, str(uri)) == (
        secure,
        port,
        converted_from,
        shown,
    )


def test_other_scheme_is_refused_in_one_line() -> None:
    """ftp:// is no WebSocket URI: one line naming it."""
    with pytest.raises(UsageError, match=r"^'ftp://x/' is not a ws:// or wss:// URI$"):
        parse_uri("ftp://x/")


def test_fragment_is_refused() -> None:
    """RFC 6455 §3: a fragment MUST NOT be used."""
    with pytest.raises(UsageError, match="fragment"):
        parse_uri("ws://x/#frag")


def test_ipv6_literal_and_userinfo() -> None:
    """An IPv6 literal loses its brackets in host and keeps them in Host; userinfo is decoded."""
    uri = parse_uri("ws://us%40er:p%3Ass@[::1]:9000/")
    assert (uri.host, uri.host_header, uri.user, uri.password) == (
        "::1",
        "[::1]:9000",
        "us@er",
        "p:ss",
    )
