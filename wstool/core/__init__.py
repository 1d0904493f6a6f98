"""wstool's sans-I/O WebSocket codec (RFC 6455, RFC 7692): standard library only.

Bytes in, frames, events and bytes to send out: no sockets, reactors, clocks,
terminals or global randomness. Every command of wstool shares it.
"""

from wstool.core.errors import (
    DecompressionError,
    HandshakeError,
    PayloadTooBig,
    ProtocolError,
    UsageError,
    WstoolError,
)
from wstool.core.frames import (
    CloseCode,
    FrameParser,
    Opcode,
    Role,
    Violation,
    WireFrame,
    encode_frame,
    forge_frame,
    violations,
)

__all__ = [
    "CloseCode",
    "DecompressionError",
    "FrameParser",
    "HandshakeError",
    "Opcode",
    "PayloadTooBig",
    "ProtocolError",
    "Role",
    "UsageError",
    "Violation",
    "WireFrame",
    "WstoolError",
    "encode_frame",
    "forge_frame",
    "violations",
]
