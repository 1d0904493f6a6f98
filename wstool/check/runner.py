"""Run one conformance case against a server URL and judge what happened.

Verdicts are the Autobahn Testsuite's. ``behavior`` rates what the server
did: OK when it did exactly what the case expects, promptly (its Close within
:data:`PROMPT` seconds of our last write); NON-STRICT when it did something
the RFC allows but not the best thing (a failure with another close code, a
failure without a Close frame, a late failure, a reason not echoed, another
4xx status); INFORMATIONAL when it used its own limit (Close 1009 instead of
an echo: RFC 6455 §7.4.1 leaves the size a peer accepts to the peer);
UNIMPLEMENTED when it declined an optional feature the case is about
(permessage-deflate); FAILED otherwise. ``behavior_close`` rates the closing
handshake on its own: OK, WRONG CODE (a Close with a code the case does not
expect), UNCLEAN (no Close frame, an RST, or TCP left open by the server),
FAILED (no closing at all).
"""

from __future__ import annotations

import ssl
import time
from collections.abc import Callable
from dataclasses import dataclass

from wstool.check.model import (
    ANY,
    Case,
    Dropped,
    Expect,
    FailsHere,
    Frame,
    Message,
    Opening,
    Pause,
    Raw,
    RawRequest,
    Refused,
    Together,
    Wait,
    payload_bytes,
)
from wstool.check.peer import (
    Close,
    Event,
    Fault,
    MaskFlip,
    Msg,
    Peer,
    Pong,
    ReplyReader,
    Wire,
    client_frame,
)
from wstool.core.deflate import EXTENSION_NAME, PerMessageDeflate, client_accept
from wstool.core.errors import HandshakeError, WstoolError
from wstool.core.frames import Opcode, Role
from wstool.core.handshake import build_request, check_response, generate_key
from wstool.core.http import ResponseHead
from wstool.core.uri import WebSocketURI

__all__ = [
    "BEHAVIORS",
    "CLOSE_BEHAVIORS",
    "FAILED",
    "FIXED_KEY",
    "INFORMATIONAL",
    "NON_STRICT",
    "OK",
    "PROMPT",
    "SKIPPED",
    "UNCLEAN",
    "UNIMPLEMENTED",
    "WRONG_CODE",
    "EarlyVerdict",
    "Result",
    "run_case",
    "run_served_case",
]

OK, NON_STRICT, INFORMATIONAL = "OK", "NON-STRICT", "INFORMATIONAL"
UNIMPLEMENTED, FAILED, SKIPPED = "UNIMPLEMENTED", "FAILED", "SKIPPED"
BEHAVIORS = (OK, NON_STRICT, INFORMATIONAL, UNIMPLEMENTED, FAILED)
"""The Autobahn Testsuite's verdicts, best first (SKIPPED: a case not run)."""
WRONG_CODE, UNCLEAN = "WRONG CODE", "UNCLEAN"
CLOSE_BEHAVIORS = (OK, WRONG_CODE, UNCLEAN, INFORMATIONAL, UNIMPLEMENTED, FAILED)
"""Verdicts on the closing handshake alone, as Autobahn's ``behaviorClose``."""
TOO_BIG = 1009
POLICY = 1008
BIG_MESSAGE = 65536
"""A refused message at least this big may be refused with 1008 (its policy) as well
as 1009: RFC 6455 §7.4.1 names 1008 the generic code for a message against a policy."""
"""RFC 6455 §7.4.1: "a message that is too big for it to process"."""
PROMPT = 2.0
"""Seconds within which a server must fail a connection, answer a Close, or close TCP."""
FAIL_FAST_WAIT = 1.0
"""Seconds a :class:`FailsHere` step waits for the server to fail before sending the rest."""
HANDSHAKE_WAIT = 5.0
_RESET_ERRORS = ("ConnectionResetError", "BrokenPipeError")
FIXED_KEY = "dGhlIHNhbXBsZSBub25jZQ=="
"""The key of hand-written requests (the example of RFC 6455 §1.3)."""


