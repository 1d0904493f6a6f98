"""``wstool connect`` as a pipe and ``wstool serve`` as a log, run as a user runs them.

Each test starts the installed command as a subprocess (``python -m wstool``)
against a ``wstool serve`` on 127.0.0.1, port 0; shells are used where the
case is a shell pipeline (``| head -1``, a stdin that stays open). Every wait
is bounded and every process is killed at the end.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from e2e_support import LISTENING, WAIT, e2e_env

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WSTOOL = f"{sys.executable} -m wstool"
Serve = Callable[..., tuple[subprocess.Popen[str], int]]


@pytest.fixture(scope="module")
def url(server_port: int) -> str:
    """A quiet ``wstool serve`` echo server's URL."""
    return f"ws://127.0.0.1:{server_port}/"


def shell(command: str, timeout: float = WAIT) -> subprocess.CompletedProcess[str]:
    """Run ``command`` in bash with pipefail; its output and status."""
    return subprocess.run(
        ["bash", "-o", "pipefail", "-c", command],
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
    )


def test_count_with_stdin_still_open(url: str, tmp_path: Path) -> None:
    """--count 1 with stdin open: the reply, a clean exit 0 at once, no fatal error."""
    started = time.monotonic()
    # The reader of stdin is still blocked when connect exits: the status
    # and the time are written by connect's own shell, before `sleep` ends.
    status = tmp_path / "status"
    run = shell(
        f"(echo hi; sleep 8) | {{ {WSTOOL} connect {url} --count 1; echo $? $SECONDS > {status}; }}"
    )
    code, seconds = status.read_text().split()
    assert run.stdout == "hi\n"
    assert code == "0"
    assert int(seconds) < 6  # connect did not wait for stdin to end
    assert "Fatal" not in run.stderr and "Traceback" not in run.stderr, run.stderr
    assert time.monotonic() - started < WAIT


def test_count_stops_at_n(url: str) -> None:
    """-x a -x b -x c --count 1 prints one reply, not three."""
    run = shell(f"{WSTOOL} connect {url} -x a -x b -x c --count 1")
    assert (run.returncode, run.stdout, run.stderr) == (0, "a\n", "")


def test_count_zero_is_a_usage_error(url: str) -> None:
    """--count 0 is refused in one line, exit 2."""
    run = shell(f"{WSTOOL} connect {url} --count 0")
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "--count" in run.stderr


def test_server_going_away_while_stdin_is_open(serve: Serve) -> None:
    """The server closes with 1001 while stdin is still open: exit 0, no fatal error."""
    process, port = serve("-q")
    client = subprocess.Popen(
        [sys.executable, "-m", "wstool", "connect", f"ws://127.0.0.1:{port}/"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=e2e_env(),
    )
    try:
        assert client.stdin is not None and client.stdout is not None
        client.stdin.write("hello\n")
        client.stdin.flush()
        assert client.stdout.readline() == "hello\n"
        process.send_signal(2)  # serve: Close 1001 to everyone, then exit
        _, err = client.communicate(timeout=WAIT)
    finally:
        client.kill()
    assert client.returncode == 0, err
    assert "Fatal" not in err and "Traceback" not in err


def test_connect_json_into_head(url: str) -> None:
    """connect --json | head -1: one record, nothing on stderr, exit 0."""
    run = shell(f"{WSTOOL} connect {url} -x a -x b -x c --json | head -1")
    assert run.returncode == 0
    assert json.loads(run.stdout)["event"] == "open"
    assert run.stderr == ""


def test_serve_json_into_head() -> None:
    """serve --json | head -1: serve ends quietly once its reader is gone."""
    process = subprocess.Popen(
        f"{WSTOOL} serve --port 0 --json --ping-interval 0 | head -1",
        shell=True,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=e2e_env(),
        executable="/bin/bash",
    )
    try:
        assert process.stderr is not None
        port = int(LISTENING.search(process.stderr.readline())[1])  # type: ignore[index]
        for _ in range(3):
            subprocess.run(
                [sys.executable, "-m", "wstool", "connect", f"ws://127.0.0.1:{port}/", "-x", "x"],
                capture_output=True,
                timeout=WAIT,
                env=e2e_env(),
            )
        out, err = process.communicate(timeout=WAIT)
    finally:
        process.kill()
    assert json.loads(out)["event"] == "open"
    assert err == ""


def test_unknown_option_names_the_command_help(url: str) -> None:
    """An unknown connect option points at 'wstool connect --help'."""
    run = shell(f"{WSTOOL} connect {url} --no-such-option")
    assert run.returncode == 2
    assert run.stderr == (
        "wstool connect: error: unrecognized arguments: --no-such-option "
        "(see 'wstool connect --help')\n"
    )


def test_http_url_is_said_to_be_taken_as_ws(url: str) -> None:
    """http:// works as ws://, with a note on stderr."""
    run = shell(f"{WSTOOL} connect {url.replace('ws://', 'http://')} -x hi")
    assert run.returncode == 0
    assert run.stdout == "hi\n"
    assert run.stderr == "wstool connect: note: http:// taken as ws://\n"


def test_pipe_server_closing_idle_with_1001_is_0(serve: Serve) -> None:
    """serve's idle timeout closes with 1001 while stdin is open: a clean 1001 is exit 0."""
    _, port = serve("-q", "--idle-timeout", "0.3")
    run = shell(f"sleep 3 | {WSTOOL} connect ws://127.0.0.1:{port}/")
    assert run.returncode == 0, run.stderr
    assert "Fatal" not in run.stderr


def test_main_help_lists_each_command_once() -> None:
    """wstool --help names each command once and gives connect's exit statuses."""
    run = shell(f"{WSTOOL} --help")
    assert run.returncode == 0
    for command in ("connect", "serve", "decode"):
        assert len(re.findall(rf"^\s+{command}\s", run.stdout, re.MULTILINE)) == 1, command
    for status in ("3  connect", "4  connect", "5  connect", "6  connect"):
        assert status in run.stdout
