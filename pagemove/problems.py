"""Exercises: seeded and instructor-fixed problems about one move, checked against the engine.

    p = Problem.random(seed=3, difficulty=1)       # the same problem on every Python and platform
    print(p)                                       # the question
    print(p.check({"pmd_6.6": 1, "pte_6.6": 513})) # per-item right/wrong, wrong ones explained
    print(p.solution())                            # the answers and the engine's step trace

    p = Problem.fixed("counts", old=0x1fff000, new=0x1dff000, length=0x201000, stack=True,
                      geometry="x86_64")          # an instructor pins one exact problem

Every answer is read off a simulated move (pagemove.scenario.simulate), never worked out here,
so an exercise can only be as wrong as the engine. Random problems come from splitmix64, written
out in Python ints, because `random`'s streams have changed between Python versions before.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from . import numbers
from .kernel import Kernel
from .scenario import geometry_of, simulate
from .text import wrap
from .trace import PTE, MoveResult

MASK64 = (1 << 64) - 1
PRE, POST = "6.6", "6.7"  # the last kernel before the mutual-alignment fix, and the first after it


# ---- a pseudo-random stream that never drifts ---------------------------------------------------

class SplitMix64:
    """Sebastiano Vigna's splitmix64: 64-bit state, one add and two multiply-xorshifts per number."""

    def __init__(self, seed: int):
        self.state = seed & MASK64

    def next(self) -> int:
        """The next 64-bit number."""
        self.state = (self.state + 0x9E3779B97F4A7C15) & MASK64
        z = self.state
        z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
        z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
        return z ^ (z >> 31)

    def below(self, n: int) -> int:
        """A uniform integer in [0, n), without modulo bias (rejection sampling)."""
        if n <= 0:
            raise ValueError(f"below() needs a positive bound, got {n}")
        limit = (1 << 64) - (1 << 64) % n
        while (x := self.next()) >= limit:
            pass
        return x % n

    def between(self, lo: int, hi: int) -> int:
        """A uniform integer in [lo, hi]."""
        return lo + self.below(hi - lo + 1)

    def choice(self, options):
        """One element of a sequence."""
        return options[self.below(len(options))]


# ---- what can be asked ----------------------------------------------------------------------------

KINDS = {
    "aligned": "Are old and new mutually PMD-aligned?",
    "counts": "How many PMD moves, PTE moves and refusals?",
    "warn": "Will the kernel WARN (a refused PMD or PUD move)?",
    "realign": "Will the kernel realign the start, and if not, which condition fails?",
    "start": "Where does the loop start after realignment?",
    "empty": "After a given step, which PMD entries are present but empty?",
    "thp": "With transparent huge pages: how many huge PMD moves, splits, PMD moves and PTE moves?",
    "pagesize": "Another page size (arm64 16K or 64K, 5-level x86-64): PMD moves, PTE moves, refusals?",
}
CORE_KINDS = ("aligned", "counts", "warn", "realign", "start", "empty")  # what difficulties 1-3 draw from
OTHER_KINDS = ("thp", "pagesize")  # what difficulty 4 draws from
COUNT_KINDS = ("counts", "thp", "pagesize")  # the kinds that ask for counts on 6.6 and on 6.7
COUNTS = {"pud": ("PUD moves", "pud_moves"), "pmd": ("PMD moves", "pmd_moves"),  # item -> (words, attribute)
          "huge": ("huge PMD moves", "huge_pmd_moves"), "split": ("huge page splits", "huge_pmd_splits"),
          "pte": ("PTE moves", "pte_moves"), "refusals": ("refusals", "refusals")}
OTHER_GEOMETRIES = ("arm64_16k", "arm64_64k", "x86_64_5level")  # what "pagesize" draws from

REASONS = {  # why try_realign_addr() leaves the start alone, in the order the choices are shown
    "none": "nothing fails: it realigns",
    "aligned": "already aligned",
    "guard": "length guard",
    "mutual": "not mutually aligned",
    "below-old": "something mapped below old",
    "below-new": "something mapped below new",
    "not-start": "old is not the start of its VMA",
}

DIFFICULTIES = {1: "tiny geometry: mremap() and execve stack moves, few pages", 2: "tiny geometry, other mappings "
                "nearby (blockers)", 3: "x86-64 geometry and addresses, blockers",
                4: "other machines and huge pages: THP moves, arm64 16K/64K and 5-level x86-64"}


