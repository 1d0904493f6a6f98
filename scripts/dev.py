#!/usr/bin/env python3
"""Set up wstool in ./.venv from the pinned requirements, then run it or its tests.

Needs only Python 3.10+ with its venv module; everything else comes from the
package index. Safe to run again: the virtualenv is reused, and pip runs only
when the lock file, pyproject.toml, setup.py or the C accelerator's source
changed since the last install into it (a stamp in .venv remembers).

    python3 scripts/dev.py run     # install, then run the main job
    python3 scripts/dev.py test    # install with test tools, then run the test suite
    python3 scripts/dev.py lint    # ruff and mypy on wstool/

Arguments after the command go to the command run (``pytest`` for ``test``).
"""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import venv
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENV = ROOT / ".venv"
BIN_NAME = "Scripts" if os.name == "nt" else "bin"
BIN = VENV / BIN_NAME
PY = BIN / "python"
# What an install depends on, besides the lock file: a change to any of them
# means pip must run again.
INSTALL_INPUTS = (
    "pyproject.toml",
    "setup.py",
    "wstool/core/_speedups.c",
    "wstool/core/_xor_mask.h",
    "wstool/core/_echo_scan.h",
    "wstool/core/_quickhead.c",
    "wstool/net/_echoloop.c",
    "wstool/bench/_batch.c",
    "wstool/bench/_batch.h",
    "wstool/bench/_large.c",
    "wstool/bench/_hook.c",
    "wstool/bench/_pump.c",
    "wstool/ui/_hexview.c",
    "wstool/session/_records.c",
)


def _run(*cmd: str | Path) -> None:
    print("+", " ".join(str(c) for c in cmd), flush=True)
    subprocess.run([str(c) for c in cmd], check=True, cwd=ROOT)


def _run_child(cmd: list[str]) -> int:
    """Run ``cmd`` and return its exit status; Ctrl-C is the child's to handle.

    The terminal sends SIGINT to the whole foreground group: the child (wstool
    serve closes its connections with 1001, pytest reports) decides how to
    stop, and this script just waits for it and passes its status on. A
    SIGTERM sent to this script alone (a supervisor, ``timeout``) is passed on
    to the child, which would otherwise be left running.
    """
    proc = subprocess.Popen(cmd, cwd=ROOT)
    # Ignored only now: a child started with SIGINT ignored would inherit that.
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    previous_term = signal.signal(signal.SIGTERM, lambda *_: proc.terminate())
    try:
        status = proc.wait()
    finally:
        signal.signal(signal.SIGINT, previous)
        signal.signal(signal.SIGTERM, previous_term)
    return 128 - status if status < 0 else status  # killed by a signal: as a shell says


def install_digest(lock: str, root: Path) -> str:
    """A hash of everything an install from ``requirements/<lock>`` depends on."""
    digest = hashlib.sha256()
    for name in (f"requirements/{lock}", *INSTALL_INPUTS):
        path = root / name
        content = path.read_bytes() if path.is_file() else b"(missing)"
        digest.update(f"{name}\0{len(content)}\0".encode())
        digest.update(content)
    return digest.hexdigest()


def stamp_path(lock: str, venv_dir: Path) -> Path:
    """Where the digest of the last install from ``lock`` is kept: inside the venv,
    so that a new venv has none."""
    return venv_dir / f".wstool-installed-{Path(lock).stem}"


def needs_install(lock: str, root: Path, venv_dir: Path) -> bool:
    """Whether pip must run: a new venv, or an input changed since the last install."""
    python = venv_dir / BIN_NAME / "python"
    stamp = stamp_path(lock, venv_dir)
    if not python.exists() or not stamp.is_file():
        return True
    return stamp.read_text(encoding="ascii").strip() != install_digest(lock, root)


def setup(lock: str) -> None:
    """Create .venv if needed, install the lock file and wstool (editable, with its C part).

    pip is skipped (it takes seconds even with nothing to do) when the stamp
    of the last install from ``lock`` matches the inputs as they are now.
    """
    if not PY.exists():
        print(f"+ creating {VENV}", flush=True)
        venv.EnvBuilder(with_pip=True).create(VENV)
    if not needs_install(lock, ROOT, VENV):
        print(f"+ {VENV.name} is up to date with requirements/{lock}", flush=True)
        return
    digest = install_digest(lock, ROOT)  # the inputs as installed, should they change meanwhile
    stamp = stamp_path(lock, VENV)
    stamp.unlink(missing_ok=True)  # a failed install leaves no stamp
    quiet = ["--quiet", "--disable-pip-version-check"]
    _run(PY, "-m", "pip", "install", *quiet, "-r", ROOT / "requirements" / lock)
    # Editable, so that tests run against this tree; the optional C accelerator
    # is built in place where a compiler exists.
    _run(PY, "-m", "pip", "install", *quiet, "--no-deps", "-e", ROOT)
    stamp.write_text(digest + "\n", encoding="ascii")


# Node's ws for the interop tests, pinned by each package-lock.json.
NODE_PEERS = ("tests/interop/node", "tests/interop/connect_peers", "scripts/bench_serve")


def install_node_peers() -> None:
    """``npm ci`` where a lock file has no node_modules yet (skipped without npm: the tests
    that need Node say so and skip)."""
    npm = shutil.which("npm")
    for folder in NODE_PEERS:
        path = ROOT / folder
        if npm is None or not (path / "package-lock.json").is_file():
            continue
        if (path / "node_modules").is_dir():
            continue
        print(f"+ npm ci in {folder}", flush=True)
        subprocess.run(
            [npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"], cwd=path, check=True
        )


def main(argv: list[str]) -> int:
    command, rest = (argv[0], argv[1:]) if argv else ("", [])
    if command in ("-h", "--help", "help"):
        print("usage: python3 scripts/dev.py run|test|lint [ARGS...]\n\n" + __doc__)
        return 0
    if command == "run":
        setup("runtime.txt")
        wstool = BIN / "wstool"
        cmd = rest or ["serve"]
        print("+ wstool", " ".join(cmd), flush=True)
        return _run_child([str(wstool), *cmd])
    if command == "test":
        setup("dev.txt")
        install_node_peers()
        return _run_child([str(PY), "-m", "pytest", *rest])
    if command == "lint":
        setup("dev.txt")
        for cmd in (
            ["ruff", "check", "wstool", "tests", "scripts"],
            ["ruff", "format", "--check", "wstool", "tests", "scripts"],
            ["mypy"],
        ):
            code = subprocess.run([str(BIN / cmd[0]), *cmd[1:]], cwd=ROOT).returncode
            if code:
                return code
        return 0
    print("usage: python3 scripts/dev.py run|test|lint [ARGS...]\n\n" + __doc__, file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
