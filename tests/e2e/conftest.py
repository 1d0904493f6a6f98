"""Fixtures of the end-to-end tests: ``wstool serve`` processes, each killed at teardown."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest
from e2e_support import WAIT, start_serve


@pytest.fixture
def serve() -> Iterator[Callable[..., tuple[subprocess.Popen[str], int]]]:
    """Starts ``wstool serve`` processes; kills each at teardown."""
    started: list[subprocess.Popen[str]] = []

    def start(*extra: str) -> tuple[subprocess.Popen[str], int]:
        process, port = start_serve(*extra)
        started.append(process)
        return process, port

    yield start
    for process in started:
        process.kill()
        process.wait(WAIT)


@pytest.fixture(scope="module")
def server_port() -> Iterator[int]:
    """A quiet ``wstool serve`` echo server's port, for a whole module; killed at teardown."""
    process, port = start_serve("-q")
    try:
        yield port
    finally:
        process.kill()
        process.wait(WAIT)
