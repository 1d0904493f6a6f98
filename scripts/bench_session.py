#!/usr/bin/env python3
"""What sessions cost: recording in serve, and replay beside connect's pipe.

Run from the repository root::

    .venv/bin/python scripts/bench_session.py            # 5 runs, 30 000 messages
    .venv/bin/python scripts/bench_session.py --quick    # 3 runs, 10 000 messages
    .venv/bin/python scripts/bench_session.py --only replay --runs 9

1. Recording. ``scripts/bench_serve.py`` runs its 32-byte echo scenario (msg32:
   50 connections x 16 messages in flight, server pinned to one CPU, load
   generator to another) against ``wstool serve -q`` and ``wstool serve -q
   --record FILE`` in the same run; the ratio of their msgs/s is the cost of
   recording. Goal: >= 0.7x.

2. Replay. Against one ``wstool serve -q --ping-interval 0``: ``wstool connect
   URL`` in pipe mode with N 32-byte lines on stdin and stdout to a file (it
   sends every line and exits once the echoes are in), then ``wstool replay
   SESSION URL --speed max`` of a session recorded by that same connect. Both
   are timed from launch to exit (startup included), each the median of the
   runs, taking turns; replay must report every answer as recorded. Goal:
   replay's msgs/s >= 0.8x connect's.

3. Recording with permessage-deflate. The same connect (deflate on: every
   message compressed both ways) against ``wstool serve -q`` and ``wstool
   serve -q --record FILE`` in turn; the server's CPU time per message (from
   /proc) of each, and their ratio. No goal of its own: it shows what
   inflating the recorded messages costs.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
WSTOOL = [str(ROOT / ".venv" / "bin" / "wstool")]
if not Path(WSTOOL[0]).exists():
    WSTOOL = [sys.executable, "-m", "wstool"]
LISTENING = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)/")


def start_serve(*extra: str) -> tuple[subprocess.Popen[str], str]:
    serve = subprocess.Popen(
        [*WSTOOL, "serve", "--port", "0", "-q", "--ping-interval", "0", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert serve.stdout is not None
    match = LISTENING.search(serve.stdout.readline())
    if match is None:
        serve.kill()
        raise SystemExit("wstool serve did not start")
    return serve, f"ws://127.0.0.1:{match[1]}/"


def timed(argv: list[str], stdin: Path | None, stdout: Path) -> float:
    with open(stdout, "wb") as out, open(stdin or "/dev/null", "rb") as into:
        start = time.perf_counter()
        done = subprocess.run(argv, stdin=into, stdout=out, stderr=subprocess.PIPE, timeout=300)
        took = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {done.returncode}: {done.stderr.decode()}")
    return took


def replay_rate(n: int, runs: int, tmp: Path) -> tuple[float, float]:
    lines = tmp / "lines.txt"
    session = tmp / "pipe.session"
    serve, url = start_serve()
    try:
        timed([*WSTOOL, "connect", url, "--record", str(session)], lines, tmp / "recorded.txt")
        connect, replay = [], []
        for _ in range(runs):
            connect.append(timed([*WSTOOL, "connect", url], lines, tmp / "out.txt"))
            if len((tmp / "out.txt").read_bytes().splitlines()) != n:
                raise SystemExit("connect did not print every echo")
            replay.append(timed([*WSTOOL, "replay", str(session), url], None, tmp / "replay.txt"))
            if b"every answer as recorded" not in (tmp / "replay.txt").read_bytes():
                raise SystemExit("replay did not get every answer as recorded")
    finally:
        serve.terminate()
        serve.wait(10)
    return n / statistics.median(connect), n / statistics.median(replay)


def cpu_seconds(pid: int) -> float:
    """User and system CPU time of a process so far (Linux /proc)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def deflate_record_cost(n: int, runs: int, tmp: Path) -> tuple[float, float]:
    """Server CPU microseconds per message, serve -q and serve -q --record, deflate client.

    ``wstool connect`` in pipe mode (permessage-deflate on, every message compressed both
    ways) sends N 32-byte lines to each server in turn; the server's CPU time is read from
    /proc before and after. The median of the runs for each.
    """
    lines = tmp / "lines.txt"
    plain: list[float] = []
    recording: list[float] = []
    for _ in range(runs):
        for extra, into in (((), plain), (("--record", str(tmp / "deflate.session")), recording)):
            serve, url = start_serve(*extra)
            try:
                before = cpu_seconds(serve.pid)
                timed([*WSTOOL, "connect", url], lines, tmp / "deflate.txt")
                into.append((cpu_seconds(serve.pid) - before) / n * 1e6)
            finally:
                serve.terminate()
                serve.wait(10)
    return statistics.median(plain), statistics.median(recording)


