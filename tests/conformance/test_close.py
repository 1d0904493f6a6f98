"""Section 7: the closing handshake (RFC 6455 §5.5.1, §7.1, §7.4)."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wstool.check.cases import cases_in
from wstool.check.model import Case
from wstool.check.runner import PROMPT, Result

CASES = cases_in("7")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_close(case: Case, conform: Callable[[Case], Result]) -> None:
    """A Close is answered with the same code (an empty one with an empty one: 1005 never
    goes on the wire) and the server closes TCP; nothing after a Close is answered; invalid
    codes and 1-byte payloads fail with 1002, a reason that is not UTF-8 with 1007."""
    result = conform(case)
    assert result.close_after is not None and result.close_after < PROMPT
