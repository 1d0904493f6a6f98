"""``wstool check client`` end to end: real clients, real harnesses, the installed command.

wstool runs as a subprocess (``python -m wstool check client --port 0``); the
clients are Autobahn-style harnesses in their own processes (the websockets
library's asyncio client, wstool's own client stack as
``scripts/autobahn_testsuite.py --client`` drives it, Node's ws), each doing
what every Autobahn client harness does: ``getCaseCount``, then ``runCase``
for each case echoing every message, ``getCaseStatus``, then
``updateReports``. Then ``--cmd`` with small Python echo programs, and bad
command lines. Everything on 127.0.0.1, bounded in time.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
NODE_MODULES = REPO / "tests" / "interop" / "node" / "node_modules"
# A spread over the sections, deflate included (12.1.1, 13.x), each quick.
CASES = "1.1.1,1.2.8,2.3,2.10,3.2,4.2.1,5.6,5.15,6.2.1,6.3.1,7.1.1,7.5.1,12.1.1,13.3.1,13.7.1"
COUNT = 15

_WEBSOCKETS_HARNESS = """
import asyncio, json, sys
import websockets
base, agent = sys.argv[1], sys.argv[2]
async def fetch(path):
    async with websockets.connect(base + path) as ws:
        return json.loads(await ws.recv())
async def main():
    count = await fetch("/getCaseCount")
    statuses = {}
    for n in range(1, count + 1):
        info = await fetch(f"/getCaseInfo?case={n}")
        try:
            async with websockets.connect(f"{base}/runCase?case={n}&agent={agent}",
                                          max_size=None) as ws:
                async for message in ws:
                    await ws.send(message)
        except websockets.ConnectionClosed:
            pass
        status = await fetch(f"/getCaseStatus?case={n}&agent={agent}")
        statuses[info["id"]] = status["behavior"]
    async with websockets.connect(
        f"{base}/updateReports?agent={agent}&shutdownOnComplete=true"
    ) as ws:
        await ws.wait_closed()
    print(json.dumps(statuses))
asyncio.run(main())
"""

_WSTOOL_HARNESS = """
import sys
sys.path.insert(0, sys.argv[3])
from autobahn_testsuite import _drive_client
count, problems = _drive_client(sys.argv[1], sys.argv[2], 60.0)
print(count, problems, file=sys.stderr)
"""

_NODE_HARNESS = r"""
const WebSocket = require("ws");
const [base, agent] = process.argv.slice(1);
function open(path, echo) {
  return new Promise((resolve) => {
    const ws = new WebSocket(base + path, { maxPayload: 0 });
    let first = null;
    ws.on("message", (data, isBinary) => {
      if (echo) ws.send(data, { binary: isBinary });
      else if (first === null) first = data.toString();
    });
    ws.on("close", () => resolve(first));
    ws.on("error", () => {});
  });
}
(async () => {
  const count = JSON.parse(await open("/getCaseCount", false));
  for (let n = 1; n <= count; n++) await open(`/runCase?case=${n}&agent=${agent}`, true);
  await open(`/updateReports?agent=${agent}&shutdownOnComplete=true`, false);
})();
"""

_ECHO_PROGRAM = """
import sys
from websockets.sync.client import connect
from websockets.exceptions import ConnectionClosed
with connect(sys.argv[1], max_size=None) as ws:
    try:
        for message in ws:
            ws.send(message)
    except ConnectionClosed:
        pass
