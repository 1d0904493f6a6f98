"""Reliability of ``wstool serve`` over real loopback sockets.

Each test starts the installed server as a subprocess (``serve`` fixture in
``conftest.py``) and talks to it with hand-made clients on asyncio streams:
thousands of honest ones, and the ones a server meets in the wild (clients
that vanish mid-frame, mid-handshake or mid-close, slowloris, a deflate
bomb, an unmasked frame). Every wait is bounded; the server must never print
a traceback (checked at teardown).
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import os
import re
import signal
import socket
import struct
import time
import zlib
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import pytest

T = TypeVar("T")
ServeProcess = Any  # conftest.ServeProcess: a running server, its port, pid and output
Serve = Callable[..., ServeProcess]

SAMPLE_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
TEXT, BINARY, CLOSE, PING = 0x1, 0x2, 0x8, 0x9


def run(coro: Awaitable[T], timeout: float) -> T:
    """Run a coroutine on a fresh event loop, failing the test after ``timeout`` seconds."""

    async def bounded() -> T:
        return await asyncio.wait_for(coro, timeout)

    return asyncio.run(bounded())


def upgrade_request(key: str = SAMPLE_KEY, *extra: str) -> bytes:
    """A valid client upgrade request with optional extra header lines."""
    lines = [
        "GET / HTTP/1.1",
        "Host: 127.0.0.1",
        "Upgrade: websocket",
        "Connection: Upgrade",
        f"Sec-WebSocket-Key: {key}",
        "Sec-WebSocket-Version: 13",
        *extra,
    ]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def accept_for(key: str) -> str:
    """RFC 6455 §4.2.2: base64(SHA-1(key + GUID))."""
    return base64.b64encode(hashlib.sha1(key.encode() + _GUID).digest()).decode()


def frame(
    opcode: int,
    payload: bytes,
    *,
    fin: bool = True,
    rsv1: bool = False,
    mask: bytes | None = b"\x01\x02\x03\x04",
) -> bytes:
    """Encode a frame, masked with ``mask`` unless it is ``None`` (a fault from a client)."""
    first = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    bit = 0x80 if mask is not None else 0
    n = len(payload)
    if n < 126:
        head = struct.pack("!BB", first, bit | n)
    elif n < 0x10000:
        head = struct.pack("!BBH", first, bit | 126, n)
    else:
        head = struct.pack("!BBQ", first, bit | 127, n)
    if mask is None or n == 0:
        return head + (mask or b"") + payload
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return head + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


def close_frame(code: int, reason: bytes = b"") -> bytes:
    return frame(CLOSE, struct.pack("!H", code) + reason)


class RawClient:
    """A WebSocket client on asyncio streams that does only what it is told."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer
        self.response = b""

    @classmethod
    async def open(cls, port: int, timeout: float = 10.0) -> RawClient:
        """Open a TCP connection, without a handshake."""
        reader, writer = await asyncio.wait_for(asyncio.open_connection("127.0.0.1", port), timeout)
        return cls(reader, writer)

    @classmethod
    async def connect(
        cls, port: int, *extra: str, key: str = SAMPLE_KEY, timeout: float = 10.0
    ) -> RawClient:
        """Open a connection and complete the opening handshake, checking the 101."""
        client = await cls.open(port, timeout)
        client.writer.write(upgrade_request(key, *extra))
        client.response = await asyncio.wait_for(client.reader.readuntil(b"\r\n\r\n"), timeout)
        if not client.response.startswith(b"HTTP/1.1 101 "):
            raise AssertionError(f"no 101: {client.response!r}")
        if f"Sec-WebSocket-Accept: {accept_for(key)}\r\n".encode() not in client.response:
            raise AssertionError(f"wrong accept key for {key}: {client.response!r}")
        return client

    def send(self, data: bytes) -> None:
        self.writer.write(data)

    async def read_frame(self, timeout: float = 10.0) -> tuple[int, bytes]:
        """Read one server frame (unmasked, as a server must send): (opcode, payload)."""

        async def read() -> tuple[int, bytes]:
            head = await self.reader.readexactly(2)
            assert not head[1] & 0x80, "the server masked a frame"
            n = head[1] & 0x7F
            if n == 126:
                n = struct.unpack("!H", await self.reader.readexactly(2))[0]
            elif n == 127:
                n = struct.unpack("!Q", await self.reader.readexactly(8))[0]
            return head[0] & 0x0F, await self.reader.readexactly(n)

        return await asyncio.wait_for(read(), timeout)

    async def read_close(self, timeout: float = 10.0) -> int | None:
        """Read frames until a Close; return its code."""
        while True:
            opcode, payload = await self.read_frame(timeout)
            if opcode == CLOSE:
                return struct.unpack("!H", payload[:2])[0] if len(payload) >= 2 else None

    async def read_eof(self, timeout: float = 10.0) -> bool:
        """Wait until the server ends the TCP connection (FIN or RST); whether it did."""
        try:
            while await asyncio.wait_for(self.reader.read(65536), timeout):
                pass
        except ConnectionResetError:
            pass
        return True

    def abort(self) -> None:
        """Vanish: reset the connection (SO_LINGER 0) instead of closing it in order."""
        sock = self.writer.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.writer.transport.abort()

    def close(self) -> None:
        self.writer.close()


