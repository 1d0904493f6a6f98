"""``wstool connect``: ws:// and wss:// over Twisted endpoints, proxies, the client handshake.

:func:`connect` resolves and connects (IPv4, IPv6 literals, host names, a
Unix socket, or another address given by ``--connect-to``), tunnels through
an HTTP CONNECT or a SOCKS5 proxy (:mod:`wstool.net.socks`) when asked,
starts TLS with the
server's certificate verified (host name included, via service-identity),
performs the masked client side of the opening handshake with
:mod:`wstool.core.handshake`, and hands the transport to a
:class:`~wstool.net.wire.WireProtocol`. What it returns is a
:class:`ClientSession`, which the REPL drives.
"""

from __future__ import annotations

import base64
import dataclasses
import ipaddress
import os
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from twisted.internet import endpoints
from twisted.internet.defer import Deferred
from twisted.internet.interfaces import IDelayedCall, IHandshakeListener, IReactorTime
from twisted.internet.protocol import Factory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from wstool.core.connection import DEFAULT_MAX_MESSAGE_SIZE, Connection, State
from wstool.core.deflate import PerMessageDeflate, client_accept, client_offer
from wstool.core.errors import HandshakeError, WstoolError
from wstool.core.events import ConnectionClosed
from wstool.core.frames import Role
from wstool.core.handshake import (
    ExtensionOffer,
    ResponseHead,
    build_request,
    check_response,
    generate_key,
    parse_response_head,
)
from wstool.core.http import encode_head
from wstool.core.uri import WebSocketURI, parse_uri
from wstool.net.failures import describe, not_tls, strerror
from wstool.net.routes import ConnectTo, dial_address, proxy_for
from wstool.net.socks import Socks5Negotiation, Socks5Proxy, SocksError
from wstool.net.tls import certificate_detail, client_tls_creator, looks_like_tls
from wstool.net.wire import FrameObserver, Timeouts, WireProtocol

__all__ = [
    "REDIRECTS",
    "ClientOptions",
    "ClientSession",
    "ConnectFailed",
    "ConnectTo",
    "HandshakeRejected",
    "connect",
    "proxy_for",
]


class ConnectFailed(WstoolError):
    """The TCP connection, the proxy tunnel or TLS failed; the message says which, in one line."""


