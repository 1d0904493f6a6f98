"""``wstool export`` and ``wstool import``: sessions to and from HAR, and to a transcript."""

from __future__ import annotations

import argparse
import json
from typing import IO, Any

from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus
from wstool.cli.options import add_command, add_output_options

__all__ = ["add_parser"]

_EXPORT_EPILOG = """\
examples:
  wstool export chat.session --har chat.har      # open in Chrome DevTools, or any HAR tool
  wstool export chat.session --text chat.txt     # the decoded view, without colour
  wstool export chat.session --har -             # the HAR on stdout
"""

_IMPORT_EPILOG = """\
examples:
  wstool import devtools.har -o page.session     # saved from Chrome or Firefox DevTools
  wstool import devtools.har | wstool decode -
"""


def add_parser(commands: Any) -> None:
    """Add ``export`` and ``import`` to the subcommands."""
    export = add_command(
        commands,
        "export",
        help="a session (from --record) as HAR or as a text transcript",
        description="Write a session file as a HAR (Chrome DevTools' WebSocket entries: "
        "_resourceType websocket, _webSocketMessages) or as the decoded view in plain text.",
        epilog=_EXPORT_EPILOG,
    )
    export.add_argument("session", metavar="SESSION", help="a session file ('-' for stdin)")
    what = export.add_mutually_exclusive_group(required=True)
    what.add_argument("--har", metavar="OUT", help="write the HAR to OUT ('-' for stdout)")
    what.add_argument("--text", metavar="OUT", help="write the transcript to OUT ('-' for stdout)")
    add_output_options(export)
    export.set_defaults(run=run_export)

    importer = add_command(
        commands,
        "import",
        help="a HAR saved by browser DevTools, as a session for decode and replay",
        description="Turn the WebSocket connections of a HAR file (Chrome or Firefox DevTools) "
        "into a session file. A HAR holds messages, not frames: each message becomes one frame.",
        epilog=_IMPORT_EPILOG,
    )
    importer.add_argument("har", metavar="FILE.har", help="the HAR file ('-' for stdin)")
    importer.add_argument(
        "-o", "--output", metavar="SESSION", default="-", help="where to write (default: stdout)"
    )
    add_output_options(importer)
    importer.set_defaults(run=run_import)


def _read(path: str, env: Environment) -> bytes:
    if path == "-":
        data: bytes = env.stdin.buffer.read() if hasattr(env.stdin, "buffer") else b""
        return data
    try:
        with open(path, "rb") as file:
            return file.read()
    except OSError as exc:
        raise CommandError(f"cannot read {path!r}: {exc.strerror}", ExitStatus.USAGE) from exc


def _open_output(path: str, env: Environment) -> IO[str]:
    if path == "-":
        return env.stdout
    try:
        return open(path, "w", encoding="utf-8")  # closed by the caller
    except OSError as exc:
        raise CommandError(f"cannot write {path!r}: {exc.strerror}", ExitStatus.USAGE) from exc


def run_export(args: argparse.Namespace, env: Environment) -> int:
    """Export a session as HAR or as a transcript."""
    from wstool import __version__
    from wstool.cli.sessions import read_session_file, transcript

    order: list[tuple[int, dict[str, Any]]] = []
    session = read_session_file(_read(args.session, env), args.session, order=order)
    target = args.har or args.text
    out = _open_output(target, env)
    try:
        if args.har:
            from wstool.session.har import har_from_session

            har = har_from_session(session, tool_version=__version__)
            out.write(json.dumps(har, indent=2, ensure_ascii=False) + "\n")
        else:
            transcript(session, out, order)
    finally:
        if out is not env.stdout:
            out.close()
    return ExitStatus.OK


def run_import(args: argparse.Namespace, env: Environment) -> int:
    """Import a HAR's WebSocket connections as a session."""
    from wstool import __version__
    from wstool.session.format import SessionError
    from wstool.session.har import dumps_lines, session_lines_from_har

    raw = _read(args.har, env)
    name = "the input" if args.har == "-" else args.har
    try:
        har = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise CommandError(f"{name}: not JSON: {exc}", ExitStatus.USAGE) from None
    except ValueError:  # not UTF-8: a binary file (a pcap, say) given by mistake
        raise CommandError(
            f"{name}: not a HAR file (binary, not JSON text)", ExitStatus.USAGE
        ) from None
    try:
        records = session_lines_from_har(har, tool_version=__version__, source=name)
    except SessionError as exc:
        raise CommandError(str(exc), ExitStatus.USAGE) from None
    out = _open_output(args.output, env)
    try:
        out.write(dumps_lines(records))
    finally:
        if out is not env.stdout:
            out.close()
    return ExitStatus.OK
