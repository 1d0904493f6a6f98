"""A test server for WebSocket clients that speaks the Autobahn Testsuite's fuzzingserver protocol.

Every connection is a WebSocket upgrade, and its path says what it is for,
as in Autobahn's ``wstest -m fuzzingserver``, so an existing client harness
runs unchanged:

- ``/getCaseCount``: one text message, the number of cases, then a Close.
- ``/getCaseInfo?case=N``: ``{"id": "1.1.1", "description": ...}``.
- ``/runCase?case=N&agent=A`` (or ``casetuple=1.1.1``): runs case N (1-based
  in the selection) against the client, which must echo every message.
- ``/getCaseStatus?case=N&agent=A``: ``{"behavior": "OK"}`` once it has run.
- ``/updateReports?agent=A``: the reports are written (``on_update``);
  ``shutdownOnComplete=true`` stops the server afterwards.
- ``/stopServer``: stops the server.

A request for another path, or with a bad parameter, is refused with an HTTP
error before the upgrade. Each connection has its own thread.
"""

from __future__ import annotations

import json
import socket
import socketserver
import threading
import time
from collections.abc import Callable, Sequence
from urllib.parse import parse_qs, urlsplit

from wstool.check.clientrun import accept_request, run_client_case
from wstool.check.model import Case
from wstool.check.peer import Close, Eof, Peer, ReplyReader
from wstool.check.runner import Result
from wstool.core.errors import HandshakeError
from wstool.core.frames import Opcode, Role, forge_frame
from wstool.core.handshake import ClientRequest, build_rejection, build_response
from wstool.core.http import RequestHead
from wstool.core.uri import parse_uri

__all__ = ["ENDPOINTS", "CaseResults", "FuzzingServer"]

ENDPOINTS = (
    "/getCaseCount",
    "/getCaseInfo",
    "/runCase",
    "/getCaseStatus",
    "/updateReports",
    "/stopServer",
)
STATUS_WAIT = 120.0
"""Seconds ``/getCaseStatus`` waits for a case that has not finished yet."""
SETTLE_WAIT = 30.0
"""Seconds ``/updateReports`` waits for the agent's running cases to be judged."""
REQUEST_WAIT = 5.0
CLOSE_WAIT = 2.0


class CaseResults:
    """The results so far, by agent and case id; safe to share between threads."""

    def __init__(self) -> None:
        self._changed = threading.Condition()
        self._results: dict[str, dict[str, Result]] = {}
        self._running: set[tuple[str, str]] = set()

    def started(self, agent: str, case_id: str) -> None:
        """Note that a client has come for a case."""
        with self._changed:
            self._running.add((agent, case_id))
            self._changed.notify_all()

    def add(self, agent: str, result: Result) -> None:
        """Keep a case's result (a later run of the same case replaces it)."""
        with self._changed:
            self._running.discard((agent, result.case.id))
            self._results.setdefault(agent, {})[result.case.id] = result
            self._changed.notify_all()

    def running(self, agent: str, case_id: str) -> bool:
        """Whether a client is running the case now."""
        with self._changed:
            return (agent, case_id) in self._running

    def wait(self, agent: str, case_id: str, timeout: float) -> Result | None:
        """The case's result, waiting up to ``timeout`` seconds for it."""
        deadline = time.monotonic() + timeout
        with self._changed:
            while (found := self._results.get(agent, {}).get(case_id)) is None:
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self._changed.wait(left)
            return found

    def settle(self, agent: str | None, timeout: float) -> None:
        """Wait (up to ``timeout`` seconds) until no case of ``agent`` (None: any) is running.

        A harness asks for its reports as soon as it sees the last case close,
        which can be a moment before that case's verdict is in.
        """
        deadline = time.monotonic() + timeout
        with self._changed:
            while any(agent in (None, name) for name, _ in self._running):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._changed.wait(left)

    def of(self, agent: str, cases: Sequence[Case]) -> list[Result]:
        """The agent's results, in the order of ``cases`` (those it ran)."""
        with self._changed:
            have = self._results.get(agent, {})
            return [have[case.id] for case in cases if case.id in have]

    def agents(self) -> list[str]:
        """The agents that ran a case, sorted."""
        with self._changed:
            return sorted(self._results)


class _BadRequest(Exception):
    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status, self.reason = status, reason


