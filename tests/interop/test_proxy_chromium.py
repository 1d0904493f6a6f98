"""Headless Chromium through ``wstool proxy`` (forward mode) to a wss:// server, over DevTools.

``wstool serve`` runs over TLS with a certificate from a test CA, so its
console page is ``https://localhost:PORT/`` and its WebSocket ``wss://``.
Chromium's proxy is the forward proxy (loopback not bypassed) and it trusts
the proxy's own CA, made in a temporary ``--ca-dir``, through the SPKI
allowlist flag (the proxy sends its CA certificate in the chain). The page
connects, sends a message and gets the echo while the proxy, which ended
Chromium's TLS and opened its own to the server, shows the frames decoded.
Skipped when no Chromium is installed.
"""

from __future__ import annotations

import base64
import hashlib
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("cryptography")
from test_proxy_peers import WAIT, Proxy, _start_serve, proxy
from test_serve_chromium import (
    BROWSER_START_TIMEOUT,
    CHROMIUM_FLAGS,
    STEP_TIMEOUT,
    ConsolePage,
    DevTools,
    _find_chromium,
    connect,
)

sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))

__all__ = ["proxy"]  # the fixture, used here too

MESSAGE = "through the proxy ✓"


def spki_hash(pem: bytes) -> str:
    """base64(SHA-256(SubjectPublicKeyInfo)), as Chromium's allowlist flag wants it."""
    from cryptography import x509
    from cryptography.hazmat.primitives import serialization

    key = x509.load_pem_x509_certificate(pem).public_key()
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return base64.b64encode(hashlib.sha256(der).digest()).decode()


def browser(profile: Path, proxy_port: int, spki: str) -> Iterator[DevTools]:
    executable = _find_chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    flags = [
        *CHROMIUM_FLAGS,
        f"--proxy-server=http://127.0.0.1:{proxy_port}",
        "--proxy-bypass-list=<-loopback>",
        f"--ignore-certificate-errors-spki-list={spki}",
        f"--user-data-dir={profile}",
    ]
    process = subprocess.Popen(
        [executable, *flags, "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + BROWSER_START_TIMEOUT
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Chromium did not open its DevTools port")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        with connect(f"ws://127.0.0.1:{port}{path}", open_timeout=STEP_TIMEOUT) as ws:
            yield DevTools(ws)
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def open_page(devtools: DevTools, url: str) -> ConsolePage:
    target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    session = devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
        "sessionId"
    ]
    page = ConsolePage(devtools, session)
    devtools.call("Page.enable", session=session)
    devtools.call("Page.navigate", {"url": url}, session)
    page.wait_for(
        "document.readyState === 'complete' && !!document.getElementById('connect')",
        "the console page to load through the proxy",
    )
    return page


def test_chromium_through_the_forward_proxy_to_wss(proxy: Any, tmp_path: Path) -> None:
    """The page's wss:// WebSocket goes through the proxy; both sides see the echo."""
    from certs import make_ca, make_server_cert, write_pair
    from cryptography.hazmat.primitives import serialization

    ca = make_ca()
    cert, key = write_pair(tmp_path, "server", make_server_cert(ca, ["localhost"]))
    server_ca = tmp_path / "server-ca.pem"
    server_ca.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    serve = _start_serve("--tls-cert", str(cert), "--tls-key", str(key), scheme="wss")
    try:
        running: Proxy = proxy("--ca-dir", str(tmp_path / "ca"), "--upstream-ca", str(server_ca))
        spki = spki_hash((tmp_path / "ca" / "ca.pem").read_bytes())
        for devtools in browser(tmp_path / "profile", running.port, spki):
            page = open_page(devtools, f"https://localhost:{serve[1]}/")
            page.evaluate("document.getElementById('connect').click()")
            page.wait_for(
                "document.getElementById('state').textContent === 'open'", "the socket to open"
            )
            page.send(MESSAGE, "text")
            page.wait_for_log(f"< text {len(MESSAGE)} chars: {MESSAGE}")
    finally:
        serve[0].kill()
        serve[0].wait(WAIT)
    records = running.records()
    upgraded = [
        r
        for r in records
        if r["event"] == "request" and "upgrade: websocket" in r["request"].lower()
    ]
    assert upgraded and upgraded[0]["upstream"].startswith(f"wss://localhost:{serve[1]}/")
    texts = [
        (r["direction"], r.get("text"))
        for r in records
        if r["event"] in ("frame", "message") and r.get("text") == MESSAGE
    ]
    assert ("client-to-server", MESSAGE) in texts and ("server-to-client", MESSAGE) in texts
