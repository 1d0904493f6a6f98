"""Tests of :mod:`wstool.capture.pcap`: capture files told apart by their magic numbers."""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from capture.dumps import SAMPLES, exchange_packets, link, pcap
from wstool.capture import describe_binary


def pcap_header(order: str, magic: int, major: int = 2) -> bytes:
    """A libpcap file header (pcap-savefile(5)) in byte order ``order`` ("<" or ">")."""
    return struct.pack(f"{order}IHHiIII", magic, major, 4, 0, 0, 262144, 1)


def pcapng_header(order: str) -> bytes:
    """A pcapng Section Header Block with no options, in byte order ``order``."""
    return struct.pack(f"{order}IIIHHqI", 0x0A0D0D0A, 28, 0x1A2B3C4D, 1, 0, -1, 28)


class TestDescribeBinary:
    """pcap (both byte orders, microsecond and nanosecond) and pcapng are named; nothing else."""

    @pytest.mark.parametrize(
        ("header", "description"),
        [
            (pcap_header("<", 0xA1B2C3D4), "a pcap capture (libpcap format, little-endian)"),
            (pcap_header(">", 0xA1B2C3D4), "a pcap capture (libpcap format, big-endian)"),
            (
                pcap_header("<", 0xA1B23C4D),
                "a pcap capture (libpcap format, little-endian, nanosecond timestamps)",
            ),
            (
                pcap_header(">", 0xA1B23C4D),
                "a pcap capture (libpcap format, big-endian, nanosecond timestamps)",
            ),
            (pcapng_header("<"), "a pcapng capture (little-endian)"),
            (pcapng_header(">"), "a pcapng capture (big-endian)"),
        ],
    )
    def test_headers(self, header: bytes, description: str) -> None:
        """Each header is named with its byte order and timestamp unit."""
        assert describe_binary(header + b"\0" * 40) == description

    def test_written_by_this_tests_helper(self) -> None:
        """A whole pcap file of the sample exchange is recognised."""
        frames = [link("ethernet", p, c) for c, _, p, _, _ in exchange_packets("::1", "::1")]
        assert describe_binary(pcap(frames, 1)) == "a pcap capture (libpcap format, little-endian)"

    def test_real_tools(self, tmp_path: Path) -> None:
        """Files written by tcpdump and tshark themselves."""
        if shutil.which("tcpdump") is None or shutil.which("tshark") is None:
            pytest.skip("tcpdump and tshark are needed")
        frames = [link("ethernet", p, c) for c, _, p, _, _ in exchange_packets("::1", "::1")]
        source = tmp_path / "in.pcap"
        source.write_bytes(pcap(frames, 1))
        nano, ng = tmp_path / "nano.pcap", tmp_path / "out.pcapng"
        for command in (
            ["tcpdump", "-r", str(source), "--time-stamp-precision=nano", "-w", str(nano)],
            ["tshark", "-r", str(source), "-F", "pcapng", "-w", str(ng)],
        ):
            subprocess.run(command, capture_output=True, check=True, timeout=60)
        assert describe_binary(nano.read_bytes()) == (
            "a pcap capture (libpcap format, little-endian, nanosecond timestamps)"
        )
        assert describe_binary(ng.read_bytes()) == "a pcapng capture (little-endian)"

    def test_not_captures(self) -> None:
        """Frames, dumps, a wrong version and short input are not captures."""
        assert describe_binary(bytes.fromhex("818537fa213d7f9f4d5158")) is None
        assert describe_binary((SAMPLES / "traps.bin").read_bytes()) is None
        assert describe_binary(pcap_header("<", 0xA1B2C3D4, major=9)) is None
        assert describe_binary(b"\xd4\xc3\xb2\xa1") is None
        assert describe_binary(b"") is None

    @given(st.binary(max_size=64))
    def test_only_magic_numbers_count(self, data: bytes) -> None:
        """Bytes that do not start with a capture file's magic number are never a capture."""
        magic = {
            bytes.fromhex(m)
            for m in ("a1b2c3d4", "d4c3b2a1", "a1b23c4d", "4d3cb2a1", "a1b2cd34", "34cdb2a1")
        }
        if data[:4] not in magic | {b"\x0a\x0d\x0d\x0a"}:
            assert describe_binary(data) is None
