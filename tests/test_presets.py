"""The named teaching cases reproduce the seed's numbers (kernel-notes section 8) in both geometries."""

import dataclasses

import pytest

from pagemove.presets import PRESETS, Preset, twin
from pagemove.scenario import geometry_of

NAMES = ["a", "b", "c", "c-overlap", "cascade", "linus"]

# (pud, pmd, pte, refusals, realigned) on 6.6 and on 6.7, per case; tiny PMDs hold 8 PTEs instead of 512.
EXPECTED = {
    "a": ((0, 2, 0, 0, False), (0, 2, 0, 0, False)),
    "b": ((0, 0, 1024, 0, False), (0, 0, 1024, 0, False)),
    "c": ((0, 1, 1, 0, False), (0, 2, 0, 0, True)),
    "c-overlap": ((0, 0, 513, 1, False), (0, 2, 0, 0, True)),
    "cascade": ((0, 0, 1537, 3, False), (0, 4, 0, 0, True)),
    "c-guard": ((0, 1, 1, 0, False), (0, 1, 1, 0, False)),
}
TINY_PTES = {1024: 16, 513: 9, 1537: 25, 1: 1, 0: 0}


def shape(r):
    return (r.pud_moves, r.pmd_moves, r.pte_moves, r.refusals, r.realigned)


def test_the_names_the_notebooks_use_exist_in_both_geometries():
    for name in NAMES:
        assert PRESETS[name].geometry == "x86_64"
        assert PRESETS[f"tiny-{name}"].geometry == "tiny"


@pytest.mark.parametrize("name", sorted(EXPECTED))
@pytest.mark.parametrize("kernel", ["6.6", "6.7"])
def test_counts_match_the_worked_examples(name, kernel):
    want = EXPECTED[name][kernel == "6.7"]
    assert shape(PRESETS[name].run(kernel=kernel)) == want
    tiny = want[:2] + (TINY_PTES[want[2]],) + want[3:]
    assert shape(PRESETS[f"tiny-{name}"].run(kernel=kernel)) == tiny


def test_c_overlap_is_the_execve_stack_shift_by_one_pmd():
    p = PRESETS["c-overlap"]
    assert (p.old, p.new, p.length, p.stack, p.kernel) == (0x1fff000, 0x1dff000, 0x201000, True, "6.6")
    r = p.run()
    assert r.operation == "relocate_vma_down" and r.warned


@pytest.mark.parametrize("name", ["linus", "tiny-linus"])
def test_linus_is_the_realigned_form_of_c_overlap(name):
    p, overlap = PRESETS[name], PRESETS[name.replace("linus", "c-overlap")]
    assert (p.old, p.new, p.length, p.stack) == (overlap.old, overlap.new, overlap.length, overlap.stack)
    r = p.run()
    pmd = geometry_of(p.geometry).pmd_size
    assert r.realigned and p.kernel == "6.7"
    assert (r.start_old, r.start_new) == (p.old & -pmd, p.new & -pmd)
    assert sum(e.extent for e in r.events) == p.length + (p.old - r.start_old)
    if name == "linus":  # the numbers of Linus' mail
        assert (r.start_old, r.start_new, sum(e.extent for e in r.events)) == (0x1e00000, 0x1c00000, 0x400000)
        assert "0x1e00000" in p.description and "0x400000" in p.description


def test_descriptions_quote_their_own_geometry():
    assert "0x27000 becomes 0x20000" in PRESETS["tiny-linus"].description
    assert "8 single-PTE moves" in PRESETS["tiny-c-overlap"].description
    assert "512 single-PTE moves" in PRESETS["c-overlap"].description


def test_run_overrides_fields_without_changing_the_preset():
    p = PRESETS["c"]
    assert p.run(kernel="6.7").realigned and not p.run().realigned
    assert p.kernel == "6.6"
    with pytest.raises(dataclasses.FrozenInstanceError):
        p.kernel = "6.7"  # frozen


def test_twin_maps_between_geometries():
    assert twin("c-overlap", "tiny") == "tiny-c-overlap"
    assert twin("tiny-cascade", "x86_64") == "cascade"
    assert twin("a", "x86_64") == "a"
    assert twin("nonexistent", "tiny") is None


def test_every_preset_runs_and_is_described():
    for name, p in PRESETS.items():
        assert isinstance(p, Preset) and p.name == name and p.title and len(p.description) > 80
        assert "{" not in p.description  # every template field was filled in
        r = p.run()
        assert r.moved == p.length
