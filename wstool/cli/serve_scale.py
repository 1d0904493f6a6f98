"""``serve --workers N`` and ``serve --redis URL``: the options, and what ``run()`` does with them.

``run()`` makes one :class:`ScaleRun`. Without ``--workers`` or with N = 1
it changes nothing but the file-descriptor limit (raised to the hard one),
and with ``--redis`` connects the site's broadcast to Redis before listening.
With N > 1 the command the user started becomes the supervisor
(:meth:`ScaleRun.supervise`): it binds the port, starts N workers (the same
command, told which worker they are through :data:`~wstool.net.workers.WORKER_ENV`)
and prints their output; each worker listens on the socket it inherited and
numbers its connections k, k + N, k + 2N ...

A worker that dies ends the whole serve with a non-zero status (the others
close their connections with 1001 first): its clients are gone already, and
a load test that went on with fewer workers would measure something else
without saying so.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
from collections.abc import Callable
from types import SimpleNamespace
from typing import IO, Any

from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus

__all__ = ["ScaleRun", "add_scale_options", "raise_fd_limit"]

MAX_WORKERS = 256
READY_TIMEOUT = 15.0
"""Seconds Redis has to answer and take the subscription before serve gives up."""


def add_scale_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--workers`` and ``--redis`` to serve's parser."""
    scale = parser.add_argument_group("scale")
    scale.add_argument(
        "--workers",
        type=_worker_count,
        default=1,
        metavar="N",
        help="accept connections in N processes on one port (SO_REUSEPORT); connection "
        "numbers stay unique and the output is one stream (default: 1)",
    )
    scale.add_argument(
        "--redis",
        metavar="URL",
        help="with --mode broadcast: relay messages to and from every serve that uses this "
        "Redis (redis://[:password@]host[:port][/db]), on the channel wstool:<path>",
    )


def _worker_count(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= MAX_WORKERS:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of workers from 1 to 256")
    return int(text)


def raise_fd_limit() -> tuple[int, int]:
    """Raise the soft limit on open files to the hard one (every connection is a file).

    Returns:
        The (soft, hard) limits now in force.
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
            soft = hard
        except (OSError, ValueError):
            pass
    return soft, hard


class ScaleRun:
    """What ``--workers`` and ``--redis`` change in one run of serve.

    Raises:
        CommandError: options that do not go together, or a bad Redis URL.
    """

    def __init__(self, args: argparse.Namespace, env: Environment) -> None:
        from wstool.net.workers import WORKER_ENV, WorkerSlot

        self.args = args
        self.env = env
        slot = os.environ.pop(WORKER_ENV, None)
        self.slot = WorkerSlot.parse(slot) if slot else None
        self.redis = _redis_address(args)
        _check(args, self.redis is not None)
        raise_fd_limit()

    @property
    def supervises(self) -> bool:
        """Whether this process starts workers instead of serving."""
        return self.slot is None and self.args.workers > 1

    # -- a serving process (one of the workers, or the only one) -----------------

    def endpoint(self, site: Any, reactor: Any, tls: Any) -> Any | None:
        """A worker's endpoint (its inherited socket), with its connection numbering; or None."""
        if self.slot is None:
            return None
        from wstool.net.workers import AdoptedEndpoint, die_with_parent

        die_with_parent()
        site.number_connections(self.slot.index, self.slot.count)
        return AdoptedEndpoint(reactor, tls=tls)

    def start(self, reactor: Any, site: Any, outcome: Any, listen: Callable[[], object]) -> None:
        """Connect to Redis if asked (the broadcast relayed from then on), then ``listen()``.

        Redis not reachable: one line (``outcome.error``) and the run stops.
        """
        if self.redis is None:
            listen()
            return
        from wstool.net.redisbridge import RedisBridge, probe

        address = self.redis
        bridge = RedisBridge(address, site.deliver, self._say)

        def connected(_: object) -> None:
            site.relay = bridge.publish
            listen()

        def failed(failure: Any) -> None:
            from twisted.internet.defer import TimeoutError

            why = failure.getErrorMessage()
            if failure.check(TimeoutError):
                why = f"no answer in {READY_TIMEOUT:g} s"
            outcome.error = f"cannot reach Redis at {address}: {why}"
            outcome.stop()

        started = probe(address).addCallback(lambda _: bridge.start(reactor))
        started.addTimeout(READY_TIMEOUT, reactor).addCallbacks(connected, failed)
        reactor.addSystemEventTrigger("before", "shutdown", bridge.stop)

    def ready(self) -> bool:
        """Listening: a worker tells its supervisor (True); a single serve prints its line."""
        if self.slot is None:
            return False
        from wstool.net.workers import announce_ready

        announce_ready()
        return True

    def _say(self, line: str) -> None:
        who = f"worker {self.slot.index}: " if self.slot is not None else ""
        self.env.stderr.write(f"wstool serve: {who}{line}\n")
        self.env.stderr.flush()

    # -- the supervisor -------------------------------------------------------------

    def supervise(self, listening_line: Callable[[Any], str]) -> int:
        """Bind the port, run the workers until Ctrl-C or SIGTERM, print their output."""
        from wstool.cli.listening import ListeningRun, stop_once_on_signals
        from wstool.net.workers import Supervisor, listening_sockets

        args, env = self.args, self.env
        argv = _own_argv()
        try:
            sockets = listening_sockets(args.host, args.port, args.workers)
        except OSError as exc:
            raise CommandError(
                f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}"
            ) from exc
        port = sockets[0].getsockname()[1]
        reactor = env.get_reactor()
        outcome = ListeningRun(reactor)
        output = _Output(env, reactor, outcome.reader_gone)

        def all_ready() -> None:
            line = listening_line(SimpleNamespace(port=port))
            output.listening(line, to_stderr=args.json, color=args.color)

        could_not_start: list[int] = []

        def lost(line: str | None, status: int) -> None:
            if line is None:  # the worker said why; serve ends as it would have
                could_not_start.append(status)
            else:
                outcome.error = f"{line}; the other workers were stopped"
            outcome.stop()

        supervisor = Supervisor(
            reactor, argv, sockets, output.write, all_ready, lost, _worker_environ(args, env)
        )
        reactor.callWhenRunning(stop_once_on_signals, reactor)
        reactor.callWhenRunning(self._start_workers, supervisor, outcome, sockets)
        reactor.addSystemEventTrigger("before", "shutdown", supervisor.stop)
        reactor.run()
        for sock in sockets:
            sock.close()
        if could_not_start:
            output.flush()
            return could_not_start[0]
        if outcome.error is None and not supervisor.exit_ok():
            outcome.error = "a worker did not end cleanly"
        return int(outcome.finish(output, None))

    def _start_workers(self, supervisor: Any, outcome: Any, sockets: list[Any]) -> None:
        if self.redis is None:
            supervisor.start()
            return
        from wstool.net.redisbridge import probe

        address = self.redis

        def failed(failure: Any) -> None:
            outcome.error = f"cannot reach Redis at {address}: {failure.getErrorMessage()}"
            outcome.stop()

        probe(address).addCallbacks(lambda _: supervisor.start(), failed)


