"""What a bench run sends: the plan, message sizes, the timestamp header, the schedule.

Every message bench sends starts with a 16-byte header: the intended send time
(``time.time_ns()``, 8 bytes big-endian) and a sequence number (8 bytes
big-endian: the connection's index << 32 | the message's number on that
connection). A text message carries those 16 bytes as 32 lowercase hex digits.
The rest of the payload is filler up to the message's size. A subscriber reads
the header of every message it gets for the latency, whoever published it.
"""

from __future__ import annotations

import dataclasses
import math
import random
from collections.abc import Callable
from dataclasses import dataclass

__all__ = [
    "HEADER_SIZE",
    "MODES",
    "TEXT_HEADER_SIZE",
    "BenchPlan",
    "OpenLoopSchedule",
    "SizeMix",
    "decode_header",
    "encode_header",
    "filler",
    "header_size",
    "parse_size_mix",
    "sequence_number",
    "split_plan",
]

HEADER_SIZE = 16
TEXT_HEADER_SIZE = 32
MODES = ("echo", "send", "subscribe", "handshakes")
_MAX_MESSAGE_NUMBER = (1 << 32) - 1
_HEX = frozenset(b"0123456789abcdef")


def header_size(text: bool) -> int:
    """How many bytes the timestamp header takes in a text or a binary message."""
    return TEXT_HEADER_SIZE if text else HEADER_SIZE


def sequence_number(connection: int, message: int) -> int:
    """The header's sequence number: the connection's index << 32 | the message's number."""
    return (connection << 32) | (message & _MAX_MESSAGE_NUMBER)


def encode_header(sent_ns: int, sequence: int, *, text: bool) -> bytes:
    """The 16-byte header (32 hex digits in a text message) that starts a message.

    Args:
        sent_ns: the intended send time, ``time.time_ns()``.
        sequence: from :func:`sequence_number`.
        text: whether the message is a text message.
    """
    if text:
        return b"%016x%016x" % (sent_ns, sequence)
    return ((sent_ns << 64) | sequence).to_bytes(HEADER_SIZE, "big")


def decode_header(payload: bytes, *, text: bool) -> tuple[int, int] | None:
    """The (send time in ns, sequence number) a message starts with, or None if it has none."""
    if text:
        head = payload[:TEXT_HEADER_SIZE]
        if len(head) < TEXT_HEADER_SIZE or not _HEX.issuperset(head):
            return None
        return int(head[:16], 16), int(head[16:], 16)
    if len(payload) < HEADER_SIZE:
        return None
    return int.from_bytes(payload[:8], "big"), int.from_bytes(payload[8:HEADER_SIZE], "big")


_FILLER_CHUNK = 1 << 24


