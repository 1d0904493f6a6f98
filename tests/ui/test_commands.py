"""Tests of :mod:`wstool.ui.commands`: the REPL grammar, one typed line -> one command.

Each valid form of each command is checked against the command object it
must produce, and each syntax error against its one line of help: a user
who mistypes sees exactly one line and can try again.
"""

from __future__ import annotations

import pytest

from wstool.ui import commands as cmd
from wstool.ui.commands import (
    COMMANDS,
    Binary,
    Close,
    CommandSyntaxError,
    Forge,
    Fragment,
    Help,
    Ping,
    Pong,
    Quit,
    Raw,
    SendFile,
    Text,
    Verbosity,
    parse_line,
)

VALID: list[tuple[str, cmd.Command | None]] = [
    # Text messages and the // escape.
    ("hello", Text("hello")),
    ("  spaced  ", Text("  spaced  ")),
    ("héllo {json: 1}", Text("héllo {json: 1}")),
    ("//x", Text("/x")),
    ("//", Text("/")),
    ("///ping", Text("//ping")),
    ("", None),
    # /help
    ("/help", Help(None)),
    ("/?", Help(None)),
    ("/help ping", Help("ping")),
    ("/help /ping", Help("ping")),
    ("/HELP close", Help("close")),
    # /quit and its aliases
    ("/quit", Quit()),
    ("/exit", Quit()),
    ("/q", Quit()),
    # /ping, /pong
    ("/ping", Ping(b"")),
    ("/ping hi", Ping(b"hi")),
    ("/PING hi there", Ping(b"hi there")),
    ("/ping " + "x" * 125, Ping(b"x" * 125)),
    ("/ping " + "é" * 62, Ping("é".encode() * 62)),
    ("/pong", Pong(b"")),
    ("/pong beat", Pong(b"beat")),
    # /close
    ("/close", Close(1000, "")),
    ("/close 1001", Close(1001, "")),
    ("/close 4000 bye now", Close(4000, "bye now")),
    ("/close 1000   padded reason  ", Close(1000, "padded reason")),
    ("/close 0", Close(0, "")),
    ("/close 65535", Close(65535, "")),
    # /binary and aliases: separators and 0x prefixes are allowed
    ("/binary 00 ff", Binary(b"\x00\xff")),
    ("/binary 00ff10", Binary(b"\x00\xff\x10")),
    ("/bin 0x01,0x02", Binary(b"\x01\x02")),
    ("/hex de:ad:BE:EF", Binary(b"\xde\xad\xbe\xef")),
    # /base64
    ("/base64 aGk=", Binary(b"hi")),
    ("/b64 AAEC /w==", Binary(b"\x00\x01\x02\xff")),
    ("/base64", Binary(b"")),
    # /file
    ("/file data.bin", SendFile("data.bin", False)),
    ("/file --text notes.txt", SendFile("notes.txt", True)),
    ("/file notes.txt --text", SendFile("notes.txt", True)),
    ("/file my file.bin", SendFile("my file.bin", False)),
    ("/file my--textfile", SendFile("my--textfile", False)),
    # /fragment
    ("/fragment 3 hello", Fragment(3, "hello")),
    ("/frag 1 one frame", Fragment(1, "one frame")),
    ("/fragment 10000 x", Fragment(10000, "x")),
    # /forge
    ("/forge opcode=1 text=hi", Forge(opcode=1, payload=b"hi")),
    ("/forge opcode=text", Forge(opcode=1, payload=b"")),
    ("/forge opcode=PING text='a b'", Forge(opcode=9, payload=b"a b")),
    ("/forge opcode=continuation", Forge(opcode=0, payload=b"")),
    ("/forge opcode=close hex=03e8", Forge(opcode=8, payload=b"\x03\xe8")),
    ("/forge opcode=0x3", Forge(opcode=3, payload=b"")),
    ("/forge opcode=15", Forge(opcode=15, payload=b"")),
    (
        "/forge opcode=2 fin=0 rsv1=1 rsv2=on rsv3=true mask=off hex=00ff",
        Forge(
            opcode=2, payload=b"\x00\xff", fin=False, rsv1=True, rsv2=True, rsv3=True, mask=False
        ),
    ),
    ("/forge opcode=1 mask=on", Forge(opcode=1, payload=b"", mask=True)),
    (
        "/forge opcode=1 mask=37fa213d text=Hello",
        Forge(opcode=1, payload=b"Hello", mask=b"\x37\xfa\x21\x3d"),
    ),
    (
        "/forge opcode=1 length=200 bits=64",
        Forge(opcode=1, payload=b"", length=200, length_bits=64),
    ),
    ("/forge opcode=1 bits=16", Forge(opcode=1, payload=b"", length_bits=16)),
    ("/forge opcode=1 bits=7", Forge(opcode=1, payload=b"", length_bits=7)),
    ("/forge OPCODE=1 FIN=1", Forge(opcode=1, payload=b"", fin=True)),
    # /raw
    ("/raw 81 00", Raw(b"\x81\x00")),
    ("/raw 0x88,0x00", Raw(b"\x88\x00")),
    # views
    ("/verbose", Verbosity("verbose")),
    ("/normal", Verbosity("normal")),
    ("/quiet", Verbosity("quiet")),
    ("/QUIET", Verbosity("quiet")),
]


@pytest.mark.parametrize(("line", "expected"), VALID, ids=[repr(line)[:40] for line, _ in VALID])
def test_valid_line(line: str, expected: cmd.Command | None) -> None:
    """Each valid form of each command parses to exactly this command object."""
    assert parse_line(line) == expected


