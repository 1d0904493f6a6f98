"""``wstool serve``: options -> site, traffic log, reactor, signals."""

from __future__ import annotations

import argparse
from typing import Any

from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus
from wstool.cli.options import add_command, add_output_options, port, seconds, size
from wstool.cli.record import add_record_option
from wstool.cli.serve_exec import add_exec_options, exec_behaviour
from wstool.cli.serve_mock import add_fault_options, add_rules_options, rules_behaviour, with_faults
from wstool.cli.serve_scale import ScaleRun, add_scale_options
from wstool.cli.serve_site import (
    add_site_options,
    site_options,
    unix_endpoint,
    unix_listening_line,
)

__all__ = ["FILE_FLUSH_DELAY", "add_parser", "run"]

FILE_FLUSH_DELAY = 0.05
"""Seconds a line may wait in the buffer when the output is a file or a pipe, not a
terminal (each line still reaches it within this, and all of it at the exit)."""

_HELP = """\
Run a WebSocket server that is stricter than the client under test: it
upgrades GET requests on any path (101 Switching Protocols), echoes every
message (or broadcasts it), fails a connection with the RFC's close code on
the first rule broken, and prints the handshake, every frame in and out,
and each close with its cause. A plain GET of / serves a browser console
that connects back to this server.
"""

_EPILOG = """\
examples:
  wstool serve                          # ws://127.0.0.1:8765/, echo
  wstool serve --port 9001 -v           # every header bit and mask key
  wstool serve --mode broadcast -q      # a chat room, connects/closes only
  wstool serve --json | jq -c 'select(.event == "close")'
  wstool serve --tls-cert cert.pem --tls-key key.pem     # wss://
  wstool serve --record chat.session    # keep every frame; wstool decode chat.session
  wstool serve --replay chat.session    # answer clients as the recorded server did
  wstool serve --rules mock.yaml        # a fake backend: on_connect, match -> reply/close
  wstool serve --drop-after 3 --delay 200 --inhibit-pongs 1   # a flaky server for a client
  wstool serve --workers 4 -q           # accept on every core, one port, one log
  wstool serve --mode broadcast --redis redis://127.0.0.1:6379/0   # one room, many servers
  wstool serve --exec './chat.py --room 1' --max-procs 50   # a program per client (websocketd)
  wstool serve --exec ./app.sh --static ./www    # a page and its program; console at /__wstool/
  wstool serve -H 'Set-Cookie: sid=1' --unix /tmp/ws.sock   # ws+unix:///tmp/ws.sock:/
  wstool serve --tls-cert c.pem --tls-key k.pem --tls-client-ca ca.pem   # mutual TLS

Stop with Ctrl-C (or SIGTERM): every connection gets Close 1001 (going
away), the server waits briefly for the answers, then exits 0.
"""


