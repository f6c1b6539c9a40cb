"""search_items: find catalogue items from a buyer's words, a code or part of one.

Hybrid search: exact code and alias matches come first, then partial code matches, then
the reciprocal-rank fusion of PostgreSQL full-text rank and embedding similarity. Item
embeddings are computed lazily: a search first embeds the items whose embedding is
missing or was made by another model (a cheap batch for a catalogue of hundreds).
"""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass, field
from typing import Literal

from pydantic import BaseModel, Field
from sqlalchemy.orm import Session

from core.errors import ExternalServiceError, InvalidInputError
from ml.embeddings import Embedder, item_text, normalize
from store import search as store_search
from store.models import Item
from tools.base import Evidence, ToolContext
from tools.embeddings import get_embedder

Mode = Literal["hybrid", "fulltext", "vector"]

RRF_K = 60
"""Reciprocal-rank fusion constant (Cormack et al. 2009): damps the weight of top ranks."""
CANDIDATES = 50
"""Candidates each method contributes to the fusion."""
VECTOR_FLOOR = 0.15
"""Below this cosine similarity a vector neighbour is noise, not a match."""
RESOLVE_MIN_SIMILARITY = 0.5
"""A description alone resolves to an item only this similar (or matching all its words)."""
LAZY_REFRESH_LIMIT = 5000
"""Most items a search embeds before answering; the rest wait for later searches."""
_EXACT = ("code", "alias")


class SearchItemsInput(BaseModel):
    """What to look for."""

    query: str = Field(
        description="The buyer's words for an item, an item code, part of a code, or "
        "another system's (ERP) code.",
        examples=["epoxy rebar", "703-06029", "#53 stone", "3000 psi concrete"],
    )
    limit: int = Field(default=5, ge=1, le=50, description="How many items to return.")
    category: str | None = Field(
        default=None, description="Only items of this category, e.g. 'rebar' or 'asphalt'."
    )


class ItemHit(BaseModel):
    """One catalogue item that matches."""

    code: str = Field(description="The item code to use with the other tools.")
    name: str
    description: str | None
    category: str | None
    unit: str | None = Field(description="Unit the item is bought in.")
    score: float = Field(
        description="1.0 for an exact code or alias; otherwise relative relevance in 0-1."
    )
    matched_by: list[str] = Field(
        description="code, alias, code_part, fulltext and/or vector: what found the item."
    )


class SearchItemsOutput(BaseModel):
    """Items best first."""

    query: str
    mode: Mode = Field(description="hybrid normally; fulltext when embeddings are unavailable.")
    results: list[ItemHit]
    evidence: list[Evidence]


@dataclass
class Ranked:
    """One item's place in a ranking, with what each method said about it."""

    item_id: int
    score: float
    matched_by: list[str]
    all_words: bool = False
    similarity: float | None = None


@dataclass
class Ranking:
    """A ranking and how it was made."""

    hits: list[Ranked]
    mode: Mode
    embedder: str | None
    refreshed: int = 0
    notes: list[str] = field(default_factory=list)


def refresh_item_embeddings(
    *,
    session: Session,
    org_id: uuid.UUID,
    embedder: Embedder | None = None,
    batch_size: int = 256,
    limit: int | None = None,
) -> int:
    """Embed the items whose embedding is missing or stale; return how many were written."""
    embedder = embedder or get_embedder()
    todo = store_search.items_needing_embedding(
        session=session, org_id=org_id, model=embedder.name, limit=limit
    )
    written = 0
    for start in range(0, len(todo), batch_size):
        batch = todo[start : start + batch_size]
        texts = [
            item_text(name=i.name, description=i.description, category=i.category, unit=i.unit)
            for i in batch
        ]
        vectors = embedder.embed(texts)
        written += store_search.save_item_embeddings(
            session=session,
            org_id=org_id,
            model=embedder.name,
            vectors={i.id: v for i, v in zip(batch, vectors, strict=True)},
        )
    return written


_CODE_TERM = re.compile(r"[^\s,;]+")


