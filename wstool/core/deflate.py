"""permessage-deflate (RFC 7692): negotiation and the per-message codec.

Negotiation works on extension elements already parsed from the
``Sec-WebSocket-Extensions`` header (:data:`ExtensionOffer`). A client builds
its offer with :func:`client_offer` and checks the server's answer with
:func:`client_accept`; a server picks an offer with :func:`server_negotiate`.
Either way the result is a :class:`DeflateParams` that configures a
:class:`PerMessageDeflate`, which compresses whole messages and inflates
them, whole or frame by frame, under a cap on the inflated size.

Parameters named ``server_*`` govern what the server sends (the server
compresses, the client inflates); ``client_*`` govern the other direction.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from wstool.core.errors import DecompressionError, HandshakeError, PayloadTooBig, UsageError

__all__ = [
    "DEFAULT_MAX_INFLATED_SIZE",
    "EXTENSION_NAME",
    "DeflateParams",
    "ExtensionOffer",
    "ParamsRole",
    "PerMessageDeflate",
    "client_accept",
    "client_offer",
    "parse_params",
    "server_negotiate",
]

ExtensionOffer = tuple[str, tuple[tuple[str, str | None], ...]]
"""One extension element: its name and its parameters, values unquoted, None when bare."""

ParamsRole = Literal["client offer", "server answer"]
"""Where parameters come from, which decides the forms they may take."""

EXTENSION_NAME = "permessage-deflate"
DEFAULT_MAX_INFLATED_SIZE = 64 * 2**20

_SERVER_NO_CONTEXT_TAKEOVER = "server_no_context_takeover"
_CLIENT_NO_CONTEXT_TAKEOVER = "client_no_context_takeover"
_SERVER_MAX_WINDOW_BITS = "server_max_window_bits"
_CLIENT_MAX_WINDOW_BITS = "client_max_window_bits"
_PARAM_NAMES = frozenset(
    {
        _SERVER_NO_CONTEXT_TAKEOVER,
        _CLIENT_NO_CONTEXT_TAKEOVER,
        _SERVER_MAX_WINDOW_BITS,
        _CLIENT_MAX_WINDOW_BITS,
    }
)
# The only spellings allowed: a lookup, not int(), which would also take "08", "+9", " 9" or "٩".
_WINDOW_BITS = {str(bits): bits for bits in range(8, 16)}
_DEFAULT_WINDOW_BITS = 15
_EMPTY_STORED_BLOCK = b"\x00\x00\xff\xff"


@dataclass(frozen=True)
class DeflateParams:
    """The parameters of a permessage-deflate offer, answer or agreement.

    Attributes:
        server_no_context_takeover: the server starts each message with an empty LZ77 window.
        client_no_context_takeover: the client starts each message with an empty LZ77 window.
        server_max_window_bits: base-2 logarithm of the server's LZ77 window, 8 to 15; None
            when not given, which means 15.
        client_max_window_bits: the same for the client's window.
        client_max_window_bits_bare: in a client offer only, the bare ``client_max_window_bits``
            parameter: the client accepts the parameter in the answer but asks for no size.

    Raises:
        UsageError: if a window size is not 8 to 15, or the bare form comes with a value.
    """

    server_no_context_takeover: bool = False
    client_no_context_takeover: bool = False
    server_max_window_bits: int | None = None
    client_max_window_bits: int | None = None
    client_max_window_bits_bare: bool = False

    def __post_init__(self) -> None:
        _check_window_bits(_SERVER_MAX_WINDOW_BITS, self.server_max_window_bits)
        _check_window_bits(_CLIENT_MAX_WINDOW_BITS, self.client_max_window_bits)
        if self.client_max_window_bits_bare and self.client_max_window_bits is not None:
            raise UsageError("client_max_window_bits cannot be both bare and given a value")

    @property
    def server_window_bits(self) -> int:
        """The server's LZ77 window in effect, with the default of 15 filled in."""
        return self.server_max_window_bits or _DEFAULT_WINDOW_BITS

    @property
    def client_window_bits(self) -> int:
        """The client's LZ77 window in effect, with the default of 15 filled in."""
        return self.client_max_window_bits or _DEFAULT_WINDOW_BITS

    @property
    def has_client_max_window_bits(self) -> bool:
        """Whether ``client_max_window_bits`` appears at all, bare or with a value."""
        return self.client_max_window_bits_bare or self.client_max_window_bits is not None

    def to_offer(self) -> ExtensionOffer:
        """Return these parameters as an extension element, in the RFC's order.

        Returns:
            ``("permessage-deflate", params)``, ready for the header writer.
        """
        params: list[tuple[str, str | None]] = []
        if self.server_no_context_takeover:
            params.append((_SERVER_NO_CONTEXT_TAKEOVER, None))
        if self.client_no_context_takeover:
            params.append((_CLIENT_NO_CONTEXT_TAKEOVER, None))
        if self.server_max_window_bits is not None:
            params.append((_SERVER_MAX_WINDOW_BITS, str(self.server_max_window_bits)))
        if self.client_max_window_bits is not None:
            params.append((_CLIENT_MAX_WINDOW_BITS, str(self.client_max_window_bits)))
        elif self.client_max_window_bits_bare:
            params.append((_CLIENT_MAX_WINDOW_BITS, None))
        return EXTENSION_NAME, tuple(params)


