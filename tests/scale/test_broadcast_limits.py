"""``wstool serve --mode broadcast`` under peers that would grow its memory: a client
that reads nothing (dropped past --max-send-queue) and a publisher whose messages
deflate to a few bytes each (inflated and broadcast a batch at a time)."""

from __future__ import annotations

import asyncio
import base64
import os
import socket

import pytest

from .support import PeakRss, rss_kib, serve

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect  # noqa: E402


def _deaf_client(port: int) -> socket.socket:
    """A client that upgrades, then never reads (a small receive buffer fills at once)."""
    sock = socket.create_connection(("127.0.0.1", port))
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        f"GET /room HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
        f"Sec-WebSocket-Version: 13\r\n\r\n".encode()
    )
    return sock


def test_a_client_that_reads_nothing_is_dropped() -> None:
    """200 MiB broadcast past a deaf client: it is dropped as a slow consumer after 2 MiB,
    a reading client gets all 3,200 messages, and serve does not hold the 200 MiB."""
    with serve("--mode", "broadcast", "--max-send-queue", "2MiB", "--no-deflate") as served:
        port = int(served.url().rsplit(":", 1)[1].strip("/"))
        deaf = _deaf_client(port)
        try:
            served.wait_for(lambda: "#1 " in served.output() and "connected" in served.output())

            async def run() -> int:
                async with (
                    connect(served.url("/room"), max_size=None) as reader,
                    connect(served.url("/room"), max_size=None) as publisher,
                ):
                    got = 0
                    for n in range(3200):  # in step with the reader: it is never behind
                        await publisher.send(bytes([n % 256]) * 65536)
                        message = await asyncio.wait_for(reader.recv(), 10)
                        got += message == bytes([n % 256]) * 65536
                    return got

            assert asyncio.run(run()) == 3200
            assert rss_kib(served.process.pid) < 150 * 1024, "serve kept the backlog"
            served.wait_for(lambda: "slow consumer" in served.output())
        finally:
            deaf.close()
    dropped = [line for line in served.lines() if "slow consumer" in line]
    assert len(dropped) == 1 and dropped[0].startswith("#1 "), served.output()
    assert "(--max-send-queue)" in dropped[0]


def test_a_deflate_bomb_is_handled_in_batches() -> None:
    """A publisher's 64 KiB messages of zeros deflate to a few bytes each, so one read
    holds thousands of them: serve inflates and broadcasts them a batch at a time,
    the reader gets all 10,000 in order, and serve stays small."""
    with serve("--mode", "broadcast") as served:

        async def run() -> tuple[int, int]:
            url = served.url("/room")
            async with (
                PeakRss(served.process.pid) as peak,
                connect(url, max_size=None) as reader,
                connect(url) as publisher,
            ):

                async def read() -> int:
                    for n in range(10_000):
                        assert await reader.recv() == bytes([n % 3]) * 65536, n
                    return 10_000

                reading = asyncio.ensure_future(read())
                for n in range(10_000):
                    await publisher.send(bytes([n % 3]) * 65536)
                got = await asyncio.wait_for(reading, 60)
            return got, peak.kib

        got, peak = asyncio.run(run())
    assert got == 10_000
    assert 0 < peak < 200 * 1024, f"serve peaked at {peak:,} KiB"
