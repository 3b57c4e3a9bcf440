"""`vm warn`: the seed's WARN on a real kernel, every exec of the run held to the engine.

Debian's i386 (686-pae) 6.1 kernel boots in QEMU with guest/warn.c as PID 1, which loops execve() of
itself with about 4 MiB of arguments until the kernel prints the WARNING from move_normal_pmd()'s
WARN_ON_ONCE(!pmd_none(*new_pmd)) (caught from the kernel log, as syzbot catches it), or up to
--max-execs. Why it comes: execve() builds the new stack right under STACK_TOP (0xc0000000) and
setup_arg_pages() shifts it down by a random number of pages below 2048 (STACK_RND_MASK 0x7ff, plus
0-2 pages of arch_align_stack()); a shift of exactly 1 or 2 PMDs (2 MiB, 4 MiB) on a stack of more than
4 MiB meets the emptied-but-present PMD entry of case (c): one exec in 1024.

For every exec the guest traces, in the shift_arg_pages() call only (a kprobe on its entry gives the
stack's vm_start, vm_end and the shift; kprobes on move_page_tables() and free_pgd_range() mark the
loop's start and end):
  * tlb:tlb_flush, reason "local mm shootdown": one flush per move_ptes() that moved pages, per PMD move,
    and the free_pgd_range() gather after the loop;
  * `lock`: down_write() called from move_page_tables(): take_rmap_locks() before each PMD-entry move
    attempt (6.1 always passes need_rmap_locks=true for NORMAL_PMD);
  * `kmap`: __kmap_local_page_prot() called from move_page_tables(): move_ptes() mapping the old and
    the new PTE table (CONFIG_HIGHPTE), so a PTE-level step.
A PMD move is then "lock, flush", a PTE step "kmap, kmap, flush", and a refused PMD move -- the WARN's
condition -- "lock, kmap, kmap, flush": the fallback's PTE step where a PMD step was due. (The flush
alone cannot tell them apart: a PMD move and 512 PTEs both flush 2 MiB, reported as -1.) The engine,
given exactly that exec's stack and shift on Linux 6.1 with the i386_pae geometry, predicts the same
tokens; an exec agrees when the tokens, the free_pgd_range() flushes and the child's [stack] (the moved
stack, grown by 128 KiB) all match.
"""

from __future__ import annotations

import json
import re
import sys
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

from ...geometry import Geometry
from ...mm import AddressSpace
from ...trace import PMD, PTE, MoveResult
from ..observe import LOCAL_MM_SHOOTDOWN
from ..predict import table_set, x86_unmap_flushes
from . import boot, catalogue, console, toolchain
from .console import KernelWarning

KERNEL = "debian-6.1-i386"
CEILING = 33  # tlb_single_page_flush_ceiling, x86's default
ARGS = 33  # arguments of ARG_BYTES - 1 characters: a stack of 0x421000 bytes, over 2 PMDs
ARG_BYTES = 128 * 1024  # MAX_ARG_STRLEN, the longest one argument may be
LOOPS = 2  # exec loops side by side, one per vCPU
# One exec in 1024 warns (a shift of exactly 1 or 2 PMDs out of 2048 pages), so a run of N execs misses
# with probability (1 - 1/1024) ** N: 8192 execs, 3.3e-4.
WARN_ODDS = 1 / 1024
MAX_EXECS = 8192
STACK_EXPAND = 128 * 1024  # setup_arg_pages() grows the stack by this much after the shift
STACK_TOP = 0xC0000000  # i386: TASK_SIZE = PAGE_OFFSET with the 3G/1G split
REFERENCE = "warn-reference.json"
_LOG_LEVEL = re.compile(r"^<\d+>", re.M)  # klogctl's "<4>" before each line (the console has none)


def miss_probability(max_execs: int) -> float:
    """The chance that max_execs execs pass without a WARN."""
    return (1 - WARN_ODDS) ** max_execs


# ---- the guest's frames ------------------------------------------------------------------------------

