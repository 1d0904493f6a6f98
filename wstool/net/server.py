"""``wstool serve``: the upgrading resource, the echo and broadcast behaviours, the site.

twisted.web parses each HTTP request; :class:`WebSocketResource` checks a
WebSocket upgrade with :mod:`wstool.core.handshake` (on the request head
exactly as received) and answers 101, or 400/403/405/426/431 with a one-line
reason, reported to the observer; a plain GET of ``/`` gets the built-in
browser console, a plain GET of any other path 400.
"""

from __future__ import annotations

import ipaddress
import socket
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from importlib import resources
from typing import Any, NamedTuple, Protocol

from twisted.internet import endpoints
from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import IDelayedCall, IReactorTime, IStreamServerEndpoint
from twisted.web.resource import Resource
from twisted.web.server import NOT_DONE_YET, Request, Site
from zope.interface import implementer

from wstool.core.connection import Connection
from wstool.core.deflate import PerMessageDeflate, server_negotiate
from wstool.core.errors import HandshakeError
from wstool.core.events import MessageReceived
from wstool.core.frames import CloseCode, Role
from wstool.core.handshake import (
    ClientRequest,
    build_response,
    check_request,
    parse_request_head,
    select_subprotocol,
)
from wstool.core.http import RequestHead
from wstool.core.quickhead import quick_request
from wstool.net.deadlines import Deadlines
from wstool.net.tls import client_subject
from wstool.net.upgrade import UpgradingChannel
from wstool.net.wire import (
    FrameObserver,
    PingSchedule,
    Timeouts,
    WireProtocol,
    address_text,
    close_deadlines,
)

__all__ = [
    "DEFAULT_BACKLOG",
    "Behaviour",
    "ServerObserver",
    "ServerOptions",
    "UpgradeRequest",
    "WebSocketResource",
    "WebSocketSite",
    "is_wildcard",
    "listen_endpoint",
]

DEFAULT_MAX_MESSAGE_SIZE = 16 * 2**20

DEFAULT_BACKLOG = 1024
"""Twisted's default listen backlog is 50: a burst of clients (a load test, a
reconnect storm) would sit in SYN retries."""

IDLE_AFTER = 1.0
"""Seconds from the last connection's end to the site's on_idle (if still idle)."""


def listen_endpoint(
    reactor: Any, host: str, port: int, tls: Any | None, backlog: int = DEFAULT_BACKLOG
) -> Any:
    """The server endpoint ``wstool serve`` listens on.

    With TLS options, a :class:`WebSocketSite` listens on plain TCP and each of
    its connections starts TLS itself once the first bytes are a ClientHello,
    so that a client speaking plain HTTP there (``ws://`` to a ``wss://``
    port) is told so at once; any other factory gets an ``SSL4ServerEndpoint``.

    Args:
        reactor: the reactor to listen with.
        host: the interface: an IPv4 or IPv6 address (with or without
            brackets), a host name, or ``""`` for every IPv4 address.
        port: the port; 0 picks a free one.
        tls: TLS options (see :func:`wstool.net.tls.server_tls_options`), or
            ``None`` for plain TCP.
        backlog: the listen queue's length.

    Returns:
        An ``IStreamServerEndpoint``: TCP over IPv6 for an IPv6 literal, else
        over IPv4; TLS as above.
    """
    interface = host.strip("[]")
    if ":" in interface:
        tcp: Any = endpoints.TCP6ServerEndpoint(reactor, port, backlog=backlog, interface=interface)
    else:
        tcp = endpoints.TCP4ServerEndpoint(reactor, port, backlog=backlog, interface=interface)
    if tls is None:
        return tcp
    ssl = endpoints.SSL4ServerEndpoint(reactor, port, tls, backlog=backlog, interface=interface)
    return _TLSEndpoint(tcp, ssl, tls)


@implementer(IStreamServerEndpoint)
class _TLSEndpoint:
    """TLS for a :class:`WebSocketSite` started by its channels; SSL4 for other factories."""

    def __init__(self, tcp: Any, ssl: Any, tls: Any) -> None:
        self.tcp = tcp
        self.ssl = ssl
        self.tls = tls

    def listen(self, factory: Any) -> Any:
        if isinstance(factory, WebSocketSite):
            factory.tls = self.tls
            return self.tcp.listen(factory)
        return self.ssl.listen(factory)


