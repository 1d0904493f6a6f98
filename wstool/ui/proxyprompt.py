"""``wstool proxy``'s prompt: steer live connections while their traffic scrolls above.

Runs on the reactor's asyncio loop, as the ``connect`` REPL does, and drives
a :class:`ProxySteering` it declares here (``wstool.cli`` plugs in the
network's). Commands name a side as the destination: ``/inject server
hello`` sends "hello" to the server (masked), ``/hold client`` keeps what
goes to the client until ``/release``.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
from dataclasses import dataclass
from typing import Any, Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout
from rich.console import Console
from rich.text import Text

from wstool.core.errors import UsageError
from wstool.core.frames import Opcode, Role
from wstool.ui.traffic import Detail, TrafficLog

__all__ = ["HELP", "ProxyCommand", "ProxySteering", "execute", "parse", "run_proxy_prompt"]

HELP = """\
/conns                              the open connections
/inject [N] client|server TEXT      a text message to that side (masked to the server)
/binary [N] client|server HEX       a binary message (also /base64 ... BASE64)
/ping [N] client|server [TEXT]      a Ping (/pong likewise)
/close [N] client|server [CODE [REASON]]   a Close frame
/forge [N] client|server HEX        bytes written as they are (any frame you build)
/hold [N] client|server             keep what goes to that side; /release [N] [client|server]
/drop, /edit                        (relay mode cannot; the reason is given)
/quiet /normal /verbose             how much traffic is shown; /help; /quit (or Ctrl-D)
N is the connection's number; it may be left out while only one is open. Frames go in
at the next frame boundary (data frames not inside a fragmented message), uncompressed."""

_SIDES = {"client": Role.CLIENT, "server": Role.SERVER}
_SENDS = {"inject": Opcode.TEXT, "binary": Opcode.BINARY, "base64": Opcode.BINARY}
_SENDS.update({"ping": Opcode.PING, "pong": Opcode.PONG, "close": Opcode.CLOSE})
_VIEWS = {"quiet": Detail.CLOSES, "normal": Detail.FRAMES, "verbose": Detail.BITS}


class ProxySteering(Protocol):
    """What the prompt needs of the proxy's live connections."""

    def connections(self) -> list[dict[str, Any]]: ...
    def inject(self, conn_id: int | None, toward: Role, opcode: int, payload: bytes) -> str: ...
    def inject_raw(self, conn_id: int | None, toward: Role, data: bytes) -> str: ...
    def hold(self, conn_id: int | None, toward: Role) -> str: ...
    def release(self, conn_id: int | None, toward: Role | None) -> str: ...
    def edit(self, conn_id: int | None) -> str: ...


@dataclass(frozen=True)
class ProxyCommand:
    """One parsed prompt line.

    Attributes:
        name: the command, without its slash.
        conn: the connection's number, if given.
        side: the destination side, if given.
        payload: the bytes to send (inject, binary, ping, close, forge).
    """

    name: str
    conn: int | None = None
    side: Role | None = None
    payload: bytes = b""


def _payload(name: str, rest: str) -> bytes:
    if name in ("binary", "forge"):
        try:
            return bytes.fromhex("".join(rest.split()))
        except ValueError:
            raise UsageError(f"/{name}: {rest!r} is not hex") from None
    if name == "base64":
        try:
            return base64.b64decode("".join(rest.split()), validate=True)
        except (binascii.Error, ValueError):
            raise UsageError(f"/base64: {rest!r} is not base64") from None
    if name == "close":
        if not rest:
            return b""
        code_text, _, reason = rest.partition(" ")
        if not code_text.isdigit() or not 0 <= int(code_text) <= 0xFFFF:
            raise UsageError(f"/close: {code_text!r} is not a close code")
        return int(code_text).to_bytes(2, "big") + reason.encode()
    return rest.encode()


