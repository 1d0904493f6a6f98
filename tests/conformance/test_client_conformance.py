"""``wstool connect`` against a misbehaving server: every client-side MUST of RFC 6455.

The server is written here on asyncio raw sockets, in a thread of the test
process. It does the server handshake correctly with
:mod:`wstool.core.handshake` (or answers wrongly on purpose), then sends one
bad frame, and records every frame the client sends back. ``wstool connect``
runs as a subprocess in pipe mode, so what is checked is what a user sees:
the Close frame (and its code) the client sends, the exit status (4 for a
peer violation, 3 for a refused handshake) and the one line on stderr.
"""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from wstool.core.frames import FrameParser, WireFrame, forge_frame, parse_close_payload
from wstool.core.handshake import (
    ClientRequest,
    accept_key,
    build_response,
    check_request,
)
from wstool.core.headers import parse_extensions
from wstool.core.http import parse_request_head

PROJECT_ROOT = Path(__file__).resolve().parents[2]
CLIENT_TIMEOUT = 20.0
SERVER_TIMEOUT = 15.0

PEER_VIOLATION = 4
HANDSHAKE_REJECTED = 3

Answer = Callable[[ClientRequest], bytes]


def good_101(request: ClientRequest) -> bytes:
    """A correct 101 that accepts no subprotocol and no extension."""
    return build_response(request)


def deflate_101(request: ClientRequest) -> bytes:
    """A correct 101 that accepts the client's permessage-deflate offer as is."""
    return build_response(request, extensions=parse_extensions(["permessage-deflate"]))


