"""One reactor timer for many deadlines of one length (net.deadlines), and its users."""

from __future__ import annotations

from test_upgrade import PEER, UPGRADE_REQUEST, Recorder
from twisted.internet.task import Clock
from twisted.internet.testing import StringTransport
from twisted.python.failure import Failure
from twisted.trial.unittest import SynchronousTestCase

from wstool.net.deadlines import Deadlines
from wstool.net.server import ServerOptions, WebSocketSite
from wstool.net.wire import Timeouts


class DeadlinesTests(SynchronousTestCase):
    def setUp(self) -> None:
        self.clock = Clock()
        self.expired: list[str] = []
        self.deadlines: Deadlines[str] = Deadlines(self.clock, 10.0, self.expired.append)

    def test_each_expires_its_delay_after_it_was_set_in_order(self) -> None:
        self.deadlines.add("a")
        self.clock.advance(3)
        self.deadlines.add("b")
        self.clock.advance(6.9)
        self.assertEqual(self.expired, [])
        self.clock.advance(0.1)
        self.assertEqual(self.expired, ["a"])
        self.clock.advance(3)
        self.assertEqual(self.expired, ["a", "b"])
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_one_reactor_timer_for_all(self) -> None:
        for key in "abcdef":
            self.deadlines.add(key)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.assertEqual(len(self.deadlines), 6)

    def test_adding_again_moves_the_deadline(self) -> None:
        self.deadlines.add("a")
        self.deadlines.add("b")
        self.clock.advance(5)
        self.deadlines.add("a")
        self.clock.advance(5)
        self.assertEqual(self.expired, ["b"])
        self.clock.advance(5)
        self.assertEqual(self.expired, ["b", "a"])

    def test_discarding_the_last_cancels_the_timer(self) -> None:
        self.deadlines.add("a")
        self.deadlines.add("b")
        self.deadlines.discard("a")
        self.assertNotIn("a", self.deadlines)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.deadlines.discard("b")
        self.deadlines.discard("never added")
        self.assertEqual(self.clock.getDelayedCalls(), [])
        self.clock.advance(20)
        self.assertEqual(self.expired, [])

    def test_a_deadline_set_while_expiring_keeps_the_earlier_ones_on_time(self) -> None:
        def again(key: str) -> None:
            self.expired.append(key)
            if key == "a":
                self.deadlines.add("a")  # due at 20, after b (due at 15)

        self.deadlines = Deadlines(self.clock, 10.0, again)
        self.deadlines.add("a")
        self.clock.advance(5)
        self.deadlines.add("b")
        self.clock.advance(5)
        self.assertEqual(self.expired, ["a"])
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(5)
        self.assertEqual(self.expired, ["a", "b"])
        self.clock.advance(5)
        self.assertEqual(self.expired, ["a", "b", "a"])

    def test_the_rest_keep_their_timer_when_an_expire_raises(self) -> None:
        def fails(key: str) -> None:
            self.expired.append(key)
            raise RuntimeError(key)

        self.deadlines = Deadlines(self.clock, 10.0, fails)
        self.deadlines.add("a")
        self.clock.advance(5)
        self.deadlines.add("b")
        with self.assertRaises(RuntimeError):
            self.clock.advance(5)
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        with self.assertRaises(RuntimeError):
            self.clock.advance(5)
        self.assertEqual(self.expired, ["a", "b"])


class SiteTimersTests(SynchronousTestCase):
    """A site's channels share one handshake timer and its connections one close timer."""

    def site(self, **options: object) -> WebSocketSite:
        self.clock = Clock()
        return WebSocketSite(ServerOptions(**options), Recorder(), self.clock)  # type: ignore[arg-type]

    def test_handshake_timers_are_one_reactor_timer(self) -> None:
        site = self.site(handshake_timeout=2.0, timeouts=Timeouts(None, None, None, None))
        transports = []
        for _ in range(5):
            channel = site.buildProtocol(PEER)
            transport = StringTransport(peerAddress=PEER)
            channel.makeConnection(transport)
            transports.append((channel, transport))
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        transports[0][0].dataReceived(UPGRADE_REQUEST)  # upgraded: its deadline is gone
        self.clock.advance(2.0)
        self.assertEqual([t.disconnected for _, t in transports], [False] + [True] * 4)
        for channel, _ in transports:
            channel.connectionLost(Failure(ConnectionError()))
        self.assertEqual(self.clock.getDelayedCalls(), [])

    def test_close_timers_are_one_reactor_timer(self) -> None:
        site = self.site(timeouts=Timeouts(close=5.0, ping_interval=None, ping_timeout=None))
        wires = []
        for _ in range(3):
            channel = site.buildProtocol(PEER)
            transport = StringTransport(peerAddress=PEER)
            channel.makeConnection(transport)
            channel.dataReceived(UPGRADE_REQUEST)
            wires.append((channel, transport))
        self.assertEqual(self.clock.getDelayedCalls(), [])
        for channel, _ in wires:
            channel._upgraded.close()  # our Close sent, the peer's awaited
        self.assertEqual(len(self.clock.getDelayedCalls()), 1)
        self.clock.advance(5.0)
        for channel, transport in wires:
            self.assertTrue(transport.disconnected)
            self.assertEqual(channel._upgraded.cause, "no Close frame from the peer in time")
            channel.connectionLost(Failure(ConnectionError()))
        self.assertEqual(self.clock.getDelayedCalls(), [])
