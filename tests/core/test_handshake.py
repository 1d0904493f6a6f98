"""Tests for wstool.core.handshake: the RFC 6455 opening handshake, both roles.

Heads are tested in test_http.py, header grammar in test_headers.py.
"""

from __future__ import annotations

import base64
import binascii

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from websockets.client import ClientProtocol
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.http11 import Request, Response
from websockets.server import ServerProtocol
from websockets.typing import Origin, Subprotocol
from websockets.uri import parse_uri

from wstool.core.errors import HandshakeError, UsageError
from wstool.core.handshake import (
    GUID,
    ClientRequest,
    ServerAnswer,
    accept_key,
    build_rejection,
    build_request,
    build_response,
    check_request,
    check_response,
    generate_key,
    is_valid_key,
    select_subprotocol,
)
from wstool.core.headers import ExtensionOffer
from wstool.core.http import ResponseHead, encode_head, parse_request_head, parse_response_head

# RFC 6455 §1.3
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
PMD: ExtensionOffer = ("permessage-deflate", (("client_max_window_bits", None),))

Headers = list[tuple[str, str]]


def edited(headers: Headers, replace: dict[str, str | None]) -> Headers:
    """Copy ``headers``; ``name=None`` drops one, ``name=value`` changes or appends it.

    Keyword names use ``_`` for ``-`` (``Sec_WebSocket_Key``).
    """
    wanted = {name.replace("_", "-"): value for name, value in replace.items()}
    lowered = {name.lower(): value for name, value in wanted.items()}
    result: Headers = []
    for name, value in headers:
        new = lowered.get(name.lower(), value)
        if new is not None:
            result.append((name, new))
    present = {name.lower() for name, _ in headers}
    result += [(n, v) for n, v in wanted.items() if n.lower() not in present and v is not None]
    return result


def good_headers(**replace: str | None) -> Headers:
    """A valid upgrade request's headers with the §1.3 key, edited by ``replace``."""
    headers = [
        ("Host", "example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", SAMPLE_KEY),
        ("Sec-WebSocket-Version", "13"),
    ]
    return edited(headers, replace)


def request_error(
    headers: Headers, *, method: str = "GET", target: str = "/", version: str = "HTTP/1.1"
) -> HandshakeError:
    """Run check_request, which must fail, and return its error."""
    with pytest.raises(HandshakeError) as info:
        check_request(method, target, headers, version=version)
    return info.value


def response_head(status_line: str, headers: Headers) -> ResponseHead:
    """Build and parse a response head from parts."""
    lines = [status_line, *(f"{n}: {v}" for n, v in headers)]
    parsed = parse_response_head(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
    assert parsed is not None
    return parsed[0]


def good_response_headers(**replace: str | None) -> Headers:
    """A valid 101 response's headers for the §1.3 key, edited by ``replace``."""
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", SAMPLE_ACCEPT),
    ]
    return edited(headers, replace)


def response_error(head: ResponseHead, **kwargs: object) -> HandshakeError:
    """Run check_response for SAMPLE_KEY, which must fail, and return its error."""
    with pytest.raises(HandshakeError) as info:
        check_response(head, key=SAMPLE_KEY, **kwargs)  # type: ignore[arg-type]
    return info.value


class TestSection1_3AcceptKey:
    """RFC 6455 §1.3: Sec-WebSocket-Accept is base64(SHA-1(key + GUID))."""

    def test_rfc_example(self) -> None:
        """The worked example in §1.3 gives the documented accept value."""
        assert GUID == "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
        assert accept_key(SAMPLE_KEY) == SAMPLE_ACCEPT

    def test_non_ascii_key_is_misuse(self) -> None:
        """A key that is not ASCII cannot come from a valid request: our bug."""
        with pytest.raises(UsageError):
            accept_key("clé")

    def test_generate_key_uses_injected_source(self) -> None:
        """The key is base64 of exactly the 16 bytes the injected source gives."""
        asked: list[int] = []

        def source(n: int) -> bytes:
            asked.append(n)
            return b"the sample nonce"

        assert generate_key(source) == SAMPLE_KEY
        assert asked == [16]

    def test_generate_key_default_source_is_valid(self) -> None:
        """The default source yields keys that a server accepts."""
        key = generate_key()
        assert check_request("GET", "/", good_headers(Sec_WebSocket_Key=key)).key == key

    def test_generate_key_refuses_short_source(self) -> None:
        """A source that returns the wrong number of bytes is a local bug."""
        with pytest.raises(UsageError):
            generate_key(lambda n: b"short")


