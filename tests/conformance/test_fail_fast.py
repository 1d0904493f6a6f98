"""Invalid UTF-8 inside one text frame that arrives in several reads (RFC 6455 §8.1).

The Autobahn Testsuite's cases 6.4.3 and 6.4.4 write one text frame in three
chops with pauses; a server that fails only once the whole frame is in is
rated NON-STRICT there, one that fails at the first invalid byte OK. wstool's
own cases 6.29.x rate the same way: OK for ``wstool serve`` (in
test_utf8.py), NON-STRICT for a server that checks whole frames only (here).
"""

from __future__ import annotations

import asyncio
import base64
import os
import socket
import threading
import time
from collections.abc import Iterator

import pytest

from conformance.conftest import Servers
from wstool.check.cases import cases_in
from wstool.check.peer import parse_uri
from wstool.check.runner import NON_STRICT, run_case
from wstool.core.frames import FrameParser, forge_frame, parse_close_payload
from wstool.core.handshake import accept_key, build_response, check_request
from wstool.core.http import parse_request_head

ONE_FRAME_CASES = [
    case for case in cases_in("6") if case.id in ("6.4.3", "6.4.4") or case.id.startswith("6.29.")
]
KEY = bytes.fromhex("37fa213d")
READ_TIMEOUT = 2.0


async def _whole_frames_only(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    """A server that checks the UTF-8 of text only once a frame is complete."""
    try:
        buffer = b""
        while (parsed := parse_request_head(buffer)) is None:
            chunk = await reader.read(4096)
            if not chunk:
                return
            buffer += chunk
        head, used = parsed
        request = check_request(head.method, head.target, head.headers, version=head.version)
        writer.write(build_response(request))
        parser, data = FrameParser(), buffer[used:]
        text = b""
        while True:
            for frame in parser.feed(data):
                if frame.opcode in (0, 1):
                    text += frame.data
                if frame.opcode == 8 or (frame.opcode in (0, 1) and not _is_utf8_prefix(text)):
                    code = 1000 if frame.opcode == 8 else 1007
                    writer.write(forge_frame(opcode=8, payload=code.to_bytes(2, "big")))
                    await writer.drain()
                    return
            data = await asyncio.wait_for(reader.read(65536), 10)
            if not data:
                return
    finally:
        writer.close()


def _is_utf8_prefix(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.reason == "unexpected end of data"
    return True


@pytest.fixture
def late_server() -> Iterator[str]:
    """The whole-frames-only server on 127.0.0.1, port 0, in a loop thread; its URL."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()

    async def listen() -> asyncio.AbstractServer:
        return await asyncio.start_server(_whole_frames_only, "127.0.0.1", 0)

    server = asyncio.run_coroutine_threadsafe(listen(), loop).result(10)
    yield f"ws://127.0.0.1:{server.sockets[0].getsockname()[1]}/"

    async def shutdown() -> None:
        server.close()
        await server.wait_closed()

    asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@pytest.mark.parametrize("case", ONE_FRAME_CASES, ids=[case.id for case in ONE_FRAME_CASES])
def test_failing_after_the_whole_frame_is_non_strict(case: object, late_server: str) -> None:
    """A server that finds the invalid UTF-8 only once the frame is complete still
    fails with 1007, but only after the rest was sent: NON-STRICT, as Autobahn rates it."""
    result = run_case(case, parse_uri(late_server))  # type: ignore[arg-type]
    assert result.verdict == NON_STRICT, (result.observed, result.detail)
    assert "failed only after the rest was sent" in result.detail


def _handshake(port: int) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", port), timeout=READ_TIMEOUT)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
            "Sec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = sock.recv(4096)
        assert chunk, "serve closed during the handshake"
        head += chunk
    assert head.startswith(b"HTTP/1.1 101 ") and accept_key(key).encode() in head
    return sock


def test_serve_fails_before_the_rest_of_the_frame(servers: Servers) -> None:
    """Over loopback: the first 1 KiB of a 64 KiB text frame, with a bad byte at 100, then
    a pause: wstool serve sends Close 1007 before the client sends the rest."""
    port = parse_uri(servers.get("default").url).port
    payload = b"x" * 100 + b"\xff" + b"y" * 65435
    frame = forge_frame(opcode=1, payload=payload, mask_key=KEY)
    with _handshake(port) as sock:
        sock.sendall(frame[: 8 + 1024])
        sent_at = time.monotonic()
        parser, frames = FrameParser(), []
        while not frames:
            data = sock.recv(4096)  # times out (READ_TIMEOUT) if serve waits for the rest
            assert data, "serve closed TCP without a Close frame"
            frames = list(parser.feed(data))
        assert time.monotonic() - sent_at < READ_TIMEOUT
        [close] = frames
        assert close.opcode == 8
        assert parse_close_payload(close.data)[0] == 1007