@dataclass(frozen=True)
class Result:
    """What one case came to.

    Attributes:
        case: the case.
        verdict: one of :data:`BEHAVIORS`, or SKIPPED.
        observed: what the server did, in a few words.
        detail: why the verdict is not OK (empty for OK).
        duration: seconds the case took.
        close_after: seconds from our last write to the server's Close, if one came.
        close_verdict: one of :data:`CLOSE_BEHAVIORS` (Autobahn's ``behaviorClose``).
        close_detail: why the close verdict is not OK.
        remote_close_code: the code of the server's Close frame, if it sent one.
        wire: every byte both ways, if the case connected.
        started: when the case started (seconds since the epoch).
        server_side: whether wstool was the server (the peer a client).
    """

    case: Case
    verdict: str
    observed: str
    detail: str
    duration: float
    close_after: float | None = None
    close_verdict: str = OK
    close_detail: str = ""
    remote_close_code: int | None = None
    wire: Wire | None = None
    started: float = 0.0
    server_side: bool = False


class _Verdict(Exception):
    """Ends a case early with a verdict."""

    def __init__(self, verdict: str, observed: str, detail: str = "") -> None:
        super().__init__(detail)
        self.verdict, self.observed, self.detail = verdict, observed, detail


@dataclass(frozen=True)
class _Judged:
    verdict: str
    observed: str
    detail: str = ""
    close_after: float | None = None
    close_verdict: str = OK
    close_detail: str = ""
    remote_close_code: int | None = None


EarlyVerdict = _Verdict
"""Raised by an opening handshake to end a case with a verdict (see :func:`run_served_case`)."""


def _early(stop: _Verdict) -> _Judged:
    """A verdict reached before the connection was open: the closing is rated alike."""
    close = OK if stop.verdict in (OK, UNIMPLEMENTED, NON_STRICT) else FAILED
    return _Judged(stop.verdict, stop.observed, stop.detail, close_verdict=close)


def run_case(case: Case, uri: WebSocketURI, *, ssl_context: ssl.SSLContext | None = None) -> Result:
    """Run ``case`` against the server at ``uri`` and judge it (never raises for the server)."""
    start, started = time.monotonic(), time.time()
    try:
        peer = Peer(uri, ssl_context=ssl_context)
    except OSError as exc:
        took = time.monotonic() - start
        return Result(
            case, FAILED, "cannot connect", str(exc), took, close_verdict=FAILED, started=started
        )
    return _outcome(case, peer, lambda: _run(case, peer), start, started)


def run_served_case(
    case: Case, peer: Peer, opening: Callable[[], PerMessageDeflate | None]
) -> Result:
    """Run ``case`` over a connection a client opened to us, wstool being the server.

    The case's frames go out as a server's (:class:`~wstool.check.peer.MaskFlip`)
    and the client's are checked as a client's; the judging is the same.

    Args:
        case: a case whose outcome is an :class:`~wstool.check.model.Expect`.
        peer: the accepted connection, its request head read.
        opening: answers the client's handshake and returns our codec, if
            permessage-deflate was agreed; may raise :data:`EarlyVerdict`.
    """
    start, started = time.monotonic(), time.time()

    def body() -> _Judged:
        codec = opening()
        assert isinstance(case.expect, Expect)
        return _run_open(case, case.expect, peer, codec, case.steps)

    return _outcome(case, peer, body, start, started)


def _outcome(
    case: Case, peer: Peer, body: Callable[[], _Judged], start: float, started: float
) -> Result:
    """Run ``body`` (the case on ``peer``) and turn what it judged into a result."""
    try:
        judged = body()
    except _Verdict as stop:
        judged = _early(stop)
    except WstoolError as exc:  # a case wstool cannot even build (a local bug)
        judged = _Judged(FAILED, "wstool error", str(exc), close_verdict=FAILED)
    finally:
        peer.close()
    return Result(
        case,
        judged.verdict,
        judged.observed,
        judged.detail,
        time.monotonic() - start,
        judged.close_after,
        judged.close_verdict,
        judged.close_detail,
        judged.remote_close_code,
        peer.wire,
        started,
        peer.server_side,
    )


