"""How fast ``wstool decode`` reads a pcap of WebSocket traffic, beside tshark, and its memory.

The capture: ``--mb`` (100) MB of Ethernet/IPv4 packets, synthesised as a Linux host sends
them (segments of at most 1448 bytes, TCP timestamps, every data segment acknowledged). Eight
WebSocket connections on different ports, each opened by its HTTP upgrade (two agree on
permessage-deflate), carry a seeded mix of what chat and API traffic holds: masked client
frames and unmasked server frames, JSON text of 60 B to 2 KiB, binary of 256 B to 8 KiB, one
message in 50 a large one (64 KiB to 1 MiB, text or binary), pings and pongs, and a close.
Connections interleave packet by packet. With ``--real`` a real tcpdump capture of websockets
sessions on loopback is timed too.

Timed in one run, each as a subprocess writing to a file, from start to exit:

- ``wstool decode FILE > out.txt`` (the rendered view, plain text);
- ``wstool decode --json FILE > out.ndjson``;
- ``tshark -r FILE -Y websocket -T fields -e websocket.payload > out.tsv``.

Printed: MB/s of capture, the ratio to tshark's speed (the goal is >= 1.0x) and each
process's peak RSS (the goal: bounded by the largest message in flight, not by the file).

Usage: python scripts/bench_pcap.py [--mb 100] [--keep DIR] [--real] [--repeat N]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import struct
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path

__all__ = ["main"]

MB = 1_000_000
MSS = 1448
ROOT = Path(__file__).resolve().parents[1]
REQUEST = (
    "GET /feed/{n} HTTP/1.1\r\nHost: 10.0.0.2:{port}\r\nUpgrade: websocket\r\n"
    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    "Sec-WebSocket-Version: 13\r\n{ext}User-Agent: bench\r\n\r\n"
)
RESPONSE = (
    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n{ext}\r\n"
)
DEFLATE = "Sec-WebSocket-Extensions: permessage-deflate\r\n"


def ws_frame(opcode: int, payload: bytes, key: bytes | None, rsv1: bool = False) -> bytes:
    """One final frame; masked with ``key`` when given (RFC 6455 §5.2)."""
    head = bytes([0x80 | (0x40 if rsv1 else 0) | opcode])
    bit = 0x80 if key is not None else 0
    size = len(payload)
    if size < 126:
        head += bytes([bit | size])
    elif size < 65536:
        head += bytes([bit | 126]) + struct.pack("!H", size)
    else:
        head += bytes([bit | 127]) + struct.pack("!Q", size)
    if key is None:
        return head + payload
    repeat = (key * (size // 4 + 1))[:size]
    masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeat, "big")).to_bytes(size, "big")
    return head + key + masked


class Connection:
    """One WebSocket connection's TCP state: packets for what each side sends."""

    def __init__(self, number: int, deflate: bool, rng: random.Random) -> None:
        self.number, self.deflate, self.rng = number, deflate, rng
        self.ports = (40000 + number, 8000 + number % 3)
        self.seq = {True: rng.getrandbits(32), False: rng.getrandbits(32)}
        self.compressors = {side: zlib.compressobj(6, zlib.DEFLATED, -15) for side in (True, False)}

    def packets(
        self, from_client: bool, data: bytes, clock: list[float]
    ) -> list[tuple[float, bytes]]:
        """Segments of ``data`` from one side, each followed by the other side's ACK."""
        out = []
        for start in range(0, len(data), MSS):
            chunk = data[start : start + MSS]
            out.append((clock[0], self.segment(from_client, chunk, 0x18)))
            self.seq[from_client] = (self.seq[from_client] + len(chunk)) % 2**32
            clock[0] += 0.00001
            if start // MSS % 2 or start + MSS >= len(data):
                out.append((clock[0], self.segment(not from_client, b"", 0x10)))
                clock[0] += 0.000005
        return out

    def segment(self, from_client: bool, payload: bytes, flags: int) -> bytes:
        client, server = b"\x0a\x00\x00\x01", b"\x0a\x00\x00\x02"
        src, dst = (client, server) if from_client else (server, client)
        ports = self.ports if from_client else self.ports[::-1]
        options = b"\x01\x01\x08\x0a" + struct.pack("!II", 1000, 2000)
        tcp = struct.pack(
            "!HHIIBBHHH",
            *ports,
            self.seq[from_client],
            self.seq[not from_client],
            (20 + len(options)) // 4 << 4,
            flags,
            502,
            0,
            0,
        )
        ip = struct.pack(
            "!BBHHHBBH4s4s",
            0x45,
            0,
            20 + len(tcp) + len(options) + len(payload),
            0,
            0x4000,
            64,
            6,
            0,
            src,
            dst,
        )
        ip = ip[:10] + struct.pack("!H", checksum(ip)) + ip[12:]
        ether = b"\x02\x00\x00\x00\x00\x02" + b"\x02\x00\x00\x00\x00\x01" + b"\x08\x00"
        return ether + ip + tcp + options + payload

    def message(self) -> tuple[bool, bytes]:
        """A frame of the mix, from the client or the server."""
        rng = self.rng
        from_client = rng.random() < 0.4
        key = rng.getrandbits(32).to_bytes(4, "big") if from_client else None
        roll = rng.random()
        if roll < 0.02:
            size = rng.randint(64 * 1024, 1024 * 1024)
            opcode = 1 if rng.random() < 0.5 else 2
            payload = (
                (b'{"rows": [' + b'{"id": 12345, "name": "sensor"}, ' * (size // 32))[:size]
                if opcode == 1
                else rng.randbytes(size)
            )
        elif roll < 0.04:
            opcode, payload = (9 if from_client else 10), b"keepalive"
        elif roll < 0.7:
            opcode = 1
            fields = rng.randint(2, 60)
            payload = json.dumps(
                {"seq": rng.randint(0, 10**6), "values": [rng.random() for _ in range(fields)]}
            ).encode()
        else:
            opcode, payload = 2, rng.randbytes(rng.randint(256, 8192))
        rsv1 = False
        if self.deflate and opcode in (1, 2):
            compressor = self.compressors[from_client]
            payload = compressor.compress(payload) + compressor.flush(zlib.Z_SYNC_FLUSH)
            payload, rsv1 = payload[:-4], True
        return from_client, ws_frame(opcode, payload, key, rsv1)


def checksum(data: bytes) -> int:
    total = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def write_capture(path: Path, size: int, seed: int = 7) -> int:
    """A pcap of about ``size`` bytes; returns the number of messages."""
    rng = random.Random(seed)
    connections = [Connection(n, n in (1, 5), rng) for n in range(8)]
    clock = [1_700_000_000.0]
    messages = 0
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))

        def emit(packets: list[tuple[float, bytes]]) -> int:
            written = 0
            for stamp, frame in packets:
                seconds = int(stamp)
                micros = int((stamp - seconds) * 1e6)
                out.write(struct.pack("<IIII", seconds, micros, len(frame), len(frame)) + frame)
                written += 16 + len(frame)
            return written

        total = 24
        for c in connections:
            for side, flags in ((True, 0x02), (False, 0x12), (True, 0x10)):
                total += emit([(clock[0], c.segment(side, b"", flags))])
                if flags != 0x10:
                    c.seq[side] = (c.seq[side] + 1) % 2**32
            ext = DEFLATE if c.deflate else ""
            request = REQUEST.format(n=c.number, port=c.ports[1], ext=ext).encode()
            total += emit(c.packets(True, request, clock))
            total += emit(c.packets(False, RESPONSE.format(ext=ext).encode(), clock))
        while total < size:
            c = rng.choice(connections)
            from_client, frame = c.message()
            total += emit(c.packets(from_client, frame, clock))
            messages += 1
        for c in connections:
            total += emit(c.packets(True, ws_frame(8, b"\x03\xe8", b"\x01\x02\x03\x04"), clock))
            total += emit(c.packets(False, ws_frame(8, b"\x03\xe8", None), clock))
    return messages


