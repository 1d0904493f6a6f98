"""Taking over twisted.web's HTTP channel after a 101 Switching Protocols.

twisted.web has no public API to hand a connection to another protocol after
a request. This module is the one place that reaches into it: an
``HTTPChannel`` subclass that sees the raw bytes before twisted.web parses
them. It feeds twisted.web one request head at a time, so the bytes right
behind a WebSocket upgrade request (frames a client sent without waiting for
the 101) never enter twisted.web's buffers and are not lost; and it keeps the
head exactly as sent, because twisted.web rewrites header casing and merges
repeated headers, and a debugger must show what was on the wire.

Internals relied on (checked by ``tests/net/test_upgrade.py``):
``HTTPChannel`` registers itself as the transport's streaming producer in
``connectionMade`` (which, for a TCP transport, this channel does itself, as
``HTTPChannel.connectionMade`` would) and is a ``TimeoutMixin``; request heads without a body
are handled synchronously inside ``dataReceived``; a TCP transport delivers
to its ``protocol`` attribute and Twisted's TLS layer to its
``wrappedProtocol`` (both repointed at the WebSocket protocol after the 101,
so the channel is freed); ``FileDescriptor.dataBuffer``/``offset`` default to
``b""``/``0``; after ``startTLS`` the TCP transport's ``protocol`` is the TLS
layer, which takes the bytes already read (the ClientHello) through its
``dataReceived``.

The first bytes of a connection say whether the client speaks TLS. A port
with TLS options starts TLS itself once it has seen a ClientHello, so a
client that sent plain HTTP there (``ws://`` to a ``wss://`` port) is told so
in plain HTTP; a plain port answers a ClientHello (``wss://`` to a ``ws://``
port) with a plain 400 at once, which the client's TLS reads as "not TLS",
instead of letting both ends wait for a timeout.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from twisted.internet.abstract import FileDescriptor
from twisted.internet.interfaces import IDelayedCall, IReactorTime
from twisted.internet.tcp import Server
from twisted.python.failure import Failure
from twisted.web.http import HTTPChannel

from wstool.net.deadlines import Deadlines
from wstool.net.sockwrite import direct, write_now
from wstool.net.tls import looks_like_tls, tls_failure

__all__ = ["UpgradingChannel", "head_has_body"]

TLS_ON_PLAIN_PORT = (
    "a TLS ClientHello where HTTP was expected: the client used wss:// on a ws:// port"
)
PLAIN_ON_TLS_PORT = "plain HTTP where TLS was expected: the client used ws:// on a wss:// port"

_END_OF_HEAD = b"\r\n\r\n"


def head_has_body(head: bytes) -> bool:
    """Whether a request head announces a body (Content-Length > 0 or Transfer-Encoding)."""
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"transfer-encoding":
            return True
        if name == b"content-length" and value.strip() not in (b"0", b""):
            return True
    return False


def _settle_write_buffer(transport: Any) -> None:
    """Give a TCP transport its write-buffer attributes now, with the values it has anyway.

    Twisted's ``FileDescriptor`` keeps ``dataBuffer`` and ``offset`` as class
    attributes until the first write sets them on the instance. By then other
    attributes have been added (the producer's), and CPython gives an instance
    whose attributes arrive in another order than its class's first one a
    dict of its own: about 0.8 KiB for every connection that ever wrote a
    101. Set first, they keep the compact shared layout.
    """
    if (
        isinstance(transport, FileDescriptor)
        and transport.dataBuffer == b""
        and transport.offset == 0
        and not transport._tempDataBuffer
    ):
        transport.dataBuffer = b""
        transport.offset = 0


class UpgradingChannel(HTTPChannel):
    """An ``HTTPChannel`` that can hand its connection to a WebSocket protocol.

    Class attributes set by the site (``Site.buildProtocol`` makes channels):
        max_head_size: bytes a request head may take before 431 and close.
        handshake_timeout: seconds from connect to a finished upgrade (or a
            finished plain request) before the connection is dropped.
        clock: the reactor, for the handshake timer.
        local_address: see below.
    """

    max_head_size = 16384
    handshake_timeout: float | None = 10.0
    clock: IReactorTime | None = None
    local_address: Any = None
    """The listening address, when every connection's local address is that one."""
    peer_address: Any = None
    """The client's address, as the port gave it to ``buildProtocol`` (set per channel)."""
    tls: Any = None
    """TLS options when the port speaks TLS: the channel starts TLS on a ClientHello."""
    nodelay_inherited = False
    """Whether each accepted socket has TCP_NODELAY already, from its listening socket
    (see :func:`wstool.net.server.nodelay_listener`)."""
    upgrade_head: Callable[[UpgradingChannel, bytes], bool] | None = None
    """Offered each complete request head without a body first: upgrades it
    without twisted.web and returns True, or returns False to let twisted.web
    handle the request."""
    on_misdirected: Callable[[UpgradingChannel, bytes, str], None] | None = None
    """Told when a client speaks TLS to a plain port or plain HTTP to a TLS port:
    the channel, the bytes that came (empty for binary TLS records), and why."""
    on_tls_failed: Callable[[UpgradingChannel, str], None] | None = None
    """Told when the TLS handshake failed (a client certificate refused, say), and why."""
    handshake_deadlines: Deadlines[UpgradingChannel] | None = None
    """The handshake timers of all the site's channels, as one (``handshake_timeout``
    long); without it a channel sets a reactor timer of its own."""

    def __init__(self) -> None:
        super().__init__()
        self.request_head: bytes = b""
        """The last request head exactly as received, through the blank line."""
        self._pending = b""
        self._upgraded: Any = None
        self._passthrough = False
        self._timer: IDelayedCall | None = None
        self._rerouted = False
        self._sniffed = False
        self._ignoring = False
        self._http_timeout: float | None = None

    # -- the takeover -------------------------------------------------------

    @property
    def upgraded(self) -> bool:
        """Whether the connection now belongs to a WebSocket protocol."""
        return self._upgraded is not None

    def upgrade(self, protocol: Any, response: bytes) -> None:
        """Write the 101 ``response`` and give the connection to ``protocol``.

        Called from the resource while twisted.web is handling the request;
        the bytes that followed the head are delivered once that returns.
        """
        transport = self.transport
        assert transport is not None
        self._cancel_timer()
        self.setTimeout(None)  # TimeoutMixin: HTTP keep-alive timeouts end here
        self._upgraded = protocol
        if direct(transport):
            write_now(transport, (response,))
        else:
            transport.write(response)
        # HTTPChannel registered itself as the transport's producer; the new
        # protocol manages back-pressure itself from now on.
        transport.unregisterProducer()  # type: ignore[attr-defined]
        protocol.makeConnection(transport)
        self._reroute(transport, protocol)

    def _reroute(self, transport: Any, protocol: Any) -> None:
        """Have the transport deliver straight to ``protocol`` from now on.

        The channel, its request and twisted.web's parsing state are then
        garbage, instead of a few KiB kept alive by every open WebSocket.
        Where the transport is not one we know (a test's), the channel
        stays in between and forwards.
        """
        tls: Any = getattr(transport, "protocol", None)
        if tls is self:  # plain TCP
            transport.protocol = protocol
        elif getattr(tls, "wrappedProtocol", None) is self:  # TLS under TCP
            tls.wrappedProtocol = protocol
        else:
            return
        self._rerouted = True

    def close_after_response(self) -> None:
        """Close the connection once the current response is written.

        A refusal says ``Connection: close``; RFC 9112 §9.6 then obliges the
        server to close. ``persistent`` is what ``requestDone`` consults.
        """
        self.persistent = False

    def getHost(self) -> Any:
        # twisted.web asks once per request; a server bound to one address
        # knows the answer without a getsockname() call per connection.
        if self.local_address is not None:
            return self.local_address
        return super().getHost()

    # -- byte routing -------------------------------------------------------

    def connectionMade(self) -> None:
        _settle_write_buffer(self.transport)
        # twisted.web's idle timer (TimeoutMixin) starts when twisted.web gets a
        # request: until then the handshake timer runs, and an upgrade needs neither.
        self._http_timeout, self.timeOut = self.timeOut, None
        transport: Any = self.transport
        if type(transport) is Server:
            # What HTTPChannel.connectionMade does with a TCP transport, without its
            # interface lookups: TCP_NODELAY, as WebSocket servers set it (a short
            # frame must not wait for the ACK of the one before), and the channel
            # as the transport's streaming producer.
            if not self.nodelay_inherited:
                transport.setTcpNoDelay(True)
            self._networkProducer = transport
            transport.registerProducer(self, True)
        else:
            super().connectionMade()
        if not self.handshake_timeout:
            return
        if self.handshake_deadlines is not None:
            self.handshake_deadlines.add(self)
        elif self.clock is not None:
            self._timer = self.clock.callLater(self.handshake_timeout, self.handshake_timed_out)

    def _to_twisted_web(self, data: bytes) -> None:
        """Hand ``data`` to twisted.web's parser, with its idle timer running."""
        if self._http_timeout is not None:
            self.setTimeout(self._http_timeout)
            self._http_timeout = None
        super().dataReceived(data)

    def dataReceived(self, data: bytes) -> None:
        if self._upgraded is not None:
            self._upgraded.dataReceived(data)
            return
        if self._passthrough:
            self._to_twisted_web(data)
            return
        if self._ignoring:
            return
        self._pending += data
        if not self._sniffed and not self._sniff():
            return
        while self._upgraded is None and not self._passthrough:
            end = self._pending.find(_END_OF_HEAD)
            if end < 0:
                if len(self._pending) > self.max_head_size:
                    self._refuse_head()
                return
            if end + 4 > self.max_head_size:
                self._refuse_head()
                return
            head = self._pending[: end + 4]
            self._pending = self._pending[end + 4 :]
            self.request_head = head
            # An upgrade request has no body (the site refuses one that announces one).
            if self.upgrade_head is not None and self.upgrade_head(self, head):
                break
            if head_has_body(head):
                # Not an upgrade we accept; twisted.web reads the body and
                # handles the rest of the connection as plain HTTP.
                self._passthrough = True
                self._cancel_timer()
                rest, self._pending = self._pending, b""
                self._to_twisted_web(head + rest)
                return
            self._to_twisted_web(head)
            if self.transport is None or getattr(self.transport, "disconnecting", False):
                return
        upgraded = self._upgraded
        if upgraded is not None:
            rest, self._pending = self._pending, b""
            if self._rerouted:
                # Nothing of the HTTP exchange is needed any more: break the
                # request <-> channel cycle so both go now, not at the next
                # garbage collection.
                self.requests = []
            if rest:
                upgraded.dataReceived(rest)

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        self._cancel_timer()
        if self._upgraded is not None:
            self._upgraded.connectionLost(reason)
            return
        if self.on_tls_failed is not None and self.tls is not None and not self.request_head:
            problem = tls_failure(reason)
            if problem is not None:
                self.on_tls_failed(self, problem)
        super().connectionLost(reason)

    # -- TLS or not ----------------------------------------------------------

    def _sniff(self) -> bool:
        """Decide from the first bytes whether the client speaks TLS; whether HTTP goes on here."""
        tls = looks_like_tls(self._pending)
        if tls is None:
            return False  # one or two bytes so far
        self._sniffed = True
        if tls and self.tls is not None:
            # RFC 8446 §5.1: a record of type handshake (22), version 3.x.
            transport: Any = self.transport
            hello, self._pending = self._pending, b""
            transport.startTLS(self.tls)
            transport.protocol.dataReceived(hello)
            return False
        if tls:
            self._misdirected(
                b"", TLS_ON_PLAIN_PORT, "this port speaks ws:// (plain HTTP), not TLS"
            )
            return False
        if self.tls is not None:
            seen = self._pending[: self.max_head_size]
            self._misdirected(seen, PLAIN_ON_TLS_PORT, "this port speaks TLS: use wss://")
            return False
        return True

    def _misdirected(self, seen: bytes, reason: str, answer: str) -> None:
        """Report a client on the wrong kind of port, answer a plain 400, and close."""
        self._cancel_timer()
        self.setTimeout(None)  # TimeoutMixin: no keep-alive for a connection being closed
        self._pending = b""
        self._ignoring = True  # whatever else comes, until the close
        if self.on_misdirected is not None:
            self.on_misdirected(self, seen, reason)
        assert self.transport is not None
        body = answer.encode("ascii") + b"\n"
        self.transport.write(
            b"HTTP/1.1 400 Bad Request\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        self.transport.loseConnection()

    # -- limits -------------------------------------------------------------

    def _refuse_head(self) -> None:
        self._cancel_timer()
        assert self.transport is not None
        body = b"request head too large\n"
        self.transport.write(
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n"
            b"Content-Type: text/plain; charset=utf-8\r\n"
            b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (len(body), body)
        )
        self._pending = b""
        self._passthrough = True
        self.transport.loseConnection()

    def handshake_timed_out(self) -> None:
        """The handshake took too long: drop the connection unless it was upgraded."""
        self._timer = None
        if self._upgraded is None and self.transport is not None:
            self.transport.abortConnection()  # type: ignore[attr-defined]

    def _cancel_timer(self) -> None:
        if self.handshake_deadlines is not None:
            self.handshake_deadlines.discard(self)
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def requestDone(self, request: Any) -> None:
        # A plain request (the console page, a refusal) is finished: the
        # handshake timer has done its job for this connection.
        self._cancel_timer()
        super().requestDone(request)