class TestSection4_2_1ServerRequirements:
    """RFC 6455 §4.2.1: the server checks every part of the client's handshake."""

    def test_valid_request(self) -> None:
        """A minimal valid request yields what the client asked for."""
        headers = good_headers(
            Origin="https://example.com",
            Sec_WebSocket_Protocol="chat, superchat",
            Sec_WebSocket_Extensions="permessage-deflate; client_max_window_bits",
        )
        assert check_request("GET", "/chat?x=1", headers) == ClientRequest(
            key=SAMPLE_KEY,
            subprotocols=("chat", "superchat"),
            extensions=(PMD,),
            origin="https://example.com",
            host="example.com",
            target="/chat?x=1",
        )

    def test_header_names_are_case_insensitive(self) -> None:
        """Header names match in any casing, and Upgrade/Connection values too."""
        headers = [
            ("HOST", "example.com"),
            ("upgrade", "WebSocket"),
            ("connection", "keep-alive, UPGRADE"),
            ("sec-websocket-key", SAMPLE_KEY),
            ("SEC-WEBSOCKET-VERSION", "13"),
        ]
        assert check_request("GET", "/", headers).key == SAMPLE_KEY

    @pytest.mark.parametrize("method", ["POST", "HEAD", "get", "PUT"])
    def test_method_must_be_get(self, method: str) -> None:
        """A method other than GET gets 405 with the Allow header RFC 7231 requires."""
        error = request_error(good_headers(), method=method)
        assert error.status == 405
        assert error.headers == (("Allow", "GET"),)
        assert repr(method) in error.reason

    @pytest.mark.parametrize(
        ("version", "status"), [("HTTP/1.0", 400), ("HTTP/0.9", 400), ("HTTP/2.0", 505)]
    )
    def test_http_version_must_be_1_1(self, version: str, status: int) -> None:
        """HTTP/1.0 is a bad request; another major version is 505."""
        error = request_error(good_headers(), version=version)
        assert error.status == status
        assert version in error.reason

    def test_http_1_9_is_accepted(self) -> None:
        """ "HTTP/1.1 or higher": a later HTTP/1 minor version is fine."""
        assert check_request("GET", "/", good_headers(), version="HTTP/1.9").host == "example.com"

    @pytest.mark.parametrize("target", ["*", "example.com:80", "chat", "/a#frag", "ftp://x/"])
    def test_bad_targets(self, target: str) -> None:
        """The target is a /resource name or an http(s) URI, without a fragment (§3)."""
        error = request_error(good_headers(), target=target)
        assert error.status == 400
        assert "target" in error.reason

    def test_absolute_form_target(self) -> None:
        """§4.2.1 allows an absolute HTTP/HTTPS URI as the Request-URI."""
        target = "https://example.com/chat"
        assert check_request("GET", target, good_headers()).target == target

    @pytest.mark.parametrize(
        ("replace", "header", "fragment"),
        [
            ({"Host": None}, "Host", "missing"),
            ({"Host": "exa mple"}, "Host", "'exa mple'"),
            ({"Host": ""}, "Host", "''"),
            ({"Upgrade": None}, "Upgrade", "missing"),
            ({"Upgrade": "h2c"}, "Upgrade", "'h2c'"),
            ({"Upgrade": "web socket"}, "Upgrade", "'web socket'"),
            ({"Upgrade": ", ,"}, "Upgrade", "empty"),
            ({"Connection": None}, "Connection", "missing"),
            ({"Connection": "keep-alive"}, "Connection", "'keep-alive'"),
            ({"Connection": "Upgrade;x"}, "Connection", "'Upgrade;x'"),
            ({"Sec_WebSocket_Key": None}, "Sec-WebSocket-Key", "missing"),
            ({"Sec_WebSocket_Key": "abc"}, "Sec-WebSocket-Key", "'abc'"),
            # 15 and 17 bytes
            ({"Sec_WebSocket_Key": "AAAAAAAAAAAAAAAAAAAA"}, "Sec-WebSocket-Key", "16 bytes"),
            ({"Sec_WebSocket_Key": "AAAAAAAAAAAAAAAAAAAAAAA="}, "Sec-WebSocket-Key", "16 bytes"),
            # 16 bytes, but with non-zero pad bits: not canonical base64
            ({"Sec_WebSocket_Key": "dGhlIHNhbXBsZSBub25jZR=="}, "Sec-WebSocket-Key", "16 bytes"),
            ({"Sec_WebSocket_Protocol": "chat, chat"}, "Sec-WebSocket-Protocol", "twice"),
            ({"Sec_WebSocket_Protocol": "a b"}, "Sec-WebSocket-Protocol", "'a b'"),
            ({"Sec_WebSocket_Protocol": ""}, "Sec-WebSocket-Protocol", "empty"),
            ({"Sec_WebSocket_Extensions": 'a; b="c d"'}, "Sec-WebSocket-Extensions", "token"),
            ({"Content_Length": "5"}, "Content-Length", "'5'"),
            ({"Transfer_Encoding": "chunked"}, "Transfer-Encoding", "frames"),
        ],
    )
    def test_bad_header_is_400_and_named(
        self, replace: dict[str, str | None], header: str, fragment: str
    ) -> None:
        """Each missing or bad header gets 400 and a one-line reason naming it."""
        error = request_error(good_headers(**replace))
        assert error.status == 400
        assert error.header == header
        assert header in error.reason
        assert fragment in error.reason
        assert "\n" not in error.reason

    @pytest.mark.parametrize(
        "header", ["Host", "Sec-WebSocket-Key", "Origin", "Sec-WebSocket-Version"]
    )
    def test_single_headers_must_not_repeat(self, header: str) -> None:
        """§11.3.1, §11.3.5 and RFC 7230 §5.4: these may appear only once."""
        value = {"Origin": "https://a.example"}.get(header, dict(good_headers()).get(header, ""))
        headers = [*good_headers(), (header, value)]
        if header == "Origin":
            headers.append((header, value))
        error = request_error(headers)
        assert error.status == 400
        assert error.header == header
        assert "2 times" in error.reason

    def test_repeated_list_headers_are_joined(self) -> None:
        """List headers may repeat; their lines are one list (§11.3.2, §11.3.4)."""
        headers = [
            *good_headers(Connection="keep-alive"),
            ("Connection", "Upgrade"),
            ("Sec-WebSocket-Protocol", "a"),
            ("Sec-WebSocket-Protocol", "b"),
            ("Sec-WebSocket-Extensions", "x"),
            ("Sec-WebSocket-Extensions", "y; p=1"),
        ]
        request = check_request("GET", "/", headers)
        assert request.subprotocols == ("a", "b")
        assert request.extensions == (("x", ()), ("y", (("p", "1"),)))

    def test_upgrade_list_with_versions(self) -> None:
        """Upgrade is a list of protocol[/version]; websocket may be among others."""
        request = check_request("GET", "/", good_headers(Upgrade="HTTP/2.0, WebSocket"))
        assert request.key == SAMPLE_KEY

    def test_content_length_zero_is_fine(self) -> None:
        """An explicit empty body does not hide frames."""
        assert check_request("GET", "/", good_headers(Content_Length="0")).key == SAMPLE_KEY

    @pytest.mark.parametrize("host", ["example.com:8080", "[::1]:9000", "127.0.0.1", "[::1]"])
    def test_host_forms(self, host: str) -> None:
        """Host is host[:port], an IPv6 literal in brackets."""
        assert check_request("GET", "/", good_headers(Host=host)).host == host


