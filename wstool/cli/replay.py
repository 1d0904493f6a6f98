"""``wstool replay SESSION URL``: play a recorded client against a server, compare the answers."""

from __future__ import annotations

import argparse
import gc
from collections.abc import Callable, Sequence
from typing import Any

from wstool.cli.env import Environment
from wstool.cli.errors import CommandError, ExitStatus
from wstool.cli.options import add_command, add_output_options, seconds

__all__ = ["add_parser", "run"]

_HELP = """\
Open a connection to URL and play the client side of a recorded session: the
same messages and opcodes (and with --frames the same fragmentation), offering
the subprotocols and permessage-deflate the recorded client offered. Then
compare what comes back with what the server answered in the recording and show
the first differences. JSON answers are compared as data: key order does not
matter, and --ignore KEY leaves a field (a timestamp, an id) out at any depth.
"""

_EPILOG = """\
examples:
  wstool replay chat.session ws://127.0.0.1:8765/            # as fast as answers come
  wstool replay chat.session ws://staging.example/ --speed 1 # with the recorded timing
  wstool replay api.session wss://api.example/ws --ignore ts --ignore id

exit statuses:
  0  every answer as recorded
  1  the answers differ (or some did not come)
  2  bad usage or an unreadable session
  3  the server refused the handshake
  4  the server broke the protocol
  5  could not connect
"""


def _speed(text: str) -> float | None:
    if text == "max":
        return None
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number or 'max'") from None
    if not value > 0:
        raise argparse.ArgumentTypeError("the speed must be above 0")
    return value


def add_parser(commands: Any) -> None:
    """Add ``replay`` to the subcommands."""
    p = add_command(
        commands,
        "replay",
        help="play a recorded session's client side against a server and compare the answers",
        description=_HELP,
        epilog=_EPILOG,
    )
    p.add_argument("session", metavar="SESSION", help="a session file (from --record or import)")
    p.add_argument("url", metavar="URL", help="the server to replay against (ws:// or wss://)")
    p.add_argument(
        "--speed",
        type=_speed,
        default=None,
        metavar="N|max",
        help="max (default): each message once the answers before it are in; "
        "N: the recorded timing, N times faster",
    )
    p.add_argument(
        "--frames", action="store_true", help="keep each message's recorded fragmentation"
    )
    p.add_argument(
        "--ignore",
        action="append",
        default=[],
        metavar="KEY",
        help="leave this JSON key out of the comparison (repeatable)",
    )
    p.add_argument("--conn", type=int, metavar="N", help="the recorded connection to replay")
    p.add_argument(
        "--wait",
        type=seconds,
        default=5.0,
        metavar="SECONDS",
        help="how long to wait for an answer (default: 5)",
    )
    p.add_argument("--insecure", action="store_true", help="do not verify the server's certificate")
    p.add_argument("--ca", metavar="FILE", help="trust the certificates in FILE")
    add_output_options(p)
    p.set_defaults(run=run)


class _Answers:
    """The replay's observer: the messages that came back, and who waits for how many."""

    wants_frames = False

    def __init__(self) -> None:
        self.received: list[Any] = []
        self.failure: Any = None
        self.gone = False
        self._waiters: list[tuple[int, Callable[[], None]]] = []

    def wait_for(self, count: int, call: Callable[[], None]) -> None:
        """Call ``call`` once ``count`` messages are in (or the connection is gone)."""
        if len(self.received) >= count or self.gone:
            call()
        else:
            self._waiters.append((count, call))

    def cancel_waits(self) -> None:
        self._waiters = []

    def opened(self, conn_id: int, peer: str, request: bytes, response: bytes) -> None:
        pass

    def events(self, conn_id: int, events: Sequence[Any]) -> None:
        from wstool.core.events import ConnectionFailed, MessageReceived
        from wstool.session.replay import Message

        for event in events:
            if isinstance(event, MessageReceived):
                self.received.append(Message(event.opcode, event.data))
            elif isinstance(event, ConnectionFailed):
                self.failure = event.violation
        self._wake()

    def closed(self, conn_id: int, peer: str, cause: str) -> None:
        self.gone = True
        self._wake()

    def _wake(self) -> None:
        ready = [c for n, c in self._waiters if len(self.received) >= n or self.gone]
        self._waiters = [
            (n, c) for n, c in self._waiters if len(self.received) < n and not self.gone
        ]
        for call in ready:
            call()


