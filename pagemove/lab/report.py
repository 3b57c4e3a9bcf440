"""Reading a LabReport: text tables (each fits 100 columns), ratios, the cost model, the plot, and the
recorded reference run that notebook 06 shows where it cannot measure."""

from __future__ import annotations

import json
from pathlib import Path

from ..kernel import NEWEST
from .predict import predict, predictions, rle
from .results import LabReport, repredict
from .scenarios import PMD, PUD, SIZES, Layout, scenarios, size_label
from .stats import MODEL_TERMS

REFERENCE = Path(__file__).with_name("reference.json")
W = 36  # the longest scenario name: "guard 0x100000 below (1020K) aligned"


def yes_no(v) -> str:
    """"yes", "no", or "?" for unknown (None)."""
    return "?" if v is None else ("yes" if v else "no")


def _num(v, digits: int = 1) -> str:
    return "?" if v is None else f"{v:.{digits}f}"


def _int(v) -> str:
    return "?" if v is None else str(v)


def load_reference() -> LabReport:
    """The run recorded on the machine this notebook was written on, judged by this engine."""
    with open(REFERENCE) as f:
        return repredict(LabReport.from_dict(json.load(f)["report"]))


def reference_conditions() -> dict:
    """Where and how the reference run was taken (machine, kernel, repetitions, load)."""
    with open(REFERENCE) as f:
        return json.load(f)["conditions"]


# ---- predictions -------------------------------------------------------------------------------------

def format_predictions(scs, kernel: str = NEWEST) -> str:
    """A deterministic table of what the engine predicts for each scenario."""
    preds = predictions(scs, kernel)
    rows = [f"{'scenario':<{W}} {'realign':<7} {'PUD':>3} {'PMD':>4} {'PTE':>6} {'ext':>4} {'tables':>6}  flushes"]
    for sc in scs:
        p = preds[sc.name]
        rows.append(f"{sc.name:<{W}} {yes_no(p.realigned):<7} {p.pud_moves:>3} {p.pmd_moves:>4} {p.pte_moves:>6} "
                    f"{p.pte_extents:>4} {p.tables_delta:>+6}  {rle(p.flush_pages)}")
    return "\n".join(rows)


def format_predictions_of(report: LabReport) -> str:
    """The predictions stored in a report, one line per scenario."""
    rows = [f"{'scenario':<{W}} {'realign':<7} {'PUD':>3} {'PMD':>4} {'PTE':>6}  flushes"]
    for r in report.scenarios:
        rows.append(f"{r.name:<{W}} {yes_no(r.predicted_realigned):<7} {_int(r.pud_moves):>3} "
                    f"{_int(r.pmd_moves):>4} {_int(r.pte_moves):>6}  {rle(r.predicted_flush_pages)}")
    return "\n".join(rows)


# ---- the measured table ---------------------------------------------------------------------------------

def format_table(report: LabReport, names=None) -> str:
    """Measured against predicted, one line per scenario (all, or those in `names`)."""
    head = f"kernel {report.kernel_release} (engine models {report.engine_kernel})"
    if not report.measured:
        return f"{head}\nnot measured: {report.skip_reason}\n\n" + format_predictions_of(report)
    rt = ", SCHED_FIFO" if report.realtime else ""
    lines = [head, f"timings include ~{report.call_overhead_us:.2f} us of ctypes call; pinned to CPU {report.cpu}{rt}",
             f"trace: {report.trace_status}",
             f"{'scenario':<{W}} {'PMD':>4} {'PTE':>6} {'median':>7} {'p10':>6} {'p90':>6} {'realign':>7} "
             f"{'data':>4} {'pfn':>4} {'trace':>5} {'VmPTE':>5}"]
    for r in _rows(report, names):
        pmd = None if r.pmd_moves is None else r.pmd_moves + r.pud_moves
        lines.append(f"{r.name:<{W}} {_int(pmd):>4} {_int(r.pte_moves):>6} {_num(r.median_us):>7} "
                     f"{_num(r.p10_us):>6} {_num(r.p90_us):>6} "
                     f"{yes_no(r.predicted_realigned) + '/' + yes_no(r.observed_realigned):>7} "
                     f"{yes_no(r.data_ok):>4} {yes_no(r.pfn_ok):>4} {yes_no(r.trace_match):>5} "
                     f"{yes_no(r.tables_match):>5}")
    lines.append(format_model(report.model))
    return "\n".join(lines)


