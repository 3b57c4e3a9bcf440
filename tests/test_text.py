"""Text pictures: exact outputs for small cases, and shape checks for big ones."""

import pytest

import pagemove as pm
from pagemove import text
from pagemove.presets import PRESETS
from pagemove.scenario import simulate


def e4(kernel="6.6"):
    return simulate(0x1fff000, 0x1dff000, 0x201000, kernel=kernel, stack=True)


def test_dump_tiny_lists_exactly_the_present_entries():
    mm = pm.AddressSpace(pm.Geometry.tiny())
    mm.mmap(0x9000, 0x2000, populate=True)  # PTE 1..2 of PMD slot 1
    mm.mmap(0x10000, 0x1000, populate=True)  # PTE 0 of PMD slot 2
    assert text.dump(mm) == (
        "page tables of tiny (4 levels, 8 entries per table)\n"
        "PGD 0 [0x000000, 0x200000) -> PUD table\n"
        ".. PUD 0 [0x000000, 0x040000) -> PMD table\n"
        ".. .. PMD 1 [0x008000, 0x010000) -> PTE table, 2 present\n"
        ".. .. .. PTE 1..2 [0x009000, 0x00b000) -> frames 1..2\n"
        ".. .. PMD 2 [0x010000, 0x018000) -> PTE table, 1 present\n"
        ".. .. .. PTE 0 0x010000 -> frame 3\n")


def test_dump_marks_the_empty_pmd_left_by_move_ptes():
    out = text.dump(e4().replay(1))
    assert ".. .. PMD  15 [0x000001e00000, 0x000002000000) -> PTE table, present, EMPTY" in out
    assert ".. .. .. PTE 511 0x000001dff000 -> frame 1" in out


def test_dump_window_and_accepts_address_space_pagetables_result():
    r = e4()
    assert text.dump(r) == text.dump(r.after)
    windowed = text.dump(r.after, 0x2000000, 0x2200000)
    assert "PMD  16" in windowed and "PMD  15" not in windowed and "PMD  14" not in windowed


def test_dump_of_a_gib_stays_short_and_elides_with_a_count():
    r = simulate(0x40000000, 0x80000000, 0x40000000, kernel="6.7")
    out = text.dump(r.before).splitlines()
    assert len(out) == 5
    assert out[3] == (".. .. PMD 0..511 [0x000040000000, 0x000080000000) -> 512 PTE tables, each full (512 present)")
    assert "frames 1..262144" in out[4]
    cut = text.dump(simulate(0x40000000, 0x80001000, 0x400000, kernel="6.6").after, max_lines=4).splitlines()
    assert len(cut) == 5 and cut[-1].startswith("... ") and "elided (max_lines=4)" in cut[-1]


def test_strip_after_step_one_of_e4_shows_the_empty_pmd():
    out = text.strip(e4().replay(1), 0x1c00000, 0x2200000, legend=False)
    rows = out.splitlines()[1:]
    assert rows[0] == "0x000001c00000 |" + "." * 63 + "1| 1 present"
    assert rows[1] == "0x000001e00000 |" + "." * 64 + "| EMPTY"
    assert rows[2] == "0x000002000000 |" + "#" * 64 + "| 512 present"


def test_strip_tiny_one_char_per_pte_and_none_rows():
    r = PRESETS["tiny-c-overlap"].run()
    out = text.strip(r.after, 0x10000, 0x30000)
    assert out.splitlines()[1] == "one character per PTE: '#' present, '.' none"
    assert text.strip(r.after, 0x10000, 0x30000, legend=False).splitlines()[1:] == [
        "0x010000  --------  none",
        "0x018000 |.......#| 1 present",
        "0x020000 |########| 8 present",
        "0x028000 |........| EMPTY",
    ]


def test_strip_counts_partial_groups_and_folds_runs():
    mm = pm.AddressSpace()
    mm.mmap(0x200000, 0x3000, populate=True)  # 3 of the first 8 PTEs
    mm.mmap(0x40000000, 0x800000, populate=True)  # four full PMDs
    out = text.strip(mm, 0, 0x40800000, legend=False).splitlines()[1:]
    assert out[0] == "0x000000000000  " + "-" * 64 + "  none"
    assert out[1] == "0x000000200000 |3" + "." * 63 + "| 3 present"
    assert out[2].startswith("0x000000400000 ") and out[2].endswith("none x 510")
    assert out[3].startswith("0x000040000000 ") and out[3].endswith("512 present x 4")