@dataclass(frozen=True)
class Item:
    """One answer field of a problem."""

    name: str  # the key in the answers dict
    label: str  # what the input field says
    type: str  # "int", "address" (an int shown in hex), "bool", "choice" (a REASONS key), "addresses" (a set)


@dataclass(frozen=True)
class Verdict:
    """The check of one item."""

    item: Item
    given: object  # the answer as read (None: not answered or unreadable)
    expected: object
    right: bool
    explanation: str = ""  # why the expected answer is right; empty when the answer was right
    unreadable: str = ""  # why the answer given could not be read ("" when it could, or none was given)

    def __str__(self) -> str:
        mark = "[right]" if self.right else "[wrong]"
        # The parser's "what is wrong; how to write it": split at the last "; ", since the answer quoted in
        # the first part may itself hold one.
        head, sep, rest = self.unreadable.rpartition("; ")
        if not sep:
            head, rest = rest, ""
        line = f"{mark} {self.item.label}: {head or show(self.given, self.item.type)}"
        if not self.right:
            line += f" (answer: {show(self.expected, self.item.type)})"
            if rest:
                line += f"\n        {_capitalised(rest)}."
            if self.explanation:
                line += "\n" + "\n".join("        " + s for s in self.explanation.splitlines())
        return wrap(line)


@dataclass(frozen=True)
class Feedback:
    """The checks of all items of one answer."""

    verdicts: tuple[Verdict, ...]

    @property
    def right(self) -> bool:
        """Every item right."""
        return all(v.right for v in self.verdicts)

    @property
    def score(self) -> tuple[int, int]:
        """(items right, items)."""
        return sum(v.right for v in self.verdicts), len(self.verdicts)

    def __getitem__(self, name: str) -> Verdict:
        return next(v for v in self.verdicts if v.item.name == name)

    def __str__(self) -> str:
        right, total = self.score
        return "\n".join([str(v) for v in self.verdicts] + [f"{right}/{total} right."])


# ---- reading answers --------------------------------------------------------------------------------

def parse_number(text) -> int:
    """An int from an int, or from "0x1fff000", "4096" (decimal), "2M", "4K", "1G" (binary units) or a sum
    such as "2M+4K"; else ValueError. The one grammar of every input: see pagemove.numbers."""
    return numbers.parse_number(text)


def parse_bool(text) -> bool:
    """True or False from a bool or from yes/no/true/false/y/n/1/0."""
    if isinstance(text, bool):
        return text
    words = {"yes": True, "y": True, "true": True, "1": True, "no": False, "n": False, "false": False, "0": False}
    key = str(text).strip().lower()
    if key not in words:
        raise ValueError(f"expected yes or no, got {text!r}")
    return words[key]


def parse_reason(text) -> str:
    """A REASONS key from a key, a choice number (0 = "none") or the start of a choice's words."""
    key = str(text).strip().lower()
    if key in REASONS:
        return key
    if key.isdigit() and int(key) < len(REASONS):
        return list(REASONS)[int(key)]
    matches = [k for k, words in REASONS.items() if key and words.startswith(key)]
    if len(matches) != 1:
        raise ValueError(f"expected one of {', '.join(REASONS)}, got {text!r}")
    return matches[0]


def parse_addresses(text) -> frozenset[int]:
    """A set of addresses from an iterable, or from text like "{0x1e00000, 0x2000000}"; "none" is empty."""
    if isinstance(text, (set, frozenset, list, tuple)):
        return frozenset(parse_number(a) for a in text)
    joined = re.sub(r"\s*\+\s*", "+", str(text))  # "2M + 4K" is one number
    words = [w for w in re.split(r"[\s,;{}\[\]()]+", joined) if w]
    if [w.lower() for w in words] in ([], ["none"], ["empty"], ["-"], ["set"]):
        return frozenset()
    return frozenset(parse_number(w) for w in words)


PARSERS = {"int": parse_number, "address": parse_number, "bool": parse_bool, "choice": parse_reason, "addresses": parse_addresses}


def show(value, type_: str) -> str:
    """An answer as text: hex for addresses, yes/no for bools, words for reasons."""
    if value is None:
        return "(no answer)"
    if type_ == "bool":
        return "yes" if value else "no"
    if type_ == "choice":
        return REASONS[value]
    if type_ == "addresses":
        return "{" + ", ".join(f"{a:#x}" for a in sorted(value)) + "}" if value else "none"
    if type_ == "address":
        return f"{value:#x}"
    return str(value)


