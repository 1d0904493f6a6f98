"""Section 0: the opening handshake of ``wstool serve`` (RFC 6455 §4.2), case by case."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wstool.check.cases import cases_in
from wstool.check.model import Case, Dropped
from wstool.check.runner import PROMPT, Result

CASES = cases_in("0")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_opening_handshake(case: Case, conform: Callable[[Case], Result]) -> None:
    """Valid requests are upgraded (even with frames behind them), broken ones get their
    4xx status and a closed connection, a stalled one is dropped after --handshake-timeout,
    and the first subprotocol the client offers that the server speaks is selected."""
    result = conform(case)
    if isinstance(case.expect, Dropped):
        assert case.expect.after * 0.8 <= result.duration <= case.expect.after + PROMPT
