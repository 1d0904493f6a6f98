"""``serve --workers N``: N processes accepting on one port, and the supervisor that runs them.

The supervisor (the ``wstool serve`` the user started) binds one listening
socket per worker with ``SO_REUSEPORT`` on the same port (``--port 0``: the
first one picks it, the others join it), starts each worker as
``python -m wstool`` with the same arguments, its socket as file descriptor
:data:`LISTEN_FD` and its number in :data:`WORKER_ENV`, then closes its own
copies. The kernel spreads new connections over the sockets by a hash of
the addresses, so no process takes every connection of a burst (one socket
shared by every worker would wake them all for each connection and let the
first one accept a whole backlog).

Workers write their output to pipes; the supervisor writes it out whole
lines at a time, so lines from several workers never mix, and one stream
(text or NDJSON) comes out. A worker says it is ready on :data:`READY_FD`;
once all are, the supervisor prints the one listening line. SIGINT and
SIGTERM reach the supervisor only (workers run in their own process group)
and are passed on as SIGTERM, on which each worker closes every connection
with 1001 as a single serve does. A worker dies with its supervisor (Linux's
parent-death signal).
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IStreamServerEndpoint
from twisted.internet.protocol import ProcessProtocol
from zope.interface import implementer

__all__ = [
    "LISTEN_FD",
    "READY_FD",
    "WORKER_ENV",
    "AdoptedEndpoint",
    "LineSplitter",
    "Supervisor",
    "WorkerSlot",
    "announce_ready",
    "die_with_parent",
    "listening_sockets",
]

WORKER_ENV = "WSTOOL_SERVE_WORKER"
"""Set to ``"k/N"`` in the environment of worker k (1-based) of N."""
LISTEN_FD = 3
"""A worker's listening socket."""
READY_FD = 4
"""A worker writes ``ready`` here once it accepts connections."""
STOP_TIMEOUT = 10.0
"""Seconds a worker has to close its connections after SIGTERM before SIGKILL."""


@dataclass(frozen=True)
class WorkerSlot:
    """Which worker this process is: ``index`` (1-based) of ``count``."""

    index: int
    count: int

    @classmethod
    def parse(cls, text: str) -> WorkerSlot:
        """``"k/N"`` -> a slot; ValueError for anything else."""
        index, _, count = text.partition("/")
        slot = cls(int(index), int(count))
        if not 1 <= slot.index <= slot.count:
            raise ValueError(f"not a worker slot: {text!r}")
        return slot

    def __str__(self) -> str:
        return f"{self.index}/{self.count}"

    def first_connection_ids(self, how_many: int) -> list[int]:
        """The numbers of this worker's first connections: k, k + N, k + 2N ..."""
        return [self.index + n * self.count for n in range(how_many)]


