"""wstool.mock.faults: the counting and timing decisions of serve's faults, on a given clock."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wstool.mock.faults import Ending, FaultPlan, Faults


class TestFaults:
    """The options as data, checked."""

    def test_none_is_inactive(self) -> None:
        assert not Faults().active
        assert Faults(inhibit_pongs=0).active and Faults(fragment=2).shapes_replies

    @pytest.mark.parametrize(
        "bad",
        [
            {"close_code": 1006},
            {"close_code": 1005},
            {"close_code": 2000},
            {"fragment": 0},
            {"delay": -1.0},
            {"slow_read": 0},
            {"drop_after": -1},
        ],
    )
    def test_invalid_values(self, bad: dict[str, float]) -> None:
        """RFC 6455 §7.4: 1005/1006/1015 and reserved codes are never sent; counts are >= 0."""
        with pytest.raises(ValueError):
            Faults(**bad)  # type: ignore[arg-type]


class TestCounting:
    """--close-after and --drop-after count the client's messages, and end once."""

    def test_close_after_three(self) -> None:
        plan: FaultPlan[str] = FaultPlan(Faults(close_after=3, close_code=4000))
        assert plan.at_start() is None
        assert [plan.count_message() for _ in range(5)] == [None, None, Ending.CLOSE, None, None]
        assert plan.messages == 3

    def test_drop_wins_a_tie(self) -> None:
        """Both at the same count: the harsher ending (TCP cut) is what was asked to be tested."""
        plan: FaultPlan[str] = FaultPlan(Faults(close_after=2, drop_after=2))
        assert [plan.count_message(), plan.count_message()] == [None, Ending.DROP]

    def test_zero_ends_at_once(self) -> None:
        assert FaultPlan(Faults(drop_after=0)).at_start() is Ending.DROP
        assert FaultPlan(Faults(close_after=0)).at_start() is Ending.CLOSE


class TestHolding:
    """--delay holds every reply by the delay and keeps their order."""

    def test_order_is_kept(self) -> None:
        plan: FaultPlan[str] = FaultPlan(Faults(delay=0.5))
        assert plan.must_queue()
        assert plan.push(10.0, "a") == 10.5
        assert plan.push(10.1, "b") == 10.6
        assert plan.take_due(10.4) == []
        assert plan.next_due() == 10.5
        assert plan.take_due(10.6) == ["a", "b"]
        assert plan.next_due() is None

    def test_without_delay_nothing_waits(self) -> None:
        assert not FaultPlan(Faults(close_after=1)).must_queue()

    @given(st.lists(st.floats(0, 100), min_size=1, max_size=20), st.floats(0, 5))
    def test_due_times_never_go_back(self, times: list[float], delay: float) -> None:
        """Whatever the arrival times, items leave in arrival order, each at least delay late."""
        plan: FaultPlan[int] = FaultPlan(Faults(delay=delay))
        now = 0.0
        dues = []
        for index, step in enumerate(times):
            now += step
            dues.append(plan.push(now, index))
            assert dues[-1] >= now + delay
        assert dues == sorted(dues)
        assert plan.take_due(float("inf")) == list(range(len(times)))


class TestFragments:
    """--fragment N cuts each reply into N frames as even as can be."""

    @given(st.binary(max_size=64), st.integers(1, 10))
    def test_pieces_join_to_the_data(self, data: bytes, count: int) -> None:
        pieces = FaultPlan(Faults(fragment=count)).fragments(data)
        assert len(pieces) == count
        assert b"".join(pieces) == data
        assert max(map(len, pieces)) - min(map(len, pieces)) <= 1

    def test_short_data_leaves_empty_frames(self) -> None:
        assert FaultPlan(Faults(fragment=3)).fragments(b"hi") == [b"h", b"i", b""]


class TestSlowReading:
    """--slow-read: a token bucket without burst, and small reads."""

    def test_pauses_add_up_to_the_rate(self) -> None:
        plan: FaultPlan[str] = FaultPlan(Faults(slow_read=1000))
        assert plan.after_read(0.0, 500) == 0.5
        assert plan.after_read(0.5, 250) == pytest.approx(0.25)
        # A late read pays only for its own bytes.
        assert plan.after_read(10.0, 100) == pytest.approx(0.1)

    def test_read_size_keeps_pauses_short(self) -> None:
        assert FaultPlan(Faults(slow_read=1000)).read_size() == 125
        assert FaultPlan(Faults(slow_read=3)).read_size() == 1
        assert FaultPlan(Faults(slow_read=2**30)).read_size() == 65536

    def test_without_slow_read_no_pause(self) -> None:
        assert FaultPlan(Faults()).after_read(0.0, 10**6) == 0.0
