"""What the engine predicts for each lab scenario: the path, the TLB flushes and the page-table pages.

The engine builds the scenario's layout (reservation remnants included) at the same fixed address the
lab reserves, so these predictions are the same on every machine and need no system call.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..geometry import Geometry
from ..kernel import NEWEST, Kernel
from ..mm import AddressSpace
from ..trace import PTE
from .scenarios import Layout, Scenario

# /proc/self/status VmPTE is mm_pgtables_bytes() (fs/proc/task_mmu.c): mm_inc_nr_ptes/pmds/puds
# (include/linux/mm.h) add one page per PTE, PMD and PUD table; the PGD (and a P4D) are not counted.
# An anonymous huge PMD counts one PTE table too: the one deposited for a later split
# (pgtable_trans_huge_deposit() in __do_huge_pmd_anonymous_page(), with mm_inc_nr_ptes()).
LEVEL_NAMES = ("pte", "pmd", "pud", "p4d")  # a table at level L holds level-L entries
VMPTE_LEVELS = ("pte", "pmd", "pud")
BLOCKED_ONLY = ("old-blocked", "new-blocked", "old-not-start", "new-not-start")  # mremap.REALIGN_REASONS


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
    tail_expected: bool  # unmapping the old range frees a page table (or runs p4d_free_tlb()): one more flush
    tables: dict[str, int] = field(default_factory=dict)  # change of page-table pages per level, over the call
    tables_freed_by_blocker: int = 0  # tables freed when the blockers are unmapped after the move
    tables_made: int = 0  # page-table pages the call allocated (alloc_new_pud/pmd, pte_alloc) ...
    tables_freed: int = 0  # ... and freed (free_pgd_range() when old is unmapped)
    huge_pmd_moves: int = 0  # move_huge_pmd() moves, and split_huge_pmd() splits
    huge_pmd_splits: int = 0
    tail_pages: list[int] = field(default_factory=list)  # x86_unmap_flushes(): the unmap's flushes
    tables_at: dict[str, set] = field(default_factory=dict)  # table_set() before / after the loop / after

    def features(self) -> list[float]:
        """The cost model's regressors: intercept, PTEs, PTE extents, PMD moves, PUD moves."""
        return [1.0, self.pte_moves, self.pte_extents, self.pmd_moves, self.pud_moves]

    @property
    def tables_delta(self) -> int:
        """The change of VmPTE, in pages: the PTE, PMD and PUD tables created minus those freed."""
        return sum(self.tables.get(level, 0) for level in VMPTE_LEVELS)


def table_pages(mm: AddressSpace) -> dict[str, int]:
    """Page-table pages per level below the PGD, as the kernel's nr_ptes/nr_pmds/nr_puds count them.

    A level-1 entry's child is a PTE table, or (a huge leaf) the PTE table deposited for it."""
    count = dict.fromkeys(LEVEL_NAMES[:mm.geometry.levels - 1], 0)
    for level, _, _, _ in mm.pt.walk():
        count[LEVEL_NAMES[level - 1]] += 1
    return count


def table_set(pt) -> set[tuple[str, int]]:
    """Every page-table page below the PGD as (level, the address where its range starts)."""
    return {(LEVEL_NAMES[level - 1], base) for level, _, base, _ in pt.walk()}


# x86's mmu_gather batch of tables to free is one page of pointers after a 24-byte header
# (struct mmu_table_batch, MAX_TABLE_BATCH in include/asm-generic/tlb.h): a full batch forces a flush.
TABLE_BATCH = (4096 - 24) // 8
# The lab's x86-64 kernels are built for 5 levels and run 4 without LA57: PGTABLE_LEVELS is 5 for every
# x86_64 build from 6.17 (arch/x86/Kconfig); before, CONFIG_X86_5LEVEL=y (Kconfig's default; Debian's 6.1 and
# 6.12 set it, its 5.10 does not).
X86_KERNEL_LEVELS = 5


