"""Sections 12 and 13: permessage-deflate (RFC 7692), negotiation and messages.

Autobahn's 216 cases here send 1000 messages each, up to 128 KiB, and take
minutes in all; the test runs wstool's own cases and, of Autobahn's, the
first three sizes of each document and offer and the largest fragmented one
(``wstool check server URL --deflate`` and scripts/check_vs_autobahn.py run them all).
"""

from __future__ import annotations

from collections.abc import Callable

import pytest

from wstool.check.cases import cases_in
from wstool.check.model import Case
from wstool.check.runner import Result

SAMPLE = {*(f"12.{d}.{n}" for d in range(1, 6) for n in (1, 2, 3)), "12.1.18"}
SAMPLE |= {f"13.{o}.{n}" for o in range(1, 8) for n in (1, 2, 3)}
CASES = [
    case for case in cases_in("12", "13") if case.id in SAMPLE or "wstool's own" in case.description
]


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_permessage_deflate(case: Case, conform: Callable[[Case], Result]) -> None:
    """Every offer gets an answer valid for it (RFC 7692 §7) and the compressed echoes
    inflate with the agreed windows and context takeover; invalid offers are declined;
    RSV1 on control or continuation frames fails with 1002, undecodable data with 1007,
    and a deflate bomb against a 1 MiB server with 1009, promptly."""
    conform(case)
