"""The one-pass check of the common upgrade request against the full checks.

``quick_request`` may only ever be right or silent: for any head it answers,
``parse_request_head`` + ``check_request`` must accept the same head and
return the same request. The heads below are what real clients send
(it must answer those, or the server never takes the quick path), and
generated ones: good heads bent one way or another, which it must either
get right or leave to the full checks.

Every test runs on both paths, the C accelerator's and the pure-Python one,
and the last ones hold the two to each other directly.
"""

from __future__ import annotations

import base64
from collections.abc import Callable

import pytest
from hypothesis import event, example, given, settings
from hypothesis import strategies as st

from wstool.core.errors import HandshakeError
from wstool.core.handshake import ClientRequest, check_request, parse_request_head
from wstool.core.quickhead import ACCELERATED, quick_request, quick_request_python

Quick = Callable[..., ClientRequest | None]

needs_c = pytest.mark.skipif(not ACCELERATED, reason="the C accelerator is not built")


both_paths = pytest.mark.parametrize(
    "quick",
    [
        pytest.param(quick_request, id="c", marks=needs_c),
        pytest.param(quick_request_python, id="python"),
    ],
)
"""Each path of the check: quick_request (the C one, when built) and the Python one."""


KEY = "dGhlIHNhbXBsZSBub25jZQ=="  # RFC 6455 §1.3


def full_check(raw: bytes, max_size: int = 16384) -> ClientRequest | HandshakeError:
    try:
        parsed = parse_request_head(raw, max_size=max_size)
        assert parsed is not None and parsed[1] == len(raw)
        head = parsed[0]
        return check_request(head.method, head.target, head.headers, version=head.version)
    except HandshakeError as exc:
        return exc


def head(*lines: str, start: str = "GET /chat HTTP/1.1") -> bytes:
    return ("\r\n".join([start, *lines]) + "\r\n\r\n").encode("latin-1")


BASIC = [
    "Host: server.example.com",
    "Upgrade: websocket",
    "Connection: Upgrade",
    f"Sec-WebSocket-Key: {KEY}",
    "Sec-WebSocket-Version: 13",
]

REAL_CLIENTS = {
    "RFC 6455 §1.2": head(
        *BASIC,
        "Origin: http://example.com",
        "Sec-WebSocket-Protocol: chat, superchat",
    ),
    "Chromium": head(
        "Host: 127.0.0.1:8765",
        "Connection: Upgrade",
        "Pragma: no-cache",
        "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko)",
        "Upgrade: websocket",
        "Origin: http://127.0.0.1:8765",
        "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br",
        "Accept-Language: en-US,en;q=0.9",
        f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        start="GET / HTTP/1.1",
    ),
    "Firefox": head(
        "Host: localhost:8765",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
        "Accept: */*",
        "Sec-WebSocket-Version: 13",
        "Origin: http://localhost:8765",
        "Sec-WebSocket-Extensions: permessage-deflate",
        f"Sec-WebSocket-Key: {KEY}",
        "Connection: keep-alive, Upgrade",
        "Sec-Fetch-Dest: empty",
        "Pragma: no-cache",
        "Upgrade: websocket",
        start="GET /socket?room=1 HTTP/1.1",
    ),
    "websockets": head(
        "Host: 127.0.0.1:8765",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {KEY}",
        "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "User-Agent: Python/3.11 websockets/15.0",
        start="GET / HTTP/1.1",
    ),
    "Node ws": head(
        "Sec-WebSocket-Version: 13",
        f"Sec-WebSocket-Key: {KEY}",
        "Connection: Upgrade",
        "Upgrade: websocket",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "Host: [::1]:8765",
        start="GET / HTTP/1.1",
    ),
}


class TestRealClients:
    @both_paths
    @pytest.mark.parametrize("name", sorted(REAL_CLIENTS))
    def test_answered_as_the_full_checks_answer(self, name: str, quick: Quick) -> None:
        raw = REAL_CLIENTS[name]
        answer = quick(raw)
        assert answer is not None, "a real client's head must take the quick path"
        assert answer == full_check(raw)

    @both_paths
    def test_rfc_example_fields(self, quick: Quick) -> None:
        answer = quick(REAL_CLIENTS["RFC 6455 §1.2"])
        assert answer == ClientRequest(
            KEY, ("chat", "superchat"), (), "http://example.com", "server.example.com", "/chat"
        )


