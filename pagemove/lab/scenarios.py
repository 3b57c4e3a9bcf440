"""The lab's scenarios, and the one address-space layout the real process and the engine share.

Every scenario is a move mremap(old, len, len, MREMAP_MAYMOVE|MREMAP_FIXED, new) with old and new given
as offsets from two anchors; Layout places the anchors inside the lab's reservation. Names follow
real-kernel.md: a (PMD-aligned), b (not mutually aligned), c (mutually aligned, nothing below: 6.7+
realigns), d (c with a blocker), p (PUD-aligned), guard (the length guard) and thp (transparent huge
pages, MADV_HUGEPAGE).
"""

from __future__ import annotations

from dataclasses import dataclass

PAGE, PMD, PUD = 0x1000, 0x200000, 0x40000000
KiB, MiB, GiB = 1 << 10, 1 << 20, 1 << 30
SIZES = {"2M": PMD + PAGE, "64M": 64 * MiB, "1G": GiB}  # the size classes; "2M" is 2 MiB + 4 KiB
GROUPS = (*SIZES, "guard", "thp")
DEFAULT_REPS = {"2M": 201, "guard": 201, "thp": 51, "64M": 101, "1G": 31}
QUICK_REPS = {"2M": 51, "guard": 51, "thp": 11, "64M": 11, "1G": 5}
SLACK = 4 * MiB  # each window starts this far below its anchor, so the PMD below any old/new is empty
PMD_AT = 4 * MiB  # "PMD-aligned" scenarios sit here: PMD-aligned, deliberately not PUD-aligned
ENGINE_BASE = 0x200000000000  # where the lab reserves (and the engine models) its address space
GUARD_OFFSETS = (0x100000, 0x1e0000)
C_OFFSETS = (0x1000, 0x100000, 0x1ff000)


@dataclass(frozen=True)
class Scenario:
    """One mremap to time: offsets of old/new from the source/destination anchors, and what blocks."""

    name: str
    group: str  # "2M", "64M", "1G" (size classes), "guard" or "thp"
    case: str  # a, b, c, d, p (real-kernel.md's A-D, P); guard-c, guard-d, guard-a
    old: int  # offset of old from the source anchor
    new: int  # offset of new from the destination anchor
    length: int
    blocker: str = ""  # "": none; "old"/"new": a 1-page PROT_READ VMA at old/new & PMD_MASK;
    #                    "sub": the source VMA starts a page below old; "resv": PROT_NONE [old & PMD_MASK, old)
    twin: str = ""  # the scenario that differs only by a blocker, for the timing inference
    huge: bool = False  # the source is MADV_HUGEPAGE (else MADV_NOHUGEPAGE): transparent huge pages
    populated: int | None = None  # bytes written from the source VMA's start (None: all of it)


def size_label(n: int) -> str:
    """4 KiB-granular byte counts as the scenario names write them: 1G, 64M, 2M+4K, 1020K."""
    if n % GiB == 0:
        return f"{n // GiB}G"
    if n % MiB == 0:
        return f"{n // MiB}M"
    if n > MiB and n % MiB == PAGE:
        return f"{n // MiB}M+4K"
    return f"{n // KiB}K"


def size_scenarios(size: str) -> list[Scenario]:
    """Cases (a), (b), (c) at three offsets, (c) blocked by blockers, and (1 GiB only) a PUD move."""
    n, label = SIZES[size], size_label(SIZES[size])
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


