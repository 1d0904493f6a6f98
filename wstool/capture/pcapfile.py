"""pcap and pcapng files -> captured frames, read as they arrive (a file or a live pipe).

dpkt parses the file headers and every pcapng block (sections, interfaces, packets, options
and comments); this module walks the records. A pcap record header is 16 bytes, unpacked here so
that a record cut short at the end of a file is reported, where dpkt's reader would hand back the
shorter bytes as if they were the packet. Reading never holds more than the record being read.

Formats: https://www.tcpdump.org/manpages/pcap-savefile.5.txt and
draft-ietf-opsawg-pcapng (Section Header, Interface Description, Enhanced/Simple Packet blocks).

dpkt is imported inside the functions that need it: ``wstool decode`` of a text dump never
loads it.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO, Literal

from wstool.capture.dump import DumpError

__all__ = [
    "LINK_NAMES",
    "ByteSource",
    "CaptureComment",
    "CapturePacket",
    "CaptureTruncated",
    "is_capture_magic",
    "read_capture",
]

# Link-layer header types (https://www.tcpdump.org/linktypes.html).
LINK_NAMES = {
    0: "BSD loopback",
    1: "Ethernet",
    12: "raw IP",
    14: "raw IP",
    101: "raw IP",
    108: "OpenBSD loopback",
    113: "Linux cooked v1",
    228: "raw IPv4",
    229: "raw IPv6",
    276: "Linux cooked v2",
}
_PCAP_MAGIC = {
    0xA1B2C3D4: 10**3,  # microseconds -> nanoseconds
    0xA1B23C4D: 1,  # nanoseconds
    0xA1B2CD34: 10**3,  # Kuznetsov's patched libpcap: longer record headers
}
_PCAPNG_SHB = b"\x0a\x0d\x0d\x0a"
_CHUNK = 1 << 16


@dataclass(slots=True)  # not frozen: built once per packet, and frozen costs
class CapturePacket:
    """One captured frame.

    Attributes:
        number: 1-based, in file order (as Wireshark numbers them).
        time: Capture time, nanoseconds since the epoch.
        linktype: The link-layer header type of its interface.
        data: The bytes captured (``caplen`` of them).
        length: The frame's length on the wire (more than ``len(data)`` if cut by the snaplen).
        comment: A pcapng packet comment, if any.
    """

    number: int
    time: int
    linktype: int
    data: bytes
    length: int
    comment: str | None = None


@dataclass(slots=True)  # not frozen: built once per packet, and frozen costs
class CaptureComment:
    """A comment or description the file carries outside packets (pcapng sections, interfaces)."""

    text: str


@dataclass(slots=True)  # not frozen: built once per packet, and frozen costs
class CaptureTruncated:
    """The file ends inside a record: what was read before it is still decoded."""

    text: str


CaptureRecord = CapturePacket | CaptureComment | CaptureTruncated


def is_capture_magic(head: bytes) -> bool:
    """Whether the first 4 bytes of an input are a pcap or pcapng magic number."""
    if head[:4] == _PCAPNG_SHB:
        return True
    return len(head) >= 4 and (
        int.from_bytes(head[:4], "big") in _PCAP_MAGIC
        or int.from_bytes(head[:4], "little") in _PCAP_MAGIC
    )


class ByteSource:
    """Exact-size reads from a file or a pipe, without waiting for more than is asked.

    ``read1`` returns what one read of the pipe gives, so a live ``tcpdump -U -w -`` is
    decoded packet by packet; a file is read 64 KiB at a time.
    """

    def __init__(self, stream: BinaryIO, prefix: bytes = b"") -> None:
        self._stream = stream
        self._read = getattr(stream, "read1", stream.read)
        self._buffer = prefix
        self._position = 0
        self.head = prefix[:64]  # the first bytes of the input, to name the format

    @property
    def drained(self) -> bool:
        """Whether the next read must wait for the file or the pipe (a live capture shows
        what it has by then)."""
        return self._position >= len(self._buffer)

    def read(self, size: int) -> bytes:
        """``size`` bytes, or fewer at the end of the input."""
        position = self._position
        end = position + size
        if end <= len(self._buffer):
            self._position = end
            return self._buffer[position:end]
        return self._refill(size)

    def _refill(self, size: int) -> bytes:
        parts = [self._buffer[self._position :]]
        have = len(parts[0])
        while have < size:
            chunk = self._read(max(_CHUNK, size - have))
            if not chunk:
                break
            parts.append(chunk)
            have += len(chunk)
        if len(self.head) < 64:
            self.head = (self.head + b"".join(parts[1:]))[:64]
        buffer = b"".join(parts)
        self._buffer, self._position = buffer, min(size, len(buffer))
        return buffer[:size]


def read_capture(source: ByteSource) -> Iterator[CaptureRecord]:
    """The packets of a pcap or pcapng capture, in file order, as they can be read.

    Raises:
        DumpError: The file header is not a capture's (checked before anything is yielded).
    """
    head = source.read(4)
    if head == _PCAPNG_SHB:
        return _read_pcapng(source, head)
    return _read_pcap(source, head)


def _read_pcap(source: ByteSource, magic: bytes) -> Iterator[CaptureRecord]:
    from dpkt import pcap

    header = magic + source.read(20)
    if len(header) < 24:
        raise DumpError("the pcap file header is cut short")
    little = int.from_bytes(magic, "little") in _PCAP_MAGIC
    file_header = (pcap.LEFileHdr if little else pcap.FileHdr)(header)
    if file_header.v_major != 2:
        raise DumpError(f"unknown pcap version {file_header.v_major}.{file_header.v_minor}")
    return _pcap_records(source, little, file_header.magic, file_header.linktype)


def _pcap_records(
    source: ByteSource, little: bool, magic: int, linktype: int
) -> Iterator[CaptureRecord]:
    scale = _PCAP_MAGIC[magic]
    # pcap-savefile(5): ts seconds, ts fraction, captured length, original length; Kuznetsov's
    # format adds 8 bytes (ifindex, protocol, type, padding) after them.
    record = struct.Struct("<IIII" if little else ">IIII")
    extra = 8 if magic == 0xA1B2CD34 else 0
    size = record.size + extra
    linktype &= 0x0FFFFFFF  # the upper bits carry the FCS length
    number = 0
    while True:
        head = source.read(size)
        if not head:
            return
        number += 1
        if len(head) < size:
            yield CaptureTruncated(f"packet {number}: the file ends inside its record header")
            return
        seconds, fraction, caplen, length = record.unpack_from(head)
        data = source.read(caplen)
        if len(data) < caplen:
            yield CaptureTruncated(
                f"packet {number}: the file ends after {len(data)} of its {caplen} bytes"
            )
            return
        yield CapturePacket(
            number, seconds * 1_000_000_000 + fraction * scale, linktype, data, length
        )


@dataclass
class _Interface:
    linktype: int
    units: int = 1_000_000  # timestamp units per second (if_tsresol)
    offset: int = 0  # seconds added to every timestamp (if_tsoffset)
    name: str = ""


def _read_pcapng(source: ByteSource, magic: bytes) -> Iterator[CaptureRecord]:
    from dpkt import pcapng

    head = magic + source.read(8)
    if len(head) < 12:
        raise DumpError("the pcapng section header is cut short")
    little = head[8:12] == b"\x4d\x3c\x2b\x1a"
    if not little and head[8:12] != b"\x1a\x2b\x3c\x4d":
        raise DumpError("the pcapng section header has no byte-order magic")
    length = int.from_bytes(head[4:8], "little" if little else "big")
    body = source.read(length - 12) if 28 <= length <= 1 << 24 else b""
    try:
        section = (pcapng.SectionHeaderBlockLE if little else pcapng.SectionHeaderBlock)(
            head + body
        )
    except Exception as exc:  # dpkt raises its own errors and struct's for bad lengths
        raise DumpError(f"the pcapng section header is unreadable ({exc})") from exc
    if section.v_major != 1:
        raise DumpError(f"unknown pcapng version {section.v_major}.{section.v_minor}")
    return _pcapng_blocks(source, little, section)


_OPT_COMMENT, _OPT_IF_NAME, _OPT_IF_TSRESOL, _OPT_IF_TSOFFSET = 1, 2, 9, 14
_BT_IDB, _BT_SPB, _BT_EPB, _BT_PB, _BT_SHB = 1, 3, 6, 2, 0x0A0D0D0A


def _comments(block: Any) -> list[str]:
    return [
        str(getattr(option, "text", option.data))
        for option in getattr(block, "opts", ())
        if option.code == _OPT_COMMENT
    ]


def _pcapng_blocks(source: ByteSource, little: bool, section: Any) -> Iterator[CaptureRecord]:
    from dpkt import pcapng

    interfaces: list[_Interface] = []
    for text in _comments(section):
        yield CaptureComment(f"section comment: {text}")
    order: Literal["little", "big"] = "little" if little else "big"
    number = 0
    while True:
        head = source.read(8)
        if not head:
            return
        if len(head) < 8:
            yield CaptureTruncated("the file ends inside a block header")
            return
        kind = int.from_bytes(head[:4], order)
        length = int.from_bytes(head[4:8], order)
        body = b""
        if kind == _BT_SHB:  # a new section: its own byte order (read first) and interfaces
            body = source.read(4)
            order = "little" if body == b"\x4d\x3c\x2b\x1a" else "big"
            length = int.from_bytes(head[4:8], order)
        if length < 12 or length % 4:
            yield CaptureTruncated(f"a block of {length} bytes is malformed; reading stops")
            return
        body += source.read(length - 8 - len(body))
        if len(body) < length - 8:
            yield CaptureTruncated(
                f"the file ends inside a block ({len(body) + 8} of its {length} bytes)"
            )
            return
        block = head + body
        try:
            if kind in (_BT_EPB, _BT_PB):
                number += 1
                yield _packet(pcapng, little, kind, block, interfaces, number)
            elif kind == _BT_SPB:
                number += 1
                yield _simple_packet(block, order, interfaces, number)
            elif kind == _BT_IDB:
                interface = _interface(pcapng, little, block)
                interfaces.append(interface)
                yield CaptureComment(
                    f"interface {len(interfaces) - 1}"
                    f"{' ' + interface.name if interface.name else ''}: "
                    f"{LINK_NAMES.get(interface.linktype, f'link type {interface.linktype}')}"
                )
                for text in _comments(_idb(pcapng, little, block)):
                    yield CaptureComment(f"interface {len(interfaces) - 1} comment: {text}")
            elif kind == _BT_SHB:
                little = block[8:12] == b"\x4d\x3c\x2b\x1a"
                section = (pcapng.SectionHeaderBlockLE if little else pcapng.SectionHeaderBlock)(
                    block
                )
                interfaces = []
                for text in _comments(section):
                    yield CaptureComment(f"section comment: {text}")
        except _NoInterface as exc:
            yield CaptureTruncated(str(exc))
            return
        except Exception as exc:  # a malformed block: say which, go on with the next
            yield CaptureComment(f"block of type {kind:#x} skipped: unreadable ({exc})")


class _NoInterface(ValueError):
    pass


def _idb(pcapng: Any, little: bool, block: bytes) -> Any:
    return (pcapng.InterfaceDescriptionBlockLE if little else pcapng.InterfaceDescriptionBlock)(
        block
    )


def _interface(pcapng: Any, little: bool, block: bytes) -> _Interface:
    idb = _idb(pcapng, little, block)
    interface = _Interface(idb.linktype)
    for option in idb.opts:
        if option.code == _OPT_IF_TSRESOL and option.data:
            # A power of 10, or of 2 when the high bit is set.
            value = option.data[0]
            interface.units = 2 ** (value & 0x7F) if value & 0x80 else 10 ** (value & 0x7F)
        elif option.code == _OPT_IF_TSOFFSET and len(option.data) == 8:
            interface.offset = int.from_bytes(
                option.data, "little" if little else "big", signed=True
            )
        elif option.code == _OPT_IF_NAME:
            interface.name = option.data.rstrip(b"\0").decode("utf-8", "replace")
    return interface


def _packet(
    pcapng: Any, little: bool, kind: int, block: bytes, interfaces: list[_Interface], number: int
) -> CapturePacket:
    if kind == _BT_EPB:
        epb = (pcapng.EnhancedPacketBlockLE if little else pcapng.EnhancedPacketBlock)(block)
    else:
        epb = (pcapng.PacketBlockLE if little else pcapng.PacketBlock)(block)
    index = epb.iface_id
    if index >= len(interfaces):
        raise _NoInterface(f"packet {number} names interface {index}, which is not described")
    interface = interfaces[index]
    ticks = (epb.ts_high << 32) | epb.ts_low
    time = (ticks * 1_000_000_000) // interface.units + interface.offset * 1_000_000_000
    comments = _comments(epb)
    return CapturePacket(
        number,
        time,
        interface.linktype,
        bytes(epb.pkt_data),
        epb.pkt_len,
        "; ".join(comments) if comments else None,
    )


def _simple_packet(
    block: bytes, order: Literal["little", "big"], interfaces: list[_Interface], number: int
) -> CapturePacket:
    # A Simple Packet Block: original length, then the data; interface 0, no timestamp.
    if not interfaces:
        raise _NoInterface(f"packet {number} comes before any interface is described")
    length = int.from_bytes(block[8:12], order)
    data = block[12 : 12 + min(length, len(block) - 16)]
    return CapturePacket(number, 0, interfaces[0].linktype, data, length)
