"""--workers N: the plan split over N processes, their counters and histograms merged.

Each worker runs :func:`wstool.bench.driver.run_plan` on its share and sends
progress snapshots, then its counters with the histograms in HdrHistogram's
compressed encoding, through one queue. Ctrl-C reaches every process of the
terminal's process group; a worker stops as a single process does and still
reports what it measured. The soft limit on open files is raised to the hard
one in every process, so that thousands of connections fit.
"""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import queue
import resource
import signal
import time
from typing import Any

from wstool.bench.driver import BenchError, Progress, run_plan
from wstool.bench.plan import BenchPlan, split_plan
from wstool.bench.stats import Stats

__all__ = ["WorkersResult", "raise_open_files_limit", "run_workers"]

_FINISH_GRACE = 30.0


def raise_open_files_limit() -> int:
    """Raise the soft RLIMIT_NOFILE to the hard limit; return the limit now in force."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        except (ValueError, OSError):
            return soft
    return hard


class WorkersResult:
    """What the workers measured together.

    Attributes:
        stats: the merged counters and histograms.
        interrupted: a worker was stopped by Ctrl-C or SIGTERM.
        loop: the event loop's name.
        details: the first detail of each kind of error.
    """

    def __init__(self) -> None:
        self.stats = Stats()
        self.interrupted = False
        self.loop = ""
        self.details: dict[str, str] = {}


def _worker_main(plan: BenchPlan, results: Any, event_loop: str, stop: Any) -> None:
    """One worker process: run the share, report progress and the result through the queue.

    SIGINT is ignored until the run's loop handles it (the parent started the
    process with it ignored); ``stop`` (an Event) ends the run too, so a Ctrl-C
    that came before the loop was ready is not lost.
    """
    raise_open_files_limit()

    def progress(snapshot: dict[str, Any]) -> None:
        results.put(("progress", plan.worker, snapshot))

    try:
        run, loop = run_plan(plan, progress, event_loop=event_loop, should_stop=stop.is_set)
    except BenchError as exc:
        results.put(("error", plan.worker, str(exc)))
        return
    results.put(("done", plan.worker, run.stats.to_wire(), run.interrupted, loop, run.details))


def _total(snapshots: dict[int, dict[str, Any]]) -> dict[str, Any]:
    total: dict[str, Any] = {"worker": -1}
    for snapshot in snapshots.values():
        for key, value in snapshot.items():
            if key == "elapsed":
                total[key] = max(total.get(key, 0.0), value)
            elif key != "worker":
                total[key] = total.get(key, 0) + value
    return total


def run_workers(
    plan: BenchPlan, workers: int, progress: Progress | None, *, event_loop: str = "auto"
) -> WorkersResult:
    """Run ``plan`` split over ``workers`` processes and merge what they measured.

    Raises:
        BenchError: a worker could not start its run, or died without a result.
    """
    context = multiprocessing.get_context("spawn")
    results: Any = context.Queue()
    stop: Any = context.Event()
    shares = split_plan(plan, workers)
    processes = [
        context.Process(target=_worker_main, args=(share, results, event_loop, stop), daemon=True)
        for share in shares
    ]
    merged = WorkersResult()
    snapshots: dict[int, dict[str, Any]] = {}
    pending = {share.worker for share in shares}

    def forward(number: int, frame: Any) -> None:
        # Ctrl-C on a terminal reaches the workers too; a SIGINT sent to this
        # process alone is passed on. A worker stops once, however many it gets.
        merged.interrupted = True
        stop.set()
        for process in processes:
            if process.pid is not None and process.is_alive():
                _interrupt(process.pid)

    # Started with SIGINT ignored, a worker cannot be killed by a Ctrl-C that comes
    # while it is still importing; its loop takes the signal over once it runs.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        for process in processes:
            process.start()
        signal.signal(signal.SIGINT, forward)
        _collect(results, processes, pending, snapshots, merged, progress)
    finally:
        signal.signal(signal.SIGINT, previous)
        for process in processes:
            process.join(timeout=_FINISH_GRACE)
            if process.is_alive():
                process.kill()
    return merged


def _interrupt(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGINT)


def _collect(
    results: Any,
    processes: list[Any],
    pending: set[int],
    snapshots: dict[int, dict[str, Any]],
    merged: WorkersResult,
    progress: Progress | None,
) -> None:
    errors = []
    last_seen = time.monotonic()
    while pending:
        try:
            message = results.get(timeout=0.5)
        except queue.Empty:
            if not any(p.is_alive() for p in processes) and time.monotonic() - last_seen > 2:
                raise BenchError(f"{len(pending)} worker(s) ended without a result") from None
            continue
        last_seen = time.monotonic()
        kind, worker = message[0], message[1]
        if kind == "progress":
            snapshots[worker] = message[2]
            if progress is not None:
                progress(_total(snapshots))
        elif kind == "error":
            pending.discard(worker)
            errors.append(message[2])
        elif kind == "done":
            pending.discard(worker)
            _, _, wire, interrupted, loop, details = message
            merged.stats.merge_wire(wire)
            merged.interrupted = merged.interrupted or interrupted
            merged.loop = loop
            for key, detail in details.items():
                merged.details.setdefault(key, detail)
    if errors:
        raise BenchError(errors[0])
