"""Section 2: pings and pongs (RFC 6455 §5.5.2, §5.5.3)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wstool.check.cases import cases_in
from wstool.check.model import Case
from wstool.check.runner import PROMPT, Result

CASES = cases_in("2")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_pings_and_pongs(case: Case, conform: Callable[[Case], Result]) -> None:
    """Each ping is answered by a pong with the same payload, in order; unsolicited pongs
    are ignored; a ping over 125 bytes or fragmented fails the connection with 1002."""
    result = conform(case)
    assert result.close_after is not None and result.close_after < PROMPT