def nodelay_listener(port: Any, site: WebSocketSite) -> None:
    """Set TCP_NODELAY once, on the listening socket, instead of on every connection.

    Linux gives an accepted socket the listening socket's TCP_NODELAY
    (``tests/net/test_reactor.py`` checks it on the real kernel), so
    the site's channels then skip their ``setsockopt`` per connection. Other
    systems, and ports without a socket of their own, keep that call.
    """
    sock = getattr(port, "socket", None)
    if not sys.platform.startswith("linux") or sock is None:
        return
    if sock.family not in (socket.AF_INET, socket.AF_INET6):
        return
    try:
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    except OSError:
        return
    site.protocol.nodelay_inherited = True


def is_wildcard(interface: str) -> bool:
    """Whether listening on ``interface`` accepts connections on several addresses.

    Brackets around an IPv6 address are allowed. A host name is not a
    wildcard: Twisted binds the one address it resolves to.
    """
    interface = interface.strip("[]")
    if not interface:
        return True
    try:
        return ipaddress.ip_address(interface).is_unspecified
    except ValueError:
        return False


class ServerObserver(FrameObserver, Protocol):
    """A frame observer that also hears of refused handshakes."""

    def rejected(self, peer: str, request: bytes, status: int, reason: str) -> None:
        """A request was answered with an HTTP error instead of a 101."""


Reply = tuple[int, bytes, "tuple[bytes, ...] | None"]
"""A message a responder sends: opcode, payload, and its fragments (or None: one frame)."""


class Responder(Protocol):
    """What answers one client in ``--replay`` mode instead of an echo."""

    def start(self) -> list[Reply]:
        """Messages to send as soon as the connection is open."""

    def received_message(self, opcode: int, data: bytes) -> list[Reply]:
        """Messages to send after this message from the client."""

    def close_code(self) -> int | None:
        """A code to close with now, or None to stay open."""


@dataclass(frozen=True)
class UpgradeRequest:
    """A valid upgrade request, as a behaviour factory sees it before the 101.

    Attributes:
        head: the request head as received (method, target, headers, raw).
        request: what the handshake check learned (key, offers, origin, host).
        peer: the client's address as text (``"127.0.0.1:50000"``).
        subprotocol: the subprotocol the 101 will select, if any.
    """

    head: RequestHead
    request: ClientRequest
    peer: str
    subprotocol: str | None


class _Accepted(NamedTuple):
    """A request checked and answered: the 101, its connection, its behaviour, its target."""

    response: bytes
    conn: Connection
    behaviour: Behaviour | None
    target: str


class Behaviour(Protocol):
    """What one connection does instead of the plain echo (a program, mock rules, faults).

    The factory in :attr:`ServerOptions.behaviour` may be called more than
    once for one request (the fast path and twisted.web's both check it) and
    may refuse it by raising :class:`HandshakeError` (a 503 when a limit is
    reached, say): it must not start anything. :meth:`start` does.
    """

    def start(self, wire: WireProtocol) -> None:
        """The 101 is written: the connection is open."""

    def message(self, wire: WireProtocol, message: MessageReceived) -> None:
        """A whole message arrived from the client."""

    def closed(self, wire: WireProtocol) -> None:
        """The connection is gone (closed, failed or dropped)."""


MAX_PENDING_INFLATED = 16 * 2**20
"""Inflated messages of one read handled at a time: a read of permessage-deflate
frames a few bytes each can inflate to gigabytes, which are parsed in batches of
this size as the messages are handled, not all at once."""


