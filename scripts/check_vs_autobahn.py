#!/usr/bin/env python3
"""Compare ``wstool check``'s verdicts with the real Autobahn Testsuite's on the same servers.

For each peer (``serve``: wstool serve; ``websockets``: the websockets
library's echo server, permessage-deflate on), it starts the server on
127.0.0.1, runs ``wstest -m fuzzingclient`` against it (or reads an
Autobahn report given with ``--autobahn PEER=DIR``), runs wstool's case
table against the same server (deflate sections included), and compares
them id by id: every Autobahn id means the same case in both tools. It
prints per section how many cases each ran, how many each rated other than
OK, and on how many ids the verdicts (``behavior``) and the closing verdicts
(``behaviorClose``) agree; then every id where they differ, with both
verdicts and wstool's reason; then the verdicts of wstool's own cases (the
ids Autobahn does not have). Both runs' times are printed.

Examples:
  .venv/bin/python scripts/check_vs_autobahn.py --wstest /tmp/ab27/bin/wstest
  .venv/bin/python scripts/check_vs_autobahn.py --autobahn serve=/tmp/ab_run_all --peers serve
  .venv/bin/python scripts/check_vs_autobahn.py --peers websockets --exclude '12.*,13.*'
"""

from __future__ import annotations

import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from wstool.check.peer import parse_uri  # noqa: E402
from wstool.check.runner import Result  # noqa: E402
from wstool.check.suite import case_key, run_cases, select_cases  # noqa: E402

_LISTENING = re.compile(r"ws://127\.0\.0\.1:(\d+)/?")
_WEBSOCKETS_ECHO = """
import asyncio, websockets
async def echo(ws):
    async for message in ws:
        await ws.send(message)
async def main():
    async with websockets.serve(echo, "127.0.0.1", 0, max_size=None,
                                compression="deflate") as server:
        print("ws://127.0.0.1:%d/" % server.sockets[0].getsockname()[1], flush=True)
        await asyncio.Future()
asyncio.run(main())
"""


def _start(peer: str) -> tuple[subprocess.Popen[str], str]:
    if peer == "serve":
        argv = [
            sys.executable,
            "-m",
            "wstool",
            "serve",
            "--port",
            "0",
            "-q",
            "--ping-interval",
            "0",
        ]
    else:
        argv = [sys.executable, "-c", _WEBSOCKETS_ECHO]
    proc = subprocess.Popen(
        argv,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        stdin=subprocess.DEVNULL,
        text=True,
        cwd=REPO,
        env=dict(os.environ, NO_COLOR="1", PYTHONUNBUFFERED="1"),
    )
    assert proc.stdout is not None
    line = proc.stdout.readline()
    match = _LISTENING.search(line)
    if not match:
        proc.kill()
        raise RuntimeError(f"{peer} did not start: {line!r}")
    # Read to the end in a thread, so that the server never blocks on a full pipe.
    threading.Thread(target=proc.stdout.read, daemon=True).start()
    return proc, f"ws://127.0.0.1:{match[1]}/"


def _autobahn(
    wstest: str, url: str, outdir: Path, cases: list[str], exclude: list[str]
) -> tuple[dict[str, Any], float]:
    spec = {
        "outdir": str(outdir),
        "servers": [{"agent": "peer", "url": url}],
        "cases": cases,
        "exclude-cases": exclude,
    }
    spec_path = outdir / "fuzzingclient.json"
    spec_path.write_text(json.dumps(spec))
    started = time.monotonic()
    subprocess.run(
        [wstest, "-m", "fuzzingclient", "-s", str(spec_path)],
        cwd=outdir,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        check=False,
        timeout=3600,
    )
    return _read(outdir), time.monotonic() - started


def _read(outdir: Path) -> dict[str, Any]:
    index = json.loads((outdir / "index.json").read_text(encoding="utf-8"))
    return dict(next(iter(index.values())))


def _section(case_id: str) -> str:
    return case_id.split(".")[0]


def _not_ok(verdicts: dict[str, str], section: str) -> str:
    counts = Counter(v for cid, v in verdicts.items() if _section(cid) == section and v != "OK")
    return ", ".join(f"{n} {v}" for v, n in sorted(counts.items())) or "-"


