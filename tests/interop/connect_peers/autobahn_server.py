"""An echo server on Autobahn|Python's Twisted flavour, for ``wstool connect`` interop tests.

Usage: ``python autobahn_server.py [--deflate]``. With ``--deflate`` it accepts
a permessage-deflate offer (Autobahn accepts none unless told to). Binds
127.0.0.1 on port 0, prints ``PORT <n>``, echoes every message until killed.
"""

from __future__ import annotations

import argparse
from typing import Any

from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
from autobahn.websocket.compress import PerMessageDeflateOffer, PerMessageDeflateOfferAccept
from twisted.internet import reactor


class Echo(WebSocketServerProtocol):  # type: ignore[misc]
    def onMessage(self, payload: bytes, isBinary: bool) -> None:
        self.sendMessage(payload, isBinary)


def accept_deflate(offers: list[Any]) -> Any:
    for offer in offers:
        if isinstance(offer, PerMessageDeflateOffer):
            return PerMessageDeflateOfferAccept(offer)
    return None


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deflate", action="store_true")
    args = parser.parse_args()
    factory = WebSocketServerFactory()
    factory.protocol = Echo
    options: dict[str, Any] = {"autoPingInterval": 0, "maxMessagePayloadSize": 2**24}
    if args.deflate:
        options["perMessageCompressionAccept"] = accept_deflate
    factory.setProtocolOptions(**options)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    print(f"PORT {port.getHost().port}", flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
