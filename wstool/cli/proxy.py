"""``wstool proxy``: options -> reverse proxy, proxy log, reactor, signals."""

from __future__ import annotations

import argparse
from typing import Any

from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus
from wstool.cli.options import add_command, add_output_options, seconds, size
from wstool.cli.record import add_record_option

__all__ = ["DEFAULT_PORT", "add_parser", "listen_address", "run"]

DEFAULT_PORT = 8780

_HELP = """\
Stand between a WebSocket client and its server and show their whole
conversation: the handshake of both hops, every frame each way with every
bit, messages inflated (permessage-deflate decoded per direction), each
rule a side breaks (with the RFC section and the close code the other side
would send) and a summary per connection. Bytes are relayed exactly as they
came - frame boundaries, masks, RSV bits and invalid frames included: the
proxy never answers a violation itself, the endpoints decide.

With --to it is a reverse proxy: point the client at the address printed
at start. The request goes upstream with its Sec-WebSocket-Key, the
subprotocols and extensions offered untouched; only Host and the path
(joined under --to's path) are rewritten. The upstream's answer comes back
as it was (a 101, or a refusal with its status, headers and body); an
upstream that cannot be reached gets the client a 502 with one line why.
"""

_EPILOG = """\
examples:
  wstool proxy --to ws://127.0.0.1:8765/          # then: ws://127.0.0.1:8780/
  wstool proxy --to wss://echo.example/ --listen 127.0.0.1:9000
  wstool proxy --to ws://127.0.0.1:8765/api -v   # /chat goes to /api/chat
  wstool proxy --to ws://127.0.0.1:8765/ --json | jq -c 'select(.event == "violation")'
  wstool proxy                                    # forward: --proxy http://127.0.0.1:8780
  wstool proxy --to ws://127.0.0.1:8765/ --record app.session  # keep both sides
  wstool proxy --terminate                        # forward, one WebSocket per side

Without --to it is a forward proxy (HTTP CONNECT tunnels and absolute-URI
requests such as GET ws://host/path): point a client's or browser's proxy
setting at it. ws:// is seen in the clear; for wss:// the proxy ends TLS
with a certificate for the requested host signed by a local CA, made on
first use and kept in --ca-dir (trust its ca.pem once; the path is printed
at start), and opens a verified TLS connection upstream. Traffic that is not
a WebSocket upgrade is relayed untouched.

With --terminate (reverse or forward) the proxy is an endpoint on each
side instead: two WebSocket connections, every message re-encoded, so
held messages can always be dropped or edited.

With stdin a terminal, a prompt steers live connections: /conns, /inject
[N] client|server TEXT (and /binary, /ping, /close, /forge), /hold,
/held, /drop M, /edit M TEXT and /release; a pasted --json line is sent
again; /help lists them. SSLKEYLOGFILE is honoured (both TLS hops).

Stop with Ctrl-C (or SIGTERM): each WebSocket gets a Close 1001 both ways,
the rest is closed, every connection summarised; exit 0.
"""


def listen_address(text: str) -> tuple[str, int]:
    """``HOST:PORT``, ``:PORT``, ``PORT`` or ``[IPv6]:PORT`` -> (host, port)."""
    text = text.strip()
    host, sep, port_text = text.rpartition(":")
    if not sep:
        host, port_text = "", text
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    elif ":" in host:
        raise argparse.ArgumentTypeError(f"{text!r}: write an IPv6 address as [ADDR]:PORT")
    if not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT (port 0-65535)")
    return host or "127.0.0.1", int(port_text)


