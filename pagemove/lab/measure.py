"""One timed, checked repetition of a scenario, and the interleaved schedule that repeats them all.

One repetition: map the source, MADV_NOHUGEPAGE (or MADV_HUGEPAGE for the THP scenarios), populate,
write a pattern, map the blockers, read the PFNs (root), settle, read VmPTE, time the mremap alone,
read VmPTE again; then unmap the blockers (reading VmPTE around that too), verify data, frames and
that old is gone, and unmap everything.
"""

from __future__ import annotations

import ctypes
import gc
import os
import time
from dataclasses import dataclass

from .observe import Pagemap, PageTablePages, Tracer, read_anon_huge_kb, trace_unavailable_reason
from .scenarios import PAGE, Scenario
from .stats import percentile
from .syscalls import (
    MADV_HUGEPAGE,
    MADV_NOHUGEPAGE,
    MAP_FAILED,
    MREMAP_FIXED,
    MREMAP_MAYMOVE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    Reservation,
    fifo,
    mapped_in,
    pattern,
    pin_cpu,
    realtime_available,
    unsupported_reason,
    words,
)


@dataclass
class Run:
    """One timed move and what the checks found."""

    ns: int
    data_ok: bool
    pfn_ok: bool | None  # None: not root, PFNs are hidden
    old_gone: bool
    flushes: list[int] | None = None  # tlb_flush pages, when traced
    tables: int | None = None  # VmPTE change over the mremap, in page-table pages
    blocker_tables: int | None = None  # page-table pages freed by unmapping the blockers afterwards
    huge_kb: int | None = None  # AnonHugePages of the source just before the move (THP scenarios)


def run_once(res: Reservation, sc: Scenario, seed: int, pagemap: Pagemap, ptp: PageTablePages,
             tracer: Tracer | None = None, rt: bool = False) -> Run:
    """Map, populate, fill, block, settle, time the mremap, verify; unmap all of it again."""
    lay, sys_ = res.layout, res.sys
    old, new, n = lay.old(sc), lay.new(sc), sc.length
    src, src_len = lay.source_vma(sc)
    pages = n // PAGE
    made = [(src, src_len)]
    res.map(src, src_len, PROT_READ | PROT_WRITE)
    try:
        sys_.madvise(src, src_len, MADV_HUGEPAGE if sc.huge else MADV_NOHUGEPAGE)
        res.populate(src, src_len)
        w, pat = words(old, n), pattern(seed, pages)
        w[:, 0], w[:, -1] = pat, ~pat
        del w
        blockers = lay.blockers(sc)
        for b_start, b_len, prot in blockers:
            res.map(b_start, b_len, PROT_READ if prot == "r" else PROT_NONE)
            made.append((b_start, b_len))
        huge_kb = read_anon_huge_kb(src, src + src_len) if sc.huge else None
        before = pagemap.pfns(old, n) if pagemap.fd is not None else None
        res.settle()
        if tracer:
            tracer.begin(seed)
        ptp.read(0)  # nothing may allocate between here and the second read
        if rt:
            fifo(True)
        try:
            t0 = time.perf_counter_ns()
            got = sys_.mremap_raw(old, n, n, MREMAP_MAYMOVE | MREMAP_FIXED, new)
            t1 = time.perf_counter_ns()
        finally:
            if rt:
                fifo(False)
        ptp.read(1)
        if tracer:
            tracer.end(seed)
        if got in (None, MAP_FAILED):
            raise OSError(ctypes.get_errno(), f"mremap {old:#x} -> {new:#x}: {os.strerror(ctypes.get_errno())}")
        made.append((new, n))
        tables = ptp.delta()
        blocker_tables = None
        if blockers:  # a PTE table a blocker shares with old's first PMD goes only with the blocker
            ptp.read(0)
            for b_start, b_len, _ in blockers:
                res.unmap(b_start, b_len)
                made.remove((b_start, b_len))
            ptp.read(1)
            blocker_tables = -ptp.delta()
        w = words(new, n)
        data_ok = bool((w[:, 0] == pat).all() and (w[:, -1] == ~pat).all())
        del w
        pfn_ok = None
        if before is not None:
            after = pagemap.pfns(new, n)
            pfn_ok = bool((before != 0).all() and (before == after).all())
        old_gone = not mapped_in(old, old + n)
        flushes = tracer.collect(seed) if tracer else None
        return Run(t1 - t0, data_ok, pfn_ok, old_gone, flushes, tables, blocker_tables, huge_kb)
    finally:
        for start, length in made:
            res.unmap(start, length)


