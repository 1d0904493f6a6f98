"""Sections 7, 9 and 10 of the case table: closing, limits and performance, miscellany.

Autobahn's cases first, under Autobahn's ids; wstool's own follow in
sub-sections Autobahn does not use (7.14 and on, 9.11 and on, 10.2 and on).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from wstool.check.build import (
    BINARY,
    BYE,
    CLOSE,
    CONT,
    KOSME,
    PING,
    TEXT,
    KiB,
    MiB,
    Numbering,
    close_frame,
    round_trips,
)
from wstool.check.model import (
    Blob,
    Case,
    Echo,
    Expect,
    FailsHere,
    Frame,
    Message,
    Payload,
    Raw,
    Repeat,
    Together,
    close_payload,
    echo,
    fails,
)
from wstool.core.frames import forge_frame

__all__ = ["message_cases"]

# --- 7: close handling --------------------------------------------------------------------------

_HELLO_WORLD = b"Hello World!"
_NOT_UTF8 = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"
_AUTOBAHN_VALID_CODES = (
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    3000,
    3999,
    4000,
    4999,
)
_AUTOBAHN_INVALID_CODES = (0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999)
_OWN_VALID_CODES = (1012, 1013, 1014)
_OWN_INVALID_CODES = (1015,)


def _closed(code: int | None = 1000, *also: int | None) -> Expect:
    """Our Close answered with ``code`` (or one of ``also``); the reason is not checked.

    RFC 6455 §5.5.1: the answer "typically echos the status code it received";
    the reason is the answering endpoint's own.
    """
    return Expect(codes=(code, *also))


def _autobahn_closing(s: Numbering) -> None:
    s.at(1)
    s.add("a message, then a Close", echo(Echo(TEXT, _HELLO_WORLD)), Frame(TEXT, _HELLO_WORLD), BYE)
    s.add("two Close frames: the second ignored", _closed(), Together((BYE, Frame(CLOSE))))
    s.add("a ping after the Close: no pong", _closed(), Together((BYE, Frame(PING))))
    s.add(
        "a text message after the Close: not echoed",
        _closed(),
        Together((BYE, Frame(TEXT, _HELLO_WORLD))),
    )
    s.add(
        "a fragment, the Close, then the last fragment: not echoed",
        _closed(),
        Together((Frame(TEXT, b"fragment1", fin=False), BYE, Frame(CONT, b"fragment2"))),
    )
    s.add(
        "256 KiB text, a text message, the Close and a ping back to back: "
        "whether the messages come back first is the server's choice",
        Expect(replies=(Echo(TEXT, _HELLO_WORLD),), informational=True),
        Together(
            (
                Frame(TEXT, Repeat(b"BAsd7&jh23", 256 * KiB)),
                Frame(TEXT, _HELLO_WORLD),
                BYE,
                Frame(PING),
            )
        ),
    )
    s.at(3)
    s.add("Close with no payload: answered (empty or 1000)", _closed(None, 1000), Frame(CLOSE))
    s.add("Close with a 1-byte payload", fails(1002), Frame(CLOSE, b"a"))
    s.add("Close 1000", _closed(), BYE)
    s.add("Close 1000 with a reason", _closed(), close_frame(1000, _HELLO_WORLD))
    s.add(
        "Close 1000 with a reason of 123 bytes (125 in all)",
        _closed(),
        close_frame(1000, b"*" * 123),
    )
    s.add(
        "Close 1000 with a reason of 124 bytes (126 in all)",
        fails(1002),
        close_frame(1000, b"*" * 124),
    )
    s.at(5)
    s.add(
        "Close 1000 with a reason that is not UTF-8",
        fails((1002, 1007)),
        close_frame(1000, _NOT_UTF8),
    )
    s.at(7)
    for code in _AUTOBAHN_VALID_CODES:
        s.add(
            f"Close with the valid code {code}: answered with it or 1000",
            _closed(code, 1000),
            close_frame(code),
        )
    s.at(9)
    for code in _AUTOBAHN_INVALID_CODES:
        s.add(f"Close with the invalid code {code}", fails(1002), close_frame(code))
    s.at(13)
    for code in (5000, 65535):
        s.add(
            f"Close with the code {code}: RFC 6455 defines no code over 4999, so any answer is "
            "informational",
            Expect(informational=True),
            close_frame(code),
        )


def _own_closing(s: Numbering) -> None:
    s.own(14)
    s.add("close, then a second close 1001 (ignored)", echo(), BYE, close_frame(1001))
    s.add("close, then a ping (not answered)", echo(), BYE, Frame(PING, b"after close"))
    s.add(
        "close dribbled one byte per write", echo(reason=b"bye"), close_frame(1000, b"bye", chop=1)
    )
    s.add("empty close: answered with an empty close", echo(code=None), close_frame(None))
    s.add(
        "close 1000 with a reason, echoed",
        echo(reason=b"Hello World!"),
        close_frame(1000, b"Hello World!"),
    )
    s.add("close reason with multi-byte UTF-8", echo(reason=KOSME), close_frame(1000, KOSME))
    s.add("close reason truncated mid-character", fails(1007), close_frame(1000, KOSME[:-1]))
    s.own(15)
    for code in _OWN_VALID_CODES:
        # Registered with IANA after RFC 6455 (1012 Service Restart, 1013 Try Again
        # Later, 1014 Bad Gateway): a server that knows only the RFC's list may fail
        # the connection instead, which is allowed but not the best.
        echoed = replace(echo(code=code), lenient=fails(1002))
        s.add(f"close code {code} is echoed", echoed, close_frame(code))
    for code in _OWN_INVALID_CODES:
        s.add(f"close code {code} is invalid", fails(1002), close_frame(code))


def _closing() -> list[Case]:
    s = Numbering("7")
    _autobahn_closing(s)
    _own_closing(s)
    return s.cases


# --- 9: limits and performance ------------------------------------------------------------------

_TEXT_UNIT, _BINARY_UNIT = b"BAsd7&jh23", b"\x00\xfe\x23\xfa\xf0"
_SIZES_9 = (64 * KiB, 256 * KiB, MiB, 4 * MiB, 8 * MiB, 16 * MiB)
_FRAGMENTS_9 = (64, 256, KiB, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB, 4 * MiB)
_CHOPS_9 = (64, 128, 256, 512, 1024, 2048)
_ROUND_TRIPS_9 = (0, 16, 64, 256, 1024, 4096)


def _echoed(opcode: int, data: Payload, **message: int) -> tuple[Expect, Message]:
    return echo(Echo(opcode, data)), Message(opcode, data, **message)  # type: ignore[arg-type]


def _autobahn_limits(s: Numbering) -> None:
    kinds = ((TEXT, "text", _TEXT_UNIT), (BINARY, "binary", _BINARY_UNIT))
    for sub, (opcode, kind, unit) in enumerate(kinds, start=1):
        s.at(sub)
        for size in _SIZES_9:
            expect, message = _echoed(opcode, Repeat(unit, size))
            s.add(f"{kind} message of {_size(size)} in one frame", expect, message, BYE)
    for sub, (opcode, kind, _unit) in enumerate(kinds, start=3):
        s.at(sub)
        for fragment in _FRAGMENTS_9:
            # Autobahn's 9.4.2 and on send '*' in binary messages too.
            fill = b"\xfe" if opcode == BINARY and fragment == 64 else b"*"
            expect, message = _echoed(opcode, Repeat(fill, 4 * MiB), fragment=fragment)
            s.add(f"{kind} message of 4 MiB in {_size(fragment)} fragments", expect, message, BYE)
    for sub, (opcode, kind, unit) in enumerate(kinds, start=5):
        s.at(sub)
        for chop in _CHOPS_9:
            expect, message = _echoed(opcode, Repeat(unit, MiB), chop=chop)
            s.add(f"{kind} message of 1 MiB in {chop}-byte writes", expect, message, BYE)
    for sub, (opcode, kind, _unit) in enumerate(kinds, start=7):
        s.at(sub)
        fill = b"*" if opcode == TEXT else b"\xfe"
        for size in _ROUND_TRIPS_9:
            data = Repeat(fill, size)
            steps, replies = round_trips(opcode, _thousand(data), 1000)
            s.add_steps(
                f"1000 {kind} messages of {size} bytes, each sent after the echo of the last",
                Expect(replies=replies),
                steps,
            )


def _thousand(data: Payload) -> Callable[[], list[Payload]]:
    return lambda: [data] * 1000


def _size(size: int) -> str:
    if size >= MiB:
        return f"{size // MiB} MiB"
    return f"{size // KiB} KiB" if size >= KiB else f"{size}-byte"


def _own_limits(s: Numbering) -> None:
    s.own(11)
    for opcode, kind in ((TEXT, "text"), (BINARY, "binary")):
        for fragment in (64 * KiB, MiB):
            data = Blob(16 * MiB, text=opcode == TEXT)
            s.add(
                f"{kind} message of 16 MiB in {fragment >> 10} KiB fragments",
                echo(Echo(opcode, data)),
                Message(opcode, data, fragment=fragment),
                BYE,
            )
    s.own(12)
    for opcode, kind in ((TEXT, "text"), (BINARY, "binary")):
        for size in (0, 16, 128, 1024):
            data = Blob(size, text=opcode == TEXT)
            s.add(
                f"1000 {kind} messages of {size} bytes in one write",
                echo(*(Echo(opcode, data),) * 1000),
                Together((Message(opcode, data),) * 1000),
                BYE,
            )
    s.own(13)
    # wstool serve's own default limit: other servers choose theirs (RFC 6455 §10.4).
    serve_limit = {"profile": "serve-limits"}
    s.add(
        "text message of 16 MiB + 1 byte in one frame",
        fails(1009),
        Message(TEXT, Blob(16 * MiB + 1)),
        **serve_limit,
    )
    s.add(
        "a header declaring 16 MiB + 1 byte fails before the payload",
        fails(1009),
        Frame(BINARY, length=16 * MiB + 1),
        FailsHere(),
        Raw(bytes(16 * MiB + 1)),
        **serve_limit,
    )
    over = [Frame(BINARY, Blob(64 * KiB, text=False), fin=False)]
    over += [Frame(CONT, Blob(64 * KiB, text=False), fin=False)] * 256
    s.add(
        "binary message passing 16 MiB in the 257th 64 KiB fragment",
        fails(1009),
        Together(tuple(over)),
        FailsHere(),
        Frame(CONT, Blob(64 * KiB, text=False)),
        **serve_limit,
    )
    s.own(14)
    limited = {"profile": "limited"}
    s.add(
        "1 MiB text message (the limit) is echoed",
        echo(Echo(TEXT, Blob(MiB))),
        Message(TEXT, Blob(MiB)),
        BYE,
        **limited,
    )
    s.add("1 MiB + 1 byte text message", fails(1009), Message(TEXT, Blob(MiB + 1)), **limited)
    s.add(
        "1 MiB + 1 byte binary message",
        fails(1009),
        Message(BINARY, Blob(MiB + 1, text=False)),
        **limited,
    )
    s.add(
        "a header declaring 2 MiB fails before the payload",
        fails(1009),
        Frame(BINARY, length=2 * MiB),
        FailsHere(),
        Raw(bytes(2 * MiB)),
        **limited,
    )
    chunk = Blob(64 * KiB, text=False)
    s.add(
        "fragmented message passing 1 MiB in its 17th fragment fails there",
        fails(1009),
        Together((Frame(BINARY, chunk, fin=False), *(Frame(CONT, chunk, fin=False),) * 16)),
        FailsHere(),
        *(Frame(CONT, chunk, fin=False),) * 8,
        Frame(CONT, chunk),
        **limited,
    )
    s.add(
        "1 MiB in 16 fragments (the limit) is echoed",
        echo(Echo(BINARY, Blob(MiB, text=False))),
        Message(BINARY, Blob(MiB, text=False), fragment=64 * KiB),
        BYE,
        **limited,
    )


def _limits() -> list[Case]:
    s = Numbering("9")
    _autobahn_limits(s)
    _own_limits(s)
    return s.cases


# --- 10: miscellaneous --------------------------------------------------------------------------


def _misc() -> list[Case]:
    s = Numbering("10")
    s.at(1)
    expect, message = _echoed(TEXT, Repeat(b"*", 65536), fragment=1300)
    s.add("text message of 65536 bytes in 1300-byte fragments", expect, message, BYE)
    s.own(2)
    ten = [f"message {i}".encode() for i in range(10)]
    s.add(
        "10 messages in one write are echoed in order",
        echo(*(Echo(TEXT, m) for m in ten)),
        Together(tuple(Message(TEXT, m) for m in ten)),
        BYE,
    )
    s.add(
        "a frame masked with the all-zero key",
        echo(Echo(TEXT, b"zero key")),
        Raw(forge_frame(opcode=TEXT, payload=b"zero key", mask_key=b"\0\0\0\0")),
        BYE,
    )
    s.own(3)
    s.add("unmasked text frame", fails(1002), Frame(TEXT, b"Hello", masked=False))
    s.add("unmasked ping", fails(1002), Frame(PING, b"Hello", masked=False))
    s.add("unmasked close", fails(1002), Frame(CLOSE, close_payload(1000), masked=False))
    s.add(
        "unmasked continuation of a masked text",
        fails(1002),
        Frame(TEXT, b"Hel", fin=False),
        Frame(CONT, b"lo", masked=False),
    )
    s.own(4)
    lenient = echo(Echo(TEXT, b"Hello"))
    s.add(
        "5-byte payload with a 16-bit length (not minimal)",
        Expect(codes=(1002,), fails=True, lenient=lenient),
        Frame(TEXT, b"Hello", length_bits=16),
        BYE,
    )
    s.add(
        "5-byte payload with a 64-bit length (not minimal)",
        Expect(codes=(1002,), fails=True, lenient=lenient),
        Frame(TEXT, b"Hello", length_bits=64),
        BYE,
    )
    s.add(
        "64-bit length with the top bit set",
        fails((1002, 1009)),
        Frame(BINARY, length=1 << 63, length_bits=64),
        FailsHere(),
        Raw(b"x" * 1024),
    )
    return s.cases


def message_cases() -> list[Case]:
    """Sections 7, 9 and 10, in order."""
    return [*_closing(), *_limits(), *_misc()]
