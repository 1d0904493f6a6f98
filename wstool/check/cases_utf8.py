"""Section 6 of the case table: UTF-8 handling (RFC 6455 §8.1, RFC 3629).

Autobahn's cases first, under Autobahn's ids: 6.1 to 6.4 written out, 6.5 to
6.23 built from the same tables as Autobahn's ``case6_x_x.py`` (Markus Kuhn's
UTF-8 decoder stress test), in the same order. wstool's own cases follow in
6.24 and on; those that would send the very bytes of an Autobahn case in the
same way are left out.
"""

from __future__ import annotations

import itertools

from wstool.check.build import (
    BINARY,
    BYE,
    CONT,
    HELLO,
    KOSME,
    TEXT,
    Numbering,
    fragments,
    utf8_fault,
)
from wstool.check.model import (
    Case,
    Echo,
    FailsHere,
    Frame,
    Message,
    Pause,
    Raw,
    Step,
    Together,
    echo,
    fails,
)
from wstool.core.frames import forge_frame

__all__ = ["utf8_cases"]

# "kosme" as the Autobahn Testsuite sends it (U+1F79, 3 bytes, where KOSME has U+03CC).
KOSME_AB = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
_CHOP_KEY = bytes.fromhex("37fa213d")


def _kuhn_tables() -> list[tuple[str, list[bytes]]]:
    """Autobahn's 6.5 to 6.23: a title and the payloads of each sub-section, in order."""
    cont = bytes(range(0x80, 0xBF))  # Autobahn's range stops before 0xBF
    starts = [(0xC0, 0xDF), (0xE0, 0xEF), (0xF0, 0xF7), (0xF8, 0xFB), (0xFC, 0xFD)]
    missing = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80"]
    missing += [b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    highs = [b"\xed\xa0\x80", b"\xed\xad\xbf", b"\xed\xae\x80", b"\xed\xaf\xbf"]
    lows = [b"\xed\xb0\x80", b"\xed\xbf\xbf"]
    noncharacters = [b"\xef\xbf\xbe", b"\xef\xbf\xbf"]
    for z1, z2, z3 in itertools.product(b"\xf0\xf1\xf2\xf3\xf4", b"\x8f\x9f\xaf\xbf", b"\xbe\xbf"):
        sequence = bytes([z1, z2, 0xBF, z3])
        if (z1 != 0xF4 or z2 == 0x8F) and sequence not in (
            b"\xf0\x8f\xbf\xbe",
            b"\xf0\x8f\xbf\xbf",
        ):
            noncharacters.append(sequence)
    return [
        (
            "some valid UTF-8 sequences",
            [
                b"hello$world",
                b"hello\xc2\xa2world",
                b"hello\xe2\x82\xacworld",
                b"hello\xf0\xa4\xad\xa2world",
                KOSME_AB,
            ],
        ),
        ("all prefixes of a valid string", [KOSME_AB[:i] for i in range(1, len(KOSME_AB) + 1)]),
        (
            "first sequence of each length",
            [b"\x00", b"\xc2\x80", b"\xe0\xa0\x80", b"\xf0\x90\x80\x80"],
        ),
        ("first 5- and 6-byte sequences", [b"\xf8\x88\x80\x80\x80", b"\xfc\x84\x80\x80\x80\x80"]),
        (
            "last sequence of each length",
            [b"\x7f", b"\xdf\xbf", b"\xef\xbf\xbf", b"\xf4\x8f\xbf\xbf"],
        ),
        (
            "last 4-, 5- and 6-byte sequences",
            [b"\xf7\xbf\xbf\xbf", b"\xfb\xbf\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf\xbf"],
        ),
        (
            "other boundary conditions",
            [
                b"\xed\x9f\xbf",
                b"\xee\x80\x80",
                b"\xef\xbf\xbd",
                b"\xf4\x8f\xbf\xbf",
                b"\xf4\x90\x80\x80",
            ],
        ),
        (
            "unexpected continuation bytes",
            [
                b"\x80",
                b"\xbf",
                *(b"\x80\xbf" * (n // 2) + b"\x80" * (n % 2) for n in range(2, 7)),
                cont,
            ],
        ),
        (
            "lonely start bytes, each followed by a space",
            [b"".join(bytes([i, 0x20]) for i in range(lo, hi)) for lo, hi in starts],
        ),
        ("sequences with the last continuation byte missing", missing),
        ("the incomplete sequences concatenated", [b"".join(missing)]),
        ("impossible bytes", [b"\xfe", b"\xff", b"\xfe\xfe\xff\xff"]),
        (
            "overlong '/'",
            [
                b"\xc0\xaf",
                b"\xe0\x80\xaf",
                b"\xf0\x80\x80\xaf",
                b"\xf8\x80\x80\x80\xaf",
                b"\xfc\x80\x80\x80\x80\xaf",
            ],
        ),
        (
            "largest overlong sequences",
            [
                b"\xc1\xbf",
                b"\xe0\x9f\xbf",
                b"\xf0\x8f\xbf\xbf",
                b"\xf8\x87\xbf\xbf\xbf",
                b"\xfc\x83\xbf\xbf\xbf\xbf",
            ],
        ),
        (
            "overlong NUL",
            [
                b"\xc0\x80",
                b"\xe0\x80\x80",
                b"\xf0\x80\x80\x80",
                b"\xf8\x80\x80\x80\x80",
                b"\xfc\x80\x80\x80\x80\x80",
            ],
        ),
        ("single UTF-16 surrogates", [*highs, b"\xed\xb0\x80", b"\xed\xbe\x80", b"\xed\xbf\xbf"]),
        ("paired UTF-16 surrogates", [high + low for high in highs for low in lows]),
        ("noncharacters (valid UTF-8)", noncharacters),
        ("Unicode specials (valid UTF-8)", [bytes([0xEF, 0xBF, b]) for b in range(0xB9, 0xC0)]),
    ]


def _one_message(s: Numbering, what: str, payload: bytes) -> None:
    valid = utf8_fault(payload) is None
    if valid:
        s.add(f"{what}, valid: echoed", echo(Echo(TEXT, payload)), Message(TEXT, payload), BYE)
    else:
        s.add(f"{what}, not valid: fails with 1007", fails(1007), Message(TEXT, payload))


def _one_frame(payload: bytes, cuts: tuple[int, ...], opcode: int = TEXT) -> list[Raw]:
    """One final frame, masked, written in pieces cut at these payload offsets."""
    frame = forge_frame(opcode=opcode, payload=payload, mask_key=_CHOP_KEY)
    head = len(frame) - len(payload)
    bounds = [0, *(head + cut for cut in cuts), len(frame)]
    return [Raw(frame[a:b]) for a, b in itertools.pairwise(bounds)]


def _autobahn_fail_fast(s: Numbering) -> None:
    """6.4: the invalid part in the middle; a pause after the valid part, none allowed after."""
    bad = KOSME_AB + b"\xf4\x90\x80\x80" + b"edited"
    for cut, what in ((11, "U+110000 whole"), (12, "its first byte")):
        a, b, c = fragments(
            TEXT, [bad[:cut], bad[cut : 15 if cut == 11 else 13], bad[15 if cut == 11 else 13 :]]
        )
        s.add(
            f"3 fragments: valid text, a pause, then {what} (fails here), then the rest",
            fails(1007),
            a,
            Pause(1.0),
            b,
            FailsHere(),
            c,
        )
    for cut, what in ((11, "U+110000 whole"), (12, "its first byte")):
        x, y, z = _one_frame(bad, (cut, 15 if cut == 11 else 13))
        s.add(
            f"one frame in 3 writes: valid text, a pause, then {what} (fails here), then the rest",
            fails(1007),
            x,
            Pause(1.0),
            y,
            FailsHere(),
            z,
        )


def _autobahn_utf8(s: Numbering) -> None:
    s.at(1)
    s.add("empty text message", echo(Echo(TEXT, b"")), Message(TEXT, b""), BYE)
    s.add(
        "text in 3 empty fragments",
        echo(Echo(TEXT, b"")),
        Together(tuple(fragments(TEXT, [b"", b"", b""]))),
        BYE,
    )
    middle = b"middle frame payload"
    s.add(
        "text in 3 fragments, the first and last empty",
        echo(Echo(TEXT, middle)),
        Together(tuple(fragments(TEXT, [b"", middle, b""]))),
        BYE,
    )
    s.at(2)
    s.add("valid UTF-8 in one frame", echo(Echo(TEXT, HELLO)), Message(TEXT, HELLO), BYE)
    cut = HELLO.index("ü".encode())
    s.add(
        "valid UTF-8 in 2 fragments cut between code points",
        echo(Echo(TEXT, HELLO)),
        Together(tuple(fragments(TEXT, [HELLO[:cut], HELLO[cut:]]))),
        BYE,
    )
    for data in (HELLO, KOSME_AB):
        s.add(
            "valid UTF-8 in 1-byte fragments (cut inside code points)",
            echo(Echo(TEXT, data)),
            Message(TEXT, data, fragment=1),
            BYE,
        )
    s.at(3)
    bad = KOSME_AB + b"\xed\xa0\x80" + b"edited"
    s.add("invalid UTF-8 (a surrogate) in one frame", fails(1007), Message(TEXT, bad))
    s.add(
        "invalid UTF-8 (a surrogate) in 1-byte fragments",
        fails(1007),
        Message(TEXT, bad, fragment=1),
    )
    s.at(4)
    _autobahn_fail_fast(s)
    for sub, (title, payloads) in enumerate(_kuhn_tables(), start=5):
        s.at(sub)
        for payload in payloads:
            _one_message(
                s, f"{title}: {payload[:12].hex(' ')}{'...' if len(payload) > 12 else ''}", payload
            )


def autobahn_payloads() -> set[bytes]:
    """The payloads Autobahn's 6.5 to 6.23 send as one text message each."""
    return {payload for _, payloads in _kuhn_tables() for payload in payloads}


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


def _own_messages(s: Numbering) -> None:
    """6.24 to 6.27: single messages and per-byte fragments Autobahn does not send."""
    known = autobahn_payloads()
    s.own(24)
    for name, data in _VALID_UTF8:
        if data not in known:
            s.add(f"valid: {name}", echo(Echo(TEXT, data)), Message(TEXT, data), BYE)
    s.own(25)
    for name, data in (
        ("Kosme", KOSME),
        ("Hello-µ@ßöäüàá-UTF-8!!", HELLO),
        ("U+10FFFF", b"\xf4\x8f\xbf\xbf"),
        ("U+FFFF", b"\xef\xbf\xbf"),
    ):
        s.add(
            f"valid {name}, one fragment per byte, one frame per write",
            echo(Echo(TEXT, data)),
            *_per_byte(data),
            BYE,
        )
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
    s.own(26)
    for name, data in _INVALID_UTF8:
        if data not in known:
            s.add(f"invalid: {name}", fails(1007), Message(TEXT, data))
    s.own(27)
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


def _own_fail_fast(s: Numbering) -> None:
    """6.28 and 6.29: the failure must come before the rest is sent."""
    s.own(28)
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
    s.own(29)
    chop1, chop2, chop3 = _one_frame(b"ab\xffcd" + b"x" * 295, (40, 150))
    s.add(
        "one frame in 3 chops, the first already invalid, fails before the second",
        fails(1007),
        chop1,
        FailsHere(),
        chop2,
        chop3,
    )
    start, remainder = _one_frame(b"x" * 100 + b"\xed\xa0\x80" + b"y" * 65000, (1024,))
    s.add(
        "a 64 KiB text frame with a surrogate in its first KiB fails before the rest",
        fails(1007),
        start,
        FailsHere(),
        remainder,
    )
    opening = Frame(TEXT, KOSME_AB + b"\xf0\x9f", fin=False)
    start, remainder = _one_frame(b"\x41" + b"z" * 300, (50,), opcode=CONT)
    s.add(
        "a continuation frame breaking the first fragment's character fails before its end",
        fails(1007),
        opening,
        start,
        FailsHere(),
        remainder,
    )


def utf8_cases() -> list[Case]:
    """Section 6: Autobahn's 6.1 to 6.23, then wstool's own."""
    s = Numbering("6")
    _autobahn_utf8(s)
    _own_messages(s)
    _own_fail_fast(s)
    return s.cases
