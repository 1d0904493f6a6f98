"""``wstool serve --exec``: one program per connection, websocketd's model.

Each text message from the client is a line on the program's standard input;
each line the program writes to standard output is a text message (with
``binary``: raw chunks both ways, as binary messages). Standard error goes to
the log a line at a time. The request is in CGI-style environment variables
(RFC 3875 §4.1, as websocketd sets them). The program is stopped (SIGTERM,
then SIGKILL after a grace period) when the connection is gone, and the
connection is closed when the program exits: 1000 for status 0, 1011 with
the status in the reason otherwise.

Back-pressure: while the client reads too slowly for the connection's
output, the program's output is not read either (the wire passes its
pause on to :class:`ExecBehaviour`), so the program blocks on a full pipe
instead of wstool buffering without bound; while the program reads its
input too slowly, the client's socket is not read.
"""

from __future__ import annotations

import contextlib
import os
import shlex
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol
from urllib.parse import unquote

from twisted.internet.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import ProcessProtocol
from twisted.python.failure import Failure

from wstool.core.connection import State
from wstool.core.errors import HandshakeError, WstoolError
from wstool.core.events import MessageReceived
from wstool.core.frames import CloseCode, Opcode
from wstool.net.server import UpgradeRequest
from wstool.net.wire import WireProtocol

__all__ = [
    "ExecFactory",
    "ExecSpec",
    "ProgramError",
    "ProgramObserver",
    "cgi_environment",
    "parse_command",
]

_STDERR_LINE_LIMIT = 65536
"""A stderr line longer than this is logged in pieces of this size."""


class ProgramError(WstoolError):
    """The program of ``--exec`` cannot be run: the message says which and why."""


def parse_command(command: str) -> tuple[str, ...]:
    """``'PROGRAM ARGS'`` split as a POSIX shell would, the program found on PATH.

    Raises:
        ProgramError: an empty command, unbalanced quotes, a program that
            does not exist or cannot be executed.
    """
    try:
        argv = shlex.split(command)
    except ValueError as exc:
        raise ProgramError(f"cannot split {command!r}: {exc}") from exc
    if not argv:
        raise ProgramError("no program given")
    program = argv[0]
    if os.sep in program:
        if not os.path.isfile(program):
            raise ProgramError(f"program {program!r} not found")
        if not os.access(program, os.X_OK):
            raise ProgramError(f"program {program!r} is not executable (chmod +x?)")
        found = program
    else:
        located = shutil.which(program)
        if located is None:
            raise ProgramError(f"program {program!r} not found on PATH")
        found = located
    return (found, *argv[1:])


@dataclass(frozen=True)
class ExecSpec:
    """What to run for each connection, and how.

    Attributes:
        argv: the program (a path) and its arguments.
        binary: raw chunks as binary messages instead of lines as text ones.
        max_procs: programs running at once; further upgrades get 503.
        max_line: longest line sent as one message; longer ones go in pieces.
        kill_grace: seconds between SIGTERM and SIGKILL.
        tls: whether the server speaks TLS (``HTTPS=on``, default port 443).
        environ: the environment the CGI variables are added to.
        software: SERVER_SOFTWARE, such as ``wstool/0.1.0``.
    """

    argv: tuple[str, ...]
    binary: bool = False
    max_procs: int | None = None
    max_line: int = 16 * 2**20
    kill_grace: float = 2.0
    tls: bool = False
    environ: Mapping[str, str] = field(default_factory=dict)
    software: str = "wstool"


class ProgramObserver(Protocol):
    """Where a connection's program is reported (the traffic log, or a test)."""

    def program_started(self, conn_id: int, pid: int, argv: tuple[str, ...]) -> None:
        """The program is running."""

    def program_stderr(self, conn_id: int, line: bytes) -> None:
        """A line the program wrote to standard error (without its newline)."""

    def program_ended(self, conn_id: int, pid: int, how: str) -> None:
        """The program is gone: ``how`` says so in a few words."""