def filler(size: int, *, text: bool) -> bytes:
    """``size`` bytes of filler: letters for text, fixed pseudo-random bytes for binary.

    The same every run, so that a run can be compared with the next (deflate
    compresses letters well and random bytes not at all).
    """
    if text:
        alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
        return (alphabet * (size // len(alphabet) + 1))[:size]
    source = random.Random(14)
    if size <= _FILLER_CHUNK:
        return source.randbytes(size)
    # randbytes() takes at most 2**31 - 1 bits at once. Chunks of whole 32-bit
    # words give the same bytes as one call would.
    return b"".join(
        source.randbytes(min(_FILLER_CHUNK, size - at)) for at in range(0, size, _FILLER_CHUNK)
    )


@dataclass(frozen=True)
class SizeMix:
    """Message sizes and their weights; :meth:`cycle` is the order they are sent in.

    Attributes:
        entries: (size in bytes, weight) pairs.
    """

    entries: tuple[tuple[int, int], ...]

    @property
    def sizes(self) -> tuple[int, ...]:
        """The distinct sizes, in the order given."""
        return tuple(size for size, _ in self.entries)

    def cycle(self) -> tuple[int, ...]:
        """One period of the sizes sent, each as often as its weight says, mixed.

        Weights are reduced by their common divisor; the order is shuffled with
        a fixed seed, so every run and every connection sees the same mix.
        """
        divisor = math.gcd(*(weight for _, weight in self.entries))
        period = [size for size, weight in self.entries for _ in range(weight // divisor)]
        random.Random(len(period)).shuffle(period)
        return tuple(period)

    def mean(self) -> float:
        """The mean message size, weights applied."""
        total = sum(weight for _, weight in self.entries)
        return sum(size * weight for size, weight in self.entries) / total


def parse_size_mix(text: str, parse_size: Callable[[str], int]) -> SizeMix:
    """Parse ``32``, ``32,1KiB,64KiB`` (equal weights) or ``32:8,1KiB:2,64KiB:1``.

    Args:
        text: the --size value.
        parse_size: turns ``1KiB`` into 1024 (and raises ValueError-like errors).

    Raises:
        ValueError: with one line saying what is wrong.
    """
    entries: list[tuple[int, int]] = []
    for item in text.split(","):
        size_text, colon, weight_text = item.strip().partition(":")
        if not size_text:
            raise ValueError(f"{text!r} has an empty size")
        size = parse_size(size_text)
        weight = 1
        if colon:
            if not weight_text.isdigit() or int(weight_text) == 0:
                raise ValueError(
                    f"{item.strip()!r}: the weight after ':' must be a whole number > 0"
                )
            weight = int(weight_text)
        entries.append((size, weight))
    return SizeMix(tuple(entries))


@dataclass(frozen=True)
class BenchPlan:
    """Everything one bench run (or one worker's share of it) does.

    Attributes:
        url: the ws:// or wss:// URL as given.
        host: the host to connect to.
        port: its port.
        resource: the request target (path and query).
        host_header: the Host header value.
        secure: wss (TLS).
        mode: one of :data:`MODES`.
        connections: how many connections (handshakes mode: how many at once).
        inflight: closed loop: messages outstanding per connection.
        rate: open loop: messages per second in total (None: closed loop).
        sizes: the message sizes.
        text: text messages (else binary).
        deflate: offer permessage-deflate.
        duration: seconds of measurement after the ramp-up (None with ``messages``).
        messages: messages to send in total (subscribe: to receive; handshakes:
            handshakes to make), or None.
        ramp_up: seconds over which connections are opened.
        timeout: seconds for a connection, a handshake, and the last echoes.
        insecure: do not verify the server's certificate.
        first_connection: the index of this plan's first connection (workers).
        worker: the worker's number (0 without workers).
        stamps: write the timestamp header into every message; without it
            (echo mode, closed loop, one size under 4 KiB) each message is the
            filler alone, prebuilt, and the latency runs from its batch's send time.
    """

    url: str
    host: str
    port: int
    resource: str
    host_header: str
    secure: bool = False
    mode: str = "echo"
    connections: int = 1
    inflight: int = 1
    rate: float | None = None
    sizes: SizeMix = SizeMix(((32, 1),))
    text: bool = False
    deflate: bool = False
    duration: float | None = 10.0
    messages: int | None = None
    ramp_up: float = 0.0
    timeout: float = 10.0
    insecure: bool = False
    first_connection: int = 0
    worker: int = 0
    stamps: bool = True

    @property
    def open_loop(self) -> bool:
        """Whether messages go out on a schedule (--rate) rather than as echoes return."""
        return self.rate is not None


def _shares(total: int, parts: int) -> list[int]:
    """``total`` split into ``parts`` whole numbers that differ by at most one."""
    base, extra = divmod(total, parts)
    return [base + (1 if i < extra else 0) for i in range(parts)]


def split_plan(plan: BenchPlan, workers: int) -> list[BenchPlan]:
    """The plan cut into one share per worker process (workers without a connection go).

    Connections are split evenly; the rate and the message count follow each
    share's connections; connection indexes stay unique across workers, so
    sequence numbers do too.
    """
    workers = max(1, min(workers, plan.connections))
    counts = _shares(plan.connections, workers)
    messages = _shares(plan.messages, workers) if plan.messages is not None else None
    plans = []
    first = plan.first_connection
    for worker, count in enumerate(counts):
        rate = plan.rate * count / plan.connections if plan.rate is not None else None
        share = messages[worker] if messages is not None else None
        plans.append(
            dataclasses.replace(
                plan,
                connections=count,
                rate=rate,
                messages=share,
                first_connection=first,
                worker=worker,
            )
        )
        first += count
    return plans


class OpenLoopSchedule:
    """When each message of an open-loop run is meant to go out.

    Message ``k`` (counted over all connections) is due at ``start +
    k / rate``. Latency is measured from that intended time, not from when the
    message could be written, so that a stalled server shows as latency instead
    of fewer samples (coordinated omission corrected, as wrk2 does).

    Args:
        rate: messages per second, > 0.
        start_ns: when message 0 is due.
    """

    def __init__(self, rate: float, start_ns: int) -> None:
        if not rate > 0:
            raise ValueError(f"the rate must be > 0, not {rate}")
        self.rate = rate
        self.start_ns = start_ns
        self.interval_ns = 1e9 / rate

    def intended(self, k: int) -> int:
        """When message ``k`` is due, in ns."""
        return self.start_ns + int(k * self.interval_ns)

    def due(self, now_ns: int) -> int:
        """How many messages are due by ``now_ns`` (messages 0 .. due-1)."""
        if now_ns < self.start_ns:
            return 0
        # The first k with intended(k) > now: guess from the rate, then correct the
        # floating-point edge so that intended(due - 1) <= now < intended(due).
        k = int((now_ns - self.start_ns) / self.interval_ns) + 1
        while k > 0 and self.intended(k - 1) > now_ns:
            k -= 1
        while self.intended(k) <= now_ns:
            k += 1
        return k
