"""The errors of wstool's codec, each carrying its remedy.

A peer's fault knows the close code to fail the connection with
(:class:`ProtocolError` and subclasses); a handshake fault knows the HTTP
status a server should answer with (:class:`HandshakeError`); misuse of the
API by our own code is a :class:`UsageError`. Only the CLI turns these into
exit statuses.
"""

from __future__ import annotations

__all__ = [
    "DecompressionError",
    "HandshakeError",
    "PayloadTooBig",
    "ProtocolError",
    "UsageError",
    "WstoolError",
]

# Close codes as plain ints here to keep this module free of imports; the
# enum with names is wstool.core.frames.CloseCode.
_PROTOCOL_ERROR = 1002
_INVALID_DATA = 1007
_MESSAGE_TOO_BIG = 1009


class WstoolError(Exception):
    """Base class of every error wstool raises on purpose."""


class UsageError(WstoolError):
    """Our own code asked for something impossible (a local bug or bad input)."""


class ProtocolError(WstoolError):
    """The peer broke RFC 6455 or RFC 7692; the connection fails with ``close_code``.

    Args:
        reason: one line naming the rule that was broken.
        close_code: the close code to send (RFC 6455 §7.4.1).
        section: the RFC section of the rule, such as ``"RFC 6455 §5.2"``.
        offset: byte offset in the stream where the fault was seen, if known.
    """

    def __init__(
        self,
        reason: str,
        close_code: int = _PROTOCOL_ERROR,
        *,
        section: str = "",
        offset: int | None = None,
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.close_code = close_code
        self.section = section
        self.offset = offset


class PayloadTooBig(ProtocolError):
    """A declared or inflated size is over a configured limit (close code 1009).

    Args:
        reason: what was too big, and the limit.
        offset: byte offset of the frame that declared the size, if known.
    """

    def __init__(self, reason: str, *, offset: int | None = None) -> None:
        super().__init__(reason, _MESSAGE_TOO_BIG, section="RFC 6455 §7.4.1", offset=offset)


class DecompressionError(ProtocolError):
    """A permessage-deflate payload could not be inflated (close code 1007).

    Args:
        reason: what the inflater said.
    """

    def __init__(self, reason: str) -> None:
        super().__init__(reason, _INVALID_DATA, section="RFC 7692 §7.2.2")


class HandshakeError(WstoolError):
    """The opening handshake is not acceptable.

    Args:
        reason: one line naming the bad header or value.
        status: the HTTP status a server should answer with (400, 403, 426 ...).
        header: the name of the offending header, if one is to blame.
        headers: extra headers for the error response, such as
            ``("Sec-WebSocket-Version", "13")`` with a 426.
    """

    def __init__(
        self,
        reason: str,
        status: int = 400,
        *,
        header: str | None = None,
        headers: tuple[tuple[str, str], ...] = (),
    ) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status
        self.header = header
        self.headers = headers
