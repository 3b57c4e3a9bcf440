"""The glossary (notebooks/glossary.md) has every term the notebooks define, and agrees with them.

A term is "defined" where a notebook sets it in bold in its prose (the series' convention, stated in
notebook 00's header). Bold is also used for emphasis and for answers ("**No.**", "**1024 PTE moves**");
those are recognised by their shape (a sentence, a number) or listed in EMPHASIS below.
"""

import re
from pathlib import Path

from test_notebook_prose import prose

NOTEBOOKS = Path(__file__).parent.parent / "notebooks"
GLOSSARY = (NOTEBOOKS / "glossary.md").read_text()

# Bold that stresses a word or states a result, not a term (checked by hand, notebook by notebook).
EMPHASIS = {
    "not", "down", "two", "one", "every", "both", "same", "smallest", "skipped", "cleared", "clear it",
    "empty", "overwrite", "old", "source", "destination", "below `old`", "below `new`", "not zero but equal",
    "no real kernel does", "no vma", "start of its vma", "inside the vma", "down onto itself", "one pmd entry",
    "move the page-table entries", "you will learn to", "x86-64", "pmd", "pud", "ptes", "tiny", "code", "data",
    "heap", "lazy", "bold", "endless problems", "checked answers", "matches", "check", "new problem",
    "show solution", "32-bit x86", "the stack", "the shift", "at most 6 mib", "present, empty", "wholly",
    "shift", "expand", "free", "shrink", "move the page tables", "recorded reference run", "warns",
    "realigned", "the gap", "below both", "its names", "the stack reaches far enough",
    "the explanations come from the trace",
}


def bold_terms(md: str):
    """The bold phrases of a notebook's prose (solutions and Going-deeper blocks included)."""
    for term in re.findall(r"\*\*([^*\n]+?)\*\*", prose(md, main_thread=False)):
        t = term.strip()
        if re.search(r"[.:?!]$", t) or re.match(r"^[\d(]", t) or len(t.split()) > 6:
            continue  # a lead-in sentence ("The rule."), a number or an answer ("1024 PTE moves")
        yield t


def normal(text: str) -> str:
    return re.sub(r"[`*()]", "", text).lower()


def test_every_bold_term_of_the_notebooks_is_in_the_glossary():
    glossary = normal(GLOSSARY)
    missing = {}
    for nb in sorted(NOTEBOOKS.glob("0*.md")):
        for term in bold_terms(nb.read_text()):
            t = normal(term)
            if t not in EMPHASIS and t not in glossary and t.removesuffix("s") not in glossary:
                missing.setdefault(nb.stem, []).append(term)
    assert not missing, missing


def entry(word: str) -> str:
    """The glossary row whose first column names `word` (as a whole word)."""
    for row in GLOSSARY.splitlines():
        cells = row.split(" | ")
        if row.startswith("| **") and re.search(rf"(?<![\w-]){re.escape(word)}(?![\w-])", cells[0]):
            return row
    raise AssertionError(f"the glossary has no entry for {word!r}")


def test_the_glossary_has_the_terms_readers_missed():
    """Issue 20 and reviews.md §1: terms the second edition used but never defined."""
    for word in ("gap", "for_stack", "blocker", "tail", "OSTEP", "PAE", "i386", "userfaultfd", "syzbot", "rc1",
                 "selftest", "madvise", "LKFT", "Runestone", "splitmix64", "pmd_populate", "pte_alloc",
                 "ptep_get_and_clear", "set_pte_at", "the WARN", "shift_arg_pages", "P4D", "level numbers"):
        entry(word)
    strip = entry("occupancy strip")
    assert "`+`" in strip and "`H`" in strip


def test_the_glossary_agrees_with_notebook_08():
    """reviews.md §1.3 and §2.10: sizes that depend on the machine, THP, the P4D and folded levels."""
    assert "16 KiB" in entry("page") and "64 KiB" in entry("page")
    assert "2 MiB on x86-64" in entry("THP") and "a 2 MiB page" not in GLOSSARY
    assert "not used here" not in entry("P4D") and "LA57" in entry("P4D")
    folded = entry("folded level")
    assert "entry of the level above" in folded and "passes straight through" not in folded
    assert "512 MiB" in entry("PMD entry") and "1 GiB on x86-64" in entry("PUD_SIZE")


def test_mutually_aligned_means_the_xor_test():
    """reviews.md §1.12: 03 and 04 use (old ^ new) & (PMD_SIZE - 1) == 0, which aligned pairs pass too."""
    row = entry("mutually aligned")
    assert "(old ^ new) & (PMD_SIZE - 1) == 0" in row and "both offsets are 0" in row


def test_bold_terms_finds_terms_and_skips_emphasis():
    md = "---\njupytext: x\n---\nA **gap** is. **The rule.** moves **1024 PTE moves**, **not**."
    assert list(bold_terms(md)) == ["gap", "not"]