def format_model(model: dict) -> str:
    """The cost model in one line: t = c0 + c1 PTE + c2 extent + c3 PMD + c4 PUD (µs)."""
    if not model or model.get("intercept_us") is None:
        return "cost model: not fitted (nothing measured)"
    c = [model[k] for k in MODEL_TERMS]
    def term(v, digits, unit):
        return f"0 {unit}" if v == 0 else f"{_num(v, digits)} {unit}"
    parts = [term(c[0], 1, "us"), term(None if c[1] is None else c[1] * 1000, 2, "ns x PTE"),
             term(c[2], 2, "us x extent"), term(c[3], 2, "us x PMD"), term(c[4], 1, "us x PUD")]
    return "cost model: t = " + " + ".join(parts)


# ---- ratios ------------------------------------------------------------------------------------------------

RATIOS = [  # (label, numerator case name pattern, denominator)
    ("(ii)/(i) page-wise vs PMD", "b 0x1000->0x3000 {}", "a aligned {}"),
    ("(iii)/(i) c@0x1000 vs aligned", "c 0x1000 {}", "a aligned {}"),
    ("(iii)/(i) c@0x100000 vs aligned", "c 0x100000 {}", "a aligned {}"),
    ("(iii)/(i) c@0x1ff000 vs aligned", "c 0x1ff000 {}", "a aligned {}"),
    ("(iv)/(ii) blocked@0x1000 vs page-wise", "d 0x1000 blkold {}", "b 0x1000->0x3000 {}"),
    ("(iv)/(iii) blocked vs realigned @0x1000", "d 0x1000 blkold {}", "c 0x1000 {}"),
    ("(iv)/(iii) blocked vs realigned @0x100000", "d 0x100000 blkold {}", "c 0x100000 {}"),
    ("(iv)/(iii) blocked vs realigned @0x1ff000", "d 0x1ff000 blkold {}", "c 0x1ff000 {}"),
    ("(i)/P PMD path vs PUD path", "a aligned {}", "p pud-aligned {}"),
]


def ratios(report: LabReport) -> list[dict]:
    """The ratio table per size class: {"ratio", "size", "value" (of medians), "p10_value"} (measured only)."""
    by = report.by_name()
    out = []
    for label, num, den in RATIOS:
        for size in SIZES:
            s = size_label(SIZES[size])
            a, b = by.get(num.format(s)), by.get(den.format(s))
            if a and b and a.median_us and b.median_us:
                out.append({"ratio": label, "size": s, "value": round(a.median_us / b.median_us, 2),
                            "p10_value": round(a.p10_us / b.p10_us, 2)})
    return out


def format_ratios(report: LabReport) -> str:
    """The ratio table: median ratio, and in brackets the p10 ratio (less sensitive to a busy machine)."""
    rows = ratios(report)
    if not rows:
        return f"no ratios: {report.skip_reason or 'nothing measured'}"
    sizes = [s for s in (size_label(n) for n in SIZES.values()) if any(r["size"] == s for r in rows)]
    lines = [f"{'ratio of medians (of p10s)':<42}" + "".join(f"{s:>15}" for s in sizes)]
    for label, *_ in RATIOS:
        vals = {r["size"]: f"{r['value']:.2f} ({r['p10_value']:.2f})" for r in rows if r["ratio"] == label}
        if vals:
            lines.append(f"{label:<42}" + "".join(f"{vals.get(s, ''):>15}" for s in sizes))
    return "\n".join(lines)


# ---- the trace, page-table pages and huge pages ------------------------------------------------------------

def _rows(report: LabReport, names=None):
    """The report's rows: all, or those named, in the order named."""
    if names is None:
        return list(report.scenarios)
    by = report.by_name()
    return [by[n] for n in names if n in by]


def flushes(loop, tail) -> str:
    """One notation for every trace: [the move loop's flushes | the unmap's tail], e.g. [-1 1 | 3];
    "none" for no tail, "?" for not known."""
    if loop is None:
        return "?"
    end = "?" if tail is None else (rle(tail)[1:-1] or "none")
    return f"{rle(loop)[:-1]} | {end}]".replace("[ | ", "[| ")


def _kernel_flushes(r) -> str:
    """The kernel's trace in the same notation, cut where the engine's loop ends."""
    k, e = r.traced_flush_pages, r.predicted_flush_pages
    if k is None or e is None:
        return rle(k)
    return flushes(k[:len(e)], k[len(e):])


def _full_match(r):
    """The loop's flushes and the tail's, both exactly as predicted (None: not traced or predicted)."""
    return None if r.trace_match is None else bool(r.trace_match and r.tail_match)


