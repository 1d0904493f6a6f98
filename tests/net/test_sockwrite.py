"""Tests of :mod:`wstool.net.sockwrite`: writes sent at once, the rest queued, read sizes.

The transports are Twisted's own ``tcp.Server`` around one end of a real TCP
connection on 127.0.0.1; the other end is a plain socket the test reads. The
reactor is a :class:`MemoryReactorClock`, so a queued write shows as a writer
the transport added, and the test drives ``doWrite`` itself.
"""

from __future__ import annotations

import contextlib
import socket
import time
from collections.abc import Iterator

import pytest
from hypothesis import given
from hypothesis import strategies as st
from twisted.internet import main, tcp
from twisted.internet.error import ConnectionDone
from twisted.internet.protocol import Protocol
from twisted.internet.testing import MemoryReactorClock, StringTransport

from wstool.core.connection import Connection
from wstool.core.frames import Role
from wstool.net.sockwrite import (
    _after,
    close_now,
    direct,
    fit_read_size,
    read_directly,
    write_now,
)
from wstool.net.wire import WireProtocol


@pytest.fixture
def pair() -> Iterator[tuple[tcp.Server, socket.socket, MemoryReactorClock]]:
    """A Twisted transport on one end of a loopback TCP connection, a socket on the other."""
    listener = socket.create_server(("127.0.0.1", 0))
    peer = socket.create_connection(listener.getsockname())
    ours, address = listener.accept()
    listener.close()
    ours.setblocking(False)
    reactor = MemoryReactorClock()
    transport = tcp.Server(ours, Protocol(), address, None, 1, reactor)  # type: ignore[arg-type]
    transport.protocol.makeConnection(transport)
    yield transport, peer, reactor
    peer.close()
    ours.close()


def read_exactly(peer: socket.socket, size: int, transport: tcp.Server | None = None) -> bytes:
    """Read ``size`` bytes from ``peer``, letting ``transport`` write what it queued."""
    peer.settimeout(0.05)
    data = bytearray()
    deadline = time.monotonic() + 10
    while len(data) < size and time.monotonic() < deadline:
        if transport is not None and (transport.dataBuffer or transport._tempDataLen):
            transport.doWrite()  # what the reactor does when the socket is writable
        with contextlib.suppress(TimeoutError):
            data += peer.recv(size - len(data))
    return bytes(data)


def test_small_write_goes_out_at_once_without_a_writer(pair) -> None:  # type: ignore[no-untyped-def]
    transport, peer, reactor = pair
    write_now(transport, [b"\x82\x03", b"abc"])
    assert read_exactly(peer, 5) == b"\x82\x03abc"
    assert transport not in reactor.getWriters()
    assert not transport.dataBuffer and not transport._tempDataLen


def test_what_the_kernel_refuses_is_queued_in_order(pair) -> None:  # type: ignore[no-untyped-def]
    transport, peer, reactor = pair
    transport.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    payload = bytes(range(256)) * (16 * 1024)  # 4 MiB: more than the kernel takes at once
    write_now(transport, [b"HEAD", payload])
    assert transport._tempDataLen > 0, "the rest should wait in the transport"
    assert transport in reactor.getWriters()
    # A write behind queued bytes goes behind them.
    write_now(transport, [b"TAIL"])
    got = read_exactly(peer, 4 + len(payload) + 4, transport)
    assert got == b"HEAD" + payload + b"TAIL"


def test_a_peer_that_reset_does_not_raise(pair) -> None:  # type: ignore[no-untyped-def]
    transport, peer, _ = pair
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    peer.close()
    for _ in range(3):  # the first send may still succeed; later ones meet the reset
        write_now(transport, [b"x" * 70000])


def test_a_closing_transport_keeps_its_own_path(pair) -> None:  # type: ignore[no-untyped-def]
    transport, _peer, _ = pair
    transport.disconnecting = True
    write_now(transport, [b"late"])
    assert transport._tempDataLen == 4


def test_only_plain_tcp_is_direct(pair) -> None:  # type: ignore[no-untyped-def]
    transport, _, _ = pair
    assert direct(transport)
    assert not direct(StringTransport())
    transport.TLS = True  # what startTLS sets on a TCP connection
    assert not direct(transport)


