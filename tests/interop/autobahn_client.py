"""An Autobahn (Twisted) WebSocket client that exercises an echo server and prints JSON.

Run as a script, so that the test process never needs a running reactor::

    python autobahn_client.py ws://127.0.0.1:PORT/ --offer {none,deflate,deflate-params}

It sends a scripted list of messages (text, binary, empty, fragmented,
1 MiB), one Ping, then Close 4000 "bye", and prints one JSON object on
stdout: each echo compared with what was sent, the Pong, the negotiated
extension, and the Close the server sent back. It stops itself after
``--timeout`` seconds whatever happens.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from typing import Any

from autobahn.twisted.websocket import (
    WebSocketClientFactory,
    WebSocketClientProtocol,
    connectWS,
)
from autobahn.websocket.compress import (
    PerMessageDeflateOffer,
    PerMessageDeflateResponse,
    PerMessageDeflateResponseAccept,
)
from twisted.internet import reactor

__all__ = ["main"]

MIB = 2**20


def script() -> list[tuple[str, bytes, bool, int | None]]:
    """The messages to send: (name, payload, is_binary, fragment_size)."""
    noise = random.Random(7692).randbytes(MIB)
    return [
        ("text", "héllo autobahn ✓".encode(), False, None),
        ("binary", bytes(range(256)), True, None),
        ("empty-text", b"", False, None),
        ("empty-binary", b"", True, None),
        ("fragmented-text", ("fragment " * 500).encode(), False, 700),
        ("large-binary", noise, True, None),
        ("large-text", (b"0123456789abcdef" * (MIB // 16)), False, None),
        ("large-fragmented", noise, True, 64 * 1024),
    ]


class EchoCheck(WebSocketClientProtocol):
    """Sends the script one message at a time and records what comes back."""

    result: dict[str, Any]

    def onConnect(self, response: Any) -> None:
        self.result["extensions_header"] = response.headers.get("sec-websocket-extensions")

    def onOpen(self) -> None:
        self.pending = script()
        self.result["extensions_in_use"] = [
            ext.__json__() if hasattr(ext, "__json__") else str(ext)
            for ext in self.websocket_extensions_in_use
        ]
        self.send_next()

    def send_next(self) -> None:
        if not self.pending:
            self.sendPing(b"autobahn-ping")
            return
        _, payload, is_binary, fragment = self.pending[0]
        self.sendMessage(payload, isBinary=is_binary, fragmentSize=fragment)

    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        name, sent, sent_binary, _ = self.pending.pop(0)
        self.result["echoes"][name] = {
            "ok": payload == sent and isBinary == sent_binary,
            "size": len(payload),
            "binary": isBinary,
            "sha256": hashlib.sha256(payload).hexdigest(),
            "sent_sha256": hashlib.sha256(sent).hexdigest(),
        }
        self.send_next()

    def onPong(self, payload: bytes) -> None:
        self.result["pong"] = payload.decode("latin-1")
        self.sendClose(code=4000, reason="bye")

    def onClose(self, wasClean: bool, code: int | None, reason: str | None) -> None:
        self.result["close"] = {"clean": wasClean, "code": code, "reason": reason}
        if reactor.running:
            reactor.stop()


def _accept(response: Any) -> Any:
    if isinstance(response, PerMessageDeflateResponse):
        return PerMessageDeflateResponseAccept(response)
    return None


def main(argv: list[str] | None = None) -> int:
    """Connect, run the script, print the JSON result; exit 0 if the run finished."""
    parser = argparse.ArgumentParser()
    parser.add_argument("url")
    parser.add_argument("--offer", choices=["none", "deflate", "deflate-params"], default="none")
    parser.add_argument("--timeout", type=float, default=30.0)
    args = parser.parse_args(argv)

    result: dict[str, Any] = {"echoes": {}, "offer": args.offer}
    factory = WebSocketClientFactory(args.url)
    factory.protocol = EchoCheck
    EchoCheck.result = result
    if args.offer == "deflate":
        offers = [PerMessageDeflateOffer()]
    elif args.offer == "deflate-params":
        offers = [
            PerMessageDeflateOffer(
                accept_no_context_takeover=True,
                accept_max_window_bits=True,
                request_no_context_takeover=True,
                request_max_window_bits=10,
            )
        ]
    else:
        offers = []
    factory.setProtocolOptions(
        perMessageCompressionOffers=offers,
        perMessageCompressionAccept=_accept,
        autoPingInterval=0,
        openHandshakeTimeout=10,
        closeHandshakeTimeout=5,
    )

    def give_up() -> None:
        result["timed_out"] = True
        reactor.stop()

    timer = reactor.callLater(args.timeout, give_up)
    connectWS(factory)
    reactor.run()
    if timer.active():
        timer.cancel()
    json.dump(result, sys.stdout)
    sys.stdout.write("\n")
    return 1 if result.get("timed_out") else 0


if __name__ == "__main__":
    sys.exit(main())
