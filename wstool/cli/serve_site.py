"""``wstool serve``'s site options: -H on the 101, --static, --tls-client-ca, --unix."""

from __future__ import annotations

import argparse
import os
import socket
import stat
from typing import Any

from wstool.cli.errors import CommandError, ExitStatus

__all__ = [
    "add_site_options",
    "site_options",
    "unix_endpoint",
    "unix_listening_line",
]

_HANDSHAKE_HEADERS = frozenset(
    name.lower()
    for name in (
        "Upgrade",
        "Connection",
        "Sec-WebSocket-Accept",
        "Sec-WebSocket-Extensions",
        "Sec-WebSocket-Protocol",
        "Sec-WebSocket-Version",
        "Content-Length",
        "Transfer-Encoding",
    )
)
"""Headers the 101 itself is made of (RFC 6455 §4.2.2), or that would give it a body."""


def add_site_options(parser: argparse.ArgumentParser) -> None:
    """Add ``-H``, ``--static``, ``--tls-client-ca`` and ``--unix`` to serve."""
    group = parser.add_argument_group("site: files, headers, client certificates, Unix socket")
    group.add_argument(
        "-H",
        "--header",
        dest="response_headers",
        action="append",
        default=[],
        metavar="'NAME: VALUE'",
        help="add this header to every 101 response (repeatable)",
    )
    group.add_argument(
        "--static",
        metavar="DIR",
        help="answer plain GETs with files from DIR (index.html for directories); "
        "the browser console moves to /__wstool/",
    )
    group.add_argument(
        "--tls-client-ca",
        metavar="FILE",
        help="with --tls-cert: require client certificates issued by these PEM CAs (mutual TLS); "
        "the subject is shown when a client connects",
    )
    group.add_argument(
        "--unix",
        metavar="PATH",
        help="listen on this Unix socket instead of TCP (a stale socket file is replaced)",
    )


def _response_header(text: str) -> tuple[str, str]:
    from wstool.core.errors import UsageError
    from wstool.core.http import encode_head

    name, colon, value = text.partition(":")
    if not colon or not name or name != name.strip():
        raise CommandError(f"-H {text!r} is not 'Name: value'", ExitStatus.USAGE)
    if name.lower() in _HANDSHAKE_HEADERS:
        raise CommandError(
            f"-H {name}: the 101 sets this header itself; adding it would break the handshake",
            ExitStatus.USAGE,
        )
    header = (name, value.strip())
    try:
        encode_head("HTTP/1.1 101 Switching Protocols", [header])
    except UsageError as exc:
        raise CommandError(f"-H {text!r}: {exc}", ExitStatus.USAGE) from exc
    return header


def site_options(args: argparse.Namespace) -> dict[str, Any]:
    """The :class:`~wstool.net.server.ServerOptions` fields these options set.

    Raises:
        CommandError: a header that cannot go on a 101, a --static directory
            that does not exist, options that do not go together.
    """
    if args.tls_client_ca and not args.tls_cert:
        raise CommandError("--tls-client-ca goes with --tls-cert and --tls-key", ExitStatus.USAGE)
    if args.unix:
        _check_unix_options(args)
    static = None
    if args.static:
        if not os.path.isdir(args.static):
            raise CommandError(f"--static: {args.static!r} is not a directory", ExitStatus.USAGE)
        from wstool.net.static import StaticFiles

        static = StaticFiles(args.static)
    headers = tuple(_response_header(text) for text in args.response_headers)
    return {"response_headers": headers, "static": static}


# -- Unix sockets -----------------------------------------------------------------


def _check_unix_options(args: argparse.Namespace) -> None:
    for flag, given in (
        ("--tls-cert", args.tls_cert),
        ("--workers", getattr(args, "workers", 1) > 1),
    ):
        if given:
            raise CommandError(f"--unix does not go with {flag}", ExitStatus.USAGE)
    directory = os.path.dirname(os.path.abspath(args.unix))
    if not os.path.isdir(directory):
        raise CommandError(f"--unix: no directory {directory!r}", ExitStatus.USAGE)


def _remove_stale_socket(path: str) -> None:
    """Remove ``path`` if it is a socket nobody listens on; refuse anything else there."""
    try:
        mode = os.lstat(path).st_mode
    except FileNotFoundError:
        return
    if not stat.S_ISSOCK(mode):
        raise CommandError(f"--unix: {path!r} exists and is not a socket", ExitStatus.USAGE)
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        probe.connect(path)
    except OSError:
        os.unlink(path)  # left by a server that is gone
        return
    finally:
        probe.close()
    raise CommandError(f"--unix: a server is listening on {path!r} already", ExitStatus.ERROR)


def unix_endpoint(args: argparse.Namespace, reactor: Any) -> Any:
    """With ``--unix``: the endpoint (a stale socket file removed first); else None.

    Twisted removes the socket file when the port stops listening (at exit).
    """
    if not args.unix:
        return None
    from twisted.internet.endpoints import UNIXServerEndpoint

    from wstool.net.server import DEFAULT_BACKLOG

    _remove_stale_socket(args.unix)
    return UNIXServerEndpoint(reactor, args.unix, backlog=DEFAULT_BACKLOG)  # type: ignore[no-untyped-call]


def unix_listening_line(args: argparse.Namespace, mode: str) -> str:
    """The listening line for ``--unix``: the URL as wscat and ``wstool connect`` take it."""
    path = os.path.abspath(args.unix)
    return (
        f"wstool serve: listening on ws+unix://{path}:/ ({mode}; "
        f"curl --unix-socket {path} http://localhost/ reaches it over HTTP; Ctrl-C stops)"
    )
