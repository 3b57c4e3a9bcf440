"""The real-kernel lab: the engine's predictions for the lab's layouts, and (on Linux, as root) the real
kernel held to them: data and frames survive every move, and the tlb_flush trace matches the engine.
No timing assertions: timings go to notebook 06 and the benchmarks."""

import argparse
import json
import os
from pathlib import Path

import nbformat
import pytest

from pagemove import AddressSpace, lab
from pagemove.lab import observe

PLATFORM_SKIP = lab.unsupported_reason()


# ---- deterministic: the engine on the lab's layouts (any platform) -----------------------------------

@pytest.fixture(scope="module")
def predicted():
    return lab.predictions(lab.scenarios(("2M",)))


@pytest.mark.parametrize("name, realigned, pmd, pte, flushes", [
    ("a aligned 2M+4K", False, 1, 1, [-1, 1]),
    ("b 0x1000->0x3000 2M+4K", False, 0, 513, [-1, 2, 2]),
    ("c 0x1ff000 2M+4K", True, 2, 0, [-1, -1]),  # real-kernel.md 4: nothing below -> [-1, -1]
    ("d 0x1ff000 blkold 2M+4K", False, 1, 1, [1, -1]),  # blocker below old -> [1, -1]
    ("d 0x1ff000 blkresv 2M+4K", False, 1, 1, [1, -1]),  # a PROT_NONE reservation blocks too
    ("d 0x1000 blksub 2M+4K", False, 0, 513, [-1, 2]),  # the split remnant below old blocks
    ("guard 0x1e0000 below (124K) free", False, 0, 31, [31]),  # real-kernel.md 4: 124 KiB -> [31]
    ("guard 0x1e0000 at (128K) free", True, 1, 0, [-1]),  # 128 KiB -> [-1]
    ("guard 0x1e0000 at (128K) blkold", False, 0, 32, [32]),  # refused -> [32]
])
def test_predictions_on_lab_layouts(predicted, name, realigned, pmd, pte, flushes):
    p = predicted[name]
    assert (p.realigned, p.pmd_moves, p.pte_moves, p.flush_pages) == (realigned, pmd, pte, flushes)


def test_realignment_possible_only_from_the_guard_up(predicted):
    below = predicted["guard 0x100000 below (1020K) free"]
    at = predicted["guard 0x100000 at (1024K) free"]
    assert (below.realign_possible, at.realign_possible) == (False, True)
    assert predicted["d 0x1000 blkold 2M+4K"].realign_possible  # refused by the blocker, not by the rules


def test_layout_keeps_the_pmd_below_every_old_and_new_free():
    scs = lab.scenarios(("2M", "64M", "1G"))
    layout = lab.Layout.for_scenarios(scs)
    holes = layout.holes()
    for sc in scs:
        for addr in (layout.old(sc), layout.new(sc)):
            inside = [h for h in holes if h[0] <= (addr & ~(lab.PMD - 1)) and addr + sc.length <= h[1]]
            assert inside, sc.name
    assert layout.old(lab.size_scenarios("1G")[-1]) % lab.PUD == 0  # the PUD scenario is PUD-aligned


def test_layout_remnants_and_holes_tile_the_reservation():
    layout = lab.Layout.for_scenarios(lab.scenarios(("2M",)))
    pieces = sorted(layout.holes() + layout.remnants())
    assert pieces[0][0] == layout.base and pieces[-1][1] == layout.base + layout.size
    assert all(a[1] == b[0] for a, b in zip(pieces, pieces[1:]))


def test_unknown_size_class_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown size class '3M'"):
        lab.scenarios(("3M",))


def test_rle_and_statistics():
    assert lab.rle([-1, 2] * 3 + [1]) == "[(-1 2)x3 1]"
    assert lab.rle([-1] * 4) == "[-1x4]"
    assert lab.percentile([1, 2, 3, 4, 5], 50) == 3
    assert lab.percentile([0, 10], 10) == 1
    lo, hi = lab.median_ci(list(range(101)))
    assert lo < 50 < hi and hi - lo < 30