def _run(case: Case, peer: Peer) -> _Judged:
    expect = case.expect
    key, request = _request(case, peer.uri)
    first, steps = b"", case.steps
    if isinstance(case.opening, Opening) and case.opening.coalesce:
        first, steps = _render(steps[0], None), steps[1:]  # type: ignore[arg-type]
    peer.write(request + first, case.opening.chop)
    if isinstance(expect, Dropped):
        return _judge_dropped(expect, peer)
    head = peer.read_head(time.monotonic() + HANDSHAKE_WAIT)
    if isinstance(expect, Refused):
        return _judge_refused(expect, head, peer)
    codec = _check_handshake(case, expect, key, head)
    return _run_open(case, expect, peer, codec, steps)


def _run_open(
    case: Case,
    expect: Expect,
    peer: Peer,
    codec: PerMessageDeflate | None,
    steps: tuple[object, ...],
) -> _Judged:
    """The steps of an open connection, then the verdict."""
    sender = Role.CLIENT if peer.server_side else Role.SERVER
    session = _Session(peer, ReplyReader(codec, sender=sender))
    session.feed(peer.buffer)
    session.run(steps, codec, expect)
    return _judge(case, expect, session)


def _request(case: Case, uri: WebSocketURI) -> tuple[str, bytes]:
    opening = case.opening
    if isinstance(opening, RawRequest):
        text = (
            opening.template.replace(b"{host}", uri.host_header.encode())
            .replace(b"{path}", uri.resource.encode())
            .replace(b"{key}", FIXED_KEY.encode())
        )
        return FIXED_KEY, text
    key = generate_key()
    extensions = (*opening.decoys, *((opening.deflate,) if opening.deflate is not None else ()))
    request = build_request(
        uri.host_header,
        uri.resource,
        key=key,
        subprotocols=opening.subprotocols,
        extensions=extensions,
        extra_headers=opening.headers,
    )
    return key, request


def _check_handshake(
    case: Case, expect: Expect, key: str, head: ResponseHead | None
) -> PerMessageDeflate | None:
    """Check the 101 (RFC 6455 §4.1) and the deflate answer (RFC 7692 §7); the agreed codec."""
    if head is None:
        raise _Verdict(FAILED, "no response", "no HTTP response to a valid upgrade request")
    opening = case.opening
    offered = opening.subprotocols if not isinstance(opening, RawRequest) else ()
    offer = opening.deflate if not isinstance(opening, RawRequest) else None
    decoys = opening.decoys if not isinstance(opening, RawRequest) else ()
    try:
        answer = check_response(
            head, key=key, subprotocols=offered, extensions=(*decoys, *((offer,) if offer else ()))
        )
    except HandshakeError as exc:
        refused = expect.refusable and 400 <= head.status < 500
        verdict = NON_STRICT if refused else FAILED
        raise _Verdict(verdict, f"HTTP {head.status}", f"handshake: {exc.reason}") from None
    if expect.subprotocol is not ANY and answer.subprotocol != expect.subprotocol:
        got = answer.subprotocol or "none"
        raise _Verdict(NON_STRICT, f"subprotocol {got}", f"expected {expect.subprotocol}")
    codec = None
    deflates = [ext for ext in answer.extensions if ext[0] == EXTENSION_NAME]
    if len(answer.extensions) > 1:
        raise _Verdict(FAILED, "extensions", f"{len(answer.extensions)} extensions accepted")
    if answer.extensions and not deflates:
        raise _Verdict(FAILED, "extensions", f"accepted {answer.extensions[0][0]}, a decoy")
    if deflates:
        assert offer is not None  # check_response refuses extensions we did not offer
        try:
            params = client_accept(offer, deflates[0])
        except HandshakeError as exc:
            raise _Verdict(FAILED, "bad deflate answer", exc.reason) from None
        # The server inflates any level alike; level 1 compresses several times
        # faster than zlib's default, which keeps sections 12 and 13 quick.
        codec = PerMessageDeflate(params, is_client=True, max_inflated_size=None, level=1)
    if expect.deflate is True and codec is None:
        # RFC 7692 §5: a server MAY decline; Autobahn rates its deflate cases so.
        raise _Verdict(UNIMPLEMENTED, "deflate declined", "the server declined permessage-deflate")
    if expect.deflate is False and codec is not None:
        raise _Verdict(FAILED, "deflate accepted", "permessage-deflate must not be negotiated")
    return codec


