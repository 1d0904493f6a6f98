"""``wstool serve --exec``: a program behind the server, websocketd's model, from real clients."""

from __future__ import annotations

import io
import itertools
import os
import shutil
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from twisted.internet.testing import MemoryReactorClock

from wstool.cli import Environment, ExitStatus, main
from wstool.core.events import MessageReceived
from wstool.core.frames import Opcode
from wstool.core.handshake import check_request, parse_request_head
from wstool.net.execproc import (
    ExecBehaviour,
    ExecFactory,
    ExecSpec,
    ProgramError,
    cgi_environment,
    parse_command,
)
from wstool.net.server import UpgradeRequest

from .serve_support import PROJECT_ROOT, served

websockets_sync = pytest.importorskip("websockets.sync.client")
from websockets.exceptions import ConnectionClosed, InvalidStatus  # noqa: E402

HEAD = (
    b"GET /room/a%20b?x=1&y=2 HTTP/1.1\r\nHost: example.test:9000\r\nUpgrade: websocket\r\n"
    b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
    b"Sec-WebSocket-Version: 13\r\nX-Token: a\r\nx-token: b\r\n\r\n"
)


def _upgrade(peer: str = "10.0.0.7:50123") -> UpgradeRequest:
    parsed = parse_request_head(HEAD, max_size=16384)
    assert parsed is not None
    head = parsed[0]
    request = check_request(head.method, head.target, head.headers, version=head.version)
    return UpgradeRequest(head, request, peer, None)


def _script(tmp_path: Path, name: str, text: str) -> str:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    path.chmod(0o755)
    return str(path)


# -- without a network ---------------------------------------------------------


class TestCgiEnvironment:
    """The request as websocketd's CGI variables."""

    def test_the_variables_websocketd_sets(self) -> None:
        env = cgi_environment(_upgrade(), ExecSpec(argv=("x",)), 4)
        expected = {
            "REQUEST_METHOD": "GET",
            "SCRIPT_NAME": "/",
            "PATH_INFO": "/room/a b",
            "QUERY_STRING": "x=1&y=2",
            "REQUEST_URI": "/room/a%20b?x=1&y=2",
            "REMOTE_ADDR": "10.0.0.7",
            "REMOTE_PORT": "50123",
            "SERVER_NAME": "example.test",
            "SERVER_PORT": "9000",
            "SERVER_PROTOCOL": "HTTP/1.1",
            "GATEWAY_INTERFACE": "CGI/1.1",
            "UNIQUE_ID": "4",
            "HTTP_X_TOKEN": "a, b",
            "HTTP_HOST": "example.test:9000",
        }
        assert {key: env[key] for key in expected} == expected
        assert env["SERVER_SOFTWARE"] == "wstool"
        assert "HTTPS" not in env

    def test_tls_ipv6_and_the_parent_environment(self) -> None:
        spec = ExecSpec(argv=("x",), tls=True, environ={"PATH": "/bin", "HTTP_PROXY": "leak"})
        env = cgi_environment(_upgrade("[::1]:4000"), spec, 1)
        assert (env["REMOTE_ADDR"], env["REMOTE_PORT"], env["HTTPS"]) == ("::1", "4000", "on")
        assert env["PATH"] == "/bin" and "HTTP_PROXY" not in env


class TestParseCommand:
    def test_found_on_path(self) -> None:
        assert parse_command("sh -c 'echo hi'") == (shutil.which("sh"), "-c", "echo hi")

    @pytest.mark.parametrize(
        ("command", "words"),
        [
            ("no-such-program-xyz", "not found on PATH"),
            ("/nonexistent/prog", "not found"),
            ("", "no program"),
            ("'unbalanced", "cannot split"),
        ],
    )
    def test_refused(self, command: str, words: str) -> None:
        with pytest.raises(ProgramError, match=words):
            parse_command(command)

    def test_not_executable(self, tmp_path: Path) -> None:
        path = tmp_path / "prog"
        path.write_text("#!/bin/sh\n")
        with pytest.raises(ProgramError, match="not executable"):
            parse_command(str(path))


def _serve_in_memory(*argv: str) -> tuple[int, str]:
    env = Environment(
        stdin=io.StringIO(),
        stdout=io.StringIO(),
        stderr=io.StringIO(),
        no_color=True,
        reactor=MemoryReactorClock(),  # type: ignore[no-untyped-call]
    )
    status = main(["serve", "--port", "0", *argv], env=env)
    assert isinstance(env.stderr, io.StringIO)
    return status, env.stderr.getvalue()


