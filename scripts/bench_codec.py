"""Benchmark wstool's sans-I/O codec against memory copies, websockets and wsproto.

Run from the repository root::

    .venv/bin/python scripts/bench_codec.py            # full run, best of 5
    .venv/bin/python scripts/bench_codec.py --quick    # smoke run, a few seconds

Everything runs in one process, with no network. Four sections:

1. Unmasking (RFC 6455 §5.3) payloads of 125 B, 64 KiB, 1 MiB and 16 MiB. Each
   variant is shown in MB/s and GB/s (decimal: 1 MB = 10**6 bytes) and as a
   ratio to the memory copy of the same kind: in-place maskers are compared
   with (a), one memcpy into a preallocated buffer, allocating ones (that
   return fresh bytes) with (b) ``bytearray(data)``. A ratio of 1.00x means "as
   fast as copying the bytes"; no masker can beat the copy of its own kind by
   much. (a') ``buf[:] = data`` is shown but is not the baseline: CPython
   first copies a non-bytearray right-hand side into a temporary bytearray,
   so it is two copies and an allocation (about half the speed of (a)).
   Why two kinds of copy: a fresh allocation of a large buffer can cost page
   faults (the kernel maps and zeroes every 4 KiB page on first touch), and
   then the allocation, not the copy or the masking, dominates: ~3 GB/s
   against tens of GB/s into memory already mapped. Whether it does depends on
   the allocator: in a tight allocate-and-free loop (b) glibc hands back the
   same mapped block and no fault happens; (b0) keeps its copies alive, as a
   receiver keeps the messages it returns, so each lands in new pages (see
   the faults/op column). Comparing an allocating masker with the in-place
   copy would blame the masking loop for the allocator, so the comparisons
   are like-for-like.
2. Parsing a stream of masked (client-to-server) 32-byte text frames, fed in
   64 KiB chunks, in frames/s, from the bare wstool FrameParser up to full
   connection objects, with a minimal pure-Python loop as a ceiling. Ratios
   are to websockets' sans-I/O ServerProtocol (> 1.00x: faster than websockets).
3. Encoding small (32-byte text) server frames, in frames/s; ratios are to
   websockets' ``Frame.serialize(mask=False)``.
4. The same for client frames, which are masked with a fresh random key each;
   ratios are to websockets' ``Frame.serialize(mask=True)``.

Method: each measurement is first calibrated (which is also its warm-up): its
loop count doubles until one timed run takes at least ``--min-time``. Then it
is run ``--repeat`` times (5 by default) with ``time.perf_counter`` and the
best run is kept: the fastest run is the one least disturbed by the rest of the
machine. The garbage collector stays enabled, as in a real program. Every
parser is checked to have produced all the frames with the right last payload
and every encoder to produce a correct frame, so a broken variant fails loudly
rather than looking fast. A library that is not installed is reported as
"not installed".
"""

from __future__ import annotations

import argparse
import gc
import os
import platform
import random
import struct
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# Run from a checkout without installing: make ``wstool`` importable.
_ROOT = Path(__file__).resolve().parent.parent
if str(_ROOT) not in sys.path:
    sys.path.insert(0, str(_ROOT))

from wstool.core import masking  # noqa: E402
from wstool.core.connection import Connection  # noqa: E402
from wstool.core.events import MessageReceived  # noqa: E402
from wstool.core.frames import FrameParser, Opcode, Role, encode_frame  # noqa: E402

try:
    import resource
except ImportError:  # not on Windows: page faults are not counted there
    resource = None

try:
    import websockets
    from websockets.client import ClientProtocol
    from websockets.frames import Frame as WsFrame
    from websockets.frames import Opcode as WsOpcode
    from websockets.protocol import State as WsState
    from websockets.server import ServerProtocol
    from websockets.uri import parse_uri
except ImportError:
    websockets = None

try:
    from websockets.speedups import apply_mask as ws_apply_mask_c
except ImportError:
    ws_apply_mask_c = None

try:
    from websockets.utils import apply_mask as ws_apply_mask_py
except ImportError:
    ws_apply_mask_py = None

