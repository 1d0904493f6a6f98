"""The RFC 6455 opening handshake, for both roles (§1.3, §4, §9.1, §11.3).

Sans-I/O: functions take bytes or parsed heads and return bytes or values.
The key source is injected; nothing here reads a clock, a socket or global
randomness.

Parsing is strict, as a debugger must be more correct than its peer:

* Heads must use CRLF line endings: a bare LF or bare CR is rejected as soon
  as it is seen, rather than waiting for a CRLFCRLF that never comes. So are
  control bytes other than HTAB, a bad start line (before the head ends),
  obs-fold, whitespace before a colon, and a head over ``max_size`` (431).
* Header names keep their casing and repeats are kept in order; values are
  decoded as Latin-1 (lossless, so obs-text survives) with OWS stripped.
* Every error is a :class:`~wstool.core.errors.HandshakeError` with a
  one-line reason naming the header and (truncated, ``repr``-quoted) value.

On the server side the error's ``status`` is the status to answer with (400,
405, 426, 431, 505). On the client side it is the status the server
answered (so the CLI can say "server answered 200"), or 502 when the
response head itself was not valid HTTP.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import os
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from http import HTTPStatus
from typing import TypeAlias

from wstool.core.errors import HandshakeError, UsageError

__all__ = [
    "BAD_RESPONSE_STATUS",
    "GUID",
    "ClientRequest",
    "ExtensionOffer",
    "Headers",
    "RequestHead",
    "ResponseHead",
    "ServerAnswer",
    "accept_key",
    "build_rejection",
    "build_request",
    "build_response",
    "check_request",
    "check_response",
    "format_extensions",
    "generate_key",
    "parse_extensions",
    "parse_request_head",
    "parse_response_head",
    "parse_subprotocols",
    "parse_token_list",
    "select_subprotocol",
]

GUID = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

#: Status carried by errors about a response head that is not valid HTTP.
BAD_RESPONSE_STATUS = 502

Headers: TypeAlias = list[tuple[str, str]]
ExtensionOffer: TypeAlias = tuple[str, tuple[tuple[str, str | None], ...]]

_TCHARS = r"!#$%&'*+\-.^_`|~0-9A-Za-z"
_TOKEN = re.compile(rf"[{_TCHARS}]+")
_UPGRADE_PROTOCOL = re.compile(rf"[{_TCHARS}]+(?:/[{_TCHARS}]+)?")
_KEY = re.compile(r"[A-Za-z0-9+/]{22}==")
_VERSION = re.compile(r"0|[1-9][0-9]{0,2}")
_HTTP_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
_HOST = re.compile(r"(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9\-._~%!$&'()*+,;=]+)(?::[0-9]*)?")
_ORIGIN_FORM = re.compile(r"/[\x21-\x7e]*")
_ABSOLUTE_FORM = re.compile(r"[Hh][Tt][Tt][Pp][Ss]?://[\x21-\x7e]+")
_REQUEST_LINE = re.compile(rb"([" + _TCHARS.encode() + rb"]+) ([\x21-\x7e]+) (HTTP/[0-9]\.[0-9])")
_STATUS_LINE = re.compile(rb"(HTTP/[0-9]\.[0-9]) ([0-9]{3}) ([\t\x20-\x7e\x80-\xff]*)")
# Controls other than HTAB, and CR or LF that are not part of a CRLF pair.
_HEADER_BLOCK = re.compile(rf"(?:[{_TCHARS}]+:[^\r\n]*\r\n)*")
_CONTROLS = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_BAD_BYTE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n")
_FIELD_VALUE_BAD = re.compile(r"[\x00-\x08\x0a-\x1f\x7f]")
_OWS = " \t"
_SHOW_MAX = 80


def _show(value: str) -> str:
    """Quote peer text for a one-line message: ``repr``, truncated."""
    if len(value) > _SHOW_MAX:
        value = value[: _SHOW_MAX - 3] + "..."
    return repr(value)


# --- keys (§1.3, §4.1, §4.2.2) -------------------------------------------------


def generate_key(token_source: Callable[[int], bytes] = os.urandom) -> str:
    """Make a ``Sec-WebSocket-Key`` value.

    Args:
        token_source: returns that many random bytes; injected for tests.

    Returns:
        The base64 encoding of 16 bytes from ``token_source``.

    Raises:
        UsageError: if ``token_source`` did not return 16 bytes.
    """
    nonce = token_source(16)
    # RFC 6455 §4.1: "The value of this header field MUST be a nonce consisting
    # of a randomly selected 16-byte value that has been base64-encoded"
    if len(nonce) != 16:
        raise UsageError(f"key source returned {len(nonce)} bytes, not 16")
    return base64.b64encode(nonce).decode("ascii")


def accept_key(key: str) -> str:
    """Compute ``Sec-WebSocket-Accept`` for a ``Sec-WebSocket-Key`` (RFC 6455 §1.3).

    Args:
        key: the key exactly as sent (not base64-decoded).

    Returns:
        base64 of the SHA-1 of ``key`` followed by :data:`GUID`.

    Raises:
        UsageError: if ``key`` is not ASCII.
    """
    if not key.isascii():
        raise UsageError(f"Sec-WebSocket-Key {_show(key)} is not ASCII")
    digest = hashlib.sha1((key + GUID).encode("ascii")).digest()
    return base64.b64encode(digest).decode("ascii")


def _is_valid_key(key: str) -> bool:
    """Tell whether ``key`` is the canonical base64 encoding of 16 bytes."""
    if not _KEY.fullmatch(key):
        return False
    try:
        raw = base64.b64decode(key, validate=True)
    except binascii.Error:  # pragma: no cover - the regex already excludes this
        return False
    # Non-zero pad bits decode to 16 bytes too; canonical means it round-trips.
    return len(raw) == 16 and base64.b64encode(raw).decode("ascii") == key


# --- header grammar (RFC 7230 §3.2.6, §7; RFC 6455 §9.1, §11.3) ----------------


def _parse_list(
    values: Sequence[str], header: str, element: re.Pattern[str], what: str
) -> list[str]:
    """Split the ``#rule`` list of all lines of ``header``; each element must match."""
    text = ", ".join(values)
    items: list[str] = []
    for raw in text.split(","):
        item = raw.strip(_OWS)
        # RFC 7230 §7: "a recipient MUST parse and ignore a reasonable number
        # of empty list elements"
        if not item:
            continue
        if not element.fullmatch(item):
            raise HandshakeError(
                f"{header} {_show(text)}: {_show(item)} is not a {what}", 400, header=header
            )
        items.append(item)
    if values and not items:
        raise HandshakeError(f"{header} {_show(text)} is an empty list", 400, header=header)
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
    return _parse_list(values, header, _TOKEN, "token")


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
            raise HandshakeError(f"{header} offers {_show(item)} twice", 400, header=header)
        seen.add(item)
    return items