def x86_unmap_flushes(freed, geometry, ceiling: int = 33, batch: int = TABLE_BATCH, p4d_frees=()) -> list[int]:
    """The tlb:tlb_flush values of the mmu_gather that unmaps the old range (tlb_flush() in
    arch/x86/include/asm/tlb.h and flush_tlb_mm_range() in arch/x86/mm/tlb.c, v6.18).

    The moved PTEs are gone already, so only the freed tables widen the gather's range: each adds the
    4 KiB at the start of the range it mapped (pte_free_tlb() and pmd_free_tlb() pass that address). The
    stride is 2 MiB if a PTE table was freed, else 1 GiB (tlb_get_unmap_shift()); the tracepoint reports
    (end - start) >> stride, or -1 past the ceiling. Tables are freed lowest first, each parent after its
    children (free_pgd_range()); the `batch`-th one flushes what is gathered so far.

    p4d_frees: the p4d_free_tlb() calls of a kernel built for 5 levels running 4 (mm.pt.p4d_free_tlb_calls):
    each widens the range by the page at its address, after the slot's PUD table, but frees no table (so
    it neither fills the batch nor sets a cleared_* level: alone, the stride is a page and the flush 1)."""
    span = {name: geometry.level_size(i + 1) for i, name in enumerate(LEVEL_NAMES)}  # = its stride
    top = geometry.level_size(geometry.levels - 1)  # a P4D folded at run time spans a top-level slot
    tables = [(t[1] + span[t[0]], LEVEL_NAMES.index(t[0]), t) for t in freed]
    folds = [(a + top, len(LEVEL_NAMES), ("p4d-fold", a)) for a in p4d_frees]
    out, gathered = [], []

    def flush():
        lo, hi = min(b for _, b in gathered), max(b for _, b in gathered) + geometry.page_size
        strides = [span[level] for level, _ in gathered if level in span]
        n = (hi - lo) // (min(strides) if strides else geometry.page_size)
        out.append(n if n <= ceiling else -1)
        gathered.clear()

    counted = 0
    for *_, item in sorted(tables + folds, key=lambda x: x[:2]):
        gathered.append(item)
        if item[0] in span:
            counted += 1
            if counted % batch == 0:
                flush()
    if gathered:
        flush()
    return out


def engine_space(layout: Layout, sc: Scenario, kernel_levels: int = X86_KERNEL_LEVELS,
                 geometry: Geometry | None = None) -> AddressSpace:
    """The scenario's address space in the engine (x86-64 unless told), reservation remnants included.
    kernel_levels: the kernel's CONFIG_PGTABLE_LEVELS (4 for a kernel without X86_5LEVEL, such as Debian's 5.10)."""
    mm = AddressSpace(geometry or Geometry.x86_64(), kernel_levels=kernel_levels)
    for lo, hi in layout.remnants():
        mm.mmap(lo, hi - lo, prot="none", name="reservation")
    start, length = layout.source_vma(sc)
    populated = length if sc.populated is None else sc.populated
    mm.mmap(start, length, populate=populated == length, name="source", thp=sc.huge)
    if 0 < populated < length:
        mm.populate(start, populated)
    for b_start, b_len, prot in layout.blockers(sc):
        mm.mmap(b_start, b_len, prot=prot, name="blocker")
    return mm


def predict(sc: Scenario, layout: Layout | None = None, kernel: str = NEWEST, ceiling: int = 33,
            kernel_levels: int = X86_KERNEL_LEVELS, geometry: Geometry | None = None) -> Prediction:
    """The engine's counts, realignment, TLB flushes and page-table pages for one scenario."""
    layout = layout or Layout.for_scenarios([sc])
    old, new = layout.old(sc), layout.new(sc)
    mm = engine_space(layout, sc, kernel_levels, geometry)
    before, made0, freed0 = table_pages(mm), mm.pt.allocated, mm.pt.freed
    before_set, folds0 = table_set(mm.pt), len(mm.pt.p4d_free_tlb_calls)
    r = mm.mremap(old, sc.length, sc.length, new_addr=new, kernel=kernel)
    after, made, freed = table_pages(mm), mm.pt.allocated - made0, mm.pt.freed - freed0
    at = {"before": before_set, "loop": table_set(r.replay()), "after": table_set(mm.pt)}
    # the destination is free (Layout reserves it), so every p4d_free_tlb() call is the old range's unmap
    tail = x86_unmap_flushes(at["loop"] - at["after"], mm.geometry, ceiling,
                             p4d_frees=mm.pt.p4d_free_tlb_calls[folds0:])
    freed_by_blocker = sum(mm.munmap(b_start, b_len) for b_start, b_len, _ in layout.blockers(sc))
    # Realignment is possible when only can_align_down() (something mapped below) stood in its way.
    possible = Kernel.parse(kernel).realigns and (r.realigned or r.realign_reason in BLOCKED_ONLY)
    return Prediction(r.realigned, r.realign_check, possible, r.pud_moves, r.pmd_moves, r.pte_moves,
                      sum(e.level == PTE for e in r.events), r.refusals, r.tlb_flush_pages(ceiling),
                      bool(tail), {k: after[k] - before[k] for k in before}, freed_by_blocker, made, freed,
                      r.huge_pmd_moves, r.huge_pmd_splits, tail, at)


def predictions(scs, kernel: str = NEWEST) -> dict[str, Prediction]:
    """predict() for every scenario, in one shared layout (deterministic: no system calls)."""
    layout = Layout.for_scenarios(scs)
    return {sc.name: predict(sc, layout, kernel) for sc in scs}


def rle(seq) -> str:
    """[-1, -1, -1, 2, -1, 2, -1, 2] -> '[-1x3 (2 -1)x3 2]': a flush sequence short enough to read."""
    if seq is None:
        return "?"
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
