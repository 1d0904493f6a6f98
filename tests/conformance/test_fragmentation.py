"""Section 5: fragmentation (RFC 6455 §5.4)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wstool.check.cases import cases_in
from wstool.check.model import Case
from wstool.check.runner import Result

CASES = cases_in("5")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_fragmentation(case: Case, conform: Callable[[Case], Result]) -> None:
    """Fragments are reassembled into one message (empty ones included), control frames
    between them are answered at once, and a continuation without a start, a new message
    inside an open one or a fragmented control frame fails with 1002."""
    conform(case)
