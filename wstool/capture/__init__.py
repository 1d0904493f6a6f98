"""Everything that turns recorded traffic into byte streams for ``wstool decode``.

- :mod:`wstool.capture.text`: text dumps (xxd, hexdump -C, od, Wireshark, tcpdump, tshark, hex);
- :mod:`wstool.capture.literals`: escapes, bytes literals, ``0x`` lists, plain hex, base64;
- :mod:`wstool.capture.packets`: link, IP and TCP headers of one captured frame;
- :mod:`wstool.capture.tcp`: reassembly by connection and direction;
- :mod:`wstool.capture.pcap`: capture files, told apart by their magic numbers;
- :mod:`wstool.capture.dump`: what a dump holds once read;
- pcap and pcapng captures, streamed: :mod:`~wstool.capture.pcapfile` (records),
  :mod:`~wstool.capture.links` (link, IP, TCP), :mod:`~wstool.capture.tcpstream` (reassembly by
  sequence number), :mod:`~wstool.capture.wsstream` (frames as they arrive) and
  :mod:`~wstool.capture.connections` (connections and events).

Standard library only at import (dpkt is imported by the functions that read captures):
``decode`` must start fast.
"""

from __future__ import annotations

from wstool.capture.dump import Dump, DumpError, Segment
from wstool.capture.literals import read_base64, read_raw
from wstool.capture.pcap import describe_binary
from wstool.capture.text import detect_format, read_dump

__all__ = [
    "Dump",
    "DumpError",
    "Segment",
    "describe_binary",
    "detect_format",
    "read_base64",
    "read_dump",
    "read_raw",
]
