"""An address space: VMAs plus page tables, with the system calls that change them.

Every call checks all of its rules before it changes anything, so a failed call leaves the address
space as it was. (The kernel's mremap() unmaps the destination before its last EFAULT check; a
failing call there can lose the destination mapping. pagemove checks first and says so here.)
"""

from __future__ import annotations

import errno
from dataclasses import dataclass

from .errors import check_ints, kernel_error
from .geometry import Geometry
from .kernel import NEWEST, Kernel
from .mremap import find_damage, move_page_tables
from .pgtable import PageTables
from .trace import MoveResult

PROTS = ("rw", "r", "none")


@dataclass(frozen=True)
class VMA:
    """A virtual memory area [start, end)."""

    start: int
    end: int
    prot: str = "rw"  # "rw", "r" or "none" (PROT_NONE still blocks realignment: it is a VMA)
    name: str = ""
    stack: bool = False  # VM_GROWSDOWN

    @property
    def length(self) -> int:
        return self.end - self.start

    def __contains__(self, addr: int) -> bool:
        return self.start <= addr < self.end

    def __str__(self) -> str:
        label = f" {self.name}" if self.name else ""
        prot = {"rw": "", "r": " (read-only)", "none": " (PROT_NONE)"}[self.prot]
        return f"[{self.start:#x}, {self.end:#x}){label}{prot}"


