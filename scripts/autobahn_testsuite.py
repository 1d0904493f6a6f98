#!/usr/bin/env python3
"""Rate wstool serve with the real Autobahn Testsuite (wstest, Python 2.7).

Starts ``wstool serve --port 0 -q --ping-interval 0`` on 127.0.0.1, runs
``wstest -m fuzzingclient`` against it with a spec of every case ("*", or
the ones given with --case), then reads the testsuite's ``index.json`` and
prints the count of each behavior (OK, NON-STRICT, INFORMATIONAL,
UNIMPLEMENTED, FAILED) and one row for every case rated other than OK or
INFORMATIONAL: its behavior, close behavior, description and the report's
"result" text. The exit status is 1 if any case is FAILED or NON-STRICT,
2 on bad usage or when wstest or wstool cannot be run, else 0.

The testsuite (autobahntestsuite 0.8.2) runs only on Python 2.7, so it lives
in a virtualenv of its own outside the repository; ``--setup`` prints the
commands that build one with the versions known to install and run, and
``--install DIR`` runs them. Give the ``wstest`` of that virtualenv with
``--wstest`` or the ``WSTEST`` environment variable. The reports (HTML and
JSON, one file per case) stay in --outdir for reading.

With --client it rates wstool's client instead: it runs ``wstest -m
fuzzingserver`` and, for each case, opens ws://HOST:PORT/runCase?case=N with
wstool's client stack (``wstool.net.client.connect`` with the options
``wstool connect`` uses by default, permessage-deflate offered) and sends
every message received back unchanged, text as text and binary as binary
(the core connection's echo, as in wstool serve).
The echo lives in this script: ``wstool connect`` itself has no echo mode,
and its pipe (one text message per stdin line, binary written as hex)
cannot stand in for one, so the CLI's own layer (its pipe and exit
statuses) is not rated.

This script downloads nothing unless --install is given, and is not part of
the test suite or CI (it needs Python 2.7); tests/conformance holds the
in-repository cases numbered after the testsuite's.

Examples:
  .venv/bin/python scripts/autobahn_testsuite.py --setup
  .venv/bin/python scripts/autobahn_testsuite.py --install /tmp/ab27
  .venv/bin/python scripts/autobahn_testsuite.py --wstest /tmp/ab27/bin/wstest
  WSTEST=/tmp/ab27/bin/wstest .venv/bin/python scripts/autobahn_testsuite.py --case '6.4.*'
  .venv/bin/python scripts/autobahn_testsuite.py --wstest /tmp/ab27/bin/wstest --client
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["main", "read_reports", "setup_commands", "summarize"]

REPO = Path(__file__).resolve().parents[1]

BEHAVIORS = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED")
"""The testsuite's verdicts, best first."""

BAD = frozenset({"FAILED", "NON-STRICT"})
"""Verdicts that make the exit status 1."""

SERVE_AGENT = "wstool-serve"
CLIENT_AGENT = "wstool-client"

PY27_DEFAULT = "/root/.pyenv/versions/2.7.18/bin/python"

PINS = (
    "autobahntestsuite==0.8.2",
    "autobahn==0.10.9",
    "txaio==2.1.0",
    "twisted==20.3.0",
    "klein==20.6.0",
    "jinja2==2.11.3",
    "markupsafe==1.1.1",
    "werkzeug==1.0.1",
    "pyopenssl==21.0.0",
    "cryptography==3.3.2",
    "service-identity==21.1.0",
    "unittest2==1.1.0",
    "wsaccel==0.6.3",
    "ujson==1.35",
)
"""Versions that install from PyPI on CPython 2.7.18 and run the fuzzingclient.

autobahntestsuite 0.8.2 pins autobahn[accelerate,twisted]==0.10.9 and
txaio<=2.1.0; the rest are the last releases that still support Python 2.7
(wsaccel and ujson build from source: they need a C compiler and the 2.7
headers, which a pyenv build has).
"""

_LISTENING = re.compile(r"listening on (ws://\S+?)/? ")


def setup_commands(venv: str, python: str) -> list[list[str]]:
    """The commands that build the testsuite's virtualenv.

    Args:
        venv: Directory of the virtualenv to create.
        python: A CPython 2.7 interpreter with pip (``python2.7 -m ensurepip``
            gives it one).

    Returns:
        One argv per command, in order.
    """
    pip = str(Path(venv) / "bin" / "pip")
    return [
        [python, "-m", "pip", "install", "--user", "virtualenv<20.22"],
        [python, "-m", "virtualenv", venv],
        [pip, "install", *PINS],
        [str(Path(venv) / "bin" / "wstest"), "--autobahnversion"],
    ]


