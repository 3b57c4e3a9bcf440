"""make bench: how fast the engine, the drawings and the explorer are, next to the real kernel.

Medians over repeated runs; nothing here is asserted, the numbers go into the notes. The last part is the
explorer in Chromium, input event to new picture painted (benchmarks/browser.py); it skips, saying why,
without chromium. Usage:
    python benchmarks/bench.py [--reps N] [--no-kernel] [--no-browser] [--json] [--clock wall|cpu]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

import pagemove as pm
from pagemove.scenario import simulate

G = 1 << 30
OLD, NEW = 5 * G + 0x1000, 9 * G + 0x3000  # not mutually aligned: 262,144 PTE moves, 1,025 extents


CLOCK = time.perf_counter  # --clock cpu: time.process_time, this process's CPU time (steadier on a shared machine)


def median_ms(fn, reps: int, setup=None) -> float:
    """Median time of fn(setup()) in milliseconds (wall clock, or CPU time with --clock cpu); setup is
    not timed."""
    times = []
    for _ in range(reps):
        arg = setup() if setup else None
        t0 = CLOCK()
        fn(arg)
        times.append((CLOCK() - t0) * 1e3)
    return statistics.median(times)


def populated(size: int, at: int = OLD) -> pm.AddressSpace:
    mm = pm.AddressSpace()
    mm.mmap(at, size, populate=True)
    return mm


def engine(reps: int) -> dict[str, float]:
    """The engine on its own: populate, and 1 GiB moves page-wise, PMD-wise and PUD-wise."""
    big = populated(G)
    pmd_src = populated(G, 5 * G + (2 << 20))
    pud_src = populated(G, 5 * G)
    out = {
        "populate 1 GiB (262,144 PTEs)": median_ms(lambda mm: mm.populate(OLD, G), reps,
                                                   lambda: _mapped(G)),
        "mremap 1 GiB page-wise (262,144 PTE moves)": median_ms(
            lambda mm: mm.mremap(OLD, G, G, new_addr=NEW, kernel="6.6"), reps, big.clone),
        "move_page_tables only, 1 GiB page-wise": median_ms(
            lambda mm: pm.move_page_tables(mm, OLD, NEW, G, kernel="6.6"), reps, lambda: _with_dest(big)),
        "mremap 1 GiB PMD-wise (512 PMD moves)": median_ms(
            lambda mm: mm.mremap(5 * G + (2 << 20), G, G, new_addr=9 * G + (2 << 20)), reps, pmd_src.clone),
        "mremap 1 GiB PUD-aligned (1 PUD move)": median_ms(
            lambda mm: mm.mremap(5 * G, G, G, new_addr=9 * G), reps, pud_src.clone),
        "seed example E4 (relocate_vma_down, 6.6)": median_ms(
            lambda _: simulate(0x1fff000, 0x1dff000, 0x201000, stack=True, kernel="6.6"), reps),
    }
    return out


def _mapped(size: int) -> pm.AddressSpace:
    mm = pm.AddressSpace()
    mm.mmap(OLD, size)
    return mm


def _with_dest(mm: pm.AddressSpace) -> pm.AddressSpace:
    mm = mm.clone()
    mm.mmap(NEW, G)
    return mm


def explorer(reps: int) -> dict[str, float]:
    """Explorer updates: simulate + draw + PNG encode, as a learner's click costs."""
    import matplotlib
    matplotlib.use("Agg")
    from pagemove.widgets import MoveExplorer

    out = {}
    cases = {
        "tiny, seed case (c)": dict(preset="tiny-c"),
        "tiny, case (c) overlap": dict(preset="tiny-c-overlap"),
        "tiny, cascade": dict(preset="tiny-cascade"),
        "x86-64, seed case (c)": dict(preset="c"),
        "x86-64, seed overlap (c-overlap)": dict(preset="c-overlap"),
        "x86-64, cascade": dict(preset="cascade"),
        "x86-64, 1 GiB page-wise": dict(old=OLD, new=NEW, length=G, kernel="6.6", stack=False, geometry="x86_64"),
        "x86-64, 1 GiB PMD-wise": dict(old=5 * G + (2 << 20), new=9 * G + (2 << 20), length=G, kernel="6.6",
                                       stack=False, geometry="x86_64"),
    }
    for name, args in cases.items():
        out.update(explorer_timings(name, MoveExplorer(**args, cache_size=0), reps))
    return out


def explorer_timings(name, ex, reps):
    """Median update times of one explorer with no PNG cache: every update simulates, draws and encodes.

    The three things a learner does: flip the kernel, type a new value into a box (len one page longer,
    then back), move the step slider."""
    kernels = ["6.6", "6.7"]
    out = {f"explorer kernel flip: {name}": median_ms(lambda k: ex.set(kernel=k), reps,
                                                      lambda: kernels.reverse() or kernels[0])}
    length = ex.values["length"]
    lengths = [f"{length + ex.result.geometry.page_size:#x}", f"{length:#x}"]
    out[f"explorer new box value: {name}"] = median_ms(lambda text: setattr(ex.texts["length"], "value", text),
                                                       reps, lambda: lengths.reverse() or lengths[0])
    out[f"explorer step back: {name}"] = median_ms(lambda s: ex.set(step=s), reps,
                                                   lambda: (ex.step - 1) % (ex.steps + 1))
    ex.set(step=0)
    out[f"explorer step forward: {name}"] = median_ms(lambda s: ex.set(step=s), reps,
                                                      lambda: (ex.step + 1) % (ex.steps + 1))
    out.update(explorer_parts(name, ex, reps))
    return out