class _Driver:
    """Sends the plan's steps on time, then closes and stops the reactor."""

    def __init__(self, reactor: Any, plan: Any, answers: _Answers, args: argparse.Namespace):
        self.reactor = reactor
        self.plan = plan
        self.answers = answers
        self.speed: float | None = args.speed
        self.wait: float = args.wait
        self.session: Any = None
        self.error: tuple[str, ExitStatus] | None = None
        self.rejected: Any = None
        self.ended = False
        self.late = 0  # steps sent without the answers that came before them in the recording
        self._start = 0.0
        self._next = 0  # the next step to send at --speed max
        self._timer: Any = None

    def begin(self, options: Any) -> None:
        from twisted.internet.defer import maybeDeferred

        from wstool.net.client import connect

        d = maybeDeferred(connect, self.reactor, options, self.answers)
        d.addCallbacks(self._connected, self._failed)

    def _failed(self, failure: Any) -> None:
        from wstool.net.client import ConnectFailed, HandshakeRejected

        if failure.check(HandshakeRejected):
            self.rejected = failure.value
        elif failure.check(ConnectFailed):
            self.error = (str(failure.value), ExitStatus.CONNECTION_FAILED)
        else:
            self.error = (failure.getErrorMessage(), ExitStatus.ERROR)
        self._stop()

    def _connected(self, session: Any) -> None:
        self.session = session
        self._start = self.reactor.seconds()
        if self.speed is None:
            self._pump()
        else:
            for index, step in enumerate(self.plan.steps):
                self.reactor.callLater(step.at / self.speed, self._timed_send, index)

    def _pump(self) -> None:
        """--speed max: send every step whose answers are in; then wait for the next answer.

        A loop rather than a call per step: a recording of many pipelined messages has
        thousands of steps ready at once.
        """
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        if self.answers.gone:  # the server closed: nothing more can be sent
            self._stop()
            return
        steps = self.plan.steps
        while (
            self._next < len(steps)
            and len(self.answers.received) >= steps[self._next].answers_before
        ):
            if not self._send(steps[self._next], flush=False):
                return
            self._next += 1
        self.session.wire.flush()  # one write for every message sent above
        if self._next == len(steps):
            self._finish()
            return
        self._timer = self.reactor.callLater(self.wait, self._late)
        self.answers.wait_for(steps[self._next].answers_before, self._pump)

    def _late(self) -> None:
        """No answer for --wait seconds: send the next step anyway."""
        self.late += 1
        self.answers.cancel_waits()
        if self._send(self.plan.steps[self._next]):
            self._next += 1
            self._pump()

    def _timed_send(self, index: int) -> None:
        if self._send(self.plan.steps[index]) and index == len(self.plan.steps) - 1:
            self._finish()

    def _finish(self) -> None:
        """Every step sent: wait for the last answers (at most --wait seconds), then close."""
        done: list[bool] = []

        def close() -> None:
            if not done:
                done.append(True)
                self._close()

        self.reactor.callLater(self.wait, close)
        self.answers.wait_for(len(self.plan.expected), close)

    def _send(self, step: Any, *, flush: bool = True) -> bool:
        """Send one step; False (and stop) when the connection is no longer open."""
        session = self.session
        if not session.is_open:
            self._stop()
            return False
        conn = session.conn
        if step.fragments is not None:
            conn.send_fragments(step.message.opcode, list(step.fragments))
        else:
            conn.send_message(step.message.opcode, step.message.data)
        if flush:
            session.wire.flush()
        return True

    def _close(self) -> None:
        if self.session.is_open:
            self.session.close(self.plan.close_code, self.plan.close_reason)
            self.session.closed.addBoth(lambda _: self._stop())
            self.reactor.callLater(self.wait, self._stop)
        else:
            self._stop()

    def _stop(self) -> None:
        self.ended = True  # by the replay itself, not by Ctrl-C or SIGTERM
        if self.reactor.running:
            self.reactor.stop()