def thp_scenarios() -> list[Scenario]:
    """Transparent huge pages (MADV_HUGEPAGE, populated): whole huge PMDs, splits, and realignment.

    thp a: old, new PMD-aligned, two huge pages: move_huge_pmd() moves each whole.
    thp b: old aligned, new at +0x1000: not mutually aligned, so each huge PMD is split first.
    thp c: one base page, then one huge page, old and new at offset 0x1ff000: realigned, so the
           base page travels in a whole (normal) PMD move and the huge one moves whole.
    thp d: the same with a blocker below old: the base page moves alone, then the huge PMD."""
    at, n = PMD_AT, PMD + PAGE
    return [Scenario("thp a aligned 4M", "thp", "a", at, at, 2 * PMD, huge=True),
            Scenario("thp b 0x0->0x1000 4M", "thp", "b", at, at + 0x1000, 2 * PMD, huge=True),
            Scenario("thp c 0x1ff000 2M+4K", "thp", "c", at + 0x1ff000, at + 0x1ff000, n,
                     twin="thp d 0x1ff000 blkold 2M+4K", huge=True),
            Scenario("thp d 0x1ff000 blkold 2M+4K", "thp", "d", at + 0x1ff000, at + 0x1ff000, n, "old",
                     twin="thp c 0x1ff000 2M+4K", huge=True)]


def scenarios(sizes=("2M",), guard: bool = True, thp: bool = True) -> list[Scenario]:
    """The scenarios for the chosen size classes (in SIZES order), plus the guard and THP sets."""
    bad = [s for s in sizes if s not in SIZES]
    if bad:
        raise ValueError(f"unknown size class {bad[0]!r}: choose from {list(SIZES)}")
    out = [sc for s in SIZES if s in sizes for sc in size_scenarios(s)]
    return out + (guard_scenarios() if guard else []) + (thp_scenarios() if thp else [])


def huge_pages_expected(start: int, length: int, pmd: int = PMD) -> int:
    """How many PMD-sized huge pages a populated MADV_HUGEPAGE VMA [start, start+length) gets: one per
    PMD-aligned 2 MiB block wholly inside it (thp_vma_suitable_order(), mm/huge_memory.c)."""
    first = -(-start // pmd) * pmd
    return max(0, (start + length - first) // pmd)


@dataclass(frozen=True)
class Layout:
    """The reservation [base, base+size): a source window, a destination window and a settle page are
    holes in it; the rest stays a PROT_NONE guard (and, being a VMA, is modelled in the engine too)."""

    base: int  # PUD-aligned
    window: int  # bytes above each anchor, a multiple of PUD_SIZE
    # Another geometry's sizes (the VM lab): `pud` is the anchors' spacing, PUD_SIZE unless the address
    # space is too small for that (i386); `slack` must cover the PMD below each anchor.
    pud: int = PUD
    pmd: int = PMD
    page: int = PAGE
    slack: int = SLACK

    @classmethod
    def for_scenarios(cls, scs, base: int = ENGINE_BASE, **sizes) -> Layout:
        pud = sizes.get("pud", PUD)
        reach = max(max(s.old, s.new) + s.length for s in scs)
        return cls(base, -(-reach // pud) * pud, **sizes)

    @property
    def size(self) -> int:
        return 3 * self.pud + 2 * self.window

    @property
    def src_anchor(self) -> int:
        return self.base + self.pud

    @property
    def dst_anchor(self) -> int:
        return self.base + 2 * self.pud + self.window

    @property
    def settle(self) -> int:
        return self.base + self.pud // 2

    def holes(self) -> list[tuple[int, int]]:
        """[start, end) ranges the lab unmaps from its reservation and works in."""
        return [(self.settle, self.settle + self.page),
                (self.src_anchor - self.slack, self.src_anchor + self.window),
                (self.dst_anchor - self.slack, self.dst_anchor + self.window)]

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
        extra = self.page if sc.blocker == "sub" else 0
        return self.old(sc) - extra, sc.length + extra

    def blockers(self, sc: Scenario) -> list[tuple[int, int, str]]:
        """(start, length, prot) of the blocking VMAs the scenario maps (never populated)."""
        old, new, pmd_mask = self.old(sc), self.new(sc), ~(self.pmd - 1)
        if sc.blocker == "old":
            return [(old & pmd_mask, self.page, "r")]
        if sc.blocker == "new":
            return [(new & pmd_mask, self.page, "r")]
        if sc.blocker == "resv":
            return [(old & pmd_mask, old - (old & pmd_mask), "none")]
        return []
