"""``wstool proxy --terminate``: two WebSocket connections, one per side, every message re-encoded.

In relay mode the proxy is a window; here it is an endpoint on both sides.
The client's request is checked as ``wstool serve`` checks it; the proxy
connects upstream as ``wstool connect`` does (offering the client's
subprotocols, its own permessage-deflate, the client's other headers), and
only once the upstream has answered 101 does the client get a 101 of the
proxy's own (the subprotocol the upstream chose, deflate negotiated with the
client on its own). Each whole message from one side is sent to the other
as a new message; a Close is passed on with its code. Each side's
connection is a :class:`~wstool.net.wire.WireProtocol` over a core
connection, so a peer that breaks a rule is failed with its close code, as
an endpoint must, and the other side is closed with 1014 (bad gateway).
This is the mode for changing traffic: extensions differ per side and a
message can be changed or dropped without breaking a compression context.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

from twisted.internet.interfaces import IDelayedCall
from twisted.internet.protocol import Factory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.python.failure import Failure

from wstool.core.connection import Connection, State
from wstool.core.deflate import PerMessageDeflate, server_negotiate
from wstool.core.errors import HandshakeError, UsageError
from wstool.core.events import (
    ConnectionClosed,
    ConnectionFailed,
    Event,
    FrameReceived,
    MessageReceived,
)
from wstool.core.frames import CloseCode, Opcode, Role
from wstool.core.handshake import build_rejection, build_response, check_request
from wstool.core.held import HeldMessage, held_record
from wstool.core.http import RequestHead, parse_request_head
from wstool.core.tap import DirectionStats, RelaySummary
from wstool.core.uri import WebSocketURI, parse_uri
from wstool.net.client import ClientOptions, ClientSession, HandshakeRejected, connect
from wstool.net.proxy import ProxyOptions, join_target
from wstool.net.relay import RelayObserver
from wstool.net.wire import Timeouts, WireProtocol

__all__ = ["TerminateObserver", "TerminatingProxy", "UpstreamFor", "reverse_upstream"]

UpstreamFor = Callable[[RequestHead], WebSocketURI]
"""A client's request -> the URL the proxy connects to for it."""


def reverse_upstream(upstream: WebSocketURI) -> UpstreamFor:
    """``--to``'s server, the request's path joined under its path."""

    def find(head: RequestHead) -> WebSocketURI:
        scheme = "wss" if upstream.secure else "ws"
        target = join_target(upstream.resource, head.target)
        return parse_uri(f"{scheme}://{upstream.host_header}{target}")

    return find


# Headers the proxy writes itself on each hop; the client's others go upstream.
_OWN_HEADERS = frozenset(
    {
        "host",
        "upgrade",
        "connection",
        "sec-websocket-key",
        "sec-websocket-version",
        "sec-websocket-protocol",
        "sec-websocket-extensions",
        "origin",
        "content-length",
        "proxy-connection",
        "keep-alive",
    }
)
# Close codes that may not be sent in a Close frame (RFC 6455 §7.4.1).
_NOT_SENT = {1005: None, 1006: CloseCode.GOING_AWAY, 1015: CloseCode.GOING_AWAY}


class TerminateObserver(RelayObserver, Protocol):
    """A relay observer that also hears each hop's own events."""

    def terminated(self, conn_id: int, response: bytes) -> None:
        """The client was answered with the proxy's own 101."""

    def hop_events(self, conn_id: int, hop: Role, events: Sequence[Event]) -> None:
        """Events of the connection with ``hop`` (the client's or the server's)."""


class _Hop:
    """The frame observer of one side's WireProtocol: reports, and passes messages across."""

    def __init__(self, link: _Link, hop: Role) -> None:
        self.link = link
        self.hop = hop
        self.wants_frames = link.observer.wants_frames
        self.stats = DirectionStats()

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        pass  # reported by the link, with both hops

    def events(self, conn_id: int, events: Sequence[Event]) -> None:
        link = self.link
        link.observer.hop_events(link.conn_id, self.hop, events)
        failed = False
        for event in events:
            kind = type(event)
            if kind is FrameReceived:
                self.stats.frames += 1
                self.stats.wire_bytes += event.frame.size  # type: ignore[union-attr]
            elif kind is MessageReceived:
                self.stats.messages += 1
                self.stats.message_bytes += len(event.data)  # type: ignore[union-attr]
                # Passed on after this side's events are reported, so that the
                # log shows the message arrive before it leaves.
                if self.hop is Role.SERVER:
                    link.to_client(event)  # type: ignore[arg-type]
                else:
                    link.to_server(event)  # type: ignore[arg-type]
            elif kind is ConnectionFailed:
                failed = True
                self.stats.violations += 1
                self.stats.rules.append(event.violation.rule)  # type: ignore[union-attr]
            elif kind is ConnectionClosed:
                link.hop_closed(self.hop, event, failed=failed)  # type: ignore[arg-type]

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        self.link.hop_gone(self.hop, cause)


