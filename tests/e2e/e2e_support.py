"""What the end-to-end tests share: ``wstool serve`` as a subprocess on 127.0.0.1, port 0.

Imported by name (``from e2e_support import ...``): pytest puts this folder on the path.
"""

from __future__ import annotations

import os
import queue
import re
import subprocess
import sys
import threading
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[2]
WAIT = 15.0
LISTENING = re.compile(r"listening on ws://127\.0\.0\.1:(\d+)/")


def e2e_env(**extra: str) -> dict[str, str]:
    """The process environment without proxies, colour or buffering surprises."""
    env = {
        k: v
        for k, v in os.environ.items()
        if k.lower() not in ("http_proxy", "https_proxy", "all_proxy", "no_proxy")
    }
    env.update({"NO_COLOR": "1", "PYTHONUNBUFFERED": "1", "PYTHONIOENCODING": "utf-8"})
    env.update(extra)
    return env


def start_serve(*extra: str) -> tuple[subprocess.Popen[str], int]:
    """``wstool serve --port 0 --ping-interval 0 EXTRA`` and the port it says it listens on."""
    process = subprocess.Popen(
        [sys.executable, "-m", "wstool", "serve", "--port", "0", "--ping-interval", "0", *extra],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        cwd=PROJECT_ROOT,
        env=e2e_env(),
    )
    found: queue.Queue[int] = queue.Queue()

    def pump() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            match = LISTENING.search(line)
            if match:
                found.put(int(match[1]))

    threading.Thread(target=pump, daemon=True).start()
    try:
        return process, found.get(timeout=WAIT)
    except queue.Empty:
        process.kill()
        raise
