"""The former name of :mod:`wstool.core.inspect`, kept while the decode command moves to it."""

from __future__ import annotations

from wstool.core.inspect import (
    FrameReport,
    HandshakeReport,
    MessageReport,
    SequenceViolation,
    StreamItem,
    StreamReport,
    Truncated,
    inspect_stream,
    inspect_streams,
    negotiated_deflate,
)

__all__ = [
    "FrameReport",
    "HandshakeReport",
    "MessageReport",
    "SequenceViolation",
    "StreamItem",
    "StreamReport",
    "Truncated",
    "inspect_stream",
    "inspect_streams",
    "negotiated_deflate",
]
