"""Property-based run over the OpenAPI schema (schemathesis), on a reduced budget.

Every operation gets generated requests, valid and invalid, with a buyer key of the
sample organisation. Nothing may answer 5xx, and every answer must match the schema
(status documented, content type, body shape). The full-budget run is
``python -m bench.api_fuzz``.
"""

from __future__ import annotations

import os
import uuid

from fastapi import FastAPI

from bench.api_fuzz import fuzz
from store.db import Database
from tests.api.conftest import create_key

EXAMPLES = int(os.environ.get("API_FUZZ_EXAMPLES", "8"))


def test_no_5xx_and_every_answer_matches_the_schema(
    app: FastAPI, database: Database, sample_org: uuid.UUID
) -> None:
    report = fuzz(app, key=create_key(database, sample_org, "buyer"), examples=EXAMPLES)
    assert report.operations >= 25
    assert not report.failures, "\n\n".join(f"{k}\n{v}" for k, v in report.failures.items())
    assert report.requests >= 3 * report.operations  # the run really reached the app
