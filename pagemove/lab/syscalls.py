"""The system calls the lab makes (ctypes), and the reservation every one of them stays inside.

Safety: every map, move and unmap the lab makes lies inside its own reservation, in the windows it
unmapped itself; everything it mapped is unmapped again on any error.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys

from .scenarios import ENGINE_BASE, PAGE, Layout

MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_NORESERVE, MAP_FIXED_NOREPLACE = 0x02, 0x10, 0x20, 0x4000, 0x100000
PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
MADV_HUGEPAGE, MADV_NOHUGEPAGE, MADV_POPULATE_WRITE = 14, 15, 23
MREMAP_MAYMOVE, MREMAP_FIXED = 1, 2
MAP_FAILED = ctypes.c_void_p(-1).value


def unsupported_reason() -> str:
    """Why the lab cannot measure on this machine, or "" if it can."""
    if not sys.platform.startswith("linux"):
        return f"the lab measures Linux's mremap(); this is {sys.platform}"
    if platform.machine() not in ("x86_64", "AMD64"):
        return f"the lab's layouts assume x86-64 page tables (4 KiB pages, 2 MiB PMDs); this is {platform.machine()}"
    if os.sysconf("SC_PAGE_SIZE") != PAGE:
        return f"page size is {os.sysconf('SC_PAGE_SIZE')}, not 4 KiB"
    if not hasattr(ctypes.CDLL(None), "mremap"):
        return "the C library has no mremap()"
    return ""


def is_root() -> bool:
    return hasattr(os, "geteuid") and os.geteuid() == 0


class Libc:
    """mmap, munmap, mremap and madvise through ctypes; every failure is an OSError with errno."""

    def __init__(self):
        libc = ctypes.CDLL(None, use_errno=True)
        vp, sz, i = ctypes.c_void_p, ctypes.c_size_t, ctypes.c_int
        self._mmap = self._fn(libc.mmap, vp, [vp, sz, i, i, i, ctypes.c_long])
        self._munmap = self._fn(libc.munmap, i, [vp, sz])
        self._madvise = self._fn(libc.madvise, i, [vp, sz, i])
        self.mremap_raw = self._fn(libc.mremap, vp, [vp, sz, sz, i, vp])  # the timed call: no wrapper

    @staticmethod
    def _fn(f, restype, argtypes):
        f.restype, f.argtypes = restype, argtypes
        return f

    @staticmethod
    def _fail(call: str, addr: int) -> OSError:
        e = ctypes.get_errno()
        return OSError(e, f"{call} at {addr:#x}: {os.strerror(e)}")

    def mmap(self, addr: int, length: int, prot: int, flags: int) -> int:
        got = self._mmap(addr, length, prot, MAP_PRIVATE | MAP_ANONYMOUS | flags, -1, 0)
        if got in (None, MAP_FAILED):
            raise self._fail("mmap", addr)
        if addr and flags & (MAP_FIXED | MAP_FIXED_NOREPLACE) and got != addr:  # old kernels: only a hint
            self._munmap(got, length)
            raise OSError(0, f"mmap at {addr:#x}: MAP_FIXED_NOREPLACE not honoured (got {got:#x})")
        return got

    def munmap(self, addr: int, length: int) -> None:
        if self._munmap(addr, length):
            raise self._fail("munmap", addr)

    def madvise(self, addr: int, length: int, advice: int) -> None:
        if self._madvise(addr, length, advice):
            raise self._fail("madvise", addr)


def words(addr: int, length: int):
    """The memory [addr, addr+length) as a (pages, 512) numpy array of 64-bit words (no copy)."""
    import numpy as np
    buf = (ctypes.c_uint64 * (length // 8)).from_address(addr)
    return np.ctypeslib.as_array(buf).reshape(length // PAGE, PAGE // 8)


def pattern(seed: int, pages: int):
    """One 64-bit word per page, different for every page and every repetition."""
    import numpy as np
    return (np.uint64(seed) << np.uint64(32)) + np.arange(pages, dtype=np.uint64)


def maps() -> list[tuple[int, int]]:
    """[start, end) of every mapping of this process."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = line.split(" ", 1)[0].split("-")
            out.append((int(lo, 16), int(hi, 16)))
    return out