def disconnects(lines: list[str]) -> dict[int, list[str]]:
    """The ``#N ... disconnected: cause`` lines of a server log, by connection number."""
    found: dict[int, list[str]] = {}
    for line in lines:
        match = re.match(r"#(\d+) .* disconnected: (.*)$", line.rstrip("\n"))
        if match:
            found.setdefault(int(match[1]), []).append(match[2])
    return found


async def served_promptly(port: int, within: float) -> float:
    """Handshake and one echo on a fresh connection; fail unless done in ``within`` s."""
    start = time.monotonic()
    key = base64.b64encode(os.urandom(16)).decode()
    client = await RawClient.connect(port, key=key, timeout=within)
    client.send(frame(TEXT, b"are you there?"))
    assert await client.read_frame(within) == (TEXT, b"are you there?")
    client.send(close_frame(1000))
    assert await client.read_close(within) == 1000
    client.close()
    elapsed = time.monotonic() - start
    assert elapsed < within, f"served in {elapsed:.2f}s"
    return elapsed


# -- many clients ---------------------------------------------------------------

CONCURRENT = 5000
MESSAGES = 3


async def _echo_crowd(port: int, count: int, all_open: Callable[[], None]) -> list[str]:
    """Open ``count`` connections, then have each echo a few messages; the failures.

    ``all_open`` runs once every connection has had its 101, before any
    message is sent.
    """
    # The listen backlog is Twisted's default (50): a bounded number of
    # connects in flight keeps the kernel from dropping SYNs into retries.
    gate = asyncio.Semaphore(200)
    failures: list[str] = []

    async def open_one(i: int) -> RawClient:
        async with gate:
            key = base64.b64encode(i.to_bytes(16, "big")).decode()
            return await RawClient.connect(port, key=key, timeout=30)

    opened = await asyncio.gather(*(open_one(i) for i in range(count)), return_exceptions=True)
    clients = [c for c in opened if isinstance(c, RawClient)]
    failures += [f"connect: {c!r}" for c in opened if not isinstance(c, RawClient)]
    all_open()

    async def talk(i: int, client: RawClient) -> None:
        sent = [f"#{i}.{j} ".encode() * (j * 40 + 1) for j in range(MESSAGES)]
        client.send(b"".join(frame(TEXT if j % 2 else BINARY, p) for j, p in enumerate(sent)))
        for j, payload in enumerate(sent):
            expected = (TEXT if j % 2 else BINARY, payload)
            got = await client.read_frame(30)
            assert got == expected, f"client {i} message {j}: {got!r} != {expected!r}"
        client.send(close_frame(1000))
        assert await client.read_close(30) == 1000
        await client.read_eof(30)

    results = await asyncio.gather(
        *(talk(i, c) for i, c in enumerate(clients)), return_exceptions=True
    )
    failures += [f"client: {r!r}" for r in results if r is not None]
    for client in clients:
        client.close()
    await asyncio.sleep(0)
    return failures


@pytest.mark.slow
@pytest.mark.usefixtures("many_files")
def test_5000_concurrent_connections_echo_everything(serve: Serve) -> None:
    """5000 clients connected at once each get every message back, and all close cleanly."""
    server = serve("-q")
    open_fds: list[int] = []

    def count_server_fds() -> None:
        open_fds.append(len(os.listdir(f"/proc/{server.pid}/fd")))

    start = time.monotonic()
    failures = run(_echo_crowd(server.port, CONCURRENT, count_server_fds), timeout=90)
    elapsed = time.monotonic() - start
    assert open_fds[0] > CONCURRENT, f"the server held only {open_fds[0]} descriptors at once"
    assert not failures, f"{len(failures)} failures, first: {failures[:5]}"
    assert elapsed < 60, f"took {elapsed:.1f}s"
    lines = server.wait_for_lines(
        lambda lines: len(disconnects(lines)) >= CONCURRENT, 30, "every disconnect"
    )
    causes = disconnects(lines)
    assert sorted(causes) == list(range(1, CONCURRENT + 1))
    assert all(c == ["closed cleanly"] for c in causes.values())


# -- clients that vanish ------------------------------------------------------


