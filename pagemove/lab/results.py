"""The whole lab: predict every scenario, measure it where this machine allows, and set the two side by
side in one ScenarioResult per scenario (its fields are the JSON rows of `python -m pagemove lab --json`)."""

from __future__ import annotations

import json
import platform
import re
from collections import Counter
from dataclasses import asdict, dataclass, field

from ..kernel import NEWEST, Kernel
from .measure import measure
from .observe import flush_ceiling, thp_unavailable_reason
from .predict import Prediction, predict
from .scenarios import DEFAULT_REPS, PMD, QUICK_REPS, Layout, MiB, Scenario, huge_pages_expected, scenarios
from .stats import fit_cost_model, infer_realigned, median_ci, model_us, percentile
from .syscalls import unsupported_reason


@dataclass
class ScenarioResult:
    """One scenario: the engine's prediction next to what this kernel did (None: not predicted/measured)."""

    name: str
    group: str
    case: str
    old_offset: int  # offset of old in its PMD, as the kernel sees it
    new_offset: int
    length: int
    blocker: str
    predicted_realigned: bool | None
    realign_check: str
    pud_moves: int | None
    pmd_moves: int | None
    pte_moves: int | None
    pte_extents: int | None
    refusals: int | None
    predicted_flush_pages: list[int] | None
    observed_realigned: bool | None = None
    observed_note: str = ""
    median_us: float | None = None
    p10_us: float | None = None
    p90_us: float | None = None
    reps: int = 0
    model_us: float | None = None
    data_ok: bool | None = None
    pfn_ok: bool | None = None  # None: not root, PFNs hidden
    old_gone: bool | None = None
    traced_flush_pages: list[int] | None = None
    trace_tail: list[int] | None = None  # flushes after the predicted ones (the unmap of old)
    tail_expected: bool | None = None
    predicted_tail: list[int] | None = None  # the unmap's flushes, as x86 reports them (x86_unmap_flushes)
    tail_match: bool | None = None  # the kernel's tail is exactly predicted_tail
    trace_match: bool | None = None
    ci_us: tuple[float, float] | None = None  # ~95% confidence interval of the median
    huge: bool = False  # a transparent-huge-page scenario (MADV_HUGEPAGE)
    huge_pmd_moves: int | None = None  # predicted; None in a row with no prediction
    huge_pmd_splits: int | None = None
    anon_huge_expected_kb: int | None = None  # AnonHugePages the source should have before the move
    anon_huge_kb: int | None = None  # ... and the smallest seen in /proc/self/smaps, over all runs
    huge_ok: bool | None = None  # every run's source really was huge, as expected
    tables_predicted: int | None = None  # VmPTE change over the mremap, in page-table pages
    tables_predicted_by_level: dict | None = None  # {"pte": +n, "pmd": +n, "pud": +n}
    tables_made_predicted: int | None = None  # of which: page-table pages the call allocates ...
    tables_freed_predicted: int | None = None  # ... and frees
    tables_observed: int | None = None  # the most common VmPTE change over all runs
    tables_observed_runs: dict | None = None  # {change: how many runs saw it}
    tables_match: bool | None = None
    blocker_tables_predicted: int | None = None  # tables freed by unmapping the blockers afterwards
    blocker_tables_observed: int | None = None

    @property
    def small(self) -> bool:
        """2 MiB-class: the first partial PMD is a large part of the work, so realignment shows in timings."""
        return self.length <= 4 * MiB


@dataclass
class LabReport:
    """Everything one lab run found."""

    kernel_release: str
    engine_kernel: str
    measured: bool
    skip_reason: str = ""
    trace_status: str = ""
    scenarios: list[ScenarioResult] = field(default_factory=list)
    model: dict = field(default_factory=dict)
    call_overhead_us: float | None = None  # a no-op ctypes call, included in every timing
    cpu: int | None = None
    realtime: bool = False  # the timed calls ran at SCHED_FIFO (root), out of reach of other tasks
    thp_status: str = ""  # why the THP scenarios were not measured, or ""

    def by_name(self) -> dict[str, ScenarioResult]:
        return {s.name: s for s in self.scenarios}

    def to_json(self) -> str:
        """The JSON rows: one object per scenario."""
        return json.dumps([asdict(s) for s in self.scenarios], indent=1)

    def to_dict(self) -> dict:
        """The whole report (conditions, cost model and rows), as the reference file stores it."""
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> LabReport:
        rows = [ScenarioResult(**{**r, "ci_us": tuple(r["ci_us"]) if r.get("ci_us") else None})
                for r in d["scenarios"]]
        return cls(**{**d, "scenarios": rows})