# ---- reading the engine ---------------------------------------------------------------------------

_REASON_KEYS = {"realigned": "none", "aligned": "aligned", "guard": "guard", "mutual": "mutual",
                "old-not-start": "not-start", "new-not-start": "not-start",
                "old-blocked": "below-old", "new-blocked": "below-new"}


def reason_of(r: MoveResult) -> str:
    """The REASONS key for a 6.7+ result, from the engine's realign_reason code."""
    if r.realign_reason not in _REASON_KEYS:
        raise ValueError(f"no realignment condition for {r.realign_reason!r} (kernel {r.kernel})")
    return _REASON_KEYS[r.realign_reason]


def empty_pmds(r: MoveResult, steps: int) -> frozenset[int]:
    """Base addresses of the PMD entries that are present but empty after the first `steps` events."""
    pt = r.replay(steps)
    return frozenset(base for base, _ in pt.pte_tables() if pt.empty(base))


@lru_cache(maxsize=256)
def _simulate(old, new, length, stack, geometry, blockers, kernel, thp=False) -> MoveResult:
    return simulate(old, new, length, kernel=kernel, stack=stack, geometry=geometry, blockers=blockers, thp=thp)


# ---- problems -------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Problem:
    """One move and one kind of question about it."""

    kind: str
    old: int
    new: int
    length: int
    stack: bool = False  # the execve stack move (relocate_vma_down) instead of mremap
    geometry: str = "tiny"
    blockers: tuple[tuple[int, int], ...] = ()  # other mappings (start, length), read-only, populated
    kernel: str | None = None  # None: the kind's usual kernel(s)
    step: int | None = None  # for "empty": look after this many steps (1..n: "after step k of n")
    seed: int | None = None  # set by Problem.random
    difficulty: int | None = None
    thp: bool = False  # the moved VMA is THP-eligible (its whole aligned PMDs are huge pages)

    # ---- making problems ------------------------------------------------------------------------

    @classmethod
    def fixed(cls, kind: str, *, old, new, length, kernel: str | None = None, stack: bool = False,
              blockers=(), geometry: str = "x86_64", step: int | None = None, thp: bool = False) -> Problem:
        """An instructor's problem: exactly this move. Numbers may be ints or text ("0x1fff000", "2M")."""
        blockers = tuple((parse_number(s), parse_number(n)) for s, n in blockers)
        p = cls(kind, parse_number(old), parse_number(new), parse_number(length), bool(stack),
                geometry_of(geometry).name, blockers, kernel, step, thp=bool(thp))
        p.validate()
        return p

    @classmethod
    def random(cls, seed: int, kind: str | None = None, difficulty: int = 1) -> Problem:
        """A problem drawn from `seed`: the same one everywhere. kind None: drawn too."""
        if difficulty not in DIFFICULTIES:
            raise ValueError(f"difficulty must be one of {sorted(DIFFICULTIES)}, got {difficulty!r}")
        if kind is not None and kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {kind!r}")
        if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
            raise ValueError(f"seed must be a non-negative int, got {seed!r}")
        # One stream per (seed, difficulty); difficulties 1-3 keep the streams (and problems) they always had.
        stream = seed * 3 + difficulty - 1 if difficulty <= 3 else (seed << 8 | difficulty) ^ (1 << 63)
        rng = SplitMix64(stream)
        drawn = rng.choice(list(CORE_KINDS if difficulty <= 3 else OTHER_KINDS))  # always drawn: same stream after
        kind = kind or drawn
        for _ in range(1000):
            p = _draw(rng, kind, difficulty, seed)
            if p is not None:
                return p
        raise RuntimeError(f"no valid layout for seed {seed}")  # never seen; the loop is a safety net

    def validate(self) -> None:
        """Raise ValueError/OSError, naming the broken rule, unless the engine can run this problem."""
        if self.kind not in KINDS:
            raise ValueError(f"kind must be one of {', '.join(KINDS)}, got {self.kind!r}")
        for k in self.kernels:
            self.result(k)
        if self.kind in ("realign", "start") and not Kernel.parse(self.kernels[0]).realigns:
            raise ValueError(f"kernel {self.kernels[0]} has no realignment (it came in 6.7): pick 6.7 or later")
        if self.kind == "empty":
            n = len(self.result(self.kernels[0]).events)
            if not isinstance(self.step, int) or isinstance(self.step, bool) or not 1 <= self.step <= n:
                raise ValueError(f"step must be between 1 and {n} (the move has {n} steps; step k means after "
                                 f"the first k), got {self.step!r}")

    # ---- the engine's view --------------------------------------------------------------------

    @property
    def kernels(self) -> tuple[str, ...]:
        """The kernels this problem asks about."""
        if self.kernel is not None:
            return (self.kernel,)
        return (PRE, POST) if self.kind in COUNT_KINDS else (POST,) if self.kind in ("realign", "start") else (PRE,)

    def result(self, kernel: str) -> MoveResult:
        """The engine's result of this move on `kernel` (cached)."""
        return _simulate(self.old, self.new, self.length, self.stack, self.geometry, self.blockers, kernel, self.thp)

    @property
    def geo(self):
        return geometry_of(self.geometry)

    @property
    def items(self) -> tuple[Item, ...]:
        """The answer fields, in order."""
        k = self.kernels
        if self.kind == "aligned":
            return (Item("aligned", "mutually PMD-aligned? (yes/no)", "bool"),)
        if self.kind in COUNT_KINDS:
            pud = self.length >= self.geo.pud_size  # only ask about PUD moves when one could happen
            names = ("pud",) * pud + (("huge", "split", "pmd", "pte") if self.kind == "thp" else ("pmd", "pte",
                                                                                                 "refusals"))
            return tuple(Item(f"{n}_{v}", f"{COUNTS[n][0]} on {v}", "int") for v in k for n in names)
        if self.kind == "warn":
            return (Item("warn", f"does {k[0]} WARN? (yes/no)", "bool"),)
        if self.kind == "realign":
            return (Item("realign", f"does {k[0]} realign? (yes/no)", "bool"),
                    Item("reason", "if not, which condition fails?", "choice"))
        if self.kind == "start":
            return (Item("old", f"old start of the loop on {k[0]}", "address"),
                    Item("new", f"new start of the loop on {k[0]}", "address"))
        return (Item("empty", f"present-but-empty PMD entries after step {self.step} of {self._steps()} on {k[0]}", "addresses"),)

    def answers(self) -> dict:
        """The right answers, from the engine: {item name: value}."""
        if self.kind == "aligned":
            mask = self.geo.pmd_size - 1
            return {"aligned": (self.old & mask) == (self.new & mask)}
        if self.kind in COUNT_KINDS:
            out = {}
            for item in self.items:
                what, kernel = item.name.split("_")
                out[item.name] = getattr(self.result(kernel), COUNTS[what][1])
            return out
        r = self.result(self.kernels[0])
        if self.kind == "warn":
            return {"warn": r.warned}
        if self.kind == "realign":
            return {"realign": r.realigned, "reason": reason_of(r)}
        if self.kind == "start":
            return {"old": r.start_old, "new": r.start_new}
        return {"empty": empty_pmds(r, self.step)}

    # ---- text -----------------------------------------------------------------------------------

    def setup(self) -> str:
        """The layout and the move, in words."""
        g = self.geo
        pages = self.length // g.page_size
        lines = [f"Geometry {g.name}: PAGE_SIZE {g.page_size:#x}, {g.entries} entries per table, "
                 f"PMD_SIZE {g.pmd_size:#x}."]
        if self.thp:
            lines.append("The moved mapping is THP-eligible: each PMD_SIZE piece of it that starts on a PMD boundary "
                         "and lies wholly inside it is one huge page (a huge PMD leaf, no PTE table); the rest is "
                         "base pages.")
        span = f"[{self.old:#x}, {self.old + self.length:#x}) ({pages} page{'s' * (pages != 1)}, populated)"
        if self.stack:
            lines.append(f"execve() moves the stack VMA {span} down by {self.old - self.new:#x} to "
                         f"{self.new:#x} (relocate_vma_down).")
        else:
            lines.append(f"A private mapping {span} is moved to {self.new:#x} with mremap(old, len, len, "
                         f"MREMAP_MAYMOVE|MREMAP_FIXED, new).")
        if self.blockers:
            spans = ", ".join(f"[{s:#x}, {s + n:#x})" for s, n in self.blockers)
            lines.append(f"Also mapped (read-only, populated): {spans}.")
        return "\n".join(lines)

    def question(self) -> str:
        """What is asked."""
        k = self.kernels
        q = {"aligned": "Are old and new mutually PMD-aligned, i.e. is old & (PMD_SIZE-1) == new & (PMD_SIZE-1)?",
             "counts": f"How many PMD moves, PTE moves (present PTEs moved by move_ptes) and refusals "
                       f"(WARN_ON_ONCE hits) on {' and on '.join(k)}?",
             "warn": f"Will {k[0]} WARN, i.e. refuse a PMD (or PUD) move because the destination entry "
                     f"is already present?",
             "realign": f"Will {k[0]} realign the start down to a PMD boundary? If not, which condition fails: "
                        f"{'; '.join(REASONS[r] for r in list(REASONS)[1:])}?",
             "start": f"On {k[0]}, at which old and new address does the move_page_tables() loop start "
                      f"(after any realignment)?",
             "thp": f"How many huge PMD moves (move_huge_pmd), huge page splits (split_huge_pmd), PMD moves "
                    f"(move_normal_pmd) and PTE moves on {' and on '.join(k)}?",
             "pagesize": f"On this machine, how many PMD moves, PTE moves and refusals (WARN_ON_ONCE hits) on "
                         f"{' and on '.join(k)}?",
             "empty": f"On {k[0]}, after step {self.step} of {self._steps()}, which PMD entries are "
                      f"present but empty? Give the base address of each: the start of its PMD_SIZE range (any "
                      f"address in it rounded down to a multiple of PMD_SIZE), or 'none'."}
        return q[self.kind]

    def _steps(self) -> int:
        return len(self.result(self.kernels[0]).events)

    def title(self) -> str:
        """One line naming the problem, with its seed when it has one."""
        origin = f"seed {self.seed}, difficulty {self.difficulty}" if self.seed is not None else "fixed"
        return f"Problem ({origin}): {self.kind}"

    def __str__(self) -> str:
        return wrap(f"{self.title()}\n{self.setup()}\nQ: {self.question()}")

    def solution(self) -> str:
        """The answers, and the engine's trace that gives them."""
        answers = self.answers()
        lines = [f"{item.label}: {show(answers[item.name], item.type)}" for item in self.items]
        lines += ["", self._why()]
        return wrap("\n".join(lines))

    def _why(self) -> str:
        if self.kind == "aligned":
            return _alignment_story(self)
        out = []
        for k in self.kernels:
            r = self.result(k)
            steps = r.events if self.kind != "empty" else r.events[:self.step]
            out.append(f"On {k}: {r.realign_check}." if Kernel.parse(k).realigns else f"On {k}:")
            out += ["  " + e.describe() for e in steps]
        return "\n".join(out)

    # ---- checking -------------------------------------------------------------------------------

    def check(self, answers) -> Feedback:
        """Check answers (a dict by item name; or a list in item order; or one value for one item)."""
        items = self.items
        if not isinstance(answers, dict):
            answers = dict(zip([i.name for i in items], answers if isinstance(answers, (list, tuple))
                               else [answers]))
        unknown = set(answers) - {i.name for i in items}
        if unknown:
            raise ValueError(f"no such item(s) {sorted(unknown)}; this problem asks for {[i.name for i in items]}")
        expected = self.answers()
        verdicts = []
        for item in items:
            raw = answers.get(item.name)
            given, note = _read(item, raw)
            if item.type == "choice" and given is None and expected["realign"] and raw in (None, ""):
                given = "none"  # "realigns: yes" needs no reason
            right = given == expected[item.name]
            why = "" if right else _capitalised(_explain(self, item, given, expected[item.name]))
            verdicts.append(Verdict(item, given, expected[item.name], right, why, note))
        return Feedback(tuple(verdicts))


