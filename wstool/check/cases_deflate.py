"""Sections 12 and 13 of the case table: permessage-deflate (RFC 7692)."""

from __future__ import annotations

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
)
from wstool.check.model import (
    Blob,
    Case,
    Deflated,
    Echo,
    Expect,
    FailsHere,
    Frame,
    Message,
    Noise,
    Opening,
    Part,
    PongOf,
    Step,
    Zeros,
    close_payload,
    fails,
)
from wstool.core.deflate import ExtensionOffer, client_offer

__all__ = ["deflate_cases"]

# --- 12 and 13: permessage-deflate ------------------------------------------------------------

_DEFAULT_OFFER = client_offer()
_PLAIN_OFFER = client_offer(client_max_window_bits=False)


def _deflated(
    *messages: tuple[int, Blob | Noise | bytes], fragment: int | None = None
) -> tuple[Expect, list[Step]]:
    steps: list[Step] = [
        Message(op, data, compress=True, fragment=fragment) for op, data in messages
    ]
    steps.append(BYE)
    return Expect(replies=tuple(Echo(op, data) for op, data in messages), deflate=True), steps


def _deflate_messages() -> list[Case]:
    s = Numbering("12")
    offer = Opening(deflate=_DEFAULT_OFFER)
    sizes = (16, 64, 256, 1024, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB)
    for kind, make in (
        ("text", lambda n: (TEXT, Blob(n))),
        ("binary noise", lambda n: (BINARY, Noise(n))),
    ):
        s.next_sub()
        for size in sizes:
            expect, steps = _deflated(*(make(size),) * 10)
            s.add(f"10 compressed {kind} messages of {size} bytes", expect, *steps, opening=offer)
    s.next_sub()
    for fragment in (1, 100, 4 * KiB):
        expect, steps = _deflated(
            (TEXT, Blob(64 * KiB)), (BINARY, Noise(16 * KiB)), fragment=fragment
        )
        s.add(f"compressed messages in {fragment}-byte fragments", expect, *steps, opening=offer)
    expect, steps = _deflated((TEXT, b""), (BINARY, b""))
    s.add("empty compressed messages", expect, *steps, opening=offer)
    data = Blob(4 * KiB)
    s.add(
        "a compressed message whose first frame is empty",
        Expect(replies=(Echo(TEXT, data),), deflate=True),
        Frame(TEXT, b"", rsv1=True, fin=False),
        Frame(CONT, Deflated(data)),
        BYE,
        opening=offer,
    )
    s.add(
        "uncompressed messages between compressed ones",
        Expect(
            replies=(Echo(TEXT, b"plain"), Echo(TEXT, Blob(1000)), Echo(BINARY, b"plain")),
            deflate=True,
        ),
        Message(TEXT, b"plain"),
        Message(TEXT, Blob(1000), compress=True),
        Message(BINARY, b"plain"),
        BYE,
        opening=offer,
    )
    s.add(
        "a ping between the fragments of a compressed message",
        Expect(replies=(PongOf(b"between"), Echo(TEXT, data)), deflate=True),
        Frame(TEXT, Part(Deflated(data), 0, 2), rsv1=True, fin=False),
        Frame(PING, b"between"),
        Frame(CONT, Part(Deflated(data), 1, 2)),
        BYE,
        opening=offer,
    )
    s.next_sub()
    s.add(
        "RSV1 on a continuation frame",
        fails(1002),
        Frame(TEXT, Part(Deflated(data), 0, 2), rsv1=True, fin=False),
        Frame(CONT, Part(Deflated(data), 1, 2), rsv1=True),
        opening=offer,
    )
    s.add("RSV1 on a ping", fails(1002), Frame(PING, b"ping", rsv1=True), opening=offer)
    s.add(
        "RSV1 on a close", fails(1002), Frame(CLOSE, close_payload(1000), rsv1=True), opening=offer
    )
    s.add(
        "RSV2 on a compressed message",
        fails(1002),
        Frame(TEXT, Deflated(data), rsv1=True, rsv2=True),
        opening=offer,
    )
    s.add(
        "corrupt deflate data",
        fails(1007),
        Frame(BINARY, b"\xff\xff\xff\xffcorrupt", rsv1=True),
        opening=offer,
    )
    s.add(
        "corrupt deflate data in the first fragment fails before the rest",
        fails(1007),
        Frame(BINARY, b"\xff\xff\xff\xffcorrupt", rsv1=True, fin=False),
        FailsHere(),
        Frame(CONT, b"more"),
        opening=offer,
    )
    s.add(
        "compressed text that inflates to invalid UTF-8",
        fails(1007),
        Frame(TEXT, Deflated(KOSME + b"\xed\xa0\x80edited"), rsv1=True),
        opening=offer,
    )
    s.next_sub()
    limited = {"profile": "limited", "opening": offer}
    bomb = Deflated(Zeros(64 * MiB))
    s.add(
        "deflate bomb: 64 MiB of zeros in one frame (1 MiB server)",
        fails(1009),
        Frame(BINARY, bomb, rsv1=True),
        **limited,
    )
    s.add(
        "deflate bomb in 16 fragments fails after the first",
        fails(1009),
        Frame(BINARY, Part(bomb, 0, 16), rsv1=True, fin=False),
        FailsHere(),
        *(Frame(CONT, Part(bomb, i, 16), fin=i == 15) for i in range(1, 16)),
        **limited,
    )
    s.add(
        "1 MiB inflated (the limit) is echoed",
        Expect(replies=(Echo(BINARY, Zeros(MiB)),), deflate=True),
        Message(BINARY, Zeros(MiB), compress=True),
        BYE,
        **limited,
    )
    s.next_sub()
    nodeflate = {"profile": "no-deflate", "opening": offer}
    s.add(
        "a server without deflate declines the offer",
        Expect(replies=(Echo(TEXT, b"Hello"),), deflate=False),
        Message(TEXT, b"Hello"),
        BYE,
        **nodeflate,
    )
    s.add(
        "a server without deflate fails RSV1",
        fails(1002),
        Frame(TEXT, Deflated(b"Hello"), rsv1=True),
        **nodeflate,
    )
    return s.cases


