"""Tests of :mod:`wstool.capture.tcp`: tcpdump captures, reassembled by direction."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from capture.dumps import (
    RESPONSE,
    SAMPLES,
    SERVER_FRAMES,
    exchange_packets,
    expected_streams,
    ip_packet,
    link,
    pcap,
    render_capture_line_broken,
    render_tcpdump,
    render_tcpdump_capture,
    tcp_segment,
)
from wstool.capture import (
    DumpError,
    Segment,
    read_dump,
)


class TestTcpdump:
    """tcpdump output is packets: headers are parsed and stripped, payloads kept once."""

    @pytest.mark.parametrize("kind", ["raw", "ethernet", "sll", "sll2"])
    @pytest.mark.parametrize("ascii_column", [True, False])
    def test_link_layers(self, kind: str, ascii_column: bool) -> None:
        """The link layer is told from the bytes, whichever flags produced the dump."""
        dump = read_dump(render_tcpdump_capture(kind, ascii_column))
        assert dump.streams() == expected_streams("127.0.0.1", "127.0.0.1")
        letter = "X" if ascii_column else "x"
        assert dump.format == f"tcpdump -{letter if kind == 'raw' else letter * 2}"

    def test_ipv6(self) -> None:
        """IPv6 endpoints are written [address]:port."""
        dump = read_dump(render_tcpdump_capture("sll", False, "::1", "::1"))
        assert dump.streams() == expected_streams("::1", "::1")

    def test_retransmission_dropped(self) -> None:
        """A segment whose sequence numbers were already seen is dropped, with a note."""
        text = render_tcpdump_capture("raw", True)
        dump = read_dump(text)
        server = [s.data for s in dump.segments if s.source == "127.0.0.1:8080"]
        assert server == [RESPONSE, *SERVER_FRAMES]
        headers = [n for n, line in enumerate(text.splitlines(), 1) if not line.startswith("\t")]
        line = headers[9] + 1  # the first hex line of the tenth packet
        assert dump.notes == (f"line {line}: retransmission of 7 bytes dropped",)

    def test_partial_retransmission(self) -> None:
        """A segment that overlaps what was seen keeps only its new bytes."""
        first = ip_packet(
            "10.0.0.1",
            "10.0.0.2",
            tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 1000, 1, "P.", b"abcd"),
        )
        again = ip_packet(
            "10.0.0.1",
            "10.0.0.2",
            tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 1002, 1, "P.", b"cdefg"),
        )
        text = f"{render_tcpdump(first, False)}\n{render_tcpdump(again, False)}\n"
        dump = read_dump(text)
        assert dump.data == b"abcdefg"
        assert dump.segments[1] == Segment(b"efg", "10.0.0.1:80", "10.0.0.2:9000")

    def test_sequence_wraps(self) -> None:
        """Sequence numbers wrap at 2**32 without looking like retransmissions."""
        packets = [
            ip_packet(
                "10.0.0.1",
                "10.0.0.2",
                tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), seq, 1, "P.", data),
            )
            for seq, data in ((2**32 - 3, b"abc"), (0, b"def"), (2**32 - 3, b"abc"))
        ]
        dump = read_dump("".join(render_tcpdump(p, True) + "\n" for p in packets))
        assert dump.data == b"abcdef"
        assert len(dump.notes) == 1

    def test_headers_not_in_data(self) -> None:
        """No byte of the link, IP or TCP headers reaches the data."""
        dump = read_dump((SAMPLES / "websocket.tcpdump-xx-any.txt").read_text())
        assert dump.data.startswith(b"GET /chat")
        assert b"\x45\x00" not in dump.data
        assert all(s.source and s.destination for s in dump.segments)

    def test_other_packets_skipped(self) -> None:
        """Non-TCP packets in the capture are skipped with a note, not fatal."""
        udp = ip_packet(
            "10.0.0.1", "10.0.0.2", b"\x00\x35\x00\x35\x00\x0c\x00\x00data", protocol=17
        )
        tcp = ip_packet(
            "10.0.0.1",
            "10.0.0.2",
            tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 7, 1, "P.", b"\x81\x00"),
        )
        text = (
            f"12:00:00.000001 IP udp\n{render_tcpdump(udp, True)}\n"
            f"12:00:00.000002 IP tcp\n{render_tcpdump(tcp, True)}\n"
        )
        dump = read_dump(text)
        assert dump.data == b"\x81\x00"
        assert dump.notes == ("line 2: packet skipped: not TCP (IP protocol 17)",)

    def test_truncated_packet(self) -> None:
        """A packet cut by the snap length is an error naming its line, not silent loss."""
        packet = ip_packet(
            "10.0.0.1",
            "10.0.0.2",
            tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 7, 1, "P.", b"x" * 100),
        )
        with pytest.raises(
            DumpError, match=r"^line 2: packet cut short: IP length 152, 96 bytes captured"
        ):
            read_dump("12:00:00.000001 IP a > b\n" + render_tcpdump(packet[:96], True))

    def test_only_acks(self) -> None:
        """A capture of pure ACKs has no data, which is an error."""
        ack = ip_packet(
            "10.0.0.1", "10.0.0.2", tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 7, 1, ".", b"")
        )
        with pytest.raises(DumpError, match="headers only"):
            read_dump(render_tcpdump(ack, False))

    def test_garbled_hex_line(self) -> None:
        """A broken hex line is reported, not taken for a packet header."""
        text = render_capture_line_broken()
        with pytest.raises(DumpError, match=r"^line 3: 'zz01' is not hex$"):
            read_dump(text)


class TestRealTcpdump:
    """tcpdump itself, reading a capture written here (no privileges needed)."""

    @pytest.mark.parametrize(
        ("kind", "linktype", "flag", "name"),
        [
            ("ethernet", 1, "-X", "tcpdump -X"),
            ("ethernet", 1, "-x", "tcpdump -x"),
            ("ethernet", 1, "-XX", "tcpdump -XX"),
            ("ethernet", 1, "-xx", "tcpdump -xx"),
            ("sll", 113, "-xx", "tcpdump -xx"),
            ("sll2", 276, "-XX", "tcpdump -XX"),
            ("raw", 101, "-X", "tcpdump -X"),
        ],
    )
    def test_capture(self, tmp_path: Path, kind: str, linktype: int, flag: str, name: str) -> None:
        """Whatever the link layer and flags, the streams come out whole and headerless."""
        if shutil.which("tcpdump") is None:
            pytest.skip("tcpdump is not installed")
        frames = [
            link(kind, packet, from_client)
            for from_client, _, packet, _, _ in exchange_packets("127.0.0.1", "127.0.0.1")
        ]
        path = tmp_path / "capture.pcap"
        path.write_bytes(pcap(frames, linktype))
        result = subprocess.run(
            ["tcpdump", "-nn", "-r", str(path), flag], capture_output=True, text=True
        )
        if result.returncode:
            pytest.skip(f"this tcpdump cannot read link type {linktype}: {result.stderr.strip()}")
        dump = read_dump(result.stdout)
        assert dump.format == name
        assert dump.streams() == expected_streams("127.0.0.1", "127.0.0.1")


class TestWithoutPacketHeaders:
    """tcpdump lines that hold only the WebSocket bytes are read as the stream itself.

    The samples are real tcpdump 4.99.3 output: the client's frames of the plain connection in
    ``two-connections.tcpdump-X.txt``, each written as one packet of a raw-IP pcap file (so no
    IP header is in front) and printed with ``tcpdump -nn -r FILE -X`` and ``-x``.
    """

    def client_frames(self) -> bytes:
        """The plain connection's client frames, read from the capture with headers."""
        dump = read_dump((SAMPLES / "two-connections.tcpdump-X.txt").read_text())
        client, _, data = dump.streams()[0]
        assert client.endswith(":35908")
        return data[data.index(b"\r\n\r\n") + 4 :]

    @pytest.mark.parametrize("flag", ["X", "x"])
    def test_real_output(self, flag: str) -> None:
        """Every byte of every block is kept, in order, as one stream, and the name says so."""
        dump = read_dump((SAMPLES / f"websocket-payload.tcpdump-{flag}.txt").read_text())
        assert (
            dump.format == f"tcpdump -{flag} lines without packet headers (the bytes as one stream)"
        )
        assert dump.data == self.client_frames()
        assert dump.streams() == [(None, None, self.client_frames())]
        assert dump.notes == ()

    def test_hex_lines_alone(self) -> None:
        """The hex lines pasted without tcpdump's header lines read the same."""
        text = (SAMPLES / "websocket-payload.tcpdump-X.txt").read_text()
        lines = [line for line in text.splitlines() if line.lstrip().startswith("0x")]
        assert read_dump("\n".join(lines)).data == self.client_frames()

    def test_packets_win_when_one_block_is_a_packet(self) -> None:
        """A dump with any IP packet is read as packets; other blocks are skipped with a note."""
        packet = ip_packet(
            "10.0.0.1",
            "10.0.0.2",
            tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 7, 1, "P.", b"\x81\x00"),
        )
        text = render_tcpdump(b"\x81\x02hi", True) + "\nIP x > y\n" + render_tcpdump(packet, True)
        dump = read_dump(text)
        assert dump.segments == (Segment(b"\x81\x00", "10.0.0.1:80", "10.0.0.2:9000"),)
        assert dump.notes == ("line 1: packet skipped: no IPv4 or IPv6 header found",)


