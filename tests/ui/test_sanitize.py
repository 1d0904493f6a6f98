"""Tests of :mod:`wstool.ui.sanitize`: peer text made safe to show on a terminal."""

from __future__ import annotations

import unicodedata

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstool.ui.sanitize import terminal_safe

C0 = [chr(c) for c in range(0x20)]
C1 = [chr(c) for c in range(0x80, 0xA0)]
# Unicode's Bidi_Control characters (ALM, LRM, RLM; LRE, RLE, PDF, LRO, RLO;
# LRI, RLI, FSI, PDI): a terminal honours them, so a line can read backwards.
BIDI = [chr(c) for c in (0x061C, 0x200E, 0x200F, *range(0x202A, 0x202F), *range(0x2066, 0x206A))]
SEPARATORS = ["\u2028", "\u2029"]
PRINTABLE_ASCII = "".join(chr(c) for c in range(0x20, 0x7F))


class TestControlCharacters:
    """Every character that moves the cursor or changes terminal state is escaped."""

    @pytest.mark.parametrize("char", [*C0, "\x7f", *C1], ids=lambda c: f"U+{ord(c):04X}")
    def test_c0_c1_and_del_become_hex_escapes(self, char: str) -> None:
        """C0 controls, DEL and C1 controls show as ``\\xNN`` with two lowercase digits."""
        assert terminal_safe(f"a{char}b") == f"a\\x{ord(char):02x}b"

    @pytest.mark.parametrize("char", BIDI + SEPARATORS, ids=lambda c: f"U+{ord(c):04X}")
    def test_bidi_and_line_separators_become_unicode_escapes(self, char: str) -> None:
        """Bidi formatting characters and U+2028/U+2029 show as ``\\uNNNN``."""
        assert terminal_safe(f"a{char}b") == f"a\\u{ord(char):04x}b"

    def test_clear_screen_sequence(self) -> None:
        """The ESC of ``ESC[2J`` (clear screen) is shown, so the sequence does nothing."""
        assert terminal_safe("\x1b[2Jhi") == "\\x1b[2Jhi"

    def test_newline_tab_and_carriage_return(self) -> None:
        """Line breaks and tabs are escaped too: one peer string stays on one line."""
        assert terminal_safe("a\nb\tc\rd") == "a\\x0ab\\x09c\\x0dd"

    def test_right_to_left_override(self) -> None:
        """RLO, which would show ``txt.exe`` as ``exe.txt``, is shown as its escape."""
        assert terminal_safe("\u202etxt.exe") == "\\u202etxt.exe"

    def test_csi_as_c1(self) -> None:
        """U+009B (CSI, the one-character form of ``ESC [``) is escaped."""
        assert terminal_safe("\x9b2J") == "\\x9b2J"


class TestBackslashes:
    """A backslash in the output always starts an escape wstool wrote."""

    def test_backslash_doubled(self) -> None:
        """A peer's own backslash is doubled, so ``\\x1b`` typed by a peer is not an ESC."""
        assert terminal_safe("\\x1b") == "\\\\x1b"

    def test_typed_and_real_escape_differ(self) -> None:
        """The text ``\\x1b`` and a real ESC give different output."""
        assert terminal_safe("\\x1b") != terminal_safe("\x1b")
        assert terminal_safe("\x1b") == "\\x1b"

    def test_backslash_kept_when_asked(self) -> None:
        """With ``escape_backslash=False`` (already-escaped JSON) backslashes stay single."""
        assert terminal_safe('"a\\nb"', escape_backslash=False) == '"a\\nb"'

    def test_controls_still_escaped_when_backslashes_kept(self) -> None:
        """``escape_backslash=False`` leaves backslashes alone but not controls."""
        assert terminal_safe("\\\x1b\u202e", escape_backslash=False) == "\\\\x1b\\u202e"


