"""Peer text -> terminal-safe text.

A peer can put ``ESC[2J`` in a text frame or a close reason, or a bidi
override that makes a line read backwards. rich's ``Text`` strips only a few
control characters and lets ESC through, so every string from the wire goes
through :func:`terminal_safe` before it reaches a renderable.
"""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["json_line", "terminal_safe"]

# C0 controls, DEL and C1 controls become visible \xNN escapes; so do the
# Unicode line separators and every bidirectional control (Unicode's
# Bidi_Control: the marks ALM, LRM, RLM as well as the embeddings, overrides
# and isolates), which terminals honour and which can disguise what a line says.
_VISIBLE = {c: f"\\x{c:02x}" for c in (*range(0x20), *range(0x7F, 0xA0))}
_BIDI = (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
_VISIBLE.update({c: f"\\u{c:04x}" for c in (0x2028, 0x2029, *_BIDI)})
_TABLE_KEEP_BACKSLASH = str.maketrans(_VISIBLE)
_VISIBLE[ord("\\")] = "\\\\"
_TABLE = str.maketrans(_VISIBLE)


def terminal_safe(text: str, *, escape_backslash: bool = True) -> str:
    """Make every control and formatting character in ``text`` a visible escape.

    Backslashes are doubled, so an escape in the output always means a
    character that was escaped, never one the peer typed.

    Args:
        text: text from the wire.
        escape_backslash: double backslashes (turn off for text that is
            already escaped, such as JSON from ``json.dumps``).

    Returns:
        Text that moves no cursor and changes no terminal state.
    """
    # Every character the tables change is a control, a format character or
    # a line separator, none of which str.isprintable() accepts: most text
    # passes that C-speed check and is returned as it is.
    if text.isprintable() and not (escape_backslash and "\\" in text):
        return text
    return text.translate(_TABLE if escape_backslash else _TABLE_KEEP_BACKSLASH)


# JSON encoders escape only C0 controls; peer text can also hold DEL, C1
# controls (0x9b is CSI), line separators and bidi controls, which a
# terminal showing the NDJSON would act on. As \uXXXX the JSON is the same.
_JSON_UNSAFE_CODES = (*range(0x7F, 0xA0), 0x2028, 0x2029, 0x061C, 0x200E, 0x200F)
_JSON_UNSAFE = str.maketrans(
    {
        c: f"\\u{c:04x}"
        for c in (*_JSON_UNSAFE_CODES, *range(0x202A, 0x202F), *range(0x2066, 0x206A))
    }
)


def json_line(record: dict[str, Any]) -> str:
    """One NDJSON line for ``record``: UTF-8 text kept, terminal controls escaped.

    orjson writes it (compact, in C: a busy NDJSON stream spends most of its
    time here); the values are str, int, float, bool, None, lists and dicts.
    """
    line = orjson.dumps(record).decode("utf-8")
    if line.isascii():  # json escaped C0 already: DEL is the one unsafe ASCII character left
        return (line.replace("\x7f", "\\u007f") if "\x7f" in line else line) + "\n"
    # Every character _JSON_UNSAFE changes fails the C-speed isprintable() check, and
    # translate() is slow on text that is not ASCII.
    return (line if line.isprintable() else line.translate(_JSON_UNSAFE)) + "\n"