def _check_window_bits(name: str, bits: int | None) -> None:
    if bits is None:
        return
    if isinstance(bits, bool) or not isinstance(bits, int) or not 8 <= bits <= 15:
        raise UsageError(f"{name} must be an int from 8 to 15, not {bits!r}")


def _smaller(a: int | None, b: int | None) -> int | None:
    """The smaller of two window sizes, None standing for "not given"."""
    if a is None:
        return b
    if b is None:
        return a
    return min(a, b)


# --- negotiation ------------------------------------------------------------------------------


def client_offer(
    *,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: int | None = None,
    client_max_window_bits: int | bool = True,
) -> ExtensionOffer:
    """Build a client's permessage-deflate offer.

    Args:
        server_no_context_takeover: ask the server to start each message afresh.
        client_no_context_takeover: tell the server we will start each message afresh.
        server_max_window_bits: ask the server for a window of at most 2**bits bytes.
        client_max_window_bits: True for the bare parameter (the server may choose our
            window), an int to also say we will use at most 2**bits bytes, False to omit it.

    Returns:
        The offer; with no arguments, ``permessage-deflate; client_max_window_bits``.

    Raises:
        UsageError: if a window size is not 8 to 15.
    """
    bare = client_max_window_bits is True
    bits = None if isinstance(client_max_window_bits, bool) else client_max_window_bits
    return DeflateParams(
        server_no_context_takeover=server_no_context_takeover,
        client_no_context_takeover=client_no_context_takeover,
        server_max_window_bits=server_max_window_bits,
        client_max_window_bits=bits,
        client_max_window_bits_bare=bare,
    ).to_offer()


def parse_params(params: Iterable[tuple[str, str | None]], *, role: ParamsRole) -> DeflateParams:
    """Check the parameters of a permessage-deflate offer or answer (RFC 7692 §7.1).

    Names are compared exactly. A window size must be written as 8 to 15 in decimal without
    leading zeros; ``*_no_context_takeover`` take no value; ``server_max_window_bits`` always
    needs one, and so does ``client_max_window_bits`` in an answer.

    Args:
        params: the element's parameters as (name, value) pairs, value None when bare.
        role: ``"client offer"`` or ``"server answer"``.

    Returns:
        The parameters, as written (no defaults filled in, no agreement applied).

    Raises:
        HandshakeError: on an unknown or repeated parameter or a bad value; the reason is
            one line naming the parameter, and the status is 400.
        UsageError: if ``role`` is neither of the two.
    """
    if role not in ("client offer", "server answer"):
        raise UsageError(f"role must be 'client offer' or 'server answer', not {role!r}")
    what = "offer" if role == "client offer" else "answer"
    seen: dict[str, str | None] = {}
    for name, value in params:
        # RFC 7692 §7: an "extension parameter not defined for use in an offer" [or response]
        # makes the server decline the offer, or the client fail the connection.
        if name not in _PARAM_NAMES:
            raise _bad_params(what, f"unknown parameter {name!r}")
        # RFC 7692 §7: "The negotiation offer contains multiple extension parameters with the
        # same name." (and the same wording for a response).
        if name in seen:
            raise _bad_params(what, f"parameter {name} appears twice")
        seen[name] = value
    client_bits_bare = _CLIENT_MAX_WINDOW_BITS in seen and seen[_CLIENT_MAX_WINDOW_BITS] is None
    return DeflateParams(
        server_no_context_takeover=_flag(seen, _SERVER_NO_CONTEXT_TAKEOVER, what),
        client_no_context_takeover=_flag(seen, _CLIENT_NO_CONTEXT_TAKEOVER, what),
        server_max_window_bits=_window_bits(seen, _SERVER_MAX_WINDOW_BITS, what, bare_ok=False),
        client_max_window_bits=_window_bits(
            seen, _CLIENT_MAX_WINDOW_BITS, what, bare_ok=role == "client offer"
        ),
        client_max_window_bits_bare=client_bits_bare,
    )


