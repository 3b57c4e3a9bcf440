"""Table tests for the engine: the seed's worked examples, the kernel selftest's alignment matrix,
the length guard, every blocker kind, and the kernel order of mremap and relocate_vma_down."""

import pytest

import pagemove as pm
from pagemove.scenario import simulate

K = 1 << 10
M = 1 << 20
G = 1 << 30
PMD = 2 * M
PAGE = 4 * K


def counts(r):
    return (r.pud_moves, r.pmd_moves, r.pte_moves, r.refusals)


# ---- kernel-notes.md §8: E1 to E6 -------------------------------------------------------------------
# (pud, pmd, pte, refusals) on 6.6 and on 6.7, and whether 6.7 realigned.
WORKED = [
    ("E1 case (a)", dict(old=0x20000000, new=0x30000000, length=0x400000), (0, 2, 0, 0), (0, 2, 0, 0), False),
    ("E2 case (b)", dict(old=0x20000000, new=0x30001000, length=0x400000), (0, 0, 1024, 0), (0, 0, 1024, 0), False),
    ("E3 case (c)", dict(old=0x1fff000, new=0x0fff000, length=0x201000), (0, 1, 1, 0), (0, 2, 0, 0), True),
    ("E4 overlap", dict(old=0x1fff000, new=0x1dff000, length=0x201000, stack=True), (0, 0, 513, 1), (0, 2, 0, 0), True),
    ("E5 partial", dict(old=0x1fff000, new=0x1dff000, length=0x200000, stack=True), (0, 0, 512, 0), (0, 1, 511, 0),
     True),
    ("E6 cascade", dict(old=0x1fff000, new=0x1dff000, length=0x601000, stack=True), (0, 0, 1537, 3), (0, 4, 0, 0),
     True),
]


@pytest.mark.parametrize("name,args,pre,post,realigns", WORKED, ids=[w[0] for w in WORKED])
def test_worked_examples(name, args, pre, post, realigns):
    r66 = simulate(kernel="6.6", **args)
    r67 = simulate(kernel="6.7", **args)
    assert counts(r66) == pre
    assert counts(r67) == post
    assert not r66.realigned and r67.realigned == realigns
    assert r66.moved == r67.moved == args["length"]  # the return value counts the caller's bytes only


def test_seed_state_after_first_page():
    """Linus: after one page, old = 0x2000000, new = 0x1e00000, len = 0x200000, and the PMD move hits
    the old, empty PMD entry."""
    r = simulate(0x1fff000, 0x1dff000, 0x201000, stack=True, kernel="6.6")
    first, second = r.events[:2]
    assert (first.level, first.ptes, first.extent) == ("PTE", 1, PAGE)
    assert (second.old, second.new, second.extent) == (0x2000000, 0x1e00000, 0x200000)
    assert second.refused == ("PMD",) and "emptied at step 1" in second.cause  # readers count steps from 1
    after_one = r.replay(1)
    assert after_one.empty(0x1fff000)  # the source PMD entry: present, no page left in it
    assert after_one.present(0x1e00000, 1)


def test_warn_line_and_flushes_e4():
    r66 = simulate(0x1fff000, 0x1dff000, 0x201000, stack=True, kernel="6.6")
    r67 = simulate(0x1fff000, 0x1dff000, 0x201000, stack=True, kernel="6.7")
    assert r66.warned and not r67.warned
    assert r66.tlb_flush_pages() == [1, -1]  # one page, then the 512-PTE fallback
    assert r67.tlb_flush_pages() == [-1, -1]  # two PMD moves
    assert r67.tlb_flushes == [(0x1e00000, 0x2000000), (0x2000000, 0x2200000)]


# ---- tools/testing/selftests/mm/mremap_test.c: the alignment matrix (kernel-notes §6.2) ------------------
# Addresses of each alignment class, aligned to it but not to twice it, as get_source_mapping() picks them.
SRC = {"PTE": 5 * G + 0x1000, "1MB": 5 * G + M, "PMD": 5 * G + PMD, "PUD": 5 * G}
DST = {"PTE": 9 * G + 0x3000, "1MB": 9 * G + M, "PMD": 9 * G + PMD, "PUD": 9 * G}
THRESHOLD = 4 * M  # the selftest fills (faults in) only the first 4 MiB of each region by default

