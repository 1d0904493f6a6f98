"""Fan-out through Redis: one publisher, 1,000 subscribers over two ``wstool serve --redis``
processes, against 1,000 subscribers on one ``wstool serve`` without Redis.

Run from the repository root::

    .venv/bin/python scripts/bench_fanout.py                     # 1,000 subscribers, ~30 s
    .venv/bin/python scripts/bench_fanout.py --quick             # 200 subscribers, a look
    .venv/bin/python scripts/bench_fanout.py --rate 200 --messages 2000

Both setups run ``wstool serve --mode broadcast -q --ping-interval 0``; the Redis one
starts its own ``redis-server`` on a free port (no persistence) and two serves with
``--redis``, half the subscribers on each; the publisher talks to the first. The
subscribers are ``wstool bench URL --mode subscribe`` (two processes in both setups:
``--workers 2`` against the one serve, one per serve with Redis), each waiting for its
share of publisher messages x subscribers; the publisher is ``wstool bench URL --mode
send --connections 1 --rate R --messages M``, open loop: every message carries its
intended send time in its first 8 bytes, and the subscribers' latency counts from it
(so a server that falls behind shows as latency). Once the publisher is done the
subscribers get ``--drain`` seconds to receive the rest, then are interrupted (what
they miss is counted lost).

Printed per setup: messages delivered (of publisher messages x subscribers), lost,
delivered per second (delivered / (M / R + the largest latency): until the last
delivery, so a server that falls behind the rate shows here and in the latency),
and the subscribers' latency
percentiles in ms (with two subscriber processes, the larger of their values: an
upper bound for the merged one). Then the
ratios Redis / one process. The soft open-files limit is raised to the hard one here
(serve and bench raise their own).
"""

from __future__ import annotations

import argparse
import json
import re
import resource
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_LISTENING = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)/")
PERCENTILES = ("p50", "p90", "p99", "p99.9", "max")


def raise_fd_limit() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Serve:
    """``wstool serve --mode broadcast -q`` and the count of connects it logged."""

    def __init__(self, *extra: str) -> None:
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "wstool",
                "serve",
                "--port",
                "0",
                "--ping-interval",
                "0",
                "--mode",
                "broadcast",
                "-q",
                "--color",
                "never",
                *extra,
            ],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        self.port = 0
        self.connected = 0
        self.listening = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()
        if not self.listening.wait(30):
            self.stop()
            raise SystemExit("serve did not listen")

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            if " connected: " in line:
                self.connected += 1
            elif match := _LISTENING.search(line):
                self.port = int(match[1])
                self.listening.set()

    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/fan"

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(20)
            except subprocess.TimeoutExpired:
                self.process.kill()


def bench(url: str, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-m", "wstool", "bench", url, "--json", "--color", "never", *args],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def result(process: subprocess.Popen[str], deadline: float) -> dict[str, Any]:
    """A bench's JSON result; interrupted (Ctrl-C) when it is still waiting at ``deadline``."""
    try:
        out, err = process.communicate(timeout=max(deadline - time.monotonic(), 0.1))
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=30)
    try:
        return dict(json.loads(out))
    except json.JSONDecodeError:
        raise SystemExit(f"wstool bench gave no result:\n{out}\n{err}") from None


