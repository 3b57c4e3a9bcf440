"""What a move did: one Event per loop step of move_page_tables(), the counts, and a replay.

The replay re-applies the events, using nothing but the page-table primitives, to a copy of the
tables as they were when the loop started. It is how drawings show "the state after step k", and
the tests check that replaying every event gives exactly the state the engine produced.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from .geometry import Geometry
from .pgtable import PageTables

PUD, PMD, PTE = "PUD", "PMD", "PTE"


# Not frozen: a frozen dataclass sets each field through object.__setattr__, which made building the
# 1,025 events of a 1 GiB page-wise move a seventh of the engine's time. Treat an Event as read-only
# (dataclasses.replace() makes a changed copy); it still hashes by value.
@dataclass(slots=True, unsafe_hash=True)
class Event:
    """One iteration of the move_page_tables() loop."""

    step: int  # the index in MoveResult.events (0-based); readers see `number`, from 1
    old: int  # old_addr at this step
    new: int  # new_addr at this step
    extent: int  # bytes this step covers
    level: str  # PUD or PMD: that whole entry was moved (or skipped); PTE: move_ptes() ran
    outcome: str  # "moved", or "skipped" when the old entry at `level` was none
    ptes: int = 0  # present PTEs move_ptes() moved in this step
    refused: tuple[str, ...] = ()  # levels whose entry move was refused (the WARN) before falling back
    cause: str = ""  # why a whole-entry move was refused, or why this step went PTE by PTE
    flush: tuple[int, int] | None = None  # the flush_tlb_range() this step issued
    huge: bool = False  # the old PMD entry was a huge leaf: moved whole by move_huge_pmd(), or split
    split: bool = False  # split_huge_pmd() ran before move_ptes()
    huge_refused: bool = False  # move_huge_pmd() refused: the destination PMD entry was not none
    part: int = 0  # which VMA of a 6.17 multi-VMA mremap (0 for every other move)

    @property
    def number(self) -> int:
        """The step's number as a reader sees it: events count from 1 ("step 1 of n"); `step` is its index."""
        return self.step + 1

    def describe(self) -> str:
        """One sentence saying what happened at this step (numbered from 1, as everywhere a reader looks)."""
        span = f"{self.old:#x}..{self.old + self.extent:#x} -> {self.new:#x}"
        if self.outcome == "skipped":
            return f"Step {self.number}: nothing to move at {span}: the old {self.level} entry is none, so the " \
                   f"whole extent is skipped."
        if self.level == PMD and self.huge:
            return f"Step {self.number}: huge PMD move of {span}: move_huge_pmd() moves the huge page's one PMD " \
                   f"entry (no PTE table below it) and clears the source entry."
        if self.level in (PUD, PMD):
            return f"Step {self.number}: {self.level} move of {span}: the whole {self.level} entry is moved in one " \
                   f"go and the source entry is cleared."
        pages = f"{self.ptes} present PTE{'s' if self.ptes != 1 else ''}"
        if self.split:
            why = ("move_huge_pmd() refused: the destination PMD entry is not none" if self.huge_refused
                   else f"the extent ({self.extent:#x}) is not the whole huge page")
            return f"Step {self.number}: {why}, so split_huge_pmd() turned the huge page into a PTE table and " \
                   f"move_ptes() moved {pages} one at a time ({span})."
        if self.refused:
            lvl = self.refused[-1]
            return f"Step {self.number}: {lvl} move refused (the WARN): {self.cause}. Fell back to " \
                   f"move_ptes(), which moved {pages} one at a time ({span})."
        return f"Step {self.number}: move_ptes() moved {pages} one at a time ({span}), because {self.cause}; " \
               f"the source PMD entry stays present."


@dataclass(frozen=True)
class Damage:
    """What the unchecked expansion broke: never produced by a real kernel mode."""

    dragged: tuple[tuple[int, int, int], ...] = ()  # (address before, address after, frame) outside [old, old+len)
    clobbered: tuple[tuple[int, int], ...] = ()  # (address, frame) of pages overwritten and lost
    orphans: tuple[tuple[int, int], ...] = ()  # (address, frame) left mapped where no VMA is

    def __bool__(self) -> bool:
        return bool(self.dragged or self.clobbered or self.orphans)

    def summary(self) -> str:
        if not self:
            return "no damage"
        parts = []
        if self.dragged:
            a = self.dragged[0]
            parts.append(f"{len(self.dragged)} page(s) from outside [old, old+len) dragged along "
                         f"(first: {a[0]:#x} -> {a[1]:#x})")
        if self.clobbered:
            parts.append(f"{len(self.clobbered)} page(s) of another mapping overwritten and lost "
                         f"(first: {self.clobbered[0][0]:#x})")
        if self.orphans:
            parts.append(f"{len(self.orphans)} page(s) left mapped where no VMA is (leaked; first: "
                         f"{self.orphans[0][0]:#x})")
        return "; ".join(parts)


