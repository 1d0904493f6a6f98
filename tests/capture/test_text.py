"""Tests of :mod:`wstool.capture.text`: offset dumps (xxd, hexdump -C, od ...) back into bytes."""

from __future__ import annotations

import contextlib
import re
import struct

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from capture.dumps import (
    CLIENT_FRAMES,
    EXCHANGE,
    REQUEST,
    SAMPLES,
    SERVER_FRAMES,
    TEXTS,
    TOOL_COMMANDS,
    TRAPS,
    checksum,
    expected_streams,
    ip_packet,
    link,
    render_escapes,
    render_plain,
    render_tcpdump,
    render_wireshark,
    render_xxd,
    tcp_segment,
    tool,
)
from wstool.capture import (
    DumpError,
    Segment,
    detect_format,
    read_base64,
    read_dump,
)
from wstool.capture import text as text_module


class TestRealTools:
    """Output of xxd, hexdump -C and od, made here, reads back to exactly the input."""

    @pytest.mark.parametrize("command", TOOL_COMMANDS, ids=" ".join)
    @pytest.mark.parametrize("name", list(TRAPS))
    def test_round_trip(self, command: tuple[str, ...], name: str) -> None:
        """Offsets, ASCII columns and '*' lines are layout, never data."""
        dump = tool(*command)(TRAPS[name])
        assert read_dump(dump).data == TRAPS[name]

    @pytest.mark.parametrize(
        ("command", "name"),
        [
            (("xxd",), "xxd"),
            (("xxd", "-d"), "xxd -d"),
            (("hexdump", "-C"), "hexdump -C"),
            (("od", "-A", "x", "-t", "x1z"), "od -A x -t x1z"),
            (("od", "-A", "d", "-t", "x1z"), "od -A d -t x1z"),
            (("od", "-t", "x1"), "od -t x1"),
            (("xxd", "-p"), "plain hex"),
            (("xxd", "-i"), "0x list"),
        ],
    )
    def test_format_name(self, command: tuple[str, ...], name: str) -> None:
        """The detected format names the tool and the flags that matter."""
        dump = tool(*command)(TRAPS["every byte"])
        assert detect_format(dump) == name
        assert read_dump(dump).format == name

    @settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(data=st.binary(min_size=1, max_size=200), which=st.sampled_from(TOOL_COMMANDS[:13]))
    def test_arbitrary_bytes(self, data: bytes, which: tuple[str, ...]) -> None:
        """Any bytes, dumped by a real tool, read back to the same bytes."""
        assert read_dump(tool(*which)(data)).data == data

    @pytest.mark.parametrize("command", [("xxd", "-e"), ("xxd", "-b"), ("hexdump",), ("od", "-x")])
    def test_ambiguous_variants_are_refused(self, command: tuple[str, ...]) -> None:
        """Dumps whose byte order or base we would misread are refused, not guessed."""
        with pytest.raises(DumpError, match=r"not supported|byte order"):
            read_dump(tool(*command)(TRAPS["hex-looking text"]))

    @pytest.mark.parametrize("command", [("xxd",), ("hexdump", "-C")])
    def test_empty_file(self, command: tuple[str, ...]) -> None:
        """A dump of nothing is an error, not an empty message.

        (od prints "000000" for nothing, which is also plain hex for three zero bytes.)
        """
        with pytest.raises(DumpError):
            read_dump(tool(*command)(b""))