def add_parser(commands: Any) -> None:
    """Add ``proxy`` to the subcommands."""
    proxy = add_command(
        commands,
        "proxy",
        help="relay a client and a server through wstool and show every frame both ways",
        description=_HELP,
        epilog=_EPILOG,
    )
    proxy.add_argument(
        "--to",
        metavar="URL",
        help="reverse proxy to this server, ws://HOST[:PORT]/PATH or wss://...; "
        "without it wstool is an HTTP proxy (CONNECT and ws:// requests)",
    )
    proxy.add_argument(
        "--listen",
        type=listen_address,
        default=("127.0.0.1", DEFAULT_PORT),
        metavar="HOST:PORT",
        help=f"where clients connect (default: 127.0.0.1:{DEFAULT_PORT}; port 0 picks one)",
    )
    proxy.add_argument(
        "--terminate",
        action="store_true",
        help="two WebSocket connections, one per side, every message re-encoded "
        "(extensions negotiated per side; violations fail that side, as an endpoint must); "
        "with or without --to",
    )
    proxy.add_argument(
        "--filter",
        action="append",
        default=[],
        metavar="TEXT",
        help="show only connections whose URL (host, path) or client address contains TEXT "
        "(repeatable); the others are relayed all the same",
    )
    proxy.add_argument(
        "--no-prompt",
        action="store_true",
        help="no steering prompt, even when stdin is a terminal",
    )
    out = proxy.add_mutually_exclusive_group()
    out.add_argument(
        "-q", "--quiet", action="store_true", help="show connects, violations and closes only"
    )
    out.add_argument(
        "-v", "--verbose", action="store_true", help="every header bit, mask keys, whole payloads"
    )
    proxy.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per event (NDJSON); with -q only requests, violations, closes",
    )
    tls = proxy.add_argument_group("TLS (wss://)")
    tls.add_argument(
        "--ca-dir",
        metavar="DIR",
        help="forward mode: where the local CA that signs per-host certificates is made and "
        "kept (default: $XDG_DATA_HOME/wstool or ~/.local/share/wstool)",
    )
    tls.add_argument("--upstream-ca", metavar="FILE", help="PEM certificates to trust upstream")
    tls.add_argument(
        "--insecure", action="store_true", help="do not verify the upstream's certificate"
    )
    limits = proxy.add_argument_group("limits and timeouts")
    limits.add_argument(
        "--connect-timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="to connect upstream (default: 10)",
    )
    limits.add_argument(
        "--handshake-timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="for a client's request, then for the upstream's answer (default: 10; 0: none)",
    )
    limits.add_argument(
        "--max-request-size",
        type=size,
        default=16384,
        metavar="SIZE",
        help="largest request head; larger ones get 431 (default: 16384)",
    )
    limits.add_argument(
        "--inspect-limit",
        type=size,
        default=64 * 2**20,
        metavar="SIZE",
        help="frames or messages larger than this are relayed, not decoded (default: 64MiB)",
    )
    add_output_options(proxy)
    add_record_option(proxy)
    proxy.set_defaults(run=run)


def _upstream(args: argparse.Namespace) -> Any:
    from wstool.core.errors import UsageError
    from wstool.core.uri import parse_uri

    try:
        uri = parse_uri(args.to)
    except UsageError as exc:
        raise CommandError(f"--to: {exc}", ExitStatus.USAGE) from exc
    if uri.converted_from is not None:
        raise CommandError(
            f"--to: {args.to!r} is an {uri.converted_from}:// URL; give ws:// or wss://",
            ExitStatus.USAGE,
        )
    return uri


def _forward_options(args: argparse.Namespace) -> Any:
    from pathlib import Path

    from wstool.net.ca import LocalCA, default_ca_dir
    from wstool.net.forward import ForwardOptions
    from wstool.net.tls import TLSSetupError, pem_blocks

    try:
        if args.upstream_ca:
            with open(args.upstream_ca, "rb") as file:
                if not pem_blocks(file.read()):
                    raise TLSSetupError(f"no PEM certificate in {args.upstream_ca!r}")
        ca = LocalCA(Path(args.ca_dir) if args.ca_dir else default_ca_dir())
    except OSError as exc:
        raise CommandError(
            f"cannot read {args.upstream_ca!r}: {exc.strerror}", ExitStatus.USAGE
        ) from exc
    except TLSSetupError as exc:
        raise CommandError(str(exc), ExitStatus.USAGE) from exc
    return ForwardOptions(
        ca=ca,
        keylog=_keylog(),
        upstream_ca=args.upstream_ca,
        insecure=args.insecure,
        connect_timeout=args.connect_timeout or 10.0,
        handshake_timeout=args.handshake_timeout or None,
        max_request_size=args.max_request_size,
        inspect_limit=args.inspect_limit,
    )


