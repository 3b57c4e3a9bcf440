"""The real-kernel lab: time mremap() on this Linux and hold the engine's predictions to it.

For each scenario the lab builds the same layout twice: for real, inside an address-space
reservation of its own (ctypes: mmap, madvise, mremap, munmap), and in the engine. It then
  * times the real mremap(old, len, len, MREMAP_MAYMOVE|MREMAP_FIXED, new) over many interleaved
    repetitions, checking after every move that the data came along and (as root) that the
    physical frames did not change: the pages were moved, not copied;
  * reads /proc/self/status VmPTE just before and after the move and compares the change with the
    page-table pages the engine creates and frees;
  * for the transparent-huge-page scenarios, checks in /proc/self/smaps that the pages were huge;
  * fits a small cost model on the measured medians and infers from the timings whether the kernel
    realigned, to compare with the engine's answer;
  * as root with tracefs, records the tlb:tlb_flush tracepoint during one move of each scenario and
    compares it, event by event, with the engine's predicted flushes.

One concept per module: scenarios (layouts), predict (the engine's side), syscalls (ctypes and the
reservation), observe (pagemap, VmPTE, smaps, tracefs), measure (one repetition, the schedule),
stats, results (the run and its rows), report (tables, plot, reference run), cli.

Kernel sources to read alongside (mm/mremap.c):
  v6.6  https://elixir.bootlin.com/linux/v6.6/source/mm/mremap.c   (no realignment)
  v6.7  https://elixir.bootlin.com/linux/v6.7/source/mm/mremap.c   (try_realign_addr, can_align_down)
  x86 flush + tracepoint: https://elixir.bootlin.com/linux/v6.7/source/arch/x86/mm/tlb.c
Method: docs/lab-method.md; reference numbers: pagemove/lab/reference.json.

Safety: every map, move and unmap the lab makes lies inside its own reservation, in the windows it
unmapped itself; everything it mapped is unmapped again on any error.
"""

from .cli import add_arguments, run_cli
from .measure import Run, call_overhead_us, kernel_mremap_us, measure, run_once, schedule
from .observe import (
    LOCAL_MM_SHOOTDOWN,
    TRACEFS,
    Pagemap,
    PageTablePages,
    Tracer,
    anon_huge_kb,
    flush_ceiling,
    flushes_between_marks,
    parse_vmpte_kb,
    thp_mode,
    thp_unavailable_reason,
    trace_unavailable_reason,
)
from .predict import (
    Prediction,
    engine_space,
    predict,
    predictions,
    rle,
    table_pages,
    table_set,
    x86_unmap_flushes,
)
from .report import (
    RATIOS,
    REFERENCE,
    flushes,
    format_compare,
    format_model,
    format_model_per_2mib,
    format_one_gib,
    format_predictions,
    format_predictions_of,
    format_ratios,
    format_speedups,
    format_table,
    format_table_moments,
    format_tables,
    format_thp,
    format_trace,
    load_reference,
    plot_measured_vs_predicted,
    plot_paths,
    ratios,
    reference_conditions,
    save_reference,
    summary,
    yes_no,
)
from .results import LabReport, ScenarioResult, judge, kernel_release, repredict, run
from .scenarios import (
    C_OFFSETS,
    DEFAULT_REPS,
    ENGINE_BASE,
    GUARD_OFFSETS,
    PAGE,
    PMD,
    PMD_AT,
    PUD,
    QUICK_REPS,
    SIZES,
    SLACK,
    GiB,
    KiB,
    Layout,
    MiB,
    Scenario,
    guard_scenarios,
    huge_pages_expected,
    scenarios,
    size_label,
    size_scenarios,
    thp_scenarios,
)
from .stats import MODEL_TERMS, fit_cost_model, infer_realigned, median_ci, model_us, percentile
from .syscalls import (
    MADV_HUGEPAGE,
    MADV_NOHUGEPAGE,
    MADV_POPULATE_WRITE,
    PROT_NONE,
    PROT_READ,
    PROT_WRITE,
    Libc,
    Reservation,
    is_root,
    mapped_in,
    maps,
    realtime_available,
    unsupported_reason,
)

__all__ = [
    "format_compare", "format_model_per_2mib", "format_one_gib", "format_speedups", "save_reference",
    "C_OFFSETS", "DEFAULT_REPS", "ENGINE_BASE", "GUARD_OFFSETS", "GiB", "KiB", "LOCAL_MM_SHOOTDOWN",
    "LabReport", "Layout", "Libc", "MADV_HUGEPAGE", "MADV_NOHUGEPAGE", "MADV_POPULATE_WRITE", "MODEL_TERMS",
    "MiB", "PAGE", "PMD", "PMD_AT", "PROT_NONE", "PROT_READ", "PROT_WRITE", "PUD", "PageTablePages",
    "Pagemap", "Prediction", "QUICK_REPS", "RATIOS", "REFERENCE", "Reservation", "Run", "SIZES", "SLACK",
    "Scenario", "ScenarioResult", "TRACEFS", "Tracer", "add_arguments", "anon_huge_kb", "call_overhead_us",
    "engine_space", "fit_cost_model", "flush_ceiling", "flushes_between_marks",
    "format_model", "format_predictions", "format_predictions_of", "format_ratios", "format_table",
    "flushes", "format_table_moments", "format_tables", "format_thp", "format_trace", "guard_scenarios", "huge_pages_expected",
    "infer_realigned", "is_root", "judge", "kernel_mremap_us", "kernel_release", "load_reference",
    "mapped_in", "maps", "measure", "median_ci", "model_us", "parse_vmpte_kb", "percentile",
    "plot_measured_vs_predicted", "plot_paths", "predict", "predictions", "ratios", "realtime_available",
    "reference_conditions", "repredict", "rle", "run", "run_cli", "run_once", "scenarios", "schedule",
    "size_label", "size_scenarios", "summary", "table_pages", "table_set", "x86_unmap_flushes", "thp_mode", "thp_scenarios",
    "thp_unavailable_reason", "trace_unavailable_reason", "unsupported_reason", "yes_no",
]