def _render(step: Frame | Message | Raw | Together, codec: PerMessageDeflate | None) -> bytes:
    """The bytes a sending step writes (fresh mask keys each time)."""
    if isinstance(step, Raw):
        return step.data
    if isinstance(step, Together):
        return b"".join(_render(inner, codec) for inner in step.steps)
    if isinstance(step, Frame):
        return client_frame(
            step.opcode,
            payload_bytes(step.payload),
            fin=step.fin,
            rsv1=step.rsv1,
            rsv2=step.rsv2,
            rsv3=step.rsv3,
            masked=step.masked,
            length=step.length,
            length_bits=step.length_bits,
        )
    data = payload_bytes(step.payload)
    if step.compress:
        if codec is None:
            raise _Verdict(FAILED, "no codec", "a compressed step without permessage-deflate")
        data = codec.compress(data)
    size = step.fragment or len(data) or 1
    pieces = [data[i : i + size] for i in range(0, len(data), size)] or [b""]
    frames = [
        client_frame(
            step.opcode if index == 0 else Opcode.CONTINUATION,
            piece,
            fin=index == len(pieces) - 1,
            rsv1=step.compress and index == 0,
        )
        for index, piece in enumerate(pieces)
    ]
    return b"".join(frames)


class _Session:
    """The open connection: what was sent, what came back, when."""

    def __init__(self, peer: Peer, reader: ReplyReader) -> None:
        self.peer = peer
        self.reader = reader
        self.replies: list[Msg | Pong] = []
        self.faults: list[Fault] = []
        self.close: Close | None = None
        self.close_ref = peer.last_write
        self.sent_close = False
        self.late_failure = False
        self.failed_early = False
        self.wait_missed: str | None = None
        self.rewrite: Callable[[bytes], bytes] = MaskFlip().feed if peer.server_side else bytes
        self.who = "client" if peer.server_side else "server"

    @property
    def over(self) -> bool:
        """Whether nothing more can change the verdict: closed, or a fault seen."""
        return self.close is not None or self.peer.eof is not None or bool(self.faults)

    def feed(self, data: bytes) -> None:
        for event in self.reader.feed(data):
            self._event(event)

    def _event(self, event: Event) -> None:
        if isinstance(event, (Msg, Pong)):
            if self.close is None:
                self.replies.append(event)
        elif isinstance(event, Fault):
            self.faults.append(event)
        elif isinstance(event, Close) and self.close is None:
            self.close = event
            if not self.sent_close:
                # Answer as a client would (RFC 6455 §5.5.1); the server may be gone already.
                payload = b"" if event.code is None else event.code.to_bytes(2, "big")
                self.peer.write(self.rewrite(client_frame(Opcode.CLOSE, payload)))
                self.sent_close = True

    def drain(self) -> None:
        """Take in what the peer read while it was writing."""
        if self.peer.inbox:
            data, self.peer.inbox = b"".join(self.peer.inbox), []
            self.feed(data)

    def read_until(self, done: Callable[[], bool], deadline: float) -> bool:
        """Read until ``done()`` or EOF; False if the deadline came first."""
        self.drain()
        while not done():
            data = self.peer.recv(deadline)
            if data is None:
                return False
            if not data:
                return done()
            self.feed(data)
        return True

    def run(
        self, steps: tuple[object, ...], codec: PerMessageDeflate | None, expect: Expect
    ) -> None:
        lenient = expect.lenient
        wanted = max(len(expect.replies), len(lenient.replies) if lenient else 0)
        for step in steps:
            if _is_close(step) and not isinstance(step, Together):
                # Like Autobahn's client, wait for the echoes before closing: a server
                # may answer a Close that arrives with messages in one read before it
                # has echoed them, and may not send data after its Close.
                self.read_until(
                    lambda: len(self.replies) >= wanted or self.over,
                    time.monotonic() + expect_timeout(expect),
                )
            if isinstance(step, FailsHere):
                self.close_ref = self.peer.last_write
                if self.read_until(lambda: self.over, time.monotonic() + FAIL_FAST_WAIT):
                    self.failed_early = True
                    return
                self.late_failure = True
            elif isinstance(step, Pause):
                if self.read_until(lambda: self.over, time.monotonic() + step.seconds):
                    self.wait_missed = f"the connection ended during the {step.seconds:g}s pause"
                    return
            elif isinstance(step, Wait):
                within = PROMPT if step.within is None else step.within
                if not self._wait_reply(within):
                    self.wait_missed = f"no {step.reply} within {within:g}s"
                    return
            else:
                data = self.rewrite(_render(step, codec))  # type: ignore[arg-type]
                if _is_close(step):
                    self.sent_close = True
                if not self.peer.write(data, getattr(step, "chop", None)):
                    break
                if self.close is None:  # what is sent after the server's Close is not timed
                    self.close_ref = self.peer.last_write

    def _wait_reply(self, within: float = PROMPT) -> bool:
        """Whether one more reply came within ``within`` seconds (the judge checks which)."""
        seen = len(self.replies)
        self.read_until(lambda: len(self.replies) > seen or self.over, time.monotonic() + within)
        return len(self.replies) > seen

    def finish(self, timeout: float) -> None:
        """Read until the server closes TCP, or :data:`PROMPT` after its Close, or ``timeout``."""
        deadline = time.monotonic() + timeout
        self.drain()

        def done() -> bool:
            if self.peer.eof is not None or self.faults:
                return True
            if self.close is not None and self.peer.server_side:
                return True  # the server closes TCP first (RFC 6455 §7.1.1): we do, now
            return self.close is not None and time.monotonic() > self.close.at + PROMPT

        while not done():
            limit = deadline if self.close is None else min(deadline, self.close.at + PROMPT)
            data = self.peer.recv(limit)
            if data is None:
                if time.monotonic() >= deadline or self.close is not None:
                    return
                continue
            self.feed(data)


