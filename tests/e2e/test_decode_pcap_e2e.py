"""``wstool decode`` of real captures: tcpdump on loopback records websockets sessions (with and
without deflate, fragmented, binary and large messages, two connections at once) on ``-i lo``
and ``-i any``, as pcap and as pcapng; Wireshark's dissector (tshark) is the oracle for every
frame. Also: a live ``tcpdump -U -w - | wstool decode -`` pipe, Ctrl-C, cut and garbage files.

tcpdump on lo needs root; the tests skip without tcpdump (and the oracle without tshark).
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import re
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]
TIMEOUT = 60
WSTOOL = [sys.executable, "-m", "wstool"]

SESSION = """
import asyncio, sys, websockets

async def echo(ws):
    async for message in ws:
        await ws.send(message)

async def talk(port, path, compression):
    async with websockets.connect(
        f"ws://127.0.0.1:{port}{path}", compression=compression, max_size=None
    ) as ws:
        for message in ("Hello, " + path, bytes(range(256)) * 3, ["frag", "ment", "ed"],
                        "x" * 70000, b"\\x00" * 5000):
            await ws.send(message)
            await ws.recv()
        await ws.ping(b"are you there")
        await asyncio.sleep(0.05)

async def main(port):
    async with websockets.serve(echo, "127.0.0.1", port, compression="deflate", max_size=None):
        await asyncio.gather(talk(port, "/plain", None), talk(port, "/deflate", "deflate"))

asyncio.run(main(int(sys.argv[1])))
"""

needs_tcpdump = pytest.mark.skipif(
    shutil.which("tcpdump") is None or os.geteuid() != 0, reason="needs tcpdump, as root"
)
needs_tshark = pytest.mark.skipif(shutil.which("tshark") is None, reason="needs tshark")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def start_tcpdump(interface: str, port: int, output: str) -> subprocess.Popen[bytes]:
    """tcpdump writing packets as they come; returns once it listens."""
    process = subprocess.Popen(
        # --immediate-mode: packets reach tcpdump at once, not in blocks every second;
        # -B (KiB): room for many 64 KiB loopback packets, so none is dropped.
        [
            "tcpdump",
            "-U",
            "--immediate-mode",
            "-B",
            "65536",
            "-n",
            "-i",
            interface,
            "-w",
            output,
            f"tcp port {port}",
        ],
        stdout=subprocess.PIPE if output == "-" else subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    assert process.stderr is not None
    for line in process.stderr:  # "tcpdump: listening on lo, ..."
        if b"listening on" in line:
            return process
    process.wait(TIMEOUT)
    raise AssertionError(f"tcpdump did not start (status {process.returncode})")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(TIMEOUT)


def run_session(port: int, tmp_path: Path) -> None:
    script = tmp_path / "session.py"
    script.write_text(SESSION)
    subprocess.run([sys.executable, str(script), str(port)], check=True, timeout=TIMEOUT)


def record(tmp_path: Path, interface: str) -> Path:
    """A pcap of the two sessions captured on ``interface``."""
    port = free_port()
    path = tmp_path / f"{interface}.pcap"
    tcpdump = start_tcpdump(interface, port, str(path))
    try:
        run_session(port, tmp_path)
        time.sleep(0.3)  # the last packets reach the file (-U writes each packet)
    finally:
        stop(tcpdump)
    return path


@pytest.fixture(scope="module", params=["lo", "any"])
def recorded(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Captures of the sessions on ``-i lo`` (Ethernet) and ``-i any`` (Linux cooked v2)."""
    if shutil.which("tcpdump") is None or os.geteuid() != 0:
        pytest.skip("needs tcpdump, as root")
    return record(tmp_path_factory.mktemp(request.param), request.param)


