"""An address space: VMAs plus page tables, with the system calls that change them.

A failed call changes nothing, except where the kernel itself has already changed something when a
later check fails, and there pagemove does the same (nothing else is modelled as failing halfway):
- mremap() unmaps the destination (MREMAP_FIXED), and for a shrinking move the tail, before some
  checks. What is gone then stays gone, and the OSError says so (.unmapped lists it):
  up to 5.15 EFAULT for nothing mapped at old_addr; up to 6.16 EFAULT for a range that runs past its
  VMA's end, and EINVAL for old_size 0; in every release EPERM for a new_addr below vm.mmap_min_addr.
  Everything else (alignment, TASK_SIZE, overlap, and from 5.16 the VMA lookup) fails first.
- 5.16 and 5.17 do not fail at all for an unmapped old_addr: mremap() returns 0xe and changes nothing.
- A 6.17+ multi-VMA mremap() that fails at a later VMA keeps the VMAs it has already moved (the
  OSError carries that partial MoveResult as .result).

Transparent huge pages: mmap(..., thp=True) marks a VMA THP-eligible, as MADV_HUGEPAGE does on a kernel
with THP "madvise" or "always". Populating it maps each PMD-aligned PMD_SIZE range that lies wholly
inside the VMA with one huge PMD leaf (do_huge_pmd_anonymous_page()), the rest with base-page PTEs.
Left out: khugepaged (collapsing PTEs into a huge page later), mTHP sizes between a base page and a
PMD (those are PTE-mapped folios, so their moves are PTE moves), the huge zero page (read faults;
pagemove populates for write), file and shmem THP, PUD-sized THP, and allocation failures (a huge
page is always available).
"""

from __future__ import annotations

import errno
from dataclasses import dataclass, replace

from .errors import check_ints, kernel_error
from .geometry import Geometry
from .kernel import NEWEST, Kernel
from .mremap import find_damage, merge_damage, move_page_tables
from .pgtable import PageTables
from .trace import MoveResult, combine

PROTS = ("rw", "r", "none")


@dataclass(frozen=True)
class VMA:
    """A virtual memory area [start, end)."""

    start: int
    end: int
    prot: str = "rw"  # "rw", "r" or "none" (PROT_NONE still blocks realignment: it is a VMA)
    name: str = ""
    stack: bool = False  # VM_GROWSDOWN
    thp: bool = False  # THP-eligible (MADV_HUGEPAGE): populating maps aligned PMD_SIZE pieces with huge leaves
    uffd: bool = False  # userfaultfd-armed; pagemove models only that 6.17's multi-VMA mremap refuses it

    @property
    def length(self) -> int:
        return self.end - self.start

    def __contains__(self, addr: int) -> bool:
        return self.start <= addr < self.end

    def __str__(self) -> str:
        label = f" {self.name}" if self.name else ""
        prot = {"rw": "", "r": " (read-only)", "none": " (PROT_NONE)"}[self.prot]
        extra = " (THP)" * self.thp + " (uffd)" * self.uffd
        return f"[{self.start:#x}, {self.end:#x}){label}{prot}{extra}"