def add_parser(commands: Any) -> None:
    """Add ``serve`` to the subcommands."""
    serve = add_command(
        commands,
        "serve",
        help="a strict echo (or broadcast) server that shows every frame",
        description=_HELP,
        epilog=_EPILOG,
    )
    serve.add_argument(
        "--host", default="127.0.0.1", help="address to listen on (default: %(default)s)"
    )
    serve.add_argument(
        "--port",
        type=port,
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
        "--replay",
        metavar="SESSION",
        help="answer every client with the server side of a recorded session (its first "
        "connection): each recorded server message once the client has sent what came before it",
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
    serve.add_argument(
        "--deflate-level",
        type=int,
        choices=range(1, 10),
        default=-1,
        metavar="1-9",
        help="zlib level of compressed echoes: 1 is fastest, 9 smallest (default: zlib's 6)",
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
    _add_limits(serve)
    serve.add_argument(
        "--origin",
        action="append",
        default=None,
        metavar="ORIGIN",
        help="accept only these Origin values (repeatable); others get 403",
    )
    serve.add_argument("--tls-cert", metavar="FILE", help="serve wss:// with this PEM certificate")
    serve.add_argument("--tls-key", metavar="FILE", help="the PEM private key for --tls-cert")
    add_site_options(serve)
    add_exec_options(serve)
    add_rules_options(serve)
    add_fault_options(serve)
    add_scale_options(serve)
    add_output_options(serve)
    add_record_option(serve)
    serve.set_defaults(run=run)


def _add_limits(serve: argparse.ArgumentParser) -> None:
    limits = serve.add_argument_group("limits and timeouts")
    limits.add_argument(
        "--max-message-size",
        type=size,
        default=16 * 2**20,
        metavar="SIZE",
        help="larger messages fail the connection with 1009 (default: 16MiB)",
    )
    limits.add_argument(
        "--max-inflated-size",
        type=size,
        default=None,
        metavar="SIZE",
        help="cap on an inflated message, 1009 beyond it (default: --max-message-size)",
    )
    limits.add_argument(
        "--max-request-size",
        type=size,
        default=16384,
        metavar="SIZE",
        help="largest request head; larger ones get 431 (default: 16384)",
    )
    limits.add_argument(
        "--max-send-queue",
        type=size,
        default=64 * 2**20,
        metavar="SIZE",
        help="broadcast: drop a client given more than this while its send buffer is full, "
        "a slow consumer (default: 64MiB)",
    )
    timers = (
        ("--handshake-timeout", 10.0, "drop clients that have not finished their request by then"),
        ("--close-timeout", 5.0, "wait this long for the peer's Close frame"),
        ("--ping-interval", 20.0, "send a keepalive Ping this often; 0 turns it off"),
        ("--ping-timeout", 20.0, "close with 1011 when a Pong is this late"),
        ("--idle-timeout", 0.0, "close with 1001 after this long without a frame; 0: never"),
    )
    for flag, default, text in timers:
        limits.add_argument(
            flag,
            type=seconds,
            default=default,
            metavar="SECONDS",
            help=f"{text} (default: {default:g})",
        )


def _observer(args: argparse.Namespace, env: Environment, reactor: Any, stop: Any) -> Any:
    from wstool.ui.console import make_console
    from wstool.ui.traffic import TrafficLog

    level = 0 if args.quiet else 2 if args.verbose else 1
    console = make_console(args.color, env.stdout, no_color_env=env.no_color)
    # On a terminal, flush once per turn of the reactor, after every read it
    # handled. Into a file or a pipe, at most every FILE_FLUSH_DELAY: under a
    # stream of short connections a write() per turn cost about 7% of each
    # handshake (scripts/bench_serve.py, handshakes).
    delay = 0.0 if console.is_terminal else FILE_FLUSH_DELAY
    return TrafficLog(
        console,
        level=level,
        json_out=env.stdout if args.json else None,
        flush_soon=lambda flush: reactor.callLater(delay, flush),
        on_broken_pipe=stop,
    )


def _options(
    args: argparse.Namespace, behaviour: Any = None, site: dict[str, Any] | None = None
) -> Any:
    from wstool.net.server import ServerOptions
    from wstool.net.wire import Timeouts

    responder, recorded_subprotocol = _replay(args)
    subprotocols = tuple(args.subprotocol)
    if recorded_subprotocol and not subprotocols:
        subprotocols = (recorded_subprotocol,)  # agree to what the recorded server agreed to
    return ServerOptions(
        mode="replay" if responder is not None else args.mode,
        responder=responder,
        subprotocols=subprotocols,
        deflate=not args.no_deflate,
        deflate_level=args.deflate_level,
        max_message_size=args.max_message_size,
        max_inflated_size=args.max_inflated_size or args.max_message_size,
        max_request_size=args.max_request_size,
        max_send_queue=args.max_send_queue,
        handshake_timeout=args.handshake_timeout or None,
        timeouts=Timeouts(
            close=args.close_timeout or None,
            ping_interval=args.ping_interval or None,
            ping_timeout=args.ping_timeout or None,
            idle=args.idle_timeout or None,
        ),
        origins=tuple(args.origin) if args.origin else None,
        behaviour=behaviour,
        **(site or {}),  # -H, --static
    )


def _replay(args: argparse.Namespace) -> tuple[Any, str | None]:
    """With --replay: a responder factory and the subprotocol the recording agreed on."""
    if args.replay is None:
        return None, None
    if args.mode != "echo":
        raise CommandError(
            "--replay answers each client itself: leave out --mode", ExitStatus.USAGE
        )
    from wstool.cli.sessions import read_session_file
    from wstool.core.frames import Role
    from wstool.session.replay import ServerScript, plan_replay

    try:
        with open(args.replay, "rb") as file:
            raw = file.read()
    except OSError as exc:
        raise CommandError(
            f"cannot read {args.replay!r}: {exc.strerror}", ExitStatus.USAGE
        ) from exc
    session = read_session_file(raw, args.replay)
    if not session.connections:
        raise CommandError(f"{args.replay}: the session holds no connection", ExitStatus.USAGE)
    conn = next(iter(session.connections.values()))
    plan = plan_replay(conn, side=Role.SERVER)
    return (lambda: ServerScript(plan)), conn.open.get("subprotocol")


def _tls_options(args: argparse.Namespace) -> Any:
    if bool(args.tls_cert) != bool(args.tls_key):
        raise CommandError("--tls-cert and --tls-key go together", ExitStatus.USAGE)
    if not args.tls_cert:
        return None
    from wstool.net.tls import TLSSetupError, server_tls_options

    try:
        return server_tls_options(args.tls_cert, args.tls_key, args.tls_client_ca)
    except TLSSetupError as exc:
        raise CommandError(str(exc), ExitStatus.USAGE) from exc


def _listening_line(args: argparse.Namespace, address: Any, tls: bool) -> str:
    interface = args.host.strip("[]")
    shown = f"[{interface}]" if ":" in interface else interface
    scheme, web = ("wss", "https") if tls else ("ws", "http")
    mode = f"replaying {args.replay}" if args.replay else args.mode
    if args.exec_command:
        mode = f"each client talks to {args.exec_command}"
    if args.rules:
        mode = f"mock rules from {args.rules}"
    if args.unix:
        return unix_listening_line(args, mode)
    console = "/__wstool/" if args.static else "/"
    return (
        f"wstool serve: listening on {scheme}://{shown}:{address.port}/ "
        f"({mode}; browser console at {web}://{shown}:{address.port}{console}; Ctrl-C stops)"
    )


def run(args: argparse.Namespace, env: Environment) -> int:
    """Listen, serve until Ctrl-C or SIGTERM, close every connection with 1001, exit 0."""
    tls = _tls_options(args)
    site_fields = site_options(args)  # -H, --static, --unix checked before anything starts
    scale = ScaleRun(args, env)  # --workers, --redis; the open-files limit raised
    if scale.supervises:
        return scale.supervise(lambda address: _listening_line(args, address, tls is not None))
    from wstool.cli.allocator import release_free_memory, tune_allocator
    from wstool.cli.listening import ListeningRun, buffer_stdout, stop_once_on_signals
    from wstool.cli.record import Tee, start_recording
    from wstool.net.server import WebSocketSite, is_wildcard, listen_endpoint, nodelay_listener

    reactor = env.get_reactor()
    tune_allocator()
    buffer_stdout(env.stdout)
    outcome = ListeningRun(reactor)
    observer = _observer(args, env, reactor, outcome.reader_gone)
    # --rules or --exec (each checked first) or the echo, with any --delay, --drop-after ...
    behaviour = with_faults(args, rules_behaviour(args) or exec_behaviour(args, reactor, observer))
    recorder = start_recording(
        args,
        reactor,
        role="server",
        command="serve",
        on_error=outcome.recording_failed(args.record),
    )
    wire_observer: Any = observer if recorder is None else Tee(observer, recorder)
    site = WebSocketSite(
        _options(args, behaviour, site_fields),
        wire_observer,
        reactor,
        on_idle=release_free_memory,
    )
    endpoint = (
        unix_endpoint(args, reactor)
        or scale.endpoint(site, reactor, tls)
        or listen_endpoint(reactor, args.host, args.port, tls)
    )

    def listening(listening_port: Any) -> None:
        nodelay_listener(listening_port, site)
        address = listening_port.getHost()
        if not is_wildcard(args.host.strip("[]")):
            site.local_address = address
        if scale.ready():
            return  # a worker: its supervisor prints the one listening line
        line = _listening_line(args, address, tls is not None)
        if args.json:
            env.stderr.write(line + "\n")
            env.stderr.flush()
        else:
            observer.console.print(line, style="ws.ok", highlight=False)

    # Listen (and say so) only once the reactor runs and has installed its
    # SIGINT/SIGTERM handlers, so a signal right after the first line still
    # takes the graceful path. Twisted turns both into reactor.stop(), which
    # runs the graceful shutdown below.
    failed = outcome.listen_failed(args.host, args.port)
    reactor.callWhenRunning(stop_once_on_signals, reactor)
    reactor.callWhenRunning(
        scale.start,
        reactor,
        site,
        outcome,
        lambda: endpoint.listen(site).addCallbacks(listening, failed),
    )
    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: site.shutdown("server shutting down")
    )
    reactor.run()
    return outcome.finish(observer, recorder)
