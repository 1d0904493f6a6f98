"""Tests for wstool.core.deflate: permessage-deflate (RFC 7692) negotiation and codec."""

from __future__ import annotations

import itertools
import os
import tracemalloc
import zlib
from collections.abc import Iterator

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from websockets.extensions.permessage_deflate import (
    ClientPerMessageDeflateFactory,
    ServerPerMessageDeflateFactory,
)
from websockets.extensions.permessage_deflate import PerMessageDeflate as WsPerMessageDeflate
from websockets.frames import Frame, Opcode

from wstool.core.deflate import (
    DEFAULT_MAX_INFLATED_SIZE,
    EXTENSION_NAME,
    DeflateParams,
    ExtensionOffer,
    PerMessageDeflate,
    client_accept,
    client_offer,
    parse_params,
    server_negotiate,
)
from wstool.core.errors import DecompressionError, HandshakeError, PayloadTooBig, UsageError

HELLO = b"Hello"
# RFC 7692 §7.2.3.1: "Hello" in one compressed DEFLATE block.
HELLO_COMPRESSED = bytes.fromhex("f2 48 cd c9 c9 07 00")
# RFC 7692 §7.2.3.2: the second "Hello", compressed with the first one's LZ77 window.
HELLO_AGAIN_COMPRESSED = bytes.fromhex("f2 00 11 00 00")

MiB = 2**20

# Bounded property runs; no deadline, since zlib allocations make timings noisy.
PROPERTY = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

bits_or_none = st.none() | st.integers(min_value=8, max_value=15)
params_strategy = st.builds(
    DeflateParams,
    server_no_context_takeover=st.booleans(),
    client_no_context_takeover=st.booleans(),
    server_max_window_bits=bits_or_none,
    client_max_window_bits=bits_or_none,
)
# websockets cannot compress with a window of 8 bits (zlib refuses it), so its side uses 9+.
ws_bits_or_none = st.none() | st.integers(min_value=9, max_value=15)
ws_params_strategy = st.builds(
    DeflateParams,
    server_no_context_takeover=st.booleans(),
    client_no_context_takeover=st.booleans(),
    server_max_window_bits=ws_bits_or_none,
    client_max_window_bits=ws_bits_or_none,
)
message_strategy = st.one_of(
    st.binary(max_size=3000),
    st.text(max_size=1000).map(str.encode),
    # Repetitive data makes the compressor emit matches, near and far.
    st.builds(
        lambda unit, count: unit * count, st.binary(min_size=1, max_size=64), st.integers(1, 400)
    ),
)
messages_strategy = st.lists(message_strategy, max_size=6)


def endpoints(
    params: DeflateParams, *, max_inflated_size: int | None = DEFAULT_MAX_INFLATED_SIZE
) -> tuple[PerMessageDeflate, PerMessageDeflate]:
    """A client and a server codec sharing ``params``."""
    return (
        PerMessageDeflate(params, is_client=True, max_inflated_size=max_inflated_size),
        PerMessageDeflate(params, is_client=False, max_inflated_size=max_inflated_size),
    )


def split(payload: bytes, cuts: list[int]) -> list[bytes]:
    """Split ``payload`` at the given offsets (taken modulo its length, sorted)."""
    if not payload:
        return [payload]
    points = sorted({cut % len(payload) for cut in cuts} - {0})
    return [payload[a:b] for a, b in itertools.pairwise([0, *points, len(payload)])]


def ws_codec(params: DeflateParams, *, is_client: bool) -> WsPerMessageDeflate:
    """The websockets library's codec for one side of ``params``."""
    client = (params.client_no_context_takeover, params.client_window_bits)
    server = (params.server_no_context_takeover, params.server_window_bits)
    local, remote = (client, server) if is_client else (server, client)
    return WsPerMessageDeflate(
        remote_no_context_takeover=remote[0],
        local_no_context_takeover=local[0],
        remote_max_window_bits=remote[1],
        local_max_window_bits=local[1],
    )


def inflate_strictly(inflater: zlib._Decompress, payload: bytes) -> bytes:
    """Inflate one byte per call, so that zlib checks every distance against its window.

    Within one call zlib copies from the output it has just written, whatever the window;
    only references past it reach the window and are checked against its size.
    """
    out = bytearray()
    data = payload
    while True:
        chunk = inflater.decompress(data, 1)
        data = inflater.unconsumed_tail
        if not chunk and not data:
            return bytes(out)
        out += chunk


def zeros_block() -> bytes:
    """About 1 KiB of DEFLATE that inflates to 1 MiB of zeros, and again each time repeated.

    DEFLATE cannot beat about 1032:1, so more than 1 GiB takes at least 1 MiB of
    compressed data; sent as repeats of this block, no more than 1 KiB is ever held.
    """
    compressor = zlib.compressobj(wbits=-15)
    block = compressor.compress(bytes(MiB)) + compressor.flush(zlib.Z_SYNC_FLUSH)
    assert len(block) < 2048
    return block


# --- RFC 7692 §7.2.3: the examples, byte for byte -----------------------------------------------


