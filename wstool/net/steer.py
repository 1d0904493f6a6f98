"""Steering live connections from the prompt: list, inject either way, hold, drop, edit, release.

:class:`RelaySteering` and :class:`TerminateSteering` are what ``wstool
proxy``'s prompt drives (the ``ProxySteering`` protocol that
:mod:`wstool.ui.proxyprompt` declares), in relay and in terminate mode.

In relay mode

* an injected frame goes into one direction's stream at the next frame
  boundary (a data frame also not inside a fragmented message), masked when
  it goes to the server (RFC 6455 §5.1) and never compressed, which RFC 7692
  allows inside a compressed session (§6: a message without RSV1 is not
  compressed);
* a held direction keeps what its sender sends, in order, until released;
  past 1 MiB the sender is no longer read. Its complete messages are
  numbered (:mod:`wstool.core.held`): one may be dropped or edited unless
  it is compressed and its sender keeps the compression context between
  messages (then every later message depends on its bytes).

In terminate mode each side is a connection of the proxy's own: injected
messages are sent as the proxy sends any (compressed where that side
negotiated it), and held messages can always be dropped or edited.

Refusals are :class:`~wstool.core.errors.UsageError` with one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from wstool.core.errors import UsageError
from wstool.core.frames import Opcode, Role, encode_frame
from wstool.core.held import HeldMessage, held_record
from wstool.net.relay import Relay, Side

__all__ = ["RelaySteering", "TerminateSteering"]

HeldNotice = Callable[[dict[str, Any]], None]
"""Told of each message that a held direction completes (a :func:`held_record`)."""

_SIDE_NAMES = {Role.SERVER: "c→s", Role.CLIENT: "s→c"}


def _said(conn_id: int, toward: Role, message: HeldMessage) -> str:
    return f"#{conn_id} {_SIDE_NAMES[toward]} held message {message.number}"


class _Connections:
    """What both steerings share: finding a connection by number."""

    def __init__(self, connections: Callable[[], Iterable[Any]]) -> None:
        self._connections = connections

    def _find(self, conn_id: int | None) -> Any:
        found = {conn.conn_id: conn for conn in self._connections()}
        if not found:
            raise UsageError("no connection is open")
        if conn_id is None:
            if len(found) > 1:
                listed = ", ".join(f"#{n}" for n in sorted(found))
                raise UsageError(f"several connections are open ({listed}): say which")
            return next(iter(found.values()))
        conn = found.get(conn_id)
        if conn is None:
            raise UsageError(f"no open connection #{conn_id} (see /conns)")
        return conn


class RelaySteering(_Connections):
    """Lists and steers the relays of one proxy.

    Args:
        relays: the proxy's live relays, in any order.
        mask_source: where mask keys come from.
        on_held: told of each message a held direction completes.
    """

    def __init__(
        self,
        relays: Callable[[], Iterable[Relay]],
        mask_source: Callable[[int], bytes] = os.urandom,
        on_held: HeldNotice | None = None,
    ) -> None:
        super().__init__(relays)
        self._relays = relays
        self._mask_source = mask_source
        self._on_held = on_held

    def connections(self) -> list[dict[str, Any]]:
        """One record per live connection, oldest first."""
        found = []
        for relay in sorted(self._relays(), key=lambda r: r.conn_id):
            record: dict[str, Any] = {
                "conn": relay.conn_id,
                "client": relay.client_peer,
                "upstream": relay.upstream_name or "(request not read yet)",
                "stage": relay.stage if relay.stage != "relay" or relay.upgraded else "tunnel",
            }
            for side, key in ((relay.client, "to_server"), (relay.upstream, "to_client")):
                tap = side.tap if side is not None else None
                if tap is not None:
                    record[key] = {"frames": tap.stats.frames, "messages": tap.stats.messages}
                if side is not None and side.held is not None:
                    record[f"{key}_held"] = side.held_size
            found.append(record)
        return found

    def inject(self, conn_id: int | None, toward: Role, opcode: int, payload: bytes) -> str:
        """Send a well-formed frame toward ``toward`` on a connection; say what happened."""
        relay, side = self._side(conn_id, toward)
        key = self._mask_source(4) if toward is Role.SERVER else None
        frame = encode_frame(opcode, payload, mask_key=key)
        return self._put(relay, side, frame, data_frame=not opcode & 0x8, toward=toward)

    def inject_raw(self, conn_id: int | None, toward: Role, data: bytes) -> str:
        """Write bytes as they are (a forged frame) toward ``toward``, at a frame boundary."""
        relay, side = self._side(conn_id, toward)
        return self._put(relay, side, data, data_frame=True, toward=toward)

    def hold(self, conn_id: int | None, toward: Role) -> str:
        """Keep what goes toward ``toward`` until released."""
        relay, side = self._side(conn_id, toward)
        side.hold()
        if self._on_held is not None:
            relay.on_held = self._notice
        return f"#{relay.conn_id}: holding what goes to the {toward.value}"

    def release(self, conn_id: int | None, toward: Role | None) -> str:
        """Pass on what was held (toward one side, or both)."""
        relay = self._find(conn_id)
        said = []
        for role in (Role.SERVER, Role.CLIENT) if toward is None else (toward,):
            side = relay.client if role is Role.SERVER else relay.upstream
            if side is not None and side.held is not None:
                changed = _changes(side.held.messages)
                size = side.release()
                said.append(f"{size} bytes to the {role.value}{changed}")
        if not said:
            raise UsageError(f"#{relay.conn_id}: nothing is held")
        return f"#{relay.conn_id}: released " + ", ".join(said)

    def held(self) -> list[dict[str, Any]]:
        """Every held message not dropped, by connection and then by number."""
        found = []
        for relay in sorted(self._relays(), key=lambda r: r.conn_id):
            for side, toward in ((relay.client, Role.SERVER), (relay.upstream, Role.CLIENT)):
                if side is not None and side.held is not None:
                    for message in side.held.messages:
                        if not message.dropped:
                            found.append(held_record(relay.conn_id, toward, message))
        return sorted(found, key=lambda record: (record["conn"], record["number"]))

    def drop(self, number: int) -> str:
        """Leave held message ``number`` out when its direction is released."""
        relay, side, message = self._held(number)
        assert side.held is not None
        side.held.drop(number)
        return f"{_said(relay.conn_id, _toward(side), message)} dropped (/release sends the rest)"

    def edit(self, number: int, payload: bytes) -> str:
        """Send ``payload`` instead of held message ``number`` (one uncompressed frame)."""
        relay, side, message = self._held(number)
        assert side.held is not None
        toward = _toward(side)
        key = self._mask_source(4) if toward is Role.SERVER else None
        side.held.edit(number, payload, key)
        return f"{_said(relay.conn_id, toward, message)} edited ({len(payload)} bytes; /release)"

    # -- helpers ------------------------------------------------------------------------

    def _notice(self, relay: Relay, sender: Role, messages: list[HeldMessage]) -> None:
        if self._on_held is not None:
            for message in messages:
                self._on_held(held_record(relay.conn_id, sender.peer, message))

    def _held(self, number: int) -> tuple[Relay, Side, HeldMessage]:
        for relay in self._relays():
            for side in (relay.client, relay.upstream):
                message = (
                    side.held.find(number) if side is not None and side.held is not None else None
                )
                if side is None or message is None:
                    continue
                if message.compressed and side.keeps_context:
                    raise UsageError(_context_kept(relay.conn_id, side, message))
                return relay, side, message
        raise UsageError(f"no held message {number} (/held lists them)")

    def _side(self, conn_id: int | None, toward: Role) -> tuple[Relay, Side]:
        """The relay, and the side whose stream goes toward ``toward``."""
        relay: Relay = self._find(conn_id)
        side = relay.client if toward is Role.SERVER else relay.upstream
        if not relay.upgraded or side is None or side.tap is None:
            raise UsageError(f"#{relay.conn_id} is not an upgraded WebSocket connection")
        if side.lost or (side.other is not None and side.other.lost):
            raise UsageError(f"#{relay.conn_id} is closing")
        return relay, side

    def _put(
        self, relay: Relay, side: Side, frame: bytes, *, data_frame: bool, toward: Role
    ) -> str:
        written = side.inject(frame, data_frame=data_frame)
        where = f"#{relay.conn_id}: {len(frame)} bytes to the {toward.value}"
        relay.observer.injected(relay.conn_id, toward, frame)
        if side.held is not None:
            return f"{where}, queued behind what is held"
        if written:
            return f"{where}, sent"
        waiting = "message" if data_frame else "frame"
        return f"{where}, waiting for the end of the {waiting} in progress"


def _toward(side: Side) -> Role:
    return side.role.peer


def _changes(messages: list[HeldMessage]) -> str:
    dropped = sum(m.dropped for m in messages)
    edited = sum(m.replacement is not None and not m.dropped for m in messages)
    said = [f"{n} {what}" for n, what in ((dropped, "dropped"), (edited, "edited")) if n]
    return f" ({', '.join(said)})" if said else ""


def _context_kept(conn_id: int, side: Side, message: HeldMessage) -> str:
    sender, receiver = side.role.value, side.role.peer.value
    return (
        f"#{conn_id} {_SIDE_NAMES[side.role.peer]} held message {message.number} is "
        f"compressed and the {sender} keeps its compression context between messages: "
        f"the {receiver} needs its bytes to inflate every later one, so it cannot be "
        "dropped or edited (release it, or run the proxy with --terminate)"
    )


class TerminateSteering(_Connections):
    """Lists and steers the connections of a terminating proxy (``--terminate``).

    Args:
        proxy: the :class:`~wstool.net.terminate.TerminatingProxy`.
        on_held: told of each message a held direction keeps.
    """

    def __init__(self, proxy: Any, on_held: HeldNotice | None = None) -> None:
        super().__init__(lambda: proxy.links)
        self._proxy = proxy
        self._on_held = on_held

    def connections(self) -> list[dict[str, Any]]:
        """One record per live connection, oldest first."""
        found = []
        for link in sorted(self._proxy.links, key=lambda k: k.conn_id):
            link.count_frames()
            record: dict[str, Any] = {
                "conn": link.conn_id,
                "client": link.peer,
                "upstream": link.upstream_name or "(request not read yet)",
                "stage": "terminated" if link.stage == "open" else link.stage,
            }
            for hop, key in ((Role.CLIENT, "to_server"), (Role.SERVER, "to_client")):
                stats = link.hops[hop].stats
                record[key] = {"frames": stats.frames, "messages": stats.messages}
                held = link.holding.get(hop.peer)
                if held is not None:
                    record[f"{key}_held"] = sum(len(m.payload) for m in held)
            found.append(record)
        return found

    def inject(self, conn_id: int | None, toward: Role, opcode: int, payload: bytes) -> str:
        """Send a message or control frame to one side, as the proxy sends any."""
        link, conn, flush = self._hop(conn_id, toward)
        if opcode == Opcode.PING:
            conn.send_ping(payload)
        elif opcode == Opcode.PONG:
            conn.send_pong(payload)
        elif opcode == Opcode.CLOSE:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            conn.send_close(code, payload[2:].decode("utf-8", "replace"))
        elif opcode in (Opcode.TEXT, Opcode.BINARY):
            conn.send_message(opcode, payload)
        else:
            raise UsageError(f"opcode {opcode} is not a message: use /forge")
        flush()
        return f"#{link.conn_id}: {len(payload)} bytes to the {toward.value}, sent"

    def inject_raw(self, conn_id: int | None, toward: Role, data: bytes) -> str:
        """Bytes as they are, between two of the proxy's own frames."""
        link, conn, flush = self._hop(conn_id, toward)
        conn.send_raw(data)
        flush()
        link.observer.injected(link.conn_id, toward, data)
        return f"#{link.conn_id}: {len(data)} bytes to the {toward.value}, sent"

    def hold(self, conn_id: int | None, toward: Role) -> str:
        """Keep the messages that go toward ``toward`` until released."""
        link, _, _ = self._hop(conn_id, toward)
        link.hold(toward, self._on_held)
        return f"#{link.conn_id}: holding what goes to the {toward.value}"

    def release(self, conn_id: int | None, toward: Role | None) -> str:
        """Send what was held (toward one side, or both)."""
        link = self._find(conn_id)
        said = []
        for role in (Role.SERVER, Role.CLIENT) if toward is None else (toward,):
            if role in link.holding:
                changed = _changes(link.holding[role])
                sent = link.release(role)
                said.append(f"{sent} messages to the {role.value}{changed}")
        if not said:
            raise UsageError(f"#{link.conn_id}: nothing is held")
        return f"#{link.conn_id}: released " + ", ".join(said)

    def held(self) -> list[dict[str, Any]]:
        """Every held message not dropped, by connection and then by number."""
        found = []
        for link in sorted(self._proxy.links, key=lambda k: k.conn_id):
            for toward, messages in sorted(link.holding.items(), key=lambda kv: kv[0].value):
                found += [held_record(link.conn_id, toward, m) for m in messages if not m.dropped]
        return sorted(found, key=lambda record: (record["conn"], record["number"]))

    def drop(self, number: int) -> str:
        """Do not send held message ``number``."""
        link, toward, message = self._held(number)
        message.dropped = True
        return f"{_said(link.conn_id, toward, message)} dropped (/release sends the rest)"

    def edit(self, number: int, payload: bytes) -> str:
        """Send ``payload`` instead of held message ``number``."""
        link, toward, message = self._held(number)
        if message.opcode == Opcode.TEXT:
            try:
                payload.decode("utf-8")
            except UnicodeDecodeError:
                raise UsageError("a text message must be UTF-8") from None
        message.payload = message.replacement = payload
        return f"{_said(link.conn_id, toward, message)} edited ({len(payload)} bytes; /release)"

    def _held(self, number: int) -> tuple[Any, Role, HeldMessage]:
        for link in self._proxy.links:
            for toward, messages in link.holding.items():
                for message in messages:
                    if message.number == number and not message.dropped:
                        if message.opcode == Opcode.CLOSE:
                            raise UsageError(
                                f"held message {number} is a Close to the {toward.value}: "
                                "it goes last, on /release"
                            )
                        return link, toward, message
        raise UsageError(f"no held message {number} (/held lists them)")

    def _hop(self, conn_id: int | None, toward: Role) -> tuple[Any, Any, Callable[[], None]]:
        """The link, the core connection toward ``toward`` and its flush."""
        link = self._find(conn_id)
        wire = link.client_wire if toward is Role.CLIENT else link.session
        if wire is None or link.stage != "open":
            raise UsageError(f"#{link.conn_id} is not an open WebSocket connection")
        if toward is Role.SERVER:
            return link, wire.conn, wire.wire.flush
        return link, wire.conn, wire.flush