class TestSection4_2_2VersionNegotiation:
    """RFC 6455 §4.2.2 and §4.4: an unsupported version gets 426 and our version."""

    @pytest.mark.parametrize("version", ["8", "12", "255", None])
    def test_unsupported_or_missing_version_is_426(self, version: str | None) -> None:
        """426 carries Sec-WebSocket-Version: 13, and the Upgrade RFC 7231 requires."""
        error = request_error(good_headers(Sec_WebSocket_Version=version))
        assert error.status == 426
        assert error.header == "Sec-WebSocket-Version"
        assert ("Sec-WebSocket-Version", "13") in error.headers
        assert ("Upgrade", "websocket") in error.headers

    @pytest.mark.parametrize("version", ["013", "abc", "256", "13, 8", ""])
    def test_malformed_version_is_400(self, version: str) -> None:
        """A value outside the §4.1 version grammar is a bad request, still naming 13."""
        error = request_error(good_headers(Sec_WebSocket_Version=version))
        assert error.status == 400
        assert error.headers == (("Sec-WebSocket-Version", "13"),)
        assert repr(version) in error.reason

    def test_version_checked_before_key(self) -> None:
        """An old (hixie) client without a key still learns which version we speak."""
        error = request_error(good_headers(Sec_WebSocket_Key=None, Sec_WebSocket_Version=None))
        assert error.status == 426

    def test_rejection_of_426(self) -> None:
        """The rejection names Upgrade in Connection, as RFC 7230 §6.7 requires."""
        error = request_error(good_headers(Sec_WebSocket_Version="8"))
        data = build_rejection(error)
        parsed = parse_response_head(data)
        assert parsed is not None
        head, consumed = parsed
        assert head.status == 426
        assert head.reason == "Upgrade Required"
        assert head.get("Sec-WebSocket-Version") == "13"
        assert head.get("Connection") == "Upgrade, close"
        assert data[consumed:] == (error.reason + "\n").encode()


