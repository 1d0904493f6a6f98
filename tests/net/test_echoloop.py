"""Tests of ``wstool.net._echoloop``: the reactor's wait, answering a quiet echo's reads.

The first tests call ``poll`` itself on a real epoll instance and a real TCP
connection on 127.0.0.1: what it answers, what it hands back and how. The
last runs the lean reactor in a subprocess, serving like ``serve -q``, and
holds the echoes and the connection's counters to what the pure-Python path
gives for the same bytes, cut into reads at random.
"""

from __future__ import annotations

import json
import select
import socket
import subprocess
import sys
import textwrap
import time
from array import array
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from wstool.core.frames import forge_frame

echoloop = pytest.importorskip("wstool.net._echoloop", reason="the C read loop is not built")

KEY = bytes.fromhex("37fa213d")


def masked(opcode: int, payload: bytes, **fields: Any) -> bytes:
    return forge_frame(opcode=opcode, payload=payload, mask_key=KEY, **fields)


def echo_of(opcode: int, payload: bytes) -> bytes:
    return forge_frame(opcode=opcode, payload=payload)


class Loop:
    """One epoll instance watching our end of a loopback TCP connection."""

    def __init__(self, ours: socket.socket, peer: socket.socket) -> None:
        self.ours, self.peer = ours, peer
        self.epoll = select.epoll()
        self.epoll.register(ours.fileno(), select.EPOLLIN)
        self.handed: list[tuple[bytes | None, bytes | None]] = []
        self.counts = array("q", bytes(24))
        self.table: dict[int, Any] = {ours.fileno(): (self.fallback, self.counts, -1)}

    def fallback(self, data: bytes | None, unsent: bytes | None) -> None:
        self.handed.append((data, unsent))

    def poll(self, timeout: float | None = 0.0) -> list[tuple[int, int, Any]]:
        return echoloop.poll(self.epoll.fileno(), timeout, 8, self.table)  # type: ignore[no-any-return]

    def send(self, data: bytes) -> None:
        self.peer.sendall(data)
        select.select([self.ours], [], [], 10)

    def received(self, size: int) -> bytes:
        self.peer.settimeout(10)
        data = b""
        while len(data) < size:
            data += self.peer.recv(size - len(data))
        return data


@pytest.fixture
def loop() -> Iterator[Loop]:
    listener = socket.create_server(("127.0.0.1", 0))
    peer = socket.create_connection(listener.getsockname())
    ours, _ = listener.accept()
    listener.close()
    ours.setblocking(False)
    made = Loop(ours, peer)
    yield made
    made.epoll.close()
    peer.close()
    ours.close()


def test_whole_frames_are_answered_and_counted(loop: Loop) -> None:
    frames = [(2, b"one"), (1, "text é".encode()), (2, bytes(200)), (2, b"")]
    stream = b"".join(masked(op, data) for op, data in frames)
    loop.send(stream)
    assert loop.poll() == [] and loop.handed == []
    answer = b"".join(echo_of(op, data) for op, data in frames)
    assert loop.received(len(answer)) == answer
    assert list(loop.counts) == [4, len(stream), len(answer)]


@pytest.mark.parametrize(
    "stream",
    [
        masked(2, b"whole") + masked(2, b"cut short")[:-3],
        masked(9, b"ping"),
        masked(1, b"\xff\xfe"),  # not UTF-8: the general path closes with 1007
        masked(2, b"x", fin=False),
        masked(2, b"x", rsv1=True),
        forge_frame(opcode=2, payload=b"unmasked"),
    ],
    ids=["cut", "ping", "bad-utf8", "fragment", "rsv1", "unmasked"],
)
def test_a_read_not_wholly_answered_goes_back_untouched(loop: Loop, stream: bytes) -> None:
    loop.send(stream)
    assert loop.poll() == []
    assert loop.handed == [(stream, None)]
    assert list(loop.counts) == [0, 0, 0]
    loop.peer.setblocking(False)
    with pytest.raises(BlockingIOError):
        loop.peer.recv(100)  # nothing of it was sent


