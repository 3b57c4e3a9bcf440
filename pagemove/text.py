"""Text pictures of page tables and moves: what the notebooks print and nbval compares.

    dump(src)            the page-table tree, one line per present entry (xv6's vmprint, indented by level)
    strip(src, lo, hi)   PTE occupancy per PMD slot: the empty PMD entry of case (c) is visible at a glance
    summary(r)           counts, realignment, each refusal with the WARN it prints
    brief(r)             the counts on one line
    trace(r)             one row per step of the move_page_tables() loop
    report(r)            all of the above for one move (the `move` command prints it)
    wrap(text)           any text folded to COLUMNS (100) at spaces, never inside a number or a range

Everything here is plain, deterministic text: no matplotlib, no time, no memory addresses, and no
line wider than COLUMNS characters.
"""

from __future__ import annotations

import re
import textwrap

import numpy as np

from .kernel import Kernel
from .pgtable import HugePMD, PageTables
from .trace import PMD, PUD, MoveResult

STRIP_COLUMNS = 64  # characters per PMD row; 512-entry tables get one character per 8 PTEs
COLUMNS = 100  # no line printed here is wider (a terminal, a projector, a notebook cell)


# ---- shared helpers -----------------------------------------------------------------------------

def tables_of(src) -> PageTables:
    """The PageTables behind an AddressSpace, a PageTables, or a MoveResult (its tables after the loop)."""
    if isinstance(src, PageTables):
        return src
    if isinstance(src, MoveResult):
        return src.after
    pt = getattr(src, "pt", None)
    if isinstance(pt, PageTables):
        return pt
    raise TypeError(f"expected an AddressSpace, a PageTables or a MoveResult, got {type(src).__name__}")


# A range as the text writes it, "[0x1fff000, 0x2200000)" or "[0x1fff000, +0x201000)": wrap() keeps it on
# one line, since a reader who sees "[0x1fff000," end a line cannot tell where the range ends.
_RANGE = re.compile(r"\[[^\[\]\s,]+, [^\[\]\s)]+\)")
_GLUE = "\ue000"  # a private-use character: no text has it, and textwrap does not break at it


def wrap(text: str, width: int = COLUMNS, indent: str = "  ") -> str:
    """Fold every line of `text` that is wider than `width` at spaces (never inside a word, a hex
    number or a `[start, end)` range); continuation lines keep the line's own indentation plus `indent`."""
    out = []
    for line in text.split("\n"):
        if len(line) <= width:
            out.append(line)
            continue
        lead = line[:len(line) - len(line.lstrip(" "))]
        glued = _RANGE.sub(lambda m: m.group(0).replace(" ", _GLUE), line.strip(" "))
        out += [x.replace(_GLUE, " ") for x in
                textwrap.wrap(glued, width, initial_indent=lead, subsequent_indent=lead + indent,
                              break_long_words=False, break_on_hyphens=False)]
    return "\n".join(out)


def hexa(addr: int, geo) -> str:
    """An address in hex, zero-padded to the geometry's width so columns line up."""
    return f"0x{addr:0{geo.hexwidth()}x}"


def _window(geo, start, end) -> tuple[int, int]:
    lo = 0 if start is None else start
    hi = geo.task_size if end is None else end
    if lo < 0 or hi < lo:
        raise ValueError(f"window [{lo:#x}, {hi:#x}) is not a range: need 0 <= start <= end")
    return lo, hi


def _elide(lines: list[str], max_lines: int, what: str = "lines") -> list[str]:
    """Keep the first max_lines lines and say how many were cut."""
    if max_lines < 1:
        raise ValueError(f"max_lines must be at least 1, got {max_lines}")
    if len(lines) <= max_lines:
        return lines
    return lines[:max_lines] + [f"... {len(lines) - max_lines} more {what} elided (max_lines={max_lines})"]


# ---- dump: the tree ------------------------------------------------------------------------------

