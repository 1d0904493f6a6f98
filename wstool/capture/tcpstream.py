"""TCP reassembly of one direction by sequence numbers: payload once, in order, gaps said.

Out-of-order segments wait until the bytes before them arrive; retransmitted and overlapping
bytes are kept once (the first copy captured); bytes that never appear in the capture become a
gap with its size and the sequence number where it starts. A gap is known when the peer
acknowledges bytes the capture never held (the receiver had them; the capture lost them), when
too much waits behind a hole, or when the capture ends.

Offsets are unwrapped: the stream offset of a byte is its distance from the first byte (the
one after the SYN, or the first captured), so streams past 4 GiB and wrapped sequence numbers
keep counting.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Chunk", "DirectionStream", "Gap"]

_WINDOW = 1 << 32
_HALF = 1 << 31
MAX_WAITING = 8 << 20  # bytes held behind a hole before it is declared a gap
_HOLE_ACKS, _HOLE_TIME = 3, 200_000_000  # ACKs past a hole, or ns, before it is a gap


@dataclass(slots=True)  # not frozen: built once per packet, and frozen costs
class Chunk:
    """In-order bytes of the stream, starting at ``offset``, captured at ``time``."""

    offset: int
    data: bytes
    time: int
    segment_start: bool = True


@dataclass(slots=True)  # not frozen: built once per packet, and frozen costs
class Gap:
    """Bytes the capture does not hold: ``size`` of them from ``offset`` (sequence ``seq``)."""

    offset: int
    size: int
    seq: int
    time: int


class DirectionStream:
    """One direction of one TCP connection.

    Args:
        seq: The sequence number of the first payload byte (ISN + 1 after a SYN, else the first
            captured segment's).
    """

    def __init__(self, seq: int) -> None:
        self.base = seq
        self.offset = 0  # the next stream offset expected
        self.fin: int | None = None  # stream offset of the FIN, once seen
        self.retransmitted = 0  # payload bytes captured more than once
        self.gaps = 0
        self._waiting: dict[int, tuple[bytes, int]] = {}
        self._waiting_bytes = 0
        self._hole: tuple[int, int, int] | None = None  # acknowledged end, since, ACKs seen

    @property
    def waiting(self) -> bool:
        """Whether bytes wait behind a hole."""
        return bool(self._waiting)

    def position(self, seq: int) -> int:
        """The stream offset of sequence number ``seq``, the closest to what is expected."""
        ahead = (seq - self.base - self.offset + _HALF) % _WINDOW - _HALF
        return self.offset + ahead

    def add(self, seq: int, data: bytes, time: int, fin: bool = False) -> list[Chunk | Gap]:
        """One segment's payload; what is now in order."""
        start = self.position(seq)
        if fin:
            self.fin = start + len(data)
        if not data:
            return []
        out: list[Chunk | Gap] = []
        if start > self.offset:
            if start not in self._waiting or len(self._waiting[start][0]) < len(data):
                self._waiting_bytes += len(data) - len(self._waiting.get(start, (b"",))[0])
                self._waiting[start] = (data, time)
            if self._waiting_bytes > MAX_WAITING:
                self._gap_to(min(self._waiting), time, out)
                self._drain(out)
            return out
        self._deliver(start, data, time, out)
        if self._waiting:
            self._drain(out)
        return out

    def acknowledged(self, ack: int, time: int) -> list[Chunk | Gap]:
        """The peer acknowledged up to ``ack``: bytes before it never captured are a gap.

        The receiver had them, so the capture lost them; but captures on several CPUs or
        interfaces (``-i any``) may hold an ACK just before the data it acknowledges, so a hole
        is declared only once it outlives a few more ACKs or a fraction of a second.
        """
        end = self.position(ack)
        if self.fin is not None and end > self.fin:
            end = self.fin  # the FIN takes a sequence number but carries no byte
        if end <= self.offset or end - self.offset > _HALF:
            self._hole = None
            return []
        if self._hole is None:
            self._hole = (end, time, 0)
            return []
        _, since, seen = self._hole
        if seen < _HOLE_ACKS and time - since < _HOLE_TIME:
            self._hole = (end, since, seen + 1)
            return []
        self._hole = None
        out: list[Chunk | Gap] = []
        first_waiting = min(self._waiting) if self._waiting else end
        self._gap_to(min(end, first_waiting), time, out)
        self._drain(out)
        return out

    def finish(self, time: int) -> list[Chunk | Gap]:
        """The capture ended: what still waits behind holes, with the holes as gaps."""
        out: list[Chunk | Gap] = []
        while self._waiting:
            self._gap_to(min(self._waiting), time, out)
            self._drain(out)
        return out

    def _gap_to(self, end: int, time: int, out: list[Chunk | Gap]) -> None:
        if end > self.offset:
            seq = (self.base + self.offset) % _WINDOW
            out.append(Gap(self.offset, end - self.offset, seq, time))
            self.gaps += 1
            self.offset = end

    def _deliver(self, start: int, data: bytes, time: int, out: list[Chunk | Gap]) -> None:
        end = start + len(data)
        if end <= self.offset:
            self.retransmitted += len(data)
            return
        if start < self.offset:
            self.retransmitted += self.offset - start
            data = data[self.offset - start :]
            start = self.offset
        out.append(Chunk(start, data, time))
        self.offset = end

    def _drain(self, out: list[Chunk | Gap]) -> None:
        waiting = self._waiting
        while waiting:
            start = min(waiting)
            if start > self.offset:
                return
            data, time = waiting.pop(start)
            self._waiting_bytes -= len(data)
            self._deliver(start, data, time, out)
