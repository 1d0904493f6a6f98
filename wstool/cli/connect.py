"""``wstool connect``: options -> client; the REPL or the pipe; the exit status."""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import IO, Any

from wstool.cli.connect_options import add_options, client_options
from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus
from wstool.cli.options import add_command

__all__ = ["add_parser", "exit_status", "run"]

_HELP = """\
Connect to a WebSocket server and show every frame both ways: the handshake
(request sent, response received), each frame with its header bits, length
and payload (text, JSON, or hex+ASCII for binary), close codes, Pong round
trips; and poke the server with pings, closes and deliberately broken frames.

On a terminal it is a REPL: a line is sent as a text message; /help lists
the commands (/ping, /close, /binary, /fragment, /forge, /raw ...).
With stdin or stdout not a terminal it is a pipe: each stdin line is sent as
one text message, each received message is written to stdout on a line
(binary as hex, or as it is with --raw); diagnostics go to stderr.
"""

_EPILOG = """\
examples:
  wstool connect ws://127.0.0.1:8765/
  wstool connect wss://echo.example.com/ --subprotocol chat -H 'Authorization: Bearer T'
  echo '{"op": "ping"}' | wstool connect ws://127.0.0.1:8765/
  wstool connect ws://127.0.0.1:8765/ -x hello -x world --json | jq -c .
  wstool connect wss://localhost:8443/ --ca ca.pem        # a private CA
  wstool connect ws://example.com/ --proxy http://user:pass@proxy:3128
  wstool connect ws://example.com/ --socks5 socks5h://user:pass@127.0.0.1:1080
  wstool connect ws+unix:///run/app.sock:/ws          # a Unix socket (wscat's form)
  wstool connect ws://example.com/old -L              # follow redirects
  wstool connect wss://example.com/ --connect-to 10.0.0.7:443   # another address
  wstool connect ws://127.0.0.1:8765/ --reconnect --on-connect '{"op": "sub"}'
  wstool connect ws://127.0.0.1:8765/ --no-pong --ping-interval 0  # a silent client
  wstool connect ws://127.0.0.1:8765/ --record talk.session  # keep every frame

exit statuses:
  0  closed cleanly: with 1000 or 1001, or with the close you asked for
     (/close CODE in the REPL, end of input in a pipe)
  1  error
  2  bad usage
  3  the server refused the handshake
  4  the server broke the protocol (we failed the connection with its code)
  5  could not connect (refused, DNS, TLS, proxy, SOCKS5, timeout)
  6  closed abnormally: no closing handshake, or the server closed with a
     code other than 1000/1001
  130  interrupted (Ctrl-C)
"""


def add_parser(commands: Any) -> None:
    """Add ``connect`` to the subcommands."""
    p = add_command(
        commands,
        "connect",
        help="a REPL client (or a pipe) that shows every frame both ways",
        description=_HELP,
        epilog=_EPILOG,
    )
    p.usage = "%(prog)s [options] URL   (options by group below)"
    add_options(p)
    p.set_defaults(run=run)


@dataclass
class _Outcome:
    """What the run ended with; filled in by reactor callbacks."""

    status: int = ExitStatus.OK
    error: str | None = None
    rejected: Any = None
    session: Any = None
    broken_pipe: bool = False
    started: float = field(default_factory=time.monotonic)


def exit_status(session: Any) -> int:
    """The exit status for a connection that has ended.

    0 for a clean close with 1000 or 1001, or for a clean close that the user
    asked for with any valid code; 4 when we failed the connection because the
    server broke the protocol; 5 when --reconnect gave up; 6 for everything
    else (no closing handshake, another code from the server).
    """
    from wstool.core.frames import Role, is_valid_close_code

    if getattr(session, "failure", None) is not None:  # --reconnect-max attempts failed
        return ExitStatus.CONNECTION_FAILED
    closed = session.wire.close_event
    if closed is None:
        return ExitStatus.ABNORMAL_CLOSURE
    if session.conn.failure is not None:
        return ExitStatus.PEER_VIOLATION
    if not closed.clean:
        return ExitStatus.ABNORMAL_CLOSURE
    if closed.code in (1000, 1001):
        return ExitStatus.OK
    asked = getattr(session, "close_requested", None)
    if asked is not None and closed.initiator is Role.CLIENT:
        code = asked[0]
        if code is None or is_valid_close_code(code):
            return ExitStatus.OK
    return ExitStatus.ABNORMAL_CLOSURE