def _clean(value: str) -> str:
    # websocketd: newlines become spaces, the value is trimmed; a NUL cannot
    # be in an environment variable at all.
    return value.replace("\r", " ").replace("\n", " ").replace("\x00", " ").strip()


def _split_host(host: str, default_port: str) -> tuple[str, str]:
    if host.startswith("["):
        name, _, rest = host[1:].partition("]")
        return name, rest[1:] if rest.startswith(":") else default_port
    name, colon, port = host.rpartition(":")
    if colon and port.isdigit():
        return name, port
    return host, default_port


def cgi_environment(
    upgrade: UpgradeRequest, spec: ExecSpec, conn_id: int, client_subject: str | None = None
) -> dict[str, str]:
    """The program's environment: ``spec.environ`` and the request as CGI variables.

    The names follow RFC 3875 §4.1 as websocketd sets them: REQUEST_METHOD,
    SCRIPT_NAME (``/``), PATH_INFO, QUERY_STRING, REQUEST_URI, REMOTE_ADDR,
    REMOTE_PORT, SERVER_NAME, SERVER_PORT (from Host), SERVER_PROTOCOL,
    SERVER_SOFTWARE, GATEWAY_INTERFACE, HTTPS (with TLS), UNIQUE_ID, and
    ``HTTP_<NAME>`` per request header (repeats joined with ``", "``).
    """
    head = upgrade.head
    path, _, query = head.target.partition("?")
    remote_host, _, remote_port = upgrade.peer.rpartition(":")
    server_name, server_port = _split_host(upgrade.request.host, "443" if spec.tls else "80")
    env = dict(spec.environ)
    cgi = {
        "SERVER_SOFTWARE": spec.software,
        "GATEWAY_INTERFACE": "CGI/1.1",
        "SERVER_PROTOCOL": head.version,
        "SERVER_NAME": server_name,
        "SERVER_PORT": server_port,
        "REQUEST_METHOD": head.method,
        "REQUEST_URI": head.target,
        "SCRIPT_NAME": "/",
        "PATH_INFO": unquote(path),
        "PATH_TRANSLATED": unquote(path),
        "QUERY_STRING": query,
        "REMOTE_ADDR": remote_host.strip("[]") if remote_port.isdigit() else "",
        "REMOTE_HOST": remote_host.strip("[]") if remote_port.isdigit() else "",
        "REMOTE_PORT": remote_port if remote_port.isdigit() else "",
        "UNIQUE_ID": str(conn_id),
        # Not set by a WebSocket request; cleared so the parent's cannot leak in.
        "AUTH_TYPE": "",
        "CONTENT_LENGTH": "",
        "CONTENT_TYPE": "",
        "REMOTE_IDENT": "",
        "REMOTE_USER": "",
    }
    if spec.tls:
        cgi["HTTPS"] = "on"
    if client_subject:
        cgi["SSL_CLIENT_S_DN"] = client_subject
    for name in [key for key in env if key.startswith("HTTP_")]:
        del env[name]  # only this request's headers
    joined: dict[str, list[str]] = {}
    for name, value in head.headers:
        key = "HTTP_" + name.upper().replace("-", "_")
        joined.setdefault(key, []).append(_clean(value))
    env.update({key: _clean(value) for key, value in cgi.items()})
    env.update({key: ", ".join(values) for key, values in joined.items() if "\x00" not in key})
    return env


class ExecFactory:
    """The behaviour factory of ``serve --exec`` (:attr:`ServerOptions.behaviour`).

    Args:
        spec: the program and its options.
        reactor: spawns the processes and runs the kill timers.
        observer: hears of each program's start, standard error and end.
        subject: the TLS client certificate's subject for a peer, if any.
    """

    def __init__(
        self,
        spec: ExecSpec,
        reactor: Any,
        observer: ProgramObserver,
        subject: Any = None,
    ) -> None:
        self.spec = spec
        self.reactor = reactor
        self.observer = observer
        self.subject = subject
        self.running = 0
        """Programs started and not yet reaped."""
        self.live: set[ExecBehaviour] = set()

    def kill_all(self) -> None:
        """SIGKILL every program still running (serve is exiting: no grace is left)."""
        for behaviour in list(self.live):
            behaviour.kill()

    def __call__(self, upgrade: UpgradeRequest) -> ExecBehaviour:
        limit = self.spec.max_procs
        if limit is not None and self.running >= limit:
            raise HandshakeError(
                f"too many programs running ({self.running}; --max-procs {limit})", 503
            )
        return ExecBehaviour(self, upgrade)


