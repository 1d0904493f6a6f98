"""Section 9: messages up to 16 MiB, many messages, and the message size limit (1009)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wstool.check.cases import cases_in
from wstool.check.model import Case
from wstool.check.runner import PROMPT, Result

CASES = cases_in("9")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_limits(case: Case, conform: Callable[[Case], Result]) -> None:
    """Messages up to --max-message-size are echoed whole, in one frame or in fragments;
    one byte more fails with 1009 as soon as the size is known (a header declaring too
    much fails before its payload is sent)."""
    result = conform(case)
    assert result.close_after is not None and result.close_after < PROMPT
