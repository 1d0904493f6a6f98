"""Captured frames -> TCP segments: the link layer named by the capture's link type, IPv4/IPv6
(fragments reassembled) and the TCP header, parsed by dpkt.

Link types: Ethernet (802.1Q VLAN tags included), Linux cooked v1 and v2 (``tcpdump -i any``),
BSD NULL/loopback, raw IP, raw IPv4 and raw IPv6. dpkt is imported when a decoder is made.
"""

from __future__ import annotations

import socket
import struct
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

__all__ = ["LinkDecoder", "TcpPacket"]

TH_FIN, TH_SYN, TH_RST, TH_ACK = 0x01, 0x02, 0x04, 0x10
_TCP = struct.Struct("!HHIIBB")
_IPV4 = struct.Struct("!BxHxxHxB2x4s4s")  # version+IHL, total length, flags+offset, protocol
_IPV6 = struct.Struct("!4xH2x16s16s")  # payload length, addresses
# Where the IP header starts, by link type, when the link header says IPv4 or IPv6 (checked
# again from the version nibble: a frame of another protocol fails the checks that follow).
_IP_START = {1: 14, 113: 16, 276: 20, 0: 4, 108: 4, 12: 0, 14: 0, 101: 0, 228: 0, 229: 0}
_ETHERTYPE = {1: slice(12, 14), 113: slice(14, 16), 276: slice(0, 2)}
_IP_VERSIONS = {b"\x08\x00": 4, b"\x86\xdd": 6}
# BSD loopback: the address family in the host's byte order (AF_INET6 differs by system).
_FAMILIES = {
    family.to_bytes(4, order): version
    for family, version in ((2, 4), (10, 6), (24, 6), (28, 6), (30, 6))
    for order in ("little", "big")
}
_MAX_FRAGMENTED = 256  # datagrams being reassembled at once; the oldest is given up first


@dataclass(slots=True)  # not frozen: built once per packet, and frozen costs
class TcpPacket:
    """A TCP segment as captured.

    Attributes:
        time: capture time, nanoseconds since the epoch.
        number: the packet's number in the capture.
        source: ``"ip:port"`` of the sender (IPv6 in brackets).
        destination: ``"ip:port"`` of the receiver.
        seq: sequence number; ack: acknowledgment number (when ``flags`` has ACK).
        flags: the TCP flags byte.
        payload: the TCP payload.
    """

    time: int
    number: int
    source: str
    destination: str
    seq: int
    ack: int
    flags: int
    payload: bytes