class TestLeftToTheFullChecks:
    """Heads the full checks refuse, or that are valid but not of the common shape."""

    @pytest.mark.parametrize(
        "raw",
        [
            head(*BASIC, start="POST /chat HTTP/1.1"),  # 405
            head(*BASIC, start="GET /chat HTTP/1.0"),  # 400
            head(*BASIC, start="GET /chat HTTP/1.2"),  # valid, rare
            head(*BASIC, start="GET http://server.example.com/chat HTTP/1.1"),  # valid
            head(*BASIC, start="GET /chat#top HTTP/1.1"),  # fragment
            head(*BASIC, "Host: again.example.com"),  # repeated Host
            head(*BASIC, "Connection: keep-alive"),  # repeated, valid
            head(*BASIC[1:]),  # no Host
            head(*BASIC, "Content-Length: 5"),
            head(*BASIC, "Transfer-Encoding: chunked"),
            head(*BASIC, "Sec-WebSocket-Protocol: ,"),  # an empty list
            head(*BASIC, "Sec-WebSocket-Protocol: chat, chat"),  # repeated subprotocol
            head(*BASIC, 'Sec-WebSocket-Extensions: permessage-deflate; x="a'),
            head(*BASIC, " folded"),  # obs-fold
            head(*BASIC, "Bad Name: x"),
            head(*[line.replace("13", "8") for line in BASIC]),  # 426
            head(*[line.replace(KEY, "c2hvcnQ=") for line in BASIC]),  # key too short
            head(*[line.replace(KEY, KEY[:21] + "R==") for line in BASIC]),  # pad bits set
            head(*[line.replace("websocket", "websocket, h2c") for line in BASIC]),  # a list
            head(*BASIC).replace(b"\r\n", b"\n", 1),  # a bare LF
            head(*BASIC, "X-CR: a\rb"),  # a bare CR
            head(*BASIC, "X-CR: ab\r"),  # a CR before the line's CRLF
            # A bare CR must not end a line: here it would hide the Upgrade header in X-CR.
            head(*[ln for ln in BASIC if "websocket" not in ln], "X-CR: a\r-Upgrade: websocket"),
            head(*BASIC)[:-2],  # not a whole head
            head(*BASIC, "X-Null: a\x00b"),
        ],
    )
    @both_paths
    def test_not_answered(self, raw: bytes, quick: Quick) -> None:
        assert quick(raw) is None

    @both_paths
    def test_longer_than_the_limit(self, quick: Quick) -> None:
        raw = head(*BASIC)
        assert quick(raw, max_size=len(raw)) is not None
        assert quick(raw, max_size=len(raw) - 1) is None
        assert isinstance(full_check(raw, max_size=len(raw) - 1), HandshakeError)


# -- generated heads ------------------------------------------------------------

names = st.sampled_from(
    [
        "Host",
        "host",
        "Upgrade",
        "UPGRADE",
        "Connection",
        "connection",
        "Sec-WebSocket-Key",
        "sec-websocket-key",
        "Sec-WebSocket-Version",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Extensions",
        "Origin",
        "Content-Length",
        "Transfer-Encoding",
        "User-Agent",
        "X-Thing",
        "Bad Name",
        "",
    ]
)
values = st.one_of(
    st.sampled_from(
        [
            "websocket",
            "WebSocket",
            "websocket, h2c",
            "Upgrade",
            "upgrade",
            "keep-alive, Upgrade",
            "Upgrade, keep-alive",
            "keep-alive",
            "close",
            "13",
            "8",
            "013",
            KEY,
            base64.b64encode(b"x" * 16).decode(),
            "dGhlIHNhbXBsZSBub25jZR==",  # pad bits set: not canonical
            "server.example.com",
            "127.0.0.1:8765",
            "[::1]:80",
            "bad host",
            "0",
            "5",
            "chunked",
            "chat, superchat",
            "chat, chat",
            ",",
            "",
            "permessage-deflate; client_max_window_bits",
            'permessage-deflate; x="a',
            "http://example.com",
        ]
    ),
    st.text(st.characters(min_codepoint=0, max_codepoint=255), max_size=12),
)
ows = st.sampled_from(["", " ", "  ", "\t", " \t"])


