"""Sections 12 and 13 of the case table: permessage-deflate (RFC 7692).

Autobahn's cases first, under Autobahn's ids: 12.1 to 12.5 send 1000 messages
of each size (16 bytes to 128 KiB, some fragmented) cut from one of five
documents, with Autobahn's default offer; 13.1 to 13.7 send the JSON document
so under each of Autobahn's seven offers. Each message goes after the echo of
the one before. The documents are stand-ins of the same kind and size
(:mod:`wstool.check.corpus`). wstool's own cases follow in 12.6 and 13.8 on.
"""

from __future__ import annotations

from collections.abc import Callable

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
    round_trips,
)
from wstool.check.corpus import faust_text, html_report, json_report, lena_bitmap, pdf_paper
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
    Payload,
    PongOf,
    Step,
    Window,
    Zeros,
    close_payload,
    fails,
)
from wstool.core.deflate import ExtensionOffer, client_offer

__all__ = ["deflate_cases"]


# --- Autobahn's 12.x and 13.x ---------------------------------------------------------------------

_MESSAGE_SIZES = (
    *((size, 0) for size in (16, 64, 256, 1024, 4096, 8192, 16384, 32768, 65536, 131072)),
    *((size, 256) for size in (8192, 16384, 32768, 65536, 131072)),
    *((131072, fragment) for fragment in (1024, 4096, 32768)),
)
"""Autobahn's (message size, fragment size of the compressed bytes, 0: none) per case."""
_DOCUMENTS: tuple[tuple[str, Callable[[], bytes], int], ...] = (
    ("a JSON report", json_report, TEXT),
    ("a 512x512 bitmap", lena_bitmap, BINARY),
    ("German verse", faust_text, BINARY),
    ("an HTML report", html_report, TEXT),
    ("a PDF-like file", pdf_paper, BINARY),
)
_COUNT = 1000


def _autobahn_offer(*extra: tuple[str, str | None]) -> ExtensionOffer:
    """Autobahn's offer: ``client_no_context_takeover; client_max_window_bits`` and ``extra``."""
    base = (("client_no_context_takeover", None), ("client_max_window_bits", None))
    return ("permessage-deflate", (*base, *extra))


_NO_TAKEOVER = ("server_no_context_takeover", None)
_OFFERS = (
    (_autobahn_offer(),),
    (_autobahn_offer(_NO_TAKEOVER),),
    (_autobahn_offer(("server_max_window_bits", "9")),),
    (_autobahn_offer(("server_max_window_bits", "15")),),
    (_autobahn_offer(_NO_TAKEOVER, ("server_max_window_bits", "9")),),
    (_autobahn_offer(_NO_TAKEOVER, ("server_max_window_bits", "15")),),
    (
        _autobahn_offer(_NO_TAKEOVER, ("server_max_window_bits", "9")),
        _autobahn_offer(_NO_TAKEOVER),
        _autobahn_offer(),
    ),
)


def _windows(source: Callable[[], bytes], size: int) -> Callable[[], list[Payload]]:
    """Autobahn's messages: ``size`` bytes each, one after the other round the document."""
    return lambda: [Window(source, k * size, size) for k in range(_COUNT)]


def _opening(offers: tuple[ExtensionOffer, ...]) -> Opening:
    # The last offer is the loosest: any answer valid for an earlier one is valid for it,
    # so the answer is checked against it, whichever offer the server took.
    return Opening(deflate=offers[-1], decoys=offers[:-1])


def _offer_text(offers: tuple[ExtensionOffer, ...]) -> str:
    return ", ".join(
        "; ".join([name] + [k if v is None else f"{k}={v}" for k, v in params])
        for name, params in offers
    )


def _series(
    s: Numbering,
    what: str,
    source: Callable[[], bytes],
    opcode: int,
    offers: tuple[ExtensionOffer, ...],
) -> None:
    for size, fragment in _MESSAGE_SIZES:
        steps, replies = round_trips(
            opcode, _windows(source, size), _COUNT, compress=True, fragment=fragment or None
        )
        cut = f", compressed bytes in {fragment}-byte frames" if fragment else ""
        s.add_steps(
            f"{_COUNT} compressed messages of {size} bytes of {what}{cut}; "
            f"offer: {_offer_text(offers)}",
            Expect(replies=replies, deflate=True),
            steps,
            opening=_opening(offers),
            timeout=60.0,
        )


def _autobahn_deflate(s12: Numbering, s13: Numbering) -> None:
    for sub, (what, source, opcode) in enumerate(_DOCUMENTS, start=1):
        s12.at(sub)
        _series(s12, what, source, opcode, _OFFERS[0])
    what, source, opcode = _DOCUMENTS[0]
    for sub, offers in enumerate(_OFFERS, start=1):
        s13.at(sub)
        _series(s13, what, source, opcode, offers)


# --- wstool's own -----------------------------------------------------------------------------

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


def _deflate_messages(s: Numbering) -> None:
    offer = Opening(deflate=_DEFAULT_OFFER)
    sizes = (16, 64, 256, 1024, 4 * KiB, 16 * KiB, 64 * KiB, 256 * KiB, MiB)
    for kind, make in (
        ("text", lambda n: (TEXT, Blob(n))),
        ("binary noise", lambda n: (BINARY, Noise(n))),
    ):
        s.own(6 if kind == "text" else 7)
        for size in sizes:
            expect, steps = _deflated(*(make(size),) * 10)
            s.add(f"10 compressed {kind} messages of {size} bytes", expect, *steps, opening=offer)
    s.own(8)
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
    s.own(9)
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
    s.own(10)
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
    s.own(11)
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


def _deflate_params(s: Numbering) -> None:
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
    s.own(8)
    for name, offer in offers:
        expect, steps = _deflated(*messages)
        s.add(
            f"offer {name}: a valid answer, echoes inflate",
            expect,
            *steps,
            opening=Opening(deflate=offer),
        )
    s.own(9)
    for name, offer in offers[2:5]:
        expect, steps = _deflated(*messages, fragment=1000)
        s.add(
            f"offer {name}: fragmented compressed messages",
            expect,
            *steps,
            opening=Opening(deflate=offer),
        )
    s.own(10)
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


def deflate_cases() -> list[Case]:
    """Sections 12 (messages) and 13 (negotiation parameters), in order."""
    s12, s13 = Numbering("12"), Numbering("13")
    _autobahn_deflate(s12, s13)
    _deflate_messages(s12)
    _deflate_params(s13)
    return [*s12.cases, *s13.cases]
