"""The guest's serial console: framed result lines, and the kernel's WARNINGs with their call traces.

The guest program prints each result as one line

    @@pagemove:<nonce> <crc32 of the JSON, 8 hex digits> <JSON object>

The nonce is new for every boot (it reaches the guest on the kernel command line), and the CRC-32 covers the
JSON, so a kernel message can neither pass for a frame nor, spliced into one by printk, be read as part of
it: a damaged frame fails its checksum and is counted, not parsed.
"""

from __future__ import annotations

import json
import re
import zlib
from dataclasses import dataclass, field

PREFIX = "@@pagemove:"
_FRAME = re.compile(r"@@pagemove:(\w+) ([0-9a-f]{8}) (\{.*\})\s*$")
_WARNING = re.compile(r"(WARNING: CPU: \d+ PID: \d+ at \S+ .*?)\s*$")
_TRACE_START = re.compile(r"Call [Tt]race:")
_TRACE_FUNC = re.compile(r"^\s*(\?\s+)?([A-Za-z_][\w.]*)\+0x[0-9a-f]+/0x[0-9a-f]+")
_END = re.compile(r"---\[ end trace")
_TIMESTAMP = re.compile(r"^\[\s*\d+\.\d+\]\s?")


def frame(nonce: str, obj: dict) -> str:
    """A frame line as the guest prints it (the inverse of parse_frames; used by tests)."""
    text = json.dumps(obj, separators=(",", ":"))
    return f"{PREFIX}{nonce} {zlib.crc32(text.encode()):08x} {text}"


def _lines(text: str) -> list[str]:
    return [_TIMESTAMP.sub("", line.rstrip("\r")) for line in text.replace("\r\n", "\n").split("\n")]


def parse_frames(text: str, nonce: str | None = None) -> list[dict]:
    """The frames in a console text, in order (only this `nonce`'s, if given); damaged ones are left out."""
    out = []
    for line in _lines(text):
        m = _FRAME.search(line)
        if not m or (nonce is not None and m.group(1) != nonce):
            continue
        if zlib.crc32(m.group(3).encode()) != int(m.group(2), 16):
            continue
        try:
            out.append(json.loads(m.group(3)))
        except ValueError:
            continue
    return out


def damaged_frames(text: str) -> int:
    """How many lines start a frame that does not parse or fails its checksum."""
    return sum(PREFIX in line for line in _lines(text)) - len(parse_frames(text))


@dataclass
class KernelWarning:
    """One WARNING the kernel printed: its line and the call trace's function names, innermost first."""

    line: str
    call_trace: list[str] = field(default_factory=list)

    @property
    def where(self) -> str:
        """The source position, e.g. "mm/mremap.c:269"."""
        m = re.search(r" at (\S+)", self.line)
        return m.group(1) if m else ""


def kernel_warnings(text: str) -> list[KernelWarning]:
    """Every WARNING in a console text, in order, each with the reliable call-trace entries ("? " ones
    are left out) up to the end of its report."""
    out, current, in_trace = [], None, False
    for line in _lines(text):
        m = _WARNING.search(line)
        if m:
            current, in_trace = KernelWarning(m.group(1)), False
            out.append(current)
            continue
        if current is None:
            continue
        if _END.search(line):
            current, in_trace = None, False
        elif _TRACE_START.search(line):
            in_trace = True
        elif in_trace:
            f = _TRACE_FUNC.match(line)
            if f and not f.group(1):
                current.call_trace.append(f.group(2))
    return out