def test_cost_model_recovers_known_costs():
    p = lab.predictions(lab.scenarios(("2M",)))
    truth = [10.0, 0.015, 0.3, 0.4, 0.0]
    rows = [(x, sum(c * f for c, f in zip(truth, x.features()))) for x in p.values()]
    model = lab.fit_cost_model(rows)
    assert model["per_pud_move_us"] is None  # no 2 MiB-class scenario moves a PUD
    for term, want in zip(lab.MODEL_TERMS[:4], truth):
        assert model[term] == pytest.approx(want, abs=1e-6)


def lab_json(capsys, *flags) -> list[dict]:
    """The rows `python -m pagemove lab --reps 1 --json --no-trace --no-guard FLAGS` prints."""
    parser = argparse.ArgumentParser()
    lab.add_arguments(parser)
    assert lab.run_cli(parser.parse_args(["--reps", "1", "--json", "--no-trace", "--no-guard", *flags])) == 0
    return json.loads(capsys.readouterr().out)


def test_cli_json_has_the_promised_fields(capsys):
    rows = lab_json(capsys, "--quick")
    assert len(rows) == len(lab.size_scenarios("2M")) + len(lab.thp_scenarios())
    for row in rows:
        for key in ("name", "predicted_realigned", "observed_realigned", "median_us", "p10_us", "p90_us",
                    "trace_match", "pmd_moves", "pte_moves", "pud_moves", "huge", "tables_match",
                    "tables_observed", "tables_predicted", "tables_predicted_by_level"):
            assert key in row
        assert row["trace_match"] is None  # --no-trace
        assert row["huge"] == row["name"].startswith("thp")
        if not row["huge"]:
            assert (row["median_us"] is None) == bool(PLATFORM_SKIP)
            assert (row["tables_match"] is None) == bool(PLATFORM_SKIP)


def test_the_quick_and_full_runs_have_the_counts_notebook_06_states():
    """06 says the quick run has 33 scenarios and the full reference run 54."""
    assert len(lab.scenarios(("2M",))) == 33
    assert len(lab.scenarios(("2M", "64M", "1G"))) == len(lab.load_reference().scenarios) == 54


def test_cli_no_thp_leaves_the_huge_page_rows_out(capsys):
    rows = lab_json(capsys, "--no-thp")
    assert [r["name"] for r in rows] == [s.name for s in lab.size_scenarios("2M")]


# ---- parsers and predictions that need no root (any platform) -----------------------------------------

STATUS = "Name:\tpython3\nVmLib:\t   12 kB\nVmPTE:\t     172 kB\nVmSwap:\t       0 kB\n"
SMAPS = """200040400000-200040800000 rw-p 00000000 00:00 0
Size:               4096 kB
AnonHugePages:      4096 kB
VmFlags: rd wr mr mw me ac sd hg
200040800000-200040801000 r--p 00000000 00:00 0
Size:                  4 kB
AnonHugePages:         0 kB
7f0000000000-7f0000200000 rw-p 00000000 00:00 0
AnonHugePages:      2048 kB
"""


def test_vmpte_is_read_from_status_text():
    assert lab.parse_vmpte_kb(STATUS) == 172
    assert lab.parse_vmpte_kb(STATUS.encode()) == 172
    with pytest.raises(ValueError, match="no 'VmPTE: N kB' line"):
        lab.parse_vmpte_kb("Name:\tx\nVmRSS:\t 4 kB\n")


def test_anon_huge_pages_are_summed_over_the_vmas_of_a_range():
    assert lab.anon_huge_kb(SMAPS, 0x200040400000, 0x200040800000) == 4096
    assert lab.anon_huge_kb(SMAPS, 0x200040400000, 0x200040801000) == 4096  # + the 4 KiB VMA, 0 kB
    assert lab.anon_huge_kb(SMAPS, 0x200040800000, 0x200040801000) == 0
    assert lab.anon_huge_kb(SMAPS, 0x7f0000000000, 0x7f0000001000) == 2048  # a VMA counts whole


def test_thp_mode_is_the_bracketed_word():
    assert lab.thp_mode("always [madvise] never\n") == "madvise"
    assert lab.thp_mode("[always] madvise never") == "always"
    assert lab.thp_mode("") == ""


