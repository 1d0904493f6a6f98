"""The rich console every command prints through, with wstool's theme.

Colour is on for a terminal and off when piped; ``NO_COLOR`` turns it off
(and bold, dim, italic with it); ``--color always|never`` beats both.
"""

from __future__ import annotations

from typing import IO

from rich.console import Console

from wstool.ui.render import THEME

__all__ = ["QuietOnBrokenPipe", "make_console"]


class QuietOnBrokenPipe(Console):
    """A console whose closed reader (``| head``) raises BrokenPipeError.

    rich's own answer is ``SystemExit(1)`` from deep inside a print; the
    command line turns BrokenPipeError into a quiet exit instead.
    """

    def on_broken_pipe(self) -> None:
        self.quiet = True
        raise BrokenPipeError


def make_console(color: str, stream: IO[str] | None, *, no_color_env: bool) -> Console:
    """A console writing to ``stream`` (None: stdout, as rich decides).

    Args:
        color: ``auto``, ``always`` or ``never`` (the --color option).
        stream: where to write.
        no_color_env: ``NO_COLOR`` is set and not empty.
    """
    # soft_wrap: long lines are left to the terminal rather than cut by rich,
    # so output piped to a file or grep keeps one line per field.
    common = {"file": stream, "theme": THEME, "soft_wrap": True, "highlight": False}
    if color == "always":
        return QuietOnBrokenPipe(force_terminal=True, no_color=False, **common)  # type: ignore[arg-type]
    if color == "never" or (color == "auto" and no_color_env):
        return QuietOnBrokenPipe(no_color=True, color_system=None, **common)  # type: ignore[arg-type]
    return QuietOnBrokenPipe(**common)  # type: ignore[arg-type]