class TestTwoConnections:
    """A real capture of two connections on 127.0.0.1 (websockets 17.4 client and server).

    ``two-connections.tcpdump-X.txt``: ``tcpdump -i lo -s 0 -w`` of a plain connection, then a
    permessage-deflate one, printed with ``tcpdump -nn -r FILE -X``.
    """

    def test_streams_by_connection_and_direction(self) -> None:
        """Four streams, one per connection and direction, each starting with its HTTP head."""
        dump = read_dump((SAMPLES / "two-connections.tcpdump-X.txt").read_text())
        assert dump.format == "tcpdump -X"
        streams = dump.streams()
        assert [(source, destination) for source, destination, _ in streams] == [
            ("127.0.0.1:35908", "127.0.0.1:47391"),
            ("127.0.0.1:47391", "127.0.0.1:35908"),
            ("127.0.0.1:38780", "127.0.0.1:47391"),
            ("127.0.0.1:47391", "127.0.0.1:38780"),
        ]
        assert [data.split(b"\r\n", 1)[0] for _, _, data in streams] == [
            b"GET /plain HTTP/1.1",
            b"HTTP/1.1 101 Switching Protocols",
            b"GET /deflate HTTP/1.1",
            b"HTTP/1.1 101 Switching Protocols",
        ]