class TestRejection:
    """The full HTTP error response a server sends for a refused handshake."""

    def test_layout(self) -> None:
        """Status line, plain-text headers, close, extra headers and a one-line body."""
        error = HandshakeError("Sec-WebSocket-Key 'abc' is not base64 of 16 bytes", 400)
        data = build_rejection(error)
        body = b"Sec-WebSocket-Key 'abc' is not base64 of 16 bytes\n"
        assert data == (
            b"HTTP/1.1 400 Bad Request\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\n"
            b"Connection: close\r\n"
            b"\r\n" + body
        )

    def test_405_carries_allow(self) -> None:
        """The error's headers are sent."""
        data = build_rejection(request_error(good_headers(), method="POST"))
        assert data.startswith(b"HTTP/1.1 405 Method Not Allowed\r\n")
        assert b"\r\nAllow: GET\r\n" in data

    def test_body_is_utf8_and_one_line(self) -> None:
        """The body is UTF-8 and a multi-line reason is folded to one line."""
        data = build_rejection(HandshakeError("bad\nvalue é", 400))
        assert data.endswith("bad value é\n".encode())
        assert b"Content-Length: 13\r\n" in data

    @pytest.mark.parametrize("status", [101, 200, 302, 600])
    def test_non_error_status_is_misuse(self, status: int) -> None:
        """Only 4xx and 5xx statuses make a rejection."""
        with pytest.raises(UsageError):
            build_rejection(HandshakeError("x", status))

    def test_unknown_status_gets_generic_phrase(self) -> None:
        """A status without a standard phrase still makes a valid status line."""
        assert build_rejection(HandshakeError("x", 499)).startswith(b"HTTP/1.1 499 Error\r\n")


# The §1.3 response, with the subprotocol the client offered first.
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)


class TestSubprotocolSelection:
    """RFC 6455 §4.2.1: the client lists subprotocols in order of preference."""

    @pytest.mark.parametrize(
        ("offered", "supported", "expected"),
        [
            (["a", "b"], ["b", "a"], "a"),
            (["x", "b"], ["a", "b"], "b"),
            (["x"], ["a"], None),
            ([], ["a"], None),
            (["Chat"], ["chat"], None),
        ],
    )
    def test_select_subprotocol_client_order(
        self, offered: list[str], supported: list[str], expected: str | None
    ) -> None:
        """The first subprotocol the client offers that we support wins."""
        assert select_subprotocol(offered, supported) == expected


