"""Text embeddings for item search, computed locally: no network, no model download.

``HashingEmbedder`` maps a text to a 384-dimension unit vector by feature hashing:

1. the text is normalised with a small lexicon of construction and procurement shorthand
   (``rebar`` -> reinforcing steel bar, ``#4`` / ``no. 4`` -> size 4, ``HMA`` -> hot mix
   asphalt, ``SY`` -> square yard, ``1 1/2"`` -> 1.5 inch, ``type II`` -> type 2, ...);
2. three groups of features are drawn from the normalised words: word stems, pairs of
   adjacent stems, and character n-grams (3 to 5) of each word, which carry typos
   (``aggergate``) and inflections (``sodding`` / ``sod``);
3. each feature is hashed (signed) into the vector; every group is scaled to unit length
   and weighted, and the sum is scaled to unit length, so cosine similarity is a weighted
   mix of word, phrase and spelling overlap.

It is deterministic across processes and machines (BLAKE2b, not Python's salted ``hash``)
and its ``name`` changes whenever the lexicon or the parameters change, so stored
embeddings made by an earlier version are recognised as stale.
"""

from __future__ import annotations

import hashlib
import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable, Sequence
from functools import lru_cache
from itertools import pairwise
from typing import Protocol, runtime_checkable

DIMENSION = 384
"""Width of every item embedding (the store's ``items.embedding`` column agrees)."""


@runtime_checkable
class Embedder(Protocol):
    """Anything that turns texts into fixed-width float vectors, under a stable name."""

    @property
    def name(self) -> str:
        """Model and version; stored beside each embedding to detect stale vectors."""
        ...

    @property
    def dimension(self) -> int:
        """Length of every vector ``embed`` returns."""
        ...

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one vector per text, in order."""
        ...


# --------------------------------------------------------------------------- lexicon
# Kept small and general: common bid-item and purchasing shorthand, not phrasings of any
# particular catalogue. A synonym expands to the catalogue word *and keeps* the buyer's
# word, so an item that uses the buyer's word still matches it.

PHRASES: dict[str, str] = {
    # multi-word spellings first joined into one canonical form
    "rip rap": "riprap",
    "rip-rap": "riprap",
    "top soil": "topsoil",
    "re bar": "rebar",
    "re-bar": "rebar",
    "hot mix": "hot mix asphalt",
    "hot-mix": "hot mix asphalt",
    "filter fabric": "filter fabric geotextile",
    "silica fume": "silica fume microsilica",
    "sq yd": "square yard",
    "sq yds": "square yard",
    "square yards": "square yard",
    "cu yd": "cubic yard",
    "cu yds": "cubic yard",
    "cubic yards": "cubic yard",
    "sq ft": "square foot",
    "lin ft": "linear foot",
    "lump sum": "lump sum",
}

ABBREVIATIONS: dict[str, str] = {
    # materials
    "rebar": "reinforcing steel bar",
    "reinf": "reinforcing",
    "ecr": "epoxy coated reinforcing steel bar",
    "conc": "concrete",
    "pcc": "portland cement concrete",
    "pccp": "portland cement concrete pavement",
    "hma": "hot mix asphalt",
    "asph": "asphalt",
    "agg": "aggregate",
    "aggr": "aggregate",
    "stl": "steel",
    "galv": "galvanized",
    "clsm": "controlled low strength material flowable fill",
    "geotex": "geotextile",
    # work
    "excav": "excavation",
    "exc": "excavation",
    "demo": "demolition remove",
    "rem": "remove",
    "rmv": "remove",
    "fdn": "foundation",
    "ftg": "footing",
    "struct": "structural",
    "str": "structural",
    "subst": "substructure",
    "superst": "superstructure",
    "temp": "temporary",
    "ped": "pedestrian",
    "br": "bridge",
    "misc": "miscellaneous",
    "qc": "quality control",
    "qa": "quality assurance",
    # units
    "sy": "square yard",
    "yd2": "square yard",
    "sf": "square foot",
    "ft2": "square foot",
    "cy": "cubic yard",
    "yd3": "cubic yard",
    "lf": "linear foot",
    "lft": "linear foot",
    "lb": "pound",
    "lbs": "pound",
    "tn": "ton",
    "ea": "each",
    "gal": "gallon",
    "ls": "lump sum",
}

SYNONYMS: dict[str, str] = {
    "blacktop": "asphalt",
    "bituminous": "asphalt",
    "stone": "aggregate",
    "gravel": "aggregate",
    "fabric": "geotextile",
    "mat": "blanket",
    "demolition": "remove",
    "removal": "remove",
    "removing": "remove",
    "fertiliser": "fertilizer",
}

_STOP = """
    a an and the of for to in on at by with per from or is are what how much please need
    price prices pricing cost costs quote quotes item items our we i me my some any
