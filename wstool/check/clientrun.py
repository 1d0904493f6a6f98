"""The case table for WebSocket clients: the same cases with the roles reversed.

``wstool check client`` is the server. Each case's frames go out as a
server's (unmasked, where the table masks them: see
:class:`~wstool.check.peer.MaskFlip`), and the client must do what the table
asks of a server: echo every message, answer pings, fail the connection with
the right code, answer the Close. What is about a server alone is left out:
the opening handshake section (0), cases that need a configured server
(limits, a handshake timeout, subprotocols) and cases about what the client
writes in its request. For permessage-deflate the client makes the offer:
wstool accepts it with the parameters of the case's offer turned round (a
case that asks a server for ``server_max_window_bits=9`` asks the client for
``client_max_window_bits=9``), as the Autobahn Testsuite's fuzzingserver
does; a client that offers nothing the case can use gets UNIMPLEMENTED.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterable, Iterator
from dataclasses import replace
from typing import Any

from wstool.check.cases import CASES
from wstool.check.model import ANY, Case, Expect, Frame, Opening, Together
from wstool.check.peer import MaskFlip, Peer, client_frame
from wstool.check.runner import FAILED, OK, UNIMPLEMENTED, EarlyVerdict, Result, run_served_case
from wstool.core.deflate import (
    EXTENSION_NAME,
    ExtensionOffer,
    PerMessageDeflate,
    parse_params,
    server_negotiate,
)
from wstool.core.errors import HandshakeError
from wstool.core.frames import Opcode
from wstool.core.handshake import ClientRequest, build_rejection, build_response, check_request
from wstool.core.http import RequestHead

__all__ = [
    "CLIENT_PROFILES",
    "accept_request",
    "client_cases",
    "for_clients",
    "not_run",
    "run_client_case",
]

CLIENT_PROFILES = ("default", "no-deflate")
"""Server configurations wstool plays itself; the others are about a server's own limits."""
REQUEST_WAIT = 5.0
"""Seconds a client has to send its whole request head."""


def for_clients(case: Case) -> bool:
    """Whether ``case`` has a meaning for a client (wstool being the server)."""
    opening = case.opening
    if not isinstance(case.expect, Expect) or not isinstance(opening, Opening):
        return False  # refusals and dropped handshakes test a server's handshake
    if case.id.split(".")[0] == "0" or case.profile not in CLIENT_PROFILES:
        return False
    if opening.subprotocols or opening.headers:
        return False  # what the client puts in its request is the client's choice
    if not all(_usable(offer) for offer in opening.decoys):
        return False  # offers a server must decline: the server's negotiation section
    if opening.coalesce or opening.chop:
        return False  # how a request is written: the server's handshake section
    return case.expect.subprotocol in (ANY, None)


def client_cases(cases: Iterable[Case] = CASES) -> list[Case]:
    """The cases that run against clients, in table order (worded for the client's side)."""
    return [_worded(case) for case in cases if for_clients(case)]


def _frames(steps: Iterable[object]) -> Iterator[Frame]:
    for step in steps:
        if isinstance(step, Together):
            yield from _frames(step.steps)
        elif isinstance(step, Frame):
            yield step


def _worded(case: Case) -> Case:
    """A case about masking says what the client gets: masked and unmasked change places."""
    if all(frame.masked for frame in _frames(case.steps)):
        return case
    swapped = re.sub(
        r"\b(un)?masked\b", lambda m: "masked" if m.group(1) else "unmasked", case.description
    )
    return replace(case, description=swapped.replace(" a unmasked", " an unmasked"))


def accept_request(peer: Peer, head: RequestHead) -> ClientRequest | None:
    """Check the upgrade request (RFC 6455 §4.2.1); refuse it (and return None) if bad."""
    try:
        return check_request(head.method, head.target, head.headers, version=head.version)
    except HandshakeError as exc:
        peer.write(build_rejection(exc))
        return None


def _usable(offer: ExtensionOffer) -> bool:
    """Whether an offer of the table is a valid permessage-deflate offer."""
    if offer[0] != EXTENSION_NAME:
        return False
    try:
        parse_params(offer[1], role="client offer")
    except HandshakeError:
        return False
    return True


def _turned_round(offer: ExtensionOffer) -> dict[str, Any]:
    """A client's offer in the table, as the server's wishes for the same agreement."""
    params = parse_params(offer[1], role="client offer")
    return {
        "server_no_context_takeover": params.client_no_context_takeover,
        "client_no_context_takeover": params.server_no_context_takeover,
        "server_max_window_bits": params.client_max_window_bits,
        "client_max_window_bits": params.server_max_window_bits,
    }


def _negotiate(case: Case, request: ClientRequest) -> tuple[PerMessageDeflate | None, bytes]:
    """Our deflate codec (None: declined) and the 101 that says so.

    The table's offers, in order, become the server's wishes in order of
    preference (Autobahn's 13.7: no context takeover and a 9-bit window if
    the client can, else no context takeover, else plain).
    """
    opening = case.opening
    wishes: list[ExtensionOffer] = []
    if isinstance(opening, Opening) and opening.deflate is not None:
        wishes = [*opening.decoys, opening.deflate]
    agreed = None
    for offer in wishes if case.profile != "no-deflate" else ():
        agreed = server_negotiate(request.extensions, **_turned_round(offer))
        if agreed is not None:
            break
    if agreed is None:
        return None, build_response(request)
    params, answer = agreed
    codec = PerMessageDeflate(params, is_client=False, max_inflated_size=None, level=1)
    return codec, build_response(request, extensions=(answer,))


def _opening(case: Case, peer: Peer, request: ClientRequest) -> PerMessageDeflate | None:
    """Answer the client's request for ``case``; the agreed codec."""
    codec, response = _negotiate(case, request)
    peer.write(response)
    if codec is None and isinstance(case.expect, Expect) and case.expect.deflate:
        # RFC 7692 §5: deflate is optional; Autobahn rates its deflate cases
        # UNIMPLEMENTED for a peer without it, and closes normally.
        close = MaskFlip().feed(client_frame(Opcode.CLOSE, (1000).to_bytes(2, "big")))
        peer.write(close)
        offered = any(name == EXTENSION_NAME for name, _ in request.extensions)
        why = "parameters this case can use" if offered else "permessage-deflate"
        raise EarlyVerdict(UNIMPLEMENTED, "deflate not agreed", f"the client offered no {why}")
    return codec


def run_client_case(case: Case, peer: Peer, request: ClientRequest) -> Result:
    """Run ``case`` on a client's connection whose upgrade request was accepted."""
    result = run_served_case(case, peer, lambda: _opening(case, peer, request))
    wanted_deflate = isinstance(case.expect, Expect) and case.expect.deflate
    if wanted_deflate and result.verdict == FAILED and result.observed in _WALKED_AWAY:
        # RFC 7692 §5: "If the client does not accept the response, the client
        # MUST _Fail the WebSocket Connection_." A client that cannot use the
        # parameters it was answered with has declined them, as a server may.
        return replace(
            result,
            verdict=UNIMPLEMENTED,
            detail="the client closed at once: it does not accept these parameters",
            close_verdict=OK,
            close_detail="",
        )
    return result


_WALKED_AWAY = ("TCP closed", "TCP reset", "nothing")


def not_run(case: Case, observed: str, detail: str) -> Result:
    """The result of a case the client never came for (FAILED)."""
    return Result(case, FAILED, observed, detail, 0.0, close_verdict=FAILED, started=time.time())