@dataclass
class MoveResult:
    """Everything one move_page_tables() call did (the result of mremap and relocate_vma_down too)."""

    geometry: Geometry
    kernel: str
    operation: str  # "mremap", "relocate_vma_down" or "move_page_tables"
    old_addr: int  # the range the caller asked to move
    new_addr: int
    length: int
    start_old: int  # where the loop started (lower than old_addr after realignment)
    start_new: int
    realigned: bool
    realign_check: str  # why realignment happened or not
    for_stack: bool
    unchecked: bool  # Linus' expansion without can_align_down(): NOT the kernel's behaviour
    moved: int  # bytes, the kernel's return value
    events: list[Event]
    before: PageTables = field(repr=False)  # the tables when the loop started
    after: PageTables = field(repr=False)  # ... and when it ended (before any unmap or free)
    vmas: tuple = ()  # the VMAs while the loop ran
    tables_allocated: int = 0
    damage: Damage | None = None
    final_vmas: tuple = ()  # the VMAs when the whole call returned
    tables_freed: int = 0  # tables freed by the cleanup after the loop (munmap of old / free_pgd_range)
    final: PageTables | None = field(default=None, repr=False)  # the tables when the whole call returned
    realign_reason: str = ""  # realign_check as a code: see pagemove.mremap.REALIGN_REASONS
    parts: tuple = ()  # 6.17 multi-VMA mremap: one MoveResult per VMA moved, in order (else empty)
    returned: int | None = None  # mremap()'s return value: new_addr, or 0xe on 5.16/5.17 (mremap_efault_positive)
    _replayed: tuple | None = field(default=None, repr=False, compare=False)  # (step, tables): the last replay

    # ---- counts ----------------------------------------------------------------------------------

    @property
    def pud_moves(self) -> int:
        return sum(e.level == PUD and e.outcome == "moved" for e in self.events)

    @property
    def pmd_moves(self) -> int:
        """move_normal_pmd() moves: a PMD entry pointing to a PTE table (huge leaves are huge_pmd_moves)."""
        return sum(e.level == PMD and e.outcome == "moved" and not e.huge for e in self.events)

    @property
    def huge_pmd_moves(self) -> int:
        """move_huge_pmd() moves: a huge PMD leaf moved whole."""
        return sum(e.level == PMD and e.outcome == "moved" and e.huge for e in self.events)

    @property
    def huge_pmd_splits(self) -> int:
        """split_huge_pmd() calls: a huge leaf turned into a PTE table before move_ptes()."""
        return sum(e.split for e in self.events)

    @property
    def huge_refusals(self) -> int:
        """move_huge_pmd() refusals (destination PMD entry not none); WARN_ON before 6.5, silent since."""
        return sum(e.huge_refused for e in self.events)

    @property
    def pte_moves(self) -> int:
        return sum(e.ptes for e in self.events)

    @property
    def refusals(self) -> int:
        return sum(len(e.refused) for e in self.events)

    @property
    def tlb_flushes(self) -> list[tuple[int, int]]:
        """The TLB flushes of the loop, in order, as (start, end): each step's flush_tlb_range() (a PMD or PUD
        move, move_ptes() when it moved a present PTE, move_huge_pmd()'s flush_pmd_tlb_range()), and before a
        split step's own flush the huge page's [haddr, haddr + PMD_SIZE), flushed by pmdp_invalidate() in
        __split_huge_pmd_locked()."""
        pmd = self.geometry.pmd_size
        out = []
        for e in self.events:
            if e.split:
                out.append((e.old & ~(pmd - 1), (e.old & ~(pmd - 1)) + pmd))
            if e.flush:
                out.append(e.flush)
        return out

    def tlb_flush_pages(self, ceiling: int = 33) -> list[int]:
        """The flushes as x86's tlb:tlb_flush tracepoint reports them: pages, or -1 past the ceiling.

        x86 has no flush_pmd_tlb_range() of its own: the generic one is flush_tlb_range(), with a 4 KiB stride,
        so a huge PMD's flush counts 512 pages, -1 (as notebook 06's lab measured on Linux 6.18: "thp a" traces
        [-1, -1], "thp b" [-1, -1, 1] per huge page: the split, 511 PTEs, 1 PTE)."""
        ps = self.geometry.page_size
        return [n if (n := (end - start) // ps) <= ceiling else -1 for start, end in self.tlb_flushes]

    @property
    def counts(self) -> dict[str, int]:
        return {"pud_moves": self.pud_moves, "pmd_moves": self.pmd_moves, "pte_moves": self.pte_moves,
                "refusals": self.refusals}

    @property
    def warned(self) -> bool:
        """Did the move hit the WARN condition in move_normal_pmd()/move_normal_pud()? (From 5.8 it is a
        WARN_ON_ONCE, so the kernel prints it only if nothing hit it since boot.) Before 6.5 a refused
        move_huge_pmd() WARNs too (WARN_ON(!pmd_none(*new_pmd)) in mm/huge_memory.c)."""
        from .kernel import Kernel

        return self.refusals > 0 or (self.huge_refusals > 0 and Kernel.parse(self.kernel).huge_pmd_move_warns)

    # ---- replay ----------------------------------------------------------------------------------

    def replay(self, step: int | None = None) -> PageTables:
        """The page tables after the first `step` events (0 = before the loop; None = all of them)."""
        n = len(self.events) if step is None else step
        if not 0 <= n <= len(self.events):
            raise ValueError(f"step must be between 0 and {len(self.events)}, got {step}")
        if self.parts:  # a multi-VMA move: the tables between two VMAs' loops include mremap's unmaps
            for part in self.parts:
                if n <= len(part.events):
                    return part.replay(n)
                n -= len(part.events)
        done, pt = 0, self.before
        if self._replayed is not None and self._replayed[0] <= n:  # stepping forward: go on from there
            done, pt = self._replayed
        pt = pt.clone()
        every = _pud_lookup_every_step(self.kernel)
        for e in self.events[done:n]:
            apply_event(pt, e, every)
        self._replayed = (n, pt.clone())
        return pt

    def __repr__(self) -> str:
        c = self.counts
        huge = f", {self.huge_pmd_moves} huge PMD moves, {self.huge_pmd_splits} splits" if (
            self.huge_pmd_moves or self.huge_pmd_splits) else ""
        return (f"<MoveResult {self.operation} {self.old_addr:#x} -> {self.new_addr:#x} len {self.length:#x} "
                f"on {self.kernel}: {c['pud_moves']} PUD, {c['pmd_moves']} PMD, {c['pte_moves']} PTE moves, "
                f"{c['refusals']} refusals{huge}, realigned={self.realigned}>")


def _pud_lookup_every_step(kernel: str) -> bool:
    """Does this release call alloc_new_pud() on every loop step (5.14+)? See Kernel.pud_lookup_every_step."""
    from .kernel import Kernel  # kernel.py needs nothing from here; imported late to keep trace.py light

    return Kernel.parse(kernel).pud_lookup_every_step


def apply_event(pt: PageTables, e: Event, pud_lookup_every_step: bool = True) -> None:
    """Re-do one loop step on `pt`, with the same side effects the engine has. Before 5.14 alloc_new_pud()
    ran only in a step that tried a PUD move (5.11-5.13: it moved or was refused; before 5.11: never)."""
    if e.level == PUD and e.outcome == "skipped":  # get_old_pud() found nothing
        return
    if pud_lookup_every_step or e.level == PUD or PUD in e.refused:
        pt.table(e.new, 2, alloc=True)  # alloc_new_pud()
    if e.level == PUD:
        pt.move_entry(2, e.old, e.new)
        return
    if e.level == PMD and e.outcome == "skipped":  # get_old_pmd() found nothing
        return
    pt.table(e.new, 1, alloc=True)  # alloc_new_pmd()
    if e.level == PMD:
        pt.move_entry(1, e.old, e.new)
        return
    if e.split:
        pt.split_huge_pmd(e.old)
    pt.table(e.new, 0, alloc=True)  # pte_alloc()
    pt.move_ptes(e.old, e.new, e.extent)


def combine(parts: list[MoveResult], old_addr: int, new_addr: int, length: int, vmas: tuple) -> MoveResult:
    """One MoveResult for a 6.17 multi-VMA mremap: the VMAs' events in order (numbered on from one
    VMA to the next), counts summed, each VMA's own result (and realignment decision) in .parts."""
    first, last = parts[0], parts[-1]
    events = [replace(e, part=i) for i, p in enumerate(parts) for e in p.events]
    checks = "; ".join(f"VMA {i + 1}: {'realigned' if p.realigned else 'not realigned'} ({p.realign_check})"
                       for i, p in enumerate(parts))
    seen = list(dict.fromkeys([*first.vmas, *vmas]))
    return MoveResult(first.geometry, first.kernel, "mremap", old_addr, new_addr, length, first.start_old,
                      first.start_new, any(p.realigned for p in parts), checks, False, first.unchecked,
                      sum(p.moved for p in parts), events, first.before, last.after,
                      vmas=tuple(sorted(seen, key=lambda v: (v.start, v.end))),
                      tables_allocated=sum(p.tables_allocated for p in parts),
                      tables_freed=sum(p.tables_freed for p in parts),
                      realign_reason=first.realign_reason if len(parts) == 1 else "multi", parts=tuple(parts))
