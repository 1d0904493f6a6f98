"""Session files in decode: ``wstool decode SESSION`` shows what ``--record`` kept."""

from __future__ import annotations

import argparse
from typing import IO, Any

from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus

__all__ = ["decode_session", "read_session_file", "transcript"]


def read_session_file(raw: bytes, name: str, *, check_frames: bool = True) -> Any:
    """The session in ``raw``, or one clear line (exit status 2) if it is malformed."""
    from wstool.session.format import SessionError, read_session

    try:
        return read_session(raw.splitlines(keepends=True), check_frames=check_frames)
    except SessionError as exc:
        raise CommandError(f"{name}: {exc}", ExitStatus.USAGE) from None


def decode_session(raw: bytes, args: argparse.Namespace, env: Environment) -> int:
    """Decode a session: each connection's directions judged as decode judges a dump.

    With --json the records go out as they are in the file (after checking them).
    Returns 0 when clean, 1 when a frame breaks a rule or a stream is cut.
    """
    name = "the input" if args.file == "-" else args.file
    session = read_session_file(raw, name)
    if args.json:
        env.stdout.write(raw.decode("utf-8", "replace"))
        return ExitStatus.OK
    reports = _reports(session)
    from wstool.cli.decode import print_reports

    header = session.header
    notes = [
        f"recorded by wstool {header.get('wstool')} {header.get('command')}"
        f" at {header.get('started')}: {len(session.connections)} connection(s)",
        *session.notes,
    ]
    print_reports(reports, "a wstool session", notes, args, env)
    problems = sum(len(r.violations) + (r.truncated is not None) for _, _, r in reports)
    return ExitStatus.ERROR if problems else ExitStatus.OK


def _reports(session: Any) -> list[Any]:
    """Each connection's two directions, judged as decode judges a dump."""
    from wstool.core.frames import Role
    from wstool.core.inspect import inspect_streams

    streams = []
    for conn in session.connections.values():
        url, peer = conn.open.get("url"), conn.open.get("peer")
        client = f"#{conn.conn} client" + (f" {peer}" if peer and peer != url else "")
        server = f"#{conn.conn} server" + (f" {url}" if url else "")
        streams.append((client, server, conn.wire(Role.CLIENT)))
        streams.append((server, client, conn.wire(Role.SERVER)))
    return inspect_streams(streams)


def transcript(session: Any, out: IO[str]) -> None:
    """The decoded view of a session as plain text: what decode prints to a file."""
    from wstool.ui.render import report_text

    for source, destination, report in _reports(session):
        for text in report_text(report, source=source, destination=destination, limit=None):
            out.write(text)
