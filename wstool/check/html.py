"""A self-contained HTML report: an index of coloured cells, one page per case.

Built from the JSON reports in the directory (``index.json`` and the case
files it names), so every agent in the index is shown, one column each. No
scripts, fonts or style sheets from elsewhere: the pages open offline.
"""

from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Any

from wstool.check.cases import SECTIONS
from wstool.check.suite import case_key

__all__ = ["COLOURS", "write_html_report"]

COLOURS = {
    "OK": "#0a0",
    "NON-STRICT": "#9c0",
    "INFORMATIONAL": "#999",
    "UNIMPLEMENTED": "#6af",
    "FAILED": "#e00",
    "WRONG CODE": "#fa0",
    "UNCLEAN": "#fa0",
}

_STYLE = """
body { font-family: sans-serif; margin: 1.5em; color: #222; }
table { border-collapse: collapse; }
td, th { border: 1px solid #ccc; padding: 2px 8px; font-size: 90%; text-align: left; }
td.v { color: #fff; font-weight: bold; text-align: center; }
td.v a { color: #fff; text-decoration: none; }
th.section { background: #eee; }
pre { background: #f6f6f6; padding: 0.8em; overflow-x: auto; font-size: 85%; }
dt { font-weight: bold; margin-top: 0.6em; }
.legend span { padding: 2px 8px; color: #fff; margin-right: 4px; }
"""


def _page(title: str, body: str) -> str:
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head>\n"
        f"<body>\n{body}\n</body></html>\n"
    )


def _cell(entry: dict[str, Any] | None) -> str:
    if entry is None:
        return "<td>-</td>"
    behavior = str(entry.get("behavior", ""))
    close = str(entry.get("behaviorClose", ""))
    colour = COLOURS.get(behavior, "#555")
    if behavior == "OK" and close != "OK":
        colour = COLOURS.get(close, colour)
    shown = behavior if close in ("OK", behavior) else f"{behavior} / {close}"
    link = html.escape(str(entry.get("reportfile", "")).replace(".json", ".html"))
    duration = entry.get("duration", "")
    code = entry.get("remoteCloseCode")
    extra = f" {duration} ms" + (f" [{code}]" if code is not None else "")
    return (
        f"<td class='v' style='background:{colour}'>"
        f"<a href='{link}'>{html.escape(shown)}{html.escape(extra)}</a></td>"
    )


def _legend() -> str:
    spans = "".join(
        f"<span style='background:{colour}'>{html.escape(name)}</span>"
        for name, colour in COLOURS.items()
    )
    return f"<p class='legend'>{spans}</p>"


def _index(index: dict[str, dict[str, Any]], records: dict[str, dict[str, Any]]) -> str:
    agents = sorted(index)
    ids = sorted({case_id for cases in index.values() for case_id in cases}, key=case_key)
    head = "".join(f"<th>{html.escape(agent)}</th>" for agent in agents)
    rows, section = [], None
    for case_id in ids:
        top = case_id.split(".")[0]
        if top != section:
            section = top
            title = html.escape(f"{top} {SECTIONS.get(top, '')}")
            rows.append(f"<tr><th class='section' colspan='{len(agents) + 2}'>{title}</th></tr>")
        description = html.escape(records.get(case_id, {}).get("description", ""))
        cells = "".join(_cell(index[agent].get(case_id)) for agent in agents)
        rows.append(f"<tr><td>{html.escape(case_id)}</td><td>{description}</td>{cells}</tr>")
    totals = []
    for agent in agents:
        counts: dict[str, int] = {}
        for entry in index[agent].values():
            counts[entry["behavior"]] = counts.get(entry["behavior"], 0) + 1
        shown = ", ".join(f"{n} {name}" for name, n in sorted(counts.items()))
        totals.append(f"<li>{html.escape(agent)}: {html.escape(shown)}</li>")
    return _page(
        "wstool check report",
        "<h1>wstool check report</h1>"
        f"<ul>{''.join(totals)}</ul>{_legend()}"
        f"<table><tr><th>case</th><th>description</th>{head}</tr>\n" + "\n".join(rows) + "</table>",
    )


def _case_page(record: dict[str, Any]) -> str:
    def item(name: str, value: object) -> str:
        return f"<dt>{html.escape(name)}</dt><dd>{html.escape(str(value))}</dd>"

    sends = "".join(f"<li>{html.escape(line)}</li>" for line in record.get("sends", []))
    wire = record.get("wirelogText") or "\n".join(
        f"{at:9.4f}s {way} {data}" for at, way, data in record.get("wirelog", [])
    )
    title = f"Case {record['id']} ({record['agent']})"
    body = (
        f"<p><a href='index.html'>back to the index</a></p><h1>{html.escape(title)}</h1><dl>"
        + item("description", record.get("description", ""))
        + item("behavior", f"{record['behavior']} / close: {record['behaviorClose']}")
        + item("expectation", record.get("expectation", ""))
        + item("RFC", record.get("rfc", ""))
        + item("opening", record.get("opening", ""))
        + f"<dt>sends</dt><dd><ol>{sends}</ol></dd>"
        + item("what happened", record.get("happened", ""))
        + item("result", record.get("result", ""))
        + item("closing", record.get("resultClose", ""))
        + "</dl><h2>Wire log</h2>"
        + f"<pre>{html.escape(wire)}</pre>"
    )
    return _page(title, body)


def write_html_report(outdir: Path) -> Path:
    """Write ``index.html`` and a page per case from the JSON reports in ``outdir``.

    Returns:
        The index page's path.
    """
    index = json.loads((outdir / "index.json").read_text(encoding="utf-8"))
    records: dict[str, dict[str, Any]] = {}
    for cases in index.values():
        for case_id, entry in cases.items():
            path = outdir / entry["reportfile"]
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            records.setdefault(case_id, record)
            page = path.with_suffix(".html")
            page.write_text(_case_page(record), encoding="utf-8")
    target = outdir / "index.html"
    target.write_text(_index(index, records), encoding="utf-8")
    return target
