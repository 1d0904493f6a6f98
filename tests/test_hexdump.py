"""Tests for wstool.hexdump: text dumps of traffic back into bytes."""

from __future__ import annotations

import base64
import contextlib
import ipaddress
import re
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from wstool.hexdump import (
    Dump,
    DumpError,
    Segment,
    detect_format,
    read_base64,
    read_dump,
    read_raw,
)

SAMPLES = Path(__file__).parent / "samples" / "dumps"

# Bytes that trip naive readers: an ASCII column that looks like hex or holds the column
# delimiters, lines repeated so that hexdump and od print "*", lengths off the 16-byte grid.
TRAPS = {
    "hex-looking text": b"cafe 1234 abcd ef 0123 4567 89ab cdef dead beef",
    "delimiters": b"|00 11| >22 33< 0x44: 55  66   77 *\n*\n",
    "repeats": b"\x00" * 64 + b"A" * 48 + b"\x00" * 17,
    "repeats at the end": b"xyz" + b"\x81" * 80,
    "every byte": bytes(range(256)),
    "one byte": b"a",
    "spaces": b" " * 20,
    "frame": b"\x81\x05Hello",
}


def tool(*command: str) -> Callable[[bytes], str]:
    """Run a dump tool on stdin, skipping the test when the tool is not installed."""
    if shutil.which(command[0]) is None:
        pytest.skip(f"{command[0]} is not installed")

    def run(data: bytes) -> str:
        return subprocess.run(command, input=data, capture_output=True, check=True).stdout.decode()

    return run


# --- Renderings written here, for property tests ---------------------------------------------


def render_xxd(data: bytes, columns: int = 16, group: int = 2) -> str:
    """Render like ``xxd -c columns -g group``."""
    lines = []
    width = columns * 2 + (columns - 1) // group
    for offset in range(0, len(data), columns):
        row = data[offset : offset + columns]
        groups = [row[i : i + group].hex() for i in range(0, len(row), group)]
        text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
        lines.append(f"{offset:08x}: {' '.join(groups):<{width}}  {text}\n")
    return "".join(lines)


def render_escapes(data: bytes) -> str:
    """Render as Python's repr does, without the b'' around it."""
    return repr(data)[2:-1]


def render_plain(data: bytes, spacing: list[int]) -> str:
    """Plain hex, breaking after byte i with spacing[i % len]: 0 nothing, 1 space, 2 newline."""
    out = []
    for i, byte in enumerate(data):
        out.append(f"{byte:02x}" if i % 3 else f"{byte:02X}")
        out.append(("", " ", "\n")[spacing[i % len(spacing)]])
    return "".join(out)


# --- Packets built here, independently of the module -----------------------------------------


def checksum(data: bytes) -> int:
    """RFC 1071 Internet checksum."""
    if len(data) % 2:
        data += b"\0"
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


TCP_FLAGS = {"S": 0x02, "S.": 0x12, ".": 0x10, "P.": 0x18, "F.": 0x11}


def tcp_segment(
    src: str, dst: str, ports: tuple[int, int], seq: int, ack: int, flags: str, payload: bytes
) -> bytes:
    """A TCP header (with timestamps, as Linux sends) and payload, checksummed."""
    options = b"\x01\x01\x08\x0a" + struct.pack("!II", 3000 + seq % 1000, 3000)
    if flags == "S" or flags == "S.":
        options = (
            b"\x02\x04\xff\xd7\x04\x02\x08\x0a" + struct.pack("!II", 3000, 0) + b"\x01\x03\x03\x07"
        )
    offset = (20 + len(options)) // 4
    header = struct.pack("!HHIIBBHHH", *ports, seq, ack, offset << 4, TCP_FLAGS[flags], 512, 0, 0)
    segment = header + options + payload
    source, destination = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if source.version == 4:
        pseudo = source.packed + destination.packed + struct.pack("!BBH", 0, 6, len(segment))
    else:
        pseudo = source.packed + destination.packed + struct.pack("!IxxxB", len(segment), 6)
    value = checksum(pseudo + segment)
    return segment[:16] + struct.pack("!H", value) + segment[18:]


def ip_packet(src: str, dst: str, segment: bytes, ident: int = 0, protocol: int = 6) -> bytes:
    """An IPv4 or IPv6 header (checksummed for IPv4) around ``segment``."""
    source, destination = ipaddress.ip_address(src), ipaddress.ip_address(dst)
    if source.version == 6:
        return (
            struct.pack("!IHBB", 6 << 28, len(segment), protocol, 64)
            + source.packed
            + destination.packed
            + segment
        )
    header = struct.pack("!BBHHHBBH", 0x45, 0, 20 + len(segment), ident, 0x4000, 64, protocol, 0)
    header += source.packed + destination.packed
    return header[:10] + struct.pack("!H", checksum(header)) + header[12:] + segment


