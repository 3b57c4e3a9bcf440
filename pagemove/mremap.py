"""move_page_tables() and its helpers, function by function as in mm/mremap.c.

Read this file next to the kernel source:
  v6.6  https://elixir.bootlin.com/linux/v6.6/source/mm/mremap.c   (before the fix)
  v6.7  https://elixir.bootlin.com/linux/v6.7/source/mm/mremap.c   (try_realign_addr, can_align_down)
  v6.15 https://elixir.bootlin.com/linux/v6.15/source/mm/mremap.c  (struct pagetable_move_control)

Transparent huge pages are in: a huge PMD leaf whose extent is a whole PMD moves by move_huge_pmd()
(mm/huge_memory.c), any other is split first (split_huge_pmd()) and its PTEs move (see _step).
What is left out, because pagemove has no such pages or state: PUD-sized huge pages (move_huge_pud),
hugetlb, userfaultfd (uffd_supports_page_table_move(), 6.17), rmap locks and the mmu notifier, the
recheck under the PMD locks (!pmd_present(pmd) || pmd_leaf(pmd), 6.12: a race with
retract_page_tables() that cannot happen here), the large-folio PTE batching of move_ptes() (6.17)
and the error-path reverse move. Allocations never fail, so the loop never breaks.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import check_ints
from .kernel import NEWEST, Kernel
from .pgtable import HugePMD, PageTables, move_pte_range
from .trace import PMD, PTE, PUD, Damage, Event, MoveResult

NORMAL_PMD, NORMAL_PUD = PMD, PUD  # enum pgt_entry


@dataclass
class PagetableMoveControl:
    """struct pagetable_move_control (mm/internal.h, 6.15); older kernels pass the same as arguments."""

    mm: object  # the AddressSpace
    old: object  # source VMA
    new: object  # destination VMA
    old_addr: int
    old_end: int  # never changes, even when old_addr is realigned down
    new_addr: int
    len_in: int  # bytes the caller asked to move
    for_stack: bool
    kernel: Kernel
    have_move_pmd: bool = True  # CONFIG_HAVE_MOVE_PMD
    have_move_pud: bool = True  # CONFIG_HAVE_MOVE_PUD
    unchecked: bool = False  # Linus' expansion without can_align_down(): NOT the kernel

    def __post_init__(self):
        self.geo, self.pt = self.mm.geometry, self.mm.pt
        self.pmd_size, self.pud_size = self.geo.pmd_size, self.geo.pud_size
        self.pmd_mask, self.pud_mask = ~(self.pmd_size - 1), ~(self.pud_size - 1)  # PMD_MASK, PUD_MASK
        self.page_shift, self.page_size = self.geo.page_shift, self.geo.page_size
        self.reasons: dict[int, str] = {}  # extent -> _pte_reason(): a page-wise move repeats two extents 500 times
        # The loop's shape in this release (kernel.py names each change), read once, not per step.
        self.pud_step = self.kernel.pud_step
        self.pud_lookup_every_step = self.kernel.pud_lookup_every_step
        self.extent_in_one_place = self.kernel.extent_in_one_place


# ---- walking and allocating ------------------------------------------------------------------------
# Like the kernel's pud_t * and pmd_t *, an entry is named by (the table holding it, its index).

def get_extent(entry: str, pmc: PagetableMoveControl) -> int:
    """get_extent() (v5.11-v6.18; the same sum written out in the loop in 5.9 and 5.10): bytes to the next
    `entry` boundary of old or new, or to old_end. Up to 5.8 see _step(): a skipped PMD ignores new."""
    return extent(pmc.pmd_size if entry == NORMAL_PMD else pmc.pud_size, pmc.old_addr, pmc.old_end, pmc.new_addr)


def extent(size: int, old_addr: int, old_end: int, new_addr: int) -> int:
    """The rule inside get_extent(): the smallest of the distances from old_addr to its next `size`
    boundary, to old_end, and from new_addr to its next `size` boundary."""
    mask = size - 1  # the kernel's ((addr + size) & ~mask) - addr, without a negative mask (slow on Python ints)
    extent, left, to_new = size - (old_addr & mask), old_end - old_addr, size - (new_addr & mask)
    if extent > left:
        extent = left
    return to_new if extent > to_new else extent


def get_old_pud(pt: PageTables, addr: int):
    """get_old_pud() (v6.6): the old PUD entry, or None if it (or any entry above it) is none."""
    pud = pt.offset(addr, 2)  # pgd_offset(), p4d_offset(), pud_offset(): None if an entry above is none
    if pud is None or pud[1] not in pud[0]:  # pud_none()
        return None
    return pud


def get_old_pmd(pt: PageTables, addr: int):
    """get_old_pmd() (v6.6): the old PMD entry, or None if it (or any entry above it) is none."""
    pud = get_old_pud(pt, addr)
    if pud is None:
        return None
    pmd = pt.child_offset(pud, addr, 1)  # pmd_offset(); a table the move may write
    if pmd[1] not in pmd[0]:  # pmd_none()
        return None
    return pmd


def alloc_new_pud(pt: PageTables, addr: int):
    """alloc_new_pud() (v6.6): p4d_alloc + pud_alloc, so the PGD entry for addr becomes present."""
    return pt.offset(addr, 2, alloc=True)


def alloc_new_pmd(pt: PageTables, addr: int):
    """alloc_new_pmd() (v6.6): also pmd_alloc, so the PUD entry becomes present even if nothing moves in."""
    table, i = pud = alloc_new_pud(pt, addr)
    if i not in table:  # pmd_alloc()
        table[i] = pt._new_table(1)
    return pt.child_offset(pud, addr, 1)


def pte_alloc(pt: PageTables, pmd) -> None:
    """pte_alloc() (v6.6): give a none PMD entry a new, empty PTE table; a present one is left alone."""
    table, i = pmd
    if i not in table:
        table[i] = pt._new_table(0)


# ---- the movers ----------------------------------------------------------------------------------

def _arch_supports_page_table_move(pmc: PagetableMoveControl) -> bool:
    """arch_supports_page_table_move() (generic, v6.6): HAVE_MOVE_PMD || HAVE_MOVE_PUD."""
    return pmc.have_move_pmd or pmc.have_move_pud


def _move_normal(pmc: PagetableMoveControl, old_entry, new_entry) -> bool:
    """The body move_normal_pmd() and move_normal_pud() share: refuse, or move the entry whole."""
    if not _arch_supports_page_table_move(pmc):
        return False
    if new_entry[1] in new_entry[0]:  # WARN_ON_ONCE(!pXd_none(*new_pXd))
        return False
    pmc.pt.move_table_entry(old_entry, new_entry)  # pXd = *old; pXd_clear(old); pXd_populate(new, pXd)
    return True


def move_normal_pud(pmc: PagetableMoveControl, old_pud, new_pud) -> bool:
    """move_normal_pud() (v6.6): move a whole PUD entry unless the destination entry is present."""
    return _move_normal(pmc, old_pud, new_pud)


def move_normal_pmd(pmc: PagetableMoveControl, old_pmd, new_pmd) -> bool:
    """move_normal_pmd() (v6.6): move a whole PMD entry unless the destination entry is present.

    The kernel's comment: the destination should have been freed, except that execve() moves the
    stack down onto itself, and a move that began page by page leaves the old PMD entry present
    but empty. "Warn on it once ... then say 'I won't move this pmd'."
    """
    return _move_normal(pmc, old_pmd, new_pmd)


def move_huge_pmd(pmc: PagetableMoveControl, old_pmd, new_pmd) -> bool:
    """move_huge_pmd() (mm/huge_memory.c): move a huge PMD leaf whole, unless the destination entry is not none.

    No arch_supports_page_table_move() and no CONFIG_HAVE_MOVE_PMD here: a THP kernel moves huge leaves on
    every architecture and release. Until 6.5 the refusal was WARN_ON(!pmd_none(*new_pmd)) (every time, not
    once); Hugh Dickins' "mm/mremap: retry if either pte_offset_map_*lock() fails" (6.5) made it silent.
    The kernel flushes [old, old + PMD_SIZE) with flush_pmd_tlb_range() (on x86 the generic flush_tlb_range())."""
    if new_pmd[1] in new_pmd[0]:  # !pmd_none(*new_pmd)
        return False
    pmc.pt.move_table_entry(old_pmd, new_pmd)  # pmdp_huge_get_and_clear(old) + set_pmd_at(new); the deposit follows
    return True


def split_huge_pmd(pmc: PagetableMoveControl, old_pmd, addr: int) -> None:
    """split_huge_pmd() (mm/huge_memory.c) of an anonymous THP: the PMD now points to a PTE table mapping the
    same frames (pmdp_invalidate() flushes the huge page's range first: MoveResult.tlb_flushes has it), and
    the loop goes on to move_ptes()."""
    pmc.pt.split_huge_pmd(addr)


def move_ptes(pmc: PagetableMoveControl, extent: int, old_pmd, new_pmd, old_addr: int, new_addr: int):
    """move_ptes() (v6.6): move each present PTE of the extent and clear its source, one page at a time.

    The PTE table itself stays behind, so the old PMD entry is still present, now empty.
    Returns (PTEs moved, PTEs overwritten at the destination: always none in a real kernel mode).
    """
    pt = pmc.pt
    (src, i), (dst, j) = pt.child_offset(old_pmd, old_addr, 0), pt.child_offset(new_pmd, new_addr, 0)  # pte_offset_map()
    return move_pte_range(src, i, dst, j, extent >> pmc.page_shift, new_addr, pmc.page_size)


# ---- realignment (6.7+) ----------------------------------------------------------------------------

def can_align_down(pmc: PagetableMoveControl, vma, addr_to_align: int, mask: int) -> tuple[bool, str, str]:
    """can_align_down() (v6.7): may the move start at addr_to_align & mask without touching another mapping?

    Returns (ok, reason code, sentence): "not-start" or "blocked" when it may not."""
    addr_masked = addr_to_align & mask
    # Not the start of its VMA: aligning down would move (or overwrite) the VMA's own lower part.
    if not pmc.for_stack and vma.start != addr_to_align:
        return False, "not-start", f"{addr_to_align:#x} is not the start of its VMA {vma}"
    # The stack VMA has been expanded to span both ranges, so aligning inside it is fine.
    if pmc.for_stack and addr_masked >= vma.start:
        return True, "", ""
    blocker = pmc.mm.find_vma_intersection(addr_masked, vma.start)
    if blocker is not None:
        return False, "blocked", f"{blocker} is mapped in [{addr_masked:#x}, {vma.start:#x})"
    return True, "", ""


# Why realignment did or did not happen: MoveResult.realign_reason is one of these codes.
REALIGN_REASONS = {
    "realigned": "realigned: nothing is mapped below old or new in their PMDs",
    "unchecked": "expanded WITHOUT can_align_down() (Linus' unchecked proposal, not the kernel)",
    "kernel": "this kernel has no realignment (it came in 6.7)",
    "empty": "nothing to move",
    "efault-positive": "5.16/5.17: nothing is mapped at old_addr, and mremap() returned 0xe without moving",
    "guard": "the move does not reach the next PMD boundary (the length guard)",
    "aligned": "old is already PMD-aligned",
    "mutual": "old and new are not mutually aligned",
    "old-not-start": "old is not the start of its VMA",
    "new-not-start": "new is not the start of its VMA",
    "old-blocked": "something is mapped below old in its PMD",
    "new-blocked": "something is mapped below new in its PMD",
}


def can_realign_addr(pmc: PagetableMoveControl, mask: int) -> tuple[bool, str, str]:
    """can_realign_addr() (v6.15; in 6.7-6.14 the same checks, in the same order, split between
    move_page_tables() and try_realign_addr()). Returns (ok, reason code, sentence)."""
    size = ~mask + 1
    old_align = pmc.old_addr & ~mask
    guard = size - old_align  # old_align_next
    if pmc.len_in < guard:  # the move does not reach the next PMD boundary: nothing to gain
        return False, "guard", f"length guard: len {pmc.len_in:#x} < {guard:#x}, the move does not reach " \
                               f"the next PMD boundary"
    if old_align == 0:
        return False, "aligned", ("old is already PMD-aligned" if pmc.new_addr & ~mask
                                  else "old and new are already PMD-aligned")
    if old_align != pmc.new_addr & ~mask:
        return False, "mutual", f"not mutually aligned: (old ^ new) & (PMD_SIZE-1) = " \
                                f"{(pmc.old_addr ^ pmc.new_addr) & ~mask:#x}"
    if pmc.unchecked:
        return True, "unchecked", REALIGN_REASONS["unchecked"]
    for side, vma, addr in (("old", pmc.old, pmc.old_addr), ("new", pmc.new, pmc.new_addr)):
        ok, code, why = can_align_down(pmc, vma, addr, mask)
        if not ok:
            return False, f"{side}-{code}", f"cannot align {side} down: {why}"
    return True, "realigned", REALIGN_REASONS["realigned"]


def try_realign_addr(pmc: PagetableMoveControl, mask: int) -> tuple[bool, str, str]:
    """try_realign_addr() (v6.7): lower old_addr and new_addr to the PMD boundary; old_end stays."""
    ok, code, why = can_realign_addr(pmc, mask)
    if ok:
        pmc.old_addr &= mask
        pmc.new_addr &= mask
    return ok, code, why


def pmc_progress(pmc: PagetableMoveControl) -> int:
    """pmc_progress() (v6.15): bytes of the caller's range done, never negative after realignment."""
    orig_old_addr = pmc.old_end - pmc.len_in
    return 0 if pmc.old_addr < orig_old_addr else pmc.old_addr - orig_old_addr


# ---- the loop ------------------------------------------------------------------------------------

def move_page_tables(mm, old_addr: int, new_addr: int, length: int, kernel: str = NEWEST,
                     for_stack: bool = False, *, have_move_pmd: bool | None = None,
                     have_move_pud: bool | None = None,
                     unchecked_expansion: bool = False, old_vma=None, new_vma=None,
                     operation: str = "move_page_tables", first_step: int = 0) -> MoveResult:
    """move_page_tables() (v4.20-v6.18, by `kernel`): move the page tables of [old, old+len) to new.

    `old_vma`/`new_vma` default to the VMAs that contain the two ranges. have_move_pmd/have_move_pud
    (CONFIG_HAVE_MOVE_PMD/PUD) default to what `kernel` has. `unchecked_expansion` realigns without
    can_align_down(): Linus' first proposal, NOT what any kernel does.
    """
    k = Kernel.parse(kernel)
    geo = mm.geometry
    _check_move_args(mm, old_addr, new_addr, length)
    old_vma = old_vma or mm.find_vma(old_addr)
    new_vma = new_vma or mm.find_vma(new_addr)
    if length and (old_vma is None or new_vma is None):
        raise ValueError("move_page_tables() moves between mapped ranges: map both first (mm.mremap() does)")
    pmc = PagetableMoveControl(mm, old_vma, new_vma, old_addr, old_addr + length, new_addr, length, for_stack,
                               k, k.move_pmd(geo.arch) if have_move_pmd is None else have_move_pmd,
                               k.move_pud(geo.arch) if have_move_pud is None else have_move_pud, unchecked_expansion)
    pt = mm.pt
    before, allocated0 = pt.clone(), pt.allocated
    realigned, code, check = False, "kernel", f"kernel {k} has no realignment (it came in 6.7)"
    if length and (k.realigns or unchecked_expansion):
        realigned, code, check = try_realign_addr(pmc, ~(geo.pmd_size - 1))
    elif not length:
        code, check = "empty", REALIGN_REASONS["empty"]
    start_old, start_new = pmc.old_addr, pmc.new_addr
    events = _loop(pmc, first_step)
    moved = pmc_progress(pmc)
    result = MoveResult(geo, str(k), operation, old_addr, new_addr, length, start_old, start_new, realigned,
                        check, for_stack, unchecked_expansion, moved, events, before, pt.clone(),
                        vmas=mm.vmas, tables_allocated=pt.allocated - allocated0, realign_reason=code)
    if unchecked_expansion and operation == "move_page_tables":  # mremap() and relocate_vma_down() report
        result.damage = find_damage(result, mm)                     # it when their whole call is done
    return result


def _loop(pmc: PagetableMoveControl, first_step: int = 0) -> list[Event]:
    """The for loop of move_page_tables(), recording one Event per iteration (numbered from first_step)."""
    events: list[Event] = []
    vacated: dict[int, dict[int, int]] = {1: {}, 2: {}}  # level -> {slot: step that left that entry present but emptied}
    while pmc.old_addr < pmc.old_end:  # !pmc_done(pmc)
        events.append(_step(pmc, first_step + len(events), vacated))
        pmc.old_addr += events[-1].extent  # pmc_next()
        pmc.new_addr += events[-1].extent
    return events


def _step(pmc: PagetableMoveControl, step: int, vacated: dict) -> Event:
    """One iteration of the loop: try a PUD move, else a huge or normal PMD move, else move_ptes().

    The PUD step, by release (kernel.py): none before 5.11; in 5.11-5.13 get_old_pud() and alloc_new_pud()
    only when HAVE_MOVE_PUD && extent == PUD_SIZE; from 5.14 on every iteration, so a step that moves
    nothing may still allocate the destination's PUD table. With a folded PUD (3 levels, arm64 64K) the
    "PUD" is the PGD entry and PUD_SIZE is PGDIR_SIZE, as in the kernel: get_old_pud() returns the PGD
    entry and move_normal_pud() moves it."""
    pt, old, new = pmc.pt, pmc.old_addr, pmc.new_addr
    refused, causes = [], []
    if pmc.pud_step:
        extent = get_extent(NORMAL_PUD, pmc)
        try_pud = pmc.have_move_pud and extent == pmc.pud_size
        if try_pud or pmc.pud_lookup_every_step:
            old_pud = get_old_pud(pt, old)
            if old_pud is None:
                return Event(step, old, new, extent, PUD, "skipped")
            new_pud = alloc_new_pud(pt, new)
            if try_pud:
                if move_normal_pud(pmc, old_pud, new_pud):
                    return Event(step, old, new, extent, PUD, "moved", flush=(old, old + pmc.pud_size))
                refused.append(PUD)
                causes.append(_refusal_cause(PUD, new, pmc.pud_size, 2, vacated))
    extent = get_extent(NORMAL_PMD, pmc)
    old_pmd = get_old_pmd(pt, old)
    if old_pmd is None:
        if not pmc.extent_in_one_place:  # up to 5.8: `continue` with the extent still old's alone
            extent = _extent_of_old(pmc)
        return Event(step, old, new, extent, PMD, "skipped", refused=tuple(refused), cause="; ".join(causes))
    new_pmd = alloc_new_pmd(pt, new)
    split = huge_refused = False
    if isinstance(old_pmd[0][old_pmd[1]], HugePMD):  # is_swap_pmd() || pmd_trans_huge(): a huge leaf
        if extent == pmc.pmd_size:  # HPAGE_PMD_SIZE
            if move_huge_pmd(pmc, old_pmd, new_pmd):
                vacated[1].pop(old & pmc.pmd_mask, None)
                return Event(step, old, new, extent, PMD, "moved", refused=tuple(refused), cause="; ".join(causes),
                             flush=(old, old + pmc.pmd_size), huge=True)
            huge_refused = True
            causes.append("move_huge_pmd() refused: " + _refusal_cause(PMD, new, pmc.pmd_size, 1, vacated))
        split_huge_pmd(pmc, old_pmd, old)
        split = True
    elif pmc.have_move_pmd and extent == pmc.pmd_size:
        if move_normal_pmd(pmc, old_pmd, new_pmd):
            vacated[2][old & pmc.pud_mask] = step
            return Event(step, old, new, extent, PMD, "moved", refused=tuple(refused), cause="; ".join(causes),
                         flush=(old, old + pmc.pmd_size))
        refused.append(PMD)
        causes.append(_refusal_cause(PMD, new, pmc.pmd_size, 1, vacated))
    # The fallback. The old PMD entry cannot be none here: a refused move leaves it alone.
    pte_alloc(pt, new_pmd)
    n, _ = move_ptes(pmc, extent, old_pmd, new_pmd, old, new)
    vacated[1][old & pmc.pmd_mask] = step
    vacated[2][old & pmc.pud_mask] = step
    why = "; ".join(causes) if causes else (f"the extent ({extent:#x}) is not the whole huge page ({pmc.pmd_size:#x}): "
                                            f"split_huge_pmd() first" if split else _pte_reason(pmc, extent))
    # Positional, in Event's field order (step ... cause, flush, huge, split, huge_refused): keywords cost a
    # third more, and this is the event of every step of a page-wise move.
    return Event(step, old, new, extent, PTE, "moved", n, tuple(refused), why,
                 (old, old + extent) if n else None, split, split, huge_refused)


def _extent_of_old(pmc: PagetableMoveControl) -> int:
    """move_page_tables() up to 5.8: the extent before new_addr's PMD boundary cuts it (just before
    move_ptes()): to old_addr's next PMD boundary, or to old_end."""
    return extent(pmc.pmd_size, pmc.old_addr, pmc.old_end, pmc.old_addr)


def _refusal_cause(level: str, new: int, size: int, lvl: int, vacated: dict) -> str:
    """Why the destination entry was present: which earlier step emptied it, if one did."""
    step = vacated[lvl].get(new & ~(size - 1))
    if step is not None:
        return f"the destination {level} entry still holds the table emptied at step {step + 1}"  # from 1
    return f"the destination {level} entry is already present (it maps other pages)"


def _pte_reason(pmc: PagetableMoveControl, extent: int) -> str:
    """Why a step went to move_ptes() without any refusal (made once per extent of a move)."""
    why = pmc.reasons.get(extent)
    if why is None:
        why = pmc.reasons[extent] = _pte_reason_text(pmc, extent)
    return why


def _pte_reason_text(pmc: PagetableMoveControl, extent: int) -> str:
    if extent == pmc.pmd_size and not pmc.have_move_pmd:
        if not pmc.kernel.move_pmd(pmc.geo.arch):
            return f"kernel {pmc.kernel} does not select CONFIG_HAVE_MOVE_PMD for this architecture"
        return "CONFIG_HAVE_MOVE_PMD is off"
    return f"the extent ({extent:#x}) is not a whole PMD ({pmc.pmd_size:#x})"


def _check_move_args(mm, old_addr: int, new_addr: int, length: int) -> None:
    geo = mm.geometry
    check_ints(old_addr=old_addr, new_addr=new_addr, length=length)
    for name, v in (("old_addr", old_addr), ("new_addr", new_addr), ("length", length)):
        if v % geo.page_size:
            raise ValueError(f"{name} {v:#x} is not a multiple of PAGE_SIZE {geo.page_size:#x}")
    if max(old_addr, new_addr) + length > geo.task_size:
        raise ValueError(f"the move reaches past TASK_SIZE {geo.task_size:#x}")
    if new_addr > old_addr and new_addr < old_addr + length:
        raise ValueError("an overlapping move must go down (new < old): move_page_tables() walks low to high")


def merge_damage(parts: list[Damage]) -> Damage:
    """The damage of several moves as one (orphans are counted once: they are read from the final mm)."""
    return Damage(tuple(d for p in parts for d in p.dragged), tuple(c for p in parts for c in p.clobbered),
                  parts[-1].orphans)


def find_damage(result: MoveResult, mm) -> Damage:
    """Compare the tables before and after the loop: which pages outside the caller's range moved and
    which were overwritten; and, in `mm` as it is now, which pages are mapped where no VMA is."""
    before, after = result.before.pages(), result.after.pages()
    lo, hi = result.old_addr, result.old_addr + result.length
    where = {f: a for a, f in after.items()}
    dragged, clobbered = [], []
    for addr, frame in sorted(before.items()):
        if frame not in where:
            clobbered.append((addr, frame))
        elif not lo <= addr < hi and where[frame] != addr:
            dragged.append((addr, where[frame], frame))
    orphans = [(a, f) for a, f in sorted(mm.pt.pages().items()) if mm.find_vma(a) is None]
    return Damage(tuple(dragged), tuple(clobbered), tuple(orphans))