def _read(item: Item, raw) -> tuple[object, str]:
    """(parsed answer or None, why it could not be read: the parser's message)."""
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return None, ""
    try:
        return PARSERS[item.type](raw), ""
    except ValueError as e:
        return None, str(e)


def _capitalised(text: str) -> str:
    return text[:1].upper() + text[1:]


# ---- explanations ---------------------------------------------------------------------------------

def _alignment_story(p: Problem) -> str:
    mask = p.geo.pmd_size - 1
    a, b = p.old & mask, p.new & mask
    verdict = "the same, so they are mutually aligned" if a == b else "different, so they are not mutually aligned"
    return (f"old & (PMD_SIZE-1) = {p.old:#x} & {mask:#x} = {a:#x}; new & (PMD_SIZE-1) = {p.new:#x} & {mask:#x} "
            f"= {b:#x}: {verdict}.")


def _trace(events, limit: int = 8) -> list[str]:
    lines = ["  " + e.describe() for e in events[:limit]]
    if len(events) > limit:
        lines.append(f"  ... and {len(events) - limit} more step(s) like these.")
    return lines


def _explain(p: Problem, item: Item, given, expected) -> str:
    """Why `expected` is right, told from the engine's step trace."""
    said = f"You said {show(given, item.type)}; " if given is not None else ""
    if p.kind == "aligned":
        return said + _alignment_story(p)
    if p.kind in COUNT_KINDS:
        return said + _count_story(p, item)
    r = p.result(p.kernels[0])
    if p.kind == "warn":
        refused = [e for e in r.events if e.refused]
        if refused:
            return said + f"{r.kernel} refuses {len(refused)} move(s), each a WARN_ON_ONCE:\n" + \
                "\n".join(_trace(refused))
        return said + f"no step on {r.kernel} finds its destination entry present, so nothing is refused:\n" + \
            "\n".join(_trace(r.events))
    if p.kind in ("realign", "start"):
        story = f"the engine's realignment check on {r.kernel}: {r.realign_check}."
        if p.kind == "start":
            moved = "lowered to the PMD boundary" if r.realigned else "left where the caller put them"
            story += f" So old and new are {moved}: the loop starts at {r.start_old:#x} -> {r.start_new:#x}."
        return said + story
    return said + _empty_story(p, r, given or frozenset(), expected)


