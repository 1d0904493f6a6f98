"""Steering relays in memory: injection at frame boundaries, holding, the prompt's grammar."""

from __future__ import annotations

import io

import pytest
from rich.console import Console
from test_proxy import MASK, Pair

from wstool.core.errors import UsageError
from wstool.core.frames import Opcode, Role, encode_frame, forge_frame
from wstool.net.steer import RelaySteering
from wstool.ui.proxylog import ProxyLog
from wstool.ui.proxyprompt import ProxyCommand, execute, parse

KEY = b"\x01\x02\x03\x04"


def steering(pair: Pair) -> RelaySteering:
    return RelaySteering(lambda: pair.proxy.relays, mask_source=lambda n: KEY[:n])


class TestInjection:
    def test_to_the_server_masked_to_the_client_not(self) -> None:
        """A text frame toward each side, masked only toward the server (RFC 6455 §5.1)."""
        pair = Pair()
        pair.upgrade()
        steer = steering(pair)
        assert steer.inject(None, Role.SERVER, Opcode.TEXT, b"hi").endswith(", sent")
        assert pair.upstream_transport.value() == encode_frame(1, b"hi", mask_key=KEY)
        steer.inject(1, Role.CLIENT, Opcode.TEXT, b"yo")
        assert pair.client_transport.value() == encode_frame(1, b"yo")
        assert [t for t, _ in pair.recorder.injections] == [Role.SERVER, Role.CLIENT]

    def test_waits_for_the_frame_in_progress(self) -> None:
        """Mid-frame, the injected frame goes after the frame's last byte, not inside it."""
        pair = Pair()
        pair.upgrade()
        frame = forge_frame(opcode=2, payload=b"abcdef", mask_key=MASK)
        pair.client.dataReceived(frame[:5])
        said = steering(pair).inject(None, Role.SERVER, Opcode.PING, b"p")
        assert said.endswith("waiting for the end of the frame in progress")
        pair.client.dataReceived(frame[5:])
        assert pair.upstream_transport.value() == frame + encode_frame(9, b"p", mask_key=KEY)

    def test_data_frames_wait_for_a_fragmented_message_to_end(self) -> None:
        """Between fragments a Ping may go in (§5.4), a text message may not."""
        pair = Pair()
        pair.upgrade()
        first = forge_frame(opcode=1, payload=b"par", fin=False, mask_key=MASK)
        last = forge_frame(opcode=0, payload=b"t", mask_key=MASK)
        pair.client.dataReceived(first)
        steer = steering(pair)
        assert steer.inject(None, Role.SERVER, Opcode.TEXT, b"x").endswith("message in progress")
        assert steer.inject(None, Role.SERVER, Opcode.PING, b"").endswith("sent")
        pair.client.dataReceived(last)
        ping, text = encode_frame(9, b"", mask_key=KEY), encode_frame(1, b"x", mask_key=KEY)
        assert pair.upstream_transport.value() == first + ping + last + text

    def test_hold_and_release_keep_the_order(self) -> None:
        """Held frames and an injected one go out in order on release."""
        pair = Pair()
        pair.upgrade()
        steer = steering(pair)
        steer.hold(None, Role.CLIENT)
        assert pair.upstream is not None
        one, two = forge_frame(opcode=1, payload=b"1"), forge_frame(opcode=1, payload=b"2")
        pair.upstream.dataReceived(one)
        steer.inject(None, Role.CLIENT, Opcode.TEXT, b"mine")
        pair.upstream.dataReceived(two)
        assert pair.client_transport.value() == b""
        assert steer.connections()[0]["to_client_held"] == 12
        assert steer.release(None, None) == "#1: released 12 bytes to the client"
        assert pair.client_transport.value() == one + encode_frame(1, b"mine") + two

    def test_refusals_are_one_line(self) -> None:
        """No connection, not upgraded yet, nothing held, drop and edit: each says why."""
        pair = Pair()
        steer = steering(pair)
        with pytest.raises(UsageError, match="not an upgraded WebSocket"):
            steer.inject(None, Role.SERVER, Opcode.TEXT, b"x")
        pair.upgrade()
        with pytest.raises(UsageError, match="no open connection #7"):
            steer.hold(7, Role.SERVER)
        with pytest.raises(UsageError, match="nothing is held"):
            steer.release(None, None)
        with pytest.raises(UsageError, match="compression context"):
            steer.edit(None)


class TestPrompt:
    @pytest.mark.parametrize(
        ("line", "command"),
        [
            (
                "/inject server hello there",
                ProxyCommand("inject", None, Role.SERVER, b"hello there"),
            ),
            ("/binary 3 client 00ff", ProxyCommand("binary", 3, Role.CLIENT, b"\x00\xff")),
            ("/close server 4000 bye", ProxyCommand("close", None, Role.SERVER, b"\x0f\xa0bye")),
            ("/hold 2 client", ProxyCommand("hold", 2, Role.CLIENT)),
            ("/release", ProxyCommand("release")),
            ("/conns", ProxyCommand("conns")),
        ],
    )
    def test_grammar(self, line: str, command: ProxyCommand) -> None:
        """Connection numbers are optional; the side is the destination."""
        assert parse(line) == command

    @pytest.mark.parametrize(
        ("line", "needle"),
        [
            ("hello", "start with /"),
            ("/inject hello", "client or server"),
            ("/binary server zz", "not hex"),
            ("/frobnicate", "unknown command"),
        ],
    )
    def test_mistakes_are_one_line(self, line: str, needle: str) -> None:
        """A mistyped line says what is wrong."""
        with pytest.raises(UsageError, match=needle):
            parse(line)

    def test_execute_against_a_relay(self) -> None:
        """/inject through the prompt reaches the server; /conns lists the connection."""
        pair = Pair()
        pair.upgrade()
        out = io.StringIO()
        console = Console(file=out, color_system=None, width=120)
        log = ProxyLog(console)
        steer = steering(pair)
        command = parse("/inject server via the prompt")
        assert command is not None and execute(command, steer, log, console)
        assert pair.upstream_transport.value() == encode_frame(1, b"via the prompt", mask_key=KEY)
        execute(ProxyCommand("conns"), steer, log, console)
        assert (
            "#1 127.0.0.1:5555 → ws://upstream.test:9000/api/chat?room=1 (relay)" in out.getvalue()
        )
        assert not execute(ProxyCommand("quit"), steer, log, console)
