"""How much load ``wstool bench`` puts on a server, beside two other generators, in one run.

One ``wstool serve -q`` is pinned to the first CPU, and each load generator in
turn to the second: ``wstool bench`` (as it is, and with ``--no-stamps``: prebuilt
messages without the timestamp header, for the small-message scenario), the uvloop
client of scripts/bench_serve
(loadgen.py, the fastest Python generator there) and Node's ``ws`` client
(tests/interop/node/ws_load.js). Every one verifies each echo. The scenarios:

* ``msg32``: 32-byte text messages, 50 connections x 16 in flight;
* ``bin64k``: 64 KiB binary messages, 8 connections x 4 in flight.

For each generator: messages per second, the CPU it used (1.0 = one core
busy), messages per second per generator core, and the server's CPU, each the
median of ``--rounds`` rounds (the generators take turns, in a rotated order
each round, so that a slow spell of a shared machine does not fall on one
generator only). The ratio lines compare wstool bench with the best of the
others, on both rates: the ratio of the medians, each round's ratio, and the
median of those (each round's generators ran minutes apart at most, so that
one is the least disturbed by a machine whose speed drifts). Then, for each
scenario, ``--rounds`` more runs of wstool bench and the uvloop client at the
same moment, both on the generator CPU: the ratio of their msgs/s per core
of their own, which a drift of the machine's speed touches least.

Usage: ``python3 scripts/bench_loadgen.py [--duration 5] [--rounds 3] [--scenarios msg32,bin64k]``.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
PYTHON = str(ROOT / ".venv" / "bin" / "python") if (ROOT / ".venv").is_dir() else sys.executable
NODE_LOAD = ROOT / "tests" / "interop" / "node" / "ws_load.js"
UVLOOP_LOAD = ROOT / "scripts" / "bench_serve" / "loadgen.py"
LISTENING = re.compile(rb"listening on ws://[^/\s]+:(\d+)/")
WARMUP = 1.0
sys.path.insert(0, str(UVLOOP_LOAD.parent))
from loadgen import server_cpu as cpu_seconds  # noqa: E402  (/proc CPU seconds of a pid)

NO_STAMPS = "wstool bench --no-stamps"
"""Prebuilt messages without the timestamp header, as the uvloop client sends them
(small messages only: larger ones are sent from prebuilt pieces already)."""


@dataclass(frozen=True)
class Scenario:
    name: str
    size: int
    binary: bool
    connections: int
    inflight: int


SCENARIOS = {
    "msg32": Scenario("msg32", 32, False, 50, 16),
    "bin64k": Scenario("bin64k", 65536, True, 8, 4),
}


def pinned(argv: list[str], cpu: int | None) -> list[str]:
    if cpu is None or shutil.which("taskset") is None:
        return argv
    return ["taskset", "-c", str(cpu), *argv]


def start_server(cpu: int | None) -> tuple[subprocess.Popen[bytes], int]:
    argv = [PYTHON, "-m", "wstool", "serve", "-q", "--port", "0", "--ping-interval", "0"]
    proc = subprocess.Popen(pinned(argv, cpu), stdout=subprocess.PIPE, cwd=ROOT)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = LISTENING.search(line)
    if not match:
        proc.kill()
        raise SystemExit(f"wstool serve did not start: {line!r}")
    # serve -q still logs each connection: a pipe nobody reads would fill and stop it.
    threading.Thread(target=collections.deque, args=(proc.stdout, 0), daemon=True).start()
    return proc, int(match.group(1))


def generator_argv(name: str, scenario: Scenario, port: int, duration: float) -> list[str]:
    url = f"ws://127.0.0.1:{port}/"
    if name.startswith("wstool bench"):
        kind = "--binary" if scenario.binary else "--text"
        plain = ["--no-stamps"] if name == NO_STAMPS else []
        return [
            PYTHON, "-m", "wstool", "bench", url, "-c", str(scenario.connections),
            "--inflight", str(scenario.inflight), "--size", str(scenario.size), kind,
            "--ramp-up", str(WARMUP), "--duration", str(duration), "--json", *plain,
        ]  # fmt: skip
    if name == "uvloop loadgen":
        spec = {
            "scenario": "pipeline", "host": "127.0.0.1", "port": port, "raw": False,
            "server_pid": 0, "conns": scenario.connections, "inflight": scenario.inflight,
            "size": scenario.size, "binary": scenario.binary, "warmup": WARMUP,
            "duration": duration, "loop": "uvloop",
        }  # fmt: skip
        return [PYTHON, str(UVLOOP_LOAD), json.dumps(spec)]
    kind = "binary" if scenario.binary else "text"
    return [
        "node", str(NODE_LOAD), url, str(scenario.connections), str(scenario.inflight),
        str(scenario.size), kind, str(duration),
    ]  # fmt: skip


def run_generator(
    name: str, scenario: Scenario, server: subprocess.Popen[bytes], port: int, args: Any
) -> dict[str, Any]:
    return run_at_once([name], scenario, server, port, args)[name]


def run_at_once(
    names: list[str], scenario: Scenario, server: subprocess.Popen[bytes], port: int, args: Any
) -> dict[str, dict[str, Any]]:
    """Run the generators ``names`` at the same time on the generator CPU (one alone:
    a turn of a round); each one's rate, CPU and rate per core of its own."""
    procs = {
        name: subprocess.Popen(
            pinned(generator_argv(name, scenario, port, args.duration), args.gen_cpu),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            cwd=ROOT,
        )
        for name in names
    }
    # CPU is sampled inside the measured window: after the warm-up, before the end.
    time.sleep(WARMUP + 0.5)
    gen0 = {name: cpu_seconds(proc.pid) for name, proc in procs.items()}
    srv0, t0 = cpu_seconds(server.pid), time.monotonic()
    time.sleep(max(0.5, args.duration - 1.0))
    gen1 = {name: cpu_seconds(proc.pid) for name, proc in procs.items()}
    srv1, t1 = cpu_seconds(server.pid), time.monotonic()
    elapsed = t1 - t0
    results = {}
    for name, proc in procs.items():
        result = finished(proc, args.duration)
        if "error" not in result:
            rate, gen_cpu = float(result["msgs_per_s"]), (gen1[name] - gen0[name]) / elapsed
            result = {
                "msgs_per_s": rate,
                "gen_cpu": gen_cpu,
                "per_core": rate / gen_cpu if gen_cpu > 0 else 0.0,
                "srv_cpu": (srv1 - srv0) / elapsed,
            }
        results[name] = result
    return results