def dump(src, start: int | None = None, end: int | None = None, *, max_lines: int = 200) -> str:
    """The page-table tree as text, one line per present entry, indented ".." per level (xv6's vmprint).

    Only entries whose range meets [start, end) are listed. Runs of present PTEs with consecutive
    frames fold into one line ("PTE 0..511 -> frames 1..512"), and so do three or more neighbouring
    PMD entries whose tables are all full (frames following on) or all EMPTY: a 1 GiB tree stays short.
    """
    pt = tables_of(src)
    geo = pt.geo
    lo, hi = _window(geo, start, end)
    where = "" if start is None and end is None else f", window [{hexa(lo, geo)}, {hexa(hi, geo)})"
    lines = [f"page tables of {geo.name} ({geo.levels} levels, {geo.entries} entries per table){where}"]
    _dump_table(pt.root, geo.levels - 1, 0, lo, hi, geo, lines)
    return "\n".join(_elide(lines, max_lines)) + "\n"


def _dump_table(table: dict, level: int, base: int, lo: int, hi: int, geo, out: list[str]) -> None:
    """Append the lines of one upper-level table (and everything below it) to `out`."""
    size = geo.level_size(level)
    pad = ".. " * (geo.levels - 1 - level)
    iw = len(str(geo.entries - 1))
    inside = [(i, base + i * size) for i in sorted(table) if base + i * size < hi and base + (i + 1) * size > lo]
    if level > 1:
        for i, b in inside:
            out.append(f"{pad}{geo.level_name(level)} {i:>{iw}} [{hexa(b, geo)}, {hexa(b + size, geo)}) "
                       f"-> {geo.level_name(level - 1)} table")
            _dump_table(table[i], level - 1, b, lo, hi, geo, out)
        return
    for run in _pmd_runs(table, inside, lo, hi, geo):
        (i0, b0), (i1, b1) = run[0], run[-1]
        pte = table[i0]
        if isinstance(pte, HugePMD):  # one entry, no PTE table below it
            out.append(f"{pad}PMD {i0:>{iw}} [{hexa(b0, geo)}, {hexa(b0 + size, geo)}) -> huge page (THP leaf, "
                       f"no PTE table): frames {pte.first}..{pte.first + geo.entries - 1}")
            continue
        n = int(np.count_nonzero(pte))
        if len(run) >= 3:  # a folded run: all EMPTY, or all full with frames following on
            span = f"PMD {i0}..{i1} [{hexa(b0, geo)}, {hexa(b1 + size, geo)}) -> {len(run)} PTE tables"
            if n == 0:
                out.append(f"{pad}{span}, each present, EMPTY")
            else:
                out.append(f"{pad}{span}, each full ({geo.entries} present)")
                out.append(f"{pad}.. PTE 0..{geo.entries - 1} in each -> frames {int(pte[0])}.."
                           f"{int(table[i1][-1])}, in address order")
            continue
        head = f"{pad}PMD {i0:>{iw}} [{hexa(b0, geo)}, {hexa(b0 + size, geo)})"
        out.append(f"{head} -> PTE table, present, EMPTY" if n == 0 else f"{head} -> PTE table, {n} present")
        out += [pad + ".. " + line for line in _pte_runs(pte, b0, lo, hi, geo, iw)]


def _pmd_runs(table: dict, inside: list, lo: int, hi: int, geo) -> list[list]:
    """Group neighbouring PMD entries that fold into one line; any other entry is a run of one."""
    def kind(i, b):
        pte = table[i]
        if isinstance(pte, HugePMD):
            return None  # a huge leaf is always its own line
        if b < lo or b + geo.pmd_size > hi:
            return None  # cut by the window: list it PTE by PTE
        if not pte.any():
            return ("empty",)
        if pte.all() and (np.diff(pte) == 1).all():
            return ("full", int(pte[0]), int(pte[-1]))
        return None

    runs: list[list] = []
    prev = None
    for i, b in inside:
        k = kind(i, b)
        follows = runs and prev is not None and k is not None and runs[-1][-1][0] == i - 1 and (
            k == prev == ("empty",) or (k[0] == prev[0] == "full" and k[1] == prev[2] + 1))
        if follows:
            runs[-1].append((i, b))
        else:
            runs.append([(i, b)])
        prev = k
    # Only runs of three or more fold; shorter ones are listed entry by entry.
    return [r for run in runs for r in ([run] if len(run) >= 3 else [[x] for x in run])]


