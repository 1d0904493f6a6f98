"""The layering of ARCHITECTURE.md, read from the source with :mod:`ast`.

Dependencies point one way: ``cli`` wires everything; ``net``, ``ui`` and
``capture`` build on ``core``; ``core`` imports the standard library only.
``ui`` and ``net`` never import each other. ``net`` is the only package that
imports Twisted and pyOpenSSL (``cli`` may import Twisted inside a function,
to drive the reactor it installed); ``capture`` reads dumps with the standard
library, and dpkt only inside the function that needs it. Nothing imports the
global reactor when it is imported.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import wstool

PACKAGE = Path(wstool.__file__).parent
STDLIB = frozenset(sys.stdlib_module_names)
# zope.interface is how Twisted declares its interfaces (@implementer);
# pyOpenSSL (OpenSSL) is what its TLS contexts are made of; cryptography
# makes the forward proxy's CA and host certificates (net/ca.py); txredisapi is
# serve --redis's client, on Twisted (net/redisbridge.py).
NET_THIRD_PARTY = ("twisted", "zope.interface", "OpenSSL", "cryptography", "txredisapi")
# orjson indents the JSON payload views in C (decode's speed).
UI_THIRD_PARTY = ("rich", "prompt_toolkit", "orjson")
TWISTED = ("twisted", "zope.interface")

# The wstool packages each package may import (ARCHITECTURE.md's arrows).
# A package not listed here is not held to a table yet.
MAY_IMPORT = {
    "core": ("core",),
    "capture": ("capture", "core"),
    "session": ("session", "core"),
    "check": ("check", "core"),
    "bench": ("bench", "core"),
    # net.mockserve and net.faults act on mock's rules and fault decisions.
    "net": ("net", "core", "mock"),
    "ui": ("ui", "core"),
    "mock": ("mock", "core"),
}


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


def modules_of(package: str, *, recursive: bool = True) -> list[Any]:
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

    @pytest.mark.parametrize("path", modules_of("core"))
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
        """Twisted (with zope.interface and pyOpenSSL) is all net imports from outside."""
        offenders = [
            (line, name)
            for line, name in imports_of(path)
            if not is_stdlib(name)
            and not within(name, "wstool")
            and not any(within(name, allowed) for allowed in NET_THIRD_PARTY)
        ]
        assert offenders == []


def _type_checking_only(node: ast.AST) -> bool:
    """Whether ``node`` is an ``if TYPE_CHECKING:`` block (its imports never run)."""
    if not isinstance(node, ast.If):
        return False
    test = node.test
    name = test.attr if isinstance(test, ast.Attribute) else getattr(test, "id", None)
    return name == "TYPE_CHECKING"


def module_level_imports(source: str) -> Iterator[ast.Import | ast.ImportFrom]:
    """Import statements that run when the module is imported.

    Not those inside a function or lambda, nor under ``if TYPE_CHECKING:``.
    """
    pending: list[ast.AST] = [ast.parse(source)]
    while pending:
        node = pending.pop()
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
                continue
            if _type_checking_only(child):
                continue
            if isinstance(child, ast.Import | ast.ImportFrom):
                yield child
            pending.append(child)


def names_of(node: ast.Import | ast.ImportFrom) -> list[str]:
    """The top-level module names an import statement reaches (relative ones: ``""``)."""
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    return ["" if node.level else node.module or ""]


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


def test_the_reader_of_module_level_imports() -> None:
    """Function bodies and TYPE_CHECKING blocks do not run at import; the rest does."""
    source = (
        "import os\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    import dpkt\n"
        "try:\n"
        "    import rich\n"
        "except ImportError:\n"
        "    pass\n"
        "def f():\n"
        "    import twisted\n"
        "class C:\n"
        "    from . import x\n"
    )
    found = [name for node in module_level_imports(source) for name in names_of(node)]
    assert sorted(found) == ["", "os", "rich", "typing"]


def package_of(path: Path) -> str:
    """The wstool package a module file belongs to (``""`` for top-level modules)."""
    parts = path.relative_to(PACKAGE).parts
    if len(parts) == 1 and parts[0] == "hexdump.py":
        return "capture"  # what is left of it re-exports capture
    return parts[0] if len(parts) > 1 else ""


def modules_where(keep: Callable[[str], bool]) -> list[Any]:
    """pytest params for the module files of wstool whose package passes ``keep``."""
    paths = [p for p in sorted(PACKAGE.rglob("*.py")) if keep(package_of(p))]
    return [pytest.param(p, id=str(p.relative_to(PACKAGE))) for p in paths]


class TestDependenciesPointOneWay:
    """Each package imports only the wstool packages under it; cli wires them."""

    @pytest.mark.parametrize("path", modules_where(lambda package: package in MAY_IMPORT))
    def test_only_the_packages_below(self, path: Path) -> None:
        """core -> nothing; net, ui, capture (and later session, check, bench) -> core."""
        allowed = MAY_IMPORT[package_of(path)]
        offenders = [
            (line, name)
            for line, name in imports_of(path)
            if within(name, "wstool")
            and name != "wstool"
            and not any(within(name, f"wstool.{package}") for package in allowed)
        ]
        assert offenders == []


class TestMock:
    """mock (rules files, fault decisions) is the standard library and core: no Twisted."""

    @pytest.mark.parametrize("path", modules_of("mock"))
    def test_stdlib_and_core_only(self, path: Path) -> None:
        """PyYAML is reached through importlib, inside the function that reads YAML."""
        offenders = [
            (line, name)
            for line, name in imports_of(path)
            if not (is_stdlib(name) or within(name, "wstool.core") or within(name, "wstool.mock"))
        ]
        assert offenders == []


class TestCapture:
    """capture reads dumps and captures with the standard library (decode starts fast)."""

    def test_capture_is_a_package(self) -> None:
        """The dump readers live in wstool/capture, not in one module."""
        assert (PACKAGE / "capture" / "__init__.py").is_file()

    @pytest.mark.parametrize("path", modules_where(lambda package: package == "capture"))
    def test_stdlib_core_and_a_lazy_dpkt(self, path: Path) -> None:
        """Standard library, wstool.core and itself; dpkt (pcap) only, and only inside functions."""
        offenders = [
            (line, name)
            for line, name in imports_of(path)
            if not (
                is_stdlib(name)
                or within(name, "wstool.capture")
                or within(name, "wstool.core")
                or within(name, "dpkt")
            )
        ]
        eager_dpkt = [
            (node.lineno, name)
            for node in module_level_imports(path.read_text(encoding="utf-8"))
            for name in names_of(node)
            if within(name, "dpkt")
        ]
        assert offenders == []
        assert eager_dpkt == []


class TestBench:
    """bench drives sockets on asyncio: the standard library and core, its two
    third-party packages (hdrhistogram, uvloop) only inside functions."""

    @pytest.mark.parametrize("path", modules_where(lambda package: package == "bench"))
    def test_stdlib_core_and_lazy_hdrh_uvloop(self, path: Path) -> None:
        """wstool bench --help stays light; uvloop stays optional."""
        lazy = ("hdrh", "uvloop")
        offenders = [
            (line, name)
            for line, name in imports_of(path)
            if not (
                is_stdlib(name)
                or within(name, "wstool.bench")
                or within(name, "wstool.core")
                or any(within(name, package) for package in lazy)
            )
        ]
        eager = [
            (node.lineno, name)
            for node in module_level_imports(path.read_text(encoding="utf-8"))
            for name in names_of(node)
            if any(within(name, package) for package in lazy)
        ]
        assert offenders == []
        assert eager == []


class TestTwistedAndOpenSSLStayInNet:
    """Only net drives sockets and TLS; cli may reach the reactor it installed, lazily."""

    @pytest.mark.parametrize("path", modules_where(lambda package: package != "net"))
    def test_pyopenssl_only_in_net(self, path: Path) -> None:
        """TLS contexts are made in net (net/tls.py); nobody else imports OpenSSL."""
        offenders = [(line, name) for line, name in imports_of(path) if within(name, "OpenSSL")]
        assert offenders == []

    @pytest.mark.parametrize("path", modules_where(lambda package: package != "net"))
    def test_twisted_only_in_net_and_lazily_in_cli(self, path: Path) -> None:
        """net imports Twisted; cli only inside functions (decode and --help never load
        it); ui, core, capture and the top-level modules not at all."""
        if package_of(path) == "cli":
            source = path.read_text(encoding="utf-8")
            offenders = [
                (node.lineno, name)
                for node in module_level_imports(source)
                for name in names_of(node)
                if any(within(name, t) for t in TWISTED)
            ]
        else:
            offenders = [
                (line, name)
                for line, name in imports_of(path)
                if any(within(name, t) for t in TWISTED)
            ]
        assert offenders == []

    @pytest.mark.parametrize("path", modules_of("ui"))
    def test_ui_third_party_is_rich_and_prompt_toolkit(self, path: Path) -> None:
        """The terminal side is built of rich and prompt_toolkit (and orjson), nothing else."""
        offenders = [
            (line, name)
            for line, name in imports_of(path)
            if not is_stdlib(name)
            and not within(name, "wstool")
            and not any(within(name, allowed) for allowed in UI_THIRD_PARTY)
        ]
        assert offenders == []
