"""The interactive client: a prompt_toolkit session on the reactor's asyncio loop.

Frames print above the prompt (``patch_stdout(raw=True)``, so rich's colours
survive) while a line is being typed. The REPL drives a :class:`ClientSession`
it declares here; ``wstool.cli`` plugs in the network's.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any, Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.completion import CompleteEvent, Completer, Completion
from prompt_toolkit.document import Document
from prompt_toolkit.history import FileHistory, History, InMemoryHistory
from prompt_toolkit.key_binding import KeyBindings, KeyPressEvent
from prompt_toolkit.patch_stdout import patch_stdout
from rich.console import Console
from rich.text import Text

from wstool.core.errors import UsageError
from wstool.core.frames import FrameParser, Opcode, forge_frame
from wstool.ui import commands as cmd
from wstool.ui.render import frame_header
from wstool.ui.traffic import Detail, TrafficLog

__all__ = ["VIEWS", "ClientSession", "execute", "history_path", "run_repl"]

VIEWS = {"quiet": Detail.MESSAGES, "normal": Detail.FRAMES, "verbose": Detail.BITS}
"""The traffic log's level for each of ``/quiet``, ``/normal`` and ``/verbose``."""


class ClientSession(Protocol):
    """What the REPL needs of a live connection."""

    @property
    def is_open(self) -> bool:
        """Whether messages can still be sent."""
        ...

    def send_text(self, text: str) -> None: ...
    def send_binary(self, data: bytes) -> None: ...
    def send_fragments(self, opcode: int, parts: Sequence[bytes]) -> None: ...
    def ping(self, data: bytes = b"") -> None: ...
    def pong(self, data: bytes = b"") -> None: ...
    def close(self, code: int | None = 1000, reason: str = "") -> None: ...
    def send_raw(self, data: bytes) -> None: ...
    def answer_pings(self, on: bool) -> None: ...


def history_path() -> Path:
    """Where the REPL keeps its history: ``$XDG_STATE_HOME/wstool/history``."""
    state = os.environ.get("XDG_STATE_HOME") or os.path.join(Path.home(), ".local", "state")
    return Path(state) / "wstool" / "history"


def _history(path: Path | None) -> History:
    if path is None:
        return InMemoryHistory()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(exist_ok=True)
    except OSError:
        return InMemoryHistory()
    return FileHistory(str(path))


class _CommandCompleter(Completer):
    """Completes ``/commands`` at the start of a line."""

    def get_completions(
        self, document: Document, complete_event: CompleteEvent
    ) -> Iterable[Completion]:
        text = document.text_before_cursor
        if not text.startswith("/") or " " in text:
            return
        for name, (_usage, summary) in cmd.COMMANDS.items():
            if ("/" + name).startswith(text):
                yield Completion("/" + name, start_position=-len(text), display_meta=summary)


