"""The held queue: messages numbered as they complete, release exact unless dropped or edited."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstool.core.errors import UsageError
from wstool.core.frames import Role, encode_frame, forge_frame
from wstool.core.held import HeldQueue

KEY = b"\x37\xfa\x21\x3d"


def queue(sender: Role = Role.CLIENT, **kwargs: object) -> HeldQueue:
    return HeldQueue(sender, next_number=itertools.count(1).__next__, **kwargs)  # type: ignore[arg-type]


def text(payload: bytes, *, fin: bool = True, opcode: int = 1, key: bytes | None = KEY) -> bytes:
    return forge_frame(opcode=opcode, payload=payload, fin=fin, mask_key=key)


class TestNumbering:
    def test_messages_are_numbered_as_they_complete(self) -> None:
        """A fragmented message counts once, after its last frame; a Ping inside it first."""
        held = queue()
        first, ping, last = text(b"par", fin=False), text(b"p", opcode=9), text(b"t", opcode=0)
        found = held.feed(first + ping + last + text(b"whole"))
        assert [(m.number, m.opcode, m.payload, m.frames) for m in found] == [
            (1, 9, b"p", 1),
            (2, 1, b"part", 2),
            (3, 1, b"whole", 1),
        ]

    def test_a_frame_cut_when_holding_began_is_not_numbered(self) -> None:
        """The rest of a frame whose start already went on passes, unnumbered."""
        frame = text(b"abcdef")
        held = queue(sent_prefix=frame[:5])
        assert held.feed(frame[5:] + text(b"next")) != []
        assert [m.payload for m in held.messages] == [b"next"]
        assert held.release() == frame[5:] + text(b"next")

    def test_the_rest_of_an_open_message_is_not_numbered(self) -> None:
        """Continuations of a message begun before holding are passed on as they are."""
        held = queue(in_message=True)
        held.feed(text(b"x", opcode=0, fin=False) + text(b"y", opcode=0) + text(b"z"))
        assert [m.payload for m in held.messages] == [b"z"]


class TestRelease:
    def test_drop_leaves_out_every_frame_but_the_control_frames_between(self) -> None:
        """Dropping a fragmented message keeps the Ping sent between its fragments."""
        held = queue()
        first, ping, last = text(b"par", fin=False), text(b"p", opcode=9), text(b"t", opcode=0)
        held.feed(first + ping + last + text(b"kept"))
        held.drop(2)
        assert held.release() == ping + text(b"kept")

    def test_edit_is_one_frame_in_place_of_the_message(self) -> None:
        """The new payload goes in one frame, masked with the key given, where the message was."""
        held = queue()
        held.feed(text(b"one") + text(b"tw", fin=False) + text(b"o", opcode=0) + text(b"three"))
        held.edit(2, b"TWO", KEY)
        assert held.release() == text(b"one") + encode_frame(1, b"TWO", mask_key=KEY) + text(
            b"three"
        )

    def test_server_frames_unmasked(self) -> None:
        """A server's message is edited without a mask."""
        held = queue(Role.SERVER)
        held.feed(text(b"hi", key=None))
        held.edit(1, b"yo", None)
        assert held.release() == encode_frame(1, b"yo")

    def test_inserted_bytes_keep_their_place(self) -> None:
        """A frame the proxy injects while held goes out between the frames around it."""
        held = queue()
        held.feed(text(b"a"))
        held.insert(b"INJECTED")
        held.feed(text(b"b"))
        assert held.size == len(text(b"a")) * 2 + 8
        assert held.release() == text(b"a") + b"INJECTED" + text(b"b")

    def test_unknown_or_dropped_numbers_are_refused(self) -> None:
        """No such message: one line pointing at /held."""
        held = queue()
        held.feed(text(b"a"))
        held.drop(1)
        with pytest.raises(UsageError, match="no held message 1"):
            held.edit(1, b"b", KEY)
        with pytest.raises(UsageError, match="no held message 9"):
            held.drop(9)

    def test_a_frame_over_the_limit_ends_the_parsing_not_the_holding(self) -> None:
        """Past a too-large header the bytes are kept and released as they came."""
        held = queue(max_frame_size=10)
        data = text(b"ok") + text(b"x" * 50) + text(b"after")
        assert [m.payload for m in held.feed(data)] == [b"ok"]
        held.drop(1)
        assert held.release() == data[len(text(b"ok")) :]

    def test_compressed_is_told(self) -> None:
        """RSV1 on a message's first frame marks it compressed (the caller decides)."""
        held = queue()
        (message,) = held.feed(forge_frame(opcode=1, payload=b"\x00", rsv1=True, mask_key=KEY))
        assert message.compressed


_frames = st.lists(
    st.tuples(
        st.sampled_from([0, 1, 2, 3, 9, 10]),
        st.binary(max_size=40),
        st.booleans(),
        st.booleans(),
    ),
    max_size=12,
)


@given(frames=_frames, cuts=st.lists(st.integers(min_value=0, max_value=600), max_size=6))
def test_release_is_exact_in_any_chunking(
    frames: list[tuple[int, bytes, bool, bool]], cuts: list[int]
) -> None:
    """Whatever the frames (valid or not) and however they arrive, release gives them back."""
    data = b"".join(
        forge_frame(opcode=op, payload=p, fin=fin, mask_key=KEY if masked else None)
        for op, p, fin, masked in frames
    )
    held = queue()
    start = 0
    for cut in sorted(cuts):
        held.feed(data[start:cut])
        start = max(start, cut)
    held.feed(data[start:])
    assert held.size == len(data)
    assert held.release() == data
    assert held.size == 0


@given(frames=_frames, which=st.integers(min_value=1, max_value=12))
def test_dropping_removes_exactly_that_message(
    frames: list[tuple[int, bytes, bool, bool]], which: int
) -> None:
    """After a drop, the released bytes are the frames minus the dropped message's own."""
    encoded = [forge_frame(opcode=op, payload=p, fin=fin, mask_key=KEY) for op, p, fin, _ in frames]
    held = queue()
    for frame in encoded:
        held.feed(frame)
    message = held.find(which)
    if message is None:
        return
    held.drop(which)
    out = held.release()
    assert len(out) == len(b"".join(encoded)) - message.wire_size
