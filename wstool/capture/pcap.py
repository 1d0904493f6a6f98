"""Capture files (pcap, pcapng): told apart from dumps by their magic numbers.

:func:`describe_binary` names a capture file (format, byte order, timestamp unit) for the
"read as" line; :mod:`wstool.capture.pcapfile` reads its packets.

Standard library only.
"""

from __future__ import annotations

__all__ = ["describe_binary"]

# The libpcap file header: magic number, then version 2.4, in the writer's byte order.
# https://www.tcpdump.org/manpages/pcap-savefile.5.txt
_PCAP_MAGIC = {
    b"\xa1\xb2\xc3\xd4": "big-endian",
    b"\xd4\xc3\xb2\xa1": "little-endian",
    b"\xa1\xb2\x3c\x4d": "big-endian, nanosecond timestamps",
    b"\x4d\x3c\xb2\xa1": "little-endian, nanosecond timestamps",
    b"\xa1\xb2\xcd\x34": "big-endian, modified by Kuznetsov's patches",
    b"\x34\xcd\xb2\xa1": "little-endian, modified by Kuznetsov's patches",
}
# pcapng (RFC draft-ietf-opsawg-pcapng): a Section Header Block of type 0x0A0D0D0A, with the
# byte-order magic 0x1A2B3C4D at offset 8.
_PCAPNG_BLOCK = b"\x0a\x0d\x0d\x0a"
_PCAPNG_ORDER = {b"\x1a\x2b\x3c\x4d": "big-endian", b"\x4d\x3c\x2b\x1a": "little-endian"}


def describe_binary(data: bytes) -> str | None:
    """Say what capture file ``data`` is, if it starts like one.

    Args:
        data: The start of the input (24 bytes are enough).

    Returns:
        For example ``"a pcap capture (libpcap format, little-endian)"``, or None when ``data``
        is not a pcap or pcapng file.
    """
    order = _PCAP_MAGIC.get(bytes(data[:4]))
    if order is not None and len(data) >= 24:
        big = order.startswith("big")
        major = int.from_bytes(data[4:6], "big" if big else "little")
        if major == 2:
            return f"a pcap capture (libpcap format, {order})"
    if data[:4] == _PCAPNG_BLOCK and len(data) >= 12:
        order = _PCAPNG_ORDER.get(bytes(data[8:12]))
        if order is not None:
            return f"a pcapng capture ({order})"
    return None
