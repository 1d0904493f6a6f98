"""Dumps and packets built here, independently of wstool.capture, for its tests."""

from __future__ import annotations

import ipaddress
import shutil
import struct
import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest
from hypothesis import strategies as st

SAMPLES = Path(__file__).parent.parent / "samples" / "dumps"

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


def pcap(frames: list[bytes], linktype: int) -> bytes:
    """A classic pcap file holding ``frames``."""
    out = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, linktype)
    for number, frame in enumerate(frames):
        out += struct.pack("<IIII", 1_700_000_000, number, len(frame), len(frame)) + frame
    return out


def render_capture_line_broken() -> str:
    packet = ip_packet(
        "10.0.0.1", "10.0.0.2", tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 7, 1, "P.", b"x")
    )
    lines = ("12:00:00.000001 IP a > b\n" + render_tcpdump(packet, True)).splitlines()
    lines[2] = lines[2].replace("7f00 0001", "7f00 zz01", 1).replace(" 0a00 0002", " zz01", 1)
    return "\n".join(lines) + "\n"


# --- Properties ---------------------------------------------------------------------------------

TEXTS = st.one_of(
    st.text(),
    st.text(alphabet="0123456789abcdefABCDEFx: |*><\n\t\\'\"b{},.#=-_+[]()"),
    st.binary().map(render_xxd),
)


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
