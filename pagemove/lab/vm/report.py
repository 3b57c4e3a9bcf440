"""Text for the notebooks: the VM lab's committed recordings, judged again by this engine.

Notebook 09 prints the "who realigns" matrix, the agreement per quantity and the documented differences
from lab.rejudge_reference(); notebooks 03, 05 and 09 quote the real WARNING of warn-reference.json and
the engine's verdict for exactly that exec's stack and shift (warn.engine_verdict(), computed now).
"""

from __future__ import annotations

import textwrap

from ...text import COLUMNS
from . import catalogue, lab, warn

ARCH_LABEL = {"x86_64": "x86-64", "i386_pae": "i386 PAE", "arm64_4k": "arm64 4K", "arm64_16k": "arm64 16K"}
CELL = 10  # a kernel's column: its version over its architecture
RND_PAGES = 0x800  # i386's STACK_RND_MASK 0x7ff + 1: the random stack shift spans 2048 pages (8 MiB)
MATRIX_ROWS = ("c 0x1000 2M+4K", "c 0x1ff000 2M+4K", "d 0x1ff000 blkold 2M+4K", "d 0x1000 blknew 2M+4K",
               "guard 0x1e0000 below (124K) free", "guard 0x1e0000 at (128K) free")


def label(name: str) -> str:
    """A kernel's short label: its version and architecture ("6.1 i386 PAE")."""
    k = catalogue.get(name)
    return f"{k.kernel_version} {ARCH_LABEL[k.geometry]}"


def _header(first: str, kernels: list[str], indent: int) -> list[str]:
    """Two header lines: the kernels' versions over their architectures, right-aligned in CELL columns."""
    ks = [catalogue.get(k) for k in kernels]
    return [f"{'':<{indent}}" + "".join(f"{k.kernel_version:>{CELL}}" for k in ks),
            f"{first:<{indent}}" + "".join(f"{ARCH_LABEL[k.geometry]:>{CELL}}" for k in ks)]


def format_kernels() -> str:
    """One line per recorded kernel: the Debian package, the engine's version and geometry, boot + lab time."""
    recs = lab.load_reference()["kernels"]
    lines = [f"{'kernel':<22} {'Debian package':<37} {'engine':<16} {'wall':>5}"]
    for name, rec in recs.items():
        k = catalogue.get(name)
        lines.append(f"{name:<22} {rec['package'].split('=')[0]:<37} {k.kernel_version + ' ' + k.geometry:<16} "
                     f"{rec['wall_s']:>4.0f} s")
    return "\n".join(lines)


def format_matrix(rows: list[dict], scenarios=MATRIX_ROWS) -> str:
    """The mutually aligned moves (rows) on each kernel (columns): does the engine, at that kernel's version
    and geometry, realign, and did the kernel agree with it on every quantity compared?"""
    matrix = lab.realign_matrix(rows)
    kernels = list(matrix)
    lines = _header("move", kernels, 32)
    for sc in scenarios:
        cells = [f"{('yes' if matrix[k][sc][0] else 'no') + (' ✓' if matrix[k][sc][1] else ' ✗'):>{CELL}}"
                 for k in kernels]
        lines.append(f"{sc:<32}" + "".join(cells))
    every = [agrees for k in kernels for _, agrees in matrix[k].values()]
    lines.append(f"all {len(every)} mutually aligned moves: the kernel agreed with the engine in {sum(every)}")
    return "\n".join(lines)


def format_scenario(rows: list[dict], scenario: str) -> str:
    """One scenario on each kernel: does the engine realign it, and what the kernel showed of it, as observed
    (page tables the kprobes saw made, the tlb:tlb_flush list: the move's flushes, then the tail's)."""
    lines = [f"{'kernel':<15} {'realigned':<10} {'tables made':<12} flushes (x86 only)"]
    for r in (r for r in rows if r["scenario"] == scenario):
        obs = r["observed"]
        flushes = ", ".join(map(str, obs["flushes"])) if "flushes" in obs else "-"
        lines.append(f"{label(r['kernel']):<15} {'yes' if r['predicted']['realigned'] else 'no':<10} "
                     f"{obs['tables_made']:<12} {flushes}")
    return "\n".join(lines)


