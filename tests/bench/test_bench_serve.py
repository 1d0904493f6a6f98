"""wstool bench against ``wstool serve`` as a user runs both: modes, workers, Ctrl-C, failures."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

PROJECT_ROOT = Path(__file__).resolve().parents[2]


def test_closed_loop_table(wstool_server: Any, run_bench: Any) -> None:
    """Without --json: one table with msgs/s, MB/s, the percentiles and OK; exit 0."""
    server = wstool_server()
    result = run_bench(server.url, "-c", "5", "--inflight", "4", "--duration", "1")
    assert result.status == 0, result.stderr
    for word in ("msgs/s", "MB/s", "p50", "p99.9", "max", "tcp connect", "OK"):
        assert word in result.stdout
    assert result.stderr == ""  # no live progress off a terminal


def test_http_url_is_taken_as_ws(wstool_server: Any, run_bench: Any) -> None:
    """http:// is benched as ws://, and one line on stderr says so (as connect does)."""
    server = wstool_server()
    url = server.url.replace("ws://", "http://", 1)
    result = run_bench(url, "-c", "2", "--messages", "100", "--json")
    assert result.status == 0, result.stderr
    assert result.report["received"] == 100
    assert result.stderr == "wstool bench: note: http:// taken as ws://\n"


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_closed_loop_on_each_event_loop(wstool_server: Any, run_bench: Any, loop: str) -> None:
    """Each loop's transport hands reads to the C stream its own way (set_protocol)."""
    pytest.importorskip(loop)
    server = wstool_server()
    result = run_bench(
        server.url, "-c", "4", "--inflight", "8", "--messages", "20000", "--event-loop", loop,
        "--json",
    )  # fmt: skip
    report = result.report
    assert result.status == 0, result.stderr
    assert report["event_loop"] == loop and report["ok"] is True
    assert report["sent"] == report["received"] == 20000
    assert report["latency_us"]["count"] >= 18000


@pytest.mark.parametrize("kind", ["--text", "--binary"])
def test_no_stamps_echoes_prebuilt_messages(wstool_server: Any, run_bench: Any, kind: str) -> None:
    """--no-stamps: the filler alone, every echo still checked, latency still measured."""
    server = wstool_server()
    result = run_bench(
        server.url,
        "-c",
        "3",
        "--inflight",
        "8",
        "--messages",
        "3000",
        "--no-stamps",
        kind,
        "--json",
    )
    report = result.report
    assert result.status == 0, result.stderr
    assert report["sent"] == report["received"] == 3000
    assert report["latency_us"]["count"] >= 2700  # from when every connection is open


def test_open_loop_rate_is_kept(wstool_server: Any, run_bench: Any) -> None:
    """--rate 500 for 1 s sends about 500 messages, each echoed."""
    server = wstool_server()
    result = run_bench(server.url, "-c", "5", "--rate", "500", "--duration", "1", "--json")
    report = result.report
    assert result.status == 0, result.stderr
    assert report["loop"] == "open" and 450 <= report["sent"] <= 520
    assert report["received"] == report["sent"]


def test_workers_merge(wstool_server: Any, run_bench: Any) -> None:
    """--workers 2: both processes' counts and histograms in one result."""
    server = wstool_server()
    result = run_bench(
        server.url, "-c", "6", "--inflight", "2", "--workers", "2", "--messages", "2000", "--json"
    )
    report = result.report
    assert result.status == 0, result.stderr
    assert report["workers"] == 2 and report["connections_opened"] == 6
    assert report["sent"] == report["received"] == 2000
    # Each worker sends 1,000 and times those sent once its connections are open:
    # more than 1,000 samples means both workers' histograms were merged.
    assert 1000 < report["latency_us"]["count"] <= 2000


def test_two_thousand_connections(wstool_server: Any, run_bench: Any) -> None:
    """2,000 connections over 2 workers, opened over a ramp-up, all verified."""
    server = wstool_server()
    result = run_bench(
        server.url,
        "-c",
        "2000",
        "--workers",
        "2",
        "--ramp-up",
        "1",
        "--rate",
        "2000",
        "--duration",
        "1",
        "--json",
        timeout=120,
    )
    report = result.report
    assert result.status == 0, result.stderr
    assert report["connections_opened"] == 2000 and report["connections_failed"] == 0
    assert report["received"] == report["sent"] > 1000


def test_handshakes(wstool_server: Any, run_bench: Any) -> None:
    """--mode handshakes: cycles per second, TCP and upgrade times apart, no TLS row."""
    server = wstool_server()
    result = run_bench(server.url, "--mode", "handshakes", "-c", "4", "--duration", "1", "--json")
    report = result.report
    assert result.status == 0, result.stderr
    assert report["handshakes"] > 20 and report["handshakes_per_s"] > 0
    steps = report["handshake_us"]
    assert steps["tcp"]["count"] >= report["handshakes"] and steps["tls"] is None
    assert steps["upgrade"]["p50"] > 0


