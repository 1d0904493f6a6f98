"""``wstool check client``: a test server for WebSocket clients (Autobahn's fuzzingserver).

It listens (127.0.0.1:9001 unless told otherwise), prints its URL, and
serves Autobahn's fuzzingserver protocol (:mod:`wstool.check.fuzzingserver`)
so that a client's existing Autobahn harness runs unchanged; the results of
an agent are printed, and written with ``--report DIR``, when its harness
asks for ``/updateReports``. With ``--cmd 'PROGRAM {url}'`` it runs the
program once per case instead (:mod:`wstool.check.clientcmd`) and ends when
every case has run, with ``N passed, M failed`` as ``check server`` does.
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import time
from pathlib import Path
from typing import Any

from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus

__all__ = ["DEFAULT_PORT", "list_client_cases", "run_client"]

DEFAULT_PORT = 9001
"""Autobahn's fuzzingserver port."""


def _patterns(values: list[str]) -> list[str]:
    return [p.strip() for value in values for p in value.split(",") if p.strip()]


def _client_spec(args: argparse.Namespace) -> Any:
    from wstool.check.spec import SpecError, read_spec

    if not args.spec:
        return None
    try:
        spec = read_spec(Path(args.spec))
    except SpecError as exc:
        raise CommandError(f"--spec: {exc}", ExitStatus.USAGE) from None
    if spec.servers and spec.url is None:
        message = "--spec: a fuzzingclient spec (it names servers): use 'wstool check server'"
        raise CommandError(message, ExitStatus.USAGE)
    return spec


def _client_selection(args: argparse.Namespace, spec: Any, agent: str | None) -> list[Any]:
    from wstool.check.clientrun import client_cases
    from wstool.check.suite import select_cases

    include = _patterns(args.cases)
    exclude = _patterns(args.exclude)
    if spec is not None:
        include = include or list(spec.cases)
        exclude += list(spec.exclude if agent is None else spec.excluded_for(agent))
    return select_cases(include or ["*"], exclude, cases=client_cases())


def list_client_cases(args: argparse.Namespace, env: Environment) -> int:
    """``wstool check list client``: the cases a client is checked with."""
    from wstool.check.describe import section_of

    for case in _client_selection(args, None, None):
        env.stdout.write(f"{case.id:<10} {section_of(case):<34} {case.description}\n")
    return ExitStatus.OK


def _address(args: argparse.Namespace, spec: Any) -> tuple[str, int]:
    from wstool.core.errors import WstoolError
    from wstool.core.uri import parse_uri

    host, port = args.host, args.port
    if spec is not None and spec.url is not None:
        try:
            uri = parse_uri(spec.url)
        except (WstoolError, ValueError) as exc:
            raise CommandError(f"--spec: url {spec.url!r}: {exc}", ExitStatus.USAGE) from None
        host = host or uri.host
        port = uri.port if port is None else port
    return host or "127.0.0.1", DEFAULT_PORT if port is None else port


def _template(command: str) -> list[str]:
    try:
        template = shlex.split(command)
    except ValueError as exc:
        raise CommandError(f"--cmd: {exc}", ExitStatus.USAGE) from None
    if not template or not any("{url}" in arg for arg in template):
        raise CommandError("--cmd: put {url} where the case's URL goes", ExitStatus.USAGE)
    if shutil.which(template[0]) is None:
        raise CommandError(f"--cmd: {template[0]!r}: no such program", ExitStatus.USAGE)
    return template


def _excluder(spec: Any) -> Any:
    from wstool.check.suite import matches

    if spec is None:
        return lambda agent, case_id: False
    return lambda agent, case_id: any(
        matches(case_id, pattern) for pattern in spec.exclude_agent.get(agent, ())
    )


def run_client(args: argparse.Namespace, env: Environment) -> int:
    """Run ``wstool check client``."""
    from wstool.cli.check_output import Output

    if args.target:
        raise CommandError(
            "client: takes no URL (say where to listen with --host, --port)", ExitStatus.USAGE
        )
    spec = _client_spec(args)
    template = _template(args.cmd) if args.cmd else None
    agent = args.agent or (os.path.basename(template[0]) if template else None)
    cases = _client_selection(args, spec, agent if template else None)
    if not cases:
        raise CommandError("no client case matches --cases/--exclude", ExitStatus.USAGE)
    report_dir = args.report or (spec.outdir if spec is not None else None)
    output = Output(args, env)
    host, port = _address(args, spec)
    run = _ClientRun(output, env, cases, report_dir, json=bool(args.json))
    server = run.listen(host, port, _excluder(spec))
    with server:
        run.announce(server.url, len(cases), template is not None)
        if template is not None:
            assert agent is not None
            return run.commands(server, template, agent)
        return run.harness(server)