def _count_story(p: Problem, item: Item) -> str:
    what, kernel = item.name.split("_")
    r = p.result(kernel)
    if what == "refusals":
        steps = [e for e in r.events if e.refused]
        head = f"on {kernel} {len(steps)} step(s) find the destination entry present:" if steps else \
            f"on {kernel} no step finds its destination entry present:"
    elif what == "pte":
        steps = [e for e in r.events if e.level == PTE]
        head = f"on {kernel} move_ptes() moves {r.pte_moves} present PTEs in {len(steps)} step(s):" if steps else \
            f"on {kernel} no step goes PTE by PTE:"
    elif what in ("huge", "split"):
        steps = [e for e in r.events if e.huge]
        head = f"on {kernel} {getattr(r, COUNTS[what][1])} {COUNTS[what][0]}:" if steps else \
            f"on {kernel} no step finds a huge page:"
    else:
        head = f"on {kernel} the loop makes {getattr(r, COUNTS[what][1])} {what.upper()} move(s):"
        steps = r.events
    prefix = f"  ({r.realign_check}.)\n" if Kernel.parse(kernel).realigns else ""
    return head + "\n" + prefix + "\n".join(_trace(steps or r.events))


def _empty_story(p: Problem, r: MoveResult, given: frozenset, expected: frozenset) -> str:
    pt = r.replay(p.step)
    lines = [f"after step {p.step} of {len(r.events)} on {r.kernel}:"]
    for a in sorted(expected - given):
        emptied = [e.number for e in r.events[:p.step] if e.level == PTE and e.old - e.old % p.geo.pmd_size == a]
        how = f"step {emptied[-1]} moved its pages away with move_ptes()" if emptied else "nothing was ever moved in"
        lines.append(f"  {a:#x} is present but empty: {how}, and the PTE table stays behind.")
    for a in sorted(given - expected):
        if a % p.geo.pmd_size:
            lines.append(f"  {a:#x} is not a PMD entry's base address (those are multiples of {p.geo.pmd_size:#x}).")
        elif not pt.present(a, 1):
            lines.append(f"  {a:#x}: that PMD entry is none (no PTE table behind it).")
        else:
            n = int(pt.entry(a, 1).astype(bool).sum())
            lines.append(f"  {a:#x}: that PMD entry still maps {n} page{'s' * (n != 1)}.")
    lines.append("The steps so far:")
    return "\n".join(lines + _trace(r.events[:p.step]))


