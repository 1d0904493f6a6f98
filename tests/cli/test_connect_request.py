"""What connect sends and where: ``-H @FILE``, ``--cookie``, ``--host``, ``--connect-to``.

Checked from a websockets server's side (the request headers it received),
and for ``--connect-to`` over TLS, that the certificate is verified against
the URL's host name while TCP goes elsewhere (as curl's ``--connect-to``).
"""

from __future__ import annotations

import argparse
import ssl
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from wstool.cli.connect_options import (
    JarCookie,
    cookie_header,
    parse_connect_to,
    read_header_file,
)
from wstool.net.client import ConnectTo

from .connect_servers import PROJECT_ROOT, EchoServer, echo_server, run_connect

sys.path.insert(0, str(PROJECT_ROOT / "tests" / "interop" / "connect_peers"))
from certs import make_ca, make_server_cert, write_pair

USAGE = 2


@pytest.fixture(scope="module")
def server() -> Iterator[EchoServer]:
    with echo_server() as found:
        yield found


def test_headers_from_a_file(server: EchoServer, tmp_path: Path) -> None:
    """-H @FILE: one header a line, comments and blank lines skipped, beside -H."""
    headers = tmp_path / "headers.txt"
    headers.write_text("# for the staging API\nAuthorization: Bearer T\n\nX-Trace:  42 \r\n")
    result = run_connect(
        f"ws://127.0.0.1:{server.port}/", "-H", f"@{headers}", "-H", "X-More: 1", "-x", "a"
    )
    assert result.status == 0, result.explain()
    seen = server.visits[-1].headers
    assert (seen["authorization"], seen["x-trace"], seen["x-more"]) == ("Bearer T", "42", "1")


def test_header_file_errors_name_the_line(tmp_path: Path) -> None:
    """A bad line: exit 2, the file and line number in one line."""
    headers = tmp_path / "bad.txt"
    headers.write_text("A: 1\nno colon here\n")
    result = run_connect("ws://127.0.0.1:9/", "-H", f"@{headers}")
    assert result.status == USAGE
    assert f"{headers}, line 2: 'no colon here' is not 'Name: value'" in result.stderr
    missing = run_connect("ws://127.0.0.1:9/", "-H", f"@{tmp_path}/none")
    assert missing.status == USAGE and "No such file or directory" in missing.stderr


def test_cookie(server: EchoServer, tmp_path: Path) -> None:
    """--cookie twice, one a Netscape cookie file: one Cookie header, the jar's for this URL.

    As curl sends them: domain (with or without subdomains), path prefix,
    secure only over wss://, not expired.
    """
    jar = tmp_path / "cookies.txt"
    jar.write_text(
        "# Netscape HTTP Cookie File\n"
        "127.0.0.1\tFALSE\t/\tFALSE\t0\tsession\tabc\n"
        "#HttpOnly_127.0.0.1\tFALSE\t/api\tFALSE\t0\ttoken\txyz\n"
        "127.0.0.1\tFALSE\t/apix\tFALSE\t0\tnot_this_path\t1\n"
        "127.0.0.1\tFALSE\t/\tTRUE\t0\tsecure_only\t1\n"
        "127.0.0.1\tFALSE\t/\tFALSE\t1000\texpired\t1\n"
        "example.com\tTRUE\t/\tFALSE\t0\tother_host\t1\n"
    )
    result = run_connect(
        f"ws://127.0.0.1:{server.port}/api/ws",
        "--cookie",
        "a=b; c=d",
        "--cookie",
        f"@{jar}",
        "-x",
        "a",
    )
    assert result.status == 0, result.explain()
    assert server.visits[-1].headers["cookie"] == "a=b; c=d; session=abc; token=xyz"


@pytest.mark.parametrize(
    ("host", "path", "secure", "sent"),
    [
        ("example.com", "/", False, True),
        ("www.example.com", "/a", False, True),
        ("badexample.com", "/", False, False),
        ("example.com", "/", True, True),
    ],
)
def test_jar_cookie_domains(host: str, path: str, secure: bool, sent: bool) -> None:
    cookie = JarCookie(".example.com", True, "/", False, 0, "n", "v")
    assert cookie.matches(host, path, secure, 0.0) is sent


