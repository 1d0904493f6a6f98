"""``wstool proxy`` without ``--to``: an HTTP proxy that clients and browsers point at.

Two ways in, both ending in a :class:`~wstool.net.relay.Relay`:

* ``CONNECT host:port`` (RFC 9110 §9.3.6): the proxy answers 200 and looks
  at the tunnel's first bytes. A TLS ClientHello is answered with a
  certificate for ``host`` signed by the local CA (:mod:`wstool.net.ca`), and
  the upstream gets a TLS connection of its own, verified; anything else is
  plain ``ws://`` seen in the clear. Either way the first request in the
  tunnel goes upstream unchanged.
* an absolute-form request, ``GET ws://host/path`` with Upgrade (RFC 9112
  §3.2.2): it goes upstream in origin form (``GET /path``), the hop-by-hop
  ``Proxy-*`` headers dropped.

A request that is not a WebSocket upgrade is relayed untouched and not
decoded, so a browser keeps working through the proxy. With ``--terminate``
each WebSocket request goes instead to a
:class:`~wstool.net.terminate.TerminatingProxy`: two connections, one per
side, toward the URL the tunnel or the absolute form names.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from twisted.internet import endpoints
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IHalfCloseableProtocol, IReactorTime
from twisted.internet.protocol import Factory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from wstool.core.errors import HandshakeError, UsageError
from wstool.core.handshake import build_rejection
from wstool.core.http import RequestHead, parse_request_head
from wstool.core.tap import DEFAULT_INSPECT_LIMIT
from wstool.core.uri import WebSocketURI, parse_uri
from wstool.net.relay import (
    Relay,
    RelayObserver,
    Route,
    Side,
    UpstreamFactory,
    all_gone,
    stop_relays,
)
from wstool.net.tls import client_tls_creator, looks_like_tls
from wstool.net.wire import address_text

__all__ = ["ForwardOptions", "ForwardProxy", "is_upgrade", "origin_form"]

_ESTABLISHED = b"HTTP/1.1 200 Connection established\r\n\r\n"
_HOP_BY_HOP = (b"proxy-connection", b"proxy-authorization", b"keep-alive")


@dataclass(frozen=True)
class ForwardOptions:
    """How the forward proxy behaves.

    Attributes:
        ca: the local CA (:class:`~wstool.net.ca.LocalCA`) for wss:// tunnels.
        upstream_ca: PEM certificates to trust upstream instead of the system's.
        insecure: do not verify upstream certificates.
        connect_timeout: seconds to connect upstream.
        handshake_timeout: seconds for a request, then for the upstream's answer.
        max_request_size: the largest request head (431 beyond it).
        inspect_limit: frames and messages larger than this are not decoded.
        keylog: a :class:`~wstool.net.keylog.KeyLog` for both hops' TLS secrets.
    """

    ca: Any
    upstream_ca: str | None = None
    insecure: bool = False
    connect_timeout: float = 10.0
    handshake_timeout: float | None = 10.0
    max_request_size: int = 16384
    inspect_limit: int = DEFAULT_INSPECT_LIMIT
    keylog: Any = None


def is_upgrade(head: RequestHead) -> bool:
    """Whether the request asks for a WebSocket upgrade (RFC 6455 §4.1)."""
    upgrade = head.get("upgrade") or ""
    return "websocket" in upgrade.lower()


def origin_form(head: RequestHead) -> tuple[str, int, bool, bytes]:
    """An absolute-form request -> (host, port, secure, the head in origin form).

    Raises:
        HandshakeError: 400 for a target that is not an absolute http(s) or ws(s) URL.
    """
    parts = urlsplit(head.target)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError:
        port = None
    if scheme not in ("ws", "wss", "http", "https") or not parts.hostname:
        raise HandshakeError(
            f"{head.target!r}: a forward proxy takes CONNECT host:port or an absolute "
            "ws:// or http:// URL (is this meant for a reverse proxy? use --to)"
        )
    secure = scheme in ("wss", "https")
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    lines = head.raw[:-4].split(b"\r\n")
    lines[0] = f"{head.method} {target} {head.version}".encode("latin-1")
    kept = [lines[0]] + [
        line for line in lines[1:] if line.split(b":", 1)[0].strip().lower() not in _HOP_BY_HOP
    ]
    default = 443 if secure else 80
    return parts.hostname, port or default, secure, b"\r\n".join(kept) + b"\r\n\r\n"


def _authority(target: str) -> tuple[str, int]:
    """``host:port`` or ``[v6]:port`` of a CONNECT request."""
    host, sep, port = target.rpartition(":")
    if not sep or not port.isdigit() or not host or not 0 < int(port) < 65536:
        raise HandshakeError(f"CONNECT {target!r}: the target must be host:port")
    return host.strip("[]"), int(port)


@implementer(IHalfCloseableProtocol)
class _Front(TwistedProtocol):
    """The accepted connection until it is clear where it goes; then its relay's client side."""

    def __init__(self, proxy: ForwardProxy, conn_id: int, peer: str) -> None:
        self.proxy = proxy
        self.conn_id = conn_id
        self.peer = peer
        self.buffer = b""
        self.tunnel: tuple[str, int] | None = None
        self.secure = False
        self.relay: Relay | None = None
        self.client: Any = None
        """The relay's client side, or (``--terminate``) the terminated connection."""
        self.deciding: tuple[tuple[str, int] | None] | None = None
        """``--terminate``: the tunnel (if any) whose request is being read."""
        self._timer: IDelayedCall | None = None

    def connectionMade(self) -> None:
        timeout = self.proxy.options.handshake_timeout
        if timeout:
            self._timer = self.proxy.clock.callLater(timeout, self._timed_out)

    def dataReceived(self, data: bytes) -> None:
        if self.client is not None:
            self.client.dataReceived(data)
            return
        self.buffer += data
        if self.deciding is not None:
            self._decide()
        elif self.tunnel is None:
            self._read_connect()
        else:
            self._read_tunnel_start()

    def _read_connect(self) -> None:
        try:
            parsed = parse_request_head(self.buffer, max_size=self.proxy.options.max_request_size)
            if parsed is None:
                return
            head, used = parsed
            if head.method != "CONNECT":
                self._hand_over(self.buffer, tunnel=None)
                return
            self.tunnel = _authority(head.target)
        except HandshakeError as exc:
            self._refuse(exc)
            return
        self.buffer = self.buffer[used:]
        self.transport.write(_ESTABLISHED)  # type: ignore[union-attr]
        if self.buffer:
            self._read_tunnel_start()

    def _read_tunnel_start(self) -> None:
        tls = looks_like_tls(self.buffer)
        if tls is None:
            return
        assert self.tunnel is not None
        if tls:
            # The client starts TLS inside the tunnel: answer it with a
            # certificate for the host it asked for, and read what it sends.
            self.secure = True
            hello, self.buffer = self.buffer, b""
            transport: Any = self.transport
            transport.startTLS(self.proxy.server_tls(self.tunnel[0]))
            self._hand_over(b"", tunnel=self.tunnel)
            transport.protocol.dataReceived(hello)
            return
        self._hand_over(self.buffer, tunnel=self.tunnel)

    def _hand_over(self, data: bytes, tunnel: tuple[str, int] | None) -> None:
        """From here on the connection is a relay's client side (or, terminating, a link's)."""
        if self.proxy.terminating is not None:
            self.deciding, self.buffer = (tunnel,), data
            self._decide()
            return
        self._relay(data, tunnel)

    def _decide(self) -> None:
        """--terminate: a WebSocket request is terminated, anything else relayed."""
        assert self.deciding is not None
        (tunnel,) = self.deciding
        try:
            parsed = parse_request_head(self.buffer, max_size=self.proxy.options.max_request_size)
        except HandshakeError as exc:
            self._refuse(exc)
            return
        if parsed is None:
            return
        data, self.deciding = self.buffer, None
        if not is_upgrade(parsed[0]):
            self._relay(data, tunnel)
            return
        self._cancel_timer()
        self.buffer = b""
        secure = self.secure
        link = self.proxy.terminating.new_link(
            self.conn_id, self.peer, lambda head: terminated_upstream(head, tunnel, secure)
        )
        self.client = link
        link.makeConnection(self.transport)
        link.dataReceived(data)

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()

    def _relay(self, data: bytes, tunnel: tuple[str, int] | None) -> None:
        self._cancel_timer()
        self.buffer = b""
        secure = self.secure
        relay = self.proxy.new_relay(
            self.conn_id, self.peer, lambda head: self.proxy.route(head, tunnel, secure)
        )
        self.relay, self.client = relay, relay.client
        relay.client.makeConnection(self.transport)
        if data:
            relay.client.dataReceived(data)

    def _refuse(self, error: HandshakeError) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        transport: Any = self.transport
        transport.write(build_rejection(error))
        transport.loseConnection()
        self.proxy.observer.failed(self.conn_id, self.peer, error.status, error.reason)

    def _timed_out(self) -> None:
        self._timer = None
        if self.client is None:
            self._refuse(HandshakeError("no complete request in time", 408))

    def readConnectionLost(self) -> None:
        if self.relay is not None:
            self.client.readConnectionLost()
        else:
            self.transport.loseConnection()  # type: ignore[union-attr]

    def writeConnectionLost(self) -> None:
        if self.relay is not None:
            self.client.writeConnectionLost()

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if self.client is not None:
            self.client.connectionLost(reason)
        if self.relay is None:
            self.proxy.front_gone(self)


