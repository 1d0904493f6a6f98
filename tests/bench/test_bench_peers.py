"""wstool bench against other servers: websockets (echo, stalling, corrupting) and Node's ws."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import pytest


async def echo(ws: Any) -> None:
    """Echo every message (same type)."""
    async for message in ws:
        await ws.send(message)


def test_websockets_echo_verified(websockets_server: Any, run_bench: Any) -> None:
    """Closed loop against websockets: every echo verified, rate and latency reported."""
    url = websockets_server(echo)
    result = run_bench(url, "-c", "4", "--inflight", "4", "--duration", "1", "--json")
    report = result.report
    assert result.status == 0, result.stderr
    assert report["ok"] and report["errors"] == {}
    assert report["received"] == report["sent"] > 100
    assert report["latency_us"]["count"] > 100 and report["msgs_per_s"] > 0


def test_websockets_text_mix(websockets_server: Any, run_bench: Any) -> None:
    """Text messages of mixed sizes come back as sent (the fast path's framing holds)."""
    url = websockets_server(echo)
    result = run_bench(
        url,
        "-c",
        "2",
        "--inflight",
        "2",
        "--size",
        "32,1KiB:2,70KiB",
        "--text",
        "--messages",
        "300",
        "--json",
    )
    assert result.status == 0, result.stderr
    assert result.report["received"] == 300 and result.report["mb_per_s"] > 0


def test_a_stall_shows_as_latency(websockets_server: Any, run_bench: Any) -> None:
    """Open loop against a server that stalls 1 s: the latency shows the stall, on
    the messages that waited too (coordinated omission corrected), not only one."""
    seen = [0]

    async def stalling(ws: Any) -> None:
        async for message in ws:
            seen[0] += 1
            if seen[0] == 50:
                await asyncio.sleep(1.0)
            await ws.send(message)

    url = websockets_server(stalling)
    result = run_bench(url, "-c", "2", "--rate", "200", "--duration", "2", "--json")
    report = result.report
    assert result.status == 0, result.stderr
    latency = report["latency_us"]
    assert latency["max"] >= 800_000
    # About half of the 400 messages were due during the stall: p90 is far above
    # an unloaded round trip (a closed loop would have recorded one slow sample).
    assert latency["p90"] >= 200_000
    assert report["received"] == report["sent"] >= 350


def test_a_server_that_stops_reading(websockets_server: Any, run_bench: Any) -> None:
    """Open loop against a server that reads nothing: bench stops handing the
    connection messages once its transport is full, and counts the ones that fell
    due after that as unsent, instead of buffering all 4,000 (250 MiB)."""

    async def deaf(ws: Any) -> None:
        await asyncio.sleep(6)  # bench is done by then
        ws.transport.abort()  # (a close handshake would wait on reads that never come)

    url = websockets_server(deaf)
    result = run_bench(
        url, "-c", "1", "--rate", "2000", "--size", "64KiB", "--duration", "2",
        "--timeout", "1", "--json",
    )  # fmt: skip
    report = result.report
    # The socket buffers on both sides take a few MiB before the transport pauses.
    assert report["sent"] < 1000, report
    assert report["unsent"] >= 3000 and report["sent"] + report["unsent"] >= 3900, report
    assert report["received"] == 0


@pytest.mark.parametrize("stamps", [[], ["--no-stamps"]], ids=["stamped", "no-stamps"])
def test_corrupted_echo_fails(websockets_server: Any, run_bench: Any, stamps: list[str]) -> None:
    """A server that changes one byte of an echo: verification error, exit 1 (prebuilt
    unstamped messages are checked as closely)."""

    async def corrupting(ws: Any) -> None:
        count = 0
        async for message in ws:
            count += 1
            if count == 10:
                message = message[:-1] + bytes([message[-1] ^ 1])
            await ws.send(message)

    url = websockets_server(corrupting)
    result = run_bench(url, "-c", "1", "--inflight", "2", "--duration", "1", "--json", *stamps)
    assert result.status == 1
    assert result.report["errors"] == {"verification": 1}
    assert result.report["ok"] is False
    assert "differs" in result.report["error_details"]["verification"]


@pytest.mark.parametrize("stamps", [[], ["--no-stamps"]], ids=["stamped", "no-stamps"])
def test_a_server_that_frames_differently_is_still_verified(
    websockets_server: Any, run_bench: Any, stamps: list[str]
) -> None:
    """Echoes in two fragments and a Ping among them: off the fast path, every echo checked."""

    async def fragmenting(ws: Any) -> None:
        count = 0
        async for message in ws:
            count += 1
            if count % 50 == 0:
                await ws.ping()
                await ws.send([message[:3], message[3:]])
            else:
                await ws.send(message)

    url = websockets_server(fragmenting)
    result = run_bench(
        url, "-c", "2", "--inflight", "4", "--messages", "400", "--text", "--json", *stamps
    )
    assert result.status == 0, result.stderr
    assert result.report["sent"] == result.report["received"] == 400
    assert result.report["errors"] == {}
    # Latencies count from when every connection is open (the first may be ahead).
    assert result.report["latency_us"]["count"] >= 200


def test_server_close_is_counted(websockets_server: Any, run_bench: Any) -> None:
    """A server that closes with 1011 mid-run: the close code is the error kind."""

    async def closing(ws: Any) -> None:
        await ws.recv()
        await ws.close(1011, "tired")

    url = websockets_server(closing)
    result = run_bench(url, "-c", "3", "--duration", "1", "--json")
    assert result.status == 1
    assert result.report["errors"] == {"close 1011": 3}


def test_node_ws_echo(node_server: Callable[..., Any], run_bench: Any) -> None:
    """Against Node's ws: binary closed loop, verified."""
    server = node_server()
    result = run_bench(server.url, "-c", "4", "--inflight", "8", "--duration", "1", "--json")
    assert result.status == 0, result.stderr
    assert result.report["received"] == result.report["sent"] > 100


def test_node_ws_deflate(node_server: Callable[..., Any], run_bench: Any) -> None:
    """Against Node's ws with permessage-deflate: compressed both ways, still verified."""
    server = node_server("--deflate")
    result = run_bench(
        server.url,
        "--deflate",
        "--text",
        "-c",
        "2",
        "--inflight",
        "2",
        "--size",
        "64,4KiB",
        "--messages",
        "400",
        "--json",
    )
    assert result.status == 0, result.stderr
    assert result.report["received"] == 400 and result.report["deflate"]
