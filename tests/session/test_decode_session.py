"""wstool decode SESSION: a recorded session shown and judged as decode shows a dump."""

from __future__ import annotations

import io
from pathlib import Path

from wstool.cli import main

from .test_format import record_conversation


def _decode(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(["decode", *argv], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def test_a_session_decodes_connection_by_connection(tmp_path: Path) -> None:
    file = io.BytesIO()
    record_conversation(file)
    path = tmp_path / "a.session"
    path.write_bytes(file.getvalue())
    status, out, err = _decode(str(path))
    assert (status, err) == (0, "")
    lines = out.splitlines()
    assert lines[0] == "read as a wstool session"
    assert lines[1].startswith("note: recorded by wstool 9.9 serve at ")
    assert "#1 client 127.0.0.1:5000 → #1 server ws://example.test/chat" in out
    assert "@0x009b TEXT         FIN rsv=000 mask=01020304 len=6 (7-bit)\n  héllo\n" in out
    assert "  4000 PRIVATE reason 'bye'" in out
    assert lines[-1] == "9 frames, no violations"
    status, out, _ = _decode(str(path), "--json")
    assert status == 0 and out.encode() == file.getvalue()


def test_a_session_with_a_broken_frame_is_judged(tmp_path: Path) -> None:
    file = io.BytesIO()
    record_conversation(file)
    # The client's first frame with its mask bit cleared (head 81 86 -> 81 06, key dropped).
    raw = file.getvalue().replace(b'"head":"818601020304"', b'"head":"8106"', 1)
    raw = raw.replace(b'"mask":"01020304"', b'"mask":null', 1)
    path = tmp_path / "b.session"
    path.write_bytes(raw)
    status, out, _ = _decode(str(path))
    assert status == 1
    assert "mask-required: a client frame is not masked (RFC 6455 §5.1; close 1002)" in out


def test_a_malformed_session_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.session"
    path.write_text('{"type": "session", "format": "wstool-session", "version": 1}\n{"type"\n')
    status, out, err = _decode(str(path))
    assert (status, out) == (2, "")
    assert err == f"wstool decode: {path}: line 2: not JSON (Expecting ':' delimiter)\n"