class AddressSpace:
    """VMAs and page tables; mmap, munmap, populate, mremap and relocate_vma_down."""

    def __init__(self, geometry: Geometry | None = None, *, mmap_min_addr: int | None = None):
        self.geometry = geometry or Geometry.x86_64()
        self.pt = PageTables(self.geometry)
        self._vmas: list[VMA] = []  # sorted, disjoint
        self.next_frame = 1  # frame numbers are handed out in order and never reused
        # vm.mmap_min_addr: 64 KiB is the usual default; small teaching machines keep only page 0 free.
        default = 0x10000 if self.geometry.va_bits >= 32 else self.geometry.page_size
        self.mmap_min_addr = default if mmap_min_addr is None else mmap_min_addr

    # ---- reading ---------------------------------------------------------------------------------

    @property
    def vmas(self) -> tuple[VMA, ...]:
        return tuple(self._vmas)

    def find_vma(self, addr: int) -> VMA | None:
        """vma_lookup(): the VMA containing addr."""
        return next((v for v in self._vmas if addr in v), None)

    def find_vma_intersection(self, start: int, end: int) -> VMA | None:
        """find_vma_intersection(): the first VMA overlapping [start, end)."""
        return next((v for v in self._vmas if v.start < end and v.end > start), None)

    def pages(self) -> dict[int, int]:
        """{virtual page address: frame} for every present PTE."""
        return self.pt.pages()

    def clone(self) -> AddressSpace:
        other = AddressSpace(self.geometry, mmap_min_addr=self.mmap_min_addr)
        other.pt, other._vmas, other.next_frame = self.pt.clone(), list(self._vmas), self.next_frame
        return other

    def __repr__(self) -> str:
        vmas = ", ".join(map(str, self._vmas)) or "no VMAs"
        return f"<AddressSpace {self.geometry.name}: {vmas}>"

    # ---- mmap, populate, munmap ------------------------------------------------------------------

    def mmap(self, addr: int, length: int, populate: bool = False, *, prot: str = "rw", name: str = "",
             stack: bool = False) -> VMA:
        """mmap(addr, length, ..., MAP_FIXED_NOREPLACE): map exactly [addr, addr+length)."""
        check_ints(addr=addr, length=length)
        if prot not in PROTS:
            raise ValueError(f"prot must be one of {PROTS}, got {prot!r}")
        length = self._page_align(length)
        self._check_range(addr, length, "mmap", errno.ENOMEM)
        if addr < self.mmap_min_addr:
            raise kernel_error(errno.EPERM, f"mmap: addr {addr:#x} is below vm.mmap_min_addr {self.mmap_min_addr:#x}")
        clash = self.find_vma_intersection(addr, addr + length)
        if clash is not None:
            raise kernel_error(errno.EEXIST, f"mmap: MAP_FIXED_NOREPLACE range [{addr:#x}, {addr + length:#x}) "
                                              f"overlaps the mapping {clash}")
        vma = VMA(addr, addr + length, prot, name, stack)
        self._insert(vma)
        if populate:
            self.populate(addr, length)
        return vma

    def populate(self, addr: int, length: int) -> int:
        """madvise(MADV_POPULATE_WRITE): fault in every page; each new page gets a fresh frame.

        Returns how many pages were faulted in (pages already present keep their frame)."""
        check_ints(addr=addr, length=length)
        length = self._page_align(length)
        self._check_range(addr, length, "populate", errno.EINVAL)
        a = addr
        for v in self._vmas:  # every page must be mapped, and accessible
            if v.end <= a or v.start >= addr + length:
                continue
            if v.start > a:
                break
            if v.prot == "none":
                raise kernel_error(errno.EFAULT, f"populate: {v} is PROT_NONE; touching it would fault")
            a = v.end
        if a < addr + length:
            raise kernel_error(errno.ENOMEM, f"populate: {a:#x} is not mapped")
        n = self.pt.set_ptes(addr, addr + length, self.next_frame)
        self.next_frame += n
        return n

    def munmap(self, addr: int, length: int) -> int:
        """munmap(): split VMAs, clear their PTEs and free the page tables no VMA uses any more.

        Returns how many page-table pages were freed."""
        check_ints(addr=addr, length=length)
        length = self._page_align(length)
        self._check_range(addr, length, "munmap", errno.EINVAL)
        return self._unmap(addr, addr + length)

    def _unmap(self, start: int, end: int) -> int:
        """do_vmi_munmap() + unmap_region(): zap the PTEs of the removed VMAs, then free_pgtables()."""
        removed, keep = [], []
        for v in self._vmas:
            if v.end <= start or v.start >= end:
                keep.append(v)
                continue
            if v.start < start:
                keep.append(VMA(v.start, start, v.prot, v.name, v.stack))
            if v.end > end:
                keep.append(VMA(end, v.end, v.prot, v.name, v.stack))
            removed.append(VMA(max(v.start, start), min(v.end, end), v.prot, v.name, v.stack))
        if not removed:
            return 0
        self._vmas = sorted(keep, key=lambda v: v.start)
        for v in removed:  # unmap_vmas(): only inside VMAs
            self.pt.zap(v.start, v.end)
        prev = max((v for v in self._vmas if v.end <= start), key=lambda v: v.end, default=None)
        nxt = min((v for v in self._vmas if v.start >= end), key=lambda v: v.start, default=None)
        return self._free_pgtables(removed, prev.end if prev else 0, nxt.start if nxt else 0)

    def _free_pgtables(self, removed: list[VMA], floor: int, ceiling: int) -> int:
        """free_pgtables() (mm/memory.c, v6.6): one free_pgd_range() per group of nearby removed VMAs."""
        freed, i = 0, 0
        while i < len(removed):
            first = last = removed[i]
            i += 1
            while i < len(removed) and removed[i].start <= last.end + self.geometry.pmd_size:
                last = removed[i]
                i += 1
            top = removed[i].start if i < len(removed) else ceiling
            freed += self.pt.free_pgd_range(first.start, last.end, floor, top)
        return freed

    # ---- mremap ----------------------------------------------------------------------------------

    def mremap(self, old_addr: int, old_size: int, new_size: int, new_addr: int | None = None, *,
               kernel: str = NEWEST, have_move_pmd: bool | None = None, have_move_pud: bool | None = None,
               unchecked_expansion: bool = False) -> MoveResult:
        """mremap(old_addr, old_size, new_size, MREMAP_MAYMOVE | MREMAP_FIXED, new_addr), in the kernel's order:
        unmap the destination, shrink, copy_vma(), move_page_tables(), unmap the old range."""
        k = Kernel.parse(kernel)
        if new_addr is None:
            raise ValueError("new_addr is required: pagemove models MREMAP_MAYMOVE|MREMAP_FIXED moves")
        check_ints(old_addr=old_addr, old_size=old_size, new_size=new_size, new_addr=new_addr)
        vma, old_len, new_len = self._check_mremap(old_addr, old_size, new_size, new_addr, k)
        self._unmap(new_addr, new_addr + new_len)  # MREMAP_FIXED: do_munmap() the destination
        if old_len > new_len:  # shrinking: the tail goes first, then the rest moves
            self._unmap(old_addr + new_len, old_addr + old_len)
            old_len = new_len
            vma = self.find_vma(old_addr)
        new_vma = VMA(new_addr, new_addr + new_len, vma.prot, vma.name, vma.stack)
        self._insert(new_vma)  # copy_vma(): the new VMA exists before the page tables move
        result = move_page_tables(self, old_addr, new_addr, old_len, k, False, have_move_pmd=have_move_pmd,
                                  have_move_pud=have_move_pud, unchecked_expansion=unchecked_expansion,
                                  old_vma=vma, new_vma=new_vma, operation="mremap")
        result.tables_freed = self._unmap(old_addr, old_addr + old_len)  # do_munmap() of the old range
        return self._finish(result)

    def _check_mremap(self, old_addr, old_size, new_size, new_addr, kernel: Kernel):
        """The checks of the mremap() syscall, in the order the kernel makes them, so the errno is the one
        it returns first. Up to 6.14 vma_lookup() (EFAULT) comes before mremap_to()'s new_address checks;
        6.15's check_mremap_params() makes all the argument checks (EINVAL) before looking at any VMA."""
        ps = self.geometry.page_size
        if old_addr % ps:
            raise kernel_error(errno.EINVAL, f"mremap: old_address {old_addr:#x} is not page aligned")
        old_len, new_len = self._page_align(old_size), self._page_align(new_size)
        if new_len == 0:
            raise kernel_error(errno.EINVAL, "mremap: new_size is zero")
        if not kernel.mremap_checks_params_first:
            vma = self._lookup_for_mremap(old_addr)
        if new_addr % ps:
            raise kernel_error(errno.EINVAL, f"mremap: new_address {new_addr:#x} is not page aligned")
        task = self.geometry.task_size
        if new_len > task or new_addr > task - new_len:
            raise kernel_error(errno.EINVAL, f"mremap: the destination reaches past TASK_SIZE {task:#x}")
        if old_addr + old_len > new_addr and new_addr + new_len > old_addr:
            raise kernel_error(errno.EINVAL, f"mremap: the ranges [{old_addr:#x}, {old_addr + old_len:#x}) and "
                                              f"[{new_addr:#x}, {new_addr + new_len:#x}) overlap")
        if kernel.mremap_checks_params_first:
            vma = self._lookup_for_mremap(old_addr)
        if old_len == 0:  # vma_to_resize(), after the destination and the shrunk tail are unmapped
            raise kernel_error(errno.EINVAL, "mremap: old_size 0 only duplicates shared mappings; this one is private")
        if min(old_len, new_len) > vma.end - old_addr and kernel.multi_vma_move and old_len == new_len:
            raise NotImplementedError(
                f"[{old_addr:#x}, {old_addr + old_len:#x}) spans more than one VMA. Linux {kernel} moves each VMA "
                f"with its own move_page_tables() call (6.17's multi-VMA mremap), which pagemove does not model: "
                f"move the VMAs one at a time, or pass kernel='6.16' to get that kernel's EFAULT")
        if min(old_len, new_len) > vma.end - old_addr:
            raise kernel_error(errno.EFAULT, f"mremap: [{old_addr:#x}, {old_addr + min(old_len, new_len):#x}) is not "
                                              f"inside one mapping ({vma} ends first)")
        if new_addr < self.mmap_min_addr:  # get_unmapped_area(MAP_FIXED) -> security_mmap_addr()
            raise kernel_error(errno.EPERM, f"mremap: new_address {new_addr:#x} is below vm.mmap_min_addr "
                                             f"{self.mmap_min_addr:#x}")
        return vma, old_len, new_len

    def _lookup_for_mremap(self, old_addr: int) -> VMA:
        vma = self.find_vma(old_addr)
        if vma is None:
            raise kernel_error(errno.EFAULT, f"mremap: nothing is mapped at old_address {old_addr:#x}")
        return vma

    # ---- execve's stack move ---------------------------------------------------------------------

    def relocate_vma_down(self, vma: VMA | int, shift: int, kernel: str = NEWEST, *,
                          have_move_pmd: bool | None = None, have_move_pud: bool | None = None,
                          unchecked_expansion: bool = False) -> MoveResult:
        """relocate_vma_down() (mm/vma_exec.c; shift_arg_pages() in fs/exec.c before 6.12): move a VMA down
        by `shift` with its page tables, as execve() does with the new stack."""
        k = Kernel.parse(kernel)
        vma = self._resolve(vma)
        check_ints(shift=shift)
        if shift <= 0 or shift % self.geometry.page_size:
            raise ValueError(f"shift must be a positive multiple of PAGE_SIZE, got {shift:#x}")
        old_start, old_end = vma.start, vma.end
        length, new_start, new_end = old_end - old_start, old_start - shift, old_end - shift
        if new_start <= self.mmap_min_addr:  # setup_arg_pages(): vm_end - vm_start >= stack_top - mmap_min_addr
            raise kernel_error(errno.ENOMEM, f"setup_arg_pages: the stack would start at {new_start:#x}, not above "
                                              f"vm.mmap_min_addr {self.mmap_min_addr:#x}")
        between = self.find_vma_intersection(new_start, old_start)
        if between is not None:  # "ensure there are no vmas between where we want to go and where we are"
            raise kernel_error(errno.EFAULT, f"relocate_vma_down: {between} lies between the new start {new_start:#x} "
                                              f"and the VMA")
        # 1) expand the VMA to cover [new_start, old_end)
        spanning = VMA(new_start, old_end, vma.prot, vma.name, vma.stack)
        self._replace(vma, spanning)
        # 2) move the page tables down, for_stack
        result = move_page_tables(self, old_start, new_start, length, k, True, have_move_pmd=have_move_pmd,
                                  have_move_pud=have_move_pud, unchecked_expansion=unchecked_expansion,
                                  old_vma=spanning, new_vma=spanning, operation="relocate_vma_down")
        # 3) free the page tables of the range the stack left, up to the next VMA
        nxt = min((v for v in self._vmas if v.start >= old_end), key=lambda v: v.start, default=None)
        ceiling = nxt.start if nxt else 0
        if new_end > old_start:  # overlapping: clear from new_end
            result.tables_freed = self.pt.free_pgd_range(new_end, old_end, new_end, ceiling)
        else:
            result.tables_freed = self.pt.free_pgd_range(old_start, old_end, new_end, ceiling)
        # 4) shrink the VMA to the new range
        self._replace(spanning, VMA(new_start, new_end, vma.prot, vma.name, vma.stack))
        return self._finish(result)

    # ---- helpers ---------------------------------------------------------------------------------

    def _finish(self, result: MoveResult) -> MoveResult:
        result.final_vmas, result.final = self.vmas, self.pt.clone()
        if result.unchecked:
            result.damage = find_damage(result, self)
        return result

    def _resolve(self, vma: VMA | int) -> VMA:
        start = vma.start if isinstance(vma, VMA) else vma
        found = next((v for v in self._vmas if v.start == start), None)
        if found is None or (isinstance(vma, VMA) and found != vma):
            raise ValueError(f"{vma} is not a VMA of this address space (see mm.vmas)")
        return found

    def _insert(self, vma: VMA) -> None:
        self._vmas.append(vma)
        self._vmas.sort(key=lambda v: v.start)

    def _replace(self, old: VMA, new: VMA) -> None:
        self._vmas.remove(old)
        self._insert(new)

    def _page_align(self, length: int) -> int:
        ps = self.geometry.page_size
        return (length + ps - 1) // ps * ps  # PAGE_ALIGN(), as the kernel does for lengths

    def _check_range(self, addr: int, length: int, call: str, too_high: int) -> None:
        if addr % self.geometry.page_size:
            raise kernel_error(errno.EINVAL, f"{call}: addr {addr:#x} is not page aligned")
        if length == 0:
            raise kernel_error(errno.EINVAL, f"{call}: length is zero")
        if addr + length > self.geometry.task_size:
            raise kernel_error(too_high, f"{call}: [{addr:#x}, {addr + length:#x}) reaches past TASK_SIZE "
                                          f"{self.geometry.task_size:#x}")