class TestUnchanged:
    """What is safe is left as it is."""

    def test_printable_ascii_without_backslash(self) -> None:
        """Printable ASCII other than the backslash comes out unchanged."""
        text = PRINTABLE_ASCII.replace("\\", "")
        assert terminal_safe(text) == text

    def test_non_ascii_letters_and_emoji(self) -> None:
        """Letters beyond ASCII, CJK and emoji are not escaped."""
        text = "héllo wörld — 你好 🎉 \u00a0"
        assert terminal_safe(text) == text

    def test_empty(self) -> None:
        """The empty string stays empty."""
        assert terminal_safe("") == ""


UNSAFE = {*BIDI, *SEPARATORS}


@given(st.text())
def test_output_has_no_control_or_bidi_character(text: str) -> None:
    """Whatever a peer sends, the output holds no Cc character and no bidi control."""
    for escape_backslash in (True, False):
        out = terminal_safe(text, escape_backslash=escape_backslash)
        assert not [c for c in out if unicodedata.category(c) == "Cc" or c in UNSAFE]


@given(st.text(alphabet=st.sampled_from(PRINTABLE_ASCII.replace("\\", ""))))
def test_printable_ascii_is_unchanged(text: str) -> None:
    """Printable ASCII other than the backslash passes through as it is."""
    assert terminal_safe(text) == text


@given(st.text())
def test_output_is_unambiguous(text: str) -> None:
    """Different inputs give different outputs: the escapes can be read back."""
    out = terminal_safe(text)
    # Undo the escapes left to right; a doubled backslash is a backslash.
    decoded: list[str] = []
    i = 0
    while i < len(out):
        if out[i] != "\\":
            decoded.append(out[i])
            i += 1
        elif out[i + 1] == "\\":
            decoded.append("\\")
            i += 2
        elif out[i + 1] == "x":
            decoded.append(chr(int(out[i + 2 : i + 4], 16)))
            i += 4
        else:
            assert out[i + 1] == "u"
            decoded.append(chr(int(out[i + 2 : i + 6], 16)))
            i += 6
    assert "".join(decoded) == text


@given(st.text(), st.booleans())
def test_quick_path_changes_nothing_the_tables_would_change(
    text: str, escape_backslash: bool
) -> None:
    """Text returned as it is by the printable screen is exactly what the tables give."""
    from wstool.ui import sanitize

    table = sanitize._TABLE if escape_backslash else sanitize._TABLE_KEEP_BACKSLASH
    assert terminal_safe(text, escape_backslash=escape_backslash) == text.translate(table)


@pytest.mark.parametrize("char", ["\x1b", "\x9b", "\u2028", "\u202e", "\u061c", "\u200f", "\t"])
def test_each_kind_of_dangerous_character_is_escaped(char: str) -> None:
    assert char not in terminal_safe(f"a{char}b")


def test_every_escaped_character_fails_the_printable_screen() -> None:
    """The quick path relies on this: nothing the tables escape (but \\) is printable."""
    from wstool.ui import sanitize

    escaped = [chr(code) for code in sanitize._VISIBLE if code != ord("\\")]
    assert len(escaped) > 60
    assert not any(c.isprintable() for c in escaped)


def test_every_json_escaped_character_fails_the_printable_screen() -> None:
    """json_line's quick path relies on this: nothing _JSON_UNSAFE changes is printable."""
    from wstool.ui import sanitize

    escaped = [chr(code) for code in sanitize._JSON_UNSAFE]
    assert len(escaped) > 40
    assert not any(c.isprintable() for c in escaped)


@pytest.mark.parametrize("char", ["\x7f", "\x9b", "\u2028", "\u202e", "\u2066"])
def test_json_line_escapes_what_a_terminal_acts_on(char: str) -> None:
    """Such a character in a record comes out as its \\uXXXX escape, and the JSON is the same."""
    import json

    from wstool.ui.sanitize import json_line

    line = json_line({"text": f"a{char}b"})
    assert char not in line
    assert json.loads(line) == {"text": f"a{char}b"}
