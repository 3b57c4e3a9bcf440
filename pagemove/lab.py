"""The real-kernel lab: time mremap() on this Linux and hold the engine's predictions to it.

For each scenario the lab builds the same layout twice: for real, inside an address-space
reservation of its own (ctypes: mmap, madvise, mremap, munmap), and in the engine. It then
  * times the real mremap(old, len, len, MREMAP_MAYMOVE|MREMAP_FIXED, new) over many interleaved
    repetitions, checking after every move that the data came along and (as root) that the
    physical frames did not change: the pages were moved, not copied;
  * fits a small cost model on the measured medians and infers from the timings whether the kernel
    realigned, to compare with the engine's answer;
  * as root with tracefs, records the tlb:tlb_flush tracepoint during one move of each scenario and
    compares it, event by event, with the engine's predicted flushes.

Kernel sources to read alongside (mm/mremap.c):
  v6.6  https://elixir.bootlin.com/linux/v6.6/source/mm/mremap.c   (no realignment)
  v6.7  https://elixir.bootlin.com/linux/v6.7/source/mm/mremap.c   (try_realign_addr, can_align_down)
  x86 flush + tracepoint: https://elixir.bootlin.com/linux/v6.7/source/arch/x86/mm/tlb.c
Method and reference numbers: docs real-kernel.md (a 2-vCPU 6.18 VM).

Safety: every map, move and unmap the lab makes lies inside its own reservation, in the windows it
unmapped itself; everything it mapped is unmapped again on any error.
"""

from __future__ import annotations

import ctypes
import gc
import json
import os
import platform
import re
import sys
import threading
import time
from dataclasses import asdict, dataclass, field

from .geometry import Geometry
from .kernel import NEWEST, Kernel
from .mm import AddressSpace
from .trace import PTE

PAGE, PMD, PUD = 0x1000, 0x200000, 0x40000000
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
SIZES = {"2M": PMD + PAGE, "64M": 64 * MiB, "1G": GiB}  # the size classes; "2M" is 2 MiB + 4 KiB
DEFAULT_REPS = {"2M": 201, "guard": 201, "64M": 101, "1G": 31}
QUICK_REPS = {"2M": 51, "guard": 51, "64M": 11, "1G": 5}
SLACK = 4 * MiB  # each window starts this far below its anchor, so the PMD below any old/new is empty
PMD_AT = 4 * MiB  # "PMD-aligned" scenarios sit here: PMD-aligned, deliberately not PUD-aligned
ENGINE_BASE = 0x200000000000  # where the lab reserves (and the engine models) its address space
GUARD_OFFSETS = (0x100000, 0x1e0000)
C_OFFSETS = (0x1000, 0x100000, 0x1ff000)

MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS, MAP_NORESERVE, MAP_FIXED_NOREPLACE = 0x02, 0x10, 0x20, 0x4000, 0x100000
PROT_NONE, PROT_READ, PROT_WRITE = 0, 1, 2
MADV_NOHUGEPAGE, MADV_POPULATE_WRITE = 15, 23
MREMAP_MAYMOVE, MREMAP_FIXED = 1, 2
MAP_FAILED = ctypes.c_void_p(-1).value


# ---- scenarios and the layout they share with the engine ---------------------------------------------

@dataclass(frozen=True)
class Scenario:
    """One mremap to time: offsets of old/new from the source/destination anchors, and what blocks."""

    name: str
    group: str  # "2M", "64M", "1G" (size classes) or "guard"
    case: str  # a, b, c, d, p (real-kernel.md's A-D, P); guard-c, guard-d, guard-a
    old: int  # offset of old from the source anchor
    new: int  # offset of new from the destination anchor
    length: int
    blocker: str = ""  # "": none; "old"/"new": a 1-page PROT_READ VMA at old/new & PMD_MASK;
    #                    "sub": the source VMA starts a page below old; "resv": PROT_NONE [old & PMD_MASK, old)
    twin: str = ""  # the scenario that differs only by a blocker, for the timing inference

    @property
    def small(self) -> bool:
        """2 MiB-class: the first partial PMD is a large part of the work, so realignment shows in timings."""
        return self.length <= 4 * MiB


def _size_label(n: int) -> str:
    if n % GiB == 0:
        return f"{n // GiB}G"
    if n % MiB == 0:
        return f"{n // MiB}M"
    if n > MiB and n % MiB == PAGE:
        return f"{n // MiB}M+4K"
    return f"{n // KiB}K"


