"""HTTP/1.1 heads as on the wire, for the opening handshake (RFC 7230 §3).

Sans-I/O and standard library only: parse a request or response head from
the bytes received so far, look its headers up by name, and write a head.

Parsing is strict, as a debugger must be more correct than its peer:

* Heads must use CRLF line endings: a bare LF or bare CR is rejected as soon
  as it is seen, rather than waiting for a CRLFCRLF that never comes. So are
  control bytes other than HTAB, a bad start line (before the head ends),
  obs-fold, whitespace before a colon, and a head over ``max_size`` (431).
* Header names keep their casing and repeats are kept in order; values are
  decoded as Latin-1 (lossless, so obs-text survives) with OWS stripped.
* Every error is a :class:`~wstool.core.errors.HandshakeError` with a
  one-line reason. For a request head its ``status`` is the status to answer
  with (400, 431); for a response head it is :data:`BAD_RESPONSE_STATUS`.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from wstool.core.errors import HandshakeError, UsageError
from wstool.core.headers import FIELD_VALUE_BAD, OWS, TCHARS, TOKEN, Headers, show

__all__ = [
    "BAD_RESPONSE_STATUS",
    "IndexedHeaders",
    "RequestHead",
    "ResponseHead",
    "encode_head",
    "header_value",
    "header_values",
    "http_1_1_or_later",
    "parse_request_head",
    "parse_response_head",
]

#: Status carried by errors about a response head that is not valid HTTP.
BAD_RESPONSE_STATUS = 502

_HTTP_VERSION = re.compile(r"HTTP/([0-9])\.([0-9])")
_REQUEST_LINE = re.compile(rb"([" + TCHARS.encode() + rb"]+) ([\x21-\x7e]+) (HTTP/[0-9]\.[0-9])")
_STATUS_LINE = re.compile(rb"(HTTP/[0-9]\.[0-9]) ([0-9]{3}) ([\t\x20-\x7e\x80-\xff]*)")
HEADER_BLOCK = re.compile(rf"(?:[{TCHARS}]+:[^\r\n]*\r\n)*")
# Controls other than HTAB, and CR or LF that are not part of a CRLF pair.
CONTROL_BYTES = bytes([*range(0x09), 0x0B, 0x0C, *range(0x0E, 0x20), 0x7F])
_BAD_BYTE = re.compile(rb"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f]|\r(?!\n)|(?<!\r)\n")


class IndexedHeaders(tuple[tuple[str, str], ...]):
    """Headers with their names indexed once, for the many lookups of one check."""

    by_name: dict[str, list[str]]

    def __new__(cls, headers: Sequence[tuple[str, str]]) -> IndexedHeaders:
        self = super().__new__(cls, headers)
        index: dict[str, list[str]] = {}
        for key, value in self:
            index.setdefault(key.lower(), []).append(value)
        self.by_name = index
        return self


def header_values(headers: Sequence[tuple[str, str]], name: str) -> list[str]:
    """Return each value of ``name`` (any casing), one per header line, in order.

    Args:
        headers: ``(name, value)`` pairs; an :class:`IndexedHeaders` is looked up in its index.
        name: the header's name.

    Returns:
        The values, possibly none.
    """
    wanted = name.lower()
    if type(headers) is IndexedHeaders:
        return list(headers.by_name.get(wanted, ()))
    return [value for key, value in headers if key.lower() == wanted]


def header_value(headers: Sequence[tuple[str, str]], name: str) -> str | None:
    """Return all values of ``name`` (any casing) joined by ``", "``, or None."""
    values = header_values(headers, name)
    return ", ".join(values) if values else None


class _HeaderLookup:
    """Case-insensitive header lookup for the heads below."""

    headers: Headers

    def get(self, name: str) -> str | None:
        """Return all values of ``name`` (any casing) joined by ``", "``, or None."""
        return header_value(self.headers, name)

    def get_all(self, name: str) -> list[str]:
        """Return each value of ``name`` (any casing), one per header line."""
        return header_values(self.headers, name)


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
    if len(data.translate(None, CONTROL_BYTES)) == len(data) and data.count(b"\r") == data.count(
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
        shown = show(line.decode("latin-1"))
        raise HandshakeError(f"{syntax.start_name} {shown} is malformed", syntax.bad_status)
    return match


def _parse_header_line(line: bytes, syntax: _HeadSyntax) -> tuple[str, str]:
    text = line.decode("latin-1")
    if text[:1] in (" ", "\t"):
        # RFC 7230 §3.2.4: a server "MUST either reject the message by sending a
        # 400 (Bad Request) ... or replace each received obs-fold with one or
        # more SP octets"; we reject it in both roles.
        raise HandshakeError(
            f"header line {show(text)} continues the previous one (obs-fold)", syntax.bad_status
        )
    name, colon, value = text.partition(":")
    if not colon:
        raise HandshakeError(f"header line {show(text)} has no colon", syntax.bad_status)
    if not TOKEN.fullmatch(name):
        # RFC 7230 §3.2.4: "A server MUST reject any received request message
        # that contains whitespace between a header field-name and colon with a
        # response code of 400 (Bad Request)."
        why = "has whitespace before the colon" if name.rstrip(OWS) != name else "is not a token"
        raise HandshakeError(
            f"header name {show(name)} {why}", syntax.bad_status, header=name or None
        )
    return name, value.strip(OWS)


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
    if HEADER_BLOCK.fullmatch(block):
        headers = [
            (name, value.strip(OWS))
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


def encode_head(start_line: str, headers: Sequence[tuple[str, str]]) -> bytes:
    """Serialize a head, refusing names and values that would break the framing.

    Args:
        start_line: the request or status line, without CRLF.
        headers: ``(name, value)`` pairs, written in order.

    Returns:
        The head through the blank line, Latin-1 encoded.

    Raises:
        UsageError: for a name that is not a token, a value with control
            characters or edge whitespace, or a character outside Latin-1.
    """
    lines = [start_line]
    for name, value in headers:
        if not TOKEN.fullmatch(name):
            raise UsageError(f"header name {show(name)} is not a token")
        if FIELD_VALUE_BAD.search(value) or value != value.strip(OWS):
            raise UsageError(f"{name} value {show(value)} has control characters or edge OWS")
        lines.append(f"{name}: {value}")
    try:
        return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1")
    except UnicodeEncodeError as exc:
        raise UsageError(f"head has a character outside Latin-1: {exc}") from None


def http_1_1_or_later(version: str) -> tuple[bool, int]:
    """Tell whether an HTTP version is 1.1 or a later 1.x.

    Args:
        version: such as ``"HTTP/1.1"``.

    Returns:
        ``(acceptable, major version)``; the major version is 0 if ``version``
        is not ``HTTP/<digit>.<digit>``.
    """
    match = _HTTP_VERSION.fullmatch(version)
    if match is None:
        return False, 0
    major, minor = int(match.group(1)), int(match.group(2))
    return major == 1 and minor >= 1, major
