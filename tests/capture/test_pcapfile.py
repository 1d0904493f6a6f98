"""Tests of :mod:`wstool.capture.pcapfile` and :mod:`wstool.capture.links`: pcap and pcapng
files in both byte orders and timestamp units, every link type, IP fragments, cut files."""

from __future__ import annotations

import io
import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from capture.captures import (
    LINKTYPES,
    conversation,
    decode,
    frame,
    frames_by_direction,
    ip_packets,
    messages,
    pcap_file,
    pcapng_file,
    streams,
)
from capture.dumps import ip_packet, tcp_segment
from wstool.capture.dump import DumpError
from wstool.capture.pcapfile import (
    ByteSource,
    CaptureComment,
    CapturePacket,
    CaptureTruncated,
    is_capture_magic,
    read_capture,
)


def reference() -> dict[str, list[tuple[int, int, bool, bytes]]]:
    """The frames of the crafted conversation, decoded from a plain Ethernet pcap."""
    client, server = streams()
    packets = ip_packets(conversation(client, server))
    events, _, _ = decode(pcap_file([frame("ethernet", p) for p in packets], 1))
    return frames_by_direction(events)


class TestFiles:
    """Both byte orders, micro- and nanoseconds, pcapng; every link type decodes the same."""

    @pytest.mark.parametrize("big", [False, True], ids=["little", "big"])
    @pytest.mark.parametrize("nano", [False, True], ids=["usec", "nsec"])
    def test_pcap_orders_and_units(self, big: bool, nano: bool) -> None:
        """Timestamps are read in their unit; the packets in their byte order."""
        data = pcap_file([b"\x00" * 20, b"\x01" * 30], 101, big=big, nano=nano)
        records = list(read_capture(ByteSource(io.BytesIO(data))))
        assert [r.time for r in records if isinstance(r, CapturePacket)] == [
            1_700_000_000 * 10**9,
            1_700_000_000 * 10**9 + 1_000_000,
        ]
        assert [len(r.data) for r in records if isinstance(r, CapturePacket)] == [20, 30]

    @pytest.mark.parametrize("kind", sorted(LINKTYPES))
    def test_link_types(self, kind: str) -> None:
        """Ethernet, 802.1Q, SLL, SLL2, BSD NULL and raw IP give the same frames."""
        client, server = streams()
        packets = ip_packets(conversation(client, server, 7))
        data = pcap_file([frame(kind, p) for p in packets], LINKTYPES[kind])
        events, decoder, others = decode(data)
        assert frames_by_direction(events) == reference()
        assert messages(events) == [b"fragmented"]
        assert others == []
        assert [c.kind for c in decoder.connections] == ["websocket"]

    def test_ipv6(self) -> None:
        """IPv6 addresses in brackets, frames as over IPv4."""
        client, server = streams()
        segments = conversation(client, server)
        packets = ip_packets(segments, ("::1", 50000), ("::1", 8765))
        events, decoder, _ = decode(pcap_file([frame("sll2", p) for p in packets], 276))
        assert list(frames_by_direction(events)) == ["[::1]:50000", "[::1]:8765"]
        assert decoder.connections[0].client_address == "[::1]:50000"

    @pytest.mark.parametrize("big", [False, True], ids=["little", "big"])
    def test_pcapng_interfaces_and_comments(self, big: bool) -> None:
        """Packets of two interfaces with their own link types; comments are kept."""
        client, server = streams()
        packets = ip_packets(conversation(client, server))
        rows = [
            (n % 2, frame("sll2" if n % 2 else "ethernet", p), "look here" if n == 4 else None)
            for n, p in enumerate(packets)
        ]
        data = pcapng_file(rows, [1, 276], big=big, comment="made by the tests")
        events, _, others = decode(data)
        assert frames_by_direction(events) == reference()
        texts = [r.text for r in others if isinstance(r, CaptureComment)]
        assert texts[0] == "section comment: made by the tests"
        assert texts[1:] == ["interface 0 if0: Ethernet", "interface 1 if1: Linux cooked v2"]
        assert "packet 5 comment: look here" in [e.note for e in events]

    def test_pcapng_timestamps(self) -> None:
        """if_tsresol: the first interface counts nanoseconds, the second microseconds."""
        data = pcapng_file([(0, b"\0" * 20, None), (1, b"\0" * 20, None)], [101, 101])
        records = [
            r for r in read_capture(ByteSource(io.BytesIO(data))) if isinstance(r, CapturePacket)
        ]
        assert [r.time for r in records] == [1_700_000_000 * 10**9, 1_700_000_000 * 10**9 + 10**6]

    def test_magic(self) -> None:
        """Only the pcap and pcapng magic numbers, in either byte order."""
        for magic in ("a1b2c3d4", "d4c3b2a1", "a1b23c4d", "4d3cb2a1", "0a0d0d0a"):
            assert is_capture_magic(bytes.fromhex(magic))
        assert not is_capture_magic(b"\x81\x05He")
        assert not is_capture_magic(b"")


