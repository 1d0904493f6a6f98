"""Every script in scripts/ answers --help (argparse formats its help lazily)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = sorted((Path(__file__).parents[2] / "scripts").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=[s.name for s in SCRIPTS])
def test_help(script: Path) -> None:
    result = subprocess.run(
        [sys.executable, str(script), "--help"], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout
    assert "Traceback" not in result.stderr


def test_dev_passes_ctrl_c_to_its_child() -> None:
    """Ctrl-C in ``scripts/dev.py run`` stops the child gracefully: no traceback, its status."""
    import os
    import signal
    import time

    child = (
        "import sys, time\n"
        "print('ready', flush=True)\n"
        "try:\n"
        "    time.sleep(30)\n"
        "except KeyboardInterrupt:\n"
        "    print('child stopped', flush=True)\n"
        "    sys.exit(0)\n"
    )
    scripts = Path(__file__).parents[2] / "scripts"
    # A terminal's foreground job starts with Ctrl-C at its default, but this
    # suite may run where SIGINT is ignored (a background shell), and an
    # ignored signal is inherited: the driver puts back what a terminal gives.
    driver = (
        "import signal, sys; signal.signal(signal.SIGINT, signal.default_int_handler); "
        f"sys.path.insert(0, {str(scripts)!r}); import dev; "
        f"sys.exit(dev._run_child([sys.executable, '-c', {child!r}]))"
    )
    proc = subprocess.Popen(
        [sys.executable, "-c", driver],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own group, as a terminal's foreground job is
    )
    assert proc.stdout is not None
    assert proc.stdout.readline().strip() == "ready"
    time.sleep(0.2)
    os.killpg(proc.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
    out, err = proc.communicate(timeout=30)
    assert "child stopped" in out
    assert "Traceback" not in err
    assert proc.returncode == 0
