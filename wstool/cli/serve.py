"""``wstool serve`` wired together: options -> site, observer, reactor, signals."""

from __future__ import annotations

import argparse
import ipaddress
import signal
import sys
from typing import IO, Any

from wstool.cli.errors import CommandError, ExitStatus

__all__ = ["run_serve"]

# Twisted's default listen backlog is 50: a burst of clients (a load test,
# a reconnect storm) would sit in SYN retries.
_BACKLOG = 1024


def _observer(args: argparse.Namespace, stdout: IO[str], console: Any, reactor: Any) -> Any:
    from wstool.ui.traffic import TrafficLog

    level = 0 if args.quiet else 2 if args.verbose else 1
    return TrafficLog(
        console,
        level=level,
        json_out=stdout if args.json else None,
        # Flush once per turn of the reactor, after every read it handled.
        flush_soon=lambda flush: reactor.callLater(0, flush),
    )


def _options(args: argparse.Namespace) -> Any:
    from wstool.net.server import ServerOptions
    from wstool.net.wire import Timeouts

    return ServerOptions(
        mode=args.mode,
        subprotocols=tuple(args.subprotocol),
        deflate=not args.no_deflate,
        max_message_size=args.max_message_size,
        max_inflated_size=args.max_inflated_size or args.max_message_size,
        max_request_size=args.max_request_size,
        handshake_timeout=args.handshake_timeout or None,
        timeouts=Timeouts(
            close=args.close_timeout or None,
            ping_interval=args.ping_interval or None,
            ping_timeout=args.ping_timeout or None,
            idle=args.idle_timeout or None,
        ),
        origins=tuple(args.origin) if args.origin else None,
    )


def _tls_context(args: argparse.Namespace) -> Any:
    if bool(args.tls_cert) != bool(args.tls_key):
        raise CommandError("--tls-cert and --tls-key go together", ExitStatus.USAGE)
    if not args.tls_cert:
        return None
    from twisted.internet import ssl

    try:
        with open(args.tls_cert, "rb") as cert_file, open(args.tls_key, "rb") as key_file:
            pem = cert_file.read() + b"\n" + key_file.read()
        certificate = ssl.PrivateCertificate.loadPEM(pem)
    except OSError as exc:
        raise CommandError(
            f"cannot read {exc.filename!r}: {exc.strerror}", ExitStatus.USAGE
        ) from exc
    except Exception as exc:  # pyOpenSSL's errors carry no useful type
        raise CommandError(
            f"cannot use the TLS certificate or key: {exc}", ExitStatus.USAGE
        ) from exc
    return certificate.options()


def _is_wildcard(interface: str) -> bool:
    """Whether listening on ``interface`` accepts connections on several addresses."""
    if not interface:
        return True
    try:
        return ipaddress.ip_address(interface).is_unspecified
    except ValueError:  # a host name: Twisted binds the one address it resolves to
        return False


def run_serve(args: argparse.Namespace, stdout: IO[str], console: Any) -> int:
    """Listen, serve until Ctrl-C or SIGTERM, close every connection with 1001, exit 0."""
    tls = _tls_context(args)
    from twisted.internet import endpoints, reactor
    from twisted.internet.error import CannotListenError

    from wstool.cli.allocator import release_free_memory, tune_allocator
    from wstool.net.server import WebSocketSite

    tune_allocator()
    # The log flushes once per turn of the reactor (see _observer), so the
    # stream need not write every line through, whatever PYTHONUNBUFFERED says.
    reconfigure = getattr(stdout, "reconfigure", None)
    if reconfigure is not None:
        reconfigure(write_through=False)
    observer = _observer(args, stdout, console, reactor)
    site = WebSocketSite(_options(args), observer, reactor, on_idle=release_free_memory)
    host = args.host
    interface = host.strip("[]")
    if tls is not None:
        endpoint: Any = endpoints.SSL4ServerEndpoint(
            reactor, args.port, tls, backlog=_BACKLOG, interface=interface
        )
    elif ":" in interface:
        endpoint = endpoints.TCP6ServerEndpoint(
            reactor, args.port, backlog=_BACKLOG, interface=interface
        )
    else:
        endpoint = endpoints.TCP4ServerEndpoint(
            reactor, args.port, backlog=_BACKLOG, interface=interface
        )
    outcome: dict[str, Any] = {}

    def listening(port: Any) -> None:
        address = port.getHost()
        actual = address.port
        if not _is_wildcard(interface):
            site.local_address = address
        shown = f"[{interface}]" if ":" in interface else interface
        scheme = "wss" if tls is not None else "ws"
        web = "https" if tls is not None else "http"
        message = (
            f"wstool serve: listening on {scheme}://{shown}:{actual}/ "
            f"({args.mode}; browser console at {web}://{shown}:{actual}/; Ctrl-C stops)"
        )
        if args.json:
            sys.stderr.write(message + "\n")
        else:
            console.print(message, style="ws.ok", highlight=False)

    def failed(failure: Any) -> None:
        if failure.check(CannotListenError):
            error = failure.value.socketError
            why = getattr(error, "strerror", None) or str(error)
            outcome["error"] = f"cannot listen on {host}:{args.port}: {why}"
        else:
            outcome["error"] = f"cannot listen on {host}:{args.port}: {failure.getErrorMessage()}"
        reactor.stop()

    def start() -> None:
        d = endpoint.listen(site)
        d.addCallbacks(listening, failed)

    # Listen (and say so) only once the reactor runs and has installed its
    # SIGINT/SIGTERM handlers, so a signal right after the first line still
    # takes the graceful path.
    reactor.callWhenRunning(start)
    reactor.addSystemEventTrigger(
        "before", "shutdown", lambda: site.shutdown("server shutting down")
    )
    # Twisted turns SIGINT into reactor.stop(); SIGTERM the same way, so
    # both run the graceful shutdown above.
    reactor.run()
    observer.flush()  # what the last turns of the reactor logged
    if "error" in outcome:
        raise CommandError(outcome["error"])
    _ = signal  # SIGINT/SIGTERM are installed by reactor.run()
    return ExitStatus.OK
