"""Building blocks of the case table: opcodes, sizes, common steps, ids, UTF-8 checks."""

from __future__ import annotations

from wstool.check.model import (
    Case,
    Dropped,
    Echo,
    Expect,
    Frame,
    Message,
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
    "PING",
    "PONG",
    "TEXT",
    "KiB",
    "MiB",
    "Numbering",
    "close_frame",
    "fragments",
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


class Numbering:
    """Collects the cases of a section and hands out ``section.sub.n`` ids."""

    def __init__(self, section: str) -> None:
        self.section, self.sub, self.n = section, 0, 0
        self.cases: list[Case] = []

    def next_sub(self) -> None:
        self.sub, self.n = self.sub + 1, 0

    def add(
        self, description: str, expect: Expect | Refused | Dropped, *steps: Step, **kw: object
    ) -> None:
        self.n += 1
        case_id = f"{self.section}.{self.sub}.{self.n}"
        self.cases.append(Case(case_id, description, expect, tuple(steps), **kw))  # type: ignore[arg-type]


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
