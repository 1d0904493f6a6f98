"""The result of a bench run as plain data: what the table shows and --json prints."""

from __future__ import annotations

from typing import Any

from wstool.bench.plan import BenchPlan
from wstool.bench.stats import Stats

__all__ = ["FAILURE_KINDS", "summarize"]

# Error kinds that mean the server did something wrong with a message.
FAILURE_KINDS = ("verification",)


def _rate(count: float, seconds: float) -> float:
    return round(count / seconds, 1) if seconds > 0 else 0.0


def summarize(
    plan: BenchPlan, stats: Stats, *, interrupted: bool = False, loop: str = "", workers: int = 1
) -> dict[str, Any]:
    """The run's figures: rates, latency percentiles (µs), errors by kind, ok or not.

    ``ok`` is false when any connection failed or any echo was wrong.
    """
    window = stats.window
    result: dict[str, Any] = {
        "url": plan.url,
        "mode": plan.mode,
        "loop": "open" if plan.open_loop else "closed",
        "connections": plan.connections,
        "inflight": None if plan.open_loop else plan.inflight,
        "rate": plan.rate,
        "sizes": [list(entry) for entry in plan.sizes.entries],
        "text": plan.text,
        "deflate": plan.deflate,
        "workers": workers,
        "event_loop": loop,
        "seconds": round(window, 3),
        "sent": stats.sent,
        "received": stats.received,
        "msgs_per_s": _rate(stats.measured, window),
        "mb_per_s": round(stats.measured_bytes / window / 1e6, 3) if window > 0 else 0.0,
        "latency_us": stats.latency.summary(),
        "connections_opened": stats.opened,
        "connections_failed": stats.failed,
        "untimed": stats.untimed,
        "unsent": stats.unsent,
        "errors": dict(sorted(stats.errors.items())),
        "interrupted": interrupted,
    }
    if plan.mode == "handshakes":
        result["handshakes"] = stats.handshakes
        result["handshakes_per_s"] = _rate(stats.handshakes, window)
        result["msgs_per_s"] = result["handshakes_per_s"]
        result["mb_per_s"] = 0.0
    result["handshake_us"] = {
        "tcp": stats.tcp.summary(),
        "tls": stats.tls.summary(),
        "upgrade": stats.upgrade.summary(),
    }
    failures = stats.failed + sum(stats.errors.get(kind, 0) for kind in FAILURE_KINDS)
    result["ok"] = failures == 0 and (stats.opened > 0 or stats.handshakes > 0)
    return result