"""


def _wstool(*args: str) -> list[str]:
    return [sys.executable, "-m", "wstool", "check", "client", *args]


@contextmanager
def listening(*args: str) -> Iterator[tuple[subprocess.Popen[str], str]]:
    """``wstool check client --port 0 ARGS``, and the URL it prints first."""
    process = subprocess.Popen(
        _wstool("--port", "0", "--cases", CASES, "--color", "never", *args),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO,
    )
    try:
        assert process.stdout is not None
        url = process.stdout.readline().strip()
        assert url.startswith("ws://127.0.0.1:"), url
        yield process, url
    finally:
        if process.poll() is None:
            process.kill()
        process.wait(10)


def _harness(argv: list[str], env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=180, cwd=REPO, env=env, check=False
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def _finished(process: subprocess.Popen[str]) -> tuple[int, str]:
    out, _ = process.communicate(timeout=60)
    return process.returncode, out


def _index(report: Path, agent: str) -> dict[str, dict[str, object]]:
    index = json.loads((report / "index.json").read_text())
    entries: dict[str, dict[str, object]] = index[agent]
    return entries


def test_websockets_harness_runs_unchanged(tmp_path: Path) -> None:
    """getCaseCount, getCaseInfo, runCase, getCaseStatus, updateReports as Autobahn's."""
    with listening("--report", str(tmp_path)) as (process, url):
        statuses = json.loads(_harness([sys.executable, "-c", _WEBSOCKETS_HARNESS, url, "ws"]))
        status, out = _finished(process)
    assert len(statuses) == COUNT
    entries = _index(tmp_path, "ws")
    assert {case: entry["behavior"] for case, entry in entries.items()} == statuses
    assert set(statuses.values()) <= {"OK", "NON-STRICT", "INFORMATIONAL"}
    assert status == 0
    assert f"{COUNT} passed, 0 failed" in out
    record = json.loads((tmp_path / str(entries["1.1.1"]["reportfile"])).read_text())
    assert record["isServer"] is True and record["behavior"] == "OK"
    assert (tmp_path / "index.html").exists()


def test_wstool_client_stack_as_the_harness(tmp_path: Path) -> None:
    """wstool's client stack (net.client) echoing, as scripts/autobahn_testsuite.py drives it."""
    with listening("--report", str(tmp_path)) as (process, url):
        _harness([sys.executable, "-c", _WSTOOL_HARNESS, url, "wstool", str(REPO / "scripts")])
        process.terminate()  # the harness does not ask for shutdownOnComplete
        status, out = _finished(process)
    assert status == 0  # stopping is how a fuzzing server ends: the status says no case FAILED
    assert f"{COUNT} passed, 0 failed" in out
    entries = _index(tmp_path, "wstool")
    assert len(entries) == COUNT
    not_ok = {case: e["behavior"] for case, e in entries.items() if e["behavior"] != "OK"}
    assert not_ok == {}


@pytest.mark.skipif(
    shutil.which("node") is None or not NODE_MODULES.exists(), reason="needs node and npm ci"
)
def test_node_ws_harness(tmp_path: Path) -> None:
    """Node's ws client, echoing, through the same protocol."""
    env = {**os.environ, "NODE_PATH": str(NODE_MODULES)}
    with listening("--report", str(tmp_path)) as (process, url):
        _harness(["node", "-e", _NODE_HARNESS, url, "node"], env=env)
        status, out = _finished(process)
    entries = _index(tmp_path, "node")
    assert len(entries) == COUNT
    assert {e["behavior"] for e in entries.values()} <= {"OK", "NON-STRICT", "INFORMATIONAL"}
    assert status == 0, out