class TestSamples:
    """Static samples made once with the real tools, so these tests need none of them."""

    @pytest.mark.parametrize(
        ("file", "name"),
        [
            ("traps.xxd.txt", "xxd"),
            ("traps.xxd-g1-c8-u.txt", "xxd"),
            ("traps.xxd-a.txt", "xxd"),
            ("traps.hexdump-C.txt", "hexdump -C"),
            ("traps.od-Ax-tx1z.txt", "od -A x -t x1z"),
            ("traps.od-Ad-tx1z.txt", "od -A d -t x1z"),
            ("traps.od-tx1.txt", "od -t x1"),
        ],
    )
    def test_tool_output(self, file: str, name: str) -> None:
        """Each sample reads back to traps.bin and names its format."""
        dump = read_dump((SAMPLES / file).read_text())
        assert dump.format == name
        assert dump.data == (SAMPLES / "traps.bin").read_bytes()
        assert dump.streams() == [(None, None, dump.data)]

    @pytest.mark.parametrize(
        ("file", "name", "client", "server"),
        [
            ("websocket.tcpdump-X.txt", "tcpdump -X", "127.0.0.1", "127.0.0.1"),
            ("websocket.tcpdump-xx-any.txt", "tcpdump -xx", "10.0.0.5", "10.0.0.1"),
            ("websocket.tcpdump-XX-ipv6.txt", "tcpdump -XX", "2001:db8::5", "2001:db8::1"),
        ],
    )
    def test_tcpdump(self, file: str, name: str, client: str, server: str) -> None:
        """Two directions become two streams with their endpoints and no header bytes."""
        dump = read_dump((SAMPLES / file).read_text())
        assert dump.format == name
        assert dump.streams() == expected_streams(client, server)
        assert len(dump.notes) == 1
        assert re.fullmatch(r"line \d+: retransmission of 7 bytes dropped", dump.notes[0])

    @pytest.mark.parametrize(
        "file",
        [
            "websocket.tcpdump-X.txt",
            "websocket.tcpdump-xx-any.txt",
            "websocket.tcpdump-XX-ipv6.txt",
        ],
    )
    def test_tcpdump_samples_are_faithful(self, file: str) -> None:
        """The hand-made samples carry valid IPv4 and TCP checksums, as a capture would."""
        text = (SAMPLES / file).read_text()
        frames = [
            bytes.fromhex(
                "".join(re.findall(r"^\t0x[0-9a-f]{4}: ((?: [0-9a-f]{2,4})+)", block, re.M))
            )
            for block in re.split(r"\n(?=\S)", text)
            if "\t0x0000:" in block
        ]
        assert len(frames) == len(EXCHANGE)
        for frame in frames:
            start = {0x45: 0, 0x60: 0}.get(
                frame[0], 14 if frame[12:14] in (b"\x08\x00", b"\x86\xdd") else 20
            )
            packet = frame[start:]
            if packet[0] >> 4 == 4:
                assert checksum(packet[:20]) == 0
                pseudo = packet[12:20] + struct.pack("!BBH", 0, 6, len(packet) - 20)
                assert checksum(pseudo + packet[20:]) == 0
            else:
                pseudo = packet[8:40] + struct.pack("!IxxxB", len(packet) - 40, 6)
                assert checksum(pseudo + packet[40:]) == 0

    def test_wireshark_frame(self) -> None:
        """A Wireshark dump of a whole Ethernet frame gives the TCP payload and endpoints."""
        dump = read_dump((SAMPLES / "websocket.wireshark-hex-ascii.txt").read_text())
        assert dump.format == "Wireshark hex + ASCII dump"
        assert dump.segments == (
            Segment(SERVER_FRAMES[0] + SERVER_FRAMES[1], "127.0.0.1:8080", "127.0.0.1:54321"),
        )

    def test_wireshark_payload(self) -> None:
        """A Wireshark dump of just the WebSocket bytes is taken as it is."""
        dump = read_dump((SAMPLES / "websocket.wireshark-hex.txt").read_text())
        assert dump.format == "Wireshark hex dump without packet headers (the bytes as one stream)"
        assert dump.data == REQUEST[:40] + CLIENT_FRAMES[0]
        assert dump.streams() == [(None, None, dump.data)]


