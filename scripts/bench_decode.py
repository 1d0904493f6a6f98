"""How fast ``wstool decode`` reads each text dump format, in MB/s of input.

The frames: a seeded mix of what a chat or API connection carries. Client frames are masked
(RFC 6455 §5.3), server frames are not; two thirds are JSON text (200 B to 4 KiB), one
third binary (256 B to 4 KiB), one frame in 20 a Ping or Pong, and client and server frames
alternate. The same bytes are written in every format: plain hex (16 bytes a line, as ``xxd -p``
and pasting produce), colon hex, xxd, ``hexdump -C``, ``od -A x -t x1z``, a Wireshark hex +
ASCII dump, ``\\x`` escapes, ``b''`` literals, a ``0x`` list, base64, and, as packets of one
TCP connection (segments of at most 1448 bytes, IPv4, the HTTP upgrade first), ``tcpdump -X``,
``tcpdump -xx`` (Ethernet) and ``tshark -x``. A second row of plain hex holds small frames
(2 to 125 bytes of text), where the cost per frame dominates.

Each dump is decoded by ``wstool decode`` as a subprocess, with ``--json`` and with the rendered
view, both written to a file, and timed from start to exit (startup included). The figure is
input size / wall time; the ratio is to the goal of 50 MB/s. ``xxd -r -p`` reading the plain hex
is timed in the same run as a peer. Each decode's frame count is checked.

Usage: python scripts/bench_decode.py [--mb 50] [--only FORMAT ...] [--repeat 1]
"""

from __future__ import annotations

import argparse
import base64
import json
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

__all__ = ["main"]

GOAL = 50.0  # MB/s of input
MB = 1_000_000
_PRINTABLE = bytes(b if 0x20 <= b < 0x7F else 0x2E for b in range(256))
_TCPDUMP_PRINTABLE = bytes(b if 0x21 <= b < 0x7F else 0x2E for b in range(256))


# --- Frames --------------------------------------------------------------------------------


