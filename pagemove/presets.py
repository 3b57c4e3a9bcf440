"""Named teaching cases: the seed's examples, in the x86-64 geometry and scaled down to the tiny one.

Notebooks, the explorer and the dashboard pick cases by these names, so "c-overlap" is the same move
everywhere. Every case is a plain description; run() hands it to scenario.simulate().

In the tiny geometry (8 entries per table, PMD_SIZE 0x8000) each case keeps the x86-64 shape: the
same number of PMDs, the same "one page short of a PMD boundary" offsets, so every PTE can be drawn.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

from .scenario import GEOMETRIES, geometry_of, simulate
from .trace import MoveResult


@dataclass(frozen=True)
class Preset:
    """One move to show: map [old, old+length) populated (and the blockers read-only), then move it to new."""

    name: str
    title: str
    old: int
    new: int
    length: int
    kernel: str = "6.6"
    stack: bool = False  # True: execve's stack shift (relocate_vma_down by old - new); False: mremap
    geometry: str = "x86_64"  # a name in scenario.GEOMETRIES
    blockers: tuple[tuple[int, int], ...] = ()  # (start, length) of other mappings, read-only
    description: str = ""
    thp: bool = False  # the moved VMA is THP-eligible: its whole aligned PMDs are huge pages

    def run(self, **changes) -> MoveResult:
        """Simulate this case; keyword arguments override fields first (e.g. kernel="6.7")."""
        p = replace(self, **changes) if changes else self
        return simulate(p.old, p.new, p.length, kernel=p.kernel, stack=p.stack, geometry=p.geometry,
                        blockers=p.blockers, thp=p.thp)

    @property
    def values(self) -> dict:
        """The fields the explorer's controls show (MoveExplorer.set(**preset.values))."""
        return {"old": self.old, "new": self.new, "length": self.length, "kernel": self.kernel,
                "stack": self.stack, "geometry": self.geometry, "thp": self.thp}


def _x86_and_tiny(name: str, title: str, description: str, x86: dict, tiny: dict) -> list[Preset]:
    """The same teaching case in both geometries: `name` (x86-64) and `tiny-name`.

    The description is a template: {old}, {new}, {length}, {pmd} (PMD_SIZE), {ptes} (PTEs per table),
    {old_down}/{new_down} (aligned down to a PMD) and {grown} (the length after that expansion) are filled
    in per geometry, so each version quotes its own numbers.
    """
    def make(preset_name, preset_title, geometry, values):
        geo = geometry_of(geometry)
        pmd, old, new, length = geo.pmd_size, values["old"], values["new"], values["length"]
        text = description.format(old=f"{old:#x}", new=f"{new:#x}", length=f"{length:#x}", pmd=f"{pmd:#x}",
                                  ptes=geo.entries, old_down=f"{old & -pmd:#x}", new_down=f"{new & -pmd:#x}",
                                  grown=f"{length + (old - (old & -pmd)):#x}")
        return Preset(preset_name, preset_title, description=text, geometry=geometry, **values)

    return [make(name, title, "x86_64", x86), make(f"tiny-{name}", f"{title} (tiny geometry)", "tiny", tiny)]


