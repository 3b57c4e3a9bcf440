"""The real-kernel lab: the engine's predictions for the lab's layouts, and (on Linux, as root) the real
kernel held to them: data and frames survive every move, and the tlb_flush trace matches the engine.
No timing assertions: timings go to notebook 06 and the benchmarks."""

import argparse
import json
import os

import pytest

from pagemove import lab

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


def test_cli_json_has_the_promised_fields(capsys):
    parser = argparse.ArgumentParser()
    lab.add_arguments(parser)
    args = parser.parse_args(["--quick", "--reps", "1", "--json", "--no-trace", "--no-guard"])
    assert lab.run_cli(args) == 0
    rows = json.loads(capsys.readouterr().out)
    assert len(rows) == len(lab.size_scenarios("2M"))
    for row in rows:
        for key in ("name", "predicted_realigned", "observed_realigned", "median_us", "p10_us", "p90_us",
                    "trace_match", "pmd_moves", "pte_moves", "pud_moves"):
            assert key in row
        assert row["trace_match"] is None  # --no-trace
        assert (row["median_us"] is None) == bool(PLATFORM_SKIP)


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


@needs_linux
def test_lab_leaves_tracefs_and_address_space_as_it_found_them(measured):
    report, before = measured
    assert (_tracefs_state(), os.sched_getaffinity(0)) == before
    assert os.sched_getscheduler(0) == os.SCHED_OTHER  # SCHED_FIFO only around each timed call
    layout = lab.Layout.for_scenarios(lab.scenarios(("2M",)))
    assert lab._mapped_in(layout.base, layout.base + layout.size) == []


@needs_linux
def test_reservation_refuses_to_touch_anything_outside_its_windows():
    with lab.Reservation(lab.scenarios(("2M",), guard=False)) as res:
        outside = res.layout.base - lab.PUD
        with pytest.raises(RuntimeError, match="outside the lab's reservation"):
            res.map(outside, lab.PAGE, lab.PROT_READ)
        with pytest.raises(RuntimeError, match="outside the lab's reservation"):
            res.unmap(res.layout.src_anchor - lab.SLACK - lab.PAGE, lab.PAGE)  # a remnant, not a hole
    assert lab._mapped_in(res.layout.base, res.layout.base + res.layout.size) == []


@needs_linux
def test_without_root_the_lab_still_measures_and_says_what_it_skipped(monkeypatch):
    monkeypatch.setattr(lab, "is_root", lambda: False)
    report = lab.run(("2M",), guard=False, reps=1, trace=True, realtime=False)
    assert report.measured and report.trace_status == "trace mode needs root (tracefs)"
    assert all(r.data_ok and r.pfn_ok is None and r.trace_match is None for r in report.scenarios)
    assert lab.format_trace(report) == "not traced: trace mode needs root (tracefs)"
