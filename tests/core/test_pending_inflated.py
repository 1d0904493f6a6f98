"""Connection(max_pending_inflated=N): a read of permessage-deflate frames that inflates
to a lot is parsed in batches of about N bytes of messages, each after the last was
collected, with the same messages, in the same order, as parsing it whole."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from wstool.core.connection import Connection
from wstool.core.deflate import DeflateParams, PerMessageDeflate
from wstool.core.events import ConnectionClosed, Event, MessageReceived
from wstool.core.frames import Role


def _client() -> Connection:
    """A deflating client (context kept: repeats cost a few bytes each)."""
    return Connection(
        Role.CLIENT, codec=PerMessageDeflate(DeflateParams(), is_client=True), record_frames=False
    )


def _client_bytes(messages: list[bytes], *, close: bool = False) -> bytes:
    """What a deflating client sends for ``messages``, then a Close if asked."""
    client = _client()
    for data in messages:
        client.send_binary(data)
    if close:
        client.send_close(1000, "bye")
    return client.data_to_send()


def _server(limit: int | None) -> Connection:
    return Connection(
        Role.SERVER,
        codec=PerMessageDeflate(DeflateParams(), is_client=False),
        record_frames=False,
        max_pending_inflated=limit,
    )


def _collect(server: Connection, batches: list[int]) -> list[Event]:
    """Every event, batch by batch as a driver collects them (each batch's message
    bytes appended to ``batches``)."""
    got: list[Event] = []
    while True:
        events = server.events()
        batches.append(sum(len(e.data) for e in events if isinstance(e, MessageReceived)))
        got += events
        if not server.parsing_held:
            return got
        server.resume_parsing()


def test_a_read_that_inflates_to_a_lot_is_handled_in_batches() -> None:
    """200 messages of 64 KiB in one read of a few KiB: with a 1 MiB limit no batch
    holds more than 17 of them; data arriving meanwhile waits its turn; the Close
    at the end comes after every message."""
    messages = [bytes([n % 7]) * 65536 for n in range(200)]
    client = _client()
    for data in messages[:199]:
        client.send_binary(data)
    wire = client.data_to_send()
    assert len(wire) < 200 * 1024  # a bomb: a thousandth of what it inflates to
    client.send_binary(messages[199])
    client.send_close(1000, "bye")
    later = client.data_to_send()
    server = _server(1 << 20)
    server.receive_data(wire)
    assert server.parsing_held
    server.receive_data(later)  # kept, not parsed, while the batch waits
    batches: list[int] = []
    got = _collect(server, batches)
    data = [e.data for e in got if isinstance(e, MessageReceived)]
    assert data == messages
    assert max(batches) <= (1 << 20) + 65536 and len(batches) >= 12
    assert server.data_to_send().startswith(b"\x88")  # the Close answered after them all
    [closed] = server.events()
    assert isinstance(closed, ConnectionClosed) and closed.code == 1000


def test_no_limit_parses_the_read_whole() -> None:
    messages = [b"x" * 65536] * 40
    server = _server(None)
    server.receive_data(_client_bytes(messages))
    assert not server.parsing_held
    assert [e.data for e in server.events() if isinstance(e, MessageReceived)] == messages


@settings(max_examples=60, deadline=None)
@given(
    sizes=st.lists(st.integers(0, 40_000), min_size=1, max_size=40),
    limit=st.integers(1, 200_000),
    cuts=st.lists(st.integers(1, 4000), max_size=8),
)
def test_batches_change_nothing_but_the_pace(sizes: list[int], limit: int, cuts: list[int]) -> None:
    """Any limit, any way the bytes are cut into reads: the same messages in order as
    without a limit, and no batch over the limit by more than one message."""
    messages = [bytes([n % 251]) * size for n, size in enumerate(sizes)]
    wire = _client_bytes(messages, close=True)
    whole = _server(None)
    whole.receive_data(wire)
    expected = whole.events()
    server = _server(limit)
    got: list[Event] = []
    batches: list[int] = []
    at = 0
    for cut in [*cuts, len(wire)]:
        server.receive_data(wire[at : at + cut])
        at += cut
        got += _collect(server, batches)
    got += _collect(server, batches)
    assert got == expected
    assert max(batches) <= limit + max(sizes)


@pytest.mark.parametrize("limit", [0, 1])
def test_a_tiny_limit_still_moves_one_message_at_a_time(limit: int) -> None:
    messages = [b"a" * 1000, b"b" * 1000, b"c" * 1000]
    server = _server(limit)
    server.receive_data(_client_bytes(messages))
    batches: list[int] = []
    assert [e.data for e in _collect(server, batches) if isinstance(e, MessageReceived)] == messages
    assert batches == [1000, 1000, 1000]