def test_flushes_between_marks_keep_only_this_tag_and_local_flushes():
    trace = "\n".join([
        "python-1 [001] 1.0: tracing_mark_write: pagemove-lab begin 7",
        "python-1 [001] 1.1: tlb_flush: pages:-1 reason:local mm shootdown (3)",
        "python-1 [001] 1.2: tlb_flush: pages:2 reason:remote shootdown (1)",
        "python-1 [001] 1.3: tlb_flush: pages:2 reason:local mm shootdown (3)",
        "python-1 [001] 1.4: tracing_mark_write: pagemove-lab end 7",
        "python-1 [001] 1.5: tlb_flush: pages:5 reason:local mm shootdown (3)",
    ])
    assert lab.flushes_between_marks(trace, 7) == [-1, 2]
    assert lab.flushes_between_marks(trace, 8) == []


def test_huge_pages_expected_counts_whole_aligned_blocks_inside_the_vma():
    assert lab.huge_pages_expected(0x200000, 0x400000) == 2
    assert lab.huge_pages_expected(0x201000, 0x400000) == 1  # [0x201000, 0x601000): only 0x400000
    assert lab.huge_pages_expected(0x1ff000, 0x201000) == 1  # one base page, then one huge page
    assert lab.huge_pages_expected(0x200000, 0x1ff000) == 0


def test_thp_layouts_give_the_huge_pages_each_case_needs():
    layout = lab.Layout.for_scenarios(lab.scenarios(("2M",)))
    by = {s.name: s for s in lab.thp_scenarios()}
    assert all(s.huge and s.group == "thp" for s in by.values())
    expect = {"thp a aligned 4M": 2, "thp b 0x0->0x1000 4M": 2, "thp c 0x1ff000 2M+4K": 1,
              "thp d 0x1ff000 blkold 2M+4K": 1}
    for name, huge in expect.items():
        assert lab.huge_pages_expected(*layout.source_vma(by[name])) == huge, name
    a, b, c = by["thp a aligned 4M"], by["thp b 0x0->0x1000 4M"], by["thp c 0x1ff000 2M+4K"]
    assert layout.old(a) % lab.PMD == layout.new(a) % lab.PMD == 0  # moves whole
    assert (layout.old(b) ^ layout.new(b)) % lab.PMD == 0x1000  # not mutually aligned: split
    assert layout.old(c) % lab.PMD == layout.new(c) % lab.PMD == lab.PMD - lab.PAGE  # one base page below
    assert by["thp d 0x1ff000 blkold 2M+4K"].twin == c.name


def test_table_pages_count_every_level_below_the_pgd():
    mm = AddressSpace()
    assert lab.table_pages(mm) == {"pte": 0, "pmd": 0, "pud": 0}
    mm.mmap(0x40000000, 0x1000, populate=True)
    assert lab.table_pages(mm) == {"pte": 1, "pmd": 1, "pud": 1}
    mm.mmap(0x40200000, 0x1000, populate=True)  # next PMD: one more PTE table, same PMD table
    assert lab.table_pages(mm) == {"pte": 2, "pmd": 1, "pud": 1}


def test_page_table_predictions_create_at_new_and_free_at_old(predicted):
    # page-wise 2 MiB + 4 KiB, nothing below: 3 PTE tables and a PMD table made at new, as many freed at old
    assert predicted["b 0x1000->0x3000 2M+4K"].tables == {"pte": 0, "pmd": 0, "pud": 0}
    # the blocker below old keeps old's first PTE table (present but empty) and the PMD table above it ...
    blocked = predicted["d 0x1000 blkold 2M+4K"]
    assert blocked.tables == {"pte": 1, "pmd": 1, "pud": 0} and blocked.tables_delta == 2
    # ... until the blocker goes
    assert blocked.tables_freed_by_blocker == 2
    # a blocker below new shares a table that the moved pages fill: nothing to free
    assert predicted["d 0x1000 blknew 2M+4K"].tables_freed_by_blocker == 0


