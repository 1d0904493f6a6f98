"""A WebSocket server that floods each client with messages, for scripts/bench_connect.py.

Usage: ``python flood_server.py [--port PORT] [--size BYTES]``. Binds
127.0.0.1, prints ``flood: listening on ws://127.0.0.1:PORT/`` as its first
stdout line, and runs until SIGTERM or SIGINT.

A client asking for ``/N`` (say ``ws://127.0.0.1:PORT/100000``) gets, as soon
as the handshake is answered, N unmasked text frames of ``--size`` bytes each
(message ``i`` is :func:`payload` of ``i``) and then a Close 1000, all in one
precomputed buffer handed to the transport in one write. The server then
waits for the client's Close (or EOF) and drops TCP. No extension is accepted
(permessage-deflate offers are declined), so the frames go out as they are.

It is plain asyncio (``asyncio.Protocol`` on raw sockets); the handshake is
done with ``wstool.core.handshake`` (parse_request_head, check_request,
build_response).
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import struct
import sys

from wstool.core.errors import HandshakeError
from wstool.core.handshake import (
    build_rejection,
    build_response,
    check_request,
    parse_request_head,
)

HOST = "127.0.0.1"
CLOSE_1000 = b"\x88\x02" + struct.pack("!H", 1000)


def payload(index: int, size: int) -> bytes:
    """The text of message ``index``: ``m0000000042`` padded with ``x`` to ``size`` bytes."""
    head = b"m%010d" % index
    return head + b"x" * (size - len(head)) if size > len(head) else head[:size]


def frame_header(length: int) -> bytes:
    """An unmasked FIN text frame header for ``length`` payload bytes."""
    if length < 126:
        return bytes((0x81, length))
    if length < 65536:
        return bytes((0x81, 126)) + struct.pack("!H", length)
    return bytes((0x81, 127)) + struct.pack("!Q", length)


class Flood(asyncio.Protocol):
    cache: dict[tuple[int, int], bytes] = {}  # noqa: RUF012 - shared on purpose

    def __init__(self, size: int) -> None:
        self.size = size
        self.buffer = b""
        self.upgraded = False
        self.transport: asyncio.Transport | None = None

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        assert self.transport is not None
        if self.upgraded:
            # Anything after the handshake is the client's Close (or a frame
            # we do not care about): the closing handshake is done, drop TCP.
            self.transport.close()
            return
        self.buffer += data
        try:
            parsed = parse_request_head(self.buffer)
            if parsed is None:
                return
            head, _ = parsed
            request = check_request(head.method, head.target, head.headers, version=head.version)
        except HandshakeError as exc:
            self.transport.write(build_rejection(exc))
            self.transport.close()
            return
        path = head.target.split("?", 1)[0].strip("/")
        count = int(path) if path.isdigit() else 1
        self.upgraded = True
        self.transport.write(build_response(request) + self.frames(count))

    def frames(self, count: int) -> bytes:
        key = (count, self.size)
        blob = self.cache.get(key)
        if blob is None:
            header = frame_header(self.size)
            blob = b"".join(header + payload(i, self.size) for i in range(count)) + CLOSE_1000
            self.cache[key] = blob
        return blob


async def serve(port: int, size: int) -> None:
    loop = asyncio.get_running_loop()
    stop = loop.create_future()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set_result, None)
    server = await loop.create_server(lambda: Flood(size), HOST, port)
    bound = server.sockets[0].getsockname()[1]
    sys.stdout.write(f"flood: listening on ws://{HOST}:{bound}/\n")
    sys.stdout.flush()
    async with server:
        await stop


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--size", type=int, default=32, help="payload bytes per message")
    args = parser.parse_args()
    asyncio.run(serve(args.port, args.size))
    return 0


if __name__ == "__main__":
    sys.exit(main())
