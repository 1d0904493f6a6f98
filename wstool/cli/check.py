"""``wstool check``: the conformance cases against a server or a client.

``check server URL`` runs :mod:`wstool.check`'s cases against an echo
server, several at a time, and prints a table by section, every case that
is not OK with its wire log, and ``N passed, M failed``; ``--report DIR``
writes Autobahn's JSON layout and an HTML report; ``--spec`` reads an
Autobahn ``fuzzingclient.json``. ``check client`` is a test server for
clients (:mod:`wstool.cli.check_client`). ``check list`` prints the cases.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus
from wstool.cli.options import add_command, add_output_options, port

__all__ = ["add_parser", "run"]

_HELP = """\
Check a WebSocket server (or client) against every case of the Autobahn
Testsuite, 1.1.1 to 13.7.18 under Autobahn's ids and meanings (framing, pings,
reserved bits, opcodes, fragments, UTF-8, closing, limits, permessage-deflate),
plus wstool's own cases (the opening handshake, and more under ids Autobahn
does not use). The server must echo every message back. Verdicts are
Autobahn's: OK, NON-STRICT (allowed, not the best), INFORMATIONAL (the
server's own choice, such as a size limit), UNIMPLEMENTED (an optional
feature declined), FAILED; the closing handshake is rated apart (OK, WRONG
CODE, UNCLEAN, FAILED).
"""

_EPILOG = """\
modes:
  server URL         run the cases against the echo server at URL
  client             listen (127.0.0.1:9001, --host, --port; 0: any port), print the
                     URL, and run the cases against clients that connect: Autobahn's
                     fuzzingserver protocol (getCaseCount, getCaseInfo?case=N,
                     runCase?case=N&agent=A, getCaseStatus, updateReports?agent=A),
                     so an Autobahn client harness runs unchanged; the client must
                     echo every message. With --cmd 'PROGRAM {url}' the program runs
                     once per case ({url}: the case's URL; stdin a pipe left open,
                     stdout and stderr read) and must echo by itself ('websocat {url}'
                     does not); the run ends when every case has run.
  list server        print every case: id, section, description
  list client        the same for the client cases

case patterns (--cases, --exclude; comma-separated, repeatable):
  6.4.*  a glob over the dotted id;   6.4  6.4 and every case under it;   9  section 9

profiles: cases that need a configured server are skipped unless its URL is
given with --profile NAME=URL (as 'wstool serve' options):
  limited --max-message-size 1MiB;  handshake-timeout --handshake-timeout 1;
  subprotocols --subprotocol chat --subprotocol json;  no-deflate --no-deflate

examples:
  wstool serve --port 9001 &
  wstool check server ws://127.0.0.1:9001/
  wstool check server ws://127.0.0.1:9001/ --cases '1.*,6.4' --exclude 9 --jobs 8
  wstool check server ws://127.0.0.1:9001/ --deflate --report reports/
  wstool check server --spec fuzzingclient.json
  wstool check list server | grep UTF-8
  wstool check client --port 9001 --report reports/clients   # then run the harness
  wstool check client --port 0 --cmd 'python3 my_echo_client.py {url}'