def format_trace(report: LabReport, names=None) -> str:
    """The trace comparison: the engine's flushes, what the kernel added after them (the tail), the verdict."""
    rows = [r for r in _rows(report, names) if r.traced_flush_pages is not None]
    if not rows:
        return f"not traced: {report.trace_status or report.skip_reason}"
    judged = [r for r in rows if r.trace_match is not None]
    ok = sum(_full_match(r) for r in judged)
    lines = [f"{ok}/{len(judged)} traced scenarios match the engine, flush for flush, tail included"
             + (f" ({len(rows) - len(judged)} without a prediction)" if len(rows) > len(judged) else ""),
             f"{'scenario':<{W}} {'engine [moves | tail]':<22} {'kernel [moves | tail]':<22} match"]
    for r in rows:
        match = _full_match(r)
        lines.append(f"{r.name:<{W}} {flushes(r.predicted_flush_pages, r.predicted_tail):<22} "
                     f"{_kernel_flushes(r):<22} {yes_no(match)}")
    return "\n".join(lines)


def format_tables(report: LabReport, names=None) -> str:
    """Page-table pages: what the engine says the call makes and frees, per level, next to the change of
    VmPTE the kernel showed; and what unmapping the blockers afterwards frees (engine / kernel)."""
    lines = [f"{'scenario':<{W}} {'made':>4} {'freed':>5}  {'engine: net per level':<21} {'VmPTE':>5} "
             f"{'match':>5} {'blocker':>7}"]
    for r in _rows(report, names):
        lvl = r.tables_predicted_by_level
        net = "?" if lvl is None else (" ".join(f"{v:+d} {k.upper()}" for k, v in lvl.items() if v) or "0")
        if lvl is not None:
            net = _signed(r.tables_predicted) + (f" ({net})" if net != "0" else "")
        blk = "" if r.blocker_tables_predicted is None else \
            f"{_signed(r.blocker_tables_predicted, neg=True)}/{_signed(r.blocker_tables_observed, neg=True)}"
        lines.append(f"{r.name:<{W}} {_signed(r.tables_made_predicted):>4} "
                     f"{_signed(None if r.tables_freed_predicted is None else -r.tables_freed_predicted):>5}  "
                     f"{net:<21} {_signed(r.tables_observed):>5} {yes_no(r.tables_match):>5} {blk:>7}".rstrip())
    return "\n".join(lines)


MOMENTS = (("before", "before the call"), ("loop", "after the move loop"), ("after", "after unmapping old"))


def _side(tables, lo: int, hi: int, base: int) -> str:
    """The PMD and PTE tables whose ranges meet [lo, hi), by offset from `base` (old's or new's 1 GiB)."""
    pmd = any(level == "pmd" and b < hi and b + PUD > lo for level, b in tables)
    ptes = sorted(b - base for level, b in tables if level == "pte" and b < hi and b + PMD > lo)
    words = (["PMD"] if pmd else []) + [f"PTE+{size_label(o) if o else '0'}" for o in ptes]
    return " ".join(words) or "none"


def format_table_moments(names) -> str:
    """Which page tables the engine holds on old's side and on new's side, before the call, after its
    move loop and after it unmaps old (PMD: the PMD table of that 1 GiB; PTE+4M: the PTE table of the
    2 MiB that starts 4 MiB above the 1 GiB boundary)."""
    known = {sc.name: sc for sc in scenarios(tuple(SIZES), guard=True, thp=True)}
    scs = [known[n] for n in names]
    layout = Layout.for_scenarios(scs)
    lines = [f"{'':<22} {'old side':<22} new side"]
    for sc in scs:
        p = predict(sc, layout)
        old, new = layout.old(sc), layout.new(sc)
        lines.append(f"{sc.name}  (made {_signed(p.tables_made)}, freed {_signed(-p.tables_freed)})")
        for key, label in MOMENTS:
            t = p.tables_at[key]
            lines.append(f"  {label:<20} {_side(t, old, old + sc.length, old & ~(PUD - 1)):<22} "
                         f"{_side(t, new, new + sc.length, new & ~(PUD - 1))}")
    return "\n".join(lines)


def _signed(v, neg: bool = False) -> str:
    """+2, -2, 0 (no sign on zero), ? for unknown."""
    return "?" if v is None else ("0" if v == 0 else f"{-v if neg else v:+d}")


