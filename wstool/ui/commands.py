"""The REPL's command grammar: a typed line -> a command object (pure, no I/O).

A line that does not start with ``/`` is a text message; ``//`` escapes a
leading slash. Every syntax error is a :class:`CommandSyntaxError` whose
message is one line of help.
"""

from __future__ import annotations

import base64
import binascii
import re
import shlex
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "COMMANDS",
    "Base64",
    "Binary",
    "Close",
    "Command",
    "CommandSyntaxError",
    "Forge",
    "Fragment",
    "Help",
    "Ping",
    "Pong",
    "PongMode",
    "Quit",
    "Raw",
    "SendFile",
    "Text",
    "Verbosity",
    "parse_line",
]


class CommandSyntaxError(ValueError):
    """A line that is not a valid command; the message is one line of help."""


@dataclass(frozen=True)
class Text:
    """Send a text message."""

    text: str


@dataclass(frozen=True)
class Binary:
    """Send a binary message."""

    data: bytes


Base64 = Binary


@dataclass(frozen=True)
class Ping:
    """Send a Ping with up to 125 bytes."""

    data: bytes


@dataclass(frozen=True)
class Pong:
    """Send an unsolicited Pong."""

    data: bytes


@dataclass(frozen=True)
class PongMode:
    """Answer the server's Pings (``on``, the RFC's MUST) or not (a fault, for its timeout)."""

    on: bool


@dataclass(frozen=True)
class Close:
    """Start the closing handshake."""

    code: int | None
    reason: str


@dataclass(frozen=True)
class SendFile:
    """Send a file's contents as one message."""

    path: str
    as_text: bool


@dataclass(frozen=True)
class Fragment:
    """Send one text message as ``count`` frames."""

    count: int
    text: str


@dataclass(frozen=True)
class Forge:
    """Send one frame with every bit as given (invalid ones included).

    ``mask`` is ``True`` (a fresh key), ``False`` (no MASK bit) or a 4-byte key.
    """

    opcode: int
    payload: bytes
    fin: bool = True
    rsv1: bool = False
    rsv2: bool = False
    rsv3: bool = False
    mask: bool | bytes = True
    length: int | None = None
    length_bits: int | None = None


@dataclass(frozen=True)
class Raw:
    """Write bytes straight onto the socket."""

    data: bytes


@dataclass(frozen=True)
class Verbosity:
    """Switch the traffic view.

    Attributes:
        view: ``"quiet"`` (messages and closes, no frames), ``"normal"``
            (one line per frame) or ``"verbose"`` (every header bit).
    """

    view: Literal["quiet", "normal", "verbose"]


@dataclass(frozen=True)
class Help:
    """Show help, for one command or all."""

    topic: str | None


@dataclass(frozen=True)
class Quit:
    """Close the connection (1000) and leave."""


Command = (
    Text
    | Binary
    | Ping
    | Pong
    | PongMode
    | Close
    | SendFile
    | Fragment
    | Forge
    | Raw
    | Verbosity
    | Help
    | Quit
)

COMMANDS: dict[str, tuple[str, str]] = {
    "help": ("/help [COMMAND]", "show this help, or one command's"),
    "ping": ("/ping [TEXT]", "send a Ping (at most 125 bytes); the Pong shows the round trip"),
    "pong": (
        "/pong [TEXT] | /pong off|on",
        "send an unsolicited Pong; off: leave the server's Pings unanswered, on: answer again",
    ),
    "close": ("/close [CODE] [REASON]", "start the closing handshake (default 1000)"),
    "binary": ("/binary HEX", "send a binary message: /binary 01 02 ff"),
    "base64": ("/base64 DATA", "send a binary message given in base64"),
    "file": ("/file PATH [--text]", "send a file as one binary (or text) message"),
    "fragment": ("/fragment N TEXT", "send TEXT as one message in N frames"),
    "forge": (
        "/forge opcode=N [fin=0|1] [rsv1=1] [rsv2=1] [rsv3=1] [mask=on|off|HEX] "
        "[length=N] [bits=7|16|64] [text=T | hex=HEX]",
        "send one frame with any bits, invalid ones included",
    ),
    "raw": ("/raw HEX", "write bytes straight onto the socket"),
    "verbose": ("/verbose", "show every header bit, mask keys and whole payloads"),
    "normal": ("/normal", "one line per frame (the default)"),
    "quiet": ("/quiet", "show messages and closes only, not frames"),
    "quit": ("/quit", "close with 1000 and leave (also Ctrl-D)"),
}

_OPCODES = {"continuation": 0, "text": 1, "binary": 2, "close": 8, "ping": 9, "pong": 10}


def _usage(name: str) -> CommandSyntaxError:
    usage, _ = COMMANDS[name]
    return CommandSyntaxError(f"usage: {usage}")


def _hex(text: str, name: str) -> bytes:
    digits = re.sub(r"0x|[\s,:]", "", text, flags=re.IGNORECASE)
    try:
        return bytes.fromhex(digits)
    except ValueError:
        raise CommandSyntaxError(
            f"{name}: {text.strip()!r} is not hex bytes (e.g. 81 05 48 65)"
        ) from None


def _control_payload(text: str, name: str) -> bytes:
    data = text.encode("utf-8")
    if len(data) > 125:
        raise CommandSyntaxError(
            f"/{name}: {len(data)} bytes is over 125, the most a control frame carries "
            "(use /forge to send one anyway)"
        )
    return data


