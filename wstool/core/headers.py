"""Header grammar for the opening handshake (RFC 7230 §3.2.6, §7; RFC 6455 §9.1, §11.3).

Sans-I/O and standard library only: ``#rule`` lists of tokens, quoted
strings, the ``Sec-WebSocket-Protocol`` list and the
``Sec-WebSocket-Extensions`` grammar, parsed strictly and written back.
Every error is a :class:`~wstool.core.errors.HandshakeError` (status 400)
whose one-line reason names the header and the (truncated, ``repr``-quoted)
value.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TypeAlias

from wstool.core.errors import HandshakeError, UsageError

__all__ = [
    "FIELD_VALUE_BAD",
    "OWS",
    "TCHARS",
    "TOKEN",
    "ExtensionOffer",
    "Headers",
    "format_extensions",
    "parse_extensions",
    "parse_list",
    "parse_subprotocols",
    "parse_token_list",
    "show",
]

#: ``(name, value)`` pairs in order, repeats and casing kept.
Headers: TypeAlias = list[tuple[str, str]]
#: One extension: ``(name, ((param, value or None), ...))``.
ExtensionOffer: TypeAlias = tuple[str, tuple[tuple[str, str | None], ...]]

#: The characters of a token (RFC 7230 §3.2.6), as a regular-expression class body.
TCHARS = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
#: A token (RFC 7230 §3.2.6).
TOKEN = re.compile(rf"[{TCHARS}]+")
#: Control characters a field value must not hold (HTAB is allowed).
FIELD_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
#: Optional whitespace (RFC 7230 §3.2.3).
OWS = " \t"
_SHOW_MAX = 80


def show(value: str) -> str:
    """Quote peer text for a one-line message: ``repr``, truncated.

    Args:
        value: text from the peer, or given by the user.

    Returns:
        ``repr(value)``, cut to about 80 characters with ``...``.
    """
    if len(value) > _SHOW_MAX:
        value = value[: _SHOW_MAX - 3] + "..."
    return repr(value)


def parse_list(
    values: Sequence[str], header: str, element: re.Pattern[str], what: str
) -> list[str]:
    """Split the ``#rule`` list of all lines of ``header`` (RFC 7230 §7).

    Args:
        values: every line of the header, in order (repeats are joined).
        header: the header's name, for error messages.
        element: the grammar each element must match in full.
        what: the element's name, for error messages (such as ``"token"``).

    Returns:
        The elements in order, empty elements skipped; ``[]`` if ``values`` is empty.

    Raises:
        HandshakeError: 400, if an element does not match or the list is empty.
    """
    text = ", ".join(values)
    items: list[str] = []
    for raw in text.split(","):
        item = raw.strip(OWS)
        # RFC 7230 §7: "a recipient MUST parse and ignore a reasonable number
        # of empty list elements"
        if not item:
            continue
        if not element.fullmatch(item):
            raise HandshakeError(
                f"{header} {show(text)}: {show(item)} is not a {what}", 400, header=header
            )
        items.append(item)
    if values and not items:
        raise HandshakeError(f"{header} {show(text)} is an empty list", 400, header=header)
    return items


def parse_token_list(values: Sequence[str], header: str) -> list[str]:
    """Parse a ``1#token`` header such as ``Connection`` (RFC 7230 §7).

    Args:
        values: every line of the header, in order (repeats are joined).
        header: the header's name, for error messages.

    Returns:
        The tokens in order, casing kept; ``[]`` if ``values`` is empty.

    Raises:
        HandshakeError: 400, if an element is not a token or the list is empty.
    """
    return parse_list(values, header, TOKEN, "token")


def parse_subprotocols(values: Sequence[str]) -> list[str]:
    """Parse ``Sec-WebSocket-Protocol`` lines (RFC 6455 §4.1, §11.3.4).

    Args:
        values: every line of the header, in order.

    Returns:
        The subprotocols in the client's order of preference.

    Raises:
        HandshakeError: 400, if an element is not a token, repeats, or the list is empty.
    """
    header = "Sec-WebSocket-Protocol"
    items = parse_token_list(values, header)
    # RFC 6455 §4.1: "The elements that comprise this value MUST be non-empty
    # strings ... and MUST all be unique strings."
    seen: set[str] = set()
    for item in items:
        if item in seen:
            raise HandshakeError(f"{header} offers {show(item)} twice", 400, header=header)
        seen.add(item)
    return items


class _Scanner:
    """A cursor over one ``Sec-WebSocket-Extensions`` value (RFC 6455 §9.1)."""

    header = "Sec-WebSocket-Extensions"

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> HandshakeError:
        return HandshakeError(f"{self.header} {show(self.text)}: {why}", 400, header=self.header)

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def skip_ows(self) -> None:
        while self.peek() in (" ", "\t"):
            self.pos += 1

    def token(self, what: str) -> str:
        match = TOKEN.match(self.text, self.pos)
        if match is None:
            found = self.peek() or "end of value"
            raise self.fail(f"expected {what} at offset {self.pos}, found {found!r}")
        self.pos = match.end()
        return match.group()

    def quoted(self) -> str:
        """Read a quoted-string (RFC 7230 §3.2.6) and return it unescaped."""
        start = self.pos
        self.pos += 1
        chars: list[str] = []
        while True:
            char = self.peek()
            if char == '"':
                self.pos += 1
                return "".join(chars)
            if char == "\\":
                self.pos += 1
                char = self.peek()
            if not char:
                raise self.fail(f"unterminated quoted-string at offset {start}")
            if FIELD_VALUE_BAD.match(char):
                raise self.fail(f"control character {char!r} in quoted-string")
            chars.append(char)
            self.pos += 1

    def param_value(self) -> str:
        if self.peek() != '"':
            return self.token("parameter value")
        value = self.quoted()
        # RFC 6455 §9.1: "When using the quoted-string syntax variant, the value
        # after quoted-string unescaping MUST conform to the 'token' ABNF."
        if not TOKEN.fullmatch(value):
            raise self.fail(f"quoted value {show(value)} is not a token")
        return value

    def extension(self) -> ExtensionOffer:
        name = self.token("extension name")
        params: list[tuple[str, str | None]] = []
        self.skip_ows()
        while self.peek() == ";":
            self.pos += 1
            self.skip_ows()
            param = self.token("parameter name")
            value: str | None = None
            self.skip_ows()
            if self.peek() == "=":
                self.pos += 1
                self.skip_ows()
                value = self.param_value()
                self.skip_ows()
            params.append((param, value))
        return name, tuple(params)


def parse_extensions(values: Sequence[str]) -> list[ExtensionOffer]:
    """Parse ``Sec-WebSocket-Extensions`` lines (RFC 6455 §9.1).

    Args:
        values: every line of the header, in order (repeats are joined).

    Returns:
        ``(name, ((param, value or None), ...))`` for each extension, in
        order; quoted parameter values come back unquoted.

    Raises:
        HandshakeError: 400, naming the offset, if the grammar is broken.
    """
    scanner = _Scanner(", ".join(values))
    offers: list[ExtensionOffer] = []
    while True:
        scanner.skip_ows()
        if not scanner.peek():
            break
        if scanner.peek() == ",":  # an empty list element
            scanner.pos += 1
            continue
        offers.append(scanner.extension())
        if not scanner.peek():
            break
        if scanner.peek() != ",":
            raise scanner.fail(f"expected ',' or ';' at offset {scanner.pos}")
        scanner.pos += 1
    if values and not offers:
        raise scanner.fail("no extension in the list")
    return offers


def format_extensions(exts: Sequence[ExtensionOffer]) -> str:
    """Write extensions as one ``Sec-WebSocket-Extensions`` value.

    Args:
        exts: the extensions, as :func:`parse_extensions` returns them.

    Returns:
        Such as ``"permessage-deflate; client_max_window_bits, x-foo; a=1"``.

    Raises:
        UsageError: if a name or value is not a token (§9.1 allows no other).
    """
    parts: list[str] = []
    for name, params in exts:
        words = [name]
        for param, value in params:
            words.append(param if value is None else f"{param}={value}")
        for word in (name, *(p for p, _ in params), *(v for _, v in params if v is not None)):
            if not TOKEN.fullmatch(word):
                raise UsageError(f"extension {show(name)}: {show(word)} is not a token")
        parts.append("; ".join(words))
    return ", ".join(parts)