def _redis_address(args: argparse.Namespace) -> Any:
    if not args.redis:
        return None
    from wstool.net.redisbridge import parse_redis_url

    try:
        return parse_redis_url(args.redis)
    except ValueError as exc:
        raise CommandError(f"--redis: {exc}", ExitStatus.USAGE) from exc


def _check(args: argparse.Namespace, redis: bool) -> None:
    if redis and args.mode != "broadcast":
        raise CommandError("--redis relays broadcasts: add --mode broadcast", ExitStatus.USAGE)
    if args.workers > 1 and args.mode == "broadcast" and not redis:
        raise CommandError(
            "--workers with --mode broadcast needs --redis URL (the workers' clients reach "
            "each other through Redis)",
            ExitStatus.USAGE,
        )
    if args.workers > 1 and getattr(args, "record", None):
        raise CommandError(
            "--record writes one session file, which --workers processes cannot share",
            ExitStatus.USAGE,
        )


def _own_argv() -> list[str]:
    """The arguments this process was started with, for its workers."""
    argv = sys.argv[1:]
    if "serve" not in argv:
        raise CommandError("--workers works only from the wstool command line")
    return argv


def _worker_environ(args: argparse.Namespace, env: Environment) -> dict[str, str]:
    """The workers' environment: colour and width as the terminal the supervisor writes to."""
    environ = dict(os.environ)
    colour = args.color == "always" or (
        args.color == "auto" and env.stdout_isatty and not env.no_color
    )
    if colour and not args.json:
        environ["FORCE_COLOR"] = "1"
        environ["COLUMNS"] = str(shutil.get_terminal_size().columns)
    return environ


class _Output:
    """The supervisor's stdout and stderr: whole lines from the workers, flushed once a turn."""

    def __init__(self, env: Environment, reactor: Any, reader_gone: Callable[[], None]) -> None:
        self.env = env
        self.reactor = reactor
        self.reader_gone = reader_gone
        self.gone = False
        self._pending = False
        self._streams: dict[int, IO[Any]] = {1: env.stdout, 2: env.stderr}

    def listening(self, line: str, *, to_stderr: bool, color: str) -> None:
        if to_stderr:
            self.write(2, (line + "\n").encode())
            return
        from wstool.ui.console import make_console

        console = make_console(color, self.env.stdout, no_color_env=self.env.no_color)
        console.print(line, style="ws.ok", highlight=False)
        self._flush_now()

    def write(self, fd: int, data: bytes) -> None:
        if not data or self.gone:
            return
        stream = self._streams[fd]
        binary = getattr(stream, "buffer", None)
        try:
            if binary is not None:
                binary.write(data)
            else:
                stream.write(data.decode("utf-8", "replace"))
        except BrokenPipeError:
            self._broken()
            return
        if not self._pending:
            self._pending = True
            self.reactor.callLater(0, self.flush)

    def _flush_now(self) -> None:
        try:
            self.env.stdout.flush()
        except BrokenPipeError:
            self._broken()

    def _broken(self) -> None:
        if not self.gone:
            self.gone = True
            self.reader_gone()

    def flush(self) -> None:
        self._pending = False
        if self.gone:
            return
        for stream in self._streams.values():
            try:
                binary = getattr(stream, "buffer", None)
                (binary or stream).flush()
            except BrokenPipeError:
                self._broken()
                return
