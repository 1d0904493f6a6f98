"""Benchmark ``wstool proxy`` against a plain Twisted TCP relay (the ceiling), in one run.

Run from the repository root::

    .venv/bin/python scripts/bench_proxy.py              # ~2 minutes
    .venv/bin/python scripts/bench_proxy.py --quick      # ~40 seconds
    .venv/bin/python scripts/bench_proxy.py --setup-mitmproxy   # adds mitmdump (own venv)

What is measured. One upstream, ``wstool serve -q --no-deflate``, and the
relay under test run pinned to one CPU; the load generator of
``scripts/bench_serve`` (asyncio on raw sockets, uvloop when installed, every
echo checked byte for byte and every message counted back) to another. The
relays (``--only`` names):

  tcp          a plain Twisted TCP relay: accept, connect upstream, copy bytes
               both ways with the same back-pressure as the proxy; no
               parsing. The ceiling for any relay on Twisted.
  wstool       ``wstool proxy -q --to ws://...``: bytes relayed, a copy of
               each direction decoded (frames counted, every rule checked,
               closes and violations reported)
  wstool-log   ``wstool proxy`` at its default level with stdout to a file:
               every frame both ways logged (the file's size is shown)
  mitmdump     ``mitmdump --mode reverse:http://...`` from mitmproxy, when a
               venv made with ``--setup-mitmproxy`` (or ``--mitmproxy-venv``)
               has it; it is never a dependency of wstool

Scenarios (``--scenarios``):

  msg32        32-byte text messages, 50 connections x 16 in flight: msgs/s
  bin1m        1 MiB binary messages, 1 connection x 2 in flight: MB/s
  latency      one connection, one 32-byte message in flight: p50 and p99 of
               the round trip in microseconds
  conns1000    1,000 connections open at once, 1 message in flight each:
               msgs/s; every message sent must come back (nothing lost)

The ratio table divides each relay's figure by the TCP relay's, and checks
wstool against the goals: 1 MiB >= 0.8x, 32 B >= 0.4x, p50 <= 1.3x, and no
message lost with 1,000 connections. RSS is the relay's VmRSS after the
scenario.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_serve import (
    PYTHON,
    ROOT,
    BenchFailure,
    Processes,
    accepts,
    choose_cpus,
    free_port,
    run_loadgen,
)
from report import background_load, cpu_model, uvloop_version  # scripts/bench_serve/report.py

HOST = "127.0.0.1"
PYENV_312 = Path("/root/.pyenv/versions/3.12.1/bin/python")
DEFAULT_MITM_VENV = Path.home() / ".cache" / "wstool-bench" / "mitmproxy-venv"
UPSTREAM = [PYTHON, "-m", "wstool", "serve", "-q", "--no-deflate", "--ping-interval", "0"]
GOALS = {"msg32": (0.4, ">="), "bin1m": (0.8, ">="), "latency": (1.3, "<=")}


# -- the relays -------------------------------------------------------------------


@dataclass(frozen=True)
class Relay:
    key: str
    label: str
    argv: Callable[[int, int, Path], list[str]]  # (listen port, upstream port, workdir)
    log_file: bool = False


def _wstool_proxy(*extra: str) -> Callable[[int, int, Path], list[str]]:
    def argv(port: int, upstream: int, _: Path) -> list[str]:
        return [
            PYTHON,
            "-m",
            "wstool",
            "proxy",
            "--listen",
            f"{HOST}:{port}",
            "--to",
            f"ws://{HOST}:{upstream}/",
            *extra,
        ]

    return argv


def _tcp_relay(port: int, upstream: int, _: Path) -> list[str]:
    return [PYTHON, str(Path(__file__).resolve()), "--tcp-relay", str(port), str(upstream)]


def _mitmdump(venv: Path) -> Callable[[int, int, Path], list[str]]:
    def argv(port: int, upstream: int, workdir: Path) -> list[str]:
        return [
            str(venv / "bin" / "mitmdump"),
            "--mode",
            f"reverse:http://{HOST}:{upstream}/",
            "--listen-host",
            HOST,
            "--listen-port",
            str(port),
            "--set",
            f"confdir={workdir / 'mitmproxy'}",
            "-q",
        ]

    return argv


def relays(mitm_venv: Path | None) -> list[Relay]:
    found = [
        Relay("tcp", "tcp relay (twisted)", _tcp_relay),
        Relay("wstool", "wstool proxy -q", _wstool_proxy("-q")),
        Relay("wstool-log", "wstool proxy > file", _wstool_proxy(), log_file=True),
    ]
    if mitm_venv is not None and (mitm_venv / "bin" / "mitmdump").exists():
        found.append(Relay("mitmdump", "mitmdump (reverse)", _mitmdump(mitm_venv)))
    return found


def run_tcp_relay(port: int, upstream: int) -> None:
    """The ceiling: a Twisted TCP relay with the proxy's back-pressure and nothing else."""
    from twisted.internet import endpoints, protocol, reactor

    class Upstream(protocol.Protocol):
        def __init__(self, client: Client) -> None:
            self.client = client

        def connectionMade(self) -> None:
            client = self.client
            client.upstream = self
            self.transport.write(b"".join(client.pending))
            client.pending = []
            client.transport.registerProducer(self.transport, True)
            self.transport.registerProducer(client.transport, True)
            client.transport.resumeProducing()

        def dataReceived(self, data: bytes) -> None:
            self.client.transport.write(data)

        def connectionLost(self, reason: Any = None) -> None:
            self.client.transport.loseConnection()

    class Client(protocol.Protocol):
        upstream: Upstream | None = None

        def connectionMade(self) -> None:
            self.pending: list[bytes] = []
            self.transport.pauseProducing()
            endpoint = endpoints.TCP4ClientEndpoint(reactor, HOST, upstream)
            factory = protocol.Factory.forProtocol(lambda: Upstream(self))
            endpoint.connect(factory).addErrback(lambda _: self.transport.loseConnection())

        def dataReceived(self, data: bytes) -> None:
            if self.upstream is None:
                self.pending.append(data)
            else:
                self.upstream.transport.write(data)

        def connectionLost(self, reason: Any = None) -> None:
            if self.upstream is not None:
                self.upstream.transport.loseConnection()

    factory = protocol.Factory.forProtocol(Client)
    factory.noisy = False
    endpoints.TCP4ServerEndpoint(reactor, port, backlog=1024, interface=HOST).listen(factory)
    reactor.run()


