"""Steering live relays from the prompt: list them, inject frames either way, hold and release.

:class:`RelaySteering` is what ``wstool proxy``'s prompt drives (the
``ProxySteering`` protocol that :mod:`wstool.ui.proxyprompt` declares). It
works on the relays of a reverse or forward proxy in relay mode:

* an injected frame goes into one direction's stream at the next frame
  boundary (a data frame also not inside a fragmented message), masked when
  it goes to the server (RFC 6455 §5.1) and never compressed, which RFC 7692
  allows inside a compressed session (§6: a message without RSV1 is not
  compressed);
* a held direction keeps what its sender sends, in order, until released;
  past 1 MiB the sender is no longer read.

Refusals are :class:`~wstool.core.errors.UsageError` with one line.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from typing import Any

from wstool.core.errors import UsageError
from wstool.core.frames import Role, encode_frame
from wstool.net.relay import Relay, Side

__all__ = ["RelaySteering"]

_NOT_EDITABLE = (
    "relay mode passes bytes on as they come: dropping or editing one message would break "
    "the frames around it and, with permessage-deflate, the compression context of every "
    "later message (held messages can be released or the connection closed)"
)


class RelaySteering:
    """Lists and steers the relays of one proxy.

    Args:
        relays: the proxy's live relays, in any order.
        mask_source: where mask keys come from.
    """

    def __init__(
        self,
        relays: Callable[[], Iterable[Relay]],
        mask_source: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._relays = relays
        self._mask_source = mask_source

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
        return f"#{relay.conn_id}: holding what goes to the {toward.value}"

    def release(self, conn_id: int | None, toward: Role | None) -> str:
        """Pass on what was held (toward one side, or both)."""
        relay = self._relay(conn_id)
        said = []
        for role in (Role.SERVER, Role.CLIENT) if toward is None else (toward,):
            side = relay.client if role is Role.SERVER else relay.upstream
            if side is not None and side.held is not None:
                size = side.release()
                said.append(f"{size} bytes to the {role.value}")
        if not said:
            raise UsageError(f"#{relay.conn_id}: nothing is held")
        return f"#{relay.conn_id}: released " + ", ".join(said)

    def edit(self, conn_id: int | None) -> str:
        """Dropping or editing a message: not in relay mode (says why)."""
        raise UsageError(_NOT_EDITABLE)

    # -- helpers ------------------------------------------------------------------------

    def _relay(self, conn_id: int | None) -> Relay:
        relays = {relay.conn_id: relay for relay in self._relays()}
        if not relays:
            raise UsageError("no connection is open")
        if conn_id is None:
            if len(relays) > 1:
                listed = ", ".join(f"#{n}" for n in sorted(relays))
                raise UsageError(f"several connections are open ({listed}): say which")
            return next(iter(relays.values()))
        relay = relays.get(conn_id)
        if relay is None:
            raise UsageError(f"no open connection #{conn_id} (see /conns)")
        return relay

    def _side(self, conn_id: int | None, toward: Role) -> tuple[Relay, Side]:
        """The relay, and the side whose stream goes toward ``toward``."""
        relay = self._relay(conn_id)
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
