"""End-to-end tests of ``wstool decode``: the installed command, run as a subprocess."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from wstool.core.frames import Opcode, encode_frame

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "examples"
DUMPS = ROOT / "tests" / "samples" / "dumps"
SCRIPT = Path(sys.executable).parent / "wstool"
TIMEOUT = 60

COMMANDS = [pytest.param([sys.executable, "-m", "wstool"], id="python-m")]
if SCRIPT.exists():
    COMMANDS.append(pytest.param([str(SCRIPT)], id="console-script"))


def environment() -> dict[str, str]:
    """The environment of the child: no colour forced either way."""
    env = {k: v for k, v in os.environ.items() if k not in ("FORCE_COLOR", "NO_COLOR")}
    env["PYTHONIOENCODING"] = "utf-8"
    return env


@pytest.fixture(params=COMMANDS)
def wstool(request: pytest.FixtureRequest) -> list[str]:
    """The command that runs wstool: ``python -m wstool``, and the console script."""
    command: list[str] = request.param
    return command


def run(
    command: list[str], *args: str, stdin: bytes = b"", timeout: float = TIMEOUT
) -> subprocess.CompletedProcess[str]:
    """Run wstool to completion, with its output as text."""
    return subprocess.run(
        [*command, *args],
        input=stdin.decode("latin-1"),
        capture_output=True,
        text=True,
        encoding="utf-8",
        env=environment(),
        timeout=timeout,
        check=False,
    )


def frame_stream() -> tuple[bytes, list[tuple[Any, ...]]]:
    """Frames of every kind, and (opcode, fin, mask key, payload hex) for each.

    A run of 64 zero bytes makes ``hexdump -C`` and ``od`` squeeze repeated lines
    into ``*``, which the reader has to expand again.
    """
    key = bytes.fromhex("37fa213d")
    frames = [
        (Opcode.TEXT, b"Hello, wstool!", True, key),
        (Opcode.BINARY, bytes(range(200)) + bytes(64) + b"end", False, None),
        (Opcode.CONTINUATION, b"|more|", True, None),
        (Opcode.PING, b"are you there?", True, key),
        (Opcode.TEXT, "héllo ✓".encode(), True, None),
        (Opcode.CLOSE, b"\x03\xe8bye", True, key),
    ]
    data = b"".join(
        encode_frame(opcode, payload, fin=fin, mask_key=mask)
        for opcode, payload, fin, mask in frames
    )
    expected = [
        (int(opcode), fin, mask.hex() if mask else None, payload.hex())
        for opcode, payload, fin, mask in frames
    ]
    return data, expected


def decoded_frames(stdout: str) -> list[tuple[Any, ...]]:
    """(opcode, fin, mask key, payload hex) of each frame record in NDJSON output."""
    records = [json.loads(line) for line in stdout.splitlines()]
    return [
        (r["opcode"], r["fin"], r["mask_key"], r["payload_hex"])
        for r in records
        if r["type"] == "frame"
    ]


class TestExamples:
    """The bundled captures decode, both ways, with their handshakes."""

    def test_session(self, wstool: list[str]) -> None:
        """The plain session: endpoints, HTTP heads, masked client frames, the text."""
        result = run(wstool, "decode", str(EXAMPLES / "session.tcpdump"))
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        out = result.stdout
        assert out.startswith("read as tcpdump -X\n")
        assert "127.0.0.1:47032 → 127.0.0.1:8765  sent by the client" in out
        assert "127.0.0.1:8765 → 127.0.0.1:47032  sent by the server" in out
        assert "@0x0000 HTTP request: GET /chat HTTP/1.1\n" in out
        assert "  Sec-WebSocket-Key: NjjhyBUA90nYJcJ1JynI8w==\n" in out
        assert "@0x0000 HTTP response: HTTP/1.1 101 Switching Protocols\n" in out
        assert "  Sec-WebSocket-Accept: c1x9+gS+TqK6l6aXR5U8dwecEH4=\n" in out
        assert "@0x00c6 TEXT         FIN rsv=000 mask=ad77d98f len=14 (7-bit)\n" in out
        assert "@0x00cb TEXT         FIN rsv=000 unmasked len=14 (7-bit)\n" in out
        assert out.count("  Hello, wstool!\n") == 2
        assert out.endswith("15 frames, no violations\n")

    def test_session_deflate(self, wstool: list[str]) -> None:
        """The deflate session: the 101 turns inflating on; the fragmented message is read."""
        result = run(wstool, "decode", str(EXAMPLES / "session-deflate.tcpdump"))
        assert result.returncode == 0, result.stderr
        assert result.stderr == ""
        out = result.stdout
        assert (
            "  ⤷ message TEXT from @0x0196: 18 bytes in 4 frames, inflated from 37\n"
            "    fragmented message\n"
        ) in out
        assert (
            "  ⤷ message TEXT from @0x01a9: 18 bytes, inflated from 20\n    fragmented message\n"
        ) in out
        assert out.endswith("15 frames, no violations\n")

    def test_rfc_examples(self, wstool: list[str]) -> None:
        """The RFC 6455 §5.7 examples decode with no violation."""
        result = run(wstool, "decode", "--json", str(EXAMPLES / "rfc6455-examples.hex"))
        assert (result.returncode, result.stderr) == (0, "")
        records = [json.loads(line) for line in result.stdout.splitlines()]
        assert [r.get("opcode_name", r["type"]) for r in records] == [
            "TEXT",
            "TEXT",
            "CONTINUATION",
            "message",
            "PING",
            "CLOSE",
        ]
        assert all(r["violations"] == [] for r in records if r["type"] == "frame")

    def test_two_connections_plain_then_deflate(self, wstool: list[str]) -> None:
        """A real capture of a plain connection and then a deflate one: no false RSV1 findings."""
        result = run(wstool, "decode", str(DUMPS / "two-connections.tcpdump-X.txt"))
        assert (result.returncode, result.stderr) == (0, "")
        out = result.stdout
        assert out.startswith("read as tcpdump -X\n")
        assert "  Hello, plain\n" in out
        assert out.count("inflated from") == 4  # two messages, both ways
        assert out.endswith("12 frames, no violations\n")

    def test_tcpdump_lines_without_packet_headers(self, wstool: list[str]) -> None:
        """Real tcpdump -X lines holding only WebSocket bytes decode as one stream."""
        result = run(wstool, "decode", str(DUMPS / "websocket-payload.tcpdump-X.txt"))
        assert (result.returncode, result.stderr) == (0, "")
        out = result.stdout
        assert out.startswith(
            "read as tcpdump -X lines without packet headers (the bytes as one stream)\n"
        )
        assert "  Hello, plain\n" in out
        assert out.endswith("3 frames, no violations\n")

    def test_errors_on_stderr(self, wstool: list[str]) -> None:
        """Unreadable input: status 2, one line on stderr, nothing on stdout."""
        result = run(wstool, "decode", stdin=b"hello world\n")
        assert result.returncode == 2
        assert result.stdout == ""
        assert result.stderr.count("\n") == 1
        assert result.stderr.startswith("wstool decode: unreadable input: ")


class TestHelpExamples:
    """What ``wstool decode --help`` shows works as shown."""

    def help_section(self, wstool: list[str], title: str) -> list[str]:
        """The lines of one section of the help, without its title."""
        result = run(wstool, "decode", "--help")
        assert (result.returncode, result.stderr) == (0, "")
        section = result.stdout.split(f"\n{title}:\n", 1)[1].split("\n\n", 1)[0]
        return section.splitlines()

    def test_input_formats(self, wstool: list[str]) -> None:
        """Every sample of the input-format table is the same frame: a server's "Hello"."""
        samples = []
        for line in self.help_section(wstool, "input formats (detected on their own)"):
            if line[2] == " " or "81" not in line:
                continue  # continuation lines, and descriptions rather than samples
            for sample in re.split(r" {3,}or {3,}", line[21:]):
                samples.append(re.sub(r" {3,}\(.*\)$", "", sample))
        assert len(samples) == 10
        for sample in samples:
            result = run(wstool, "decode", "--json", stdin=sample.encode())
            assert (result.returncode, result.stderr) == (0, ""), sample
            assert decoded_frames(result.stdout) == [(1, True, None, b"Hello".hex())], sample

    def test_examples(self, wstool: list[str], tmp_path: Path) -> None:
        """Every example that needs no privileges runs cleanly on the files it names."""
        if shutil.which("xxd") is None:
            pytest.skip("xxd is not installed")
        (tmp_path / "capture.bin").write_bytes(bytes.fromhex("810548656c6c6f"))
        # RFC 7692 §7.2.3.1: "Hello" compressed in one frame.
        (tmp_path / "compressed.hex").write_text("c1 07 f2 48 cd c9 c9 07 00\n")
        shim = tmp_path / "bin"
        shim.mkdir()
        (shim / "wstool").write_text(f'#!/bin/sh\nexec {" ".join(wstool)} "$@"\n')
        (shim / "wstool").chmod(0o755)
        env = environment()
        env["PATH"] = f"{shim}{os.pathsep}{env['PATH']}"
        ran = 0
        for example in self.help_section(wstool, "examples"):
            command = example.strip()
            if command.startswith("sudo") or ("jq" in command and not shutil.which("jq")):
                continue
            result = subprocess.run(
                ["bash", "-o", "pipefail", "-c", command],
                cwd=tmp_path,
                env=env,
                capture_output=True,
                text=True,
                timeout=TIMEOUT,
                check=False,
            )
            assert (result.returncode, result.stderr) == (0, ""), command
            assert result.stdout, command
            ran += 1
        assert ran >= 3


