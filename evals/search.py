"""Evaluate item search: recall@1, recall@5 and MRR of each mode on buyer phrasings.

The dataset (``evals/datasets/search_items.jsonl``) holds one metadata line, then one case
per line: a buyer's query, the item codes that answer it, and a split. A case is found at
rank r when any expected code is the r-th result. ``dev`` cases may be read while tuning
the search; ``holdout`` cases are only scored, so their figures estimate unseen phrasings.

Run against an organisation holding the INDOT sample (``ui.demo.load_sample_data``).
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from ml.embeddings import Embedder
from store import search as store_search
from tools.embeddings import get_embedder
from tools.search_items import Mode, rank_items

DEFAULT_DATASET = Path(__file__).resolve().parent / "datasets" / "search_items.jsonl"
MODES: tuple[Mode, ...] = ("hybrid", "fulltext", "vector")
DEPTH = 50
"""Results read per query: a case beyond this rank counts 0 in MRR."""
THRESHOLD = {"mode": "hybrid", "metric": "recall@5", "min": 0.90}
"""The bar the hybrid search must clear on the whole dataset."""


@dataclass(frozen=True)
class SearchCase:
    """One buyer phrasing and the item codes that answer it."""

    id: str
    query: str
    expected: tuple[str, ...]
    split: str
    note: str = ""


def load_dataset(path: Path = DEFAULT_DATASET) -> tuple[dict[str, Any], list[SearchCase]]:
    """Read the dataset's metadata and cases."""
    meta: dict[str, Any] = {}
    cases: list[SearchCase] = []
    with path.open(encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, start=1):
            if not line.strip():
                continue
            row = json.loads(line)
            if "meta" in row:
                meta = row["meta"]
                continue
            if not row.get("query") or not row.get("expected"):
                raise ValueError(f"{path}:{line_no}: a case needs a query and expected codes")
            cases.append(
                SearchCase(
                    id=str(row["id"]),
                    query=row["query"],
                    expected=tuple(row["expected"]),
                    split=row.get("split", "dev"),
                    note=row.get("note", ""),
                )
            )
    return meta, cases


def _metrics(ranks: list[int | None]) -> dict[str, float]:
    n = len(ranks) or 1
    return {
        "recall@1": round(sum(r == 1 for r in ranks) / n, 4),
        "recall@5": round(sum(r is not None and r <= 5 for r in ranks) / n, 4),
        "mrr": round(sum(1.0 / r for r in ranks if r is not None) / n, 4),
    }


def evaluate_search(
    session: Session,
    org_id: uuid.UUID,
    dataset_path: Path = DEFAULT_DATASET,
    *,
    embedder: Embedder | None = None,
    modes: tuple[Mode, ...] = MODES,
    split: str | None = None,
) -> dict[str, Any]:
    """Score each search mode on the dataset; return metrics overall and per split, and misses.

    ``misses`` lists, per mode, every case not ranked first: its rank (None beyond
    ``DEPTH``) and the top five codes returned. Item embeddings are refreshed first in the
    caller's transaction.
    """
    meta, cases = load_dataset(dataset_path)
    if split is not None:
        cases = [c for c in cases if c.split == split]
    embedder = embedder or get_embedder()
    codes = store_search.item_codes(session=session, org_id=org_id)
    result: dict[str, Any] = {
        "dataset": meta.get("dataset", dataset_path.stem),
        "version": meta.get("version"),
        "cases": len(cases),
        "split": split or "all",
        "embedder": embedder.name,
        "depth": DEPTH,
        "threshold": THRESHOLD,
        "modes": {},
        "splits": {},
        "misses": {},
    }
    ranks_by_mode: dict[str, list[int | None]] = {}
    for mode in modes:
        ranks: list[int | None] = []
        misses: list[dict[str, Any]] = []
        for case in cases:
            ranking = rank_items(
                session=session,
                org_id=org_id,
                query=case.query,
                mode=mode,
                limit=DEPTH,
                embedder=embedder,
            )
            got = [codes.get(h.item_id, str(h.item_id)) for h in ranking.hits]
            rank = next((r for r, code in enumerate(got, 1) if code in case.expected), None)
            ranks.append(rank)
            if rank != 1:
                misses.append(
                    {
                        "id": case.id,
                        "split": case.split,
                        "query": case.query,
                        "expected": list(case.expected),
                        "rank": rank,
                        "top5": got[:5],
                    }
                )
        ranks_by_mode[mode] = ranks
        result["modes"][mode] = _metrics(ranks)
        result["misses"][mode] = misses
    for name in sorted({c.split for c in cases}):
        keep = [i for i, c in enumerate(cases) if c.split == name]
        result["splits"][name] = {
            "cases": len(keep),
            **{m: _metrics([ranks_by_mode[m][i] for i in keep]) for m in ranks_by_mode},
        }
    wanted = THRESHOLD["mode"]
    if wanted in result["modes"]:
        score = result["modes"][wanted][THRESHOLD["metric"]]
        result["passed"] = bool(score >= THRESHOLD["min"])
    return result


def format_summary(result: dict[str, Any]) -> str:
    """Render an evaluation result as a few plain lines for the command line."""
    lines = [
        f"{result['dataset']} v{result['version']}: {result['cases']} cases "
        f"({result['split']}), embedder {result['embedder']}",
        f"{'':10}{'recall@1':>10}{'recall@5':>10}{'MRR':>8}",
    ]
    for scope, metrics in [("all", result["modes"])] + [
        (name, {m: v for m, v in split.items() if m != "cases"})
        for name, split in result["splits"].items()
    ]:
        if scope != "all":
            lines.append(f"{scope} ({result['splits'][scope]['cases']} cases)")
        for mode, m in metrics.items():
            lines.append(f"  {mode:8}{m['recall@1']:>10.3f}{m['recall@5']:>10.3f}{m['mrr']:>8.3f}")
    if "passed" in result:
        t = result["threshold"]
        verdict = "passed" if result["passed"] else "FAILED"
        lines.append(f"threshold {t['mode']} {t['metric']} >= {t['min']}: {verdict}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """Score the search on an organisation of the configured store; exit 1 below threshold.

    ``python -m evals.search [--org demo] [--split dev|holdout] [--json]``. Embeddings
    written while scoring are committed (they are the search's cache).
    """
    import argparse

    from core.settings import get_settings
    from store import orgs
    from store.db import Database

    parser = argparse.ArgumentParser(prog="python -m evals.search", description=main.__doc__)
    parser.add_argument("--org", default=None, help="organisation (default PRICING_AGENT_ORG)")
    parser.add_argument("--split", choices=("dev", "holdout"), default=None)
    parser.add_argument("--dataset", type=Path, default=DEFAULT_DATASET)
    parser.add_argument("--json", action="store_true", help="print the whole result as JSON")
    args = parser.parse_args(argv)
    settings = get_settings()
    db = Database(settings)
    try:
        with db.owner_session() as session:
            org_id = orgs.get_org(session=session, name=args.org or settings.default_org).id
        with db.session_scope(org_id) as session:
            result = evaluate_search(session, org_id, args.dataset, split=args.split)
    finally:
        db.dispose()
    print(json.dumps(result, indent=2) if args.json else format_summary(result))
    return 0 if result.get("passed", True) else 1


if __name__ == "__main__":
    raise SystemExit(main())
