"""The layering of ARCHITECTURE.md, read from the source with :mod:`ast`.

``core`` is sans-I/O and imports the standard library only; ``ui`` and ``net``
never import each other; ``net`` is the only package that imports Twisted,
and Twisted is the only third-party package it imports. Nothing imports the
global reactor when it is imported.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

import wstool

PACKAGE = Path(wstool.__file__).parent
STDLIB = frozenset(sys.stdlib_module_names)
# zope.interface is how Twisted declares its interfaces (@implementer).
NET_THIRD_PARTY = ("twisted", "zope.interface")


def module_name(path: Path) -> str:
    """The dotted name of a module file under the wstool package."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(source: str, package: str) -> Iterator[tuple[int, str]]:
    """Every name an import statement of ``source`` reaches, made absolute, with its line.

    ``from a.b import c`` reaches ``a.b.c`` (c may be a submodule), and
    relative imports are resolved against ``package``.
    """
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            for alias in node.names:
                yield node.lineno, module if alias.name == "*" else f"{module}.{alias.name}"


def imports_of(path: Path) -> list[tuple[int, str]]:
    """The names the module file at ``path`` imports."""
    package = module_name(path)
    if path.name != "__init__.py":
        package = package.rpartition(".")[0]
    return list(imported_names(path.read_text(encoding="utf-8"), package))


def within(name: str, prefix: str) -> bool:
    """Whether the dotted ``name`` is ``prefix`` or inside it."""
    return name == prefix or name.startswith(prefix + ".")


def is_stdlib(name: str) -> bool:
    """Whether ``name`` belongs to the standard library."""
    return name.partition(".")[0] in STDLIB


def modules_of(package: str, *, recursive: bool = True) -> list:
    """pytest params for the module files of ``wstool/<package>``, or one skip if none."""
    folder = PACKAGE / package
    paths = sorted(folder.rglob("*.py") if recursive else folder.glob("*.py"))
    params = [pytest.param(p, id=str(p.relative_to(PACKAGE))) for p in paths]
    reason = f"wstool/{package} has no modules yet"
    return params or [pytest.param(None, id=package, marks=pytest.mark.skip(reason=reason))]


def test_the_checker_sees_every_form() -> None:
    """The import reader resolves plain, from, relative and submodule imports."""
    source = (
        "import os.path, rich\n"
        "from . import frames\n"
        "from .events import Event\n"
        "from .. import ui\n"
        "from twisted.internet import reactor\n"
        "def f():\n"
        "    import json\n"
    )
    assert sorted(imported_names(source, "wstool.core")) == [
        (1, "os.path"),
        (1, "rich"),
        (2, "wstool.core.frames"),
        (3, "wstool.core.events.Event"),
        (4, "wstool.ui"),
        (5, "twisted.internet.reactor"),
        (7, "json"),
    ]


class TestCoreIsSansIO:
    """wstool/core imports the standard library and itself, nothing else."""

    def test_core_modules_exist(self) -> None:
        """The check below runs on the codec's modules, not on an empty folder."""
        names = {path.name for path in (PACKAGE / "core").glob("*.py")}
        assert {"frames.py", "masking.py", "connection.py", "events.py", "errors.py"} <= names

    @pytest.mark.parametrize("path", modules_of("core", recursive=False))
    def test_stdlib_only(self, path: Path) -> None:
        """No Twisted, rich, prompt_toolkit or other wstool package in the codec."""
        offenders = [
            (line, name)
            for line, name in imports_of(path)
            if not (is_stdlib(name) or within(name, "wstool.core"))
        ]
        assert offenders == []


class TestLayers:
    """ui and net never import each other; Twisted stays in net."""

    @pytest.mark.parametrize("path", modules_of("ui"))
    def test_ui_imports_neither_net_nor_twisted(self, path: Path) -> None:
        """ui talks to net only through a typing.Protocol that cli plugs in."""
        offenders = [
            (line, name)
            for line, name in imports_of(path)
            if within(name, "wstool.net") or within(name, "wstool.cli") or within(name, "twisted")
        ]
        assert offenders == []

    @pytest.mark.parametrize("path", modules_of("net"))
    def test_net_never_imports_ui(self, path: Path) -> None:
        """net reports to an observer protocol; it never imports ui (or cli)."""
        offenders = [
            (line, name)
            for line, name in imports_of(path)
            if within(name, "wstool.ui") or within(name, "wstool.cli")
        ]
        assert offenders == []

    @pytest.mark.parametrize("path", modules_of("net"))
    def test_net_third_party_is_twisted(self, path: Path) -> None:
        """Twisted is the only third-party package net imports."""
        offenders = [
            (line, name)
            for line, name in imports_of(path)
            if not is_stdlib(name)
            and not within(name, "wstool")
            and not any(within(name, allowed) for allowed in NET_THIRD_PARTY)
        ]
        assert offenders == []


def module_level_imports(source: str) -> Iterator[ast.stmt]:
    """Import statements that run when the module is imported (not inside a function)."""
    pending: list[ast.AST] = [ast.parse(source)]
    while pending:
        node = pending.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child
            pending.append(child)


@pytest.mark.parametrize("path", modules_of("."))
def test_no_global_reactor_at_import(path: Path) -> None:
    """Nothing imports twisted.internet.reactor at import time: cli installs it first."""
    found = []
    for node in module_level_imports(path.read_text(encoding="utf-8")):
        if isinstance(node, ast.ImportFrom) and node.module == "twisted.internet":
            found += [node.lineno for alias in node.names if alias.name == "reactor"]
        elif isinstance(node, ast.Import):
            found += [node.lineno for a in node.names if a.name == "twisted.internet.reactor"]
    assert found == []