@pytest.mark.parametrize(
    ("argv", "line"),
    [
        (("--exec", "no-such-program-xyz"), "--exec: program 'no-such-program-xyz' not found"),
        (("--binary",), "--binary goes with --exec"),
        (("--max-procs", "2"), "--max-procs goes with --exec"),
        (("--exec", "cat", "--mode", "broadcast"), "leave out --mode"),
        # An empty value is a mistake, not the option left out (serve would just echo).
        (("--exec", ""), "--exec: no program given"),
        (("--rules", ""), "cannot read ''"),
        (("--replay", ""), "cannot read ''"),
    ],
)
def test_usage_errors_are_one_line_and_exit_2(argv: tuple[str, ...], line: str) -> None:
    """A program that cannot run, or options that do not fit, stop serve before it listens."""
    status, err = _serve_in_memory(*argv)
    assert status == ExitStatus.USAGE
    assert err.count("\n") == 1 and line in err, err


class _Process:
    def __init__(self) -> None:
        self.paused = 0
        self.written: list[bytes] = []

    def pauseProducing(self) -> None:
        self.paused += 1

    def resumeProducing(self) -> None:
        self.paused -= 1

    def write(self, data: bytes) -> None:
        self.written.append(data)


def test_a_slow_client_pauses_the_program_output() -> None:
    """The wire's pause (its transport's buffer is full) reaches the program's pipes."""
    behaviour = ExecBehaviour(ExecFactory(ExecSpec(argv=("x",)), None, None), _upgrade())  # type: ignore[arg-type]
    process = behaviour.process = _Process()
    behaviour.pauseProducing()
    assert process.paused == 1
    behaviour.resumeProducing()
    assert process.paused == 0
    behaviour.message(None, MessageReceived(Opcode.TEXT, b"line", "line", 1, 4, False))  # type: ignore[arg-type]
    assert process.written == [b"line\n"]


# -- real programs, real clients -------------------------------------------------

ECHO_PY = """\
    import os, sys
    print("env", os.environ["PATH_INFO"], os.environ["QUERY_STRING"],
          os.environ["REMOTE_ADDR"], os.environ["HTTP_X_TEST"], flush=True)
    print("to the log", file=sys.stderr, flush=True)
    for line in sys.stdin:
        line = line.rstrip("\\n")
        if line == "quit":
            sys.exit(0)
        if line == "crash":
            sys.exit(3)
        print(line[::-1], flush=True)
"""


def _python_program(tmp_path: Path) -> str:
    path = tmp_path / "echo.py"
    path.write_text(textwrap.dedent(ECHO_PY))
    return f"{sys.executable} {path}"


def _connect(url: str, path: str = "/", **kwargs: Any) -> Any:
    return websockets_sync.connect(url.rstrip("/") + path, open_timeout=10, **kwargs)


def test_a_python_program_env_stderr_and_exit_0(tmp_path: Path) -> None:
    """Lines both ways, the request in the environment, stderr logged, exit 0 closes 1000."""
    with served("--exec", _python_program(tmp_path)) as server:
        with _connect(server.url, "/chat?room=7", additional_headers={"X-Test": "yes"}) as ws:
            assert ws.recv(timeout=10) == "env /chat room=7 127.0.0.1 yes"
            ws.send("hello")
            assert ws.recv(timeout=10) == "olleh"
            ws.send("quit")
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
        records = server.wait_for(lambda r: any("ended" in x for x in r))
        assert {"event": "stderr", "line": "to the log", "conn": 1} in records
        [ended] = [x for x in records if "ended" in x]
        assert ended["ended"] == "exited with status 0"


def test_a_crashing_program_closes_1011_with_its_status(tmp_path: Path) -> None:
    with served("--exec", _python_program(tmp_path)) as server:
        with _connect(server.url, additional_headers={"X-Test": "1"}) as ws:
            ws.recv(timeout=10)
            ws.send("crash")
            with pytest.raises(ConnectionClosed) as closed:
                ws.recv(timeout=10)
        rcvd = closed.value.rcvd
        assert rcvd is not None
        assert (rcvd.code, rcvd.reason) == (1011, "program exited with status 3")


def test_a_program_that_cannot_start_closes_1011_and_says_why(tmp_path: Path) -> None:
    """The program is gone after serve checked it: each client gets 1011, the log says why."""
    program = tmp_path / "gone.sh"
    program.write_text("#!/bin/sh\ncat\n")
    program.chmod(0o755)
    with served("--exec", str(program), json_log=False) as server:
        program.unlink()
        with _connect(server.url) as ws, pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        rcvd = closed.value.rcvd
        assert rcvd is not None
        assert (rcvd.code, rcvd.reason) == (1011, "the program could not be started")
        deadline = time.monotonic() + 10
        while "not started" not in server.output() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert "#1 program not started: No such file or directory" in server.output()


