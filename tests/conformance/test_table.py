"""The case table itself: well-formed, covering what it promises, its helpers right."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from wstool.check.build import OWN
from wstool.check.cases import CASES, KOSME, PROFILES, SECTIONS, cases_in, utf8_fault
from wstool.check.model import Expect, FailsHere, Frame, Message, Raw, payload_bytes
from wstool.core.frames import FrameParser

CLOSE, TEXT = 0x8, 0x1


def test_ids_are_unique_and_in_known_sections() -> None:
    """Every case has its own id, in a section the table names, and a known profile."""
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids))
    assert {case_id.split(".")[0] for case_id in ids} == set(SECTIONS)
    assert {case.profile for case in CASES} == set(PROFILES)


# The Autobahn Testsuite's case ids (its case/__init__.py): sub-section -> how many cases.
# Sections 2, 3 and 5 number their cases without a sub-section (2.1 ... 2.11).
AUTOBAHN = {
    **{"1.1": 8, "1.2": 8, "2": 11, "3": 7, "4.1": 5, "4.2": 5, "5": 20},
    **{"6.1": 3, "6.2": 4, "6.3": 2, "6.4": 4, "6.5": 5, "6.6": 11, "6.7": 4, "6.8": 2},
    **{"6.9": 4, "6.10": 3, "6.11": 5, "6.12": 8, "6.13": 5, "6.14": 10, "6.15": 1},
    **{"6.16": 3, "6.17": 5, "6.18": 5, "6.19": 5, "6.20": 7, "6.21": 8, "6.22": 34},
    **{"6.23": 7, "7.1": 6, "7.3": 6, "7.5": 1, "7.7": 13, "7.9": 9, "7.13": 2},
    **{f"9.{sub}": 6 for sub in (1, 2, 5, 6, 7, 8)},
    **{"9.3": 9, "9.4": 9, "10.1": 1},
    **{f"12.{sub}": 18 for sub in range(1, 6)},
    **{f"13.{sub}": 18 for sub in range(1, 8)},
}


def test_every_autobahn_id_is_there_and_ours_are_marked() -> None:
    """The 517 ids of Autobahn's cases are in the table, unmarked; every other case outside
    section 0 is wstool's own, in a sub-section Autobahn does not use, and says so."""
    autobahn = {f"{sub}.{n}" for sub, count in AUTOBAHN.items() for n in range(1, count + 1)}
    assert len(autobahn) == 517
    ours = {case.id for case in CASES if case.id.split(".")[0] != "0"}
    assert autobahn <= ours
    for case in CASES:
        if case.id in autobahn:
            assert not case.description.endswith(OWN), case.id
        elif not case.id.startswith("0."):
            assert case.description.endswith(OWN), case.id
            assert ".".join(case.id.split(".")[:2]) not in AUTOBAHN, case.id


def test_fail_fast_cases_expect_a_failure() -> None:
    """A case that stops sending once the server failed must expect a failure."""
    for case in CASES:
        if any(isinstance(step, FailsHere) for step in case.steps):
            assert isinstance(case.expect, Expect) and case.expect.fails, case.id


def test_framing_covers_every_length_boundary() -> None:
    """Text and binary messages of each length edge of the 7, 16 and 64-bit encodings."""
    wanted = {0, 1, 125, 126, 127, 128, 65535, 65536, 65537, 2**20, 16 * 2**20}
    for opcode in (1, 2):
        sizes = {
            len(payload_bytes(step.payload))
            for case in cases_in("1")
            for step in case.steps
            if isinstance(step, (Message, Frame)) and step.opcode == opcode
        }
        assert wanted <= sizes


def test_close_codes_cover_valid_and_invalid() -> None:
    """Every code the brief lists is sent in a Close frame by some case of section 7."""
    sent = {
        int.from_bytes(payload_bytes(step.payload)[:2], "big")
        for case in cases_in("7")
        for step in case.steps
        if isinstance(step, Frame)
        and step.opcode == CLOSE
        and len(payload_bytes(step.payload)) >= 2
    }
    valid = {1000, 1001, 1002, 1003, *range(1007, 1015), 3000, 3999, 4000, 4999}
    invalid = {0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535}
    assert valid | invalid <= sent


def test_invalid_utf8_cases_send_invalid_utf8() -> None:
    """Each case expecting 1007 for a single text message really sends invalid UTF-8."""
    for case in cases_in("6"):
        if isinstance(case.expect, Expect) and case.expect.codes == (1007,):
            data = b"".join(
                payload_bytes(step.payload)
                for step in case.steps
                if isinstance(step, (Frame, Message)) and step.opcode in (0, TEXT)
            )
            # A frame written by hand in pieces: its payload, unmasked.
            raw = b"".join(step.data for step in case.steps if isinstance(step, Raw))
            data += b"".join(f.data for f in FrameParser().feed(raw) if f.opcode in (0, TEXT))
            assert utf8_fault(data) is not None, case.id


def test_utf8_fault_examples() -> None:
    """The first byte that no valid UTF-8 can hold, or the length when only cut short."""
    assert utf8_fault(KOSME) is None
    assert utf8_fault(b"\xed\xa0\x80") == 1
    assert utf8_fault(b"\xf4\x90\x80\x80") == 1
    assert utf8_fault(b"\xc0\xaf") == 0
    assert utf8_fault(b"ab\xe0\xa0") == 4
    assert utf8_fault(b"\xe1\x80A") == 2


@given(st.binary(max_size=12) | st.text(max_size=6).map(str.encode))
def test_utf8_fault_agrees_with_the_codec(data: bytes) -> None:
    """utf8_fault(data) is None exactly when Python decodes the bytes as UTF-8."""
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        assert utf8_fault(data) is not None
    else:
        assert utf8_fault(data) is None
