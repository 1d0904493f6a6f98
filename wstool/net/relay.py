"""One proxied WebSocket connection in relay mode: bytes forwarded untouched, a copy decoded.

A :class:`Relay` joins two TCP connections, the client's (accepted by the
proxy) and the upstream's (opened by it). Its life has four stages:

1. the client's request head is read (any bytes behind it are kept);
2. the proxy connects upstream and sends the request as rewritten by its
   caller (``Host``, the path), then the bytes kept;
3. the upstream's answer goes back byte for byte as it arrives; once its
   head is complete, a 101 makes the connection a relay, anything else a
   refusal whose body is passed on until it ends;
4. relay: every read from one side is written to the other first, then fed
   to that direction's :class:`~wstool.core.tap.StreamTap`, whose findings
   go to the observer. Nothing is ever answered, added or dropped: the
   endpoints decide what a violation means.

Each transport is the other's producer, so a side that does not read slows
the side that writes to it (memory stays bounded by what is in flight); a
half-close (FIN) is passed on as a half-close.
"""

from __future__ import annotations

import contextlib
import itertools
import os
from collections.abc import Callable, Sequence
from typing import Any, NamedTuple, Protocol

from twisted.internet.defer import Deferred, succeed
from twisted.internet.interfaces import (
    IDelayedCall,
    IHalfCloseableProtocol,
    IReactorTime,
    ISSLTransport,
)
from twisted.internet.protocol import ClientFactory
from twisted.internet.protocol import Protocol as TwistedProtocol
from twisted.python.failure import Failure
from zope.interface import implementer

from wstool.core.errors import HandshakeError
from wstool.core.frames import CloseCode, Role, encode_frame
from wstool.core.handshake import build_rejection
from wstool.core.held import HeldMessage, HeldQueue
from wstool.core.http import RequestHead, parse_request_head, parse_response_head
from wstool.core.inspect import HandshakeReport, negotiated_deflate
from wstool.core.tap import DEFAULT_INSPECT_LIMIT, RelaySummary, StreamTap, TapItem
from wstool.net.sockwrite import direct, write_now

__all__ = ["Relay", "RelayObserver", "Route", "Side"]

_BODY_SHOWN = 4096
"""Bytes of a refusal's body kept for the observer."""
_HOLD_LIMIT = 1 << 20
"""Held bytes beyond which the holding side is no longer read (until released)."""
_EARLY_KEPT = 1 << 20
"""Client bytes sent before the 101 kept for the tap (beyond, they are only relayed)."""


class Route(NamedTuple):
    """Where a client's request goes, decided from its head.

    Attributes:
        name: the upstream as shown in reports (a URL).
        request: the head to send upstream.
        connect: opens the upstream connection for a :class:`Side`; returns a
            Deferred that fails when it cannot.
        websocket: whether the request is a WebSocket upgrade; anything else
            is relayed untouched, without decoding, from the start.
    """

    name: str
    request: bytes
    connect: Callable[[Side], Any]
    websocket: bool = True


class RelayObserver(Protocol):
    """What a relay reports to (the proxy's log, a test, or nothing)."""

    wants_frames: bool
    """Whether every frame and message is wanted, or only violations and closes."""

    def request(
        self, conn_id: int, client: str, upstream: str, received: bytes, sent: bytes
    ) -> None:
        """The client's request head as received, and as sent upstream."""

    def answered(self, conn_id: int, response: bytes, body: bytes) -> None:
        """The upstream's answer: a 101 head, or a refusal's head and (the start of) its body."""

    def failed(self, conn_id: int, client: str, status: int, reason: str) -> None:
        """The proxy answered the client itself (400, 502, 504): ``reason`` in one line."""

    def items(self, conn_id: int, sender: Role, items: Sequence[TapItem]) -> None:
        """What the tap of one direction found, in order (``sender`` sent those bytes)."""

    def closed(self, conn_id: int, summary: RelaySummary) -> None:
        """Both TCP connections are gone."""

    def injected(self, conn_id: int, toward: Role, data: bytes) -> None:
        """The prompt put ``data`` (a frame, or forged bytes) into the stream toward ``toward``."""