def compare(peer: str, autobahn: dict[str, Any], results: list[Result]) -> int:
    """Print the id-by-id comparison for one peer; the number of ids whose verdicts differ."""
    theirs = {cid: str(entry["behavior"]) for cid, entry in autobahn.items()}
    theirs_close = {cid: str(entry["behaviorClose"]) for cid, entry in autobahn.items()}
    run = {r.case.id: r for r in results if r.verdict != "SKIPPED"}
    ours = {cid: r.verdict for cid, r in run.items() if cid in theirs}
    own = {cid: r.verdict for cid, r in run.items() if cid not in theirs}
    print(
        f"\n{peer}: Autobahn ran {len(theirs)} cases; wstool check ran {len(run)}: "
        f"{len(ours)} of Autobahn's ids and {len(own)} of its own"
    )
    print(
        f"{'sect':<5} {'AB n':>5} {'AB not OK':<24} {'check n':>7} {'check not OK':<24} "
        f"{'same':>9} {'same close':>10}"
    )
    sections = sorted({_section(c) for c in (*theirs, *ours)}, key=case_key)
    differ = []
    for section in sections:
        shared = [c for c in ours if c in theirs and _section(c) == section]
        same = sum(ours[c] == theirs[c] for c in shared)
        same_close = sum(run[c].close_verdict == theirs_close[c] for c in shared)
        differ += [
            c for c in shared if ours[c] != theirs[c] or run[c].close_verdict != theirs_close[c]
        ]
        a = sum(_section(c) == section for c in theirs)
        print(
            f"{section:<5} {a:>5} {_not_ok(theirs, section):<24} {len(shared):>7} "
            f"{_not_ok(ours, section):<24} {f'{same}/{len(shared)}':>9} "
            f"{f'{same_close}/{len(shared)}':>10}"
        )
    shared = [c for c in ours if c in theirs]
    same = sum(ours[c] == theirs[c] for c in shared)
    same_close = sum(run[c].close_verdict == theirs_close[c] for c in shared)
    print(
        f"all   ids both ran: {len(shared)}, same verdict: {same}, same close verdict: {same_close}"
    )
    for cid in sorted(differ, key=case_key):
        result = run[cid]
        print(
            f"  differs: {cid}: Autobahn {theirs[cid]}/{theirs_close[cid]}, "
            f"wstool check {result.verdict}/{result.close_verdict} "
            f"({result.detail or result.close_detail or result.observed})"
        )
        print(f"           {result.case.description}")
    counts = Counter(own.values())
    print("wstool's own cases: " + ", ".join(f"{n} {v}" for v, n in sorted(counts.items())))
    for cid in sorted(own, key=case_key):
        if own[cid] == "FAILED":
            print(f"  FAILED {cid}: {run[cid].case.description}: {run[cid].detail}")
    return sum(ours[c] != theirs[c] for c in shared)


def main(argv: list[str] | None = None) -> int:
    """Run both tools against each peer and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--wstest", default=os.environ.get("WSTEST", "/tmp/ab27/bin/wstest"))
    parser.add_argument("--peers", default="serve,websockets")
    parser.add_argument("--autobahn", action="append", default=[], metavar="PEER=DIR")
    parser.add_argument("--jobs", type=int, default=8)
    parser.add_argument("--cases", default="*", help="comma-separated patterns, for both tools")
    parser.add_argument("--exclude", default="", help="comma-separated patterns, for both tools")
    args = parser.parse_args(argv)
    include = [p for p in args.cases.split(",") if p]
    exclude = [p for p in args.exclude.split(",") if p]
    given = dict(item.split("=", 1) for item in args.autobahn)
    for peer in args.peers.split(","):
        proc, url = _start(peer)
        try:
            if peer in given:
                autobahn = _read(Path(given[peer]))
                # the sum of its cases' own times
                ab_took = sum(e["duration"] for e in autobahn.values()) / 1000
            else:
                outdir = Path(tempfile.mkdtemp(prefix=f"autobahn-{peer}-"))
                autobahn, ab_took = _autobahn(args.wstest, url, outdir, include, exclude)
                print(f"{peer}: Autobahn's report in {outdir}")
            started = time.monotonic()
            cases = select_cases(include, exclude)
            results = run_cases(cases, {"default": parse_uri(url)}, jobs=args.jobs)
            took = time.monotonic() - started
        finally:
            proc.terminate()
            proc.wait(10)
        compare(peer, autobahn, results)
        ours = {r.case.id: r.verdict for r in results if r.verdict != "SKIPPED"}
        failed = sum(v == "FAILED" for v in ours.values())
        print(
            f"times: Autobahn {ab_took:.1f}s, wstool check --jobs {args.jobs} {took:.1f}s; "
            f"wstool check: {len(ours) - failed} passed, {failed} failed"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
