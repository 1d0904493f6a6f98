"""``wstool decode``: a dump of frames -> decoded, judged frames (rendered or NDJSON).

No Twisted on this path: decode starts fast.
"""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from typing import IO, Any

from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus
from wstool.cli.options import add_command, add_output_options

__all__ = ["add_parser", "run"]

_HELP = """\
Decode WebSocket frames from a hexdump and show every header field, the
payload unmasked (text, pretty JSON, or hex+ASCII for binary), close codes
and reasons, reassembled fragmented messages, and every RFC rule a frame
breaks, with the close code a peer would send. A packet capture printed by
tcpdump or tshark is split by connection and direction; an HTTP upgrade at
the start of a stream is shown and tells who sent it (and whether deflate
was agreed, for that connection). pcap and pcapng files (or a live tcpdump
-w - pipe) are reassembled by TCP sequence number: every WebSocket
connection's frames in capture order with timestamps, then a table of the
connections.
"""

_EPILOG = """\
input formats (detected on their own):
  plain hex          81 05 48 65 6c 6c 6f   or   810548656c6c6f
  colon hex          81:05:48:65:6c:6c:6f
  xxd                00000000: 8105 4865 6c6c 6f    ..Hello
  hexdump -C         00000000  81 05 48 65 6c 6c 6f   |..Hello|
  od -A x -t x1z     000000 81 05 48 65 6c 6c 6f   >..Hello<
  Wireshark          0000   81 05 48 65 6c 6c 6f    ..Hello   (Copy as Hex Dump)
  escapes            \\x81\\x05Hello   or   b'\\x81\\x05Hello'
  0x list            0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f
  tcpdump -X / -xx   packets with IP/TCP headers: payloads by connection and
                     direction; lines without them: the bytes as one stream
  tshark -x          the same; only the frames are read, not the data sources
                     tshark derives (reassembled, unmasked, decompressed)
  --base64, --raw    base64 text, or binary bytes as they are
  pcap, pcapng       capture files (both byte orders, us/ns; Ethernet, VLAN,
                     Linux cooked v1/v2, BSD loopback, raw IP), also live
                     from a pipe: every WebSocket connection found by its
                     HTTP upgrade, frames in capture order, then a summary
  session            a file from --record or import: shown as serve and
                     connect showed it live (--json: its records as they are)

examples:
  echo '81 05 48 65 6c 6c 6f' | wstool decode
  xxd capture.bin | wstool decode --direction server
  wstool decode --raw capture.bin --json | jq .opcode_name
  sudo tcpdump -i lo -X port 8080 > dump.txt; wstool decode dump.txt
  wstool decode --deflate compressed.hex
  sudo tcpdump -i any -w ws.pcap port 8765; wstool decode ws.pcap --conn 2
  sudo tcpdump -U --immediate-mode -w - -i lo port 8765 | wstool decode -

exit statuses: 0 no violation, 1 violations found or a frame cut short,
2 unreadable input or bad usage.
"""


def add_parser(commands: Any) -> None:
    """Add ``decode`` to the subcommands."""
    decode = add_command(
        commands,
        "decode",
        help="decode frames from a hexdump",
        description=_HELP,
        epilog=_EPILOG,
    )
    decode.add_argument(
        "file", nargs="?", default="-", metavar="FILE", help="the dump to read (default: stdin)"
    )
    kind = decode.add_mutually_exclusive_group()
    kind.add_argument("--base64", action="store_true", help="the input is base64")
    kind.add_argument("--raw", action="store_true", help="the input is binary, as on the wire")
    decode.add_argument(
        "--direction",
        choices=("client", "server"),
        help="who sent the frames: a client must mask, a server must not "
        "(default: inferred from the handshake or the MASK bits, and said)",
    )
    decode.add_argument(
        "--deflate",
        action="store_true",
        help="inflate RSV1 (permessage-deflate) messages, keeping context across messages; "
        "on by itself when a captured 101 response agreed on it",
    )
    decode.add_argument(
        "--no-context-takeover",
        action="store_true",
        help="with --deflate: every message was compressed on its own",
    )
    decode.add_argument("--json", action="store_true", help="print one JSON object per line")
    decode.add_argument(
        "--time",
        choices=("absolute", "relative", "delta"),
        default="relative",
        help="pcap/pcapng: timestamps as UTC time of day, seconds since the first packet "
        "(default) or since the previous line",
    )
    decode.add_argument(
        "--conn",
        type=int,
        metavar="N",
        help="pcap/pcapng: show only connection N (see the summary)",
    )
    decode.add_argument(
        "--full", action="store_true", help="show whole payloads (default: the first 1024 bytes)"
    )
    add_output_options(decode)
    decode.set_defaults(run=run)


def _open_input(path: str, env: Environment) -> Any:
    """The input as a binary stream (None: a text-only stdin, read with :func:`_read_text`)."""
    if path == "-":
        source: Any = getattr(env.stdin, "buffer", None)
        if source is not None and env.stdin_isatty:
            env.stderr.write("wstool decode: reading the dump from the terminal; end with Ctrl-D\n")
        return source
    try:
        return open(path, "rb")
    except OSError as exc:
        raise CommandError(f"cannot read {path!r}: {exc.strerror}", ExitStatus.USAGE) from exc