class HandshakeRejected(WstoolError):
    """The server answered the upgrade with something other than a valid 101.

    Attributes:
        status: the HTTP status received (0 if there was no valid response).
        reason: one line saying what was wrong.
        head: the response head as received, if any.
        body: the start of the response body, if any.
        location: the Location header of a redirect (3xx), if any.
    """

    def __init__(
        self,
        reason: str,
        status: int,
        head: bytes = b"",
        body: bytes = b"",
        location: str | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.head = head
        self.body = body
        self.location = location


REDIRECTS = (301, 302, 303, 307, 308)
"""The redirect statuses that ``-L`` follows."""


@dataclass(frozen=True)
class ClientOptions:
    """Everything ``wstool connect`` can set.

    Attributes:
        uri: where to connect.
        headers: extra request headers, in order. A header whose name (in
            any case) is one wstool writes replaces wstool's, in its place:
            ``Host``, ``Origin``, ``Sec-WebSocket-Protocol`` (the 101 is then
            checked against the subprotocols it lists),
            ``Sec-WebSocket-Extensions``, and also ``Upgrade``, ``Connection``,
            ``Sec-WebSocket-Key`` and ``Sec-WebSocket-Version``: replacing
            these forges the handshake on purpose (the 101's accept value is
            checked against the key sent). A second header of the same name,
            and any other header, is added after wstool's.
        subprotocols: subprotocols to offer.
        origin: an Origin header.
        auth: user and password for Basic auth (default: the URI's userinfo).
        deflate: offer permessage-deflate.
        max_message_size: larger messages from the server fail with 1009.
        connect_timeout: seconds for TCP, the proxy, TLS and the handshake.
        ca_file: a PEM file of certificates to trust instead of the system's.
        insecure: do not verify the server's certificate.
        cert_file: a PEM client certificate.
        key_file: its private key (default: in ``cert_file``).
        proxy: ``http://[user:pass@]host:port``; ``None`` means none.
        timeouts: close-handshake and keepalive timers.
        mask_source: where mask keys come from.
        explain_certificate: given the PEM chain of a server whose certificate
            failed verification, OpenSSL's reason (such as "certificate has
            expired"), for the error message; ``None`` for the bare error.
        keylog: a :class:`~wstool.net.keylog.KeyLog` that the TLS secrets go
            to (``SSLKEYLOGFILE``), so a capture can be decrypted.
        socks: a SOCKS5 proxy to connect through (instead of ``proxy``).
        unix_path: connect to this Unix socket instead of the URL's host.
        connect_to: ``--connect-to`` rules; the first that applies is dialled.
        pong_budget: how many Pings to answer (``None``: all; 0: none, a fault
            injected on purpose, see ``Connection.pong_budget``).
        follow_redirects: a redirect (3xx with Location) is refused at once,
            without waiting for its body, to be followed (``-L``).
        conn_id: the number that names the connection to the observer (each
            reconnection gets the next, so a --record file tells them apart).
    """

    uri: WebSocketURI
    headers: tuple[tuple[str, str], ...] = ()
    subprotocols: tuple[str, ...] = ()
    origin: str | None = None
    auth: tuple[str, str] | None = None
    deflate: bool = True
    max_message_size: int = DEFAULT_MAX_MESSAGE_SIZE
    connect_timeout: float = 10.0
    ca_file: str | None = None
    insecure: bool = False
    cert_file: str | None = None
    key_file: str | None = None
    proxy: str | None = None
    timeouts: Timeouts = field(default_factory=lambda: Timeouts(ping_interval=None))
    mask_source: Callable[[int], bytes] = os.urandom
    explain_certificate: Callable[[Sequence[bytes]], str | None] | None = None
    keylog: Any = None
    socks: Socks5Proxy | None = None
    unix_path: str | None = None
    connect_to: tuple[ConnectTo, ...] = ()
    pong_budget: int | None = None
    follow_redirects: bool = False
    conn_id: int = 1


@dataclass
class ClientSession:
    """A live client connection, as the REPL drives it.

    Attributes:
        wire: the protocol driving the core connection.
        request: the request head as sent.
        response: the 101 response head as received.
        subprotocol: the subprotocol the server selected.
        extensions: the extensions agreed.
        closed: fires with the :class:`ConnectionClosed` event (or ``None``)
            when the TCP connection is gone.
    """

    wire: WireProtocol
    request: bytes
    response: bytes
    subprotocol: str | None
    extensions: tuple[ExtensionOffer, ...]
    closed: Deferred[ConnectionClosed | None]
    close_requested: tuple[int | None] | None = None
    """The code of the close asked for through :meth:`close`, if any (a 1-tuple:
    ``(None,)`` is a Close without a code)."""

    @property
    def conn(self) -> Connection:
        """The core connection."""
        return self.wire.conn

    @property
    def is_open(self) -> bool:
        """Whether messages can still be sent."""
        return self.wire.conn.state is State.OPEN and self.wire.transport is not None

    def send_text(self, text: str) -> None:
        """Send a text message."""
        self.conn.send_text(text)
        self.wire.flush()

    def send_binary(self, data: bytes) -> None:
        """Send a binary message."""
        self.conn.send_binary(data)
        self.wire.flush()

    def send_fragments(self, opcode: int, parts: Sequence[bytes]) -> None:
        """Send one message as several frames."""
        self.conn.send_fragments(opcode, parts)
        self.wire.flush()

    def ping(self, data: bytes = b"") -> None:
        """Send a Ping."""
        self.conn.send_ping(data)
        self.wire.flush()

    def pong(self, data: bytes = b"") -> None:
        """Send an unsolicited Pong."""
        self.conn.send_pong(data)
        self.wire.flush()

    def close(self, code: int | None = 1000, reason: str = "") -> None:
        """Start the closing handshake."""
        self.conn.send_close(code, reason)
        self.close_requested = (code,)
        self.wire.flush()

    def send_raw(self, data: bytes) -> None:
        """Write bytes as they are (forged frames)."""
        self.conn.send_raw(data)
        self.wire.flush()

    def answer_pings(self, on: bool) -> None:
        """Answer the server's Pings (the RFC's MUST), or leave them unanswered (a fault)."""
        self.conn.pong_budget = None if on else 0

    def abort(self) -> None:
        """Drop the TCP connection without a closing handshake."""
        transport: Any = self.wire.transport
        if transport is not None:
            transport.abortConnection()


def _with_extra_headers(request: bytes, extra: Sequence[tuple[str, str]]) -> bytes:
    """``request`` with the user's headers: each replaces ours of that name, or is added.

    See :class:`ClientOptions` (``headers``) for the rule.
    """
    encode_head("", extra)  # the same checks as our own headers (no CR/LF injection)
    lines = request[:-4].split(b"\r\n")
    index = {line.split(b":", 1)[0].lower(): i for i, line in enumerate(lines[1:], 1)}
    replaced: set[bytes] = set()
    for name, value in extra:
        line = f"{name}: {value}".encode("latin-1")
        key = name.lower().encode("latin-1")
        if key in index and key not in replaced:
            lines[index[key]] = line
            replaced.add(key)
        else:
            lines.append(line)
    return b"\r\n".join(lines) + b"\r\n\r\n"


def _basic(user: str, password: str) -> str:
    token = base64.b64encode(f"{user}:{password}".encode()).decode("ascii")
    return f"Basic {token}"


def _tls_creator(options: ClientOptions, host: str) -> Any:
    creator = client_tls_creator(
        host,
        ca_file=options.ca_file,
        insecure=options.insecure,
        cert_file=options.cert_file,
        key_file=options.key_file,
    )
    return creator if options.keylog is None else options.keylog.client(creator)


@implementer(IHandshakeListener)
class _Handshake(TwistedProtocol):
    """The client side before the 101: proxy tunnel, TLS, the upgrade request."""

    def __init__(
        self,
        options: ClientOptions,
        observer: FrameObserver,
        clock: IReactorTime,
        result: Deferred[ClientSession],
        proxy: WebSocketURI | None,
        tls: Any = None,
        socks: Socks5Negotiation | None = None,
    ) -> None:
        self.options = options
        self.tls = tls
        self.observer = observer
        self.clock = clock
        self.result = result
        self.proxy = proxy
        self.socks = socks
        self.key = generate_key(options.mask_source)
        self.request = b""
        self.stage = "proxy" if proxy is not None else "socks" if socks is not None else "upgrade"
        self.buffer = b""
        self.head: ResponseHead | None = None
        self.wire: WireProtocol | None = None
        self.error: Exception | None = None
        self.timer: IDelayedCall | None = None
        self.tls_done = False
        """Whether the TLS handshake has completed (wss:// only)."""

    # -- stages ---------------------------------------------------------------

    @property
    def tunnelled(self) -> bool:
        """Whether a proxy's tunnel carries the connection (TLS then starts inside it)."""
        return self.proxy is not None or self.socks is not None

    def connectionMade(self) -> None:
        self.timer = self.clock.callLater(self.options.connect_timeout, self._timed_out)
        if self.socks is not None:
            self._write(self.socks.start())
        elif self.proxy is not None:
            # The tunnel goes where --connect-to says, if it says (as curl's does).
            host, port = dial_address(self.options.uri, self.options.connect_to)
            target = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
            lines = [f"CONNECT {target} HTTP/1.1", f"Host: {target}"]
            if self.proxy.user is not None:
                lines.append(
                    f"Proxy-Authorization: {_basic(self.proxy.user, self.proxy.password or '')}"
                )
            self._write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
        else:
            self._start()

    def _start(self) -> None:
        """After the tunnel (if any): TLS (if wss), then the upgrade request."""
        uri = self.options.uri
        if uri.secure and self.tunnelled:
            transport: Any = self.transport
            transport.startTLS(self.tls or _tls_creator(self.options, uri.host))
        self.stage = "upgrade"
        options = self.options
        headers = list(options.headers)
        auth = options.auth
        if auth is None and uri.user is not None:
            auth = (uri.user, uri.password or "")
        if auth is not None and not any(n.lower() == "authorization" for n, _ in headers):
            headers.append(("Authorization", _basic(*auth)))
        extensions = [client_offer()] if options.deflate else []
        ours = build_request(
            uri.host_header,
            uri.resource,
            key=self.key,
            subprotocols=options.subprotocols,
            extensions=extensions,
            origin=options.origin,
        )
        self.request = _with_extra_headers(ours, headers)
        for name, value in headers:
            if name.lower() == "sec-websocket-key":
                self.key = value  # the 101 must answer the key that was sent
                break
        self._write(self.request)

    def handshakeCompleted(self) -> None:
        """IHandshakeListener: the TLS layer under us has finished its handshake."""
        self.tls_done = True

    def _write(self, data: bytes) -> None:
        transport: Any = self.transport
        transport.write(data)

    def dataReceived(self, data: bytes) -> None:
        if self.wire is not None:
            self.wire.dataReceived(data)
            return
        if self.stage == "socks":
            self._socks_answered(data)
            return
        self.buffer += data
        if self.stage == "body":
            if len(self.buffer) >= 1024:
                self._reject()
            return
        if self.stage == "upgrade" and not self.options.uri.secure:
            # RFC 8446 §5.1: a TLS record (an alert, 0x15 0x03 0x0X, or a
            # handshake, 0x16 ...) where an HTTP response was due.
            tls = looks_like_tls(self.buffer)
            if tls:
                self._fail(ConnectFailed("the server answered with TLS: use wss://"))
            if tls is not False:
                return
        try:
            parsed = parse_response_head(self.buffer)
        except HandshakeError as exc:
            self._fail(HandshakeRejected(exc.reason, 0, self.buffer[:4096]))
            return
        if parsed is None:
            return
        head, used = parsed
        self.buffer = self.buffer[used:]
        if self.stage == "proxy":
            self._proxy_answered(head)
        else:
            self._upgrade_answered(head)

    def _socks_answered(self, data: bytes) -> None:
        assert self.socks is not None
        try:
            reply = self.socks.receive(data)
        except SocksError as exc:
            self._fail(ConnectFailed(str(exc)))
            return
        if reply:
            self._write(reply)
        if self.socks.done:
            rest = self.socks.buffer
            self._start()
            if rest:
                self.dataReceived(rest)

    def _proxy_answered(self, head: ResponseHead) -> None:
        if head.status != 200:
            self._fail(
                ConnectFailed(f"the proxy refused the tunnel: {head.status} {head.reason}".strip())
            )
            return
        self._start()

    def _upgrade_answered(self, head: ResponseHead) -> None:
        self.head = head
        options = self.options
        offer = [client_offer()] if options.deflate else []
        subprotocols = options.subprotocols
        for name, value in options.headers:
            # What the request offered, when -H replaced our offer.
            if name.lower() == "sec-websocket-protocol":
                subprotocols = tuple(p.strip() for p in value.split(",") if p.strip())
                break
        for name, value in options.headers:
            if name.lower() == "sec-websocket-extensions":
                offer = [client_offer()] if "permessage-deflate" in value.lower() else []
                break
        if head.status != 101:
            # RFC 6455 §4.1: "If the status code received from the server is
            # not 101, the client handles the response per HTTP procedures.
            # [...] the server might redirect the client using a 3xx status
            # code (but clients are not required to follow them)". -L follows
            # them (net.redirects): no need to wait for the body then.
            self.stage = "body"
            if options.follow_redirects and head.status in REDIRECTS and head.get("location"):
                self._reject()
            elif self.buffer:
                self.clock.callLater(0.2, self._reject)
            else:
                self.clock.callLater(0.5, self._reject)
            return
        try:
            answer = check_response(head, key=self.key, subprotocols=subprotocols, extensions=offer)
            codec = None
            for extension in answer.extensions:
                params = client_accept(offer[0], extension)
                codec = PerMessageDeflate(
                    params, is_client=True, max_inflated_size=options.max_message_size
                )
        except HandshakeError as exc:
            self._fail(HandshakeRejected(exc.reason, head.status, head.raw))
            return
        self._cancel_timer()
        conn = Connection(
            Role.CLIENT,
            max_message_size=options.max_message_size,
            codec=codec,
            mask_source=options.mask_source,
            record_frames=self.observer.wants_frames,
        )
        conn.pong_budget = options.pong_budget
        closed: Deferred[ConnectionClosed | None] = Deferred()
        wire = WireProtocol(
            conn,
            conn_id=options.conn_id,
            peer=str(options.uri),
            observer=self.observer,
            on_message=None,
            clock=self.clock,
            timeouts=options.timeouts,
            on_close=lambda w: closed.callback(w.close_event),
        )
        self.wire = wire
        session = ClientSession(
            wire, self.request, head.raw, answer.subprotocol, answer.extensions, closed
        )
        rest, self.buffer = self.buffer, b""
        transport: Any = self.transport
        wire.makeConnection(transport)
        self.observer.opened(options.conn_id, str(options.uri), self.request, head.raw)
        result, self.result = self.result, Deferred()
        result.callback(session)
        if rest:
            wire.dataReceived(rest)

    def _reject(self) -> None:
        if self.error is not None or self.result.called or self.head is None:
            return
        head = self.head
        self._fail(
            HandshakeRejected(
                f"the server answered {head.status} {head.reason}".strip()
                + " instead of 101 Switching Protocols",
                head.status,
                head.raw,
                self.buffer[:1024],
                location=head.get("location") if head.status in REDIRECTS else None,
            )
        )

    def _fail(self, error: Exception) -> None:
        self._cancel_timer()
        # self.result is swapped for a fresh Deferred once fired, so "called"
        # alone cannot tell; a second failure (the body timer, then the lost
        # connection) must not errback that fresh Deferred unhandled.
        if self.error is None and not self.result.called:
            self.error = error
            result, self.result = self.result, Deferred()
            result.errback(Failure(error))
        transport: Any = self.transport
        if transport is not None:
            transport.loseConnection()

    def _timed_out(self) -> None:
        self.timer = None
        stage = {
            "socks": "answer from the SOCKS5 proxy",
            "proxy": "answer from the proxy",
            "upgrade": "101 answer from the server",
            "body": "end of the server's answer",
        }
        self._fail(
            ConnectFailed(f"no {stage[self.stage]} within {self.options.connect_timeout:g} s")
        )

    def _cancel_timer(self) -> None:
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.timer = None

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        if self.wire is not None:
            self.wire.connectionLost(reason)
            return
        self._cancel_timer()
        if self.stage == "body" and self.head is not None:
            self._reject()
        if not self.result.called:
            detail = None
            if "certificate verify failed" in str(reason.value):
                detail = certificate_detail(self.transport, self.options.explain_certificate)
            text = describe(reason, self.options.uri, detail)
            if self._tls_started() and not self.tls_done:
                text = not_tls(reason) or text
            self._fail(ConnectFailed(text))

    def _tls_started(self) -> bool:
        """Whether TLS runs under us (wss://, and past the proxy's tunnel if any)."""
        return self.options.uri.secure and self.stage not in ("proxy", "socks")


def connect(
    reactor: Any, options: ClientOptions, observer: FrameObserver
) -> Deferred[ClientSession]:
    """Connect, tunnel, start TLS and perform the opening handshake.

    Returns:
        A Deferred that fires with a :class:`ClientSession`, or fails with
        :class:`ConnectFailed` or :class:`HandshakeRejected`.

    Raises:
        TLSSetupError: for wss://, a certificate, key or CA file that cannot
            be read or used (raised at once, before any connection is made).
    """
    uri = options.uri
    # Built before connecting: a bad certificate file is the user's to fix
    # (TLSSetupError), not something to find out inside the proxy's tunnel.
    tls = _tls_creator(options, uri.host) if uri.secure else None
    result: Deferred[ClientSession] = Deferred()
    socks = options.socks
    host, port = dial_address(uri, options.connect_to)
    if socks is None or socks.remote_dns or _is_address(host):
        _dial(reactor, options, observer, result, tls, host)
        return result

    def resolved(address: str) -> None:
        _dial(reactor, options, observer, result, tls, address)

    def unresolved(failure: Failure) -> None:
        if not result.called:
            result.errback(Failure(ConnectFailed(f"cannot resolve {host}")))

    # socks5:// (not socks5h://): the proxy is given an address, looked up here.
    _resolve(reactor, host, port).addCallbacks(resolved, unresolved)
    return result


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _resolve(reactor: Any, host: str, port: int) -> Deferred[str]:
    """``host``'s first address, looked up here (socks5://: the proxy is given an address)."""
    from twisted.internet.threads import deferToThreadPool

    def lookup() -> str:
        found = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        return str(found[0][4][0])

    pool = reactor.getThreadPool()
    answer: Deferred[str] = deferToThreadPool(reactor, pool, lookup)
    return answer


def _dial(
    reactor: Any,
    options: ClientOptions,
    observer: FrameObserver,
    result: Deferred[ClientSession],
    tls: Any,
    socks_target: str,
) -> None:
    """Open the TCP (or Unix) connection and run the handshake protocol on it.

    ``socks_target`` is the host the SOCKS5 proxy is asked for: a name, or
    the address it was resolved to here.
    """
    uri = options.uri
    proxy = parse_uri(options.proxy.replace("http://", "ws://", 1)) if options.proxy else None
    socks = options.socks
    negotiation = None
    endpoint: Any
    if options.unix_path is not None:
        endpoint = endpoints.UNIXClientEndpoint(
            reactor, options.unix_path, timeout=options.connect_timeout
        )
        proxy = socks = None
        host, port = uri.host, uri.port
    else:
        if socks is not None:
            proxy = None
            host, port = socks.host, socks.port
            target_port = dial_address(uri, options.connect_to)[1]
            negotiation = Socks5Negotiation(socks_target, target_port, socks.user, socks.password)
        elif proxy is not None:
            host, port = proxy.host, proxy.port
        else:
            host, port = dial_address(options.uri, options.connect_to)
        endpoint = endpoints.HostnameEndpoint(
            reactor,
            host.encode("idna") if host.isascii() else host,
            port,
            timeout=options.connect_timeout,
        )
    if tls is not None and proxy is None and negotiation is None:
        endpoint = endpoints.wrapClientTLS(tls, endpoint)
    factory = Factory.forProtocol(
        lambda: _Handshake(options, observer, reactor, result, proxy, tls, negotiation)
    )

    def failed(failure: Failure) -> None:
        if result.called:
            return
        if options.unix_path is not None:
            why = getattr(failure.value, "osError", None) or failure.getErrorMessage()
            text = f"cannot connect to the Unix socket {options.unix_path}: {strerror(why)}"
        elif socks is not None:
            text = describe(failure, parse_uri(f"ws://{socks.host}:{socks.port}/"))
            text += " (the SOCKS5 proxy)"
        elif proxy is not None:
            # The TCP connection goes to the proxy when there is one: name it.
            text = describe(failure, proxy) + " (the proxy)"
        elif (host, port) != (uri.host, uri.port):  # --connect-to: name what was dialled
            text = describe(failure, dataclasses.replace(uri, host=host, port=port))
        else:
            text = describe(failure, uri)
        result.errback(Failure(ConnectFailed(text)))

    endpoint.connect(factory).addErrback(failed)
