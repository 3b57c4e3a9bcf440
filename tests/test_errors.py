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


@pytest.mark.parametrize("kernel,code", [("6.6", errno.EFAULT), ("6.14", errno.EFAULT), ("6.15", errno.EINVAL),
                                         ("6.18", errno.EINVAL)])
def test_errno_order_changed_in_615(kernel, code):
    """Nothing at old_address AND a misaligned new_address: up to 6.14 vma_lookup() answers first (EFAULT);
    6.15's check_mremap_params() checks the arguments before any VMA (EINVAL)."""
    mm, _ = layout()
    assert unchanged(mm, lambda: mm.mremap(0x50000000, PAGE, PAGE, new_addr=0x40000800, kernel=kernel)).errno == code


def test_stack_may_not_start_at_mmap_min_addr():
    mm = pm.AddressSpace()
    v = mm.mmap(0x20000, 2 * PAGE, populate=True, stack=True)
    assert unchanged(mm, lambda: mm.relocate_vma_down(v, 0x10000)).errno == errno.ENOMEM  # new start == 0x10000
    assert mm.relocate_vma_down(v, 0xf000).pte_moves == 2


def test_617_multi_vma_move_is_named_not_faked():
    """6.17 moves a range spanning several VMAs, one move_page_tables() per VMA; pagemove says it does
    not model that, instead of returning the EFAULT older kernels give."""
    mm, _ = layout()
    before, vmas = mm.pt.clone(), mm.vmas
    with pytest.raises(NotImplementedError, match="6.17's multi-VMA mremap"):
        mm.mremap(0x20000000, 4 * M + PAGE, 4 * M + PAGE, new_addr=0x40000000, kernel="6.17")
    assert mm.pt == before and mm.vmas == vmas


def test_prot_none_cannot_be_populated():
    mm, _ = layout()
    mm.mmap(0x31000000, 4 * PAGE, prot="none")
    assert unchanged(mm, lambda: mm.populate(0x31000000, PAGE)).errno == errno.EFAULT


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
