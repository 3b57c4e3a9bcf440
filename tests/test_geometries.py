"""Every machine pagemove models: the kernel's sizes and levels, and the seed's rule at every page size."""

import pytest

import pagemove as pm
from pagemove.scenario import GEOMETRIES, geometry_of, simulate

K, M, G, T = 1 << 10, 1 << 20, 1 << 30, 1 << 40

# name: (PAGE_SIZE, entries per table, PMD_SIZE, PUD_SIZE (PGDIR_SIZE when folded), levels, TASK_SIZE)
SIZES = {
    "x86_64": (4 * K, 512, 2 * M, G, 4, (1 << 47) - 4 * K),
    "x86_64_5level": (4 * K, 512, 2 * M, G, 5, (1 << 56) - 4 * K),  # LA57: __VIRTUAL_MASK_SHIFT 56
    "i386_pae": (4 * K, 512, 2 * M, G, 3, 0xC0000000),  # PUD folded: PUD_SIZE = PGDIR_SIZE, a 4-entry PGD
    "arm64_4k": (4 * K, 512, 2 * M, G, 4, 1 << 48),
    "arm64_16k": (16 * K, 2048, 32 * M, 64 * G, 4, 1 << 48),
    "arm64_64k": (64 * K, 8192, 512 * M, 4 * T, 3, 1 << 48),  # PUD folded: PUD_SIZE = PGDIR_SIZE
    "tiny": (4 * K, 8, 32 * K, 256 * K, 4, 1 << 24),
}


@pytest.mark.parametrize("name", sorted(SIZES))
def test_sizes_levels_and_names(name):
    geo = geometry_of(name)
    assert geo.name == name == getattr(pm.Geometry, name)().name
    assert (geo.page_size, geo.entries, geo.pmd_size, geo.pud_size, geo.levels, geo.task_size) == SIZES[name]


def test_every_geometry_is_offered():
    assert set(GEOMETRIES) == set(SIZES)


def test_level_names_and_address_split():
    assert [pm.Geometry.arm64_64k().level_name(lv) for lv in range(3)] == ["PTE", "PMD", "PGD"]
    assert [pm.Geometry.x86_64_5level().level_name(lv) for lv in range(5)] == ["PTE", "PMD", "PUD", "P4D", "PGD"]
    g16 = pm.Geometry.arm64_16k()
    top = (1 << 48) - g16.page_size
    assert g16.split(top) == {"PGD": 1, "PUD": 2047, "PMD": 2047, "PTE": 2047, "offset": 0}  # a 2-entry PGD
    g5 = pm.Geometry.x86_64_5level()
    assert g5.split((1 << 56) - 4 * K)["PGD"] == 255 and g5.hexwidth() == 15
    pae = pm.Geometry.i386_pae()
    assert pae.split(0xBFFFF000) == {"PGD": 2, "PMD": 511, "PTE": 511, "offset": 0}  # the last user page
    assert pae.split(0xFFFFF000)["PGD"] == 3 and pae.hexwidth() == 8  # 4 PGD entries, the 4th the kernel's


def test_arch_decides_have_move_pmd():
    """arm64 selects HAVE_MOVE_PMD from 5.10 only; before, a whole-PMD extent goes PTE by PTE."""
    for name in ("arm64_4k", "arm64_16k", "arm64_64k"):
        geo = geometry_of(name)
        assert geo.arch == "arm64"
        r59 = simulate(4 * geo.pmd_size, 8 * geo.pmd_size, geo.pmd_size, kernel="5.9", geometry=name)
        r510 = simulate(4 * geo.pmd_size, 8 * geo.pmd_size, geo.pmd_size, kernel="5.10", geometry=name)
        assert (r59.pmd_moves, r59.pte_moves) == (0, geo.entries) and (r510.pmd_moves, r510.pte_moves) == (1, 0)
    assert geometry_of("x86_64_5level").arch == geometry_of("i386_pae").arch == "x86"


def linus(name, kernel, thp=False):
    """Linus' overlapping example scaled: the stack [2·PMD − PAGE, +PMD + PAGE) shifted down by PMD."""
    geo = geometry_of(name)
    pmd, page = geo.pmd_size, geo.page_size
    mm = pm.AddressSpace(geo)
    v = mm.mmap(2 * pmd - page, pmd + page, populate=True, stack=True, thp=thp)
    return mm.relocate_vma_down(v, pmd, kernel), geo