def _code_terms(query: str) -> list[str]:
    # The whole query may be a code ("MAT 1001"); inside a sentence only words that hold a
    # digit and three letters or digits look like codes ("price of 211-09268 backfill").
    words = [
        w.strip("()[]{}'\".:")
        for w in _CODE_TERM.findall(query)
        if any(ch.isdigit() for ch in w) and len(store_search.code_key(w)) >= 3
    ]
    return list(dict.fromkeys([query.strip(), *words]))


def rank_items(
    *,
    session: Session,
    org_id: uuid.UUID,
    query: str,
    mode: Mode = "hybrid",
    category: str | None = None,
    limit: int = 5,
    embedder: Embedder | None = None,
) -> Ranking:
    """Rank the organisation's items for ``query`` with one method or the hybrid."""
    wanted = query.strip()
    if not wanted:
        raise InvalidInputError("the search query is empty: give words, a code or part of one")
    hits: list[Ranked] = []
    seen: set[int] = set()
    for match in store_search.code_matches(
        session=session, org_id=org_id, terms=_code_terms(wanted), category=category
    ):
        seen.add(match.item_id)
        score = 1.0 if match.how in _EXACT else 0.95
        hits.append(Ranked(match.item_id, score, [match.how]))

    ranking = Ranking(hits=hits, mode=mode, embedder=None)
    lists: dict[str, list[store_search.Candidate]] = {}
    if mode in ("hybrid", "fulltext"):
        lists["fulltext"] = store_search.fulltext_candidates(
            session=session,
            org_id=org_id,
            query=wanted,
            expanded=f"{wanted} {' '.join(normalize(wanted))}",
            category=category,
            limit=CANDIDATES,
        )
    if mode in ("hybrid", "vector"):
        try:
            lists["vector"] = _vector_list(
                session=session,
                org_id=org_id,
                query=wanted,
                category=category,
                embedder=embedder or get_embedder(),
                ranking=ranking,
            )
        except ExternalServiceError as exc:
            if mode == "vector":
                raise
            ranking.mode = "fulltext"
            ranking.notes.append(f"embeddings unavailable, full text only: {exc.message}")

    strict = {c.item_id for c in lists.get("fulltext", []) if c.score >= 1.0}
    similarity = {c.item_id: c.score for c in lists.get("vector", [])}
    fused: dict[int, float] = {}
    methods: dict[int, list[str]] = {}
    for method, candidates in lists.items():
        for rank, candidate in _tied_ranks(candidates):
            fused[candidate.item_id] = fused.get(candidate.item_id, 0.0) + 1.0 / (RRF_K + rank)
            methods.setdefault(candidate.item_id, []).append(method)
    best_possible = len(lists) / (RRF_K + 1) if lists else 1.0
    order = sorted(
        fused,
        key=lambda i: (-fused[i], i not in strict, -similarity.get(i, -1.0), i),
    )
    for item_id in order:
        if item_id in seen:
            hit = next(h for h in hits if h.item_id == item_id)
            hit.matched_by.extend(methods[item_id])
            continue
        hits.append(
            Ranked(item_id, round(0.9 * fused[item_id] / best_possible, 4), methods[item_id])
        )
    for hit in hits:
        hit.all_words = hit.item_id in strict
        hit.similarity = similarity.get(hit.item_id)
    ranking.hits = hits[:limit]
    return ranking


def _tied_ranks(
    candidates: list[store_search.Candidate],
) -> list[tuple[int, store_search.Candidate]]:
    # Equal scores share the best rank ("1224" ranking): full-text rank often ties many
    # items, and an order among them by code would be noise passed on to the fusion.
    ranked: list[tuple[int, store_search.Candidate]] = []
    previous: float | None = None
    rank = 0
    for position, candidate in enumerate(candidates, start=1):
        score = round(candidate.score, 6)
        if score != previous:
            rank, previous = position, score
        ranked.append((rank, candidate))
    return ranked