def run(args: argparse.Namespace, env: Environment) -> int:
    """Connect, run the REPL or the pipe, and return the exit status."""
    from wstool.cli.allocator import tune_allocator
    from wstool.cli.record import Tee, start_recording

    options = client_options(args, env)
    tune_allocator()
    interactive = not args.execute and env.stdin_isatty and env.stdout_isatty and not args.json
    reactor = env.get_reactor(asyncio=True)
    outcome = _Outcome()
    stop = _stopper(reactor)

    def failed(exc: OSError) -> None:  # the session file could not be written
        outcome.error = f"cannot write the session to {args.record!r}: {exc.strerror or exc}"
        outcome.status = ExitStatus.ERROR
        stop()

    if interactive:
        observer, start_ui = _interactive_ui(args, env, reactor, outcome)
    else:
        observer, start_ui = _pipe_ui(args, env, reactor, outcome, stop)
    recorder = start_recording(args, reactor, role="client", command="connect", on_error=failed)
    wire_observer: Any = observer if recorder is None else Tee(observer, recorder)
    note = _noter(args, env, interactive)
    route = _route(options)
    if args.verbose and route:
        note(route)
    opener = _opener(args, reactor, options, wire_observer, note)
    _start(reactor, opener, start_ui, outcome, stop)
    reactor.run(installSignalHandlers=not interactive)
    if recorder is not None:
        recorder.close()  # every frame up to the last turn is in the file
    if outcome.broken_pipe:
        raise BrokenPipeError
    if outcome.rejected is not None:
        from wstool.ui.console import make_console
        from wstool.ui.summary import rejection_lines

        err = make_console(args.color, env.stderr, no_color_env=env.no_color)
        rejected = outcome.rejected
        for line in rejection_lines(rejected.reason, rejected.head, rejected.body):
            err.print(line)
        if getattr(rejected, "location", None) and not args.location:
            err.print(f"wstool connect: redirected to {rejected.location!r}: use -L to follow")
        return outcome.status
    if outcome.error is not None:
        raise CommandError(outcome.error, ExitStatus(outcome.status))
    return outcome.status


def _stopper(reactor: Any) -> Callable[[], None]:
    """reactor.stop(), once, whoever asks first."""
    stopped: list[bool] = []

    def stop() -> None:
        if not stopped:
            stopped.append(True)
            reactor.stop()

    return stop


def _noter(args: argparse.Namespace, env: Environment, interactive: bool) -> Callable[[str], None]:
    """Where connect's own notes go (a redirect, a reconnection): the console or stderr."""
    if interactive:
        from rich.text import Text

        from wstool.ui.console import make_console

        console = make_console(args.color, None, no_color_env=env.no_color)
        return lambda line: console.print(Text(line, "ws.note"))

    def write(line: str) -> None:
        env.stderr.write(f"wstool connect: {line}\n")

    return write


def _route(options: Any) -> str | None:
    """How the connection is made when it is not straight to the URL's host (for -v)."""
    from wstool.net.routes import dial_address

    if options.unix_path is not None:
        return f"through the Unix socket {options.unix_path}"
    if options.socks is not None:
        where = "the proxy resolves names" if options.socks.remote_dns else "names resolved here"
        return f"through the SOCKS5 proxy {options.socks} ({where})"
    if options.proxy is not None:
        return f"through the HTTP proxy {options.proxy.rsplit('@', 1)[-1]} (CONNECT)"
    host, port = dial_address(options.uri, options.connect_to)
    if (host, port) != (options.uri.host, options.uri.port):
        return f"dialling {host}:{port} for {options.uri} (--connect-to)"
    return None


def _opener(
    args: argparse.Namespace,
    reactor: Any,
    options: Any,
    observer: Any,
    note: Callable[[str], None],
) -> Callable[[], Any]:
    """A function that opens the session: one connection, redirects followed, reconnecting."""
    import dataclasses
    import itertools

    from wstool.net.client import connect

    numbers = itertools.count(1)

    def once() -> Any:
        # Each connection has its own number (a --record file tells them apart).
        numbered = dataclasses.replace(options, conn_id=next(numbers))
        if not args.location:
            return connect(reactor, numbered, observer)
        from wstool.net.redirects import connect_following

        def hop(status: int, source: Any, target: Any) -> None:
            note(f"{status} redirect: {source} -> {target}")

        return connect_following(
            reactor, numbered, observer, max_redirects=args.max_redirs, on_redirect=hop
        )

    if not args.reconnect and not args.on_connect:
        return once
    from wstool.net.reconnect import ReconnectingSession

    def reconnecting() -> Any:
        session = ReconnectingSession(
            reactor,
            once,
            preamble=args.on_connect,
            reconnect=args.reconnect,
            max_attempts=args.reconnect_max or None,
            notify=note,
        )
        return session.start()

    return reconnecting