# -- scenarios ----------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    key: str
    spec: dict[str, Any]
    metric: str
    unit: str


def scenarios(quick: bool) -> list[Scenario]:
    seconds = 2.0 if quick else 5.0
    warm = 0.5 if quick else 1.0
    timed = {"warmup": warm, "duration": seconds}
    return [
        Scenario(
            "msg32",
            {"scenario": "pipeline", "conns": 50, "inflight": 16, "size": 32, **timed},
            "msgs_per_s",
            "msgs/s",
        ),
        Scenario(
            "bin1m",
            {
                "scenario": "pipeline",
                "conns": 1,
                "inflight": 2,
                "size": 2**20,
                "binary": True,
                **timed,
            },
            "mb_per_s",
            "MB/s",
        ),
        Scenario("latency", {"scenario": "latency", "size": 32, **timed}, "p50_us", "µs p50"),
        Scenario(
            "conns1000",
            {
                "scenario": "pipeline",
                "conns": 1000,
                "inflight": 1,
                "size": 32,
                "batch": 50,
                **timed,
            },
            "msgs_per_s",
            "msgs/s",
        ),
    ]


def rss_kib(pid: int) -> int | None:
    with contextlib.suppress(OSError):
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return None


# -- the run ----------------------------------------------------------------------------


@dataclass
class Cell:
    value: float | None = None
    p99: float | None = None
    rss: int | None = None
    cpu: float | None = None
    lost: int | None = None
    error: str | None = None