def _bad_params(what: str, detail: str) -> HandshakeError:
    return HandshakeError(
        f"{EXTENSION_NAME} {what}: {detail}", 400, header="Sec-WebSocket-Extensions"
    )


def _flag(seen: dict[str, str | None], name: str, what: str) -> bool:
    if name not in seen:
        return False
    # RFC 7692 §7.1.1.1 and §7.1.1.2: the parameter "has no value".
    if seen[name] is not None:
        raise _bad_params(what, f"parameter {name} takes no value, got {seen[name]!r}")
    return True


def _window_bits(seen: dict[str, str | None], name: str, what: str, *, bare_ok: bool) -> int | None:
    if name not in seen:
        return None
    value = seen[name]
    if value is None:
        if bare_ok:
            return None
        raise _bad_params(what, f"parameter {name} needs a value from 8 to 15")
    # RFC 7692 §7.1.2.1: "a decimal integer value without leading zeroes between 8 to 15,
    # inclusive, [...] and MUST conform to the ABNF below." (§7.1.2.2 says the same.)
    bits = _WINDOW_BITS.get(value)
    if bits is None:
        raise _bad_params(what, f"parameter {name}={value!r} is not 8 to 15 without leading zeros")
    return bits


def server_negotiate(
    offers: Sequence[ExtensionOffer],
    *,
    server_no_context_takeover: bool = False,
    client_no_context_takeover: bool = False,
    server_max_window_bits: int | None = None,
    client_max_window_bits: int | None = None,
) -> tuple[DeflateParams, ExtensionOffer] | None:
    """Pick the first acceptable permessage-deflate offer and build the answer.

    Offers for other extensions are passed over. An invalid permessage-deflate offer is
    declined, not fatal: the RFC tells the server to decline it, and the client may have
    listed a plainer fallback. The keyword arguments are the server's own wishes; they are
    merged with each offer so that the answer always respects it.

    Args:
        offers: the client's extension elements, in its order of preference.
        server_no_context_takeover: we start each message we send afresh.
        client_no_context_takeover: the client must start each message afresh.
        server_max_window_bits: we use at most 2**bits bytes of window.
        client_max_window_bits: the client must use at most 2**bits bytes of window; an
            offer without ``client_max_window_bits`` cannot promise that and is declined.

    Returns:
        The agreed parameters and the answer element (``agreed.to_offer()``), or None if
        no offer is acceptable.

    Raises:
        UsageError: if a window size is not 8 to 15.
    """
    wishes = DeflateParams(
        server_no_context_takeover=server_no_context_takeover,
        client_no_context_takeover=client_no_context_takeover,
        server_max_window_bits=server_max_window_bits,
        client_max_window_bits=client_max_window_bits,
    )
    for name, params in offers:
        if name != EXTENSION_NAME:
            continue
        try:
            offer = parse_params(params, role="client offer")
        except HandshakeError:
            # RFC 7692 §7: "A server MUST decline an extension negotiation offer for this
            # extension if any of the following conditions are met: [...]"
            continue
        agreed = _answer(offer, wishes)
        if agreed is not None:
            return agreed, agreed.to_offer()
    return None