def _start(
    reactor: Any,
    opener: Callable[[], Any],
    start_ui: Callable[[Any], Any],
    outcome: _Outcome,
    stop: Callable[[], None],
) -> None:
    from wstool.net.client import ConnectFailed, HandshakeRejected
    from wstool.net.tls import TLSSetupError

    def connected(session: Any) -> Any:
        outcome.session = session
        return start_ui(session)

    def failed(failure: Any) -> None:
        if failure.check(HandshakeRejected):
            outcome.rejected = failure.value
            outcome.status = ExitStatus.HANDSHAKE_REJECTED
        elif failure.check(TLSSetupError):  # an unusable --ca, --cert or --key
            outcome.error = str(failure.value)
            outcome.status = ExitStatus.USAGE
        elif failure.check(ConnectFailed):
            outcome.error = str(failure.value)
            outcome.status = ExitStatus.CONNECTION_FAILED
        elif not outcome.broken_pipe:
            outcome.error = f"{failure.type.__name__}: {failure.getErrorMessage()}"
            outcome.status = ExitStatus.ERROR

    def begin() -> None:
        from twisted.internet.defer import maybeDeferred

        # An exception raised before the Deferred exists (an unreadable --cert)
        # must end the run too, not leave the reactor running.
        d = maybeDeferred(opener)
        d.addCallbacks(connected, failed)
        d.addErrback(failed)
        d.addBoth(lambda _: stop())

    reactor.callWhenRunning(begin)


def _level(args: argparse.Namespace) -> Any:
    from wstool.ui.traffic import Detail

    if args.quiet:
        return Detail.MESSAGES
    return Detail.BITS if args.verbose else Detail.FRAMES


def _interactive_ui(
    args: argparse.Namespace, env: Environment, reactor: Any, outcome: _Outcome
) -> tuple[Any, Callable[[Any], Any]]:
    from wstool.ui.console import make_console
    from wstool.ui.traffic import TrafficLog

    # No file: rich then writes to sys.stdout as it is at each print, which
    # the REPL's patch_stdout points above the prompt.
    console = make_console(args.color, None, no_color_env=env.no_color)
    log = TrafficLog(console, level=_level(args), show_ids=False, clock=time.time, client=True)

    def start_repl(session: Any) -> Any:
        return _interactive(session, log, console, reactor, outcome)

    return log, start_repl


def _interactive(session: Any, log: Any, console: Any, reactor: Any, outcome: _Outcome) -> Any:
    import asyncio

    from rich.text import Text
    from twisted.internet.defer import Deferred
    from twisted.internet.task import deferLater

    from wstool.core.handshake import format_extensions
    from wstool.ui.repl import history_path, run_repl
    from wstool.ui.summary import connection_summary

    agreed = format_extensions(session.extensions) if session.extensions else "none"
    console.print(
        Text(
            f"connected; subprotocol: {session.subprotocol or 'none'}; extensions: {agreed}. "
            "Type a message, /help for commands, Ctrl-D to close.",
            "ws.note",
        )
    )

    def finished(how: str) -> Any:
        outcome.status = ExitStatus.INTERRUPTED if how == "interrupt" else exit_status(session)
        seconds = time.monotonic() - outcome.started
        summary = connection_summary(session.wire.close_event, seconds, session.conn)
        connections = getattr(session, "connections", 1)
        if connections > 1:  # --reconnect: the counts above are the last connection's
            summary.append(f" (the last of {connections} connections)", "ws.dim")
        # Lines printed above the prompt reach the terminal from the event
        # loop a moment later; the summary goes after them.
        return deferLater(reactor, 0.05, lambda: console.print(summary))

    closed_future = session.closed.asFuture(asyncio.get_event_loop())
    repl = asyncio.ensure_future(
        run_repl(session, log, console, closed_future, history=history_path())
    )
    return Deferred.fromFuture(repl).addCallback(finished)


