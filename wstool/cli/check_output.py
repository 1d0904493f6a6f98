"""What ``wstool check`` prints: progress, the table by section, each case not OK, totals.

On a terminal a rich progress bar runs while the cases do; then a table of
verdicts per section, a block for every case not OK (what it sends, what
the RFC expects, what happened, and the wire log as ``wstool decode`` shows
frames), and the last line ``N passed, M failed``. ``--json`` prints one
JSON object per case and one with the totals instead.
"""

from __future__ import annotations

import argparse
import contextlib
import json
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from wstool.cli.env import Environment

if TYPE_CHECKING:
    from wstool.check.runner import Result
    from wstool.check.suite import Counts

__all__ = ["Output", "wire_text"]

WIRE_LINES = 60
"""Wire log lines shown per case on the terminal (the report holds them all)."""

_SHORT = {"INFORMATIONAL": "INFORM.", "UNIMPLEMENTED": "UNIMPL."}
_STYLES = {
    "OK": "green",
    "NON-STRICT": "yellow",
    "INFORMATIONAL": "cyan",
    "UNIMPLEMENTED": "blue",
    "FAILED": "bold red",
    "SKIPPED": "dim",
}


def wire_text(result: Result, limit: int | None = 256) -> str:
    """A result's wire log, frames shown as ``wstool decode`` shows them, terminal-safe."""
    from wstool.ui.sanitize import terminal_safe
    from wstool.ui.wirelog import wire_log_text

    if result.wire is None:
        return ""
    text = wire_log_text(result.wire.chunks, limit=limit)
    lines = [terminal_safe(line) for line in text.splitlines()]
    if result.wire.truncated:
        lines.append(f"... (the log keeps the first {256} KiB each way)")
    return "\n".join(lines) + "\n"


class Output:
    """Prints one run of ``wstool check`` for a terminal, a pipe or ``--json``."""

    def __init__(self, args: argparse.Namespace, env: Environment) -> None:
        from wstool.ui.console import make_console

        self.env = env
        self.json = bool(args.json)
        self.console = make_console(args.color, env.stdout, no_color_env=env.no_color)

    @contextlib.contextmanager
    def progress(self, agent: str, total: int) -> Iterator[Callable[[Result], None]]:
        """A callback per finished case; a progress bar on a terminal."""
        if self.json or not self.console.is_terminal:
            yield lambda result: None
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeElapsedColumn,
        )

        failed = [0]
        columns = (
            TextColumn(f"checking {agent}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[failed]} failed"),
            TimeElapsedColumn(),
        )
        with Progress(*columns, console=self.console, transient=True) as bar:
            task = bar.add_task("cases", total=total, failed=0)

            def advance(result: Result) -> None:
                failed[0] += result.verdict == "FAILED"
                bar.update(task, advance=1, failed=failed[0])

            yield advance

    def results(
        self, agent: str, url: str, results: Sequence[Result], counts: Counts, took: float
    ) -> None:
        """Print the results of one server."""
        if self.json:
            self._json(agent, results, counts, took)
            return
        self._table(agent, url, counts)
        for result in results:
            if result.verdict not in ("OK", "SKIPPED") or result.close_verdict not in (
                "OK",
                "SKIPPED",
            ):
                self._case(result)
        self._totals(counts, took)

    def _json(self, agent: str, results: Sequence[Result], counts: Counts, took: float) -> None:
        from wstool.check.describe import happened

        write = self.env.stdout.write
        for result in results:
            record = {
                "agent": agent,
                "id": result.case.id,
                "description": result.case.description,
                "behavior": result.verdict,
                "behaviorClose": result.close_verdict,
                "duration": round(result.duration * 1000),
                "remoteCloseCode": result.remote_close_code,
                "expected": result.case.expected,
                "result": result.detail,
                "resultClose": result.close_detail,
                "happened": happened(result) if result.verdict != "SKIPPED" else "",
            }
            write(json.dumps(record) + "\n")
        totals = {"agent": agent, "passed": counts.passed, "failed": counts.failed}
        write(json.dumps({**totals, "counts": counts.total, "seconds": round(took, 3)}) + "\n")

    def _table(self, agent: str, url: str, counts: Counts) -> None:
        from rich import box
        from rich.table import Table
        from rich.text import Text

        from wstool.check.cases import SECTIONS
        from wstool.ui.sanitize import terminal_safe

        names = ("OK", "NON-STRICT", "INFORMATIONAL", "UNIMPLEMENTED", "FAILED", "SKIPPED")
        table = Table(box=box.SIMPLE, title=terminal_safe(f"{agent}  {url}"), title_justify="left")
        table.add_column("section", no_wrap=True, max_width=24, overflow="ellipsis")
        for name in names:
            header = _SHORT.get(name, name)
            table.add_column(header, justify="right", no_wrap=True, min_width=max(len(header), 4))
        for section, row in counts.sections.items():
            cells = [Text(str(row[name]), _STYLES[name] if row[name] else "dim") for name in names]
            table.add_row(f"{section} {SECTIONS.get(section, '')}", *cells)
        total = [Text(str(counts.total[name]), "bold") for name in names]
        table.add_row(Text("all", "bold"), *total)
        self.console.print(table)

    def _case(self, result: Result) -> None:
        from rich.text import Text

        from wstool.check.describe import describe_opening, describe_steps, happened, rfc_of
        from wstool.ui.sanitize import terminal_safe

        case = result.case
        head = Text()
        head.append(f"{result.verdict:<13}", _STYLES.get(result.verdict, ""))
        head.append(f" {case.id}  {terminal_safe(case.description)}")
        if result.close_verdict not in ("OK", result.verdict):
            head.append(f"  (close: {result.close_verdict})", "yellow")
        self.console.print(head)
        opening, steps = describe_opening(case), describe_steps(case)
        if result.server_side:  # check client: wstool answered, the client is judged
            opening = "the client's upgrade request, answered by wstool"
            steps = [line.replace("the server must", "the client must") for line in steps]
        lines = [f"  opening:  {opening}"]
        lines += [f"  sends:    {line}" for line in steps]
        lines.append(f"  expects:  {case.expected}  [{rfc_of(case)}]")
        lines.append(f"  happened: {happened(result)}")
        if result.detail:
            lines.append(f"  why:      {result.detail}")
        if result.close_detail:
            lines.append(f"  closing:  {result.close_detail}")
        wire = wire_text(result, limit=64).splitlines()
        if wire:
            lines.append("  wire log:")
            lines += [f"  {line}" for line in wire[:WIRE_LINES]]  # terminal-safe already
            if len(wire) > WIRE_LINES:
                lines.append(f"  ... {len(wire) - WIRE_LINES} more lines (--report keeps them)")
        self.console.print(Text("\n".join(terminal_safe(line) for line in lines)))
        self.console.print()

    def _totals(self, counts: Counts, took: float) -> None:
        shown = ", ".join(f"{n} {name}" for name, n in counts.total.items() if n)
        self.console.print(f"{shown} in {took:.1f}s")
        self.console.print(f"{counts.passed} passed, {counts.failed} failed")

    def write_reports(self, outdir: Path, agent: str, results: Sequence[Result]) -> None:
        """Autobahn's JSON layout and the HTML report in ``outdir``."""
        from wstool.check.html import write_html_report
        from wstool.check.report import write_json_reports

        try:
            write_json_reports(outdir, agent, results, wire_text=wire_text)
            index = write_html_report(outdir)
        except OSError as exc:
            from wstool.cli.errors import CommandError

            raise CommandError(f"--report {outdir}: {exc.strerror or exc}") from None
        self.env.stderr.write(f"wstool check: report written to {index}\n")