class TestWireshark:
    """Wireshark's copies: frames are stripped only when they really are TCP/IP."""

    def frame(self) -> bytes:
        segment = tcp_segment(
            "192.168.1.2", "192.168.1.9", (443, 50000), 99, 1, "P.", b"\x82\x03abc"
        )
        return bytes.fromhex("0242c0a80109 0242c0a80102 0800") + ip_packet(
            "192.168.1.2", "192.168.1.9", segment
        )

    @pytest.mark.parametrize("ascii_column", [True, False])
    def test_whole_frame(self, ascii_column: bool) -> None:
        """A valid Ethernet/IPv4/TCP frame gives its payload and endpoints."""
        dump = read_dump(render_wireshark(self.frame(), ascii_column))
        assert dump.segments == (Segment(b"\x82\x03abc", "192.168.1.2:443", "192.168.1.9:50000"),)

    def test_bad_checksum_kept_as_is(self) -> None:
        """Bytes that only look like a frame (IP checksum wrong) are not stripped."""
        frame = bytearray(self.frame())
        frame[14 + 10] ^= 0xFF
        dump = read_dump(render_wireshark(bytes(frame), True))
        assert dump.data == bytes(frame)
        assert dump.segments[0].source is None

    def test_length_mismatch_kept_as_is(self) -> None:
        """A frame longer than its IP total length (and not Ethernet padding) is not stripped."""
        frame = self.frame() + b"trailing junk"
        assert read_dump(render_wireshark(frame, False)).data == frame

    def test_ethernet_padding(self) -> None:
        """Ethernet pads short frames to 60 bytes; the padding is not payload."""
        segment = tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 7, 1, "P.", b"")[:20]
        segment = segment[:12] + b"\x50" + segment[13:]
        packet = ip_packet("10.0.0.1", "10.0.0.2", segment + b"\x88\x00")
        frame = bytes(12) + b"\x08\x00" + packet
        frame += bytes(60 - len(frame))
        dump = read_dump(render_wireshark(frame, True))
        assert dump.data == b"\x88\x00"

    def test_two_frames(self) -> None:
        """Several copies pasted together restart at offset 0000: one segment each."""
        text = render_wireshark(self.frame(), True) + "\n" + render_wireshark(self.frame(), True)
        dump = read_dump(text)
        assert dump.data == b"\x82\x03abc"
        assert len(dump.notes) == 1

    def test_older_layout(self) -> None:
        """Older Wireshark versions put an extra space after the eighth byte."""
        text = (
            "0000  81 05 48 65 6c 6c 6f 81  05 48 65 6c 6c 6f 81 05   ..Hello. .Hello..\n"
            "0010  48 65   He\n"
        )
        assert read_dump(text).data == b"\x81\x05Hello" * 2 + b"\x81\x05He"


class TestErrors:
    """Unreadable input is one DumpError line that says where and what."""

    @pytest.mark.parametrize(
        ("text", "message"),
        [
            ("", "empty input: no dump to read"),
            ("  \n\n", "empty input: no dump to read"),
            ("81 05\n48 65\n81 zz\n", "line 3: 'zz' is not hex"),
            ("81 5", "line 1: '5' has an odd number of hex digits"),
            ("81 05 4", "line 1: '4' has an odd number of hex digits"),
            ("SGVsbG8gd29ybGQ=", "line 1: 'SGVsbG8gd29ybGQ=' is not hex (for base64 use --base64)"),
            ("# nothing\n", "no hex data found"),
            (
                "00000000: 6361 6665  cafe\n00000020: 6361  ca\n",
                "line 2: offset 00000020 breaks the sequence",
            ),
            ("00000000: 6361 zz65  ca.e\n", "line 1: 'zz65' is not hex"),
            (
                "00000000  61 61 61 61 61 61 61 61  61 61 61 61 61 61 61 61  |aaaaaaaaaaaaaaaa|\n"
                "*\n",
                "line 2: '*' at the end, with no offset to repeat up to",
            ),
            ("00000000  61 62  |ab|\n00000003\n", "line 2: final offset 00000003 does not match"),
            ("\\x81\\q", "line 1: unknown escape '\\\\q'"),
            ("\\x8", "line 1: unknown escape '\\\\x'"),
            ("b'\\x81' junk", "line 1: 'junk' is junk"),
            ("b'\\x81", 'line 1: "b\'\\\\x81" is an unterminated bytes literal'),
            ("b'caf\u00e9'", "line 1: invalid bytes literal: bytes can only contain ASCII"),
            ("0x81, 0x100", "line 1: 0x100 is not a byte"),
            ("0x81, 12, 0x05", "line 1: '12' is not 0x hex"),
            ("0000000 6163 6566 3120\n0000006\n", "line 1: 16-bit words"),
        ],
    )
    def test_message(self, text: str, message: str) -> None:
        """The message names the line and the fault."""
        with pytest.raises(DumpError) as caught:
            read_dump(text)
        assert str(caught.value).startswith(message)
        assert "\n" not in str(caught.value)

    def test_is_value_error(self) -> None:
        """DumpError is a ValueError, so callers may catch either."""
        assert issubclass(DumpError, ValueError)