try:
    import wsproto
    from wsproto.frame_protocol import FrameProtocol
except ImportError:
    wsproto = None

NOT_INSTALLED = "not installed"
KEY = b"\x37\xfa\x21\x3d"
PAYLOAD_SIZE = 32
CHUNK_SIZE = 64 * 1024
MASK_SIZES = (125, 64 * 1024, 2**20, 16 * 2**20)


@dataclass
class Settings:
    repeat: int
    min_time: float
    frames: int


@dataclass
class Result:
    """One measured variant: seconds per call, or why it was not measured."""

    label: str
    seconds: float | None
    note: str = ""


def minor_faults() -> int:
    """Minor page faults of this process so far (0 where unsupported)."""
    if resource is None:
        return 0
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt


def measure(stmt: str, namespace: dict[str, Any], settings: Settings) -> float:
    """Best time in seconds of one execution of ``stmt``."""
    return measure_faults(stmt, namespace, settings)[0]


def measure_faults(stmt: str, namespace: dict[str, Any], settings: Settings) -> tuple[float, float]:
    """Best time in seconds of one execution of ``stmt``, and page faults per execution.

    The statement is compiled into a loop by :mod:`timeit`, so tiny operations
    are not swamped by the cost of a Python function call around them.
    """
    namespace.setdefault("gc", gc)
    timer = timeit.Timer(stmt, setup="gc.enable()", timer=time.perf_counter, globals=namespace)
    # Calibration, which is the warm-up too: double the loop until it is long enough.
    number = 1
    while True:
        elapsed = timer.timeit(number)
        if elapsed >= settings.min_time:
            break
        number *= 2 if elapsed > settings.min_time / 10 else 10
    faults = minor_faults()
    best = min(timer.timeit(number) for _ in range(settings.repeat))
    faults = minor_faults() - faults
    return best / number, faults / (number * settings.repeat)


def fmt_time(seconds: float) -> str:
    for unit, scale in (("s", 1.0), ("ms", 1e-3), ("us", 1e-6)):
        if seconds >= scale:
            return f"{seconds / scale:7.2f} {unit}"
    return f"{seconds / 1e-9:7.1f} ns"


def fmt_size(size: int) -> str:
    if size >= 2**20:
        return f"{size // 2**20} MiB"
    if size >= 1024:
        return f"{size // 1024} KiB"
    return f"{size} B"


def header(title: str) -> None:
    print()
    print(title)
    print("-" * len(title))


# -- 1. masking ------------------------------------------------------------


@dataclass
class MaskVariant:
    label: str
    kind: str  # "a" (in place, compared with copy a) or "b" (allocating, vs copy b)
    stmt: str | None  # None: not available
    note: str = ""


def mask_variants() -> list[MaskVariant]:
    accel_note = "" if masking.ACCELERATED else "C accelerator not built"
    return [
        # One memcpy. Not buf[:] = data, which copies data into a temporary
        # bytearray first (CPython does so for any non-bytearray value).
        MaskVariant("(a) copy in place    view[:] = data", "a", "view[:] = data"),
        MaskVariant("(a') copy in place   buf[:] = data", "a", "buf[:] = data"),
        MaskVariant("(b) copy, fresh      bytearray(data)", "b", "bytearray(data)"),
        MaskVariant(
            "(c) wstool C mask_inplace(buf)",
            "a",
            "mask_inplace(buf, key)" if masking.ACCELERATED else None,
            accel_note,
        ),
        MaskVariant(
            "(d) wstool C apply_mask",
            "b",
            "apply_mask(data, key)" if masking.ACCELERATED else None,
            accel_note,
        ),
        MaskVariant("(e) wstool mask_inplace_python", "a", "mask_inplace_python(buf, key)"),
        MaskVariant("(f) wstool apply_mask_python", "b", "apply_mask_python(data, key)"),
        MaskVariant(
            "(g) websockets.speedups.apply_mask",
            "b",
            "ws_apply_mask_c(data, key)" if ws_apply_mask_c is not None else None,
            NOT_INSTALLED,
        ),
        MaskVariant(
            "(h) websockets.utils.apply_mask (py)",
            "b",
            "ws_apply_mask_py(data, key)" if ws_apply_mask_py is not None else None,
            NOT_INSTALLED,
        ),
    ]