def size_scenarios(size: str) -> list[Scenario]:
    """Cases (a), (b), (c) at three offsets, (c) blocked by blockers, and (1 GiB only) a PUD move."""
    n, label = SIZES[size], _size_label(SIZES[size])
    at = PMD_AT
    out = [Scenario(f"a aligned {label}", size, "a", at, at, n),
           Scenario(f"b 0x1000->0x3000 {label}", size, "b", at + 0x1000, at + 0x3000, n)]
    for off in C_OFFSETS:
        out.append(Scenario(f"c {off:#x} {label}", size, "c", at + off, at + off, n,
                            twin=f"d {off:#x} blkold {label}"))
        out.append(Scenario(f"d {off:#x} blkold {label}", size, "d", at + off, at + off, n, "old",
                            twin=f"c {off:#x} {label}"))
    for blocker in ("new", "sub"):
        out.append(Scenario(f"d 0x1000 blk{blocker} {label}", size, "d", at + 0x1000, at + 0x1000, n, blocker,
                            twin=f"c 0x1000 {label}"))
    if size == "2M":  # a PROT_NONE "reservation" below old blocks too (real-kernel.md 5.3)
        out.append(Scenario(f"d 0x1ff000 blkresv {label}", size, "d", at + 0x1ff000, at + 0x1ff000, n, "resv",
                            twin=f"c 0x1ff000 {label}"))
    if size == "1G":  # old and new 1 GiB-aligned: one PUD entry moves
        out.append(Scenario(f"p pud-aligned {label}", size, "p", 0, 0, n))
    return out


def guard_scenarios(offsets=GUARD_OFFSETS) -> list[Scenario]:
    """The length guard: len one page below, at and above PMD_SIZE - offset; free, blocked and aligned."""
    out = []
    for off in offsets:
        guard = PMD - off
        for where, n in (("below", guard - PAGE), ("at", guard), ("above", guard + PAGE)):
            tag = f"guard {off:#x} {where} ({n // KiB}K)"
            out.append(Scenario(f"{tag} free", "guard", "guard-c", PMD_AT + off, PMD_AT + off, n,
                                twin=f"{tag} blkold"))
            out.append(Scenario(f"{tag} blkold", "guard", "guard-d", PMD_AT + off, PMD_AT + off, n, "old",
                                twin=f"{tag} free"))
            out.append(Scenario(f"{tag} aligned", "guard", "guard-a", PMD_AT, PMD_AT, n))
    return out


def scenarios(sizes=("2M",), guard: bool = True) -> list[Scenario]:
    """The scenarios for the chosen size classes (in SIZES order), plus the guard set."""
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        raise ValueError(f"unknown size class {bad[0]!r}: choose from {list(SIZES)}")
    out = [sc for s in SIZES if s in sizes for sc in size_scenarios(s)]
    return out + (guard_scenarios() if guard else [])


