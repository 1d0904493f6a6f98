"""Section 0 of the case table: the opening handshake (RFC 6455 §4)."""

from __future__ import annotations

from wstool.check.build import (
    BINARY,
    BYE,
    TEXT,
    Numbering,
)
from wstool.check.model import (
    Case,
    Dropped,
    Echo,
    Expect,
    Message,
    Opening,
    RawRequest,
    Refused,
    Together,
    echo,
)

__all__ = ["handshake_cases"]

# --- 0: the opening handshake ------------------------------------------------------------------

_GOOD_HEADERS = (
    (b"Host", b"{host}"),
    (b"Upgrade", b"websocket"),
    (b"Connection", b"Upgrade"),
    (b"Sec-WebSocket-Key", b"{key}"),
    (b"Sec-WebSocket-Version", b"13"),
)


def _request(
    *,
    line: bytes = b"GET {path} HTTP/1.1",
    drop: tuple[bytes, ...] = (),
    change: dict[bytes, bytes] | None = None,
    extra: tuple[tuple[bytes, bytes], ...] = (),
    body: bytes = b"",
) -> RawRequest:
    change = change or {}
    lines = [line]
    for name, value in _GOOD_HEADERS:
        if name not in drop:
            lines.append(name + b": " + change.get(name, value))
    lines.extend(name + b": " + value for name, value in extra)
    return RawRequest(b"\r\n".join(lines) + b"\r\n\r\n" + body)