SELFTEST = [
    # (case, src, dst, size, 6.6 counts, 6.7 counts)
    # 3: not mutually aligned, 2 pages inside one PMD: 2 PTE moves either way.
    ("3 8KB PTE->PTE", "PTE", "PTE", 8 * K, (0, 0, 2, 0), (0, 0, 2, 0)),
    # 4: offsets 0x100000 and 0x3000 differ: page-wise, extents cut at both sides' boundaries. 512 PTEs.
    ("4 2MB 1MB->PTE", "1MB", "PTE", 2 * M, (0, 0, 512, 0), (0, 0, 512, 0)),
    # 5: mutually aligned at 1 MiB. 6.6: 256 PTEs to the boundary, then a 1 MiB tail (not a whole PMD):
    #    256 more. 6.7: realigned down to the boundary: one PMD move carries the first 256 pages, then
    #    the 256-page tail ("98800ns vs 54680ns" in Zhenyu Zhang's arm64 run).
    ("5 2MB 1MB->1MB", "1MB", "1MB", 2 * M, (0, 0, 512, 0), (0, 1, 256, 0)),
    # 6, 7: the source is PMD-aligned but the destination is not (0x3000 / 0x100000): page-wise,
    #       1024 PTEs. 6.7 cannot help: old is already aligned, so they are not mutually aligned.
    ("6 4MB PMD->PTE", "PMD", "PTE", 4 * M, (0, 0, 1024, 0), (0, 0, 1024, 0)),
    ("7 4MB PMD->1MB", "PMD", "1MB", 4 * M, (0, 0, 1024, 0), (0, 0, 1024, 0)),
    # 8: case (a): 2 PMD moves.
    ("8 4MB PMD->PMD", "PMD", "PMD", 4 * M, (0, 2, 0, 0), (0, 2, 0, 0)),
    # 9, 10: 2 GiB, but only the first 4 MiB has page tables: 1024 PTEs, and every extent without an old
    #        PMD (or PUD) entry is skipped whole.
    ("9 2GB PUD->PTE", "PUD", "PTE", 2 * G, (0, 0, 1024, 0), (0, 0, 1024, 0)),
    ("10 2GB PUD->1MB", "PUD", "1MB", 2 * G, (0, 0, 1024, 0), (0, 0, 1024, 0)),
    # 11: PMD-aligned on both sides but the destination is not PUD-aligned: the 2 populated PMDs move.
    ("11 2GB PUD->PMD", "PUD", "PMD", 2 * G, (0, 2, 0, 0), (0, 2, 0, 0)),
    # 12: both PUD-aligned: the first GiB moves as one PUD entry; the second GiB has no PUD entry.
    ("12 2GB PUD->PUD", "PUD", "PUD", 2 * G, (1, 0, 0, 0), (1, 0, 0, 0)),
    # 13 (6.7): 5 MiB at 1 MiB offsets, first 4 MiB populated. 6.6: 256 PTEs, then 2 PMDs (the second
    #    holds the last populated MiB). 6.7: realigned, 3 PMD moves.
    ("13 5MB 1MB->1MB", "1MB", "1MB", 5 * M, (0, 2, 256, 0), (0, 3, 0, 0)),
]


def selftest_move(src, dst, size, kernel, preamble=False):
    mm = pm.AddressSpace()
    old, new = SRC[src], DST[dst]
    mm.mmap(old, size)
    mm.populate(old, min(size, THRESHOLD))
    if preamble:  # test 14: a 40 MiB mapping ending exactly at the destination
        mm.mmap(new - 40 * M, 40 * M, populate=False, name="preamble")
        mm.populate(new - 4 * M, 4 * M)
    before = mm.pages()
    r = mm.mremap(old, size, size, new_addr=new, kernel=kernel)
    return mm, before, r


