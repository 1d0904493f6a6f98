"""wstool bench on the terminal: the live progress line and the closing table.

Both read plain data: the progress snapshots (counters so far) and the
report that ``--json`` prints, so the table never says more or less than the
JSON does. Error details come from the server (close reasons): they pass
through :func:`wstool.ui.sanitize.terminal_safe`.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.table import Table
from rich.text import Text

from wstool.ui.sanitize import terminal_safe

__all__ = ["BenchProgress", "format_latency", "render_report"]

_PERCENTILES = ("p50", "p90", "p99", "p99.9", "max")
_RATE_WINDOW = 0.4  # seconds: the live rate is the change over at least this long


def format_latency(microseconds: float | None) -> str:
    """A latency for people: ``83 µs``, ``1.25 ms``, ``2.10 s``."""
    if microseconds is None:
        return "-"
    if microseconds < 1000:
        return f"{microseconds:.0f} µs"
    if microseconds < 1_000_000:
        return f"{microseconds / 1000:.2f} ms"
    return f"{microseconds / 1_000_000:.2f} s"


class BenchProgress:
    """One live line while a run goes on: rate, open connections, errors.

    Args:
        console: where to draw (stderr, a terminal).
        unit: what the rate counts (``msg/s`` or ``handshakes/s``).
    """

    def __init__(self, console: Console, *, unit: str = "msg/s") -> None:
        self.unit = unit
        self._live = Live(Text("starting…"), console=console, transient=True, auto_refresh=False)
        self._last: tuple[float, int] | None = None
        self._rate = 0.0

    def __enter__(self) -> BenchProgress:
        self._live.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._live.__exit__(None, None, None)

    def update(self, snapshot: Mapping[str, Any]) -> None:
        """Show the counters of ``snapshot`` (cumulative; the rate is their change)."""
        done = int(snapshot.get("handshakes") or 0) or int(snapshot.get("received", 0))
        now = time.monotonic()
        if self._last is None:
            self._last = (now, done)
        elif now - self._last[0] >= _RATE_WINDOW:
            # Workers report one after another: a rate over a few milliseconds would jump.
            self._rate = (done - self._last[1]) / (now - self._last[0])
            self._last = (now, done)
        self._live.update(self.line(snapshot, self._rate), refresh=True)

    def line(self, snapshot: Mapping[str, Any], rate: float) -> Text:
        """The progress line for ``snapshot`` at ``rate``."""
        errors = int(snapshot.get("errors", 0))
        return Text.assemble(
            (f"{snapshot.get('elapsed', 0.0):6.1f} s", "bold"),
            f"  {rate:>12,.0f} {self.unit}",
            f"  {int(snapshot.get('open', 0)):>6,} open",
            f"  sent {int(snapshot.get('sent', 0)):,}",
            f"  received {int(snapshot.get('received', 0)):,}",
            ("  " + f"{errors:,} errors", "red" if errors else "dim"),
        )


def _describe(report: Mapping[str, Any]) -> str:
    sizes = ", ".join(f"{size:,} B" + (f" x{w}" if w != 1 else "") for size, w in report["sizes"])
    kind = "text" if report["text"] else "binary"
    if report["mode"] == "handshakes":
        shape = f"{report['connections']:,} at once"
    elif report["loop"] == "open":
        shape = f"{report['connections']:,} connections, {report['rate']:,g} msg/s (open loop)"
    else:
        shape = f"{report['connections']:,} connections x {report['inflight']} in flight"
    extras = [report["mode"], shape]
    if report["mode"] != "handshakes":
        extras.append(f"{sizes} {kind}" + (", deflate" if report["deflate"] else ""))
    if report.get("workers", 1) > 1:
        extras.append(f"{report['workers']} workers")
    if report.get("event_loop"):
        extras.append(report["event_loop"])
    return "; ".join(extras)


def _throughput(report: Mapping[str, Any]) -> Table:
    table = Table(box=None, pad_edge=False, header_style="bold")
    if report["mode"] == "handshakes":
        table.add_column("handshakes/s", justify="right")
        table.add_column("handshakes", justify="right")
        table.add_column("seconds", justify="right")
        table.add_row(
            f"{report['handshakes_per_s']:,.0f}",
            f"{report['handshakes']:,}",
            f"{report['seconds']:.2f}",
        )
        return table
    for name in ("msgs/s", "MB/s", "sent", "received", "seconds"):
        table.add_column(name, justify="right")
    table.add_row(
        f"{report['msgs_per_s']:,.0f}",
        f"{report['mb_per_s']:,.2f}",
        f"{report['sent']:,}",
        f"{report['received']:,}",
        f"{report['seconds']:.2f}",
    )
    return table


def _latencies(report: Mapping[str, Any]) -> Table | None:
    table = Table(box=None, pad_edge=False, header_style="bold")
    table.add_column("latency")
    for name in _PERCENTILES:
        table.add_column(name, justify="right")
    table.add_column("samples", justify="right")
    rows = [("message" if report["mode"] != "handshakes" else "whole cycle", report["latency_us"])]
    steps = (("tcp connect", "tcp"), ("tls handshake", "tls"), ("upgrade", "upgrade"))
    rows += [(name, report["handshake_us"].get(step)) for name, step in steps]
    for name, summary in rows:
        if summary:
            cells = [format_latency(summary.get(p)) for p in _PERCENTILES]
            table.add_row(name, *cells, f"{int(summary['count']):,}")
    return table if table.row_count else None


def _errors(report: Mapping[str, Any], details: Mapping[str, str]) -> Table | None:
    if not report["errors"]:
        return None
    table = Table(box=None, pad_edge=False, header_style="bold red")
    table.add_column("errors")
    table.add_column("count", justify="right")
    table.add_column("first one")
    for kind, count in report["errors"].items():
        table.add_row(kind, f"{count:,}", Text(terminal_safe(details.get(kind, ""))))
    return table


def render_report(
    report: Mapping[str, Any], details: Mapping[str, str] | None = None
) -> RenderableType:
    """The closing table: what ran, throughput, latency percentiles, errors by kind."""
    title = Text.assemble(("wstool bench ", "bold"), terminal_safe(str(report["url"])))
    parts: list[RenderableType] = [title, Text(_describe(report), style="dim"), _throughput(report)]
    latencies = _latencies(report)
    if latencies is not None:
        parts.append(latencies)
    errors = _errors(report, details or {})
    if errors is not None:
        parts.append(errors)
    if report.get("unsent"):
        parts.append(
            Text(
                f"behind --rate: {report['unsent']:,} messages fell due but were never sent "
                "(the server did not read them fast enough, or the rate is beyond this generator)",
                style="yellow",
            )
        )
    if report.get("untimed"):
        parts.append(Text(f"{report['untimed']:,} messages had no bench timestamp", style="dim"))
    verdict = "interrupted: " if report["interrupted"] else ""
    if report["ok"]:
        parts.append(Text(verdict + "OK", style="green"))
    else:
        failed = report["connections_failed"]
        parts.append(Text(f"{verdict}FAILED: {failed:,} connection(s) failed", style="bold red"))
    return Group(*parts)