# ---- drawing a random layout ----------------------------------------------------------------------

def _draw(rng: SplitMix64, kind: str, difficulty: int, seed: int) -> Problem | None:
    """One candidate problem; THP and page-size problems are x86-64 sized and drawn by _draw_layout too."""
    if kind == "thp":
        return _draw_thp(rng, difficulty, seed)
    if kind == "pagesize":
        return _draw_layout(rng, kind, difficulty, seed, rng.choice(OTHER_GEOMETRIES))
    return _draw_layout(rng, kind, difficulty, seed, "tiny" if difficulty < 3 else "x86_64")


def _draw_thp(rng: SplitMix64, difficulty: int, seed: int) -> Problem | None:
    """A THP problem on x86-64 (an mremap: execve's stack never has huge pages): one to three huge pages,
    the ends aligned or a page off, the move aligned, a page off or mutually aligned."""
    g = geometry_of("x86_64")
    ps, pmd, n = g.page_size, g.pmd_size, g.entries
    stack = False
    base = 0x7f0000000000 + (rng.below(0x100) << 30)
    old_off = rng.choice([0, 0, n - 1, rng.between(1, n - 1)])
    old = base + rng.between(4, 7) * pmd + old_off * ps
    length = ((n - old_off) % n + n * rng.between(1, 3) + rng.choice([0, 0, 1, rng.below(n)])) * ps
    new_off = rng.choice([old_off, old_off, (old_off + 1) % n, rng.below(n)])
    new = old - rng.choice([1, 2, 3, -4]) * pmd + (new_off - old_off) * ps
    p = Problem("thp", old, new, length, stack, "x86_64", (), seed=seed, difficulty=difficulty, thp=True)
    try:
        for k in (PRE, POST):
            p.result(k)
    except (OSError, ValueError):
        return None
    return p


