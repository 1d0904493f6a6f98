"""What scripts/bench_serve.py measures and keeps: servers, scenarios, settings, results.

Shared by the benchmark's main script and its report (report.py).
"""

from __future__ import annotations

import re
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
HOST = "127.0.0.1"
VENV_PYTHON = ROOT / ".venv" / "bin" / "python"
PYTHON = str(VENV_PYTHON) if VENV_PYTHON.exists() else sys.executable
GENERATOR_LIMIT = 0.9  # a generator busier than this may have limited the result
OTHER_LOAD_LIMIT = 0.15  # other processes busier than this disturbed the run
LISTENING = re.compile(rb"(?:ws|tcp)://127\.0\.0\.1:(\d+)/")


class BenchFailure(Exception):
    """A server did not start, or a run failed its checks."""


@dataclass(frozen=True)
class Server:
    key: str  # the --only name
    label: str  # the row label
    argv: Callable[[int, bool], list[str]]  # (port, binary messages) -> command line
    raw: bool = False  # a plain TCP echo, not WebSocket
    quiet_stdout: bool = False  # stdout to /dev/null (its port picked in advance)
    node: bool = False


@dataclass(frozen=True)
class Metric:
    key: str  # in the load generator's result
    title: str  # column title
    higher_is_better: bool
    digits: int = 0


@dataclass(frozen=True)
class Scenario:
    key: str
    spec: dict[str, Any]
    metrics: tuple[Metric, ...]
    timed: bool = True  # has a --duration window (not rss)


@dataclass
class Settings:
    duration: float
    warmup: float
    rounds: int
    idle_conns: int
    servers: list[Server]
    scenarios: list[Scenario]
    server_cpu: int | None
    gen_cpu: int | None
    node_loadgen: bool = False
    loop: str = "asyncio"  # the Python load generator's event loop
    retries: int = 1  # extra runs of a round that other programs disturbed


@dataclass
class Results:
    # (server key, scenario key) -> one result dict per round
    rounds: dict[tuple[str, str], list[dict[str, Any]]] = field(default_factory=dict)
    # (server key, scenario key) -> why each failed round failed
    failures: dict[tuple[str, str], list[str]] = field(default_factory=dict)

    def used(self, server: str, scenario: str) -> list[dict[str, Any]]:
        """The rounds a cell's numbers come from.

        Those that other programs did not disturb (``other_cpu`` at most
        OTHER_LOAD_LIMIT) if there is one, else all of them (see ``disturbed``).
        """
        rounds = self.rounds.get((server, scenario), [])
        clean = [r for r in rounds if r.get("other_cpu", 0.0) <= OTHER_LOAD_LIMIT]
        return clean or rounds

    def disturbed(self, server: str, scenario: str) -> bool:
        """True if every round of the cell was disturbed by other programs."""
        rounds = self.rounds.get((server, scenario), [])
        return bool(rounds) and all(r.get("other_cpu", 0.0) > OTHER_LOAD_LIMIT for r in rounds)

    def median(self, server: str, scenario: str, key: str) -> float | None:
        values = [r[key] for r in self.used(server, scenario) if key in r]
        return statistics.median(values) if values else None

    def spread(self, server: str, scenario: str, key: str) -> float | None:
        values = [r[key] for r in self.used(server, scenario) if key in r]
        if len(values) < 2:
            return None
        middle = statistics.median(values)
        return (max(values) - min(values)) / middle if middle else None
