"""`vm lab`: the host lab's scenarios run inside a real kernel, and every observation held to the engine at
that kernel's version and geometry.

The scenarios are the host lab's (pagemove.lab.scenarios: a, b, c, d with blockers below old and below new,
the length guard, THP) plus one PUD move, scaled to the guest's geometry: an offset of a PUDs + b PMDs + c
pages on x86-64 becomes a PUD_SIZE + b PMD_SIZE + c PAGE_SIZE of the guest (names keep the x86-64 sizes).
Their layout is the host lab's Layout, so the engine predicts with predict.predict() as the host lab does.
Then the mremap errno probes of the kernel review (reviews.md 2.1), and a check of the geometry itself.

What is compared, per scenario, where the kernel shows it:
  data          the data arrived at new, the old range is unmapped, mremap returned success
  tables        VmPTE's change over the mremap, in page-table pages (predict's tables_delta)
  idle_tables   VmPTE's change over the same measuring steps without the mremap, just before: 0, or the
                guest's own activity (not the move) changed its page tables and `tables` cannot be trusted.
                (It once did: the first clock_gettime touches the vDSO, which lies in a page table of its own
                in about 1 exec in 100 on x86-64; the guest now warms the clock up first.)
  blocker_tables  VmPTE's change when the blockers are unmapped afterwards
  flushes       x86: the tlb:tlb_flush `pages` of this process ("local mm shootdown"), loop then unmap
  tables_made   kprobes on __pte_alloc/__pmd_alloc/__pud_alloc: page-table pages the move allocated
  huge_pages    THP scenarios: the source's AnonHugePages before the move is one huge page per whole PMD
  huge_moves, huge_splits   kprobes on move_huge_pmd and __split_huge_pmd (THP scenarios)
Recorded but not compared: each move's time (ns, `--reps` repetitions). Under TCG on a shared 2-core host
the medians of a few repetitions scatter by up to 10x, so timing ratios cannot decide realignment there;
the kprobe counts can (a realigned 2 MiB + 4 KiB move allocates one PTE table, an unrealigned one two).

A recording (reference.json) keeps the guest's frames, so rejudge() can hold it to any later engine:
rejudge_reference() gives every committed row, realign_matrix() the "who realigns" table.
"""

from __future__ import annotations

import json
import re
import statistics
from dataclasses import replace
from pathlib import Path

from ...geometry import Geometry
from ..observe import flushes_between_marks, lines_between_marks
from ..predict import predict
from ..scenarios import (
    PAGE,
    PMD,
    PUD,
    Layout,
    Scenario,
    guard_scenarios,
    huge_pages_expected,
    size_scenarios,
    thp_scenarios,
)
from . import toolchain
from .catalogue import GuestKernel, get

GUEST_SOURCE = toolchain.GUEST / "lab.c"
REFERENCE = Path(__file__).parent / "reference.json"
BASE_64 = 0x200000000000  # the host lab's ENGINE_BASE: far from the guest program's own mappings
BASE_I386 = 0x40000000  # one 1 GiB PMD table (PAE) for the whole layout
REPS = 3
VA_BITS = (39, 47, 48, 52)  # the guest reports which of these is its user address width
ALLOCATORS = ("__pte_alloc", "__pmd_alloc", "__pud_alloc")  # what pte_alloc(), pmd_alloc(), pud_alloc() call
_KPROBE = re.compile(r"\s(\w+): \(\1\+0x")
# Known differences between a kernel and the engine, each explained: (kernel names, scenario regex,
# quantity) -> why. An entry is used only while that quantity disagrees. (5.10's three errno probes
# disagreed until the engine learnt the errno order of 4.20-5.15, reviews.md 2.1; they agree now.)
EXPLAINED: dict[tuple[tuple[str, ...], str, str], str] = {
    (("debian-6.12-arm64-16k",), r"geometry", "task_size"):
        "deliberate: Debian builds its 16K kernel with VA_BITS=52; without FEAT_LPA2 (the usual hardware, and "
        "this guest's CPU) it falls back to 47-bit user addresses, 3 levels at run time (the guest maps a page "
        "just below 1 << 47 and none below 1 << 48). Geometry.arm64_16k() models the VA_BITS_48 build: 48 bits, "
        "4 levels with a 2-entry PGD. Every move of the lab agrees with it all the same.",
}


