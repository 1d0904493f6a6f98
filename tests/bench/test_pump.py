"""The read pump (wstool/bench/pump.py, _pump.c) on real TCP connections on 127.0.0.1.

The test is the server: it answers the upgrade on its end of the connection,
reads the client's frames and writes back what each case needs (echoes, a
ping, a wrong echo, a reset, its end). The client is a BenchConnection of a
BenchRun on a real transport, so that the pump takes it as a run would.
"""

from __future__ import annotations

import asyncio
import socket
import struct
from collections.abc import Awaitable, Callable
from typing import Any

import pytest

from tests.bench.test_bench_stats import PLAN
from wstool.bench.batch import _batch
from wstool.bench.connection import BenchConnection
from wstool.bench.driver import BenchRun, event_loop_factory
from wstool.bench.plan import BenchPlan, SizeMix
from wstool.core.frames import FrameParser, WireFrame, encode_frame
from wstool.core.handshake import accept_key

pytestmark = pytest.mark.skipif(
    _batch is None or not hasattr(_batch, "Pump"), reason="the C pump is not built"
)

INFLIGHT = 4


class ServerEnd:
    """The server's end of one connection, driven by the test."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.parser = FrameParser()
        self.frames: list[WireFrame] = []
        self.loop = asyncio.get_running_loop()

    async def upgrade(self) -> None:
        head = b""
        while b"\r\n\r\n" not in head:
            head += await self.loop.sock_recv(self.sock, 4096)
        key = next(
            line.split(b":", 1)[1].strip()
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"sec-websocket-key:")
        )
        accept = accept_key(key.decode()).encode()
        await self.write(
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
            b"Connection: Upgrade\r\nSec-WebSocket-Accept: " + accept + b"\r\n\r\n"
        )

    async def read(self, count: int) -> list[WireFrame]:
        """The client's next ``count`` frames."""
        while len(self.frames) < count:
            data = await asyncio.wait_for(self.loop.sock_recv(self.sock, 1 << 20), 5)
            assert data, "the client closed"
            self.frames += self.parser.feed(data)
        taken, self.frames = self.frames[:count], self.frames[count:]
        return taken

    async def write(self, data: bytes) -> None:
        await self.loop.sock_sendall(self.sock, data)

    async def echo(self, count: int = INFLIGHT) -> list[WireFrame]:
        """Read ``count`` messages and echo them back; the frames read."""
        frames = await self.read(count)
        await self.write(b"".join(encode_frame(f.opcode, f.data) for f in frames))
        return frames


Case = Callable[[BenchRun, BenchConnection, ServerEnd], Awaitable[None]]


def run_case(case: Case, loop_name: str, **plan: Any) -> BenchRun:
    """Open one connection of a run to the test's server end, then ``case``."""
    factory, _ = event_loop_factory(loop_name)
    result: list[BenchRun] = []

    async def main() -> None:
        loop = asyncio.get_running_loop()
        run = BenchRun(BenchPlan(**{**PLAN.__dict__, "inflight": INFLIGHT, **plan}))
        run.recording = run.counting = True
        listener = socket.create_server(("127.0.0.1", 0))
        listener.setblocking(False)
        conn = BenchConnection(run, 0)
        try:
            client = socket.create_connection(listener.getsockname())
            accepted, _ = await loop.sock_accept(listener)
            accepted.setblocking(False)
            await loop.connect_accepted_socket(lambda: conn, client)
            server = ServerEnd(accepted)
            await server.upgrade()
            assert await asyncio.wait_for(conn.opened, 5), run.details
            run.connections.append(conn)
            await case(run, conn, server)
        finally:
            run.pump.close()
            conn.abort()
            accepted.close()
            listener.close()
            await asyncio.sleep(0)
        result.append(run)

    loop = factory()
    try:
        loop.run_until_complete(main())
    finally:
        loop.close()
    return result[0]


LOOPS = pytest.mark.parametrize("loop_name", ["asyncio", "uvloop"])


async def until(condition: Callable[[], bool]) -> None:
    for _ in range(500):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError("not within 5 s")


@LOOPS
def test_echoes_are_read_and_answered_in_the_pump(loop_name: str) -> None:
    async def case(run: BenchRun, conn: BenchConnection, server: ServerEnd) -> None:
        assert run.pump.taken == {conn: conn.transport.get_extra_info("socket").fileno()}
        assert not conn.transport.is_reading()  # the pump reads, not the transport
        numbers = []
        for _ in range(5):
            numbers += [f.data[:32] for f in await server.echo()]
        assert len(set(numbers)) == 20  # every message its own number
        await server.read(INFLIGHT)  # the answers to the last echoes came
        assert conn in run.pump.taken and not conn.failed
        assert run.stats.received == 20 and run.stats.sent == 24

    run = run_case(case, loop_name)
    assert run.stats.measured == 20 and sum(run.stats.latency.counts.values()) == 20