@dataclass
class Exec:
    """One traced execve(): its stack move as the kernel did it."""

    number: int  # 1, 2, ... over all loops, in the order the guest reported them
    loop: int
    pid: int
    status: int  # the child's wait status (0: it ran and exited)
    start: int  # the stack VMA when shift_arg_pages() was called: [start, end)
    end: int
    shift: int
    steps: list[str]  # lock / kmap / "F <pages>" tokens from move_page_tables() to free_pgd_range()
    tail: list[int]  # the flushes right after free_pgd_range() starts: its mmu_gather's
    freed: dict[str, int]  # free_pgd_range()'s addr, end, floor, ceiling
    windows: int  # shift_arg_pages() calls in the trace (one, unless tracing leaked another process in)
    stack: tuple[int, int] | None  # the child's [stack] in /proc/self/maps

    @property
    def refusals(self) -> int:
        """PMD moves attempted (lock) but done PTE by PTE (kmap follows): WARN_ON_ONCE's condition."""
        return sum(a == "lock" and b == "kmap" for a, b in zip(self.steps, self.steps[1:]))


def _fields(token: str) -> dict[str, int]:
    return {k: int(v, 0) for k, v in re.findall(r"(\w+)=(-?0x[0-9a-f]+|-?\d+)", token)}


def _windows(ev: list[str]) -> list[tuple[int, int, int, int]]:
    """(shift, mpt, free, end) token indexes of each shift_arg_pages() call in one trace: the loop runs from
    move_page_tables() to free_pgd_range(), whose mmu_gather flushes are the flushes right after it."""
    out, i = [], 0
    while True:
        try:
            i = next(k for k in range(i, len(ev)) if ev[k].startswith("shift "))
            j = next(k for k in range(i, len(ev)) if ev[k].startswith("mpt "))
            f = next(k for k in range(j, len(ev)) if ev[k].startswith("free "))
        except StopIteration:
            return out
        end = next((k for k in range(f + 1, len(ev)) if not ev[k].startswith("F ")), len(ev))
        out.append((i, j, f, end))
        i = end


def parse_exec(frame: dict, number: int) -> Exec | None:
    """An Exec from one "exec" frame; None when its trace is incomplete (a shift_arg_pages() call cut off)."""
    ev, windows = frame["ev"], _windows(frame["ev"])
    stack = tuple(int(v, 16) for v in frame["stack"].split("-")) if frame.get("stack") else None
    if not windows:  # a random shift of 0: setup_arg_pages() calls shift_arg_pages() only "if (stack_shift)"
        if stack is None or any(t.startswith(("shift ", "mpt ")) for t in ev):
            return None
        return Exec(number, frame["loop"], frame["pid"], frame["status"], stack[0] + STACK_EXPAND, stack[1], 0,
                    [], [], {}, 0, stack)
    i, j, f, x = windows[-1]
    sh = _fields(ev[i])
    return Exec(number, frame["loop"], frame["pid"], frame["status"], sh["start"], sh["end"], sh["shift"],
                [_token(t) for t in ev[j + 1:f] if _token(t)],
                [int(t.split()[1]) for t in ev[f + 1:x] if _flush_reason(t) == LOCAL_MM_SHOOTDOWN],
                _fields(ev[f]), len(windows), stack)


def _flush_reason(token: str) -> int | None:
    return int(token.split()[2]) if token.startswith("F ") else None


def _token(t: str) -> str | None:
    """lock / kmap from move_page_tables() itself, and its local flushes; None for anything else."""
    if t in ("lock", "kmap"):
        return t
    if _flush_reason(t) == LOCAL_MM_SHOOTDOWN:
        return f"F {t.split()[1]}"
    return None


# ---- the engine's side ------------------------------------------------------------------------------

@lru_cache(maxsize=4096)
def engine_exec(start: int, end: int, shift: int, kernel: str = "6.1") -> tuple[MoveResult, tuple[int, ...]]:
    """The engine's shift_arg_pages(): a populated stack [start, end) moved down by shift, alone in its mm
    (setup_arg_pages() runs before any ELF segment is mapped); with the free_pgd_range() flushes after it."""
    mm = AddressSpace(Geometry.i386_pae())
    stack = mm.mmap(start, end - start, populate=True, stack=True, name="stack")
    r = mm.relocate_vma_down(stack, shift, kernel)
    return r, tuple(x86_unmap_flushes(table_set(r.replay()) - table_set(mm.pt), mm.geometry, CEILING))


