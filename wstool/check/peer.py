"""A blocking WebSocket client for conformance runs, built on wstool's own codec.

It does what a test client must and nothing it need not: a plain socket with
timeouts, the opening handshake from :mod:`wstool.core.handshake`, frames
forged with :func:`~wstool.core.frames.forge_frame` (masked with a fresh
random key unless a case says otherwise) and written whole, in chops or one
byte per write, and the server's frames read back with
:class:`~wstool.core.frames.FrameParser` into :class:`Reply` events. The
reader is strict about the server: every frame it sends is checked with
:func:`~wstool.core.frames.violations`, and anything wrong becomes a
:class:`Fault`.
"""

from __future__ import annotations

import contextlib
import os
import select
import socket
import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TypeVar

from wstool.core.deflate import PerMessageDeflate
from wstool.core.errors import ProtocolError
from wstool.core.frames import (
    FrameParser,
    Opcode,
    Role,
    close_code_name,
    forge_frame,
    header_size,
    is_valid_close_code,
    parse_close_payload,
    payload_length,
    violations,
)
from wstool.core.http import RequestHead, ResponseHead, parse_request_head, parse_response_head
from wstool.core.masking import apply_mask
from wstool.core.uri import WebSocketURI, parse_uri

__all__ = [
    "WIRE_CAP",
    "Close",
    "Eof",
    "Fault",
    "MaskFlip",
    "Msg",
    "Peer",
    "Ping",
    "Pong",
    "Reply",
    "ReplyReader",
    "Wire",
    "client_frame",
    "describe_bytes",
    "parse_uri",
]

_READ_SIZE = 1 << 20
_Head = TypeVar("_Head", RequestHead, ResponseHead)
CLOSE_WAIT = 1.0
"""Seconds the server side reads for the client's EOF after shutting its own side."""
WIRE_CAP = 256 << 10
"""Bytes kept per direction for the wire log; the rest is counted, not kept."""


def describe_bytes(data: bytes, limit: int = 24) -> str:
    """A short, terminal-safe picture of a payload: its size and its start."""
    shown = data[:limit]
    try:
        text = shown.decode("utf-8")
        body = repr(text) if text.isprintable() else shown.hex(" ")
    except UnicodeDecodeError:
        body = shown.hex(" ")
    more = "..." if len(data) > limit else ""
    return f"{len(data)}B {body}{more}" if data else "0B"


@dataclass(frozen=True)
class Msg:
    """A whole data message from the server (fragments joined, inflated)."""

    opcode: int
    data: bytes

    def __str__(self) -> str:
        kind = {1: "text", 2: "binary"}.get(self.opcode, f"op{self.opcode}")
        return f"{kind}({describe_bytes(self.data, 12)})"


@dataclass(frozen=True)
class Pong:
    """A Pong frame from the server."""

    data: bytes

    def __str__(self) -> str:
        return f"pong({describe_bytes(self.data, 12)})"


@dataclass(frozen=True)
class Ping:
    """A Ping frame from the server (keepalive); not a reply to anything we sent."""

    data: bytes

    def __str__(self) -> str:
        return f"ping({describe_bytes(self.data, 12)})"


@dataclass(frozen=True)
class Close:
    """The server's Close frame: its code (None for an empty payload) and reason."""

    code: int | None
    reason: bytes
    at: float

    def __str__(self) -> str:
        code = "empty" if self.code is None else str(self.code)
        reason = f" {describe_bytes(self.reason, 20)}" if self.reason else ""
        return f"close {code}{reason}"


@dataclass(frozen=True)
class Eof:
    """The server closed the TCP connection (``reset``: with an RST)."""

    at: float
    reset: bool = False

    def __str__(self) -> str:
        return "TCP reset" if self.reset else "TCP closed"


@dataclass(frozen=True)
class Fault:
    """The peer (``who``) broke a rule of RFC 6455 or RFC 7692 in what it sent."""

    message: str
    who: str = "server"

    def __str__(self) -> str:
        return f"{self.who} fault: {self.message}"


Reply = Msg | Pong
"""What a case expects back before the Close: messages and pongs, in order."""

Event = Msg | Pong | Ping | Close | Eof | Fault