def start(argv: list[str], procs: Processes, cpu: int | None, out: Any, port: int) -> Any:
    proc = procs.start(argv, cpu, stdout=out, stderr=subprocess.PIPE, cwd=ROOT)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            err = proc.stderr.read().decode(errors="replace").strip().splitlines()
            raise BenchFailure(f"{argv[0]} exited: {err[-1] if err else 'no output'}")
        if accepts(port):
            return proc
        time.sleep(0.05)
    procs.stop(proc)
    raise BenchFailure(f"{' '.join(argv[:4])} did not listen")


def measure(
    relay: Relay,
    scenario: Scenario,
    upstream: int,
    procs: Processes,
    cpus: tuple[int | None, int | None],
    workdir: Path,
    loop: str,
) -> Cell:
    port = free_port()
    log_path = workdir / f"{relay.key}-{scenario.key}.log"
    with open(log_path if relay.log_file else os.devnull, "wb") as out:
        proc = start(relay.argv(port, upstream, workdir), procs, cpus[0], out, port)
    try:
        spec = {
            **scenario.spec,
            "host": HOST,
            "port": port,
            "raw": False,
            "server_pid": proc.pid,
            "cpus": [c for c in cpus if c is not None],
            "loop": loop,
        }
        result = run_loadgen(spec, procs, cpus[1], timeout=180)
        cell = Cell(
            value=result.get(scenario.metric),
            p99=result.get("p99_us"),
            rss=rss_kib(proc.pid),
            cpu=result.get("srv_cpu"),
        )
        if scenario.key == "conns1000":
            cell.lost = 0  # run_pipeline fails the run unless every echo came back
        if relay.log_file:
            cell.error = f"log {log_path.stat().st_size / 1e6:.0f} MB"
        return cell
    except BenchFailure as exc:
        return Cell(error=str(exc))
    finally:
        procs.stop(proc)
        with contextlib.suppress(OSError):
            log_path.unlink()


def fmt(value: float | None, digits: int = 0) -> str:
    return "-" if value is None else f"{value:,.{digits}f}"


