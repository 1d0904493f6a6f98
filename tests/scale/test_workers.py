"""``wstool serve --workers N`` from real clients: one port, every worker accepting,
unique connection numbers, one well-formed output stream, 1001 for everyone on the way out."""

from __future__ import annotations

import asyncio
import json
import signal
import ssl
from pathlib import Path

import pytest

from .support import children_of, self_signed, serve

websockets = pytest.importorskip("websockets")
from websockets.asyncio.client import ClientConnection, connect  # noqa: E402
from websockets.exceptions import ConnectionClosed  # noqa: E402


async def _open(url: str, count: int) -> list[ClientConnection]:
    return [await connect(url, max_size=None, ping_interval=None) for _ in range(count)]


async def _close_codes(clients: list[ClientConnection]) -> list[int | None]:
    """Each client's close code once the server has closed it (None: no Close frame)."""

    async def code(client: ClientConnection) -> int | None:
        try:
            await asyncio.wait_for(client.recv(), 10)
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
        return -1  # a message, not a close

    return list(await asyncio.gather(*(code(client) for client in clients)))


def test_two_workers_accept_number_apart_and_close_everyone_with_1001() -> None:
    """Connections land on both workers (worker k numbers k, k+2 ...), no number twice,
    the one listening line, and SIGTERM closes every client with 1001 before exit 0."""
    with serve("--workers", "2", "--json") as served:

        async def run() -> list[int | None]:
            clients = await _open(served.url("/w"), 24)
            for n, client in enumerate(clients):
                await client.send(f"hello {n}")
                assert await client.recv() == f"hello {n}"
            served.wait_for(lambda: sum(r["event"] == "open" for r in served.records()) == 24)
            served.process.send_signal(signal.SIGTERM)
            return await _close_codes(clients)

        codes = asyncio.run(run())
        assert served.finished() == 0, served.output()
    assert codes == [1001] * 24
    opened = [r["conn"] for r in served.records() if r["event"] == "open"]
    assert len(set(opened)) == 24
    assert {conn % 2 for conn in opened} == {0, 1}, "both workers accept"
    listening = [line for line in served.err_lines() if "listening on" in line]
    assert len(listening) == 1, served.output()
    closes = [r for r in served.records() if r["event"] == "close"]
    assert sorted(r["conn"] for r in closes) == sorted(opened)
    assert {r["code"] for r in closes} == {1001}


def test_ndjson_lines_stay_whole_under_load() -> None:
    """Several workers logging long records at once: every stdout line is one JSON object."""
    with serve("--workers", "3", "--json") as served:

        async def client(n: int) -> None:
            async with connect(served.url("/load"), max_size=None, ping_interval=None) as ws:
                for m in range(15):
                    text = f"{n}:{m}:" + "x" * (20000 if m % 5 == 0 else 300)
                    await ws.send(text)
                    assert await ws.recv() == text

        async def run() -> None:
            await asyncio.gather(*(client(n) for n in range(30)))

        asyncio.run(run())
        served.wait_for(lambda: sum('"disconnect"' in line for line in served.lines()) == 30)
        assert served.stop() == 0
    lines = served.lines()
    records = [json.loads(line) for line in lines]  # raises on a line cut or mixed
    assert all(line.endswith("\n") for line in lines)
    messages = [r for r in records if r["event"] == "message" and r["direction"] == "in"]
    long = [r for r in messages if r["size"] > 20000]
    assert len(long) == 30 * 3 and all(r["text"].endswith("x" * 100) for r in long)
    assert len({r["conn"] for r in records}) == 30


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_text_log_one_listening_line_and_clean_stop(sig: int) -> None:
    """Without --json: one listening line with the real port, connection lines from both
    workers; Ctrl-C (SIGINT) as SIGTERM: 1001 for every client, exit 0, nothing on stderr."""
    with serve("--workers", "2") as served:

        async def run() -> list[int | None]:
            clients = await _open(served.url("/t"), 12)
            served.wait_for(lambda: sum(" connected: " in line for line in served.lines()) == 12)
            served.process.send_signal(sig)
            return await _close_codes(clients)

        codes = asyncio.run(run())
        assert served.finished() == 0
    assert codes == [1001] * 12
    lines = served.lines()
    assert sum("listening on" in line for line in lines) == 1
    assert lines[0].startswith(f"wstool serve: listening on ws://127.0.0.1:{served.port}/ (echo;")
    ids = {int(line.split()[0][1:]) for line in lines if " connected: " in line}
    assert len(ids) == 12
    assert served.err_lines() == []


