"""The conformance case table: every Autobahn Testsuite case under its id, and wstool's own.

Sections: 0 the opening handshake (RFC 6455 §4, which Autobahn leaves out),
1 framing, 2 pings and pongs, 3 reserved bits, 4 opcodes, 5 fragmentation,
6 UTF-8, 7 the closing handshake, 9 limits and performance, 10 miscellany,
12 and 13 permessage-deflate (RFC 7692). An id Autobahn has (1.1.1 to
13.7.18) means what it means in Autobahn: the same bytes, in the same writes,
the same expectation. wstool's own cases take ids Autobahn does not use
(section 0, and sub-sections such as 1.3, 2.12, 6.24 or 12.6) and say so in
their descriptions. Each case is data (see :mod:`wstool.check.model`);
:data:`CASES` is the whole table, in order.

A case's ``profile`` names the server configuration it needs; ``wstool
serve`` with the arguments in :data:`PROFILES` is one such server.
"""

from __future__ import annotations

from wstool.check.build import KOSME, utf8_fault
from wstool.check.cases_deflate import deflate_cases
from wstool.check.cases_fragments import fragment_cases
from wstool.check.cases_frames import frame_cases
from wstool.check.cases_handshake import handshake_cases
from wstool.check.cases_messages import message_cases
from wstool.check.cases_utf8 import utf8_cases
from wstool.check.model import Case

__all__ = ["CASES", "KOSME", "PROFILES", "SECTIONS", "cases_in", "utf8_fault"]
PROFILES: dict[str, tuple[str, ...]] = {
    "default": (),
    "limited": ("--max-message-size", "1MiB"),
    "serve-limits": ("--max-message-size", "16MiB", "--max-request-size", "16384"),
    "handshake-timeout": ("--handshake-timeout", "1"),
    "subprotocols": ("--subprotocol", "chat", "--subprotocol", "json"),
    "no-deflate": ("--no-deflate",),
}
"""Server configurations, as ``wstool serve`` arguments beyond
``--port 0 -q --ping-interval 0``: ``default`` echoes messages up to 16 MiB and
negotiates permessage-deflate; ``limited`` takes messages up to 1 MiB (inflated
too); ``serve-limits`` up to 16 MiB and request heads up to 16 KiB (serve's
defaults, not a rule for others); ``handshake-timeout`` drops a handshake
unfinished after 1 s;
``subprotocols`` speaks ``chat`` and ``json``; ``no-deflate`` declines deflate."""

SECTIONS = {
    "0": "opening handshake",
    "1": "framing",
    "2": "pings and pongs",
    "3": "reserved bits",
    "4": "opcodes",
    "5": "fragmentation",
    "6": "UTF-8 handling",
    "7": "close handling",
    "9": "limits and performance",
    "10": "miscellaneous",
    "12": "permessage-deflate: messages",
    "13": "permessage-deflate: parameters",
}


CASES: tuple[Case, ...] = (
    *handshake_cases(),
    *frame_cases(),
    *fragment_cases(),
    *utf8_cases(),
    *message_cases(),
    *deflate_cases(),
)
"""Every case, in section order."""


def cases_in(*sections: str) -> list[Case]:
    """The cases of these top-level sections (``"1"``, ``"12"``), in order."""
    return [case for case in CASES if case.id.split(".")[0] in sections]