class TestSection7_2_3_1_HelloInOneBlock:
    """RFC 7692 §7.2.3.1: "A Message Compressed Using 1 Compressed DEFLATE Block"."""

    @pytest.mark.parametrize("is_client", [True, False])
    def test_compress_hello(self, is_client: bool) -> None:
        """Either side compresses "Hello" to exactly the RFC's seven octets."""
        codec = PerMessageDeflate(DeflateParams(), is_client=is_client)
        assert codec.compress(HELLO) == HELLO_COMPRESSED

    @pytest.mark.parametrize("is_client", [True, False])
    def test_decompress_hello(self, is_client: bool) -> None:
        """Either side inflates the RFC's seven octets to "Hello"."""
        codec = PerMessageDeflate(DeflateParams(), is_client=is_client)
        assert codec.decompress(HELLO_COMPRESSED) == HELLO

    def test_unfragmented_frame_payload(self) -> None:
        """The RFC's whole frame 0xc1 0x07 ... carries our compressed "Hello" as its payload."""
        frame = bytes([0xC1, 0x07, 0xF2, 0x48, 0xCD, 0xC9, 0xC9, 0x07, 0x00])
        payload = frame[2 : 2 + (frame[1] & 0x7F)]
        assert payload == PerMessageDeflate(DeflateParams(), is_client=False).compress(HELLO)
        assert PerMessageDeflate(DeflateParams(), is_client=True).decompress(payload) == HELLO

    def test_fragmented_frame_payloads(self) -> None:
        """The RFC's two fragments join to our payload and inflate, whole or one by one."""
        first = bytes([0x41, 0x03, 0xF2, 0x48, 0xCD])
        second = bytes([0x80, 0x04, 0xC9, 0xC9, 0x07, 0x00])
        payloads = [first[2:], second[2:]]
        assert b"".join(payloads) == HELLO_COMPRESSED
        assert PerMessageDeflate(DeflateParams(), is_client=True).decompress(payloads) == HELLO
        codec = PerMessageDeflate(DeflateParams(), is_client=True)
        inflated = codec.decompress_fragment(payloads[0], final=False)
        inflated += codec.decompress_fragment(payloads[1], final=True)
        assert inflated == HELLO


class TestSection7_2_3_2_SharingTheWindow:
    """RFC 7692 §7.2.3.2: "Sharing LZ77 Sliding Window"."""

    def test_compress_with_context_takeover(self) -> None:
        """The second "Hello" refers back to the first: f2 00 11 00 00."""
        codec = PerMessageDeflate(DeflateParams(), is_client=True)
        assert codec.compress(HELLO) == HELLO_COMPRESSED
        assert codec.compress(HELLO) == HELLO_AGAIN_COMPRESSED

    def test_decompress_with_context_takeover(self) -> None:
        """The receiver keeps its window, so the back-reference inflates to "Hello"."""
        codec = PerMessageDeflate(DeflateParams(), is_client=False)
        assert codec.decompress(HELLO_COMPRESSED) == HELLO
        assert codec.decompress(HELLO_AGAIN_COMPRESSED) == HELLO

    @pytest.mark.parametrize("is_client", [True, False])
    def test_our_no_context_takeover(self, is_client: bool) -> None:
        """With our own *_no_context_takeover, each message starts afresh (RFC 7692 §7.2.1)."""
        params = DeflateParams(
            client_no_context_takeover=is_client, server_no_context_takeover=not is_client
        )
        codec = PerMessageDeflate(params, is_client=is_client)
        assert codec.compress(HELLO) == HELLO_COMPRESSED
        assert codec.compress(HELLO) == HELLO_COMPRESSED

    def test_peer_no_context_takeover_resets_inflater(self) -> None:
        """A server that promised no context takeover and refers back anyway is caught."""
        codec = PerMessageDeflate(DeflateParams(server_no_context_takeover=True), is_client=True)
        assert codec.decompress(HELLO_COMPRESSED) == HELLO
        with pytest.raises(DecompressionError):
            codec.decompress(HELLO_AGAIN_COMPRESSED)

    def test_our_no_context_takeover_keeps_peer_window(self) -> None:
        """Our own no_context_takeover does not make us forget the peer's window."""
        codec = PerMessageDeflate(DeflateParams(client_no_context_takeover=True), is_client=True)
        assert codec.decompress(HELLO_COMPRESSED) == HELLO
        assert codec.decompress(HELLO_AGAIN_COMPRESSED) == HELLO


class TestSection7_2_3_3_NoCompression:
    """RFC 7692 §7.2.3.3: "Using a DEFLATE Block with No Compression"."""

    def test_stored_block(self) -> None:
        """A stored block carrying "Hello" inflates to "Hello"."""
        payload = bytes.fromhex("00 05 00 fa ff 48 65 6c 6c 6f 00")
        assert PerMessageDeflate(DeflateParams(), is_client=True).decompress(payload) == HELLO


class TestSection7_2_3_4_BfinalSet:
    """RFC 7692 §7.2.3.4: "Using a DEFLATE Block with BFINAL Set to 1"."""

    PAYLOAD = bytes.fromhex("f3 48 cd c9 c9 07 00 00")

    def test_bfinal_block(self) -> None:
        """A final block followed by the start of an empty stored block inflates to "Hello"."""
        assert PerMessageDeflate(DeflateParams(), is_client=True).decompress(self.PAYLOAD) == HELLO

    def test_window_survives_bfinal(self) -> None:
        """After a BFINAL block, later messages may still refer back to it."""
        codec = PerMessageDeflate(DeflateParams(), is_client=True)
        assert codec.decompress(self.PAYLOAD) == HELLO
        assert codec.decompress(HELLO_AGAIN_COMPRESSED) == HELLO
        assert codec.decompress(HELLO_COMPRESSED) == HELLO

    def test_bfinal_split_across_fragments(self) -> None:
        """The end of zlib's stream may fall inside a fragment; the rest still inflates."""
        codec = PerMessageDeflate(DeflateParams(), is_client=True)
        payload = self.PAYLOAD
        assert codec.decompress([payload[:3], payload[3:7], payload[7:]]) == HELLO