def test_a_dead_worker_stops_serve_with_a_non_zero_status() -> None:
    """A worker killed while serving: one line names it, the other worker's clients get
    1001, and serve exits 1."""
    with serve("--workers", "2", "-q") as served:
        workers = children_of(served.process.pid)
        assert len(workers) == 2

        async def run() -> list[int | None]:
            clients = await _open(served.url("/d"), 16)
            served.wait_for(lambda: sum(" connected: " in line for line in served.lines()) == 16)
            victim = workers[0]
            import os

            os.kill(victim, signal.SIGKILL)
            return await _close_codes(clients)

        codes = asyncio.run(run())
        assert served.finished() == 1
    assert set(codes) <= {None, 1001} and 1001 in codes and None in codes
    errors = served.err_lines()
    assert len(errors) == 1, served.output()
    assert "was killed by SIGKILL while serving; the other workers were stopped" in errors[0]
    assert errors[0].startswith("wstool serve: worker ")


def test_options_that_do_not_go_together() -> None:
    """Broadcast across workers needs Redis; --record cannot be shared: one line, exit 2."""
    for args, text in (
        (("--workers", "2", "--mode", "broadcast"), "needs --redis URL"),
        (("--workers", "2", "--record", "/tmp/never.session"), "--record writes one"),
        (("--workers", "0"), "not a number of workers"),
    ):
        with serve(*args, wait=False) as served:
            assert served.finished() == 2
            errors = served.err_lines()
            assert len(errors) == 1 and text in errors[0], served.output()


def test_a_problem_every_worker_finds_is_said_once_with_its_status() -> None:
    """A program --exec cannot find: the workers' one line, once, and their exit status 2."""
    with serve("--workers", "2", "--exec", "/nonexistent/program", wait=False) as served:
        assert served.finished() == 2
    errors = served.err_lines()
    assert errors == ["wstool serve: --exec: program '/nonexistent/program' not found\n"]
    assert served.lines() == []


def test_workers_speak_tls(tmp_path: Path) -> None:
    """wss:// across workers: each worker starts TLS on the connections it accepts."""
    cert, key = self_signed(tmp_path)
    context = ssl.create_default_context(cafile=str(cert))
    with serve("--workers", "2", "-q", "--tls-cert", str(cert), "--tls-key", str(key)) as served:
        url = served.url("/tls").replace("ws://", "wss://")

        async def run() -> None:
            for n in range(10):
                async with connect(url, ssl=context, ping_interval=None) as client:
                    await client.send(f"secret {n}")
                    assert await client.recv() == f"secret {n}"

        asyncio.run(run())
        served.wait_for(lambda: sum(" disconnected: " in line for line in served.lines()) == 10)
        assert served.stop() == 0
    assert served.lines()[0].startswith("wstool serve: listening on wss://127.0.0.1:")
    ids = {int(line.split()[0][1:]) for line in served.lines() if " connected: " in line}
    assert len(ids) == 10


def test_a_port_held_by_other_workers_is_in_use() -> None:
    """A second serve --workers on the port of a first one is refused (SO_REUSEPORT would
    have let it share the first one's connections)."""
    with serve("--workers", "2", "-q") as first:
        with serve("--workers", "2", "--port", str(first.port), wait=False) as second:
            assert second.finished() == 1
        assert second.err_lines() == [
            f"wstool serve: cannot listen on 127.0.0.1:{first.port}: Address already in use\n"
        ]
        assert first.stop() == 0