class TestSection4_1ClientRequest:
    """RFC 6455 §4.1: the client's request, and the server's check of it."""

    def test_layout(self) -> None:
        """The request has the §4.1 headers in a fixed order, then extras."""
        data = build_request(
            "example.com:8080",
            "/chat?x=1",
            key=SAMPLE_KEY,
            subprotocols=["chat", "superchat"],
            extensions=[PMD],
            origin="http://example.com",
            extra_headers=[("Authorization", "Bearer t")],
        )
        assert data == (
            b"GET /chat?x=1 HTTP/1.1\r\n"
            b"Host: example.com:8080\r\n"
            b"Upgrade: websocket\r\n"
            b"Connection: Upgrade\r\n"
            b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            b"Sec-WebSocket-Version: 13\r\n"
            b"Origin: http://example.com\r\n"
            b"Sec-WebSocket-Protocol: chat, superchat\r\n"
            b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits\r\n"
            b"Authorization: Bearer t\r\n"
            b"\r\n"
        )

    def test_round_trip(self) -> None:
        """build_request -> parse_request_head -> check_request gives back what was asked."""
        data = build_request(
            "[::1]:9000", "/", key=SAMPLE_KEY, subprotocols=["v1"], extensions=[PMD]
        )
        parsed = parse_request_head(data)
        assert parsed is not None
        head, consumed = parsed
        assert consumed == len(data)
        request = check_request(head.method, head.target, head.headers, version=head.version)
        assert request == ClientRequest(SAMPLE_KEY, ("v1",), (PMD,), None, "[::1]:9000", "/")

    @pytest.mark.parametrize(
        "kwargs",
        [
            {"host": "exa mple.com"},
            {"host": "x\r\nEvil: 1"},
            {"target": "chat"},
            {"target": "/a b"},
            {"target": "/a#b"},
            {"key": "abc"},
            {"subprotocols": ["a b"]},
            {"subprotocols": ["a", "a"]},
            {"extensions": [("a b", ())]},
            {"origin": "http://x\r\nEvil: 1"},
            {"extra_headers": [("Bad Name", "x")]},
            {"extra_headers": [("X", "a\nb")]},
            {"extra_headers": [("X", "€")]},
        ],
    )
    def test_refuses_bad_arguments(self, kwargs: dict[str, object]) -> None:
        """Arguments that would make an invalid or split request are a UsageError."""
        args: dict[str, object] = {"host": "example.com", "target": "/", "key": SAMPLE_KEY}
        args.update(kwargs)
        with pytest.raises(UsageError):
            build_request(**args)  # type: ignore[arg-type]


class TestSection4_2_2ServerResponse:
    """RFC 6455 §4.2.2: the server's 101 response."""

    def request(self, **replace: str | None) -> ClientRequest:
        """A checked request with the §1.3 key."""
        return check_request("GET", "/", good_headers(**replace))

    def test_rfc_example(self) -> None:
        """The §1.3 key yields the §1.3 response."""
        request = self.request(Sec_WebSocket_Protocol="chat, superchat")
        assert build_response(request, subprotocol="chat") == RESPONSE

    def test_extensions_and_extra_headers(self) -> None:
        """Accepted extensions and extra headers follow ours."""
        request = self.request(
            Sec_WebSocket_Extensions="permessage-deflate; client_max_window_bits"
        )
        answer: ExtensionOffer = ("permessage-deflate", (("client_max_window_bits", "10"),))
        data = build_response(request, extensions=[answer], extra_headers=[("Server", "wstool")])
        assert data.endswith(
            b"Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10\r\n"
            b"Server: wstool\r\n\r\n"
        )

    def test_plain_101_is_what_encode_head_writes(self) -> None:
        """The 101 without choices is written at once, byte for byte as encode_head would."""
        request = self.request()
        assert build_response(request) == encode_head(
            "HTTP/1.1 101 Switching Protocols",
            [
                ("Upgrade", "websocket"),
                ("Connection", "Upgrade"),
                ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
            ],
        )

    def test_unoffered_subprotocol_is_misuse(self) -> None:
        """A subprotocol the client did not offer is refused before it reaches the wire."""
        with pytest.raises(UsageError, match="'superchat' was not offered"):
            build_response(self.request(Sec_WebSocket_Protocol="chat"), subprotocol="superchat")
        with pytest.raises(UsageError):
            build_response(self.request(), subprotocol="chat")

    def test_unoffered_extension_is_misuse(self) -> None:
        """An extension the client did not offer is refused too."""
        with pytest.raises(UsageError, match="'x-foo'"):
            build_response(self.request(), extensions=[("x-foo", ())])

    def test_round_trip(self) -> None:
        """build_response -> parse_response_head -> check_response gives the choices back."""
        request = self.request(
            Sec_WebSocket_Protocol="a, b",
            Sec_WebSocket_Extensions="permessage-deflate; client_max_window_bits, x-foo",
        )
        answer: ExtensionOffer = ("permessage-deflate", (("server_no_context_takeover", None),))
        data = build_response(request, subprotocol="b", extensions=[answer])
        parsed = parse_response_head(data)
        assert parsed is not None
        head, consumed = parsed
        assert consumed == len(data)
        result = check_response(
            head, key=SAMPLE_KEY, subprotocols=["a", "b"], extensions=[PMD, ("x-foo", ())]
        )
        assert result == ServerAnswer("b", (answer,))


