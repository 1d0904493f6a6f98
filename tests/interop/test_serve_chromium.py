"""``wstool serve``'s browser console in headless Chromium, driven over the DevTools protocol.

Chromium loads the console page that ``serve`` returns for ``GET /``, and
the test uses it as a person would: Connect, type a message, pick text or
binary, Send, Close, then reads the page's log. The server runs with
``--json``, so its NDJSON log shows the same traffic from the other side:
the request Chromium sent, masked client frames, unmasked echoes, and
permessage-deflate (which Chromium offers by default) agreed or not.

DevTools is spoken with the websockets library's synchronous client; no
Selenium or Playwright. Skipped when no Chromium is installed.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import shutil
import struct
import subprocess
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import WstoolServer

pytest.importorskip("websockets", reason="the websockets library drives DevTools")
from websockets.sync.client import ClientConnection, connect

BROWSER_START_TIMEOUT = 30.0
STEP_TIMEOUT = 10.0
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
TEXT_MESSAGE = "héllo from chromium ✓"
BINARY_TYPED = "00 01 7f 80 ff"
BINARY_BYTES = bytes([0x00, 0x01, 0x7F, 0x80, 0xFF])
CHROMIUM_FLAGS = (
    "--headless",
    "--remote-debugging-port=0",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--window-size=1024,640",
)


def _find_chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return "/usr/bin/chromium" if os.access("/usr/bin/chromium", os.X_OK) else None


class DevTools:
    """A minimal Chrome DevTools Protocol client over one browser-level WebSocket."""

    def __init__(self, ws: ClientConnection) -> None:
        self.ws = ws
        self._ids = itertools.count(1)

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        """Send a command and return its result, skipping events; fail on an error or timeout."""
        call_id = next(self._ids)
        message: dict[str, Any] = {"id": call_id, "method": method, "params": params or {}}
        if session is not None:
            message["sessionId"] = session
        self.ws.send(json.dumps(message))
        deadline = time.monotonic() + STEP_TIMEOUT
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                pytest.fail(f"DevTools {method} got no answer in {STEP_TIMEOUT}s")
            reply = json.loads(self.ws.recv(timeout=remaining))
            if reply.get("id") != call_id:
                continue  # an event, or nothing we wait for
            if "error" in reply:
                pytest.fail(f"DevTools {method} failed: {reply['error']}")
            return reply["result"]  # type: ignore[no-any-return]


class ConsolePage:
    """One tab showing wstool's browser console."""

    def __init__(self, devtools: DevTools, session: str) -> None:
        self.devtools = devtools
        self.session = session

    def evaluate(self, expression: str) -> Any:
        """Evaluate JavaScript in the page and return its value; fail on a thrown exception."""
        result = self.devtools.call(
            "Runtime.evaluate",
            {"expression": expression, "returnByValue": True, "awaitPromise": True},
            self.session,
        )
        if "exceptionDetails" in result:
            pytest.fail(f"page threw on {expression!r}: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for(self, expression: str, what: str, timeout: float = STEP_TIMEOUT) -> Any:
        """Poll ``expression`` until it is truthy, failing with the page log after ``timeout``."""
        deadline = time.monotonic() + timeout
        while True:
            value = self.evaluate(expression)
            if value:
                return value
            if time.monotonic() > deadline:
                pytest.fail(f"timed out waiting for {what}; page log:\n" + "\n".join(self.log()))
            time.sleep(0.05)

    def log(self) -> list[str]:
        """The console's log lines, without their timestamps."""
        lines = self.evaluate(
            "Array.from(document.querySelectorAll('#log > div'), (d) => d.textContent)"
        )
        return [line.split(" ", 1)[1] if " " in line else line for line in lines]

    def log_text(self) -> str:
        """``#log``'s whole textContent, as a person would read it."""
        return str(self.evaluate("document.getElementById('log').textContent"))

    def send(self, text: str, kind: str) -> None:
        """Type ``text`` into the message box, choose text or binary, and press Send."""
        self.evaluate(
            "(() => {"
            f"  document.querySelector('input[name=kind][value={kind}]').click();"
            "  const box = document.getElementById('message');"
            "  box.focus();"
            f"  box.value = {json.dumps(text)};"
            "  box.dispatchEvent(new Event('input', {bubbles: true}));"
            "  document.getElementById('sendButton').click();"
            "})()"
        )

    def wait_for_log(self, line: str) -> None:
        """Wait until a log line equal to ``line`` (timestamp aside) appears."""
        self.wait_for(
            "Array.from(document.querySelectorAll('#log > div'), (d) => d.textContent)"
            f".some((t) => t.slice(t.indexOf(' ') + 1) === {json.dumps(line)})",
            f"log line {line!r}",
        )


@pytest.fixture(scope="module")
def devtools(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DevTools]:
    """A headless Chromium and a DevTools connection to it; both closed at teardown."""
    executable = _find_chromium()
    if executable is None:
        pytest.skip("Chromium is not installed (apt-get install chromium)")
    profile = tmp_path_factory.mktemp("chromium-profile")
    process = subprocess.Popen(
        [executable, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + BROWSER_START_TIMEOUT
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if process.poll() is not None or time.monotonic() > deadline:
                process.kill()
                _, err = process.communicate(timeout=10)
                pytest.fail(
                    f"Chromium did not open its DevTools port in {BROWSER_START_TIMEOUT}s "
                    f"(exit {process.returncode}):\n{err.decode(errors='replace')[-3000:]}"
                )
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        with connect(
            f"ws://127.0.0.1:{port}{path}", max_size=64 * 2**20, open_timeout=STEP_TIMEOUT
        ) as ws:
            yield DevTools(ws)
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(10)
        if process.stderr is not None:
            process.stderr.close()


@pytest.fixture
def open_console(devtools: DevTools) -> Iterator[Callable[[str], ConsolePage]]:
    """Open a new tab on a console URL; every tab opened is closed at teardown."""
    targets: list[str] = []

    def open_tab(url: str) -> ConsolePage:
        target = devtools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
        targets.append(target)
        session = devtools.call("Target.attachToTarget", {"targetId": target, "flatten": True})[
            "sessionId"
        ]
        page = ConsolePage(devtools, session)
        devtools.call("Page.enable", session=session)
        devtools.call("Page.navigate", {"url": url}, session)
        page.wait_for(
            "document.readyState === 'complete' && !!document.getElementById('connect')",
            "the console page to load",
        )
        return page

    yield open_tab
    for target in targets:
        devtools.call("Target.closeTarget", {"targetId": target})


def _records(server: WstoolServer, event: str, **match: Any) -> list[dict[str, Any]]:
    return [
        record
        for record in server.json_records()
        if record.get("event") == event and all(record.get(k) == v for k, v in match.items())
    ]


def _exchange_through_console(page: ConsolePage, server: WstoolServer) -> None:
    """Connect, send one text and one binary message, close: all through the page's UI."""
    assert page.evaluate("document.getElementById('url').value") == server.url
    page.evaluate("document.getElementById('connect').click()")
    page.wait_for("document.getElementById('state').textContent === 'open'", "the socket to open")
    page.send(TEXT_MESSAGE, "text")
    page.wait_for_log(f"< text {len(TEXT_MESSAGE)} chars: {TEXT_MESSAGE}")
    page.send(BINARY_TYPED, "binary")
    page.wait_for_log(f"< binary 5 bytes: {BINARY_TYPED}")
    page.evaluate("document.getElementById('disconnect').click()")
    page.wait_for_log('closed code=1000 reason="bye" clean=true')


def _check_page_log(page: ConsolePage, server: WstoolServer, deflate: bool) -> None:
    lines = page.log()
    opened = [line for line in lines if line.startswith("open ")]
    assert len(opened) == 1, lines
    assert opened[0].startswith(f"open {server.url} protocol=-")
    if deflate:
        assert "extensions=permessage-deflate" in opened[0]
    else:
        assert opened[0].endswith("extensions=-")
    expected = [
        f"> text {len(TEXT_MESSAGE)} chars: {TEXT_MESSAGE}",
        f"< text {len(TEXT_MESSAGE)} chars: {TEXT_MESSAGE}",
        f"> binary 5 bytes: {BINARY_TYPED}",
        f"< binary 5 bytes: {BINARY_TYPED}",
        'closed code=1000 reason="bye" clean=true',
    ]
    assert [line for line in lines if not line.startswith("open ")] == expected
    assert not [line for line in lines if "error" in line]
    whole = page.log_text()
    for line in expected:
        assert line in whole


def _check_server_log(server: WstoolServer, deflate: bool) -> None:
    records = server.wait_for_records(
        lambda records: any(r.get("event") == "disconnect" for r in records)
    )
    (opened,) = [r for r in records if r.get("event") == "open"]
    conn = opened["conn"]
    request, response = opened["request"].lower(), opened["response"].lower()
    assert request.startswith("get / http/1.1\r\n")
    assert "sec-websocket-extensions: permessage-deflate" in request  # Chromium's default
    assert response.startswith("http/1.1 101 ")
    assert ("sec-websocket-extensions: permessage-deflate" in response) is deflate

    data_in = _records(server, "frame", conn=conn, direction="in")
    data_out = _records(server, "frame", conn=conn, direction="out")
    for opcode in (1, 2):
        sent = [f for f in data_in if f["opcode"] == opcode]
        echoed = [f for f in data_out if f["opcode"] == opcode]
        assert len(sent) == 1, data_in
        assert len(echoed) == 1, data_out
        # RFC 6455 §5.1: clients mask every frame, servers never do.
        assert sent[0]["masked"] is True
        assert sent[0]["mask_key"] is not None
        assert echoed[0]["masked"] is False
        assert sent[0]["fin"] is echoed[0]["fin"] is True
        assert sent[0]["rsv1"] is echoed[0]["rsv1"] is deflate
        assert not sent[0]["violations"]
    text_in = next(f for f in data_in if f["opcode"] == 1)
    binary_in = next(f for f in data_in if f["opcode"] == 2)
    if deflate:
        (text_msg_in,) = _records(server, "message", conn=conn, direction="in", opcode=1)
        (text_msg_out,) = _records(server, "message", conn=conn, direction="out", opcode=1)
        assert text_msg_in["text"] == text_msg_out["text"] == TEXT_MESSAGE
        assert text_msg_in["compressed"] is True
        (binary_msg_in,) = _records(server, "message", conn=conn, direction="in", opcode=2)
        assert binary_msg_in["size"] == len(BINARY_BYTES)
        assert binary_msg_in["compressed"] is True
    else:
        assert text_in["text"] == TEXT_MESSAGE
        assert text_in["payload_hex"] == TEXT_MESSAGE.encode().hex()
        assert binary_in["payload_hex"] == BINARY_BYTES.hex()

    closes_in = [f for f in data_in if f["opcode"] == 8]
    closes_out = [f for f in data_out if f["opcode"] == 8]
    assert [(f["close_code"], f["close_reason"], f["masked"]) for f in closes_in] == [
        (1000, "bye", True)
    ]
    assert [(f["close_code"], f["close_reason"], f["masked"]) for f in closes_out] == [
        (1000, "bye", False)
    ]
    (closed,) = _records(server, "close", conn=conn)
    assert (closed["code"], closed["reason"], closed["initiator"], closed["clean"]) == (
        1000,
        "bye",
        "client",
        True,
    )


@pytest.mark.parametrize("deflate", [True, False], ids=["deflate", "no-deflate"])
def test_console_exchange(
    wstool_serve: Callable[..., WstoolServer],
    open_console: Callable[[str], ConsolePage],
    deflate: bool,
) -> None:
    """Text and binary typed into the console are echoed; both logs show the exchange.

    The page log shows what the browser sent and received; the server's
    NDJSON shows the masked client frames, the unmasked echoes, and whether
    permessage-deflate was agreed (Chromium offers it; ``--no-deflate``
    declines it).
    """
    server = wstool_serve("--json") if deflate else wstool_serve("--json", "--no-deflate")
    page = open_console(server.http_url)
    _exchange_through_console(page, server)
    _check_page_log(page, server, deflate)
    _check_server_log(server, deflate)


def test_console_screenshot(
    wstool_serve: Callable[..., WstoolServer],
    open_console: Callable[[str], ConsolePage],
    tmp_path: Path,
) -> None:
    """A screenshot of the console after a message is a real PNG with the page's dimensions."""
    server = wstool_serve("--json")
    page = open_console(server.http_url)
    page.evaluate("document.getElementById('connect').click()")
    page.wait_for("document.getElementById('state').textContent === 'open'", "the socket to open")
    page.send("screenshot", "text")
    page.wait_for_log("< text 10 chars: screenshot")
    shot = page.devtools.call("Page.captureScreenshot", {"format": "png"}, page.session)
    png = base64.b64decode(shot["data"])
    path = tmp_path / "console.png"
    path.write_bytes(png)
    data = path.read_bytes()
    assert len(data) > 1000
    assert data.startswith(PNG_SIGNATURE)
    # The first chunk is IHDR: width and height as big-endian 32-bit integers.
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert width > 0
    assert height > 0
    page.evaluate("document.getElementById('disconnect').click()")
    page.wait_for_log('closed code=1000 reason="bye" clean=true')
