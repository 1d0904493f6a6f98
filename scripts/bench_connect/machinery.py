"""The machinery of scripts/bench_connect.py: pinned processes, servers, other load, tmux."""

from __future__ import annotations

import contextlib
import os
import re
import resource
import select
import shlex
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

LISTENING = re.compile(rb"ws://127\.0\.0\.1:(\d+)/")
TMUX_SIZE = ("120", "40")
TIMEOUT = 20.0  # seconds any single measured step may take


class BenchError(Exception):
    """A server did not start, or a run failed or failed its checks."""


# -- CPUs and processes ----------------------------------------------------------


@dataclass
class Cpus:
    client: set[int] | None = None  # the measured clients (and the tmux server)
    other: set[int] | None = None  # servers, this script, tmux polling

    @classmethod
    def split(cls) -> Cpus:
        cpus = sorted(os.sched_getaffinity(0))
        if len(cpus) < 2:
            return cls()
        return cls({cpus[1]}, {cpus[0]})

    def describe(self) -> str:
        if self.client is None:
            return "not pinned (fewer than 2 CPUs)"
        return (
            f"clients on CPU {min(self.client)}, servers and harness on CPU {min(self.other or ())}"
        )


def _pin(cpus: set[int] | None) -> Callable[[], None] | None:
    if cpus is None:
        return None
    return lambda: os.sched_setaffinity(0, cpus)


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process this script started (SIGTERM, then SIGKILL)."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(5)


class Server:
    """A server process whose first stdout line names its port."""

    def __init__(self, label: str, argv: list[str], tmp: Path, cpus: Cpus, env: dict[str, str]):
        self.label = label
        self.log = tmp / f"{label}.out"
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(
                argv,
                stdin=subprocess.DEVNULL,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=_pin(cpus.other),
                env=env,
            )
        deadline = time.monotonic() + TIMEOUT
        while True:
            match = LISTENING.search(self.log.read_bytes())
            if match:
                self.port = int(match.group(1))
                return
            if self.proc.poll() is not None or time.monotonic() > deadline:
                _stop(self.proc)
                text = self.log.read_text(errors="replace")[-2000:]
                raise BenchError(f"{label} did not start: {text}")
            time.sleep(0.01)

    def url(self, path: str = "") -> str:
        return f"ws://127.0.0.1:{self.port}/{path}"

    def stop(self) -> None:
        _stop(self.proc)


def _read_until(
    proc: subprocess.Popen[bytes], done: Callable[[bytes], bool], limit: float
) -> bytes:
    """Read proc's stdout until ``done(everything so far)``, EOF, or ``limit`` seconds."""
    assert proc.stdout is not None
    fd = proc.stdout.fileno()
    buf = b""
    deadline = time.perf_counter() + limit
    while not done(buf):
        left = deadline - time.perf_counter()
        if left <= 0:
            raise BenchError(f"timed out; output so far: {buf[-300:]!r}")
        ready, _, _ = select.select([fd], [], [], left)
        if not ready:
            continue
        chunk = os.read(fd, 65536)
        if not chunk:
            break
        buf += chunk
    return buf


# -- other load ------------------------------------------------------------------


def _busy_seconds() -> float:
    """CPU time (all CPUs, not idle or iowait) since boot, from /proc/stat."""
    with open("/proc/stat") as stat:
        fields = [int(v) for v in stat.readline().split()[1:]]
    return (sum(fields[:8]) - fields[3] - fields[4]) / os.sysconf("SC_CLK_TCK")


def _own_seconds() -> float:
    """CPU time of this script and of every child it has waited for."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


class LoadMeter:
    """How busy everything else on the machine kept the CPUs during a part."""

    def __init__(self) -> None:
        self.t0, self.busy0, self.own0 = time.monotonic(), _busy_seconds(), _own_seconds()

    def other(self, extra_own: float = 0.0) -> str:
        """Other processes' CPU, in % of one core; ``extra_own``: ours not waited for."""
        elapsed = time.monotonic() - self.t0
        busy = _busy_seconds() - self.busy0
        own = _own_seconds() - self.own0 + extra_own
        share = max(0.0, busy - own) / elapsed if elapsed > 0 else 0.0
        verdict = "quiet" if share < 0.1 else "DISTURBED: the numbers are low and noisy"
        return f"other processes used {share:.0%} of a core on average during this part ({verdict})"


# -- tmux ----------------------------------------------------------------------


class Tmux:
    """A private tmux server (own socket, no config) whose panes run on the client CPU."""

    def __init__(self, cpus: Cpus, env: dict[str, str], poll: float) -> None:
        self.base = ["tmux", "-L", f"bench_connect_{os.getpid()}", "-f", "/dev/null"]
        self.poll = poll
        self.runs = 0
        self.size = ["-x", TMUX_SIZE[0], "-y", TMUX_SIZE[1]]
        subprocess.run(
            [*self.base, "new-session", "-d", "-s", "keeper", *self.size, "sleep 86400"],
            check=True,
            preexec_fn=_pin(cpus.client),
            env=env,
        )
        # A pane whose program died stays, so its last screen can be shown.
        self._tmux("set-option", "-g", "remain-on-exit", "on")
        self.socket = self._tmux("display-message", "-p", "#{socket_path}").strip()

    def _tmux(self, *args: str) -> str:
        done = subprocess.run(
            [*self.base, *args], capture_output=True, check=False, timeout=TIMEOUT
        )
        if done.returncode != 0:
            raise BenchError(f"tmux {args[0]}: {done.stderr.decode(errors='replace').strip()}")
        return done.stdout.decode(errors="replace")

    def time_to_prompt(self, argv: Sequence[str], prompt: re.Pattern[str]) -> float:
        """Seconds from launching ``argv`` in a new session to ``prompt`` on a pane line."""
        self.runs += 1
        name = f"run{self.runs}"
        t0 = time.perf_counter()
        new = ["new-session", "-d", "-P", "-F", "#{pane_pid}", "-s", name, *self.size]
        pane_pid = int(self._tmux(*new, shlex.join(argv)))
        try:
            while True:
                screen = self._tmux("capture-pane", "-p", "-t", name)
                if any(prompt.match(line) for line in screen.splitlines()):
                    return time.perf_counter() - t0
                if time.perf_counter() - t0 > TIMEOUT:
                    raise BenchError(f"no prompt after {TIMEOUT:.0f} s; screen:\n{screen.strip()}")
                time.sleep(self.poll)
        finally:
            with contextlib.suppress(BenchError):
                self._tmux("kill-session", "-t", name)
            _reap_pid(pane_pid)

    def cpu_seconds(self) -> float:
        """CPU time of the tmux server and the pane processes it has reaped."""
        with contextlib.suppress(BenchError, OSError, ValueError):
            pid = int(self._tmux("display-message", "-p", "#{pid}"))
            with open(f"/proc/{pid}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            return sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")
        return 0.0

    def close(self) -> None:
        with contextlib.suppress(BenchError, subprocess.TimeoutExpired):
            self._tmux("kill-server")
        if self.socket:  # kill-server leaves the socket file behind
            with contextlib.suppress(OSError):
                os.unlink(self.socket)


def _reap_pid(pid: int) -> None:
    """Wait for a pane's process (SIGHUP'd by kill-session) to go; SIGKILL it if not."""
    deadline = time.monotonic() + 3
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.01)
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGKILL)