@LOOPS
def test_a_ping_sends_the_connection_back_to_its_transport(loop_name: str) -> None:
    async def case(run: BenchRun, conn: BenchConnection, server: ServerEnd) -> None:
        await server.echo()
        frames = await server.read(INFLIGHT)
        await server.write(encode_frame(0x9, b"are you there"))
        await server.write(b"".join(encode_frame(f.opcode, f.data) for f in frames))
        pong = await server.read(1)
        assert (pong[0].opcode, pong[0].data) == (0xA, b"are you there")
        await until(lambda: run.stats.received == 8)
        assert conn not in run.pump.taken and conn.transport.is_reading()
        await server.echo()  # the transport's path checks the echoes from here on
        await until(lambda: run.stats.received == 12)
        assert not conn.failed

    run_case(case, loop_name)


@LOOPS
def test_a_wrong_echo_fails_the_connection(loop_name: str) -> None:
    async def case(run: BenchRun, conn: BenchConnection, server: ServerEnd) -> None:
        await server.echo()
        frames = await server.read(INFLIGHT)
        echo = bytearray(b"".join(encode_frame(f.opcode, f.data) for f in frames))
        echo[-1] ^= 1
        await server.write(bytes(echo))
        await until(lambda: conn.failed)
        assert run.stats.errors == {"verification": 1}
        assert conn not in run.pump.taken

    run_case(case, loop_name)


def reset(sock: socket.socket) -> None:
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()  # unread data and linger 0: a reset


@LOOPS
@pytest.mark.parametrize(
    ("end", "kind", "said"),
    [
        (reset, "reset", "Connection reset"),  # the pump's read takes the error
        (lambda sock: sock.shutdown(socket.SHUT_WR), "closed early", "EOF"),  # the transport's
    ],
    ids=["reset", "eof"],
)
def test_the_servers_end_is_counted_as_on_the_transport(
    loop_name: str, end: Callable[[socket.socket], None], kind: str, said: str
) -> None:
    async def case(run: BenchRun, conn: BenchConnection, server: ServerEnd) -> None:
        await server.echo()
        await server.read(INFLIGHT)
        end(server.sock)
        await until(lambda: conn.failed)
        assert run.stats.errors == {kind: 1}
        assert said in run.details[kind]
        assert conn not in run.pump.taken

    run_case(case, loop_name)


@LOOPS
@pytest.mark.parametrize(
    ("size", "batch", "buffers"),
    [(32, 3000, 4096), (9000, 100, 65536)],  # 114 kB of frames; 900 kB of heads and filler
    ids=["small", "large"],
)
def test_a_batch_the_socket_cannot_take_whole_goes_through_the_transport(
    loop_name: str, size: int, batch: int, buffers: int
) -> None:
    async def case(run: BenchRun, conn: BenchConnection, server: ServerEnd) -> None:
        sock = conn.transport.get_extra_info("socket")
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, buffers)
        server.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, buffers)
        await server.echo()
        conn.send(batch)  # more than the socket holds
        assert conn.transport.get_write_buffer_size() > 0  # the rest, queued in order
        total, chunk = 2 * INFLIGHT + batch, batch // 6
        for _ in range(total // chunk):
            await server.echo(chunk)
        await server.echo(total % chunk)
        await until(lambda: run.stats.received == INFLIGHT + total)
        assert conn not in run.pump.taken and not conn.failed

    run_case(case, loop_name, sizes=SizeMix(((size, 1),)), text=size < 4096)


def test_the_run_end_hands_the_echoes_still_due_to_the_transport() -> None:
    async def case(run: BenchRun, conn: BenchConnection, server: ServerEnd) -> None:
        await server.echo()
        frames = await server.read(INFLIGHT)
        run.sending = False  # the run's time is up
        await server.write(b"".join(encode_frame(f.opcode, f.data) for f in frames))
        await until(lambda: conn.outstanding == 0)
        assert conn not in run.pump.taken and run.stats.sent == 2 * INFLIGHT

    run_case(case, "uvloop")


@LOOPS
def test_large_messages_are_pumped(loop_name: str) -> None:
    async def case(run: BenchRun, conn: BenchConnection, server: ServerEnd) -> None:
        assert conn.large and conn in run.pump.taken
        for _ in range(3):
            frames = await server.echo()
            assert [len(f.data) for f in frames] == [9000] * INFLIGHT
        await server.read(INFLIGHT)
        assert conn in run.pump.taken and not conn.failed
        assert run.stats.received == 3 * INFLIGHT and run.stats.sent == 4 * INFLIGHT

    run_case(case, loop_name, sizes=SizeMix(((9000, 1),)), text=False)


def test_the_pump_takes_only_what_it_can_read() -> None:
    pump = _batch.Pump()
    with pytest.raises(TypeError, match="EchoStream or LargeStream"):
        pump.add(3, object(), print)
    with pytest.raises(TypeError, match="EchoStream or LargeStream"):
        pump.add(3, _stream(), None)
    with pytest.raises(ValueError, match="socket -1"):
        pump.add(-1, _stream(), print)
    a, b = socket.socketpair()
    with a, b:
        stream = _stream()
        pump.add(a.fileno(), stream, print)
        with pytest.raises(ValueError, match=f"socket {a.fileno()}"):
            pump.add(a.fileno(), _stream(), print)
        assert pump.members() == 1
        pump.remove(a.fileno())
        pump.remove(a.fileno())  # not there any more: nothing
        assert pump.members() == 0


def _stream() -> Any:
    return _batch.stream(
        bytearray(16), print, b"\x81\x80", b"", b"\x81\x00", b"", b"\0\0\0\0", 0, True, 0, 0
    )
