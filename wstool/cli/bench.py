"""``wstool bench URL``: load a WebSocket server, measure throughput and latency.

Options -> :class:`wstool.bench.plan.BenchPlan` -> the driver (one process, or
``--workers`` processes) -> the report -> the table (``ui.benchview``) or JSON.
No Twisted on this path: the driver runs on asyncio.
"""

from __future__ import annotations

import argparse
import json
from typing import Any

from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus
from wstool.cli.options import add_command, add_output_options, seconds, size

__all__ = ["add_parser", "run"]

_HELP = """\
Put load on a WebSocket server and measure it: messages per second, MB/s,
latency percentiles from an HDR histogram (p50, p90, p99, p99.9, max), and
errors by kind (refusals, timeouts, close codes, wrong echoes).

Closed loop (default): each connection keeps --inflight messages outstanding
and sends the next as soon as an answer comes back. Open loop (--rate): R
messages per second in total go out on a schedule whatever the server does,
and latency counts from the time each message was due, so a server that
stalls shows as latency, not as fewer samples (coordinated omission
corrected, as wrk2 does). A connection whose send buffer is full gets no more
until it drains; messages still unsent at the end are reported as unsent.
"""

_EPILOG = """\
modes:
  echo        every message comes back byte for byte, or the run fails (default)
  send        send, and count whatever comes back (latency from its timestamp)
  subscribe   only listen (a broadcast server); latency from the timestamp each
              message carries, whoever published it
  handshakes  connect, upgrade and close as fast as possible; TCP, TLS and
              upgrade times apart

payload format: every message bench sends starts with a 16-byte header:
  bytes 0-7    the intended send time, time.time_ns(), big-endian
  bytes 8-15   a sequence number, big-endian: connection index << 32 | message number
  In --text messages these 16 bytes are written as 32 lowercase hex digits.
  The rest is filler up to --size. --mode subscribe reads this header from every
  message it receives, so any publisher that writes it can be measured.
  --no-stamps leaves the header out (echo mode, closed loop, small messages).

sizes: --size 32, --size 1KiB, a mix --size 32,1KiB,64KiB (equal shares), or
  with weights --size 32:8,1KiB:2,64KiB:1 (8 of 11 messages are 32 bytes).

exit status: 0 when every connection worked and every echo was right; 1 when a
  connection failed or an echo was wrong; 5 when no connection could be opened;
  2 for bad usage; 130 after Ctrl-C (what was measured so far is printed).

examples:
  wstool serve -q &                                   # something to measure
  wstool bench ws://127.0.0.1:8765/ -c 50 --inflight 16 --duration 10
  wstool bench ws://127.0.0.1:8765/ -c 100 --rate 20000 --size 32,1KiB:2
  wstool bench ws://127.0.0.1:8765/ --mode handshakes -c 20 --duration 5
  wstool bench ws://127.0.0.1:8765/ -c 10000 --workers 4 --ramp-up 5 --rate 50000
  wstool bench wss://example.com/ws --messages 100000 --json > result.json
  # fan-out: 1,000 listeners and one publisher at 1,000 msg/s
  wstool serve -q --mode broadcast &
  wstool bench ws://127.0.0.1:8765/ --mode subscribe -c 1000 --duration 20 &
  wstool bench ws://127.0.0.1:8765/ --mode send -c 1 --rate 1000 --duration 20
"""


