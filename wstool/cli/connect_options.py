"""``wstool connect``'s options: the parser, grouped, and the ClientOptions built from it.

Value types here turn each option's text into data with one clear error
line: headers (``-H 'Name: value'`` or ``-H @FILE``), cookies (curl's
``--cookie``), ``--connect-to``, SOCKS5 proxies and ``ws+unix://`` URLs.
"""

from __future__ import annotations

import argparse
import os
import re
import time
from dataclasses import dataclass
from typing import Any

from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus
from wstool.cli.options import add_output_options, seconds, size
from wstool.cli.record import add_record_option

__all__ = [
    "JarCookie",
    "add_options",
    "client_options",
    "cookie_header",
    "parse_connect_to",
    "read_header_file",
    "split_unix_url",
]


def _header(text: str) -> tuple[str, str]:
    name, sep, value = text.partition(":")
    if not sep or not name.strip() or name != name.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is not 'Name: value'")
    return name, value.strip()


def read_header_file(path: str) -> list[tuple[str, str]]:
    """``-H @FILE``: one ``Name: value`` a line; blank lines and ``#`` comments skipped.

    Raises:
        argparse.ArgumentTypeError: naming the file and line that is wrong.
    """
    try:
        with open(path, encoding="utf-8") as lines:
            text = lines.read()
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise argparse.ArgumentTypeError(f"cannot read headers from {path!r}: {why}") from None
    headers = []
    for number, line in enumerate(text.splitlines(), 1):
        line = line.rstrip("\r")
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        try:
            headers.append(_header(line))
        except argparse.ArgumentTypeError:
            raise argparse.ArgumentTypeError(
                f"{path}, line {number}: {line!r} is not 'Name: value'"
            ) from None
    return headers


def _headers(text: str) -> list[tuple[str, str]]:
    if text.startswith("@"):
        return read_header_file(text[1:])
    return [_header(text)]


@dataclass(frozen=True)
class JarCookie:
    """One line of a Netscape cookie file (curl's ``-c``/``-b`` format)."""

    domain: str
    subdomains: bool
    path: str
    secure: bool
    expires: int
    name: str
    value: str

    def matches(self, host: str, resource: str, secure: bool, now: float) -> bool:
        """Whether a request to ``host`` for ``resource`` carries it (RFC 6265 §5.4)."""
        domain = self.domain.lstrip(".").lower()
        host = host.lower()
        if host != domain and not (self.subdomains and host.endswith("." + domain)):
            return False
        path = resource.split("?", 1)[0] or "/"
        # RFC 6265 §5.1.4: the cookie path is the request path, or a prefix of
        # it that ends with "/" or is followed by "/".
        cookie_path = self.path or "/"
        if path != cookie_path and not (
            path.startswith(cookie_path)
            and (cookie_path.endswith("/") or path[len(cookie_path)] == "/")
        ):
            return False
        return (secure or not self.secure) and (self.expires == 0 or self.expires > now)


def cookie_header(text: str) -> str | list[JarCookie]:
    """``--cookie``: ``'a=b; c=d'`` as is, or ``@FILE``: a Netscape cookie file's cookies.

    Raises:
        argparse.ArgumentTypeError: with one line.
    """
    if text.startswith("@"):
        return read_cookie_file(text[1:])
    pairs = [p.strip() for p in text.split(";") if p.strip()]
    for pair in pairs:
        if "=" not in pair or not pair.split("=", 1)[0].strip():
            raise argparse.ArgumentTypeError(f"{pair!r} is not NAME=VALUE")
    if any(c in text for c in "\r\n"):
        raise argparse.ArgumentTypeError("a cookie may not contain a line break")
    return "; ".join(pairs)


def read_cookie_file(path: str) -> list[JarCookie]:
    """A Netscape cookie file (as curl writes with ``-c``); errors name the line.

    Raises:
        argparse.ArgumentTypeError: with one line.
    """
    try:
        with open(path, encoding="utf-8") as jar:
            lines = jar.read().splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        why = getattr(exc, "strerror", None) or str(exc)
        raise argparse.ArgumentTypeError(f"cannot read cookies from {path!r}: {why}") from None
    cookies = []
    for number, line in enumerate(lines, 1):
        # curl writes HttpOnly cookies as "#HttpOnly_domain ..."
        line = line.removeprefix("#HttpOnly_")
        if not line.strip() or line.startswith("#"):
            continue
        fields = line.split("\t")
        if len(fields) != 7 or not fields[4].lstrip("-").isdigit():
            raise argparse.ArgumentTypeError(
                f"{path}, line {number}: not a Netscape cookie line (7 tab-separated fields)"
            )
        domain, subdomains, cookie_path, secure, expires, name, value = fields
        cookies.append(
            JarCookie(
                domain,
                subdomains.upper() == "TRUE",
                cookie_path,
                secure.upper() == "TRUE",
                int(expires),
                name,
                value,
            )
        )
    return cookies