@implementer(IHalfCloseableProtocol)
class Side(TwistedProtocol):
    """One of a relay's two TCP connections; its reads go to the :class:`Relay`.

    Args:
        relay: the relay it belongs to.
        role: which end is at the other end of this connection (the client
            for the accepted connection, the server for the upstream one).
    """

    def __init__(self, relay: Relay, role: Role) -> None:
        self.relay = relay
        self.role = role
        self.other: Side | None = None
        self.tap: StreamTap | None = None
        self.read_closed = False
        self.lost = False
        self.relaying = False
        self.held: HeldQueue | None = None
        """What this side sent while held, or None when not held."""
        self.keeps_context = False
        """This side compresses with context takeover: its messages depend on the ones before."""
        self.injections: list[tuple[bytes, bool]] = []

    def dataReceived(self, data: bytes) -> None:
        if not self.relaying:
            self.relay.before_upgrade(self, data)
            return
        # Write to the other side first: decoding the copy must not delay it.
        other = self.other
        held: list[HeldMessage] = []
        if self.held is not None:
            held = self._hold(data)
        elif other is not None and not other.lost:
            other.pass_on(data)
        tap = self.tap
        if tap is not None:
            found = tap.feed(data)
            if found:
                self.relay.report(self.role, found)
            if self.injections:
                self._inject_waiting()
        if held and self.relay.on_held is not None:  # after the log has shown them
            self.relay.on_held(self.relay, self.role, held)

    # -- steering: frames put into this side's stream, and holding it -------------------

    def inject(self, frame: bytes, *, data_frame: bool) -> bool:
        """Put ``frame`` into the stream this side sends, at the next frame boundary.

        Returns:
            Whether it was written (or queued behind held bytes) now; if not,
            it waits for the end of the frame (or message) in progress.
        """
        self.injections.append((frame, data_frame))
        return self._inject_waiting()

    def _inject_waiting(self) -> bool:
        tap = self.tap
        if tap is None:
            return False
        # A control frame may go ahead of a data frame that waits for the end
        # of a fragmented message (RFC 6455 §5.4); data frames keep their order.
        waiting: list[tuple[bytes, bool]] = []
        done = False
        for frame, data_frame in self.injections:
            if tap.at_boundary(data_frame=data_frame) and not (data_frame and waiting):
                self._send_on(frame)
                done = True
            else:
                waiting.append((frame, data_frame))
        self.injections = waiting
        return done

    def _send_on(self, data: bytes) -> None:
        if self.held is not None:
            self.held.insert(data)
        elif self.other is not None:
            self.other.write(data)

    @property
    def held_size(self) -> int:
        """Bytes held (0 when not holding)."""
        return 0 if self.held is None else self.held.size

    def hold(self) -> None:
        """Keep what this side sends instead of passing it on (until :meth:`release`).

        Holding starts where the next frame does: the rest of a frame in
        progress is held too, but never counted as a message of its own.
        """
        if self.held is None:
            tap = self.tap
            cut, in_message = tap.in_progress() if tap is not None else (b"", False)
            self.held = HeldQueue(
                self.role,
                next_number=self.relay.held_numbers,
                sent_prefix=cut,
                in_message=in_message,
                parse=tap is not None and not tap.stopped,
                max_frame_size=self.relay.inspect_limit,
            )

    def _hold(self, data: bytes) -> list[HeldMessage]:
        """Keep ``data``; return the messages it completes."""
        held = self.held
        assert held is not None
        found = held.feed(data)
        if held.size > _HOLD_LIMIT and not self.lost and self.transport is not None:
            self.transport.pauseProducing()  # type: ignore[attr-defined]
        return found

    def release(self) -> int:
        """Pass on what was held, in order (less what was dropped or edited); return its size."""
        held, self.held = self.held, None
        data = held.release() if held is not None else b""
        if data and self.other is not None:
            self.other.write(data)
        if not self.lost and self.transport is not None:
            self.transport.resumeProducing()  # type: ignore[attr-defined]
        return len(data)

    def close_going_away(self) -> None:
        """The proxy stops: a Close 1001 to the peer this side sends to, then close it.

        Only at a frame boundary of what the peer has received; otherwise the
        peer's connection is just closed. RFC 6455 §7.4.1: 1001 "indicates
        that an endpoint is "going away", such as a server going down".
        """
        receiver, tap, held = self.other, self.tap, self.held
        if receiver is None or receiver.lost:
            return
        at_boundary = tap is not None and (
            tap.at_boundary(data_frame=False) if held is None else held.started_clean
        )
        # RFC 6455 §5.5.1: one Close per direction; after a Close went by, none.
        closed = tap is None or tap.stats.close is not None
        if at_boundary and not closed and not self.read_closed:
            key = os.urandom(4) if receiver.role is Role.SERVER else None
            payload = CloseCode.GOING_AWAY.to_bytes(2, "big") + b"proxy stopping"
            frame = encode_frame(0x8, payload, mask_key=key)
            receiver.write(frame)
            self.relay.observer.injected(self.relay.conn_id, receiver.role, frame)
        receiver.close()

    def connectionMade(self) -> None:
        if self.role is Role.CLIENT:
            self.relay.client_connected(self)
        else:
            self.relay.upstream_connected(self)

    def readConnectionLost(self) -> None:
        """The peer half-closed (FIN): pass it on, and close for good once both have."""
        self.read_closed = True
        self.relay.half_closed(self)

    def writeConnectionLost(self) -> None:
        if self.read_closed and self.transport is not None:
            self.transport.loseConnection()

    def connectionLost(self, reason: Failure = Failure(ConnectionError())) -> None:  # noqa: B008
        self.lost = True
        self.relay.side_lost(self, reason)

    def pass_on(self, data: bytes) -> None:
        """Write relayed bytes to this side: on plain TCP at once, as far as the socket
        takes them (net.sockwrite), else through the transport's queue."""
        transport: Any = self.transport
        if direct(transport):
            write_now(transport, (data,))
        else:
            transport.write(data)

    def write(self, data: bytes) -> None:
        """Write to this side, unless it is gone."""
        if not self.lost and self.transport is not None:
            self.transport.write(data)

    def close(self, *, abort: bool = False) -> None:
        """Close this side: after what is buffered is written, or at once."""
        transport: Any = self.transport
        if self.lost or transport is None:
            return
        if abort:
            transport.abortConnection()
            return
        # Twisted's TLS layer holds its close_notify, and so the close, while a
        # producer is registered: the other side's transport is ours.
        with contextlib.suppress(RuntimeError):  # none registered (a test's transport)
            transport.unregisterProducer()
        transport.loseConnection()