def kernel_release() -> str:
    """MAJOR.MINOR of the running kernel if the engine knows it, else the engine's newest."""
    m = re.match(r"(\d+)\.(\d+)", platform.release())
    if m:
        try:
            return str(Kernel.parse(f"{m.group(1)}.{m.group(2)}"))
        except ValueError:
            pass
    return NEWEST


def _result(sc: Scenario, p: Prediction, layout: Layout) -> ScenarioResult:
    start, length = layout.source_vma(sc)
    r = ScenarioResult(sc.name, sc.group, sc.case, sc.old % PMD, sc.new % PMD, sc.length, sc.blocker,
                       predicted_realigned=None, realign_check="", pud_moves=None, pmd_moves=None,
                       pte_moves=None, pte_extents=None, refusals=None, predicted_flush_pages=None, huge=sc.huge)
    if sc.huge:
        r.anon_huge_expected_kb = huge_pages_expected(start, length) * PMD // 1024
    (r.predicted_realigned, r.realign_check, r.pud_moves, r.pmd_moves, r.pte_moves, r.pte_extents, r.refusals,
     r.predicted_flush_pages, r.tail_expected) = (p.realigned, p.realign_check, p.pud_moves, p.pmd_moves,
                                                  p.pte_moves, p.pte_extents, p.refusals, p.flush_pages,
                                                  p.tail_expected)
    r.huge_pmd_moves, r.huge_pmd_splits = p.huge_pmd_moves, p.huge_pmd_splits
    r.predicted_tail = list(p.tail_pages)
    r.tables_predicted, r.tables_predicted_by_level = p.tables_delta, dict(p.tables)
    r.tables_made_predicted, r.tables_freed_predicted = p.tables_made, p.tables_freed
    if sc.blocker in ("old", "new", "resv"):
        r.blocker_tables_predicted = p.tables_freed_by_blocker
    return r


def _fill_measured(r: ScenarioResult, timed, checked, trace) -> None:
    """Timings from the timed runs; checks, VmPTE and huge pages from every run; the trace verdict."""
    us = [x.ns / 1000 for x in timed]
    r.median_us, r.p10_us, r.p90_us, r.reps = percentile(us, 50), percentile(us, 10), percentile(us, 90), len(us)
    r.ci_us = median_ci(us)
    r.data_ok = all(x.data_ok for x in checked)
    r.old_gone = all(x.old_gone for x in checked)
    r.pfn_ok = None if checked[0].pfn_ok is None else all(x.pfn_ok for x in checked)
    seen = Counter(x.tables for x in checked)
    r.tables_observed_runs = dict(sorted(seen.items()))
    r.tables_observed = seen.most_common(1)[0][0]  # a stray allocation elsewhere in the process is rare
    freed = Counter(x.blocker_tables for x in checked if x.blocker_tables is not None)
    if freed:
        r.blocker_tables_observed = freed.most_common(1)[0][0]
    if r.huge:
        r.anon_huge_kb = min(x.huge_kb for x in checked)
        r.huge_ok = all(x.huge_kb == r.anon_huge_expected_kb for x in checked)
    r.traced_flush_pages = trace
    judge(r)


def judge(r: ScenarioResult) -> None:
    """Hold what was observed to what was predicted: trace_match, trace_tail and tables_match."""
    r.trace_match = r.trace_tail = r.tail_match = r.tables_match = None
    if r.tables_predicted is not None and r.tables_observed is not None:
        r.tables_match = r.tables_observed == r.tables_predicted
    trace, e = r.traced_flush_pages, r.predicted_flush_pages
    if trace is not None and e is not None:
        r.trace_tail = trace[len(e):]
        # The loop's flushes first, exactly; then the unmap of old flushes iff it frees a page table
        # (more than once when it frees over ~509 tables: the mmu_gather table batch fills up).
        r.trace_match = trace[:len(e)] == e and bool(r.trace_tail) == r.tail_expected
        if r.predicted_tail is not None:  # the tail's values too (x86_unmap_flushes())
            r.tail_match = r.trace_tail == r.predicted_tail