@st.composite
def heads(draw: st.DrawFn) -> bytes:
    good = draw(st.integers(0, 3)) > 0  # most start lines good, to reach the header checks
    method = "GET" if good else draw(st.sampled_from(["GET", "get", "POST"]))
    target = draw(st.sampled_from(["/", "/chat", "/a?b=c", "/%zz"] if good else ["/x#y", "*"]))
    version = "HTTP/1.1" if good else draw(st.sampled_from(["HTTP/1.0", "HTTP/1.2", "HTTP/2.0"]))
    # Start from a good head, then bend it: drop, change or add lines.
    base = [line.split(": ", 1) for line in BASIC]
    lines = [
        (name, value)
        for name, value in base
        if draw(st.integers(0, 7)) > 0  # keep most lines
    ]
    extra = draw(st.lists(st.tuples(names, values), max_size=3))
    lines = draw(st.permutations(lines + extra))
    text = "\r\n".join(
        [f"{method} {target} {version}"]
        + [f"{name}:{draw(ows)}{value}{draw(ows)}" for name, value in lines]
    )
    return (text + "\r\n\r\n").encode("latin-1")


@settings(max_examples=600, deadline=None)
@given(heads())
@example(head(*BASIC))
@both_paths
def test_quick_answers_only_what_the_full_checks_answer_alike(quick: Quick, raw: bytes) -> None:
    answer = quick(raw)
    event("answered" if answer is not None else "left to the full checks")
    if answer is not None:
        assert answer == full_check(raw)


@settings(max_examples=200, deadline=None)
@given(
    st.permutations(BASIC),
    st.lists(st.sampled_from(["X-A: 1", "User-Agent: t"]), max_size=2, unique=True),
)
@both_paths
def test_good_heads_in_any_order_take_the_quick_path(
    quick: Quick, lines: list[str], extra: list[str]
) -> None:
    raw = head(*lines, *extra)
    assert isinstance(full_check(raw), ClientRequest)
    assert quick(raw) == full_check(raw)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
@both_paths
def test_any_bytes_after_a_good_start(quick: Quick, tail: bytes) -> None:
    raw = b"GET / HTTP/1.1\r\n" + tail + b"\r\n\r\n"
    answer = quick(raw)
    if answer is not None:
        assert answer == full_check(raw)


# -- the two paths against each other ---------------------------------------------


@st.composite
def bent_heads(draw: st.DrawFn) -> bytes:
    """A generated head with a few bytes changed, cut out or put in: the byte rules' edges."""
    raw = bytearray(draw(heads()))
    for _ in range(draw(st.integers(0, 3))):
        at = draw(st.integers(0, len(raw) - 1))
        edges = st.sampled_from([0, 9, 10, 13, 32, 35, 58, 127, 128, 255])
        byte = draw(edges | st.integers(0, 255))
        how = draw(st.sampled_from(["set", "cut", "put"]))
        if how == "set":
            raw[at] = byte
        elif how == "cut":
            del raw[at]
        else:
            raw.insert(at, byte)
    return bytes(raw)


@needs_c
@settings(max_examples=1500, deadline=None)
@given(st.one_of(heads(), bent_heads()), st.sampled_from([16384, 120, 90]))
@example(head(*BASIC, *[f"X-{n}: {n}" for n in range(100)]), 16384)  # a table beyond 64 names
@example(head(*BASIC, *[f"X-{n}: {n}" for n in range(100)], "x-7: again"), 16384)
@example(head(*[line.replace("server.example.com", "[::1]:80") for line in BASIC]), 16384)
@example(head(*[line.replace("server.example.com", "[::1]x") for line in BASIC]), 16384)
@example(head(*[line.replace("server.example.com", "[]") for line in BASIC]), 16384)
def test_c_and_python_answer_alike(raw: bytes, max_size: int) -> None:
    assert quick_request(raw, max_size) == quick_request_python(raw, max_size)


@needs_c
def test_c_and_python_answer_alike_on_many_headers() -> None:
    """Heads with more names than the C table starts with, repeated or not."""
    lines = [*BASIC, *[f"X-{n}: {n}" for n in range(300)]]
    raw = head(*lines)
    assert quick_request(raw) == quick_request_python(raw) == full_check(raw)
    repeated = head(*lines, "X-299: again")
    assert quick_request(repeated) is None
    assert quick_request_python(repeated) is None
