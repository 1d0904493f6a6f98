"""TCP reassembly and WebSocket decoding of crafted captures: reordering, retransmissions,
overlaps, lost segments, connections without a handshake, several connections, and any
segmentation and order of one stream decoding the same (hypothesis)."""

from __future__ import annotations

import random

from hypothesis import given, settings
from hypothesis import strategies as st

from capture.captures import (
    Segment,
    acked_in_order,
    capture,
    conversation,
    decode,
    framed_conversation,
    frames_by_direction,
    messages,
    notes,
    streams,
)
from wstool.capture.tcpstream import Chunk, DirectionStream, Gap
from wstool.core.inspect import Truncated

SERVER, CLIENT = "127.0.0.1:8765", "127.0.0.1:50000"


def reference() -> dict[str, list[tuple[int, int, bool, bytes]]]:
    events, _, _ = decode(capture(conversation(*streams())))
    return frames_by_direction(events)


class TestDirectionStream:
    """Sequence numbers -> the payload once and in order, holes as gaps."""

    def test_in_order_out_of_order_and_duplicates(self) -> None:
        stream = DirectionStream(2**32 - 3)  # wraps after 3 bytes
        assert stream.add(2**32 - 3 + 6, b"ghi", 3) == []  # waits for 0..5
        assert stream.add(2**32 - 3, b"abc", 1) == [Chunk(0, b"abc", 1)]
        assert stream.add(2**32 - 3, b"abc", 4) == []  # retransmitted
        assert stream.add(2**32 - 1, b"cdef", 5) == [Chunk(3, b"def", 5), Chunk(6, b"ghi", 3)]
        assert stream.retransmitted == 4

    def test_gap_when_acknowledged(self) -> None:
        stream = DirectionStream(100)
        stream.add(100, b"ab", 1)
        stream.add(110, b"xy", 2)
        assert stream.acknowledged(112, 3) == []  # the data may come just after its ACK
        assert [stream.acknowledged(112, 3 + n) for n in range(3)] == [[], [], []]
        assert stream.acknowledged(112, 7) == [Gap(2, 8, 102, 7), Chunk(10, b"xy", 2)]
        assert stream.gaps == 1

    def test_ack_just_before_its_data(self) -> None:
        """An ACK captured before the data it acknowledges is no gap."""
        stream = DirectionStream(0)
        assert stream.acknowledged(4, 1) == []
        assert stream.add(0, b"data", 2) == [Chunk(0, b"data", 2)]
        assert stream.acknowledged(4, 3) == [] and stream.gaps == 0

    def test_gap_after_a_while(self) -> None:
        """A hole still open 0.2 s after the ACK that showed it is a gap."""
        stream = DirectionStream(0)
        stream.acknowledged(4, 0)
        assert stream.acknowledged(4, 300_000_000) == [Gap(0, 4, 0, 300_000_000)]

    def test_gap_at_the_end(self) -> None:
        stream = DirectionStream(0)
        stream.add(5, b"late", 1)
        assert stream.finish(9) == [Gap(0, 5, 0, 9), Chunk(5, b"late", 1)]


