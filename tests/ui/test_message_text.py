"""The plain-text message view is the rendered message block, character for character."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstool.core.events import MessageReceived
from wstool.ui.render import _plain, message_block, message_text


def _message(
    opcode: int, data: bytes, frames: int = 1, compressed: bool = False
) -> MessageReceived:
    text = None
    if opcode == 1:  # as the assembler reports it: the text when it is UTF-8, else None
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            text = None
    return MessageReceived(opcode, data, text, frames, len(data) // 2 + 1, compressed)


@pytest.mark.parametrize(
    "message",
    [
        _message(1, b"hello", 2),
        _message(1, b'{"a": [1, 2, {"b": "\\u202e"}]}', 3, True),
        _message(1, "\u202e bidi \x1b[2J".encode(), 2),
        _message(2, bytes(range(256)) * 10, 4, True),
        _message(2, b"", 2),
        _message(1, b"x" * 5000, 2),
    ],
)
@pytest.mark.parametrize("limit", [1024, None, 16])
def test_the_same_as_the_block(message: MessageReceived, limit: int | None) -> None:
    assert message_text(message, 0x1234, limit) == _plain(
        message_block(message, 0x1234, limit=limit)
    )


@given(st.binary(max_size=600), st.sampled_from([1, 2]), st.integers(1, 5), st.booleans())
def test_any_payload_the_same_as_the_block(
    data: bytes, opcode: int, frames: int, compressed: bool
) -> None:
    message = _message(opcode, data, frames, compressed)
    assert message_text(message, 7, 1024) == _plain(message_block(message, 7, limit=1024))