def _answer(offer: DeflateParams, wishes: DeflateParams) -> DeflateParams | None:
    """Merge one valid offer with the server's wishes, or None to decline it."""
    if wishes.client_max_window_bits is not None and not offer.has_client_max_window_bits:
        # RFC 7692 §7: the server MUST decline if "The server doesn't support the offered
        # configuration": a client that did not offer client_max_window_bits cannot be held
        # to a smaller window.
        return None
    return DeflateParams(
        # RFC 7692 §7.1.1.1: the server accepts server_no_context_takeover "by including" it
        # in the answer. We always can, by starting a new compressor per message.
        server_no_context_takeover=offer.server_no_context_takeover
        or wishes.server_no_context_takeover,
        # Echoing the client's hint puts it in the agreed parameters, so the server may
        # forget its inflate window between messages (RFC 7692 §7.2.2).
        client_no_context_takeover=offer.client_no_context_takeover
        or wishes.client_no_context_takeover,
        # RFC 7692 §7.1.2.1: the answer carries server_max_window_bits "with the same or
        # smaller value as the offer".
        server_max_window_bits=_smaller(
            offer.server_max_window_bits, wishes.server_max_window_bits
        ),
        # RFC 7692 §7.1.2.2: "a value equal to or smaller than the received value".
        client_max_window_bits=_smaller(
            offer.client_max_window_bits, wishes.client_max_window_bits
        ),
    )


def client_accept(offer: ExtensionOffer, answer: ExtensionOffer) -> DeflateParams:
    """Check the server's answer against our offer and return the parameters in effect.

    The result folds in our own hints: if we offered ``client_no_context_takeover`` or a
    ``client_max_window_bits`` value, we keep to them even when the answer leaves them out.
    The server may add ``server_no_context_takeover`` or ``client_no_context_takeover``
    unasked, and may answer a bigger ``client_max_window_bits`` than we offered (we still
    use ours, RFC 7692 §7.1.2.2).

    Args:
        offer: the permessage-deflate element we sent.
        answer: the permessage-deflate element the server chose.

    Returns:
        The parameters for our :class:`PerMessageDeflate` (``is_client=True``).

    Raises:
        HandshakeError: if the answer is invalid or does not respect the offer; the client
            must fail the connection.
        UsageError: if ``offer`` is not a valid permessage-deflate offer.
    """
    if offer[0] != EXTENSION_NAME:
        raise UsageError(f"not a {EXTENSION_NAME} offer: {offer[0]!r}")
    try:
        ours = parse_params(offer[1], role="client offer")
    except HandshakeError as exc:
        raise UsageError(f"our own offer is invalid: {exc.reason}") from exc
    if answer[0] != EXTENSION_NAME:
        raise _bad_params("answer", f"names extension {answer[0]!r}")
    # RFC 7692 §7: "A client MUST _Fail the WebSocket Connection_ if the peer server accepted
    # an extension negotiation offer for this extension with an extension negotiation
    # response meeting any of the following conditions: [...]"
    theirs = parse_params(answer[1], role="server answer")
    _check_answer(ours, theirs)
    return DeflateParams(
        server_no_context_takeover=theirs.server_no_context_takeover,
        client_no_context_takeover=theirs.client_no_context_takeover
        or ours.client_no_context_takeover,
        server_max_window_bits=theirs.server_max_window_bits,
        client_max_window_bits=_smaller(theirs.client_max_window_bits, ours.client_max_window_bits),
    )


def _check_answer(ours: DeflateParams, theirs: DeflateParams) -> None:
    """Raise HandshakeError if a valid answer does not accept our offer as offered."""
    # RFC 7692 §7.1.1.1: a server accepts server_no_context_takeover "by including" it.
    if ours.server_no_context_takeover and not theirs.server_no_context_takeover:
        raise _bad_params("answer", f"parameter {_SERVER_NO_CONTEXT_TAKEOVER} is missing")
    # RFC 7692 §7.1.2.1: the server accepts an offered server_max_window_bits "by including"
    # it "with the same or smaller value as the offer".
    if ours.server_max_window_bits is not None:
        if theirs.server_max_window_bits is None:
            raise _bad_params("answer", f"parameter {_SERVER_MAX_WINDOW_BITS} is missing")
        if theirs.server_max_window_bits > ours.server_max_window_bits:
            raise _bad_params(
                "answer",
                f"parameter {_SERVER_MAX_WINDOW_BITS}={theirs.server_max_window_bits} is over"
                f" the {ours.server_max_window_bits} offered",
            )
    # RFC 7692 §7.1.2.2: the server may include client_max_window_bits only "If a received
    # extension negotiation offer has the "client_max_window_bits" extension parameter".
    if theirs.client_max_window_bits is not None and not ours.has_client_max_window_bits:
        raise _bad_params(
            "answer", f"parameter {_CLIENT_MAX_WINDOW_BITS} was not offered, so is not allowed"
        )


