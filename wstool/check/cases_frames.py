"""Sections 1 to 4 of the case table: framing, pings, reserved bits, opcodes.

Each section starts with the Autobahn Testsuite's cases under Autobahn's ids
(the same bytes, written in the same chops); wstool's own cases follow in
sub-sections Autobahn does not use.
"""

from __future__ import annotations

from wstool.check.build import (
    BINARY,
    BYE,
    CLOSE,
    CONT,
    FIRST,
    PING,
    PONG,
    TEXT,
    MiB,
    Numbering,
)
from wstool.check.model import (
    Blob,
    Case,
    Echo,
    Expect,
    Frame,
    Message,
    Pause,
    Payload,
    PongOf,
    Repeat,
    Step,
    Together,
    close_payload,
    echo,
    fails,
)

__all__ = ["frame_cases"]

HELLO_WORLD = b"Hello, world!"

# --- 1: framing --------------------------------------------------------------------------------

_AUTOBAHN_SIZES = (0, 125, 126, 127, 128, 65535, 65536)
_SIZES = (0, 1, 125, 126, 127, 128, 65535, 65536, 65537, MiB, 16 * MiB)


def _framing() -> list[Case]:
    s = Numbering("1")
    for sub, opcode, kind, unit in ((1, TEXT, "text", b"*"), (2, BINARY, "binary", b"\xfe")):
        s.at(sub)
        for size in _AUTOBAHN_SIZES:
            data: Payload = Repeat(unit, size)
            s.add(
                f"{kind} message of {size} bytes",
                echo(Echo(opcode, data)),
                Frame(opcode, data),
                BYE,
            )
        data = Repeat(unit, 65536)
        s.add(
            f"{kind} message of 65536 bytes in 997-byte writes",
            echo(Echo(opcode, data)),
            Frame(opcode, data, chop=997),
            BYE,
        )
    for sub, opcode, kind in ((3, TEXT, "text"), (4, BINARY, "binary")):
        s.own(sub)
        for size in (1, 65537, MiB, 16 * MiB):
            data = Blob(size, text=opcode == TEXT)
            s.add(
                f"{kind} message of {size} bytes",
                echo(Echo(opcode, data)),
                Message(opcode, data),
                BYE,
            )
        for size in (s_ for s_ in _SIZES if s_ <= 128):
            data = Blob(size, text=opcode == TEXT)
            s.add(
                f"{kind} message of {size} bytes, dribbled one byte per write",
                echo(Echo(opcode, data)),
                Message(opcode, data, chop=1),
                BYE,
            )
        for size in (65535, 65537):
            data = Blob(size, text=opcode == TEXT)
            s.add(
                f"{kind} message of {size} bytes in 997-byte writes",
                echo(Echo(opcode, data)),
                Message(opcode, data, chop=997),
                BYE,
            )
    return s.cases


# --- 2: pings and pongs ------------------------------------------------------------------------


def _autobahn_pings(s: Numbering) -> None:
    binary = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
    s.add("ping without payload", echo(PongOf(b"")), Frame(PING), BYE)
    s.add(
        "ping with a small text payload", echo(PongOf(HELLO_WORLD)), Frame(PING, HELLO_WORLD), BYE
    )
    s.add("ping with a small binary payload", echo(PongOf(binary)), Frame(PING, binary), BYE)
    fe125 = b"\xfe" * 125
    s.add("ping with 125 bytes of binary", echo(PongOf(fe125)), Frame(PING, fe125), BYE)
    s.add(
        "ping with 126 bytes: control frames hold 125 at most",
        fails(1002),
        Frame(PING, fe125 + b"\xfe"),
    )
    s.add(
        "ping with 125 bytes, written one byte per write",
        echo(PongOf(fe125)),
        Frame(PING, fe125, chop=1),
        BYE,
    )
    s.add(
        "unsolicited pong without payload: nothing comes back", echo(), Together((Frame(PONG), BYE))
    )
    unsolicited = b"unsolicited pong payload"
    s.add(
        "unsolicited pong with payload: nothing comes back",
        echo(),
        Together((Frame(PONG, unsolicited), BYE)),
    )
    s.add(
        "unsolicited pong, then a ping: one pong, for the ping",
        echo(PongOf(b"ping payload")),
        Together((Frame(PONG, unsolicited), Frame(PING, b"ping payload"))),
        BYE,
    )
    pings = [f"payload-{i}".encode() for i in range(10)]
    s.add(
        "10 pings with payload in one write: 10 pongs in order",
        echo(*(PongOf(p) for p in pings)),
        Together(tuple(Frame(PING, p) for p in pings)),
        BYE,
    )
    s.add(
        "10 pings with payload, one byte per write: 10 pongs in order",
        echo(*(PongOf(p) for p in pings)),
        Together(tuple(Frame(PING, p) for p in pings), chop=1),
        BYE,
    )


