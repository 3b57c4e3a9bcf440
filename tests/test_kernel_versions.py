"""Version by version, what the engine does differently, checked against mm/mremap.c as each release has it
(reviews.md §2: 4.20, 5.8.1, 5.9.1, 5.10, 5.11, 5.12.9, 5.14.2, 5.15.16, 5.17-rc5, 5.19, 6.14, 6.17, 6.18 read).

- mremap()'s errno order: up to 5.15 no VMA lookup before mremap_to(); 5.16/5.17 return 0xe; 5.18+ EFAULT.
- late failures: what mremap_to() has unmapped before the failing check stays unmapped.
- the loop: no PUD step before 5.11; in 5.11-5.13 only for HAVE_MOVE_PUD && extent == PUD_SIZE.
- CAP_SYS_RAWIO below vm.mmap_min_addr; the P4D folded at run time (a 5-level kernel on 4-level paging).
"""

import errno

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pagemove as pm
from pagemove import lab, text

PAGE, M, G = 0x1000, 1 << 20, 1 << 30
EF, EI, EP = errno.EFAULT, errno.EINVAL, errno.EPERM
OK = "0xe"  # mremap() returned 0xe: no error at all


def one_vma():
    """reviews.md §2.1's layout: one VMA at 0x40000000, nothing at 0x50000000."""
    mm = pm.AddressSpace()
    mm.mmap(0x40000000, PAGE, populate=True)
    return mm


def outcome(mm, *args, **kw):
    """The errno the call fails with, or OK for 5.16/5.17's 0xe, and whether the address space changed."""
    before, vmas = mm.pt.clone(), mm.vmas
    try:
        r = mm.mremap(*args, **kw)
    except OSError as e:
        return e.errno, (mm.pt != before or mm.vmas != vmas)
    assert r.returned == 0xe and r.moved == 0 and not r.events, r
    return OK, (mm.pt != before or mm.vmas != vmas)


# reviews.md §2.1: mremap(0x50000000, 0x1000, 0x1000, new_addr) with nothing mapped at 0x50000000.
PROBES = [  # (case, new_addr, length)
    ("unaligned new_addr", 0x60000800, PAGE),
    ("past TASK_SIZE", (1 << 47) - PAGE, 2 * PAGE),
    ("overlapping", 0x50001000, 2 * PAGE),
    ("valid destination", 0x60000000, PAGE),
]
VERSIONS = ("4.20", "5.10", "5.15", "5.16", "5.17", "5.18")
EXPECTED = {  # per probe: the errno on 4.20, 5.10, 5.15, 5.16, 5.17, 5.18
    "unaligned new_addr": (EI, EI, EI, OK, OK, EF),
    "past TASK_SIZE": (EI, EI, EI, OK, OK, EF),
    "overlapping": (EI, EI, EI, OK, OK, EF),
    "valid destination": (EF, EF, EF, OK, OK, EF),
}


@pytest.mark.parametrize("case,new,length", PROBES, ids=[p[0] for p in PROBES])
def test_errno_order_before_and_after_the_early_lookup(case, new, length):
    got = tuple(outcome(one_vma(), 0x50000000, length, length, new_addr=new, kernel=k)[0] for k in VERSIONS)
    assert got == EXPECTED[case]


def test_5_16_and_5_17_return_0xe_and_change_nothing():
    for k in ("5.16", "5.17"):
        mm = one_vma()
        mm.mmap(0x60000000, PAGE, populate=True, name="dst")  # would be unmapped by a real move
        code, changed = outcome(mm, 0x50000000, PAGE, PAGE, new_addr=0x60000000, kernel=k)
        assert code == OK and not changed
        r = mm.mremap(0x50000000, PAGE, PAGE, new_addr=0x60000000, kernel=k)
        assert "0xe" in r.realign_check and r.realign_reason == "efault-positive"
        assert text.brief(r) == f"Linux {k}: 0 PMD, 0 PTE moves, 0 refusals, nothing moved: mremap() returned " \
                                "0xe (5.16/5.17's positive EFAULT)"
    # a mapped old_addr moves as on any other kernel, and returns new_addr
    mm = one_vma()
    assert mm.mremap(0x40000000, PAGE, PAGE, new_addr=0x60000000, kernel="5.16").returned == 0x60000000