@pytest.mark.parametrize("case,src,dst,size,pre,post", SELFTEST, ids=[c[0] for c in SELFTEST])
def test_selftest_matrix(case, src, dst, size, pre, post):
    for kernel, expect in (("6.6", pre), ("6.7", post)):
        mm, before, r = selftest_move(src, dst, size, kernel)
        assert counts(r) == expect, kernel
        # data integrity, as the selftest checks it: every page arrived at new + offset
        old, new = SRC[src], DST[dst]
        assert mm.pages() == {new + a - old: f for a, f in before.items()}


def test_selftest_14_preamble_blocks_realignment():
    """Test 14: a mapping ends exactly at the destination, so can_align_down(new) refuses; the
    preamble's pages are untouched."""
    mm, before, r = selftest_move("1MB", "1MB", 5 * M, "6.7", preamble=True)
    assert not r.realigned and "preamble" in r.realign_check
    assert counts(r) == (0, 2, 256, 0)  # the 6.6 path
    pre = {a: f for a, f in before.items() if DST["1MB"] - 40 * M <= a < DST["1MB"]}
    assert pre and all(mm.pages()[a] == f for a, f in pre.items())


@pytest.mark.parametrize("size,src,dst,expect", [
    (G, "PTE", "PTE", (0, 0, 262144, 0)),  # P0: page-wise
    (G, "PMD", "PMD", (0, 512, 0, 0)),  # P1: PMD-wise
    (G, "PUD", "PUD", (1, 0, 0, 0)),  # P2: one PUD entry
], ids=["P0", "P1", "P2"])
def test_selftest_perf_cases(size, src, dst, expect):
    mm = pm.AddressSpace()
    mm.mmap(SRC[src], size, populate=True)
    for kernel in ("6.6", "6.7"):
        m2 = mm.clone()
        assert counts(m2.mremap(SRC[src], size, size, new_addr=DST[dst], kernel=kernel)) == expect


def test_selftest_misc_move_within_range():
    """M1 ("mremap move within range"): move [src+1M, +1M) of a 20 MiB mapping to src-1M. The source is
    a sub-range, so no realignment, and [src, src+1M) stays intact. Without can_align_down() the move
    drags those pages along and overwrites the mapping below the destination."""
    def run(**kw):
        mm = pm.AddressSpace()
        ptr = 0x40000000 + 0x13000
        mm.mmap(ptr, 20 * M, populate=True)
        src = (ptr + 6 * M) & ~(PMD - 1)
        before = mm.pages()
        return mm, src, before, mm.mremap(src + M, M, M, new_addr=src - M, **kw)

    mm, src, before, r = run(kernel="6.7")
    assert not r.realigned and "not the start of its VMA" in r.realign_check
    assert counts(r) == (0, 0, 256, 0)
    assert all(mm.pages()[a] == before[a] for a in range(src, src + M, PAGE))

    mm, src, before, r = run(kernel="6.7", unchecked_expansion=True)
    assert r.realigned and r.refusals == 1  # the destination PMD still maps [src-2M, src-1M)
    assert len(r.damage.dragged) == 256 and len(r.damage.clobbered) == 256


def test_selftest_misc_offset_from_start():
    """M2: move 1 MiB from 1 MiB into a mapping at a 1M+256K offset. Mutually aligned, but the length
    guard (0x1c0000 > 1 MiB) says no before can_align_down() is even asked."""
    mm = pm.AddressSpace()
    src, dst = 5 * G + 0x140000, 9 * G + 0x140000
    mm.mmap(src, 6 * M, populate=True)
    mm.mmap(dst, 6 * M, populate=True)
    mm.munmap(dst, M)
    r = mm.mremap(src + M, M, M, new_addr=dst + M, kernel="6.7")
    assert not r.realigned and "length guard" in r.realign_check
    assert counts(r) == (0, 0, 256, 0)


