"""Sections 6, 7, 9 and 10 of the case table: UTF-8, closing, limits, miscellany."""

from __future__ import annotations

import itertools

from wstool.check.build import (
    BINARY,
    BYE,
    CLOSE,
    CONT,
    HELLO,
    KOSME,
    PING,
    TEXT,
    KiB,
    MiB,
    Numbering,
    close_frame,
    fragments,
    utf8_fault,
)
from wstool.check.model import (
    Blob,
    Case,
    Echo,
    Expect,
    FailsHere,
    Frame,
    Message,
    Raw,
    Step,
    Together,
    close_payload,
    echo,
    fails,
)
from wstool.core.frames import forge_frame

__all__ = ["message_cases"]

# --- 6: UTF-8 ----------------------------------------------------------------------------------


_VALID_UTF8 = (
    ("U+0000", b"\x00"),
    ("U+007F", b"\x7f"),
    ("U+0080", b"\xc2\x80"),
    ("U+07FF", b"\xdf\xbf"),
    ("U+0800", b"\xe0\xa0\x80"),
    ("U+D7FF", b"\xed\x9f\xbf"),
    ("U+E000", b"\xee\x80\x80"),
    ("U+FEFF (BOM)", b"\xef\xbb\xbf"),
    ("U+FFFD", b"\xef\xbf\xbd"),
    ("U+FFFE (noncharacter)", b"\xef\xbf\xbe"),
    ("U+FFFF", b"\xef\xbf\xbf"),
    ("U+10000", b"\xf0\x90\x80\x80"),
    ("U+10FFFF", b"\xf4\x8f\xbf\xbf"),
    ("Kosme", KOSME),
    ("Hello-µ@ßöäüàá-UTF-8!!", HELLO),
    (
        "every length boundary in one string",
        b"\x00\x7f\xc2\x80\xdf\xbf\xe0\xa0\x80\xef\xbf\xbf\xf0\x90\x80\x80\xf4\x8f\xbf\xbf",
    ),
)

_INVALID_UTF8 = (
    ("overlong '/' in 2 bytes", b"\xc0\xaf"),
    ("overlong '/' in 3 bytes", b"\xe0\x80\xaf"),
    ("overlong '/' in 4 bytes", b"\xf0\x80\x80\xaf"),
    ("overlong '/' in 5 bytes", b"\xf8\x80\x80\x80\xaf"),
    ("overlong '/' in 6 bytes", b"\xfc\x80\x80\x80\x80\xaf"),
    ("largest overlong in 2 bytes", b"\xc1\xbf"),
    ("largest overlong in 3 bytes", b"\xe0\x9f\xbf"),
    ("largest overlong in 4 bytes", b"\xf0\x8f\xbf\xbf"),
    ("overlong NUL in 2 bytes", b"\xc0\x80"),
    ("overlong NUL in 3 bytes", b"\xe0\x80\x80"),
    ("overlong NUL in 4 bytes", b"\xf0\x80\x80\x80"),
    ("surrogate U+D800", b"\xed\xa0\x80"),
    ("surrogate U+DB7F", b"\xed\xad\xbf"),
    ("surrogate U+DB80", b"\xed\xae\x80"),
    ("surrogate U+DBFF", b"\xed\xaf\xbf"),
    ("surrogate U+DC00", b"\xed\xb0\x80"),
    ("surrogate U+DF80", b"\xed\xbe\x80"),
    ("surrogate U+DFFF", b"\xed\xbf\xbf"),
    ("surrogate pair U+D800 U+DC00", b"\xed\xa0\x80\xed\xb0\x80"),
    ("surrogate pair U+DBFF U+DFFF", b"\xed\xaf\xbf\xed\xbf\xbf"),
    ("U+110000 (over U+10FFFF)", b"\xf4\x90\x80\x80"),
    ("U+1FFFFF in 4 bytes", b"\xf7\xbf\xbf\xbf"),
    ("5-byte form", b"\xf8\x88\x80\x80\x80"),
    ("largest 5-byte form", b"\xfb\xbf\xbf\xbf\xbf"),
    ("6-byte form", b"\xfc\x84\x80\x80\x80\x80"),
    ("largest 6-byte form", b"\xfd\xbf\xbf\xbf\xbf\xbf"),
    ("lone continuation 0x80", b"\x80"),
    ("lone continuation 0xBF", b"\xbf"),
    ("two continuation bytes", b"\x80\xbf"),
    ("three continuation bytes", b"\x80\xbf\x80"),
    ("start byte 0xC0 then space", b"\xc0 "),
    ("start byte 0xDF then space", b"\xdf "),
    ("start byte 0xE0 then space", b"\xe0 "),
    ("start byte 0xF0 then space", b"\xf0 "),
    ("start byte 0xF4 then space", b"\xf4 "),
    ("truncated: 0xC2 at the end", b"\xc2"),
    ("truncated: 0xE0 0xA0 at the end", b"\xe0\xa0"),
    ("truncated: 0xEF 0xBF at the end", b"\xef\xbf"),
    ("truncated: 0xF0 0x90 0x80 at the end", b"\xf0\x90\x80"),
    ("truncated: 0xF4 0x8F 0xBF at the end", b"\xf4\x8f\xbf"),
    ("truncated: text then 0xE2 0x82 at the end", b"price: \xe2\x82"),
    ("byte 0xFE", b"\xfe"),
    ("byte 0xFF", b"\xff"),
    ("bytes 0xFE 0xFE 0xFF 0xFF", b"\xfe\xfe\xff\xff"),
    ("Kosme, a surrogate, 'edited'", KOSME + b"\xed\xa0\x80edited"),
    ("Hello, then U+110000", b"Hello \xf4\x90\x80\x80"),
)