def run(args: argparse.Namespace, env: Environment) -> int:
    """Replay, then report: 0 as recorded, 1 different."""
    plan = _load(args)
    options = _client_options(args, plan)
    reactor = env.get_reactor()
    answers = _Answers()
    driver = _Driver(reactor, plan, answers, args)
    reactor.callWhenRunning(driver.begin, options)
    signalled: list[bool] = []  # shutdown began before the replay ended: Ctrl-C or SIGTERM
    reactor.addSystemEventTrigger("before", "shutdown", lambda: signalled.append(not driver.ended))
    reactor.run()
    if signalled and signalled[0]:
        raise KeyboardInterrupt  # exit 130, and no verdict on a replay cut short
    return _report(args, env, plan, answers, driver)


def _client_options(args: argparse.Namespace, plan: Any) -> Any:
    from wstool.core.errors import UsageError
    from wstool.core.uri import parse_uri
    from wstool.net.client import ClientOptions
    from wstool.net.wire import Timeouts

    try:
        uri = parse_uri(args.url)
    except UsageError as exc:
        raise CommandError(str(exc), ExitStatus.USAGE) from exc
    return ClientOptions(
        uri=uri,
        subprotocols=plan.subprotocols,
        deflate=plan.deflate,
        ca_file=args.ca,
        insecure=args.insecure,
        connect_timeout=max(args.wait, 1.0),
        timeouts=Timeouts(ping_interval=None),
    )


def _report(
    args: argparse.Namespace, env: Environment, plan: Any, answers: _Answers, driver: _Driver
) -> int:
    from rich.text import Text

    from wstool.session.replay import differences
    from wstool.ui.console import make_console

    if driver.rejected is not None:
        raise CommandError(
            f"the server refused the handshake: {driver.rejected}", ExitStatus.HANDSHAKE_REJECTED
        )
    if driver.error is not None:
        raise CommandError(*driver.error)
    console = make_console(args.color, env.stdout, no_color_env=env.no_color)
    sent, got, want = len(plan.steps), len(answers.received), len(plan.expected)
    console.print(
        Text(
            f"replayed {sent} message{'s' * (sent != 1)} to {args.url}: "
            f"{got} answer{'s' * (got != 1)}, {want} recorded"
        ),
    )
    if answers.failure is not None:
        v = answers.failure
        console.print(
            Text(f"the server broke the protocol: {v.message} ({v.section})", "ws.violation")
        )
        return ExitStatus.PEER_VIOLATION
    found = differences(plan.expected, answers.received, ignore=args.ignore)
    if driver.late:
        found.append(f"{driver.late} message(s) sent after waiting {args.wait:g} s for answers")
    for line in found[:60]:
        style = "ws.violation" if not line.startswith("  ") else _diff_style(line)
        console.print(Text(line, style))
    if found:
        console.print(Text("the answers differ from the recording", "ws.violation"))
        return ExitStatus.ERROR
    console.print(Text("every answer as recorded", "ws.ok"))
    return ExitStatus.OK


def _diff_style(line: str) -> str:
    body = line[2:]
    if body.startswith("+") and not body.startswith("+++"):
        return "ws.in"
    if body.startswith("-") and not body.startswith("---"):
        return "ws.violation"
    return "ws.dim"


def _load(args: argparse.Namespace) -> Any:
    """The plan for the session's connection, read line by line as the file is read."""
    from wstool.session.format import SessionError
    from wstool.session.replay import load_plan

    gc.disable()  # the plan makes no cycles; the collector would rescan it as it grows
    try:
        with open(args.session, "rb") as file:
            # The frames' bytes are read only when --frames sends them.
            plan = load_plan(file, conn_id=args.conn, frames=args.frames)[0]
        gc.freeze()  # and the plan is kept out of the collections made while replaying
        return plan
    except OSError as exc:
        raise CommandError(
            f"cannot read {args.session!r}: {exc.strerror}", ExitStatus.USAGE
        ) from exc
    except SessionError as exc:
        raise CommandError(f"{args.session}: {exc}", ExitStatus.USAGE) from None
    finally:
        gc.enable()
