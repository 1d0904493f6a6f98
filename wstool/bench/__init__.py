"""wstool bench: load a WebSocket server and measure it (standard library and core only).

``plan`` says what to send (sizes, the timestamp header, the open-loop schedule,
the split over worker processes); ``stats`` counts and keeps HDR histograms;
``report`` turns them into one result (the table's and ``--json``'s data);
``driver`` drives the sockets on asyncio (uvloop when installed); ``workers``
runs the driver in several processes and merges what they measured.
"""

from __future__ import annotations

__all__: list[str] = []
