"""A program behind the server: ``wstool serve --exec`` against ``websocketd``, same program.

Run from the repository root::

    .venv/bin/python scripts/bench_exec.py             # ~20 s
    .venv/bin/python scripts/bench_exec.py --quick     # a look, ~5 s

Both servers run ``cat`` (each message a line on its stdin, each line back a
message) and, for the connection test, ``echo ready`` (a program that answers
once and exits). The client is the websockets library on asyncio, in this
process, measured the same way against both:

- lines/s: one connection, ``--window`` lines in flight, ``--lines`` short
  text messages through ``cat`` and back (the program's pipes are the path);
- 16 KiB lines, MB/s: the same with ``--big`` lines of 16,383 bytes, 8 in flight
  (websocketd 0.4.1 stalled here with 32 KiB lines 8 in flight, and drops a
  connection whose line reaches 64 KiB; wstool sends any line up to
  --max-message-size, longer ones in pieces);
- connections/s: ``--connections`` clients, ``--concurrency`` at a time, each
  opening, reading the program's one line and waiting for the close (one
  process spawned and reaped per connection).

Then the ratios wstool / websocketd. ``wstool serve`` runs with ``-q
--ping-interval 0 --no-deflate`` (websocketd does not compress).
"""

from __future__ import annotations

import argparse
import asyncio
import shutil
import socket
import subprocess
import sys
import time
from pathlib import Path

from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start(kind: str, program: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    if kind == "wstool":
        argv = [sys.executable, "-m", "wstool", "serve", "--port", str(port), "-q"]
        argv += ["--ping-interval", "0", "--no-deflate", "--exec", program]
    else:
        argv = ["websocketd", f"--port={port}", "--address=127.0.0.1", "--loglevel=error"]
        argv += program.split()
    process = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return process, port
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise SystemExit(f"{kind} did not listen")


def stop(process: subprocess.Popen[bytes]) -> None:
    process.terminate()
    try:
        process.wait(10)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(10)


async def lines(port: int, count: int, size: int, window: int) -> float:
    """Seconds for ``count`` lines of ``size`` bytes through cat and back, ``window`` in flight."""
    line = "x" * size
    async with connect(f"ws://127.0.0.1:{port}/", compression=None, max_size=None) as ws:
        started = time.perf_counter()
        sent = received = 0
        while received < count:
            while sent < count and sent - received < window:
                await ws.send(line)
                sent += 1
            answer = await ws.recv()
            assert len(answer) == size
            received += 1
        return time.perf_counter() - started


async def connections(port: int, count: int, concurrency: int) -> float:
    """Seconds for ``count`` connections that each read the program's line and its close."""
    gate = asyncio.Semaphore(concurrency)

    async def one() -> None:
        async with gate, connect(f"ws://127.0.0.1:{port}/", compression=None) as ws:
            assert await ws.recv() == "ready"
            await ws.wait_closed()

    started = time.perf_counter()
    await asyncio.gather(*(one() for _ in range(count)))
    return time.perf_counter() - started


def measure(kind: str, args: argparse.Namespace) -> dict[str, float]:
    results: dict[str, float] = {}
    process, port = start(kind, "cat")
    try:
        elapsed = asyncio.run(lines(port, args.lines, 32, args.window))
        results["lines/s"] = args.lines / elapsed
        elapsed = asyncio.run(lines(port, args.big, 16383, 8))
        results["16 KiB lines, MB/s"] = args.big * 16383 / elapsed / 1e6
    finally:
        stop(process)
    process, port = start(kind, "echo ready")
    try:
        elapsed = asyncio.run(connections(port, args.connections, args.concurrency))
        results["connections/s"] = args.connections / elapsed
    finally:
        stop(process)
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--lines", type=int, default=50_000)
    parser.add_argument("--big", type=int, default=2_000)
    parser.add_argument("--window", type=int, default=64)
    parser.add_argument("--connections", type=int, default=500)
    parser.add_argument("--concurrency", type=int, default=20)
    parser.add_argument("--quick", action="store_true", help="a tenth of the work")
    args = parser.parse_args()
    if args.quick:
        args.lines, args.big, args.connections = args.lines // 10, args.big // 10, 100
    kinds = ["wstool"] + (["websocketd"] if shutil.which("websocketd") else [])
    if len(kinds) == 1:
        print("websocketd is not installed (apt-get install websocketd): wstool only")
    table = {kind: measure(kind, args) for kind in kinds}
    names = list(table["wstool"])
    print(
        f"{'':22}"
        + "".join(f"{kind:>14}" for kind in kinds)
        + ("   ratio" if len(kinds) > 1 else "")
    )
    for name in names:
        row = f"{name:22}" + "".join(f"{table[kind][name]:14,.1f}" for kind in kinds)
        if len(kinds) > 1:
            row += f"   {table['wstool'][name] / table['websocketd'][name]:.2f}x"
        print(row)
    return 0


if __name__ == "__main__":
    sys.exit(main())