exit statuses: 0 no case FAILED, 1 some case FAILED, 2 bad usage or spec,
5 the server cannot be reached.
"""


def add_parser(commands: Any) -> None:
    """Add ``check`` to the subcommands."""
    check = add_command(
        commands,
        "check",
        help="check a server's conformance (the Autobahn Testsuite's cases)",
        description=_HELP,
        epilog=_EPILOG,
    )
    check.add_argument("mode", choices=("server", "client", "list"), help="what to do")
    check.add_argument(
        "target", nargs="?", metavar="URL|ROLE", help="server: its URL; list: server or client"
    )
    check.add_argument("--cases", action="append", default=[], metavar="PATTERNS")
    check.add_argument("--exclude", action="append", default=[], metavar="PATTERNS")
    check.add_argument(
        "--deflate",
        action="store_true",
        help="also run sections 12 and 13 (permessage-deflate) unless --cases names cases",
    )
    check.add_argument(
        "--jobs", type=_jobs, default=8, metavar="N", help="cases run at once (default: 8)"
    )
    check.add_argument(
        "--report", metavar="DIR", help="write index.json, a JSON file per case and index.html"
    )
    check.add_argument("--json", action="store_true", help="one JSON line per case, then totals")
    check.add_argument(
        "--agent", help="the agent name in reports (default: host:port; --cmd: the program's name)"
    )
    check.add_argument(
        "--profile", action="append", default=[], metavar="NAME=URL", help="a profile's server"
    )
    check.add_argument(
        "--spec", metavar="FILE", help="an Autobahn fuzzingclient.json (client: fuzzingserver.json)"
    )
    check.add_argument("--host", help="client: the address to listen on (default: 127.0.0.1)")
    check.add_argument(
        "--port", type=port, help="client: the port to listen on (default: 9001; 0: any)"
    )
    check.add_argument("--cmd", metavar="'PROGRAM {url}'", help="client: run this client per case")
    check.add_argument(
        "--insecure", action="store_true", help="wss://: do not verify the certificate"
    )
    add_output_options(check)
    check.set_defaults(run=run)


def _jobs(text: str) -> int:
    if not text.isdigit() or not 1 <= int(text) <= 256:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of jobs (1-256)")
    return int(text)


def _patterns(values: list[str]) -> list[str]:
    return [p.strip() for value in values for p in value.split(",") if p.strip()]


def run(args: argparse.Namespace, env: Environment) -> int:
    """Run ``wstool check``."""
    if args.mode == "list":
        return _list(args, env)
    if args.mode == "client":
        from wstool.cli.check_client import run_client

        return run_client(args, env)
    if args.cmd or args.host or args.port is not None:
        raise CommandError("--cmd, --host and --port are for 'check client'", ExitStatus.USAGE)
    return _check_server(args, env)


def _list(args: argparse.Namespace, env: Environment) -> int:
    from wstool.check.describe import section_of
    from wstool.check.suite import select_cases

    role = args.target or "server"
    if role not in ("server", "client"):
        raise CommandError("list: say 'server' or 'client'", ExitStatus.USAGE)
    if role == "client":
        from wstool.cli.check_client import list_client_cases

        return list_client_cases(args, env)
    include = _patterns(args.cases) or ["*"]
    for case in select_cases(include, _patterns(args.exclude)):
        profile = "" if case.profile == "default" else f"  [profile {case.profile}]"
        env.stdout.write(f"{case.id:<10} {section_of(case):<34} {case.description}{profile}\n")
    return ExitStatus.OK


def _ssl_context(insecure: bool) -> Any:
    """An unverifying TLS context for --insecure, else None (ssl loads only then: --help
    and decode start without it)."""
    if not insecure:
        return None
    import ssl

    context = ssl.create_default_context()
    context.check_hostname = False
    context.verify_mode = ssl.CERT_NONE
    return context


def _uri(url: str) -> Any:
    from wstool.core.errors import WstoolError
    from wstool.core.uri import parse_uri

    try:
        return parse_uri(url)
    except WstoolError as exc:
        raise CommandError(f"{url!r}: {exc}", ExitStatus.USAGE) from None
    except ValueError as exc:
        raise CommandError(f"{url!r}: {exc}", ExitStatus.USAGE) from None


def _profile_urls(items: list[str]) -> dict[str, Any]:
    from wstool.check.cases import PROFILES

    urls = {}
    for item in items:
        name, sep, url = item.partition("=")
        if not sep or name not in PROFILES or name == "default":
            names = ", ".join(p for p in PROFILES if p != "default")
            message = f"--profile {item!r}: say NAME=URL, NAME one of {names}"
            raise CommandError(message, ExitStatus.USAGE)
        urls[name] = _uri(url)
    return urls


def _targets(args: argparse.Namespace) -> tuple[list[tuple[str, str]], Any]:
    """(agent, url) pairs to check, and the spec if one was given."""
    from wstool.check.report import agent_name
    from wstool.check.spec import SpecError, read_spec

    if args.spec:
        try:
            spec = read_spec(Path(args.spec))
        except SpecError as exc:
            raise CommandError(f"--spec: {exc}", ExitStatus.USAGE) from None
        if not spec.servers:
            raise CommandError('--spec: no "servers" to check in it', ExitStatus.USAGE)
        if args.target:
            raise CommandError("give a URL or --spec, not both", ExitStatus.USAGE)
        return [(server.agent, server.url) for server in spec.servers], spec
    if not args.target:
        raise CommandError("server: give the URL of the echo server to check", ExitStatus.USAGE)
    return [(args.agent or agent_name(args.target), args.target)], None


def _selection(args: argparse.Namespace, spec: Any, agent: str) -> list[Any]:
    from wstool.check.suite import DEFLATE_SECTIONS, select_cases

    include = _patterns(args.cases)
    exclude = _patterns(args.exclude)
    if spec is not None:
        include = include or list(spec.cases)
        exclude += list(spec.excluded_for(agent))
    elif not include:
        include = ["*"]
        if not args.deflate:
            exclude += list(DEFLATE_SECTIONS)
    return select_cases(include, exclude)


def _check_server(args: argparse.Namespace, env: Environment) -> int:
    from wstool.cli.check_output import Output

    targets, spec = _targets(args)
    profiles = _profile_urls(args.profile)
    report_dir = args.report or (spec.outdir if spec is not None else None)
    output = Output(args, env)
    failed = 0
    for agent, url in targets:
        cases = _selection(args, spec, agent)
        if not cases:
            raise CommandError("no case matches --cases/--exclude", ExitStatus.USAGE)
        urls = {"default": _uri(url), **profiles}
        failed += _check_one(args, output, agent, url, cases, urls, report_dir)
    return ExitStatus.ERROR if failed else ExitStatus.OK


def _reachable(url: str, uri: Any) -> None:
    """One TCP connection first: a server that is not there is one line, not 400 FAILED."""
    import socket

    try:
        socket.create_connection((uri.host, uri.port), timeout=5).close()
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise CommandError(
            f"cannot connect to {url}: {reason}", ExitStatus.CONNECTION_FAILED
        ) from None


def _check_one(
    args: argparse.Namespace,
    output: Any,
    agent: str,
    url: str,
    cases: list[Any],
    urls: dict[str, Any],
    report_dir: str | None,
) -> int:
    """Run one server's cases, print them, write its reports; the number FAILED."""
    from wstool.check.suite import Counts, run_cases

    _reachable(url, urls["default"])
    started = time.monotonic()
    with output.progress(agent, len(cases)) as advance:
        results = run_cases(
            cases,
            urls,
            jobs=args.jobs,
            ssl_context=_ssl_context(args.insecure),
            on_result=advance,
        )
    took = time.monotonic() - started
    counts = Counts.of(results)
    if report_dir:
        output.write_reports(Path(report_dir), agent, results)
    output.results(agent, url, results, counts, took)
    return counts.failed