class Sized:
    bufferSize = 65536


def test_read_size_grows_on_a_full_read_and_shrinks_on_small_ones() -> None:
    transport = Sized()
    fit_read_size(transport, 65536)
    assert transport.bufferSize == 4 << 20
    fit_read_size(transport, 4 << 20)
    assert transport.bufferSize == 4 << 20
    fit_read_size(transport, 600_000)  # a partial read, not a small one
    assert transport.bufferSize == 4 << 20
    for _ in range(10):
        fit_read_size(transport, 40)
    assert transport.bufferSize == 65536


@given(
    st.lists(st.binary(min_size=0, max_size=40), min_size=1, max_size=6),
    st.integers(min_value=0, max_value=300),
)
def test_after_is_the_unsent_suffix(chunks: list[bytes], sent: int) -> None:
    whole = b"".join(chunks)
    sent = min(sent, len(whole))
    assert b"".join(_after(chunks, sent)) == whole[sent:]


class Quiet:
    """A wire observer that wants nothing."""

    wants_frames = False

    def opened(self, *args: object) -> None: ...
    def events(self, *args: object) -> None: ...
    def closed(self, *args: object) -> None: ...


class Recording(Quiet):
    """An observer that records the bytes, as session.recorder's does."""

    def __init__(self) -> None:
        self.taps: list[tuple[bool, bytes]] = []

    def wire_data(self, conn_id: int, received: bool, data: bytes) -> None:
        self.taps.append((received, data))


def echo_wire(
    transport: tcp.Server, reactor: MemoryReactorClock, observer: Quiet, *, quiet: bool = False
) -> WireProtocol:
    conn = Connection(Role.SERVER, echo=True, record_frames=not quiet)
    wire = WireProtocol(
        conn, conn_id=1, peer="127.0.0.1:1", observer=observer, on_message=None, clock=reactor
    )
    transport.protocol = wire
    wire.makeConnection(transport)
    return wire


def test_an_echo_leaves_in_the_turn_that_read_it(pair) -> None:  # type: ignore[no-untyped-def]
    transport, peer, reactor = pair
    wire = echo_wire(transport, reactor, Quiet())
    wire.dataReceived(b"\x81\x82\x00\x00\x00\x00hi")  # a masked text frame, key 0
    assert read_exactly(peer, 4) == b"\x81\x02hi"
    wire.conn.send_close(1000)  # stop the timers of a live connection
    wire.connectionLost()


def test_a_recording_wire_leaves_its_writes_for_the_next_turn(pair) -> None:  # type: ignore[no-untyped-def]
    """What a peer is sent must be on file first: the recorder flushes at the end of the turn."""
    transport, peer, reactor = pair
    recording = Recording()
    wire = echo_wire(transport, reactor, recording)
    wire.dataReceived(b"\x81\x82\x00\x00\x00\x00hi")
    assert recording.taps == [(True, b"\x81\x82\x00\x00\x00\x00hi"), (False, b"\x81\x02hi")]
    assert transport._tempDataLen == 4 and transport in reactor.getWriters()
    peer.settimeout(0.2)
    with pytest.raises(TimeoutError):
        peer.recv(10)
    assert read_exactly(peer, 4, transport) == b"\x81\x02hi"  # on the next turn
    wire.conn.send_close(1000)
    wire.connectionLost()


class Lost(Protocol):
    def __init__(self) -> None:
        self.reasons: list[object] = []

    def connectionLost(self, reason: object = None) -> None:
        self.reasons.append(reason)


def test_close_now_closes_before_returning(pair) -> None:  # type: ignore[no-untyped-def]
    transport, peer, reactor = pair
    protocol = transport.protocol = Lost()
    write_now(transport, [b"\x88\x02\x03\xe8"])
    assert close_now(transport)
    assert transport.disconnected and transport not in reactor.getReaders()
    assert [r.type for r in protocol.reasons] == [ConnectionDone]  # type: ignore[attr-defined]
    peer.settimeout(5)
    assert read_exactly(peer, 4) == b"\x88\x02\x03\xe8"  # what was sent arrives, then EOF
    assert peer.recv(10) == b""


