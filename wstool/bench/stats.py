"""What a bench run counts: messages, bytes, connections, errors by kind, and latencies.

Latencies go into HDR histograms (the ``hdrhistogram`` package, imported
lazily) in microseconds. Recording one value there costs about half a
microsecond of Python, more than the rest of a message's handling, so the
driver appends whole microseconds to a plain list and :meth:`Latencies.flush` folds
them in per distinct value. Between worker processes a histogram travels in
HdrHistogram's compressed encoding and is added up on the other side.
"""

from __future__ import annotations

import array
import collections
from typing import Any

__all__ = ["HIGHEST_US", "TALLIED", "Latencies", "Stats"]

TALLIED = ("received", "bytes_received", "measured", "measured_bytes", "sent", "bytes_sent")
"""The message counters kept in :attr:`Stats.tally`, in its order (bench's C streams
add to them in place: see ``_batch.c``, bench_step_matched)."""

HIGHEST_US = 3_600_000_000  # one hour: anything slower is clamped to it
_SIGNIFICANT_DIGITS = 3
PERCENTILES = (50.0, 90.0, 99.0, 99.9)


def _new_histogram() -> Any:
    from hdrh.histogram import HdrHistogram

    return HdrHistogram(1, HIGHEST_US, _SIGNIFICANT_DIGITS)


class Latencies:
    """One HDR histogram of latencies in microseconds, fed through a buffer (``pending``)."""

    def __init__(self) -> None:
        self.pending: list[int] = []
        self.counts: dict[int, int] = {}  # value -> how many (a batch that shares one)
        self._histogram: Any = None

    def flush(self) -> None:
        """Fold the buffered samples into the histogram (one record per distinct value)."""
        if not self.pending and not self.counts:
            return
        counts = collections.Counter(self.pending)  # counted in C
        counts.update(self.counts)
        self.pending.clear()
        self.counts.clear()
        histogram = self.histogram
        for value, count in counts.items():
            histogram.record_value(min(HIGHEST_US, max(1, value)), count)

    @property
    def histogram(self) -> Any:
        """The hdrh HdrHistogram (made on first use)."""
        if self._histogram is None:
            self._histogram = _new_histogram()
        return self._histogram

    def count(self) -> int:
        """How many samples were recorded (buffered ones included)."""
        recorded = self._histogram.get_total_count() if self._histogram is not None else 0
        return int(recorded) + len(self.pending) + sum(self.counts.values())

    def encode(self) -> str | None:
        """The histogram in HdrHistogram's compressed base64 encoding (None if empty)."""
        self.flush()
        if self._histogram is None or self._histogram.get_total_count() == 0:
            return None
        encoded: bytes = self._histogram.encode()
        return encoded.decode("ascii")

    def add_encoded(self, encoded: str | None) -> None:
        """Add a histogram that :meth:`encode` made (in another process, maybe)."""
        if encoded:
            from hdrh.histogram import HdrHistogram

            self.histogram.add(HdrHistogram.decode(encoded.encode("ascii")))

    def summary(self) -> dict[str, float] | None:
        """p50, p90, p99, p99.9, max, min and mean in microseconds, and the count."""
        self.flush()
        histogram = self._histogram
        if histogram is None or histogram.get_total_count() == 0:
            return None
        result: dict[str, float] = {
            f"p{p:g}": float(histogram.get_value_at_percentile(p)) for p in PERCENTILES
        }
        result["max"] = float(histogram.get_max_value())
        result["min"] = float(histogram.get_min_value())
        result["mean"] = round(float(histogram.get_mean_value()), 1)
        result["count"] = float(histogram.get_total_count())
        return result


def _tallied(index: int) -> Any:
    """A counter of :data:`TALLIED` as an attribute, kept in ``tally[index]``."""

    def get(stats: Stats) -> int:
        return stats.tally[index]

    def put(stats: Stats, value: int) -> None:
        stats.tally[index] = value

    return property(get, put)


class Stats:
    """The counters of one run (or one worker's share), mergeable across processes.

    Attributes:
        sent: messages sent.
        received: messages received (echo mode: verified echoes).
        bytes_sent: payload bytes sent.
        bytes_received: payload bytes received.
        measured: messages received inside the measurement window.
        measured_bytes: their payload bytes.
        window: seconds the measurement window lasted.
        opened: connections that completed the opening handshake.
        failed: connections that failed (each once, under its first error).
        handshakes: handshakes mode: connect-upgrade-close cycles completed.
        untimed: subscribe/send: messages received without a timestamp header.
        unsent: open loop: messages that fell due but were never sent: the
            connections' send buffers stayed full, or the rate was beyond the process.
        errors: count per kind (``refused``, ``timeout``, ``close 1011`` ...).
        latency: message latency.
        tcp, tls, upgrade: the times of each step of the opening handshake.
        tally: the first six counters (:data:`TALLIED`) as 64-bit integers, where
            a connection's C stream adds to them without a Python call.
    """

    received = _tallied(0)
    bytes_received = _tallied(1)
    measured = _tallied(2)
    measured_bytes = _tallied(3)
    sent = _tallied(4)
    bytes_sent = _tallied(5)

    def __init__(self) -> None:
        self.tally = array.array("q", bytes(8 * len(TALLIED)))
        self.window = 0.0
        self.opened = 0
        self.failed = 0
        self.handshakes = 0
        self.untimed = 0
        self.unsent = 0
        self.errors: collections.Counter[str] = collections.Counter()
        self.latency = Latencies()
        self.tcp = Latencies()
        self.tls = Latencies()
        self.upgrade = Latencies()

    _COUNTERS = (
        "sent",
        "received",
        "bytes_sent",
        "bytes_received",
        "measured",
        "measured_bytes",
        "opened",
        "failed",
        "handshakes",
        "untimed",
        "unsent",
    )
    _HISTOGRAMS = ("latency", "tcp", "tls", "upgrade")

    def error(self, kind: str, count: int = 1) -> None:
        """Count an error of ``kind``."""
        self.errors[kind] += count

    def to_wire(self) -> dict[str, Any]:
        """Everything as JSON-able data (histograms encoded), for another process."""
        data: dict[str, Any] = {name: getattr(self, name) for name in self._COUNTERS}
        data["window"] = self.window
        data["errors"] = dict(self.errors)
        for name in self._HISTOGRAMS:
            latencies: Latencies = getattr(self, name)
            data[name] = latencies.encode()
        return data

    def merge_wire(self, data: dict[str, Any]) -> None:
        """Add another share's :meth:`to_wire` data to these counters.

        The window is the longest of the shares' windows (they ran side by side).
        """
        for name in self._COUNTERS:
            setattr(self, name, getattr(self, name) + int(data.get(name, 0)))
        self.window = max(self.window, float(data.get("window", 0.0)))
        self.errors.update({str(k): int(v) for k, v in data.get("errors", {}).items()})
        for name in self._HISTOGRAMS:
            latencies: Latencies = getattr(self, name)
            latencies.add_encoded(data.get(name))
