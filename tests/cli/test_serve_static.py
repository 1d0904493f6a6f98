"""``wstool serve --static DIR``: files for plain GETs, nothing outside DIR, the console moved."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twisted.web.test.requesthelper import DummyRequest

from wstool.net.static import StaticFiles

from .serve_support import served

websockets_sync = pytest.importorskip("websockets.sync.client")


@pytest.fixture
def site(tmp_path: Path) -> Path:
    """DIR with an index, a stylesheet, a sub-directory, a link out and a secret beside it."""
    root = tmp_path / "site"
    (root / "docs").mkdir(parents=True)
    (root / "index.html").write_text("<h1>home</h1>\n")
    (root / "style.css").write_text("body {}\n")
    (root / "app.js").write_text("let x = 1;\n")
    (root / "docs" / "index.html").write_text("<p>docs</p>\n")
    (root / "empty").mkdir()
    (tmp_path / "secret.txt").write_text("top secret\n")
    (root / "out").symlink_to(tmp_path / "secret.txt")
    (root / "outdir").symlink_to(tmp_path)
    (root / "inside").symlink_to(root / "style.css")
    return root


class TestResolve:
    """StaticFiles.resolve on decoded path segments, as twisted.web hands them over."""

    @pytest.mark.parametrize(
        ("segments", "expected"),
        [
            ([b""], ("index.html", True)),
            ([b"style.css"], ("style.css", False)),
            ([b"docs", b""], ("docs/index.html", True)),
            ([b"docs"], ("docs/index.html", True)),
            ([b"inside"], ("style.css", False)),  # a link that stays inside is followed
        ],
    )
    def test_served(self, site: Path, segments: list[bytes], expected: tuple[str, bool]) -> None:
        found = StaticFiles(str(site)).resolve(segments)
        assert found == (os.path.realpath(site / expected[0]), expected[1])

    @pytest.mark.parametrize(
        "segments",
        [
            [b"..", b"secret.txt"],
            [b"docs", b"..", b"..", b"secret.txt"],
            [b".", b"style.css"],
            [b"..%2fsecret.txt"],  # not decoded here: simply no such file
            [b"../secret.txt"],  # a %2f decoded inside one segment
            [b"..\\secret.txt"],
            [b"style.css\x00"],
            [b"out"],  # a link to a file outside
            [b"outdir", b"secret.txt"],  # through a link to a directory outside
            [b"empty", b""],  # a directory without index.html: no listing
            [b"missing"],
            [b"", b"etc", b"passwd"],  # //etc/passwd
            [b"\xff"],
        ],
    )
    def test_refused(self, site: Path, segments: list[bytes]) -> None:
        assert StaticFiles(str(site)).resolve(segments) is None

    def test_an_absolute_path_stays_under_the_root(self, site: Path) -> None:
        """os.path.join would drop the root before an absolute segment; an empty one refuses."""
        assert StaticFiles(str(site)).resolve([b"", b"tmp"]) is None

    def test_not_found_is_one_line(self, site: Path) -> None:
        request: Any = DummyRequest([b"missing"])
        request.path = b"/missing"
        body = StaticFiles(str(site)).render(request)
        assert body == b"not found: /missing\n"
        assert request.responseCode == 404


def _raw_get(port: int, target: bytes, method: bytes = b"GET") -> tuple[int, dict[str, str], bytes]:
    """One request with the target exactly as given (no client normalises it), the answer read."""
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(method + b" " + target + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := sock.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    headers = dict(line.lower().split(": ", 1) for line in lines[1:])
    return int(lines[0].split()[1]), headers, body


TRAVERSALS = [
    b"/../secret.txt",
    b"/%2e%2e/secret.txt",
    b"/%2E%2E/secret.txt",
    b"/..%2fsecret.txt",
    b"/%2e%2e%2fsecret.txt",
    b"/docs/../../secret.txt",
    b"/docs/%2e%2e/%2e%2e/secret.txt",
    b"/..%5csecret.txt",
    b"/out",
    b"/outdir/secret.txt",
    b"//secret.txt",
    b"/style.css%00.html",
]


def test_files_types_index_redirect_and_traversal_over_http(site: Path) -> None:
    """Real requests: content types, index.html, the slash redirect, HEAD, and every escape 404."""
    with served("--static", str(site)) as server:
        port = server.port
        status, headers, body = _raw_get(port, b"/")
        assert (status, headers["content-type"], body) == (200, "text/html", b"<h1>home</h1>\n")
        status, headers, body = _raw_get(port, b"/style.css")
        assert (status, headers["content-type"]) == (200, "text/css")
        status, headers, _ = _raw_get(port, b"/app.js")
        assert status == 200 and "javascript" in headers["content-type"]
        status, headers, _ = _raw_get(port, b"/docs?v=1")
        assert (status, headers["location"]) == (301, "/docs/?v=1")
        assert _raw_get(port, b"/docs/")[2] == b"<p>docs</p>\n"
        status, headers, body = _raw_get(port, b"/style.css", b"HEAD")
        assert (status, headers["content-length"], body) == (200, "8", b"")
        for target in TRAVERSALS:
            status, _, body = _raw_get(port, target)
            assert status == 404 and b"secret" not in body.replace(b"secret.txt", b""), target
            assert body.count(b"\n") == 1, target
        # The console moved; WebSockets upgrade on any path as before.
        status, headers, body = _raw_get(port, b"/__wstool/")
        assert status == 200 and b"<!doctype html>" in body.lower()
        with websockets_sync.connect(server.url + "index.html", open_timeout=10) as ws:
            ws.send("still an echo")
            assert ws.recv(timeout=10) == "still an echo"
    assert "browser console at http://127.0.0.1:" in server.output()
    assert "/__wstool/;" in server.output()


def test_without_static_the_console_stays_at_the_root() -> None:
    with served() as server:
        assert _raw_get(server.port, b"/")[0] == 200
        assert _raw_get(server.port, b"/__wstool/")[0] == 400  # any other plain GET: no upgrade


def test_a_missing_directory_is_one_line_and_exit_2(tmp_path: Path) -> None:
    from .serve_support import run_wstool

    done = run_wstool("serve", "--port", "0", "--static", str(tmp_path / "nope"))
    assert done.returncode == 2
    assert done.stderr == f"wstool serve: --static: '{tmp_path / 'nope'}' is not a directory\n"


_SEGMENT = st.one_of(
    st.sampled_from([b"..", b".", b"", b"out", b"outdir", b"docs", b"secret.txt", b"index.html"]),
    st.binary(max_size=12),
)


@settings(
    max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(segments=st.lists(_SEGMENT, min_size=1, max_size=6))
def test_whatever_the_path_nothing_outside_the_root_is_served(
    site: Path, segments: list[bytes]
) -> None:
    """Any decoded segments resolve to a readable file under DIR's real path, or to nothing."""
    root = os.path.realpath(site)
    found = StaticFiles(str(site)).resolve(segments)
    if found is not None:
        path, _ = found
        assert path.startswith(root + os.sep) and os.path.isfile(path)
        assert os.path.realpath(path) == path
