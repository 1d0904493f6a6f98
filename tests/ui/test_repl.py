"""Tests of :mod:`wstool.ui.repl`: the prompt loop in-process on a plain asyncio loop.

Keys go in through prompt_toolkit's ``create_pipe_input()``, the screen goes to
``DummyOutput()``, and the connection is a fake :class:`ClientSession` (the
REPL's own Protocol) that records every call. Help, errors and notes go to a
rich console writing into a string, so what the user is told can be read.
"""

from __future__ import annotations

import asyncio
import io
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import pytest
from prompt_toolkit.input import create_pipe_input
from prompt_toolkit.input.base import PipeInput
from prompt_toolkit.output import DummyOutput
from rich.console import Console

from wstool.core.errors import UsageError
from wstool.ui import commands as cmd
from wstool.ui.repl import VIEWS, help_text, history_path, run_repl
from wstool.ui.traffic import Detail, TrafficLog

TIMEOUT = 10.0
ENTER = "\r"
CTRL_C = "\x03"
CTRL_D = "\x04"


class FakeSession:
    """A ClientSession that records calls; ``close`` answers at once, like a polite server.

    Args:
        closed: the future the REPL watches; ``close`` resolves it.
        refuse: method names that raise UsageError, as a closing connection would.
    """

    def __init__(self, closed: asyncio.Future[Any], refuse: Sequence[str] = ()) -> None:
        self.calls: list[tuple[Any, ...]] = []
        self.closed = closed
        self.refuse = set(refuse)
        self.open = True

    @property
    def is_open(self) -> bool:
        return self.open

    def _record(self, *call: Any) -> None:
        if call[0] in self.refuse:
            raise UsageError(f"{call[0]} refused: the connection is closing")
        self.calls.append(call)

    def send_text(self, text: str) -> None:
        self._record("send_text", text)

    def send_binary(self, data: bytes) -> None:
        self._record("send_binary", data)

    def send_fragments(self, opcode: int, parts: Sequence[bytes]) -> None:
        self._record("send_fragments", opcode, list(parts))

    def ping(self, data: bytes = b"") -> None:
        self._record("ping", data)

    def pong(self, data: bytes = b"") -> None:
        self._record("pong", data)

    def close(self, code: int | None = 1000, reason: str = "") -> None:
        self._record("close", code, reason)
        self.open = False
        if not self.closed.done():
            self.closed.get_loop().call_soon(self.closed.set_result, None)

    def send_raw(self, data: bytes) -> None:
        self._record("send_raw", data)


class Harness:
    """One REPL run: the pipe input, the fake session, the console text and the outcome."""

    def __init__(self, pipe: PipeInput, tmp_path: Path) -> None:
        self.pipe = pipe
        self.buffer = io.StringIO()
        self.console = Console(file=self.buffer, width=400, color_system=None, force_terminal=False)
        self.log = TrafficLog(self.console, level=Detail.FRAMES, show_ids=False)
        self.history = tmp_path / "state" / "wstool" / "history"
        self.session: FakeSession | None = None

    @property
    def shown(self) -> str:
        """Everything the REPL printed on its console."""
        return self.buffer.getvalue()

    def run(
        self,
        keys: str,
        *,
        refuse: Sequence[str] = (),
        during: Callable[[FakeSession, asyncio.Future[Any]], Any] | None = None,
        close_wait: float = 5.0,
    ) -> str:
        """Type ``keys`` and run the REPL until it returns; return how it ended."""

        async def main() -> str:
            closed: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
            self.session = FakeSession(closed, refuse)
            if keys:
                self.pipe.send_text(keys)
            if during is not None:
                during(self.session, closed)
            return await run_repl(
                self.session,
                self.log,
                self.console,
                closed,
                history=self.history,
                prompt_input=self.pipe,
                prompt_output=DummyOutput(),
                close_wait=close_wait,
            )

        return asyncio.run(asyncio.wait_for(main(), TIMEOUT))

    @property
    def calls(self) -> list[tuple[Any, ...]]:
        assert self.session is not None
        return self.session.calls


@pytest.fixture
def repl(tmp_path: Path) -> Iterator[Harness]:
    """A harness with a fresh pipe input, closed at teardown."""
    with create_pipe_input() as pipe:
        yield Harness(pipe, tmp_path)


def lines(*typed: str) -> str:
    return "".join(line + ENTER for line in typed)


def test_typed_text_is_sent(repl: Harness) -> None:
    """A line that is not a command is sent as a text message, exactly as typed."""
    how = repl.run(lines("hello", "  two words ", "héllo ✓") + CTRL_D)
    assert how == "quit"
    assert repl.calls[:3] == [
        ("send_text", "hello"),
        ("send_text", "  two words "),
        ("send_text", "héllo ✓"),
    ]


