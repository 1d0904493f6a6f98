"""The sockets of a bench run, on asyncio (uvloop's loop when it is installed).

The codec pieces come from :mod:`wstool.core` (the handshake, frame headers,
masking with the C accelerator, permessage-deflate); the per-message path is
kept lean:

* One random mask key per process. RFC 6455 §5.3 wants a fresh, unpredictable
  key per frame so that a page's script cannot choose the bytes a proxy sees;
  bench's payloads are its own, and one key lets the filler of every size be
  masked once.
* A closed-loop batch shares its send time: one stamped frame is copied and
  only the message numbers are written in (binary: packed; text: one format,
  one XOR, one join). Frames of 4 KiB and more go out as pieces beside the one
  masked filler (``writelines``), never copied.
* In echo mode the echo of each message is known byte for byte, so a
  connection checks each read with one ``bytearray.startswith`` (a memcmp)
  against the stream it expects; large frames part by part against the one
  filler. A server that frames differently (fragments, a Ping) moves that
  connection to the general parser, which still compares every message with
  what was sent.
* Latencies are buffered in microseconds (a batch's shared value counted
  once) and folded into the HDR histogram in bulk
  (:class:`wstool.bench.stats.Latencies`).
"""

from __future__ import annotations

import array
import asyncio
import contextlib
import secrets
import signal
import socket
import ssl
import time
from collections.abc import Callable
from typing import Any

from wstool.bench.connection import OPEN, BenchConnection, SizeFrames
from wstool.bench.plan import BenchPlan, OpenLoopSchedule, filler, header_size
from wstool.bench.pump import ReadPump
from wstool.bench.stats import Stats
from wstool.core.frames import encode_header
from wstool.core.masking import apply_mask

__all__ = ["BenchError", "BenchRun", "Progress", "build_cycle", "event_loop_factory", "run_plan"]

Progress = Callable[[dict[str, Any]], None]
_OPENING_AT_ONCE = 256
_PROGRESS_EVERY = 0.5
_READ_BUFFER = 1 << 20
_CLOSE_WAIT = 2.0
_OPEN_LOOP_TURN_BYTES = 256 * 1024
_TICK_LAG_NS = 20_000_000