def test_close_now_leaves_a_queue_to_loseconnection(pair) -> None:  # type: ignore[no-untyped-def]
    transport, _peer, _reactor = pair
    transport.protocol = Lost()
    transport.write(b"queued")
    assert not close_now(transport)
    assert transport.connected and not transport.disconnecting


def test_a_clean_close_of_a_direct_wire_ends_in_its_turn(pair) -> None:  # type: ignore[no-untyped-def]
    """The peer's Close is answered and TCP closed within the read; no close timer is left."""
    transport, peer, reactor = pair
    wire = echo_wire(transport, reactor, Quiet())
    wire.dataReceived(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # a masked Close 1000, key 0
    assert transport.disconnected
    assert wire.close_event is not None and wire.close_event.clean
    assert reactor.getDelayedCalls() == []
    assert read_exactly(peer, 4) == b"\x88\x02\x03\xe8"
    assert peer.recv(10) == b""


# -- reads handed over directly ----------------------------------------------------


def wait_readable(sock: socket.socket) -> None:
    import select

    assert select.select([sock], [], [], 10)[0], "nothing to read"


def test_read_directly_hands_reads_over_with_twisteds_outcomes(pair) -> None:  # type: ignore[no-untyped-def]
    transport, peer, _reactor = pair
    reads: list[bytes] = []
    read_directly(transport, reads.append)
    assert transport.doRead() is None and reads == []  # nothing there: it would block
    peer.sendall(b"hello")
    wait_readable(transport.socket)
    assert transport.doRead() is None and reads == [b"hello"]
    peer.shutdown(socket.SHUT_WR)
    wait_readable(transport.socket)
    assert transport.doRead() is main.CONNECTION_DONE


def test_read_directly_reports_a_reset_as_lost(pair) -> None:  # type: ignore[no-untyped-def]
    transport, peer, _reactor = pair
    read_directly(transport, lambda data: None)
    peer.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    peer.close()  # with a zero linger: RST
    wait_readable(transport.socket)
    assert transport.doRead() is main.CONNECTION_LOST


def test_a_quiet_direct_wire_answers_each_read_at_once(pair) -> None:  # type: ignore[no-untyped-def]
    """A quiet echo's reads go through read_directly and receive_echoed: answered in the
    read's turn; a frame cut across reads, a Ping and a Close still take the full path."""
    transport, peer, reactor = pair
    wire = echo_wire(transport, reactor, Quiet(), quiet=True)
    assert "doRead" in vars(transport), "a direct wire reads through read_directly"

    def read(data: bytes) -> None:
        peer.sendall(data)
        wait_readable(transport.socket)
        assert transport.doRead() is None

    read(b"\x82\x82\x00\x00\x00\x00hi\x81\x81\x00\x00\x00\x00!")
    assert read_exactly(peer, 7) == b"\x82\x02hi\x81\x01!"
    read(b"\x82\x83\x00\x00")
    read(b"\x00\x00abc\x89\x80\x00\x00\x00\x00")  # the rest, then an empty Ping
    assert read_exactly(peer, 7) == b"\x82\x03abc\x8a\x00"
    assert (wire.conn.frames_received, wire.conn.frames_sent) == (4, 4)
    sizes: list[int] = []
    wire.after_read = sizes.append  # serve's faults watch each read through it
    read(b"\x82\x81\x00\x00\x00\x00!")  # answered at once
    read(b"\x89\x80\x00\x00\x00\x00")  # a Ping: the general path
    assert sizes == [7, 6]
    assert read_exactly(peer, 5) == b"\x82\x01!\x8a\x00"
    assert transport not in reactor.getWriters()
    peer.sendall(b"\x88\x82\x00\x00\x00\x00\x03\xe8")  # Close 1000
    wait_readable(transport.socket)
    transport.doRead()
    assert transport.disconnected and wire.close_event is not None and wire.close_event.clean
    assert read_exactly(peer, 4) == b"\x88\x02\x03\xe8"