def client_frame(
    opcode: int,
    payload: bytes = b"",
    *,
    fin: bool = True,
    rsv1: bool = False,
    rsv2: bool = False,
    rsv3: bool = False,
    masked: bool = True,
    length: int | None = None,
    length_bits: int | None = None,
) -> bytes:
    """A client frame with any bits, masked with a fresh random key (RFC 6455 §5.3).

    Args:
        opcode: 0 to 15, reserved ones included.
        payload: the payload, unmasked.
        fin: the FIN bit.
        rsv1: RSV1.
        rsv2: RSV2.
        rsv3: RSV3.
        masked: set the MASK bit and mask (a client must; cases that test an
            unmasked frame turn it off).
        length: the length to declare, if not the payload's.
        length_bits: force a 7, 16 or 64-bit length encoding.

    Returns:
        The frame's bytes.
    """
    return forge_frame(
        opcode=opcode,
        payload=payload,
        fin=fin,
        rsv1=rsv1,
        rsv2=rsv2,
        rsv3=rsv3,
        mask_key=os.urandom(4) if masked else None,
        length=length,
        length_bits=length_bits,
    )


class ReplyReader:
    """Server bytes -> :data:`Event` objects, checking every frame the server sends.

    Args:
        codec: the negotiated permessage-deflate codec (ours), if any.
        clock: where event times come from.
        sender: the role of the peer whose frames are read (a client's must be
            masked, a server's must not: RFC 6455 §5.1).
    """

    def __init__(
        self,
        codec: PerMessageDeflate | None = None,
        clock: Callable[[], float] = time.monotonic,
        sender: Role = Role.SERVER,
    ) -> None:
        self.codec = codec
        self.sender = sender
        self._clock = clock
        self._parser = FrameParser()
        self._opcode: int | None = None
        self._compressed = False
        self._parts: list[bytes] = []
        self.closed = False

    def _fault(self, message: str) -> Fault:
        return Fault(message, "client" if self.sender == Role.CLIENT else "server")

    def feed(self, data: bytes) -> list[Event]:
        """Take bytes from the server; return the events they complete."""
        events: list[Event] = []
        for frame in self._parser.feed(data):
            if self.closed:
                # RFC 6455 §5.5.1: after its Close, an endpoint sends no data frames.
                events.append(self._fault(f"{frame.opcode_name} frame after its Close frame"))
                continue
            found = violations(frame, self.sender, deflate=self.codec is not None)
            if found:
                events.append(self._fault(f"{found[0].message} ({found[0].section})"))
                continue
            events.extend(self._frame(frame.opcode, frame.data, frame.fin, frame.rsv1))
        return events

    def _frame(self, opcode: int, data: bytes, fin: bool, rsv1: bool) -> list[Event]:
        if opcode == Opcode.PING:
            return [Ping(data)]
        if opcode == Opcode.PONG:
            return [Pong(data)]
        if opcode == Opcode.CLOSE:
            return [self._close(data)]
        if opcode == Opcode.CONTINUATION:
            if self._opcode is None:
                return [self._fault("continuation frame with no message to continue")]
        elif self._opcode is not None:
            return [self._fault("new message before the fragmented one finished")]
        else:
            self._opcode, self._compressed, self._parts = opcode, rsv1, []
        if self._compressed:
            assert self.codec is not None  # RSV1 without deflate is a violation
            try:
                data = self.codec.decompress_fragment(data, final=fin)
            except ProtocolError as exc:
                self._opcode = None
                return [self._fault(f"cannot inflate the message: {exc.reason}")]
        self._parts.append(data)
        if not fin:
            return []
        message = Msg(self._opcode, b"".join(self._parts))
        self._opcode, self._parts = None, []
        if message.opcode == Opcode.TEXT:
            try:
                message.data.decode("utf-8")
            except UnicodeDecodeError as exc:
                return [self._fault(f"text message is not UTF-8 at byte {exc.start}")]
        return [message]

    def _close(self, data: bytes) -> Event:
        self.closed = True
        code, reason = parse_close_payload(data)
        # violations() checked the code and the reason's UTF-8; 1005 and 1006
        # are named here because they are the classic slips (RFC 6455 §7.4.1).
        if code is not None and not is_valid_close_code(code):
            return self._fault(f"close code {code} ({close_code_name(code)}) on the wire")
        return Close(code, reason, self._clock())


