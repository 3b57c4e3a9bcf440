"""pagemove.lab.vm.report: the text notebook 09 (and 03, 05) print from the committed recordings."""

from pagemove.lab.vm import lab, report, warn
from pagemove.text import COLUMNS


def test_the_matrix_says_who_realigns_as_the_kernel_versions_do():
    rows = lab.rejudge_reference()
    matrix = lab.realign_matrix(rows)
    assert set(matrix) == {"debian-5.10-amd64", "debian-6.1-amd64", "debian-6.1-i386", "debian-6.12-amd64",
                           "debian-6.12-arm64", "debian-6.12-arm64-16k"}
    for kernel, cells in matrix.items():
        assert cells["c 0x1ff000 2M+4K"][0] == kernel.startswith("debian-6.12")  # realignment came in 6.7
        assert not cells["d 0x1ff000 blkold 2M+4K"][0]  # a blocker below old stops it everywhere
    text = report.format_matrix(rows)
    assert all(len(line) <= COLUMNS for line in text.splitlines())
    lines = text.splitlines()
    c_row = next(line for line in lines if line.startswith("c 0x1ff000 2M+4K"))
    assert c_row.split()[3:] == ["no", "✓", "no", "✓", "no", "✓", "yes", "✓", "yes", "✓", "yes", "✓"]


def test_a_disagreement_shows_in_the_matrix_and_the_differences():
    rows = lab.rejudge_reference()
    flipped = [dict(r, agrees=False, compared={**r["compared"], "tables_made": False}, explained=None)
               if r["kernel"] == "debian-6.1-amd64" and r["scenario"] == "c 0x1ff000 2M+4K" else r for r in rows]
    c_row = next(line for line in report.format_matrix(flipped).splitlines() if line.startswith("c 0x1ff000"))
    assert c_row.split()[5:7] == ["no", "✗"]
    assert "debian-6.1-amd64 c 0x1ff000 2M+4K: tables_made differs. NOT EXPLAINED" in report.format_differences(flipped)


def test_the_only_recorded_difference_is_the_explained_16k_task_size():
    text = report.format_differences(lab.rejudge_reference())
    assert text.startswith("debian-6.12-arm64-16k geometry: task_size differs. deliberate:")
    assert "NOT EXPLAINED" not in text


def test_the_warn_exec_is_judged_now_and_matches_the_recording():
    text = report.format_warn_exec()
    ref = warn.reference()
    assert f"exec {ref['warn_exec']} of {ref['execs']}" in text
    assert f"Linux 6.1: {ref['engine']['6.1']['refusals']} refused PMD moves, WARN yes" in text
    assert any(line.startswith("  Linux 6.7: realigned yes,") and line.endswith(" 0 refused")
               for line in text.splitlines()), text
    line = next(x for x in report.format_warning().splitlines() if "WARNING: CPU:" in x)
    assert " at mm/mremap.c:" in line and " move_page_tables+0x" in line  # __warn()'s format, the real kernel's


def test_the_odds_follow_notebook_05s_rule():
    """A stack of 0x421000 under 0xc0000000 warns at shifts of 1 and 2 PMDs; one of 0x601000 at 3 as well."""
    top = 0xC0000000
    assert [w for _, w in report.warning_shifts(top - 0x421000, top)] == [True, True, False]
    assert [w for _, w in report.warning_shifts(top - 0x601000, top)] == [True, True, True]
    assert [w for _, w in report.warning_shifts(top - 0x400000, top)] == [False, False, False]  # o = 0
    assert "one exec in 1024" in report.format_odds()


def test_one_scenario_across_the_kernels_shows_what_decides_realignment():
    """09's claim, from the recordings: realigned, c 0x1ff000 2M+4K makes one page table and flushes two whole
    PMDs on x86-64; not realigned, two tables and a page, then a PMD."""
    lines = report.format_scenario(lab.rejudge_reference(), "c 0x1ff000 2M+4K").splitlines()
    by_kernel = {line[:15].strip(): line[15:].split(None, 2) for line in lines[1:]}
    assert by_kernel["6.12 x86-64"] == ["yes", "1", "-1, -1, 0"]
    assert by_kernel["6.1 x86-64"] == ["no", "2", "1, -1, 2"]
    assert by_kernel["6.12 arm64 16K"] == ["yes", "1", "-"]
