"""Tests of :mod:`wstool.cli`: ``wstool decode`` in-process, streams and exit status captured."""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from wstool import __version__
from wstool.cli import ExitStatus, main

EXAMPLES = Path(__file__).resolve().parent.parent / "examples"
RFC_EXAMPLES = EXAMPLES / "rfc6455-examples.hex"
SESSION = EXAMPLES / "session.tcpdump"

# RFC 6455 §5.7: a single-frame unmasked text message ("Hello") and the masked one.
HELLO = "81 05 48 65 6c 6c 6f"
MASKED_HELLO = "81 85 37 fa 21 3d 7f 9f 4d 51 58"
# RFC 7692 §7.2.3.1: "Hello" compressed; §7.2.3.2: a second "Hello" that
# refers back into the LZ77 window the first one left.
DEFLATE_HELLO = "c1 07 f2 48 cd c9 c9 07 00"
DEFLATE_HELLO_AGAIN = "c1 05 f2 00 11 00 00"

FRAME_FIELDS = {
    "type",
    "offset",
    "fin",
    "rsv1",
    "rsv2",
    "rsv3",
    "opcode",
    "opcode_name",
    "masked",
    "mask_key",
    "length",
    "length_bits",
    "payload_hex",
    "violations",
    "sender",
    "source",
    "destination",
}
VIOLATION_FIELDS = {"rule", "message", "section", "close_code", "offset"}


@dataclass(frozen=True)
class Run:
    """What one in-process run of wstool left behind."""

    status: int
    stdout: str
    stderr: str

    def records(self) -> list[dict[str, Any]]:
        """stdout as NDJSON, one object a line, notes from the dump reader left out."""
        records = [json.loads(line) for line in self.stdout.splitlines()]
        return [r for r in records if r["type"] != "note"]


class TerminalOutput(io.StringIO):
    """A stdout that says it is a terminal."""

    def isatty(self) -> bool:
        return True


class ClosedPipe(io.StringIO):
    """A stdout whose reader has gone away, as after ``| head``."""

    def write(self, text: str) -> int:
        raise BrokenPipeError(32, "Broken pipe")


def wstool(*argv: str, stdin: bytes | str = b"", stdout: io.StringIO | None = None) -> Run:
    """Run ``wstool ARGV`` with ``stdin`` piped in (not a terminal)."""
    data = stdin.encode() if isinstance(stdin, str) else stdin
    out = io.StringIO() if stdout is None else stdout
    err = io.StringIO()
    status = main(list(argv), stdout=out, stderr=err, stdin=io.TextIOWrapper(io.BytesIO(data)))
    return Run(status, out.getvalue() if not isinstance(out, ClosedPipe) else "", err.getvalue())