def format_agreement(rows: list[dict]) -> str:
    """Per quantity (rows) and kernel (columns): agreed/compared, or '-' where the kernel cannot show it."""
    summary = lab.summary(rows)
    kernels = list(summary)
    quantities = list(dict.fromkeys(q for k in kernels for q in summary[k]))
    lines = _header("quantity", kernels, 15)
    for q in quantities:
        cells = [f"{'/'.join(map(str, summary[k][q])) if q in summary[k] else '-':>{CELL}}" for k in kernels]
        lines.append(f"{q:<15}" + "".join(cells))
    return "\n".join(lines)


def format_differences(rows: list[dict]) -> str:
    """Every row where a kernel and the engine differ, with the documented reason (or 'NOT EXPLAINED')."""
    out = []
    for r in rows:
        if r["agrees"]:
            continue
        bad = ", ".join(q for q, ok in r["compared"].items() if not ok)
        out.append(textwrap.fill(f"{r['kernel']} {r['scenario']}: {bad} differs. "
                                 f"{r['explained'] or 'NOT EXPLAINED'}", COLUMNS, subsequent_indent="  "))
    return "\n".join(out) or "no differences"


# ---- the real WARNING --------------------------------------------------------------------------------------

def format_warning(trace: int = 4) -> str:
    """The recorded WARNING, labelled with its kernel, and the first `trace` functions of its call trace."""
    line, kernel = warn.recorded_warning()
    calls = warn.reference()["call_trace"]
    shown = " <- ".join(calls[:trace]) + (" <- ..." if len(calls) > trace else "")
    return "\n".join([f"recorded on {kernel}:", f"  {line}",
                      textwrap.fill(f"call trace: {shown}", COLUMNS, initial_indent="  ", subsequent_indent="    ")])


def format_warn_exec() -> str:
    """The exec that warned: its stack before and after, the shift, the refusals traced, and the engine's
    verdict for exactly that stack and shift on 6.1 and 6.7, computed now."""
    ref = warn.reference()
    (start, end), shift = ref["stack_before"], ref["shift"]
    e = warn.engine_verdict(start, end, shift)
    return "\n".join([
        f"exec {ref['warn_exec']} of {ref['execs']}: stack [{start:#x}, {end:#x}) ({end - start:#x} bytes), "
        f"shift {shift:#x} ({shift // (2 << 20)} PMD)",
        f"  after the shift [{start - shift:#x}, {end - shift:#x}); "
        f"traced: {ref['traced_refusals']} refused PMD moves",
        "the engine now, for exactly that stack and shift:",
        f"  Linux 6.1: {e['6.1']['refusals']} refused PMD moves, WARN {'yes' if e['6.1']['warned'] else 'no'}",
        f"  Linux 6.7: realigned {'yes' if e['6.7']['realigned'] else 'no'}, {e['6.7']['pmd_moves']} PMD moves, "
        f"{e['6.7']['refusals']} refused"])


def warning_shifts(start: int, end: int) -> list[tuple[int, bool]]:
    """(shift, does 6.1 warn?) for every whole-PMD shift i386's stack randomisation can draw for this stack:
    the only shifts that can warn (any other is not mutually aligned, notebook 05's rule)."""
    pmd = 2 << 20
    return [(k * pmd, warn.engine_exec(start, end, k * pmd, "6.1")[0].warned)
            for k in range(1, RND_PAGES * 4096 // pmd)]


def format_odds() -> str:
    """Why about one exec in a thousand warns on i386: the warning shifts out of the 2048 it can draw."""
    ref = warn.reference()
    start, end = ref["stack_before"]
    shifts = warning_shifts(start, end)
    hits = [s for s, warned in shifts if warned]
    per_exec = len(hits) / RND_PAGES
    return "\n".join([
        f"stack of {end - start:#x} bytes; the whole-PMD shifts among the {RND_PAGES} it can draw:",
        "  " + ", ".join(f"{s // (2 << 20)} PMD: {'WARN' if w else 'no WARN'}" for s, w in shifts),
        f"so {len(hits)} shifts in {RND_PAGES} warn: one exec in {1 / per_exec:.0f}",
        f"this recording warned at exec {ref['warn_exec']}; the chance of none in {ref['execs']} execs "
        f"was {100 * (1 - per_exec) ** ref['execs']:.0f}%"])


def format_per_exec() -> str:
    """The per-exec agreement of the recorded run (judged when it was recorded: the frames are not kept)."""
    pe = warn.reference()["per_exec"]
    by = ", ".join(f"{q} {n}" for q, n in pe["by_quantity"].items())
    return f"each exec of the recorded run held to the engine: {pe['agree']} of {pe['total']} agree\n  ({by})"