class AddressSpace:
    """VMAs and page tables; mmap, munmap, populate, mremap and relocate_vma_down."""

    def __init__(self, geometry: Geometry | None = None, *, mmap_min_addr: int | None = None,
                 cap_sys_rawio: bool = False, kernel_levels: int | None = None):
        self.geometry = geometry or Geometry.x86_64()
        # kernel_levels: CONFIG_PGTABLE_LEVELS of the kernel, if more than the MMU uses (5 for an x86-64
        # kernel on a CPU without LA57: 6.17+ always, earlier with X86_5LEVEL=y). It changes only munmap()'s
        # TLB flush: see PageTables._free_range() and pt.p4d_free_tlb_calls.
        levels = self.geometry.levels if kernel_levels is None else kernel_levels
        if not self.geometry.levels <= levels <= 5:
            raise ValueError(f"kernel_levels must be between the geometry's {self.geometry.levels} and 5, got {levels}")
        # CAP_SYS_RAWIO (root has it) lets mmap()/mremap() map below vm.mmap_min_addr (cap_mmap_addr()).
        # The default is an ordinary user's process, as a student's program runs.
        self.cap_sys_rawio = cap_sys_rawio
        self.pt = PageTables(self.geometry)
        self.pt.kernel_levels = levels
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
        other = AddressSpace(self.geometry, mmap_min_addr=self.mmap_min_addr, cap_sys_rawio=self.cap_sys_rawio,
                             kernel_levels=self.pt.kernel_levels)
        other.pt, other._vmas, other.next_frame = self.pt.clone(), list(self._vmas), self.next_frame
        return other

    def __repr__(self) -> str:
        vmas = ", ".join(map(str, self._vmas)) or "no VMAs"
        return f"<AddressSpace {self.geometry.name}: {vmas}>"

    # ---- mmap, populate, munmap ------------------------------------------------------------------

    def mmap(self, addr: int, length: int, populate: bool = False, *, prot: str = "rw", name: str = "",
             stack: bool = False, thp: bool = False, uffd: bool = False) -> VMA:
        """mmap(addr, length, ..., MAP_FIXED_NOREPLACE): map exactly [addr, addr+length).

        thp=True: THP-eligible, as after madvise(MADV_HUGEPAGE). uffd=True: registered with a userfaultfd
        (with remap events, so its page tables move as any other's; only the multi-VMA mremap refuses it).
        populate=True writes every page (a fresh frame each): for prot "r" or "none" that stands for a
        program that wrote the pages and then mprotect()ed them, since populate() itself, like
        MADV_POPULATE_WRITE, refuses a mapping it may not write."""
        check_ints(addr=addr, length=length)
        if prot not in PROTS:
            raise ValueError(f"prot must be one of {PROTS}, got {prot!r}")
        length = self._page_align(length)
        self._check_range(addr, length, "mmap", errno.ENOMEM)
        self._check_mmap_addr("mmap: addr", addr)  # get_unmapped_area(MAP_FIXED) -> security_mmap_addr()
        clash = self.find_vma_intersection(addr, addr + length)
        if clash is not None:
            raise kernel_error(errno.EEXIST, f"mmap: MAP_FIXED_NOREPLACE range [{addr:#x}, {addr + length:#x}) "
                                              f"overlaps the mapping {clash}")
        vma = VMA(addr, addr + length, prot, name, stack, thp, uffd)
        self._insert(vma)
        if populate:
            self._fault_in(vma, addr, addr + length)
        return vma

    def populate(self, addr: int, length: int) -> int:
        """madvise(addr, length, MADV_POPULATE_WRITE): write-fault every page; each new page gets a fresh frame.

        Returns how many base pages were faulted in (pages already present keep their frame; a huge leaf
        counts PTRS_PER_PTE). As the kernel: addr not page aligned is EINVAL; length 0 does nothing; a
        page with no VMA is ENOMEM; a PROT_NONE or read-only VMA is EINVAL ("insufficient permissions",
        madvise(2)). The kernel faults pages in up to the first failure; pagemove checks first, so a
        failed call maps nothing."""
        check_ints(addr=addr, length=length)
        if addr % self.geometry.page_size:
            raise kernel_error(errno.EINVAL, f"populate: addr {addr:#x} is not page aligned")
        length = self._page_align(length)
        if length == 0:
            return 0
        end = addr + length
        a, spans = addr, []
        for v in self._vmas:  # every page must be mapped, and writable
            if v.end <= a or v.start >= end:
                continue
            if v.start > a:
                break
            if v.prot != "rw":
                raise kernel_error(errno.EINVAL, f"populate: MADV_POPULATE_WRITE needs write permission; {v} "
                                                  f"is {'PROT_NONE' if v.prot == 'none' else 'read-only'}")
            spans.append((v, a, min(v.end, end)))
            a = v.end
        if a < end:
            raise kernel_error(errno.ENOMEM, f"populate: {a:#x} is not mapped")
        return sum(self._fault_in(v, lo, hi) for v, lo, hi in spans)

    def _fault_in(self, vma: VMA, start: int, end: int) -> int:
        """Write faults on [start, end) inside `vma`, in address order: a huge leaf where the fault path
        would make one (THP-eligible VMA, PMD range wholly inside it, PMD entry none), else 4K PTEs."""
        pt, pmd, n = self.pt, self.geometry.pmd_size, 0
        a = start
        while a < end:
            slot = a - a % pmd
            nxt = min(slot + pmd, end)
            if pt.huge(a) is not None:  # already mapped by a huge page
                pass
            elif vma.thp and vma.start <= slot and slot + pmd <= vma.end and not pt.present(slot, 1):
                pt.set_huge(slot, self.next_frame)  # do_huge_pmd_anonymous_page(): the whole PMD at once
                self.next_frame += self.geometry.entries
                n += self.geometry.entries
            else:
                got = pt.set_ptes(a, nxt, self.next_frame)
                self.next_frame += got
                n += got
            a = nxt
        return n

    def munmap(self, addr: int, length: int) -> int:
        """munmap(): split VMAs, clear their PTEs and free the page tables no VMA uses any more.

        Returns how many page-table pages were freed: by free_pgtables(), and the PTE pages deposited with
        the huge leaves it zapped (zap_deposited_table()). On a kernel built for more levels than it runs
        (AddressSpace(kernel_levels=5) on x86_64()) the last VMA of an otherwise empty top-level slot (512
        GiB) also makes p4d_free_tlb() widen the TLB flush by a page though no table is freed: the call is
        logged in mm.pt.p4d_free_tlb_calls (pagemove.lab.x86_unmap_flushes() turns it into the flush)."""
        check_ints(addr=addr, length=length)
        length = self._page_align(length)
        self._check_range(addr, length, "munmap", errno.EINVAL)
        return self._unmap(addr, addr + length)

    def _unmap(self, start: int, end: int) -> int:
        """do_vmi_munmap() + unmap_region(): zap the PTEs of the removed VMAs, then free_pgtables().
        Returns the page-table pages freed, the deposited ones zap() frees with huge leaves included."""
        removed, keep = [], []
        for v in self._vmas:
            if v.end <= start or v.start >= end:
                keep.append(v)
                continue
            if v.start < start:
                keep.append(replace(v, end=start))
            if v.end > end:
                keep.append(replace(v, start=end))
            removed.append(replace(v, start=max(v.start, start), end=min(v.end, end)))
        if not removed:
            return 0
        self._vmas = sorted(keep, key=lambda v: v.start)
        freed0 = self.pt.freed
        for v in removed:  # unmap_vmas(): only inside VMAs
            self.pt.zap(v.start, v.end)
        prev = max((v for v in self._vmas if v.end <= start), key=lambda v: v.end, default=None)
        nxt = min((v for v in self._vmas if v.start >= end), key=lambda v: v.start, default=None)
        self._free_pgtables(removed, prev.end if prev else 0, nxt.start if nxt else 0)
        return self.pt.freed - freed0

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
        check, unmap the destination, shrink, check the VMA, copy_vma(), move_page_tables(), unmap the old range.

        A check the kernel makes after it has unmapped something fails here after the same unmap (see
        _check_mremap and _mremap_to): the OSError's message says what is gone, .unmapped lists it.
        5.16 and 5.17 return 0xe for an unmapped old_addr (mremap_efault_positive): the result then has
        .returned == 0xe and nothing changed. From 6.17 a move that keeps the size (old_size == new_size)
        goes through remap_move(): the range may span several VMAs and the gaps between them, and each VMA
        is moved by its own move_vma(), in address order (see _remap_move)."""
        k = Kernel.parse(kernel)
        if new_addr is None:
            raise ValueError("new_addr is required: pagemove models MREMAP_MAYMOVE|MREMAP_FIXED moves")
        check_ints(old_addr=old_addr, old_size=old_size, new_size=new_size, new_addr=new_addr)
        opts = dict(have_move_pmd=have_move_pmd, have_move_pud=have_move_pud, unchecked_expansion=unchecked_expansion)
        old_len, new_len = self._check_mremap(old_addr, old_size, new_size, new_addr, k)
        if k.multi_vma_move and old_len == new_len:  # vrm_move_only(): remap_move()
            return self._remap_move(old_addr, old_len, new_addr, k, opts)
        vma = self.find_vma(old_addr)
        if k.mremap_looks_up_vma_first and vma is None:
            if k.mremap_efault_positive:
                return self._returned_efault(old_addr, old_len, new_addr, k, unchecked_expansion)
            raise kernel_error(errno.EFAULT, f"mremap: nothing is mapped at old_address {old_addr:#x}")
        if k.mremap_checks_vma_before_unmap:  # check_prep_vma()
            self._check_prep_vma(vma, old_addr, old_len, new_len)
        else:  # mremap_to()'s own checks, then do_munmap()s, then vma_to_resize()
            self._check_new_addr_aligned(new_addr)
            self._check_destination(old_addr, old_len, new_addr, new_len)
        result = self._mremap_to(old_addr, old_len, new_addr, new_len, k, opts)
        result.returned = new_addr
        return self._finish(result)

    def _mremap_to(self, old_addr: int, old_len: int, new_addr: int, new_len: int, k: Kernel, opts: dict,
                   first_step: int = 0) -> MoveResult:
        """mremap_to() (mm/mremap.c, every release): do_munmap() the destination, unmap the shrunk tail, then
        (up to 6.16) vma_to_resize()'s checks, get_unmapped_area(MAP_FIXED)'s mmap_min_addr check, move_vma().
        A check that fails after an unmap leaves that unmap done, as the kernel does."""
        unmapped = self._do_munmap(new_addr, new_addr + new_len)  # MREMAP_FIXED: the destination goes first
        if old_len > new_len:  # shrinking: the tail goes next, then the rest moves
            unmapped += self._do_munmap(old_addr + new_len, old_addr + old_len)
            old_len = new_len
        try:
            vma = self.find_vma(old_addr)
            if not k.mremap_checks_vma_before_unmap:  # vma_to_resize(): its lookup, then the VMA checks
                if vma is None:
                    raise kernel_error(errno.EFAULT, f"mremap: nothing is mapped at old_address {old_addr:#x}")
                self._check_prep_vma(vma, old_addr, old_len, new_len)
            self._check_mmap_addr("mremap: new_address", new_addr)  # get_unmapped_area() -> security_mmap_addr()
        except OSError as err:
            raise _after_unmap(err, unmapped) from None
        return self._move_vma(vma, old_addr, old_len, new_addr, new_len, k, opts, first_step)

    def _move_vma(self, vma: VMA, old_addr: int, old_len: int, new_addr: int, new_len: int, k: Kernel, opts: dict,
                  first_step: int = 0) -> MoveResult:
        """move_vma(): copy_vma(), move_page_tables(), then do_munmap() of the old range."""
        new_vma = replace(vma, start=new_addr, end=new_addr + new_len)
        self._insert(new_vma)  # copy_vma(): the new VMA exists before the page tables move
        result = move_page_tables(self, old_addr, new_addr, old_len, k, False, old_vma=vma, new_vma=new_vma,
                                  operation="mremap", first_step=first_step, **opts)
        result.tables_freed = self._unmap(old_addr, old_addr + old_len)  # do_munmap() of the old range
        return result

    def _remap_move(self, start: int, length: int, new_addr: int, k: Kernel, opts: dict) -> MoveResult:
        """remap_move() (mm/mremap.c, 6.17+): move every VMA in [start, start+length), in address order.

        Each VMA (cut to the range) is moved by its own mremap_to() -> move_vma() -> move_page_tables(),
        so each is realigned, or not, on its own, against the layout as it is at that moment (the VMAs
        moved before it already sit at their destinations). The gaps between source VMAs are kept
        between the destination VMAs; each mremap_to() unmaps only its own VMA's destination, so a
        mapping that sits where a gap lands is left alone. Refusals, as vma_multi_allowed() makes them:
        a userfaultfd-armed VMA (or, not modelled, a file whose f_op->get_unmapped_area might not obey
        MAP_FIXED) may only move alone: if the range goes on past its end (vma->vm_end < end) and it is
        the first VMA, that is EFAULT before anything moves; met later, it is EFAULT after the VMAs before
        it have moved (the kernel keeps that partial move; the OSError's .result holds it). That is the
        rule from 6.17-rc3 on: d5f416c7c364 ("mm/mremap: catch invalid multi VMA moves earlier", in
        mainline on 22 Aug 2025; d50dabff4d1f was its linux-next id). In 6.17-rc1 and rc2 (d23cb648e365,
        "mm/mremap: permit mremap() move of multiple VMAs") an ineligible VMA was refused only once a VMA
        had been moved, so an ineligible *first* VMA moved too and the call failed at the next one;
        pagemove models the final rule for every 6.17. A new_addr below vm.mmap_min_addr fails in the first
        VMA's mremap_to(), after its destination was unmapped (EPERM). Not modelled: mseal (EPERM), the
        map-count limit (ENOMEM), allocation failures and the reverse move after one."""
        end = start + length
        vmas = [v for v in self._vmas if v.start < end and v.end > start]  # for_each_vma_range()
        if not vmas or vmas[0].start > start:  # "No gap permitted at the start of the range."
            raise kernel_error(errno.EFAULT, f"mremap: nothing is mapped at old_address {start:#x}")
        first = vmas[0]
        if first.uffd and first.end < end:  # !vma_multi_allowed(), the first VMA, and the range goes on
            raise kernel_error(errno.EFAULT, f"mremap: {first} is userfaultfd-armed and the range runs on past its "
                                              f"end {first.end:#x}: vma_multi_allowed() lets it move only alone")
        parts: list[MoveResult] = []
        target, last_end = new_addr, None
        for v in vmas:
            offset = 0 if last_end is None else v.start - last_end  # keep the gap between source VMAs
            last_end = v.end
            addr, part_len = max(v.start, start), min(end, v.end) - max(v.start, start)
            if parts and v.uffd:  # !vma_multi_allowed() and not the first VMA: abort, keeping the moves done
                err = kernel_error(errno.EFAULT, f"mremap: {v} is userfaultfd-armed and may not move with other "
                                                 f"VMAs; the {len(parts)} VMA(s) before it have moved")
                err.result = self._finish(self._one_result(parts, start, new_addr, length))
                raise err
            part = self._mremap_to(addr, part_len, target + offset, part_len, k, opts,
                                   first_step=sum(len(p.events) for p in parts))
            parts.append(part)
            target = target + offset + part_len
        result = self._one_result(parts, start, new_addr, length)
        result.returned = new_addr
        return self._finish(result)

    def _one_result(self, parts: list[MoveResult], start: int, new_addr: int, length: int) -> MoveResult:
        """A single VMA's result as it is (so a one-VMA move reads the same on every kernel); several combined."""
        return parts[0] if len(parts) == 1 else combine(parts, start, new_addr, length, self.vmas)

    def _returned_efault(self, old_addr: int, old_len: int, new_addr: int, k: Kernel, unchecked: bool) -> MoveResult:
        """5.16/5.17 with nothing mapped at old_addr: `ret = EFAULT` (positive), so mremap() returns 0xe as if
        the mapping now started there; nothing was changed and errno is not set."""
        why = (f"kernel {k} returns 0xe: nothing is mapped at old_address {old_addr:#x}, and 5.16/5.17 set "
               f"ret = EFAULT, not -EFAULT (550a7d60bd5e; fixed in 5.18 by bd5dfea41b11), so the caller sees "
               f"0xe as the new address and no error")
        pt = self.pt.clone()
        result = MoveResult(self.geometry, str(k), "mremap", old_addr, new_addr, old_len, old_addr, new_addr, False,
                            why, False, unchecked, 0, [], pt, pt, vmas=self.vmas, realign_reason="efault-positive")
        result.returned = errno.EFAULT
        return self._finish(result)

    def _check_mremap(self, old_addr, old_size, new_size, new_addr, kernel: Kernel) -> tuple[int, int]:
        """The checks made before any VMA is looked at, in the kernel's order; returns (old_len, new_len).

        Where each check sits, by release (the rest is in mremap() and _mremap_to()):
        - up to 5.15 there is no lookup before mremap_to(): new_addr's alignment, TASK_SIZE and the overlap
          (EINVAL) come first; then the destination and the shrunk tail are unmapped; only then does
          vma_to_resize() find nothing at old_addr (EFAULT), old_len 0 (EINVAL) or a range past the VMA's
          end (EFAULT); get_unmapped_area() below vm.mmap_min_addr (EPERM) comes last;
        - 5.16 and 5.17 look the VMA up first and return 0xe (see mremap_efault_positive); 5.18-6.14 make that
          lookup EFAULT; the rest as before;
        - 6.15 and 6.16: check_mremap_params() checks new_addr's alignment before the lookup;
        - 6.17+: check_mremap_params() makes every argument check here; check_prep_vma() then checks the VMA
          before anything is unmapped; only get_unmapped_area()'s EPERM still comes after the destination's
          do_munmap()."""
        ps = self.geometry.page_size
        if old_addr % ps:
            raise kernel_error(errno.EINVAL, f"mremap: old_address {old_addr:#x} is not page aligned")
        old_len, new_len = self._page_align(old_size), self._page_align(new_size)
        if new_len == 0:
            raise kernel_error(errno.EINVAL, "mremap: new_size is zero")
        if kernel.mremap_checks_params_first:
            self._check_destination(old_addr, old_len, new_addr, new_len)
        elif kernel.mremap_checks_new_addr_first:
            self._check_new_addr_aligned(new_addr)
        return old_len, new_len

    def _check_prep_vma(self, vma: VMA, old_addr: int, old_len: int, new_len: int) -> None:
        """vma_to_resize() (up to 6.14; resize_is_valid() / remap_is_valid() in 6.15-6.16; check_prep_vma() from
        6.17): the checks on the VMA found at old_addr. A shrink's tail may cross VMAs; what moves may not."""
        if old_len == 0:
            raise kernel_error(errno.EINVAL, "mremap: old_size 0 only duplicates shared mappings; this one is private")
        if min(old_len, new_len) > vma.end - old_addr:
            raise kernel_error(errno.EFAULT, f"mremap: [{old_addr:#x}, {old_addr + min(old_len, new_len):#x}) is not "
                                              f"inside one mapping ({vma} ends first)")

    def _check_new_addr_aligned(self, new_addr: int) -> None:
        if new_addr % self.geometry.page_size:
            raise kernel_error(errno.EINVAL, f"mremap: new_address {new_addr:#x} is not page aligned")

    def _check_destination(self, old_addr: int, old_len: int, new_addr: int, new_len: int) -> None:
        """TASK_SIZE, alignment and overlap of the destination: mremap_to() up to 6.16, check_mremap_params()
        from 6.17 (which tests TASK_SIZE first; both are EINVAL)."""
        task = self.geometry.task_size
        if new_len > task or new_addr > task - new_len:
            raise kernel_error(errno.EINVAL, f"mremap: the destination reaches past TASK_SIZE {task:#x}")
        self._check_new_addr_aligned(new_addr)
        if old_addr + old_len > new_addr and new_addr + new_len > old_addr:
            raise kernel_error(errno.EINVAL, f"mremap: the ranges [{old_addr:#x}, {old_addr + old_len:#x}) and "
                                              f"[{new_addr:#x}, {new_addr + new_len:#x}) overlap")

    def _check_mmap_addr(self, what: str, addr: int) -> None:
        """security_mmap_addr() -> cap_mmap_addr() (security/commoncap.c): below vm.mmap_min_addr only a
        process with CAP_SYS_RAWIO may map (AddressSpace(cap_sys_rawio=True), as root has it)."""
        if addr < self.mmap_min_addr and not self.cap_sys_rawio:
            raise kernel_error(errno.EPERM, f"{what} {addr:#x} is below vm.mmap_min_addr {self.mmap_min_addr:#x} "
                                             f"(only CAP_SYS_RAWIO may map there)")

    def _do_munmap(self, start: int, end: int) -> list[tuple[int, int, tuple[VMA, ...]]]:
        """do_munmap() inside mremap_to(): [(start, end, the VMA pieces it removed)], or [] if nothing was there."""
        gone = tuple(replace(v, start=max(v.start, start), end=min(v.end, end))
                     for v in self._vmas if v.start < end and v.end > start)
        self._unmap(start, end)
        return [(start, end, gone)] if gone else []

    # ---- execve's stack move ---------------------------------------------------------------------

    def relocate_vma_down(self, vma: VMA | int, shift: int, kernel: str = NEWEST, *,
                          have_move_pmd: bool | None = None, have_move_pud: bool | None = None,
                          unchecked_expansion: bool = False, huge_stack: bool = False) -> MoveResult:
        """relocate_vma_down() (mm/vma_exec.c; shift_arg_pages() in fs/exec.c before 6.12): move a VMA down
        by `shift` with its page tables, as execve() does with the new stack.

        The stack execve() moves is its temporary one (VM_STACK_INCOMPLETE_SETUP), and the THP checks refuse
        huge pages there (vma_is_temporary_stack() in mm/huge_memory.c; is_vma_temporary_stack() in
        a7d6e4ecdb76, the 2011 fix for CVE-2011-0999), so a VMA
        with huge leaves is a ValueError. huge_stack=True runs the move anyway: a teaching extra, NOT a state
        any kernel since 2.6.38 reaches, the one way to show move_huge_pmd() refusing."""
        k = Kernel.parse(kernel)
        vma = self._resolve(vma)
        check_ints(shift=shift)
        if shift <= 0 or shift % self.geometry.page_size:
            raise ValueError(f"shift must be a positive multiple of PAGE_SIZE, got {shift:#x}")
        huge = [base for base, _ in self.pt.huge_leaves() if vma.start <= base < vma.end]
        if huge and not huge_stack:
            raise ValueError(f"the stack execve() moves never has huge pages (vma_is_temporary_stack() keeps THP off "
                             f"it), but {vma} has one at {huge[0]:#x}; pass huge_stack=True to move it anyway "
                             f"(not the kernel)")
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
        spanning = replace(vma, start=new_start)
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
        self._replace(spanning, replace(vma, start=new_start, end=new_end))
        return self._finish(result)

    # ---- helpers ---------------------------------------------------------------------------------

    def _finish(self, result: MoveResult) -> MoveResult:
        result.final_vmas, result.final = self.vmas, self.pt.clone()
        if result.unchecked:
            result.damage = merge_damage([find_damage(p, self) for p in result.parts or [result]])
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


def _after_unmap(err: OSError, unmapped: list) -> OSError:
    """A check that failed after mremap_to()'s do_munmap()s: say what they removed. err.unmapped is
    ((start, end), ...): the ranges unmapped that held a mapping; they stay unmapped, as in the kernel."""
    if unmapped:
        gone = ", ".join(str(v) for _, _, vmas in unmapped for v in vmas)
        err = OSError(err.errno, f"{err.strerror}; before this check the kernel had already unmapped {gone}, "
                                 f"and it stays unmapped")
    err.unmapped = tuple((start, end) for start, end, _ in unmapped)
    return err
