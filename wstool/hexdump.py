"""The former name of :mod:`wstool.capture`, kept while the decode command moves to it."""

from __future__ import annotations

from wstool.capture import (
    Dump,
    DumpError,
    Segment,
    detect_format,
    read_base64,
    read_dump,
    read_raw,
)

__all__ = ["Dump", "DumpError", "Segment", "detect_format", "read_base64", "read_dump", "read_raw"]