class _Scanner:
    """A cursor over one ``Sec-WebSocket-Extensions`` value (RFC 6455 §9.1)."""

    header = "Sec-WebSocket-Extensions"

    def __init__(self, text: str) -> None:
        self.text = text
        self.pos = 0

    def fail(self, why: str) -> HandshakeError:
        return HandshakeError(f"{self.header} {_show(self.text)}: {why}", 400, header=self.header)

    def peek(self) -> str:
        return self.text[self.pos : self.pos + 1]

    def skip_ows(self) -> None:
        while self.peek() in (" ", "\t"):
            self.pos += 1

    def token(self, what: str) -> str:
        match = _TOKEN.match(self.text, self.pos)
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
            if _FIELD_VALUE_BAD.match(char):
                raise self.fail(f"control character {char!r} in quoted-string")
            chars.append(char)
            self.pos += 1

    def param_value(self) -> str:
        if self.peek() != '"':
            return self.token("parameter value")
        value = self.quoted()
        # RFC 6455 §9.1: "When using the quoted-string syntax variant, the value
        # after quoted-string unescaping MUST conform to the 'token' ABNF."
        if not _TOKEN.fullmatch(value):
            raise self.fail(f"quoted value {_show(value)} is not a token")
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
            if not _TOKEN.fullmatch(word):
                raise UsageError(f"extension {_show(name)}: {_show(word)} is not a token")
        parts.append("; ".join(words))
    return ", ".join(parts)


# --- heads ---------------------------------------------------------------------------


class _IndexedHeaders(tuple[tuple[str, str], ...]):
    """Headers with their names indexed once, for the many lookups of one check."""

    by_name: dict[str, list[str]]

    def __new__(cls, headers: Sequence[tuple[str, str]]) -> _IndexedHeaders:
        self = super().__new__(cls, headers)
        index: dict[str, list[str]] = {}
        for key, value in self:
            index.setdefault(key.lower(), []).append(value)
        self.by_name = index
        return self