def test_the_limit_leaves_larger_frames_to_the_general_path(loop: Loop) -> None:
    loop.table[loop.ours.fileno()] = (loop.fallback, loop.counts, 10)
    loop.send(masked(2, b"0123456789") + masked(2, b"0123456789a"))
    assert loop.poll() == []
    assert len(loop.handed) == 1 and loop.counts[0] == 0


def test_other_descriptors_and_the_end_of_file_are_returned(loop: Loop) -> None:
    del loop.table[loop.ours.fileno()]
    loop.send(masked(2, b"one"))
    assert loop.poll() == [(loop.ours.fileno(), select.EPOLLIN, 0)]
    loop.ours.recv(100)
    loop.table[loop.ours.fileno()] = (loop.fallback, loop.counts, -1)
    loop.peer.shutdown(socket.SHUT_WR)
    select.select([loop.ours], [], [], 10)
    assert loop.poll() == [(loop.ours.fileno(), select.EPOLLIN, 0)]


def test_a_reset_is_returned_to_the_reactor(loop: Loop) -> None:
    loop.peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    loop.peer.close()
    select.select([loop.ours], [], [], 10)
    [(fd, events, error)] = loop.poll()
    # Handed to the reactor, not swallowed: as an error event, or a read that failed.
    assert fd == loop.ours.fileno()
    assert error == 104 or (error == 0 and events & (select.EPOLLERR | select.EPOLLHUP))


def test_what_the_socket_does_not_take_is_handed_back_in_order(loop: Loop) -> None:
    loop.ours.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    loop.peer.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    frames = [bytes([n % 256]) * 125 for n in range(400)]  # 50,800 bytes, answered 49,200
    stream = b"".join(masked(2, data) for data in frames)
    loop.send(stream)
    time.sleep(0.2)  # let all of it arrive: one read
    assert loop.poll() == []
    [(data, unsent)] = loop.handed
    answer = b"".join(echo_of(2, data) for data in frames)
    assert data is None and unsent is not None and 0 < len(unsent) < len(answer)
    assert list(loop.counts) == [400, len(stream), len(answer)]
    sent = len(answer) - len(unsent)
    assert loop.received(sent) == answer[:sent]
    assert answer[sent:] == unsent


def test_a_raising_fallback_is_returned_and_ends_the_wait(loop: Loop) -> None:
    def raising(data: bytes | None, unsent: bytes | None) -> None:
        raise RuntimeError("a handler that raises")

    loop.table[loop.ours.fileno()] = (raising, loop.counts, -1)
    loop.send(masked(9, b""))
    [(fd, events, error)] = loop.poll()
    assert fd == loop.ours.fileno() and events == 0
    assert isinstance(error, RuntimeError) and error.__traceback__ is not None


def test_the_wait_goes_on_while_every_read_is_answered(loop: Loop) -> None:
    """Answered reads do not end the wait: it returns at its timeout."""
    loop.send(masked(2, b"one"))
    started = time.monotonic()
    assert loop.poll(0.3) == []
    assert time.monotonic() - started >= 0.25
    assert loop.received(5) == echo_of(2, b"one")


def test_a_read_handed_back_ends_the_wait_at_once(loop: Loop) -> None:
    loop.send(masked(9, b""))
    started = time.monotonic()
    assert loop.poll(5.0) == []
    assert time.monotonic() - started < 2.0 and len(loop.handed) == 1


@pytest.mark.parametrize(
    ("call", "error"),
    [
        (lambda fd: echoloop.poll(fd, 0.0, 8), TypeError),
        (lambda fd: echoloop.poll(fd, 0.0, 8, [1]), TypeError),
        (lambda fd: echoloop.poll(fd, "soon", 8, {}), TypeError),
        (lambda fd: echoloop.poll(-1, 0.0, 8, {}), OSError),
    ],
    ids=["arguments", "table", "timeout", "epfd"],
)
def test_bad_arguments(loop: Loop, call: Callable[[int], object], error: type) -> None:
    with pytest.raises(error):
        call(loop.epoll.fileno())