def _pipe_ui(
    args: argparse.Namespace,
    env: Environment,
    reactor: Any,
    outcome: _Outcome,
    stop: Callable[[], None],
) -> tuple[Any, Callable[[Any], Any]]:
    from wstool.ui.console import make_console
    from wstool.ui.pipe import MessageSink
    from wstool.ui.traffic import Detail, TrafficLog

    def reader_gone() -> None:
        # stdout's reader went away (| head): stop as cat does, quietly.
        if outcome.broken_pipe:
            return
        outcome.broken_pipe = True
        if outcome.session is not None:
            outcome.session.abort()
        reactor.callLater(0, stop)

    err_console = make_console(args.color, env.stderr, no_color_env=env.no_color)

    def log(level: Detail, json_out: IO[str] | None) -> TrafficLog:
        return TrafficLog(
            err_console,
            level=level,
            json_out=json_out,
            show_ids=False,
            clock=None if json_out else time.time,
            client=True,
            on_broken_pipe=reader_gone,
        )

    json_log = log(Detail.FRAMES, env.stdout) if args.json else None
    diagnostics = log(Detail.BITS, None) if args.verbose else None
    sink = MessageSink(
        _binary_stdout(env.stdout),
        raw_binary=args.raw,
        json_log=json_log,
        diagnostics=diagnostics,
        limit=args.count,
        on_broken_pipe=reader_gone,
    )

    def start_pipe(session: Any) -> Any:
        return _pipe(args, env, session, sink, reactor, outcome)

    return sink, start_pipe


def _binary_stdout(stdout: IO[str]) -> Any:
    out: Any = getattr(stdout, "buffer", None)
    return out if out is not None else _TextToBytes(stdout)


class _TextToBytes:
    """A text stream (a test's StringIO) seen as a binary one."""

    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, data: bytes) -> int:
        return self.stream.write(data.decode("utf-8", "replace"))

    def flush(self) -> None:
        self.stream.flush()


def _pipe(
    args: argparse.Namespace,
    env: Environment,
    session: Any,
    sink: Any,
    reactor: Any,
    outcome: _Outcome,
) -> Any:
    """Send stdin's lines (or -x messages) under the close policy; the status at the end."""
    from twisted.internet.defer import Deferred

    from wstool.ui.pipe import ClosePolicy
    from wstool.ui.summary import close_line

    def warn(text: str) -> None:
        env.stderr.write(f"wstool connect: {text}\n")

    policy = ClosePolicy(
        session, count=args.count, wait=args.wait, call_later=reactor.callLater, warn=warn
    )
    sink.on_message = policy.message_received
    if args.execute:
        for message in args.execute:
            policy.send_line(message.encode("utf-8"))
        policy.end_of_input()
    else:
        _read_lines(env.stdin, reactor, policy.send_line, policy.end_of_input)
    done: Deferred[None] = Deferred()

    def finished(closed: Any) -> None:
        status = exit_status(session)
        if status != ExitStatus.OK and closed is not None and not args.json and not sink.broken:
            failure = session.conn.failure
            warn(close_line(closed, failure.message if failure else closed.reason))
        outcome.status = status
        done.callback(None)

    session.closed.addCallback(finished)
    return done


def _read_lines(
    stdin: IO[str], reactor: Any, on_line: Callable[[bytes], None], on_end: Callable[[], None]
) -> None:
    """Read stdin in a thread and hand each line (without its newline) to the reactor.

    The thread reads the file descriptor with ``os.read``, not through
    Python's buffered ``stdin``: a daemon thread blocked inside the buffered
    reader's lock when the interpreter exits aborts the process ("could not
    acquire lock for <stdin>").
    """
    import threading

    def deliver(chunks: Any) -> None:
        rest = b""
        try:
            for chunk in chunks:
                *lines, rest = (rest + chunk).split(b"\n")
                for line in lines:
                    reactor.callFromThread(on_line, line.removesuffix(b"\r"))
        except (OSError, ValueError):
            pass
        if rest:
            reactor.callFromThread(on_line, rest.removesuffix(b"\r"))
        reactor.callFromThread(on_end)

    threading.Thread(
        target=deliver, args=(_chunks(stdin),), name="wstool-stdin", daemon=True
    ).start()


def _chunks(stdin: IO[str]) -> Any:
    """stdin's bytes as they arrive: from its descriptor, or a test's stream."""
    try:
        fd = stdin.fileno()
    except (OSError, ValueError, AttributeError):
        source: Any = getattr(stdin, "buffer", stdin)
        return iter(lambda: _as_bytes(source.read(65536)), b"")
    return iter(lambda: os.read(fd, 65536), b"")


def _as_bytes(data: bytes | str) -> bytes:
    return data.encode("utf-8") if isinstance(data, str) else data