def record_ratio(quick: bool, tmp: Path) -> tuple[float | None, float | None]:
    raw = tmp / "bench_serve.json"
    argv = [sys.executable, str(ROOT / "scripts" / "bench_serve.py")]
    argv += ["--only", "wstool,wstool-record", "--scenarios", "msg32", "--json", str(raw)]
    argv += ["--duration", "1", "--rounds", "1"] if quick else ["--duration", "3", "--rounds", "3"]
    subprocess.run(argv, stdout=subprocess.DEVNULL, check=False, timeout=600)
    rounds = json.loads(raw.read_text())["rounds"]

    def median(key: str) -> float | None:
        values = [r["msgs_per_s"] for r in rounds.get(key, []) if "msgs_per_s" in r]
        return statistics.median(values) if values else None

    return median("wstool/msg32"), median("wstool-record/msg32")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 runs of 10 000 messages")
    parser.add_argument("--messages", type=int, help="messages per replay run")
    parser.add_argument("--runs", type=int, help="runs per cell (median)")
    parser.add_argument(
        "--only", choices=("record", "replay"), help="measure only recording, or only replay"
    )
    args = parser.parse_args()
    n = args.messages or (10_000 if args.quick else 30_000)
    runs = args.runs or (3 if args.quick else 5)
    with tempfile.TemporaryDirectory() as folder:
        tmp = Path(folder)
        (tmp / "lines.txt").write_text("".join(f"m{i:010d}{'x' * 21}\n" for i in range(n)))
        plain = recording = connect = replay = None
        deflate: tuple[float, float] | None = None
        if args.only != "replay":
            plain, recording = record_ratio(args.quick, tmp)
        if args.only != "record":
            connect, replay = replay_rate(n, runs, tmp)
        if args.only != "replay":
            deflate = deflate_record_cost(n, runs, tmp)
    print(f"{'':34}{'msgs/s':>12}{'ratio':>9}{'goal':>8}")
    if args.only == "replay":
        pass
    elif plain and recording:
        print(f"{'wstool serve -q':34}{plain:12,.0f}")
        ratio = recording / plain
        ok = "met" if ratio >= 0.7 else "NOT met"
        print(f"{'wstool serve -q --record FILE':34}{recording:12,.0f}{ratio:8.2f}x  >= 0.7x {ok}")
    else:
        print("recording: bench_serve.py gave no msg32 figures")
    if deflate is not None:
        plain_us, recording_us = deflate
        print(f"{'serve -q, deflate client':34}{plain_us:10.1f} us server CPU a message")
        print(
            f"{'serve -q --record, deflate client':34}{recording_us:10.1f} us"
            f"{plain_us / recording_us:6.2f}x  (no goal; msg32 above is the goal)"
        )
    if connect and replay:
        print(f"{f'wstool connect (pipe, {n} msgs)':34}{connect:12,.0f}")
        ratio = replay / connect
        ok = "met" if ratio >= 0.8 else "NOT met"
        print(f"{'wstool replay --speed max':34}{replay:12,.0f}{ratio:8.2f}x  >= 0.8x {ok}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