def _get_all(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    wanted = name.lower()
    if type(headers) is _IndexedHeaders:
        return list(headers.by_name.get(wanted, ()))
    return [value for key, value in headers if key.lower() == wanted]


def _get(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    values = _get_all(headers, name)
    return ", ".join(values) if values else None


class _HeaderLookup:
    """Case-insensitive header lookup for the heads below."""

    headers: Headers

    def get(self, name: str) -> str | None:
        """Return all values of ``name`` (any casing) joined by ``", "``, or None."""
        return _get(self.headers, name)

    def get_all(self, name: str) -> list[str]:
        """Return each value of ``name`` (any casing), one per header line."""
        return _get_all(self.headers, name)


@dataclass(frozen=True)
class RequestHead(_HeaderLookup):
    """An HTTP request head as received.

    Attributes:
        method: such as ``"GET"``.
        target: the request-target as sent, such as ``"/chat?x=1"``.
        version: such as ``"HTTP/1.1"``.
        headers: ``(name, value)`` in order, repeats and casing kept.
        raw: the head exactly as received, through the blank line.
    """

    method: str
    target: str
    version: str
    headers: Headers
    raw: bytes


@dataclass(frozen=True)
class ResponseHead(_HeaderLookup):
    """An HTTP response head as received.

    Attributes:
        version: such as ``"HTTP/1.1"``.
        status: such as 101.
        reason: the reason phrase, possibly empty.
        headers: ``(name, value)`` in order, repeats and casing kept.
        raw: the head exactly as received, through the blank line.
    """

    version: str
    status: int
    reason: str
    headers: Headers
    raw: bytes


@dataclass(frozen=True)
class _HeadSyntax:
    """What differs between parsing a request head and a response head."""

    kind: str
    start: re.Pattern[bytes]
    start_name: str
    bad_status: int
    too_big_status: int


_REQUEST = _HeadSyntax("request", _REQUEST_LINE, "request line", 400, 431)
_RESPONSE = _HeadSyntax(
    "response", _STATUS_LINE, "status line", BAD_RESPONSE_STATUS, BAD_RESPONSE_STATUS
)


def _check_bytes(data: bytes, syntax: _HeadSyntax) -> None:
    """Reject control bytes and line endings other than CRLF."""
    if len(data.translate(None, _CONTROLS)) == len(data) and data.count(b"\r") == data.count(
        b"\n"
    ) == data.count(b"\r\n"):
        return  # the common case, without the slower search below
    bad = _BAD_BYTE.search(data)
    if bad is None:
        return
    byte, offset = bad.group()[0], bad.start()
    hint = ""
    if byte == 0x0A:
        # Strict on purpose: RFC 7230 §3.5 only allows (MAY) accepting bare LF.
        why, hint = "a bare LF", " (lines must end with CRLF)"
    elif byte == 0x0D:
        # RFC 7230 §3.5: "A recipient of such a bare CR MUST consider that
        # element to be invalid or replace each bare CR with SP"
        why = "a bare CR"
    else:
        why = f"control byte 0x{byte:02x}"
        if byte == 0x16 and offset == 0:
            hint = " (TLS sent to a plain-text port?)"
    raise HandshakeError(
        f"{syntax.kind} head has {why} at offset {offset}{hint}", syntax.bad_status
    )


def _match_start(line: bytes, syntax: _HeadSyntax) -> re.Match[bytes]:
    match = syntax.start.fullmatch(line)
    if match is None:
        shown = _show(line.decode("latin-1"))
        raise HandshakeError(f"{syntax.start_name} {shown} is malformed", syntax.bad_status)
    return match


def _parse_header_line(line: bytes, syntax: _HeadSyntax) -> tuple[str, str]:
    text = line.decode("latin-1")
    if text[:1] in (" ", "\t"):
        # RFC 7230 §3.2.4: a server "MUST either reject the message by sending a
        # 400 (Bad Request) ... or replace each received obs-fold with one or
        # more SP octets"; we reject it in both roles.
        raise HandshakeError(
            f"header line {_show(text)} continues the previous one (obs-fold)", syntax.bad_status
        )
    name, colon, value = text.partition(":")
    if not colon:
        raise HandshakeError(f"header line {_show(text)} has no colon", syntax.bad_status)
    if not _TOKEN.fullmatch(name):
        # RFC 7230 §3.2.4: "A server MUST reject any received request message
        # that contains whitespace between a header field-name and colon with a
        # response code of 400 (Bad Request)."
        why = "has whitespace before the colon" if name.rstrip(_OWS) != name else "is not a token"
        raise HandshakeError(
            f"header name {_show(name)} {why}", syntax.bad_status, header=name or None
        )
    return name, value.strip(_OWS)


def _split_head(
    data: bytes, max_size: int, syntax: _HeadSyntax
) -> tuple[re.Match[bytes], Headers, bytes] | None:
    """Find, check and split the head at the start of ``data``, or None if incomplete."""
    end = data.find(b"\r\n\r\n", 0, max_size)
    if end < 0:
        seen = data[:max_size]
        _check_bytes(seen[:-1] if seen.endswith(b"\r") else seen, syntax)
        first = seen.find(b"\r\n")
        if first >= 0:  # fail early on a bad start line
            _match_start(seen[:first], syntax)
        if len(data) >= max_size:
            raise HandshakeError(
                f"{syntax.kind} head is larger than {max_size} bytes", syntax.too_big_status
            )
        return None
    raw = bytes(data[: end + 4])
    _check_bytes(raw, syntax)
    first = raw.find(b"\r\n")
    start = _match_start(raw[:first], syntax)
    # Each header line with its CRLF; the common case, every line well formed,
    # is checked by one regular expression, and only a bad head is gone
    # through line by line to say what is wrong with it.
    block = raw[first + 2 : end + 2].decode("latin-1")
    if _HEADER_BLOCK.fullmatch(block):
        headers = [
            (name, value.strip(_OWS))
            for name, _, value in (line.partition(":") for line in block.split("\r\n")[:-1])
        ]
    else:
        lines = raw[:end].split(b"\r\n")
        headers = [_parse_header_line(line, syntax) for line in lines[1:]]
    return start, headers, raw


def parse_request_head(data: bytes, *, max_size: int = 16384) -> tuple[RequestHead, int] | None:
    """Parse the HTTP request head at the start of ``data``.

    Call again with more bytes while it returns None. Bytes right behind the
    head (a client may send frames at once) are not consumed.

    Args:
        data: everything received so far.
        max_size: the largest head accepted, blank line included.

    Returns:
        ``(head, bytes consumed)``, or None while the head is incomplete.

    Raises:
        HandshakeError: 431 if the head is larger than ``max_size``; 400 if it
            is malformed (as soon as that is visible, even before it ends).
    """
    split = _split_head(data, max_size, _REQUEST)
    if split is None:
        return None
    start, headers, raw = split
    method, target, version = (part.decode("ascii") for part in start.groups())
    return RequestHead(method, target, version, headers, raw), len(raw)


def parse_response_head(data: bytes, *, max_size: int = 16384) -> tuple[ResponseHead, int] | None:
    """Parse the HTTP response head at the start of ``data``.

    Call again with more bytes while it returns None. Bytes right behind the
    head (a server may send frames at once) are not consumed.

    Args:
        data: everything received so far.
        max_size: the largest head accepted, blank line included.

    Returns:
        ``(head, bytes consumed)``, or None while the head is incomplete.

    Raises:
        HandshakeError: with status :data:`BAD_RESPONSE_STATUS` (502) if the
            head is malformed or larger than ``max_size``.
    """
    split = _split_head(data, max_size, _RESPONSE)
    if split is None:
        return None
    start, headers, raw = split
    version, status, reason = start.groups()
    head = ResponseHead(
        version.decode("ascii"), int(status), reason.decode("latin-1"), headers, raw
    )
    return head, len(raw)


def _encode_head(start_line: str, headers: Sequence[tuple[str, str]]) -> bytes:
    """Serialize a head, refusing names and values that would break the framing."""
    lines = [start_line]
    for name, value in headers:
        if not _TOKEN.fullmatch(name):
            raise UsageError(f"header name {_show(name)} is not a token")
        if _FIELD_VALUE_BAD.search(value) or value != value.strip(_OWS):
            raise UsageError(f"{name} value {_show(value)} has control characters or edge OWS")
        lines.append(f"{name}: {value}")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError as exc:
        raise UsageError(f"head has a character outside Latin-1: {exc}") from None


def _http_1_1_or_later(version: str) -> tuple[bool, int]:
    """Return (acceptable, major version) for a version such as ``"HTTP/1.1"``."""
    match = _HTTP_VERSION.fullmatch(version)
    if match is None:
        return False, 0
    major, minor = int(match.group(1)), int(match.group(2))
    return major == 1 and minor >= 1, major


# --- server side (§4.2) -----------------------------------------------------------


@dataclass(frozen=True)
class ClientRequest:
    """What a server learned from a valid upgrade request (RFC 6455 §4.2.1).

    Attributes:
        key: ``Sec-WebSocket-Key``, as sent.
        subprotocols: offered subprotocols, in the client's order of preference.
        extensions: offered extensions, in the client's order.
        origin: ``Origin``, if sent.
        host: ``Host``, as sent.
        target: the request-target, as sent.
    """

    key: str
    subprotocols: tuple[str, ...]
    extensions: tuple[ExtensionOffer, ...]
    origin: str | None
    host: str
    target: str


def _once(headers: Sequence[tuple[str, str]], name: str, section: str) -> str | None:
    """Return the single value of ``name``, None if absent; 400 if repeated."""
    values = _get_all(headers, name)
    if len(values) > 1:
        raise HandshakeError(
            f"{name} appears {len(values)} times; {section} allows one", 400, header=name
        )
    return values[0] if values else None


def _check_request_line(method: str, target: str, version: str) -> None:
    # RFC 6455 §4.1: "The method of the request MUST be GET, and the HTTP
    # version MUST be at least 1.1."
    if method != "GET":
        # RFC 7231 §6.5.5: "The origin server MUST generate an Allow header
        # field in a 405 response"
        raise HandshakeError(f"method {_show(method)} is not GET", 405, headers=(("Allow", "GET"),))
    ok, major = _http_1_1_or_later(version)
    if not ok:
        status = 505 if major > 1 else 400
        raise HandshakeError(f"{_show(version)}: WebSocket needs HTTP/1.1", status)
    if not (_ORIGIN_FORM.fullmatch(target) or _ABSOLUTE_FORM.fullmatch(target)):
        raise HandshakeError(f"request target {_show(target)} is not a /path or http(s) URI")
    # RFC 6455 §3: "Fragment identifiers are meaningless in the context of
    # WebSocket URIs and MUST NOT be used on these URIs."
    if "#" in target:
        raise HandshakeError(f"request target {_show(target)} has a fragment")


def _check_host(headers: Sequence[tuple[str, str]]) -> str:
    # RFC 7230 §5.4: "A server MUST respond with a 400 (Bad Request) status code
    # to any HTTP/1.1 request message that lacks a Host header field and to any
    # request message that contains more than one Host header field or a Host
    # header field with an invalid field-value."
    host = _once(headers, "Host", "RFC 7230 §5.4")
    if host is None:
        raise HandshakeError("Host header is missing", 400, header="Host")
    if not _HOST.fullmatch(host):
        raise HandshakeError(f"Host {_show(host)} is not host[:port]", 400, header="Host")
    return host


def _check_upgrade_headers(headers: Sequence[tuple[str, str]]) -> None:
    upgrade = _get_all(headers, "Upgrade")
    if not upgrade:
        raise HandshakeError(
            "Upgrade header is missing (a plain HTTP request, not a WebSocket upgrade)",
            400,
            header="Upgrade",
        )
    protocols = _parse_list(upgrade, "Upgrade", _UPGRADE_PROTOCOL, "protocol")
    # RFC 6455 §4.2.1: "An |Upgrade| header field containing the value
    # "websocket", treated as an ASCII case-insensitive value."
    if "websocket" not in (p.lower() for p in protocols):
        shown = _show(", ".join(upgrade))
        raise HandshakeError(f"Upgrade {shown} does not contain 'websocket'", header="Upgrade")
    connection = _get_all(headers, "Connection")
    if not connection:
        raise HandshakeError("Connection header is missing", 400, header="Connection")
    options = parse_token_list(connection, "Connection")
    # RFC 6455 §4.2.1: "A |Connection| header field that includes the token
    # "Upgrade", treated as an ASCII case-insensitive value."
    if "upgrade" not in (o.lower() for o in options):
        shown = _show(", ".join(connection))
        raise HandshakeError(f"Connection {shown} does not contain 'Upgrade'", header="Connection")


def _check_version(headers: Sequence[tuple[str, str]]) -> None:
    name = "Sec-WebSocket-Version"
    ours = ((name, "13"),)
    values = _get_all(headers, name)
    # RFC 6455 §4.2.2: "the server MUST abort the WebSocket handshake ... and
    # instead send an appropriate HTTP error code (such as 426 Upgrade Required)
    # and a |Sec-WebSocket-Version| header field indicating the version(s) the
    # server is capable of understanding."  RFC 7231 §6.5.15: "The server MUST
    # send an Upgrade header field in a 426 response"
    upgrade_required = (("Upgrade", "websocket"), *ours)
    if not values:
        raise HandshakeError(
            f"{name} header is missing; this server speaks 13",
            426,
            header=name,
            headers=upgrade_required,
        )
    # RFC 6455 §11.3.5: "the |Sec-WebSocket-Version| header field MUST NOT
    # appear more than once in an HTTP request."
    if len(values) > 1:
        raise HandshakeError(
            f"{name} appears {len(values)} times; RFC 6455 §11.3.5 allows one",
            400,
            header=name,
            headers=ours,
        )
    version = values[0]
    if not _VERSION.fullmatch(version) or int(version) > 255:
        raise HandshakeError(
            f"{name} {_show(version)} is not a version number (0-255, no leading zeros)",
            400,
            header=name,
            headers=ours,
        )
    if version != "13":
        raise HandshakeError(
            f"{name} {_show(version)} is not supported; this server speaks 13",
            426,
            header=name,
            headers=upgrade_required,
        )


def _check_key(headers: Sequence[tuple[str, str]]) -> str:
    name = "Sec-WebSocket-Key"
    # RFC 6455 §11.3.1: "The |Sec-WebSocket-Key| header field MUST NOT appear
    # more than once in an HTTP request."
    key = _once(headers, name, "RFC 6455 §11.3.1")
    if key is None:
        raise HandshakeError(f"{name} header is missing", 400, header=name)
    # RFC 6455 §4.2.1: "A |Sec-WebSocket-Key| header field with a
    # base64-encoded ... value that, when decoded, is 16 bytes in length."
    if not _is_valid_key(key):
        raise HandshakeError(f"{name} {_show(key)} is not base64 of 16 bytes", 400, header=name)
    return key


def _check_no_body(headers: Sequence[tuple[str, str]]) -> None:
    # Bytes after the head are WebSocket frames; a request body would be
    # mistaken for them, so an upgrade request must not announce one.
    if _get_all(headers, "Transfer-Encoding"):
        raise HandshakeError(
            "Transfer-Encoding on an upgrade request (a body would be read as frames)",
            header="Transfer-Encoding",
        )
    for length in _get_all(headers, "Content-Length"):
        if length != "0":
            raise HandshakeError(
                f"Content-Length {_show(length)} on an upgrade request (must be 0 or absent)",
                header="Content-Length",
            )


def check_request(
    method: str, target: str, headers: Sequence[tuple[str, str]], *, version: str = "HTTP/1.1"
) -> ClientRequest:
    """Check an upgrade request against every rule of RFC 6455 §4.2.1.

    Args:
        method: the request method.
        target: the request-target, as sent.
        headers: ``(name, value)`` pairs in order, repeats kept.
        version: the request's HTTP version, such as ``"HTTP/1.1"``.

    Returns:
        What the client asked for.

    Raises:
        HandshakeError: the first problem found, with the status to answer:
            405 (with ``Allow: GET``) for a method other than GET; 505 for
            HTTP/2 or later, 400 for HTTP/1.0; 400 for the
            target, ``Host``, ``Upgrade``, ``Connection``, a request body,
            ``Sec-WebSocket-Key``, a repeated ``Origin``, and the grammar of
            ``Sec-WebSocket-Protocol`` or ``-Extensions``; 426 (with
            ``Upgrade: websocket`` and ``Sec-WebSocket-Version: 13``) when
            ``Sec-WebSocket-Version`` is missing or not 13, but 400 (with
            ``Sec-WebSocket-Version: 13``) when it is repeated or not a number.
    """
    # RFC 6455 §4.2.1: "the server MUST stop processing the client's handshake
    # and return an HTTP response with an appropriate error code (such as 400
    # Bad Request)." Each check below raises at the first violation.
    _check_request_line(method, target, version)
    headers = _IndexedHeaders(headers)
    host = _check_host(headers)
    _check_upgrade_headers(headers)
    _check_no_body(headers)
    _check_version(headers)
    key = _check_key(headers)
    origin = _once(headers, "Origin", "RFC 6454 §7")
    subprotocols = parse_subprotocols(_get_all(headers, "Sec-WebSocket-Protocol"))
    extensions = parse_extensions(_get_all(headers, "Sec-WebSocket-Extensions"))
    return ClientRequest(key, tuple(subprotocols), tuple(extensions), origin, host, target)


def select_subprotocol(offered: Sequence[str], supported: Sequence[str]) -> str | None:
    """Pick the first subprotocol the client offers that we support.

    The client lists subprotocols "ordered by preference" (RFC 6455 §4.2.1),
    so its order wins over ours. Comparison is exact (case-sensitive).

    Args:
        offered: the client's subprotocols, in its order.
        supported: the subprotocols this server speaks.

    Returns:
        The chosen subprotocol, or None if there is none in common.
    """
    return next((name for name in offered if name in supported), None)


def build_response(
    request: ClientRequest,
    *,
    subprotocol: str | None = None,
    extensions: Sequence[ExtensionOffer] = (),
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """Build the ``101 Switching Protocols`` response (RFC 6455 §4.2.2).

    Args:
        request: the checked request.
        subprotocol: the subprotocol chosen, which the client must have offered.
        extensions: the extensions accepted, with the parameters answered.
        extra_headers: appended as given, after ours (duplicates allowed, so a
            debugger can send odd responses on purpose).

    Returns:
        The response head, through the blank line.

    Raises:
        UsageError: for a subprotocol or extension the client did not offer, or
            a header that cannot be written.
    """
    # RFC 6455 §4.2.2: the server's subprotocol "MUST be derived from the values
    # in the client's handshake, specifically by selecting one of the values
    # from the |Sec-WebSocket-Protocol| field".
    if subprotocol is not None and subprotocol not in request.subprotocols:
        offered = ", ".join(request.subprotocols) or "none"
        raise UsageError(f"subprotocol {_show(subprotocol)} was not offered (offered: {offered})")
    offered_names = {name for name, _ in request.extensions}
    for name, _ in extensions:
        if name not in offered_names:
            raise UsageError(f"extension {_show(name)} was not offered by the client")
    headers = [
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Accept", accept_key(request.key)),
    ]
    if subprotocol is not None:
        headers.append(("Sec-WebSocket-Protocol", subprotocol))
    if extensions:
        headers.append(("Sec-WebSocket-Extensions", format_extensions(extensions)))
    headers.extend(extra_headers)
    return _encode_head("HTTP/1.1 101 Switching Protocols", headers)


def build_rejection(error: HandshakeError) -> bytes:
    """Build the full HTTP error response for a refused handshake.

    Args:
        error: the refusal; its ``status``, ``headers`` and ``reason`` are used.

    Returns:
        Status line, ``Content-Type: text/plain; charset=utf-8``,
        ``Content-Length``, ``Connection: close``, the error's headers, and a
        one-line body: the reason and a newline.

    Raises:
        UsageError: if the status is not 4xx or 5xx.
    """
    if not 400 <= error.status <= 599:
        raise UsageError(f"status {error.status} is not an error status")
    try:
        phrase = HTTPStatus(error.status).phrase
    except ValueError:
        phrase = "Error"
    body = (" ".join(error.reason.splitlines()) + "\n").encode("utf-8")
    connection = "close"
    if any(name.lower() == "upgrade" for name, _ in error.headers):
        # RFC 7230 §6.7: "When Upgrade is sent, the sender MUST also send a
        # Connection header field ... that contains an "upgrade" connection option"
        connection = "Upgrade, close"
    headers = [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(body))),
        ("Connection", connection),
        *error.headers,
    ]
    return _encode_head(f"HTTP/1.1 {error.status} {phrase}", headers) + body


# --- client side (§4.1) -----------------------------------------------------------


def build_request(
    host: str,
    target: str,
    *,
    key: str,
    subprotocols: Sequence[str] = (),
    extensions: Sequence[ExtensionOffer] = (),
    origin: str | None = None,
    extra_headers: Sequence[tuple[str, str]] = (),
) -> bytes:
    """Build the client's upgrade request (RFC 6455 §4.1).

    Args:
        host: the ``Host`` value; the caller adds ``:port`` when it is not the
            default and brackets an IPv6 address.
        target: the resource name, such as ``"/chat?room=1"``.
        key: from :func:`generate_key`.
        subprotocols: offered, in order of preference.
        extensions: offered, in order of preference.
        origin: the ``Origin`` value, if any.
        extra_headers: appended as given, after ours.

    Returns:
        The request head, through the blank line.

    Raises:
        UsageError: if an argument would make an invalid request.
    """
    if not _HOST.fullmatch(host):
        raise UsageError(f"host {_show(host)} is not host[:port]")
    if not _ORIGIN_FORM.fullmatch(target) or "#" in target:
        raise UsageError(f"target {_show(target)} is not a /path without a fragment")
    if not _is_valid_key(key):
        raise UsageError(f"key {_show(key)} is not base64 of 16 bytes")
    for name in subprotocols:
        if not _TOKEN.fullmatch(name):
            raise UsageError(f"subprotocol {_show(name)} is not a token")
    if len(set(subprotocols)) != len(subprotocols):
        raise UsageError(f"subprotocols {list(subprotocols)} repeat")
    headers = [
        ("Host", host),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", key),
        ("Sec-WebSocket-Version", "13"),
    ]
    if origin is not None:
        headers.append(("Origin", origin))
    if subprotocols:
        headers.append(("Sec-WebSocket-Protocol", ", ".join(subprotocols)))
    if extensions:
        headers.append(("Sec-WebSocket-Extensions", format_extensions(extensions)))
    headers.extend(extra_headers)
    return _encode_head(f"GET {target} HTTP/1.1", headers)


@dataclass(frozen=True)
class ServerAnswer:
    """What the server agreed to in a valid 101 response.

    Attributes:
        subprotocol: the subprotocol chosen, or None.
        extensions: the extensions accepted, with the server's parameters.
    """

    subprotocol: str | None
    extensions: tuple[ExtensionOffer, ...]


def _restatus(status: int, parse: Callable[[], list[str]]) -> list[str]:
    """Run a header parser, giving its errors the status the server answered."""
    try:
        return parse()
    except HandshakeError as exc:
        raise HandshakeError(exc.reason, status, header=exc.header) from None


def _check_response_upgrade(head: ResponseHead) -> None:
    status = head.status
    upgrade = head.get_all("Upgrade")
    # RFC 6455 §4.1: "If the response lacks an |Upgrade| header field or the
    # |Upgrade| header field contains a value that is not an ASCII
    # case-insensitive match for the value "websocket", the client MUST _Fail
    # the WebSocket Connection_."
    if not upgrade:
        raise HandshakeError("Upgrade header is missing", status, header="Upgrade")
    items = _restatus(
        status, lambda: _parse_list(upgrade, "Upgrade", _UPGRADE_PROTOCOL, "protocol")
    )
    if [item.lower() for item in items] != ["websocket"]:
        shown = _show(", ".join(upgrade))
        raise HandshakeError(f"Upgrade {shown} is not 'websocket'", status, header="Upgrade")
    connection = head.get_all("Connection")
    # RFC 6455 §4.1: "If the response lacks a |Connection| header field or the
    # |Connection| header field doesn't contain a token that is an ASCII
    # case-insensitive match for the value "Upgrade", the client MUST _Fail the
    # WebSocket Connection_."
    if not connection:
        raise HandshakeError("Connection header is missing", status, header="Connection")
    options = _restatus(status, lambda: parse_token_list(connection, "Connection"))
    if "upgrade" not in (o.lower() for o in options):
        shown = _show(", ".join(connection))
        raise HandshakeError(
            f"Connection {shown} does not contain 'Upgrade'", status, header="Connection"
        )


def _check_accept(head: ResponseHead, key: str) -> None:
    name = "Sec-WebSocket-Accept"
    values = head.get_all(name)
    if not values:
        raise HandshakeError(f"{name} header is missing", head.status, header=name)
    # RFC 6455 §11.3.3: "The |Sec-WebSocket-Accept| header field MUST NOT appear
    # more than once in an HTTP response."
    if len(values) > 1:
        raise HandshakeError(
            f"{name} appears {len(values)} times; RFC 6455 §11.3.3 allows one",
            head.status,
            header=name,
        )
    expected = accept_key(key)
    # RFC 6455 §4.1: if it "contains a value other than the base64-encoded SHA-1
    # of the concatenation of the |Sec-WebSocket-Key| ... with the string
    # "258EAFA5-E914-47DA-95CA-C5AB0DC85B11" but ignoring any leading and
    # trailing whitespace, the client MUST _Fail the WebSocket Connection_."
    # (Header parsing already stripped the whitespace.)
    if values[0] != expected:
        raise HandshakeError(
            f"{name} {_show(values[0])} does not match key {key!r} (expected {expected!r})",
            head.status,
            header=name,
        )


def _check_answered_subprotocol(head: ResponseHead, offered: Sequence[str]) -> str | None:
    name = "Sec-WebSocket-Protocol"
    values = head.get_all(name)
    if not values:
        return None
    # RFC 6455 §11.3.4: "the |Sec-WebSocket-Protocol| header field MUST NOT
    # appear more than once in an HTTP response."
    items = _restatus(head.status, lambda: parse_token_list(values, name))
    if len(values) > 1 or len(items) != 1:
        shown = _show(", ".join(values))
        raise HandshakeError(
            f"{name} {shown} must name exactly one subprotocol", head.status, header=name
        )
    # RFC 6455 §4.1: if it "indicates the use of a subprotocol that was not
    # present in the client's handshake ..., the client MUST _Fail the WebSocket
    # Connection_."
    if items[0] not in offered:
        shown_offer = ", ".join(offered) or "none"
        raise HandshakeError(
            f"{name} {_show(items[0])} was not offered (offered: {shown_offer})",
            head.status,
            header=name,
        )
    return items[0]


def _check_answered_extensions(
    head: ResponseHead, offered: Sequence[ExtensionOffer]
) -> tuple[ExtensionOffer, ...]:
    name = "Sec-WebSocket-Extensions"
    try:
        answered = parse_extensions(head.get_all(name))
    except HandshakeError as exc:
        raise HandshakeError(exc.reason, head.status, header=name) from None
    offered_names = {ext_name for ext_name, _ in offered}
    for ext_name, _ in answered:
        # RFC 6455 §4.1: if it "indicates the use of an extension that was not
        # present in the client's handshake ..., the client MUST _Fail the
        # WebSocket Connection_."
        if ext_name not in offered_names:
            raise HandshakeError(
                f"{name} accepts {_show(ext_name)}, which the client did not offer",
                head.status,
                header=name,
            )
    return tuple(answered)


def check_response(
    head: ResponseHead,
    *,
    key: str,
    subprotocols: Sequence[str] = (),
    extensions: Sequence[ExtensionOffer] = (),
) -> ServerAnswer:
    """Check the server's response against RFC 6455 §4.1.

    Extensions are matched by name only: the server may answer different
    parameters, which the extension itself (such as permessage-deflate) checks.

    Args:
        head: the parsed response head.
        key: the ``Sec-WebSocket-Key`` we sent.
        subprotocols: the subprotocols we offered.
        extensions: the extensions we offered.

    Returns:
        The subprotocol and extensions the server chose.

    Raises:
        HandshakeError: with ``status`` = the status the server answered and a
            reason naming what is wrong: not 101, not HTTP/1.1, ``Upgrade``,
            ``Connection``, ``Sec-WebSocket-Accept``, or a subprotocol or
            extension we did not offer.
    """
    # RFC 6455 §4.1: "If the status code received from the server is not 101,
    # the client handles the response per HTTP [RFC2616] procedures."
    if head.status != 101:
        raise HandshakeError(
            f"server answered {head.status} {_show(head.reason)}, not 101 Switching Protocols",
            head.status,
        )
    if not _http_1_1_or_later(head.version)[0]:
        raise HandshakeError(f"server answered in {head.version}, not HTTP/1.1", head.status)
    _check_response_upgrade(head)
    _check_accept(head, key)
    subprotocol = _check_answered_subprotocol(head, subprotocols)
    answered = _check_answered_extensions(head, extensions)
    return ServerAnswer(subprotocol, answered)
