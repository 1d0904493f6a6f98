"""The allocator tuning serve and connect apply: large buffers stop costing page faults."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="glibc only")

_FAULTS = """
import resource, sys
from wstool.cli.allocator import tune_allocator, release_free_memory
if sys.argv[1] == "tuned":
    assert tune_allocator()
keep = []
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for i in range(200):
    # Messages of growing sizes: glibc's own threshold only follows the
    # blocks freed so far, so each one would be a fresh mapping.
    data = b"x" * ((1 << 20) + i * 65536)
    keep.append(data[:10])
    del data
after = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
release_free_memory()
print(after - before)
"""


def faults(mode: str) -> int:
    out = subprocess.run(
        [sys.executable, "-c", _FAULTS, mode], capture_output=True, text=True, check=True
    )
    return int(out.stdout)


def test_large_buffers_are_reused_once_tuned() -> None:
    plain, tuned = faults("plain"), faults("tuned")
    # Untuned, every buffer is a fresh mapping: at least 256 faults of 4 KiB each.
    assert plain > 200 * 256
    assert tuned < plain / 20
