"""A bench connection's general path: frames parsed, messages compared one by one.

Where the echo fast path (connection.py) or the C streams cannot follow what
came (fragments, control frames, deflate, another size than expected, the
close), the read goes here: each frame is parsed with the RFC's checks, each
message compared with the one sent, or its timestamp read (send, subscribe).
"""

from __future__ import annotations

import asyncio
import collections
import time
from typing import TYPE_CHECKING, Any, Protocol

from wstool.bench.plan import decode_header
from wstool.core.deflate import PerMessageDeflate
from wstool.core.errors import WstoolError
from wstool.core.rules import opcode_ok

if TYPE_CHECKING:
    from wstool.bench.connection import RunContext

__all__ = ["CLOSED", "CLOSING", "HANDSHAKE", "OPEN", "ParsedPath"]

HANDSHAKE, OPEN, CLOSING, CLOSED = range(4)

MAX_MESSAGE = 256 << 20
"""The largest frame bench reads."""


class _Parsed(Protocol):
    """What the general path uses of its connection."""

    run: RunContext
    state: int
    transport: Any
    pending: bytearray
    fragments: list[bytes]
    fragment_opcode: int
    compressed: bool
    deflate: PerMessageDeflate | None
    waiting: collections.deque[tuple[int, bytes, int]]

    def fail(self, kind: str, detail: str) -> None: ...
    def abort(self) -> None: ...
    def _frame(self, opcode: int, payload: bytes) -> bytes: ...
    def _answered(self, count: int, size: int, now: int | None = None) -> None: ...
    def _frame_in(self, b0: int, payload: bytes) -> None: ...
    def _message(self, opcode: int, data: bytes) -> None: ...
    def _control(self, opcode: int, payload: bytes) -> None: ...
    def _close_received(self, payload: bytes) -> None: ...


class ParsedPath:
    """The general path's methods, for BenchConnection (which holds their state)."""

    def _parse(self: _Parsed) -> None:
        buf = self.pending
        pos = 0
        size = len(buf)
        while size - pos >= 2 and self.state in (OPEN, CLOSING):
            b0, b1 = buf[pos], buf[pos + 1]
            length = b1 & 0x7F
            start = pos + 2
            if length == 126:
                if size - pos < 4:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                start += 2
            elif length == 127:
                if size - pos < 10:
                    break
                length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                start += 8
            if b1 & 0x80:
                # RFC 6455 §5.1: "The client MUST close a connection if it detects a masked frame."
                self.fail("protocol", "the server masked a frame")
                return
            if length > MAX_MESSAGE:
                self.fail("protocol", f"a frame of {length} bytes (more than bench accepts)")
                return
            if size - start < length:
                break
            pos = start + length
            self._frame_in(b0, bytes(buf[start:pos]))
        del buf[:pos]

    def _frame_in(self: _Parsed, b0: int, payload: bytes) -> None:
        opcode = b0 & 0x0F
        if not opcode_ok(opcode):
            # RFC 6455 §5.2: "If an unknown opcode is received, the receiving endpoint
            # MUST _Fail the WebSocket Connection_."
            self.fail("protocol", f"unknown opcode {opcode:#x}")
            return
        if opcode >= 8:
            self._control(opcode, payload)
            return
        if opcode != 0:
            if self.fragments:
                self.fail("protocol", "a new message began inside a fragmented one")
                return
            self.fragment_opcode = opcode
            self.compressed = bool(b0 & 0x40)
        elif not self.fragments and not self.fragment_opcode:
            self.fail("protocol", "a continuation frame without a message")
            return
        self.fragments.append(payload)
        if b0 & 0x80:
            data = b"".join(self.fragments)
            self.fragments.clear()
            opcode, self.fragment_opcode = self.fragment_opcode, 0
            self._message(opcode, data)

    def _message(self: _Parsed, opcode: int, data: bytes) -> None:
        if self.compressed:
            if self.deflate is None:
                self.fail("protocol", "RSV1 set, and no extension was agreed")
                return
            try:
                data = self.deflate.decompress(data)
            except WstoolError as exc:
                self.fail("protocol", str(exc))
                return
        now = time.time_ns()
        run = self.run
        if run.plan.mode == "echo":
            if not self.waiting:
                self.fail("verification", "a message came back that was not sent")
                return
            sent_opcode, sent, stamp = self.waiting.popleft()
            if opcode != sent_opcode or data != sent:
                what = "type" if opcode != sent_opcode else f"{len(data)}-byte payload"
                self.fail("verification", f"an echo's {what} differs from the message sent")
                return
        else:
            header = decode_header(data, text=opcode == 1)
            stamp = header[0] if header is not None else 0
            if header is None:
                run.stats.untimed += 1
        if not run.received_one():
            return  # past --messages (subscribe)
        if stamp and run.recording:
            run.stats.latency.pending.append((now - stamp) // 1000)
        self._answered(1, len(data))

    def _control(self: _Parsed, opcode: int, payload: bytes) -> None:
        if opcode == 0x9:
            # RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST send a Pong
            # frame in response", with the same Application data.
            self.transport.write(self._frame(0xA, payload))
        elif opcode == 0x8:
            self._close_received(payload)

    def _close_received(self: _Parsed, payload: bytes) -> None:
        if self.state == CLOSING:
            # Our Close was answered; RFC 6455 §7.1.1: the server closes TCP first.
            self.state = CLOSED
            asyncio.get_running_loop().call_later(2.0, self.abort)
            return
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
        reason = payload[2:].decode("utf-8", "replace")
        # RFC 6455 §5.5.1: "the endpoint MUST send a Close frame in response".
        self.transport.write(self._frame(0x8, payload[:2]))
        self.fail(f"close {code}" if code is not None else "close", reason or "closed")