def link(kind: str, packet: bytes, outgoing: bool = False) -> bytes:
    """Wrap an IP packet in a link-layer header: raw, ethernet, sll or sll2."""
    ethertype = b"\x86\xdd" if packet[0] >> 4 == 6 else b"\x08\x00"
    mac = bytes.fromhex("02420a000005") if outgoing else bytes.fromhex("02420a000001")
    if kind == "ethernet":
        other = bytes.fromhex("02420a000001") if outgoing else bytes.fromhex("02420a000005")
        return other + mac + ethertype + packet
    if kind == "sll":
        return struct.pack("!HHH", 4 if outgoing else 0, 1, 6) + mac + b"\0\0" + ethertype + packet
    if kind == "sll2":
        return (
            ethertype
            + b"\0\0"
            + struct.pack("!IHBB", 2, 1, 4 if outgoing else 0, 6)
            + mac
            + b"\0\0"
            + packet
        )
    return packet


def render_tcpdump(frame: bytes, ascii_column: bool) -> str:
    """Render like tcpdump -x / -X (print-ascii.c): 16 bytes a line, in 2-byte groups."""
    lines = []
    for offset in range(0, len(frame), 16):
        row = frame[offset : offset + 16]
        hexes = "".join(f" {row[i : i + 2].hex()}" for i in range(0, len(row), 2))
        line = f"\t0x{offset:04x}: "
        if ascii_column:
            text = "".join(chr(b) if 0x21 <= b < 0x7F else "." for b in row)
            line += f"{hexes:<40}  {text}"
        else:
            line += hexes
        lines.append(line)
    return "\n".join(lines)


def render_wireshark(frame: bytes, ascii_column: bool) -> str:
    """Render like Wireshark's "Copy Bytes as Hex + ASCII Dump" / "...as Hex Dump"."""
    lines = []
    for offset in range(0, len(frame), 16):
        row = frame[offset : offset + 16]
        line = f"{offset:04x}  " + "".join(f" {b:02x}" for b in row)
        if ascii_column:
            text = "".join(chr(b) if 0x20 <= b < 0x7F else "." for b in row)
            line += "   " + "   " * (16 - len(row)) + text
        lines.append(line + "\n")
    return "".join(lines)


def mask(payload: bytes, key: bytes) -> bytes:
    return bytes(b ^ key[i % 4] for i, b in enumerate(payload))


def ws_frame(opcode: int, payload: bytes, key: bytes | None = None) -> bytes:
    """A small final WebSocket frame (RFC 6455 §5.2), masked when ``key`` is given."""
    if key is None:
        return bytes([0x80 | opcode, len(payload)]) + payload
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + key + mask(payload, key)


REQUEST = (
    b"GET /chat HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)
RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)
CLIENT_FRAMES = [
    ws_frame(0x1, b"Hello", b"\x37\xfa\x21\x3d"),  # RFC 6455 §5.7
    ws_frame(0x9, b"cafe 1234", b"\x01\x02\x03\x04"),
    ws_frame(0x8, b"\x03\xe8bye", b"\xa1\xb2\xc3\xd4"),
]
SERVER_FRAMES = [ws_frame(0x1, b"Hello"), ws_frame(0xA, b"cafe 1234"), ws_frame(0x8, b"\x03\xe8")]

# (from the client?, flags, payload, retransmission?) for one connection
EXCHANGE = [
    (True, "S", b"", False),
    (False, "S.", b"", False),
    (True, ".", b"", False),
    (True, "P.", REQUEST, False),
    (False, ".", b"", False),
    (False, "P.", RESPONSE, False),
    (True, ".", b"", False),
    (True, "P.", CLIENT_FRAMES[0], False),
    (False, "P.", SERVER_FRAMES[0], False),
    (False, "P.", SERVER_FRAMES[0], True),  # the ACK was lost: the same bytes again
    (True, "P.", CLIENT_FRAMES[1], False),
    (False, "P.", SERVER_FRAMES[1], False),
    (True, "P.", CLIENT_FRAMES[2], False),
    (False, "P.", SERVER_FRAMES[2], False),
    (True, "F.", b"", False),
    (False, "F.", b"", False),
    (True, ".", b"", False),
]