def _pte_runs(pte: np.ndarray, base: int, lo: int, hi: int, geo, iw: int) -> list[str]:
    """One line per run of present PTEs (in the window) whose frames count up by one."""
    ps = geo.page_size
    first = max(0, -(-(lo - base) // ps))
    last = min(geo.entries, (hi - base + ps - 1) // ps)
    idx = np.flatnonzero(pte[first:last]) + first
    if idx.size == 0:
        return []
    frames = pte[idx]
    # A run breaks where the index or the frame does not follow on from the previous one.
    breaks = np.flatnonzero((np.diff(idx) != 1) | (np.diff(frames) != 1)) + 1
    out = []
    for a, b in zip(np.r_[0, breaks], np.r_[breaks, idx.size]):
        i0, i1, f0, f1 = int(idx[a]), int(idx[b - 1]), int(frames[a]), int(frames[b - 1])
        addr = hexa(base + i0 * ps, geo)
        if i0 == i1:
            out.append(f"PTE {i0:>{iw}} {addr} -> frame {f0}")
        else:
            out.append(f"PTE {i0}..{i1} [{addr}, {hexa(base + (i1 + 1) * ps, geo)}) -> frames {f0}..{f1}")
    return out


# ---- strip: PTE occupancy per PMD slot -------------------------------------------------------------

def strip_legend(geo, huge: bool = False) -> str:
    """What the characters of strip() mean for this geometry (huge: with the row of a huge PMD leaf)."""
    group = _group(geo)
    if group == 1:
        cells = "one character per PTE: '#' present, '.' none"
    elif group <= 9:
        cells = f"one character per {group} PTEs: '.' 0 of {group} present, 1-{group - 1} that many present, " \
                f"'#' all {group}"
    else:
        cells = f"one character per {group} PTEs: '.' 0 of {group} present, '+' some, '#' all {group}"
    return (f"{cells}\n"
            f"a row of '-': the PMD entry is none (no PTE table)\n"
            f"EMPTY: the PMD entry is present, but its PTE table maps nothing\n"
            + ("a row of 'H': a huge PMD leaf (THP) maps the whole slot itself, no PTE table\n" if huge else "") +
            "'x N': N identical rows in a row, folded into one (the next row, or the window's end,\n"
            "  shows where they end)")


def _group(geo) -> int:
    # Long addresses (57-bit, 5-level) get half as many characters per row, so a row fits COLUMNS.
    columns = STRIP_COLUMNS if geo.hexwidth() <= 12 else STRIP_COLUMNS // 2
    return max(1, geo.entries // columns)


def _cells(pte: np.ndarray, geo) -> str:
    """The occupancy characters of one PTE table."""
    group = _group(geo)
    counts = np.count_nonzero(pte.reshape(-1, group), axis=1)
    if group == 1:
        return "".join("#" if c else "." for c in counts)
    some = "123456789" if group <= 9 else "+" * group
    return "".join("." if c == 0 else "#" if c == group else some[c - 1] for c in counts)


def strip(src, start: int, end: int, *, max_rows: int = 200, legend: bool = True) -> str:
    """PTE occupancy of every PMD slot in [start, end), one row per slot labelled with its address.

    Runs of three or more identical rows (none entries, or full tables) fold into one row marked "x N".
    legend=False leaves out the lines of strip_legend() (print them once, then draw many strips).
    """
    pt = tables_of(src)
    geo = pt.geo
    lo, hi = _window(geo, start, end)
    pmd = geo.pmd_size
    lo, hi = lo // pmd * pmd, -(-hi // pmd) * pmd
    width = len(_cells(np.zeros(geo.entries, dtype=np.int64), geo))
    tables = {base: pte for base, pte in pt.pte_tables() if lo <= base < hi}
    tables.update({base: leaf for base, leaf in pt.huge_leaves() if lo <= base < hi})
    rows: list[tuple[int, str, str]] = []  # (slot address, body, note), before folding
    slot = lo
    for base in sorted(tables) + [hi]:
        if base > slot:  # a gap of none PMD entries, as one row with a count
            rows.append((slot, " " + "-" * width + " ", f"none x {(base - slot) // pmd}"))
        if base == hi:
            break
        if isinstance(tables[base], HugePMD):
            rows.append((base, "|" + "H" * width + "|", "huge PMD leaf"))
            slot = base + pmd
            continue
        n = int(np.count_nonzero(tables[base]))
        rows.append((base, "|" + _cells(tables[base], geo) + "|",
                     "EMPTY" if n == 0 else f"{n} present"))
        slot = base + pmd
    head = [f"PTE occupancy per PMD slot, [{hexa(lo, geo)}, {hexa(hi, geo)}) ({geo.name})"]
    if legend:
        head += strip_legend(geo, any(isinstance(t, HugePMD) for t in tables.values())).splitlines()
    return "\n".join(head + _elide(_fold(rows, geo), max_rows, "rows")) + "\n"


def _fold(rows, geo) -> list[str]:
    """Render rows; a run of identical rows becomes one, "x N through <last slot>"."""
    pmd = geo.pmd_size
    out, i = [], 0
    while i < len(rows):
        addr, body, note = rows[i]
        if note.startswith("none x "):
            count = int(note.split()[-1])
            out.append(f"{hexa(addr, geo)} {body} none" + ("" if count == 1 else f" x {count}"))
            i += 1
            continue
        j = i + 1
        while j < len(rows) and rows[j][1:] == (body, note) and rows[j][0] == rows[j - 1][0] + pmd:
            j += 1
        if j - i >= 3:
            out.append(f"{hexa(addr, geo)} {body} {note} x {j - i}")
        else:
            out += [f"{hexa(a, geo)} {b} {n}" for a, b, n in rows[i:j]]
        i = j
    return out


# ---- summary, trace, report of a move ---------------------------------------------------------------

_WARN = {PMD: ("move_normal_pmd", "!pmd_none(*new_pmd)"), PUD: ("move_normal_pud", "!pud_none(*new_pud)")}


WARN_VARIES = "an example: CPU, PID, line number and offsets vary by machine and build"


def warn_line() -> str:
    """The WARNING line as the kernel prints it for a refused PMD or PUD move (__warn()'s format), with example
    CPU and PID; the line number and the offsets depend on the build, so they are left as ellipses.

    %pS names the function the code was compiled into: move_normal_pmd() and move_normal_pud() are static
    and inlined into move_page_tables() (Debian's builds in QEMU and the host's 6.18 print
    move_page_tables+0x...), so the line names move_page_tables; warn_note() names the check itself."""
    return kernel_warning("mm/mremap.c", "move_page_tables")


def kernel_warning(file: str, function: str) -> str:
    """A WARNING line in the form __warn() prints it: "WARNING: CPU: %d PID: %d at %s:%d %pS", with CPU 1,
    PID 1 and the build-dependent line number and offsets left as ellipses."""
    return f"WARNING: CPU: 1 PID: 1 at {file}:\u2026 {function}+0x\u2026/0x\u2026"


def warn_note(level: str, kernel: str = "6.6") -> str:
    """Which check that WARNING is, and how often `kernel` prints it (one line)."""
    func, cond = _WARN[level]
    if Kernel.parse(kernel).warn_once:
        how = f"WARN_ON_ONCE({cond}) in {func}(), printed once per boot"
    else:
        how = f"WARN_ON({cond}) in {func}(), printed at every refusal (WARN_ON_ONCE from 5.8)"
    return how


FLUSH_ALL_NOTE = "(-1: more than 33 pages, so x86 flushes the whole TLB)"


def summary(result: MoveResult) -> str:
    """What is particular to this move: counts, realignment (on kernels that have it), each refusal
    (the WARN line once), TLB flushes, damage. Every line fits COLUMNS."""
    r, geo = result, result.geometry
    lines = [move_heading(r),
             f"Linux {r.kernel}, {geo.name}; moves: {r.pud_moves} PUD, {r.pmd_moves} PMD, {r.pte_moves} PTE; "
             f"refusals: {r.refusals}; steps: {len(r.events)}"]
    if r.huge_pmd_moves or r.huge_pmd_splits:
        lines.append(f"huge pages: {r.huge_pmd_moves} moved whole by move_huge_pmd(), {r.huge_pmd_splits} split "
                     f"by split_huge_pmd()" + (f", {r.huge_refusals} refused" if r.huge_refusals else ""))
    if r.parts:
        lines.append(f"6.17 multi-VMA move: {len(r.parts)} VMAs, each by its own move_page_tables(), in order")
        lines += [f"  VMA {i + 1} {hexa(p.old_addr, geo)} -> {hexa(p.new_addr, geo)}, len {p.length:#x}, steps "
                  f"{p.events[0].number}-{p.events[-1].number}: {realign_phrase(p)}" for i, p in enumerate(r.parts)]
    elif Kernel.parse(r.kernel).realigns or r.unchecked:  # a kernel without realignment has nothing to say
        lines.append(realign_phrase(r))
    warned = False
    for e in r.events:
        for level in e.refused:
            size = geo.pmd_size if level == PMD else geo.pud_size
            lines.append(f"refused at step {e.number}: {level} move {hexa(e.old, geo)} -> {hexa(e.new, geo)} "
                         f"({size:#x} bytes): {e.cause}")
            if not warned:
                lines.append(f"  {warn_line()}")
                lines.append(f"    ({WARN_VARIES})")
                lines.append(f"    {warn_note(level, r.kernel)}")
                if r.operation == "relocate_vma_down":
                    lines.append(f"    called from {Kernel.parse(r.kernel).exec_function}, during execve()")
                warned = True
    if r.huge_refusals and Kernel.parse(r.kernel).huge_pmd_move_warns:
        e = next(e for e in r.events if e.huge_refused)
        lines.append(f"refused at step {e.number}: {e.cause}")
        lines.append(f"  {kernel_warning('mm/huge_memory.c', 'move_huge_pmd')}")
        lines.append(f"    ({WARN_VARIES})")
        lines.append("    WARN_ON(!pmd_none(*new_pmd)), printed at every refusal until 6.5 (then a silent refusal);"
                     "\n    the huge page is split and its PTEs move")
    pages = r.tlb_flush_pages()
    if geo.arch != "x86":  # tlb_flush_pages() is x86's tlb:tlb_flush notation (pages, -1 past 33)
        lines.append(f"TLB flushes: {len(pages)} flush_tlb_range() calls")
    else:
        lines.append(f"TLB flushes: {len(pages)}" + (f", in pages: {runs_of(pages)}" if pages else "")
                     + (f" {FLUSH_ALL_NOTE}" if -1 in pages else ""))  # said where the -1 is shown
    if r.unchecked:
        lines.append("NOT THE KERNEL: realigned without can_align_down() (Linus' unchecked proposal)")
    if r.damage:
        lines.append(f"damage: {r.damage.summary()}")
    return wrap("\n".join(lines)) + "\n"


def move_heading(r: MoveResult) -> str:
    """The move in one line, as summary() heads it: "mremap: 0x1fff000 -> 0x1dff000, len 0x201000"."""
    what = " (execve stack move)" if r.operation == "relocate_vma_down" else ""
    return f"{r.operation}{what}: {hexa(r.old_addr, r.geometry)} -> {hexa(r.new_addr, r.geometry)}, len {r.length:#x}"


def step_title(done: int, n: int) -> str:
    """The after-panel's title for the state after `done` of `n` steps (steps count from 1)."""
    if done == 0:
        return f"before the loop (0 of {n} steps done)"
    return f"after step {done} of {n}"


def step_sentence(result: MoveResult, k: int) -> str:
    """What step k did (k events applied: "Step k: ..."), or what the loop is about to do (k = 0)."""
    n = len(result.events)
    if k == 0:
        where = "" if not result.realigned else f" {result.realign_check[0].upper()}{result.realign_check[1:]}."
        return f"Before the loop: nothing moved yet; {n} step{'s' if n != 1 else ''} to replay.{where}"
    return result.events[k - 1].describe()


def counts_sentence(r: MoveResult) -> str:
    """The counts of a whole move as a sentence (what a drawing of the whole move says under its title)."""
    # Say each thing once: a kernel without realignment gets no realignment phrase (as in summary()).
    realign = f"; {realign_phrase(r)}" if Kernel.parse(r.kernel).realigns or r.unchecked else ""
    return f"{counts_phrase(r, always_pud=True)}{realign}."


def picture_alt(r: MoveResult, step: int | None = None) -> str:
    """The alt text of a drawing of r (plot.draw_move, the explorer's picture): the move, the kernel, the step
    and what happened at it, from the same functions as summary() and the explorer's step sentence.

    step None: the whole move ("after the loop"), said with its counts; k: after step k, said with what it did."""
    n = len(r.events)
    if step is None:
        where, what = "after the loop", counts_sentence(r)
    else:
        where, what = step_title(step, n), step_sentence(r, step)
    warn = " Linux prints a WARNING." if step is None and r.warned else ""
    return (f"Page tables before the move (left) and {where} (right). {move_heading(r)}; "
            f"Linux {r.kernel}, {r.geometry.name}. {what}{warn}")


def runs_of(values) -> str:
    """A list with runs of equal neighbours folded: [1, -1, -1, -1] -> "1, -1 x 3"."""
    out: list[list] = []
    for v in values:
        if out and out[-1][0] == v:
            out[-1][1] += 1
        else:
            out.append([v, 1])
    return ", ".join(str(v) if n == 1 else f"{v} x {n}" for v, n in out)


def brief(r: MoveResult) -> str:
    """The counts of one move on one line (under 100 columns): what a table of several moves shows."""
    return f"Linux {r.kernel}: {counts_phrase(r)}, {_realigned(r)}"


def counts_phrase(r: MoveResult, always_pud: bool = False) -> str:
    """"2 PMD, 1 PTE moves, 1 huge PMD, 0 split, 0 refusals": the move's counts (huge pages only when it has
    any; the PUD count when it moved any, or always)."""
    refusals = f"{r.refusals} refusal{'s' * (r.refusals != 1)}"
    huge = f", {r.huge_pmd_moves} huge PMD, {r.huge_pmd_splits} split" if (r.huge_pmd_moves or r.huge_pmd_splits
                                                                           or r.huge_refusals) else ""
    pud = f"{r.pud_moves} {level_label(PUD, r.geometry) if r.pud_moves else PUD}, " if r.pud_moves or always_pud else ""
    return f"{pud}{r.pmd_moves} PMD, {r.pte_moves} PTE moves{huge}, {refusals}"


def _realigned(r: MoveResult) -> str:
    """Realigned or not; a 6.17 multi-VMA move decides per VMA, so it says how many of them were."""
    if r.parts:
        return f"{sum(p.realigned for p in r.parts)} of {len(r.parts)} VMAs realigned"
    if r.realign_reason == "efault-positive":  # 5.16/5.17: nothing at old_addr, and no error either
        return "nothing moved: mremap() returned 0xe (5.16/5.17's positive EFAULT)"
    return "realigned" if r.realigned else "not realigned"


def level_label(level: str, geo) -> str:
    """A level's name as a reader should see it: with three levels (arm64 64K) the PUD is folded, and
    what the loop's "PUD" step moves is the PGD entry (include/asm-generic/pgtable-nopud.h)."""
    return f"{level} (folded: the PGD entry)" if level == PUD and geo.levels == 3 else level


def realign_phrase(r: MoveResult) -> str:
    """Whether try_realign_addr() moved the start down, and why (or why not)."""
    geo = r.geometry
    if r.realigned:
        why = r.realign_check.removeprefix("realigned: ")
        return f"realigned: the loop starts at {hexa(r.start_old, geo)} -> {hexa(r.start_new, geo)} ({why})"
    return f"not realigned: {r.realign_check}"


TRACE_COLUMNS = ("step", "old", "new", "extent", "level", "outcome", "PTEs", "why this path")


def trace(result: MoveResult, max_rows: int = 40) -> str:
    """The step trace as an aligned table; the middle of a long trace is folded into one row."""
    if max_rows < 2:
        raise ValueError(f"max_rows must be at least 2, got {max_rows}")
    geo = result.geometry
    rows = [(str(e.number), hexa(e.old, geo), hexa(e.new, geo), f"{e.extent:#x}", _level(e, geo), e.outcome,
             str(e.ptes), _why(e)) for e in result.events]
    if len(rows) > max_rows:
        head, tail = max_rows // 2, max_rows - max_rows // 2
        cut = len(rows) - head - tail
        rows = rows[:head] + [("...", f"{cut} steps", "", "", "", "", "", "")] + rows[-tail:]
    widths = [max(len(c) for c in col) for col in zip(TRACE_COLUMNS, *rows)]
    # A long "why this path" goes on under the row, indented to the "old" column: no line is wider
    # than COLUMNS.
    why_at = sum(widths[:-1]) + 2 * (len(widths) - 1)
    widths[-1] = min(widths[-1], max(len(TRACE_COLUMNS[-1]), COLUMNS - why_at))
    right = {0, 3, 6}  # numbers align right

    def fmt(row):
        line = "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths)))
        return "\n".join(textwrap.wrap(line.rstrip(), COLUMNS, subsequent_indent=" " * (widths[0] + 2),
                                        break_long_words=False, break_on_hyphens=False))
    return "\n".join([fmt(TRACE_COLUMNS), fmt(["-" * w for w in widths])] + [fmt(r) for r in rows]) + "\n"


def _level(e, geo) -> str:
    """The level column: a huge leaf moved whole is "huge PMD"; move_ptes() after a split is "PTE split";
    a folded PUD says it is the PGD entry."""
    if e.huge and e.level == PMD:
        return "huge PMD"
    return f"{e.level} split" if e.split else level_label(e.level, geo)


_SHORT_EXTENT = re.compile(r"the extent \((0x[0-9a-f]+)\) is not a whole PMD \((0x[0-9a-f]+)\)")


def _why(e) -> str:
    if e.refused:
        return f"REFUSED {'+'.join(e.refused)} move (WARN): {e.cause}"
    short = _SHORT_EXTENT.fullmatch(e.cause)
    if short and short.group(1) == f"{e.extent:#x}":  # the extent is in its own column: say it once
        return f"extent < PMD_SIZE ({short.group(2)})"
    return e.cause


def windows(result: MoveResult, context: int = 1) -> list[tuple[int, int]]:
    """PMD-aligned windows around the old and the new range, `context` PMD slots either side;
    one window when they overlap or nearly touch, two when they are far apart."""
    geo, pmd = result.geometry, result.geometry.pmd_size
    spans = []
    for a, b in ((min(result.start_old, result.old_addr), result.old_addr + result.length),
                 (min(result.start_new, result.new_addr), result.new_addr + result.length)):
        lo = max(0, a // pmd * pmd - context * pmd)
        hi = min(geo.task_size, -(-max(b, a + 1) // pmd) * pmd + context * pmd)
        spans.append((lo, hi))
    spans.sort()
    (a0, b0), (a1, b1) = spans
    if a1 <= b0 + 2 * pmd:
        return [(a0, max(b0, b1))]
    return spans


def report(result: MoveResult) -> str:
    """Summary, step trace, and occupancy strips before and after the loop around old and new."""
    parts = [summary(result), trace(result)]
    for label, pt in (("before the move (loop start)", result.before), ("after the loop", result.after)):
        for lo, hi in windows(result):
            parts.append(f"{label}:\n" + strip(pt, lo, hi, legend=len(parts) == 2))  # the legend once
    return "\n".join(parts)
