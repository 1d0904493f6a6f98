"""The cases with the roles reversed: wstool the server, a client judged.

Judging is right both ways: the misbehaving client of
:mod:`wstool.check.badclient` without bugs passes every case, and with one
bug fails the cases that bug touches and no others. The client runs in
threads of this process against :class:`wstool.check.fuzzingserver.FuzzingServer`
on 127.0.0.1, port 0, driven as an Autobahn harness drives it (one
``/runCase`` connection per case). Also: MaskFlip and the case selection.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstool.check.badclient import BadClient
from wstool.check.clientrun import client_cases, for_clients
from wstool.check.fuzzingserver import FuzzingServer
from wstool.check.model import Case, Expect, PongOf, Refused
from wstool.check.peer import MaskFlip, client_frame
from wstool.check.runner import FAILED, INFORMATIONAL, OK, WRONG_CODE, Result
from wstool.check.suite import select_cases
from wstool.core.frames import FrameParser

# A spread of sections that runs in seconds: no deflate (the bad client does
# not offer it), none of section 9's big messages, a few UTF-8 cases.
PATTERNS = ["1.1", "2", "3", "4", "5", "6.1", "6.3", "6.4", "7.1", "7.3", "7.5", "7.7", "10"]
CASES = select_cases(PATTERNS, cases=client_cases())


@contextmanager
def serving(cases: list[Case]) -> Iterator[FuzzingServer]:
    with FuzzingServer(cases, port=0) as server:
        yield server


def drive(server: FuzzingServer, agent: str, bugs: tuple[str, ...]) -> dict[str, Result]:
    """Run every case as a harness does (one connection each), eight at a time."""
    urls = [server.case_url(number, agent) for number in range(1, len(server.cases) + 1)]
    with ThreadPoolExecutor(8) as pool:
        list(pool.map(lambda url: _quietly(url, bugs), urls, timeout=120))
    results = {}
    for case in server.cases:
        result = server.results.wait(agent, case.id, 10)
        assert result is not None, case.id
        results[case.id] = result
    return results


def _quietly(url: str, bugs: tuple[str, ...]) -> None:
    with contextlib.suppress(OSError):  # the server may close first: its verdict counts
        BadClient(url, bugs).run()


@pytest.fixture(scope="module")
def baseline() -> dict[str, Result]:
    with serving(CASES) as server:
        return drive(server, "correct", ())


def _informational(case: Case) -> bool:
    return bool(getattr(case.expect, "informational", False))


def test_the_correct_client_passes_every_case(baseline: dict[str, Result]) -> None:
    """Without bugs every case is OK (INFORMATIONAL where the RFC leaves it open)."""
    for case in CASES:
        result = baseline[case.id]
        wanted = INFORMATIONAL if _informational(case) else OK
        assert (result.verdict, result.close_verdict) == (wanted, wanted), (
            case.id,
            result.detail,
            result.close_detail,
        )
        assert result.server_side


def _codes(case: Case) -> set[int | None]:
    return set(case.expect.codes) if isinstance(case.expect, Expect) else set()


def _expects_pong(case: Case) -> bool:
    expect = case.expect
    return isinstance(expect, Expect) and any(isinstance(r, PongOf) for r in expect.replies)


@pytest.mark.parametrize(
    ("bug", "touched"),
    [
        ("no-utf8", lambda case: 1007 in _codes(case)),
        ("no-pong", _expects_pong),
        ("close-code", lambda case: bool(_codes(case) - {1000, None})),
        ("unmasked", lambda case: True),
    ],
)
def test_each_bug_fails_only_the_cases_it_touches(
    baseline: dict[str, Result], bug: str, touched: Callable[[Case], bool]
) -> None:
    """Cases the bug does not touch never fail; the ones it touches get worse.

    (A case the bug does not touch may still turn NON-STRICT on a loaded
    machine, by lateness: that is timing, not the bug.)
    """
    with serving(CASES) as server:
        results = drive(server, bug, (bug,))
    worse = set()
    for case in CASES:
        before, after = baseline[case.id], results[case.id]
        if (before.verdict, before.close_verdict) == (after.verdict, after.close_verdict):
            continue
        if touched(case):
            worse.add(case.id)
        else:
            assert after.verdict != FAILED, (case.id, case.description, after.detail)
            assert after.close_verdict not in (FAILED, WRONG_CODE), (case.id, after.close_detail)
    assert worse, f"{bug}: no case caught it"
    if bug == "unmasked":
        assert {r.verdict for r in results.values()} == {FAILED}
    if bug in ("no-utf8", "no-pong"):
        assert all(results[c].verdict == FAILED for c in worse)


def test_client_cases_leave_out_what_only_a_server_does() -> None:
    """No handshake section, no refusals, no server profiles; the rest is kept."""
    cases = client_cases()
    assert cases
    assert not [c for c in cases if c.id.startswith("0.") or isinstance(c.expect, Refused)]
    assert {c.profile for c in cases} <= {"default", "no-deflate"}
    assert all(for_clients(c) for c in cases)
    ids = {c.id for c in cases}
    assert {"1.1.1", "2.1", "5.1", "6.1.1", "7.1.1", "10.1.1"} <= ids
    # A case about an unmasked client frame sends the client a masked one, and says so.
    words = {c.description.split(" (")[0] for c in cases}
    assert "masked text frame" in words and "unmasked text frame" not in words


def test_fuzzing_server_refuses_bad_requests() -> None:
    """An unknown path, a case out of range or no agent: an HTTP error, no upgrade."""
    import socket

    with serving(CASES[:3]) as server:
        host, port = server.url.removeprefix("ws://").split(":")
        for target, status in (
            ("/nothing", b"404"),
            ("/runCase?case=99&agent=a", b"404"),
            ("/runCase?case=1", b"400"),
            ("/getCaseInfo?case=x", b"404"),
        ):
            with socket.create_connection((host, int(port)), timeout=5) as sock:
                sock.sendall(
                    f"GET {target} HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                    "Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
                    "Sec-WebSocket-Version: 13\r\n\r\n".encode()
                )
                assert sock.recv(100).split(b" ")[1] == status, target


class TestMaskFlip:
    """RFC 6455 §5.1: a server's frames unmasked, and an unmasked client frame masked."""

    def test_masked_frames_go_out_unmasked_and_unmasked_ones_masked(self) -> None:
        flip = MaskFlip(mask_source=lambda n: b"\x01\x02\x03\x04")
        data = client_frame(1, b"Hello") + client_frame(2, b"raw", masked=False)
        frames = list(FrameParser().feed(flip.feed(data)))
        assert [(f.opcode, f.mask_key, f.data) for f in frames] == [
            (1, None, b"Hello"),
            (2, b"\x01\x02\x03\x04", b"raw"),
        ]

    @given(
        st.lists(st.tuples(st.binary(max_size=300), st.booleans()), min_size=1, max_size=5),
        st.integers(min_value=1, max_value=50),
    )
    def test_any_chopping_gives_the_same_frames(
        self, frames: list[tuple[bytes, bool]], chop: int
    ) -> None:
        data = b"".join(client_frame(2, payload, masked=masked) for payload, masked in frames)
        flip = MaskFlip()
        out = b"".join(flip.feed(data[i : i + chop]) for i in range(0, len(data), chop))
        parsed = list(FrameParser().feed(out))
        assert [(f.data, f.mask_key is None) for f in parsed] == frames