def _keylog() -> Any:
    """A key log when ``SSLKEYLOGFILE`` is set (Wireshark can then decrypt both hops)."""
    from wstool.core.errors import UsageError
    from wstool.net.keylog import keylog_from_environment

    try:
        return keylog_from_environment()
    except UsageError as exc:
        raise CommandError(str(exc), ExitStatus.USAGE) from exc


def _options(args: argparse.Namespace) -> Any:
    from wstool.net.proxy import ProxyOptions
    from wstool.net.tls import TLSSetupError, client_tls_creator

    uri = _upstream(args)
    tls = None
    if uri.secure:
        try:
            tls = client_tls_creator(uri.host, ca_file=args.upstream_ca, insecure=args.insecure)
            keylog = _keylog()
            if keylog is not None:
                tls = keylog.client(tls)
        except TLSSetupError as exc:
            raise CommandError(str(exc), ExitStatus.USAGE) from exc
    return ProxyOptions(
        upstream=uri,
        tls=tls,
        connect_timeout=args.connect_timeout or 10.0,
        handshake_timeout=args.handshake_timeout or None,
        max_request_size=args.max_request_size,
        inspect_limit=args.inspect_limit,
    )


def _observer(args: argparse.Namespace, env: Environment, reactor: Any, stop: Any) -> Any:
    from wstool.ui.console import make_console
    from wstool.ui.proxylog import ProxyLog

    level = 0 if args.quiet else 2 if args.verbose else 1
    return ProxyLog(
        make_console(args.color, env.stdout, no_color_env=env.no_color),
        level=level,
        json_out=env.stdout if args.json else None,
        flush_soon=lambda flush: reactor.callLater(0, flush),
        on_broken_pipe=stop,
        filters=args.filter,
    )


def _forward_lines(host: str, address: Any, options: Any, terminate: bool = False) -> list[str]:
    shown = f"[{host}]" if ":" in host else host
    proxy_url = f"http://{shown}:{address.port}"
    ca = options.ca
    made = "made now" if ca.created else "kept from before"
    mode = ", terminating: one WebSocket per side" if terminate else ""
    return [
        f"wstool proxy: forward proxy listening on {proxy_url} (HTTP CONNECT and ws:// "
        f"requests{mode}; Ctrl-C stops)",
        f"  wss:// is decrypted with certificates from the CA in {ca.cert_path} ({made}); "
        "trust it once:",
        f"    curl:     curl --proxy {proxy_url} --cacert {ca.cert_path} https://HOST/",
        f"    Python:   SSL_CERT_FILE={ca.cert_path} (websockets: connect(uri, "
        f'proxy="{proxy_url}", ssl=ssl.create_default_context(cafile=...)))',
        f"    wstool:   wstool connect --proxy {proxy_url} --ca {ca.cert_path} wss://HOST/",
        "    browser:  import ca.pem as a certificate authority (Chrome: Settings > Privacy "
        "and security > Security > Manage certificates > Authorities; Firefox: Settings > "
        f"Certificates > View Certificates > Authorities > Import), proxy {proxy_url}",
    ]


def _listening_line(host: str, address: Any, upstream: Any, terminate: bool = False) -> str:
    shown = f"[{host}]" if ":" in host else host
    mode = " (terminating: one WebSocket per side)" if terminate else ""
    path = upstream.resource
    return (
        f"wstool proxy: listening on ws://{shown}:{address.port}/ -> {upstream}{mode} "
        f"(point the client at ws://{shown}:{address.port}/; its path goes under {path}; "
        "Ctrl-C stops)"
    )


