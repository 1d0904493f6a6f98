"""``wstool serve --exec``: the options, and the program's log lines in the traffic log."""

from __future__ import annotations

import argparse
import os
from typing import Any

from wstool import __version__
from wstool.cli.errors import CommandError, ExitStatus
from wstool.cli.options import seconds

__all__ = ["ProgramLog", "add_exec_options", "exec_behaviour"]


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {value}")
    return value


def add_exec_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--exec``, ``--binary``, ``--max-procs`` and ``--kill-grace`` to serve."""
    group = parser.add_argument_group(
        "a program behind the server (--exec)",
        "One process per connection, as websocketd runs it: each message is a line on\n"
        "its stdin, each line on its stdout a message, stderr goes to the log, the\n"
        "request is in CGI variables (PATH_INFO, QUERY_STRING, REMOTE_ADDR, HTTP_*, ...).\n"
        "The connection closes with 1000 when it exits 0, 1011 otherwise; it is stopped\n"
        "(SIGTERM, then SIGKILL) when the client goes.",
    )
    group.add_argument(
        "--exec",
        dest="exec_command",
        metavar="'PROGRAM ARGS'",
        help="run this program for each connection (split as a shell would; no shell runs it)",
    )
    group.add_argument(
        "--binary",
        action="store_true",
        help="with --exec: raw stdout chunks as binary messages, messages written raw",
    )
    group.add_argument(
        "--max-procs",
        type=_positive,
        metavar="N",
        help="with --exec: at most N programs at once; further upgrades get 503",
    )
    group.add_argument(
        "--passenv",
        action="append",
        default=[],
        metavar="VAR[,VAR...]",
        help="with --exec: pass these environment variables on to the program (repeatable); "
        "it gets only PATH, LD_LIBRARY_PATH, TZ, LANG and LC_* otherwise, as with websocketd",
    )
    group.add_argument(
        "--kill-grace",
        type=seconds,
        default=2.0,
        metavar="SECONDS",
        help="with --exec: SIGKILL this long after SIGTERM (default: 2)",
    )


def exec_behaviour(args: argparse.Namespace, reactor: Any, log: Any) -> Any:
    """The behaviour factory of ``--exec``, or None without it.

    Args:
        args: serve's options.
        reactor: spawns the programs.
        log: the traffic log (its ``note`` shows what the programs do).

    Raises:
        CommandError: options that do not go with ``--exec``, or a program
            that cannot be run (exit status 2, before anything listens).
    """
    if args.exec_command is None:
        for flag, given in (
            ("--binary", args.binary),
            ("--max-procs", args.max_procs is not None),
            ("--passenv", bool(args.passenv)),
        ):
            if given:
                raise CommandError(f"{flag} goes with --exec", ExitStatus.USAGE)
        return None
    if args.replay:
        raise CommandError("--exec and --replay each answer the clients: use one", ExitStatus.USAGE)
    if args.mode != "echo":
        raise CommandError("--exec answers each client itself: leave out --mode", ExitStatus.USAGE)
    from wstool.net.execproc import ExecFactory, ExecSpec, ProgramError, parse_command

    try:
        argv = parse_command(args.exec_command)
    except ProgramError as exc:
        raise CommandError(f"--exec: {exc}", ExitStatus.USAGE) from exc
    spec = ExecSpec(
        argv=argv,
        binary=args.binary,
        max_procs=args.max_procs,
        max_line=args.max_message_size,
        kill_grace=args.kill_grace,
        tls=bool(args.tls_cert),
        environ=_passed_environment(args.passenv),
        software=f"wstool/{__version__}",
    )
    subject = None
    if getattr(args, "tls_client_ca", None):
        from wstool.net.tls import client_subject

        # SSL_CLIENT_S_DN: the verified client certificate's subject.
        subject = lambda wire: client_subject(wire.transport)  # noqa: E731
    factory = ExecFactory(spec, reactor, ProgramLog(log), subject=subject)
    # Ctrl-C: each connection's Close, then SIGTERM; what outlives serve gets SIGKILL.
    reactor.addSystemEventTrigger("after", "shutdown", factory.kill_all)
    return factory


_PASSED = ("PATH", "LD_LIBRARY_PATH", "DYLD_LIBRARY_PATH", "SYSTEMROOT", "TZ", "LANG")
"""What every program gets from serve's environment (websocketd passes PATH and the library
paths; the locale and time zone are added so programs print text as the user would)."""


def _passed_environment(passenv: list[str]) -> dict[str, str]:
    """serve's environment, as far as a program behind it gets to see it."""
    names = set(_PASSED)
    for text in passenv:
        names.update(name.strip() for name in text.split(",") if name.strip())
    return {
        name: value for name, value in os.environ.items() if name in names or name.startswith("LC_")
    }


class ProgramLog:
    """The programs' starts, stderr lines and ends, as lines of the traffic log."""

    def __init__(self, log: Any) -> None:
        self.log = log

    def program_started(self, conn_id: int, pid: int, argv: tuple[str, ...]) -> None:
        shown = " ".join(argv)
        self.log.note(
            conn_id,
            f"program {pid} started: {shown}",
            {"event": "program", "pid": pid, "started": list(argv)},
        )

    def program_stderr(self, conn_id: int, line: bytes) -> None:
        text = line.decode("utf-8", "replace")
        self.log.note(conn_id, f"stderr: {text}", {"event": "stderr", "line": text})

    def program_ended(self, conn_id: int, pid: int, how: str) -> None:
        # pid 0: the program never started (its spawn failed), so it has no number.
        who = f"program {pid}" if pid else "program"
        self.log.note(conn_id, f"{who} {how}", {"event": "program", "pid": pid, "ended": how})