def listening_sockets(
    host: str, port: int, count: int, *, backlog: int = 1024
) -> list[socket.socket]:
    """``count`` listening sockets on one port, bound with ``SO_REUSEPORT``.

    Args:
        host: an IPv4 or IPv6 address (brackets allowed), a host name, or ``""``.
        port: the port; 0 lets the first socket pick one, which the others join.
        count: how many sockets.
        backlog: each socket's listen queue.

    Raises:
        OSError: the port cannot be bound (in use, permission, no such address).
    """
    interface = host.strip("[]")
    family = socket.AF_INET6 if ":" in interface else socket.AF_INET
    if port:
        # SO_REUSEPORT would let these sockets join another serve --workers already on
        # the port (same user) and share its connections without a word: a plain bind
        # fails on any listening socket there, as a single serve's would.
        with socket.socket(family, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind((interface, port))
    sockets: list[socket.socket] = []
    try:
        for _ in range(count):
            sock = socket.socket(family, socket.SOCK_STREAM)
            sockets.append(sock)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
            sock.bind((interface, port))
            port = sock.getsockname()[1]
            sock.listen(backlog)
            sock.setblocking(False)
    except OSError:
        for sock in sockets:
            sock.close()
        raise
    return sockets


@implementer(IStreamServerEndpoint)
class AdoptedEndpoint:
    """Listen on a socket inherited as file descriptor ``fd`` (a worker's :data:`LISTEN_FD`).

    With TLS options, the site starts TLS per connection as
    :func:`wstool.net.server.listen_endpoint`'s endpoint arranges.
    """

    def __init__(self, reactor: Any, fd: int = LISTEN_FD, tls: Any = None) -> None:
        self.reactor = reactor
        self.fd = fd
        self.tls = tls

    def listen(self, factory: Any) -> Deferred[Any]:
        if self.tls is not None:
            factory.tls = self.tls
        sock = socket.socket(fileno=self.fd)
        family = sock.family
        sock.detach()
        # The reactor listens on a duplicate; the inherited descriptor is ours to close.
        port = self.reactor.adoptStreamPort(self.fd, family, factory)
        os.close(self.fd)
        return succeed(port)


def announce_ready(fd: int = READY_FD) -> None:
    """Tell the supervisor this worker accepts connections."""
    with contextlib.suppress(OSError):
        os.write(fd, b"ready\n")
        os.close(fd)


def die_with_parent() -> None:
    """Have the kernel send SIGTERM to this process when its parent dies (Linux only);
    and leave the parent's process group, so a Ctrl-C reaches the parent alone."""
    with contextlib.suppress(OSError):
        os.setpgid(0, 0)
    if not sys.platform.startswith("linux"):
        return
    parent = os.getppid()
    with contextlib.suppress(OSError, AttributeError):
        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM, 0, 0, 0)
    if os.getppid() != parent:  # the parent died before the signal was asked for
        os.kill(os.getpid(), signal.SIGTERM)


class LineSplitter:
    """Bytes in, whole lines out: what is left after the last newline waits for more."""

    def __init__(self) -> None:
        self._rest = b""

    def feed(self, data: bytes) -> bytes:
        """The complete lines so far (with their newlines), or b""."""
        end = data.rfind(b"\n")
        if end < 0:
            self._rest += data
            return b""
        lines = self._rest + data[: end + 1]
        self._rest = data[end + 1 :]
        return lines

    def finish(self) -> bytes:
        """What is left, ended by a newline (the writer died mid-line), or b""."""
        rest, self._rest = self._rest, b""
        return rest + b"\n" if rest else b""


def describe_exit(status: int | None, signal_number: int | None) -> str:
    """``"exited with status 1"`` or ``"was killed by SIGKILL"``."""
    if signal_number is not None:
        try:
            name = signal.Signals(signal_number).name
        except ValueError:
            name = f"signal {signal_number}"
        return f"was killed by {name}"
    return f"exited with status {status}"


class _Worker(ProcessProtocol):
    def __init__(self, supervisor: Supervisor, slot: WorkerSlot) -> None:
        self.supervisor = supervisor
        self.slot = slot
        self.ready = False
        self.ended: str | None = None
        self.status: int | None = None
        self.said_why = False
        """It wrote on stderr before it was ready (why it could not start, say)."""
        self._lines = {1: LineSplitter(), 2: LineSplitter()}

    def connectionMade(self) -> None:
        self.transport.closeStdin()  # type: ignore[union-attr]

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        if childFD == READY_FD:
            if not self.ready and b"ready" in data:
                self.ready = True
                self.supervisor.worker_ready()
            return
        lines = self._lines.get(childFD)
        if lines is not None:
            self.said_why = self.said_why or (childFD == 2 and not self.ready)
            self.supervisor.write_lines(childFD, lines.feed(data))

    def processEnded(self, reason: Any) -> None:
        for fd, lines in self._lines.items():
            self.supervisor.write_lines(fd, lines.finish())
        value = reason.value
        self.status = getattr(value, "exitCode", None)
        self.ended = describe_exit(self.status, getattr(value, "signal", None))
        self.supervisor.worker_ended(self)

    @property
    def pid(self) -> int | None:
        transport: Any = self.transport
        return getattr(transport, "pid", None)


