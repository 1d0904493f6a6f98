"""scripts/dev.py runs pip only when an install's inputs changed.

pip takes seconds even when there is nothing to do, on every ``dev.py run``.
The decision is a digest of the lock file, pyproject.toml, setup.py and the C
accelerator's source, kept in the venv; these tests build a repository and a
venv in a temporary folder and never run pip.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parents[2] / "scripts"))
import dev

INPUTS = [
    "requirements/dev.txt",
    "pyproject.toml",
    "setup.py",
    "wstool/core/_speedups.c",
    "wstool/core/_xor_mask.h",
    "wstool/bench/_batch.c",
    "wstool/ui/_hexview.c",
    "wstool/session/_records.c",
]


@pytest.fixture
def repo(tmp_path: Path) -> Path:
    """A checkout with every input of an install."""
    root = tmp_path / "repo"
    for name in [*INPUTS, "requirements/runtime.txt"]:
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(f"contents of {name}\n")
    return root


@pytest.fixture
def venv_dir(tmp_path: Path) -> Path:
    """A virtualenv that exists (its python is there) and has had no install yet."""
    path = tmp_path / "venv"
    python = path / dev.BIN_NAME / "python"
    python.parent.mkdir(parents=True)
    python.write_text("")
    return path


def installed(repo: Path, venv_dir: Path, lock: str = "dev.txt") -> None:
    """Stamp the venv as a finished install from ``lock`` would."""
    dev.stamp_path(lock, venv_dir).write_text(dev.install_digest(lock, repo) + "\n")


def test_the_inputs_are_those_of_the_repository() -> None:
    """The files the digest reads exist in this checkout (a renamed one would be missed)."""
    for name in dev.INSTALL_INPUTS:
        assert (dev.ROOT / name).is_file(), name


def test_every_c_source_is_an_input() -> None:
    """A change to any C file or header the extensions build from means a rebuild."""
    sources = {
        path.relative_to(dev.ROOT).as_posix()
        for pattern in ("*.c", "*.h")
        for path in (dev.ROOT / "wstool").rglob(pattern)
    }
    assert sources <= set(dev.INSTALL_INPUTS)


def test_a_new_venv_installs(repo: Path, tmp_path: Path) -> None:
    """No python in the venv yet: install."""
    assert dev.needs_install("dev.txt", repo, tmp_path / "missing")


def test_a_venv_without_a_stamp_installs(repo: Path, venv_dir: Path) -> None:
    """A venv made before stamps existed (or whose install failed): install."""
    assert dev.needs_install("dev.txt", repo, venv_dir)


def test_nothing_changed_skips(repo: Path, venv_dir: Path) -> None:
    """The stamp matches the inputs as they are: no pip."""
    installed(repo, venv_dir)
    assert not dev.needs_install("dev.txt", repo, venv_dir)


@pytest.mark.parametrize("name", INPUTS)
def test_any_changed_input_installs(repo: Path, venv_dir: Path, name: str) -> None:
    """Editing the lock file, the packaging files or the C source invalidates the stamp."""
    installed(repo, venv_dir)
    with (repo / name).open("a") as file:
        file.write("one more line\n")
    assert dev.needs_install("dev.txt", repo, venv_dir)


@pytest.mark.parametrize("name", INPUTS[1:])
def test_a_removed_input_installs(repo: Path, venv_dir: Path, name: str) -> None:
    """A file that went away is a change too."""
    installed(repo, venv_dir)
    (repo / name).unlink()
    assert dev.needs_install("dev.txt", repo, venv_dir)


def test_each_lock_file_has_its_own_stamp(repo: Path, venv_dir: Path) -> None:
    """``test`` installed dev.txt; ``run`` still installs runtime.txt once."""
    installed(repo, venv_dir, "dev.txt")
    assert dev.needs_install("runtime.txt", repo, venv_dir)
    installed(repo, venv_dir, "runtime.txt")
    assert not dev.needs_install("runtime.txt", repo, venv_dir)


class TestSetup:
    """setup() runs pip when needed, stamps after it, and skips it next time."""

    @pytest.fixture
    def pip(self, repo: Path, venv_dir: Path, monkeypatch: pytest.MonkeyPatch) -> list[Any]:
        """dev.py pointed at the temporary checkout and venv; pip calls are recorded."""
        calls: list[Any] = []
        monkeypatch.setattr(dev, "ROOT", repo)
        monkeypatch.setattr(dev, "VENV", venv_dir)
        monkeypatch.setattr(dev, "PY", venv_dir / dev.BIN_NAME / "python")
        monkeypatch.setattr(dev, "_run", lambda *cmd: calls.append(cmd))
        return calls

    def test_installs_then_skips(self, pip: list[Any], repo: Path) -> None:
        """First run: both pip steps and a stamp; second run: nothing; after an edit: again."""
        dev.setup("dev.txt")
        assert len(pip) == 2
        dev.setup("dev.txt")
        assert len(pip) == 2
        (repo / "setup.py").write_text("changed\n")
        dev.setup("dev.txt")
        assert len(pip) == 4

    def test_a_failed_install_leaves_no_stamp(
        self, pip: list[Any], venv_dir: Path, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        """pip failing midway means the next start tries again."""
        dev.setup("dev.txt")

        def fail(*cmd: Any) -> None:
            raise OSError("pip failed")

        monkeypatch.setattr(dev, "_run", fail)
        (dev.ROOT / "pyproject.toml").write_text("changed\n")
        with pytest.raises(OSError):
            dev.setup("dev.txt")
        assert not dev.stamp_path("dev.txt", venv_dir).exists()


def test_a_sigterm_to_the_script_stops_its_child(tmp_path: Path) -> None:
    """`dev.py run` killed with SIGTERM alone does not leave wstool serve running."""
    import contextlib
    import os
    import signal
    import subprocess
    import time

    marker = tmp_path / "child.pid"
    child = f"import os, time; open({str(marker)!r}, 'w').write(str(os.getpid())); time.sleep(60)"
    script = (
        f"import sys; sys.path.insert(0, {str(Path(dev.__file__).parent)!r}); import dev; "
        f"sys.exit(dev._run_child([sys.executable, '-c', {child!r}]))"
    )
    parent = subprocess.Popen([sys.executable, "-c", script])
    try:
        deadline = time.monotonic() + 30
        while not marker.exists() or not marker.read_text():
            assert time.monotonic() < deadline, "the child did not start"
            time.sleep(0.05)
        child_pid = int(marker.read_text())
        parent.send_signal(signal.SIGTERM)
        assert parent.wait(timeout=30) == 128 + signal.SIGTERM  # the child's, as a shell says
        with pytest.raises(ProcessLookupError):
            for _ in range(100):
                os.kill(child_pid, 0)
                time.sleep(0.05)
    finally:
        parent.kill()
        if marker.exists() and marker.read_text():
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(marker.read_text()), signal.SIGKILL)