def run(args: argparse.Namespace, env: Environment) -> int:
    """Listen, relay until Ctrl-C or SIGTERM, close what is open, exit 0."""
    forward = args.to is None
    if args.record and args.terminate:
        raise CommandError(
            "--record keeps relayed frames as they went: leave out --terminate", ExitStatus.USAGE
        )
    options = _forward_options(args) if forward else _options(args)
    from wstool.cli.listening import ListeningRun, buffer_stdout, stop_once_on_signals
    from wstool.cli.record import RelayTee, start_recording
    from wstool.net.forward import ForwardProxy
    from wstool.net.proxy import ReverseProxy
    from wstool.net.server import listen_endpoint
    from wstool.net.terminate import TerminatingProxy

    prompt = env.stdin_isatty and not args.json and not args.no_prompt
    reactor = env.get_reactor(asyncio=prompt)
    buffer_stdout(env.stdout)
    outcome = ListeningRun(reactor)
    observer = _observer(args, env, reactor, outcome.reader_gone)
    recorder = start_recording(
        args, reactor, role="proxy", command="proxy", on_error=outcome.recording_failed(args.record)
    )
    relay_observer: Any = observer if recorder is None else RelayTee(observer, recorder)
    factory: Any
    terminating = None
    if args.terminate:
        terminating = TerminatingProxy(
            options,
            observer,
            reactor,
            upstream_ca=args.upstream_ca,
            insecure=args.insecure,
            keylog=options.keylog if forward else _keylog() if options.upstream.secure else None,
        )
    if forward:
        factory = ForwardProxy(options, relay_observer, reactor, terminating=terminating)
    elif terminating is not None:
        factory = terminating
    else:
        factory = ReverseProxy(options, relay_observer, reactor)
    host, port = args.listen
    endpoint = listen_endpoint(reactor, host, port, None)

    def listening(listening_port: Any) -> None:
        address = listening_port.getHost()
        if forward:
            lines = _forward_lines(host, address, options, args.terminate)
        else:
            lines = [_listening_line(host, address, options.upstream, args.terminate)]
        if args.json:
            env.stderr.write("\n".join(lines) + "\n")
            env.stderr.flush()
        else:
            for line in lines:
                observer.console.print(line, style="ws.ok", highlight=False, soft_wrap=True)
            observer.flush()
        if prompt:
            _start_prompt(terminating or factory, observer, reactor, terminate=args.terminate)

    failed = outcome.listen_failed(host, port)
    reactor.callWhenRunning(stop_once_on_signals, reactor)
    reactor.callWhenRunning(lambda: endpoint.listen(factory).addCallbacks(listening, failed))
    reactor.addSystemEventTrigger("before", "shutdown", factory.shutdown)
    reactor.run()
    return outcome.finish(observer, recorder)


def _start_prompt(factory: Any, observer: Any, reactor: Any, *, terminate: bool) -> None:
    """The steering prompt on the reactor's asyncio loop; leaving it stops the proxy."""
    import asyncio

    from wstool.net.steer import RelaySteering, TerminateSteering
    from wstool.ui.proxyprompt import held_line, run_proxy_prompt

    observer.console.print(
        "steer with /conns, /inject, /hold, /held, /drop, /edit, /release ... "
        "(/help lists them; Ctrl-D quits)",
        style="ws.note",
        highlight=False,
    )

    def on_held(record: dict[str, Any]) -> None:
        observer.console.print(held_line(record, prefix="held"))

    steering: Any
    if terminate:
        steering = TerminateSteering(factory, on_held=on_held)
    else:
        steering = RelaySteering(lambda: list(factory.relays), on_held=on_held)
    task = asyncio.ensure_future(run_proxy_prompt(steering, observer, observer.console))
    task.add_done_callback(lambda _: reactor.stop() if reactor.running else None)
