"""Every error path: the kernel's errno and a message naming the rule, or a ValueError for nonsense,
and in every case an address space left exactly as it was."""

import errno

import pytest

import pagemove as pm

M = 1 << 20
PAGE = 0x1000


def layout():
    mm = pm.AddressSpace()
    mm.mmap(0x20000000, 4 * M, populate=True, name="src")
    mm.mmap(0x20400000, 16 * PAGE, populate=True, name="next")
    mm.mmap(0x30000000, 8 * PAGE, populate=True, name="other")
    stack = mm.mmap(0x7ff000000000, 0x21000, populate=True, stack=True, name="stack")
    return mm, stack


def unchanged(mm, call):
    """Run call, expecting it to raise; return the exception after checking nothing changed."""
    before, vmas, pages, frame = mm.pt.clone(), mm.vmas, mm.pages(), mm.next_frame
    with pytest.raises((OSError, ValueError)) as e:
        call()
    assert mm.pt == before and mm.vmas == vmas and mm.pages() == pages and mm.next_frame == frame
    return e.value


OS_ERRORS = [
    # (errno, words the message must contain, the call)
    (errno.EINVAL, "old_address", lambda mm, s: mm.mremap(0x20000800, PAGE, PAGE, new_addr=0x40000000)),
    (errno.EINVAL, "new_address", lambda mm, s: mm.mremap(0x20000000, PAGE, PAGE, new_addr=0x40000800)),
    (errno.EINVAL, "new_size is zero", lambda mm, s: mm.mremap(0x20000000, PAGE, 0, new_addr=0x40000000)),
    (errno.EINVAL, "overlap", lambda mm, s: mm.mremap(0x20000000, 4 * M, 4 * M, new_addr=0x20200000)),
    (errno.EINVAL, "overlap", lambda mm, s: mm.mremap(0x20000000, 4 * M, 4 * M, new_addr=0x20000000)),
    (errno.EINVAL, "overlap", lambda mm, s: mm.mremap(0x20200000, 2 * M, 2 * M, new_addr=0x20100000)),
    (errno.EINVAL, "TASK_SIZE", lambda mm, s: mm.mremap(0x20000000, PAGE, PAGE, new_addr=1 << 47)),
    (errno.EINVAL, "private", lambda mm, s: mm.mremap(0x20000000, 0, PAGE, new_addr=0x40000000)),
    (errno.EPERM, "mmap_min_addr", lambda mm, s: mm.mremap(0x20000000, PAGE, PAGE, new_addr=0x1000)),
    (errno.EFAULT, "nothing is mapped", lambda mm, s: mm.mremap(0x50000000, PAGE, PAGE, new_addr=0x40000000)),
    (errno.EFAULT, "not inside one mapping",
     lambda mm, s: mm.mremap(0x20000000, 4 * M + PAGE, 4 * M + PAGE, new_addr=0x40000000, kernel="6.16")),
    (errno.EFAULT, "not inside one mapping",  # growing: even 6.17 moves one VMA only
     lambda mm, s: mm.mremap(0x20000000, 4 * M + PAGE, 8 * M, new_addr=0x40000000, kernel="6.18")),
    (errno.EEXIST, "overlaps the mapping", lambda mm, s: mm.mmap(0x30004000, 8 * PAGE)),
    (errno.EINVAL, "not page aligned", lambda mm, s: mm.mmap(0x30100800, PAGE)),
    (errno.EINVAL, "length is zero", lambda mm, s: mm.mmap(0x30100000, 0)),
    (errno.ENOMEM, "TASK_SIZE", lambda mm, s: mm.mmap((1 << 47) - 2 * PAGE, 2 * PAGE)),
    (errno.EPERM, "mmap_min_addr", lambda mm, s: mm.mmap(0x1000, PAGE)),
    (errno.ENOMEM, "not mapped", lambda mm, s: mm.populate(0x30000000, 16 * PAGE)),
    (errno.EINVAL, "length is zero", lambda mm, s: mm.munmap(0x30000000, 0)),
    (errno.EINVAL, "not page aligned", lambda mm, s: mm.munmap(0x30000010, PAGE)),
    (errno.EFAULT, "lies between", lambda mm, s: mm.relocate_vma_down(s, 0x7ff000000000 - 0x30000000)),
    (errno.ENOMEM, "mmap_min_addr", lambda mm, s: mm.relocate_vma_down(s, 0x7ff000000000 - 0x8000)),
]


