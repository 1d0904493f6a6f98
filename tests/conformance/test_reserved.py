"""Sections 3 and 4: reserved bits and reserved opcodes (RFC 6455 §5.2)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wstool.check.cases import cases_in
from wstool.check.model import Case
from wstool.check.runner import PROMPT, Result

CASES = cases_in("3", "4")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_reserved_bits_and_opcodes(case: Case, conform: Callable[[Case], Result]) -> None:
    """Any RSV bit without an extension, and any opcode 3-7 or 11-15, fails the connection
    with 1002 within 2 s; a message echoed before it stays echoed, and a ping sent after
    it is not answered."""
    result = conform(case)
    assert case.expect.fails  # type: ignore[union-attr]
    assert result.close_after is not None and result.close_after < PROMPT