def _print_setup(venv: str, python: str) -> None:
    print("# Build a Python 2.7 virtualenv for the Autobahn Testsuite (outside the repository).")
    print("# Needs CPython 2.7 with pip (e.g. `pyenv install 2.7.18`), a C compiler, network.")
    print("# PIP_CONSTRAINT=/dev/null: pip 20.3 (the last for 2.7) failed with an AssertionError")
    print(
        "# under a pip configuration naming a constraint file; clearing it is harmless elsewhere."
    )
    print("export PIP_CONSTRAINT=/dev/null")
    for argv in setup_commands(venv, python):
        print(shlex.join(argv))
    print(f"# then: .venv/bin/python scripts/autobahn_testsuite.py --wstest {venv}/bin/wstest")


def _install(venv: str, python: str) -> int:
    env = dict(os.environ, PIP_CONSTRAINT="/dev/null")
    for argv in setup_commands(venv, python):
        print("+ " + shlex.join(argv), file=sys.stderr, flush=True)
        try:
            status = subprocess.run(argv, env=env, check=False).returncode
        except OSError as exc:
            print(f"autobahn_testsuite.py: cannot run {argv[0]}: {exc}", file=sys.stderr)
            return 2
        if status != 0:
            print(
                f"autobahn_testsuite.py: exit status {status}: {shlex.join(argv)}", file=sys.stderr
            )
            return 2
    return 0


def _case_key(case_id: str) -> tuple[int, ...]:
    return tuple(int(part) if part.isdigit() else 0 for part in case_id.split("."))


def read_reports(outdir: Path, agent: str | None = None) -> dict[str, dict[str, Any]]:
    """Read the testsuite's reports for the agent under test.

    Args:
        outdir: The spec's ``outdir``: ``index.json`` and one JSON per case.
        agent: The agent's name; ``None``: the only one in the index.

    Returns:
        Case id to a dict of the index entry (``behavior``, ``behaviorClose``,
        ``duration``, ``remoteCloseCode``, ``reportfile``) updated with the
        case report's ``description``, ``expectation``, ``result`` and
        ``resultClose``, ordered by case id.

    Raises:
        OSError: A report is missing or unreadable.
        ValueError: A report is not the JSON expected.
    """
    index = json.loads((outdir / "index.json").read_text(encoding="utf-8"))
    if agent is None and len(index) == 1:
        agent = next(iter(index))
    if agent not in index:
        raise ValueError(f"{outdir / 'index.json'} has no agent {agent!r} (has {sorted(index)})")
    cases: dict[str, dict[str, Any]] = {}
    for case_id in sorted(index[agent], key=_case_key):
        entry = dict(index[agent][case_id])
        report_file = entry.get("reportfile")
        if report_file:
            report = json.loads((outdir / report_file).read_text(encoding="utf-8"))
            for key in ("description", "expectation", "result", "resultClose"):
                entry[key] = report.get(key, "")
        cases[case_id] = entry
    return cases


def summarize(cases: dict[str, dict[str, Any]]) -> dict[str, int]:
    """Count the cases of each behavior (a FAILED close behavior counts as FAILED).

    Args:
        cases: As returned by :func:`read_reports`.

    Returns:
        Behavior to count, with every name of :data:`BEHAVIORS` present.
    """
    counts = dict.fromkeys(BEHAVIORS, 0)
    for entry in cases.values():
        behavior = _verdict(entry)
        counts[behavior] = counts.get(behavior, 0) + 1
    return counts


def _verdict(entry: dict[str, Any]) -> str:
    behavior = str(entry.get("behavior", "FAILED"))
    # The testsuite's report pages show a case as failed when its closing
    # handshake was, whatever the data part said.
    if entry.get("behaviorClose") == "FAILED" and behavior in ("OK", "INFORMATIONAL"):
        return "FAILED"
    return behavior


def _one_line(text: Any, width: int = 400) -> str:
    flat = " ".join(str(text).split())
    flat = "".join(ch if ch.isprintable() else "?" for ch in flat)
    return flat if len(flat) <= width else flat[: width - 3] + "..."