def handshake_cases() -> list[Case]:
    """Section 0: the opening handshake (RFC 6455 §4.2), which Autobahn leaves out."""
    s = Numbering("0")
    hi = Message(TEXT, b"Hello")
    hi_back = echo(Echo(TEXT, b"Hello"))
    s.next_sub()
    s.add("valid request: 101, then an echo", hi_back, hi, BYE)
    s.add("request dribbled one byte per write", hi_back, hi, BYE, opening=Opening(chop=1))
    s.add(
        "a frame in the same write as the request is still echoed",
        hi_back,
        hi,
        BYE,
        opening=Opening(coalesce=True),
    )
    s.add(
        "request and three messages in one write",
        echo(Echo(TEXT, b"one"), Echo(BINARY, b"two"), Echo(TEXT, b"three")),
        Together((Message(TEXT, b"one"), Message(BINARY, b"two"), Message(TEXT, b"three"))),
        BYE,
        opening=Opening(coalesce=True),
    )
    s.add(
        "Upgrade: WebSocket and Connection: keep-alive, Upgrade (case, lists)",
        hi_back,
        hi,
        BYE,
        opening=_request(change={b"Upgrade": b"WebSocket", b"Connection": b"keep-alive, Upgrade"}),
    )
    s.add(
        "lower-case header names, Origin and User-Agent",
        hi_back,
        hi,
        BYE,
        opening=RawRequest(
            b"GET {path} HTTP/1.1\r\nhost: {host}\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
            b"sec-websocket-key: {key}\r\nsec-websocket-version: 13\r\n"
            b"origin: http://example.com\r\nuser-agent: conformance\r\n\r\n"
        ),
    )
    s.add(
        "Content-Length: 0 on the request",
        hi_back,
        hi,
        BYE,
        opening=_request(extra=((b"Content-Length", b"0"),)),
    )
    s.next_sub()
    bad = Refused(400)
    # Without Upgrade the request is plain HTTP (RFC 6455 §4.2.1 asks for an Upgrade
    # header): a server that also serves pages may answer it with one.
    s.add("Upgrade header missing", Refused(400, fine=(200,)), opening=_request(drop=(b"Upgrade",)))
    s.add("Upgrade: h2c", bad, opening=_request(change={b"Upgrade": b"h2c"}))
    s.add("Connection header missing", bad, opening=_request(drop=(b"Connection",)))
    s.add("Connection: keep-alive", bad, opening=_request(change={b"Connection": b"keep-alive"}))
    s.add(
        "Sec-WebSocket-Key not base64",
        bad,
        opening=_request(change={b"Sec-WebSocket-Key": b"!!!!!!!!!!!!!!!!!!!!!!=="}),
    )
    s.add(
        "Sec-WebSocket-Key of 15 bytes",
        bad,
        opening=_request(change={b"Sec-WebSocket-Key": b"AAAAAAAAAAAAAAAAAAAA"}),
    )
    s.add(
        "Sec-WebSocket-Key of 17 bytes",
        bad,
        opening=_request(change={b"Sec-WebSocket-Key": b"AAAAAAAAAAAAAAAAAAAAAAA="}),
    )
    s.add("Sec-WebSocket-Key missing", bad, opening=_request(drop=(b"Sec-WebSocket-Key",)))
    s.add(
        "Sec-WebSocket-Key twice",
        bad,
        opening=_request(extra=((b"Sec-WebSocket-Key", b"AQIDBAUGBwgJCgsMDQ4PEA=="),)),
    )
    s.add("Host missing", bad, opening=_request(drop=(b"Host",)))
    s.add("HTTP/1.0", Refused(400, also=(505,)), opening=_request(line=b"GET {path} HTTP/1.0"))
    s.add(
        "Content-Length: 5 and a body",
        # RFC 6455 §4.1 asks for a GET of HTTP/1.1 or later and says nothing of a body.
        Refused(400, may_upgrade="RFC 6455 does not forbid a body on the upgrade request"),
        opening=_request(extra=((b"Content-Length", b"5"),), body=b"hello"),
    )
    version = (("Sec-WebSocket-Version", "13"),)
    s.add(
        "Sec-WebSocket-Version: 8",
        # RFC 6455 §4.2.2: abort "if this version does not match a version understood
        # by the server"; a server may understand draft-ietf-hybi-08's version 8.
        Refused(
            426,
            always=version,
            may_upgrade="the server may understand version 8 (draft-ietf-hybi-08)",
        ),
        opening=_request(change={b"Sec-WebSocket-Version": b"8"}),
    )
    s.add(
        "Sec-WebSocket-Version: 14",
        Refused(426, always=version),
        opening=_request(change={b"Sec-WebSocket-Version": b"14"}),
    )
    s.add(
        "Sec-WebSocket-Version missing",
        Refused(426, headers=version),
        opening=_request(drop=(b"Sec-WebSocket-Version",)),
    )
    s.add(
        "POST instead of GET",
        Refused(405, headers=(("Allow", "GET"),)),
        opening=_request(line=b"POST {path} HTTP/1.1"),
    )
    s.add(
        "request head of 20 KiB (over --max-request-size 16384)",
        Refused(431),
        opening=_request(extra=((b"X-Filler", b"a" * 20000),)),
        profile="serve-limits",  # how long a head may be is the server's choice
    )
    s.next_sub()
    slow = Dropped(1.0)
    s.add(
        "request head never finished: dropped after --handshake-timeout",
        slow,
        opening=RawRequest(b"GET {path} HTTP/1.1\r\nHost: {host}\r\n"),
        profile="handshake-timeout",
    )
    s.add(
        "no bytes at all: dropped after --handshake-timeout",
        slow,
        opening=RawRequest(b""),
        profile="handshake-timeout",
    )
    s.add(
        "a quick handshake on the same server is served",
        hi_back,
        hi,
        BYE,
        profile="handshake-timeout",
    )
    s.next_sub()
    for offered, chosen in (
        (("json", "chat"), "json"),
        (("chat", "json"), "chat"),
        (("xmpp", "chat"), "chat"),
        ((), None),
        (("xmpp",), None),
    ):
        shown = ", ".join(offered) or "nothing"
        s.add(
            f"offering {shown} selects {chosen or 'no subprotocol'}",
            Expect(replies=(Echo(TEXT, b"Hello"),), subprotocol=chosen, refusable=chosen is None),
            hi,
            BYE,
            opening=Opening(subprotocols=offered),
            profile="subprotocols",
        )
    return s.cases
