"""``wstool serve``'s fault injection and mock rules: the options and the behaviour they make.

``add_fault_options`` and ``add_rules_options`` add the option groups;
:func:`rules_behaviour` reads and checks ``--rules FILE`` (one error line,
exit 2, before anything listens) and :func:`with_faults` wraps whatever
answers the clients (rules, a program, or the echo) in the faults asked for.
"""

from __future__ import annotations

import argparse
from typing import Any

from wstool.cli.errors import CommandError, ExitStatus

__all__ = [
    "add_fault_options",
    "add_rules_options",
    "faults_from",
    "rules_behaviour",
    "with_faults",
]


def _count(text: str) -> int:
    if not text.isdigit():
        raise argparse.ArgumentTypeError(f"{text!r} is not a count (0 or more)")
    return int(text)


def _frames(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of frames (1 or more)")
    return int(text)


def _milliseconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value <= 3_600_000:
        raise argparse.ArgumentTypeError(f"{text!r} is not a delay in milliseconds (0 to 3600000)")
    return value


def _rate(text: str) -> int:
    from wstool.cli.options import size

    try:
        value = size(text.removesuffix("/s"))
    except argparse.ArgumentTypeError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a rate such as 1024 or 64KiB")
    return value


def _close_code(text: str) -> int:
    from wstool.core.rules import is_valid_close_code

    if not text.isdigit() or not is_valid_close_code(int(text)):
        # RFC 6455 §7.4: 1005, 1006 and 1015 must never be sent; 1004 and
        # 1016-2999 are reserved; 3000-4999 belong to libraries and applications.
        raise argparse.ArgumentTypeError(
            f"{text!r} is not a close code a server may send (1000-1003, 1007-1014, 3000-4999)"
        )
    return int(text)


def add_fault_options(parser: argparse.ArgumentParser) -> None:
    """The group "fault injection (for testing clients)"."""
    group = parser.add_argument_group(
        "fault injection (for testing clients)",
        "Misbehave on purpose, on every connection; with --rules or --exec the faults "
        "apply to their replies. Each fault says so in the log when it takes effect.",
    )
    group.add_argument(
        "--inhibit-pongs",
        type=_count,
        metavar="N",
        help="answer N Pings, then no more (tests a client's keepalive timeout)",
    )
    group.add_argument(
        "--delay",
        type=_milliseconds,
        default=0.0,
        metavar="MS",
        help="hold each echo or reply this long (order kept)",
    )
    group.add_argument(
        "--close-after",
        type=_count,
        metavar="N",
        help="after N messages, Close with --close-code (after the answers ready by then: "
        "a program's later output is not waited for)",
    )
    group.add_argument(
        "--close-code",
        type=_close_code,
        metavar="CODE",
        help="the code for --close-after (default: 1000)",
    )
    group.add_argument(
        "--drop-after",
        type=_count,
        metavar="N",
        help="after N messages (and the answers ready by then), cut TCP without a Close",
    )
    group.add_argument(
        "--slow-read",
        type=_rate,
        metavar="BYTES/S",
        help="read from each client at most this fast (64KiB/s ...): its sends back up",
    )
    group.add_argument(
        "--fragment",
        type=_frames,
        default=1,
        metavar="N",
        help="send each echo or reply in N frames",
    )


def add_rules_options(parser: argparse.ArgumentParser) -> None:
    """The group "mock rules"."""
    group = parser.add_argument_group(
        "mock rules",
        "Fake a backend: a YAML or JSON file of on_connect messages and rules (match a JSON "
        "field, a regex or a hex prefix; reply, delay, close); see examples/mock-rules.yaml.",
    )
    group.add_argument(
        "--rules",
        metavar="FILE",
        help="answer clients by the rules in FILE (first match wins; others echoed unless "
        "echo_unmatched: false)",
    )


def faults_from(args: argparse.Namespace) -> Any:
    """The :class:`wstool.mock.faults.Faults` asked for, or ``None`` for none."""
    counts = (args.inhibit_pongs, args.close_after, args.drop_after, args.slow_read)
    asked = any(count is not None for count in counts) or args.delay > 0 or args.fragment > 1
    if args.close_code is not None and args.close_after is None:
        raise CommandError("--close-code goes with --close-after N", ExitStatus.USAGE)
    if not asked:
        return None
    if args.replay or args.mode != "echo":
        what = "--replay" if args.replay else f"--mode {args.mode}"
        raise CommandError(
            f"fault injection works on echoes, --rules and --exec, not with {what}",
            ExitStatus.USAGE,
        )
    from wstool.mock.faults import Faults

    return Faults(
        inhibit_pongs=args.inhibit_pongs,
        delay=args.delay / 1000,
        close_after=args.close_after,
        close_code=1000 if args.close_code is None else args.close_code,
        drop_after=args.drop_after,
        slow_read=args.slow_read,
        fragment=args.fragment,
    )


def rules_behaviour(args: argparse.Namespace) -> Any:
    """The behaviour factory of ``--rules FILE`` (read and checked now), or ``None``.

    Raises:
        CommandError: an unreadable or invalid file (one line naming the line
            or key), or --rules beside --exec, --replay or --mode broadcast.
    """
    if args.rules is None:
        return None
    others = [flag for flag, given in _answerers(args) if given]
    if others:
        raise CommandError(
            f"--rules, --exec and --replay each answer the clients: give one, not --rules and "
            f"{others[0]}",
            ExitStatus.USAGE,
        )
    if args.mode != "echo":
        raise CommandError("--rules answers each client itself: leave out --mode", ExitStatus.USAGE)
    from wstool.mock.rules import RulesError, load_rules
    from wstool.net.mockserve import rules_factory

    try:
        with open(args.rules, "rb") as file:
            raw = file.read()
    except OSError as exc:
        raise CommandError(f"cannot read {args.rules!r}: {exc.strerror}", ExitStatus.USAGE) from exc
    try:
        text = raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise CommandError(f"{args.rules}: not UTF-8 (byte {exc.start})", ExitStatus.USAGE) from exc
    try:
        rules = load_rules(text, args.rules)
    except RulesError as exc:
        raise CommandError(f"{args.rules}: {exc}", ExitStatus.USAGE) from exc
    return rules_factory(rules)


def _answerers(args: argparse.Namespace) -> list[tuple[str, bool]]:
    return [
        ("--exec", bool(getattr(args, "exec_command", None))),
        ("--replay", bool(args.replay)),
    ]


def with_faults(args: argparse.Namespace, inner: Any) -> Any:
    """``inner`` (a behaviour factory, or ``None`` for the echo) with the faults asked for."""
    faults = faults_from(args)
    if faults is None:
        return inner
    from wstool.net.faults import with_faults as wrap

    return wrap(faults, inner)
