"""The WebSocket connection state machine, both roles, without I/O (RFC 6455 §5-§7).

Bytes go in with :meth:`Connection.receive_data`; what happened comes out of
:meth:`Connection.events` and the bytes to write out of
:meth:`Connection.data_to_send`. Every MUST that ends a connection maps to its
close code here, in one place: frame rules come from
:func:`wstool.core.rules.violations`, message rules from
:class:`MessageAssembler`, limits from the parser and the inflater.
"""

from __future__ import annotations

import enum
import os
from collections.abc import Callable, Iterable

from wstool.core import masking
from wstool.core.assembler import MessageAssembler, MessageCodec
from wstool.core.errors import ProtocolError, UsageError
from wstool.core.events import (
    ConnectionClosed,
    ConnectionFailed,
    Event,
    FrameReceived,
    FrameSent,
    MessageReceived,
    MessageSent,
    PongReceived,
)
from wstool.core.frames import (
    CloseCode,
    FrameParser,
    Opcode,
    Role,
    WireFrame,
    encode_header,
    parse_close_payload,
)
from wstool.core.masking import apply_mask
from wstool.core.rules import (
    PartialText,
    Utf8Decoder,
    Violation,
    close_payload_ok,
    header_ok,
    is_valid_close_code,
    mask_ok,
    text_not_utf8,
    violations,
)

__all__ = [
    "DEFAULT_MAX_MESSAGE_SIZE",
    "Connection",
    "State",
]

DEFAULT_MAX_MESSAGE_SIZE = 64 * 2**20


class State(enum.Enum):
    """Where the connection is in its life (RFC 6455 §4.1, §7)."""

    OPEN = "open"
    CLOSING = "closing"
    """We sent a Close frame and wait for the peer's."""
    CLOSED = "closed"


_OPEN = State.OPEN
_SERVER = Role.SERVER
_CLIENT = Role.CLIENT
# Module constants: on Python 3.11 an enum member read from its class costs
# ten times a global's.

# The headers of short, final, unmasked TEXT and BINARY frames, by length.
_SHORT_HEADERS = {op: [bytes((0x80 | op, n)) for n in range(126)] for op in (1, 2)}