@dataclass(frozen=True)
class ServerOptions:
    """How ``wstool serve`` behaves; every limit has a safe default.

    Attributes:
        mode: ``"echo"`` (each message back to its sender),
            ``"broadcast"`` (each message to every other client) or ``"replay"``
            (each client answered by its own ``responder``).
        subprotocols: the subprotocols we speak, in no particular order: the
            first one the client offers that is here is selected.
        deflate: negotiate permessage-deflate when offered.
        max_message_size: larger messages fail the connection with 1009.
        max_inflated_size: cap on an inflated message (1009 beyond it).
        max_request_size: bytes a request head may take (431 beyond it).
        handshake_timeout: seconds a client has to complete its request.
        timeouts: close-handshake, keepalive and idle timers.
        origins: if given, the Origin values accepted (403 otherwise).
        max_send_queue: broadcast: a client given more than this many bytes
            while its send buffer is full is dropped (a slow consumer).
    """

    mode: str = "echo"
    subprotocols: tuple[str, ...] = ()
    deflate: bool = True
    deflate_level: int = -1
    """zlib's level for compressed echoes: 1 (fast) .. 9 (small); -1 zlib's default (6)."""
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_inflated_size: int = DEFAULT_MAX_MESSAGE_SIZE
    max_request_size: int = 16384
    max_send_queue: int = 64 * 2**20
    handshake_timeout: float | None = 10.0
    timeouts: Timeouts = field(default_factory=Timeouts)
    origins: tuple[str, ...] | None = None
    responder: Callable[[], Responder] | None = None
    """mode "replay": makes each connection's responder."""
    behaviour: Callable[[UpgradeRequest], Behaviour] | None = None
    """Makes each connection's behaviour (then nothing is echoed by the core)."""
    response_headers: tuple[tuple[str, str], ...] = ()
    """Added to every 101 (serve -H)."""
    static: Any = None
    """Answers plain GETs and HEADs (serve --static: a ``net.static.StaticFiles``);
    the browser console then moves to ``/__wstool/``."""


def _is_upgrade(request: Request) -> bool:
    return (
        request.getHeader("upgrade") is not None
        or request.getHeader("sec-websocket-key") is not None
    )


def _peer(request: Request) -> str:
    return address_text(request.getClientAddress())


_PAGE_CACHE: list[bytes] = []


def console_page() -> bytes:
    """The built-in browser console (``wstool/net/console.html``)."""
    if not _PAGE_CACHE:
        _PAGE_CACHE.append(resources.files("wstool.net").joinpath("console.html").read_bytes())
    return _PAGE_CACHE[0]


class WebSocketResource(Resource):
    """Upgrades WebSocket requests on any path; serves the console page at ``/``."""

    isLeaf = True

    def __init__(self, site: WebSocketSite) -> None:
        super().__init__()
        self.site = site

    def render(self, request: Request) -> bytes | int:
        # An upgrade request with another method gets the handshake's own
        # one-line 405 (with Allow: GET), not twisted.web's HTML page.
        if request.method not in (b"GET", b"HEAD") and _is_upgrade(request):
            return self.site.upgrade(request)
        result: bytes | int = super().render(request)
        return result

    def render_GET(self, request: Request) -> bytes | int:
        if not _is_upgrade(request):
            return self._plain(request)
        return self.site.upgrade(request)

    def _plain(self, request: Request) -> bytes | int:
        static = self.site.options.static
        if static is not None:
            if request.path not in (b"/__wstool", b"/__wstool/"):
                result: bytes | int = static.render(request)
                return result
        elif request.path != b"/":
            # Any path upgrades; only / has a page. Anything else is a client
            # that forgot to ask for the upgrade: refused like any bad handshake.
            error = HandshakeError(
                "not a WebSocket upgrade: missing Upgrade: websocket "
                "(any path upgrades; / is the browser console)",
                header="Upgrade",
            )
            return self.site.refuse(request, error)
        request.setHeader("content-type", "text/html; charset=utf-8")
        request.setHeader("cache-control", "no-store")
        return console_page()