def geometry_for(kernel: GuestKernel) -> Geometry:
    """The engine's Geometry for this kernel (the catalogue names one for each: tests/test_vm.py checks)."""
    return getattr(Geometry, kernel.geometry)()


def _scale(x: int, geo_sizes: tuple[int, int, int]) -> int:
    """An x86-64 offset or length (a PUDs + b PMDs + c pages) in another geometry's sizes. Page counts in
    the upper half of a PMD count from its top, so "one page below a PMD boundary" stays that."""
    pud, pmd, page = geo_sizes
    pages = x % PMD // PAGE
    if pages > PMD // PAGE // 2:
        pages = pmd // page - (PMD // PAGE - pages)
    return (x // PUD) * pud + (x % PUD // PMD) * pmd + pages * page


def scaled(sc: Scenario, sizes: tuple[int, int, int]) -> Scenario:
    """The scenario in another geometry's sizes; a guard scenario keeps its length one page below, at or
    above the guard PMD_SIZE - offset."""
    old, new = _scale(sc.old, sizes), _scale(sc.new, sizes)
    length = _scale(sc.length, sizes)
    if sc.group == "guard":
        pmd, page = sizes[1], sizes[2]
        length = pmd - old % pmd + (sc.length - (PMD - sc.old % PMD)) // PAGE * page
    return replace(sc, old=old, new=new, length=length)


def sizes_of(kernel: GuestKernel) -> tuple[int, int, int]:
    """(PUD_SIZE, PMD_SIZE, PAGE_SIZE) of the kernel's geometry."""
    geo = geometry_for(kernel)
    return geo.pud_size, geo.pmd_size, geo.page_size


def vm_scenarios(kernel: GuestKernel) -> list[Scenario]:
    """The host lab's 2 MiB-class, guard and THP scenarios in this kernel's sizes, and (64-bit) a PUD move."""
    sizes = sizes_of(kernel)
    out = [scaled(sc, sizes) for sc in (*size_scenarios("2M"), *guard_scenarios(), *thp_scenarios())]
    if kernel.arch != "i386":  # one page in a PUD-sized VMA: a PUD move from 5.11, a PMD move before
        out.append(Scenario("p pud-aligned 1 page", "pud", "p", 0, 0, sizes[0], populated=sizes[2]))
    return out


def vm_layout(kernel: GuestKernel, scs) -> Layout:
    """The host lab's Layout in this kernel's sizes; on i386 anchors 64 MiB apart (3 GiB of user space)."""
    pud, pmd, page = sizes_of(kernel)
    if kernel.arch == "i386":
        return Layout.for_scenarios(scs, BASE_I386, pud=64 << 20, pmd=pmd, page=page, slack=2 * pmd)
    return Layout.for_scenarios(scs, BASE_64, pud=pud, pmd=pmd, page=page, slack=2 * pmd)


def errno_probes(kernel: GuestKernel) -> list[dict]:
    """reviews.md 2.1's probes: one VMA at 0x40000000 (below the i386 layout's), then a refused mremap."""
    geo = geometry_for(kernel)
    page, top = geo.page_size, geo.task_size
    vma = 0x30000000 if kernel.arch == "i386" else 0x40000000
    gone = vma + 0x10000000  # nothing mapped there
    return [dict(name="unmapped-old-misaligned-new", vma=vma, len=page, old=gone, old_len=page, new_len=page,
                 new=gone + 0x10000800),
            dict(name="unmapped-old-new-past-task-size", vma=vma, len=page, old=gone, old_len=page, new_len=page,
                 new=top),
            dict(name="unmapped-old-overlapping", vma=vma, len=page, old=gone, old_len=2 * page,
                 new_len=2 * page, new=gone + page),
            dict(name="mapped-old-misaligned-new", vma=vma, len=page, old=vma, old_len=page, new_len=page,
                 new=gone + 0x800),
            dict(name="old-spans-vma-end", vma=vma, len=page, old=vma, old_len=2 * page, new_len=2 * page,
                 new=gone)]


def plan(kernel: GuestKernel, reps: int = REPS) -> str:
    """The guest's /plan (see guest/lab.c): reservation, holes, TASK_SIZE check, probes, scenarios."""
    scs = vm_scenarios(kernel)
    layout = vm_layout(kernel, scs)
    geo = geometry_for(kernel)
    lines = [f"T {geo.task_size:x}"]
    if kernel.arch != "i386":  # which of the usual address widths the guest really has
        lines += [f"T {1 << bits:x}" for bits in VA_BITS]
    lines += [f"E {p['name']} {p['vma']:x} {p['len']:x} {p['old']:x} {p['old_len']:x} {p['new_len']:x} {p['new']:x}"
              for p in errno_probes(kernel)]
    lines.append(f"R {layout.base:x} {layout.size:x}")
    lines += [f"H {lo:x} {hi:x}" for lo, hi in layout.holes()[1:]]
    for i, sc in enumerate(scs):
        start, length = layout.source_vma(sc)
        populated = length if sc.populated is None else sc.populated
        blockers = layout.blockers(sc)
        words = [i, start, length, populated, int(sc.huge), layout.old(sc), layout.new(sc), sc.length, reps,
                 len(blockers)] + [v for b, n, prot in blockers for v in (b, n, int(prot == "r"))]
        lines.append("S " + " ".join(f"{w:x}" for w in words))
    return "\n".join(lines) + "\n"


def record(kernel: GuestKernel, timeout_s: float = 600.0, reps: int = REPS, on_line=None) -> dict:
    """Boot the kernel with the lab program and return the recording: frames, boot time, accelerator."""
    from .boot import boot
    from .toolchain import compile_static
    init = compile_static(GUEST_SOURCE, kernel.arch)
    result = boot(kernel, init, timeout_s=timeout_s, extra_files={"plan": plan(kernel, reps).encode()},
                  on_line=on_line)
    return {"kernel": kernel.name, "package": f"{kernel.package}={kernel.version}", "wall_s": round(result.wall_s, 1),
            "accel": result.accel, "timed_out": result.timed_out, "reps": reps, "frames": result.frames}


# ---- holding a recording to the engine ------------------------------------------------------------------------


# The guest writes the host lab's trace markers, so the host lab's parsers read its trace.


def kprobe_hits(text: str, tag: int) -> dict[str, int]:
    """How often each kprobe fired between the markers for `tag`."""
    hits: dict[str, int] = {}
    for line in lines_between_marks(text, tag):
        m = _KPROBE.search(line)
        if m:
            hits[m.group(1)] = hits.get(m.group(1), 0) + 1
    return hits


def _frames(rec: dict, kind: str) -> list[dict]:
    return [f for f in rec["frames"] if f.get("type") == kind]


def _explain(kernel: str, scenario: str, compared: dict) -> str | None:
    reasons = [why for (names, pattern, quantity), why in EXPLAINED.items()
               if kernel in names and re.fullmatch(pattern, scenario) and compared.get(quantity) is False]
    return "; ".join(reasons) or None


def _row(kernel: str, scenario: str, compared: dict, **details) -> dict:
    agrees = all(compared.values())
    return {"kernel": kernel, "scenario": scenario, "compared": compared, "agrees": agrees,
            "explained": None if agrees else _explain(kernel, scenario, compared), **details}


def judge_move(kernel: GuestKernel, sc: Scenario, layout: Layout, frame: dict, probes: dict, geo) -> dict:
    """One scenario's row: each observable quantity held to the engine's prediction."""
    page = geo.page_size
    compared = {"data": frame["errno"] == 0 and frame["data_ok"] and frame["old_gone"]}
    vm = frame["vmpte_kb"]
    details = {"observed": {"tables": (vm[1] - vm[0]) * 1024 // page, "blocker_tables": (vm[2] - vm[1]) * 1024 // page,
                            "ns_median": statistics.median(frame["ns"]) if frame["ns"] else None}}
    if "idle_kb" in frame:  # recordings before December 2026 have no idle step
        details["observed"]["idle_tables"] = (frame["idle_kb"][1] - frame["idle_kb"][0]) * 1024 // page
    p = predict(sc, layout, kernel.kernel_version, kernel_levels=kernel.pgtable_levels, geometry=geo)
    obs = details["observed"]
    compared["tables"] = obs["tables"] == p.tables_delta
    if "idle_tables" in obs:
        compared["idle_tables"] = obs["idle_tables"] == 0
    if sc.blocker in ("old", "new", "resv"):
        compared["blocker_tables"] = obs["blocker_tables"] == -p.tables_freed_by_blocker
    trace = frame.get("trace", "")
    if probes.get("tlb_flush") and not kernel.is_arm64:  # arm64 lists the event but never emits it
        obs["flushes"] = flushes_between_marks(trace, frame["id"])
        expected = p.flush_pages + p.tail_pages
        compared["flushes"] = obs["flushes"] == expected
    kp = set(probes.get("kprobes", ()))
    hits = kprobe_hits(trace, frame["id"])
    if {"__pte_alloc", "__pmd_alloc"} <= kp:  # __pud_alloc is absent where the PUD is folded (i386 PAE)
        obs["tables_made"] = sum(hits.get(f, 0) for f in ALLOCATORS)
        compared["tables_made"] = obs["tables_made"] == p.tables_made
    if sc.huge:
        start, length = layout.source_vma(sc)
        obs["huge_kb"] = frame["huge_kb"]
        compared["huge_pages"] = frame["huge_kb"] * 1024 == huge_pages_expected(start, length, layout.pmd) * layout.pmd
    if sc.huge and "move_huge_pmd" in kp and "__split_huge_pmd" in kp:
        obs["huge_moves"], obs["huge_splits"] = hits.get("move_huge_pmd", 0), hits.get("__split_huge_pmd", 0)
        compared["huge_moves"] = obs["huge_moves"] == p.huge_pmd_moves
        compared["huge_splits"] = obs["huge_splits"] == p.huge_pmd_splits
    details["predicted"] = {"tables": p.tables_delta, "blocker_tables": -p.tables_freed_by_blocker,
                            "flushes": p.flush_pages + p.tail_pages, "tables_made": p.tables_made,
                            "huge_moves": p.huge_pmd_moves, "huge_splits": p.huge_pmd_splits,
                            "idle_tables": 0, "realigned": p.realigned, "pmd_moves": p.pmd_moves, "pud_moves": p.pud_moves,
                            "pte_moves": p.pte_moves, "refusals": p.refusals}
    return _row(kernel.name, sc.name, compared, **details)


def engine_errno(kernel: GuestKernel, probe: dict, geo: Geometry) -> int:
    """The errno the engine gives for one probe (0: the move is allowed)."""
    from ...mm import AddressSpace
    mm = AddressSpace(geo)
    mm.mmap(probe["vma"], probe["len"], populate=True)
    try:
        mm.mremap(probe["old"], probe["old_len"], probe["new_len"], new_addr=probe["new"],
                  kernel=kernel.kernel_version)
    except OSError as e:
        return e.errno
    return 0


def judge_geometry(kernel: GuestKernel, rec: dict, geo) -> dict:
    """The geometry row: page size, PMD size (THP's hpage_pmd_size) and TASK_SIZE, as the guest sees them."""
    g = (_frames(rec, "geometry") or [{}])[0]
    tops = _frames(rec, "top")
    top = (tops or [{}])[0]
    widths = [t["top"].bit_length() - 1 for t in tops[1:] if t["below_ok"] and not t["at_ok"]]
    obs = {"page_size": g.get("page_size"), "pmd_size": g.get("hpage_pmd_size"),
           "task_size_ok": bool(top.get("below_ok")) and not top.get("at_ok"),
           "va_bits": widths[0] if widths else None}
    compared = {"page_size": obs["page_size"] == geo.page_size, "pmd_size": obs["pmd_size"] == geo.pmd_size,
                "task_size": obs["task_size_ok"]}
    return _row(kernel.name, "geometry", compared, observed=obs,
                predicted={"page_size": geo.page_size, "pmd_size": geo.pmd_size, "task_size": geo.task_size})


def rejudge(rec: dict) -> list[dict]:
    """Every row of one recording, judged by this engine: the geometry, the errno probes, each scenario."""
    kernel = get(rec["kernel"])
    geo = geometry_for(kernel)
    rows = [judge_geometry(kernel, rec, geo)]
    for probe, frame in zip(errno_probes(kernel), _frames(rec, "errno")):
        observed = frame.get("errno", -1)
        expected = engine_errno(kernel, probe, geo)
        rows.append(_row(kernel.name, f"errno {probe['name']}", {"errno": observed == expected},
                         observed={"errno": observed}, predicted={"errno": expected}))
    scs = vm_scenarios(kernel)
    layout = vm_layout(kernel, scs)
    probes = (_frames(rec, "probes") or [{}])[0]
    for frame in _frames(rec, "move"):
        rows.append(judge_move(kernel, scs[frame["id"]], layout, frame, probes, geo))
    return rows


def load_reference(path: Path = REFERENCE) -> dict:
    """The committed recordings: {"kernels": {name: recording}}."""
    return json.loads(Path(path).read_text())


def rejudge_reference(path: Path = REFERENCE) -> list[dict]:
    """Every row of every committed recording, judged by this engine (what a notebook shows)."""
    return [row for rec in load_reference(path)["kernels"].values() for row in rejudge(rec)]


def save_recording(rec: dict, path: Path = REFERENCE) -> None:
    """Add (or replace) one kernel's recording in a reference file."""
    data = load_reference(path) if Path(path).is_file() else {"kernels": {}}
    data["kernels"][rec["kernel"]] = rec
    data["kernels"] = dict(sorted(data["kernels"].items()))
    Path(path).write_text(json.dumps(data, indent=1, sort_keys=False) + "\n")


def realign_matrix(rows: list[dict]) -> dict[str, dict[str, tuple[bool, bool]]]:
    """{kernel: {scenario: (the engine's realigned, the kernel agreed on every quantity)}} for the
    mutually aligned scenarios (c, d and the guard's), the ones where realignment is in question."""
    out: dict = {}
    for r in rows:
        if "predicted" in r and re.match(r"(c|d|guard) ", r["scenario"]):
            out.setdefault(r["kernel"], {})[r["scenario"]] = (r["predicted"]["realigned"], r["agrees"])
    return out


def summary(rows: list[dict]) -> dict:
    """Per kernel and quantity: how many rows compared it and how many agreed."""
    out: dict = {}
    for r in rows:
        for q, ok in r["compared"].items():
            cell = out.setdefault(r["kernel"], {}).setdefault(q, [0, 0])
            cell[0] += bool(ok)
            cell[1] += 1
    return out


# ---- the `vm lab` command ------------------------------------------------------------------------------------


def add_parser(sub) -> None:
    """`vm lab NAME... [--json]` on the `vm` subparsers."""
    p = sub.add_parser("lab", help="run the lab's scenarios inside each kernel and compare with the engine")
    p.add_argument("names", nargs="+", metavar="NAME", help="catalogue names (see vm list)")
    p.add_argument("--json", action="store_true", help="one JSON list: a row per scenario per kernel")
    p.add_argument("--reps", type=int, default=REPS, help=f"repetitions per move, for the timings (default {REPS})")
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per boot before QEMU is killed")
    p.add_argument("--record", metavar="FILE", help="also keep the recordings in FILE (merged by kernel), e.g. "
                                                   "pagemove/lab/vm/reference.json")
    p.set_defaults(run=run_lab)


def run_lab(args) -> int:
    """Boot each kernel, judge its recording; print the rows (JSON) or a table and a summary."""
    from .cli import kernels_of, require
    kernels = kernels_of(args.names)
    for k in kernels:
        require(k)
    rows = []
    for k in kernels:
        rec = record(k, args.timeout, args.reps)
        if not any(f.get("type") == "done" for f in rec["frames"]):
            raise RuntimeError(f"{k.name}: the guest did not finish in {rec['wall_s']} s"
                               f"{' (timed out)' if rec['timed_out'] else ''}")
        rows += rejudge(rec)
        if args.record:
            save_recording(rec, Path(args.record))
        if not args.json:
            print(f"{k.name}: booted and ran in {rec['wall_s']} s ({rec['accel']})")
    if args.json:
        print(json.dumps(rows, indent=1))
        return 0
    for kernel, quantities in summary(rows).items():
        print(f"{kernel}: " + ", ".join(f"{q} {ok}/{n}" for q, (ok, n) in quantities.items()))
    for r in rows:
        if not r["agrees"]:
            bad = ", ".join(q for q, ok in r["compared"].items() if not ok)
            print(f"  {r['kernel']} {r['scenario']}: {bad} differ" + (f" ({r['explained']})" if r["explained"] else ""))
    return 0