def test_subscribe_reads_the_publishers_timestamps(wstool_server: Any, run_bench: Any) -> None:
    """A broadcast server: 3 listeners get a publisher's messages; latency from their header."""
    server = wstool_server("--mode", "broadcast")
    listeners = subprocess.Popen(
        [sys.executable, "-m", "wstool", "bench", server.url, "--mode", "subscribe", "-c", "3",
         "--messages", "300", "--timeout", "20", "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
    )  # fmt: skip
    try:
        time.sleep(1.5)  # the listeners connect first
        publisher = run_bench(
            server.url, "--mode", "send", "-c", "1", "--rate", "200", "--duration", "2", "--json"
        )
        out, err = listeners.communicate(timeout=30)
    finally:
        listeners.kill()
    assert publisher.status == 0, publisher.stderr
    assert publisher.report["sent"] >= 350
    report = json.loads(out)
    assert listeners.returncode == 0, err
    assert report["received"] == 300 and report["untimed"] == 0
    assert 0 < report["latency_us"]["p50"] < 1_000_000


def _interrupted(args: list[str], *, after: float) -> tuple[dict[str, Any], str]:
    """``wstool bench ARGS --json`` sent SIGINT after ``after`` seconds: it must exit
    130; its report and stderr."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wstool", "bench", *args, "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=PROJECT_ROOT,
        env={**os.environ, "NO_COLOR": "1"},
    )  # fmt: skip
    try:
        time.sleep(after)
        process.send_signal(signal.SIGINT)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 130, err
    return json.loads(out), err


@pytest.mark.parametrize("workers", ["1", "2"])
def test_ctrl_c_prints_what_was_measured(wstool_server: Any, workers: str) -> None:
    """SIGINT in the middle: the run stops, the figures so far are printed, exit 130
    (with --workers, the parent passes the signal on and merges what each measured)."""
    server = wstool_server()
    report, _ = _interrupted(
        [server.url, "-c", "4", "--duration", "60", "--workers", workers], after=3.0
    )
    assert report["interrupted"] is True and report["received"] > 0
    assert report["latency_us"]["count"] > 0 and 0 < report["seconds"] < 30


@pytest.mark.parametrize("loop", ["asyncio", "uvloop"])
def test_ctrl_c_during_the_ramp_up(wstool_server: Any, loop: str) -> None:
    """SIGINT while connections are still opening: those mid-handshake are let open
    and closed like the rest, and none is counted as failed (nor an internal error)."""
    server = wstool_server()
    report, err = _interrupted(
        [server.url, "-c", "2000", "--ramp-up", "6", "--duration", "5", "--event-loop", loop],
        after=2.5,
    )
    assert report["interrupted"] is True and report["ok"] is True, (report, err)
    assert report["connections_failed"] == 0 and report["errors"] == {}
    assert 0 < report["connections_opened"] < 2000


def test_refused(run_bench: Any) -> None:
    """Nothing listens: refusals counted, exit 5 (no connection opened)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_bench(f"ws://127.0.0.1:{port}/", "-c", "3", "--duration", "1", "--json")
    assert result.status == 5
    assert result.report["errors"] == {"refused": 3}


def test_refused_table(run_bench: Any) -> None:
    """The table says FAILED and names the kind."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    result = run_bench(f"ws://127.0.0.1:{port}/", "-c", "2", "--duration", "1")
    assert result.status == 5
    assert "refused" in result.stdout and "FAILED" in result.stdout


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["http//nowhere"], "not a ws:// or wss:// URI"),
        (["ws://127.0.0.1:1/", "--size", "8"], "smaller than the 16-byte timestamp header"),
        (["ws://127.0.0.1:1/", "--size", "20", "--text"], "32-byte"),
        (["ws://127.0.0.1:1/", "--size", "32:0"], "weight"),
        (["ws://127.0.0.1:1/", "-c", "0"], "not a whole number"),
        (["ws://127.0.0.1:1/", "--rate", "-3"], "not a rate"),
        (["ws://127.0.0.1:1/", "--duration", "1", "--messages", "5"], "not allowed with"),
        (["ws://127.0.0.1:1/", "--no-stamps", "--rate", "10"], "--no-stamps goes with --mode echo"),
        (["ws://127.0.0.1:1/", "--no-stamps", "--size", "32,64"], "one --size under 4KiB"),
        (["ws://127.0.0.1:1/", "--no-stamps", "--mode", "send"], "--no-stamps goes with"),
        (["ws://127.0.0.1:1/", "-c", "200", "--inflight", "1000000"], "6.0 GiB in flight"),
        (["ws://127.0.0.1:1/", "--inflight", "5", "--size", "1GiB"], "over the 4 GiB"),
    ],
)
def test_usage_errors(run_bench: Any, args: list[str], says: str) -> None:
    """Bad usage: one line on stderr, exit 2, no traceback."""
    result = run_bench(*args)
    assert result.status == 2
    assert says in result.stderr and len(result.stderr.splitlines()) == 1


def test_unknown_host(run_bench: Any) -> None:
    """A host that does not resolve: one line, exit 5."""
    result = run_bench("ws://no-such-host.invalid/", "--duration", "1")
    assert result.status == 5
    assert "cannot resolve" in result.stderr and len(result.stderr.splitlines()) == 1


def _self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A self-signed certificate for localhost (the interop tests' certs helper)."""
    sys.path.insert(0, str(Path(__file__).parents[1] / "interop" / "connect_peers"))
    from certs import make_server_cert, write_pair

    return write_pair(tmp_path, "server", make_server_cert(None, ["localhost"]))


def test_tls_handshakes_and_echo(wstool_server: Any, run_bench: Any, tmp_path: Path) -> None:
    """wss://: TLS time shown apart; an unverified certificate fails unless -k."""
    cert, key = _self_signed(tmp_path)
    server = wstool_server("--tls-cert", str(cert), "--tls-key", str(key))
    url = f"wss://localhost:{server.port}/"
    strict = run_bench(url, "-c", "1", "--duration", "1", "--json")
    assert strict.status == 5 and list(strict.report["errors"]) == ["tls"]
    hands = run_bench(url, "-k", "--mode", "handshakes", "-c", "2", "--duration", "1", "--json")
    assert hands.status == 0, hands.stderr
    assert hands.report["handshake_us"]["tls"]["count"] >= hands.report["handshakes"] > 0
    echo = run_bench(url, "-k", "-c", "2", "--inflight", "4", "--messages", "500", "--json")
    assert echo.status == 0, echo.stderr
    assert echo.report["received"] == 500
