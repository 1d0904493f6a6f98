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
import os
import socket
import sys
from collections.abc import Sequence

from wstool.check.badserver import BuggyEcho
from wstool.core.errors import WstoolError
from wstool.core.frames import Opcode, Role, WireFrame
from wstool.core.handshake import build_request, check_response, generate_key
from wstool.core.http import parse_response_head
from wstool.core.uri import parse_uri

__all__ = ["BUGS", "BadClient", "main"]

BUGS = ("no-utf8", "unmasked", "close-code", "no-pong")
_READ = 1 << 16
_TIMEOUT = 30.0


class BadClient(BuggyEcho):
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
        sock = socket.create_connection((self.uri.host, self.uri.port), timeout=_TIMEOUT)
        super().__init__(sock, frozenset(bugs), Role.CLIENT)

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
            self._close_orderly()

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

    def _outbound(self, frame: WireFrame) -> bytes:
        payload = frame.data
        if frame.opcode == Opcode.CLOSE:
            payload = self._close_code_bug(payload)
        return self._forge(frame, payload, None if "unmasked" in self.bugs else os.urandom(4))


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