class TestBadFiles:
    """Cut and broken files: what was read is decoded, the rest is said in one line."""

    def test_truncated_record(self) -> None:
        """A file cut inside a packet: the packets before it, then a CaptureTruncated."""
        client, server = streams()
        packets = ip_packets(conversation(client, server))
        data = pcap_file([frame("ethernet", p) for p in packets], 1)
        events, _, others = decode(data[:-7])
        size = len(frame("ethernet", packets[-1]))
        text = f"packet {len(packets)}: the file ends after {size - 7} of its {size} bytes"
        assert others == [CaptureTruncated(text)]
        assert frames_by_direction(events) == reference()

    def test_cut_header(self) -> None:
        """A file header cut short is unreadable."""
        with pytest.raises(DumpError, match="cut short"):
            list(read_capture(ByteSource(io.BytesIO(pcap_file([], 1)[:10]))))

    def test_bad_version(self) -> None:
        """A pcap file of another major version is refused."""
        data = struct.pack("<IHHiIII", 0xA1B2C3D4, 9, 4, 0, 0, 262144, 1)
        with pytest.raises(DumpError, match=r"unknown pcap version 9\.4"):
            list(read_capture(ByteSource(io.BytesIO(data))))

    def test_garbage_packets(self) -> None:
        """Frames that hold no TCP are counted as skipped, never decoded."""
        data = pcap_file([b"\xff" * 60, b"garbage", b""], 1)
        events, decoder, others = decode(data)
        assert events == [] and others == []
        assert sum(decoder.skipped.values()) == 3

    @settings(max_examples=60, deadline=None)
    @given(st.binary(max_size=300))
    def test_any_bytes_after_a_header(self, tail: bytes) -> None:
        """Whatever follows a valid header, reading ends without an exception."""
        decode(pcap_file([], 1) + tail)
        decode(pcapng_file([], [1]) + tail)


class TestFragments:
    """IP fragments are put back together before TCP is read (RFC 791 §3.2)."""

    def fragments(self, packet: bytes, size: int) -> list[bytes]:
        header, payload = packet[:20], packet[20:]
        parts = []
        for start in range(0, len(payload), size):
            more = 0x2000 if start + size < len(payload) else 0
            chunk = payload[start : start + size]
            head = bytearray(header)
            struct.pack_into("!HHH", head, 2, 20 + len(chunk), 0x77, more | (start // 8))
            head[10:12] = b"\0\0"
            from capture.dumps import checksum

            struct.pack_into("!H", head, 10, checksum(bytes(head)))
            parts.append(bytes(head) + chunk)
        return parts

    @pytest.mark.parametrize("reverse", [False, True], ids=["in-order", "reversed"])
    def test_reassembled(self, reverse: bool) -> None:
        """A segment split into 3 fragments, in order or not, is read whole."""
        client, server = streams()
        packets = ip_packets(conversation(client, server))
        index = next(i for i, p in enumerate(packets) if len(p) > 300)
        parts = self.fragments(packets[index], 96)
        assert len(parts) > 2
        packets[index : index + 1] = parts[::-1] if reverse else parts
        events, _, _ = decode(pcap_file([frame("ethernet", p) for p in packets], 1))
        assert frames_by_direction(events) == reference()

    def test_missing_fragment(self) -> None:
        """A datagram missing a fragment is reported when the capture ends."""
        segment = tcp_segment("127.0.0.1", "127.0.0.1", (1, 2), 5, 0, "P.", b"x" * 200)
        parts = self.fragments(ip_packet("127.0.0.1", "127.0.0.1", segment), 96)
        events, _, _ = decode(pcap_file([frame("raw", p) for p in parts[:-1]], 101))
        assert [e.note for e in events] == ["IP fragments of 192 bytes never completed"]

    def test_ipv6_fragments(self) -> None:
        """IPv6 fragments (RFC 8200 §4.5), last first: the segment read whole."""
        client, server = streams()
        packets = ip_packets(conversation(client, server), ("::1", 50000), ("::1", 8765))
        index = next(i for i, p in enumerate(packets) if len(p) > 300)
        packet = packets[index]
        header, payload = packet[:40], packet[40:]
        parts = []
        for start in range(0, len(payload), 104):
            chunk = payload[start : start + 104]
            more = 1 if start + 104 < len(payload) else 0
            fragment = struct.pack(
                "!BBHI", 6, 0, start | more, 0x1234
            )  # offset in 8-byte units << 3
            head = bytearray(header)
            head[6] = 44
            struct.pack_into("!H", head, 4, len(fragment) + len(chunk))
            parts.append(bytes(head) + fragment + chunk)
        whole, _, _ = decode(pcap_file([frame("raw", p) for p in packets], 101))
        packets[index : index + 1] = parts[::-1]
        events, _, _ = decode(pcap_file([frame("raw", p) for p in packets], 101))
        assert frames_by_direction(events) == frames_by_direction(whole)
        assert [len(v) for v in frames_by_direction(events).values()] == [6, 4]