@dataclass(frozen=True)
class Layout:
    """The reservation [base, base+size): a source window, a destination window and a settle page are
    holes in it; the rest stays a PROT_NONE guard (and, being a VMA, is modelled in the engine too)."""

    base: int  # PUD-aligned
    window: int  # bytes above each anchor, a multiple of PUD_SIZE

    @classmethod
    def for_scenarios(cls, scs, base: int = ENGINE_BASE) -> Layout:
        reach = max(max(s.old, s.new) + s.length for s in scs)
        return cls(base, -(-reach // PUD) * PUD)

    @property
    def size(self) -> int:
        return 3 * PUD + 2 * self.window

    @property
    def src_anchor(self) -> int:
        return self.base + PUD

    @property
    def dst_anchor(self) -> int:
        return self.base + 2 * PUD + self.window

    @property
    def settle(self) -> int:
        return self.base + PUD // 2

    def holes(self) -> list[tuple[int, int]]:
        """[start, end) ranges the lab unmaps from its reservation and works in."""
        return [(self.settle, self.settle + PAGE), (self.src_anchor - SLACK, self.src_anchor + self.window),
                (self.dst_anchor - SLACK, self.dst_anchor + self.window)]

    def remnants(self) -> list[tuple[int, int]]:
        """[start, end) pieces of the reservation that stay mapped PROT_NONE."""
        out, at = [], self.base
        for lo, hi in self.holes():
            out.append((at, lo))
            at = hi
        return out + [(at, self.base + self.size)]

    def old(self, sc: Scenario) -> int:
        return self.src_anchor + sc.old

    def new(self, sc: Scenario) -> int:
        return self.dst_anchor + sc.new

    def source_vma(self, sc: Scenario) -> tuple[int, int]:
        """(start, length) of the VMA that holds old: a page longer, below old, for "sub"."""
        extra = PAGE if sc.blocker == "sub" else 0
        return self.old(sc) - extra, sc.length + extra

    def blockers(self, sc: Scenario) -> list[tuple[int, int, str]]:
        """(start, length, prot) of the blocking VMAs the scenario maps (never populated)."""
        old, new = self.old(sc), self.new(sc)
        if sc.blocker == "old":
            return [(old & ~(PMD - 1), PAGE, "r")]
        if sc.blocker == "new":
            return [(new & ~(PMD - 1), PAGE, "r")]
        if sc.blocker == "resv":
            return [(old & ~(PMD - 1), old - (old & ~(PMD - 1)), "none")]
        return []


# ---- the engine's prediction --------------------------------------------------------------------------

@dataclass
class Prediction:
    """What the engine says one scenario does."""

    realigned: bool
    realign_check: str
    realign_possible: bool  # would realigning be allowed without the "nothing mapped below" checks?
    pud_moves: int
    pmd_moves: int
    pte_moves: int
    pte_extents: int  # move_ptes() calls
    refusals: int
    flush_pages: list[int]  # tlb_flush_pages(): the tracepoint's `pages`, in order
    tail_expected: bool  # unmapping the old range frees a page table, so one more flush follows

    def features(self) -> list[float]:
        """The cost model's regressors: intercept, PTEs, PTE extents, PMD moves, PUD moves."""
        return [1.0, self.pte_moves, self.pte_extents, self.pmd_moves, self.pud_moves]


def engine_space(layout: Layout, sc: Scenario) -> AddressSpace:
    """The scenario's address space in the engine, reservation remnants included."""
    mm = AddressSpace(Geometry.x86_64())
    for lo, hi in layout.remnants():
        mm.mmap(lo, hi - lo, prot="none", name="reservation")
    start, length = layout.source_vma(sc)
    mm.mmap(start, length, populate=True, name="source")
    for b_start, b_len, prot in layout.blockers(sc):
        mm.mmap(b_start, b_len, prot=prot, name="blocker")
    return mm


def predict(sc: Scenario, layout: Layout | None = None, kernel: str = NEWEST, ceiling: int = 33) -> Prediction:
    """The engine's counts, realignment and TLB flushes for one scenario."""
    layout = layout or Layout.for_scenarios([sc])
    old, new = layout.old(sc), layout.new(sc)
    r = engine_space(layout, sc).mremap(old, sc.length, sc.length, new_addr=new, kernel=kernel)
    if Kernel.parse(kernel).realigns:
        unchecked = engine_space(layout, sc).mremap(old, sc.length, sc.length, new_addr=new, kernel=kernel,
                                                     unchecked_expansion=True)
        possible = unchecked.realigned
    else:
        possible = False
    return Prediction(r.realigned, r.realign_check, possible, r.pud_moves, r.pmd_moves, r.pte_moves,
                      sum(e.level == PTE for e in r.events), r.refusals, r.tlb_flush_pages(ceiling),
                      r.tables_freed > 0)


def predictions(scs, kernel: str = NEWEST) -> dict[str, Prediction]:
    """predict() for every scenario, in one shared layout (deterministic: no system calls)."""
    layout = Layout.for_scenarios(scs)
    return {sc.name: predict(sc, layout, kernel) for sc in scs}


def rle(seq) -> str:
    """[-1, -1, -1, 2, -1, 2, -1, 2] -> '[-1x3 (2 -1)x3 2]': a flush sequence short enough to read."""
    seq, out, i = list(seq), [], 0
    while i < len(seq):
        best = (1, 1)  # (period, repeats)
        for p in (1, 2):
            k = 1
            while seq[i + k * p:i + (k + 1) * p] == seq[i:i + p] and len(seq[i:i + p]) == p:
                k += 1
            if k > 1 and k * p > best[0] * best[1]:
                best = (p, k)
        p, k = best
        unit = " ".join(map(str, seq[i:i + p]))
        out.append(unit if k == 1 else (f"{unit}x{k}" if p == 1 else f"({unit})x{k}"))
        i += p * k
    return "[" + " ".join(out) + "]"


def format_predictions(scs, kernel: str = NEWEST) -> str:
    """A deterministic table of what the engine predicts for each scenario."""
    preds = predictions(scs, kernel)
    rows = [f"{'scenario':<38} {'realign':<7} {'PUD':>3} {'PMD':>4} {'PTE':>6} {'ext':>4}  flushes"]
    for sc in scs:
        p = preds[sc.name]
        rows.append(f"{sc.name:<38} {'yes' if p.realigned else 'no':<7} {p.pud_moves:>3} {p.pmd_moves:>4} "
                    f"{p.pte_moves:>6} {p.pte_extents:>4}  {rle(p.flush_pages)}")
    return "\n".join(rows)


# ---- can we measure here? -----------------------------------------------------------------------------

def kernel_release() -> str:
    """MAJOR.MINOR of the running kernel if the engine knows it, else the engine's newest."""
    m = re.match(r"(\d+)\.(\d+)", platform.release())
    if m:
        try:
            return str(Kernel.parse(f"{m.group(1)}.{m.group(2)}"))
        except ValueError:
            pass
    return NEWEST


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


# ---- system calls --------------------------------------------------------------------------------------

class _Libc:
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


def _words(addr: int, length: int):
    """The memory [addr, addr+length) as a (pages, 512) numpy array of 64-bit words (no copy)."""
    import numpy as np
    buf = (ctypes.c_uint64 * (length // 8)).from_address(addr)
    return np.ctypeslib.as_array(buf).reshape(length // PAGE, PAGE // 8)


def _pattern(seed: int, pages: int):
    import numpy as np
    return (np.uint64(seed) << np.uint64(32)) + np.arange(pages, dtype=np.uint64)


def _maps() -> list[tuple[int, int]]:
    """[start, end) of every mapping of this process."""
    out = []
    with open("/proc/self/maps") as f:
        for line in f:
            lo, hi = line.split(" ", 1)[0].split("-")
            out.append((int(lo, 16), int(hi, 16)))
    return out


def _mapped_in(lo: int, hi: int, maps=None) -> list[tuple[int, int]]:
    return [(a, b) for a, b in (maps if maps is not None else _maps()) if a < hi and b > lo]


class Reservation:
    """The lab's own address space: reserve, cut the windows, and always give everything back."""

    CANDIDATES = [ENGINE_BASE + i * 0x10000000000 for i in range(8)]  # 16 TiB up, far below mmap_base

    def __init__(self, scs):
        self.sys = _Libc()
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
        maps = _maps()
        for lo, hi in self.layout.holes():
            found = _mapped_in(lo, hi, maps)
            if found:
                raise RuntimeError(f"a mapping the lab did not make appeared in its window: "
                                   f"[{found[0][0]:#x}, {found[0][1]:#x}); stopping without touching it")

    def settle(self) -> None:
        """mmap+munmap one unrelated page (real-kernel.md 8.1: absorbs a cost the next VMA change would pay)."""
        self.map(self.layout.settle, PAGE, PROT_READ | PROT_WRITE)
        self.unmap(self.layout.settle, PAGE)


# ---- one repetition -----------------------------------------------------------------------------------

@dataclass
class Run:
    """One timed move and what the checks found."""

    ns: int
    data_ok: bool
    pfn_ok: bool | None  # None: not root, PFNs are hidden
    old_gone: bool
    flushes: list[int] | None = None  # tlb_flush pages, when traced


class _Pagemap:
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


def _populate(res: Reservation, addr: int, length: int) -> None:
    """MADV_POPULATE_WRITE (5.14+), or touch every page."""
    try:
        res.sys.madvise(addr, length, MADV_POPULATE_WRITE)
    except OSError:
        _words(addr, length)[:, 0] = 1


def _fifo(on: bool) -> None:
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
        _fifo(True)
    except OSError:
        return False
    _fifo(False)
    return True


def run_once(res: Reservation, sc: Scenario, seed: int, pagemap: _Pagemap, tracer=None, rt: bool = False) -> Run:
    """Map, populate, fill, block, settle, time the mremap, verify; unmap all of it again."""
    lay, sys_ = res.layout, res.sys
    old, new, n = lay.old(sc), lay.new(sc), sc.length
    src, src_len = lay.source_vma(sc)
    pages = n // PAGE
    made = [(src, src_len)]
    res.map(src, src_len, PROT_READ | PROT_WRITE)
    try:
        sys_.madvise(src, src_len, MADV_NOHUGEPAGE)
        _populate(res, src, src_len)
        words, pat = _words(old, n), _pattern(seed, pages)
        words[:, 0], words[:, -1] = pat, ~pat
        del words
        for b_start, b_len, prot in lay.blockers(sc):
            res.map(b_start, b_len, PROT_READ if prot == "r" else PROT_NONE)
            made.append((b_start, b_len))
        before = pagemap.pfns(old, n) if pagemap.fd is not None else None
        res.settle()
        if tracer:
            tracer.begin(seed)
        if rt:
            _fifo(True)
        try:
            t0 = time.perf_counter_ns()
            got = sys_.mremap_raw(old, n, n, MREMAP_MAYMOVE | MREMAP_FIXED, new)
            t1 = time.perf_counter_ns()
        finally:
            if rt:
                _fifo(False)
        if tracer:
            tracer.end(seed)
        if got in (None, MAP_FAILED):
            raise OSError(ctypes.get_errno(), f"mremap {old:#x} -> {new:#x}: {os.strerror(ctypes.get_errno())}")
        made.append((new, n))
        words = _words(new, n)
        data_ok = bool((words[:, 0] == pat).all() and (words[:, -1] == ~pat).all())
        del words
        pfn_ok = None
        if before is not None:
            after = pagemap.pfns(new, n)
            pfn_ok = bool((before != 0).all() and (before == after).all())
        old_gone = not _mapped_in(old, old + n)
        flushes = tracer.collect(seed) if tracer else None
        return Run(t1 - t0, data_ok, pfn_ok, old_gone, flushes)
    finally:
        for start, length in made:
            res.unmap(start, length)


# ---- tracing ---------------------------------------------------------------------------------------------

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
        pages, inside = [], False
        for line in text.splitlines():
            m = _MARK.search(line)
            if m and int(m.group(2)) == tag:
                inside = m.group(1) == "begin"
                continue
            f_ = _FLUSH.search(line)
            if inside and f_ and int(f_.group(2)) == LOCAL_MM_SHOOTDOWN:
                pages.append(int(f_.group(1)))
        return pages


def flush_ceiling() -> int:
    """x86's tlb_single_page_flush_ceiling (debugfs), else its default 33."""
    try:
        with open("/sys/kernel/debug/x86/tlb_single_page_flush_ceiling") as f:
            return int(f.read())
    except (OSError, ValueError):
        return 33


# ---- statistics and the cost model ------------------------------------------------------------------

def percentile(xs, q: float) -> float:
    """Linear-interpolated percentile (q in 0..100) of a non-empty list."""
    s = sorted(xs)
    k = (len(s) - 1) * q / 100
    lo = int(k)
    hi = min(lo + 1, len(s) - 1)
    return s[lo] + (s[hi] - s[lo]) * (k - lo)


MODEL_TERMS = ("intercept_us", "per_pte_us", "per_pte_extent_us", "per_pmd_move_us", "per_pud_move_us")


def fit_cost_model(rows) -> dict:
    """Least squares t = c0 + c1*PTEs + c2*PTE extents + c3*PMD moves + c4*PUD moves over (Prediction, median_us).

    Each row is weighted by 1/median, so the fit minimises *relative* error: a 5 ms page-wise move does not
    drown the 10 us ones. Terms that no row exercises come back as None."""
    import numpy as np
    if not rows:
        return {t: None for t in MODEL_TERMS}
    x = np.array([p.features() for p, _ in rows], dtype=float)
    y = np.array([m for _, m in rows], dtype=float)
    w = 1 / y
    used = x.any(axis=0)
    coef = np.linalg.lstsq(x[:, used] * w[:, None], y * w, rcond=None)[0]
    out, it = {}, iter(coef)
    for term, u in zip(MODEL_TERMS, used):
        out[term] = float(next(it)) if u else None
    return out


def model_us(model: dict, p: Prediction) -> float | None:
    if model.get("intercept_us") is None:
        return None
    return sum((c or 0.0) * f for c, f in zip((model[t] for t in MODEL_TERMS), p.features()))


# ---- the whole lab ----------------------------------------------------------------------------------------

@dataclass
class ScenarioResult:
    """One scenario: the engine's prediction next to what this kernel did."""

    name: str
    group: str
    case: str
    old_offset: int  # offset of old in its PMD ... as the kernel sees it
    new_offset: int
    length: int
    blocker: str
    predicted_realigned: bool
    realign_check: str
    pud_moves: int
    pmd_moves: int
    pte_moves: int
    pte_extents: int
    refusals: int
    predicted_flush_pages: list[int]
    observed_realigned: bool | None = None
    observed_note: str = ""
    median_us: float | None = None
    p10_us: float | None = None
    p90_us: float | None = None
    reps: int = 0
    model_us: float | None = None
    data_ok: bool | None = None
    pfn_ok: bool | None = None  # None: not root, PFNs hidden
    old_gone: bool | None = None
    traced_flush_pages: list[int] | None = None
    trace_tail: list[int] | None = None  # flushes after the predicted ones (the unmap of the old range)
    tail_expected: bool = False
    trace_match: bool | None = None
    ci_us: tuple[float, float] | None = None  # ~95% confidence interval of the median

    @property
    def small(self) -> bool:
        """2 MiB-class: the first partial PMD is a large part of the work, so realignment shows in timings."""
        return self.length <= 4 * MiB


@dataclass
class LabReport:
    """Everything one lab run found."""

    kernel_release: str
    engine_kernel: str
    measured: bool
    skip_reason: str = ""
    trace_status: str = ""
    scenarios: list[ScenarioResult] = field(default_factory=list)
    model: dict = field(default_factory=dict)
    call_overhead_us: float | None = None  # a no-op ctypes call, included in every timing
    cpu: int | None = None
    realtime: bool = False  # the timed calls ran at SCHED_FIFO (root), out of reach of other tasks

    def by_name(self) -> dict[str, ScenarioResult]:
        return {s.name: s for s in self.scenarios}

    def to_json(self) -> str:
        return json.dumps([asdict(s) for s in self.scenarios], indent=1)


def _result(sc: Scenario, p: Prediction) -> ScenarioResult:
    return ScenarioResult(sc.name, sc.group, sc.case, (sc.old) % PMD, (sc.new) % PMD, sc.length, sc.blocker,
                          p.realigned, p.realign_check, p.pud_moves, p.pmd_moves, p.pte_moves, p.pte_extents,
                          p.refusals, p.flush_pages, tail_expected=p.tail_expected)


def _call_overhead_us(reps: int = 201) -> float:
    """Median cost of timing a ctypes call that does nothing in the kernel worth mentioning."""
    f = ctypes.CDLL(None).getppid
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        f()
        ts.append(time.perf_counter_ns() - t0)
    return percentile(ts, 50) / 1000


def _schedule(scs, reps: dict[str, int]) -> list[list[Scenario]]:
    """Rounds that each run every scenario at most once, spreading the scenarios with fewer reps evenly."""
    rounds = max(reps[s.name] for s in scs)
    plan = [[] for _ in range(rounds)]
    for s in scs:
        k = reps[s.name]
        for i in range(k):
            plan[i * rounds // k].append(s)
    return [r[i % len(r):] + r[:i % len(r)] for i, r in enumerate(plan) if r]  # rotate the order each round


def _pin_cpu():
    """Pin this thread to the last CPU it may use; return the old mask (to restore) and the CPU."""
    if not hasattr(os, "sched_setaffinity"):
        return None, None
    old = os.sched_getaffinity(0)
    cpu = max(old)
    os.sched_setaffinity(0, {cpu})
    return old, cpu


def measure(scs, reps: dict[str, int], trace: bool = True, progress=None, realtime: bool = True):
    """Time every scenario (interleaved), then trace one move of each. Returns (runs, traces, trace status,
    call overhead in us, CPU, whether the timed calls ran at SCHED_FIFO)."""
    runs: dict[str, list[Run]] = {s.name: [] for s in scs}
    traces: dict[str, list[int]] = {}
    status = trace_unavailable_reason() if trace else "trace mode off (--no-trace)"
    pagemap = _Pagemap()
    rt = realtime and realtime_available()
    old_mask, cpu = _pin_cpu()
    seed = 1
    try:
        with Reservation(scs) as res:
            res.check_windows_empty()
            for sc in scs:  # warm-up: one untimed round
                run_once(res, sc, seed, pagemap)
                seed += 1
            overhead = _call_overhead_us()
            plan = _schedule(scs, reps)
            gc_was = gc.isenabled()
            gc.disable()
            try:
                for i, rnd in enumerate(plan):
                    res.check_windows_empty()
                    for sc in rnd:
                        runs[sc.name].append(run_once(res, sc, seed, pagemap, rt=rt))
                        seed += 1
                    if progress:
                        progress(i + 1, len(plan))
            finally:
                if gc_was:
                    gc.enable()
            if not status:
                try:
                    with Tracer() as tracer:
                        for sc in scs:
                            run = run_once(res, sc, seed, pagemap, tracer)
                            runs[sc.name].append(run)  # checked, not timed (below)
                            traces[sc.name] = run.flushes
                            seed += 1
                    status = "traced tlb:tlb_flush, one move per scenario (pid-filtered tracefs instance)"
                except OSError as e:
                    status = f"trace mode failed: {e}"
    finally:
        pagemap.close()
        if old_mask is not None:
            os.sched_setaffinity(0, old_mask)
    return runs, traces, status, overhead, cpu, rt


def _infer_realigned(r: ScenarioResult, twin: ScenarioResult | None, possible: bool) -> tuple[bool | None, str]:
    """Did the kernel realign? Judged from the timings against the scenario's blocked (or free) twin."""
    if not possible:
        return None, "one path only: the guard or the alignment rules leave nothing to realign"
    if twin is None or twin.median_us is None or r.median_us is None:
        return None, "no twin measured to compare with"
    if not r.small:
        return None, f"a realignment saves at most 511 PTE moves, lost in the noise at {_size_label(r.length)}"
    free, blocked = (r, twin) if not r.blocker else (twin, r)
    saving = blocked.median_us - free.median_us
    if free.ci_us[1] < blocked.ci_us[0]:  # the 95% intervals of the two medians do not overlap
        if r.blocker:
            return False, f"{saving:.1f} us slower than without the blocker: the blocker prevented realignment"
        return True, f"{saving:.1f} us faster than with a blocker below old: realigned"
    # Not faster is no proof of "not realigned": at 2 MiB the two paths can cost the same within the noise.
    return None, f"difference to the twin ({saving:+.1f} us) is within the noise"


def median_ci(xs) -> tuple[float, float]:
    """A distribution-free ~95% confidence interval of the median (order statistics)."""
    s = sorted(xs)
    half = 0.98 * len(s) ** 0.5  # 1.96 * sqrt(n) / 2
    lo, hi = int(len(s) / 2 - half), int(-(-(len(s) / 2 + half) // 1))
    return s[max(lo, 0)], s[min(hi, len(s) - 1)]


def run(sizes=("2M",), guard: bool = True, reps: int | None = None, quick: bool = False, trace: bool = True,
        progress=None, realtime: bool = True) -> LabReport:
    """Run the lab: predictions always; timings, checks and traces when this machine allows."""
    scs = scenarios(sizes, guard)
    engine_kernel = kernel_release()
    layout = Layout.for_scenarios(scs)
    ceiling = flush_ceiling()
    preds = {sc.name: predict(sc, layout, engine_kernel, ceiling) for sc in scs}
    results = [_result(sc, preds[sc.name]) for sc in scs]
    report = LabReport(platform.release(), engine_kernel, False, scenarios=results)
    report.skip_reason = unsupported_reason()
    if report.skip_reason:
        report.trace_status = report.skip_reason
        return report
    counts = {sc.name: reps or (QUICK_REPS if quick else DEFAULT_REPS)[sc.group] for sc in scs}
    runs, traces, report.trace_status, report.call_overhead_us, report.cpu, report.realtime = measure(
        scs, counts, trace, progress, realtime)
    report.measured = True
    for sc, r in zip(scs, results):
        timed = runs[sc.name][:counts[sc.name]]
        checked = runs[sc.name]
        us = [x.ns / 1000 for x in timed]
        r.median_us, r.p10_us, r.p90_us, r.reps = percentile(us, 50), percentile(us, 10), percentile(us, 90), len(us)
        r.ci_us = median_ci(us)
        r.data_ok = all(x.data_ok for x in checked)
        r.old_gone = all(x.old_gone for x in checked)
        r.pfn_ok = None if checked[0].pfn_ok is None else all(x.pfn_ok for x in checked)
        if sc.name in traces:
            k = traces[sc.name]
            e = r.predicted_flush_pages
            r.traced_flush_pages, r.trace_tail = k, k[len(e):]
            # The loop's flushes first, exactly; then the unmap of old flushes iff it frees a page table
            # (more than once when it frees over ~509 tables: the mmu_gather table batch fills up).
            r.trace_match = k[:len(e)] == e and bool(r.trace_tail) == r.tail_expected
    # The cost model is fitted on scenarios with one possible path, so it cannot lean on the realignment rule.
    fit_rows = [(preds[s.name], r.median_us) for s, r in zip(scs, results) if not preds[s.name].realign_possible]
    report.model = fit_cost_model(fit_rows)
    by_name = report.by_name()
    for sc, r in zip(scs, results):
        r.model_us = model_us(report.model, preds[sc.name])
        r.observed_realigned, r.observed_note = _infer_realigned(r, by_name.get(sc.twin),
                                                                 preds[sc.name].realign_possible)
    return report


def kernel_mremap_us(size: int, aligned: bool = True, reps: int = 21) -> float:
    """Median µs of this kernel's mremap of `size` populated bytes: PMD-aligned (aligned=True) or
    page-wise (old at +0x1000, new at +0x3000). For benchmarks that put the engine next to the kernel."""
    why = unsupported_reason()
    if why:
        raise OSError(0, why)
    if size <= 0 or size % PAGE:
        raise ValueError(f"size must be a positive multiple of 4 KiB, got {size}")
    sc = (Scenario("aligned", "bench", "a", PMD_AT, PMD_AT, size) if aligned else
          Scenario("page-wise", "bench", "b", PMD_AT + 0x1000, PMD_AT + 0x3000, size))
    runs, *_ = measure([sc], {sc.name: reps}, trace=False)  # SCHED_FIFO when root
    if not all(r.data_ok for r in runs[sc.name]):
        raise RuntimeError("the data did not survive the move")
    return percentile([r.ns / 1000 for r in runs[sc.name][:reps]], 50)


# ---- reading the report --------------------------------------------------------------------------------

RATIOS = [  # (label, numerator case name pattern, denominator)
    ("(ii)/(i) page-wise vs PMD", "b 0x1000->0x3000 {}", "a aligned {}"),
    ("(iii)/(i) c@0x1000 vs aligned", "c 0x1000 {}", "a aligned {}"),
    ("(iii)/(i) c@0x100000 vs aligned", "c 0x100000 {}", "a aligned {}"),
    ("(iii)/(i) c@0x1ff000 vs aligned", "c 0x1ff000 {}", "a aligned {}"),
    ("(iv)/(ii) blocked@0x1000 vs page-wise", "d 0x1000 blkold {}", "b 0x1000->0x3000 {}"),
    ("(iv)/(iii) blocked vs realigned @0x1000", "d 0x1000 blkold {}", "c 0x1000 {}"),
    ("(iv)/(iii) blocked vs realigned @0x100000", "d 0x100000 blkold {}", "c 0x100000 {}"),
    ("(iv)/(iii) blocked vs realigned @0x1ff000", "d 0x1ff000 blkold {}", "c 0x1ff000 {}"),
    ("(i)/P PMD path vs PUD path", "a aligned {}", "p pud-aligned {}"),
]


def ratios(report: LabReport) -> list[dict]:
    """The ratio table per size class: {"ratio", "size", "value" (of medians), "p10_value"} (measured only)."""
    by = report.by_name()
    out = []
    for label, num, den in RATIOS:
        for size in SIZES:
            s = _size_label(SIZES[size])
            a, b = by.get(num.format(s)), by.get(den.format(s))
            if a and b and a.median_us and b.median_us:
                out.append({"ratio": label, "size": s, "value": round(a.median_us / b.median_us, 2),
                            "p10_value": round(a.p10_us / b.p10_us, 2)})
    return out


def format_ratios(report: LabReport) -> str:
    """The ratio table: median ratio, and in brackets the p10 ratio (less sensitive to a busy machine)."""
    rows = ratios(report)
    if not rows:
        return f"no ratios: {report.skip_reason or 'nothing measured'}"
    sizes = [s for s in (_size_label(n) for n in SIZES.values()) if any(r["size"] == s for r in rows)]
    lines = [f"{'ratio of medians (of p10s)':<44}" + "".join(f"{s:>16}" for s in sizes)]
    for label, *_ in RATIOS:
        vals = {r["size"]: f"{r['value']:.2f} ({r['p10_value']:.2f})" for r in rows if r["ratio"] == label}
        if vals:
            lines.append(f"{label:<44}" + "".join(f"{vals.get(s, ''):>16}" for s in sizes))
    return "\n".join(lines)


def yes_no(v) -> str:
    """"yes", "no", or "?" for unknown (None)."""
    return "?" if v is None else ("yes" if v else "no")


def format_table(report: LabReport) -> str:
    """Measured against predicted, one line per scenario."""
    head = (f"kernel {report.kernel_release} (engine models {report.engine_kernel})")
    if not report.measured:
        return f"{head}\nnot measured: {report.skip_reason}\n\n" + format_predictions_of(report)
    rt = ", SCHED_FIFO" if report.realtime else ""
    lines = [head + f"; timings include ~{report.call_overhead_us:.2f} us of ctypes call; pinned to CPU {report.cpu}{rt}",
             f"trace: {report.trace_status}",
             f"{'scenario':<38} {'PMD':>4} {'PTE':>6} {'median':>8} {'p10':>7} {'p90':>7} {'model':>7} "
             f"{'realign pred/obs':>16} {'data':>4} {'pfn':>4} {'trace':>5}"]
    for r in report.scenarios:
        lines.append(f"{r.name:<38} {r.pmd_moves + r.pud_moves:>4} {r.pte_moves:>6} {r.median_us:>8.1f} "
                     f"{r.p10_us:>7.1f} {r.p90_us:>7.1f} {_num(r.model_us):>7} "
                     f"{yes_no(r.predicted_realigned) + '/' + yes_no(r.observed_realigned):>16} "
                     f"{yes_no(r.data_ok):>4} {yes_no(r.pfn_ok):>4} {yes_no(r.trace_match):>5}")
    m = report.model
    lines.append("cost model (us): " + ", ".join(f"{k[:-3]} {_num(v, 4)}" for k, v in m.items()))
    return "\n".join(lines)


def format_predictions_of(report: LabReport) -> str:
    rows = [f"{'scenario':<38} {'realign':<7} {'PUD':>3} {'PMD':>4} {'PTE':>6}  flushes"]
    for r in report.scenarios:
        rows.append(f"{r.name:<38} {yes_no(r.predicted_realigned):<7} {r.pud_moves:>3} {r.pmd_moves:>4} "
                    f"{r.pte_moves:>6}  {rle(r.predicted_flush_pages)}")
    return "\n".join(rows)


def _num(v, digits: int = 1) -> str:
    return "-" if v is None else f"{v:.{digits}f}"


def format_trace(report: LabReport) -> str:
    """The trace comparison: predicted flushes, what the kernel reported, and the verdict."""
    traced = [r for r in report.scenarios if r.trace_match is not None]
    if not traced:
        return f"not traced: {report.trace_status or report.skip_reason}"
    ok = sum(r.trace_match for r in traced)
    lines = [f"{ok}/{len(traced)} scenarios: the kernel's tlb_flush sequence is the engine's, then the unmap of old",
             f"{'scenario':<38} {'match':>5}  engine -> kernel (tail)"]
    for r in traced:
        lines.append(f"{r.name:<38} {yes_no(r.trace_match):>5}  {rle(r.predicted_flush_pages)} -> "
                     f"{rle(r.traced_flush_pages)} (tail {rle(r.trace_tail)})")
    return "\n".join(lines)


def plot_measured_vs_predicted(report: LabReport, group: str = "2M", ax=None):
    """Bars: measured median (p10-p90 whiskers) and the cost model's prediction, per scenario of a group."""
    import matplotlib.pyplot as plt
    rows = [r for r in report.scenarios if r.group == group and r.median_us is not None]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.6 * len(rows)), 3.6))
    xs = range(len(rows))
    med = [r.median_us for r in rows]
    err = [[r.median_us - r.p10_us for r in rows], [r.p90_us - r.median_us for r in rows]]
    ax.bar([x - 0.2 for x in xs], med, 0.4, yerr=err, capsize=2, label="measured median (p10-p90)")
    ax.bar([x + 0.2 for x in xs], [r.model_us or 0 for r in rows], 0.4, label="cost model on engine counts")
    ax.set_xticks(list(xs), [r.name.rsplit(" ", 1)[0] if group != "guard" else r.name[6:] for r in rows],
                  rotation=60, ha="right", fontsize=8)
    ax.set_ylabel("µs per mremap")
    title = {"2M": "2 MiB + 4 KiB", "64M": "64 MiB", "1G": "1 GiB", "guard": "the length guard"}.get(group, group)
    ax.set_title(f"{title}: measured vs cost model")
    ax.legend(fontsize=8)
    return ax


# ---- command line ------------------------------------------------------------------------------------------

def add_arguments(parser) -> None:
    """The options of `python -m pagemove lab`."""
    parser.add_argument("--quick", action="store_true", help="few repetitions (seconds for the default 2 MiB class)")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=None,
                        help="size classes to run (default: 2M; 2M is 2 MiB + 4 KiB)")
    parser.add_argument("--json", action="store_true", help="one JSON object per scenario")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per scenario (default: by size)")
    parser.add_argument("--no-trace", action="store_true", help="do not record tlb:tlb_flush")
    parser.add_argument("--no-guard", action="store_true", help="leave out the length-guard scenarios")
    parser.add_argument("--no-realtime", action="store_true",
                        help="do not run the timed call at SCHED_FIFO (root only) to shield it from other tasks")


def run_cli(args) -> int:
    """Run the lab from parsed arguments; print a table (or JSON). 1 if any move lost data, else 0."""
    if args.reps is not None and args.reps < 1:
        print("lab: --reps must be at least 1", file=sys.stderr)
        return 2
    report = run(tuple(args.sizes or ("2M",)), guard=not args.no_guard, reps=args.reps, quick=args.quick,
                 trace=not args.no_trace, realtime=not getattr(args, "no_realtime", False),
                 progress=None if args.json else _stderr_progress)
    if args.json:
        print(report.to_json())
    else:
        if not report.measured:
            print(f"lab: skipped: {report.skip_reason}")
        print(format_table(report))
        if report.measured:
            print()
            print(format_ratios(report))
            print()
            print(format_trace(report))
    broken = [r.name for r in report.scenarios if r.data_ok is False or r.pfn_ok is False or r.old_gone is False]
    if broken:
        print(f"lab: integrity check FAILED for {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


def _stderr_progress(done: int, total: int) -> None:
    if done == total or done % max(1, total // 10) == 0:
        print(f"lab: round {done}/{total}", file=sys.stderr)
