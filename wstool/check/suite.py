"""Choose cases by pattern and run them, several at a time, against a server.

Case patterns follow the Autobahn Testsuite's spec files: ``*`` and ``?``
are globs over the dotted id (``6.4.*``, ``12.*``); a pattern without a
glob also names everything under it (``6.4`` is 6.4.1, 6.4.2 ...; ``9`` is
section 9). Cases are independent (each opens its own connection), so they
run on a pool of threads; a case's result is reported as soon as it is in.
"""

from __future__ import annotations

import fnmatch
import ssl
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from wstool.check.cases import CASES
from wstool.check.model import Case
from wstool.check.runner import BEHAVIORS, FAILED, OK, SKIPPED, Result, run_case
from wstool.core.uri import WebSocketURI

__all__ = [
    "DEFLATE_SECTIONS",
    "Counts",
    "case_key",
    "matches",
    "run_cases",
    "select_cases",
    "skipped",
]

DEFLATE_SECTIONS = ("12", "13")
"""The permessage-deflate sections (RFC 7692)."""


def case_key(case_id: str) -> tuple[int, ...]:
    """A sort key that puts 1.1.10 after 1.1.9."""
    return tuple(int(part) if part.isdigit() else 0 for part in case_id.split("."))


def matches(case_id: str, pattern: str) -> bool:
    """Whether ``case_id`` is named by ``pattern`` (a glob, or an id and what is under it)."""
    pattern = pattern.strip()
    if any(c in pattern for c in "*?["):
        return fnmatch.fnmatchcase(case_id, pattern)
    return case_id == pattern or case_id.startswith(pattern.rstrip(".") + ".")


def select_cases(
    include: Sequence[str] = ("*",),
    exclude: Sequence[str] = (),
    *,
    cases: Iterable[Case] = CASES,
) -> list[Case]:
    """The cases named by a pattern of ``include`` and by none of ``exclude``, in id order."""
    chosen = [
        case
        for case in cases
        if any(matches(case.id, p) for p in include)
        and not any(matches(case.id, p) for p in exclude)
    ]
    return sorted(chosen, key=lambda case: case_key(case.id))


def skipped(case: Case, why: str) -> Result:
    """The result of a case not run."""
    return Result(case, SKIPPED, "", why, 0.0, close_verdict=SKIPPED, started=time.time())


def run_cases(
    cases: Sequence[Case],
    urls: Mapping[str, WebSocketURI],
    *,
    jobs: int = 1,
    ssl_context: ssl.SSLContext | None = None,
    on_result: Callable[[Result], None] | None = None,
    run: Callable[..., Result] = run_case,
) -> list[Result]:
    """Run ``cases`` against the server of each case's profile, ``jobs`` at a time.

    Args:
        cases: what to run.
        urls: the server for each profile (``"default"``, ``"limited"`` ...);
            a case whose profile has none is SKIPPED.
        jobs: cases run at once (each on its own connection).
        ssl_context: for ``wss://`` URLs.
        on_result: called with each result as it comes (from the calling thread).
        run: the case runner (a test may pass its own).

    Returns:
        The results, in the order of ``cases``.
    """
    results: dict[int, Result] = {}
    report = on_result or (lambda result: None)
    pending = []
    for index, case in enumerate(cases):
        uri = urls.get(case.profile)
        if uri is None:
            results[index] = skipped(case, f"needs a server of profile {case.profile!r}")
            report(results[index])
        else:
            pending.append((index, case, uri))
    with ThreadPoolExecutor(max_workers=max(1, jobs), thread_name_prefix="check") as pool:
        futures = {
            pool.submit(run, case, uri, ssl_context=ssl_context): index
            for index, case, uri in pending
        }
        for future in as_completed(futures):
            results[futures[future]] = future.result()
            report(results[futures[future]])
    return [results[index] for index in range(len(cases))]


@dataclass
class Counts:
    """How many results got each verdict, in all and per top-level section."""

    total: dict[str, int]
    sections: dict[str, dict[str, int]]

    @classmethod
    def of(cls, results: Iterable[Result]) -> Counts:
        """Count ``results``."""
        names = (*BEHAVIORS, SKIPPED)
        total = dict.fromkeys(names, 0)
        sections: dict[str, dict[str, int]] = {}
        for result in results:
            section = result.case.id.split(".")[0]
            sections.setdefault(section, dict.fromkeys(names, 0))[result.verdict] += 1
            total[result.verdict] += 1
        ordered = dict(sorted(sections.items(), key=lambda item: case_key(item[0])))
        return cls(total, ordered)

    @property
    def passed(self) -> int:
        """Results that are not FAILED and were run (Autobahn counts these as passing)."""
        return sum(n for verdict, n in self.total.items() if verdict not in (FAILED, SKIPPED))

    @property
    def failed(self) -> int:
        """FAILED results."""
        return self.total[FAILED]

    @property
    def strict(self) -> int:
        """OK results."""
        return self.total[OK]
