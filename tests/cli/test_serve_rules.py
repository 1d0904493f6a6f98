"""``wstool serve --rules FILE`` driven by ``wstool connect`` in pipe mode, as a user would.

The servers are subprocesses on port 0 (``--json`` logs); the client is
``wstool connect URL --count N`` with lines on stdin, its stdout the
messages received. Invalid files are one line on stderr and exit 2 before
anything listens.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import pytest

from .serve_support import PROJECT_ROOT, Served, _env, served

EXAMPLES = PROJECT_ROOT / "examples"


@pytest.fixture(scope="module")
def servers() -> Iterator[Any]:
    """Servers by their options, started once for the module."""
    running: dict[tuple[str, ...], Served] = {}
    with ExitStack() as stack:

        def server(*args: str) -> Served:
            if args not in running:
                running[args] = stack.enter_context(served(*args))
            return running[args]

        yield server


def pipe(url: str, stdin: bytes, *options: str) -> subprocess.CompletedProcess[str]:
    """``wstool connect URL OPTIONS`` with ``stdin`` piped in."""
    return subprocess.run(
        [sys.executable, "-m", "wstool", "connect", url, *options],
        input=stdin.decode("latin-1"),
        capture_output=True,
        text=True,
        encoding="latin-1",
        cwd=PROJECT_ROOT,
        env=_env(),
        timeout=30,
        check=False,
    )


@pytest.mark.parametrize("example", ["mock-rules.yaml", "mock-rules.json"])
def test_the_example_answers(servers: Any, example: str) -> None:
    """The greeting, a JSON rule (two replies, the id kept), regex groups, a binary rule."""
    server = servers("--rules", str(EXAMPLES / example))
    lines = b'{"op":"sub","id":"s-1"}\nping-42\nlogin ada\nhello\n\x00\x01\xff\n'
    done = pipe(server.url, lines, "--count", "7")
    assert done.returncode == 0, (done.stderr, server.output())
    assert done.stdout.splitlines() == [
        '{"type":"hello","server":"mock"}',
        '{"op":"subscribed","id":"s-1","ok":true}',
        '{"op":"update","price":101.5}',
        "pong-42",
        "welcome ada",
        "hello",  # no rule: echoed
        "0002",  # a binary reply, shown as hex
    ]
    records = server.wait_for(lambda rs: any(r.get("event") == "rule" for r in rs))
    texts = [r["text"] for r in records if r.get("event") == "rule"]
    assert "rules[0] matched, 2 replies" in texts


def test_delay_and_close(servers: Any) -> None:
    """A delayed rule answers after its delay; a close rule replies, then closes 4000."""
    server = servers("--rules", str(EXAMPLES / "mock-rules.yaml"))
    done = pipe(server.url, b'{"op":"order","side":"buy","id":9}\n', "--count", "2")
    assert done.stdout.splitlines()[1] == '{"op":"filled","id":9}'
    closing = pipe(server.url, b"quit\n", "--wait", "5")
    assert closing.stdout.splitlines() == ['{"type":"hello","server":"mock"}', "bye"]
    assert "4000" in closing.stderr and "client asked" in closing.stderr


def test_echo_unmatched_false_and_faults_around_rules(servers: Any, tmp_path: Path) -> None:
    """Unmatched messages get nothing (and a log line); --fragment applies to rule replies."""
    rules = tmp_path / "quiet.json"
    rules.write_text(
        '{"rules": [{"match": {"text": "^hi$"}, "reply": ["hello"]}], "echo_unmatched": false}'
    )
    server = servers("--rules", str(rules), "--fragment", "2")
    done = pipe(server.url, b"nobody\nhi\n", "--count", "1", "-v")
    assert done.stdout.splitlines() == ["hello"]
    server.wait_for(
        lambda rs: any("not answered (echo_unmatched: false)" in r.get("text", "") for r in rs)
    )
    server.wait_for(lambda rs: any("in 2 frames (--fragment)" in r.get("text", "") for r in rs))


def serve_fails(*args: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "wstool", "serve", "--port", "0", *args],
        capture_output=True,
        text=True,
        cwd=PROJECT_ROOT,
        env=_env(),
        timeout=30,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 2, done
    assert done.stdout == "" and done.stderr.count("\n") == 1, done
    return done.stderr


@pytest.mark.parametrize(
    ("name", "text", "expected"),
    [
        (
            "bad.yaml",
            "rules:\n  - match: {text: '^ping-(\\d+'}\n    reply: [pong]\n",
            "bad.yaml: line 2: rules[0].match.text: bad regex",
        ),
        (
            "escape.yaml",
            'rules:\n  - match: {text: "^ping-(\\d+)$"}\n',
            "line 2 column 28: found unknown escape character 'd'",  # + quote hint
        ),
        (
            "bad.json",
            '{"rules": [\n  {"match": {"json": {"op": "x"}}, "reply": ["{1}"]}\n]}',
            "bad.json: rules[0].reply[0]: {1} needs a text: rule",
        ),
        (
            "syntax.json",
            '{"rules": [\n  {"match": }\n]}',
            "syntax.json: line 2 column 13: Expecting value",
        ),
        (
            "code.yaml",
            "rules:\n  - match: {hex: '00'}\n    close: {code: 1005}\n",
            "line 3: rules[0].close.code: 1005 may not be sent",
        ),
    ],
)
def test_an_invalid_file_is_one_line(tmp_path: Path, name: str, text: str, expected: str) -> None:
    """The line (YAML, JSON syntax) and the key path, exit 2, nothing listens."""
    path = tmp_path / name
    path.write_text(text)
    assert expected in serve_fails("--rules", str(path))


def test_rules_exec_and_replay_exclude_each_other() -> None:
    """--rules with --exec or --replay: one usage line."""
    rules = str(EXAMPLES / "mock-rules.json")
    assert "give one, not --rules and --exec" in serve_fails("--rules", rules, "--exec", "cat")
    assert "give one, not --rules and --replay" in serve_fails("--rules", rules, "--replay", "x")
    assert "cannot read 'missing.yaml'" in serve_fails("--rules", "missing.yaml")