def test_up_to_5_15_efault_comes_after_the_destination_is_unmapped():
    """mremap_to() (4.20-5.15): do_munmap(new_addr) and the shrunk tail's, then vma_to_resize()'s EFAULT.
    Seen in QEMU: Debian 5.10.223 unmaps a page at new_addr before its EFAULT; 6.1.176 keeps it."""
    for k, gone in (("4.20", True), ("5.15", True), ("5.16", False), ("5.18", False), ("6.18", False)):
        mm = one_vma()
        mm.mmap(0x60000000, 2 * PAGE, populate=True, name="dst")
        mm.mmap(0x50002000, PAGE, populate=True, name="tail")  # inside [old+new_len, old+old_len)
        try:
            mm.mremap(0x50000000, 3 * PAGE, 2 * PAGE, new_addr=0x60000000, kernel=k)
        except OSError as e:
            assert e.errno == EF and k not in ("5.16",)
            assert bool(e.unmapped) == gone
            if gone:
                assert e.unmapped == ((0x60000000, 0x60002000), (0x50002000, 0x50003000))
                assert "already unmapped" in str(e) and "dst" in str(e) and "tail" in str(e)
        names = {v.name for v in mm.vmas}
        assert ({"dst", "tail"} & names) == (set() if gone else {"dst", "tail"}), k


def test_multi_vma_efault_unmaps_the_destination_up_to_6_16():
    """08's two_vmas(): the read-only page in the gap lies in the destination. Up to 6.16 vma_to_resize()
    (remap_is_valid()) refuses after mremap_to() unmapped it; 6.17's check_prep_vma() refuses a growing
    move across VMAs before anything is unmapped."""
    def two_vmas():
        mm = pm.AddressSpace()
        mm.mmap(0x1fff000, 0x201000, populate=True, name="A")
        mm.mmap(0x23ff000, 0x201000, populate=True, name="B")
        mm.mmap(0x1300000, 0x1000, populate=True, prot="r", name="in the gap")
        return mm

    for k in ("5.10", "6.6", "6.16"):
        mm = two_vmas()
        with pytest.raises(OSError) as e:
            mm.mremap(0x1fff000, 0x601000, 0x601000, new_addr=0xfff000, kernel=k)
        assert e.value.errno == EF and e.value.unmapped == ((0xfff000, 0x1600000),)
        assert [v.name for v in mm.vmas] == ["A", "B"] and mm.find_vma(0x1300000) is None
    mm = two_vmas()
    with pytest.raises(OSError) as e:  # growing: 6.17+ still one VMA only, refused before any unmap
        mm.mremap(0x1fff000, 0x601000, 0x700000, new_addr=0xfff000, kernel="6.18")
    assert e.value.errno == EF and not getattr(e.value, "unmapped", ())
    assert [v.name for v in mm.vmas] == ["in the gap", "A", "B"]


def test_private_old_size_zero_is_einval_after_the_unmap_up_to_6_16():
    for k, gone in (("5.10", True), ("6.16", True), ("6.17", False)):
        mm = one_vma()
        mm.mmap(0x60000000, PAGE, populate=True, name="dst")
        with pytest.raises(OSError) as e:
            mm.mremap(0x40000000, 0, PAGE, new_addr=0x60000000, kernel=k)
        assert e.value.errno == EI and "private" in str(e.value)
        assert (mm.find_vma(0x60000000) is None) == gone


def test_eperm_below_mmap_min_addr_comes_after_the_destination_is_unmapped():
    """get_unmapped_area(MAP_FIXED) -> cap_mmap_addr() is the last check in every release, after
    do_munmap(): a destination that straddles vm.mmap_min_addr loses what lies above it. Seen in QEMU as
    uid 65534, this layout: EPERM, and [0x10000, 0x11000) gone, on Debian 5.10.223 and 6.1.176."""
    for k in ("4.20", "5.16", "6.6", "6.16", "6.17", "6.18"):
        mm = pm.AddressSpace()
        mm.mmap(0x40000000, 2 * PAGE, populate=True)
        mm.mmap(0x10000, PAGE, populate=True, name="low")  # mmap_min_addr is 0x10000
        with pytest.raises(OSError) as e:
            mm.mremap(0x40000000, 2 * PAGE, 2 * PAGE, new_addr=0xf000, kernel=k)  # [0xf000, 0x11000)
        assert e.value.unmapped == ((0xf000, 0x11000),)
        assert e.value.errno == EP and "CAP_SYS_RAWIO" in str(e.value), k
        assert mm.find_vma(0x10000) is None and mm.find_vma(0x40000000) is not None, k