class LinkDecoder:
    """Strips link, IP and TCP headers; keeps IP fragments until their datagram is whole."""

    def __init__(self) -> None:
        import dpkt

        self._dpkt = dpkt
        self._links: dict[int, Any] = {
            1: dpkt.ethernet.Ethernet,
            113: dpkt.sll.SLL,
            276: dpkt.sll2.SLL2,
            0: dpkt.loopback.Loopback,
            108: dpkt.loopback.Loopback,
        }
        self._fragments: OrderedDict[tuple[Any, ...], _Datagram] = OrderedDict()
        self._hosts: dict[bytes, str] = {}
        self._endpoints: dict[tuple[bytes, int], str] = {}
        self.notes: list[str] = []  # fragments given up, said once the capture ends

    def decode(self, linktype: int, frame: bytes, time: int, number: int) -> TcpPacket | str:
        """The TCP segment in one frame, or why there is none (a short reason)."""
        found = self._common(linktype, frame, time, number)
        return found if found is not None else self._decode(linktype, frame, time, number)

    def _common(self, linktype: int, frame: bytes, time: int, number: int) -> TcpPacket | None:
        """The common case read straight from the bytes: Ethernet (one VLAN tag), Linux
        cooked v1/v2, loopback or raw IP, then IPv4 without fragments or IPv6 without extension
        headers, then TCP. None for anything else, which dpkt reads (:meth:`_decode`)."""
        if linktype == 1:
            kind = frame[12:14]
            start = 14
            if kind == b"\x81\x00":  # an 802.1Q tag before the ethertype
                kind, start = frame[16:18], 18
            version = _IP_VERSIONS.get(kind)
        else:
            start = _IP_START.get(linktype, -1)
            if start < 0:
                return None
            kind_at = _ETHERTYPE.get(linktype)
            if kind_at is not None:
                version = _IP_VERSIONS.get(frame[kind_at])
            elif start == 4:
                version = _FAMILIES.get(frame[:4])
            else:
                version = frame[0] >> 4 if frame else None
        end = len(frame)
        if end - start < 40 or version is None or frame[start] >> 4 != version:
            return None
        # Offsets into the frame itself: no copy of the packet but its payload.
        if version == 4:
            vhl, total, fragment, protocol, src, dst = _IPV4.unpack_from(frame, start)
            header = (vhl & 0x0F) * 4
            if protocol != 6 or header < 20 or fragment & 0x3FFF:  # not TCP, or a fragment
                return None
            if total:  # 0: segmentation offload left it unset
                end = min(end, start + total)
            tcp = start + header
        elif frame[start + 6] == 6:
            size, src, dst = _IPV6.unpack_from(frame, start)
            if size:
                end = min(end, start + 40 + size)
            tcp = start + 40
        else:
            return None
        if end - tcp < 20:
            return None
        sport, dport, seq, ack, offset, flags = _TCP.unpack_from(frame, tcp)
        payload = tcp + (offset >> 4) * 4
        if offset >> 4 < 5 or payload > end:
            return None
        endpoints = self._endpoints
        source = endpoints.get((src, sport))
        if source is None:
            source = self._endpoint(src, sport)
        destination = endpoints.get((dst, dport))
        if destination is None:
            destination = self._endpoint(dst, dport)
        return TcpPacket(time, number, source, destination, seq, ack, flags, frame[payload:end])

    def _endpoint(self, address: bytes, port: int) -> str:
        """``"ip:port"``, remembered: captures repeat a few endpoints."""
        if len(self._endpoints) > 4096:
            self._endpoints.clear()
        text = self._endpoints[address, port] = f"{self._host(address)}:{port}"
        return text

    def _decode(self, linktype: int, frame: bytes, time: int, number: int) -> TcpPacket | str:
        dpkt = self._dpkt
        try:
            ip = self._network(linktype, frame)
            if isinstance(ip, str):
                return ip
            if isinstance(ip, dpkt.ip.IP):
                if ip.mf or ip.offset:
                    datagram = self._fragment(ip, (ip.src, ip.dst, ip.id, ip.p), ip.offset, ip.mf)
                    if datagram is None:
                        return "IP fragment (kept for reassembly)"
                    tcp = dpkt.tcp.TCP(datagram)
                elif ip.p != 6:
                    return f"not TCP (IP protocol {ip.p})"
                else:
                    tcp = ip.data
            else:
                header = ip.extension_hdrs.get(44)
                if header is not None:
                    key = (ip.src, ip.dst, header.id, ip.p)
                    datagram = self._fragment(ip, key, header.frag_off * 8, header.m_flag)
                    if datagram is None:
                        return "IPv6 fragment (kept for reassembly)"
                    tcp = dpkt.tcp.TCP(datagram)
                elif ip.p != 6:
                    return f"not TCP (IPv6 next header {ip.p})"
                else:
                    tcp = ip.data
            if not isinstance(tcp, dpkt.tcp.TCP):
                return "TCP header cut short"
        except (dpkt.UnpackError, IndexError, ValueError) as exc:
            return f"unreadable headers ({exc.__class__.__name__})"
        return TcpPacket(
            time,
            number,
            f"{self._host(ip.src)}:{tcp.sport}",
            f"{self._host(ip.dst)}:{tcp.dport}",
            tcp.seq,
            tcp.ack,
            tcp.flags,
            bytes(tcp.data),
        )

    def _network(self, linktype: int, frame: bytes) -> Any:
        dpkt = self._dpkt
        link = self._links.get(linktype)
        if link is not None:
            ip = link(frame).data
        elif linktype in (12, 14, 101, 228, 229):
            version = frame[0] >> 4 if frame else 0
            if version == 4:
                ip = dpkt.ip.IP(frame)
            elif version == 6:
                ip = dpkt.ip6.IP6(frame)
            else:
                return f"not IP (version {version})"
        else:
            return f"link type {linktype} is not read"
        if not isinstance(ip, dpkt.ip.IP | dpkt.ip6.IP6):
            return "not IP"
        return ip

    def _fragment(self, ip: Any, key: tuple[Any, ...], offset: int, more: int) -> bytes | None:
        """Add one fragment (RFC 791 §3.2, RFC 8200 §4.5); the whole payload once it is complete."""
        dpkt = self._dpkt
        if isinstance(ip, dpkt.ip.IP):
            offset *= 8
            data = ip.data if isinstance(ip.data, bytes) else bytes(ip.data)
        else:
            data = ip.data if isinstance(ip.data, bytes) else bytes(ip.data)
        datagram = self._fragments.get(key)
        if datagram is None:
            if len(self._fragments) >= _MAX_FRAGMENTED:
                _, oldest = self._fragments.popitem(last=False)
                self.notes.append(f"IP fragments of {oldest.have} bytes never completed")
            datagram = self._fragments[key] = _Datagram()
        whole = datagram.add(offset, data, bool(more))
        if whole is not None:
            del self._fragments[key]
        return whole

    def finish(self) -> list[str]:
        """What was left unfinished (IP datagrams missing fragments), once the capture ends."""
        for datagram in self._fragments.values():
            self.notes.append(f"IP fragments of {datagram.have} bytes never completed")
        self._fragments.clear()
        return self.notes

    def _host(self, address: bytes) -> str:
        host = self._hosts.get(address)
        if host is None:
            if len(self._hosts) > 4096:
                self._hosts.clear()
            if len(address) == 4:
                host = socket.inet_ntop(socket.AF_INET, address)
            else:
                host = f"[{socket.inet_ntop(socket.AF_INET6, address)}]"
            self._hosts[address] = host
        return host


class _Datagram:
    """The fragments of one IP datagram, by offset."""

    def __init__(self) -> None:
        self.parts: dict[int, bytes] = {}
        self.total: int | None = None

    @property
    def have(self) -> int:
        return sum(len(part) for part in self.parts.values())

    def add(self, offset: int, data: bytes, more: bool) -> bytes | None:
        self.parts.setdefault(offset, data)
        if not more:
            self.total = offset + len(data)
        if self.total is None:
            return None
        joined, position = [], 0
        for start in sorted(self.parts):
            part = self.parts[start]
            if start > position:
                return None  # a hole: wait for the fragment that fills it
            joined.append(part[position - start :])
            position = max(position, start + len(part))
        return b"".join(joined)[: self.total] if position >= self.total else None