def test_strip_legend_is_optional_and_is_strip_legend():
    mm = pm.AddressSpace()
    mm.mmap(0x200000, 0x3000, populate=True)
    full, bare = text.strip(mm, 0, 0x400000).splitlines(), text.strip(mm, 0, 0x400000, legend=False).splitlines()
    legend = text.strip_legend(mm.pt.geo).splitlines()
    assert full == bare[:1] + legend + bare[1:]


def test_strip_near_the_top_of_user_space():
    mm = pm.AddressSpace()
    mm.mmap(0x7fffffffe000, 0x1000, populate=True)  # the last page below TASK_SIZE
    row = text.strip(mm, 0x7fffffe00000, 0x800000000000).splitlines()[-1]
    assert row == "0x7fffffe00000 |" + "." * 63 + "1| 1 present"


def test_summary_of_e4_names_the_warn_honestly():
    s = text.summary(e4())
    assert "moves: 0 PUD, 0 PMD, 513 PTE; refusals: 1; steps: 2" in s
    assert "realign" not in s  # 6.6 has no realignment: nothing particular to this move to say
    assert "refused at step 2: PMD move 0x000002000000 -> 0x000001e00000" in s
    # __warn()'s format; move_normal_pmd() is inlined, so %pS names move_page_tables (as real kernels print it)
    assert "  WARNING: CPU: 1 PID: 1 at mm/mremap.c:\u2026 move_page_tables+0x\u2026/0x\u2026\n" in s
    assert "(an example: CPU, PID, line number and offsets vary by machine and build)" in s
    assert "_ " not in s and "_/" not in s  # no '_' placeholders
    assert "WARN_ON_ONCE(!pmd_none(*new_pmd)) in move_normal_pmd()" in s


def test_summary_warns_once_for_a_cascade_but_lists_every_refusal():
    s = text.summary(PRESETS["cascade"].run())
    assert s.count("refused at step") == 3 and s.count("WARNING:") == 1


def test_summary_of_67_says_where_the_loop_starts():
    s = text.summary(e4("6.7"))
    assert "realigned: the loop starts at 0x000001e00000 -> 0x000001c00000" in s
    assert "WARNING" not in s and "refusals: 0" in s


def test_summary_reports_damage_of_the_unchecked_expansion():
    r = simulate(0x1fff000, 0x0fff000, 0x201000, kernel="6.7", blockers=((0x1e00000, 0x1000),),
                 unchecked_expansion=True)
    s = text.summary(r)
    assert "NOT THE KERNEL" in s and "damage: " in s and "dragged along" in s


def trace_rows(out):
    """The rows of a trace, each with its wrapped "why this path" joined back on."""
    rows = []
    for line in out.splitlines()[2:]:
        if line.startswith("      "):  # a continuation, indented to the "old" column
            rows[-1] += " " + line.strip()
        else:
            rows.append(line)
    return rows


def test_trace_is_an_aligned_table_that_fits_100_columns():
    out = text.trace(e4())
    lines = out.splitlines()
    assert lines[0].split() == ["step", "old", "new", "extent", "level", "outcome", "PTEs", "why", "this", "path"]
    rows = trace_rows(out)
    assert [row.split()[0] for row in rows] == ["1", "2"]  # steps count from 1
    assert rows[1].split()[:7] == ["2", "0x000002000000", "0x000001e00000", "0x200000", "PTE", "moved", "512"]
    assert "REFUSED PMD move (WARN): the destination PMD entry still holds the table emptied at step 1" in rows[1]
    assert lines[0].index("why") == lines[2].index("extent < PMD_SIZE (0x200000)")  # the common case: one line
    assert trace_rows(out) == lines[2:3] + trace_rows(out)[1:]
    assert max(map(len, lines)) <= text.COLUMNS


def test_trace_elides_the_middle_of_long_traces():
    r = simulate(0x40000000, 0x80001000, 0x4000000, kernel="6.6")  # 64 steps of PTE moves
    rows = trace_rows(text.trace(r, max_rows=10))
    assert len(rows) == 11
    assert rows[5].split()[:3] == ["...", str(len(r.events) - 10), "steps"]
    assert rows[-1].split()[0] == str(len(r.events))


def test_report_has_summary_trace_and_strips_before_and_after():
    out = text.report(e4())
    assert out.startswith(text.summary(e4()))
    assert "before the move (loop start):" in out and "after the loop:" in out
    assert "| EMPTY" in out


def test_report_far_apart_ranges_get_two_windows():
    r = simulate(0x7fffff000000, 0x10000000, 0x200000, kernel="6.6")
    assert len(text.windows(r)) == 2
    assert text.report(r).count("PTE occupancy per PMD slot") == 4


