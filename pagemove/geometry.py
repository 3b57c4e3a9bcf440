"""Page-table geometry: how a virtual address splits into table indices.

Levels are numbered from the bottom, as the sizes grow:

    level 0  PTE table   each entry maps one page        (PAGE_SIZE)
    level 1  PMD table   each entry points to a PTE table (PMD_SIZE)
    level 2  PUD table   each entry points to a PMD table (PUD_SIZE)
    level 3  PGD (or P4D, then PGD at level 4)

With three levels the PUD is folded into the PGD, as in Linux: level 2 is then
the root, and a "PUD move" moves a PGD entry.

Presets: tiny() (teaching), x86_64(), x86_64_5level(), i386_pae(), arm64_4k(), arm64_16k(), arm64_64k().
Each preset's .name is its constructor's name; scenario.GEOMETRIES lists them for every UI.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Geometry:
    """Page size, entries per table and number of levels of one MMU configuration."""

    page_shift: int = 12
    bits_per_level: int = 9
    levels: int = 4
    va_bits: int | None = None  # bits the page tables translate; None = page_shift + levels * bits_per_level
    name: str = field(default="custom", compare=False)
    user_top: int | None = None  # TASK_SIZE, one past the highest user address; None = 1 << va_bits

    def __post_init__(self):
        if not 8 <= self.page_shift <= 20:
            raise ValueError(f"page_shift must be between 8 and 20, got {self.page_shift}")
        if not 1 <= self.bits_per_level <= 13:
            raise ValueError(f"bits_per_level must be between 1 and 13, got {self.bits_per_level}")
        if not 3 <= self.levels <= 5:
            raise ValueError(f"levels must be 3, 4 or 5 (PGD..PTE with a PMD and a PUD), got {self.levels}")
        full = self.page_shift + self.levels * self.bits_per_level
        bits = full if self.va_bits is None else self.va_bits
        low = self.page_shift + (self.levels - 1) * self.bits_per_level
        if not low < bits <= full:
            raise ValueError(f"va_bits must be in ({low}, {full}] for this geometry, got {bits}")
        object.__setattr__(self, "va_bits", bits)
        if self.user_top is None:
            object.__setattr__(self, "user_top", 1 << bits)
        elif not 0 < self.user_top <= 1 << bits or self.user_top % self.page_size:
            raise ValueError(f"user_top must be a page multiple in (0, 1 << va_bits], got {self.user_top:#x}")
        # Precomputed (shift, mask) per level: index() sits on the engine's hot path.
        shifts = tuple(self.page_shift + lvl * self.bits_per_level for lvl in range(self.levels))
        masks = tuple((1 << (bits - shifts[lvl] if lvl == self.levels - 1 else self.bits_per_level)) - 1
                      for lvl in range(self.levels))
        object.__setattr__(self, "_shifts", shifts)
        object.__setattr__(self, "_masks", masks)

    # ---- presets -----------------------------------------------------------------------------

    @classmethod
    def x86_64(cls) -> Geometry:
        """x86-64 with 4-level paging: 4 KiB pages, 512 entries per table, 48-bit addresses.

        User space is the lower half, up to TASK_SIZE_MAX = 0x7ffffffff000 (one guard page below 2**47)."""
        return cls(12, 9, 4, name="x86_64", user_top=(1 << 47) - (1 << 12))

    @classmethod
    def tiny(cls) -> Geometry:
        """A teaching machine: 4 KiB pages but 8 entries per table, so every PTE can be drawn."""
        return cls(12, 3, 4, name="tiny")

    @classmethod
    def arm64_4k(cls) -> Geometry:
        """arm64 with 4 KiB pages and 48-bit addresses: 4 levels, 512 entries per table, PMD_SIZE 2 MiB.

        arch/arm64/Kconfig: PGTABLE_LEVELS is 4 "if !ARM64_64K_PAGES && ARM64_VA_BITS_48". User space
        runs up to TASK_SIZE = 1 << VA_BITS (arch/arm64/include/asm/processor.h, TASK_SIZE_64)."""
        return cls(12, 9, 4, 48, name="arm64_4k")

    @classmethod
    def arm64_16k(cls) -> Geometry:
        """arm64 with 16 KiB pages and 48-bit addresses: 2048 entries per table, PMD_SIZE 32 MiB.

        Linux builds this with 4 levels (arch/arm64/Kconfig: PGTABLE_LEVELS is 4 "if ARM64_16K_PAGES &&
        (ARM64_VA_BITS_48 || ARM64_VA_BITS_52)"): 14 + 3 * 11 = 47 bits below the PGD, so the PGD has
        just 2 entries. PUD_SIZE is 64 GiB. (Apple-silicon kernels may use 47-bit VA with 3 levels.)"""
        return cls(14, 11, 4, 48, name="arm64_16k")

    @classmethod
    def arm64_64k(cls) -> Geometry:
        """arm64 with 64 KiB pages and 48-bit addresses: 8192 entries per table, PMD_SIZE 512 MiB, 3 levels.

        arch/arm64/Kconfig: PGTABLE_LEVELS is 3 "if ARM64_64K_PAGES && (ARM64_VA_BITS_48 ||
        ARM64_VA_BITS_52)". The PUD (and P4D) is folded into the PGD (include/asm-generic/pgtable-nopud.h):
        pud_offset() returns the PGD entry itself and PUD_SIZE = PGDIR_SIZE = 4 TiB. So the loop's PUD step
        is real: get_extent(NORMAL_PUD) cuts extents at 4 TiB boundaries, get_old_pud() is NULL when the
        PGD entry is none (the whole 4 TiB extent is skipped), and move_normal_pud(), which mm/mremap.c
        builds "#if CONFIG_PGTABLE_LEVELS > 2 && defined(CONFIG_HAVE_MOVE_PUD)" (3 > 2; arm64 selects
        HAVE_MOVE_PUD), moves a whole PGD entry when old, new and the length are 4 TiB aligned. That is
        what arch/Kconfig's HAVE_MOVE_PUD help says: "If there are only 3 page table levels, the move
        effectively happens at the PGD level."
        """
        return cls(16, 13, 3, 48, name="arm64_64k")

    @classmethod
    def x86_64_5level(cls) -> Geometry:
        """x86-64 with 5-level paging (LA57): 4 KiB pages, 512 entries per table, 57-bit addresses, a P4D level.

        TASK_SIZE_MAX = (1 << __VIRTUAL_MASK_SHIFT) - PAGE_SIZE with __VIRTUAL_MASK_SHIFT = 56 when
        pgtable_l5_enabled() (arch/x86/include/asm/page_64_types.h, processor.h): 0xfffffffffff000. The
        kernel still places mmap() and the stack below the 47-bit DEFAULT_MAP_WINDOW unless asked for a
        higher address; the page-table moves are the same as with 4 levels, one level deeper."""
        return cls(12, 9, 5, 57, name="x86_64_5level", user_top=(1 << 56) - (1 << 12))

    @classmethod
    def i386_pae(cls) -> Geometry:
        """32-bit x86 with PAE (Debian's 686-pae kernels): 4 KiB pages, 3 levels, 8-byte entries, 32-bit addresses.

        arch/x86/include/asm/pgtable-3level_types.h: PTRS_PER_PTE = PTRS_PER_PMD = 512, PMD_SHIFT 21 (PMD_SIZE
        2 MiB), PGDIR_SHIFT 30 and PTRS_PER_PGD 4: the PGD has 4 entries of 1 GiB each, and the PUD is folded
        into it (asm-generic/pgtable-nopud.h), as on arm64_64k. User space ends at TASK_SIZE = PAGE_OFFSET =
        0xc0000000 (the default 3G/1G split), which is also STACK_TOP and STACK_TOP_MAX: execve() builds the new
        stack right under it (arch/x86/include/asm/processor.h). This is the machine where the WARN was first
        seen (LKFT, 2020): with STACK_RND_MASK 0x7ff pages a stack shift of exactly one PMD is one in 2048.

        Not modelled: PAE preallocates the PMD tables of the user PGD entries (pgd_alloc() and
        preallocate_pmds() in arch/x86/mm/pgtable.c), so in a fresh mm no such PGD entry is none, while the
        engine starts with none entries. Only a move of a whole, 1 GiB-aligned PGD entry could show it
        (x86 selects HAVE_MOVE_PUD, so the kernel would try move_normal_pud() and refuse it with the WARN);
        no exec stack and none of the lab's moves is that large."""
        return cls(12, 9, 3, 32, name="i386_pae", user_top=0xC0000000)

    @classmethod
    def arm64(cls, page_size: int = 4096) -> Geometry:
        """Deprecated: use arm64_4k(), arm64_16k() or arm64_64k() (same sizes; .name is now the constructor's)."""
        import warnings

        makers = {4096: cls.arm64_4k, 16384: cls.arm64_16k, 65536: cls.arm64_64k}
        if page_size not in makers:
            raise ValueError(f"arm64 page_size must be one of {sorted(makers)}, got {page_size}")
        warnings.warn(f"Geometry.arm64({page_size}) is deprecated: use Geometry.{makers[page_size].__name__}()",
                      DeprecationWarning, stacklevel=2)
        return makers[page_size]()

    # ---- sizes -------------------------------------------------------------------------------

    @property
    def page_size(self) -> int:
        return 1 << self.page_shift

    @property
    def entries(self) -> int:
        """Entries per table (PTRS_PER_PTE = PTRS_PER_PMD = PTRS_PER_PUD)."""
        return 1 << self.bits_per_level

    def level_size(self, level: int) -> int:
        """Bytes mapped by one entry of a level-`level` table (0 = PTE ... levels-1 = PGD)."""
        return 1 << (self.page_shift + level * self.bits_per_level)

    @property
    def pmd_size(self) -> int:
        return self.level_size(1)

    @property
    def pud_size(self) -> int:
        return self.level_size(2)

    @property
    def task_size(self) -> int:
        """One past the highest user address (TASK_SIZE)."""
        return self.user_top

    @property
    def arch(self) -> str:
        """Whose kernel configuration to assume: "arm64" for the arm64 presets, else "x86"."""
        return "arm64" if self.name.startswith("arm64") else "x86"

    def to_boundary(self, addr: int, size: int | None = None) -> int:
        """Bytes from addr up to the next multiple of size (default PMD_SIZE); a whole size if aligned."""
        size = self.pmd_size if size is None else size
        return size - (addr & (size - 1))

    def index(self, addr: int, level: int) -> int:
        """Index of `addr` in its level-`level` table (pte_index, pmd_index, ...)."""
        return (addr >> self._shifts[level]) & self._masks[level]

    def level_name(self, level: int) -> str:
        """PTE, PMD, PUD, (P4D,) PGD; with three levels the PUD is the PGD."""
        names = {3: ("PTE", "PMD", "PGD"), 4: ("PTE", "PMD", "PUD", "PGD"),
                 5: ("PTE", "PMD", "PUD", "P4D", "PGD")}[self.levels]
        return names[level]

    def split(self, addr: int) -> dict[str, int]:
        """The indices an address walks through, top level first, plus the page offset."""
        out = {self.level_name(lvl): self.index(addr, lvl) for lvl in range(self.levels - 1, -1, -1)}
        out["offset"] = addr & (self.page_size - 1)
        return out

    def hexwidth(self) -> int:
        """Hex digits needed to print any user address of this geometry."""
        return (self.va_bits + 3) // 4

    def __str__(self) -> str:
        return (f"{self.name}: PAGE_SIZE {self.page_size:#x}, {self.entries} entries per table, "
                f"{self.levels} levels, PMD_SIZE {self.pmd_size:#x}, PUD_SIZE {self.pud_size:#x}"
                f"{' (the PUD is folded: a PGD entry)' if self.levels == 3 else ''}, {self.va_bits}-bit addresses")