def check_maskers() -> None:
    """Every masker must give the same bytes before its speed means anything."""
    data = random.Random(1).randbytes(1000)
    expected = masking.apply_mask_python(data, KEY)
    assert bytes(b ^ KEY[i % 4] for i, b in enumerate(data)) == expected
    outputs = [masking.apply_mask(data, KEY)]
    for inplace in (masking.mask_inplace, masking.mask_inplace_python):
        buf = bytearray(data)
        inplace(buf, KEY)
        outputs.append(bytes(buf))
    if ws_apply_mask_c is not None:
        outputs.append(ws_apply_mask_c(data, KEY))
    if ws_apply_mask_py is not None:
        outputs.append(ws_apply_mask_py(data, KEY))
    assert all(out == expected for out in outputs), "a masker gives wrong bytes"


def measure_cold_copy(data: bytes, settings: Settings) -> tuple[float, float]:
    """``bytearray(data)`` into memory never touched before, and its page faults per copy.

    The copies are kept alive, as a receiver keeps the messages it returns, so
    the allocator cannot hand the same (already mapped) block back every time
    as it does in the tight loop of (b): each copy lands in new pages.
    """
    size = len(data)
    count = max(1, (64 * 2**20) // size)  # 64 MiB per run
    best = float("inf")
    faults = 0
    for run in range(settings.repeat + 1):  # the first run is the warm-up
        keep: list[bytearray] = []
        before = minor_faults()
        start = time.perf_counter()
        for _ in range(count):
            keep.append(bytearray(data))
        elapsed = time.perf_counter() - start
        if run:
            faults += minor_faults() - before
            best = min(best, elapsed)
        del keep
    return best / count, faults / (count * settings.repeat)


def bench_masking(settings: Settings) -> dict[int, dict[str, float]]:
    check_maskers()
    header("1. Unmasking payloads (throughput; ratio vs the memory copy of the same kind)")
    variants = mask_variants()
    copies_at: dict[int, dict[str, float]] = {}
    for size in MASK_SIZES:
        data = random.Random(size).randbytes(size)
        buf = bytearray(size)
        namespace: dict[str, Any] = {
            "data": data,
            "buf": buf,
            "view": memoryview(buf),
            "key": KEY,
            "mask_inplace": masking.mask_inplace,
            "apply_mask": masking.apply_mask,
            "mask_inplace_python": masking.mask_inplace_python,
            "apply_mask_python": masking.apply_mask_python,
            "ws_apply_mask_c": ws_apply_mask_c,
            "ws_apply_mask_py": ws_apply_mask_py,
        }
        print(f"\n  payload {fmt_size(size)}")
        print(
            f"  {'variant':<40} {'time/op':>10} {'MB/s':>9} {'GB/s':>7} {'faults/op':>9}"
            f"  {'ratio':>6}"
        )
        copies: dict[str, float] = {}

        def row(label: str, seconds: float, faults: float, kind: str) -> None:
            rate = size / seconds  # noqa: B023 (used at once, in this iteration)
            ratio = rate / copies[kind]  # noqa: B023
            print(
                f"  {label:<40} {fmt_time(seconds):>10} {rate / 1e6:9.0f} "
                f"{rate / 1e9:7.2f} {faults:9.1f}  {ratio:5.2f}x vs ({kind})"
            )

        for variant in variants:
            if variant.stmt is None:
                print(f"  {variant.label:<40} {variant.note}")
                continue
            seconds, faults = measure_faults(variant.stmt, namespace, settings)
            if variant.label.startswith(("(a)", "(b)")):
                copies[variant.kind] = size / seconds
            row(variant.label, seconds, faults, variant.kind)
            if variant.label.startswith("(b)"):
                if size >= 4096:
                    cold, cold_faults = measure_cold_copy(data, settings)
                    copies["b0"] = size / cold
                    row("(b0) copy, fresh, into new pages", cold, cold_faults, "b")
                else:
                    print(f"  {'(b0) copy, fresh, into new pages':<40} n/a (small-object pools)")
        copies_at[size] = copies
    return copies_at


# -- 2. parsing ------------------------------------------------------------


def payload_text(index: int) -> str:
    """A distinct 32-byte ASCII text for frame ``index``."""
    return f"frame {index:09d} of the bench....."[:PAYLOAD_SIZE]


def client_stream(count: int) -> tuple[list[bytes], str]:
    """``count`` masked text frames cut into 64 KiB chunks, and the last text."""
    rng = random.Random(6455)
    frames = [
        encode_frame(Opcode.TEXT, payload_text(i).encode("ascii"), mask_key=rng.randbytes(4))
        for i in range(count)
    ]
    stream = b"".join(frames)
    chunks = [stream[i : i + CHUNK_SIZE] for i in range(0, len(stream), CHUNK_SIZE)]
    return chunks, payload_text(count - 1)


def parse_frameparser(chunks: Sequence[bytes]) -> tuple[int, bytes]:
    parser = FrameParser()
    count = 0
    last = None
    for chunk in chunks:
        for frame in parser.feed(chunk):
            count += 1
            last = frame
    assert last is not None
    return count, last.data  # unmasked once, outside the loop, for the check


def parse_frameparser_unmask(chunks: Sequence[bytes]) -> tuple[int, bytes]:
    parser = FrameParser()
    count = 0
    data = b""
    for chunk in chunks:
        for frame in parser.feed(chunk):
            count += 1
            data = frame.data
    return count, data


def _parse_connection(chunks: Sequence[bytes], record: bool) -> tuple[int, str | None]:
    conn = Connection(Role.SERVER, max_message_size=None, record_frames=record)
    messages = 0
    last = None
    for chunk in chunks:
        conn.receive_data(chunk)
        for event in conn.events():
            if type(event) is MessageReceived:
                messages += 1
                last = event
    assert conn.failure is None, conn.failure
    assert not conn.data_to_send(), "the connection wrote something"
    assert isinstance(last, MessageReceived)
    return messages, last.text


def parse_connection(chunks: Sequence[bytes]) -> tuple[int, str | None]:
    """Every frame reported (FrameReceived) as well as each message: what a log needs."""
    return _parse_connection(chunks, True)


def parse_connection_quiet(chunks: Sequence[bytes]) -> tuple[int, str | None]:
    """Messages only (record_frames=False): what serve -q and an echo need."""
    return _parse_connection(chunks, False)


def parse_websockets(chunks: Sequence[bytes]) -> tuple[int, bytes]:
    # ServerProtocol() starts in CONNECTING with a parser waiting for the HTTP
    # request; assigning .state = OPEN afterwards would leave that parser in
    # place. Passing state=OPEN builds the frame parser from the start, as
    # websockets' own tests do. max_size=None: no limit to check against.
    proto = ServerProtocol(state=WsState.OPEN, max_size=None)
    count = 0
    last = None
    for chunk in chunks:
        proto.receive_data(chunk)
        received = proto.events_received()
        if received:
            count += len(received)
            last = received[-1]
    assert proto.parser_exc is None, proto.parser_exc
    assert proto.state is WsState.OPEN
    assert proto.data_to_send() == [], "websockets wrote something (pongs, close)"
    assert last is not None
    return count, bytes(last.data)


def parse_wsproto(chunks: Sequence[bytes]) -> tuple[int, str]:
    proto = FrameProtocol(client=False, extensions=[])
    count = 0
    last = None
    for chunk in chunks:
        proto.receive_bytes(chunk)
        for frame in proto.received_frames():
            # A frame cut by a chunk boundary comes out in pieces: count whole ones.
            if frame.frame_finished:
                count += 1
                last = frame
    assert last is not None
    return count, last.payload


def _minimal_loop(chunks: Sequence[bytes], unmask: Callable[[bytes, bytes], bytes] | None):
    unpack_from = struct.unpack_from
    rest = b""
    count = 0
    key = data = b""
    for chunk in chunks:
        buf = rest + chunk if rest else chunk
        end = len(buf)
        pos = 0
        while end - pos >= 2:
            b1 = buf[pos + 1]
            length = b1 & 0x7F
            start = pos + 2
            if length == 126:
                if start + 2 > end:
                    break
                (length,) = unpack_from("!H", buf, start)
                start += 2
            elif length == 127:
                if start + 8 > end:
                    break
                (length,) = unpack_from("!Q", buf, start)
                start += 8
            if b1 & 0x80:
                key = buf[start : start + 4]
                start += 4
            stop = start + length
            if stop > end:
                break
            data = buf[start:stop]
            if unmask is not None:
                data = unmask(data, key)
            count += 1
            pos = stop
        rest = buf[pos:]
    if unmask is None:
        data = masking.apply_mask(data, key)  # once, for the check
    return count, data


def parse_minimal(chunks: Sequence[bytes]) -> tuple[int, bytes]:
    return _minimal_loop(chunks, None)


def parse_minimal_unmask(chunks: Sequence[bytes]) -> tuple[int, bytes]:
    return _minimal_loop(chunks, masking.apply_mask)


def print_rate_table(
    results: Sequence[Result], baseline: str | None, unit: str = "frames/s"
) -> None:
    base = next((r.seconds for r in results if r.label == baseline), None)
    print(f"  {'variant':<52} {'time/frame':>11} {unit:>12}  {'ratio':>6}")
    for result in results:
        if result.seconds is None:
            print(f"  {result.label:<52} {result.note}")
            continue
        rate = 1 / result.seconds
        ratio = f"{base / result.seconds:5.2f}x" if base else "   n/a"
        print(f"  {result.label:<52} {fmt_time(result.seconds):>11} {rate:12,.0f}  {ratio:>6}")


def bench_parsing(settings: Settings) -> None:
    count = settings.frames
    chunks, expected = client_stream(count)
    size = sum(map(len, chunks))
    header(
        f"2. Parsing {count:,} masked {PAYLOAD_SIZE}-byte text frames "
        f"({size / 1e6:.1f} MB in {len(chunks)} chunks of 64 KiB); ratio vs websockets"
    )
    ws_label = "(d) websockets ServerProtocol receive_data+events"
    variants: list[tuple[str, Callable[[Sequence[bytes]], tuple[int, Any]] | None]] = [
        ("(a) wstool FrameParser (payload still masked)", parse_frameparser),
        ("(b) wstool FrameParser + frame.data (unmasked)", parse_frameparser_unmask),
        ("(c) wstool Connection receive_data+events (server)", parse_connection),
        ("(c-) the same, record_frames=False (serve -q)", parse_connection_quiet),
        (ws_label, parse_websockets if websockets else None),
        ("(e) wsproto FrameProtocol receive_bytes+frames", parse_wsproto if wsproto else None),
        ("(f) minimal pure-Python loop (no unmask, no objects)", parse_minimal),
        ("(f+) minimal loop + wstool C apply_mask per frame", parse_minimal_unmask),
    ]
    results = []
    for label, func in variants:
        if func is None:
            results.append(Result(label, None, NOT_INSTALLED))
            continue
        got_count, last = func(chunks)
        assert got_count == count, f"{label}: {got_count} frames, not {count}"
        last_text = last if isinstance(last, str) else last.decode("utf-8")
        assert last_text == expected, f"{label}: last payload {last_text!r}"
        seconds = measure("func(chunks)", {"func": func, "chunks": chunks}, settings)
        results.append(Result(label, seconds / count))
    print_rate_table(results, ws_label if websockets else None)


# -- 3 and 4. encoding -----------------------------------------------------


def _check_frame(out: bytes | bytearray, payload: bytes, masked: bool) -> None:
    frames = list(FrameParser().feed(bytes(out)))
    assert len(frames) == 1, f"{len(frames)} frames"
    frame = frames[0]
    assert frame.opcode == Opcode.TEXT and frame.fin and frame.masked is masked
    assert frame.data == payload


def bench_encoding(settings: Settings, *, client: bool) -> None:
    text = payload_text(0)
    payload = text.encode("ascii")
    if client:
        header(f"4. Encoding {PAYLOAD_SIZE}-byte text client frames, masked with a random key")
    else:
        header(f"3. Encoding {PAYLOAD_SIZE}-byte text server frames (unmasked)")
    role = Role.CLIENT if client else Role.SERVER
    namespace: dict[str, Any] = {
        "encode_frame": encode_frame,
        "TEXT": Opcode.TEXT,
        "payload": payload,
        "text": text,
        "urandom": os.urandom,
        "conn": Connection(role),
    }
    # The connection's events are drained on every send, as a driver would:
    # left to pile up, millions of FrameSent events would slow the GC down.
    wstool_conn = "conn.send_text(text); conn.data_to_send(); conn.events()"
    ws_label = f"websockets Frame(TEXT, data).serialize(mask={client})"
    variants: list[tuple[str, str | None, Callable[[], bytes | bytearray] | None]] = []
    if client:
        variants.append(
            (
                "wstool encode_frame(mask_key=os.urandom(4))",
                "encode_frame(TEXT, payload, mask_key=urandom(4))",
                lambda: encode_frame(Opcode.TEXT, payload, mask_key=os.urandom(4)),
            )
        )
    else:
        variants.append(
            (
                "wstool encode_frame",
                "encode_frame(TEXT, payload)",
                lambda: encode_frame(Opcode.TEXT, payload),
            )
        )
    check_conn = Connection(role)

    def wstool_send() -> bytes:
        check_conn.send_text(text)
        return check_conn.data_to_send()

    variants.append(
        (f"wstool Connection({role.name}) send_text+data_to_send", wstool_conn, wstool_send)
    )
    if websockets is not None:
        proto_cls = ClientProtocol if client else ServerProtocol

        def new_proto() -> Any:
            if client:
                return ClientProtocol(parse_uri("ws://localhost/"), state=WsState.OPEN)
            return ServerProtocol(state=WsState.OPEN)

        namespace.update(
            WsFrame=WsFrame,
            WS_TEXT=WsOpcode.TEXT,
            proto=new_proto(),
        )
        check_proto = new_proto()

        def ws_send() -> bytes:
            check_proto.send_text(payload)
            return b"".join(check_proto.data_to_send())

        variants += [
            (
                ws_label,
                f"WsFrame(WS_TEXT, payload).serialize(mask={client})",
                lambda: WsFrame(WsOpcode.TEXT, payload).serialize(mask=client),
            ),
            (
                f"websockets {proto_cls.__name__} send_text+data_to_send",
                "proto.send_text(payload); proto.data_to_send()",
                ws_send,
            ),
        ]
    else:
        variants += [(ws_label, None, None)]
    if wsproto is not None:
        namespace["fp"] = FrameProtocol(client=client, extensions=[])
        check_fp = FrameProtocol(client=client, extensions=[])
        variants.append(
            (
                f"wsproto FrameProtocol(client={client}).send_data(str)",
                "fp.send_data(text)",
                lambda: check_fp.send_data(text),
            )
        )
    else:
        variants.append(("wsproto FrameProtocol.send_data", None, None))

    results = []
    for label, stmt, check in variants:
        if stmt is None or check is None:
            results.append(Result(label, None, NOT_INSTALLED))
            continue
        _check_frame(check(), payload, client)
        results.append(Result(label, measure(stmt, namespace, settings)))
    print_rate_table(results, ws_label if websockets else None)


# -- main ------------------------------------------------------------------


def print_environment() -> None:
    affinity = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else None
    print("wstool codec benchmark")
    print(f"  Python       {platform.python_implementation()} {sys.version.split()[0]}")
    print(f"  platform     {platform.platform()}")
    cpus = f"{os.cpu_count()}" + (f" ({affinity} usable by this process)" if affinity else "")
    print(f"  CPUs         {cpus}")
    accel = "yes (wstool.core._speedups)" if masking.ACCELERATED else "NO, pure-Python fallback"
    print(f"  wstool C accelerator in use: {accel}")
    ws_version = websockets.__version__ if websockets else NOT_INSTALLED
    ws_c = "C speedups" if ws_apply_mask_c else "no C speedups"
    print(f"  websockets   {ws_version}" + (f" ({ws_c})" if websockets else ""))
    wp_version = getattr(wsproto, "__version__", "installed") if wsproto else NOT_INSTALLED
    print(f"  wsproto      {wp_version}")


def print_legend(copies_at: dict[int, dict[str, float]]) -> None:
    at_1mib = copies_at.get(2**20, {})
    measured = ""
    if {"a", "b", "b0"} <= at_1mib.keys():
        measured = (
            f"\n    Here at 1 MiB: in-place copy {at_1mib['a'] / 1e9:.1f} GB/s, fresh copy"
            f" {at_1mib['b'] / 1e9:.1f} GB/s (block reused),\n    copy into new pages"
            f" {at_1mib['b0'] / 1e9:.1f} GB/s."
        )
    print(
        f"""
How to read this
  Section 1: ratio = masker throughput / throughput of the copy of the same kind:
    in-place maskers (c, e) vs (a), one memcpy into a preallocated buffer;
    allocating ones (d, f, g, h) vs (b) bytearray(data). (a') buf[:] = data is
    two copies in CPython (the bytes go through a temporary bytearray first).
    Two kinds of copy because a fresh allocation can pay page faults (the
    kernel maps and zeroes each 4 KiB page on first touch) that cost far more
    than the copy: (b) frees each copy at once and glibc hands the same mapped
    block back (0 faults); (b0) keeps its copies alive, as a receiver keeps
    its messages, so each lands in new pages. Allocating maskers pay the same
    as (b) here and as (b0) in a receiver that keeps what they return.{measured}
    Comparing an allocating masker with (a) would blame it for the allocator.
    At 16 MiB (a) moves 32 MiB through the caches, (c) only 16 MiB in place.
  Sections 2-4: ratio = variant rate / websockets rate; > 1.00x is faster.
    (a) and (f) leave the payload masked; (b), (f+) and all full parsers unmask.
    (c) wstool Connection checks UTF-8 and builds FrameReceived + MessageReceived
    events; (c-) builds only MessageReceived (frames not recorded, as serve -q);
    (d) websockets' sans-I/O layer does not decode UTF-8 (its
    asyncio/sync layers do); (e) wsproto decodes UTF-8 and unmasks in pure Python.
    Connection/Protocol encoders include send_text, data_to_send and (wstool)
    draining events(); client keys come from os.urandom in every library.
  Times are the best of --repeat runs after a calibration/warm-up run."""
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=(
            "Benchmark wstool's frame codec (masking, parsing, encoding) against "
            "memory copies, websockets and wsproto, in one process."
        ),
    )
    parser.add_argument(
        "--repeat", type=int, default=None, help="timed runs per measurement, best kept (5)"
    )
    parser.add_argument(
        "--frames", type=int, default=None, help="frames in the parsing benchmark (100000)"
    )
    parser.add_argument(
        "--min-time",
        type=float,
        default=None,
        help="seconds one timed run lasts at least; loops are sized to it (0.2)",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="fast smoke run: 2 repeats, 5000 frames, 10 ms runs (numbers are rough)",
    )
    args = parser.parse_args(argv)
    defaults = (2, 0.01, 5000) if args.quick else (5, 0.2, 100_000)
    settings = Settings(
        repeat=args.repeat if args.repeat is not None else defaults[0],
        min_time=args.min_time if args.min_time is not None else defaults[1],
        frames=args.frames if args.frames is not None else defaults[2],
    )
    if settings.repeat < 1 or settings.frames < 1 or settings.min_time <= 0:
        parser.error("--repeat and --frames must be at least 1, --min-time above 0")

    print_environment()
    print(
        f"  method       best of {settings.repeat}, runs of >= {settings.min_time:g} s, "
        "time.perf_counter, GC enabled"
    )
    copies_at = bench_masking(settings)
    bench_parsing(settings)
    bench_encoding(settings, client=False)
    bench_encoding(settings, client=True)
    print_legend(copies_at)
    return 0


if __name__ == "__main__":
    sys.exit(main())