def finished(proc: subprocess.Popen[bytes], duration: float) -> dict[str, Any]:
    """A generator's last JSON line once it ends, or {"error": ...}."""
    out, err = proc.communicate(timeout=duration + 60)
    try:
        result: dict[str, Any] = json.loads(out.decode().strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": f"exit {proc.returncode}: {err.decode(errors='replace')[-300:]}"}
    if "error" in result or result.get("ok") is False:
        return {"error": str(result.get("error") or result.get("errors"))}
    return result


SIDE_BY_SIDE = ("wstool bench", "uvloop loadgen")


def side_by_side(scenario: Scenario, server: subprocess.Popen[bytes], port: int, args: Any) -> None:
    """wstool bench and the uvloop client at the same moment, sharing the generator CPU:
    a slow spell of the machine falls on both alike, so the ratio of their rates per
    core of their own is the steadiest comparison a shared machine gives."""
    ours, theirs = SIDE_BY_SIDE
    ratios = []
    print(f"  side by side ({ours} and {theirs} at once on CPU {args.gen_cpu}), per core:")
    for number in range(args.rounds):
        both = run_at_once(list(SIDE_BY_SIDE), scenario, server, port, args)
        if any("error" in r or not r["per_core"] for r in both.values()):
            print(f"    round {number + 1}: failed: {both}")
            continue
        ratio = both[ours]["per_core"] / both[theirs]["per_core"]
        ratios.append(ratio)
        print(
            f"    round {number + 1}: {ours} {both[ours]['per_core']:,.0f}, "
            f"{theirs} {both[theirs]['per_core']:,.0f} msgs/s per core: {ratio:.2f}x"
        )
    if ratios:
        median = statistics.median(ratios)
        print(f"  {ours} / {theirs} side by side, per core: median {median:.2f}x")


def run_rounds(
    generators: list[str], scenario: Scenario, server: subprocess.Popen[bytes], port: int, args: Any
) -> tuple[dict[str, dict[str, Any]], list[dict[str, dict[str, Any]]]]:
    """Each generator once per round, the order rotated each round; the medians, and
    each round's results."""
    rounds: list[dict[str, dict[str, Any]]] = []
    for number in range(args.rounds):
        turn = number % len(generators)
        rounds.append(
            {
                g: run_generator(g, scenario, server, port, args)
                for g in generators[turn:] + generators[:turn]
            }
        )
    medians: dict[str, dict[str, Any]] = {}
    for name in generators:
        runs = [r[name] for r in rounds]
        ok = [r for r in runs if "error" not in r]
        if len(ok) < len(runs):
            medians[name] = next(r for r in runs if "error" in r)
            continue
        medians[name] = {key: statistics.median(r[key] for r in ok) for key in ok[0]}
    return medians, rounds


def print_scenario(
    scenario: Scenario, results: dict[str, dict[str, Any]], rounds: list[dict[str, dict[str, Any]]]
) -> None:
    print(
        f"\n{scenario.name}: {scenario.size:,} B {'binary' if scenario.binary else 'text'}, "
        f"{scenario.connections} connections x {scenario.inflight} in flight; "
        f"medians of {len(rounds)} round{'s' if len(rounds) != 1 else ''}"
    )
    print(f"  {'generator':<26} {'msgs/s':>10} {'gen CPU':>8} {'msgs/s/core':>12} {'srv CPU':>8}")
    for name, r in results.items():
        if "error" in r:
            print(f"  {name:<26} failed: {r['error']}")
            continue
        print(
            f"  {name:<26} {r['msgs_per_s']:>10,.0f} {r['gen_cpu']:>8.2f} "
            f"{r['per_core']:>12,.0f} {r['srv_cpu']:>8.2f}"
        )
    for name in ("wstool bench", NO_STAMPS):
        for key, label in (("msgs_per_s", "msgs/s"), ("per_core", "msgs/s per generator core")):
            ratio = best_ratio(results, name, key)
            if ratio is None:
                continue
            each = [x for x in (best_ratio(r, name, key) for r in rounds) if x is not None]
            by_round = ", ".join(f"{x:.2f}x" for x in each)
            paired = f"; their median {statistics.median(each):.2f}x" if each else ""
            print(f"  {name} / best other, {label}: {ratio:.2f}x (rounds: {by_round}{paired})")


def best_ratio(results: dict[str, dict[str, Any]], name: str, key: str) -> float | None:
    """``name``'s ``key`` over the best other generator's, or None if either failed."""
    ours = results.get(name, {})
    others = [r for n, r in results.items() if not n.startswith("wstool") and "error" not in r]
    if "error" in ours or not ours or not others:
        return None
    return float(ours[key]) / max(float(r[key]) for r in others)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--duration", type=float, default=5.0, help="seconds measured (5)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds, medians taken (3)")
    parser.add_argument("--scenarios", default="msg32,bin64k", help="msg32,bin64k")
    parser.add_argument(
        "--generators",
        default=f"wstool bench,{NO_STAMPS},uvloop loadgen,node ws",
        help=f"comma-separated: wstool bench, {NO_STAMPS}, uvloop loadgen, node ws",
    )
    args = parser.parse_args(argv)
    if args.rounds < 1:
        parser.error("--rounds must be at least 1")
    allowed = sorted(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else []
    server_cpu, args.gen_cpu = (allowed[0], allowed[1]) if len(allowed) >= 2 else (None, None)
    generators = [g.strip() for g in args.generators.split(",") if g.strip()]
    if "node ws" in generators and shutil.which("node") is None:
        print("node is not installed: skipping Node's ws client", file=sys.stderr)
        generators.remove("node ws")
    print(f"server on CPU {server_cpu}, generators on CPU {args.gen_cpu}; {args.duration:g} s each")
    server, port = start_server(server_cpu)
    try:
        for name in args.scenarios.split(","):
            scenario = SCENARIOS[name.strip()]
            taking_part = [g for g in generators if g != NO_STAMPS or scenario.size < 4096]
            print_scenario(scenario, *run_rounds(taking_part, scenario, server, port, args))
            if all(g in generators for g in SIDE_BY_SIDE):
                side_by_side(scenario, server, port, args)
    finally:
        server.terminate()
        server.wait(10)
    return 0


if __name__ == "__main__":
    sys.exit(main())
