"""``wstool connect`` against the websockets library's asyncio server, over loopback.

The server runs as a subprocess (``connect_peers/websockets_server.py``) with
compression on (it then asks for 12-bit windows, exercising parameter
negotiation) and off; the client offers permessage-deflate or not
(``--no-deflate``), so all four outcomes carry real traffic.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("websockets", reason="the websockets library is not installed")
sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))
from connect_harness import (
    PEERS_DIR,
    Peer,
    check_echo,
    negotiated_extensions,
    run_connect,
    start_peer,
)


@pytest.fixture(scope="module", params=[True, False], ids=["server-deflate", "server-plain"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[Peer, bool]]:
    """A websockets echo server, with compression on or off; killed at teardown."""
    deflate: bool = request.param
    argv = [sys.executable, str(PEERS_DIR / "websockets_server.py")]
    peer = start_peer(argv if deflate else [*argv, "--no-compression"])
    yield peer, deflate
    peer.stop()


@pytest.mark.parametrize("client_deflate", [True, False], ids=["client-deflate", "client-plain"])
def test_echo(server: tuple[Peer, bool], client_deflate: bool) -> None:
    """Messages come back exactly, exit 0, and the JSON shows what was negotiated.

    websockets answers server_max_window_bits=12 (and 12 for the client): the
    client accepts the smaller windows and inflates the server's messages.
    """
    peer, server_deflate = server
    result = check_echo(peer.url(), server_deflate=server_deflate, client_deflate=client_deflate)
    agreed = negotiated_extensions(result.records)
    if server_deflate and client_deflate:
        assert agreed is not None
        assert "server_max_window_bits=12" in agreed


def test_subprotocol_agreed() -> None:
    """The server picks the subprotocol the client offers; the JSON's 101 names it."""
    argv = [sys.executable, str(PEERS_DIR / "websockets_server.py"), "--subprotocol", "chat"]
    peer = start_peer(argv)
    try:
        result = run_connect(
            peer.url(), "--subprotocol", "superchat", "--subprotocol", "chat", "-x", "hi", "--json"
        )
    finally:
        peer.stop()
    assert result.status == 0, result.explain()
    opened = next(r for r in result.records if r["event"] == "open")
    assert "Sec-WebSocket-Protocol: superchat, chat\r\n" in opened["request"]
    assert "Sec-WebSocket-Protocol: chat\r\n" in opened["response"]


def test_stdin_lines_in_order(server: tuple[Peer, bool]) -> None:
    """Lines piped on stdin are sent one message each and written back to stdout in order."""
    peer, _ = server
    lines = [f"line {i} ✓" for i in range(300)]
    result = run_connect(peer.url(), input="\n".join(lines) + "\n")
    assert result.status == 0, result.explain()
    assert result.stdout.splitlines() == lines
