"""``wstool proxy --to`` between real peers on 127.0.0.1: websockets, Node's ws, wstool serve.

The proxy runs as a subprocess with ``--json`` (its NDJSON log is read back);
upstreams are a websockets echo server and raw asyncio servers that record
every byte or refuse, run on this test's event loop; ``wstool serve`` over
TLS for a wss:// upstream. Every test is bounded in time and stops what it
starts.
"""

from __future__ import annotations

import asyncio
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import pytest

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import connect as ws_connect  # noqa: E402
from websockets.asyncio.server import serve as ws_serve  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))

PROJECT_ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = Path(__file__).with_name("node")
WAIT = 15.0
LISTENING = re.compile(r"listening on (?:ws|http)://127\.0\.0\.1:(\d+)")
MASK = b"\x37\xfa\x21\x3d"
REQUEST = (
    b"GET /rec HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)
SWITCHED = (
    b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    b"Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
)


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
    env.update({"NO_COLOR": "1", "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"})
    return env


class Proxy:
    """A running ``wstool proxy --json`` and its NDJSON records."""

    def __init__(self, *argv: str, **environ: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "wstool", "proxy", "--listen", "127.0.0.1:0", "--json", *argv],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            cwd=PROJECT_ROOT,
            env={**_env(), **environ},
        )
        self.lines: list[str] = []
        self.errors: list[str] = []
        self._port: queue.Queue[int] = queue.Queue()
        threading.Thread(target=self._pump_out, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()
        try:
            self.port = self._port.get(timeout=WAIT)
        except queue.Empty:
            self.stop()
            pytest.fail(f"wstool proxy did not listen: {self.errors}")

    def _pump_out(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append(line)

    def _pump_err(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.errors.append(line)
            match = LISTENING.search(line)
            if match:
                self._port.put(int(match[1]))

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in list(self.lines) if line.startswith("{")]

    def wait_for(self, event: str, count: int = 1, timeout: float = 10.0) -> list[dict[str, Any]]:
        """The records so far, once ``count`` of kind ``event`` are among them."""
        deadline = time.monotonic() + timeout
        while True:
            records = self.records()
            if sum(r["event"] == event for r in records) >= count:
                return records
            if time.monotonic() > deadline:
                pytest.fail(f"no {count} {event!r} records in {timeout}s: {records}{self.errors}")
            time.sleep(0.05)

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(WAIT)
        return self.process.returncode


@pytest.fixture
def proxy() -> Iterator[Callable[..., Proxy]]:
    """Starts proxies; each is stopped at teardown."""
    started: list[Proxy] = []

    def start(*argv: str, **environ: str) -> Proxy:
        started.append(Proxy(*argv, **environ))
        return started[-1]

    yield start
    for running in started:
        running.stop()


@asynccontextmanager
async def echo_server(compression: str | None) -> AsyncIterator[int]:
    """A websockets echo server on port 0."""

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async with ws_serve(echo, "127.0.0.1", 0, compression=compression) as server:
        yield server.sockets[0].getsockname()[1]


@asynccontextmanager
async def raw_server(answer: bytes, received: bytearray) -> AsyncIterator[int]:
    """A TCP server that records every byte and answers the request head with ``answer``."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await reader.readuntil(b"\r\n\r\n")
        received.extend(head)
        writer.write(answer)
        await writer.drain()
        while data := await reader.read(65536):
            received.extend(data)
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    async with server:
        yield server.sockets[0].getsockname()[1]


def run(coro: Any) -> Any:
    return asyncio.run(asyncio.wait_for(coro, 30))


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# -- websockets on both ends ------------------------------------------------------------


@pytest.mark.parametrize("compression", ["deflate", None])
def test_websockets_through_the_proxy(proxy: Callable[..., Proxy], compression: str | None) -> None:
    """Messages of every kind come back intact; the log tags frames with conn and direction."""
    text, blob = "héllo " * 50, bytes(range(256)) * 4096

    async def main() -> Proxy:
        async with echo_server(compression) as port:
            running = await asyncio.to_thread(proxy, "--to", f"ws://127.0.0.1:{port}/")
            async with ws_connect(running.url + "/room", compression=compression) as ws:
                await ws.send(text)
                assert await ws.recv() == text
                await ws.send(blob)
                assert await ws.recv() == blob
                await ws.send(["frag", "ment"])
                assert await ws.recv() == "fragment"
            return running

    running = run(main())
    records = running.wait_for("summary")
    request = next(r for r in records if r["event"] == "request")
    assert request["upstream_request"].startswith("GET / HTTP/1.1\r\n") is False
    assert request["upstream_request"].startswith("GET /room HTTP/1.1\r\n")
    frames = [r for r in records if r["event"] == "frame"]
    assert {r["direction"] for r in frames} == {"client-to-server", "server-to-client"}
    assert all(r["conn"] == 1 for r in frames)
    assert not [r for r in records if r["event"] == "violation"]
    summary = records[-1]
    assert summary["event"] == "summary" and summary["upgraded"]
    assert summary["client_to_server"]["messages"] == 3
    assert summary["server_to_client"]["violations"] == 0
    messages = [r for r in records if r["event"] == "message"]
    if compression:
        assert all(r["compressed"] for r in messages)
        big = [r for r in messages if r["size"] == len(blob)]
        assert big and all(r["wire_size"] < len(blob) for r in big)
        assert summary["client_to_server"]["compressed_messages"] == 3
    else:
        assert all(not r["compressed"] for r in messages)  # only the fragmented one


def test_forged_frames_reach_the_upstream_byte_for_byte(proxy: Callable[..., Proxy]) -> None:
    """A reserved opcode, RSV2 and an unmasked frame arrive as sent; the log names each."""
    from wstool.core.frames import forge_frame

    forged = (
        forge_frame(opcode=0x3, payload=b"reserved", mask_key=MASK)
        + forge_frame(opcode=1, payload=b"rsv2", rsv2=True, mask_key=MASK)
        + forge_frame(opcode=1, payload=b"no mask")
        + forge_frame(opcode=8, payload=b"\x03\xe8", mask_key=MASK)
    )
    received = bytearray()

    async def main() -> Proxy:
        async with raw_server(SWITCHED, received) as port:
            running = await asyncio.to_thread(proxy, "--to", f"ws://127.0.0.1:{port}/")
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.write(REQUEST)
            assert await reader.readuntil(b"\r\n\r\n") == SWITCHED
            writer.write(forged)
            await writer.drain()
            deadline = time.monotonic() + 10
            while not received.endswith(forged) and time.monotonic() < deadline:
                await asyncio.sleep(0.02)
            writer.close()
            # The FIN goes on to the upstream, which closes: then the summary comes.
            await asyncio.to_thread(running.wait_for, "summary")
            return running

    running = run(main())
    assert bytes(received).endswith(b"\r\n\r\n" + forged)
    records = running.wait_for("summary")
    rules = [
        (v["rule"], v["close_code"])
        for r in records
        if r["event"] == "frame" and r["direction"] == "client-to-server"
        for v in r["violations"]
    ]
    assert rules == [
        ("reserved-opcode", 1002),
        ("reserved-bits", 1002),
        ("mask-required", 1002),
    ]


def test_refusal_passes_through(proxy: Callable[..., Proxy]) -> None:
    """The upstream's 403, headers and body reach the client as they were."""
    refusal = (
        b"HTTP/1.1 403 Forbidden\r\nContent-Type: text/plain\r\nX-Reason: origin\r\n"
        b"Content-Length: 18\r\n\r\norigin not allowed"
    )

    async def main() -> tuple[Proxy, bytes]:
        async with raw_server(refusal, bytearray()) as port:
            running = await asyncio.to_thread(proxy, "--to", f"ws://127.0.0.1:{port}/")
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.write(REQUEST)
            answer = await reader.read()  # the proxy closes after the body
            writer.close()
            await asyncio.to_thread(running.wait_for, "summary")
            return running, answer

    running, answer = run(main())
    assert answer == refusal
    response = next(r for r in running.wait_for("summary") if r["event"] == "response")
    assert response["status"] == 403 and response["body"] == "origin not allowed"


def test_unreachable_upstream_is_502(proxy: Callable[..., Proxy]) -> None:
    """Nothing listens upstream: the client gets 502 and one line why."""
    running = proxy("--to", f"ws://127.0.0.1:{closed_port()}/")

    async def main() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        writer.write(REQUEST)
        answer = await reader.read()
        writer.close()
        return answer

    answer = run(main())
    head, _, body = answer.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    assert body.count(b"\n") == 1 and b"connection refused" in body
    failed = next(r for r in running.wait_for("failed") if r["event"] == "failed")
    assert failed["status"] == 502


# -- Node's ws client, and a wss:// upstream -----------------------------------------------


@pytest.mark.parametrize("flag", ["--deflate", "--no-deflate"])
def test_node_ws_through_the_proxy(proxy: Callable[..., Proxy], flag: str) -> None:
    """Node's ws client through the proxy to wstool serve: every echo intact, Close 4000."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "ws").is_dir():
        pytest.skip("node and tests/interop/node/node_modules/ws are needed")
    serve = _start_serve()
    try:
        running = proxy("-q", "--to", f"ws://127.0.0.1:{serve[1]}/")
        completed = subprocess.run(
            [node, "ws_client.js", running.url + "/", flag],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=60,
            stdin=subprocess.DEVNULL,
        )
    finally:
        serve[0].kill()
        serve[0].wait(WAIT)
    assert completed.returncode == 0, completed.stderr[-2000:]
    report = json.loads(completed.stdout.strip().splitlines()[-1])
    assert all(echo["ok"] for echo in report["echoes"].values())
    assert report["close"] == {"code": 4000, "reason": "bye"}
    summary = running.wait_for("summary")[-1]
    assert summary["client_to_server"]["violations"] == 0
    assert summary["server_to_client"]["close_code"] == 4000


def test_wss_upstream(proxy: Callable[..., Proxy], tmp_path: Path) -> None:
    """--to wss:// with --upstream-ca: TLS upstream, plain ws:// to the client."""
    pytest.importorskip("cryptography")
    from certs import make_ca, make_server_cert, write_pair

    ca = make_ca()
    cert, key = write_pair(tmp_path, "server", make_server_cert(ca, ["localhost", "127.0.0.1"]))
    ca_file = tmp_path / "ca.pem"
    from cryptography.hazmat.primitives import serialization

    ca_file.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    serve = _start_serve("--tls-cert", str(cert), "--tls-key", str(key), scheme="wss")
    try:
        running = proxy("--to", f"wss://localhost:{serve[1]}/", "--upstream-ca", str(ca_file))

        async def main() -> None:
            async with ws_connect(running.url + "/") as ws:
                await ws.send("over tls")
                assert await ws.recv() == "over tls"

        run(main())
    finally:
        serve[0].kill()
        serve[0].wait(WAIT)
    summary = running.wait_for("summary")[-1]
    assert summary["upgraded"] and summary["upstream"].startswith("wss://localhost:")


def _start_serve(*extra: str, scheme: str = "ws") -> tuple[subprocess.Popen[str], int]:
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "wstool",
            "serve",
            "--port",
            "0",
            "--ping-interval",
            "0",
            "-q",
            *extra,
        ],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=PROJECT_ROOT,
        env=_env(),
    )
    found: queue.Queue[int] = queue.Queue()
    pattern = re.compile(rf"listening on {scheme}://127\.0\.0\.1:(\d+)/")

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            match = pattern.search(line)
            if match:
                found.put(int(match[1]))

    threading.Thread(target=pump, daemon=True).start()
    try:
        return process, found.get(timeout=WAIT)
    except queue.Empty:
        process.kill()
        raise


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("compression", ["deflate", None])
def test_stopping_sends_close_1001_both_ways(
    proxy: Callable[..., Proxy], stop_signal: int, compression: str | None
) -> None:
    """Ctrl-C or SIGTERM: the websockets client and server each receive Close 1001; exit 0."""
    codes: dict[str, int | None] = {}

    async def main() -> Proxy:
        async def hold_open(ws: Any) -> None:
            async for message in ws:
                await ws.send(message)
            codes["server"] = ws.close_code

        async with ws_serve(hold_open, "127.0.0.1", 0, compression=compression) as server:
            port = server.sockets[0].getsockname()[1]
            running = await asyncio.to_thread(proxy, "--to", f"ws://127.0.0.1:{port}/")
            async with ws_connect(running.url + "/", compression=compression) as ws:
                await ws.send("before")
                assert await ws.recv() == "before"
                running.process.send_signal(stop_signal)
                with pytest.raises(websockets.ConnectionClosed) as closed:
                    await ws.recv()
                assert closed.value.rcvd is not None
                codes["client"] = closed.value.rcvd.code
                codes["client_reason"] = closed.value.rcvd.reason  # type: ignore[assignment]
            for _ in range(100):
                if "server" in codes:
                    break
                await asyncio.sleep(0.05)
            return running

    running = run(main())
    assert running.process.wait(WAIT) == 0
    assert codes["client"] == 1001 and codes["server"] == 1001
    assert codes["client_reason"] == "proxy stopping"
    records = running.records()
    injected = [r for r in records if r["event"] == "injected"]
    assert {r["direction"] for r in injected} == {"client-to-server", "server-to-client"}
    summary = records[-1]
    assert summary["event"] == "summary" and summary["cause"] == "the proxy stopped"
