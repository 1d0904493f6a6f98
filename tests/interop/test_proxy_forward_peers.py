"""``wstool proxy`` as a forward proxy between real peers on 127.0.0.1.

``wstool connect --proxy`` and websockets' ``proxy=`` go through it to
``wstool serve`` over ws:// and wss:// (the server's certificate from a test
CA the proxy is told to trust; the client trusting the proxy's own CA, made
in a temporary ``--ca-dir``); an absolute-form ``GET ws://`` request; a plain
HTTPS request in a CONNECT tunnel, relayed untouched; the CA kept between
runs.
"""

from __future__ import annotations

import asyncio
import ssl
import subprocess
import sys
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from test_proxy_peers import PROJECT_ROOT, WAIT, Proxy, _env, _start_serve, proxy, run

pytest.importorskip("cryptography")
sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))

from websockets.asyncio.client import connect as ws_connect

__all__ = ["proxy"]  # the fixture, used here too


@dataclass
class Servers:
    plain: int
    tls: int
    server_ca: Path


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Servers]:
    """wstool serve on ws:// and on wss:// (a certificate for localhost from a test CA)."""
    from certs import make_ca, make_server_cert, write_pair
    from cryptography.hazmat.primitives import serialization

    directory = tmp_path_factory.mktemp("pki")
    ca = make_ca()
    cert, key = write_pair(directory, "server", make_server_cert(ca, ["localhost", "127.0.0.1"]))
    server_ca = directory / "server-ca.pem"
    server_ca.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    plain = _start_serve()
    tls = _start_serve("--tls-cert", str(cert), "--tls-key", str(key), scheme="wss")
    try:
        yield Servers(plain[1], tls[1], server_ca)
    finally:
        for process, _ in (plain, tls):
            process.kill()
            process.wait(WAIT)


@pytest.fixture
def forward(proxy: Callable[..., Proxy], servers: Servers, tmp_path: Path) -> tuple[Proxy, Path]:
    """A forward proxy trusting the test CA upstream, its own CA in a temporary directory."""
    ca_dir = tmp_path / "ca"
    running = proxy("--ca-dir", str(ca_dir), "--upstream-ca", str(servers.server_ca))
    return running, ca_dir / "ca.pem"


def wstool_connect(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wstool", "connect", *argv],
        input="through\n",
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=_env(),
        timeout=WAIT,
    )


def test_wstool_connect_ws(forward: tuple[Proxy, Path], servers: Servers) -> None:
    """ws:// through CONNECT: the tunnel is seen in the clear, frames decoded."""
    running, _ = forward
    result = wstool_connect(
        "--proxy", running.url.replace("ws:", "http:"), f"ws://127.0.0.1:{servers.plain}/p"
    )
    assert result.returncode == 0 and result.stdout == "through\n", result.stderr
    records = running.wait_for("summary")
    assert records[0]["upstream"] == f"ws://127.0.0.1:{servers.plain}/p"
    assert any(r["event"] == "message" and r.get("text") == "through" for r in records)


def test_wstool_connect_wss(forward: tuple[Proxy, Path], servers: Servers) -> None:
    """wss:// through CONNECT: TLS ended with the proxy's CA, a verified TLS hop upstream."""
    running, ca_pem = forward
    url = f"wss://localhost:{servers.tls}/s"
    proxy_url = running.url.replace("ws:", "http:")
    result = wstool_connect("--proxy", proxy_url, "--ca", str(ca_pem), url)
    assert result.returncode == 0 and result.stdout == "through\n", result.stderr
    records = running.wait_for("summary")
    assert records[0]["upstream"] == f"wss://localhost:{servers.tls}/s"
    assert any(r["event"] == "message" and r.get("text") == "through" for r in records)
    # Without trusting the proxy's CA, the client refuses it: the proxy is visible.
    refused = wstool_connect("--proxy", proxy_url, url)
    assert refused.returncode == 5 and "TLS" in refused.stderr