def predicted_steps(r: MoveResult) -> list[str]:
    """The tokens the guest traces for this move: lock before a PMD-entry move attempt, a kmap pair for
    each move_ptes() call, and each flush with its tracepoint `pages`."""
    flushes = iter(r.tlb_flush_pages(CEILING))
    out = []
    for e in r.events:
        if e.outcome == "skipped":
            continue
        if e.level == PMD or e.refused:
            out.append("lock")
        if e.level == PTE:
            out += ["kmap", "kmap"]
        if e.flush is not None:
            out.append(f"F {next(flushes)}")
    return out


def judge(x: Exec) -> dict[str, bool]:
    """Each quantity of one exec, held to the engine: True where the kernel did what the engine says."""
    if x.shift == 0:  # nothing moves: no trace, and the stack stays right under STACK_TOP
        return {"steps": x.steps == [], "tail": x.tail == [], "stack": x.stack is not None and x.stack[1] == STACK_TOP,
                "ran": x.status == 0 and x.windows == 0}
    r, tail = engine_exec(x.start, x.end, x.shift)
    new_end = x.end - x.shift
    return {"steps": x.steps == predicted_steps(r), "tail": x.tail == list(tail),
            "stack": x.stack is not None and x.stack[1] == new_end and x.stack[0] == new_end - (
                x.end - x.start) - STACK_EXPAND,
            "ran": x.status == 0 and x.windows == 1}


# ---- the kernel's WARNING ------------------------------------------------------------------------------

def warnings_in(text: str) -> list[KernelWarning]:
    """The WARNING blocks of console or kernel-log text (console.kernel_warnings(), without klogctl's "<4>"
    prefixes and without the guest's frames, whose klog frame quotes the block), each call trace led by the
    function that warned, named in the WARNING line itself."""
    kernel_lines = (line for line in text.splitlines() if console.PREFIX not in line)
    out = console.kernel_warnings(_LOG_LEVEL.sub("", "\n".join(kernel_lines)))
    for w in out:
        m = re.search(r" at \S+ ([\w.]+)\+0x", w.line)
        if m and w.call_trace[:1] != [m.group(1)]:
            w.call_trace.insert(0, m.group(1))
    return out


def pid_of(w: KernelWarning) -> int | None:
    """The PID the WARNING line names ("WARNING: CPU: 0 PID: 1075 at ...")."""
    m = re.search(r"PID: (\d+)", w.line)
    return int(m.group(1)) if m else None


# ---- one run -------------------------------------------------------------------------------------------

@dataclass
class WarnRun:
    """What `vm warn` found: the WARNING, the exec that printed it, and every exec held to the engine."""

    kernel: str
    release: str
    execs: list[Exec]
    warning: KernelWarning | None
    wall_s: float | None = None
    loops: int = LOOPS
    args: int = ARGS
    timed_out: bool = False
    incomplete: int = 0  # exec frames whose trace was cut off: counted as disagreeing

    @property
    def warn_exec(self) -> Exec | None:
        """The exec whose PID the WARNING names."""
        if self.warning is None:
            return None
        return next((x for x in self.execs if x.pid == pid_of(self.warning)), None)

    def verdicts(self) -> list[dict[str, bool]]:
        return [judge(x) for x in self.execs]

    def to_json(self) -> dict:
        """The `vm warn --json` contract: kernel, warned, warning, call_trace, execs, warn_exec,
        stack_before, shift, engine {"6.1": {refusals, warned}, "6.7": {realigned, refusals}}, per_exec."""
        w, x = self.warning, self.warn_exec
        verdicts = self.verdicts()
        agree = [all(v.values()) for v in verdicts]
        out = {"kernel": self.kernel, "release": self.release, "warned": w is not None,
               "warning": w.line if w else None, "call_trace": w.call_trace if w else [],
               "execs": len(self.execs) + self.incomplete, "warn_exec": x.number if x else None,
               "stack_before": [x.start, x.end] if x else None,
               "stack_after": [x.start - x.shift, x.end - x.shift] if x else None,
               "shift": x.shift if x else None, "traced_refusals": x.refusals if x else None,
               "engine": engine_verdict(x.start, x.end, x.shift) if x else None,
               "per_exec": {"agree": sum(agree), "total": len(agree) + self.incomplete, "incomplete": self.incomplete,
                            "by_quantity": {q: sum(v[q] for v in verdicts) for q in (verdicts[0] if verdicts else {})},
                            "disagreeing": [e.number for e, ok in zip(self.execs, agree) if not ok][:20]},
               "wall_s": self.wall_s, "loops": self.loops, "args": self.args, "timed_out": self.timed_out}
        return out


