"""Link, IP and TCP headers of one captured frame: where the TCP payload is, and who sent it.

The link layer is judged from the bytes rather than from a tool's flags: raw IP, Ethernet (with
or without an 802.1Q tag), Linux cooked captures (SLL, SLL2) and BSD loopback are tried in turn,
and an IPv4 header must carry a valid checksum.

Standard library only.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

__all__ = ["TcpSegment", "Unusable", "network_start", "parse_frame"]


@dataclass(frozen=True)
class TcpSegment:
    """A TCP segment as captured.

    Attributes:
        source: ``"ip:port"`` of the sender (IPv6 addresses in brackets).
        destination: ``"ip:port"`` of the receiver.
        seq: The sequence number.
        syn: Whether the SYN flag is set.
        payload: The TCP payload.
    """

    source: str
    destination: str
    seq: int
    syn: bool
    payload: bytes


@dataclass(frozen=True)
class Unusable:
    """Why a captured frame yields no TCP segment."""

    reason: str
    truncated: bool = False
    # The block is an IP packet, if not a usable TCP one; False when the bytes only start like
    # one (no IP header, or more bytes than the IP length says), so they may be a stream.
    ip: bool = True


_IPV4, _IPV6 = b"\x08\x00", b"\x86\xdd"
# DLT_NULL/DLT_LOOP: a 4-byte address family in either byte order (AF_INET6 differs by OS).
_FAMILIES = {
    key: ethertype
    for family, ethertype in ((2, _IPV4), (10, _IPV6), (24, _IPV6), (28, _IPV6), (30, _IPV6))
    for key in (family.to_bytes(4, "big"), family.to_bytes(4, "little"))
}
_IPV6_EXTENSIONS = {0, 43, 44, 50, 51, 60, 135, 139, 140}


def network_start(frame: bytes, complete: bool = True) -> int | None:
    """Where the IP header starts, judged from the bytes rather than from tcpdump's flags.

    Args:
        frame: A captured frame.
        complete: ``frame`` is whole; when False only the headers are checked.

    Returns:
        0 for raw IP (tcpdump -x), else the length of the link-layer header; None if no
        IPv4 or IPv6 header is found.
    """
    candidates: list[tuple[int, bytes | None]] = [(0, None)]
    if frame[12:14] == b"\x81\x00":
        candidates.append((18, frame[16:18]))  # Ethernet with an 802.1Q VLAN tag
    candidates += [
        (14, frame[12:14]),  # Ethernet: ethertype at 12
        (16, frame[14:16]),  # Linux cooked capture (SLL): protocol at 14
        (20, frame[0:2] if frame[2:4] == b"\0\0" else b""),  # SLL2: protocol, 2 reserved bytes
        (4, _FAMILIES.get(frame[:4], b"")),  # BSD loopback
    ]
    for start, ethertype in candidates:
        if _is_ip(frame[start:], ethertype, complete):
            return start
    return None


def _is_ip(ip: bytes, ethertype: bytes | None, complete: bool) -> bool:
    if len(ip) < 20:
        return False
    version = ip[0] >> 4
    if ethertype is not None and ethertype != {4: _IPV4, 6: _IPV6}.get(version):
        return False
    if version == 4:
        # The header checksum makes a chance match negligible; the kernel always fills it in,
        # unlike the TCP checksum, which offloading leaves wrong in captures.
        size = (ip[0] & 0x0F) * 4
        total = int.from_bytes(ip[2:4], "big")
        return size >= 20 and len(ip) >= size and total >= size and _checksum(ip[:size]) == 0
    if version == 6 and len(ip) >= 40:
        if ethertype is not None:
            return True
        # No link layer to vouch for it and no header checksum: the length must fit exactly.
        fits = 40 + int.from_bytes(ip[4:6], "big") - len(ip)
        return fits == 0 or (fits > 0 and not complete)
    return False


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``; 0 when a header with its checksum is valid."""
    data += b"\0" * (len(data) % 2)
    # RFC 1071 §2(B): the sum does not depend on the byte order, so 16-bit words are summed
    # as the machine reads them.
    total = sum(memoryview(data).cast("H"))
    while total > 0xFFFF:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


_HOSTS: dict[bytes, str] = {}


def _host(address: bytes) -> str:
    """An IPv4 address as text, an IPv6 one in brackets; remembered, as captures repeat them."""
    host = _HOSTS.get(address)
    if host is None:
        if len(_HOSTS) > 4096:
            _HOSTS.clear()
        if len(address) == 4:
            host = str(ipaddress.IPv4Address(address))
        else:
            host = f"[{ipaddress.IPv6Address(address)}]"
        _HOSTS[address] = host
    return host


def parse_frame(frame: bytes) -> TcpSegment | Unusable:
    """Strip the link, IP and TCP headers of one captured frame."""
    start = network_start(frame)
    if start is None:
        return Unusable("no IPv4 or IPv6 header found", ip=False)
    ip = frame[start:]
    if ip[0] >> 4 == 4:
        header, total, protocol = (ip[0] & 0x0F) * 4, int.from_bytes(ip[2:4], "big"), ip[9]
        if int.from_bytes(ip[6:8], "big") & 0x3FFF:  # more-fragments flag or a fragment offset
            return Unusable("IPv4 fragment")
        hosts = (_host(ip[12:16]), _host(ip[16:20]))
    else:
        header, total, protocol = 40, 40 + int.from_bytes(ip[4:6], "big"), ip[6]
        if protocol in _IPV6_EXTENSIONS:
            return Unusable(f"IPv6 extension header {protocol} is not supported")
        hosts = (_host(ip[8:24]), _host(ip[24:40]))
    if total > len(ip):
        return Unusable(f"packet cut short: IP length {total}, {len(ip)} bytes captured", True)
    # Ethernet pads frames to 60 bytes and may keep its 4-byte checksum, and tcpdump -x shows
    # both (without the 14-byte header); nothing else may follow the IP packet.
    trailer, link = len(ip) - total, max(start, 14)
    padding = link + total < 60 and link + len(ip) <= 64
    if trailer and not (padding or (start and trailer == 4)):
        return Unusable(f"{trailer} bytes follow the IP packet", ip=False)
    if protocol != 6:
        return Unusable(f"not TCP (IP protocol {protocol})")
    tcp = ip[header:total]
    size = (tcp[12] >> 4) * 4 if len(tcp) >= 20 else 0
    if size < 20 or size > len(tcp):
        return Unusable("TCP header cut short")
    ports = int.from_bytes(tcp[0:2], "big"), int.from_bytes(tcp[2:4], "big")
    return TcpSegment(
        f"{hosts[0]}:{ports[0]}",
        f"{hosts[1]}:{ports[1]}",
        int.from_bytes(tcp[4:8], "big"),
        bool(tcp[13] & 0x02),
        tcp[size:],
    )