def test_selftest_expected_failures():
    mm = pm.AddressSpace()
    src = 5 * G + 0x1000
    mm.mmap(src, PAGE, populate=True)
    with pytest.raises(OSError) as e:  # 0: overlapping source and destination
        mm.mremap(src, PAGE, PAGE, new_addr=src)
    assert e.value.errno == 22
    with pytest.raises(OSError) as e:  # 1: destination misaligned (1KB-aligned)
        mm.mremap(src, PAGE, PAGE, new_addr=9 * G + K)
    assert e.value.errno == 22
    with pytest.raises(OSError) as e:  # 2: source misaligned: mapping it already fails
        mm.mmap(7 * G + K, PAGE)
    assert e.value.errno == 22


# ---- the length guard, at its exact boundary ---------------------------------------------------------

@pytest.mark.parametrize("offset", [0x1000, 0x100000, 0x1e0000, 0x1ff000])
def test_length_guard_boundary(offset):
    guard = PMD - offset  # realign iff len >= PMD_SIZE - (old & ~PMD_MASK)
    for length, realigns in ((guard - PAGE, False), (guard, True), (guard + PAGE, True)):
        if length <= 0:
            continue
        r = simulate(5 * G + offset, 9 * G + offset, length, kernel="6.7")
        assert r.realigned == realigns, hex(length)
        if not realigns:
            assert "length guard" in r.realign_check


def test_guard_one_page_becomes_pmd_move():
    """real-kernel.md §8.2: at offset 0x1ff000 a 4 KiB mremap is done by moving the whole PTE table."""
    r = simulate(5 * G + 0x1ff000, 9 * G + 0x1ff000, PAGE, kernel="6.18")
    assert counts(r) == (0, 1, 0, 0) and r.tlb_flush_pages() == [-1]
    r = simulate(5 * G + 0x1e0000, 9 * G + 0x1e0000, 124 * K, kernel="6.18")
    assert r.tlb_flush_pages() == [31]  # below the guard: 31 pages, one flush of 31 pages


@pytest.mark.parametrize("kernel", ["6.7", "6.14", "6.15", "6.18"])
def test_guard_is_checked_first(kernel):
    """6.7-6.14 test the guard in move_page_tables() before try_realign_addr(); 6.15 moved it to the top
    of can_realign_addr(). Either way a short move from an aligned address fails on the guard."""
    assert "length guard" in simulate(5 * G, 9 * G, PAGE, kernel=kernel).realign_check
    assert "already PMD-aligned" in simulate(5 * G, 9 * G, PMD, kernel=kernel).realign_check


# ---- what blocks realignment (real-kernel.md §5.2) -----------------------------------------------------

OFF = 0x1ff000


@pytest.mark.parametrize("blocker,reason", [
    ((5 * G, PAGE), "below old"),  # one page at old & PMD_MASK
    ((9 * G, PAGE), "below new"),  # one page at new & PMD_MASK
], ids=["below-old", "below-new"])
def test_blockers_refuse_realignment(blocker, reason):
    r = simulate(5 * G + OFF, 9 * G + OFF, PMD + PAGE, kernel="6.7", blockers=[blocker])
    assert not r.realigned and "blocker" in r.realign_check
    assert r.tlb_flush_pages()[:2] == [1, -1]


def test_subrange_refuses_realignment():
    mm = pm.AddressSpace()
    mm.mmap(5 * G + OFF - PAGE, PMD + 2 * PAGE, populate=True)  # the VMA starts one page below old
    r = mm.mremap(5 * G + OFF, PMD + PAGE, PMD + PAGE, new_addr=9 * G + OFF, kernel="6.7")
    assert not r.realigned and "not the start of its VMA" in r.realign_check
    assert r.tlb_flush_pages() == [1, -1]


def test_prot_none_reservation_refuses_realignment():
    mm = pm.AddressSpace()
    mm.mmap(5 * G, OFF, prot="none", name="reservation")
    mm.mmap(5 * G + OFF, PMD + PAGE, populate=True)
    r = mm.mremap(5 * G + OFF, PMD + PAGE, PMD + PAGE, new_addr=9 * G + OFF, kernel="6.7")
    assert not r.realigned and "reservation" in r.realign_check


