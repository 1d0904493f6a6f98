"""The replay plan and the comparison of answers, without a network."""

from __future__ import annotations

import io
import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wstool.core.frames import Role
from wstool.session.format import SessionError, read_session
from wstool.session.replay import Message, differences, load_plan, plan_replay

from .test_format import record_conversation


def _conn() -> object:
    file = io.BytesIO()
    record_conversation(file)
    return read_session(file.getvalue().splitlines(keepends=True)).connections[1]


def test_the_plan_sends_the_client_messages_and_expects_the_server_ones() -> None:
    plan = plan_replay(_conn())  # type: ignore[arg-type]
    assert [step.message for step in plan.steps] == [
        Message(1, "héllo".encode()),
        Message(2, b"\x00\x01\x02"),
    ]
    assert all(step.fragments is None for step in plan.steps)
    assert [step.answers_before for step in plan.steps] == [0, 0]
    assert plan.expected == [Message(1, "héllo".encode()), Message(2, b"\x00\x01\x02")]
    assert (plan.close_code, plan.close_reason) == (4000, "bye")  # as the recorded client closed
    assert plan.subprotocols == () and plan.deflate is False


def test_frames_keeps_the_recorded_fragmentation() -> None:
    plan = plan_replay(_conn(), frames=True)  # type: ignore[arg-type]
    assert [step.fragments for step in plan.steps] == [None, (b"\x00\x01", b"\x02")]


def test_answers_before_counts_what_the_server_had_said() -> None:
    conn = _conn()
    # Move the server's frames before the client's second message: it then waits for one answer.
    frames = conn.frames  # type: ignore[attr-defined]
    server_first = next(e for e in frames if e.sender is Role.SERVER and e.message)
    frames.remove(server_first)
    frames.insert(1, server_first)
    plan = plan_replay(conn)  # type: ignore[arg-type]
    assert [step.answers_before for step in plan.steps] == [0, 1]


def test_json_answers_compare_as_data_with_ignored_keys() -> None:
    want = [Message(1, b'{"id": 1, "ts": 100, "items": [{"ts": 5, "v": "a"}]}')]
    same = [Message(1, b'{"items": [{"v": "a", "ts": 6}], "ts": 200, "id": 1}')]
    assert differences(want, same, ignore=["ts"]) == []
    lines = differences(want, same)
    assert lines[0] == "answer 1 differs:"
    assert '  -  "ts": 100' in lines and '  +  "ts": 200' in lines


def test_missing_extra_and_kind_changes_are_named() -> None:
    want = [Message(1, b"a"), Message(2, b"\x01")]
    assert differences(want, [Message(1, b"a")]) == [
        "answer 2: missing; recorded binary, 1 bytes: 01"
    ]
    assert differences([Message(1, b"a")], [Message(1, b"a"), Message(1, b"b")]) == [
        "answer 2: not in the recording: 'b'"
    ]
    assert differences([Message(1, b"a")], [Message(2, b"a")]) == [
        "answer 1 differs:",
        "  recorded text, got binary: binary, 1 bytes: 61",
    ]


def test_the_server_script_answers_as_the_recorded_server_did() -> None:
    from wstool.session.replay import ServerScript

    plan = plan_replay(_conn(), side=Role.SERVER)  # type: ignore[arg-type]
    assert plan.close_code is None  # the recorded client closed, not the server
    script = ServerScript(plan)
    # Both client messages came before the server's answers in the recording.
    assert script.start() == []
    assert script.received_message(1, b"x") == []
    assert script.received_message(2, b"y") == [
        (1, "héllo".encode(), None),
        (2, b"\x00\x01\x02", None),
    ]
    assert script.close_code() is None


def _session_bytes() -> bytes:
    file = io.BytesIO()
    record_conversation(file)
    return file.getvalue()


@pytest.mark.parametrize("frames", [False, True])
def test_load_plan_reads_the_file_into_the_same_plan(frames: bool) -> None:
    """The one-pass loader replay uses plans exactly as read_session and plan_replay do."""
    raw = _session_bytes()
    whole = plan_replay(_conn(), frames=frames)  # type: ignore[arg-type]
    plan, session = load_plan(io.BytesIO(raw), frames=frames)
    assert plan == whole
    assert session.connections[1].close is not None  # kept; the frames are not
    assert session.connections[1].frames == []


