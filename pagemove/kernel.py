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
    def warn_once(self) -> bool:
        """The refusal warns with WARN_ON_ONCE from 5.10 (f81fdd0c4ab7); before, WARN_ON at every refusal."""
        return (self.major, self.minor) >= (5, 10)

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
