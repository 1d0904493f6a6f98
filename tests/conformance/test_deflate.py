"""Sections 12 and 13: permessage-deflate (RFC 7692), negotiation and messages."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wstool.check.cases import cases_in
from wstool.check.model import Case
from wstool.check.runner import Result

CASES = cases_in("12", "13")


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_permessage_deflate(case: Case, conform: Callable[[Case], Result]) -> None:
    """Every offer gets an answer valid for it (RFC 7692 §7) and the compressed echoes
    inflate with the agreed windows and context takeover; invalid offers are declined;
    RSV1 on control or continuation frames fails with 1002, undecodable data with 1007,
    and a deflate bomb against a 1 MiB server with 1009, promptly."""
    conform(case)
