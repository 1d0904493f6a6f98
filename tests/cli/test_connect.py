"""``wstool connect``'s exit status: what counts as success."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from wstool.cli import ExitStatus
from wstool.cli.connect import exit_status
from wstool.core.events import ConnectionClosed
from wstool.core.frames import Role


@dataclass
class Conn:
    failure: object = None


@dataclass
class Wire:
    close_event: ConnectionClosed | None


@dataclass
class Session:
    wire: Wire
    conn: Conn
    close_requested: tuple[int | None] | None = None


def session(
    closed: ConnectionClosed | None, *, asked: int | str | None = "no", failure: object = None
) -> Session:
    requested = None if asked == "no" else (asked,)
    return Session(Wire(closed), Conn(failure), requested)  # type: ignore[arg-type]


def closed(code: int, initiator: Role | None, clean: bool = True) -> ConnectionClosed:
    return ConnectionClosed(code, "", initiator, clean)


@pytest.mark.parametrize("code", [1000, 1001])
@pytest.mark.parametrize("initiator", [Role.CLIENT, Role.SERVER])
def test_normal_codes_either_way_are_success(code: int, initiator: Role) -> None:
    """1000 and 1001, closed cleanly by either side: exit 0."""
    assert exit_status(session(closed(code, initiator))) == ExitStatus.OK


@pytest.mark.parametrize("code", [4000, 3000, 1003, 1011, None])
def test_a_close_the_user_asked_for_is_success(code: int | None) -> None:
    """/close CODE with any valid code (or none), completed cleanly: exit 0."""
    received = 1005 if code is None else code
    assert exit_status(session(closed(received, Role.CLIENT), asked=code)) == ExitStatus.OK


def test_an_invalid_code_asked_for_is_not_success() -> None:
    """/close 1005 (a code no one may send): exit 6 even if the server answered."""
    assert exit_status(session(closed(1005, Role.CLIENT), asked=1005)) == 6


def test_server_started_close_with_another_code_is_6() -> None:
    """The server closes with 4000 on its own: exit 6."""
    assert exit_status(session(closed(4000, Role.SERVER))) == ExitStatus.ABNORMAL_CLOSURE


def test_server_started_close_while_we_asked_is_still_6() -> None:
    """Closes crossed: the server's Close came first with 4001; ours does not make it a success."""
    status = exit_status(session(closed(4001, Role.SERVER), asked=4000))
    assert status == ExitStatus.ABNORMAL_CLOSURE


def test_unclean_close_is_6() -> None:
    """The close we asked for but no Close came back: exit 6."""
    status = exit_status(session(closed(1006, Role.CLIENT, clean=False), asked=4000))
    assert status == ExitStatus.ABNORMAL_CLOSURE


def test_no_close_at_all_is_6() -> None:
    """The TCP connection just went: exit 6."""
    assert exit_status(session(None)) == ExitStatus.ABNORMAL_CLOSURE


def test_a_server_violation_is_4() -> None:
    """We failed the connection because the server broke a rule: exit 4."""
    assert exit_status(session(closed(1002, Role.CLIENT), failure=object())) == 4
