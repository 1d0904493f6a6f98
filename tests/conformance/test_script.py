"""``scripts/conformance.py``: the same table against a URL, as a user runs it."""

from __future__ import annotations

import re
import subprocess
import sys

from conformance.conftest import PROJECT_ROOT, Servers
from wstool.check.cases import CASES

SCRIPT = PROJECT_ROOT / "scripts" / "conformance.py"


def run_script(*args: str) -> subprocess.CompletedProcess[str]:
    """Run the script with a time limit; capture its output."""
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=120,
        stdin=subprocess.DEVNULL,
        cwd=PROJECT_ROOT,
    )


def test_passing_run_prints_table_and_summary(servers: Servers) -> None:
    """A run against wstool serve prints a header, one PASS row per case, a summary, exit 0."""
    url = servers.get("default").url
    done = run_script(url, "-k", r"^(1\.1\.[1-6]|7\.3\.3)$")
    assert done.returncode == 0, done.stdout + done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].split()[:5] == ["ID", "DESCRIPTION", "EXPECTED", "OBSERVED", "VERDICT"]
    rows = [line for line in lines[1:-1] if line.strip()]
    assert [row.split()[0] for row in rows] == [*(f"1.1.{n}" for n in range(1, 7)), "7.3.3"]
    assert all(" OK " in row and re.search(r"\d+\.\d{3}s$", row) for row in rows)
    assert re.fullmatch(
        r"7 cases against .*: 7 OK, 0 NON-STRICT, 0 INFORMATIONAL, 0 UNIMPLEMENTED, 0 FAILED, "
        r"0 SKIPPED in [\d.]+s",
        lines[-1],
    )


def test_failures_give_exit_status_1(servers: Servers) -> None:
    """Pointed at a server unlike the profiles say, cases FAIL or are NON-STRICT: exit 1."""
    url = servers.get("default").url
    done = run_script(
        url,
        *("--profile", f"no-deflate={url}", "--profile", f"subprotocols={url}"),
        *("-k", r"^(12\.11\.1|0\.4\.1)$"),
    )
    assert done.returncode == 1, done.stdout + done.stderr
    assert "permessage-deflate must not be negotiated" in done.stdout
    assert "expected json" in done.stdout
    assert ": 0 OK, 1 NON-STRICT, 0 INFORMATIONAL, 0 UNIMPLEMENTED, 1 FAILED, 0 SKIPPED" in (
        done.stdout
    )


def test_cases_without_their_server_are_skipped(servers: Servers) -> None:
    """Cases of a profile with no URL given are SKIPped, and skips alone exit 0."""
    done = run_script(servers.get("default").url, "-k", r"^0\.4\.")
    assert done.returncode == 0
    assert ": 0 OK, 0 NON-STRICT, 0 INFORMATIONAL, 0 UNIMPLEMENTED, 0 FAILED, 5 SKIPPED" in (
        done.stdout
    )


def test_list_and_usage_errors() -> None:
    """--list prints every case without connecting; a bad --profile is a usage error (2)."""
    listed = run_script("ws://127.0.0.1:9/", "--list")
    assert listed.returncode == 0
    assert len(listed.stdout.splitlines()) == len(CASES)
    bad = run_script("ws://127.0.0.1:9/", "--profile", "nonsense")
    assert bad.returncode == 2
    assert "--profile" in bad.stderr
