"""What the lab can see of the kernel from userspace: page frames (pagemap), page-table pages (VmPTE),
huge pages (smaps AnonHugePages), and the tlb:tlb_flush tracepoint (tracefs).

The parsers take text, so they are tested on any machine; the readers need Linux (and some, root).
"""

from __future__ import annotations

import os
import re
import threading

from .scenarios import PAGE
from .syscalls import is_root, unsupported_reason

# ---- pagemap: the physical frame behind each virtual page (root only) ------------------------------------


class Pagemap:
    """PFNs from /proc/self/pagemap (only root sees them; others read zeros)."""

    def __init__(self):
        self.fd = os.open("/proc/self/pagemap", os.O_RDONLY) if is_root() else None

    def pfns(self, addr: int, length: int):
        import numpy as np
        raw = os.pread(self.fd, 8 * (length // PAGE), 8 * (addr // PAGE))
        entries = np.frombuffer(raw, dtype=np.uint64)
        present = (entries >> np.uint64(63)) & np.uint64(1)
        return np.where(present == 1, entries & np.uint64((1 << 55) - 1), np.uint64(0))

    def close(self):
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None


# ---- /proc/self/status VmPTE: the page-table pages of this process ---------------------------------------

_VMPTE = re.compile(rb"^VmPTE:\s+(\d+) kB$", re.M)


def parse_vmpte_kb(status: bytes | str) -> int:
    """The VmPTE value (kB) in the text of /proc/PID/status."""
    raw = status.encode() if isinstance(status, str) else status
    m = _VMPTE.search(raw)
    if m is None:
        raise ValueError("no 'VmPTE: N kB' line in this status text")
    return int(m.group(1))


class PageTablePages:
    """Reads VmPTE twice around a call without allocating anything in between: one fd and two
    preallocated buffers filled by preadv at offset 0; parse them afterwards with pages()."""

    def __init__(self):
        self.fd = os.open("/proc/self/status", os.O_RDONLY)
        self.bufs = (bytearray(8192), bytearray(8192))
        self.lens = [0, 0]

    def read(self, slot: int) -> None:
        """Snapshot the status text into buffer `slot` (0 = before, 1 = after)."""
        self.lens[slot] = os.preadv(self.fd, [self.bufs[slot]], 0)

    def pages(self, slot: int) -> int:
        """VmPTE of snapshot `slot`, in 4 KiB page-table pages."""
        return parse_vmpte_kb(bytes(self.bufs[slot][:self.lens[slot]])) * 1024 // PAGE

    def delta(self) -> int:
        """Page-table pages created minus freed between snapshot 0 and snapshot 1."""
        return self.pages(1) - self.pages(0)

    def close(self):
        os.close(self.fd)


# ---- smaps AnonHugePages: were the pages really huge? ------------------------------------------------------

_HEADER = re.compile(r"^([0-9a-f]+)-([0-9a-f]+) ")


def anon_huge_kb(smaps: str, lo: int, hi: int) -> int:
    """Sum of AnonHugePages (kB) over the VMAs of an smaps text that overlap [lo, hi)."""
    total, inside = 0, False
    for line in smaps.splitlines():
        m = _HEADER.match(line)
        if m:
            inside = int(m.group(1), 16) < hi and int(m.group(2), 16) > lo
        elif inside and line.startswith("AnonHugePages:"):
            total += int(line.split()[1])
    return total


def read_anon_huge_kb(lo: int, hi: int) -> int:
    """AnonHugePages of this process's VMAs overlapping [lo, hi), from /proc/self/smaps."""
    with open("/proc/self/smaps") as f:
        return anon_huge_kb(f.read(), lo, hi)


THP_ENABLED = "/sys/kernel/mm/transparent_hugepage/enabled"


def thp_mode(text: str) -> str:
    """The selected mode in a transparent_hugepage/enabled text: 'always [madvise] never' -> 'madvise'."""
    m = re.search(r"\[(\w+)\]", text)
    return m.group(1) if m else ""


def thp_unavailable_reason() -> str:
    """Why MADV_HUGEPAGE gives no huge pages here, or ""."""
    try:
        with open(THP_ENABLED) as f:
            mode = thp_mode(f.read())
    except OSError:
        return "this kernel has no transparent huge pages (no sysfs transparent_hugepage)"
    return "" if mode in ("always", "madvise") else f"transparent huge pages are '{mode}' here"


# ---- tracefs: the tlb:tlb_flush tracepoint ---------------------------------------------------------------------

TRACEFS = "/sys/kernel/tracing"
_FLUSH = re.compile(r"tlb_flush: pages:(-?\d+) reason:.*\((\d+)\)\s*$")
_MARK = re.compile(r"tracing_mark_write: pagemove-lab (begin|end) (\d+)")
LOCAL_MM_SHOOTDOWN = 3  # the reason flush_tlb_mm_range() reports for this CPU's own flush


def trace_unavailable_reason() -> str:
    """Why trace mode cannot run here, or ""."""
    if unsupported_reason():
        return unsupported_reason()
    if not is_root():
        return "trace mode needs root (tracefs)"
    if not os.path.isdir(TRACEFS):
        return f"{TRACEFS} does not exist (no tracefs in this kernel?)"
    return ""


def lines_between_marks(text: str, tag: int) -> list[str]:
    """The lines of a trace text between the begin and end markers for `tag` (the lab writes them)."""
    lines, inside = [], False
    for line in text.splitlines():
        m = _MARK.search(line)
        if m and int(m.group(2)) == tag:
            inside = m.group(1) == "begin"
        elif inside:
            lines.append(line)
    return lines


def flushes_between_marks(text: str, tag: int) -> list[int]:
    """The `pages` of every local flush between the begin and end markers for `tag` in a trace text."""
    return [int(f.group(1)) for line in lines_between_marks(text, tag)
            if (f := _FLUSH.search(line)) and int(f.group(2)) == LOCAL_MM_SHOOTDOWN]


class Tracer:
    """tlb:tlb_flush for this thread only, in a tracefs instance of its own (removed on exit)."""

    def __init__(self):
        self.mounted = False
        self.dir = None
        self.marker = None

    def __enter__(self) -> Tracer:
        try:
            if not os.path.exists(os.path.join(TRACEFS, "instances")):
                if os.system(f"mount -t tracefs nodev {TRACEFS} 2>/dev/null") != 0:
                    raise OSError(0, f"cannot mount tracefs on {TRACEFS}")
                self.mounted = True
            self.dir = os.path.join(TRACEFS, "instances", f"pagemove-lab-{os.getpid()}")
            os.mkdir(self.dir)
            self._write("set_event_pid", str(threading.get_native_id()))
            self._write("events/tlb/tlb_flush/enable", "1")
            self._write("tracing_on", "1")
            self.marker = os.open(os.path.join(self.dir, "trace_marker"), os.O_WRONLY)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        if self.marker is not None:
            os.close(self.marker)
            self.marker = None
        if self.dir and os.path.isdir(self.dir):
            for path, value in (("tracing_on", "0"), ("events/tlb/tlb_flush/enable", "0"), ("trace", "")):
                try:
                    self._write(path, value)
                except OSError:
                    pass
            try:
                os.rmdir(self.dir)
            except OSError:
                pass
        self.dir = None
        if self.mounted:
            os.system(f"umount {TRACEFS} 2>/dev/null")
            self.mounted = False

    def _write(self, path: str, value: str) -> None:
        with open(os.path.join(self.dir, path), "w") as f:
            f.write(value)

    def begin(self, tag: int) -> None:
        os.write(self.marker, f"pagemove-lab begin {tag}\n".encode())

    def end(self, tag: int) -> None:
        os.write(self.marker, f"pagemove-lab end {tag}\n".encode())

    def collect(self, tag: int) -> list[int]:
        """The `pages` of every local flush between the markers for `tag`; then clear the buffer."""
        with open(os.path.join(self.dir, "trace")) as f:
            text = f.read()
        self._write("trace", "")
        return flushes_between_marks(text, tag)


def flush_ceiling() -> int:
    """x86's tlb_single_page_flush_ceiling (debugfs), else its default 33."""
    try:
        with open("/sys/kernel/debug/x86/tlb_single_page_flush_ceiling") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 33