async def _vanishers(port: int) -> None:
    # Mid-handshake: half a request head, then gone (orderly, then reset).
    for vanish in (RawClient.close, RawClient.abort):
        client = await RawClient.open(port)
        client.send(upgrade_request()[:40])
        await asyncio.sleep(0.05)
        vanish(client)
    # Mid-frame: half of a frame's header, of its payload; closed or reset.
    for cut, vanish in (
        (1, RawClient.close),
        (9, RawClient.abort),
        (30, RawClient.close),
        (30, RawClient.abort),
    ):
        client = await RawClient.connect(port)
        client.send(frame(BINARY, b"x" * 100)[:cut])
        await asyncio.sleep(0.05)
        vanish(client)
    # Mid-close: our Close sent, gone before the answer; or the server's Close
    # unanswered (it started a close because we broke a rule); or half a Close.
    client = await RawClient.connect(port)
    client.send(close_frame(1000, b"bye"))
    client.abort()
    client = await RawClient.connect(port)
    client.send(frame(TEXT, b"\xff"))  # invalid UTF-8: the server sends Close 1007
    assert await client.read_close() == 1007
    client.abort()
    client = await RawClient.connect(port)
    client.send(close_frame(1000)[:4])
    await asyncio.sleep(0.05)
    client.close()


def test_vanishing_clients_leave_the_server_serving(serve: Serve) -> None:
    """Clients gone mid-handshake, mid-frame and mid-close: one line each, no traceback."""
    server = serve("-q")
    run(_vanishers(server.port), timeout=30)
    upgraded = 7  # every client above but the two mid-handshake ones
    lines = server.wait_for_lines(
        lambda lines: len(disconnects(lines)) >= upgraded, 10, "a disconnect per client"
    )
    causes = disconnects(lines)
    assert sorted(causes) == list(range(1, upgraded + 1)), server.output()
    assert all(len(c) == 1 for c in causes.values()), causes
    run(served_promptly(server.port, within=2.0), timeout=10)
    assert server.process.poll() is None, "the server exited"


# -- slowloris --------------------------------------------------------------------

SLOW_CLIENTS = 1000
HANDSHAKE_TIMEOUT = 2.0


async def _slowloris(port: int) -> tuple[list[float], list[str], float]:
    """Open SLOW_CLIENTS connections trickling a byte a second; when each was dropped."""
    gate = asyncio.Semaphore(200)
    request = upgrade_request()

    async def trickle() -> float:
        async with gate:
            client = await RawClient.open(port, timeout=10)
        opened = time.monotonic()
        try:
            for byte in range(len(request) - 1):  # never the final byte
                client.send(request[byte : byte + 1])
                try:
                    data = await asyncio.wait_for(client.reader.read(1024), 1.0)
                except asyncio.TimeoutError:
                    continue
                assert data == b"", f"the server answered a half request: {data!r}"
                break  # EOF: dropped
        except (ConnectionResetError, BrokenPipeError):
            pass
        else:
            if not client.reader.at_eof():
                client.close()
                raise AssertionError("still connected after the whole trickle")
        client.close()
        return time.monotonic() - opened

    attack = [asyncio.ensure_future(trickle()) for _ in range(SLOW_CLIENTS)]
    await asyncio.sleep(HANDSHAKE_TIMEOUT / 2)  # the attack is in full swing
    served_in = await served_promptly(port, within=1.0)
    results = await asyncio.gather(*attack, return_exceptions=True)
    drops = [r for r in results if isinstance(r, float)]
    errors = [repr(r) for r in results if not isinstance(r, float)]
    return drops, errors, served_in


@pytest.mark.slow
@pytest.mark.usefixtures("many_files")
def test_slowloris_is_dropped_and_others_are_served(serve: Serve) -> None:
    """1000 trickling handshakes are dropped soon after the handshake timeout; others get served."""
    server = serve("-q", "--handshake-timeout", str(HANDSHAKE_TIMEOUT))
    drops, errors, served_in = run(_slowloris(server.port), timeout=60)
    assert not errors, f"{len(errors)} errors, first: {errors[:3]}"
    assert len(drops) == SLOW_CLIENTS
    assert min(drops) >= HANDSHAKE_TIMEOUT - 0.5, f"dropped early: {min(drops):.2f}s"
    assert max(drops) < HANDSHAKE_TIMEOUT + 3, f"a slow client lasted {max(drops):.2f}s"
    assert served_in < 1.0
    assert disconnects(server.lines()) == {1: ["closed cleanly"]}
    assert server.process.poll() is None


# -- a deflate bomb -----------------------------------------------------------