def _pings() -> list[Case]:
    s = Numbering("2", flat=True)
    _autobahn_pings(s)
    s.own(12)
    text125 = Blob(125).data()
    s.add("ping with 125 bytes of text", echo(PongOf(text125)), Frame(PING, text125), BYE)
    s.add("pong with 126 bytes", fails(1002), Frame(PONG, Blob(126).data()))
    s.add(
        "unsolicited empty pong, then a message: the message is echoed",
        echo(Echo(TEXT, b"after pong")),
        Frame(PONG),
        Message(TEXT, b"after pong"),
        BYE,
    )
    pings = [f"ping {i}".encode() for i in range(10)]
    s.add(
        "10 pings, one per write, all answered in order",
        echo(*(PongOf(p) for p in pings)),
        *(Frame(PING, p) for p in pings),
        BYE,
    )
    return s.cases


# --- 3: reserved bits --------------------------------------------------------------------------


def _rsv(bits: int) -> dict[str, bool]:
    return {"rsv1": bool(bits & 4), "rsv2": bool(bits & 2), "rsv3": bool(bits & 1)}


def _rsv_name(bits: int) -> str:
    return "+".join(f"RSV{i}" for i, mask in ((1, 4), (2, 2), (3, 1)) if bits & mask)


def _trickled(first: Frame, *rest: Frame) -> tuple[Step, ...]:
    """Frames one byte per write, the first frame whole at the server before the next byte.

    Autobahn writes each byte on a reactor turn of its own, so a server reads the
    first frame (and may echo it) before the bad one arrives; wstool's byte-wise
    writes follow each other at once, so a short pause after the first frame
    stands for those turns.
    """
    return (Together((first,), chop=1), Pause(0.02), Together(rest, chop=1))


def _echo_then_fail(*replies: Echo) -> Expect:
    """Fail with 1002 after these echoes; failing before them is NON-STRICT (Autobahn's rating)."""
    return Expect(replies=replies, codes=(1002,), fails=True, lenient=fails(1002))


def _autobahn_reserved_bits(s: Numbering) -> None:
    hello = Frame(TEXT, HELLO_WORLD)
    s.add(
        f"small text message with RSV = 1 ({_rsv_name(1)})",
        fails(1002),
        Frame(TEXT, HELLO_WORLD, **_rsv(1)),
    )
    first = Echo(TEXT, HELLO_WORLD)
    s.add(
        f"text, then text with RSV = 2 ({_rsv_name(2)}), then a ping, in one write: "
        "the echo, then a failure, no pong",
        _echo_then_fail(first),
        Together((hello, Frame(TEXT, HELLO_WORLD, **_rsv(2)), Frame(PING))),
    )
    s.add(
        f"the same with RSV = 3 ({_rsv_name(3)}), one frame per write",
        _echo_then_fail(first),
        hello,
        Frame(TEXT, HELLO_WORLD, **_rsv(3)),
        Frame(PING),
    )
    s.add(
        f"the same with RSV = 4 ({_rsv_name(4)}), one byte per write",
        _echo_then_fail(first),
        *_trickled(hello, Frame(TEXT, HELLO_WORLD, **_rsv(4)), Frame(PING)),
    )
    binary = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
    s.add(
        f"small binary message with RSV = 5 ({_rsv_name(5)})",
        fails(1002),
        Frame(BINARY, binary, **_rsv(5)),
    )
    s.add(
        f"binary frame with RSV = 6 ({_rsv_name(6)}) (Autobahn's text says Ping; it sends binary)",
        fails(1002),
        Frame(BINARY, HELLO_WORLD, **_rsv(6)),
    )
    s.add(f"close with RSV = 7 ({_rsv_name(7)})", fails(1002), Frame(CLOSE, b"", **_rsv(7)))