class _Link(TwistedProtocol):
    """One client, from its request to both closes: reads the request, then hands over."""

    def __init__(
        self, proxy: TerminatingProxy, conn_id: int, peer: str, upstream_for: UpstreamFor
    ) -> None:
        self.proxy = proxy
        self.upstream_for = upstream_for
        self.observer: TerminateObserver = proxy.observer
        self.conn_id = conn_id
        self.peer = peer
        self.buffer = b""
        self.client_wire: WireProtocol | None = None
        self.session: ClientSession | None = None
        self.hops = {role: _Hop(self, role) for role in (Role.CLIENT, Role.SERVER)}
        self.gone: set[Role] = set()
        self.cause = ""
        self.upstream_name = ""
        self.started = proxy.clock.seconds()
        self.stage = "request"
        self._timer: IDelayedCall | None = None
        self.holding: dict[Role, list[HeldMessage]] = {}
        """Messages kept back, by the side they go to (``/hold``)."""
        self._on_held: Callable[[dict[str, Any]], None] | None = None

    # -- the handshakes -------------------------------------------------------------

    def connectionMade(self) -> None:
        timeout = self.proxy.options.handshake_timeout
        if timeout:
            self._timer = self.proxy.clock.callLater(timeout, self._timed_out)

    def dataReceived(self, data: bytes) -> None:
        if self.client_wire is not None:
            self.client_wire.dataReceived(data)
            return
        self.buffer += data
        if self.stage != "request":
            return
        try:
            parsed = parse_request_head(self.buffer, max_size=self.proxy.options.max_request_size)
            if parsed is None:
                return
            head, used = parsed
            uri = self._upstream(head)
            request = check_request(head.method, uri.resource, head.headers, version=head.version)
        except HandshakeError as exc:
            self._answer(exc)
            return
        self.stage = "connecting"
        self.buffer = self.buffer[used:]
        self.upstream_name = str(uri)
        extra = tuple((n, v) for n, v in head.headers if n.lower() not in _OWN_HEADERS)
        options = ClientOptions(
            uri=uri,
            headers=extra,
            subprotocols=request.subprotocols,
            origin=request.origin,
            connect_timeout=self.proxy.options.connect_timeout,
            ca_file=self.proxy.upstream_ca,
            insecure=self.proxy.insecure,
            timeouts=Timeouts(ping_interval=None),
            keylog=self.proxy.keylog,
        )
        connecting = connect(self.proxy.reactor, options, self.hops[Role.SERVER])
        connecting.addCallbacks(lambda s: self._upstream_open(s, head.raw, request), self._refused)

    def _upstream(self, head: RequestHead) -> WebSocketURI:
        try:
            return self.upstream_for(head)
        except UsageError as exc:
            raise HandshakeError(f"{head.target!r}: {exc}") from exc

    def _upstream_open(self, session: ClientSession, received: bytes, request: Any) -> None:
        self._cancel_timer()
        self.session = session
        self.observer.request(
            self.conn_id, self.peer, self.upstream_name, received, session.request
        )
        self.observer.answered(self.conn_id, session.response, b"")
        if self.transport is None or self.stage != "connecting":
            session.close(CloseCode.GOING_AWAY, "client gone")
            return
        codec, extensions = None, []
        agreed = server_negotiate(request.extensions)
        if agreed is not None:
            codec = PerMessageDeflate(agreed[0], is_client=False)
            extensions.append(agreed[1])
        response = build_response(request, subprotocol=session.subprotocol, extensions=extensions)
        conn = Connection(Role.SERVER, codec=codec, record_frames=self.observer.wants_frames)
        wire = WireProtocol(
            conn,
            conn_id=self.conn_id,
            peer=self.peer,
            observer=self.hops[Role.CLIENT],
            on_message=None,
            clock=self.proxy.clock,
            timeouts=Timeouts(ping_interval=None),
        )
        self.stage = "open"
        self.transport.write(response)
        self.observer.terminated(self.conn_id, response)
        self.client_wire = wire
        wire.makeConnection(self.transport)
        rest, self.buffer = self.buffer, b""
        if rest:
            wire.dataReceived(rest)

    def _refused(self, failure: Failure) -> None:
        self._cancel_timer()
        error = failure.value
        if isinstance(error, HandshakeRejected) and 400 <= error.status < 600:
            status = error.status
        else:
            status = 502
        reason = f"{self.upstream_name}: {getattr(error, 'reason', None) or error}"
        self._answer(HandshakeError(reason, status))

    def _answer(self, error: HandshakeError) -> None:
        self._cancel_timer()
        self.stage = "closing"
        self.cause = f"{error.status}: {error.reason}"
        transport: Any = self.transport
        if transport is not None:
            transport.write(build_rejection(error))
            transport.loseConnection()
        self.observer.failed(self.conn_id, self.peer, error.status, error.reason)

    def _timed_out(self) -> None:
        self._timer = None
        if self.stage in ("request", "connecting"):
            self._answer(HandshakeError("no complete handshake in time", 408))

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    # -- messages and closes across -------------------------------------------------------

    def to_server(self, message: MessageReceived) -> None:
        if not self._held(Role.SERVER, message):
            self._send_server(message.opcode, message.data)

    def to_client(self, message: MessageReceived) -> None:
        if not self._held(Role.CLIENT, message):
            self._send_client(message.opcode, message.data)

    def _send_server(self, opcode: int, data: bytes) -> None:
        session = self.session
        if session is not None and session.is_open:
            session.conn.send_message(opcode, data)
            session.wire.flush()

    def _send_client(self, opcode: int, data: bytes) -> None:
        wire = self.client_wire
        if wire is not None and wire.conn.state is State.OPEN:
            wire.conn.send_message(opcode, data)
            wire.flush()

    # -- holding (the prompt's /hold, /drop, /edit, /release) -----------------------------

    def hold(self, toward: Role, on_held: Callable[[dict[str, Any]], None] | None) -> None:
        """Keep the messages that go toward ``toward``, and a Close after them."""
        self.holding.setdefault(toward, [])
        self._on_held = on_held

    def _held(self, toward: Role, message: MessageReceived) -> bool:
        if toward not in self.holding:
            return False
        kept = HeldMessage(
            number=self.proxy.held_numbers(),
            opcode=message.opcode,
            frames=message.frames,
            wire_size=message.wire_size,
            payload=message.data,  # inflated: it is sent again as a new message
        )
        self._keep(toward, kept)
        return True

    def _keep(self, toward: Role, kept: HeldMessage) -> None:
        self.holding[toward].append(kept)
        if self._on_held is not None:
            self._on_held(held_record(self.conn_id, toward, kept))

    def release(self, toward: Role) -> int:
        """Send what was held toward ``toward`` (less the dropped), a held Close last."""
        held = self.holding.pop(toward, [])
        send = self._send_server if toward is Role.SERVER else self._send_client
        sent = 0
        for message in held:
            if message.dropped:
                continue
            if message.opcode == Opcode.CLOSE:
                payload = message.payload
                code = int.from_bytes(payload[:2], "big") if payload else None
                self._close_toward(toward, code, payload[2:].decode("utf-8", "replace"))
            else:
                send(message.opcode, message.payload)
            sent += 1
        return sent

    def hop_closed(self, hop: Role, event: ConnectionClosed, *, failed: bool) -> None:
        """One side's WebSocket closed: close the other with the same code."""
        if failed:
            # The proxy failed this side for a violation: the other side hears 1014.
            code: int | None = CloseCode.BAD_GATEWAY
            reason = f"the {hop.value} broke the protocol"
        elif event.initiator is not hop:
            return  # our own Close, passed on from the other side
        else:
            code, reason = event.code, event.reason
            code = _NOT_SENT.get(code, code) if code is not None else None
        self._close_toward(hop.peer, code, reason)

    def _close_toward(self, toward: Role, code: int | None, reason: str) -> None:
        """Close the side ``toward``, after what is held for it (the Close is held too)."""
        held = self.holding.get(toward)
        if held is None:
            close = self._close_server if toward is Role.SERVER else self._close_client
            close(code, reason)
        elif not any(message.opcode == Opcode.CLOSE for message in held):
            payload = b"" if code is None else code.to_bytes(2, "big") + reason.encode()
            self._keep(
                toward, HeldMessage(self.proxy.held_numbers(), Opcode.CLOSE, 1, 0, False, payload)
            )

    def _close_server(self, code: int | None, reason: str) -> None:
        if self.session is not None and self.session.conn.state is State.OPEN:
            self.session.close(code, reason)

    def _close_client(self, code: int | None, reason: str) -> None:
        wire = self.client_wire
        if wire is not None and wire.conn.state is State.OPEN:
            wire.conn.send_close(code, reason)
            wire.flush()

    def hop_gone(self, hop: Role, cause: str) -> None:
        """One side's TCP connection is gone: drop the other if it is still there."""
        self.gone.add(hop)
        if not self.cause:
            self.cause = f"{hop.value}: {cause}"
        if hop.peer not in self.gone:
            self._close_toward(hop.peer, CloseCode.GOING_AWAY, f"{hop.value} gone")
        if len(self.gone) == 2:
            self._finish()

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        self._cancel_timer()
        if self.client_wire is not None:
            self.client_wire.connectionLost(reason)
            return
        self.stage = "closing"
        self.gone.add(Role.CLIENT)
        if self.session is None:
            self.gone.add(Role.SERVER)
        self.cause = self.cause or "the client closed the connection"
        if len(self.gone) == 2:
            self._finish()

    def _finish(self) -> None:
        if self.stage == "done":
            return
        self.stage = "done"
        self.count_frames()
        summary = RelaySummary(
            client=self.peer,
            upstream=self.upstream_name,
            upgraded=self.session is not None,
            seconds=self.proxy.clock.seconds() - self.started,
            cause=self.cause or "closed",
            to_server=self.hops[Role.CLIENT].stats if self.session is not None else None,
            to_client=self.hops[Role.SERVER].stats if self.session is not None else None,
        )
        self.observer.closed(self.conn_id, summary)
        self.proxy.forget(self)

    def count_frames(self) -> None:
        """Frames and bytes each side sent, from its connection's counters.

        Without ``record_frames`` (``-q``) a connection reports no frame
        events; its counters still count every frame received.
        """
        for hop, wire in ((Role.CLIENT, self.client_wire), (Role.SERVER, self.session)):
            if wire is not None:
                stats, conn = self.hops[hop].stats, wire.conn
                if not stats.frames:
                    stats.frames, stats.wire_bytes = conn.frames_received, conn.bytes_received

    def stop(self) -> None:
        """The proxy is stopping: Close 1001 both ways (the wires' timers drop the rest)."""
        self.cause = self.cause or "the proxy stopped"
        if self.client_wire is not None:
            self.client_wire.close(CloseCode.GOING_AWAY, "proxy stopping")
        if self.session is not None and self.session.is_open:
            self.session.close(CloseCode.GOING_AWAY, "proxy stopping")
        if self.client_wire is None and self.transport is not None:
            self.transport.loseConnection()


