"""The local hashing embedder: deterministic, unit length, and its normalisation."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from ml import embeddings
from ml.embeddings import DIMENSION, Embedder, HashingEmbedder, cosine, item_text, normalize, stem
from store.models import EMBEDDING_DIM


@pytest.fixture(scope="module")
def embedder() -> HashingEmbedder:
    return HashingEmbedder()


def test_dimension_matches_the_store_column(embedder):
    assert DIMENSION == EMBEDDING_DIM == embedder.dimension
    assert isinstance(embedder, Embedder)
    [vector] = embedder.embed(["REINFORCING BARS, EPOXY COATED"])
    assert len(vector) == EMBEDDING_DIM
    assert math.isclose(math.sqrt(sum(x * x for x in vector)), 1.0, rel_tol=1e-9)


def test_same_text_same_vector_in_another_process(embedder):
    text = "QC/QA-HMA, 3, 58S, SURFACE, 9.5 MM"
    here = embedder.embed([text])[0]
    # Python's str hash is salted per process; the embedder must not depend on it.
    code = (
        "from ml.embeddings import HashingEmbedder; "
        f"print(repr(HashingEmbedder().embed([{text!r}])[0]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONHASHSEED": "12345", "PATH": ""},
        cwd=str(embeddings.__file__).rsplit("/ml/", 1)[0],
    )
    assert eval(out.stdout) == here
    assert embedder.embed([text, text]) == [here, here]


def test_empty_text_is_a_zero_vector_not_nan(embedder):
    [vector] = embedder.embed(["  ,;  "])
    assert vector == [0.0] * EMBEDDING_DIM
    assert cosine(vector, embedder.embed_one("rebar")) == 0.0


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("rebar", ["reinforcing", "steel", "bar"]),
        ("#4 bar", ["size", "4", "bar"]),
        ("No. 4 bar", ["size", "4", "bar"]),
        ("no 53 stone", ["size", "53", "stone", "aggregate"]),
        ("conc", ["concrete"]),
        ("HMA", ["hot", "mix", "asphalt"]),
        ("agg base", ["aggregate", "base"]),
        ("SY", ["square", "yard"]),
        ("sq yd", ["square", "yard"]),
        ("S.Y.", ["square", "yard"]),
        ("MILLING, ASPHALT, 1 1/2 IN", ["milling", "asphalt", "1.5", "inch"]),
        ('mill 1-1/2"', ["mill", "1.5", "inch"]),
        ("19.0 MM", ["19", "mm"]),
        ("SUBGRADE TREATMENT, TYPE II", ["subgrade", "treatment", "type", "2"]),
        ("rip rap", ["riprap"]),
        ("blacktop", ["blacktop", "asphalt"]),
        ("price of the tack coat per ton", ["tack", "coat", "ton"]),
    ],
)
def test_normalisation(text, expected):
    assert normalize(text) == expected


def test_coated_and_epoxy_imply_each_other():
    assert set(normalize("#4 bar coated")) >= {"epoxy", "coated"}
    assert set(normalize("epoxy rebar")) >= {"epoxy", "coated", "reinforcing", "bar"}
    assert "epoxy" not in normalize("tack coat")


@pytest.mark.parametrize(
    ("word", "expected"),
    [("bars", "bar"), ("coated", "coat"), ("sodding", "sod"), ("milling", "mill"), ("sod", "sod")],
)
def test_stem(word, expected):
    assert stem(word) == expected


def test_similarity_follows_meaning_and_survives_typos(embedder):
    def sim(a: str, b: str) -> float:
        return cosine(embedder.embed_one(a), embedder.embed_one(b))

    epoxy = "REINFORCING BARS, EPOXY COATED"
    assert sim("epoxy rebar", epoxy) > sim("epoxy rebar", "REINFORCING BARS")
    assert sim("epoxy rebar", "REINFORCING BARS") > sim("epoxy rebar", "STRUCTURAL STEEL")
    assert sim("aggergate no 8", "COMPACTED AGGREGATE NO 8") > sim(
        "aggergate no 8", "COMPACTED AGGREGATE NO 53"
    )
    assert sim("53 stone", "COMPACTED AGGREGATE, NO. 53") > sim("53 stone", "RIPRAP, CLASS 1")
    assert sim("unobtainium flux capacitor", epoxy) < 0.2


def test_name_changes_when_the_lexicon_changes(monkeypatch):
    before = HashingEmbedder().name
    assert before.startswith(f"local-hashed-ngrams-{EMBEDDING_DIM}/v")
    assert HashingEmbedder().name == before
    monkeypatch.setitem(embeddings.ABBREVIATIONS, "wwf", "welded wire fabric")
    assert HashingEmbedder().name != before


def test_item_text_skips_a_description_equal_to_the_name():
    text = item_text(name="SODDING", description="Sodding", category="landscaping", unit="yd2")
    assert text == "SODDING. landscaping. per yd2"
    assert "square yard" in " ".join(normalize(text))
