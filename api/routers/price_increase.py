"""Routes under /price-increase (to be filled in)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/price-increase", tags=["price increases"])
