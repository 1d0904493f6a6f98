"""``wstool serve`` against the websockets library's asyncio client.

Every test runs against both shared servers (permessage-deflate on, and
``--no-deflate``) with the client's compression on (``"deflate"``) and off
(``None``), so all four negotiation outcomes carry real traffic.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, TypeVar

import pytest

if TYPE_CHECKING:
    from conftest import WstoolServer

pytest.importorskip("websockets", reason="the websockets library is not installed")
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

T = TypeVar("T")
TIMEOUT = 20.0
MIB = 2**20


def run(coro: Awaitable[T], timeout: float = TIMEOUT) -> T:
    """Run a coroutine on a fresh event loop, failing after ``timeout`` seconds."""
    return asyncio.run(asyncio.wait_for(coro, timeout))  # type: ignore[arg-type]


def _connect(url: str, compression: str | None, **kwargs: Any) -> Any:
    return connect(
        url,
        compression=compression,
        max_size=4 * MIB,
        open_timeout=10,
        close_timeout=5,
        ping_interval=None,
        **kwargs,
    )


def exchange(
    server: WstoolServer,
    compression: str | None,
    body: Callable[[ClientConnection], Awaitable[T]],
    **kwargs: Any,
) -> T:
    """Connect, run ``body`` on the connection, close normally, and return its result."""

    async def session() -> T:
        async with _connect(server.url, compression, **kwargs) as ws:
            return await body(ws)

    return run(session())


@pytest.fixture(params=["deflate", None], ids=["client-deflate", "client-plain"])
def compression(request: pytest.FixtureRequest) -> str | None:
    """The websockets client's ``compression`` argument."""
    return request.param  # type: ignore[no-any-return]


def _deflate_expected(server: WstoolServer, compression: str | None) -> bool:
    return compression == "deflate" and "--no-deflate" not in server.args


def test_extension_negotiated(serve_each: WstoolServer, compression: str | None) -> None:
    """permessage-deflate is agreed exactly when the client offers it and the server allows it."""

    async def body(ws: ClientConnection) -> tuple[str | None, list[str]]:
        header = ws.response.headers.get("Sec-WebSocket-Extensions")
        names = [ext.name for ext in ws.protocol.extensions]
        return header, names

    header, names = exchange(serve_each, compression, body)
    if _deflate_expected(serve_each, compression):
        assert header is not None
        assert header.split(";")[0].strip() == "permessage-deflate"
        assert names == ["permessage-deflate"]
    else:
        assert header is None
        assert names == []


def test_text_and_binary_echo(serve_each: WstoolServer, compression: str | None) -> None:
    """Text (including non-ASCII) and binary messages come back unchanged, with their type."""
    text = "héllo, wörld ✓ " * 20
    data = bytes(range(256)) * 4

    async def body(ws: ClientConnection) -> tuple[Any, Any]:
        await ws.send(text)
        got_text = await ws.recv()
        await ws.send(data)
        got_data = await ws.recv()
        return got_text, got_data

    got_text, got_data = exchange(serve_each, compression, body)
    assert isinstance(got_text, str)
    assert got_text == text
    assert isinstance(got_data, bytes)
    assert got_data == data


def test_empty_messages(serve_each: WstoolServer, compression: str | None) -> None:
    """An empty text and an empty binary message are echoed as empty, of the same type."""

    async def body(ws: ClientConnection) -> tuple[Any, Any]:
        await ws.send("")
        first = await ws.recv()
        await ws.send(b"")
        second = await ws.recv()
        return first, second

    first, second = exchange(serve_each, compression, body)
    assert first == ""
    assert isinstance(first, str)
    assert second == b""
    assert isinstance(second, bytes)


