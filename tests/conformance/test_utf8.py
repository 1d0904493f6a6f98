"""Section 6: UTF-8 in text messages (RFC 6455 §8.1), failing fast where it can."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wstool.check.cases import cases_in
from wstool.check.model import Case
from wstool.check.runner import Result

CASES = cases_in("6")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_utf8(case: Case, conform: Callable[[Case], Result]) -> None:
    """Valid UTF-8 (every length boundary, noncharacters, split anywhere across fragments)
    is echoed; invalid UTF-8 (overlong, surrogates, over U+10FFFF, 5- and 6-byte forms,
    stray or missing continuation bytes) fails with 1007, and a fragment that cannot
    start valid UTF-8 fails before the next fragment is sent."""
    conform(case)