class TestBrokenPipe:
    """``wstool decode ... | head`` ends quietly."""

    @pytest.mark.skipif(shutil.which("head") is None, reason="needs head")
    @pytest.mark.parametrize("json_output", [False, True], ids=["text", "json"])
    def test_head(self, wstool: list[str], tmp_path: Path, json_output: bool) -> None:
        """More output than a pipe holds, read by ``head -n 3``: no traceback, status 0."""
        dump = tmp_path / "many.hex"
        dump.write_text("81 05 48 65 6c 6c 6f\n" * 20000)
        args = [*wstool, "decode", *(["--json"] if json_output else []), str(dump)]
        producer = subprocess.Popen(
            args,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=environment(),
        )
        assert producer.stdout is not None
        head = subprocess.run(
            ["head", "-n", "3"], stdin=producer.stdout, capture_output=True, timeout=TIMEOUT
        )
        producer.stdout.close()  # head's end is the only reader left
        _, stderr = producer.communicate(timeout=TIMEOUT)
        assert len(head.stdout.splitlines()) == 3
        assert b"BrokenPipeError" not in stderr
        assert b"Traceback" not in stderr
        assert stderr == b""
        assert producer.returncode == 0


class TestStartup:
    """decode stays away from Twisted and prompt_toolkit: it starts fast."""

    def test_modules_not_imported(self, tmp_path: Path) -> None:
        """Decoding a one-frame dump imports neither twisted nor prompt_toolkit."""
        dump = tmp_path / "one.hex"
        dump.write_text("81 05 48 65 6c 6c 6f\n")
        code = (
            "import sys\n"
            "from wstool.cli import main\n"
            f"status = main(['decode', {str(dump)!r}])\n"
            "roots = {name.split('.')[0] for name in sys.modules}\n"
            "heavy = sorted(roots & {'twisted', 'prompt_toolkit'})\n"
            "print('STATUS', status, 'HEAVY', heavy)\n"
        )
        result = subprocess.run(
            [sys.executable, "-c", code],
            capture_output=True,
            text=True,
            env=environment(),
            timeout=TIMEOUT,
            check=False,
        )
        assert result.stderr == ""
        assert result.stdout.splitlines()[-1] == "STATUS 0 HEAVY []"

    def test_importtime(self, tmp_path: Path) -> None:
        """``python -X importtime -m wstool decode`` lists no twisted or prompt_toolkit module."""
        dump = tmp_path / "one.hex"
        dump.write_text("81 05 48 65 6c 6c 6f\n")
        result = subprocess.run(
            [sys.executable, "-X", "importtime", "-m", "wstool", "decode", str(dump)],
            capture_output=True,
            text=True,
            env=environment(),
            timeout=TIMEOUT,
            check=False,
        )
        assert result.returncode == 0
        imported = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines()]
        assert "wstool.cli" in imported
        assert [m for m in imported if m.split(".")[0] in ("twisted", "prompt_toolkit")] == []