def _auth(text: str) -> tuple[str, str]:
    user, sep, password = text.partition(":")
    if not sep:
        raise argparse.ArgumentTypeError(f"{text!r} is not user:password")
    return user, password


def _count(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of messages (1 or more)")
    return int(text)


def _whole(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number (0 or more)")
    return int(text)


_PART = r"(\[[^\]]*\]|[^:\[\]]*)"
_CONNECT_TO_LONG = re.compile(rf"^{_PART}:(\d*):{_PART}:(\d*)$")
_CONNECT_TO_SHORT = re.compile(rf"^{_PART}:(\d+)$")


def parse_connect_to(text: str) -> Any:
    """``HOST:PORT`` (every connection) or curl's ``HOST1:PORT1:HOST2:PORT2``.

    Raises:
        argparse.ArgumentTypeError: with one line.
    """
    from wstool.net.client import ConnectTo

    def host(part: str) -> str:
        return part[1:-1] if part.startswith("[") else part

    def port(part: str) -> int:
        value = int(part or 0)
        if value > 65535:
            raise argparse.ArgumentTypeError(f"{text!r}: port {value} is over 65535")
        return value

    short = _CONNECT_TO_SHORT.match(text)
    if short and short[1]:
        return ConnectTo("", 0, host(short[1]), port(short[2]))
    long = _CONNECT_TO_LONG.match(text)
    if long:
        return ConnectTo(host(long[1]), port(long[2]), host(long[3]), port(long[4]))
    raise argparse.ArgumentTypeError(f"{text!r} is not HOST:PORT or HOST1:PORT1:HOST2:PORT2")


def split_unix_url(text: str) -> tuple[str, str] | None:
    """``ws+unix:///path/to.sock:/ws/path`` -> (socket path, ``ws://localhost/ws/path``).

    The socket's path ends at the first ``:`` (as in Node's ws and wscat);
    without one the request path is ``/``. ``None`` for another scheme.
    """
    match = re.match(r"^(wss?)\+unix://(.*)$", text.strip(), re.IGNORECASE)
    if match is None:
        return None
    scheme, rest = match[1].lower(), match[2]
    path, _, resource = rest.partition(":")
    if not resource.startswith("/"):
        resource = "/" + resource
    return path, f"{scheme}://localhost{resource}"


def add_options(p: argparse.ArgumentParser) -> None:
    """Every option of ``connect``, in groups for a readable --help."""
    p.add_argument(
        "url",
        metavar="URL",
        help="ws:// or wss:// URL (IPv6 as ws://[::1]:8765/), or ws+unix:///SOCKET:/PATH",
    )
    _add_handshake_options(p)
    _add_connection_options(p)
    _add_proxy_options(p)
    _add_tls_options(p)
    _add_fault_options(p)
    _add_view_options(p)
    _add_pipe_options(p)
    add_output_options(p)
    add_record_option(p)


def _add_handshake_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("handshake")
    g.add_argument(
        "-H",
        "--header",
        action="append",
        type=_headers,
        default=[],
        metavar="'NAME: VALUE'|@FILE",
        help="an extra request header (repeatable); one wstool sends too (Host, "
        "Origin ...) is replaced. @FILE: one header a line (# comments)",
    )
    g.add_argument(
        "--subprotocol",
        action="append",
        default=[],
        metavar="NAME",
        help="offer this subprotocol (repeatable)",
    )
    g.add_argument("--origin", help="send this Origin header")
    g.add_argument("--host", metavar="NAME", help="send this Host header instead of the URL's")
    g.add_argument(
        "--cookie",
        action="append",
        type=cookie_header,
        default=[],
        metavar="'A=B; C=D'|@FILE",
        help="send a Cookie header (repeatable, joined); @FILE: the URL's cookies from a "
        "Netscape cookie file (curl -c)",
    )
    g.add_argument(
        "--auth",
        type=_auth,
        metavar="USER:PASS",
        help="Basic auth (default: the URL's user:pass@, if any)",
    )
    g.add_argument("--no-deflate", action="store_true", help="do not offer permessage-deflate")
    g.add_argument(
        "-L",
        "--location",
        action="store_true",
        help="follow redirects (301, 302, 303, 307, 308) of the upgrade request",
    )
    g.add_argument(
        "--max-redirs",
        type=_whole,
        default=10,
        metavar="N",
        help="follow at most N redirects (default: 10)",
    )


def _add_connection_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("connection")
    g.add_argument(
        "--connect-to",
        action="append",
        type=parse_connect_to,
        default=[],
        metavar="HOST:PORT",
        help="dial HOST:PORT instead, keeping the URL's Host and TLS name (also curl's "
        "HOST1:PORT1:HOST2:PORT2, repeatable)",
    )
    g.add_argument(
        "--unix", metavar="PATH", help="connect to this Unix socket instead of the URL's host"
    )
    g.add_argument(
        "--connect-timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="for TCP, proxy, TLS and the handshake together (default: 10)",
    )
    g.add_argument(
        "--ping-interval",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="send a keepalive Ping this often; 0 (default) never",
    )
    g.add_argument(
        "--ping-timeout",
        type=seconds,
        default=20.0,
        metavar="SECONDS",
        help="fail with 1011 when a keepalive Ping's Pong is this late (default: 20; 0 never)",
    )
    g.add_argument(
        "--max-message-size",
        type=size,
        default=64 * 2**20,
        metavar="SIZE",
        help="larger messages from the server fail with 1009 (default: 64MiB)",
    )
    g.add_argument(
        "--reconnect",
        action="store_true",
        help="when the connection ends without /close or end of input, connect again "
        "(exponential backoff with jitter, 0.5 s doubling up to 30 s)",
    )
    g.add_argument(
        "--reconnect-max",
        type=_whole,
        default=0,
        metavar="N",
        help="give up after N failed attempts in a row (default: 0, never)",
    )
    g.add_argument(
        "--on-connect",
        action="append",
        default=[],
        metavar="MESSAGE",
        help="send this text message after every connection and reconnection (repeatable)",
    )


def _add_proxy_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("proxy")
    g.add_argument(
        "--proxy",
        metavar="URL",
        help="an HTTP proxy (CONNECT), http://[user:pass@]host:port, or a socks5[h]:// URL; "
        "default: https_proxy/http_proxy/all_proxy from the environment, minus no_proxy",
    )
    g.add_argument(
        "--socks5",
        metavar="[socks5[h]://][USER:PASS@]HOST:PORT",
        help="a SOCKS5 proxy; socks5h:// lets the proxy resolve the host name, socks5:// "
        "(the default) resolves it here",
    )
    g.add_argument("--socks5-auth", type=_auth, metavar="USER:PASS", help="SOCKS5 credentials")
    g.add_argument("--no-proxy", action="store_true", help="ignore proxy environment variables")


def _add_tls_options(p: argparse.ArgumentParser) -> None:
    tls = p.add_argument_group("TLS (wss://)")
    tls.add_argument("--insecure", action="store_true", help="do not verify the certificate")
    tls.add_argument("--ca", metavar="FILE", help="trust the CA certificates in this PEM file")
    tls.add_argument("--cert", metavar="FILE", help="a client certificate (PEM)")
    tls.add_argument("--key", metavar="FILE", help="its private key (PEM; default: in --cert)")


def _add_fault_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("fault injection")
    g.add_argument(
        "--no-pong",
        action="store_true",
        help="do not answer the server's Pings (tests its keepalive timeout; /pong on "
        "in the REPL answers again)",
    )


def _add_view_options(p: argparse.ArgumentParser) -> None:
    group = p.add_argument_group("output")
    view = group.add_mutually_exclusive_group()
    view.add_argument(
        "-v", "--verbose", action="store_true", help="every header bit, mask keys, whole payloads"
    )
    view.add_argument("-q", "--quiet", action="store_true", help="messages only, not frames")
    view.add_argument(
        "--json",
        action="store_true",
        help="one JSON object per frame, handshake and close on stdout (NDJSON)",
    )


def _add_pipe_options(p: argparse.ArgumentParser) -> None:
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
        "--count",
        type=_count,
        default=None,
        metavar="N",
        help="print N received messages, then close with 1000",
    )
    pipe.add_argument("--raw", action="store_true", help="write binary messages as they are")


def _check_readable(args: argparse.Namespace) -> None:
    for name in ("ca", "cert", "key"):
        path = getattr(args, name)
        if path is not None:
            try:
                open(path, "rb").close()
            except OSError as exc:
                raise CommandError(
                    f"cannot read --{name} {path!r}: {exc.strerror}", ExitStatus.USAGE
                ) from exc


def _request_headers(args: argparse.Namespace, uri: Any) -> tuple[tuple[str, str], ...]:
    headers = [pair for group in args.header for pair in group]
    if args.host is not None:
        headers.insert(0, ("Host", args.host))
    cookies = []
    now = time.time()
    for given in args.cookie:
        if isinstance(given, str):
            cookies.append(given)
        else:  # a cookie file: the cookies for this URL only, as curl sends them
            cookies += [
                f"{c.name}={c.value}"
                for c in given
                if c.matches(uri.host, uri.resource, uri.secure, now)
            ]
    if any(cookies):
        headers.append(("Cookie", "; ".join(c for c in cookies if c)))
    return tuple(headers)


def _proxies(args: argparse.Namespace, uri: Any, unix: bool) -> tuple[str | None, Any]:
    """The HTTP proxy URL and the SOCKS5 proxy to use (either, or none)."""
    from wstool.core.errors import UsageError
    from wstool.net.routes import proxy_for
    from wstool.net.socks import parse_socks_proxy

    if args.socks5 is not None and args.proxy is not None:
        raise UsageError("give --proxy or --socks5, not both")
    if unix:
        return None, None
    if args.socks5 is not None:
        socks = parse_socks_proxy(args.socks5)
    else:
        proxy = args.proxy
        if proxy is None and not args.no_proxy:
            proxy = proxy_for(uri)
        if proxy is None or not proxy.lower().startswith("socks"):
            return proxy, None
        socks = parse_socks_proxy(proxy)
    if args.socks5_auth is not None:
        user, password = args.socks5_auth
        socks = type(socks)(socks.host, socks.port, user, password, socks.remote_dns)
    return None, socks


def client_options(args: argparse.Namespace, env: Environment) -> Any:
    """The :class:`~wstool.net.client.ClientOptions` the arguments ask for.

    Raises:
        CommandError: a bad URL, proxy or file, with exit status 2.
    """
    from wstool.core.errors import UsageError
    from wstool.core.uri import parse_uri
    from wstool.net.client import ClientOptions
    from wstool.net.keylog import keylog_from_environment
    from wstool.net.tls import certificate_problem
    from wstool.net.wire import Timeouts

    unix_path = args.unix
    url = args.url
    unix_url = split_unix_url(url)
    if unix_url is not None:
        unix_path, url = unix_url
    if unix_path == "":
        raise CommandError(f"{args.url!r} names no Unix socket", ExitStatus.USAGE)
    try:
        uri = parse_uri(url)
        proxy, socks = _proxies(args, uri, unix_path is not None)
        if proxy is not None:
            if "://" in proxy and not proxy.lower().startswith("http://"):
                raise UsageError(f"{proxy!r} is not an http:// or socks5:// proxy")
            parse_uri(proxy.replace("http://", "ws://", 1))
        keylog = keylog_from_environment() if uri.secure else None  # SSLKEYLOGFILE
    except UsageError as exc:
        raise CommandError(str(exc), ExitStatus.USAGE) from exc
    _check_readable(args)
    if uri.scheme_note is not None:
        env.stderr.write(f"wstool connect: note: {uri.scheme_note}\n")
    return ClientOptions(
        uri=uri,
        headers=_request_headers(args, uri),
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
        timeouts=Timeouts(
            ping_interval=args.ping_interval or None, ping_timeout=args.ping_timeout or None
        ),
        explain_certificate=lambda chain: certificate_problem(chain, args.ca),
        keylog=keylog,
        socks=socks,
        unix_path=os.path.expanduser(unix_path) if unix_path else None,
        connect_to=tuple(args.connect_to),
        pong_budget=0 if args.no_pong else None,
    )