def test_mapping_in_previous_pmd_does_not_block():
    r = simulate(5 * G + OFF, 9 * G + OFF, PMD + PAGE, kernel="6.7",
                 blockers=[(5 * G - PAGE, PAGE), (9 * G - PAGE, PAGE)])
    assert r.realigned and r.tlb_flush_pages() == [-1, -1]


def test_linus_test_program_is_not_sped_up():
    """Linus' untested program: map 128MB+1MB for 2MB, mremap it MREMAP_FIXED to 128MB-1MB ("GB" is
    1 MiB there). copy_vma() has already created [127M, 129M) when can_align_down() looks below the
    source, so 6.7 does not realign."""
    r = simulate(129 * M, 127 * M, 2 * M, kernel="6.7")
    assert not r.realigned and "cannot align old down" in r.realign_check
    assert counts(r) == counts(simulate(129 * M, 127 * M, 2 * M, kernel="6.6")) == (0, 0, 512, 0)


# ---- mremap: kernel order, growing and shrinking -------------------------------------------------------

def test_mremap_unmaps_destination_first():
    mm = pm.AddressSpace()
    mm.mmap(0x20000000, 4 * PAGE, populate=True)
    mm.mmap(0x30000000, 8 * PAGE, populate=True, name="victim")
    victim = {a for a in mm.pages() if a >= 0x30000000}
    mm.mremap(0x20000000, 4 * PAGE, 4 * PAGE, new_addr=0x30000000)
    assert [(v.start, v.end) for v in mm.vmas] == [(0x30000000, 0x30004000), (0x30004000, 0x30008000)]
    assert set(mm.pages()) == victim  # same addresses, but the first four now hold the moved frames
    assert mm.pages()[0x30000000] == 1


def test_mremap_grow_and_shrink():
    mm = pm.AddressSpace()
    mm.mmap(0x20000000, 8 * PAGE, populate=True)
    r = mm.mremap(0x20000000, 8 * PAGE, 12 * PAGE, new_addr=0x30000000)  # grow: new VMA is 12 pages
    assert r.pte_moves == 8 and [(v.start, v.end) for v in mm.vmas] == [(0x30000000, 0x3000c000)]
    r = mm.mremap(0x30000000, 12 * PAGE, 2 * PAGE, new_addr=0x40000000)  # shrink: the tail is unmapped first
    assert r.pte_moves == 2 and sorted(mm.pages().values()) == [1, 2]
    assert [(v.start, v.end) for v in mm.vmas] == [(0x40000000, 0x40002000)]


def test_mremap_frees_the_source_tables():
    mm = pm.AddressSpace()
    mm.mmap(0x20000000, 4 * M, populate=True)
    r = mm.mremap(0x20000000, 4 * M, 4 * M, new_addr=0x30001000, kernel="6.6")
    assert r.after.empty(0x20000000) and r.after.empty(0x20200000)  # move_ptes left them present, empty
    assert mm.pt.entry(0x20000000, 1) is None and mm.pt.entry(0x20200000, 1) is None  # munmap freed them
    assert mm.pt.entry(0x20000000, 2) is not None  # ... but not the PMD table: the destination shares its PUD
    assert r.tables_freed == 2


def test_relocate_frees_vacated_tables_and_shrinks():
    mm = pm.AddressSpace()
    v = mm.mmap(0x7ff000000000 - 0x201000, 0x201000, populate=True, stack=True)
    r = mm.relocate_vma_down(v, 0x200000 * 8, kernel="6.6")  # far enough not to overlap
    assert [(v.start, v.end) for v in mm.vmas] == [(v.start - 0x1000000, v.end - 0x1000000)]
    assert counts(r) == (0, 1, 1, 0)  # not overlapping: case (c) without the refusal
    assert all(v.start - 0x1000000 <= a < v.end - 0x1000000 for a in mm.pages())
    assert mm.pt.entry(v.start, 1) is None  # the vacated PTE table was freed


