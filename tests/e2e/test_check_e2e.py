"""``wstool check`` as a user runs it: against wstool serve and a broken server."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from e2e_support import PROJECT_ROOT, e2e_env, start_serve

from wstool.check.badserver import BadServer


def check(*args: str, timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wstool", "check", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        stdin=subprocess.DEVNULL,
        cwd=PROJECT_ROOT,
        env=e2e_env(COLUMNS="100"),
    )


@pytest.fixture(scope="module")
def serve_url() -> Iterator[str]:
    process, port = start_serve("-q")
    yield f"ws://127.0.0.1:{port}/"
    process.terminate()
    process.wait(10)


def test_whole_suite_against_serve_passes_quickly(serve_url: str) -> None:
    """Every case but compression against wstool serve: no FAILED, exit 0, well under a
    minute. (Autobahn's compression cases, 12.1-13.7, push 1000 messages each through
    zlib; they take minutes and run below on a sample.)"""
    done = check("server", serve_url, "--jobs", "8")
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    lines = done.stdout.splitlines()
    assert re.fullmatch(r"\d+ passed, 0 failed", lines[-1])
    assert int(lines[-1].split()[0]) > 500
    match = re.search(r" in ([\d.]+)s$", lines[-2])
    assert match and float(match[1]) < 60


def test_compression_cases_against_serve(serve_url: str) -> None:
    """wstool's own permessage-deflate cases and the first of each of Autobahn's offers."""
    first_of_each = ",".join(f"13.{n}.1" for n in range(1, 8))
    cases = f"12.1.1,12.1.2,12.5.1,{first_of_each},12.6,12.7,12.8,12.9,12.10,12.11,13.8,13.9"
    done = check("server", serve_url, "--cases", cases, "--jobs", "8", timeout=300)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    assert re.fullmatch(r"\d+ passed, 0 failed", done.stdout.splitlines()[-1])
    assert "12 permessage-deflate" in done.stdout and "13 permessage-deflate" in done.stdout


def test_a_broken_server_fails_with_its_wire_log(tmp_path: Path) -> None:
    """A server that never answers pings: those cases FAILED with what was sent, the RFC
    text, what happened and a decode-style wire log; exit 1; reports written."""
    with BadServer(("no-pong",)) as server:
        done = check("server", server.url, "--cases", "2.1,1.1.1", "--report", str(tmp_path))
    assert done.returncode == 1
    out = done.stdout
    assert "FAILED        2.1  ping without payload" in out
    assert "RFC 6455 §5.5.2" in out and "wire log:" in out
    assert re.search(r"> @0x[0-9a-f]+ PING +FIN rsv=000 mask=", out)
    assert re.search(r"< @0x[0-9a-f]+ CLOSE +FIN rsv=000 unmasked", out)
    assert out.splitlines()[-1].endswith(" failed") and " 0 failed" not in out.splitlines()[-1]
    index = json.loads((tmp_path / "index.json").read_text())
    agent = next(iter(index))
    assert index[agent]["2.1"]["behavior"] == "FAILED"
    assert (tmp_path / "index.html").is_file()


def test_json_lines_and_spec(tmp_path: Path) -> None:
    """--json prints one object per case and totals; --spec takes Autobahn's file."""
    with BadServer(()) as server:
        spec = tmp_path / "fuzzingclient.json"
        spec.write_text(
            json.dumps(
                {
                    "outdir": str(tmp_path / "out"),
                    "servers": [{"agent": "Plain", "url": server.url}],
                    "cases": ["7.1.*"],
                    "exclude-agent-cases": {"Plain": ["7.1.2"]},
                }
            )
        )
        done = check("server", "--spec", str(spec), "--json")
    assert done.returncode == 0, done.stderr
    records = [json.loads(line) for line in done.stdout.splitlines()]
    ids = [r["id"] for r in records[:-1]]
    assert ids and "7.1.2" not in ids
    # 7.1.6: whether messages come back before the Close is the server's choice.
    verdicts = {r["id"]: r["behavior"] for r in records[:-1]}
    assert verdicts.pop("7.1.6") == "INFORMATIONAL"
    assert set(verdicts.values()) == {"OK"}
    assert records[-1]["failed"] == 0 and records[-1]["agent"] == "Plain"
    assert "Plain" in json.loads((tmp_path / "out" / "index.json").read_text())


def test_list_and_usage_errors(tmp_path: Path) -> None:
    """list prints id, section, description; bad input is one line and exit 2."""
    listed = check("list", "server", "--cases", "6.1")
    assert listed.returncode == 0
    assert re.match(r"6\.1\.1 +6 UTF-8 handling +\S", listed.stdout)
    for args in (
        ("server",),
        ("server", "ftp://example.com/"),
        ("server", "ws://127.0.0.1:9/", "--profile", "nonsense"),
        ("server", "--spec", str(tmp_path / "missing.json")),
        ("server", "ws://127.0.0.1:9/", "--cases", "99.*"),
    ):
        done = check(*args)
        assert done.returncode == 2, (args, done.stderr)
        assert len(done.stderr.strip().splitlines()) == 1 and "Traceback" not in done.stderr
    gone = check("server", "ws://127.0.0.1:9/")
    assert gone.returncode == 5 and gone.stderr.startswith("wstool check: cannot connect to ")
