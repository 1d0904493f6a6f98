"""``wstool serve --mode broadcast --redis URL`` against a real redis-server: clients of
several serve processes in one room, Redis lost and back, Redis missing at start."""

from __future__ import annotations

import asyncio
import os
import time

import pytest

from .support import PeakRss, Redis, free_port, redis_server, serve

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402


async def _open(url: str, count: int) -> list[ClientConnection]:
    return [await connect(url, max_size=None, ping_interval=None) for _ in range(count)]


async def _received(client: ClientConnection, quiet: float = 0.5) -> list[str | bytes]:
    """What the client got until nothing came for ``quiet`` seconds."""
    got: list[str | bytes] = []
    while True:
        try:
            got.append(await asyncio.wait_for(client.recv(), quiet))
        except asyncio.TimeoutError:
            return got


def _message(sender: int, n: int) -> str | bytes:
    """Text and binary in turn, naming the sender and the order."""
    text = f"{sender}:{n}"
    return text if n % 2 else b"\x00\xff" + text.encode()


def test_clients_of_two_serves_see_each_other_once_and_in_order() -> None:
    """Three clients on a serve and six on a serve with two workers, each broadcasting
    text and binary: every client gets every other client's messages, once each, in
    each sender's order, and none of its own."""
    with redis_server() as redis:
        room = ("--mode", "broadcast", "--redis", redis.url, "-q")
        with serve(*room) as one, serve("--workers", "2", *room) as two:

            async def run() -> list[list[str | bytes]]:
                clients = await _open(one.url("/room"), 3) + await _open(two.url("/room"), 6)
                for n in range(10):
                    for sender, client in enumerate(clients):
                        await client.send(_message(sender, n))
                received = list(await asyncio.gather(*(_received(c) for c in clients)))
                await asyncio.gather(*(c.close() for c in clients))
                return received

            received = asyncio.run(run())
            assert one.stop() == 0 and two.stop() == 0
    for me, got in enumerate(received):
        for sender in range(9):
            mine = [m for m in got if _sender(m) == sender]
            expected = [] if sender == me else [_message(sender, n) for n in range(10)]
            assert mine == expected, (me, sender, got)
    assert one.err_lines() == [] and two.err_lines() == []


def _sender(message: str | bytes) -> int:
    text = message if isinstance(message, str) else message[2:].decode()
    return int(text.split(":")[0])


def test_redis_killed_and_restarted() -> None:
    """Redis gone: local broadcast goes on and a line says so; back: a line counts what
    could not be relayed, and relaying resumes (without the lost messages)."""
    with redis_server() as redis:
        room = ("--mode", "broadcast", "--redis", redis.url, "-q")
        with serve(*room) as one, serve(*room) as two:

            async def run() -> None:
                a0, a1 = await _open(one.url("/r"), 2)
                (b0,) = await _open(two.url("/r"), 1)
                await a0.send("before")
                assert await _received(a1) == ["before"]
                assert await _received(b0) == ["before"]
                redis.kill()
                one.wait_for(lambda: _said(one, "lost Redis at "))
                for n in range(3):
                    await a0.send(f"away {n}")
                assert await _received(a1) == ["away 0", "away 1", "away 2"]
                redis.start()
                one.wait_for(lambda: _said(one, "3 messages could not be relayed"), 20)
                two.wait_for(lambda: _said(two, "is back"), 20)
                await a0.send("after")
                await b0.send(b"\x01binary back")
                assert await _received(b0) == ["after"]
                assert await _received(a1) == ["after", b"\x01binary back"]
                assert await _received(a0) == [b"\x01binary back"]
                await asyncio.gather(a0.close(), a1.close(), b0.close())

            asyncio.run(run())
            assert one.stop() == 0 and two.stop() == 0
    lost, back = one.err_lines()
    assert lost.startswith(f"wstool serve: lost Redis at {redis.url} (")
    assert lost.rstrip().endswith("local broadcast goes on, reconnecting")
    assert back == f"wstool serve: Redis at {redis.url} is back; 3 messages could not be relayed\n"


def _said(served: object, text: str) -> bool:
    return any(text in line for line in served.err_lines())  # type: ignore[attr-defined]


@pytest.mark.parametrize("workers", ["1", "2"])
def test_redis_not_reachable_at_start(workers: str) -> None:
    """Nothing listens where Redis should be: one line naming it, exit 1, never listening."""
    url = f"redis://127.0.0.1:{free_port()}/0"
    started = time.monotonic()
    with serve("--workers", workers, "--mode", "broadcast", "--redis", url, wait=False) as served:
        assert served.finished() == 1
    assert time.monotonic() - started < 15
    errors = served.err_lines()
    assert len(errors) == 1, served.output()
    assert errors[0].startswith(f"wstool serve: cannot reach Redis at {url}: ")
    assert "refused" in errors[0]
    assert served.lines() == []


def test_redis_usage_errors() -> None:
    """--redis outside broadcast mode, or a URL that is not redis://: one line, exit 2."""
    for args, text in (
        (("--redis", "redis://127.0.0.1:6379/0"), "add --mode broadcast"),
        (("--mode", "broadcast", "--redis", "http://x/"), "is not a redis://host:port/db URL"),
        (("--mode", "broadcast", "--redis", "redis://h:99999/0"), "the port is not a number"),
    ):
        with serve(*args, wait=False) as served:
            assert served.finished() == 2
        errors = served.err_lines()
        assert len(errors) == 1 and text in errors[0], served.output()


def test_redis_fixture_restarts_on_its_port() -> None:
    """The fixture this module leans on: kill and start again on the same port."""
    with redis_server() as redis:
        port = redis.port
        redis.kill()
        redis.start()
        assert isinstance(redis, Redis) and redis.port == port


def test_a_publisher_faster_than_redis_is_slowed_not_buffered() -> None:
    """A client broadcasting 300 MiB as fast as it can: serve stops reading from it
    while more than 16 MiB of PUBLISHes wait for Redis, so serve's memory stays
    bounded (it held every byte it read when it did not)."""
    with redis_server() as redis, serve("--mode", "broadcast", "--redis", redis.url, "-q") as one:

        async def run() -> int:
            filler = os.urandom(65535)
            async with (
                PeakRss(one.process.pid) as peak,
                connect(
                    one.url("/flood"), max_size=None, ping_interval=None, compression=None
                ) as client,
            ):
                for n in range(4800):
                    await client.send(bytes([n % 256]) + filler)
            return peak.kib

        peak = asyncio.run(asyncio.wait_for(run(), 60))
        assert one.stop() == 0
    assert 0 < peak < 200 * 1024, f"serve peaked at {peak:,} KiB"
