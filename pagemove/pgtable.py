"""A sparse page-table tree.

Upper tables (PGD, PUD, PMD) are dicts from index to the next table, so a none entry is simply
absent and a 128 TiB address space costs nothing until it is used. PTE tables are numpy arrays of
frame numbers, 0 meaning pte_none. A PMD entry that points at an all-zero PTE table is *present but
empty*: that is the state move_ptes() leaves behind, and the state case (c) trips over.

A PMD entry may instead be a huge leaf (HugePMD, pmd_trans_huge() in Linux): it maps the whole PMD_SIZE
range itself, with consecutive frames, and there is no PTE table below it. (For an anonymous THP the
kernel keeps a preallocated PTE page "deposited" with the leaf, pgtable_trans_huge_deposit(), so that a
split never has to allocate; pagemove counts that page as allocated when the leaf is made, and a split
turns it into the leaf's PTE table.)

Snapshots are copy-on-write: clone() shares every table below the PGD with the original, and whichever side
writes a table first copies it (and the tables above it) for itself. So the before/after/final snapshots a move
keeps cost only what the move touches, and each stays exactly as it was taken. Writers reach tables
through table() (which hands out only tables this tree owns); readers use entry(), walk() and friends.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from .geometry import Geometry

try:  # the C function behind np.count_nonzero(), without its Python wrapper: half the cost on a PTE-table slice
    from numpy._core.multiarray import count_nonzero
except ImportError:  # numpy < 2
    from numpy.core.multiarray import count_nonzero

FRAME = np.int64  # frame numbers; 0 is "no page"
NO_CEILING = 1 << 64  # USER_PGTABLES_CEILING (0) read as "ULONG_MAX + 1"


@dataclass(frozen=True)
class HugePMD:
    """A huge PMD leaf (a transparent huge page mapped by one PMD entry): frames first, first + 1, ...,
    first + PTRS_PER_PTE - 1 for the base pages of its PMD_SIZE range, in address order."""

    first: int


class PageTables:
    """The page-table tree of one address space."""

    def __init__(self, geometry: Geometry):
        self.geo = geometry
        self.root: dict = {}  # the PGD
        self.allocated = 0  # page-table pages allocated so far (pte_alloc, pmd_alloc, ...)
        self.freed = 0  # page-table pages freed (free_pgd_range)
        # CONFIG_PGTABLE_LEVELS of the kernel: more than geometry.levels means a level folded at run time
        # (x86-64 built for 5 levels on a CPU without LA57): see _free_range() and p4d_free_tlb_calls.
        self.kernel_levels = geometry.levels
        self.p4d_free_tlb_calls: list[int] = []  # p4d_free_tlb() addresses that freed no table (run-time fold)
        self._own: set[int] = set()  # ids of the tables below the PGD that only this tree holds: it may write them
        g = geometry  # per target level, the walk from the PGD down: (shift, mask, level of the child table)
        self._paths = [tuple((g._shifts[lvl], g._masks[lvl], lvl - 1) for lvl in range(g.levels - 1, level, -1))
                       for level in range(g.levels)]
        self._shifts, self._masks = g._shifts, g._masks  # pXd_index() of each level, without a call
        # The walk cache: per level, {address >> that level's shift: the (table, index) offset() gave for it}.
        # A move walks to the same few PUD entries 4 times a step (get_old_pud, get_old_pmd, alloc_new_pud,
        # alloc_new_pmd, as the kernel does); a cached table is this tree's own and still linked where it was
        # found, so _forget() empties the cache whenever a table is unlinked, replaced or may be shared.
        # PTE entries (level 0) are not kept: a walk there rarely comes back to the same entry.
        self._walked: tuple[dict, ...] = tuple({} for _ in range(g.levels))
        self._none_ptes = np.zeros(g.entries, dtype=FRAME)  # new PTE tables copy it: twice as fast as np.zeros()

    # ---- walking ---------------------------------------------------------------------------------

    def _new_table(self, level: int):
        self.allocated += 1
        t = self._none_ptes.copy() if level == 0 else {}
        self._own.add(id(t))
        return t

    def table(self, addr: int, level: int, alloc: bool = False):
        """The level-`level` table that covers `addr` (a dict, or an array at level 0), or None; the tree's
        own, so the caller may write it (a table shared with a snapshot is copied first, with those above).

        With alloc=True every missing table on the way is allocated, like p4d_alloc/pud_alloc/
        pmd_alloc/pte_alloc do, which makes the entries above it present.
        """
        entry = self.offset(addr, level, alloc)
        return None if entry is None else entry[0]

    def offset(self, addr: int, level: int, alloc: bool = False):
        """The walk of pgd_offset(), p4d_offset(), ... down to level `level`: the level-`level` entry for addr as
        (table, index), the table as table() gives it; None if a table on the way is missing and alloc is False."""
        key = addr >> self._shifts[level]
        entry = self._walked[level].get(key)
        if entry is not None:  # walked before, and nothing unlinked since
            return entry
        own = self._own
        t = self.root  # never shared: clone() gives the snapshot a copy of it
        for shift, mask, below in self._paths[level]:
            i = (addr >> shift) & mask
            child = t.get(i)
            if child is None:
                if not alloc:
                    return None
                child = t[i] = self._new_table(below)
            elif id(child) not in own and not isinstance(child, HugePMD):  # a leaf is immutable: shared freely
                child = t[i] = child.copy()
                own.add(id(child))
            t = child
        entry = t, key & self._masks[level]
        if level:  # (a walk to level 0 may end at a huge leaf: never kept)
            self._walked[level][key] = entry
        return entry

    def _forget(self) -> None:
        """Empty the walk cache: a table was unlinked or replaced, or the tree was cloned."""
        for cache in self._walked:
            cache.clear()

    def child_offset(self, entry, addr: int, level: int):
        """pmd_offset(pud, addr) or pte_offset_map(pmd, addr): the level-`level` entry for addr in the table behind
        `entry` (a present (table, index) from offset()), as (table, index). That table is made this tree's own
        (copied first if a snapshot shares it), so the caller may write it."""
        parent, i = entry
        child = parent[i]
        if id(child) not in self._own and not isinstance(child, HugePMD):
            child = parent[i] = child.copy()
            self._own.add(id(child))
        return child, (addr >> self._shifts[level]) & self._masks[level]

    def _find(self, addr: int, level: int):
        """The level-`level` table that covers `addr`, or None, for reading only (nothing is copied)."""
        t = self.root
        shifts, masks = self.geo._shifts, self.geo._masks
        for lvl in range(self.geo.levels - 1, level, -1):
            t = t.get((addr >> shifts[lvl]) & masks[lvl])
            if t is None:
                return None
        return t

    def entry(self, addr: int, level: int):
        """The child table that the level-`level` entry for `addr` points to (level >= 1), or None.
        For reading: write through table()."""
        t = self._find(addr, level)
        return None if t is None else t.get(self.geo.index(addr, level))

    def present(self, addr: int, level: int) -> bool:
        """pXd_present() for level >= 1: is there a table behind this entry?"""
        return self.entry(addr, level) is not None

    def state(self, addr: int, level: int = 1) -> str:
        """The level-`level` entry for addr: "none", "present", or "present, EMPTY" (present, but the
        table it points to maps nothing: the state move_ptes() leaves a PMD entry in)."""
        child = self.entry(addr, level)
        if child is None:
            return "none"
        if isinstance(child, HugePMD):
            return "huge"
        return "present" if (child.any() if level == 1 else child) else "present, EMPTY"

    def empty(self, addr: int) -> bool:
        """True when the PMD entry for `addr` is present but its PTE table maps no page."""
        pte = self.entry(addr, 1)
        return isinstance(pte, np.ndarray) and not pte.any()

    def huge(self, addr: int) -> HugePMD | None:
        """The huge PMD leaf that maps addr, or None (pmd_trans_huge())."""
        leaf = self.entry(addr, 1)
        return leaf if isinstance(leaf, HugePMD) else None

    # ---- huge PMD leaves (transparent huge pages) ------------------------------------------------

    def set_huge(self, addr: int, first_frame: int) -> None:
        """Map the PMD_SIZE range at addr (PMD-aligned, its PMD entry none) with one huge leaf, as
        do_huge_pmd_anonymous_page() does; the deposited PTE page counts as allocated."""
        table, i = self.offset(addr, 1, alloc=True)
        assert addr % self.geo.pmd_size == 0 and i not in table, "set_huge on an unaligned or present PMD"
        table[i] = HugePMD(first_frame)
        self._forget()
        self.allocated += 1  # pte_alloc_one() + pgtable_trans_huge_deposit()

    def split_huge_pmd(self, addr: int) -> None:
        """__split_huge_pmd() of an anonymous THP: the leaf becomes a PTE table (the deposited page) whose
        entries map the same frames, so no page moves and nothing is allocated."""
        table, i = self.offset(addr, 1)
        leaf = table[i]
        table[i] = np.arange(leaf.first, leaf.first + self.geo.entries, dtype=FRAME)
        self._forget()
        self._own.add(id(table[i]))

    # ---- PTE ranges (vectorised one PTE table at a time) -----------------------------------------

    def _pte_chunks(self, start: int, end: int, alloc: bool = False):
        """Yield (pte_table or None, first index, last index + 1, chunk start) per PTE table."""
        g = self.geo
        a = start
        while a < end:
            nxt = min((a | (g.pmd_size - 1)) + 1, end)
            i0 = g.index(a, 0)
            yield self.table(a, 0, alloc), i0, i0 + (nxt - a) // g.page_size, a
            a = nxt

    def set_ptes(self, start: int, end: int, first_frame: int) -> int:
        """Give every none PTE in [start, end) a fresh frame, counting up from first_frame."""
        frame = first_frame
        for pte, i0, i1, _ in self._pte_chunks(start, end, alloc=True):
            hole = pte[i0:i1] == 0
            n = int(hole.sum())
            pte[i0:i1][hole] = np.arange(frame, frame + n, dtype=FRAME)
            frame += n
        return frame - first_frame

    def zap(self, start: int, end: int) -> int:
        """Clear the PTEs in [start, end) (zap_page_range); tables stay. Returns pages unmapped."""
        ps, pmd, n = self.geo.page_size, self.geo.pmd_size, 0
        for base, pte in list(self._pmd_entries_in(self.root, self.geo.levels - 1, 0, start, end)):
            lo, hi = start if start > base else base, end if end < base + pmd else base + pmd
            if isinstance(pte, HugePMD):
                if (lo, hi) == (base, base + pmd):  # zap_huge_pmd(): the entry becomes none
                    del self.table(base, 1)[self.geo.index(base, 1)]
                    self._forget()
                    self.freed += 1  # the deposited PTE page goes with it
                    n += self.geo.entries
                    continue
                self.split_huge_pmd(base)  # zap_pmd_range() splits a huge PMD it only partly covers
                pte = self.entry(base, 1)
            i0, i1 = (lo - base) // ps, (hi - base) // ps
            hit = int(count_nonzero(pte[i0:i1]))
            if hit:  # only a table that changes is made this tree's own
                self.table(base, 0)[i0:i1] = 0
                n += hit
        return n

    def _pmd_entries_in(self, table: dict, level: int, base: int, start: int, end: int):
        """(base address, PTE table or HugePMD) of every present PMD entry whose range meets [start, end),
        for reading."""
        size = self.geo.level_size(level)
        for i, child in table.items():
            cb = base + i * size
            if cb < end and cb + size > start:
                if level == 1:
                    yield cb, child
                else:
                    yield from self._pmd_entries_in(child, level - 1, cb, start, end)

    # ---- moving (the two primitives move_page_tables() is made of) -------------------------------

    def move_entry(self, level: int, old: int, new: int) -> None:
        """Move the level-`level` entry for `old` to `new` and clear the source (pmd_clear + pmd_populate).

        The destination table must exist and the destination entry must be none.
        """
        dst, j = self.offset(new, level)
        assert j not in dst, "move_entry onto a present entry"
        self.move_table_entry(self.offset(old, level), (dst, j))

    def move_table_entry(self, old_entry, new_entry) -> None:
        """Move the table behind one entry to another and clear the source; entries are (table, index)."""
        (old_table, i), (new_table, j) = old_entry, new_entry
        moved = new_table[j] = old_table.pop(i)
        if isinstance(moved, dict):  # a PMD (or higher) table: the cached walks through it now lead elsewhere.
            self._forget()  # (a PTE table or a huge leaf is never cached: every cached table stays where it was)

    def move_ptes(self, old: int, new: int, extent: int) -> tuple[int, list[tuple[int, int]]]:
        """Move the present PTEs of [old, old+extent) to new, clearing each source (ptep_get_and_clear).

        Both ranges lie inside one PTE table each. Returns (PTEs moved, [(address, frame) of
        present destination PTEs that were overwritten]); the kernel never overwrites one.
        """
        (src, i), (dst, j) = self.offset(old, 0), self.offset(new, 0)
        return move_pte_range(src, i, dst, j, extent // self.geo.page_size, new, self.geo.page_size)

    # ---- freeing (free_pgd_range in mm/memory.c) -------------------------------------------------

    def free_pgd_range(self, addr: int, end: int, floor: int, ceiling: int) -> int:
        """Mirrors free_pgd_range() (mm/memory.c, v6.6): free the tables of [addr, end) that lie
        wholly between floor and ceiling (0 = no ceiling). Returns how many tables were freed."""
        pmd_size = self.geo.pmd_size
        before = self.freed
        addr &= ~(pmd_size - 1)
        if addr < floor:
            addr += pmd_size
        if ceiling:
            ceiling &= ~(pmd_size - 1)
            if not ceiling:
                return 0
        else:
            ceiling = NO_CEILING
        if end - 1 > ceiling - 1:
            end -= pmd_size
        if addr > end - 1:
            return 0
        self._free_range(self.root, self.geo.levels - 1, addr, end, floor, ceiling)  # walks without offset()
        if self.freed != before:
            self._forget()
        return self.freed - before

    def _free_range(self, table: dict, level: int, addr: int, end: int, floor: int, ceiling: int):
        """free_p4d_range / free_pud_range / free_pmd_range / free_pte_range, for any level count.

        A kernel built for one level more than the MMU runs (x86-64 with CONFIG_PGTABLE_LEVELS=5: every
        6.17+ build, and earlier ones with X86_5LEVEL=y such as Debian's 6.1; on a CPU without LA57)
        folds the P4D at run time: pgd_none() is always false (pgtable_l5_enabled() is not), so
        free_pgd_range() calls free_p4d_range() for every top-level slot, present or not, and when the
        slot's whole range may go it runs p4d_free_tlb(). __p4d_free_tlb() frees nothing then, but the macro has already widened the
        mmu_gather by a page at the slot's start and set freed_tables (include/asm-generic/tlb.h, 6.18):
        the unmap flushes that page even if no table was freed. Each such call is logged in
        p4d_free_tlb_calls."""
        size, shift, mask = self.geo.level_size(level), self._shifts[level], self._masks[level]
        folded_p4d = level == self.geo.levels - 1 and self.kernel_levels > self.geo.levels
        a = addr
        while a != end:
            nxt = (a | (size - 1)) + 1  # pXd_addr_end()
            if nxt > end:
                nxt = end
            if folded_p4d:  # free_p4d_range(): its tail check, as for any table, then p4d_free_tlb()
                start, top = a & ~(size - 1), ceiling & ~(size - 1)
                if start >= floor and top and not nxt - 1 > top - 1:
                    self.p4d_free_tlb_calls.append(start)
            i = (a >> shift) & mask
            child = table.get(i)
            if child is not None and not isinstance(child, HugePMD):  # a leaf belongs to a live VMA
                if level == 1:  # free_pte_range(): the PTE table goes, whatever is left in it
                    del table[i]
                    self.freed += 1
                else:
                    self._free_range(self.child_offset((table, i), a, level - 1)[0], level - 1, a, nxt, floor, ceiling)
                    # ... then the child table itself, if the whole region it maps may go
                    start, top = a & ~(size - 1), ceiling & ~(size - 1)
                    if start >= floor and top and not nxt - 1 > top - 1:
                        del table[i]
                        self.freed += 1
            a = nxt

    # ---- reading ---------------------------------------------------------------------------------

    def walk(self) -> Iterator[tuple[int, int, int, object]]:
        """Every present entry at levels >= 1, depth first: (level, index, base address, child)."""
        yield from self._walk(self.root, self.geo.levels - 1, 0)

    def _walk(self, table, level, base):
        size = self.geo.level_size(level)
        for i in sorted(table):
            child = table[i]
            yield level, i, base + i * size, child
            if level > 1:
                yield from self._walk(child, level - 1, base + i * size)

    def pte_tables(self) -> Iterator[tuple[int, np.ndarray]]:
        """(base address, PTE table) for every PMD entry that points to a PTE table, in address order."""
        for level, _, base, child in self.walk():
            if level == 1 and isinstance(child, np.ndarray):
                yield base, child

    def pmd_entries(self, start: int, end: int) -> list[tuple[int, object]]:
        """(base address, PTE table or HugePMD) of every present PMD entry whose range meets [start, end), in
        address order: what a drawing of that range reads, without walking the rest of the tree."""
        return sorted(self._pmd_entries_in(self.root, self.geo.levels - 1, 0, start, end), key=lambda e: e[0])

    def huge_leaves(self) -> Iterator[tuple[int, HugePMD]]:
        """(base address, leaf) for every huge PMD leaf, in address order."""
        for level, _, base, child in self.walk():
            if level == 1 and isinstance(child, HugePMD):
                yield base, child

    def pages(self) -> dict[int, int]:
        """{virtual page address: frame} for every base page mapped, by a PTE or inside a huge leaf."""
        out: dict[int, int] = {}
        ps, n = self.geo.page_size, self.geo.entries
        for level, _, base, child in self.walk():
            if level != 1:
                continue
            if isinstance(child, HugePMD):
                out.update(zip(range(base, base + n * ps, ps), range(child.first, child.first + n)))
                continue
            idx = np.flatnonzero(child)
            out.update(zip((base + idx * ps).tolist(), child[idx].tolist()))
        return out

    def clone(self) -> PageTables:
        """A snapshot (counters included), in O(PGD entries): it shares every table below the PGD, and from now
        on neither tree writes a shared table in place (table() copies it first), so each side stays exactly as
        it is. The PGD itself is copied, so each tree always owns its own and walks need not check it."""
        other = PageTables(self.geo)
        other.root = dict(self.root)
        other.allocated, other.freed = self.allocated, self.freed
        other.kernel_levels, other.p4d_free_tlb_calls = self.kernel_levels, list(self.p4d_free_tlb_calls)
        self._own = set()  # other's is empty from __init__
        self._forget()  # every table is shared now: the next write copies it
        return other

    def __eq__(self, other) -> bool:
        """Same tree shape (present entries, empty tables included) and same frames."""
        return isinstance(other, PageTables) and self.geo == other.geo and _same(self.root, other.root)

    __hash__ = None  # mutable

    def __repr__(self) -> str:
        tables = sum(1 for _ in self.walk())
        return f"<PageTables {self.geo.name}: {tables} tables below the PGD>"


def move_pte_range(src: np.ndarray, i: int, dst: np.ndarray, j: int, n: int, new: int, page_size: int):
    """Move the non-none entries of src[i:i+n] to dst[j:j+n] and clear them in src.

    Returns (entries moved, [(address, frame) of present destination entries overwritten])."""
    source, target = src[i:i + n], dst[j:j + n]
    # the usual case: an empty destination in another table (count_nonzero: a quarter of .any()'s cost)
    if src is not dst and not count_nonzero(target):
        moved = int(count_nonzero(source))
        target[...] = source  # the none entries copied are none at the destination already
        source.fill(0)
        return moved, []
    vals = source.copy()
    present = vals != 0
    src[i:i + n] = 0  # downward overlap in one table is safe: a slot is vacated before it is written
    hit = present & (target != 0)
    clobbered = [(new + int(k) * page_size, int(target[k])) for k in np.flatnonzero(hit)] if hit.any() else []
    np.copyto(target, vals, where=present)
    return int(np.count_nonzero(present)), clobbered


def _same(a, b) -> bool:
    if a is b:  # a table two snapshots still share
        return True
    if isinstance(a, HugePMD) or isinstance(b, HugePMD):
        return a == b
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and np.array_equal(a, b)
    return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
