"""``SSLKEYLOGFILE`` for the proxy's TLS connections, so Wireshark can decrypt a capture of them.

The NSS key log format (one ``LABEL client_random secret`` line per secret)
is what OpenSSL's keylog callback writes and what Wireshark reads
(Preferences > Protocols > TLS > (Pre)-Master-Secret log filename). The
proxy logs both hops: the TLS it ends for the client (forward mode) and the
TLS it opens upstream; ``wstool connect`` logs its own.

pyOpenSSL sets the callback on a context, and a context can no longer be
changed once it has made a connection, so each is set up before its first
use. Twisted's ``optionsForClientTLS`` keeps its context behind a bound
method (``ClientTLSOptions._createConnection``, a private attribute): that is
the one internal relied on here; without it the upstream hop is not logged.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import IO, Any

from wstool.core.errors import UsageError

__all__ = ["KeyLog", "keylog_from_environment"]


def keylog_from_environment(environ: Mapping[str, str] | None = None) -> KeyLog | None:
    """The key log ``SSLKEYLOGFILE`` names, or None when it is not set.

    Raises:
        UsageError: the file cannot be opened (one line).
    """
    path = (os.environ if environ is None else environ).get("SSLKEYLOGFILE")
    if not path:
        return None
    try:
        return KeyLog(path)
    except OSError as exc:
        raise UsageError(f"SSLKEYLOGFILE: cannot open {path!r}: {exc.strerror}") from exc


class KeyLog:
    """Appends TLS secrets to a file, one line each, flushed at once.

    Args:
        path: the file (``SSLKEYLOGFILE``); opened for appending.

    Raises:
        OSError: the file cannot be opened.
    """

    def __init__(self, path: str) -> None:
        self.path = path
        self._file: IO[bytes] = open(path, "ab")  # noqa: SIM115 - open for the whole run
        self._contexts: set[int] = set()

    def write(self, _connection: Any, line: bytes) -> None:
        """pyOpenSSL's keylog callback."""
        self._file.write(line + b"\n")
        self._file.flush()

    def log_server(self, options: Any) -> Any:
        """Log the secrets of connections made with Twisted ``CertificateOptions``; return them."""
        self._watch(options.getContext())
        return options

    def client(self, creator: Any) -> Any:
        """Log the secrets of connections ``creator`` makes (before it makes any); return it."""
        context = _client_context(creator)
        if context is not None:
            self._watch(context)
        return creator

    def _watch(self, context: Any) -> None:
        if id(context) not in self._contexts:
            context.set_keylog_callback(self.write)
            self._contexts.add(id(context))


def _client_context(creator: Any) -> Any:
    """The OpenSSL context behind a client connection creator, if it can be reached."""
    get_context = getattr(creator, "getContext", None)  # CertificateOptions (--insecure)
    if get_context is None:
        make = getattr(creator, "_createConnection", None)  # optionsForClientTLS's
        owner = getattr(make, "__self__", None)
        get_context = getattr(owner, "getContext", None)
    return get_context() if get_context is not None else None