class _ClientRun:
    """One ``check client``: the server's callbacks, and what is printed."""

    def __init__(
        self,
        output: Any,
        env: Environment,
        cases: list[Any],
        report_dir: str | None,
        *,
        json: bool,
    ) -> None:
        self.output, self.env, self.cases = output, env, cases
        self.report_dir, self.json = report_dir, json
        self.url = ""
        self.started = time.monotonic()
        self._server: Any = None

    def listen(self, host: str, port: int, excluded: Any) -> Any:
        from wstool.check.fuzzingserver import FuzzingServer

        try:
            self._server = FuzzingServer(
                self.cases, host=host, port=port, excluded=excluded, on_update=self.update
            )
            return self._server
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise CommandError(f"cannot listen on {host}:{port}: {reason}") from None

    def announce(self, url: str, count: int, commands: bool) -> None:
        """The URL on stdout (first, alone), a hint on stderr."""
        import json

        self.url = url
        line = json.dumps({"url": url, "cases": count}) if self.json else url
        self.env.stdout.write(line + "\n")
        self.env.stdout.flush()
        if not commands:
            self.env.stderr.write(
                f"wstool check client: {count} cases; a client runs case N with "
                f"{url}/runCase?case=N&agent=NAME (Autobahn's fuzzingserver protocol: "
                "getCaseCount, getCaseInfo, getCaseStatus, updateReports); Ctrl-C stops\n"
            )
            self.env.stderr.flush()

    def _show(self, agent: str, results: list[Any], took: float) -> int:
        from wstool.check.suite import Counts

        counts = Counts.of(results)
        if self.report_dir:
            self.output.write_reports(Path(self.report_dir), agent, results)
        self.output.results(agent, self.url, results, counts, took)
        return int(counts.failed)

    def update(self, agent: str | None) -> None:
        """``/updateReports``: print and write the results of ``agent`` (None: all)."""
        server_agents = [agent] if agent else self._agents
        for name in server_agents:
            results = self._server.results.of(name, self.cases)
            if results:
                self._show(name, results, time.monotonic() - self.started)
        self.env.stdout.flush()

    def commands(self, server: Any, template: list[str], agent: str) -> int:
        """``--cmd``: every case with the program; the exit status."""
        from wstool.check.clientcmd import NeverConnected, run_command_cases

        started = time.monotonic()
        try:
            with self.output.progress(agent, len(self.cases)) as advance:
                results = run_command_cases(server, template, agent, on_result=advance)
        except OSError as exc:
            reason = exc.strerror or str(exc)
            raise CommandError(f"--cmd: cannot run {template[0]}: {reason}") from None
        except NeverConnected as exc:
            raise CommandError(f"--cmd: {exc}") from None
        failed = self._show(agent, results, time.monotonic() - started)
        return ExitStatus.ERROR if failed else ExitStatus.OK

    def harness(self, server: Any) -> int:
        """Serve until ``/stopServer``, ``shutdownOnComplete``, Ctrl-C or SIGTERM.

        Stopping is the normal end of a fuzzing server (Autobahn's is stopped so
        too), so the exit status says whether a case FAILED, as with ``--cmd``.
        """
        import signal

        def stop(signum: int, frame: object) -> None:
            server.stopping.set()

        before = {number: signal.getsignal(number) for number in (signal.SIGINT, signal.SIGTERM)}
        for number, handler in before.items():
            if handler is not signal.SIG_IGN:  # kept ignored in the background
                signal.signal(number, stop)
        try:
            while not server.stopping.wait(0.5):
                pass
        finally:
            for number, handler in before.items():
                signal.signal(number, handler)
        failed = any(
            result.verdict == "FAILED"
            for agent in server.results.agents()
            for result in server.results.of(agent, self.cases)
        )
        return ExitStatus.ERROR if failed else ExitStatus.OK

    @property
    def _agents(self) -> list[str]:
        return list(self._server.results.agents())
