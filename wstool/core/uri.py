"""WebSocket URIs (RFC 6455 §3): ``ws://`` and ``wss://`` with host, port and resource."""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from wstool.core.errors import UsageError

__all__ = ["WebSocketURI", "parse_uri"]


@dataclass(frozen=True)
class WebSocketURI:
    """A parsed ws:// or wss:// URI.

    Attributes:
        secure: ``wss``.
        host: the host name or address, IPv6 without brackets.
        port: the port (80 or 443 when the URI has none).
        resource: path and query, as sent in the request line.
        user: the userinfo's user, if any (for Basic auth).
        password: the userinfo's password, if any.
        converted_from: ``"http"`` or ``"https"`` when the URI was given with
            that scheme and taken as ``ws``/``wss``; ``None`` for ws/wss.
    """

    secure: bool
    host: str
    port: int
    resource: str
    user: str | None = None
    password: str | None = None
    converted_from: str | None = None

    @property
    def default_port(self) -> bool:
        """Whether the port is the scheme's default."""
        return self.port == (443 if self.secure else 80)

    @property
    def host_header(self) -> str:
        """The Host header value: brackets around IPv6, the port unless default."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        return host if self.default_port else f"{host}:{self.port}"

    @property
    def scheme_note(self) -> str | None:
        """``http:// taken as ws://`` (or its https twin) when the scheme was converted."""
        if self.converted_from is None:
            return None
        return f"{self.converted_from}:// taken as {'wss' if self.secure else 'ws'}://"

    def __str__(self) -> str:
        return f"{'wss' if self.secure else 'ws'}://{self.host_header}{self.resource}"


def parse_uri(text: str) -> WebSocketURI:
    """Parse a WebSocket URI; ``http://`` and ``https://`` are accepted as their ws twins.

    The scheme given is kept in ``converted_from`` for those two, so that the
    caller can say ``http:// taken as ws://``.

    Raises:
        UsageError: with one line saying what is wrong with the URI.
    """
    try:
        parts = urlsplit(text.strip())
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"{text!r} is not a valid URI: {exc}") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("ws", "wss", "http", "https"):
        hint = "" if "//" in text else f" (did you mean ws://{text.strip()}?)"
        raise UsageError(f"{text!r} is not a ws:// or wss:// URI{hint}")
    # RFC 6455 §3: "Fragment identifiers are meaningless in the context of
    # WebSocket URIs and MUST NOT be used on these URIs."
    if parts.fragment or text.rstrip().endswith("#"):
        raise UsageError(f"{text!r} has a fragment (#...), which a WebSocket URI may not have")
    host = parts.hostname
    if not host:
        raise UsageError(f"{text!r} has no host")
    secure = scheme in ("wss", "https")
    resource = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return WebSocketURI(
        secure=secure,
        host=host,
        port=port if port is not None else (443 if secure else 80),
        resource=resource,
        user=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        converted_from=scheme if scheme in ("http", "https") else None,
    )
