"""Tests for wstool.core.headers: RFC 7230 lists and the RFC 6455 §9.1 header grammar."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstool.core.errors import HandshakeError, UsageError
from wstool.core.headers import (
    ExtensionOffer,
    format_extensions,
    parse_extensions,
    parse_subprotocols,
    parse_token_list,
)

PMD: ExtensionOffer = ("permessage-deflate", (("client_max_window_bits", None),))


class TestRFC7230Section7TokenLists:
    """RFC 7230 §7 list rules with OWS and empty elements (used by §4 headers)."""

    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            (["Upgrade"], ["Upgrade"]),
            (["keep-alive, Upgrade"], ["keep-alive", "Upgrade"]),
            (["keep-alive,Upgrade"], ["keep-alive", "Upgrade"]),
            ([" ,, keep-alive ,\t, upgrade ,"], ["keep-alive", "upgrade"]),
            (["a", "b, c"], ["a", "b", "c"]),
            ([], []),
        ],
    )
    def test_parse(self, values: list[str], expected: list[str]) -> None:
        """Elements come back in order with casing kept; empty ones are skipped."""
        assert parse_token_list(values, "Connection") == expected

    @pytest.mark.parametrize("value", ["a b", "a;b", "a/b", '"a"', "é", ",", " "])
    def test_reject(self, value: str) -> None:
        """Elements that are not tokens, or a list with no element, are errors."""
        with pytest.raises(HandshakeError) as info:
            parse_token_list([value], "Connection")
        assert info.value.status == 400
        assert info.value.header == "Connection"
        assert info.value.reason.startswith("Connection ")

    def test_subprotocols_unique(self) -> None:
        """§4.1: subprotocol elements MUST all be unique (case-sensitive)."""
        assert parse_subprotocols(["chat, Chat"]) == ["chat", "Chat"]
        with pytest.raises(HandshakeError, match="twice"):
            parse_subprotocols(["chat", "chat"])


class TestSection9_1Extensions:
    """RFC 6455 §9.1: the Sec-WebSocket-Extensions grammar."""

    @pytest.mark.parametrize(
        ("values", "expected"),
        [
            (["permessage-deflate"], [("permessage-deflate", ())]),
            (["permessage-deflate; client_max_window_bits"], [PMD]),
            (
                ["permessage-deflate ;client_max_window_bits = 10 ; server_no_context_takeover"],
                [
                    (
                        "permessage-deflate",
                        (("client_max_window_bits", "10"), ("server_no_context_takeover", None)),
                    )
                ],
            ),
            (['x; a="10"'], [("x", (("a", "10"),))]),
            (['x; a="1\\0"'], [("x", (("a", "10"),))]),
            (["a, b", "c;d=e"], [("a", ()), ("b", ()), ("c", (("d", "e"),))]),
            ([", a ,, b ,"], [("a", ()), ("b", ())]),
            ([], []),
        ],
    )
    def test_parse(self, values: list[str], expected: list[ExtensionOffer]) -> None:
        """Names, parameters and unquoted values come back in order."""
        assert parse_extensions(values) == expected

    @pytest.mark.parametrize(
        ("value", "fragment"),
        [
            ('x; a="b c"', "quoted value 'b c' is not a token"),
            ('x; a="b,c"', "not a token"),
            ('x; a=""', "not a token"),
            ('x; a="10', "unterminated"),
            ("x; a=", "parameter value"),
            ("x;", "parameter name"),
            ("x; =1", "parameter name"),
            ("x y", "expected ',' or ';'"),
            ("x; a=b c", "expected ',' or ';'"),
            ("; a", "extension name"),
            ("x; a=@", "parameter value"),
            ("", "no extension"),
            (" , ", "no extension"),
        ],
    )
    def test_reject(self, value: str, fragment: str) -> None:
        """Bad grammar is a 400 naming the header and what was expected."""
        with pytest.raises(HandshakeError) as info:
            parse_extensions([value])
        assert info.value.status == 400
        assert info.value.header == "Sec-WebSocket-Extensions"
        assert fragment in info.value.reason
        assert info.value.reason.startswith("Sec-WebSocket-Extensions ")

    def test_format(self) -> None:
        """Extensions format as name; param[=value], comma-separated."""
        exts: list[ExtensionOffer] = [
            (
                "permessage-deflate",
                (("client_max_window_bits", None), ("server_max_window_bits", "10")),
            ),
            ("x-foo", ()),
        ]
        text = format_extensions(exts)
        assert text == (
            "permessage-deflate; client_max_window_bits; server_max_window_bits=10, x-foo"
        )
        assert parse_extensions([text]) == exts

    @pytest.mark.parametrize(
        "ext", [("a b", ()), ("a", (("b c", None),)), ("a", (("b", "c d"),)), ("a", (("b", ""),))]
    )
    def test_format_refuses_non_tokens(self, ext: ExtensionOffer) -> None:
        """§9.1 allows only tokens, so anything else is a local bug."""
        with pytest.raises(UsageError):
            format_extensions([ext])

    _token = st.text(alphabet="abcdefghijklmnopqrstuvwxyz0123456789-_.!#$%&'*+^`|~", min_size=1)

    @given(
        st.lists(
            st.tuples(
                _token,
                st.lists(st.tuples(_token, st.none() | _token), max_size=3).map(tuple),
            ),
            max_size=4,
        )
    )
    def test_format_parse_round_trip(self, exts: list[ExtensionOffer]) -> None:
        """Whatever we can format, we parse back the same."""
        text = format_extensions(exts)
        assert parse_extensions([text] if exts else []) == exts
