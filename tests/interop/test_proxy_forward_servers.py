"""The proxy in front of Node's ws and websockets' servers: every way in, ws and wss.

Each case runs against a relaying and a terminating (``--terminate``) proxy.

Each server is an echo server, with permessage-deflate on (every message
compressed) or off, over ws:// or wss:// (a certificate from a test CA that
the proxy trusts upstream). The client is websockets: through ``proxy=``
(HTTP CONNECT; for wss:// it trusts the proxy's own CA), or its sans-I/O
protocol writing the request in absolute form (``GET ws://host:port/path``,
``GET wss://...``) straight to the proxy. Each case checks the echoes and
the proxy's NDJSON summary of that connection (upstream, messages,
compression, no violation). The same servers are also put behind the
reverse proxy (``--to``, relaying and terminating).
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import ssl
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from test_proxy_peers import WAIT, Proxy, run

pytest.importorskip("cryptography")
websockets = pytest.importorskip("websockets")
sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))

from websockets.asyncio.client import connect as ws_connect  # noqa: E402
from websockets.asyncio.server import serve as ws_serve  # noqa: E402
from websockets.client import ClientProtocol  # noqa: E402
from websockets.extensions.permessage_deflate import (  # noqa: E402
    ClientPerMessageDeflateFactory,
)
from websockets.frames import Opcode  # noqa: E402
from websockets.protocol import State  # noqa: E402
from websockets.uri import parse_uri  # noqa: E402

NODE_DIR = Path(__file__).with_name("node")
MESSAGES: list[str | bytes] = ["hello " * 40, bytes(range(256)) * 64, ""]


@dataclass
class Servers:
    """Echo servers by (kind, secure, deflate) -> port, and the CA their certificates are from."""

    ca_file: Path
    ports: dict[tuple[str, bool, bool], int] = field(default_factory=dict)


def _node_server(argv: list[str], started: list[subprocess.Popen[str]]) -> int:
    node = shutil.which("node")
    assert node is not None
    process = subprocess.Popen(
        [node, "ws_echo_server.js", *argv],
        cwd=NODE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
    )
    started.append(process)
    assert process.stdout is not None
    line = process.stdout.readline()
    assert line.startswith("PORT "), line
    return int(line.split()[1])


def _websockets_servers(
    context: ssl.SSLContext, loop: asyncio.AbstractEventLoop, ready: threading.Event
) -> Any:
    """Four websockets echo servers on a loop of their own; returns their ports as they start."""

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    ports: dict[tuple[bool, bool], int] = {}

    async def main(stop: asyncio.Future[None]) -> None:
        servers = []
        for secure in (False, True):
            for deflate in (False, True):
                server = await ws_serve(
                    echo,
                    "127.0.0.1",
                    0,
                    ssl=context if secure else None,
                    compression="deflate" if deflate else None,
                )
                servers.append(server)
                ports[secure, deflate] = server.sockets[0].getsockname()[1]
        ready.set()
        await stop
        for server in servers:
            server.close()
            await server.wait_closed()

    return ports, main


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """Node's ws (if installed) and websockets, each ws/wss with deflate on and off."""
    from certs import make_ca, make_server_cert, write_pair
    from cryptography.hazmat.primitives import serialization

    directory = tmp_path_factory.mktemp("forward-pki")
    ca = make_ca()
    cert, key = write_pair(directory, "server", make_server_cert(ca, ["localhost", "127.0.0.1"]))
    found = Servers(directory / "ca.pem")
    found.ca_file.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    started: list[subprocess.Popen[str]] = []
    if shutil.which("node") and (NODE_DIR / "node_modules" / "ws").is_dir():
        for secure in (False, True):
            for deflate in (False, True):
                argv = (["--deflate"] if deflate else []) + (
                    ["--tls", str(cert), str(key)] if secure else []
                )
                found.ports["node", secure, deflate] = _node_server(argv, started)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    ports, main = _websockets_servers(context, loop, ready)
    stop: asyncio.Future[None] = loop.create_future()
    thread = threading.Thread(target=loop.run_until_complete, args=(main(stop),), daemon=True)
    thread.start()
    assert ready.wait(WAIT)
    for (secure, deflate), port in ports.items():
        found.ports["websockets", secure, deflate] = port
    try:
        yield found
    finally:
        loop.call_soon_threadsafe(stop.set_result, None)
        thread.join(WAIT)
        for process in started:
            process.kill()
            process.wait(WAIT)


@pytest.fixture(scope="module", params=["relay", "terminate"])
def forward(
    servers: Servers, tmp_path_factory: pytest.TempPathFactory, request: pytest.FixtureRequest
) -> Iterator[Proxy]:
    """A forward proxy, relaying or terminating, trusting the servers' CA upstream."""
    ca_dir = tmp_path_factory.mktemp("forward-ca")
    mode = ["--terminate"] if request.param == "terminate" else []
    running = Proxy("-q", *mode, "--ca-dir", str(ca_dir), "--upstream-ca", str(servers.ca_file))
    running.terminating = bool(mode)  # type: ignore[attr-defined]
    running.ca_pem = ca_dir / "ca.pem"  # type: ignore[attr-defined]
    try:
        yield running
    finally:
        running.stop()