def format_thp(report: LabReport) -> str:
    """The huge-page scenarios: were they huge, what moved whole or split, and the trace verdict."""
    lines = [f"{'scenario':<29} {'AnonHuge kB':>11} {'huge?':>5} {'whole':>5} {'split':>5} "
             f"{'median':>7} {'trace':>5}  kernel [moves | tail]"]
    for r in report.scenarios:
        if not r.huge:
            continue
        seen = "?" if r.anon_huge_kb is None else f"{r.anon_huge_kb}/{r.anon_huge_expected_kb}"
        lines.append(f"{r.name:<29} {seen:>11} {yes_no(r.huge_ok):>5} {_int(r.huge_pmd_moves):>5} "
                     f"{_int(r.huge_pmd_splits):>5} {_num(r.median_us):>7} {yes_no(_full_match(r)):>5}  "
                     f"{_kernel_flushes(r)}")
    return "\n".join(lines)


def summary(report: LabReport) -> dict:
    """k/n counts: traces matched (the loop's flushes and whether a tail follows), tails matched (its
    values), tables matched, huge pages confirmed, data and physical frames kept (measured rows only)."""
    def kn(vals):
        vals = [v for v in vals if v is not None]
        return f"{sum(vals)}/{len(vals)}"
    thp = [r for r in report.scenarios if r.huge]
    return {"trace": kn(r.trace_match for r in report.scenarios),
            "tail": kn(r.tail_match for r in report.scenarios),
            "thp_trace": kn(r.trace_match for r in thp),
            "tables": kn(r.tables_match for r in report.scenarios),
            "huge_confirmed": kn(r.huge_ok for r in thp),
            "data": kn(r.data_ok for r in report.scenarios),
            "frames": kn(r.pfn_ok for r in report.scenarios)}


# ---- the plot ------------------------------------------------------------------------------------------------

def plot_paths(report: LabReport, names, labels=None, ax=None, title: str = ""):
    """Horizontal bars of measured medians (p10-p90 whiskers) for a few scenarios, labelled by path;
    drawn at the size it is shown, with the values written at the bar ends instead of a legend."""
    import matplotlib.pyplot as plt
    by = report.by_name()
    rows = [by[n] for n in names if n in by and by[n].median_us is not None]
    if ax is None:
        _, ax = plt.subplots(figsize=(7.5, 0.55 * len(rows) + 1.0), dpi=100)
    ys = list(range(len(rows)))[::-1]
    med = [r.median_us for r in rows]
    err = [[r.median_us - r.p10_us for r in rows], [r.p90_us - r.median_us for r in rows]]
    ax.barh(ys, med, xerr=err, capsize=3, color="#4c72b0")
    for y, r in zip(ys, rows):
        ax.text(r.p90_us * 1.15, y, f"{r.median_us:,.1f} µs", va="center", fontsize=10)
    ax.set_yticks(ys, [(labels or {}).get(r.name, r.name) for r in rows], fontsize=10)
    ax.set_xscale("log")
    ax.set_xlim(min(r.p10_us for r in rows) / 2, max(r.p90_us for r in rows) * 4)
    ax.set_xlabel("µs per mremap() (log scale; whiskers: p10-p90)", fontsize=10)
    ax.tick_params(axis="x", labelsize=10)
    if title:
        ax.set_title(title, fontsize=11)
    ax.figure.tight_layout()
    from ..plot import with_alt

    bars = "; ".join(f"{(labels or {}).get(r.name, r.name)}: median {r.median_us:,.1f} µs (p10 {r.p10_us:,.1f}, "
                     f"p90 {r.p90_us:,.1f})" for r in rows)
    with_alt(ax.figure, f"Bar chart{f', {title}' if title else ''}: microseconds per mremap() call, log scale. {bars}.")
    return ax


def plot_measured_vs_predicted(report: LabReport, group: str = "2M", ax=None):
    """Bars: measured median (p10-p90 whiskers) and the cost model's prediction, per scenario of a group."""
    import matplotlib.pyplot as plt
    rows = [r for r in report.scenarios if r.group == group and r.median_us is not None]
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6, 0.6 * len(rows)), 4.2))
    xs = range(len(rows))
    med = [r.median_us for r in rows]
    err = [[r.median_us - r.p10_us for r in rows], [r.p90_us - r.median_us for r in rows]]
    ax.bar([x - 0.2 for x in xs], med, 0.4, yerr=err, capsize=2, label="measured median (p10-p90)")
    ax.bar([x + 0.2 for x in xs], [r.model_us or 0 for r in rows], 0.4, label="cost model on engine counts")
    ax.set_xticks(list(xs), [r.name.rsplit(" ", 1)[0] if group != "guard" else r.name[6:] for r in rows],
                  rotation=60, ha="right", fontsize=9)
    ax.set_ylabel("µs per mremap")
    ax.set_title(f"{group}: measured vs cost model")
    ax.legend(fontsize=8, loc="upper left", bbox_to_anchor=(1.01, 1.0))  # outside the bars
    return ax