def test_unmap_tail_worked_examples():
    # the tail is one flush of the range the freed tables were recorded at (each at the start of what it
    # mapped), in 2 MiB steps if a PTE table went, else in 1 GiB steps; -1 past 33 steps
    geo, S = AddressSpace().geometry, lab.ENGINE_BASE
    pte = lambda mib: ("pte", S + mib * lab.MiB)  # noqa: E731
    assert lab.x86_unmap_flushes({("pmd", S), pte(4)}, geo) == [2]  # 4 MiB + 4 KiB = 2 steps
    assert lab.x86_unmap_flushes({("pmd", S), pte(6)}, geo) == [3]
    assert lab.x86_unmap_flushes({pte(6)}, geo) == [0]  # 4 KiB: less than one step
    assert lab.x86_unmap_flushes({("pmd", S), ("pmd", S + lab.GiB)}, geo) == [1]  # 1 GiB steps
    assert lab.x86_unmap_flushes({("pmd", S), pte(68)}, geo) == [-1]  # 34 steps > 33
    assert lab.x86_unmap_flushes(set(), geo) == []
    # a full batch of tables to free flushes early: with a batch of 2, the two PTE tables (freed first)
    # flush [S+4M, S+6M+4K) in 2 MiB steps, then the PMD table (freed after its children) alone
    assert lab.x86_unmap_flushes({("pmd", S), pte(4), pte(6)}, geo, batch=2) == [1, 0]


def test_predicted_tails_match_every_recorded_row():
    ref = lab.load_reference()
    assert [(r.name, r.predicted_tail, r.trace_tail) for r in ref.scenarios if not r.tail_match] == []
    done, total = map(int, lab.summary(ref)["tail"].split("/"))
    assert total >= 54 and done == total


def test_table_moments_follow_each_table(predicted):
    text = lab.format_table_moments(["d 0x1000 blkold 2M+4K", "c 0x1ff000 2M+4K"]).splitlines()
    # the blocker keeps old's first PTE table and the PMD table; realigned, old keeps only its PMD table
    assert text[1:5] == ["d 0x1000 blkold 2M+4K  (made +3, freed -1)",
                         "  before the call      PMD PTE+4M PTE+6M      none",
                         "  after the move loop  PMD PTE+4M PTE+6M      PMD PTE+4M PTE+6M",
                         "  after unmapping old  PMD PTE+4M             PMD PTE+4M PTE+6M"]
    assert text[7] == "  after the move loop  PMD                    PMD PTE+4M PTE+6M"
    p = predicted["d 0x1000 blkold 2M+4K"]
    assert len(p.tables_at["loop"] - p.tables_at["after"]) == p.tables_freed


def test_one_trace_notation():
    assert lab.flushes([-1, 1], [3]) == "[-1 1 | 3]"
    assert lab.flushes([1, -1], []) == "[1 -1 | none]"
    assert lab.flushes([-1, -1], None) == "[-1x2 | ?]"
    assert lab.flushes(None, [3]) == "?"


def test_a_recorded_report_round_trips_and_is_judged_again():
    report = lab.load_reference()
    assert report.measured and report.scenarios
    again = lab.LabReport.from_dict(json.loads(json.dumps(report.to_dict())))
    assert [r.name for r in again.scenarios] == [r.name for r in report.scenarios]
    row = next(r for r in again.scenarios if r.name == "b 0x1000->0x3000 2M+4K")
    row.traced_flush_pages = [7]
    lab.judge(row)
    assert row.trace_match is False


def test_reference_run_is_labelled_and_matches_this_engine():
    cond = lab.reference_conditions()
    for key in ("kernel", "machine", "date", "load", "reps"):
        assert cond[key]
    s = lab.summary(lab.load_reference())
    done, total = map(int, s["trace"].split("/"))
    assert total >= 29 and done == total
    done, total = map(int, s["tables"].split("/"))
    assert total >= 29 and done == total


def test_no_lab_module_is_over_400_lines():
    sizes = {p.name: len(p.read_text().splitlines()) for p in Path(lab.__file__).parent.glob("*.py")}
    assert len(sizes) >= 8 and max(sizes.values()) <= 400, sizes


def test_lab_text_fits_100_columns():
    ref = lab.load_reference()
    text = "\n".join([lab.format_predictions(lab.scenarios(("2M", "64M", "1G"))), lab.format_table(ref),
                     lab.format_trace(ref), lab.format_tables(ref), lab.format_thp(ref), lab.format_ratios(ref),
                     lab.format_speedups(ref), lab.format_model(ref.model), lab.format_model_per_2mib(ref.model),
                     lab.format_compare(ref, [r.name for r in ref.scenarios]),
                     lab.format_table_moments([r.name for r in ref.scenarios if r.group == "2M"])])
    assert max(map(len, text.splitlines())) <= 100


# ---- the real kernel (Linux x86-64; PFNs and traces need root) ---------------------------------------

