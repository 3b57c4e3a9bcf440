"""One-call moves: build the address space a move needs, run it, return the MoveResult.

The command line, the explorer widget, the exercises and the notebooks all start here, so a
"case (c) with overlap" means the same layout everywhere.
"""

from __future__ import annotations

from .geometry import Geometry
from .kernel import NEWEST
from .mm import AddressSpace
from .trace import MoveResult

# Every geometry a UI offers (explorer, CLI, exercises), by its name: the list is kept here only.
GEOMETRIES = {"tiny": Geometry.tiny, "x86_64": Geometry.x86_64, "x86_64_5level": Geometry.x86_64_5level,
              "i386_pae": Geometry.i386_pae, "arm64_4k": Geometry.arm64_4k, "arm64_16k": Geometry.arm64_16k, "arm64_64k": Geometry.arm64_64k}


def geometry_of(geometry: Geometry | str | None) -> Geometry:
    """A Geometry from a Geometry, a name in GEOMETRIES ("x86_64", "arm64_64k", ...) or None (x86-64)."""
    if geometry is None:
        return Geometry.x86_64()
    if isinstance(geometry, Geometry):
        return geometry
    if geometry not in GEOMETRIES:
        raise ValueError(f"geometry must be one of {sorted(GEOMETRIES)} or a Geometry, got {geometry!r}")
    return GEOMETRIES[geometry]()


def simulate(old: int, new: int, length: int, *, kernel: str = NEWEST, stack: bool = False,
             geometry: Geometry | str | None = None, blockers=(), populate: bool = True,
             unchecked_expansion: bool = False, vma_start: int | None = None, thp: bool = False) -> MoveResult:
    """Map [old, old+length) (populated), map each blocker (start, length) read-only, then move.

    Blockers are written, then made read-only (mmap(populate=True, prot="r")): a drawing device whose
    pages show, not a claim about MADV_POPULATE_WRITE, which refuses a read-only mapping.
    thp=True makes the moved VMA THP-eligible, so each whole aligned PMD of it is one huge page.

    vma_start (<= old) makes the source VMA begin below old, so only a sub-range of it moves.

    stack=False: mremap(old, length, length, MREMAP_MAYMOVE|MREMAP_FIXED, new).
    stack=True:  the execve stack move, relocate_vma_down() by old - new (new must be below old).
    Raises what the kernel (or pagemove's argument checks) would raise; see AddressSpace.
    """
    mm = AddressSpace(geometry_of(geometry))
    start = old if vma_start is None else vma_start
    if start > old:
        raise ValueError(f"vma_start {start:#x} must not be above old {old:#x}")
    if stack and start != old:
        raise ValueError("the execve stack move moves a whole VMA: vma_start must be old")
    vma = mm.mmap(start, old + length - start, populate=populate, name="stack" if stack else "", stack=stack,
                  thp=thp)
    for start, size in blockers:
        mm.mmap(start, size, populate=populate, prot="r", name="blocker")
    if stack:
        if new >= old:
            raise ValueError(f"the execve stack move only goes down: new {new:#x} must be below old {old:#x}")
        return mm.relocate_vma_down(vma, old - new, kernel, unchecked_expansion=unchecked_expansion)
    return mm.mremap(old, length, length, new_addr=new, kernel=kernel, unchecked_expansion=unchecked_expansion)
