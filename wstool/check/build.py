"""Building blocks of the case table: opcodes, sizes, common steps, ids, UTF-8 checks."""

from __future__ import annotations

from collections.abc import Callable
from typing import cast

from wstool.check.model import (
    Case,
    Dropped,
    Echo,
    Expect,
    Frame,
    Lazy,
    Message,
    Payload,
    Refused,
    Step,
    Wait,
    close_payload,
)

__all__ = [
    "BINARY",
    "BYE",
    "CLOSE",
    "CONT",
    "FIRST",
    "HELLO",
    "KOSME",
    "OWN",
    "PING",
    "PONG",
    "TEXT",
    "KiB",
    "MiB",
    "Numbering",
    "close_frame",
    "fragments",
    "round_trips",
    "utf8_fault",
]

CONT, TEXT, BINARY, CLOSE, PING, PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
KiB, MiB = 1 << 10, 1 << 20
KOSME = "κόσμε".encode()
HELLO = "Hello-µ@ßöäüàá-UTF-8!!".encode()


def close_frame(code: int | None = 1000, reason: bytes = b"", chop: int | None = None) -> Frame:
    return Frame(CLOSE, close_payload(code, reason), chop=chop)


BYE = close_frame()
FIRST = (Message(TEXT, b"first"), Wait(Echo(TEXT, b"first")))
"""A message and its echo before a frame that fails the connection: the order is then certain."""


OWN = " (wstool's own case, not in Autobahn)"
"""The end of the description of every case Autobahn does not have."""


class Numbering:
    """Collects the cases of a section and hands out their ids.

    Autobahn's cases take Autobahn's ids: ``at(sub)`` starts sub-section
    ``sub`` (1.1.1, 1.1.2 ...), and a ``flat`` section numbers its cases
    without one (2.1 ... 2.11, as Autobahn's sections 2, 3 and 5 do). wstool's
    own cases go in sub-sections Autobahn does not use (``own(sub)``: 1.3.1 ...,
    2.12.1 ...), and their descriptions end with :data:`OWN`.
    """

    def __init__(self, section: str, *, flat: bool = False) -> None:
        self.section, self.flat = section, flat
        self.sub, self.n, self.mine = 0, 0, False
        self.cases: list[Case] = []

    def next_sub(self) -> None:
        """Start the next sub-section (section 0, wstool's own)."""
        self.sub, self.n = self.sub + 1, 0

    def at(self, sub: int) -> None:
        """Start Autobahn's sub-section ``sub``."""
        self.sub, self.n, self.mine = sub, 0, False

    def own(self, sub: int) -> None:
        """Start sub-section ``sub`` of wstool's own cases (one Autobahn does not use)."""
        self.sub, self.n, self.mine = sub, 0, True

    def next_id(self) -> str:
        self.n += 1
        if self.flat and not self.mine:
            return f"{self.section}.{self.n}"
        return f"{self.section}.{self.sub}.{self.n}"

    def add(
        self, description: str, expect: Expect | Refused | Dropped, *steps: Step, **kw: object
    ) -> None:
        self.add_steps(description, expect, tuple(steps), **kw)

    def add_steps(
        self,
        description: str,
        expect: Expect | Refused | Dropped,
        steps: tuple[Step, ...],
        **kw: object,
    ) -> None:
        """Add a case whose steps are given as one sequence (a :class:`Lazy` one, say)."""
        case_id = self.next_id()
        text = description + (OWN if self.mine else "")
        self.cases.append(Case(case_id, text, expect, steps, **kw))  # type: ignore[arg-type]


def round_trips(
    opcode: int,
    payloads: Callable[[], list[Payload]],
    count: int,
    *,
    compress: bool = False,
    fragment: int | None = None,
    within: float = 60.0,
) -> tuple[tuple[Step, ...], tuple[Echo, ...]]:
    """Messages sent one at a time, each after the echo of the one before, then a Close.

    Returns the steps and the replies, both built when used (:class:`Lazy`):
    the Autobahn Testsuite's cases 9.7, 9.8, 12 and 13 send 1000 messages each.
    Each echo may take ``within`` seconds (Autobahn gives each of these cases
    60 to 480 s in all; the RFC sets no time).
    """

    def steps() -> list[Step]:
        out: list[Step] = []
        for payload in payloads():
            out.append(Message(opcode, payload, fragment=fragment, compress=compress))
            out.append(Wait(Echo(opcode, payload), within))
        out.append(BYE)
        return out

    def replies() -> list[Echo]:
        return [Echo(opcode, payload) for payload in payloads()]

    # The table's types say tuple; a Lazy is a read-only sequence, which is all the
    # runner asks of them.
    lazy_steps = cast(tuple[Step, ...], Lazy(steps, 2 * count + 1))
    lazy_replies = cast(tuple[Echo, ...], Lazy(replies, count))
    return lazy_steps, lazy_replies


def fragments(opcode: int, parts: list[bytes], chop: int | None = None) -> list[Frame]:
    last = len(parts) - 1
    return [
        Frame(opcode if i == 0 else CONT, part, fin=i == last, chop=chop)
        for i, part in enumerate(parts)
    ]


def utf8_fault(data: bytes) -> int | None:
    """The index of the first byte that no valid UTF-8 can contain (RFC 3629 §4).

    Returns:
        That index; ``len(data)`` when the data is only cut short (a sequence
        is unfinished at the end); None when the data is valid UTF-8.
    """
    i, n = 0, len(data)
    while i < n:
        lead = data[i]
        if lead < 0x80:
            i += 1
            continue
        if 0xC2 <= lead <= 0xDF:
            need, lo, hi = 1, 0x80, 0xBF
        elif lead in (0xE0, 0xED, 0xF0, 0xF4):
            need = 2 if lead < 0xF0 else 3
            lo, hi = {
                0xE0: (0xA0, 0xBF),
                0xED: (0x80, 0x9F),
                0xF0: (0x90, 0xBF),
                0xF4: (0x80, 0x8F),
            }[lead]
        elif 0xE1 <= lead <= 0xEF:
            need, lo, hi = 2, 0x80, 0xBF
        elif 0xF1 <= lead <= 0xF3:
            need, lo, hi = 3, 0x80, 0xBF
        else:
            return i
        for k in range(need):
            j = i + 1 + k
            if j >= n:
                return n
            if not (lo if k == 0 else 0x80) <= data[j] <= (hi if k == 0 else 0xBF):
                return j
        i += need + 1
    return None