def _per_byte(data: bytes) -> list[Frame]:
    return fragments(TEXT, [bytes([b]) for b in data])


def _fail_fast(frames: list[Frame], at: int) -> list[Step]:
    """``frames`` with a :class:`FailsHere` after frame ``at``, unless it is the last."""
    steps: list[Step] = list(frames)
    if at < len(frames) - 1:
        steps.insert(at + 1, FailsHere())
    return steps


# "kosme" as the Autobahn Testsuite sends it in its cases 6.4.x (U+1F79, 3 bytes).
_KOSME_AB = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
_CHOP_KEY = bytes.fromhex("37fa213d")


def _one_frame(payload: bytes, cuts: tuple[int, ...], opcode: int = TEXT) -> list[Raw]:
    """One final frame, masked, written in pieces cut at these payload offsets."""
    frame = forge_frame(opcode=opcode, payload=payload, mask_key=_CHOP_KEY)
    head = len(frame) - len(payload)
    bounds = [0, *(head + cut for cut in cuts), len(frame)]
    return [Raw(frame[a:b]) for a, b in itertools.pairwise(bounds)]


def _one_frame_fail_fast(s: Numbering) -> None:
    """Invalid UTF-8 inside one frame that arrives in chops (Autobahn 6.4.3 and 6.4.4)."""
    s.next_sub()
    bad = _KOSME_AB + b"\xf4\x90\x80\x80" + b"edited"
    first, second, third = _one_frame(bad, (11, 15))
    s.add(
        "one frame in 3 chops: valid Kosme, then U+110000, fails before the third (6.4.3)",
        fails(1007),
        first,
        second,
        FailsHere(),
        third,
    )
    first, second, third = _one_frame(bad, (12, 13))
    s.add(
        "one frame in 3 chops: Kosme and F4, then 90, fails before the third (6.4.4)",
        fails(1007),
        first,
        second,
        FailsHere(),
        third,
    )
    first, second, third = _one_frame(b"ab\xffcd" + b"x" * 295, (40, 150))
    s.add(
        "one frame in 3 chops, the first already invalid, fails before the second",
        fails(1007),
        first,
        FailsHere(),
        second,
        third,
    )
    first, rest = _one_frame(b"x" * 100 + b"\xed\xa0\x80" + b"y" * 65000, (1024,))
    s.add(
        "a 64 KiB text frame with a surrogate in its first KiB fails before the rest",
        fails(1007),
        first,
        FailsHere(),
        rest,
    )
    opening = Frame(TEXT, _KOSME_AB + b"\xf0\x9f", fin=False)
    first, rest = _one_frame(b"\x41" + b"z" * 300, (50,), opcode=CONT)
    s.add(
        "a continuation frame breaking the first fragment's character fails before its end",
        fails(1007),
        opening,
        first,
        FailsHere(),
        rest,
    )