class FuzzingServer:
    """The test server on ``host``:``port`` (0: any free port), in threads.

    Args:
        cases: the selected cases; ``case=N`` is ``cases[N - 1]``.
        host: the address to listen on.
        port: the port.
        excluded: whether a case id is excluded for an agent (a spec's
            ``exclude-agent-cases``): it is then not run, only closed.
        on_result: called with (agent, result) after each case.
        on_update: called with the agent (None: every agent) on ``/updateReports``.
    """

    def __init__(
        self,
        cases: Sequence[Case],
        *,
        host: str = "127.0.0.1",
        port: int = 9001,
        excluded: Callable[[str, str], bool] = lambda agent, case_id: False,
        on_result: Callable[[str, Result], None] | None = None,
        on_update: Callable[[str | None], None] | None = None,
    ) -> None:
        self.cases = list(cases)
        self.results = CaseResults()
        self.stopping = threading.Event()
        self._updating = threading.Lock()
        self._excluded = excluded
        self._on_result = on_result or (lambda agent, result: None)
        self._on_update = on_update or (lambda agent: None)
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                owner._serve(self.request)

        family = socket.AF_INET6 if ":" in host else socket.AF_INET

        class Server(socketserver.ThreadingTCPServer):
            address_family = family
            allow_reuse_address = True
            daemon_threads = True

        self._server = Server((host, port), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        """The ``ws://`` URL it listens on."""
        address, port = self._server.server_address[:2]
        host = address.decode() if isinstance(address, bytes) else str(address)
        shown = f"[{host}]" if ":" in host else host
        return f"ws://{shown}:{port}"

    def case_url(self, number: int, agent: str) -> str:
        """Where a client runs case ``number`` (1-based) as ``agent``."""
        from urllib.parse import quote

        return f"{self.url}/runCase?case={number}&agent={quote(agent, safe='')}"

    def start(self) -> FuzzingServer:
        """Start serving in a thread."""
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop serving (once reports being written are done) and close the listening socket."""
        self.stopping.set()
        with self._updating:  # a harness may leave as soon as it has asked for its reports
            pass
        if self._thread.is_alive():
            self._server.shutdown()
            self._thread.join(5)
        self._server.server_close()

    def __enter__(self) -> FuzzingServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    # --- one connection ---------------------------------------------------------------------

    def _serve(self, sock: socket.socket) -> None:
        peer = Peer(parse_uri(self.url + "/"), sock=sock)
        try:
            self._serve_peer(peer)
        except OSError:
            pass
        finally:
            peer.close()

    def _serve_peer(self, peer: Peer) -> None:
        try:
            head = peer.read_request_head(time.monotonic() + REQUEST_WAIT)
        except HandshakeError as exc:
            peer.write(build_rejection(exc))
            return
        if head is None:
            return
        try:
            path, params = self._route(head)
        except _BadRequest as bad:
            peer.write(build_rejection(HandshakeError(bad.reason, bad.status)))
            return
        request = accept_request(peer, head)
        if request is not None:
            self._endpoint(peer, request, path, params)

    def _route(self, head: RequestHead) -> tuple[str, dict[str, str]]:
        split = urlsplit(head.target)
        path = split.path.rstrip("/") or "/"
        if path not in ENDPOINTS:
            raise _BadRequest(404, f"no endpoint {path}: try {', '.join(ENDPOINTS)}")
        params = {}
        for name, values in parse_qs(split.query).items():
            if len(values) > 1:
                raise _BadRequest(400, f"{name} given {len(values)} times")
            params[name] = values[0]
        if path in ("/runCase", "/getCaseInfo", "/getCaseStatus"):
            params["index"] = str(self._case_index(params))
        if path in ("/runCase", "/getCaseStatus") and not params.get("agent"):
            raise _BadRequest(400, f"{path} needs agent=NAME")
        return path, params

    def _case_index(self, params: dict[str, str]) -> int:
        if "casetuple" in params:
            ids = [case.id for case in self.cases]
            if params["casetuple"].strip() not in ids:
                raise _BadRequest(404, f"case {params['casetuple']} is not among the cases")
            return ids.index(params["casetuple"].strip())
        text = params.get("case", "")
        if not text.isdigit() or not 1 <= int(text) <= len(self.cases):
            raise _BadRequest(404, f"case={text or '?'}: say case=1 to case={len(self.cases)}")
        return int(text) - 1

    def _endpoint(
        self, peer: Peer, request: ClientRequest, path: str, params: dict[str, str]
    ) -> None:
        case = self.cases[int(params["index"])] if "index" in params else None
        agent = params.get("agent", "")
        if path == "/runCase" and case is not None and not self._excluded(agent, case.id):
            self._run(peer, request, case, agent)
            return
        if path == "/updateReports":
            # Held from before the 101: a harness may leave, and wstool be
            # stopped, as soon as the upgrade is answered; stop() waits for it.
            with self._updating:
                peer.write(build_response(request))
                self.results.settle(agent or None, SETTLE_WAIT)
                self._on_update(agent or None)
            if params.get("shutdownOnComplete", "").lower() in ("true", "yes"):
                self.stopping.set()
            _say(peer, None)
            return
        # The 101 first, as Autobahn does: the answer may take a while (a case
        # still running), and a client waits for the 101 only so long.
        peer.write(build_response(request))
        text = None
        if path == "/getCaseCount":
            text = json.dumps(len(self.cases))
        elif path == "/getCaseInfo" and case is not None:
            text = json.dumps({"id": case.id, "description": case.description})
        elif path == "/getCaseStatus" and case is not None:
            excluded = self._excluded(agent, case.id)
            result = None if excluded else self.results.wait(agent, case.id, STATUS_WAIT)
            behavior = "SKIPPED" if excluded else result.verdict if result else "UNKNOWN"
            text = json.dumps({"behavior": behavior})
        elif path == "/stopServer":
            self.stopping.set()
        _say(peer, text)

    def _run(self, peer: Peer, request: ClientRequest, case: Case, agent: str) -> None:
        self.results.started(agent, case.id)
        result = run_client_case(case, peer, request)
        self.results.add(agent, result)
        self._on_result(agent, result)


def _say(peer: Peer, text: str | None) -> None:
    """Send ``text`` (if any) and a Close 1000, and wait for the client's Close."""
    frames = []
    if text is not None:
        frames.append(forge_frame(opcode=Opcode.TEXT, payload=text.encode(), mask_key=None))
    frames.append(forge_frame(opcode=Opcode.CLOSE, payload=(1000).to_bytes(2, "big")))
    peer.write(b"".join(frames))
    reader = ReplyReader(sender=Role.CLIENT)
    deadline = time.monotonic() + CLOSE_WAIT
    pending = peer.buffer
    while True:
        events = reader.feed(pending) if pending else []
        if any(isinstance(event, Close | Eof) for event in events):
            return
        pending = peer.recv(deadline) or b""
        if not pending:
            return
