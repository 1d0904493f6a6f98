"""``serve --redis``: broadcast across serve processes and machines through Redis pub/sub.

A message a client broadcasts goes at once to the clients of its own
process (as without Redis) and is published, in an envelope, to the channel
``wstool:<request path>``. Every bridge subscribes to ``wstool:*`` and
delivers what others published to its own clients, so that serve instances
behind a load balancer behave as one broadcast server (which, like one
serve, sends every message to every other client, whatever its path).

The envelope (:func:`encode_envelope`) carries the opcode (text and binary
survive), the publishing bridge's random origin and a sequence number: a
bridge drops its own messages (its clients already have them) and any
sequence number it has seen (no message is delivered twice), and counts the
gaps. Messages are published in order on one connection, and Redis delivers
each subscriber a publisher's messages in that order, so order per
publisher holds. A message on the channel without the envelope (``redis-cli
publish wstool:/chat hello``) is delivered as text if it is UTF-8, else as
binary.

Redis lost while running: local broadcast goes on, both connections come
back with backoff, and nothing is queued for later (a message relayed late
would break the order with the local ones). What could not be published is
counted and reported when Redis is back. A PUBLISH sent but never answered
is counted too (it may or may not have gone out): it is never sent again.

Redis slower than the clients that publish: once more than 16 MiB of
PUBLISHes wait for Redis's answer, :meth:`RedisBridge.publish` returns a
Deferred that fires when they are down to 4 MiB, and serve reads nothing
more from the publishing client until then (a broadcast that cannot be
relayed at the pace it comes in is slowed down, not buffered without end).

The Redis client is txredisapi (on Twisted's reactor, as serve is; imported
only when ``--redis`` is given).
"""

from __future__ import annotations

import os
import struct
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from twisted.internet.defer import Deferred

from wstool.core.frames import Opcode

__all__ = [
    "CHANNEL_PREFIX",
    "Envelope",
    "RedisAddress",
    "RedisBridge",
    "RelayState",
    "channel_for",
    "decode_envelope",
    "encode_envelope",
    "parse_redis_url",
    "probe",
]

CHANNEL_PREFIX = b"wstool:"
_MAGIC = b"\x00ws1"
_HEADER = struct.Struct("!4sB8sQ")
CONNECT_TIMEOUT = 5.0
BACKLOG_HIGH = 16 * 2**20
"""PUBLISHed bytes waiting for Redis beyond which publishers are held."""
BACKLOG_LOW = 4 * 2**20
"""...and the backlog they are let go at."""


@dataclass(frozen=True)
class RedisAddress:
    """Where Redis is: ``redis://[[user]:password@]host[:port][/db]``."""

    host: str
    port: int = 6379
    db: int = 0
    username: str | None = None
    password: str | None = None

    def __str__(self) -> str:  # never shows the password
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"redis://{host}:{self.port}/{self.db}"


def parse_redis_url(text: str) -> RedisAddress:
    """A ``redis://`` URL -> :class:`RedisAddress`.

    Raises:
        ValueError: with a message that says what is wrong.
    """
    parts = urlsplit(text)
    if parts.scheme != "redis":
        raise ValueError(f"{text!r} is not a redis://host:port/db URL")
    try:
        port = parts.port or 6379
    except ValueError:
        raise ValueError(f"{text!r}: the port is not a number from 1 to 65535") from None
    if not parts.hostname:
        raise ValueError(f"{text!r}: no host")
    db_text = parts.path.strip("/") or "0"
    if not db_text.isdigit():
        raise ValueError(f"{text!r}: the database is not a number")
    return RedisAddress(
        host=parts.hostname,
        port=port,
        db=int(db_text),
        username=unquote(parts.username) if parts.username else None,
        password=unquote(parts.password) if parts.password is not None else None,
    )


def channel_for(path: bytes) -> bytes:
    """The channel of a request path: ``wstool:/chat``."""
    return CHANNEL_PREFIX + path


@dataclass(frozen=True)
class Envelope:
    """A broadcast message as published: ``origin`` None for one without an envelope."""

    opcode: int
    data: bytes
    origin: bytes | None = None
    seq: int = 0


def encode_envelope(origin: bytes, seq: int, opcode: int, data: bytes) -> bytes:
    """The message as published: magic, opcode, 8-byte origin, 8-byte sequence, payload."""
    return _HEADER.pack(_MAGIC, opcode, origin, seq) + data


def decode_envelope(raw: bytes) -> Envelope:
    """A published message -> :class:`Envelope`; one without our envelope is taken as it is."""
    if raw[:4] == _MAGIC and len(raw) >= _HEADER.size:
        _, opcode, origin, seq = _HEADER.unpack_from(raw)
        if opcode in (Opcode.TEXT, Opcode.BINARY):
            return Envelope(opcode, raw[_HEADER.size :], origin, seq)
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return Envelope(Opcode.BINARY, raw)
    return Envelope(Opcode.TEXT, raw)


