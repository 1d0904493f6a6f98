"""Node's ``ws`` client through ``wstool proxy`` as a forward proxy (HTTP CONNECT).

``tests/interop/node/ws_client.js --proxy`` opens a CONNECT tunnel with a
custom ``http.Agent`` (``https.Agent`` for wss://, TLS started inside the
tunnel), so no npm package beyond ``ws`` is needed. For wss:// the client
trusts the proxy's CA through ``NODE_EXTRA_CA_CERTS``; the proxy trusts the
test CA of ``wstool serve``. Each run checks the script's JSON (every echo
intact, the Pong, Close 4000) and the proxy's ``--json`` log (the
connection, its frames both ways, the summary).
"""

from __future__ import annotations

import contextlib
import json
import shutil
import socket
import subprocess
import threading
from pathlib import Path
from typing import Any

import pytest
from test_proxy_forward_peers import Servers, forward, servers
from test_proxy_peers import NODE_DIR, WAIT, Proxy, _env, proxy

__all__ = ["forward", "proxy", "servers"]  # the fixtures, used here too

ECHOES = {
    "text",
    "binary",
    "empty-text",
    "empty-binary",
    "fragmented-text",
    "large-binary",
    "large-text",
}
SIDES = (("client-to-server", "client_to_server"), ("server-to-client", "server_to_client"))


@pytest.fixture(scope="module")
def node() -> str:
    """The node executable, skipping before any server starts when it or ws is missing."""
    node_exe = shutil.which("node")
    if node_exe is None or not (NODE_DIR / "node_modules" / "ws").is_dir():
        pytest.skip("node and tests/interop/node/node_modules/ws are needed")
    return node_exe


def node_client(
    node: str, url: str, flag: str, proxy_url: str, ca_pem: Path | None
) -> dict[str, Any]:
    """One run of ws_client.js through the proxy; its JSON report."""
    env = _env()
    env.pop("NODE_EXTRA_CA_CERTS", None)
    if ca_pem is not None:
        env["NODE_EXTRA_CA_CERTS"] = str(ca_pem)
    completed = subprocess.run(
        [node, "ws_client.js", url, flag, "--proxy", proxy_url],
        cwd=NODE_DIR,
        capture_output=True,
        text=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
        env=env,
    )
    lines = completed.stdout.strip().splitlines()
    report: dict[str, Any] = json.loads(lines[-1]) if lines else {}
    report["returncode"] = completed.returncode
    report["stderr"] = completed.stderr[-2000:]
    return report


def frames(records: list[dict[str, Any]], conn: int, direction: str) -> list[dict[str, Any]]:
    return [
        r
        for r in records
        if r["event"] == "frame" and r["conn"] == conn and r["direction"] == direction
    ]


@pytest.mark.parametrize("flag", ["--deflate", "--no-deflate"])
@pytest.mark.parametrize("secure", [False, True], ids=["ws", "wss"])
def test_node_ws_through_the_forward_proxy(
    node: str, forward: tuple[Proxy, Path], servers: Servers, secure: bool, flag: str
) -> None:
    """Every echo intact over ws:// and wss://; the log has the frames of both directions."""
    running, ca_pem = forward
    if secure:
        url = f"wss://localhost:{servers.tls}/node"
    else:
        url = f"ws://127.0.0.1:{servers.plain}/node"
    proxy_url = running.url.replace("ws:", "http:")
    report = node_client(node, url, flag, proxy_url, ca_pem if secure else None)
    assert report["returncode"] == 0 and "error" not in report, report
    assert set(report["echoes"]) == ECHOES
    assert all(echo["ok"] for echo in report["echoes"].values()), report["echoes"]
    assert report["pong"] == "node-ping"
    assert report["close"] == {"code": 4000, "reason": "bye"}
    deflate = flag == "--deflate"
    assert ("permessage-deflate" in (report["extensions_header"] or "")) is deflate

    records = running.wait_for("summary")
    (request,) = [r for r in records if r["event"] == "request"]
    assert request["upstream"] == url
    conn = request["conn"]
    summary = next(r for r in records if r["event"] == "summary" and r["conn"] == conn)
    assert summary["upgraded"] and summary["upstream"] == url
    for direction, side in SIDES:
        seen = frames(records, conn, direction)
        assert seen and len(seen) == summary[side]["frames"], direction
        assert all(f["masked"] is (side == "client_to_server") for f in seen), direction
        assert any(f["rsv1"] for f in seen) is deflate, direction
        assert not any(f["violations"] for f in seen), direction
        assert summary[side]["messages"] == len(ECHOES)
        assert summary[side]["violations"] == 0
        assert summary[side]["close_code"] == 4000
        assert (summary[side]["compressed_messages"] > 0) is deflate
    sent = {f["opcode_name"] for f in frames(records, conn, "client-to-server")}
    assert {"TEXT", "BINARY", "CONTINUATION", "PING", "CLOSE"} <= sent, sent
    echoed = {f["opcode_name"] for f in frames(records, conn, "server-to-client")}
    assert {"TEXT", "BINARY", "PONG", "CLOSE"} <= echoed, echoed


def test_node_wss_without_trusting_the_proxy_ca(
    node: str, forward: tuple[Proxy, Path], servers: Servers
) -> None:
    """Without NODE_EXTRA_CA_CERTS the client refuses the proxy's certificate: one error."""
    running, _ = forward
    url = f"wss://localhost:{servers.tls}/node"
    report = node_client(node, url, "--no-deflate", running.url.replace("ws:", "http:"), None)
    assert report["returncode"] == 1 and report["echoes"] == {}
    assert "certificate" in report["error"], report


def test_node_connect_refused_by_the_proxy(node: str) -> None:
    """A proxy answering CONNECT with 407: the script names the status line and exits 1."""
    received = bytearray()
    with socket.create_server(("127.0.0.1", 0)) as listener:
        listener.settimeout(WAIT)

        def refuse() -> None:
            with contextlib.suppress(OSError), listener.accept()[0] as conn:
                conn.settimeout(WAIT)
                while b"\r\n\r\n" not in received and (chunk := conn.recv(4096)):
                    received.extend(chunk)
                conn.sendall(
                    b"HTTP/1.1 407 Proxy Authentication Required\r\nContent-Length: 0\r\n\r\n"
                )

        thread = threading.Thread(target=refuse, daemon=True)
        thread.start()
        port = listener.getsockname()[1]
        report = node_client(
            node, "ws://example.test:81/x", "--deflate", f"http://127.0.0.1:{port}", None
        )
        thread.join(WAIT)
    assert received == b"CONNECT example.test:81 HTTP/1.1\r\nHost: example.test:81\r\n\r\n"
    assert report["returncode"] == 1
    status = '"HTTP/1.1 407 Proxy Authentication Required"'
    assert report["error"] == f"proxy 127.0.0.1:{port} refused CONNECT example.test:81: {status}"