class TestSection7_2_3_5_TwoBlocks:
    """RFC 7692 §7.2.3.5: "Two DEFLATE Blocks in 1 Message"."""

    PAYLOAD = bytes.fromhex("f2 48 05 00 00 00 ff ff ca c9 c9 07 00")

    def test_two_blocks(self) -> None:
        """ "He" and "llo" in two blocks, split by an empty stored block, make "Hello"."""
        assert PerMessageDeflate(DeflateParams(), is_client=True).decompress(self.PAYLOAD) == HELLO

    def test_two_blocks_in_two_frames(self) -> None:
        """The same, sent as two frames split at the block boundary."""
        codec = PerMessageDeflate(DeflateParams(), is_client=True)
        assert codec.decompress([self.PAYLOAD[:8], self.PAYLOAD[8:]]) == HELLO


class TestSection7_2_3_6_EmptyMessage:
    """RFC 7692 §7.2.3.6: "Generating an Empty Fragment"."""

    @pytest.mark.parametrize("takeover", [True, False])
    def test_compress_empty(self, takeover: bool) -> None:
        """An empty message compresses to the single octet 0x00, before or after others."""
        codec = PerMessageDeflate(
            DeflateParams(client_no_context_takeover=not takeover), is_client=True
        )
        assert codec.compress(b"") == b"\x00"
        codec.compress(HELLO)
        assert codec.compress(b"") == b"\x00"

    def test_decompress_empty(self) -> None:
        """0x00 inflates to nothing and leaves the window usable."""
        codec = PerMessageDeflate(DeflateParams(), is_client=True)
        assert codec.decompress(HELLO_COMPRESSED) == HELLO
        assert codec.decompress(b"\x00") == b""
        assert codec.decompress(HELLO_AGAIN_COMPRESSED) == HELLO

    def test_empty_final_fragment(self) -> None:
        """A message whose data ran out early ends with a frame whose payload is 0x00.

        The earlier frame keeps its sync-flush tail (00 00 ff ff); only the last one drops it.
        """
        codec = PerMessageDeflate(DeflateParams(), is_client=True)
        assert codec.decompress([HELLO_COMPRESSED + b"\x00\x00\xff\xff", b"\x00"]) == HELLO

    def test_no_payload_at_all(self) -> None:
        """A compressed message with no payload bytes is taken as empty, window intact."""
        codec = PerMessageDeflate(DeflateParams(), is_client=True)
        assert codec.decompress(HELLO_COMPRESSED) == HELLO
        assert codec.decompress(b"") == b""
        assert codec.decompress([]) == b""
        assert codec.decompress(HELLO_AGAIN_COMPRESSED) == HELLO


# --- RFC 7692 §7.2.1 / §7.2.2: round trips --------------------------------------------------------


