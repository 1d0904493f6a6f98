"""Sections 1 and 10: framing at every length boundary, whole, dribbled and chopped; masking."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wstool.check.cases import cases_in
from wstool.check.model import Case
from wstool.check.runner import PROMPT, Result

CASES = cases_in("1", "10")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_framing(case: Case, conform: Callable[[Case], Result]) -> None:
    """Every payload length (0 to 16 MiB, each length encoding's edges) is echoed exactly,
    however the bytes are cut into writes; unmasked or badly encoded frames fail with 1002
    within 2 s."""
    result = conform(case)
    assert result.close_after is not None and result.close_after < PROMPT
