"""Tests of :mod:`wstool.core.connection` against the rules of :mod:`wstool.core.rules`.

The connection's receive paths skip :func:`~wstool.core.rules.violations` for
frames that pass the same named checks; these properties say that skipping
never changes the verdict: a connection fails with the close code (and rule)
that ``violations()`` and the message rules give, or not at all, whatever the
frame and however its bytes are cut into reads.
"""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wstool.core.assembler import MessageAssembler
from wstool.core.connection import DEFAULT_MAX_MESSAGE_SIZE, Connection
from wstool.core.deflate import DeflateParams, PerMessageDeflate
from wstool.core.events import MessageReceived
from wstool.core.frames import FrameParser, Role, WireFrame, forge_frame
from wstool.core.rules import header_ok, violations

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


KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"  # "kosme" as Autobahn sends it, 11 bytes


def chops(frame: bytes, *cuts: int) -> list[bytes]:
    """``frame`` cut at the given offsets."""
    bounds = [0, *cuts, len(frame)]
    return [frame[start:stop] for start, stop in itertools.pairwise(bounds)]


def feed(conn: Connection, pieces: list[bytes]) -> list[bool]:
    """Feed each piece as one read; return whether the connection had failed after each."""
    failed = []
    for piece in pieces:
        conn.receive_data(piece)
        failed.append(conn.failure is not None)
    return failed


class TestSection8_1Utf8WithinOneFrame:
    """RFC 6455 §8.1: invalid UTF-8 fails the connection as soon as the bytes show it,
    also inside one text frame that arrives in several reads."""

    def test_first_chop_invalid_fails_at_once(self) -> None:
        """A 300-byte text frame in three reads, the first with an invalid byte: 1007 after it."""
        payload = b"ab\xffcd" + b"x" * 295
        frame = forge_frame(opcode=1, payload=payload, mask_key=KEY)
        conn = Connection(Role.SERVER)
        assert feed(conn, chops(frame, 40, 150)) == [True, True, True]
        assert conn.failure is not None
        assert (conn.failure.rule, conn.failure.close_code) == ("text-utf8", 1007)
        # The offending byte: 2 + 2 (16-bit length) + 4 (key) header bytes, then "ab".
        assert conn.failure.offset == 8 + 2
        sent = FrameParser().feed(conn.data_to_send())
        [close] = list(sent)
        assert close.opcode == 8 and close.payload[:2] == (1007).to_bytes(2, "big")

    def test_autobahn_6_4_3_shape(self) -> None:
        """Valid Kosme, then U+110000's bytes, then more, in one frame: fail on the second read."""
        payload = KOSME + b"\xf4\x90\x80\x80" + b"edited"
        frame = forge_frame(opcode=1, payload=payload, mask_key=KEY)
        head = len(frame) - len(payload)
        conn = Connection(Role.SERVER)
        assert feed(conn, chops(frame, head + 11, head + 15)) == [False, True, True]

    def test_autobahn_6_4_4_shape(self) -> None:
        """A valid prefix cut inside a character (F4) does not fail; the next byte (90) does."""
        payload = KOSME + b"\xf4\x90\x80\x80" + b"edited"
        frame = forge_frame(opcode=1, payload=payload, mask_key=KEY)
        head = len(frame) - len(payload)
        conn = Connection(Role.SERVER)
        assert feed(conn, chops(frame, head + 12, head + 13)) == [False, True, True]

    def test_impossible_prefix_fails_before_the_character_ends(self) -> None:
        """ED A0 (a surrogate's start) at the end of a read fails without its third byte."""
        frame = forge_frame(opcode=1, payload=b"ok\xed\xa0\x80 more", mask_key=KEY)
        conn = Connection(Role.SERVER)
        assert feed(conn, chops(frame, 6 + 4, 6 + 5)) == [True, True, True]

    @pytest.mark.parametrize("role", [Role.SERVER, Role.CLIENT])
    def test_valid_text_in_many_reads_is_one_message(self, role: Role) -> None:
        """Valid text cut anywhere (mid-character too, every key offset) is not failed."""
        payload = (KOSME + b" \xf0\x9f\x98\x80 ") * 20
        key = KEY if role is Role.SERVER else None
        frame = forge_frame(opcode=1, payload=payload, mask_key=key)
        conn = Connection(role)
        assert feed(conn, [frame[i : i + 7] for i in range(0, len(frame), 7)]) == [False] * (
            (len(frame) + 6) // 7
        )
        [message] = [e for e in conn.events() if isinstance(e, MessageReceived)]
        assert message.text == payload.decode()

    def test_continuation_frame_carries_the_character_over(self) -> None:
        """A character begun in the first fragment and broken in the continuation's
        first read fails on that read; the continuation frame is not complete yet."""
        first = forge_frame(opcode=1, payload=KOSME + b"\xf0\x9f", fin=False, mask_key=KEY)
        second = forge_frame(opcode=0, payload=b"\x41" + b"x" * 200, mask_key=KEY)
        conn = Connection(Role.SERVER)
        assert feed(conn, [first, *chops(second, 10, 100)]) == [False, True, True, True]
        assert conn.failure is not None and conn.failure.close_code == 1007

    def test_other_rules_come_first(self) -> None:
        """A frame whose header breaks a rule (RSV2) waits for its end and fails with 1002."""
        frame = forge_frame(opcode=1, payload=b"\xff" * 50, rsv2=True, mask_key=KEY)
        conn = Connection(Role.SERVER)
        assert feed(conn, chops(frame, 20)) == [False, True]
        assert conn.failure is not None and conn.failure.close_code == 1002

    def test_compressed_text_is_checked_when_complete(self) -> None:
        """A compressed (RSV1) frame's text is known only once inflated: no early verdict."""
        peer = PerMessageDeflate(DeflateParams(), is_client=True)
        compressed = peer.compress(b"\xff" * 300)
        frame = forge_frame(opcode=1, payload=compressed, rsv1=True, mask_key=KEY)
        conn = Connection(Role.SERVER, codec=PerMessageDeflate(DeflateParams(), is_client=False))
        assert feed(conn, chops(frame, len(frame) - 2)) == [False, True]
        assert conn.failure is not None and conn.failure.close_code == 1007

    def test_size_limit_still_checked_before_buffering(self) -> None:
        """A header that declares more than the limit fails with 1009 before any payload."""
        frame = forge_frame(opcode=1, payload=b"\xff" * 200, mask_key=KEY)
        conn = Connection(Role.SERVER, max_message_size=100)
        assert feed(conn, [frame[:8]]) == [True]
        assert conn.failure is not None and conn.failure.close_code == 1009