def _int(text: str, name: str, low: int, high: int) -> int:
    try:
        value = int(text, 0)
    except ValueError:
        raise CommandSyntaxError(f"{name}: {text!r} is not a number") from None
    if not low <= value <= high:
        raise CommandSyntaxError(f"{name}: {value} is not in {low}-{high}")
    return value


def _close(rest: str) -> Close:
    if not rest:
        return Close(1000, "")
    first, _, reason = rest.partition(" ")
    if not first.isdigit():
        raise _usage("close")
    return Close(_int(first, "/close code", 0, 65535), reason.strip())


def _flag(value: str, key: str) -> bool:
    if value.lower() in ("1", "on", "true", "yes"):
        return True
    if value.lower() in ("0", "off", "false", "no"):
        return False
    raise CommandSyntaxError(f"/forge {key}: {value!r} is not 0 or 1")


def _bits(value: str) -> int:
    if value not in ("7", "16", "64"):
        raise CommandSyntaxError(f"/forge bits: {value!r} is not 7, 16 or 64")
    return int(value)


def _forge(rest: str) -> Forge:
    try:
        words = shlex.split(rest)
    except ValueError as exc:
        raise CommandSyntaxError(f"/forge: {exc}") from None
    fields: dict[str, str] = {}
    for word in words:
        key, sep, value = word.partition("=")
        if not sep:
            raise _usage("forge")
        fields[key.lower()] = value
    if "opcode" not in fields:
        raise CommandSyntaxError("/forge needs opcode=N (0-15, or text, binary, ping ...)")
    op = fields.pop("opcode")
    opcode = _OPCODES[op.lower()] if op.lower() in _OPCODES else _int(op, "/forge opcode", 0, 15)
    if "text" in fields and "hex" in fields:
        raise CommandSyntaxError("/forge: give text= or hex=, not both")
    payload = fields.pop("text", "").encode("utf-8")
    if "hex" in fields:
        payload = _hex(fields.pop("hex"), "/forge hex")
    mask: bool | bytes = True
    if "mask" in fields:
        value = fields.pop("mask")
        if value.lower() in ("on", "off", "1", "0", "true", "false", "yes", "no"):
            mask = _flag(value, "mask")
        else:
            mask = _hex(value, "/forge mask")
            if len(mask) != 4:
                raise CommandSyntaxError("/forge mask: a key is 4 bytes (8 hex digits)")
    frame = Forge(
        opcode=opcode,
        payload=payload,
        fin=_flag(fields.pop("fin", "1"), "fin"),
        rsv1=_flag(fields.pop("rsv1", "0"), "rsv1"),
        rsv2=_flag(fields.pop("rsv2", "0"), "rsv2"),
        rsv3=_flag(fields.pop("rsv3", "0"), "rsv3"),
        mask=mask,
        length=_int(fields.pop("length"), "/forge length", 0, 2**64 - 1)
        if "length" in fields
        else None,
        length_bits=_bits(fields.pop("bits")) if "bits" in fields else None,
    )
    if fields:
        raise CommandSyntaxError(
            f"/forge: unknown field {next(iter(fields))}= ({COMMANDS['forge'][0]})"
        )
    return frame


def _file(rest: str) -> SendFile:
    # Only the word --text is the flag: a path such as "my--textfile" stays whole.
    as_text = re.search(r"(?:^|\s)--text(?:\s|$)", rest) is not None
    path = re.sub(r"(?:^|\s)--text(?=\s|$)", " ", rest).strip()
    if not path:
        raise _usage("file")
    return SendFile(path, as_text)


def _fragment(rest: str) -> Fragment:
    count, _, text = rest.partition(" ")
    if not count.isdigit() or not text:
        raise _usage("fragment")
    return Fragment(_int(count, "/fragment N", 1, 10000), text)


def parse_line(line: str) -> Command | None:
    """Turn one typed line into a command; ``None`` for an empty line.

    Raises:
        CommandSyntaxError: with one line of help.
    """
    if not line.startswith("/"):
        return Text(line) if line else None
    if line.startswith("//"):
        return Text(line[1:])
    name, _, rest = line[1:].partition(" ")
    name = name.lower()
    rest = rest.strip()
    if name in ("help", "?"):
        return Help(rest.lstrip("/") or None)
    if name in ("quit", "exit", "q"):
        return Quit()
    if name == "ping":
        return Ping(_control_payload(rest, "ping"))
    if name == "pong":
        if rest.lower() in ("on", "off"):
            return PongMode(rest.lower() == "on")
        return Pong(_control_payload(rest, "pong"))
    if name == "close":
        return _close(rest)
    if name in ("binary", "bin", "hex"):
        if not rest:
            raise _usage("binary")
        return Binary(_hex(rest, "/binary"))
    if name in ("base64", "b64"):
        try:
            return Binary(base64.b64decode("".join(rest.split()), validate=True))
        except (binascii.Error, ValueError):
            raise CommandSyntaxError(f"/base64: {rest!r} is not base64") from None
    if name == "file":
        return _file(rest)
    if name in ("fragment", "frag"):
        return _fragment(rest)
    if name == "forge":
        return _forge(rest)
    if name == "raw":
        if not rest:
            raise _usage("raw")
        return Raw(_hex(rest, "/raw"))
    if name == "verbose":
        return Verbosity("verbose")
    if name == "normal":
        return Verbosity("normal")
    if name == "quiet":
        return Verbosity("quiet")
    raise CommandSyntaxError(f"unknown command /{name} (type /help; // sends a leading slash)")
