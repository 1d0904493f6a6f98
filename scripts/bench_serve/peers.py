"""Echo servers that scripts/bench_serve.py compares wstool serve with.

Usage: ``python peers.py KIND [--port PORT]`` where KIND is one of

* ``autobahn``: Autobahn's Twisted WebSocketServerProtocol echoing each
  message (no compression: Autobahn accepts none unless told to; no pings);
* ``twisted-ws``: Twisted's own ``twisted.web.websocket`` (a WebSocketResource
  at ``/`` whose WebSocketProtocol echoes; wsproto underneath);
* ``websockets``: the ``websockets`` library's asyncio server (default event
  loop, compression=None, no pings);
* ``picows``: picows (Cython on uvloop), a listener that sends each data frame
  back as it came (no compression; auto-pong on, no pings of its own);
* ``tcp``: a plain Twisted TCP echo, no WebSocket at all: the ceiling for any
  server on Twisted.

websocat (Rust) is run as its own binary by scripts/bench_serve.py.

Each binds 127.0.0.1 only, allows messages up to 16 MiB like ``wstool serve``,
prints ``KIND: listening on ws://127.0.0.1:PORT/`` (``tcp://`` for ``tcp``) as
its first stdout line, and runs until SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

HOST = "127.0.0.1"
MAX_SIZE = 16 * 1024 * 1024


def _announce(kind: str, scheme: str, port: int) -> None:
    sys.stdout.write(f"{kind}: listening on {scheme}://{HOST}:{port}/\n")
    sys.stdout.flush()


def serve_autobahn(port: int) -> None:
    from autobahn.twisted.websocket import WebSocketServerFactory, WebSocketServerProtocol
    from twisted.internet import reactor

    class Echo(WebSocketServerProtocol):  # type: ignore[misc]
        def onMessage(self, payload: bytes, isBinary: bool) -> None:
            self.sendMessage(payload, isBinary)

    factory = WebSocketServerFactory()
    factory.protocol = Echo
    factory.setProtocolOptions(
        autoPingInterval=0,
        maxFramePayloadSize=MAX_SIZE,
        maxMessagePayloadSize=MAX_SIZE,
    )
    listening = reactor.listenTCP(port, factory, interface=HOST)
    _announce("autobahn", "ws", listening.getHost().port)
    reactor.run()  # stops on SIGTERM and SIGINT


def serve_twisted_ws(port: int) -> None:
    from twisted.internet import reactor
    from twisted.web.server import Site
    from twisted.web.websocket import WebSocketResource

    class Echo:
        transport: Any = None

        def negotiationStarted(self, transport: Any) -> None:
            self.transport = transport

        def negotiationFinished(self) -> None:
            pass

        def pongReceived(self, payload: bytes) -> None:
            pass

        def textMessageReceived(self, message: str) -> None:
            self.transport.sendTextMessage(message)

        def bytesMessageReceived(self, data: bytes) -> None:
            self.transport.sendBytesMessage(data)

        def connectionLost(self, reason: Any) -> None:
            self.transport = None

    class Factory:
        def buildProtocol(self, request: Any) -> Echo:
            return Echo()

    resource = WebSocketResource(Factory())
    resource.isLeaf = True  # upgrade on any path, like the other servers
    site = Site(resource)
    site.noisy = False
    site.log = lambda request: None  # no access log, like the others
    listening = reactor.listenTCP(port, site, interface=HOST)
    _announce("twisted-ws", "ws", listening.getHost().port)
    reactor.run()  # stops on SIGTERM and SIGINT


def serve_websockets(port: int) -> None:
    import asyncio

    from websockets.asyncio.server import serve

    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set_result, None)
        async with serve(
            echo,
            HOST,
            port,
            compression=None,
            ping_interval=None,
            max_size=MAX_SIZE,
        ) as server:
            sock = next(iter(server.sockets))
            _announce("websockets", "ws", sock.getsockname()[1])
            await stop

    asyncio.run(main())


def serve_picows(port: int) -> None:
    import asyncio

    import uvloop
    from picows import WSListener, WSMsgType, ws_create_server

    class Echo(WSListener):  # type: ignore[misc]
        def on_ws_frame(self, transport: Any, frame: Any) -> None:
            if frame.msg_type == WSMsgType.CLOSE:
                transport.send_close(frame.get_close_code(), frame.get_close_message())
                transport.disconnect()
            elif frame.msg_type in (WSMsgType.TEXT, WSMsgType.BINARY, WSMsgType.CONTINUATION):
                transport.send(frame.msg_type, frame.get_payload_as_memoryview(), frame.fin)

    async def main() -> None:
        loop = asyncio.get_running_loop()
        stop = loop.create_future()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set_result, None)
        server = await ws_create_server(lambda request: Echo(), HOST, port, max_frame_size=MAX_SIZE)
        _announce("picows", "ws", server.sockets[0].getsockname()[1])
        await stop
        server.close()

    uvloop.run(main())


def serve_tcp(port: int) -> None:
    from twisted.internet import reactor
    from twisted.internet.protocol import Factory, Protocol

    class Echo(Protocol):
        def dataReceived(self, data: bytes) -> None:
            self.transport.write(data)

    factory = Factory.forProtocol(Echo)
    factory.noisy = False
    listening = reactor.listenTCP(port, factory, interface=HOST)
    _announce("tcp", "tcp", listening.getHost().port)
    reactor.run()  # stops on SIGTERM and SIGINT


SERVERS = {
    "autobahn": serve_autobahn,
    "twisted-ws": serve_twisted_ws,
    "websockets": serve_websockets,
    "picows": serve_picows,
    "tcp": serve_tcp,
}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("kind", choices=sorted(SERVERS))
    parser.add_argument("--port", type=int, default=0, help="0 picks a free one (default)")
    args = parser.parse_args()
    SERVERS[args.kind](args.port)
    return 0


if __name__ == "__main__":
    sys.exit(main())
