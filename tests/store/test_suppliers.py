"""Supplier identity: the normalised key merges real near-duplicates and nothing else."""

from __future__ import annotations

import csv
import gzip

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from store.suppliers import supplier_key
from tests.conftest import SAMPLE

# Spellings of one bidder that occur side by side in the INDOT bid tabulations.
SAME = [
    ("CLR INC.", "CLR, INC."),
    ("DAVE O'MARA CONTRACTOR INC", "DAVE O'MARA CONTRACTOR, INC."),
    ("L G S PLUMBING INC", "LGS PLUMBING, INC."),
    ("JAMES H DREW CORPORATION", "JAMES H. DREW CORPORATION"),
    ("MILESTONE CONTRACTORS LP", "MILESTONE CONTRACTORS, L.P."),
    ("DEIG BROS LUMBER & CONSTRUCTION CO INC", "DEIG BROTHERS LUMBER & CONSTRUCTION"),
    ("FORCE CONSTRUCTION CO INC", "FORCE CONSTRUCTION COMPANY, INC."),
    ("RIETH-RILEY CONSTRUCTION", "RIETH-RILEY CONSTRUCTION CO., INC."),
    ("TOWN & COUNTRY CONSTRUCTION INC", "TOWN & COUNTRY CONSTRUCTION, INC."),
    ("PAF CONSTRUCTION  LLC", "PAF CONSTRUCTION, LLC"),
]

# Different bidders whose names look alike.
DIFFERENT = [
    ("HRP COMPANY, INC.", "HRP CONSTRUCTION INC"),
    ("MILESTONE CONTRACTORS NORTH, INC.", "MILESTONE CONTRACTORS SOUTH, LLC"),
    ("MILESTONE CONTRACTORS LP", "MILESTONE CONTRACTORS NORTH, INC."),
    ("E & B PAVING/GRADEX J/V", "E & B PAVING, INC."),
]


@pytest.fixture(scope="module")
def indot_bidders() -> set[str]:
    with gzip.open(SAMPLE / "indot_bidtabs_2022-08_2026-05.csv.gz", "rt", newline="") as f:
        return {row["Bidder Name"] for row in csv.DictReader(f)}


def test_the_pairs_are_real_indot_spellings(indot_bidders: set[str]) -> None:
    names = {name for pair in (*SAME, *DIFFERENT) for name in pair}
    assert names - indot_bidders == set()


@pytest.mark.parametrize(("a", "b"), SAME)
def test_near_duplicates_share_a_key(a: str, b: str) -> None:
    assert supplier_key(a) == supplier_key(b)


@pytest.mark.parametrize(("a", "b"), DIFFERENT)
def test_distinct_suppliers_keep_distinct_keys(a: str, b: str) -> None:
    assert supplier_key(a) != supplier_key(b)


@pytest.mark.parametrize(
    ("name", "key"),
    [
        ("DAVE O'MARA CONTRACTOR, INC.", "DAVE OMARA CONTRACTOR"),
        ("L G S PLUMBING INC", "LGS PLUMBING"),
        ("DEIG BROS LUMBER & CONSTRUCTION CO INC", "DEIG BROTHERS LUMBER AND CONSTRUCTION"),
        ("E & B PAVING/GRADEX J/V", "E AND B PAVING GRADEX JV"),
        ("Société Générale SA", "SOCIETE GENERALE"),
        # A name that is nothing but a legal form keeps it rather than becoming empty.
        ("COMPANY INC", "COMPANY"),
    ],
)
def test_key_spelling(name: str, key: str) -> None:
    assert supplier_key(name) == key


def test_indot_bidders_never_collapse_to_an_empty_key(indot_bidders: set[str]) -> None:
    assert all(supplier_key(name).strip() for name in indot_bidders)


# --------------------------------------------------------------------------- properties

_LETTERS = (
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789"
    "ÉéÈèÜüÖöÇçÑñÅå"  # NFKD separates the accent
    "ßẞØøÆæŁłŒœĐđÞþ"  # no ASCII decomposition: spelled out
)
_WORD = st.one_of(
    st.text(alphabet=_LETTERS, min_size=1, max_size=10),
    st.sampled_from(["INC", "CO", "LLC", "L.P.", "BROS", "CORP", "A", "B", "J", "II", "AND"]),
)
_SEPARATOR = st.sampled_from([" ", "  ", ", ", " , ", ". ", " - ", "\t", " / ", " ; ", "\n"])
_EDGE = st.sampled_from(["", " ", "   ", "\t", ", ", ".", " ."])
_CASE = st.sampled_from([str.upper, str.lower, str.title, str.swapcase, str.capitalize])


@st.composite
def _name_and_respelling(draw: st.DrawFn) -> tuple[str, str]:
    words = draw(st.lists(_WORD, min_size=1, max_size=6))
    plain = " ".join(words)
    noisy = draw(_EDGE)
    for i, word in enumerate(words):
        if i:
            noisy += draw(_SEPARATOR)
        noisy += draw(_CASE)(word)
    noisy += draw(_EDGE)
    return plain, noisy


@settings(max_examples=300, deadline=None, database=None)
@given(_name_and_respelling())
def test_key_ignores_case_whitespace_and_punctuation(pair: tuple[str, str]) -> None:
    plain, noisy = pair
    assert supplier_key(noisy) == supplier_key(plain)


@settings(max_examples=300, deadline=None, database=None)
@given(_name_and_respelling())
def test_key_is_idempotent(pair: tuple[str, str]) -> None:
    _, noisy = pair
    key = supplier_key(noisy)
    assert supplier_key(key) == key
    assert key == key.upper()
    assert "  " not in key


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ("Große Bau GmbH", "GROSSE BAU GMBH"),
        ("Ørsted A/S", "ORSTED A/S"),
        ("Łódź Stal", "LODZ STAL"),
        ("Sæby Træ", "SAEBY TRAE"),
    ],
)
def test_letters_without_ascii_decomposition_are_spelled_out(a: str, b: str) -> None:
    # Regression: these letters used to be dropped, so the key changed with case.
    assert supplier_key(a) == supplier_key(b)
    assert supplier_key(a.lower()) == supplier_key(a.upper())


@settings(max_examples=500, deadline=None, database=None)
@given(st.text(max_size=40))
def test_any_text_key_is_case_blind_and_idempotent(name: str) -> None:
    key = supplier_key(name)
    assert supplier_key(name.upper()) == key
    assert supplier_key(name.lower()) == key
    assert supplier_key(key) == key