def engine_verdict(start: int, end: int, shift: int) -> dict:
    """The engine on exactly this stack and shift: refusals and the WARN on 6.1, realignment on 6.7."""
    r61, _ = engine_exec(start, end, shift, "6.1")
    r67, _ = engine_exec(start, end, shift, "6.7")
    return {"6.1": {"refusals": r61.refusals, "warned": r61.warned, "pte_moves": r61.pte_moves,
                    "pmd_moves": r61.pmd_moves},
            "6.7": {"realigned": r67.realigned, "refusals": r67.refusals, "pte_moves": r67.pte_moves,
                    "pmd_moves": r67.pmd_moves}}


def parse_run(frames: list[dict], text: str = "", kernel: str = KERNEL) -> WarnRun:
    """A WarnRun from the guest's frames (console.parse_frames) and the console text they came in."""
    start = next((f for f in frames if f["type"] == "start"), {})
    execs, incomplete = [], 0
    for f in (f for f in frames if f["type"] == "exec"):
        x = parse_exec(f, len(execs) + incomplete + 1)
        if x is None:
            incomplete += 1
        else:
            execs.append(x)
    logged = [w for f in frames if f["type"] == "klog" for w in warnings_in(f["text"])]
    # The guest's copy of the report and the console's: the first WARNING, from whichever holds more of its
    # call trace (the guest may have read the log before the kernel finished printing the trace).
    found = logged + warnings_in(text)
    copies = [w for w in found if w.line == found[0].line]
    warning = max(copies, key=lambda w: len(w.call_trace), default=None)
    return WarnRun(kernel, start.get("release", ""), execs, warning, loops=start.get("loops", LOOPS),
                   args=start.get("nargs", ARGS), incomplete=incomplete)


def _hex(v: int) -> str:
    return f"{v:#x}"


def format_run(run: WarnRun) -> str:
    """The report `vm warn` prints."""
    d = run.to_json()
    lines = [f"{run.kernel} (Linux {run.release}), {run.loops} exec loops of {run.args} arguments: "
             f"{d['execs']} execs" + (f" in {run.wall_s:.0f} s" if run.wall_s else "")]
    if not d["warned"]:
        lines.append(f"no WARNING in {d['execs']} execs (one exec in 1024 warns: the chance of none in "
                     f"{d['execs']} is {100 * miss_probability(d['execs']):.3g}%)")
    else:
        x = run.warn_exec
        lines += [f"the kernel WARNED at exec {d['warn_exec']} (pid {pid_of(run.warning)}):",
                  f"  {run.warning.line}",
                  f"  call trace: {' <- '.join(run.warning.call_trace)}"]
        if x is not None:
            e = d["engine"]
            lines += [f"  its stack before the shift [{_hex(x.start)}, {_hex(x.end)}) ({_hex(x.end - x.start)} "
                      f"bytes), shift {_hex(x.shift)} ({x.shift / (2 << 20):g} PMD), after "
                      f"[{_hex(x.start - x.shift)}, {_hex(x.end - x.shift)})",
                      f"  traced: {x.refusals} refused PMD moves (rmap lock, then move_ptes()), "
                      f"{x.steps.count('lock') - x.refusals} PMD moves",
                      "the engine, for exactly that stack and shift:",
                      f"  Linux 6.1: {e['6.1']['refusals']} refusals, WARN {'yes' if e['6.1']['warned'] else 'no'}",
                      f"  Linux 6.7: realigned {'yes' if e['6.7']['realigned'] else 'no'}, "
                      f"{e['6.7']['pmd_moves']} PMD moves, {e['6.7']['refusals']} refusals"]
    pe = d["per_exec"]
    lines.append(f"per exec: the traced flushes, rmap locks and PTE-table maps agree with the engine in "
                 f"{pe['agree']} of {pe['total']} execs" + (f" (disagreeing: {pe['disagreeing']})"
                                                            if pe["disagreeing"] else ""))
    return "\n".join(lines)