DUMPERS = [
    pytest.param(["xxd"], id="xxd"),
    pytest.param(["xxd", "-p"], id="xxd-p"),
    pytest.param(["hexdump", "-C"], id="hexdump-C"),
    pytest.param(["od", "-A", "x", "-t", "x1z"], id="od"),
    pytest.param(["od", "-A", "x", "-t", "x1z", "-v"], id="od-v"),
]


class TestRealTools:
    """Dumps made by the real tools decode to exactly the frames that were dumped."""

    @pytest.mark.parametrize("dumper", DUMPERS)
    def test_round_trip(self, wstool: list[str], tmp_path: Path, dumper: list[str]) -> None:
        """``TOOL frames.bin | wstool decode --json`` gives back every frame, bit for bit."""
        if shutil.which(dumper[0]) is None:
            pytest.skip(f"{dumper[0]} is not installed")
        data, expected = frame_stream()
        path = tmp_path / "frames.bin"
        path.write_bytes(data)
        dump = subprocess.run(
            [*dumper, str(path)], capture_output=True, check=True, timeout=TIMEOUT
        ).stdout
        result = run(wstool, "decode", "--json", stdin=dump)
        assert result.stderr == ""
        assert decoded_frames(result.stdout) == expected
        # Mixed masking: the sender is unknown and no violation is claimed.
        assert result.returncode == 0
