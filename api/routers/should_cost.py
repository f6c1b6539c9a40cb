"""Routes under /should-cost (to be filled in)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(prefix="/should-cost", tags=["should-cost"])
