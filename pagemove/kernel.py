"""Kernel versions, and which page-table-moving behaviour each one has."""

from __future__ import annotations

import re
from dataclasses import dataclass

NEWEST = "6.18"  # the default: the newest behaviour pagemove models (the real-kernel lab ran on 6.18)

_VERSION = re.compile(r"v?(\d+)\.(\d+)(?:\.\d+)?(?:-rc\d+)?")
_LAST_MINOR = {4: 20, 5: 19, 6: 19, 7: 9}  # accepted releases: 4.20 .. 7.9


@dataclass(frozen=True, order=True)
class Kernel:
    """A kernel release, reduced to what matters for move_page_tables()."""

    major: int
    minor: int

    @classmethod
    def parse(cls, version: str | Kernel) -> Kernel:
        """Read "6.6", "v6.7", "6.7-rc1" or "6.12.3"; anything else is a ValueError."""
        if isinstance(version, Kernel):
            return version
        if not isinstance(version, str):
            raise ValueError(f"kernel must be a version string such as '6.6' or '6.7', got {version!r}")
        m = _VERSION.fullmatch(version.strip())
        if not m:
            raise ValueError(f"malformed kernel version {version!r}: expected MAJOR.MINOR, e.g. '6.6' or '6.7'")
        k = cls(int(m.group(1)), int(m.group(2)))
        first = 20 if k.major == 4 else 0
        if k.major not in _LAST_MINOR or not first <= k.minor <= _LAST_MINOR[k.major]:
            raise ValueError(f"unknown kernel version {version!r}: pagemove models Linux 4.20 (the last without "
                             f"PMD-level moves) to 7.9")
        return k

    def __str__(self) -> str:
        return f"{self.major}.{self.minor}"

    def move_pmd(self, arch: str = "x86") -> bool:
        """CONFIG_HAVE_MOVE_PMD: x86 from 5.0, arm64 from 5.10 (45544eee9606). 2c91bd4a4e2e ("mm: speed up
        mremap by 20x on large regions") adds the option and move_normal_pmd(); x86 selects it in its own patch
        of the same series ("mm: select HAVE_MOVE_PMD in x86 for faster mremap", Joel Fernandes, 2018)."""
        return (self.major, self.minor) >= ((5, 10) if arch == "arm64" else (5, 0))

    def move_pud(self, arch: str = "x86") -> bool:
        """CONFIG_HAVE_MOVE_PUD: x86 and arm64 from 5.11. c49dd3401802 ("mm: speedup mremap on 1GB or larger
        regions") adds the option and move_normal_pud(); each architecture selects it in its own patch:
        be37c98d1134 ("x86: mremap speedup - Enable HAVE_MOVE_PUD") and f5308c896d5d ("arm64: mremap
        speedup - enable HAVE_MOVE_PUD")."""
        return (self.major, self.minor) >= (5, 11)

    @property
    def extent_in_one_place(self) -> bool:
        """move_page_tables() (v5.9+) cuts the extent at new_addr's PMD boundary before get_old_pmd(), as
        get_extent() does from 5.11 (9ad9718bfa41 "mm/mremap: calculate extent in one place"; read in 5.9.1).
        Up to 5.8 the extent was old_addr's alone until just before move_ptes(), so a none old PMD skipped
        up to old's next PMD boundary in one iteration (read in 4.20 and 5.8.1)."""
        return (self.major, self.minor) >= (5, 9)

    @property
    def pud_step(self) -> bool:
        """move_page_tables() has a PUD step (5.11, c49dd3401802 "mm: speedup mremap on 1GB or larger
        regions"; read in 5.11, 5.12.9). Before, every iteration is one PMD-bounded extent (read in 5.10)."""
        return (self.major, self.minor) >= (5, 11)

    @property
    def pud_lookup_every_step(self) -> bool:
        """move_page_tables() calls get_old_pud() and alloc_new_pud() on every iteration (5.14, Aneesh Kumar's
        "mm/mremap: convert huge PUD move to separate helper"; read in 5.14.2 and 5.15.x). In 5.11-5.13 it does
        so only when HAVE_MOVE_PUD && extent == PUD_SIZE (read in 5.11, 5.12.9)."""
        return (self.major, self.minor) >= (5, 14)

    @property
    def mremap_looks_up_vma_first(self) -> bool:
        """SYSCALL_DEFINE5(mremap) looks old_addr's VMA up before mremap_to() (5.16, 550a7d60bd5e "mm,
        hugepages: add mremap() support for hugepage backed vma"; read in 5.17-rc5, 5.19). Up to 5.15 only
        vma_to_resize() does, inside mremap_to(), after new_addr's checks and the destination's do_munmap()
        (read in 4.20, 5.11, 5.12.9, 5.15.x; seen on Debian's 5.10.223 in QEMU)."""
        return (self.major, self.minor) >= (5, 16)

    @property
    def mremap_efault_positive(self) -> bool:
        """5.16 and 5.17 set `ret = EFAULT` (positive) when nothing is mapped at old_addr: mremap() returns
        0xe, as if it had moved the mapping there, and errno is untouched (550a7d60bd5e; fixed in 5.18 by
        bd5dfea41b11 "mm: mremap: fix sign for EFAULT error return value", Cc: stable)."""
        return (5, 16) <= (self.major, self.minor) < (5, 18)

    @property
    def warn_once(self) -> bool:
        """The refusal warns with WARN_ON_ONCE from 5.8 (f81fdd0c4ab7, July 2020: in the v5.8-rc7 and v5.8.1
        trees); before, WARN_ON at every refusal."""
        return (self.major, self.minor) >= (5, 8)

    @property
    def realigns(self) -> bool:
        """try_realign_addr() exists (6.7, "mm/mremap: optimize the start addresses in move_page_tables()")."""
        return (self.major, self.minor) >= (6, 7)

    @property
    def mremap_checks_new_addr_first(self) -> bool:
        """6.15's check_mremap_params() checks new_addr's alignment before vma_lookup(); TASK_SIZE and the
        overlap stay in mremap_to(), after vma_lookup()'s EFAULT, in 6.15 and 6.16 (read in a 2025
        mainline snapshot of mm/mremap.c without remap_move(): mremap_to() starts with both checks)."""
        return (self.major, self.minor) >= (6, 15)

    @property
    def mremap_checks_params_first(self) -> bool:
        """6.17's check_mremap_params() makes every argument check before any VMA is looked at: new_len and
        new_addr against TASK_SIZE, new_addr's alignment and the overlap ("mm/mremap: refactor initial
        parameter sanity checks", in the multi-VMA series)."""
        return (self.major, self.minor) >= (6, 17)

    @property
    def mremap_checks_vma_before_unmap(self) -> bool:
        """check_prep_vma() (6.17, "mm/mremap: check remap conditions earlier") checks the VMA (old_len 0 on
        a private mapping: EINVAL; a range running past the VMA's end: EFAULT) before mremap_to() unmaps the
        destination. Up to 6.16 vma_to_resize() (resize_is_valid(), remap_is_valid()) ran after that
        do_munmap() and after the shrunk tail's (read in 4.20, 5.17, 6.14 and a 2025 mainline snapshot)."""
        return (self.major, self.minor) >= (6, 17)

    @property
    def huge_pmd_move_warns(self) -> bool:
        """move_huge_pmd() has WARN_ON(!pmd_none(*new_pmd)) (every time, not once) until 6.5: Hugh Dickins'
        "mm/mremap: retry if either pte_offset_map_*lock() fails" made it a silent refusal, because
        move_page_tables() may have just put a page table there."""
        return (self.major, self.minor) < (6, 5)

    @property
    def multi_vma_move(self) -> bool:
        """mremap() may move several VMAs at once (6.17, "mm/mremap: permit mremap() move of multiple VMAs")."""
        return (self.major, self.minor) >= (6, 17)

    @property
    def exec_function(self) -> str:
        """Where the execve stack move lives in this release."""
        if (self.major, self.minor) < (6, 12):
            return "shift_arg_pages() in fs/exec.c"
        if (self.major, self.minor) < (6, 16):
            return "relocate_vma_down() in mm/mmap.c"
        return "relocate_vma_down() in mm/vma_exec.c"
