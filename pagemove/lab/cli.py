"""`python -m pagemove lab`: its options, and printing one run (text tables, or JSON rows)."""

from __future__ import annotations

import sys

from .report import format_ratios, format_table, format_tables, format_thp, format_trace
from .results import run
from .scenarios import SIZES


def add_arguments(parser) -> None:
    """The options of `python -m pagemove lab`."""
    parser.add_argument("--quick", action="store_true", help="few repetitions (seconds for the default 2 MiB class)")
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=None,
                        help="size classes to run (default: 2M; 2M is 2 MiB + 4 KiB)")
    parser.add_argument("--json", action="store_true", help="one JSON object per scenario")
    parser.add_argument("--reps", type=int, default=None, help="repetitions per scenario (default: by size)")
    parser.add_argument("--no-trace", action="store_true", help="do not record tlb:tlb_flush")
    parser.add_argument("--no-guard", action="store_true", help="leave out the length-guard scenarios")
    parser.add_argument("--no-thp", action="store_true", help="leave out the transparent-huge-page scenarios")
    parser.add_argument("--no-realtime", action="store_true",
                        help="do not run the timed call at SCHED_FIFO (root only) to shield it from other tasks")


def run_cli(args) -> int:
    """Run the lab from parsed arguments; print a table (or JSON). 1 if any move lost data, else 0."""
    if args.reps is not None and args.reps < 1:
        print("lab: --reps must be at least 1", file=sys.stderr)
        return 2
    report = run(tuple(args.sizes or ("2M",)), guard=not args.no_guard, reps=args.reps, quick=args.quick,
                 trace=not args.no_trace, realtime=not getattr(args, "no_realtime", False),
                 thp=not getattr(args, "no_thp", False), progress=None if args.json else _stderr_progress)
    if args.json:
        print(report.to_json())
    else:
        if not report.measured:
            print(f"lab: skipped: {report.skip_reason}")
        print(format_table(report))
        if report.measured:
            for part in (format_ratios(report), format_trace(report), format_tables(report), format_thp(report)):
                print()
                print(part)
    broken = [r.name for r in report.scenarios
              if r.data_ok is False or r.pfn_ok is False or r.old_gone is False]
    if broken:
        print(f"lab: integrity check FAILED for {', '.join(broken)}", file=sys.stderr)
        return 1
    return 0


def _stderr_progress(done: int, total: int) -> None:
    if done == total or done % max(1, total // 10) == 0:
        print(f"lab: round {done}/{total}", file=sys.stderr)