ERRORS: list[tuple[str, str]] = [
    ("/bogus", "unknown command /bogus (type /help; // sends a leading slash)"),
    ("/", "unknown command / (type /help; // sends a leading slash)"),
    ("/pingx", "unknown command /pingx (type /help; // sends a leading slash)"),
    (
        "/ping " + "x" * 126,
        "/ping: 126 bytes is over 125, the most a control frame carries "
        "(use /forge to send one anyway)",
    ),
    (
        "/ping " + "é" * 63,
        "/ping: 126 bytes is over 125, the most a control frame carries "
        "(use /forge to send one anyway)",
    ),
    (
        "/pong " + "y" * 200,
        "/pong: 200 bytes is over 125, the most a control frame carries "
        "(use /forge to send one anyway)",
    ),
    ("/close abc", "usage: /close [CODE] [REASON]"),
    ("/close -1", "usage: /close [CODE] [REASON]"),
    ("/close 0x3e8", "usage: /close [CODE] [REASON]"),
    ("/close 65536", "/close code: 65536 is not in 0-65535"),
    ("/binary", "usage: /binary HEX"),
    ("/binary zz", "/binary: 'zz' is not hex bytes (e.g. 81 05 48 65)"),
    ("/binary 0", "/binary: '0' is not hex bytes (e.g. 81 05 48 65)"),
    ("/hex 0g", "/binary: '0g' is not hex bytes (e.g. 81 05 48 65)"),
    ("/base64 !!", "/base64: '!!' is not base64"),
    ("/base64 aGk", "/base64: 'aGk' is not base64"),
    ("/file", "usage: /file PATH [--text]"),
    ("/file --text", "usage: /file PATH [--text]"),
    ("/fragment", "usage: /fragment N TEXT"),
    ("/fragment 3", "usage: /fragment N TEXT"),
    ("/fragment x hello", "usage: /fragment N TEXT"),
    ("/fragment -2 hello", "usage: /fragment N TEXT"),
    ("/fragment 0 hello", "/fragment N: 0 is not in 1-10000"),
    ("/fragment 10001 hello", "/fragment N: 10001 is not in 1-10000"),
    ("/forge", "/forge needs opcode=N (0-15, or text, binary, ping ...)"),
    ("/forge text=hi", "/forge needs opcode=N (0-15, or text, binary, ping ...)"),
    ("/forge opcode=1 fin", f"usage: {COMMANDS['forge'][0]}"),
    ("/forge opcode=16", "/forge opcode: 16 is not in 0-15"),
    ("/forge opcode=-1", "/forge opcode: -1 is not in 0-15"),
    ("/forge opcode=banana", "/forge opcode: 'banana' is not a number"),
    ("/forge opcode=1 text=a hex=00", "/forge: give text= or hex=, not both"),
    ("/forge opcode=1 hex=0q", "/forge hex: '0q' is not hex bytes (e.g. 81 05 48 65)"),
    ("/forge opcode=1 fin=2", "/forge fin: '2' is not 0 or 1"),
    ("/forge opcode=1 rsv1=maybe", "/forge rsv1: 'maybe' is not 0 or 1"),
    ("/forge opcode=1 rsv2=x", "/forge rsv2: 'x' is not 0 or 1"),
    ("/forge opcode=1 rsv3=x", "/forge rsv3: 'x' is not 0 or 1"),
    ("/forge opcode=1 mask=0102", "/forge mask: a key is 4 bytes (8 hex digits)"),
    ("/forge opcode=1 mask=zz", "/forge mask: 'zz' is not hex bytes (e.g. 81 05 48 65)"),
    ("/forge opcode=1 length=-1", "/forge length: -1 is not in 0-18446744073709551615"),
    ("/forge opcode=1 length=2**64", "/forge length: '2**64' is not a number"),
    ("/forge opcode=1 bits=8", "/forge bits: '8' is not 7, 16 or 64"),
    ("/forge opcode=1 color=red", f"/forge: unknown field color= ({COMMANDS['forge'][0]})"),
    ("/forge opcode=1 text='unclosed", "/forge: No closing quotation"),
    ("/raw", "usage: /raw HEX"),
    ("/raw 8", "/raw: '8' is not hex bytes (e.g. 81 05 48 65)"),
]


@pytest.mark.parametrize(("line", "message"), ERRORS, ids=[repr(line)[:40] for line, _ in ERRORS])
def test_syntax_error(line: str, message: str) -> None:
    """Each mistake raises CommandSyntaxError whose message is exactly one line of help."""
    with pytest.raises(CommandSyntaxError) as caught:
        parse_line(line)
    assert str(caught.value) == message
    assert "\n" not in str(caught.value)


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_listed_command_is_understood(name: str) -> None:
    """Every command /help lists is a command the parser knows (never 'unknown command')."""
    try:
        parse_line(f"/{name}")
    except CommandSyntaxError as exc:
        assert not str(exc).startswith("unknown command"), str(exc)
        assert str(exc).startswith(("usage: ", "/forge needs"))


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_usage_names_its_command(name: str) -> None:
    """Each help entry's usage starts with its own /name and has a one-line summary."""
    usage, summary = COMMANDS[name]
    assert usage.split()[0] == f"/{name}"
    assert summary
    assert "\n" not in usage + summary


def test_syntax_error_is_a_value_error() -> None:
    """CommandSyntaxError is a ValueError, so callers that catch ValueError still catch it."""
    assert issubclass(CommandSyntaxError, ValueError)


def test_base64_alias_is_binary() -> None:
    """/base64 produces the same command type as /binary: there is one way to send bytes."""
    assert cmd.Base64 is Binary
    assert parse_line("/base64 AP8=") == parse_line("/binary 00 ff")
