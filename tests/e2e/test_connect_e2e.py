"""``wstool connect`` end to end: the REPL in a real terminal (tmux), and pipe mode.

The REPL runs in a detached tmux session (120x40) on a private tmux socket,
against a ``wstool serve`` subprocess; keys go in with ``send-keys`` and the
screen is read with ``capture-pane -p``. The shell in the pane writes the
exit status to a file, so it can be checked after the program is gone.
Tests that need tmux skip without it (CI installs it). Every wait is bounded.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from e2e_support import PROJECT_ROOT, WAIT, e2e_env

TMUX = shutil.which("tmux")
needs_tmux = pytest.mark.skipif(TMUX is None, reason="tmux is needed to run the REPL in a terminal")


def free_port() -> int:
    """A port on 127.0.0.1 where nothing listens (bound, then released)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def wait_until(check: Callable[[], object], what: str, timeout: float = WAIT) -> object:
    """Poll ``check`` until it returns something truthy; fail after ``timeout`` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Terminal:
    """A command running in a detached tmux session on a private socket."""

    socket_name: str
    status_file: Path

    def tmux(self, *args: str) -> str:
        assert TMUX is not None
        done = subprocess.run(
            [TMUX, "-L", self.socket_name, "-f", "/dev/null", *args],
            capture_output=True,
            text=True,
            timeout=WAIT,
        )
        return done.stdout

    def screen(self) -> str:
        """The visible pane, as text."""
        return self.tmux("capture-pane", "-p", "-t", "main", "-S", "-200")

    def type(self, text: str) -> None:
        """Type ``text`` literally, then Enter."""
        self.tmux("send-keys", "-t", "main", "-l", text)
        self.tmux("send-keys", "-t", "main", "Enter")

    def key(self, name: str) -> None:
        self.tmux("send-keys", "-t", "main", name)

    def wait_for(self, pattern: str, timeout: float = WAIT) -> re.Match[str]:
        """Wait until the screen matches ``pattern`` (a regex); return the match."""
        regex = re.compile(pattern, re.MULTILINE)
        last = [""]

        def check() -> re.Match[str] | None:
            last[0] = self.screen()
            return regex.search(last[0])

        deadline = time.monotonic() + timeout
        while True:
            match = check()
            if match:
                return match
            if time.monotonic() > deadline:
                pytest.fail(f"screen never matched {pattern!r} in {timeout}s:\n{last[0]}")
            time.sleep(0.05)

    def status(self) -> int:
        """The exit status the pane's shell wrote, once the program has ended."""
        wait_until(
            lambda: self.status_file.exists() and self.status_file.read_text().strip(),
            "the exit status file",
        )
        return int(self.status_file.read_text().strip())


@pytest.fixture
def terminal(tmp_path: Path) -> Iterator[Callable[..., Terminal]]:
    """Start ``python -m wstool connect ARGS`` in tmux; the tmux server is killed at teardown."""
    if TMUX is None:
        pytest.skip("tmux is needed to run the REPL in a terminal")
    started: list[Terminal] = []

    def start(*args: str) -> Terminal:
        term = Terminal(f"wstool-e2e-{os.getpid()}-{len(started)}", tmp_path / "status")
        env = {"XDG_STATE_HOME": str(tmp_path / "state"), "NO_COLOR": "1", "TERM": "xterm"}
        command = " ".join(
            [
                "cd",
                shlex.quote(str(PROJECT_ROOT)),
                "&&",
                "env",
                *(f"{k}={shlex.quote(v)}" for k, v in env.items()),
                shlex.quote(sys.executable),
                "-m",
                "wstool",
                "connect",
                *(shlex.quote(a) for a in args),
                f"; echo $? > {shlex.quote(str(term.status_file))}",
            ]
        )
        started.append(term)
        # One tmux invocation: the pane must stay (remain-on-exit) even when
        # the program ends at once, so its last screen can still be read.
        term.tmux(
            "start-server",
            ";",
            "set-option",
            "-g",
            "remain-on-exit",
            "on",
            ";",
            "new-session",
            "-d",
            "-s",
            "main",
            "-x",
            "120",
            "-y",
            "40",
            "sh",
            "-c",
            command,
        )
        return term

    yield start
    for term in started:
        term.tmux("kill-server")


@needs_tmux
def test_repl_session(terminal: Callable[..., Terminal], server_port: int, tmp_path: Path) -> None:
    """Type a message, /ping, /binary and a bad command; Ctrl-D closes with 1000 and exit 0."""
    started = time.monotonic()
    term = terminal(f"ws://127.0.0.1:{server_port}/")
    term.wait_for(r"^ws>", timeout=WAIT)
    ready = time.monotonic() - started
    print(f"\nwstool connect: ready prompt after {ready:.2f} s (tmux start included)")
    screen = term.screen()
    assert "connected; subprotocol: none; extensions: permessage-deflate" in screen
    assert "GET / HTTP/1.1" in screen

    term.type("hello from tmux")
    term.wait_for(r"< message TEXT 15 bytes, inflated from \d+\s+hello from tmux")

    term.type("/ping hi")
    term.wait_for(r"< PONG .* rtt [\d.]+ ms")

    term.type("/binary 00 ff")
    term.wait_for(r"< message BINARY 2 bytes, inflated from \d+\s+00 ff")

    term.type("/bogus")
    term.wait_for(r"^unknown command /bogus \(type /help; // sends a leading slash\)$")

    history = tmp_path / "state" / "wstool" / "history"
    text = str(wait_until(lambda: history.exists() and history.read_text(), "the history file"))
    for line in ("+hello from tmux", "+/ping hi", "+/binary 00 ff", "+/bogus"):
        assert line in text.splitlines()

    term.key("C-d")
    term.wait_for(r"closed 1000 NORMAL_CLOSURE by the client, clean; [\d.]+ s; sent \d+ frames")
    assert term.status() == 0