@pytest.mark.parametrize("code,words,call", OS_ERRORS, ids=[f"{errno.errorcode[c]}-{w}" for c, w, _ in OS_ERRORS])
def test_kernel_errors_change_nothing(code, words, call):
    mm, stack = layout()
    e = unchanged(mm, lambda: call(mm, stack))
    assert isinstance(e, OSError) and e.errno == code
    assert words in str(e) and errno.errorcode[code] in str(e)


EF, EI = errno.EFAULT, errno.EINVAL
# reviews.md §2.1, checked against mm/mremap.c: with nothing mapped at old_address, which errno comes first.
ERRNO_ORDER = [  # (case, new_addr, length, errno on 6.6, 6.14, 6.15, 6.16, 6.17, 6.18)
    ("overlapping new", 0x50001000, 2 * PAGE, (EF, EF, EF, EF, EI, EI)),
    ("unaligned new_addr", 0x40000800, PAGE, (EF, EF, EI, EI, EI, EI)),
    ("new_addr + len past TASK_SIZE", (1 << 47) - PAGE, 2 * PAGE, (EF, EF, EF, EF, EI, EI)),
]
KERNELS = ("6.6", "6.14", "6.15", "6.16", "6.17", "6.18")


@pytest.mark.parametrize("case,new,length,codes", ERRNO_ORDER, ids=[c[0] for c in ERRNO_ORDER])
def test_errno_order_by_kernel(case, new, length, codes):
    """Up to 6.14 vma_lookup() (EFAULT) answers first; 6.15's check_mremap_params() checks new_addr's alignment
    before it, but TASK_SIZE and the overlap stay in mremap_to() until 6.17 checks every argument first."""
    mm, _ = layout()
    got = tuple(unchanged(mm, lambda k=k: mm.mremap(0x50000000, length, length, new_addr=new, kernel=k)).errno
                for k in KERNELS)
    assert got == codes


def test_kernel_errno_flags():
    k = {v: pm.Kernel.parse(v) for v in KERNELS}
    assert [k[v].mremap_checks_new_addr_first for v in KERNELS] == [False, False, True, True, True, True]
    assert [k[v].mremap_checks_params_first for v in KERNELS] == [False, False, False, False, True, True]


def test_stack_may_not_start_at_mmap_min_addr():
    mm = pm.AddressSpace()
    v = mm.mmap(0x20000, 2 * PAGE, populate=True, stack=True)
    assert unchanged(mm, lambda: mm.relocate_vma_down(v, 0x10000)).errno == errno.ENOMEM  # new start == 0x10000
    assert mm.relocate_vma_down(v, 0xf000).pte_moves == 2


def test_617_multi_vma_move_is_modelled():
    """6.17 moves a range spanning several VMAs (src and next here): no NotImplementedError any more."""
    mm, _ = layout()
    r = mm.mremap(0x20000000, 4 * M + PAGE, 4 * M + PAGE, new_addr=0x40000000, kernel="6.17")
    assert len(r.parts) == 2 and r.moved == 4 * M + PAGE


POPULATE_ERRORS = [  # madvise(MADV_POPULATE_WRITE) errnos (mm/madvise.c, mm/gup.c; madvise(2))
    ("PROT_NONE", dict(prot="none"), errno.EINVAL, "PROT_NONE"),
    ("read-only", dict(prot="r"), errno.EINVAL, "read-only"),
]


@pytest.mark.parametrize("name,kw,code,words", POPULATE_ERRORS, ids=[p[0] for p in POPULATE_ERRORS])
def test_populate_needs_write_permission(name, kw, code, words):
    mm, _ = layout()
    mm.mmap(0x31000000, 4 * PAGE, **kw)
    e = unchanged(mm, lambda: mm.populate(0x31000000, PAGE))
    assert e.errno == code and words in str(e)


