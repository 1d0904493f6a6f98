"""``wstool connect`` wired together: options -> client, REPL or pipe mode, exit status."""

from __future__ import annotations

import argparse
import contextlib
import sys
import time
from typing import IO, Any

from wstool.cli.errors import CommandError, ExitStatus

__all__ = ["add_connect", "run_connect"]

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

exit statuses:
  0  closed cleanly (1000 or 1001)
  1  error
  2  bad usage
  3  the server refused the handshake
  4  the server broke the protocol (we failed the connection with its code)
  5  could not connect (refused, DNS, TLS, proxy, timeout)
  6  closed abnormally: no closing handshake, or a code other than 1000/1001
  130  interrupted (Ctrl-C)
"""


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or name != name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not 'Name: value'")
    return name, value.strip()


def _auth(text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not user:password")
    return user, password


def add_connect(commands: Any, stderr: IO[str], parser_class: Any, size: Any, seconds: Any) -> None:
    """Add the ``connect`` subcommand to ``commands``."""
    p = commands.add_parser(
        "connect",
        help="a REPL client that shows every frame both ways",
        description=_HELP,
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        stderr=stderr,
    )
    p.add_argument("url", metavar="URL", help="ws:// or wss:// URL (IPv6 as ws://[::1]:8765/)")
    p.add_argument(
        "-H",
        "--header",
        action="append",
        type=_header,
        default=[],
        metavar="'NAME: VALUE'",
        help="an extra request header (repeatable)",
    )
    p.add_argument(
        "--subprotocol",
        action="append",
        default=[],
        metavar="NAME",
        help="offer this subprotocol (repeatable)",
    )
    p.add_argument("--origin", help="send this Origin header")
    p.add_argument(
        "--auth",
        type=_auth,
        metavar="USER:PASS",
        help="Basic auth (default: the URL's user:pass@, if any)",
    )
    p.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
    p.add_argument(
        "--ping-interval",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="send a keepalive Ping this often; 0 (default) never",
    )
    p.add_argument(
        "--max-message-size",
        type=size,
        default=64 * 2**20,
        metavar="SIZE",
        help="larger messages from the server fail with 1009 (default: 64MiB)",
    )
    p.add_argument(
        "--connect-timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="for TCP, proxy, TLS and the handshake together (default: 10)",
    )
    tls = p.add_argument_group("TLS (wss://)")
    tls.add_argument("--insecure", action="store_true", help="do not verify the certificate")
    tls.add_argument("--ca", metavar="FILE", help="trust the CA certificates in this PEM file")
    tls.add_argument("--cert", metavar="FILE", help="a client certificate (PEM)")
    tls.add_argument("--key", metavar="FILE", help="its private key (PEM; default: in --cert)")
    p.add_argument(
        "--proxy",
        metavar="URL",
        help="an HTTP proxy (CONNECT), http://[user:pass@]host:port; default: "
        "https_proxy/http_proxy from the environment, minus no_proxy",
    )
    p.add_argument("--no-proxy", action="store_true", help="ignore proxy environment variables")
    view = p.add_mutually_exclusive_group()
    view.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        help="every header bit, mask keys and whole payloads",
    )
    view.add_argument("-q", "--quiet", action="store_true", help="messages only, not frames")
    view.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per frame, handshake and close on stdout (NDJSON)",
    )
    pipe = p.add_argument_group("scripting")
    pipe.add_argument(
        "-x",
        "--execute",
        action="append",
        default=[],
        metavar="MESSAGE",
        help="send this text message (repeatable) instead of reading stdin",
    )
    pipe.add_argument(
        "--wait",
        type=seconds,
        default=None,
        metavar="SECONDS",
        help="after the last message, wait this long before closing "
        "(default: until the server has answered each message, or closes)",
    )
    pipe.add_argument(
        "--count", type=int, default=None, metavar="N", help="close after N received messages"
    )
    pipe.add_argument("--raw", action="store_true", help="write binary messages as they are")
    from wstool.cli import add_output_options

    add_output_options(p)
    p.set_defaults(run=run_connect)


def _options(args: argparse.Namespace) -> Any:
    from wstool.core.errors import UsageError
    from wstool.core.uri import parse_uri
    from wstool.net.client import ClientOptions, proxy_for
    from wstool.net.wire import Timeouts

    try:
        uri = parse_uri(args.url)
        proxy = args.proxy
        if proxy is None and not args.no_proxy:
            proxy = proxy_for(uri)
        if proxy is not None:
            parse_uri(proxy.replace("http://", "ws://", 1))
    except UsageError as exc:
        raise CommandError(str(exc), ExitStatus.USAGE) from exc
    for name in ("ca", "cert", "key"):
        path = getattr(args, name)
        if path is not None:
            try:
                open(path, "rb").close()
            except OSError as exc:
                raise CommandError(
                    f"cannot read --{name} {path!r}: {exc.strerror}", ExitStatus.USAGE
                ) from exc
    if args.count is not None and args.count < 1:
        raise CommandError("--count must be 1 or more", ExitStatus.USAGE)
    return ClientOptions(
        uri=uri,
        headers=tuple(args.header),
        subprotocols=tuple(args.subprotocol),
        origin=args.origin,
        auth=args.auth,
        deflate=not args.no_deflate,
        max_message_size=args.max_message_size,
        connect_timeout=args.connect_timeout or 10.0,
        ca_file=args.ca,
        insecure=args.insecure,
        cert_file=args.cert,
        key_file=args.key,
        proxy=proxy,
        timeouts=Timeouts(ping_interval=args.ping_interval or None),
        explain_certificate=lambda chain: _certificate_problem(chain, args.ca),
    )


def _certificate_problem(chain: Any, ca_file: str | None) -> str | None:
    """OpenSSL's reason why ``chain`` (PEM, leaf first) does not verify, or None.

    Checked against ``ca_file``, or the system's certificates as the ``ssl``
    module finds them (``SSL_CERT_FILE`` honoured); used only to word the
    error of a connection that has already failed verification.
    """
    import ssl

    from OpenSSL import crypto

    if not chain:
        return None
    try:
        certs = [crypto.load_certificate(crypto.FILETYPE_PEM, pem) for pem in chain]
        store = crypto.X509Store()
        if ca_file:
            store.load_locations(ca_file)
        else:
            paths = ssl.get_default_verify_paths()
            store.load_locations(paths.cafile, paths.capath)
        crypto.X509StoreContext(store, certs[0], certs[1:]).verify_certificate()
    except crypto.X509StoreContextError as exc:
        return str(exc)
    except (crypto.Error, OSError):
        return None
    return None


def _install_reactor() -> Any:
    """The asyncio reactor on a new, current loop (prompt_toolkit runs on the same loop)."""
    import asyncio  # here, not at the top: every command's parser loads this module

    if "twisted.internet.reactor" in sys.modules:
        from twisted.internet import reactor

        return reactor
    from twisted.internet import asyncioreactor

    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)  # without it, prompt_async() waits forever
    asyncioreactor.install(loop)  # type: ignore[no-untyped-call]
    from twisted.internet import reactor

    return reactor


class _Outcome:
    def __init__(self) -> None:
        self.status: int = ExitStatus.OK
        self.error: str | None = None
        self.rejected: Any = None
        self.started = time.monotonic()


def _status_of(closed: Any, failed: bool) -> int:
    if closed is None:
        return ExitStatus.ABNORMAL_CLOSURE
    if failed:
        return ExitStatus.PEER_VIOLATION
    if closed.clean and closed.code in (1000, 1001):
        return ExitStatus.OK
    return ExitStatus.ABNORMAL_CLOSURE


def run_connect(args: argparse.Namespace, stdout: IO[str], stdin: IO[str]) -> int:
    """Connect, run the REPL or the pipe, and return the exit status."""
    from wstool.cli import _console
    from wstool.cli.allocator import tune_allocator

    options = _options(args)
    tune_allocator()
    interactive = not args.execute and stdin.isatty() and stdout.isatty() and not args.json
    reactor = _install_reactor()
    from wstool.net.client import ConnectFailed, HandshakeRejected, connect
    from wstool.ui.traffic import TrafficLog

    level = 0 if args.quiet else 2 if args.verbose else 1
    outcome = _Outcome()
    if interactive:
        console = _console(args.color, None)
        log = TrafficLog(console, level=level, show_ids=False, clock=time.time, client=True)
        observer: Any = log
    else:
        err_console = _console(args.color, sys.stderr)
        observer, log, console = _pipe_observer(args, stdout, err_console, reactor, outcome)

    def connected(session: Any) -> Any:
        if interactive:
            return _interactive(session, log, console, reactor, outcome)
        return _pipe(args, session, observer, reactor, stdin, outcome)

    def failed(failure: Any) -> None:
        if failure.check(HandshakeRejected):
            outcome.rejected = failure.value
            outcome.status = ExitStatus.HANDSHAKE_REJECTED
        elif failure.check(ConnectFailed):
            outcome.error = str(failure.value)
            outcome.status = ExitStatus.CONNECTION_FAILED
        else:
            outcome.error = f"{failure.type.__name__}: {failure.getErrorMessage()}"
            outcome.status = ExitStatus.ERROR

    def start() -> None:
        from twisted.internet.defer import maybeDeferred

        # An exception raised before the Deferred exists (an unreadable --cert)
        # must end the run too, not leave the reactor running.
        d = maybeDeferred(connect, reactor, options, observer)
        d.addCallbacks(connected, failed)
        d.addErrback(failed)
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=not interactive)
    if outcome.rejected is not None:
        _show_rejection(outcome.rejected, _console(args.color, sys.stderr))
        return outcome.status
    if outcome.error is not None:
        raise CommandError(outcome.error, ExitStatus(outcome.status))
    return outcome.status


def _show_rejection(error: Any, console: Any) -> None:
    from rich.text import Text

    from wstool.ui.sanitize import terminal_safe

    console.print(Text(f"wstool connect: handshake refused: {error.reason}", "ws.violation"))
    for line in error.head.decode("latin-1").split("\r\n"):
        if line:
            console.print(Text("  < " + terminal_safe(line)))
    if error.body:
        body = error.body.decode("utf-8", "replace")
        console.print(Text("  " + terminal_safe(body[:500]), "ws.dim"))


def _summary(session: Any, outcome: _Outcome) -> Any:
    from rich.text import Text

    from wstool.core.frames import close_code_name

    conn = session.conn
    closed = session.wire.close_event
    seconds = time.monotonic() - outcome.started
    text = Text()
    if closed is None:
        text.append("connection lost without a closing handshake", "ws.violation")
    else:
        who = f"by the {closed.initiator.value}" if closed.initiator else "without a Close frame"
        text.append(f"closed {closed.code} {close_code_name(closed.code)} {who}", "ws.close")
        text.append(", clean" if closed.clean else ", not clean", "ws.dim")
    text.append(
        f"; {seconds:.1f} s; sent {conn.frames_sent} frames / {conn.bytes_sent} bytes, "
        f"received {conn.frames_received} frames / {conn.bytes_received} bytes",
        "ws.dim",
    )
    return text


def _interactive(session: Any, log: Any, console: Any, reactor: Any, outcome: _Outcome) -> Any:
    import asyncio

    from rich.text import Text
    from twisted.internet.defer import Deferred

    from wstool.core.handshake import format_extensions
    from wstool.ui.repl import history_path, run_repl

    loop = asyncio.get_event_loop()
    closed_future = session.closed.asFuture(loop)
    agreed = format_extensions(session.extensions) if session.extensions else "none"
    console.print(
        Text(
            f"connected; subprotocol: {session.subprotocol or 'none'}; extensions: {agreed}. "
            "Type a message, /help for commands, Ctrl-D to close.",
            "ws.note",
        )
    )

    def finished(how: str) -> Any:
        closed = session.wire.close_event
        outcome.status = _status_of(closed, session.conn.failure is not None)
        if how == "interrupt":
            outcome.status = ExitStatus.INTERRUPTED
        # Lines printed above the prompt reach the terminal from the event
        # loop a moment later; the summary goes after them.
        from twisted.internet.task import deferLater

        return deferLater(reactor, 0.05, lambda: console.print(_summary(session, outcome)))

    repl = asyncio.ensure_future(
        run_repl(session, log, console, closed_future, history=history_path())
    )
    d = Deferred.fromFuture(repl)
    d.addCallback(finished)
    return d


def _pipe_observer(
    args: argparse.Namespace, stdout: IO[str], err_console: Any, reactor: Any, outcome: _Outcome
) -> tuple[Any, Any, Any]:
    from wstool.ui.pipe import MessageSink
    from wstool.ui.traffic import TrafficLog

    out: Any = getattr(stdout, "buffer", None)
    if out is None:
        out = _TextToBytes(stdout)
    json_log = (
        TrafficLog(err_console, level=1, json_out=stdout, show_ids=False, client=True)
        if args.json
        else None
    )
    diagnostics = None
    if args.verbose:
        diagnostics = TrafficLog(err_console, level=2, show_ids=False, clock=time.time, client=True)
    sink = MessageSink(out, raw_binary=args.raw, json_log=json_log, diagnostics=diagnostics)
    return sink, json_log or diagnostics, err_console


class _TextToBytes:
    def __init__(self, stream: IO[str]) -> None:
        self.stream = stream

    def write(self, data: bytes) -> int:
        return self.stream.write(data.decode("utf-8", "replace"))

    def flush(self) -> None:
        self.stream.flush()


def _pipe(
    args: argparse.Namespace,
    session: Any,
    sink: Any,
    reactor: Any,
    stdin: IO[str],
    outcome: _Outcome,
) -> Any:
    """Send stdin lines (or -x messages); close when told, when answered, or at --count."""
    from twisted.internet.defer import Deferred

    from wstool.core.errors import UsageError

    state = {"sent": 0, "eof": False, "closing": False}
    done: Deferred[None] = Deferred()

    def close_now() -> None:
        if state["closing"]:
            return
        state["closing"] = True
        if session.is_open:
            with contextlib.suppress(UsageError):  # closing already
                session.close(1000, "")

    def maybe_close(received: int | None = None) -> None:
        count = sink.received if received is None else received
        counted = args.count is not None and count >= args.count
        answered = state["eof"] and args.wait is None and args.count is None
        if counted or (answered and count >= state["sent"]):
            reactor.callLater(0, close_now)

    sink.on_message = maybe_close

    def send(line: bytes) -> None:
        if not session.is_open:
            return
        try:
            session.send_text(line.decode("utf-8"))
        except UnicodeDecodeError:
            session.send_binary(line)
            sys.stderr.write(
                "wstool connect: a line that is not UTF-8 was sent as a binary message\n"
            )
        state["sent"] += 1

    def eof() -> None:
        state["eof"] = True
        if args.wait is not None:
            reactor.callLater(args.wait, close_now)
        else:
            maybe_close()

    if args.execute:
        for message in args.execute:
            send(message.encode("utf-8"))
        eof()
    else:
        _read_lines(stdin, reactor, send, eof)

    def finished(closed: Any) -> None:
        outcome.status = _status_of(closed, session.conn.failure is not None)
        if outcome.status not in (ExitStatus.OK,) and closed is not None and not args.json:
            from wstool.core.frames import close_code_name

            why = session.conn.failure.message if session.conn.failure else closed.reason
            sys.stderr.write(
                f"wstool connect: closed {closed.code} {close_code_name(closed.code)}"
                + (f": {why}" if why else "")
                + "\n"
            )
        done.callback(None)

    session.closed.addCallback(finished)
    return done


def _read_lines(stdin: IO[str], reactor: Any, send: Any, eof: Any) -> None:
    """Read stdin in a thread (it may be a file, a pipe or a terminal) and send each line."""
    import threading

    source: Any = getattr(stdin, "buffer", stdin)

    def reader() -> None:
        try:
            for raw in iter(source.readline, b""):
                line = raw[:-1] if raw.endswith(b"\n") else raw
                if line.endswith(b"\r"):
                    line = line[:-1]
                reactor.callFromThread(send, line)
        except (OSError, ValueError):
            pass
        reactor.callFromThread(eof)

    threading.Thread(target=reader, name="wstool-stdin", daemon=True).start()
