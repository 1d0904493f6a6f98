"""``wstool serve`` against Autobahn's Twisted client.

The client runs its own reactor in a subprocess (``autobahn_client.py``
beside this file) and prints a JSON report, so this process never needs a
reactor. Autobahn offers no extension, a plain permessage-deflate, or
permessage-deflate with ``server_no_context_takeover`` and
``server_max_window_bits=10``; each is run against a server with
permessage-deflate and one with ``--no-deflate``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import WstoolServer

pytest.importorskip("autobahn", reason="autobahn is not installed")

CLIENT = Path(__file__).with_name("autobahn_client.py")
EXPECTED_ECHOES = {
    "text",
    "binary",
    "empty-text",
    "empty-binary",
    "fragmented-text",
    "large-binary",
    "large-text",
    "large-fragmented",
}
MIB = 2**20


def run_autobahn(url: str, offer: str) -> dict[str, Any]:
    """Run the Autobahn client script against ``url`` and return its JSON report."""
    completed = subprocess.run(
        [sys.executable, str(CLIENT), url, "--offer", offer, "--timeout", "30"],
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    assert completed.returncode == 0, (
        f"autobahn client exited {completed.returncode}\n"
        f"stdout: {completed.stdout[-2000:]}\nstderr: {completed.stderr[-4000:]}"
    )
    return json.loads(completed.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


@pytest.fixture(scope="module", params=["none", "deflate", "deflate-params"])
def offer(request: pytest.FixtureRequest) -> str:
    """What Autobahn offers in Sec-WebSocket-Extensions."""
    return request.param  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def report(serve_each: WstoolServer, offer: str) -> dict[str, Any]:
    """One Autobahn run per (server, offer) pair, shared by the assertions below."""
    return run_autobahn(serve_each.url, offer)


def test_every_message_echoed(report: dict[str, Any], serve_each: WstoolServer) -> None:
    """Text, binary, empty, fragmented and 1 MiB messages all come back byte for byte."""
    echoes = report["echoes"]
    assert set(echoes) == EXPECTED_ECHOES, serve_each.output()
    for name, echo in echoes.items():
        assert echo["sha256"] == echo["sent_sha256"], name
        assert echo["ok"], name
    assert echoes["text"]["binary"] is False
    assert echoes["binary"]["binary"] is True
    assert echoes["empty-text"]["size"] == 0
    assert echoes["empty-binary"]["size"] == 0
    for name in ("large-binary", "large-text", "large-fragmented"):
        assert echoes[name]["size"] == MIB, name


def test_ping_answered_and_close_echoed(report: dict[str, Any]) -> None:
    """The Ping gets a Pong with its payload; Close 4000 "bye" is echoed and the close is clean."""
    assert report["pong"] == "autobahn-ping"
    assert report["close"] == {"clean": True, "code": 4000, "reason": "bye"}


def test_extension_negotiation(
    report: dict[str, Any], serve_each: WstoolServer, offer: str
) -> None:
    """permessage-deflate is accepted when offered to a deflate server, within the offer's terms."""
    header = report["extensions_header"]
    in_use = report["extensions_in_use"]
    if offer == "none" or "--no-deflate" in serve_each.args:
        assert header is None
        assert in_use == []
        return
    assert header is not None
    assert header.split(";")[0].strip() == "permessage-deflate"
    assert len(in_use) == 1
    (deflate,) = in_use
    assert deflate["extension"] == "permessage-deflate"
    if offer == "deflate-params":
        # RFC 7692 §7.1.1.1 and §7.1.2.1: a server accepting these requests
        # must honour them in its response.
        assert "server_no_context_takeover" in header
        assert deflate["server_no_context_takeover"] is True
        assert deflate["server_max_window_bits"] <= 10
