"""``wstool proxy``'s prompt: steer live connections while their traffic scrolls above.

Runs on the reactor's asyncio loop, as the ``connect`` REPL does, and drives
a :class:`ProxySteering` it declares here (``wstool.cli`` plugs in the
network's). Commands name a side as the destination: ``/inject server
hello`` sends "hello" to the server (masked), ``/hold client`` keeps what
goes to the client until ``/release``; each message held gets a number for
``/drop N`` and ``/edit N TEXT``. A line of the proxy's own ``--json``
output (a message, frame, close or injected record) pasted at the prompt
is sent again on its connection, in its direction.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Protocol

from prompt_toolkit import PromptSession
from prompt_toolkit.history import InMemoryHistory
from prompt_toolkit.patch_stdout import patch_stdout
from rich.console import Console
from rich.text import Text

from wstool.core.errors import UsageError
from wstool.core.frames import Opcode, Role, forge_frame, opcode_name
from wstool.ui.render import count as count_of
from wstool.ui.traffic import Detail, TrafficLog, preview_parts

__all__ = [
    "HELP",
    "ProxyCommand",
    "ProxySteering",
    "execute",
    "held_line",
    "parse",
    "parse_record",
    "run_proxy_prompt",
]

HELP = """\
/conns                              the open connections
/inject [N] client|server TEXT      a text message to that side (masked to the server)
/binary [N] client|server HEX       a binary message (also /base64 ... BASE64)
/ping [N] client|server [TEXT]      a Ping (/pong likewise)
/close [N] client|server [CODE [REASON]]   a Close frame
/forge [N] client|server HEX        bytes written as they are (any frame you build)
/hold [N] client|server             keep what goes to that side; /release [N] [client|server]
/held                               the held messages, each with its number M
/drop M                             do not send held message M
/edit M TEXT                        send TEXT instead of held message M (same type)
{"event": ...}                      a line of --json output: sent again, same conn and way
/quiet /normal /verbose             how much traffic is shown; /help; /quit (or Ctrl-D)
N is the connection's number; it may be left out while only one is open. Frames go in
at the next frame boundary (data frames not inside a fragmented message), uncompressed.
In relay mode a compressed message cannot be dropped or edited when its sender keeps its
compression context (the reason is given); with --terminate every message can."""

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
    def held(self) -> list[dict[str, Any]]: ...
    def drop(self, number: int) -> str: ...
    def edit(self, number: int, payload: bytes) -> str: ...


@dataclass(frozen=True)
class ProxyCommand:
    """One parsed prompt line.

    Attributes:
        name: the command, without its slash.
        conn: the connection's number, if given.
        side: the destination side, if given.
        payload: the bytes to send (inject, binary, ping, close, forge, edit).
        number: the held message's number (drop, edit).
    """

    name: str
    conn: int | None = None
    side: Role | None = None
    payload: bytes = b""
    number: int | None = None


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
    if line.startswith("{"):
        return parse_record(line)
    if not line.startswith("/"):
        raise UsageError("commands start with / (try /help); text goes out with /inject")
    words = line[1:].split(" ")
    name = words[0].lower()
    if name in ("conns", "help", "quit", "exit", "held", "queue", *_VIEWS):
        return ProxyCommand({"exit": "quit", "queue": "held"}.get(name, name))
    if name in ("drop", "edit"):
        return _held_command(name, words[1:])
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


def _held_command(name: str, rest: list[str]) -> ProxyCommand:
    if not rest or not rest[0].isdigit():
        raise UsageError(f"/{name}: say which held message (its number, from /held)")
    if name == "drop":
        if len(rest) > 1:
            raise UsageError("/drop takes one number")
        return ProxyCommand("drop", number=int(rest[0]))
    return ProxyCommand("edit", number=int(rest[0]), payload=" ".join(rest[1:]).encode())


_TOWARD = {
    "client-to-server": Role.SERVER,
    "client-to-proxy": Role.SERVER,
    "proxy-to-server": Role.SERVER,
    "server-to-client": Role.CLIENT,
    "server-to-proxy": Role.CLIENT,
    "proxy-to-client": Role.CLIENT,
}
_BY_OPCODE = {1: "inject", 2: "binary", 8: "close", 9: "ping", 10: "pong"}


def parse_record(line: str) -> ProxyCommand:
    """A pasted ``--json`` record -> the command that sends it again, same connection and way.

    A message is sent as a new message of its type; a frame as it was (a
    well-formed one re-encoded with a fresh mask toward the server, any
    other forged bit for bit, its mask key kept); a close as a Close; an
    injected record's bytes as they were.

    Raises:
        UsageError: not a record that can be sent, with one line why.
    """
    try:
        record = json.loads(line)
    except ValueError as exc:
        raise UsageError(f"not a JSON line: {exc}") from None
    if not isinstance(record, dict):
        raise UsageError("not a --json record (an object with event, conn and direction)")
    event, conn, toward = (
        record.get("event"),
        record.get("conn"),
        _TOWARD.get(record.get("direction", "")),
    )
    if not isinstance(conn, int) or toward is None:
        raise UsageError("this record has no conn and direction to send it on")
    try:
        if event == "message":
            return _message_command(record, conn, toward)
        if event == "frame":
            return _frame_command(record, conn, toward)
        if event == "close":
            return _close_command(record, conn, toward)
        if event == "injected":
            return ProxyCommand("forge", conn, toward, bytes.fromhex(record["bytes_hex"]))
    except (KeyError, TypeError, ValueError) as exc:
        raise UsageError(f"a {event} record without a readable {exc}") from None
    raise UsageError(f"a {event!r} record is not traffic: paste a message, frame or close")


def _message_command(record: dict[str, Any], conn: int, toward: Role) -> ProxyCommand:
    if "text" in record:
        return ProxyCommand("inject", conn, toward, str(record["text"]).encode())
    if "payload_hex" not in record:
        raise UsageError(
            "this message record has no payload (only text or payload_hex can be sent)"
        )
    payload = bytes.fromhex(record["payload_hex"])
    name = "inject" if record.get("opcode") == Opcode.TEXT else "binary"
    return ProxyCommand(name, conn, toward, payload)


def _frame_command(record: dict[str, Any], conn: int, toward: Role) -> ProxyCommand:
    payload = bytes.fromhex(record["payload_hex"])
    opcode, fin, rsv1 = int(record["opcode"]), bool(record["fin"]), bool(record["rsv1"])
    odd = rsv1 or record["rsv2"] or record["rsv3"] or not fin
    if rsv1 and not (record["rsv2"] or record["rsv3"]) and opcode in (0, 1, 2):
        raise UsageError(
            "a compressed frame's bytes depend on the deflate context it was made in: "
            "paste the message record after it (it has the inflated payload)"
        )
    masked_as_sent = bool(record["masked"]) is (toward is Role.SERVER)
    if opcode in _BY_OPCODE and not odd and masked_as_sent:
        return ProxyCommand(_BY_OPCODE[opcode], conn, toward, payload)
    key = bytes.fromhex(record["mask_key"]) if record["masked"] else None
    frame = forge_frame(
        opcode=opcode,
        payload=payload,
        fin=fin,
        rsv1=rsv1,
        rsv2=bool(record["rsv2"]),
        rsv3=bool(record["rsv3"]),
        mask_key=key,
    )
    return ProxyCommand("forge", conn, toward, frame)


def _close_command(record: dict[str, Any], conn: int, toward: Role) -> ProxyCommand:
    code = record.get("code")
    reason = str(record.get("reason") or "")
    payload = b"" if code is None else int(code).to_bytes(2, "big") + reason.encode()
    return ProxyCommand("close", conn, toward, payload)


def held_line(record: dict[str, Any], preview: int = 60, *, prefix: str = "") -> Text:
    """One held message: its number, connection, way, type, size and the start of its payload."""
    arrow = "c→s" if record["toward"] is Role.SERVER else "s→c"
    opcode, payload = record["opcode"], record["payload"]
    line = Text(
        f"{prefix} {record['number']}: " if prefix else f"  {record['number']:>3} ", "ws.offset"
    )
    line.append(f"#{record['conn']} {arrow} ")
    line.append(opcode_name(opcode), "ws.opcode")
    line.append(f" {count_of(len(payload), 'byte')}", "ws.length")
    if record["frames"] > 1:
        line.append(f" in {record['frames']} frames", "ws.dim")
    if record["edited"]:
        line.append(" (edited)", "ws.violation")
    line.append("  ")
    if record["compressed"]:
        line.append("(compressed)", "ws.note")
    else:
        for text, style in preview_parts(payload, opcode, preview):
            line.append(text, style)
    return line


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
    elif name == "held":
        _show_held(steering.held(), console)
    elif name == "drop":
        assert command.number is not None
        console.print(Text(steering.drop(command.number), "ws.ok"))
    elif name == "edit":
        assert command.number is not None
        console.print(Text(steering.edit(command.number, command.payload), "ws.ok"))
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


def _show_held(found: list[dict[str, Any]], console: Console) -> None:
    if not found:
        console.print(Text("nothing is held (/hold client|server starts holding)", "ws.note"))
        return
    for record in found:
        console.print(held_line(record))


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
