"""``wstool decode`` of a pcap or pcapng capture: packets -> connections -> events, as read.

The file (or a live ``tcpdump -U -w -`` pipe) is read record by record: memory holds the
packets waiting behind a hole and the frames in flight, not the capture. Ctrl-C ends a live
decode with the summary.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import Any

from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus

__all__ = ["run_capture"]


def run_capture(head: bytes, stream: Any, args: argparse.Namespace, env: Environment) -> int:
    """Decode a capture whose first bytes ``head`` were read from ``stream``; the exit status."""
    from wstool.capture.connections import CaptureDecoder
    from wstool.capture.dump import DumpError
    from wstool.capture.pcap import describe_binary
    from wstool.capture.pcapfile import (
        ByteSource,
        CaptureComment,
        CapturePacket,
        read_capture,
    )
    from wstool.ui.captures import CapturePrinter, Clock

    source = ByteSource(stream, head)
    try:
        records = read_capture(source)
    except DumpError as exc:
        raise CommandError(f"unreadable input: {exc}", ExitStatus.USAGE) from exc
    printer = _printer(args, env, CapturePrinter, Clock, grouped=_regular_file(stream))
    described = describe_binary(source.head) or "a capture"
    printer.line(f"read as {described.removeprefix('a ')}")
    decoder = CaptureDecoder()
    cut = False
    try:
        for record in records:
            if isinstance(record, CapturePacket):
                if printer.clock.start is None:
                    printer.clock.start = record.time  # relative times count from here
                for event in decoder.packet(record):
                    printer.event(event)
            elif isinstance(record, CaptureComment):
                printer.line(record.text)
            else:
                cut = True
                printer.line(f"the capture is cut short: {record.text}", "ws.violation")
            if source.drained:
                printer.flush()  # a live capture: show what this packet completed
    except KeyboardInterrupt:
        printer.line("interrupted: the summary of what was read")
    for event in decoder.finish():
        printer.event(event)
    listed = [c for c in decoder.connections if c.listed]
    printer.summary(listed, _others(decoder))
    printer.flush()
    problems = sum(c.client.violations + c.server.violations for c in listed)
    return ExitStatus.ERROR if problems or cut else ExitStatus.OK


def _printer(
    args: argparse.Namespace, env: Environment, printer: Any, clock: Any, grouped: bool
) -> Any:
    limit = None if args.full else 1024
    if args.json:
        return printer(None, env.stdout, clock(args.time), limit, args.conn)
    from wstool.ui.console import make_console

    console = make_console(args.color, env.stdout, no_color_env=env.no_color)
    return printer(console, env.stdout, clock(args.time), limit, args.conn, grouped)


def _regular_file(stream: Any) -> bool:
    """Whether the capture is a file read to its end (its output grouped by connection),
    rather than a pipe that may be live (its events shown as they come)."""
    import os
    import stat

    try:
        return stat.S_ISREG(os.fstat(stream.fileno()).st_mode)
    except (AttributeError, OSError, ValueError):
        return False


def _others(decoder: Any) -> str:
    """What the capture held besides the connections listed, in one line."""
    parts: list[str] = []
    others: Sequence[Any] = [c for c in decoder.connections if not c.listed]
    if others:
        parts.append(
            f"{len(others)} other TCP connection{'s' * (len(others) != 1)} (not WebSocket)"
        )
    skipped = sum(decoder.skipped.values())
    if skipped:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(decoder.skipped.items()))
        parts.append(f"{skipped} packet{'s' * (skipped != 1)} skipped ({reasons})")
    return "; ".join(parts)