def _print_results(cases: dict[str, dict[str, Any]], show: list[str]) -> dict[str, int]:
    counts = summarize(cases)
    print(f"{len(cases)} cases: " + ", ".join(f"{counts[b]} {b}" for b in counts))
    for case_id in show:
        entry = cases.get(case_id)
        if entry is None:
            print(f"{case_id:<10} (not run)")
        else:
            print(f"{case_id:<10} {_verdict(entry):<14} close {entry.get('behaviorClose')}")
    for case_id, entry in cases.items():
        verdict = _verdict(entry)
        if verdict in ("OK", "INFORMATIONAL"):
            continue
        print(
            f"{case_id:<10} {verdict:<14} close {entry.get('behaviorClose')}, "
            f"remote close code {entry.get('remoteCloseCode')}, {entry.get('duration')} ms"
        )
        print(f"{'':10} case:   {_one_line(entry.get('description', ''))}")
        print(f"{'':10} result: {_one_line(entry.get('result', ''))}")
        print(f"{'':10} close:  {_one_line(entry.get('resultClose', ''))}")
        print(f"{'':10} report: {entry.get('reportfile')}")
    return counts


def _start_serve(
    wstool: str, extra: list[str], log_path: Path
) -> tuple[subprocess.Popen[str], str]:
    argv = [wstool, "serve", "--port", "0", "-q", "--ping-interval", "0", *extra]
    proc = subprocess.Popen(
        argv,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
    )
    found: list[str] = []
    ready = threading.Event()

    def read_output() -> None:
        # Read to the end, so that serve never blocks on a full pipe.
        assert proc.stdout is not None
        with log_path.open("w", encoding="utf-8") as log:
            for line in proc.stdout:
                log.write(line)
                if not found:
                    match = _LISTENING.search(line)
                    if match:
                        found.append(match.group(1))
                        ready.set()
        ready.set()

    threading.Thread(target=read_output, daemon=True).start()
    ready.wait(20)
    if not found:
        _stop(proc)
        raise RuntimeError(f"{shlex.join(argv)} did not say where it listens (see {log_path})")
    return proc, found[0]


def _stop(proc: subprocess.Popen[Any]) -> None:
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(10)


def _write_spec(outdir: Path, mode: str, spec: Mapping[str, object]) -> tuple[Path, Path]:
    """Write wstest's spec for ``mode``; the spec's path and the log's."""
    spec_path = outdir / f"{mode}.json"
    spec_path.write_text(json.dumps(spec, indent=2) + "\n", encoding="utf-8")
    return spec_path, outdir / "wstest.log"