class RelayState:
    """What a bridge decides, without I/O: what to publish, what to deliver, what was lost.

    Args:
        origin: this bridge's 8 random bytes.
    """

    def __init__(self, origin: bytes) -> None:
        self.origin = origin
        self.up = False
        self.seq = 0
        self.lost = 0
        """Messages not relayed since the last :meth:`back_up`."""
        self.missed = 0
        """Messages of other bridges never received (gaps in their sequences)."""
        self._last_seen: dict[bytes, int] = {}

    def outbound(self, path: bytes, opcode: int, data: bytes) -> tuple[bytes, bytes] | None:
        """The channel and message to publish, or None (Redis is away: counted as lost)."""
        if not self.up:
            self.lost += 1
            return None
        self.seq += 1
        return channel_for(path), encode_envelope(self.origin, self.seq, opcode, data)

    def inbound(self, raw: bytes) -> Envelope | None:
        """A published message -> what to deliver to this process's clients, or None
        (ours, or seen already)."""
        envelope = decode_envelope(raw)
        origin = envelope.origin
        if origin is None:
            return envelope
        if origin == self.origin:
            return None
        last = self._last_seen.get(origin, 0)
        if envelope.seq <= last:
            return None
        self.missed += envelope.seq - last - 1 if last else 0
        self._last_seen[origin] = envelope.seq
        return envelope

    def take_lost(self) -> int:
        """The count of messages not relayed since the last call."""
        lost, self.lost = self.lost, 0
        return lost


def _client_error(failure: Any) -> str:
    text = str(failure.getErrorMessage())
    for prefix in ("Redis error: could not connect: ", "Redis error: "):
        text = text.removeprefix(prefix)
    return text.rstrip(".") or str(failure.type.__name__)


def probe(address: RedisAddress) -> Deferred[None]:
    """Connect, authenticate, select the database and PING once; errback with a short reason."""
    import txredisapi

    connecting = txredisapi.Connection(
        address.host,
        address.port,
        dbid=address.db,
        reconnect=False,
        charset=None,
        password=address.password,
        username=address.username,
        connectTimeout=CONNECT_TIMEOUT,
        replyTimeout=CONNECT_TIMEOUT,
    )

    def ping(handler: Any) -> Any:
        return handler.ping().addBoth(
            lambda result: handler.disconnect().addCallback(lambda _: result)
        )

    def checked(result: Any) -> None:
        if isinstance(result, Exception):
            raise result

    done: Deferred[None] = connecting.addCallback(ping).addCallback(checked)
    return done.addErrback(lambda failure: _raise(RuntimeError(_client_error(failure))))


def _raise(exc: Exception) -> None:
    raise exc


