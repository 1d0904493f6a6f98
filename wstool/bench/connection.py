"""One bench connection: the opening handshake, messages out, echoes checked, the close.

An asyncio ``BufferedProtocol``; the run it belongs to (:class:`RunContext`)
holds what every connection shares: prebuilt frame pieces, the read buffer,
the counters. See :mod:`wstool.bench.driver` for why the hot path looks as it
does.
"""

from __future__ import annotations

import array
import asyncio
import collections
import socket
import time
from typing import Any, NamedTuple, Protocol

from wstool.bench.batch import _batch, numbered_python
from wstool.bench.parsed import CLOSED, CLOSING, HANDSHAKE, OPEN, ParsedPath
from wstool.bench.plan import BenchPlan
from wstool.bench.plan import encode_header as timestamp_header
from wstool.bench.pump import ReadPump
from wstool.bench.stats import Stats
from wstool.core.deflate import ExtensionOffer, PerMessageDeflate, client_accept, client_offer
from wstool.core.errors import WstoolError
from wstool.core.frames import encode_header
from wstool.core.handshake import build_request, check_response, generate_key
from wstool.core.http import parse_response_head
from wstool.core.masking import apply_mask

__all__ = [
    "CLOSED",
    "CLOSING",
    "HANDSHAKE",
    "OPEN",
    "BenchConnection",
    "RunContext",
    "SizeFrames",
]

_LARGE = 4096  # frames from this size on are sent as pieces, their filler never copied


class SizeFrames(NamedTuple):
    """One message size's prebuilt pieces (the same for every connection of a process).

    A client frame is ``prefix + masked header + masked_rest``; its echo is
    ``echo_head + header + rest``.
    """

    size: int
    prefix: bytes
    masked_rest: bytes
    echo_head: bytes
    rest: bytes


class RunContext(Protocol):
    """What a connection needs from its run (:class:`wstool.bench.driver.BenchRun`)."""

    plan: BenchPlan
    stats: Stats
    mask_key: bytes
    mask_int: int
    opcode: int
    mask_word: int
    cycle: tuple[SizeFrames, ...]
    read_view: memoryview
    sending: bool
    closed_loop: bool
    """Whether each echo's return sends the next message (no --rate)."""
    counting: bool
    recording: bool
    switches: array.array[int]
    """sending, recording and counting, as the C streams read them."""
    pump: ReadPump
    """Where connections on a C stream are read over plain TCP."""

    def burst(self, count: int, *, echo: bool) -> bytes: ...
    def plain_burst(self, count: int, *, echo: bool) -> bytes: ...

    budget: int | None

    def take_budget(self, count: int) -> int: ...
    def connection_open(self, conn: BenchConnection) -> None: ...
    def connection_writable(self, conn: BenchConnection) -> None: ...
    def connection_done(self, conn: BenchConnection) -> None: ...
    def connection_closed(self, conn: BenchConnection, was_open: bool) -> None: ...
    def received_one(self) -> bool: ...
    def note(self, kind: str, detail: str) -> None: ...