def wait_connected(serves: list[Serve], counts: list[int], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while any(s.connected < n for s, n in zip(serves, counts, strict=False)):
        if time.monotonic() > deadline:
            got = [s.connected for s in serves]
            raise SystemExit(f"subscribers did not all connect: {got} of {counts}")
        time.sleep(0.1)


def run_setup(
    args: argparse.Namespace, serves: list[Serve], subscriber_args: list[list[str]]
) -> dict[str, Any]:
    """Subscribers on ``serves`` (one bench each), then the publisher on the first serve."""
    subs = [
        bench(serve.url(), *extra) for serve, extra in zip(serves, subscriber_args, strict=False)
    ]
    shares = [int(extra[extra.index("-c") + 1]) for extra in subscriber_args]
    wait_connected(serves, shares)
    publisher = bench(
        serves[0].url(),
        *("--mode", "send", "-c", "1", "--rate", str(args.rate)),
        *("--messages", str(args.messages), "--size", str(args.size)),
    )
    published = result(publisher, time.monotonic() + args.messages / args.rate + 60)
    deadline = time.monotonic() + args.drain
    received = [result(sub, deadline) for sub in subs]
    delivered = sum(int(r["received"]) for r in received)
    expected = args.messages * args.subscribers
    latency = {
        p: max((r["latency_us"] or {}).get(p, 0.0) for r in received) / 1000 for p in PERCENTILES
    }
    return {
        "published": int(published["sent"]),
        "publish_seconds": float(published["seconds"]),
        "delivered": delivered,
        "expected": expected,
        "lost": expected - delivered,
        # Until the last delivery: the last message is due at M / R and arrives
        # within the largest latency after it (a server behind the rate shows here).
        "delivered_per_s": delivered / (args.messages / args.rate + latency["max"] / 1000),
        "latency_ms": latency,
        "errors": [r["errors"] for r in received if r["errors"]],
    }


def one_process(args: argparse.Namespace) -> dict[str, Any]:
    serve = Serve()
    try:
        n = args.subscribers
        share = ["--mode", "subscribe", "-c", str(n), "--workers", "2"]
        share += ["--messages", str(n * args.messages), "--timeout", "30"]
        return run_setup(args, [serve], [share])
    finally:
        serve.stop()


def through_redis(args: argparse.Namespace) -> dict[str, Any]:
    binary = shutil.which("redis-server")
    if binary is None:
        raise SystemExit("redis-server is not installed (apt-get install redis-server)")
    port = free_port()
    redis = subprocess.Popen(
        [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
        stdout=subprocess.DEVNULL,
    )
    serves: list[Serve] = []
    try:
        time.sleep(0.5)
        url = f"redis://127.0.0.1:{port}/0"
        serves = [Serve("--redis", url), Serve("--redis", url)]
        halves = [args.subscribers // 2, args.subscribers - args.subscribers // 2]
        shares = [
            [
                "--mode",
                "subscribe",
                "-c",
                str(h),
                "--messages",
                str(h * args.messages),
                "--timeout",
                "30",
            ]
            for h in halves
        ]
        return run_setup(args, serves, shares)
    finally:
        for serve in serves:
            serve.stop()
        redis.terminate()
        redis.wait(10)


def show(name: str, row: dict[str, Any]) -> None:
    lat = row["latency_ms"]
    print(
        f"{name:<26}{row['delivered']:>10,}{row['lost']:>8,}{row['delivered_per_s']:>14,.0f}"
        + "".join(f"{lat[p]:>9.2f}" for p in PERCENTILES)
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--subscribers", type=int, default=1000)
    parser.add_argument("--rate", type=float, default=50.0, help="publisher messages/s")
    parser.add_argument("--messages", type=int, default=500, help="publisher messages")
    parser.add_argument("--size", default="64", help="message size (bench --size)")
    parser.add_argument("--drain", type=float, default=15.0, help="seconds to receive the rest")
    parser.add_argument("--quick", action="store_true", help="200 subscribers, 100 messages")
    parser.add_argument("--json", action="store_true", help="print the results as JSON too")
    args = parser.parse_args()
    if args.quick:
        args.subscribers, args.messages, args.rate = 200, 100, 50.0
    raise_fd_limit()
    rows = {"one serve, no Redis": one_process(args), "two serves via Redis": through_redis(args)}
    print(
        f"fan-out: 1 publisher, {args.messages} messages of {args.size} bytes at "
        f"{args.rate:g}/s, {args.subscribers} subscribers "
        f"({args.messages * args.subscribers:,} deliveries expected)"
    )
    print(
        f"{'':<26}{'delivered':>10}{'lost':>8}{'delivered/s':>14}"
        + "".join(f"{p + ' ms':>9}" for p in PERCENTILES)
    )
    for name, row in rows.items():
        show(name, row)
    one, redis = rows.values()
    print(
        f"Redis / one: delivered/s {redis['delivered_per_s'] / one['delivered_per_s']:.2f}x, "
        f"p50 {redis['latency_ms']['p50'] / max(one['latency_ms']['p50'], 1e-9):.2f}x, "
        f"p99 {redis['latency_ms']['p99'] / max(one['latency_ms']['p99'], 1e-9):.2f}x"
    )
    for name, row in rows.items():
        if row["errors"]:
            print(f"{name}: subscriber errors {row['errors']}")
    if args.json:
        print(json.dumps(rows))
    return 0 if all(row["lost"] == 0 for row in rows.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