def _is_close(step: object) -> bool:
    if isinstance(step, Together):
        return any(_is_close(inner) for inner in step.steps)
    return isinstance(step, Frame) and step.opcode == Opcode.CLOSE


def _observed(session: _Session) -> str:
    parts = [str(r) for r in session.replies]
    if len(parts) > 3:
        parts = [*parts[:2], f"... {len(parts)} replies"]
    close = session.close
    if close is not None:
        parts.append(f"{close} in {close.at - session.close_ref:.3f}s")
    eof = session.peer.eof
    if eof is not None:
        reset = session.peer.write_error in _RESET_ERRORS
        parts.append("TCP reset" if reset else str(eof))
    elif close is not None and not session.peer.server_side:  # as the server, we close it
        parts.append("TCP open")
    if session.faults:
        parts.append(str(session.faults[0]))
    return ", ".join(parts) or "nothing"


def _judge(case: Case, expect: Expect, session: _Session) -> _Judged:
    if session.wait_missed is None:
        session.finish(max(case.timeout, expect_timeout(expect)))
    observed = _observed(session)
    close = session.close
    close_after = None if close is None else close.at - session.close_ref
    verdict, detail = _verdict(expect, session)
    code = None if close is None else close.code
    if expect.informational and not session.faults:
        # The RFC leaves this outcome open (Autobahn rates it INFORMATIONAL, closing too).
        why = f"the RFC leaves this open ({detail or 'as hoped'})"
        return _Judged(INFORMATIONAL, observed, why, close_after, INFORMATIONAL, "", code)
    lenient = expect.lenient
    # The lenient outcome with a flaw of its own (no Close frame, say) is still
    # only NON-STRICT: the server did something the RFC allows.
    allowed = (OK, NON_STRICT)
    if verdict == FAILED and lenient is not None and _verdict(lenient, session)[0] in allowed:
        verdict, detail = NON_STRICT, f"{detail} (allowed, not strict)"
    close_verdict, close_detail = _close_verdict(expect, session, verdict)
    return _Judged(verdict, observed, detail, close_after, close_verdict, close_detail, code)