def _absolute_form_echoes(proxy_port: int, url: str, deflate: bool) -> list[str | bytes]:
    """websockets' sans-I/O client, its request written in absolute form to the proxy."""
    protocol = ClientProtocol(
        parse_uri(url),
        extensions=[ClientPerMessageDeflateFactory()] if deflate else None,
        max_size=None,
    )
    request = protocol.connect()
    request.path = url  # GET ws://host:port/path HTTP/1.1 (RFC 9112 §3.2.2)
    protocol.send_request(request)
    echoes: list[str | bytes] = []
    with socket.create_connection(("127.0.0.1", proxy_port), timeout=WAIT) as sock:
        sock.sendall(protocol.data_to_send()[0])
        while protocol.state is State.CONNECTING and protocol.handshake_exc is None:
            protocol.receive_data(sock.recv(65536))
        if protocol.handshake_exc is not None:
            raise protocol.handshake_exc
        for message in MESSAGES:
            if isinstance(message, str):
                protocol.send_text(message.encode())
            else:
                protocol.send_binary(message)
            sock.sendall(b"".join(protocol.data_to_send()))
            echoes.append(_receive_message(sock, protocol))
        protocol.send_close(1000)
        sock.sendall(b"".join(protocol.data_to_send()))
    return echoes


def _receive_message(sock: socket.socket, protocol: ClientProtocol) -> str | bytes:
    while True:
        for event in protocol.events_received():
            if getattr(event, "opcode", None) is Opcode.TEXT:
                return bytes(event.data).decode()
            if getattr(event, "opcode", None) is Opcode.BINARY:
                return bytes(event.data)
        data = sock.recv(65536)
        if not data:
            raise AssertionError("the connection closed before the echo")
        protocol.receive_data(data)


async def _connect_echoes(proxy: Proxy, url: str, deflate: bool) -> list[str | bytes]:
    context = None
    if url.startswith("wss:"):
        context = ssl.create_default_context(cafile=str(proxy.ca_pem))  # type: ignore[attr-defined]
    echoes: list[str | bytes] = []
    async with ws_connect(
        url,
        proxy=proxy.url.replace("ws:", "http:"),
        ssl=context,
        compression="deflate" if deflate else None,
        max_size=None,
    ) as ws:
        for message in MESSAGES:
            await ws.send(message)
            echoes.append(await ws.recv())
    return echoes


@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
@pytest.mark.parametrize("way", ["connect", "absolute"])
@pytest.mark.parametrize("kind", ["node", "websockets"])
def test_echoes_through_the_forward_proxy(
    forward: Proxy, servers: Servers, kind: str, way: str, secure: bool, deflate: bool
) -> None:
    """Every message comes back intact; the summary names the upstream and the compression."""
    port = servers.ports.get((kind, secure, deflate))
    if port is None:
        pytest.skip("node and tests/interop/node/node_modules/ws are needed")
    scheme = "wss" if secure else "ws"
    path = f"/{kind}-{way}-{scheme}-{'deflate' if deflate else 'plain'}"
    url = f"{scheme}://localhost:{port}{path}"
    if way == "connect":
        echoes = run(_connect_echoes(forward, url, deflate))
    else:
        echoes = _absolute_form_echoes(forward.port, url, deflate)
    assert echoes == MESSAGES
    summary = _summary(forward, path)
    assert summary["upgraded"] and summary["upstream"] == url
    for direction in ("client_to_server", "server_to_client"):
        stats = summary[direction]
        assert stats["messages"] == len(MESSAGES) and stats["violations"] == 0, stats
    if not forward.terminating:  # type: ignore[attr-defined]
        compressed = summary["server_to_client"]["compressed_messages"]
        assert (compressed == len(MESSAGES)) if deflate else compressed == 0


def _summary(proxy: Proxy, path: str) -> dict[str, Any]:
    deadline = time.monotonic() + 10
    while True:
        for record in proxy.records():
            if record["event"] == "summary" and record["upstream"].endswith(path):
                return record
        if time.monotonic() > deadline:
            pytest.fail(f"no summary for {path}: {proxy.errors[-5:]}")
        time.sleep(0.05)


@pytest.mark.parametrize("terminate", [False, True], ids=["relay", "terminate"])
@pytest.mark.parametrize("deflate", [False, True], ids=["plain", "deflate"])
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
@pytest.mark.parametrize("kind", ["node", "websockets"])
def test_echoes_through_the_reverse_proxy(
    servers: Servers, kind: str, secure: bool, deflate: bool, terminate: bool
) -> None:
    """The same servers behind --to (a wss:// one trusted with --upstream-ca): echoes intact."""
    port = servers.ports.get((kind, secure, deflate))
    if port is None:
        pytest.skip("node and tests/interop/node/node_modules/ws are needed")
    scheme = "wss" if secure else "ws"
    mode = ["--terminate"] if terminate else []
    running = Proxy(
        "-q", *mode, "--to", f"{scheme}://localhost:{port}/", "--upstream-ca", str(servers.ca_file)
    )
    try:

        async def main() -> list[str | bytes]:
            echoes: list[str | bytes] = []
            compression = "deflate" if deflate else None
            async with ws_connect(running.url + "/r", compression=compression, max_size=None) as ws:
                for message in MESSAGES:
                    await ws.send(message)
                    echoes.append(await ws.recv())
            return echoes

        assert run(main()) == MESSAGES
        summary = _summary(running, "/r")
    finally:
        running.stop()
    assert summary["upstream"] == f"{scheme}://localhost:{port}/r"
    assert summary["client_to_server"]["messages"] == len(MESSAGES)
    assert summary["server_to_client"]["violations"] == 0
