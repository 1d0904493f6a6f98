"""Judging is right both ways: a correct server passes, each bug fails the cases it touches.

The server is :class:`wstool.check.badserver.BadServer` (core's echo connection on a
plain socket, in a thread of this process), with one bug switched on at a time.
"""

from __future__ import annotations

import pytest

from wstool.check.badserver import BadServer
from wstool.check.model import Expect, Frame, PongOf, Together
from wstool.check.peer import parse_uri
from wstool.check.runner import FAILED, INFORMATIONAL, NON_STRICT, OK, Result
from wstool.check.suite import run_cases, select_cases

# Sections 12 and 13 need deflate (BadServer declines it); 9 is slow and about size.
CASES = select_cases(["*"], ["9", "12", "13"])


def run(bugs: tuple[str, ...], include: tuple[str, ...] = ("*",)) -> list[Result]:
    cases = [case for case in CASES if select_cases(include, cases=[case])]
    with BadServer(bugs) as server:
        return run_cases(cases, {"default": parse_uri(server.url)}, jobs=8)


def _open_ended(result: Result) -> bool:
    """A case whose outcome the RFC leaves open (7.1.6, 7.13.x), rated INFORMATIONAL."""
    expect = result.case.expect
    return isinstance(expect, Expect) and expect.informational and result.verdict == INFORMATIONAL


def not_ok(results: list[Result]) -> dict[str, str]:
    return {
        r.case.id: r.verdict
        for r in results
        if r.verdict not in (OK, "SKIPPED") and not _open_ended(r)
    }


def test_a_correct_server_passes_every_case() -> None:
    """Without bugs, every case run is OK, and its close is OK too (INFORMATIONAL both
    where the RFC leaves the outcome open, as Autobahn rates 7.1.6 and 7.13.x)."""
    results = run(())
    assert not_ok(results) == {}
    assert {r.close_verdict for r in results if not _open_ended(r)} <= {OK, "SKIPPED"}
    assert {r.case.id for r in results if _open_ended(r)} == {"7.1.6", "7.13.1", "7.13.2"}


def _sends_rsv(case: object) -> bool:
    steps = list(case.steps)  # type: ignore[attr-defined]
    for step in steps:
        inner = step.steps if isinstance(step, Together) else (step,)
        if any(isinstance(s, Frame) and (s.rsv1 or s.rsv2 or s.rsv3) for s in inner):
            return True
    return False


def _expects_pong(case: object) -> bool:
    expect = case.expect  # type: ignore[attr-defined]
    return isinstance(expect, Expect) and any(isinstance(r, PongOf) for r in expect.replies)


@pytest.mark.parametrize(
    ("bug", "touched"),
    [
        ("rsv", lambda case: _sends_rsv(case)),
        ("no-utf8", lambda case: case.id.startswith("6.")),
        ("no-pong", _expects_pong),
        ("close-code", lambda case: case.id.startswith("7.")),
        ("masked", lambda case: True),
    ],
)
def test_each_bug_fails_only_the_cases_it_touches(bug: str, touched: object) -> None:
    """Every case rated other than OK is one the bug can touch, and most of those fail."""
    results = run((bug,))
    bad = not_ok(results)
    assert bad, f"{bug}: no case caught it"
    outside = {cid: v for cid, v in bad.items() if not touched(_case(cid))}  # type: ignore[operator]
    assert outside == {}
    assert FAILED in bad.values()


def _case(case_id: str) -> object:
    return next(case for case in CASES if case.id == case_id)


def test_rsv_bits_accepted_fail_all_of_section_3() -> None:
    """A server that accepts RSV bits fails every case of section 3 (3.7 and 3.11 send Close
    frames with RSV bits: the server's answer is the wrong code)."""
    bad = not_ok(run(("rsv",), ("3",)))
    assert set(bad) == {case.id for case in CASES if case.id.startswith("3.")}


def test_late_utf8_check_is_non_strict() -> None:
    """Checking a text frame's UTF-8 only once it is whole is NON-STRICT (6.4.3, 6.4.4 and
    6.29), as Autobahn rates 6.4.3/6.4.4."""
    bad = not_ok(run(("late-utf8",), ("6",)))
    assert bad and set(bad.values()) == {NON_STRICT}


def test_slow_close_is_non_strict() -> None:
    """A Close answered after 3 s is NON-STRICT, not FAILED (7.1.6 is INFORMATIONAL whatever
    happens, so it is left out)."""
    results = run(("slow-close",), ("7.1.1", "7.1.2", "7.1.3", "7.1.4", "7.1.5"))
    assert {r.verdict for r in results} == {NON_STRICT}
    assert all("Close after" in r.detail for r in results)