def exchange_packets(client: str, server: str) -> list[tuple[bool, str, bytes, int, int]]:
    """IP packets of EXCHANGE: (from client, flags, packet, relative seq, relative ack)."""
    isn = {True: 3141592653, False: 2718281828}
    sent = {True: 0, False: 0}  # bytes sent so far, after the SYN
    packets = []
    for ident, (from_client, flags, payload, again) in enumerate(EXCHANGE):
        src, dst = (client, server) if from_client else (server, client)
        ports = (54321, 8080) if from_client else (8080, 54321)
        if again:
            sent[from_client] -= len(payload)
        synced = 0 if flags.startswith("S") else 1
        seq = (isn[from_client] + synced + sent[from_client]) % 2**32
        ack = 0 if flags == "S" else (isn[not from_client] + 1 + sent[not from_client]) % 2**32
        segment = tcp_segment(src, dst, ports, seq, ack, flags, payload)
        packets.append(
            (
                from_client,
                flags,
                ip_packet(src, dst, segment, 0x1C46 + ident),
                sent[from_client],
                sent[not from_client],
            )
        )
        sent[from_client] += len(payload) + (1 if flags == "F." else 0)
    return packets


def render_tcpdump_capture(
    kind: str,
    ascii_column: bool,
    client: str = "127.0.0.1",
    server: str = "127.0.0.1",
    interface: str = "",
) -> str:
    """A tcpdump text capture of EXCHANGE, header lines as tcpdump 4.99 prints them."""
    out = []
    for number, (from_client, flags, packet, seq, ack) in enumerate(
        exchange_packets(client, server)
    ):
        src, dst = (client, server) if from_client else (server, client)
        ports = (54321, 8080) if from_client else (8080, 54321)
        length = (
            len(packet)
            - (40 if ":" in client else 20)
            - (packet[(40 if ":" in client else 20) + 12] >> 4) * 4
        )
        family = "IP6" if ":" in client else "IP"
        where = f"{interface}  {'Out' if from_client else 'In '} " if interface else ""
        fields = [f"Flags [{flags}]"]
        if flags.startswith("S"):
            fields.append(f"seq {3141592653 if from_client else 2718281828}")
        elif length:
            fields.append(f"seq {seq + 1}:{seq + 1 + length}")
        elif flags == "F.":
            fields.append(f"seq {seq + 1}")
        if flags != "S":
            fields.append(f"ack {ack + 1}")
        fields.append("win 512")
        if flags.startswith("S"):
            fields.append("options [mss 65495,sackOK,TS val 3000 ecr 0,nop,wscale 7]")
        else:
            fields.append(f"options [nop,nop,TS val {3000 + number} ecr 3000]")
        fields.append(f"length {length}")
        stamp = f"17:01:02.{123456 + number * 211:06d}"
        route = f"{src}.{ports[0]} > {dst}.{ports[1]}"
        out.append(f"{stamp} {where}{family} {route}: {', '.join(fields)}")
        out.append(render_tcpdump(link(kind, packet, from_client), ascii_column))
    return "\n".join(out) + "\n"


def expected_streams(client: str, server: str) -> list[tuple[str, str, bytes]]:
    def endpoint(host: str, port: int) -> str:
        return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"

    return [
        (endpoint(client, 54321), endpoint(server, 8080), REQUEST + b"".join(CLIENT_FRAMES)),
        (endpoint(server, 8080), endpoint(client, 54321), RESPONSE + b"".join(SERVER_FRAMES)),
    ]


# --- The tools' own output ---------------------------------------------------------------------

TOOL_COMMANDS = [
    ("xxd",),
    ("xxd", "-g1"),
    ("xxd", "-c", "8", "-u"),
    ("xxd", "-c", "32", "-g", "4"),
    ("xxd", "-c", "7", "-g", "3"),
    ("xxd", "-a"),
    ("xxd", "-d"),
    ("xxd", "-p"),
    ("xxd", "-i"),
    ("hexdump", "-C"),
    ("od", "-A", "x", "-t", "x1z"),
    ("od", "-A", "d", "-t", "x1z"),
    ("od", "-t", "x1"),
    ("od", "-A", "x", "-t", "x1", "-w8"),
    ("od", "-A", "x", "-t", "x1z", "-v"),
]