def _positive_int(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number > 0")
    return int(text)


def _rate(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = 0.0
    if not 0 < value < float("inf"):
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate > 0 (messages per second)")
    return value


def _sizes(text: str) -> Any:
    from wstool.bench.plan import parse_size_mix

    try:
        return parse_size_mix(text, size)
    except (ValueError, argparse.ArgumentTypeError) as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_parser(commands: Any) -> None:
    """Add ``bench`` to the subcommands."""
    bench = add_command(
        commands,
        "bench",
        help="load a server: msgs/s, MB/s, latency percentiles, errors by kind",
        description=_HELP,
        epilog=_EPILOG,
    )
    bench.add_argument("url", metavar="URL", help="ws:// or wss:// URL of the server")
    bench.add_argument(
        "--mode",
        choices=("echo", "send", "subscribe", "handshakes"),
        default="echo",
        help="what to measure (default: echo; see modes below)",
    )
    bench.add_argument(
        "-c",
        "--connections",
        type=_positive_int,
        default=10,
        metavar="N",
        help="connections (handshakes: how many at once) (default: %(default)s)",
    )
    bench.add_argument(
        "--inflight",
        type=_positive_int,
        default=1,
        metavar="M",
        help="closed loop: messages outstanding per connection (default: %(default)s)",
    )
    bench.add_argument(
        "--rate",
        type=_rate,
        metavar="R",
        help="open loop: R messages per second in total, spread over the connections",
    )
    bench.add_argument(
        "--size",
        type=_sizes,
        default=None,
        metavar="SIZES",
        help="message size or mix: 32, 64KiB, 32,1KiB,64KiB, 32:8,1KiB:1 (default: 32)",
    )
    kind = bench.add_mutually_exclusive_group()
    kind.add_argument("--text", action="store_true", help="send text messages")
    kind.add_argument("--binary", action="store_true", help="send binary messages (default)")
    bench.add_argument("--deflate", action="store_true", help="offer permessage-deflate")
    bench.add_argument(
        "--no-stamps",
        action="store_true",
        help="echo mode, closed loop, one --size under 4KiB: send the filler alone, without "
        "the timestamp header (every message the same, for a server that wants a fixed "
        "payload; each echo is still checked, and the latency runs from its batch's send "
        "time)",
    )
    length = bench.add_mutually_exclusive_group()
    length.add_argument(
        "--duration",
        type=seconds,
        metavar="SECONDS",
        help="how long to measure, after the ramp-up (default: 10)",
    )
    length.add_argument(
        "--messages",
        type=_positive_int,
        metavar="N",
        help="send N messages in total, then stop (subscribe: receive N; handshakes: make N)",
    )
    bench.add_argument(
        "--ramp-up",
        type=seconds,
        default=0.0,
        metavar="SECONDS",
        help="open the connections evenly over this time (not measured) (default: 0)",
    )
    bench.add_argument(
        "--workers",
        type=_positive_int,
        default=1,
        metavar="N",
        help="run in N processes and merge their histograms (default: 1)",
    )
    bench.add_argument(
        "--timeout",
        type=seconds,
        default=10.0,
        metavar="SECONDS",
        help="for a connection, a handshake, and the last echoes (default: %(default)s)",
    )
    bench.add_argument(
        "-k",
        "--insecure",
        action="store_true",
        help="wss://: do not verify the server's certificate",
    )
    bench.add_argument("--json", action="store_true", help="print the result as one JSON object")
    bench.add_argument(
        "--event-loop",
        choices=("auto", "uvloop", "asyncio"),
        default="auto",
        help="the asyncio loop to run on (default: uvloop when installed)",
    )
    add_output_options(bench)
    bench.set_defaults(run=run)


def make_plan(args: argparse.Namespace) -> Any:
    """The options as a :class:`~wstool.bench.plan.BenchPlan`.

    Raises:
        CommandError: (USAGE) with one line saying which option is wrong.
    """
    from wstool.bench.plan import BenchPlan, SizeMix, header_size
    from wstool.core.errors import UsageError
    from wstool.core.uri import parse_uri

    try:
        uri = parse_uri(args.url)
    except UsageError as exc:
        raise CommandError(str(exc), ExitStatus.USAGE) from None
    sizes = args.size or SizeMix(((32, 1),))
    smallest = header_size(args.text)
    too_small = [s for s in sizes.sizes if s < smallest]
    _check_no_stamps(args, sizes)
    _check_in_flight(args, max(sizes.sizes))
    if too_small and args.mode in ("echo", "send") and not args.no_stamps:
        kind = "text" if args.text else "binary"
        raise CommandError(
            f"--size {too_small[0]} is smaller than the {smallest}-byte timestamp header "
            f"of a {kind} message",
            ExitStatus.USAGE,
        )
    if max(sizes.sizes) > 1 << 30:
        raise CommandError("--size: messages over 1GiB are not supported", ExitStatus.USAGE)
    if args.timeout <= 0:
        raise CommandError("--timeout must be > 0", ExitStatus.USAGE)
    duration = args.duration if args.duration is not None else 10.0
    if args.messages is None and duration <= 0:
        raise CommandError("--duration must be > 0", ExitStatus.USAGE)
    return BenchPlan(
        url=args.url,
        host=uri.host,
        port=uri.port,
        resource=uri.resource,
        host_header=uri.host_header,
        secure=uri.secure,
        mode=args.mode,
        connections=args.connections,
        inflight=args.inflight,
        rate=args.rate,
        sizes=sizes,
        text=args.text,
        deflate=args.deflate,
        duration=None if args.messages is not None else duration,
        messages=args.messages,
        ramp_up=args.ramp_up,
        timeout=args.timeout,
        insecure=args.insecure,
        stamps=not args.no_stamps,
    )


_IN_FLIGHT_LIMIT = 4 << 30
"""Payload bytes a closed loop may keep outstanding in one process."""


def _check_in_flight(args: argparse.Namespace, largest: int) -> None:
    """A closed loop that would keep more than 4 GiB outstanding per process is refused
    (the open loop holds back by itself when its connections fill up)."""
    if args.rate is not None or args.mode not in ("echo", "send"):
        return
    per_process = args.connections * args.inflight * largest / args.workers
    if per_process > _IN_FLIGHT_LIMIT:
        raise CommandError(
            f"-c {args.connections:,} x --inflight {args.inflight:,} x {largest:,} B keeps "
            f"{per_process / (1 << 30):.1f} GiB in flight per process, over the 4 GiB bench "
            "allows: lower -c or --inflight, or spread the load with --workers",
            ExitStatus.USAGE,
        )


def _check_no_stamps(args: argparse.Namespace, sizes: Any) -> None:
    if not args.no_stamps:
        return
    if args.mode != "echo" or args.rate is not None:
        why = "--mode echo in a closed loop (the open loop and the other modes stamp each message)"
    elif len(sizes.sizes) != 1 or sizes.sizes[0] >= 4096:
        why = "one --size under 4KiB (larger messages are sent from prebuilt pieces already)"
    else:
        return
    raise CommandError(f"--no-stamps goes with {why}", ExitStatus.USAGE)


def run(args: argparse.Namespace, env: Environment) -> int:
    """Run the benchmark; print the table (or JSON); the exit status says whether it held."""
    from wstool.bench.driver import BenchError
    from wstool.bench.report import summarize
    from wstool.bench.workers import raise_open_files_limit
    from wstool.core.uri import parse_uri
    from wstool.ui.console import make_console

    plan = make_plan(args)
    note = parse_uri(args.url).scheme_note
    if note is not None:
        env.stderr.write(f"wstool bench: note: {note}\n")
    raise_open_files_limit()
    stderr_console = make_console(args.color, env.stderr, no_color_env=env.no_color)
    live = None
    if not args.json and _isatty(env.stderr):
        from wstool.ui.benchview import BenchProgress

        unit = "handshakes/s" if plan.mode == "handshakes" else "msg/s"
        live = BenchProgress(stderr_console, unit=unit)
    try:
        if live is not None:
            with live:
                stats, interrupted, loop, details = _execute(plan, args, live.update)
        else:
            stats, interrupted, loop, details = _execute(plan, args, None)
    except BenchError as exc:
        raise CommandError(str(exc), ExitStatus.CONNECTION_FAILED) from None
    report = summarize(plan, stats, interrupted=interrupted, loop=loop, workers=args.workers)
    if args.json:
        report["error_details"] = details
        env.stdout.write(json.dumps(report) + "\n")
    else:
        from wstool.ui.benchview import render_report

        console = make_console(args.color, env.stdout, no_color_env=env.no_color)
        console.print(render_report(report, details))
    env.stdout.flush()
    return _exit_status(report)


def _isatty(stream: Any) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):
        return False


def _execute(plan: Any, args: argparse.Namespace, progress: Any) -> tuple[Any, bool, str, Any]:
    if args.workers > 1:
        from wstool.bench.workers import run_workers

        result = run_workers(plan, args.workers, progress, event_loop=args.event_loop)
        return result.stats, result.interrupted, result.loop, result.details
    from wstool.bench.driver import run_plan

    bench_run, loop = run_plan(plan, progress, event_loop=args.event_loop)
    return bench_run.stats, bench_run.interrupted, loop, bench_run.details


def _exit_status(report: dict[str, Any]) -> int:
    if report["interrupted"]:
        return ExitStatus.INTERRUPTED
    if report["ok"]:
        return ExitStatus.OK
    if report["connections_opened"] == 0 and report.get("handshakes", 0) == 0:
        return ExitStatus.CONNECTION_FAILED
    return ExitStatus.ERROR
