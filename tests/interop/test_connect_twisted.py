"""``wstool connect`` against Twisted's own ``twisted.web.websocket`` server, over loopback.

Twisted 26's :class:`WebSocketResource` (built on wsproto) accepts no
extension, so a plain server always declines permessage-deflate; the helper
script's ``--deflate`` mode makes it accept wsproto's permessage-deflate, so
compressed traffic is exercised as well.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("twisted.web.websocket", reason="Twisted has no twisted.web.websocket")
pytest.importorskip("wsproto", reason="twisted.web.websocket needs wsproto (twisted[websocket])")
sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))
from connect_harness import PEERS_DIR, Peer, check_echo, echo_peer, run_connect


@pytest.fixture(scope="module", params=[True, False], ids=["server-deflate", "server-plain"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[Peer, bool]]:
    """A twisted.web.websocket echo server, with or without deflate; killed at teardown."""
    yield from echo_peer([sys.executable, str(PEERS_DIR / "twisted_server.py")], request.param)


@pytest.mark.parametrize("client_deflate", [True, False], ids=["client-deflate", "client-plain"])
def test_echo(server: tuple[Peer, bool], client_deflate: bool) -> None:
    """Messages come back exactly, exit 0, and the JSON shows what was negotiated."""
    peer, server_deflate = server
    check_echo(peer.url(), server_deflate=server_deflate, client_deflate=client_deflate)


def test_unknown_path_is_refused(server: tuple[Peer, bool]) -> None:
    """A path with no resource gets Twisted's 404 page: exit 3, the status and body shown."""
    peer, _ = server
    result = run_connect(peer.url(path="/nowhere"), "-x", "hi")
    assert result.status == 3, result.explain()
    first = result.stderr.splitlines()[0]
    assert first.startswith("wstool connect: handshake refused: the server answered 404"), first
    assert "  < HTTP/1.1 404 Not Found" in result.stderr
    assert "No Such Resource" in result.stderr
