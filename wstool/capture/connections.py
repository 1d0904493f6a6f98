"""TCP connections in a capture -> WebSocket connections, decoded packet by packet.

:class:`CaptureDecoder` takes captured frames in file order and returns events as they complete:
a handshake, frames (the packet holding a frame's last byte completes it), messages, violations,
gaps and notes. Each connection is told apart by its first bytes: an HTTP upgrade on any port
(decoded, deflate per connection from its own 101), TLS (listed as encrypted), the HTTP/2
preface (listed, not decoded), other HTTP or TCP (counted). A connection whose start is not in
the capture is decoded from the first frame that plausibly starts, its client inferred from the
MASK bits.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wstool.capture.links import TH_ACK, TH_FIN, TH_RST, TH_SYN, LinkDecoder, TcpPacket
from wstool.capture.pcapfile import CapturePacket
from wstool.capture.tcpstream import Chunk, DirectionStream, Gap
from wstool.capture.wsstream import RESYNC_LIMIT, FrameStream, Resync, find_frame_start
from wstool.core.deflate import DeflateParams
from wstool.core.frames import Role
from wstool.core.inspect import HandshakeReport, StreamItem, negotiated_deflate

__all__ = ["CaptureDecoder", "CaptureEvent", "Connection", "Side"]

_MAX_HEAD = 64 * 1024
_METHODS = (b"GET ", b"POST ", b"PUT ", b"HEAD ", b"DELETE ", b"OPTIONS ", b"PATCH ", b"CONNECT ")
_PREFACE = b"PRI * HTTP/2.0\r\n"
_PREFIXES = (*_METHODS, b"HTTP/", _PREFACE)  # first bytes too few to tell the protocol yet
TLS_HINT = (
    "encrypted (TLS): to see its frames, decrypt it in Wireshark with the key log a client "
    "writes to SSLKEYLOGFILE, or put `wstool proxy` in the middle"
)


@dataclass(frozen=True)
class Side:
    """What one end of a connection sent, so far."""

    address: str
    frames: int = 0
    wire_bytes: int = 0
    close_code: int | None = None
    violations: int = 0
    retransmitted: int = 0
    gaps: int = 0


@dataclass
class Connection:
    """A TCP connection of the capture, and what it was found to carry.

    ``kind`` is ``"websocket"``, ``"refused"`` (an upgrade answered without 101), ``"tls"``,
    ``"http2"``, ``"http"`` (no upgrade), ``"other"``, ``"upgrading"`` (a request, no response
    yet) or ``"unknown"`` (nothing decided yet).
    """

    id: int
    client_address: str
    server_address: str
    first_time: int
    last_time: int
    kind: str = "unknown"
    mid_stream: bool = False
    path: str = ""
    status: str = ""
    subprotocol: str = ""
    extensions: str = ""
    deflate: DeflateParams | None = None
    roles_known: bool = False
    closed: bool = False
    finished: bool = False  # closed, decoded to the end, its decoding state freed
    _directions: dict[str, _Direction] = field(default_factory=dict, repr=False)

    @property
    def listed(self) -> bool:
        """Whether the summary shows it (WebSocket, upgrades answered or not, TLS, HTTP/2)."""
        return self.kind in ("websocket", "upgrading", "refused", "tls", "http2")

    @property
    def client(self) -> Side:
        """What the client sent."""
        return self._side(self.client_address)

    @property
    def server(self) -> Side:
        """What the server sent."""
        return self._side(self.server_address)

    def _side(self, address: str) -> Side:
        direction = self._directions.get(address)
        if direction is None:
            return Side(address)
        frames = direction.frames
        return Side(
            address,
            frames.frames if frames else 0,
            frames.wire_bytes if frames else 0,
            frames.close_code if frames else None,
            (frames.violations if frames else 0) + direction.cut,
            direction.stream.retransmitted,
            direction.stream.gaps,
        )

    def role(self, address: str) -> Role | None:
        """The role of the end at ``address``, once known."""
        if not self.roles_known:
            return None
        return Role.CLIENT if address == self.client_address else Role.SERVER


@dataclass(slots=True)
class CaptureEvent:
    """Something found in the capture, at ``time`` (ns): stream items of one direction, or a note.

    ``connection`` is None for notes about the capture itself.
    """

    time: int
    connection: Connection | None
    source: str | None
    items: list[StreamItem]
    note: str | None = None
    problem: bool = False  # the note is about the traffic (a gap), not about reading the file


class _Direction:
    """One direction's reassembly and decoding state."""

    __slots__ = (
        "cut",
        "destination",
        "frames",
        "head",
        "held",
        "phase",
        "resync",
        "source",
        "stream",
    )

    def __init__(self, source: str, destination: str, stream: DirectionStream) -> None:
        self.source, self.destination, self.stream = source, destination, stream
        self.phase = "start"  # start, frames, resync, held (waiting for the 101), ignore
        self.head = b""
        self.frames: FrameStream | None = None
        self.resync: Resync | None = None
        self.held: list[Chunk] = []
        self.cut = 0  # frames cut short by a gap