def call_overhead_us(reps: int = 201) -> float:
    """Median cost of timing a ctypes call that does nothing in the kernel worth mentioning."""
    f = ctypes.CDLL(None).getppid
    ts = []
    for _ in range(reps):
        t0 = time.perf_counter_ns()
        f()
        ts.append(time.perf_counter_ns() - t0)
    return percentile(ts, 50) / 1000


def schedule(scs, reps: dict[str, int]) -> list[list[Scenario]]:
    """Rounds that each run every scenario at most once, spreading the scenarios with fewer reps evenly."""
    rounds = max(reps[s.name] for s in scs)
    plan = [[] for _ in range(rounds)]
    for s in scs:
        k = reps[s.name]
        for i in range(k):
            plan[i * rounds // k].append(s)
    return [r[i % len(r):] + r[:i % len(r)] for i, r in enumerate(plan) if r]  # rotate the order each round


@dataclass
class Measured:
    """What measure() found: every run per scenario (timed ones first), traces, and the conditions."""

    runs: dict
    traces: dict
    trace_status: str
    call_overhead_us: float
    cpu: int | None
    realtime: bool


def measure(scs, reps: dict[str, int], trace: bool = True, progress=None, realtime: bool = True) -> Measured:
    """Time every scenario (interleaved, after one untimed warm-up round), then trace one move of each."""
    runs: dict[str, list[Run]] = {s.name: [] for s in scs}
    traces: dict[str, list[int]] = {}
    status = trace_unavailable_reason() if trace else "trace mode off (--no-trace)"
    pagemap, ptp = Pagemap(), PageTablePages()
    rt = realtime and realtime_available()
    old_mask, cpu = pin_cpu()
    seed = 1
    try:
        with Reservation(scs) as res:
            res.check_windows_empty()
            for sc in scs:  # warm-up: one untimed round
                run_once(res, sc, seed, pagemap, ptp)
                seed += 1
            overhead = call_overhead_us()
            plan = schedule(scs, reps)
            gc_was = gc.isenabled()
            gc.disable()
            try:
                for i, rnd in enumerate(plan):
                    res.check_windows_empty()
                    for sc in rnd:
                        runs[sc.name].append(run_once(res, sc, seed, pagemap, ptp, rt=rt))
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
                            one = run_once(res, sc, seed, pagemap, ptp, tracer)
                            runs[sc.name].append(one)  # checked, not timed
                            traces[sc.name] = one.flushes
                            seed += 1
                    status = "traced tlb:tlb_flush, one move per scenario (pid-filtered tracefs instance)"
                except OSError as e:
                    status = f"trace mode failed: {e}"
    finally:
        pagemap.close()
        ptp.close()
        if old_mask is not None:
            os.sched_setaffinity(0, old_mask)
    return Measured(runs, traces, status, overhead, cpu, rt)


def kernel_mremap_us(size: int, aligned: bool = True, reps: int = 21) -> float:
    """Median µs of this kernel's mremap of `size` populated bytes: PMD-aligned (aligned=True) or
    page-wise (old at +0x1000, new at +0x3000). For benchmarks that put the engine next to the kernel."""
    from .scenarios import PMD_AT
    why = unsupported_reason()
    if why:
        raise OSError(0, why)
    if size <= 0 or size % PAGE:
        raise ValueError(f"size must be a positive multiple of 4 KiB, got {size}")
    sc = (Scenario("aligned", "bench", "a", PMD_AT, PMD_AT, size) if aligned else
          Scenario("page-wise", "bench", "b", PMD_AT + 0x1000, PMD_AT + 0x3000, size))
    m = measure([sc], {sc.name: reps}, trace=False)  # SCHED_FIFO when root
    if not all(r.data_ok for r in m.runs[sc.name]):
        raise RuntimeError("the data did not survive the move")
    return percentile([r.ns / 1000 for r in m.runs[sc.name][:reps]], 50)
