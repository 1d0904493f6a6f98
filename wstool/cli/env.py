"""The environment a command runs in: streams, terminal flags, NO_COLOR, the reactor.

Every command's ``run(args, env)`` takes one :class:`Environment` instead of
reaching for ``sys.stdout`` or the global reactor, so tests can run serve and
connect in-process with their own streams and a ``MemoryReactorClock``.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from typing import IO, Any

__all__ = ["Environment"]


def _isatty(stream: IO[Any]) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False


@dataclass
class Environment:
    """Streams, terminal flags and the reactor of one run of wstool.

    Args:
        stdin: where input comes from.
        stdout: where data goes.
        stderr: where diagnostics go.
        no_color: ``NO_COLOR`` is set and not empty (https://no-color.org).
        reactor: the reactor to run on; None installs Twisted's on first use.
    """

    stdin: IO[str] = field(default_factory=lambda: sys.stdin)
    stdout: IO[str] = field(default_factory=lambda: sys.stdout)
    stderr: IO[str] = field(default_factory=lambda: sys.stderr)
    no_color: bool = field(default_factory=lambda: bool(os.environ.get("NO_COLOR")))
    reactor: Any = None

    @property
    def stdin_isatty(self) -> bool:
        """Whether stdin is a terminal."""
        return _isatty(self.stdin)

    @property
    def stdout_isatty(self) -> bool:
        """Whether stdout is a terminal."""
        return _isatty(self.stdout)

    def writes_to_process_stdout(self) -> bool:
        """Whether stdout is this process's own (not a stream a caller passed in)."""
        return self.stdout is sys.stdout

    def get_reactor(self, *, asyncio: bool = False) -> Any:
        """The injected reactor, else Twisted's, installing the asyncio one if asked.

        Args:
            asyncio: install the asyncio reactor on a new, current event loop
                (prompt_toolkit runs on the same loop), unless a reactor is
                installed already.
        """
        if self.reactor is None:
            self.reactor = _install_reactor(asyncio)
        return self.reactor


def _install_reactor(use_asyncio: bool) -> Any:
    if use_asyncio and "twisted.internet.reactor" not in sys.modules:
        import asyncio  # here: decode and --help never pay for it

        from twisted.internet import asyncioreactor

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)  # without it, prompt_async() waits forever
        asyncioreactor.install(loop)  # type: ignore[no-untyped-call]
    else:
        from wstool.net import reactor as lean

        lean.install()
    from twisted.internet import reactor

    return reactor