def expect_timeout(expect: Expect) -> float:
    """How long to read for the outcome: big echoes get longer."""
    sizes = [len(r.resolve().data) for r in expect.replies if hasattr(r, "opcode")]
    return 5.0 + sum(sizes) / (2 << 20)


def _verdict(expect: Expect, session: _Session) -> tuple[str, str]:
    if session.faults:
        return FAILED, str(session.faults[0])
    if session.wait_missed is not None:
        return FAILED, session.wait_missed
    wanted = [r.resolve() for r in expect.replies]
    close, eof = session.close, session.peer.eof
    if session.replies != wanted:
        if _used_its_limit(wanted, session):
            code = session.close.code if session.close is not None else None
            why = "as too big (1009)" if code == TOO_BIG else "by its policy (1008)"
            return INFORMATIONAL, f"the {session.who} refused a message {why}: its limit"
        return FAILED, _difference(wanted, session.replies)
    if close is None:
        if eof is not None and expect.fails:
            return NON_STRICT, "TCP closed without a Close frame"
        return FAILED, f"no Close frame from the {session.who}" + (
            "" if eof else " within the time"
        )
    notes = []
    if close.code not in expect.codes:
        shown = "empty" if close.code is None else close.code
        note = f"Close {shown}, expected {'/'.join(map(str, expect.codes))}"
        if close.code == TOO_BIG and not expect.fails:
            return INFORMATIONAL, f"{note}: the {session.who}'s own size limit"
        if not expect.fails and close.code not in (1000, None):
            return FAILED, note
        notes.append(note)
    if expect.reason is not None and close.reason != expect.reason:
        notes.append("close reason not echoed")
    if close.at - session.close_ref > PROMPT:
        notes.append(f"Close after {close.at - session.close_ref:.1f}s")
    notes.extend(_unclean(session))
    if session.late_failure:
        notes.append("failed only after the rest was sent")
    if notes:
        return NON_STRICT, "; ".join(notes)
    return OK, ""


def _used_its_limit(wanted: list[Msg | Pong], session: _Session) -> bool:
    """Whether the server echoed a prefix of what was wanted, then closed with 1009
    (or with 1008 where the first message it did not echo is a big one)."""
    close = session.close
    got = session.replies
    if close is None or got != wanted[: len(got)]:
        return False
    if close.code == TOO_BIG:
        return True
    refused = wanted[len(got)] if len(got) < len(wanted) else None
    return close.code == POLICY and refused is not None and len(refused.data) >= BIG_MESSAGE


def _unclean(session: _Session) -> list[str]:
    """What was wrong with how the server ended TCP after its Close (RFC 6455 §7.1.1)."""
    close, eof = session.close, session.peer.eof
    notes: list[str] = []
    if session.peer.server_side:
        # RFC 6455 §7.1.1: "the underlying TCP connection, in most normal cases, SHOULD
        # be closed first by the server" (that is us); a client "MAY close the
        # connection at any time after sending and receiving a Close message".
        return notes
    if close is not None and (eof is None or eof.at - close.at > PROMPT):
        notes.append(f"TCP not closed by the server within {PROMPT:g}s of its Close")
    if eof is not None and (eof.reset or session.peer.write_error in _RESET_ERRORS):
        # RFC 6455 §7.1.1 describes an orderly close (shutdown, read to EOF, close);
        # an RST can destroy the Close frame before the client reads it.
        notes.append("the server reset the TCP connection (RST) instead of closing it")
    return notes


