"""wstool decode SESSION: a recorded session shown as the live view showed it, and judged."""

from __future__ import annotations

import io
import json
import re
import tempfile
import time
from pathlib import Path

from hypothesis import example, given, settings
from hypothesis import strategies as st

from wstool.cli import main

from .test_format import record_conversation

_FIELDS = [
    "type",
    "conn",
    "from",
    "time",
    "message",
    "opcode",
    "fin",
    "rsv",
    "mask",
    "length",
    "head",
    "wire",
    "code",
    "reason",
    "initiator",
    "clean",
    "sent_code",
    "failed",
    "cause",
    "peer",
    "request",
    "response",
    "role",
    "version",
    "format",
]

STAMP = re.compile(r"^\d\d:\d\d:\d\d\.\d{3} ", re.MULTILINE)

LIVE_VIEW = """\
#1 127.0.0.1:5000 connected: GET /chat HTTP/1.1
  < GET /chat HTTP/1.1
  < Host: example.test
  < Upgrade: websocket
  < Connection: Upgrade
  < Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==
  < Sec-WebSocket-Version: 13
  > HTTP/1.1 101 Switching Protocols
  > Upgrade: websocket
  > Connection: Upgrade
  > Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=
  > Sec-WebSocket-Protocol: chat
#1 < TEXT         FIN mask=01020304 len=6  héllo
#1 < BINARY       --- mask=aabbccdd len=2  00 01
#1 < CONTINUATION FIN mask=01020304 len=1  02
#1 < message BINARY 3 bytes in 2 frames  00 01 02
#1 < PING         FIN mask=aabbccdd len=1  p
#1 > PONG         FIN len=1  p
#1 > TEXT         FIN len=6  héllo
#1 > BINARY       FIN len=3  00 01 02
#1 < CLOSE        FIN mask=01020304 len=5  4000 PRIVATE reason 'bye'
#1 > CLOSE        FIN len=5  4000 PRIVATE reason 'bye'
#1 close 4000 PRIVATE 'bye' (started by the client, clean)
#1 127.0.0.1:5000 disconnected: closed cleanly
9 frames, no violations
"""


