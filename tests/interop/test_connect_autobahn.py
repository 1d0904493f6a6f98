"""``wstool connect`` against Autobahn|Python's Twisted server, over loopback.

The server runs in its own subprocess (``connect_peers/autobahn_server.py``),
accepting permessage-deflate (``--deflate``) or not; the client offers it or
not (``--no-deflate``).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("autobahn", reason="autobahn is not installed")
sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))
from connect_harness import PEERS_DIR, Peer, check_echo, echo_peer, run_connect


@pytest.fixture(scope="module", params=[True, False], ids=["server-deflate", "server-plain"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[Peer, bool]]:
    """An Autobahn echo server, accepting permessage-deflate or not; killed at teardown."""
    yield from echo_peer([sys.executable, str(PEERS_DIR / "autobahn_server.py")], request.param)


@pytest.mark.parametrize("client_deflate", [True, False], ids=["client-deflate", "client-plain"])
def test_echo(server: tuple[Peer, bool], client_deflate: bool) -> None:
    """Messages come back exactly, exit 0, and the JSON shows what was negotiated."""
    peer, server_deflate = server
    check_echo(peer.url(), server_deflate=server_deflate, client_deflate=client_deflate)


def test_binary_line_comes_back_as_hex(server: tuple[Peer, bool]) -> None:
    """A stdin line that is not UTF-8 goes out as binary; its echo is printed as hex."""
    peer, _ = server
    result = run_connect(peer.url(), input=b"text\n\xff\xfe\x00bin\n")
    assert result.status == 0, result.explain()
    assert result.stdout.splitlines() == ["text", "fffe0062696e"]
    assert "was sent as a binary message" in result.stderr
