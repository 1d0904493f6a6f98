#!/usr/bin/env python3
"""Run wstool's WebSocket server conformance cases against any echo server.

The cases are the table of ``wstool/check/cases.py`` (the pytest suite
runs the same table against ``wstool serve``), numbered after the Autobahn
Testsuite's sections, plus section 0 for the opening handshake. The server
under test must echo every message back to its sender. Each case prints one
row: id, description, expected, observed, verdict and duration; then a
summary line. The exit status is 1 if any case FAILed, else 0.

Verdicts: OK (exactly as expected, promptly), NON-STRICT (allowed by the
RFC but not the best behaviour: another close code, a late failure, another
4xx status), FAIL, SKIP (the case needs a server configuration not given).

Cases with a profile other than ``default`` need a server configured so; give
its URL with ``--profile NAME=URL``, or they are skipped. The profiles, as
``wstool serve`` options:

  limited             --max-message-size 1MiB
  handshake-timeout   --handshake-timeout 1
  subprotocols        --subprotocol chat --subprotocol json
  no-deflate          --no-deflate

Examples:
  .venv/bin/python scripts/conformance.py ws://127.0.0.1:8765/
  .venv/bin/python scripts/conformance.py ws://127.0.0.1:8765/ -k '^6\\.' --failures
  .venv/bin/python scripts/conformance.py ws://127.0.0.1:8765/ --profile limited=ws://127.0.0.1:9001/
"""

from __future__ import annotations

import argparse
import re
import ssl
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from wstool.check.cases import CASES, PROFILES
from wstool.check.model import Case
from wstool.check.peer import parse_uri
from wstool.check.runner import BEHAVIORS, FAILED, OK, SKIPPED, Result, run_case
from wstool.core.errors import UsageError
from wstool.core.uri import WebSocketURI
from wstool.ui.sanitize import terminal_safe

_COLUMNS = (("ID", 9), ("DESCRIPTION", 52), ("EXPECTED", 30), ("OBSERVED", 44), ("VERDICT", 10))


def _cut(text: str, width: int) -> str:
    text = terminal_safe(text)
    return text if len(text) <= width else text[: width - 3] + "..."


def _row(cells: list[str], duration: str) -> str:
    parts = [
        _cut(cell, width).ljust(width) for cell, (_, width) in zip(cells, _COLUMNS, strict=True)
    ]
    return " ".join(parts) + " " + duration


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="conformance.py",
        description=__doc__.split("\n\n")[0] if __doc__ else None,
        epilog="\n\n".join(__doc__.split("\n\n")[1:]) if __doc__ else None,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("url", help="ws:// or wss:// URL of the echo server under test")
    parser.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="NAME=URL",
        help=f"a server for the cases of profile NAME ({', '.join(PROFILES)}); repeatable",
    )
    parser.add_argument(
        "-k", "--select", metavar="REGEX", help="run cases whose id or description matches"
    )
    parser.add_argument("--failures", action="store_true", help="print only rows that are not OK")
    parser.add_argument("--list", action="store_true", help="list the cases without running them")
    parser.add_argument(
        "--insecure", action="store_true", help="wss://: do not verify the certificate"
    )
    return parser.parse_args(argv)


def _urls(args: argparse.Namespace) -> dict[str, WebSocketURI]:
    urls = {"default": parse_uri(args.url)}
    for item in args.profile:
        name, sep, url = item.partition("=")
        if not sep or name not in PROFILES:
            raise UsageError(
                f"--profile {item!r}: expected NAME=URL with NAME in {', '.join(PROFILES)}"
            )
        urls[name] = parse_uri(url)
    return urls


def _selected(pattern: str | None) -> list[Case]:
    if not pattern:
        return list(CASES)
    regex = re.compile(pattern)
    return [case for case in CASES if regex.search(case.id) or regex.search(case.description)]


def main(argv: list[str] | None = None) -> int:
    """Run the selected cases and print the table; 1 if any FAILed, 2 on bad usage."""
    args = _parse_args(argv)
    try:
        urls = _urls(args)
        cases = _selected(args.select)
    except (UsageError, re.error) as exc:
        print(f"conformance.py: {exc}", file=sys.stderr)
        return 2
    if args.list:
        for case in cases:
            shown = terminal_safe(case.description)
            print(f"{case.id:<9} {case.profile:<18} {shown}  ->  {case.expected}")
        return 0
    context = None
    if args.insecure:
        context = ssl.create_default_context()
        context.check_hostname = False
        context.verify_mode = ssl.CERT_NONE
    print(_row([name for name, _ in _COLUMNS], "TIME"))
    counts = dict.fromkeys((*BEHAVIORS, SKIPPED), 0)
    started = time.monotonic()
    for case in cases:
        uri = urls.get(case.profile)
        if uri is None:
            result = Result(case, SKIPPED, "", f"needs a server of profile {case.profile}", 0.0)
        else:
            result = run_case(case, uri, ssl_context=context)
        counts[result.verdict] += 1
        if args.failures and result.verdict == OK:
            continue
        cells = [case.id, case.description, case.expected, result.observed, result.verdict]
        print(_row(cells, f"{result.duration:.3f}s"), flush=True)
        if result.verdict not in (OK, SKIPPED) and result.detail:
            print(f"{'':9}   -> {terminal_safe(result.detail)}", flush=True)
    total = time.monotonic() - started
    summary = ", ".join(f"{counts[v]} {v}" for v in (*BEHAVIORS, SKIPPED))
    print(f"{len(cases)} cases against {args.url}: {summary} in {total:.1f}s")
    return 1 if counts[FAILED] else 0


if __name__ == "__main__":
    sys.exit(main())
