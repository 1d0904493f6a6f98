"""Hold 10,000 connections on ``wstool serve --workers 2``: nothing lost, memory per connection.

Run from the repository root::

    .venv/bin/python scripts/bench_hold.py                  # 10,000 connections, 2 workers
    .venv/bin/python scripts/bench_hold.py --connections 2000 --hold 1    # a quick look

What it does. ``wstool serve --workers W -q --ping-interval 0`` on a free port;
the workers' VmRSS (/proc/PID/status) is read once they listen. Client processes
(``--clients``, each an asyncio loop, uvloop if installed, with raw sockets: a
handshake, then nothing) open the connections, at most ``--concurrency`` upgrades
in flight per client; once serve has logged every connect the workers' VmRSS is
read again and the difference divided by the connections is the memory per
connection. After ``--hold`` seconds every connection sends one text message and
must get it back (nothing lost), then closes with 1000; serve is stopped with
SIGTERM and must exit 0. How the kernel spread the connections over the workers
(SO_REUSEPORT) is read from serve's connection numbers (worker k numbers k, k+W ...).

The soft open-files limit is raised to the hard one here (serve raises its own);
10,000 connections need 10,000 descriptors on each side.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import re
import resource
import secrets
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
_LISTENING = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)/")
_CONNECTED = re.compile(r"^#(\d+) .* connected: ")


def raise_fd_limit() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return hard


# -- the client side (run as a child process: --client-part) -------------------------


def _masked(opcode: int, payload: bytes) -> bytes:
    mask = secrets.token_bytes(4)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload))
    assert len(payload) < 126
    return bytes([0x80 | opcode, 0x80 | len(payload)]) + mask + body


class _Held(asyncio.Protocol):
    """One connection: the upgrade, then idle; one echo and a close when asked."""

    def __init__(self, host: str, port: int, opened: asyncio.Future[bool]) -> None:
        self.request = (
            f"GET /hold HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\n"
            "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
        self.opened = opened
        self.buffer = b""
        self.upgraded = False
        self.waiting: asyncio.Future[bytes] | None = None
        self.transport: Any = None

    def connection_made(self, transport: Any) -> None:
        self.transport = transport  # uvloop's transports are not asyncio.Transport
        transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if not self.upgraded:
            end = self.buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            head, self.buffer = self.buffer[:end], self.buffer[end + 4 :]
            self.upgraded = head.startswith(b"HTTP/1.1 101 ")
            if not self.opened.done():
                self.opened.set_result(self.upgraded)
        if self.waiting is not None and len(self.buffer) >= 2:
            size = self.buffer[1] & 0x7F
            if len(self.buffer) >= 2 + size:
                frame, self.buffer = self.buffer[: 2 + size], self.buffer[2 + size :]
                if not self.waiting.done():
                    self.waiting.set_result(frame)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.opened.done():
            self.opened.set_result(False)
        if self.waiting is not None and not self.waiting.done():
            self.waiting.set_result(b"")

    async def echo(self, text: bytes) -> bool:
        assert self.transport is not None
        self.waiting = asyncio.get_running_loop().create_future()
        self.transport.write(_masked(0x1, text))
        try:
            frame = await asyncio.wait_for(self.waiting, 30)
        except asyncio.TimeoutError:
            return False
        return frame == bytes([0x81, len(text)]) + text

    def close(self) -> None:
        if self.transport is not None:
            self.transport.write(_masked(0x8, (1000).to_bytes(2, "big")))
            self.transport.close()


async def _client_part(host: str, port: int, count: int, concurrency: int) -> None:
    loop = asyncio.get_running_loop()
    gate = asyncio.Semaphore(concurrency)
    held: list[_Held] = []
    failed = 0

    async def open_one() -> None:
        nonlocal failed
        async with gate:
            opened: asyncio.Future[bool] = loop.create_future()
            try:
                _, protocol = await loop.create_connection(
                    lambda: _Held(host, port, opened), host, port
                )
                if await asyncio.wait_for(opened, 30):
                    held.append(protocol)
                    return
            except (OSError, asyncio.TimeoutError):
                pass
            failed += 1

    started = time.perf_counter()
    await asyncio.gather(*(open_one() for _ in range(count)))
    print(f"opened {len(held)} {failed} {time.perf_counter() - started:.3f}", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "echo"
    results = await asyncio.gather(*(h.echo(b"n%d" % i) for i, h in enumerate(held)))
    print(f"echoed {sum(results)} {len(results) - sum(results)}", flush=True)
    await loop.run_in_executor(None, sys.stdin.readline)  # "close"
    for protocol in held:
        protocol.close()
    await asyncio.sleep(0.5)
    print("closed", flush=True)


def run_client_part(args: argparse.Namespace) -> None:
    raise_fd_limit()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    asyncio.run(_client_part("127.0.0.1", args.port, args.count, args.concurrency))


# -- --accept-spread: SO_REUSEPORT against one shared socket ------------------------------


def run_accepter(fd: int) -> None:
    """A Twisted process accepting on inherited ``fd``; prints its count on SIGUSR1."""
    import socket

    from twisted.internet import protocol, reactor

    accepted = [0]

    class Counted(protocol.Protocol):
        def connectionMade(self) -> None:
            accepted[0] += 1

    sock = socket.socket(fileno=fd)
    family = sock.family
    sock.detach()
    reactor.adoptStreamPort(fd, family, protocol.Factory.forProtocol(Counted))  # type: ignore[attr-defined]

    def report(*_: object) -> None:
        print(accepted[0], flush=True)
        os._exit(0)

    signal.signal(signal.SIGUSR1, report)
    reactor.run(installSignalHandlers=False)  # type: ignore[attr-defined]


def _accept_sockets(shared: bool) -> list[Any]:
    import socket

    sockets: list[Any] = []
    port = 0
    for _ in range(1 if shared else 2):
        sock = socket.socket()
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if not shared:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind(("127.0.0.1", port))
        port = sock.getsockname()[1]
        sock.listen(1024)
        sock.setblocking(False)
        sockets.append(sock)
    return sockets * 2 if shared else sockets


async def _connect_all(port: int, count: int, at_once: int) -> list[Any]:
    gate = asyncio.Semaphore(at_once)
    held = []

    async def one() -> None:
        async with gate:
            held.append(await asyncio.open_connection("127.0.0.1", port))
            if at_once == 1:
                await asyncio.sleep(0.002)

    await asyncio.gather(*(one() for _ in range(count)))
    return held


def accept_spread() -> None:
    for shared in (True, False):
        for count, at_once in ((8000, 500), (300, 1)):
            sockets = _accept_sockets(shared)
            port = sockets[0].getsockname()[1]
            accepters = [
                subprocess.Popen(
                    [sys.executable, __file__, "--accepter", str(sock.fileno())],
                    pass_fds=[sock.fileno()],
                    stdout=subprocess.PIPE,
                    text=True,
                )
                for sock in sockets
            ]
            for sock in set(sockets):
                sock.close()
            time.sleep(1.0)
            held = asyncio.run(_connect_all(port, count, at_once))
            time.sleep(0.5)
            counts = []
            for accepter in accepters:
                accepter.send_signal(signal.SIGUSR1)
                assert accepter.stdout is not None
                counts.append(int(accepter.stdout.readline()))
                accepter.wait()
            del held
            how = "one shared socket " if shared else "SO_REUSEPORT each "
            what = f"{count} connects, {at_once} at a time"
            print(f"{how} {what:<28} per process {counts}")


# -- the driver ------------------------------------------------------------------------


def rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    return 0


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[1]) == pid:
                found.append(int(entry.name))
    return found


class ServeLog:
    """serve's stdout read on a thread: the port, and the connection numbers connected."""

    def __init__(self, process: subprocess.Popen[str]) -> None:
        self.port = 0
        self.connected: list[int] = []
        self.listening = threading.Event()
        assert process.stdout is not None
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream: object) -> None:
        for line in stream:  # type: ignore[attr-defined]
            match = _CONNECTED.match(line)
            if match:
                self.connected.append(int(match[1]))
                continue
            listening = _LISTENING.search(line)
            if listening:
                self.port = int(listening[1])
                self.listening.set()