def _utf8() -> list[Case]:
    s = Numbering("6")
    s.next_sub()
    s.add("empty text message", echo(Echo(TEXT, b"")), Message(TEXT, b""), BYE)
    s.add(
        "empty text in 3 fragments", echo(Echo(TEXT, b"")), *fragments(TEXT, [b"", b"", b""]), BYE
    )
    s.next_sub()
    for name, data in _VALID_UTF8:
        s.add(f"valid: {name}", echo(Echo(TEXT, data)), Message(TEXT, data), BYE)
    s.next_sub()
    for name, data in (
        ("Kosme", KOSME),
        ("Hello-µ@ßöäüàá-UTF-8!!", HELLO),
        ("U+10FFFF", b"\xf4\x8f\xbf\xbf"),
        ("U+FFFF", b"\xef\xbf\xbf"),
    ):
        s.add(f"valid {name}, one fragment per byte", echo(Echo(TEXT, data)), *_per_byte(data), BYE)
    for name, data in (
        ("Kosme", KOSME),
        ("U+10000", b"\xf0\x90\x80\x80"),
        ("U+10FFFF", b"\xf4\x8f\xbf\xbf"),
    ):
        for cut in range(1, len(data)):
            s.add(
                f"valid {name} in 2 fragments cut at byte {cut}",
                echo(Echo(TEXT, data)),
                *fragments(TEXT, [data[:cut], data[cut:]]),
                BYE,
            )
    s.next_sub()
    for cut in range(1, len(KOSME) + 1):
        prefix = KOSME[:cut]
        valid = utf8_fault(prefix) is None
        s.add(
            f"the first {cut} bytes of Kosme as a message ({'valid' if valid else 'truncated'})",
            echo(Echo(TEXT, prefix)) if valid else fails(1007),
            Message(TEXT, prefix),
            *((BYE,) if valid else ()),
        )
    s.next_sub()
    for name, data in _INVALID_UTF8:
        s.add(f"invalid: {name}", fails(1007), Message(TEXT, data))
    s.next_sub()
    for name, data in _INVALID_UTF8:
        if len(data) < 2:
            continue
        at = utf8_fault(data)
        assert at is not None
        s.add(
            f"invalid, one fragment per byte, fails at byte {at}: {name}",
            fails(1007),
            *_fail_fast(_per_byte(data), min(at, len(data) - 1)),
        )
    s.next_sub()
    for first, rest, what in (
        (KOSME + b"\xed\xa0\x80", b"edited", "a surrogate inside the first fragment"),
        (b"\xc0\xaf", KOSME, "an overlong form in the first fragment"),
        (
            KOSME + b"\xed\xa0",
            b"\x80edited",
            "the first fragment ends with ED A0 (a surrogate's start)",
        ),
        (
            KOSME + b"\xf4\x90",
            b"\x80\x80edited",
            "the first fragment ends with F4 90 (over U+10FFFF)",
        ),
        (KOSME + b"\xe0\x80", b"\x80edited", "the first fragment ends with E0 80 (overlong)"),
        (KOSME + b"\xf0\x80", b"\x80\x80edited", "the first fragment ends with F0 80 (overlong)"),
        (KOSME + b"\xf8", b"\x88\x80\x80\x80", "the first fragment ends with F8 (a 5-byte form)"),
    ):
        frames = fragments(TEXT, [first, rest])
        s.add(
            f"fail fast: {what}, before the rest is sent",
            fails(1007),
            frames[0],
            FailsHere(),
            frames[1],
        )
    s.add(
        "fail fast: a valid fragment, then U+110000, before the third is sent",
        fails(1007),
        *_fail_fast(fragments(TEXT, [KOSME, b"\xf4\x90\x80\x80", b"edited"]), 1),
    )
    s.add(
        "fail fast: invalid third fragment of five",
        fails(1007),
        *_fail_fast(fragments(TEXT, [b"ab", b"cd", b"\xff", b"ef", b"gh"]), 2),
    )
    s.add(
        "invalid binary-looking bytes in a binary message are fine",
        echo(Echo(BINARY, b"\xed\xa0\x80\xff\xfe")),
        Message(BINARY, b"\xed\xa0\x80\xff\xfe"),
        BYE,
    )
    _one_frame_fail_fast(s)
    return s.cases


# --- 7: close handling --------------------------------------------------------------------------

_VALID_CODES = (
    1000,
    1001,
    1002,
    1003,
    1007,
    1008,
    1009,
    1010,
    1011,
    1012,
    1013,
    1014,
    3000,
    3999,
    4000,
    4999,
)
_INVALID_CODES = (0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535)