class Supervisor:
    """Starts the workers, writes out their lines, stops them, says how they ended.

    Args:
        reactor: runs the processes (``IReactorProcess``) and timers.
        argv: the arguments of ``python -m wstool`` for every worker.
        sockets: one listening socket per worker (:func:`listening_sockets`).
        write: ``write(fd, data)``: whole lines of a worker's stdout (1) or stderr (2).
        on_ready: called once every worker accepts connections.
        on_lost: called when a worker ends before :meth:`stop`: ``on_lost(line, status)``,
            the line None when the worker said why on stderr before it was ready.
        environ: the workers' environment, less :data:`WORKER_ENV`.
    """

    def __init__(
        self,
        reactor: Any,
        argv: Sequence[str],
        sockets: Sequence[socket.socket],
        write: Callable[[int, bytes], None],
        on_ready: Callable[[], None],
        on_lost: Callable[[str | None, int], None],
        environ: Mapping[str, str] | None = None,
    ) -> None:
        self.reactor = reactor
        self.argv = list(argv)
        self.sockets = list(sockets)
        self.write = write
        self.on_ready = on_ready
        self.on_lost = on_lost
        self.environ = dict(os.environ if environ is None else environ)
        self.workers: list[_Worker] = []
        self.stopping = False
        self.all_ready = False
        self._all_ended: list[Deferred[None]] = []
        self._said: set[bytes] = set()

    def start(self) -> None:
        """Start one worker per socket, then close the supervisor's copies of the sockets
        (a socket left open here would keep getting its share of the connections)."""
        count = len(self.sockets)
        for index, sock in enumerate(self.sockets, 1):
            worker = _Worker(self, WorkerSlot(index, count))
            env = {**self.environ, WORKER_ENV: str(worker.slot)}
            self.workers.append(worker)
            self.reactor.spawnProcess(
                worker,
                sys.executable,
                [sys.executable, "-m", "wstool", *self.argv],
                env=env,
                childFDs={0: "w", 1: "r", 2: "r", LISTEN_FD: sock.fileno(), READY_FD: "r"},
            )
        for sock in self.sockets:
            sock.close()

    def write_lines(self, fd: int, data: bytes) -> None:
        """A worker's whole lines; on stderr before every worker is ready, each line once
        (every worker finds the same problem with the same options)."""
        if fd == 2 and not self.all_ready and data:
            fresh = [line for line in data.splitlines(keepends=True) if line not in self._said]
            self._said.update(fresh)
            data = b"".join(fresh)
        self.write(fd, data)

    def worker_ready(self) -> None:
        if not self.stopping and all(worker.ready for worker in self.workers):
            self.all_ready = True
            self.on_ready()

    def worker_ended(self, worker: _Worker) -> None:
        if not self.stopping:
            status = worker.status or 1
            if not worker.ready and worker.said_why:
                self.on_lost(None, status)
            else:
                how = "before it was ready" if not worker.ready else "while serving"
                self.on_lost(f"worker {worker.slot.index} {worker.ended} {how}", status)
        if all(w.ended is not None for w in self.workers):
            waiting, self._all_ended = self._all_ended, []
            for d in waiting:
                d.callback(None)

    def stop(self) -> Deferred[None]:
        """SIGTERM every worker still running; fire once all have ended (SIGKILL after
        :data:`STOP_TIMEOUT`)."""
        self.stopping = True
        running = [w for w in self.workers if w.ended is None]
        if not running:
            return succeed(None)
        for worker in running:
            _signal(worker, "TERM")
        done: Deferred[None] = Deferred()
        self._all_ended.append(done)
        timer = self.reactor.callLater(STOP_TIMEOUT, self._kill_all)

        def stop_timer(result: None) -> None:
            if timer.active():
                timer.cancel()
            return result

        return done.addCallback(stop_timer)

    def _kill_all(self) -> None:
        for worker in self.workers:
            if worker.ended is None:
                _signal(worker, "KILL")

    def exit_ok(self) -> bool:
        """Whether every worker ended with status 0."""
        return all(worker.status == 0 for worker in self.workers)


def _signal(worker: _Worker, name: str) -> None:
    with contextlib.suppress(Exception):  # the process may have ended meanwhile
        worker.transport.signalProcess(name)  # type: ignore[union-attr]