def test_populate_failure_maps_nothing_and_zero_length_is_nothing():
    mm, _ = layout()
    mm.mmap(0x31000000, 4 * PAGE)
    mm.mmap(0x31004000, 4 * PAGE, prot="r")
    # writable first, read-only after: EINVAL, and the writable pages before it stay unpopulated
    assert unchanged(mm, lambda: mm.populate(0x31000000, 8 * PAGE)).errno == errno.EINVAL
    assert unchanged(mm, lambda: mm.populate(0x31000000, 16 * PAGE)).errno == errno.EINVAL  # EINVAL comes first
    mm.munmap(0x31004000, 4 * PAGE)
    assert unchanged(mm, lambda: mm.populate(0x31000000, 8 * PAGE)).errno == errno.ENOMEM  # a hole: ENOMEM
    assert mm.populate(0x31000000, 0) == 0 and mm.populate(0x50000000, 0) == 0  # length 0: nothing, even unmapped
    assert unchanged(mm, lambda: mm.populate(0x31000800, 0)).errno == errno.EINVAL  # the address is checked first
    assert mm.populate(0x31000000, 4 * PAGE) == 4


def test_mmap_populate_of_a_read_only_mapping_is_written_then_protected():
    """mmap(populate=True, prot="r") is the drawing device for blockers: written pages, then read-only."""
    mm = pm.AddressSpace()
    v = mm.mmap(0x31000000, 4 * PAGE, populate=True, prot="r")
    assert v.prot == "r" and len(mm.pages()) == 4 and len(set(mm.pages().values())) == 4


NONSENSE = [
    ("malformed kernel", lambda mm, s: mm.mremap(0x20000000, PAGE, PAGE, new_addr=0x40000000, kernel="six")),
    ("unknown kernel", lambda mm, s: mm.mremap(0x20000000, PAGE, PAGE, new_addr=0x40000000, kernel="9.1")),
    ("6.99", lambda mm, s: mm.relocate_vma_down(s, 0x200000, kernel="6.99")),
    ("kernel not str", lambda mm, s: mm.relocate_vma_down(s, 0x200000, kernel=6.7)),
    ("negative length", lambda mm, s: mm.mmap(0x30100000, -PAGE)),
    ("negative size", lambda mm, s: mm.mremap(0x20000000, -1, PAGE, new_addr=0x40000000)),
    ("float address", lambda mm, s: mm.mremap(0x20000000, PAGE, PAGE, new_addr=1.5)),
    ("no new_addr", lambda mm, s: mm.mremap(0x20000000, PAGE, PAGE)),
    ("zero shift", lambda mm, s: mm.relocate_vma_down(s, 0)),
    ("odd shift", lambda mm, s: mm.relocate_vma_down(s, 0x1800)),
    ("not a VMA", lambda mm, s: mm.relocate_vma_down(0x12345000, 0x200000)),
    ("bad prot", lambda mm, s: mm.mmap(0x30100000, PAGE, prot="rwx")),
    ("upward overlap", lambda mm, s: pm.move_page_tables(mm, 0x20000000, 0x20001000, 4 * M)),
    ("unmapped move", lambda mm, s: pm.move_page_tables(mm, 0x50000000, 0x60000000, PAGE)),
]


@pytest.mark.parametrize("name,call", NONSENSE, ids=[n for n, _ in NONSENSE])
def test_nonsense_is_a_value_error(name, call):
    mm, stack = layout()
    e = unchanged(mm, lambda: call(mm, stack))
    assert type(e) is ValueError and str(e)


@pytest.mark.parametrize("version,realigns", [("6.6", False), ("v6.7", True), ("6.7-rc1", True), ("6.12.3", True),
                                              ("4.20", False), ("7.0", True)])
def test_kernel_versions(version, realigns):
    assert pm.Kernel.parse(version).realigns == realigns


@pytest.mark.parametrize("version", ["", "6", "6.x", "4.19", "5.20", "8.0", "six.seven", "6.7.1.2"])
def test_bad_kernel_versions(version):
    with pytest.raises(ValueError, match="kernel version"):
        pm.Kernel.parse(version)


def test_geometry_rules():
    for bad in (dict(page_shift=7), dict(bits_per_level=0), dict(levels=2), dict(va_bits=70)):
        with pytest.raises(ValueError):
            pm.Geometry(**bad)
    with pytest.raises(ValueError, match="page_size"):
        pm.Geometry.arm64(8192)
    with pytest.warns(DeprecationWarning, match="arm64_64k"):  # the old name still works, and says what to use
        assert pm.Geometry.arm64(65536) == pm.Geometry.arm64_64k()
