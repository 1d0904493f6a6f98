"""An echo client with bugs to switch on, to show that ``wstool check client`` catches each.

Without bugs it is a correct echo client: the client-role
:class:`wstool.core.connection.Connection` with ``echo=True`` behind a
blocking socket (permessage-deflate not offered). Each bug bends what goes
in or out at the frame level:

- ``no-utf8``: text is not checked for UTF-8 (text frames reach the
  connection as binary; their echoes go out as text again).
- ``unmasked``: the client does not mask its frames (RFC 6455 §5.1 says it MUST).
- ``close-code``: a Close it sends with a code other than 1000 says 1001.
- ``no-pong``: Pings are never answered.

Run it with ``python -m wstool.check.badclient [--bug BUG ...] URL``: one
connection, echoed until it closes (so ``wstool check client --cmd
'python -m wstool.check.badclient --bug no-utf8 {url}'`` runs it per case).
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import sys
from collections import deque
from collections.abc import Sequence

from wstool.check.badserver import HeaderRewriter
from wstool.core.connection import Connection
from wstool.core.errors import WstoolError
from wstool.core.frames import FrameParser, Opcode, Role, WireFrame, forge_frame
from wstool.core.handshake import build_request, check_response, generate_key
from wstool.core.http import parse_response_head
from wstool.core.uri import parse_uri

__all__ = ["BUGS", "BadClient", "main"]

BUGS = ("no-utf8", "unmasked", "close-code", "no-pong")
_READ = 1 << 16
_TIMEOUT = 30.0
_LINGER = 2.0
"""Seconds to wait for the server's FIN after ours."""


class BadClient:
    """One connection to ``url``, echoing, with the bugs switched on.

    Args:
        url: the ``ws://`` URL.
        bugs: the bugs to switch on (see :data:`BUGS`).
    """

    def __init__(self, url: str, bugs: Sequence[str] = ()) -> None:
        unknown = set(bugs) - set(BUGS)
        if unknown:
            raise ValueError(f"unknown bugs: {', '.join(sorted(unknown))}")
        self.uri = parse_uri(url)
        self.bugs = frozenset(bugs)
        self.conn = Connection(Role.CLIENT, echo=True, max_message_size=64 << 20)
        self.texts: deque[bool] = deque()  # per inbound data message: was it text?
        self.out_parser = FrameParser()
        self.inbound = HeaderRewriter(self._first_byte)
        self.sock = socket.create_connection((self.uri.host, self.uri.port), timeout=_TIMEOUT)

    def _first_byte(self, byte: int) -> int:
        opcode = byte & 0x0F
        if opcode in (Opcode.TEXT, Opcode.BINARY):
            self.texts.append(opcode == Opcode.TEXT)
        if "no-utf8" in self.bugs and opcode == Opcode.TEXT:
            byte = (byte & 0xF0) | Opcode.BINARY
        return byte

    def run(self) -> None:
        """Open the connection and echo until it ends."""
        try:
            data = self._handshake()
            if data is None:
                return
            self._receive(data)
            while not self.conn.transport_should_close:
                data = self.sock.recv(_READ)
                if not data:
                    self.conn.receive_eof()
                    self._flush()
                    return
                self._receive(data)
        finally:
            self._close()

    def _close(self) -> None:
        """Close TCP in order: FIN, then read what is still coming until the server's FIN.

        Closing a socket with unread bytes in it sends an RST, which can destroy
        our Close frame before the server reads it (RFC 6455 §7.1.1 asks for an
        orderly close).
        """
        with contextlib.suppress(OSError):
            self.sock.shutdown(socket.SHUT_WR)
            self.sock.settimeout(_LINGER)
            while self.sock.recv(_READ):
                pass
        with contextlib.suppress(OSError):
            self.sock.close()

    def _handshake(self) -> bytes | None:
        key = generate_key()
        request = build_request(self.uri.host_header, self.uri.resource, key=key)
        self.sock.sendall(request)
        buffer = b""
        while (parsed := parse_response_head(buffer)) is None:
            chunk = self.sock.recv(_READ)
            if not chunk:
                return None
            buffer += chunk
        head, used = parsed
        check_response(head, key=key)
        return buffer[used:]

    def _receive(self, data: bytes) -> None:
        passed = self.inbound.feed(data)
        if passed:
            self.conn.receive_data(passed)
        self.conn.events()
        self._flush()

    def _flush(self) -> None:
        out = self.conn.data_to_send()
        for frame in self.out_parser.feed(out) if out else []:
            data = self._outbound(frame)
            if data:
                self.sock.sendall(data)

    def _outbound(self, frame: WireFrame) -> bytes:
        opcode, payload = frame.opcode, frame.data
        if opcode == Opcode.PONG and "no-pong" in self.bugs:
            return b""
        if opcode in (Opcode.TEXT, Opcode.BINARY):
            was_text = self.texts.popleft() if self.texts else opcode == Opcode.TEXT
            opcode = Opcode.TEXT if was_text else opcode
        if opcode == Opcode.CLOSE and "close-code" in self.bugs:
            code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else None
            if code not in (None, 1000):
                payload = (1001).to_bytes(2, "big") + payload[2:]
        mask = None if "unmasked" in self.bugs else os.urandom(4)
        return forge_frame(
            opcode=opcode, payload=payload, fin=frame.fin, rsv1=frame.rsv1, mask_key=mask
        )


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m wstool.check.badclient [--bug BUG ...] URL``: echo one connection."""
    parser = argparse.ArgumentParser(prog="python -m wstool.check.badclient")
    parser.add_argument("url")
    parser.add_argument("--bug", action="append", default=[], choices=BUGS)
    args = parser.parse_args(argv)
    try:
        BadClient(args.url, args.bug).run()
    except (OSError, WstoolError) as exc:
        print(f"badclient: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