@pytest.fixture(autouse=True)
def plain_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Colour depends on the environment: start every test from a known one."""
    for name in ("NO_COLOR", "FORCE_COLOR", "TTY_COMPATIBLE", "TTY_INTERACTIVE", "COLUMNS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("TERM", "xterm-256color")


def assert_one_line_error(run: Run, status: int = ExitStatus.USAGE) -> None:
    """A failure the user sees: its status, one line on stderr, no traceback, no data."""
    assert run.status == status
    assert run.stderr.endswith("\n")
    assert run.stderr.count("\n") == 1, run.stderr
    assert "Traceback" not in run.stderr
    assert run.stdout == ""


class TestExitStatusOK:
    """0: every frame read and no rule broken."""

    def test_rfc_examples_file(self) -> None:
        """The RFC 6455 §5.7 examples decode cleanly, every frame and the message shown."""
        run = wstool("decode", str(RFC_EXAMPLES))
        assert run.status == ExitStatus.OK
        assert run.stderr == ""
        assert run.stdout == (
            "read as plain hex\n"
            "sent by the server (inferred: no frame is masked)\n"
            "@0x0000 TEXT         FIN rsv=000 unmasked len=5 (7-bit)\n"
            "  Hello\n"
            "@0x0007 TEXT         --- rsv=000 unmasked len=3 (7-bit)\n"
            "  Hel\n"
            "@0x000c CONTINUATION FIN rsv=000 unmasked len=2 (7-bit)\n"
            "  lo\n"
            "  ⤷ message TEXT from @0x0007: 5 bytes in 2 frames\n"
            "    Hello\n"
            "@0x0010 PING         FIN rsv=000 unmasked len=5 (7-bit)\n"
            "  Hello\n"
            "@0x0017 CLOSE        FIN rsv=000 unmasked len=5 (7-bit)\n"
            "  1000 NORMAL_CLOSURE reason 'bye'\n"
            "5 frames, no violations\n"
        )

    def test_rfc_examples_from_stdin(self) -> None:
        """Without a file, or with ``-``, the dump is read from stdin."""
        text = RFC_EXAMPLES.read_text()
        by_file = wstool("decode", str(RFC_EXAMPLES))
        assert wstool("decode", stdin=text) == by_file
        assert wstool("decode", "-", stdin=text) == by_file

    def test_masked_client_frame(self) -> None:
        """RFC 6455 §5.7 masked "Hello": sent by a client, key shown, payload unmasked."""
        run = wstool("decode", stdin=MASKED_HELLO)
        assert run.status == ExitStatus.OK
        assert run.stdout.splitlines()[1:] == [
            "sent by the client (inferred: every frame is masked)",
            "@0x0000 TEXT         FIN rsv=000 mask=37fa213d len=5 (7-bit)",
            "  Hello",
            "1 frame, no violations",
        ]


class TestExitStatusViolations:
    """1: a rule broken, or the last frame cut short; said on stdout, not stderr."""

    def test_unmasked_frame_from_a_client(self) -> None:
        """``--direction client`` makes an unmasked frame a §5.1 violation."""
        run = wstool("decode", "--direction", "client", stdin=HELLO)
        assert run.status == ExitStatus.ERROR
        assert run.stderr == ""
        assert run.stdout.splitlines()[1:] == [
            "sent by the client (as given)",
            "@0x0000 TEXT         FIN rsv=000 unmasked len=5 (7-bit)",
            "  Hello",
            "  ✗ @0x0001 mask-required: a client frame is not masked (RFC 6455 §5.1; close 1002)",
            "1 frame, 1 violation",
        ]

    def test_masked_frame_from_a_server(self) -> None:
        """``--direction server`` makes a masked frame a §5.1 violation."""
        run = wstool("decode", "--direction", "server", stdin=MASKED_HELLO)
        assert run.status == ExitStatus.ERROR
        assert "  ✗ @0x0001 mask-forbidden: a server frame is masked" in run.stdout

    def test_same_frame_right_direction(self) -> None:
        """The direction that fits the MASK bit finds nothing."""
        assert wstool("decode", "--direction", "server", stdin=HELLO).status == ExitStatus.OK
        run = wstool("decode", "--direction", "client", stdin=MASKED_HELLO)
        assert run.status == ExitStatus.OK

    def test_reserved_opcode(self) -> None:
        """Opcode 0x3 is reserved (§5.2)."""
        run = wstool("decode", stdin="83 00")
        assert run.status == ExitStatus.ERROR
        assert run.stderr == ""
        assert "✗ @0x0000 reserved-opcode: opcode 0x3 is reserved (RFC 6455 §5.2; close 1002)" in (
            run.stdout
        )
        assert run.stdout.endswith("1 frame, 1 violation\n")

    def test_truncated_last_frame(self) -> None:
        """A last frame cut short fails, and the summary says why."""
        run = wstool("decode", stdin=HELLO + " 81 05 48 65")
        assert run.status == ExitStatus.ERROR
        assert run.stderr == ""
        assert run.stdout.splitlines()[-2:] == [
            "@0x0007 truncated: the last frame needs 7 bytes, 4 present, 3 missing",
            "1 frame, no violations, 1 stream cut short",
        ]

    def test_frame_after_close(self) -> None:
        """A data frame after a Close breaks §5.5.1."""
        run = wstool("decode", stdin="88 02 03 e8 " + HELLO)
        assert run.status == ExitStatus.ERROR
        assert (
            "  ✗ @0x0004 frame-after-close: TEXT frame after the Close frame at offset 0 "
            "(RFC 6455 §5.5.1; close 1002)\n"
        ) in run.stdout


class TestExitStatusUsage:
    """2: bad usage or unreadable input, said in one line on stderr, never a traceback."""

    @pytest.mark.parametrize(
        "stdin", ["hello world\n", "", "\n\n", "zz zz"], ids=["words", "empty", "blank", "zz"]
    )
    def test_unreadable_input(self, stdin: str) -> None:
        """Text that is no dump at all is refused."""
        run = wstool("decode", stdin=stdin)
        assert_one_line_error(run)
        assert run.stderr.startswith("wstool decode: unreadable input: ")

    def test_binary_input_suggests_raw(self) -> None:
        """Bytes that are no text dump get a hint to read them with --raw; --raw reads them."""
        frame = bytes.fromhex("810548656c6c6f") + b"\x00\xff\xfe"
        run = wstool("decode", stdin=frame)
        assert_one_line_error(run)
        assert run.stderr.endswith("(it looks binary: --raw reads bytes as on the wire)\n")
        raw = wstool("decode", "--raw", "--json", stdin=frame)
        assert raw.records()[0]["text"] == "Hello"

    def test_text_input_gets_no_binary_hint(self) -> None:
        """A text dump that fails is not called binary."""
        run = wstool("decode", stdin="zz zz")
        assert "looks binary" not in run.stderr

    def test_missing_file(self, tmp_path: Path) -> None:
        """A file that does not exist is named in the error."""
        missing = tmp_path / "missing.hex"
        run = wstool("decode", str(missing))
        assert_one_line_error(run)
        assert run.stderr == (
            f"wstool decode: cannot read {str(missing)!r}: No such file or directory\n"
        )

    def test_directory(self, tmp_path: Path) -> None:
        """A directory is not a dump."""
        run = wstool("decode", str(tmp_path))
        assert_one_line_error(run)
        assert run.stderr.startswith(f"wstool decode: cannot read {str(tmp_path)!r}: ")

    def test_bad_option(self) -> None:
        """An unknown option is one line pointing at the command's own --help."""
        run = wstool("decode", "--bogus", stdin=HELLO)
        assert_one_line_error(run)
        assert run.stderr == (
            "wstool decode: error: unrecognized arguments: --bogus (see 'wstool decode --help')\n"
        )

    def test_bad_option_before_the_command(self) -> None:
        """An unknown option before any command points at wstool --help."""
        run = wstool("--bogus", "decode", stdin=HELLO)
        assert_one_line_error(run)
        assert (
            run.stderr == "wstool: error: unrecognized arguments: --bogus (see 'wstool --help')\n"
        )

    def test_direction_sideways(self) -> None:
        """``--direction`` takes client or server only."""
        run = wstool("decode", "--direction", "sideways", stdin=HELLO)
        assert_one_line_error(run)
        assert run.stderr.startswith(
            "wstool decode: error: argument --direction: invalid choice: 'sideways'"
        )
        assert run.stderr.endswith("(see 'wstool decode --help')\n")

    @pytest.mark.parametrize(
        "argv",
        [
            ["decode", "--raw", "--base64"],
            ["decode", "--color", "rainbow"],
            ["decode", "a.hex", "b.hex"],
            ["frobnicate"],
        ],
    )
    def test_other_usage_errors(self, argv: list[str]) -> None:
        """Conflicting flags, bad choices, extra arguments and unknown commands."""
        assert_one_line_error(wstool(*argv, stdin=HELLO))

    def test_bad_base64(self) -> None:
        """``--base64`` with text that is not base64."""
        run = wstool("decode", "--base64", stdin="!!!not base64!!!")
        assert_one_line_error(run)
        assert run.stderr.startswith("wstool decode: unreadable input: ")


