#!/usr/bin/env python3
"""Compare ``wstool check client`` with Autobahn's ``wstest -m fuzzingserver`` on one client.

The client is wstool's own client stack echoing every message, driven as an
Autobahn harness (``scripts/autobahn_testsuite.py``'s ``_drive_client``:
getCaseCount, runCase for each case, updateReports). It runs once against
the real fuzzingserver (Python 2.7, ``--wstest``) and once against ``wstool
check client``, each writing Autobahn's reports; then, for every case id both
have, the two verdicts (``behavior``) are compared, and the differences
listed with both tools' reasons. Either run can be read from a report
directory instead (``--autobahn DIR``, ``--wstool DIR``).

Examples:
  .venv/bin/python scripts/check_client_vs_autobahn.py --wstest /tmp/ab27/bin/wstest
  .venv/bin/python scripts/check_client_vs_autobahn.py --autobahn /tmp/ab --wstool /tmp/wt
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
AGENT = "wstool-client"
_HARNESS = """
import sys
sys.path.insert(0, sys.argv[3])
from autobahn_testsuite import _drive_client
count, problems = _drive_client(sys.argv[1], sys.argv[2], 120.0)
print(count, "cases;", len(problems), "problems:", problems[:5], file=sys.stderr)
"""


def _free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_port(port: int, seconds: float) -> None:
    import socket

    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"nothing listens on port {port}")


def _drive(port: int) -> float:
    started = time.monotonic()
    argv = [sys.executable, "-c", _HARNESS, f"ws://127.0.0.1:{port}", AGENT, str(REPO / "scripts")]
    subprocess.run(argv, check=True, cwd=REPO)
    return time.monotonic() - started


def _run_autobahn(wstest: str, outdir: Path) -> float:
    port = _free_port()
    spec = {"url": f"ws://127.0.0.1:{port}", "outdir": str(outdir), "cases": ["*"]}
    (outdir / "fuzzingserver.json").write_text(json.dumps(spec))
    with (outdir / "wstest.log").open("w") as log:
        server = subprocess.Popen(
            [wstest, "-m", "fuzzingserver", "-s", "fuzzingserver.json"],
            cwd=outdir,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            _wait_port(port, 60)
            return _drive(port)
        finally:
            server.kill()
            server.wait()


def _run_wstool(outdir: Path) -> float:
    port = _free_port()
    argv = [sys.executable, "-m", "wstool", "check", "client", "--port", str(port)]
    server = subprocess.Popen(
        [*argv, "--report", str(outdir), "--color", "never"],
        cwd=REPO,
        stdout=(outdir / "wstool.out").open("w"),
        stderr=subprocess.STDOUT,
    )
    try:
        _wait_port(port, 60)
        return _drive(port)
    finally:
        server.terminate()  # SIGTERM: SIGINT stays ignored when this script runs in the background
        server.wait(120)


def _verdicts(outdir: Path) -> dict[str, dict[str, Any]]:
    index = json.loads((outdir / "index.json").read_text())
    cases: dict[str, dict[str, Any]] = {}
    for case_id, entry in index[AGENT].items():
        record = json.loads((outdir / entry["reportfile"]).read_text())
        cases[case_id] = {**entry, "why": record.get("result", "")}
    return cases


def _key(case_id: str) -> tuple[int, ...]:
    return tuple(int(part) for part in case_id.split(".") if part.isdigit())


def compare(autobahn: dict[str, dict[str, Any]], wstool: dict[str, dict[str, Any]]) -> None:
    """Print the agreement per section and every case the two rate differently."""
    shared = sorted(set(autobahn) & set(wstool), key=_key)
    print(f"Autobahn ran {len(autobahn)} cases, wstool {len(wstool)}; {len(shared)} ids in both")
    print("Autobahn:", dict(Counter(c["behavior"] for c in autobahn.values())))
    print("wstool:  ", dict(Counter(c["behavior"] for c in wstool.values())))
    same: Counter[str] = Counter()
    total: Counter[str] = Counter()
    differ = []
    for case_id in shared:
        section = case_id.split(".")[0]
        total[section] += 1
        a, w = autobahn[case_id], wstool[case_id]
        if a["behavior"] == w["behavior"]:
            same[section] += 1
        else:
            differ.append((case_id, a, w))
    for section in sorted(total, key=int):
        print(f"  section {section:>2}: {same[section]}/{total[section]} agree")
    print(f"agree on {sum(same.values())} of {len(shared)}")
    for case_id, a, w in differ:
        print(f"{case_id}: Autobahn {a['behavior']} ({a['why'][:90]})")
        print(f"{'':{len(case_id)}}  wstool   {w['behavior']} ({w['why'][:90]})")
    only = sorted(set(autobahn) - set(wstool), key=_key)
    if only:
        print(f"only Autobahn ran: {', '.join(only[:40])}{' ...' if len(only) > 40 else ''}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wstest", default=os.environ.get("WSTEST"))
    parser.add_argument("--autobahn", type=Path, help="Autobahn's report directory, if run")
    parser.add_argument("--wstool", type=Path, help="wstool's report directory, if run")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="check-client-"))
    if args.autobahn is None:
        if not args.wstest:
            parser.error("give --wstest (or --autobahn DIR)")
        args.autobahn = work / "autobahn"
        args.autobahn.mkdir()
        took = _run_autobahn(args.wstest, args.autobahn)
        print(f"Autobahn fuzzingserver run: {took:.0f}s ({args.autobahn})", flush=True)
    if args.wstool is None:
        args.wstool = work / "wstool"
        args.wstool.mkdir()
        took = _run_wstool(args.wstool)
        print(f"wstool check client run: {took:.0f}s ({args.wstool})", flush=True)
    compare(_verdicts(args.autobahn), _verdicts(args.wstool))
    return 0


if __name__ == "__main__":
    sys.exit(main())