class TestSection4_1ClientChecksResponse:
    """RFC 6455 §4.1: the client MUST fail the connection if the response is wrong."""

    def test_valid(self) -> None:
        """A valid response without subprotocol or extensions is accepted."""
        head = response_head("HTTP/1.1 101 Switching Protocols", good_response_headers())
        assert check_response(head, key=SAMPLE_KEY) == ServerAnswer(None, ())

    def test_server_may_decline_subprotocol(self) -> None:
        """Answering no subprotocol when some were offered is allowed."""
        head = response_head("HTTP/1.1 101 Switching Protocols", good_response_headers())
        assert check_response(head, key=SAMPLE_KEY, subprotocols=["chat"]).subprotocol is None

    @pytest.mark.parametrize(("status", "phrase"), [(200, "OK"), (403, "Forbidden"), (426, "")])
    def test_not_101(self, status: int, phrase: str) -> None:
        """A status other than 101 fails, carrying that status for the CLI."""
        head = response_head(f"HTTP/1.1 {status} {phrase}", [("Content-Length", "0")])
        error = response_error(head)
        assert error.status == status
        assert f"server answered {status}" in error.reason

    def test_not_http_1_1(self) -> None:
        """A 101 in HTTP/1.0 is not a WebSocket upgrade."""
        error = response_error(response_head("HTTP/1.0 101 Switching", good_response_headers()))
        assert error.status == 101
        assert "HTTP/1.0" in error.reason

    @pytest.mark.parametrize(
        ("replace", "header", "fragment"),
        [
            ({"Upgrade": None}, "Upgrade", "missing"),
            ({"Upgrade": "h2c"}, "Upgrade", "'h2c'"),
            ({"Upgrade": "websocket, h2c"}, "Upgrade", "'websocket, h2c'"),
            ({"Upgrade": "web socket"}, "Upgrade", "not a protocol"),
            ({"Connection": None}, "Connection", "missing"),
            ({"Connection": "close"}, "Connection", "'close'"),
            ({"Connection": "a b"}, "Connection", "not a token"),
            ({"Sec_WebSocket_Accept": None}, "Sec-WebSocket-Accept", "missing"),
            ({"Sec_WebSocket_Accept": "wrong="}, "Sec-WebSocket-Accept", "'wrong='"),
            ({"Sec_WebSocket_Protocol": "chat"}, "Sec-WebSocket-Protocol", "not offered"),
            ({"Sec_WebSocket_Protocol": "a, b"}, "Sec-WebSocket-Protocol", "exactly one"),
            ({"Sec_WebSocket_Extensions": "x-foo"}, "Sec-WebSocket-Extensions", "'x-foo'"),
            ({"Sec_WebSocket_Extensions": 'x; a="b c"'}, "Sec-WebSocket-Extensions", "token"),
        ],
    )
    def test_client_fails(self, replace: dict[str, str | None], header: str, fragment: str) -> None:
        """Each wrong header fails, naming it, with the status received (101)."""
        head = response_head("HTTP/1.1 101 Switching Protocols", good_response_headers(**replace))
        error = response_error(head, subprotocols=["a", "b"])
        assert error.status == 101
        assert error.header == header
        assert header in error.reason
        assert fragment in error.reason
        assert "\n" not in error.reason

    def test_upgrade_case_insensitive(self) -> None:
        """Upgrade and Connection values compare ASCII case-insensitively."""
        headers = good_response_headers(Upgrade="WebSocket", Connection="upgrade")
        head = response_head("HTTP/1.1 101 Switching Protocols", headers)
        assert check_response(head, key=SAMPLE_KEY) == ServerAnswer(None, ())

    def test_wrong_accept_names_expected(self) -> None:
        """The accept mismatch message shows the value expected for our key."""
        head = response_head(
            "HTTP/1.1 101 Switching Protocols",
            good_response_headers(Sec_WebSocket_Accept=accept_key(generate_key())),
        )
        assert SAMPLE_ACCEPT in response_error(head).reason

    @pytest.mark.parametrize("header", ["Sec-WebSocket-Accept", "Sec-WebSocket-Protocol"])
    def test_single_response_headers_must_not_repeat(self, header: str) -> None:
        """§11.3.3 and §11.3.4: these MUST NOT appear more than once in a response."""
        value = SAMPLE_ACCEPT if header == "Sec-WebSocket-Accept" else "chat"
        drop: dict[str, str | None] = {header: None}
        headers = [*good_response_headers(**drop), (header, value), (header, value)]
        head = response_head("HTTP/1.1 101 Switching Protocols", headers)
        error = response_error(head, subprotocols=["chat"])
        assert error.header == header

    def test_extensions_may_repeat(self) -> None:
        """RFC 6455 erratum 3433: Sec-WebSocket-Extensions may repeat in a response."""
        headers = [
            *good_response_headers(),
            ("Sec-WebSocket-Extensions", "a"),
            ("Sec-WebSocket-Extensions", "b; x=1"),
        ]
        head = response_head("HTTP/1.1 101 Switching Protocols", headers)
        result = check_response(head, key=SAMPLE_KEY, extensions=[("a", ()), ("b", ())])
        assert result.extensions == (("a", ()), ("b", (("x", "1"),)))