@settings(max_examples=300, deadline=None)
@given(
    texts=st.lists(st.text(min_size=40, max_size=120), min_size=1, max_size=3),
    cut_points=st.lists(st.integers(0, 2000), max_size=10),
    bad=st.one_of(
        st.none(), st.tuples(st.integers(0, 1000), st.sampled_from([b"\xff", b"\xed\xa0"]))
    ),
    role=st.sampled_from([Role.CLIENT, Role.SERVER]),
)
def test_text_checked_while_arriving_is_the_text_of_one_read(
    texts: list[str],
    cut_points: list[int],
    bad: tuple[int, bytes] | None,
    role: Role,
) -> None:
    """A text message in frames that arrive in pieces (checked as they come, then
    finished from the bytes not yet seen) gives the message, or the 1007, that
    the same bytes in one read give."""
    parts = [text.encode("utf-8") for text in texts]
    if bad is not None:
        where, junk = bad
        joined = b"".join(parts)
        where %= len(joined) + 1
        parts = [joined[:where] + junk + joined[where:]]
    key = KEY if role is Role.SERVER else None
    stream = b"".join(
        forge_frame(opcode=0 if i else 1, payload=part, fin=i == len(parts) - 1, mask_key=key)
        for i, part in enumerate(parts)
    )

    def outcome(pieces: list[bytes]) -> tuple[object, ...]:
        conn = Connection(role)
        for piece in pieces:
            conn.receive_data(piece)
        messages = [e for e in conn.events() if isinstance(e, MessageReceived)]
        failure = conn.failure and (conn.failure.rule, conn.failure.close_code)
        return messages, failure

    assert outcome(chops(stream, *sorted({c % len(stream) for c in cut_points}))) == outcome(
        [stream]
    )


@pytest.mark.parametrize("role", [Role.CLIENT, Role.SERVER])
@pytest.mark.parametrize("deflate", [False, True])
def test_inline_path_frames_pass_every_header_rule(role: Role, deflate: bool) -> None:
    """The frames Connection.receive_data handles in line (FIN, no RSV bit, TEXT or
    BINARY, 7-bit length, masked as the peer must) are frames header_ok() accepts."""
    for opcode in (1, 2):
        for length in (0, 1, 125):
            key = KEY if role.peer is Role.CLIENT else None
            raw = forge_frame(opcode=opcode, payload=b"a" * length, mask_key=key)
            assert header_ok(_parse_one(raw), role.peer, deflate)