class TerminatingProxy(Factory):
    """Accepts clients and terminates each one's WebSocket, with its own connection upstream.

    Args:
        options: the upstream and limits (as for relay mode).
        observer: where both hops are reported.
        reactor: the reactor.
        upstream_ca: PEM certificates to trust for a wss:// upstream.
        insecure: do not verify the upstream's certificate.
        keylog: where the upstream TLS secrets go (``SSLKEYLOGFILE``).

    In forward mode (a :class:`~wstool.net.forward.ForwardProxy` hands it
    each WebSocket request, ``options`` its ``ForwardOptions``) it accepts no
    connection itself: :meth:`new_link` takes each one over.
    """

    def __init__(
        self,
        options: ProxyOptions | Any,
        observer: TerminateObserver,
        reactor: Any,
        *,
        upstream_ca: str | None = None,
        insecure: bool = False,
        keylog: Any = None,
    ) -> None:
        self.options = options
        self.keylog = keylog
        self.observer = observer
        self.reactor = reactor
        self.clock = reactor
        self.upstream_ca = upstream_ca
        self.insecure = insecure
        self.links: set[_Link] = set()
        self.held_numbers = itertools.count(1).__next__
        """Numbers held messages across connections (``/drop N``)."""
        self._next_id = 1
        self.noisy = False

    def buildProtocol(self, addr: Any) -> _Link:
        host = getattr(addr, "host", "?")
        peer = f"[{host}]:{addr.port}" if ":" in str(host) else f"{host}:{addr.port}"
        link = self.new_link(self._next_id, peer, reverse_upstream(self.options.upstream))
        self._next_id += 1
        return link

    def new_link(self, conn_id: int, peer: str, upstream_for: UpstreamFor) -> _Link:
        """A terminated connection whose request goes to ``upstream_for(request)``."""
        link = _Link(self, conn_id, peer, upstream_for)
        self.links.add(link)
        return link

    def forget(self, link: _Link) -> None:
        self.links.discard(link)

    def shutdown(self) -> Any:
        """Close every connection with 1001; fire after the close timer at the latest."""
        from twisted.internet.task import deferLater

        for link in list(self.links):
            link.stop()
        if not self.links:
            return None
        return deferLater(self.clock, 1.0, lambda: None)