"""
STOPWORDS = frozenset(_STOP.split())

_ROMAN = {"i": "1", "ii": "2", "iii": "3", "iv": "4", "v": "5", "vi": "6"}
_ROMAN_AFTER = frozenset({"type", "class", "grade"})

WORD_WEIGHT = 1.0
PAIR_WEIGHT = 0.5
CHAR_WEIGHT = 0.8
CHAR_NGRAMS = (3, 4, 5)
VERSION = 1


# --------------------------------------------------------------------------- normalisation

_FRACTION = re.compile(r"\b(\d+)(?:\s+|-)(\d)/(\d{1,2})\b")
_LONE_FRACTION = re.compile(r"(?<![\d/])(\d)/(\d{1,2})\b")
_SIZE = re.compile(r"(?:#|\bno\.?|\bnumber|\bsize)\s*(\d+)\b")
_INCH = re.compile(r"(\d(?:\.\d+)?)\s*(?:\"|''|”|inch(?:es)?\b|in\b\.?)")
_FOOT = re.compile(r"(\d(?:\.\d+)?)\s*(?:'|ft\b\.?|feet\b|foot\b)")
_MM = re.compile(r"(\d(?:\.\d+)?)\s*mm\b")
_DOTTED_UNIT = re.compile(r"\b([a-z])\.\s?([a-z])\.")  # S.Y., C.Y., L.F.
_TOKEN = re.compile(r"[a-z0-9]+(?:\.[0-9]+)?")


def _decimal(whole: str, num: str, den: str) -> str:
    value = int(whole) + int(num) / int(den) if int(den) else float(whole)
    return f"{value:g}"


def _phrase_pattern() -> re.Pattern[str]:
    keys = sorted(PHRASES, key=len, reverse=True)
    return re.compile(r"(?<![a-z0-9])(?:" + "|".join(re.escape(k) for k in keys) + r")(?![a-z0-9])")


_PHRASE = _phrase_pattern()


def normalize(text: str) -> list[str]:
    """Return the words of ``text`` after shorthand, unit, size and number normalisation."""
    s = unicodedata.normalize("NFKC", text).lower()
    s = s.replace("’", "'").replace("“", '"').replace("”", '"').replace("&", " and ")
    s = _DOTTED_UNIT.sub(r"\1\2", s)
    s = _FRACTION.sub(lambda m: _decimal(m[1], m[2], m[3]), s)
    s = _LONE_FRACTION.sub(lambda m: _decimal("0", m[1], m[2]), s)
    s = _SIZE.sub(r" size \1 ", s)
    s = _INCH.sub(r"\1 inch ", s)
    s = _FOOT.sub(r"\1 foot ", s)
    s = _MM.sub(r"\1 mm ", s)
    s = _PHRASE.sub(lambda m: f" {PHRASES[m[0]]} ", s)
    words: list[str] = []
    previous = ""
    for raw in _TOKEN.findall(s):
        token = raw[:-2] if raw.endswith(".0") else raw  # 19.0 mm == 19 mm
        if token in _ROMAN and previous in _ROMAN_AFTER:
            token = _ROMAN[token]
        expanded = ABBREVIATIONS.get(token)
        if expanded is not None:
            words.extend(expanded.split())
        else:
            words.append(token)
            synonym = SYNONYMS.get(token)
            if synonym is not None:
                words.extend(synonym.split())
        previous = token
    words = [w for w in words if w not in STOPWORDS]
    # "coated" on its own means epoxy-coated for bar and "epoxy" implies a coating: say
    # both, so "coated bar" and "epoxy rebar" meet "REINFORCING BARS, EPOXY COATED".
    has_epoxy, has_coated = "epoxy" in words, "coated" in words
    if has_coated and not has_epoxy:
        words.append("epoxy")
    elif has_epoxy and not has_coated:
        words.append("coated")
    return words


def stem(word: str) -> str:
    """Strip common English inflections (bars -> bar, coated -> coat, sodding -> sod)."""
    if not word.isalpha() or len(word) <= 3:
        return word
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    elif word.endswith("s") and not word.endswith("ss"):
        word = word[:-1]
    for suffix in ("ing", "ed"):
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            word = word[: -len(suffix)]
            if len(word) > 3 and word[-1] == word[-2] and word[-1] not in "lsz":
                word = word[:-1]  # sodd -> sod
            break
    if word.endswith("e") and len(word) > 4:
        word = word[:-1]
    return word


def features(text: str) -> dict[str, dict[str, float]]:
    """Return the weighted features of ``text`` by group: ``word``, ``pair`` and ``char``."""
    words = normalize(text)
    stems = [stem(w) for w in words]
    word = Counter(stems)
    pair = Counter(f"{a}_{b}" for a, b in pairwise(stems))
    char: Counter[str] = Counter()
    for w in words:
        if w.isdigit() or len(w) < 3:
            continue
        padded = f"<{w}>"
        for n in CHAR_NGRAMS:
            char.update(padded[i : i + n] for i in range(len(padded) - n + 1))
    return {
        "word": {k: 1.0 + math.log(v) for k, v in word.items()},
        "pair": {k: 1.0 + math.log(v) for k, v in pair.items()},
        "char": {k: 1.0 + math.log(v) for k, v in char.items()},
    }


@lru_cache(maxsize=1 << 16)
def _bucket(feature: str, dim: int) -> tuple[int, float]:
    digest = hashlib.blake2b(feature.encode("utf-8"), digest_size=8).digest()
    value = int.from_bytes(digest, "big")
    return value % dim, (1.0 if value >> 63 else -1.0)


def _unit(vector: list[float]) -> list[float]:
    norm = math.sqrt(sum(x * x for x in vector))
    return [x / norm for x in vector] if norm > 0 else vector


class HashingEmbedder:
    """Local embedder: hashed word, word-pair and character n-gram features, unit length."""

    def __init__(self, dimension: int = DIMENSION) -> None:
        self._dimension = dimension
        self._name = f"local-hashed-ngrams-{dimension}/v{VERSION}+{_fingerprint()}"

    @property
    def name(self) -> str:
        """Model name with a fingerprint of the lexicon and weights."""
        return self._name

    @property
    def dimension(self) -> int:
        """Vector length."""
        return self._dimension

    def embed(self, texts: Sequence[str]) -> list[list[float]]:
        """Return one unit vector per text (all zeros for a text with no words)."""
        return [self.embed_one(t) for t in texts]

    def embed_one(self, text: str) -> list[float]:
        """Return the unit vector of one text."""
        total = [0.0] * self._dimension
        weights = {"word": WORD_WEIGHT, "pair": PAIR_WEIGHT, "char": CHAR_WEIGHT}
        for group, feats in features(text).items():
            if not feats:
                continue
            part = [0.0] * self._dimension
            for feat, value in feats.items():
                index, sign = _bucket(f"{group}:{feat}", self._dimension)
                part[index] += sign * value
            norm = math.sqrt(sum(x * x for x in part))
            if norm == 0:
                continue
            scale = weights[group] / norm
            for i, x in enumerate(part):
                total[i] += x * scale
        return _unit(total)


def _fingerprint() -> str:
    payload = repr(
        (
            sorted(PHRASES.items()),
            sorted(ABBREVIATIONS.items()),
            sorted(SYNONYMS.items()),
            sorted(STOPWORDS),
            (WORD_WEIGHT, PAIR_WEIGHT, CHAR_WEIGHT, CHAR_NGRAMS),
        )
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()[:8]


def cosine(a: Sequence[float], b: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0 when either is all zeros)."""
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na > 0 and nb > 0 else 0.0


def item_text(
    *,
    name: str,
    description: str | None = None,
    category: str | None = None,
    unit: str | None = None,
    extra: Iterable[str] = (),
) -> str:
    """Compose the text an item is embedded from (the code is left to exact matching)."""
    parts = [name]
    if description and description.strip().lower() != name.strip().lower():
        parts.append(description)
    if category:
        parts.append(category)
    if unit:
        parts.append(f"per {unit}")
    parts.extend(extra)
    return ". ".join(p for p in parts if p)