def terminated_upstream(
    head: RequestHead, tunnel: tuple[str, int] | None, secure: bool
) -> WebSocketURI:
    """--terminate: the URL a WebSocket request in a tunnel, or in absolute form, asks for.

    Raises:
        UsageError: an absolute-form target that is not a ws(s) or http(s) URL.
    """
    if tunnel is None:
        try:
            host, port, secure, sent = origin_form(head)
        except HandshakeError as exc:
            raise UsageError(exc.reason) from exc
        target = sent.split(b" ", 2)[1].decode("latin-1")
    else:
        (host, port), target = tunnel, head.target
    shown = f"[{host}]" if ":" in host else host
    return parse_uri(f"{'wss' if secure else 'ws'}://{shown}:{port}{target}")


class ForwardProxy(Factory):
    """An HTTP proxy for WebSocket clients: CONNECT tunnels and absolute-form requests.

    Args:
        options: the CA, upstream TLS and limits.
        observer: where every connection is reported.
        reactor: to connect upstream, and its clock.
        terminating: with ``--terminate``, the
            :class:`~wstool.net.terminate.TerminatingProxy` that takes each
            WebSocket request over.
    """

    def __init__(
        self,
        options: ForwardOptions,
        observer: RelayObserver,
        reactor: Any,
        terminating: Any = None,
    ) -> None:
        self.options = options
        self.terminating = terminating
        self.observer = observer
        self.reactor = reactor
        self.clock: IReactorTime = reactor
        self.relays: set[Relay] = set()
        self.fronts: set[_Front] = set()
        self.held_numbers = itertools.count(1).__next__
        """Numbers held messages across connections (``/drop N``)."""
        self._next_id = 1
        self._all_closed: list[Deferred[None]] = []
        self._tls: dict[str, Any] = {}
        self.noisy = False

    def buildProtocol(self, addr: Any) -> _Front:
        front = _Front(self, self._next_id, address_text(addr))
        self._next_id += 1
        self.fronts.add(front)
        return front

    def new_relay(self, conn_id: int, peer: str, route: Callable[[RequestHead], Route]) -> Relay:
        options = self.options
        relay = Relay(
            conn_id,
            peer,
            self.observer,
            self.clock,
            route,
            handshake_timeout=options.handshake_timeout,
            max_request_size=options.max_request_size,
            inspect_limit=options.inspect_limit,
            on_done=self._forget,
            held_numbers=self.held_numbers,
        )
        self.relays.add(relay)
        return relay

    def route(self, head: RequestHead, tunnel: tuple[str, int] | None, secure: bool) -> Route:
        """Where a request goes: the CONNECT target unchanged, or the absolute URL's host."""
        if tunnel is not None:
            host, port = tunnel
            sent = head.raw
        else:
            host, port, secure, sent = origin_form(head)
        websocket = is_upgrade(head)
        scheme = ("wss" if secure else "ws") if websocket else ("https" if secure else "http")
        shown_host = f"[{host}]" if ":" in host else host
        path = head.target if tunnel is not None else sent.split(b" ", 2)[1].decode("latin-1")
        name = f"{scheme}://{shown_host}:{port}{path}"
        return Route(name, sent, lambda side: self._connect(side, host, port, secure), websocket)

    def _connect(self, side: Side, host: str, port: int, secure: bool) -> Deferred[Any]:
        endpoint: Any = endpoints.HostnameEndpoint(
            self.reactor,
            host.encode("idna") if host.isascii() else host,
            port,
            timeout=self.options.connect_timeout,
        )
        if secure:
            endpoint = endpoints.wrapClientTLS(self._upstream_tls(host), endpoint)
        connecting: Deferred[Any] = endpoint.connect(UpstreamFactory(side))
        return connecting

    def server_tls(self, host: str) -> Any:
        """The TLS options that answer a client asking for ``host``."""
        options = self.options.ca.server_options(host)
        keylog = self.options.keylog
        if keylog is not None:
            keylog.log_server(options)
        return options

    def _upstream_tls(self, host: str) -> Any:
        creator = self._tls.get(host)
        if creator is None:
            options = self.options
            creator = client_tls_creator(
                host, ca_file=options.upstream_ca, insecure=options.insecure
            )
            if options.keylog is not None:
                creator = options.keylog.client(creator)
            self._tls[host] = creator
        return creator

    def front_gone(self, front: _Front) -> None:
        self.fronts.discard(front)
        self._check_idle()

    def _forget(self, relay: Relay) -> None:
        self.relays.discard(relay)
        self.fronts = {f for f in self.fronts if f.relay is not relay}
        self._check_idle()

    def _check_idle(self) -> None:
        if not self.relays:
            all_gone(self._all_closed)

    def shutdown(self, cause: str = "the proxy stopped") -> Deferred[Any]:
        """Close every connection (Close 1001 on WebSockets); fire when all are reported."""
        from twisted.internet.defer import gatherResults, maybeDeferred

        for front in list(self.fronts):
            if front.client is None and front.transport is not None:
                front.transport.abortConnection()  # type: ignore[attr-defined]
        relays = stop_relays(self.relays, self._all_closed, self.clock, cause)
        if self.terminating is None:
            return relays
        return gatherResults([relays, maybeDeferred(self.terminating.shutdown)])
