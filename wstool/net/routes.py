"""Where ``wstool connect`` sends TCP: proxies from the environment, ``--connect-to`` rules.

The URL's host stays in the Host header and in TLS's server name whatever
address is dialled.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from wstool.core.uri import WebSocketURI

__all__ = ["ConnectTo", "dial_address", "proxy_for"]


@dataclass(frozen=True)
class ConnectTo:
    """``--connect-to``: dial ``to_host:to_port`` for ``from_host:from_port`` (curl's rule).

    An empty ``from_host`` or a ``from_port`` of 0 matches any; an empty
    ``to_host`` or a ``to_port`` of 0 keeps the URL's. The URL's host still
    goes in the Host header and TLS's server name.
    """

    from_host: str
    from_port: int
    to_host: str
    to_port: int

    def applies(self, uri: WebSocketURI) -> bool:
        """Whether this rule is for ``uri``."""
        host_ok = not self.from_host or self.from_host.lower() == uri.host.lower()
        return host_ok and self.from_port in (0, uri.port)


def dial_address(uri: WebSocketURI, rules: Sequence[ConnectTo]) -> tuple[str, int]:
    """Where TCP goes for ``uri``: the URL's host and port, or the first rule's that applies."""
    for rule in rules:
        if rule.applies(uri):
            return rule.to_host or uri.host, rule.to_port or uri.port
    return uri.host, uri.port


def proxy_for(uri: WebSocketURI, environ: dict[str, str] | None = None) -> str | None:
    """The proxy the environment names for ``uri`` (https_proxy for wss, http_proxy for ws).

    ``no_proxy`` is honoured; loopback addresses are never proxied.
    """
    env = os.environ if environ is None else environ
    lowered = {k.lower(): v for k, v in env.items() if v}
    names = ("https_proxy", "all_proxy") if uri.secure else ("http_proxy", "all_proxy")
    proxy = next((lowered[name] for name in names if name in lowered), None)
    if proxy is None:
        return None
    if uri.host in ("localhost", "127.0.0.1", "::1"):
        return None
    if _bypassed(uri.host, lowered.get("no_proxy", "")):
        return None
    return proxy


def _bypassed(host: str, no_proxy: str) -> bool:
    """Whether ``no_proxy`` (comma-separated names, ``.suffix`` or ``*``) covers ``host``."""
    host = host.lower().rstrip(".")
    for entry in no_proxy.lower().replace(" ", "").split(","):
        entry = entry.split(":")[0] if entry.count(":") == 1 else entry
        name = entry.lstrip("*").lstrip(".").rstrip(".")
        if entry == "*" or (name and (host == name or host.endswith("." + name))):
            return True
    return False
