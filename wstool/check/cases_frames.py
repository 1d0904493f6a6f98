"""Sections 1 to 5 of the case table: framing, pings, reserved bits, opcodes, fragments."""

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
    fragments,
)
from wstool.check.model import (
    Blob,
    Case,
    Echo,
    Frame,
    Message,
    PongOf,
    Step,
    Together,
    Wait,
    close_payload,
    echo,
    fails,
)

__all__ = ["frame_cases"]

# --- 1: framing --------------------------------------------------------------------------------

_SIZES = (0, 1, 125, 126, 127, 128, 65535, 65536, 65537, MiB, 16 * MiB)


def _framing() -> list[Case]:
    s = Numbering("1")
    for opcode, kind in ((TEXT, "text"), (BINARY, "binary")):
        s.next_sub()
        for size in _SIZES:
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
        for size in (65535, 65536, 65537):
            data = Blob(size, text=opcode == TEXT)
            s.add(
                f"{kind} message of {size} bytes in 997-byte writes",
                echo(Echo(opcode, data)),
                Message(opcode, data, chop=997),
                BYE,
            )
    return s.cases


# --- 2: pings and pongs ------------------------------------------------------------------------


def _pings() -> list[Case]:
    s = Numbering("2")
    s.next_sub()
    text125 = Blob(125).data()
    binary125 = bytes(range(256))[-125:]
    s.add("ping with no payload", echo(PongOf(b"")), Frame(PING), BYE)
    s.add("ping with 125 bytes of text", echo(PongOf(text125)), Frame(PING, text125), BYE)
    s.add("ping with 125 bytes of binary", echo(PongOf(binary125)), Frame(PING, binary125), BYE)
    s.add("ping with 125 bytes, dribbled", echo(PongOf(text125)), Frame(PING, text125, chop=1), BYE)
    s.add("ping with 126 bytes", fails(1002), Frame(PING, Blob(126).data()))
    s.add(
        "ping fragmented in two frames",
        fails(1002),
        Frame(PING, b"ping", fin=False),
        Frame(CONT, b"more"),
    )
    s.next_sub()
    s.add(
        "unsolicited empty pong is ignored",
        echo(Echo(TEXT, b"after pong")),
        Frame(PONG),
        Message(TEXT, b"after pong"),
        BYE,
    )
    s.add(
        "unsolicited pong with payload, then a ping: one pong, for the ping",
        echo(PongOf(b"ping payload")),
        Frame(PONG, b"unsolicited"),
        Frame(PING, b"ping payload"),
        BYE,
    )
    s.add("pong with 126 bytes", fails(1002), Frame(PONG, Blob(126).data()))
    s.next_sub()
    pings = [f"ping {i}".encode() for i in range(10)]
    s.add(
        "10 pings, one per write, all answered in order",
        echo(*(PongOf(p) for p in pings)),
        *(Frame(PING, p) for p in pings),
        BYE,
    )
    s.add(
        "10 pings in one write, all answered in order",
        echo(*(PongOf(p) for p in pings)),
        Together(tuple(Frame(PING, p) for p in pings)),
        BYE,
    )
    s.add(
        "10 pings in one write, dribbled",
        echo(*(PongOf(p) for p in pings)),
        Together(tuple(Frame(PING, p) for p in pings), chop=1),
        BYE,
    )
    return s.cases


# --- 3: reserved bits --------------------------------------------------------------------------


def _rsv(bits: int) -> dict[str, bool]:
    return {"rsv1": bool(bits & 4), "rsv2": bool(bits & 2), "rsv3": bool(bits & 1)}


def _rsv_name(bits: int) -> str:
    return "+".join(f"RSV{i}" for i, mask in ((1, 4), (2, 2), (3, 1)) if bits & mask)


def _reserved_bits() -> list[Case]:
    s = Numbering("3")
    kinds = (
        ("text", TEXT, b"Hello"),
        ("binary", BINARY, b"\x00\xff"),
        ("ping", PING, b"ping"),
        ("close", CLOSE, close_payload(1000)),
    )
    for name, opcode, payload in kinds:
        s.next_sub()
        for bits in range(1, 8):
            s.add(
                f"{name} frame with {_rsv_name(bits)} (no extension)",
                fails(1002),
                Frame(opcode, payload, **_rsv(bits)),
            )
    s.next_sub()
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


def _opcodes() -> list[Case]:
    s = Numbering("4")
    for kind, opcodes in (("non-control", range(3, 8)), ("control", range(11, 16))):
        s.next_sub()
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


# --- 5: fragmentation --------------------------------------------------------------------------


def _fragmentation() -> list[Case]:
    s = Numbering("5")
    s.next_sub()
    two = [b"fragment1", b"fragment2"]
    both = Echo(TEXT, b"fragment1fragment2")
    s.add("text in 2 fragments", echo(both), *fragments(TEXT, two), BYE)
    s.add("text in 2 fragments, dribbled", echo(both), *fragments(TEXT, two, chop=1), BYE)
    s.add(
        "binary in 2 fragments",
        echo(Echo(BINARY, b"fragment1fragment2")),
        *fragments(BINARY, two),
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
        "text in 3 empty fragments",
        echo(Echo(TEXT, b"")),
        *fragments(TEXT, [b"", b"", b""]),
        BYE,
    )
    s.add(
        "text with empty first and last fragments",
        echo(Echo(TEXT, b"middle")),
        *fragments(TEXT, [b"", b"middle", b""]),
        BYE,
    )
    s.add(
        "two fragmented messages back to back",
        echo(Echo(TEXT, b"ab"), Echo(BINARY, b"cd")),
        *fragments(TEXT, [b"a", b"b"]),
        *fragments(BINARY, [b"c", b"d"]),
        BYE,
    )
    s.next_sub()
    frag1, frag2 = fragments(TEXT, two)
    s.add(
        "text in 2 fragments, a ping between: pong first, then the message",
        echo(PongOf(b"between"), both),
        frag1,
        Frame(PING, b"between"),
        frag2,
        BYE,
    )
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
        "text in 2 fragments, a ping between, all dribbled",
        echo(PongOf(b"between"), both),
        Together((frag1, Frame(PING, b"between"), frag2), chop=1),
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
    s.next_sub()
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
        "new text frame while a text message is open",
        fails(1002),
        Frame(TEXT, b"open", fin=False),
        Frame(TEXT, b"new"),
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
    return s.cases


def frame_cases() -> list[Case]:
    """Sections 1 to 5, in order."""
    return [*_framing(), *_pings(), *_reserved_bits(), *_opcodes(), *_fragmentation()]