def test_double_slash_sends_a_leading_slash(repl: Harness) -> None:
    """``//x`` is the text message "/x", not a command."""
    repl.run(lines("//x", "//help") + CTRL_D)
    assert repl.calls[:2] == [("send_text", "/x"), ("send_text", "/help")]


def test_empty_line_sends_nothing(repl: Harness) -> None:
    """Enter on an empty line sends nothing at all (an empty message needs /forge)."""
    repl.run(lines("", "", "x") + CTRL_D)
    assert repl.calls == [("send_text", "x"), ("close", 1000, "")]


def test_commands_call_the_session(repl: Harness, tmp_path: Path) -> None:
    """Each sending command calls the matching session method with the parsed payload."""
    data_file = tmp_path / "payload.bin"
    data_file.write_bytes(b"\x00\x01binary")
    text_file = tmp_path / "note.txt"
    text_file.write_text("note ✓", encoding="utf-8")
    repl.run(
        lines(
            "/ping hi",
            "/pong beat",
            "/binary 00 ff",
            "/base64 aGk=",
            "/fragment 3 abcdef",
            f"/file {data_file}",
            f"/file --text {text_file}",
            "/raw 89 00",
            "/close 4000 going away",
        )
    )
    assert repl.calls == [
        ("ping", b"hi"),
        ("pong", b"beat"),
        ("send_binary", b"\x00\xff"),
        ("send_binary", b"hi"),
        ("send_fragments", 1, [b"ab", b"cd", b"ef"]),
        ("send_binary", b"\x00\x01binary"),
        ("send_text", "note ✓"),
        ("send_raw", b"\x89\x00"),
        ("close", 4000, "going away"),
    ]


def test_close_command_ends_when_the_connection_closes(repl: Harness) -> None:
    """After /close the REPL keeps reading until the server's answer closes the connection."""
    how = repl.run(lines("/close"))
    assert how == "closed"
    assert repl.calls == [("close", 1000, "")]


def test_forge_writes_exact_bytes_and_shows_them(repl: Harness) -> None:
    """/forge with a pinned mask writes the exact frame bytes and says they were forged."""
    repl.run(lines("/forge opcode=1 rsv2=1 mask=37fa213d text=Hello") + CTRL_D)
    # RFC 6455 §5.7: "A single-frame masked text message" (with RSV2 set on purpose).
    assert repl.calls[0] == ("send_raw", bytes.fromhex("a1 85 37 fa 21 3d 7f 9f 4d 51 58"))
    assert "forged" in repl.shown
    assert "rsv=010" in repl.shown


def test_forge_unmasked_and_raw_partial_frame(repl: Harness) -> None:
    """An unmasked forged frame is written without a key; raw bytes short of a frame are noted."""
    repl.run(lines("/forge opcode=ping mask=off text=x", "/raw 81") + CTRL_D)
    assert repl.calls[:2] == [("send_raw", b"\x89\x01x"), ("send_raw", b"\x81")]
    assert "1 raw bytes that are not a whole frame" in repl.shown


def test_bad_syntax_prints_one_line_and_continues(repl: Harness) -> None:
    """A mistyped command prints its one line of help; the next line is still sent."""
    how = repl.run(lines("/bogus", "/binary zz", "after") + CTRL_D)
    assert how == "quit"
    shown = repl.shown.splitlines()
    assert shown == [
        "unknown command /bogus (type /help; // sends a leading slash)",
        "/binary: 'zz' is not hex bytes (e.g. 81 05 48 65)",
    ]
    assert repl.calls == [("send_text", "after"), ("close", 1000, "")]


def test_refused_send_prints_cannot_and_continues(repl: Harness) -> None:
    """A send the connection refuses (UsageError) prints one 'cannot:' line; the REPL goes on."""
    how = repl.run(lines("/ping x", "still here") + CTRL_D, refuse=["ping"])
    assert how == "quit"
    assert "cannot: ping refused: the connection is closing" in repl.shown
    assert repl.calls[0] == ("send_text", "still here")


def test_unreadable_file_prints_one_line(repl: Harness, tmp_path: Path) -> None:
    """/file of a missing path says it cannot read it, in one line, and nothing is sent."""
    missing = tmp_path / "missing.bin"
    repl.run(lines(f"/file {missing}") + CTRL_D)
    assert f"cannot read {missing}: No such file or directory" in repl.shown
    assert repl.calls == [("close", 1000, "")]


def test_file_as_text_must_be_utf8(repl: Harness, tmp_path: Path) -> None:
    """/file --text of bytes that are not UTF-8 is refused with the offending byte's offset."""
    path = tmp_path / "latin1.txt"
    path.write_bytes(b"ab\xe9")
    repl.run(lines(f"/file --text {path}") + CTRL_D)
    assert f"cannot: {path} is not UTF-8 (byte 2)" in repl.shown
    assert repl.calls == [("close", 1000, "")]