def _draw_layout(rng: SplitMix64, kind: str, difficulty: int, seed: int, geometry: str,
                 thp: bool = False) -> Problem | None:
    """One candidate problem, or None if the engine refuses the layout (then draw again).

    Offsets are drawn so that the interesting classes come up often: PMD-aligned or one page off,
    mutually aligned or not, a move that reaches the next PMD boundary or not. WARN questions get
    more execve stack moves by a whole PMD, the overlapping move that makes 6.6 warn.
    """
    g = geometry_of(geometry)
    ps, pmd, n = g.page_size, g.pmd_size, g.entries
    stack = rng.below(3) < (1 if kind != "warn" else 2)
    if geometry == "tiny":
        base = 0x100000
    else:  # the mmap area, or the top of the stack area, as on a real x86-64 process
        base = (0x7ff000000000 + (rng.below(0x40) << 30)) if stack else 0x7f0000000000 + (rng.below(0x100) << 30)
    old_off = rng.choice([0, 1, n - 1, rng.between(1, n - 1)])
    old = base + rng.between(4, 7) * pmd + old_off * ps
    warn = 3 if kind == "warn" else 0  # extra weight on what makes 6.6 warn
    pages = rng.choice([n - old_off + rng.below(n + 1), rng.between(1, max(1, n - old_off)),
                        n * rng.between(1, 2)] + [2 * n - old_off + rng.below(n + 1)] * (1 + warn))
    if difficulty == 1:
        pages = min(pages, 2 * n)
    length = pages * ps
    if stack:  # execve shifts the stack down; by whole PMDs it is mutually aligned and may overlap
        new = old - rng.choice([pmd, pmd, 2 * pmd, rng.between(1, 3 * n) * ps] + [pmd] * warn)
    else:
        new_off = rng.choice([old_off, old_off, 0, rng.below(n)])
        new = old - rng.choice([1, 2, 3, -4]) * pmd + (new_off - old_off) * ps
    blockers = []
    if difficulty >= 2 and rng.below(2):  # one page mapped below old or below new, in the same PMD
        side = rng.choice([old, new])
        floor = side & ~(pmd - 1)
        if side > floor:
            blockers.append((floor + rng.below((side - floor) // ps) * ps, ps))
    for s, size in blockers:  # a blocker must not sit inside either range (MREMAP_FIXED would unmap it)
        if s < old + length and s + size > old or s < new + length and s + size > new:
            return None
    p = Problem(kind, old, new, length, stack, geometry, tuple(blockers), seed=seed, difficulty=difficulty, thp=thp)
    try:
        for k in (PRE, POST):
            p.result(k)
    except (OSError, ValueError):  # overlapping mremap ranges, a blocker in the stack's way, ...
        return None
    if kind == "empty":
        kernel = rng.choice([PRE, POST])
        step = rng.below(len(p.result(kernel).events)) + 1  # after 1..n steps
        p = Problem(kind, old, new, length, stack, geometry, tuple(blockers), kernel, step, seed, difficulty)
    return p