@needs_tmux
def test_repl_ctrl_c(terminal: Callable[..., Terminal], server_port: int) -> None:
    """Ctrl-C leaves the REPL with a 1001 close, a summary, and exit status 130."""
    term = terminal(f"ws://127.0.0.1:{server_port}/", "--no-deflate")
    term.wait_for(r"^ws>")
    term.key("C-c")
    assert term.status() == 130
    term.wait_for(r"closed 1001 GOING_AWAY by the client")


@needs_tmux
def test_repl_close_we_asked_for(terminal: Callable[..., Terminal], server_port: int) -> None:
    """/close 4000 ends the REPL when the server answers: a close the user asked for,
    completed cleanly, is a success (exit 0), whatever its valid code."""
    term = terminal(f"ws://127.0.0.1:{server_port}/", "--no-deflate")
    term.wait_for(r"^ws>")
    term.type("/close 4000 see you")
    term.wait_for(r"close 4000 PRIVATE 'see you' \(started by the client, clean\)")
    assert term.status() == 0
    term.wait_for(r"closed 4000 .* by the client, clean")


@needs_tmux
def test_repl_quiet_then_normal(terminal: Callable[..., Terminal], server_port: int) -> None:
    """-q shows messages both ways and no frames; /normal brings the frames back."""
    term = terminal(f"ws://127.0.0.1:{server_port}/", "--no-deflate", "-q")
    term.wait_for(r"^ws>")
    term.type("hello")
    term.wait_for(r"^[\d:.]+ > message TEXT 5 bytes  hello$")
    term.wait_for(r"^[\d:.]+ < message TEXT 5 bytes  hello$")
    screen = term.screen()
    assert "FIN" not in screen and "Sec-WebSocket-Accept" not in screen
    term.type("/normal")
    term.wait_for(r"^frame view: normal$")
    term.type("again")
    term.wait_for(r"^[\d:.]+ > TEXT +FIN mask=[0-9a-f]{8} len=5  again$")
    term.wait_for(r"^[\d:.]+ < TEXT +FIN len=5  again$")
    term.type("/quiet")
    term.type("third")
    term.wait_for(r"^[\d:.]+ < message TEXT 5 bytes  third$")
    assert "TEXT         FIN len=5  third" not in term.screen()
    term.key("C-d")
    assert term.status() == 0


@needs_tmux
def test_repl_refused_port(terminal: Callable[..., Terminal]) -> None:
    """Connecting to a port where nothing listens: one line on the terminal, exit 5."""
    port = free_port()
    term = terminal(f"ws://127.0.0.1:{port}/")
    assert term.status() == 5
    lines = [line for line in term.screen().splitlines() if line.strip()]
    assert f"wstool connect: connection refused by 127.0.0.1:{port}" in lines
    assert not any("Traceback" in line for line in lines)


# --- pipe mode ----------------------------------------------------------------------------


def run_pipe(url: str, data: bytes, *args: str) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [sys.executable, "-m", "wstool", "connect", url, *args],
        input=data,
        capture_output=True,
        timeout=60,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
    )


def test_pipe_ten_thousand_lines(server_port: int) -> None:
    """10 000 lines piped in all come back, in order, nothing lost; exit 0."""
    lines = [f"line {i:05d} ✓" for i in range(10_000)]
    data = ("\n".join(lines) + "\n").encode("utf-8")
    started = time.monotonic()
    done = run_pipe(f"ws://127.0.0.1:{server_port}/", data)
    print(f"\n10 000 lines round trip: {time.monotonic() - started:.2f} s")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode("utf-8").splitlines() == lines
    assert done.stderr == b""


def test_pipe_input_before_handshake(server_port: int, tmp_path: Path) -> None:
    """Input that is all there (EOF included) before the handshake completes is all sent."""
    source = tmp_path / "input.txt"
    source.write_text("first\nsecond\n\nfourth (after an empty line)\nno newline at end")
    with source.open("rb") as stdin:
        done = subprocess.run(
            [sys.executable, "-m", "wstool", "connect", f"ws://127.0.0.1:{server_port}/"],
            stdin=stdin,
            capture_output=True,
            timeout=60,
            cwd=PROJECT_ROOT,
            env=e2e_env(),
        )
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode().splitlines() == [
        "first",
        "second",
        "",
        "fourth (after an empty line)",
        "no newline at end",
    ]


def test_pipe_crlf_lines(server_port: int) -> None:
    """CRLF line ends are stripped like LF: the messages carry no \\r."""
    done = run_pipe(f"ws://127.0.0.1:{server_port}/", b"a\r\nb\r\n", "--no-deflate")
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout == b"a\nb\n"