def timed(command: list[str], output: Path) -> tuple[float, int, int]:
    """Wall seconds, peak RSS (KiB) and exit status of ``command > output``."""
    with output.open("wb") as sink:
        start = time.perf_counter()
        process = subprocess.Popen(command, stdout=sink, stderr=subprocess.DEVNULL, cwd=ROOT)
        _, status, usage = os.wait4(process.pid, 0)
        elapsed = time.perf_counter() - start
    process.returncode = os.waitstatus_to_exitcode(status)
    return elapsed, usage.ru_maxrss, process.returncode


def real_capture(directory: Path) -> Path | None:
    """A tcpdump capture of websockets sessions on loopback (root and tcpdump needed)."""
    if shutil.which("tcpdump") is None or os.geteuid() != 0:
        return None
    sys.path.insert(0, str(ROOT / "tests" / "e2e"))
    from test_decode_pcap_e2e import record  # the e2e tests' recorder

    return record(directory, "lo")


def bench(path: Path, directory: Path, repeat: int = 1) -> None:
    size = path.stat().st_size
    wstool = [sys.executable, "-m", "wstool", "decode"]
    runs = [
        ("wstool decode", [*wstool, str(path)], "out.txt"),
        ("wstool decode --json", [*wstool, "--json", str(path)], "out.ndjson"),
    ]
    if shutil.which("tshark"):
        runs.append(
            (
                "tshark -Y websocket -e payload",
                [
                    "tshark",
                    "-r",
                    str(path),
                    "-Y",
                    "websocket",
                    "-T",
                    "fields",
                    "-e",
                    "websocket.payload",
                ],
                "out.tsv",
            )
        )
    results = {}
    for name, command, output in runs:
        best = min(timed(command, directory / output) for _ in range(repeat))
        seconds, rss, status = best
        results[name] = (seconds, rss, status, (directory / output).stat().st_size)
    tshark = results.get("tshark -Y websocket -e payload")
    print(f"{path.name}: {size / MB:.1f} MB")
    columns = ("seconds", "MB/s", "vs tshark", "peak RSS", "output")
    print(
        f"  {'command':34} " + " ".join(f"{c:>{8 if i < 2 else 10}}" for i, c in enumerate(columns))
    )
    for name, (seconds, rss, status, written) in results.items():
        ratio = f"{tshark[0] / seconds:.2f}x" if tshark else "-"
        note = "" if status in (0, 1) else f"  (exit {status})"
        print(
            f"  {name:34} {seconds:8.2f} {size / MB / seconds:8.1f} {ratio:>10} "
            f"{rss / 1024:8.0f} MB {written / MB:8.1f} MB{note}"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--mb", type=float, default=100.0, help="capture size (default 100)")
    parser.add_argument("--keep", type=Path, help="write the files here and keep them")
    parser.add_argument("--real", action="store_true", help="also time a real tcpdump capture")
    parser.add_argument("--repeat", type=int, default=1, help="best of N runs each (default 1)")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        directory = args.keep or Path(scratch)
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / "websocket.pcap"
        started = time.perf_counter()
        messages = write_capture(path, int(args.mb * MB))
        print(f"wrote {path} ({messages} messages) in {time.perf_counter() - started:.1f} s")
        bench(path, directory, args.repeat)
        if args.real:
            real = real_capture(directory)
            if real is not None:
                bench(real, directory, args.repeat)
    return 0


if __name__ == "__main__":
    sys.exit(main())
