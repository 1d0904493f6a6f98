"""A HAR made from headless Chromium's DevTools events, imported and replayed against serve.

Chromium talks to ``wstool serve`` from a page; the test listens to the DevTools
protocol's Network events (webSocketCreated, the handshake, webSocketFrameSent
and webSocketFrameReceived) and writes the HAR entry DevTools saves for them
(``_resourceType: websocket``, ``_webSocketMessages``). ``wstool import`` turns
it into a session that ``wstool decode`` reads and ``wstool replay`` plays
against the same server: every answer as recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest
from test_serve_chromium import STEP_TIMEOUT, DevTools, devtools  # noqa: F401 (a fixture)

if TYPE_CHECKING:  # tests/ has more than one conftest module: not imported at run time
    from conftest import WstoolServer

PROJECT_ROOT = Path(__file__).resolve().parents[2]

PAGE_SCRIPT = """
new Promise((resolve, reject) => {
  const ws = new WebSocket(%s);
  ws.binaryType = "arraybuffer";
  let answers = 0;
  ws.onopen = () => {
    ws.send("hello from chromium");
    ws.send(JSON.stringify({op: "sub", id: 7}));
    ws.send(new Uint8Array([0, 1, 255]).buffer);
  };
  ws.onmessage = () => { if (++answers === 3) ws.close(1000, "done"); };
  ws.onclose = (event) => resolve(event.code);
  ws.onerror = () => reject("websocket error");
})
"""


class RecordingDevTools(DevTools):
    """DevTools that keeps the Network events it reads past while waiting for answers."""

    def __init__(self, inner: DevTools) -> None:
        super().__init__(inner.ws)
        self._ids = inner._ids
        self.events: list[dict[str, Any]] = []

    def call(
        self, method: str, params: dict[str, Any] | None = None, session: str | None = None
    ) -> dict[str, Any]:
        original = self.ws.recv

        def recv(timeout: float | None = None) -> Any:
            message = original(timeout=timeout)
            parsed = json.loads(message)
            if parsed.get("method", "").startswith("Network.webSocket"):
                self.events.append(parsed)
            return message

        self.ws.recv = recv  # type: ignore[method-assign]
        try:
            return super().call(method, params, session)
        finally:
            self.ws.recv = original  # type: ignore[method-assign]


def har_of(events: list[dict[str, Any]]) -> dict[str, Any]:
    """The HAR DevTools writes for one WebSocket, from its Network events."""
    by_method: dict[str, list[dict[str, Any]]] = {}
    for event in events:
        by_method.setdefault(event["method"], []).append(event["params"])
    created = by_method["Network.webSocketCreated"][0]
    request = by_method["Network.webSocketWillSendHandshakeRequest"][0]["request"]
    response = by_method["Network.webSocketHandshakeResponseReceived"][0]["response"]
    messages = []
    for event in events:
        kind = {"Network.webSocketFrameSent": "send", "Network.webSocketFrameReceived": "receive"}
        if event["method"] in kind:
            frame = event["params"]["response"]
            messages.append(
                {
                    "type": kind[event["method"]],
                    "time": event["params"]["timestamp"],
                    "opcode": frame["opcode"],
                    "data": frame["payloadData"],
                }
            )
    return {
        "log": {
            "version": "1.2",
            "creator": {"name": "WebInspector", "version": "537.36"},
            "pages": [],
            "entries": [
                {
                    "_resourceType": "websocket",
                    "startedDateTime": "2026-12-06T12:00:00.000Z",
                    "request": {
                        "method": "GET",
                        "url": created["url"],
                        "headers": [{"name": k, "value": v} for k, v in request["headers"].items()],
                    },
                    "response": {
                        "status": response["status"],
                        "statusText": response["statusText"],
                        "headers": [
                            {"name": k, "value": v} for k, v in response["headers"].items()
                        ],
                    },
                    "_webSocketMessages": messages,
                }
            ],
        }
    }


def wstool(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "wstool", *argv],
        capture_output=True,
        text=True,
        timeout=30,
        cwd=PROJECT_ROOT,
    )


def test_a_chromium_har_imports_and_replays(
    devtools: DevTools,  # noqa: F811
    serve_default: WstoolServer,
    tmp_path: Path,
) -> None:
    tools = RecordingDevTools(devtools)
    target = tools.call("Target.createTarget", {"url": "about:blank"})["targetId"]
    try:
        session = tools.call("Target.attachToTarget", {"targetId": target, "flatten": True})
        sid = session["sessionId"]
        tools.call("Network.enable", session=sid)
        result = tools.call(
            "Runtime.evaluate",
            {
                "expression": PAGE_SCRIPT % json.dumps(serve_default.url),
                "awaitPromise": True,
                "returnByValue": True,
            },
            sid,
        )
        assert result["result"].get("value") == 1000, result
        deadline = time.monotonic() + STEP_TIMEOUT
        while sum(e["method"] == "Network.webSocketFrameReceived" for e in tools.events) < 3:
            if time.monotonic() > deadline:
                pytest.fail(f"DevTools reported {len(tools.events)} WebSocket events")
            tools.call("Runtime.evaluate", {"expression": "1"}, sid)  # read on
    finally:
        tools.call("Target.closeTarget", {"targetId": target})

    har = tmp_path / "chromium.har"
    har.write_text(json.dumps(har_of(tools.events)))
    session_file = tmp_path / "chromium.session"
    done = wstool("import", str(har), "-o", str(session_file))
    assert done.returncode == 0, done.stderr
    decoded = wstool("decode", str(session_file))
    assert decoded.returncode == 0, decoded.stdout + decoded.stderr
    assert "hello from chromium" in decoded.stdout
    replayed = wstool("replay", str(session_file), serve_default.url)
    assert replayed.returncode == 0, replayed.stdout + replayed.stderr
    assert replayed.stdout.splitlines()[-1] == "every answer as recorded"
    assert "replayed 3 messages" in replayed.stdout