class ExecBehaviour:
    """One connection's program: started after the 101, stopped when the connection is gone."""

    def __init__(self, factory: ExecFactory, upgrade: UpgradeRequest) -> None:
        self.factory = factory
        self.upgrade = upgrade
        self.wire: WireProtocol | None = None
        self.process: Any = None
        self.pid = 0
        self._out = b""
        self._err = b""
        self._cut_noted = False
        self._kill_timer: IDelayedCall | None = None
        self._stdin_full = False
        self._wire_gone = False

    # -- the Behaviour -------------------------------------------------------

    def start(self, wire: WireProtocol) -> None:
        factory = self.factory
        spec = factory.spec
        self.wire = wire
        subject = factory.subject(wire) if factory.subject is not None else None
        env = cgi_environment(self.upgrade, spec, wire.conn_id, subject)
        try:
            self.process = factory.reactor.spawnProcess(
                _ProgramProtocol(self), spec.argv[0], list(spec.argv), env=env
            )
        except OSError as exc:
            factory.observer.program_ended(wire.conn_id, 0, f"not started: {exc.strerror or exc}")
            wire.close(CloseCode.INTERNAL_ERROR, "the program could not be started")
            return
        factory.running += 1
        factory.live.add(self)
        self.pid = self.process.pid or 0
        factory.observer.program_started(wire.conn_id, self.pid, spec.argv)
        # The client's pace limits the program's output; the program's, the client's input.
        wire.fed_by = self
        self.process.registerProducer(_StdinFull(self), True)

    def message(self, wire: WireProtocol, message: MessageReceived) -> None:
        if self.process is None:
            return
        data = message.data
        # websocketd: each message is a line on stdin, a newline after it.
        self.process.write(data if self.factory.spec.binary else data + b"\n")

    def closed(self, wire: WireProtocol) -> None:
        self._wire_gone = True
        if self.process is None or self.process.pid is None:
            return
        self.process.closeStdin()
        self._signal("TERM")
        self._kill_timer = self.factory.reactor.callLater(self.factory.spec.kill_grace, self.kill)

    def kill(self) -> None:
        """SIGKILL the program, and stop waiting for its pipes."""
        self._signal("KILL")
        # A child of the program (a shell script's sleep) may hold the pipes open;
        # ours are closed so that the program counts as ended once it is reaped.
        self.process.loseConnection()

    # -- the wire's producer: the program's output follows the client's pace -

    def pauseProducing(self) -> None:
        if self.process is not None:
            self.process.pauseProducing()

    def resumeProducing(self) -> None:
        if self.process is not None:
            self.process.resumeProducing()
        if self._stdin_full:  # the wire resumed reading; the program's input is still full
            self._pause_client(True)

    def stopProducing(self) -> None:
        pass

    def _pause_client(self, pause: bool) -> None:
        transport: Any = self.wire.transport if self.wire is not None else None
        if transport is None or self._wire_gone:
            return
        transport.pauseProducing() if pause else transport.resumeProducing()

    def stdin_full(self, full: bool) -> None:
        """The program's input pipe filled up (stop reading the client) or drained."""
        self._stdin_full = full
        self._pause_client(full)

    # -- the program's side --------------------------------------------------

    def stdout(self, data: bytes) -> None:
        wire = self.wire
        if wire is None or not wire.conn.can_send_data:
            return
        if self.factory.spec.binary:
            wire.conn.send_message(Opcode.BINARY, data)
        else:
            self._out += data
            self._send_lines(wire, final=False)
        wire.flush()

    def _send_lines(self, wire: WireProtocol, *, final: bool) -> None:
        conn = wire.conn
        *lines, self._out = self._out.split(b"\n")
        if final and self._out:
            lines.append(self._out)
            self._out = b""
        limit = self.factory.spec.max_line
        while len(self._out) > limit:  # a line that never ends: sent in pieces
            lines.append(self._out[:limit])
            self._out = self._out[limit:]
            self._note_cut(limit)
        for line in lines:
            if line.endswith(b"\r"):
                line = line[:-1]
            for start in range(0, max(len(line), 1), limit):
                if start:
                    self._note_cut(limit)
                # A text message must be UTF-8 (RFC 6455 §5.6): invalid bytes become U+FFFD.
                text = line[start : start + limit].decode("utf-8", "replace").encode("utf-8")
                conn.send_message(Opcode.TEXT, text)

    def _note_cut(self, limit: int) -> None:
        if not self._cut_noted and self.wire is not None:
            self._cut_noted = True
            self.factory.observer.program_stderr(
                self.wire.conn_id,
                f"[wstool] a line longer than {limit} bytes was sent in pieces".encode(),
            )

    def stderr(self, data: bytes) -> None:
        *lines, self._err = (self._err + data).split(b"\n")
        while len(self._err) > _STDERR_LINE_LIMIT:
            lines.append(self._err[:_STDERR_LINE_LIMIT])
            self._err = self._err[_STDERR_LINE_LIMIT:]
        conn_id = self.wire.conn_id if self.wire is not None else 0
        for line in lines:
            self.factory.observer.program_stderr(conn_id, line.rstrip(b"\r"))

    def ended(self, reason: Failure) -> None:
        """The program exited and its pipes are closed: close the connection after its output."""
        self.factory.running -= 1
        self.factory.live.discard(self)
        if self._kill_timer is not None and self._kill_timer.active():
            self._kill_timer.cancel()
        if self._err:
            self.stderr(b"\n")
        wire = self.wire
        assert wire is not None
        wire.fed_by = None
        how, code = _exit_status(reason)
        self.factory.observer.program_ended(wire.conn_id, self.pid, how)
        if self._wire_gone or not wire.conn.can_send_data:
            return
        if self._out and not self.factory.spec.binary:
            self._send_lines(wire, final=True)
            wire.flush()
        if wire.conn.state is State.OPEN:
            wire.close(code, f"program {how}" if code != CloseCode.NORMAL_CLOSURE else "")

    def _signal(self, name: str) -> None:
        with contextlib.suppress(ProcessExitedAlready, OSError):
            self.process.signalProcess(name)