needs_linux = pytest.mark.skipif(bool(PLATFORM_SKIP), reason=f"no real-kernel lab here: {PLATFORM_SKIP}")


@pytest.fixture(scope="module")
def measured():
    before = _tracefs_state(), os.sched_getaffinity(0)
    report = lab.run(("2M",), guard=True, reps=3, trace=True)
    return report, before


def _tracefs_state():
    mounted = any(" /sys/kernel/tracing " in line for line in open("/proc/mounts"))
    inst = os.path.join(lab.TRACEFS, "instances", f"pagemove-lab-{os.getpid()}")
    return mounted, os.path.exists(inst)


@needs_linux
def test_every_move_keeps_the_data_and_empties_old(measured):
    report, _ = measured
    assert report.measured
    bad = [r.name for r in report.scenarios if not (r.data_ok and r.old_gone)]
    assert not bad


@needs_linux
@pytest.mark.skipif(not lab.is_root(), reason="PFNs in /proc/self/pagemap are visible only to root")
def test_every_move_keeps_the_physical_frames(measured):
    report, _ = measured
    assert [r.name for r in report.scenarios if r.pfn_ok is not True] == []


@needs_linux
def test_trace_matches_engine_for_every_2mib_class_scenario(measured):
    report, _ = measured
    if lab.trace_unavailable_reason():
        pytest.skip(f"trace mode unavailable: {lab.trace_unavailable_reason()}")
    assert report.trace_status.startswith("traced"), report.trace_status
    wrong = [(r.name, r.predicted_flush_pages, r.traced_flush_pages) for r in report.scenarios if not r.trace_match]
    assert wrong == []
    tails = [(r.name, r.predicted_tail, r.trace_tail) for r in report.scenarios if not r.tail_match]
    assert tails == []


@needs_linux
def test_lab_leaves_tracefs_and_address_space_as_it_found_them(measured):
    report, before = measured
    assert (_tracefs_state(), os.sched_getaffinity(0)) == before
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # SCHED_FIFO only around each timed call
    layout = lab.Layout.for_scenarios(lab.scenarios(("2M",)))
    assert lab.mapped_in(layout.base, layout.base + layout.size) == []


@needs_linux
def test_reservation_refuses_to_touch_anything_outside_its_windows():
    with lab.Reservation(lab.scenarios(("2M",), guard=False)) as res:
        outside = res.layout.base - lab.PUD
        with pytest.raises(RuntimeError, match="outside the lab's reservation"):
            res.map(outside, lab.PAGE, lab.PROT_READ)
        with pytest.raises(RuntimeError, match="outside the lab's reservation"):
            res.unmap(res.layout.src_anchor - lab.SLACK - lab.PAGE, lab.PAGE)  # a remnant, not a hole
    assert lab.mapped_in(res.layout.base, res.layout.base + res.layout.size) == []


@needs_linux
def test_without_root_the_lab_still_measures_and_says_what_it_skipped(monkeypatch):
    monkeypatch.setattr(observe, "is_root", lambda: False)
    report = lab.run(("2M",), guard=False, reps=1, trace=True, realtime=False, thp=False)
    assert report.measured and report.trace_status == "trace mode needs root (tracefs)"
    assert all(r.data_ok and r.pfn_ok is None and r.trace_match is None for r in report.scenarios)
    assert lab.format_trace(report) == "not traced: trace mode needs root (tracefs)"
    assert all(r.tables_match for r in report.scenarios)  # VmPTE needs no root


@needs_linux
def test_vmpte_change_matches_the_engine_for_every_base_page_scenario(measured):
    report, _ = measured
    wrong = [(r.name, r.tables_predicted, r.tables_observed_runs) for r in report.scenarios
             if not r.huge and not r.tables_match]
    assert wrong == []
    freed = [(r.name, r.blocker_tables_predicted, r.blocker_tables_observed) for r in report.scenarios
             if r.blocker_tables_predicted is not None and r.blocker_tables_predicted != r.blocker_tables_observed]
    assert freed == []


@needs_linux
def test_thp_sources_really_were_huge_before_the_move(measured):
    report, _ = measured
    if report.thp_status:
        pytest.skip(f"no THP scenarios measured: {report.thp_status}")
    rows = [r for r in report.scenarios if r.huge]
    assert rows and [(r.name, r.anon_huge_kb) for r in rows if not r.huge_ok] == []
    assert all(r.data_ok and r.old_gone for r in rows)


