"""``wstool connect -H``: a header wstool writes is replaced, not repeated (as a server sees it).

``wstool serve`` (a subprocess on 127.0.0.1, port 0) logs every request head
it receives line by line; the test reads the Host lines it logged.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))
from connect_harness import Peer, run_connect, start_peer


@pytest.fixture(scope="module")
def server() -> Iterator[Peer]:
    """``wstool serve``, logging each handshake's request head."""
    argv = [sys.executable, "-m", "wstool", "serve", "--host", "127.0.0.1", "--port", "0"]
    peer = start_peer([*argv, "--ping-interval", "0", "--color", "never"])
    yield peer
    peer.stop()


def request_lines(peer: Peer, marker: str, timeout: float = 5.0) -> list[str]:
    """The logged request head (lines "  < ...") of the connection whose head has ``marker``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        lines = [line.strip() for line in list(peer.lines)]
        for i, line in enumerate(lines):
            if line.startswith("< GET ") and any(marker in x for x in lines[i : i + 12]):
                head = []
                for entry in lines[i:]:
                    if not entry.startswith("< "):
                        break
                    head.append(entry[2:])
                return head
        time.sleep(0.05)
    pytest.fail(f"no request with {marker!r} logged:\n{peer.output()}")


def test_host_header_replaces_ours(server: Peer) -> None:
    """-H 'Host: example.org' sends one Host, the user's, where ours was."""
    result = run_connect(
        server.url(), "-H", "Host: example.org", "-H", "X-Mark: host-test", "-x", "hi"
    )
    assert result.status == 0, result.explain()
    head = request_lines(server, "X-Mark: host-test")
    hosts = [line for line in head if line.lower().startswith("host:")]
    assert hosts == ["Host: example.org"], head
    assert head[1] == "Host: example.org", "in our Host's place, right after the request line"


def test_lowercase_origin_replaces_ours(server: Peer) -> None:
    """-H 'origin: ...' with --origin: one Origin header, the -H one (names compare in any case)."""
    result = run_connect(
        server.url(),
        "--origin",
        "http://ours.example",
        "-H",
        "origin: http://theirs.example",
        "-H",
        "X-Mark: origin-test",
        "-x",
        "hi",
    )
    assert result.status == 0, result.explain()
    head = request_lines(server, "X-Mark: origin-test")
    origins = [line for line in head if line.lower().startswith("origin:")]
    assert origins == ["origin: http://theirs.example"], head