@pytest.mark.parametrize("secure", [False, True])
def test_websockets_proxy_argument(
    forward: tuple[Proxy, Path], servers: Servers, secure: bool
) -> None:
    """websockets' proxy= (CONNECT), over ws:// and wss://, with permessage-deflate."""
    running, ca_pem = forward
    if secure:
        uri = f"wss://localhost:{servers.tls}/w"
        context: ssl.SSLContext | None = ssl.create_default_context(cafile=str(ca_pem))
    else:
        uri, context = f"ws://127.0.0.1:{servers.plain}/w", None

    async def main() -> None:
        proxy_url = running.url.replace("ws:", "http:")
        async with ws_connect(uri, proxy=proxy_url, ssl=context) as ws:
            await ws.send("via websockets")
            assert await ws.recv() == "via websockets"

    run(main())
    summary = running.wait_for("summary")[-1]
    assert summary["upgraded"] and summary["client_to_server"]["compressed_messages"] == 1


def test_absolute_form_request(forward: tuple[Proxy, Path], servers: Servers) -> None:
    """GET ws://host:port/path to the proxy: 101 from the server, in origin form upstream."""
    running, _ = forward

    async def main() -> bytes:
        reader, writer = await asyncio.open_connection("127.0.0.1", running.port)
        request = (
            f"GET ws://127.0.0.1:{servers.plain}/abs HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Upgrade: websocket\r\nConnection: Upgrade\r\nProxy-Connection: keep-alive\r\n"
            "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
        )
        writer.write(request.encode())
        head = await reader.readuntil(b"\r\n\r\n")
        writer.close()
        return head

    head = run(main())
    assert head.startswith(b"HTTP/1.1 101 ")
    request = running.wait_for("request")[0]
    assert request["upstream_request"].startswith("GET /abs HTTP/1.1\r\n")
    assert "Proxy-Connection" not in request["upstream_request"]


def test_https_that_is_not_websocket_passes(forward: tuple[Proxy, Path], servers: Servers) -> None:
    """A plain HTTPS GET in a CONNECT tunnel (serve's console page) is relayed untouched."""
    running, ca_pem = forward
    opener = urllib.request.build_opener(
        urllib.request.ProxyHandler({"https": running.url.replace("ws:", "http:")}),
        urllib.request.HTTPSHandler(context=ssl.create_default_context(cafile=str(ca_pem))),
    )
    with opener.open(f"https://localhost:{servers.tls}/", timeout=WAIT) as response:
        assert response.status == 200
        assert b"<html" in response.read().lower()
    request = running.wait_for("request")[0]
    assert request["upstream"] == f"https://localhost:{servers.tls}/"


def test_ca_is_kept_between_runs(proxy: Callable[..., Proxy], tmp_path: Path) -> None:
    """The second run uses the CA the first one made: same ca.pem, said so at start."""
    first = proxy("--ca-dir", str(tmp_path))
    pem = (tmp_path / "ca.pem").read_bytes()
    assert any("(made now)" in line for line in first.errors)
    second = proxy("--ca-dir", str(tmp_path))
    assert (tmp_path / "ca.pem").read_bytes() == pem
    assert any(f"{tmp_path}/ca.pem (kept from before)" in line for line in second.errors)


def test_sslkeylogfile_logs_both_hops(
    proxy: Callable[..., Proxy], servers: Servers, tmp_path: Path
) -> None:
    """SSLKEYLOGFILE: the secrets of the client's TLS and of the upstream's are written."""
    keys = tmp_path / "keys.log"
    ca_dir = tmp_path / "ca"
    running = proxy(
        "--ca-dir", str(ca_dir), "--upstream-ca", str(servers.server_ca), SSLKEYLOGFILE=str(keys)
    )
    proxy_url = running.url.replace("ws:", "http:")
    url = f"wss://localhost:{servers.tls}/k"
    result = wstool_connect("--proxy", proxy_url, "--ca", str(ca_dir / "ca.pem"), url)
    assert result.returncode == 0, result.stderr
    running.wait_for("summary")
    lines = keys.read_text().splitlines()
    randoms = {line.split()[1] for line in lines if line.startswith("CLIENT_TRAFFIC_SECRET_0")}
    assert len(randoms) == 2  # the client's TLS with the proxy, the proxy's with the server