def decode(*args: str, stdin: bytes | None = None) -> subprocess.CompletedProcess[str]:
    """wstool decode ARGS, its input as bytes, its output as text."""
    result = subprocess.run(
        [*WSTOOL, "decode", *args],
        input=stdin if stdin is not None else b"",
        capture_output=True,
        timeout=TIMEOUT,
        check=False,
        cwd=ROOT,
        env={**os.environ, "NO_COLOR": "1", "PYTHONIOENCODING": "utf-8"},
    )
    return subprocess.CompletedProcess(
        result.args, result.returncode, result.stdout.decode(), result.stderr.decode()
    )


def records(output: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in output.splitlines()]


# tshark's JSON holds at most 256 KiB of an unmasked payload: longer ones are compared that far.
TSHARK_FIELD_HEX = 2 * 256 * 1024


def wstool_frames(path: Path) -> dict[str, list[tuple[bool, int, bool, int, str]]]:
    result = decode("--json", str(path))
    assert result.returncode == 0, result.stderr
    frames: dict[str, list[tuple[bool, int, bool, int, str]]] = {}
    for record in records(result.stdout):
        if record["type"] == "frame":
            frames.setdefault(record["source"], []).append(
                (
                    record["fin"],
                    record["opcode"],
                    record["masked"],
                    record["length"],
                    record["payload_hex"][:TSHARK_FIELD_HEX],
                )
            )
    return frames


def tshark_frames(path: Path) -> dict[str, list[tuple[bool, int, bool, int, str]]]:
    """Every WebSocket frame Wireshark's dissector finds, by sender, as the oracle.

    On loopback, tcpdump can record a connection's segments out of order (two
    CPUs); wstool's reassembly puts them back in order, and so must the oracle's.
    """
    result = subprocess.run(
        [
            "tshark",
            "-r",
            str(path),
            "-o",
            "tcp.reassemble_out_of_order:TRUE",
            "-Y",
            "websocket",
            "-T",
            "json",
            "-x",
            "--no-duplicate-keys",
        ],
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
        check=True,
    )
    frames: dict[str, list[tuple[bool, int, bool, int, str]]] = {}
    for packet in json.loads(result.stdout):
        layers = packet["_source"]["layers"]
        ip = layers.get("ip") or layers["ipv6"]
        source = ip.get("ip.src") or f"[{ip['ipv6.src']}]"
        sender = f"{source}:{layers['tcp']['tcp.srcport']}"
        found = layers["websocket"]
        for frame in found if isinstance(found, list) else [found]:
            length = int(frame["websocket.payload_length"])
            length = int(
                frame.get(
                    "websocket.payload_length_ext_16",
                    frame.get("websocket.payload_length_ext_64", length),
                )
            )
            raw = frame.get("websocket.payload_raw")
            payload = raw[0][:TSHARK_FIELD_HEX] if raw else ""
            frames.setdefault(sender, []).append(
                (
                    frame["websocket.fin"] == "1",
                    int(frame["websocket.opcode"]),
                    frame["websocket.mask"] == "1",
                    length,
                    payload,
                )
            )
    return frames


@needs_tcpdump
@needs_tshark
class TestAgainstWireshark:
    """Every frame's FIN, opcode, mask, length and unmasked payload, as tshark reports them."""

    def test_pcap(self, recorded: Path) -> None:
        ours, theirs = wstool_frames(recorded), tshark_frames(recorded)
        assert sum(len(v) for v in ours.values()) >= 30
        assert ours == theirs

    def test_pcapng(self, recorded: Path) -> None:
        converted = recorded.with_suffix(".pcapng")
        subprocess.run(
            ["tshark", "-r", str(recorded), "-F", "pcapng", "-w", str(converted)],
            capture_output=True,
            check=True,
            timeout=TIMEOUT,
        )
        assert converted.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"
        assert wstool_frames(converted) == tshark_frames(recorded)


NODE_CLIENT = ROOT / "tests" / "interop" / "node" / "ws_client.js"
needs_node = pytest.mark.skipif(
    shutil.which("node") is None or not (NODE_CLIENT.parent / "node_modules" / "ws").is_dir(),
    reason="needs node and tests/interop/node's ws (npm ci)",
)