def _reserved_bits() -> list[Case]:
    s = Numbering("3", flat=True)
    _autobahn_reserved_bits(s)
    kinds = (
        ("text", TEXT, b"Hello"),
        ("binary", BINARY, b"\x00\xff"),
        ("ping", PING, b"ping"),
        ("close", CLOSE, close_payload(1000)),
    )
    for sub, (name, opcode, payload) in enumerate(kinds, start=8):
        s.own(sub)
        for bits in range(1, 8):
            s.add(
                f"{name} frame with {_rsv_name(bits)} (no extension)",
                fails(1002),
                Frame(opcode, payload, **_rsv(bits)),
            )
    s.own(12)
    for bits in (4, 2, 1, 7):
        s.add(
            f"echo first, then a text frame with {_rsv_name(bits)}, then a ping (unanswered)",
            fails(1002, Echo(TEXT, b"first")),
            *FIRST,
            Frame(TEXT, b"bad", **_rsv(bits)),
            Frame(PING, b"too late"),
        )
    s.add(
        "echo first, then a dribbled text frame with RSV3",
        fails(1002, Echo(TEXT, b"first")),
        *FIRST,
        Frame(TEXT, b"bad", rsv3=True, chop=1),
        Frame(PING, b"too late"),
    )
    s.add(
        "RSV2 on a continuation frame",
        fails(1002),
        Frame(TEXT, b"frag", fin=False),
        Frame(CONT, b"ment", rsv2=True),
    )
    return s.cases


# --- 4: opcodes --------------------------------------------------------------------------------


def _autobahn_opcodes(s: Numbering, kind: str, opcodes: range) -> None:
    first, second, third, fourth, fifth = opcodes
    hello, echoed = Frame(TEXT, HELLO_WORLD), Echo(TEXT, HELLO_WORLD)
    payload = b"reserved opcode payload"
    s.add(f"frame with reserved {kind} opcode {first}", fails(1002), Frame(first))
    s.add(
        f"frame with reserved {kind} opcode {second} and a payload",
        fails(1002),
        Frame(second, payload),
    )
    s.add(
        f"text, then reserved {kind} opcode {third}, then a ping, in one write: "
        "the echo, then a failure, no pong",
        _echo_then_fail(echoed),
        Together((hello, Frame(third), Frame(PING))),
    )
    s.add(
        f"text, then reserved {kind} opcode {fourth} with a payload, then a ping, in one write",
        _echo_then_fail(echoed),
        Together((hello, Frame(fourth, HELLO_WORLD), Frame(PING))),
    )
    s.add(
        f"text, then reserved {kind} opcode {fifth} with a payload, then a ping, "
        "one byte per write",
        _echo_then_fail(echoed),
        *_trickled(hello, Frame(fifth, HELLO_WORLD), Frame(PING)),
    )


def _opcodes() -> list[Case]:
    s = Numbering("4")
    kinds = (("non-control", range(3, 8)), ("control", range(11, 16)))
    for sub, (kind, opcodes) in enumerate(kinds, start=1):
        s.at(sub)
        _autobahn_opcodes(s, kind, opcodes)
    for sub, (kind, opcodes) in enumerate(kinds, start=3):
        s.own(sub)
        for opcode in opcodes:
            s.add(f"reserved {kind} opcode {opcode} with no payload", fails(1002), Frame(opcode))
        for opcode in opcodes:
            s.add(
                f"echo first, then reserved {kind} opcode {opcode} with a payload, then a ping",
                fails(1002, Echo(TEXT, b"first")),
                *FIRST,
                Frame(opcode, b"reserved"),
                Frame(PING, b"too late"),
            )
    return s.cases


def frame_cases() -> list[Case]:
    """Sections 1 to 4, in order."""
    return [*_framing(), *_pings(), *_reserved_bits(), *_opcodes()]
