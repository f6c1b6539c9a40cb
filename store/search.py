"""Item search queries: code and alias look-ups, full-text and vector candidates.

Each function returns candidates as ``(item_id, score)`` pairs, best first, for the
caller to fuse; none of them decides what "the" answer is. Embeddings are computed
outside the store (it imports only ``core``): the store lists the items whose embedding is
missing or was made by another model, and saves the vectors it is given.

Vector search is an exact scan of the organisation's rows (``org_id`` leads the primary
key): an approximate (HNSW) index over all tenants would filter by ``org_id`` only after
the index scan, and pgvector before 0.8 has no iterative scan to make up the shortfall.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from sqlalchemy import ColumnElement, func, or_, select, text, update
from sqlalchemy.orm import InstrumentedAttribute, Session

from store.models import Item, ItemAlias


class Candidate(NamedTuple):
    """An item found by one method, with that method's score (higher is better)."""

    item_id: int
    score: float


class CodeMatch(NamedTuple):
    """An item found by its code or another system's code.

    ``how`` is ``code`` (the whole code, ignoring case and punctuation), ``alias`` (an
    external code) or ``code_part`` (the start or the end of a code).
    """

    item_id: int
    how: str
    term: str


class ItemForEmbedding(NamedTuple):
    """What an item's embedding is computed from."""

    id: int
    code: str
    name: str
    description: str | None
    category: str | None
    unit: str | None


def _code_key(column: ColumnElement[str] | InstrumentedAttribute[str]) -> ColumnElement[str]:
    return func.regexp_replace(func.upper(column), "[^A-Z0-9]", "", "g")


def code_key(term: str) -> str:
    """Normalise a code as the store compares codes: upper case, letters and digits only."""
    return "".join(ch for ch in term.upper() if ch.isalnum())


def _category_filter(category: str | None) -> list[ColumnElement[bool]]:
    if category is None:
        return []
    return [func.lower(Item.category) == category.strip().lower()]


def code_matches(
    *,
    session: Session,
    org_id: uuid.UUID,
    terms: Sequence[str],
    category: str | None = None,
    min_part: int = 5,
) -> list[CodeMatch]:
    """Return items whose code or alias equals a term, then items whose code starts or ends
    with one (terms of at least ``min_part`` letters and digits)."""
    keys = {code_key(t): t for t in terms if code_key(t)}
    if not keys:
        return []
    found: list[CodeMatch] = []
    seen: set[int] = set()

    def add(item_id: int, how: str, term: str) -> None:
        if item_id not in seen:
            seen.add(item_id)
            found.append(CodeMatch(item_id, how, term))

    exact = session.execute(
        select(Item.id, _code_key(Item.code))
        .where(
            Item.org_id == org_id, _code_key(Item.code).in_(list(keys)), *_category_filter(category)
        )
        .order_by(Item.code)
    ).all()
    for item_id, key in exact:
        add(item_id, "code", keys[key])
    aliases = session.execute(
        select(ItemAlias.item_id, _code_key(ItemAlias.external_code))
        .join(Item, (Item.org_id == ItemAlias.org_id) & (Item.id == ItemAlias.item_id))
        .where(
            ItemAlias.org_id == org_id,
            _code_key(ItemAlias.external_code).in_(list(keys)),
            *_category_filter(category),
        )
        .order_by(ItemAlias.system, ItemAlias.external_code)
    ).all()
    for item_id, key in aliases:
        add(item_id, "alias", keys[key])
    parts = [k for k in keys if len(k) >= min_part and any(ch.isdigit() for ch in k)]
    if parts:
        conditions = [_code_key(Item.code).startswith(k, autoescape=True) for k in parts]
        conditions += [_code_key(Item.code).endswith(k, autoescape=True) for k in parts]
        rows = session.execute(
            select(Item.id, _code_key(Item.code))
            .where(Item.org_id == org_id, or_(*conditions), *_category_filter(category))
            .order_by(Item.code)
        ).all()
        for item_id, key in rows:
            term = next(k for k in parts if key.startswith(k) or key.endswith(k))
            add(item_id, "code_part", keys[term])
    return found


