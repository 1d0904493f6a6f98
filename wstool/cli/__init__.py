"""wstool's command line: one module per command, and :func:`main`.

Each command module (``serve``, ``connect``, ``decode``) has ``add_parser()``
and ``run(args, env)``; shared option groups are in :mod:`wstool.cli.options`.
This is the one place that turns exceptions into exit statuses and one line on
stderr. Each command imports only what its own path needs, so ``wstool
decode`` and ``wstool --help`` start fast.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import IO, cast

from wstool import __version__
from wstool.cli import bench, check, connect, decode, export, proxy, replay, serve
from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus
from wstool.cli.options import Parser, UsageExit

__all__ = ["Environment", "ExitStatus", "main"]

_MAIN_HELP = """\
wstool is a WebSocket workbench for the terminal: it shows every bit of every
frame (RFC 6455, with permessage-deflate from RFC 7692), says which rule a
frame breaks and which close code a peer would answer with.
"""

_MAIN_EPILOG = """\
exit statuses:
  0  success (decode: no violation found; connect: closed cleanly)
  1  failure (decode: violations found, or the last frame is cut short)
  2  bad usage or unreadable input
  3  connect: the server refused the handshake
  4  connect: the server broke the protocol
  5  connect: could not connect (refused, DNS, TLS, proxy, timeout)
  6  connect: closed abnormally (no closing handshake, or an unexpected code)
  130  interrupted (Ctrl-C)

Run 'wstool COMMAND --help' for a command's options and examples.
"""

Run = Callable[[argparse.Namespace, Environment], int]


def _build_parser(env: Environment) -> tuple[Parser, dict[str, Parser]]:
    """The parser, and each command's own parser by name."""
    parser = Parser(
        prog="wstool",
        description=_MAIN_HELP,
        epilog=_MAIN_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        stderr=env.stderr,
        stdout=env.stdout,
    )
    parser.add_argument("--version", action="version", version=f"wstool {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show a traceback when something goes wrong"
    )
    commands = parser.add_subparsers(
        title="commands",
        dest="command",
        metavar="COMMAND",
        parser_class=cast(
            "type[Parser]", functools.partial(Parser, stderr=env.stderr, stdout=env.stdout)
        ),
    )
    for command in (connect, serve, check, proxy, decode, replay, export, bench):
        command.add_parser(commands)
    return parser, commands.choices


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    stdin: IO[str] | None = None,
    env: Environment | None = None,
) -> int:
    """Run wstool with ``argv`` (default: the process's) and return the exit status.

    Args:
        argv: the arguments after the program name.
        stdout: where data goes (default: ``sys.stdout``).
        stderr: where diagnostics go (default: ``sys.stderr``).
        stdin: where input comes from (default: ``sys.stdin``).
        env: the whole environment at once (streams, NO_COLOR, reactor);
            the stream arguments above replace its streams.
    """
    env = env or Environment()
    env.stdout = stdout or env.stdout
    env.stderr = stderr or env.stderr
    env.stdin = stdin or env.stdin
    parser, command_parsers = _build_parser(env)
    try:
        args, extra = parser.parse_known_args(argv)
        if extra:
            _owner(parser, command_parsers, args, argv).error(
                f"unrecognized arguments: {' '.join(extra)}"
            )
    except UsageExit as exc:
        return exc.status
    run: Run | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(env.stdout)
        return ExitStatus.USAGE
    return _run(run, args, env)


def _owner(
    parser: Parser,
    command_parsers: dict[str, Parser],
    args: argparse.Namespace,
    argv: Sequence[str] | None,
) -> Parser:
    """The parser whose --help lists the options around the first unknown one.

    argparse leaves a command's unknown options to the top-level parser;
    after the command's name they are the command's to explain.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    command = getattr(args, "command", None)
    if command not in command_parsers or command not in words:
        return parser
    before = words[: words.index(command)]
    unknown = [w for w in before if w.startswith("-") and w not in ("--debug",)]
    return parser if unknown else command_parsers[command]


def _run(run: Run, args: argparse.Namespace, env: Environment) -> int:
    prog = f"wstool {args.command}"
    try:
        return run(args, env)
    except CommandError as exc:
        env.stderr.write(f"{prog}: {exc}\n")
        return exc.status
    except KeyboardInterrupt:
        env.stderr.write(f"{prog}: interrupted\n")
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        quiet_broken_stdout(env)
        return ExitStatus.OK
    except Exception as exc:
        if getattr(args, "debug", False):
            traceback.print_exc(file=env.stderr)
        env.stderr.write(
            f"{prog}: internal error: {type(exc).__name__}: {exc} (--debug shows more)\n"
        )
        return ExitStatus.ERROR


def quiet_broken_stdout(env: Environment) -> None:
    """The reader went away (``| head``): keep Python quiet when it flushes at exit.

    A stream passed in is the caller's: the process's stdout is left alone then.
    """
    if env.writes_to_process_stdout():
        devnull = os.open(os.devnull, os.O_WRONLY)
        try:
            os.dup2(devnull, sys.stdout.fileno())
        except (OSError, ValueError):  # no file descriptor behind it
            pass
        finally:
            os.close(devnull)