class Connection:
    """One end of a WebSocket connection after the opening handshake.

    Args:
        role: which end we are; a client masks what it sends (RFC 6455 §5.3).
        max_message_size: the largest message accepted (1009 beyond it).
        max_frame_size: the largest frame payload accepted, checked as soon
            as a header declares it (default: ``max_message_size``).
        codec: the negotiated permessage-deflate codec, if any.
        mask_source: where mask keys come from; ``os.urandom`` by default.
        echo_close_reason: reply to a Close with the peer's reason as well as
            its code (the code is always echoed).
        record_frames: report every frame in and out as
            :class:`FrameReceived` / :class:`FrameSent` events; a driver
            that shows no frames turns this off and saves their cost.
        echo: answer every message with the same message (text stays text,
            binary stays binary) as soon as it is complete, in the order
            received: an echo server. The messages are then reported as
            :class:`MessageReceived` only when frames are recorded.
        max_pending_inflated: with permessage-deflate, stop parsing once the
            inflated messages waiting in :meth:`events` pass this many bytes
            (a few bytes on the wire can inflate to megabytes: one read must
            not hold them all); :attr:`parsing_held` is then set, and
            :meth:`resume_parsing` goes on once the events were collected.
            None: parse every read to its end.
    """

    parsing_held = False
    """Whether parsing stopped at ``max_pending_inflated`` (see :meth:`resume_parsing`)."""
    _pending_inflated = 0
    _max_pending_inflated: int | None = None

    def __init__(
        self,
        role: Role,
        *,
        max_message_size: int | None = DEFAULT_MAX_MESSAGE_SIZE,
        max_frame_size: int | None = None,
        codec: MessageCodec | None = None,
        mask_source: Callable[[int], bytes] = os.urandom,
        echo_close_reason: bool = True,
        record_frames: bool = True,
        echo: bool = False,
        max_pending_inflated: int | None = None,
    ) -> None:
        self.role = role
        self.echo = echo
        if max_pending_inflated is not None:  # (class-level None otherwise: cheaper to make)
            self._max_pending_inflated = max_pending_inflated
        self.pong_budget: int | None = None
        """How many more Pings to answer: None answers every one (the RFC's
        MUST); a number counts down to 0, after which Pings go unanswered, a
        fault injected on purpose to test the peer's keepalive timeout."""
        self.codec = codec
        self.state = _OPEN
        self.close_sent: tuple[int | None, str] | None = None
        self.close_received: tuple[int | None, str] | None = None
        self.failure: Violation | None = None
        self._close_reply: tuple[int | None, str] | None = None
        self.transport_should_close = False
        self.bytes_received = 0
        self.bytes_sent = 0
        self.frames_received = 0
        self.frames_sent = 0
        self._mask_source = mask_source
        self._echo_reason = echo_close_reason
        self.record_frames = record_frames
        self._max_message = max_message_size
        if max_frame_size is None:
            max_frame_size = max_message_size
        self._parser = FrameParser(max_frame_size=max_frame_size)
        self._echo_limit = _echo_limit(max_frame_size, max_message_size)
        self._assembler = MessageAssembler(max_message_size=max_message_size, codec=codec)
        self._peer = _CLIENT if role is _SERVER else _SERVER
        self._events: list[Event] = []
        self._out: list[bytes] | None = None  # made on the first send
        self._partial: PartialText | None = None  # a text frame still arriving

    @property
    def closed(self) -> bool:
        """Whether the WebSocket connection is closed (nothing more in or out)."""
        return self.state is State.CLOSED

    # -- receiving ---------------------------------------------------------

    def receive_data(self, data: bytes) -> None:
        """Take bytes from the peer; frames after a failure or close are ignored."""
        if self.state is State.CLOSED or not data:
            return
        self.bytes_received += len(data)
        if self.parsing_held:  # kept, parsed by resume_parsing()
            self._parser.keep(data)
            return
        assembler = self._assembler
        # Echo short messages straight back: prebuilt header, no events.
        reflex = self.state is _OPEN and self._echoes_quietly()
        if reflex and masking.echo_frames is not None and assembler._opcode is None:
            data = self._reflexes(data)
            if not data:
                return
        self._receive_frames(data, reflex)

    def receive_echoed(self, data: bytes) -> bytes | None:
        """:meth:`receive_data` for a quiet echo server's common read, answered at once.

        When the read is whole data frames that the C echo answers, and
        nothing else is pending (no events, nothing queued, no frame part
        buffered), they are counted and their answer is returned, not queued:
        the caller sends it. Otherwise the read takes :meth:`receive_data`'s
        path and None is returned: then collect events and output as usual.
        """
        echo_frames = masking.echo_frames
        if echo_frames is not None and self.quiet_echo_ready():
            echo, used, count = echo_frames(data, 0, self._echo_limit)
            if used == len(data):
                self.count_echoed(count, used, len(echo))
                return echo
            self.bytes_received += len(data)
            if not count:  # a control frame, say: receive_data's C call would answer none too
                self._receive_frames(data, True)
                return None
            # What the C call answered stays answered.
            self._echoed(echo, used, count)
            rest = self._leftover([memoryview(data)[used:]], len(data))
            if rest:
                self._receive_frames(rest, True)
            return None
        self.receive_data(data)
        return None

    def quiet_echo_ready(self) -> bool:
        """Whether the next read's whole data frames may be answered by the echo
        scan alone: a quiet echo server's open connection with nothing pending
        (no events, nothing queued, no frame part buffered, no message begun)."""
        return (
            self.state is _OPEN
            and self._out is None
            and not self._events
            and not self._parser.buffered
            and self._assembler._opcode is None
            and self._echoes_quietly()
        )

    def _echoes_quietly(self) -> bool:
        """An echo server that reports no frames and compresses nothing: the reads
        it answers may be answered by the C echo."""
        return self.echo and not self.record_frames and self.codec is None and self.role is _SERVER

    @property
    def echo_limit(self) -> int:
        """The largest payload the echo scan may answer (-1: no limit); larger
        frames are left to the general path, which closes with 1009."""
        return self._echo_limit

    def count_echoed(self, frames: int, read: int, sent: int) -> None:
        """Count ``frames`` whole data frames (``read`` bytes) that were answered
        with ``sent`` bytes outside this object (net's read loop, or
        :meth:`receive_echoed`), while :meth:`quiet_echo_ready` held."""
        self.bytes_received += read
        self._parser.advance(read)
        self.frames_received += frames
        self.frames_sent += frames
        self.bytes_sent += sent

    def _receive_frames(self, data: bytes, reflex: bool) -> None:
        """The frame-by-frame path of :meth:`receive_data` (every rule checked)."""
        assembler = self._assembler
        record = self.record_frames
        events = self._events
        masked = mask_ok(True, self._peer)  # whether the peer's frames must be masked
        small_ok = self._max_message is None or self._max_message >= 125
        new_tuple = tuple.__new__
        try:
            for frame in self._parser.feed(data):
                opcode = frame.opcode
                # The common case in line: a whole, small, uncompressed data
                # message in one frame, masked as mask_ok() requires of the
                # peer, with no fragmented message in progress. Such a frame
                # (FIN, no RSV bit, TEXT or BINARY, a 7-bit length) passes
                # header_ok() but for the mask, which is checked here; the
                # tests hold both paths to the verdicts of violations().
                # Anything else takes the general path, which checks every rule.
                if (
                    (opcode == 1 or opcode == 2)
                    and frame.fin
                    and frame.length_bits == 7
                    and not (frame.rsv1 or frame.rsv2 or frame.rsv3)
                    and (frame.mask_key is not None) is masked
                    and assembler._opcode is None
                    and small_ok
                ):
                    self.frames_received += 1
                    key = frame.mask_key
                    payload = frame.payload if key is None else apply_mask(frame.payload, key)
                    if record:
                        events.append(new_tuple(FrameReceived, (frame, payload)))
                    text = None
                    if opcode == 1:
                        try:
                            text = payload.decode("utf-8")
                        except UnicodeDecodeError as exc:
                            self.fail(text_not_utf8(frame, exc.start))
                            break
                    if reflex:
                        self._send_short(opcode, payload)
                        continue
                    # tuple.__new__: MessageReceived(...) without its __new__.
                    message = new_tuple(
                        MessageReceived, (opcode, payload, text, 1, len(payload), False)
                    )
                    if self.echo:
                        self._echo_message(message)
                    else:
                        events.append(message)
                    continue
                self._receive_frame(frame)
                if self.closed:
                    break
                if self._pending_inflated and self._held_back():
                    break
            else:
                if self._parser.buffered:
                    self._check_partial_text()
        except ProtocolError as exc:  # a limit, found by the parser
            self.fail(
                Violation(
                    "frame-too-big",
                    exc.reason,
                    exc.section,
                    exc.close_code,
                    exc.offset or 0,
                )
            )
        if self.parsing_held and not self._parser.buffered:
            self.parsing_held = False  # the batch ended with the read: nothing held back

    def _held_back(self) -> bool:
        """Whether the inflated messages waiting in events() reached the limit (then
        parsing stops until :meth:`resume_parsing`)."""
        limit = self._max_pending_inflated
        if limit is None or self._pending_inflated <= limit:
            return False
        self.parsing_held = True
        return True

    def resume_parsing(self) -> None:
        """Go on parsing what was held back (:attr:`parsing_held`); call it once the
        events were collected. It may stop again at the limit."""
        if not self.parsing_held:
            return
        self.parsing_held = False
        if self.state is not State.CLOSED:  # (a failure or the peer's EOF ends it)
            self._receive_frames(b"", False)

    def _reflexes(self, data: bytes) -> bytes:
        """A quiet echo server's answer to a read's whole data frames, in one C call.

        The frames the C call takes are those the path below would answer
        without a fault; a frame cut short by the last read is taken with this
        one, when this one completes it (:meth:`_reflexes_joined`), and a frame
        this read leaves cut short is kept as a view of it: a large frame is
        never joined or copied whole.

        Returns:
            What is left from the first frame the C call did not answer, for
            the frame-by-frame path, which gives any fault its close code.
        """
        if self._parser.buffered:
            return self._reflexes_joined(data)
        assert masking.echo_frames is not None
        echo, used, count = masking.echo_frames(data, 0, self._echo_limit)
        if not count:
            return data
        self._echoed(echo, used, count)
        if used == len(data):
            return b""
        return self._leftover([memoryview(data)[used:]], len(data))

    def _reflexes_joined(self, data: bytes) -> bytes:
        """:meth:`_reflexes` when the last read left a frame cut short."""
        parser = self._parser
        if self._partial is not None or not parser.completes(len(data)):
            return data
        assert masking.echo_frames_parts is not None
        parts = parser.take_chunks()
        parts.append(data)
        echo, used, count = masking.echo_frames_parts(parts, self._echo_limit)
        if count:
            self._echoed(echo, used, count)
        return self._leftover(_after(parts, used), len(data))

    def _echoed(self, echo: bytes, used: int, count: int) -> None:
        """Count the C call's ``count`` echoes of ``used`` bytes, and queue them."""
        self._parser.advance(used)
        self.frames_received += count
        self.frames_sent += count
        self.bytes_sent += len(echo)
        out = self._out
        if out is None:
            out = self._out = []
        out.append(echo)

    def _leftover(self, rest: list[bytes | memoryview], read: int) -> bytes:
        """What follows the echoed frames: a binary frame still arriving is held by
        the parser as a view of the read; anything else goes on as bytes."""
        left = sum(len(part) for part in rest)
        if not left:
            return b""
        if left * 2 < read:  # a view would keep a read alive for its tail
            rest = [b"".join(rest)]
        # Text goes on to the path below, which checks its UTF-8 as it comes (RFC 6455 §8.1).
        if rest[0][0] == 0x82 and self._parser.hold(rest):
            return b""
        return b"".join(rest)

    def _check_partial_text(self) -> None:
        """Check the UTF-8 of a text frame's payload as far as it has come.

        A large text frame arriving in several reads fails at the first
        invalid byte, not when its last byte comes. Frames the general path
        would reject for another rule first, and compressed frames (their
        text is known only once inflated), wait for the whole frame.
        """
        partial = self._parser.partial()
        if partial is None or self.state is State.CLOSED:
            self._partial = None
            return
        frame, have = partial
        tracked = self._partial
        if tracked is None or tracked.frame.offset != frame.offset:
            tracked = self._partial = self._follow_text(frame)
            if tracked is None:
                return
        if have > tracked.received:
            try:
                tracked.add(self._parser.tail(have - tracked.received))
            except UnicodeDecodeError as exc:
                # RFC 6455 §8.1: "When an endpoint is to interpret a byte stream as
                # UTF-8 but finds that the byte stream is not, in fact, a valid
                # UTF-8 stream, that endpoint MUST _Fail the WebSocket Connection_."
                self._partial = None
                self.fail(text_not_utf8(frame, exc.start))

    def _follow_text(self, frame: WireFrame) -> PartialText | None:
        """A UTF-8 check for ``frame``'s payload if it continues or starts plain text."""
        assembler = self._assembler
        if frame.rsv1 or not header_ok(frame, self._peer, self.codec is not None):
            return None
        if frame.opcode == Opcode.TEXT and not assembler.in_progress:
            size, decoder = frame.length, Utf8Decoder()
        elif (
            frame.opcode == Opcode.CONTINUATION
            and assembler._utf8 is not None
            and assembler.in_progress
            and not assembler._compressed
        ):
            # Bytes of a character begun in the frames before carry over.
            size, decoder = assembler._wire_size + frame.length, assembler._utf8.copy()
        else:
            return None
        limit = self._max_message
        if limit is not None and size > limit:
            return None  # 1009 comes first, when the frame is complete
        return PartialText(frame, decoder)

    def receive_eof(self) -> None:
        """The peer closed the TCP connection (or it was lost)."""
        self.transport_should_close = True
        if self._close_reply is not None:  # its Close came; ours can no longer go
            self._release_close_reply()
        if self.state is State.CLOSED:
            return
        self.state = State.CLOSED
        # RFC 6455 §7.1.5: with no Close frame received, the close code is 1006.
        self._events.append(
            ConnectionClosed(
                CloseCode.ABNORMAL_CLOSURE,
                "",
                self.role if self.close_sent else None,
                False,
                self.close_sent[0] if self.close_sent else None,
            )
        )

    def _receive_frame(self, frame: WireFrame) -> None:
        self.frames_received += 1
        opcode = frame.opcode
        # Cheap screens first: most frames break no rule, and violations() is
        # only worth its cost when something is off.
        if not header_ok(frame, self._peer, self.codec is not None) and self._broke_a_rule(frame):
            return
        key = frame.mask_key
        data = frame.payload if key is None else apply_mask(frame.payload, key)
        if opcode == Opcode.CLOSE and not close_payload_ok(data) and self._broke_a_rule(frame):
            return
        tracked = self._partial
        text = decoder = None
        if tracked is not None and tracked.frame.offset == frame.offset:
            # A text frame checked as it arrived: only its last bytes are new.
            self._partial = None
            text, decoder = tracked.finish(frame, data), tracked.decoder
        if self.record_frames:
            self._events.append(FrameReceived(frame, data))
        if opcode & 0x8:
            self._receive_control(opcode, data)
            return
        result = self._assembler.add(frame, data, text, decoder)
        if type(result) is MessageReceived:
            if self.echo:
                self._echo_message(result)
            else:
                self._events.append(result)
                if result.compressed:
                    self._pending_inflated += len(result.data)
        elif result is not None:
            self.fail(result)  # type: ignore[arg-type]

    def _broke_a_rule(self, frame: WireFrame) -> bool:
        """Fail the connection on the first rule ``frame`` breaks, if any; whether it did."""
        found = violations(frame, self._peer, deflate=self.codec is not None, check_utf8=False)
        if not found:
            return False
        if self.record_frames:  # show the offending frame, then the failure
            self._events.append(FrameReceived(frame, frame.data))
        self.fail(found[0])
        return True

    def _echo_message(self, message: MessageReceived) -> None:
        if self.record_frames:
            self._events.append(message)
        # RFC 6455 §5.5.1: no data frames after our Close; a message that
        # came before the peer's Close is still answered.
        if self.can_send_data:
            self.send_message(message.opcode, message.data)

    def _receive_control(self, opcode: int, data: bytes) -> None:
        if opcode == Opcode.PING:
            # RFC 6455 §5.5.2: "Upon receipt of a Ping frame, an endpoint MUST
            # send a Pong frame in response, unless it already received a
            # Close frame." After our own Close only data frames are barred
            # (§5.5.1), so a Ping during the closing handshake is answered.
            if self.close_received is None and self._spend_pong():
                self._send(Opcode.PONG, data)
        elif opcode == Opcode.CLOSE:
            self._receive_close(data)
        elif opcode == Opcode.PONG:
            self._events.append(PongReceived(data))

    def _spend_pong(self) -> bool:
        budget = self.pong_budget
        if budget is None:
            return True
        if budget <= 0:
            return False
        self.pong_budget = budget - 1
        return True

    def _receive_close(self, data: bytes) -> None:
        code, raw_reason = parse_close_payload(data)
        reason = raw_reason.decode("utf-8")  # checked by close_payload_ok()
        self.close_received = (code, reason)
        self.state = State.CLOSED
        if self.close_sent is None:
            # RFC 6455 §5.5.1: "If an endpoint receives a Close frame and did
            # not previously send a Close frame, the endpoint MUST send a
            # Close frame in response. (When sending a Close frame in
            # response, the endpoint typically echos the status code it
            # received.)" It "may delay sending a Close frame until its
            # current message is sent": the reply is queued when the driver
            # next collects output, so what it sends in answer to messages
            # that came before the Close (an echo) goes out first. The
            # connection is reported closed once the reply is queued.
            self._close_reply = (code, reason if self._echo_reason else "")
        else:
            self._closed_cleanly(self.role)

    def _closed_cleanly(self, initiator: Role) -> None:
        """Close frames went both ways (RFC 6455 §7.1.4)."""
        code, reason = self.close_received or (None, "")
        sent = self.close_sent[0] if self.close_sent else None
        # RFC 6455 §7.1.1: the server closes the TCP connection first; a
        # client waits for it (with a timeout, which is the driver's).
        if self.role is Role.SERVER:
            self.transport_should_close = True
        self._events.append(
            ConnectionClosed(
                CloseCode.NO_STATUS_RCVD if code is None else code,
                reason,
                initiator,
                True,
                sent,
            )
        )

    def _release_close_reply(self) -> None:
        """Queue the Close frame owed to the peer, after what was sent since its Close."""
        if self._close_reply is not None:
            code, reason = self._close_reply
            self._close_reply = None
            self._send_close(code, reason)
            self._closed_cleanly(self._peer)

    def fail(self, violation: Violation) -> None:
        """Fail the connection (RFC 6455 §7.1.7): send Close with the rule's code, stop.

        Args:
            violation: the rule the peer broke; its close code is sent.
        """
        if self.state is State.CLOSED:
            return
        self.failure = violation
        self._events.append(ConnectionFailed(violation))
        if self.close_sent is None:
            self._send_close(violation.close_code, _truncate_reason(violation.message))
        self.state = State.CLOSED
        self.transport_should_close = True
        # Failing while closing sends no second Close: the code sent stays
        # the one of our first Close frame.
        sent = self.close_sent[0] if self.close_sent else None
        self._events.append(
            ConnectionClosed(violation.close_code, violation.message, self.role, False, sent)
        )

    # -- sending -----------------------------------------------------------

    def send_text(self, text: str) -> None:
        """Send one text message (compressed when deflate was negotiated)."""
        self.send_message(Opcode.TEXT, text.encode("utf-8"))

    def send_binary(self, data: bytes) -> None:
        """Send one binary message (compressed when deflate was negotiated)."""
        self.send_message(Opcode.BINARY, data)

    def send_message(self, opcode: int, data: bytes, *, compress: bool | None = None) -> None:
        """Send one data message in one frame.

        Args:
            opcode: ``Opcode.TEXT`` or ``Opcode.BINARY``; text must be UTF-8.
            data: the payload.
            compress: compress it (default: when a codec was negotiated).
        """
        if self.state is not State.OPEN:
            self._check_can_send_data()
        if (
            len(data) < 126
            and (opcode == 1 or opcode == 2)
            and self.codec is None
            and not compress
            and self.role is Role.SERVER
            and not self.record_frames
        ):
            self._send_short(opcode, data)
            return
        rsv1 = self.codec is not None if compress is None else compress
        payload = data
        if rsv1:
            if self.codec is None:
                raise UsageError("compression was not negotiated")
            payload = self.codec.compress(data)
        self._send(opcode, payload, rsv1=rsv1)
        if self.record_frames:
            self._events.append(MessageSent(int(opcode), data, 1, len(payload), rsv1))

    def send_fragments(self, opcode: int, parts: Iterable[bytes]) -> None:
        """Send one data message as several frames, one per part, uncompressed."""
        self._check_can_send_data()
        chunks = list(parts) or [b""]
        for index, part in enumerate(chunks):
            self._send(
                opcode if index == 0 else Opcode.CONTINUATION, part, fin=index == len(chunks) - 1
            )
        if self.record_frames:
            data = b"".join(chunks)
            self._events.append(MessageSent(int(opcode), data, len(chunks), len(data), False))

    def send_ping(self, data: bytes = b"") -> None:
        """Send a Ping with up to 125 bytes of application data."""
        self._check_control(data)
        self._send(Opcode.PING, data)

    def send_pong(self, data: bytes = b"") -> None:
        """Send an unsolicited Pong (a heartbeat, RFC 6455 §5.5.3)."""
        self._check_control(data)
        self._send(Opcode.PONG, data)

    def send_close(self, code: int | None = CloseCode.NORMAL_CLOSURE, reason: str = "") -> None:
        """Start the closing handshake.

        Args:
            code: a close code that may be sent, or ``None`` for an empty Close.
            reason: UTF-8 text; code and reason fit in 125 bytes.

        Raises:
            UsageError: for a code that may not be sent (use a forged frame to
                send one anyway), a reason too long or without a code, or a
                connection that is already closing.
        """
        if self.close_sent is not None or self.state is State.CLOSED:
            raise UsageError("the connection is already closing")
        if code is None and reason:
            raise UsageError("a close reason needs a close code")
        if code is not None and not is_valid_close_code(code):
            raise UsageError(f"close code {code} may not be sent (RFC 6455 §7.4)")
        if len(reason.encode("utf-8")) > 123:
            raise UsageError("a close reason is at most 123 bytes of UTF-8")
        self._send_close(code, reason)
        self.state = State.CLOSING

    def send_raw(self, data: bytes) -> None:
        """Queue bytes as they are, frames forged by hand included."""
        if self._out is None:
            self._out = []
        self._out.append(data)
        self.bytes_sent += len(data)

    @property
    def can_send_data(self) -> bool:
        """Whether a message may be sent: open, or the peer's Close not yet answered."""
        return self.state is State.OPEN or self._close_reply is not None

    def _check_can_send_data(self) -> None:
        # RFC 6455 §5.5.1: "After sending a Close frame, the endpoint MUST NOT
        # send any more data frames."
        if not self.can_send_data:
            raise UsageError(f"cannot send a message: the connection is {self.state.value}")

    def _check_control(self, data: bytes) -> None:
        if self.state is not State.OPEN:
            raise UsageError(f"cannot send: the connection is {self.state.value}")
        if len(data) > 125:
            raise UsageError("a control frame carries at most 125 bytes")

    def _send_short(self, opcode: int, data: bytes) -> None:
        """The common case of a busy server: a short, final, unmasked TEXT or
        BINARY frame whose header is one of a few prebuilt ones; no events."""
        out = self._out
        if out is None:
            out = self._out = []
        out.append(_SHORT_HEADERS[opcode][len(data)])
        out.append(data)
        self.bytes_sent += len(data) + 2
        self.frames_sent += 1

    def _send_close(self, code: int | None, reason: str) -> None:
        payload = b"" if code is None else code.to_bytes(2, "big") + reason.encode("utf-8")
        self.close_sent = (code, reason)
        self._send(Opcode.CLOSE, payload)

    def _send(self, opcode: int, data: bytes, *, fin: bool = True, rsv1: bool = False) -> None:
        key = self._mask_source(4) if self.role is Role.CLIENT else None
        head, bits = encode_header(opcode, len(data), fin=fin, rsv1=rsv1, mask_key=key)
        body = data if key is None else apply_mask(data, key)
        if self.record_frames:
            frame = WireFrame(
                fin, rsv1, False, False, int(opcode), key, len(data), bits, body, self.bytes_sent
            )
            self._events.append(FrameSent(frame, data))
        out = self._out
        if out is None:
            out = self._out = []
        out.append(head)
        out.append(body)
        self.bytes_sent += len(head) + len(body)
        self.frames_sent += 1

    # -- output ------------------------------------------------------------

    def events(self) -> list[Event]:
        """What happened since the last call, in order."""
        events, self._events = self._events, []
        if self._pending_inflated:
            self._pending_inflated = 0
        return events

    def data_to_send(self) -> bytes:
        """The bytes to write to the transport since the last call.

        A Close frame owed to the peer is queued here, after whatever was
        sent since the peer's Close arrived.
        """
        self._release_close_reply()
        out = self._out
        if not out:
            return b""
        self._out = None
        return out[0] if len(out) == 1 else b"".join(out)

    def quiet_output(self) -> list[bytes] | None:
        """The output alone when it is all that happened: no events, no Close owed,
        the connection open (a quiet echo's common read). None when there is more
        to it: then :meth:`events` and :meth:`chunks_to_send` as usual."""
        if self._events or self._close_reply is not None or self.state is not State.OPEN:
            return None
        out, self._out = self._out, None
        return out or []

    def chunks_to_send(self) -> list[bytes]:
        """:meth:`data_to_send` as the list of its pieces, for a writer that takes them.

        A transport with a ``writeSequence`` then joins large frames once, not twice.
        """
        self._release_close_reply()
        out, self._out = self._out, None
        return out or []


def _after(parts: list[bytes | memoryview], used: int) -> list[bytes | memoryview]:
    """What of ``parts`` follows their first ``used`` bytes, as views (no copies)."""
    for index, part in enumerate(parts):
        if used < len(part):
            return [memoryview(part)[used:], *parts[index + 1 :]]
        used -= len(part)
    return []


def _echo_limit(max_frame_size: int | None, max_message_size: int | None) -> int:
    """The largest payload the C echo may answer: the smaller limit (-1: none)."""
    if max_frame_size is None:
        return -1 if max_message_size is None else max_message_size
    return max_frame_size if max_message_size is None else min(max_frame_size, max_message_size)


def _truncate_reason(message: str) -> str:
    """A close reason fits in 123 bytes of UTF-8 (RFC 6455 §5.5)."""
    raw = message.encode("utf-8")[:123]
    return raw.decode("utf-8", "ignore")
