"""The Autobahn Testsuite's spec files: ``fuzzingclient.json`` and ``fuzzingserver.json``.

A fuzzingclient spec names servers to test::

    {"outdir": "./reports/servers",
     "servers": [{"agent": "MyServer", "url": "ws://127.0.0.1:9001"}],
     "cases": ["*"],
     "exclude-cases": ["9.*", "12.*", "13.*"],
     "exclude-agent-cases": {"MyServer": ["6.4.*"]}}

A fuzzingserver spec says where the test server listens and which cases it
offers to clients (``url`` instead of ``servers``). Keys wstool does not use
(``options``, ``webport``) are accepted and ignored, so a project's file
works as it is.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

__all__ = ["Spec", "SpecError", "Target", "read_spec"]


class SpecError(ValueError):
    """A spec file that cannot be used, with the reason."""


@dataclass(frozen=True)
class Target:
    """A server to test: its agent name and URL."""

    agent: str
    url: str


@dataclass(frozen=True)
class Spec:
    """What a spec file asks for.

    Attributes:
        outdir: where reports go (None: not given).
        servers: the servers of a fuzzingclient spec.
        url: where a fuzzingserver spec's server listens.
        cases: patterns of the cases to run.
        exclude: patterns of cases not to run.
        exclude_agent: per agent, patterns not to run for it.
    """

    outdir: str | None = None
    servers: tuple[Target, ...] = ()
    url: str | None = None
    cases: tuple[str, ...] = ("*",)
    exclude: tuple[str, ...] = ()
    exclude_agent: dict[str, tuple[str, ...]] = field(default_factory=dict)

    def excluded_for(self, agent: str) -> tuple[str, ...]:
        """Every pattern excluded for ``agent``."""
        return (*self.exclude, *self.exclude_agent.get(agent, ()))


def _patterns(data: dict[str, Any], key: str, default: Sequence[str]) -> tuple[str, ...]:
    value = data.get(key, list(default))
    if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
        raise SpecError(f'{key!r} must be a list of case patterns such as "6.4.*"')
    return tuple(value)


def _servers(data: dict[str, Any]) -> tuple[Target, ...]:
    servers = data.get("servers", [])
    if not isinstance(servers, list):
        raise SpecError('\'servers\' must be a list of {"agent": ..., "url": ...}')
    targets = []
    for number, server in enumerate(servers, 1):
        if not isinstance(server, dict) or not isinstance(server.get("url"), str):
            raise SpecError(f"server {number} in 'servers' has no \"url\"")
        agent = server.get("agent", f"server{number}")
        targets.append(Target(str(agent), server["url"]))
    return tuple(targets)


def read_spec(path: Path) -> Spec:
    """Read a fuzzingclient or fuzzingserver spec.

    Raises:
        SpecError: unreadable, not JSON, or not shaped like a spec.
    """
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise SpecError(f"cannot read {path}: {exc.strerror or exc}") from None
    except ValueError as exc:
        raise SpecError(f"{path} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise SpecError(f"{path} is not a JSON object")
    agents = data.get("exclude-agent-cases", {})
    if not isinstance(agents, dict):
        raise SpecError("'exclude-agent-cases' must map agent names to lists of patterns")
    exclude_agent = {str(agent): _patterns(agents, agent, ()) for agent in agents}
    outdir, url = data.get("outdir"), data.get("url")
    return Spec(
        outdir=str(outdir) if outdir is not None else None,
        servers=_servers(data),
        url=str(url) if url is not None else None,
        cases=_patterns(data, "cases", ("*",)),
        exclude=_patterns(data, "exclude-cases", ()),
        exclude_agent=exclude_agent,
    )