def explorer_parts(name, ex, reps):
    """Where a new value's time goes, part by part, as the explorer does it: the engine and the summary, the
    layout (plot.draw_move for the PNG: rows, cells, marks, text), and painting + PNG encoding
    (plot.render_png, pagemove.raster)."""
    from pagemove import plot

    width, result = ex._drawing_px() / plot.DPI, ex.result
    sim = median_ms(lambda _: ex._simulated(ex.values), reps)  # the explorer's own call (no cache: cache_size=0)
    fig = plot.draw_move(result, fig=None, caption=False, width=width, for_png=True)

    def lay_out(_):
        plot._LAST[:] = [None, None]  # a new value is a new result: what draw_move derives from it, again
        plot.draw_move(result, fig=fig, caption=False, width=width, for_png=True)

    draw = median_ms(lay_out, reps)
    paint = median_ms(lambda _: plot.render_png(fig), reps)
    return {f"explorer new value, simulate + summary: {name}": sim, f"explorer new value, lay out: {name}": draw,
            f"explorer new value, paint + encode PNG: {name}": paint}


def kernel_side_by_side(reps: int) -> dict[str, float | str]:
    """The real kernel's mremap of the same 1 GiB, timed here (through pagemove.lab's public names)."""
    from pagemove import lab

    why = lab.unsupported_reason()
    if why:
        return {"kernel": f"skipped: {why}"}
    return {"kernel mremap 1 GiB page-wise (us)": lab.kernel_mremap_us(G, aligned=False, reps=reps),
            "kernel mremap 1 GiB PMD-wise (us)": lab.kernel_mremap_us(G, aligned=True, reps=reps)}


def side_by_side(reps: int) -> dict[str, float]:
    """The engine's and the kernel's 1 GiB page-wise mremap, alternately, so both see the same load on
    a shared machine: the median of the per-pair ratios, and the ratio of the best times."""
    from pagemove import lab

    source = populated(G)
    engine, kernel = [], []
    for _ in range(reps):
        mm = source.clone()
        t0 = time.perf_counter()
        mm.mremap(OLD, G, G, new_addr=NEW, kernel="6.6")
        engine.append((time.perf_counter() - t0) * 1e3)
        kernel.append(lab.kernel_mremap_us(G, aligned=False, reps=1) / 1e3)
    return {"side by side on": machine()["CPU"],
            "side by side: engine mremap 1 GiB page-wise": statistics.median(engine),
            "side by side: kernel mremap 1 GiB page-wise": statistics.median(kernel),
            "engine / kernel, 1 GiB page-wise, median of pairs (target <= 3)":
                round(statistics.median(e / k for e, k in zip(engine, kernel)), 2),
            "engine / kernel, 1 GiB page-wise, best of each": round(min(engine) / min(kernel), 2)}


def machine() -> dict[str, str]:
    """What the numbers were measured on: the CPU model (lscpu's "Model name"), how many CPUs, the Python."""
    model = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            model = next((line.split(":", 1)[1].strip() for line in f if line.startswith("model name")), model)
    except OSError:
        pass
    return {"CPU": f"{model}, {os.cpu_count()} CPUs", "Python": platform.python_version()}


def import_cost() -> dict[str, object]:
    code = ("import sys, time; t = time.perf_counter(); import pagemove; "
            "print(round((time.perf_counter() - t) * 1e3, 1), 'matplotlib' in sys.modules, "
            "'ipywidgets' in sys.modules)")
    ms, mpl, ipw = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  check=True).stdout.split()
    return {"import pagemove (ms)": float(ms), "imports matplotlib": mpl, "imports ipywidgets": ipw}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=7, help="repetitions per measurement (default 7)")
    ap.add_argument("--no-kernel", action="store_true", help="skip timing the real kernel")
    ap.add_argument("--no-browser", action="store_true", help="skip the explorer in Chromium (JupyterLab, Voila)")
    ap.add_argument("--json", action="store_true", help="print JSON instead of a table")
    ap.add_argument("--clock", choices=["wall", "cpu"], default="wall",
                    help="wall clock (default), or this process's CPU time for the engine and the explorer "
                         "(the kernel side by side is always wall clock)")
    args = ap.parse_args(argv)
    global CLOCK
    CLOCK = time.process_time if args.clock == "cpu" else time.perf_counter
    results: dict[str, object] = machine()
    results.update(import_cost())
    results.update(engine(args.reps))
    results.update(explorer(args.reps))
    if not args.no_kernel:
        results.update(kernel_side_by_side(max(args.reps, 11)))
        page_wise = results.get("kernel mremap 1 GiB page-wise (us)")
        if isinstance(page_wise, float):
            results.update(side_by_side(max(args.reps, 11)))
    browser = {}
    if not args.no_browser:  # imported only when asked: it needs the tests' browser helpers (and pytest)
        from browser import browser_latency  # benchmarks/browser.py, beside this file
        browser = browser_latency(args.reps)
    if args.json:
        print(json.dumps({**results, "browser": browser} if browser else results, indent=2))
    else:
        width = max(map(len, results))
        for k, v in results.items():
            print(f"{k:<{width}}  {v:.2f}" if isinstance(v, float) else f"{k:<{width}}  {v}")
        if browser:
            print("\nexplorer in Chromium, 1024x768: input event -> new picture painted (ms)")
            from browser import table as browser_table
            print(browser_table(browser))
    return 0


if __name__ == "__main__":
    sys.exit(main())