def wait_until(predicate: object, timeout: float) -> bool:
    deadline = time.monotonic() + timeout
    while not predicate():  # type: ignore[operator]
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--connections", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--clients", type=int, default=2, help="client processes")
    parser.add_argument("--concurrency", type=int, default=200, help="upgrades in flight")
    parser.add_argument("--hold", type=float, default=5.0, help="seconds to hold them")
    parser.add_argument(
        "--accept-spread",
        action="store_true",
        help="instead: how two Twisted processes share connections, one SO_REUSEPORT "
        "socket each against one socket shared by both (why serve --workers binds one each)",
    )
    parser.add_argument("--accepter", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--client-part", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--port", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--count", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.client_part:
        run_client_part(args)
        return 0
    if args.accepter is not None:
        run_accepter(args.accepter)
        return 0
    hard = raise_fd_limit()
    if args.accept_spread:
        accept_spread()
        return 0
    if args.connections + 100 > hard:
        print(f"the open-files limit ({hard}) is below {args.connections}", file=sys.stderr)
        return 1
    serve = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wstool",
            "serve",
            "--port",
            "0",
            "--ping-interval",
            "0",
            "--workers",
            str(args.workers),
            "-q",
            "--color",
            "never",
        ],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        return measure(args, serve)
    finally:
        if serve.poll() is None:
            serve.kill()