class TestInteropWebsockets:
    """The websockets library's sans-I/O protocols accept our handshakes, and we theirs."""

    def test_their_server_accepts_our_request(self) -> None:
        """Our request, fed to websockets' ServerProtocol, is accepted; we accept its 101."""
        key = generate_key()
        offer = [PMD]
        data = build_request(
            "example.com", "/chat", key=key, subprotocols=["chat", "superchat"], extensions=offer
        )
        server = ServerProtocol(
            subprotocols=[Subprotocol("superchat")], extensions=[ServerPerMessageDeflateFactory()]
        )
        server.receive_data(data)
        [request] = server.events_received()
        assert isinstance(request, Request)
        response = server.accept(request)
        assert response.status_code == 101
        server.send_response(response)
        answer = b"".join(server.data_to_send())
        parsed = parse_response_head(answer)
        assert parsed is not None
        result = check_response(
            parsed[0], key=key, subprotocols=["chat", "superchat"], extensions=offer
        )
        assert result.subprotocol == "superchat"
        assert [name for name, _ in result.extensions] == ["permessage-deflate"]

    def test_their_client_accepts_our_response(self) -> None:
        """websockets' client request passes our checks, and our 101 opens its connection."""
        client = ClientProtocol(
            parse_uri("ws://example.com:8080/chat?x=1"),
            origin=Origin("https://example.com"),
            subprotocols=[Subprotocol("chat")],
            extensions=[ClientPerMessageDeflateFactory()],
        )
        client.send_request(client.connect())
        data = b"".join(client.data_to_send())
        parsed = parse_request_head(data)
        assert parsed is not None
        head, consumed = parsed
        assert consumed == len(data)
        request = check_request(head.method, head.target, head.headers, version=head.version)
        assert request.host == "example.com:8080"
        assert request.target == "/chat?x=1"
        assert request.origin == "https://example.com"
        assert request.subprotocols == ("chat",)
        assert [name for name, _ in request.extensions] == ["permessage-deflate"]
        client.receive_data(
            build_response(request, subprotocol="chat", extensions=[("permessage-deflate", ())])
        )
        [response] = client.events_received()
        assert isinstance(response, Response)
        assert client.handshake_exc is None
        assert client.subprotocol == "chat"
        assert len(client.extensions) == 1

    def test_their_client_reads_our_rejection(self) -> None:
        """websockets' client parses our 426 and reports the status."""
        client = ClientProtocol(parse_uri("ws://example.com/"))
        client.send_request(client.connect())
        client.data_to_send()
        client.receive_data(build_rejection(request_error(good_headers(Sec_WebSocket_Version="8"))))
        [response] = client.events_received()
        assert isinstance(response, Response)
        assert response.status_code == 426
        assert response.headers["Sec-WebSocket-Version"] == "13"
        assert client.handshake_exc is not None


@given(
    st.text(
        alphabet="ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/=", max_size=26
    )
)
@example("dGhlIHNhbXBsZSBub25jZQ==")
@example("dGhlIHNhbXBsZSBub25jZR==")
def test_a_valid_key_is_canonical_base64_of_16_bytes(key: str) -> None:
    """is_valid_key's reading of the pad bits is base64's own round trip."""
    try:
        raw = base64.b64decode(key, validate=True)
    except binascii.Error:
        canonical = False
    else:
        canonical = len(raw) == 16 and base64.b64encode(raw).decode("ascii") == key
    assert is_valid_key(key) == canonical


@given(st.binary(min_size=16, max_size=16))
def test_every_key_of_16_bytes_is_valid(nonce: bytes) -> None:
    assert is_valid_key(base64.b64encode(nonce).decode("ascii"))
