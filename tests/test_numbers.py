"""The one number grammar (pagemove.numbers): what every input reads, and that nothing else parses numbers."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

import pagemove.__main__ as cli
import pagemove.problems as problems
from pagemove.numbers import ACCEPTED, NumberError, parse_number

UNITS = {"K": 1 << 10, "M": 1 << 20, "G": 1 << 30, "T": 1 << 40}


@given(st.integers(min_value=0, max_value=1 << 64))
def test_hex_and_decimal_spell_the_same_number(n):
    assert parse_number(f"{n:#x}") == parse_number(str(n)) == parse_number(f"{n:#X}") == n


@given(st.lists(st.tuples(st.integers(min_value=0, max_value=4096), st.sampled_from(["", *UNITS])), min_size=1,
                max_size=4), st.booleans())
def test_sizes_and_sums(terms, spaced):
    text = (" + " if spaced else "+").join(f"{n}{u}" + ("iB" if u and n % 2 else "") for n, u in terms)
    assert parse_number(text) == sum(n * UNITS.get(u, 1) for n, u in terms)


@pytest.mark.parametrize("text", ["abc", "1fff000", "0x", "2M+", "1.5", "-x1", "4KB", "0b1", "0x2M", "two"])
def test_anything_else_is_an_error_naming_the_box_and_the_accepted_forms(text):
    with pytest.raises(ValueError) as e:
        parse_number(text, "old")
    assert str(e.value).startswith(f"old: {text!r} is not a number") and str(e.value).endswith(ACCEPTED)


@pytest.mark.parametrize("text", ["-1", "-4096", " -0x1000", "-2M+4K", -4096])
def test_a_negative_number_is_called_negative_not_not_a_number(text):
    with pytest.raises(NumberError) as e:
        parse_number(text, "old")
    assert e.value.reason == f"old: {text.strip() if isinstance(text, str) else text!r} is negative"
    assert str(e.value) == f"{e.value.reason}; write {ACCEPTED}"


def test_the_public_entry_and_the_cli_are_this_grammar():
    assert problems.parse_number("4096") == 0x1000 == cli.number("4096")
    assert problems.parse_number("2M+4K") == cli.number("2M+4K") == 0x201000
    with pytest.raises(ValueError, match="hex needs its prefix: 0xabc"):
        problems.parse_number("abc")


def test_the_old_parsers_are_gone():
    import pagemove.widgets as widgets

    assert not hasattr(widgets, "_parse_hex") and not hasattr(problems, "_NUMBER")
