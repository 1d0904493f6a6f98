"""Shared by ``tests/interop/test_connect_*.py``: peers and ``wstool connect`` as subprocesses.

A peer is a server script (Python or Node) that binds 127.0.0.1 on port 0 and
prints ``PORT <n>`` on stdout, or ``wstool serve`` with its "listening on"
line; :func:`start_peer` waits for that line (with a timeout) and
:meth:`Peer.stop` kills the process.
:func:`run_connect` runs ``python -m wstool connect`` in pipe mode (each test
process gets its own reactor that way) and parses ``--json`` output.
"""

from __future__ import annotations

import json
import os
import queue
import re
import subprocess
import sys
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

__all__ = [
    "MESSAGES",
    "PEERS_DIR",
    "PROJECT_ROOT",
    "Peer",
    "Result",
    "base_env",
    "check_echo",
    "execute_args",
    "incoming_texts",
    "negotiated_extensions",
    "run_connect",
    "serve_argv",
    "start_peer",
]

PEERS_DIR = Path(__file__).resolve().parent
PROJECT_ROOT = PEERS_DIR.parents[2]
START_TIMEOUT = 20.0
STOP_TIMEOUT = 10.0
CONNECT_TIMEOUT = 30.0

# Text messages every peer must echo exactly: ASCII, multi-byte UTF-8 (4-byte
# too), JSON, spaces at both ends, and one long enough for a 16-bit length.
MESSAGES = (
    "hello",
    "héllo wörld ✓ 😀",
    '{"op": "ping", "n": 1}',
    "  spaced  ",
    "long " + "abcdefghij" * 500,
)


