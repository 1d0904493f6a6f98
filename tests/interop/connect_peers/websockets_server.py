"""An echo server on the websockets library (asyncio), for ``wstool connect`` interop tests.

Usage: ``python websockets_server.py [--no-compression] [--subprotocol NAME]``.
Binds 127.0.0.1 on port 0, prints ``PORT <n>``, echoes every message until killed.
"""

from __future__ import annotations

import argparse
import asyncio

from websockets.asyncio.server import ServerConnection, serve


async def echo(ws: ServerConnection) -> None:
    async for message in ws:
        await ws.send(message)


async def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--no-compression", action="store_true")
    parser.add_argument("--subprotocol", action="append", default=[])
    args = parser.parse_args()
    async with serve(
        echo,
        "127.0.0.1",
        0,
        compression=None if args.no_compression else "deflate",
        subprotocols=args.subprotocol or None,
        ping_interval=None,
        max_size=2**24,
    ) as server:
        port = next(iter(server.sockets)).getsockname()[1]
        print(f"PORT {port}", flush=True)
        await asyncio.get_running_loop().create_future()


if __name__ == "__main__":
    asyncio.run(main())