class TestProperties:
    """Round trips for any bytes; DumpError for anything unreadable."""

    @given(data=st.binary(min_size=1), spacing=st.lists(st.integers(0, 2), min_size=1, max_size=5))
    def test_plain_hex(self, data: bytes, spacing: list[int]) -> None:
        """Plain hex in any spacing and case reads back."""
        assert read_dump(render_plain(data, spacing)).data == data

    @given(data=st.binary(min_size=1), columns=st.integers(1, 40), group=st.integers(1, 8))
    @example(data=b"cafe 1234 abcd e" * 3, columns=16, group=2)
    def test_xxd_style(self, data: bytes, columns: int, group: int) -> None:
        """xxd-style dumps of any shape read back, even with hex in the ASCII column."""
        assert read_dump(render_xxd(data, columns, group)).data == data

    @given(data=st.binary(min_size=1, max_size=300))
    def test_fast_and_careful_paths_agree(self, data: bytes) -> None:
        """A blank line sends a dump down the line-by-line path, with the same result."""
        lines = render_xxd(data).splitlines(keepends=True)
        assert read_dump("\n".join(lines)).data == data

    @given(data=st.binary(min_size=1))
    def test_escapes(self, data: bytes) -> None:
        """Python-style escapes, and the literal itself, read back."""
        escaped = render_escapes(data)
        # Without a backslash it is not recognisably escapes; quotes around it read as quoting.
        if "\\" in escaped and escaped.strip() == escaped and escaped[:1] not in "'\"":
            assert read_dump(escaped).data == data
        assert read_dump(repr(data)).data == data

    @given(data=st.binary(min_size=1), separator=st.sampled_from([", ", ",", " ", ",\n  "]))
    def test_hex_list(self, data: bytes, separator: str) -> None:
        """0x lists, bare or in braces, read back."""
        items = separator.join(f"0x{b:02x}" for b in data)
        assert read_dump(items).data == data
        assert read_dump(f"{{{items}}}").data == data

    @given(
        data=st.binary(min_size=1, max_size=200),
        kind=st.sampled_from(["raw", "ethernet", "sll", "sll2"]),
    )
    def test_tcpdump_payload(self, data: bytes, kind: str) -> None:
        """Any payload comes out of a tcpdump packet exactly."""
        packet = ip_packet(
            "10.0.0.1",
            "10.0.0.2",
            tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 5, 1, "P.", data),
        )
        assert read_dump(render_tcpdump(link(kind, packet), True)).data == data

    @settings(max_examples=300)
    @given(text=TEXTS)
    def test_garbage(self, text: str) -> None:
        """Any text either reads or raises DumpError with a one-line message."""
        try:
            dump = read_dump(text)
        except DumpError as error:
            assert "\n" not in str(error)
        else:
            assert dump.data
            assert detect_format(text) == dump.format

    @given(text=TEXTS, position=st.integers(0, 10_000), char=st.characters())
    def test_mutated_dump(self, text: str, position: int, char: str) -> None:
        """A dump with one character changed reads or raises DumpError, nothing else."""
        dump = render_xxd(text.encode())
        if dump:
            position %= len(dump)
            dump = dump[:position] + char + dump[position + 1 :]
        for reader in (read_dump, read_base64):
            with contextlib.suppress(DumpError):
                reader(dump)