def test_cap_sys_rawio_may_map_below_mmap_min_addr():
    """cap_mmap_addr(): below vm.mmap_min_addr only with CAP_SYS_RAWIO (root). Default: an ordinary user."""
    assert not pm.AddressSpace().cap_sys_rawio
    with pytest.raises(OSError) as e:
        pm.AddressSpace().mmap(0x1000, PAGE)
    assert e.value.errno == EP
    root = pm.AddressSpace(cap_sys_rawio=True)
    root.mmap(0x1000, PAGE, populate=True)
    root.mmap(0x40000000, PAGE, populate=True)
    r = root.mremap(0x40000000, PAGE, PAGE, new_addr=0x2000)
    assert r.pte_moves == 1 and root.find_vma(0x2000) is not None
    assert root.clone().cap_sys_rawio


# ---- the loop ----------------------------------------------------------------------------------------

def probe_2_2(kernel):
    """reviews.md §2.2: VMA [0x40000000, +4 MiB), first 2 MiB populated, moved to 0x7fffe00000."""
    mm = pm.AddressSpace()
    mm.mmap(0x40000000, 4 * M)
    mm.populate(0x40000000, 2 * M)
    return mm.mremap(0x40000000, 4 * M, 4 * M, new_addr=0x7fffe00000, kernel=kernel)


@pytest.mark.parametrize("kernel,tables", [("5.10", 1), ("5.11", 1), ("5.13", 1), ("5.14", 2), ("6.18", 2)])
def test_no_pud_table_for_a_step_that_moves_nothing_before_5_14(kernel, tables):
    """Step 2 (0x40200000 -> 0x8000000000) finds no old PMD. From 5.14 alloc_new_pud() has already made
    the PUD table of the destination's PGD slot; before, nothing is allocated. The moves are the same.
    Seen in QEMU (a static program): VmPTE changes by 0 pages on Debian 5.10.223, by 1 on 6.1.176."""
    r = probe_2_2(kernel)
    assert r.tables_allocated == tables
    assert (r.pmd_moves, r.pte_moves, len(r.events)) == (1, 0, 2)
    assert [(e.level, e.outcome) for e in r.events] == [("PMD", "moved"), ("PMD", "skipped")]
    assert r.replay() == r.after  # the replay allocates what the loop allocated


def test_pud_moves_by_release():
    """1 GiB aligned: no PUD step before 5.11 (512 PMD moves), a PUD move from 5.11 on x86."""
    for k, puds, pmds in (("5.10", 0, 512), ("5.11", 1, 0), ("5.13", 1, 0), ("5.14", 1, 0)):
        mm = pm.AddressSpace()
        mm.mmap(G, G, populate=True)
        r = mm.mremap(G, G, G, new_addr=4 * G, kernel=k)
        assert (r.pud_moves, r.pmd_moves) == (puds, pmds), k


def test_5_11_to_5_13_skip_a_missing_pud_only_at_pud_size():
    """A PUD-sized extent whose old PUD entry is none is skipped whole (get_old_pud() NULL); any other
    extent goes to get_old_pmd(), which skips one PMD extent at a time."""
    geo = pm.Geometry.x86_64()
    for k, steps in (("5.10", 512), ("5.13", 1), ("5.14", 1)):
        mm = pm.AddressSpace(geo)
        mm.mmap(512 * G, G)  # a PGD slot of its own, never populated: no PUD table there
        r = mm.mremap(512 * G, G, G, new_addr=4 * G, kernel=k)
        assert len(r.events) == steps and all(e.outcome == "skipped" for e in r.events), k
        assert r.tables_allocated == 0


def test_up_to_5_8_a_skipped_pmd_ignores_new_addr():
    """Up to 5.8 the extent is old's alone until just before move_ptes(): a none old PMD is skipped up to
    old's PMD boundary in one step; 5.9 cuts it at new's boundary first (two steps)."""
    for k, steps in (("4.20", 1), ("5.8", 1), ("5.9", 2), ("6.6", 2)):
        mm = pm.AddressSpace()
        mm.mmap(0x40000000, 2 * M)  # unpopulated: no PMD entry ...
        mm.mmap(0x40400000, PAGE, populate=True)  # ... but the PUD entry and the PMD table exist
        r = mm.mremap(0x40000000, 2 * M, 2 * M, new_addr=0x60100000, kernel=k)
        assert len(r.events) == steps and r.moved == 2 * M, k


