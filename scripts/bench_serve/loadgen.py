"""The Python load generator of scripts/bench_serve.py (asyncio + raw sockets).

Usage: ``python loadgen.py SPEC_JSON``; prints one JSON object with the result.
SPEC_JSON has ``scenario`` (``pipeline``, ``latency``, ``handshakes`` or
``rss``), ``host``, ``port``, ``raw`` (true: the server is a plain TCP echo),
``server_pid`` (its CPU time and RSS are read from /proc) and the scenario's
own keys (``conns``, ``inflight``, ``size``, ``binary``, ``warmup``,
``duration``, ``concurrency``, ``batch``).

It is a WebSocket client that only does what a benchmark needs, as cheaply as
Python allows:

* Frames are built once. A client must mask, but nothing says each frame needs
  a fresh key, so the same masked bytes are sent over and over; ``k`` frames
  are one precomputed ``bytes`` written in one call.
* The echo of a message is, byte for byte, known in advance: the unmasked
  header the RFC's minimal length encoding gives plus the payload. So the
  stream a connection reads back is that frame repeated, and checking a chunk
  of it (content *and* framing) is one ``bytes.startswith(chunk, offset)``
  against the frame repeated ``inflight + 1`` times: a memcmp, without a
  copy (``BufferedProtocol`` reads into one preallocated buffer). Counting is
  ``(offset + len(chunk)) // len(frame)``.
* A server may legitimately frame differently (fragments, a ping): on the first
  chunk that does not match, that connection switches to a small general
  parser that still checks each message's type and payload; the result counts
  such connections (``slow_conns``). Against the plain TCP echo the expected
  stream is the masked frames themselves, and a mismatch is an error.
* At the end no new messages are sent, every connection must get all of its
  outstanding echoes back (sent == received), then closes with a Close frame.

The latency scenario is a blocking socket in a loop (one message in flight: no
event loop needed), timed with ``perf_counter_ns``.
"""

from __future__ import annotations

import asyncio
import base64
import functools
import hashlib
import json
import os
import resource
import socket
import struct
import sys
import time
from typing import Any

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"
CLK_TCK = os.sysconf("SC_CLK_TCK")
MASK_KEY = b"\x37\xfa\x21\x3d"


class BenchError(Exception):
    """The server misbehaved (wrong echo, refused handshake, closed early)."""


# -- frames and handshakes ---------------------------------------------------


def header(opcode: int, length: int, masked: bool) -> bytes:
    first = 0x80 | opcode
    mask_bit = 0x80 if masked else 0
    if length < 126:
        return struct.pack("!BB", first, mask_bit | length)
    if length < 1 << 16:
        return struct.pack("!BBH", first, mask_bit | 126, length)
    return struct.pack("!BBQ", first, mask_bit | 127, length)