def _frame(opcode: int, payload: bytes, key: bytes | None) -> bytes:
    size = len(payload)
    if size < 126:
        header = bytes([0x80 | opcode, size | (0x80 if key else 0)])
    elif size < 65536:
        header = bytes([0x80 | opcode, 126 | (0x80 if key else 0)]) + struct.pack("!H", size)
    else:
        header = bytes([0x80 | opcode, 127 | (0x80 if key else 0)]) + struct.pack("!Q", size)
    if key is None:
        return header + payload
    masked = int.from_bytes(payload, "big") ^ int.from_bytes((key * (size // 4 + 1))[:size], "big")
    return header + key + masked.to_bytes(size, "big")


def _text(rng: random.Random, size: int) -> bytes:
    """A JSON message of about ``size`` bytes, as APIs and chats send."""
    words = ["alpha", "beta", "gamma", "delta", "user", "status", "ok", "value", "chat", "room"]
    items = [
        {"id": rng.randrange(10**6), "name": rng.choice(words), "score": rng.random()}
        for _ in range(max(1, size // 60))
    ]
    return json.dumps({"type": rng.choice(words), "items": items}).encode()


_SMALL = [b'{"type": "ping", "seq": 12345}', b"hello, how are you?" * 7, b'["ack", 42]']


def make_frames(target: int, small: bool, seed: int = 6455) -> tuple[list[bytes], list[bytes]]:
    """Client and server frames, alternating, about ``target`` bytes in all."""
    rng = random.Random(seed)
    client: list[bytes] = []
    server: list[bytes] = []
    total = 0
    while total < target:
        from_client = len(client) <= len(server)
        key = rng.randbytes(4) if from_client else None
        roll = rng.random()
        if small:
            frame = _frame(0x1, rng.choice(_SMALL)[: rng.randrange(2, 126)], key)
        elif roll < 0.05:
            frame = _frame(rng.choice((0x9, 0xA)), rng.randbytes(rng.randrange(0, 16)), key)
        elif roll < 0.68:
            frame = _frame(0x1, _text(rng, rng.randrange(200, 4097)), key)
        else:
            frame = _frame(0x2, rng.randbytes(rng.randrange(256, 4097)), key)
        (client if from_client else server).append(frame)
        total += len(frame)
    return client, server


def interleave(client: list[bytes], server: list[bytes]) -> bytes:
    """One stream of both directions' frames, alternating."""
    out = []
    for i in range(max(len(client), len(server))):
        out += client[i : i + 1] + server[i : i + 1]
    return b"".join(out)


# --- Formats without packets ----------------------------------------------------------------


def plain(data: bytes) -> str:
    return "".join(data[i : i + 16].hex(" ") + "\n" for i in range(0, len(data), 16))


def colon(data: bytes) -> str:
    return "".join(data[i : i + 16].hex(":") + "\n" for i in range(0, len(data), 16))


def xxd(data: bytes) -> str:
    lines = []
    for i in range(0, len(data), 16):
        row = data[i : i + 16]
        hexes = row.hex(" ", 2)
        lines.append(f"{i:08x}: {hexes:<39}  {row.translate(_PRINTABLE).decode()}\n")
    return "".join(lines)


def hexdump_c(data: bytes) -> str:
    lines = []
    for i in range(0, len(data), 16):
        row = data[i : i + 16]
        left, right = row[:8].hex(" "), row[8:].hex(" ")
        hexes = f"{left}  {right}" if right else left
        lines.append(f"{i:08x}  {hexes:<48}  |{row.translate(_PRINTABLE).decode()}|\n")
    return "".join(lines) + f"{len(data):08x}\n"


def od(data: bytes) -> str:
    lines = []
    for i in range(0, len(data), 16):
        row = data[i : i + 16]
        lines.append(f"{i:06x} {row.hex(' '):<47}  >{row.translate(_PRINTABLE).decode()}<\n")
    return "".join(lines) + f"{len(data):06x}\n"


def wireshark(data: bytes) -> str:
    lines = []
    for i in range(0, len(data), 16):
        row = data[i : i + 16]
        lines.append(f"{i:04x}  {row.hex(' '):<47}   {row.translate(_PRINTABLE).decode()}\n")
    return "".join(lines)


def escapes(data: bytes) -> str:
    return "".join(
        "".join(f"\\x{b:02x}" for b in data[i : i + 32]) + "\n" for i in range(0, len(data), 32)
    )


def literals(data: bytes) -> str:
    body = "".join(f"    {data[i : i + 32]!r}\n" for i in range(0, len(data), 32))
    return f"data = (\n{body})\n"


def hex_list(data: bytes) -> str:
    rows = (", ".join(f"0x{b:02x}" for b in data[i : i + 12]) for i in range(0, len(data), 12))
    return "{\n  " + ",\n  ".join(rows) + "\n};\n"


def b64(data: bytes) -> str:
    return base64.encodebytes(data).decode()


# --- Packets ---------------------------------------------------------------------------------

_REQUEST = (
    b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1:8080\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\n\r\n"
)
_RESPONSE = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)


def _checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def packets(client: list[bytes], server: list[bytes]) -> list[tuple[bool, bytes, int]]:
    """Ethernet frames of one connection: (from the client, frame, payload length)."""
    out = []
    seq = {True: 1000, False: 5000}
    hosts = {True: bytes([10, 0, 0, 1]), False: bytes([10, 0, 0, 2])}
    ports = {True: (54321, 8080), False: (8080, 54321)}
    ident = 0
    messages = [(True, _REQUEST), (False, _RESPONSE)]
    for i in range(max(len(client), len(server))):
        messages += [(True, f) for f in client[i : i + 1]] + [(False, f) for f in server[i : i + 1]]
    for from_client, message in messages:
        for start in range(0, len(message), 1448):
            payload = message[start : start + 1448]
            tcp = struct.pack(
                "!HHIIBBHHH",
                *ports[from_client],
                seq[from_client],
                seq[not from_client],
                5 << 4,
                0x18,
                512,
                0,
                0,
            )
            seq[from_client] += len(payload)
            total = 20 + len(tcp) + len(payload)
            ip = struct.pack("!BBHHHBBH", 0x45, 0, total, ident & 0xFFFF, 0x4000, 64, 6, 0)
            ip += hosts[from_client] + hosts[not from_client]
            ip = ip[:10] + struct.pack("!H", _checksum(ip)) + ip[12:]
            ident += 1
            ether = bytes.fromhex("020000000002 020000000001 0800")
            out.append((from_client, ether + ip + tcp + payload, len(payload)))
    return out


def _tcpdump_lines(frame: bytes, ascii_column: bool) -> str:
    lines = []
    for i in range(0, len(frame), 16):
        row = frame[i : i + 16]
        hexes = row.hex(" ", 2)
        if ascii_column:
            lines.append(
                f"\t0x{i:04x}:  {hexes:<39}  {row.translate(_TCPDUMP_PRINTABLE).decode()}\n"
            )
        else:
            lines.append(f"\t0x{i:04x}:  {hexes}\n")
    return "".join(lines)


def tcpdump(client: list[bytes], server: list[bytes], with_link: bool) -> str:
    out = []
    for number, (from_client, frame, size) in enumerate(packets(client, server)):
        route = (
            "10.0.0.1.54321 > 10.0.0.2.8080" if from_client else "10.0.0.2.8080 > 10.0.0.1.54321"
        )
        out.append(
            f"12:00:{number // 1000000 % 60:02d}.{number % 1000000:06d} IP {route}: "
            f"Flags [P.], length {size}\n"
        )
        out.append(_tcpdump_lines(frame if with_link else frame[14:], not with_link))
    return "".join(out)


def tshark(client: list[bytes], server: list[bytes]) -> str:
    return "\n".join(wireshark(frame) for _, frame, _ in packets(client, server))


# --- Running ---------------------------------------------------------------------------------


def formats(small: bool, target: int) -> dict[str, Callable[[], str]]:
    client, server = make_frames(target, small)
    stream = interleave(client, server)
    if small:
        return {"plain hex, small frames": lambda: plain(stream)}
    return {
        "plain hex": lambda: plain(stream),
        "colon hex": lambda: colon(stream),
        "xxd": lambda: xxd(stream),
        "hexdump -C": lambda: hexdump_c(stream),
        "od -A x -t x1z": lambda: od(stream),
        "Wireshark": lambda: wireshark(stream),
        "tcpdump -X": lambda: tcpdump(client, server, False),
        "tcpdump -xx": lambda: tcpdump(client, server, True),
        "tshark -x": lambda: tshark(client, server),
        "\\x escapes": lambda: escapes(stream),
        "b'' literals": lambda: literals(stream),
        "0x list": lambda: hex_list(stream),
        "base64": lambda: b64(stream),
    }


def frames_in(path: Path, mode: str) -> int:
    """The frame count a decode's output reports."""
    if mode == "--json":
        with path.open() as file:
            return sum(1 for line in file if line.startswith('{"type":"frame"'))
    with path.open("rb") as file:
        file.seek(max(0, path.stat().st_size - 200))
        last = file.read().decode().strip().splitlines()[-1]
    return int(last.split()[0])


def timed(command: list[str], stdout: Path) -> tuple[float, int, str]:
    """Run ``command`` with its output to ``stdout``: seconds, exit status, stderr."""
    with stdout.open("wb") as out:
        start = time.perf_counter()
        done = subprocess.run(command, stdout=out, stderr=subprocess.PIPE, check=False)
        return time.perf_counter() - start, done.returncode, done.stderr.decode(errors="replace")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=50.0, help="size of each dump (default: 50 MB)")
    parser.add_argument("--only", nargs="*", metavar="FORMAT", help="run these formats only")
    parser.add_argument("--repeat", type=int, default=1, help="runs per cell; the best counts")
    parser.add_argument("--wstool", default=None, help="the wstool command (default: this venv's)")
    args = parser.parse_args(argv)
    wstool = [args.wstool] if args.wstool else [sys.executable, "-m", "wstool"]
    # Frames are sized so that each dump of plain hex is about --mb megabytes.
    target = int(args.mb * MB / 3)
    rows = [
        (name, make) for small in (False, True) for name, make in formats(small, target).items()
    ]
    if args.only:
        rows = [(name, make) for name, make in rows if name in args.only]
    print(
        f"{'format':<24} {'input MB':>8} {'--json MB/s':>12} {'x goal':>7} "
        f"{'view MB/s':>10} {'x goal':>7}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        out = folder / "out.txt"
        for name, make in rows:
            text = make()
            dump = folder / "dump.txt"
            dump.write_text(text)
            size = dump.stat().st_size / MB
            cells = []
            for mode in ("--json", "--color=never"):
                best, count = float("inf"), -1
                for _ in range(args.repeat):
                    flags = [mode, "--base64"] if name == "base64" else [mode]
                    seconds, status, errors = timed([*wstool, "decode", *flags, str(dump)], out)
                    if status not in (0, 1) or errors:
                        print(f"{name}: wstool decode exited {status}: {errors}", file=sys.stderr)
                        return 1
                    best, count = min(best, seconds), frames_in(out, mode)
                cells.append((size / best, count))
            if cells[0][1] != cells[1][1]:
                print(
                    f"{name}: --json saw {cells[0][1]} frames, the view {cells[1][1]}",
                    file=sys.stderr,
                )
                return 1
            print(
                f"{name:<24} {size:>8.1f} {cells[0][0]:>12.1f} {cells[0][0] / GOAL:>7.2f} "
                f"{cells[1][0]:>10.1f} {cells[1][0] / GOAL:>7.2f}   ({cells[0][1]} frames)",
                flush=True,
            )
            if name == "plain hex" and shutil.which("xxd"):
                seconds, _, _ = timed(["xxd", "-r", "-p", str(dump)], out)
                print(f"{'  peer: xxd -r -p':<24} {size:>8.1f} {size / seconds:>12.1f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