@dataclass
class Wire:
    """Every byte both ways, as written and read, with when (for the wire log).

    Attributes:
        start: when the connection opened (``time.monotonic()``).
        chunks: ``(seconds since start, from the client, bytes)``, at most
            :data:`WIRE_CAP` bytes kept per direction.
        sent: bytes the client wrote in all.
        received: bytes the server sent in all.
    """

    start: float
    chunks: list[tuple[float, bool, bytes]] = field(default_factory=list)
    sent: int = 0
    received: int = 0

    def add(self, outgoing: bool, data: bytes) -> None:
        """Note ``data`` written by the client (``outgoing``) or by the server, now."""
        kept = self.sent if outgoing else self.received
        room = WIRE_CAP - min(kept, WIRE_CAP)
        if room and data:
            self.chunks.append((time.monotonic() - self.start, outgoing, bytes(data[:room])))
        if outgoing:
            self.sent += len(data)
        else:
            self.received += len(data)

    def stream(self, outgoing: bool) -> bytes:
        """The kept bytes of one direction, in order."""
        return b"".join(data for _, out, data in self.chunks if out == outgoing)

    @property
    def truncated(self) -> bool:
        """Whether either direction had more bytes than were kept."""
        return self.sent > WIRE_CAP or self.received > WIRE_CAP


class Peer:
    """One TCP (or TLS) connection to the peer under test, with timeouts.

    Args:
        uri: where to connect (with ``sock``: what the client asked for).
        timeout: the connect timeout, and the default for each wait.
        ssl_context: for ``wss://``; ``None`` uses the system's defaults.
        sock: a connection a client opened to us (we are then the server:
            the wire log's directions turn round).
    """

    def __init__(
        self,
        uri: WebSocketURI,
        *,
        timeout: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        sock: socket.socket | None = None,
    ) -> None:
        self.uri = uri
        self.timeout = timeout
        self.server_side = sock is not None
        if sock is None:
            sock = socket.create_connection((uri.host, uri.port), timeout=timeout)
            if uri.secure:
                context = ssl_context or ssl.create_default_context()
                sock = context.wrap_socket(sock, server_hostname=uri.host)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = sock
        self.buffer = b""
        self.inbox: list[bytes] = []
        self.eof: Eof | None = None
        self.write_error: str | None = None
        self.last_write = time.monotonic()
        self.wire = Wire(self.last_write)

    def write(self, data: bytes, chop: int | None = None) -> bool:
        """Write ``data``, whole or ``chop`` bytes per write; False once the server is gone.

        Reads while it writes (into :attr:`inbox`): a server that applies
        back-pressure stops reading while its echoes are not read, and a
        client that only writes would wait for it forever.
        """
        if self.write_error is not None:
            return False
        self.wire.add(not self.server_side, data)
        step = chop or len(data) or 1
        view = memoryview(data)
        try:
            for start in range(0, len(data), step):
                piece = view[start : start + step]
                while piece:
                    piece = piece[self._send_some(piece) :]
        except (OSError, ssl.SSLError) as exc:
            self.write_error = type(exc).__name__
            return False
        finally:
            self.last_write = time.monotonic()
        return True

    def _send_some(self, piece: memoryview) -> int:
        sock = self.sock
        readable = [sock] if self.eof is None else []
        ready_in, ready_out, _ = select.select(readable, [sock], [], self.timeout)
        if not ready_in and not ready_out:
            raise TimeoutError(f"no progress writing for {self.timeout}s")
        if ready_in:
            self._pull()
        if not ready_out:
            return 0
        sock.settimeout(self.timeout)
        return sock.send(piece)

    def _pull(self) -> None:
        """One read into the inbox; sets :attr:`eof` at the end of the stream."""
        try:
            data = self.sock.recv(_READ_SIZE)
        except (TimeoutError, ssl.SSLWantReadError):
            return
        except OSError:
            self.eof = Eof(time.monotonic(), reset=True)
            return
        if data:
            self.wire.add(self.server_side, data)
            self.inbox.append(data)
        else:
            self.eof = Eof(time.monotonic())

    def recv(self, deadline: float) -> bytes | None:
        """Bytes from the server; ``b""`` at EOF (then :attr:`eof` is set); None at the deadline."""
        if self.inbox:
            data, self.inbox = b"".join(self.inbox), []
            return data
        if self.eof is not None:
            return b""
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None
        self.sock.settimeout(remaining)
        try:
            data = self.sock.recv(_READ_SIZE)
        except TimeoutError:
            return None
        except OSError:
            self.eof = Eof(time.monotonic(), reset=True)
            return b""
        if not data:
            self.eof = Eof(time.monotonic())
        else:
            self.wire.add(self.server_side, data)
        return data

    def read_head(self, deadline: float) -> ResponseHead | None:
        """The server's HTTP response head (bytes after it stay in :attr:`buffer`)."""
        return self._read_head(lambda data: parse_response_head(data, max_size=65536), deadline)

    def read_request_head(self, deadline: float) -> RequestHead | None:
        """A client's HTTP request head (bytes after it stay in :attr:`buffer`); None at EOF.

        Raises:
            HandshakeError: the head is malformed or too large.
        """
        return self._read_head(parse_request_head, deadline)

    def _read_head(
        self, parse: Callable[[bytes], tuple[_Head, int] | None], deadline: float
    ) -> _Head | None:
        while True:
            parsed = parse(self.buffer)
            if parsed is not None:
                head, used = parsed
                self.buffer = self.buffer[used:]
                return head
            data = self.recv(deadline)
            if not data:
                return None
            self.buffer += data

    def wait_eof(self, deadline: float) -> Eof | None:
        """Read and drop bytes until the server closes the connection, or the deadline."""
        while self.eof is None:
            if self.recv(deadline) is None:
                return None
        return self.eof

    def close(self) -> None:
        """Close our socket (idempotent); as the server, in order (RFC 6455 §7.1.1)."""
        if self.server_side and self.eof is None:
            # Shut our side, then read to the client's EOF (briefly): closing with
            # unread bytes would send an RST that can destroy our Close frame.
            with contextlib.suppress(OSError):
                self.sock.shutdown(socket.SHUT_WR)
                self.wait_eof(time.monotonic() + CLOSE_WAIT)
        with contextlib.suppress(OSError):
            self.sock.close()