LOOP_VERSIONS = ("4.20", "5.8", "5.10", "5.12", "5.13", "5.14", "5.19")


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.integers(0, 3), st.integers(1, 6), st.integers(0, 511), st.lists(st.integers(0, 3), max_size=3))
def test_loop_shapes_agree_on_pages_and_moves(start_pmd, pmds, new_pmd, holes):
    """Whatever the loop's shape, the pages end up in the same places with the same moves; only 5.14+ may
    allocate more tables (the destination PUD tables of steps that move nothing)."""
    results = {}
    for k in LOOP_VERSIONS:
        mm = pm.AddressSpace()
        old = G - 2 * M + start_pmd * 2 * M
        mm.mmap(old, pmds * 2 * M)
        for i in range(pmds):
            if i not in holes:
                mm.populate(old + i * 2 * M, 2 * M)
        r = mm.mremap(old, pmds * 2 * M, pmds * 2 * M, new_addr=511 * G - 4 * M + new_pmd * 2 * M, kernel=k)
        results[k] = (mm.pages(), r.pmd_moves, r.pte_moves, r.tables_allocated)
    assert all(v[0] == results["5.19"][0] for v in results.values())  # the same pages in the same places
    moves = {v[1:3] for k, v in results.items() if k != "4.20"}  # 4.20 has no HAVE_MOVE_PMD: PTE moves
    assert len(moves) == 1 and results["4.20"][1] == 0
    assert results["5.8"][3] == results["5.10"][3] == results["5.13"][3] <= results["5.14"][3] == results["5.19"][3]


@pytest.mark.parametrize("version,expected", [
    ("4.20", (False, False, False, False, False)), ("5.8", (False, False, False, False, False)),
    ("5.9", (True, False, False, False, False)), ("5.11", (True, True, False, False, False)),
    ("5.13", (True, True, False, False, False)), ("5.14", (True, True, True, False, False)),
    ("5.16", (True, True, True, True, True)), ("5.17", (True, True, True, True, True)),
    ("5.18", (True, True, True, True, False)), ("6.18", (True, True, True, True, False)),
])
def test_version_predicates(version, expected):
    k = pm.Kernel.parse(version)
    assert (k.extent_in_one_place, k.pud_step, k.pud_lookup_every_step, k.mremap_looks_up_vma_first,
            k.mremap_efault_positive) == expected
    assert k.mremap_checks_vma_before_unmap == (k >= pm.Kernel.parse("6.17"))


# ---- a P4D folded at run time (reviews.md §2.11) ---------------------------------------------------------

def test_munmap_of_the_last_vma_in_a_512g_slot_runs_p4d_free_tlb_on_a_5_level_kernel():
    """free_p4d_range() on a kernel built for 5 levels, running 4: pgd_none() is false, so the slot's
    p4d_free_tlb() runs though it frees nothing, and widens the gather by a page: the unmap flushes 1 page.
    Seen in QEMU (4-level CPU), this very layout: Debian 6.1.176 (X86_5LEVEL=y) traces `tlb_flush: pages:1`,
    Debian 5.10.223 (X86_5LEVEL off) no flush; a slot still in use flushes nothing on either."""
    for levels, calls in ((None, []), (4, []), (5, [512 * G])):
        mm = pm.AddressSpace(kernel_levels=levels)
        mm.mmap(0x40000000, PAGE, populate=True)  # something in slot 0, nothing else in slot 1
        mm.mmap(512 * G, PAGE)  # never touched: no page table at all in slot 1
        assert mm.munmap(512 * G, PAGE) == 0  # no table freed ...
        assert mm.pt.p4d_free_tlb_calls == calls  # ... and yet, built for 5 levels, p4d_free_tlb() ran
        flushes = lab.x86_unmap_flushes(set(), mm.geometry, p4d_frees=calls)
        assert flushes == ([1] if calls else [])


def test_no_p4d_free_tlb_while_the_slot_is_still_used():
    mm = pm.AddressSpace(kernel_levels=5)
    mm.mmap(512 * G, PAGE, populate=True)
    mm.mmap(512 * G + G, PAGE, populate=True)  # another VMA in the same 512 GiB slot: the ceiling
    mm.munmap(512 * G, PAGE)
    assert mm.pt.p4d_free_tlb_calls == []
    tables = mm.munmap(512 * G + G, PAGE)  # the last one: its PTE, PMD and PUD tables go, and the fold runs
    assert tables == 3 and mm.pt.p4d_free_tlb_calls == [512 * G]
    freed = {("pte", 512 * G + G), ("pmd", 512 * G + G), ("pud", 512 * G)}
    # the fold's page is the PUD table's own address: the flush is the same as without it
    assert lab.x86_unmap_flushes(freed, mm.geometry, p4d_frees=[512 * G]) == \
        lab.x86_unmap_flushes(freed, mm.geometry)


def test_kernel_levels_is_checked_and_cloned():
    with pytest.raises(ValueError, match="kernel_levels"):
        pm.AddressSpace(kernel_levels=3)
    mm = pm.AddressSpace(kernel_levels=5)
    assert mm.clone().pt.kernel_levels == 5
