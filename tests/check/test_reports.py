"""Case selection, Autobahn spec files and reports in Autobahn's layout."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from wstool.check.badserver import BadServer
from wstool.check.html import write_html_report
from wstool.check.peer import parse_uri
from wstool.check.report import report_file, write_json_reports
from wstool.check.spec import SpecError, read_spec
from wstool.check.suite import Counts, matches, run_cases, select_cases


def test_patterns_are_globs_or_prefixes() -> None:
    """6.4.* is a glob; 6.4 names 6.4 and what is under it; 1.1 is not 1.10."""
    assert matches("6.4.3", "6.4.*") and matches("6.4.3", "6.4") and matches("9.1.1", "9")
    assert not matches("1.10.1", "1.1") and not matches("6.40.1", "6.4.*")
    assert matches("2.1", "2.1") and not matches("2.10", "2.1") and not matches("2.12.1", "2.1")
    ids = [case.id for case in select_cases(["7.1"], ["7.1.2"])]
    assert ids and "7.1.2" not in ids and all(i.startswith("7.1.") for i in ids)
    assert ids == sorted(ids, key=lambda i: tuple(map(int, i.split("."))))


def test_reads_a_fuzzingclient_spec(tmp_path: Path) -> None:
    """servers, cases, exclude-cases and exclude-agent-cases are read; options ignored."""
    path = tmp_path / "fuzzingclient.json"
    path.write_text(
        json.dumps(
            {
                "options": {"failByDrop": False},
                "outdir": "./reports/servers",
                "servers": [{"agent": "Mine", "url": "ws://127.0.0.1:9001", "options": {}}],
                "cases": ["*"],
                "exclude-cases": ["9.*", "12.*", "13.*"],
                "exclude-agent-cases": {"Mine": ["6.4.*"]},
            }
        )
    )
    spec = read_spec(path)
    assert spec.outdir == "./reports/servers"
    assert [(s.agent, s.url) for s in spec.servers] == [("Mine", "ws://127.0.0.1:9001")]
    assert spec.excluded_for("Mine") == ("9.*", "12.*", "13.*", "6.4.*")


@pytest.mark.parametrize("text", ["[]", "{", '{"cases": "1.*"}', '{"servers": [{}]}'])
def test_a_bad_spec_is_one_clear_error(tmp_path: Path, text: str) -> None:
    """Not JSON, not an object, or wrongly shaped: SpecError with a reason."""
    path = tmp_path / "spec.json"
    path.write_text(text)
    with pytest.raises(SpecError):
        read_spec(path)


def test_reports_in_autobahns_layout(tmp_path: Path) -> None:
    """index.json: agent -> case -> behavior, behaviorClose, duration, remoteCloseCode,
    reportfile; one JSON file per case; an HTML index linking one page per case."""
    cases = select_cases(["1.1.1", "2.1", "2.5"])
    with BadServer(("no-pong",)) as server:
        results = run_cases(cases, {"default": parse_uri(server.url)}, jobs=3)
    write_json_reports(tmp_path, "Bad", results, wire_text=lambda r: "log text")
    index = json.loads((tmp_path / "index.json").read_text())
    entry = index["Bad"]["2.1"]
    assert set(entry) == {"behavior", "behaviorClose", "duration", "remoteCloseCode", "reportfile"}
    assert entry["behavior"] == "FAILED" and index["Bad"]["1.1.1"]["behavior"] == "OK"
    assert entry["reportfile"] == report_file("Bad", "2.1") == "bad_case_2_1.json"
    record = json.loads((tmp_path / entry["reportfile"]).read_text())
    assert record["behavior"] == "FAILED" and record["wirelogText"] == "log text"
    assert record["wirelog"][0][1] == "TX"
    page = write_html_report(tmp_path)
    html = page.read_text()
    assert "bad_case_2_1.html" in html and "#e00" in html and "<script" not in html
    assert "log text" in (tmp_path / "bad_case_2_1.html").read_text()
    assert Counts.of(results).failed == 1