def test_verbosity_commands_change_the_log(repl: Harness) -> None:
    """/verbose, /quiet and /normal switch the traffic log's level and say so."""
    levels: list[Detail] = []
    repl.run(lines("/verbose") + CTRL_D)
    levels.append(repl.log.level)
    assert "frame view: verbose" in repl.shown
    repl.run(lines("/quiet") + CTRL_D)
    levels.append(repl.log.level)
    repl.run(lines("/normal") + CTRL_D)
    levels.append(repl.log.level)
    assert levels == [Detail.BITS, Detail.MESSAGES, Detail.FRAMES]
    assert "frame view: quiet" in repl.shown
    assert "frame view: normal" in repl.shown


@pytest.mark.parametrize("first", ["/quiet", "/normal", "/verbose"])
@pytest.mark.parametrize("second", ["/quiet", "/normal", "/verbose"])
def test_views_move_freely(repl: Harness, first: str, second: str) -> None:
    """Any view can follow any other, and frames stay recorded so they can come back.

    ``connect -q`` starts at MESSAGES; the connection decides once, when it
    opens, whether to report frames, so every REPL view must want them.
    """
    repl.log.level = Detail.MESSAGES
    repl.run(lines(first, second) + CTRL_D)
    assert repl.log.level is VIEWS[second.lstrip("/")]
    assert repl.log.wants_frames


def test_help_lists_every_command(repl: Harness) -> None:
    """/help prints every command's usage; /help ping prints only that one."""
    repl.run(lines("/help") + CTRL_D)
    for usage, _ in cmd.COMMANDS.values():
        assert usage.split()[0] in repl.shown
    assert repl.calls == [("close", 1000, "")]
    one = help_text("ping").plain
    assert one.startswith("/ping [TEXT]")
    assert "/close" not in one


def test_ctrl_d_closes_with_1000_and_returns_quit(repl: Harness) -> None:
    """Ctrl-D on an empty prompt closes with 1000 and run_repl returns "quit"."""
    how = repl.run(CTRL_D)
    assert how == "quit"
    assert repl.calls == [("close", 1000, "")]


def test_quit_command_closes_with_1000(repl: Harness) -> None:
    """/quit does what Ctrl-D does: close with 1000, return "quit"; later lines are not sent."""
    how = repl.run(lines("/quit", "never sent"))
    assert how == "quit"
    assert repl.calls == [("close", 1000, "")]


def test_ctrl_c_closes_with_1001_and_returns_interrupt(repl: Harness) -> None:
    """Ctrl-C leaves with "interrupt" after a 1001 (going away) close."""
    how = repl.run(CTRL_C)
    assert how == "interrupt"
    assert repl.calls == [("close", 1001, "")]


def test_closed_future_ends_the_loop(repl: Harness) -> None:
    """When the connection closes on its own, run_repl returns "closed" and sends no Close."""

    def server_closes(session: FakeSession, closed: asyncio.Future[Any]) -> None:
        def close() -> None:
            session.open = False
            closed.set_result(None)

        closed.get_loop().call_later(0.05, close)

    how = repl.run("", during=server_closes)
    assert how == "closed"
    assert repl.calls == []


def test_no_close_when_already_closed(repl: Harness) -> None:
    """Ctrl-D on a connection that is no longer open does not try to send a Close."""

    def gone(session: FakeSession, closed: asyncio.Future[Any]) -> None:
        session.open = False

    how = repl.run(CTRL_D, during=gone, close_wait=0.05)
    assert how == "quit"
    assert repl.calls == []


def test_leaving_waits_at_most_close_wait(repl: Harness) -> None:
    """A server that never answers our Close does not keep the REPL past close_wait."""

    def never_answers(session: FakeSession, closed: asyncio.Future[Any]) -> None:
        session.closed = closed.get_loop().create_future()  # close() resolves a decoy

    how = repl.run(CTRL_D, during=never_answers, close_wait=0.1)
    assert how == "quit"
    assert repl.calls == [("close", 1000, "")]


def test_history_file_is_written(repl: Harness) -> None:
    """Typed lines go to the history file, which is created with its directory."""
    repl.run(lines("first", "/ping second") + CTRL_D)
    saved = repl.history.read_text(encoding="utf-8")
    assert "+first" in saved
    assert "+/ping second" in saved


def test_history_path_honours_xdg_state_home(monkeypatch: pytest.MonkeyPatch) -> None:
    """history_path() is $XDG_STATE_HOME/wstool/history, or ~/.local/state/... without it."""
    monkeypatch.setenv("XDG_STATE_HOME", "/tmp/xdg-state")
    assert history_path() == Path("/tmp/xdg-state/wstool/history")
    monkeypatch.delenv("XDG_STATE_HOME")
    assert history_path() == Path.home() / ".local" / "state" / "wstool" / "history"