_PREDICTED = ("predicted_realigned", "realign_check", "pud_moves", "pmd_moves", "pte_moves", "pte_extents",
              "refusals", "predicted_flush_pages", "tail_expected", "predicted_tail", "huge_pmd_moves", "huge_pmd_splits",
              "anon_huge_expected_kb", "tables_predicted", "tables_predicted_by_level", "blocker_tables_predicted",
              "tables_made_predicted", "tables_freed_predicted")


def repredict(report: LabReport) -> LabReport:
    """Replace a (recorded) report's predictions by this engine's, and judge the observations again."""
    every = scenarios(("2M", "64M", "1G"), guard=True, thp=True)
    known = {sc.name: sc for sc in every}
    scs = [known[r.name] for r in report.scenarios]
    layout = Layout.for_scenarios(scs)
    preds = {sc.name: predict(sc, layout, report.engine_kernel) for sc in scs}
    for r, sc in zip(report.scenarios, scs):
        fresh = _result(sc, preds[sc.name], layout)
        for name in _PREDICTED:
            setattr(r, name, getattr(fresh, name))
        r.huge_ok = None if r.anon_huge_kb is None else r.anon_huge_kb == r.anon_huge_expected_kb
        judge(r)
    if report.measured:
        _fit(report, scs, preds)
    return report


def _fit(report: LabReport, scs, preds) -> None:
    """Fit the cost model on base-page scenarios with one possible path (so it cannot lean on the
    realignment rule it is used to judge), and give every base-page row the model's time."""
    by_name = report.by_name()
    report.model = fit_cost_model([(preds[s.name], by_name[s.name].median_us) for s in scs
                                   if not s.huge and by_name[s.name].median_us
                                   and not preds[s.name].realign_possible])
    for sc in scs:
        by_name[sc.name].model_us = None if sc.huge else model_us(report.model, preds[sc.name])


def run(sizes=("2M",), guard: bool = True, reps: int | None = None, quick: bool = False, trace: bool = True,
        progress=None, realtime: bool = True, thp: bool = True, reps_by_group: dict | None = None) -> LabReport:
    """Run the lab: predictions always; timings, checks, VmPTE and traces when this machine allows.

    Repetitions per scenario: `reps` for all, else `reps_by_group` (by group), else the defaults."""
    scs = scenarios(sizes, guard, thp)
    engine_kernel = kernel_release()
    layout = Layout.for_scenarios(scs)
    ceiling = flush_ceiling()
    preds = {sc.name: predict(sc, layout, engine_kernel, ceiling) for sc in scs}
    results = [_result(sc, preds[sc.name], layout) for sc in scs]
    report = LabReport(platform.release(), engine_kernel, False, scenarios=results)
    report.skip_reason = unsupported_reason()
    if report.skip_reason:
        report.trace_status = report.thp_status = report.skip_reason
        return report
    report.thp_status = thp_unavailable_reason() if thp else "THP scenarios off (--no-thp)"
    todo = [sc for sc in scs if not (sc.huge and report.thp_status)]
    per_group = reps_by_group or (QUICK_REPS if quick else DEFAULT_REPS)
    counts = {sc.name: reps or per_group[sc.group] for sc in todo}
    m = measure(todo, counts, trace, progress, realtime)
    report.trace_status, report.call_overhead_us, report.cpu, report.realtime = (
        m.trace_status, m.call_overhead_us, m.cpu, m.realtime)
    report.measured = True
    by_name = report.by_name()
    for sc in todo:
        _fill_measured(by_name[sc.name], m.runs[sc.name][:counts[sc.name]], m.runs[sc.name],
                       m.traces.get(sc.name))
    _fit(report, scs, preds)
    for sc in scs:
        r, p = by_name[sc.name], preds[sc.name]
        r.observed_realigned, r.observed_note = infer_realigned(r, by_name.get(sc.twin), p.realign_possible)
    return report