class MaskFlip:
    """Turns a client's forged byte stream into a server's, frame by frame, as it goes.

    The case table is written from the client's side: its frames are masked
    unless a case tests an unmasked one. Run against a client, the same
    stream must come from a server, whose frames RFC 6455 §5.1 forbids to
    mask: "A server MUST NOT mask any frames that it sends to the client."
    So each masked frame goes out unmasked, and each unmasked one (the case
    of a peer's masking fault) masked with a fresh key, which the client
    must then fail: "A client MUST close a connection if it detects a masked
    frame." Headers are rewritten once whole; payload bytes pass as they
    come, so a stream written in pieces arrives in the same pieces.
    """

    def __init__(self, mask_source: Callable[[int], bytes] = os.urandom) -> None:
        self._mask_source = mask_source
        self._pending = b""
        self._left = 0
        self._key_in = b""
        self._key_out = b""
        self._offset = 0

    def feed(self, data: bytes) -> bytes:
        """Client-side bytes in; the server-side bytes to write."""
        out, data = [], self._pending + data
        self._pending = b""
        while data:
            if self._left:
                piece, data = data[: self._left], data[self._left :]
                out.append(self._payload(piece))
                continue
            size = header_size(data)
            if size is None or len(data) < size:
                self._pending = data
                break
            header, data = data[:size], data[size:]
            out.append(self._header(header))
        return b"".join(out)

    def _header(self, header: bytes) -> bytes:
        masked = bool(header[1] & 0x80)
        length_end = len(header) - (4 if masked else 0)
        self._key_in = header[length_end:] if masked else b""
        self._key_out = b"" if masked else self._mask_source(4)
        self._left = payload_length(header)
        self._offset = 0
        second = (header[1] & 0x7F) | (0 if masked else 0x80)
        return bytes((header[0], second)) + header[2:length_end] + self._key_out

    def _payload(self, piece: bytes) -> bytes:
        key = self._key_in or self._key_out
        turn = self._offset % 4
        self._offset += len(piece)
        self._left -= len(piece)
        # XOR with the key either way: it unmasks what was masked, masks what was not.
        return apply_mask(piece, key[turn:] + key[:turn])