class TestRealTools:
    """Output of xxd, hexdump -C and od, made here, reads back to exactly the input."""

    @pytest.mark.parametrize("command", TOOL_COMMANDS, ids=" ".join)
    @pytest.mark.parametrize("name", list(TRAPS))
    def test_round_trip(self, command: tuple[str, ...], name: str) -> None:
        """Offsets, ASCII columns and '*' lines are layout, never data."""
        dump = tool(*command)(TRAPS[name])
        assert read_dump(dump).data == TRAPS[name]

    @pytest.mark.parametrize(
        ("command", "name"),
        [
            (("xxd",), "xxd"),
            (("xxd", "-d"), "xxd -d"),
            (("hexdump", "-C"), "hexdump -C"),
            (("od", "-A", "x", "-t", "x1z"), "od -A x -t x1z"),
            (("od", "-A", "d", "-t", "x1z"), "od -A d -t x1z"),
            (("od", "-t", "x1"), "od -t x1"),
            (("xxd", "-p"), "plain hex"),
            (("xxd", "-i"), "0x list"),
        ],
    )
    def test_format_name(self, command: tuple[str, ...], name: str) -> None:
        """The detected format names the tool and the flags that matter."""
        dump = tool(*command)(TRAPS["every byte"])
        assert detect_format(dump) == name
        assert read_dump(dump).format == name

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.binary(min_size=1, max_size=200), which=st.sampled_from(TOOL_COMMANDS[:13]))
    def test_arbitrary_bytes(self, data: bytes, which: tuple[str, ...]) -> None:
        """Any bytes, dumped by a real tool, read back to the same bytes."""
        assert read_dump(tool(*which)(data)).data == data

    @pytest.mark.parametrize("command", [("xxd", "-e"), ("xxd", "-b"), ("hexdump",), ("od", "-x")])
    def test_ambiguous_variants_are_refused(self, command: tuple[str, ...]) -> None:
        """Dumps whose byte order or base we would misread are refused, not guessed."""
        with pytest.raises(DumpError, match=r"not supported|byte order"):
            read_dump(tool(*command)(TRAPS["hex-looking text"]))

    @pytest.mark.parametrize("command", [("xxd",), ("hexdump", "-C")])
    def test_empty_file(self, command: tuple[str, ...]) -> None:
        """A dump of nothing is an error, not an empty message.

        (od prints "000000" for nothing, which is also plain hex for three zero bytes.)
        """
        with pytest.raises(DumpError):
            read_dump(tool(*command)(b""))


class TestSamples:
    """Static samples made once with the real tools, so these tests need none of them."""

    @pytest.mark.parametrize(
        ("file", "name"),
        [
            ("traps.xxd.txt", "xxd"),
            ("traps.xxd-g1-c8-u.txt", "xxd"),
            ("traps.xxd-a.txt", "xxd"),
            ("traps.hexdump-C.txt", "hexdump -C"),
            ("traps.od-Ax-tx1z.txt", "od -A x -t x1z"),
            ("traps.od-Ad-tx1z.txt", "od -A d -t x1z"),
            ("traps.od-tx1.txt", "od -t x1"),
        ],
    )
    def test_tool_output(self, file: str, name: str) -> None:
        """Each sample reads back to traps.bin and names its format."""
        dump = read_dump((SAMPLES / file).read_text())
        assert dump.format == name
        assert dump.data == (SAMPLES / "traps.bin").read_bytes()
        assert dump.streams() == [(None, None, dump.data)]

    @pytest.mark.parametrize(
        ("file", "name", "client", "server"),
        [
            ("websocket.tcpdump-X.txt", "tcpdump -X", "127.0.0.1", "127.0.0.1"),
            ("websocket.tcpdump-xx-any.txt", "tcpdump -xx", "10.0.0.5", "10.0.0.1"),
            ("websocket.tcpdump-XX-ipv6.txt", "tcpdump -XX", "2001:db8::5", "2001:db8::1"),
        ],
    )
    def test_tcpdump(self, file: str, name: str, client: str, server: str) -> None:
        """Two directions become two streams with their endpoints and no header bytes."""
        dump = read_dump((SAMPLES / file).read_text())
        assert dump.format == name
        assert dump.streams() == expected_streams(client, server)
        assert len(dump.notes) == 1
        assert re.fullmatch(r"line \d+: retransmission of 7 bytes dropped", dump.notes[0])

    @pytest.mark.parametrize(
        "file",
        [
            "websocket.tcpdump-X.txt",
            "websocket.tcpdump-xx-any.txt",
            "websocket.tcpdump-XX-ipv6.txt",
        ],
    )
    def test_tcpdump_samples_are_faithful(self, file: str) -> None:
        """The hand-made samples carry valid IPv4 and TCP checksums, as a capture would."""
        text = (SAMPLES / file).read_text()
        frames = [
            bytes.fromhex(
                "".join(re.findall(r"^\t0x[0-9a-f]{4}: ((?: [0-9a-f]{2,4})+)", block, re.M))
            )
            for block in re.split(r"\n(?=\S)", text)
            if "\t0x0000:" in block
        ]
        assert len(frames) == len(EXCHANGE)
        for frame in frames:
            start = {0x45: 0, 0x60: 0}.get(
                frame[0], 14 if frame[12:14] in (b"\x08\x00", b"\x86\xdd") else 20
            )
            packet = frame[start:]
            if packet[0] >> 4 == 4:
                assert checksum(packet[:20]) == 0
                pseudo = packet[12:20] + struct.pack("!BBH", 0, 6, len(packet) - 20)
                assert checksum(pseudo + packet[20:]) == 0
            else:
                pseudo = packet[8:40] + struct.pack("!IxxxB", len(packet) - 40, 6)
                assert checksum(pseudo + packet[40:]) == 0

    def test_wireshark_frame(self) -> None:
        """A Wireshark dump of a whole Ethernet frame gives the TCP payload and endpoints."""
        dump = read_dump((SAMPLES / "websocket.wireshark-hex-ascii.txt").read_text())
        assert dump.format == "Wireshark hex + ASCII dump"
        assert dump.segments == (
            Segment(SERVER_FRAMES[0] + SERVER_FRAMES[1], "127.0.0.1:8080", "127.0.0.1:54321"),
        )

    def test_wireshark_payload(self) -> None:
        """A Wireshark dump of just the WebSocket bytes is taken as it is."""
        dump = read_dump((SAMPLES / "websocket.wireshark-hex.txt").read_text())
        assert dump.format == "Wireshark hex dump"
        assert dump.data == REQUEST[:40] + CLIENT_FRAMES[0]
        assert dump.streams() == [(None, None, dump.data)]