def mapped_in(lo: int, hi: int, found=None) -> list[tuple[int, int]]:
    """The mappings of this process (or of `found`) that overlap [lo, hi)."""
    return [(a, b) for a, b in (found if found is not None else maps()) if a < hi and b > lo]


class Reservation:
    """The lab's own address space: reserve, cut the windows, and always give everything back."""

    CANDIDATES = [ENGINE_BASE + i * 0x10000000000 for i in range(8)]  # 16 TiB up, far below mmap_base

    def __init__(self, scs):
        self.sys = Libc()
        self.scs = scs
        self.layout: Layout | None = None
        self.mine: set[tuple[int, int]] = set()  # (start, length) the lab mapped in its holes
        self._remnants: list[tuple[int, int]] = []

    def __enter__(self) -> Reservation:
        window = Layout.for_scenarios(self.scs).window
        size = Layout(0, window).size
        for base in self.CANDIDATES:
            try:
                self.sys.mmap(base, size, PROT_NONE, MAP_NORESERVE | MAP_FIXED_NOREPLACE)
            except OSError:
                continue
            self.layout = Layout(base, window)
            break
        else:
            raise OSError(0, "could not reserve address space at any of the lab's fixed addresses")
        self._remnants = [(self.layout.base, size)]
        try:
            for lo, hi in self.layout.holes():
                self.sys.munmap(lo, hi - lo)
            self._remnants = [(lo, hi - lo) for lo, hi in self.layout.remnants()]
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def __exit__(self, *exc) -> None:
        for start, length in sorted(self.mine) + self._remnants:
            try:
                self.sys.munmap(start, length)
            except OSError:
                pass
        self.mine.clear()
        self._remnants = []

    def _in_hole(self, addr: int, length: int) -> None:
        """Refuse to touch anything outside the windows the lab cut for itself."""
        if not any(lo <= addr and addr + length <= hi for lo, hi in self.layout.holes()):
            raise RuntimeError(f"refusing to touch [{addr:#x}, {addr + length:#x}): outside the lab's reservation")

    def map(self, addr: int, length: int, prot: int) -> None:
        self._in_hole(addr, length)
        flags = MAP_FIXED_NOREPLACE | (MAP_NORESERVE if prot == PROT_NONE else 0)
        self.sys.mmap(addr, length, prot, flags)
        self.mine.add((addr, length))

    def unmap(self, addr: int, length: int) -> None:
        self._in_hole(addr, length)
        self.sys.munmap(addr, length)
        self.mine.discard((addr, length))

    def check_windows_empty(self) -> None:
        """Stop if anything (another thread's mmap, say) landed in a window: MREMAP_FIXED would destroy it."""
        found = maps()
        for lo, hi in self.layout.holes():
            inside = mapped_in(lo, hi, found)
            if inside:
                raise RuntimeError(f"a mapping the lab did not make appeared in its window: "
                                   f"[{inside[0][0]:#x}, {inside[0][1]:#x}); stopping without touching it")

    def settle(self) -> None:
        """mmap+munmap one unrelated page (real-kernel.md 8.1: absorbs a cost the next VMA change would pay)."""
        self.map(self.layout.settle, PAGE, PROT_READ | PROT_WRITE)
        self.unmap(self.layout.settle, PAGE)

    def populate(self, addr: int, length: int) -> None:
        """MADV_POPULATE_WRITE (5.14+), or touch every page."""
        self._in_hole(addr, length)
        try:
            self.sys.madvise(addr, length, MADV_POPULATE_WRITE)
        except OSError:
            words(addr, length)[:, 0] = 1


def fifo(on: bool) -> None:
    """SCHED_FIFO (on) or back to SCHED_OTHER for this thread: no ordinary task can preempt the timed call."""
    if on:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(1))
    else:
        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))


def realtime_available() -> bool:
    """Can this thread switch to SCHED_FIFO (root with CAP_SYS_NICE, Linux)?"""
    if not hasattr(os, "sched_setscheduler"):
        return False
    try:
        fifo(True)
    except OSError:
        return False
    fifo(False)
    return True


def pin_cpu():
    """Pin this thread to the last CPU it may use; return the old mask (to restore) and the CPU."""
    if not hasattr(os, "sched_setaffinity"):
        return None, None
    old = os.sched_getaffinity(0)
    cpu = max(old)
    os.sched_setaffinity(0, {cpu})
    return old, cpu
