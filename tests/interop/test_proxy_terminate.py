"""``wstool proxy --terminate`` between websockets peers: one WebSocket per side.

Extensions are negotiated on each side on its own, the subprotocol the
server picks reaches the client, a client that breaks a rule is failed by the
proxy (as an endpoint must) and the server hears 1014, and a refusal keeps
its status.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from test_proxy_peers import MASK, REQUEST, Proxy, proxy, raw_server, run
from websockets.asyncio.client import connect as ws_connect
from websockets.asyncio.server import serve as ws_serve
from websockets.exceptions import ConnectionClosed, InvalidStatus

from wstool.core.frames import forge_frame

__all__ = ["proxy"]  # the fixture, used here too


@asynccontextmanager
async def server(closes: list[int | None]) -> AsyncIterator[int]:
    """A websockets echo server without compression, speaking "superchat"."""

    async def echo(ws: Any) -> None:
        try:
            async for message in ws:
                await ws.send(message)
        except ConnectionClosed:
            pass
        finally:
            closes.append(ws.close_code)

    async with ws_serve(
        echo, "127.0.0.1", 0, compression=None, subprotocols=["superchat"]
    ) as running:
        yield running.sockets[0].getsockname()[1]


def test_each_side_negotiates_its_own_extensions(proxy: Callable[..., Proxy]) -> None:
    """Deflate with the client, none with the server; the server's subprotocol reaches it."""
    closes: list[int | None] = []

    async def main() -> tuple[Proxy, str | None, str | None]:
        async with server(closes) as port:
            running = await asyncio.to_thread(
                proxy, "--terminate", "--to", f"ws://127.0.0.1:{port}/"
            )
            async with ws_connect(running.url + "/", subprotocols=["chat", "superchat"]) as ws:
                extensions = ws.response.headers.get("Sec-WebSocket-Extensions")
                for message in ("one", b"\x00two", "three " * 1000):
                    await ws.send(message)
                    assert await ws.recv() == message
                return running, ws.subprotocol, extensions

    running, subprotocol, extensions = run(main())
    assert subprotocol == "superchat"
    assert extensions is not None and extensions.startswith("permessage-deflate")
    records = running.wait_for("summary")
    frames = [r for r in records if r["event"] == "frame"]
    client_hop = [r for r in frames if r["direction"] in ("client-to-proxy", "proxy-to-client")]
    server_hop = [r for r in frames if r["direction"] in ("server-to-proxy", "proxy-to-server")]
    assert any(r["rsv1"] for r in client_hop if r["opcode"] in (1, 2))
    assert not any(r["rsv1"] for r in server_hop)
    summary = records[-1]
    assert summary["client_to_server"]["messages"] == 3
    assert summary["server_to_client"]["messages"] == 3
    assert closes == [1000]


def test_a_rule_broken_by_the_client_fails_its_side_only(proxy: Callable[..., Proxy]) -> None:
    """A reserved opcode from the client: the client gets 1002, the server 1014."""
    closes: list[int | None] = []

    async def main() -> tuple[Proxy, bytes]:
        async with server(closes) as port:
            running = await asyncio.to_thread(
                proxy, "--terminate", "--to", f"ws://127.0.0.1:{port}/"
            )
            reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
            writer.write(REQUEST[:-2] + b"Sec-WebSocket-Protocol: superchat\r\n\r\n")
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 101 ")
            writer.write(forge_frame(opcode=0x3, payload=b"x", mask_key=MASK))
            answer = await reader.read()
            writer.close()
            await asyncio.to_thread(running.wait_for, "summary")
            return running, answer

    running, answer = run(main())
    assert answer[0] == 0x88 and answer[2:4] == b"\x03\xea"  # Close 1002 to the client
    assert closes == [1014]
    failed = [r for r in running.records() if r["event"] == "violation"]
    assert failed and failed[0]["rule"] == "reserved-opcode"


def test_refusal_keeps_its_status(proxy: Callable[..., Proxy]) -> None:
    """The upstream's 403: the client is refused with 403 too."""
    refusal = b"HTTP/1.1 403 Forbidden\r\nContent-Length: 2\r\n\r\nno"

    async def main() -> int:
        async with raw_server(refusal, bytearray()) as port:
            running = await asyncio.to_thread(
                proxy, "--terminate", "--to", f"ws://127.0.0.1:{port}/"
            )
            with pytest.raises(InvalidStatus) as caught:
                async with ws_connect(running.url + "/"):
                    pass
            return caught.value.response.status_code

    assert run(main()) == 403


def test_server_close_code_reaches_the_client(proxy: Callable[..., Proxy]) -> None:
    """The server closes with 4001: the client hears 4001 with its reason."""

    async def handler(ws: Any) -> None:
        await ws.close(4001, "go away")

    async def main() -> tuple[int | None, str | None]:
        async with ws_serve(handler, "127.0.0.1", 0) as running_server:
            port = running_server.sockets[0].getsockname()[1]
            running = await asyncio.to_thread(
                proxy, "--terminate", "--to", f"ws://127.0.0.1:{port}/"
            )
            async with ws_connect(running.url + "/") as ws:
                with pytest.raises(ConnectionClosed):
                    await ws.recv()
                return ws.close_code, ws.close_reason

    assert run(main()) == (4001, "go away")