def _split(text: str, count: int) -> list[bytes]:
    """``text`` as ``count`` UTF-8 chunks, cut only between characters."""
    data = text.encode("utf-8")
    count = max(1, min(count, len(text) or 1))
    size = -(-len(text) // count)
    return [text[i : i + size].encode("utf-8") for i in range(0, len(text), size)] or [data]


def help_text(topic: str | None) -> Text:
    """The help: every command, or one."""
    text = Text()
    if topic is not None and topic in cmd.COMMANDS:
        usage, summary = cmd.COMMANDS[topic]
        text.append(usage, "ws.opcode")
        text.append(f"\n  {summary}")
        return text
    text.append("Type a line to send it as a text message (// sends a leading /).\n", "ws.note")
    for usage, summary in cmd.COMMANDS.values():
        text.append(f"{usage}\n", "ws.opcode")
        text.append(f"    {summary}\n", "ws.dim")
    text.append("Esc Enter inserts a new line; Ctrl-D closes and quits.", "ws.note")
    return text


def execute(
    command: cmd.Command, session: ClientSession, log: TrafficLog, console: Console
) -> bool:
    """Carry out one command; returns False when the REPL should end.

    Raises:
        UsageError: when the connection refuses (closing, a code that may
            not be sent ...); the message is one line.
        OSError: when /file cannot read its file.
    """
    if isinstance(command, cmd.Quit):
        return False
    if isinstance(command, cmd.Help):
        console.print(help_text(command.topic))
    elif isinstance(command, cmd.Verbosity):
        log.level = VIEWS[command.view]
        console.print(Text(f"frame view: {command.view}", "ws.note"))
    elif isinstance(command, cmd.Text):
        session.send_text(command.text)
    elif isinstance(command, cmd.Binary):
        session.send_binary(command.data)
    elif isinstance(command, cmd.Ping):
        session.ping(command.data)
    elif isinstance(command, cmd.Pong):
        session.pong(command.data)
    elif isinstance(command, cmd.PongMode):
        session.answer_pings(command.on)
        state = "answered" if command.on else "left unanswered (a fault, on purpose)"
        console.print(Text(f"the server's Pings are {state}", "ws.note"))
    elif isinstance(command, cmd.Close):
        session.close(command.code, command.reason)
    elif isinstance(command, cmd.SendFile):
        data = Path(command.path).expanduser().read_bytes()
        if command.as_text:
            try:
                session.send_text(data.decode("utf-8"))
            except UnicodeDecodeError as exc:
                raise UsageError(f"{command.path} is not UTF-8 (byte {exc.start})") from None
        else:
            session.send_binary(data)
    elif isinstance(command, cmd.Fragment):
        session.send_fragments(Opcode.TEXT, _split(command.text, command.count))
    elif isinstance(command, cmd.Forge):
        key = os.urandom(4) if command.mask is True else command.mask or None
        forged = forge_frame(
            opcode=command.opcode,
            payload=command.payload,
            fin=command.fin,
            rsv1=command.rsv1,
            rsv2=command.rsv2,
            rsv3=command.rsv3,
            mask_key=key if isinstance(key, bytes) else None,
            length=command.length,
            length_bits=command.length_bits,
        )
        session.send_raw(forged)
        _show_written(forged, console)
    elif isinstance(command, cmd.Raw):
        session.send_raw(command.data)
        _show_written(command.data, console)
    return True


def _show_written(data: bytes, console: Console) -> None:
    """Say what raw or forged bytes are as frames (they bypass the connection's log)."""
    parser = FrameParser()
    shown = 0
    for frame in parser.feed(data):
        line = Text("> ", "ws.out")
        line.append("forged ", "ws.violation")
        line.append_text(frame_header(frame, verbose=True))
        console.print(line)
        shown += frame.size
    if shown < len(data):
        console.print(
            Text(f"> {len(data) - shown} raw bytes that are not a whole frame", "ws.note")
        )


def _bindings() -> KeyBindings:
    bindings = KeyBindings()

    @bindings.add("escape", "enter")
    def _newline(event: KeyPressEvent) -> None:
        event.current_buffer.insert_text("\n")

    return bindings


async def _ask(prompt: PromptSession[str]) -> str | None:
    """One line from the prompt, or None for Ctrl-C.

    KeyboardInterrupt must not leave this coroutine: an asyncio task that
    raises it re-raises it out of the event loop itself (the reactor), which
    would skip the 1001 Close and the summary.
    """
    try:
        return await prompt.prompt_async("ws> ")
    except KeyboardInterrupt:
        return None


async def run_repl(
    session: ClientSession,
    log: TrafficLog,
    console: Console,
    closed: asyncio.Future[Any],
    *,
    history: Path | None = None,
    prompt_input: Any = None,
    prompt_output: Any = None,
    close_wait: float = 5.0,
) -> str:
    """Read lines and commands until the user leaves or the connection closes.

    Args:
        session: the live connection.
        log: the frame view (``/verbose`` and ``/quiet`` change its level).
        console: where help and errors go.
        closed: done when the connection is gone.
        history: the history file (``None``: in memory only).
        prompt_input: a prompt_toolkit input, for tests (default: the terminal).
        prompt_output: a prompt_toolkit output, for tests.
        close_wait: seconds to wait for the closing handshake on leaving.

    Returns:
        How it ended: ``"quit"`` (/quit or Ctrl-D), ``"interrupt"`` (Ctrl-C)
        or ``"closed"`` (the connection closed first).
    """
    prompt: PromptSession[str] = PromptSession(
        history=_history(history),
        completer=_CommandCompleter(),
        complete_while_typing=True,
        key_bindings=_bindings(),
        input=prompt_input,
        output=prompt_output,
    )
    how = "closed"
    with patch_stdout(raw=True):
        while not closed.done():
            asking = asyncio.ensure_future(_ask(prompt))
            done, _ = await asyncio.wait({asking, closed}, return_when=asyncio.FIRST_COMPLETED)
            if asking not in done:
                asking.cancel()
                break
            try:
                line = asking.result()
            except EOFError:
                how = "quit"
                break
            if line is None:
                how = "interrupt"
                break
            try:
                command = cmd.parse_line(line)
                if command is not None and not execute(command, session, log, console):
                    how = "quit"
                    break
            except cmd.CommandSyntaxError as exc:
                console.print(Text(str(exc), "ws.violation"))
            except UsageError as exc:
                console.print(Text(f"cannot: {exc}", "ws.violation"))
            except OSError as exc:
                console.print(Text(f"cannot read {exc.filename}: {exc.strerror}", "ws.violation"))
        if how != "closed" and session.is_open:
            session.close(1000 if how == "quit" else 1001, "")
        if not closed.done():
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(asyncio.shield(closed), close_wait)
    return how