def _closing() -> list[Case]:
    s = Numbering("7")
    s.next_sub()
    s.add("echo, then close 1000", echo(Echo(TEXT, b"Hello")), Message(TEXT, b"Hello"), BYE)
    s.add("close, then a second close (ignored)", echo(), BYE, close_frame(1001))
    s.add("close, then a ping (not answered)", echo(), BYE, Frame(PING, b"after close"))
    s.add("close, then a text message (not echoed)", echo(), BYE, Message(TEXT, b"after close"))
    s.add(
        "close while a fragmented message is open (not echoed)",
        echo(),
        Frame(TEXT, b"open", fin=False),
        BYE,
        Frame(CONT, b"end"),
    )
    s.add(
        "close dribbled one byte per write", echo(reason=b"bye"), close_frame(1000, b"bye", chop=1)
    )
    s.next_sub()
    s.add("empty close: answered with an empty close", echo(code=None), close_frame(None))
    s.add("close payload of 1 byte", fails(1002), Frame(CLOSE, b"\x03"))
    s.add("close 1000 with no reason", echo(reason=b""), close_frame(1000))
    s.add(
        "close 1000 with a reason, echoed",
        echo(reason=b"Hello World!"),
        close_frame(1000, b"Hello World!"),
    )
    reason123 = Blob(123).data()
    s.add(
        "close 1000 with a 123-byte reason (125 in all)",
        echo(reason=reason123),
        close_frame(1000, reason123),
    )
    s.add(
        "close with a 124-byte reason (126 in all)",
        fails(1002),
        close_frame(1000, Blob(124).data()),
    )
    s.add("close reason with multi-byte UTF-8", echo(reason=KOSME), close_frame(1000, KOSME))
    s.add(
        "close reason that is not UTF-8",
        fails(1007),
        close_frame(1000, b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80edited"),
    )
    s.add("close reason truncated mid-character", fails(1007), close_frame(1000, KOSME[:-1]))
    s.next_sub()
    for code in _VALID_CODES:
        s.add(f"close code {code} is echoed", echo(code=code), close_frame(code))
    s.next_sub()
    for code in _INVALID_CODES:
        s.add(f"close code {code} is invalid", fails(1002), close_frame(code))
    return s.cases


# --- 9: limits and performance ------------------------------------------------------------------


def _limits() -> list[Case]:
    s = Numbering("9")
    big = (64 * KiB, 256 * KiB, MiB, 4 * MiB, 8 * MiB, 16 * MiB)
    for opcode, kind in ((TEXT, "text"), (BINARY, "binary")):
        s.next_sub()
        for size in big:
            data = Blob(size, text=opcode == TEXT)
            s.add(
                f"{kind} message of {size >> 10} KiB in one frame",
                echo(Echo(opcode, data)),
                Message(opcode, data),
                BYE,
            )
    for opcode, kind in ((TEXT, "text"), (BINARY, "binary")):
        s.next_sub()
        for size, fragment in (
            (4 * MiB, 256),
            (4 * MiB, 4 * KiB),
            (4 * MiB, 64 * KiB),
            (4 * MiB, MiB),
            (16 * MiB, 64 * KiB),
            (16 * MiB, MiB),
        ):
            data = Blob(size, text=opcode == TEXT)
            s.add(
                f"{kind} message of {size >> 20} MiB in {fragment}-byte fragments",
                echo(Echo(opcode, data)),
                Message(opcode, data, fragment=fragment),
                BYE,
            )
    for opcode, kind in ((TEXT, "text"), (BINARY, "binary")):
        s.next_sub()
        for chop in (64, 256, 4096):
            data = Blob(MiB, text=opcode == TEXT)
            s.add(
                f"{kind} message of 1 MiB in {chop}-byte writes",
                echo(Echo(opcode, data)),
                Message(opcode, data, chop=chop),
                BYE,
            )
    for opcode, kind in ((TEXT, "text"), (BINARY, "binary")):
        s.next_sub()
        for size in (0, 16, 128, 1024):
            data = Blob(size, text=opcode == TEXT)
            s.add(
                f"1000 {kind} messages of {size} bytes in one write",
                echo(*(Echo(opcode, data),) * 1000),
                Together((Message(opcode, data),) * 1000),
                BYE,
            )
    s.next_sub()
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
    s.next_sub()
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
    return s.cases


# --- 10: miscellaneous --------------------------------------------------------------------------


def _misc() -> list[Case]:
    s = Numbering("10")
    s.next_sub()
    s.add(
        "65536-byte text in 1300-byte fragments",
        echo(Echo(TEXT, Blob(65536))),
        Message(TEXT, Blob(65536), fragment=1300),
        BYE,
    )
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
    s.next_sub()
    s.add("unmasked text frame", fails(1002), Frame(TEXT, b"Hello", masked=False))
    s.add("unmasked ping", fails(1002), Frame(PING, b"Hello", masked=False))
    s.add("unmasked close", fails(1002), Frame(CLOSE, close_payload(1000), masked=False))
    s.add(
        "unmasked continuation of a masked text",
        fails(1002),
        Frame(TEXT, b"Hel", fin=False),
        Frame(CONT, b"lo", masked=False),
    )
    s.next_sub()
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
    """Sections 6, 7, 9 and 10, in order."""
    return [*_utf8(), *_closing(), *_limits(), *_misc()]
