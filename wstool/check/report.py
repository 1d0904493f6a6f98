"""Reports in the Autobahn Testsuite's layout: ``index.json`` and one JSON file per case.

``index.json`` maps agent -> case id -> ``behavior``, ``behaviorClose``,
``duration`` (milliseconds), ``remoteCloseCode`` and ``reportfile``, as
Autobahn writes it, so scripts that read its reports (or grep
``"behavior"``) keep working. Each case's file holds Autobahn's main keys
(``id``, ``description``, ``expectation``, ``behavior``, ``result``,
``resultClose`` ...) and wstool's own: what was sent, the RFC text, and the
wire log, one entry per read or write.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from wstool.check.describe import describe_opening, describe_steps, happened, rfc_of
from wstool.check.runner import SKIPPED, Result

__all__ = ["WireText", "agent_name", "case_record", "report_file", "write_json_reports"]

WireText = Callable[[Result], str]
"""Renders a result's wire log as text (the CLI passes wstool decode's renderer)."""


def agent_name(url: str) -> str:
    """A default agent name for a server URL (``127.0.0.1:9001``)."""
    return url.split("://", 1)[-1].split("/", 1)[0] or "server"


def report_file(agent: str, case_id: str, ext: str = "json") -> str:
    """The file name of a case's report, as Autobahn names it (``agent_case_1_1_1.json``)."""
    clean = re.sub(r"[^a-z0-9]+", "_", agent.lower()).strip("_") or "agent"
    return f"{clean}_case_{case_id.replace('.', '_')}.{ext}"


def _wirelog(result: Result) -> list[list[Any]]:
    if result.wire is None:
        return []
    return [
        [round(at, 6), "TX" if outgoing else "RX", data.hex()]
        for at, outgoing, data in result.wire.chunks
    ]


def case_record(agent: str, result: Result, wire_text: WireText | None = None) -> dict[str, Any]:
    """One case's report, with Autobahn's keys and wstool's own."""
    case = result.case
    record: dict[str, Any] = {
        "agent": agent,
        "id": case.id,
        "case": case.id,
        "description": case.description,
        "expectation": case.expected,
        "behavior": result.verdict,
        "behaviorClose": result.close_verdict,
        "result": result.detail or "Actual events match the expected.",
        "resultClose": result.close_detail or "Connection was properly closed",
        "duration": round(result.duration * 1000),
        "started": result.started,
        "remoteCloseCode": result.remote_close_code,
        "isServer": result.server_side,
        "opening": describe_opening(case),
        "sends": describe_steps(case, limit=1000),
        "rfc": rfc_of(case),
        "observed": result.observed,
        "happened": happened(result),
        "profile": case.profile,
        "wirelog": _wirelog(result),
    }
    if result.wire is not None:
        record["txOctets"], record["rxOctets"] = result.wire.sent, result.wire.received
        record["wirelogTruncated"] = result.wire.truncated
    if wire_text is not None and result.wire is not None:
        record["wirelogText"] = wire_text(result)
    return record


def write_json_reports(
    outdir: Path,
    agent: str,
    results: Sequence[Result],
    wire_text: WireText | None = None,
) -> dict[str, dict[str, Any]]:
    """Write ``index.json`` and one JSON file per case run into ``outdir``.

    An ``index.json`` already there keeps its other agents' entries (a spec
    with several servers writes one agent after another).

    Returns:
        The index written.
    """
    outdir.mkdir(parents=True, exist_ok=True)
    index_path = outdir / "index.json"
    index: dict[str, dict[str, Any]] = {}
    if index_path.exists():
        try:
            index = json.loads(index_path.read_text(encoding="utf-8"))
        except (ValueError, OSError):
            index = {}
    entries: dict[str, Any] = {}
    for result in results:
        if result.verdict == SKIPPED:
            continue
        name = report_file(agent, result.case.id)
        record = case_record(agent, result, wire_text)
        (outdir / name).write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
        entries[result.case.id] = {
            "behavior": result.verdict,
            "behaviorClose": result.close_verdict,
            "duration": record["duration"],
            "remoteCloseCode": result.remote_close_code,
            "reportfile": name,
        }
    index[agent] = entries
    index_path.write_text(json.dumps(index, indent=3, sort_keys=True) + "\n", encoding="utf-8")
    return index
