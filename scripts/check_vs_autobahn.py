#!/usr/bin/env python3
"""Compare ``wstool check``'s verdicts with the real Autobahn Testsuite's on the same servers.

For each peer (``serve``: wstool serve; ``websockets``: the websockets
library's echo server, permessage-deflate on), it starts the server on
127.0.0.1, runs ``wstest -m fuzzingclient`` against it (or reads an
Autobahn report given with ``--autobahn PEER=DIR``), runs wstool's case
table against the same server (deflate sections included), and prints per
section: the cases each tool ran, how many each rated other than OK (and
which verdicts), and, for the case ids both tools have, how many got the
same verdict. wstool's ids follow Autobahn's sections, but within a section
its numbering is its own, so the per-id agreement is a rough measure and the
per-section counts are what to read. Both runs' times are printed.

Examples:
  .venv/bin/python scripts/check_vs_autobahn.py --wstest /tmp/ab27/bin/wstest
  .venv/bin/python scripts/check_vs_autobahn.py --autobahn serve=/tmp/ab_run_all --peers serve
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


def _autobahn(wstest: str, url: str, outdir: Path) -> tuple[dict[str, Any], float]:
    spec = {"outdir": str(outdir), "servers": [{"agent": "peer", "url": url}], "cases": ["*"]}
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


def compare(peer: str, autobahn: dict[str, Any], ours: dict[str, str]) -> None:
    """Print the per-section table for one peer."""
    theirs = {cid: str(entry["behavior"]) for cid, entry in autobahn.items()}
    sections = sorted({_section(c) for c in (*theirs, *ours)}, key=case_key)
    print(f"\n{peer}: Autobahn ran {len(theirs)} cases, wstool check ran {len(ours)}")
    print(f"{'sect':<5} {'AB n':>5} {'AB not OK':<28} {'check n':>7} {'check not OK':<28} same id")
    for section in sections:
        a = sum(_section(c) == section for c in theirs)
        b = sum(_section(c) == section for c in ours)
        shared = [c for c in ours if c in theirs and _section(c) == section]
        same = sum(ours[c] == theirs[c] for c in shared)
        print(
            f"{section:<5} {a:>5} {_not_ok(theirs, section):<28} {b:>7} "
            f"{_not_ok(ours, section):<28} {same}/{len(shared)}"
        )
    shared = [c for c in ours if c in theirs]
    same = sum(ours[c] == theirs[c] for c in shared)
    print(f"all   shared ids: {len(shared)}, same verdict: {same}")
    for cid in sorted(shared, key=case_key):
        if ours[cid] != theirs[cid]:
            print(f"  differs: {cid}: Autobahn {theirs[cid]}, wstool check {ours[cid]}")


def main(argv: list[str] | None = None) -> int:
    """Run both tools against each peer and print the comparison."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--wstest", default=os.environ.get("WSTEST", "/tmp/ab27/bin/wstest"))
    parser.add_argument("--peers", default="serve,websockets")
    parser.add_argument("--autobahn", action="append", default=[], metavar="PEER=DIR")
    parser.add_argument("--jobs", type=int, default=8)
    args = parser.parse_args(argv)
    given = dict(item.split("=", 1) for item in args.autobahn)
    for peer in args.peers.split(","):
        proc, url = _start(peer)
        try:
            if peer in given:
                autobahn = _read(Path(given[peer]))
                # the sum of its cases' own times
                ab_took = sum(e["duration"] for e in autobahn.values()) / 1000
            else:
                autobahn, ab_took = _autobahn(args.wstest, url, Path(tempfile.mkdtemp()))
            started = time.monotonic()
            results = run_cases(select_cases(), {"default": parse_uri(url)}, jobs=args.jobs)
            took = time.monotonic() - started
        finally:
            proc.terminate()
            proc.wait(10)
        ours = {r.case.id: r.verdict for r in results if r.verdict != "SKIPPED"}
        compare(peer, autobahn, ours)
        failed = sum(v == "FAILED" for v in ours.values())
        print(
            f"times: Autobahn {ab_took:.1f}s, wstool check --jobs {args.jobs} {took:.1f}s; "
            f"wstool check: {len(ours) - failed} passed, {failed} failed"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