def _open_loop_share(largest: int) -> int:
    """How many messages the open loop hands one connection per turn: up to
    256 KiB of them (one at least, 4,096 at most), so that a turn past its
    transport's high-water mark overshoots it by little."""
    return max(1, min(4096, _OPEN_LOOP_TURN_BYTES // max(1, largest)))


class BenchError(Exception):
    """The run could not start (the host does not resolve, no uvloop when asked for)."""


def event_loop_factory(name: str) -> tuple[Callable[[], asyncio.AbstractEventLoop], str]:
    """The event loop to run on and its name: uvloop's when installed (``auto``), or asyncio's.

    Raises:
        BenchError: ``uvloop`` was asked for and is not installed.
    """
    if name in ("auto", "uvloop"):
        try:
            import uvloop
        except ImportError:
            if name == "uvloop":
                raise BenchError("uvloop is not installed (pip install uvloop)") from None
        else:
            return uvloop.new_event_loop, "uvloop"
    return asyncio.new_event_loop, "asyncio"


def build_cycle(plan: BenchPlan, key: bytes) -> tuple[SizeFrames, ...]:
    """The prebuilt frame pieces of each message size, in the order sizes are sent."""
    opcode = 0x1 if plan.text else 0x2
    skip = header_size(plan.text)
    pieces = {}
    for size in plan.sizes.sizes:
        rest = filler(size, text=plan.text)[skip:]
        prefix, _ = encode_header(opcode, size, mask_key=key)
        echo_head, _ = encode_header(opcode, size)
        # The header is a whole number of mask periods long: the rest is masked
        # from the key's first byte on.
        pieces[size] = SizeFrames(size, prefix, apply_mask(rest, key), echo_head, rest)
    return tuple(pieces[size] for size in plan.sizes.cycle())


def _switch(index: int) -> Any:
    """A flag of the run as an attribute, kept in ``switches[index]`` (where the C
    streams of hooked connections read it: see ``_batch.c``, hook())."""

    def get(run: BenchRun) -> bool:
        return run.switches[index] != 0

    def put(run: BenchRun, on: bool) -> None:
        run.switches[index] = 1 if on else 0

    return property(get, put)


class BenchRun:
    """One process's run: its connections, schedule, counters and the end.

    Args:
        plan: what to do.
        progress: called with a snapshot of the counters every half second.
    """

    sending = _switch(0)
    """Whether connections send: each answer sends the next message (closed loop)."""
    recording = _switch(1)
    """Whether latencies are recorded (after the ramp-up)."""
    counting = _switch(2)
    """Whether messages count toward the measured rate (the measured window)."""

    def __init__(self, plan: BenchPlan, progress: Progress | None = None) -> None:
        self.plan = plan
        self.progress = progress
        self.stats = Stats()
        self.mask_key = secrets.token_bytes(4)
        self.mask_int = int.from_bytes(self.mask_key * (header_size(plan.text) // 4), "big")
        self.opcode = 0x1 if plan.text else 0x2
        self.mask_word = int.from_bytes(self.mask_key, "big")
        self.cycle = build_cycle(plan, self.mask_key)
        self._bursts: dict[tuple[int, bool], bytes] = {}
        self._plain_bursts: dict[tuple[int, bool], bytes] = {}
        self.read_view = memoryview(bytearray(_READ_BUFFER))
        self.switches = array.array("q", bytes(8 * 3))  # sending, recording, counting
        self.pump = ReadPump()
        self.sending = plan.mode != "subscribe"
        self.closed_loop = not plan.open_loop
        self.counting = False
        self.recording = False
        self.interrupted = False
        self.budget = plan.messages if plan.mode in ("echo", "send", "handshakes") else None
        self.to_receive = plan.messages if plan.mode == "subscribe" else None
        self.connections: list[BenchConnection] = []
        self.live: list[BenchConnection] = []
        self.live_changed = False
        self.alive = 0
        self.opening = True
        self.undrained: set[BenchConnection] = set()
        self.details: dict[str, str] = {}
        self.should_stop: Callable[[], bool] | None = None
        self.started = time.perf_counter()
        self.address: tuple[int, Any] = (socket.AF_INET, ("127.0.0.1", 0))
        self.ssl_context: ssl.SSLContext | None = None
        self._stop: asyncio.Event | None = None
        self._drained: asyncio.Event | None = None
        self._writable: asyncio.Event | None = None
        # Open loop: the schedule, and how many of its messages were handed out.
        self.schedule: OpenLoopSchedule | None = None
        self.scheduled = 0
        self.opening_tasks: list[asyncio.Future[BenchConnection | None]] = []

    # -- what connections call (RunContext) -------------------------------------------------

    def plain_burst(self, count: int, *, echo: bool) -> bytes:
        """``count`` frames (or echoes) of the one size without the timestamp header
        (``--no-stamps``): the filler alone, masked once, the same for every batch."""
        burst = self._plain_bursts.get((count, echo))
        if burst is None:
            piece = self.cycle[0]
            payload = filler(piece.size, text=self.plan.text)
            if echo:
                burst = (piece.echo_head + payload) * count
            else:
                burst = (piece.prefix + apply_mask(payload, self.mask_key)) * count
            self._plain_bursts[(count, echo)] = burst
        return burst

    def burst(self, count: int, *, echo: bool) -> bytes:
        """``count`` frames (or echoes) of the one size, headers zeroed: a template to fill."""
        burst = self._bursts.get((count, echo))
        if burst is None:
            piece = self.cycle[0]
            blank = bytes(header_size(self.plan.text))
            if echo:
                burst = (piece.echo_head + blank + piece.rest) * count
            else:
                burst = (piece.prefix + blank + piece.masked_rest) * count
            if count <= 64:
                self._bursts[count, echo] = burst
        return burst

    def take_budget(self, count: int) -> int:
        """How many of ``count`` messages may still go out (--messages); 0 stops the run."""
        if self.budget is None:
            return count
        count = min(count, self.budget)
        self.budget -= count
        if self.budget == 0:
            self.stop()
        return count

    def connection_open(self, conn: BenchConnection) -> None:
        """A connection finished its opening handshake."""
        self.stats.opened += 1
        self.alive += 1
        self.live.append(conn)
        if self.sending and not self.plan.open_loop:
            conn.send(self.plan.inflight)

    def connection_writable(self, conn: BenchConnection) -> None:
        """A connection's transport takes more again (after it paused writing)."""
        if self._writable is not None:
            self._writable.set()

    def connection_done(self, conn: BenchConnection) -> None:
        """A connection has nothing outstanding any more (or failed)."""
        self.undrained.discard(conn)
        if not self.undrained and self._drained is not None and not self.sending:
            self._drained.set()

    def connection_closed(self, conn: BenchConnection, was_open: bool) -> None:
        """A connection's TCP connection ended."""
        if was_open:
            self.alive -= 1
            self.live_changed = True
        if self.alive == 0 and not self.opening and self.sending and self.plan.mode != "handshakes":
            self.stop()  # nothing left to measure

    def received_one(self) -> bool:
        """One message came in (subscribe: --messages counts these); whether it counts.

        Once --messages have come, the run stops; copies of a broadcast already
        read by other connections in the same turn are then not counted.
        """
        if self.to_receive is None:
            return True
        if self.to_receive <= 0:
            return False
        self.to_receive -= 1
        if self.to_receive == 0:
            self.stop()
        return True

    def note(self, kind: str, detail: str) -> None:
        """Keep the first detail of each kind of error, for the report."""
        self.details.setdefault(kind, detail)

    # -- control ----------------------------------------------------------------------------

    def stop(self) -> None:
        """End the measurement (the duration passed, --messages reached, or nothing left)."""
        if self._stop is not None:
            self._stop.set()

    def interrupt(self) -> None:
        """Ctrl-C: stop now and keep what was measured."""
        self.interrupted = True
        self.stop()

    def snapshot(self) -> dict[str, Any]:
        """The counters now, for the live view."""
        stats = self.stats
        return {
            "worker": self.plan.worker,
            "elapsed": time.perf_counter() - self.started,
            "sent": stats.sent,
            "received": stats.received,
            "handshakes": stats.handshakes,
            "open": self.alive,
            "failed": stats.failed,
            "errors": sum(stats.errors.values()),
        }

    # -- the run ----------------------------------------------------------------------------

    async def execute(self) -> None:
        """Resolve, open, load, drain, close; the counters are in :attr:`stats`.

        Raises:
            BenchError: the host does not resolve.
        """
        self._stop = asyncio.Event()
        self._drained = asyncio.Event()
        self._writable = asyncio.Event()
        self.address = await self._resolve()
        self.ssl_context = self._make_ssl_context() if self.plan.secure else None
        reporter = asyncio.ensure_future(self._report_progress())
        try:
            if self.plan.mode == "handshakes":
                await self._run_handshakes()
            else:
                await self._run_messages()
        finally:
            reporter.cancel()
            self.pump.close()
            for conn in self.connections:
                conn.abort()
            await asyncio.sleep(0)
            for latencies in (self.stats.latency, self.stats.tcp, self.stats.tls):
                latencies.flush()
            self.stats.upgrade.flush()
            if self.progress is not None:
                self.progress(self.snapshot())

    async def _resolve(self) -> tuple[int, Any]:
        """The address every connection goes to: the first of the host's that accepts
        (``localhost`` may be ::1 and 127.0.0.1, and the server listen on one)."""
        loop = asyncio.get_running_loop()
        try:
            found = await loop.getaddrinfo(self.plan.host, self.plan.port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise BenchError(f"cannot resolve {self.plan.host}: {exc.strerror or exc}") from exc
        candidates = [(family, address) for family, _, _, _, address in found]
        if len(candidates) > 1:
            for family, address in candidates:
                with socket.socket(family, socket.SOCK_STREAM) as probe:
                    probe.setblocking(False)
                    try:
                        await asyncio.wait_for(loop.sock_connect(probe, address), self.plan.timeout)
                    except (OSError, asyncio.TimeoutError):
                        continue
                    return family, address
        return candidates[0]

    def _make_ssl_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context()
        if self.plan.insecure:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def _wait_stop(self, seconds: float | None) -> None:
        assert self._stop is not None
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._stop.wait(), seconds)

    async def _run_messages(self) -> None:
        plan = self.plan
        opener = asyncio.ensure_future(self._open_all())
        ticker = None
        if plan.open_loop and plan.mode != "subscribe":
            ticker = asyncio.ensure_future(self._tick())
        assert self._stop is not None
        stopped = asyncio.ensure_future(self._stop.wait())
        await asyncio.wait([opener, stopped], return_when=asyncio.FIRST_COMPLETED)
        if not opener.done():
            opener.cancel()
        self.opening = False
        if self.alive == 0:
            self.stop()
        self.counting = self.recording = True
        start = time.perf_counter()
        await self._wait_stop(plan.duration if plan.messages is None else None)
        stopped.cancel()
        until_drained = plan.messages is not None and not self.interrupted
        if not until_drained:
            self.stats.window = time.perf_counter() - start
            self.counting = False
        self.sending = False
        if ticker is not None:
            ticker.cancel()
            self._count_unsent()
        await self._drain()
        if until_drained:
            self.stats.window = time.perf_counter() - start
            self.counting = False
        await self._close_all()

    async def _drain(self) -> None:
        """Wait for the answers still outstanding; in echo mode the missing ones are failures."""
        assert self._drained is not None
        self.undrained = {c for c in self.live if c.outstanding and not c.failed}
        if self.undrained:
            wait = min(self.plan.timeout, 1.0) if self.interrupted else self.plan.timeout
            if self.plan.mode != "echo":
                wait = min(wait, 1.0)
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(self._drained.wait(), wait)
        if self.plan.mode == "echo" and not self.interrupted:
            for conn in list(self.undrained):
                missing = conn.outstanding
                if missing and not conn.failed:
                    conn.fail("timeout", f"{missing} echoes did not come back in {wait:g}s")

    async def _close_all(self) -> None:
        """Close every open connection with 1000. Those still opening (the run was
        cut short during the ramp-up) are given a moment to open first, so that
        they close cleanly too; any left after it are dropped."""
        opening = [task for task in self.opening_tasks if not task.done()]
        if opening:
            _, late = await asyncio.wait(opening, timeout=_CLOSE_WAIT)
            for task in late:
                task.cancel()
            if late:
                await asyncio.wait(late)
        closing = []
        for conn in self.connections:
            if conn.state == OPEN and not conn.failed:
                conn.begin_close()
            if not conn.closed.done():
                closing.append(conn.closed)
        if closing:
            await asyncio.wait(closing, timeout=_CLOSE_WAIT)

    async def _open_all(self) -> None:
        """Open the connections, spread over the ramp-up. Cancelled (the run ended
        first), it opens no more; those already opening go on (see ``_close_all``)."""
        plan = self.plan
        loop = asyncio.get_running_loop()
        limit = asyncio.Semaphore(_OPENING_AT_ONCE)
        start = loop.time()
        for i in range(plan.connections):
            if plan.ramp_up > 0:
                delay = start + plan.ramp_up * i / plan.connections - loop.time()
                if delay > 0:
                    await asyncio.sleep(delay)
            await limit.acquire()
            task = asyncio.ensure_future(self._open_one(plan.first_connection + i))
            task.add_done_callback(lambda _: limit.release())
            self.opening_tasks.append(task)
        # wait(), unlike gather(), leaves the tasks running if this is cancelled.
        await asyncio.wait(self.opening_tasks)
        for opened in self.opening_tasks:
            opened.result()  # an error no connection expected is the run's
        rest = start + plan.ramp_up - loop.time()
        if rest > 0:
            await asyncio.sleep(rest)

    async def _open_one(self, index: int, *, keep: bool = True) -> BenchConnection | None:
        """Connect, TLS, upgrade: each step timed apart; None if the connection failed."""
        loop = asyncio.get_running_loop()
        conn = BenchConnection(self, index)
        if keep:
            self.connections.append(conn)
        family, address = self.address
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        timeout = self.plan.timeout
        started = time.perf_counter_ns()
        handed_over = False
        try:
            await asyncio.wait_for(loop.sock_connect(sock, address), timeout)
            connected = time.perf_counter_ns()
            self.stats.tcp.pending.append((connected - started) // 1000)
            secure = self.ssl_context is not None
            handed_over = True  # from here on the event loop closes the socket
            await asyncio.wait_for(
                loop.create_connection(
                    lambda: conn,
                    sock=sock,
                    ssl=self.ssl_context,
                    server_hostname=self.plan.host if secure else None,
                ),
                timeout,
            )
            if secure:
                self.stats.tls.pending.append((time.perf_counter_ns() - connected) // 1000)
            await asyncio.wait_for(conn.opened, timeout)
        except asyncio.CancelledError:
            conn.abandon(None if handed_over else sock)
            raise
        except asyncio.TimeoutError:
            conn.fail("timeout", f"no connection or no handshake in {timeout:g}s")
        except ConnectionRefusedError:
            conn.fail("refused", f"{self.plan.host}:{self.plan.port} refused the connection")
        except ssl.SSLError as exc:
            conn.fail("tls", str(exc))
        except OSError as exc:
            conn.fail("connect", exc.strerror or str(exc))
        if conn.failed:
            sock.close()
            return None
        return conn

    async def _tick(self) -> None:
        """Open loop: send every message when it is due, to the open connections in turn.

        Only connections whose transport takes more (under its high-water mark)
        are given messages, and each at most ``_open_loop_share`` per turn: a
        server that stops reading, or a rate beyond this process, leaves
        messages due and not yet sent (counted as ``unsent`` if the run ends
        first), not an ever-growing buffer. A message sent late still carries
        the time it was due, so its latency includes the wait.
        """
        plan = self.plan
        assert plan.rate is not None
        while not self.live:
            await asyncio.sleep(0.001)
        schedule = self.schedule = OpenLoopSchedule(plan.rate, time.time_ns())
        share = _open_loop_share(max(self.plan.sizes.sizes))
        while self.sending:
            due = schedule.due(time.time_ns())
            if due > self.scheduled:
                if self.live_changed:  # a connection went: take it out of the turn
                    self.live = [c for c in self.live if c.state == OPEN and not c.failed]
                    self.live_changed = False
                if not self.live:
                    return
                writable = [c for c in self.live if c.writable]
                if not writable:
                    await self._wait_writable()
                    continue
                self._send_due(schedule, writable, min(due, self.scheduled + share * len(writable)))
            delay = (schedule.intended(self.scheduled) - time.time_ns()) / 1e9
            await asyncio.sleep(min(max(delay, 0.0002), 0.05))

    def _send_due(
        self, schedule: OpenLoopSchedule, writable: list[BenchConnection], end: int
    ) -> None:
        """Messages ``scheduled`` .. ``end`` - 1, each stamped with its intended time."""
        groups: dict[int, list[int]] = {}
        for k in range(self.scheduled, end):
            groups.setdefault(k % len(writable), []).append(schedule.intended(k))
        for i, times in groups.items():
            writable[i].send(len(times), times)
        self.scheduled = end

    async def _wait_writable(self) -> None:
        """Until a connection's transport takes more again (or 50 ms)."""
        assert self._writable is not None
        self._writable.clear()
        with contextlib.suppress(asyncio.TimeoutError):
            await asyncio.wait_for(self._writable.wait(), 0.05)

    def _count_unsent(self) -> None:
        """Open loop: the messages due by now that no connection could take (those
        due in the last 20 ms are only the ticker's own lag, not falling behind)."""
        if self.schedule is None:
            return
        unsent = self.schedule.due(time.time_ns() - _TICK_LAG_NS) - self.scheduled
        if self.budget is not None:
            unsent = min(unsent, self.budget)
        self.stats.unsent += max(0, unsent)

    async def _run_handshakes(self) -> None:
        plan = self.plan
        self.opening = False
        self.counting = self.recording = True
        start = time.perf_counter()
        slots = [asyncio.ensure_future(self._handshake_slot(i)) for i in range(plan.connections)]
        done = asyncio.ensure_future(asyncio.wait(slots))
        await asyncio.wait(
            [done, asyncio.ensure_future(self._wait_stop(plan.duration))],
            return_when=asyncio.FIRST_COMPLETED,
        )
        self.stop()
        self.sending = False
        await asyncio.wait(slots, timeout=plan.timeout + _CLOSE_WAIT)
        for slot in slots:
            slot.cancel()
        self.stats.window = time.perf_counter() - start

    async def _handshake_slot(self, slot: int) -> None:
        """Connect, upgrade, close, again, until the run ends."""
        assert self._stop is not None
        stats = self.stats
        while not self._stop.is_set() and self.take_budget(1) > 0:
            started = time.perf_counter_ns()
            conn = await self._open_one(self.plan.first_connection + slot, keep=False)
            if conn is None:
                if stats.opened == 0 and stats.failed >= self.plan.connections:
                    self.stop()  # nothing answers
                continue
            conn.begin_close()
            try:
                await asyncio.wait_for(asyncio.shield(conn.closed), self.plan.timeout)
            except asyncio.TimeoutError:
                conn.fail("timeout", "the server did not close the connection")
                continue
            if not conn.failed:
                stats.handshakes += 1
                stats.latency.pending.append((time.perf_counter_ns() - started) // 1000)

    async def _report_progress(self) -> None:
        while True:
            await asyncio.sleep(_PROGRESS_EVERY)
            self.stats.latency.flush()
            if self.progress is not None:
                self.progress(self.snapshot())
            if self.should_stop is not None and self.should_stop() and not self.interrupted:
                self.interrupt()


def run_plan(
    plan: BenchPlan,
    progress: Progress | None = None,
    *,
    event_loop: str = "auto",
    handle_signals: bool = True,
    should_stop: Callable[[], bool] | None = None,
) -> tuple[BenchRun, str]:
    """Run ``plan`` in this process on a new event loop; Ctrl-C (and SIGTERM) end it early,
    and so does ``should_stop`` returning true (asked every half second).

    Returns:
        The finished run (counters in ``.stats``) and the event loop's name.

    Raises:
        BenchError: the run could not start.
    """
    factory, name = event_loop_factory(event_loop)
    run = BenchRun(plan, progress)
    run.should_stop = should_stop
    loop = factory()
    asyncio.set_event_loop(loop)
    signals = (signal.SIGINT, signal.SIGTERM) if handle_signals else ()
    try:
        for number in signals:
            loop.add_signal_handler(number, run.interrupt)
        loop.run_until_complete(run.execute())
    finally:
        for number in signals:
            loop.remove_signal_handler(number)
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()
        asyncio.set_event_loop(None)
    return run, name
