"""``wstool connect`` against ``wstool serve``, over loopback.

Both ends are wstool: the strict echo server runs with permessage-deflate on
and with ``--no-deflate``; the client offers it or not.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))
from connect_harness import Peer, check_echo, run_connect, serve_argv, start_peer


@pytest.fixture(scope="module", params=[True, False], ids=["server-deflate", "server-plain"])
def server(request: pytest.FixtureRequest) -> Iterator[tuple[Peer, bool]]:
    """``wstool serve`` on port 0, with or without deflate; killed at teardown."""
    deflate: bool = request.param
    peer = start_peer(serve_argv() if deflate else serve_argv("--no-deflate"))
    yield peer, deflate
    peer.stop()


@pytest.mark.parametrize("client_deflate", [True, False], ids=["client-deflate", "client-plain"])
def test_echo(server: tuple[Peer, bool], client_deflate: bool) -> None:
    """Messages come back exactly, exit 0, and the JSON shows what was negotiated."""
    peer, server_deflate = server
    check_echo(peer.url(), server_deflate=server_deflate, client_deflate=client_deflate)


def test_count_closes_after_n(server: tuple[Peer, bool]) -> None:
    """--count 2 closes cleanly after the second message, even with more to send."""
    peer, _ = server
    result = run_connect(peer.url(), "--count", "2", "--wait", "5", input="a\nb\nc\nd\n")
    assert result.status == 0, result.explain()
    lines = result.stdout.splitlines()
    assert lines[:2] == ["a", "b"]
    assert len(lines) <= 4


@pytest.fixture(scope="module")
def strict_server() -> Iterator[Peer]:
    """``wstool serve`` that accepts only one Origin and speaks the "chat" subprotocol."""
    peer = start_peer(serve_argv("--origin", "https://good.example", "--subprotocol", "chat"))
    yield peer
    peer.stop()


def test_origin_refused_is_exit_3(strict_server: Peer) -> None:
    """An Origin the server refuses -> 403: exit 3, the status and the reason shown."""
    result = run_connect(strict_server.url(), "--origin", "https://evil.example", "-x", "hi")
    assert result.status == 3, result.explain()
    lines = result.stderr.splitlines()
    assert lines[0].startswith("wstool connect: handshake refused: the server answered 403"), lines
    assert "  < HTTP/1.1 403 Forbidden" in lines
    assert "evil.example" in result.stderr


def test_origin_and_subprotocol_accepted(strict_server: Peer) -> None:
    """The right Origin and an offered subprotocol: the 101 names "chat" and the echo works."""
    result = run_connect(
        strict_server.url(),
        "--origin",
        "https://good.example",
        "--subprotocol",
        "other",
        "--subprotocol",
        "chat",
        "-x",
        "hi",
        "--json",
    )
    assert result.status == 0, result.explain()
    opened = next(r for r in result.records if r["event"] == "open")
    assert "Origin: https://good.example\r\n" in opened["request"]
    assert "Sec-WebSocket-Protocol: chat\r\n" in opened["response"]