def test_load_plan_names_the_connections_a_session_has() -> None:
    with pytest.raises(SessionError, match=r"^no connection 7 \(it has 1\)$"):
        load_plan(io.BytesIO(_session_bytes()), conn_id=7)
    header = _session_bytes().splitlines(keepends=True)[0]
    with pytest.raises(SessionError, match=r"^the session holds no connection$"):
        load_plan([header])


def test_load_plan_is_as_strict_as_the_reader() -> None:
    """A bad line anywhere, in the planned connection or not, is named by its number."""
    lines = _session_bytes().splitlines(keepends=True)
    other = lines[1].replace(b'"conn":1', b'"conn":2')
    bad_other = b'{"type":"frame","conn":2,"from":"nobody"}\n'
    with pytest.raises(SessionError, match=r"^line 4: frame record with 'from' missing or wrong"):
        load_plan([*lines[:2], other, bad_other, *lines[2:]])
    with pytest.raises(SessionError, match=r"^line 3: frame record for connection 5, never opened"):
        load_plan([*lines[:2], b'{"type":"frame","conn":5,"from":"client"}\n', *lines[2:]])
    broken = b'{"type":"frame","conn":1,"from":"server","message":{"opcode":2,"base64":"!"}}\n'
    with pytest.raises(SessionError, match=r"^line 3: a message that is neither text nor base64"):
        load_plan([*lines[:2], broken])
    with pytest.raises(SessionError, match=r"^line 3: not JSON"):
        load_plan([*lines[:2], b"{oops\n", *lines[2:]])


def test_load_plan_leaves_out_a_cut_last_line() -> None:
    raw = _session_bytes()
    plan, session = load_plan(io.BytesIO(raw[: raw.rindex(b"\n", 0, len(raw) - 1) + 20]))
    assert session.notes == ["the last line was cut short"]
    assert len(plan.steps) == 2


@settings(max_examples=150, deadline=None)
@given(
    st.integers(1, 30),
    st.sampled_from(["type", "conn", "from", "time", "message", "opcode", "head", "wire"]),
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(-(2**70), 2**70),
        st.floats(allow_nan=False),
        st.text(max_size=8),
        st.dictionaries(
            st.sampled_from(["text", "base64", "opcode", "compressed"]),
            st.one_of(st.text(max_size=4), st.integers(0, 3), st.booleans()),
        ),
    ),
    st.booleans(),
)
def test_load_plan_of_a_changed_record_is_a_plan_or_a_session_error(
    line: int, name: str, value: object, frames: bool
) -> None:
    lines = _session_bytes().splitlines(keepends=True)
    index = line % len(lines)
    record = json.loads(lines[index])
    record[name] = value
    lines[index] = json.dumps(record).encode() + b"\n"
    try:
        load_plan(lines, frames=frames)
    except SessionError as exc:
        assert str(exc).startswith(("line ", "no connection", "the session holds"))


@pytest.mark.parametrize(
    ("payload", "close"),
    [
        (b"", (None, "")),  # an empty Close: sent empty again
        (b"\x03\xed", (1000, "")),  # 1005 may not be sent: a normal close instead
        (b"\x0f\xa0\xff", (4000, "")),  # a reason that is not UTF-8 is left out
        (b"\x0f\xa0ok", (4000, "ok")),
    ],
)
def test_the_client_closes_as_its_close_frame_did(
    payload: bytes, close: tuple[int | None, str]
) -> None:
    from wstool.core.frames import encode_frame, frame_at
    from wstool.session.format import frame_record

    lines = _session_bytes().splitlines(keepends=True)
    index = next(i for i, line in enumerate(lines) if b'"opcode":8' in line)
    found = frame_at(encode_frame(8, payload, mask_key=b"\x01\x02\x03\x04"))
    assert found is not None
    record = {**json.loads(lines[index]), **frame_record(found[0], Role.CLIENT)}
    lines[index] = json.dumps(record).encode() + b"\n"
    plan, _ = load_plan(lines)
    assert (plan.close_code, plan.close_reason) == close


def test_a_recorded_request_that_is_not_http_offers_nothing() -> None:
    """A session keeps heads as they were on the wire; a broken one plans with no offers."""
    conn = _conn()
    conn.open["request"] = "\x1f"  # type: ignore[attr-defined]
    plan = plan_replay(conn)  # type: ignore[arg-type]
    assert (plan.subprotocols, plan.deflate) == ((), False)
    assert len(plan.steps) == 2
