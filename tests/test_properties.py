"""Hypothesis properties of the engine over random layouts and moves, for every kernel kind and geometry.

Every generated case builds an address space (a source VMA with holes in its population, some other
mappings, some munmaps that split VMAs and leave empty page tables behind; any VMA may be THP-eligible,
so huge PMD leaves sit next to 4K PTEs), then does an mremap or an execve stack move. On 6.17 a same-size
mremap whose range the munmaps cut into several VMAs is the multi-VMA move. A call the kernel refuses must change
nothing but what the kernel had already unmapped when it failed (OSError.unmapped); a call that succeeds must:
  - lose and duplicate no page (the multiset of frames is the same, minus the unmapped ones);
  - put every page of [old, old+len) at new + (a - old), with its frame;
  - change nothing outside the two ranges;
  - be reproduced exactly by replaying its events;
  - leave no page table that no VMA uses.
"""

from collections import Counter

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import pagemove as pm
from pagemove.scenario import GEOMETRIES as GEOMETRY_MAKERS

GEOMETRIES = {name: make() for name, make in GEOMETRY_MAKERS.items()}  # every geometry the UIs offer
KERNELS = ["4.20", "5.8", "5.10", "5.13", "5.16", "6.4", "6.6", "6.7", "6.15", "6.17"]
# Windows of 24 PMDs (tiny: 3 PUDs, so PUD moves happen; x86-64: 48 MiB; arm64 64K: 12 GiB), each
# below TASK_SIZE (i386 PAE: 0xc0000000).
BASE = {name: {"tiny": 0x400000, "i386_pae": 0x80000000}.get(name, 0x7f0000000000) for name in GEOMETRIES}