# ---- booting it ------------------------------------------------------------------------------------------

def guest_source() -> Path:
    return toolchain.GUEST / "warn.c"


def missing(kernel: catalogue.GuestKernel) -> str | None:
    """One line naming what to install or fetch, or None when everything is here."""
    from .cli import MissingTool, require

    try:
        require(kernel)
    except MissingTool as e:
        return str(e)
    return None


def run(max_execs: int = MAX_EXECS, *, loops: int = LOOPS, args: int = ARGS, timeout_s: float = 1200,
        on_line=None) -> tuple[WarnRun, str]:
    """Boot the kernel and loop execs until the WARNING (or max_execs); the run and the raw console."""
    kernel = catalogue.get(KERNEL)
    init = toolchain.compile_static(guest_source(), kernel.arch)
    res = boot.boot(kernel, init, args=["warn", loops, args, ARG_BYTES, max_execs], timeout_s=timeout_s,
                    smp=loops, on_line=on_line)
    out = parse_run(res.frames, res.console)
    out.wall_s, out.timed_out = res.wall_s, res.timed_out
    return out, res.console


# ---- the recording ----------------------------------------------------------------------------------------

def reference() -> dict:
    """The committed recording of a `vm warn --json` run (pagemove/lab/vm/warn-reference.json)."""
    return json.loads((resources.files("pagemove.lab.vm") / REFERENCE).read_text())


def recorded_warning() -> tuple[str, str]:
    """(the real WARNING line, the label of the kernel that printed it), for notebooks to quote."""
    ref = reference()
    return ref["warning"], f"Debian's {ref['release']} kernel (Linux 6.1, i386 PAE) in QEMU"


# ---- command line -------------------------------------------------------------------------------------------

def add_parser(sub) -> None:
    """`vm warn [--json] [--max-execs N] [--console FILE]` on vm's subparsers (cli.EXTRA_COMMANDS)."""
    p = sub.add_parser("warn", help="boot Debian's i386 6.1 kernel and loop execve() until it prints the seed's "
                                    "WARNING; every exec held to the engine")
    p.add_argument("--json", action="store_true", help="print one JSON object (the contract in design.md)")
    p.add_argument("--max-execs", type=int, default=MAX_EXECS,
                   help=f"stop after this many execs without a WARNING (default {MAX_EXECS}: a miss is "
                        f"{miss_probability(MAX_EXECS):.1e} likely; one exec in 1024 warns)")
    p.add_argument("--console", type=Path, metavar="FILE", help="also write the raw console transcript to FILE")
    p.set_defaults(run=run_warn)


def run_warn(a) -> int:
    """Exit status 0 when the kernel warned, 1 when it did not; a missing tool is cli.MissingTool (2)."""
    from .cli import require

    if a.max_execs < 1:
        print("pagemove vm warn: error: --max-execs must be at least 1", file=sys.stderr)
        return 2
    require(catalogue.get(KERNEL))
    try:
        result, text = run(a.max_execs)
    except KeyboardInterrupt:  # boot() has already killed QEMU on its way out
        print("pagemove vm warn: interrupted (QEMU was stopped)", file=sys.stderr)
        return 130
    if a.console:
        a.console.write_text(text)
    print(json.dumps(result.to_json(), indent=1) if a.json else format_run(result))
    return 0 if result.warning else 1