@needs_tcpdump
@needs_tshark
@needs_node
@pytest.mark.parametrize("deflate", [True, False], ids=["deflate", "no-deflate"])
def test_node_ws_against_serve(tmp_path: Path, deflate: bool) -> None:
    """Node's ws client (text, binary, empty, fragmented, 1 MiB messages, ping, close)
    against wstool serve, captured; every frame as tshark reports it."""
    from e2e_support import WAIT, start_serve

    server, port = start_serve("-q")
    path = tmp_path / "node.pcap"
    try:
        tcpdump = start_tcpdump("lo", port, str(path))
        try:
            flag = "--deflate" if deflate else "--no-deflate"
            subprocess.run(
                ["node", str(NODE_CLIENT), f"ws://127.0.0.1:{port}/", flag],
                check=True,
                capture_output=True,
                timeout=TIMEOUT,
            )
            time.sleep(0.3)
        finally:
            stop(tcpdump)
    finally:
        server.kill()
        server.wait(WAIT)
    ours = wstool_frames(path)
    assert sum(len(v) for v in ours.values()) >= 16
    assert ours == tshark_frames(path)
    text = decode(str(path)).stdout
    assert ("inflated from" in text) is deflate
    assert "4000" in text.splitlines()[-1]  # the table's close codes


@needs_tcpdump
class TestRealCaptures:
    def test_summary_and_deflate(self, recorded: Path) -> None:
        """Two connections, one inflated; the table names both, status 0."""
        result = decode(str(recorded))
        assert result.returncode == 0, result.stderr
        out = result.stdout
        assert "Hello, /deflate" in out and "Hello, /plain" in out
        assert out.count("inflated from") >= 10
        table = out[out.index("2 connections:") :].splitlines()
        assert out.index("2 connections:") < out.index(" c→s ")  # a file: the table first
        sections = [line.split()[0] for line in table if re.match(r"#\d+ \S+ → ", line)]
        assert sections == ["#1", "#2"]
        assert table[1].split()[:2] == ["id", "client"]
        paths = sorted(row.split()[3] for row in table[2:4])
        assert paths == ["/deflate", "/plain"]
        assert "permessage-deflate" in out

    def test_json_fields(self, recorded: Path) -> None:
        """--json keeps decode's fields and adds connection, direction and capture time."""
        result = decode("--json", str(recorded))
        frames = [r for r in records(result.stdout) if r["type"] == "frame"]
        first = frames[0]
        assert {
            "offset",
            "fin",
            "opcode",
            "opcode_name",
            "masked",
            "payload_hex",
            "sender",
            "source",
        } <= set(first)
        assert first["connection"] in (1, 2)
        assert first["direction"] == "client_to_server"
        assert first["time"] > 1.6e9
        connections = [r for r in records(result.stdout) if r["type"] == "connection"]
        assert sorted(c["path"] for c in connections) == ["/deflate", "/plain"]

    def test_one_connection_and_times(self, recorded: Path) -> None:
        """--conn shows one connection; --time absolute, relative and delta."""
        result = decode("--conn", "2", "--time", "delta", str(recorded))
        lines = [line for line in result.stdout.splitlines() if re.match(r"\d+\.\d+ ", line)]
        assert lines and all(" #2 " in line for line in lines)
        assert lines[1].split()[0].startswith("0.0")
        absolute = decode("--time", "absolute", str(recorded)).stdout
        stamp = next(line for line in absolute.splitlines() if " #1 " in line).split()[0]
        assert len(stamp) == 15 and stamp[2] == ":" and stamp[8] == "."

    def test_stdin_and_cut_file(self, recorded: Path, tmp_path: Path) -> None:
        """From stdin by its magic; a file cut short: what was read, one line, status 1."""
        data = recorded.read_bytes()
        piped = decode("-", stdin=data)
        assert piped.returncode == 0
        from_file = decode(str(recorded)).stdout
        # A pipe is shown as it comes (the table last), a file grouped by connection after
        # the table: the same lines either way.
        heading = re.compile(r"#\d+ \S+ → ")  # a connection's section, in a file's output
        lines = [line for line in from_file.splitlines() if line and not heading.match(line)]
        assert sorted(piped.stdout.splitlines()) == sorted(lines)
        assert decode("--json", "-", stdin=data).stdout == decode("--json", str(recorded)).stdout
        cut = decode("-", stdin=data[: len(data) // 2 + 3])
        assert cut.returncode == 1
        assert "the capture is cut short: packet " in cut.stdout
        assert cut.stderr == ""

    def test_live_pipe(self, tmp_path: Path) -> None:
        """tcpdump -U -w - | wstool decode -: frames appear while the capture runs; SIGINT
        (Ctrl-C) prints the summary and ends cleanly."""
        port = free_port()
        tcpdump = start_tcpdump("lo", port, "-")
        decoder = subprocess.Popen(
            [*WSTOOL, "decode", "-"],
            stdin=tcpdump.stdout,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "NO_COLOR": "1"},
        )
        lines: queue.Queue[str] = queue.Queue()

        def pump() -> None:
            assert decoder.stdout is not None
            for line in decoder.stdout:
                lines.put(line)
            lines.put("")

        reader = threading.Thread(target=pump, daemon=True)
        reader.start()
        try:
            run_session(port, tmp_path)
            seen = ""
            deadline = time.monotonic() + 20
            while "CLOSE" not in seen and time.monotonic() < deadline:
                with contextlib.suppress(queue.Empty):
                    seen += lines.get(timeout=1)
            assert "Hello, /plain" in seen and "CLOSE" in seen  # before the capture ends
            decoder.send_signal(signal.SIGINT)
            decoder.wait(TIMEOUT)
            reader.join(TIMEOUT)
            rest = "".join(iter(lines.get_nowait, ""))
            assert decoder.stderr is not None
            errors = decoder.stderr.read()
        finally:
            stop(tcpdump)
            if decoder.poll() is None:
                decoder.kill()
                decoder.wait(TIMEOUT)
        assert decoder.returncode == 0, errors
        assert "2 connections:" in rest
        assert "Traceback" not in errors


class TestBadInput:
    def test_garbage_after_a_pcap_header(self, tmp_path: Path) -> None:
        """A header and noise: nothing decoded, the cut said, no traceback."""
        path = tmp_path / "garbage.pcap"
        header = bytes.fromhex("d4c3b2a1 0200 0400 00000000 00000000 00000400 01000000")
        path.write_bytes(header + os.urandom(100))
        result = decode(str(path))
        assert result.returncode in (0, 1)
        assert result.stderr == ""
        assert result.stdout.startswith("read as pcap capture (libpcap format, little-endian)\n")

    def test_unreadable_header(self, tmp_path: Path) -> None:
        """A pcapng magic without a section header: one line, status 2."""
        path = tmp_path / "bad.pcapng"
        path.write_bytes(b"\x0a\x0d\x0d\x0a\x00")
        result = decode(str(path))
        assert (result.returncode, result.stdout) == (2, "")
        assert (
            result.stderr
            == "wstool decode: unreadable input: the pcapng section header is cut short\n"
        )


class TestStartup:
    """dpkt is loaded only for captures, and a capture's decode loads no Twisted."""

    @pytest.mark.parametrize(
        ("data", "loaded"),
        [
            (b"81 05 48 65 6c 6c 6f\n", "[]"),
            (bytes.fromhex("d4c3b2a1 0200 0400 00000000 00000000 00000400 01000000"), "['dpkt']"),
        ],
        ids=["hex-dump", "pcap"],
    )
    def test_modules(self, tmp_path: Path, data: bytes, loaded: str) -> None:
        path = tmp_path / "input"
        path.write_bytes(data)
        code = (
            "import sys\n"
            "from wstool.cli import main\n"
            f"main(['decode', {str(path)!r}])\n"
            "roots = {name.split('.')[0] for name in sys.modules}\n"
            "print('LOADED', sorted(roots & {'dpkt', 'twisted', 'prompt_toolkit'}))\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        assert result.stdout.splitlines()[-1] == f"LOADED {loaded}"