@st.composite
def layouts(draw, geometry_name=None):
    """An address space and a move to make in it."""
    gname = geometry_name or draw(st.sampled_from(sorted(GEOMETRIES)))
    geo = GEOMETRIES[gname]
    ppmd = geo.pmd_size // geo.page_size  # pages per PMD
    span = 24 * ppmd  # the window, in pages
    base = BASE[gname]

    def page(lo, hi):  # a page number in [lo, hi]; biased towards PMD boundaries, where the action is
        return draw(st.one_of(
            st.integers(lo, hi),
            st.builds(lambda k, d: min(hi, max(lo, k * ppmd + d)), st.integers(lo // ppmd, hi // ppmd + 1),
                      st.integers(-2, 2))))

    mm = pm.AddressSpace(geo)
    stack = draw(st.booleans())
    length = page(1, 6 * ppmd)
    old = page(0 if not stack else 1, span - length)
    # (execve's stack never has huge pages: vma_is_temporary_stack() keeps THP off it)
    mm.mmap(base + old * geo.page_size, length * geo.page_size, name="src", stack=stack,
            thp=not stack and draw(st.booleans()))
    # populate some runs of the source (holes are realistic: the selftest only faults in 4 MiB)
    for _ in range(draw(st.integers(0, 3))):
        a = page(old, old + length - 1)
        n = draw(st.integers(1, old + length - a))
        mm.populate(base + a * geo.page_size, n * geo.page_size)
    # other mappings, possibly populated, possibly PROT_NONE; skipped where they would overlap
    for _ in range(draw(st.integers(0, 3))):
        a = page(0, span - 1)
        n = draw(st.integers(1, min(2 * ppmd, span - a)))
        prot = draw(st.sampled_from(["rw", "r", "none"]))
        try:
            mm.mmap(base + a * geo.page_size, n * geo.page_size, populate=prot != "none", prot=prot,
                    thp=draw(st.booleans()))
        except OSError:
            pass
    # munmaps: split VMAs, zap pages, leave present-but-empty tables where a VMA still shares them
    for _ in range(draw(st.integers(0, 2))):
        a = page(0, span - 1)
        n = draw(st.integers(1, 2 * ppmd))
        if stack and a < old + length and a + n > old:
            continue  # keep the stack VMA whole: execve moves the one it built
        mm.munmap(base + a * geo.page_size, n * geo.page_size)
    # half the moves are mutually PMD-aligned (shift a multiple of PMD_SIZE): case (c) and the fix
    mutual = draw(st.booleans())
    if stack:
        if mutual and old >= ppmd:
            shift = ppmd * draw(st.integers(1, old // ppmd))
        else:
            shift = page(1, max(1, old))
        move = ("stack", base + old * geo.page_size, shift * geo.page_size)
    else:
        if mutual:
            new = old % ppmd + ppmd * draw(st.integers(0, span // ppmd - 1))
        else:
            new = page(0, span - 1)
        size = length * geo.page_size
        new_size = draw(st.sampled_from([size, size, max(geo.page_size, size // 2), size + 3 * geo.page_size]))
        move = ("mremap", base + old * geo.page_size, size, new_size, base + new * geo.page_size)
    return mm, move


def run(mm, move, kernel):
    if move[0] == "stack":
        _, start, shift = move
        return mm.relocate_vma_down(start, shift, kernel)
    _, old, size, new_size, new = move
    return mm.mremap(old, size, new_size, new_addr=new, kernel=kernel)


def expected_pages(before, vmas, move, geo, kernel="6.6"):
    """Where every page should be after a successful move, from the syscall's definition alone."""
    if move[0] == "stack":
        _, start, shift = move
        vma_end = next(v.end for v in vmas if v.start == start)
        return {(a - shift if start <= a < vma_end else a): f for a, f in before.items()}
    _, old, size, new_size, new = move
    ps = geo.page_size
    if pm.Kernel.parse(kernel).multi_vma_move and size == new_size:
        # remap_move(): each VMA piece of [old, old+size) moves to new + its offset (so gaps stay gaps),
        # and each move unmaps only its own destination
        pieces = [(max(v.start, old), min(v.end, old + size)) for v in vmas if v.start < old + size and v.end > old]
        out = {a: f for a, f in before.items()
               if not any(new + lo - old <= a < new + hi - old for lo, hi in pieces)}
        for a in [a for a in out if any(lo <= a < hi for lo, hi in pieces)]:
            out[new + (a - old)] = out.pop(a)
        return out
    moved = min(size, new_size)
    out = {}
    for a, f in before.items():
        if new <= a < new + new_size:  # MREMAP_FIXED unmaps the destination first
            continue
        if old + moved <= a < old + size:  # shrinking unmaps the tail
            continue
        out[a] = f
    for a in [a for a in out if old <= a < old + moved]:
        out[new + (a - old)] = out.pop(a)
    assert all(a % ps == 0 for a in out)
    return out


def check_walk_cache(pt):
    """Every table PageTables' walk cache would hand out is the one an uncached walk finds now, and this
    tree's own (so a write through it cannot reach a snapshot)."""
    for level, cache in enumerate(pt._walked):
        for key, (table, index) in cache.items():
            addr = key << pt.geo._shifts[level]
            assert pt._find(addr, level) is table and index == pt.geo.index(addr, level), (level, hex(addr))
            assert table is pt.root or id(table) in pt._own, (level, hex(addr))


def check_move(mm, move, kernel):
    geo = mm.geometry
    snapshot, before = mm.clone(), mm.pages()
    try:
        r = run(mm, move, kernel)
    except OSError as err:
        check_walk_cache(mm.pt)
        # a refused call changes nothing, but what the kernel had already unmapped before the failing check
        for start, end in getattr(err, "unmapped", ()):
            snapshot.munmap(start, end - start)
        assert mm.pt == snapshot.pt and mm.vmas == snapshot.vmas and mm.pages() == snapshot.pages()
        return None
    if r.returned == 0xe and pm.Kernel.parse(kernel).mremap_efault_positive:
        # 5.16/5.17 with nothing at old_addr: mremap() "succeeds" with 0xe and changes nothing
        assert mm.find_vma(move[1]) is None and not r.events
        assert mm.pt == snapshot.pt and mm.vmas == snapshot.vmas and mm.pages() == before
        return None
    check_walk_cache(mm.pt)
    after = mm.pages()
    want = expected_pages(before, snapshot.vmas, move, geo, kernel)
    # no page lost or duplicated
    assert Counter(after.values()) == Counter(want.values())
    assert len(set(after.values())) == len(after)
    # every moved page lands at new + (a - old) with its frame, and nothing else changed
    assert after == want
    # the replay of the events reproduces the state the loop left
    assert r.replay() == r.after
    # no page table without a VMA that could use it
    for level, _, base_addr, _child in mm.pt.walk():
        size = geo.level_size(level)
        assert mm.find_vma_intersection(base_addr, base_addr + size), (level, hex(base_addr))
    # move_page_tables() returns the caller's length, even after realignment (a multi-VMA move: each VMA's)
    assert r.moved == (sum(p.length for p in r.parts) if r.parts else r.length)
    # every replayed step keeps each frame once (no page duplicated or lost half-way)
    for k in range(0, len(r.events) + 1, max(1, len(r.events) // 4)):
        frames = list(r.replay(k).pages().values())
        assert len(frames) == len(set(frames))
    return r


SETTINGS = settings(max_examples=max(150, settings().max_examples), deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@SETTINGS
@given(layouts(), st.sampled_from(KERNELS))
def test_move_invariants(case, kernel):
    mm, move = case
    check_move(mm, move, kernel)


@SETTINGS
@given(layouts("tiny"))
def test_67_never_refuses_where_66_did_not(case):
    """Claim: for the same layout, 6.7 never refuses a PMD/PUD move where 6.6 did not."""
    mm, move = case
    r66 = check_move(mm.clone(), move, "6.6")
    r67 = check_move(mm.clone(), move, "6.7")
    if r66 is not None and r66.refusals == 0:
        assert r67.refusals == 0


@SETTINGS
@given(layouts())
def test_67_moves_at_most_one_more_entry_than_66(case):
    """Claim: "6.7 never moves more entries than 6.6". False, by exactly one entry at most: when the
    realigned first PMD's PTE table is present but holds no page of [old, boundary), 6.6 moves 0 PTEs
    there and 6.7 moves 1 PMD entry. See test_67_can_move_one_more_entry for the smallest case."""
    mm, move = case
    r66 = check_move(mm.clone(), move, "6.6")
    r67 = check_move(mm.clone(), move, "6.7")
    if r66 is None:
        return
    entries = lambda r: r.pud_moves + r.pmd_moves + r.huge_pmd_moves + r.pte_moves  # noqa: E731
    assert entries(r67) <= entries(r66) + int(r67.realigned)


def test_67_can_move_one_more_entry():
    """The counterexample to "6.7 never moves more entries than 6.6"."""
    geo = pm.Geometry.tiny()
    mm = pm.AddressSpace(geo)
    mm.mmap(0x400000, 0x1000, populate=True, name="B")  # one page at the start of a PMD
    mm.mmap(0x401000, 0xf000, name="A")  # A: the rest of that PMD (unpopulated) and the next PMD
    mm.populate(0x408000, 0x8000)
    mm.munmap(0x400000, 0x1000)  # B goes; its PTE table stays, present and empty, because A shares the PMD
    r66 = mm.clone().mremap(0x401000, 0xf000, 0xf000, new_addr=0x501000, kernel="6.6")
    r67 = mm.clone().mremap(0x401000, 0xf000, 0xf000, new_addr=0x501000, kernel="6.7")
    assert (r66.pmd_moves, r66.pte_moves) == (1, 0)  # 0 PTEs from the empty table, then one PMD
    assert r67.realigned and (r67.pmd_moves, r67.pte_moves) == (2, 0)  # the empty table moves whole


@SETTINGS
@given(layouts("tiny"), st.sampled_from(KERNELS))
def test_unchecked_expansion_damage_is_detected(case, kernel):
    """The unchecked expansion may break things, but never silently: every page that is not where the
    syscall says it should be is reported as dragged or clobbered."""
    mm, move = case
    before, vmas = mm.pages(), mm.vmas
    try:
        if move[0] == "stack":
            r = mm.relocate_vma_down(move[1], move[2], kernel, unchecked_expansion=True)
        else:
            r = mm.mremap(*move[1:4], new_addr=move[4], kernel=kernel, unchecked_expansion=True)
    except OSError:
        return
    if r.returned == 0xe and pm.Kernel.parse(kernel).mremap_efault_positive:  # 5.16/5.17: nothing was done
        assert mm.pages() == before and not r.damage
        return
    want = expected_pages(before, vmas, move, mm.geometry, kernel)
    wrong = {a for a, f in want.items() if mm.pages().get(a) != f}
    reported = {d[0] for d in r.damage.dragged} | {c[0] for c in r.damage.clobbered}
    if wrong:
        assert r.damage and reported
    if not r.realigned:
        assert not r.damage


@SETTINGS
@given(layouts())
def test_616_refuses_what_617_moves_vma_by_vma(case):
    """A same-size mremap over a range that is not one VMA: 6.16 says EFAULT and changes nothing; 6.17 moves
    each VMA piece to new + offset (check_move() checks the pages) whenever old itself is mapped."""
    mm, move = case
    if move[0] != "mremap" or move[2] != move[3]:
        return
    _, old, size, _, new = move
    one = any(v.start <= old and old + size <= v.end for v in mm.vmas)
    mapped = mm.find_vma(old) is not None
    overlap = old < new + size and new < old + size
    r16 = check_move(mm.clone(), move, "6.16")
    r17 = check_move(mm.clone(), move, "6.17")
    if overlap:
        assert r16 is None and r17 is None
    elif one:
        assert (r16 is None) == (r17 is None)
        if r16 is not None:
            assert r16.counts == r17.counts and not r17.parts
    else:
        assert r16 is None
        assert (r17 is not None) == mapped


def frozen(pt):
    """An independent picture of a tree: every present entry, and every PTE table's frames."""
    return [(level, base, child.tolist() if isinstance(child, np.ndarray) else child if level == 1 else None)
            for level, _, base, child in pt.walk()]


@SETTINGS
@given(layouts(), st.sampled_from(KERNELS), st.data())
def test_snapshots_stay_exact_whatever_happens_later(case, kernel, data):
    """Snapshots share tables copy-on-write: before/after/final, replays and clones must never change when
    the live tree (or another snapshot) is written later."""
    mm, move = case
    clone = mm.clone()
    at_clone = frozen(mm.pt)
    try:
        r = run(mm, move, kernel)
    except OSError:
        return
    before, after, final = frozen(r.before), frozen(r.after), frozen(r.final)
    steps = data.draw(st.integers(0, len(r.events)))
    replayed = frozen(r.replay(steps))
    assert frozen(clone.pt) == at_clone  # the move on mm did not reach the clone taken before it
    # later writes: to the live tree, to the clone, and to a replay
    geo = mm.geometry
    for v in mm.vmas[:2]:
        mm.munmap(v.start, min(v.end - v.start, geo.pmd_size))
    for v in clone.vmas[:2]:
        clone.populate(v.start, v.end - v.start) if v.prot == "rw" else None
    r.replay(steps).zap(0, geo.task_size)
    for pt in (mm.pt, clone.pt, r.after, r.final):
        check_walk_cache(pt)
    assert frozen(r.before) == before and frozen(r.after) == after and frozen(r.final) == final
    assert frozen(r.replay(steps)) == replayed and r.replay() == r.after


def test_walk_cache_forgets_a_moved_or_freed_table():
    """The walk cache never hands out a table that was moved away, freed, split or shared since it was walked."""
    mm = pm.AddressSpace()
    pmd, pud = mm.geometry.pmd_size, mm.geometry.pud_size
    old, new = 0x7f0000000000, 0x7f0000000000 + 4 * pud
    mm.mmap(old, pmd, populate=True)
    pt = mm.pt
    pmd_table, _ = pt.offset(old, 1)  # walked: kept
    pt.table(new, 2, alloc=True)
    pt.move_entry(2, old, new)  # the PMD table now hangs under new's PUD entry
    check_walk_cache(pt)
    assert pt.offset(old, 1) is None and pt.offset(new, 1)[0] is pmd_table
    mm.munmap(old, pmd)
    mm.mmap(old, pmd, populate=True)
    assert pt.offset(old, 1) is not None  # kept again
    mm.munmap(old, pmd)  # frees the PTE table and the tables above it
    check_walk_cache(pt)
    assert pt.offset(old, 1) is None
    thp = old + 16 * pmd
    mm.mmap(thp, 2 * pmd, populate=True, thp=True)
    assert pt.huge(thp) is not None and pt.table(thp, 0) is pt.huge(thp)  # the walk ends at the leaf
    check_walk_cache(pt)  # and keeps no leaf
    pt.split_huge_pmd(thp)
    check_walk_cache(pt)
    shared = pt.table(thp, 0)
    snapshot = pt.clone()
    assert pt.table(thp, 0) is not shared and snapshot.table(thp, 0) is not shared  # each copies before writing
    check_walk_cache(pt)
    check_walk_cache(snapshot)