def test_cmd_runs_an_echo_program_per_case(tmp_path: Path) -> None:
    """--cmd: one process per case, the table, N passed, M failed, exit 0."""
    program = tmp_path / "echo.py"
    program.write_text(_ECHO_PROGRAM)
    done = subprocess.run(
        _wstool(
            "--port", "0", "--cases", CASES, "--color", "never", "--agent", "echo",
            "--cmd", f"{sys.executable} {program} {{url}}",
        ),
        capture_output=True, text=True, timeout=180, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout[-3000:]
    lines = done.stdout.splitlines()
    assert lines[0].startswith("ws://127.0.0.1:")
    assert lines[-1] == f"{COUNT} passed, 0 failed"
    assert "12 permessage-deflate" in done.stdout


def test_cmd_with_a_misbehaving_client_fails_and_says_why() -> None:
    """A client without a UTF-8 check fails the invalid-UTF-8 cases only; exit status 1."""
    done = subprocess.run(
        _wstool(
            "--port", "0", "--cases", "6.3,7.1.1", "--json",
            "--cmd", f"{sys.executable} -m wstool.check.badclient --bug no-utf8 {{url}}",
        ),
        capture_output=True, text=True, timeout=180, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    assert records[0]["url"].startswith("ws://")
    verdicts = {r["id"]: r["behavior"] for r in records if "behavior" in r}
    assert verdicts == {"6.3.1": "FAILED", "6.3.2": "FAILED", "7.1.1": "OK"}
    assert records[-1]["failed"] == 2


def test_cmd_program_that_never_connects(tmp_path: Path) -> None:
    """A program that exits at once: one line with its status and last words, exit 1."""
    program = tmp_path / "broken.py"
    program.write_text("import sys\nsys.exit('ModuleNotFoundError: no websockets')\n")
    done = subprocess.run(
        _wstool("--port", "0", "--cmd", f"{sys.executable} {program} {{url}}"),
        capture_output=True, text=True, timeout=60, cwd=REPO, check=False,
    )  # fmt: skip
    assert done.returncode == 1
    last = done.stderr.splitlines()[-1]
    assert last.startswith("wstool check: --cmd: case 1.1.1: the client exited with status 1")
    assert last.endswith("ModuleNotFoundError: no websockets")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--cmd", "nosuchprogram-xyz {url}"], "no such program"),
        (["--cmd", "echo hello"], "put {url}"),
        (["ws://127.0.0.1:9001/"], "takes no URL"),
        (["--cases", "99.99"], "no client case matches"),
        (["--port", "70000"], "not a port number"),
        (["--spec", "/nonexistent/fuzzingserver.json"], "cannot read"),
    ],
)
def test_bad_command_lines_are_one_line_and_exit_2(args: list[str], message: str) -> None:
    done = subprocess.run(
        _wstool(*args), capture_output=True, text=True, timeout=30, cwd=REPO, check=False
    )
    assert done.returncode == 2
    assert len(done.stderr.splitlines()) == 1 and message in done.stderr


def test_a_busy_port_is_one_line() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        port = str(sock.getsockname()[1])
        done = subprocess.run(
            _wstool("--port", port), capture_output=True, text=True, timeout=30, check=False
        )
    assert done.returncode == 1
    assert done.stderr.startswith("wstool check: cannot listen on 127.0.0.1:")
    assert len(done.stderr.splitlines()) == 1


def test_fuzzingserver_spec_is_read(tmp_path: Path) -> None:
    """Autobahn's fuzzingserver.json: url, outdir, cases, exclude-cases, exclude-agent-cases."""
    spec = {
        "url": "ws://127.0.0.1:9001",
        "outdir": str(tmp_path / "reports"),
        "cases": ["1.1.*", "2.1"],
        "exclude-cases": ["1.1.8"],
        "exclude-agent-cases": {"ws": ["1.1.2"]},
    }
    (tmp_path / "fuzzingserver.json").write_text(json.dumps(spec))
    argv = _wstool("--spec", str(tmp_path / "fuzzingserver.json"), "--port", "0")
    process = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=REPO)
    assert process.stdout is not None
    url = process.stdout.readline().strip()
    statuses = json.loads(_harness([sys.executable, "-c", _WEBSOCKETS_HARNESS, url, "ws"]))
    status, _ = _finished(process)
    assert status == 0
    assert len(statuses) == 8 and statuses["1.1.2"] == "SKIPPED"
    entries = _index(tmp_path / "reports", "ws")
    assert sorted(entries) == [f"1.1.{n}" for n in (1, 3, 4, 5, 6, 7)] + ["2.1"]


_LEAVING_HARNESS = """
import asyncio, sys
import websockets
base = sys.argv[1]
async def main():
    async with websockets.connect(base + "/runCase?case=1&agent=quick") as ws:
        async for message in ws:
            await ws.send(message)
    async with websockets.connect(base + "/updateReports?agent=quick"):
        pass  # leaves at once, as websockets' compliance client does
asyncio.run(main())
"""


def test_reports_asked_for_are_written_even_if_stopped_at_once(tmp_path: Path) -> None:
    """A harness that leaves right after the upgrade, then SIGTERM: the reports are there."""
    with listening("--report", str(tmp_path)) as (process, url):
        _harness([sys.executable, "-c", _LEAVING_HARNESS, url])
        process.terminate()
        status, out = _finished(process)
    assert status == 0
    assert list(_index(tmp_path, "quick")) == ["1.1.1"]
    assert "1 passed, 0 failed" in out
