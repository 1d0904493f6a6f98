"""``wstool serve --rules FILE``: a fake backend that answers by mock rules.

The rules are read and matched by :mod:`wstool.mock.rules`; this module is
the :class:`~wstool.net.server.Behaviour` that sends the ``on_connect``
messages after the 101, each matching rule's replies (after its delay, on
the reactor's clock) and its Close, and says in the traffic log which rule
answered.
"""

from __future__ import annotations

from twisted.internet.interfaces import IDelayedCall

from wstool.core.connection import State
from wstool.core.events import MessageReceived
from wstool.mock.rules import Answer, MockRules
from wstool.net.faults import BehaviourFactory, note
from wstool.net.server import Behaviour, UpgradeRequest
from wstool.net.wire import WireProtocol

__all__ = ["RulesBehaviour", "rules_factory"]


def rules_factory(rules: MockRules) -> BehaviourFactory:
    """The :attr:`ServerOptions.behaviour` factory for ``rules``."""

    def make(upgrade: UpgradeRequest) -> Behaviour:
        return RulesBehaviour(rules)

    return make


class RulesBehaviour:
    """One connection answered by mock rules.

    Each rule's delay counts from the message it answers, so a later
    message with a shorter delay may be answered first, as a real backend's
    would.
    """

    def __init__(self, rules: MockRules) -> None:
        self.rules = rules
        self._timers: list[IDelayedCall] = []

    def start(self, wire: WireProtocol) -> None:
        greeting = self.rules.greeting()
        if greeting:
            self._send(wire, Answer(None, tuple(greeting)))

    def message(self, wire: WireProtocol, message: MessageReceived) -> None:
        answer = self.rules.answer(message.opcode, message.data)
        if answer is None:
            note(
                wire,
                "no rule matched; not answered (echo_unmatched: false)",
                "rule",
                per_message=True,
            )
            return
        if answer.rule is not None:
            note(wire, _matched(answer), "rule", per_message=True)
        if answer.delay > 0:
            self._timers.append(wire.clock.callLater(answer.delay, self._send, wire, answer))
        else:
            self._send(wire, answer)

    def closed(self, wire: WireProtocol) -> None:
        for timer in self._timers:
            if timer.active():
                timer.cancel()
        self._timers.clear()

    def _send(self, wire: WireProtocol, answer: Answer) -> None:
        self._timers = [timer for timer in self._timers if timer.active()]
        conn = wire.conn
        if conn.state is not State.OPEN:
            return
        for opcode, data in answer.messages:
            conn.send_message(opcode, data)
        wire.flush()
        if answer.close is not None:
            wire.close(*answer.close)


def _matched(answer: Answer) -> str:
    parts = [f"rules[{answer.rule}] matched"]
    count = len(answer.messages)
    if count:
        parts.append(f"{count} repl{'y' if count == 1 else 'ies'}")
    if answer.delay:
        parts.append(f"after {answer.delay:g} s")
    if answer.close is not None:
        parts.append(f"then close {answer.close[0]}")
    return ", ".join(parts)