class WebSocketSite(Site):
    """A twisted.web site whose channels can become WebSocket connections.

    Args:
        options: behaviour and limits.
        observer: where handshakes, frames and closes are reported.
        clock: the reactor (timers).
        on_idle: called IDLE_AFTER seconds after the last open connection went,
            if none is open then (to give memory back, say).
    """

    protocol = UpgradingChannel  # type: ignore[assignment]

    def __init__(
        self,
        options: ServerOptions,
        observer: ServerObserver,
        clock: IReactorTime,
        on_idle: Callable[[], None] | None = None,
    ):
        # The clock also drives twisted.web's keep-alive timeouts (TimeoutMixin),
        # which would otherwise fall back to the global reactor.
        super().__init__(WebSocketResource(self), reactor=clock)
        self.options = options
        self.observer = observer
        self.clock = clock
        self.wires: set[WireProtocol] = set()
        self._responders: dict[WireProtocol, Responder] = {}
        self._behaviours: dict[WireProtocol, Behaviour] = {}
        self._next_id = 1
        self.id_step = 1
        """Connection numbers go up by this much (see :meth:`number_connections`)."""
        self.relay: Callable[[bytes, int, bytes], Deferred[None] | None] | None = None
        """If set, also gets every broadcast message with its request's path
        (``serve --redis``: other serve processes relay it to their clients).
        It may return a Deferred: the sender is not read from until it fires
        (the relay is behind)."""
        self._paths: dict[WireProtocol, bytes] = {}
        self._all_closed: list[Deferred[None]] = []
        self._on_idle = on_idle
        self._idle_timer: IDelayedCall | None = None
        self.local_address: Any = None
        """Set by whoever listens on one address (not a wildcard): every
        connection's local address, so it need not be asked for each one."""
        self.tls: Any = None
        """TLS options when the port speaks TLS (set by :func:`listen_endpoint`'s
        endpoint): each connection starts TLS once its first bytes are a ClientHello."""
        interval = options.timeouts.ping_interval
        self._pings = PingSchedule(clock, interval) if interval else None
        self._close_deadlines = close_deadlines(clock, options.timeouts)
        limit = options.handshake_timeout
        self._handshake_deadlines: Deadlines[UpgradingChannel] | None = (
            Deadlines(clock, limit, UpgradingChannel.handshake_timed_out) if limit else None
        )
        self.protocol = self._channel_class()
        self.noisy = False

    def number_connections(self, first: int, step: int) -> None:
        """Number connections first, first + step ... (``serve --workers N``: worker k
        numbers k, k + N ..., so that numbers are unique across the workers)."""
        self._next_id, self.id_step = first, step

    def _channel_class(self) -> type[UpgradingChannel]:
        """This site's channels: what is the same for all of them is set once, on their class."""
        options = self.options
        settings = {
            "max_head_size": options.max_request_size,
            "handshake_timeout": options.handshake_timeout,
            "clock": self.clock,
            "on_misdirected": self._misdirected,
            "on_tls_failed": self._tls_failed,
            "upgrade_head": self.upgrade_head,
            "handshake_deadlines": self._handshake_deadlines,
        }
        return type("SiteChannel", (UpgradingChannel,), settings)

    def buildProtocol(self, addr: Any) -> Any:
        channel = super().buildProtocol(addr)
        channel.peer_address = addr
        channel.local_address = self.local_address
        channel.tls = self.tls
        return channel

    def _misdirected(self, channel: UpgradingChannel, seen: bytes, reason: str) -> None:
        transport = channel.transport
        peer = address_text(transport.getPeer() if transport is not None else None)
        self.observer.rejected(peer, seen, 400, reason)

    def _tls_failed(self, channel: UpgradingChannel, problem: str) -> None:
        transport = channel.transport
        peer = address_text(transport.getPeer() if transport is not None else None)
        # 495: nginx's "SSL Certificate Error"; no HTTP answer was possible.
        self.observer.rejected(peer, b"", 495, f"TLS handshake failed: {problem}")

    def acceptableProtocols(self) -> list[bytes]:
        """ALPN: only HTTP/1.1, whose Upgrade the 101 answers (RFC 6455 §4.1), never h2."""
        return [b"http/1.1"]

    def log(self, request: Any) -> None:
        """twisted.web's access log: wstool reports through its observer instead."""

    # -- the opening handshake ----------------------------------------------

    def upgrade(self, request: Request) -> bytes | int:
        """Answer an upgrade request: 101 and a :class:`WireProtocol`, or an HTTP error."""
        channel = request.channel
        assert isinstance(channel, UpgradingChannel)
        raw = channel.request_head
        peer = _peer(request)
        try:
            accepted = self._accept(raw, peer)
        except HandshakeError as exc:
            return self.refuse(request, exc)
        self._open(channel, peer, raw, accepted)
        return NOT_DONE_YET

    def upgrade_head(self, channel: UpgradingChannel, head: bytes) -> bool:
        """Upgrade straight from a request head, without twisted.web; whether it was done.

        The channel offers every complete head here first. A valid upgrade
        request is answered from the head alone, parsed once by the core:
        no twisted.web Request is built for it. Anything else (a plain GET,
        a refused handshake) returns False and goes to twisted.web, which
        serves the page or the refusal as before.
        """
        peer = address_text(channel.peer_address)
        try:
            accepted = self._accept(head, peer)
        except HandshakeError:
            return False
        self._open(channel, peer, head, accepted)
        return True

    def _open(self, channel: UpgradingChannel, peer: str, raw: bytes, accepted: _Accepted) -> None:
        """Write the 101 and hand the connection to a new :class:`WireProtocol`."""
        response, conn, behaviour, target = accepted
        conn_id = self._next_id
        self._next_id += self.id_step
        wire = WireProtocol(
            conn,
            conn_id=conn_id,
            peer=peer,
            observer=self.observer,
            # In echo mode the core connection answers each message itself.
            on_message=self._on_message_handler(behaviour),
            clock=self.clock,
            timeouts=self.options.timeouts,
            on_close=self._forget,
            pings=self._pings,
            close_deadlines=self._close_deadlines,
        )
        self.wires.add(wire)
        if self.relay is not None:
            self._paths[wire] = target.split("?", 1)[0].encode("latin-1") or b"/"
        subject = client_subject(channel.transport) if self.tls is not None else None
        shown = f"{peer} (client certificate {subject})" if subject else peer
        self.observer.opened(conn_id, shown, raw, response)
        channel.upgrade(wire, response)
        if behaviour is not None:
            self._behaviours[wire] = behaviour
            behaviour.start(wire)
        elif self.options.responder is not None:
            responder = self._responders[wire] = self.options.responder()
            self._reply(wire, responder, responder.start())

    def _on_message_handler(
        self, behaviour: Behaviour | None
    ) -> Callable[[WireProtocol, MessageReceived], None] | None:
        if behaviour is not None:
            return behaviour.message
        if self.options.mode == "broadcast":
            return self._broadcast
        if self.options.mode == "replay":
            return self._replay
        return None

    def refuse(self, request: Request, error: HandshakeError) -> bytes:
        """Answer ``request`` with ``error``'s status and one-line reason, report it, then close."""
        channel = request.channel
        assert isinstance(channel, UpgradingChannel)
        self.observer.rejected(_peer(request), channel.request_head, error.status, error.reason)
        request.setResponseCode(error.status, _phrase(error.status))
        for name, value in error.headers:
            request.setHeader(name, value)
        request.setHeader("content-type", "text/plain; charset=utf-8")
        request.setHeader("connection", "close")
        channel.close_after_response()
        return error.reason.encode("utf-8", "replace") + b"\n"

    def _accept(self, raw: bytes, peer: str) -> _Accepted:
        options = self.options
        request = quick_request(raw, options.max_request_size)
        head: RequestHead | None = None  # parsed only where needed: quick_request did not
        if request is None:
            head = _parsed(raw, options.max_request_size)
            request = check_request(head.method, head.target, head.headers, version=head.version)
        if options.origins is not None and request.origin not in options.origins:
            if request.origin is None:
                allowed = ", ".join(options.origins)
                raise HandshakeError(
                    f"no Origin header (this server allows only: {allowed})", 403, header="Origin"
                )
            raise HandshakeError(f"Origin {request.origin!r} is not allowed", 403, header="Origin")
        subprotocol = select_subprotocol(request.subprotocols, options.subprotocols)
        codec = None
        extensions = []
        if options.deflate and request.extensions:
            agreed = server_negotiate(request.extensions)
            if agreed is not None:
                params, answer = agreed
                codec = PerMessageDeflate(
                    params,
                    is_client=False,
                    max_inflated_size=options.max_inflated_size,
                    level=options.deflate_level,
                )
                extensions.append(answer)
        behaviour = None
        if options.behaviour is not None:
            head = head or _parsed(raw, options.max_request_size)
            behaviour = options.behaviour(UpgradeRequest(head, request, peer, subprotocol))
        response = build_response(
            request,
            subprotocol=subprotocol,
            extensions=extensions,
            extra_headers=options.response_headers,
        )
        conn = Connection(
            Role.SERVER,
            max_message_size=options.max_message_size,
            codec=codec,
            record_frames=self.observer.wants_frames,
            echo=options.mode == "echo" and behaviour is None,
            max_pending_inflated=None if codec is None else MAX_PENDING_INFLATED,
        )
        return _Accepted(response, conn, behaviour, request.target)

    # -- behaviours ----------------------------------------------------------

    def _broadcast(self, sender: WireProtocol, message: MessageReceived) -> None:
        self.deliver(message.opcode, message.data, sender)
        if self.relay is not None:
            behind = self.relay(self._paths.get(sender, b"/"), message.opcode, message.data)
            if behind is not None:
                sender.hold_reading(behind)

    def deliver(self, opcode: int, data: bytes, sender: WireProtocol | None = None) -> None:
        """Send a message to every open connection but ``sender``.

        A broadcast cannot wait for its slowest client, so a client that does
        not read keeps being given messages while its send buffer is full; one
        given more than ``max_send_queue`` bytes that way is dropped, before
        it grows the server's memory without end.
        """
        limit = self.options.max_send_queue
        for wire in list(self.wires):
            if wire is not sender and wire.conn.state.value == "open" and not wire.dropped:
                conn = wire.conn
                before = conn.bytes_sent
                conn.send_message(opcode, data)
                wire.flush()
                if wire.write_paused:  # what went out on the wire (compressed, maybe)
                    wire.paused_bytes += conn.bytes_sent - before
                    if wire.paused_bytes > limit:
                        wire.drop(
                            f"dropped as a slow consumer: {wire.paused_bytes:,} bytes queued "
                            "for it while its send buffer stayed full (--max-send-queue)"
                        )

    def _replay(self, wire: WireProtocol, message: MessageReceived) -> None:
        responder = self._responders.get(wire)
        if responder is not None:
            self._reply(wire, responder, responder.received_message(message.opcode, message.data))

    def _reply(self, wire: WireProtocol, responder: Responder, replies: list[Reply]) -> None:
        conn = wire.conn
        for opcode, data, fragments in replies:
            if conn.state.value != "open":
                return
            if fragments is not None:
                conn.send_fragments(opcode, fragments)
            else:
                conn.send_message(opcode, data)
        wire.flush()
        code = responder.close_code()
        if code is not None and conn.state.value == "open":
            wire.close(code)

    def _forget(self, wire: WireProtocol) -> None:
        self.wires.discard(wire)
        self._paths.pop(wire, None)
        self._responders.pop(wire, None)
        behaviour = self._behaviours.pop(wire, None)
        if behaviour is not None:
            behaviour.closed(wire)
        if not self.wires:
            if self._on_idle is not None and self._idle_timer is None:
                self._idle_timer = self.clock.callLater(IDLE_AFTER, self._still_idle)
            waiting, self._all_closed = self._all_closed, []
            for d in waiting:
                d.callback(None)

    def _still_idle(self) -> None:
        """on_idle, if no connection is open IDLE_AFTER seconds after the last one went.

        Clients that connect one after another leave the server idle between
        them, thousands of times a second; malloc_trim() each time would cost
        more than the connections themselves.
        """
        self._idle_timer = None
        if not self.wires and self._on_idle is not None:
            self._on_idle()

    # -- shutting down -------------------------------------------------------

    def shutdown(self, reason: str = "server shutting down") -> Deferred[None]:
        """Send Close 1001 on every connection; fire when all are gone (or time is up)."""
        if not self.wires:
            return succeed(None)
        done: Deferred[None] = Deferred()
        self._all_closed.append(done)
        for wire in list(self.wires):
            wire.close(CloseCode.GOING_AWAY, reason)
        limit = self.options.timeouts.close or 2.0
        timer = self.clock.callLater(limit, self._drop_all)

        def stop_timer(result: None) -> None:
            if timer.active():
                timer.cancel()
            return result

        done.addCallback(stop_timer)
        return done

    def _drop_all(self) -> None:
        for wire in list(self.wires):
            transport: Any = wire.transport
            wire.cause = "no Close frame from the peer before shutdown"
            if transport is not None:
                transport.abortConnection()


def _parsed(raw: bytes, max_size: int) -> RequestHead:
    parsed = parse_request_head(raw, max_size=max_size)
    if parsed is None:  # the channel only hands over complete heads
        raise HandshakeError("incomplete request head")
    return parsed[0]


def _phrase(status: int) -> bytes:
    """The reason phrase of a status (twisted.web lacks some, such as 426's)."""
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b"Error"