def _decode(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    status = main(["decode", *argv], stdout=out, stderr=err)
    return status, out.getvalue(), err.getvalue()


def _session(tmp_path: Path, raw: bytes | None = None) -> Path:
    file = io.BytesIO()
    record_conversation(file)
    path = tmp_path / "a.session"
    path.write_bytes(raw if raw is not None else file.getvalue())
    return path


def test_a_session_is_shown_as_the_live_view_showed_it(tmp_path: Path) -> None:
    """Both directions interleaved as recorded: ids, arrows, heads, frames, close, disconnect."""
    path = _session(tmp_path)
    status, out, err = _decode(str(path))
    assert (status, err) == (0, "")
    notes, view = out.split("\n", 2)[:2], out.split("\n", 2)[2]
    assert notes[0].startswith("note: a session recorded by wstool 9.9 serve at 2023-11-14T")
    assert notes[1] == "note: as the server saw it: > what it sent, < what it received"
    assert STAMP.sub("", view) == LIVE_VIEW
    # Each line carries the time it was recorded at (local time, as the live view shows it).
    first = time.strftime("%H:%M:%S", time.localtime(1.7e9 + 0.001))
    assert view.startswith(f"{first}.001 #1 127.0.0.1:5000 connected")


def test_json_passes_the_records_on(tmp_path: Path) -> None:
    path = _session(tmp_path)
    status, out, _ = _decode(str(path), "--json")
    assert status == 0 and out.encode() == path.read_bytes()


def test_full_shows_every_bit_and_whole_payloads(tmp_path: Path) -> None:
    status, out, _ = _decode(str(_session(tmp_path)), "--full")
    view = STAMP.sub("", out)
    assert status == 0
    assert "#1 < BINARY       --- rsv=000 mask=aabbccdd len=2 (7-bit)\n  0000  00 01 " in view
    assert "#1 > TEXT         FIN rsv=000 unmasked len=6 (7-bit)\n  héllo\n" in view


def test_a_session_with_a_broken_frame_is_judged(tmp_path: Path) -> None:
    """A rule a recorded frame breaks is shown under it, and decode exits 1."""
    file = io.BytesIO()
    record_conversation(file)
    # The client's first frame with its mask bit cleared (head 81 86 -> 81 06, key dropped).
    raw = file.getvalue().replace(b'"head":"818601020304"', b'"head":"8106"', 1)
    raw = raw.replace(b'"mask":"01020304"', b'"mask":null', 1)
    status, out, _ = _decode(str(_session(tmp_path, raw)))
    view = STAMP.sub("", out)
    assert status == 1
    assert (
        "#1 < TEXT         FIN len=6  69 c1 aa 68 6d 6d\n"
        "#1 ✗ mask-required: a client frame is not masked (RFC 6455 §5.1; close 1002)\n"
    ) in view
    assert view.endswith("9 frames, 2 violations\n")


def test_a_connection_wstool_failed_shows_the_rule_once(tmp_path: Path) -> None:
    """The close record of a failed connection is the live view's ✗ line, not a second one."""
    file = io.BytesIO()
    record_conversation(file)
    lines = file.getvalue().splitlines(keepends=True)
    failed = (
        b'{"type":"close","conn":1,"time":1700000000.0065,"failed":"reserved-opcode",'
        b'"reason":"opcode 3 is reserved","code":1002}\n'
    )
    status, out, _ = _decode(str(_session(tmp_path, b"".join([*lines[:-2], failed, *lines[-2:]]))))
    view = STAMP.sub("", out)
    assert status == 0  # the frames themselves break no rule
    assert view.count("✗") == 1
    assert "#1 ✗ reserved-opcode: opcode 3 is reserved (as recorded; close 1002)\n" in view


def test_export_text_is_the_same_view_without_colour(tmp_path: Path) -> None:
    path = _session(tmp_path)
    out, err = io.StringIO(), io.StringIO()
    assert main(["export", str(path), "--text", "-"], stdout=out, stderr=err) == 0
    _, decoded, _ = _decode(str(path), "--color", "never")
    assert out.getvalue() == decoded
    assert "\x1b[" not in out.getvalue()


def test_a_malformed_session_is_one_line(tmp_path: Path) -> None:
    path = tmp_path / "c.session"
    path.write_text('{"type": "session", "format": "wstool-session", "version": 1}\n{"type"\n')
    status, out, err = _decode(str(path))
    assert (status, out) == (2, "")
    assert err == f"wstool decode: {path}: line 2: not JSON (Expecting ':' delimiter)\n"


_values = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False),
    st.sampled_from([1e308, 2**70, -1.5, 253402300800]),
    st.text(max_size=8),
    st.lists(st.integers(), max_size=3),
    st.dictionaries(st.sampled_from(["text", "base64", "opcode"]), st.text(max_size=4)),
)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 30), st.sampled_from(_FIELDS), _values), max_size=3))
@example(changes=[(1, "request", "\u0100")])  # a head beyond Latin-1: taken as UTF-8
@example(changes=[(1, "response", "\ud800")])
def test_any_field_of_any_record_changed_is_shown_or_refused(
    changes: list[tuple[int, str, object]],
) -> None:
    """Records with any values in any fields: decode and export show them or name the line."""
    file = io.BytesIO()
    record_conversation(file)
    lines = file.getvalue().splitlines(keepends=True)
    for line, name, value in changes:
        record = json.loads(lines[line % len(lines)])
        record[name] = value
        lines[line % len(lines)] = json.dumps(record).encode() + b"\n"
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.session"
        path.write_bytes(b"".join(lines))
        for argv in (["decode", str(path)], ["export", str(path), "--har", "-"]):
            out, err = io.StringIO(), io.StringIO()
            status = main(argv, stdout=out, stderr=err)
            assert status in (0, 1, 2) and "internal error" not in err.getvalue()
            if status == 2:
                assert err.getvalue().count("\n") == 1 and ": line " in err.getvalue()
