"""``wstool connect -L``: redirects of the upgrade request, against real redirecting servers.

A websockets server (in a thread) answers some paths with a redirect
(``process_request``) and upgrades the others, echoing ``PATH MESSAGE``; a
second one speaks TLS with a certificate from a private CA, for ws -> wss.
"""

from __future__ import annotations

import ssl
import sys
from collections.abc import Iterator
from http import HTTPStatus
from pathlib import Path

import pytest
from websockets.datastructures import Headers
from websockets.http11 import Request, Response
from websockets.sync.server import ServerConnection

from wstool.core.uri import parse_uri
from wstool.net.redirects import redirect_target

from .connect_servers import PROJECT_ROOT, EchoServer, Visit, echo_server, run_connect, run_wscat

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "interop" / "connect_peers"))
from certs import make_ca, make_server_cert, write_pair

REFUSED = 3


def _echo_path(connection: ServerConnection, text: str, visit: Visit) -> bool:
    connection.send(f"{visit.path} {text}")
    return True


class Redirects:
    """path -> (status, Location) for the server's process_request."""

    def __init__(self) -> None:
        self.table: dict[str, tuple[int, str]] = {}

    def __call__(self, connection: ServerConnection, request: Request) -> Response | None:
        if request.path not in self.table:
            return None
        status, location = self.table[request.path]
        return Response(
            status,
            HTTPStatus(status).phrase,
            Headers({"Location": location, "Content-Length": "0"}),
            b"",
        )


@pytest.fixture(scope="module")
def redirects() -> Redirects:
    return Redirects()


@pytest.fixture(scope="module")
def server(redirects: Redirects) -> Iterator[EchoServer]:
    with echo_server(_echo_path, process_request=redirects) as found:
        yield found


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[EchoServer, Path]]:
    """A wss:// echo server for localhost, and the CA file that verifies it."""
    directory = tmp_path_factory.mktemp("certs")
    ca = make_ca()
    ca_file, _ = write_pair(directory, "ca", ca)
    cert, key = write_pair(directory, "server", make_server_cert(ca, ["localhost", "127.0.0.1"]))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with echo_server(_echo_path, ssl=context) as found:
        yield found, ca_file


def test_follows_each_hop(server: EchoServer, redirects: Redirects) -> None:
    """301 then 307 then 308: every hop on stderr, the message echoed from the last path."""
    base = f"ws://127.0.0.1:{server.port}"
    redirects.table.update(
        {"/a": (301, "/b"), "/b": (307, f"{base}/c?q=1"), "/c?q=1": (308, "/final")}
    )
    result = run_connect(f"{base}/a", "-L", "-x", "hi")
    assert (result.status, result.stdout) == (0, "/final hi\n"), result.explain()
    assert result.stderr.splitlines() == [
        f"wstool connect: 301 redirect: {base}/a -> {base}/b",
        f"wstool connect: 307 redirect: {base}/b -> {base}/c?q=1",
        f"wstool connect: 308 redirect: {base}/c?q=1 -> {base}/final",
    ]


def test_http_location_is_taken_as_ws(server: EchoServer, redirects: Redirects) -> None:
    """A 302 to http://... (what a web framework writes) is followed as ws://."""
    redirects.table["/web"] = (302, f"http://127.0.0.1:{server.port}/ws")
    result = run_connect(f"ws://127.0.0.1:{server.port}/web", "-L", "-x", "x")
    assert (result.status, result.stdout) == (0, "/ws x\n"), result.explain()


def test_without_location_option(server: EchoServer, redirects: Redirects) -> None:
    """No -L: refused (exit 3), the response head with its Location, and the hint."""
    redirects.table["/moved"] = (302, "/here")
    result = run_connect(f"ws://127.0.0.1:{server.port}/moved", "-x", "x")
    assert (result.status, result.stdout) == (REFUSED, ""), result.explain()
    assert "  < Location: /here" in result.stderr
    assert result.stderr.endswith("wstool connect: redirected to '/here': use -L to follow\n")


def test_loop(server: EchoServer, redirects: Redirects) -> None:
    """/x -> /y -> /x is a loop: said at once, exit 3."""
    redirects.table.update({"/x": (302, "/y"), "/y": (302, "/x")})
    result = run_connect(f"ws://127.0.0.1:{server.port}/x", "-L", "-x", "x")
    assert result.status == REFUSED, result.explain()
    assert f"redirect loop: ws://127.0.0.1:{server.port}/x again" in result.stderr


def test_max_redirs(server: EchoServer, redirects: Redirects) -> None:
    """--max-redirs 1 stops before the second hop, naming it."""
    redirects.table.update({"/m1": (302, "/m2"), "/m2": (302, "/m3")})
    result = run_connect(f"ws://127.0.0.1:{server.port}/m1", "-L", "--max-redirs", "1", "-x", "x")
    assert result.status == REFUSED, result.explain()
    assert "more than 1 redirects (--max-redirs); the next is" in result.stderr
    assert result.stderr.count("302 redirect:") == 1


def test_ws_to_wss(
    server: EchoServer, redirects: Redirects, tls_server: tuple[EchoServer, Path]
) -> None:
    """Cross-scheme: ws:// redirected to wss:// is followed, TLS verified with --ca."""
    secure, ca_file = tls_server
    redirects.table["/upgrade-me"] = (308, f"wss://localhost:{secure.port}/secure")
    result = run_connect(
        f"ws://127.0.0.1:{server.port}/upgrade-me", "-L", "--ca", str(ca_file), "-x", "tls"
    )
    assert (result.status, result.stdout) == (0, "/secure tls\n"), result.explain()


def test_credentials_not_sent_to_another_host(server: EchoServer, redirects: Redirects) -> None:
    """Authorization and Cookie stay with the host they were given for (curl's rule)."""
    redirects.table["/elsewhere"] = (302, f"ws://localhost:{server.port}/landed")
    result = run_connect(
        f"ws://127.0.0.1:{server.port}/elsewhere",
        "-L",
        "-H",
        "Authorization: Bearer T",
        "--cookie",
        "a=b",
        "-H",
        "X-Kept: yes",
        "-x",
        "x",
    )
    assert result.status == 0, result.explain()
    landed = server.visits[-1].headers
    assert "authorization" not in landed and "cookie" not in landed
    assert landed["x-kept"] == "yes"


@pytest.mark.parametrize(
    ("location", "expected"),
    [
        ("/b", "ws://h:1/b"),
        ("c", "ws://h:1/a/c"),
        ("https://x/y", "wss://x/y"),
        ("ws://x:9/", "ws://x:9/"),
        ("//other/p", "ws://other/p"),
    ],
)
def test_redirect_target(location: str, expected: str) -> None:
    assert str(redirect_target(parse_uri("ws://h:1/a/b"), location)) == expected


def test_same_hops_as_wscat(server: EchoServer, redirects: Redirects) -> None:
    """The yardstick: wscat -L and wstool -L end on the same path after the same redirects."""
    redirects.table.update({"/w1": (301, "/w2"), "/w2": (307, "/w3?z=1")})
    url = f"ws://127.0.0.1:{server.port}/w1"
    wscat = run_wscat("-L", "-c", url, "-x", "from-wscat", "-w", "0.5")
    assert wscat == 0
    result = run_connect(url, "-L", "-x", "from-wstool")
    assert result.status == 0, result.explain()
    theirs, ours = server.visits[-2:]
    assert theirs.path == ours.path == "/w3?z=1"
