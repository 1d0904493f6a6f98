"""What serve and proxy share: a run that listens until Ctrl-C or SIGTERM, and how it ended."""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Callable
from typing import IO, Any

from wstool.cli.errors import CommandError, ExitStatus

__all__ = ["ListeningRun", "buffer_stdout", "stop_once_on_signals"]


def buffer_stdout(stdout: IO[str]) -> None:
    """The log flushes once per turn of the reactor, so the stream need not write every
    line through, whatever PYTHONUNBUFFERED says."""
    reconfigure = getattr(stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(write_through=False)


def stop_once_on_signals(reactor: Any) -> None:
    """SIGINT and SIGTERM stop the reactor; one more while it stops is ignored.

    Called once the reactor runs (it has installed its own handlers by then).
    Twisted's handlers would print a ReactorNotRunning traceback for the
    second signal: ``timeout`` signals the process and then its group, an
    impatient user presses Ctrl-C twice while connections close.
    """

    def stop() -> None:
        from twisted.internet.error import ReactorNotRunning

        with contextlib.suppress(ReactorNotRunning):
            reactor.stop()

    for number in (signal.SIGINT, signal.SIGTERM):
        signal.signal(number, lambda *_: reactor.callFromThread(stop))


class ListeningRun:
    """How one run of a listening command ended; the reactor callbacks fill it in."""

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self.broken_pipe = False
        self.error: str | None = None

    def stop(self) -> None:
        if self.reactor.running:
            self.reactor.stop()

    def reader_gone(self) -> None:
        """stdout's reader has gone (``| head``): stop quietly."""
        self.broken_pipe = True
        self.stop()

    def recording_failed(self, path: str) -> Callable[[OSError], None]:
        """What to call when the session file at ``path`` cannot be written."""

        def failed(exc: OSError) -> None:
            self.error = f"cannot write the session to {path!r}: {exc.strerror or exc}"
            self.stop()

        return failed

    def listen_failed(self, host: str, port: int) -> Callable[[Any], None]:
        """The errback of listening on ``host:port``: one line, then stop."""

        def failed(failure: Any) -> None:
            error = getattr(failure.value, "socketError", None) or failure.value
            why = getattr(error, "strerror", None) or str(error)
            self.error = f"cannot listen on {host}:{port}: {why}"
            self.stop()

        return failed

    def finish(self, log: Any, recorder: Any) -> int:
        """After the reactor stopped: the session closed, the log flushed, the exit status."""
        if recorder is not None:
            recorder.close()  # every frame up to the last turn is in the file
        if self.broken_pipe:
            raise BrokenPipeError
        log.flush()  # what the last turns of the reactor logged
        if self.error is not None:
            raise CommandError(self.error)
        return ExitStatus.OK