def mask(payload: bytes, key: bytes) -> bytes:
    n = len(payload)
    keystream = (key * (n // 4 + 1))[:n]
    masked = int.from_bytes(payload, "little") ^ int.from_bytes(keystream, "little")
    return masked.to_bytes(n, "little")


def client_frame(opcode: int, payload: bytes) -> bytes:
    return header(opcode, len(payload), True) + MASK_KEY + mask(payload, MASK_KEY)


CLOSE_FRAME = client_frame(0x8, struct.pack("!H", 1000))


def make_payload(size: int, binary: bool) -> bytes:
    if binary:
        return os.urandom(size)
    alphabet = b"abcdefghijklmnopqrstuvwxyz0123456789"
    return (alphabet * (size // len(alphabet) + 1))[:size]


def handshake_request(host: str, port: int) -> tuple[bytes, bytes]:
    """Return (request, expected Sec-WebSocket-Accept)."""
    key = base64.b64encode(os.urandom(16))
    accept = base64.b64encode(hashlib.sha1(key + GUID).digest())
    request = (
        b"GET / HTTP/1.1\r\n"
        b"Host: %s:%d\r\n"
        b"Upgrade: websocket\r\n"
        b"Connection: Upgrade\r\n"
        b"Sec-WebSocket-Key: %s\r\n"
        b"Sec-WebSocket-Version: 13\r\n\r\n"
    ) % (host.encode(), port, key)
    return request, accept


def check_response(head: bytes, accept: bytes) -> None:
    """Raise unless ``head`` (up to the blank line) is a 101 with the right accept key."""
    lines = head.split(b"\r\n")
    if not lines[0].startswith(b"HTTP/1.1 101"):
        raise BenchError(f"handshake refused: {lines[0][:80]!r}")
    seen = None
    for line in lines[1:]:
        name, _, value = line.partition(b":")
        name = name.strip().lower()
        if name == b"sec-websocket-accept":
            seen = value.strip()
        elif name == b"sec-websocket-extensions":
            raise BenchError(f"server negotiated an extension: {value.strip()!r}")
    if seen != accept:
        raise BenchError(f"bad Sec-WebSocket-Accept {seen!r}")


def close_frame_length(data: bytes | bytearray) -> int:
    """Length of the server's Close frame at the start of ``data``; 0 if incomplete."""
    if len(data) < 2:
        return 0
    if data[0] != 0x88 or data[1] & 0x80 or (data[1] & 0x7F) > 125:
        raise BenchError(f"expected a Close frame, got {bytes(data[:8])!r}")
    total = 2 + (data[1] & 0x7F)
    return total if len(data) >= total else 0


# -- measuring -----------------------------------------------------------------


def own_cpu() -> tuple[float, float]:
    """This process's (user, system) CPU seconds."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime, usage.ru_stime


def server_cpu(pid: int) -> float:
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            fields = f.read().rsplit(b")", 1)[1].split()
    except OSError:
        return 0.0
    # fields[0] is field 3 (state); utime and stime are fields 14 and 15.
    return (int(fields[11]) + int(fields[12])) / CLK_TCK


def server_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status", "rb") as f:
        for line in f:
            if line.startswith(b"VmRSS:"):
                return int(line.split()[1])
    raise BenchError("no VmRSS")


def cpus_busy(cpus: list[int]) -> tuple[float, float]:
    """Seconds the given CPUs spent (busy in tasks, in interrupts), from /proc/stat.

    Interrupt time is mostly the loopback network stack's softirq work, which
    the kernel charges to no process; it is kept apart from "other" load.
    """
    wanted = {f"cpu{n}".encode() for n in cpus}
    busy = irq = 0
    with open("/proc/stat", "rb") as f:
        for line in f:
            fields = line.split()
            if fields and fields[0] in wanted:
                # user nice system idle iowait irq softirq steal
                ticks = [int(x) for x in fields[1:9]]
                busy += ticks[0] + ticks[1] + ticks[2] + ticks[7]
                irq += ticks[5] + ticks[6]
    return busy / CLK_TCK, irq / CLK_TCK


class Window:
    """CPU time of the server, the generator and everything else on their CPUs.

    Each is in CPU seconds per second of the window (1.0 = one core saturated).
    "other" is what the two CPUs spent on anything but these two processes:
    other programs on the machine, mostly; it should be near 0.
    """

    def __init__(self, spec: dict[str, Any]) -> None:
        self.pid = spec["server_pid"]
        self.cpus = spec.get("cpus", [])
        self.t0 = time.perf_counter()
        self.gen0 = own_cpu()
        self.srv0 = server_cpu(self.pid)
        self.busy0 = cpus_busy(self.cpus)

    def close(self) -> dict[str, float]:
        elapsed = time.perf_counter() - self.t0
        user, system = own_cpu()
        gen_sys = (system - self.gen0[1]) / elapsed
        gen = (user - self.gen0[0]) / elapsed + gen_sys
        srv = (server_cpu(self.pid) - self.srv0) / elapsed
        busy, irq = cpus_busy(self.cpus)
        return {
            "elapsed": elapsed,
            "gen_cpu": gen,
            "gen_sys_cpu": gen_sys,
            "srv_cpu": srv,
            "other_cpu": max(0.0, (busy - self.busy0[0]) / elapsed - gen - srv),
            "irq_cpu": (irq - self.busy0[1]) / elapsed,
        }


def raise_nofile() -> None:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


# -- the pipelined echo connection ---------------------------------------------


class Shared:
    """What every connection of one run shares: frames, verification data, flags."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.host: str = spec["host"]
        self.port: int = spec["port"]
        self.raw: bool = spec["raw"]
        self.inflight: int = spec.get("inflight", 1)
        binary = spec.get("binary", False)
        self.opcode = 0x2 if binary else 0x1
        self.payload = make_payload(spec.get("size", 32), binary)
        self.masked = client_frame(self.opcode, self.payload)
        # The exact bytes one message comes back as.
        if self.raw:
            self.echo = self.masked
        else:
            self.echo = header(self.opcode, len(self.payload), False) + self.payload
        self.echo_len = len(self.echo)
        self.expected = self.echo * (self.inflight + 1)
        self.bursts = [self.masked * k for k in range(self.inflight + 1)]
        self.sending = True
        self.slow_conns = 0
        self.bufsize = 1 << 20 if self.echo_len > 65536 else 1 << 18


HANDSHAKE, OPEN, SLOW, CLOSING, DONE = range(5)


class EchoConnection(asyncio.BufferedProtocol):
    """One client connection: handshake, then ``inflight`` messages in flight."""

    def __init__(self, shared: Shared, pipelined: bool = True) -> None:
        self.s = shared
        self.pipelined = pipelined
        self.buf = bytearray(shared.bufsize if pipelined else 4096)
        self.view = memoryview(self.buf)
        self.state = HANDSHAKE
        self.head = bytearray()
        self.sent = 0
        self.received = 0
        self.offset = 0
        self.pending = bytearray()  # the slow path's unparsed bytes
        self.message: list[bytes] | None = None
        self.message_opcode = 0
        loop = asyncio.get_running_loop()
        self.ready: asyncio.Future[None] = loop.create_future()
        self.drained: asyncio.Future[None] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.transport: Any = None
        self.accept = b""

    # asyncio callbacks

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self.s.raw:
            self.state = OPEN
            self.ready.set_result(None)
            return
        request, self.accept = handshake_request(self.s.host, self.s.port)
        transport.write(request)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.view

    def buffer_updated(self, nbytes: int) -> None:
        if self.state == OPEN:
            # The fast path: one memcmp against the expected stream.
            s = self.s
            offset = self.offset
            if not s.expected.startswith(self.view[:nbytes], offset):
                self._mismatch(nbytes)
                return
            total = offset + nbytes
            done = total // s.echo_len
            self.offset = total - done * s.echo_len
            if done:
                self._completed(done)
        elif self.state == SLOW:
            self.pending += self.view[:nbytes]
            self._parse()
        elif self.state == HANDSHAKE:
            self._handshake(nbytes)
        elif self.state == CLOSING:
            self.pending += self.view[:nbytes]
            try:
                if close_frame_length(self.pending):
                    self.state = DONE
            except BenchError as exc:
                self._fail(exc)

    def eof_received(self) -> bool:
        return False

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)
        if self.state not in (CLOSING, DONE):
            self._fail(BenchError(f"server closed the connection early ({exc})"))

    # helpers

    def _fail(self, exc: Exception) -> None:
        for future in (self.ready, self.drained):
            if not future.done():
                future.set_exception(exc)
        if self.transport is not None:
            self.transport.abort()

    def _handshake(self, nbytes: int) -> None:
        self.head += self.view[:nbytes]
        end = self.head.find(b"\r\n\r\n")
        if end < 0:
            if len(self.head) > 65536:
                self._fail(BenchError("handshake response too long"))
            return
        try:
            check_response(bytes(self.head[:end]), self.accept)
            if len(self.head) > end + 4:
                raise BenchError("data before the first message")
        except BenchError as exc:
            self._fail(exc)
            return
        self.state = OPEN
        self.ready.set_result(None)

    def start(self) -> None:
        if self.s.sending:
            self.transport.write(self.s.bursts[self.s.inflight])
            self.sent = self.s.inflight

    def _completed(self, done: int) -> None:
        self.received += done
        if self.s.sending:
            self.transport.write(self.s.bursts[done])
            self.sent += done
        elif self.received >= self.sent and not self.drained.done():
            if self.received > self.sent:
                self._fail(BenchError(f"{self.received} echoes for {self.sent} messages"))
            else:
                self.drained.set_result(None)

    def _mismatch(self, nbytes: int) -> None:
        if self.s.raw:
            self._fail(BenchError("the TCP echo did not return the bytes sent"))
            return
        # What matched so far is the start of the current frame: parse from there.
        self.state = SLOW
        self.s.slow_conns += 1
        self.pending = bytearray(self.s.echo[: self.offset]) + self.view[:nbytes]
        self._parse()

    def _parse(self) -> None:
        """The general parser: any legal framing, checks each message."""
        buf = self.pending
        pos = 0
        done = 0
        try:
            while len(buf) - pos >= 2:
                b0, b1 = buf[pos], buf[pos + 1]
                if b1 & 0x80:
                    raise BenchError("the server masked a frame")
                if b0 & 0x70:
                    raise BenchError("RSV bits set (no extension was negotiated)")
                length = b1 & 0x7F
                start = pos + 2
                if length == 126:
                    if len(buf) - pos < 4:
                        break
                    length = int.from_bytes(buf[pos + 2 : pos + 4], "big")
                    start = pos + 4
                elif length == 127:
                    if len(buf) - pos < 10:
                        break
                    length = int.from_bytes(buf[pos + 2 : pos + 10], "big")
                    start = pos + 10
                if len(buf) - start < length:
                    break
                data = bytes(buf[start : start + length])
                pos = start + length
                opcode = b0 & 0x0F
                if opcode == 0x9:
                    self.transport.write(client_frame(0xA, data))
                    continue
                if opcode == 0xA:
                    continue
                if opcode == 0x8:
                    raise BenchError(f"server sent Close {data[:2].hex()} mid-run")
                if opcode == 0x0:
                    if self.message is None:
                        raise BenchError("continuation frame without a message")
                    self.message.append(data)
                else:
                    if self.message is not None:
                        raise BenchError("new message inside a fragmented one")
                    self.message = [data]
                    self.message_opcode = opcode
                if b0 & 0x80:
                    body = b"".join(self.message)
                    if self.message_opcode != self.s.opcode or body != self.s.payload:
                        raise BenchError("echo differs from the message sent")
                    self.message = None
                    done += 1
        except BenchError as exc:
            self._fail(exc)
            return
        del buf[:pos]
        if done:
            self._completed(done)

    def begin_close(self) -> None:
        if self.s.raw:
            self.state = DONE
            self.transport.close()
            return
        self.state = CLOSING
        self.pending = bytearray()
        self.transport.write(CLOSE_FRAME)


async def open_connections(
    shared: Shared, count: int, batch: int, pipelined: bool = True
) -> list[EchoConnection]:
    """Open ``count`` connections, ``batch`` handshakes at a time."""
    loop = asyncio.get_running_loop()
    conns: list[EchoConnection] = []
    while len(conns) < count:
        n = min(batch, count - len(conns))
        made = await asyncio.gather(
            *(
                loop.create_connection(
                    lambda: EchoConnection(shared, pipelined), shared.host, shared.port
                )
                for _ in range(n)
            )
        )
        fresh = [proto for _, proto in made]
        await asyncio.gather(*(c.ready for c in fresh))
        conns.extend(fresh)
    return conns


async def close_connections(conns: list[EchoConnection], timeout: float = 5.0) -> None:
    """Close handshake, then wait (a while) for the server to drop TCP."""
    for c in conns:
        if c.state not in (CLOSING, DONE):
            c.begin_close()
    waiting = [c.closed for c in conns if not c.closed.done()]
    if waiting:
        await asyncio.wait(waiting, timeout=timeout)
        for c in conns:
            if not c.closed.done():
                c.transport.abort()


async def run_pipeline(spec: dict[str, Any]) -> dict[str, Any]:
    shared = Shared(spec)
    conns = await open_connections(shared, spec["conns"], spec.get("batch", 50))
    for c in conns:
        c.start()
    await asyncio.sleep(spec["warmup"])
    for c in conns:
        if c.drained.done():
            c.drained.result()  # a failure during the warm-up
    before = sum(c.received for c in conns)
    window = Window(spec)
    # Wake up early if a connection fails, instead of sleeping through it.
    failures = [c.drained for c in conns]
    _, _ = await asyncio.wait(
        failures, timeout=spec["duration"], return_when=asyncio.FIRST_COMPLETED
    )
    result = window.close()
    after = sum(c.received for c in conns)
    shared.sending = False
    for c in conns:
        if c.received == c.sent and not c.drained.done():
            c.drained.set_result(None)
    done, pending = await asyncio.wait(failures, timeout=30)
    if pending:
        raise BenchError(f"{len(pending)} connections did not get all their echoes back")
    for f in done:
        f.result()
    sent = sum(c.sent for c in conns)
    received = sum(c.received for c in conns)
    if sent != received:
        raise BenchError(f"sent {sent} messages, got {received} echoes")
    await close_connections(conns)
    messages = after - before
    result.update(
        messages=messages,
        msgs_per_s=messages / result["elapsed"],
        mb_per_s=messages * len(shared.payload) / result["elapsed"] / 1e6,
        verified=received,
        slow_conns=shared.slow_conns,
    )
    return result


# -- handshakes ----------------------------------------------------------------


class HandshakeClient(asyncio.Protocol):
    """One connection of the handshakes scenario, driven by callbacks.

    Upgrade, send Close, read the server's Close, then wait for the server to
    drop TCP (RFC 6455 7.1.1: the server closes first). Against the plain TCP
    echo: send the same request bytes, read them back, close.
    """

    def __init__(self, done: asyncio.Future[None], host: str, port: int, raw: bool) -> None:
        self.done = done
        self.raw = raw
        self.request, self.accept = handshake_request(host, port)
        self.data = b""
        self.stage = 0  # 0: handshake, 1: awaiting Close, 2: awaiting FIN
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.data += data
        try:
            if self.raw:
                if len(self.data) >= len(self.request):
                    if self.data != self.request:
                        raise BenchError("the TCP echo did not return the bytes sent")
                    self.stage = 2
                    self.transport.close()
                return
            if self.stage == 0:
                end = self.data.find(b"\r\n\r\n")
                if end < 0:
                    return
                check_response(self.data[:end], self.accept)
                self.data = self.data[end + 4 :]
                self.stage = 1
                self.transport.write(CLOSE_FRAME)
            if self.stage == 1 and close_frame_length(self.data):
                self.stage = 2
        except BenchError as exc:
            self._finish(exc)

    def eof_received(self) -> bool:
        return False  # close our side too

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stage == 2:
            self._finish(None)
        else:
            self._finish(BenchError(f"connection lost at stage {self.stage} ({exc})"))

    def _finish(self, exc: Exception | None) -> None:
        if self.done.done():
            return
        if exc is None:
            self.done.set_result(None)
        else:
            self.done.set_exception(exc)
            self.transport.abort()


async def run_handshakes(spec: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    host, port, raw = spec["host"], spec["port"], spec["raw"]
    counter = [0]
    stop = [False]

    async def worker() -> None:
        while not stop[0]:
            done: asyncio.Future[None] = loop.create_future()
            client = functools.partial(HandshakeClient, done, host, port, raw)
            await loop.create_connection(client, host, port)
            await done
            counter[0] += 1

    workers = [asyncio.ensure_future(worker()) for _ in range(spec["concurrency"])]
    try:
        await asyncio.wait(workers, timeout=spec["warmup"], return_when=asyncio.FIRST_EXCEPTION)
        before = counter[0]
        window = Window(spec)
        await asyncio.wait(workers, timeout=spec["duration"], return_when=asyncio.FIRST_EXCEPTION)
        result = window.close()
        after = counter[0]
        stop[0] = True
        done, pending = await asyncio.wait(workers, timeout=30)
        if pending:
            raise BenchError(f"{len(pending)} handshakes hung")
        for w in done:
            w.result()
    finally:
        for w in workers:
            w.cancel()
    result.update(handshakes=after - before, hs_per_s=(after - before) / result["elapsed"])
    return result


# -- idle connections' memory --------------------------------------------------


async def run_rss(spec: dict[str, Any]) -> dict[str, Any]:
    shared = Shared(spec)
    pid = spec["server_pid"]
    batch = spec.get("batch", 50)
    # Warm up: the first connections load code and fill caches; not counted.
    warm = await open_connections(shared, min(100, spec["conns"]), batch, pipelined=False)
    await close_connections(warm)
    await asyncio.sleep(0.5)
    before = server_rss_kib(pid)
    t0 = time.perf_counter()
    conns = await open_connections(shared, spec["conns"], batch, pipelined=False)
    opened = time.perf_counter() - t0
    await asyncio.sleep(1.0)
    after = server_rss_kib(pid)
    for c in conns:
        c.state = DONE
        c.transport.abort()
    await asyncio.sleep(0.1)
    return {
        "rss_before_kib": before,
        "rss_after_kib": after,
        "kib_per_conn": (after - before) / len(conns),
        "open_s": opened,
        "conns": len(conns),
    }


# -- latency -------------------------------------------------------------------


def run_latency(spec: dict[str, Any]) -> dict[str, Any]:
    shared = Shared({**spec, "inflight": 1})
    sock = socket.create_connection((shared.host, shared.port))
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    try:
        if not shared.raw:
            request, accept = handshake_request(shared.host, shared.port)
            sock.sendall(request)
            head = b""
            while (end := head.find(b"\r\n\r\n")) < 0:
                chunk = sock.recv(65536)
                if not chunk:
                    raise BenchError("EOF during the handshake")
                head += chunk
            check_response(head[:end], accept)
            if len(head) > end + 4:
                raise BenchError("data before the first message")
        frame, echo, size = shared.masked, shared.echo, shared.echo_len
        buf = bytearray(size)
        view = memoryview(buf)
        perf = time.perf_counter_ns
        samples: list[int] = []
        start = perf()
        warm_end = start + int(spec["warmup"] * 1e9)
        window: Window | None = None
        end = warm_end + int(spec["duration"] * 1e9)
        count = 0
        while True:
            t0 = perf()
            sock.sendall(frame)
            got = 0
            while got < size:
                n = sock.recv_into(view[got:])
                if not n:
                    raise BenchError("EOF mid-message")
                got += n
            t1 = perf()
            if buf != echo:
                raise BenchError("echo differs from the message sent")
            count += 1
            if window is not None:
                samples.append(t1 - t0)
                if t1 >= end:
                    break
            elif t1 >= warm_end:
                window = Window(spec)
        result = window.close()
        if not shared.raw:
            sock.sendall(CLOSE_FRAME)
    finally:
        sock.close()
    samples.sort()
    n = len(samples)

    def pct(p: float) -> float:
        return samples[min(n - 1, int(p * n))] / 1000.0

    result.update(
        samples=n,
        verified=count,
        p50_us=pct(0.50),
        p90_us=pct(0.90),
        p99_us=pct(0.99),
        max_us=samples[-1] / 1000.0,
        mean_us=sum(samples) / n / 1000.0,
        rtt_per_s=n / result["elapsed"],
    )
    return result


def event_loop_factory(name: str) -> Any:
    """The event loop to run on: ``asyncio``'s own, or uvloop's (if installed)."""
    if name == "uvloop":
        import uvloop

        return uvloop.new_event_loop
    return asyncio.new_event_loop


def main() -> int:
    spec = json.loads(sys.argv[1])
    raise_nofile()
    scenario = spec["scenario"]
    runs = {"pipeline": run_pipeline, "handshakes": run_handshakes, "rss": run_rss}
    try:
        if scenario == "latency":
            result = run_latency(spec)
        elif scenario in runs:
            factory = event_loop_factory(spec.get("loop", "asyncio"))
            with asyncio.Runner(loop_factory=factory) as runner:
                result = runner.run(runs[scenario](spec))
        else:
            raise SystemExit(f"unknown scenario {scenario!r}")
    except (BenchError, OSError) as exc:
        print(json.dumps({"error": f"{type(exc).__name__}: {exc}"}))
        return 1
    result["loadgen"] = "python/" + spec.get("loop", "asyncio")
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