def test_have_move_pmd_off_is_page_wise():
    mm = pm.AddressSpace()
    mm.mmap(0x20000000, 4 * M, populate=True)
    r = mm.mremap(0x20000000, 4 * M, 4 * M, new_addr=0x30000000, have_move_pmd=False, have_move_pud=False)
    assert counts(r) == (0, 0, 1024, 0)
    assert "CONFIG_HAVE_MOVE_PMD is off" in r.events[0].cause


def test_pud_moves_need_kernel_511():
    mm = pm.AddressSpace()
    mm.mmap(5 * G, G, populate=True)
    assert mm.clone().mremap(5 * G, G, G, new_addr=9 * G, kernel="5.10").pmd_moves == 512
    assert mm.clone().mremap(5 * G, G, G, new_addr=9 * G, kernel="5.11").pud_moves == 1


def test_pud_refusal_on_overlapping_stack_move():
    """The PUD-level twin of the WARN: a stack whose start sits one page below a PUD boundary, shifted
    by exactly one PUD, moves one page, then finds its own PUD entry at the destination."""
    mm = pm.AddressSpace()
    v = mm.mmap(5 * G - PAGE, G + PAGE, stack=True)
    mm.populate(5 * G - PAGE, 2 * PAGE)
    r = mm.relocate_vma_down(v, G, kernel="6.6")
    assert r.events[1].refused == ("PUD",) and r.refusals >= 1


def test_unchecked_expansion_drags_and_clobbers():
    mm = pm.AddressSpace()
    mm.mmap(0x1e00000, 0x1000, populate=True, name="below-old")
    mm.mmap(0x0e00000, 0x1000, populate=True, name="below-new")
    mm.mmap(0x1fff000, 0x201000, populate=True)
    r = mm.mremap(0x1fff000, 0x201000, 0x201000, new_addr=0x0fff000, kernel="6.7", unchecked_expansion=True)
    assert r.realigned and r.realign_reason == "unchecked" and "not the kernel" in r.realign_check
    assert r.damage.dragged == ((0x1e00000, 0x0e00000, 1),)
    assert r.damage.clobbered == ((0x0e00000, 2),)
    assert mm.pages()[0x0e00000] == 1  # the blocker below new now maps the dragged frame
    kernel = simulate(0x1fff000, 0x0fff000, 0x201000, kernel="6.7", blockers=[(0x1e00000, 0x1000)])
    assert not kernel.realigned and kernel.damage is None  # the kernel refuses, so nothing to report


def test_replay_every_step():
    r = simulate(0x1fff000, 0x1dff000, 0x601000, stack=True, kernel="6.6")
    assert r.replay(0) == r.before and r.replay() == r.after
    # after step k, the PMD entry that step k-1 moved PTEs out of is present but empty, and the one before
    # it has been refilled by the fallback of step k
    for k in range(1, 5):
        emptied = r.events[k - 1].old & ~(PMD - 1)
        assert r.replay(k).empty(emptied)
        assert not r.replay(k).empty(emptied - PMD)
    with pytest.raises(ValueError):
        r.replay(5)


@pytest.mark.parametrize("kw,code", [
    (dict(old=5 * G + OFF, new=9 * G + OFF, length=PMD), "realigned"),
    (dict(old=5 * G + OFF, new=9 * G + OFF, length=PMD, kernel="6.6"), "kernel"),
    (dict(old=5 * G, new=9 * G, length=PAGE), "guard"),
    (dict(old=5 * G, new=9 * G + PAGE, length=PMD), "aligned"),
    (dict(old=5 * G + OFF, new=9 * G + PAGE, length=PMD), "mutual"),
    (dict(old=5 * G + OFF, new=9 * G + OFF, length=PMD, blockers=[(5 * G, PAGE)]), "old-blocked"),
    (dict(old=5 * G + OFF, new=9 * G + OFF, length=PMD, blockers=[(9 * G, PAGE)]), "new-blocked"),
    (dict(old=5 * G + OFF, new=9 * G + OFF, length=PMD, vma_start=5 * G + OFF - PAGE), "old-not-start"),
    (dict(old=5 * G + OFF, new=9 * G + OFF, length=PMD, unchecked_expansion=True, blockers=[(5 * G, PAGE)]),
     "unchecked"),
])
def test_realign_reason_codes(kw, code):
    kw.setdefault("kernel", "6.7")
    r = simulate(**kw)
    assert r.realign_reason == code
    assert r.realigned == (code in ("realigned", "unchecked"))


