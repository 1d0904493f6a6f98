"""Frame records from the bytes each end wrote, for a recorder that must keep up with serve.

The wire hands a recorder every read and every write of a connection
(``wire_data``); :class:`ByteStream` keeps one direction's unfinished frame
and turns the rest into record lines. The common frame (one whole message or a
control frame, no RSV bit, or one whole compressed message, inflated by a
callback) is written by the C function ``wstool.session._records.frame_lines``;
the others (fragments, anything unusual) here, through the core's message assembler, with
the inflater the handshake agreed on. The connection itself then stays on its
fast path: it builds no frame events for the recorder.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from wstool.core.assembler import MessageAssembler
from wstool.core.deflate import PerMessageDeflate
from wstool.core.errors import ProtocolError
from wstool.core.events import MessageReceived
from wstool.core.frames import Role, frame_at
from wstool.core.inspect import HandshakeReport, negotiated_deflate
from wstool.session.format import frame_record, message_record

__all__ = ["ByteStream", "frame_lines"]

FrameLines = Callable[
    [bytes, int, bytes, bool, "Callable[[bytes], bytes | None] | None"], "tuple[bytes, int, int]"
]


def _frame_lines_python(
    data: bytes,
    pos: int,
    prefix: bytes,
    to_python: bool,
    inflate: Callable[[bytes], bytes | None] | None = None,
) -> tuple[bytes, int, int]:
    """Where the C function is not built: every complete frame is left to :class:`ByteStream`."""
    return b"", pos, int(frame_at(data, pos) is not None)


frame_lines: FrameLines
try:
    from wstool.session._records import frame_lines  # type: ignore[import-not-found,no-redef]
except ImportError:  # built without a compiler
    frame_lines = _frame_lines_python


class ByteStream:
    """One direction of one connection: the bytes ``sender`` wrote, as record lines.

    Args:
        conn_id: the connection's number.
        sender: the end that writes these bytes.
        response: the 101 head, for the permessage-deflate parameters it agreed on.
        dumps: JSON encoder for the records written here (orjson's).
    """

    def __init__(
        self, conn_id: int, sender: Role, response: bytes, dumps: Callable[[Any], bytes]
    ) -> None:
        self.conn_id = conn_id
        self.sender = sender
        self._head = f'{{"type":"frame","conn":{conn_id},"from":"{sender.value}",'.encode()
        self._pending = b""
        self._fragmenting = False
        self._dumps = dumps
        params = negotiated_deflate(HandshakeReport("response", response))
        codec = None
        if params is not None:
            # We inflate what `sender` compressed, so we stand at the other end.
            codec = PerMessageDeflate(params, is_client=sender is Role.SERVER)
        self._assembler = MessageAssembler(max_message_size=None, codec=codec)
        self._codec = codec
        # A compressed message in one frame is written in C too, inflated by this codec.
        self._inflate = None if codec is None else self._inflate_whole

    def _inflate_whole(self, payload: bytes) -> bytes | None:
        """A compressed message of one frame, inflated as the assembler would (None: it fails)."""
        assert self._codec is not None
        try:
            return self._codec.decompress_fragment(payload, final=True)
        except ProtocolError:  # the Python path's assembler then writes no message either
            return None

    def feed(self, data: bytes, time: float, mono: float, lines: list[bytes]) -> None:
        """Append the record lines of the frames ``data`` completes to ``lines``."""
        buf = self._pending + data if self._pending else data
        prefix = self._head + f'"time":{time:.6f},"mono":{mono:.6f},'.encode()
        pos = 0
        while True:
            written, pos, stopped = frame_lines(buf, pos, prefix, self._fragmenting, self._inflate)
            if written:
                lines.append(written)
            if not stopped:
                break
            pos += self._one_in_python(buf, pos, time, mono, lines)
        self._pending = buf[pos:]

    def _one_in_python(
        self, buf: bytes, pos: int, time: float, mono: float, lines: list[bytes]
    ) -> int:
        found = frame_at(buf, pos)
        assert found is not None  # frame_lines stops only at a complete frame
        frame, size = found
        record = frame_record(frame, self.sender)
        record.update(conn=self.conn_id, time=round(time, 6), mono=round(mono, 6))
        if frame.opcode in (0, 1, 2):
            self._fragmenting = not frame.fin
            result = self._assembler.add(frame, frame.data)
            if isinstance(result, MessageReceived):
                record["message"] = message_record(result)
        lines.append(self._dumps(record) + b"\n")
        return size