def measure(args: argparse.Namespace, serve: subprocess.Popen[str]) -> int:
    log = ServeLog(serve)
    if not log.listening.wait(30):
        print("serve did not listen", file=sys.stderr)
        return 1
    workers = children_of(serve.pid) or [serve.pid]  # --workers 1: serve itself
    time.sleep(0.5)
    before = sum(rss_kib(pid) for pid in workers)
    parts = [args.connections // args.clients] * args.clients
    parts[0] += args.connections - sum(parts)
    clients = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--client-part",
                "--port",
                str(log.port),
                "--count",
                str(part),
                "--concurrency",
                str(args.concurrency),
            ],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for part in parts
    ]
    opened = [_ask(client, None).split() for client in clients]
    n_open = sum(int(o[1]) for o in opened)
    n_failed = sum(int(o[2]) for o in opened)
    open_seconds = max(float(o[3]) for o in opened)
    wait_until(lambda: len(log.connected) >= n_open, 30)
    time.sleep(0.5)
    after = sum(rss_kib(pid) for pid in workers)
    time.sleep(args.hold)
    echoed = [_ask(client, "echo").split() for client in clients]
    n_echoed = sum(int(e[1]) for e in echoed)
    n_lost = sum(int(e[2]) for e in echoed)
    for client in clients:
        _ask(client, "close")
        client.wait(30)
    serve.send_signal(signal.SIGTERM)
    status = serve.wait(60)
    spread = Counter((conn - 1) % args.workers + 1 for conn in log.connected)
    per_conn = (after - before) / max(n_open, 1)
    print(f"serve --workers {args.workers}: {args.connections} connections asked")
    print(f"  opened          {n_open} ({n_failed} failed) in {open_seconds:.2f} s")
    print(f"  per worker      {dict(sorted(spread.items()))}  (SO_REUSEPORT's spread)")
    print(f"  workers' RSS    {before / 1024:.1f} MiB -> {after / 1024:.1f} MiB")
    print(f"  per connection  {per_conn:.1f} KiB")
    print(f"  echoed          {n_echoed} of {n_open} after {args.hold:g} s held ({n_lost} lost)")
    print(f"  serve exit      {status}")
    ok = n_failed == 0 and n_lost == 0 and n_echoed == args.connections and status == 0
    print("OK: nothing lost" if ok else "FAILED")
    return 0 if ok else 1


def _ask(client: subprocess.Popen[str], command: str | None) -> str:
    assert client.stdin is not None and client.stdout is not None
    if command is not None:
        client.stdin.write(command + "\n")
        client.stdin.flush()
    return client.stdout.readline()


if __name__ == "__main__":
    sys.exit(main())
