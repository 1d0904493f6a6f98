"""Crafted pcap and pcapng captures for the capture tests: any link type, byte order, timestamp
unit, segmentation and packet order, written the way libpcap and Wireshark write them."""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from capture.dumps import REQUEST, RESPONSE, ip_packet, link, tcp_segment, ws_frame
from wstool.capture.connections import CaptureDecoder, CaptureEvent
from wstool.capture.pcapfile import ByteSource, CapturePacket, read_capture
from wstool.core.inspect import FrameReport, MessageReport

CLIENT, SERVER = ("127.0.0.1", 50000), ("127.0.0.1", 8765)
ISN = {True: 1_000_000, False: 4_294_960_000}  # the server's wraps past 2**32
LINKTYPES = {"ethernet": 1, "sll": 113, "sll2": 276, "raw": 101, "null": 0, "vlan": 1}


@dataclass(frozen=True)
class Segment:
    """One TCP segment of a crafted capture."""

    from_client: bool
    flags: str
    offset: int  # stream offset of the payload's first byte (after the SYN)
    payload: bytes = b""
    ack: int = 0  # the peer's stream offset acknowledged


def client_frames() -> list[bytes]:
    """Masked frames of a client: text, binary, a fragmented text message, a ping and a close."""
    return [
        ws_frame(0x1, b"Hello", b"\x37\xfa\x21\x3d"),
        ws_frame(0x2, bytes(range(40)), b"\x01\x02\x03\x04"),
        bytes([0x01, 0x84])
        + b"\x11\x22\x33\x44"
        + bytes(a ^ b for a, b in zip(b"frag", b"\x11\x22\x33\x44", strict=False)),
        ws_frame(0x0, b"mented", b"\x55\x66\x77\x88"),
        ws_frame(0x9, b"ping", b"\x09\x08\x07\x06"),
        ws_frame(0x8, b"\x03\xe8bye", b"\xa1\xb2\xc3\xd4"),
    ]


def server_frames() -> list[bytes]:
    """Unmasked frames of a server: text, a 300-byte binary (16-bit length), pong, close."""
    big = bytes(i % 251 for i in range(300))
    return [
        ws_frame(0x1, b"Hello"),
        bytes([0x82, 126]) + struct.pack("!H", len(big)) + big,
        ws_frame(0xA, b"ping"),
        ws_frame(0x8, b"\x03\xe8"),
    ]


def streams(handshake: bool = True) -> tuple[bytes, bytes]:
    """The client's and the server's bytes."""
    client, server = b"".join(client_frames()), b"".join(server_frames())
    if handshake:
        return REQUEST + client, RESPONSE + server
    return client, server


def conversation(
    client: bytes, server: bytes, size: int = 1000, handshake: bool = True
) -> list[Segment]:
    """Segments of a connection: SYNs, the client's request, the response, then both streams
    in ``size``-byte segments, each acknowledged, and FINs."""
    segments = []
    if handshake:
        segments += [Segment(True, "S", -1), Segment(False, "S.", -1), Segment(True, ".", 0)]
    sent = {True: 0, False: 0}
    rest = {True: client, False: server}
    if handshake:  # the request, then the response, each in one segment
        for side, head in ((True, len(REQUEST)), (False, len(RESPONSE))):
            data, rest[side] = rest[side][:head], rest[side][head:]
            segments.append(Segment(side, "P.", sent[side], data, sent[not side]))
            sent[side] += head
    while rest[True] or rest[False]:
        for side in (True, False):
            if rest[side]:
                piece, rest[side] = rest[side][:size], rest[side][size:]
                segments.append(Segment(side, "P.", sent[side], piece, sent[not side]))
                sent[side] += len(piece)
    segments.append(Segment(True, "F.", sent[True], b"", sent[False]))
    segments.append(Segment(False, "F.", sent[False], b"", sent[True] + 1))
    return segments


def ip_packets(
    segments: Iterable[Segment], client: tuple[str, int] = CLIENT, server: tuple[str, int] = SERVER
) -> list[bytes]:
    """IP packets of the segments (IPv4 or IPv6 by the addresses)."""
    packets = []
    for number, segment in enumerate(segments):
        src, dst = (client, server) if segment.from_client else (server, client)
        seq = (ISN[segment.from_client] + 1 + segment.offset) % 2**32
        ack = (
            0 if segment.flags == "S" else (ISN[not segment.from_client] + 1 + segment.ack) % 2**32
        )
        tcp = tcp_segment(
            src[0], dst[0], (src[1], dst[1]), seq, ack, segment.flags, segment.payload
        )
        packets.append(ip_packet(src[0], dst[0], tcp, number))
    return packets


def frame(kind: str, packet: bytes, outgoing: bool = False) -> bytes:
    """An IP packet behind the link-layer header ``kind``."""
    if kind == "null":
        family = 2 if packet[0] >> 4 == 4 else 24
        return struct.pack("=I", family) + packet
    if kind == "vlan":
        ethertype = b"\x86\xdd" if packet[0] >> 4 == 6 else b"\x08\x00"
        return b"\x02" * 6 + b"\x04" * 6 + b"\x81\x00\x00\x2a" + ethertype + packet
    return link(kind, packet, outgoing)