# --- Formats without a tool here ----------------------------------------------------------------


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


def render_capture_line_broken() -> str:
    packet = ip_packet(
        "10.0.0.1", "10.0.0.2", tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 7, 1, "P.", b"x")
    )
    lines = ("12:00:00.000001 IP a > b\n" + render_tcpdump(packet, True)).splitlines()
    lines[2] = lines[2].replace("7f00 0001", "7f00 zz01", 1).replace(" 0a00 0002", " zz01", 1)
    return "\n".join(lines) + "\n"


class TestWireshark:
    """Wireshark's copies: frames are stripped only when they really are TCP/IP."""

    def frame(self) -> bytes:
        segment = tcp_segment(
            "192.168.1.2", "192.168.1.9", (443, 50000), 99, 1, "P.", b"\x82\x03abc"
        )
        return bytes.fromhex("0242c0a80109 0242c0a80102 0800") + ip_packet(
            "192.168.1.2", "192.168.1.9", segment
        )

    @pytest.mark.parametrize("ascii_column", [True, False])
    def test_whole_frame(self, ascii_column: bool) -> None:
        """A valid Ethernet/IPv4/TCP frame gives its payload and endpoints."""
        dump = read_dump(render_wireshark(self.frame(), ascii_column))
        assert dump.segments == (Segment(b"\x82\x03abc", "192.168.1.2:443", "192.168.1.9:50000"),)

    def test_bad_checksum_kept_as_is(self) -> None:
        """Bytes that only look like a frame (IP checksum wrong) are not stripped."""
        frame = bytearray(self.frame())
        frame[14 + 10] ^= 0xFF
        dump = read_dump(render_wireshark(bytes(frame), True))
        assert dump.data == bytes(frame)
        assert dump.segments[0].source is None

    def test_length_mismatch_kept_as_is(self) -> None:
        """A frame longer than its IP total length (and not Ethernet padding) is not stripped."""
        frame = self.frame() + b"trailing junk"
        assert read_dump(render_wireshark(frame, False)).data == frame

    def test_ethernet_padding(self) -> None:
        """Ethernet pads short frames to 60 bytes; the padding is not payload."""
        segment = tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 7, 1, "P.", b"")[:20]
        segment = segment[:12] + b"\x50" + segment[13:]
        packet = ip_packet("10.0.0.1", "10.0.0.2", segment + b"\x88\x00")
        frame = bytes(12) + b"\x08\x00" + packet
        frame += bytes(60 - len(frame))
        dump = read_dump(render_wireshark(frame, True))
        assert dump.data == b"\x88\x00"

    def test_two_frames(self) -> None:
        """Several copies pasted together restart at offset 0000: one segment each."""
        text = render_wireshark(self.frame(), True) + "\n" + render_wireshark(self.frame(), True)
        dump = read_dump(text)
        assert dump.data == b"\x82\x03abc"
        assert len(dump.notes) == 1

    def test_older_layout(self) -> None:
        """Older Wireshark versions put an extra space after the eighth byte."""
        text = (
            "0000  81 05 48 65 6c 6c 6f 81  05 48 65 6c 6c 6f 81 05   ..Hello. .Hello..\n"
            "0010  48 65   He\n"
        )
        assert read_dump(text).data == b"\x81\x05Hello" * 2 + b"\x81\x05He"