def _run_fuzzingclient(
    wstest: str, url: str, outdir: Path, cases: list[str], exclude: list[str], timeout: float
) -> int:
    spec = {
        "outdir": str(outdir),
        "servers": [{"agent": SERVE_AGENT, "url": url}],
        "cases": cases,
        "exclude-cases": exclude,
        "exclude-agent-cases": {},
    }
    spec_path, log_path = _write_spec(outdir, "fuzzingclient", spec)
    argv = [wstest, "-m", "fuzzingclient", "-s", str(spec_path)]
    print(f"+ {shlex.join(argv)}  (log: {log_path})", file=sys.stderr, flush=True)
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            argv,
            cwd=outdir,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            env=dict(os.environ, PYTHONUNBUFFERED="1"),  # progress as it happens
        )
        assert proc.stdout is not None
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            run = 0
            for line in proc.stdout:
                log.write(line)
                if line.startswith("Running test case"):
                    run += 1
                    if run % 50 == 0:
                        elapsed = time.monotonic() - started
                        print(f"  {run} cases run, {elapsed:.0f}s", file=sys.stderr, flush=True)
            status = proc.wait()
        finally:
            timer.cancel()
            _stop(proc)
    elapsed = time.monotonic() - started
    print(f"  fuzzingclient exit status {status} after {elapsed:.0f}s", file=sys.stderr)
    return status


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_listening(port: int, proc: subprocess.Popen[Any], seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return True
        except OSError:
            time.sleep(0.2)
    return False


class _Quiet:
    """A frame observer that reports nothing."""

    wants_frames = False

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        """Nothing to report."""

    def events(self, conn_id: int, events: Any) -> None:
        """Nothing to report."""

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        """Nothing to report."""


def _drive_client(base: str, agent: str, case_timeout: float) -> tuple[int, list[str]]:
    """Run every fuzzingserver case with wstool's client echoing; return (count, problems)."""
    from twisted.internet import reactor as global_reactor
    from twisted.internet.defer import Deferred, ensureDeferred

    from wstool.core.events import MessageReceived
    from wstool.core.uri import parse_uri
    from wstool.net.client import ClientOptions, connect

    reactor: Any = global_reactor
    problems: list[str] = []
    outcome: dict[str, int] = {"count": 0}

    async def session(path: str, *, echo: bool) -> list[MessageReceived]:
        received: list[MessageReceived] = []

        options = ClientOptions(uri=parse_uri(base + path))
        live = await connect(reactor, options, _Quiet())
        if echo:
            # The core echoes each message as soon as it is complete, as wstool
            # serve does. An echo from the wire's on_message hook would come
            # only after the whole read is parsed: a message followed in the
            # same read by a broken frame would not be answered, since the core
            # has failed the connection by then (Autobahn: NON-STRICT on 3.2,
            # 3.3, 4.1.3, 4.1.4, 4.2.3, 4.2.4, 5.15).
            live.conn.echo = True
        else:
            live.wire.on_message = lambda wire, message: received.append(message)
        closed: Deferred[Any] = live.closed
        timer = reactor.callLater(case_timeout, live.abort)
        try:
            await closed
        finally:
            if timer.active():
                timer.cancel()
            else:
                problems.append(f"{path}: no close within {case_timeout:.0f}s, aborted")
        return received

    async def run() -> None:
        try:
            answer = await session("/getCaseCount", echo=False)
            count = int(answer[0].data) if answer else 0
            outcome["count"] = count
            for number in range(1, count + 1):
                try:
                    await session(f"/runCase?case={number}&agent={agent}", echo=True)
                except Exception as exc:  # a case that fails to connect is reported, not fatal
                    problems.append(f"case {number}: {type(exc).__name__}: {exc}")
                if number % 50 == 0:
                    print(f"  {number} of {count} cases run", file=sys.stderr, flush=True)
            await session(f"/updateReports?agent={agent}", echo=False)
        except Exception as exc:
            problems.append(f"{type(exc).__name__}: {exc}")
        finally:
            reactor.stop()

    reactor.callWhenRunning(lambda: ensureDeferred(run()))
    reactor.run(installSignalHandlers=False)
    return outcome["count"], problems


def _rate_client(
    wstest: str, outdir: Path, cases: list[str], exclude: list[str], timeout: float
) -> int:
    """Run the fuzzingserver and wstool's echoing client against it; 0 if reports were made."""
    port = _free_port()
    spec = {
        "url": f"ws://127.0.0.1:{port}",
        "outdir": str(outdir),
        "cases": cases,
        "exclude-cases": exclude,
        "exclude-agent-cases": {},
    }
    spec_path, log_path = _write_spec(outdir, "fuzzingserver", spec)
    argv = [wstest, "-m", "fuzzingserver", "-s", str(spec_path), "-u", "0"]
    print(f"+ {shlex.join(argv)}  (log: {log_path})", file=sys.stderr, flush=True)
    started = time.monotonic()
    with log_path.open("w", encoding="utf-8") as log:
        proc = subprocess.Popen(
            argv,
            cwd=outdir,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, PYTHONUNBUFFERED="1"),
        )
        try:
            if not _wait_listening(port, proc, 30):
                print(
                    f"autobahn_testsuite.py: the fuzzingserver did not listen (see {log_path})",
                    file=sys.stderr,
                )
                return 2
            timer = threading.Timer(timeout, proc.kill)
            timer.start()
            try:
                count, problems = _drive_client(f"ws://127.0.0.1:{port}", CLIENT_AGENT, 120.0)
            finally:
                timer.cancel()
        finally:
            _stop(proc)
    elapsed = time.monotonic() - started
    print(f"  {count} cases run by wstool's client in {elapsed:.0f}s", file=sys.stderr)
    for problem in problems:
        print(f"  {problem}", file=sys.stderr)
    return 0


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parts = (__doc__ or "").split("\n\n")
    parser = argparse.ArgumentParser(
        prog="autobahn_testsuite.py",
        description=parts[0],
        epilog="\n\n".join(parts[1:]),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--wstest",
        default=os.environ.get("WSTEST"),
        help="the wstest of the Python 2.7 virtualenv (default: $WSTEST)",
    )
    parser.add_argument(
        "--wstool",
        default=str(REPO / ".venv" / "bin" / "wstool"),
        help="the wstool to rate (default: the repository's .venv/bin/wstool)",
    )
    parser.add_argument(
        "--outdir",
        help="directory for the spec, log and reports (default: a new one under the temp dir)",
    )
    parser.add_argument(
        "--case",
        action="append",
        default=[],
        metavar="PATTERN",
        help="a case id or pattern such as '6.4.*' (repeatable; default: every case)",
    )
    parser.add_argument(
        "--exclude", action="append", default=[], metavar="PATTERN", help="cases to leave out"
    )
    parser.add_argument(
        "--show",
        action="append",
        default=[],
        metavar="ID",
        help="also print the verdict of this case, even when OK (repeatable)",
    )
    parser.add_argument(
        "--serve-option",
        action="append",
        default=[],
        metavar="OPTION",
        help="an extra option for wstool serve, e.g. --serve-option=--no-deflate (repeatable)",
    )
    parser.add_argument(
        "--timeout",
        type=float,
        default=1800.0,
        help="stop the fuzzingclient after this many seconds (default: 1800)",
    )
    parser.add_argument(
        "--reports",
        metavar="OUTDIR",
        help="do not run anything: summarize the reports already in OUTDIR",
    )
    parser.add_argument(
        "--client",
        action="store_true",
        help="rate wstool's client with the fuzzingserver instead of wstool serve",
    )
    parser.add_argument(
        "--setup",
        action="store_true",
        help="print the commands that build the Python 2.7 virtualenv, then exit",
    )
    parser.add_argument(
        "--install", metavar="DIR", help="run those commands for a virtualenv in DIR, then exit"
    )
    parser.add_argument(
        "--python2",
        default=PY27_DEFAULT,
        help=f"the Python 2.7 for --setup and --install (default: {PY27_DEFAULT})",
    )
    return parser.parse_args(argv)