class TestOffsets:
    """Offsets are checked, not skipped: they catch lost lines and expand '*'."""

    def test_bad_line_far_down(self) -> None:
        """A garbled line deep in a large dump is reported with its own line number."""
        lines = render_xxd(bytes(range(256)) * 40).splitlines()
        lines[499] = lines[499][:14] + "zz" + lines[499][16:]
        with pytest.raises(DumpError, match=r"^line 500: '\w*zz\w*' is not hex$"):
            read_dump("\n".join(lines))

    def test_missing_line(self) -> None:
        """A dropped line shows as an offset out of sequence."""
        lines = render_xxd(bytes(100)).splitlines()
        del lines[2]
        with pytest.raises(DumpError, match=r"^line 3: offset 00000030 breaks the sequence"):
            read_dump("\n".join(lines))

    def test_star_gap_not_whole_lines(self) -> None:
        """'*' must stand for whole repeated lines."""
        text = (
            "00000000  00 00 00 00 00 00 00 00  00 00 00 00 00 00 00 00  |................|\n"
            "*\n00000018\n"
        )
        with pytest.raises(DumpError, match=r"^line 2: '\*' cannot be expanded"):
            read_dump(text)

    def test_start_offset(self) -> None:
        """A dump may start elsewhere than 0 (xxd -o, hexdump -s)."""
        text = "00000100: 8105 4865 6c6c 6f  ..Hello\n"
        assert read_dump(text).data == b"\x81\x05Hello"

    def test_concatenated_dumps(self) -> None:
        """Dumps pasted one after another (offsets back at 0) become one segment each."""
        dump = read_dump(render_xxd(b"\x81\x05Hello") + render_xxd(b"\x81\x02Hi"))
        assert [s.data for s in dump.segments] == [b"\x81\x05Hello", b"\x81\x02Hi"]

    def test_plain_hex_starting_with_zeros(self) -> None:
        """Plain hex that happens to start like an od line is still plain hex."""
        assert read_dump("000000 00 00\n00 00 01\n").data == bytes(7) + b"\x01"
        assert read_dump("000000 41 42").data == bytes(3) + b"AB"

    def test_head_of_a_long_line(self) -> None:
        """One huge line of hex is detected from its start and read whole."""
        data = bytes(range(256)) * 1000
        assert read_dump(data.hex()).data == data


class TestDetection:
    """Detection reads the first lines only, wherever they start."""

    def test_many_blank_lines_first(self) -> None:
        """Blank lines before the dump neither hide it nor shift the line numbers."""
        assert read_dump("\n" * 100_000 + "81 05").data == b"\x81\x05"
        with pytest.raises(DumpError, match=r"^line 100001: 'zz' is not hex"):
            read_dump("\n" * 100_000 + "81 zz")

    def test_line_numbers_in_detection_errors(self) -> None:
        """Errors raised while detecting count blank lines too."""
        text = "\n\n" + tool("xxd", "-e")(TRAPS["hex-looking text"])
        with pytest.raises(DumpError, match=r"^line 3: xxd -e"):
            read_dump(text)

    def test_huge_tcpdump_line(self) -> None:
        """A hex line longer than the detection window is still read as tcpdump output."""
        packet = ip_packet(
            "10.0.0.1",
            "10.0.0.2",
            tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 7, 1, "P.", b"x" * 40_000),
        )
        line = "\t0x0000:  " + " ".join(packet[i : i + 2].hex() for i in range(0, len(packet), 2))
        assert read_dump(line).data == b"x" * 40_000


class TestTshark:
    """Real ``tshark -x`` output (TShark 4.0.17) of the pcap files the tcpdump samples print.

    tshark names each data source of a packet that has several: the frame, then what its
    dissectors derived (reassembled TCP, unmasked or inflated payloads). Only the frames count.
    """

    @pytest.mark.parametrize("capture", ["two-connections", "split"])
    def test_same_streams_as_tcpdump(self, capture: str) -> None:
        """tshark and tcpdump print the same capture: the same streams come out."""
        tshark = read_dump((SAMPLES / f"{capture}.tshark-x.txt").read_text())
        tcpdump = read_dump((SAMPLES / f"{capture}.tcpdump-X.txt").read_text())
        assert tshark.format == "tshark -x"
        assert tshark.streams() == tcpdump.streams()
        assert len(tshark.streams()) in (2, 4)

    def test_derived_sources_skipped(self) -> None:
        """'Reassembled TCP' and 'Unmasked data' repeat the frames' bytes: they are left out."""
        text = (SAMPLES / "split.tshark-x.txt").read_text()
        assert "Reassembled TCP (153 bytes):" in text
        client = read_dump(text).streams()[0][2]
        assert client.startswith(b"GET /split HTTP/1.1\r\n")
        assert client.count(b"GET /split") == 1
        assert client.endswith(bytes.fromhex("8882 37fa213d 3412"))  # the masked close

    def test_labelled_copy_of_bytes(self) -> None:
        """A data source of bytes without packet headers is read as the stream itself."""
        text = "Frame (7 bytes):\n0000  81 05 48 65 6c 6c 6f                              ..Hello\n"
        dump = read_dump(text)
        assert dump.format == "tshark -x without packet headers (the bytes as one stream)"
        assert dump.data == b"\x81\x05Hello"