class TestTextRenderings:
    """Plain hex, escapes, Python literals and 0x lists."""

    @pytest.mark.parametrize(
        ("text", "name", "data"),
        [
            ("81 05 48 65", "plain hex", b"\x81\x05He"),
            ("8105486565", "plain hex", b"\x81\x05Hee"),
            ("8105 4865\n6C6C 6F\n", "plain hex", b"\x81\x05Hello"),
            ("# a comment\n81 05\n  # another\n48 65\n", "plain hex", b"\x81\x05He"),
            ("810548656c6c6\nf", "plain hex", b"\x81\x05Hello"),
            (" 81 05 48\n 65 6c\n", "plain hex", b"\x81\x05Hel"),
            ("\\x81\\x05Hello", "\\x escapes", b"\x81\x05Hello"),
            (
                "\\x81\\x05Hello \\\\ \\n\\r\\t\\'\n\\x00",
                "\\x escapes",
                b"\x81\x05Hello \\ \n\r\t'\x00",
            ),
            ('"\\x81\\x05" "Hel"\n"lo "', "C string", b"\x81\x05Hello "),
            ('"\\201\\005\\"Hi\\"\\a\\v"', "C string", b'\x81\x05"Hi"\a\v'),
            ("'\\x81\\x05Hello'", "\\x escapes", b"\x81\x05Hello"),
            ("b'\\x81\\x05Hello'", "Python bytes literal", b"\x81\x05Hello"),
            ('b"it\'s \\\\ \\t"', "Python bytes literal", b"it's \\ \t"),
            (
                "(b'GET / HTTP/1.1\\r\\n'\n b'Host: x\\r\\n')",
                "Python bytes literal",
                b"GET / HTTP/1.1\r\nHost: x\r\n",
            ),
            ("data = b'\\x81' + b'\\x00'", "Python bytes literal", b"\x81\x00"),
            ("b'\\d\\u00e9'", "Python bytes literal", b"\\d\\u00e9"),
            ("[b'ab', b'cd']", "Python bytes literal", b"abcd"),
            ("0x81, 0x05, 0x48", "0x list", b"\x81\x05H"),
            ("{0x81,0x05}", "0x list", b"\x81\x05"),
            ("0x81 0x05\n0x48", "0x list", b"\x81\x05H"),
            ("[]byte{0x81, 0x5, 0x0}", "0x list", b"\x81\x05\x00"),
            ("unsigned char bytes[] = {0x81, 0x05};", "0x list", b"\x81\x05"),
            ("bytes([0x81, 0x05])", "0x list", b"\x81\x05"),
        ],
    )
    def test_read(self, text: str, name: str, data: bytes) -> None:
        """Each rendering is detected and read back."""
        dump = read_dump(text)
        assert (dump.format, dump.data) == (name, data)
        assert detect_format(text) == name

    def test_crlf(self) -> None:
        """Windows line endings are line endings."""
        assert (
            read_dump(render_xxd(b"cafe 1234" * 5).replace("\n", "\r\n")).data == b"cafe 1234" * 5
        )


class TestErrors:
    """Unreadable input is one DumpError line that says where and what."""

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "empty input: no dump to read"),
            ("  \n\n", "empty input: no dump to read"),
            ("81 05\n48 65\n81 zz\n", "line 3: 'zz' is not hex"),
            ("81 5", "line 1: '5' has an odd number of hex digits"),
            ("81 05 4", "line 1: '4' has an odd number of hex digits"),
            ("SGVsbG8gd29ybGQ=", "line 1: 'SGVsbG8gd29ybGQ=' is not hex (for base64 use --base64)"),
            ("# nothing\n", "no hex data found"),
            (
                "00000000: 6361 6665  cafe\n00000020: 6361  ca\n",
                "line 2: offset 00000020 breaks the sequence",
            ),
            ("00000000: 6361 zz65  ca.e\n", "line 1: 'zz65' is not hex"),
            (
                "00000000  61 61 61 61 61 61 61 61  61 61 61 61 61 61 61 61  |aaaaaaaaaaaaaaaa|\n"
                "*\n",
                "line 2: '*' at the end, with no offset to repeat up to",
            ),
            ("00000000  61 62  |ab|\n00000003\n", "line 2: final offset 00000003 does not match"),
            ("\\x81\\q", "line 1: unknown escape '\\\\q'"),
            ("\\x8", "line 1: unknown escape '\\\\x'"),
            ("b'\\x81' junk", "line 1: 'junk' is junk"),
            ("b'\\x81", 'line 1: "b\'\\\\x81" is an unterminated bytes literal'),
            ("b'caf\u00e9'", "line 1: invalid bytes literal: bytes can only contain ASCII"),
            ("0x81, 0x100", "line 1: 0x100 is not a byte"),
            ("0x81, 12, 0x05", "line 1: '12' is not 0x hex"),
            ("0000000 6163 6566 3120\n0000006\n", "line 1: 16-bit words"),
        ],
    )
    def test_message(self, text: str, message: str) -> None:
        """The message names the line and the fault."""
        with pytest.raises(DumpError) as caught:
            read_dump(text)
        assert str(caught.value).startswith(message)
        assert "\n" not in str(caught.value)

    def test_is_value_error(self) -> None:
        """DumpError is a ValueError, so callers may catch either."""
        assert issubclass(DumpError, ValueError)


