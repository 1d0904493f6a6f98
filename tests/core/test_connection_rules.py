"""Tests of :mod:`wstool.core.connection` against the rules of :mod:`wstool.core.frames`.

The connection's receive paths skip :func:`~wstool.core.frames.violations` for
frames that pass the same named checks; these properties say that skipping
never changes the verdict: a connection fails with the close code (and rule)
that ``violations()`` and the message rules give, or not at all, whatever the
frame and however its bytes are cut into reads.
"""

from __future__ import annotations

import itertools

from hypothesis import given, settings
from hypothesis import strategies as st

from wstool.core.connection import DEFAULT_MAX_MESSAGE_SIZE, Connection, MessageAssembler
from wstool.core.deflate import DeflateParams, PerMessageDeflate
from wstool.core.frames import FrameParser, Role, WireFrame, forge_frame, violations

KEY = bytes.fromhex("37fa213d")  # RFC 6455 §5.7

payloads = st.one_of(
    st.binary(max_size=140),
    st.text(max_size=60).map(lambda text: text.encode("utf-8")),
    # A Close payload: a code, valid or not, and a reason.
    st.tuples(st.integers(0, 5000), st.binary(max_size=10)).map(
        lambda cr: cr[0].to_bytes(2, "big") + cr[1]
    ),
)


@st.composite
def frames(draw: st.DrawFn) -> bytes:
    """Any frame whose declared length matches its payload, every header bit free."""
    payload = draw(payloads)
    n = len(payload)
    encodings = [bits for bits, top in ((7, 125), (16, 0xFFFF), (64, 2**64 - 1)) if n <= top]
    return forge_frame(
        opcode=draw(st.integers(0, 15)),
        payload=payload,
        fin=draw(st.booleans()),
        rsv1=draw(st.booleans()),
        rsv2=draw(st.integers(0, 7)) == 0,
        rsv3=draw(st.integers(0, 7)) == 0,
        mask_key=KEY if draw(st.booleans()) else None,
        length_bits=draw(st.sampled_from(encodings)),
    )


def _codec(role: Role, deflate: bool) -> PerMessageDeflate | None:
    return PerMessageDeflate(DeflateParams(), is_client=role is Role.CLIENT) if deflate else None


def _parse_one(data: bytes) -> WireFrame:
    [frame] = FrameParser().feed(data)
    return frame


def expected_failure(
    role: Role, deflate: bool, prefix: bytes, data: bytes
) -> tuple[str, int] | None:
    """The slow path's verdict: violations() on each frame, then the message rules."""
    assembler = MessageAssembler(
        max_message_size=DEFAULT_MAX_MESSAGE_SIZE, codec=_codec(role, deflate)
    )
    for raw in (prefix, data):
        if not raw:
            continue
        frame = _parse_one(raw)
        # violations() checks the text of a single-frame message; a frame
        # that comes while a message is in progress is not one.
        found = violations(frame, role.peer, deflate=deflate, check_utf8=not assembler.in_progress)
        if found:
            return found[0].rule, found[0].close_code
        if frame.is_control:
            continue
        result = assembler.add(frame, frame.data)
        if result is not None and not hasattr(result, "text"):
            return result.rule, result.close_code  # type: ignore[union-attr]
    return None


def connection_failure(
    role: Role, deflate: bool, prefix: bytes, data: bytes, cuts: list[int], record: bool
) -> tuple[str, int] | None:
    """The connection's verdict on the same bytes, fed in the reads ``cuts`` makes."""
    conn = Connection(role, codec=_codec(role, deflate), record_frames=record)
    stream = prefix + data
    bounds = sorted({0, len(stream), *(c % (len(stream) + 1) for c in cuts)})
    for start, stop in itertools.pairwise(bounds):
        conn.receive_data(stream[start:stop])
    if conn.failure is None:
        return None
    return conn.failure.rule, conn.failure.close_code


@settings(max_examples=600, deadline=None)
@given(
    role=st.sampled_from([Role.CLIENT, Role.SERVER]),
    deflate=st.booleans(),
    started=st.sampled_from([None, 1, 2]),
    frame=frames(),
    cuts=st.lists(st.integers(0, 200), max_size=4),
    record=st.booleans(),
)
def test_receive_paths_agree_with_violations(
    role: Role,
    deflate: bool,
    started: int | None,
    frame: bytes,
    cuts: list[int],
    record: bool,
) -> None:
    """Any frame, in either role, after an unfinished message or none, cut anyhow:
    the connection fails with the rule and close code of violations() and the
    message rules, or does not fail when they find nothing."""
    key = KEY if role is Role.SERVER else None
    prefix = (
        b""
        if started is None
        else forge_frame(opcode=started, payload=b"ab", fin=False, mask_key=key)
    )
    assert connection_failure(role, deflate, prefix, frame, cuts, record) == expected_failure(
        role, deflate, prefix, frame
    )