def _deflate_params() -> list[Case]:
    s = Numbering("13")
    offers: list[tuple[str, ExtensionOffer]] = [
        ("permessage-deflate", _PLAIN_OFFER),
        ("client_max_window_bits (bare)", _DEFAULT_OFFER),
        ("server_no_context_takeover", client_offer(server_no_context_takeover=True)),
        ("client_no_context_takeover", client_offer(client_no_context_takeover=True)),
        *(
            (f"server_max_window_bits={b}", client_offer(server_max_window_bits=b))
            for b in range(8, 16)
        ),
        *(
            (f"client_max_window_bits={b}", client_offer(client_max_window_bits=b))
            for b in range(8, 16)
        ),
        (
            "all four parameters, windows of 9 bits",
            client_offer(
                server_no_context_takeover=True,
                client_no_context_takeover=True,
                server_max_window_bits=9,
                client_max_window_bits=9,
            ),
        ),
    ]
    messages = (
        (TEXT, Blob(100)),
        (TEXT, Blob(100)),
        (BINARY, Noise(64 * KiB)),
        (TEXT, Blob(256 * KiB)),
        (TEXT, b"Hello, Hello, Hello"),
    )
    s.next_sub()
    for name, offer in offers:
        expect, steps = _deflated(*messages)
        s.add(
            f"offer {name}: a valid answer, echoes inflate",
            expect,
            *steps,
            opening=Opening(deflate=offer),
        )
    s.next_sub()
    for name, offer in offers[2:5]:
        expect, steps = _deflated(*messages, fragment=1000)
        s.add(
            f"offer {name}: fragmented compressed messages",
            expect,
            *steps,
            opening=Opening(deflate=offer),
        )
    s.next_sub()
    decoys = (
        ("an unknown extension", ("x-webkit-unknown", ())),
        ("an unknown parameter", ("permessage-deflate", (("foo", "1"),))),
        ("server_max_window_bits=7", ("permessage-deflate", (("server_max_window_bits", "7"),))),
        (
            "server_max_window_bits=010",
            ("permessage-deflate", (("server_max_window_bits", "010"),)),
        ),
        (
            "a repeated parameter",
            ("permessage-deflate", (("server_no_context_takeover", None),) * 2),
        ),
        (
            "server_max_window_bits with no value",
            ("permessage-deflate", (("server_max_window_bits", None),)),
        ),
    )
    for name, decoy in decoys:
        expect, steps = _deflated((TEXT, Blob(1000)))
        s.add(
            f"an offer with {name} is declined, the next one accepted",
            expect,
            *steps,
            opening=Opening(deflate=_PLAIN_OFFER, decoys=(decoy,)),
        )
    return s.cases


def deflate_cases() -> list[Case]:
    """Sections 12 (messages) and 13 (negotiation parameters), in order."""
    return [*_deflate_messages(), *_deflate_params()]
