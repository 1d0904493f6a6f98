"""``wstool proxy``: a reverse proxy in relay mode in front of one WebSocket server.

:class:`ReverseProxy` is the listening factory. Each accepted connection is a
:class:`~wstool.net.relay.Relay`: the client's request goes to the upstream
given by ``--to`` with only its request-target (joined to the upstream's
path) and its ``Host`` rewritten, so ``Sec-WebSocket-Key``, the subprotocols
and extensions offered stay the client's and negotiation stays end to end;
the answer comes back as it came. ``wss://`` upstreams get TLS from
:mod:`wstool.net.tls`.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from twisted.internet import endpoints
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IReactorTime
from twisted.internet.protocol import Factory

from wstool.core.errors import HandshakeError
from wstool.core.http import RequestHead
from wstool.core.tap import DEFAULT_INSPECT_LIMIT
from wstool.core.uri import WebSocketURI
from wstool.net.relay import (
    Relay,
    RelayObserver,
    Route,
    Side,
    UpstreamFactory,
    all_gone,
    stop_relays,
)
from wstool.net.wire import address_text

__all__ = [
    "ProxyOptions",
    "ReverseProxy",
    "join_target",
    "rewrite_request",
]


@dataclass(frozen=True)
class ProxyOptions:
    """How ``wstool proxy`` behaves.

    Attributes:
        upstream: where requests go (``--to``).
        tls: the client TLS connection creator for a ``wss://`` upstream.
        connect_timeout: seconds to connect upstream.
        handshake_timeout: seconds for a client's request, and then for the
            upstream's answer.
        max_request_size: the largest request head (431 beyond it).
        inspect_limit: frames and messages larger than this are relayed but
            not decoded.
    """

    upstream: WebSocketURI
    tls: Any = None
    connect_timeout: float = 10.0
    handshake_timeout: float | None = 10.0
    max_request_size: int = 16384
    inspect_limit: int = DEFAULT_INSPECT_LIMIT


def join_target(base: str, target: str) -> str:
    """The upstream's request-target: the client's path under ``--to``'s, queries joined.

    ``/`` from the client is ``--to``'s path itself; ``/chat`` under ``/api``
    is ``/api/chat``. An absolute-form target (``ws://host/path``) counts by
    its path.
    """
    if "://" in target.split("?", 1)[0]:
        rest = target.split("://", 1)[1]
        slash_at = rest.find("/")
        query_at = rest.find("?")
        if slash_at < 0 or (0 <= query_at < slash_at):
            target = "/" + (rest[query_at:] if query_at >= 0 else "")
        else:
            target = rest[slash_at:]
    base_path, _, base_query = base.partition("?")
    path, _, query = target.partition("?")
    if path == "/" or not path:
        joined = base_path or "/"
    else:
        joined = base_path.rstrip("/") + (path if path.startswith("/") else "/" + path)
    queries = "&".join(q for q in (base_query, query) if q)
    return f"{joined}?{queries}" if queries else joined


def rewrite_request(head: RequestHead, upstream: WebSocketURI) -> bytes:
    """The request head for the upstream: the target joined, ``Host`` the upstream's.

    Every other line (``Sec-WebSocket-Key``, ``-Protocol``, ``-Extensions``,
    ``Origin``, cookies ...) stays byte for byte as the client sent it.
    """
    lines = head.raw[:-4].split(b"\r\n")
    target = join_target(upstream.resource, head.target)
    lines[0] = f"{head.method} {target} {head.version}".encode("latin-1")
    host = b"Host: " + upstream.host_header.encode("idna")
    for index in range(1, len(lines)):
        if lines[index].split(b":", 1)[0].strip().lower() == b"host":
            lines[index] = host
            break
    else:
        lines.insert(1, host)
    return b"\r\n".join(lines) + b"\r\n\r\n"


class ReverseProxy(Factory):
    """Accepts clients and relays each one to the upstream.

    Args:
        options: the upstream and the limits.
        observer: where every connection is reported.
        reactor: to connect upstream, and its clock.
        connect: opens an upstream connection for a :class:`Side` (default:
            TCP to ``options.upstream``, with TLS for wss://); tests pass
            their own.
    """

    def __init__(
        self,
        options: ProxyOptions,
        observer: RelayObserver,
        reactor: Any,
        connect: Callable[[Side], Deferred[Any]] | None = None,
    ) -> None:
        self.options = options
        self.observer = observer
        self.reactor = reactor
        self.clock: IReactorTime = reactor
        self._connect = connect or self._connect_tcp
        self.relays: set[Relay] = set()
        self.held_numbers = itertools.count(1).__next__
        """Numbers held messages across connections (``/drop N``)."""
        self._next_id = 1
        self._all_closed: list[Deferred[None]] = []
        self.noisy = False

    def buildProtocol(self, addr: Any) -> Side:
        options = self.options
        relay = Relay(
            self._next_id,
            address_text(addr),
            self.observer,
            self.clock,
            self._route,
            handshake_timeout=options.handshake_timeout,
            max_request_size=options.max_request_size,
            inspect_limit=options.inspect_limit,
            on_done=self._forget,
            held_numbers=self.held_numbers,
        )
        self._next_id += 1
        self.relays.add(relay)
        return relay.client

    def _route(self, head: RequestHead) -> Route:
        upstream = self.options.upstream
        try:
            sent = rewrite_request(head, upstream)
        except UnicodeError as exc:
            raise HandshakeError(f"cannot encode the upstream's host name: {exc}", 502) from exc
        name = str(upstream).split("/", 3)
        shown = "/".join(name[:3]) + join_target(upstream.resource, head.target)
        return Route(shown, sent, self._connect)

    def _connect_tcp(self, side: Side) -> Deferred[Any]:
        upstream = self.options.upstream
        host = upstream.host
        endpoint: Any = endpoints.HostnameEndpoint(
            self.reactor,
            host.encode("idna") if host.isascii() else host,
            upstream.port,
            timeout=self.options.connect_timeout,
        )
        if upstream.secure:
            endpoint = endpoints.wrapClientTLS(self.options.tls, endpoint)
        connecting: Deferred[Any] = endpoint.connect(UpstreamFactory(side))
        return connecting

    def _forget(self, relay: Relay) -> None:
        self.relays.discard(relay)
        if not self.relays:
            all_gone(self._all_closed)

    def shutdown(self, cause: str = "the proxy stopped") -> Deferred[None]:
        """Close every connection at once; fire when all are reported."""
        return stop_relays(self.relays, self._all_closed, self.clock, cause)
