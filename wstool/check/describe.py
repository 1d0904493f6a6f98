"""Cases and results in words: what a case sends, which RFC text decides it, what happened."""

from __future__ import annotations

from wstool.check.cases import SECTIONS
from wstool.check.model import (
    Case,
    FailsHere,
    Frame,
    Message,
    Opening,
    Raw,
    RawRequest,
    Step,
    Together,
    Wait,
    payload_bytes,
)
from wstool.check.peer import describe_bytes
from wstool.check.runner import Result
from wstool.core.frames import opcode_name

__all__ = ["RFC_SECTIONS", "describe_opening", "describe_steps", "happened", "rfc_of", "section_of"]

RFC_SECTIONS = {
    "0": "RFC 6455 §4.2.1, §4.2.2 (the server's opening handshake)",
    "1": "RFC 6455 §5.2, §5.6 (framing, data frames)",
    "2": "RFC 6455 §5.5.2, §5.5.3 (Ping answered by a Pong with its payload)",
    "3": "RFC 6455 §5.2 (RSV bits MUST be 0 unless an extension defines them)",
    "4": "RFC 6455 §5.2 (reserved opcodes: the receiver MUST fail the connection)",
    "5": "RFC 6455 §5.4 (fragmentation; control frames in between)",
    "6": "RFC 6455 §8.1 (text MUST be UTF-8, else fail with 1007)",
    "7": "RFC 6455 §5.5.1, §7.1.5, §7.4 (the closing handshake, close codes)",
    "9": "RFC 6455 §10.4 (limits are the endpoint's choice: 1009 is allowed)",
    "10": "RFC 6455 §5 (miscellaneous)",
    "12": "RFC 7692 §6, §7.2 (permessage-deflate messages)",
    "13": "RFC 7692 §7.1 (permessage-deflate parameters)",
}


def section_of(case: Case) -> str:
    """The top-level section of a case (``"6"``) and its title."""
    section = case.id.split(".")[0]
    return f"{section} {SECTIONS.get(section, '')}".strip()


def rfc_of(case: Case) -> str:
    """The RFC text that decides a case."""
    return RFC_SECTIONS.get(case.id.split(".")[0], "RFC 6455")


def _frame(step: Frame) -> str:
    data = payload_bytes(step.payload)
    bits = [opcode_name(step.opcode)]
    if not step.fin:
        bits.append("FIN=0")
    bits += [
        name for name, on in (("RSV1", step.rsv1), ("RSV2", step.rsv2), ("RSV3", step.rsv3)) if on
    ]
    if not step.masked:
        bits.append("unmasked")
    if step.length is not None and step.length != len(data):
        bits.append(f"declaring {step.length}B")
    if step.length_bits is not None:
        bits.append(f"{step.length_bits}-bit length")
    text = f"{' '.join(b for b in bits if b)} {describe_bytes(data, 16)}"
    return text + (f" in {step.chop}-byte writes" if step.chop else "")


def _message(step: Message) -> str:
    data = payload_bytes(step.payload)
    text = f"{opcode_name(step.opcode).lower()} message {describe_bytes(data, 16)}"
    if step.compress:
        text += ", compressed"
    if step.fragment:
        text += f", {step.fragment}B per frame"
    return text + (f", in {step.chop}-byte writes" if step.chop else "")


def _step(step: Step) -> str:
    if isinstance(step, Frame):
        return _frame(step)
    if isinstance(step, Message):
        return _message(step)
    if isinstance(step, Raw):
        return f"raw bytes {describe_bytes(step.data, 16)}"
    if isinstance(step, Together):
        inner = "; ".join(_step(s) for s in step.steps)
        return f"in one write: [{inner}]" + (f" in {step.chop}-byte writes" if step.chop else "")
    if isinstance(step, Wait):
        return f"wait for {step.reply}"
    if isinstance(step, FailsHere):
        return "(the server must have failed by now)"
    return str(step)


def describe_steps(case: Case, limit: int = 8) -> list[str]:
    """What the case sends after the handshake, one line per step (long runs cut)."""
    lines = [_step(step) for step in case.steps]
    if len(lines) > limit:
        lines = [*lines[: limit - 2], f"... {len(lines) - limit + 1} more ...", lines[-1]]
    return lines


def describe_opening(case: Case) -> str:
    """How the case opens the connection."""
    opening = case.opening
    if isinstance(opening, RawRequest):
        first = opening.template.split(b"\r\n", 1)[0].decode("latin-1")
        return f"a hand-written request ({first or 'no bytes'})"
    assert isinstance(opening, Opening)
    parts = ["a valid upgrade request"]
    if opening.subprotocols:
        parts.append(f"offering {', '.join(opening.subprotocols)}")
    if opening.deflate is not None:
        parts.append(f"offering {opening.deflate}")
    if opening.decoys:
        parts.append(f"with {len(opening.decoys)} decoy extension offers")
    if opening.chop:
        parts.append(f"in {opening.chop}-byte writes")
    return ", ".join(parts)


def happened(result: Result) -> str:
    """What happened, with numbers: close code, timing, bytes both ways."""
    parts = [result.observed or "nothing"]
    if result.remote_close_code is not None:
        parts.append(f"close code {result.remote_close_code}")
    if result.close_after is not None:
        parts.append(f"Close {result.close_after * 1000:.0f} ms after our last write")
    if result.wire is not None:
        parts.append(f"{result.wire.sent} B sent, {result.wire.received} B received")
    parts.append(f"{result.duration:.3f}s")
    return "; ".join(parts)