class TestInternalError:
    """A bug of ours is one line too, with the traceback only on --debug."""

    @pytest.fixture
    def broken(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """Make the stream inspector fail as a bug would."""

        def fail(*args: object, **kwargs: object) -> None:
            raise RuntimeError("boom")

        monkeypatch.setattr("wstool.core.inspect.inspect_streams", fail)

    @pytest.mark.usefixtures("broken")
    def test_one_line(self) -> None:
        """Status 1 and one line naming the exception."""
        run = wstool("decode", stdin=HELLO)
        assert_one_line_error(run, ExitStatus.ERROR)
        assert run.stderr == (
            "wstool decode: internal error: RuntimeError: boom (--debug shows more)\n"
        )

    @pytest.mark.usefixtures("broken")
    @pytest.mark.parametrize("argv", [["--debug", "decode"], ["decode", "--debug"]])
    def test_debug_shows_traceback(self, argv: list[str]) -> None:
        """``--debug``, before or after the command, adds the traceback."""
        run = wstool(*argv, stdin=HELLO)
        assert run.status == ExitStatus.ERROR
        assert run.stderr.startswith("Traceback (most recent call last):\n")
        assert run.stderr.endswith(
            "wstool decode: internal error: RuntimeError: boom (--debug shows more)\n"
        )


class TestJson:
    """``--json``: one JSON object a line, with every documented field."""

    def test_rfc_examples(self) -> None:
        """Frames and the reassembled message, in stream order, every field present."""
        run = wstool("decode", "--json", str(RFC_EXAMPLES))
        assert run.status == ExitStatus.OK
        assert run.stderr == ""
        records = run.records()
        assert [r["type"] for r in records] == [
            "frame",
            "frame",
            "frame",
            "message",
            "frame",
            "frame",
        ]
        assert records[0] == {
            "type": "frame",
            "offset": 0,
            "fin": True,
            "rsv1": False,
            "rsv2": False,
            "rsv3": False,
            "opcode": 1,
            "opcode_name": "TEXT",
            "masked": False,
            "mask_key": None,
            "length": 5,
            "length_bits": 7,
            "payload_hex": "48656c6c6f",
            "text": "Hello",
            "violations": [],
            "sender": "server",
            "source": None,
            "destination": None,
        }
        for record in records:
            if record["type"] == "frame":
                assert record.keys() >= FRAME_FIELDS
        assert records[3] == {
            "type": "message",
            "offset": 7,
            "opcode": 1,
            "frames": 2,
            "compressed": False,
            "wire_size": 5,
            "size": 5,
            "payload_hex": "48656c6c6f",
            "text": "Hello",
            "sender": "server",
            "source": None,
            "destination": None,
        }
        close = records[5]
        assert (close["close_code"], close["close_code_name"], close["close_reason"]) == (
            1000,
            "NORMAL_CLOSURE",
            "bye",
        )

    def test_masked_frame(self) -> None:
        """A masked frame gives its key, and the payload unmasked."""
        (record,) = wstool("decode", "--json", stdin=MASKED_HELLO).records()
        assert (record["masked"], record["mask_key"]) == (True, "37fa213d")
        assert (record["payload_hex"], record["text"]) == ("48656c6c6f", "Hello")
        assert record["sender"] == "client"

    def test_frame_violations(self) -> None:
        """A frame's violations are in its record, with every field."""
        run = wstool("decode", "--json", "--direction", "client", stdin=HELLO)
        assert run.status == ExitStatus.ERROR
        (record,) = run.records()
        assert record["violations"] == [
            {
                "rule": "mask-required",
                "message": "a client frame is not masked",
                "section": "RFC 6455 §5.1",
                "close_code": 1002,
                "offset": 1,
            }
        ]

    def test_sequence_violation_record(self) -> None:
        """A rule broken by the order of frames is a record of its own."""
        run = wstool("decode", "--json", stdin="80 02 6c 6f")
        assert run.status == ExitStatus.ERROR
        frame, violation = run.records()
        assert frame["opcode_name"] == "CONTINUATION"
        assert violation == {
            "type": "violation",
            "rule": "continuation-unexpected",
            "message": "continuation frame with no message to continue",
            "section": "RFC 6455 §5.4",
            "close_code": 1002,
            "offset": 0,
            "sender": "server",
            "source": None,
            "destination": None,
        }
        assert violation.keys() >= VIOLATION_FIELDS

    def test_truncated_record(self) -> None:
        """A cut last frame is a record saying what is missing."""
        run = wstool("decode", "--json", stdin="81 05 48 65")
        assert run.status == ExitStatus.ERROR
        assert run.records() == [
            {
                "type": "truncated",
                "offset": 0,
                "have": 4,
                "need": 7,
                "missing": 3,
                "sender": None,
                "source": None,
                "destination": None,
            }
        ]

    def test_handshake_records(self) -> None:
        """A capture's HTTP heads are records with their endpoints and headers."""
        run = wstool("decode", "--json", str(SESSION))
        assert run.status == ExitStatus.OK
        heads = [r for r in run.records() if r["type"] == "handshake"]
        assert [(h["kind"], h["first_line"]) for h in heads] == [
            ("request", "GET /chat HTTP/1.1"),
            ("response", "HTTP/1.1 101 Switching Protocols"),
        ]
        assert heads[0]["source"] == heads[1]["destination"] == "127.0.0.1:47032"
        assert heads[0]["destination"] == heads[1]["source"] == "127.0.0.1:8765"
        assert ["Upgrade", "websocket"] in heads[0]["headers"]
        assert (heads[0]["sender"], heads[1]["sender"]) == ("client", "server")

    def test_hostile_text_escaped(self) -> None:
        """Peer text with ESC, CSI (U+009B) and RLO round-trips but is never raw in the output."""
        text = "\x1b[2J\u009b2J\u202eabc"
        payload = text.encode()
        dump = f"81 {len(payload):02x} " + payload.hex(" ")
        run = wstool("decode", "--json", stdin=dump)
        assert run.status == ExitStatus.OK
        for raw in ("\x1b", "\u009b", "\u202e"):
            assert raw not in run.stdout
        assert "\\u001b[2J\\u009b2J\\u202eabc" in run.stdout
        (record,) = run.records()
        assert record["text"] == text


class TestInputFlags:
    """``--raw`` and ``--base64`` read the bytes as they are."""

    def test_raw_stdin(self) -> None:
        """Binary bytes on stdin, not valid UTF-8, decode with ``--raw``."""
        run = wstool("decode", "--raw", "--json", stdin=bytes.fromhex("8202ff00"))
        assert run.status == ExitStatus.OK
        (record,) = run.records()
        assert (record["opcode_name"], record["payload_hex"]) == ("BINARY", "ff00")

    def test_raw_file(self, tmp_path: Path) -> None:
        """A binary file decodes with ``--raw``."""
        path = tmp_path / "frames.bin"
        path.write_bytes(bytes.fromhex(MASKED_HELLO))
        run = wstool("decode", "--raw", str(path))
        assert run.status == ExitStatus.OK
        assert run.stdout.splitlines()[0] == "read as raw"
        assert "  Hello\n" in run.stdout

    def test_base64(self) -> None:
        """Base64 of the RFC masked "Hello" decodes with ``--base64``."""
        run = wstool("decode", "--base64", stdin="gYU3+iE9f59NUVg=\n")
        assert run.status == ExitStatus.OK
        assert run.stdout.splitlines()[0] == "read as base64"
        assert "@0x0000 TEXT         FIN rsv=000 mask=37fa213d len=5 (7-bit)\n  Hello\n" in (
            run.stdout
        )

    def test_full(self) -> None:
        """Payloads are cut at 1024 characters unless ``--full``."""
        payload = b"a" * 1100
        dump = "81 7e 04 4c " + payload.hex()
        cut = wstool("decode", stdin=dump)
        assert "  " + "a" * 1024 + " … 76 more characters\n" in cut.stdout
        full = wstool("decode", "--full", stdin=dump)
        assert "  " + "a" * 1100 + "\n" in full.stdout


class TestDeflate:
    """``--deflate`` and ``--no-context-takeover`` (RFC 7692)."""

    def test_rfc7692_hello(self) -> None:
        """RFC 7692 §7.2.3.1 inflates to "Hello"."""
        run = wstool("decode", "--deflate", stdin=DEFLATE_HELLO)
        assert run.status == ExitStatus.OK
        assert run.stderr == ""
        assert run.stdout == (
            "read as plain hex\n"
            "sent by the server (inferred: no frame is masked)\n"
            "@0x0000 TEXT         FIN rsv=100 unmasked len=7 (7-bit)\n"
            "  7 compressed bytes\n"
            "  ⤷ message TEXT from @0x0000: 5 bytes, inflated from 7\n"
            "    Hello\n"
            "1 frame, no violations\n"
        )

    def test_without_deflate_rsv1_is_a_violation(self) -> None:
        """Without ``--deflate`` the same frame breaks §5.2, and nothing crashes."""
        run = wstool("decode", stdin=DEFLATE_HELLO)
        assert run.status == ExitStatus.ERROR
        assert run.stderr == ""
        assert run.stdout.splitlines()[2:] == [
            "@0x0000 TEXT         FIN rsv=100 unmasked len=7 (7-bit)",
            "  7 compressed bytes",
            "  ✗ @0x0000 reserved-bits: RSV1 is set but no extension was negotiated "
            "(RFC 6455 §5.2; close 1002)",
            "1 frame, 1 violation",
        ]

    def test_context_takeover(self) -> None:
        """RFC 7692 §7.2.3.2: the second message uses the first one's window."""
        run = wstool(
            "decode", "--deflate", "--json", stdin=f"{DEFLATE_HELLO} {DEFLATE_HELLO_AGAIN}"
        )
        assert run.status == ExitStatus.OK
        texts = [r["text"] for r in run.records() if r["type"] == "message"]
        assert texts == ["Hello", "Hello"]

    def test_no_context_takeover(self) -> None:
        """With ``--no-context-takeover`` that back-reference cannot be inflated: 1007."""
        run = wstool(
            "decode",
            "--no-context-takeover",
            "--json",
            stdin=f"{DEFLATE_HELLO} {DEFLATE_HELLO_AGAIN}",
        )
        assert run.status == ExitStatus.ERROR
        records = run.records()
        assert [r["text"] for r in records if r["type"] == "message"] == ["Hello"]
        (violation,) = [r for r in records if r["type"] == "violation"]
        assert (violation["rule"], violation["close_code"], violation["offset"]) == (
            "inflate",
            1007,
            9,
        )

    def test_deflate_agreed_in_capture(self) -> None:
        """A captured 101 that agreed on deflate turns inflating on by itself."""
        run = wstool("decode", "--json", str(EXAMPLES / "session-deflate.tcpdump"))
        assert run.status == ExitStatus.OK
        texts = [r.get("text") for r in run.records() if r["type"] == "message"]
        assert texts.count("fragmented message") == 2
        assert texts.count("Hello, wstool!") == 2


class TestColour:
    """Colour on a terminal, off when piped or with NO_COLOR; ``--color`` beats both."""

    def test_auto_on_a_terminal(self) -> None:
        """``--color auto`` on a terminal styles the output."""
        run = wstool("decode", stdin=HELLO, stdout=TerminalOutput())
        assert "\x1b[" in run.stdout

    def test_auto_when_piped(self) -> None:
        """``--color auto`` (the default) on a pipe writes no escape sequence."""
        run = wstool("decode", "--color", "auto", stdin=HELLO)
        assert run.status == ExitStatus.OK
        assert "\x1b" not in run.stdout

    def test_no_color(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """NO_COLOR turns ``--color auto`` off, even on a terminal."""
        monkeypatch.setenv("NO_COLOR", "1")
        for stdout in (io.StringIO(), TerminalOutput()):
            run = wstool("decode", "--color", "auto", stdin=HELLO, stdout=stdout)
            assert "\x1b" not in run.stdout
            assert "  Hello\n" in run.stdout

    def test_always_beats_no_color(self, monkeypatch: pytest.MonkeyPatch) -> None:
        """``--color always`` styles piped output even with NO_COLOR set."""
        monkeypatch.setenv("NO_COLOR", "1")
        run = wstool("decode", "--color", "always", stdin=HELLO)
        assert "\x1b[" in run.stdout

    def test_never_on_a_terminal(self) -> None:
        """``--color never`` writes no escape sequence, even on a terminal."""
        run = wstool("decode", "--color", "never", stdin=HELLO, stdout=TerminalOutput())
        assert "\x1b" not in run.stdout


class TestHostileText:
    """A peer's ESC sequences are shown, never sent to the terminal."""

    CLEAR = "\x1b[2J"

    def frames(self) -> str:
        """A text frame and a Close whose reason both hold ESC[2J."""
        text = f"hi{self.CLEAR}".encode()
        reason = b"\x03\xe8" + self.CLEAR.encode()
        return f"81 {len(text):02x} {text.hex()} 88 {len(reason):02x} {reason.hex()}"

    def test_never(self) -> None:
        """With ``--color never`` no ESC byte at all; the escape is shown as text."""
        run = wstool("decode", "--color", "never", stdin=self.frames())
        assert run.status == ExitStatus.OK
        assert "\x1b" not in run.stdout
        assert "  hi\\x1b[2J\n" in run.stdout
        assert "  1000 NORMAL_CLOSURE reason '\\x1b[2J'\n" in run.stdout

    def test_always(self) -> None:
        """With colour on, the peer's sequence still never reaches the terminal."""
        run = wstool("decode", "--color", "always", stdin=self.frames())
        assert self.CLEAR not in run.stdout
        assert "\\x1b[2J" in run.stdout


class TestBrokenPipe:
    """A reader that goes away (``| head``) ends the run quietly."""

    @pytest.mark.parametrize("argv", [["decode"], ["decode", "--json"]])
    def test_quiet(self, argv: list[str]) -> None:
        """Status 0, nothing on stderr, for the text and the JSON output alike."""
        run = wstool(*argv, stdin=HELLO, stdout=ClosedPipe())
        assert (run.status, run.stderr) == (ExitStatus.OK, "")


class TestHelp:
    """Help and version."""

    def test_main_help(self) -> None:
        """``wstool --help`` lists the commands and the exit statuses."""
        run = wstool("--help")
        assert (run.status, run.stderr) == (ExitStatus.OK, "")
        assert run.stdout.startswith("usage: wstool")
        for text in ("decode", "connect", "serve", "exit statuses:", "2  bad usage"):
            assert text in run.stdout

    def test_decode_help(self) -> None:
        """``wstool decode --help`` lists the input formats, examples and exit statuses."""
        run = wstool("decode", "--help")
        assert (run.status, run.stderr) == (ExitStatus.OK, "")
        assert run.stdout.startswith("usage: wstool decode")
        for text in (
            "xxd",
            "hexdump -C",
            "od -A x -t x1z",
            "Wireshark",
            "tcpdump -X",
            "--base64",
            "--raw",
            "--direction {client,server}",
            "--deflate",
            "--no-context-takeover",
            "--json",
            "exit statuses: 0 no violation, 1 violations found or a frame cut short,",
            "2 unreadable input or bad usage.",
        ):
            assert text in run.stdout, text

    def test_no_command(self) -> None:
        """Plain ``wstool`` prints the help and exits 2."""
        run = wstool()
        assert run.status == ExitStatus.USAGE
        assert run.stdout.startswith("usage: wstool")
        assert "exit statuses:" in run.stdout

    def test_version(self) -> None:
        """``wstool --version`` prints the version."""
        run = wstool("--version")
        assert (run.status, run.stdout, run.stderr) == (
            ExitStatus.OK,
            f"wstool {__version__}\n",
            "",
        )


def test_decode_and_help_load_no_event_loop(tmp_path: Path) -> None:
    """decode and --help start fast: no Twisted, asyncio, ssl or dpkt is imported for them."""
    import subprocess
    import sys

    dump = tmp_path / "one.hex"
    dump.write_text("81 05 48 65 6c 6c 6f\n")
    code = (
        "import sys, contextlib, io\n"
        "from wstool.cli import main\n"
        "with contextlib.redirect_stdout(io.StringIO()):\n"
        f"    main(['decode', {str(dump)!r}])\n"
        "    with contextlib.suppress(SystemExit):\n"
        "        main(['--help'])\n"
        "heavy = ('asyncio', 'twisted', 'ssl', 'dpkt')\n"
        "print(sorted(m for m in heavy if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip().splitlines()[-1] == "[]"