@pytest.mark.parametrize("name", sorted(SIZES))
def test_linus_overlap_scaled_to_every_geometry(name):
    r66, geo = linus(name, "6.6")
    pmd, page = geo.pmd_size, geo.page_size
    assert (r66.pmd_moves, r66.pte_moves, r66.refusals, r66.warned) == (0, geo.entries + 1, 1, True)
    assert (r66.events[1].old, r66.events[1].new) == (2 * pmd, pmd)  # the refused step: onto the emptied entry
    r67, _ = linus(name, "6.7")
    assert (r67.realigned, r67.pmd_moves, r67.pte_moves, r67.refusals) == (True, 2, 0, 0)
    assert (r67.start_old, r67.start_new) == (pmd, 0)  # realigned into two whole PMDs
    assert r67.tlb_flushes == [(pmd, 2 * pmd), (2 * pmd, 3 * pmd)]
    for r in (r66, r67):  # every page lands at new + offset
        before = {f: a for a, f in r.before.pages().items()}
        assert all(before[f] - pmd == a for a, f in r.final.pages().items())
        assert len(r.final.pages()) == geo.entries + 1 and r.moved == pmd + page


def test_folded_pud_moves_a_pgd_entry_on_arm64_64k():
    """With 3 levels get_extent(NORMAL_PUD) uses PUD_SIZE = PGDIR_SIZE (4 TiB) and move_normal_pud() moves the
    PGD entry: a 4 TiB-aligned, 4 TiB move is one PUD-level move; a smaller one stops at 4 TiB boundaries."""
    geo = pm.Geometry.arm64_64k()
    mm = pm.AddressSpace(geo)
    mm.mmap(4 * T, 4 * T)
    mm.populate(4 * T, geo.pmd_size)  # one PMD's worth of pages in the 4 TiB region
    r = mm.mremap(4 * T, 4 * T, 4 * T, new_addr=12 * T, kernel="6.6")
    assert (r.pud_moves, r.pmd_moves, r.pte_moves) == (1, 0, 0) and len(r.events) == 1
    assert r.events[0].extent == 4 * T and r.tlb_flushes == [(4 * T, 8 * T)]
    assert len(mm.pages()) == geo.entries and min(mm.pages()) == 12 * T
    # A none PGD entry skips its whole 4 TiB extent in one step (get_old_pud() is NULL).
    mm2 = pm.AddressSpace(geo)
    mm2.mmap(4 * T - geo.pmd_size, 4 * T + 2 * geo.pmd_size)
    mm2.populate(4 * T - geo.pmd_size, geo.pmd_size)
    span = 4 * T + 2 * geo.pmd_size
    r2 = mm2.mremap(4 * T - geo.pmd_size, span, span, new_addr=20 * T - geo.pmd_size, kernel="6.6")
    assert [(e.level, e.outcome, e.extent) for e in r2.events] == [
        ("PMD", "moved", geo.pmd_size), ("PUD", "skipped", 4 * T), ("PUD", "skipped", geo.pmd_size)]


def test_5level_moves_above_47_bits():
    geo = pm.Geometry.x86_64_5level()
    old, new = 1 << 50, (1 << 55) + 0x200000
    r = simulate(old, new, 4 * M, geometry=geo)
    assert (r.pmd_moves, r.pte_moves) == (2, 0)
    assert simulate(old, new + 0x1000, 4 * M, geometry=geo).pte_moves == 1024


def test_the_real_i386_exec_that_warned():
    """Debian's 686-pae 6.1 kernel in QEMU warned (`vm warn`, pagemove/lab/vm/warn-reference.json) at an exec
    whose stack, built under STACK_TOP = 0xc0000000, was [0xbfbdf000, 0xc0000000) when shift_arg_pages() ran
    (kprobe) and moved down by exactly one PMD; its trace showed two refused PMD moves. The engine, on the same
    stack and shift: the cascade of two refusals and the WARN; 6.7 realigns it into 3 PMD moves."""
    top, length, shift = 0xC0000000, 0x421000, 0x200000
    mm = pm.AddressSpace(pm.Geometry.i386_pae())
    stack = mm.mmap(top - length, length, populate=True, stack=True)
    r61 = mm.relocate_vma_down(stack, shift, "6.1")
    assert (r61.refusals, r61.warned, r61.pmd_moves, r61.pte_moves) == (2, True, 0, 1057)
    assert [(v.start, v.end) for v in mm.vmas] == [(0xBF9DF000, 0xBFE00000)]  # the child's [stack], less 128 KiB
    r67 = simulate(top - length, top - length - shift, length, kernel="6.7", stack=True, geometry="i386_pae")
    assert (r67.realigned, r67.pmd_moves, r67.refusals, r67.pte_moves) == (True, 3, 0, 0)
    with pytest.raises(OSError, match="TASK_SIZE"):  # nothing is mapped above 3 GiB
        pm.AddressSpace(pm.Geometry.i386_pae()).mmap(top, 0x1000)