class RedisBridge:
    """A subscribing and a publishing connection to Redis, kept up with backoff.

    Args:
        address: where Redis is.
        deliver: ``deliver(opcode, data)`` sends a message to every local client.
        say: writes one line about the bridge (lost, back, messages not relayed).
        origin: 8 bytes naming this bridge (random by default).
    """

    def __init__(
        self,
        address: RedisAddress,
        deliver: Callable[[int, bytes], None],
        say: Callable[[str], None],
        origin: bytes | None = None,
    ) -> None:
        self.address = address
        self.deliver = deliver
        self.say = say
        self.state = RelayState(origin or os.urandom(8))
        self._publisher: Any = None
        self._factories: list[Any] = []
        self._reported_missed = 0
        self._away_reason: str | None = None
        self._subscribed = False
        self._stopping = False
        self._ready: Deferred[None] | None = None
        self.backlog = 0
        """Bytes published and not yet answered by Redis."""
        self._drained: Deferred[None] | None = None

    # -- the site's relay hook --------------------------------------------------

    def publish(self, path: bytes, opcode: int, data: bytes) -> Deferred[None] | None:
        """Publish a local client's broadcast (the site's ``relay``).

        Returns:
            None, or (Redis behind by more than ``BACKLOG_HIGH``) a Deferred
            that fires once the backlog is down to ``BACKLOG_LOW``: the
            publishing client should not be read from until then.
        """
        message = self.state.outbound(path, opcode, data)
        if message is None:
            return None
        size = len(data)
        self.backlog += size
        answered = self._publisher.publish(*message)
        answered.addErrback(self._not_published)
        answered.addBoth(self._answered, size)
        if self.backlog <= BACKLOG_HIGH:
            return None
        if self._drained is None:
            self._drained = Deferred()
        return self._drained

    def _not_published(self, failure: Any) -> None:
        self.state.lost += 1

    def _answered(self, result: object, size: int) -> None:
        self.backlog -= size
        if self._drained is not None and self.backlog <= BACKLOG_LOW:
            drained, self._drained = self._drained, None
            drained.callback(None)

    # -- connections --------------------------------------------------------------

    def start(self, reactor: Any) -> Deferred[None]:
        """Connect both sides (after :func:`probe` succeeded); they reconnect by themselves.

        Returns:
            A Deferred that fires once the bridge publishes and is subscribed.
        """
        import txredisapi
        from twisted.internet.endpoints import HostnameEndpoint

        address = self.address
        subscriber = txredisapi.SubscriberFactory(isLazy=True)
        subscriber.protocol = _subscriber_protocol(txredisapi)
        publisher = txredisapi.RedisFactory(
            str(address), address.db, 1, isLazy=True, charset=None, password=address.password
        )
        publisher.protocol = _publisher_protocol(txredisapi)
        for factory in (subscriber, publisher):
            factory.charset = None
            factory.password = address.password
            factory.username = address.username
            factory.wstool_bridge = self
            # Back within half a second of a restart, then every few seconds at most.
            factory.initialDelay, factory.factor, factory.maxDelay = 0.5, 2.0, 5.0
            endpoint = HostnameEndpoint(reactor, address.host, address.port, CONNECT_TIMEOUT)
            factory.startConnecting(endpoint)
            self._factories.append(factory)
        self._ready = Deferred()
        return self._ready

    def subscribed(self) -> None:
        self._subscribed = True
        self._fire_ready()
        self._maybe_back()

    def subscriber_down(self, reason: str) -> None:
        self._subscribed = False
        self._went_away(reason)

    def _fire_ready(self) -> None:
        if self._ready is not None and self._subscribed and self._publisher is not None:
            ready, self._ready = self._ready, None
            ready.callback(None)

    def stop(self) -> Deferred[Any]:
        """Close both connections for good."""
        from twisted.internet.defer import gatherResults

        self._stopping = True
        return gatherResults(
            [factory.disconnect() for factory in self._factories], consumeErrors=True
        )

    def publisher_up(self, protocol: Any) -> None:
        self._publisher = protocol
        self.state.up = True
        self._fire_ready()
        self._maybe_back()

    def publisher_down(self, reason: str) -> None:
        self._publisher = None
        self.state.up = False
        self._went_away(reason)

    def _went_away(self, reason: str) -> None:
        """Either connection lost: one line for both (while serve is not stopping)."""
        if self._away_reason is not None or self._stopping or self._ready is not None:
            return
        self._away_reason = reason
        self.say(f"lost Redis at {self.address} ({reason}); local broadcast goes on, reconnecting")

    def _maybe_back(self) -> None:
        """Both connections are back: one line with what could not be relayed meanwhile."""
        if self._away_reason is None or not self._subscribed or self._publisher is None:
            return
        self._away_reason = None
        lost = self.state.take_lost()
        self.say(f"Redis at {self.address} is back; {_messages(lost)} could not be relayed")

    def received(self, message: bytes) -> None:
        envelope = self.state.inbound(message)
        if envelope is not None:
            self.deliver(envelope.opcode, envelope.data)
        missed = self.state.missed
        if missed != self._reported_missed:
            self.say(
                f"{_messages(missed - self._reported_missed)} from other serve "
                "processes never came through Redis"
            )
            self._reported_missed = missed


def _messages(count: int) -> str:
    return f"{count} message" if count == 1 else f"{count} messages"


def _reason(why: Any) -> str:
    text = why.getErrorMessage() if hasattr(why, "getErrorMessage") else str(why)
    return text.rstrip(".") or "connection lost"


def _subscriber_protocol(txredisapi: Any) -> Any:
    class Subscriber(txredisapi.SubscriberProtocol):  # type: ignore[misc]
        """Subscribes to every wstool channel as soon as it is connected."""

        def connectionMade(self) -> Any:
            ready = super().connectionMade()
            ready.addCallback(lambda _: self.psubscribe([CHANNEL_PREFIX + b"*"]))
            ready.addCallback(lambda _: self.factory.wstool_bridge.subscribed())
            return ready

        def messageReceived(self, pattern: Any, channel: bytes, message: bytes) -> None:
            self.factory.wstool_bridge.received(message)

        def connectionLost(self, why: Any) -> None:
            self.factory.wstool_bridge.subscriber_down(_reason(why))
            super().connectionLost(why)

    return Subscriber


def _publisher_protocol(txredisapi: Any) -> Any:
    class Publisher(txredisapi.RedisProtocol):  # type: ignore[misc]
        """Tells the bridge when it can publish and when it no longer can."""

        def connectionMade(self) -> Any:
            ready = super().connectionMade()

            def up(_: Any) -> None:
                if self.connected:
                    self.factory.wstool_bridge.publisher_up(self)

            return ready.addCallback(up)

        def connectionLost(self, why: Any) -> None:
            self.factory.wstool_bridge.publisher_down(_reason(why))
            super().connectionLost(why)

    return Publisher