def test_a_bad_entry_is_an_error(loop: Loop) -> None:
    loop.table[loop.ours.fileno()] = (loop.fallback, loop.counts)
    loop.send(masked(2, b"x"))
    with pytest.raises(TypeError):
        loop.poll()
    loop.table[loop.ours.fileno()] = (loop.fallback, array("i", [0, 0, 0]), -1)
    with pytest.raises(TypeError):
        loop.poll()


# -- serve's connections, in a subprocess ---------------------------------------------

SERVING = textwrap.dedent(
    """
    import json, random, socket, sys, threading, time
    from wstool.net import reactor as lean
    assert lean.install()
    from twisted.internet import reactor
    from wstool.core import masking
    from wstool.core.connection import Connection
    from wstool.core.frames import Role, forge_frame
    from wstool.net import wire
    from wstool.net.server import ServerOptions, WebSocketSite
    from wstool.net.wire import Timeouts

    UPGRADE = (
        b"GET / HTTP/1.1\\r\\nHost: x\\r\\nUpgrade: websocket\\r\\nConnection: Upgrade\\r\\n"
        b"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\\r\\nSec-WebSocket-Version: 13\\r\\n\\r\\n"
    )

    class Quiet:
        # serve -q's observer, less the output (and no recorder's wire_data tap)
        wants_frames = False
        def __getattr__(self, name):
            if name == "wire_data":
                raise AttributeError(name)
            return lambda *args, **kwargs: None

    timeouts = Timeouts(ping_interval=None, close=None)
    site = WebSocketSite(ServerOptions(deflate=False, timeouts=timeouts), Quiet(), reactor)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    address = ("127.0.0.1", port.getHost().port)
    """
)
"""A subprocess's lean reactor serving like ``serve -q`` on 127.0.0.1 (``site``, ``address``)."""

SERVER = SERVING + textwrap.dedent(
    """
    counters = []
    lost = wire.WireProtocol.connectionLost
    def connection_lost(self, reason=None):
        lost(self, reason)
        c = self.conn
        counters.append([c.frames_received, c.frames_sent, c.bytes_received, c.bytes_sent])
    wire.WireProtocol.connectionLost = connection_lost

    in_table = [0]
    leave = wire.WireProtocol._leave_echo_table
    def leave_echo_table(self):
        in_table[0] += self._echo_entry[1][0]  # frames answered by the table
        leave(self)
    wire.WireProtocol._leave_echo_table = leave_echo_table

    seed = int(sys.argv[1])
    rng = random.Random(seed)
    KEY = bytes.fromhex("37fa213d")

    def frame():
        kind = rng.random()
        if kind < 0.8:
            size = rng.choice([0, 1, 31, 125, 126, 1000, 70000]) if rng.random() < 0.3 else 32
            return forge_frame(opcode=rng.choice([1, 2]), payload=b"a" * size, mask_key=KEY)
        if kind < 0.9:
            return forge_frame(opcode=9, payload=b"p", mask_key=KEY)
        if kind < 0.95:
            return (forge_frame(opcode=1, payload="é".encode()[:1], fin=False, mask_key=KEY)
                    + forge_frame(opcode=0, payload="é".encode()[1:], mask_key=KEY))
        return forge_frame(opcode=10, payload=b"", mask_key=KEY)

    frames = [frame() for _ in range(rng.randrange(100, 300))]
    frames.append(forge_frame(opcode=8, payload=b"\\x03\\xe8", mask_key=KEY))
    stream = b"".join(frames)

    def sends():
        # Mostly whole frames, as clients send them, one to four a send, let in
        # apart; some sends cut inside a frame. The connection then moves in and
        # out of the reactor's table at every kind of frame.
        at = 0
        while at < len(frames):
            take = rng.randrange(1, 5)
            group = b"".join(frames[at:at + take])
            at += take
            if rng.random() < 0.2 and len(group) > 1:
                cut = rng.randrange(1, len(group))
                yield group[:cut]
                group = group[cut:]
            yield group

    def reference():
        masking.echo_frames = None
        server = Connection(Role.SERVER, record_frames=False, echo=True)
        server.receive_data(stream)
        out = server.data_to_send()
        return out, [server.frames_received, server.frames_sent,
                     server.bytes_received, server.bytes_sent]

    def read_all(sock, into):
        while True:
            data = sock.recv(1 << 16)
            if not data:
                break
            into.append(data)

    def talk():
        parts = []
        with socket.create_connection(address, timeout=20) as sock:
            sock.sendall(UPGRADE)
            head = b""
            while b"\\r\\n\\r\\n" not in head:
                head += sock.recv(1)
            reader = threading.Thread(target=read_all, args=(sock, parts))
            reader.start()
            for data in sends():
                sock.sendall(data)
                time.sleep(0.0005)
            reader.join()
        reactor.callFromThread(finish, b"".join(parts))

    def finish(got):
        reactor.callLater(0.2, reactor.stop)
        expected, counts = reference()
        print(json.dumps({"same": got == expected, "got": len(got), "expected": len(expected),
                          "counters": counters, "reference": counts,
                          "table_left": len(reactor.echo_table),
                          "in_table": in_table[0]}))

    reactor.callWhenRunning(lambda: threading.Thread(target=talk, daemon=True).start())
    reactor.callLater(60, reactor.stop)
    reactor.run()
    """
)


