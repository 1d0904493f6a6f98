"""Tests for wstool.core.http: HTTP/1.1 request and response heads as on the wire."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstool.core import http as module
from wstool.core.errors import HandshakeError
from wstool.core.http import (
    BAD_RESPONSE_STATUS,
    RequestHead,
    ResponseHead,
    parse_request_head,
    parse_response_head,
)

# RFC 6455 §1.3
SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
SAMPLE_ACCEPT = "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="


REQUEST = (
    b"GET /chat HTTP/1.1\r\n"
    b"Host: server.example.com\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Origin: http://example.com\r\n"
    b"Sec-WebSocket-Protocol: chat, superchat\r\n"
    b"Sec-WebSocket-Version: 13\r\n"
    b"\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\n"
    b"Upgrade: websocket\r\n"
    b"Connection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"
    b"Sec-WebSocket-Protocol: chat\r\n"
    b"\r\n"
)


class TestHeadParsing:
    """HTTP heads (RFC 7230 §3): incremental, bounded, strict about structure."""

    def test_rfc_request(self) -> None:
        """The §1.3 request parses into method, target, version and ordered headers."""
        parsed = parse_request_head(REQUEST)
        assert parsed is not None
        head, consumed = parsed
        assert consumed == len(REQUEST)
        assert (head.method, head.target, head.version) == ("GET", "/chat", "HTTP/1.1")
        assert head.headers[0] == ("Host", "server.example.com")
        assert head.get("sec-websocket-key") == SAMPLE_KEY
        assert head.get("X-Missing") is None
        assert head.raw == REQUEST

    def test_rfc_response(self) -> None:
        """The §1.3 response parses into status, reason and headers."""
        parsed = parse_response_head(RESPONSE)
        assert parsed is not None
        head, consumed = parsed
        assert consumed == len(RESPONSE)
        assert (head.version, head.status, head.reason) == ("HTTP/1.1", 101, "Switching Protocols")
        assert head.get("SEC-WEBSOCKET-ACCEPT") == SAMPLE_ACCEPT

    def test_repeats_and_casing_kept(self) -> None:
        """get_all keeps each line; get joins them; names keep their casing."""
        data = b"GET / HTTP/1.1\r\nX-A: 1\r\nx-a:2\r\nX-B:  \t spaced \t \r\n\r\n"
        parsed = parse_request_head(data)
        assert parsed is not None
        head = parsed[0]
        assert head.headers == [("X-A", "1"), ("x-a", "2"), ("X-B", "spaced")]
        assert head.get_all("X-a") == ["1", "2"]
        assert head.get("x-A") == "1, 2"

    def test_obs_text_value_kept_as_latin1(self) -> None:
        """Bytes 0x80-0xFF in a value survive, decoded as Latin-1."""
        parsed = parse_request_head(b"GET / HTTP/1.1\r\nX: caf\xe9\r\n\r\n")
        assert parsed is not None
        assert parsed[0].get("X") == "café"

    def test_empty_reason_phrase(self) -> None:
        """RFC 9112 §4: the reason phrase may be empty (the space may not be omitted)."""
        parsed = parse_response_head(b"HTTP/1.1 101 \r\n\r\n")
        assert parsed is not None
        assert parsed[0].reason == ""

    @pytest.mark.parametrize("data", [REQUEST, RESPONSE])
    def test_incremental(self, data: bytes) -> None:
        """Fed one byte at a time: None until the blank line, then the same head."""
        parse = parse_request_head if data is REQUEST else parse_response_head
        for end in range(len(data)):
            assert parse(data[:end]) is None, end
        assert parse(data) == parse(data + b"more")

    @pytest.mark.parametrize("data", [REQUEST, RESPONSE])
    def test_bytes_after_head_not_consumed(self, data: bytes) -> None:
        """Frames sent right behind the head stay for the caller."""
        parse = parse_request_head if data is REQUEST else parse_response_head
        frame = b"\x81\x05hello\r\n\r\n"
        parsed = parse(data + frame)
        assert parsed is not None
        head, consumed = parsed
        assert consumed == len(data)
        assert (data + frame)[consumed:] == frame
        assert head.raw == data

    def test_request_size_limit(self) -> None:
        """A head over max_size is 431, as soon as max_size bytes came without its end."""
        assert parse_request_head(REQUEST, max_size=len(REQUEST)) is not None
        with pytest.raises(HandshakeError) as info:
            parse_request_head(REQUEST, max_size=len(REQUEST) - 1)
        assert info.value.status == 431
        assert str(len(REQUEST) - 1) in info.value.reason
        with pytest.raises(HandshakeError) as info:
            parse_request_head(b"GET / HTTP/1.1\r\nX: " + b"a" * 100, max_size=64)
        assert info.value.status == 431
        assert parse_request_head(b"GET / HTTP/1.1\r\nX: " + b"a" * 40, max_size=64) is None

    def test_response_size_limit(self) -> None:
        """A response head over max_size is an error too."""
        with pytest.raises(HandshakeError) as info:
            parse_response_head(RESPONSE, max_size=len(RESPONSE) - 1)
        assert info.value.status == BAD_RESPONSE_STATUS

    @pytest.mark.parametrize(
        ("data", "fragment"),
        [
            (b"GET / HTTP/1.1\nHost: x\n\n", "bare LF"),
            (b"GET / HTTP/1.1\r\nHost: x\n", "bare LF at offset 23"),
            (b"GET / HTTP/1.1\r\nHo\rst: x\r\n\r\n", "bare CR"),
            (b"GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n", "control byte 0x00"),
            (b"\x16\x03\x01\x02\x00\x01\x00", "TLS"),
            (b"GET /  HTTP/1.1\r\n\r\n", "request line"),
            (b"GET / HTTP/1.1 \r\n", "request line"),
            (b"GET /\r\n\r\n", "request line"),
            (b"G\xc9T / HTTP/1.1\r\n\r\n", "request line"),
            (b"GET / HTTP/11\r\n", "request line"),
            (b"\r\nGET / HTTP/1.1\r\n\r\n", "request line ''"),
            (b"GET / HTTP/1.1\r\nHost x\r\n\r\n", "no colon"),
            (b"GET / HTTP/1.1\r\nHost : x\r\n\r\n", "whitespace before the colon"),
            (b"GET / HTTP/1.1\r\nH\xe9st: x\r\n\r\n", "not a token"),
            (b"GET / HTTP/1.1\r\n: x\r\n\r\n", "not a token"),
            (b"GET / HTTP/1.1\r\nX: a\r\n  b\r\n\r\n", "obs-fold"),
        ],
    )
    def test_malformed_request(self, data: bytes, fragment: str) -> None:
        """Malformed heads are 400 with a one-line reason, as soon as visible."""
        with pytest.raises(HandshakeError) as info:
            parse_request_head(data)
        assert info.value.status == 400
        assert fragment in info.value.reason
        assert "\n" not in info.value.reason

    @pytest.mark.parametrize(
        "data",
        [
            b"HTTP/1.1 101\r\n\r\n",
            b"HTTP/1.1 1O1 Switching\r\n\r\n",
            b"ICY 200 OK\r\n\r\n",
            b"HTTP/1.1 101 OK\r\nUpgrade websocket\r\n\r\n",
            b"HTTP/1.1 101 OK\r\n\tfolded\r\n\r\n",
            b"HTTP/1.1 101 OK\nUpgrade: websocket\n\n",
        ],
    )
    def test_malformed_response(self, data: bytes) -> None:
        """Malformed response heads carry the 502 status, since none was received."""
        with pytest.raises(HandshakeError) as info:
            parse_response_head(data)
        assert info.value.status == BAD_RESPONSE_STATUS

    def test_bad_start_line_fails_before_head_ends(self) -> None:
        """A garbage first line is rejected without waiting for the blank line."""
        with pytest.raises(HandshakeError):
            parse_request_head(b"hello world\r\n")
        with pytest.raises(HandshakeError):
            parse_response_head(b"SSH-2.0-OpenSSH_9.6\r\n")

    @given(st.binary(max_size=300))
    def test_request_parser_contract(self, data: bytes) -> None:
        """Any bytes: None, a head within the data, or HandshakeError, nothing else."""
        try:
            parsed = parse_request_head(data, max_size=200)
        except HandshakeError as exc:
            assert exc.status in (400, 431)
            assert "\n" not in exc.reason
            return
        if parsed is not None:
            head, consumed = parsed
            assert isinstance(head, RequestHead)
            assert 0 < consumed <= min(len(data), 200)
            assert data[:consumed] == head.raw

    @given(st.binary(max_size=300))
    def test_response_parser_contract(self, data: bytes) -> None:
        """Any bytes: None, a head within the data, or HandshakeError, nothing else."""
        try:
            parsed = parse_response_head(data, max_size=200)
        except HandshakeError as exc:
            assert exc.status == BAD_RESPONSE_STATUS
            assert "\n" not in exc.reason
            return
        if parsed is not None:
            head, consumed = parsed
            assert isinstance(head, ResponseHead)
            assert data[:consumed] == head.raw

    @given(
        st.lists(st.sampled_from([b"GET / HTTP/1.1", b"Host: x", b"X:", b"", b"\r", b"\n"])).map(
            b"\r\n".join
        )
    )
    def test_request_parser_contract_near_valid(self, data: bytes) -> None:
        """Near-valid heads exercise the deeper paths under the same contract."""
        try:
            parse_request_head(data)
        except HandshakeError as exc:
            assert exc.status == 400


@given(st.lists(st.sampled_from([b"a", b"\r", b"\n", b"\r\n", b"\x00", b"\t", b"\x7f", b" "])))
def test_head_bytes_fast_check_agrees_with_the_full_one(pieces: list[bytes]) -> None:
    """The quick screen of a head's bytes accepts exactly what the full search accepts."""
    data = b"".join(pieces)
    expect_ok = module._BAD_BYTE.search(data) is None
    try:
        module._check_bytes(data, module._REQUEST)
    except HandshakeError:
        assert not expect_ok
    else:
        assert expect_ok
