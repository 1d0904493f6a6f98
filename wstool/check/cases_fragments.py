"""Section 5 of the case table: fragmentation (RFC 6455 §5.4).

Autobahn's cases 5.1 to 5.20 first, under Autobahn's ids; wstool's own follow
in sub-sections 5.21 and on.
"""

from __future__ import annotations

from wstool.check.build import (
    BINARY,
    BYE,
    CLOSE,
    CONT,
    PING,
    PONG,
    TEXT,
    Numbering,
    fragments,
)
from wstool.check.model import (
    Blob,
    Case,
    Echo,
    Expect,
    Frame,
    Message,
    Pause,
    PongOf,
    Step,
    Together,
    Wait,
    close_payload,
    echo,
    fails,
)

__all__ = ["fragment_cases"]

_HELLO_WORLD = b"Hello, world!"


def _three_ways(
    s: Numbering, description: str, expect: Expect, frames: list[Frame], bye: bool = False
) -> None:
    """Autobahn's triplets: the frames in one write, one frame per write, one byte per write."""
    end: tuple[Step, ...] = (BYE,) if bye else ()
    s.add(f"{description}, in one write", expect, Together(tuple(frames)), *end)
    s.add(f"{description}, one frame per write", expect, *frames, *end)
    s.add(f"{description}, one byte per write", expect, Together(tuple(frames), chop=1), *end)


def _autobahn_fragmentation(s: Numbering) -> None:
    for name, opcode in (("ping", PING), ("pong", PONG)):
        s.add(
            f"{name} fragmented into 2 frames: control frames MUST NOT be fragmented",
            fails(1002),
            Together((Frame(opcode, b"fragment1", fin=False), Frame(CONT, b"fragment2"))),
        )
    two = fragments(TEXT, [b"fragment1", b"fragment2"])
    both = Echo(TEXT, b"fragment1fragment2")
    s.add("text in 2 fragments", echo(both), Together(tuple(two)), BYE)
    s.add("text in 2 fragments, one frame per write", echo(both), *two, BYE)
    s.add("text in 2 fragments, one byte per write", echo(both), Together(tuple(two), chop=1), BYE)
    ping = Frame(PING, b"ping payload")
    between = [two[0], ping, two[1]]
    answer = echo(PongOf(b"ping payload"), both)
    s.add(
        "text in 2 fragments, a ping between: the pong, then the message",
        answer,
        Together(tuple(between)),
        BYE,
    )
    s.add("the same, one frame per write", answer, *between, BYE)
    s.add("the same, one byte per write", answer, Together(tuple(between), chop=1), BYE)
    hello = Frame(TEXT, _HELLO_WORLD)
    for fin in (True, False):
        orphan = Frame(CONT, b"non-continuation payload", fin=fin)
        _three_ways(
            s,
            f"continuation (FIN={int(fin)}) with nothing to continue, then a text message",
            fails(1002),
            [orphan, hello],
        )
    parts = [f"fragment{i}".encode() for i in range(1, 5)]
    s.add(
        "text in 2 fragments, then a continuation (FIN=0) with nothing to continue, then text: "
        "the echo, then a failure",
        Expect(
            replies=(Echo(TEXT, b"fragment1fragment2"),),
            codes=(1002,),
            fails=True,
            lenient=fails(1002),
        ),
        Together(
            (
                Frame(TEXT, parts[0], fin=False),
                Frame(CONT, parts[1]),
                Frame(CONT, parts[2], fin=False),
                Frame(TEXT, parts[3]),
            )
        ),
    )
    for fin in (False, True):
        once = (
            Frame(CONT, b"fragment1", fin=fin),
            Frame(TEXT, b"fragment2", fin=False),
            Frame(CONT, b"fragment3"),
        )
        s.add(
            f"twice: a continuation (FIN={int(fin)}) with nothing to continue, "
            "then text in 2 fragments",
            fails(1002),
            Together(once * 2),
        )
    s.add(
        "text in 2 fragments, both with the text opcode",
        fails(1002),
        Together((Frame(TEXT, b"fragment1", fin=False), Frame(TEXT, b"fragment2"))),
    )
    five = [f"fragment{i}".encode() for i in range(1, 6)]
    first = [
        Frame(TEXT, five[0], fin=False),
        Frame(CONT, five[1], fin=False),
        Frame(PING, b"pongme 1!"),
    ]
    rest = [
        Frame(CONT, five[2], fin=False),
        Frame(CONT, five[3], fin=False),
        Frame(PING, b"pongme 2!"),
        Frame(CONT, five[4]),
    ]
    expect = echo(PongOf(b"pongme 1!"), PongOf(b"pongme 2!"), Echo(TEXT, b"".join(five)))
    s.add(
        "text in 5 fragments, a ping after the second, a 1 s pause, a ping before the last",
        expect,
        Together(tuple(first)),
        Pause(1.0),
        Together(tuple(rest)),
        BYE,
    )
    s.add(
        "the same, one frame per write",
        expect,
        *first,
        Pause(1.0),
        *rest,
        BYE,
    )