@pytest.mark.parametrize("geometry", [pm.Geometry.arm64_4k(), pm.Geometry.arm64_16k(), pm.Geometry.arm64_64k()])
def test_text_works_for_arm64_geometries(geometry):
    pmd = geometry.pmd_size
    r = simulate(2 * pmd - geometry.page_size, pmd - geometry.page_size, pmd + geometry.page_size,
                 kernel="6.6", stack=True, geometry=geometry)
    assert r.refusals == 1
    out = text.report(r)
    assert "| EMPTY" in out and "WARNING" in out
    assert text.dump(r.after).count("EMPTY") == 1


def test_bad_input_is_a_clear_error():
    with pytest.raises(TypeError, match="AddressSpace, a PageTables or a MoveResult"):
        text.dump(42)
    with pytest.raises(ValueError, match="not a range"):
        text.strip(pm.AddressSpace(), 0x2000, 0x1000)


def test_huge_leaf_is_one_line_in_dump_and_an_H_row_in_strip():
    mm = pm.AddressSpace()
    mm.mmap(0x3ff000, 0x201000, populate=True, thp=True)
    out = text.dump(mm)
    assert (".. .. PMD   2 [0x000000400000, 0x000000600000) -> huge page (THP leaf, no PTE table): frames 2..513"
            in out) and "PTE 0..511" not in out
    s = text.strip(mm, 0x200000, 0x600000)
    assert "0x000000400000 |" + "H" * 64 + "| huge PMD leaf" in s
    assert "a row of 'H'" in s and "a row of 'H'" not in text.strip(pm.AddressSpace(), 0, 0x200000)


def huge_stack(kernel):
    mm = pm.AddressSpace()
    v = mm.mmap(0x1fff000, 0x201000, populate=True, stack=True, thp=True)
    return mm.relocate_vma_down(v, 0x200000, kernel, huge_stack=True)


def test_summary_and_trace_name_huge_moves_and_splits():
    r66, r67 = huge_stack("6.6"), huge_stack("6.7")
    s66 = text.summary(r66)
    assert "huge pages: 0 moved whole by move_huge_pmd(), 1 split by split_huge_pmd(), 1 refused" in s66
    assert "move_huge_pmd+" not in s66  # 6.6: the refusal is silent
    assert "WARNING: CPU: 1 PID: 1 at mm/huge_memory.c:\u2026 move_huge_pmd+0x\u2026/0x\u2026" in \
        text.summary(huge_stack("6.4"))
    assert "  PTE split  " in text.trace(r66)
    assert "huge PMD" in text.trace(r67) and "1 moved whole" in text.summary(r67)


def test_summary_lists_each_vma_of_a_multi_vma_move():
    mm = pm.AddressSpace()
    mm.mmap(0x1fff000, 0x201000, populate=True)
    mm.mmap(0x23ff000, 0x201000, populate=True)
    r = mm.mremap(0x1fff000, 0x601000, 0x601000, new_addr=0x0fff000, kernel="6.17")
    s = text.summary(r)
    assert "6.17 multi-VMA move: 2 VMAs" in s
    assert "VMA 1 0x000001fff000 -> 0x000000fff000, len 0x201000, steps 1-2: realigned" in s
    assert "VMA 2 0x0000023ff000 -> 0x0000013ff000, len 0x201000, steps 3-4: realigned" in s


@pytest.mark.parametrize("name", ["arm64_16k", "arm64_64k"])
def test_big_tables_fold_to_64_columns(name):
    geo = getattr(pm.Geometry, name)()
    r = simulate(2 * geo.pmd_size - geo.page_size, geo.pmd_size - geo.page_size, geo.pmd_size + geo.page_size,
                 kernel="6.6", stack=True, geometry=name)
    out = text.report(r)
    rows = [line for line in out.splitlines() if line.startswith("0x") and "|" in line]
    assert rows and all(len(line.split("|")[1]) == 64 for line in rows)
    assert max(len(line) for line in text.dump(r.after).splitlines()) <= 100
    assert len(text.dump(r.after).splitlines()) <= 12  # 8193 pages, a handful of folded lines


def test_summary_folds_runs_of_equal_flushes():
    assert text.runs_of([1, -1, -1, -1]) == "1, -1 x 3" and text.runs_of([]) == ""
    r = PRESETS["cascade"].run()
    assert f"TLB flushes: {len(r.tlb_flushes)}, in pages: {text.runs_of(r.tlb_flush_pages())}" in text.summary(r)


def test_summary_of_a_realigning_kernel_says_why_not_when_it_does_not():
    s = text.summary(simulate(0x20000000, 0x30001000, 0x400000, kernel="6.7"))
    assert "not realigned: " in s  # 6.7 has realignment, so its absence is particular to the move