def test_a_shell_script_lines_without_newline_and_binary(tmp_path: Path) -> None:
    """A shell script's last line without a newline is still a message; --binary passes bytes."""
    script = _script(
        tmp_path,
        "up.sh",
        """\
        #!/bin/sh
        read line
        echo "$line" | tr a-z A-Z
        printf 'no newline'
        """,
    )
    with served("--exec", script) as server, _connect(server.url) as ws:
        ws.send("shout")
        assert ws.recv(timeout=10) == "SHOUT"
        assert ws.recv(timeout=10) == "no newline"
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1000
    with served("--exec", "cat", "--binary") as server, _connect(server.url) as ws:
        ws.send(b"\x00\x01\xff")
        assert ws.recv(timeout=10) == b"\x00\x01\xff"


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().split(") ", 1)[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_the_program_is_stopped_when_the_client_goes_and_max_procs(tmp_path: Path) -> None:
    """A program ignoring its stdin is killed when its client closes; --max-procs 1 gives 503."""
    script = _script(tmp_path, "sleepy.sh", "#!/bin/sh\necho ready\nexec sleep 60\n")
    with served("--exec", script, "--max-procs", "1") as server:
        with _connect(server.url) as ws:
            assert ws.recv(timeout=10) == "ready"
            with pytest.raises(InvalidStatus) as refused:
                _connect(server.url).close()
            assert refused.value.response.status_code == 503
            assert b"--max-procs 1" in refused.value.response.body
        records = server.wait_for(lambda r: any("ended" in x for x in r))
        [started] = [x for x in records if "started" in x]
        assert not _alive(started["pid"])
        with _connect(server.url) as ws:  # the slot is free again
            assert ws.recv(timeout=10) == "ready"


def test_a_term_ignoring_program_gets_sigkill(tmp_path: Path) -> None:
    script = _script(tmp_path, "stubborn.sh", "#!/bin/sh\ntrap '' TERM\necho ready\nsleep 60\n")
    with served("--exec", script, "--kill-grace", "0.3") as server:
        with _connect(server.url) as ws:
            assert ws.recv(timeout=10) == "ready"
        records = server.wait_for(lambda r: any("ended" in x for x in r))
        [ended] = [x for x in records if "ended" in x]
        assert ended["ended"] == "killed by signal 9"


def _rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def test_a_program_that_floods_a_client_that_does_not_read(tmp_path: Path) -> None:
    """A program writing 64 KiB lines without end, a client reading nothing for a while:
    serve's memory stays flat (the program's output waits for the client)."""
    program = tmp_path / "flood.py"
    program.write_text(
        "import sys\nline = 'x' * 65535 + '\\n'\nwhile True:\n    sys.stdout.write(line)\n"
    )
    flood = f"{sys.executable} {program}"
    with (
        served("--exec", flood, "--no-deflate") as server,
        _connect(server.url, max_queue=4, close_timeout=1) as ws,
    ):
        ws.recv(timeout=10)
        before = _rss_kib(server.process.pid)
        time.sleep(1.5)
        grown = _rss_kib(server.process.pid) - before
        assert grown < 50_000, f"serve grew by {grown} KiB while the client did not read"
        assert ws.recv(timeout=10) == "x" * 65535


NODE_DIR = PROJECT_ROOT / "tests" / "interop" / "node"
NODE_CLIENT = """
const WebSocket = require("ws");
const ws = new WebSocket(process.argv[1]);
const got = [];
ws.on("open", () => ws.send("from node"));
ws.on("message", (data) => { got.push(data.toString()); if (got.length === 1) ws.send("quit"); });
ws.on("close", (code, reason) => {
  console.log(JSON.stringify({ got, code, reason: reason.toString() }));
  process.exit(0);
});
setTimeout(() => process.exit(1), 10000);
"""


def test_nodes_ws_client(tmp_path: Path) -> None:
    """Node's ws talks to a program behind serve: a line each way, then 1000."""
    node = shutil.which("node")
    if node is None or not (NODE_DIR / "node_modules" / "ws").is_dir():
        if os.environ.get("CI"):
            pytest.fail("node and tests/interop/node/node_modules are needed in CI")
        pytest.skip("node or its ws module is not installed")
    script = _script(
        tmp_path,
        "rev.sh",
        '#!/bin/sh\nwhile read l; do [ "$l" = quit ] && exit 0; echo "<$l>"; done\n',
    )
    with served("--exec", script) as server:
        done = subprocess.run(
            [node, "-e", NODE_CLIENT, server.url],
            cwd=NODE_DIR,
            capture_output=True,
            text=True,
            timeout=20,
            check=False,
        )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == '{"got":["<from node>"],"code":1000,"reason":""}'


def test_long_lines_go_in_pieces_and_invalid_utf8_is_replaced(tmp_path: Path) -> None:
    """A line over --max-message-size goes in pieces (said once in the log); bad UTF-8: U+FFFD."""
    script = _script(
        tmp_path,
        "odd.sh",
        """\
        #!/bin/sh
        printf '0123456789abcdefghijKLMNO\\n'
        printf 'caf\\351\\n'
        """,
    )
    with served("--exec", script, "--max-message-size", "10") as server, _connect(server.url) as ws:
        got = [ws.recv(timeout=10) for _ in range(4)]
        assert got == ["0123456789", "abcdefghij", "KLMNO", "caf\ufffd"]
        records = server.wait_for(lambda r: any(x.get("event") == "stderr" for x in r))
        [note] = [x for x in records if x.get("event") == "stderr"]
        assert note["line"] == "[wstool] a line longer than 10 bytes was sent in pieces"


def test_programs_that_outlive_serve_get_sigkill(tmp_path: Path) -> None:
    """Ctrl-C (SIGTERM to serve): each client gets 1001; a program ignoring SIGTERM is killed."""
    script = _script(
        tmp_path, "stubborn.sh", "#!/bin/sh\ntrap '' TERM\necho ready\nexec sleep 60\n"
    )
    with served("--exec", script, "--kill-grace", "30") as server:
        ws = _connect(server.url, close_timeout=1).__enter__()
        assert ws.recv(timeout=10) == "ready"
        records = server.wait_for(lambda r: any("started" in x for x in r))
        [started] = [x for x in records if "started" in x]
        assert server.stop() == 0
        with pytest.raises(ConnectionClosed) as closed:
            ws.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 1001
    deadline = time.monotonic() + 5
    while _alive(started["pid"]) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not _alive(started["pid"])


def test_a_program_that_does_not_read_slows_the_client_down() -> None:
    """While the program's stdin pipe is full, serve stops reading the client: its sends wait."""
    program = "sh -c 'sleep 2; cat > /dev/null'"
    with (
        served("--exec", program, "--no-deflate") as server,
        _connect(server.url, close_timeout=1) as ws,
    ):
        sent = 0

        def send_all() -> None:
            nonlocal sent
            for _ in range(300):  # 19 MiB
                ws.send("x" * 65535)
                sent += 1

        sender = threading.Thread(target=send_all, daemon=True)
        sender.start()
        time.sleep(1)
        assert sent < 200, f"{sent} messages went in while the program read nothing"
        sender.join(20)
        assert sent == 300  # then the program reads, and everything goes


class _Conn:
    can_send_data = True

    def __init__(self) -> None:
        self.sent: list[tuple[int, bytes]] = []

    def send_message(self, opcode: int, data: bytes) -> None:
        self.sent.append((opcode, data))


class _Wire:
    conn_id = 1

    def __init__(self) -> None:
        self.conn = _Conn()

    def flush(self) -> None:
        pass


@settings(max_examples=200, deadline=None)
@given(
    lines=st.lists(
        st.text(
            alphabet=st.characters(exclude_characters="\n\r", exclude_categories=("Cs",)),
            max_size=40,
        )
    ),
    cuts=st.lists(st.integers(min_value=0, max_value=400), max_size=8),
)
def test_stdout_cut_anywhere_gives_one_message_per_line(lines: list[str], cuts: list[int]) -> None:
    """However the pipe splits the program's output, each line is one text message."""
    behaviour = ExecBehaviour(ExecFactory(ExecSpec(argv=("x",)), None, None), _upgrade())  # type: ignore[arg-type]
    wire = _Wire()
    behaviour.wire = wire  # type: ignore[assignment]
    output = "".join(line + "\n" for line in lines).encode()
    edges = sorted({0, len(output), *(cut for cut in cuts if cut < len(output))})
    for start, end in itertools.pairwise(edges):
        behaviour.stdout(output[start:end])
    assert wire.conn.sent == [(Opcode.TEXT, line.encode()) for line in lines]


def test_only_the_variables_passed_reach_the_program(monkeypatch: pytest.MonkeyPatch) -> None:
    """serve's environment stays its own, as with websocketd, unless --passenv names a variable."""
    monkeypatch.setenv("WSTOOL_SECRET", "s3")
    monkeypatch.setenv("WSTOOL_SHARED", "ok")
    program = "sh -c 'echo \"[$WSTOOL_SECRET] [$WSTOOL_SHARED] ${PATH:+path}\"'"
    with served("--exec", program) as server, _connect(server.url) as ws:
        assert ws.recv(timeout=10) == "[] [] path"
    passing = ("--exec", program, "--passenv", "WSTOOL_SHARED,OTHER")
    with served(*passing) as server, _connect(server.url) as ws:
        assert ws.recv(timeout=10) == "[] [ok] path"
