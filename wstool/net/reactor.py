"""Twisted's epoll reactor, without a logging context per socket event.

For every ready socket, Twisted's ``EPollReactor.doPoll`` calls
``log.callWithLogger``, which asks the socket's ``logPrefix()`` and runs the
read or write inside a new logging context (``{"system": prefix}``): about
1 µs a call, which is a fifth of what a quiet echo server spends on a 64-byte
message. :class:`LeanEPollReactor` does the same reads and writes with the
same error handling (a callback that raises is logged, and the connection
is dropped by ``_doReadOrWrite`` as before); only the log lines of such
errors lose their "system" prefix. Everything else is Twisted's reactor.
"""

from __future__ import annotations

import errno
import sys
from typing import Any

from twisted.python import log

__all__ = ["install"]


def install() -> bool:
    """Install :class:`LeanEPollReactor` as Twisted's reactor, where epoll exists.

    Returns:
        Whether it was installed (False without epoll, or when a reactor is
        installed already: then that one is used as it is).
    """
    if "twisted.internet.reactor" in sys.modules:
        return False
    try:
        from select import EPOLLIN

        from twisted.internet.epollreactor import EPollReactor
    except ImportError:  # not Linux
        return False
    from twisted.internet.main import CONNECTION_LOST
    from twisted.internet.posixbase import _NO_FILEDESC
    from twisted.python.failure import Failure

    try:
        from wstool.net import _echoloop  # type: ignore[attr-defined]
    except ImportError:  # built without its C modules
        _echoloop = None

    class LeanEPollReactor(EPollReactor):
        """EPollReactor whose poll calls each ready socket's handler directly."""

        echo_table: dict[int, Any] | None = {} if _echoloop is not None else None
        """fd -> entry: the connections whose plain reads the wait answers itself
        (net/_echoloop.c; put there and taken out by net.wire); None without the
        C module."""

        def doPoll(self, timeout: float | None) -> None:
            table = self.echo_table
            try:
                if table is not None:
                    assert _echoloop is not None
                    ready = _echoloop.poll(
                        self._poller.fileno(), timeout, len(self._selectables), table
                    )
                else:
                    ready = [
                        (fd, event, 0)
                        for fd, event in self._poller.poll(
                            -1 if timeout is None else timeout, len(self._selectables)
                        )
                    ]
            except OSError as error:
                if error.errno == errno.EINTR:
                    return
                raise
            selectables = self._selectables
            handle = self._doReadOrWrite
            for fd, event, failed in ready:
                selectable = selectables.get(fd)
                if selectable is None:
                    continue
                if failed:  # from the echo table: a read that failed, or a raising handler
                    self._echo_failed(selectable, failed)
                    continue
                if event == EPOLLIN:  # the common event, as _doReadOrWrite handles it
                    try:
                        why = selectable.doRead() if selectable.fileno() != -1 else _NO_FILEDESC
                    except KeyboardInterrupt:
                        raise
                    except BaseException as exc:
                        why = exc
                        log.err()
                    if why:
                        self._disconnectSelectable(selectable, why, True)
                    continue
                try:
                    handle(selectable, fd, event)
                except KeyboardInterrupt:
                    raise
                except BaseException:
                    log.err()

        def _echo_failed(self, selectable: Any, error: int | BaseException) -> None:
            """What _doReadOrWrite does when a read fails (the connection is lost)
            or its handler raises (logged, and the connection dropped)."""
            if isinstance(error, BaseException):
                log.err(Failure(error))
                why: Any = error
            else:
                why = CONNECTION_LOST
            self._disconnectSelectable(selectable, why, True)

        doIteration = doPoll

    from twisted.internet.main import installReactor

    reactor: Any = LeanEPollReactor()
    installReactor(reactor)
    return True