def test_cookie_file_errors(tmp_path: Path) -> None:
    jar = tmp_path / "jar"
    jar.write_text("only\tthree\tfields\n")
    result = run_connect("ws://127.0.0.1:9/", "--cookie", f"@{jar}")
    assert result.status == USAGE
    assert f"{jar}, line 1: not a Netscape cookie line" in result.stderr


def test_host_header(server: EchoServer) -> None:
    """--host replaces the URL's Host header; TCP still goes to the URL's address."""
    result = run_connect(f"ws://127.0.0.1:{server.port}/", "--host", "api.example", "-x", "a")
    assert result.status == 0, result.explain()
    assert server.visits[-1].headers["host"] == "api.example"


def test_connect_to(server: EchoServer) -> None:
    """--connect-to HOST:PORT: the URL's Host is sent, the other address dialled."""
    url = "ws://name.invalid:1234/here"
    result = run_connect(url, "--connect-to", f"127.0.0.1:{server.port}", "-x", "a")
    assert (result.status, result.stdout) == (0, "a\n"), result.explain()
    assert server.visits[-1].headers["host"] == "name.invalid:1234"
    long_form = run_connect(
        url, "--connect-to", f"name.invalid:1234:127.0.0.1:{server.port}", "-x", "b"
    )
    assert long_form.status == 0, long_form.explain()
    other = run_connect(
        url,
        "--connect-to",
        f"other.invalid::127.0.0.1:{server.port}",
        "--connect-timeout",
        "3",
        "-x",
        "c",
    )
    assert other.status == 5  # the rule is not for this host: name.invalid is dialled


def test_connect_to_keeps_the_tls_name(tmp_path: Path) -> None:
    """wss://secure.test/ dialled at 127.0.0.1: verified as secure.test (and refused if not)."""
    ca = make_ca()
    ca_file, _ = write_pair(tmp_path, "ca", ca)
    cert, key = write_pair(tmp_path, "server", make_server_cert(ca, ["secure.test"]))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert, key)
    with echo_server(ssl=context) as secure:
        to = f"127.0.0.1:{secure.port}"
        good = run_connect(
            "wss://secure.test/", "--connect-to", to, "--ca", str(ca_file), "-x", "tls"
        )
        wrong = run_connect(
            "wss://other.test/", "--connect-to", to, "--ca", str(ca_file), "-x", "tls"
        )
    assert (good.status, good.stdout) == (0, "tls\n"), good.explain()
    assert secure.visits[0].headers["host"] == "secure.test"
    assert wrong.status == 5
    assert "not valid for other.test" in wrong.stderr


@pytest.mark.parametrize(
    ("text", "rule"),
    [
        ("10.0.0.7:443", ConnectTo("", 0, "10.0.0.7", 443)),
        ("[::1]:8443", ConnectTo("", 0, "::1", 8443)),
        ("a.test:443:b.test:8443", ConnectTo("a.test", 443, "b.test", 8443)),
        ("::b.test:", ConnectTo("", 0, "b.test", 0)),
        ("[::1]:80:[::2]:81", ConnectTo("::1", 80, "::2", 81)),
    ],
)
def test_parse_connect_to(text: str, rule: ConnectTo) -> None:
    assert parse_connect_to(text) == rule


@pytest.mark.parametrize("text", ["nohost", "a:b:c", "h:99999"])
def test_parse_connect_to_errors(text: str) -> None:
    with pytest.raises(argparse.ArgumentTypeError):
        parse_connect_to(text)


def test_cookie_syntax() -> None:
    assert cookie_header(" a=b ;c=d; ") == "a=b; c=d"
    with pytest.raises(argparse.ArgumentTypeError, match="is not NAME=VALUE"):
        cookie_header("novalue")


def test_header_file_reader(tmp_path: Path) -> None:
    path = tmp_path / "h"
    path.write_text("  # indented comment\nA: b: c\n")
    assert read_header_file(str(path)) == [("A", "b: c")]


def test_connect_to_failure_names_the_address_dialled() -> None:
    """Nothing at the --connect-to address: the error names it, and -v the route."""
    result = run_connect("ws://name.invalid/", "--connect-to", "127.0.0.1:9", "-v", "-x", "a")
    assert result.status == 5
    assert result.stderr.splitlines() == [
        "wstool connect: dialling 127.0.0.1:9 for ws://name.invalid/ (--connect-to)",
        "wstool connect: connection refused by 127.0.0.1:9",
    ]
