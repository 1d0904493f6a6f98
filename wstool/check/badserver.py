"""An echo server with bugs to switch on, to show that ``wstool check`` catches each.

Without bugs it is a correct echo server: the server-role
:class:`wstool.core.connection.Connection` with ``echo=True`` behind a
blocking socket, one thread per connection (permessage-deflate declined).
Each bug bends what goes in or out at the frame level:

- ``no-utf8``: text is not checked for UTF-8 (text frames reach the
  connection as binary; their echoes go out as text again).
- ``late-utf8``: text frames are checked only once the whole frame is in.
- ``rsv``: frames with RSV bits set are accepted (the bits are cleared).
- ``masked``: the server masks its frames (RFC 6455 §5.1 forbids it).
- ``no-pong``: Pings are never answered.
- ``close-code``: a Close with a code other than 1000 is answered with 1001.
- ``slow-close``: a Close is answered only after 3 seconds.

Run it with ``python -m wstool.check.badserver [BUG ...]``; it prints its URL.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import socketserver
import sys
import threading
import time
from collections import deque
from collections.abc import Sequence

from wstool.core.connection import Connection
from wstool.core.errors import HandshakeError, WstoolError
from wstool.core.frames import (
    FrameParser,
    Opcode,
    Role,
    WireFrame,
    forge_frame,
    header_size,
    payload_length,
)
from wstool.core.handshake import build_response, check_request
from wstool.core.http import parse_request_head

__all__ = ["BUGS", "BadServer", "BuggyEcho", "HeaderRewriter", "main"]

BUGS = ("no-utf8", "late-utf8", "rsv", "masked", "no-pong", "close-code", "slow-close")
SLOW_CLOSE = 3.0
_READ = 1 << 16


class HeaderRewriter:
    """Passes a client's byte stream on, rewriting each frame's first byte as it goes.

    Payload bytes flow through as they arrive (a check that fails mid-frame
    still can); only a frame for which ``hold`` says so is passed on once
    it is whole.
    """

    def __init__(self, first_byte: object, hold: object = None) -> None:
        self._first_byte = first_byte
        self._hold = hold
        self._buffer = b""
        self._left = 0  # payload bytes of the current frame still to pass through
        self._held = b""
        self._holding = False

    def feed(self, data: bytes) -> bytes:
        """Bytes in; the bytes to pass on."""
        out, data = [], self._buffer + data
        self._buffer = b""
        while data:
            if self._left:
                piece, data = data[: self._left], data[self._left :]
                self._left -= len(piece)
                out.append(self._emit(piece))
                continue
            size = header_size(data)
            if size is None or len(data) < size:
                self._buffer = data
                break
            header, data = bytearray(data[:size]), data[size:]
            self._left = payload_length(bytes(header))
            header[0] = self._first_byte(header[0])  # type: ignore[operator]
            self._holding = bool(self._hold and self._hold(header[0] & 0x0F))  # type: ignore[operator]
            out.append(self._emit(bytes(header)))
        return b"".join(out)

    def _emit(self, piece: bytes) -> bytes:
        if not self._holding:
            return piece
        self._held += piece
        if self._left:
            return b""
        whole, self._held, self._holding = self._held, b"", False
        return whole


class BuggyEcho:
    """What the misbehaving server and client share: core's echo :class:`Connection`
    on a blocking socket, each inbound frame header bent by a :class:`HeaderRewriter`
    and each outbound frame by :meth:`_outbound`.

    Args:
        sock: the connected socket.
        bugs: the bugs switched on.
        role: the role of this end.
        hold: which inbound opcodes to pass on only once their frame is whole.
    """

    def __init__(
        self, sock: socket.socket, bugs: frozenset[str], role: Role, hold: object = None
    ) -> None:
        self.sock, self.bugs = sock, bugs
        self.conn = Connection(role, echo=True, max_message_size=64 << 20)
        self.texts: deque[bool] = deque()  # per inbound data message: was it text?
        self.out_parser = FrameParser()
        self.inbound = HeaderRewriter(self._first_byte, hold)

    def _first_byte(self, byte: int) -> int:
        opcode = byte & 0x0F
        if opcode in (Opcode.TEXT, Opcode.BINARY):
            self.texts.append(opcode == Opcode.TEXT)
        if "rsv" in self.bugs:
            byte &= 0x8F
        if "no-utf8" in self.bugs and opcode == Opcode.TEXT:
            byte = (byte & 0xF0) | Opcode.BINARY
        return byte

    def _receive(self, data: bytes) -> None:
        passed = self.inbound.feed(data)
        if passed:
            self.conn.receive_data(passed)
        self.conn.events()
        self._flush()

    def _flush(self) -> None:
        """Send what the connection has to send, each frame through :meth:`_outbound`."""
        out = self.conn.data_to_send()
        for frame in list(self.out_parser.feed(out)) if out else []:
            data = self._outbound(frame)
            if data:
                self.sock.sendall(data)

    def _outbound(self, frame: WireFrame) -> bytes:
        raise NotImplementedError

    def _forge(self, frame: WireFrame, payload: bytes, mask_key: bytes | None) -> bytes:
        """``frame`` as it goes out: Pongs dropped under ``no-pong``, an echo with the
        type its message came with (``no-utf8`` read text as binary)."""
        opcode = frame.opcode
        if opcode == Opcode.PONG and "no-pong" in self.bugs:
            return b""
        if opcode in (Opcode.TEXT, Opcode.BINARY):
            was_text = self.texts.popleft() if self.texts else opcode == Opcode.TEXT
            opcode = Opcode.TEXT if was_text else opcode
        return forge_frame(
            opcode=opcode, payload=payload, fin=frame.fin, rsv1=frame.rsv1, mask_key=mask_key
        )

    def _close_code_bug(self, payload: bytes) -> bytes:
        """A Close payload as it goes out: under ``close-code`` a code other than 1000
        becomes 1001."""
        code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
        if "close-code" in self.bugs and code not in (None, 1000):
            return (1001).to_bytes(2, "big") + payload[2:]
        return payload

    def _close_orderly(self) -> None:
        """RFC 6455 §7.1.1: shut down our side and read to the peer's EOF, then close.

        Closing with unread bytes in the socket would send an RST, which can
        destroy a Close frame before the peer reads it.
        """
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(2.0)
            while self.sock.recv(_READ):
                pass
        with contextlib.suppress(OSError):
            self.sock.close()


class _Session(BuggyEcho):
    """One client connection with the bugs switched on."""

    def __init__(self, sock: socket.socket, bugs: frozenset[str]) -> None:
        super().__init__(sock, bugs, Role.SERVER, self._hold if "late-utf8" in bugs else None)

    @staticmethod
    def _hold(opcode: int) -> bool:
        return opcode in (Opcode.TEXT, Opcode.CONTINUATION)

    def run(self) -> None:
        data = self._handshake()
        if data is None:
            return
        self._receive(data)
        while not self.conn.transport_should_close:
            try:
                data = self.sock.recv(_READ)
            except OSError:
                return
            if not data:
                self.conn.receive_eof()
                self._flush()
                return
            self._receive(data)

    def _handshake(self) -> bytes | None:
        buffer = b""
        try:
            while (parsed := parse_request_head(buffer)) is None:
                chunk = self.sock.recv(_READ)
                if not chunk:
                    return None
                buffer += chunk
            head, used = parsed
            request = check_request(head.method, head.target, head.headers, version=head.version)
        except HandshakeError as exc:
            self._refuse(exc.status, exc.headers)
            return None
        except WstoolError:
            self._refuse(431 if len(buffer) > 16384 else 400, ())
            return None
        self.sock.sendall(build_response(request))
        return buffer[used:]

    def _refuse(self, status: int, headers: tuple[tuple[str, str], ...]) -> None:
        lines = [f"HTTP/1.1 {status} Refused", "Connection: close", "Content-Length: 0"]
        lines += [f"{name}: {value}" for name, value in headers]
        if status == 405:
            lines.append("Allow: GET")
        self.sock.sendall(("\r\n".join(lines) + "\r\n\r\n").encode())
        self._close_orderly()

    def _flush(self) -> None:
        super()._flush()
        if self.conn.transport_should_close:
            self._close_orderly()

    def _outbound(self, frame: WireFrame) -> bytes:
        payload = frame.data
        if frame.opcode == Opcode.CLOSE and self.conn.close_received is not None:
            payload = self._close_answer(payload)
        return self._forge(frame, payload, os.urandom(4) if "masked" in self.bugs else None)

    def _close_answer(self, payload: bytes) -> bytes:
        if "slow-close" in self.bugs:
            time.sleep(SLOW_CLOSE)
        return self._close_code_bug(payload)


class BadServer:
    """The server on ``host``, port ``port`` (0: any), in a thread; ``url`` once started.

    Args:
        bugs: the bugs to switch on (see :data:`BUGS`).
        host: the address to listen on.
        port: the port (0 picks a free one).
    """

    def __init__(self, bugs: Sequence[str] = (), host: str = "127.0.0.1", port: int = 0) -> None:
        unknown = set(bugs) - set(BUGS)
        if unknown:
            raise ValueError(f"unknown bugs: {', '.join(sorted(unknown))}")
        chosen = frozenset(bugs)

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                with contextlib.suppress(OSError, WstoolError):
                    _Session(self.request, chosen).run()

        socketserver.ThreadingTCPServer.allow_reuse_address = True
        self.server = socketserver.ThreadingTCPServer((host, port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The ``ws://`` URL it listens on."""
        host, port = self.server.server_address[:2]
        return f"ws://{host!s}:{port}/"

    def __enter__(self) -> BadServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wstool.check.badserver [--port N] [BUG ...]``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(prog="python -m wstool.check.badserver")
    parser.add_argument("bugs", nargs="*", choices=BUGS, metavar="BUG", help=", ".join(BUGS))
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args(argv)
    with BadServer(args.bugs, args.host, args.port) as server:
        print(f"listening on {server.url} with bugs: {', '.join(args.bugs) or 'none'}", flush=True)
        try:
            while True:
                time.sleep(3600)
        except KeyboardInterrupt:
            return 0


if __name__ == "__main__":
    sys.exit(main())
