"""Every resource route is documented, and every request example in its schema works."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from tests.api.support import API

RESOURCES = (
    "/quotes",
    "/should-cost",
    "/anomalies",
    "/forecasts",
    "/price-increase",
    "/negotiation",
    "/items",
    "/suppliers",
    "/rfqs",
)


def _operations(app: FastAPI) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (path, method, operation)
        for path, item in app.openapi()["paths"].items()
        if path.startswith(tuple(API + r for r in RESOURCES))
        for method, operation in item.items()
    ]


def _examples(app: FastAPI) -> list[tuple[str, str, Any]]:
    return [
        (path, name, example["value"])
        for path, method, operation in _operations(app)
        if method == "post"
        for name, example in operation["requestBody"]["content"]["application/json"][
            "examples"
        ].items()
    ]


def test_every_route_has_a_summary_a_description_and_a_response_model(app: FastAPI) -> None:
    operations = _operations(app)
    assert len(operations) == 16
    for path, method, operation in operations:
        assert operation.get("summary"), (method, path)
        assert operation.get("description"), (method, path)
        schema = operation["responses"]["200"]["content"]["application/json"]["schema"]
        assert "$ref" in schema, (method, path)
        assert "422" in operation["responses"]
        assert "404" in operation["responses"]


def test_every_post_has_examples(app: FastAPI) -> None:
    posts = [(p, o) for p, m, o in _operations(app) if m == "post"]
    assert len(posts) == 6
    examples = _examples(app)
    assert {p for p, _, _ in examples} == {p for p, _ in posts}


@pytest.mark.parametrize("index", range(13))
def test_each_request_example_works_on_the_sample(
    app: FastAPI, client: TestClient, viewer: dict[str, str], index: int
) -> None:
    examples = _examples(app)
    assert len(examples) == 13
    path, name, value = examples[index]
    response = client.post(path, json=value, headers=viewer)
    assert response.status_code == 200, (path, name, response.text)