def test_one_mebibyte(serve_each: WstoolServer, compression: str | None) -> None:
    """1 MiB messages, incompressible binary and compressible text, survive the round trip."""
    data = random.Random(6455).randbytes(MIB)
    text = ("0123456789abcdef" * (MIB // 16))[:MIB]

    async def body(ws: ClientConnection) -> tuple[Any, Any]:
        await ws.send(data)
        got_data = await ws.recv()
        await ws.send(text)
        got_text = await ws.recv()
        return got_data, got_text

    got_data, got_text = exchange(serve_each, compression, body)
    assert len(got_data) == MIB
    assert got_data == data
    assert len(got_text) == MIB
    assert got_text == text


def test_fragmented_messages(serve_each: WstoolServer, compression: str | None) -> None:
    """A message sent as several frames (an iterable) is echoed as one reassembled message."""
    text_parts = ["frag", "mented ", "", "téxt ✓"]
    byte_parts = [b"\x00\x01", b"", b"\xff" * 1000, b"end"]

    async def body(ws: ClientConnection) -> tuple[Any, Any]:
        await ws.send(text_parts)
        got_text = await ws.recv()
        await ws.send(byte_parts)
        got_bytes = await ws.recv()
        return got_text, got_bytes

    got_text, got_bytes = exchange(serve_each, compression, body)
    assert got_text == "".join(text_parts)
    assert got_bytes == b"".join(byte_parts)


def test_ping_pong(serve_each: WstoolServer, compression: str | None) -> None:
    """Pings with and without payload are answered with a matching Pong, between messages."""

    async def body(ws: ClientConnection) -> tuple[float, float, Any]:
        latency_payload = await asyncio.wait_for(await ws.ping(b"wstool-ping"), 5)
        latency_empty = await asyncio.wait_for(await ws.ping(), 5)
        await ws.send("after pings")
        return latency_payload, latency_empty, await ws.recv()

    latency_payload, latency_empty, after = exchange(serve_each, compression, body)
    assert latency_payload >= 0
    assert latency_empty >= 0
    assert after == "after pings"


def test_close_code_and_reason_echoed(serve_each: WstoolServer, compression: str | None) -> None:
    """Our Close 4000 "bye" is answered with a Close carrying the same code and reason."""

    async def body() -> tuple[Any, Any]:
        async with _connect(serve_each.url, compression) as ws:
            await ws.send("before close")
            assert await ws.recv() == "before close"
            await ws.close(4000, "bye")
            return ws.protocol.close_rcvd, ws.protocol.close_sent

    received, sent = run(body())
    assert sent is not None
    assert (sent.code, sent.reason) == (4000, "bye")
    assert received is not None, "the server did not answer our Close"
    assert (received.code, received.reason) == (4000, "bye")


@pytest.mark.parametrize(
    ("offered", "selected"),
    [
        (["chat"], "chat"),
        (["superchat", "chat"], "chat"),
        (None, None),
    ],
    ids=["only-chat", "chat-second", "none-offered"],
)
def test_subprotocol_selection(
    wstool_serve: Callable[..., WstoolServer], offered: list[str] | None, selected: str | None
) -> None:
    """A server started with ``--subprotocol chat`` selects chat when offered, nothing otherwise."""
    server = wstool_serve("--subprotocol", "chat")

    async def body(ws: ClientConnection) -> tuple[Any, str | None, Any]:
        await ws.send("hello chat")
        return ws.subprotocol, ws.response.headers.get("Sec-WebSocket-Protocol"), await ws.recv()

    kwargs = {"subprotocols": offered} if offered is not None else {}
    subprotocol, header, echoed = exchange(server, "deflate", body, **kwargs)
    assert subprotocol == selected
    assert header == selected
    assert echoed == "hello chat"


def test_sigterm_closes_with_going_away(wstool_serve: Callable[..., WstoolServer]) -> None:
    """SIGTERM makes the server send Close 1001 to a connected client, then exit 0."""
    server = wstool_serve()

    async def body() -> Any:
        async with _connect(server.url, "deflate") as ws:
            await ws.send("still here")
            assert await ws.recv() == "still here"  # the reactor is running
            server.process.terminate()
            with pytest.raises(ConnectionClosed):
                await ws.recv()
            return ws.protocol.close_rcvd

    received = run(body())
    assert received is not None, "the server closed without a Close frame"
    assert received.code == 1001
    assert server.process.wait(10) == 0, server.output()