def test_brief_and_strip_without_legend():
    r = PRESETS["thp-c"].run(kernel="6.7")
    assert text.brief(r) == "Linux 6.7: 1 PMD, 0 PTE moves, 1 huge PMD, 0 split, 0 refusals, realigned"
    assert text.brief(e4()) == "Linux 6.6: 0 PMD, 513 PTE moves, 1 refusal, not realigned"
    s = text.strip(e4().after, 0x1c00000, 0x2200000, legend=False)
    assert "one character" not in s and s.splitlines()[1].startswith("0x000001c00000")


def test_arm64_summary_does_not_use_x86_flush_notation():
    s = text.summary(PRESETS["arm64_64k-c-overlap"].run(kernel="6.7"))
    assert "TLB flushes: 2 flush_tlb_range() calls" in s and "-1 = full flush" not in s


def test_brief_of_a_multi_vma_move_counts_the_vmas_that_realigned():
    # A realigns; B's destination PMD holds a page that sits where the gap between A and B lands.
    mm = pm.AddressSpace()
    mm.mmap(0x1fff000, 0x201000, populate=True, name="A")
    mm.mmap(0x23ff000, 0x201000, populate=True, name="B")
    mm.mmap(0x1300000, 0x1000, populate=True, name="in the gap")
    r = mm.mremap(0x1fff000, 0x601000, 0x601000, new_addr=0xfff000, kernel="6.17")
    assert [p.realigned for p in r.parts] == [True, False]
    assert text.brief(r) == "Linux 6.17: 3 PMD, 1 PTE moves, 0 refusals, 1 of 2 VMAs realigned"
    assert text.brief(r.parts[1]).endswith(", not realigned")  # one VMA's own result is unchanged


def test_a_folded_pud_step_is_named_as_the_pgd_entry_it_moves():
    tb = 1 << 40
    mm = pm.AddressSpace(pm.Geometry.arm64_64k())
    mm.mmap(4 * tb, 4 * tb)
    mm.populate(4 * tb, 0x20000000)
    r = mm.mremap(4 * tb, 4 * tb, 4 * tb, new_addr=12 * tb, kernel="6.6")
    assert r.pud_moves == 1 and r.events[0].extent == r.geometry.pud_size == 4 * tb
    assert text.brief(r).startswith("Linux 6.6: 1 PUD (folded: the PGD entry), 0 PMD, 0 PTE moves")
    assert "  PUD (folded: the PGD entry)  moved" in text.trace(r)
    # with four levels the PUD is a level of its own, and is called so
    x86 = simulate(0x40000000, 0x80000000, 0x40000000, kernel="6.6")
    assert x86.pud_moves == 1 and "(folded" not in text.brief(x86) + text.trace(x86)


def test_wrap_keeps_a_range_on_one_line():
    line = ("6.16: Bad address (EFAULT): mremap: [0x1fff000, 0x2600000) is not inside one mapping "
            "([0x1fff000, 0x2200000) A ends first), and [0x40000000, +0x201000) is another range")
    out = text.wrap(line, indent="    ").splitlines()
    assert len(out) > 1 and all(len(x) <= text.COLUMNS for x in out)
    for rng in ("[0x1fff000, 0x2600000)", "[0x1fff000, 0x2200000)", "[0x40000000, +0x201000)"):
        assert any(rng in x for x in out), rng
    assert " ".join(x.strip() for x in out) == line  # nothing lost, nothing reordered
    assert out[1].startswith("    ") and "\ue000" not in "".join(out)
    # with no range at the break, wrap() breaks at the last space that fits, as textwrap does
    words = " ".join(f"{0x7f0000000000 + i:#x}" for i in range(20))
    assert text.wrap(words).splitlines()[0] == words[:words.rfind(" ", 0, text.COLUMNS + 1)]


def test_the_minus_one_of_the_flush_line_is_explained_on_that_line_and_only_when_shown():
    s = text.summary(PRESETS["c-overlap"].run(kernel="6.7"))  # two PMD moves: 512 pages each, shown as -1
    line = next(x for x in s.splitlines() if x.startswith("TLB flushes"))
    assert line.endswith(text.FLUSH_ALL_NOTE) and "-1 x 2" in line
    assert text.FLUSH_ALL_NOTE not in text.summary(PRESETS["tiny-a"].run())  # no -1 there
    assert text.FLUSH_ALL_NOTE not in text.summary(PRESETS["arm64_64k-c-overlap"].run(kernel="6.7"))