@pytest.mark.parametrize("seed", range(8))
def test_serve_answers_as_the_python_path_does_with_the_same_counters(seed: int) -> None:
    done = subprocess.run(
        [sys.executable, "-c", SERVER, str(seed)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout.strip().splitlines()[-1])
    assert result["same"], result
    assert result["counters"] == [result["reference"]], result
    assert result["table_left"] == 0
    assert result["in_table"] > 0, "the reactor's table answered nothing"


CLOSING = SERVING + textwrap.dedent(
    """
    KEY = b"abcd"

    def close_all(done):
        in_table = len(reactor.echo_table)
        for each in list(site.wires):
            each.close(1001, "going away")
        done.append(in_table)

    def talk():
        sock = socket.create_connection(address, timeout=10)
        sock.sendall(UPGRADE)
        head = b""
        while b"\\r\\n\\r\\n" not in head:
            head += sock.recv(1)
        for n in range(3):
            sock.sendall(forge_frame(opcode=2, payload=b"%d" % n, mask_key=KEY))
            assert sock.recv(100) == forge_frame(opcode=2, payload=b"%d" % n)
        done = []
        reactor.callFromThread(close_all, done)
        close = forge_frame(opcode=8, payload=b"\\x03\\xe9going away")
        got = b""
        while len(got) < len(close):
            got += sock.recv(100)
        # Data after the server's Close must not be answered (RFC 6455 section 5.5.1).
        sock.sendall(forge_frame(opcode=2, payload=b"late", mask_key=KEY))
        sock.sendall(forge_frame(opcode=8, payload=b"\\x03\\xe9", mask_key=KEY))
        while True:
            data = sock.recv(100)
            if not data:
                break
            got += data
        print("in table before the close:", done[0])
        print("after the 101:", got == close, got)
        reactor.callFromThread(reactor.stop)

    reactor.callWhenRunning(lambda: threading.Thread(target=talk, daemon=True).start())
    reactor.callLater(30, reactor.stop)
    reactor.run()
    print("left in the table:", len(reactor.echo_table))
    """
)


def test_a_connection_the_server_closes_leaves_the_table_at_once() -> None:
    done = subprocess.run(
        [sys.executable, "-c", CLOSING], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0] == "in table before the close: 1", done.stdout + done.stderr
    assert lines[1].startswith("after the 101: True"), done.stdout
    assert lines[2] == "left in the table: 0"