def pcap_file(
    frames: Sequence[bytes],
    linktype: int,
    *,
    big: bool = False,
    nano: bool = False,
    start: int = 1_700_000_000,
) -> bytes:
    """A libpcap file of ``frames``, one millisecond apart."""
    order = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(f"{order}IHHiIII", magic, 2, 4, 0, 0, 262144, linktype)]
    for number, data in enumerate(frames):
        fraction = number * (1_000_000 if nano else 1000)
        out.append(struct.pack(f"{order}IIII", start, fraction, len(data), len(data)) + data)
    return b"".join(out)


def _option(code: int, value: bytes, order: str = "<") -> bytes:
    pad = b"\0" * (-len(value) % 4)
    return struct.pack(f"{order}HH", code, len(value)) + value + pad


def _block(kind: int, body: bytes, order: str = "<") -> bytes:
    length = 12 + len(body)
    return struct.pack(f"{order}II", kind, length) + body + struct.pack(f"{order}I", length)


def pcapng_file(
    packets: Sequence[tuple[int, bytes, str | None]],
    linktypes: Sequence[int],
    *,
    big: bool = False,
    comment: str = "",
) -> bytes:
    """A pcapng file: one section, an interface per link type (the first in nanoseconds), and
    ``(interface, frame, comment)`` packets one millisecond apart."""
    order = ">" if big else "<"
    options = _option(1, comment.encode(), order) + _option(0, b"", order) if comment else b""
    out = [_block(0x0A0D0D0A, struct.pack(f"{order}IHHq", 0x1A2B3C4D, 1, 0, -1) + options, order)]
    for index, linktype in enumerate(linktypes):
        opts = _option(2, f"if{index}".encode(), order)
        if index == 0:
            opts += _option(9, b"\x09", order)
        opts += _option(0, b"", order)
        out.append(_block(1, struct.pack(f"{order}HHI", linktype, 0, 262144) + opts, order))
    for number, (interface, data, note) in enumerate(packets):
        units = 10**9 if interface == 0 else 10**6
        ticks = 1_700_000_000 * units + number * units // 1000
        body = struct.pack(
            f"{order}IIIII", interface, ticks >> 32, ticks & 0xFFFFFFFF, len(data), len(data)
        )
        body += data + b"\0" * (-len(data) % 4)
        if note:
            body += _option(1, note.encode(), order) + _option(0, b"", order)
        out.append(_block(6, body, order))
    return b"".join(out)


def decode(data: bytes) -> tuple[list[CaptureEvent], CaptureDecoder, list[object]]:
    """Every event of a capture file's bytes, the decoder (for its connections), other records."""
    import io

    decoder = CaptureDecoder()
    events: list[CaptureEvent] = []
    others: list[object] = []
    for record in read_capture(ByteSource(io.BytesIO(data))):
        if isinstance(record, CapturePacket):
            events += decoder.packet(record)
        else:
            others.append(record)
    events += decoder.finish()
    return events, decoder, others


def frames_by_direction(
    events: Iterable[CaptureEvent],
) -> dict[str, list[tuple[int, int, bool, bytes]]]:
    """(offset, opcode, fin, unmasked payload) of every frame, by sender address."""
    found: dict[str, list[tuple[int, int, bool, bytes]]] = {}
    for event in events:
        for item in event.items:
            if isinstance(item, FrameReport):
                found.setdefault(event.source or "", []).append(
                    (item.frame.offset, item.frame.opcode, item.frame.fin, item.data)
                )
    return found


def messages(events: Iterable[CaptureEvent]) -> list[bytes]:
    """The payloads of reassembled or inflated messages."""
    return [
        item.message.data for e in events for item in e.items if isinstance(item, MessageReport)
    ]


def notes(events: Iterable[CaptureEvent]) -> list[str]:
    """Every note, in order."""
    return [e.note for e in events if e.note is not None]


def framed_conversation(handshake: bool = True) -> list[Segment]:
    """The conversation with one frame per segment, as a sender writing whole frames sends it."""
    segments = []
    if handshake:
        segments += [Segment(True, "S", -1), Segment(False, "S.", -1), Segment(True, ".", 0)]
    sent = {True: 0, False: 0}
    pieces = {True: client_frames(), False: server_frames()}
    if handshake:
        pieces[True].insert(0, REQUEST)
        pieces[False].insert(0, RESPONSE)
    while pieces[True] or pieces[False]:
        for side in (True, False):
            if pieces[side]:
                data = pieces[side].pop(0)
                segments.append(Segment(side, "P.", sent[side], data, sent[not side]))
                sent[side] += len(data)
    return segments


def acked_in_order(segments: Sequence[Segment]) -> list[Segment]:
    """The segments with each ACK set to what its sender could have received by then: the
    peer's bytes captured so far without a hole (a receiver at the capture point)."""
    have: dict[bool, list[tuple[int, int]]] = {True: [], False: []}
    out = []
    for segment in segments:
        peer = have[not segment.from_client]
        end = 0
        for start, stop in sorted(peer):
            if start > end:
                break
            end = max(end, stop)
        if segment.payload:
            have[segment.from_client].append(
                (segment.offset, segment.offset + len(segment.payload))
            )
        out.append(
            Segment(segment.from_client, segment.flags, segment.offset, segment.payload, end)
        )
    return out


def capture(segments: Sequence[Segment], kind: str = "ethernet") -> bytes:
    """A pcap file of the segments."""
    return pcap_file([frame(kind, p) for p in ip_packets(segments)], LINKTYPES[kind])
