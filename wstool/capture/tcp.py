"""TCP reassembly: captured frames -> each direction's payload, once and in order.

A dump that can carry packets (tcpdump, Wireshark, tshark) may hold whole frames or only the
bytes of one stream; :func:`read_packets` decides per dump and never drops bytes silently.

Standard library only.
"""

from __future__ import annotations

from collections.abc import Sequence

from wstool.capture.dump import Dump, DumpError, Segment
from wstool.capture.packets import TcpSegment, parse_frame

__all__ = ["Reassembly", "read_packets"]


class Reassembly:
    """Keeps each direction's TCP payload once: retransmitted bytes are dropped."""

    def __init__(self) -> None:
        self.segments: list[Segment] = []
        self.notes: list[tuple[int, str]] = []  # (line number, what happened there)
        self._next: dict[tuple[str, str], int] = {}  # next sequence number per direction

    def add(self, number: int, tcp: TcpSegment) -> None:
        """Keep the new bytes of one segment, noting retransmissions and gaps.

        Args:
            number: The dump line the packet starts on, for notes.
            tcp: The segment.
        """
        direction, data = (tcp.source, tcp.destination), tcp.payload
        # RFC 9293 §3.4: "the SYN is considered to occur before the first actual data octet".
        seq = (tcp.seq + 1) & 0xFFFFFFFF if tcp.syn else tcp.seq
        expected = self._next.get(direction)
        if expected is not None and data:
            ahead = (seq - expected + (1 << 31)) % (1 << 32) - (1 << 31)  # sequence space wraps
            if -ahead >= len(data):
                self.notes.append((number, f"retransmission of {len(data)} bytes dropped"))
                return
            if ahead < 0:
                self.notes.append((number, f"{-ahead} retransmitted bytes dropped"))
                seq, data = expected, data[-ahead:]
            elif ahead > 0:
                self.notes.append((number, f"{ahead} bytes before this segment not captured"))
        if expected is None or tcp.syn or data:
            self._next[direction] = (seq + len(data)) & 0xFFFFFFFF
        if data:
            self.segments.append(Segment(data, tcp.source, tcp.destination))

    def dump(self, name: str, skipped: list[tuple[int, str]], packets: int) -> Dump:
        """The payloads kept so far, with notes on what was left out, in line order.

        Raises:
            DumpError: No packet carried a payload.
        """
        if not self.segments:
            raise DumpError(f"no TCP payload: the {packets} TCP packets carry headers only")
        notes = sorted(skipped + self.notes)
        return Dump(name, tuple(self.segments), tuple(f"line {n}: {note}" for n, note in notes))


def read_packets(
    blocks: Sequence[tuple[int, bytes]], name: str, stream_name: str, remedy: str
) -> Dump:
    """Read the blocks of a dump as captured frames, or as one byte stream when none is a packet.

    Args:
        blocks: ``(line number, bytes)`` per block of the dump (per packet, when it has them).
        name: The format's name, for a dump of packets.
        stream_name: The format's name, for a dump whose bytes have no packet headers.
        remedy: What to do about a packet cut short, such as ``"capture with -s 0"``.

    Returns:
        TCP payloads by direction when some block holds an IP packet, else every block's bytes.

    Raises:
        DumpError: A packet is cut short, or the packets hold no TCP payload.
    """
    parsed = [(number, parse_frame(frame)) for number, frame in blocks]
    if not any(isinstance(frame, TcpSegment) or frame.ip for _, frame in parsed):
        return Dump(stream_name, tuple(Segment(frame) for _, frame in blocks if frame))
    streams, skipped, packets = Reassembly(), [], 0
    for number, frame in parsed:
        if isinstance(frame, TcpSegment):
            packets += 1
            streams.add(number, frame)
        elif frame.truncated:
            raise DumpError(f"line {number}: {frame.reason}; {remedy}")
        else:
            skipped.append((number, f"packet skipped: {frame.reason}"))
    if not packets:
        raise DumpError(f"no TCP packets found (line {skipped[0][0]}: {skipped[0][1]})")
    return streams.dump(name, skipped, packets)