@dataclass
class Misbehaver:
    """A WebSocket server that sends ``after`` once the handshake is done.

    Attributes:
        answer: builds the handshake answer from the checked request.
        after: bytes written right after the answer (the bad frame).
        echo: echo the client's data frames back (unmasked, uncompressed).
        received: every frame the client sent, unmasked.
        request_raw: the request head as received.
    """

    answer: Answer = good_101
    after: bytes = b""
    echo: bool = False
    received: list[WireFrame] = field(default_factory=list)
    request_raw: bytes = b""
    error: BaseException | None = None
    port: int = 0
    done: threading.Event = field(default_factory=threading.Event)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(self._session(reader, writer), SERVER_TIMEOUT)
        except BaseException as exc:  # reported to the test, which fails on it
            self.error = exc
        finally:
            writer.close()
            self.done.set()

    async def _session(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        buffer = b""
        while (parsed := parse_request_head(buffer)) is None:
            chunk = await reader.read(4096)
            if not chunk:
                return
            buffer += chunk
        head, used = parsed
        self.request_raw = head.raw
        request = check_request(head.method, head.target, head.headers, version=head.version)
        writer.write(self.answer(request))
        await writer.drain()
        if self.after:
            writer.write(self.after)
            await writer.drain()
        parser = FrameParser()
        pending = buffer[used:]
        while True:
            for frame in parser.feed(pending):
                self.received.append(frame)
                if frame.opcode == 0x8:
                    # Answer the client's Close (§5.5.1) and end the TCP connection.
                    writer.write(forge_frame(opcode=0x8, payload=frame.data[:2]))
                    await writer.drain()
                    return
                if self.echo and frame.opcode in (0x1, 0x2):
                    writer.write(forge_frame(opcode=frame.opcode, payload=frame.data))
                    await writer.drain()
            pending = await reader.read(65536)
            if not pending:
                return

    def close_codes(self) -> list[int | None]:
        """The codes of the Close frames the client sent."""
        return [parse_close_payload(f.data)[0] for f in self.received if f.opcode == 0x8]


@pytest.fixture
def serve() -> Iterator[Callable[..., Misbehaver]]:
    """Start a Misbehaver on 127.0.0.1 (port 0) in its own loop thread; stop it at teardown."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="misbehaver", daemon=True)
    thread.start()
    servers: list[asyncio.AbstractServer] = []

    def start(**kwargs: object) -> Misbehaver:
        peer = Misbehaver(**kwargs)  # type: ignore[arg-type]

        async def listen() -> asyncio.AbstractServer:
            return await asyncio.start_server(peer.handle, "127.0.0.1", 0)

        server = asyncio.run_coroutine_threadsafe(listen(), loop).result(10)
        servers.append(server)
        peer.port = server.sockets[0].getsockname()[1]
        return peer

    yield start

    async def shutdown() -> None:
        for server in servers:
            server.close()
            await server.wait_closed()

    asyncio.run_coroutine_threadsafe(shutdown(), loop).result(10)
    loop.call_soon_threadsafe(loop.stop)
    thread.join(10)
    loop.close()


@dataclass
class Result:
    status: int
    stdout: str
    stderr: str


def run_connect(peer: Misbehaver, *args: str, messages: tuple[str, ...] = ("hi",)) -> Result:
    """Run ``wstool connect`` against ``peer`` in pipe mode, sending ``messages``."""
    command = [sys.executable, "-m", "wstool", "connect", f"ws://127.0.0.1:{peer.port}/"]
    for message in messages:
        command += ["-x", message]
    env = {**os.environ, "NO_COLOR": "1", "PYTHONUNBUFFERED": "1"}
    for name in ("http_proxy", "https_proxy", "all_proxy", "HTTP_PROXY", "HTTPS_PROXY"):
        env.pop(name, None)
    completed = subprocess.run(
        [*command, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=CLIENT_TIMEOUT,
        cwd=PROJECT_ROOT,
        env=env,
        stdin=subprocess.DEVNULL,
    )
    assert peer.done.wait(SERVER_TIMEOUT), "the server never finished its session"
    assert peer.error is None, f"the test server failed: {peer.error!r}"
    return Result(completed.returncode, completed.stdout, completed.stderr)


def explain(result: Result, peer: Misbehaver) -> str:
    return (
        f"exit {result.status}\nstdout:\n{result.stdout}\nstderr:\n{result.stderr}\n"
        f"client frames: {peer.received}"
    )


def assert_failed_with(result: Result, peer: Misbehaver, code: int, name: str) -> None:
    """The client sent one Close with ``code``, exited 4 and said so in one stderr line."""
    why = explain(result, peer)
    assert peer.close_codes() == [code], why
    assert result.status == PEER_VIOLATION, why
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, why
    assert lines[0].startswith(f"wstool connect: closed {code} {name}: "), why


# --- frame-level violations (exit 4) ----------------------------------------------------


def test_masked_server_frame(serve: Callable[..., Misbehaver]) -> None:
    """§5.1: "A client MUST close a connection if it detects a masked frame" -> 1002."""
    peer = serve(after=forge_frame(opcode=0x1, payload=b"hi", mask_key=b"\x01\x02\x03\x04"))
    result = run_connect(peer, "--no-deflate")
    assert_failed_with(result, peer, 1002, "PROTOCOL_ERROR")
    assert "mask" in result.stderr.lower()


@pytest.mark.parametrize("bit", ["rsv1", "rsv2", "rsv3"])
def test_reserved_bit_without_extension(serve: Callable[..., Misbehaver], bit: str) -> None:
    """§5.2: a non-zero RSV bit with no extension agreed fails the connection with 1002."""
    peer = serve(after=forge_frame(opcode=0x1, payload=b"hi", **{bit: True}))
    result = run_connect(peer)
    assert_failed_with(result, peer, 1002, "PROTOCOL_ERROR")
    assert bit.upper() in result.stderr.upper()


@pytest.mark.parametrize("bit", ["rsv2", "rsv3"])
def test_rsv2_rsv3_with_deflate(serve: Callable[..., Misbehaver], bit: str) -> None:
    """RFC 7692 defines RSV1 only: RSV2/RSV3 stay errors with permessage-deflate agreed."""
    peer = serve(answer=deflate_101, after=forge_frame(opcode=0x1, payload=b"hi", **{bit: True}))
    result = run_connect(peer)
    assert_failed_with(result, peer, 1002, "PROTOCOL_ERROR")


def test_rsv1_on_control_frame_with_deflate(serve: Callable[..., Misbehaver]) -> None:
    """RFC 7692 §6.1: RSV1 on a control frame (a Ping) is an error even with deflate."""
    peer = serve(answer=deflate_101, after=forge_frame(opcode=0x9, payload=b"p", rsv1=True))
    result = run_connect(peer)
    assert_failed_with(result, peer, 1002, "PROTOCOL_ERROR")


@pytest.mark.parametrize("opcode", [0x3, 0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF])
def test_reserved_opcode(serve: Callable[..., Misbehaver], opcode: int) -> None:
    """§5.2: "If an unknown opcode is received, the receiving endpoint MUST _Fail" -> 1002."""
    peer = serve(after=forge_frame(opcode=opcode, payload=b"x"))
    result = run_connect(peer, "--no-deflate")
    assert_failed_with(result, peer, 1002, "PROTOCOL_ERROR")


def test_invalid_utf8_text(serve: Callable[..., Misbehaver]) -> None:
    """§8.1: a text message that is not UTF-8 fails the connection with 1007."""
    peer = serve(after=forge_frame(opcode=0x1, payload=b"ok \xc3\x28"))
    result = run_connect(peer, "--no-deflate")
    assert_failed_with(result, peer, 1007, "INVALID_FRAME_PAYLOAD_DATA")


def test_invalid_utf8_across_fragments(serve: Callable[..., Misbehaver]) -> None:
    """§8.1: invalid UTF-8 found in a later fragment still fails with 1007."""
    after = forge_frame(opcode=0x1, payload=b"caf\xc3", fin=False) + forge_frame(
        opcode=0x0, payload=b"\x28"
    )
    peer = serve(after=after)
    result = run_connect(peer, "--no-deflate")
    assert_failed_with(result, peer, 1007, "INVALID_FRAME_PAYLOAD_DATA")


@pytest.mark.parametrize(
    "payload",
    [
        b"ab\xff" + b"x" * 5000,  # the first part already invalid
        # Autobahn 6.4.4's bytes: valid "kosme" and F4, then 90 (over U+10FFFF).
        b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xf4\x90\x80\x80" + b"x" * 5000,
    ],
    ids=["first-part-invalid", "autobahn-6.4.4-bytes"],
)
def test_invalid_utf8_fails_before_the_frame_ends(
    serve: Callable[..., Misbehaver], payload: bytes
) -> None:
    """§8.1: the server sends only the first 200 bytes of a 5 KiB text frame, and
    never the rest; the client fails with 1007 on what it has."""
    peer = serve(after=forge_frame(opcode=0x1, payload=payload)[:200])
    result = run_connect(peer, "--no-deflate")
    assert_failed_with(result, peer, 1007, "INVALID_FRAME_PAYLOAD_DATA")


def test_control_frame_too_long(serve: Callable[..., Misbehaver]) -> None:
    """§5.5: "All control frames MUST have a payload length of 125 bytes or less" -> 1002."""
    peer = serve(after=forge_frame(opcode=0x9, payload=b"p" * 126))
    result = run_connect(peer, "--no-deflate")
    assert_failed_with(result, peer, 1002, "PROTOCOL_ERROR")


def test_fragmented_control_frame(serve: Callable[..., Misbehaver]) -> None:
    """§5.5: "All control frames ... MUST NOT be fragmented" -> 1002."""
    peer = serve(after=forge_frame(opcode=0x9, payload=b"p", fin=False))
    result = run_connect(peer, "--no-deflate")
    assert_failed_with(result, peer, 1002, "PROTOCOL_ERROR")


def test_continuation_without_a_message(serve: Callable[..., Misbehaver]) -> None:
    """§5.4: a continuation frame with no message started fails with 1002."""
    peer = serve(after=forge_frame(opcode=0x0, payload=b"orphan"))
    result = run_connect(peer, "--no-deflate")
    assert_failed_with(result, peer, 1002, "PROTOCOL_ERROR")


def test_new_message_inside_a_fragmented_one(serve: Callable[..., Misbehaver]) -> None:
    """§5.4: a new text frame while a fragmented message is open fails with 1002."""
    after = forge_frame(opcode=0x1, payload=b"part", fin=False) + forge_frame(
        opcode=0x1, payload=b"again"
    )
    peer = serve(after=after)
    result = run_connect(peer, "--no-deflate")
    assert_failed_with(result, peer, 1002, "PROTOCOL_ERROR")


@pytest.mark.parametrize("code", [0, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000, 65535])
def test_bad_close_code(serve: Callable[..., Misbehaver], code: int) -> None:
    """§7.4: a Close with a code that may not be sent fails the connection with 1002."""
    peer = serve(after=forge_frame(opcode=0x8, payload=code.to_bytes(2, "big")))
    result = run_connect(peer, "--no-deflate")
    assert_failed_with(result, peer, 1002, "PROTOCOL_ERROR")
    assert str(code) in result.stderr


def test_close_payload_of_one_byte(serve: Callable[..., Misbehaver]) -> None:
    """§5.5.1: a Close body, if any, starts with a 2-byte code; 1 byte fails with 1002."""
    peer = serve(after=forge_frame(opcode=0x8, payload=b"\x03"))
    result = run_connect(peer, "--no-deflate")
    assert_failed_with(result, peer, 1002, "PROTOCOL_ERROR")


def test_close_reason_bad_utf8(serve: Callable[..., Misbehaver]) -> None:
    """§5.5.1: a Close reason that is not UTF-8 fails the connection with 1007."""
    peer = serve(after=forge_frame(opcode=0x8, payload=b"\x03\xe8bye \xff"))
    result = run_connect(peer, "--no-deflate")
    assert_failed_with(result, peer, 1007, "INVALID_FRAME_PAYLOAD_DATA")


def test_message_over_max_message_size(serve: Callable[..., Misbehaver]) -> None:
    """A message larger than --max-message-size fails the connection with 1009."""
    peer = serve(after=forge_frame(opcode=0x2, payload=b"\x00" * 2000))
    result = run_connect(peer, "--no-deflate", "--max-message-size", "1KiB")
    assert_failed_with(result, peer, 1009, "MESSAGE_TOO_BIG")


def test_fragmented_message_over_max_message_size(serve: Callable[..., Misbehaver]) -> None:
    """Fragments each under the limit but together over it also fail with 1009."""
    after = b"".join(
        forge_frame(opcode=0x2 if i == 0 else 0x0, payload=b"\x00" * 600, fin=i == 2)
        for i in range(3)
    )
    peer = serve(after=after)
    result = run_connect(peer, "--no-deflate", "--max-message-size", "1KiB")
    assert_failed_with(result, peer, 1009, "MESSAGE_TOO_BIG")


def test_message_at_max_message_size_is_fine(serve: Callable[..., Misbehaver]) -> None:
    """A message exactly at --max-message-size is delivered; the client closes with 1000."""
    peer = serve(after=forge_frame(opcode=0x1, payload=b"a" * 1024))
    result = run_connect(peer, "--no-deflate", "--max-message-size", "1KiB")
    assert result.status == 0, explain(result, peer)
    assert result.stdout == "a" * 1024 + "\n"
    assert peer.close_codes() == [1000]


# --- the handshake answer (exit 3) --------------------------------------------------------


def assert_refused(result: Result, peer: Misbehaver, reason: str, status_line: str) -> None:
    """Exit 3; stderr starts with one 'handshake refused' line, then the response head."""
    why = explain(result, peer)
    assert result.status == HANDSHAKE_REJECTED, why
    lines = result.stderr.splitlines()
    assert lines[0].startswith("wstool connect: handshake refused: "), why
    assert re.search(reason, lines[0]), why
    assert f"  < {status_line}" in lines, why
    assert peer.received == [], "no frame is sent after a refused handshake"


def test_wrong_accept(serve: Callable[..., Misbehaver]) -> None:
    """§4.1: a Sec-WebSocket-Accept that does not match the key -> exit 3, the header shown."""

    def answer(request: ClientRequest) -> bytes:
        return build_response(request).replace(
            accept_key(request.key).encode(), b"s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        )

    peer = serve(answer=answer)
    result = run_connect(peer)
    assert_refused(
        result, peer, r"Sec-WebSocket-Accept .* does not match", "HTTP/1.1 101 Switching Protocols"
    )
    assert "  < Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=" in result.stderr


def test_subprotocol_not_offered(serve: Callable[..., Misbehaver]) -> None:
    """§4.1: a subprotocol the client did not offer -> exit 3 naming it and what was offered."""

    def answer(request: ClientRequest) -> bytes:
        return build_response(request, extra_headers=[("Sec-WebSocket-Protocol", "mqtt")])

    peer = serve(answer=answer)
    result = run_connect(peer, "--subprotocol", "chat")
    assert_refused(
        result,
        peer,
        r"'mqtt' was not offered \(offered: chat\)",
        "HTTP/1.1 101 Switching Protocols",
    )
    assert b"Sec-WebSocket-Protocol: chat" in peer.request_raw


def test_extension_not_offered(serve: Callable[..., Misbehaver]) -> None:
    """§4.1: an extension the client did not offer -> exit 3 naming it."""

    def answer(request: ClientRequest) -> bytes:
        return build_response(request, extra_headers=[("Sec-WebSocket-Extensions", "x-frob")])

    peer = serve(answer=answer)
    result = run_connect(peer)
    assert_refused(
        result,
        peer,
        r"'x-frob', which the client did not offer",
        "HTTP/1.1 101 Switching Protocols",
    )


def test_deflate_not_offered(serve: Callable[..., Misbehaver]) -> None:
    """With --no-deflate, a server that answers permessage-deflate anyway is refused."""

    def answer(request: ClientRequest) -> bytes:
        return build_response(
            request, extra_headers=[("Sec-WebSocket-Extensions", "permessage-deflate")]
        )

    peer = serve(answer=answer)
    result = run_connect(peer, "--no-deflate")
    assert b"Sec-WebSocket-Extensions" not in peer.request_raw
    assert_refused(result, peer, r"permessage-deflate", "HTTP/1.1 101 Switching Protocols")


def test_200_instead_of_101(serve: Callable[..., Misbehaver]) -> None:
    """A plain 200 page -> exit 3; the status, the headers and the body's start are shown."""
    body = b"<html>this is a web page, not a WebSocket</html>"

    def answer(request: ClientRequest) -> bytes:
        return (
            b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n"
            + f"Content-Length: {len(body)}\r\n\r\n".encode()
            + body
        )

    peer = serve(answer=answer)
    result = run_connect(peer)
    assert_refused(result, peer, r"answered 200 OK instead of 101", "HTTP/1.1 200 OK")
    assert "  < Content-Type: text/html" in result.stderr
    assert "this is a web page, not a WebSocket" in result.stderr


def test_missing_upgrade_header(serve: Callable[..., Misbehaver]) -> None:
    """§4.1: a 101 without an Upgrade header -> exit 3."""

    def answer(request: ClientRequest) -> bytes:
        return build_response(request).replace(b"Upgrade: websocket\r\n", b"")

    peer = serve(answer=answer)
    result = run_connect(peer)
    assert_refused(result, peer, r"Upgrade header is missing", "HTTP/1.1 101 Switching Protocols")


def test_peer_text_in_refusal_is_made_safe(serve: Callable[..., Misbehaver]) -> None:
    """Escape sequences in a refusal's body reach stderr escaped, never raw."""

    def answer(request: ClientRequest) -> bytes:
        return b"HTTP/1.1 403 Forbidden\r\nContent-Length: 9\r\n\r\n\x1b[2Jgone!"

    peer = serve(answer=answer)
    result = run_connect(peer)
    assert_refused(result, peer, r"answered 403 Forbidden", "HTTP/1.1 403 Forbidden")
    assert "\x1b" not in result.stderr
    assert "\\x1b[2Jgone!" in result.stderr


# --- pings from the server ----------------------------------------------------------------


def test_server_ping_is_answered(serve: Callable[..., Misbehaver]) -> None:
    """§5.5.2: a Ping gets a Pong with the same data; the session then ends cleanly (exit 0)."""
    peer = serve(after=forge_frame(opcode=0x9, payload=b"are you there"), echo=True)
    result = run_connect(peer, "--no-deflate")
    assert result.status == 0, explain(result, peer)
    pongs = [f for f in peer.received if f.opcode == 0xA]
    assert [f.data for f in pongs] == [b"are you there"]
    assert all(f.masked for f in peer.received), "every client frame is masked (§5.3)"
    assert result.stdout == "hi\n"
    assert peer.close_codes() == [1000]


def test_server_ping_shown_with_verbose(serve: Callable[..., Misbehaver]) -> None:
    """With -v the Ping in and the Pong out are shown on stderr; stdout keeps the messages."""
    peer = serve(after=forge_frame(opcode=0x9, payload=b"beat"), echo=True)
    result = run_connect(peer, "--no-deflate", "-v")
    assert result.status == 0, explain(result, peer)
    assert re.search(r"< PING .*unmasked len=4", result.stderr), result.stderr
    assert re.search(r"> PONG .*mask=[0-9a-f]{8} len=4", result.stderr), result.stderr
    assert "beat" in result.stderr
    assert result.stdout == "hi\n"


def test_empty_ping_is_answered(serve: Callable[..., Misbehaver]) -> None:
    """A Ping with no data gets an empty Pong."""
    peer = serve(after=forge_frame(opcode=0x9), echo=True)
    result = run_connect(peer, "--no-deflate")
    assert result.status == 0, explain(result, peer)
    assert [f.data for f in peer.received if f.opcode == 0xA] == [b""]


def test_server_initiated_close(serve: Callable[..., Misbehaver]) -> None:
    """A server Close 1001 is echoed by the client and counts as a clean end (exit 0)."""
    peer = serve(after=forge_frame(opcode=0x8, payload=b"\x03\xe9going away"))
    result = run_connect(peer, "--no-deflate")
    assert result.status == 0, explain(result, peer)
    assert peer.close_codes() == [1001]


def test_server_close_with_other_code_is_abnormal(serve: Callable[..., Misbehaver]) -> None:
    """A valid but non-normal close code (4000) from the server ends with exit 6."""
    peer = serve(after=forge_frame(opcode=0x8, payload=b"\x0f\xa0app says no"))
    result = run_connect(peer, "--no-deflate")
    assert result.status == 6, explain(result, peer)
    assert peer.close_codes() == [4000]
    assert "closed 4000" in result.stderr
    assert "app says no" in result.stderr