def _read_head(stream: Any, size: int) -> bytes:
    """Up to ``size`` bytes, without waiting for more than that on a pipe."""
    head = b""
    while len(head) < size:
        chunk = stream.read(size - len(head))
        if not chunk:
            break
        head += chunk
    return head


def _read_input(path: str, env: Environment) -> tuple[bytes, Any]:
    """The whole input, or a capture's first bytes and its stream (read as packets arrive)."""
    from wstool.capture.pcapfile import is_capture_magic

    stream = _open_input(path, env)
    if stream is None:
        return env.stdin.read().encode("utf-8", "surrogateescape"), None
    capture = False
    try:
        head = _read_head(stream, 4)
        capture = is_capture_magic(head)
        data: bytes = head if capture else head + stream.read()
    except OSError as exc:
        raise CommandError(f"cannot read {path!r}: {exc.strerror}", ExitStatus.USAGE) from exc
    finally:
        if path != "-" and not capture:
            stream.close()
    return data, stream if capture else None


def run(args: argparse.Namespace, env: Environment) -> int:
    """Decode the dump named by ``args.file``; 0 clean, 1 violations or cut, 2 unreadable."""
    from wstool import capture
    from wstool.core.frames import Role
    from wstool.core.inspect import inspect_streams

    raw, stream = _read_input(args.file, env)
    if stream is not None:
        from wstool.cli.decode_capture import run_capture

        try:
            return run_capture(raw, stream, args, env)
        finally:
            if args.file != "-":
                stream.close()
    from wstool.session.format import looks_like_session

    if not args.raw and looks_like_session(raw[:256]):
        from wstool.cli.sessions import decode_session

        return decode_session(raw, args, env)
    try:
        if args.raw:
            dump = capture.read_raw(raw)
        else:
            text = raw.decode("utf-8", "replace")
            dump = capture.read_base64(text) if args.base64 else capture.read_dump(text)
    except capture.DumpError as exc:
        hint = " (it looks binary: --raw reads bytes as on the wire)" if _binary(raw) else ""
        raise CommandError(f"unreadable input: {exc}{hint}", ExitStatus.USAGE) from exc
    sender = Role(args.direction) if args.direction else None
    deflate = None
    if args.deflate or args.no_context_takeover:
        from wstool.core.deflate import DeflateParams

        flag = args.no_context_takeover
        deflate = DeflateParams(server_no_context_takeover=flag, client_no_context_takeover=flag)
    reports = inspect_streams(dump.streams(), sender=sender, deflate=deflate)
    problems = sum(len(r.violations) for _, _, r in reports)
    problems += sum(1 for _, _, r in reports if r.truncated)
    if args.json:
        _print_json(reports, dump.notes, env.stdout)
    else:
        print_reports(reports, dump.format, dump.notes, args, env)
    return ExitStatus.ERROR if problems else ExitStatus.OK


def _binary(data: bytes) -> bool:
    """Whether input that failed as a text dump looks like raw bytes instead."""
    head = data[:4096]
    if b"\x00" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 3  # not just a character cut at the 4 KiB mark
    return False


def _print_json(reports: Sequence[Any], notes: Sequence[str], stdout: IO[str]) -> None:
    from wstool.ui.render import report_records
    from wstool.ui.sanitize import json_line

    for note in notes:
        stdout.write(json_line({"type": "note", "message": note}))
    for source, destination, report in reports:
        for record in report_records(report, source=source, destination=destination):
            stdout.write(json_line(record))


def print_reports(
    reports: Sequence[Any],
    format_name: str,
    notes: Sequence[str],
    args: argparse.Namespace,
    env: Environment,
) -> None:
    from rich.text import Text

    from wstool.ui.console import make_console
    from wstool.ui.render import print_block, report_blocks, report_text

    console = make_console(args.color, env.stdout, no_color_env=env.no_color)
    frames = sum(len(r.frames) for _, _, r in reports)
    found = sum(len(r.violations) for _, _, r in reports)
    console.print(Text(f"read as {format_name}", "ws.note"))
    for note in notes:
        console.print(Text(f"note: {note}", "ws.note"))
    limit = None if args.full else 1024
    if console.color_system is None and not console.is_terminal:
        # A file or a pipe without colour: frames go straight to text, no renderable each.
        write = console.file.write
        for source, destination, report in reports:
            for text in report_text(report, source=source, destination=destination, limit=limit):
                write(text)
    else:
        for source, destination, report in reports:
            for block in report_blocks(report, source=source, destination=destination, limit=limit):
                print_block(console, block)
    summary = Text(f"{frames} frame{'s' * (frames != 1)}, ")
    if found:
        summary.append(f"{found} violation{'s' * (found != 1)}", "ws.violation")
    else:
        summary.append("no violations", "ws.ok")
    cut = sum(1 for _, _, r in reports if r.truncated)
    if cut:
        # A cut frame fails the decode (exit 1) as a violation does: say so.
        summary.append(f", {cut} stream{'s' * (cut != 1)} cut short", "ws.violation")
    console.print(summary)