class Relay:
    """One proxied connection, from the client's request to both closes.

    Args:
        conn_id: the number that names it in reports.
        client_peer: the client's address, for reports.
        observer: where everything is reported.
        clock: the reactor's clock (timers, durations).
        route: the client's request head -> its :class:`Route`; raises
            :class:`HandshakeError` to refuse.
        handshake_timeout: seconds for the client's request and then for the
            upstream's answer (504 after it); ``None`` waits for ever.
        max_request_size: the largest request head (431 beyond it).
        inspect_limit: frames and messages larger than this are relayed
            but not decoded.
        on_done: called once both connections are gone.
        held_numbers: numbers held messages (shared by a proxy's relays, so
            that a number names one message).
    """

    def __init__(
        self,
        conn_id: int,
        client_peer: str,
        observer: RelayObserver,
        clock: IReactorTime,
        route: Callable[[RequestHead], Route],
        *,
        handshake_timeout: float | None = 10.0,
        max_request_size: int = 16384,
        inspect_limit: int = DEFAULT_INSPECT_LIMIT,
        on_done: Callable[[Relay], None] | None = None,
        held_numbers: Callable[[], int] | None = None,
    ) -> None:
        self.conn_id = conn_id
        self.client_peer = client_peer
        self.observer = observer
        self.clock = clock
        self.route = route
        self.websocket = True
        self.handshake_timeout = handshake_timeout
        self.max_request_size = max_request_size
        self.inspect_limit = inspect_limit
        self.on_done = on_done
        self.held_numbers = held_numbers or itertools.count(1).__next__
        self.on_held: Callable[[Relay, Role, list[HeldMessage]], None] | None = None
        """Told of each message a held side completes (the prompt shows its number)."""
        self.client = Side(self, Role.CLIENT)
        self.upstream: Side | None = None
        self.upstream_name = ""
        self.stage = "request"
        self.cause = ""
        self.upgraded = False
        self.started = clock.seconds()
        self._buffer = b""
        self._early: list[bytes] = []
        self._early_size = 0
        self._body = b""
        self._body_left: int | None = None
        self._timer: IDelayedCall | None = None
        self._taps: dict[Role, StreamTap] = {}
        self._done = False

    # -- stage 1: the client's request --------------------------------------------

    def client_connected(self, side: Side) -> None:
        if self.handshake_timeout:
            self._timer = self.clock.callLater(self.handshake_timeout, self._timed_out)

    def before_upgrade(self, side: Side, data: bytes) -> None:
        """Bytes from either side before the connection became a relay."""
        if side is self.client:
            self._from_client(data)
        else:
            self._from_upstream(data)

    def _from_client(self, data: bytes) -> None:
        if self.stage == "request":
            self._buffer += data
            self._read_request()
        elif self.stage == "connecting":
            self._buffer += data
        elif self.stage in ("response", "refused"):
            assert self.upstream is not None
            self.upstream.write(data)
            self._keep_early(data)

    def _read_request(self) -> None:
        try:
            parsed = parse_request_head(self._buffer, max_size=self.max_request_size)
            if parsed is None:
                return
            head, used = parsed
            route = self.route(head)
        except HandshakeError as exc:
            self._answer_ourselves(exc.status, exc.reason)
            return
        self._buffer = self._buffer[used:]
        self.upstream_name, sent, self.websocket = route.name, route.request, route.websocket
        self.observer.request(self.conn_id, self.client_peer, self.upstream_name, head.raw, sent)
        self.stage = "connecting"
        self._pause(self.client)
        upstream = Side(self, Role.SERVER)
        upstream.other = self.client
        self.client.other = upstream
        self.upstream = upstream
        self._request = sent
        connecting = route.connect(upstream)
        connecting.addErrback(self._unreachable)

    # -- stage 2: upstream ----------------------------------------------------------

    def upstream_connected(self, side: Side) -> None:
        """The upstream connection is open: send the request and what followed it."""
        if self.stage != "connecting":
            side.close()
            return
        self.stage = "response"
        side.write(self._request + self._buffer)
        self._keep_early(self._buffer)
        self._buffer = b""
        if not self.websocket:
            self._opaque("")
        self._resume(self.client)
        # Each side's transport produces what the other writes: a side that
        # does not read pauses the reading of the one that writes to it.
        client_transport: Any = self.client.transport
        upstream_transport: Any = side.transport
        client_transport.registerProducer(upstream_transport, True)
        upstream_transport.registerProducer(client_transport, True)

    def _unreachable(self, failure: Failure) -> None:
        if self.stage != "connecting":
            return
        self._answer_ourselves(502, f"cannot reach {self.upstream_name}: {describe(failure)}")

    def _keep_early(self, data: bytes) -> None:
        if data and self._early_size < _EARLY_KEPT:
            self._early.append(data)
            self._early_size += len(data)

    # -- stage 3: the upstream's answer -----------------------------------------------

    def _from_upstream(self, data: bytes) -> None:
        self.client.write(data)  # as it came, before looking at it
        if self.stage == "refused":
            self._refusal_body(data)
            return
        if self.stage != "response":
            return
        self._buffer += data
        try:
            parsed = parse_response_head(self._buffer, max_size=self.max_request_size * 4)
        except HandshakeError as exc:
            self._opaque(f"the upstream's answer is not HTTP: {exc.reason}")
            return
        if parsed is None:
            return
        head, used = parsed
        rest, self._buffer = self._buffer[used:], b""
        self._cancel_timer()
        if head.status == 101:
            self.observer.answered(self.conn_id, head.raw, b"")
            self._start_relay(head.raw, rest)
        else:
            self.stage = "refused"
            self._response = head.raw
            length = head.get("content-length")
            self._body_left = int(length) if length is not None and length.isdigit() else None
            self._refusal_body(rest)

    def _refusal_body(self, data: bytes) -> None:
        if len(self._body) < _BODY_SHOWN:
            self._body += data[: _BODY_SHOWN - len(self._body)]
        if self._body_left is not None:
            self._body_left -= len(data)
            if self._body_left <= 0:
                self._end_refusal()

    def _end_refusal(self) -> None:
        if self.stage != "refused":
            return
        self.stage = "closing"
        self.cause = "refused by the upstream"
        self.observer.answered(self.conn_id, self._response, self._body)
        self.client.close()
        if self.upstream is not None:
            self.upstream.close()

    def _opaque(self, why: str) -> None:
        """Relay without decoding: not a WebSocket request, or an answer that is not HTTP."""
        self._cancel_timer()
        self.cause = self.cause or why
        self._early = []
        self.stage = "relay"
        self._buffer = b""
        for side in (self.client, self.upstream):
            if side is not None:
                side.relaying = True

    # -- stage 4: relay ------------------------------------------------------------------

    def _start_relay(self, response: bytes, rest: bytes) -> None:
        self.stage = "relay"
        self.upgraded = True
        deflate = negotiated_deflate(HandshakeReport("response", response))
        record = self.observer.wants_frames
        limit = self.inspect_limit
        taps = {
            role: StreamTap(role, deflate=deflate, record_frames=record, limit=limit)
            for role in (Role.CLIENT, Role.SERVER)
        }
        self._taps = taps
        assert self.upstream is not None
        self.client.tap, self.upstream.tap = taps[Role.CLIENT], taps[Role.SERVER]
        if deflate is not None:
            self.client.keeps_context = not deflate.client_no_context_takeover
            self.upstream.keeps_context = not deflate.server_no_context_takeover
        self.client.relaying = self.upstream.relaying = True
        early, self._early = b"".join(self._early), []
        for role, data in ((Role.SERVER, rest), (Role.CLIENT, early)):
            found = taps[role].feed(data) if data else []
            if found:
                self.report(role, found)

    def report(self, sender: Role, found: Sequence[TapItem]) -> None:
        """What a tap found goes to the observer."""
        self.observer.items(self.conn_id, sender, found)

    # -- closing -----------------------------------------------------------------------

    def half_closed(self, side: Side) -> None:
        """``side``'s peer sent FIN: send FIN on to the other side (or close, if it has too)."""
        if not self.cause:
            who = "client" if side.role is Role.CLIENT else "server"
            self.cause = f"the {who} closed the connection"
        other = side.other
        if other is None or other.lost or other.read_closed or not side.relaying:
            side.close()
            if other is not None:
                other.close()
            return
        transport: Any = other.transport
        lose_write = getattr(transport, "loseWriteConnection", None)
        if lose_write is None or ISSLTransport.providedBy(transport):
            other.close()  # TLS ends with close_notify, not with a half-close
        else:
            lose_write()

    def side_lost(self, side: Side, reason: Failure) -> None:
        """One TCP connection is gone: close the other after what it has to write."""
        if not self.cause:
            who = "client" if side.role is Role.CLIENT else "server"
            self.cause = _lost_cause(who, reason)
        if self.stage == "refused":
            self._end_refusal()
        elif self.stage == "response" and side is self.upstream:
            self._answer_ourselves(
                502, f"{self.upstream_name} closed the connection without answering"
            )
        elif self.stage == "connecting":
            self.stage = "closing"  # the upstream connection is closed once it opens
        other = side.other
        if other is not None and not other.lost:
            other.close()
        upstream = self.upstream
        if self.client.lost and (upstream is None or upstream.lost or upstream.transport is None):
            self._finish()

    def _finish(self) -> None:
        if self._done:
            return
        self._done = True
        self._cancel_timer()
        for role, tap in self._taps.items():
            found = tap.finish()
            if found:
                self.report(role, found)
        summary = RelaySummary(
            client=self.client_peer,
            upstream=self.upstream_name,
            upgraded=self.upgraded,
            seconds=self.clock.seconds() - self.started,
            cause=self.cause or "closed",
            to_server=self._taps[Role.CLIENT].stats if self._taps else None,
            to_client=self._taps[Role.SERVER].stats if self._taps else None,
        )
        self.observer.closed(self.conn_id, summary)
        if self.on_done is not None:
            self.on_done(self)

    def stop(self, cause: str) -> None:
        """The proxy is stopping: a Close 1001 each way on a WebSocket, else close at once."""
        self.cause = self.cause or cause
        upstream = self.upstream
        if self.upgraded and upstream is not None:
            self.client.close_going_away()
            upstream.close_going_away()
            return
        self.stage = "closing" if self.stage != "relay" else self.stage
        for side in (self.client, upstream):
            if side is not None:
                side.close(abort=True)

    # -- helpers -------------------------------------------------------------------------

    def _answer_ourselves(self, status: int, reason: str) -> None:
        """Answer the client with an HTTP error and one line, and close."""
        self._cancel_timer()
        self.stage = "closing"
        self.cause = f"{status}: {reason}"
        self.client.write(build_rejection(HandshakeError(reason, status)))
        self._resume(self.client)
        self.client.close()
        if self.upstream is not None:
            self.upstream.close()
        self.observer.failed(self.conn_id, self.client_peer, status, reason)

    def _timed_out(self) -> None:
        self._timer = None
        if self.stage == "request":
            self._answer_ourselves(408, "no complete request in time")
        elif self.stage in ("connecting", "response"):
            self._answer_ourselves(504, f"no answer from {self.upstream_name} in time")

    def _cancel_timer(self) -> None:
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    @staticmethod
    def _pause(side: Side) -> None:
        transport: Any = side.transport
        if transport is not None and not side.lost:
            transport.pauseProducing()

    @staticmethod
    def _resume(side: Side) -> None:
        transport: Any = side.transport
        if transport is not None and not side.lost:
            transport.resumeProducing()


