"""SOCKS5 (RFC 1928) with username/password authentication (RFC 1929), for ``connect --socks5``.

:class:`Socks5Negotiation` is sans-I/O: :meth:`~Socks5Negotiation.start`
returns the greeting, :meth:`~Socks5Negotiation.receive` takes the proxy's
bytes and returns what to send next, until :attr:`~Socks5Negotiation.done`;
any refusal is a :class:`SocksError` with one line saying why (the reply
code's name from RFC 1928 §6 included). The client's handshake protocol
(:mod:`wstool.net.client`) drives it on the TCP connection to the proxy,
then carries on with TLS and the upgrade request over the same connection.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

from wstool.core.errors import UsageError, WstoolError

__all__ = [
    "REPLY_NAMES",
    "Socks5Negotiation",
    "Socks5Proxy",
    "SocksError",
    "parse_socks_proxy",
]

VERSION = 5
NO_AUTH, USER_PASS, NO_ACCEPTABLE = 0x00, 0x02, 0xFF
CONNECT = 0x01
IPV4, DOMAIN, IPV6 = 0x01, 0x03, 0x04

REPLY_NAMES = {
    # RFC 1928 §6, the REP field.
    0x01: "general SOCKS server failure",
    0x02: "connection not allowed by ruleset",
    0x03: "network unreachable",
    0x04: "host unreachable",
    0x05: "connection refused",
    0x06: "TTL expired",
    0x07: "command not supported",
    0x08: "address type not supported",
}


class SocksError(WstoolError):
    """The SOCKS5 proxy refused or broke the negotiation; the message is one line."""


@dataclass(frozen=True)
class Socks5Proxy:
    """Where the SOCKS5 proxy is and how to use it.

    Attributes:
        host: the proxy's host name or address.
        port: its port (1080 unless given).
        user: a user name for RFC 1929 authentication, if any.
        password: its password.
        remote_dns: send host names to the proxy to resolve (``socks5h://``);
            otherwise they are resolved here and the proxy is given an address.
    """

    host: str
    port: int = 1080
    user: str | None = None
    password: str | None = None
    remote_dns: bool = False

    def __str__(self) -> str:
        scheme = "socks5h" if self.remote_dns else "socks5"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{host}:{self.port}"


def parse_socks_proxy(text: str, *, remote_dns: bool | None = None) -> Socks5Proxy:
    """``[socks5://|socks5h://][user:pass@]host[:port]`` -> :class:`Socks5Proxy`.

    Without a scheme, ``remote_dns`` decides (default: resolve here, as
    ``socks5://`` and curl's ``--socks5`` do).

    Raises:
        UsageError: with one line saying what is wrong.
    """
    raw = text.strip()
    if "://" not in raw:
        raw = ("socks5h://" if remote_dns else "socks5://") + raw
    try:
        parts = urlsplit(raw)
        port = parts.port
    except ValueError as exc:
        raise UsageError(f"{text!r} is not a SOCKS5 proxy: {exc}") from None
    scheme = parts.scheme.lower()
    if scheme not in ("socks5", "socks5h"):
        raise UsageError(f"{text!r} is not a socks5:// or socks5h:// proxy")
    if not parts.hostname:
        raise UsageError(f"{text!r} has no host (a SOCKS5 proxy is HOST:PORT)")
    if parts.path not in ("", "/"):
        raise UsageError(f"{text!r}: a SOCKS5 proxy has no path")
    return Socks5Proxy(
        host=parts.hostname,
        port=port if port is not None else 1080,
        user=unquote(parts.username) if parts.username is not None else None,
        password=unquote(parts.password) if parts.password is not None else None,
        remote_dns=scheme == "socks5h",
    )


def _address(host: str) -> bytes:
    """ATYP and DST.ADDR (RFC 1928 §5): an IPv4 or IPv6 literal, or a domain name."""
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        name = host.encode("idna")
        if not 0 < len(name) < 256:
            raise SocksError(f"SOCKS5: the host name {host!r} is too long") from None
        return bytes([DOMAIN, len(name)]) + name
    return bytes([IPV4 if ip.version == 4 else IPV6]) + ip.packed


class Socks5Negotiation:
    """The client's side of a SOCKS5 CONNECT, as bytes in and bytes out.

    Args:
        host: the destination (a name when the proxy resolves it, else an address).
        port: the destination port.
        user: a user name, to offer RFC 1929 authentication.
        password: its password.
    """

    def __init__(
        self, host: str, port: int, user: str | None = None, password: str | None = None
    ) -> None:
        self.host = host
        self.port = port
        self.user = user
        self.password = password or ""
        self.stage = "greeting"
        self.buffer = b""
        self.done = False
        """The tunnel is open: every byte from now on belongs to the destination."""
        self.bound: tuple[str, int] | None = None
        """BND.ADDR and BND.PORT from the proxy's reply."""

    def start(self) -> bytes:
        """The greeting: the methods we offer (RFC 1928 §3)."""
        methods = [NO_AUTH, USER_PASS] if self.user is not None else [NO_AUTH]
        return bytes([VERSION, len(methods), *methods])

    def receive(self, data: bytes) -> bytes:
        """Take the proxy's bytes; return what to send (``b""`` for nothing yet).

        Bytes after the reply (the destination's, in the same read) stay in
        :attr:`buffer` once :attr:`done`.

        Raises:
            SocksError: the proxy refused, or answered what is not SOCKS5.
        """
        self.buffer += data
        out = b""
        while not self.done:
            step = self._step()
            if step is None:
                break
            out += step
        return out

    def _step(self) -> bytes | None:
        if self.stage == "greeting":
            return self._chosen_method()
        if self.stage == "auth":
            return self._auth_answered()
        return self._replied()

    def _take(self, count: int) -> bytes | None:
        if len(self.buffer) < count:
            return None
        head, self.buffer = self.buffer[:count], self.buffer[count:]
        return head

    def _chosen_method(self) -> bytes | None:
        answer = self._take(2)
        if answer is None:
            return None
        if answer[0] != VERSION:
            raise SocksError(
                f"the proxy does not speak SOCKS5 (it answered {answer.hex(' ')}: "
                "is it an HTTP proxy? use --proxy)"
            )
        method = answer[1]
        if method == USER_PASS and self.user is not None:
            # RFC 1929 §2: VER 1, ULEN, UNAME, PLEN, PASSWD.
            user = self.user.encode("utf-8")
            password = self.password.encode("utf-8")
            if len(user) > 255 or len(password) > 255:
                raise SocksError("SOCKS5: the user name and password are 255 bytes at most")
            self.stage = "auth"
            return bytes([1, len(user)]) + user + bytes([len(password)]) + password
        if method == NO_AUTH:
            return self._request()
        if method == USER_PASS or (method == NO_ACCEPTABLE and self.user is None):
            raise SocksError(
                "the SOCKS5 proxy wants a user name and password (give user:pass@ or --socks5-auth)"
            )
        raise SocksError(f"the SOCKS5 proxy accepts none of our authentication methods ({method})")

    def _auth_answered(self) -> bytes | None:
        answer = self._take(2)
        if answer is None:
            return None
        # RFC 1929 §2: "A STATUS field of X'00' indicates success. If the
        # server returns a `failure' (STATUS value other than X'00') status,
        # it MUST close the connection."
        if answer[1] != 0:
            raise SocksError(f"SOCKS5 authentication failed for user {self.user!r}")
        return self._request()

    def _request(self) -> bytes:
        self.stage = "reply"
        return bytes([VERSION, CONNECT, 0]) + _address(self.host) + self.port.to_bytes(2, "big")

    def _replied(self) -> bytes | None:
        buffer = self.buffer
        if len(buffer) < 5:
            return None
        if buffer[0] != VERSION:
            raise SocksError(f"the SOCKS5 proxy sent a bad reply ({buffer[:4].hex(' ')})")
        code = buffer[1]
        if code != 0:
            name = REPLY_NAMES.get(code, "unassigned code")
            raise SocksError(
                f"the SOCKS5 proxy could not connect to {self._target()}: {name} (reply {code})"
            )
        kind = buffer[3]
        sizes = {IPV4: 4, IPV6: 16, DOMAIN: 1 + buffer[4]}
        if kind not in sizes:
            raise SocksError(f"the SOCKS5 proxy sent a bad address type ({kind})")
        total = 4 + sizes[kind] + 2
        reply = self._take(total)
        if reply is None:
            return None
        raw = reply[4:-2]
        address = raw[1:].decode("latin-1") if kind == DOMAIN else _unpack(raw)
        self.bound = (address, int.from_bytes(reply[-2:], "big"))
        self.done = True
        return b""

    def _target(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{host}:{self.port}"


def _unpack(raw: bytes) -> str:
    return str(ipaddress.ip_address(raw))
