"""Helpers the resource tests share: problem+json checks, walking pages, direct tool calls."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi.testclient import TestClient
from httpx import Response
from pydantic import BaseModel

from store.db import Database
from tests.conftest import AS_OF
from tools.base import ToolContext

In = TypeVar("In")
Out = TypeVar("Out", bound=BaseModel)

API = "/api/v1"


def assert_problem(response: Response, status: int, field: str | None = None) -> dict[str, Any]:
    """The response is problem+json with ``status`` (naming ``field`` when given)."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["title"]
    assert body["detail"]
    assert "Traceback" not in response.text
    if field is not None:
        fields = [error["field"] for error in body["errors"]]
        assert field in fields, body
        assert field in body["detail"] or len(fields) > 1, body
    return body


def segment(code: str) -> str:
    """A code as one URL path segment (spaces, slashes and '&' percent-encoded)."""
    return quote(code, safe="")


def pages(
    client: TestClient, url: str, headers: dict[str, str], limit: int
) -> list[dict[str, Any]]:
    """Every page of a list, following ``next_offset`` until it is null."""
    out: list[dict[str, Any]] = []
    offset: int | None = 0
    sep = "&" if "?" in url else "?"
    while offset is not None:
        response = client.get(f"{url}{sep}limit={limit}&offset={offset}", headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        assert body["limit"] == limit
        assert body["offset"] == offset
        assert len(body["items"]) <= limit
        out.append(body)
        offset = body["next_offset"]
        assert len(out) < 1000
    return out


def direct(
    database: Database, org_id: uuid.UUID, tool: Callable[[ToolContext, In], Out], args: In
) -> Out:
    """Call a capability straight on the store, as the sample's questions are asked."""
    with database.session_scope(org_id) as session:
        return tool(ToolContext(session=session, org_id=org_id, as_of=AS_OF, actor="test"), args)


def as_json(model: BaseModel) -> Any:
    """A model as the API serialises it (Decimals as strings)."""
    return json.loads(model.model_dump_json())