def _own_fragmentation(s: Numbering) -> None:
    s.own(21)
    s.add(
        "binary in 2 fragments",
        echo(Echo(BINARY, b"fragment1fragment2")),
        *fragments(BINARY, [b"fragment1", b"fragment2"]),
        BYE,
    )
    many = [bytes([65 + i]) * (i + 1) for i in range(8)]
    s.add(
        "text in 8 fragments of growing size",
        echo(Echo(TEXT, b"".join(many))),
        *fragments(TEXT, many),
        BYE,
    )
    ones = [bytes([b]) for b in Blob(64, text=False).data()]
    s.add(
        "binary in 64 fragments of 1 byte",
        echo(Echo(BINARY, Blob(64, text=False))),
        *fragments(BINARY, ones),
        BYE,
    )
    s.add(
        "two fragmented messages back to back",
        echo(Echo(TEXT, b"ab"), Echo(BINARY, b"cd")),
        *fragments(TEXT, [b"a", b"b"]),
        *fragments(BINARY, [b"c", b"d"]),
        BYE,
    )
    s.own(22)
    frag1, frag2 = fragments(TEXT, [b"fragment1", b"fragment2"])
    both = Echo(TEXT, b"fragment1fragment2")
    s.add(
        "ping between fragments answered before the message ends",
        echo(PongOf(b"between"), both),
        frag1,
        Frame(PING, b"between"),
        Wait(PongOf(b"between")),
        frag2,
        BYE,
    )
    s.add(
        "unsolicited pong between fragments is ignored",
        echo(both),
        frag1,
        Frame(PONG, b"between"),
        frag2,
        BYE,
    )
    parts = [f"part{i};".encode() for i in range(5)]
    interleaved: list[Step] = []
    for i, frame in enumerate(fragments(TEXT, parts)):
        interleaved.append(frame)
        if i < len(parts) - 1:
            interleaved.append(Frame(PING, f"ping {i}".encode()))
    s.add(
        "text in 5 fragments with a ping after each but the last",
        echo(*(PongOf(f"ping {i}".encode()) for i in range(4)), Echo(TEXT, b"".join(parts))),
        *interleaved,
        BYE,
    )
    s.own(23)
    s.add("continuation with no message to continue (FIN set)", fails(1002), Frame(CONT, b"orphan"))
    s.add(
        "continuation with no message to continue (FIN clear), then its end",
        fails(1002),
        Frame(CONT, b"orphan", fin=False),
        Frame(CONT, b"end"),
    )
    s.add(
        "a finished message, then a continuation",
        fails(1002, Echo(TEXT, b"done")),
        Message(TEXT, b"done"),
        Wait(Echo(TEXT, b"done")),
        Frame(CONT, b"orphan"),
    )
    s.add(
        "new binary frame while a binary message is open",
        fails(1002),
        Frame(BINARY, b"open", fin=False),
        Frame(BINARY, b"new"),
    )
    s.add(
        "new binary frame (FIN clear) while a text message is open",
        fails(1002),
        Frame(TEXT, b"open", fin=False),
        Frame(BINARY, b"new", fin=False),
        Frame(CONT, b"end"),
    )
    s.add("fragmented close (FIN clear)", fails(1002), Frame(CLOSE, close_payload(1000), fin=False))
    s.add(
        "fragmented pong (FIN clear) inside a fragmented text",
        fails(1002),
        Frame(TEXT, b"open", fin=False),
        Frame(PONG, b"half", fin=False),
        Frame(CONT, b"end"),
    )


def fragment_cases() -> list[Case]:
    """Section 5: Autobahn's 5.1 to 5.20, then wstool's own."""
    s = Numbering("5", flat=True)
    _autobahn_fragmentation(s)
    _own_fragmentation(s)
    return s.cases
