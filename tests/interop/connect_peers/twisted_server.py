"""An echo server on Twisted's own ``twisted.web.websocket``, for ``wstool connect`` interop.

Usage: ``python twisted_server.py [--deflate]``. Twisted's
:class:`WebSocketResource` (on wsproto) accepts no extension; with
``--deflate`` a subclass accepts wsproto's permessage-deflate, so compressed
traffic goes through Twisted's server too. Binds 127.0.0.1 on port 0,
prints ``PORT <n>``, echoes every message until killed.
"""

from __future__ import annotations

import argparse
from typing import Any

from twisted.internet import reactor
from twisted.web.resource import Resource
from twisted.web.server import Site
from twisted.web.websocket import WebSocketResource, WebSocketTransport


class Echo:
    """A twisted.web.websocket.WebSocketProtocol that echoes each message."""

    transport: WebSocketTransport

    def negotiationStarted(self, transport: WebSocketTransport) -> None:
        self.transport = transport

    def negotiationFinished(self) -> None:
        pass

    def pongReceived(self, payload: bytes) -> None:
        pass

    def textMessageReceived(self, message: str) -> None:
        self.transport.sendTextMessage(message)

    def bytesMessageReceived(self, data: bytes) -> None:
        self.transport.sendBytesMessage(bytes(data))

    def connectionLost(self, reason: Any) -> None:
        pass


class EchoFactory:
    def buildProtocol(self, request: Any) -> Echo:
        return Echo()


def deflate_resource(factory: EchoFactory) -> Resource:
    """WebSocketResource, but the handshake accepts permessage-deflate when offered."""
    from twisted.web import _websocket_impl as impl
    from wsproto.events import AcceptConnection
    from wsproto.extensions import PerMessageDeflate

    class Accept(AcceptConnection):  # type: ignore[misc]
        def __init__(self, *args: Any, **kwargs: Any) -> None:
            kwargs.setdefault("extensions", [PerMessageDeflate()])
            super().__init__(*args, **kwargs)

    impl.AcceptConnection = Accept  # what render_GET sends
    return WebSocketResource(factory)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--deflate", action="store_true")
    args = parser.parse_args()
    factory = EchoFactory()
    resource = deflate_resource(factory) if args.deflate else WebSocketResource(factory)
    root = Resource()
    root.putChild(b"", resource)
    port = reactor.listenTCP(0, Site(root), interface="127.0.0.1")
    print(f"PORT {port.getHost().port}", flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