class CaptureDecoder:
    """Packets in, events out; the connections found, for the summary."""

    def __init__(self) -> None:
        self._links = LinkDecoder()
        self._open: dict[tuple[str, str], Connection] = {}
        self.connections: list[Connection] = []
        self.skipped: dict[str, int] = {}
        self.packets = 0
        self.time = 0

    def packet(self, captured: CapturePacket) -> list[CaptureEvent]:
        """Decode one captured frame; the events it completes."""
        self.packets += 1
        self.time = captured.time
        events: list[CaptureEvent] = []
        if captured.comment:
            events.append(
                CaptureEvent(
                    captured.time,
                    None,
                    None,
                    [],
                    f"packet {captured.number} comment: {captured.comment}",
                )
            )
        tcp = self._links.decode(captured.linktype, captured.data, captured.time, captured.number)
        if isinstance(tcp, str):
            if not tcp.endswith("(kept for reassembly)"):
                self.skipped[tcp] = self.skipped.get(tcp, 0) + 1
            return events
        if captured.length > len(captured.data) and tcp.payload:
            note = f"packet {captured.number}: cut by the snaplen; capture with -s 0"
            events.append(CaptureEvent(captured.time, None, None, [], note, True))
        self._segment(tcp, events)
        return events

    def finish(self) -> list[CaptureEvent]:
        """The capture ended: gaps still open, frames cut short, fragments never completed."""
        events: list[CaptureEvent] = []
        for connection in self.connections:
            if connection.finished:
                continue
            for direction in connection._directions.values():
                for piece in direction.stream.finish(self.time):
                    self._piece(connection, direction, piece, events)
                self._end(connection, direction, events)
        for note in self._links.finish():
            events.append(CaptureEvent(self.time, None, None, [], note, True))
        return events

    # -- connections

    def _connection(self, tcp: TcpPacket) -> Connection:
        key = (tcp.source, tcp.destination)
        if key[0] > key[1]:
            key = (key[1], key[0])
        connection = self._open.get(key)
        opening = tcp.flags & (TH_SYN | TH_ACK) == TH_SYN
        if connection is not None and not (opening and connection.closed):
            return connection
        if tcp.flags & TH_SYN and not opening:  # SYN-ACK: the server answers
            client, server = tcp.destination, tcp.source
        else:  # a SYN; or seen mid-stream, until the frames say
            client, server = tcp.source, tcp.destination
        connection = Connection(len(self.connections) + 1, client, server, tcp.time, tcp.time)
        connection.roles_known = bool(tcp.flags & TH_SYN)
        connection.mid_stream = not tcp.flags & TH_SYN
        self._open[key] = connection
        self.connections.append(connection)
        return connection

    def _segment(self, tcp: TcpPacket, events: list[CaptureEvent]) -> None:
        connection = self._connection(tcp)
        connection.last_time = tcp.time
        directions = connection._directions
        direction = directions.get(tcp.source)
        if direction is None:
            seq = tcp.seq + 1 if tcp.flags & TH_SYN else tcp.seq
            stream = DirectionStream(seq & 0xFFFFFFFF)
            direction = directions[tcp.source] = _Direction(tcp.source, tcp.destination, stream)
        if tcp.flags & TH_RST:
            connection.closed = True
        if tcp.flags & TH_FIN:
            connection.closed = connection.closed or all(
                d.stream.fin is not None for d in directions.values() if d is not direction
            )
        seq = tcp.seq + 1 if tcp.flags & TH_SYN else tcp.seq
        if tcp.payload or tcp.flags & TH_FIN:
            pieces = direction.stream.add(
                seq & 0xFFFFFFFF, tcp.payload, tcp.time, bool(tcp.flags & TH_FIN)
            )
            for piece in pieces:
                self._piece(connection, direction, piece, events)
        if tcp.flags & TH_ACK:
            other = directions.get(tcp.destination)
            if other is not None:
                for piece in other.stream.acknowledged(tcp.ack, tcp.time):
                    self._piece(connection, other, piece, events)
        if connection.closed and not connection.finished and not self._waiting(connection):
            self._finish_connection(connection, events)

    @staticmethod
    def _waiting(connection: Connection) -> bool:
        return any(d.stream.waiting for d in connection._directions.values())

    def _finish_connection(self, connection: Connection, events: list[CaptureEvent]) -> None:
        """Both ends closed and nothing waits: say what is left, free the decoding state (a
        deflate context is hundreds of KiB), keep the counts for the summary."""
        connection.finished = True
        for direction in connection._directions.values():
            self._end(connection, direction, events)
            direction.phase = "ignore"  # late retransmissions change nothing
            if direction.frames is not None:
                direction.frames.release()

    def _emit(
        self,
        events: list[CaptureEvent],
        connection: Connection,
        direction: _Direction,
        time: int,
        items: list[StreamItem] | None = None,
        note: str | None = None,
        problem: bool = False,
    ) -> None:
        events.append(CaptureEvent(time, connection, direction.source, items or [], note, problem))

    # -- one direction's bytes

    def _piece(
        self,
        connection: Connection,
        direction: _Direction,
        piece: Chunk | Gap,
        events: list[CaptureEvent],
    ) -> None:
        if isinstance(piece, Gap):
            self._gap(connection, direction, piece, events)
            return
        phase = direction.phase
        if phase == "frames":
            frames = direction.frames
            assert frames is not None
            items = frames.feed(piece.data)
            if items:
                self._emit(events, connection, direction, piece.time, items)
        elif phase == "start":
            self._start(connection, direction, piece, events)
        elif phase == "resync":
            self._resync(connection, direction, piece, events)
        elif phase == "held":
            direction.held.append(piece)

    def _start(
        self,
        connection: Connection,
        direction: _Direction,
        piece: Chunk,
        events: list[CaptureEvent],
    ) -> None:
        if connection.kind in ("tls", "http2", "http", "other"):
            direction.phase = "ignore"
            return
        data = direction.head = direction.head + piece.data
        start = piece.offset + len(piece.data) - len(data)
        request = data.startswith(_METHODS)
        if request or data.startswith(b"HTTP/"):
            end = data.find(b"\r\n\r\n", 0, _MAX_HEAD)
            if end < 0:
                if len(data) >= _MAX_HEAD:
                    direction.phase = "ignore"
                return
            head = HandshakeReport("request" if request else "response", data[: end + 4], start)
            direction.head = b""
            rest = Chunk(start + end + 4, data[end + 4 :], piece.time)
            self._handshake(connection, direction, head, events, piece.time)
            if rest.data and direction.phase != "ignore":
                self._piece(connection, direction, rest, events)
            return
        if len(data) < len(_PREFACE) and any(p.startswith(data) for p in _PREFIXES):
            return  # too short to tell yet
        direction.head = b""
        if data.startswith(_PREFACE):
            self._classify(
                connection,
                "http2",
                events,
                direction,
                piece.time,
                "HTTP/2 (RFC 8441 WebSockets over HTTP/2 are not decoded)",
            )
        elif data[:1] in (b"\x16", b"\x17", b"\x15") and data[1:2] == b"\x03":
            self._classify(connection, "tls", events, direction, piece.time, TLS_HINT)
        elif connection.kind == "websocket" or not connection.roles_known or connection.mid_stream:
            # Frames without a handshake in front: decode from where frames plausibly start.
            direction.phase = "resync"
            direction.resync = Resync(start)
            self._resync(connection, direction, Chunk(start, data, piece.time), events)
        else:
            connection.kind = "other"
            direction.phase = "ignore"

    def _classify(
        self,
        connection: Connection,
        kind: str,
        events: list[CaptureEvent],
        direction: _Direction,
        time: int,
        note: str,
    ) -> None:
        connection.kind = kind
        for each in connection._directions.values():
            each.phase = "ignore"
        self._emit(events, connection, direction, time, note=note)

    def _handshake(
        self,
        connection: Connection,
        direction: _Direction,
        head: HandshakeReport,
        events: list[CaptureEvent],
        time: int,
    ) -> None:
        headers = {name.lower(): value for name, value in head.headers}
        if head.kind == "request":
            if "websocket" not in headers.get("upgrade", "").lower():
                connection.kind = "http"
                for each in connection._directions.values():
                    each.phase = "ignore"
                return
            connection.client_address = direction.source
            connection.server_address = direction.destination
            connection.roles_known = True
            parts = head.first_line.split(" ")
            connection.path = parts[1] if len(parts) > 1 else ""
            self._emit(events, connection, direction, time, [head])
            if connection.kind == "websocket":  # the 101 came first (reordered capture)
                self._frames(connection, direction, head.offset + len(head.raw))
                direction.phase = "frames"
            else:
                connection.kind = "upgrading"
                direction.phase = "held"  # frames wait for the 101 (and its deflate)
            return
        self._emit(events, connection, direction, time, [head])
        status = head.first_line.split(" ")[1:2]
        connection.status = " ".join(head.first_line.split(" ")[1:])
        if status != ["101"]:
            connection.kind = "refused" if connection.kind == "upgrading" else "http"
            for each in connection._directions.values():
                each.phase = "ignore"
            return
        connection.kind = "websocket"
        connection.roles_known = True
        connection.server_address = direction.source
        connection.client_address = direction.destination
        connection.subprotocol = headers.get("sec-websocket-protocol", "")
        connection.extensions = headers.get("sec-websocket-extensions", "")
        connection.deflate = negotiated_deflate(head)
        self._frames(connection, direction, head.offset + len(head.raw))
        direction.phase = "frames"
        client = connection._directions.get(direction.destination)
        if client is not None and client.phase == "held":
            held, client.held = client.held, []
            self._frames(connection, client, held[0].offset if held else client.stream.offset)
            client.phase = "frames"
            for chunk in held:
                self._piece(connection, client, chunk, events)

    def _frames(
        self,
        connection: Connection,
        direction: _Direction,
        offset: int,
        deflate_unknown: bool = False,
    ) -> None:
        direction.frames = FrameStream(
            connection.role(direction.source),
            connection.deflate,
            offset,
            deflate_unknown=deflate_unknown or (connection.mid_stream and not connection.status),
        )

    def _gap(
        self, connection: Connection, direction: _Direction, gap: Gap, events: list[CaptureEvent]
    ) -> None:
        if direction.phase == "ignore" or connection.kind in ("tls", "http2", "http", "other"):
            return
        note = (
            f"gap: {gap.size} bytes from @{gap.offset:#06x} (sequence number {gap.seq}) "
            "are not in the capture"
        )
        items: list[StreamItem] = []
        if direction.frames is not None and direction.phase == "frames":
            cut = direction.frames.cut()
            if cut is not None:
                items.append(cut)
                direction.cut += 1
        self._emit(events, connection, direction, gap.time, items, note, True)
        direction.phase = "resync"
        direction.held = []
        direction.head = b""
        direction.resync = Resync(gap.offset + gap.size)

    def _resync(
        self,
        connection: Connection,
        direction: _Direction,
        piece: Chunk,
        events: list[CaptureEvent],
        final: bool = False,
    ) -> None:
        resync = direction.resync
        assert resync is not None
        if piece.data:
            if resync.starts is None:
                resync.starts = []
            resync.starts.append(piece.offset - resync.offset)
            resync.buffer += piece.data
        role = connection.role(direction.source)
        masked = None if role is None else role is Role.CLIENT
        deflate = connection.deflate is not None or connection.mid_stream
        found = find_frame_start(resync.buffer, resync.starts or [], masked, deflate, final)
        if found is None:
            if final or len(resync.buffer) > RESYNC_LIMIT:
                if resync.buffer:
                    self._emit(
                        events,
                        connection,
                        direction,
                        piece.time,
                        note=f"{len(resync.buffer)} bytes from @{resync.offset:#06x} skipped: "
                        "no frame starts plausibly in them",
                        problem=True,
                    )
                direction.resync = Resync(resync.offset + len(resync.buffer))
            return
        start, masked_frames = found
        if not connection.roles_known:
            self._infer_roles(connection, direction, bool(masked_frames), events, piece.time)
        skipped = f"{start} bytes skipped, " if start else ""
        self._emit(
            events,
            connection,
            direction,
            piece.time,
            note=f"decoding from @{resync.offset + start:#06x}: {skipped}frames start there",
        )
        if direction.frames is None:
            self._frames(connection, direction, resync.offset + start)
        else:
            direction.frames.restart(resync.offset + start)
        direction.phase = "frames"
        direction.resync = None
        frames = direction.frames
        assert frames is not None
        items = frames.feed(resync.buffer[start:])
        if items:
            self._emit(events, connection, direction, piece.time, items)

    def _infer_roles(
        self,
        connection: Connection,
        direction: _Direction,
        masked: bool,
        events: list[CaptureEvent],
        time: int,
    ) -> None:
        # RFC 6455 §5.1: a client masks every frame it sends, a server none.
        other = direction.destination
        client, server = (direction.source, other) if masked else (other, direction.source)
        connection.client_address, connection.server_address = client, server
        connection.roles_known = True
        connection.kind = "websocket"
        self._emit(
            events,
            connection,
            direction,
            time,
            note=f"seen mid-stream (no handshake in the capture): the client is {client}, "
            f"inferred from {'masked' if masked else 'unmasked'} frames it"
            f"{' sends' if masked else ' receives'}",
        )
        for each in connection._directions.values():
            if each is not direction and each.frames is not None:
                each.frames.sender = connection.role(each.source)

    def _end(
        self, connection: Connection, direction: _Direction, events: list[CaptureEvent]
    ) -> None:
        if direction.phase == "resync" and direction.resync is not None:
            end = Chunk(direction.resync.offset, b"", self.time)
            self._resync(connection, direction, end, events, final=True)
        if direction.phase == "held":  # the 101 never came: decode what the client sent
            held, direction.held = direction.held, []
            if held:
                self._frames(connection, direction, held[0].offset, deflate_unknown=True)
                direction.phase = "frames"
                for chunk in held:
                    self._piece(connection, direction, chunk, events)
        frames = direction.frames
        if frames is not None and direction.phase == "frames":
            cut = frames.cut()
            if cut is not None:
                self._emit(events, connection, direction, self.time, [cut])
                direction.cut += 1
