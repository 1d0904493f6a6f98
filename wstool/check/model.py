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
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TypeVar, overload

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
    "Lazy",
    "Message",
    "Noise",
    "Opening",
    "Part",
    "Pause",
    "Payload",
    "PongOf",
    "Raw",
    "RawRequest",
    "Refused",
    "Repeat",
    "Step",
    "Together",
    "Wait",
    "Window",
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


@lru_cache(maxsize=8)
def _repeat(unit: bytes, size: int) -> bytes:
    return (unit * (size // len(unit) + 1))[:size]


@dataclass(frozen=True)
class Repeat:
    """``unit`` repeated to ``size`` bytes (the Autobahn Testsuite's ``payload_len`` frames)."""

    unit: bytes
    size: int

    def data(self) -> bytes:
        """The bytes (cached: several cases share one)."""
        return _repeat(self.unit, self.size)

    def __str__(self) -> str:
        return f"{self.size}B of {describe_bytes(self.unit, 10)} repeated"


@dataclass(frozen=True)
class Window:
    """``size`` bytes of a long document from ``start``, wrapping round at its end.

    ``source`` returns the document (cached by its owner); the Autobahn
    Testsuite's compression cases send such windows one after another.
    """

    source: Callable[[], bytes]
    start: int
    size: int

    def data(self) -> bytes:
        """The slice (built when used)."""
        whole = self.source()
        start = self.start % len(whole)
        end = start + self.size
        if end <= len(whole):
            return whole[start:end]
        return whole[start:] + whole[: end - len(whole)]

    def __str__(self) -> str:
        name = getattr(self.source, "__name__", "document").strip("_")
        return f"{self.size}B of {name} from {self.start}"


Payload = bytes | Blob | Noise | Zeros | Deflated | Part | Repeat | Window


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
    """Read until the server sends ``reply`` before sending more.

    ``within``: seconds it has (None: the runner's 2 s). Autobahn's round-trip
    cases (9.7, 9.8, 12, 13) give a whole case minutes, not each echo 2 s.
    """

    reply: Echo | PongOf
    within: float | None = None


@dataclass(frozen=True)
class FailsHere:
    """The server must have failed the connection by now; if so, the rest is not sent."""


@dataclass(frozen=True)
class Pause:
    """Read for ``seconds`` before sending more; the server must not end the connection then.

    The Autobahn Testsuite's cases 5.19 and 6.4.x wait like this between parts,
    so that a server which fails on the valid part already is told apart.
    """

    seconds: float

    def __str__(self) -> str:
        return f"pause {self.seconds:g}s (the connection must stay open)"


Step = Frame | Message | Raw | Together | Wait | FailsHere | Pause

_T = TypeVar("_T")


class Lazy(Sequence[_T]):
    """A long run of steps or replies, built each time it is used, not when the table loads.

    The compression and round-trip cases send 1000 messages each; building
    them all on import would cost a second and keep them all in memory.
    """

    def __init__(self, build: Callable[[], Iterable[_T]], length: int) -> None:
        self._build, self._length = build, length

    def __iter__(self) -> Iterator[_T]:
        return iter(self._build())

    def __len__(self) -> int:
        return self._length

    @overload
    def __getitem__(self, index: int) -> _T: ...

    @overload
    def __getitem__(self, index: slice) -> tuple[_T, ...]: ...

    def __getitem__(self, index: int | slice) -> _T | tuple[_T, ...]:
        return tuple(self._build())[index]

    def __repr__(self) -> str:
        return f"Lazy({self._length} items)"


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
        informational: the RFC leaves the outcome open (Autobahn's 7.1.6, 7.13.x):
            whatever happens is INFORMATIONAL, unless the server breaks a framing rule.
    """

    replies: tuple[Echo | PongOf, ...] = ()
    codes: tuple[int | None, ...] = (1000,)
    fails: bool = False
    reason: bytes | None = None
    subprotocol: str | _Any | None = ANY
    deflate: bool | None = None
    refusable: bool = False
    lenient: Expect | None = field(default=None, compare=False)
    informational: bool = False

    def __str__(self) -> str:
        count = len(self.replies)
        shown = self.replies[:2] if count > 3 else self.replies
        replies = [str(r) for r in shown]
        if count > 3:
            replies.append(f"... {count} replies")
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
        may_upgrade: when the RFC does not forbid accepting the request, why;
            a 101 is then INFORMATIONAL instead of FAILED.
        fine: other statuses that are as right as ``status``.
    """

    status: int
    headers: tuple[tuple[str, str], ...] = ()
    always: tuple[tuple[str, str], ...] = ()
    also: tuple[int, ...] = ()
    may_upgrade: str | None = None
    fine: tuple[int, ...] = ()

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