class TestBase64AndRaw:
    """--base64 and --raw inputs."""

    def test_base64(self) -> None:
        """Standard base64, wrapped, reads back."""
        data = bytes(range(256))
        text = base64.encodebytes(data).decode()
        assert read_base64(text) == Dump("base64", (Segment(data),))

    def test_base64_variants(self) -> None:
        """URL-safe alphabet and dropped padding are accepted."""
        assert read_base64("-_8").data == b"\xfb\xff"
        assert read_base64("gQVIZWxsbw").data == b"\x81\x05Hello"

    def test_base64_per_line(self) -> None:
        """Lines padded separately are separate messages."""
        dump = read_base64("gQVIZWxsbw==\ngQJIaQ==\n")
        assert [s.data for s in dump.segments] == [b"\x81\x05Hello", b"\x81\x02Hi"]

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("gQVI\nZW!s", "line 2: '!' is not base64"),
            ("", "no base64 data found"),
            ("gQVIZ", "line 1: invalid base64"),
        ],
    )
    def test_base64_errors(self, text: str, message: str) -> None:
        """Bad base64 is a DumpError naming the line."""
        with pytest.raises(DumpError, match=f"^{re.escape(message)}"):
            read_base64(text)

    def test_raw(self) -> None:
        """Raw bytes are taken as they are; nothing is an error."""
        assert read_raw(b"\x81\x05Hello") == Dump("raw", (Segment(b"\x81\x05Hello"),))
        with pytest.raises(DumpError):
            read_raw(b"")


# --- Properties ---------------------------------------------------------------------------------

TEXTS = st.one_of(
    st.text(),
    st.text(alphabet="0123456789abcdefABCDEFx: |*><\n\t\\'\"b{},.#=-_+[]()"),
    st.binary().map(render_xxd),
)


class TestProperties:
    """Round trips for any bytes; DumpError for anything unreadable."""

    @given(data=st.binary(min_size=1), spacing=st.lists(st.integers(0, 2), min_size=1, max_size=5))
    def test_plain_hex(self, data: bytes, spacing: list[int]) -> None:
        """Plain hex in any spacing and case reads back."""
        assert read_dump(render_plain(data, spacing)).data == data

    @given(data=st.binary(min_size=1), columns=st.integers(1, 40), group=st.integers(1, 8))
    @example(data=b"cafe 1234 abcd e" * 3, columns=16, group=2)
    def test_xxd_style(self, data: bytes, columns: int, group: int) -> None:
        """xxd-style dumps of any shape read back, even with hex in the ASCII column."""
        assert read_dump(render_xxd(data, columns, group)).data == data

    @given(data=st.binary(min_size=1, max_size=300))
    def test_fast_and_careful_paths_agree(self, data: bytes) -> None:
        """A blank line sends a dump down the line-by-line path, with the same result."""
        lines = render_xxd(data).splitlines(keepends=True)
        assert read_dump("\n".join(lines)).data == data

    @given(data=st.binary(min_size=1))
    def test_escapes(self, data: bytes) -> None:
        """Python-style escapes, and the literal itself, read back."""
        escaped = render_escapes(data)
        # Without a backslash it is not recognisably escapes; quotes around it read as quoting.
        if "\\" in escaped and escaped.strip() == escaped and escaped[:1] not in "'\"":
            assert read_dump(escaped).data == data
        assert read_dump(repr(data)).data == data

    @given(data=st.binary(min_size=1), separator=st.sampled_from([", ", ",", " ", ",\n  "]))
    def test_hex_list(self, data: bytes, separator: str) -> None:
        """0x lists, bare or in braces, read back."""
        items = separator.join(f"0x{b:02x}" for b in data)
        assert read_dump(items).data == data
        assert read_dump(f"{{{items}}}").data == data

    @given(
        data=st.binary(min_size=1, max_size=200),
        kind=st.sampled_from(["raw", "ethernet", "sll", "sll2"]),
    )
    def test_tcpdump_payload(self, data: bytes, kind: str) -> None:
        """Any payload comes out of a tcpdump packet exactly."""
        packet = ip_packet(
            "10.0.0.1",
            "10.0.0.2",
            tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 5, 1, "P.", data),
        )
        assert read_dump(render_tcpdump(link(kind, packet), True)).data == data

    @settings(max_examples=300)
    @given(text=TEXTS)
    def test_garbage(self, text: str) -> None:
        """Any text either reads or raises DumpError with a one-line message."""
        try:
            dump = read_dump(text)
        except DumpError as error:
            assert "\n" not in str(error)
        else:
            assert dump.data
            assert detect_format(text) == dump.format

    @given(text=TEXTS, position=st.integers(0, 10_000), char=st.characters())
    def test_mutated_dump(self, text: str, position: int, char: str) -> None:
        """A dump with one character changed reads or raises DumpError, nothing else."""
        dump = render_xxd(text.encode())
        if dump:
            position %= len(dump)
            dump = dump[:position] + char + dump[position + 1 :]
        for reader in (read_dump, read_base64):
            with contextlib.suppress(DumpError):
                reader(dump)