class BenchConnection(ParsedPath, asyncio.BufferedProtocol):
    """One connection of a run.

    Args:
        run: what the run's connections share.
        index: the connection's index across all workers (the sequence number's top half).
    """

    def __init__(self, run: RunContext, index: int) -> None:
        self.run = run
        self.index = index
        self.state = HANDSHAKE
        self.key = generate_key()
        self.writable = True  # the transport's buffer is under its high-water mark
        self.offers: tuple[ExtensionOffer, ...] = (client_offer(),) if run.plan.deflate else ()
        self.head = bytearray()
        self.transport: Any = None
        loop = asyncio.get_running_loop()
        self.opened: asyncio.Future[bool] = loop.create_future()
        self.closed: asyncio.Future[None] = loop.create_future()
        self.upgrade_started = 0
        self.number = 0  # messages sent on this connection
        self.outstanding = 0  # sent and not yet answered
        self.failed = False
        self.abandoned = False  # the run ended while it was opening: not a failure
        self.sends = run.plan.mode in ("echo", "send")
        # The echo fast path: the bytes still expected and where each message ends.
        self.fast = run.plan.mode == "echo"
        self.expected = bytearray()
        self.base = 0  # stream position of expected[0]
        self.pos = 0  # stream position received (and matched)
        self.done_pos = 0  # where the last whole echo ended
        # (end of the first message, count, send time(s), echo length, payload size)
        self.ends: collections.deque[tuple[int, int, int | list[int], int, int]] = (
            collections.deque()
        )
        # The general path: frames parsed, messages compared with ``waiting``.
        self.pending = bytearray()
        self.fragments: list[bytes] = []
        self.fragment_opcode = 0
        self.compressed = False
        self.waiting: collections.deque[tuple[int, bytes, int]] = collections.deque()
        # Large frames of one size: the headers still expected, and where in a frame we are.
        cycle = run.cycle
        self.large = self.fast and len(cycle) == 1 and cycle[0].size >= _LARGE
        self.uniform = self.fast and len(cycle) == 1  # one size, on the fast path
        self.plain = self.uniform and not self.large and not run.plan.stamps
        # The common run, closed loop with one size, no --messages: once open, its
        # echoes are checked and answered in C (_batch.stream, or _batch.large_stream
        # for large frames).
        self.stream: Any = None
        self.streams = (
            _batch is not None and self.uniform and run.closed_loop and run.budget is None
        )
        self.headers: collections.deque[bytes] = collections.deque()
        self.frame_offset = 0
        self.deflate: PerMessageDeflate | None = None

    # -- asyncio callbacks ------------------------------------------------------------------

    def connection_made(self, transport: Any) -> None:
        self.transport = transport
        if self.abandoned:
            transport.abort()
            return
        plan = self.run.plan
        request = build_request(
            plan.host_header, plan.resource, key=self.key, extensions=self.offers
        )
        self.upgrade_started = time.perf_counter_ns()
        transport.write(request)

    def get_buffer(self, sizehint: int) -> memoryview:
        return self.run.read_view

    def buffer_updated(self, nbytes: int) -> None:
        stream = self.stream
        if stream is not None and self.state == OPEN:
            run = self.run
            sending = run.sending and not self.failed
            stats = run.stats
            counts = stats.latency.counts if run.recording else None
            # The time now (None), and the counters of _answered and _sent kept by
            # the stream in stats.tally (the connection's number comes back at
            # _stop_stream).
            done = stream.step(nbytes, None, sending, counts, stats.tally, run.counting)
            if done > 0 and not sending:
                self.outstanding = max(0, self.outstanding - done)
                if not run.sending and self.outstanding == 0:
                    run.connection_done(self)
            elif done < 0:  # not the echoes expected: the Python path finds out what
                self._stop_stream()
                self._fast(nbytes)
        elif self.state == OPEN and self.fast:
            self._fast(nbytes)
        elif self.state in (OPEN, CLOSING):
            self.pending += self.run.read_view[:nbytes]
            self._parse()
        elif self.state == HANDSHAKE:
            self._handshake(nbytes)

    def eof_received(self) -> bool:
        return False

    def pause_writing(self) -> None:
        self.writable = False  # the open loop sends this connection nothing for now

    def resume_writing(self) -> None:
        self.writable = True
        self.run.connection_writable(self)

    def connection_lost(self, exc: Exception | None) -> None:
        if self.stream is not None:
            self._unhook_stream(self.stream)  # no more reads: and no cycle left behind
        self.dropped(exc)
        was_open = self.state != HANDSHAKE
        self.state = CLOSED
        if not self.opened.done():
            self.opened.set_result(False)
        if not self.closed.done():
            self.closed.set_result(None)
        self.run.connection_closed(self, was_open)

    def dropped(self, exc: Exception | None) -> None:
        """The server dropped the connection (``exc``: how, None for its end): a failure
        unless it was closing, had failed already, or the run had let it go."""
        if self.state in (HANDSHAKE, OPEN) and not self.failed and not self.abandoned:
            kind = "reset" if isinstance(exc, ConnectionResetError) else "closed early"
            self.fail(kind, f"the server dropped the connection ({exc or 'EOF'})")

    # -- the opening handshake --------------------------------------------------------------

    def _handshake(self, nbytes: int) -> None:
        if self.abandoned:
            return
        self.head += self.run.read_view[:nbytes]
        try:
            parsed = parse_response_head(bytes(self.head))
            if parsed is None:
                return
            head, used = parsed
            answer = check_response(head, key=self.key, extensions=self.offers)
        except WstoolError as exc:
            status = getattr(exc, "status", None)
            kind = f"handshake {status}" if status and status != 502 else "handshake"
            self.fail(kind, str(exc))
            return
        for extension in answer.extensions:
            self.deflate = PerMessageDeflate(
                client_accept(self.offers[0], extension), is_client=True
            )
            self.fast = self.uniform = self.large = False
        self.run.stats.upgrade.pending.append(
            (time.perf_counter_ns() - self.upgrade_started) // 1000
        )
        self.state = OPEN
        rest = self.head[used:]
        self.head = bytearray()
        if self.streams and self.fast and not rest:
            self._start_stream()
        self.opened.set_result(True)
        self.run.connection_open(self)
        if rest:
            self.fast = self.uniform = self.large = False
            self.pending += rest
            self._parse()

    # -- sending ----------------------------------------------------------------------------

    def send(self, count: int, times: int | list[int] | None = None) -> None:
        """Send ``count`` messages stamped now (or at ``times``, an int), or each with its
        intended time (a list: open loop)."""
        if self.state != OPEN or self.failed or not self.sends:
            return
        run = self.run
        if run.budget is not None:
            count = run.take_budget(count)
            if count <= 0:
                return
        stamps = time.time_ns() if times is None else times
        if self.stream is not None and isinstance(stamps, int):
            self._sent(count, count * run.cycle[0].size)
            self.stream.send(count, stamps)
            return
        data: bytes | bytearray
        if self.uniform and isinstance(stamps, int) and not self.large:
            # The common case first: a closed-loop batch of small frames.
            if self.plain:
                data, nbytes = self._build_plain(count, stamps)
            else:
                data, nbytes = self._build_small(count, stamps)
        elif not self.fast:
            data, nbytes = self._build_general(count, stamps)
        elif not self.uniform:
            data, nbytes = self._build_mixed(count, stamps)
        elif self.large:
            pieces, nbytes = self._build_large(count, stamps)
            self._sent(count, nbytes)
            self.transport.writelines(pieces)
            return
        else:
            data, nbytes = self._build_uniform(count, stamps)
        self._sent(count, nbytes)
        self.transport.write(data)

    def _sent(self, count: int, nbytes: int) -> None:
        self.number += count
        self.outstanding += count
        stats = self.run.stats
        stats.sent += count
        stats.bytes_sent += nbytes

    def _build_large(self, count: int, stamps: int | list[int]) -> tuple[list[bytes], int]:
        """Large frames of the one size: header pieces beside the shared masked filler.

        Written with ``writelines`` (a gather write on uvloop): the filler is
        never copied on the way out, and echoes are checked piece by piece
        against it (:meth:`_match_large`), so it is never copied at all.
        """
        run = self.run
        piece = run.cycle[0]
        text = run.plan.text
        key = run.mask_int
        seq = self.index << 32
        first = self.number
        pieces: list[bytes] = []
        for i in range(count):
            stamp = stamps if isinstance(stamps, int) else stamps[i]
            plain = timestamp_header(stamp, seq | ((first + i) & 0xFFFFFFFF), text=text)
            masked = (int.from_bytes(plain, "big") ^ key).to_bytes(len(plain), "big")
            pieces += (piece.prefix + masked, piece.masked_rest)
            self.headers.append(plain)
        echo_len = len(piece.echo_head) + piece.size
        sent_end = self.ends[-1][0] + (self.ends[-1][1] - 1) * echo_len if self.ends else self.pos
        self.ends.append((sent_end + echo_len, count, stamps, echo_len, piece.size))
        return pieces, count * piece.size

    def _build_uniform(self, count: int, stamps: int | list[int]) -> tuple[bytes | bytearray, int]:
        """``count`` frames of the one size. Closed loop: the batch shares its send time
        (:meth:`_build_small`). Open loop: each message has its own intended time."""
        if isinstance(stamps, int):
            return self._build_small(count, stamps)
        return self._build_stamped(count, stamps)

    def _build_small(self, count: int, stamp: int) -> tuple[bytes, int]:
        """A closed-loop batch of small frames, numbered, sharing the batch's send time;
        their echoes are added to ``expected`` (:func:`numbered_python`, or the same in C)."""
        run = self.run
        piece = run.cycle[0]
        expected = self.expected
        echo_len = len(piece.echo_head) + piece.size
        self.ends.append((self.base + len(expected) + echo_len, count, stamp, echo_len, piece.size))
        build = numbered_python if _batch is None else _batch.numbered
        wire = build(
            piece.prefix, piece.masked_rest, piece.echo_head, piece.rest, run.mask_key,
            stamp, self.index, self.number, count, run.plan.text, expected,
        )  # fmt: skip
        return wire, count * piece.size

    def _build_plain(self, count: int, stamp: int) -> tuple[bytes, int]:
        """A closed-loop batch without the timestamp header (``--no-stamps``): prebuilt
        frames out, prebuilt echoes expected; the batch's send time is its latency's start."""
        run = self.run
        piece = run.cycle[0]
        echoes = run.plain_burst(count, echo=True)
        echo_len = len(echoes) // count
        expected = self.expected
        self.ends.append((self.base + len(expected) + echo_len, count, stamp, echo_len, piece.size))
        expected += echoes
        return run.plain_burst(count, echo=False), count * piece.size

    def _build_stamped(self, count: int, stamps: list[int]) -> tuple[bytearray, int]:
        """Open loop: frames of the one size, each header written whole."""
        run = self.run
        piece = run.cycle[0]
        wire = bytearray(run.burst(count, echo=False))
        expected = self.expected
        at = len(expected)
        expected += run.burst(count, echo=True)
        frame_len = len(piece.prefix) + piece.size
        echo_len = len(piece.echo_head) + piece.size
        out = len(piece.prefix)
        back = at + len(piece.echo_head)
        seq = self.index << 32
        n = self.number
        text = run.plan.text
        key = run.mask_int
        for i in range(count):
            plain = timestamp_header(stamps[i], seq | ((n + i) & 0xFFFFFFFF), text=text)
            size = len(plain)
            wire[out : out + size] = (int.from_bytes(plain, "big") ^ key).to_bytes(size, "big")
            expected[back : back + size] = plain
            out += frame_len
            back += echo_len
        self.ends.append((self.base + at + echo_len, count, stamps, echo_len, piece.size))
        return wire, count * piece.size

    def _build_mixed(self, count: int, stamps: int | list[int]) -> tuple[bytes, int]:
        """Frames of a size mix, one by one (an entry per message in ``ends``)."""
        run = self.run
        cycle = run.cycle
        period = len(cycle)
        key = run.mask_int
        text = run.plan.text
        seq = self.index << 32
        first = self.number
        wire: list[bytes] = []
        expected = self.expected
        end = self.base + len(expected)
        nbytes = 0
        for i in range(count):
            n = first + i
            piece = cycle[n % period]
            stamp = stamps if isinstance(stamps, int) else stamps[i]
            if text:
                plain = b"%016x%016x" % (stamp, seq | (n & 0xFFFFFFFF))
                masked = (int.from_bytes(plain, "big") ^ key).to_bytes(32, "big")
            else:
                value = (stamp << 64) | seq | (n & 0xFFFFFFFF)
                plain = value.to_bytes(16, "big")
                masked = (value ^ key).to_bytes(16, "big")
            wire += (piece.prefix, masked, piece.masked_rest)
            expected += piece.echo_head
            expected += plain
            expected += piece.rest
            echo_len = len(piece.echo_head) + piece.size
            end += echo_len
            self.ends.append((end, 1, stamp, echo_len, piece.size))
            nbytes += piece.size
        return b"".join(wire), nbytes

    def _build_general(self, count: int, stamps: int | list[int]) -> tuple[bytes, int]:
        run = self.run
        cycle = run.cycle
        text = run.plan.text
        echo = run.plan.mode == "echo"
        wire: list[bytes] = []
        nbytes = 0
        for i in range(count):
            n = self.number + i
            piece = cycle[n % len(cycle)]
            seq = (self.index << 32) | (n & 0xFFFFFFFF)
            stamp = stamps if isinstance(stamps, int) else stamps[i]
            payload = timestamp_header(stamp, seq, text=text) + piece.rest
            if echo:
                self.waiting.append((run.opcode, payload, stamp))
            wire.append(self._frame(run.opcode, payload))
            nbytes += piece.size
        return b"".join(wire), nbytes

    def _frame(self, opcode: int, payload: bytes) -> bytes:
        """A whole client frame, compressed when deflate was agreed (data frames)."""
        rsv1 = False
        if self.deflate is not None and opcode < 8:
            payload = self.deflate.compress(payload)
            rsv1 = True
        key = self.run.mask_key
        head, _ = encode_header(opcode, len(payload), rsv1=rsv1, mask_key=key)
        return head + apply_mask(payload, key)

    # -- receiving: the echo fast path ------------------------------------------------------

    def _fast(self, nbytes: int) -> None:
        chunk = self.run.read_view[:nbytes]
        if self.large:
            matched = self._match_large(chunk)
        else:
            matched = self.expected.startswith(chunk, self.pos - self.base)
        if not matched:
            self._leave_fast_path()
            self.pending += chunk
            self._parse()
            return
        pos = self.pos = self.pos + nbytes
        ends = self.ends
        if not ends or ends[0][0] > pos:
            return
        now = time.time_ns()
        run = self.run
        counts = run.stats.latency.counts if run.recording else None
        record = run.stats.latency.pending
        done = size = 0
        last = self.done_pos
        while ends:
            first_end, count, stamps, echo_len, length = ends[0]
            if first_end > pos:
                break
            complete = min(count, (pos - first_end) // echo_len + 1)
            if counts is not None:
                if isinstance(stamps, int):
                    value = (now - stamps) // 1000
                    counts[value] = counts.get(value, 0) + complete
                else:
                    record.extend([(now - stamp) // 1000 for stamp in stamps[:complete]])
            done += complete
            size += complete * length
            last = first_end + (complete - 1) * echo_len
            if complete < count:
                rest = stamps if isinstance(stamps, int) else stamps[complete:]
                ends[0] = (last + echo_len, count - complete, rest, echo_len, length)
                break
            ends.popleft()
        self.done_pos = last
        used = last - self.base
        if used > 65536 and used * 2 > len(self.expected):
            del self.expected[:used]
            self.base = last
        self._answered(done, size, now)

    def _start_stream(self) -> None:
        """Check and answer this connection's echoes in C from now on (see ``streams``)."""
        run = self.run
        piece = run.cycle[0]
        buffer, key, text = run.read_view.obj, run.mask_key, run.plan.text
        pieces = (piece.prefix, piece.masked_rest, piece.echo_head, piece.rest)
        if self.large:  # large frames are always stamped
            self.stream = _batch.large_stream(
                buffer, self.transport.writelines, *pieces, key, self.index, text, self.number,
                self.pos,
            )  # fmt: skip
            self._hook_stream()
            return
        if self.plain:  # --no-stamps: the whole frame and echo are the same every time
            payload = run.plain_burst(1, echo=True)[len(piece.echo_head) :]
            pieces = (run.plain_burst(1, echo=False), b"", piece.echo_head, payload)
        self.stream = _batch.stream(
            buffer, self.transport.write, *pieces, key, self.index, text, self.number, self.pos,
            not self.plain,
        )  # fmt: skip
        self._hook_stream()

    def _hook_stream(self) -> None:
        """Have the transport hand this connection's reads to the stream itself.

        The stream's get_buffer and buffer_updated (C) stand in for this class's
        on the connection, and the transport is told again what its protocol
        is, so that it takes them: a read of echoes is then checked and
        answered without running any Python. Any other read (the run ending,
        a failure, an echo not the one expected) goes to the stream's
        fallback, this class's buffer_updated. The stream is unhooked before
        the connection leaves that state (``_stop_stream``, ``fail``,
        ``connection_lost``): it reads only the run's switches itself.

        Over plain TCP the run's pump then takes the connection (see pump.py): it
        reads the socket and the stream sends on it, off the transport.
        """
        stream, run = self.stream, self.run
        stats = run.stats
        fallback = BenchConnection.buffer_updated.__get__(self)
        stream.hook(fallback, stats.latency.counts, stats.tally, run.switches)
        vars(self).update(get_buffer=stream.get_buffer, buffer_updated=stream.buffer_updated)
        self.transport.set_protocol(self)
        run.pump.take(self)

    def _unhook_stream(self, stream: Any) -> None:
        """This class's own get_buffer and buffer_updated again."""
        if vars(self).pop("buffer_updated", None) is None:
            return
        del vars(self)["get_buffer"]
        self.run.pump.release(self)
        stream.unhook()
        if not self.transport.is_closing():
            self.transport.set_protocol(self)

    def _stop_stream(self) -> None:
        """Back to the Python fast path, with the stream's state (the echoes and
        batches still expected), before anything but echoes is read or sent."""
        stream, self.stream = self.stream, None
        if stream is None:
            return
        self._unhook_stream(stream)
        if self.large:
            batches, self.pos, self.done_pos, self.number = stream.export()
        else:
            expected, batches, self.pos, self.done_pos, self.number = stream.export()
            self.expected = bytearray(expected)
            self.base = self.done_pos
        piece = self.run.cycle[0]
        echo_len = len(piece.echo_head) + piece.size
        self.ends = collections.deque(
            (first_end, count, stamp, echo_len, piece.size)
            for first_end, count, stamp, _ in batches
        )
        if self.large:  # the headers still expected, and where in a frame the echoes are
            seq, text = self.index << 32, self.run.plan.text
            self.headers = collections.deque(
                timestamp_header(stamp, seq | ((first + i) & 0xFFFFFFFF), text=text)
                for _, count, stamp, first in batches
                for i in range(count)
            )
            self.frame_offset = self.pos - (batches[0][0] - echo_len) if batches else 0

    def _match_large(self, chunk: memoryview) -> bool:
        """Whether ``chunk`` continues the expected echoes of large frames (moving on if so).

        A frame is echo head, timestamp header, filler: each part is compared in
        place with the one prebuilt copy (or the header kept for that message).
        """
        piece = self.run.cycle[0]
        head_end = len(piece.echo_head)
        header_end = head_end + len(self.headers[0]) if self.headers else head_end
        frame_end = head_end + piece.size
        offset, index, at, size = self.frame_offset, 0, 0, len(chunk)
        headers = self.headers
        while at < size:
            if index >= len(headers):
                return False  # more than was sent
            if offset < head_end:
                want, start, stop = piece.echo_head, offset, head_end
            elif offset < header_end:
                want, start, stop = headers[index], offset - head_end, header_end
            else:
                want, start, stop = piece.rest, offset - header_end, frame_end
            take = min(size - at, stop - offset)
            if not want.startswith(chunk[at : at + take], start):
                return False
            at += take
            offset += take
            if offset == frame_end:
                offset = 0
                index += 1
        for _ in range(index):
            headers.popleft()
        self.frame_offset = offset
        return True

    def _leave_fast_path(self) -> None:
        """Turn the expected stream into expected messages for the general parser."""
        if self.large:
            self._leave_large()
            return
        self.fast = self.uniform = self.large = False
        start = self.done_pos
        for first_end, count, stamps, echo_len, size in self.ends:
            for i in range(count):
                end = first_end + i * echo_len
                frame = self.expected[start - self.base : end - self.base]
                stamp = stamps if isinstance(stamps, int) else stamps[i]
                self.waiting.append((self.run.opcode, bytes(frame[len(frame) - size :]), stamp))
                start = end
        self.pending = bytearray(self.expected[self.done_pos - self.base : self.pos - self.base])
        self.ends.clear()
        self.expected = bytearray()

    def _leave_large(self) -> None:
        """The same for large frames: messages from the headers kept and the one filler."""
        self.fast = self.uniform = self.large = False
        piece = self.run.cycle[0]
        headers = iter(self.headers)
        for _, count, stamps, _, _ in self.ends:
            for i in range(count):
                stamp = stamps if isinstance(stamps, int) else stamps[i]
                self.waiting.append((self.run.opcode, next(headers) + piece.rest, stamp))
        if self.headers and self.frame_offset:
            frame = piece.echo_head + self.headers[0] + piece.rest
            self.pending = bytearray(frame[: self.frame_offset])
        self.ends.clear()
        self.headers.clear()

    def _answered(self, count: int, size: int, now: int | None = None) -> None:
        run = self.run
        stats = run.stats
        stats.received += count
        stats.bytes_received += size
        if run.counting:
            stats.measured += count
            stats.measured_bytes += size
        self.outstanding = max(0, self.outstanding - count)
        if run.sending:
            if run.closed_loop:
                self.send(count, now)
        elif self.outstanding == 0:
            run.connection_done(self)

    # -- the end ----------------------------------------------------------------------------

    def begin_close(self) -> None:
        """Send Close 1000 and wait for the server's Close and its TCP close."""
        if self.state != OPEN or self.failed or self.abandoned:
            return
        self._stop_stream()
        if self.fast and self.ends:
            self._leave_fast_path()
        self.state = CLOSING
        self.transport.write(self._frame(0x8, (1000).to_bytes(2, "big")))

    def abort(self) -> None:
        """Drop the TCP connection now."""
        if self.transport is not None:
            self.transport.abort()

    def abandon(self, sock: socket.socket | None) -> None:
        """The run ended while this connection was still opening (and did not open
        in time to close cleanly): drop it without counting a failure the server
        did not cause. ``sock``: the socket, if no transport was asked for yet
        (else the event loop closes it)."""
        self.abandoned = True
        self.outstanding = 0
        self.run.connection_done(self)
        if self.transport is not None:
            self.transport.abort()  # connection_lost follows
            return
        if sock is not None:
            sock.close()
        if not self.closed.done():
            self.closed.set_result(None)

    def fail(self, kind: str, detail: str) -> None:
        """Count this connection as failed (once, under ``kind``) and drop it."""
        if self.failed:
            return
        self.failed = True
        if self.stream is not None:
            self._unhook_stream(self.stream)  # a failed connection's reads are Python's
        stats = self.run.stats
        stats.failed += 1
        stats.error(kind)
        self.run.note(kind, detail)
        self.outstanding = 0
        if not self.opened.done():
            self.opened.set_result(False)
        self.abort()
        self.run.connection_done(self)
