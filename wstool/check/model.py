"""The vocabulary of a conformance case: payloads, steps, openings and outcomes.

A :class:`Case` is data: how to open the connection, what to send (a tuple of
steps), and what must come back. The same table drives the pytest suite and
``scripts/conformance.py``; :mod:`runner` is the one place that executes it.
Large payloads are described (:class:`Blob`, :class:`Zeros`, :class:`Deflated`)
and built on demand, so importing the table costs nothing.
"""

from __future__ import annotations

import random
import zlib
from dataclasses import dataclass, field
from functools import lru_cache

from wstool.check.peer import Msg, Pong, describe_bytes
from wstool.core.deflate import ExtensionOffer
from wstool.core.frames import Opcode

__all__ = [
    "ANY",
    "Blob",
    "Case",
    "Deflated",
    "Dropped",
    "Echo",
    "Expect",
    "FailsHere",
    "Frame",
    "Message",
    "Noise",
    "Opening",
    "Part",
    "Payload",
    "PongOf",
    "Raw",
    "RawRequest",
    "Refused",
    "Step",
    "Together",
    "Wait",
    "Zeros",
    "close_payload",
    "echo",
    "fails",
    "payload_bytes",
]


# --- payloads ---------------------------------------------------------------------------------


@lru_cache(maxsize=6)
def _blob(size: int, text: bool) -> bytes:
    unit = b"Hello, WebSocket! 0123456789 " if text else bytes(range(256))
    return (unit * (size // len(unit) + 1))[:size]


@dataclass(frozen=True)
class Blob:
    """``size`` bytes of ASCII text (valid UTF-8) or of every byte value in turn."""

    size: int
    text: bool = True

    def data(self) -> bytes:
        """The bytes (cached: several cases share a size)."""
        return _blob(self.size, self.text)

    def __str__(self) -> str:
        return f"{self.size}B"


@lru_cache(maxsize=4)
def _noise(size: int) -> bytes:
    return random.Random(size).randbytes(size)


@dataclass(frozen=True)
class Noise:
    """``size`` pseudo-random bytes (incompressible), the same on every run."""

    size: int

    def data(self) -> bytes:
        """The bytes (cached)."""
        return _noise(self.size)

    def __str__(self) -> str:
        return f"{self.size}B noise"


@dataclass(frozen=True)
class Zeros:
    """``size`` zero bytes."""

    size: int

    def data(self) -> bytes:
        """The bytes."""
        return bytes(self.size)

    def __str__(self) -> str:
        return f"{self.size}B of zeros"


@lru_cache(maxsize=8)
def _deflate(payload: Deflated) -> bytes:
    compressor = zlib.compressobj(9, zlib.DEFLATED, -payload.wbits)
    source = payload_bytes(payload.inner)
    data = compressor.compress(source) + compressor.flush(zlib.Z_SYNC_FLUSH)
    # RFC 7692 §7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end."
    return data[:-4]


@dataclass(frozen=True)
class Deflated:
    """A payload compressed as one permessage-deflate message, with a chosen window."""

    inner: Payload
    wbits: int = 15

    def data(self) -> bytes:
        """The compressed bytes (cached)."""
        return _deflate(self)

    def __str__(self) -> str:
        return f"deflate({_show(self.inner)})"


@dataclass(frozen=True)
class Part:
    """The ``index``-th of ``count`` nearly equal slices of a payload."""

    inner: Payload
    index: int
    count: int

    def data(self) -> bytes:
        """The slice."""
        whole = payload_bytes(self.inner)
        size = -(-len(whole) // self.count)
        return whole[self.index * size : (self.index + 1) * size]

    def __str__(self) -> str:
        return f"part {self.index + 1}/{self.count} of {_show(self.inner)}"


Payload = bytes | Blob | Noise | Zeros | Deflated | Part


def payload_bytes(payload: Payload) -> bytes:
    """The bytes of any payload description."""
    return payload if isinstance(payload, bytes) else payload.data()


def _show(payload: Payload) -> str:
    return describe_bytes(payload, 12) if isinstance(payload, bytes) else str(payload)


def close_payload(code: int | None, reason: bytes = b"") -> bytes:
    """A Close frame's payload: the code in network byte order, then the reason."""
    return b"" if code is None else code.to_bytes(2, "big") + reason


# --- steps: what the client sends -----------------------------------------------------------


@dataclass(frozen=True)
class Frame:
    """One frame with every bit as given (masked with a fresh key unless ``masked`` is off).

    ``length`` declares another length than the payload's (a header, say, with
    no payload behind it yet); ``chop`` writes the frame that many bytes per
    write (1: dribbled).
    """

    opcode: int
    payload: Payload = b""
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    masked: bool = True
    length: int | None = None
    length_bits: int | None = None
    chop: int | None = None


@dataclass(frozen=True)
class Message:
    """A well-formed message: one frame, or ``fragment`` payload bytes per frame.

    With ``compress`` the payload is compressed with the negotiated
    permessage-deflate codec first, and RSV1 is set on the first frame only
    (RFC 7692 §6); ``fragment`` then cuts the compressed bytes.
    """

    opcode: int
    payload: Payload
    fragment: int | None = None
    compress: bool = False
    chop: int | None = None


@dataclass(frozen=True)
class Raw:
    """Bytes as they are (a forged header, half a frame)."""

    data: bytes
    chop: int | None = None


@dataclass(frozen=True)
class Together:
    """Several steps written in one write (pipelined), ``chop`` bytes per write if set."""

    steps: tuple[Frame | Message | Raw, ...]
    chop: int | None = None


@dataclass(frozen=True)
class Wait:
    """Read until the server sends ``reply`` (within 2 s) before sending more."""

    reply: Echo | PongOf


@dataclass(frozen=True)
class FailsHere:
    """The server must have failed the connection by now; if so, the rest is not sent."""


Step = Frame | Message | Raw | Together | Wait | FailsHere


# --- the opening handshake -------------------------------------------------------------------


@dataclass(frozen=True)
class Opening:
    """A valid upgrade request built with :func:`wstool.core.handshake.build_request`.

    Attributes:
        subprotocols: offered, in order of preference.
        deflate: a permessage-deflate offer, if any.
        decoys: extension offers listed before ``deflate``, which the server must
            decline (unknown extensions, invalid permessage-deflate parameters).
        headers: extra headers.
        coalesce: write the first step in the same write as the request.
        chop: write the request this many bytes per write.
    """

    subprotocols: tuple[str, ...] = ()
    deflate: ExtensionOffer | None = None
    decoys: tuple[ExtensionOffer, ...] = ()
    headers: tuple[tuple[str, str], ...] = ()
    coalesce: bool = False
    chop: int | None = None


@dataclass(frozen=True)
class RawRequest:
    """A request head written by hand; ``{host}``, ``{path}`` and ``{key}`` are filled in."""

    template: bytes
    chop: int | None = None


# --- outcomes: what must come back -------------------------------------------------------------


@dataclass(frozen=True)
class Echo:
    """An expected data message from the server."""

    opcode: int
    payload: Payload

    def resolve(self) -> Msg:
        """The reply to compare with what came."""
        return Msg(self.opcode, payload_bytes(self.payload))

    def __str__(self) -> str:
        kind = "text" if self.opcode == Opcode.TEXT else "binary"
        return f"{kind}({_show(self.payload)})"


@dataclass(frozen=True)
class PongOf:
    """An expected Pong with this payload."""

    payload: bytes

    def resolve(self) -> Pong:
        """The reply to compare with what came."""
        return Pong(self.payload)

    def __str__(self) -> str:
        return f"pong({_show(self.payload)})"


class _Any:
    def __repr__(self) -> str:
        return "ANY"


ANY = _Any()
"""No expectation about a handshake detail."""


@dataclass(frozen=True)
class Expect:
    """A WebSocket connection: these replies in order, then the server's Close.

    Attributes:
        replies: messages and pongs the server sends before its Close, exactly.
        codes: the close codes that pass (``None``: an empty Close payload).
        fails: the server fails the connection (else it answers our Close).
        reason: the close reason the server must echo, if checked.
        subprotocol: the subprotocol the server must select (None: none).
        deflate: whether the server must (True) or must not (False) accept
            permessage-deflate.
        refusable: a 4xx refusal of the handshake is NON-STRICT rather than FAIL.
        lenient: another outcome that is allowed but not strict (NON-STRICT).
    """

    replies: tuple[Echo | PongOf, ...] = ()
    codes: tuple[int | None, ...] = (1000,)
    fails: bool = False
    reason: bytes | None = None
    subprotocol: str | _Any | None = ANY
    deflate: bool | None = None
    refusable: bool = False
    lenient: Expect | None = field(default=None, compare=False)

    def __str__(self) -> str:
        replies = [str(r) for r in self.replies]
        if len(replies) > 3:
            replies = [*replies[:2], f"... {len(self.replies)} replies"]
        codes = "/".join("empty" if c is None else str(c) for c in self.codes)
        end = f"fail {codes}" if self.fails else f"close {codes}"
        return ", ".join([*replies, end])


@dataclass(frozen=True)
class Refused:
    """An HTTP error response instead of a 101, then the connection closed.

    Attributes:
        status: the status expected; another 4xx is NON-STRICT.
        headers: (name, token) pairs a response with ``status`` must carry.
        always: (name, token) pairs any refusal must carry.
        also: statuses other than 4xx that are NON-STRICT rather than FAIL.
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    always: tuple[tuple[str, str], ...] = ()
    also: tuple[int, ...] = ()

    def __str__(self) -> str:
        extra = "".join(f" +{name}: {value}" for name, value in (*self.always, *self.headers))
        return f"HTTP {self.status}{extra}"


@dataclass(frozen=True)
class Dropped:
    """The server drops an unfinished handshake after ``after`` seconds."""

    after: float

    def __str__(self) -> str:
        return f"dropped after {self.after:g}s"


Outcome = Expect | Refused | Dropped


def echo(*replies: Echo | PongOf, code: int | None = 1000, reason: bytes | None = None) -> Expect:
    """The server sends ``replies`` and answers our Close with ``code``."""
    return Expect(replies=replies, codes=(code,), reason=reason)


def fails(code: int | tuple[int, ...], *replies: Echo | PongOf) -> Expect:
    """The server sends ``replies``, then fails the connection with ``code``."""
    codes = code if isinstance(code, tuple) else (code,)
    return Expect(replies=replies, codes=codes, fails=True)


@dataclass(frozen=True)
class Case:
    """One conformance case.

    Attributes:
        id: a dotted id in the Autobahn Testsuite's section numbering
            (``0.*`` is the opening handshake, which Autobahn does not test).
        description: one line.
        expect: what must happen.
        steps: what the client sends after the handshake.
        opening: how the connection is opened.
        profile: the server configuration the case needs (see ``PROFILES``).
        timeout: seconds to wait for the outcome after the last step.
    """

    id: str
    description: str
    expect: Outcome
    steps: tuple[Step, ...] = ()
    opening: Opening | RawRequest = Opening()
    profile: str = "default"
    timeout: float = 5.0

    @property
    def fail_fast(self) -> bool:
        """Whether the case checks that the server fails before everything is sent."""
        return any(isinstance(step, FailsHere) for step in self.steps)

    @property
    def expected(self) -> str:
        """The expected outcome in a few words."""
        text = str(self.expect)
        return f"{text} early" if self.fail_fast else text