def parse(line: str) -> ProxyCommand | None:
    """A prompt line -> a command; None for an empty line.

    Raises:
        UsageError: with one line of help.
    """
    line = line.strip()
    if not line:
        return None
    if not line.startswith("/"):
        raise UsageError("commands start with / (try /help); text goes out with /inject")
    words = line[1:].split(" ")
    name = words[0].lower()
    if name in ("conns", "help", "quit", "exit", "drop", "edit", *_VIEWS):
        return ProxyCommand("quit" if name == "exit" else name)
    if name not in (*_SENDS, "forge", "hold", "release"):
        raise UsageError(f"unknown command /{name} (try /help)")
    rest = words[1:]
    conn = int(rest.pop(0)) if rest and rest[0].isdigit() else None
    side = _SIDES.get(rest[0].lower()) if rest else None
    if side is None:
        if name == "release" and not rest:
            return ProxyCommand(name, conn)
        raise UsageError(f"/{name}: say which side it goes to: client or server")
    text = " ".join(rest[1:])
    if name in ("inject", "binary", "base64", "forge") and not text:
        raise UsageError(f"/{name}: nothing to send")
    payload = _payload(name, text) if name not in ("hold", "release") else b""
    return ProxyCommand(name, conn, side, payload)


def execute(
    command: ProxyCommand, steering: ProxySteering, log: TrafficLog, console: Console
) -> bool:
    """Carry out one command; False when the prompt should end.

    Raises:
        UsageError: the proxy refuses (no such connection, not upgraded ...).
    """
    name = command.name
    if name == "quit":
        return False
    if name == "help":
        console.print(Text(HELP, "ws.note"))
    elif name in _VIEWS:
        log.level = _VIEWS[name]
        console.print(Text(f"traffic view: {name}", "ws.note"))
    elif name == "conns":
        _show_connections(steering.connections(), console)
    elif name in ("drop", "edit"):
        steering.edit(command.conn)
    elif name == "hold":
        assert command.side is not None
        console.print(Text(steering.hold(command.conn, command.side), "ws.ok"))
    elif name == "release":
        console.print(Text(steering.release(command.conn, command.side), "ws.ok"))
    elif name == "forge":
        assert command.side is not None
        said = steering.inject_raw(command.conn, command.side, command.payload)
        console.print(Text(said, "ws.ok"))
    else:
        assert command.side is not None
        said = steering.inject(command.conn, command.side, _SENDS[name], command.payload)
        console.print(Text(said, "ws.ok"))
    return True


def _show_connections(found: list[dict[str, Any]], console: Console) -> None:
    if not found:
        console.print(Text("no connection is open", "ws.note"))
        return
    for record in found:
        line = Text(f"#{record['conn']} ", "ws.offset")
        line.append(f"{record['client']} → {record['upstream']} ({record['stage']})")
        for key, label in (("to_server", "c→s"), ("to_client", "s→c")):
            counts = record.get(key)
            if counts is not None:
                line.append(f"  {label} {counts['frames']} frames", "ws.dim")
            held = record.get(f"{key}_held")
            if held is not None:
                line.append(f" [holding {held} bytes]", "ws.violation")
        console.print(line)


async def run_proxy_prompt(
    steering: ProxySteering,
    log: TrafficLog,
    console: Console,
    *,
    prompt_input: Any = None,
    prompt_output: Any = None,
) -> str:
    """Read commands until /quit, Ctrl-D (``"quit"``) or Ctrl-C (``"interrupt"``)."""
    prompt: PromptSession[str] = PromptSession(
        history=InMemoryHistory(), input=prompt_input, output=prompt_output
    )
    with patch_stdout(raw=True):
        while True:
            try:
                line = await prompt.prompt_async("proxy> ")
            except EOFError:
                return "quit"
            except KeyboardInterrupt:
                return "interrupt"
            try:
                command = parse(line)
                if command is not None and not execute(command, steering, log, console):
                    return "quit"
            except UsageError as exc:
                console.print(Text(f"cannot: {exc}", "ws.violation"))
            await asyncio.sleep(0)
