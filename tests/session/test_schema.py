"""docs/session.schema.json describes what wstool writes: every line of real sessions validates."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from wstool.session.format import read_session
from wstool.session.har import dumps_lines, har_from_session, session_lines_from_har

from .test_format import record_conversation
from .test_har import CHROME_HAR

SCHEMA = json.loads((Path(__file__).parents[2] / "docs" / "session.schema.json").read_text())
VALIDATOR = Draft202012Validator(SCHEMA)


def _errors(raw: bytes) -> list[str]:
    return [
        f"line {number}: {error.message}"
        for number, line in enumerate(raw.splitlines(), 1)
        for error in VALIDATOR.iter_errors(json.loads(line))
    ]


def test_the_schema_is_valid_json_schema() -> None:
    Draft202012Validator.check_schema(SCHEMA)


def test_a_recorded_session_validates() -> None:
    file = io.BytesIO()
    record_conversation(file)
    assert _errors(file.getvalue()) == []


def test_sessions_made_from_har_validate() -> None:
    raw = dumps_lines(session_lines_from_har(CHROME_HAR, tool_version="1", source="c")).encode()
    assert _errors(raw) == []
    file = io.BytesIO()
    record_conversation(file)
    session = read_session(file.getvalue().splitlines(keepends=True))
    har = har_from_session(session, tool_version="1")
    assert (
        _errors(dumps_lines(session_lines_from_har(har, tool_version="1", source="h")).encode())
        == []
    )


@pytest.mark.parametrize(
    "record",
    [
        {"type": "frame", "conn": 1, "from": "client"},  # most fields missing
        {
            "type": "frame",
            "conn": 1,
            "from": "nobody",
            "fin": True,
            "rsv": [False] * 3,
            "opcode": 1,
            "mask": None,
            "length": 0,
            "head": "8100",
            "wire": "",
        },
        {
            "type": "session",
            "format": "wstool-session",
            "version": 2,
            "wstool": "1",
            "command": "serve",
            "started": "x",
        },
    ],
)
def test_the_schema_refuses_what_is_not_a_record(record: dict[str, object]) -> None:
    assert list(VALIDATOR.iter_errors(record))