# The strict query is the buyer's words as a web search (every word must match); the
# loose one ORs the stemmed words of ``expanded`` so that a longer phrasing ("need a
# price for epoxy coated bar") still ranks the items sharing most of its words.
_FULLTEXT = text(
    """
    WITH q AS (
        SELECT websearch_to_tsquery('english', :strict) AS strict,
               (SELECT to_tsquery('simple', string_agg(
                           '''' || replace(replace(lex, '\\', ''), '''', '''''') || '''', ' | '))
                FROM unnest(tsvector_to_array(to_tsvector('english', :loose))) AS lex) AS loose
    )
    SELECT i.id,
           ts_rank(i.search_tsv, coalesce(q.loose, q.strict))
             + CASE WHEN i.search_tsv @@ q.strict THEN 1.0 ELSE 0.0 END AS score
    FROM items i CROSS JOIN q
    WHERE i.org_id = :org
      AND (i.search_tsv @@ q.strict OR i.search_tsv @@ q.loose)
      AND (CAST(:category AS text) IS NULL OR lower(i.category) = lower(CAST(:category AS text)))
    ORDER BY score DESC, i.code
    LIMIT :limit
    """
)


def fulltext_candidates(
    *,
    session: Session,
    org_id: uuid.UUID,
    query: str,
    expanded: str | None = None,
    category: str | None = None,
    limit: int = 50,
) -> list[Candidate]:
    """Return items matching ``query`` in full text, best ``ts_rank`` first.

    An item holding every word of ``query`` scores above 1; one holding only some of the
    words of ``expanded`` (default ``query``) scores its ``ts_rank`` below 1.
    """
    rows = session.execute(
        _FULLTEXT,
        {
            "strict": query,
            "loose": expanded if expanded is not None else query,
            "org": org_id,
            "category": category.strip() if category else None,
            "limit": limit,
        },
    ).all()
    return [Candidate(int(r.id), float(r.score)) for r in rows]


def vector_candidates(
    *,
    session: Session,
    org_id: uuid.UUID,
    embedding: Sequence[float],
    model: str,
    category: str | None = None,
    limit: int = 50,
    min_similarity: float = -1.0,
) -> list[Candidate]:
    """Return items nearest to ``embedding`` by cosine distance, as cosine similarity.

    Only embeddings made by ``model`` are compared: vectors of two models do not share a
    space.
    """
    distance = Item.embedding.cosine_distance(list(embedding))
    rows = session.execute(
        select(Item.id, (1 - distance).label("similarity"))
        .where(
            Item.org_id == org_id,
            Item.embedding.is_not(None),
            Item.embedding_model == model,
            *_category_filter(category),
        )
        .order_by(distance, Item.code)
        .limit(limit)
    ).all()
    return [
        Candidate(int(r.id), float(r.similarity)) for r in rows if r.similarity >= min_similarity
    ]


def items_needing_embedding(
    *, session: Session, org_id: uuid.UUID, model: str, limit: int | None = None
) -> list[ItemForEmbedding]:
    """Return items whose embedding is missing or was made by a model other than ``model``."""
    query = (
        select(Item.id, Item.code, Item.name, Item.description, Item.category, Item.unit)
        .where(
            Item.org_id == org_id,
            or_(Item.embedding.is_(None), Item.embedding_model.is_distinct_from(model)),
        )
        .order_by(Item.id)
    )
    if limit is not None:
        query = query.limit(limit)
    return [ItemForEmbedding(*row) for row in session.execute(query).all()]


def save_item_embeddings(
    *,
    session: Session,
    org_id: uuid.UUID,
    model: str,
    vectors: Mapping[int, Sequence[float]],
) -> int:
    """Store one embedding per item id, recording ``model``; return how many were written."""
    if not vectors:
        return 0
    # ORM bulk UPDATE by primary key: one executemany, in id order (a steady lock order).
    session.execute(
        update(Item),
        [
            {"org_id": org_id, "id": item_id, "embedding": list(vector), "embedding_model": model}
            for item_id, vector in sorted(vectors.items())
        ],
    )
    return len(vectors)


def embedding_counts(*, session: Session, org_id: uuid.UUID, model: str) -> tuple[int, int]:
    """Return (items, items whose embedding is current for ``model``)."""
    row = session.execute(
        select(
            func.count(),
            func.count().filter(Item.embedding.is_not(None), Item.embedding_model == model),
        ).where(Item.org_id == org_id)
    ).one()
    return int(row[0]), int(row[1])


def items_by_id(*, session: Session, org_id: uuid.UUID, ids: Iterable[int]) -> dict[int, Item]:
    """Return the organisation's items with these ids."""
    wanted = list(dict.fromkeys(ids))
    if not wanted:
        return {}
    rows = session.scalars(select(Item).where(Item.org_id == org_id, Item.id.in_(wanted)))
    return {item.id: item for item in rows}


def item_codes(*, session: Session, org_id: uuid.UUID) -> dict[int, str]:
    """Return every item's code by id."""
    rows = session.execute(select(Item.id, Item.code).where(Item.org_id == org_id)).all()
    return {int(r.id): str(r.code) for r in rows}