# --- the codec ---------------------------------------------------------------------------------


def _deflate_window_bits(bits: int) -> int:
    """The zlib window for compressing under a negotiated window of ``bits``."""
    # zlib refuses a raw deflate window of 8 bits ("Invalid initialization option") since
    # 1.2.9. A 9-bit window still honours a negotiated 8: zlib's deflate never emits a
    # distance over the window size minus MIN_LOOKAHEAD (262 bytes), so 512 - 262 = 250
    # bytes at most, within the 256 bytes the peer keeps. Inflating with 8 bits is fine.
    return max(bits, 9)


class PerMessageDeflate:
    """Compress and inflate the messages of one connection (RFC 7692 §7.2).

    Our direction uses our own parameters (``client_*`` for a client), the peer's
    direction the other ones. After :class:`DecompressionError` or :class:`PayloadTooBig`
    the inflate window is lost: the connection must fail.

    Args:
        params: the agreed parameters (from :func:`client_accept` or :func:`server_negotiate`).
        is_client: whether we are the client.
        max_inflated_size: the largest inflated message, in bytes; None for no limit.
        level: zlib's compression level for what we send, 1 (fastest) to 9
            (smallest); zlib's default (6) if not given. The peer inflates any
            level alike: it is a choice between CPU and bytes on the wire.

    Raises:
        UsageError: if ``max_inflated_size`` is negative or ``level`` not 0-9.
    """

    def __init__(
        self,
        params: DeflateParams,
        *,
        is_client: bool,
        max_inflated_size: int | None = DEFAULT_MAX_INFLATED_SIZE,
        level: int = zlib.Z_DEFAULT_COMPRESSION,
    ) -> None:
        if max_inflated_size is not None and max_inflated_size < 0:
            raise UsageError(f"max_inflated_size must be >= 0 or None, not {max_inflated_size}")
        if level != zlib.Z_DEFAULT_COMPRESSION and not 0 <= level <= 9:
            raise UsageError(f"a deflate level is 0 to 9, not {level}")
        self.level = level
        self.params = params
        self.is_client = is_client
        self.max_inflated_size = max_inflated_size
        if is_client:
            self._our_bits, self._peer_bits = params.client_window_bits, params.server_window_bits
            self._our_reset = params.client_no_context_takeover
            self._peer_reset = params.server_no_context_takeover
        else:
            self._our_bits, self._peer_bits = params.server_window_bits, params.client_window_bits
            self._our_reset = params.server_no_context_takeover
            self._peer_reset = params.client_no_context_takeover
        self._compressor: zlib._Compress | None = None
        self._decompressor: zlib._Decompress | None = None
        # The last inflated bytes, to carry the window over a block with BFINAL set.
        self._history = bytearray()
        self._in_message = False
        self._received = False
        self._inflated = 0

    def compress(self, data: bytes) -> bytes:
        """Compress one whole message.

        Args:
            data: the message's payload.

        Returns:
            The payload for the message's frames, the first of which has RSV1 set. An empty
            message gives ``b"\\x00"`` (RFC 7692 §7.2.3.6).
        """
        if self._compressor is None or self._our_reset:
            # RFC 7692 §7.2.1: "If the "agreed parameters" contain the
            # "client_no_context_takeover" extension parameter, the client MUST start
            # compressing each new message with an empty LZ77 sliding window." (The same for
            # the server with "server_no_context_takeover".)
            # RFC 7692 §7.2.1: "the client MUST NOT use an LZ77 sliding window longer than the
            # w-th power of 2 bytes to compress messages to send." (Also for the server.)
            self._compressor = zlib.compressobj(
                self.level, wbits=-_deflate_window_bits(self._our_bits)
            )
        compressed = self._compressor.compress(data) + self._compressor.flush(zlib.Z_SYNC_FLUSH)
        # RFC 7692 §7.2.1: "Remove 4 octets (that are 0x00 0x00 0xff 0xff) from the tail end."
        # A sync flush always ends with that empty stored block.
        return compressed[: -len(_EMPTY_STORED_BLOCK)]

    def decompress(self, fragments: Iterable[bytes] | bytes) -> bytes:
        """Inflate one whole message.

        Args:
            fragments: the payloads of all the message's frames, in order, or one payload.

        Returns:
            The message's payload.

        Raises:
            PayloadTooBig: as soon as the inflated size passes ``max_inflated_size``.
            DecompressionError: if the data is not valid DEFLATE for the agreed window.
            UsageError: if a message is being inflated with :meth:`decompress_fragment`.
        """
        if self._in_message:
            raise UsageError("a message is already being inflated fragment by fragment")
        if isinstance(fragments, (bytes, bytearray, memoryview)):
            fragments = (bytes(fragments),)
        parts = [self.decompress_fragment(payload, final=False) for payload in fragments]
        parts.append(self.decompress_fragment(b"", final=True))
        return b"".join(parts)

    def decompress_fragment(self, payload: bytes, *, final: bool) -> bytes:
        """Inflate the payload of one frame of a message, as frames arrive.

        Args:
            payload: the frame's payload (unmasked).
            final: whether the frame is the last of its message (FIN set).

        Returns:
            The inflated bytes this payload completes; the size cap counts the whole message.

        Raises:
            PayloadTooBig: as soon as the message's inflated size passes ``max_inflated_size``.
            DecompressionError: if the data is not valid DEFLATE for the agreed window.
        """
        if not self._in_message:
            self._start_message()
        try:
            inflated = self._inflate(payload) if payload else b""
            self._received = self._received or bool(payload)
            # RFC 7692 §7.2.2: "Append 4 octets of 0x00 0x00 0xff 0xff to the tail end of the
            # payload of the message." A message with no payload at all is taken as empty:
            # appending would leave the inflater inside a half-read stored block.
            if final and self._received:
                inflated += self._inflate(_EMPTY_STORED_BLOCK)
        except zlib.error as exc:
            self._abandon()
            raise DecompressionError(f"cannot inflate the message: {exc}") from exc
        except PayloadTooBig:
            self._abandon()
            raise
        if final:
            self._in_message = False
            if self._peer_reset:
                self._decompressor = None
        return inflated

    def _start_message(self) -> None:
        if self._decompressor is None or self._peer_reset:
            # RFC 7692 §7.2.2: "the client MAY decompress each new message with an empty LZ77
            # sliding window. Otherwise, the client MUST decompress each new message using the
            # LZ77 sliding window used to process the last compressed message." (Also for the
            # server.) Starting afresh also shows a peer that breaks its own promise.
            self._decompressor = zlib.decompressobj(wbits=-self._peer_bits)
            self._history.clear()
        self._in_message = True
        self._received = False
        self._inflated = 0

    def _abandon(self) -> None:
        self._decompressor = None
        self._history.clear()
        self._in_message = False

    def _inflate(self, data: bytes) -> bytes:
        """Inflate ``data`` within the current message, under the size cap."""
        parts: list[bytes] = []
        while True:
            decompressor = self._decompressor
            assert decompressor is not None  # set by _start_message
            limit = self.max_inflated_size
            if limit is None:
                chunk = decompressor.decompress(data)
            else:
                room = limit - self._inflated
                # Ask for one byte more than the room left: zlib stops there, so a bomb never
                # inflates past the cap, and a message of exactly the cap still passes.
                chunk = decompressor.decompress(data, room + 1)
                if len(chunk) > room:
                    raise PayloadTooBig(f"inflated message is over the limit of {limit} bytes")
            # Under the cap, zlib stopped only when the data ran out or the stream ended.
            self._inflated += len(chunk)
            parts.append(chunk)
            self._remember(chunk)
            if not decompressor.eof:
                return b"".join(parts)
            # A block with BFINAL set ends zlib's stream, but RFC 7692 §7.2.3.4 lets blocks
            # follow it. Carry on with a new inflater primed with the window so far.
            data = decompressor.unused_data
            self._decompressor = zlib.decompressobj(
                wbits=-self._peer_bits, zdict=bytes(self._history)
            )
            if not data:
                return b"".join(parts)

    def _remember(self, chunk: bytes) -> None:
        window = 1 << self._peer_bits
        self._history += chunk[-window:]
        if len(self._history) > 2 * window:
            del self._history[:-window]