def deflate_bomb(inflated: int) -> bytes:
    """A permessage-deflate payload that inflates to ``inflated`` zero bytes.

    Each 1 MiB chunk is compressed on its own and ends in a full flush, so the
    same bytes can be repeated; the final empty stored block is left off, as
    RFC 7692 §7.2.1 requires.
    """
    mib = 2**20
    deflater = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = deflater.compress(b"\x00" * mib) + deflater.flush(zlib.Z_FULL_FLUSH)
    assert chunk.endswith(b"\x00\x00\xff\xff")
    return (chunk * (inflated // mib))[:-4]


async def _bomb(port: int, payload: bytes) -> int | None:
    client = await RawClient.connect(port, "Sec-WebSocket-Extensions: permessage-deflate")
    assert b"permessage-deflate" in client.response
    client.send(frame(BINARY, payload, rsv1=True))
    try:
        return await client.read_close(20)
    finally:
        client.close()


def test_deflate_bomb_is_refused_without_inflating(serve: Serve) -> None:
    """A ~1 MiB message inflating to 2 GiB gets Close 1009; the server's RSS barely moves."""
    server = serve("-q")
    run(served_promptly(server.port, within=5.0), timeout=10)  # warm: imports done
    payload = deflate_bomb(2 * 2**30)
    assert len(payload) < 4 * 2**20
    before = server.status_kib("VmRSS")
    assert run(_bomb(server.port, payload), timeout=30) == 1009
    peak = server.status_kib("VmHWM")
    after = server.status_kib("VmRSS")
    assert after - before < 64 * 1024, f"RSS grew {(after - before) // 1024} MiB"
    assert peak - before < 64 * 1024, f"peak RSS grew {(peak - before) // 1024} MiB"
    run(served_promptly(server.port, within=2.0), timeout=10)


# -- a peer fault -------------------------------------------------------------


async def _unmasked(port: int) -> int | None:
    client = await RawClient.connect(port)
    client.send(frame(TEXT, b"hello", mask=None))
    code = await client.read_close()
    await client.read_eof()
    client.close()
    return code


def test_peer_fault_is_one_line_not_a_traceback(serve: Serve) -> None:
    """An unmasked frame: Close 1002, and one line naming the rule and code in the log."""
    server = serve()  # the normal (not -q) log
    assert run(_unmasked(server.port), timeout=15) == 1002
    lines = server.wait_for_lines(lambda lines: 1 in disconnects(lines), 10, "the disconnect")
    faults = [line for line in lines if "✗" in line]
    assert len(faults) == 1, server.output()
    assert re.search(r"mask-required.*RFC 6455 §5\.1.*close 1002", faults[0]), faults[0]
    assert disconnects(lines) == {1: ["failed: mask-required (1002)"]}


# -- SIGTERM ------------------------------------------------------------------


async def _terminated(server: ServeProcess, answering: int) -> list[int | None]:
    clients = [await RawClient.connect(server.port) for _ in range(answering + 1)]
    for client in clients:  # the server has them all
        client.send(frame(TEXT, b"ready?"))
        assert await client.read_frame() == (TEXT, b"ready?")
    os.kill(server.pid, signal.SIGTERM)

    async def answer(client: RawClient) -> int | None:
        code = await client.read_close(5)
        client.send(close_frame(1001))
        await client.read_eof(5)
        return code

    codes = await asyncio.gather(*(answer(c) for c in clients[:answering]))
    silent = await clients[-1].read_close(5)  # and never answers
    await clients[-1].read_eof(10)
    for client in clients:
        client.close()
    return [*codes, silent]


def test_sigterm_closes_every_connection_with_1001(serve: Serve) -> None:
    """SIGTERM: every client gets Close 1001, and the server exits 0 within a few seconds."""
    server = serve("-q", "--close-timeout", "2")
    start = time.monotonic()
    codes = run(_terminated(server, answering=5), timeout=20)
    assert codes == [1001] * 6
    assert server.process.wait(10) == 0, server.output()
    assert time.monotonic() - start < 6, "the silent client held the shutdown too long"
    causes = disconnects(server.lines())
    assert len(causes) == 6
    assert sorted(c[0] for c in causes.values()).count("closed cleanly") == 5


async def _signalled_twice(server: ServeProcess) -> int | None:
    client = await RawClient.connect(server.port)
    client.send(frame(TEXT, b"ready?"))
    assert await client.read_frame() == (TEXT, b"ready?")
    os.kill(server.pid, signal.SIGTERM)
    code = await client.read_close(5)  # and never answers, so serve waits ...
    os.kill(server.pid, signal.SIGTERM)  # ... and gets a second signal meanwhile
    await client.read_eof(10)
    client.close()
    return code


def test_a_second_sigterm_while_closing_is_no_traceback(serve: Serve) -> None:
    """An impatient second signal during the closing handshakes: the same clean exit 0."""
    server = serve("-q", "--close-timeout", "2")
    assert run(_signalled_twice(server), timeout=20) == 1001
    assert server.process.wait(10) == 0, server.output()
    server.assert_no_traceback()