def _vector_list(
    *,
    session: Session,
    org_id: uuid.UUID,
    query: str,
    category: str | None,
    embedder: Embedder,
    ranking: Ranking,
) -> list[store_search.Candidate]:
    ranking.embedder = embedder.name
    ranking.refreshed = refresh_item_embeddings(
        session=session, org_id=org_id, embedder=embedder, limit=LAZY_REFRESH_LIMIT
    )
    vector = embedder.embed([query])[0]
    if not any(vector):
        ranking.notes.append("the query has no words the embedding knows; full text only")
        return []
    return store_search.vector_candidates(
        session=session,
        org_id=org_id,
        embedding=vector,
        model=embedder.name,
        category=category,
        limit=CANDIDATES,
        min_similarity=VECTOR_FLOOR,
    )


def search_items(
    ctx: ToolContext, args: SearchItemsInput, *, embedder: Embedder | None = None
) -> SearchItemsOutput:
    """Find catalogue items from a buyer's words or a part number; best match first.

    Use it when the buyer names an item loosely ("epoxy rebar", "#53 stone", "3000 psi
    concrete", "tack coat"), gives an item code, part of one, or an ERP code, or asks
    which items exist of a kind. It understands common shorthand (HMA, conc, agg, SY,
    #4, 1 1/2"), plurals and typos. An exact code or alias match is always first with
    score 1.0. Pass the returned ``code`` to the pricing tools. When several results are
    close, show them and ask the buyer which one is meant.
    """
    ranking = rank_items(
        session=ctx.session,
        org_id=ctx.org_id,
        query=args.query,
        category=args.category,
        limit=args.limit,
        embedder=embedder,
    )
    items = store_search.items_by_id(
        session=ctx.session, org_id=ctx.org_id, ids=[h.item_id for h in ranking.hits]
    )
    results = [
        ItemHit(
            code=items[h.item_id].code,
            name=items[h.item_id].name,
            description=items[h.item_id].description,
            category=items[h.item_id].category,
            unit=items[h.item_id].unit,
            score=h.score,
            matched_by=h.matched_by,
        )
        for h in ranking.hits
        if h.item_id in items
    ]
    return SearchItemsOutput(
        query=args.query,
        mode=ranking.mode,
        results=results,
        evidence=[_evidence(ranking)],
    )


def _evidence(ranking: Ranking) -> Evidence:
    if ranking.mode == "hybrid":
        how = (
            "exact code and alias matches first, then reciprocal-rank fusion of PostgreSQL "
            f"full-text rank and cosine similarity of {ranking.embedder} embeddings"
        )
    elif ranking.mode == "vector":
        how = f"code and alias matches, then cosine similarity of {ranking.embedder} embeddings"
    else:
        how = "code and alias matches, then PostgreSQL full-text rank (ts_rank)"
    detail = f"{ranking.mode} search: {how}"
    if ranking.refreshed:
        detail += f"; {ranking.refreshed} item embeddings computed first"
    if ranking.notes:
        detail += "; " + "; ".join(ranking.notes)
    return Evidence(kind="search", detail=detail, ids=[h.item_id for h in ranking.hits])


def best_item_match(
    *, session: Session, org_id: uuid.UUID, text: str, embedder: Embedder | None = None
) -> Item | None:
    """Return the item ``text`` most plausibly names, or None when nothing is close enough.

    Accepted: a code or alias, a part of exactly one code, an item holding every word of
    the text, or a hybrid winner whose embedding is at least ``RESOLVE_MIN_SIMILARITY`` alike.
    """
    ranking = rank_items(session=session, org_id=org_id, query=text, limit=2, embedder=embedder)
    if not ranking.hits:
        return None
    top = ranking.hits[0]
    exact = any(m in _EXACT for m in top.matched_by)
    # Part of a code names an item only when no other code shares that part.
    part = "code_part" in top.matched_by and not (
        len(ranking.hits) > 1 and "code_part" in ranking.hits[1].matched_by
    )
    close = top.similarity is not None and top.similarity >= RESOLVE_MIN_SIMILARITY
    if not (exact or part or top.all_words or close):
        return None
    return store_search.items_by_id(session=session, org_id=org_id, ids=[top.item_id]).get(
        top.item_id
    )