def base_env(**extra: str) -> dict[str, str]:
    """The environment for a subprocess: no proxies, no colour, unbuffered, plus ``extra``."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env.update({"NO_COLOR": "1", "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"})
    env.update(extra)
    return env


@dataclass
class Peer:
    """A running peer server and what it has printed."""

    process: subprocess.Popen[str]
    port: int = 0
    lines: list[str] = field(default_factory=list)

    def url(self, scheme: str = "ws", host: str = "127.0.0.1", path: str = "/") -> str:
        return f"{scheme}://{host}:{self.port}{path}"

    def output(self) -> str:
        return "".join(self.lines)

    def stop(self) -> None:
        """Kill the peer and reap it."""
        if self.process.poll() is None:
            self.process.kill()
        try:
            self.process.wait(STOP_TIMEOUT)
        finally:
            for stream in (self.process.stdout, self.process.stderr):
                if stream is not None:
                    stream.close()


# A helper script's "PORT 8765", or wstool serve's "listening on ws://127.0.0.1:8765/".
_PORT = re.compile(r"^PORT (?P<port>\d+)$|listening on wss?://\S+?:(?P<listen>\d+)/")


def _pump(stream: IO[str], sink: list[str], first: queue.Queue[int]) -> None:
    for line in stream:
        sink.append(line)
        match = _PORT.search(line.strip())
        if match:
            first.put(int(match["port"] or match["listen"]))


def start_peer(
    argv: Sequence[str], *, cwd: Path | None = None, env: dict[str, str] | None = None
) -> Peer:
    """Start ``argv`` and wait (at most START_TIMEOUT) for the line that gives its port.

    Raises:
        RuntimeError: if the peer exits or does not print its port in time.
    """
    process = subprocess.Popen(
        list(argv),
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        encoding="utf-8",
        errors="replace",
        cwd=cwd or PEERS_DIR,
        env=env or base_env(),
    )
    peer = Peer(process)
    ready: queue.Queue[int] = queue.Queue()
    assert process.stdout is not None
    threading.Thread(target=_pump, args=(process.stdout, peer.lines, ready), daemon=True).start()
    try:
        peer.port = ready.get(timeout=START_TIMEOUT)
    except queue.Empty:
        peer.stop()
        raise RuntimeError(f"{argv} did not print its port:\n{peer.output()}") from None
    return peer


def echo_peer(argv: Sequence[str], deflate: bool) -> Iterator[tuple[Peer, bool]]:
    """A fixture body: the echo server ``argv`` (``--deflate`` added if asked), then stopped."""
    peer = start_peer([*argv, "--deflate"] if deflate else argv)
    try:
        yield peer, deflate
    finally:
        peer.stop()


def serve_argv(*extra: str) -> list[str]:
    """``python -m wstool serve`` on port 0, quiet, without keepalive pings, plus ``extra``."""
    return [
        sys.executable,
        "-m",
        "wstool",
        "serve",
        "--port",
        "0",
        "-q",
        "--ping-interval",
        "0",
        *extra,
    ]


@dataclass
class Result:
    """How a ``wstool connect`` run ended."""

    status: int
    stdout: str
    stderr: str
    argv: list[str]

    @property
    def records(self) -> list[dict[str, Any]]:
        """The NDJSON records on stdout (``--json``)."""
        return [json.loads(line) for line in self.stdout.splitlines() if line.startswith("{")]

    def explain(self) -> str:
        return (
            f"$ {' '.join(self.argv)}\nexit {self.status}\n"
            f"--- stdout ---\n{self.stdout[-4000:]}\n--- stderr ---\n{self.stderr[-4000:]}"
        )


def run_connect(
    url: str,
    *args: str,
    input: str | bytes | None = None,
    env: dict[str, str] | None = None,
    timeout: float = CONNECT_TIMEOUT,
) -> Result:
    """Run ``python -m wstool connect URL ARGS`` to completion (at most ``timeout`` seconds)."""
    argv = [sys.executable, "-m", "wstool", "connect", url, *args]
    data = input.encode("utf-8") if isinstance(input, str) else input
    completed = subprocess.run(
        argv,
        input=data if data is not None else b"",
        capture_output=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
        env=env or base_env(),
    )
    return Result(
        completed.returncode,
        completed.stdout.decode("utf-8", "replace"),
        completed.stderr.decode("utf-8", "replace"),
        argv,
    )


def execute_args(messages: Sequence[str] = MESSAGES) -> list[str]:
    """``-x MESSAGE`` for each message."""
    return [arg for message in messages for arg in ("-x", message)]


def incoming_texts(records: list[dict[str, Any]]) -> list[str]:
    """The text messages received, in order, rebuilt from ``--json`` records.

    A single uncompressed frame has no "message" record (its frame record has
    the text); compressed or fragmented messages have one.
    """
    texts: list[str] = []
    for record in records:
        if record.get("direction") != "in":
            continue
        if record["event"] == "frame":
            if record["opcode"] == 1 and record["fin"] and not record["rsv1"]:
                texts.append(record["text"])
        elif record["event"] == "message" and "text" in record:
            texts.append(record["text"])
    return texts


def negotiated_extensions(records: list[dict[str, Any]]) -> str | None:
    """The Sec-WebSocket-Extensions value of the 101 in the "open" record, if any."""
    opened = [r for r in records if r["event"] == "open"]
    assert len(opened) == 1, records[:3]
    for line in opened[0]["response"].split("\r\n"):
        name, _, value = line.partition(":")
        if name.strip().lower() == "sec-websocket-extensions":
            return value.strip()
    return None


def check_echo(
    url: str, *, server_deflate: bool, client_deflate: bool, extra: Sequence[str] = ()
) -> Result:
    """Send MESSAGES with ``-x ... --json``; check the echo, the extension and a clean close.

    Asserts: exit status 0; every message came back exactly and in order;
    permessage-deflate was offered unless ``--no-deflate``, agreed exactly when
    both ends want it, and then used (RSV1 on data frames both ways), else no
    frame has RSV1; the close was 1000, clean, started by the client.
    """
    args = [*execute_args(), "--json", *extra]
    if not client_deflate:
        args.append("--no-deflate")
    result = run_connect(url, *args)
    why = result.explain()
    assert result.status == 0, why
    records = result.records
    assert incoming_texts(records) == list(MESSAGES), why
    opened = next(r for r in records if r["event"] == "open")
    assert ("permessage-deflate" in opened["request"]) is client_deflate, why
    agreed = negotiated_extensions(records)
    data_frames = [r for r in records if r["event"] == "frame" and r["opcode"] in (1, 2)]
    if server_deflate and client_deflate:
        assert agreed is not None, why
        assert agreed.split(";")[0].strip() == "permessage-deflate", why
        assert all(r["rsv1"] for r in data_frames if r["direction"] == "out"), why
        assert any(r["rsv1"] for r in data_frames if r["direction"] == "in"), why
        compressed_in = [r for r in records if r["event"] == "message" and r["direction"] == "in"]
        assert compressed_in and all(r["compressed"] for r in compressed_in), why
    else:
        assert agreed is None, why
        assert not any(r["rsv1"] for r in data_frames), why
    frames = [r for r in records if r["event"] == "frame"]
    assert all(r["masked"] for r in frames if r["direction"] == "out"), why
    assert not any(r["masked"] for r in frames if r["direction"] == "in"), why
    closes = [r for r in records if r["event"] == "close"]
    assert len(closes) == 1, why
    assert (closes[0]["code"], closes[0]["clean"], closes[0]["initiator"]) == (
        1000,
        True,
        "client",
    ), why
    return result
