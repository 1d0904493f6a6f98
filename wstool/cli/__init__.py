"""wstool's command line: argument parsing, exit statuses, one line per error.

This is the one place that wires ``net`` to ``ui``, builds the console and
turns exceptions into exit statuses. Each command imports only what its own
path needs, so ``wstool decode`` and ``wstool --help`` start fast.
"""

from __future__ import annotations

import argparse
import functools
import os
import sys
import traceback
from collections.abc import Callable, Sequence
from typing import IO, Any, NoReturn, cast

from wstool import __version__
from wstool.cli.errors import CommandError, ExitStatus

__all__ = ["ExitStatus", "main"]


class _UsageExit(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line and no exit from inside the library."""

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
        self._stderr.write(f"{self.prog}: error: {message} (see '{self.prog} --help')\n")
        raise _UsageExit(ExitStatus.USAGE)

    def exit(self, status: int = 0, message: str | None = None) -> NoReturn:
        if message:
            self._stderr.write(message)
        raise _UsageExit(status)


_MAIN_HELP = """\
wstool is a WebSocket workbench for the terminal: it shows every bit of every
frame (RFC 6455, with permessage-deflate from RFC 7692), says which rule a
frame breaks and which close code a peer would answer with.

commands:
  connect    a REPL client (or a pipe, in scripts) that shows every frame
             both ways and can ping, close and forge frames
  serve      a strict WebSocket echo (or broadcast) server that prints every
             frame it sees, with a browser console at http://HOST:PORT/
  decode     turn a hexdump of frames (xxd, hexdump -C, od, Wireshark,
             tcpdump -X, plain hex, escapes ...) into readable frames

exit statuses:
  0  success (decode: no violation found)
  1  failure (decode: violations found, or the last frame is cut short)
  2  bad usage or unreadable input
  130  interrupted (Ctrl-C)

Run 'wstool COMMAND --help' for a command's options and examples.
"""

_DECODE_HELP = """\
Decode WebSocket frames from a hexdump and show every header field, the
payload unmasked (text, pretty JSON, or hex+ASCII for binary), close codes
and reasons, reassembled fragmented messages, and every RFC rule a frame
breaks, with the close code a peer would send. A packet capture printed by
tcpdump -X/-xx is split by TCP direction; an HTTP upgrade at the start of a
stream is shown and tells who sent it (and whether deflate was agreed).
"""

_DECODE_EPILOG = """\
input formats (detected on their own):
  plain hex          81 05 48 65 6c 6c 6f   or   8105486c6c6f
  xxd                00000000: 8105 4865 6c6c 6f    ..Hello
  hexdump -C         00000000  81 05 48 65 6c 6c 6f   |..Hello|
  od -A x -t x1z     000000 81 05 48 65 6c 6c 6f   >..Hello<
  Wireshark          0000   81 05 48 65 6c 6c 6f    ..Hello   (Copy as Hex Dump)
  tcpdump -X / -xx   packets with IP/TCP headers: payloads by direction
  escapes            \\x81\\x05Hello    b'\\x81\\x05Hello'    0x81, 0x05, 0x48
  --base64, --raw    base64 text, or binary bytes as they are

examples:
  echo '81 05 48 65 6c 6c 6f' | wstool decode
  xxd capture.bin | wstool decode --direction server
  wstool decode --raw capture.bin --json | jq .opcode_name
  sudo tcpdump -i lo -X port 8080 > dump.txt; wstool decode dump.txt
  wstool decode --deflate compressed.hex

exit statuses: 0 no violation, 1 violations found or a frame cut short,
2 unreadable input or bad usage.
"""


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


def _build_parser(stderr: IO[str], stdout: IO[str] | None = None) -> _Parser:
    parser = _Parser(
        prog="wstool",
        description=_MAIN_HELP,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        stderr=stderr,
        stdout=stdout,
    )
    parser.add_argument("--version", action="version", version=f"wstool {__version__}")
    parser.add_argument(
        "--debug", action="store_true", help="show a traceback when something goes wrong"
    )
    commands = parser.add_subparsers(
        dest="command",
        metavar="COMMAND",
        parser_class=cast("type[_Parser]", functools.partial(_Parser, stdout=stdout)),
    )
    _add_serve(commands, stderr)
    from wstool.cli.connect import add_connect

    add_connect(commands, stderr, _Parser, _size, _seconds)
    decode = commands.add_parser(
        "decode",
        help="decode frames from a hexdump",
        description=_DECODE_HELP,
        epilog=_DECODE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        stderr=stderr,
    )
    decode.add_argument(
        "file", nargs="?", default="-", metavar="FILE", help="the dump to read (default: stdin)"
    )
    kind = decode.add_mutually_exclusive_group()
    kind.add_argument("--base64", action="store_true", help="the input is base64")
    kind.add_argument("--raw", action="store_true", help="the input is binary, as on the wire")
    decode.add_argument(
        "--direction",
        choices=("client", "server"),
        help="who sent the frames: a client must mask, a server must not "
        "(default: inferred from the handshake or the MASK bits, and said)",
    )
    decode.add_argument(
        "--deflate",
        action="store_true",
        help="inflate RSV1 (permessage-deflate) messages, keeping context across messages; "
        "on by itself when a captured 101 response agreed on it",
    )
    decode.add_argument(
        "--no-context-takeover",
        action="store_true",
        help="with --deflate: every message was compressed on its own",
    )
    decode.add_argument("--json", action="store_true", help="print one JSON object per line")
    decode.add_argument(
        "--full", action="store_true", help="show whole payloads (default: the first 1024 bytes)"
    )
    add_output_options(decode)
    decode.set_defaults(run=_run_decode)
    return parser


_SERVE_HELP = """\
Run a WebSocket server that is stricter than the client under test: it
upgrades GET requests on any path (101 Switching Protocols), echoes every
message (or broadcasts it), fails a connection with the RFC's close code on
the first rule broken, and prints the handshake, every frame in and out,
and each close with its cause. A plain GET of / serves a browser console
that connects back to this server.
"""

_SERVE_EPILOG = """\
examples:
  wstool serve                          # ws://127.0.0.1:8765/, echo
  wstool serve --port 9001 -v           # every header bit and mask key
  wstool serve --mode broadcast -q      # a chat room, connects/closes only
  wstool serve --json | jq -c 'select(.event == "close")'
  wstool serve --tls-cert cert.pem --tls-key key.pem     # wss://

Stop with Ctrl-C (or SIGTERM): every connection gets Close 1001 (going
away), the server waits briefly for the answers, then exits 0.
"""


def _size(text: str) -> int:
    """A byte size such as 1048576, 64KiB, 16MiB or 1GiB."""
    units = {"": 1, "b": 1, "k": 1000, "kb": 1000, "kib": 1024, "m": 10**6, "mb": 10**6}
    units.update({"mib": 2**20, "g": 10**9, "gb": 10**9, "gib": 2**30})
    number = text.strip().lower().rstrip("bikmg")
    unit = text.strip().lower()[len(number) :]
    if not number.isdigit() or unit not in units:
        raise argparse.ArgumentTypeError(f"{text!r} is not a size such as 65536, 64KiB or 16MiB")
    return int(number) * units[unit]


def _seconds(text: str) -> float:
    """A duration in seconds; 0 turns the timer off."""
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value >= 0 or value == float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds")
    return value


def _port(text: str) -> int:
    if not text.isdigit() or not 0 <= int(text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _add_serve(commands: Any, stderr: IO[str]) -> None:
    serve = commands.add_parser(
        "serve",
        help="run a strict echo server that shows every frame",
        description=_SERVE_HELP,
        epilog=_SERVE_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        stderr=stderr,
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port",
        type=_port,
        default=8765,
        help="port to listen on; 0 picks a free one (default: %(default)s)",
    )
    serve.add_argument(
        "--mode",
        choices=("echo", "broadcast"),
        default="echo",
        help="echo each message to its sender, or broadcast it to every other client",
    )
    serve.add_argument(
        "--subprotocol",
        action="append",
        default=[],
        metavar="NAME",
        help="a subprotocol to accept (repeatable); the first the client offers is chosen",
    )
    serve.add_argument(
        "--no-deflate", action="store_true", help="do not negotiate permessage-deflate"
    )
    out = serve.add_mutually_exclusive_group()
    out.add_argument("-q", "--quiet", action="store_true", help="show only connects and closes")
    out.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="show every header bit, mask keys, whole payloads",
    )
    out.add_argument("--json", action="store_true", help="print one JSON object per event (NDJSON)")
    limits = serve.add_argument_group("limits and timeouts")
    limits.add_argument(
        "--max-message-size",
        type=_size,
        default=16 * 2**20,
        metavar="SIZE",
        help="larger messages fail the connection with 1009 (default: 16MiB)",
    )
    limits.add_argument(
        "--max-inflated-size",
        type=_size,
        default=None,
        metavar="SIZE",
        help="cap on an inflated message, 1009 beyond it (default: --max-message-size)",
    )
    limits.add_argument(
        "--max-request-size",
        type=_size,
        default=16384,
        metavar="SIZE",
        help="largest request head; larger ones get 431 (default: 16384)",
    )
    limits.add_argument(
        "--handshake-timeout",
        type=_seconds,
        default=10.0,
        metavar="SECONDS",
        help="drop clients that have not finished their request by then (default: 10)",
    )
    limits.add_argument(
        "--close-timeout",
        type=_seconds,
        default=5.0,
        metavar="SECONDS",
        help="wait this long for the peer's Close frame (default: 5)",
    )
    limits.add_argument(
        "--ping-interval",
        type=_seconds,
        default=20.0,
        metavar="SECONDS",
        help="send a keepalive Ping this often; 0 turns it off (default: 20)",
    )
    limits.add_argument(
        "--ping-timeout",
        type=_seconds,
        default=20.0,
        metavar="SECONDS",
        help="close with 1011 when a Pong is this late (default: 20)",
    )
    limits.add_argument(
        "--idle-timeout",
        type=_seconds,
        default=0.0,
        metavar="SECONDS",
        help="close with 1001 after this long without a frame; 0: never (default)",
    )
    serve.add_argument(
        "--origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="accept only these Origin values (repeatable); others get 403",
    )
    serve.add_argument("--tls-cert", metavar="FILE", help="serve wss:// with this PEM certificate")
    serve.add_argument("--tls-key", metavar="FILE", help="the PEM private key for --tls-cert")
    add_output_options(serve)
    serve.set_defaults(run=_run_serve)


def _run_serve(args: argparse.Namespace, stdout: IO[str], stdin: IO[str]) -> int:
    from wstool.cli.serve import run_serve

    return run_serve(args, stdout, _console(args.color, stdout))


def _console(color: str, stream: IO[str] | None, *, epipe_raises: bool = False) -> Any:
    from rich.console import Console

    from wstool.ui.render import THEME

    class _Console(Console):
        def on_broken_pipe(self) -> None:
            # rich raises SystemExit(1) here, out of main(); with epipe_raises
            # main() turns the BrokenPipeError into its quiet exit instead.
            if not epipe_raises:
                super().on_broken_pipe()
            self.quiet = True
            raise BrokenPipeError

    if color == "always":
        return _Console(
            file=stream,
            theme=THEME,
            force_terminal=True,
            no_color=False,
            soft_wrap=True,
            highlight=False,
        )
    # NO_COLOR (https://no-color.org, set and not empty) turns off what
    # --color never does: rich alone would still send bold, dim and italic.
    if color == "never" or (color == "auto" and os.environ.get("NO_COLOR")):
        return _Console(
            file=stream,
            theme=THEME,
            no_color=True,
            color_system=None,
            soft_wrap=True,
            highlight=False,
        )
    # soft_wrap: long lines are left to the terminal rather than cut by rich,
    # so output piped to a file or grep keeps one line per field.
    return _Console(file=stream, theme=THEME, highlight=False, soft_wrap=True)


def _read_input(path: str, binary: bool, stdin: IO[str]) -> bytes:
    if path == "-":
        source: Any = stdin.buffer if hasattr(stdin, "buffer") else None
        if source is None:
            return stdin.read().encode("utf-8", "surrogateescape")
        if stdin.isatty():
            sys.stderr.write("wstool decode: reading the dump from the terminal; end with Ctrl-D\n")
        data: bytes = source.read()
        return data
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise CommandError(f"cannot read {path!r}: {exc.strerror}", ExitStatus.USAGE) from exc


def _run_decode(args: argparse.Namespace, stdout: IO[str], stdin: IO[str]) -> int:
    from wstool import hexdump
    from wstool.core.frames import Role
    from wstool.core.stream import inspect_streams

    raw = _read_input(args.file, args.raw, stdin)
    try:
        if args.raw:
            dump = hexdump.read_raw(raw)
        else:
            text = raw.decode("utf-8", "replace")
            dump = hexdump.read_base64(text) if args.base64 else hexdump.read_dump(text)
    except hexdump.DumpError as exc:
        hint = " (it looks binary: --raw reads bytes as on the wire)" if _binary(raw) else ""
        raise CommandError(f"unreadable input: {exc}{hint}", ExitStatus.USAGE) from exc
    sender = Role(args.direction) if args.direction else None
    deflate = None
    if args.deflate or args.no_context_takeover:
        from wstool.core.deflate import DeflateParams

        flag = args.no_context_takeover
        deflate = DeflateParams(server_no_context_takeover=flag, client_no_context_takeover=flag)
    reports = inspect_streams(dump.streams(), sender=sender, deflate=deflate)
    problems = sum(len(r.violations) for _, _, r in reports)
    problems += sum(1 for _, _, r in reports if r.truncated)
    if args.json:
        _print_json(reports, dump.notes, stdout)
    else:
        _print_reports(reports, dump.format, dump.notes, args, stdout)
    return ExitStatus.ERROR if problems else ExitStatus.OK


def _binary(data: bytes) -> bool:
    """Whether input that failed as a text dump looks like raw bytes instead."""
    head = data[:4096]
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 3  # not just a character cut at the 4 KiB mark
    return False


def _print_json(reports: Sequence[Any], notes: Sequence[str], stdout: IO[str]) -> None:
    from wstool.ui.render import report_records
    from wstool.ui.sanitize import json_line

    for note in notes:
        stdout.write(json_line({"type": "note", "message": note}))
    for source, destination, report in reports:
        for record in report_records(report, source=source, destination=destination):
            stdout.write(json_line(record))


def _print_reports(
    reports: Sequence[Any],
    format_name: str,
    notes: Sequence[str],
    args: argparse.Namespace,
    stdout: IO[str],
) -> None:
    from rich.text import Text

    from wstool.ui.render import print_block, report_blocks

    console = _console(args.color, stdout, epipe_raises=True)
    frames = sum(len(r.frames) for _, _, r in reports)
    found = sum(len(r.violations) for _, _, r in reports)
    console.print(Text(f"read as {format_name}", "ws.note"))
    for note in notes:
        console.print(Text(f"note: {note}", "ws.note"))
    limit = None if args.full else 1024
    for source, destination, report in reports:
        for block in report_blocks(report, source=source, destination=destination, limit=limit):
            print_block(console, block)
    summary = Text(f"{frames} frame{'s' * (frames != 1)}, ")
    if found:
        summary.append(f"{found} violation{'s' * (found != 1)}", "ws.violation")
    else:
        summary.append("no violations", "ws.ok")
    cut = sum(1 for _, _, r in reports if r.truncated)
    if cut:
        # A cut frame fails the decode (exit 1) as a violation does: say so.
        summary.append(f", {cut} stream{'s' * (cut != 1)} cut short", "ws.violation")
    console.print(summary)


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: IO[str] | None = None,
    stderr: IO[str] | None = None,
    stdin: IO[str] | None = None,
) -> int:
    """Run wstool with ``argv`` (default: the process's) and return the exit status.

    Args:
        argv: the arguments after the program name.
        stdout: where data goes (default: ``sys.stdout``).
        stderr: where diagnostics go (default: ``sys.stderr``).
        stdin: where input comes from (default: ``sys.stdin``).
    """
    out = sys.stdout if stdout is None else stdout
    err = sys.stderr if stderr is None else stderr
    inp = sys.stdin if stdin is None else stdin
    parser = _build_parser(err, out)
    try:
        args = parser.parse_args(argv)
    except _UsageExit as exc:
        return exc.status
    run: Callable[[argparse.Namespace, IO[str], IO[str]], int] | None = getattr(args, "run", None)
    if run is None:
        parser.print_help(out)
        return ExitStatus.USAGE
    prog = f"wstool {args.command}"
    try:
        return run(args, out, inp)
    except CommandError as exc:
        err.write(f"{prog}: {exc}\n")
        return exc.status
    except KeyboardInterrupt:
        err.write(f"{prog}: interrupted\n")
        return ExitStatus.INTERRUPTED
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, and keep Python
        # from complaining when it flushes stdout at exit. A stream passed in
        # is the caller's: the process's stdout is left alone then.
        if out is sys.stdout:
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
        return ExitStatus.OK
    except Exception as exc:
        if args.debug:
            traceback.print_exc(file=err)
        err.write(f"{prog}: internal error: {type(exc).__name__}: {exc} (--debug shows more)\n")
        return ExitStatus.ERROR