class TestSection7_2_RoundTrip:
    """RFC 7692 §7.2.1 and §7.2.2: whatever one side compresses, the other inflates."""

    @PROPERTY
    @given(params=params_strategy, messages=messages_strategy, cuts=st.lists(st.integers(0, 10**6)))
    def test_both_directions(
        self, params: DeflateParams, messages: list[bytes], cuts: list[int]
    ) -> None:
        """Every message arrives intact both ways, whole or cut into fragments."""
        client, server = endpoints(params)
        for message in messages:
            assert server.decompress(client.compress(message)) == message
            payload = server.compress(message)
            fragments = split(payload, cuts)
            inflated = b"".join(
                client.decompress_fragment(part, final=i == len(fragments) - 1)
                for i, part in enumerate(fragments)
            )
            assert inflated == message

    @PROPERTY
    @given(params=params_strategy, messages=messages_strategy, level=st.integers(0, 9))
    def test_every_level(self, params: DeflateParams, messages: list[bytes], level: int) -> None:
        """The compression level is the sender's choice: the peer inflates every level alike."""
        client = PerMessageDeflate(params, is_client=True, level=level)
        server = PerMessageDeflate(params, is_client=False, level=9 - level)
        for message in messages:
            assert server.decompress(client.compress(message)) == message
            assert client.decompress(server.compress(message)) == message

    def test_level_1_is_bigger_than_9_on_text(self) -> None:
        """The level reaches zlib: level 1 trades bytes on the wire for speed."""
        params = DeflateParams()
        text = b" ".join(b"word%d" % (i % 977) for i in range(20_000))
        fast = PerMessageDeflate(params, is_client=True, level=1).compress(text)
        small = PerMessageDeflate(params, is_client=True, level=9).compress(text)
        assert len(fast) > len(small)

    @pytest.mark.parametrize("level", [-2, 10])
    def test_a_level_out_of_range_is_refused(self, level: int) -> None:
        with pytest.raises(UsageError):
            PerMessageDeflate(DeflateParams(), is_client=True, level=level)

    @pytest.mark.parametrize("bits", range(8, 16))
    @pytest.mark.parametrize("reset", [True, False])
    def test_every_window_size(self, bits: int, reset: bool) -> None:
        """Each window size from 8 to 15 round-trips, with and without context takeover."""
        params = DeflateParams(
            server_no_context_takeover=reset,
            client_no_context_takeover=reset,
            server_max_window_bits=bits,
            client_max_window_bits=bits,
        )
        client, server = endpoints(params)
        messages = [os.urandom(700) * 3, b"abc" * 5000, b"", HELLO, os.urandom(40_000)]
        for message in messages:
            assert server.decompress(client.compress(message)) == message
            assert client.decompress(server.compress(message)) == message

    @PROPERTY
    @given(messages=st.lists(message_strategy, min_size=1, max_size=6))
    def test_window_of_8_bits_honoured(self, messages: list[bytes]) -> None:
        """A negotiated 8-bit window is compressed with zlib's 9 yet inflates with 8 bits."""
        sender = PerMessageDeflate(DeflateParams(client_max_window_bits=8), is_client=True)
        inflater = zlib.decompressobj(wbits=-8)
        for message in messages:
            payload = sender.compress(message) + b"\x00\x00\xff\xff"
            assert inflate_strictly(inflater, payload) == message

    def test_window_of_8_bits_sharp(self) -> None:
        """The strict 8-bit inflater rejects a 10-bit stream, so the test above has teeth."""
        data = os.urandom(300) * 4
        compressor = zlib.compressobj(wbits=-10)
        payload = compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH)
        with pytest.raises(zlib.error, match="too far back"):
            inflate_strictly(zlib.decompressobj(wbits=-8), payload)
        ours = PerMessageDeflate(DeflateParams(server_max_window_bits=8), is_client=False)
        payload = ours.compress(data) + b"\x00\x00\xff\xff"
        assert inflate_strictly(zlib.decompressobj(wbits=-8), payload) == data

    def test_peer_window_too_big(self) -> None:
        """A server that agreed to 9 bits but refers 1000 bytes back, into the last message.

        zlib checks the window only for references past what one call has inflated, so a
        reference into an earlier message is the case that is always caught.
        """
        data = os.urandom(1000)
        compressor = zlib.compressobj(wbits=-15)
        first = (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        second = (compressor.compress(data) + compressor.flush(zlib.Z_SYNC_FLUSH))[:-4]
        client = PerMessageDeflate(DeflateParams(server_max_window_bits=9), is_client=True)
        assert client.decompress(first) == data
        with pytest.raises(DecompressionError) as caught:
            client.decompress(second)
        assert caught.value.close_code == 1007
        relaxed = PerMessageDeflate(DeflateParams(), is_client=True)
        assert [relaxed.decompress(first), relaxed.decompress(second)] == [data, data]

    @pytest.mark.parametrize(
        "payload", [b"\xff", b"\x06", bytes.fromhex("00 05 00 00 00 48 65 6c 6c 6f")]
    )
    def test_corrupt_data(self, payload: bytes) -> None:
        """Bad DEFLATE (reserved block type, bad stored length) raises DecompressionError."""
        codec = PerMessageDeflate(DeflateParams(), is_client=True)
        with pytest.raises(DecompressionError) as caught:
            codec.decompress(payload)
        assert caught.value.close_code == 1007
        assert "\n" not in caught.value.reason

    def test_decompress_during_fragments_is_misuse(self) -> None:
        """Mixing the whole-message and the fragment forms in one message is a UsageError."""
        codec = PerMessageDeflate(DeflateParams(), is_client=True)
        head = codec.decompress_fragment(HELLO_COMPRESSED[:3], final=False)
        with pytest.raises(UsageError):
            codec.decompress(HELLO_COMPRESSED)
        assert head + codec.decompress_fragment(HELLO_COMPRESSED[3:], final=True) == HELLO

    def test_negative_limit_is_misuse(self) -> None:
        """A negative max_inflated_size is a UsageError."""
        with pytest.raises(UsageError):
            PerMessageDeflate(DeflateParams(), is_client=True, max_inflated_size=-1)


class TestSection7_2_Interop:
    """RFC 7692 §7.2: our codec against the websockets library's, both directions."""

    @PROPERTY
    @given(
        params=ws_params_strategy, messages=messages_strategy, cuts=st.lists(st.integers(0, 10**6))
    )
    @pytest.mark.parametrize("we_are_client", [True, False])
    def test_messages(
        self, we_are_client: bool, params: DeflateParams, messages: list[bytes], cuts: list[int]
    ) -> None:
        """Messages we compress, websockets inflates, and the other way, even fragmented."""
        ours = PerMessageDeflate(params, is_client=we_are_client)
        theirs = ws_codec(params, is_client=not we_are_client)
        for message in messages:
            # Ours -> websockets: our payload, cut into a first frame and continuations.
            parts = split(ours.compress(message), cuts)
            inflated = b""
            for i, part in enumerate(parts):
                opcode = Opcode.BINARY if i == 0 else Opcode.CONT
                frame = Frame(opcode, part, fin=i == len(parts) - 1, rsv1=i == 0)
                inflated += bytes(theirs.decode(frame).data)
            assert inflated == message
            # websockets -> ours: websockets compresses each fragment as it goes.
            pieces = [piece for piece in split(message, cuts) if piece] or [b""]
            payloads = [
                bytes(
                    theirs.encode(
                        Frame(
                            Opcode.BINARY if i == 0 else Opcode.CONT,
                            piece,
                            fin=i == len(pieces) - 1,
                        )
                    ).data
                )
                for i, piece in enumerate(pieces)
            ]
            assert ours.decompress(payloads) == message

    def test_rfc_hello_from_websockets(self) -> None:
        """websockets sends the RFC's two "Hello"s too, and we inflate them."""
        theirs = ws_codec(DeflateParams(), is_client=False)
        first = bytes(theirs.encode(Frame(Opcode.TEXT, HELLO)).data)
        second = bytes(theirs.encode(Frame(Opcode.TEXT, HELLO)).data)
        assert (first, second) == (HELLO_COMPRESSED, HELLO_AGAIN_COMPRESSED)
        ours = PerMessageDeflate(DeflateParams(), is_client=True)
        assert [ours.decompress(first), ours.decompress(second)] == [HELLO, HELLO]


# --- limits: the decompression bomb ------------------------------------------------------------


class TestInflatedSizeLimit:
    """The inflated size is capped while inflating (RFC 6455 §10.4, close code 1009)."""

    def test_exact_limit_passes(self) -> None:
        """A message of exactly max_inflated_size bytes inflates; one byte more does not."""
        message = os.urandom(1000)
        payload = PerMessageDeflate(DeflateParams(), is_client=False).compress(message)
        exact = PerMessageDeflate(DeflateParams(), is_client=True, max_inflated_size=1000)
        assert exact.decompress(payload) == message
        under = PerMessageDeflate(DeflateParams(), is_client=True, max_inflated_size=999)
        with pytest.raises(PayloadTooBig) as caught:
            under.decompress(payload)
        assert caught.value.close_code == 1009

    def test_limit_across_fragments(self) -> None:
        """Two fragments of 800 bytes each pass a cap of 1600 and fail a cap of 1599."""
        sender = zlib.compressobj(wbits=-15)
        first = sender.compress(os.urandom(800)) + sender.flush(zlib.Z_SYNC_FLUSH)
        second = (sender.compress(os.urandom(800)) + sender.flush(zlib.Z_SYNC_FLUSH))[:-4]
        fits = PerMessageDeflate(DeflateParams(), is_client=True, max_inflated_size=1600)
        assert len(fits.decompress_fragment(first, final=False)) == 800
        assert len(fits.decompress_fragment(second, final=True)) == 800
        too_small = PerMessageDeflate(DeflateParams(), is_client=True, max_inflated_size=1599)
        too_small.decompress_fragment(first, final=False)
        with pytest.raises(PayloadTooBig):
            too_small.decompress_fragment(second, final=True)

    def test_limit_restarts_per_message(self) -> None:
        """Many messages, each under the cap, pass even though their sum is over it."""
        client, server = endpoints(DeflateParams(), max_inflated_size=1000)
        for _ in range(5):
            message = os.urandom(1000)
            assert client.decompress(server.compress(message)) == message

    def test_no_limit(self) -> None:
        """max_inflated_size=None inflates anything."""
        client, server = endpoints(DeflateParams(), max_inflated_size=None)
        message = bytes(3 * MiB)
        assert client.decompress(server.compress(message)) == message

    def test_streamed_bomb_stops_early(self) -> None:
        """1.1 GiB of zeros sent as 1 KiB fragments stops after the cap, in a few MiB."""
        block = zeros_block()
        consumed = 0

        def fragments() -> Iterator[bytes]:
            nonlocal consumed
            for _ in range(1100):
                consumed += 1
                yield block

        codec = PerMessageDeflate(DeflateParams(), is_client=True, max_inflated_size=MiB)
        tracemalloc.start()
        try:
            with pytest.raises(PayloadTooBig):
                codec.decompress(fragments())
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert consumed <= 2
        assert peak < 4 * MiB

    def test_single_payload_bomb(self) -> None:
        """One 1.1 MiB payload that inflates to 1.1 GiB stops at the cap, in a few MiB."""
        payload = zeros_block() * 1100
        codec = PerMessageDeflate(DeflateParams(), is_client=True, max_inflated_size=MiB)
        tracemalloc.start()
        try:
            with pytest.raises(PayloadTooBig):
                codec.decompress(payload)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < 4 * MiB

    def test_bomb_with_default_limit(self) -> None:
        """With the default 64 MiB cap, a 1.1 GiB bomb stops after 64 fragments of 1 KiB."""
        block = zeros_block()
        codec = PerMessageDeflate(DeflateParams(), is_client=True)
        calls = 0
        with pytest.raises(PayloadTooBig):
            for _ in range(1100):
                calls += 1
                codec.decompress_fragment(block, final=False)
        assert calls == DEFAULT_MAX_INFLATED_SIZE // MiB + 1


# --- RFC 7692 §7.1: negotiation ---------------------------------------------------------------


OFFER_PARAM_CASES: list[tuple[tuple[tuple[str, str | None], ...], DeflateParams]] = [
    ((), DeflateParams()),
    ((("server_no_context_takeover", None),), DeflateParams(server_no_context_takeover=True)),
    ((("client_no_context_takeover", None),), DeflateParams(client_no_context_takeover=True)),
    ((("server_max_window_bits", "10"),), DeflateParams(server_max_window_bits=10)),
    ((("client_max_window_bits", "9"),), DeflateParams(client_max_window_bits=9)),
    ((("client_max_window_bits", None),), DeflateParams(client_max_window_bits_bare=True)),
    (
        (
            ("client_max_window_bits", "8"),
            ("server_max_window_bits", "15"),
            ("client_no_context_takeover", None),
            ("server_no_context_takeover", None),
        ),
        DeflateParams(True, True, 15, 8),
    ),
]

BAD_VALUES = [
    "7",
    "16",
    "08",
    "0",
    "+9",
    "-9",
    " 9",
    "9 ",
    "0x9",
    "9.0",
    "",
    "\u0661\u0660",
    "10a",
    "015",
]

INVALID_OFFERS: list[tuple[tuple[tuple[str, str | None], ...], str]] = [
    ((("x_custom", None),), "x_custom"),
    ((("Server_No_Context_Takeover", None),), "Server_No_Context_Takeover"),
    ((("server_max_window_bits ", "10"),), "server_max_window_bits"),
    ((("server_no_context_takeover", ""),), "server_no_context_takeover"),
    ((("server_no_context_takeover", "true"),), "server_no_context_takeover"),
    ((("client_no_context_takeover", "1"),), "client_no_context_takeover"),
    ((("server_max_window_bits", None),), "server_max_window_bits"),
    *[((("server_max_window_bits", value),), "server_max_window_bits") for value in BAD_VALUES],
    *[((("client_max_window_bits", value),), "client_max_window_bits") for value in BAD_VALUES],
    *[
        (((name, value), (name, value)), name)
        for name, value in [
            ("server_no_context_takeover", None),
            ("client_no_context_takeover", None),
            ("server_max_window_bits", "10"),
            ("client_max_window_bits", None),
        ]
    ],
    (
        (("client_max_window_bits", None), ("client_max_window_bits", "10")),
        "client_max_window_bits",
    ),
]


def assert_one_line_naming(error: HandshakeError, name: str) -> None:
    """The error's reason is one line that names the parameter at fault."""
    assert name in error.reason
    assert "\n" not in error.reason
    assert error.header == "Sec-WebSocket-Extensions"


class TestSection7_1_Parameters:
    """RFC 7692 §7.1: the four parameters and their forms."""

    @pytest.mark.parametrize(("params", "expected"), OFFER_PARAM_CASES)
    def test_valid_offer(
        self, params: tuple[tuple[str, str | None], ...], expected: DeflateParams
    ) -> None:
        """Each parameter, and all four at once in any order, parse from an offer."""
        assert parse_params(params, role="client offer") == expected

    @pytest.mark.parametrize("bits", range(8, 16))
    def test_every_window_size(self, bits: int) -> None:
        """Window sizes 8 to 15 parse on both sides, in offers and answers."""
        for role in ("client offer", "server answer"):
            parsed = parse_params(
                [("server_max_window_bits", str(bits)), ("client_max_window_bits", str(bits))],
                role=role,
            )
            assert (parsed.server_max_window_bits, parsed.client_max_window_bits) == (bits, bits)

    @pytest.mark.parametrize(("params", "name"), INVALID_OFFERS)
    def test_invalid_offer(self, params: tuple[tuple[str, str | None], ...], name: str) -> None:
        """Unknown, repeated or malformed parameters are a 400 naming the parameter."""
        with pytest.raises(HandshakeError) as caught:
            parse_params(params, role="client offer")
        assert caught.value.status == 400
        assert_one_line_naming(caught.value, name)

    @pytest.mark.parametrize(("params", "name"), INVALID_OFFERS)
    def test_invalid_answer(self, params: tuple[tuple[str, str | None], ...], name: str) -> None:
        """What is invalid in an offer is invalid in an answer too."""
        with pytest.raises(HandshakeError) as caught:
            parse_params(params, role="server answer")
        assert_one_line_naming(caught.value, name)

    def test_bare_client_window_bits_only_in_offer(self) -> None:
        """The bare client_max_window_bits is for offers; an answer must give a value."""
        with pytest.raises(HandshakeError) as caught:
            parse_params([("client_max_window_bits", None)], role="server answer")
        assert_one_line_naming(caught.value, "client_max_window_bits")

    def test_unknown_role(self) -> None:
        """A role other than the two is our own bug."""
        with pytest.raises(UsageError):
            parse_params([], role="server offer")  # type: ignore[arg-type]

    @pytest.mark.parametrize(("params", "expected"), OFFER_PARAM_CASES)
    def test_to_offer_round_trip(
        self, params: tuple[tuple[str, str | None], ...], expected: DeflateParams
    ) -> None:
        """to_offer() writes what parse_params() reads back."""
        name, written = expected.to_offer()
        assert name == EXTENSION_NAME
        assert parse_params(written, role="client offer") == expected

    @pytest.mark.parametrize("bits", [7, 16, 0, True, "10"])
    def test_params_reject_bad_window(self, bits: object) -> None:
        """DeflateParams refuses a window size outside 8 to 15, including bools and strings."""
        with pytest.raises(UsageError):
            DeflateParams(server_max_window_bits=bits)  # type: ignore[arg-type]
        with pytest.raises(UsageError):
            DeflateParams(client_max_window_bits=bits)  # type: ignore[arg-type]

    def test_params_reject_bare_with_value(self) -> None:
        """The bare form of client_max_window_bits cannot also have a value."""
        with pytest.raises(UsageError):
            DeflateParams(client_max_window_bits=10, client_max_window_bits_bare=True)

    def test_effective_window_bits(self) -> None:
        """A window size not given means 15."""
        assert (DeflateParams().server_window_bits, DeflateParams().client_window_bits) == (15, 15)
        params = DeflateParams(server_max_window_bits=9, client_max_window_bits=10)
        assert (params.server_window_bits, params.client_window_bits) == (9, 10)


class TestSection7_1_ClientOffer:
    """RFC 7692 §7.1: what a client offers."""

    def test_default_offer(self) -> None:
        """By default the client offers only the bare client_max_window_bits."""
        assert client_offer() == ("permessage-deflate", (("client_max_window_bits", None),))

    def test_full_offer(self) -> None:
        """Every parameter appears, in the RFC's order, with values as strings."""
        offer = client_offer(
            server_no_context_takeover=True,
            client_no_context_takeover=True,
            server_max_window_bits=10,
            client_max_window_bits=12,
        )
        assert offer == (
            "permessage-deflate",
            (
                ("server_no_context_takeover", None),
                ("client_no_context_takeover", None),
                ("server_max_window_bits", "10"),
                ("client_max_window_bits", "12"),
            ),
        )

    def test_without_client_window_bits(self) -> None:
        """client_max_window_bits=False leaves the parameter out."""
        assert client_offer(client_max_window_bits=False) == ("permessage-deflate", ())

    @pytest.mark.parametrize("bits", [7, 16])
    def test_bad_window(self, bits: int) -> None:
        """Window sizes outside 8 to 15 are our own bug."""
        with pytest.raises(UsageError):
            client_offer(server_max_window_bits=bits)
        with pytest.raises(UsageError):
            client_offer(client_max_window_bits=bits)


def offer_of(*params: tuple[str, str | None]) -> ExtensionOffer:
    return ("permessage-deflate", tuple(params))


class TestSection7_1_ServerNegotiation:
    """RFC 7692 §5 and §7.1: the server picks an offer and answers it."""

    def test_no_offers(self) -> None:
        """No offer, or only other extensions: no compression."""
        assert server_negotiate([]) is None
        assert server_negotiate([("x-webkit-deflate-frame", ())]) is None

    def test_plain_offer(self) -> None:
        """A bare offer gets a bare answer."""
        assert server_negotiate([offer_of()]) == (DeflateParams(), offer_of())

    def test_default_client_offer(self) -> None:
        """The bare client_max_window_bits needs no answer when we ask for nothing."""
        assert server_negotiate([client_offer()]) == (DeflateParams(), offer_of())

    def test_first_acceptable_offer_wins(self) -> None:
        """Offers are tried in the client's order; the first acceptable one is answered."""
        offers = [
            ("x-other", ()),
            offer_of(("server_no_context_takeover", None)),
            offer_of(("server_max_window_bits", "10")),
        ]
        result = server_negotiate(offers)
        assert result == (
            DeflateParams(server_no_context_takeover=True),
            offer_of(("server_no_context_takeover", None)),
        )

    @pytest.mark.parametrize(("params", "name"), INVALID_OFFERS)
    def test_invalid_offer_declined(
        self, params: tuple[tuple[str, str | None], ...], name: str
    ) -> None:
        """An invalid offer is declined and the next one answered (RFC 7692 §7)."""
        fallback = offer_of(("client_no_context_takeover", None))
        assert server_negotiate([("permessage-deflate", params)]) is None
        result = server_negotiate([("permessage-deflate", params), fallback])
        assert result is not None
        assert result[1] == fallback

    @pytest.mark.parametrize("bits", range(8, 16))
    def test_server_window_respects_offer(self, bits: int) -> None:
        """Our window is what the client asked for, or smaller if we want smaller."""
        offer = offer_of(("server_max_window_bits", str(bits)))
        agreed, answer = server_negotiate([offer]) or pytest.fail("declined")
        assert answer == offer
        agreed, answer = server_negotiate([offer], server_max_window_bits=11) or pytest.fail()
        assert agreed.server_max_window_bits == min(bits, 11)
        assert answer == offer_of(("server_max_window_bits", str(min(bits, 11))))

    def test_server_window_unasked(self) -> None:
        """The server may announce a smaller window even if the client did not ask."""
        agreed, answer = server_negotiate([offer_of()], server_max_window_bits=9) or pytest.fail()
        assert answer == offer_of(("server_max_window_bits", "9"))
        assert agreed.server_window_bits == 9

    @pytest.mark.parametrize("bits", range(8, 16))
    def test_client_window(self, bits: int) -> None:
        """We limit the client's window only if it offered client_max_window_bits."""
        bare = offer_of(("client_max_window_bits", None))
        valued = offer_of(("client_max_window_bits", str(bits)))
        assert server_negotiate([offer_of()], client_max_window_bits=bits) is None
        agreed, answer = (
            server_negotiate([offer_of(), bare], client_max_window_bits=bits) or pytest.fail()
        )
        assert answer == offer_of(("client_max_window_bits", str(bits)))
        agreed, answer = server_negotiate([valued], client_max_window_bits=12) or pytest.fail()
        assert agreed.client_max_window_bits == min(bits, 12)
        agreed, answer = server_negotiate([valued]) or pytest.fail()
        assert answer == valued

    def test_no_context_takeover(self) -> None:
        """Offered *_no_context_takeover are accepted; we may add either unasked."""
        for name in ("server_no_context_takeover", "client_no_context_takeover"):
            offer = offer_of((name, None))
            assert server_negotiate([offer]) == (parse_params(offer[1], role="client offer"), offer)
            _, answer = server_negotiate([offer_of()], **{name: True}) or pytest.fail()
            assert answer == offer

    def test_bad_wishes(self) -> None:
        """A window size outside 8 to 15 in our own settings is a UsageError."""
        with pytest.raises(UsageError):
            server_negotiate([offer_of()], server_max_window_bits=16)
        with pytest.raises(UsageError):
            server_negotiate([offer_of()], client_max_window_bits=7)


class TestSection7_1_ClientAcceptance:
    """RFC 7692 §7: the client checks the server's answer and fails on a bad one."""

    def test_plain(self) -> None:
        """A bare answer to the default offer means all defaults."""
        assert client_accept(client_offer(), offer_of()) == DeflateParams()

    def test_unsolicited_no_context_takeover(self) -> None:
        """The server may add server_ or client_no_context_takeover unasked."""
        answer = offer_of(
            ("server_no_context_takeover", None), ("client_no_context_takeover", None)
        )
        assert client_accept(client_offer(), answer) == DeflateParams(True, True)

    def test_own_hints_kept(self) -> None:
        """Our client_no_context_takeover and window hint hold even if the answer omits them."""
        offer = client_offer(client_no_context_takeover=True, client_max_window_bits=10)
        assert client_accept(offer, offer_of()) == DeflateParams(
            client_no_context_takeover=True, client_max_window_bits=10
        )
        bigger = offer_of(("client_max_window_bits", "12"))
        assert client_accept(offer, bigger).client_max_window_bits == 10
        smaller = offer_of(("client_max_window_bits", "9"))
        assert client_accept(offer, smaller).client_max_window_bits == 9

    @pytest.mark.parametrize("bits", range(8, 16))
    def test_window_sizes(self, bits: int) -> None:
        """Any answered window from 8 to 15 is accepted where the offer allows it."""
        offer = client_offer(server_max_window_bits=15)
        answer = offer_of(
            ("server_max_window_bits", str(bits)), ("client_max_window_bits", str(bits))
        )
        assert client_accept(offer, answer) == DeflateParams(
            server_max_window_bits=bits, client_max_window_bits=bits
        )

    @pytest.mark.parametrize(
        ("offer", "answer", "name"),
        [
            (
                client_offer(client_max_window_bits=False),
                offer_of(("client_max_window_bits", "10")),
                "client_max_window_bits",
            ),
            (
                client_offer(server_max_window_bits=10),
                offer_of(("server_max_window_bits", "11")),
                "server_max_window_bits",
            ),
            (client_offer(server_max_window_bits=10), offer_of(), "server_max_window_bits"),
            (
                client_offer(server_no_context_takeover=True),
                offer_of(),
                "server_no_context_takeover",
            ),
            (client_offer(), offer_of(("client_max_window_bits", None)), "client_max_window_bits"),
            (client_offer(), offer_of(("mystery", "1")), "mystery"),
            (
                client_offer(),
                offer_of(
                    ("server_no_context_takeover", None), ("server_no_context_takeover", None)
                ),
                "server_no_context_takeover",
            ),
            (client_offer(), offer_of(("server_max_window_bits", "08")), "server_max_window_bits"),
            (client_offer(), ("x-webkit-deflate-frame", ()), "x-webkit-deflate-frame"),
        ],
    )
    def test_bad_answer(self, offer: ExtensionOffer, answer: ExtensionOffer, name: str) -> None:
        """Each way an answer can break the offer or the grammar fails the handshake."""
        with pytest.raises(HandshakeError) as caught:
            client_accept(offer, answer)
        assert_one_line_naming(caught.value, name)

    def test_bad_own_offer(self) -> None:
        """An invalid offer of our own is a UsageError, not the server's fault."""
        with pytest.raises(UsageError):
            client_accept(offer_of(("server_max_window_bits", "99")), offer_of())
        with pytest.raises(UsageError):
            client_accept(("x-other", ()), offer_of())

    @PROPERTY
    @given(
        offered=params_strategy,
        bare=st.booleans(),
        wishes=params_strategy,
        messages=messages_strategy,
    )
    def test_negotiation_then_messages(
        self, offered: DeflateParams, bare: bool, wishes: DeflateParams, messages: list[bytes]
    ) -> None:
        """Whatever the server answers, the client accepts, and messages flow both ways."""
        if bare and offered.client_max_window_bits is None:
            offered = DeflateParams(
                offered.server_no_context_takeover,
                offered.client_no_context_takeover,
                offered.server_max_window_bits,
                client_max_window_bits_bare=True,
            )
        offer = offered.to_offer()
        result = server_negotiate(
            [offer],
            server_no_context_takeover=wishes.server_no_context_takeover,
            client_no_context_takeover=wishes.client_no_context_takeover,
            server_max_window_bits=wishes.server_max_window_bits,
            client_max_window_bits=wishes.client_max_window_bits,
        )
        if result is None:
            assert wishes.client_max_window_bits is not None
            assert not offered.has_client_max_window_bits
            return
        server_params, answer = result
        assert answer == server_params.to_offer()
        client_params = client_accept(offer, answer)
        # What each side sends fits what the other side inflates.
        assert client_params.client_window_bits <= server_params.client_window_bits
        assert client_params.server_window_bits == server_params.server_window_bits
        if server_params.client_no_context_takeover:
            assert client_params.client_no_context_takeover
        assert client_params.server_no_context_takeover == server_params.server_no_context_takeover
        client = PerMessageDeflate(client_params, is_client=True)
        server = PerMessageDeflate(server_params, is_client=False)
        for message in messages:
            assert server.decompress(client.compress(message)) == message
            assert client.decompress(server.compress(message)) == message


class TestSection7_1_Interop:
    """RFC 7692 §7.1: negotiating with the websockets library, then exchanging messages."""

    @pytest.mark.parametrize(
        "kwargs",
        [
            {},
            {"server_no_context_takeover": True},
            {"client_no_context_takeover": True},
            {"server_max_window_bits": 10},
            {"client_max_window_bits": 11},
            {"client_max_window_bits": False},
            {
                "server_no_context_takeover": True,
                "client_no_context_takeover": True,
                "server_max_window_bits": 9,
                "client_max_window_bits": 9,
            },
        ],
    )
    def test_our_client_their_server(self, kwargs: dict[str, object]) -> None:
        """Our offer suits a websockets server, and its answer suits us."""
        offer = client_offer(**kwargs)  # type: ignore[arg-type]
        response, theirs = ServerPerMessageDeflateFactory(
            server_max_window_bits=12, client_max_window_bits=None
        ).process_request_params(list(offer[1]), [])
        params = client_accept(offer, (EXTENSION_NAME, tuple(response)))
        ours = PerMessageDeflate(params, is_client=True)
        for message in [HELLO, b"x" * 10_000, os.urandom(5000), HELLO]:
            payload = ours.compress(message)
            decoded = theirs.decode(Frame(Opcode.BINARY, payload, rsv1=True)).data
            assert bytes(decoded) == message
            assert (
                ours.decompress(bytes(theirs.encode(Frame(Opcode.BINARY, message)).data)) == message
            )

    @pytest.mark.parametrize(
        "kwargs",
        [
            {},
            {"server_no_context_takeover": True},
            {"client_no_context_takeover": True},
            {"server_max_window_bits": 10},
            {"client_max_window_bits": 11},
            {"client_max_window_bits": None},
        ],
    )
    @pytest.mark.parametrize(
        "wish", [{}, {"client_max_window_bits": 10}, {"server_max_window_bits": 9}]
    )
    def test_their_client_our_server(self, kwargs: dict[str, object], wish: dict[str, int]) -> None:
        """A websockets client's offer suits us, and our answer suits it."""
        factory = ClientPerMessageDeflateFactory(**kwargs)  # type: ignore[arg-type]
        offer = (EXTENSION_NAME, tuple(factory.get_request_params()))
        result = server_negotiate([offer], **wish)  # type: ignore[arg-type]
        if result is None:
            assert (
                "client_max_window_bits" in wish and kwargs.get("client_max_window_bits", 1) is None
            )
            return
        params, answer = result
        theirs = factory.process_response_params(list(answer[1]), [])
        ours = PerMessageDeflate(params, is_client=False)
        for message in [HELLO, b"x" * 10_000, os.urandom(5000), HELLO]:
            payload = ours.compress(message)
            decoded = theirs.decode(Frame(Opcode.BINARY, payload, rsv1=True)).data
            assert bytes(decoded) == message
            assert (
                ours.decompress(bytes(theirs.encode(Frame(Opcode.BINARY, message)).data)) == message
            )
