"""What every command's parser shares: the parser class, value types, output options.

A usage error is one line on stderr that names the command's own ``--help``;
argparse never exits the process from inside :func:`wstool.cli.main`.
"""

from __future__ import annotations

import argparse
import sys
from typing import IO, Any, NoReturn

from wstool.cli.errors import ExitStatus

__all__ = [
    "Parser",
    "UsageExit",
    "add_command",
    "add_output_options",
    "port",
    "seconds",
    "size",
]


class UsageExit(Exception):
    """argparse finished (an error, --help or --version): main() returns ``status``."""

    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and no exit from inside the library.

    Args:
        stderr: where usage errors go.
        stdout: where --help and --version go (default: ``sys.stdout``).
    """

    def __init__(
        self, *args: Any, stderr: IO[str], stdout: IO[str] | None = None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self._stderr = stderr
        self._stdout = stdout

    def _print_message(self, message: str, file: Any = None) -> None:
        # argparse writes --help and --version to sys.stdout itself; send them
        # to the streams main() was given instead.
        if file is sys.stdout and self._stdout is not None:
            file = self._stdout
        elif file is None or file is sys.stderr:
            file = self._stderr
        super()._print_message(message, file)

    def error(self, message: str) -> NoReturn:
        # self.prog is "wstool connect" for a subcommand's parser: its --help
        # is the one that lists the option the user got wrong.
        self._stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise UsageExit(ExitStatus.USAGE)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._stderr.write(message)
        raise UsageExit(status)


def add_command(
    commands: Any, name: str, *, help: str, description: str, epilog: str
) -> argparse.ArgumentParser:
    """Add subcommand ``name`` with raw-formatted description and epilog."""
    parser: argparse.ArgumentParser = commands.add_parser(
        name,
        help=help,
        description=description,
        epilog=epilog,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    return parser


def add_output_options(parser: argparse.ArgumentParser) -> None:
    """--color, and a hidden --debug that also works after the command's name."""
    parser.add_argument(
        "--color",
        choices=("auto", "always", "never"),
        default="auto",
        help="colour output (default: on a terminal, unless NO_COLOR is set)",
    )
    # default=SUPPRESS: without it this default would overwrite "wstool --debug COMMAND".
    parser.add_argument(
        "--debug", action="store_true", default=argparse.SUPPRESS, help=argparse.SUPPRESS
    )


_UNITS = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 10**6, "mb": 10**6}
_UNITS.update({"mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30})


def size(text: str) -> int:
    """A byte size such as 1048576, 64KiB, 16MiB or 1GiB."""
    number = text.strip().lower().rstrip("bikmg")
    unit = text.strip().lower()[len(number) :]
    if not number.isdigit() or unit not in _UNITS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 65536, 64KiB or 16MiB")
    return int(number) * _UNITS[unit]


def seconds(text: str) -> float:
    """A duration in seconds; 0 turns the timer off."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value


def port(text: str) -> int:
    """A TCP port number; 0 lets the system pick one."""
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)