class TestOffsets:
    """Offsets are checked, not skipped: they catch lost lines and expand '*'."""

    def test_bad_line_far_down(self) -> None:
        """A garbled line deep in a large dump is reported with its own line number."""
        lines = render_xxd(bytes(range(256)) * 40).splitlines()
        lines[499] = lines[499][:14] + "zz" + lines[499][16:]
        with pytest.raises(DumpError, match=r"^line 500: '\w*zz\w*' is not hex$"):
            read_dump("\n".join(lines))

    def test_missing_line(self) -> None:
        """A dropped line shows as an offset out of sequence."""
        lines = render_xxd(bytes(100)).splitlines()
        del lines[2]
        with pytest.raises(DumpError, match=r"^line 3: offset 00000030 breaks the sequence"):
            read_dump("\n".join(lines))

    def test_star_gap_not_whole_lines(self) -> None:
        """'*' must stand for whole repeated lines."""
        text = (
            "00000000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n"
            "*\n00000018\n"
        )
        with pytest.raises(DumpError, match=r"^line 2: '\*' cannot be expanded"):
            read_dump(text)

    def test_start_offset(self) -> None:
        """A dump may start elsewhere than 0 (xxd -o, hexdump -s)."""
        text = "00000100: 8105 4865 6c6c 6f  ..Hello\n"
        assert read_dump(text).data == b"\x81\x05Hello"

    def test_concatenated_dumps(self) -> None:
        """Dumps pasted one after another (offsets back at 0) become one segment each."""
        dump = read_dump(render_xxd(b"\x81\x05Hello") + render_xxd(b"\x81\x02Hi"))
        assert [s.data for s in dump.segments] == [b"\x81\x05Hello", b"\x81\x02Hi"]

    def test_plain_hex_starting_with_zeros(self) -> None:
        """Plain hex that happens to start like an od line is still plain hex."""
        assert read_dump("000000 00 00\n00 00 01\n").data == bytes(7) + b"\x01"
        assert read_dump("000000 41 42").data == bytes(3) + b"AB"

    def test_head_of_a_long_line(self) -> None:
        """One huge line of hex is detected from its start and read whole."""
        data = bytes(range(256)) * 1000
        assert read_dump(data.hex()).data == data


def pcap(frames: list[bytes], linktype: int) -> bytes:
    """A classic pcap file holding ``frames``."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
    for number, frame in enumerate(frames):
        out += struct.pack("<IIII", 1_700_000_000, number, len(frame), len(frame)) + frame
    return out


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


class TestDetection:
    """Detection reads the first lines only, wherever they start."""

    def test_many_blank_lines_first(self) -> None:
        """Blank lines before the dump neither hide it nor shift the line numbers."""
        assert read_dump("\n" * 100_000 + "81 05").data == b"\x81\x05"
        with pytest.raises(DumpError, match=r"^line 100001: 'zz' is not hex"):
            read_dump("\n" * 100_000 + "81 zz")

    def test_line_numbers_in_detection_errors(self) -> None:
        """Errors raised while detecting count blank lines too."""
        text = "\n\n" + tool("xxd", "-e")(TRAPS["hex-looking text"])
        with pytest.raises(DumpError, match=r"^line 3: xxd -e"):
            read_dump(text)

    def test_huge_tcpdump_line(self) -> None:
        """A hex line longer than the detection window is still read as tcpdump output."""
        packet = ip_packet(
            "10.0.0.1",
            "10.0.0.2",
            tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 7, 1, "P.", b"x" * 40_000),
        )
        line = "\t0x0000:  " + " ".join(packet[i : i + 2].hex() for i in range(0, len(packet), 2))
        assert read_dump(line).data == b"x" * 40_000
