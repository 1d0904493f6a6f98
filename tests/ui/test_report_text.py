"""Tests of :func:`wstool.ui.render.report_text`: the plain-text twin of ``report_blocks``."""

from __future__ import annotations

import io
import json

from hypothesis import given, settings
from hypothesis import strategies as st
from rich.console import Console

from wstool.core.frames import Opcode, Role, forge_frame
from wstool.core.inspect import inspect_stream
from wstool.ui.render import THEME, report_blocks, report_text

KEY = bytes.fromhex("37fa213d")


def rendered(data: bytes, limit: int | None, sender: Role | None) -> tuple[str, str]:
    """A stream's report as rich prints it without colour, and as report_text writes it."""
    report = inspect_stream(data, sender=sender)
    out = io.StringIO()
    console = Console(file=out, theme=THEME, no_color=True, color_system=None, soft_wrap=True)
    for block in report_blocks(report, source="a:1", destination="b:2", limit=limit):
        console.print(block)
    text = "".join(report_text(report, source="a:1", destination="b:2", limit=limit))
    return out.getvalue(), text


payloads = st.one_of(
    st.binary(max_size=300),
    st.text(max_size=200).map(str.encode),
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner),
        max_leaves=12,
    ).map(lambda value: json.dumps(value).encode()),
)
frames = st.builds(
    lambda opcode, payload, fin, rsv1, masked: forge_frame(
        opcode=opcode,
        payload=payload[:125] if opcode & 0x8 else payload,
        fin=fin or bool(opcode & 0x8),
        rsv1=rsv1,
        mask_key=KEY if masked else None,
    ),
    st.sampled_from([0x0, 0x1, 0x2, 0x3, 0x8, 0x9, 0xA, 0xB]),
    payloads,
    st.booleans(),
    st.booleans(),
    st.booleans(),
)


class TestSameAsRendered:
    """report_text writes exactly what rich prints for the same report, without styles."""

    @settings(max_examples=200, deadline=None)
    @given(
        stream=st.lists(frames, min_size=1, max_size=6).map(b"".join),
        cut=st.integers(0, 3),
        limit=st.sampled_from([None, 1024, 5]),
        sender=st.sampled_from([None, Role.CLIENT, Role.SERVER]),
    )
    def test_any_stream(
        self, stream: bytes, cut: int, limit: int | None, sender: Role | None
    ) -> None:
        """Any frames, valid or not, cut short or not, any payload limit."""
        rich_text, plain = rendered(stream[: len(stream) - cut], limit, sender)
        assert plain == rich_text

    def test_handshake_and_messages(self) -> None:
        """HTTP heads, fragmented messages and peer control characters read the same."""
        stream = (
            b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nX-Evil: a\x1bb\r\n\r\n"
            + forge_frame(opcode=Opcode.TEXT, payload=b'{"a": "\x1b[2J"}', fin=False)
            + forge_frame(opcode=Opcode.CONTINUATION, payload=" tail\u009b".encode())
            + forge_frame(opcode=Opcode.CLOSE, payload=b"\x03\xe8bye\x07")
        )
        rich_text, plain = rendered(stream, 1024, None)
        assert "HTTP response" in plain
        assert "message TEXT" in plain
        assert plain == rich_text