def print_tables(
    table: dict[str, dict[str, Cell]], rows: list[Relay], cols: list[Scenario]
) -> None:
    head = ["relay"] + [f"{c.key} ({c.unit})" for c in cols]
    widths = [22] + [max(18, len(h) + 2) for h in head[1:]]
    print("\n" + "".join(h.ljust(w) for h, w in zip(head, widths, strict=True)))
    for relay in rows:
        cells = [relay.label]
        for col in cols:
            cell = table[relay.key].get(col.key, Cell())
            text = fmt(cell.value, 1 if col.key == "latency" else 0)
            if col.key == "latency" and cell.p99 is not None:
                text += f" (p99 {cell.p99:,.0f})"
            if cell.value is None and cell.error:
                text = "failed"
            cells.append(text)
        print("".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    print("\nrelay CPU (% of one core) and RSS after each scenario (MiB)")
    for relay in rows:
        cells = [relay.label]
        for col in cols:
            cell = table[relay.key].get(col.key, Cell())
            cpu = "-" if cell.cpu is None else f"{cell.cpu * 100:.0f}%"
            rss = "-" if cell.rss is None else f"{cell.rss / 1024:.0f}"
            cells.append(f"{cpu} / {rss}")
        print("".join(c.ljust(w) for c, w in zip(cells, widths, strict=True)))
    notes = [
        f"{relay.key} {col.key}: {table[relay.key][col.key].error}"
        for relay in rows
        for col in cols
        if col.key in table[relay.key] and table[relay.key][col.key].error
    ]
    if notes:
        print("\nnotes: " + "; ".join(notes))


def print_ratios(
    table: dict[str, dict[str, Cell]], rows: list[Relay], cols: list[Scenario]
) -> bool:
    base = table.get("tcp", {})
    print("\nratios to the TCP relay (throughput: higher is better; latency: lower is better)")
    met = True
    for relay in rows:
        if relay.key == "tcp":
            continue
        cells = [relay.label.ljust(22)]
        for col in cols:
            mine, ceiling = table[relay.key].get(col.key, Cell()), base.get(col.key, Cell())
            if mine.value is None or not ceiling.value:
                cells.append("-".ljust(22))
                continue
            ratio = mine.value / ceiling.value
            text = f"{ratio:.2f}x"
            goal = GOALS.get(col.key)
            if relay.key == "wstool" and goal is not None:
                ok = ratio >= goal[0] if goal[1] == ">=" else ratio <= goal[0]
                met = met and ok
                text += f" ({'ok' if ok else 'MISSED'}: {goal[1]} {goal[0]})"
            cells.append(text.ljust(22))
        print("".join(cells))
    lost = table.get("wstool", {}).get("conns1000")
    if lost is None:
        print("\nwstool proxy, 1,000 connections: not run (--scenarios)")
        return met
    ok = lost.lost == 0
    met = met and ok
    verdict = "nothing lost" if ok else f"FAILED: {lost.error}"
    print(f"\nwstool proxy, 1,000 connections: {verdict}")
    return met


def setup_mitmproxy(venv: Path) -> None:
    if not PYENV_312.exists():
        raise SystemExit(f"--setup-mitmproxy needs Python 3.12 at {PYENV_312}")
    if not (venv / "bin" / "python").exists():
        subprocess.run([str(PYENV_312), "-m", "venv", str(venv)], check=True)
    subprocess.run(
        [str(venv / "bin" / "pip"), "install", "-q", "mitmproxy"], check=True, timeout=900
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="2 s per cell instead of 5")
    parser.add_argument("--only", help="relays, comma-separated (default: all found)")
    parser.add_argument("--scenarios", help="scenarios, comma-separated (default: all)")
    parser.add_argument("--loop", choices=("uvloop", "asyncio"), default=None)
    parser.add_argument("--mitmproxy-venv", type=Path, default=None, metavar="DIR")
    parser.add_argument(
        "--setup-mitmproxy",
        action="store_true",
        help=f"create the mitmproxy venv (default {DEFAULT_MITM_VENV}) with Python 3.12",
    )
    parser.add_argument("--tcp-relay", nargs=2, type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.tcp_relay:
        run_tcp_relay(*args.tcp_relay)
        return 0
    mitm_venv = args.mitmproxy_venv
    if args.setup_mitmproxy:
        mitm_venv = mitm_venv or DEFAULT_MITM_VENV
        setup_mitmproxy(mitm_venv)
    elif mitm_venv is None and (DEFAULT_MITM_VENV / "bin" / "mitmdump").exists():
        mitm_venv = DEFAULT_MITM_VENV
    rows = relays(mitm_venv)
    if args.only:
        wanted = set(args.only.split(","))
        rows = [r for r in rows if r.key in wanted or r.key == "tcp"]
    cols = scenarios(args.quick)
    if args.scenarios:
        wanted = set(args.scenarios.split(","))
        cols = [c for c in cols if c.key in wanted]
    loop = args.loop or ("uvloop" if uvloop_version() else "asyncio")
    cpus = choose_cpus()
    load = background_load(0.5)
    print(f"bench_proxy: {cpu_model()}; relay and upstream on CPU {cpus[0]}, load on {cpus[1]}")
    print(f"load generator: python/{loop}; background load {fmt(load, 2)} cores before the run")
    procs = Processes()
    table: dict[str, dict[str, Cell]] = {r.key: {} for r in rows}
    try:
        with tempfile.TemporaryDirectory(prefix="bench_proxy.") as tmp:
            workdir = Path(tmp)
            up_port = free_port()
            upstream = start(
                [*UPSTREAM, "--port", str(up_port)],
                procs,
                cpus[0],
                subprocess.DEVNULL,
                up_port,
            )
            for col in cols:
                for relay in rows:
                    print(f"  {relay.key} {col.key} ...", file=sys.stderr, flush=True)
                    table[relay.key][col.key] = measure(
                        relay, col, up_port, procs, cpus, workdir, loop
                    )
            procs.stop(upstream)
    finally:
        procs.stop_all()
    print_tables(table, rows, cols)
    met = print_ratios(table, rows, cols)
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
