"""The relay's tap (``core.tap``): any chunking gives the same findings, as ``decode``'s."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from wstool.core.deflate import DeflateParams, PerMessageDeflate
from wstool.core.frames import Role, forge_frame
from wstool.core.held import HeldQueue
from wstool.core.inspect import FrameReport, SequenceViolation, inspect_stream
from wstool.core.tap import CloseSeen, InspectionStopped, StreamTap, TapItem

frames = st.builds(
    lambda opcode, payload, fin, rsv1, rsv2, masked: forge_frame(
        opcode=opcode,
        payload=payload,
        fin=fin or bool(opcode & 0x8),
        rsv1=rsv1,
        rsv2=rsv2,
        mask_key=b"\x01\x02\x03\x04" if masked else None,
    ),
    st.sampled_from([0, 1, 1, 2, 2, 3, 8, 9, 10]),
    st.binary(max_size=40) | st.sampled_from([b"\x03\xe8", b"\xff\xfe", "é✓".encode()]),
    st.booleans(),
    st.integers(0, 9).map(lambda n: n == 0),
    st.integers(0, 9).map(lambda n: n == 0),
    st.integers(0, 9).map(lambda n: n != 0),
)


def rules(items: list[TapItem]) -> list[tuple[str, int]]:
    found: list[tuple[str, int]] = []
    for item in items:
        if isinstance(item, FrameReport):
            found += [(v.rule, v.offset) for v in item.violations]
        elif isinstance(item, SequenceViolation):
            found.append((item.violation.rule, item.violation.offset))
    return found


@settings(max_examples=150, deadline=None)
@given(st.lists(frames, max_size=8), st.data(), st.booleans())
def test_chunking_does_not_matter_and_decode_agrees(
    parts: list[bytes], data: st.DataObject, record: bool
) -> None:
    """Split anywhere: the same items; and the same violations as ``inspect_stream``."""
    stream = b"".join(parts)
    whole = StreamTap(Role.CLIENT, record_frames=record)
    at_once = whole.feed(stream)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(stream)), max_size=6)))
    pieces = [stream[a:b] for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True)]
    chunked = StreamTap(Role.CLIENT, record_frames=record)
    in_pieces = [item for piece in pieces for item in chunked.feed(piece)]
    assert in_pieces == at_once
    assert chunked.stats == whole.stats
    expected = [(v.rule, v.offset) for v in inspect_stream(stream, sender=Role.CLIENT).violations]
    assert sorted(rules(at_once)) == sorted(expected)
    assert whole.stats.violations == len(expected)


def test_compressed_messages_inflate_per_direction_with_context() -> None:
    """Two compressed messages sharing a context are both inflated, sizes kept."""
    params = DeflateParams()
    sender = PerMessageDeflate(params, is_client=False)
    stream = b"".join(
        forge_frame(opcode=1, payload=sender.compress(b"hello hello hello"), rsv1=True)
        for _ in range(2)
    )
    tap = StreamTap(Role.SERVER, deflate=params)
    tap.feed(stream)
    assert tap.stats.messages == 2 and tap.stats.compressed_messages == 2
    assert tap.stats.inflated_bytes == 34 and tap.stats.compressed_bytes < 34
    assert tap.stats.violations == 0


def test_close_and_a_frame_after_it() -> None:
    """The Close is reported; a frame after it is a violation (RFC 6455 §5.5.1)."""
    tap = StreamTap(Role.SERVER, record_frames=False)
    items = tap.feed(
        forge_frame(opcode=8, payload=b"\x03\xe9") + forge_frame(opcode=1, payload=b"x")
    )
    assert items[0] == CloseSeen(1001, "", 0)
    assert isinstance(items[1], SequenceViolation)
    assert items[1].violation.rule == "frame-after-close"


def test_a_frame_over_the_limit_stops_decoding_but_not_counting_bytes() -> None:
    """Over the inspection limit: one note, nothing buffered, no more items."""
    tap = StreamTap(Role.SERVER, limit=1000)
    items = tap.feed(forge_frame(opcode=2, payload=bytes(2000)))
    assert len(items) == 1 and isinstance(items[0], InspectionStopped)
    assert tap.feed(forge_frame(opcode=1, payload=b"later")) == []


def _big_binary(size: int = 300_000) -> bytes:
    return forge_frame(opcode=2, payload=bytes(range(256)) * (size // 256), mask_key=b"abcd")


def test_a_quiet_tap_counts_a_large_binary_frame_without_keeping_it() -> None:
    """Without frame records the payload is skipped: the same counts, nothing buffered."""
    stream = _big_binary() + forge_frame(opcode=1, payload=b"after", mask_key=b"abcd")
    quiet, recording = StreamTap(Role.CLIENT, record_frames=False), StreamTap(Role.CLIENT)
    step = 65_536
    for start in range(0, len(stream), step):
        quiet.feed(stream[start : start + step])
        recording.feed(stream[start : start + step])
        if start + step < len(_big_binary()):
            assert not quiet.at_boundary(data_frame=False)  # mid-frame: no injection here
            assert quiet._parser.skipped_head is not None  # 64 KiB in: counted, not kept
    assert quiet._parser.skipped_head is None
    assert quiet.stats == recording.stats
    assert (quiet.stats.messages, quiet.stats.violations) == (2, 0)


def test_hold_in_a_skipped_frame_starts_after_it() -> None:
    """What a hold needs of a frame in progress (its end) is there when its payload is not."""
    frame = _big_binary()
    tap = StreamTap(Role.CLIENT, record_frames=False)
    tap.feed(frame[:70_000])
    tap.feed(frame[70_000:100_000])
    cut, in_message = tap.in_progress()
    assert (len(cut), cut[:14], in_message) == (100_000, frame[:14], False)
    numbers = iter(range(1, 10))
    held = HeldQueue(Role.CLIENT, next_number=lambda: next(numbers), sent_prefix=cut)
    next_message = forge_frame(opcode=1, payload=b"held", mask_key=b"abcd")
    found = held.feed(frame[100_000:] + next_message)
    assert [(m.number, m.payload) for m in found] == [(1, b"held")]
    assert held.release() == frame[100_000:] + next_message


def test_text_and_compressed_frames_are_not_skipped() -> None:
    """Their payloads are read (UTF-8 checked, inflated): a bad byte is still found."""
    bad_text = forge_frame(opcode=1, payload=b"a" * 100_000 + b"\xff", mask_key=b"abcd")
    tap = StreamTap(Role.CLIENT, record_frames=False)
    for start in range(0, len(bad_text), 65_536):
        tap.feed(bad_text[start : start + 65_536])
    assert tap._parser.skipped_head is None
    assert tap.stats.violations == 1
