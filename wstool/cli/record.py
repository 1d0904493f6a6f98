"""``--record FILE``: serve and connect hand the wire a tee of their log and a session recorder."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Sequence
from typing import Any

from wstool.cli.errors import CommandError, ExitStatus

__all__ = ["RelayTee", "Tee", "add_record_option", "start_recording"]


def add_record_option(parser: argparse.ArgumentParser) -> None:
    """The --record option, the same on every command that records."""
    parser.add_argument(
        "--record",
        metavar="FILE",
        help="write every frame of every connection to FILE, a session "
        "(one JSON object a line; 'wstool decode FILE' shows it)",
    )


class Tee:
    """One observer for the wire that reports to the terminal log and the recorder.

    Anything else asked of it (the console, flush) is the log's.
    """

    def __init__(self, log: Any, recorder: Any) -> None:
        self.log = log
        self.recorder = recorder

    @property
    def wants_frames(self) -> bool:
        return bool(self.log.wants_frames)  # the recorder reads the bytes themselves

    def wire_data(self, conn_id: int, received: bool, data: bytes) -> None:
        self.recorder.wire_data(conn_id, received, data)

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        self.log.opened(conn_id, peer, request, response)
        self.recorder.opened(conn_id, peer, request, response)

    def events(self, conn_id: int, events: Sequence[Any]) -> None:
        self.recorder.events(conn_id, events)
        self.log.events(conn_id, events)

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        self.recorder.closed(conn_id, peer, cause)
        self.log.closed(conn_id, peer, cause)

    def rejected(self, peer: str, request: bytes, status: int, reason: str) -> None:
        self.log.rejected(peer, request, status, reason)  # no connection: nothing to record

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


class RelayTee:
    """The proxy's observer for the relay: its log and the recorder hear every report.

    Anything else asked of it (the console, flush, tunnels) is the log's.
    """

    def __init__(self, log: Any, recorder: Any) -> None:
        self.log = log
        self.recorder = recorder

    @property
    def wants_frames(self) -> bool:
        return True

    def request(
        self, conn_id: int, client: str, upstream: str, received: bytes, sent: bytes
    ) -> None:
        self.log.request(conn_id, client, upstream, received, sent)
        self.recorder.request(conn_id, client, upstream, received, sent)

    def answered(self, conn_id: int, response: bytes, body: bytes) -> None:
        self.log.answered(conn_id, response, body)
        self.recorder.answered(conn_id, response, body)

    def failed(self, conn_id: int, client: str, status: int, reason: str) -> None:
        self.log.failed(conn_id, client, status, reason)
        self.recorder.failed(conn_id, client, status, reason)

    def items(self, conn_id: int, sender: Any, items: Sequence[Any]) -> None:
        self.recorder.items(conn_id, sender, items)
        self.log.items(conn_id, sender, items)

    def closed(self, conn_id: int, summary: Any) -> None:
        self.recorder.closed(conn_id, summary)
        self.log.closed(conn_id, summary)

    def injected(self, conn_id: int, toward: Any, data: bytes) -> None:
        self.log.injected(conn_id, toward, data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.log, name)


def start_recording(
    args: argparse.Namespace,
    reactor: Any,
    *,
    role: str,
    command: str,
    on_error: Callable[[OSError], None],
) -> Any:
    """The recorder for ``--record FILE``, or None without it.

    Raises:
        CommandError: the file cannot be created (exit status 2).
    """
    if not getattr(args, "record", None):
        return None
    from wstool import __version__
    from wstool.core.frames import Role
    from wstool.session.recorder import RelayRecorder, SessionRecorder

    try:
        file = open(args.record, "wb")  # noqa: SIM115 (closed when the command ends)
    except OSError as exc:
        raise CommandError(
            f"cannot write the session to {args.record!r}: {exc.strerror}", ExitStatus.USAGE
        ) from exc
    common: dict[str, Any] = {
        "command": command,
        "tool_version": __version__,
        "flush_soon": lambda flush: reactor.callLater(0, flush),
        "on_error": on_error,
    }
    if role == "proxy":
        return RelayRecorder(file, **common)
    return SessionRecorder(file, role=Role(role), **common)