def _rate_serve(args: argparse.Namespace, wstest: str, outdir: Path) -> int:
    """Start wstool serve and run the fuzzingclient against it; 0 once it has run."""
    try:
        serve, url = _start_serve(args.wstool, args.serve_option, outdir / "serve.log")
    except (OSError, RuntimeError) as exc:
        print(f"autobahn_testsuite.py: cannot start wstool serve: {exc}", file=sys.stderr)
        return 2
    try:
        print(f"wstool serve at {url}; reports in {outdir}", file=sys.stderr, flush=True)
        _run_fuzzingclient(wstest, url, outdir, args.case or ["*"], args.exclude, args.timeout)
        if serve.poll() is not None:
            print(
                f"autobahn_testsuite.py: wstool serve exited early ({serve.returncode})",
                file=sys.stderr,
            )
    finally:
        _stop(serve)
    return 0


def _run(args: argparse.Namespace) -> Path | int:
    """Run the testsuite as asked; the reports' directory, or an exit status."""
    if args.reports:
        return Path(args.reports)
    if not args.wstest:
        print(
            "autobahn_testsuite.py: give --wstest PATH or set WSTEST (--setup: how to build one)",
            file=sys.stderr,
        )
        return 2
    wstest = shutil.which(args.wstest)
    if wstest is None:
        print(f"autobahn_testsuite.py: {args.wstest}: not an executable", file=sys.stderr)
        return 2
    outdir = Path(args.outdir or tempfile.mkdtemp(prefix="autobahn-"))
    outdir.mkdir(parents=True, exist_ok=True)
    try:
        if args.client:
            status = _rate_client(wstest, outdir, args.case or ["*"], args.exclude, args.timeout)
        else:
            status = _rate_serve(args, wstest, outdir)
    except OSError as exc:
        print(f"autobahn_testsuite.py: cannot run {wstest}: {exc}", file=sys.stderr)
        return 2
    return status or outdir


def main(argv: list[str] | None = None) -> int:
    """Run the testsuite against wstool and print the verdicts.

    Returns:
        0 if no case is FAILED or NON-STRICT, 1 if one is, 2 on bad usage or
        when wstest, wstool or the reports cannot be used.
    """
    args = _parse_args(argv)
    if args.setup:
        _print_setup(args.install or "/tmp/ab27", args.python2)
        return 0
    if args.install:
        return _install(args.install, args.python2)
    outdir = _run(args)
    if isinstance(outdir, int):
        return outdir
    try:
        cases = read_reports(outdir)
    except (OSError, ValueError) as exc:
        print(f"autobahn_testsuite.py: cannot read the reports: {exc}", file=sys.stderr)
        return 2
    counts = _print_results(cases, args.show)
    print(f"reports: {outdir / 'index.html'}")
    return 1 if any(counts[b] for b in BAD) else 0


if __name__ == "__main__":
    sys.exit(main())
