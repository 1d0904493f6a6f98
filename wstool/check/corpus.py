"""Documents for the compression cases: stand-ins for the Autobahn Testsuite's test data.

Autobahn's cases 12.x and 13.x send windows of five files it ships (a JSON
report, a 512x512 bitmap, Goethe's Faust from Project Gutenberg, an HTML
report, a PDF). wstool cannot ship those, so it makes documents of the same
kind, size and compressibility from a fixed seed: the same bytes on every run.
The JSON and HTML ones are ASCII, so that a window of them is valid UTF-8, as
Autobahn's text windows are.
"""

from __future__ import annotations

import json
import random
import struct
from functools import cache

__all__ = ["faust_text", "html_report", "json_report", "lena_bitmap", "pdf_paper"]

_VERDICTS = ("OK", "OK", "OK", "OK", "NON-STRICT", "INFORMATIONAL", "FAILED")
_WORDS = (
    "der",
    "die",
    "das",
    "und",
    "ich",
    "nicht",
    "zu",
    "sie",
    "ist",
    "mit",
    "sich",
    "dem",
    "ein",
    "es",
    "auf",
    "so",
    "den",
    "mir",
    "was",
    "wie",
    "Faust",
    "Mephistopheles",
    "Gretchen",
    "Wagner",
    "Geist",
    "Himmel",
    "Erde",
    "Welt",
    "Nacht",
    "Herz",
    "Seele",
    "Gott",
    "Teufel",
    "Leben",
    "Liebe",
    "Zeit",
    "Wort",
    "Tat",
    "Sinn",
    "Kraft",
    "Natur",
    "Wissen",
    "Schule",
    "Buch",
    "Feuer",
    "Wasser",
    "habe",
    "nun",
    "ach",
    "Philosophie",
    "Juristerei",
    "Medizin",
    "leider",
    "auch",
    "Theologie",
    "durchaus",
    "studiert",
    "mit",
    "heissem",
    "Bemuehn",
    "da",
    "steh",
    "ich",
    "nun",
    "armer",
    "Tor",
    "bin",
    "so",
    "klug",
    "als",
    "wie",
    "zuvor",
)


def _fit(data: bytes, size: int) -> bytes:
    return (data * (size // len(data) + 1))[:size]


@cache
def json_report() -> bytes:
    """194056 bytes of JSON shaped like an Autobahn ``index.json`` (Autobahn's data1.json)."""
    rng = random.Random(12_1)
    index: dict[str, dict[str, dict[str, object]]] = {}
    for agent in ("AutobahnPython/0.6.0", "wstool/check", "Echo/1.0", "Agent/2.3"):
        cases = index.setdefault(agent, {})
        for case in range(1, 300):
            case_id = f"{case // 100 + 1}.{case // 10 % 10 + 1}.{case % 10 + 1}"
            name = agent.lower().replace("/", "_").replace(".", "_")
            cases[case_id] = {
                "behavior": rng.choice(_VERDICTS),
                "behaviorClose": rng.choice(_VERDICTS[:4]),
                "duration": rng.randrange(1, 3000),
                "remoteCloseCode": rng.choice((1000, 1002, 1007, None)),
                "reportfile": f"{name}_case_{case_id.replace('.', '_')}.json",
            }
    return _fit(json.dumps(index, indent=3).encode("ascii"), 194056)


@cache
def lena_bitmap() -> bytes:
    """263222 bytes: a 512x512 8-bit grey BMP of smooth shapes and noise (Autobahn's lena512)."""
    rng = random.Random(12_2)
    width = height = 512
    palette = b"".join(bytes((g, g, g, 0)) for g in range(256))
    offset = 14 + 40 + len(palette)
    header = b"BM" + struct.pack("<IHHI", offset + width * height, 0, 0, offset)
    info = struct.pack(
        "<IiiHHIIiiII", 40, width, height, 1, 8, 0, width * height, 2835, 2835, 256, 0
    )
    noise = rng.randbytes(width * height)
    pixels = bytearray(width * height)
    for y in range(height):
        row = y * width
        for x in range(width):
            shade = (x * 3 + y * 2 + (x * y >> 9)) & 0xFF
            pixels[row + x] = (shade + (noise[row + x] & 0x07)) & 0xFF
    return header + info + palette + bytes(pixels)


@cache
def faust_text() -> bytes:
    """222218 bytes of German-looking verse in UTF-8 (Autobahn's Gutenberg Faust), sent binary."""
    rng = random.Random(12_3)
    lines, size = [], 0
    while size < 222218:
        words = [rng.choice(_WORDS) for _ in range(rng.randrange(4, 10))]
        line = " ".join(words).capitalize() + rng.choice((",", ".", "!", "?", ";", ""))
        lines.append(("  " if rng.random() < 0.2 else "") + line.replace("ue", "ü") + "\r\n")
        size += len(lines[-1])
    return "".join(lines).encode()[:222218]


@cache
def html_report() -> bytes:
    """263527 bytes of HTML shaped like an Autobahn report page (Autobahn's data1.html)."""
    rng = random.Random(12_4)
    head = (
        '<!DOCTYPE html>\n<html>\n   <head>\n      <meta charset="utf-8" />\n'
        '      <style lang="css">\nbody {\n   background-color: #F4F4F4;\n   color: #333;\n'
        '}\n      </style>\n   </head>\n   <body>\n      <table id="agent_case_results">\n'
    )
    rows: list[str] = []
    size = len(head)
    while size < 263527:
        verdict = rng.choice(_VERDICTS)
        case_id = f"{rng.randrange(1, 14)}.{rng.randrange(1, 20)}.{rng.randrange(1, 30)}"
        rows.append(
            f'         <tr><td class="case_id">Case {case_id}</td>'
            f'<td class="case_{verdict.lower()}"><a href="agent_case_{case_id.replace(".", "_")}'
            f'.html">{verdict}</a><br/><span class="case_duration">{rng.randrange(1, 999)} ms'
            f"</span></td></tr>\n"
        )
        size += len(rows[-1])
    return (head + "".join(rows)).encode("ascii")[:263527]


@cache
def pdf_paper() -> bytes:
    """1042328 bytes shaped like a PDF: text objects between deflated streams (Autobahn's PDF)."""
    rng = random.Random(12_5)
    parts = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"]
    size, number = len(parts[0]), 1
    while size < 1042328:
        stream = rng.randbytes(rng.randrange(2000, 12000))
        text = (
            f"{number} 0 obj\n<< /Length {len(stream)} /Filter /FlateDecode >>\nstream\n"
        ).encode()
        tail = b"\nendstream\nendobj\n" + b"0000000000 65535 f \n" * rng.randrange(20, 120)
        parts += [text, stream, tail]
        size += len(text) + len(stream) + len(tail)
        number += 1
    return b"".join(parts)[:1042328]