def test_state_extent_and_boundary_helpers():
    r = simulate(0x1fff000, 0x1dff000, 0x201000, stack=True, kernel="6.6")
    after = r.replay(1)
    assert [after.state(a) for a in (0x1e00000, 0x2000000, 0x2200000)] == ["present, EMPTY", "present", "none"]
    assert after.state(0x1e00000, level=2) == "present"
    from pagemove.mremap import extent
    assert extent(PMD, 0x1fff000, 0x2200000, 0x1dff000) == PAGE  # what step 0 covers
    assert extent(PMD, 0x2000000, 0x2200000, 0x1e00000) == PMD
    geo = pm.Geometry.x86_64()
    assert geo.to_boundary(0x1fff000) == PAGE and geo.to_boundary(0x2000000) == PMD
    assert pm.Kernel.parse("4.20").move_pmd() is False and pm.Kernel.parse("5.0").move_pmd() is True
    assert pm.Kernel.parse("5.9").move_pmd("arm64") is False and pm.Kernel.parse("5.10").move_pmd("arm64")


def test_arm64_before_510_moves_page_by_page():
    mm = pm.AddressSpace(pm.Geometry.arm64_4k())
    mm.mmap(0x20000000, 4 * M, populate=True)
    assert counts(mm.clone().mremap(0x20000000, 4 * M, 4 * M, new_addr=0x30000000, kernel="5.4")) == (0, 0, 1024, 0)
    assert counts(mm.clone().mremap(0x20000000, 4 * M, 4 * M, new_addr=0x30000000, kernel="5.10")) == (0, 2, 0, 0)


def test_warn_once_from_58():
    from pagemove import text
    assert not pm.Kernel.parse("5.7").warn_once and pm.Kernel.parse("5.8").warn_once
    old = text.summary(simulate(0x1fff000, 0x1dff000, 0x601000, stack=True, kernel="5.7"))
    new = text.summary(simulate(0x1fff000, 0x1dff000, 0x601000, stack=True, kernel="6.6"))
    assert "WARN_ON(!pmd_none(*new_pmd))" in old and "printed at every refusal" in old
    assert "WARN_ON_ONCE(!pmd_none(*new_pmd))" in new and "once per boot" in new


def test_before_50_every_move_is_page_wise():
    assert counts(simulate(0x20000000, 0x30000000, 0x400000, kernel="4.20")) == (0, 0, 1024, 0)


def test_replay_forward_from_the_last_step_matches_a_fresh_replay():
    fresh = simulate(0x1fff000, 0x1dff000, 0x601000, stack=True, kernel="6.6")
    stepped = simulate(0x1fff000, 0x1dff000, 0x601000, stack=True, kernel="6.6")
    for k in (1, 3, 4, 2, 4):
        got = stepped.replay(k)
        assert got == fresh.replay(k) if k != 4 else got == fresh.after
        got.zap(0, 1 << 40)  # a returned replay is the caller's: changing it changes no later replay
    assert stepped.replay(4) == fresh.after


def test_counts_are_plain_ints():
    """Each step's PTE count is a Python int, not a numpy scalar: JSON (the lab's rows, the CLI) and reprs need it."""
    mm = pm.AddressSpace()
    mm.mmap(0x20000000, 4 * PMD, populate=True)
    r = mm.mremap(0x20000000, 4 * PMD, 4 * PMD, new_addr=0x40003000, kernel="6.6")
    assert r.pte_moves == 4 * 512 and all(type(e.ptes) is int for e in r.events)