class TestReassembly:
    def test_reordered(self) -> None:
        """Segments swapped in pairs decode as in order."""
        segments = conversation(*streams(), size=5)
        head, body = segments[:5], segments[5:-2]
        for i in range(0, len(body) - 1, 2):
            body[i], body[i + 1] = body[i + 1], body[i]
        events, _, _ = decode(capture(acked_in_order(head + body + segments[-2:])))
        assert frames_by_direction(events) == reference()
        assert not [n for n in notes(events) if "gap" in n]

    def test_retransmissions_and_overlaps(self) -> None:
        """Every segment sent twice, and segments overlapping their neighbours: once each."""
        segments = conversation(*streams(), size=9)
        doubled = []
        for segment in segments:
            doubled.append(segment)
            if segment.payload:
                doubled.append(segment)
                tail = segment.payload[3:]
                doubled.append(
                    Segment(segment.from_client, "P.", segment.offset + 3, tail, segment.ack)
                )
        events, decoder, _ = decode(capture(doubled))
        assert frames_by_direction(events) == reference()
        assert decoder.connections[0].server.retransmitted > 0

    def test_lost_segment_resynchronised(self) -> None:
        """A frame lost from the capture: a gap with its size and sequence number, and the
        frames after it decoded from the next segment, as the receiver's ACK shows it."""
        segments = framed_conversation()
        lost = next(
            i for i, s in enumerate(segments) if not s.from_client and s.payload[:1] == b"\x82"
        )
        size, offset = len(segments[lost].payload), segments[lost].offset
        kept = segments[:lost] + segments[lost + 1 :]
        events, decoder, _ = decode(capture(kept))
        seq = (4_294_960_000 + 1 + offset) % 2**32
        said = notes(events)
        assert (
            f"gap: {size} bytes from @{offset:#06x} (sequence number {seq}) are not in the capture"
            in said
        )
        expected = [f for f in reference()[SERVER] if f[0] != offset]
        assert frames_by_direction(events)[SERVER] == expected
        assert frames_by_direction(events)[CLIENT] == reference()[CLIENT]
        assert decoder.connections[0].server.gaps == 1

    def test_lost_segment_inside_a_frame(self) -> None:
        """A segment lost inside a frame: the frame is reported cut, never misread; decoding
        goes on at the next frame that starts a segment."""
        segments = framed_conversation()
        big = next(
            i for i, s in enumerate(segments) if s.payload[:1] == b"\x82" and not s.from_client
        )
        whole = segments[big]
        parts = [whole.payload[i : i + 100] for i in range(0, len(whole.payload), 100)]
        pieces = [
            Segment(False, "P.", whole.offset + 100 * n, part, whole.ack)
            for n, part in enumerate(parts)
        ]
        segments[big : big + 1] = pieces[:1] + pieces[2:]  # the second 100 bytes are lost
        events, _, _ = decode(capture(segments))
        cut = [i for e in events for i in e.items if isinstance(i, Truncated)]
        assert cut == [Truncated(whole.offset, 100, len(whole.payload))]
        offsets = [f[0] for f in frames_by_direction(events)[SERVER]]
        assert whole.offset not in offsets
        assert offsets[-2:] == [f[0] for f in reference()[SERVER]][-2:]
        assert any(n.startswith("decoding from @") for n in notes(events))

    def test_garbage_after_a_gap_is_skipped(self) -> None:
        """Bytes after a gap that no frame chain explains are skipped with one line."""
        segments = framed_conversation()
        server = [i for i, s in enumerate(segments) if not s.from_client and s.payload]
        junk = Segment(False, "P.", segments[server[1]].offset + 50, b"\x0f\xff" * 40, 0)
        segments = [*segments[: server[1]], junk]
        events, _, _ = decode(capture(segments))
        assert any(n.endswith("skipped: no frame starts plausibly in them") for n in notes(events))

    def test_no_handshake(self) -> None:
        """A connection seen mid-stream: frames from the first segment, the client inferred."""
        segments = [s for s in framed_conversation(handshake=False)]
        events, decoder, _ = decode(capture(segments))
        connection = decoder.connections[0]
        assert (connection.kind, connection.mid_stream) == ("websocket", True)
        assert (connection.client_address, connection.server_address) == (CLIENT, SERVER)
        said = notes(events)
        assert said[0].startswith(
            f"seen mid-stream (no handshake in the capture): the client is {CLIENT}"
        )
        unframed = {k: [f[1:] for f in v] for k, v in frames_by_direction(events).items()}
        expected = {k: [f[1:] for f in v] for k, v in reference().items()}
        assert unframed == expected
        assert messages(events) == [b"fragmented"]

    def test_server_speaks_first_mid_stream(self) -> None:
        """Mid-stream, the server's unmasked frames first: the client is the other end."""
        segments = [s for s in framed_conversation(handshake=False) if not s.from_client]
        events, decoder, _ = decode(capture(segments))
        assert decoder.connections[0].client_address == CLIENT
        assert "inferred from unmasked frames it receives" in notes(events)[0]


def segmentations() -> st.SearchStrategy[list[Segment]]:
    """The conversation cut anywhere, segments reordered nearby and some sent twice."""

    @st.composite
    def build(draw: st.DrawFn) -> list[Segment]:
        client, server = streams()
        seed = draw(st.integers(0, 2**32 - 1))
        chance = random.Random(seed)
        segments: list[Segment] = []
        for side, data in ((True, client), (False, server)):
            position = 0
            while position < len(data):
                size = chance.choice([1, 2, 5, 17, 64, 300, 1500])
                segments.append(Segment(side, "P.", position, data[position : position + size]))
                position += size
        chance.shuffle(segments)
        segments.sort(key=lambda s: s.offset + chance.randint(0, 400))  # nearby reordering
        again = [s for s in segments if chance.random() < 0.1]
        for segment in again:
            segments.insert(chance.randrange(len(segments) + 1), segment)
        syn = [Segment(True, "S", -1), Segment(False, "S.", -1), Segment(True, ".", 0)]
        return acked_in_order(syn + segments)

    return build()


@settings(max_examples=40, deadline=None)
@given(segmentations())
def test_any_segmentation_and_order_decodes_the_same(segments: list[Segment]) -> None:
    """However the bytes were cut into segments, reordered or repeated, the frames, messages
    and violations are the same."""
    events, decoder, _ = decode(capture(segments))
    assert frames_by_direction(events) == reference()
    assert messages(events) == [b"fragmented"]
    assert not [n for n in notes(events) if "gap" in n]
    assert decoder.connections[0].client.violations == 0


@settings(max_examples=60, deadline=None)
@given(st.randoms(use_true_random=False), st.sampled_from(["ethernet", "sll2", "raw"]))
def test_damaged_captures_never_crash(chance: random.Random, kind: str) -> None:
    """Packets with bytes changed, cut or inserted, dropped or shuffled: decoded and shown
    without an exception."""
    from capture.captures import LINKTYPES, frame, ip_packets, pcap_file
    from wstool.ui.captures import Clock, event_records, event_text, summary_text

    segments = chance.choice([framed_conversation(), conversation(*streams(), size=7)])
    frames = [bytearray(frame(kind, p)) for p in ip_packets(acked_in_order(segments))]
    for _ in range(chance.randint(1, 6)):
        damaged = chance.choice(frames)
        at = chance.randrange(len(damaged))
        roll = chance.random()
        if roll < 0.6:
            damaged[at] = chance.randrange(256)
        elif roll < 0.8:
            del damaged[at : at + chance.randint(1, 20)]
        else:
            damaged[at:at] = chance.randbytes(chance.randint(1, 20))
    if chance.random() < 0.3:
        chance.shuffle(frames)
    kept = [bytes(f) for f in frames if chance.random() < 0.9]
    events, decoder, _ = decode(pcap_file(kept, LINKTYPES[kind]))
    clock = Clock("delta")
    for event in events:
        event_text(event, clock, 1024)
        list(event_records(event))
    summary_text(decoder.connections, clock)