def _close_verdict(expect: Expect, session: _Session, verdict: str) -> tuple[str, str]:
    """Autobahn's ``behaviorClose``: the closing handshake apart from the messages."""
    close, eof = session.close, session.peer.eof
    if close is None:
        if eof is None:
            return FAILED, f"the {session.who} neither sent a Close nor closed TCP"
        return UNCLEAN, "TCP closed without a Close frame"
    if close.code not in expect.codes:
        if verdict == INFORMATIONAL:
            return INFORMATIONAL, f"Close {close.code}: the {session.who}'s own limit"
        wanted = "/".join("empty" if c is None else str(c) for c in expect.codes)
        return WRONG_CODE, f"the close code should have been {wanted}"
    unclean = _unclean(session)
    if unclean:
        return UNCLEAN, "; ".join(unclean)
    return OK, ""


def _difference(wanted: list[Msg | Pong], got: list[Msg | Pong]) -> str:
    for index, (want, have) in enumerate(zip(wanted, got, strict=False)):
        if want != have:
            return f"reply {index + 1}: expected {want}, got {have}"
    if len(got) < len(wanted):
        return f"expected {len(wanted)} replies, got {len(got)}; missing {wanted[len(got)]}"
    return f"expected {len(wanted)} replies, got {len(got)}; extra {got[len(wanted)]}"


def _judge_refused(expect: Refused, head: ResponseHead | None, peer: Peer) -> _Judged:
    verdict, observed, detail = _refusal(expect, head, peer)
    return _Judged(verdict, observed, detail, close_verdict=OK if verdict == OK else verdict)


def _refusal(expect: Refused, head: ResponseHead | None, peer: Peer) -> tuple[str, str, str]:
    if head is None:
        return FAILED, str(peer.eof or "no response"), "no HTTP response"
    observed = f"HTTP {head.status}"
    if head.status == 101:
        if expect.may_upgrade is not None:
            return INFORMATIONAL, observed, f"upgraded: {expect.may_upgrade}"
        return FAILED, observed, "the server upgraded the connection"
    required = (*expect.always, *(expect.headers if head.status == expect.status else ()))
    for name, token in required:
        values = [v.strip().lower() for v in ",".join(head.get_all(name)).split(",")]
        if token.lower() not in values:
            return FAILED, observed, f"{name}: {token} missing"
    eof = peer.wait_eof(time.monotonic() + PROMPT)
    observed += ", TCP closed" if eof else ", TCP open"
    if head.status != expect.status and head.status not in expect.fine:
        also = 400 <= head.status < 500 or head.status in expect.also
        return (
            NON_STRICT if also else FAILED,
            observed,
            f"status {head.status}, expected {expect.status}",
        )
    if eof is None:
        return NON_STRICT, observed, f"connection still open {PROMPT:g}s after the refusal"
    return OK, observed, ""


def _judge_dropped(expect: Dropped, peer: Peer) -> _Judged:
    sent = peer.last_write
    eof = peer.wait_eof(sent + expect.after + PROMPT)
    if eof is None:
        limit = expect.after + PROMPT
        detail = f"still open {limit:g}s after the partial request"
        return _Judged(FAILED, "TCP open", detail, close_verdict=FAILED)
    took = eof.at - sent
    observed = f"{eof} after {took:.2f}s"
    if took < expect.after * 0.8:
        detail = f"dropped before the {expect.after:g}s timeout"
        return _Judged(FAILED, observed, detail, close_verdict=FAILED)
    return _Judged(OK, observed)