def _exit_status(reason: Failure) -> tuple[str, int]:
    """In words, and the close code: 1000 for status 0, 1011 otherwise."""
    value = reason.value
    if isinstance(value, ProcessDone):
        return "exited with status 0", CloseCode.NORMAL_CLOSURE
    if isinstance(value, ProcessTerminated):
        if value.signal is not None:
            return f"killed by signal {value.signal}", CloseCode.INTERNAL_ERROR
        return f"exited with status {value.exitCode}", CloseCode.INTERNAL_ERROR
    return "ended", CloseCode.INTERNAL_ERROR


class _StdinFull:
    """The program's stdin pipe as a consumer: its pause and resume reach the behaviour."""

    def __init__(self, behaviour: ExecBehaviour) -> None:
        self.behaviour = behaviour

    def pauseProducing(self) -> None:
        self.behaviour.stdin_full(True)

    def resumeProducing(self) -> None:
        self.behaviour.stdin_full(False)

    def stopProducing(self) -> None:
        pass


class _ProgramProtocol(ProcessProtocol):
    """Twisted's side of the program: its pipes, to the behaviour."""

    def __init__(self, behaviour: ExecBehaviour) -> None:
        self.behaviour = behaviour

    def outReceived(self, data: bytes) -> None:
        self.behaviour.stdout(data)

    def errReceived(self, data: bytes) -> None:
        self.behaviour.stderr(data)

    def processEnded(self, reason: Failure) -> None:
        self.behaviour.ended(reason)