class TestColonHex:
    """Colon-separated hex, as packet analyzers print byte fields."""

    @given(data=st.binary(min_size=2), width=st.integers(2, 40))
    def test_round_trip(self, data: bytes, width: int) -> None:
        """Any bytes, any line width, read back."""
        lines = [data[i : i + width].hex(":") for i in range(0, len(data), width)]
        dump = read_dump("\n".join(lines))
        assert dump.format == "colon-separated hex"
        assert dump.data == data

    def test_bad_byte(self) -> None:
        """A byte that is not hex is named with its line."""
        with pytest.raises(DumpError, match=r"^line 2: 'zz' is not hex"):
            read_dump("81:85:37:fa\n21:zz:7f")


class TestFastPaths:
    """The whole-text readers give the same blocks as the line-by-line one, or step aside."""

    @settings(max_examples=60, suppress_health_check=[HealthCheck.too_slow])
    @given(
        payloads=st.lists(st.binary(min_size=1, max_size=200), min_size=1, max_size=5),
        ascii_column=st.booleans(),
    )
    def test_tcpdump_and_tshark(self, payloads: list[bytes], ascii_column: bool) -> None:
        """Packets of any size read the same both ways, as tcpdump and as tshark prints them."""
        frames = [
            ip_packet(
                "10.0.0.1",
                "10.0.0.2",
                tcp_segment("10.0.0.1", "10.0.0.2", (80, 9000), 7 + i, 1, "P.", payload),
            )
            for i, payload in enumerate(payloads)
        ]
        tcpdump = "".join(
            f"12:00:00.{i:06d} IP a > b\n" + render_tcpdump(f, ascii_column) + "\n"
            for i, f in enumerate(frames)
        )
        tshark = "\n".join(render_wireshark(f, True) for f in frames)
        for text, rows, full, layout in (
            (tcpdump, text_module._TCPDUMP_ROWS, 39, text_module._TCPDUMP),
            (tshark, text_module._WIRESHARK_ROWS, 47, text_module._WIRESHARK),
        ):
            fast = text_module._read_blocks(text, rows, full)
            assert fast is not None
            assert fast == text_module._read_lines(text, layout, 16)
            assert [data for _, data in fast] == frames

    @pytest.mark.parametrize("capture", ["two-connections", "split"])
    def test_real_samples(self, capture: str) -> None:
        """Real tcpdump and tshark output takes the fast path, with the same result."""
        for suffix, rows, full, layout in (
            ("tcpdump-X", text_module._TCPDUMP_ROWS, 39, text_module._TCPDUMP),
            ("tshark-x", text_module._WIRESHARK_ROWS, 47, text_module._WIRESHARK),
        ):
            text = (SAMPLES / f"{capture}.{suffix}.txt").read_text()
            fast = text_module._read_blocks(text, rows, full)
            assert fast is not None
            assert fast == text_module._read_lines(text, layout, 16)

    @given(
        data=st.binary(min_size=17, max_size=200),
        line=st.integers(0, 20),
        garble=st.sampled_from(["zz", "1", "0001  "]),
    )
    def test_garbled_line_steps_aside(self, data: bytes, line: int, garble: str) -> None:
        """A damaged data line anywhere sends the dump to the careful reader, never drops bytes."""
        lines = render_tcpdump(data, True).split("\n")
        number = line % len(lines)
        lines[number] = lines[number].replace(" ", f" {garble}", 2)
        text = "12:00:00.000001 IP a > b\n" + "\n".join(lines)
        fast = text_module._read_blocks(text, text_module._TCPDUMP_ROWS, 39)
        assert fast is None or fast == [(2, data)]

    @pytest.mark.parametrize(
        "command",
        [("xxd",), ("hexdump", "-C"), ("od", "-A", "x", "-t", "x1z", "-v")],
        ids=" ".join,
    )
    def test_offset_dumps(self, command: tuple[str, ...]) -> None:
        """Whole-line patterns of xxd, hexdump -C and od read the tools' output exactly."""
        data = bytes(range(256)) * 40 + b"cafe 1234 abcd" + bytes(7)
        text = tool(*command)(data)
        layout = {"xxd": text_module._XXD, "hexdump": text_module._HEXDUMP}.get(
            command[0], text_module._OD
        )
        assert text_module._read_fast(text, layout, 16) == data
        assert read_dump(text).data == data
