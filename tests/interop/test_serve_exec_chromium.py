"""A websocketd-style program behind ``wstool serve --exec``, used from headless Chromium.

serve runs with ``--static`` (a small page) and ``--exec`` (a Python program
that answers each line); Chromium loads the page from serve, the page opens
a WebSocket back to it, and the test reads what the page received over the
DevTools protocol (spoken with the websockets library; no Selenium). This
is what a user of websocketd does: a page, a program, one command.
Skipped when no Chromium is installed, except in CI.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

if TYPE_CHECKING:
    from conftest import WstoolServer

pytest.importorskip("websockets", reason="the websockets library drives DevTools")
from websockets.sync.client import ClientConnection, connect

STEP_TIMEOUT = 15.0
FLAGS = (
    "--headless",
    "--remote-debugging-port=0",
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
)

PAGE = """\
<!doctype html>
<meta charset="utf-8">
<title>counter</title>
<pre id="out"></pre>
<script>
window.got = [];
window.ended = null;
const ws = new WebSocket(`ws://${location.host}/count?from=${location.hash.slice(1) || 1}`);
ws.onopen = () => { ws.send("hello"); ws.send("héllo ✓"); ws.send("bye"); };
ws.onmessage = (e) => {
  window.got.push(e.data);
  document.getElementById("out").textContent += e.data + "\\n";
};
ws.onclose = (e) => { window.ended = {code: e.code, reason: e.reason, clean: e.wasClean}; };
</script>
"""

PROGRAM = """\
import os, sys
n = int(os.environ["QUERY_STRING"].split("=")[1])
print(f"ready on {os.environ['PATH_INFO']} for {os.environ['HTTP_USER_AGENT'][:7]}", flush=True)
for line in sys.stdin:
    line = line.rstrip("\\n")
    if line == "bye":
        print("see you", flush=True)
        sys.exit(0)
    print(f"{n}: {line.upper()}", flush=True)
    n += 1
"""


def _chromium() -> str | None:
    for name in ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable"):
        found = shutil.which(name)
        if found:
            return found
    return None


class Tab:
    """One page in the browser, driven over a flat DevTools session."""

    def __init__(self, ws: ClientConnection, session: str) -> None:
        self.ws = ws
        self.session = session
        self._id = 1000

    def call(self, method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        self._id += 1
        message = {"id": self._id, "method": method, "params": params or {}}
        self.ws.send(json.dumps({**message, "sessionId": self.session}))
        return _answer(self.ws, self._id)

    def wait_for(self, expression: str, timeout: float = STEP_TIMEOUT) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            result = self.call(
                "Runtime.evaluate", {"expression": expression, "returnByValue": True}
            )
            value = result["result"].get("value")
            if value:
                return value
            if time.monotonic() > deadline:
                state = self.call(
                    "Runtime.evaluate",
                    {
                        "expression": "[location.href, JSON.stringify(window.got)]",
                        "returnByValue": True,
                    },
                )
                pytest.fail(f"the page never had {expression!r}: {state['result'].get('value')}")
            time.sleep(0.05)


def _answer(ws: ClientConnection, call_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + STEP_TIMEOUT
    while True:
        reply = json.loads(ws.recv(timeout=max(deadline - time.monotonic(), 0.01)))
        if reply.get("id") == call_id:
            if "error" in reply:
                pytest.fail(f"DevTools: {reply['error']}")
            return reply["result"]  # type: ignore[no-any-return]


@pytest.fixture(scope="module")
def browser(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ClientConnection]:
    executable = _chromium()
    if executable is None:
        if os.environ.get("CI"):
            pytest.fail("Chromium is needed in CI")
        pytest.skip("Chromium is not installed")
    profile = tmp_path_factory.mktemp("chromium-exec")
    process = subprocess.Popen(
        [executable, *FLAGS, f"--user-data-dir={profile}", "about:blank"],
        stdin=subprocess.DEVNULL,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        port_file = profile / "DevToolsActivePort"
        deadline = time.monotonic() + 30
        while not (port_file.is_file() and len(port_file.read_text().splitlines()) >= 2):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Chromium did not open its DevTools port")
            time.sleep(0.05)
        port, path = port_file.read_text().splitlines()[:2]
        with connect(f"ws://127.0.0.1:{port}{path}", open_timeout=STEP_TIMEOUT) as ws:
            yield ws
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


def _open(browser: ClientConnection, url: str) -> Tab:
    browser.send(json.dumps({"id": 1, "method": "Target.createTarget", "params": {"url": url}}))
    target = _answer(browser, 1)["targetId"]
    browser.send(
        json.dumps(
            {
                "id": 2,
                "method": "Target.attachToTarget",
                "params": {"targetId": target, "flatten": True},
            }
        )
    )
    return Tab(browser, _answer(browser, 2)["sessionId"])


def test_a_page_and_a_program_behind_serve(
    browser: ClientConnection,
    wstool_serve: Callable[..., WstoolServer],
    tmp_path: Path,
) -> None:
    site = tmp_path / "site"
    site.mkdir()
    (site / "index.html").write_text(PAGE, encoding="utf-8")
    program = tmp_path / "counter.py"
    program.write_text(textwrap.dedent(PROGRAM))
    server = wstool_serve("--static", str(site), "--exec", f"{sys.executable} {program}", "--json")
    tab = _open(browser, f"{server.http_url}#41")
    ended = tab.wait_for("window.ended")
    got = tab.wait_for("window.got")
    assert got == ["ready on /count for Mozilla", "41: HELLO", "42: HÉLLO ✓", "see you"]
    assert ended == {"code": 1000, "reason": "", "clean": True}
    records = server.wait_for_records(lambda r: any("ended" in x for x in r))
    assert any(r.get("ended") == "exited with status 0" for r in records)
    console = _open(browser, server.http_url + "__wstool/")
    assert console.wait_for("!!document.getElementById('connect')")