_CASES = [
    _x86_and_tiny(
        "a", "Case (a): both ends PMD-aligned",
        "Old and new start on a PMD boundary and the length is a whole number of PMDs, so every step moves "
        "one whole PMD entry: the PTE table changes owner in one pointer write and no PTE is touched. Both "
        "kernels do the same.",
        dict(old=0x20000000, new=0x30000000, length=0x400000),
        dict(old=0x20000, new=0x30000, length=0x10000)),
    _x86_and_tiny(
        "b", "Case (b): new is one page off a PMD boundary",
        "Old is PMD-aligned but new is not, so no PMD entry can be moved whole: move_ptes() copies every "
        "present PTE one at a time, and each source PMD entry is left present but pointing to an empty "
        "table. Both kernels do the same.",
        dict(old=0x20000000, new=0x30001000, length=0x400000),
        dict(old=0x20000, new=0x31000, length=0x10000)),
    _x86_and_tiny(
        "c", "Case (c): mutually aligned, no overlap",
        "Old and new are both one page below a PMD boundary (the same offset inside their PMDs). 6.6 moves "
        "the first page with move_ptes(), then one whole PMD. 6.7's try_realign_addr() sees nothing mapped "
        "below either address in its PMD, moves both starts down to the boundary, and does two whole PMD "
        "moves.",
        dict(old=0x1fff000, new=0x0fff000, length=0x201000),
        dict(old=0x27000, new=0x17000, length=0x9000)),
    _x86_and_tiny(
        "c-overlap", "Case (c) with overlap: the execve stack shift that WARNs on 6.6",
        "The stack VMA moves down by exactly one PMD, so the destination overlaps the source. On 6.6 the "
        "first step moves one page and leaves its source PMD entry present but empty; the next step's "
        "destination is that very entry, so move_normal_pmd() hits WARN_ON_ONCE(!pmd_none(*new_pmd)) and "
        "falls back to {ptes} single-PTE moves. 6.7 realigns and moves two whole PMDs.",
        dict(old=0x1fff000, new=0x1dff000, length=0x201000, stack=True),
        dict(old=0x27000, new=0x1f000, length=0x9000, stack=True)),
    _x86_and_tiny(
        "cascade", "The refusal cascade: one WARN per PMD on 6.6",
        "The same one-PMD stack shift over three more PMDs. On 6.6 every whole-PMD step finds the entry the "
        "previous step emptied and is refused: 3 refusals (the WARN prints once), and every page moves "
        "one PTE at a time. 6.7 realigns and does 4 whole PMD moves.",
        dict(old=0x1fff000, new=0x1dff000, length=0x601000, stack=True),
        dict(old=0x27000, new=0x1f000, length=0x19000, stack=True)),
    _x86_and_tiny(
        "linus", "Linus' expansion: what 6.7 does with case (c) with overlap",
        "The layout of case (c) with overlap, on 6.7. Linus proposed to expand a misaligned move down to the "
        "PMD boundary when nothing else is mapped there: old {old} becomes {old_down}, new {new} "
        "becomes {new_down}, and the length grows to {grown}. Moving the extra, empty part costs nothing, "
        "and now both ends are aligned: two whole PMD moves, no refusal. try_realign_addr() is that idea "
        "with can_align_down()'s checks.",
        dict(old=0x1fff000, new=0x1dff000, length=0x201000, stack=True, kernel="6.7"),
        dict(old=0x27000, new=0x1f000, length=0x9000, stack=True, kernel="6.7")),
    _x86_and_tiny(
        "c-guard", "The guard: something mapped below old stops the realignment",
        "Case (c) without overlap, plus a one-page read-only mapping at the PMD boundary below old. Moving "
        "from the boundary would drag that page along, so 6.7's can_align_down() refuses to realign and 6.7 "
        "does exactly what 6.6 does: one PTE, then one whole PMD.",
        dict(old=0x1fff000, new=0x0fff000, length=0x201000, kernel="6.7", blockers=((0x1e00000, 0x1000),)),
        dict(old=0x27000, new=0x17000, length=0x9000, kernel="6.7", blockers=((0x20000, 0x1000),))),
]

_P64 = 0x20000000  # arm64 64K: PMD_SIZE is 512 MiB, a page 64 KiB
_OTHER = [
    Preset("arm64_64k-c-overlap", "Case (c) with overlap on arm64 with 64K pages (a 512 MiB PMD)",
           2 * _P64 - 0x10000, _P64 - 0x10000, _P64 + 0x10000, stack=True, geometry="arm64_64k",
           description="The seed's overlapping stack shift scaled to a 512 MiB PMD: the stack [0x3fff0000, "
                       "0x60000000) moves down by one PMD. The rule is the same at every page size: 6.6 moves one "
                       "page, then the whole-PMD step finds the entry it just emptied and WARNs, falling back to "
                       "8192 single-PTE moves. 6.7 realigns and moves two whole PMD entries. A scaled-up "
                       "illustration: a real execve() stack holds at most 6 MiB of arguments and environment when "
                       "it is shifted, far less than a 512 MiB PMD, so on 64K pages the exec path never meets it."),
    Preset("thp-a", "THP: huge pages moved whole", 0x40000000, 0x80000000, 0x400000, thp=True,
           description="Two huge pages (THP), PMD-aligned at both ends: each step finds a huge PMD leaf whose "
                       "extent is a whole PMD, and move_huge_pmd() moves that one entry. No PTE table exists "
                       "below a huge leaf, so nothing else moves."),
    Preset("thp-b", "THP: new one page off a PMD boundary, so every huge page is split", 0x40000000, 0x80001000,
           0x400000, thp=True,
           description="The same two huge pages moved to one page past a PMD boundary: no extent is a whole PMD, "
                       "so the loop calls split_huge_pmd() on each huge leaf (it becomes a PTE table) and "
                       "move_ptes() moves its 512 PTEs one at a time, as in case (b)."),
    Preset("thp-c", "THP: case (c), the first whole PMD a huge page", 0x1fff000, 0x0fff000, 0x201000, thp=True,
           description="Case (c) without overlap, the mapping THP-eligible: its one whole, aligned PMD is a huge "
                       "page, the page below it a base page. 6.6 moves that page with move_ptes(), then the huge "
                       "page with move_huge_pmd(). 6.7 realigns: a PMD move carries the base page's PTE table, "
                       "then the huge page moves whole."),
]

# x86-64 cases first, then their tiny twins, each in teaching order; then the other machines and THP.
PRESETS: dict[str, Preset] = {p.name: p for p in [x86 for x86, _ in _CASES] + [tiny for _, tiny in _CASES] + _OTHER}


def twin(name: str, geometry: str) -> str | None:
    """The name of the same case in `geometry` ("c" -> "tiny-c" for "tiny"), or None if there is none."""
    base = next((name.removeprefix(f"{g}-") for g in GEOMETRIES if name.startswith(f"{g}-")), name)
    for candidate in (base, f"{geometry}-{base}"):
        if candidate in PRESETS and PRESETS[candidate].geometry == geometry:
            return candidate
    return None