@needs_linux
def test_thp_trace_and_tables_match_the_engine(measured):
    report, _ = measured
    if report.thp_status or lab.trace_unavailable_reason():
        pytest.skip(f"THP or trace unavailable: {report.thp_status or lab.trace_unavailable_reason()}")
    rows = [r for r in report.scenarios if r.huge]
    assert [(r.name, r.predicted_flush_pages, r.traced_flush_pages) for r in rows if not r.trace_match] == []
    assert [(r.name, r.tables_predicted, r.tables_observed) for r in rows if not r.tables_match] == []


@needs_linux
def test_a_failing_move_still_unmaps_everything_it_mapped():
    scs = lab.scenarios(("2M",), guard=False, thp=False)
    blocked = next(s for s in scs if s.blocker == "old")
    with lab.Reservation(scs) as res:
        res.sys.mremap_raw = lambda *args: lab.syscalls.MAP_FAILED  # the move fails after map, populate, block
        pagemap, ptp = lab.Pagemap(), lab.PageTablePages()
        try:
            with pytest.raises(OSError, match="mremap"):
                lab.run_once(res, blocked, 1, pagemap, ptp)
        finally:
            pagemap.close()
            ptp.close()
        assert res.mine == set()
        assert [lab.mapped_in(lo, hi) for lo, hi in res.layout.holes()] == [[], [], []]
    assert lab.mapped_in(res.layout.base, res.layout.base + res.layout.size) == []


def test_realign_possible_is_what_the_expansion_without_can_align_down_does(predicted):
    layout = lab.Layout.for_scenarios(lab.scenarios(("2M",)))
    for sc in lab.scenarios(("2M",), thp=False):
        unchecked = lab.engine_space(layout, sc).mremap(layout.old(sc), sc.length, sc.length,
                                                         new_addr=layout.new(sc), unchecked_expansion=True)
        assert predicted[sc.name].realign_possible == unchecked.realigned, sc.name


def test_cost_model_never_reports_a_negative_cost():
    p = lab.predictions(lab.scenarios(("2M",)))
    truth = [10.0, 0.015, -0.5, 0.4, 0.0]  # a "negative cost per extent" is noise, not a saving
    rows = [(x, sum(c * f for c, f in zip(truth, x.features()))) for x in p.values() if x]
    model = lab.fit_cost_model(rows)
    assert model["per_pte_extent_us"] == 0.0
    assert all(v is None or v >= 0 for k, v in model.items() if k != "intercept_us")


def test_the_methods_appendix_quotes_the_one_cost_model_notebook_06_prints():
    ref = lab.load_reference()
    doc = (Path(__file__).parents[1] / "docs" / "lab-method.md").read_text()
    assert lab.format_model(ref.model) in doc
    assert lab.format_model_per_2mib(ref.model) in doc
    assert lab.format_ratios(ref) in doc
    notebook = nbformat.read(Path(__file__).parents[1] / "notebooks" / "06-real-kernel-lab.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for c in notebook.cells for o in c.get("outputs", []))
    assert lab.format_model(ref.model) in printed  # printed by the cell of its optional box
    assert lab.format_model_per_2mib(ref.model) in printed


def test_save_reference_writes_what_load_reads(tmp_path):
    ref = lab.load_reference()
    path = tmp_path / "ref.json"
    lab.save_reference(ref, path, load="a test")
    saved = json.loads(path.read_text())
    assert saved["conditions"]["load"] == "a test" and saved["conditions"]["reps"]["2M"] == 201
    again = lab.repredict(lab.LabReport.from_dict(saved["report"]))
    assert lab.summary(again) == lab.summary(ref)


def test_tables_made_minus_freed_is_the_net_change_for_every_scenario():
    for name, p in lab.predictions(lab.scenarios(("2M", "64M"))).items():
        assert p.tables_made - p.tables_freed == p.tables_delta, name


def test_a_huge_pmd_counts_its_deposited_pte_table():
    mm = AddressSpace()
    mm.mmap(0x40000000, 0x400000, populate=True, thp=True)  # two huge pages
    assert lab.table_pages(mm) == {"pte": 2, "pmd": 1, "pud": 1}  # as VmPTE counts them
