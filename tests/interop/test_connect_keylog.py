"""``SSLKEYLOGFILE`` with ``wstool connect``: Wireshark (tshark) decrypts a wss:// capture.

``wstool serve`` over TLS (a certificate from a test CA), tcpdump on loopback,
``wstool connect`` with the key log; tshark reads the capture with the key
log and must find the WebSocket message inside the TLS, and without it must
not. tcpdump on lo needs root; the test skips without tcpdump or tshark.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_proxy_peers import PROJECT_ROOT, WAIT, _env, _start_serve

pytest.importorskip("cryptography")
pytestmark = pytest.mark.skipif(
    shutil.which("tcpdump") is None or shutil.which("tshark") is None or os.geteuid() != 0,
    reason="needs tcpdump (as root) and tshark",
)
sys.path.insert(0, str(Path(__file__).resolve().parent / "connect_peers"))

SECRET = "the secret message"


def start_tcpdump(port: int, output: Path) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [
            "tcpdump",
            "-U",
            "--immediate-mode",
            "-n",
            "-i",
            "lo",
            "-w",
            str(output),
            "tcp",
            "port",
            str(port),
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    for line in process.stderr:
        if b"listening on" in line:
            return process
    process.wait(WAIT)
    raise AssertionError("tcpdump did not start")


def tshark_texts(capture: Path, port: int, keys: Path | None) -> list[str]:
    """The text of every WebSocket frame tshark finds in the capture."""
    options = ["-o", f"tls.keylog_file:{keys}"] if keys is not None else []
    done = subprocess.run(
        [
            "tshark",
            "-r",
            str(capture),
            "-d",
            f"tcp.port=={port},tls",
            *options,
            "-Y",
            "websocket",
            "-T",
            "fields",
            "-e",
            "websocket.payload.text",
        ],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return [line for line in done.stdout.splitlines() if line]


def test_tshark_decrypts_connect_with_the_key_log(tmp_path: Path) -> None:
    """The secrets connect writes let tshark read the messages of both directions."""
    from certs import make_ca, make_server_cert, write_pair
    from cryptography.hazmat.primitives import serialization

    ca = make_ca()
    cert, key = write_pair(tmp_path, "server", make_server_cert(ca, ["localhost", "127.0.0.1"]))
    ca_file = tmp_path / "ca.pem"
    ca_file.write_bytes(ca.cert.public_bytes(serialization.Encoding.PEM))
    serve, port = _start_serve("--tls-cert", str(cert), "--tls-key", str(key), scheme="wss")
    capture, keys = tmp_path / "wss.pcap", tmp_path / "keys.log"
    try:
        tcpdump = start_tcpdump(port, capture)
        try:
            result = subprocess.run(
                [
                    sys.executable,
                    "-m",
                    "wstool",
                    "connect",
                    "--ca",
                    str(ca_file),
                    f"wss://localhost:{port}/",
                ],
                input=SECRET + "\n",
                capture_output=True,
                text=True,
                cwd=PROJECT_ROOT,
                env={**_env(), "SSLKEYLOGFILE": str(keys)},
                timeout=WAIT,
            )
            time.sleep(0.3)  # the last packets reach the file
        finally:
            tcpdump.send_signal(signal.SIGINT)
            tcpdump.wait(WAIT)
    finally:
        serve.kill()
        serve.wait(WAIT)
    assert result.returncode == 0 and result.stdout == SECRET + "\n", result.stderr
    assert "CLIENT_TRAFFIC_SECRET_0 " in keys.read_text()
    assert tshark_texts(capture, port, keys) == [SECRET, SECRET]  # sent, and echoed
    assert tshark_texts(capture, port, None) == []  # without the keys, TLS stays closed


def test_ws_does_not_create_the_key_log(tmp_path: Path) -> None:
    """Only a TLS connection opens the file: ws:// leaves SSLKEYLOGFILE alone."""
    serve, port = _start_serve()
    keys = tmp_path / "keys.log"
    try:
        result = subprocess.run(
            [sys.executable, "-m", "wstool", "connect", f"ws://127.0.0.1:{port}/"],
            input="plain\n",
            capture_output=True,
            text=True,
            cwd=PROJECT_ROOT,
            env={**_env(), "SSLKEYLOGFILE": str(keys)},
            timeout=WAIT,
        )
    finally:
        serve.kill()
        serve.wait(WAIT)
    assert result.returncode == 0, result.stderr
    assert not keys.exists()


def test_a_key_log_that_cannot_be_opened_is_one_line() -> None:
    """SSLKEYLOGFILE in a missing directory: one line on stderr, exit 2, no connection tried."""
    result = subprocess.run(
        [sys.executable, "-m", "wstool", "connect", "wss://127.0.0.1:9/"],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env={**_env(), "SSLKEYLOGFILE": "/nonexistent/dir/keys.log"},
        timeout=WAIT,
    )
    assert result.returncode == 2
    assert result.stderr.count("\n") == 1 and "SSLKEYLOGFILE" in result.stderr, result.stderr