def save_reference(report: LabReport, path=REFERENCE, load: str = "") -> None:
    """Record a measured run (with where and how it was taken) as the reference notebook 06 shows."""
    import datetime
    import os
    import platform
    loadavg = None
    if os.path.exists("/proc/loadavg"):
        with open("/proc/loadavg") as f:
            loadavg = f.read().split()[:3]
    cond = {"kernel": report.kernel_release, "machine": f"{platform.machine()}, {os.cpu_count()} CPUs",
            "date": datetime.date.today().isoformat(), "load": load or "unknown", "loadavg": loadavg,
            "reps": {r.group: r.reps for r in report.scenarios if r.reps}}
    with open(path, "w") as f:
        json.dump({"conditions": cond, "report": report.to_dict()}, f, separators=(",", ":"))
        f.write("\n")


def format_compare(report: LabReport, names) -> str:
    """A few scenarios side by side: the engine's realignment and flushes, the kernel's flushes (both as
    [moves | tail]) and the median time."""
    by = report.by_name()
    lines = [f"{'scenario':<{W}} {'realign':>7}  {'engine':<14} {'kernel trace':<14} {'median us':>9}"]
    for n in names:
        r = by[n]
        lines.append(f"{n:<{W}} {yes_no(r.predicted_realigned):>7}  "
                     f"{flushes(r.predicted_flush_pages, r.predicted_tail):<14} {_kernel_flushes(r):<14} "
                     f"{_num(r.median_us):>9}")
    return "\n".join(lines)


def format_speedups(report: LabReport) -> str:
    """How many times slower page-by-page is than whole PMDs (b / a), and PMDs than one PUD (a / p)."""
    rows = {(r["ratio"], r["size"]): r["value"] for r in ratios(report)}
    pw = [f"{s} {rows[(RATIOS[0][0], s)]:.1f}x" for s in (size_label(n) for n in SIZES.values())
          if (RATIOS[0][0], s) in rows]
    if not pw:
        return f"no ratios: {report.skip_reason or 'nothing measured'}"
    lines = ["page by page / whole PMDs (b / a), medians: " + ", ".join(pw)]
    pud = rows.get((RATIOS[-1][0], "1G"))
    if pud:
        lines.append(f"whole PMDs / one PUD (a / p) at 1G: {pud:.1f}x")
    return "\n".join(lines)


ONE_GIB = (("1 PUD move", "p pud-aligned 1G"), ("512 PMD moves", "a aligned 1G"),
           ("262,144 PTE moves", "b 0x1000->0x3000 1G"))


def format_one_gib(report: LabReport) -> str:
    """1 GiB moved three ways (one PUD, 512 PMDs, 262,144 PTEs): the medians, the two speed-ups of
    format_speedups() and the cost model's price of one PMD and one PTE move; notebooks 01 and 06 both
    quote it, so their figures come from this one place."""
    by = report.by_name()
    rows = [(label, by.get(name)) for label, name in ONE_GIB]
    if not all(r and r.median_us for _, r in rows):
        return f"no 1 GiB timings: {report.skip_reason or 'not measured'}"
    ratio = {r["ratio"]: r["value"] for r in ratios(report) if r["size"] == "1G"}  # as format_speedups()
    lines = ["mremap() of 1 GiB, median us: " + ", ".join(f"{label} {r.median_us:.1f}" for label, r in rows),
             f"page by page / whole PMDs (b / a) at 1G: {ratio[RATIOS[0][0]]:.1f}x",
             f"whole PMDs / one PUD (a / p) at 1G: {ratio[RATIOS[-1][0]]:.1f}x"]
    m = report.model or {}
    if m.get("per_pmd_move_us") is not None and m.get("per_pte_us") is not None:
        lines.append(f"cost model: one PMD move {m['per_pmd_move_us']:.2f} us, "
                     f"one PTE move {m['per_pte_us'] * 1000:.2f} ns")
    return "\n".join(lines)


def format_model_per_2mib(model: dict) -> str:
    """The cost model's price of moving 2 MiB page by page (512 PTEs, one extent) and as one PMD."""
    if not model or model.get("per_pte_us") is None or model.get("per_pmd_move_us") is None:
        return "per 2 MiB: not fitted"
    pte = 512 * model["per_pte_us"] + (model["per_pte_extent_us"] or 0.0)
    pmd = model["per_pmd_move_us"]
    return f"so per 2 MiB moved: page by page {pte:.2f} us, one whole PMD {pmd:.2f} us ({pte / pmd:.0f}x)"
