"""Run a command-line WebSocket client once per case against the fuzzing server.

``wstool check client --cmd 'PROGRAM {url}'`` starts ``PROGRAM`` for each
case with ``{url}`` replaced by the case's ``/runCase`` URL. The program's
standard input is a pipe that stays open, with nothing written to it, until
the case is judged; its standard output and error are read and kept (the
last lines go into the result of a case it never ran). The program must
echo every message it receives, as Autobahn's test clients do: a plain
``websocat {url}`` prints messages and sends its input lines, so it echoes
nothing by itself. Once a case is judged (or the program has exited
without running it) the program's input is closed and, if it is still
running a moment later, it is terminated.
"""

from __future__ import annotations

import contextlib
import subprocess
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence

from wstool.check.clientrun import not_run
from wstool.check.fuzzingserver import FuzzingServer
from wstool.check.model import Case
from wstool.check.runner import Result

__all__ = ["CONNECT_WAIT", "NeverConnected", "command_for", "run_command_cases"]

CONNECT_WAIT = 15.0
"""Seconds a program has to open its connection for a case."""
CASE_WAIT = 600.0
"""Seconds a case may take once the program has connected (the runner bounds it anyway)."""
EXIT_WAIT = 2.0
"""Seconds a program has to exit once its input is closed, then once terminated."""
_KEPT_LINES = 5


class NeverConnected(Exception):
    """The program did not run the first case at all: it will not run the others either."""


def command_for(template: Sequence[str], url: str) -> list[str]:
    """The command line of one case: ``{url}`` replaced in every argument."""
    return [arg.replace("{url}", url) for arg in template]


class _Program:
    """One run of the client program, its output kept as it comes."""

    def __init__(self, argv: list[str]) -> None:
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )
        self.lines: deque[str] = deque(maxlen=_KEPT_LINES)
        self._readers = [
            threading.Thread(target=self._keep, args=(stream,), daemon=True)
            for stream in (self.process.stdout, self.process.stderr)
        ]
        for reader in self._readers:
            reader.start()

    def _keep(self, stream: object) -> None:
        for raw in iter(stream.readline, b""):  # type: ignore[attr-defined]
            self.lines.append(raw.decode("utf-8", "replace").rstrip())

    def exited(self) -> int | None:
        """The exit status, if the program has ended."""
        return self.process.poll()

    def stop(self) -> None:
        """Close its input; terminate it, then kill it, if it does not end."""
        process = self.process
        with contextlib.suppress(OSError):
            if process.stdin is not None:
                process.stdin.close()
        for ender in (None, process.terminate, process.kill):
            if ender is not None:
                with contextlib.suppress(OSError):
                    ender()
            try:
                process.wait(EXIT_WAIT)
                break
            except subprocess.TimeoutExpired:
                continue
        for reader in self._readers:
            reader.join(1.0)

    def tail(self) -> str:
        """Its last line of output (an error message, most often)."""
        lines = [line.strip() for line in self.lines if line.strip()]
        return lines[-1][-300:] if lines else ""


def _run_one(server: FuzzingServer, agent: str, case: Case, program: _Program) -> Result:
    """Wait for the case's result, or for the program to give up on it."""
    results = server.results
    began = time.monotonic()
    exited_at: float | None = None
    while True:
        found = results.wait(agent, case.id, 0.1)
        if found is not None:
            return found
        if results.running(agent, case.id):
            found = results.wait(agent, case.id, CASE_WAIT)
            if found is not None:
                return found
            return not_run(case, "no verdict", f"the case did not end within {CASE_WAIT:g}s")
        status = program.exited()
        if status is not None:
            exited_at = exited_at or time.monotonic()
            if time.monotonic() - exited_at > 0.5:
                output = program.tail()
                detail = f"the client exited with status {status} without running the case"
                return not_run(case, "no connection", detail + (f": {output}" if output else ""))
        elif time.monotonic() - began > CONNECT_WAIT:
            detail = f"the client did not connect within {CONNECT_WAIT:g}s"
            return not_run(case, "no connection", detail)


def run_command_cases(
    server: FuzzingServer,
    template: Sequence[str],
    agent: str,
    *,
    on_result: Callable[[Result], None] | None = None,
) -> list[Result]:
    """Run every case of ``server`` with the program, one after another.

    Args:
        server: the started fuzzing server.
        template: the command line, ``{url}`` in one of its arguments.
        agent: the agent name the cases are run under.
        on_result: called with each result.

    Returns:
        The results, in the order of the server's cases.

    Raises:
        OSError: the program cannot be started.
        NeverConnected: it did not connect for the first case.
    """
    report = on_result or (lambda result: None)
    results = []
    for number, case in enumerate(server.cases, 1):
        program = _Program(command_for(template, server.case_url(number, agent)))
        try:
            result = _run_one(server, agent, case, program)
        finally:
            program.stop()
        if result.wire is None:
            if number == 1:
                raise NeverConnected(f"case {case.id}: {result.detail}")
            server.results.add(agent, result)
        results.append(result)
        report(result)
    return results