def _lost_cause(who: str, reason: Failure) -> str:
    from twisted.internet.error import ConnectionDone

    if reason.check(ConnectionDone):
        return f"the {who} closed the connection"
    text = str(reason.value) or type(reason.value).__name__
    return f"the {who}'s connection was lost ({text.splitlines()[0]})"


def describe(failure: Failure) -> str:
    """Why a connection could not be made, in a few words."""
    value = failure.value
    name = type(value).__name__
    if "ConnectionRefused" in name:
        return "connection refused"
    if "DNSLookup" in name:
        return "cannot resolve the host name"
    if "Timeout" in name:
        return "timed out"
    text = str(value).strip().splitlines()
    return text[0] if text else name


class UpstreamFactory(ClientFactory):
    """Connects a proxy's upstream :class:`Side` (the protocol exists before the connection)."""

    def __init__(self, side: Side) -> None:
        self.side = side

    def buildProtocol(self, addr: Any) -> Side:
        return self.side


def stop_relays(
    relays: set[Relay], waiting: list[Deferred[None]], clock: Any, cause: str
) -> Deferred[None]:
    """Stop every relay of a proxy; fire when all are reported gone, or after 2 s.

    ``waiting`` is the proxy's list of such Deferreds, which :func:`all_gone` fires.
    """
    if not relays:
        return succeed(None)
    done: Deferred[None] = Deferred()
    waiting.append(done)
    for relay in list(relays):
        relay.stop(cause)
    timer = clock.callLater(2.0, all_gone, waiting)

    def stop_timer(result: None) -> None:
        if timer.active():
            timer.cancel()
        return result

    done.addCallback(stop_timer)
    return done


def all_gone(waiting: list[Deferred[None]]) -> None:
    """Fire (once) what :func:`stop_relays` returned."""
    fired = waiting[:]
    waiting.clear()
    for done in fired:
        done.callback(None)
