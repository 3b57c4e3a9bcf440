"""6.17's multi-VMA mremap (remap_move() in mm/mremap.c): each VMA moved and realigned on its own."""

import errno

import pytest

import pagemove as pm

PAGE, PMD = 0x1000, 0x200000


def holes_layout():
    """mremap_test.c's "mremap move multiple vmas": 11 pages with holes at pages 1, 3, 7 and 9."""
    mm = pm.AddressSpace()
    base = 0x40000000
    mm.mmap(base, 11 * PAGE, populate=True)
    for hole in (1, 3, 7, 9):
        mm.munmap(base + hole * PAGE, PAGE)
    return mm, base


def snapshot(mm):
    return mm.pt.clone(), mm.vmas, mm.pages()


def test_holes_move_with_their_gaps_on_617():
    mm, base = holes_layout()
    before = mm.pages()
    new = 0x50000000
    r = mm.mremap(base, 11 * PAGE, 11 * PAGE, new_addr=new, kernel="6.17")
    assert len(r.parts) == 5 and [p.length for p in r.parts] == [PAGE, PAGE, 3 * PAGE, PAGE, PAGE]
    assert mm.pages() == {new + a - base: f for a, f in before.items()}  # every page at new + offset
    assert [(v.start - new) // PAGE for v in mm.vmas] == [0, 2, 4, 8, 10]  # the gaps stay gaps
    assert r.pte_moves == 7 and r.moved == 7 * PAGE and r.length == 11 * PAGE
    assert [e.step for e in r.events] == list(range(5)) and [e.part for e in r.events] == [0, 1, 2, 3, 4]
    assert len(r.tlb_flushes) == 5 and r.replay() == r.after


@pytest.mark.parametrize("kernel", ["6.6", "6.15", "6.16"])
def test_holes_are_efault_up_to_616(kernel):
    mm, base = holes_layout()
    pt, vmas, pages = snapshot(mm)
    with pytest.raises(OSError) as e:
        mm.mremap(base, 11 * PAGE, 11 * PAGE, new_addr=0x50000000, kernel=kernel)
    assert e.value.errno == errno.EFAULT and "not inside one mapping" in str(e.value)
    assert (mm.pt, mm.vmas, mm.pages()) == (pt, vmas, pages)


def two_case_c(blocker: bool):
    """Two case (c) VMAs a gap apart; optionally a page mapped where the gap lands at the destination."""
    mm = pm.AddressSpace()
    mm.mmap(0x1fff000, 0x201000, populate=True, name="A")
    mm.mmap(0x23ff000, 0x201000, populate=True, name="B")
    if blocker:  # inside B's destination PMD, below B', in the place the gap [0x2200000, 0x23ff000) lands
        mm.mmap(0x1300000, PAGE, populate=True, prot="r", name="blocker")
    return mm


def test_each_vma_is_realigned_on_its_own():
    r = two_case_c(False).mremap(0x1fff000, 0x601000, 0x601000, new_addr=0x0fff000, kernel="6.17")
    assert [p.realigned for p in r.parts] == [True, True] and r.realigned
    assert (r.pmd_moves, r.pte_moves, r.refusals) == (4, 0, 0)
    mm = two_case_c(True)
    r = mm.mremap(0x1fff000, 0x601000, 0x601000, new_addr=0x0fff000, kernel="6.17")
    assert [p.realigned for p in r.parts] == [True, False]
    assert r.parts[1].realign_reason == "new-blocked" and "blocker" in r.parts[1].realign_check
    assert (r.parts[0].pmd_moves, r.parts[1].pmd_moves, r.parts[1].pte_moves) == (2, 1, 1)
    assert "VMA 1: realigned" in r.realign_check and "VMA 2: not realigned" in r.realign_check
    assert mm.find_vma(0x1300000).name == "blocker"  # a mapping where a gap lands is not unmapped
    for k in range(len(r.events) + 1):  # replay across the VMAs' loops
        r.replay(k)
    assert r.replay(len(r.parts[0].events)) == r.parts[0].after


def test_layout_at_that_moment_not_at_the_start():
    """B's source PMD holds A, but A has moved away when B's move_page_tables() runs, so B is not blocked
    below old; it is blocked below new, where A' now is."""
    mm = pm.AddressSpace()
    mm.mmap(0x1e00000, PAGE, populate=True, name="A")
    mm.mmap(0x1fff000, 0x201000, populate=True, name="B")
    alone = mm.clone().mremap(0x1fff000, 0x201000, 0x201000, new_addr=0x3fff000, kernel="6.17")
    assert alone.realign_reason == "old-blocked"
    r = mm.mremap(0x1e00000, 0x401000, 0x401000, new_addr=0x3e00000, kernel="6.17")
    assert r.parts[1].realign_reason == "new-blocked"


def test_617_range_rules():
    mm, base = holes_layout()
    pt, vmas, pages = snapshot(mm)
    for start in (base + PAGE, base - PAGE):  # nothing mapped at old_address: EFAULT
        with pytest.raises(OSError) as e:
            mm.mremap(start, 4 * PAGE, 4 * PAGE, new_addr=0x50000000, kernel="6.17")
        assert e.value.errno == errno.EFAULT
    assert (mm.pt, mm.vmas, mm.pages()) == (pt, vmas, pages)
    # a single VMA followed by a gap: the VMA moves, the gap stays
    r = mm.mremap(base + 4 * PAGE, 4 * PAGE, 4 * PAGE, new_addr=0x50000000, kernel="6.17")
    assert not r.parts and r.length == 3 * PAGE and mm.find_vma(0x50002000) is not None
    # growing or shrinking is never a multi-VMA move
    with pytest.raises(OSError) as e:
        mm.mremap(base, 5 * PAGE, 6 * PAGE, new_addr=0x60000000, kernel="6.17")
    assert e.value.errno == errno.EFAULT


def uffd_layout(which):
    mm = pm.AddressSpace()
    for i, start in enumerate((0x40000000, 0x40002000, 0x40004000)):
        mm.mmap(start, PAGE, populate=True, uffd=(i == which), name=f"v{i}")
    return mm


def test_uffd_first_vma_refuses_before_anything_moves():
    mm = uffd_layout(0)
    pt, vmas, pages = snapshot(mm)
    with pytest.raises(OSError) as e:
        mm.mremap(0x40000000, 5 * PAGE, 5 * PAGE, new_addr=0x50000000, kernel="6.17")
    assert e.value.errno == errno.EFAULT and "vma_multi_allowed" in str(e.value)
    assert (mm.pt, mm.vmas, mm.pages()) == (pt, vmas, pages)
    assert mm.mremap(0x40000000, PAGE, PAGE, new_addr=0x50000000, kernel="6.17").pte_moves == 1  # alone: fine


def test_uffd_refusal_comes_before_the_mmap_min_addr_check():
    """remap_move() asks vma_multi_allowed() before mremap_to() reaches get_unmapped_area(): EFAULT, not EPERM."""
    mm = uffd_layout(0)
    with pytest.raises(OSError) as e:
        mm.mremap(0x40000000, 5 * PAGE, 5 * PAGE, new_addr=0x1000, kernel="6.17")
    assert e.value.errno == errno.EFAULT
    mm = uffd_layout(2)  # the same low destination without the refusal: the EPERM of mmap_min_addr
    with pytest.raises(OSError) as e:
        mm.mremap(0x40000000, 5 * PAGE, 5 * PAGE, new_addr=0x1000, kernel="6.17")
    assert e.value.errno == errno.EPERM


def test_uffd_later_vma_fails_after_a_partial_move():
    mm = uffd_layout(1)
    with pytest.raises(OSError) as e:
        mm.mremap(0x40000000, 5 * PAGE, 5 * PAGE, new_addr=0x50000000, kernel="6.17")
    assert e.value.errno == errno.EFAULT
    partial = e.value.result
    assert partial.pte_moves == 1 and partial.length == PAGE  # v0 moved, as the kernel leaves it
    assert [v.name for v in mm.vmas] == ["v1", "v2", "v0"] and mm.find_vma(0x50000000).name == "v0"


def test_uffd_vma_followed_only_by_a_gap_is_refused_for_running_past_its_end():
    """reviews.md §2.5: no other VMA follows, yet the kernel refuses: vma->vm_end < end (remap_move()).
    The message says so instead of speaking of other VMAs."""
    mm = pm.AddressSpace()
    mm.mmap(0x40000000, PAGE, populate=True, uffd=True, name="u")
    pt, vmas, pages = snapshot(mm)
    with pytest.raises(OSError) as e:
        mm.mremap(0x40000000, 3 * PAGE, 3 * PAGE, new_addr=0x50000000, kernel="6.17")
    assert e.value.errno == errno.EFAULT and "runs on past its end 0x40001000" in str(e.value)
    assert "other VMAs" not in str(e.value)
    assert (mm.pt, mm.vmas, mm.pages()) == (pt, vmas, pages)
    assert mm.mremap(0x40000000, PAGE, PAGE, new_addr=0x50000000, kernel="6.17").pte_moves == 1  # within it: fine


def test_617_eperm_comes_after_the_first_vmas_destination_is_unmapped():
    """remap_move() -> mremap_to() of the first VMA: do_munmap() of its destination, then
    get_unmapped_area() below vm.mmap_min_addr (EPERM). Nothing has moved, but the destination is gone."""
    mm = pm.AddressSpace()
    mm.mmap(0x40000000, 2 * PAGE, populate=True, name="v0")
    mm.mmap(0x40003000, PAGE, populate=True, name="v1")
    mm.mmap(0x10000, PAGE, populate=True, name="low")
    with pytest.raises(OSError) as e:  # v0's destination is [0xf000, 0x11000): "low" lies in it
        mm.mremap(0x40000000, 4 * PAGE, 4 * PAGE, new_addr=0xf000, kernel="6.17")
    assert e.value.errno == errno.EPERM and e.value.unmapped == ((0xf000, 0x11000),)
    assert mm.find_vma(0x10000) is None and [v.name for v in mm.vmas] == ["v0", "v1"]
